import MoonTensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A GGUF file (versions 2 and 3): its metadata, tensor infos and tensor data, memory-mapped when opened from a path.
///
/// Parsing checks every count and offset against the file size before allocating or reading: truncated files,
/// wrong magic, unsupported versions, absurd counts, duplicate keys or tensor names, unknown value or tensor types,
/// misaligned or overlapping tensor data and data outside the file are thrown `GGUFError`s naming the problem.
/// After a successful parse no accessor can read out of bounds.
///
///     let f = try GGUFFile(path: "model.gguf")
///     let arch = f.metadata["general.architecture"]?.stringValue
///     let w = try f.floats("blk.0.attn_q.weight")   // dequantised, row-major
public final class GGUFFile: @unchecked Sendable {
    public let path: String
    public let version: UInt32
    /// Metadata in file order.
    public let metadataList: [(key: String, value: GGUFValue)]
    /// Metadata by key.
    public let metadata: [String: GGUFValue]
    /// Tensors in file order.
    public let tensors: [GGUFTensorInfo]
    /// `general.alignment` (32 when absent).
    public let alignment: Int
    /// Offset of the data section from the start of the file.
    public let dataOffset: Int
    public let fileSize: Int

    private let base: UnsafeRawPointer
    private let mapped: Bool
    private let index: [String: Int]

    /// Limits that keep a hostile header from exhausting memory (each is far above any real model).
    public static let maxTensors = 1 << 20
    public static let maxKeys = 1 << 20
    public static let maxDims = 4
    public static let maxStringLength = 1 << 26

