import Foundation
import CBLAS

/// How BLAS can read a strided 2-D matrix without copying: (transpose flag, leading dimension), or nil.
@inline(__always)
func blasLayout(rows: Int, cols: Int, rs: Int, cs: Int) -> (CBLAS_TRANSPOSE, Int)? {
    if (cs == 1 || cols <= 1) && (rows <= 1 || rs >= Swift.max(cols, 1)) {
        return (CblasNoTrans, rows <= 1 ? Swift.max(cols, 1) : rs)
    }
    if (rs == 1 || rows <= 1) && (cols <= 1 || cs >= Swift.max(rows, 1)) {
        return (CblasTrans, cols <= 1 ? Swift.max(rows, 1) : cs)
    }
    return nil
}

/// Batched matrix product without autograd. `a`: batch + [m, k], `b`: batch' + [k, n] (batch dims broadcast).
func matmulKernel(_ a0: Tensor, _ b0: Tensor, _ batch: [Int]) -> Tensor {
    let m = a0.shape[a0.ndim - 2], k = a0.shape[a0.ndim - 1], n = b0.shape[b0.ndim - 1]
    var a = a0, b = b0
    var la = blasLayout(rows: m, cols: k, rs: a.strides[a.ndim - 2], cs: a.strides[a.ndim - 1])
    if la == nil { a = a.contiguous(); la = (CblasNoTrans, Swift.max(k, 1)) }
    var lb = blasLayout(rows: k, cols: n, rs: b.strides[b.ndim - 2], cs: b.strides[b.ndim - 1])
    if lb == nil { b = b.contiguous(); lb = (CblasNoTrans, Swift.max(n, 1)) }
    let out = Tensor.empty(batch + [m, n], zeroed: k == 0)
    if m == 0 || n == 0 || k == 0 { return out }
    // Batch strides of a and b as seen from the broadcast batch shape.
    let bsA = broadcastStrides(a.view(shape: Array(a.shape.dropLast(2)), strides: Array(a.strides.dropLast(2)), offset: 0), to: batch)
    let bsB = broadcastStrides(b.view(shape: Array(b.shape.dropLast(2)), strides: Array(b.strides.dropLast(2)), offset: 0), to: batch)
    let pa = a.storage.floats, pb = b.storage.floats, o = out.fptr
    let (ta, lda) = la!, (tb, ldb) = lb!
    var bi = 0
    let mn = m * n
    forEachRow2(batch, bsA, a.offset, bsB, b.offset) { ia, da, ib, db, cnt in
        for j in 0..<cnt {
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), 1,
                        pa + ia + j * da, Int32(lda), pb + ib + j * db, Int32(ldb), 0,
                        o + (bi + j) * mn, Int32(n))
        }
        bi += cnt
    }
    return out
}

extension Tensor {
    private func floatArg(_ op: String, _ arg: String) throws {
        if dtype != .float32 { throw TensorError(op, arg: arg, "expected a float32 tensor, got \(dtype)") }
    }

    /// Matrix product with PyTorch `matmul` semantics: 1-D·1-D dot, 2-D·2-D, 1-D promotion, batched N-D with broadcast batch dims.
    public func matmul(_ other: Tensor) throws -> Tensor {
        try floatArg("matmul", "#1"); try other.floatArg("matmul", "#2")
        guard ndim >= 1 else { throw TensorError("matmul", arg: "#1", "expected at least 1 dim, got a 0-d tensor") }
        guard other.ndim >= 1 else { throw TensorError("matmul", arg: "#2", "expected at least 1 dim, got a 0-d tensor") }
        let k = shape[ndim - 1]
        let kb = other.ndim == 1 ? other.shape[0] : other.shape[other.ndim - 2]
        if k != kb {
            let want = other.ndim == 1 ? "[\(k)]" : (other.ndim == 2 ? "[\(k), *]" : "[..., \(k), *]")
            throw TensorError("matmul", arg: "#2", "expected shape \(want), got \(fmt(other.shape))")
        }
        if ndim == 1 && other.ndim == 1 {
            return try unsqueeze(dim: 0).matmul(other.unsqueeze(dim: 1)).reshape([])
        }
        if ndim == 1 { return try unsqueeze(dim: 0).matmul(other).squeeze(dim: -2) }
        if other.ndim == 1 { return try matmul(other.unsqueeze(dim: 1)).squeeze(dim: -1) }
        // Fold the batch of a contiguous left operand into rows when the right one is a plain matrix.
        if other.ndim == 2 && ndim > 2 && isContiguous {
            let lead = Array(shape.dropLast())
            return try reshape([lead.reduce(1, *), k]).matmul(other).reshape(lead + [other.shape[1]])
        }
        let batch = try broadcastShapes(Array(shape.dropLast(2)), Array(other.shape.dropLast(2)), "matmul")
        let out = matmulKernel(self, other, batch)
        if needsGrad(self, other) {
            let a = self, b = other, ra = requiresGrad, rb = other.requiresGrad
            out.record(GradNode("matmul", [a, b], saving: [a, b]) { g in
                let ga: Tensor? = ra ? try matmulKernel(g, b.transpose(-1, -2), batch).sumTo(a.shape) : nil
                let gb: Tensor? = rb ? try matmulKernel(a.transpose(-1, -2), g, batch).sumTo(b.shape) : nil
                return [ga, gb]
            })
        }
        return out
    }

