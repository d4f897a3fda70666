import Foundation
import MoonTensor

/// The `model` part of `LlamaForCausalLM`: `embed_tokens`, `layers.{i}`, `norm`.
public final class LlamaModel: Module {
    public let embedTokens: Embedding
    public let layers: ModuleList<TransformerBlock>
    public let norm: RMSNorm

    init(_ c: LlamaConfig, generator: Generator) throws {
        embedTokens = Embedding(c.vocabSize, c.hiddenSize, std: c.initializerRange, generator: generator)
        layers = ModuleList()
        for _ in 0..<c.numHiddenLayers { layers.append(try TransformerBlock(c, generator: generator)) }
        norm = RMSNorm(c.hiddenSize, eps: c.rmsNormEps)
        super.init()
        registerModule("embed_tokens", embedTokens)
        registerModule("layers", layers)
        registerModule("norm", norm)
    }
}

/// A Llama-architecture causal LM with transformers' `LlamaForCausalLM` parameter names, so its safetensors
/// load and save interchangeably with transformers.
public final class LlamaDecoder: Module {
    public let config: LlamaConfig
    public let model: LlamaModel
    /// The output projection; nil when `tieWordEmbeddings` (the embedding table is used).
    public let lmHead: Linear?
    public let rope: RoPE
    /// Scratch memory of fused passes (FusedTraining.swift), reused between steps.
    let trainingArenas = ArenaPool()

    public init(_ config: LlamaConfig, generator: Generator = .default) throws {
        try config.validate()
        self.config = config
        model = try LlamaModel(config, generator: generator)
        lmHead = config.tieWordEmbeddings ? nil : Linear(config.hiddenSize, config.vocabSize, bias: false,
                                                         std: config.initializerRange, generator: generator)
        rope = RoPE(headDim: config.resolvedHeadDim, theta: config.ropeTheta)
        super.init()
        registerModule("model", model)
        if let h = lmHead { registerModule("lm_head", h) }
    }

    /// The output projection weight `[vocab, hidden]` (the embedding table when tied).
    public var outputWeight: Tensor { lmHead?.weight ?? model.embedTokens.weight }

    /// Token embeddings of int64 ids `[B, T]` → `[B, T, hidden]`.
    public func embed(_ ids: Tensor) throws -> Tensor {
        guard ids.dtype == .int64 else { throw ModelError.invalidArgument("decoder: token ids must be int64, got \(ids.dtype)") }
        return try model.embedTokens(ids)
    }

    /// Final hidden states (after the last norm) `[B, T, hidden]` for input embeddings `[B, T, hidden]`.
    /// `valid[b][t]` marks real (non-padding) tokens; positions count the valid tokens before each one (as
    /// transformers derives them from the attention mask), so padding never changes a row's result.
    public func hiddenStates(embeddings x: Tensor, valid: [[Bool]]? = nil) throws -> Tensor {
        guard x.ndim == 3, x.shape[2] == config.hiddenSize else {
            throw ModelError.invalidArgument("decoder: expected embeddings of shape [B, T, \(config.hiddenSize)], got \(shapeString(x.shape))")
        }
        let b = x.shape[0], t = x.shape[1]
        let v = valid ?? Array(repeating: Array(repeating: true, count: t), count: b)
        guard v.count == b, v.allSatisfy({ $0.count == t }) else {
            throw ModelError.invalidArgument("decoder: attention mask must be [\(b)][\(t)]")
        }
        let positions = LlamaDecoder.positions(valid: v)
        let tables = RoPETables(rope: rope, positions: positions, queryScale: 1 / Float(config.resolvedHeadDim).squareRoot())
        let allValid = v.allSatisfy { $0.allSatisfy { $0 } }
        let mask = allValid ? AttentionMask.causal(t) : AttentionMask.make(valid: v, causal: true)
        var h = x
        for layer in model.layers.items { h = try layer(h, rope: tables, mask: mask) }
        return try model.norm(h)
    }

    /// Logits `[..., vocab]` of final hidden states.
    public func logits(hidden: Tensor) throws -> Tensor {
        if let h = lmHead { return try h(hidden) }
        return try Tensor.linear(hidden, weight: model.embedTokens.weight)
    }

    /// Logits `[B, T, vocab]` for int64 ids `[B, T]` (optionally with a validity mask).
    public func callAsFunction(_ ids: Tensor, valid: [[Bool]]? = nil) throws -> Tensor {
        try logits(hidden: hiddenStates(embeddings: embed(ids), valid: valid))
    }

