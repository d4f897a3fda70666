import Foundation

/// Copies elements of any dtype from src (any layout, same shape) into the strided view dst.
func assignElements(_ dst: Tensor, _ src: Tensor) {
    if dst.dtype == .float32 {
        let pa = dst.storage.floats, pb = src.storage.floats
        forEachRow2(dst.shape, dst.strides, dst.offset, src.strides, src.offset) { ia, da, ib, db, n in
            for j in 0..<n { pa[ia + j * da] = pb[ib + j * db] }
        }
    } else {
        let pa = dst.storage.ints, pb = src.storage.ints
        forEachRow2(dst.shape, dst.strides, dst.offset, src.strides, src.offset) { ia, da, ib, db, n in
            for j in 0..<n { pa[ia + j * da] = pb[ib + j * db] }
        }
    }
}

extension Tensor {
    /// Concatenates tensors along `dim`; all other dims must match.
    public static func cat(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        guard let first = tensors.first else { throw TensorError("cat", arg: "'tensors'", "expected a non-empty list of tensors") }
        let d = try normDim(dim, first.ndim, "cat")
        var total = 0
        for (i, t) in tensors.enumerated() {
            if t.dtype != first.dtype {
                throw TensorError("cat", arg: "#\(i + 1)", "expected dtype \(first.dtype), got \(t.dtype)")
            }
            if t.ndim != first.ndim {
                throw TensorError("cat", arg: "#\(i + 1)", "expected a \(first.ndim)-d tensor, got shape \(fmt(t.shape))")
            }
            for k in 0..<t.ndim where k != d && t.shape[k] != first.shape[k] {
                var want = first.shape.map(String.init)
                want[d] = "*"
                throw TensorError("cat", arg: "#\(i + 1)", "expected shape [\(want.joined(separator: ", "))], got \(fmt(t.shape))")
            }
            total += t.shape[d]
        }
        var os = first.shape
        os[d] = total
        let out = Tensor.empty(os, dtype: first.dtype)
        var at = 0
        for t in tensors {
            let n = t.shape[d]
            var vs = os
            vs[d] = n
            assignElements(out.view(shape: vs, strides: out.strides, offset: at * out.strides[d]), t)
            at += n
        }
        if GradMode.isEnabled && tensors.contains(where: { $0.requiresGrad }) {
            let sizes = tensors.map { $0.shape[d] }
            out.record(GradNode("cat", tensors) { g in
                var start = 0
                return try sizes.map { n in
                    defer { start += n }
                    return try g.narrow(dim: d, start: start, length: n)
                }
            })
        }
        return out
    }

    /// Stacks same-shaped tensors along a new dim.
    public static func stack(_ tensors: [Tensor], dim: Int = 0) throws -> Tensor {
        guard let first = tensors.first else { throw TensorError("stack", arg: "'tensors'", "expected a non-empty list of tensors") }
        for (i, t) in tensors.enumerated() where t.shape != first.shape {
            throw TensorError("stack", arg: "#\(i + 1)", "expected shape \(fmt(first.shape)), got \(fmt(t.shape))")
        }
        let d = try normDim(dim, first.ndim + 1, "stack")
        return try cat(tensors.map { try $0.unsqueeze(dim: d) }, dim: d)
    }

    /// Splits into pieces of `size` along `dim` (the last may be smaller).
    public func split(size: Int, dim: Int = 0) throws -> [Tensor] {
        let d = try normDim(dim, ndim, "split")
        guard size > 0 else { throw TensorError("split", arg: "'size'", "expected a positive size, got \(size)") }
        var out: [Tensor] = []
        var s = 0
        repeat {
            let n = Swift.min(size, shape[d] - s)
            out.append(try narrow(dim: d, start: s, length: n))
            s += n
        } while s < shape[d]
        return out
    }

    /// Splits into pieces with the given sizes along `dim` (sizes must sum to the dim's size).
    public func split(sizes: [Int], dim: Int = 0) throws -> [Tensor] {
        let d = try normDim(dim, ndim, "split")
        guard sizes.allSatisfy({ $0 >= 0 }), sizes.reduce(0, +) == shape[d] else {
            throw TensorError("split", arg: "'sizes'", "expected non-negative sizes summing to \(shape[d]), got \(fmt(sizes))")
        }
        var s = 0
        return try sizes.map { n in defer { s += n }; return try narrow(dim: d, start: s, length: n) }
    }

    /// Splits into `chunks` nearly equal pieces along `dim` (fewer if the dim is small).
    public func chunk(_ chunks: Int, dim: Int = 0) throws -> [Tensor] {
        guard chunks > 0 else { throw TensorError("chunk", arg: "'chunks'", "expected a positive count, got \(chunks)") }
        let d = try normDim(dim, ndim, "chunk")
        let size = Swift.max(1, (shape[d] + chunks - 1) / chunks)
        return try split(size: size, dim: d)
    }

