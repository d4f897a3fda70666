import MoonTensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A read-only, memory-mapped safetensors file.
///
/// Opening validates the whole header the way the reference implementation does (and a little more
/// strictly): header length vs file size, JSON syntax, known dtypes, non-negative dims with overflow-checked
/// products, `data_offsets` that are ordered, contiguous, start at 0, match `numel × dtype size`, and cover
/// the data section exactly. Any violation is a thrown `SafeTensorsError`; no accessor can read out of bounds.
///
/// Tensor data stays in the mapping until asked for; `floats(_:)`/`ints(_:)` copy (converting F16/BF16/F64
/// to Float), `withFloats(_:_:)` lends F32 data without a copy when it is aligned, and `release(_:)` drops a
/// tensor's pages from memory (the streaming merger calls it after each tensor).
public final class SafeTensorsFile: @unchecked Sendable {
    public let path: String
    /// Tensors ordered by their position in the file.
    public let tensors: [SafeTensorInfo]
    /// The `__metadata__` map (empty when absent).
    public let metadata: [String: String]
    public let fileSize: Int
    /// Byte offset of the data section (8 + header length).
    public let dataStart: Int

    private let base: UnsafeRawPointer?
    private let mappedLength: Int
    private let index: [String: Int]

    /// The reference implementation's limit on the header length.
    public static let maxHeaderSize = 100_000_000

    public init(path: String) throws {
        self.path = path
        // a regular file only: a FIFO, a device or a NUL-truncated path fails here instead of blocking or misreading
        let fd: Int32, size: Int
        do { (fd, size) = try RegularFile.open(path) } catch let e as FileIOError { throw SafeTensorsError(path: path, "cannot open: \(e.message)") }
        defer { close(fd) }
        fileSize = size
        if size < 8 { throw SafeTensorsError(path: path, "file is \(size) bytes, shorter than the 8-byte header length") }
        guard let m = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else {
            throw SafeTensorsError(path: path, "mmap failed: \(String(cString: strerror(errno)))")
        }
        let mapped = UnsafeRawPointer(m)
        do {
            let parsed = try SafeTensorsFile.parseHeader(UnsafeRawBufferPointer(start: mapped, count: size), path: path)
            tensors = parsed.tensors
            metadata = parsed.metadata
            dataStart = parsed.dataStart
        } catch {
            munmap(m, size)
            throw error
        }
        base = mapped
        mappedLength = size
        var idx = [String: Int](minimumCapacity: tensors.count)
        for (k, t) in tensors.enumerated() { idx[t.name] = k }
        index = idx
    }

    deinit {
        if let b = base { munmap(UnsafeMutableRawPointer(mutating: b), mappedLength) }
    }

    /// Tensor names in file order.
    public var names: [String] { tensors.map(\.name) }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func info(_ name: String) throws -> SafeTensorInfo {
        guard let k = index[name] else { throw SafeTensorsError(path: path, "no tensor named \"\(name)\"") }
        return tensors[k]
    }

    /// The tensor's raw little-endian bytes inside the mapping; valid while this object is alive.
    public func rawBytes(_ name: String) throws -> UnsafeRawBufferPointer {
        let t = try info(name)
        return rawBytes(t)
    }

    func rawBytes(_ t: SafeTensorInfo) -> UnsafeRawBufferPointer {
        // Offsets were validated against the file size at open.
        UnsafeRawBufferPointer(start: base! + dataStart + t.dataOffsets.lowerBound, count: t.byteCount)
    }

    /// Values of a float tensor (F32, F16, BF16, F64) as Float.
    public func floats(_ name: String) throws -> [Float] {
        let t = try info(name)
        guard t.dtype.isFloat else {
            throw SafeTensorsError(path: path, "tensor \"\(name)\" has dtype \(t.dtype.rawValue), not a float type")
        }
        let n = t.elementCount
        return [Float](unsafeUninitializedCapacity: n) { buf, count in
            SafeTensorsFile.convert(rawBytes(t), dtype: t.dtype, into: UnsafeMutableBufferPointer(rebasing: buf[0..<n]))
            count = n
        }
    }

