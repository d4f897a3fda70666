import Foundation

/// Composite layers built from differentiable primitives (so autograd comes for free).
extension Tensor {
    /// Layer normalisation over the last dim: `(x - mean) / sqrt(var + eps) * weight + bias` (biased variance).
    public static func layerNorm(_ x: Tensor, weight: Tensor? = nil, bias: Tensor? = nil, eps: Float = 1e-5) throws -> Tensor {
        guard x.ndim >= 1 else { throw TensorError("layer_norm", arg: "#1", "expected at least 1 dim, got a 0-d tensor") }
        let d = x.shape[x.ndim - 1]
        if let w = weight, w.shape != [d] { throw TensorError("layer_norm", arg: "'weight'", "expected shape [\(d)], got \(fmt(w.shape))") }
        if let b = bias, b.shape != [d] { throw TensorError("layer_norm", arg: "'bias'", "expected shape [\(d)], got \(fmt(b.shape))") }
        let mean = try x.mean(dim: -1, keepdim: true)
        let centered = try x.sub(mean)
        let v = try centered.square().mean(dim: -1, keepdim: true)
        var y = try centered.mul(v.add(eps).rsqrt())
        if let w = weight { y = try y.mul(w) }
        if let b = bias { y = try y.add(b) }
        return y
    }

    /// RMS normalisation over the last dim (Llama): `x / sqrt(mean(x²) + eps) * weight`.
    public static func rmsNorm(_ x: Tensor, weight: Tensor? = nil, eps: Float = 1e-6) throws -> Tensor {
        guard x.ndim >= 1 else { throw TensorError("rms_norm", arg: "#1", "expected at least 1 dim, got a 0-d tensor") }
        let d = x.shape[x.ndim - 1]
        if let w = weight, w.shape != [d] { throw TensorError("rms_norm", arg: "'weight'", "expected shape [\(d)], got \(fmt(w.shape))") }
        let y = try x.mul(x.square().mean(dim: -1, keepdim: true).add(eps).rsqrt())
        return try weight.map { try y.mul($0) } ?? y
    }

    /// Scaled dot-product attention: `softmax(q kᵀ / sqrt(d) + mask) v` over `[..., Tq, d]`, `[..., Tk, d]`, `[..., Tk, dv]`.
    ///
    /// - Parameters:
    ///   - causal: query i (aligned to the end of the keys) may not attend to keys after it.
    ///   - additiveMask: added to the scores (broadcast to `[..., Tq, Tk]`), e.g. `-inf` for padding.
    public static func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, causal: Bool = false,
                                                 additiveMask: Tensor? = nil) throws -> Tensor {
        let op = "attention"
        guard q.ndim >= 2, k.ndim >= 2, v.ndim >= 2 else { throw TensorError(op, "expected q, k, v with at least 2 dims") }
        let d = q.shape[q.ndim - 1], tq = q.shape[q.ndim - 2], tk = k.shape[k.ndim - 2]
        guard k.shape[k.ndim - 1] == d else { throw TensorError(op, arg: "#2", "expected shape [..., *, \(d)], got \(fmt(k.shape))") }
        guard v.shape[v.ndim - 2] == tk else { throw TensorError(op, arg: "#3", "expected shape [..., \(tk), *], got \(fmt(v.shape))") }
        var scores = try q.matmul(k.transpose(-1, -2)).mul(1 / Float(d).squareRoot())
        if causal {
            let m = Tensor.empty([tq, tk])
            let shift = tk - tq
            for i in 0..<tq { for j in 0..<tk { m.fptr[i * tk + j] = j > i + shift ? 1 : 0 } }
            scores = try scores.maskedFill(m, value: -Float.infinity)
        }
        if let mask = additiveMask { scores = try scores.add(mask) }
        return try scores.softmax(dim: -1).matmul(v)
    }
}
