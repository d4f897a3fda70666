import Foundation
import MoonCheckpoint
import MoonTensor

/// How the vision encoder turns pixels into tokens before its transformer layers.
public enum VisionKind: String, Sendable, Equatable, CaseIterable {
    /// ViT patchify: each `patchSize`² patch flattened and embedded by one linear layer.
    case vit
    /// A conv stem (Xiao et al. 2021, "Early convolutions help transformers see better"): log2(patchSize) 3×3
    /// stride-2 convolutions with GELU, then a linear embedding per position; same token grid as the ViT.
    case conv
}

/// Sizes of the vision encoder.
public struct VisionConfig: Sendable, Equatable {
    /// The stem (patchify or convolutions); the transformer layers, positions and output are the same for both.
    public var kind: VisionKind = .vit
    /// Output channels of the conv stem's stride-2 convolutions (kind `.conv`; one per halving, so
    /// `2^count == patchSize`). Empty: derived from `width` (`stemChannels`).
    public var convChannels: [Int] = []
    public var imageSize: Int = 64
    public var channels: Int = 3
    public var patchSize: Int = 16
    public var width: Int = 64
    public var layers: Int = 2
    public var heads: Int = 4
    /// MLP hidden width = mlpRatio × width.
    public var mlpRatio: Int = 4
    public var layerNormEps: Float = 1e-5
    /// Learned tokens appended after the patches (ViT registers, Darcet et al. 2024): visual tokens that belong to no
    /// patch, so a policy can have more visual tokens than patches (alignment gives each caption token one).
    public var registers: Int = 0

    public init() {}

    public var patchesPerSide: Int { imageSize / max(patchSize, 1) }
    /// Number of patches per image.
    public var numPatches: Int { patchesPerSide * patchesPerSide }
    /// Number of visual tokens per image: the patches and the registers.
    public var numTokens: Int { numPatches + registers }
    public var patchDim: Int { channels * patchSize * patchSize }

    /// The number of stride-2 convolutions a conv stem needs for `patchSize` (nil unless it is a power of two ≥ 2).
    public var stemDepth: Int? {
        guard patchSize >= 2, patchSize & (patchSize - 1) == 0 else { return nil }
        return patchSize.trailingZeroBitCount
    }

    /// The conv stem's channels: `convChannels`, or (empty) widths doubling up to `width`, at least 8:
    /// width 64, patch 16 → [8, 16, 32, 64].
    public var stemChannels: [Int] {
        if !convChannels.isEmpty { return convChannels }
        let n = stemDepth ?? 0
        return (0..<n).map { i in Swift.max(8, width >> Swift.min(n - 1 - i, 62)) }
    }

    /// The width the token embedding reads: the flattened patch (ViT) or the last stem channel count (conv).
    public var embedInput: Int { kind == .conv ? (stemChannels.last ?? channels) : patchDim }

    public func validate(prefix: String = "vision.") throws {
        func bad(_ f: String, _ r: String) -> ModelError { .invalidConfig(field: prefix + f, reason: r) }
        if imageSize <= 0 { throw bad("image_size", "must be positive, got \(imageSize)") }
        if channels <= 0 { throw bad("channels", "must be positive, got \(channels)") }
        if patchSize <= 0 || imageSize % patchSize != 0 {
            throw bad("patch_size", "must be positive and divide image_size (\(imageSize)), got \(patchSize)")
        }
        if width <= 0 { throw bad("width", "must be positive, got \(width)") }
        if layers < 0 { throw bad("layers", "must be non-negative, got \(layers)") }
        if heads <= 0 || width % heads != 0 || (width / heads) % 2 != 0 {
            throw bad("heads", "must be positive and divide width (\(width)) into even head sizes, got \(heads)")
        }
        if mlpRatio <= 0 { throw bad("mlp_ratio", "must be positive, got \(mlpRatio)") }
        if !(layerNormEps > 0) { throw bad("layer_norm_eps", "must be positive, got \(layerNormEps)") }
        if registers < 0 || registers > 4096 { throw bad("registers", "must be in 0...4096, got \(registers)") }
        if kind == .conv {
            guard let depth = stemDepth else {
                throw bad("patch_size", "a conv stem halves the image with each convolution: patch_size must be a power of two ≥ 2, got \(patchSize)")
            }
            if !convChannels.isEmpty && convChannels.count != depth {
                throw bad("conv_channels", "patch_size \(patchSize) takes \(depth) stride-2 convolutions, so \(depth) channel counts; got \(convChannels.count)")
            }
            if let c = convChannels.first(where: { $0 <= 0 || $0 > VLMConfig.maxSize }) {
                throw bad("conv_channels", "channel counts must be in 1...\(VLMConfig.maxSize), got \(c)")
            }
        } else if !convChannels.isEmpty {
            throw bad("conv_channels", "only a conv stem (kind = 'conv') has convolutions")
        }
    }

