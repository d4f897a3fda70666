import Foundation

/// Helpers for the answer format: where the thought part ends and the action part begins (for the PPO
/// log-probability split and thought-only SFT/KL), and GTR's well-formedness check (for format rewards).
public enum ResponseFormat {
    static let key: [UInt8] = Array("\"action\":".utf8)

    /// UTF-8 byte offset of the LAST occurrence of `"action":` (case-sensitive), as RL4VLM/GTR locate the
    /// action tokens when scoring an answer; nil when absent. With a byte-level tokenizer this is the token
    /// index where the action part starts (after any prefix tokens).
    public static func actionKeyByteOffset(_ response: String) -> Int? {
        let b = Array(response.utf8)
        let n = key.count
        guard b.count >= n else { return nil }
        var i = b.count - n
        while i >= 0 {
            if b[i] == key[0] && Array(b[i..<(i + n)]) == key { return i }
            i -= 1
        }
        return nil
    }

    /// Split an answer into the thought part (before the last `"action":`) and the action part (from it on).
    /// Without the key, moonlab treats the whole answer as thought and flags it (`hasActionKey` false).
    public static func split(_ response: String) -> (thought: String, action: String, hasActionKey: Bool) {
        guard let off = actionKeyByteOffset(response) else { return (response, "", false) }
        let b = Array(response.utf8)
        return (String(decoding: b[0..<off], as: UTF8.self), String(decoding: b[off...], as: UTF8.self), true)
    }

    /// Keys the task's prompt asks for.
    public static func requiredKeys(env name: String) -> [String] {
        switch EnvRegistry.canonicalName(name) {
        case "NumberLine": return ["current number", "target number", "thoughts", "action"]
        case "EZPoints", "Points24": return ["cards", "current formula", "thoughts", "action"]
        default: return ["thoughts", "action"]
        }
    }

    public struct Check: Sendable {
        /// The answer is a JSON object (optionally wrapped in <s>...</s> or surrounding text) with every required key.
        public var wellFormed: Bool
        /// Its "action" value is a string naming exactly one action of the task.
        public var actionValid: Bool
        public var missingKeys: [String]
        /// The object's string values (other values re-encoded as JSON text).
        public var fields: [String: String]
    }

    /// GTR-style format check (GTR gives +3 / −2 on Points24 from this; the reward itself is the trainer's choice).
    public static func check(_ response: String, env name: String, actions: [String]) -> Check {
        let required = requiredKeys(env: name)
        var text = response.trimmingCharacters(in: .whitespacesAndNewlines)
        if text.hasPrefix("<s>") { text = String(text.dropFirst(3)) }
        if text.hasSuffix("</s>") { text = String(text.dropLast(4)) }
        text = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard let data = text.data(using: .utf8),
              let obj = (try? JSONSerialization.jsonObject(with: data, options: [])) as? [String: Any] else {
            return Check(wellFormed: false, actionValid: false, missingKeys: required, fields: [:])
        }
        var fields: [String: String] = [:]
        for (k, v) in obj {
            if let s = v as? String { fields[k] = s } else if let d = try? JSONSerialization.data(withJSONObject: v, options: [.fragmentsAllowed]) {
                fields[k] = String(decoding: d, as: UTF8.self)
            }
        }
        let missing = required.filter { obj[$0] == nil }
        var actionValid = false
        if let a = obj["action"] as? String {
            actionValid = actions.contains(a.lowercased()) || actions.contains(a)
        }
        return Check(wellFormed: missing.isEmpty, actionValid: actionValid, missingKeys: missing, fields: fields)
    }
}
