#!/usr/bin/env python3
"""Generates the GGUF reader fixtures in Tests/MoonCheckpointTests/Fixtures (run with /tmp/refenv/bin/python).

quants.gguf: for each tensor type (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) a tensor "<TYPE>"
    of random block bytes (scales set to sane half floats) shaped [3, 512], and "<TYPE>.expected": the float32 values the
    `gguf` package's `gguf.quants.dequantize` gives for it. Metadata holds every value type, arrays included.
    general.alignment = 64.
quants_v2.gguf: the same file with the version field set to 2 (v2 and v3 share the little-endian layout).
tiny_llama.gguf: a random tiny Llama (vocab 96, width 32, 2 layers, 4 heads, 2 KV heads) written the way llama.cpp's
    convert_hf_to_gguf.py writes Llama (q/k rows permuted, llama.cpp names, F32 norms, other weights Q8_0/F16/F32), with a
    GPT-2 style tokenizer; tiny_llama_expected.safetensors: transformers' logits for `ids` after loading that GGUF
    (float32), and the original Hugging Face weights (hf.* names) to check the un-permutation exactly.
"""
import os, sys
sys.path.append("/tmp/gguf-pydeps")  # accelerate (transformers needs it to load GGUF); see scripts/install-deps
import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q

OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "MoonCheckpointTests", "Fixtures")
rng = np.random.default_rng(1234)

def half_bytes(vals):
    return np.asarray(vals, dtype=np.float16).view(np.uint8).reshape(-1, 2)

def random_blocks(qtype, n_blocks):
    bs, tb = gguf.GGML_QUANT_SIZES[qtype]
    raw = rng.integers(0, 256, size=(n_blocks, tb), dtype=np.uint8)
    d = rng.uniform(-0.05, 0.05, size=n_blocks)
    dm = rng.uniform(0.0, 0.05, size=n_blocks)
    if qtype in (Q.Q4_0, Q.Q5_0, Q.Q8_0):
        raw[:, 0:2] = half_bytes(d)
    elif qtype in (Q.Q4_1, Q.Q5_1):
        raw[:, 0:2] = half_bytes(d); raw[:, 2:4] = half_bytes(dm)
    elif qtype in (Q.Q4_K, Q.Q5_K):
        raw[:, 0:2] = half_bytes(np.abs(d) * 0.1); raw[:, 2:4] = half_bytes(dm * 0.1)
    elif qtype == Q.Q6_K:
        raw[:, 208:210] = half_bytes(d * 0.01)
    return raw

def main():
    os.makedirs(OUT, exist_ok=True)
    rows, cols = 3, 512
    w = gguf.GGUFWriter(os.path.join(OUT, "quants.gguf"), arch="test")
    w.data_alignment = 64
    w.add_uint32("general.alignment", 64)
    w.add_uint8("test.u8", 200); w.add_int8("test.i8", -100); w.add_uint16("test.u16", 60000); w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000); w.add_int32("test.i32", -2000000000); w.add_float32("test.f32", 1.5)
    w.add_uint64("test.u64", 2**63 + 5); w.add_int64("test.i64", -2**62); w.add_float64("test.f64", -2.25)
    w.add_bool("test.bool", True); w.add_string("test.string", "héllo ✓")
    w.add_array("test.array.i32", [1, -2, 3]); w.add_array("test.array.str", ["a", "", "ü"]); w.add_array("test.array.f32", [0.5, -1.0])
    w.add_array("test.array.bool", [True, False]); w.add_key_value("test.array.nested", [[1, 2], [3]], gguf.GGUFValueType.ARRAY)
    for qtype in [Q.F32, Q.F16, Q.BF16, Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.Q5_0, Q.Q5_1, Q.Q4_K, Q.Q5_K, Q.Q6_K]:
        name = qtype.name
        if qtype == Q.F32:
            vals = rng.standard_normal((rows, cols)).astype(np.float32)
            raw = vals.view(np.uint8)
        elif qtype == Q.F16:
            vals = rng.standard_normal((rows, cols)).astype(np.float16)
            vals[0, :4] = [np.float16(6e-8), np.float16(-3e-5), np.inf, 65504]  # subnormals, inf, max
            raw = vals.view(np.uint8)
        elif qtype == Q.BF16:
            bits = (rng.standard_normal((rows, cols)).astype(np.float32).view(np.uint32) >> 16).astype(np.uint16)
            raw = bits.view(np.uint8)
        else:
            bs, tb = gguf.GGML_QUANT_SIZES[qtype]
            raw = random_blocks(qtype, rows * cols // bs).reshape(rows, cols // bs * tb)
        expected = gguf.quants.dequantize(raw, qtype).astype(np.float32).reshape(rows, cols)
        w.add_tensor(name, raw, raw_dtype=qtype)
        w.add_tensor(name + ".expected", expected)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    data = bytearray(open(os.path.join(OUT, "quants.gguf"), "rb").read())
    data[4:8] = (2).to_bytes(4, "little")
    open(os.path.join(OUT, "quants_v2.gguf"), "wb").write(bytes(data))
    make_tiny_llama()

def permute(w, n_head, n_head_kv):  # llama.cpp convert_hf_to_gguf.py LlamaModel.permute
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)

