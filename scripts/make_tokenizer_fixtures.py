#!/usr/bin/env python3
"""Tokenizer parity fixtures for moonlab's BPETokenizer (Tests/MoonModelsTests/Fixtures/tokenizer/).

Writes, deterministically:
  corpus.json            >= 10,000 strings: prose, digits and formulas, JSON, code, whitespace runs, Unicode (CJK,
                         combining marks, RTL, emoji sequences), GymCards prompts/answers (from moonlab's expert
                         demos), random bytes decoded leniently, special-token spellings inside text, long strings.
  gpt2-small.json, llama3-small.json, qwen2-small.json, smollm-small.json
                         small byte-level BPE tokenizers trained here with `tokenizers`' BpeTrainer, one per
                         pre-tokenizer split (GPT-2 ByteLevel regex; Llama-3 and Qwen2 Split regexes (+ NFC for
                         Qwen2, ignore_merges for Llama-3); SmolLM's Digits + ByteLevel), with added tokens using
                         lstrip / rstrip / single_word / normalized.
  expected.json          for each tokenizer the ids `tokenizers` gives for the corpus (every string for SmolLM2,
                         every 7th for the small ones), decodes of random id sequences (skip_special true/false),
                         and chat-template renderings by transformers' apply_chat_template (SmolLM2's ChatML
                         template, a Llama-3 template).

The real SmolLM2 tokenizer is built from the GGUF (models/SmolLM2-135M-Instruct.Q4_1.gguf or --gguf) with
transformers (`AutoTokenizer.from_pretrained(dir, gguf_file=...)`, offline). transformers' GGUF conversion gives
`tokenizer.ggml.pre = smollm` the plain GPT-2 ByteLevel split, but SmolLM2's own tokenizer.json (and llama.cpp)
split every digit first (Digits(individual_digits) + ByteLevel); the script sets that pre-tokenizer. It writes that
tokenizer.json (+ tokenizer_config.json, + gguf_arrays.json: the GGUF's tokenizer.ggml.* arrays) to --smol-out
(default /tmp/moonlab-smollm2-tokenizer), not into git.

Usage: /tmp/refenv/bin/python scripts/make_tokenizer_fixtures.py [--gguf PATH] [--moonlab PATH] [--smol-out DIR] [--smol-only]
"""
import argparse
import json
import os
import random
import struct
import base64
import subprocess
import sys
import tempfile

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "MoonModelsTests", "Fixtures", "tokenizer")

LLAMA3_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"

LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{% endif %}"
)

WORDS = ("the of and to in is was for on that with as by at from his her it an were are which this be or has had "
         "not but first one their its new after who they have two been she he more also other when into time year "
         "people some could them than most only over such state made may city like would these during later many "
         "card number target current action thoughts formula points blackjack dealer player stand hit equation "
         "Hello World Moonlab Swift Lua tensor gradient policy teacher merged checkpoint reward episode THE Über "
         "naïve café résumé façade coöperate jalapeño São Paulo Zürich Ελλάδα Москва").split()

UNICODE_SAMPLES = [
    "日本語のテキストと漢字、ひらがな。", "中文测试：我们今天学习分词器。", "한국어 문장입니다. 토크나이저!", "Русский текст, ёжик в тумане.",
    "Ελληνικά γράμματα αβγδ", "العربية نص تجريبي ١٢٣٤", "עברית טקסט", "हिन्दी पाठ का उदाहरण", "ไทย ภาษา",
    "e\u0301 a\u0300 o\u0308 n\u0303 (combining)", "Z\u0351\u036b\u0343a\u0310l\u0352g\u0346o", "ﬁ ﬂ ﬃ ligatures", "Å Å Ω Ω",
    "😀 😃 👍🏽 👩‍💻 🏳️‍🌈 🇫🇷🇯🇵 ❤️ 1️⃣ 🧑🏿‍🚀", "∑∫√∞ ≤ ≥ ≠ ± × ÷ → ⇒ ∀x∈ℝ", "² ³ ¼ ½ ¾ Ⅻ ⅷ ① ⑩ ٣ ۴ ५ ௰",
    "\u00a0nbsp\u2003em\u3000ideographic\u2028line\u2029para\u0085nel", "zero\u200bwidth\u200djoiner\ufeffbom",
    "tab\tsep\tvalues\nnext\r\nwindows\rmac", "'s 't 're 've 'm 'll 'd 'S 'T 'RE 'Ve 'LL 'D 'ſ 'x ''s",
    "I'm don't you're we've she'll he'd IT'S THEY'RE", "Ǆǅǆ ǈ ǋ titlecase", "ʰʲ modifier ˆ ˇ", "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕏 𝟘𝟙𝟚",
]

