import MoonTensor

/// A 2-D convolution layer (PyTorch `nn.Conv2d` layout: weight `[out, in, k, k]`, bias `[out]`), square kernel,
/// zero padding. Weights start from N(0, 2 / fan_in) (He initialisation, for the GELU that follows).
public final class Conv2d: Module {
    public let inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int, padding: Int
    public let weight: Tensor
    public let bias: Tensor

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                generator: Generator = .default) {
        self.inChannels = inChannels; self.outChannels = outChannels
        self.kernelSize = kernelSize; self.stride = stride; self.padding = padding
        let fanIn = Swift.max(1, inChannels * kernelSize * kernelSize)
        weight = normalParameter([outChannels, inChannels, kernelSize, kernelSize], std: (2 / Float(fanIn)).squareRoot(),
                                 generator: generator)
        bias = constantParameter([outChannels], 0)
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
    }

    /// `[B, in, H, W]` → `[B, out, H', W']`.
    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try Tensor.conv2d(x, weight: weight, bias: bias, stride: stride, padding: padding)
    }
}

/// The conv stem of a vision encoder (`VisionConfig.kind == .conv`): one 3×3 stride-2 padding-1 convolution + GELU
/// per channel count in `VisionConfig.stemChannels`, halving the image each time, so that a `patchSize`² patch
/// becomes one position. Output `[B, numPatches, stemChannels.last]` in row-major patch order (the ViT's order);
/// the encoder's `patch_embed` then maps each position to the encoder width. Names: `stem.{i}.weight|bias`.
public final class ConvStem: Module {
    public let layers: [Conv2d]

    init(_ c: VisionConfig, generator: Generator) {
        var inC = c.channels, list: [Conv2d] = []
        for outC in c.stemChannels {
            list.append(Conv2d(inC, outC, kernelSize: 3, stride: 2, padding: 1, generator: generator))
            inC = outC
        }
        layers = list
        super.init()
        for (i, l) in layers.enumerated() { registerModule(String(i), l) }
    }

    /// `[B, C, H, W]` → `[B, (H/p)·(W/p), channels]`.
    public func callAsFunction(_ images: Tensor) throws -> Tensor {
        var h = images
        for l in layers { h = try l(h).gelu(approximate: true) }
        let b = h.shape[0], ch = h.shape[1], n = h.shape[2] * h.shape[3]
        return try h.reshape([b, ch, n]).permute([0, 2, 1])
    }
}
