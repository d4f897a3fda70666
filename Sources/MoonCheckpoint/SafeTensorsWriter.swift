import MoonTensor
/// Streams a safetensors file to disk atomically, one tensor at a time.
///
/// The header is computed up front from the planned entries (name, dtype, shape), so the data can be
/// appended without holding all tensors in memory. Tensors must be appended in `order` (the reference
/// writer's order: dtype widest first, then name). Nothing appears at `path` until `commit()`; if the writer
/// is dropped or `abort()`ed, or an append throws, the destination is untouched.
///
/// Layout (as the reference implementation writes it): 8-byte little-endian header length N, N bytes of
/// compact JSON padded with spaces to a multiple of 8, then the tensors' little-endian bytes back to back.
public final class SafeTensorsWriter {
    public struct Entry: Sendable, Equatable {
        public var name: String
        public var dtype: SafeTensorsDType
        public var shape: [Int]
        public init(name: String, dtype: SafeTensorsDType, shape: [Int]) { self.name = name; self.dtype = dtype; self.shape = shape }
    }

    public let path: String
    /// Names in the order they must be appended.
    public let order: [String]
    private let entries: [String: Entry]
    private var next = 0
    private let file: AtomicFile

    public init(path: String, entries: [Entry], metadata: [String: String] = [:]) throws {
        self.path = path
        let (header, order, byName) = try SafeTensorsWriter.layout(entries: entries, metadata: metadata, path: path)
        self.order = order
        self.entries = byName
        do {
            file = try AtomicFile(path: path)
        } catch {
            throw SafeTensorsError(path: path, "cannot create: \(error)")
        }
        try file.write(header)
    }

    /// Appends the next tensor's values (converted to its planned float dtype).
    public func append(name: String, floats: UnsafeBufferPointer<Float>) throws {
        let e = try expectNext(name, count: floats.count)
        guard e.dtype.isFloat else { throw SafeTensorsError(path: path, "tensor \"\(name)\" is \(e.dtype.rawValue); append ints, not floats") }
        try write { sink in SafeTensorsWriter.encode(floats: floats, dtype: e.dtype, sink) }
    }

    public func append(name: String, floats: [Float]) throws {
        try floats.withUnsafeBufferPointer { try append(name: name, floats: $0) }
    }

    /// Appends the next tensor's values (converted to its planned integer dtype; values are truncated to it).
    public func append(name: String, ints: UnsafeBufferPointer<Int64>) throws {
        let e = try expectNext(name, count: ints.count)
        guard e.dtype.isInteger else { throw SafeTensorsError(path: path, "tensor \"\(name)\" is \(e.dtype.rawValue); append floats, not ints") }
        try write { sink in SafeTensorsWriter.encode(ints: ints, dtype: e.dtype, sink) }
    }

    /// Writes the chunks `encode` produces as the next tensor's data; the first write error aborts the file.
    private func write(_ encode: ((UnsafeRawBufferPointer) -> Void) -> Void) throws {
        var failure: Error?
        encode { chunk in
            if failure == nil { do { try file.write(chunk) } catch { failure = error } }
        }
        if let f = failure { abort(); throw f }
        next += 1
    }

    private func expectNext(_ name: String, count: Int) throws -> Entry {
        guard next < order.count else { abort(); throw SafeTensorsError(path: path, "append of \"\(name)\" after all tensors were written") }
        guard order[next] == name else {
            abort()
            throw SafeTensorsError(path: path, "tensors must be appended in order: expected \"\(order[next])\", got \"\(name)\"")
        }
        let e = entries[name]!
        let n = e.shape.reduce(1, *)
        guard n == count else { abort(); throw SafeTensorsError(path: path, "tensor \"\(name)\": shape \(e.shape) needs \(n) values, got \(count)") }
        return e
    }

    /// Finishes the file: fsync, rename into place, fsync the directory.
    public func commit() throws {
        guard next == order.count else {
            abort()
            throw SafeTensorsError(path: path, "commit with \(order.count - next) tensors not written (next: \"\(order[next])\")")
        }
        try file.commit()
    }

    public func abort() { file.abort() }

    // MARK: layout and encoding

