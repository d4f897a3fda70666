import Foundation

extension Tensor {
    /// A float32 tensor holding `data` with the given shape.
    public convenience init(_ data: [Float], shape: [Int]) throws {
        try checkShape(shape, op: "tensor")
        guard shapeCount(shape) == data.count else {
            throw TensorError("tensor", arg: "'shape'", "shape \(fmt(shape)) needs \(shapeCount(shape)) elements, got \(data.count)")
        }
        let s = Storage(byteCount: data.count * 4, zeroed: false)
        data.withUnsafeBufferPointer { b in if let a = b.baseAddress { s.floats.update(from: a, count: data.count) } }
        self.init(storage: s, shape: shape, strides: contiguousStrides(shape), offset: 0, dtype: .float32)
    }

    /// A 1-D float32 tensor.
    public convenience init(_ data: [Float]) {
        try! self.init(data, shape: [data.count])
    }

    /// A 0-d float32 tensor.
    public convenience init(_ scalar: Float) {
        try! self.init([scalar], shape: [])
    }

    /// A 2-D float32 tensor from rows (all rows must have the same length).
    public convenience init(_ rows: [[Float]]) throws {
        let c = rows.first?.count ?? 0
        for (i, r) in rows.enumerated() where r.count != c {
            throw TensorError("tensor", "ragged nested array: row 0 has \(c) elements, row \(i) has \(r.count)")
        }
        try self.init(rows.flatMap { $0 }, shape: [rows.count, c])
    }

    /// A 3-D float32 tensor from nested arrays (must be rectangular).
    public convenience init(_ planes: [[[Float]]]) throws {
        let r = planes.first?.count ?? 0
        let c = planes.first?.first?.count ?? 0
        for (i, p) in planes.enumerated() {
            if p.count != r { throw TensorError("tensor", "ragged nested array at [\(i)]: expected \(r) rows, got \(p.count)") }
            for (j, row) in p.enumerated() where row.count != c {
                throw TensorError("tensor", "ragged nested array at [\(i)][\(j)]: expected \(c) elements, got \(row.count)")
            }
        }
        try self.init(planes.flatMap { $0.flatMap { $0 } }, shape: [planes.count, r, c])
    }

    /// An int64 tensor holding `data` with the given shape.
    public convenience init(ints data: [Int], shape: [Int]) throws {
        try checkShape(shape, op: "tensor")
        guard shapeCount(shape) == data.count else {
            throw TensorError("tensor", arg: "'shape'", "shape \(fmt(shape)) needs \(shapeCount(shape)) elements, got \(data.count)")
        }
        let s = Storage(byteCount: data.count * 8, zeroed: false)
        for (i, v) in data.enumerated() { s.ints[i] = Int64(v) }
        self.init(storage: s, shape: shape, strides: contiguousStrides(shape), offset: 0, dtype: .int64)
    }

    /// A 1-D int64 tensor.
    public convenience init(ints data: [Int]) {
        try! self.init(ints: data, shape: [data.count])
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try checkShape(shape, op: "zeros")
        return empty(shape, dtype: dtype, zeroed: true)
    }

