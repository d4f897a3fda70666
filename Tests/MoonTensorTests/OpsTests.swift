import XCTest
import Foundation
@testable import MoonTensor

final class OpsTests: XCTestCase {
    func testElementwiseValues() throws {
        let x = Tensor([-2, -0.5, 0, 0.5, 2])
        assertClose(x.exp().toArray(), [-2, -0.5, 0, 0.5, 2].map { Foundation.exp($0) })
        assertClose(x.tanh().toArray(), [-2, -0.5, 0, 0.5, 2].map { Foundation.tanh($0) })
        assertClose(x.sigmoid().toArray(), [-2, -0.5, 0, 0.5, 2].map { 1 / (1 + Foundation.exp(-$0)) })
        XCTAssertEqual(x.relu().toArray(), [0, 0, 0, 0.5, 2])
        XCTAssertEqual(x.abs().toArray(), [2, 0.5, 0, 0.5, 2])
        XCTAssertEqual(x.neg().toArray(), [2, 0.5, 0, -0.5, -2])
        XCTAssertEqual(x.clamp(min: -1, max: 1).toArray(), [-1, -0.5, 0, 0.5, 1])
        XCTAssertEqual(x.clamp(min: 0).toArray(), [0, 0, 0, 0.5, 2])
        assertClose(x.silu().toArray(), [-2, -0.5, 0, 0.5, 2].map { $0 / (1 + Foundation.exp(-$0)) })
        // GELU reference values (PyTorch): gelu(1) = 0.8413447, tanh approx 0.8411920
        assertClose(Tensor([1, -1]).gelu().toArray(), [0.8413447, -0.1586553])
        assertClose(Tensor([1, -1]).gelu(approximate: true).toArray(), [0.8411920, -0.1588080])
        let p = Tensor([1, 4, 9])
        XCTAssertEqual(p.sqrt().toArray(), [1, 2, 3])
        assertClose(p.rsqrt().toArray(), [1, 0.5, 1.0 / 3])
        assertClose(p.log().toArray(), [0, Foundation.log(4), Foundation.log(9)])
        assertClose(Tensor([1e-7]).log1p().toArray(), [1e-7])
        XCTAssertEqual(p.pow(0.5).toArray(), [1, 2, 3])
        XCTAssertEqual(try p.pow(Tensor([2, 1, 0])).toArray(), [1, 4, 1])
        XCTAssertEqual(try p.minimum(Tensor([2, 2, 2])).toArray(), [1, 2, 2])
        XCTAssertEqual(try p.maximum(Tensor([2, 2, 2])).toArray(), [2, 4, 9])
        XCTAssertEqual((p + 1).toArray(), [2, 5, 10])
        XCTAssertEqual((10 - p).toArray(), [9, 6, 1])
        XCTAssertEqual((p * 2).toArray(), [2, 8, 18])
        XCTAssertEqual((p / 2).toArray(), [0.5, 2, 4.5])
        XCTAssertEqual((36 / p).toArray(), [36, 9, 4])
        XCTAssertEqual(try (p / Tensor([1, 2, 3])).toArray(), [1, 2, 3])
        XCTAssertEqual((-p).toArray(), [-1, -4, -9])
        XCTAssertEqual(try p.lt(Tensor([2, 4, 6])).toArray(), [1, 0, 0])
        XCTAssertEqual(try p.ge(Tensor([2, 4, 6])).toArray(), [0, 1, 1])
    }

    func testLargeParallelElementwise() throws {
        let n = 200_003
        let data = (0..<n).map { Float($0 % 97) * 0.01 }
        let x = try Tensor(data, shape: [n])
        for threads in [1, 2] {
            setNumThreads(threads)
            let y = try x.mul(x).add(1)
            let ya = y.toArray()
            for i in stride(from: 0, to: n, by: 9973) { XCTAssertEqual(ya[i], data[i] * data[i] + 1) }
            XCTAssertEqual(try y.sum().item(), Float(data.reduce(0.0) { $0 + Double($1 * $1 + 1) }), accuracy: 1)
            let sm = try x.reshape([1, n]).softmax(dim: 1).sum()
            XCTAssertEqual(try sm.item(), 1, accuracy: 1e-3)
        }
        setNumThreads(2)
    }

