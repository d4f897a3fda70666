/// A checkpoint's tokenizer description as llama.cpp stores it (`tokenizer.ggml.*` and `tokenizer.chat_template`):
/// everything a BPE tokenizer needs, gathered in one place. Built from GGUF metadata, written back by the GGUF writer.
public struct TokenizerMetadata: Sendable, Equatable {
    /// `tokenizer.ggml.model`: "gpt2" (byte-level BPE), "llama" (SentencePiece), ...
    public var model: String
    /// `tokenizer.ggml.pre`: the pre-tokenizer split ("smollm", "llama-bpe", "qwen2", "gpt-2", ...), nil when absent.
    public var pre: String?
    /// Token spellings by id.
    public var tokens: [String]
    /// Merge rules "left right" in priority order (BPE only).
    public var merges: [String]
    /// Token types by id (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte); empty when absent.
    public var tokenTypes: [Int]
    /// SentencePiece scores by id; empty when absent.
    public var scores: [Float]
    public var bosId: Int?
    public var eosId: Int?
    public var unknownId: Int?
    public var paddingId: Int?
    public var addBos: Bool?
    public var addEos: Bool?
    public var chatTemplate: String?

    public init(model: String, pre: String? = nil, tokens: [String], merges: [String] = [], tokenTypes: [Int] = [],
                scores: [Float] = [], bosId: Int? = nil, eosId: Int? = nil, unknownId: Int? = nil, paddingId: Int? = nil,
                addBos: Bool? = nil, addEos: Bool? = nil, chatTemplate: String? = nil) {
        self.model = model; self.pre = pre; self.tokens = tokens; self.merges = merges; self.tokenTypes = tokenTypes
        self.scores = scores; self.bosId = bosId; self.eosId = eosId; self.unknownId = unknownId; self.paddingId = paddingId
        self.addBos = addBos; self.addEos = addEos; self.chatTemplate = chatTemplate
    }

    /// Reads the `tokenizer.*` keys of GGUF metadata; nil when the file has no `tokenizer.ggml.model`.
    /// Throws when present keys have the wrong types or ids fall outside the vocabulary.
    public static func fromGGUF(_ m: [String: GGUFValue], path: String = "<gguf>") throws -> TokenizerMetadata? {
        guard let mv = m["tokenizer.ggml.model"] else { return nil }
        func bad(_ k: String, _ why: String) -> GGUFError { GGUFError(path: path, "\(k): \(why)") }
        guard let model = mv.stringValue else { throw bad("tokenizer.ggml.model", "expected a string") }
        func strings(_ k: String) throws -> [String] {
            guard let v = m[k] else { return [] }
            guard case let .array(t, items) = v, t == .string || items.isEmpty else { throw bad(k, "expected an array of strings") }
            return items.map { $0.stringValue ?? "" }
        }
        let tokens = try strings("tokenizer.ggml.tokens")
        guard !tokens.isEmpty else { throw bad("tokenizer.ggml.tokens", "missing or empty") }
        var types: [Int] = []
        if let v = m["tokenizer.ggml.token_type"] {
            guard case let .array(_, items) = v, items.allSatisfy({ $0.intValue != nil }) else { throw bad("tokenizer.ggml.token_type", "expected an array of integers") }
            types = items.map { $0.intValue! }
            guard types.count == tokens.count else { throw bad("tokenizer.ggml.token_type", "has \(types.count) entries for \(tokens.count) tokens") }
        }
        var scores: [Float] = []
        if let v = m["tokenizer.ggml.scores"] {
            guard case let .array(_, items) = v, items.allSatisfy({ $0.doubleValue != nil }) else { throw bad("tokenizer.ggml.scores", "expected an array of numbers") }
            scores = items.map { Float($0.doubleValue!) }
            guard scores.count == tokens.count else { throw bad("tokenizer.ggml.scores", "has \(scores.count) entries for \(tokens.count) tokens") }
        }
        func id(_ k: String) throws -> Int? {
            guard let v = m[k] else { return nil }
            guard let i = v.intValue else { throw bad(k, "expected an integer") }
            guard i >= 0 && i < tokens.count else { throw bad(k, "id \(i) is outside the vocabulary (\(tokens.count) tokens)") }
            return i
        }
        func flag(_ k: String) throws -> Bool? {
            guard let v = m[k] else { return nil }
            guard let b = v.boolValue else { throw bad(k, "expected a bool") }
            return b
        }
        var pre: String?
        if let v = m["tokenizer.ggml.pre"] { guard let s = v.stringValue else { throw bad("tokenizer.ggml.pre", "expected a string") }; pre = s }
        var tpl: String?
        if let v = m["tokenizer.chat_template"] { guard let s = v.stringValue else { throw bad("tokenizer.chat_template", "expected a string") }; tpl = s }
        return TokenizerMetadata(model: model, pre: pre, tokens: tokens, merges: try strings("tokenizer.ggml.merges"), tokenTypes: types,
                                 scores: scores, bosId: try id("tokenizer.ggml.bos_token_id"), eosId: try id("tokenizer.ggml.eos_token_id"),
                                 unknownId: try id("tokenizer.ggml.unknown_token_id"), paddingId: try id("tokenizer.ggml.padding_token_id"),
                                 addBos: try flag("tokenizer.ggml.add_bos_token"), addEos: try flag("tokenizer.ggml.add_eos_token"),
                                 chatTemplate: tpl)
    }

    /// The GGUF metadata entries describing this tokenizer (llama.cpp's key names and types).
    public func ggufEntries() -> [(String, GGUFValue)] {
        var out: [(String, GGUFValue)] = [("tokenizer.ggml.model", .string(model))]
        if let p = pre { out.append(("tokenizer.ggml.pre", .string(p))) }
        out.append(("tokenizer.ggml.tokens", .array(.string, tokens.map { .string($0) })))
        if !scores.isEmpty { out.append(("tokenizer.ggml.scores", .array(.float32, scores.map { .float32($0) }))) }
        if !tokenTypes.isEmpty { out.append(("tokenizer.ggml.token_type", .array(.int32, tokenTypes.map { .int32(Int32(clamping: $0)) }))) }
        if !merges.isEmpty { out.append(("tokenizer.ggml.merges", .array(.string, merges.map { .string($0) }))) }
        for (k, v) in [("bos", bosId), ("eos", eosId), ("unknown", unknownId), ("padding", paddingId)] {
            if let v { out.append(("tokenizer.ggml.\(k)_token_id", .uint32(UInt32(v)))) }
        }
        if let b = addBos { out.append(("tokenizer.ggml.add_bos_token", .bool(b))) }
        if let b = addEos { out.append(("tokenizer.ggml.add_eos_token", .bool(b))) }
        if let t = chatTemplate { out.append(("tokenizer.chat_template", .string(t))) }
        return out
    }
}
