import XCTest
@testable import MoonTrain

final class ResponseSplitTests: XCTestCase {
    func testSplit() throws {
        let text = #"{"thoughts": "5+7", "Action": "="}"#
        let m = try ResponseSplit.byteMasks(text: text, trailingSpecials: 1)
        XCTAssertTrue(m.hasAction)
        let cut = 20  // index of the quote before Action
        XCTAssertEqual(Array(text.utf8)[cut], UInt8(ascii: "\""))
        XCTAssertEqual(m.thought.prefix(cut).allSatisfy { $0 }, true)
        XCTAssertEqual(m.action.suffix(from: cut).allSatisfy { $0 }, true)
        XCTAssertEqual(m.action.count, text.utf8.count + 1)
        XCTAssertTrue(m.action.last!)  // <eos> after the marker is action
        // multi-byte tokens: the token spanning the marker's first byte is action
        let m2 = try ResponseSplit.masks(tokenByteCounts: [3, 4, 9, 3], text: #"abc de "action":"x""#)
        XCTAssertEqual(m2.thought, [true, true, false, false])
        XCTAssertEqual(m2.action, [false, false, true, true])
        // no marker: all thought, flagged
        let m3 = try ResponseSplit.byteMasks(text: "hit me")
        XCTAssertFalse(m3.hasAction)
        XCTAssertEqual(m3.thought, Array(repeating: true, count: 6))
        assertThrowsMessage(try ResponseSplit.masks(tokenByteCounts: [1, 1], text: "abc"), contains: "'token_byte_counts'")
    }

    func testParseOption() throws {
        let e: KLEstimator = try parseOption("k3", key: "estimator", op: "gtr")
        XCTAssertEqual(e, .k3)
        assertThrowsMessage(try parseOption("k2", key: "estimator", op: "gtr", as: KLEstimator.self),
                            contains: "argument 'estimator': unknown value 'k2' (expected one of: k1, abs, k3)")
        XCTAssertEqual(try parseOption("reverse", key: "direction", op: "x", as: DistillDivergence.self), .reverseKL)
    }
}
