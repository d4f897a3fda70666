import Foundation
import XCTest
@testable import MoonCheckpoint
@testable import MoonModels
import MoonTensor

final class GGUFLlamaTests: XCTestCase {
    /// The tiny Llama written the way llama.cpp converts (q/k permuted, Q8_0/F16/F32 tensors) loads to the weights and
    /// logits transformers gets from the same file.
    func testTinyLlamaMatchesTransformers() throws {
        let f = try GGUFFile(path: fixture("tiny_llama.gguf"))
        let tok = try TokenizerMetadata.fromGGUF(f.metadata, path: f.path)
        XCTAssertEqual(tok?.model, "gpt2")
        XCTAssertEqual(tok?.pre, "smollm")
        XCTAssertEqual(tok?.tokens.count, 96)
        XCTAssertEqual(tok?.eosId, 95)
        XCTAssertEqual(tok?.merges.first, "t h")
        let dec = try GGUFLlama.loadDecoder(f, tokenizer: tok)
        XCTAssertEqual(dec.config.numKeyValueHeads, 2)
        XCTAssertFalse(dec.config.tieWordEmbeddings)
        let ref = try SafeTensors.open(fixture("tiny_llama_expected.safetensors"))
        for (name, p) in dec.namedParameters() {
            let want = try ref.floats("hf." + name)
            let got = p.toArray()
            XCTAssertEqual(got.count, want.count, name)
            let worst = zip(got, want).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(worst, 1e-6, name)
        }
        let ids = try ref.ints("ids").map(Int.init)
        let logits = try Tensor.noGrad { try dec(Tensor.fromInts(ids, [1, ids.count])) }.toArray()
        let want = try ref.floats("logits")
        let worst = zip(logits, want).map { abs($0 - $1) }.max()!
        XCTAssertLessThan(worst, 1e-4)
    }

    func testPermutationRoundTrip() {
        var w = (0..<(3 * 8 * 5)).map(Float.init)
        let orig = w
        w.withUnsafeMutableBufferPointer { GGUFLlama.permuteRows($0.baseAddress!, heads: 3, headDim: 8, cols: 5) }
        XCTAssertNotEqual(w, orig)
        // Row 1 of head 0 in GGUF order is transformers row 4 (i = 0, second half).
        XCTAssertEqual(Array(w[5..<10]), Array(orig[20..<25]))
        w.withUnsafeMutableBufferPointer { GGUFLlama.unpermuteRows($0.baseAddress!, heads: 3, headDim: 8, cols: 5) }
        XCTAssertEqual(w, orig)
    }

    func testNameMapsAreInverse() {
        for g in ["token_embd.weight", "output.weight", "output_norm.weight", "blk.12.attn_q.weight", "blk.0.attn_k.bias",
                  "blk.3.ffn_down.weight", "blk.7.ffn_norm.weight", "blk.1.attn_output.weight"] {
            XCTAssertEqual(GGUFLlama.ggufName(GGUFLlama.hfName(g)!), g)
        }
        XCTAssertNil(GGUFLlama.hfName("blk.x.attn_q.weight"))
        XCTAssertNil(GGUFLlama.hfName("rope_freqs.weight"))
    }
}