    /// Batched matrix product of 3-D tensors `[B, m, k] x [B, k, n]`.
    public func bmm(_ other: Tensor) throws -> Tensor {
        guard ndim == 3 else { throw TensorError("bmm", arg: "#1", "expected a 3-d tensor, got shape \(fmt(shape))") }
        guard other.ndim == 3 else { throw TensorError("bmm", arg: "#2", "expected a 3-d tensor, got shape \(fmt(other.shape))") }
        guard other.shape[0] == shape[0] && other.shape[1] == shape[2] else {
            throw TensorError("bmm", arg: "#2", "expected shape [\(shape[0]), \(shape[2]), *], got \(fmt(other.shape))")
        }
        return try matmul(other)
    }

    /// Matrix product of 2-D tensors.
    public func mm(_ other: Tensor) throws -> Tensor {
        guard ndim == 2 else { throw TensorError("mm", arg: "#1", "expected a 2-d tensor, got shape \(fmt(shape))") }
        guard other.ndim == 2 else { throw TensorError("mm", arg: "#2", "expected a 2-d tensor, got shape \(fmt(other.shape))") }
        return try matmul(other)
    }

    /// Dot product of two 1-D tensors (0-d result).
    public func dot(_ other: Tensor) throws -> Tensor {
        guard ndim == 1 else { throw TensorError("dot", arg: "#1", "expected a 1-d tensor, got shape \(fmt(shape))") }
        guard other.ndim == 1, other.count == count else {
            throw TensorError("dot", arg: "#2", "expected shape [\(count)], got \(fmt(other.shape))")
        }
        return try matmul(other)
    }

    /// Fully connected layer, PyTorch convention: `y = x · weightᵀ + bias` with weight `[out, in]`.
    /// With a bias the product and the bias add are one sgemm (bias pre-filled, beta = 1).
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) throws -> Tensor {
        guard x.ndim >= 1 else { throw TensorError("linear", arg: "#1", "expected at least 1 dim, got a 0-d tensor") }
        let inF = x.shape[x.ndim - 1]
        guard weight.ndim == 2, weight.shape[1] == inF else {
            throw TensorError("linear", arg: "'weight'", "expected shape [*, \(inF)], got \(fmt(weight.shape))")
        }
        let outF = weight.shape[0]
        if let b = bias, b.shape != [outF] {
            throw TensorError("linear", arg: "'bias'", "expected shape [\(outF)], got \(fmt(b.shape))")
        }
        guard let b = bias else { return try x.matmul(weight.transpose(0, 1)) }
        guard x.dtype == .float32 else { throw TensorError("linear", arg: "#1", "expected a float32 tensor, got \(x.dtype)") }
        guard weight.dtype == .float32 else { throw TensorError("linear", arg: "'weight'", "expected a float32 tensor, got \(weight.dtype)") }
        guard b.dtype == .float32 else { throw TensorError("linear", arg: "'bias'", "expected a float32 tensor, got \(b.dtype)") }
        let lead = Array(x.shape.dropLast())
        let x2 = try x.reshape([lead.reduce(1, *), inF])
        let n = x2.shape[0]
        let wt = Tensor.noGrad { try! weight.transpose(0, 1) }
        let out = Tensor.empty([n, outF])
        // Pre-fill every row with the bias, then accumulate x·Wᵀ on top.
        let bc = b.contiguous()
        for r in 0..<n { (out.fptr + r * outF).update(from: bc.fptr, count: outF) }
        if n > 0 && outF > 0 && inF > 0 {
            var a = x2, w = wt
            var la = blasLayout(rows: n, cols: inF, rs: a.strides[0], cs: a.strides[1])
            if la == nil { a = a.contiguous(); la = (CblasNoTrans, Swift.max(inF, 1)) }
            var lw = blasLayout(rows: inF, cols: outF, rs: w.strides[0], cs: w.strides[1])
            if lw == nil { w = w.contiguous(); lw = (CblasNoTrans, Swift.max(outF, 1)) }
            cblas_sgemm(CblasRowMajor, la!.0, lw!.0, Int32(n), Int32(outF), Int32(inF), 1,
                        a.fptr, Int32(la!.1), w.fptr, Int32(lw!.1), 1, out.fptr, Int32(outF))
        }
        if GradMode.isEnabled && (x2.requiresGrad || weight.requiresGrad || b.requiresGrad) {
            let rx = x2.requiresGrad, rw = weight.requiresGrad, rb = b.requiresGrad
            out.record(GradNode("linear", [x2, weight, b], saving: [x2, weight]) { g in
                let gx: Tensor? = rx ? matmulKernel(g, weight, []) : nil
                let gw: Tensor? = rw ? matmulKernel(try g.transpose(0, 1), x2, []) : nil
                let gb: Tensor? = rb ? try sumDimKernel(g, 0).reshapeNoGrad([outF]) : nil
                return [gx, gw, gb]
            })
        }
        return try out.reshape(lead + [outF])
    }
}
