#!/usr/bin/env python3
"""Fixtures for moonlab's Llama decoder parity test (and the reverse check).

Mode `make` (default): builds a random tiny LlamaForCausalLM (hidden 32, 2 layers, 4 heads, 2 KV heads (GQA),
intermediate 64, vocab 64, rope_theta 10000) with a fixed seed, `save_pretrained`s it into
Tests/MoonModelsTests/Fixtures/llama/ (config.json + model.safetensors) and writes logits.json: logits of the
model for fixed input ids (an unpadded batch, and a left-padded batch with its attention mask and the position
ids transformers derives from it).

Mode `check DIR`: loads a moonlab-written decoder (DIR/config.json + DIR/model.safetensors) with transformers,
runs it on ids from DIR/inputs.json and compares with DIR/moonlab_logits.json; prints the max relative error
and exits non-zero above 1e-4.

Run with /tmp/refenv/bin/python and HF_HUB_OFFLINE=1 (nothing is downloaded).
"""
import json, os, sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import torch
from transformers import LlamaConfig, LlamaForCausalLM

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "MoonModelsTests", "Fixtures", "llama")


def rel_err(a, b):
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def make():
    torch.manual_seed(1234)
    cfg = LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, rope_theta=10000.0, rms_norm_eps=1e-6,
                      max_position_embeddings=128, tie_word_embeddings=False, initializer_range=0.2,
                      bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = LlamaForCausalLM(cfg).eval()
    # Give the norms non-trivial weights so they are exercised.
    with torch.no_grad():
        for n, p in model.named_parameters():
            if n.endswith("norm.weight"):
                p.copy_(1 + 0.3 * torch.randn_like(p))
    os.makedirs(OUT, exist_ok=True)
    model.save_pretrained(OUT, safe_serialization=True)
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(3, 64, (2, 11), generator=g)
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    # Left-padded batch: row 0 has 4 pads.
    pid = ids.clone()
    mask = torch.ones_like(pid)
    pid[0, :4] = 0
    mask[0, :4] = 0
    pos = (mask.cumsum(-1) - 1).clamp_min(0)
    with torch.no_grad():
        plogits = model(input_ids=pid, attention_mask=mask, position_ids=pos).logits
    data = {
        "input_ids": ids.tolist(), "logits": logits.tolist(),
        "padded_input_ids": pid.tolist(), "padded_attention_mask": mask.tolist(), "padded_logits": plogits.tolist(),
        "torch": torch.__version__, "transformers": __import__("transformers").__version__,
    }
    with open(os.path.join(OUT, "logits.json"), "w") as f:
        json.dump(data, f)
    for fn in os.listdir(OUT):
        if fn not in ("config.json", "model.safetensors", "logits.json"):
            os.remove(os.path.join(OUT, fn))
    total = sum(os.path.getsize(os.path.join(OUT, fn)) for fn in os.listdir(OUT))
    print(f"wrote {OUT} ({total} bytes)")


def check(d):
    model = LlamaForCausalLM.from_pretrained(d, torch_dtype=torch.float32).eval()
    inp = json.load(open(os.path.join(d, "inputs.json")))
    ids = torch.tensor(inp["input_ids"])
    want = torch.tensor(json.load(open(os.path.join(d, "moonlab_logits.json")))["logits"])
    with torch.no_grad():
        got = model(input_ids=ids).logits
    e = rel_err(got, want)
    print(f"transformers {__import__('transformers').__version__} loaded {d}: max rel err vs moonlab logits = {e:.3g}")
    sys.exit(0 if e < 1e-4 else 1)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "check":
        check(sys.argv[2])
    else:
        make()
