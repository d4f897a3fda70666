#!/usr/bin/env python3
"""Parity fixture for the shipped model (run with /tmp/refenv/bin/python after scripts/fetch-model).

transformers loads models/SmolLM2-135M-Instruct.Q4_1.gguf (dequantised to float32 by the `gguf` package) and records,
for 5 prompts (tokenised by transformers' tokenizer built from the GGUF metadata, two of them with the chat template):
  ids.{i}     the prompt token ids (int64)
  logits.{i}  the float32 logits of the last prompt position (all 49,152 vocabulary entries)
  greedy.{i}  greedy continuation, up to 64 new tokens (stops at eos like `generate`)
into Tests/MoonCheckpointTests/Fixtures/smollm2_parity.safetensors.
"""
import os, sys
sys.path.append("/tmp/gguf-pydeps")  # accelerate (transformers needs it to load GGUF); see scripts/install-deps
import numpy as np
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer
from safetensors.numpy import save_file

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODEL = "SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPTS = [
    "The capital of France is",
    "def fibonacci(n):\n    ",
    "Once upon a time, in a small village by the sea,",
    [{"role": "user", "content": "What is 7 times 8?"}],
    [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "Name three primary colors."}],
]

def main():
    torch.manual_seed(0)
    torch.set_num_threads(2)
    d = os.path.join(ROOT, "models")
    tok = AutoTokenizer.from_pretrained(d, gguf_file=MODEL)
    model = AutoModelForCausalLM.from_pretrained(d, gguf_file=MODEL, dtype=torch.float32).eval()
    out = {}
    for i, p in enumerate(PROMPTS):
        if isinstance(p, list):
            ids = tok.apply_chat_template(p, add_generation_prompt=True, return_tensors="pt")
            if not torch.is_tensor(ids): ids = ids["input_ids"]
        else:
            ids = tok(p, return_tensors="pt").input_ids
        with torch.no_grad():
            logits = model(ids).logits[0, -1].numpy().astype(np.float32)
            gen = model.generate(ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=64,
                                 pad_token_id=tok.eos_token_id)[0, ids.shape[1]:]
        out[f"ids.{i}"] = ids[0].numpy().astype(np.int64)
        out[f"logits.{i}"] = logits
        out[f"greedy.{i}"] = gen.numpy().astype(np.int64)
        print(i, ids.shape[1], "tokens; greedy:", repr(tok.decode(gen)))
    save_file(out, os.path.join(ROOT, "Tests", "MoonCheckpointTests", "Fixtures", "smollm2_parity.safetensors"))

if __name__ == "__main__":
    main()
