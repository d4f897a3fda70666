import MoonTensor

/// Layer norm over the last dim with affine weight and bias.
public final class LayerNorm: Module {
    public let dim: Int
    public let eps: Float
    public let weight: Tensor
    public let bias: Tensor

    public init(_ dim: Int, eps: Float = 1e-5) {
        self.dim = dim
        self.eps = eps
        weight = constantParameter([dim], 1)
        bias = constantParameter([dim], 0)
        super.init()
        registerParameter("weight", weight)
        registerParameter("bias", bias)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let xc = try x.sub(x.mean(dim: -1, keepdim: true))
        let v = try xc.mul(xc).mean(dim: -1, keepdim: true)
        return try xc.mul(v.add(eps).rsqrt()).mul(weight).add(bias)
    }
}
