import Foundation
import MoonCheckpoint
import MoonTensor

/// Teacher-forced scores of responses after prompts (see `LanguageModel.score`): `[B, L]` tensors right-padded to
/// the longest response; padding entries are 0.
public struct LMScoreResult {
    /// log p(token) per response token (autograd).
    public let logProbs: Tensor
    /// Entropy of the predictive distribution at each response token (autograd).
    public let entropies: Tensor
    /// 1 for real response tokens, 0 for padding.
    public let mask: Tensor
    public let lengths: [Int]
    /// Sum of the log-probs of each response `[B]` (autograd).
    public func sequenceLogProbs() throws -> Tensor { try logProbs.mul(mask).sum(dim: 1) }
}

/// A pretrained causal language model: a Llama/Qwen2 decoder plus the tokenizer description it was loaded with.
/// Loaded from a GGUF file, a Hugging Face directory, or a moonlab LM checkpoint (`save`). State-dict names are
/// transformers' (`model.*`, `lm_head.weight`).
public final class LanguageModel: Module {
    public let decoder: LlamaDecoder
    /// The checkpoint's tokenizer description (`tokenizer.ggml.*` keys); nil when the source had none.
    public let tokenizerMetadata: TokenizerMetadata?
    /// The tokenizer (byte-level BPE from the GGUF metadata or the directory's tokenizer.json); nil when the checkpoint
    /// has none moonlab can build (then prompts are token ids; `tokenizerProblem` says why).
    public let tokenizer: (any TextTokenizer)?
    public let tokenizerProblem: String?
    /// Where the model was loaded from.
    public let source: String
    public private(set) var loraConfig: LoRAConfig?

    public init(decoder: LlamaDecoder, tokenizer: TokenizerMetadata?, source: String, textTokenizer: (any TextTokenizer)? = nil) {
        self.decoder = decoder
        tokenizerMetadata = tokenizer
        self.source = source
        var problem: String? = nil
        var tok = textTokenizer
        if tok == nil, let m = tokenizer {
            do { tok = try LanguageModel.buildTokenizer(m, source: source) } catch { problem = "\(error)" }
        } else if tok == nil {
            problem = "the checkpoint \(source) has no tokenizer"
        }
        if let t = tok, t.vocabSize > decoder.config.vocabSize {
            problem = "the tokenizer has \(t.vocabSize) ids but the model's vocabulary is \(decoder.config.vocabSize)"
            tok = nil
        }
        self.tokenizer = tok
        tokenizerProblem = problem
        super.init()
        registerModule("model", decoder.model)
        if let h = decoder.lmHead { registerModule("lm_head", h) }
    }

    public var config: LlamaConfig { decoder.config }

    /// A `BPETokenizer` from GGUF tokenizer metadata.
    static func buildTokenizer(_ m: TokenizerMetadata, source: String) throws -> any TextTokenizer {
        try BPETokenizer(tokens: m.tokens, merges: m.merges, tokenTypes: m.tokenTypes.isEmpty ? nil : m.tokenTypes, model: m.model,
                         pre: m.pre, bosId: m.bosId, eosId: m.eosId, unkId: m.unknownId, padId: m.paddingId,
                         addBos: m.addBos ?? false, addEos: m.addEos ?? false, chatTemplate: m.chatTemplate, source: source)
    }

    /// The tokenizer, or an error saying why there is none.
    public func requireTokenizer(_ what: String) throws -> any TextTokenizer {
        guard let t = tokenizer else {
            throw ModelError.invalidArgument("\(what): text needs a tokenizer, and this model has none (\(tokenizerProblem ?? "unknown")); pass token ids")
        }
        return t
    }

    /// Prompt ids of `text` as the checkpoint's tokenizer encodes a sequence (special tokens such as BOS added when the
    /// checkpoint adds them; special-token spellings in the text are parsed, as Hugging Face does).
    public func encodePrompt(_ text: String) throws -> [Int] {
        try requireTokenizer("encode").encode(text, addSpecialTokens: true, parseSpecial: true)
    }

    /// Response ids of `text` (no added specials).
    public func encodeResponse(_ text: String) throws -> [Int] {
        try requireTokenizer("encode").encode(text, addSpecialTokens: false, parseSpecial: true)
    }

