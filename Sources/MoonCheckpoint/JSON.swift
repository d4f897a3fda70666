import Foundation

/// moonlab's one JSON type: safetensors headers, run configs, metrics records and every JSON string moonlab writes.
///
/// Parsing is strict (RFC 8259): the grammar exactly, no trailing data, no raw control characters in strings, valid
/// UTF-8 and surrogate pairs, finite numbers, unique object keys, nesting at most `maxDepth`. It never traps on bad
/// input: every problem is a thrown `JSONError` with its byte offset. Objects keep their key order.
///
///     let v = try JSON.parse(#"{"lr": 0.001, "tags": ["a"]}"#)
///     v["lr"]?.doubleValue            // 0.001
///     JSON.object(pairs: [("a", .number(1))]).serialized()   // {"a":1}
///     JSON.quote("a\"b")              // "\"a\\\"b\"" — the one string escaper
public indirect enum JSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSON])
    /// Members in order; keys are unique (the parser rejects duplicates).
    case object([Member])

    public struct Member: Equatable, Sendable {
        public var key: String
        public var value: JSON
        public init(_ key: String, _ value: JSON) { self.key = key; self.value = value }
    }

    /// The deepest nesting `parse` accepts.
    public static let maxDepth = 512

    /// An object from ordered pairs.
    public static func object(pairs: [(String, JSON)]) -> JSON { .object(pairs.map { Member($0.0, $0.1) }) }

    /// The member `key` of an object (nil otherwise).
    public subscript(key: String) -> JSON? {
        if case .object(let m) = self { return m.last { $0.key == key }?.value }
        return nil
    }

    public var doubleValue: Double? { if case .number(let d) = self { return d }; return nil }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a }; return nil }
    public var members: [Member]? { if case .object(let m) = self { return m }; return nil }

    /// The JSON name of the value's type ("object", "array", "string", "number", "boolean", "null").
    public var typeName: String {
        switch self {
        case .object: return "object"
        case .array: return "array"
        case .string: return "string"
        case .number: return "number"
        case .bool: return "boolean"
        case .null: return "null"
        }
    }
}

/// Why a text is not JSON: the byte offset and what was wrong there.
public struct JSONError: Error, CustomStringConvertible, Equatable, Sendable {
    public let offset: Int
    public let message: String
    public init(offset: Int, message: String) { self.offset = offset; self.message = message }
    public var description: String { "invalid JSON at offset \(offset): \(message)" }
}

// MARK: - Writing

extension JSON {
    /// Compact single-line JSON. Non-finite numbers are written as `null` (JSON has no NaN/Infinity).
    public func serialized() -> String {
        var s = ""
        write(into: &s, indent: nil, level: 0)
        return s
    }

    /// Indented JSON (2 spaces), ending without a newline.
    public func pretty() -> String {
        var s = ""
        write(into: &s, indent: "  ", level: 0)
        return s
    }

    func write(into s: inout String, indent: String?, level: Int) {
        switch self {
        case .null: s += "null"
        case .bool(let b): s += b ? "true" : "false"
        case .number(let d): s += JSON.formatNumber(d)
        case .string(let str): JSON.writeString(str, into: &s)
        case .array(let a):
            if a.isEmpty { s += "[]"; return }
            s += "["
            for (i, v) in a.enumerated() {
                if i > 0 { s += "," }
                if let ind = indent { s += "\n" + String(repeating: ind, count: level + 1) }
                v.write(into: &s, indent: indent, level: level + 1)
            }
            if let ind = indent { s += "\n" + String(repeating: ind, count: level) }
            s += "]"
        case .object(let m):
            if m.isEmpty { s += "{}"; return }
            s += "{"
            for (i, mem) in m.enumerated() {
                if i > 0 { s += "," }
                if let ind = indent { s += "\n" + String(repeating: ind, count: level + 1) }
                JSON.writeString(mem.key, into: &s)
                s += indent == nil ? ":" : ": "
                mem.value.write(into: &s, indent: indent, level: level + 1)
            }
            if let ind = indent { s += "\n" + String(repeating: ind, count: level) }
            s += "}"
        }
    }

    /// Integers without a fraction (`12`), other numbers in the shortest form that reads back exactly; `null` if not
    /// finite.
    public static func formatNumber(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), Swift.abs(d) < 9.0e15 { return String(Int64(d)) }
        return "\(d)"
    }

    /// `str` as a JSON string literal, quotes included: `"`, `\` and control characters escaped (`\n \r \t \b \f`, the
    /// rest as `\u00XX`), everything else as UTF-8.
    public static func quote(_ str: String) -> String {
        var s = ""
        writeString(str, into: &s)
        return s
    }

    static func writeString(_ str: String, into s: inout String) {
        s += "\""
        for u in str.unicodeScalars {
            switch u {
            case "\"": s += "\\\""
            case "\\": s += "\\\\"
            case "\n": s += "\\n"
            case "\r": s += "\\r"
            case "\t": s += "\\t"
            case "\u{08}": s += "\\b"
            case "\u{0C}": s += "\\f"
            default:
                if u.value < 0x20 {
                    let h = String(u.value, radix: 16)
                    s += "\\u" + String(repeating: "0", count: 4 - h.count) + h
                } else {
                    s.unicodeScalars.append(u)
                }
            }
        }
        s += "\""
    }
}

