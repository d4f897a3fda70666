import MoonTensor

/// Fully connected layer `y = x·Wᵀ + b` (PyTorch layout: weight `[out, in]`), with an optional LoRA adapter.
public final class Linear: Module {
    public let inFeatures: Int
    public let outFeatures: Int
    public let weight: Tensor
    public let bias: Tensor?
    /// The LoRA adapter, when one is attached (see LoRA.swift).
    public internal(set) var lora: LoRAAdapter?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, std: Float = 0.02, generator: Generator = .default) {
        self.inFeatures = inFeatures
        self.outFeatures = outFeatures
        weight = normalParameter([outFeatures, inFeatures], std: std, generator: generator)
        self.bias = bias ? constantParameter([outFeatures], 0) : nil
        super.init()
        registerParameter("weight", weight)
        if let b = self.bias { registerParameter("bias", b) }
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let y = try Tensor.linear(x, weight: weight, bias: bias)
        if let l = lora, l.enabled { return try y.add(l.delta(x, training: training)) }
        return y
    }

    /// The weight the layer currently applies: `W + scale·B·A` with an enabled adapter, else `W` (no autograd).
    public func effectiveWeight() throws -> Tensor {
        guard let l = lora, l.enabled else { return weight.detach() }
        return try Tensor.noGrad { try weight.add(l.deltaWeight()) }
    }
}
