import XCTest
@testable import MoonTensor

/// Finite-difference checks for every differentiable op.
final class GradCheckTests: XCTestCase {
    func a(_ shape: [Int], seed: UInt64 = 1, lo: Float = -1, hi: Float = 1) throws -> Tensor {
        try param(vals(shapeCountT(shape), seed: seed, lo: lo, hi: hi), shape)
    }
    func shapeCountT(_ s: [Int]) -> Int { s.reduce(1, *) }

    func testGradCheckCatchesWrongGradient() throws {
        // x * detach(x) has autograd gradient x but true derivative 2x: the checker must report it.
        let x = try a([3], seed: 5, lo: 0.5, hi: 1.5)
        let (errors, checked) = try gradCheckErrors([x]) { try $0[0].mul($0[0].detach()) }
        XCTAssertEqual(checked, 3)
        XCTAssertEqual(errors.count, 3)
        let (ok, _) = try gradCheckErrors([x]) { try $0[0].mul($0[0]) }
        XCTAssertTrue(ok.isEmpty, "\(ok)")
    }

    func testBinaryBroadcast() throws {
        let x = try a([2, 3], seed: 1), y = try a([3], seed: 2, lo: 0.5, hi: 1.5)
        try gradCheck([x, y]) { try $0[0].add($0[1]) }
        try gradCheck([x, y]) { try $0[0].sub($0[1]) }
        try gradCheck([x, y]) { try $0[0].mul($0[1]) }
        try gradCheck([x, y]) { try $0[0].div($0[1]) }
        let z = try a([2, 1], seed: 3)
        try gradCheck([x, z]) { try $0[0].mul($0[1]) }
        try gradCheck([z, y]) { try $0[0].add($0[1]) }
    }

    func testPowMinMax() throws {
        let x = try a([4], seed: 4, lo: 0.5, hi: 2), y = try a([4], seed: 5, lo: -1, hi: 2)
        try gradCheck([x, y]) { try $0[0].pow($0[1]) }
        try gradCheck([x]) { $0[0].pow(3) }
        try gradCheck([x]) { $0[0].pow(-0.5) }
        try gradCheck([x]) { $0[0].pow(2) }
        let p = try param([0.1, 0.9, -0.5, 2.0], [4]), q = try param([0.5, 0.2, 0.3, 1.0], [4])
        try gradCheck([p, q]) { try $0[0].minimum($0[1]) }
        try gradCheck([p, q]) { try $0[0].maximum($0[1]) }
    }

    func testScalarOps() throws {
        let x = try a([3], seed: 6, lo: 0.5, hi: 1.5)
        try gradCheck([x]) { $0[0].add(2).mul(3).sub(1).div(4) }
        try gradCheck([x]) { $0[0].rsub(2) }
        try gradCheck([x]) { $0[0].rdiv(2) }
        try gradCheck([x]) { 2 - (3 * $0[0]) / 2 }
    }

    func testUnaryOps() throws {
        let x = try a([5], seed: 7, lo: -2, hi: 2)
        let pos = try a([5], seed: 8, lo: 0.3, hi: 2)
        try gradCheck([x]) { $0[0].neg() }
        try gradCheck([x]) { $0[0].exp() }
        try gradCheck([pos]) { $0[0].log() }
        try gradCheck([pos]) { $0[0].log1p() }
        try gradCheck([pos]) { $0[0].sqrt() }
        try gradCheck([pos]) { $0[0].rsqrt() }
        try gradCheck([x]) { $0[0].tanh() }
        try gradCheck([x]) { $0[0].sigmoid() }
        try gradCheck([x]) { $0[0].gelu() }
        try gradCheck([x]) { $0[0].gelu(approximate: true) }
        try gradCheck([x]) { $0[0].silu() }
        try gradCheck([x]) { $0[0].sin() }
        try gradCheck([x]) { $0[0].cos() }
        try gradCheck([pos]) { $0[0].reciprocal() }
        let away = try param([-1.5, -0.5, 0.4, 1.2, 2.5], [5])
        try gradCheck([away]) { $0[0].abs() }
        try gradCheck([away]) { $0[0].relu() }
        try gradCheck([away]) { $0[0].clamp(min: -1, max: 1) }
        try gradCheck([away]) { $0[0].square() }
    }

