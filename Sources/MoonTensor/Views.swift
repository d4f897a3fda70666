import Foundation

/// Writes `g` into a zero tensor of `inShape` through the view `make` produces (backward of view ops).
func viewBackward(_ inShape: [Int], _ g: Tensor, _ make: (Tensor) throws -> Tensor) throws -> Tensor {
    let z = Tensor.empty(inShape, zeroed: true)
    let v = try make(z)
    try inplace2(v, g, "backward") { _, b in b }
    return z
}

extension Tensor {
    /// Contiguous reshape without autograd (internal).
    func reshapeNoGrad(_ s: [Int]) throws -> Tensor {
        let c = isContiguous ? self : Tensor.noGrad { clone() }
        return c.view(shape: s, strides: contiguousStrides(s), offset: c.offset)
    }

    private func inferShape(_ s: [Int], _ op: String) throws -> [Int] {
        var out = s
        var neg = -1, known = 1
        for (i, d) in s.enumerated() {
            if d == -1 {
                if neg >= 0 { throw TensorError(op, arg: "'shape'", "only one dimension can be -1, got \(fmt(s))") }
                neg = i
            } else if d < 0 {
                throw TensorError(op, arg: "'shape'", "invalid size \(d) in \(fmt(s))")
            } else { known *= d }
        }
        if neg >= 0 {
            if known == 0 || count % known != 0 {
                throw TensorError(op, arg: "'shape'", "shape \(fmt(s)) is invalid for a tensor of \(count) elements")
            }
            out[neg] = count / known
        }
        if shapeCount(out) != count {
            throw TensorError(op, arg: "'shape'", "shape \(fmt(s)) is invalid for a tensor of \(count) elements")
        }
        return out
    }

    /// A tensor with the same elements and a new shape (one size may be -1). A view when contiguous, else a copy.
    public func reshape(_ newShape: [Int]) throws -> Tensor {
        let s = try inferShape(newShape, "reshape")
        if s == shape { return self }
        let src = contiguous()
        let out = src.view(shape: s, strides: contiguousStrides(s), offset: src.offset)
        if needsGrad(src) {
            let inShape = src.shape
            out.record(GradNode("reshape", [src]) { g in [try g.reshape(inShape)] })
        }
        return out
    }

    /// Like `reshape` but never copies: throws for a non-contiguous tensor.
    public func view(_ newShape: [Int]) throws -> Tensor {
        guard isContiguous else {
            throw TensorError("view", "the tensor is not contiguous (strides \(fmt(strides)) for shape \(fmt(shape))); use reshape or contiguous()")
        }
        let s = try inferShape(newShape, "view")
        return try reshape(s)
    }

    /// Flattens dims `start...end` into one.
    public func flatten(start: Int = 0, end: Int = -1) throws -> Tensor {
        if ndim == 0 { return try reshape([1]) }
        let s = try normDim(start, ndim, "flatten", arg: "'start'"), e = try normDim(end, ndim, "flatten", arg: "'end'")
        if s > e { throw TensorError("flatten", "start dim \(start) comes after end dim \(end)") }
        var ns = Array(shape[0..<s])
        ns.append(shape[s...e].reduce(1, *))
        ns += shape[(e + 1)...]
        return try reshape(ns)
    }

    /// Removes dim `dim` if its size is 1 (otherwise returns self).
    public func squeeze(dim: Int) throws -> Tensor {
        let d = try normDim(dim, ndim, "squeeze")
        if shape[d] != 1 { return self }
        var s = shape, st = strides
        s.remove(at: d); st.remove(at: d)
        let out = view(shape: s, strides: st, offset: offset)
        if needsGrad(self) {
            let inShape = shape
            out.record(GradNode("squeeze", [self]) { g in [try g.reshape(inShape)] })
        }
        return out
    }

    /// Removes all dims of size 1.
    public func squeeze() -> Tensor {
        var r = self
        var d = ndim - 1
        while d >= 0 { if shape[d] == 1 { r = try! r.squeeze(dim: d) }; d -= 1 }
        return r
    }

