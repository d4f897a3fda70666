import Foundation
import MoonCheckpoint
import MoonTensor

/// The agent: patch vision encoder + projector producing visual tokens, a Llama decoder reading them with the prompt
/// and the response, plus a value head (a linear layer on the final hidden state of the prompt's last token).
///
/// Two kinds share every method (generate, score, value, LoRA, save/load/clone, the stdlib algorithms):
/// - the tiny byte-level policy (`init(_:)`, random init): row `[visual tokens][<bos> prompt bytes][response]`;
/// - a pretrained decoder (`pretrained(_:...)`, from anything `LanguageModel.load` reads) with its BPE tokenizer:
///   the prompt is the user message of the checkpoint's chat template (generation prompt added), beginning with the
///   `<image>` token when there is an image. `<image>` is a virtual added special token (`imageTokenId`, the first id
///   past the tokenizer's vocabulary unless the tokenizer has an `<image>` token): at embedding time its position is
///   replaced by the visual tokens. No embedding row is added, so the base weights stay exactly the file's (shared,
///   frozen, referenced rather than copied by checkpoints) and the policy can never sample the image token.
///
/// State-dict names: the decoder's transformers names (`model.*`, `lm_head.weight`), then `vision.*`, `projector.*`,
/// `value_head.*` (and `*.lora_A.weight` / `*.lora_B.weight` when LoRA is attached).
public final class VLMPolicy: Module {
    public let config: VLMConfig
    /// nil for a text-only policy (`config.textOnly`).
    public let vision: VisionEncoder?
    public let projector: GeluMLP?
    public let decoder: LlamaDecoder
    public let valueHead: Linear
    /// The text tokenizer: `ByteTokenizer` for the byte-level policy, the checkpoint's BPE tokenizer otherwise.
    public let tokenizer: any TextTokenizer
    /// Where the pretrained decoder came from (nil: the byte-level policy).
    public let decoderSource: DecoderSource?
    /// The tokenizer description of a GGUF source (stored in checkpoints that include the base weights).
    public let tokenizerMetadata: TokenizerMetadata?
    /// Whether prompts go through the tokenizer's chat template.
    public let usesChatTemplate: Bool
    /// The `<image>` id of a pretrained policy's prompts (never embedded; see the type's documentation).
    public let imageTokenId: Int
    /// The LoRA configuration in effect (nil: none attached).
    public private(set) var loraConfig: LoRAConfig?

    /// Whether this policy wraps a pretrained decoder.
    public var isPretrained: Bool { decoderSource != nil }

    /// A randomly initialised byte-level policy (seeded by `config.seed`). Invalid configs throw naming the field.
    public convenience init(_ config: VLMConfig) throws {
        try self.init(config: config, decoder: nil, tokenizer: ByteTokenizer(), metadata: nil, source: nil, chat: false,
                      imageToken: ByteTokenizer.image)
    }

    init(config: VLMConfig, decoder dec: LlamaDecoder?, tokenizer: any TextTokenizer, metadata: TokenizerMetadata?,
         source: DecoderSource?, chat: Bool, imageToken: Int) throws {
        try config.validate()
        self.config = config
        let g = Generator(seed: config.seed)
        decoder = try dec ?? LlamaDecoder(config.decoder, generator: g)
        if config.textOnly {
            vision = nil; projector = nil
        } else {
            let v = try VisionEncoder(config.vision, generator: g)
            vision = v
            let d = config.decoder.hiddenSize
            projector = GeluMLP(config.vision.width, config.projectorHidden ?? d, d, generator: g)
        }
        valueHead = Linear(config.decoder.hiddenSize, 1, bias: true, std: 0.02, generator: g)
        self.tokenizer = tokenizer
        tokenizerMetadata = metadata
        decoderSource = source
        usesChatTemplate = chat
        imageTokenId = imageToken
        super.init()
        registerModule("model", decoder.model)
        if let h = decoder.lmHead { registerModule("lm_head", h) }
        if let v = vision, let p = projector {
            registerModule("vision", v)
            registerModule("projector", p)
        }
        registerModule("value_head", valueHead)
    }