    func testReductions() throws {
        let x = try Tensor([1, 2, 3, 4, 5, 6], shape: [2, 3])
        XCTAssertEqual(try x.sum().item(), 21)
        XCTAssertEqual(try x.sum(dim: 0).toArray(), [5, 7, 9])
        XCTAssertEqual(try x.sum(dim: -1).toArray(), [6, 15])
        XCTAssertEqual(try x.sum(dim: 1, keepdim: true).shape, [2, 1])
        XCTAssertEqual(try x.sum(dims: [0, 1]).item(), 21)
        XCTAssertEqual(try x.sum(dims: []).item(), 21)
        XCTAssertEqual(try x.sum(dims: [], keepdim: true).shape, [1, 1])
        XCTAssertEqual(try x.mean(dims: []).item(), 3.5)
        XCTAssertEqual(try x.mean().item(), 3.5)
        XCTAssertEqual(try x.mean(dim: 1).toArray(), [2, 5])
        let v = Tensor([1, 2, 3, 4])
        XCTAssertEqual(try v.variance().item(), 5.0 / 3, accuracy: 1e-6)
        XCTAssertEqual(try v.variance(unbiased: false).item(), 1.25, accuracy: 1e-6)
        XCTAssertEqual(try v.std().item(), Float((5.0 / 3).squareRoot()), accuracy: 1e-6)
        XCTAssertEqual(try x.variance(dim: 1).toArray(), [1, 1])
        XCTAssertEqual(try x.std(dim: 0, unbiased: false).toArray(), [1.5, 1.5, 1.5])
        let (mx, ai) = try x.max(dim: 1)
        XCTAssertEqual(mx.toArray(), [3, 6])
        XCTAssertEqual(ai.toIntArray(), [2, 2])
        XCTAssertEqual(ai.dtype, .int64)
        XCTAssertEqual(try x.min(dim: 0).values.toArray(), [1, 2, 3])
        XCTAssertEqual(try x.argmin(dim: 1, keepdim: true).shape, [2, 1])
        XCTAssertEqual(try Tensor([3, 9, 1, 9]).argmax().intItem(), 1)
        XCTAssertEqual(try Tensor([3, 9, 1, 9]).argmin().intItem(), 2)
        XCTAssertEqual(try x.max().item(), 6)
        XCTAssertEqual(try x.min().item(), 1)
        XCTAssertEqual(try x.logsumexp(dim: 1).toArray()[0], Float(Foundation.log(exp(1.0) + exp(2.0) + exp(3.0))), accuracy: 1e-5)
        XCTAssertEqual(try Tensor([1000, 1000]).logsumexp().item(), 1000 + Float(Foundation.log(2.0)), accuracy: 1e-3)
        XCTAssertEqual(try x.cumsum(dim: 1).toArray(), [1, 3, 6, 4, 9, 15])
        XCTAssertEqual(try x.cumsum(dim: 0).toArray(), [1, 2, 3, 5, 7, 9])
        XCTAssertEqual(try Tensor([3, 4]).norm().item(), 5)
        assertThrows("sum: argument 'dim': dim 3 out of range for a 2-d tensor") { try x.sum(dim: 3) }
        assertThrows("mean: argument 'dim': dim -3 out of range for a 2-d tensor") { try x.mean(dim: -3) }
        assertThrows("max: cannot reduce an empty tensor") { try Tensor.zeros([0]).max() }
    }

