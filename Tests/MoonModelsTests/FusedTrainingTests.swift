import Foundation
import XCTest
import MoonTensor
@testable import MoonModels

/// Runs `body` with the fused pass switched on or off (the reference is the autograd graph of the layers).
func withFused<R>(_ on: Bool, share: Bool = true, _ body: () throws -> R) rethrows -> R {
    let was = FusedScoring.enabled, wasShare = FusedScoring.sharePrefix
    FusedScoring.enabled = on; FusedScoring.sharePrefix = share
    defer { FusedScoring.enabled = was; FusedScoring.sharePrefix = wasShare }
    return try body()
}

/// Fills every parameter whose name matches with N(0, std²) values (LoRA B and biases start at zero, which would hide
/// errors in the gradients that flow through them).
func randomize(_ m: Module, _ pattern: String, std: Float, seed: UInt64) {
    let g = Generator(seed: seed)
    Tensor.noGrad {
        for (n, p) in m.namedParameters() where n.range(of: pattern, options: .regularExpression) != nil {
            let r = try! Tensor.randn(p.shape, mean: 0, std: std, generator: g)
            p.mPtr.update(from: r.mPtr, count: p.count)
        }
    }
}

func gradients(_ m: Module) -> [String: [Float]] {
    Dictionary(uniqueKeysWithValues: m.namedParameters().compactMap { n, p in p.grad.map { (n, $0.toArray()) } })
}

func assertSameGradients(_ got: [String: [Float]], _ want: [String: [Float]], tol: Float = 1e-4,
                         file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(Set(got.keys), Set(want.keys), "parameters with a gradient", file: file, line: line)
    for (n, w) in want {
        guard let g = got[n] else { continue }
        let scale = max(w.map(abs).max()!, 1e-6)
        XCTAssertLessThan(maxAbsDiff(g, w) / scale, tol, n, file: file, line: line)
    }
}

final class FusedTrainingTests: XCTestCase {
    func compare(_ dec: LlamaDecoder, _ ids: Tensor, file: StaticString = #filePath, line: UInt = #line) throws {
        zeroGrad(dec.parameters())
        let ref = try dec.lmLoss(ids, fused: false)
        try ref.backward()
        let want = gradients(dec)
        zeroGrad(dec.parameters())
        let loss = try dec.lmLossBackward(ids)
        XCTAssertEqual(loss, try ref.item(), accuracy: 1e-5, file: file, line: line)
        assertSameGradients(gradients(dec), want, file: file, line: line)
        // Accumulates like backward().
        try dec.lmLossBackward(ids)
        let twice = dec.model.norm.weight.grad!.toArray()
        XCTAssertLessThan(maxAbsDiff(twice, want["model.norm.weight"]!.map { 2 * $0 }), 1e-4, file: file, line: line)
        dec.releaseTrainingWorkspace()
        XCTAssertNoThrow(try dec.lmLossBackward(ids), file: file, line: line)
    }

    func testFusedGradientsMatchAutogradGQA() throws {
        let dec = try LlamaDecoder.loadHF(directory: Fixture.llamaDir)
        let ids = try Tensor.randint(0, 64, [3, 9], generator: Generator(seed: 4))
        try compare(dec, ids)
    }

    func testFusedGradientsMatchAutogradTied() throws {
        var c = tinyLlamaConfig(vocab: 30, hidden: 16, layers: 2, heads: 2, kvHeads: 2, inter: 20)
        c.tieWordEmbeddings = true
        let dec = try LlamaDecoder(c, generator: Generator(seed: 5))
        try compare(dec, try Tensor.randint(0, 30, [2, 7], generator: Generator(seed: 6)))
    }