    /// Opens and memory-maps `path`.
    public convenience init(path: String) throws {
        // a FIFO, device or directory is refused at once (never a blocking open or an endless read)
        let fd: Int32, size: Int
        do { (fd, size) = try RegularFile.open(path) } catch let e as FileIOError { throw GGUFError(path: path, e.message) }
        defer { close(fd) }
        if size < 24 { throw GGUFError(path: path, "file is \(size) bytes, shorter than a GGUF header (24 bytes)") }
        guard let m = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), m != MAP_FAILED else {
            throw GGUFError(path: path, "mmap failed: \(String(cString: strerror(errno)))")
        }
        do {
            try self.init(base: UnsafeRawPointer(m), size: size, mapped: true, path: path)
        } catch {
            munmap(m, size)
            throw error
        }
    }

    /// Parses an in-memory GGUF image (no I/O; the bytes are copied). The entry point for fuzzing.
    public convenience init(bytes: [UInt8], path: String = "<bytes>") throws {
        let p = UnsafeMutableRawPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
        bytes.withUnsafeBytes { if let b = $0.baseAddress { p.copyMemory(from: b, byteCount: bytes.count) } }
        do {
            try self.init(base: UnsafeRawPointer(p), size: bytes.count, mapped: false, path: path)
        } catch {
            p.deallocate()
            throw error
        }
    }

    private init(base: UnsafeRawPointer, size: Int, mapped: Bool, path: String) throws {
        self.path = path
        var r = Reader(base: base, size: size, path: path)
        let magic = try r.u32()
        guard magic == 0x4655_4747 else {  // "GGUF"
            throw GGUFError(path: path, "bad magic \(String(magic, radix: 16)) (not a GGUF file)")
        }
        version = try r.u32()
        guard version == 2 || version == 3 else {
            throw GGUFError(path: path, "unsupported GGUF version \(version) (2 and 3 are supported)")
        }
        let nTensors = try r.count("tensor count", max: GGUFFile.maxTensors, minBytesEach: 8 + 4 + 4 + 8)
        let nKeys = try r.count("metadata key count", max: GGUFFile.maxKeys, minBytesEach: 8 + 4)
        var list: [(key: String, value: GGUFValue)] = []
        list.reserveCapacity(nKeys)
        var dict: [String: GGUFValue] = [:]
        for _ in 0..<nKeys {
            let key = try r.string()
            let type = try r.valueType()
            let value = try r.value(type, depth: 0)
            guard dict[key] == nil else { throw GGUFError(path: path, "duplicate metadata key \"\(key)\"") }
            dict[key] = value
            list.append((key, value))
        }
        var align = 32
        if let a = dict["general.alignment"] {
            guard case let .uint32(v) = a, v > 0, v & (v - 1) == 0, v <= 1 << 20 else {
                throw GGUFError(path: path, "general.alignment must be a uint32 power of two, got \(a)")
            }
            align = Int(v)
        }
        var infos: [GGUFTensorInfo] = []
        infos.reserveCapacity(nTensors)
        var idx: [String: Int] = [:]
        for k in 0..<nTensors {
            let name = try r.string()
            let nd = Int(try r.u32())
            guard nd >= 1 && nd <= GGUFFile.maxDims else {
                throw GGUFError(path: path, "tensor \"\(name)\" has \(nd) dimensions (1...\(GGUFFile.maxDims) supported)")
            }
            var dims: [Int] = []
            var count = 1
            for _ in 0..<nd {
                let d = try r.u64()
                guard d <= UInt64(Int32.max) else { throw GGUFError(path: path, "tensor \"\(name)\" has an absurd dimension \(d)") }
                let (c, o) = count.multipliedReportingOverflow(by: Int(d))
                guard !o, c <= size * 64 else { throw GGUFError(path: path, "tensor \"\(name)\" has an absurd element count") }
                dims.append(Int(d)); count = c
            }
            let rawType = try r.u32()
            guard let type = GGMLType(rawValue: rawType) else {
                throw GGUFError(path: path, "tensor \"\(name)\" has unsupported tensor type \(GGMLType.describeUnsupported(rawType))")
            }
            guard dims[0] % type.blockSize == 0, let bytes = type.byteCount(elements: count) else {
                throw GGUFError(path: path, "tensor \"\(name)\": row length \(dims[0]) is not a multiple of the \(type.name) block size \(type.blockSize)")
            }
            let off = try r.u64()
            guard off <= UInt64(size), Int(off) % align == 0 else {
                throw GGUFError(path: path, "tensor \"\(name)\" has offset \(off), outside the file or not aligned to \(align)")
            }
            guard idx[name] == nil else { throw GGUFError(path: path, "duplicate tensor name \"\(name)\"") }
            idx[name] = k
            infos.append(GGUFTensorInfo(name: name, dims: dims, type: type, offset: Int(off), elementCount: count, byteCount: bytes))
        }
        let data = (r.pos + align - 1) / align * align
        guard data <= size else { throw GGUFError(path: path, "file ends before the data section (offset \(data), size \(size))") }
        // Every tensor must lie inside the file, and tensors must not overlap.
        for t in infos {
            let (end, o) = (data + t.offset).addingReportingOverflow(t.byteCount)
            guard !o, end <= size else {
                throw GGUFError(path: path, "tensor \"\(t.name)\" (\(t.type.name) \(t.dims), \(t.byteCount) bytes at data offset \(t.offset)) extends past the end of the file (\(size) bytes): truncated?")
            }
        }
        let sorted = infos.sorted { $0.offset < $1.offset }
        for (a, b) in zip(sorted, sorted.dropFirst()) where a.offset + a.byteCount > b.offset {
            throw GGUFError(path: path, "tensors \"\(a.name)\" and \"\(b.name)\" overlap")
        }
        self.base = base
        self.mapped = mapped
        fileSize = size
        metadataList = list
        metadata = dict
        tensors = infos
        index = idx
        alignment = align
        dataOffset = data
    }

    deinit {
        if mapped { munmap(UnsafeMutableRawPointer(mutating: base), fileSize) } else { base.deallocate() }
    }

    public func contains(_ name: String) -> Bool { index[name] != nil }

    public func info(_ name: String) throws -> GGUFTensorInfo {
        guard let k = index[name] else { throw GGUFError(path: path, "no tensor named \"\(name)\"") }
        return tensors[k]
    }

    /// The tensor's stored bytes (valid while this object lives).
    public func rawBytes(_ t: GGUFTensorInfo) -> UnsafeRawBufferPointer {
        UnsafeRawBufferPointer(start: base + dataOffset + t.offset, count: t.byteCount)
    }

    /// Dequantises tensor `t` into `out` (`t.elementCount` floats, row-major).
    public func dequantize(_ t: GGUFTensorInfo, into out: UnsafeMutablePointer<Float>) {
        GGMLDequantize.run(t.type, rawBytes(t).baseAddress!, count: t.elementCount, into: out)
    }

    /// The tensor's values as float32 (row-major, shape `info.shape`).
    public func floats(_ name: String) throws -> [Float] {
        let t = try info(name)
        return [Float](unsafeUninitializedCapacity: t.elementCount) { buf, n in
            if t.elementCount > 0 { dequantize(t, into: buf.baseAddress!) }
            n = t.elementCount
        }
    }

    // MARK: typed metadata access

    public func string(_ key: String) -> String? { metadata[key]?.stringValue }
    public func int(_ key: String) -> Int? { metadata[key]?.intValue }
    public func double(_ key: String) -> Double? { metadata[key]?.doubleValue }
}

