import MoonTensor
/// Merging of whole parameter sets: in memory (`Merge.merge`) and streamed from safetensors files to a
/// safetensors file (`Merge.mergeFiles`).
public enum Merge {
    /// Merges in-memory parameter sets. `models` are the non-base inputs (for EMA, in time order; for SLERP
    /// exactly one). Every model and the base must hold the same tensor names with the same shapes; float
    /// tensors only (integer tensors are refused, as mergekit refuses them for linear merges). The result
    /// follows the order and dtypes of the base (or the first model). `base` is required by slerp and the
    /// task-arithmetic family and ignored by linear and ema.
    public static func merge(_ method: MergeMethod, base: [NamedTensor]? = nil, models: [[NamedTensor]],
                             threads: Int = MergeKernels.defaultThreads) throws -> [NamedTensor] {
        try method.validate(inputCount: models.count, hasBase: base != nil)
        let useBase = method.needsBase ? base : nil
        let reference = useBase ?? models[0]
        let refLabel = useBase != nil ? "base" : "model #0"
        var lookups: [[String: NamedTensor]] = []
        for (k, m) in models.enumerated() {
            var d: [String: NamedTensor] = [:]
            for t in m {
                if d[t.name] != nil { throw MergeError("model #\(k) has tensor \"\(t.name)\" twice") }
                d[t.name] = t
            }
            lookups.append(d)
        }
        let refNames = Set(reference.map(\.name))
        if refNames.count != reference.count { throw MergeError("\(refLabel) has a duplicated tensor name") }
        for (k, d) in lookups.enumerated() {
            if let extra = d.keys.sorted().first(where: { !refNames.contains($0) }) {
                throw MergeError("tensor \"\(extra)\" of model #\(k) is missing from \(refLabel)")
            }
        }
        var out: [NamedTensor] = []
        out.reserveCapacity(reference.count)
        for r in reference {
            try Interrupt.check()
            var inputs: [[Float]] = []
            for (k, d) in lookups.enumerated() {
                guard let t = d[r.name] else { throw MergeError("tensor \"\(r.name)\" is missing from model #\(k)") }
                if t.shape != r.shape {
                    throw MergeError("tensor \"\(r.name)\": model #\(k) has shape \(t.shape), \(refLabel) has \(r.shape)")
                }
                guard let f = t.floats else { throw MergeError("tensor \"\(r.name)\" of model #\(k) is \(t.dtype.rawValue); only float tensors can be merged") }
                inputs.append(f)
            }
            var baseValues: [Float]?
            if useBase != nil {
                guard let f = r.floats else { throw MergeError("tensor \"\(r.name)\" of the base is \(r.dtype.rawValue); only float tensors can be merged") }
                baseValues = f
            }
            let n = r.count
            var result = [Float](repeating: 0, count: n)
            try withBuffers(inputs) { bufs in
                try result.withUnsafeMutableBufferPointer { o in
                    if let bv = baseValues {
                        try bv.withUnsafeBufferPointer { b in
                            try MergeKernels.merge(method, name: r.name, base: b, inputs: bufs, out: o, threads: threads)
                        }
                    } else {
                        try MergeKernels.merge(method, name: r.name, base: nil, inputs: bufs, out: o, threads: threads)
                    }
                }
            }
            out.append(NamedTensor(name: r.name, shape: r.shape, floats: result, dtype: r.dtype.isFloat ? r.dtype : .F32))
        }
        return out
    }

    /// Merges one tensor given as arrays.
    public static func mergeTensor(_ method: MergeMethod, name: String = "tensor", base: [Float]? = nil,
                                   models: [[Float]], threads: Int = MergeKernels.defaultThreads) throws -> [Float] {
        guard let first = models.first else { throw MergeError("no models to merge (empty list)") }
        var result = [Float](repeating: 0, count: first.count)
        try withBuffers(models) { bufs in
            try result.withUnsafeMutableBufferPointer { o in
                if let bv = base {
                    try bv.withUnsafeBufferPointer { try MergeKernels.merge(method, name: name, base: $0, inputs: bufs, out: o, threads: threads) }
                } else {
                    try MergeKernels.merge(method, name: name, base: nil, inputs: bufs, out: o, threads: threads)
                }
            }
        }
        return result
    }