    func testFusedGradientsWithBiasesAndSharedPrefix() throws {
        var c = tinyLlamaConfig(vocab: 50, hidden: 24, layers: 2, heads: 6, kvHeads: 2, inter: 20)
        c.attentionBias = true
        let dec = try LlamaDecoder(c, generator: Generator(seed: 7))
        randomize(dec, "bias$", std: 0.3, seed: 8)
        // Rows sharing their first 5 tokens: the prefix is computed once and its gradient gathered from every row.
        var rows = try Tensor.randint(0, 50, [3, 11], generator: Generator(seed: 9)).toIntArray()
        for r in 1..<3 { for j in 0..<5 { rows[r * 11 + j] = rows[j] } }
        try compare(dec, Tensor.fromInts(rows, [3, 11]))
        // Rows longer than an attention block (causal blocks of 64 query rows), sharing 70 tokens.
        var long = try Tensor.randint(0, 50, [2, 150], generator: Generator(seed: 10)).toIntArray()
        for j in 0..<70 { long[150 + j] = long[j] }
        try compare(dec, Tensor.fromInts(long, [2, 150]))
        // Blocks that split the rows unevenly (the last one partial) and the prefix across several blocks.
        let block = FusedDecoderPass.attentionBlock
        FusedDecoderPass.attentionBlock = 7
        defer { FusedDecoderPass.attentionBlock = block }
        try compare(dec, Tensor.fromInts(rows, [3, 11]))
        try compare(dec, Tensor.fromInts(long, [2, 150]))
    }

    /// LoRA on every projection with many more rows than features: the fused pass applies the adapters through
    /// merged weights W + s·B·A (forward and input gradients); its LoRA gradients match autograd's.
    func testMergedAdapterWeightsMatchAutograd() throws {
        var c = tinyLlamaConfig(vocab: 50, hidden: 24, layers: 2, heads: 6, kvHeads: 2, inter: 20)
        c.attentionBias = true
        let dec = try LlamaDecoder(c, generator: Generator(seed: 7))
        try LoRA.apply(to: dec, config: LoRAConfig(rank: 3, targets: ["(q|k|v|o|gate|up|down)_proj$"], trainable: []))
        randomize(dec, "lora_B", std: 0.3, seed: 3)
        let ids = try Tensor.randint(0, 50, [2, 60], generator: Generator(seed: 12))
        zeroGrad(dec.parameters())
        let ref = try dec.lmLoss(ids, fused: false)
        try ref.backward()
        let want = gradients(dec)
        XCTAssertEqual(want.count, 2 * 7 * 2, "A and B of 7 projections in 2 layers")
        zeroGrad(dec.parameters())
        let loss = try dec.lmLossBackward(ids)
        XCTAssertEqual(loss, try ref.item(), accuracy: 1e-5)
        assertSameGradients(gradients(dec), want)
    }

    func testLossMaskAndLoRA() throws {
        let dec = try LlamaDecoder.loadHF(directory: Fixture.llamaDir)
        let ids = try Tensor.randint(0, 64, [2, 6], generator: Generator(seed: 4))
        let mask = [[false, false, false, true, true, true], [false, true, true, true, true, false]]
        zeroGrad(dec.parameters())
        let l = try dec.lmLossBackward(ids, lossMask: mask)
        // Reference: masked mean cross-entropy through autograd.
        let logits = try dec(ids).narrow(dim: 1, start: 0, length: 5).reshape([10, 64])
        var targets = try ids.narrow(dim: 1, start: 1, length: 5).contiguous().toIntArray()
        for b in 0..<2 { for j in 0..<5 where !mask[b][j + 1] { targets[b * 5 + j] = -100 } }
        let ref = try Tensor.crossEntropy(logits, Tensor.fromInts(targets, [10]))
        XCTAssertEqual(l, try ref.item(), accuracy: 1e-5)
        // LoRA on attention and MLP, base frozen: only the adapters get gradients, as with autograd.
        try LoRA.apply(to: dec, config: LoRAConfig(rank: 3, targets: ["(q|k|v|o|gate|up|down)_proj$"], trainable: []))
        randomize(dec, "lora_B", std: 0.2, seed: 3)
        zeroGrad(dec.parameters())
        try dec.lmLoss(ids, lossMask: mask, fused: false).backward()
        let want = gradients(dec)
        XCTAssertFalse(want.isEmpty)
        XCTAssertTrue(want.keys.allSatisfy { $0.contains("lora_") })
        zeroGrad(dec.parameters())
        try dec.lmLossBackward(ids, lossMask: mask)
        assertSameGradients(gradients(dec), want)
    }