    /// Values of an integer or boolean tensor as Int64.
    public func ints(_ name: String) throws -> [Int64] {
        let t = try info(name)
        guard t.dtype.isInteger else {
            throw SafeTensorsError(path: path, "tensor \"\(name)\" has dtype \(t.dtype.rawValue), not an integer type")
        }
        let raw = rawBytes(t)
        let n = t.elementCount
        var out = [Int64](repeating: 0, count: n)
        for k in 0..<n {
            switch t.dtype {
            case .BOOL, .U8: out[k] = Int64(raw.load(fromByteOffset: k, as: UInt8.self))
            case .I8: out[k] = Int64(raw.load(fromByteOffset: k, as: Int8.self))
            case .I16: out[k] = Int64(Int16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * k, as: Int16.self)))
            case .U16: out[k] = Int64(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self)))
            case .I32: out[k] = Int64(Int32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * k, as: Int32.self)))
            case .U32: out[k] = Int64(UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self)))
            case .I64: out[k] = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * k, as: Int64.self))
            case .U64: out[k] = Int64(bitPattern: UInt64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self)))
            default: break
            }
        }
        return out
    }

    /// The whole tensor as a `NamedTensor` (F8 types are not supported and throw).
    public func tensor(_ name: String) throws -> NamedTensor {
        let t = try info(name)
        if t.dtype.isFloat { return NamedTensor(name: name, shape: t.shape, floats: try floats(name), dtype: t.dtype) }
        if t.dtype.isInteger { return NamedTensor(name: name, shape: t.shape, ints: try ints(name), dtype: t.dtype) }
        throw SafeTensorsError(path: path, "tensor \"\(name)\": dtype \(t.dtype.rawValue) cannot be converted")
    }

    /// Calls `body` with the tensor's values as Float. Aligned F32 data is lent straight from the mapping
    /// (no copy); other float dtypes are converted into a temporary buffer.
    public func withFloats<R>(_ name: String, _ body: (UnsafeBufferPointer<Float>) throws -> R) throws -> R {
        let t = try info(name)
        guard t.dtype.isFloat else {
            throw SafeTensorsError(path: path, "tensor \"\(name)\" has dtype \(t.dtype.rawValue), not a float type")
        }
        let raw = rawBytes(t)
        let n = t.elementCount
        if t.dtype == .F32, n > 0, let p = raw.baseAddress, Int(bitPattern: p) % MemoryLayout<Float>.alignment == 0 {
            #if _endian(little)
            return try body(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: n))
            #endif
        }
        let tmp = UnsafeMutableBufferPointer<Float>.allocate(capacity: max(n, 1))
        defer { tmp.deallocate() }
        SafeTensorsFile.convert(raw, dtype: t.dtype, into: UnsafeMutableBufferPointer(rebasing: tmp[0..<n]))
        return try body(UnsafeBufferPointer(rebasing: tmp[0..<n]))
    }

    /// Tells the kernel the tensor's pages are no longer needed (they are re-read from disk if touched again).
    /// Keeps the resident size of a streaming pass near one tensor per input.
    public func release(_ name: String) {
        guard let k = index[name], let b = base else { return }
        let t = tensors[k]
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        let start = dataStart + t.dataOffsets.lowerBound
        let end = dataStart + t.dataOffsets.upperBound
        let alignedStart = start / page * page
        let alignedEnd = min((end + page - 1) / page * page, mappedLength)
        if alignedEnd > alignedStart {
            _ = madvise(UnsafeMutableRawPointer(mutating: b + alignedStart), alignedEnd - alignedStart, Int32(MADV_DONTNEED))
        }
    }

    /// Streams the file tensor by tensor in file order, releasing each tensor's pages after `body` returns.
    public func forEachTensor(_ body: (NamedTensor) throws -> Void) throws {
        for t in tensors {
            let nt = try tensor(t.name)
            release(t.name)
            try body(nt)
        }
    }

    /// All tensors, in file order.
    public func loadAll() throws -> [NamedTensor] {
        try tensors.map { try tensor($0.name) }
    }

    // MARK: conversion

    public static func convert(_ raw: UnsafeRawBufferPointer, dtype: SafeTensorsDType, into out: UnsafeMutableBufferPointer<Float>) {
        let n = out.count
        guard n > 0, let src = raw.baseAddress, let dst = out.baseAddress else { return }
        switch dtype {
        case .F32:
            #if _endian(little)
            UnsafeMutableRawPointer(dst).copyMemory(from: src, byteCount: 4 * n)
            #else
            for k in 0..<n { dst[k] = Float(bitPattern: UInt32(littleEndian: src.loadUnaligned(fromByteOffset: 4 * k, as: UInt32.self))) }
            #endif
        case .F16:
            for k in 0..<n { dst[k] = halfBitsToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))) }
        case .BF16:
            for k in 0..<n { dst[k] = bfloat16BitsToFloat(UInt16(littleEndian: src.loadUnaligned(fromByteOffset: 2 * k, as: UInt16.self))) }
        case .F64:
            for k in 0..<n { dst[k] = Float(Double(bitPattern: UInt64(littleEndian: src.loadUnaligned(fromByteOffset: 8 * k, as: UInt64.self)))) }
        default:
            break
        }
    }

    // MARK: header validation

    struct ParsedHeader {
        var tensors: [SafeTensorInfo]
        var metadata: [String: String]
        var dataStart: Int
    }

    /// Parses and validates a complete safetensors byte image (header and data).
    static func parseHeader(_ file: UnsafeRawBufferPointer, path: String) throws -> ParsedHeader {
        func err(_ m: String) -> SafeTensorsError { SafeTensorsError(path: path, m) }
        let size = file.count
        guard size >= 8 else { throw err("file is \(size) bytes, shorter than the 8-byte header length") }
        let n64 = UInt64(littleEndian: file.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        guard n64 <= UInt64(maxHeaderSize) else { throw err("header length \(n64) exceeds the limit of \(maxHeaderSize) bytes") }
        let n = Int(n64)
        guard n >= 2 else { throw err("header length \(n) is too small for a JSON object") }
        guard 8 + n <= size else {
            throw err("header length \(n) runs past the end of the file (\(size) bytes): file truncated or corrupted")
        }
        let headerBytes = UnsafeBufferPointer(start: (file.baseAddress! + 8).assumingMemoryBound(to: UInt8.self), count: n)
        guard headerBytes[0] == UInt8(ascii: "{") else { throw err("header does not start with '{'") }
        let json: JSON
        do { json = try JSON.parse(bytes: headerBytes) } catch let e as JSONError {
            throw err("header is not valid JSON: \(e.description)")
        }
        guard case let .object(entries) = json else { throw err("header is not a JSON object") }

        var metadata: [String: String] = [:]
        var infos: [SafeTensorInfo] = []
        infos.reserveCapacity(entries.count)
        for entry in entries {
            let name = entry.key, value = entry.value
            if name == "__metadata__" {
                guard case let .object(m) = value else { throw err("__metadata__ is a \(value.typeName), expected an object") }
                for mem in m {
                    let k = mem.key, v = mem.value
                    guard case let .string(s) = v else { throw err("__metadata__ value for \"\(k)\" is a \(v.typeName), expected a string") }
                    metadata[k] = s
                }
                continue
            }
            guard case let .object(fields) = value else { throw err("tensor \"\(name)\": entry is a \(value.typeName), expected an object") }
            var dtype: SafeTensorsDType?
            var shape: [Int]?
            var offsets: [Int]?
            for field in fields {
                let k = field.key, v = field.value
                switch k {
                case "dtype":
                    guard case let .string(s) = v else { throw err("tensor \"\(name)\": dtype is not a string") }
                    guard let d = SafeTensorsDType(rawValue: s) else { throw err("tensor \"\(name)\": unknown dtype \"\(s)\"") }
                    dtype = d
                case "shape":
                    shape = try intArray(v, what: "shape", name: name, err: err)
                case "data_offsets":
                    offsets = try intArray(v, what: "data_offsets", name: name, err: err)
                default:
                    continue  // unknown fields are ignored, as in the reference implementation
                }
            }
            guard let dt = dtype else { throw err("tensor \"\(name)\": missing dtype") }
            guard let sh = shape else { throw err("tensor \"\(name)\": missing shape") }
            guard let off = offsets else { throw err("tensor \"\(name)\": missing data_offsets") }
            guard off.count == 2 else { throw err("tensor \"\(name)\": data_offsets has \(off.count) entries, expected 2") }
            guard off[0] <= off[1] else { throw err("tensor \"\(name)\": data_offsets [\(off[0]), \(off[1])] are reversed") }
            var numel = 1
            for d in sh {
                let (p, o) = numel.multipliedReportingOverflow(by: d)
                if o { throw err("tensor \"\(name)\": shape \(sh) overflows") }
                numel = p
            }
            let (nbytes, o) = numel.multipliedReportingOverflow(by: dt.size)
            if o { throw err("tensor \"\(name)\": shape \(sh) overflows") }
            guard off[1] - off[0] == nbytes else {
                throw err("tensor \"\(name)\": data_offsets [\(off[0]), \(off[1])] hold \(off[1] - off[0]) bytes, but shape \(sh) of \(dt.rawValue) needs \(nbytes)")
            }
            infos.append(SafeTensorInfo(name: name, dtype: dt, shape: sh, dataOffsets: off[0]..<off[1]))
        }
        // Order by offset (stable for zero-sized tensors) and check contiguity and coverage.
        let ordered = infos.enumerated().sorted { a, b in
            a.element.dataOffsets.lowerBound != b.element.dataOffsets.lowerBound
                ? a.element.dataOffsets.lowerBound < b.element.dataOffsets.lowerBound
                : (a.element.dataOffsets.upperBound != b.element.dataOffsets.upperBound
                    ? a.element.dataOffsets.upperBound < b.element.dataOffsets.upperBound : a.offset < b.offset)
        }.map(\.element)
        var cursor = 0
        for t in ordered {
            if t.dataOffsets.lowerBound != cursor {
                let what = t.dataOffsets.lowerBound < cursor ? "overlaps the previous tensor" : "leaves a gap after the previous tensor"
                throw err("tensor \"\(t.name)\": data_offsets start at \(t.dataOffsets.lowerBound) and \(what) (expected \(cursor))")
            }
            cursor = t.dataOffsets.upperBound
        }
        let dataStart = 8 + n
        let dataSize = size - dataStart
        if cursor != dataSize {
            if cursor > dataSize {
                throw err("tensors need \(cursor) bytes of data but the file has \(dataSize) after the header: file truncated")
            }
            throw err("tensors cover \(cursor) bytes but the file has \(dataSize) after the header: trailing bytes")
        }
        return ParsedHeader(tensors: ordered, metadata: metadata, dataStart: dataStart)
    }

    private static func intArray(_ v: JSON, what: String, name: String,
                                 err: (String) -> SafeTensorsError) throws -> [Int] {
        guard case let .array(items) = v else { throw err("tensor \"\(name)\": \(what) is not an array") }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for it in items {
            // whole numbers up to 2^53, where every integer is exact in a Double
            guard case let .number(x) = it, x == x.rounded(), x.magnitude <= 9_007_199_254_740_992 else {
                throw err("tensor \"\(name)\": \(what) contains a non-integer (or one beyond 2^53)")
            }
            guard x >= 0 else { throw err("tensor \"\(name)\": \(what) contains a negative value \(Int(x))") }
            out.append(Int(x))
        }
        return out
    }
}

