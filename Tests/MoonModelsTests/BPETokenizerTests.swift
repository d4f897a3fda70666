import Foundation
import XCTest
import MoonTensor
@testable import MoonModels

/// Parity with Hugging Face `tokenizers` on the corpus scripts/make_tokenizer_fixtures.py generates.
final class BPETokenizerTests: XCTestCase {
    static let dir = Bundle.module.url(forResource: "Fixtures", withExtension: nil)!.appendingPathComponent("tokenizer")

    struct Expected {
        let every: Int
        let ids: [[Int]]
        let decodedDiffers: [Int: String]
        let decodeCases: [(ids: [Int], skip: String, keep: String)]
    }

    static let fixture: (corpus: [String], expected: [String: Any]) = {
        let corpus = try! JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("corpus.json"))) as! [String]
        let expected = try! JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("expected.json"))) as! [String: Any]
        return (corpus, expected)
    }()

    static func expected(_ name: String) -> Expected {
        let t = (fixture.expected["tokenizers"] as! [String: Any])[name] as! [String: Any]
        let lengths = t["lengths"] as! [Int]
        let blob = Data(base64Encoded: t["ids_u16le"] as! String)!
        var flat: [Int] = []
        flat.reserveCapacity(blob.count / 2)
        blob.withUnsafeBytes { raw in
            for k in 0..<(raw.count / 2) { flat.append(Int(raw[2 * k]) | Int(raw[2 * k + 1]) << 8) }
        }
        var ids: [[Int]] = []
        var at = 0
        for n in lengths { ids.append(Array(flat[at..<at + n])); at += n }
        var differs: [Int: String] = [:]
        for (k, v) in t["decoded_differs"] as! [String: String] { differs[Int(k)!] = v }
        let cases = (t["decode"] as! [[String: Any]]).map { ($0["ids"] as! [Int], $0["skip"] as! String, $0["keep"] as! String) }
        return Expected(every: t["every"] as! Int, ids: ids, decodedDiffers: differs, decodeCases: cases)
    }

    func checkParity(_ tok: BPETokenizer, _ name: String, file: StaticString = #filePath, line: UInt = #line) {
        let corpus = Self.fixture.corpus
        let e = Self.expected(name)
        var encodeFailures = 0, decodeFailures = 0, checked = 0
        for (k, i) in stride(from: 0, to: corpus.count, by: e.every).enumerated() {
            let got = tok.encode(corpus[i], addSpecialTokens: true, parseSpecial: true)
            checked += 1
            if got != e.ids[k] {
                encodeFailures += 1
                if encodeFailures <= 5 {
                    XCTFail("\(name): encode(#\(i) \(corpus[i].debugDescription.prefix(200))): expected \(e.ids[k].prefix(40)), got \(got.prefix(40))", file: file, line: line)
                }
            }
            let text = tok.decode(e.ids[k], skipSpecial: true)
            if text != (e.decodedDiffers[i] ?? corpus[i]) {
                decodeFailures += 1
                if decodeFailures <= 5 { XCTFail("\(name): decode of #\(i): expected \((e.decodedDiffers[i] ?? corpus[i]).debugDescription.prefix(200)), got \(text.debugDescription.prefix(200))", file: file, line: line) }
            }
        }
        for c in e.decodeCases {
            XCTAssertEqual(tok.decode(c.ids, skipSpecial: true), c.skip, "\(name): decode(\(c.ids), skip_special)", file: file, line: line)
            XCTAssertEqual(tok.decode(c.ids, skipSpecial: false), c.keep, "\(name): decode(\(c.ids))", file: file, line: line)
        }
        XCTAssertEqual(encodeFailures, 0, "\(name): \(encodeFailures) of \(checked) strings encode differently", file: file, line: line)
        XCTAssertEqual(decodeFailures, 0, "\(name): \(decodeFailures) of \(checked) id lists decode differently", file: file, line: line)
        XCTAssertGreaterThan(checked, 1000, file: file, line: line)
    }

    func small(_ kind: String) throws -> BPETokenizer {
        try BPETokenizer.load(path: Self.dir.appendingPathComponent("\(kind)-small.json").path)
    }

    func testCorpusIsLargeEnough() {
        XCTAssertGreaterThanOrEqual(Self.fixture.corpus.count, 10_000)
    }

    func testGPT2SplitParity() throws {
        let t = try small("gpt2")
        XCTAssertEqual(t.preTokenizer, .gpt2)
        checkParity(t, "gpt2-small")
    }

    func testLlama3SplitParity() throws {
        let t = try small("llama3")
        XCTAssertEqual(t.preTokenizer, .llama3)
        XCTAssertTrue(t.ignoreMerges)
        XCTAssertEqual(t.prefixIds, [t.tokenId("<|begin_of_text|>")!])
        checkParity(t, "llama3-small")
    }

    func testQwen2SplitParity() throws {
        let t = try small("qwen2")
        XCTAssertEqual(t.preTokenizer, .qwen2)
        XCTAssertTrue(t.normalizesNFC)
        checkParity(t, "qwen2-small")
    }

    func testSmolLMSplitParity() throws {
        let t = try small("smollm")
        XCTAssertEqual(t.preTokenizer, .smollm)
        checkParity(t, "smollm-small")
    }

    /// The GGUF-array constructor gives the same tokenizer as the tokenizer.json it was read from.
    func testArrayConstructorMatchesJSON() throws {
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: Self.dir.appendingPathComponent("smollm-small.json"))) as! [String: Any]
        let model = json["model"] as! [String: Any]
        let vocab = model["vocab"] as! [String: Int]
        var tokens = [String](repeating: "", count: vocab.count)
        for (t, id) in vocab { tokens[id] = t }
        let merges = (model["merges"] as! [Any]).map { m -> String in
            if let s = m as? String { return s }
            let p = m as! [String]
            return p[0] + " " + p[1]
        }
        let specials = Set((json["added_tokens"] as! [[String: Any]]).map { $0["id"] as! Int })
        let types = tokens.indices.map { specials.contains($0) ? 3 : 1 }
        let t = try BPETokenizer(tokens: tokens, merges: merges, tokenTypes: types, model: "gpt2", pre: "smollm",
                                 bosId: 1, eosId: 2, unkId: nil, padId: nil, addBos: false, addEos: false, chatTemplate: nil)
        checkParity(t, "smollm-small")
        XCTAssertEqual(t.bosTokenId, 1)
        XCTAssertTrue(t.isSpecial(2))
        let withBos = try BPETokenizer(tokens: tokens, merges: merges, tokenTypes: types, model: "gpt2", pre: "smollm",
                                       bosId: 1, eosId: 2, unkId: nil, padId: nil, addBos: true, addEos: true, chatTemplate: nil)
        XCTAssertEqual(withBos.encode("hi"), [1] + t.encode("hi") + [2])
        XCTAssertEqual(withBos.encode("hi", addSpecialTokens: false, parseSpecial: true), t.encode("hi"))
        XCTAssertThrowsError(try BPETokenizer(tokens: tokens, merges: merges, tokenTypes: types, model: "llama", pre: nil, bosId: nil,
                                              eosId: nil, unkId: nil, padId: nil, addBos: false, addEos: false, chatTemplate: nil))
        XCTAssertThrowsError(try BPETokenizer(tokens: tokens, merges: merges, tokenTypes: types, model: "gpt2", pre: "nonesuch", bosId: nil,
                                              eosId: nil, unkId: nil, padId: nil, addBos: false, addEos: false, chatTemplate: nil))
        XCTAssertThrowsError(try BPETokenizer(tokens: tokens, merges: merges, tokenTypes: types, model: "gpt2", pre: "gpt2", bosId: 99999,
                                              eosId: nil, unkId: nil, padId: nil, addBos: false, addEos: false, chatTemplate: nil))
        XCTAssertThrowsError(try BPETokenizer(tokens: tokens, merges: ["a"] + merges, tokenTypes: nil, model: "gpt2", pre: "gpt2", bosId: nil,
                                              eosId: nil, unkId: nil, padId: nil, addBos: false, addEos: false, chatTemplate: nil))
    }

    /// The real SmolLM2 tokenizer: a tokenizer.json directory made by the fixture script
    /// (MOONLAB_SMOLLM2_TOKENIZER, default /tmp/moonlab-smollm2-tokenizer); skipped when absent.
    func testSmolLM2Parity() throws {
        let path = ProcessInfo.processInfo.environment["MOONLAB_SMOLLM2_TOKENIZER"] ?? "/tmp/moonlab-smollm2-tokenizer"
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("no SmolLM2 tokenizer at \(path)") }
        let t = try BPETokenizer.load(path: path)
        XCTAssertEqual(t.vocabSize, 49152)
        XCTAssertEqual(t.preTokenizer, .smollm)
        checkParity(t, "smollm2")
    }

    /// The GGUF-array constructor on the real SmolLM2 file's tokenizer.ggml.* arrays (gguf_arrays.json, written by
    /// the fixture script next to the tokenizer.json); skipped when absent.
    func testSmolLM2ArraysParity() throws {
        let dir = ProcessInfo.processInfo.environment["MOONLAB_SMOLLM2_TOKENIZER"] ?? "/tmp/moonlab-smollm2-tokenizer"
        let path = (dir as NSString).appendingPathComponent("gguf_arrays.json")
        guard let data = FileManager.default.contents(atPath: path) else { throw XCTSkip("no \(path)") }
        let g = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let t = try BPETokenizer(tokens: g["tokens"] as! [String], merges: g["merges"] as! [String], tokenTypes: g["token_type"] as? [Int],
                                 model: g["model"] as! String, pre: g["pre"] as? String, bosId: g["bos_token_id"] as? Int,
                                 eosId: g["eos_token_id"] as? Int, unkId: g["unknown_token_id"] as? Int, padId: g["padding_token_id"] as? Int,
                                 addBos: g["add_bos_token"] as? Bool ?? false, addEos: g["add_eos_token"] as? Bool ?? false,
                                 chatTemplate: g["chat_template"] as? String)
        XCTAssertEqual(t.vocabSize, 49152)
        XCTAssertEqual(t.bosTokenId, 1)
        XCTAssertEqual(t.eosTokenId, 2)
        XCTAssertEqual(t.chatFormat, .chatML(defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        checkParity(t, "smollm2")
    }

    /// The shipped model's tokenizer read from the GGUF itself (models/SmolLM2-135M-Instruct.Q4_1.gguf, fetched by
    /// scripts/fetch-model; MOONLAB_SMOLLM2 overrides); skipped when absent.
    func testSmolLM2GGUFParity() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = ProcessInfo.processInfo.environment["MOONLAB_SMOLLM2"] ?? root.appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
        guard FileManager.default.fileExists(atPath: path) else { throw XCTSkip("\(path) is absent: run scripts/fetch-model") }
        let t = try BPETokenizer.load(path: path)
        XCTAssertEqual(t.vocabSize, 49152)
        XCTAssertEqual(t.preTokenizer, .smollm)
        XCTAssertEqual([t.bosTokenId, t.eosTokenId, t.unkTokenId, t.padTokenId], [1, 2, 0, 2])
        XCTAssertEqual(t.prefixIds, [])
        XCTAssertEqual(t.specialTokens.count, 17)
        XCTAssertEqual(t.chatFormat, .chatML(defaultSystem: "You are a helpful AI assistant named SmolLM, trained by Hugging Face"))
        checkParity(t, "smollm2")
        // digits are split one by one, as SmolLM2's tokenizer.json and llama.cpp do
        XCTAssertEqual(t.encode("What is 7 times 8?").map { t.token($0)! }, ["What", "Ġis", "Ġ", "7", "Ġtimes", "Ġ", "8", "?"])
    }

    func testBadTokenizerJSONIsAnError() {
        let good = try! Data(contentsOf: Self.dir.appendingPathComponent("gpt2-small.json"))
        let cases: [String] = [
            "", "[]", "{}", "{\"model\": 3}", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}",
            "{\"model\": {\"vocab\": {\"a\": -1}}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
            "{\"model\": {\"vocab\": {\"a\": 1e30}}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
            "{\"model\": {\"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
            "{\"model\": {\"vocab\": {\"a\": 0}}, \"pre_tokenizer\": {\"type\": \"Whitespace\"}}",
            "{\"model\": {\"vocab\": {}}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}",
        ]
        for c in cases {
            XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: Data(c.utf8)), c)
        }
        // truncations of a real file
        for n in [1, 100, good.count / 2, good.count - 2] {
            XCTAssertThrowsError(try BPETokenizer(tokenizerJSON: good.prefix(n)))
        }
        XCTAssertThrowsError(try BPETokenizer.load(path: "/nonexistent/tokenizer.json"))
        XCTAssertNoThrow(try BPETokenizer(tokenizerJSON: good))
    }

    /// Mutated tokenizer.json documents either load or throw; whatever loads encodes and decodes without trapping.
    func testMutatedJSONNeverTraps() throws {
        let good = [UInt8](try Data(contentsOf: Self.dir.appendingPathComponent("llama3-small.json")))
        // A fixed seed: the same 150 mutants every run, so "some mutant still loads" cannot flake.
        var rng = Xoshiro256(seed: 0x6D75_7461_6E74)
        var loaded = 0
        for _ in 0..<150 {
            var b = good
            for _ in 0..<Int.random(in: 1...8, using: &rng) {
                let i = Int.random(in: 0..<b.count, using: &rng)
                b[i] = [UInt8(ascii: "0"), UInt8(ascii: "9"), UInt8(ascii: "\""), UInt8(ascii: " "), UInt8(ascii: "-"), UInt8.random(in: 0...255, using: &rng)].randomElement(using: &rng)!
            }
            guard let t = try? BPETokenizer(tokenizerJSON: Data(b)) else { continue }
            loaded += 1
            for s in ["Hello world 123", "<|eot_id|> x", "日本 😀\n\t  ", ""] { _ = t.decode(t.encode(s), skipSpecial: false) }
            _ = t.decode(Array(-3..<(t.vocabSize + 3)), skipSpecial: false)
        }
        XCTAssertGreaterThan(loaded, 0)
    }

    func testLookupAndDecodeEdges() throws {
        let t = try small("gpt2")
        let id = t.tokenId("<|endoftext|>")!
        XCTAssertTrue(t.isSpecial(id))
        XCTAssertEqual(t.token(id), "<|endoftext|>")
        XCTAssertNil(t.token(-1))
        XCTAssertNil(t.token(t.vocabSize))
        XCTAssertEqual(t.decode([-5, 1 << 40, t.vocabSize]), "")
        XCTAssertEqual(t.encode("a<|endoftext|>b", addSpecialTokens: false, parseSpecial: true).filter { $0 == id }.count, 1)
        XCTAssertFalse(t.encode("a<|endoftext|>b", addSpecialTokens: false, parseSpecial: false).contains(id))
        XCTAssertEqual(t.decode(t.encode("a<|endoftext|>b", addSpecialTokens: false, parseSpecial: false)), "a<|endoftext|>b")
        XCTAssertEqual(t.tokenBytes(t.tokenId("Ġ")!), [0x20])
        // a long run takes the heap merge path and still round-trips
        let long = String(repeating: "ab cd ", count: 2000) + String(repeating: "x", count: 3000)
        XCTAssertEqual(t.decode(t.encode(long)), long)
    }

    func testByteTokenizerConforms() {
        let b: any TextTokenizer = ByteTokenizer()
        XCTAssertEqual(b.encode("A<eos>", addSpecialTokens: true, parseSpecial: true), [256, 65, 257])
        XCTAssertEqual(b.encode("A<eos>", addSpecialTokens: false, parseSpecial: false).count, 6)
        XCTAssertEqual(b.decode([65, 257], skipSpecial: false), "A<eos>")
        XCTAssertEqual(b.tokenId("<pad>"), 258)
        XCTAssertEqual(b.tokenId("A"), 65)
        XCTAssertEqual(b.token(65), "A")
        XCTAssertEqual(b.specialTokens.count, 4)
        XCTAssertEqual(b.vocabSize, 260)
    }
}