    func testReductions() throws {
        let x = try a([2, 3, 4], seed: 9)
        try gradCheck([x]) { $0[0].sum() }
        try gradCheck([x]) { try $0[0].sum(dim: 1) }
        try gradCheck([x]) { try $0[0].sum(dims: [0, 2], keepdim: true) }
        try gradCheck([x]) { $0[0].mean() }
        try gradCheck([x]) { try $0[0].mean(dim: -1) }
        try gradCheck([x]) { try $0[0].variance(dim: 1) }
        try gradCheck([x]) { try $0[0].std(dim: 2, unbiased: false) }
        try gradCheck([x]) { $0[0].variance() }
        try gradCheck([x]) { try $0[0].logsumexp(dim: 1) }
        try gradCheck([x]) { try $0[0].max(dim: 2).values }
        try gradCheck([x]) { try $0[0].min(dim: 0, keepdim: true).values }
        try gradCheck([x]) { try $0[0].max() }
        try gradCheck([x]) { try $0[0].cumsum(dim: 1) }
        try gradCheck([x]) { $0[0].norm() }
    }

    func testSoftmaxFamily() throws {
        let x = try a([3, 4], seed: 10, lo: -2, hi: 2)
        try gradCheck([x]) { try $0[0].softmax(dim: -1) }
        try gradCheck([x]) { try $0[0].softmax(dim: 0) }
        try gradCheck([x]) { try $0[0].logSoftmax(dim: 1) }
        try gradCheck([x]) { try $0[0].logSoftmax(dim: 0) }
        let t = Tensor(ints: [1, 3, 0])
        try gradCheck([x]) { try Tensor.crossEntropy($0[0], t) }
        try gradCheck([x]) { try Tensor.crossEntropy($0[0], Tensor(ints: [1, -100, 2]), reduction: .sum) }
        try gradCheck([x]) { try Tensor.crossEntropy($0[0], t, reduction: .none) }
        let probs = try Tensor.noGrad { try a([3, 4], seed: 11).softmax(dim: 1) }.detach()
        try gradCheck([x]) { try Tensor.crossEntropy($0[0], probs) }
        try gradCheck([x]) { try Tensor.nllLoss($0[0].logSoftmax(dim: 1), t) }
        let y = try Tensor(vals(12, seed: 12), shape: [3, 4])
        try gradCheck([x]) { try Tensor.mseLoss($0[0], y) }
    }

    func testMatmulFamily() throws {
        let m = try a([3, 4], seed: 13), n = try a([4, 2], seed: 14)
        try gradCheck([m, n]) { try $0[0].matmul($0[1]) }
        try gradCheck([m, n]) { try $0[1].t().matmul($0[0].t()) }  // transposed views through BLAS flags
        let v = try a([4], seed: 15), w = try a([4], seed: 16)
        try gradCheck([v, w]) { try $0[0].matmul($0[1]) }
        try gradCheck([m, v]) { try $0[0].matmul($0[1]) }
        try gradCheck([v, n]) { try $0[0].matmul($0[1]) }
        let b1 = try a([2, 3, 4], seed: 17), b2 = try a([2, 4, 2], seed: 18)
        try gradCheck([b1, b2]) { try $0[0].bmm($0[1]) }
        let bc = try a([1, 4, 2], seed: 19)
        try gradCheck([b1, bc]) { try $0[0].matmul($0[1]) }   // broadcast batch
        try gradCheck([b1, n]) { try $0[0].matmul($0[1]) }    // N-D x 2-D fold
        let p = try a([2, 1, 3, 4], seed: 20), q = try a([3, 4, 2], seed: 21)
        try gradCheck([p, q]) { try $0[0].matmul($0[1]) }
        let x = try a([2, 3, 4], seed: 22), wt = try a([5, 4], seed: 23), bias = try a([5], seed: 24)
        try gradCheck([x, wt, bias]) { try Tensor.linear($0[0], weight: $0[1], bias: $0[2]) }
        try gradCheck([x, wt, bias]) { try Tensor.linear($0[0].transpose(0, 1), weight: $0[1], bias: $0[2]) }  // non-contiguous x
        try gradCheck([wt, bias]) { try Tensor.linear(Tensor([1, -2, 0.5, 3]), weight: $0[0], bias: $0[1]) }       // 1-D x
        try gradCheck([x, wt, bias]) { try Tensor.linear($0[0], weight: $0[1].t().contiguous().t(), bias: $0[2]) } // transposed-layout weight
        let nc = try a([4, 3], seed: 25)
        try gradCheck([nc, n]) { try $0[0].slice(dim: 0, start: 0, end: 4, step: 2).t().matmul($0[1].narrow(dim: 0, start: 1, length: 2)) }
    }

