import XCTest
@testable import MoonTensor

/// conv2d (im2col + sgemm) against a direct loop and finite differences.
final class ConvTests: XCTestCase {
    /// The textbook definition, in double precision.
    func direct(_ x: [Float], _ xs: [Int], _ w: [Float], _ ws: [Int], _ b: [Float]?, stride: Int, padding: Int) -> ([Float], [Int]) {
        let (n, c, h, wd) = (xs[0], xs[1], xs[2], xs[3]), (o, kh, kw) = (ws[0], ws[2], ws[3])
        let ho = (h + 2 * padding - kh) / stride + 1, wo = (wd + 2 * padding - kw) / stride + 1
        var out = [Float](repeating: 0, count: n * o * ho * wo)
        for bi in 0..<n { for oc in 0..<o { for oy in 0..<ho { for ox in 0..<wo {
            var s = Double(b?[oc] ?? 0)
            for ic in 0..<c { for ky in 0..<kh { for kx in 0..<kw {
                let iy = oy * stride - padding + ky, ix = ox * stride - padding + kx
                guard iy >= 0, iy < h, ix >= 0, ix < wd else { continue }
                s += Double(x[((bi * c + ic) * h + iy) * wd + ix]) * Double(w[((oc * c + ic) * kh + ky) * kw + kx])
            } } }
            out[((bi * o + oc) * ho + oy) * wo + ox] = Float(s)
        } } } }
        return (out, [n, o, ho, wo])
    }

    func testHandComputedCase() throws {
        // 1..9 in a 3×3 image, a 2×2 kernel of ones: sums of each 2×2 window
        let x = try Tensor((1...9).map(Float.init), shape: [1, 1, 3, 3])
        let w = try Tensor([1, 1, 1, 1], shape: [1, 1, 2, 2])
        let y = try Tensor.conv2d(x, weight: w)
        XCTAssertEqual(y.shape, [1, 1, 2, 2])
        XCTAssertEqual(y.toArray(), [12, 16, 24, 28])
        // padding 1, stride 2: windows at (-1,-1), (-1,1), (1,-1), (1,1) with a bias of 0.5
        let z = try Tensor.conv2d(x, weight: w, bias: Tensor([0.5], shape: [1]), stride: 2, padding: 1)
        XCTAssertEqual(z.toArray(), [1.5, 5.5, 11.5, 28.5])
    }

    func testMatchesDirectLoop() throws {
        let cases: [(x: [Int], w: [Int], stride: Int, padding: Int, bias: Bool)] = [
            ([2, 3, 8, 8], [4, 3, 3, 3], 1, 1, true),
            ([2, 3, 9, 7], [5, 3, 3, 3], 2, 1, true),
            ([1, 2, 8, 8], [3, 2, 4, 4], 4, 0, false),
            ([3, 1, 5, 6], [2, 1, 2, 3], 3, 2, true),
            ([1, 4, 3, 3], [2, 4, 3, 3], 1, 0, false),
        ]
        for (k, cs) in cases.enumerated() {
            let xv = vals(cs.x.reduce(1, *), seed: UInt64(10 + k)), wv = vals(cs.w.reduce(1, *), seed: UInt64(20 + k))
            let bv = cs.bias ? vals(cs.w[0], seed: UInt64(30 + k)) : nil
            let y = try Tensor.conv2d(Tensor(xv, shape: cs.x), weight: Tensor(wv, shape: cs.w),
                                      bias: try bv.map { try Tensor($0, shape: [cs.w[0]]) }, stride: cs.stride, padding: cs.padding)
            let (ref, shape) = direct(xv, cs.x, wv, cs.w, bv, stride: cs.stride, padding: cs.padding)
            XCTAssertEqual(y.shape, shape, "case \(k)")
            assertClose(y.toArray(), ref, tol: 1e-5, "case \(k)")
        }
    }

    func testGradientsMatchFiniteDifferences() throws {
        let cases: [(x: [Int], w: [Int], stride: Int, padding: Int)] = [
            ([2, 2, 5, 5], [3, 2, 3, 3], 1, 1),
            ([1, 3, 7, 6], [2, 3, 3, 3], 2, 1),
            ([2, 1, 6, 6], [2, 1, 2, 2], 2, 0),
            ([1, 2, 4, 5], [2, 2, 3, 2], 3, 2),
        ]
        for (k, cs) in cases.enumerated() {
            let x = try param(vals(cs.x.reduce(1, *), seed: UInt64(40 + k)), cs.x)
            let w = try param(vals(cs.w.reduce(1, *), seed: UInt64(50 + k)), cs.w)
            let b = try param(vals(cs.w[0], seed: UInt64(60 + k)), [cs.w[0]])
            try gradCheck([x, w, b]) { try Tensor.conv2d($0[0], weight: $0[1], bias: $0[2], stride: cs.stride, padding: cs.padding) }
            try gradCheck([x, w]) { try Tensor.conv2d($0[0], weight: $0[1], stride: cs.stride, padding: cs.padding) }
        }
        // a non-contiguous input (a transposed view) and a chain of two convolutions with GELU between
        let x = try param(vals(2 * 2 * 6 * 6, seed: 70), [2, 2, 6, 6])
        let w1 = try param(vals(3 * 2 * 9, seed: 71), [3, 2, 3, 3]), w2 = try param(vals(2 * 3 * 9, seed: 72), [2, 3, 3, 3])
        try gradCheck([x, w1, w2]) {
            let h = try Tensor.conv2d($0[0].transpose(2, 3), weight: $0[1], stride: 2, padding: 1).gelu()
            return try Tensor.conv2d(h, weight: $0[2], padding: 1)
        }
    }

    func testBadArgumentsThrow() throws {
        let x = try Tensor(vals(2 * 3 * 4 * 4), shape: [2, 3, 4, 4])
        assertThrows("expected a float32 tensor [*, 3, kh, kw]") { try Tensor.conv2d(x, weight: Tensor(vals(2 * 2 * 9), shape: [2, 2, 3, 3])) }
        assertThrows("[B, C, H, W]") { try Tensor.conv2d(Tensor(vals(12), shape: [3, 4]), weight: Tensor(vals(9), shape: [1, 1, 3, 3])) }
        assertThrows("does not fit") { try Tensor.conv2d(x, weight: Tensor(vals(3 * 25), shape: [1, 3, 5, 5])) }
        assertThrows("'stride'") { try Tensor.conv2d(x, weight: Tensor(vals(27), shape: [1, 3, 3, 3]), stride: 0) }
        assertThrows("'padding'") { try Tensor.conv2d(x, weight: Tensor(vals(27), shape: [1, 3, 3, 3]), padding: -1) }
        assertThrows("'bias'") { try Tensor.conv2d(x, weight: Tensor(vals(27), shape: [1, 3, 3, 3]), bias: Tensor(vals(2), shape: [2])) }
    }
}
