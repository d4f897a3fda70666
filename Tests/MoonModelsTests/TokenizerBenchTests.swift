import Foundation
import XCTest
@testable import MoonModels

/// Encoding throughput, run by scripts/bench-tokenizer in a release build (skipped unless
/// MOONLAB_BENCH_TOKENIZER names a tokenizer.json file or directory). Prints `BENCH` lines.
final class TokenizerBenchTests: XCTestCase {
    func testBenchEncode() throws {
        let env = ProcessInfo.processInfo.environment
        guard let path = env["MOONLAB_BENCH_TOKENIZER"] else { throw XCTSkip("set MOONLAB_BENCH_TOKENIZER to run") }
        let corpusPath = env["MOONLAB_BENCH_CORPUS"] ?? BPETokenizerTests.dir.appendingPathComponent("corpus.json").path
        let corpus = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: corpusPath))) as! [String]
        let reps = Int(env["MOONLAB_BENCH_REPS"] ?? "5") ?? 5
        let t0 = Date()
        let tok = try BPETokenizer.load(path: path)
        print(String(format: "BENCH load_s %.3f", Date().timeIntervalSince(t0)))
        let bytes = corpus.reduce(0) { $0 + $1.utf8.count }
        var best = Double.infinity
        var tokens = 0
        for _ in 0..<reps {
            let s = DispatchTime.now().uptimeNanoseconds
            var n = 0
            for text in corpus { n += tok.encode(text, addSpecialTokens: true, parseSpecial: true).count }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9
            best = min(best, dt)
            tokens = n
        }
        print(String(format: "BENCH encode_strings_MB_per_s %.3f", Double(bytes) / best / 1e6))
        print(String(format: "BENCH encode_strings_tokens_per_s %.0f", Double(tokens) / best))
        // one long document (the corpus joined), where per-call overhead does not matter
        let doc = corpus.joined(separator: "\n")
        var bestDoc = Double.infinity
        var docTokens = 0
        for _ in 0..<reps {
            let s = DispatchTime.now().uptimeNanoseconds
            docTokens = tok.encode(doc, addSpecialTokens: true, parseSpecial: true).count
            bestDoc = min(bestDoc, Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9)
        }
        print(String(format: "BENCH encode_doc_MB_per_s %.3f", Double(doc.utf8.count) / bestDoc / 1e6))
        print(String(format: "BENCH encode_doc_tokens_per_s %.0f", Double(docTokens) / bestDoc))
        var bestDec = Double.infinity
        let ids = corpus.map { tok.encode($0) }
        for _ in 0..<reps {
            let s = DispatchTime.now().uptimeNanoseconds
            var n = 0
            for x in ids { n += tok.decode(x, skipSpecial: false).utf8.count }
            XCTAssertGreaterThan(n, 0)
            bestDec = min(bestDec, Double(DispatchTime.now().uptimeNanoseconds - s) / 1e9)
        }
        print(String(format: "BENCH decode_tokens_per_s %.0f", Double(tokens) / bestDec))
    }
}