    func testViews() throws {
        let x = try a([2, 3, 4], seed: 26)
        try gradCheck([x]) { try $0[0].reshape([4, -1]) }
        try gradCheck([x]) { try $0[0].permute([2, 0, 1]).contiguous() }
        try gradCheck([x]) { try $0[0].transpose(0, 2) }
        try gradCheck([x]) { try $0[0].narrow(dim: 1, start: 1, length: 2) }
        try gradCheck([x]) { try $0[0].select(dim: -1, index: -1) }
        try gradCheck([x]) { try $0[0].slice(dim: 2, start: -3, end: nil, step: 2) }
        try gradCheck([x]) { try $0[0].unsqueeze(dim: 1).squeeze(dim: 1).flatten(start: 1) }
        let y = try a([3, 1], seed: 27)
        try gradCheck([y]) { try $0[0].expand([2, 3, 4]) }
        try gradCheck([x]) { try $0[0].transpose(1, 2).reshape([2, 12]) }  // reshape of non-contiguous copies
        try gradCheck([x]) { try $0[0].clone() }
        let sq = try a([3, 3], seed: 28)
        try gradCheck([sq]) { try $0[0].tril() }
        try gradCheck([sq]) { try $0[0].triu(1) }
    }

    func testJoinAndIndex() throws {
        let x = try a([2, 3], seed: 29), y = try a([2, 2], seed: 30)
        try gradCheck([x, y]) { try Tensor.cat([$0[0], $0[1]], dim: 1) }
        try gradCheck([x]) { try Tensor.stack([$0[0], $0[0].mul(2)], dim: 1) }
        try gradCheck([x]) { try Tensor.cat(try $0[0].split(size: 2, dim: 1).reversed().map { $0 }, dim: 1) }
        try gradCheck([x]) { try $0[0].chunk(2, dim: 0)[1] }
        let idx = Tensor(ints: [2, 0, 2])
        try gradCheck([x]) { try $0[0].indexSelect(dim: 1, index: idx) }
        let gi = try Tensor(ints: [0, 2, 1, 1], shape: [2, 2])
        try gradCheck([x]) { try $0[0].gather(dim: 1, index: gi) }
        let src = try a([2, 2], seed: 31)
        try gradCheck([x, src]) { try $0[0].scatterAdd(dim: 1, index: gi, src: $0[1]) }
        let mask = try Tensor([1, 0, 0, 0, 1, 0], shape: [2, 3])
        try gradCheck([x]) { try $0[0].maskedFill(mask, value: -3) }
        try gradCheck([x, y]) { try Tensor.where(Tensor([1, 0, 1]), $0[0], $0[1].narrow(dim: 1, start: 0, length: 1)) }
        let w = try a([5, 3], seed: 32)
        try gradCheck([w]) { try Tensor.embedding(try Tensor(ints: [4, 0, 4, 2], shape: [2, 2]), weight: $0[0]) }
    }

    func testSortFamily() throws {
        let x = try param([0.3, -1.2, 2.2, 0.9, 1.7, -0.4], [2, 3])
        try gradCheck([x]) { try $0[0].sort(dim: 1).values }
        try gradCheck([x]) { try $0[0].topk(2, dim: 1).values }
        try gradCheck([x]) { try $0[0].kthvalue(2, dim: 0).values }
    }

    func testDropoutGradMatchesMask() throws {
        let x = try a([50], seed: 33)
        let g = Generator(seed: 7)
        let y = try x.dropout(p: 0.4, generator: g)
        try y.sum().backward()
        let yv = y.toArray(), xv = x.toArray(), gv = x.grad!.toArray()
        for i in 0..<50 {
            if yv[i] == 0 { XCTAssertEqual(gv[i], 0) } else {
                XCTAssertEqual(gv[i], 1 / 0.6, accuracy: 1e-5)
                XCTAssertEqual(yv[i], xv[i] / 0.6, accuracy: 1e-5)
            }
        }
    }