    /// Policy scoring with every output in the loss (log-probs, entropies, values): the gradients of the LoRA
    /// adapters, the value head, q/k/v biases and (through the visual tokens) the vision encoder and projector match
    /// the autograd path.
    func testPolicyScoreMatchesAutograd() throws {
        var c = tinyVLMConfig(seed: 21)
        c.decoder.numAttentionHeads = 6; c.decoder.numKeyValueHeads = 2; c.decoder.hiddenSize = 24
        c.decoder.attentionBias = true
        let p = try VLMPolicy(c)
        randomize(p, "bias$", std: 0.2, seed: 2)
        try p.enableLoRA(LoRAConfig(rank: 2, targets: ["^model\\.layers\\.[0-9]+\\.(self_attn|mlp)\\.[a-z]+_proj$"],
                                    trainable: ["^value_head\\.", "^vision\\.", "^projector\\.", "q_proj\\.bias"]))
        randomize(p, "lora_B", std: 0.2, seed: 3)
        let im = images(3, seed: 4)
        let prompts = ["go", "a longer prompt", "x"]
        let responses = [[104, 105, 257], [34, 97, 58, 49, 50, 257], [120]]
        let w1 = try Tensor.randn([3, 6], generator: Generator(seed: 5))
        let w2 = try Tensor.randn([3, 6], generator: Generator(seed: 6))
        let w3 = try Tensor.randn([3], generator: Generator(seed: 7))
        func run(_ fused: Bool, temperature: Float) throws -> (Float, [String: [Float]], [Float]) {
            zeroGrad(p.parameters())
            let s = try withFused(fused) { try p.score(images: im, prompts: prompts, responses: responses, temperature: temperature) }
            let loss = try s.logProbs.mul(w1).sum().add(s.entropies.mul(w2).sum()).add(s.values.mul(w3).sum())
            try loss.backward()
            return (try loss.item(), gradients(p), s.logProbs.toArray() + s.entropies.toArray() + s.values.toArray())
        }
        let budget = FusedScoring.logitsBudget
        defer { FusedScoring.logitsBudget = budget }
        for (temperature, keepLogits) in [(Float(1), true), (0.7, true), (1, false)] {
            FusedScoring.logitsBudget = keepLogits ? 1 << 30 : 0  // logits kept for backward, or recomputed there
            let (lr, gr, or) = try run(false, temperature: temperature)
            let (lf, gf, of) = try run(true, temperature: temperature)
            XCTAssertEqual(lf, lr, accuracy: 1e-4 * max(1, abs(lr)))
            XCTAssertLessThan(maxAbsDiff(of, or), 1e-4)
            XCTAssertTrue(gf.keys.contains { $0.hasPrefix("vision.") })
            XCTAssertNotNil(gf["value_head.weight"])
            XCTAssertNotNil(gf["model.layers.0.self_attn.q_proj.bias"])
            assertSameGradients(gf, gr)
        }
        // A loss without the values leaves the value head without a gradient, as autograd does.
        zeroGrad(p.parameters())
        try withFused(true) { try p.score(images: im, prompts: prompts, responses: responses).logProbs.sum().backward() }
        XCTAssertNil(p.valueHead.weight.grad)
    }

    /// Text-only rows with a common prompt prefix: computed once (with its gradient gathered from every row), the
    /// result equals both the unshared fused pass and autograd.
    func testSharedPrefixMatchesAutograd() throws {
        var c = tinyVLMConfig(seed: 31)
        c.textOnly = true
        let p = try VLMPolicy(c)
        try p.enableLoRA(LoRAConfig(rank: 2, targets: ["(q|v|down)_proj$"]))
        randomize(p, "lora_B", std: 0.2, seed: 3)
        let prompts = ["You are playing. State: 12", "You are playing. State: 3", "You are playing. State: 12"]
        let responses = [[104, 105, 257], [34, 97, 58, 49, 50, 257], [104, 99]]
        let ids = try prompts.map { try p.encodePrompt($0) }
        let (_, layout) = try p.embeddings(images: nil, promptIds: ids, responses: responses)
        XCTAssertEqual(layout.common, 1 + "You are playing. State: ".utf8.count)
        let w = try Tensor.randn([3, 6], generator: Generator(seed: 5))
        var results: [[String: [Float]]] = []
        for (fused, share) in [(false, false), (true, false), (true, true)] {
            zeroGrad(p.parameters())
            let s = try withFused(fused, share: share) { try p.score(images: nil, promptIds: ids, responses: responses) }
            try s.logProbs.mul(w).sum().add(s.values.sum()).backward()
            results.append(gradients(p))
        }
        assertSameGradients(results[1], results[0])
        assertSameGradients(results[2], results[0])
    }

