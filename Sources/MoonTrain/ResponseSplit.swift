import Foundation

/// Splits a response into its thought part (before `"action":`) and its action part (from `"action":` on), per token,
/// for the PPO log-prob `logp_action + thought_coef × logp_thought`.
public enum ResponseSplit {
    public struct Masks: Equatable, Sendable {
        /// Per token: before the marker.
        public var thought: [Bool]
        /// Per token: the token containing the marker's first byte and everything after.
        public var action: [Bool]
        /// False when the marker was not found: then every token is thought (the SPEC's "treat the whole answer as
        /// thought and flag it").
        public var hasAction: Bool
    }

    /// - Parameters:
    ///   - tokenByteCounts: the number of UTF-8 bytes each response token decodes to, in order (1 per token for the
    ///     byte-level tokenizer; 0 for specials such as `<eos>`, which then belong to the part their position falls in).
    ///   - text: the decoded response; its UTF-8 length must equal the sum of `tokenByteCounts`.
    ///   - marker: matched ASCII-case-insensitively at its first occurrence. Default `"action":`.
    public static func masks(tokenByteCounts: [Int], text: String, marker: String = "\"action\":") throws -> Masks {
        let op = "response_split"
        let bytes = Array(text.utf8)
        guard tokenByteCounts.allSatisfy({ $0 >= 0 }) else { throw TrainError(op, named: "token_byte_counts", "counts must be >= 0") }
        let total = tokenByteCounts.reduce(0, +)
        guard total == bytes.count else {
            throw TrainError(op, named: "token_byte_counts", "they sum to \(total) bytes but the text has \(bytes.count)")
        }
        guard !marker.isEmpty else { throw TrainError(op, named: "marker", "must not be empty") }
        func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b + 32 : b }
        let m = Array(marker.utf8).map(lower), lb = bytes.map(lower)
        var at: Int? = nil
        if lb.count >= m.count {
            for i in 0...(lb.count - m.count) where lb[i] == m[0] && Array(lb[i..<(i + m.count)]) == m { at = i; break }
        }
        guard let cut = at else {
            return Masks(thought: Array(repeating: true, count: tokenByteCounts.count),
                         action: Array(repeating: false, count: tokenByteCounts.count), hasAction: false)
        }
        var thought: [Bool] = [], action: [Bool] = []
        var start = 0
        for c in tokenByteCounts {
            // a token is action when any of its bytes is at or after the cut (zero-length: when its position is)
            let isAction = c == 0 ? start >= cut : start + c > cut
            thought.append(!isAction); action.append(isAction)
            start += c
        }
        return Masks(thought: thought, action: action, hasAction: true)
    }

    /// Byte-level convenience: one token per UTF-8 byte of `text`, plus `trailingSpecials` zero-length tokens
    /// (e.g. 1 for an `<eos>`).
    public static func byteMasks(text: String, trailingSpecials: Int = 0, marker: String = "\"action\":") throws -> Masks {
        try masks(tokenByteCounts: Array(repeating: 1, count: text.utf8.count) + Array(repeating: 0, count: max(0, trailingSpecials)),
                  text: text, marker: marker)
    }
}
