import Foundation

/// Element type of a tensor.
public enum DType: String, Sendable, CustomStringConvertible {
    /// 32-bit float (all math and autograd).
    case float32
    /// 64-bit signed integer (token ids, indices).
    case int64

    /// Bytes per element.
    public var size: Int { self == .float32 ? 4 : 8 }
    public var description: String { rawValue }
}

/// An n-dimensional array of float32 or int64 elements: a view (shape, strides, offset) into a `Storage`.
///
/// Tensors are reference types so that autograd graphs can refer to them.
public final class Tensor {
    /// The shared buffer.
    public let storage: Storage
    /// Size of each dimension.
    public let shape: [Int]
    /// Step (in elements) between consecutive entries of each dimension.
    public let strides: [Int]
    /// Index of the first element in `storage` (in elements).
    public let offset: Int
    /// Element type.
    public let dtype: DType
    /// Number of elements.
    public let count: Int
    /// Whether the elements are laid out densely in row-major order.
    public let isContiguous: Bool

    /// Whether gradients are tracked for this tensor.
    public internal(set) var requiresGrad: Bool = false
    /// The accumulated gradient (leaves, or non-leaves with `retainGrad()`).
    public var grad: Tensor?
    var gradFn: GradNode?
    var retainsGrad = false

    init(storage: Storage, shape: [Int], strides: [Int], offset: Int, dtype: DType) {
        self.storage = storage
        self.shape = shape
        self.strides = strides
        self.offset = offset
        self.dtype = dtype
        self.count = shapeCount(shape)
        self.isContiguous = isContiguousLayout(shape, strides)
    }

    deinit {
        if let node = gradFn {
            gradFn = nil
            GradNode.teardown(node)
        }
    }

    /// A fresh contiguous tensor with uninitialised (or zeroed) elements. Internal: shape must be valid.
    @inline(__always)
    static func empty(_ shape: [Int], dtype: DType = .float32, zeroed: Bool = false) -> Tensor {
        let n = shapeCount(shape)
        let s = Storage(byteCount: n * dtype.size, zeroed: zeroed)
        return Tensor(storage: s, shape: shape, strides: contiguousStrides(shape), offset: 0, dtype: dtype)
    }

    /// A view with a new layout on the same storage (no autograd).
    @inline(__always)
    func view(shape: [Int], strides: [Int], offset: Int) -> Tensor {
        Tensor(storage: storage, shape: shape, strides: strides, offset: offset, dtype: dtype)
    }

    /// A new tensor object sharing storage and layout, with no autograd history.
    @inline(__always)
    func alias() -> Tensor { view(shape: shape, strides: strides, offset: offset) }

    /// Number of dimensions.
    public var ndim: Int { shape.count }
    /// True when the tensor was not produced by a recorded op.
    public var isLeaf: Bool { gradFn == nil }
    /// Bytes of this view's elements (not of the whole storage).
    public var byteCount: Int { count * dtype.size }
    /// Name of the op that produced this tensor, if recorded by autograd.
    public var gradFnName: String? { gradFn?.name }

    @inline(__always) var fptr: UnsafeMutablePointer<Float> { storage.floats + offset }
    @inline(__always) var iptr: UnsafeMutablePointer<Int64> { storage.ints + offset }

    /// Size of dimension `dim` (negative counts from the end).
    public func size(_ dim: Int) throws -> Int { shape[try normDim(dim, ndim, "size")] }

    // MARK: grad flags

    /// Turns gradient tracking on or off for a leaf float tensor. Returns `self`.
    @discardableResult
    public func setRequiresGrad(_ flag: Bool = true) throws -> Tensor {
        if flag && dtype != .float32 {
            throw TensorError("requires_grad", "only float32 tensors can require gradients, got \(dtype)")
        }
        if !isLeaf && !flag {
            throw TensorError("requires_grad", "cannot turn off requires_grad on a non-leaf tensor; use detach()")
        }
        requiresGrad = flag
        return self
    }

    /// Keeps `grad` for this non-leaf tensor during `backward`.
    public func retainGrad() { retainsGrad = true }

    /// A tensor sharing storage with `self` but cut from the autograd graph.
    public func detach() -> Tensor { alias() }

    // MARK: copies

    /// Returns `self` if contiguous, else a contiguous copy (differentiable).
    public func contiguous() -> Tensor {
        if isContiguous { return self }
        return clone()
    }

    /// A contiguous copy of the elements (differentiable).
    public func clone() -> Tensor {
        let out = Tensor.empty(shape, dtype: dtype)
        copyElements(from: self, into: out)
        if GradMode.isEnabled && requiresGrad {
            out.record(GradNode("clone", [self]) { g in [g] })
        }
        return out
    }

