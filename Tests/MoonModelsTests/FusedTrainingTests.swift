import Foundation
import XCTest
import MoonTensor
@testable import MoonModels

final class FusedTrainingTests: XCTestCase {
    func compare(_ dec: LlamaDecoder, _ ids: Tensor, file: StaticString = #filePath, line: UInt = #line) throws {
        zeroGrad(dec.parameters())
        let ref = try dec.lmLoss(ids)
        try ref.backward()
        let want = Dictionary(uniqueKeysWithValues: dec.namedParameters().map { ($0.0, $0.1.grad!.toArray()) })
        zeroGrad(dec.parameters())
        let loss = try dec.lmLossBackward(ids)
        XCTAssertEqual(loss, try ref.item(), accuracy: 1e-5, file: file, line: line)
        for (n, p) in dec.namedParameters() {
            let got = p.grad!.toArray(), w = want[n]!
            let scale = max(w.map(abs).max()!, 1e-6)
            XCTAssertLessThan(maxAbsDiff(got, w) / scale, 1e-4, n, file: file, line: line)
        }
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

    func testLossMaskAndLoRARefused() throws {
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
        let p = try VLMPolicy(tinyVLMConfig())
        try p.enableLoRA(LoRAConfig(rank: 2))
        XCTAssertThrowsError(try p.decoder.lmLossBackward(Tensor.fromInts([1, 2, 3], [1, 3]))) { XCTAssertTrue("\($0)".contains("LoRA")) }
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
        let ref = try p.sftLoss(images: im, prompts: prompts, responses: responses, targetMask: mask)
        try ref.backward()
        let want = Dictionary(uniqueKeysWithValues: p.namedParameters().map { ($0.0, $0.1.grad?.toArray()) })
        zeroGrad(p.parameters())
        let l = try p.sftLossBackward(images: im, prompts: prompts, responses: responses, targetMask: mask)
        XCTAssertEqual(l, try ref.item(), accuracy: 1e-5)
        for (n, t) in p.namedParameters() where !n.hasPrefix("value_head") {
            guard let w = want[n]!, let got = t.grad?.toArray() else { XCTFail("no gradient for \(n)"); continue }
            let scale = max(w.map(abs).max()!, 1e-6)
            XCTAssertLessThan(maxAbsDiff(got, w) / scale, 1e-4, n)
        }
        // LoRA falls back to autograd.
        try p.enableLoRA(LoRAConfig(rank: 2))
        zeroGrad(p.parameters())
        XCTAssertNoThrow(try p.sftLossBackward(images: im, prompts: prompts, responses: responses))
        XCTAssertNotNil(LoRA.adapterParameters(p).first!.1.grad)
    }
}
