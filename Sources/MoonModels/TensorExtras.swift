import Foundation
import MoonTensor
import CBLAS

// Helpers the model layer needs that MoonTensor does not expose: raw element pointers for no-grad kernels,
// tensor construction from arrays without throwing, and a few fused inference kernels.

extension Tensor {
    /// Pointer to the first float element of a contiguous float32 tensor (no autograd; caller checks layout).
    @inline(__always) var mPtr: UnsafeMutablePointer<Float> {
        storage.raw.assumingMemoryBound(to: Float.self) + offset
    }
    /// Pointer to the first int64 element of a contiguous int64 tensor.
    @inline(__always) var mIntPtr: UnsafeMutablePointer<Int64> {
        storage.raw.assumingMemoryBound(to: Int64.self) + offset
    }

    /// A new contiguous float32 tensor of `shape` filled by `body(pointer)`.
    static func make(_ shape: [Int], _ body: (UnsafeMutablePointer<Float>) -> Void) -> Tensor {
        let t = Tensor.zeros(computed: shape)
        body(t.mPtr)
        return t
    }

    /// A float32 tensor from values (count must equal the shape's element count; checked by callers).
    static func fromArray(_ v: [Float], _ shape: [Int]) -> Tensor {
        make(shape) { p in v.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: v.count) } }
    }

    /// An int64 tensor from integers.
    static func fromInts(_ v: [Int], _ shape: [Int]) -> Tensor {
        let t = Tensor.zeros(computed: shape, dtype: .int64)
        let p = t.mIntPtr
        for i in 0..<v.count { p[i] = Int64(v[i]) }
        return t
    }
}

/// Parameter initialisation switch: checkpoint loaders build modules with zero-filled parameters (skipping the random
/// draws they would overwrite anyway).
enum ParameterInit {
    @TaskLocal static var zeroed = false
}

/// A trainable parameter initialised from N(0, std²) with `generator` (zeros inside `ParameterInit.$zeroed`).
func normalParameter(_ shape: [Int], std: Float, generator: Generator) -> Tensor {
    if ParameterInit.zeroed { return constantParameter(shape, 0) }
    return try! Tensor.randn(computed: shape, mean: 0, std: std, generator: generator).setRequiresGrad(true)  // a float32 leaf
}

/// A trainable parameter filled with `value`.
func constantParameter(_ shape: [Int], _ value: Float) -> Tensor {
    return try! Tensor.full(computed: shape, value: value).setRequiresGrad(true)  // a float32 leaf
}

// MARK: raw kernels (no autograd)

/// C[m, n] = op(A) · op(B) (+ beta·C), all row-major with leading dimensions: the raw kernels' one BLAS call.
@inline(__always)
func gemm(_ ta: CBLAS_TRANSPOSE, _ tb: CBLAS_TRANSPOSE, _ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int,
          _ b: UnsafePointer<Float>, _ ldb: Int, _ c: UnsafeMutablePointer<Float>, _ ldc: Int, beta: Float) {
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// C[m, n] = A[m, k] · B[n, k]ᵀ (+ beta·C).
@inline(__always)
func gemmNT(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
            _ c: UnsafeMutablePointer<Float>, _ ldc: Int, beta: Float = 0) {
    gemm(CblasNoTrans, CblasTrans, m, n, k, a, lda, b, ldb, c, ldc, beta: beta)
}

/// C[m, n] = A[m, k] · B[k, n] (+ beta·C).
@inline(__always)
func gemmNN(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
            _ c: UnsafeMutablePointer<Float>, _ ldc: Int, beta: Float = 0) {
    gemm(CblasNoTrans, CblasNoTrans, m, n, k, a, lda, b, ldb, c, ldc, beta: beta)
}

/// C[m, n] = A[k, m]ᵀ · B[k, n] (+ beta·C).
@inline(__always)
func gemmTN(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
            _ c: UnsafeMutablePointer<Float>, _ ldc: Int, beta: Float = 0) {
    gemm(CblasTrans, CblasNoTrans, m, n, k, a, lda, b, ldb, c, ldc, beta: beta)
}

/// out[r, :] = x[r, :] / rms(x[r, :]) * w for `rows` rows of width `d`.
@inline(__always)
func rmsNormRows(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, rows: Int, d: Int, eps: Float) {
    for r in 0..<rows {
        let xr = x + r * d, o = out + r * d
        var s: Float = 0
        for j in 0..<d { s += xr[j] * xr[j] }
        let inv = 1 / (s / Float(d) + eps).squareRoot()
        for j in 0..<d { o[j] = xr[j] * inv * w[j] }
    }
}

/// exp(x) for the no-autograd kernels: Cephes-style range reduction and a degree-6 polynomial, branch-free so
/// loops over it vectorise (libm's expf is a call per element). Relative error below 2e-7 on [-87, 88];
/// 0 below -87.3 (so -inf gives 0), +inf above 88.7.
@inline(__always) func fexp(_ x: Float) -> Float {
    let xc = Swift.min(Swift.max(x, -87.3), 88.7)
    // Round x·log2(e) to the nearest integer with the 1.5·2^23 trick (no libm call).
    let magic: Float = 12_582_912
    let n = (xc * 1.442_695_04 + magic) - magic
    let r = (xc - n * 0.693_359_375) - n * -2.121_944_4e-4
    var p: Float = 1.987_569_15e-4
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_6e-2
    p = p * r + 1.666_666_55e-1
    p = p * r + 5.000_000_1e-1
    let y = p * r * r + r + 1
    let scale = Float(bitPattern: UInt32(bitPattern: Int32(n) &+ 127) &<< 23)
    let v = y * scale
    return x < -87.3 ? 0 : (x > 88.7 ? .infinity : v)
}

/// Runs `body` with OpenBLAS limited to `n` threads (then restores the configured count). Small decode-step GEMMs
/// (a few rows) run faster single-threaded than with OpenBLAS's thread hand-off, especially on a loaded machine.
@inline(__always)
func withBLASThreads<R>(_ n: Int, _ body: () throws -> R) rethrows -> R {
    let configured = numThreads()
    if configured <= n { return try body() }
    openblas_set_num_threads(Int32(n))
    defer { openblas_set_num_threads(Int32(configured)) }
    return try body()
}
