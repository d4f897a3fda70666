import Foundation

// MARK: generic (specialised, threaded) kernels

protocol EW1 { func callAsFunction(_ x: Float) -> Float }
protocol EW2 { func callAsFunction(_ a: Float, _ b: Float) -> Float }

/// Like `map1`, threaded for large contiguous inputs.
@inline(__always)
func pmap1<F: EW1>(_ x: Tensor, _ f: F) -> Tensor {
    let n = x.count
    if x.isContiguous && n >= Parallel.grainSize && Parallel.threadCount > 1 {
        let out = Tensor.empty(x.shape)
        let o = out.fptr, p = x.fptr
        let chunks = Swift.min(Parallel.threadCount, (n + Parallel.grainSize - 1) / Parallel.grainSize)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            for i in (n * c / chunks)..<(n * (c + 1) / chunks) { o[i] = f(p[i]) }
        }
        return out
    }
    return map1(x) { f($0) }
}

/// Like `map2`, threaded for large same-shape contiguous inputs.
@inline(__always)
func pmap2<F: EW2>(_ a: Tensor, _ b: Tensor, _ op: String, _ f: F) throws -> Tensor {
    let n = a.count
    if a.shape == b.shape && a.isContiguous && b.isContiguous && n >= Parallel.grainSize && Parallel.threadCount > 1 {
        let out = Tensor.empty(a.shape)
        let o = out.fptr, p = a.fptr, q = b.fptr
        let chunks = Swift.min(Parallel.threadCount, (n + Parallel.grainSize - 1) / Parallel.grainSize)
        DispatchQueue.concurrentPerform(iterations: chunks) { c in
            for i in (n * c / chunks)..<(n * (c + 1) / chunks) { o[i] = f(p[i], q[i]) }
        }
        return out
    }
    return try map2(a, b, op) { f($0, $1) }
}

struct AddF: EW2 { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a + b } }
struct SubF: EW2 { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a - b } }
struct MulF: EW2 { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a * b } }
struct DivF: EW2 { @inline(__always) func callAsFunction(_ a: Float, _ b: Float) -> Float { a / b } }
struct AddS: EW1 { let s: Float; @inline(__always) func callAsFunction(_ x: Float) -> Float { x + s } }
struct MulS: EW1 { let s: Float; @inline(__always) func callAsFunction(_ x: Float) -> Float { x * s } }
struct ExpF: EW1 { @inline(__always) func callAsFunction(_ x: Float) -> Float { Foundation.expf(x) } }
struct TanhF: EW1 { @inline(__always) func callAsFunction(_ x: Float) -> Float { Foundation.tanhf(x) } }
struct SigmoidF: EW1 { @inline(__always) func callAsFunction(_ x: Float) -> Float { 1 / (1 + Foundation.expf(-x)) } }
struct SiluF: EW1 { @inline(__always) func callAsFunction(_ x: Float) -> Float { x / (1 + Foundation.expf(-x)) } }
struct ReluF: EW1 { @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : 0 } }
struct GeluF: EW1 {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { 0.5 * x * (1 + Float(Foundation.erf(Double(x) * 0.7071067811865476))) }
}
struct GeluTanhF: EW1 {
    @inline(__always) func callAsFunction(_ x: Float) -> Float {
        0.5 * x * (1 + Foundation.tanhf(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    }
}
