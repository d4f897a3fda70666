import MoonTensor

/// A Llama decoder layer: pre-norm RMSNorm → causal attention → residual, RMSNorm → SwiGLU → residual.
/// Names: `input_layernorm`, `self_attn`, `post_attention_layernorm`, `mlp`.
public final class TransformerBlock: Module {
    public let inputLayernorm: RMSNorm
    public let selfAttn: Attention
    public let postAttentionLayernorm: RMSNorm
    public let mlp: MLP

    public init(_ c: LlamaConfig, generator: Generator = .default) throws {
        inputLayernorm = RMSNorm(c.hiddenSize, eps: c.rmsNormEps)
        selfAttn = try Attention(dim: c.hiddenSize, numHeads: c.numAttentionHeads, numKVHeads: c.numKeyValueHeads,
                                 headDim: c.resolvedHeadDim, bias: c.attentionBias, outputBias: c.attentionOutputBias, causal: true, std: c.initializerRange, generator: generator)
        postAttentionLayernorm = RMSNorm(c.hiddenSize, eps: c.rmsNormEps)
        mlp = MLP(dim: c.hiddenSize, hidden: c.intermediateSize, std: c.initializerRange, generator: generator)
        super.init()
        registerModule("input_layernorm", inputLayernorm)
        registerModule("self_attn", selfAttn)
        registerModule("post_attention_layernorm", postAttentionLayernorm)
        registerModule("mlp", mlp)
    }

    public func callAsFunction(_ x: Tensor, rope: RoPETables, mask: Tensor?) throws -> Tensor {
        let h = try x.add(selfAttn(inputLayernorm(x), rope: rope, mask: mask))
        return try h.add(mlp(postAttentionLayernorm(h)))
    }
}
