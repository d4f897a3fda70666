#!/usr/bin/env python3
"""Peers of scripts/bench_lm.lua on the same SmolLM2-135M file: transformers (float32, dequantised from the GGUF and
cached as a Hugging Face directory under /tmp) and llama.cpp (llama-cpp-python on the Q4_1 file itself, batch 1).
Prints RESULT lines like bench_lm.lua. Usage: bench_lm_peer.py transformers|llamacpp GGUF PROMPT_LEN NEW_TOKENS REPS THREADS"""
import os, sys, time
sys.path.append("/tmp/gguf-pydeps")  # accelerate (transformers needs it to load GGUF)

def prompts(b, n):
    return [[(r * 7919 + j * 104729) % 48000 + 100 for j in range(1, n + 1)] for r in range(1, b + 1)]

def best(f, reps):
    m = float("inf")
    for _ in range(reps):
        a = time.perf_counter(); f(); m = min(m, time.perf_counter() - a)
    return m

def hf_cache(path):
    """transformers' float32 model of the GGUF file at `path`, cached as a Hugging Face directory; returns the directory."""
    import torch
    from transformers import AutoModelForCausalLM
    cache = "/tmp/moonlab-smollm2-hf"
    if not os.path.exists(os.path.join(cache, "config.json")):
        from safetensors.torch import save_file
        m = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
        os.makedirs(cache, exist_ok=True)
        m.config.save_pretrained(cache)  # a GGUF-loaded model refuses save_pretrained; write the float32 weights directly
        sd = {k: v.detach().contiguous().clone() for k, v in m.state_dict().items() if k != "lm_head.weight" or not m.config.tie_word_embeddings}
        save_file(sd, os.path.join(cache, "model.safetensors"), metadata={"format": "pt"})
    return cache

def add_lora(model, names, a_std=lambda fan_in: fan_in ** -0.5, r=8, alpha=16):
    """Freezes `model` and wraps each projection of its layers named in `names` (attention and MLP module attributes)
    in a LoRA adapter: base(x) + x·Aᵀ·Bᵀ·alpha/r, A ~ N(0, a_std(in_features)²), B = 0."""
    import torch, torch.nn as nn
    class LoRA(nn.Module):
        def __init__(self, base):
            super().__init__()
            self.base = base
            self.a = nn.Parameter(torch.randn(r, base.in_features) * a_std(base.in_features))
            self.b = nn.Parameter(torch.zeros(base.out_features, r))
            self.s = alpha / r
        def forward(self, x):
            return self.base(x) + (x @ self.a.t() @ self.b.t()) * self.s
    for p in model.parameters(): p.requires_grad_(False)
    for layer in model.model.layers:
        for mod in (layer.self_attn, layer.mlp):
            for name in names:
                if hasattr(mod, name): setattr(mod, name, LoRA(getattr(mod, name)))

def transformers_side(path, n, new, reps, threads):
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(threads)
    cache = hf_cache(path)
    t = time.perf_counter()
    model = AutoModelForCausalLM.from_pretrained(cache, dtype=torch.float32).eval()
    print(f"RESULT load_s {time.perf_counter() - t:.3f}  (from a float32 safetensors directory)")
    for b in (1, 8):
        ids = torch.tensor(prompts(b, n))
        att = torch.ones_like(ids)
        with torch.no_grad():
            tp = best(lambda: model(ids, attention_mask=att), reps)
            tg = best(lambda: model.generate(ids, attention_mask=att, do_sample=False, max_new_tokens=new + 1,
                                             min_new_tokens=new + 1, pad_token_id=0), reps)
        print(f"RESULT prefill_b{b}_tok_s {b * n / tp:.1f}")
        print(f"RESULT decode_b{b}_tok_s {b * new / max(tg - tp, 1e-9):.1f}")
    if os.environ.get("NOLORA"):
        return
    # LoRA step: rank 8 on q/k/v/o, base frozen, AdamW, batch 8 x 256.
    add_lora(model, ("q_proj", "k_proj", "v_proj", "o_proj"), a_std=lambda fan_in: 0.01)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4)
    ids = torch.tensor([[(r * 31 + j * 17) % 48000 + 100 for j in range(1, 257)] for r in range(1, 9)])
    def step():
        opt.zero_grad(set_to_none=True)
        model(input_ids=ids, labels=ids).loss.backward()
        opt.step()
    step()
    print(f"RESULT lora_step_s {best(step, reps):.3f}")

def llamacpp_side(path, n, new, reps, threads):
    from llama_cpp import Llama
    t = time.perf_counter()
    llm = Llama(model_path=path, n_ctx=n + new + 8, n_threads=threads, n_threads_batch=threads, n_batch=512, verbose=False)
    print(f"RESULT load_s {time.perf_counter() - t:.3f}")
    p = prompts(1, n)[0]
    def prefill():
        llm.reset(); llm.eval(p)
    def gen():
        llm.reset(); llm.eval(p)
        for k in range(new):  # one token per step (which token does not change the cost)
            llm.eval([p[k % n]])
    tp = best(prefill, reps)
    tg = best(gen, reps)
    print(f"RESULT prefill_b1_tok_s {n / tp:.1f}")
    print(f"RESULT decode_b1_tok_s {new / max(tg - tp, 1e-9):.1f}")

if __name__ == "__main__":
    side, path, n, new, reps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
    (transformers_side if side == "transformers" else llamacpp_side)(path, n, new, reps, threads)
