import Foundation
import XCTest
import MoonTensor
@testable import MoonModels

final class LlamaParityTests: XCTestCase {
    func testMatchesTransformersLogits() throws {
        let dec = try LlamaDecoder.loadHF(directory: Fixture.llamaDir)
        XCTAssertEqual(dec.config.numKeyValueHeads, 2)
        XCTAssertEqual(dec.config.numAttentionHeads, 4)
        let ref = Fixture.json(Fixture.llamaDir + "/logits.json")
        let ids = (ref["input_ids"] as! [[Int]])
        let b = ids.count, t = ids[0].count
        let logits = try Tensor.noGrad { try dec(Tensor.fromInts(ids.flatMap { $0 }, [b, t])) }
        XCTAssertEqual(logits.shape, [b, t, 64])
        let err = maxRelErr(logits.toArray(), flatFloats(ref["logits"]!))
        XCTAssertLessThan(err, 1e-4, "max relative error \(err)")
        print("HF parity: max relative logit error \(err)")

        // Left-padded batch with transformers' attention mask: compare the non-pad positions.
        let pids = ref["padded_input_ids"] as! [[Int]]
        let mask = (ref["padded_attention_mask"] as! [[Int]]).map { $0.map { $0 == 1 } }
        let pl = try Tensor.noGrad { try dec(Tensor.fromInts(pids.flatMap { $0 }, [b, t]), valid: mask) }.toArray()
        let want = flatFloats(ref["padded_logits"]!)
        var g: [Float] = [], w: [Float] = []
        for r in 0..<b { for j in 0..<t where mask[r][j] { for v in 0..<64 { let i = (r * t + j) * 64 + v; g.append(pl[i]); w.append(want[i]) } } }
        let perr = maxRelErr(g, w)
        XCTAssertLessThan(perr, 1e-4, "padded: max relative error \(perr)")
        print("HF parity (left-padded batch): max relative logit error \(perr)")
    }

    func testSaveHFRoundTripAndWritesInputsForPythonCheck() throws {
        let dec = try LlamaDecoder.loadHF(directory: Fixture.llamaDir)
        let dir = tmpPath("hf-roundtrip")
        try dec.saveHF(directory: dir)
        let back = try LlamaDecoder.loadHF(directory: dir)
        XCTAssertEqual(back.config, dec.config)
        for ((n1, a), (n2, b)) in zip(dec.namedParameters(), back.namedParameters()) {
            XCTAssertEqual(n1, n2); XCTAssertEqual(a.toArray(), b.toArray(), n1)
        }
    }

    /// Writes a moonlab-initialised decoder (GQA, tied embeddings) with inputs and logits for
    /// `scripts/make_llama_fixture.py check DIR` when MOONLAB_HF_EXPORT=DIR is set.
    func testExportForTransformers() throws {
        guard let dir = ProcessInfo.processInfo.environment["MOONLAB_HF_EXPORT"] else { throw XCTSkip("MOONLAB_HF_EXPORT not set") }
        var c = tinyLlamaConfig(vocab: 50, hidden: 24, layers: 3, heads: 6, kvHeads: 3, inter: 40)
        c.tieWordEmbeddings = true
        c.ropeTheta = 500
        c.rmsNormEps = 1e-5
        let dec = try LlamaDecoder(c, generator: Generator(seed: 99))
        try dec.saveHF(directory: dir)
        let ids = (0..<2).map { r in (0..<9).map { (r * 7 + $0 * 5) % 50 } }
        let logits = try Tensor.noGrad { try dec(Tensor.fromInts(ids.flatMap { $0 }, [2, 9])) }
        let l = logits.toArray()
        let nested = (0..<2).map { r in (0..<9).map { j in Array(l[((r * 9 + j) * 50)..<((r * 9 + j + 1) * 50)]).map { Double($0) } } }
        try JSONSerialization.data(withJSONObject: ["input_ids": ids]).write(to: URL(fileURLWithPath: dir + "/inputs.json"))
        try JSONSerialization.data(withJSONObject: ["logits": nested]).write(to: URL(fileURLWithPath: dir + "/moonlab_logits.json"))
    }
}
