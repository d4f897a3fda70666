import Foundation
import MoonTensor

/// A pre-norm ViT block: LayerNorm → bidirectional attention → residual, LayerNorm → GELU MLP → residual.
public final class VisionBlock: Module {
    public let norm1: LayerNorm, attn: Attention, norm2: LayerNorm, mlp: GeluMLP

    init(_ c: VisionConfig, generator: Generator) throws {
        norm1 = LayerNorm(c.width, eps: c.layerNormEps)
        attn = try Attention(dim: c.width, numHeads: c.heads, bias: true, causal: false, generator: generator)
        norm2 = LayerNorm(c.width, eps: c.layerNormEps)
        mlp = GeluMLP(c.width, c.width * c.mlpRatio, c.width, generator: generator)
        super.init()
        registerModule("norm1", norm1); registerModule("attn", attn); registerModule("norm2", norm2); registerModule("mlp", mlp)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let h = try x.add(attn(norm1(x), rope: nil, mask: nil))
        return try h.add(mlp(norm2(h)))
    }
}

/// Vision encoder: images `[B, C, H, W]` → patches (channel-major within a patch, as a conv stem's weight
/// is laid out) → linear patch embedding + learned positions → N bidirectional pre-norm blocks → LayerNorm.
/// Output `[B, numPatches, width]`. Names: `patch_embed`, `pos_embed`, `layers.{i}`, `post_norm`.
/// With `config.kind == .conv` the patches come from a conv stem (`ConvStem`, names `stem.{i}`) instead of
/// patchify, and `patch_embed` reads its channels; everything after is the same. With `config.registers > 0`, that
/// many learned tokens (`registers`) join the patches before the blocks: output `[B, numTokens, width]`.
public final class VisionEncoder: Module {
    public let config: VisionConfig
    /// The conv stem (nil for the ViT's patchify).
    public let stem: ConvStem?
    public let patchEmbed: Linear
    public let posEmbed: Tensor
    /// The register tokens `[registers, width]` (nil without registers).
    public let registerTokens: Tensor?
    public let layers: ModuleList<VisionBlock>
    public let postNorm: LayerNorm

    public init(_ c: VisionConfig, generator: Generator = .default) throws {
        try c.validate()
        config = c
        stem = c.kind == .conv ? ConvStem(c, generator: generator) : nil
        patchEmbed = Linear(c.embedInput, c.width, bias: true, std: 0.02, generator: generator)
        posEmbed = normalParameter([c.numPatches, c.width], std: 0.02, generator: generator)
        registerTokens = c.registers > 0 ? normalParameter([c.registers, c.width], std: 0.02, generator: generator) : nil
        layers = ModuleList()
        for _ in 0..<c.layers { layers.append(try VisionBlock(c, generator: generator)) }
        postNorm = LayerNorm(c.width, eps: c.layerNormEps)
        super.init()
        if let s = stem { registerModule("stem", s) }
        registerModule("patch_embed", patchEmbed)
        registerParameter("pos_embed", posEmbed)
        if let r = registerTokens { registerParameter("registers", r) }
        registerModule("layers", layers)
        registerModule("post_norm", postNorm)
    }

    /// `[B, C, H, W]` → `[B, numPatches, patchDim]` (differentiable).
    public func patchify(_ images: Tensor) throws -> Tensor {
        try checkImages(images)
        let c = config
        let b = images.shape[0], g = c.patchesPerSide, p = c.patchSize
        return try images.reshape([b, c.channels, g, p, g, p]).permute([0, 2, 4, 1, 3, 5]).reshape([b, g * g, c.patchDim])
    }

    func checkImages(_ images: Tensor) throws {
        let c = config
        guard images.dtype == .float32, images.ndim == 4, images.shape[1] == c.channels,
              images.shape[2] == c.imageSize, images.shape[3] == c.imageSize else {
            throw ModelError.invalidArgument("vision: expected float32 images of shape [B, \(c.channels), \(c.imageSize), \(c.imageSize)], got \(images.dtype) \(shapeString(images.shape))")
        }
    }

    /// Per-position features before the embedding: patches (ViT) or conv stem channels, `[B, numPatches, embedInput]`.
    public func stemFeatures(_ images: Tensor) throws -> Tensor {
        guard let s = stem else { return try patchify(images) }
        try checkImages(images)
        return try s(images)
    }

    public func callAsFunction(_ images: Tensor) throws -> Tensor {
        var h = try patchEmbed(stemFeatures(images)).add(posEmbed)
        if let r = registerTokens {
            h = try Tensor.cat([h, r.unsqueeze(dim: 0).expand([h.shape[0], config.registers, config.width])], dim: 1)
        }
        for l in layers.items { h = try l(h) }
        return try postNorm(h)
    }
}
