import Foundation

/// How a loss reduces its per-element values.
public enum Reduction: String, Sendable {
    case none, mean, sum
}

extension Tensor {
    static func softmaxKernel(_ x: Tensor, _ d: Int, log: Bool) -> Tensor {
        let c = x.contiguous()
        let out = Tensor.empty(c.shape)
        let (outer, n, inner) = split3(c.shape, d)
        let p = c.fptr, o = out.fptr
        if inner == 1 {
            // Rows are contiguous: separate passes so the exp loop vectorises.
            parallelRange(outer, grain: Swift.max(1, Parallel.grainSize / Swift.max(n, 1))) { lo, hi in
                for r in lo..<hi {
                    let row = p + r * n, orow = o + r * n
                    var m = -Float.infinity
                    for k in 0..<n { let v = row[k]; if v > m || v.isNaN { m = v } }
                    if m == -Float.infinity { m = 0 }
                    for k in 0..<n { orow[k] = Foundation.expf(row[k] - m) }
                    var s0: Float = 0, s1: Float = 0, s2: Float = 0, s3: Float = 0
                    var k = 0
                    while k + 4 <= n { s0 += orow[k]; s1 += orow[k + 1]; s2 += orow[k + 2]; s3 += orow[k + 3]; k += 4 }
                    while k < n { s0 += orow[k]; k += 1 }
                    let s = (s0 + s1) + (s2 + s3)
                    if log {
                        let ls = m + Foundation.logf(s)
                        for k in 0..<n { orow[k] = row[k] - ls }
                    } else {
                        let inv = 1 / s
                        for k in 0..<n { orow[k] *= inv }
                    }
                }
            }
            return out
        }
        parallelRange(outer * inner, grain: Swift.max(1, Parallel.grainSize / Swift.max(n, 1))) { lo, hi in
            for r in lo..<hi {
                let base = (r / inner) * n * inner + r % inner
                var m = -Float.infinity
                for k in 0..<n { let v = p[base + k * inner]; if v > m || v.isNaN { m = v } }
                if m == -Float.infinity { m = 0 }
                var s: Float = 0
                for k in 0..<n {
                    let e = Foundation.expf(p[base + k * inner] - m)
                    if !log { o[base + k * inner] = e }
                    s += e
                }
                if log {
                    let ls = m + Foundation.logf(s)
                    for k in 0..<n { o[base + k * inner] = p[base + k * inner] - ls }
                } else {
                    let inv = 1 / s
                    for k in 0..<n { o[base + k * inner] *= inv }
                }
            }
        }
        return out
    }

    static func softmaxBackwardKernel(_ g0: Tensor, _ y: Tensor, _ d: Int, log: Bool) -> Tensor {
        let g = g0.contiguous()
        let out = Tensor.empty(y.shape)
        let (outer, n, inner) = split3(y.shape, d)
        let gp = g.fptr, yp = y.fptr, o = out.fptr
        for r in 0..<(outer * inner) {
            let base = (r / inner) * n * inner + r % inner
            var s: Float = 0
            if log {
                for k in 0..<n { s += gp[base + k * inner] }
                for k in 0..<n { let j = base + k * inner; o[j] = gp[j] - Foundation.expf(yp[j]) * s }
            } else {
                for k in 0..<n { let j = base + k * inner; s += gp[j] * yp[j] }
                for k in 0..<n { let j = base + k * inner; o[j] = yp[j] * (gp[j] - s) }
            }
        }
        return out
    }

    private func softmaxImpl(_ dim: Int, log: Bool) throws -> Tensor {
        let name = log ? "log_softmax" : "softmax"
        let d = try normDim(dim, Swift.max(ndim, 1), name)
        let x = ndim == 0 ? try reshape([1]) : asFloat(self)
        let out0 = Tensor.softmaxKernel(x, d, log: log)
        let out = ndim == 0 ? out0.view(shape: [], strides: [], offset: 0) : out0
        if needsGrad(self) {
            let y = out0.alias(), inShape = shape
            out.record(GradNode(name, [self], saving: [y]) { g in
                [try Tensor.softmaxBackwardKernel(g.reshape(y.shape), y, d, log: log).reshape(inShape)]
            })
        }
        return out
    }

