import Foundation

/// A JSON value with ordered object keys (metrics records and configs keep their key order).
/// Named `TrainJSON` to stay clear of other modules' JSON types.
public indirect enum TrainJSON: Equatable, Sendable {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([TrainJSON])
    /// Members in order (duplicate keys are kept as written; `subscript` returns the last).
    case object([Member])

    public struct Member: Equatable, Sendable {
        public var key: String
        public var value: TrainJSON
        public init(_ key: String, _ value: TrainJSON) { self.key = key; self.value = value }
    }

    /// An object from ordered pairs.
    public static func object(pairs: [(String, TrainJSON)]) -> TrainJSON { .object(pairs.map { Member($0.0, $0.1) }) }

    /// The member `key` of an object (nil otherwise).
    public subscript(key: String) -> TrainJSON? {
        if case .object(let m) = self { return m.last { $0.key == key }?.value }
        return nil
    }

    public var doubleValue: Double? { if case .number(let d) = self { return d }; return nil }
    public var stringValue: String? { if case .string(let s) = self { return s }; return nil }
    public var boolValue: Bool? { if case .bool(let b) = self { return b }; return nil }
    public var arrayValue: [TrainJSON]? { if case .array(let a) = self { return a }; return nil }
    public var members: [Member]? { if case .object(let m) = self { return m }; return nil }

    // MARK: writing

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
        case .number(let d): s += TrainJSON.formatNumber(d)
        case .string(let str): TrainJSON.writeString(str, into: &s)
        case .array(let a):
            if a.isEmpty { s += "[]"; return }
            s += "["
            for (i, v) in a.enumerated() {
                if i > 0 { s += indent == nil ? "," : "," }
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
                TrainJSON.writeString(mem.key, into: &s)
                s += indent == nil ? ":" : ": "
                mem.value.write(into: &s, indent: indent, level: level + 1)
            }
            if let ind = indent { s += "\n" + String(repeating: ind, count: level) }
            s += "}"
        }
    }

    /// Integers without a fraction (`12`), other numbers in the shortest form that reads back exactly; `null` if not finite.
    public static func formatNumber(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d == d.rounded(), Swift.abs(d) < 9.0e15 { return String(Int64(d)) }
        return "\(d)"
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
                if u.value < 0x20 { s += String(format: "\\u%04x", u.value) } else { s.unicodeScalars.append(u) }
            }
        }
        s += "\""
    }

    // MARK: reading

    /// Parses one JSON value (surrounding whitespace allowed). Errors name the byte offset.
    public static func parse(_ text: String) throws -> TrainJSON {
        var p = Parser(bytes: Array(text.utf8))
        p.skipWS()
        let v = try p.value(depth: 0)
        p.skipWS()
        guard p.i == p.bytes.count else { throw p.fail("unexpected trailing characters") }
        return v
    }

    struct Parser {
        let bytes: [UInt8]
        var i = 0

        func fail(_ m: String) -> TrainError { TrainError("json.parse", "\(m) at offset \(i)") }

        mutating func skipWS() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
        }

        mutating func literal(_ word: String, _ v: TrainJSON) throws -> TrainJSON {
            let w = Array(word.utf8)
            guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw fail("invalid literal") }
            i += w.count
            return v
        }

        mutating func value(depth: Int) throws -> TrainJSON {
            guard depth < 512 else { throw fail("nesting too deep") }
            guard i < bytes.count else { throw fail("unexpected end of input") }
            switch bytes[i] {
            case UInt8(ascii: "n"): return try literal("null", .null)
            case UInt8(ascii: "t"): return try literal("true", .bool(true))
            case UInt8(ascii: "f"): return try literal("false", .bool(false))
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "["):
                i += 1; skipWS()
                var a: [TrainJSON] = []
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                while true {
                    skipWS(); a.append(try value(depth: depth + 1)); skipWS()
                    guard i < bytes.count else { throw fail("unterminated array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "{"):
                i += 1; skipWS()
                var m: [Member] = []
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(m) }
                while true {
                    skipWS()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                    let k = try string()
                    skipWS()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1; skipWS()
                    m.append(Member(k, try value(depth: depth + 1))); skipWS()
                    guard i < bytes.count else { throw fail("unterminated object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(m) }
                    throw fail("expected ',' or '}'")
                }
            default: return .number(try number())
            }
        }

        mutating func number() throws -> Double {
            let s = i
            while i < bytes.count, let c = Optional(bytes[i]),
                  (c >= 0x30 && c <= 0x39) || c == UInt8(ascii: "-") || c == UInt8(ascii: "+") || c == UInt8(ascii: ".")
                    || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") { i += 1 }
            guard i > s, let d = Double(String(decoding: bytes[s..<i], as: UTF8.self)) else { i = s; throw fail("invalid value") }
            return d
        }

        mutating func hex4() throws -> UInt32 {
            guard i + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
                throw fail("invalid \\u escape")
            }
            i += 4
            return v
        }

        mutating func string() throws -> String {
            i += 1  // opening quote
            var out = [UInt8]()
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let c = bytes[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[i]; i += 1
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
                    var v = try hex4()
                    if v >= 0xD800 && v < 0xDC00, i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                        i += 2
                        let lo = try hex4()
                        v = 0x10000 + ((v - 0xD800) << 10) + (lo &- 0xDC00)
                    }
                    out.append(contentsOf: Array(String(Unicode.Scalar(v).map(Character.init) ?? "\u{FFFD}").utf8))
                default: throw fail("invalid escape")
                }
            }
            return String(decoding: out, as: UTF8.self)
        }
    }
}
