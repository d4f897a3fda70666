#!/usr/bin/env python3
"""safetensors fixtures for moonlab's reader, and the companion check of files written by Swift.

  make:   /tmp/refenv/bin/python scripts/make_safetensors_fixtures.py
          writes Tests/MoonCheckpointTests/Fixtures/safetensors/{mixed,single}.safetensors (written by the
          reference `safetensors` package) and expected.json (every value as its float32/int64 bit pattern).
  check:  MOONLAB_SAFETENSORS_OUT=/tmp/st-out swift test --filter SafeTensorsTests/testWriteForPythonCheck
          /tmp/refenv/bin/python scripts/make_safetensors_fixtures.py --check /tmp/st-out
          loads the files Swift wrote with safetensors (numpy and, if installed, torch), compares every value
          with the fixture's and compares the bytes with what the reference writer produces for the same
          tensors.
"""
import json, os, sys
import numpy as np
from safetensors.numpy import save_file, load_file, save

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "MoonCheckpointTests", "Fixtures", "safetensors")


def bf16(x):
    """float32 array -> bf16 stored as uint16 (round to nearest even), for writing with dtype BF16."""
    import torch
    return torch.from_numpy(x).to(torch.bfloat16)


def tensors():
    rng = np.random.default_rng(7)
    special = np.array([0.0, -0.0, 1.0, -2.5, 65504.0, 6.1035156e-05, 5.9604645e-08, 1e-3, 3.14159265, -1e4,
                        np.inf, -np.inf], dtype=np.float32)
    t = {
        "f32.matrix": rng.standard_normal((4, 6)).astype(np.float32),
        "f32.scalar": np.array(3.25, dtype=np.float32),
        "f32.empty": np.zeros((0, 3), dtype=np.float32),
        "f16.vec": np.concatenate([special, rng.standard_normal(12).astype(np.float32)]).astype(np.float16),
        "i64.ids": np.array([[0, 1, -1], [2**40, -(2**62), 9223372036854775807]], dtype=np.int64),
        "i32.small": np.arange(-3, 4, dtype=np.int32),
        "u8.bytes": np.array([0, 7, 255], dtype=np.uint8),
        "f64.values": np.array([1.5, -0.1, 1e-30], dtype=np.float64),
    }
    return t


def bf16_tensor():
    import torch
    rng = np.random.default_rng(8)
    x = np.concatenate([np.array([0.0, 1.0, -3.0, 1e30, 1e-30], dtype=np.float32), rng.standard_normal(11).astype(np.float32)])
    return torch.from_numpy(x).reshape(4, 4).to(torch.bfloat16)


def expected_entry(name, arr_f32_or_i64, dtype, shape):
    if arr_f32_or_i64.dtype == np.float32:
        bits = arr_f32_or_i64.reshape(-1).view(np.uint32).tolist()
        return {"dtype": dtype, "shape": list(shape), "f32bits": bits}
    return {"dtype": dtype, "shape": list(shape), "ints": [int(v) for v in arr_f32_or_i64.reshape(-1)]}


def make():
    import torch
    from safetensors.torch import save_file as tsave
    os.makedirs(OUT, exist_ok=True)
    t = tensors()
    tt = {k: torch.from_numpy(v.copy()) for k, v in t.items()}
    tt["bf16.mat"] = bf16_tensor()
    meta = {"format": "pt", "moonlab.config": "{\"dim\": 8, \"name\": \"tiny \\u00e9\"}", "note": "written by python safetensors"}
    tsave(tt, os.path.join(OUT, "mixed.safetensors"), metadata=meta)
    tsave({"a": torch.arange(6, dtype=torch.float32).reshape(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)},
          os.path.join(OUT, "single.safetensors"), metadata={"format": "pt"})
    exp = {"metadata": meta, "tensors": {}}
    for k, v in t.items():
        dt = {"float32": "F32", "float16": "F16", "int64": "I64", "int32": "I32", "uint8": "U8", "float64": "F64"}[str(v.dtype)]
        if v.dtype in (np.float16, np.float64):
            exp["tensors"][k] = expected_entry(k, v.astype(np.float32), dt, v.shape)
        elif v.dtype == np.float32:
            exp["tensors"][k] = expected_entry(k, v, dt, v.shape)
        else:
            exp["tensors"][k] = expected_entry(k, v.astype(np.int64), dt, v.shape)
    b = bf16_tensor()
    exp["tensors"]["bf16.mat"] = expected_entry("bf16.mat", b.float().numpy(), "BF16", b.shape)
    with open(os.path.join(OUT, "expected.json"), "w") as f:
        json.dump(exp, f, indent=0, sort_keys=True)
    print("wrote", sorted(os.listdir(OUT)))


def check(d):
    import torch
    from safetensors.torch import load_file as tload, save as tsave_bytes
    ok = True
    # 1. Swift's copy of mixed.safetensors: same tensors, dtypes, values, metadata as the Python original.
    for name in ["mixed", "single"]:
        orig = os.path.join(OUT, f"{name}.safetensors")
        mine = os.path.join(d, f"{name}.safetensors")
        a, b = tload(orig), tload(mine)
        if set(a) != set(b):
            print(name, "names differ", set(a) ^ set(b)); ok = False
        for k in a:
            want = a[k]
            if want.dtype == torch.float64:  # moonlab holds float values as Float: F64 is narrowed (documented)
                want = want.float().double()
            if a[k].dtype != b[k].dtype or a[k].shape != b[k].shape or not torch.equal(want, b[k]):
                # equal() treats nan != nan; fixtures have no NaN
                print(name, k, "differs", a[k].dtype, b[k].dtype); ok = False
        from safetensors import safe_open
        with safe_open(mine, "pt") as f:
            m = f.metadata()
        with safe_open(orig, "pt") as f:
            m0 = f.metadata()
        if m != m0:
            print(name, "metadata differs", m, m0); ok = False
        # byte identity with the reference writer (metadata keys in one fixed order only when there is one key)
        ref_bytes = tsave_bytes(a, metadata=m0)
        with open(mine, "rb") as f:
            mine_bytes = f.read()
        if len(m0) <= 1:
            if ref_bytes != mine_bytes:
                print(name, "bytes differ from the reference writer"); ok = False
            else:
                print(name, "byte-identical to the reference writer")
        n = int.from_bytes(mine_bytes[:8], "little")
        if n % 8 != 0 or not mine_bytes[8:8 + n].decode().endswith(("}", " ")):
            print(name, "header not padded to 8"); ok = False
    # 2. A larger file of every float dtype Swift writes (values in generated.json written by the test).
    gen = os.path.join(d, "generated.safetensors")
    if os.path.exists(gen):
        t = tload(gen)
        spec = json.load(open(os.path.join(d, "generated.json")))
        for k, v in spec.items():
            x = t[k]
            want = torch.tensor(np.array(v["f32bits"], dtype=np.uint32).view(np.float32)).to(getattr(torch, v["torch"])).reshape(v["shape"])
            if x.dtype != want.dtype or not torch.equal(x, want):
                print("generated", k, "differs"); ok = False
        print("generated:", len(spec), "tensors checked (conversion of Float to F16/BF16 matches torch's rounding)")
    print("CHECK", "OK" if ok else "FAILED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--check":
        check(sys.argv[2])
    else:
        make()
