import XCTest
@testable import MoonEnvs

final class ParserTests: XCTestCase {
    let p24 = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "+", "-", "*", "/", "(", ")", "="]
    let nl = ["-", "+"]
    let bj = ["stand", "hit"]

    func parse(_ s: String, _ a: [String], card: Bool = true) -> String? { ActionParser.parse(s, actions: a, cardTask: card) }

    func testWellFormed() {
        XCTAssertEqual(parse("{\"cards\": [4, 7], \"current formula\": \"4*\", \"thoughts\": \"x\", \"action\": \"7\"}", p24), "7")
        XCTAssertEqual(parse("{\"thoughts\": \"I have 13\", \"action\": \"hit\"}", bj, card: false), "hit")
        XCTAssertEqual(parse("{\"action\": \"STAND\"}", bj, card: false), "stand")  // lower-cased
        XCTAssertEqual(parse("\"action\": \"+\"", nl, card: false), "+")
        XCTAssertEqual(parse("\"action\": \"(\"", p24), "(")
    }

    func testTenBeforeOne() {
        XCTAssertEqual(parse("\"action\": \"10\"", p24), "10")
        XCTAssertEqual(parse("\"action\": \"1\"", p24), "1")
        // "10" removed, a separate "1" remains → two actions → illegal
        XCTAssertNil(parse("\"action\": \"10 or 1\"", p24))
        // "110" → "10" removed leaves "1" → {10, 1} → illegal (as the original)
        XCTAssertNil(parse("\"action\": \"110\"", p24))
        // "1010" → both removed → only 10
        XCTAssertEqual(parse("\"action\": \"1010\"", p24), "10")
    }

    func testMultipleAndNone() {
        XCTAssertNil(parse("\"action\": \"+ or -\"", p24))
        XCTAssertNil(parse("\"action\": \"\"", p24))
        XCTAssertNil(parse("\"action\": \"hit\" and \"stand\"", bj, card: false))
        XCTAssertNil(parse("\"action\": \"nothing\"", nl, card: false))
        // everything before "action": is ignored
        XCTAssertEqual(parse("thoughts: 3 + 4 = 7 ... \"action\": \"*\"", p24), "*")
        XCTAssertEqual(parse("I could hit or stand. \"action\": \"stand\"", bj, card: false), "stand")
    }

    func testMissingKeyKeepsLastCharacter() {
        // the original slices s[-1:] when "action": is missing
        XCTAssertEqual(parse("my move is +", nl, card: false), "+")
        XCTAssertNil(parse("{\"thoughts\": \"+\"}", nl, card: false))  // last char "}"
        XCTAssertEqual(parse("answer 7", p24), "7")
        XCTAssertNil(parse("", p24))
        XCTAssertNil(parse("\"Action\" : \"+\"}", nl, card: false))  // space before the colon: key not found
        XCTAssertEqual(ActionParser.actionSegment("abc€"), Array("€".utf8))
    }

    func testTruncatedOutput() {
        XCTAssertNil(parse("{\"thoughts\": \"the next is", p24))  // last char 's'
        XCTAssertNil(parse("{\"thoughts\": \"ok\", \"action\":", p24))
        XCTAssertEqual(parse("{\"thoughts\": \"ok\", \"action\": \"8", p24), "8")
    }

    func testAdversarialUnicode() {
        XCTAssertEqual(parse("\"action\": \"🂡 8 🃏\"", p24), "8")
        XCTAssertEqual(parse("\u{0000}\u{FFFF}\"ACTION\": \"HIT\"\u{202E}", bj, card: false), "hit")
        // combining mark after the digit: Python still finds "1" (code points), so do we
        XCTAssertEqual(parse("\"action\": \"1\u{301}\"", p24), "1")
        XCTAssertNil(parse("\"action\": \"１\"", p24))  // full-width digit is not "1"
        XCTAssertEqual(parse("\"action\": \"+\" \"action\": \"+\"", nl, card: false), "+")  // same action twice
        XCTAssertNil(parse("\"action\": \"-\" \"action\": \"+\"", nl, card: false))
        XCTAssertEqual(ActionParser.matches("\"action\": \"(10)\"", actions: p24, cardTask: true), ["10", "(", ")"])
    }
}