    static func layout(entries: [Entry], metadata: [String: String], path: String) throws
        -> (header: [UInt8], order: [String], byName: [String: Entry]) {
        var byName: [String: Entry] = [:]
        for e in entries {
            if e.name == "__metadata__" { throw SafeTensorsError(path: path, "\"__metadata__\" is reserved and cannot name a tensor") }
            if byName[e.name] != nil { throw SafeTensorsError(path: path, "duplicate tensor name \"\(e.name)\"") }
            if e.shape.contains(where: { $0 < 0 }) { throw SafeTensorsError(path: path, "tensor \"\(e.name)\": negative dimension in \(e.shape)") }
            byName[e.name] = e
        }
        let sorted = entries.sorted { a, b in a.dtype != b.dtype ? a.dtype > b.dtype : a.name < b.name }
        var json = "{"
        var first = true
        if !metadata.isEmpty {
            json += "\"__metadata__\":{"
            json += metadata.keys.sorted().map { JSON.quote($0) + ":" + JSON.quote(metadata[$0]!) }.joined(separator: ",")
            json += "}"
            first = false
        }
        var offset = 0
        for e in sorted {
            var numel = 1
            for d in e.shape {
                let (p, o) = numel.multipliedReportingOverflow(by: d)
                if o { throw SafeTensorsError(path: path, "tensor \"\(e.name)\": shape \(e.shape) overflows") }
                numel = p
            }
            let nbytes = numel * e.dtype.size
            if !first { json += "," }
            first = false
            json += JSON.quote(e.name) + ":{\"dtype\":\"\(e.dtype.rawValue)\",\"shape\":["
                + e.shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(offset + nbytes)]}"
            offset += nbytes
        }
        json += "}"
        var hb = Array(json.utf8)
        let pad = (8 - hb.count % 8) % 8
        hb.append(contentsOf: [UInt8](repeating: 0x20, count: pad))
        var out = [UInt8]()
        out.reserveCapacity(8 + hb.count)
        withUnsafeBytes(of: UInt64(hb.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: hb)
        return (out, sorted.map(\.name), byName)
    }

    static let chunkElements = 1 << 16

    /// Encodes floats to `dtype` bytes, handing out chunks.
    static func encode(floats: UnsafeBufferPointer<Float>, dtype: SafeTensorsDType, _ sink: (UnsafeRawBufferPointer) -> Void) {
        let n = floats.count
        guard n > 0, let src = floats.baseAddress else { return }
        #if _endian(little)
        if dtype == .F32 { sink(UnsafeRawBufferPointer(floats)); return }
        #endif
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkElements * 8, alignment: 16)
        defer { buf.deallocate() }
        var start = 0
        while start < n {
            let m = min(chunkElements, n - start)
            switch dtype {
            case .F16:
                for k in 0..<m { buf.storeBytes(of: floatToHalfBits(src[start + k]).littleEndian, toByteOffset: 2 * k, as: UInt16.self) }
            case .BF16:
                for k in 0..<m { buf.storeBytes(of: floatToBFloat16Bits(src[start + k]).littleEndian, toByteOffset: 2 * k, as: UInt16.self) }
            case .F32:
                for k in 0..<m { buf.storeBytes(of: src[start + k].bitPattern.littleEndian, toByteOffset: 4 * k, as: UInt32.self) }
            case .F64:
                for k in 0..<m { buf.storeBytes(of: Double(src[start + k]).bitPattern.littleEndian, toByteOffset: 8 * k, as: UInt64.self) }
            default:
                preconditionFailure("encode(floats:) with \(dtype)")
            }
            sink(UnsafeRawBufferPointer(rebasing: buf[0..<(m * dtype.size)]))
            start += m
        }
    }

    /// Encodes Int64 values to `dtype` bytes (truncating), handing out chunks.
    static func encode(ints: UnsafeBufferPointer<Int64>, dtype: SafeTensorsDType, _ sink: (UnsafeRawBufferPointer) -> Void) {
        let n = ints.count
        guard n > 0, let src = ints.baseAddress else { return }
        let buf = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkElements * 8, alignment: 16)
        defer { buf.deallocate() }
        var start = 0
        while start < n {
            let m = min(chunkElements, n - start)
            for k in 0..<m {
                let v = src[start + k]
                switch dtype {
                case .BOOL: buf.storeBytes(of: v != 0 ? 1 : 0, toByteOffset: k, as: UInt8.self)
                case .U8: buf.storeBytes(of: UInt8(truncatingIfNeeded: v), toByteOffset: k, as: UInt8.self)
                case .I8: buf.storeBytes(of: Int8(truncatingIfNeeded: v), toByteOffset: k, as: Int8.self)
                case .I16: buf.storeBytes(of: Int16(truncatingIfNeeded: v).littleEndian, toByteOffset: 2 * k, as: Int16.self)
                case .U16: buf.storeBytes(of: UInt16(truncatingIfNeeded: v).littleEndian, toByteOffset: 2 * k, as: UInt16.self)
                case .I32: buf.storeBytes(of: Int32(truncatingIfNeeded: v).littleEndian, toByteOffset: 4 * k, as: Int32.self)
                case .U32: buf.storeBytes(of: UInt32(truncatingIfNeeded: v).littleEndian, toByteOffset: 4 * k, as: UInt32.self)
                case .I64: buf.storeBytes(of: v.littleEndian, toByteOffset: 8 * k, as: Int64.self)
                case .U64: buf.storeBytes(of: UInt64(bitPattern: v).littleEndian, toByteOffset: 8 * k, as: UInt64.self)
                default: preconditionFailure("encode(ints:) with \(dtype)")
                }
            }
            sink(UnsafeRawBufferPointer(rebasing: buf[0..<(m * dtype.size)]))
            start += m
        }
    }
}
