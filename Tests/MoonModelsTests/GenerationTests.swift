import Foundation
import XCTest
import MoonTensor
@testable import MoonModels

final class GenerationTests: XCTestCase {
    func fixtureDecoder() throws -> LlamaDecoder { try LlamaDecoder.loadHF(directory: Fixture.llamaDir) }

    /// Logits of the last position after prefill + one-token steps equal a full recompute of the sequence.
    func testKVCacheMatchesFullRecompute() throws {
        let dec = try fixtureDecoder()
        let seqs = [[5, 9, 11, 3, 40, 41, 7, 8, 20, 33], [60, 2, 4, 4, 9, 10, 11, 12, 13, 14]]
        let s = try InferenceSession(decoder: dec, batch: 2, capacity: 16)
        var h = try s.append(ids: seqs.map { Array($0[0..<4]) })
        for j in 4..<10 {
            h = try s.append(ids: seqs.map { [$0[j]] })
            let cached = try s.logits(hidden: h, at: [(0, 0), (1, 0)]).toArray()
            let full = try Tensor.noGrad { try dec(Tensor.fromInts(seqs.flatMap { Array($0[0...j]) }, [2, j + 1])) }
            let fl = full.toArray()
            var want: [Float] = []
            for b in 0..<2 {
                let start: Int = (b * (j + 1) + j) * 64
                want += fl[start..<(start + 64)]
            }
            XCTAssertLessThan(maxRelErr(cached, want), 1e-5, "step \(j)")
        }
        XCTAssertEqual(s.length, 10)
        XCTAssertThrowsError(try s.logits(hidden: h, at: [(2, 0)]))
        XCTAssertThrowsError(try s.append(ids: [[1, 2, 3, 4, 5, 6, 7]]))
        XCTAssertThrowsError(try dec.lmLoss(Tensor.fromInts([1, 2, 3], [3])))
    }

    func testGreedyDeterministicAndPaddingInvariant() throws {
        let dec = try fixtureDecoder()
        var o = GenerateOptions()
        o.greedy = true; o.maxNewTokens = 8; o.stopAtEos = false
        let prompts = [[5, 9, 11], [7, 8, 20, 33, 40, 41, 1], [12]]
        let a = try dec.generate(prompts: prompts, options: o)
        let b = try dec.generate(prompts: prompts, options: o)
        XCTAssertEqual(a.tokens, b.tokens)
        XCTAssertEqual(a.logProbs, b.logProbs)
        o.padding = .right
        let r = try dec.generate(prompts: prompts, options: o)
        XCTAssertEqual(a.tokens, r.tokens)
        for i in 0..<3 {
            let alone = try dec.generate(prompts: [prompts[i]], options: o)
            XCTAssertEqual(alone.tokens[0], a.tokens[i], "row \(i)")
            XCTAssertLessThan(maxAbsDiff(alone.logProbs[0], a.logProbs[i]), 1e-4)
            XCTAssertLessThan(maxAbsDiff(r.logProbs[i], a.logProbs[i]), 1e-4)
        }
    }

    /// Sampled tokens: the generation log-probs equal teacher-forced log-probs of the full (autograd) forward.
    func testSampledLogProbsMatchTeacherForcing() throws {
        let dec = try fixtureDecoder()
        var o = GenerateOptions()
        o.temperature = 1.3; o.topK = 20; o.topP = 0.9; o.maxNewTokens = 7; o.stopAtEos = false
        let prompts = [[5, 9, 11], [7, 8, 20, 33, 40]]
        let g = try dec.generate(prompts: prompts, options: o, generator: Generator(seed: 3))
        let g2 = try dec.generate(prompts: prompts, options: o, generator: Generator(seed: 3))
        XCTAssertEqual(g.tokens, g2.tokens, "seeded sampling is reproducible")
        for b in 0..<2 {
            let seq = prompts[b] + g.tokens[b]
            let lg = try dec(Tensor.fromInts(seq, [1, seq.count])).logSoftmax(dim: -1).toArray()
            for (k, tok) in g.tokens[b].enumerated() {
                let pos = prompts[b].count - 1 + k
                let want = lg[pos * 64 + tok]
                XCTAssertEqual(g.logProbs[b][k], want, accuracy: 1e-4)
                var ent: Float = 0
                for v in 0..<64 { let l = lg[pos * 64 + v]; ent -= exp(l) * l }
                XCTAssertEqual(g.entropies[b][k], ent, accuracy: 1e-4)
            }
        }
    }

