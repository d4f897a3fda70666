/// One message of a conversation.
public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) { self.role = role; self.content = content }
}

/// The chat formats moonlab renders without a Jinja engine, recognised from a checkpoint's template text.
/// Rendering is identical to transformers' `apply_chat_template` with these templates; any other format is
/// supplied by the caller (in Lua: a function).
public enum ChatTemplate: Sendable, Equatable {
    /// `<|im_start|>{role}\n{content}<|im_end|>\n` per message; `<|im_start|>assistant\n` as the generation
    /// prompt. `defaultSystem` is the system message the template writes when the first message is not one
    /// (SmolLM2: "You are a helpful AI assistant named SmolLM, trained by Hugging Face").
    case chatML(defaultSystem: String?)
    /// Llama 3: `<|start_header_id|>{role}<|end_header_id|>\n\n{content, trimmed}<|eot_id|>` per message, BOS first,
    /// `<|start_header_id|>assistant<|end_header_id|>\n\n` as the generation prompt.
    case llama3

    /// The format `template` (Jinja source) writes, or nil when it is not one moonlab recognises.
    public init?(template: String) {
        let t = template
        if t.contains("<|start_header_id|>") && t.contains("<|end_header_id|>") && t.contains("<|eot_id|>") {
            // Llama 3.1+ templates add a dated system header and tool calls: a different format.
            guard !t.contains("Cutting Knowledge"), !t.contains("tools"), !t.contains("ipython") else { return nil }
            self = .llama3
            return
        }
        if t.contains("<|im_start|>") && t.contains("<|im_end|>") {
            // Reasoning templates (Qwen3's <think>) render assistant turns differently.
            guard !t.contains("reasoning_content"), !t.contains("<think>") else { return nil }
            self = .chatML(defaultSystem: Self.defaultSystem(in: t))
            return
        }
        return nil
    }

    /// The literal system message a ChatML template writes when the conversation has none:
    /// the text of a string literal `'<|im_start|>system\n...<|im_end|>...'`, if the template has one.
    static func defaultSystem(in t: String) -> String? {
        let head = "<|im_start|>system"
        var rest = Substring(t)
        while let r = rest.range(of: head) {
            rest = rest[r.upperBound...]
            var body = rest
            if body.hasPrefix("\\n") { body = body.dropFirst(2) } else if body.hasPrefix("\n") { body = body.dropFirst() } else { continue }
            // the literal ends at the first unescaped quote
            var text = ""
            var it = body.makeIterator()
            var closed = false
            while let c = it.next() {
                if c == "\\" {
                    guard let e = it.next() else { break }
                    switch e { case "n": text.append("\n"); case "t": text.append("\t"); default: text.append(e) }
                } else if c == "'" || c == "\"" {
                    closed = true; break
                } else {
                    text.append(c)
                }
            }
            guard closed else { continue }
            if let end = text.range(of: "<|im_end|>") { return String(text[..<end.lowerBound]) }
        }
        return nil
    }

    /// The conversation as the template writes it. `bosToken` is the tokenizer's BOS spelling (Llama 3 starts with it).
    public func render(_ messages: [ChatMessage], addGenerationPrompt: Bool, bosToken: String?) throws -> String {
        guard !messages.isEmpty else { throw TokenizerError.chatTemplate("the conversation is empty") }
        var out = ""
        switch self {
        case let .chatML(defaultSystem):
            for (i, m) in messages.enumerated() {
                if i == 0, m.role != "system", let s = defaultSystem { out += "<|im_start|>system\n\(s)<|im_end|>\n" }
                out += "<|im_start|>\(m.role)\n\(m.content)<|im_end|>\n"
            }
            if addGenerationPrompt { out += "<|im_start|>assistant\n" }
        case .llama3:
            for (i, m) in messages.enumerated() {
                if i == 0 { out += bosToken ?? "" }
                out += "<|start_header_id|>\(m.role)<|end_header_id|>\n\n\(Self.pythonStrip(m.content))<|eot_id|>"
            }
            if addGenerationPrompt { out += "<|start_header_id|>assistant<|end_header_id|>\n\n" }
        }
        return out
    }

    /// Python's `str.strip()` (Jinja's `trim`): drops leading and trailing `str.isspace()` characters.
    static func pythonStrip(_ s: String) -> String {
        func space(_ u: Unicode.Scalar) -> Bool { u.properties.isWhitespace || (0x1C...0x1F).contains(u.value) }
        let v = s.unicodeScalars
        guard let first = v.firstIndex(where: { !space($0) }), let last = v.lastIndex(where: { !space($0) }) else { return "" }
        return String(v[first...last])
    }
}

public extension TextTokenizer {
    /// The format of this tokenizer's chat template, or nil when it has none or one moonlab does not recognise.
    var chatFormat: ChatTemplate? { chatTemplate.flatMap { ChatTemplate(template: $0) } }

    /// Renders `messages` with the checkpoint's chat template (ChatML or Llama 3, recognised from its text).
    func applyChatTemplate(_ messages: [ChatMessage], addGenerationPrompt: Bool) throws -> String {
        guard let t = chatTemplate else { throw TokenizerError.chatTemplate("this tokenizer has no chat template; pass one") }
        guard let f = ChatTemplate(template: t) else {
            throw TokenizerError.chatTemplate("the checkpoint's template is neither ChatML nor Llama 3; pass a template function")
        }
        return try f.render(messages, addGenerationPrompt: addGenerationPrompt, bosToken: bosTokenId.flatMap { token($0) })
    }
}