    func testSoftmax() throws {
        let x = try Tensor([1, 2, 3, 1000, 1001, 1002], shape: [2, 3])
        let s = try x.softmax(dim: 1).toArray()
        let e = [1.0, 2.0, 3.0].map { exp($0) }, z = e.reduce(0, +)
        assertClose(Array(s[0..<3]), e.map { Float($0 / z) })
        assertClose(Array(s[3..<6]), e.map { Float($0 / z) })  // stable for large inputs
        let ls = try x.logSoftmax(dim: -1).toArray()
        assertClose(Array(ls[3..<6]), e.map { Float(Foundation.log($0 / z)) }, tol: 1e-4)
        let c = try x.softmax(dim: 0).toArray()
        XCTAssertEqual(c[0] + c[3], 1, accuracy: 1e-6)
        let masked = try Tensor([0, -Float.infinity, 0]).softmax()
        XCTAssertEqual(masked.toArray(), [0.5, 0, 0.5])
    }

    func testSortTopk() throws {
        let x = try Tensor([3, 1, 2, 9, 7, 8], shape: [2, 3])
        let (sv, si) = try x.sort(dim: 1)
        XCTAssertEqual(sv.toArray(), [1, 2, 3, 7, 8, 9])
        XCTAssertEqual(si.toIntArray(), [1, 2, 0, 1, 2, 0])
        XCTAssertEqual(try x.sort(dim: 0, descending: true).values.toArray(), [9, 7, 8, 3, 1, 2])
        let (tv, ti) = try x.topk(2, dim: 1)
        XCTAssertEqual(tv.toArray(), [3, 2, 9, 8])
        XCTAssertEqual(ti.toIntArray(), [0, 2, 0, 2])
        XCTAssertEqual(try x.topk(1, dim: 1, largest: false).values.toArray(), [1, 7])
        let (kv, ki) = try x.kthvalue(2, dim: 1)
        XCTAssertEqual(kv.toArray(), [2, 8])
        XCTAssertEqual(ki.toIntArray(), [2, 2])
        XCTAssertEqual(try x.argsort(dim: 1, descending: true).toIntArray(), [0, 2, 1, 0, 2, 1])
        assertThrows("topk: argument 'k': k 4 out of range for dim 1 of size 3") { try x.topk(4) }
    }