    /// Inserts a dim of size 1 at `dim` (in `-(ndim+1)...ndim`).
    public func unsqueeze(dim: Int) throws -> Tensor {
        let d = try normDim(dim, ndim + 1, "unsqueeze")
        var s = shape, st = strides
        let stride = d < ndim ? strides[d] * shape[d] : 1
        s.insert(1, at: d); st.insert(stride, at: d)
        let out = view(shape: s, strides: st, offset: offset)
        if needsGrad(self) {
            let inShape = shape
            out.record(GradNode("unsqueeze", [self]) { g in [try g.reshape(inShape)] })
        }
        return out
    }

    /// Reorders dims: output dim i is input dim `dims[i]`.
    public func permute(_ dims: [Int]) throws -> Tensor {
        guard dims.count == ndim else {
            throw TensorError("permute", arg: "'dims'", "expected \(ndim) dims, got \(dims.count)")
        }
        var p = [Int](repeating: 0, count: ndim)
        var seen = [Bool](repeating: false, count: ndim)
        for (i, d) in dims.enumerated() {
            let n = try normDim(d, ndim, "permute", arg: "'dims'")
            if seen[n] { throw TensorError("permute", arg: "'dims'", "expected a permutation of 0..<\(ndim), got \(fmt(dims))") }
            seen[n] = true
            p[i] = n
        }
        let out = view(shape: p.map { shape[$0] }, strides: p.map { strides[$0] }, offset: offset)
        if needsGrad(self) {
            var inv = [Int](repeating: 0, count: p.count)
            for (i, d) in p.enumerated() { inv[d] = i }
            out.record(GradNode("permute", [self]) { g in [try g.permute(inv)] })
        }
        return out
    }

    /// Swaps two dims.
    public func transpose(_ d0: Int, _ d1: Int) throws -> Tensor {
        let a = try normDim(d0, ndim, "transpose", arg: "#1"), b = try normDim(d1, ndim, "transpose", arg: "#2")
        var p = Array(0..<ndim)
        p.swapAt(a, b)
        return try permute(p)
    }

    /// Transpose of a 2-D tensor (1-D and 0-D are returned unchanged).
    public func t() throws -> Tensor {
        if ndim < 2 { return self }
        guard ndim == 2 else { throw TensorError("t", "expected a tensor with at most 2 dims, got \(ndim)") }
        return try transpose(0, 1)
    }

    /// The elements `start..<start+length` of `dim` (a view). Negative `start` counts from the end.
    public func narrow(dim: Int, start: Int, length: Int) throws -> Tensor {
        let d = try normDim(dim, ndim, "narrow")
        let n = shape[d]
        let s = start < 0 ? start + n : start
        if s < 0 || s > n { throw TensorError("narrow", arg: "'start'", "start \(start) out of range for dim \(d) of size \(n)") }
        if length < 0 || s + length > n {
            throw TensorError("narrow", arg: "'length'", "start \(s) + length \(length) exceeds dim \(d) of size \(n)")
        }
        var ns = shape
        ns[d] = length
        let out = view(shape: ns, strides: strides, offset: offset + s * strides[d])
        if needsGrad(self) {
            let inShape = shape
            out.record(GradNode("narrow", [self]) { g in
                [try viewBackward(inShape, g) { try $0.narrow(dim: d, start: s, length: length) }]
            })
        }
        return out
    }

    /// The sub-tensor at `index` of `dim`, with that dim removed (a view). Negative index counts from the end.
    public func select(dim: Int, index: Int) throws -> Tensor {
        let d = try normDim(dim, ndim, "select")
        let n = shape[d]
        let i = index < 0 ? index + n : index
        if i < 0 || i >= n { throw TensorError("select", arg: "'index'", "index \(index) out of range for dim \(d) of size \(n)") }
        var ns = shape, st = strides
        ns.remove(at: d); st.remove(at: d)
        let out = view(shape: ns, strides: st, offset: offset + i * strides[d])
        if needsGrad(self) {
            let inShape = shape
            out.record(GradNode("select", [self]) { g in
                [try viewBackward(inShape, g) { try $0.select(dim: d, index: i) }]
            })
        }
        return out
    }