    // MARK: loading

    /// Loads `path`: a `.gguf` file, a Hugging Face directory (config.json + safetensors), or a `.safetensors` file
    /// written by `save`. Errors name the file and the problem; nothing is half-loaded.
    public static func load(path: String) throws -> LanguageModel {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw ModelError.checkpoint(path: path, reason: "no such file or directory")
        }
        if isDir.boolValue {
            let dec = try HFCheckpoint.loadDecoder(directory: path)
            var tok: (any TextTokenizer)? = nil
            if FileManager.default.fileExists(atPath: path + "/tokenizer.json") { tok = try BPETokenizer.load(path: path) }
            return LanguageModel(decoder: dec, tokenizer: nil, source: path, textTokenizer: tok)
        }
        if path.hasSuffix(".safetensors") { return try loadCheckpoint(path: path) }
        let f = try GGUFFile(path: path)
        let tok = try TokenizerMetadata.fromGGUF(f.metadata, path: path)
        let dec = try GGUFLlama.loadDecoder(f, tokenizer: tok)
        return LanguageModel(decoder: dec, tokenizer: tok, source: path)
    }

    // MARK: generation and scoring

    /// Batched generation from token-id prompts (KV cache, no autograd). See `GenerateOptions` (`stop` strings are
    /// not supported for BPE vocabularies yet). `texts` are the decoded continuations (special tokens dropped).
    public func generate(prompts: [[Int]], options: GenerateOptions = GenerateOptions(), generator: Generator = .default) throws -> GenerateResult {
        guard options.stop.isEmpty else { throw ModelError.invalidArgument("generate: stop strings are not supported for this model's tokenizer") }
        var r = try decoder.generate(prompts: prompts, options: options, generator: generator)
        r.texts = r.tokens.map { tokenizer?.decode($0, skipSpecial: true) ?? "" }
        return r
    }

    /// Teacher-forced log-probs and entropies of `responses` after `prompts` (token ids). Differentiable.
    public func score(prompts: [[Int]], responses: [[Int]], temperature: Float = 1, fused: Bool? = nil) throws -> LMScoreResult {
        let b = prompts.count
        guard b > 0, responses.count == b else {
            throw ModelError.invalidArgument("score: expected as many responses as prompts (at least one), got \(responses.count) for \(b)")
        }
        guard temperature > 0 && temperature.isFinite else { throw ModelError.invalidConfig(field: "temperature", reason: "must be positive, got \(temperature)") }
        let vocab = config.vocabSize
        for (i, p) in prompts.enumerated() {
            if p.isEmpty { throw ModelError.invalidArgument("score: prompt \(i + 1) is empty") }
            if let bad = (p + responses[i]).first(where: { $0 < 0 || $0 >= vocab }) {
                throw ModelError.invalidArgument("score: row \(i + 1) has token id \(bad) outside the vocabulary (\(vocab))")
            }
        }
        let t = zip(prompts, responses).map { $0.count + $1.count }.max()!
        let width = max(responses.map(\.count).max() ?? 0, 1)
        var ids = [Int](repeating: 0, count: b * t)
        var valid = [[Bool]](repeating: [Bool](repeating: false, count: t), count: b)
        var rows: [Int] = [], targets: [Int] = [], place = [Int](repeating: -1, count: b * width)
        for r in 0..<b {
            let row = prompts[r] + responses[r]
            for (j, id) in row.enumerated() { ids[r * t + j] = id; valid[r][j] = true }
            for (k, tok) in responses[r].enumerated() {
                place[r * width + k] = rows.count
                rows.append(r * t + prompts[r].count - 1 + k)
                targets.append(tok)
            }
        }
        let n = rows.count
        var mask = [Float](repeating: 0, count: b * width)
        for (r, resp) in responses.enumerated() { for j in 0..<resp.count { mask[r * width + j] = 1 } }
        guard n > 0 else {
            return LMScoreResult(logProbs: try Tensor.zeros([b, width]), entropies: try Tensor.zeros([b, width]),
                                 mask: Tensor.fromArray(mask, [b, width]), lengths: responses.map(\.count))
        }
        let lp: Tensor, ent: Tensor
        let x = try decoder.embed(Tensor.fromInts(ids, [b, t]))
        if fused ?? FusedScoring.enabled, FusedScoring.unsupported(decoder, valueHead: nil) == nil {
            let seqs = zip(prompts, responses).map { $0 + $1 }
            var common = seqs.map(\.count).min() ?? 0
            for row in seqs.dropFirst() { var k = 0; while k < common && row[k] == seqs[0][k] { k += 1 }; common = k }
            let r = try FusedScoring.score(decoder, embeddings: x, lengths: seqs.map(\.count), shared: common,
                                           rows: rows.map { ($0 / t, $0 % t) }, targets: targets, temperature: temperature,
                                           valueHead: nil, valueRows: nil)
            lp = r.logProbs; ent = r.entropies
        } else {
            let hidden = try decoder.hiddenStates(embeddings: x, valid: valid)
            let sel = try hidden.reshape([b * t, config.hiddenSize]).indexSelect(dim: 0, index: Tensor.fromInts(rows, [n]))
            var logits = try decoder.logits(hidden: sel)
            if temperature != 1 { logits = logits.div(temperature) }
            let lsm = try logits.logSoftmax(dim: -1)
            lp = try lsm.gather(dim: 1, index: Tensor.fromInts(targets, [n, 1])).reshape([n])
            ent = try lsm.exp().mul(lsm).sum(dim: 1).neg()
        }
        let gatherIdx = Tensor.fromInts(place.map { $0 < 0 ? n : $0 }, [b * width])
        let zero = try Tensor.zeros([1])
        return LMScoreResult(logProbs: try Tensor.cat([lp, zero], dim: 0).indexSelect(dim: 0, index: gatherIdx).reshape([b, width]),
                             entropies: try Tensor.cat([ent, zero], dim: 0).indexSelect(dim: 0, index: gatherIdx).reshape([b, width]),
                             mask: Tensor.fromArray(mask, [b, width]), lengths: responses.map(\.count))
    }

    // MARK: LoRA

    @discardableResult
    public func enableLoRA(_ c: LoRAConfig, generator: Generator = .default) throws -> [String] {
        guard loraConfig == nil else { throw ModelError.invalidArgument("lora: adapters are already attached") }
        var c = c
        c.trainable = c.trainable.filter { $0 != "^value_head\\." }
        let names = try LoRA.apply(to: self, config: c, generator: generator)
        loraConfig = c
        return names
    }

    public func mergeLoRA() throws {
        try LoRA.merge(self)
        loraConfig = nil
    }

    // MARK: checkpoints

    /// Writes the model as GGUF (llama.cpp names and metadata, the tokenizer it was loaded with, LoRA folded in).
    public func saveGGUF(path: String, type: GGMLType) throws {
        let tok = tokenizerMetadata ?? (config.vocabSize == ByteTokenizer.vocabSize ? GGUFLlama.byteTokenizerMetadata() : nil)
        guard let tok else {
            throw ModelError.invalidArgument("save_gguf: the model has no tokenizer metadata to write (it was loaded from \(source))")
        }
        try GGUFLlama.save(decoder: decoder, tokenizer: tok, type: type, to: path)
    }

    /// Saves the state dict (float32 safetensors, transformers names) with the config, the tokenizer metadata and
    /// the LoRA settings in the header, atomically. `LanguageModel.load` reads it back.
    public func save(path: String) throws {
        var meta = ["format": "moonlab-lm", "moonlab_lm_config": config.hfJSON()]
        if let t = tokenizerMetadata { meta["moonlab_tokenizer"] = try tokenizerJSON(t) }
        if let l = loraConfig {
            let d: [String: Any] = ["rank": l.rank, "alpha": Double(l.alpha), "dropout": Double(l.dropout), "targets": l.targets,
                                    "freeze_base": l.freezeBase]
            meta["moonlab_lora"] = String(decoding: try JSONSerialization.data(withJSONObject: d, options: [.sortedKeys]), as: UTF8.self)
        }
        try Checkpoint.writeTensors(namedParameters(), metadata: meta, to: path)
    }

    static func loadCheckpoint(path: String) throws -> LanguageModel {
        let f = try SafeTensors.open(path)
        guard f.metadata["format"] == "moonlab-lm", let cj = f.metadata["moonlab_lm_config"], let obj = try? JSON.parse(cj) else {
            throw ModelError.checkpoint(path: path, reason: "not a moonlab language-model checkpoint (no moonlab_lm_config; use a Hugging Face directory or a .gguf file)")
        }
        let config = try LlamaConfig.fromHF(obj)
        let tok = try f.metadata["moonlab_tokenizer"].map { try tokenizerFromJSON($0, path: path) }
        let dec = try ParameterInit.$zeroed.withValue(true) { try LlamaDecoder(config) }
        let lm = LanguageModel(decoder: dec, tokenizer: tok, source: path)
        if let lj = f.metadata["moonlab_lora"] {
            guard let o = try? JSONSerialization.jsonObject(with: Data(lj.utf8)) as? [String: Any], let rank = o["rank"] as? Int,
                  let alpha = (o["alpha"] as? NSNumber)?.floatValue, let targets = o["targets"] as? [String] else {
                throw ModelError.checkpoint(path: path, reason: "malformed moonlab_lora metadata")
            }
            try lm.enableLoRA(LoRAConfig(rank: rank, alpha: alpha, dropout: (o["dropout"] as? NSNumber)?.floatValue ?? 0, targets: targets,
                                         freezeBase: o["freeze_base"] as? Bool ?? true))
        }
        let (tensors, _) = try Checkpoint.readTensors(path: path)
        do { try Tensor.noGrad { try lm.loadStateDict(tensors) } } catch let e as ModelError { throw ModelError.checkpoint(path: path, reason: e.description) }
        return lm
    }

    /// A deep copy (weights copied; same tokenizer, LoRA adapters and trainable flags).
    public func clone() throws -> LanguageModel {
        let d = try ParameterInit.$zeroed.withValue(true) { try LlamaDecoder(config) }
        let lm = LanguageModel(decoder: d, tokenizer: tokenizerMetadata, source: source, textTokenizer: tokenizer)
        if let l = loraConfig { try lm.enableLoRA(l) }
        try Tensor.noGrad { try lm.loadStateDict(stateDict().mapValues { $0.clone() }) }
        for ((_, a), (_, b)) in zip(namedParameters(), lm.namedParameters()) { try b.setRequiresGrad(a.requiresGrad) }
        lm.train(training)
        return lm
    }
}

