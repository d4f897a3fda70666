import MoonCheckpoint

/// Building a `BPETokenizer` from the arrays a GGUF file's `tokenizer.ggml.*` metadata holds.
extension BPETokenizer {
    /// A tokenizer from GGUF tokenizer metadata, read as transformers reads it (`gguf_tokenizer_mapping.py`):
    /// `tokens` (`tokenizer.ggml.tokens`, by id, spelled in the byte alphabet), `merges` ("a b", best first),
    /// `tokenTypes` (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte): control tokens become
    /// special added tokens, user-defined ones plain added tokens; `model` (`tokenizer.ggml.model`, "gpt2");
    /// `pre` (`tokenizer.ggml.pre`: "gpt2", "llama-bpe", "qwen2", "smollm", ... see `PreTokenizer`);
    /// the special ids; `addBos`/`addEos` (`tokenizer.ggml.add_bos_token`/`add_eos_token`); the chat template.
    public convenience init(tokens: [String], merges: [String], tokenTypes: [Int]?, model: String, pre: String?,
                            bosId: Int?, eosId: Int?, unkId: Int?, padId: Int?, addBos: Bool, addEos: Bool,
                            chatTemplate: String?, source: String = "GGUF metadata") throws {
        func bad(_ what: String) -> TokenizerError { .invalid(source: source, what: what) }
        guard model == "gpt2" else {
            throw bad("tokenizer.ggml.model \"\(model)\" is not supported (moonlab reads byte-level BPE, \"gpt2\")")
        }
        guard let split = PreTokenizer(ggmlName: pre) else {
            throw bad("tokenizer.ggml.pre \"\(pre ?? "")\" is not supported (supported: gpt2, llama-bpe/llama3, qwen2, smollm and their aliases)")
        }
        guard !tokens.isEmpty else { throw bad("tokenizer.ggml.tokens is empty") }
        if let tokenTypes, tokenTypes.count != tokens.count {
            throw bad("tokenizer.ggml.token_type has \(tokenTypes.count) entries for \(tokens.count) tokens")
        }
        for (name, id) in [("bos", bosId), ("eos", eosId), ("unknown", unkId), ("padding", padId)] {
            if let id, id < 0 || id >= tokens.count { throw bad("tokenizer.ggml.\(name)_token_id \(id) is outside 0..<\(tokens.count)") }
        }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(tokens.count)
        for (id, t) in tokens.enumerated() { vocab[ByteLevel.bytes(t) != nil ? t : ByteLevel.spell(t.utf8)] = id }
        var pairs: [(String, String)] = []
        pairs.reserveCapacity(merges.count)
        for (k, m) in merges.enumerated() {
            let parts = m.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw bad("merge \(k) \"\(m)\" is not two tokens separated by one space") }
            pairs.append((String(parts[0]), String(parts[1])))
        }
        var added: [AddedToken] = []
        var seen = Set<Int>()
        if let tokenTypes {
            for (id, type) in tokenTypes.enumerated() where type == 3 && ByteLevel.bytes(tokens[id]) != nil {
                added.append(AddedToken(content: tokens[id], id: id, special: true)); seen.insert(id)
            }
        }
        for id in [bosId, eosId, unkId, padId].compactMap({ $0 }) where !seen.contains(id) {
            added.append(AddedToken(content: tokens[id], id: id, special: true)); seen.insert(id)
        }
        if let tokenTypes {
            for (id, type) in tokenTypes.enumerated() where type == 4 && !seen.contains(id) {
                if let v = vocab[tokens[id]] { added.append(AddedToken(content: tokens[id], id: v, special: false)); seen.insert(id) }
            }
        }
        try self.init(source: source, vocab: vocab, merges: pairs, added: added, preTokenizer: split,
                      ignoreMerges: split == .llama3, addPrefixSpace: false, normalizesNFC: false,
                      prefixIds: addBos ? bosId.map { [$0] } ?? [] : [], suffixIds: addEos ? eosId.map { [$0] } ?? [] : [],
                      bos: bosId, eos: eosId, pad: padId, unk: unkId, modelUnk: nil, chatTemplate: chatTemplate)
    }

    /// A tokenizer from the `tokenizer.*` metadata the GGUF reader gathered.
    public convenience init(metadata m: TokenizerMetadata, source: String) throws {
        try self.init(tokens: m.tokens, merges: m.merges, tokenTypes: m.tokenTypes.isEmpty ? nil : m.tokenTypes, model: m.model,
                      pre: m.pre, bosId: m.bosId, eosId: m.eosId, unkId: m.unknownId, padId: m.paddingId,
                      addBos: m.addBos ?? false, addEos: m.addEos ?? false, chatTemplate: m.chatTemplate, source: source)
    }

    /// The tokenizer of a GGUF file (its `tokenizer.ggml.*` metadata; the tensors are not read).
    public static func load(ggufPath path: String) throws -> BPETokenizer {
        let file = try GGUFFile(path: path)
        guard let m = try TokenizerMetadata.fromGGUF(file.metadata, path: path) else {
            throw TokenizerError.invalid(source: path, what: "the GGUF file has no tokenizer (no tokenizer.ggml.model)")
        }
        return try BPETokenizer(metadata: m, source: path)
    }
}
