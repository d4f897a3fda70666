import XCTest
import Foundation
import MoonTensor
@testable import MoonCheckpoint

func fixturePath(_ sub: String) -> String {
    Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent(sub).path
}

func makeTempDir(_ tag: String = "moonlab-test") -> String {
    let dir = NSTemporaryDirectory() + "\(tag)-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

final class SafeTensorsTests: XCTestCase {
    // MARK: round trip

    func testRoundTripAllDTypes() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/rt.safetensors"
        let f = (0..<24).map { Float($0) * 0.37 - 3 }
        let tensors = [
            NamedTensor(name: "w.f32", shape: [4, 6], floats: f),
            NamedTensor(name: "w.f16", shape: [2, 12], floats: f, dtype: .F16),
            NamedTensor(name: "w.bf16", shape: [24], floats: f, dtype: .BF16),
            NamedTensor(name: "w.f64", shape: [3, 8], floats: f, dtype: .F64),
            NamedTensor(name: "ids", shape: [5], ints: [0, -1, 1 << 40, Int64.max, Int64.min]),
            NamedTensor(name: "i32", shape: [3], ints: [-7, 0, 7], dtype: .I32),
            NamedTensor(name: "flags", shape: [2], ints: [1, 0], dtype: .BOOL),
            NamedTensor(name: "scalar", shape: [], floats: [2.5]),
            NamedTensor(name: "empty", shape: [0, 4], floats: []),
        ]
        try SafeTensors.save(tensors, metadata: ["config": "{\"a\": 1}", "format": "pt"], to: path)
        let file = try SafeTensors.open(path)
        XCTAssertEqual(file.metadata, ["config": "{\"a\": 1}", "format": "pt"])
        XCTAssertEqual(Set(file.names), Set(tensors.map(\.name)))
        XCTAssertEqual(try file.tensor("w.f32"), tensors[0])
        XCTAssertEqual(try file.floats("w.f64"), f)
        XCTAssertEqual(try file.ints("ids"), [0, -1, 1 << 40, Int64.max, Int64.min])
        XCTAssertEqual(try file.ints("i32"), [-7, 0, 7])
        XCTAssertEqual(try file.ints("flags"), [1, 0])
        XCTAssertEqual(try file.floats("scalar"), [2.5])
        XCTAssertEqual(try file.info("scalar").shape, [])
        XCTAssertEqual(try file.floats("empty"), [])
        XCTAssertEqual(try file.info("empty").shape, [0, 4])
        // F16/BF16 are rounded: equal to the exact conversions
        XCTAssertEqual(try file.floats("w.f16"), f.map { halfBitsToFloat(floatToHalfBits($0)) })
        XCTAssertEqual(try file.floats("w.bf16"), f.map { bfloat16BitsToFloat(floatToBFloat16Bits($0)) })
        for (a, b) in zip(try file.floats("w.f16"), f) { XCTAssertEqual(a, b, accuracy: 4e-3) }
        // header length is a multiple of 8, and the serialized image equals the file
        let bytes = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        let n = bytes[0..<8].enumerated().reduce(0) { $0 | (Int($1.element) << (8 * $1.offset)) }
        XCTAssertEqual(n % 8, 0)
        XCTAssertEqual(try SafeTensors.serialize(tensors, metadata: ["config": "{\"a\": 1}", "format": "pt"]), bytes)
        // withFloats lends the same values
        XCTAssertEqual(try file.withFloats("w.f32") { Array($0) }, f)
        XCTAssertEqual(try file.withFloats("w.bf16") { Array($0) }, try file.floats("w.bf16"))
        var streamed: [String] = []
        try file.forEachTensor { streamed.append($0.name) }
        XCTAssertEqual(streamed, file.names)
    }

    func testDeterministicOrderLikeReference() throws {
        let t = [
            NamedTensor(name: "b", shape: [1], floats: [1], dtype: .F16),
            NamedTensor(name: "a", shape: [1], floats: [1], dtype: .F16),
            NamedTensor(name: "z", shape: [1], ints: [1]),
            NamedTensor(name: "c", shape: [1], floats: [1]),
        ]
        let bytes = try SafeTensors.serialize(t)
        let s = String(decoding: bytes[8...], as: UTF8.self)
        let order = ["\"z\"", "\"c\"", "\"a\"", "\"b\""].map { s.range(of: $0)!.lowerBound }
        XCTAssertEqual(order, order.sorted())
    }

    func testHalfConversionsExhaustive() {
        // every half bit pattern converts to Float and back unchanged (NaNs stay NaN)
        for h in 0...UInt16.max {
            let f = halfBitsToFloat(h)
            if f.isNaN { XCTAssertTrue(halfBitsToFloat(floatToHalfBits(f)).isNaN); continue }
            XCTAssertEqual(floatToHalfBits(f), h, "half \(h)")
            let b = UInt16(truncatingIfNeeded: h)
            let bf = bfloat16BitsToFloat(b)
            if !bf.isNaN { XCTAssertEqual(floatToBFloat16Bits(bf), b) }
        }
        // ties to even
        XCTAssertEqual(floatToHalfBits(1 + 1.0 / 2048), 0x3C00)
        XCTAssertEqual(floatToHalfBits(1 + 3.0 / 2048), 0x3C02)
        XCTAssertEqual(floatToHalfBits(70000), 0x7C00)
        XCTAssertEqual(floatToHalfBits(Float.leastNonzeroMagnitude), 0)
        XCTAssertEqual(floatToBFloat16Bits(Float(bitPattern: 0x3F80_8000)), 0x3F80)
        XCTAssertEqual(floatToBFloat16Bits(Float(bitPattern: 0x3F81_8000)), 0x3F82)
    }

    // MARK: Python-written fixtures

    func testReadsPythonFixtures() throws {
        let file = try SafeTensors.open(fixturePath("safetensors/mixed.safetensors"))
        let expected = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixturePath("safetensors/expected.json")))) as! [String: Any]
        XCTAssertEqual(file.metadata, expected["metadata"] as! [String: String])
        let tensors = expected["tensors"] as! [String: [String: Any]]
        XCTAssertEqual(Set(file.names), Set(tensors.keys))
        for (name, spec) in tensors {
            let info = try file.info(name)
            XCTAssertEqual(info.dtype.rawValue, spec["dtype"] as! String, name)
            XCTAssertEqual(info.shape, spec["shape"] as! [Int], name)
            if let bits = spec["f32bits"] as? [NSNumber] {
                let got = try file.floats(name).map(\.bitPattern)
                XCTAssertEqual(got, bits.map { $0.uint32Value }, name)
            } else {
                let ints = (spec["ints"] as! [NSNumber]).map { $0.int64Value }
                XCTAssertEqual(try file.ints(name), ints, name)
            }
        }
        let single = try SafeTensors.open(fixturePath("safetensors/single.safetensors"))
        XCTAssertEqual(try single.floats("a"), [0, 1, 2, 3, 4, 5])
        XCTAssertEqual(try single.ints("b"), [1, 2])
        XCTAssertEqual(single.metadata, ["format": "pt"])
    }

    /// Byte-identical re-serialization of the single-metadata-key fixture.
    func testReserializeMatchesReferenceBytes() throws {
        let path = fixturePath("safetensors/single.safetensors")
        let (tensors, meta) = try SafeTensors.load(path)
        let original = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        XCTAssertEqual(try SafeTensors.serialize(tensors, metadata: meta), original)
    }

    /// Writes files for scripts/make_safetensors_fixtures.py --check (only when MOONLAB_SAFETENSORS_OUT is set).
    func testWriteForPythonCheck() throws {
        guard let out = ProcessInfo.processInfo.environment["MOONLAB_SAFETENSORS_OUT"] else {
            throw XCTSkip("set MOONLAB_SAFETENSORS_OUT to write files for the Python check")
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        for name in ["mixed", "single"] {
            let (t, m) = try SafeTensors.load(fixturePath("safetensors/\(name).safetensors"))
            try SafeTensors.save(t, metadata: m, to: out + "/\(name).safetensors")
        }
        // Float values with awkward rounding, written as F32/F16/BF16/F64.
        var rng = Xoshiro256(seed: 3)
        var vals: [Float] = (0..<4000).map { _ in Float(rng.normal()) * 10 }
        vals += [0, -0, 65504, 65520, 1e-8, 6e-8, 3e-5, -1e30, 1.00048828125, 1.001953125, 3.0e38]
        var spec: [String: Any] = [:]
        var tensors: [NamedTensor] = []
        for (dt, torchName) in [(SafeTensorsDType.F32, "float32"), (.F16, "float16"), (.BF16, "bfloat16"), (.F64, "float64")] {
            let name = "gen.\(dt.rawValue)"
            tensors.append(NamedTensor(name: name, shape: [vals.count], floats: vals, dtype: dt))
            spec[name] = ["f32bits": vals.map(\.bitPattern), "shape": [vals.count], "torch": torchName]
        }
        try SafeTensors.save(tensors, metadata: ["writer": "moonlab"], to: out + "/generated.safetensors")
        try JSONSerialization.data(withJSONObject: spec).write(to: URL(fileURLWithPath: out + "/generated.json"))
    }

    // MARK: validation

    func header(_ json: String, data: [UInt8] = [], lengthOverride: UInt64? = nil) -> [UInt8] {
        let h = Array(json.utf8)
        var out: [UInt8] = []
        withUnsafeBytes(of: (lengthOverride ?? UInt64(h.count)).littleEndian) { out.append(contentsOf: $0) }
        return out + h + data
    }

    func expectError(_ bytes: [UInt8], contains: String, file: StaticString = #filePath, line: UInt = #line) {
        let result = bytes.withUnsafeBytes { raw in Result { try SafeTensorsFile.parseHeader(raw, path: "x.safetensors") } }
        switch result {
        case .success: XCTFail("expected an error containing \"\(contains)\"", file: file, line: line)
        case let .failure(e): XCTAssertTrue("\(e)".contains(contains), "error \"\(e)\" lacks \"\(contains)\"", file: file, line: line)
        }
    }

    func testValidationErrors() throws {
        expectError([1, 2, 3], contains: "shorter than the 8-byte")
        expectError(header("{}", lengthOverride: 1 << 40), contains: "exceeds the limit")
        expectError(header("{}", lengthOverride: 100), contains: "runs past the end")
        expectError(header("[]"), contains: "does not start with '{'")
        expectError(header("{\"a\":"), contains: "not valid JSON")
        expectError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"), contains: "file has 0")
        expectError(header("{\"a\":{\"dtype\":\"F33\",\"shape\":[1],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), contains: "unknown dtype")
        expectError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), contains: "negative")
        expectError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), contains: "needs 8")
        expectError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), contains: "overflows")
        expectError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", data: [0, 0, 0, 0]), contains: "reversed")
        expectError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", data: [UInt8](repeating: 0, count: 8)), contains: "overlaps")
        expectError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", data: [UInt8](repeating: 0, count: 8)), contains: "gap")
        expectError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", data: [UInt8](repeating: 0, count: 8)), contains: "trailing")
        expectError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"a\":{}}", data: [0, 0, 0, 0]), contains: "duplicate key")
        expectError(header("{\"__metadata__\":{\"k\":1}}"), contains: "__metadata__ value")
        expectError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), contains: "non-integer")
        expectError(header("{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", data: [0, 0, 0, 0]), contains: "missing dtype")
        expectError(header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}", data: [0, 0, 0, 0]), contains: "non-integer")
        // a valid one, padded with spaces
        let ok = header("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}   ", data: [0, 0, 128, 63])
        try ok.withUnsafeBytes { raw in
            let p = try SafeTensorsFile.parseHeader(raw, path: "x")
            XCTAssertEqual(p.tensors.map(\.name), ["a"])
        }
    }

    func testOpenErrorsNameTheFile() {
        XCTAssertThrowsError(try SafeTensors.open("/nonexistent/dir/x.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("/nonexistent/dir/x.safetensors"))
        }
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        _ = FileManager.default.createFile(atPath: dir + "/short.safetensors", contents: Data([1, 2]))
        XCTAssertThrowsError(try SafeTensors.open(dir + "/short.safetensors")) { e in
            XCTAssertTrue("\(e)".contains("short.safetensors") && "\(e)".contains("shorter"), "\(e)")
        }
        XCTAssertThrowsError(try SafeTensors.open(fixturePath("safetensors/single.safetensors")).floats("nope")) { e in
            XCTAssertTrue("\(e)".contains("no tensor named \"nope\""))
        }
    }

    /// ~2,000 random truncations and byte flips of a valid file: each parses or throws, never crashes, and
    /// whatever parses can be read completely.
    func testFuzzTruncationsAndFlips() throws {
        let t = [
            NamedTensor(name: "model.embed.weight", shape: [4, 3], floats: (0..<12).map(Float.init)),
            NamedTensor(name: "h", shape: [5], floats: [1, 2, 3, 4, 5], dtype: .F16),
            NamedTensor(name: "bf", shape: [2, 2], floats: [1, 2, 3, 4], dtype: .BF16),
            NamedTensor(name: "ids", shape: [3], ints: [1, 2, 3]),
        ]
        let valid = try SafeTensors.serialize(t, metadata: ["format": "pt", "cfg": "{\"x\":[1,2]}"])
        var rng = Xoshiro256(seed: 42)
        var parsed = 0, rejected = 0
        let dir = makeTempDir("moonlab-fuzz")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for iter in 0..<2000 {
            var bytes = valid
            switch iter % 4 {
            case 0:
                bytes = Array(bytes[0..<Int(rng.next() % UInt64(bytes.count))])
            case 1:
                for _ in 0..<(1 + Int(rng.next() % 3)) {
                    let pos = Int(rng.next() % UInt64(bytes.count))
                    bytes[pos] ^= UInt8(1 << (rng.next() % 8))
                }
            case 2:
                let pos = Int(rng.next() % UInt64(min(bytes.count, 8 + 200)))
                bytes[pos] = UInt8(truncatingIfNeeded: rng.next())
            default:
                let pos = Int(rng.next() % UInt64(bytes.count))
                bytes[pos] = [0x00, 0x7B, 0x7D, 0x22, 0x5C, 0x2D, 0x39, 0xFF, 0x2C, 0x5B][Int(rng.next() % 10)]
                if rng.next() % 2 == 0 { bytes = Array(bytes[0..<max(0, bytes.count - Int(rng.next() % 16))]) }
            }
            // in-memory parse
            let ok: Bool = bytes.withUnsafeBytes { raw in (try? SafeTensorsFile.parseHeader(raw, path: "fuzz")) != nil }
            // and through the file reader every 10th time
            if iter % 10 == 0 {
                let p = dir + "/f\(iter).safetensors"
                _ = FileManager.default.createFile(atPath: p, contents: Data(bytes))
                if let f = try? SafeTensors.open(p) {
                    for name in f.names { _ = try? f.tensor(name) }
                }
                unlink(p)
            }
            if ok {
                parsed += 1
                try bytes.withUnsafeBytes { raw in
                    let h = try SafeTensorsFile.parseHeader(raw, path: "fuzz")
                    for info in h.tensors {
                        XCTAssertLessThanOrEqual(h.dataStart + info.dataOffsets.upperBound, bytes.count)
                    }
                }
            } else {
                rejected += 1
            }
        }
        XCTAssertGreaterThan(rejected, 500)
        XCTAssertGreaterThan(parsed, 50)  // flips in data bytes still parse
    }

    // MARK: AtomicFile

    func testAtomicFileCommitAndAbort() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/run.json"
        try AtomicFile.write(to: path, string: "first")
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "first")
        struct Boom: Error {}
        XCTAssertThrowsError(try AtomicFile.write(to: path) { f in
            try f.write("partial")
            throw Boom()
        })
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "first")
        do {
            let f = try AtomicFile(path: path)
            try f.write(Array(repeating: 7, count: 3 << 20))  // larger than the buffer
            XCTAssertTrue(FileManager.default.fileExists(atPath: f.tempPath))
            f.abort()
            XCTAssertFalse(FileManager.default.fileExists(atPath: f.tempPath))
        }
        let f = try AtomicFile(path: path)
        try f.write("second")
        try f.write(contentsOf: [UInt8](repeating: 1, count: 2 << 20))
        try f.commit()
        XCTAssertEqual(try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int, 6 + (2 << 20))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["run.json"])  // no temp files left
        XCTAssertThrowsError(try AtomicFile.write(to: dir + "/missing/sub/x", string: "y"))
    }

    /// A NUL byte would cut the path short at the C call: every open of the file layer refuses it, and nothing is
    /// created or read at the prefix.
    func testPathsWithANulByteAreRefused() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let prefix = dir + "/prefix"
        try AtomicFile.write(to: dir + "/real.safetensors", bytes: [])
        let hostile = prefix + "\0/../real.safetensors"
        XCTAssertThrowsError(try AtomicFile.write(to: hostile, string: "x")) { XCTAssertTrue("\($0)".contains("NUL byte")) }
        XCTAssertThrowsError(try RegularFile.read(hostile)) { XCTAssertTrue("\($0)".contains("NUL byte")) }
        XCTAssertThrowsError(try SafeTensors.open(dir + "/real.safetensors\0x")) { XCTAssertTrue("\($0)".contains("NUL byte")) }
        XCTAssertThrowsError(try SafeTensorsWriter(path: hostile, entries: []))
        XCTAssertNil(FileKind(path: dir + "\0"))
        XCTAssertEqual(FileKind(path: dir), .directory)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["real.safetensors"])
    }

    func testStreamingWriterOrderAndAbort() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/w.safetensors"
        let w = try SafeTensorsWriter(path: path, entries: [.init(name: "b", dtype: .F32, shape: [2]), .init(name: "a", dtype: .F16, shape: [1])])
        XCTAssertEqual(w.order, ["b", "a"])
        XCTAssertThrowsError(try w.append(name: "a", floats: [1]))  // wrong order aborts
        XCTAssertThrowsError(try w.commit())
        XCTAssertFalse(FileManager.default.fileExists(atPath: path))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
        // a complete write
        let w2 = try SafeTensorsWriter(path: path, entries: [.init(name: "b", dtype: .F32, shape: [2]), .init(name: "a", dtype: .F16, shape: [1])])
        try w2.append(name: "b", floats: [1, 2])
        try w2.append(name: "a", floats: [3])
        try w2.commit()
        XCTAssertEqual(try SafeTensors.open(path).floats("a"), [3])
    }
}

/// Test data from moonlab's generator.
extension Xoshiro256 {
    mutating func normal() -> Double {
        let u1 = max(uniform(), 1e-300), u2 = uniform()
        return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
    }
}
