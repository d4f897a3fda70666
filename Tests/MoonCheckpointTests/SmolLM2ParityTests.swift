import Foundation
import XCTest
@testable import MoonCheckpoint
@testable import MoonModels
import MoonTensor

/// Parity with transformers on the shipped model (models/SmolLM2-135M-Instruct.Q4_1.gguf, fetched by scripts/fetch-model;
/// the fixture is made by scripts/make_smollm_parity.py).
final class SmolLM2ParityTests: XCTestCase {
    static var modelPath: String {
        if let p = ProcessInfo.processInfo.environment["MOONLAB_SMOLLM2"] { return p }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
    }

    nonisolated(unsafe) static var cached: LanguageModel?
    func model() throws -> LanguageModel {
        guard FileManager.default.fileExists(atPath: Self.modelPath) else {
            throw XCTSkip("\(Self.modelPath) is absent: run scripts/fetch-model (scripts/test does)")
        }
        if let m = Self.cached { return m }
        let m = try LanguageModel.load(path: Self.modelPath)
        Self.cached = m
        return m
    }

    func testConfigAndTokenizerMetadata() throws {
        let lm = try model()
        let c = lm.config
        XCTAssertEqual([c.numHiddenLayers, c.hiddenSize, c.numAttentionHeads, c.numKeyValueHeads, c.intermediateSize, c.vocabSize],
                       [30, 576, 9, 3, 1536, 49152])
        XCTAssertEqual(c.ropeTheta, 100000)
        XCTAssertEqual(c.rmsNormEps, 1e-5)
        XCTAssertTrue(c.tieWordEmbeddings)
        let t = try XCTUnwrap(lm.tokenizerMetadata)
        XCTAssertEqual(t.model, "gpt2")
        XCTAssertEqual(t.pre, "smollm")
        XCTAssertEqual(t.merges.count, 48900)
        XCTAssertEqual(t.tokens.count, 49152)
        XCTAssertTrue(t.chatTemplate?.contains("<|im_start|>") ?? false)
    }

    /// The BPE tokenizer built from the GGUF metadata (and the chat template) gives the prompt ids transformers used.
    func testTokenizerEncodesTheParityPromptsAsTransformers() throws {
        let lm = try model()
        let ref = try SafeTensors.open(fixture("smollm2_parity.safetensors"))
        let texts = ["The capital of France is", "def fibonacci(n):\n    ", "Once upon a time, in a small village by the sea,"]
        for (i, t) in texts.enumerated() { XCTAssertEqual(try lm.encodePrompt(t), try ref.ints("ids.\(i)").map(Int.init), t) }
        let tok = try lm.requireTokenizer("test")
        let chats = [[ChatMessage(role: "user", content: "What is 7 times 8?")],
                     [ChatMessage(role: "system", content: "You are a helpful assistant."), ChatMessage(role: "user", content: "Name three primary colors.")]]
        for (k, m) in chats.enumerated() {
            let text = try tok.applyChatTemplate(m, addGenerationPrompt: true)
            XCTAssertEqual(tok.encode(text, addSpecialTokens: false, parseSpecial: true), try ref.ints("ids.\(3 + k)").map(Int.init))
        }
    }

    /// Last-position logits within 1e-3 of transformers' on every vocabulary entry, and greedy 64-token continuations
    /// token-identical, on 5 prompts.
    func testLogitsAndGreedyMatchTransformers() throws {
        let lm = try model()
        let ref = try SafeTensors.open(fixture("smollm2_parity.safetensors"))
        for i in 0..<5 {
            let ids = try ref.ints("ids.\(i)").map(Int.init)
            let want = try ref.floats("logits.\(i)")
            let got = try Tensor.noGrad {
                let s = try InferenceSession(decoder: lm.decoder, batch: 1, capacity: ids.count)
                let h = try s.append(ids: [ids])
                return try s.logits(hidden: h, at: [(0, ids.count - 1)]).toArray()
            }
            XCTAssertEqual(got.count, 49152)
            let worst = zip(got, want).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(worst, 1e-3, "prompt \(i): max |Δlogit| \(worst)")
            // The autograd forward agrees too.
            if i == 0 {
                let full = try Tensor.noGrad { try lm.decoder(Tensor.fromInts(ids, [1, ids.count])) }.toArray()
                let last = Array(full[((ids.count - 1) * 49152)...])
                XCTAssertLessThan(zip(last, want).map { abs($0 - $1) }.max()!, 1e-3)
            }
        }
        var o = GenerateOptions()
        o.greedy = true; o.maxNewTokens = 64
        let prompts = try (0..<5).map { try ref.ints("ids.\($0)").map(Int.init) }
        let r = try lm.generate(prompts: prompts, options: o)
        for i in 0..<5 {
            XCTAssertEqual(r.tokens[i], try ref.ints("greedy.\(i)").map(Int.init), "prompt \(i)")
        }
    }
}