SPECIAL_SPELLINGS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<repo_name>", "<file_sep>", "<|begin_of_text|>",
                     "<|eot_id|>", "<mask>", "[R]", "<|im_start", "im_end|>", "< |im_end| >", "<<|im_end|>>", "<s>", "</s>",
                     "moon", " moon ", "moonlight", "the moon.", "honeymoon", "moon1", "_moon", "moońa", "hello world",
                     "Hello world", "hello  world", "<think>", "<think></think>", "é", "e\u0301"]

CODE = [
    "def f(x):\n    return x * 2  # double\n\n\nclass A:\n\tpass\n",
    "local t = {}\nfor i = 1, 10 do\n  t[#t + 1] = i ^ 2\nend\nprint(table.concat(t, \", \"))\n",
    "func encode(_ text: String) -> [Int] {\n    guard !text.isEmpty else { return [] }\n    return Array(text.utf8).map(Int.init)\n}\n",
    "#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }\n",
    "SELECT id, name FROM users WHERE age >= 18 AND name LIKE '%smith%';",
    "if (a && b || !c) { x += 1; y -= 2; z *= 3; w /= 4; } // comment",
    "<html><body><div class=\"x\">Hello &amp; welcome</div></body></html>",
    "    indented\n        more\n\t\ttabs\n  \t mixed \t \n",
    "x=[1,2,3];y={'a':1,\"b\":[None,True,False]}",
    "$ ls -la /usr/local/bin | grep -v '^d' > out.txt 2>&1",
    "https://example.com/path?query=1&b=two#frag mailto:user@example.org",
]


def prose(r):
    n = r.randint(3, 25)
    words = [r.choice(WORDS) for _ in range(n)]
    s = " ".join(words)
    s = s[0].upper() + s[1:]
    punct = r.choice([".", "!", "?", "...", ";", ",", ":", " --", ""])
    return s + punct


def number(r):
    k = r.randint(0, 9)
    if k == 0:
        return str(r.randint(0, 10 ** r.randint(1, 12)))
    if k == 1:
        return f"{r.uniform(-1e6, 1e6):.{r.randint(0, 6)}f}"
    if k == 2:
        return f"{r.randint(1, 9999):,}"
    if k == 3:
        return f"{r.randint(1900, 2100)}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
    if k == 4:
        return f"{r.random():.3e}"
    if k == 5:
        return "0x" + "".join(r.choice("0123456789abcdefABCDEF") for _ in range(r.randint(1, 16)))
    return str(r.randint(0, 999))


def formula(r):
    ops = ["+", "-", "*", "/", "=", "^", "%", "**", "<=", "=="]
    parts = [number(r) if r.random() < 0.7 else r.choice(["x", "y", "(a", "b)", "sqrt(2)", "pi"]) for _ in range(r.randint(2, 7))]
    s = ""
    for i, p in enumerate(parts):
        if i:
            sp = r.choice([" ", "", "  "])
            s += sp + r.choice(ops) + sp
        s += p
    return s


def json_value(r, depth=0):
    k = r.randint(0, 6 if depth < 3 else 3)
    if k == 0:
        return r.randint(-1000, 100000)
    if k == 1:
        return round(r.uniform(-100, 100), r.randint(0, 4))
    if k == 2:
        return r.choice([True, False, None])
    if k == 3:
        return r.choice(WORDS) + (" " + r.choice(WORDS) if r.random() < 0.5 else "")
    if k <= 4:
        return [json_value(r, depth + 1) for _ in range(r.randint(0, 4))]
    return {r.choice(WORDS) + str(i): json_value(r, depth + 1) for i in range(r.randint(0, 4))}


def json_text(r):
    v = json_value(r)
    return json.dumps(v, ensure_ascii=r.random() < 0.3, indent=r.choice([None, None, 1, 2, "\t"]))


