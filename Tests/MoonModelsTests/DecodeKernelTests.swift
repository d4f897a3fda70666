import Foundation
import XCTest
import MoonTensor
import CDecodeKernels
@testable import MoonModels

/// The decode loop's small-M kernels (CDecodeKernels) against BLAS, the generation paths against each other, and
/// the shared-prompt-prefix prefill against feeding every row its whole prompt.
final class DecodeKernelTests: XCTestCase {
    private func random(_ n: Int, _ g: Generator) -> [Float] { (0..<n).map { _ in g.nextFloat() * 2 - 1 } }

    /// Every instruction-set variant (portable, AVX2, AVX-512 where the CPU has them) on odd and decode-sized
    /// shapes, with and without accumulation into C, against cblas; bf16 against a double-precision product of
    /// the rounded weights.
    func testKernelsMatchBLAS() throws {
        let g = Generator(seed: 11)
        let shapes = [(1, 1, 1), (1, 7, 5), (3, 13, 33), (2, 9, 17), (5, 64, 576), (8, 100, 576), (7, 67, 1536), (13, 70, 31),
                      (1, 513, 64), (48, 40, 72)]
        defer { moon_dk_force_isa(-1) }
        for isa in 0...moon_dk_isa() {
            moon_dk_force_isa(Int32(isa))
            for (m, n, k) in shapes {
                let a = random(m * k, g), w = random(n * k, g), c0 = random(m * n, g)
                for beta: Float in [0, 1] {
                    var want = c0, got = c0
                    gemmNT(m, n, k, a, k, w, k, &want, n, beta: beta)
                    moon_dk_gemm_nt_f32(Int32(m), Int32(n), Int32(k), a, Int32(k), w, Int32(k), &got, Int32(n), beta)
                    XCTAssertLessThan(maxAbsDiff(got, want), 1e-5 * Float(k).squareRoot() + 1e-6, "isa \(isa) f32 \(m)x\(n)x\(k) beta \(beta)")
                    var h = [UInt16](repeating: 0, count: n * k)
                    moon_dk_to_bf16(w, &h, n * k)
                    var gotH = c0
                    moon_dk_gemm_nt_bf16(Int32(m), Int32(n), Int32(k), a, Int32(k), h, Int32(k), &gotH, Int32(n), beta)
                    var maxd: Double = 0
                    for i in 0..<m {
                        for j in 0..<n {
                            var s = Double(beta) * Double(c0[i * n + j])
                            for q in 0..<k { s += Double(a[i * k + q]) * Double(Float(bitPattern: UInt32(h[j * k + q]) << 16)) }
                            maxd = max(maxd, abs(s - Double(gotH[i * n + j])))
                        }
                    }
                    XCTAssertLessThan(maxd, 1e-5 * Double(k).squareRoot() + 1e-6, "isa \(isa) bf16 \(m)x\(n)x\(k)")
                }
            }
        }
    }

