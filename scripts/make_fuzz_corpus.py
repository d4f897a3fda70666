#!/usr/bin/env python3
"""Seeds for the GGUF and tokenizer.json fuzz targets (fuzz/corpus/gguf, fuzz/corpus/tokenizer_json).

GGUF seeds are the committed tiny Llama fixture and the first 4 KiB of the quantisation fixture (a truncated file);
tokenizer.json seeds are two small byte-level BPE tokenizers (plain and with single-digit splits) trained here.
Run with the reference venv: /tmp/refenv/bin/python scripts/make_fuzz_corpus.py
"""
import os, shutil
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers

root = os.path.join(os.path.dirname(__file__), "..")
gguf_dir = os.path.join(root, "fuzz/corpus/gguf")
tok_dir = os.path.join(root, "fuzz/corpus/tokenizer_json")
os.makedirs(gguf_dir, exist_ok=True)
os.makedirs(tok_dir, exist_ok=True)
fixtures = os.path.join(root, "Tests/MoonCheckpointTests/Fixtures")
shutil.copy(os.path.join(fixtures, "tiny_llama.gguf"), gguf_dir)
with open(os.path.join(fixtures, "quants.gguf"), "rb") as f, open(os.path.join(gguf_dir, "quants_head.gguf"), "wb") as g:
    g.write(f.read(4096))

for name, pre in [("bytelevel", pre_tokenizers.ByteLevel(add_prefix_space=False)),
                  ("digits", pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                      pre_tokenizers.ByteLevel(add_prefix_space=False)]))]:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(['the quick brown fox jumps over 24 lazy dogs; {"action": "+"}'] * 50, trainer)
    tok.save(os.path.join(tok_dir, f"{name}.json"))