    /// A policy on a pretrained decoder (see the type's documentation). `vision`: the encoder's sizes, nil for a
    /// text-only policy. `chat`: use the chat template (default: when the tokenizer has one moonlab can render).
    /// The decoder's base weights are frozen (LoRA adapters, `policy:lora`, are the way to adapt it); the vision
    /// encoder, projector and value head train.
    public static func pretrained(_ lm: LanguageModel, vision: VisionConfig?, projectorHidden: Int? = nil, seed: UInt64 = 0,
                                  chat: Bool? = nil) throws -> VLMPolicy {
        guard let tok = lm.tokenizer else {
            throw ModelError.invalidArgument("decoder: \(lm.source) has no tokenizer moonlab can use (\(lm.tokenizerProblem ?? "unknown")); a policy needs one")
        }
        guard lm.loraConfig == nil else { throw ModelError.invalidArgument("decoder: the language model has LoRA adapters; merge or drop them first") }
        let canChat = tok.chatFormat != nil
        if chat == true && !canChat {
            throw ModelError.invalidArgument("decoder: the tokenizer of \(lm.source) has no chat template moonlab can render (ChatML or Llama 3); pass chat = false")
        }
        let imageId: Int
        if let t = tok.addedTokens.first(where: { $0.content == "<image>" && $0.special }) {
            imageId = t.id
        } else if tok.tokenId("<image>") != nil {
            throw ModelError.invalidArgument("decoder: the tokenizer of \(lm.source) spells \"<image>\" as an ordinary token; there is no room for the image token")
        } else {
            imageId = tok.vocabSize
            guard imageId < VLMConfig.maxVocab else {
                throw ModelError.invalidArgument("decoder: the tokenizer of \(lm.source) has \(tok.vocabSize) ids; there is no room for the image token (at most \(VLMConfig.maxVocab))")
            }
        }
        var c = VLMConfig()
        c.decoder = lm.config
        c.textOnly = vision == nil
        c.pretrained = true
        if let v = vision { c.vision = v }
        c.projectorHidden = projectorHidden
        c.seed = seed
        let source = try DecoderSource.make(path: lm.source, decoder: lm.decoder)
        let p = try VLMPolicy(config: c, decoder: lm.decoder, tokenizer: tok, metadata: lm.tokenizerMetadata, source: source,
                              chat: chat ?? canChat, imageToken: imageId)
        for (_, t) in DecoderSource.baseParameters(p.decoder) { try t.setRequiresGrad(false) }
        return p
    }

    /// Whether a state-dict name belongs to the pretrained decoder's base weights (not its LoRA adapters).
    static func isBaseName(_ n: String) -> Bool {
        (n.hasPrefix("model.") || n.hasPrefix("lm_head.")) && !DecoderSource.isAdapter(n)
    }

    /// Number of visual tokens per image (0 for a text-only policy).
    public var numVisualTokens: Int { config.textOnly ? 0 : config.vision.numTokens }

    /// Prompt token ids. Byte-level policy: `<bos>` then the UTF-8 bytes (the visual tokens go before them).
    /// Pretrained: the chat template's rendering of one user message (generation prompt added), with `imageTokenId`
    /// at the start of the user message when `image` is true; without a chat template, the text as the tokenizer
    /// encodes a sequence.
    public func encodePrompt(_ prompt: String, image: Bool = false) throws -> [Int] {
        guard isPretrained else { return ByteTokenizer().encode(prompt, addBos: true) }
        guard usesChatTemplate else {
            let ids = tokenizer.encode(prompt, addSpecialTokens: true, parseSpecial: false)
            return image ? [imageTokenId] + ids : ids
        }
        // Placeholders no prompt contains mark the image position and the end of the user's text: the template's own
        // text on both sides is encoded with its special tokens (`<|im_end|>`, `<|im_start|>assistant`), the prompt
        // without (a prompt that spells a special token does not become one).
        let mark = "\u{F8FF}moonlab-image\u{F8FF}", end = "\u{F8FF}moonlab-end\u{F8FF}"
        let text = try tokenizer.applyChatTemplate([ChatMessage(role: "user", content: mark + prompt + end)], addGenerationPrompt: true)
        guard let r = text.range(of: mark), let e = text.range(of: end, range: r.upperBound..<text.endIndex) else {
            throw ModelError.invalidArgument("encode: the chat template dropped the user message")
        }
        let before = tokenizer.encode(String(text[..<r.lowerBound]), addSpecialTokens: false, parseSpecial: true)
        let user = tokenizer.encode(String(text[r.upperBound..<e.lowerBound]), addSpecialTokens: false, parseSpecial: false)
        let after = tokenizer.encode(String(text[e.upperBound...]), addSpecialTokens: false, parseSpecial: true)
        return before + (image ? [imageTokenId] : []) + user + after
    }