    /// The tile-order bf16 product (AMX where the CPU has it, and the portable loop with AMX forced off) against a
    /// double-precision product of the rounded weights: decode shapes, odd row counts (3·m activation pieces fill
    /// the tiles partly), a column range starting inside the matrix, accumulation into C. The tile order holds the
    /// values `moon_dk_to_bf16` rounds.
    func testTiledBF16MatchesReference() throws {
        let g = Generator(seed: 12)
        print("AMX tiles: \(moon_dk_amx() != 0 ? "used" : "not available")")
        defer { moon_dk_force_amx(-1); moon_dk_force_isa(-1) }
        for amx in [true, false] {
            moon_dk_force_amx(amx ? -1 : 0)
            for (m, n, k) in [(1, 16, 32), (8, 192, 576), (3, 48, 1536), (13, 32, 64), (11, 80, 96), (40, 16, 32)] {
                let a = random(m * k, g).map { $0 * 3 }, w = random(n * k, g), c0 = random(m * n, g)
                var h = [UInt16](repeating: 0, count: n * k), t = h
                moon_dk_to_bf16(w, &h, n * k)
                moon_dk_to_bf16_tiled(w, Int32(n), Int32(k), &t)
                // every value at its tile place: block j/16, tile q/32, tile row (q%32)/2, pair j%16, half q&1
                var misplaced = 0
                for j in 0..<n {
                    for q in 0..<k where t[((j / 16) * (k / 32) + q / 32) * 512 + ((q % 32) / 2) * 32 + 2 * (j % 16) + (q & 1)] != h[j * k + q] {
                        misplaced += 1
                    }
                }
                XCTAssertEqual(misplaced, 0, "\(n)x\(k)")
                if amx {  // the portable tiling too
                    moon_dk_force_isa(0)
                    var t0 = [UInt16](repeating: 0, count: n * k)
                    moon_dk_to_bf16_tiled(w, Int32(n), Int32(k), &t0)
                    moon_dk_force_isa(-1)
                    XCTAssertEqual(t0, t)
                }
                let first = n >= 32 ? 16 : 0  // a column range that starts at the second block
                for beta: Float in [0, 1] {
                    var got = c0
                    t.withUnsafeBufferPointer { tp in
                        got.withUnsafeMutableBufferPointer { cp in
                            moon_dk_gemm_nt_bf16_tiled(Int32(m), Int32(n - first), Int32(k), a, Int32(k), tp.baseAddress! + first * k,
                                                       cp.baseAddress! + first, Int32(n), beta)
                        }
                    }
                    var maxd: Double = 0
                    for i in 0..<m {
                        for j in 0..<n {
                            if j < first { XCTAssertEqual(got[i * n + j], c0[i * n + j]); continue }
                            var s = Double(beta) * Double(c0[i * n + j])
                            for q in 0..<k { s += Double(a[i * k + q]) * Double(Float(bitPattern: UInt32(h[j * k + q]) << 16)) }
                            maxd = max(maxd, abs(s - Double(got[i * n + j])))
                        }
                    }
                    XCTAssertLessThan(maxd, 3e-5 * Double(k).squareRoot() + 1e-6, "amx \(amx) \(m)x\(n)x\(k) beta \(beta)")
                }
            }
        }
    }

    /// The activations keep all 24 bits: with one weight 1 (the rest 0) per output column the product returns the
    /// activation exactly (a bf16 or two-piece split of the activations would not).
    func testTiledBF16KeepsActivationsExact() throws {
        let m = 5, n = 32, k = 64
        let g = Generator(seed: 13)
        let a = random(m * k, g).map { $0 * 1000 + 0.123456789 }
        var w = [Float](repeating: 0, count: n * k)
        for j in 0..<n { w[j * k + (j * 7) % k] = 1 }
        var t = [UInt16](repeating: 0, count: n * k)
        moon_dk_to_bf16_tiled(w, Int32(n), Int32(k), &t)
        var c = [Float](repeating: 0, count: m * n)
        moon_dk_gemm_nt_bf16_tiled(Int32(m), Int32(n), Int32(k), a, Int32(k), t, &c, Int32(n), 0)
        for i in 0..<m { for j in 0..<n { XCTAssertEqual(c[i * n + j], a[i * k + (j * 7) % k], "row \(i) column \(j)") } }
    }

    /// The decode loop's SwiGLU kernel gives bit for bit what the Swift loop with `fexp` gave (so f32 generation is
    /// unchanged), every instruction-set variant, a column range, the exp's clamped ends included.
    func testSwiGLUColumnsMatchSwiftLoop() {
        let g = Generator(seed: 21)
        let inter = 37, rows = 3
        var gu = random(rows * 2 * inter, g).map { $0 * 30 }
        gu[2] = 95; gu[3] = -95; gu[4] = 300; gu[5] = -300; gu[6] = 0
        defer { moon_dk_force_isa(-1) }
        for isa in 0...moon_dk_isa() {
            moon_dk_force_isa(Int32(isa))
            var act = [Float](repeating: 7, count: rows * inter)
            moon_dk_swiglu_cols(gu, Int32(inter), Int32(rows), 2, Int32(inter), &act)
            for r in 0..<rows {
                for i in 0..<inter {
                    let gv = gu[r * 2 * inter + i], u = gu[r * 2 * inter + inter + i]
                    let want: Float = i < 2 ? 7 : gv / (1 + fexp(-gv)) * u
                    XCTAssertEqual(act[r * inter + i].bitPattern, want.bitPattern, "isa \(isa) row \(r) column \(i) g \(gv)")
                }
            }
        }
    }

