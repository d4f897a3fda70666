import Foundation

/// Shape and stride helpers shared by all ops.

@inline(__always)
func shapeCount(_ shape: [Int]) -> Int {
    var n = 1
    for d in shape { n &*= d }
    return n
}

@inline(__always)
func contiguousStrides(_ shape: [Int]) -> [Int] {
    var st = [Int](repeating: 1, count: shape.count)
    var acc = 1
    var i = shape.count - 1
    while i >= 0 {
        st[i] = acc
        acc &*= Swift.max(shape[i], 1)
        i -= 1
    }
    return st
}

@inline(__always)
func isContiguousLayout(_ shape: [Int], _ strides: [Int]) -> Bool {
    var expected = 1
    var i = shape.count - 1
    while i >= 0 {
        let d = shape[i]
        if d != 1 {
            if strides[i] != expected { return false }
            expected &*= d
        }
        i -= 1
    }
    return true
}

/// Validates a user shape: no negative sizes, and the element count must fit in memory.
func checkShape(_ shape: [Int], op: String, arg: String = "'shape'") throws {
    var n = 1
    for d in shape {
        if d < 0 { throw TensorError(op, arg: arg, "expected non-negative sizes, got \(fmt(shape))") }
        let (m, overflow) = n.multipliedReportingOverflow(by: d)
        if overflow { throw TensorError(op, arg: arg, "shape \(fmt(shape)) has too many elements") }
        n = m
    }
    if n > maxElements {
        throw TensorError(op, arg: arg, "shape \(fmt(shape)) needs \(n) elements, more than this machine's memory holds")
    }
    try Allocation.check(bytes: n * 4)
}

/// Upper bound on the elements of one tensor (8-byte elements filling physical memory).
let maxElements: Int = Int(Swift.min(ProcessInfo.processInfo.physicalMemory / 8, UInt64(Int.max / 8)))

/// Wraps a possibly negative dim into `0..<ndim`.
@inline(__always)
func normDim(_ dim: Int, _ ndim: Int, _ op: String, arg: String = "'dim'") throws -> Int {
    let d = dim < 0 ? dim + ndim : dim
    if d < 0 || d >= ndim {
        throw TensorError(op, arg: arg, "dim \(dim) out of range for a \(ndim)-d tensor")
    }
    return d
}

/// NumPy broadcasting of two shapes.
func broadcastShapes(_ a: [Int], _ b: [Int], _ op: String) throws -> [Int] {
    if a == b { return a }
    let n = Swift.max(a.count, b.count)
    var out = [Int](repeating: 1, count: n)
    for i in 0..<n {
        let da = i < n - a.count ? 1 : a[i - (n - a.count)]
        let db = i < n - b.count ? 1 : b[i - (n - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else {
            throw TensorError(op, "shapes \(fmt(a)) and \(fmt(b)) cannot be broadcast together (dim \(i): \(da) vs \(db))")
        }
    }
    return out
}

/// Strides that read `t` as if expanded to `shape` (which must be a broadcast of t.shape).
@inline(__always)
func broadcastStrides(_ t: Tensor, to shape: [Int]) -> [Int] {
    let n = shape.count, m = t.shape.count
    var st = [Int](repeating: 0, count: n)
    for i in 0..<m {
        let j = i + n - m
        st[j] = t.shape[i] == 1 && shape[j] != 1 ? 0 : t.strides[i]
    }
    return st
}

/// Calls `body(start, stride, length)` for each innermost row of a strided layout, in row-major order.
@inline(__always)
func forEachRow(_ shape: [Int], _ st: [Int], _ off: Int, _ body: (Int, Int, Int) -> Void) {
    let nd = shape.count
    if nd == 0 { body(off, 0, 1); return }
    for d in shape where d == 0 { return }
    let len = shape[nd - 1], s = st[nd - 1]
    if nd == 1 { body(off, s, len); return }
    var idx = [Int](repeating: 0, count: nd)
    var o = off
    while true {
        body(o, s, len)
        var d = nd - 2
        while d >= 0 {
            idx[d] += 1
            o += st[d]
            if idx[d] < shape[d] { break }
            o -= st[d] * shape[d]
            idx[d] = 0
            d -= 1
        }
        if d < 0 { return }
    }
}

/// Like `forEachRow` for two layouts of the same shape: `body(aStart, aStride, bStart, bStride, length)`.
@inline(__always)
func forEachRow2(_ shape: [Int], _ sa: [Int], _ oa: Int, _ sb: [Int], _ ob: Int,
                 _ body: (Int, Int, Int, Int, Int) -> Void) {
    let nd = shape.count
    if nd == 0 { body(oa, 0, ob, 0, 1); return }
    for d in shape where d == 0 { return }
    let len = shape[nd - 1], a1 = sa[nd - 1], b1 = sb[nd - 1]
    if nd == 1 { body(oa, a1, ob, b1, len); return }
    var idx = [Int](repeating: 0, count: nd)
    var pa = oa, pb = ob
    while true {
        body(pa, a1, pb, b1, len)
        var d = nd - 2
        while d >= 0 {
            idx[d] += 1
            pa += sa[d]; pb += sb[d]
            if idx[d] < shape[d] { break }
            pa -= sa[d] * shape[d]; pb -= sb[d] * shape[d]
            idx[d] = 0
            d -= 1
        }
        if d < 0 { return }
    }
}
