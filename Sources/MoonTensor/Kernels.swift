import Foundation

// Internal elementwise kernels (no autograd).
//
// The closure-based kernels (map1/map2/inplace1/inplace2) run serially: once a closure is captured by a
// dispatched block the compiler no longer inlines it, which made the threaded path ~10x slower than the
// serial one. The generic kernels (pmap1/pmap2 over EW1/EW2 op structs) are specialised per op, so
// their threaded path stays inlined and vectorised; the hot forward ops use them.

/// out[i] = f(x[i]) for a float32 tensor.
@inline(__always)
func map1(_ x: Tensor, _ f: (Float) -> Float) -> Tensor {
    let out = Tensor.empty(x.shape)
    let o = out.fptr
    if x.isContiguous {
        let p = x.fptr
        for i in 0..<x.count { o[i] = f(p[i]) }
    } else {
        let base = x.storage.floats
        var k = 0
        forEachRow(x.shape, x.strides, x.offset) { start, s, n in
            for j in 0..<n { o[k + j] = f(base[start + j * s]) }
            k += n
        }
    }
    return out
}

/// out = f(a, b) with NumPy broadcasting, float32 inputs.
@inline(__always)
func map2(_ a: Tensor, _ b: Tensor, _ op: String, _ f: (Float, Float) -> Float) throws -> Tensor {
    if a.shape == b.shape && a.isContiguous && b.isContiguous {
        let out = Tensor.empty(a.shape)
        let o = out.fptr, p = a.fptr, q = b.fptr
        for i in 0..<a.count { o[i] = f(p[i], q[i]) }
        return out
    }
    let shape = try broadcastShapes(a.shape, b.shape, op)
    let out = Tensor.empty(shape)
    let o = out.fptr
    if b.count == 1 && a.isContiguous && a.shape == shape {
        let p = a.fptr, s = b.storage.floats[b.offset]
        for i in 0..<a.count { o[i] = f(p[i], s) }
        return out
    }
    if a.count == 1 && b.isContiguous && b.shape == shape {
        let q = b.fptr, s = a.storage.floats[a.offset]
        for i in 0..<b.count { o[i] = f(s, q[i]) }
        return out
    }
    let sa = broadcastStrides(a, to: shape), sb = broadcastStrides(b, to: shape)
    let pa = a.storage.floats, pb = b.storage.floats
    var k = 0
    forEachRow2(shape, sa, a.offset, sb, b.offset) { ia, da, ib, db, n in
        if da == 1 && db == 1 {
            for j in 0..<n { o[k + j] = f(pa[ia + j], pb[ib + j]) }
        } else if da == 1 && db == 0 {
            let s = pb[ib]
            for j in 0..<n { o[k + j] = f(pa[ia + j], s) }
        } else {
            for j in 0..<n { o[k + j] = f(pa[ia + j * da], pb[ib + j * db]) }
        }
        k += n
    }
    return out
}

/// self[i] = f(self[i], other[i]) in place; `other` broadcasts to self's shape.
@inline(__always)
func inplace2(_ t: Tensor, _ other: Tensor, _ op: String, _ f: (Float, Float) -> Float) throws {
    if other.shape != t.shape {
        let bs = try? broadcastShapes(t.shape, other.shape, op)
        if bs != t.shape {
            throw TensorError(op, arg: "#1", "shape \(fmt(other.shape)) cannot be broadcast to \(fmt(t.shape))")
        }
    }
    if t.isContiguous && other.isContiguous && t.shape == other.shape {
        let p = t.fptr, q = other.fptr
        for i in 0..<t.count { p[i] = f(p[i], q[i]) }
        return
    }
    let so = broadcastStrides(other, to: t.shape)
    let pa = t.storage.floats, pb = other.storage.floats
    forEachRow2(t.shape, t.strides, t.offset, so, other.offset) { ia, da, ib, db, n in
        for j in 0..<n { pa[ia + j * da] = f(pa[ia + j * da], pb[ib + j * db]) }
    }
}

/// self[i] = f(self[i]) in place.
@inline(__always)
func inplace1(_ t: Tensor, _ f: (Float) -> Float) {
    if t.isContiguous {
        let p = t.fptr
        for i in 0..<t.count { p[i] = f(p[i]) }
        return
    }
    let base = t.storage.floats
    forEachRow(t.shape, t.strides, t.offset) { start, s, n in
        for j in 0..<n { base[start + j * s] = f(base[start + j * s]) }
    }
}

/// Sum of a float32 tensor's elements (Double accumulation).
func sumAll(_ x: Tensor) -> Double {
    var acc = 0.0
    if x.isContiguous {
        let p = x.fptr, n = x.count
        var i = 0
        var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
        // Blocks of 1024 summed in float, blocks accumulated in double.
        while i < n {
            let e = Swift.min(n, i + 1024)
            s0 = 0; s1 = 0; s2 = 0; s3 = 0
            var j = i
            while j + 4 <= e { s0 += p[j]; s1 += p[j + 1]; s2 += p[j + 2]; s3 += p[j + 3]; j += 4 }
            while j < e { s0 += p[j]; j += 1 }
            acc += Double((s0 + s1) + (s2 + s3))
            i = e
        }
        return acc
    }
    let base = x.storage.floats
    forEachRow(x.shape, x.strides, x.offset) { start, s, n in
        var r: Float = 0
        for j in 0..<n { r += base[start + j * s] }
        acc += Double(r)
    }
    return acc
}

/// `v` as an Int64, saturating at the type's bounds; NaN becomes 0 (never traps on user-supplied scalars).
@inline(__always)
func saturatingInt64(_ v: Float) -> Int64 {
    if v.isNaN { return 0 }
    if v >= 9.2233720368547758e18 { return .max }
    if v <= -9.2233720368547758e18 { return .min }
    return Int64(v)
}

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
        parallelRange(n) { lo, hi in for i in lo..<hi { o[i] = f(p[i]) } }
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
        parallelRange(n) { lo, hi in for i in lo..<hi { o[i] = f(p[i], q[i]) } }
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
struct TanhF: EW1 { @inline(__always) func callAsFunction(_ x: Float) -> Float { fastTanh(x) } }
struct SigmoidF: EW1 { @inline(__always) func callAsFunction(_ x: Float) -> Float { 1 / (1 + Foundation.expf(-x)) } }
struct SiluF: EW1 { @inline(__always) func callAsFunction(_ x: Float) -> Float { x / (1 + Foundation.expf(-x)) } }
struct ReluF: EW1 { @inline(__always) func callAsFunction(_ x: Float) -> Float { x > 0 ? x : 0 } }
struct GeluF: EW1 {
    @inline(__always) func callAsFunction(_ x: Float) -> Float { 0.5 * x * (1 + fastErf(x * 0.7071067811865476)) }
}
struct GeluTanhF: EW1 {
    @inline(__always) func callAsFunction(_ x: Float) -> Float {
        0.5 * x * (1 + fastTanh(0.7978845608028654 * (x + 0.044715 * x * x * x)))
    }
}

