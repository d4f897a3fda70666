import XCTest
@testable import MoonTrain

final class DiversityTests: XCTestCase {
    let texts = ["I have 5 and 7 so 5 + 7 = 12", "I have 5 and 7 so 7 + 5 = 12", "the cards are 2 and 6 so 2 * 6 = 12",
                 "I have 5 and 7 so 5 + 7 = 12", "hit"]

    func testDistinct() throws {
        // unigrams: "a b a" + "b c" → 5 total, {a, b, c} distinct
        XCTAssertEqual(try Diversity.distinctN(["a b a", "B c"], n: 1), 3.0 / 5.0, accuracy: 1e-12)
        // bigrams: (a b) (b a) (b c) → all distinct; none cross texts
        XCTAssertEqual(try Diversity.distinctN(["a b a", "b c"], n: 2), 1.0, accuracy: 1e-12)
        XCTAssertEqual(try Diversity.distinctN(["a b", "a b"], n: 2), 0.5, accuracy: 1e-12)
        XCTAssertEqual(try Diversity.distinctN(["a"], n: 2), 0)
        XCTAssertEqual(Diversity.distinctRatio(texts), 4.0 / 5.0, accuracy: 1e-12)
        XCTAssertEqual(Diversity.distinctRatio(["x  y", "X y"]), 0.5)
        assertThrowsMessage(try Diversity.distinctN(texts, n: 0), contains: "'n'")
    }

    func testSelfBLEUMatchesNLTK() throws {
        // scripts/make_train_references.py (nltk 3.10 sentence_bleu)
        let toks = texts.map(Diversity.tokenize)
        let want = [1, 0.562341325, 0.0428361951, 1, 0]
        for i in 0..<toks.count {
            var refs = toks
            refs.remove(at: i)
            XCTAssertEqual(Diversity.sentenceBLEU(hypothesis: toks[i], references: refs), want[i], accuracy: 1e-7, "text \(i)")
        }
        XCTAssertEqual(try XCTUnwrap(Diversity.selfBLEU(texts)), 0.521035504, accuracy: 1e-7)
        XCTAssertEqual(try XCTUnwrap(Diversity.selfBLEU(texts, smoothing: .none)), 0.512468265, accuracy: 1e-7)
        XCTAssertNil(Diversity.selfBLEU(["one"]))
        XCTAssertEqual(try XCTUnwrap(Diversity.selfBLEU(["a b c d e", "a b c d e"])), 1, accuracy: 1e-12)
    }
}
