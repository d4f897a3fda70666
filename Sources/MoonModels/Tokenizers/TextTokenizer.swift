/// A token the tokenizer matches whole in the text before pre-tokenization (Hugging Face's "added tokens").
/// `special` tokens (`<|im_end|>`) are dropped by `decode(_:skipSpecial: true)`; the flags follow
/// `tokenizers`' `AddedToken`: `lstrip`/`rstrip` also swallow the whitespace before/after a match,
/// `singleWord` only matches when not inside a word, `normalized` tokens are matched after normalization.
public struct AddedToken: Sendable, Equatable {
    public var content: String
    public var id: Int
    public var special: Bool
    public var lstrip: Bool
    public var rstrip: Bool
    public var singleWord: Bool
    public var normalized: Bool

    public init(content: String, id: Int, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
                singleWord: Bool = false, normalized: Bool = false) {
        self.content = content; self.id = id; self.special = special
        self.lstrip = lstrip; self.rstrip = rstrip; self.singleWord = singleWord; self.normalized = normalized
    }
}

/// What every moonlab tokenizer offers: text <-> ids, the vocabulary, its special ids and added tokens, and the
/// checkpoint's chat template. `ByteTokenizer` (the tiny default policy's) and `BPETokenizer` (real models) conform.
public protocol TextTokenizer: Sendable {
    /// Number of ids (the largest id + 1, added tokens included).
    var vocabSize: Int { get }
    var bosTokenId: Int? { get }
    var eosTokenId: Int? { get }
    var padTokenId: Int? { get }
    var unkTokenId: Int? { get }
    /// Tokens matched whole in text before pre-tokenization, specials included, by id.
    var addedTokens: [AddedToken] { get }
    /// The checkpoint's chat template text (Jinja source), if it has one.
    var chatTemplate: String? { get }

    /// The ids of `text`. `addSpecialTokens` adds what the checkpoint adds around a sequence (e.g. BOS);
    /// `parseSpecial` matches added/special token spellings in `text` (Hugging Face's default) instead of
    /// encoding them as plain text.
    func encode(_ text: String, addSpecialTokens: Bool, parseSpecial: Bool) -> [Int]
    /// The text of `ids`; special tokens are dropped when `skipSpecial`. Ids outside the vocabulary are dropped.
    /// Invalid UTF-8 is replaced by U+FFFD per maximal invalid subsequence.
    func decode(_ ids: [Int], skipSpecial: Bool) -> String
    /// The id of a token spelled as the vocabulary spells it (`Ġthe` for a byte-level BPE), or nil.
    func tokenId(_ token: String) -> Int?
    /// The vocabulary spelling of `id`, or nil when out of range.
    func token(_ id: Int) -> String?
    /// Whether `id` is a special token (dropped by `decode(_:skipSpecial: true)`).
    func isSpecial(_ id: Int) -> Bool
}

public extension TextTokenizer {
    /// The special tokens (spelling, id), in id order.
    var specialTokens: [AddedToken] { addedTokens.filter(\.special) }
}

/// Why a tokenizer could not be built or used.
public enum TokenizerError: Error, CustomStringConvertible, Sendable {
    /// The tokenizer description (tokenizer.json, GGUF metadata) is malformed or unsupported; `what` says where.
    case invalid(source: String, what: String)
    /// A chat template could not be applied.
    case chatTemplate(String)

    public var description: String {
        switch self {
        case let .invalid(source, what): return "tokenizer \(source): \(what)"
        case let .chatTemplate(m): return "chat template: \(m)"
        }
    }
    public var localizedDescription: String { description }
}
