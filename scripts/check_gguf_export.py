#!/usr/bin/env python3
"""Checks moonlab's GGUF writer against transformers (run with /tmp/refenv/bin/python after `swift build`).

moonlab writes (1) the tiny Llama fixture re-exported as f32, f16 and q8_0 (q/k permuted back the llama.cpp way, its
GPT-2 tokenizer metadata copied) and (2) a random moonlab VLM policy's decoder with the byte tokenizer (policy:save_gguf),
and records its own logits for a token sequence. transformers then loads each written file
(`from_pretrained(dir, gguf_file=...)`, float32) and its logits must match moonlab's within 1e-4 (f32) or the
quantisation error's effect (f16/q8_0 compare moonlab's reading of the same file, so again 1e-4). Exit status 1 on a mismatch.
"""
import os, subprocess, sys, tempfile
sys.path.append("/tmp/gguf-pydeps")  # accelerate (transformers needs it to load GGUF); see scripts/install-deps
import numpy as np
import torch
from transformers import AutoModelForCausalLM
from safetensors.numpy import load_file

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LUA = r'''
local dir = ...
local ids = {3, 9, 27, 81, 50, 7, 1, 64}
local lm = moon.lm.load("Tests/MoonCheckpointTests/Fixtures/tiny_llama.gguf")
local out = {}
for _, ty in ipairs{"f32", "f16", "q8_0"} do
  lm:save_gguf(dir .. "/tiny." .. ty .. ".gguf", {type = ty})
  out["tiny." .. ty] = moon.lm.load(dir .. "/tiny." .. ty .. ".gguf"):logits(ids)
end
local policy = moon.vlm.new{width = 64, layers = 2, heads = 4, kv_heads = 2, intermediate = 96, seed = 3}
policy:save_gguf(dir .. "/policy.f32.gguf")
local pids = {256, 72, 101, 108, 108, 111, 32, 123, 34}
out["policy.f32"] = moon.lm.load(dir .. "/policy.f32.gguf"):logits(pids)
moon.ckpt.save(dir .. "/moonlab_logits.safetensors", out)
'''

def main():
    ok = True
    with tempfile.TemporaryDirectory() as d:
        script = os.path.join(d, "export.lua")
        open(script, "w").write(LUA)
        env = dict(os.environ, MOONLAB_STDLIB=os.path.join(ROOT, "stdlib"))
        subprocess.run([os.path.join(ROOT, ".build/debug/moonlab"), "run", script, d], cwd=ROOT, env=env, check=True)
        mine = load_file(os.path.join(d, "moonlab_logits.safetensors"))
        for name, ids in [("tiny.f32", [3, 9, 27, 81, 50, 7, 1, 64]), ("tiny.f16", [3, 9, 27, 81, 50, 7, 1, 64]),
                          ("tiny.q8_0", [3, 9, 27, 81, 50, 7, 1, 64]), ("policy.f32", [256, 72, 101, 108, 108, 111, 32, 123, 34])]:
            model = AutoModelForCausalLM.from_pretrained(d, gguf_file=name + ".gguf", dtype=torch.float32).eval()
            with torch.no_grad():
                theirs = model(torch.tensor([ids])).logits[0].numpy()
            diff = float(np.abs(theirs - mine[name]).max())
            good = diff < 1e-4
            ok = ok and good
            print(f"{name}: transformers vs moonlab max |logit diff| = {diff:.2e} {'OK' if good else 'MISMATCH'}")
    sys.exit(0 if ok else 1)

if __name__ == "__main__":
    main()
