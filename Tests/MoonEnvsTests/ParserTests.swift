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
        XCTAssertEqual(parse("\"Action\" : \"+\"}", nl, card: false), "+")  // AnswerFormat: whitespace before the colon
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

    // The one answer-split rule (AnswerFormat), on the cases where the five old copies disagreed.
    func testAnswerFormatRule() {
        let s = "{\"thoughts\": \"x\", \"action\" : \"+\"}"
        XCTAssertEqual(AnswerFormat.actionStart(s), 18)  // whitespace before the colon (Swift used to find no action)
        XCTAssertEqual(AnswerFormat.split(s).thoughts, "{\"thoughts\": \"x\", ")
        XCTAssertEqual(AnswerFormat.split(s).action, "\"action\" : \"+\"}")
        XCTAssertEqual(parse(s, nl, card: false), "+")
        XCTAssertEqual(AnswerFormat.actionStart("\"ACTION\":\"hit\""), 0)  // any case (core.lua was case-sensitive)
        XCTAssertEqual(AnswerFormat.actionStart("\"action\":\t\n \"a\" \"action\": \"b\""), 0)  // the first key, not the last
        XCTAssertEqual(AnswerFormat.actionStart("x \"action\"\r\n\t:1"), 2)
        XCTAssertNil(AnswerFormat.actionStart("\"action\" is \"+\""))  // no colon after the key
        XCTAssertNil(AnswerFormat.actionStart("\"actions\": \"+\""))
        XCTAssertNil(AnswerFormat.actionStart("\"action\""))
        XCTAssertNil(AnswerFormat.split("{\"thoughts\": \"x\"}").action)
        // the bytes a non-byte vocabulary spells; values above 255 (special tokens) never match
        XCTAssertEqual(AnswerFormat.actionStart(in: [256, 34, 97, 99, 116, 105, 111, 110, 34, 32, 58]), 1)
        XCTAssertNil(AnswerFormat.actionStart(in: [34, 97 + 256, 99, 116, 105, 111, 110, 34, 58]))
        XCTAssertEqual(AnswerFormat.actionKey(in: Array("ab\"Action\" :\"x\"".utf8)), 2..<12)
        // a multi-byte character before the key: the split stays on the quote
        XCTAssertEqual(AnswerFormat.split("é€\"action\": 1").thoughts, "é€")
    }
}
