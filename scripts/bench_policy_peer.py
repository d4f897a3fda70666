#!/usr/bin/env python3
"""Peers of scripts/bench_policy.lua's decode line on the same SmolLM2-135M file and the same prompt token ids:
transformers (float32, dequantised from the GGUF and cached as a Hugging Face directory under /tmp; greedy
generate, left padding) at each batch size, and llama.cpp (llama-cpp-python on the Q4_1 file itself, batch 1 only:
its Python API decodes one sequence). Prints RESULT lines.
Usage: bench_policy_peer.py transformers|llamacpp GGUF PROMPTS_JSON NEW_TOKENS BATCHES THREADS
PROMPTS_JSON: a list of token-id lists (the bench's prompts); BATCHES: comma-separated, e.g. 1,8,32."""
import json, os, sys, time
sys.path.append("/tmp/gguf-pydeps")  # accelerate (transformers needs it to load GGUF)

def rows(prompts, b):
    return [prompts[i % len(prompts)] for i in range(b)]

def transformers_side(path, prompts, new, batches, threads):
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(threads)
    cache = "/tmp/moonlab-smollm2-hf"
    if not os.path.exists(os.path.join(cache, "config.json")):
        from safetensors.torch import save_file
        m = AutoModelForCausalLM.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path), dtype=torch.float32)
        os.makedirs(cache, exist_ok=True)
        m.config.save_pretrained(cache)
        sd = {k: v.detach().contiguous().clone() for k, v in m.state_dict().items() if k != "lm_head.weight" or not m.config.tie_word_embeddings}
        save_file(sd, os.path.join(cache, "model.safetensors"), metadata={"format": "pt"})
    model = AutoModelForCausalLM.from_pretrained(cache, dtype=torch.float32).eval()
    for b in batches:
        ps = rows(prompts, b)
        n = max(len(p) for p in ps)
        ids = torch.tensor([[0] * (n - len(p)) + p for p in ps])
        att = torch.tensor([[0] * (n - len(p)) + [1] * len(p) for p in ps])
        def gen(k):
            return model.generate(ids, attention_mask=att, do_sample=False, max_new_tokens=k, min_new_tokens=k, pad_token_id=0)
        with torch.no_grad():
            gen(2)  # warm-up
            t = time.perf_counter(); gen(1); tp = time.perf_counter() - t
            t = time.perf_counter(); gen(new); tg = time.perf_counter() - t
        print(f"RESULT b{b}_total_tok_s {b * new / tg:.1f}")
        print(f"RESULT b{b}_decode_tok_s {b * (new - 1) / max(tg - tp, 1e-9):.1f}")
        sys.stdout.flush()

def llamacpp_side(path, prompts, new, batches, threads):
    from llama_cpp import Llama
    p = prompts[0]
    llm = Llama(model_path=path, n_ctx=len(p) + new + 8, n_threads=threads, n_threads_batch=threads, n_batch=512, verbose=False)
    def prefill():
        llm.reset(); llm.eval(p)
    def gen():
        llm.reset(); llm.eval(p)
        for k in range(new - 1):  # one token per step (which token does not change the cost)
            llm.eval([p[k % len(p)]])
    prefill()
    t = time.perf_counter(); prefill(); tp = time.perf_counter() - t
    t = time.perf_counter(); gen(); tg = time.perf_counter() - t
    print(f"RESULT b1_total_tok_s {new / tg:.1f}")
    print(f"RESULT b1_decode_tok_s {(new - 1) / max(tg - tp, 1e-9):.1f}")

if __name__ == "__main__":
    side, path, pj, new, batches, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
    prompts = json.load(open(pj))
    (transformers_side if side == "transformers" else llamacpp_side)(path, prompts, new, [int(b) for b in batches.split(",")], threads)