def tiny_tokenizer(vocab):
    # A GPT-2 style byte-level vocabulary: 64 single characters then merges of pairs of them.
    chars = [chr(c) for c in range(ord("a"), ord("z") + 1)] + [chr(c) for c in range(ord("A"), ord("Z") + 1)] + list("0123456789Ġ.")
    tokens = chars[:64]
    merges = []
    for a, b in [("t", "h"), ("th", "e"), ("Ġ", "t"), ("a", "n"), ("i", "n"), ("e", "r"), ("o", "n"), ("Ġ", "a"), ("r", "e"), ("a", "t"),
                 ("e", "n"), ("Ġ", "s"), ("o", "r"), ("i", "s"), ("e", "d"), ("Ġ", "o"), ("Ġ", "w"), ("i", "t"), ("a", "l"), ("a", "r"),
                 ("Ġ", "c"), ("Ġ", "f"), ("Ġ", "p"), ("e", "s"), ("o", "u"), ("Ġ", "b"), ("l", "e"), ("Ġ", "m"), ("n", "d")]:
        if len(tokens) >= vocab - 3: break
        merges.append(f"{a} {b}"); tokens.append(a + b)
    tokens += ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    assert len(tokens) == vocab, len(tokens)
    types = [1] * (vocab - 3) + [3, 3, 3]
    return tokens, merges, types

def make_tiny_llama():
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, AutoModelForCausalLM
    from safetensors.numpy import save_file
    torch.manual_seed(0)
    vocab, hidden, layers, heads, kv, inter = 96, 32, 2, 4, 2, 48
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=kv, rope_theta=10000.0, rms_norm_eps=1e-5,
                      max_position_embeddings=128, tie_word_embeddings=False)
    model = LlamaForCausalLM(cfg).eval()
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "norm" in n: p.copy_(1 + 0.1 * torch.randn_like(p))
            else: p.copy_(0.2 * torch.randn_like(p))
    sd = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}
    path = os.path.join(OUT, "tiny_llama.gguf")
    w = gguf.GGUFWriter(path, arch="llama")
    w.add_name("tiny-llama"); w.add_context_length(128); w.add_embedding_length(hidden); w.add_block_count(layers)
    w.add_feed_forward_length(inter); w.add_rope_dimension_count(hidden // heads); w.add_head_count(heads)
    w.add_head_count_kv(kv); w.add_layer_norm_rms_eps(1e-5); w.add_rope_freq_base(10000.0); w.add_vocab_size(vocab)
    w.add_file_type(7)
    tokens, merges, types = tiny_tokenizer(vocab)
    w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre("smollm"); w.add_token_list(tokens); w.add_token_types(types)
    w.add_token_merges(merges); w.add_bos_token_id(vocab - 3); w.add_eos_token_id(vocab - 1); w.add_unk_token_id(vocab - 3)
    w.add_pad_token_id(vocab - 3); w.add_add_bos_token(False)
    w.add_chat_template("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}")
    def put(name, arr, qtype):
        if qtype == Q.F32: w.add_tensor(name, arr.astype(np.float32))
        elif qtype == Q.F16: w.add_tensor(name, arr.astype(np.float16))
        else: w.add_tensor(name, gguf.quants.quantize(arr, qtype), raw_dtype=qtype)
    put("token_embd.weight", sd["model.embed_tokens.weight"], Q.Q8_0)
    for i in range(layers):
        p = f"model.layers.{i}."
        put(f"blk.{i}.attn_norm.weight", sd[p + "input_layernorm.weight"], Q.F32)
        put(f"blk.{i}.attn_q.weight", permute(sd[p + "self_attn.q_proj.weight"], heads, heads), Q.Q8_0)
        put(f"blk.{i}.attn_k.weight", permute(sd[p + "self_attn.k_proj.weight"], heads, kv), Q.F16)
        put(f"blk.{i}.attn_v.weight", sd[p + "self_attn.v_proj.weight"], Q.Q8_0)
        put(f"blk.{i}.attn_output.weight", sd[p + "self_attn.o_proj.weight"], Q.F32)
        put(f"blk.{i}.ffn_norm.weight", sd[p + "post_attention_layernorm.weight"], Q.F32)
        put(f"blk.{i}.ffn_gate.weight", sd[p + "mlp.gate_proj.weight"], Q.Q8_0)
        put(f"blk.{i}.ffn_up.weight", sd[p + "mlp.up_proj.weight"], Q.Q8_0)
        put(f"blk.{i}.ffn_down.weight", sd[p + "mlp.down_proj.weight"], Q.F16)
    put("output_norm.weight", sd["model.norm.weight"], Q.F32)
    put("output.weight", sd["lm_head.weight"], Q.Q8_0)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
    # transformers' reading of the file is the reference.
    ref = AutoModelForCausalLM.from_pretrained(OUT, gguf_file="tiny_llama.gguf", dtype=torch.float32).eval()
    ids = torch.tensor([[5, 17, 42, 3, 88, 60, 1, 93, 12, 7, 33, 70]])
    with torch.no_grad():
        logits = ref(ids).logits[0].numpy().astype(np.float32)
    out = {"ids": ids[0].numpy().astype(np.int64), "logits": logits}
    for k, v in ref.state_dict().items():
        out["hf." + k] = v.detach().numpy().astype(np.float32)
    save_file(out, os.path.join(OUT, "tiny_llama_expected.safetensors"))
    print("tiny llama: logits", logits.shape, "max |logit|", float(np.abs(logits).max()))

if __name__ == "__main__":
    main()
