// MoonTensor micro-benchmarks (built by scripts/bench-tensor.sh in a throw-away package; not part of the build).
import Foundation
import MoonTensor

func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

/// Runs `body` repeatedly for about `seconds` and prints the mean time per call.
func bench(_ name: String, seconds: Double = 0.5, _ body: () throws -> Void) rethrows {
    try body()
    var iters = 0
    let t0 = now()
    repeat { try body(); iters += 1 } while now() - t0 < seconds
    let dt = (now() - t0) / Double(iters)
    let (v, unit) = dt < 1e-3 ? (dt * 1e6, "us") : (dt * 1e3, "ms")
    print(String(format: "%-44@ %10.3f %@", name as NSString, v, unit as NSString))
}

let threads = Int(CommandLine.arguments.dropFirst().first ?? "") ?? ProcessInfo.processInfo.activeProcessorCount
setNumThreads(threads)
print("MoonTensor bench, threads = \(threads)")

// Per-op overhead on tiny tensors (what a Lua loop pays per call).
let a4 = Tensor([1, 2, 3, 4]), b4 = Tensor([5, 6, 7, 8])
try bench("add [4]") { _ = try a4.add(b4) }
bench("mul scalar [4]") { _ = a4.mul(2) }
bench("exp [4]") { _ = a4.exp() }
bench("sum [4]") { _ = a4.sum() }
let p4 = try Tensor([1, 2, 3, 4]).setRequiresGrad()
try bench("add [4] recording autograd") { _ = try p4.add(b4) }
try bench("fwd+bwd (p*b).sum() [4]") { try p4.mul(b4).sum().backward() }
let m2 = try Tensor([1, 2, 3, 4], shape: [2, 2])
try bench("matmul [2,2]x[2,2]") { _ = try m2.matmul(m2) }

// Bandwidth/compute-bound kernels.
let n = 4_000_000
let x = try Tensor.randn([n]), y = try Tensor.randn([n])
try bench("add [4M]") { _ = try x.add(y) }
bench("exp [4M]") { _ = x.exp() }
bench("gelu [4M]") { _ = x.gelu() }
bench("sum [4M]") { _ = x.sum() }
let xr = try x.reshape([4000, 1000])
try bench("softmax [4000,1000] dim -1") { _ = try xr.softmax(dim: -1) }
try bench("sum dim 0 [4000,1000]") { _ = try xr.sum(dim: 0) }
try bench("transpose+contiguous [4000,1000]") { _ = try xr.t().contiguous() }
let bias = try Tensor.randn([1000])
try bench("broadcast add [4000,1000]+[1000]") { _ = try xr.add(bias) }

// GEMM.
for sz in [128, 256, 512, 1024] {
    let A = try Tensor.randn([sz, sz]), B = try Tensor.randn([sz, sz])
    var iters = 0
    let t0 = now()
    repeat { _ = try A.matmul(B); iters += 1 } while now() - t0 < 1.0
    let dt = (now() - t0) / Double(iters)
    print(String(format: "matmul %4d x %4d                             %8.3f ms  %6.1f GFLOP/s", sz, sz, dt * 1e3, 2 * pow(Double(sz), 3) / dt / 1e9))
}
let A = try Tensor.randn([1024, 1024]), B = try Tensor.randn([1024, 1024])
try bench("matmul 1024 A x B^T (transpose flag)", seconds: 1) { _ = try A.matmul(B.t()) }
let q = try Tensor.randn([8, 4, 64, 32]), k = try Tensor.randn([8, 4, 64, 32])
try bench("attention scores [8,4,64,32]x[..]^T") { _ = try q.matmul(k.transpose(-1, -2)) }

// A training step of a small MLP.
let w1 = try Tensor.randn([512, 256], std: 0.05).setRequiresGrad()
let w2 = try Tensor.randn([10, 512], std: 0.05).setRequiresGrad()
let xb = try Tensor.randn([128, 256]), tb = try Tensor.randint(0, 10, [128])
let opt = try AdamW([w1, w2], lr: 1e-3)
try bench("MLP 256-512-10, batch 128: fwd+bwd+AdamW", seconds: 1) {
    opt.zeroGrad()
    let h = try Tensor.linear(xb, weight: w1).gelu()
    let loss = try Tensor.crossEntropy(Tensor.linear(h, weight: w2), tb)
    try loss.backward()
    try opt.step()
}