    /// Rounding to bfloat16 is to nearest even and keeps NaN a NaN.
    func testBF16Rounding() {
        let xs: [Float] = [1, -2.5, 1 + 1.0 / 256, 1 + 3.0 / 256, .infinity, .nan, 3.0e38]
        var h = [UInt16](repeating: 0, count: xs.count)
        moon_dk_to_bf16(xs, &h, xs.count)
        let back = h.map { Float(bitPattern: UInt32($0) << 16) }
        XCTAssertEqual(Array(back[0..<5]), [1, -2.5, 1, 1 + 4.0 / 256, .infinity])
        XCTAssertTrue(back[5].isNaN)
        XCTAssertEqual(back[6], 3.0e38, accuracy: 3.0e38 / 128)
    }

    /// The attention softmax and the sampler's row statistics, every instruction-set variant, against double
    /// precision: lengths around the vector widths (tails), rows with -inf (masked) entries, and an all-masked row
    /// (zeros). The sampler's sums run in index order (as score's), so they must equal a Float loop in that order.
    func testSoftmaxAndRowStats() throws {
        let g = Generator(seed: 3)
        defer { moon_dk_force_isa(-1) }
        for isa in 0...moon_dk_isa() {
            moon_dk_force_isa(Int32(isa))
            for n in [1, 3, 4, 8, 15, 16, 17, 33, 100, 513] {
                var x = random(n, g).map { $0 * 20 }
                if n > 2 { x[1] = -.infinity }
                var y = x + [7, 7, 7]
                moon_dk_softmax(&y, Int32(n), Int32(n + 3))
                let m = x.max()!
                let total = x.reduce(0.0) { $0 + exp(Double($1 - m)) }
                for i in 0..<n { XCTAssertEqual(Double(y[i]), exp(Double(x[i] - m)) / total, accuracy: 1e-6, "isa \(isa) n \(n)") }
                XCTAssertEqual(Array(y[n...]), [0, 0, 0])
                var mx: Float = 0, s: Float = 0, w: Float = 0
                let z = x.map { $0 == -.infinity ? -30 : $0 }
                moon_dk_row_stats(z, Int32(n), 0.5, &mx, &s, &w)
                XCTAssertEqual(mx, z.max()! * 0.5)
                var s0: Float = 0, w0: Float = 0
                for v in z { let d = v * 0.5 - mx; let e = Float(exp(Double(d))); s0 += e; w0 += e * d }
                XCTAssertEqual(s, s0, accuracy: s0 * 1e-5, "isa \(isa) n \(n)")
                XCTAssertEqual(w, w0, accuracy: abs(w0) * 1e-5 + 1e-6, "isa \(isa) n \(n)")
                var out = [Float](repeating: 0, count: n)
                let t = moon_dk_row_exp(z, Int32(n), 2, &out)
                let m2 = z.max()! * 2
                for i in 0..<n { XCTAssertEqual(out[i], Float(exp(Double(z[i] * 2 - m2))), accuracy: 1e-6) }
                XCTAssertEqual(t, out.reduce(0, +), accuracy: t * 1e-6)
            }
            var masked = [Float](repeating: -.infinity, count: 20)
            moon_dk_softmax(&masked, 18, 20)
            XCTAssertEqual(masked, [Float](repeating: 0, count: 20))
        }
    }

    /// A random decoder wide enough that projections split over the two threads (n ≥ 64) and the kernels' tiles
    /// have remainders.
    private func wideDecoder() throws -> LlamaDecoder {
        var c = tinyLlamaConfig(vocab: 301, hidden: 72, layers: 2, heads: 6, kvHeads: 2, inter: 130)
        c.initializerRange = 0.1
        return try LlamaDecoder(c, generator: Generator(seed: 5))
    }

    private func generate(_ d: LlamaDecoder, _ prompts: [[Int]], _ o: GenerateOptions, seed: UInt64 = 7) throws -> GenerateResult {
        try d.generate(prompts: prompts, options: o, generator: Generator(seed: seed))
    }