    /// Response ids of `text` (no added special tokens).
    public func encodeResponse(_ text: String) -> [Int] {
        isPretrained ? tokenizer.encode(text, addSpecialTokens: false, parseSpecial: false) : ByteTokenizer().encode(text)
    }

    /// The text of response ids (special tokens dropped).
    public func decode(_ ids: [Int]) -> String { tokenizer.decode(ids, skipSpecial: true) }

    /// The bytes a generated token contributes to the text (for stop strings and the action mask); none for specials.
    func tokenBytes(_ id: Int) -> [UInt8] {
        if !isPretrained { return id >= 0 && id < 256 ? [UInt8(id)] : [] }
        if tokenizer.isSpecial(id) { return [] }
        if let b = tokenizer as? BPETokenizer { return b.tokenBytes(id) ?? [] }
        return Array(tokenizer.decode([id], skipSpecial: true).utf8)
    }

    /// Visual tokens `[B, numPatches, hidden]` of images `[B, C, H, W]` (differentiable).
    public func visualTokens(_ images: Tensor) throws -> Tensor {
        guard let v = vision, let p = projector else {
            throw ModelError.invalidArgument("this policy is text-only (no vision encoder); pass observations without images")
        }
        return try p(v(images))
    }

    private func checkBatch(_ images: Tensor?, _ n: Int, _ what: String) throws {
        if images != nil && vision == nil {
            throw ModelError.invalidArgument("\(what): this policy is text-only (no vision encoder); use text observations (observation = 'text')")
        }
        if let im = images, im.ndim >= 1, im.shape[0] != n {
            throw ModelError.invalidArgument("\(what): \(im.shape[0]) images for \(n) prompts")
        }
        if n == 0 { throw ModelError.invalidArgument("\(what): expected at least one prompt") }
    }

    /// Prompt ids of strings, with the image token when there are images.
    func encodePrompts(_ prompts: [String], images: Tensor?) throws -> [[Int]] {
        try prompts.map { try encodePrompt($0, image: images != nil) }
    }

    /// Splits prompt ids around the image token: the ids without it and where the visual tokens go (byte-level
    /// policy: before the prompt). Throws when the token is missing, repeated, or present without images.
    func splitImageToken(_ promptIds: [[Int]], hasImages: Bool, _ what: String) throws -> (ids: [[Int]], at: [Int]) {
        guard isPretrained else { return (promptIds, [Int](repeating: 0, count: promptIds.count)) }
        var ids: [[Int]] = [], at: [Int] = []
        for (i, row) in promptIds.enumerated() {
            let pos = row.indices.filter { row[$0] == imageTokenId }
            if !hasImages && !pos.isEmpty { throw ModelError.invalidArgument("\(what): prompt \(i + 1) has the image token but there is no image") }
            if hasImages && pos.count != 1 {
                throw ModelError.invalidArgument("\(what): prompt \(i + 1) must contain the image token (id \(imageTokenId)) exactly once, found \(pos.count)")
            }
            var r = row
            if let k = pos.first { r.remove(at: k); at.append(k) } else { at.append(0) }
            ids.append(r)
        }
        return (ids, at)
    }

    // MARK: generation

    /// Samples answers for a batch of (image, prompt) pairs (no autograd; KV cache). `images`: `[B, C, H, W]` or nil
    /// for text only. The result includes the value estimate of each prompt.
    public func generate(images: Tensor?, prompts: [String], options: GenerateOptions = GenerateOptions(),
                         generator: Generator = .default) throws -> GenerateResult {
        try generate(images: images, promptIds: encodePrompts(prompts, images: images), options: options, generator: generator)
    }

