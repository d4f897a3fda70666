import MoonTensor

/// Token embedding table `[numEmbeddings, dim]`.
public final class Embedding: Module {
    public let numEmbeddings: Int
    public let dim: Int
    public let weight: Tensor

    public init(_ numEmbeddings: Int, _ dim: Int, std: Float = 0.02, generator: Generator = .default) {
        self.numEmbeddings = numEmbeddings
        self.dim = dim
        weight = normalParameter([numEmbeddings, dim], std: std, generator: generator)
        super.init()
        registerParameter("weight", weight)
    }

    /// Rows of the table at int64 `ids` (any shape) → `ids.shape + [dim]`. Ids out of range throw.
    public func callAsFunction(_ ids: Tensor) throws -> Tensor { try Tensor.embedding(ids, weight: weight) }
}
