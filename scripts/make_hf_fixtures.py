#!/usr/bin/env python3
"""Tiny Hugging Face checkpoint directories for the HF loader tests (run with /tmp/refenv/bin/python).

Tests/MoonCheckpointTests/Fixtures/hf/<name>/: config.json + weights written by transformers' save_pretrained, and
expected.safetensors with `ids` and transformers' float32 logits of the saved (cast) weights.
  llama_f16        Llama, GQA, untied, float16, one model.safetensors
  llama_tied_bf16  Llama, tied embeddings, bfloat16, sharded (model-0000x-of-0000y.safetensors + index)
  qwen2_f32        Qwen2 (q/k/v biases), float32
"""
import os, json
import numpy as np
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM
from safetensors.numpy import save_file

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "MoonCheckpointTests", "Fixtures", "hf")

def randomize(model):
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n: p.copy_(1 + 0.1 * torch.randn_like(p))
            else: p.copy_(0.2 * torch.randn_like(p))

def make(name, model, dtype, shard=None):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d): os.remove(os.path.join(d, f))
    randomize(model)
    model = model.to(dtype)
    kw = {"max_shard_size": shard} if shard else {}
    model.save_pretrained(d, safe_serialization=True, **kw)
    for extra in ["generation_config.json"]:
        p = os.path.join(d, extra)
        if os.path.exists(p): os.remove(p)
    ref = type(model).from_pretrained(d, dtype=torch.float32).eval()
    ids = torch.tensor([[3, 14, 15, 9, 2, 6, 53, 5, 8, 9, 7, 9]])
    with torch.no_grad():
        logits = ref(ids).logits[0].numpy().astype(np.float32)
    save_file({"ids": ids[0].numpy().astype(np.int64), "logits": logits}, os.path.join(d, "expected.safetensors"))
    print(name, sorted(os.listdir(d)))

def main():
    torch.manual_seed(0)
    common = dict(vocab_size=64, hidden_size=32, intermediate_size=48, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=2, max_position_embeddings=64, rms_norm_eps=1e-5, rope_theta=10000.0)
    make("llama_f16", LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=False)), torch.float16)
    make("llama_tied_bf16", LlamaForCausalLM(LlamaConfig(**common, tie_word_embeddings=True)), torch.bfloat16, shard="20KB")
    make("qwen2_f32", Qwen2ForCausalLM(Qwen2Config(**common, tie_word_embeddings=False, use_sliding_window=False)), torch.float32)

if __name__ == "__main__":
    main()