    /// Mean next-token cross-entropy of ids `[B, T]` (targets are the ids shifted by one). `lossMask[b][j]`: whether
    /// token j of row b counts as a target (default: every token but the first). `fused` (default
    /// `FusedScoring.enabled`): through the fused pass (one autograd node) when it supports the decoder's setup.
    public func lmLoss(_ ids: Tensor, lossMask: [[Bool]]? = nil, fused: Bool? = nil) throws -> Tensor {
        guard ids.dtype == .int64, ids.ndim == 2, ids.shape[1] >= 2 else {
            throw ModelError.invalidArgument("lmLoss: expected int64 ids of shape [B, T] with T >= 2, got \(ids.dtype) \(shapeString(ids.shape))")
        }
        let b = ids.shape[0], t = ids.shape[1]
        if let m = lossMask, m.count != b || !m.allSatisfy({ $0.count == t }) {
            throw ModelError.invalidArgument("lmLoss: loss mask must be [\(b)][\(t)]")
        }
        let flat = ids.contiguous().toIntArray()
        if let bad = flat.first(where: { $0 < 0 || $0 >= config.vocabSize }) {
            throw ModelError.invalidArgument("lmLoss: token id \(bad) outside the vocabulary (\(config.vocabSize))")
        }
        var rows: [(Int, Int)] = [], targets: [Int] = []
        for r in 0..<b { for j in 0..<(t - 1) where lossMask?[r][j + 1] ?? true { rows.append((r, j)); targets.append(flat[r * t + j + 1]) } }
        guard !rows.isEmpty else { throw ModelError.invalidArgument("lmLoss: no target tokens (check the loss mask)") }
        if fused ?? FusedScoring.enabled, FusedScoring.unsupported(self, valueHead: nil) == nil {
            let seqs = (0..<b).map { Array(flat[($0 * t)..<(($0 + 1) * t)]) }
            var common = t - 1
            for row in seqs.dropFirst() { var k = 0; while k < common && row[k] == seqs[0][k] { k += 1 }; common = k }
            let s = try FusedScoring.score(self, embeddings: embed(ids), lengths: [Int](repeating: t, count: b), shared: common,
                                           rows: rows, targets: targets, temperature: 1, valueHead: nil, valueRows: nil)
            return s.logProbs.sum().div(Float(rows.count)).neg()
        }
        let h = try hiddenStates(embeddings: embed(ids)).narrow(dim: 1, start: 0, length: t - 1)
        let lg = try logits(hidden: h).reshape([b * (t - 1), config.vocabSize])
        var tg = [Int](repeating: -100, count: b * (t - 1))
        for (i, (r, j)) in rows.enumerated() { tg[r * (t - 1) + j] = targets[i] }
        return try Tensor.crossEntropy(lg, Tensor.fromInts(tg, [b * (t - 1)]))
    }

    /// Position ids from a validity mask: the number of valid tokens before each token (0 for padding).
    public static func positions(valid: [[Bool]]) -> [[Int]] {
        valid.map { row in
            var n = 0
            return row.map { ok in
                if ok { n += 1; return n - 1 }
                return 0
            }
        }
    }

    // MARK: transformers interchange

    /// Loads a transformers checkpoint directory (config.json + model.safetensors or sharded model-*.safetensors
    /// with its index; see `HFCheckpoint`).
    public static func loadHF(directory: String, generator: Generator = .default) throws -> LlamaDecoder {
        try HFCheckpoint.loadDecoder(directory: directory)
    }

    /// Copies weights from a safetensors file with transformers names (float16/bfloat16/float32 converted).
    /// A tied model ignores a stored `lm_head.weight`. Mismatches throw listing every difference.
    public func loadSafetensors(path: String, strict: Bool = true) throws {
        let f = try SafeTensors.open(path)
        var dict: [String: Tensor] = [:]
        for info in f.tensors {
            if config.tieWordEmbeddings && info.name == "lm_head.weight" { continue }
            guard info.dtype.isFloat else {
                throw ModelError.checkpoint(path: path, reason: "tensor \(info.name) has non-float dtype \(info.dtype.rawValue)")
            }
            dict[info.name] = Tensor.fromArray(try f.floats(info.name), info.shape)
        }
        try loadStateDict(dict, strict: strict)
    }

    /// Writes `config.json` and `model.safetensors` (float32, transformers names) into `directory` (created if
    /// needed), atomically per file.
    public func saveHF(directory: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try AtomicFile.write(to: directory + "/config.json", string: config.hfJSON() + "\n")
        try Checkpoint.writeTensors(exportParameters(), metadata: ["format": "pt"], to: directory + "/model.safetensors")
    }

    /// Parameters under transformers names with LoRA adapters folded in (no `lora_A`/`lora_B` entries).
    public func exportParameters() throws -> [(String, Tensor)] {
        var effective: [String: Tensor] = [:]
        for (n, m) in namedModules() {
            if let l = m as? Linear, l.lora != nil { effective[n.isEmpty ? "weight" : n + ".weight"] = try l.effectiveWeight() }
        }
        return namedParameters().filter { !$0.0.contains(".lora_A.") && !$0.0.contains(".lora_B.") }.map { ($0.0, effective[$0.0] ?? $0.1) }
    }
}
