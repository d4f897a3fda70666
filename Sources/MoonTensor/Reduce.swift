import Foundation

/// Splits a shape around `d` into (outer, n, inner) element counts.
@inline(__always)
func split3(_ shape: [Int], _ d: Int) -> (Int, Int, Int) {
    var outer = 1, inner = 1
    for i in 0..<d { outer *= shape[i] }
    for i in (d + 1)..<shape.count { inner *= shape[i] }
    return (outer, shape[d], inner)
}

/// Sum over one dim, keeping it with size 1 (float32, no autograd).
func sumDimKernel(_ x: Tensor, _ d: Int) -> Tensor {
    let c = x.contiguous()
    var oshape = c.shape
    oshape[d] = 1
    let out = Tensor.empty(oshape, zeroed: true)
    let (outer, n, inner) = split3(c.shape, d)
    let p = c.fptr, o = out.fptr
    let work = Swift.max(1, n * inner)
    parallelRange(outer, grain: Swift.max(1, Parallel.grainSize / work)) { lo, hi in
        for r in lo..<hi {
            let dst = o + r * inner
            let src = p + r * n * inner
            if inner == 1 {
                var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
                var k = 0
                while k + 4 <= n { s0 += src[k]; s1 += src[k + 1]; s2 += src[k + 2]; s3 += src[k + 3]; k += 4 }
                while k < n { s0 += src[k]; k += 1 }
                dst[0] = (s0 + s1) + (s2 + s3)
            } else {
                for k in 0..<n {
                    let row = src + k * inner
                    for i in 0..<inner { dst[i] += row[i] }
                }
            }
        }
    }
    return out
}

/// Index of the max (or min) along `d`, keepdim shape, int64. NaN counts as the extreme.
func argExtremeKernel(_ x: Tensor, _ d: Int, max: Bool) -> Tensor {
    let c = asFloat(x).contiguous()
    var oshape = c.shape
    oshape[d] = 1
    let out = Tensor.empty(oshape, dtype: .int64)
    let (outer, n, inner) = split3(c.shape, d)
    let p = c.fptr, o = out.iptr
    for r in 0..<outer {
        for i in 0..<inner {
            let base = p + r * n * inner + i
            var best = base[0], bi = 0
            if !best.isNaN {
                for k in 1..<Swift.max(n, 1) {
                    let v = base[k * inner]
                    if v.isNaN { bi = k; break }
                    if max ? v > best : v < best { best = v; bi = k }
                }
            }
            o[r * inner + i] = Int64(bi)
        }
    }
    return out
}

extension Tensor {
    /// Sum of all elements (0-d tensor).
    public func sum() -> Tensor {
        let x = asFloat(self)
        let out = Tensor.scalar(Float(sumAll(x)))
        if needsGrad(self) {
            let s = shape
            out.record(GradNode("sum", [self]) { g in [g.view(shape: s, strides: [Int](repeating: 0, count: s.count), offset: g.offset)] })
        }
        return out
    }

    /// Sum over `dim` (negative allowed).
    public func sum(dim: Int, keepdim: Bool = false) throws -> Tensor { try sum(dims: [dim], keepdim: keepdim, op: "sum") }

    /// Sum over several dims (an empty list means all dims).
    public func sum(dims: [Int], keepdim: Bool = false) throws -> Tensor { try sum(dims: dims, keepdim: keepdim, op: "sum") }

    func sum(dims dims0: [Int], keepdim: Bool, op: String) throws -> Tensor {
        let dims = dims0.isEmpty ? Array(0..<ndim) : dims0  // an empty list reduces everything, as in PyTorch
        var ds: [Int] = []
        for d in dims {
            let n = try normDim(d, ndim, op)
            if ds.contains(n) { throw TensorError(op, arg: "'dim'", "dim \(d) appears more than once") }
            ds.append(n)
        }
        var r = asFloat(self)
        for d in ds.sorted() { r = sumDimKernel(r, d) }
        var kshape = shape
        for d in ds { kshape[d] = 1 }
        var oshape = kshape
        if !keepdim { oshape = shape.enumerated().filter { !ds.contains($0.offset) }.map { $0.element } }
        let out = r.view(shape: oshape, strides: contiguousStrides(oshape), offset: r.offset)
        if needsGrad(self) {
            let s = shape
            out.record(GradNode(op, [self]) { g in
                let gk = try g.contiguous().reshapeNoGrad(kshape)
                return [gk.view(shape: s, strides: broadcastStrides(gk, to: s), offset: gk.offset)]
            })
        }
        return out
    }

    /// Reduces a (broadcast) gradient back to `target` by summing the broadcast dims.
    func sumTo(_ target: [Int]) throws -> Tensor {
        if shape == target { return self }
        let lead = ndim - target.count
        var dims: [Int] = Array(0..<Swift.max(lead, 0))
        for (i, t) in target.enumerated() where t == 1 && shape[i + lead] != 1 { dims.append(i + lead) }
        let s = dims.isEmpty ? self : try sum(dims: dims, keepdim: true)
        return try s.reshape(target)
    }

    /// Mean of all elements.
    public func mean() -> Tensor { sum().div(Float(Swift.max(count, 1))) }
    /// Mean over `dim`.
    public func mean(dim: Int, keepdim: Bool = false) throws -> Tensor { try mean(dims: [dim], keepdim: keepdim) }
    /// Mean over several dims (an empty list means all dims).
    public func mean(dims dims0: [Int], keepdim: Bool = false) throws -> Tensor {
        let dims = dims0.isEmpty ? Array(0..<ndim) : dims0
        let s = try sum(dims: dims, keepdim: keepdim, op: "mean")
        var n = 1
        for d in dims { n *= shape[try normDim(d, ndim, "mean")] }
        return s.div(Float(Swift.max(n, 1)))
    }

