import XCTest
@testable import MoonTensor

/// Random (seeded) calls with small, odd and invalid arguments: every call must either succeed or throw a
/// TensorError; a trap or crash fails the whole run.
final class FuzzTests: XCTestCase {
    func testRandomCallsNeverTrap() throws {
        let g = Generator(seed: 2024)
        func int(_ lo: Int, _ hi: Int) -> Int { g.nextInt(lo, hi + 1) }
        func shape() -> [Int] { (0..<int(0, 3)).map { _ in int(0, 3) } }
        func special() -> Float { [Float.nan, .infinity, -.infinity, 0, -0.0, 1e30, -1e30, 3.5, -2][int(0, 8)] }
        func tensor() -> Tensor {
            let s = shape()
            let n = s.reduce(1, *)
            if int(0, 4) == 0 { return try! Tensor(ints: (0..<n).map { _ in int(-3, 5) }, shape: s) }
            let t = try! Tensor((0..<n).map { _ in int(0, 5) == 0 ? special() : Float(int(-4, 4)) * 0.5 }, shape: s)
            switch int(0, 3) {
            case 0: return (try? t.setRequiresGrad()) ?? t
            case 1 where t.ndim >= 2: return (try? t.transpose(0, 1)) ?? t
            default: return t
            }
        }
        let ops: [(Tensor, Tensor) throws -> Any] = [
            { a, _ in try a.reshape(shape().map { $0 == 3 ? -1 : $0 }) },
            { a, _ in try a.view(shape()) },
            { a, _ in try a.permute((0..<a.ndim).map { _ in int(-3, 3) }) },
            { a, _ in try a.transpose(int(-3, 3), int(-3, 3)) },
            { a, _ in try a.narrow(dim: int(-3, 3), start: int(-3, 3), length: int(-1, 3)) },
            { a, _ in try a.select(dim: int(-3, 3), index: int(-4, 4)) },
            { a, _ in try a.slice(dim: int(-3, 3), start: int(-5, 5), end: int(-5, 5), step: int(-1, 3)) },
            { a, _ in try a.expand(shape().map { $0 == 0 ? -1 : $0 }) },
            { a, _ in try a.squeeze(dim: int(-3, 3)) },
            { a, _ in try a.unsqueeze(dim: int(-4, 4)) },
            { a, _ in try a.flatten(start: int(-3, 3), end: int(-3, 3)) },
            { a, _ in try a.split(size: int(-1, 3), dim: int(-2, 2)) },
            { a, _ in try a.chunk(int(-1, 3), dim: int(-2, 2)) },
            { a, b in try Tensor.cat([a, b], dim: int(-3, 3)) },
            { a, b in try Tensor.stack([a, b], dim: int(-3, 3)) },
            { a, b in try a.indexSelect(dim: int(-2, 2), index: b) },
            { a, b in try a.gather(dim: int(-2, 2), index: b) },
            { a, b in try a.scatterAdd(dim: int(-2, 2), index: b, src: a) },
            { a, b in try a.maskedFill(b, value: special()) },
            { a, b in try Tensor.where(b, a, b) },
            { a, b in try a.add(b) }, { a, b in try a.sub(b) }, { a, b in try a.mul(b) }, { a, b in try a.div(b) },
            { a, b in try a.pow(b) }, { a, b in try a.minimum(b) }, { a, b in try a.maximum(b) }, { a, b in try a.eq(b) },
            { a, _ in a.add(special()) }, { a, _ in a.pow(special()) }, { a, _ in a.exp().log().sqrt().rsqrt() },
            { a, _ in a.gelu().silu().sigmoid().tanh().relu().abs().log1p() }, { a, _ in a.clamp(min: special(), max: special()) },
            { a, _ in try a.sum(dim: int(-3, 3), keepdim: int(0, 1) == 1) }, { a, _ in try a.sum(dims: [int(-2, 2), int(-2, 2)]) },
            { a, _ in try a.mean(dim: int(-3, 3)) }, { a, _ in try a.variance(dim: int(-3, 3)) }, { a, _ in try a.std(dim: int(-3, 3)) },
            { a, _ in try a.max(dim: int(-3, 3)) }, { a, _ in try a.min() }, { a, _ in try a.argmax() }, { a, _ in try a.argmin(dim: int(-3, 3)) },
            { a, _ in try a.logsumexp(dim: int(-3, 3)) }, { a, _ in try a.cumsum(dim: int(-3, 3)) },
            { a, _ in try a.softmax(dim: int(-3, 3)) }, { a, _ in try a.logSoftmax(dim: int(-3, 3)) },
            { a, _ in try a.sort(dim: int(-3, 3), descending: true) }, { a, _ in try a.topk(int(-1, 3), dim: int(-3, 3)) },
            { a, _ in try a.kthvalue(int(-1, 3), dim: int(-3, 3)) }, { a, _ in try a.multinomial(numSamples: int(-1, 3), generator: g) },
            { a, b in try a.matmul(b) }, { a, b in try a.bmm(b) }, { a, b in try a.mm(b) }, { a, b in try a.dot(b) },
            { a, b in try Tensor.linear(a, weight: b) }, { a, b in try Tensor.crossEntropy(a, b) },
            { a, b in try Tensor.crossEntropy(a, b, reduction: .none) }, { a, b in try Tensor.nllLoss(a, b) },
            { a, _ in try Tensor.oneHot(a, numClasses: int(-1, 4)) }, { a, b in try Tensor.embedding(b, weight: a) },
            { a, _ in try a.dropout(p: special(), generator: g) }, { a, _ in try a.tril(int(-2, 2)) }, { a, _ in try a.triu() },
            { a, b in try Tensor.layerNorm(a, weight: b) }, { a, b in try Tensor.rmsNorm(a, weight: b) },
            { a, b in try Tensor.scaledDotProductAttention(a, b, b, causal: true) },
            { a, b in try a.add_(b) }, { a, b in try a.mul_(b) }, { a, b in try a.copy_(b) }, { a, _ in try a.fill_(special()) },
            { a, _ in try a.clamp_(min: special()) }, { a, _ in try a.item() }, { a, _ in try a.intItem() },
            { a, _ in try a.value(at: (0..<a.ndim).map { _ in int(-3, 3) }) }, { a, _ in a.to(.int64).to(.float32) },
            { a, _ in a.description }, { a, _ in a.toIntArray() },
            { a, b in try a.backward(gradient: int(0, 1) == 0 ? nil : b) },
            { a, _ in try a.mul(2).sum().backward() },
            { _, _ in try Tensor.zeros(shape().map { $0 - 1 }) }, { _, _ in try Tensor.arange(special(), special(), step: special()) },
            { _, _ in try Tensor.randint(int(-2, 2), int(-2, 2), shape(), generator: g) }, { _, _ in try Tensor.eye(int(-1, 3)) },
            { _, _ in try Tensor.linspace(special(), special(), count: int(-1, 3)) },
        ]
        var thrown = 0, ok = 0
        for _ in 0..<6000 {
            let a = tensor(), b = tensor()
            let op = ops[int(0, ops.count - 1)]
            do { _ = try op(a, b); ok += 1 } catch is TensorError { thrown += 1 } catch {
                XCTFail("non-TensorError: \(error)")
            }
        }
        XCTAssertGreaterThan(ok, 1000)
        XCTAssertGreaterThan(thrown, 1000)
    }
}