def whitespace(r):
    ws = [" ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", " \n", "\n ", "\t\t", "\u00a0", "\u3000", "        ", "\n\n\n  "]
    out = []
    for _ in range(r.randint(1, 8)):
        out.append(r.choice(ws))
        if r.random() < 0.7:
            out.append(r.choice(WORDS + ["123", "!", "?", "'s", "-", "42", "日本"]))
    return "".join(out)


def unicode_text(r):
    s = r.choice(UNICODE_SAMPLES)
    if r.random() < 0.5:
        i = r.randint(0, len(s))
        s = s[:i] + r.choice([" ", "", "\n"]) + r.choice(UNICODE_SAMPLES) + s[i:]
    return s


def random_scalars(r):
    ranges = [(0x20, 0x7E), (0xA0, 0x24F), (0x370, 0x3FF), (0x400, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F),
              (0x3040, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0x1F300, 0x1FAFF), (0x0, 0x1F), (0x2000, 0x206F),
              (0x10000, 0x1FFFF), (0xE000, 0xF8FF), (0x300, 0x36F)]
    out = []
    for _ in range(r.randint(1, 30)):
        lo, hi = r.choice(ranges)
        out.append(chr(r.randint(lo, hi)))
    return "".join(out)


def random_bytes(r):
    b = bytes(r.randint(0, 255) for _ in range(r.randint(1, 60)))
    return b.decode("utf-8", errors="replace")


def specials(r):
    parts = []
    for _ in range(r.randint(1, 6)):
        k = r.random()
        if k < 0.4:
            parts.append(r.choice(SPECIAL_SPELLINGS))
        elif k < 0.7:
            parts.append(r.choice([" ", "  ", "\n", "", "\t"]))
        else:
            parts.append(prose(r) if r.random() < 0.5 else r.choice(WORDS))
    return "".join(parts)


def chatml(r):
    msgs = []
    for _ in range(r.randint(1, 3)):
        role = r.choice(["system", "user", "assistant"])
        msgs.append(f"<|im_start|>{role}\n{prose(r)}<|im_end|>\n")
    return "".join(msgs) + ("<|im_start|>assistant\n" if r.random() < 0.5 else "")


def mixture(r, gym):
    gens = [prose, formula, json_text, whitespace, unicode_text, random_bytes, specials, random_scalars, number]
    parts = []
    for _ in range(r.randint(2, 5)):
        g = r.choice(gens)
        parts.append(g(r))
    if r.random() < 0.2:
        parts.append(r.choice(gym))
    return r.choice(["", " ", "\n", "\t", "  "]).join(parts)


def gym_strings(moonlab):
    lua = ("local out = {}\nfor _, name in ipairs({'NumberLine', 'Blackjack', 'EZPoints', 'Points24'}) do\n"
           "  for _, d in ipairs(moon.env.demos(name, 60, {seed = 7})) do out[#out + 1] = d.prompt; out[#out + 1] = d.response end\n"
           "end\nprint(moon.json.encode(out))\n")
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(lua)
    env = dict(os.environ, MOONLAB_STDLIB=os.path.join(ROOT, "stdlib"))
    out = subprocess.run([moonlab, "run", f.name], capture_output=True, text=True, env=env, check=True).stdout
    os.unlink(f.name)
    seen, result = set(), []
    for s in json.loads(out):
        if s not in seen:
            seen.add(s)
            result.append(s)
    return result


def make_corpus(gym):
    r = random.Random(20261201)
    corpus = [""] + list(gym) + CODE + UNICODE_SAMPLES + SPECIAL_SPELLINGS + ["\ufeffBOM first", "\ufeff"]
    kinds = [(prose, 1400), (number, 600), (formula, 800), (json_text, 700), (whitespace, 900), (unicode_text, 600),
             (random_scalars, 800), (random_bytes, 800), (specials, 700), (chatml, 300)]
    for g, n in kinds:
        corpus += [g(r) for _ in range(n)]
    corpus += [r.choice(CODE) + r.choice(CODE) for _ in range(300)]
    corpus += [mixture(r, gym) for _ in range(1800)]
    # long strings: whitespace runs and big words that need the heap merge path, a long document
    corpus += [" " * 1000, "\n" * 300 + "x", "a" * 700, "ab" * 400, "1234567890" * 50, "😀" * 100, "\t " * 200,
               "".join(mixture(r, gym) for _ in range(60)),
               "".join(r.choice("abcdefghij") for _ in range(2000)),
               "-" * 500 + "=" * 300]
    return corpus


