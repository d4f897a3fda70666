import Foundation
import MoonTensor

/// The agent: patch vision encoder + projector producing visual tokens, followed by the prompt and the response in
/// a Llama decoder, plus a value head (a linear layer on the final hidden state of the prompt's last token).
///
/// Sequence layout of a row: `[visual tokens][<bos> prompt bytes][response tokens]`. State-dict names: the decoder's
/// transformers names (`model.*`, `lm_head.weight`), then `vision.*`, `projector.*`, `value_head.*` (and
/// `*.lora_A.weight` / `*.lora_B.weight` when LoRA is attached).
public final class VLMPolicy: Module {
    public let config: VLMConfig
    public let vision: VisionEncoder
    public let projector: GeluMLP
    public let decoder: LlamaDecoder
    public let valueHead: Linear
    public let tokenizer = ByteTokenizer()
    /// The LoRA configuration in effect (nil: none attached).
    public private(set) var loraConfig: LoRAConfig?

    /// A randomly initialised policy (seeded by `config.seed`). Invalid configs throw naming the field.
    public init(_ config: VLMConfig) throws {
        try config.validate()
        self.config = config
        let g = Generator(seed: config.seed)
        decoder = try LlamaDecoder(config.decoder, generator: g)
        vision = try VisionEncoder(config.vision, generator: g)
        let d = config.decoder.hiddenSize
        projector = GeluMLP(config.vision.width, config.projectorHidden ?? d, d, generator: g)
        valueHead = Linear(d, 1, bias: true, std: 0.02, generator: g)
        super.init()
        registerModule("model", decoder.model)
        if let h = decoder.lmHead { registerModule("lm_head", h) }
        registerModule("vision", vision)
        registerModule("projector", projector)
        registerModule("value_head", valueHead)
    }

    /// Number of visual tokens per image.
    public var numVisualTokens: Int { config.vision.numPatches }

    /// Prompt token ids: `<bos>` then the UTF-8 bytes.
    public func encodePrompt(_ prompt: String) -> [Int] { tokenizer.encode(prompt, addBos: true) }

    /// Visual tokens `[B, numPatches, hidden]` of images `[B, C, H, W]` (differentiable).
    public func visualTokens(_ images: Tensor) throws -> Tensor { try projector(vision(images)) }

    private func checkBatch(_ images: Tensor?, _ n: Int, _ what: String) throws {
        if let im = images, im.ndim >= 1, im.shape[0] != n {
            throw ModelError.invalidArgument("\(what): \(im.shape[0]) images for \(n) prompts")
        }
        if n == 0 { throw ModelError.invalidArgument("\(what): expected at least one prompt") }
    }

    // MARK: generation

    /// Samples answers for a batch of (image, prompt) pairs (no autograd; KV cache). `images`: `[B, C, H, W]` or nil
    /// for text only. The result includes the value estimate of each prompt.
    public func generate(images: Tensor?, prompts: [String], options: GenerateOptions = GenerateOptions(),
                         generator: Generator = .default) throws -> GenerateResult {
        try generate(images: images, promptIds: prompts.map(encodePrompt), options: options, generator: generator)
    }

    /// As `generate(images:prompts:)` with prompts given as token ids.
    public func generate(images: Tensor?, promptIds: [[Int]], options: GenerateOptions = GenerateOptions(),
                         generator: Generator = .default) throws -> GenerateResult {
        try checkBatch(images, promptIds.count, "generate")
        return try Tensor.noGrad {
            let prefix = try images.map { try visualTokens($0) }
            let vw = valueHead.weight.toArray(), vb = try valueHead.bias!.item()
            return try GenerationCore.run(packed: PackedDecoder(decoder), prefix: prefix, prompts: promptIds, options: options,
                                          generator: generator, valueHead: (vw, vb))
        }
    }

    // MARK: scoring (autograd)

    /// Teacher-forced per-token log-probs and entropies of `responses` (token ids, e.g. `GenerateResult.tokens`),
    /// the value estimates, and the thought/action masks. Differentiable when grad mode is on.
    /// `temperature` divides the logits (1: the policy's own distribution, as `generate` reports by default).
    public func score(images: Tensor?, prompts: [String], responses: [[Int]], temperature: Float = 1) throws -> ScoreResult {
        try score(images: images, promptIds: prompts.map(encodePrompt), responses: responses, temperature: temperature)
    }

    /// As `score(images:prompts:responses:)` with prompts given as token ids.
    public func score(images: Tensor?, promptIds: [[Int]], responses: [[Int]], temperature: Float = 1) throws -> ScoreResult {
        try checkBatch(images, promptIds.count, "score")
        guard responses.count == promptIds.count else {
            throw ModelError.invalidArgument("score: \(responses.count) responses for \(promptIds.count) prompts")
        }
        guard temperature > 0 && temperature.isFinite else {
            throw ModelError.invalidConfig(field: "temperature", reason: "must be positive, got \(temperature)")
        }
        let (hidden, layout) = try forwardHidden(images: images, promptIds: promptIds, responses: responses)
        return try Scoring.score(policy: self, hidden: hidden, layout: layout, responses: responses, temperature: temperature)
    }

