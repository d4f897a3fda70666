import Foundation

extension Tensor {
    /// Indices that sort each row along `dim` (ties broken by position; NaN sorts as largest).
    private func sortIndices(_ d: Int, descending: Bool) -> Tensor {
        let moved = Tensor.noGrad { (try? asFloat(self).transpose(d, -1))!.contiguous() }
        let n = shape[d], rows = n == 0 ? 0 : moved.count / n
        let idx = Tensor.empty(moved.shape, dtype: .int64)
        let p = moved.fptr
        var order = [Int](repeating: 0, count: n)
        for r in 0..<rows {
            let row = p + r * n
            for i in 0..<n { order[i] = i }
            order.sort { i, j in
                let a = row[i], b = row[j]
                if a.isNaN || b.isNaN {
                    if a.isNaN && b.isNaN { return i < j }
                    return descending ? a.isNaN : b.isNaN
                }
                if a != b { return descending ? a > b : a < b }
                return i < j
            }
            for i in 0..<n { idx.iptr[r * n + i] = Int64(order[i]) }
        }
        return (try! idx.transpose(d, -1)).contiguous()
    }

    /// Sorts along `dim`; returns values (differentiable) and int64 indices.
    public func sort(dim: Int = -1, descending: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        let d = try normDim(dim, ndim, "sort")
        let idx = sortIndices(d, descending: descending)
        return (try gather(dim: d, index: idx), idx)
    }

    /// Indices that sort along `dim`.
    public func argsort(dim: Int = -1, descending: Bool = false) throws -> Tensor {
        sortIndices(try normDim(dim, ndim, "argsort"), descending: descending)
    }

    /// The `k` largest (or smallest) entries along `dim`, sorted; values are differentiable.
    public func topk(_ k: Int, dim: Int = -1, largest: Bool = true) throws -> (values: Tensor, indices: Tensor) {
        let d = try normDim(dim, ndim, "topk")
        guard k >= 0 && k <= shape[d] else {
            throw TensorError("topk", arg: "'k'", "k \(k) out of range for dim \(d) of size \(shape[d])")
        }
        let idx = try sortIndices(d, descending: largest).narrow(dim: d, start: 0, length: k).contiguous()
        return (try gather(dim: d, index: idx), idx)
    }

    /// The `k`-th smallest entry (1-based) along `dim` and its index.
    public func kthvalue(_ k: Int, dim: Int = -1, keepdim: Bool = false) throws -> (values: Tensor, indices: Tensor) {
        let d = try normDim(dim, ndim, "kthvalue")
        guard k >= 1 && k <= shape[d] else {
            throw TensorError("kthvalue", arg: "'k'", "k \(k) out of range for dim \(d) of size \(shape[d])")
        }
        let idx = try sortIndices(d, descending: false).narrow(dim: d, start: k - 1, length: 1).contiguous()
        let v = try gather(dim: d, index: idx)
        if keepdim { return (v, idx) }
        return (try v.squeeze(dim: d), try idx.squeeze(dim: d))
    }

    /// Samples `numSamples` class indices (with replacement) from non-negative weights along the last dim.
    /// `[C]` → `[numSamples]`, `[N, C]` → `[N, numSamples]` (int64).
    public func multinomial(numSamples: Int = 1, generator: Generator = .default) throws -> Tensor {
        guard ndim == 1 || ndim == 2 else { throw TensorError("multinomial", arg: "#1", "expected a 1-d or 2-d tensor, got shape \(fmt(shape))") }
        guard numSamples > 0 else { throw TensorError("multinomial", arg: "'numSamples'", "expected a positive count, got \(numSamples)") }
        let c = shape[ndim - 1], rows = ndim == 1 ? 1 : shape[0]
        let p = asFloat(self).contiguous()
        let out = Tensor.empty(ndim == 1 ? [numSamples] : [rows, numSamples], dtype: .int64)
        for r in 0..<rows {
            let row = p.fptr + r * c
            var total = 0.0
            for j in 0..<c {
                let w = row[j]
                if !(w >= 0) || !w.isFinite { throw TensorError("multinomial", arg: "#1", "expected finite non-negative weights, got \(w)") }
                total += Double(w)
            }
            if total <= 0 { throw TensorError("multinomial", arg: "#1", "row \(r) has zero total weight") }
            for s in 0..<numSamples {
                let u = generator.nextDouble() * total
                var acc = 0.0, pick = c - 1
                for j in 0..<c {
                    acc += Double(row[j])
                    if u < acc { pick = j; break }
                }
                while row[pick] == 0 && pick > 0 { pick -= 1 }
                out.iptr[r * numSamples + s] = Int64(pick)
            }
        }
        return out
    }
}
