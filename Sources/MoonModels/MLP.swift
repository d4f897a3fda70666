import MoonTensor

/// SwiGLU feed-forward (Llama): `down(silu(gate(x)) · up(x))`, names `gate_proj`, `up_proj`, `down_proj`.
public final class MLP: Module {
    public let gateProj: Linear, upProj: Linear, downProj: Linear

    public init(dim: Int, hidden: Int, std: Float = 0.02, generator: Generator = .default) {
        gateProj = Linear(dim, hidden, bias: false, std: std, generator: generator)
        upProj = Linear(dim, hidden, bias: false, std: std, generator: generator)
        downProj = Linear(hidden, dim, bias: false, std: std, generator: generator)
        super.init()
        registerModule("gate_proj", gateProj); registerModule("up_proj", upProj); registerModule("down_proj", downProj)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor {
        try downProj(gateProj(x).silu().mul(upProj(x)))
    }
}

/// Two-layer GELU feed-forward (ViT / projector): `fc2(gelu(fc1(x)))`.
public final class GeluMLP: Module {
    public let fc1: Linear, fc2: Linear

    public init(_ inDim: Int, _ hidden: Int, _ outDim: Int, std: Float = 0.02, generator: Generator = .default) {
        fc1 = Linear(inDim, hidden, bias: true, std: std, generator: generator)
        fc2 = Linear(hidden, outDim, bias: true, std: std, generator: generator)
        super.init()
        registerModule("fc1", fc1); registerModule("fc2", fc2)
    }

    public func callAsFunction(_ x: Tensor) throws -> Tensor { try fc2(fc1(x).gelu(approximate: true)) }
}