    private func checkIndex(_ index: Tensor, _ op: String, limit: Int, arg: String = "'index'") throws {
        guard index.dtype == .int64 else { throw TensorError(op, arg: arg, "expected an int64 tensor, got \(index.dtype)") }
        let c = index.contiguous()
        let p = c.iptr
        for i in 0..<c.count where p[i] < 0 || p[i] >= Int64(limit) {
            throw TensorError(op, arg: arg, "index \(p[i]) out of range for a dim of size \(limit)")
        }
    }

    /// Selects entries of `dim` at the positions in the 1-D int64 `index` (copy).
    public func indexSelect(dim: Int, index: Tensor) throws -> Tensor {
        let d = try normDim(dim, ndim, "index_select")
        guard index.ndim <= 1 else { throw TensorError("index_select", arg: "'index'", "expected a 1-d tensor, got shape \(fmt(index.shape))") }
        try checkIndex(index, "index_select", limit: shape[d])
        let idx = index.contiguous()
        let c = contiguous()
        let (outer, n, inner) = split3(c.shape, d)
        let m = idx.count
        var os = shape
        os[d] = m
        let out = Tensor.empty(os, dtype: dtype)
        let ip = idx.iptr
        if dtype == .float32 {
            let p = c.fptr, o = out.fptr
            for r in 0..<outer { for j in 0..<m {
                (o + (r * m + j) * inner).update(from: p + (r * n + Int(ip[j])) * inner, count: inner)
            } }
        } else {
            let p = c.iptr, o = out.iptr
            for r in 0..<outer { for j in 0..<m {
                (o + (r * m + j) * inner).update(from: p + (r * n + Int(ip[j])) * inner, count: inner)
            } }
        }
        if needsGrad(self) {
            let inShape = shape
            out.record(GradNode("index_select", [self], saving: [idx]) { g in
                let gc = g.contiguous()
                let z = Tensor.empty(inShape, zeroed: true)
                let gp = gc.fptr, zp = z.fptr, ip = idx.iptr
                for r in 0..<outer { for j in 0..<m {
                    let dst = zp + (r * n + Int(ip[j])) * inner, src = gp + (r * m + j) * inner
                    for i in 0..<inner { dst[i] += src[i] }
                } }
                return [z]
            })
        }
        return out
    }

    /// Calls body(outPosition, sourceOffset) for every element of `index` (contiguous int64) along dim d of self's layout.
    @inline(__always)
    private func forEachGather(_ idx: Tensor, _ d: Int, _ body: (Int, Int) -> Void) {
        var st = strides
        st[d] = 0
        let ip = idx.iptr, sd = strides[d]
        var k = 0
        forEachRow(idx.shape, st, offset) { start, s, n in
            for j in 0..<n { body(k + j, start + j * s + Int(ip[k + j]) * sd) }
            k += n
        }
    }

    private func checkGatherShape(_ index: Tensor, _ d: Int, _ op: String) throws {
        guard index.ndim == ndim else {
            throw TensorError(op, arg: "'index'", "expected a \(ndim)-d index, got shape \(fmt(index.shape))")
        }
        for k in 0..<ndim where k != d && index.shape[k] > shape[k] {
            throw TensorError(op, arg: "'index'", "index shape \(fmt(index.shape)) exceeds the input shape \(fmt(shape)) at dim \(k)")
        }
        try checkIndex(index, op, limit: shape[d])
    }

    /// `out[i][j] = self[i][index[i][j]]` (for dim 1; generally along `dim`). Output has index's shape.
    public func gather(dim: Int, index: Tensor) throws -> Tensor {
        let d = try normDim(dim, ndim, "gather")
        try checkGatherShape(index, d, "gather")
        let idx = index.contiguous()
        let out = Tensor.empty(idx.shape, dtype: dtype)
        if dtype == .float32 {
            let base = storage.floats, o = out.fptr
            forEachGather(idx, d) { k, src in o[k] = base[src] }
        } else {
            let base = storage.ints, o = out.iptr
            forEachGather(idx, d) { k, src in o[k] = base[src] }
        }
        if needsGrad(self) {
            let inShape = shape
            out.record(GradNode("gather", [self], saving: [idx]) { g in
                let z = Tensor.empty(inShape, zeroed: true)
                return [try z.scatterAddNoGrad(d, idx, g)]
            })
        }
        return out
    }

    func scatterAddNoGrad(_ d: Int, _ idx: Tensor, _ src: Tensor) throws -> Tensor {
        // self must be a fresh contiguous float tensor; src is read with idx's shape.
        let sc = src.shape == idx.shape ? src.contiguous() : try src.narrowTo(idx.shape).contiguous()
        let base = storage.floats, sp = sc.fptr
        forEachGather(idx, d) { k, dst in base[dst] += sp[k] }
        return self
    }