    /// Naive reference matmul on row-major arrays.
    func naive(_ a: [Float], _ b: [Float], _ m: Int, _ k: Int, _ n: Int) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { var s: Float = 0; for t in 0..<k { s += a[i * k + t] * b[t * n + j] }; c[i * n + j] = s } }
        return c
    }

    func testMatmulShapesAndValues() throws {
        let av = vals(12, seed: 1), bv = vals(20, seed: 2)
        let a = try Tensor(av, shape: [3, 4]), b = try Tensor(bv, shape: [4, 5])
        assertClose(try a.matmul(b).toArray(), naive(av, bv, 3, 4, 5), tol: 1e-5)
        // transposed views go through BLAS transpose flags
        let at = try a.t().contiguous().t(), bt = try b.t().contiguous().t()
        XCTAssertFalse(at.isContiguous)
        assertClose(try at.matmul(bt).toArray(), naive(av, bv, 3, 4, 5), tol: 1e-5)
        // non-BLAS-compatible strides (step slicing) get copied
        let big = try Tensor(vals(40, seed: 3), shape: [4, 10])
        let sl = try big.slice(dim: 1, start: 0, end: 10, step: 2)
        assertClose(try sl.t().matmul(Tensor.eye(4)).toArray(), try sl.t().contiguous().toArray())
        // 1-D cases
        XCTAssertEqual(try Tensor([1, 2, 3]).matmul(Tensor([4, 5, 6])).item(), 32)
        XCTAssertEqual(try Tensor([1, 2, 3]).matmul(Tensor([4, 5, 6])).shape, [])
        XCTAssertEqual(try a.matmul(Tensor([1, 0, 0, 0])).toArray(), [av[0], av[4], av[8]])
        XCTAssertEqual(try Tensor([1, 0, 0]).matmul(a).toArray(), Array(av[0..<4]))
        // batched with broadcasting
        let x = try Tensor(vals(2 * 3 * 4, seed: 4), shape: [2, 1, 3, 4])
        let y = try Tensor(vals(5 * 4 * 2, seed: 5), shape: [5, 4, 2])
        let z = try x.matmul(y)
        XCTAssertEqual(z.shape, [2, 5, 3, 2])
        let xa = x.toArray(), ya = y.toArray(), za = z.toArray()
        for i in 0..<2 { for j in 0..<5 {
            let ref = naive(Array(xa[(i * 12)..<(i * 12 + 12)]), Array(ya[(j * 8)..<(j * 8 + 8)]), 3, 4, 2)
            let off = (i * 5 + j) * 6
            assertClose(Array(za[off..<(off + 6)]), ref, tol: 1e-5)
        } }
        let bm = try Tensor(vals(24, seed: 6), shape: [2, 3, 4]).bmm(Tensor(vals(16, seed: 7), shape: [2, 4, 2]))
        XCTAssertEqual(bm.shape, [2, 3, 2])
        // larger (multi-threaded BLAS) product
        let pv = vals(130 * 70, seed: 8), qv = vals(70 * 90, seed: 9)
        assertClose(try Tensor(pv, shape: [130, 70]).matmul(Tensor(qv, shape: [70, 90])).toArray(), naive(pv, qv, 130, 70, 90), tol: 1e-4)
        // empty inner dim
        XCTAssertEqual(try Tensor.zeros([2, 0]).matmul(Tensor.zeros([0, 3])).toArray(), [0, 0, 0, 0, 0, 0])
        XCTAssertEqual(try Tensor.zeros([2, 1, 0]).matmul(Tensor.zeros([0, 3])).shape, [2, 1, 3])
        assertThrows("matmul: argument #2: expected shape [4, *], got [3, 5]") { try a.matmul(Tensor.zeros([3, 5])) }
        assertThrows("matmul: argument #1: expected a float32 tensor, got int64") { try Tensor(ints: [1]).matmul(Tensor([1])) }
        assertThrows("bmm: argument #2: expected shape [2, 4, *], got [2, 3, 2]") {
            try Tensor.zeros([2, 3, 4]).bmm(Tensor.zeros([2, 3, 2]))
        }
    }

    func testLinear() throws {
        let x = try Tensor([1, 2, 3, 4], shape: [2, 2])
        let w = try Tensor([1, 0, 0, 1, 1, 1], shape: [3, 2])
        let b = Tensor([0.5, 0, -1])
        XCTAssertEqual(try Tensor.linear(x, weight: w, bias: b).toArray(), [1.5, 2, 2, 3.5, 4, 6])
        XCTAssertEqual(try Tensor.linear(x.reshape([1, 2, 2]), weight: w).shape, [1, 2, 3])
        XCTAssertEqual(try Tensor.linear(x.reshape([1, 2, 2]), weight: w, bias: b).toArray(), [1.5, 2, 2, 3.5, 4, 6])
        XCTAssertEqual(try Tensor.linear(Tensor([1, 2]), weight: w, bias: b).toArray(), [1.5, 2, 2])
        XCTAssertEqual(try Tensor.linear(Tensor.zeros([0, 2]), weight: w, bias: b).shape, [0, 3])
        XCTAssertEqual(try Tensor.linear(Tensor.zeros([2, 0]), weight: Tensor.zeros([3, 0]), bias: b).toArray(), [0.5, 0, -1, 0.5, 0, -1])
        assertThrows("linear: argument #1: expected a float32 tensor, got int64") { try Tensor.linear(Tensor(ints: [1, 2]), weight: w, bias: b) }
        assertThrows("linear: argument 'weight': expected shape [*, 2], got [3, 3]") { try Tensor.linear(x, weight: Tensor.zeros([3, 3])) }
        assertThrows("linear: argument 'bias': expected shape [3], got [2]") { try Tensor.linear(x, weight: w, bias: Tensor([1, 2])) }
    }

    func testLossesAndEncodings() throws {
        let logits = try Tensor([1, 2, 3, 1, 2, 3], shape: [2, 3])
        let lse = Float(Foundation.log(exp(1.0) + exp(2.0) + exp(3.0)))
        let ce = try Tensor.crossEntropy(logits, Tensor(ints: [2, 0]), reduction: .none)
        assertClose(ce.toArray(), [lse - 3, lse - 1])
        XCTAssertEqual(try Tensor.crossEntropy(logits, Tensor(ints: [2, 0])).item(), lse - 2, accuracy: 1e-5)
        XCTAssertEqual(try Tensor.crossEntropy(logits, Tensor(ints: [2, -100])).item(), lse - 3, accuracy: 1e-5)
        XCTAssertEqual(try Tensor.crossEntropy(logits, Tensor(ints: [2, 7]), ignoreIndex: 7, reduction: .sum).item(), lse - 3, accuracy: 1e-5)
        XCTAssertTrue(try Tensor.crossEntropy(logits, Tensor(ints: [-100, -100])).item().isNaN)
        assertThrows("cross_entropy: argument #2: target 3 out of range for 3 classes") { try Tensor.crossEntropy(logits, Tensor(ints: [3, 0])) }
        assertThrows("cross_entropy: argument #2: expected shape [2], got [3]") { try Tensor.crossEntropy(logits, Tensor(ints: [0, 0, 0])) }
        XCTAssertEqual(try Tensor.mseLoss(Tensor([1, 2]), Tensor([0, 4])).item(), 2.5)
        let oh = try Tensor.oneHot(Tensor(ints: [0, 2]), numClasses: 3)
        XCTAssertEqual(oh.shape, [2, 3])
        XCTAssertEqual(oh.toArray(), [1, 0, 0, 0, 0, 1])
        XCTAssertEqual(try Tensor.oneHot(Tensor(ints: [1, 3])).shape, [2, 4])
        assertThrows("one_hot: argument 'numClasses': class index 2 out of range for 2 classes") { try Tensor.oneHot(Tensor(ints: [2]), numClasses: 2) }
        let w = try Tensor([0, 0, 1, 1, 2, 2], shape: [3, 2])
        let e = try Tensor.embedding(try Tensor(ints: [2, 0, 1, 2], shape: [2, 2]), weight: w)
        XCTAssertEqual(e.shape, [2, 2, 2])
        XCTAssertEqual(e.toArray(), [2, 2, 0, 0, 1, 1, 2, 2])
        assertThrows("embedding: argument #1: index 3 out of range for a dim of size 3") { try Tensor.embedding(Tensor(ints: [3]), weight: w) }
        assertThrows("embedding: argument #1: expected an int64 tensor of ids, got float32") { try Tensor.embedding(Tensor([1]), weight: w) }
    }

    func testDropout() throws {
        let x = try Tensor.ones([10_000])
        let y = try x.dropout(p: 0.3, generator: Generator(seed: 3)).toArray()
        let kept = y.filter { $0 != 0 }
        XCTAssertEqual(Double(kept.count) / 10_000, 0.7, accuracy: 0.03)
        XCTAssertTrue(kept.allSatisfy { Swift.abs($0 - 1 / 0.7) < 1e-5 })
        XCTAssertTrue(try x.dropout(p: 0.3, training: false) === x)
        XCTAssertEqual(try x.dropout(p: 1).sum().item(), 0)
        assertThrows("dropout: argument 'p': expected a probability in [0, 1], got 1.5") { try x.dropout(p: 1.5) }
    }

    func testTrilTriu() throws {
        let x = try Tensor.ones([3, 3])
        XCTAssertEqual(try x.tril().toArray(), [1, 0, 0, 1, 1, 0, 1, 1, 1])
        XCTAssertEqual(try x.triu(1).toArray(), [0, 1, 1, 0, 0, 1, 0, 0, 0])
    }
}
