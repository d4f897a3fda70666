import MoonTensor

/// Gradient buckets: a parameter list flattened into one float32 vector so that a data-parallel step needs one
/// collective per minibatch instead of one per tensor (the layout is the list's order, each tensor row-major).
extension Dist {
    /// Concatenates the elements of `tensors` (or, with `gradients`, their `.grad`: a missing gradient counts as zeros)
    /// followed by `extra` values, into one new 1-D tensor.
    public static func flatten(_ tensors: [Tensor], gradients: Bool = false, extra: [Float] = []) throws -> Tensor {
        var total = extra.count
        for (i, t) in tensors.enumerated() {
            guard t.dtype == .float32 else { throw DistError("flatten", "tensor \(i + 1) is \(t.dtype); only float32 tensors can be flattened") }
            total += t.count
        }
        let flat = try Tensor.zeros([total])
        try flat.withUnsafeMutableFloats { out in
            var at = 0
            for t in tensors {
                let src = gradients ? t.grad : t
                if let src {
                    guard src.count == t.count else { throw DistError("flatten", "a gradient's shape differs from its tensor's") }
                    src.withUnsafeFloats { p in
                        if let b = p.baseAddress, p.count > 0 { (out.baseAddress! + at).update(from: b, count: p.count) }
                    }
                }
                at += t.count
            }
            for (k, v) in extra.enumerated() { out[at + k] = v }
        }
        return flat
    }

    /// Copies consecutive slices of the 1-D `flat` back into `tensors` (or their `.grad`, created when missing), in
    /// place and outside autograd. Returns the values left after the tensors (the `extra` of `flatten`).
    @discardableResult
    public static func unflatten(_ flat: Tensor, into tensors: [Tensor], gradients: Bool = false) throws -> [Float] {
        let need = tensors.reduce(0) { $0 + $1.count }
        guard flat.dtype == .float32, flat.count >= need else {
            throw DistError("unflatten", "expected a float32 vector of at least \(need) elements, got \(flat.count) \(flat.dtype)")
        }
        return try Tensor.noGrad {
            try flat.withUnsafeFloats { src in
                var at = 0
                for t in tensors {
                    var dst = t
                    if gradients {
                        if t.grad == nil { t.grad = try Tensor.zeros(t.shape) }
                        dst = t.grad!
                    }
                    guard dst.isContiguous else { throw DistError("unflatten", "cannot write into a non-contiguous tensor") }
                    try dst.withUnsafeMutableFloats { d in
                        if d.count > 0 { d.baseAddress!.update(from: src.baseAddress! + at, count: d.count) }
                    }
                    at += t.count
                }
                return Array(src[at...])
            }
        }
    }

    /// Reduces a float32 tensor in place over all ranks.
    public static func allreduce(_ t: Tensor, op: ReduceOp, call: String = "allreduce") throws {
        guard t.dtype == .float32 else { throw DistError(call, "expected a float32 tensor, got \(t.dtype)") }
        guard t.isContiguous else { throw DistError(call, "expected a contiguous tensor; call contiguous() first") }
        try Tensor.noGrad {
            try t.withUnsafeMutableFloats { b in
                if let p = b.baseAddress { try allreduce(p, count: b.count, op: op, call: call) }
            }
        }
    }

    /// Copies a contiguous tensor from rank `root` into the same-shaped tensor of every other rank, in place.
    public static func broadcast(_ t: Tensor, root: Int, call: String = "broadcast") throws {
        guard t.isContiguous else { throw DistError(call, "expected a contiguous tensor; call contiguous() first") }
        if t.dtype == .float32 {
            try Tensor.noGrad {
                try t.withUnsafeMutableFloats { b in
                    if let p = b.baseAddress { try broadcast(UnsafeMutableRawPointer(p), bytes: b.count * 4, root: root, call: call) }
                }
            }
        } else {
            // int64: through a byte copy (there is no mutable int accessor).
            var bytes = t.withUnsafeBytes { Array($0) }
            try bytes.withUnsafeMutableBytes { b in
                if let p = b.baseAddress { try broadcast(p, bytes: b.count, root: root, call: call) }
            }
            let fresh = try bytes.withUnsafeBytes { try Tensor(bytes: $0, shape: t.shape, dtype: .int64) }
            _ = try Tensor.noGrad { try t.copy_(fresh) }
        }
    }
}