    func jsonValue() -> JSON {
        var pairs: [(String, JSON)] = [("channels", .int(channels)), ("heads", .int(heads)), ("image_size", .int(imageSize)),
                                       ("layer_norm_eps", .number(Double(layerNormEps))), ("layers", .int(layers)), ("mlp_ratio", .int(mlpRatio)),
                                       ("patch_size", .int(patchSize)), ("width", .int(width))]
        // a ViT's JSON stays what it was before conv stems existed
        if kind == .conv { pairs.append(("kind", .string(kind.rawValue))) }
        if !convChannels.isEmpty { pairs.append(("conv_channels", .array(convChannels.map { .int($0) }))) }
        if registers > 0 { pairs.append(("registers", .int(registers))) }
        return .object(pairs: pairs)
    }
}

/// Configuration of the VLM policy: vision encoder, projector, Llama decoder, value head.
/// The default trains in minutes on 2 CPU cores: 64×64 RGB images, 16×16 patches (16 visual tokens), vision width 64
/// with 2 layers, decoder width 128 with 4 layers and 4 heads, intermediate 344, vocabulary 260 (bytes + specials).
public struct VLMConfig: Sendable, Equatable {
    public var vision = VisionConfig()
    public var decoder: LlamaConfig = {
        var c = LlamaConfig()
        c.vocabSize = ByteTokenizer.vocabSize
        c.hiddenSize = 128; c.intermediateSize = 344; c.numHiddenLayers = 4
        c.numAttentionHeads = 4; c.numKeyValueHeads = 4; c.maxPositionEmbeddings = 1024
        return c
    }()
    /// Hidden width of the 2-layer GELU projector (vision width → decoder width); nil: the decoder width.
    public var projectorHidden: Int? = nil
    /// Seed of the random initialisation.
    public var seed: UInt64 = 0
    /// No vision encoder or projector: a text-only policy (observations are prompts alone).
    public var textOnly = false
    /// The decoder is a pretrained one with its own tokenizer (no byte-vocabulary requirement).
    public var pretrained = false

    public init() {}

    /// The largest width (any size: image, widths, intermediate, positions, projector) a policy may have, and the
    /// most layers: the same limits whether a policy is created (`moon.vlm.new`) or loaded from a checkpoint.
    public static let maxSize = 1 << 16
    public static let maxLayers = 256
    public static let maxVocab = 1 << 20

    /// The number of parameters this config builds (an upper estimate), nil on overflow.
    public var estimatedParameterCount: Int? {
        let h = decoder.hiddenSize, i = decoder.intermediateSize, w = vision.width
        let perDecoder = [[4, h, h], [3, h, i], [2, h]]
        let perVision = [[4, w, w], [2, w, w, vision.mlpRatio], [4, w]]
        var total = 0
        func add(_ terms: [[Int]], times: Int) -> Bool {
            for t in terms {
                guard let p = checkedProductOfSizes(t + [times]) else { return false }
                let (s, o) = total.addingReportingOverflow(p)
                if o { return false }
                total = s
            }
            return true
        }
        guard add(perDecoder, times: decoder.numHiddenLayers), add(perVision, times: vision.layers),
              add(vision.kind == .conv ? zip([vision.channels] + vision.stemChannels, vision.stemChannels).map { [$0, $1, 10] } : [], times: 1),
              add([[decoder.vocabSize, h, 2], [vision.embedInput, w], [vision.numTokens + 1, w],
                   [w + h, projectorHidden ?? h], [h, 2]], times: 1) else { return nil }
        return total
    }

    public func validate() throws {
        try vision.validate()
        try decoder.validate(prefix: "decoder.")
        let sizes: [(String, Int)] = [("vision.image_size", vision.imageSize), ("vision.patch_size", vision.patchSize),
                                      ("vision.width", vision.width), ("vision.channels", vision.channels),
                                      ("vision.mlp_ratio", vision.mlpRatio),
                                      ("decoder.hidden_size", decoder.hiddenSize),
                                      ("decoder.intermediate_size", decoder.intermediateSize),
                                      ("decoder.max_position_embeddings", decoder.maxPositionEmbeddings),
                                      ("projector_hidden", projectorHidden ?? 1)]
        for (field, v) in sizes where v > VLMConfig.maxSize {
            throw ModelError.invalidConfig(field: field, reason: "must be at most \(VLMConfig.maxSize), got \(v)")
        }
        for (field, v) in [("vision.layers", vision.layers), ("decoder.num_hidden_layers", decoder.numHiddenLayers)]
        where v > VLMConfig.maxLayers {
            throw ModelError.invalidConfig(field: field, reason: "must be at most \(VLMConfig.maxLayers), got \(v)")
        }
        if decoder.vocabSize > VLMConfig.maxVocab {
            throw ModelError.invalidConfig(field: "decoder.vocab_size", reason: "must be at most \(VLMConfig.maxVocab), got \(decoder.vocabSize)")
        }
        guard let n = estimatedParameterCount, n <= Int.max / 16 else {
            throw ModelError.invalidConfig(field: "config", reason: "too many parameters")
        }
        // weights, and room for their gradients: refused here rather than aborting half-way through building
        do { try Allocation.check(bytes: n * 8) } catch {
            throw ModelError.invalidConfig(field: "config", reason: "\(n) parameters: \(error)")
        }
        if let p = projectorHidden, p <= 0 { throw ModelError.invalidConfig(field: "projector_hidden", reason: "must be positive, got \(p)") }
        if !pretrained && decoder.vocabSize < ByteTokenizer.vocabSize {
            throw ModelError.invalidConfig(field: "decoder.vocab_size", reason: "must be at least \(ByteTokenizer.vocabSize) for the byte tokenizer, got \(decoder.vocabSize)")
        }
    }