    /// In-place EMA step over a parameter set (the checkpoint pool's teacher update):
    /// teacher = decay·teacher + (1 − decay)·checkpoint, tensor by tensor, names and shapes checked.
    public static func emaUpdate(teacher: inout [NamedTensor], with checkpoint: [NamedTensor], decay: Double) throws {
        guard decay >= 0 && decay <= 1 else { throw MergeError("ema: decay \(decay) outside [0, 1]") }
        var byName: [String: NamedTensor] = [:]
        for t in checkpoint { byName[t.name] = t }
        for k in teacher.indices {
            try Interrupt.check()
            let name = teacher[k].name
            guard let c = byName[name] else { throw MergeError("tensor \"\(name)\" is missing from the checkpoint") }
            guard c.shape == teacher[k].shape else {
                throw MergeError("tensor \"\(name)\": checkpoint has shape \(c.shape), teacher has \(teacher[k].shape)")
            }
            guard var tv = teacher[k].floats, let cv = c.floats else { throw MergeError("tensor \"\(name)\": only float tensors can be merged") }
            tv.withUnsafeMutableBufferPointer { t in
                cv.withUnsafeBufferPointer { x in MergeKernels.emaUpdate(teacher: t, new: x, decay: decay) }
            }
            teacher[k].values = .float(tv)
        }
        if teacher.count != checkpoint.count, let extra = checkpoint.first(where: { t in !teacher.contains { $0.name == t.name } }) {
            throw MergeError("tensor \"\(extra.name)\" of the checkpoint is missing from the teacher")
        }
    }

    static func withBuffers<R>(_ arrays: [[Float]], _ body: ([UnsafeBufferPointer<Float>]) throws -> R) rethrows -> R {
        // Arrays are immutable values here; borrowing their storage for the duration of body is safe.
        var bufs: [UnsafeBufferPointer<Float>] = []
        bufs.reserveCapacity(arrays.count)
        func go(_ i: Int) throws -> R {
            if i == arrays.count { return try body(bufs) }
            return try arrays[i].withUnsafeBufferPointer { b in
                bufs.append(b)
                return try go(i + 1)
            }
        }
        return try go(0)
    }

    // MARK: files

    /// What a file merge did.
    public struct FileMergeSummary: Sendable {
        public var tensors: Int
        public var parameters: Int
        public var output: String
    }