    /// As `generate(images:prompts:)` with prompts given as token ids (with `imageTokenId` for a pretrained policy).
    public func generate(images: Tensor?, promptIds: [[Int]], options: GenerateOptions = GenerateOptions(),
                         generator: Generator = .default) throws -> GenerateResult {
        try checkBatch(images, promptIds.count, "generate")
        let (ids, at) = try splitImageToken(promptIds, hasImages: images != nil, "generate")
        var o = options
        if isPretrained && o.eosId == nil { o.eosId = tokenizer.eosTokenId ?? config.decoder.eosTokenId }
        var r = try Tensor.noGrad {
            let prefix = try images.map { try visualTokens($0) }
            let vw = valueHead.weight.toArray(), vb = try valueHead.bias!.item()
            return try GenerationCore.run(packed: PackedDecoder(decoder), prefix: prefix, prefixAt: at, prompts: ids, options: o,
                                          generator: generator, valueHead: (vw, vb), tokenBytes: tokenBytes)
        }
        if isPretrained { r.texts = r.tokens.map(decode) }
        r.promptTokens = promptIds
        return r
    }

    // MARK: scoring (autograd)

    /// Teacher-forced per-token log-probs and entropies of `responses` (token ids, e.g. `GenerateResult.tokens`),
    /// the value estimates, and the thought/action masks. Differentiable when grad mode is on.
    /// `temperature` divides the logits (1: the policy's own distribution, as `generate` reports by default).
    public func score(images: Tensor?, prompts: [String], responses: [[Int]], temperature: Float = 1, fused: Bool? = nil) throws -> ScoreResult {
        try score(images: images, promptIds: encodePrompts(prompts, images: images), responses: responses, temperature: temperature, fused: fused)
    }

    /// As `score(images:prompts:responses:)` with prompts given as token ids. `fused` (default
    /// `FusedScoring.enabled`): run the decoder through the fused pass (one autograd node, FusedTraining.swift) when
    /// it supports the policy's setup, else through the autograd graph of its layers (same numbers).
    public func score(images: Tensor?, promptIds: [[Int]], responses: [[Int]], temperature: Float = 1, fused: Bool? = nil) throws -> ScoreResult {
        try checkBatch(images, promptIds.count, "score")
        guard responses.count == promptIds.count else {
            throw ModelError.invalidArgument("score: \(responses.count) responses for \(promptIds.count) prompts")
        }
        guard temperature > 0 && temperature.isFinite else {
            throw ModelError.invalidConfig(field: "temperature", reason: "must be positive, got \(temperature)")
        }
        let (x, layout) = try embeddings(images: images, promptIds: promptIds, responses: responses)
        if fused ?? FusedScoring.enabled, FusedScoring.unsupported(decoder, valueHead: valueHead) == nil {
            return try Scoring.fusedScore(policy: self, embeddings: x, layout: layout, responses: responses, temperature: temperature)
        }
        let hidden = try decoder.hiddenStates(embeddings: x, valid: layout.valid)
        return try Scoring.score(policy: self, hidden: hidden, layout: layout, responses: responses, temperature: temperature)
    }

    /// Value estimates `[B]` (differentiable) of (image, prompt) pairs.
    public func value(images: Tensor?, prompts: [String]) throws -> Tensor {
        let ids = try encodePrompts(prompts, images: images)
        try checkBatch(images, ids.count, "value")
        let responses = ids.map { _ in [Int]() }
        let (x, layout) = try embeddings(images: images, promptIds: ids, responses: responses)
        if FusedScoring.enabled, FusedScoring.unsupported(decoder, valueHead: valueHead) == nil {
            let r = try FusedScoring.score(decoder, embeddings: x, lengths: layout.lengths, shared: layout.common, rows: [], targets: [],
                                           temperature: 1, valueHead: valueHead, valueRows: (0..<layout.batch).map(layout.lastPromptPosition))
            return r.values!
        }
        return try Scoring.values(policy: self, hidden: decoder.hiddenStates(embeddings: x, valid: layout.valid), layout: layout)
    }

    /// Row layout of a right-padded `[prompt, with the visual tokens at their place][response][pad]` batch.
    struct Layout {
        let batch: Int, length: Int, prefix: Int
        let promptLengths: [Int], responseLengths: [Int]
        /// Leading positions holding the same token in every row (before any visual token).
        var common = 0
        func lastPromptIndex(_ b: Int) -> Int { b * length + lastPromptPosition(b) }
        /// Position (within its row) of the prompt's last token.
        func lastPromptPosition(_ b: Int) -> Int { prefix + promptLengths[b] - 1 }
        /// Valid (non-padding) positions per row.
        var lengths: [Int] { (0..<batch).map { prefix + promptLengths[$0] + responseLengths[$0] } }
        var valid: [[Bool]] { lengths.map { n in (0..<length).map { $0 < n } } }
    }

