import Foundation

extension Tensor {
    /// Creates a tensor by copying raw native-endian element bytes (float32 or int64), e.g. from a safetensors file.
    public convenience init(bytes: UnsafeRawBufferPointer, shape: [Int], dtype: DType = .float32) throws {
        try checkShape(shape, op: "tensor")
        let n = shapeCount(shape)
        guard bytes.count == n * dtype.size else {
            throw TensorError("tensor", arg: "'bytes'", "shape \(fmt(shape)) of \(dtype) needs \(n * dtype.size) bytes, got \(bytes.count)")
        }
        let s = Storage(byteCount: n * dtype.size, zeroed: false)
        if let base = bytes.baseAddress, n > 0 { s.raw.copyMemory(from: base, byteCount: n * dtype.size) }
        self.init(storage: s, shape: shape, strides: contiguousStrides(shape), offset: 0, dtype: dtype)
    }

    /// Calls `body` with the elements' bytes in row-major order (copying first if not contiguous).
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        let c = contiguous()
        let start = UnsafeRawPointer(c.storage.raw) + c.offset * dtype.size
        return try body(UnsafeRawBufferPointer(start: start, count: c.count * dtype.size))
    }

    /// Calls `body` with the float32 elements in row-major order (copying first if not contiguous; int64 is converted).
    public func withUnsafeFloats<R>(_ body: (UnsafeBufferPointer<Float>) throws -> R) rethrows -> R {
        let c = asFloat(self).contiguous()
        return try body(UnsafeBufferPointer(start: c.fptr, count: c.count))
    }

    /// Calls `body` with mutable access to the float32 elements of a contiguous tensor, for fast fills
    /// (e.g. loading weights). Bumps the version counter. Throws for int64, non-contiguous tensors, or where
    /// an in-place write is not allowed (see `add_`).
    public func withUnsafeMutableFloats<R>(_ body: (UnsafeMutableBufferPointer<Float>) throws -> R) throws -> R {
        guard dtype == .float32 else { throw TensorError("write", "expected a float32 tensor, got \(dtype)") }
        guard isContiguous else { throw TensorError("write", "the tensor is not contiguous; call contiguous() first") }
        try checkWritable("write")
        defer { storage.bump() }
        return try body(UnsafeMutableBufferPointer(start: fptr, count: count))
    }
}