    private func narrowTo(_ s: [Int]) throws -> Tensor {
        var r = self
        for (k, n) in s.enumerated() where r.shape[k] != n { r = try r.narrow(dim: k, start: 0, length: n) }
        return r
    }

    /// A copy of self with `src` values added at `index` positions along `dim` (out-of-place `scatter_add`).
    public func scatterAdd(dim: Int, index: Tensor, src: Tensor) throws -> Tensor {
        let d = try normDim(dim, ndim, "scatter_add")
        guard dtype == .float32, src.dtype == .float32 else {
            throw TensorError("scatter_add", "expected float32 tensors, got \(dtype) and \(src.dtype)")
        }
        try checkGatherShape(index, d, "scatter_add")
        guard src.ndim == index.ndim, zip(index.shape, src.shape).allSatisfy({ $0 <= $1 }) else {
            throw TensorError("scatter_add", arg: "'src'", "expected a shape at least \(fmt(index.shape)), got \(fmt(src.shape))")
        }
        let idx = index.contiguous()
        let out = Tensor.noGrad { clone() }
        _ = try out.scatterAddNoGrad(d, idx, src)
        if needsGrad(self, src) {
            let srcShape = src.shape, rs = requiresGrad, rsrc = src.requiresGrad
            out.record(GradNode("scatter_add", [self, src], saving: [idx]) { g in
                var gs: Tensor? = nil
                if rsrc {
                    let part = try g.gather(dim: d, index: idx)
                    gs = part.shape == srcShape ? part : try viewBackward(srcShape, part) { try $0.narrowTo(idx.shape) }
                }
                return [rs ? g : nil, gs]
            })
        }
        return out
    }

    /// A copy of self with `value` wherever `mask` (broadcast to self's shape) is non-zero.
    public func maskedFill(_ mask: Tensor, value: Float) throws -> Tensor {
        if mask.shape != shape {
            let bs = try broadcastShapes(shape, mask.shape, "masked_fill")
            if bs != shape {
                throw TensorError("masked_fill", arg: "'mask'", "shape \(fmt(mask.shape)) cannot be broadcast to \(fmt(shape))")
            }
        }
        let m = asFloat(mask)
        if dtype == .int64 {
            let out = Tensor.noGrad { clone() }
            let v = saturatingInt64(value), pa = out.storage.ints, pb = m.storage.floats
            forEachRow2(shape, out.strides, 0, broadcastStrides(m, to: shape), m.offset) { ia, da, ib, db, n in
                for j in 0..<n where pb[ib + j * db] != 0 { pa[ia + j * da] = v }
            }
            return out
        }
        let out = try map2(self, m, "masked_fill") { $1 != 0 ? value : $0 }
        if needsGrad(self) {
            out.record(GradNode("masked_fill", [self], saving: [m]) { g in [try map2(g, m, "masked_fill") { $1 != 0 ? 0 : $0 }] })
        }
        return out
    }

    /// Elementwise `cond != 0 ? a : b` with broadcasting of all three.
    public static func `where`(_ cond: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        let s = try broadcastShapes(try broadcastShapes(cond.shape, a.shape, "where"), b.shape, "where")
        let c = try asFloat(cond).expand(s).contiguous()
        let fa = asFloat(a), fb = asFloat(b)
        let ea = fa.view(shape: s, strides: broadcastStrides(fa, to: s), offset: fa.offset).contiguous()
        let eb = fb.view(shape: s, strides: broadcastStrides(fb, to: s), offset: fb.offset).contiguous()
        let out = Tensor.empty(s)
        let o = out.fptr, cp = c.fptr, ap = ea.fptr, bp = eb.fptr
        for i in 0..<out.count { o[i] = cp[i] != 0 ? ap[i] : bp[i] }
        if needsGrad(a, b) {
            let sa = a.shape, sb = b.shape, ra = a.requiresGrad, rb = b.requiresGrad
            out.record(GradNode("where", [a, b], saving: [c]) { g in
                [ra ? try map2(g, c, "where") { $1 != 0 ? $0 : 0 }.sumTo(sa) : nil,
                 rb ? try map2(g, c, "where") { $1 != 0 ? 0 : $0 }.sumTo(sb) : nil]
            })
        }
        return out
    }

    /// `where` with a scalar for the true branch.
    public static func `where`(_ cond: Tensor, _ a: Float, _ b: Tensor) throws -> Tensor {
        try `where`(cond, Tensor.scalar(a), b)
    }

    /// `where` with a scalar for the false branch.
    public static func `where`(_ cond: Tensor, _ a: Tensor, _ b: Float) throws -> Tensor {
        try `where`(cond, a, Tensor.scalar(b))
    }
}