    /// Final hidden states `[B, T, hidden]` (autograd) of the right-padded batch.
    func forwardHidden(images: Tensor?, promptIds: [[Int]], responses: [[Int]]) throws -> (Tensor, Layout) {
        let (x, layout) = try embeddings(images: images, promptIds: promptIds, responses: responses)
        return (try decoder.hiddenStates(embeddings: x, valid: layout.valid), layout)
    }

    /// Input embeddings `[B, T, hidden]` (autograd; visual tokens spliced in) of the right-padded batch and its layout.
    func embeddings(images: Tensor?, promptIds rawPrompts: [[Int]], responses: [[Int]]) throws -> (Tensor, Layout) {
        let b = rawPrompts.count
        let (promptIds, at) = try splitImageToken(rawPrompts, hasImages: images != nil, "score")
        let p = images == nil ? 0 : numVisualTokens
        let vocab = config.decoder.vocabSize
        for (i, r) in promptIds.enumerated() {
            if r.isEmpty { throw ModelError.invalidArgument("score: prompt \(i + 1) is empty") }
            if let bad = r.first(where: { $0 < 0 || $0 >= vocab }) { throw ModelError.invalidArgument("score: prompt \(i + 1) has token id \(bad) outside the vocabulary") }
        }
        for (i, r) in responses.enumerated() {
            if let bad = r.first(where: { $0 < 0 || $0 >= vocab }) { throw ModelError.invalidArgument("score: response \(i + 1) has token id \(bad) outside the vocabulary") }
        }
        let textLen = zip(promptIds, responses).map { $0.count + $1.count }.max()!
        let t = p + textLen
        let padId = isPretrained ? 0 : ByteTokenizer.pad
        var ids = [Int](repeating: padId, count: b * textLen)
        for r in 0..<b {
            let row = promptIds[r] + responses[r]
            for (j, id) in row.enumerated() { ids[r * textLen + j] = id }
        }
        var x = try decoder.embed(Tensor.fromInts(ids, [b, textLen]))
        if let im = images {
            let vt = try visualTokens(im)
            if at.allSatisfy({ $0 == 0 }) {
                x = try Tensor.cat([vt, x], dim: 1)
            } else {
                // Splice: row r is text[..<k], visual, text[k...]; gathered from [visual rows; text rows].
                let d = config.decoder.hiddenSize
                var index = [Int](repeating: 0, count: b * t)
                for r in 0..<b {
                    let k = at[r]
                    for j in 0..<t {
                        index[r * t + j] = j < k ? b * p + r * textLen + j
                            : j < k + p ? r * p + (j - k) : b * p + r * textLen + (j - p)
                    }
                }
                let src = try Tensor.cat([vt.reshape([b * p, d]), x.reshape([b * textLen, d])], dim: 0)
                x = try src.indexSelect(dim: 0, index: Tensor.fromInts(index, [b * t])).reshape([b, t, d])
            }
        }
        var layout = Layout(batch: b, length: t, prefix: p, promptLengths: promptIds.map(\.count), responseLengths: responses.map(\.count))
        // The common prefix: the same text token at the same position in every row, before any visual token.
        let rows = zip(promptIds, responses).map { $0 + $1 }
        var common = rows.map(\.count).min() ?? 0
        if p > 0 { common = min(common, at.min() ?? 0) }
        if let first = rows.first {
            for row in rows.dropFirst() {
                var k = 0
                while k < common && row[k] == first[k] { k += 1 }
                common = k
            }
        }
        layout.common = common
        return (x, layout)
    }

    // MARK: LoRA

    /// Attaches LoRA adapters (see `LoRAConfig`); with `freezeBase`, only adapter parameters remain trainable (and
    /// those matching `trainable`; for a pretrained policy also the vision encoder and projector, which start random).
    @discardableResult
    public func enableLoRA(_ c: LoRAConfig, generator: Generator = .default) throws -> [String] {
        guard loraConfig == nil else { throw ModelError.invalidArgument("lora: adapters are already attached") }
        var c = c
        if isPretrained {
            for t in ["^vision\\.", "^projector\\."] where !c.trainable.contains(t) { c.trainable.append(t) }
        }
        let names = try LoRA.apply(to: self, config: c, generator: generator)
        loraConfig = c
        return names
    }