/// A bounds-checked little-endian cursor over the header.
private struct Reader {
    let base: UnsafeRawPointer
    let size: Int
    let path: String
    var pos = 0

    init(base: UnsafeRawPointer, size: Int, path: String) { self.base = base; self.size = size; self.path = path }

    var remaining: Int { size - pos }

    mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws {
        guard n >= 0, n <= remaining else {
            throw GGUFError(path: path, "truncated: \(what()) needs \(n) bytes at offset \(pos), only \(remaining) left")
        }
    }

    mutating func load<T: FixedWidthInteger>(_: T.Type) throws -> T {
        try need(MemoryLayout<T>.size, "a \(MemoryLayout<T>.size)-byte value")
        let v = T(littleEndian: base.loadUnaligned(fromByteOffset: pos, as: T.self))
        pos += MemoryLayout<T>.size
        return v
    }
    mutating func u32() throws -> UInt32 { try load(UInt32.self) }
    mutating func u64() throws -> UInt64 { try load(UInt64.self) }

    /// A u64 count checked against a limit and against the bytes left (each item needs at least `minBytesEach`).
    mutating func count(_ what: String, max: Int, minBytesEach: Int) throws -> Int {
        let n = try u64()
        guard n <= UInt64(max) else { throw GGUFError(path: path, "absurd \(what) \(n) (limit \(max))") }
        guard Int(n) * minBytesEach <= remaining else {
            throw GGUFError(path: path, "\(what) \(n) cannot fit in the \(remaining) bytes left: truncated or corrupt")
        }
        return Int(n)
    }

    mutating func string() throws -> String {
        let n = try u64()
        guard n <= UInt64(GGUFFile.maxStringLength) else { throw GGUFError(path: path, "absurd string length \(n) at offset \(pos - 8)") }
        try need(Int(n), "a string")
        let s = String(decoding: UnsafeRawBufferPointer(start: base + pos, count: Int(n)), as: UTF8.self)
        pos += Int(n)
        return s
    }

    mutating func valueType() throws -> GGUFValueType {
        let raw = try u32()
        guard let t = GGUFValueType(rawValue: raw) else { throw GGUFError(path: path, "unknown metadata value type \(raw) at offset \(pos - 4)") }
        return t
    }

    mutating func value(_ t: GGUFValueType, depth: Int) throws -> GGUFValue {
        switch t {
        case .uint8: return .uint8(try load(UInt8.self))
        case .int8: return .int8(try load(Int8.self))
        case .uint16: return .uint16(try load(UInt16.self))
        case .int16: return .int16(try load(Int16.self))
        case .uint32: return .uint32(try load(UInt32.self))
        case .int32: return .int32(try load(Int32.self))
        case .float32: return .float32(Float(bitPattern: try load(UInt32.self)))
        case .bool:
            let b = try load(UInt8.self)
            guard b <= 1 else { throw GGUFError(path: path, "bool value \(b) at offset \(pos - 1) is neither 0 nor 1") }
            return .bool(b == 1)
        case .string: return .string(try string())
        case .uint64: return .uint64(try load(UInt64.self))
        case .int64: return .int64(try load(Int64.self))
        case .float64: return .float64(Double(bitPattern: try load(UInt64.self)))
        case .array:
            guard depth < 4 else { throw GGUFError(path: path, "arrays nested deeper than 4 levels") }
            let et = try valueType()
            let minEach = et.scalarSize ?? (et == .string ? 8 : 12)
            let n = try count("array length", max: Int(Int32.max), minBytesEach: minEach)
            var out: [GGUFValue] = []
            out.reserveCapacity(n)
            for _ in 0..<n { out.append(try value(et, depth: depth + 1)) }
            return .array(et, out)
        }
    }
}
