/// Parsing a free-text answer into an action, exactly as the original `text_projection` of RL4VLM/GTR:
///  1. lower-case the whole text;
///  2. keep the action part (`AnswerFormat`: from the first `"action"` key followed by a colon, whitespace allowed
///     before the colon; the key included). When the key is missing, the original's `s[s.find(...):]` with index
///     -1 keeps only the last character — reproduced here;
///  3. for the card tasks, if "10" occurs it is an action and every "10" is removed before the search;
///  4. collect the distinct actions that occur as substrings;
///  5. exactly one → that action; none or several → nil (illegal).
/// The search is over Unicode scalars (UTF-8 bytes), like Python's `in` on code points.
public enum ActionParser {
    /// The part of the lower-cased answer the original searches (for inspection and tests).
    public static func actionSegment(_ response: String) -> [UInt8] {
        if let action = AnswerFormat.split(response).action { return Array(action.lowercased().utf8) }
        let lower = Array(response.lowercased().utf8)
        // Python s[-1:]: the last code point (empty for an empty string).
        guard !lower.isEmpty else { return [] }
        var start = lower.count - 1
        while start > 0 && (lower[start] & 0xC0) == 0x80 { start -= 1 }
        return Array(lower[start...])
    }

    /// The parsed action, or nil when the answer names none or several actions.
    public static func parse(_ response: String, actions: [String], cardTask: Bool) -> String? {
        let found = matches(response, actions: actions, cardTask: cardTask)
        return found.count == 1 ? found[0] : nil
    }

    /// All distinct actions found in the answer's action segment (in action-space order).
    public static func matches(_ response: String, actions: [String], cardTask: Bool) -> [String] {
        var seg = actionSegment(response)
        var found: [String] = []
        if cardTask {
            let ten: [UInt8] = [0x31, 0x30]
            if find(seg, ten, from: 0) != nil {
                found.append("10")
                seg = removeAll(seg, ten)
            }
        }
        for a in actions where !found.contains(a) {
            if find(seg, Array(a.lowercased().utf8), from: 0) != nil { found.append(a) }
        }
        return found
    }

    static func find(_ hay: [UInt8], _ needle: [UInt8], from: Int) -> Int? {
        let n = needle.count, h = hay.count
        guard n > 0, h - from >= n else { return n == 0 ? from : nil }
        var i = from
        while i <= h - n {
            if hay[i] == needle[0] {
                var k = 1
                while k < n && hay[i + k] == needle[k] { k += 1 }
                if k == n { return i }
            }
            i += 1
        }
        return nil
    }

    /// Python's str.replace(needle, "") (left to right, non-overlapping).
    static func removeAll(_ hay: [UInt8], _ needle: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(hay.count)
        var i = 0
        while i < hay.count {
            if i + needle.count <= hay.count && Array(hay[i..<(i + needle.count)]) == needle {
                i += needle.count
            } else {
                out.append(hay[i]); i += 1
            }
        }
        return out
    }
}