    /// The small-M kernel path and the BLAS-only path give the same greedy tokens and log-probs (to rounding), and
    /// sampled generation's log-probs still equal teacher forcing.
    func testKernelPathMatchesBLASPath() throws {
        let d = try wideDecoder()
        let prompts = [[5, 9, 11, 40, 200], [7, 8, 20], [12, 13, 14, 15, 16, 17, 18, 19], [300]]
        var o = GenerateOptions()
        o.greedy = true; o.maxNewTokens = 10; o.stopAtEos = false
        let fast = try generate(d, prompts, o)
        let saved = smallGemmRows
        smallGemmRows = 0
        let blas = try generate(d, prompts, o)
        smallGemmRows = saved
        XCTAssertEqual(fast.tokens, blas.tokens)
        for b in 0..<prompts.count { XCTAssertLessThan(maxAbsDiff(fast.logProbs[b], blas.logProbs[b]), 1e-4, "row \(b)") }
        o.greedy = false; o.temperature = 1
        let s = try generate(d, prompts, o, seed: 9)
        for b in 0..<prompts.count {
            let seq = prompts[b] + s.tokens[b]
            let lg = try Tensor.noGrad { try d(Tensor.fromInts(seq, [1, seq.count])).logSoftmax(dim: -1).toArray() }
            for (k, tok) in s.tokens[b].enumerated() {
                XCTAssertEqual(s.logProbs[b][k], lg[(prompts[b].count - 1 + k) * 301 + tok], accuracy: 1e-4, "row \(b) token \(k)")
            }
        }
    }

    /// bf16 decode weights: the same kind of result with log-probs near the f32 ones (not equal: weights rounded).
    func testBF16WeightsStayClose() throws {
        let d = try wideDecoder()
        let prompts = [[5, 9, 11, 40, 200], [7, 8, 20]]
        var o = GenerateOptions()
        o.greedy = true; o.maxNewTokens = 6; o.stopAtEos = false
        let f = try generate(d, prompts, o)
        o.weights = .bf16
        let h = try generate(d, prompts, o)
        XCTAssertEqual(h.tokens.map(\.count), [6, 6])
        // the first token comes from the (f32) prefill and the bf16 lm head
        for b in 0..<2 { XCTAssertEqual(h.logProbs[b][0], f.logProbs[b][0], accuracy: 0.05) }
        XCTAssertTrue(h.logProbs.joined().allSatisfy { $0.isFinite && $0 <= 0 })
    }

    /// Prefilling the prompts' common prefix once and sharing its keys/values gives the tokens and log-probs of
    /// prefilling every row in full, for greedy and seeded sampling, either padding side, and rows of one token
    /// beyond the prefix.
    func testSharedPrefixMatchesFullPrefill() throws {
        let d = try wideDecoder()
        let common = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
        let prompts = [common + [40, 41, 42], common + [50], common + [60, 61], common + [70, 71, 72, 73, 74]]
        for padding in [Padding.left, .right] {
            for greedy in [true, false] {
                var o = GenerateOptions()
                o.greedy = greedy; o.maxNewTokens = 8; o.stopAtEos = false; o.padding = padding
                let shared = try generate(d, prompts, o)
                o.sharePrefix = false
                let full = try generate(d, prompts, o)
                XCTAssertEqual(shared.tokens, full.tokens, "padding \(padding) greedy \(greedy)")
                for b in 0..<prompts.count {
                    XCTAssertLessThan(maxAbsDiff(shared.logProbs[b], full.logProbs[b]), 1e-5)
                    XCTAssertLessThan(maxAbsDiff(shared.entropies[b], full.entropies[b]), 1e-5)
                }
            }
        }
        // identical prompts: everything but the last token is shared
        var o = GenerateOptions()
        o.greedy = true; o.maxNewTokens = 5; o.stopAtEos = false
        let same = try generate(d, [common, common], o)
        XCTAssertEqual(same.tokens[0], same.tokens[1])
        let alone = try generate(d, [common], o)
        XCTAssertEqual(alone.tokens[0], same.tokens[0])
        XCTAssertLessThan(maxAbsDiff(alone.logProbs[0], same.logProbs[0]), 1e-5)
    }

    /// An odd batch (the two threads take unequal halves of the rows in attention and the sampler) with rows that
    /// stop early (padding steps read the shared prefix only): shared and unshared prefill agree, sampled too.
    func testSharedPrefixOddBatch() throws {
        let d = try wideDecoder()
        let common = Array(20..<37)
        let prompts = [common + [40], common + [50, 51, 52], common + [60, 61], common + [70, 71, 72, 73], common + [80, 81]]
        for greedy in [true, false] {
            var o = GenerateOptions()
            o.greedy = greedy; o.temperature = 0.7; o.maxNewTokens = 9; o.stopAtEos = true; o.eosId = 5
            let shared = try generate(d, prompts, o)
            o.sharePrefix = false
            let full = try generate(d, prompts, o)
            XCTAssertEqual(shared.tokens, full.tokens, "greedy \(greedy)")
            for b in 0..<prompts.count { XCTAssertLessThan(maxAbsDiff(shared.logProbs[b], full.logProbs[b]), 1e-5) }
        }
    }