    func testStopStringsAndOptionsErrors() throws {
        let dec = try fixtureDecoder()
        var o = GenerateOptions()
        o.greedy = true; o.maxNewTokens = 12; o.stopAtEos = false
        let free = try dec.generate(prompts: [[5, 9, 11]], options: o)
        // Stop on the byte string made of generated tokens 2...3 (ids < 64 are bytes).
        let toks = free.tokens[0]
        o.stop = ["zzz", String(decoding: toks[2...3].map { UInt8($0) }, as: UTF8.self)]
        let stopped = try dec.generate(prompts: [[5, 9, 11]], options: o)
        XCTAssertEqual(stopped.finishReasons, ["stop"])
        XCTAssertLessThanOrEqual(stopped.tokens[0].count, 4)
        XCTAssertEqual(Array(toks.prefix(stopped.tokens[0].count)), stopped.tokens[0])
        o.eosId = toks[1]; o.stopAtEos = true; o.stop = []
        let e = try dec.generate(prompts: [[5, 9, 11]], options: o)
        XCTAssertEqual(e.finishReasons, ["eos"])
        XCTAssertEqual(e.tokens[0].last, toks[1])
        var bad = GenerateOptions(); bad.topP = 0
        XCTAssertThrowsError(try dec.generate(prompts: [[1]], options: bad)) { XCTAssertTrue("\($0)".contains("top_p")) }
        XCTAssertThrowsError(try dec.generate(prompts: [[100]])) { XCTAssertTrue("\($0)".contains("vocabulary")) }
    }
}

final class KernelTests: XCTestCase {
    func testFastExpAccuracy() {
        var worst: Float = 0
        var x: Float = -87
        while x < 88 {
            let want = Foundation.expf(x), got = fexp(x)
            worst = max(worst, abs(got - want) / want)
            x += 0.0137
        }
        XCTAssertLessThan(worst, 3e-7)
        XCTAssertEqual(fexp(-Float.infinity), 0)
        XCTAssertEqual(fexp(-200), 0)
        XCTAssertEqual(fexp(0), 1)
        XCTAssertEqual(fexp(Float.infinity), .infinity)
    }
}

final class SpinPoolTests: XCTestCase {
    func testEveryPartRunsExactlyOnce() {
        let pool = SpinPool(spinLimit: 200)
        let counts = UnsafeMutablePointer<Int>.allocate(capacity: 2)
        counts.initialize(repeating: 0, count: 2)
        defer { counts.deallocate() }
        for i in 0..<20_000 {
            pool.run { part in counts[part] += 1 }
            if i % 5000 == 0 { usleep(2000) }  // let the helper park and be woken
        }
        pool.shutdown()
        XCTAssertEqual(counts[0], 20_000)
        XCTAssertEqual(counts[1], 20_000)
    }
}

final class GenerationBatchTests: XCTestCase {
    /// Rows that stop early (stop string / eos) do not change the rows that keep generating.
    func testEarlyFinishedRowsDoNotDisturbOthers() throws {
        let dec = try LlamaDecoder.loadHF(directory: Fixture.llamaDir)
        var o = GenerateOptions(); o.greedy = true; o.maxNewTokens = 10; o.stopAtEos = false
        let prompts = [[5, 9, 11], [7, 8, 20, 33], [12, 13]]
        let free = try dec.generate(prompts: prompts, options: o)
        // Make row 0 stop after its 2nd token by using that token as eos.
        o.stopAtEos = true; o.eosId = free.tokens[0][1]
        let g = try dec.generate(prompts: prompts, options: o)
        XCTAssertEqual(g.finishReasons[0], "eos")
        XCTAssertEqual(g.tokens[0].count, 2)
        for i in 1..<3 {
            let alone = try dec.generate(prompts: [prompts[i]], options: o)
            XCTAssertEqual(g.tokens[i], alone.tokens[0], "row \(i)")
            XCTAssertLessThan(maxAbsDiff(g.logProbs[i], alone.logProbs[0]), 1e-4)
        }
    }
}