    /// A tensor of ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32) throws -> Tensor {
        try checkShape(shape, op: "ones")
        return full(shape, 1, dtype: dtype)
    }

    /// A tensor filled with `value` (internal, shape must be valid).
    static func full(_ shape: [Int], _ value: Float, dtype: DType = .float32) -> Tensor {
        let t = empty(shape, dtype: dtype)
        if dtype == .float32 { t.fptr.update(repeating: value, count: t.count) } else {
            t.iptr.update(repeating: saturatingInt64(value), count: t.count)
        }
        return t
    }

    /// A tensor filled with `value`.
    public static func full(_ shape: [Int], value: Float, dtype: DType = .float32) throws -> Tensor {
        try checkShape(shape, op: "full")
        return full(shape, value, dtype: dtype)
    }

    /// Zeros of a shape moonlab computed itself (a parameter of a validated config, a kernel's output): its sizes are
    /// known to be non-negative, and it is not held to the per-tensor limit on tensors made from Lua
    /// (`Allocation.limit`, `MOONLAB_MAX_ALLOC`), which exists to turn a hostile request into an error.
    public static func zeros(computed shape: [Int], dtype: DType = .float32) -> Tensor {
        precondition(shape.allSatisfy { $0 >= 0 }, "zeros(computed:): negative size in \(shape)")
        return empty(shape, dtype: dtype, zeroed: true)
    }

    /// `full` for a shape moonlab computed itself (see `zeros(computed:)`).
    public static func full(computed shape: [Int], value: Float, dtype: DType = .float32) -> Tensor {
        precondition(shape.allSatisfy { $0 >= 0 }, "full(computed:): negative size in \(shape)")
        return full(shape, value, dtype: dtype)
    }

    /// A tensor with the shape and dtype of `other`, filled with `value`.
    public static func full(like other: Tensor, value: Float) -> Tensor { full(other.shape, value, dtype: other.dtype) }

    /// A 0-d tensor (float32 unless dtype says otherwise).
    public static func scalar(_ value: Float, dtype: DType = .float32) -> Tensor { full([], value, dtype: dtype) }

    /// Zeros/ones/full with the shape (and dtype) of `other`.
    public static func zeros(like other: Tensor) -> Tensor { empty(other.shape, dtype: other.dtype, zeroed: true) }
    public static func ones(like other: Tensor) -> Tensor { full(other.shape, 1, dtype: other.dtype) }

    /// Values `start, start+step, ...` below `end` (float32 unless `dtype: .int64`).
    public static func arange(_ start: Float = 0, _ end: Float, step: Float = 1, dtype: DType = .float32) throws -> Tensor {
        guard step != 0, step.isFinite else { throw TensorError("arange", arg: "'step'", "expected a non-zero finite step, got \(step)") }
        guard (end - start) / step >= 0 || end == start else {
            throw TensorError("arange", "step \(step) has the wrong sign for range [\(start), \(end))")
        }
        let span = ((Double(end) - Double(start)) / Double(step)).rounded(.up)
        guard span.isFinite, span < Double(maxElements) else {
            throw TensorError("arange", "range [\(start), \(end)) with step \(step) has too many elements")
        }
        let n = Swift.max(0, Int(span))
        let t = empty([n], dtype: dtype)
        if dtype == .float32 { for i in 0..<n { t.fptr[i] = Float(Double(start) + Double(i) * Double(step)) } } else {
            for i in 0..<n { t.iptr[i] = Int64(Double(start) + Double(i) * Double(step)) }
        }
        return t
    }

    /// An int64 tensor `0..<n`.
    public static func arange(_ n: Int) throws -> Tensor {
        try checkShape([n], op: "arange", arg: "'end'")
        let t = empty([n], dtype: .int64)
        for i in 0..<n { t.iptr[i] = Int64(i) }
        return t
    }

    /// `count` evenly spaced values from `start` to `end` inclusive.
    public static func linspace(_ start: Float, _ end: Float, count: Int) throws -> Tensor {
        try checkShape([count], op: "linspace", arg: "'count'")
        let t = empty([count])
        if count == 1 { t.fptr[0] = start }
        else if count > 1 {
            let step = (Double(end) - Double(start)) / Double(count - 1)
            for i in 0..<count { t.fptr[i] = Float(Double(start) + step * Double(i)) }
            t.fptr[count - 1] = end
        }
        return t
    }

    /// The n×m identity matrix (m defaults to n).
    public static func eye(_ n: Int, _ m: Int? = nil) throws -> Tensor {
        let cols = m ?? n
        try checkShape([n, cols], op: "eye")
        let t = empty([n, cols], zeroed: true)
        for i in 0..<Swift.min(n, cols) { t.fptr[i * cols + i] = 1 }
        return t
    }

    /// Uniform samples in [low, high).
    public static func rand(_ shape: [Int], low: Float = 0, high: Float = 1, generator: Generator = .default) throws -> Tensor {
        try checkShape(shape, op: "rand")
        let t = empty(shape)
        let p = t.fptr, span = high - low
        for i in 0..<t.count { p[i] = low + span * generator.nextFloat() }
        return t
    }

    /// Normal samples with the given mean and standard deviation.
    public static func randn(_ shape: [Int], mean: Float = 0, std: Float = 1, generator: Generator = .default) throws -> Tensor {
        try checkShape(shape, op: "randn")
        return randn(computed: shape, mean: mean, std: std, generator: generator)
    }

    /// `randn` for a shape moonlab computed itself (see `zeros(computed:)`).
    public static func randn(computed shape: [Int], mean: Float = 0, std: Float = 1, generator: Generator = .default) -> Tensor {
        let t = empty(shape)
        let p = t.fptr, n = t.count
        var i = 0
        while i + 1 < n {
            let (a, b) = generator.nextNormalPair()
            p[i] = mean + std * a; p[i + 1] = mean + std * b
            i += 2
        }
        if i < n { p[i] = mean + std * generator.nextNormalPair().0 }
        return t
    }

    /// Uniform int64 samples in `low..<high`.
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int], generator: Generator = .default) throws -> Tensor {
        try checkShape(shape, op: "randint")
        guard low < high else { throw TensorError("randint", arg: "'high'", "expected high > low (\(low)), got \(high)") }
        let t = empty(shape, dtype: .int64)
        for i in 0..<t.count { t.iptr[i] = Int64(generator.nextInt(low, high)) }
        return t
    }

    /// A random permutation of `0..<n` (int64).
    public static func randperm(_ n: Int, generator: Generator = .default) throws -> Tensor {
        try checkShape([n], op: "randperm", arg: "'n'")
        let t = empty([n], dtype: .int64)
        for i in 0..<n { t.iptr[i] = Int64(i) }
        if n > 1 {
            for i in stride(from: n - 1, to: 0, by: -1) {
                let j = generator.nextInt(0, i + 1)
                let tmp = t.iptr[i]; t.iptr[i] = t.iptr[j]; t.iptr[j] = tmp
            }
        }
        return t
    }
}
