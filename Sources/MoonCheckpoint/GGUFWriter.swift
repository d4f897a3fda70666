/// Serialises a GGUF v3 file: metadata in the given order, then tensor infos, then the aligned tensor data.
/// Float32 tensors are stored as F32, F16, BF16 or quantised to Q8_0 (as llama.cpp's `quantize_row_q8_0_ref`).
///
/// The writer produces bytes through a sink so that callers choose where they go (an atomic file, memory).
public struct GGUFWriter {
    public struct Entry {
        public let name: String
        /// Row-major shape (PyTorch order); written reversed as ggml dims.
        public let shape: [Int]
        public let type: GGMLType
        public let values: [Float]
        public init(name: String, shape: [Int], type: GGMLType, values: [Float]) {
            self.name = name; self.shape = shape; self.type = type; self.values = values
        }
    }

    public var metadata: [(String, GGUFValue)] = []
    public var tensors: [Entry] = []
    public var alignment = 32

    public init() {}

    /// Types the writer can produce.
    public static let writableTypes: [GGMLType] = [.f32, .f16, .bf16, .q8_0]

    public mutating func add(_ key: String, _ value: GGUFValue) {
        if let i = metadata.firstIndex(where: { $0.0 == key }) { metadata[i].1 = value } else { metadata.append((key, value)) }
    }

    /// Checks names, shapes and types; returns the error text of the first problem or nil.
    func problem() -> String? {
        var seen = Set<String>()
        for t in tensors {
            if !seen.insert(t.name).inserted { return "duplicate tensor name \"\(t.name)\"" }
            guard GGUFWriter.writableTypes.contains(t.type) else { return "cannot write tensor type \(t.type.name)" }
            guard !t.shape.isEmpty, t.shape.count <= 4, t.shape.allSatisfy({ $0 >= 0 }) else { return "tensor \"\(t.name)\" has a bad shape \(t.shape)" }
            guard t.shape.reduce(1, *) == t.values.count else { return "tensor \"\(t.name)\" has \(t.values.count) values for shape \(t.shape)" }
            guard t.shape.last! % t.type.blockSize == 0 else {
                return "tensor \"\(t.name)\": row length \(t.shape.last!) is not a multiple of the \(t.type.name) block size \(t.type.blockSize)"
            }
        }
        return nil
    }

    /// Writes the file through `sink` (called with consecutive chunks).
    public func write(path: String = "<gguf>", to sink: (UnsafeRawBufferPointer) throws -> Void) throws {
        if let p = problem() { throw GGUFError(path: path, p) }
        var head = ByteSink()
        head.u32(0x4655_4747); head.u32(3)
        head.u64(UInt64(tensors.count))
        var meta = metadata
        if alignment != 32, !meta.contains(where: { $0.0 == "general.alignment" }) { meta.append(("general.alignment", .uint32(UInt32(alignment)))) }
        head.u64(UInt64(meta.count))
        for (k, v) in meta { head.string(k); head.u32(v.type.rawValue); head.value(v) }
        var offset = 0
        var offsets: [Int] = []
        for t in tensors {
            head.string(t.name)
            head.u32(UInt32(t.shape.count))
            for d in t.shape.reversed() { head.u64(UInt64(d)) }
            head.u32(t.type.rawValue)
            head.u64(UInt64(offset))
            offsets.append(offset)
            offset += (t.type.byteCount(elements: t.values.count)! + alignment - 1) / alignment * alignment
        }
        head.pad(to: alignment)
        try head.bytes.withUnsafeBytes(sink)
        for t in tensors {
            var body = GGUFWriter.encode(t.values, as: t.type)
            let padded = (body.count + alignment - 1) / alignment * alignment
            body.append(contentsOf: [UInt8](repeating: 0, count: padded - body.count))
            try body.withUnsafeBytes(sink)
        }
    }

    /// The whole file in memory.
    public func bytes() throws -> [UInt8] {
        var out: [UInt8] = []
        try write { out.append(contentsOf: $0) }
        return out
    }

    /// Encodes float32 values (a whole number of blocks) as `type`.
    public static func encode(_ v: [Float], as type: GGMLType) -> [UInt8] {
        let n = v.count
        var out = [UInt8](repeating: 0, count: type.byteCount(elements: n) ?? 0)
        out.withUnsafeMutableBytes { raw in
            let o = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            v.withUnsafeBufferPointer { src in
                let x = src.baseAddress!
                switch type {
                case .f32:
                    UnsafeMutableRawPointer(o).copyMemory(from: x, byteCount: 4 * n)
                case .f16:
                    for i in 0..<n { put16(o + 2 * i, floatToHalfBits(x[i])) }
                case .bf16:
                    for i in 0..<n { put16(o + 2 * i, floatToBFloat16Bits(x[i])) }
                case .q8_0:
                    for b in 0..<(n / 32) {
                        let xb = x + 32 * b, ob = o + 34 * b
                        var amax: Float = 0
                        for j in 0..<32 { amax = max(amax, abs(xb[j])) }
                        let d = amax / 127
                        let id: Float = d != 0 ? 1 / d : 0
                        put16(ob, floatToHalfBits(d))
                        for j in 0..<32 { ob[2 + j] = UInt8(bitPattern: Int8((xb[j] * id).rounded(.toNearestOrAwayFromZero))) }
                    }
                default:
                    break  // refused by problem()
                }
            }
        }
        return out
    }

    @inline(__always) static func put16(_ p: UnsafeMutablePointer<UInt8>, _ v: UInt16) {
        p[0] = UInt8(v & 0xFF); p[1] = UInt8(v >> 8)
    }
}

/// Little-endian byte builder for the header.
struct ByteSink {
    var bytes: [UInt8] = []
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u64(_ v: UInt64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func string(_ s: String) { let u = Array(s.utf8); u64(UInt64(u.count)); bytes.append(contentsOf: u) }
    mutating func pad(to a: Int) { while bytes.count % a != 0 { bytes.append(0) } }
    mutating func value(_ v: GGUFValue) {
        switch v {
        case let .uint8(x): u8(x)
        case let .int8(x): u8(UInt8(bitPattern: x))
        case let .uint16(x): u16(x)
        case let .int16(x): u16(UInt16(bitPattern: x))
        case let .uint32(x): u32(x)
        case let .int32(x): u32(UInt32(bitPattern: x))
        case let .float32(x): u32(x.bitPattern)
        case let .bool(x): u8(x ? 1 : 0)
        case let .string(s): string(s)
        case let .uint64(x): u64(x)
        case let .int64(x): u64(UInt64(bitPattern: x))
        case let .float64(x): u64(x.bitPattern)
        case let .array(t, items):
            u32(t.rawValue); u64(UInt64(items.count))
            for it in items { value(it) }
        }
    }
}