    /// Softmax along `dim` (numerically stable).
    public func softmax(dim: Int = -1) throws -> Tensor { try softmaxImpl(dim, log: false) }
    /// Log-softmax along `dim` (numerically stable).
    public func logSoftmax(dim: Int = -1) throws -> Tensor { try softmaxImpl(dim, log: true) }

    /// Cross-entropy between `logits` `[N, C]` (or `[C]`) and int64 class `targets` `[N]` (or 0-d),
    /// or float32 class probabilities with the logits' shape. Targets equal to `ignoreIndex` are skipped
    /// (the mean is over the non-ignored ones; NaN if none).
    public static func crossEntropy(_ logits: Tensor, _ targets: Tensor, ignoreIndex: Int = -100,
                                    reduction: Reduction = .mean) throws -> Tensor {
        let op = "cross_entropy"
        guard logits.dtype == .float32 else { throw TensorError(op, arg: "#1", "expected a float32 tensor, got \(logits.dtype)") }
        if logits.ndim == 1 {
            return try crossEntropy(logits.unsqueeze(dim: 0), targets.dtype == .int64 ? targets.reshape([1]) : targets.unsqueeze(dim: 0),
                                    ignoreIndex: ignoreIndex, reduction: reduction == .none ? .sum : reduction)
        }
        guard logits.ndim == 2 else { throw TensorError(op, arg: "#1", "expected logits of shape [N, C], got \(fmt(logits.shape))") }
        let n = logits.shape[0]
        let lsm = try logits.logSoftmax(dim: 1)
        if targets.dtype == .float32 {
            guard targets.shape == logits.shape else {
                throw TensorError(op, arg: "#2", "expected class probabilities of shape \(fmt(logits.shape)) or int64 classes of shape [\(n)], got float32 \(fmt(targets.shape))")
            }
            let per = try lsm.mul(targets).sum(dim: 1).neg()
            switch reduction {
            case .none: return per
            case .sum: return per.sum()
            case .mean: return per.mean()
            }
        }
        guard targets.shape == [n] else { throw TensorError(op, arg: "#2", "expected shape [\(n)], got \(fmt(targets.shape))") }
        return try pickedNLL(lsm, targets, ignoreIndex: ignoreIndex, reduction: reduction, op: op)
    }

    /// −log p at each row's int64 target of `logProbs` `[N, C]` (targets `[N]` already shape-checked), skipping
    /// `ignoreIndex`; `.mean` is over the non-ignored rows. Shared by `crossEntropy` and `nllLoss`.
    private static func pickedNLL(_ logProbs: Tensor, _ targets: Tensor, ignoreIndex: Int, reduction: Reduction,
                                  op: String) throws -> Tensor {
        let n = logProbs.shape[0], c = logProbs.shape[1]
        let tc = targets.contiguous()
        let valid = Tensor.empty([n]), safe = Tensor.empty([n], dtype: .int64)
        var nValid = 0
        for i in 0..<n {
            let t = Int(tc.iptr[i])
            if t == ignoreIndex { valid.fptr[i] = 0; safe.iptr[i] = 0; continue }
            if t < 0 || t >= c { throw TensorError(op, arg: "#2", "target \(t) out of range for \(c) classes (at position \(i))") }
            valid.fptr[i] = 1; safe.iptr[i] = Int64(t); nValid += 1
        }
        let per = try logProbs.gather(dim: 1, index: safe.unsqueeze(dim: 1)).squeeze(dim: 1).mul(valid).neg()
        switch reduction {
        case .none: return per
        case .sum: return per.sum()
        case .mean: return per.sum().div(Float(nValid))
        }
    }