    /// JSON text (stored in checkpoint metadata; keys sorted).
    public func json() -> String {
        var pairs: [(String, JSON)] = [("decoder", decoder.hfJSONValue()), ("model_type", .string("moonlab_vlm"))]
        if pretrained { pairs.append(("pretrained", .bool(true))) }
        if let p = projectorHidden { pairs.append(("projector_hidden", .int(p))) }
        pairs.append(("seed", .number(Double(seed))))
        if textOnly { pairs.append(("text_only", .bool(true))) }
        pairs.append(("vision", vision.jsonValue()))
        return JSON.object(pairs: pairs).serialized()
    }

    /// Parses `json()` output. Unknown vision keys and wrongly typed values throw naming the field.
    public static func fromJSON(_ text: String) throws -> VLMConfig {
        guard let d = try? JSON.parse(text), d.members != nil else {
            throw ModelError.invalidConfig(field: "config", reason: "not a JSON object")
        }
        func int(_ v: JSON, _ field: String) throws -> Int {
            guard let x = v.doubleValue, let i = Int(exactly: x) else {
                throw ModelError.invalidConfig(field: field, reason: "expected an integer, got \(v.serialized())")
            }
            return i
        }
        var c = VLMConfig()
        if let v = d["vision"] {
            guard let members = v.members else { throw ModelError.invalidConfig(field: "vision", reason: "expected an object") }
            let known: Set<String> = ["image_size", "channels", "patch_size", "width", "layers", "heads", "mlp_ratio", "layer_norm_eps",
                                      "kind", "conv_channels", "registers"]
            if let u = members.first(where: { !known.contains($0.key) }) { throw ModelError.invalidConfig(field: "vision." + u.key, reason: "unknown key") }
            func vint(_ k: String) throws -> Int? { try v[k].map { try int($0, "vision." + k) } }
            if let x = try vint("image_size") { c.vision.imageSize = x }
            if let x = try vint("channels") { c.vision.channels = x }
            if let x = try vint("patch_size") { c.vision.patchSize = x }
            if let x = try vint("width") { c.vision.width = x }
            if let x = try vint("layers") { c.vision.layers = x }
            if let x = try vint("heads") { c.vision.heads = x }
            if let x = try vint("mlp_ratio") { c.vision.mlpRatio = x }
            if let x = try vint("registers") { c.vision.registers = x }
            if let k = v["kind"] {
                guard let name = k.stringValue, let kind = VisionKind(rawValue: name) else {
                    throw ModelError.invalidConfig(field: "vision.kind", reason: "expected \"vit\" or \"conv\", got \(k.serialized())")
                }
                c.vision.kind = kind
            }
            if let x = v["conv_channels"] {
                guard let list = x.arrayValue, list.count <= 64 else {
                    throw ModelError.invalidConfig(field: "vision.conv_channels", reason: "expected a list of at most 64 integers")
                }
                c.vision.convChannels = try list.map { try int($0, "vision.conv_channels") }
            }
            if let x = v["layer_norm_eps"] {
                guard let n = x.doubleValue else { throw ModelError.invalidConfig(field: "vision.layer_norm_eps", reason: "expected a number") }
                c.vision.layerNormEps = Float(n)
            }
        }
        if let v = d["decoder"] {
            guard v.members != nil else { throw ModelError.invalidConfig(field: "decoder", reason: "expected an object") }
            do { c.decoder = try LlamaConfig.fromHF(v) } catch let ModelError.invalidConfig(f, r) {
                throw ModelError.invalidConfig(field: "decoder." + f, reason: r)
            }
        }
        if let p = d["projector_hidden"] { c.projectorHidden = try int(p, "projector_hidden") }
        if let s = d["seed"]?.doubleValue, s >= 0, s < 0x1p64, s == s.rounded() { c.seed = UInt64(s) }
        if let t = d["pretrained"] {
            guard let b = t.boolValue else { throw ModelError.invalidConfig(field: "pretrained", reason: "expected a boolean") }
            c.pretrained = b
        }
        if let t = d["text_only"] {
            guard let b = t.boolValue else { throw ModelError.invalidConfig(field: "text_only", reason: "expected a boolean") }
            c.textOnly = b
        }
        try c.validate()
        return c
    }
}

/// The product of sizes, nil on overflow or a negative factor.
func checkedProductOfSizes(_ values: [Int]) -> Int? {
    var total = 1
    for v in values {
        guard v >= 0 else { return nil }
        let (p, o) = total.multipliedReportingOverflow(by: v)
        if o { return nil }
        total = p
    }
    return total
}