    /// Folds the adapters into the base weights and removes them; every parameter becomes trainable.
    public func mergeLoRA() throws {
        try LoRA.merge(self)
        loraConfig = nil
    }

    // MARK: checkpoints

    /// Whether the pretrained decoder's base weights are still exactly those loaded from `decoderSource`.
    public func baseIsPristine() -> Bool {
        guard let s = decoderSource else { return false }
        return DecoderSource.hex(DecoderSource.weightHash(DecoderSource.baseParameters(decoder))) == s.weightHash
    }

    /// Saves the state dict as safetensors (float32) with the config JSON (and LoRA settings) in the metadata,
    /// atomically. A pretrained policy also records its decoder source (`moonlab_decoder`) and tokenizer; when the
    /// base weights are unchanged (the usual case: frozen base + LoRA) they are not written (`base_included` false)
    /// and `load` reads them from the source.
    public func save(path: String) throws {
        var meta = ["format": "moonlab-vlm", "moonlab_config": config.json()]
        if let l = loraConfig {
            let d: [String: Any] = ["rank": l.rank, "alpha": Double(l.alpha), "dropout": Double(l.dropout), "targets": l.targets,
                                    "freeze_base": l.freezeBase, "trainable": l.trainable, "adapted": LoRA.adapted(self).map { $0.0 }]
            meta["moonlab_lora"] = String(decoding: try JSONSerialization.data(withJSONObject: d, options: [.sortedKeys]), as: UTF8.self)
        }
        var named = namedParameters()
        if let src = decoderSource {
            let includeBase = !baseIsPristine()
            var d = src.dictionary()
            d["base_included"] = includeBase
            d["chat"] = usesChatTemplate
            d["image_token_id"] = imageTokenId
            d["frozen_base"] = DecoderSource.baseParameters(decoder).allSatisfy { !$0.1.requiresGrad }
            meta["moonlab_decoder"] = String(decoding: try JSONSerialization.data(withJSONObject: d, options: [.sortedKeys]), as: UTF8.self)
            if let m = tokenizerMetadata { meta["moonlab_tokenizer"] = try tokenizerJSON(m) }
            if !includeBase { named = named.filter { !VLMPolicy.isBaseName($0.0) } }
        }
        try Checkpoint.writeTensors(named, metadata: meta, to: path)
    }