func tokenizerJSON(_ t: TokenizerMetadata) throws -> String {
    var d: [String: Any] = ["model": t.model, "tokens": t.tokens, "merges": t.merges, "token_types": t.tokenTypes,
                            "scores": t.scores.map(Double.init)]
    if let v = t.pre { d["pre"] = v }
    if let v = t.bosId { d["bos_id"] = v }
    if let v = t.eosId { d["eos_id"] = v }
    if let v = t.unknownId { d["unk_id"] = v }
    if let v = t.paddingId { d["pad_id"] = v }
    if let v = t.addBos { d["add_bos"] = v }
    if let v = t.addEos { d["add_eos"] = v }
    if let v = t.chatTemplate { d["chat_template"] = v }
    return String(decoding: try JSONSerialization.data(withJSONObject: d, options: [.sortedKeys]), as: UTF8.self)
}

func tokenizerFromJSON(_ s: String, path: String) throws -> TokenizerMetadata {
    guard let d = try? JSONSerialization.jsonObject(with: Data(s.utf8)) as? [String: Any], let model = d["model"] as? String,
          let tokens = d["tokens"] as? [String] else {
        throw ModelError.checkpoint(path: path, reason: "malformed moonlab_tokenizer metadata")
    }
    return TokenizerMetadata(model: model, pre: d["pre"] as? String, tokens: tokens, merges: d["merges"] as? [String] ?? [],
                             tokenTypes: d["token_types"] as? [Int] ?? [], scores: (d["scores"] as? [Double] ?? []).map(Float.init),
                             bosId: d["bos_id"] as? Int, eosId: d["eos_id"] as? Int, unknownId: d["unk_id"] as? Int,
                             paddingId: d["pad_id"] as? Int, addBos: d["add_bos"] as? Bool, addEos: d["add_eos"] as? Bool,
                             chatTemplate: d["chat_template"] as? String)
}