    func testComposite() throws {
        // A tiny MLP: linear -> gelu -> linear -> log_softmax -> nll
        let x = try Tensor(vals(8, seed: 40), shape: [2, 4])
        let w1 = try a([3, 4], seed: 41), b1 = try a([3], seed: 42), w2 = try a([2, 3], seed: 43)
        try gradCheck([w1, b1, w2]) { p in
            let h = try Tensor.linear(x, weight: p[0], bias: p[1]).gelu()
            return try Tensor.crossEntropy(Tensor.linear(h, weight: p[2]), Tensor(ints: [1, 0]))
        }
    }

    func testRemainingWrappers() throws {
        let m = try a([3, 4], seed: 50), n = try a([4, 2], seed: 51), v = try a([4], seed: 52), w = try a([4], seed: 53)
        try gradCheck([m, n]) { try $0[0].mm($0[1]) }
        try gradCheck([v, w]) { try $0[0].dot($0[1]) }
        try gradCheck([m]) { $0[0].std() }
        try gradCheck([m]) { try $0[0].min() }
        try gradCheck([m]) { try $0[0].logsumexp() }
        try gradCheck([m]) { try $0[0].view([2, 6]) }
        try gradCheck([m]) { try $0[0].unsqueeze(dim: 0).squeeze() }
        try gradCheck([m]) { try Tensor.where($0[0].gt(0), $0[0], -1) }
        try gradCheck([m]) { try $0[0].split(sizes: [1, 3], dim: 1)[1] }
        try gradCheck([m]) { try $0[0].t() }
        try gradCheck([m]) { try $0[0].flip(dim: 1) }
        try gradCheck([m]) { try Tensor.where($0[0].lt(0), 2, $0[0]) }
    }

    func testFunctionalLayers() throws {
        let x = try a([2, 3, 4], seed: 60), w = try a([4], seed: 61), b = try a([4], seed: 62)
        try gradCheck([x, w, b]) { try Tensor.layerNorm($0[0], weight: $0[1], bias: $0[2]) }
        try gradCheck([x, w]) { try Tensor.rmsNorm($0[0], weight: $0[1]) }
        let q = try a([2, 3, 4], seed: 63), k = try a([2, 5, 4], seed: 64), v = try a([2, 5, 2], seed: 65)
        try gradCheck([q, k, v]) { try Tensor.scaledDotProductAttention($0[0], $0[1], $0[2]) }
        try gradCheck([q, k, v]) { try Tensor.scaledDotProductAttention($0[0], $0[1], $0[2], causal: true) }
    }
}

final class FunctionalValueTests: XCTestCase {
    func testLayerNormAndRMSNormValues() throws {
        let x = try Tensor([1, 2, 3, 4], shape: [1, 4])
        let ln = try Tensor.layerNorm(x, eps: 0).toArray()
        let sd = Float(1.25).squareRoot()
        assertClose(ln, [-1.5 / sd, -0.5 / sd, 0.5 / sd, 1.5 / sd], tol: 1e-5)
        let rms = try Tensor.rmsNorm(x, weight: Tensor([1, 1, 2, 2]), eps: 0).toArray()
        let r = Float(7.5).squareRoot()
        assertClose(rms, [1 / r, 2 / r, 6 / r, 8 / r], tol: 1e-5)
        assertThrows("rms_norm: argument 'weight': expected shape [4], got [3]") { try Tensor.rmsNorm(x, weight: Tensor([1, 1, 1])) }
    }

    func testAttentionCausalMask() throws {
        // With v = identity rows, the output rows are the attention weights.
        let q = try Tensor.zeros([3, 2]), k = try Tensor.zeros([3, 2]), v = try Tensor.eye(3)
        let out = try Tensor.scaledDotProductAttention(q, k, v, causal: true).toArray()
        assertClose(out, [1, 0, 0, 0.5, 0.5, 0, 1.0 / 3, 1.0 / 3, 1.0 / 3])
        let pad = try Tensor([0, 0, -Float.infinity], shape: [1, 3])
        let o2 = try Tensor.scaledDotProductAttention(q, k, v, additiveMask: pad).toArray()
        assertClose(Array(o2[0..<3]), [0.5, 0.5, 0])
        assertThrows("attention: argument #3: expected shape [..., 3, *], got [2, 3]") {
            try Tensor.scaledDotProductAttention(q, k, Tensor.zeros([2, 3]))
        }
    }
}
