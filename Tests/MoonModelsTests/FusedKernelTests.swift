import Foundation
import XCTest
import MoonTensor
import CDecodeKernels
@testable import MoonModels

/// The fused training pass's C row kernels (CDecodeKernels/fused_kernels.c), every instruction-set variant the CPU
/// has, against double-precision references on odd widths (vector tails) and masked rows.
final class FusedKernelTests: XCTestCase {
    private func random(_ n: Int, _ g: Generator, scale: Float = 4) -> [Float] { (0..<n).map { _ in (g.nextFloat() * 2 - 1) * scale } }

    func testRowKernelsMatchReferences() {
        let g = Generator(seed: 17)
        defer { moon_dk_force_isa(-1) }
        for isa in 0...moon_dk_isa() {
            moon_dk_force_isa(Int32(isa))
            // Masked softmax of stacked heads: rows = 3 positions × rep 2, row t sees vis0 + t / 2 entries of 37.
            let rows = 6, rep = 2, vis0 = 30, width = 37, ld = 41
            let s0 = random(rows * ld, g)
            var s = s0, lse = [Float](repeating: 0, count: rows)
            moon_fk_softmax_rows(&s, Int32(ld), Int32(rows), Int32(rep), Int32(vis0), Int32(width), &lse)
            let dp0 = random(rows * ld, g), dsum = random(rows, g, scale: 1)
            var p = s0, dp = dp0
            moon_fk_softmax_grad_rows(&p, &dp, Int32(ld), Int32(rows), Int32(rep), Int32(vis0), Int32(width), lse, dsum)
            for t in 0..<rows {
                let vis = vis0 + t / rep, row = (0..<vis).map { Double(s0[t * ld + $0]) }
                let m = row.max()!, z = row.map { exp($0 - m) }.reduce(0, +)
                XCTAssertEqual(Double(lse[t]), m + log(z), accuracy: 1e-5, "isa \(isa) lse \(t)")
                for j in 0..<width {
                    let want = j < vis ? exp(row[j] - m) / z : 0
                    XCTAssertEqual(Double(s[t * ld + j]), want, accuracy: 1e-6, "isa \(isa) softmax \(t),\(j)")
                    XCTAssertEqual(Double(p[t * ld + j]), want, accuracy: 1e-6, "isa \(isa) recomputed p \(t),\(j)")
                    let wantD = j < vis ? want * (Double(dp0[t * ld + j]) - Double(dsum[t])) : 0
                    XCTAssertEqual(Double(dp[t * ld + j]), wantD, accuracy: 1e-5, "isa \(isa) dS \(t),\(j)")
                }
                XCTAssertEqual(s[t * ld + width], s0[t * ld + width], "isa \(isa): entries past width untouched")
            }
            // Row dot products.
            let a = random(3 * 21, g), b = random(3 * 19, g)
            var dots = [Float](repeating: 0, count: 3)
            moon_fk_row_dots(a, 21, b, 19, 3, 19, &dots)
            for t in 0..<3 {
                let want = (0..<19).reduce(0.0) { $0 + Double(a[t * 21 + $1]) * Double(b[t * 19 + $1]) }
                XCTAssertEqual(Double(dots[t]), want, accuracy: 1e-4, "isa \(isa) dot \(t)")
            }
            // Vocabulary log-softmax statistics and gradient (n = 1003: a vector tail).
            let n = 1003, z = random(n, g, scale: 8)
            var l: Float = 0, h: Float = 0
            moon_fk_log_softmax_stats(z, Int32(n), &l, &h)
            let m = Double(z.max()!), se = z.reduce(0.0) { $0 + exp(Double($1) - m) }, wantL = m + log(se)
            let probs = z.map { exp(Double($0) - wantL) }
            let wantH = -zip(probs, z).reduce(0.0) { $0 + $1.0 * (Double($1.1) - wantL) }
            XCTAssertEqual(Double(l), wantL, accuracy: 1e-4, "isa \(isa) lse")
            XCTAssertEqual(Double(h), wantH, accuracy: 1e-4, "isa \(isa) entropy")
            var dz = [Float](repeating: 0, count: n)
            let glp: Float = 0.7, gh: Float = -0.3, invT: Float = 0.5
            moon_fk_log_softmax_grad(z, &dz, Int32(n), l, h, glp, gh, invT)
            for v in stride(from: 0, to: n, by: 97) {
                let lp = Double(z[v]) - wantL, pv = exp(lp)
                let want = (-Double(glp) * pv - Double(gh) * pv * (lp + wantH)) * Double(invT)
                XCTAssertEqual(Double(dz[v]), want, accuracy: 1e-6, "isa \(isa) dz \(v)")
            }
            // SwiGLU and its backward (inter = 45: a vector tail), rows laid out [gate | up].
            let inter = 45, r = 3, gu = random(r * 2 * inter, g), dact = random(r * inter, g, scale: 1)
            var act = [Float](repeating: 0, count: r * inter), dgu = [Float](repeating: 0, count: r * 2 * inter)
            moon_fk_swiglu(gu, Int32(inter), Int32(r), &act)
            moon_fk_swiglu_backward(gu, dact, Int32(inter), Int32(r), &dgu)
            for t in 0..<r {
                for i in 0..<inter {
                    let gv = Double(gu[t * 2 * inter + i]), uv = Double(gu[t * 2 * inter + inter + i]), da = Double(dact[t * inter + i])
                    let sg = 1 / (1 + exp(-gv))
                    XCTAssertEqual(Double(act[t * inter + i]), gv * sg * uv, accuracy: 1e-5, "isa \(isa) swiglu")
                    XCTAssertEqual(Double(dgu[t * 2 * inter + i]), da * uv * sg * (1 + gv * (1 - sg)), accuracy: 1e-5, "isa \(isa) dgate")
                    XCTAssertEqual(Double(dgu[t * 2 * inter + inter + i]), da * gv * sg, accuracy: 1e-5, "isa \(isa) dup")
                }
            }
        }
    }
}
