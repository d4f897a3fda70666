#!/usr/bin/env python3
"""Generate merge fixtures for moonlab with mergekit itself.

Builds four tiny Llama-shaped "models" (base + three fine-tunes) as safetensors model directories,
runs `mergekit-yaml` (CPU) for each configured method, and stores inputs and outputs under
Tests/MoonCheckpointTests/Fixtures/merge/. The Swift tests (MergeFixtureTests) merge the same inputs
with moonlab and compare against mergekit's outputs (max abs diff <= 1e-6).

Usage: HF_HUB_OFFLINE=1 /tmp/refenv/bin/python scripts/make_merge_fixtures.py
"""
import json, os, shutil, subprocess, sys, tempfile
import numpy as np
from safetensors.numpy import save_file, load_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "MoonCheckpointTests", "Fixtures", "merge")
BIN = os.path.dirname(sys.executable)

VOCAB, HIDDEN, INTER, HEADS = 16, 8, 16, 2
CONFIG = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": HIDDEN, "intermediate_size": INTER, "num_attention_heads": HEADS,
    "num_key_value_heads": HEADS, "num_hidden_layers": 1, "vocab_size": VOCAB,
    "max_position_embeddings": 64, "rms_norm_eps": 1e-6, "tie_word_embeddings": False,
    "torch_dtype": "float32",
}


def shapes():
    s = {
        "model.embed_tokens.weight": (VOCAB, HIDDEN),
        "model.norm.weight": (HIDDEN,),
        "lm_head.weight": (VOCAB, HIDDEN),
        "model.layers.0.input_layernorm.weight": (HIDDEN,),
        "model.layers.0.post_attention_layernorm.weight": (HIDDEN,),
        "model.layers.0.mlp.gate_proj.weight": (INTER, HIDDEN),
        "model.layers.0.mlp.up_proj.weight": (INTER, HIDDEN),
        "model.layers.0.mlp.down_proj.weight": (HIDDEN, INTER),
    }
    for p in "qkvo":
        s[f"model.layers.0.self_attn.{p}_proj.weight"] = (HIDDEN, HIDDEN)
    return s


def make_models(rng):
    base = {k: rng.standard_normal(v).astype(np.float32) * 0.5 for k, v in shapes().items()}
    models = {"base": base}
    for i in range(1, 4):
        models[f"m{i}"] = {k: (v + rng.standard_normal(v.shape).astype(np.float32) * 0.1).astype(np.float32)
                           for k, v in base.items()}
    # A near-parallel pair for SLERP's lerp fallback: m1 scaled (dot of normalised vectors == 1).
    models["m1x"] = {k: (v * np.float32(1.5)).astype(np.float32) for k, v in models["m1"].items()}
    # Quantized models (exact float arithmetic, few distinct |delta| values): magnitude ties everywhere, so these
    # cases pin down how top-k breaks ties (mergekit: stable argsort, lower index first).
    qbase = {k: (rng.integers(-64, 65, v) / 64).astype(np.float32) for k, v in shapes().items()}
    models["qbase"] = qbase
    for i in range(1, 4):
        models[f"q{i}"] = {k: (v + rng.integers(-3, 4, v.shape) * np.float32(0.125)).astype(np.float32) for k, v in qbase.items()}
    return models


STABLE_SORT_CASES = {"ties_quantized", "breadcrumbs_quantized"}

METHODS = {
    # name: (merge_method, base_model or None, [(model, params)], global params)
    "linear": ("linear", None, [("m1", {"weight": 0.5}), ("m2", {"weight": 0.3}), ("m3", {"weight": 0.2})], {}),
    "linear_unnorm": ("linear", None, [("m1", {"weight": 0.7}), ("m2", {"weight": 0.6}), ("m3", {"weight": -0.1})], {"normalize": False}),
    "linear_norm2": ("linear", None, [("m1", {"weight": 2.0}), ("m2", {"weight": 1.0}), ("m3", {"weight": 1.0})], {}),
    "slerp": ("slerp", "m1", [("m1", {}), ("m2", {})], {"t": 0.3}),
    "slerp_parallel": ("slerp", "m1", [("m1", {}), ("m1x", {})], {"t": 0.4}),
    "task_arithmetic": ("task_arithmetic", "base", [("m1", {"weight": 0.5}), ("m2", {"weight": 0.3}), ("m3", {"weight": 0.7})], {"lambda": 0.8}),
    "task_arithmetic_norm": ("task_arithmetic", "base", [("m1", {"weight": 0.5}), ("m2", {"weight": 0.3}), ("m3", {"weight": 0.7})], {"normalize": True}),
    "ties": ("ties", "base", [("m1", {"weight": 1.0, "density": 0.5}), ("m2", {"weight": 1.0, "density": 0.5}), ("m3", {"weight": 1.0, "density": 0.5})], {}),
    "ties_weighted": ("ties", "base", [("m1", {"weight": 0.6, "density": 0.2}), ("m2", {"weight": 0.3, "density": 0.8}), ("m3", {"weight": -0.4, "density": 0.35})], {"lambda": 1.3}),
    "ties_unnorm": ("ties", "base", [("m1", {"weight": 0.5, "density": 0.7}), ("m2", {"weight": 0.5, "density": 0.7}), ("m3", {"weight": 0.5, "density": 0.7})], {"normalize": False}),
    "ties_density1": ("ties", "base", [("m1", {"weight": 1.0, "density": 1.0}), ("m2", {"weight": 1.0, "density": 1.0}), ("m3", {"weight": 1.0, "density": 1.0})], {}),
    "ties_quantized": ("ties", "qbase", [("q1", {"weight": 1.0, "density": 0.3}), ("q2", {"weight": 0.5, "density": 0.45}), ("q3", {"weight": 0.8, "density": 0.1})], {}),
    "breadcrumbs_quantized": ("breadcrumbs_ties", "qbase", [("q1", {"weight": 1.0, "density": 0.4, "gamma": 0.1}), ("q2", {"weight": 0.5, "density": 0.45, "gamma": 0.2})], {}),
    # random methods: compared statistically (kept fraction, L1-norm rescaling), not elementwise
    "dare_linear": ("dare_linear", "base", [("m1", {"weight": 1.0, "density": 0.3})], {}),
    "dare_linear_inverse": ("dare_linear", "base", [("m1", {"weight": 1.0, "density": 0.6})], {"rescale": False}),
    "breadcrumbs": ("breadcrumbs", "base", [("m1", {"weight": 0.5, "density": 0.6, "gamma": 0.05}), ("m2", {"weight": 0.5, "density": 0.6, "gamma": 0.05})], {}),
    "breadcrumbs_ties": ("breadcrumbs_ties", "base", [("m1", {"weight": 0.5, "density": 0.6, "gamma": 0.1}), ("m2", {"weight": 0.7, "density": 0.5, "gamma": 0.1}), ("m3", {"weight": 0.5, "density": 0.9, "gamma": 0.02})], {}),
}