    /// Converts to another dtype (float→int truncates toward zero). Not differentiable.
    public func to(_ dtype: DType) -> Tensor {
        if dtype == self.dtype { return self }
        let src = contiguous()
        let out = Tensor.empty(shape, dtype: dtype)
        let n = count
        if dtype == .int64 {
            let p = src.fptr, o = out.iptr
            for i in 0..<n {
                let v = p[i]
                o[i] = v.isFinite ? Int64(Swift.max(Swift.min(v, 9.2e18), -9.2e18)) : 0
            }
        } else {
            let p = src.iptr, o = out.fptr
            for i in 0..<n { o[i] = Float(p[i]) }
        }
        return out
    }

    /// Converts to float32.
    public func float() -> Tensor { to(.float32) }
    /// Converts to int64.
    public func long() -> Tensor { to(.int64) }

    // MARK: reading values

    /// The elements in row-major order as floats (int64 elements are converted).
    public func toArray() -> [Float] {
        let c = contiguous()
        if dtype == .float32 { return Array(UnsafeBufferPointer(start: c.fptr, count: count)) }
        return (0..<count).map { Float(c.iptr[$0]) }
    }

    /// The elements in row-major order as integers (float elements are truncated).
    public func toIntArray() -> [Int] {
        let c = contiguous()
        if dtype == .int64 { return (0..<count).map { Int(c.iptr[$0]) } }
        return (0..<count).map { i in let v = c.fptr[i]; return Int(saturatingInt64(v)) }
    }

    /// The single element of a one-element tensor, as a Float.
    public func item() throws -> Float {
        guard count == 1 else {
            throw TensorError("item", "expected a tensor with one element, got shape \(fmt(shape))")
        }
        return dtype == .float32 ? fptr[0] : Float(iptr[0])
    }

    /// The single element of a one-element tensor, as an Int.
    public func intItem() throws -> Int {
        guard count == 1 else {
            throw TensorError("item", "expected a tensor with one element, got shape \(fmt(shape))")
        }
        return dtype == .int64 ? Int(iptr[0]) : Int(saturatingInt64(fptr[0]))
    }

    /// Reads one element by multi-index (negative indices allowed).
    public func value(at index: [Int]) throws -> Float {
        guard index.count == ndim else {
            throw TensorError("value", arg: "'index'", "expected \(ndim) indices, got \(index.count)")
        }
        var o = offset
        for (d, i) in index.enumerated() {
            let j = i < 0 ? i + shape[d] : i
            if j < 0 || j >= shape[d] {
                throw TensorError("value", arg: "'index'", "index \(i) out of range for dim \(d) of size \(shape[d])")
            }
            o += j * strides[d]
        }
        return dtype == .float32 ? storage.floats[o] : Float(storage.ints[o])
    }
}

/// Copies the elements of `src` (any layout, same shape or broadcastable) into contiguous `dst` of the same dtype.
func copyElements(from src: Tensor, into dst: Tensor) {
    let st = src.shape == dst.shape ? src.strides : broadcastStrides(src, to: dst.shape)
    if src.dtype == .float32 {
        let base = src.storage.floats, o = dst.fptr
        if src.isContiguous && src.shape == dst.shape {
            o.update(from: src.fptr, count: src.count)
            return
        }
        var k = 0
        forEachRow(dst.shape, st, src.offset) { start, s, n in
            if s == 1 { (o + k).update(from: base + start, count: n) } else {
                for j in 0..<n { o[k + j] = base[start + j * s] }
            }
            k += n
        }
    } else {
        let base = src.storage.ints, o = dst.iptr
        var k = 0
        forEachRow(dst.shape, st, src.offset) { start, s, n in
            for j in 0..<n { o[k + j] = base[start + j * s] }
            k += n
        }
    }
}

extension Tensor: CustomStringConvertible {
    /// A nested, PyTorch-like printout (long dims are summarised with `...`), followed by shape and dtype.
    public var description: String {
        let c = contiguous()
        let summarise = count > 1000
        func num(_ i: Int) -> String {
            if dtype == .int64 { return String(c.iptr[i]) }
            let v = c.fptr[i]
            if v.isNaN { return "nan" }
            if v.isInfinite { return v > 0 ? "inf" : "-inf" }
            if v == v.rounded() && Swift.abs(v) < 1e7 { return String(Int(v)) + "." }
            return String(format: "%.4g", Double(v))
        }
        func render(_ dim: Int, _ base: Int, _ indent: String) -> String {
            if dim == ndim { return num(base) }
            let n = shape[dim], stride = c.strides[dim]
            var idx = Array(0..<n)
            var gap = -1
            if summarise && n > 6 { idx = [0, 1, 2, n - 3, n - 2, n - 1]; gap = 3 }
            var parts: [String] = []
            for (j, i) in idx.enumerated() {
                if j == gap { parts.append("...") }
                parts.append(render(dim + 1, base + i * stride, indent + " "))
            }
            let sep = dim == ndim - 1 ? ", " : ",\n" + indent + " "
            return "[" + parts.joined(separator: sep) + "]"
        }
        let body = ndim == 0 ? num(0) : render(0, 0, "       ")
        let g = requiresGrad ? ", requires_grad" : ""
        return "tensor(\(body), shape=\(fmt(shape)), dtype=\(dtype)\(g))"
    }
}