    /// Finite differences of the fused loss against its gradient on a tiny decoder (LoRA A and B, value head).
    func testFiniteDifferences() throws {
        var c = tinyVLMConfig(seed: 41)
        c.textOnly = true
        c.decoder.hiddenSize = 8; c.decoder.numAttentionHeads = 2; c.decoder.numKeyValueHeads = 1; c.decoder.intermediateSize = 12
        c.decoder.numHiddenLayers = 1
        let p = try VLMPolicy(c)
        try p.enableLoRA(LoRAConfig(rank: 2, targets: ["(q|k|o|up)_proj$"]))
        randomize(p, "lora_B", std: 0.5, seed: 3)
        let prompts = ["ab", "abc"]
        let responses = [[104, 105], [34, 97, 58]]
        let w = try Tensor.randn([2, 3], generator: Generator(seed: 5))
        func loss() throws -> Tensor {
            let s = try withFused(true) { try p.score(images: nil, prompts: prompts, responses: responses) }
            return try s.logProbs.mul(w).sum().add(s.entropies.sum().mul(0.3)).add(s.values.sum())
        }
        zeroGrad(p.parameters())
        try loss().backward()
        let checked = ["model.layers.0.self_attn.q_proj.lora_A.weight", "model.layers.0.self_attn.k_proj.lora_B.weight",
                       "model.layers.0.mlp.up_proj.lora_A.weight", "model.layers.0.self_attn.o_proj.lora_B.weight", "value_head.weight"]
        let params = Dictionary(uniqueKeysWithValues: p.namedParameters())
        for name in checked {
            let t = params[name]!, g = t.grad!.toArray()
            for i in [0, t.count / 2, t.count - 1] {
                let eps: Float = 3e-3, old = t.mPtr[i]
                t.mPtr[i] = old + eps
                let up = try Tensor.noGrad { try loss().item() }
                t.mPtr[i] = old - eps
                let down = try Tensor.noGrad { try loss().item() }
                t.mPtr[i] = old
                let fd = (up - down) / (2 * eps)
                XCTAssertEqual(g[i], fd, accuracy: 2e-3 + 1e-2 * abs(fd), "\(name)[\(i)]")
            }
        }
    }
}

final class SFTTests: XCTestCase {
    func testFusedSFTMatchesAutogradSFT() throws {
        let p = try VLMPolicy(tinyVLMConfig(seed: 12))
        let im = images(3, seed: 4)
        let prompts = ["go", "a longer prompt", "x"]
        let responses = [[104, 105, 257], [34, 97, 58, 49, 50, 257], [120]]
        let mask = [[true, true, false], [true, false, true, true, true, true], [true]]
        zeroGrad(p.parameters())
        let ref = try withFused(false) { try p.sftLoss(images: im, prompts: prompts, responses: responses, targetMask: mask) }
        try ref.backward()
        let want = gradients(p)
        zeroGrad(p.parameters())
        let l = try p.sftLossBackward(images: im, prompts: prompts, responses: responses, targetMask: mask)
        XCTAssertEqual(l, try ref.item(), accuracy: 1e-5)
        assertSameGradients(gradients(p), want)
        XCTAssertNil(p.valueHead.weight.grad)
        // With LoRA adapters too.
        try p.enableLoRA(LoRAConfig(rank: 2))
        randomize(p, "lora_B", std: 0.2, seed: 3)
        zeroGrad(p.parameters())
        try withFused(false) { try p.sftLoss(images: im, prompts: prompts, responses: responses).backward() }
        let wantLoRA = gradients(p)
        zeroGrad(p.parameters())
        try p.sftLossBackward(images: im, prompts: prompts, responses: responses)
        assertSameGradients(gradients(p), wantLoRA)
        XCTAssertNotNil(LoRA.adapterParameters(p).first!.1.grad)
    }
}