def yaml_value(v):
    return json.dumps(v)  # JSON scalars are valid YAML


def write_config(path, method, base, models, params, dirs):
    lines = [f"merge_method: {method}"]
    if base:
        lines.append(f"base_model: {dirs[base]}")
    lines.append("models:")
    names = [m for m, _ in models]
    if base and base not in names:
        lines.append(f"  - model: {dirs[base]}")
    for m, p in models:
        lines.append(f"  - model: {dirs[m]}")
        if p:
            lines.append("    parameters:")
            for k, v in p.items():
                lines.append(f"      {k}: {yaml_value(v)}")
    if params:
        lines.append("parameters:")
        for k, v in params.items():
            lines.append(f"  {k}: {yaml_value(v)}")
    lines.append("dtype: float32")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main():
    rng = np.random.default_rng(1234)
    models = make_models(rng)
    if os.path.isdir(OUT):
        shutil.rmtree(OUT)
    os.makedirs(OUT)
    work = tempfile.mkdtemp(prefix="moonlab-merge-fixtures-")
    dirs = {}
    for name, tensors in models.items():
        d = os.path.join(work, name)
        os.makedirs(d)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(CONFIG, f)
        save_file(tensors, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        dirs[name] = d
        save_file(tensors, os.path.join(OUT, f"{name}.safetensors"), metadata={"format": "pt"})
    cases = {}
    for case, (method, base, ms, params) in METHODS.items():
        cfg = os.path.join(work, f"{case}.yaml")
        write_config(cfg, method, base, ms, params, dirs)
        outdir = os.path.join(work, f"out-{case}")
        env = dict(os.environ, HF_HUB_OFFLINE="1", CUDA_VISIBLE_DEVICES="")
        args = [cfg, outdir, "--allow-crimes", "--lazy-unpickle", "--random-seed", "1"]
        stable = case in STABLE_SORT_CASES
        if stable:
            # torch.argsort/torch.sort default to an unstable sort whose order among equal magnitudes is an
            # implementation detail; moonlab breaks ties like a stable sort (lower index first). For the
            # quantized (tie-heavy) cases, run mergekit with stable sorting so the outputs are comparable.
            code = ("import sys, torch\n"
                    "_a, _s = torch.argsort, torch.sort\n"
                    "torch.argsort = lambda *a, **k: _a(*a, **{**k, 'stable': True})\n"
                    "torch.sort = lambda *a, **k: _s(*a, **{**k, 'stable': True})\n"
                    "from mergekit.scripts.run_yaml import main\n"
                    "sys.argv = ['mergekit-yaml'] + sys.argv[1:]\n"
                    "main()\n")
            cmd = [sys.executable, "-c", code] + args
        else:
            cmd = [os.path.join(BIN, "mergekit-yaml")] + args
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            print(r.stdout, r.stderr)
            raise SystemExit(f"mergekit failed for {case}")
        merged = {}
        for fn in sorted(os.listdir(outdir)):
            if fn.endswith(".safetensors"):
                merged.update(load_file(os.path.join(outdir, fn)))
        for k in models["base"]:
            assert k in merged, (case, k)
        merged = {k: merged[k] for k in models["base"]}
        save_file(merged, os.path.join(OUT, f"out_{case}.safetensors"))
        cases[case] = {"method": method, "base": base, "models": [{"model": m, **p} for m, p in ms],
                       "parameters": params, "mergekit_stable_sort": stable}
        print(f"{case}: ok")
    import mergekit
    with open(os.path.join(OUT, "cases.json"), "w") as f:
        json.dump({"mergekit_version": getattr(mergekit, "__version__", "unknown"), "cases": cases}, f, indent=1, sort_keys=True)
    shutil.rmtree(work)
    total = sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))
    print(f"wrote {len(os.listdir(OUT))} files, {total} bytes to {OUT}")


if __name__ == "__main__":
    main()
