import MoonTensor

/// Root-mean-square layer norm over the last dim (Llama): `x / sqrt(mean(x²) + eps) · weight`.
public final class RMSNorm: Module {
    public let dim: Int
    public let eps: Float
    public let weight: Tensor

    public init(_ dim: Int, eps: Float = 1e-6) {
        self.dim = dim
        self.eps = eps
        weight = constantParameter([dim], 1)
        super.init()
        registerParameter("weight", weight)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        let ms = try x.mul(x).mean(dim: -1, keepdim: true)  // mul, not square(): square() is powf per element
        return try x.mul(ms.add(eps).rsqrt()).mul(weight)
    }
}
