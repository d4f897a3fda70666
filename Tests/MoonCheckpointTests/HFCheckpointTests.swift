import Foundation
import XCTest
@testable import MoonCheckpoint
@testable import MoonModels
import MoonTensor

/// Hugging Face directories made by scripts/make_hf_fixtures.py load to transformers' logits.
final class HFCheckpointTests: XCTestCase {
    func check(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> LanguageModel {
        let dir = fixture("hf/" + name)
        let lm = try LanguageModel.load(path: dir)
        let ref = try SafeTensors.open(dir + "/expected.safetensors")
        let ids = try ref.ints("ids").map(Int.init)
        let got = try Tensor.noGrad { try lm.decoder(Tensor.fromInts(ids, [1, ids.count])) }.toArray()
        let want = try ref.floats("logits")
        XCTAssertEqual(got.count, want.count, file: file, line: line)
        XCTAssertLessThan(zip(got, want).map { abs($0 - $1) }.max()!, 1e-4, name, file: file, line: line)
        return lm
    }

    func testLlamaFloat16() throws {
        let lm = try check("llama_f16")
        XCTAssertFalse(lm.config.tieWordEmbeddings)
        XCTAssertEqual(lm.config.numKeyValueHeads, 2)
    }

    func testLlamaTiedBFloat16Sharded() throws {
        XCTAssertEqual(try HFCheckpoint.weightFiles(directory: fixture("hf/llama_tied_bf16")).count, 2)
        XCTAssertTrue(try check("llama_tied_bf16").config.tieWordEmbeddings)
    }

    func testQwen2WithBiases() throws {
        let lm = try check("qwen2_f32")
        XCTAssertTrue(lm.config.attentionBias)
        XCTAssertNotNil(lm.decoder.model.layers.items[0].selfAttn.qProj.bias)
        XCTAssertNil(lm.decoder.model.layers.items[0].selfAttn.oProj.bias)
        // The KV-cache path adds the biases too.
        let ids = [3, 14, 15, 9, 2]
        let full = try Tensor.noGrad { try lm.decoder(Tensor.fromInts(ids, [1, ids.count])) }.toArray()
        let s = try InferenceSession(decoder: lm.decoder, batch: 1, capacity: 8)
        let h = try s.append(ids: [ids])
        let last = try s.logits(hidden: h, at: [(0, 4)]).toArray()
        XCTAssertLessThan(zip(last, full[(4 * 64)...]).map { abs($0 - $1) }.max()!, 1e-4)
        // Writing GGUF (qwen2: no permutation) and reading back gives the same logits.
        let p = NSTemporaryDirectory() + "qwen2-\(UUID().uuidString).gguf"
        defer { try? FileManager.default.removeItem(atPath: p) }
        try GGUFLlama.save(decoder: lm.decoder, tokenizer: TokenizerMetadata(model: "gpt2", tokens: (0..<64).map { "t\($0)" }), type: .f32, to: p)
        let back = try LanguageModel.load(path: p)
        XCTAssertEqual(back.config.modelType, "qwen2")
        let again = try Tensor.noGrad { try back.decoder(Tensor.fromInts(ids, [1, ids.count])) }.toArray()
        XCTAssertEqual(again, full)
    }

    func testUnsupportedConfigsNameTheField() throws {
        let src = fixture("hf/llama_f16")
        let base = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: src + "/config.json"))) as! [String: Any]
        let cases: [(String, Any, String)] = [("model_type", "gpt2", "model_type"), ("hidden_act", "gelu", "hidden_act"),
                                              ("rope_scaling", ["rope_type": "yarn", "factor": 4], "rope_scaling"),
                                              ("architectures", ["MixtralForCausalLM"], "architectures"),
                                              ("layer_types", ["sliding_attention", "full_attention"], "layer_types")]
        for (key, value, field) in cases {
            let dir = NSTemporaryDirectory() + "hf-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: dir) }
            try FileManager.default.copyItem(atPath: src + "/model.safetensors", toPath: dir + "/model.safetensors")
            var cfg = base
            cfg[key] = value
            try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: dir + "/config.json"))
            XCTAssertThrowsError(try LanguageModel.load(path: dir), key) { e in
                XCTAssertTrue("\(e)".contains(field), "\(e)")
            }
        }
        // Missing weights and a bad index.
        let dir = NSTemporaryDirectory() + "hf-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.copyItem(atPath: src + "/config.json", toPath: dir + "/config.json")
        XCTAssertThrowsError(try LanguageModel.load(path: dir)) { XCTAssertTrue("\($0)".contains("no model.safetensors"), "\($0)") }
        try "{\"weight_map\": {\"a\": \"../x.safetensors\"}}".write(toFile: dir + "/model.safetensors.index.json", atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try LanguageModel.load(path: dir)) { XCTAssertTrue("\($0)".contains("file names in the directory"), "\($0)") }
    }
}