def byte_level_tokenizer(kind, texts):
    tok = Tokenizer(models.BPE(ignore_merges=(kind == "llama3")))
    if kind == "gpt2":
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    elif kind == "smollm":
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)])
    else:
        split = LLAMA3_SPLIT if kind == "llama3" else QWEN2_SPLIT
        tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split(Regex(split), behavior="isolated", invert=False),
                                                     pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)])
    if kind == "qwen2":
        tok.normalizer = normalizers.NFC()
    tok.decoder = decoders.ByteLevel()
    specials = {"gpt2": ["<|endoftext|>"], "smollm": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                "llama3": ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"],
                "qwen2": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]}[kind]
    trainer = trainers.BpeTrainer(vocab_size=1200, min_frequency=2, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer)
    if kind == "llama3":
        tok.post_processor = processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A $B",
                                                           special_tokens=[("<|begin_of_text|>", tok.token_to_id("<|begin_of_text|>"))])
        tok.add_special_tokens([AddedToken("<mask>", lstrip=True, special=True, normalized=False)])
        tok.add_tokens([AddedToken("[R]", rstrip=True, normalized=False), AddedToken("moon", single_word=True, normalized=True)])
    elif kind == "gpt2":
        tok.post_processor = processors.ByteLevel(trim_offsets=False)
        tok.add_tokens([AddedToken("hello world", normalized=True), AddedToken("<file_sep>", normalized=False)])
    elif kind == "qwen2":
        tok.add_tokens([AddedToken("é", normalized=True), AddedToken("<think>", normalized=False)])
    return tok


def dump_gguf_tokenizer_arrays(gguf_path, out_dir):
    """The GGUF's tokenizer.ggml.* arrays as JSON (gguf_arrays.json), for testing BPETokenizer's array constructor
    on the real file before/without a GGUF reader."""
    from gguf import GGUFReader
    r = GGUFReader(gguf_path)

    def field(name):
        f = r.fields.get(name)
        if f is None:
            return None
        if f.types[0].name == "ARRAY":
            if f.types[1].name == "STRING":
                return [bytes(f.parts[i]).decode("utf-8") for i in f.data]
            return [int(f.parts[i][0]) for i in f.data]
        if f.types[0].name == "STRING":
            return bytes(f.parts[f.data[0]]).decode("utf-8")
        return f.parts[f.data[0]].tolist()[0]

    keys = ["tokens", "merges", "token_type", "model", "pre", "bos_token_id", "eos_token_id", "unknown_token_id",
            "padding_token_id", "add_bos_token", "add_eos_token"]
    out = {k: field("tokenizer.ggml." + k) for k in keys}
    out["chat_template"] = field("tokenizer.chat_template")
    with open(os.path.join(out_dir, "gguf_arrays.json"), "w") as fh:
        json.dump(out, fh, ensure_ascii=False)


def smollm2_tokenizer(gguf, out_dir):
    from transformers import AutoTokenizer
    d, f = os.path.split(os.path.abspath(gguf))
    t = AutoTokenizer.from_pretrained(d, gguf_file=f)
    bt = t.backend_tokenizer
    bt.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                                pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    os.makedirs(out_dir, exist_ok=True)
    bt.save(os.path.join(out_dir, "tokenizer.json"))
    with open(os.path.join(out_dir, "tokenizer_config.json"), "w") as fh:
        json.dump({"chat_template": t.chat_template, "bos_token": t.bos_token, "eos_token": t.eos_token,
                   "pad_token": t.pad_token, "unk_token": t.unk_token, "add_bos_token": False}, fh, ensure_ascii=False)
    t.backend_tokenizer.pre_tokenizer = bt.pre_tokenizer
    dump_gguf_tokenizer_arrays(gguf, out_dir)
    return t, bt


def decode_cases(tok, r, n=300):
    size = tok.get_vocab_size(with_added_tokens=True)
    cases = []
    for _ in range(n):
        ids = [r.randrange(size) for _ in range(r.randint(0, 12))]
        if r.random() < 0.3:
            ids += [r.randrange(min(size, 20))]  # specials live at the low ids in these vocabularies
        cases.append({"ids": ids, "skip": tok.decode(ids, skip_special_tokens=True),
                      "keep": tok.decode(ids, skip_special_tokens=False)})
    return cases