    /// With visual-token embeddings placed inside the prompts, only the part before them is shared, and the result
    /// equals the unshared prefill.
    func testSharedPrefixStopsAtVisualTokens() throws {
        let d = try wideDecoder()
        let prompts = [[1, 2, 3, 4, 5, 6, 9, 9], [1, 2, 3, 4, 5, 6, 8]]
        let pre = try Tensor.rand([2, 3, 72], generator: Generator(seed: 4))
        var o = GenerateOptions()
        o.greedy = true; o.maxNewTokens = 6; o.stopAtEos = false
        let packed = try PackedDecoder(d)
        let a = try Tensor.noGrad {
            try GenerationCore.run(packed: packed, prefix: pre, prefixAt: [4, 4], prompts: prompts, options: o, generator: Generator(seed: 1))
        }
        o.sharePrefix = false
        let b = try Tensor.noGrad {
            try GenerationCore.run(packed: packed, prefix: pre, prefixAt: [4, 4], prompts: prompts, options: o, generator: Generator(seed: 1))
        }
        XCTAssertEqual(a.tokens, b.tokens)
        for r in 0..<2 { XCTAssertLessThan(maxAbsDiff(a.logProbs[r], b.logProbs[r]), 1e-5) }
    }

    /// A shared prefix is only accepted first, and within capacity.
    func testSharedPrefixErrors() throws {
        let d = try wideDecoder()
        let s = try InferenceSession(decoder: d, batch: 2, capacity: 4)
        XCTAssertThrowsError(try s.appendShared(ids: [1, 2, 3, 4, 5]))
        try s.appendShared(ids: [1, 2])
        XCTAssertEqual(s.length, 2)
        XCTAssertEqual(s.nextPosition, [2, 2])
        XCTAssertThrowsError(try s.appendShared(ids: [1]))
    }
}

/// The decode path on the shipped SmolLM2-135M (skipped when models/ lacks it; scripts/test fetches it): the kernel
/// path and the BLAS path agree, shared-prefix prefill equals the full one, and greedy log-probs equal teacher forcing.
final class SmolLM2DecodeTests: XCTestCase {
    func testKernelAndSharedPrefixOnSmolLM2() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = ProcessInfo.processInfo.environment["MOONLAB_SMOLLM2"] ?? root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) is absent: run scripts/fetch-model") }
        let lm = try LanguageModel.load(path: path)
        let d = lm.decoder
        let common = try lm.encodePrompt("You are a careful assistant. Answer briefly.")
        let prompts = [common + (try lm.encodeResponse(" What is 2 + 3?")), common + (try lm.encodeResponse(" Name a colour."))]
        var o = GenerateOptions()
        o.greedy = true; o.maxNewTokens = 6; o.stopAtEos = false
        let fast = try d.generate(prompts: prompts, options: o)
        o.sharePrefix = false
        let unshared = try d.generate(prompts: prompts, options: o)
        let saved = smallGemmRows
        smallGemmRows = 0
        let blas = try d.generate(prompts: prompts, options: o)
        smallGemmRows = saved
        XCTAssertEqual(fast.tokens, unshared.tokens)
        XCTAssertEqual(fast.tokens, blas.tokens)
        var worst: (Float, Float) = (0, 0)
        for b in 0..<2 {
            XCTAssertLessThan(maxAbsDiff(fast.logProbs[b], unshared.logProbs[b]), 1e-4)
            XCTAssertLessThan(maxAbsDiff(fast.logProbs[b], blas.logProbs[b]), 1e-4)
            let seq = prompts[b] + fast.tokens[b]
            let lg = try Tensor.noGrad { try d(Tensor.fromInts(seq, [1, seq.count])).logSoftmax(dim: -1).toArray() }
            for (k, tok) in fast.tokens[b].enumerated() {
                let want = lg[(prompts[b].count - 1 + k) * 49152 + tok]
                worst = (max(worst.0, abs(fast.logProbs[b][k] - want)), max(worst.1, abs(blas.logProbs[b][k] - want)))
            }
        }
        // 30 layers in f32 with different summation orders: measured ~1.3e-4 for both paths (kernel and BLAS).
        print("SmolLM2 greedy log-prob vs teacher forcing, max |diff|: kernel path \(worst.0), BLAS path \(worst.1)")
        XCTAssertLessThan(worst.0, 3e-4)
        XCTAssertLessThan(worst.1, 3e-4)
    }
}