// MARK: - Reading

extension JSON {
    /// Parses one complete JSON text (whitespace around the value allowed, nothing else).
    public static func parse(_ text: String) throws -> JSON {
        var t = text
        return try t.withUTF8 { try parse(bytes: $0) }
    }

    /// Parses one complete JSON text given as UTF-8 bytes.
    public static func parse(bytes: UnsafeBufferPointer<UInt8>) throws -> JSON {
        var p = Parser(bytes: bytes)
        p.skipWhitespace()
        let v = try p.parseValue(depth: 0)
        p.skipWhitespace()
        if p.i != bytes.count { throw p.fail("unexpected trailing data after the value") }
        return v
    }

    /// Parses one complete JSON text given as UTF-8 bytes.
    public static func parse(bytes: [UInt8]) throws -> JSON {
        try bytes.withUnsafeBufferPointer { try parse(bytes: $0) }
    }

    struct Parser {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        func fail(_ msg: String) -> JSONError { JSONError(offset: i, message: msg) }

        mutating func skipWhitespace() {
            while i < bytes.count {
                let c = bytes[i]
                if c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { i += 1 } else { break }
            }
        }

        mutating func expect(_ c: UInt8) throws {
            guard i < bytes.count, bytes[i] == c else { throw fail("expected '\(Character(Unicode.Scalar(c)))'") }
            i += 1
        }

        mutating func parseValue(depth: Int) throws -> JSON {
            if depth > JSON.maxDepth { throw fail("nesting deeper than \(JSON.maxDepth)") }
            guard i < bytes.count else { throw fail("unexpected end of input") }
            switch bytes[i] {
            case UInt8(ascii: "{"): return try parseObject(depth: depth)
            case UInt8(ascii: "["): return try parseArray(depth: depth)
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
            default: throw fail("unexpected character 0x\(String(bytes[i], radix: 16))")
            }
        }

        mutating func literal(_ s: StaticString) throws {
            let n = s.utf8CodeUnitCount
            guard i + n <= bytes.count else { throw fail("unexpected end of input") }
            let p = s.utf8Start
            for k in 0..<n where bytes[i + k] != p[k] { throw fail("invalid literal") }
            i += n
        }

        mutating func parseObject(depth: Int) throws -> JSON {
            try expect(UInt8(ascii: "{"))
            var out: [Member] = []
            var seen = Set<String>()
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(out) }
            while true {
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                let keyAt = i
                let key = try parseString()
                if !seen.insert(key).inserted { throw JSONError(offset: keyAt, message: "duplicate key \"\(key)\"") }
                skipWhitespace()
                try expect(UInt8(ascii: ":"))
                skipWhitespace()
                out.append(Member(key, try parseValue(depth: depth + 1)))
                skipWhitespace()
                guard i < bytes.count else { throw fail("unexpected end of input in object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(out) }
                throw fail("expected ',' or '}'")
            }
        }

        mutating func parseArray(depth: Int) throws -> JSON {
            try expect(UInt8(ascii: "["))
            var out: [JSON] = []
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
            while true {
                skipWhitespace()
                out.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard i < bytes.count else { throw fail("unexpected end of input in array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
                throw fail("expected ',' or ']'")
            }
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = bytes[i]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw fail("invalid hex digit in \\u escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        mutating func parseString() throws -> String {
            try expect(UInt8(ascii: "\""))
            var out: [UInt8] = []
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let c = bytes[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c < 0x20 { throw fail("control character in string") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if scalar >= 0xD800 && scalar < 0xDC00 {
                        guard i + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate in \\u escape")
                        }
                        i += 2
                        let lo = try hex4()
                        guard lo >= 0xDC00 && lo < 0xE000 else { throw fail("invalid low surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (lo - 0xDC00)
                    } else if scalar >= 0xDC00 && scalar < 0xE000 {
                        throw fail("unpaired low surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("invalid unicode scalar") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw fail("invalid escape")
                }
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
            return s
        }

        @inline(__always) func isDigit(_ k: Int) -> Bool {
            k < bytes.count && bytes[k] >= UInt8(ascii: "0") && bytes[k] <= UInt8(ascii: "9")
        }

        mutating func parseNumber() throws -> Double {
            let start = i
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard isDigit(i) else { throw fail("invalid number") }
            if bytes[i] == UInt8(ascii: "0") { i += 1 } else { while isDigit(i) { i += 1 } }
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                guard isDigit(i) else { throw fail("invalid fraction") }
                while isDigit(i) { i += 1 }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                guard isDigit(i) else { throw fail("invalid exponent") }
                while isDigit(i) { i += 1 }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
            guard let d = Double(text), d.isFinite else { throw JSONError(offset: start, message: "number out of range") }
            return d
        }
    }
}
