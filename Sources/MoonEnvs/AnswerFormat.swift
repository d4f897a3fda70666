/// The one rule that splits an agent's answer (`{"thoughts": "...", "action": "..."}`) into its thought part and
/// its action part. Every reader uses it: the envs' parsers (`ActionParser`, the household env), the scoring masks
/// PPO trains on (`Scoring.actionStart`, MoonModels) and the Lua stdlib (`moon.env.split_answer`, used by
/// `gtr/guidance.lua` and `gtr/core.lua`), so the reward and the masks always agree on where the action starts.
///
/// The rule: the action part starts at the first `"action"` (ASCII letters in any case) followed by optional
/// whitespace (space, tab, CR, LF) and a colon; everything before it is the thought part. Without such a key the
/// whole answer is thought and there is no action part.
///
/// The original RL4VLM/GTR parser matched the exact lower-cased `"action":`; this rule accepts that and, in addition,
/// whitespace before the colon (`"action" : "+"` is an action, as JSON allows).
public enum AnswerFormat {
    private static let key: [UInt8] = Array("\"action\"".utf8)

    /// Byte offset (into `bytes`) of the opening quote of the first action key, or nil. Elements are bytes; values
    /// outside 0...255 (special tokens in a byte vocabulary) never match.
    public static func actionStart<C: RandomAccessCollection>(in bytes: C) -> Int? where C.Element: BinaryInteger, C.Index == Int {
        actionKey(in: bytes)?.lowerBound
    }

    /// Offsets of the first action key, from its opening quote to just past its colon, or nil.
    public static func actionKey<C: RandomAccessCollection>(in bytes: C) -> Range<Int>? where C.Element: BinaryInteger, C.Index == Int {
        let n = bytes.count, k = key.count
        guard n > k else { return nil }
        var i = bytes.startIndex
        let end = bytes.endIndex
        while i + k < end {
            if bytes[i] == 0x22 {
                var j = 1
                while j < k, let b = UInt8(exactly: bytes[i + j]), lower(b) == key[j] { j += 1 }
                if j == k {
                    var p = i + k
                    while p < end, let b = UInt8(exactly: bytes[p]), b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { p += 1 }
                    if p < end && bytes[p] == 0x3A { return (i - bytes.startIndex)..<(p + 1 - bytes.startIndex) }
                }
            }
            i += 1
        }
        return nil
    }

    /// Byte offset (UTF-8) of the action part of `answer`, or nil.
    public static func actionStart(_ answer: String) -> Int? {
        if let r = answer.utf8.withContiguousStorageIfAvailable({ actionStart(in: $0) }) { return r }
        return actionStart(in: Array(answer.utf8))
    }

    /// (thoughts, action): the answer split by the rule; `action` is nil (and `thoughts` the whole answer) without
    /// an action key. The split is at a byte offset on an ASCII quote, so both parts are valid UTF-8.
    public static func split(_ answer: String) -> (thoughts: String, action: String?) {
        guard let at = actionStart(answer) else { return (answer, nil) }
        let u = answer.utf8, i = u.index(u.startIndex, offsetBy: at)
        return (String(decoding: u[..<i], as: UTF8.self), String(decoding: u[i...], as: UTF8.self))
    }

    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b | 0x20 : b }
}
