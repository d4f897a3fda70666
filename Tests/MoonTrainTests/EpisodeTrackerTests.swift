import XCTest
@testable import MoonTrain

final class EpisodeTrackerTests: XCTestCase {
    func testEpisodesSpanSummaries() throws {
        let t = try EpisodeTracker(envs: 2)
        try t.record(rewards: [1, -1], dones: [false, true], successes: [false, false], invalid: [false, true])
        try t.record(rewards: [10, 0], dones: [true, false], successes: [true, false])
        let s = t.summary()
        XCTAssertEqual(s.number("episodes"), 2)
        XCTAssertEqual(s.number("return"), (11 + -1) / 2)
        XCTAssertEqual(s.number("success_rate"), 0.5)
        XCTAssertEqual(s.number("episode_length"), 1.5)
        XCTAssertEqual(s.number("invalid_rate"), 0.25)
        // env 1's episode continues across the summary
        try t.record(rewards: [0, 2], dones: [false, true], successes: [false, true])
        let s2 = t.summary()
        XCTAssertEqual(s2.number("return"), 2)
        XCTAssertEqual(s2.number("episode_length"), 2)
        XCTAssertEqual(s2.number("success_rate"), 1)
        XCTAssertNil(t.summary()["return"])
        assertThrowsMessage(try t.record(rewards: [0], dones: [false, false]), contains: "'rewards'")
        assertThrowsMessage(try t.record(env: 5, reward: 0, done: false), contains: "'env'")
    }
}