    /// Streams a merge from safetensors files to a safetensors file, one tensor at a time (resident memory ≈
    /// one tensor per input plus one output). All inputs are opened and checked (names, shapes, float dtypes)
    /// before anything is written; the output is written atomically, so a failure leaves no partial file.
    /// Output dtypes follow the base (or the first model) unless `outputDType` is given; `metadata` is
    /// written to the output's `__metadata__`. `base` is required by slerp and the task-arithmetic family and
    /// ignored by linear and ema. The output may be one of the inputs (it is replaced only at the end).
    @discardableResult
    public static func mergeFiles(_ method: MergeMethod, base: String? = nil, models: [String], output: String,
                                  metadata: [String: String] = [:], outputDType: SafeTensorsDType? = nil,
                                  threads: Int = MergeKernels.defaultThreads) throws -> FileMergeSummary {
        try method.validate(inputCount: models.count, hasBase: base != nil)
        if let d = outputDType, !d.isFloat { throw MergeError("output dtype \(d.rawValue) is not a float type") }
        let useBase = method.needsBase ? base : nil
        let baseFile = try useBase.map { try SafeTensorsFile(path: $0) }
        let files = try models.map { try SafeTensorsFile(path: $0) }
        let ref = baseFile ?? files[0]
        let refPath = useBase ?? models[0]

        // Validate the whole plan first.
        let refNames = Set(ref.names)
        for t in ref.tensors where !t.dtype.isFloat {
            throw MergeError("tensor \"\(t.name)\" in \(refPath) is \(t.dtype.rawValue); only float tensors can be merged")
        }
        for (k, f) in files.enumerated() {
            for t in f.tensors where !refNames.contains(t.name) {
                throw MergeError("tensor \"\(t.name)\" of \(models[k]) is missing from \(refPath)")
            }
            for r in ref.tensors {
                guard f.contains(r.name) else { throw MergeError("tensor \"\(r.name)\" is missing from \(models[k])") }
                let t = try f.info(r.name)
                if t.shape != r.shape {
                    throw MergeError("tensor \"\(r.name)\": \(models[k]) has shape \(t.shape), \(refPath) has \(r.shape)")
                }
                if !t.dtype.isFloat {
                    throw MergeError("tensor \"\(r.name)\" in \(models[k]) is \(t.dtype.rawValue); only float tensors can be merged")
                }
            }
        }

        let entries = ref.tensors.map { SafeTensorsWriter.Entry(name: $0.name, dtype: outputDType ?? $0.dtype, shape: $0.shape) }
        let writer = try SafeTensorsWriter(path: output, entries: entries, metadata: metadata)
        let maxCount = ref.tensors.map(\.elementCount).max() ?? 0
        let outBuf = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(1, maxCount))
        defer { outBuf.deallocate() }
        var params = 0
        do {
            for name in writer.order {
                try Interrupt.check()
                let n = try ref.info(name).elementCount
                let views = try files.map { try $0.borrowFloats(name) }
                let baseView = try baseFile?.borrowFloats(name)
                let o = UnsafeMutableBufferPointer(rebasing: outBuf[0..<n])
                do {
                    try MergeKernels.merge(method, name: name, base: baseView?.buffer, inputs: views.map(\.buffer),
                                           out: o, threads: threads)
                } catch let e as MergeError {
                    throw MergeError("\(e.message) (merging into \(output))")
                }
                try writer.append(name: name, floats: UnsafeBufferPointer(o))
                for f in files { f.release(name) }
                baseFile?.release(name)
                params += n
            }
            try writer.commit()
        } catch {
            writer.abort()
            throw error
        }
        return FileMergeSummary(tensors: ref.tensors.count, parameters: params, output: output)
    }
}

/// A tensor's values as Float, borrowed from a memory-mapped file (aligned F32) or converted into an owned
/// buffer. Keeps its file alive.
public final class FloatView {
    public let buffer: UnsafeBufferPointer<Float>
    private let owned: UnsafeMutableBufferPointer<Float>?
    private let file: SafeTensorsFile

    init(file: SafeTensorsFile, buffer: UnsafeBufferPointer<Float>, owned: UnsafeMutableBufferPointer<Float>?) {
        self.file = file; self.buffer = buffer; self.owned = owned
    }

    deinit { owned?.deallocate() }
}

extension SafeTensorsFile {
    /// The tensor's values as Float without copying when possible (aligned little-endian F32).
    public func borrowFloats(_ name: String) throws -> FloatView {
        let t = try info(name)
        guard t.dtype.isFloat else {
            throw SafeTensorsError(path: path, "tensor \"\(name)\" has dtype \(t.dtype.rawValue), not a float type")
        }
        let raw = rawBytes(t)
        let n = t.elementCount
        #if _endian(little)
        if t.dtype == .F32, let p = raw.baseAddress, Int(bitPattern: p) % MemoryLayout<Float>.alignment == 0 {
            return FloatView(file: self, buffer: UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: n), owned: nil)
        }
        #endif
        let tmp = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(n, 1))
        let view = UnsafeMutableBufferPointer(rebasing: tmp[0..<n])
        SafeTensorsFile.convert(raw, dtype: t.dtype, into: view)
        return FloatView(file: self, buffer: UnsafeBufferPointer(view), owned: tmp)
    }
}