/// Namespace for whole-file conveniences.
public enum SafeTensors {
    /// Opens (and validates) a file for reading.
    public static func open(_ path: String) throws -> SafeTensorsFile { try SafeTensorsFile(path: path) }

    /// Reads every tensor and the metadata.
    public static func load(_ path: String) throws -> (tensors: [NamedTensor], metadata: [String: String]) {
        let f = try SafeTensorsFile(path: path)
        return (try f.loadAll(), f.metadata)
    }

    /// Writes tensors (each in its own `dtype`) and metadata atomically. Tensors are ordered as the reference
    /// writer orders them: by dtype, widest first, then by name.
    public static func save(_ tensors: [NamedTensor], metadata: [String: String] = [:], to path: String) throws {
        let w = try SafeTensorsWriter(path: path,
                                      entries: tensors.map { .init(name: $0.name, dtype: $0.dtype, shape: $0.shape) },
                                      metadata: metadata)
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in w.order {
            let t = byName[name]!
            switch t.values {
            case let .float(v): try v.withUnsafeBufferPointer { try w.append(name: name, floats: $0) }
            case let .int(v): try v.withUnsafeBufferPointer { try w.append(name: name, ints: $0) }
            }
        }
        try w.commit()
    }

    /// The complete file image in memory (same layout as `save`).
    public static func serialize(_ tensors: [NamedTensor], metadata: [String: String] = [:]) throws -> [UInt8] {
        let entries = tensors.map { SafeTensorsWriter.Entry(name: $0.name, dtype: $0.dtype, shape: $0.shape) }
        let (header, order, _) = try SafeTensorsWriter.layout(entries: entries, metadata: metadata, path: "<memory>")
        var out = header
        let byName = Dictionary(tensors.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        for name in order {
            let t = byName[name]!
            switch t.values {
            case let .float(v): v.withUnsafeBufferPointer { SafeTensorsWriter.encode(floats: $0, dtype: t.dtype) { out.append(contentsOf: $0) } }
            case let .int(v): v.withUnsafeBufferPointer { SafeTensorsWriter.encode(ints: $0, dtype: t.dtype) { out.append(contentsOf: $0) } }
            }
        }
        return out
    }
}
