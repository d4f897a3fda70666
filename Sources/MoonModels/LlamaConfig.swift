import Foundation
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

    /// The transformers `config.json` dictionary for this decoder.
    public func hfDictionary() -> [String: Any] {
        var d: [String: Any] = [
            "architectures": [modelType == "qwen2" ? "Qwen2ForCausalLM" : "LlamaForCausalLM"], "model_type": modelType,
            "vocab_size": vocabSize, "hidden_size": hiddenSize, "intermediate_size": intermediateSize,
            "num_hidden_layers": numHiddenLayers, "num_attention_heads": numAttentionHeads,
            "num_key_value_heads": numKeyValueHeads, "rope_theta": Double(ropeTheta), "rms_norm_eps": Double(rmsNormEps),
            "tie_word_embeddings": tieWordEmbeddings, "max_position_embeddings": maxPositionEmbeddings,
            "initializer_range": Double(initializerRange), "hidden_act": "silu", "attention_bias": attentionBias,
            "mlp_bias": false, "torch_dtype": "float32",
        ]
        // transformers rejects a pad id outside the vocabulary; special ids of a tiny test vocab are left out.
        for (k, v) in [("bos_token_id", bosTokenId), ("eos_token_id", eosTokenId), ("pad_token_id", padTokenId)] where v >= 0 && v < vocabSize {
            d[k] = v
        }
        if let h = headDim { d["head_dim"] = h }
        if modelType == "qwen2" { d["attention_bias"] = nil; d["mlp_bias"] = nil; d["use_sliding_window"] = false }
        return d
    }

    /// Reads a transformers `config.json` dictionary. Unknown keys are ignored (HF configs carry many);
    /// wrongly typed known keys and unsupported features throw naming the field.
    public static func fromHF(_ d: [String: Any]) throws -> LlamaConfig {
        var c = LlamaConfig()
        if let mt = d["model_type"] {
            guard let m = mt as? String, m == "llama" || m == "qwen2" else {
                throw ModelError.invalidConfig(field: "model_type", reason: "unsupported architecture \(mt) (llama and qwen2 are supported)")
            }
            c.modelType = m
            c.attentionBias = m == "qwen2"
        }
        if let arch = d["architectures"] as? [Any], let a = arch.first as? String,
           !["LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"].contains(a) {
            throw ModelError.invalidConfig(field: "architectures", reason: "unsupported architecture \(a) (LlamaForCausalLM and Qwen2ForCausalLM are supported)")
        }
        func int(_ k: String) throws -> Int? {
            guard let v = d[k], !(v is NSNull) else { return nil }
            if !jsonIsBool(v), let n = v as? NSNumber, n.doubleValue == n.doubleValue.rounded() { return n.intValue }
            throw ModelError.invalidConfig(field: k, reason: "expected an integer, got \(v)")
        }
        func num(_ k: String) throws -> Float? {
            guard let v = d[k], !(v is NSNull) else { return nil }
            if !jsonIsBool(v), let n = v as? NSNumber { return n.floatValue }
            throw ModelError.invalidConfig(field: k, reason: "expected a number, got \(v)")
        }
        if let v = try int("vocab_size") { c.vocabSize = v }
        if let v = try int("hidden_size") { c.hiddenSize = v }
        if let v = try int("intermediate_size") { c.intermediateSize = v }
        if let v = try int("num_hidden_layers") { c.numHiddenLayers = v }
        if let v = try int("num_attention_heads") { c.numAttentionHeads = v; c.numKeyValueHeads = v }
        if let v = try int("num_key_value_heads") { c.numKeyValueHeads = v }
        if let v = try int("head_dim") { c.headDim = v == c.hiddenSize / max(c.numAttentionHeads, 1) ? nil : v }
        if let v = try num("rope_theta") { c.ropeTheta = v }
        if let rp = d["rope_parameters"] as? [String: Any], let t = rp["rope_theta"] as? NSNumber { c.ropeTheta = t.floatValue }
        if let v = try num("rms_norm_eps") { c.rmsNormEps = v }
        if let v = try int("max_position_embeddings") { c.maxPositionEmbeddings = v }
        if let v = try num("initializer_range") { c.initializerRange = v }
        if let v = d["tie_word_embeddings"] {
            guard jsonIsBool(v), let b = v as? Bool else { throw ModelError.invalidConfig(field: "tie_word_embeddings", reason: "expected a boolean, got \(v)") }
            c.tieWordEmbeddings = b
        }
        if let v = ((try? int("bos_token_id")) ?? nil) { c.bosTokenId = v }
        if let v = ((try? int("eos_token_id")) ?? nil) { c.eosTokenId = v }
        if let v = ((try? int("pad_token_id")) ?? nil) { c.padTokenId = v }
        if let act = d["hidden_act"] as? String, act != "silu" {
            throw ModelError.invalidConfig(field: "hidden_act", reason: "only silu is supported, got \(act)")
        }
        if let b = d["attention_bias"] as? Bool { c.attentionBias = b || c.modelType == "qwen2" }
        if let lt = d["layer_types"] as? [Any], let bad = lt.first(where: { ($0 as? String) != "full_attention" }) {
            throw ModelError.invalidConfig(field: "layer_types", reason: "only full_attention layers are supported, got \(bad)")
        }
        if let rp = d["rope_parameters"] as? [String: Any], let ty = rp["rope_type"] as? String, ty != "default" {
            throw ModelError.invalidConfig(field: "rope_parameters", reason: "rope scaling is not supported, got rope_type \(ty)")
        }
        if c.modelType == "qwen2", let sw = d["use_sliding_window"] as? Bool, sw {
            throw ModelError.invalidConfig(field: "use_sliding_window", reason: "sliding-window attention is not supported")
        }
        if let b = d["mlp_bias"] as? Bool, b { throw ModelError.invalidConfig(field: "mlp_bias", reason: "MLP biases are not supported") }
        if let rs = d["rope_scaling"], !(rs is NSNull) {
            if let r = rs as? [String: Any], let ty = (r["rope_type"] ?? r["type"]) as? String, ty == "default" {} else {
                throw ModelError.invalidConfig(field: "rope_scaling", reason: "rope scaling is not supported, got \(rs)")
            }
        }
        try c.validate()
        return c
    }

    /// Reads a transformers `config.json` file.
    public static func load(path: String) throws -> LlamaConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ModelError.checkpoint(path: path, reason: "cannot read config file")
        }
        guard let obj = try? JSONSerialization.jsonObject(with: data), let d = obj as? [String: Any] else {
            throw ModelError.checkpoint(path: path, reason: "config is not a JSON object")
        }
        return try fromHF(d)
    }

    /// JSON text of `hfDictionary()` (sorted keys).
    public func hfJSON() -> String {
        let data = try! JSONSerialization.data(withJSONObject: hfDictionary(), options: [.sortedKeys, .prettyPrinted])
        return String(decoding: data, as: UTF8.self)
    }
}

/// True for a JSON boolean as JSONSerialization returns it (not for the numbers 0 and 1).
func jsonIsBool(_ v: Any) -> Bool {
    if v is Bool && !(v is NSNumber) { return true }
    if let n = v as? NSNumber { return String(cString: n.objCType) == "c" && (n == NSNumber(value: true) || n == NSNumber(value: false)) && type(of: v) != Int.self && "\(type(of: v))".lowercased().contains("bool") }
    return false
}
