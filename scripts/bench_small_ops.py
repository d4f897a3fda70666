"""Peer for scripts/bench_small_ops.lua: PyTorch eager ops/s on 4-element tensors."""
import sys, time
import torch
torch.set_num_threads(1)
n = int(sys.argv[1]) if len(sys.argv) > 1 else 200000
a, b = torch.tensor([1., 2., 3., 4.]), torch.tensor([5., 6., 7., 8.])
for _ in range(1000): a + b
t0 = time.perf_counter()
for _ in range(n): a + b
add = n / (time.perf_counter() - t0)
t0 = time.perf_counter()
for _ in range(n): a.mul(b).sum()
chain = 2 * n / (time.perf_counter() - t0)
print(f"small ops (PyTorch eager): add {add:.0f} ops/s, mul+sum {chain:.0f} ops/s")
print(f"RESULT small_add {add:.0f}")
