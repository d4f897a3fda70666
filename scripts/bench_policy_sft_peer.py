#!/usr/bin/env python3
"""PyTorch peer of scripts/bench_policy.lua's LoRA SFT step: the same SmolLM2-135M weights (transformers, float32,
dequantised from the GGUF; cached by bench_lm_peer.hf_cache), the same rows (prompt token ids + answer ids, read from
the JSON file bench_policy.lua writes), LoRA rank 8 / alpha 16 on q/k/v/o/gate/up/down with the base frozen, the mean
negative log-likelihood of the answer tokens, AdamW. Prints `RESULT sft_step_s <best of REPS>`.
Usage: bench_policy_sft_peer.py GGUF ROWS_JSON REPS THREADS"""
import json, os, sys, time
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.append("/tmp/gguf-pydeps")
from bench_lm_peer import add_lora, hf_cache

def main(path, rows_json, reps, threads):
    import torch
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(hf_cache(path), dtype=torch.float32)
    rows = json.load(open(rows_json))
    prompts, answers = rows["prompts"], rows["answers"]
    add_lora(model, ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"))
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0)
    width = max(len(p) + len(a) for p, a in zip(prompts, answers))
    ids = torch.zeros(len(prompts), width, dtype=torch.long)
    att = torch.zeros(len(prompts), width, dtype=torch.long)
    labels = torch.full((len(prompts), width), -100, dtype=torch.long)
    for r, (p, a) in enumerate(zip(prompts, answers)):
        row = p + a
        ids[r, :len(row)] = torch.tensor(row); att[r, :len(row)] = 1
        labels[r, len(p):len(row)] = torch.tensor(a)
    def step():
        opt.zero_grad(set_to_none=True)
        model(input_ids=ids, attention_mask=att, labels=labels).loss.backward()
        opt.step()
    step()
    best, cpu = float("inf"), float("inf")
    for _ in range(reps):
        t, c = time.perf_counter(), time.process_time(); step()
        best, cpu = min(best, time.perf_counter() - t), min(cpu, time.process_time() - c)
    print(f"RESULT sft_step_s {best:.3f}")
    print(f"RESULT sft_step_cpu_s {cpu:.3f}")

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
