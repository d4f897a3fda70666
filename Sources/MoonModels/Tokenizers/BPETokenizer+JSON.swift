import Foundation

/// Building a `BPETokenizer` from a Hugging Face `tokenizer.json` (+ `tokenizer_config.json`).
extension BPETokenizer {
    /// Loads `path`: a GGUF file (its tokenizer metadata), a tokenizer.json file, or a directory holding
    /// tokenizer.json; a tokenizer_config.json next to it supplies the chat template and the bos/eos/pad/unk tokens.
    public static func load(path: String) throws -> BPETokenizer {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw TokenizerError.invalid(source: path, what: "no such file or directory")
        }
        let file = isDir.boolValue ? (path as NSString).appendingPathComponent("tokenizer.json") : path
        let dir = (file as NSString).deletingLastPathComponent
        // regular files only: a FIFO or device is an error at once, never a read that blocks
        func read(_ f: String) throws -> Data {
            do { return try RegularFile.read(f) } catch let e as FileIOError { throw TokenizerError.invalid(source: f, what: e.message) }
        }
        if !isDir.boolValue {
            let magic: [UInt8]
            do { magic = try RegularFile.prefix(file, count: 4) } catch let e as FileIOError {
                throw TokenizerError.invalid(source: file, what: e.message)
            }
            if magic == Array("GGUF".utf8) { return try load(ggufPath: file) }
        }
        let data = try read(file)
        let configPath = (dir as NSString).appendingPathComponent("tokenizer_config.json")
        let config = FileManager.default.fileExists(atPath: configPath) ? try read(configPath) : nil
        return try BPETokenizer(tokenizerJSON: data, config: config, source: file)
    }

    /// Parses a tokenizer.json document (and optionally a tokenizer_config.json document). Never traps on bad
    /// input: anything malformed or unsupported is a `TokenizerError.invalid` naming the field.
    public convenience init(tokenizerJSON data: Data, config configData: Data? = nil, source: String = "tokenizer.json") throws {
        func bad(_ what: String) -> TokenizerError { .invalid(source: source, what: what) }
        guard let root = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw bad("not a JSON object")
        }
        var config: [String: Any] = [:]
        if let configData {
            guard let c = (try? JSONSerialization.jsonObject(with: configData)) as? [String: Any] else {
                throw bad("tokenizer_config.json is not a JSON object")
            }
            config = c
        }
        func isNull(_ v: Any?) -> Bool { v == nil || v is NSNull }
        func int(_ v: Any?, _ field: String) throws -> Int {
            guard let n = v as? NSNumber, let i = Int(exactly: n.doubleValue), i >= 0, i < 1 << 24 else {
                throw bad("\(field) must be an integer in 0..<\(1 << 24)")
            }
            return i
        }
        func bool(_ v: Any?, _ field: String, default d: Bool) throws -> Bool {
            if isNull(v) { return d }
            guard let b = v as? Bool else { throw bad("\(field) must be true or false") }
            return b
        }

        // model
        guard let model = root["model"] as? [String: Any] else { throw bad("model is missing") }
        if let type = model["type"] { guard type as? String == "BPE" else { throw bad("model.type \(type) is not supported (BPE only)") } }
        guard let rawVocab = model["vocab"] as? [String: Any] else { throw bad("model.vocab is not an object") }
        var vocab: [String: Int] = [:]
        vocab.reserveCapacity(rawVocab.count)
        for (t, v) in rawVocab { vocab[t] = try int(v, "model.vocab[\"\(t)\"]") }
        var merges: [(String, String)] = []
        if let raw = model["merges"] {
            guard let list = raw as? [Any] else { throw bad("model.merges is not an array") }
            merges.reserveCapacity(list.count)
            for (k, m) in list.enumerated() {
                if let s = m as? String {
                    let parts = s.split(separator: " ", omittingEmptySubsequences: false)
                    guard parts.count == 2 else { throw bad("model.merges[\(k)] \"\(s)\" is not two tokens separated by one space") }
                    merges.append((String(parts[0]), String(parts[1])))
                } else if let p = m as? [Any], p.count == 2, let a = p[0] as? String, let b = p[1] as? String {
                    merges.append((a, b))
                } else {
                    throw bad("model.merges[\(k)] is neither \"a b\" nor [a, b]")
                }
            }
        }
        let ignoreMerges = try bool(model["ignore_merges"], "model.ignore_merges", default: false)
        guard try !bool(model["byte_fallback"], "model.byte_fallback", default: false) else {
            throw bad("model.byte_fallback = true (SentencePiece-style BPE) is not supported")
        }
        for f in ["continuing_subword_prefix", "end_of_word_suffix"] where !isNull(model[f]) && model[f] as? String != "" {
            throw bad("model.\(f) is not supported")
        }
        guard isNull(model["dropout"]) || (model["dropout"] as? NSNumber)?.doubleValue == 0 else { throw bad("model.dropout is not supported") }

        // added tokens
        var added: [AddedToken] = []
        if let raw = root["added_tokens"], !isNull(raw) {
            guard let list = raw as? [Any] else { throw bad("added_tokens is not an array") }
            for (k, item) in list.enumerated() {
                guard let t = item as? [String: Any], let content = t["content"] as? String else {
                    throw bad("added_tokens[\(k)] has no content")
                }
                let f = "added_tokens[\(k)]"
                added.append(AddedToken(content: content, id: try int(t["id"], "\(f).id"),
                                        special: try bool(t["special"], "\(f).special", default: false),
                                        lstrip: try bool(t["lstrip"], "\(f).lstrip", default: false),
                                        rstrip: try bool(t["rstrip"], "\(f).rstrip", default: false),
                                        singleWord: try bool(t["single_word"], "\(f).single_word", default: false),
                                        normalized: try bool(t["normalized"], "\(f).normalized", default: true)))
            }
        }

        // normalizer
        var nfc = false
        if let n = root["normalizer"], !isNull(n) {
            guard let d = n as? [String: Any], let type = d["type"] as? String else { throw bad("normalizer is malformed") }
            if type == "NFC" { nfc = true } else if type == "Sequence", (d["normalizers"] as? [Any])?.isEmpty == true {
            } else { throw bad("normalizer \(type) is not supported (none or NFC)") }
        }

        // pre-tokenizer
        guard let pre = root["pre_tokenizer"] as? [String: Any], let preType = pre["type"] as? String else {
            throw bad("pre_tokenizer is missing (a byte-level BPE needs ByteLevel)")
        }
        let split: PreTokenizer
        var addPrefixSpace = false
        func byteLevel(_ d: [String: Any], useRegex: Bool) throws -> Bool {
            guard d["type"] as? String == "ByteLevel" else { return false }
            guard try bool(d["use_regex"], "pre_tokenizer ByteLevel.use_regex", default: true) == useRegex else {
                throw bad("pre_tokenizer ByteLevel.use_regex must be \(useRegex) here")
            }
            addPrefixSpace = try bool(d["add_prefix_space"], "pre_tokenizer ByteLevel.add_prefix_space", default: true)
            return true
        }
        if preType == "ByteLevel" {
            _ = try byteLevel(pre, useRegex: true)
            split = .gpt2
        } else if preType == "Sequence", let list = pre["pretokenizers"] as? [[String: Any]], list.count == 2 {
            let first = list[0]
            if first["type"] as? String == "Digits", try bool(first["individual_digits"], "Digits.individual_digits", default: false),
               try byteLevel(list[1], useRegex: true) {
                split = .smollm
            } else if first["type"] as? String == "Split", let pattern = (first["pattern"] as? [String: Any])?["Regex"] as? String,
                      first["behavior"] as? String == "Isolated", try !bool(first["invert"], "Split.invert", default: false),
                      let s = PreTokenizer(splitPattern: pattern), try byteLevel(list[1], useRegex: false) {
                split = s
            } else {
                throw bad("pre_tokenizer Sequence is not one moonlab knows (Digits+ByteLevel, or Split with the GPT-2/Llama-3/Qwen2 pattern + ByteLevel)")
            }
        } else {
            throw bad("pre_tokenizer \(preType) is not supported")
        }
        if let dec = root["decoder"], !isNull(dec) {
            guard (dec as? [String: Any])?["type"] as? String == "ByteLevel" else { throw bad("decoder must be ByteLevel") }
        }

        // ids of tokens by content
        func idOf(_ content: String) -> Int? { added.last(where: { $0.content == content })?.id ?? vocab[content] }
        func configToken(_ key: String) throws -> Int? {
            guard let v = config[key], !isNull(v) else { return nil }
            let content: String
            if let s = v as? String { content = s } else if let s = (v as? [String: Any])?["content"] as? String { content = s } else {
                throw bad("tokenizer_config.json \(key) is neither a string nor {content = ...}")
            }
            guard let id = idOf(content) else { throw bad("tokenizer_config.json \(key) \"\(content)\" is not in the vocabulary") }
            return id
        }
        let bos = try configToken("bos_token")
        let eos = try configToken("eos_token")
        let pad = try configToken("pad_token")
        var unk = try configToken("unk_token")
        var modelUnk: Int?
        if let u = model["unk_token"] as? String {
            guard let id = vocab[u] else { throw bad("model.unk_token \"\(u)\" is not in the vocabulary") }
            modelUnk = id
            unk = unk ?? id
        }

        // post-processor: the special tokens around a single sequence
        var prefix: [Int] = [], suffix: [Int] = []
        var templated = false
        func post(_ p: [String: Any]) throws {
            switch p["type"] as? String {
            case "ByteLevel": return
            case "Sequence":
                guard let list = p["processors"] as? [[String: Any]] else { throw bad("post_processor Sequence is malformed") }
                for q in list { try post(q) }
            case "TemplateProcessing":
                guard let single = p["single"] as? [[String: Any]] else { throw bad("post_processor.single is malformed") }
                let specials = p["special_tokens"] as? [String: Any] ?? [:]
                templated = true
                var seenSequence = false
                for item in single {
                    if item["Sequence"] != nil { seenSequence = true; continue }
                    guard let name = (item["SpecialToken"] as? [String: Any])?["id"] as? String else {
                        throw bad("post_processor.single has an item that is neither Sequence nor SpecialToken")
                    }
                    guard let entry = specials[name] as? [String: Any], let ids = entry["ids"] as? [Any] else {
                        throw bad("post_processor special token \(name) is not defined")
                    }
                    let values = try ids.map { try int($0, "post_processor special token \(name) id") }
                    if seenSequence { suffix += values } else { prefix += values }
                }
            default: throw bad("post_processor \(p["type"] ?? "?") is not supported")
            }
        }
        if let p = root["post_processor"], !isNull(p) {
            guard let d = p as? [String: Any] else { throw bad("post_processor is malformed") }
            try post(d)
        }
        if !templated {
            if try bool(config["add_bos_token"], "tokenizer_config.json add_bos_token", default: false), let bos { prefix = [bos] }
            if try bool(config["add_eos_token"], "tokenizer_config.json add_eos_token", default: false), let eos { suffix = [eos] }
        }

        // chat template: a string, or a list of {name, template} (the "default" one)
        var template: String?
        if let t = config["chat_template"], !isNull(t) {
            if let s = t as? String { template = s } else if let list = t as? [[String: Any]] {
                template = (list.first { $0["name"] as? String == "default" } ?? list.first)?["template"] as? String
            } else { throw bad("tokenizer_config.json chat_template is neither a string nor a list") }
        }
        try self.init(source: source, vocab: vocab, merges: merges, added: added, preTokenizer: split,
                      ignoreMerges: ignoreMerges, addPrefixSpace: addPrefixSpace, normalizesNFC: nfc,
                      prefixIds: prefix, suffixIds: suffix, bos: bos, eos: eos, pad: pad, unk: unk, modelUnk: modelUnk, chatTemplate: template)
    }
}