def expected_for(tok, corpus, every):
    idx = list(range(0, len(corpus), every))
    encs = tok.encode_batch([corpus[i] for i in idx], add_special_tokens=True)
    ids = [e.ids for e in encs]
    flat = [t for e in ids for t in e]
    assert all(0 <= t < 65536 for t in flat)
    mismatch = {}
    for i, e in zip(idx, ids):
        d = tok.decode(e, skip_special_tokens=True)
        if d != corpus[i]:
            mismatch[str(i)] = d
    # decoded_differs: the strings whose decode(ids, skip_special_tokens=True) is not the string itself
    # ids as one base64 blob of little-endian uint16 (all vocabularies here are < 65536) + a length per string
    blob = base64.b64encode(struct.pack(f"<{len(flat)}H", *flat)).decode()
    return {"every": every, "lengths": [len(e) for e in ids], "ids_u16le": blob, "decoded_differs": mismatch}


def chat_cases(hf_tok, template, bos):
    convs = [
        [{"role": "user", "content": "What is 2 + 3?"}],
        [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi!"},
         {"role": "assistant", "content": "Hello."}, {"role": "user", "content": "  Count to 3.\n"}],
        [{"role": "user", "content": "多语言 😀\ttabs\n\nand newlines "}, {"role": "assistant", "content": " {\"action\": \"+\"} "}],
        [{"role": "assistant", "content": "I start."}],
    ]
    out = []
    for msgs in convs:
        for gen in (True, False):
            text = hf_tok.apply_chat_template(msgs, chat_template=template, add_generation_prompt=gen, tokenize=False)
            out.append({"messages": msgs, "add_generation_prompt": gen, "text": text})
    return {"template": template, "bos_token": bos, "cases": out}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gguf", default=os.path.join(ROOT, "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--moonlab", default=os.path.join(ROOT, ".build", "debug", "moonlab"))
    ap.add_argument("--smol-out", default="/tmp/moonlab-smollm2-tokenizer")
    ap.add_argument("--smol-only", action="store_true", help="only write the SmolLM2 tokenizer.json to --smol-out")
    args = ap.parse_args()
    if args.smol_only:
        smollm2_tokenizer(args.gguf, args.smol_out)
        return

    gym = gym_strings(args.moonlab)
    corpus = make_corpus(gym)
    assert len(corpus) >= 10000, len(corpus)
    os.makedirs(OUT, exist_ok=True)
    with open(os.path.join(OUT, "corpus.json"), "w") as f:
        # ASCII escapes: Foundation's JSONSerialization drops a raw U+FEFF at the start of a string value
        json.dump(corpus, f, ensure_ascii=True, separators=(",", ":"))

    r = random.Random(7)
    train_texts = corpus[: len(corpus) // 2]
    expected = {"corpus_size": len(corpus), "tokenizers": {}}
    for kind in ["gpt2", "llama3", "qwen2", "smollm"]:
        tok = byte_level_tokenizer(kind, train_texts)
        tok.save(os.path.join(OUT, f"{kind}-small.json"))
        tok = Tokenizer.from_file(os.path.join(OUT, f"{kind}-small.json"))
        e = expected_for(tok, corpus, 7)
        e["decode"] = decode_cases(tok, r)
        expected["tokenizers"][f"{kind}-small"] = e
        print(kind, "vocab", tok.get_vocab_size(), "ids", sum(e["lengths"]), file=sys.stderr)

    hf, bt = smollm2_tokenizer(args.gguf, args.smol_out)
    e = expected_for(bt, corpus, 1)
    e["decode"] = decode_cases(bt, r)
    expected["tokenizers"]["smollm2"] = e
    print("smollm2 ids", sum(e["lengths"]), file=sys.stderr)

    from transformers import PreTrainedTokenizerFast
    llama = PreTrainedTokenizerFast(tokenizer_file=os.path.join(OUT, "llama3-small.json"), bos_token="<|begin_of_text|>",
                                    eos_token="<|eot_id|>")
    expected["chat"] = {"smollm2": chat_cases(hf, hf.chat_template, hf.bos_token),
                        "llama3": chat_cases(llama, LLAMA3_TEMPLATE, "<|begin_of_text|>")}
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(expected, f, ensure_ascii=True, separators=(",", ":"))
    for name in sorted(os.listdir(OUT)):
        print(name, os.path.getsize(os.path.join(OUT, name)), file=sys.stderr)


if __name__ == "__main__":
    main()
