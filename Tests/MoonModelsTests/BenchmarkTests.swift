import Foundation
import XCTest
import MoonTensor
@testable import MoonModels

/// Throughput benchmarks (run by scripts/bench-model with MOONLAB_BENCH=1 in a release build; skipped otherwise).
/// Prints lines `BENCH <name> <value>` that the script parses.
func median(_ v: [Double]) -> Double {
    let s = v.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

final class BenchmarkTests: XCTestCase {
    var enabled: Bool { ProcessInfo.processInfo.environment["MOONLAB_BENCH"] == "1" }
    var env: [String: String] { ProcessInfo.processInfo.environment }

    func benchConfig() -> LlamaConfig {
        var c = LlamaConfig()
        c.vocabSize = 260; c.hiddenSize = 128; c.numHiddenLayers = 4; c.numAttentionHeads = 4; c.numKeyValueHeads = 4
        c.intermediateSize = 344
        return c
    }

    func testBenchTrainStep() throws {
        guard enabled else { throw XCTSkip("set MOONLAB_BENCH=1") }
        setNumThreads(Int(env["MOONLAB_THREADS"] ?? "2") ?? 2)
        if let g = env["MOONLAB_GRAIN"], let v = Int(g) { Parallel.grainSize = v }
        let batch = 16, seq = 128, steps = Int(env["MOONLAB_BENCH_STEPS"] ?? "8") ?? 8
        let dec = try LlamaDecoder(benchConfig(), generator: Generator(seed: 0))
        let opt = try AdamW(dec.trainableParameters(), lr: 1e-3)
        let ids = try Tensor.randint(0, 260, [batch, seq], generator: Generator(seed: 1))
        // Fused path (hand-written forward/backward): what SFT / LM training uses.
        func fusedStep() throws -> Float {
            opt.zeroGrad()
            let loss = try dec.lmLossBackward(ids)
            try opt.step()
            return loss
        }
        // Autograd path: the graph of the layers (the reference the fused pass is tested against).
        func autogradStep() throws -> Float {
            opt.zeroGrad()
            let loss = try dec.lmLoss(ids, fused: false)
            try loss.backward()
            try opt.step()
            return try loss.item()
        }
        var last: Float = 0
        if env["MOONLAB_BENCH_SKIP_FUSED"] != "1" {
            _ = try fusedStep(); _ = try fusedStep()
            var times: [Double] = []
            for _ in 0..<steps { let t0 = Date(); last = try fusedStep(); times.append(Date().timeIntervalSince(t0)) }
            let med = median(times)
            print("BENCH train_tokens_per_s \(Double(batch * seq) / med)")
            print("BENCH train_step_ms \(med * 1000) (fused; median of \(steps); min \(times.min()! * 1000); loss \(last))")
        }
        _ = try autogradStep()
        var atimes: [Double] = []
        for _ in 0..<steps { let t0 = Date(); last = try autogradStep(); atimes.append(Date().timeIntervalSince(t0)) }
        print("BENCH train_autograd_tokens_per_s \(Double(batch * seq) / median(atimes))")
        print("BENCH train_autograd_step_ms \(median(atimes) * 1000) (median of \(steps); min \(atimes.min()! * 1000))")
        // Split: forward only, forward+backward.
        let f0 = Date()
        for _ in 0..<steps { _ = try Tensor.noGrad { try dec.lmLoss(ids) } }
        print("BENCH forward_nograd_ms \(Date().timeIntervalSince(f0) / Double(steps) * 1000)")
        let b0 = Date()
        for _ in 0..<steps { opt.zeroGrad(); try dec.lmLoss(ids).backward() }
        print("BENCH forward_backward_ms \(Date().timeIntervalSince(b0) / Double(steps) * 1000)")
    }

    func testBenchGenerate() throws {
        guard enabled else { throw XCTSkip("set MOONLAB_BENCH=1") }
        setNumThreads(Int(env["MOONLAB_THREADS"] ?? "2") ?? 2)
        let batch = 16, prompt = 32, newTokens = 64, reps = Int(env["MOONLAB_BENCH_REPS"] ?? "5") ?? 5
        let dec = try LlamaDecoder(benchConfig(), generator: Generator(seed: 0))
        let g = Generator(seed: 2)
        let prompts = (0..<batch).map { _ in (0..<prompt).map { _ in g.nextInt(0, 256) } }
        var o = GenerateOptions()
        o.maxNewTokens = newTokens; o.temperature = 1; o.stopAtEos = false
        _ = try dec.generate(prompts: prompts, options: o, generator: g)
        var times: [Double] = []
        for _ in 0..<reps {
            let t0 = Date()
            let n = try dec.generate(prompts: prompts, options: o, generator: g).generatedTokenCount
            XCTAssertEqual(n, batch * newTokens)
            times.append(Date().timeIntervalSince(t0))
        }
        let med = median(times)
        print("BENCH generate_tokens_per_s \(Double(batch * newTokens) / med)")
        print("BENCH generate_call_ms \(med * 1000) (median of \(reps); min \(times.min()! * 1000))")
        // The full VLM policy (default config: 16 visual tokens + prompt), same batch and lengths.
        let p = try VLMPolicy(VLMConfig())
        let im = try Tensor.rand([batch, 3, 64, 64], generator: g)
        let texts = (0..<batch).map { i in "Target: \(i % 5). Current: \((i + 2) % 5). Answer in JSON." }
        _ = try p.generate(images: im, prompts: texts, options: o, generator: g)
        var ptimes: [Double] = []
        for _ in 0..<reps {
            let t0 = Date()
            _ = try p.generate(images: im, prompts: texts, options: o, generator: g)
            ptimes.append(Date().timeIntervalSince(t0))
        }
        print("BENCH policy_generate_tokens_per_s \(Double(batch * newTokens) / median(ptimes))")
    }
}

/// The BLAS floor of one training step: just the GEMMs of forward + backward of the bench model (no attention
/// scores), timed with the configured threads. Tells how much of a step is matrix multiplication at all.
final class BenchmarkGemmFloorTests: XCTestCase {
    func testBenchGemmFloor() throws {
        guard ProcessInfo.processInfo.environment["MOONLAB_BENCH"] == "1" else { throw XCTSkip("set MOONLAB_BENCH=1") }
        setNumThreads(Int(ProcessInfo.processInfo.environment["MOONLAB_THREADS"] ?? "2") ?? 2)
        let n = 2048
        // (out, in) of each projection per layer, then the lm head.
        var shapes: [(Int, Int)] = []
        for _ in 0..<4 { shapes += [(128, 128), (128, 128), (128, 128), (128, 128), (344, 128), (344, 128), (128, 344)] }
        shapes.append((260, 128))
        let maxDim = 344
        let x = UnsafeMutablePointer<Float>.allocate(capacity: n * maxDim); x.initialize(repeating: 0.01, count: n * maxDim)
        let y = UnsafeMutablePointer<Float>.allocate(capacity: n * maxDim); y.initialize(repeating: 0.01, count: n * maxDim)
        let w = UnsafeMutablePointer<Float>.allocate(capacity: maxDim * maxDim); w.initialize(repeating: 0.01, count: maxDim * maxDim)
        let gw = UnsafeMutablePointer<Float>.allocate(capacity: maxDim * maxDim)
        defer { x.deallocate(); y.deallocate(); w.deallocate(); gw.deallocate() }
        var times: [Double] = []
        for _ in 0..<8 {
            let t0 = Date()
            for (o, i) in shapes {
                gemmNT(n, o, i, x, i, w, i, y, o)          // forward  y = x Wᵀ
                gemmNN(n, i, o, y, o, w, i, x, i)          // backward dX = dY W
                cblas_sgemm_tn(o, i, n, y, o, x, i, gw, i) // backward dW = dYᵀ X
            }
            times.append(Date().timeIntervalSince(t0))
        }
        print("BENCH gemm_floor_ms \(median(times) * 1000) (min \(times.min()! * 1000))")
    }
}

import CBLAS
func cblas_sgemm_tn(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
                    _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb), 0, c, Int32(ldc))
}