    /// Negative log-likelihood of `logProbs` `[N, C]` at int64 `targets` `[N]`.
    public static func nllLoss(_ logProbs: Tensor, _ targets: Tensor, ignoreIndex: Int = -100, reduction: Reduction = .mean) throws -> Tensor {
        // cross_entropy = nll(log_softmax(x)); log_softmax of log-probabilities is the identity when they are normalised,
        // so compute directly.
        guard logProbs.ndim == 2 else { throw TensorError("nll_loss", arg: "#1", "expected shape [N, C], got \(fmt(logProbs.shape))") }
        let n = logProbs.shape[0]
        guard targets.dtype == .int64, targets.shape == [n] else {
            throw TensorError("nll_loss", arg: "#2", "expected an int64 tensor of shape [\(n)], got \(targets.dtype) \(fmt(targets.shape))")
        }
        return try pickedNLL(logProbs, targets, ignoreIndex: ignoreIndex, reduction: reduction, op: "nll_loss")
    }

    /// Mean squared error.
    public static func mseLoss(_ input: Tensor, _ target: Tensor, reduction: Reduction = .mean) throws -> Tensor {
        let d = try input.sub(target).square()
        switch reduction {
        case .none: return d
        case .sum: return d.sum()
        case .mean: return d.mean()
        }
    }

    /// One-hot float32 encoding of int64 class indices: shape `indices.shape + [numClasses]`.
    /// `numClasses` of -1 means max index + 1.
    public static func oneHot(_ indices: Tensor, numClasses: Int = -1) throws -> Tensor {
        guard indices.dtype == .int64 else { throw TensorError("one_hot", arg: "#1", "expected an int64 tensor, got \(indices.dtype)") }
        let ic = indices.contiguous()
        var mx = -1
        for i in 0..<ic.count {
            let v = Int(ic.iptr[i])
            if v < 0 { throw TensorError("one_hot", arg: "#1", "expected non-negative class indices, got \(v)") }
            mx = Swift.max(mx, v)
        }
        let c = numClasses < 0 ? mx + 1 : numClasses
        if mx >= c { throw TensorError("one_hot", arg: "'numClasses'", "class index \(mx) out of range for \(c) classes") }
        try checkShape(indices.shape + [c], op: "one_hot", arg: "'numClasses'")
        let out = Tensor.empty(indices.shape + [c], zeroed: true)
        for i in 0..<ic.count { out.fptr[i * c + Int(ic.iptr[i])] = 1 }
        return out
    }

    /// Embedding lookup: rows of `weight` `[V, D]` at int64 `ids` (any shape) → `ids.shape + [D]`. Differentiable in weight.
    public static func embedding(_ ids: Tensor, weight: Tensor) throws -> Tensor {
        guard ids.dtype == .int64 else { throw TensorError("embedding", arg: "#1", "expected an int64 tensor of ids, got \(ids.dtype)") }
        guard weight.ndim == 2 else { throw TensorError("embedding", arg: "'weight'", "expected a 2-d tensor [V, D], got \(fmt(weight.shape))") }
        do {
            let rows = try weight.indexSelect(dim: 0, index: ids.reshape([-1]))
            return try rows.reshape(ids.shape + [weight.shape[1]])
        } catch let e as TensorError {
            throw TensorError("embedding", arg: "#1", e.reason.replacingOccurrences(of: "argument 'index': ", with: ""))
        }
    }

    /// Dropout: zeroes elements with probability `p` and scales the rest by `1/(1-p)` when `training`.
    public func dropout(p: Float, training: Bool = true, generator: Generator = .default) throws -> Tensor {
        guard p >= 0 && p <= 1 else { throw TensorError("dropout", arg: "'p'", "expected a probability in [0, 1], got \(p)") }
        if !training || p == 0 { return self }
        if p == 1 { return mul(0) }
        let mask = Tensor.empty(shape)
        let scale = 1 / (1 - p)
        for i in 0..<count { mask.fptr[i] = generator.nextFloat() >= p ? scale : 0 }
        return try mul(mask)
    }
}