    /// Python-style slice `start:end:step` of `dim` (a view). Negative bounds count from the end; out-of-range bounds are clamped.
    public func slice(dim: Int, start: Int? = nil, end: Int? = nil, step: Int = 1) throws -> Tensor {
        let d = try normDim(dim, ndim, "slice")
        guard step > 0 else { throw TensorError("slice", arg: "'step'", "expected a positive step, got \(step)") }
        let n = shape[d]
        func clampIdx(_ v: Int) -> Int { Swift.min(Swift.max(v < 0 ? v + n : v, 0), n) }
        let s = clampIdx(start ?? 0), e = Swift.max(clampIdx(end ?? n), s)
        let len = (e - s + step - 1) / step
        var ns = shape, st = strides
        ns[d] = len; st[d] = strides[d] * step
        let out = view(shape: ns, strides: st, offset: offset + s * strides[d])
        if needsGrad(self) {
            let inShape = shape
            out.record(GradNode("slice", [self]) { g in
                [try viewBackward(inShape, g) { try $0.slice(dim: d, start: s, end: e, step: step) }]
            })
        }
        return out
    }

    /// Broadcasts size-1 dims (and new leading dims) to `newShape` without copying; -1 keeps a size.
    public func expand(_ newShape: [Int]) throws -> Tensor {
        guard newShape.count >= ndim else {
            throw TensorError("expand", arg: "'shape'", "expected at least \(ndim) dims, got \(fmt(newShape))")
        }
        let lead = newShape.count - ndim
        var s = newShape, st = [Int](repeating: 0, count: newShape.count)
        for i in 0..<newShape.count {
            if i < lead {
                if newShape[i] < 0 { throw TensorError("expand", arg: "'shape'", "size -1 is not allowed for a new leading dim in \(fmt(newShape))") }
                continue
            }
            let old = shape[i - lead]
            if newShape[i] == -1 || newShape[i] == old { s[i] = old; st[i] = strides[i - lead] }
            else if old == 1 && newShape[i] >= 0 { st[i] = 0 }
            else {
                throw TensorError("expand", arg: "'shape'", "the expanded size \(newShape[i]) must match the existing size \(old) at dim \(i) (shape \(fmt(shape)) to \(fmt(newShape)))")
            }
        }
        if s == shape { return self }
        try checkShape(s, op: "expand")
        let out = view(shape: s, strides: st, offset: offset)
        if needsGrad(self) {
            let inShape = shape
            out.record(GradNode("expand", [self]) { g in [try g.sumTo(inShape)] })
        }
        return out
    }

    /// Lower-triangular part of the last two dims (elements above diagonal `k` zeroed).
    public func tril(_ k: Int = 0) throws -> Tensor { try triMask(k, lower: true) }
    /// Upper-triangular part of the last two dims (elements below diagonal `k` zeroed).
    public func triu(_ k: Int = 0) throws -> Tensor { try triMask(k, lower: false) }

    private func triMask(_ k: Int, lower: Bool) throws -> Tensor {
        guard ndim >= 2 else { throw TensorError(lower ? "tril" : "triu", "expected a tensor with at least 2 dims, got \(ndim)") }
        let r = shape[ndim - 2], c = shape[ndim - 1]
        let m = Tensor.empty([r, c])
        for i in 0..<r { for j in 0..<c { m.fptr[i * c + j] = (lower ? j - i <= k : j - i >= k) ? 1 : 0 } }
        return try mul(m)
    }
}

extension Tensor {
    /// Reverses the order of elements along `dim` (a copy; differentiable).
    public func flip(dim: Int) throws -> Tensor {
        let d = try normDim(dim, ndim, "flip")
        let n = shape[d]
        return try indexSelect(dim: d, index: Tensor(ints: Array((0..<n).reversed())))
    }
}
