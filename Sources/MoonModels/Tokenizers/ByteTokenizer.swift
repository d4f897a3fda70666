/// moonlab's byte-level tokenizer: ids 0...255 are the UTF-8 bytes, followed by the special tokens
/// `<bos>` 256, `<eos>` 257, `<pad>` 258, `<image>` 259 (vocabulary 260). No vocabulary files.
public struct ByteTokenizer: Sendable, Equatable {
    public static let bos = 256
    public static let eos = 257
    public static let pad = 258
    public static let image = 259
    public static let vocabSize = 260
    public static let specialTokens: [(String, Int)] = [("<bos>", bos), ("<eos>", eos), ("<pad>", pad), ("<image>", image)]

    public var vocabSize: Int { Self.vocabSize }
    public var bosId: Int { Self.bos }
    public var eosId: Int { Self.eos }
    public var padId: Int { Self.pad }
    public var imageId: Int { Self.image }

    public init() {}

    /// The UTF-8 bytes of `text` as ids, optionally preceded by `<bos>` and followed by `<eos>`. Special
    /// token spellings inside `text` are plain bytes (never parsed into specials), so user text cannot inject them.
    public func encode(_ text: String, addBos: Bool = false, addEos: Bool = false) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count + 2)
        if addBos { ids.append(Self.bos) }
        for b in text.utf8 { ids.append(Int(b)) }
        if addEos { ids.append(Self.eos) }
        return ids
    }

    /// Decodes ids to text. Byte runs are decoded as UTF-8 with invalid sequences replaced by U+FFFD (never
    /// fails). Specials are dropped when `skipSpecial` (default), else written as their spellings; ids outside
    /// the vocabulary are dropped when skipping, else written as U+FFFD.
    public func decode(_ ids: [Int], skipSpecial: Bool = true) -> String {
        var out = ""
        var bytes: [UInt8] = []
        func flush() {
            if !bytes.isEmpty { out += String(decoding: bytes, as: UTF8.self); bytes.removeAll(keepingCapacity: true) }
        }
        for id in ids {
            if id >= 0 && id < 256 { bytes.append(UInt8(id)); continue }
            flush()
            if skipSpecial { continue }
            if let s = Self.name(of: id) { out += s } else { out += "\u{FFFD}" }
        }
        flush()
        return out
    }

    /// The id of a special token spelling such as "<eos>", or nil.
    public func specialId(_ spelling: String) -> Int? { Self.specialTokens.first { $0.0 == spelling }?.1 }

    /// The spelling of a special id, or nil.
    public static func name(of id: Int) -> String? { specialTokens.first { $0.1 == id }?.0 }

    public func isSpecial(_ id: Int) -> Bool { id >= 256 && id < Self.vocabSize }

    /// A printable form of one id (bytes as characters where printable ASCII, else `<0xNN>`).
    public func describe(_ id: Int) -> String {
        if let s = Self.name(of: id) { return s }
        if id >= 0x20 && id < 0x7F { return String(UnicodeScalar(UInt8(id))) }
        if id >= 0 && id < 256 { return "<0x" + (id < 16 ? "0" : "") + String(id, radix: 16, uppercase: true) + ">" }
        return "<unk:\(id)>"
    }
}

/// The tiny default policy's tokenizer (kept under its old name; `TextTokenizer` is the interface).
public typealias Tokenizer = ByteTokenizer

extension ByteTokenizer: TextTokenizer {
    public var bosTokenId: Int? { Self.bos }
    public var eosTokenId: Int? { Self.eos }
    public var padTokenId: Int? { Self.pad }
    public var unkTokenId: Int? { nil }
    public var addedTokens: [AddedToken] { Self.specialTokens.map { AddedToken(content: $0.0, id: $0.1, special: true) } }
    public var chatTemplate: String? { nil }

    /// `addSpecialTokens` adds `<bos>` (as the policy's prompts have); `parseSpecial` turns the spellings
    /// `<bos>` `<eos>` `<pad>` `<image>` in `text` into their ids.
    public func encode(_ text: String, addSpecialTokens: Bool, parseSpecial: Bool) -> [Int] {
        guard parseSpecial else { return encode(text, addBos: addSpecialTokens) }
        var ids: [Int] = addSpecialTokens ? [Self.bos] : []
        let bytes = Array(text.utf8)
        var i = 0
        outer: while i < bytes.count {
            if bytes[i] == UInt8(ascii: "<") {
                for (s, id) in Self.specialTokens {
                    let u = Array(s.utf8)
                    if i + u.count <= bytes.count, Array(bytes[i..<i + u.count]) == u { ids.append(id); i += u.count; continue outer }
                }
            }
            ids.append(Int(bytes[i])); i += 1
        }
        return ids
    }

    public func tokenId(_ token: String) -> Int? {
        if let id = specialId(token) { return id }
        let u = Array(token.utf8)
        return u.count == 1 ? Int(u[0]) : nil
    }

    /// Bytes 0x20...0x7E as their character, other bytes as `<0xNN>`, specials as their spelling.
    public func token(_ id: Int) -> String? { id >= 0 && id < Self.vocabSize ? describe(id) : nil }
}