    /// Variance of all elements (`unbiased` divides by n-1 as PyTorch's default).
    public func variance(unbiased: Bool = true) -> Tensor {
        let m = mean()
        let d = (try? sub(m)) ?? self
        return d.square().sum().div(Float(Swift.max(count - (unbiased ? 1 : 0), 0)))
    }
    /// Variance over `dim`.
    public func variance(dim: Int, unbiased: Bool = true, keepdim: Bool = false) throws -> Tensor {
        let d = try normDim(dim, ndim, "var")
        let m = try mean(dims: [d], keepdim: true)
        let dev = try sub(m)
        return try dev.square().sum(dims: [d], keepdim: keepdim, op: "var").div(Float(Swift.max(shape[d] - (unbiased ? 1 : 0), 0)))
    }
    /// Standard deviation of all elements.
    public func std(unbiased: Bool = true) -> Tensor { variance(unbiased: unbiased).sqrt() }
    /// Standard deviation over `dim`.
    public func std(dim: Int, unbiased: Bool = true, keepdim: Bool = false) throws -> Tensor {
        try variance(dim: dim, unbiased: unbiased, keepdim: keepdim).sqrt()
    }

    /// Euclidean (L2) norm of all elements.
    public func norm() -> Tensor { square().sum().sqrt() }

    private func extreme(_ dim: Int, _ keepdim: Bool, max: Bool, op: String) throws -> (values: Tensor, indices: Tensor) {
        let d = try normDim(dim, ndim, op)
        if shape[d] == 0 { throw TensorError(op, arg: "'dim'", "cannot reduce over dim \(dim) of size 0") }
        let idx = argExtremeKernel(self, d, max: max)
        let vals = try asFloat(self).gather(dim: d, index: idx)
        if keepdim { return (vals, idx) }
        return (try vals.squeeze(dim: d), try idx.squeeze(dim: d))
    }

    /// Maximum over `dim` with its indices (gradient flows to the selected element).
    public func max(dim: Int, keepdim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try extreme(dim, keepdim, max: true, op: "max")
    }
    /// Minimum over `dim` with its indices.
    public func min(dim: Int, keepdim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        try extreme(dim, keepdim, max: false, op: "min")
    }
    /// Maximum of all elements (0-d).
    public func max() throws -> Tensor {
        if count == 0 { throw TensorError("max", "cannot reduce an empty tensor") }
        return try reshape([-1]).max(dim: 0).values
    }
    /// Minimum of all elements (0-d).
    public func min() throws -> Tensor {
        if count == 0 { throw TensorError("min", "cannot reduce an empty tensor") }
        return try reshape([-1]).min(dim: 0).values
    }
    /// Indices of the maxima over `dim` (int64).
    public func argmax(dim: Int, keepdim: Bool = false) throws -> Tensor { try extreme(dim, keepdim, max: true, op: "argmax").indices }
    /// Indices of the minima over `dim` (int64).
    public func argmin(dim: Int, keepdim: Bool = false) throws -> Tensor { try extreme(dim, keepdim, max: false, op: "argmin").indices }
    /// Flat index of the maximum (0-d int64).
    public func argmax() throws -> Tensor {
        if count == 0 { throw TensorError("argmax", "cannot reduce an empty tensor") }
        return try reshape([-1]).argmax(dim: 0)
    }
    /// Flat index of the minimum (0-d int64).
    public func argmin() throws -> Tensor {
        if count == 0 { throw TensorError("argmin", "cannot reduce an empty tensor") }
        return try reshape([-1]).argmin(dim: 0)
    }

    /// `log(sum(exp(x)))` over `dim`, computed stably.
    public func logsumexp(dim: Int, keepdim: Bool = false) throws -> Tensor {
        let d = try normDim(dim, ndim, "logsumexp")
        if shape[d] == 0 { throw TensorError("logsumexp", arg: "'dim'", "cannot reduce over dim \(dim) of size 0") }
        let m = try Tensor.noGrad { try asFloat(self).max(dim: d, keepdim: true).values }
        inplace1(m) { $0.isFinite ? $0 : 0 }
        let s = try sub(m).exp().sum(dims: [d], keepdim: true, op: "logsumexp").log().add(m)
        return keepdim ? s : try s.squeeze(dim: d)
    }
    /// `log(sum(exp(x)))` over all elements.
    public func logsumexp() throws -> Tensor { try reshape([-1]).logsumexp(dim: 0) }

    /// Cumulative sum along `dim`.
    public func cumsum(dim: Int) throws -> Tensor {
        let d = try normDim(dim, ndim, "cumsum")
        let out = Tensor.cumsumKernel(asFloat(self), d, reverse: false)
        if needsGrad(self) {
            out.record(GradNode("cumsum", [self]) { g in [Tensor.cumsumKernel(g, d, reverse: true)] })
        }
        return out
    }

    static func cumsumKernel(_ x: Tensor, _ d: Int, reverse: Bool) -> Tensor {
        let c = x.contiguous()
        let out = Tensor.empty(c.shape)
        let (outer, n, inner) = split3(c.shape, d)
        let p = c.fptr, o = out.fptr
        for r in 0..<outer {
            let base = r * n * inner
            for i in 0..<inner {
                var acc: Float = 0
                if reverse {
                    var k = n - 1
                    while k >= 0 { let j = base + k * inner + i; acc += p[j]; o[j] = acc; k -= 1 }
                } else {
                    for k in 0..<n { let j = base + k * inner + i; acc += p[j]; o[j] = acc }
                }
            }
        }
        return out
    }
}
