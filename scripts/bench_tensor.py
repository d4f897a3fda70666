#!/usr/bin/env python3
"""NumPy reference numbers for scripts/bench-tensor.sh (same shapes as bench-tensor/main.swift)."""
import time
import numpy as np


def bench(name, fn, seconds=0.5):
    fn()
    iters, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        fn()
        iters += 1
    dt = (time.perf_counter() - t0) / iters
    print(f"numpy {name:<38} {dt * 1e6:10.3f} us" if dt < 1e-3 else f"numpy {name:<38} {dt * 1e3:10.3f} ms")


a4 = np.array([1, 2, 3, 4], np.float32)
bench("add [4]", lambda: a4 + a4)
x = np.random.randn(4_000_000).astype(np.float32)
y = np.random.randn(4_000_000).astype(np.float32)
bench("add [4M]", lambda: x + y)
bench("exp [4M]", lambda: np.exp(x))
bench("sum [4M]", lambda: x.sum())
for n in [128, 256, 512, 1024]:
    a = np.random.randn(n, n).astype(np.float32)
    b = np.random.randn(n, n).astype(np.float32)
    a @ b
    iters, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < 1.0:
        a @ b
        iters += 1
    dt = (time.perf_counter() - t0) / iters
    print(f"numpy matmul {n:4d} x {n:4d}                  {dt * 1e3:8.3f} ms  {2 * n ** 3 / dt / 1e9:6.1f} GFLOP/s")
