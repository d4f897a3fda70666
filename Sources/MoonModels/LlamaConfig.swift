import Foundation
import MoonCheckpoint
import MoonTensor

/// Sizes of a Llama-architecture decoder. Field names mirror transformers' `LlamaConfig`.
public struct LlamaConfig: Sendable, Equatable {
    public var vocabSize: Int = 260
    public var hiddenSize: Int = 128
    public var intermediateSize: Int = 344
    public var numHiddenLayers: Int = 4
    public var numAttentionHeads: Int = 4
    public var numKeyValueHeads: Int = 4
    /// nil: hiddenSize / numAttentionHeads.
    public var headDim: Int? = nil
    public var ropeTheta: Float = 10000
    public var rmsNormEps: Float = 1e-6
    public var tieWordEmbeddings: Bool = false
    public var maxPositionEmbeddings: Int = 2048
    public var initializerRange: Float = 0.02
    public var bosTokenId: Int = ByteTokenizer.bos
    public var eosTokenId: Int = ByteTokenizer.eos
    public var padTokenId: Int = ByteTokenizer.pad
    /// Biases on the q/k/v projections (Qwen2); the output projection never has one.
    public var attentionBias: Bool = false
    /// transformers' `model_type`: "llama" or "qwen2" (the same computation; qwen2 has q/k/v biases).
    public var modelType: String = "llama"
    /// Whether the attention output projection has a bias (Llama's `attention_bias` covers it; Qwen2's never has one).
    public var attentionOutputBias: Bool { attentionBias && modelType != "qwen2" }

    public init() {}

    public var resolvedHeadDim: Int { headDim ?? (numAttentionHeads > 0 ? hiddenSize / numAttentionHeads : 0) }

    /// Throws `ModelError.invalidConfig` naming the first bad field (prefixed with `prefix`).
    public func validate(prefix: String = "") throws {
        func bad(_ f: String, _ r: String) -> ModelError { .invalidConfig(field: prefix + f, reason: r) }
        if vocabSize <= 0 { throw bad("vocab_size", "must be positive, got \(vocabSize)") }
        if hiddenSize <= 0 { throw bad("hidden_size", "must be positive, got \(hiddenSize)") }
        if intermediateSize <= 0 { throw bad("intermediate_size", "must be positive, got \(intermediateSize)") }
        if numHiddenLayers < 0 { throw bad("num_hidden_layers", "must be non-negative, got \(numHiddenLayers)") }
        if numAttentionHeads <= 0 { throw bad("num_attention_heads", "must be positive, got \(numAttentionHeads)") }
        if numKeyValueHeads <= 0 || numAttentionHeads % numKeyValueHeads != 0 {
            throw bad("num_key_value_heads", "must be positive and divide num_attention_heads (\(numAttentionHeads)), got \(numKeyValueHeads)")
        }
        if let h = headDim, h <= 0 || h % 2 != 0 { throw bad("head_dim", "must be a positive even number, got \(h)") }
        if headDim == nil && hiddenSize % numAttentionHeads != 0 {
            throw bad("hidden_size", "must be divisible by num_attention_heads (\(numAttentionHeads)), got \(hiddenSize)")
        }
        if resolvedHeadDim % 2 != 0 { throw bad("head_dim", "must be even for rotary embeddings, got \(resolvedHeadDim)") }
        if !(ropeTheta > 0) { throw bad("rope_theta", "must be positive, got \(ropeTheta)") }
        if !(rmsNormEps > 0) { throw bad("rms_norm_eps", "must be positive, got \(rmsNormEps)") }
        if maxPositionEmbeddings <= 0 { throw bad("max_position_embeddings", "must be positive, got \(maxPositionEmbeddings)") }
        if !(initializerRange >= 0) { throw bad("initializer_range", "must be non-negative, got \(initializerRange)") }
    }