    /// Builds a policy from a checkpoint written by `save` (config from the metadata, LoRA re-attached; a pretrained
    /// policy's decoder from its recorded source when the checkpoint does not include the base weights).
    public static func load(path: String) throws -> VLMPolicy {
        let (tensors, meta) = try Checkpoint.readTensors(path: path)
        guard let cj = meta["moonlab_config"] else {
            throw ModelError.checkpoint(path: path, reason: "no moonlab_config in the metadata (not a moonlab policy checkpoint)")
        }
        let config = try VLMConfig.fromJSON(cj)
        if config.pretrained != (meta["moonlab_decoder"] != nil) {
            throw ModelError.checkpoint(path: path, reason: "the config and the moonlab_decoder metadata disagree on whether the decoder is pretrained")
        }
        let p: VLMPolicy
        var baseTensors: [String: Tensor] = [:]
        if let dj = meta["moonlab_decoder"] {
            guard let d = try? JSONSerialization.jsonObject(with: Data(dj.utf8)) as? [String: Any],
                  let included = d["base_included"] as? Bool, let chat = d["chat"] as? Bool, let imageId = d["image_token_id"] as? Int else {
                throw ModelError.checkpoint(path: path, reason: "malformed moonlab_decoder metadata")
            }
            let src = try DecoderSource.fromDictionary(d, checkpoint: path)
            let lm: LanguageModel
            if !included {
                try src.verifyFile()
                lm = try LanguageModel.load(path: src.path)
                guard lm.config == config.decoder else {
                    throw ModelError.checkpoint(path: path, reason: "the decoder at \(src.path) no longer has the recorded configuration")
                }
                guard DecoderSource.hex(DecoderSource.weightHash(DecoderSource.baseParameters(lm.decoder))) == src.weightHash else {
                    throw ModelError.checkpoint(path: path, reason: "the decoder at \(src.path) no longer loads to the recorded weights")
                }
            } else if let tj = meta["moonlab_tokenizer"] {
                let dec = try ParameterInit.$zeroed.withValue(true) { try LlamaDecoder(config.decoder) }
                lm = LanguageModel(decoder: dec, tokenizer: try tokenizerFromJSON(tj, path: path), source: src.path)
            } else {
                // base included, tokenizer from the source (a Hugging Face directory's tokenizer.json)
                let loaded = try LanguageModel.load(path: src.path)
                let dec = try ParameterInit.$zeroed.withValue(true) { try LlamaDecoder(config.decoder) }
                lm = LanguageModel(decoder: dec, tokenizer: nil, source: src.path, textTokenizer: loaded.tokenizer)
            }
            guard let tok = lm.tokenizer else {
                throw ModelError.checkpoint(path: path, reason: "the decoder's tokenizer cannot be rebuilt (\(lm.tokenizerProblem ?? "unknown"))")
            }
            p = try VLMPolicy(config: config, decoder: lm.decoder, tokenizer: tok, metadata: lm.tokenizerMetadata, source: src, chat: chat,
                              imageToken: imageId)
            if d["frozen_base"] as? Bool ?? true {
                for (_, t) in DecoderSource.baseParameters(p.decoder) { try t.setRequiresGrad(false) }
            }
            if !included { for (n, t) in DecoderSource.baseParameters(p.decoder) { baseTensors[n] = t } }
        } else {
            p = try VLMPolicy(config)
        }
        if let lj = meta["moonlab_lora"] {
            guard let obj = try? JSONSerialization.jsonObject(with: Data(lj.utf8)) as? [String: Any],
                  let rank = obj["rank"] as? Int, let alpha = (obj["alpha"] as? NSNumber)?.floatValue,
                  let targets = obj["targets"] as? [String] else {
                throw ModelError.checkpoint(path: path, reason: "malformed moonlab_lora metadata")
            }
            let c = LoRAConfig(rank: rank, alpha: alpha, dropout: (obj["dropout"] as? NSNumber)?.floatValue ?? 0, targets: targets,
                               freezeBase: obj["freeze_base"] as? Bool ?? true, trainable: obj["trainable"] as? [String] ?? ["^value_head\\."])
            try p.enableLoRA(c)
        }
        var all = tensors
        for (n, t) in baseTensors where all[n] == nil { all[n] = t }
        do { try Tensor.noGrad { try p.loadStateDict(all) } } catch let e as ModelError { throw ModelError.checkpoint(path: path, reason: e.description) }
        return p
    }

    /// Copies a checkpoint's weights into this policy. Missing, unexpected or mis-shaped tensors throw one error
    /// listing all of them (with `strict`; mis-shaped ones always). A checkpoint of a pretrained policy saved without
    /// its base weights leaves the base as it is.
    public func loadWeights(path: String, strict: Bool = true) throws {
        let (tensors, meta) = try Checkpoint.readTensors(path: path)
        var all = tensors
        if isPretrained, let dj = meta["moonlab_decoder"], dj.contains("\"base_included\":false") {
            for (n, t) in DecoderSource.baseParameters(decoder) where all[n] == nil { all[n] = t }
        }
        do { try Tensor.noGrad { try loadStateDict(all, strict: strict) } } catch let e as ModelError { throw ModelError.checkpoint(path: path, reason: e.description) }
    }

    /// A deep copy: same config, decoder source, tokenizer, LoRA adapters, weights (copied), trainable flags and
    /// train/eval mode.
    public func clone() throws -> VLMPolicy {
        let p: VLMPolicy
        if isPretrained {
            let dec = try ParameterInit.$zeroed.withValue(true) { try LlamaDecoder(config.decoder) }
            p = try VLMPolicy(config: config, decoder: dec, tokenizer: tokenizer, metadata: tokenizerMetadata, source: decoderSource,
                              chat: usesChatTemplate, imageToken: imageTokenId)
        } else {
            p = try VLMPolicy(config)
        }
        if let l = loraConfig { try p.enableLoRA(l) }
        try Tensor.noGrad { try p.loadStateDict(stateDict().mapValues { $0.clone() }) }
        for ((_, a), (_, b)) in zip(namedParameters(), p.namedParameters()) { try b.setRequiresGrad(a.requiresGrad) }
        for ((_, a), (_, b)) in zip(LoRA.adapted(self), LoRA.adapted(p)) { b.lora?.enabled = a.lora?.enabled ?? true }
        p.train(training)
        return p
    }
}