    /// Value estimates `[B]` (differentiable) of (image, prompt) pairs.
    public func value(images: Tensor?, prompts: [String]) throws -> Tensor {
        let ids = prompts.map(encodePrompt)
        try checkBatch(images, ids.count, "value")
        let (hidden, layout) = try forwardHidden(images: images, promptIds: ids, responses: ids.map { _ in [] })
        return try Scoring.values(policy: self, hidden: hidden, layout: layout)
    }

    /// Row layout of a right-padded `[visual][prompt][response][pad]` batch.
    struct Layout {
        let batch: Int, length: Int, prefix: Int
        let promptLengths: [Int], responseLengths: [Int]
        func lastPromptIndex(_ b: Int) -> Int { b * length + prefix + promptLengths[b] - 1 }
    }

    /// Final hidden states `[B, T, hidden]` (autograd) of the right-padded batch.
    func forwardHidden(images: Tensor?, promptIds: [[Int]], responses: [[Int]]) throws -> (Tensor, Layout) {
        let b = promptIds.count
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
        var ids = [Int](repeating: ByteTokenizer.pad, count: b * textLen)
        var valid = [[Bool]](repeating: [Bool](repeating: false, count: t), count: b)
        for r in 0..<b {
            let row = promptIds[r] + responses[r]
            for (j, id) in row.enumerated() { ids[r * textLen + j] = id }
            for j in 0..<(p + row.count) { valid[r][j] = true }
        }
        var x = try decoder.embed(Tensor.fromInts(ids, [b, textLen]))
        if let im = images { x = try Tensor.cat([visualTokens(im), x], dim: 1) }
        let h = try decoder.hiddenStates(embeddings: x, valid: valid)
        return (h, Layout(batch: b, length: t, prefix: p, promptLengths: promptIds.map(\.count), responseLengths: responses.map(\.count)))
    }

    // MARK: LoRA

    /// Attaches LoRA adapters (see `LoRAConfig`); with `freezeBase`, only adapter parameters remain trainable.
    @discardableResult
    public func enableLoRA(_ c: LoRAConfig, generator: Generator = .default) throws -> [String] {
        guard loraConfig == nil else { throw ModelError.invalidArgument("lora: adapters are already attached") }
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

    /// Saves the state dict as safetensors (float32) with the config JSON (and LoRA settings) in the metadata,
    /// atomically.
    public func save(path: String) throws {
        var meta = ["format": "moonlab-vlm", "moonlab_config": config.json()]
        if let l = loraConfig {
            let d: [String: Any] = ["rank": l.rank, "alpha": Double(l.alpha), "dropout": Double(l.dropout), "targets": l.targets,
                                    "freeze_base": l.freezeBase, "trainable": l.trainable, "adapted": LoRA.adapted(self).map { $0.0 }]
            meta["moonlab_lora"] = String(decoding: try JSONSerialization.data(withJSONObject: d, options: [.sortedKeys]), as: UTF8.self)
        }
        try Checkpoint.writeTensors(namedParameters(), metadata: meta, to: path)
    }

    /// Builds a policy from a checkpoint written by `save` (config from the metadata, LoRA re-attached).
    public static func load(path: String) throws -> VLMPolicy {
        let (tensors, meta) = try Checkpoint.readTensors(path: path)
        guard let cj = meta["moonlab_config"] else {
            throw ModelError.checkpoint(path: path, reason: "no moonlab_config in the metadata (not a moonlab policy checkpoint)")
        }
        let p = try VLMPolicy(VLMConfig.fromJSON(cj))
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
        do { try p.loadStateDict(tensors) } catch let e as ModelError { throw ModelError.checkpoint(path: path, reason: e.description) }
        return p
    }

    /// Copies a checkpoint's weights into this policy. Missing, unexpected or mis-shaped tensors throw one error
    /// listing all of them (with `strict`; mis-shaped ones always).
    public func loadWeights(path: String, strict: Bool = true) throws {
        let (tensors, _) = try Checkpoint.readTensors(path: path)
        do { try loadStateDict(tensors, strict: strict) } catch let e as ModelError { throw ModelError.checkpoint(path: path, reason: e.description) }
    }

    /// A deep copy: same config, LoRA adapters, weights (copied), trainable flags and train/eval mode.
    public func clone() throws -> VLMPolicy {
        let p = try VLMPolicy(config)
        if let l = loraConfig { try p.enableLoRA(l) }
        try p.loadStateDict(stateDict().mapValues { $0.clone() })
        for ((_, a), (_, b)) in zip(namedParameters(), p.namedParameters()) { try b.setRequiresGrad(a.requiresGrad) }
        for ((_, a), (_, b)) in zip(LoRA.adapted(self), LoRA.adapted(p)) { b.lora?.enabled = a.lora?.enabled ?? true }
        p.train(training)
        return p
    }
}