    /// The transformers `config.json` object for this decoder (keys sorted).
    public func hfJSONValue() -> JSON {
        var d: [String: JSON] = [
            "architectures": .array([.string(modelType == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM")]),
            "model_type": .string(modelType),
            "vocab_size": .int(vocabSize), "hidden_size": .int(hiddenSize), "intermediate_size": .int(intermediateSize),
            "num_hidden_layers": .int(numHiddenLayers), "num_attention_heads": .int(numAttentionHeads),
            "num_key_value_heads": .int(numKeyValueHeads), "rope_theta": .number(Double(ropeTheta)),
            "rms_norm_eps": .number(Double(rmsNormEps)), "tie_word_embeddings": .bool(tieWordEmbeddings),
            "max_position_embeddings": .int(maxPositionEmbeddings), "initializer_range": .number(Double(initializerRange)),
            "hidden_act": .string("silu"), "attention_bias": .bool(attentionBias), "mlp_bias": .bool(false),
            "torch_dtype": .string("float32"),
        ]
        // transformers rejects a pad id outside the vocabulary; special ids of a tiny test vocab are left out.
        for (k, v) in [("bos_token_id", bosTokenId), ("eos_token_id", eosTokenId), ("pad_token_id", padTokenId)] where v >= 0 && v < vocabSize {
            d[k] = .int(v)
        }
        if let h = headDim { d["head_dim"] = .int(h) }
        if modelType == "qwen2" { d["attention_bias"] = nil; d["mlp_bias"] = nil; d["use_sliding_window"] = .bool(false) }
        return .object(d.keys.sorted().map { JSON.Member($0, d[$0]!) })
    }

    /// Reads a transformers `config.json` object. Unknown keys are ignored (HF configs carry many); wrongly typed
    /// known keys and unsupported features throw naming the field.
    public static func fromHF(_ d: JSON) throws -> LlamaConfig {
        guard d.members != nil else { throw ModelError.invalidConfig(field: "config", reason: "expected a JSON object, got \(d.typeName)") }
        var c = LlamaConfig()
        if let mt = d["model_type"] {
            guard let m = mt.stringValue, m == "llama" || m == "qwen2" else {
                throw ModelError.invalidConfig(field: "model_type", reason: "unsupported architecture \(mt.serialized()) (llama and qwen2 are supported)")
            }
            c.modelType = m
            c.attentionBias = m == "qwen2"
        }
        if let a = d["architectures"]?.arrayValue?.first?.stringValue,
           !["LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"].contains(a) {
            throw ModelError.invalidConfig(field: "architectures", reason: "unsupported architecture \(a) (LlamaForCausalLM and Qwen2ForCausalLM are supported)")
        }
        func int(_ k: String) throws -> Int? {
            guard let v = d[k], v != .null else { return nil }
            if let x = v.doubleValue, let i = Int(exactly: x) { return i }
            throw ModelError.invalidConfig(field: k, reason: "expected an integer, got \(v.serialized())")
        }
        func num(_ k: String) throws -> Float? {
            guard let v = d[k], v != .null else { return nil }
            if let x = v.doubleValue { return Float(x) }
            throw ModelError.invalidConfig(field: k, reason: "expected a number, got \(v.serialized())")
        }
        if let v = try int("vocab_size") { c.vocabSize = v }
        if let v = try int("hidden_size") { c.hiddenSize = v }
        if let v = try int("intermediate_size") { c.intermediateSize = v }
        if let v = try int("num_hidden_layers") { c.numHiddenLayers = v }
        if let v = try int("num_attention_heads") { c.numAttentionHeads = v; c.numKeyValueHeads = v }
        if let v = try int("num_key_value_heads") { c.numKeyValueHeads = v }
        if let v = try int("head_dim") { c.headDim = v == c.hiddenSize / max(c.numAttentionHeads, 1) ? nil : v }
        if let v = try num("rope_theta") { c.ropeTheta = v }
        if let t = d["rope_parameters"]?["rope_theta"]?.doubleValue { c.ropeTheta = Float(t) }
        if let v = try num("rms_norm_eps") { c.rmsNormEps = v }
        if let v = try int("max_position_embeddings") { c.maxPositionEmbeddings = v }
        if let v = try num("initializer_range") { c.initializerRange = v }
        if let v = d["tie_word_embeddings"] {
            guard let b = v.boolValue else { throw ModelError.invalidConfig(field: "tie_word_embeddings", reason: "expected a boolean, got \(v.serialized())") }
            c.tieWordEmbeddings = b
        }
        // special ids: some configs hold lists here; those are ignored
        if let v = ((try? int("bos_token_id")) ?? nil) { c.bosTokenId = v }
        if let v = ((try? int("eos_token_id")) ?? nil) { c.eosTokenId = v }
        if let v = ((try? int("pad_token_id")) ?? nil) { c.padTokenId = v }
        if let act = d["hidden_act"]?.stringValue, act != "silu" {
            throw ModelError.invalidConfig(field: "hidden_act", reason: "only silu is supported, got \(act)")
        }
        if let b = d["attention_bias"]?.boolValue { c.attentionBias = b || c.modelType == "qwen2" }
        if let lt = d["layer_types"]?.arrayValue, let bad = lt.first(where: { $0.stringValue != "full_attention" }) {
            throw ModelError.invalidConfig(field: "layer_types", reason: "only full_attention layers are supported, got \(bad.serialized())")
        }
        if let ty = d["rope_parameters"]?["rope_type"]?.stringValue, ty != "default" {
            throw ModelError.invalidConfig(field: "rope_parameters", reason: "rope scaling is not supported, got rope_type \(ty)")
        }
        if c.modelType == "qwen2", d["use_sliding_window"]?.boolValue == true {
            throw ModelError.invalidConfig(field: "use_sliding_window", reason: "sliding-window attention is not supported")
        }
        if d["mlp_bias"]?.boolValue == true { throw ModelError.invalidConfig(field: "mlp_bias", reason: "MLP biases are not supported") }
        if let rs = d["rope_scaling"], rs != .null {
            if (rs["rope_type"] ?? rs["type"])?.stringValue == "default" {} else {
                throw ModelError.invalidConfig(field: "rope_scaling", reason: "rope scaling is not supported, got \(rs.serialized())")
            }
        }
        try c.validate()
        return c
    }

    /// Reads a transformers `config.json` file.
    public static func load(path: String) throws -> LlamaConfig {
        let data: Data
        do { data = try RegularFile.read(path) } catch {
            throw ModelError.checkpoint(path: path, reason: "cannot read config file: \(error)")
        }
        let json: JSON
        do { json = try JSON.parse(bytes: [UInt8](data)) } catch {
            throw ModelError.checkpoint(path: path, reason: "config is not JSON: \(error)")
        }
        guard json.members != nil else { throw ModelError.checkpoint(path: path, reason: "config is not a JSON object") }
        return try fromHF(json)
    }

    /// JSON text of `hfJSONValue()` (sorted keys, indented).
    public func hfJSON() -> String { hfJSONValue().pretty() }
}

extension JSON {
    /// A JSON number from an integer.
    static func int(_ v: Int) -> JSON { .number(Double(v)) }
}
