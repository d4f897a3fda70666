import XCTest
import MoonTensor
@testable import MoonEnvs

final class NumberLineTests: XCTestCase {
    func make(_ opts: EnvOptions = [:]) throws -> NumberLineEnv { try EnvRegistry.make("NumberLine", options: opts) as! NumberLineEnv }

    func testRewards() throws {
        let env = try make()
        try env.setState(current: 2, target: 4)
        var r = env.step(act("+"))
        XCTAssertEqual(r.reward, 0); XCTAssertFalse(r.done)                 // closer
        r = env.step(act("-"))
        XCTAssertEqual(r.reward, -1); XCTAssertFalse(r.done)                // farther
        try env.setState(current: 0, target: 3)
        r = env.step(act("-"))
        XCTAssertEqual(r.reward, -1); XCTAssertEqual(env.position, 0)       // floored at 0, distance unchanged
        try env.setState(current: 5, target: 3)
        r = env.step(act("+"))
        XCTAssertEqual(r.reward, -1); XCTAssertEqual(env.position, 5)       // capped at max
        try env.setState(current: 2, target: 3)
        r = env.step(act("+"))
        XCTAssertEqual(r.reward, 1); XCTAssertTrue(r.terminated); XCTAssertTrue(r.info.success)
        XCTAssertEqual(r.info.extra["current"], "3"); XCTAssertEqual(r.info.extra["target"], "3")
    }

    func testTruncationAfterTwiceMax() throws {
        let env = try make(["max_position": 3])
        try env.setState(current: 0, target: 3)
        for i in 0..<5 {
            let r = env.step(act(i % 2 == 0 ? "+" : "-"))
            XCTAssertFalse(r.done, "step \(i)")
        }
        let r = env.step(act("+"))  // 6th step = 2 × 3
        XCTAssertTrue(r.truncated); XCTAssertFalse(r.terminated)
        // reaching the target on the last step is termination, not truncation
        try env.setState(current: 0, target: 3)
        for a in ["+", "-", "+", "+", "-"] { _ = env.step(act(a)) }
        XCTAssertEqual(env.position, 1)
        let r2 = env.step(act("+"))
        XCTAssertEqual(env.position, 2); XCTAssertTrue(r2.truncated)
    }

    func testInitialDistribution() throws {
        let env = try make(["obs_mode": "text"])
        var starts = [Int](repeating: 0, count: 6), targets = [Int](repeating: 0, count: 6)
        for i in 0..<6000 {
            _ = env.reset(seed: UInt64(i))
            XCTAssertNotEqual(env.position, env.target)
            XCTAssertTrue((0...5).contains(env.target))
            starts[env.position] += 1; targets[env.target] += 1
        }
        for s in starts { XCTAssertEqual(Double(s) / 6000, 1.0 / 6, accuracy: 0.02) }
        // equal draws move the target to (t+1) mod 5: target 5 is only drawn directly (prob 1/6 − 1/36)
        XCTAssertEqual(Double(targets[5]) / 6000, 1.0 / 6 - 1.0 / 36, accuracy: 0.02)
    }

    func testSolverAndIllegalModes() throws {
        let env = try make(["max_position": 9])
        for s in 0..<30 {
            _ = env.reset(seed: UInt64(s))
            let d = abs(env.position - env.target)
            var n = 0
            while true { let r = env.step(env.solverResponse()); n += 1; if r.done { XCTAssertTrue(r.info.success); break } }
            XCTAssertEqual(n, d)
        }
        let pen = try make(["invalid_penalty": true])
        try pen.setState(current: 1, target: 4)
        let r = pen.step("{\"action\": \"+ or -\"}")
        XCTAssertEqual(r.reward, -1); XCTAssertTrue(r.info.illegal); XCTAssertTrue(r.info.invalid); XCTAssertEqual(pen.position, 1)
        XCTAssertEqual(pen.stepsMade, 1)
        let def = try make()
        try def.setState(current: 1, target: 4)
        let r2 = def.step("garbage}")
        XCTAssertTrue(r2.info.illegal); XCTAssertFalse(r2.info.invalid); XCTAssertNotNil(r2.info.action)
        XCTAssertNotEqual(def.position, 1)  // a random move was made
    }
}

final class BlackjackTests: XCTestCase {
    func make(_ opts: EnvOptions = [:]) throws -> BlackjackEnv { try EnvRegistry.make("Blackjack", options: opts) as! BlackjackEnv }

    func testBust() throws {
        let env = try make()
        try env.setHands(player: [card(10), card(6)], dealer: [card(9), card(7)])
        env.riggedDraws = [card(13)]
        let r = env.step(act("hit"))
        XCTAssertEqual(r.reward, -1); XCTAssertTrue(r.terminated); XCTAssertEqual(r.info.extra["outcome"], "bust")
    }

    func testHitWithoutBust() throws {
        let env = try make()
        try env.setHands(player: [card(1), card(6)], dealer: [card(9), card(7)])
        env.riggedDraws = [card(9)]  // A+6+9 = 16 (ace now 1)
        let r = env.step(act("hit"))
        XCTAssertEqual(r.reward, 0); XCTAssertFalse(r.done)
        XCTAssertEqual(BlackjackEnv.sumHand(env.player), 16)
        XCTAssertFalse(BlackjackEnv.usableAce(env.player))
    }

    func testWinLossDraw() throws {
        let env = try make()
        try env.setHands(player: [card(10), card(9)], dealer: [card(10), card(8)])
        XCTAssertEqual(env.step(act("stand")).reward, 1)
        try env.setHands(player: [card(10), card(7)], dealer: [card(10), card(8)])
        var r = env.step(act("stand"))
        XCTAssertEqual(r.reward, -1); XCTAssertEqual(r.info.extra["outcome"], "loss")
        try env.setHands(player: [card(10), card(8)], dealer: [card(10), card(8)])
        r = env.step(act("stand"))
        XCTAssertEqual(r.reward, 0); XCTAssertEqual(r.info.extra["outcome"], "draw"); XCTAssertFalse(r.info.success)
        // dealer draws to 17 and busts
        try env.setHands(player: [card(10), card(2)], dealer: [card(10), card(6)])
        env.riggedDraws = [card(12)]
        r = env.step(act("stand"))
        XCTAssertEqual(r.reward, 1); XCTAssertEqual(env.dealer.count, 3)
        // dealer stands on soft 17
        try env.setHands(player: [card(10), card(7)], dealer: [card(1), card(6)])
        r = env.step(act("stand"))
        XCTAssertEqual(r.reward, 0); XCTAssertEqual(env.dealer.count, 2)
    }

    func testNaturals() throws {
        var env = try make()
        try env.setHands(player: [card(1), card(13)], dealer: [card(10), card(9)])
        XCTAssertEqual(env.step(act("stand")).reward, 1)       // natural off: plain win
        env = try make(["natural": true])
        try env.setHands(player: [card(1), card(13)], dealer: [card(10), card(9)])
        XCTAssertEqual(env.step(act("stand")).reward, 1.5)
        try env.setHands(player: [card(1), card(13)], dealer: [card(1), card(10)])
        XCTAssertEqual(env.step(act("stand")).reward, 0)       // both 21: draw, no bonus
        env = try make(["sab": true, "natural": true])
        try env.setHands(player: [card(1), card(13)], dealer: [card(10), card(9)])
        XCTAssertEqual(env.step(act("stand")).reward, 1)       // sab overrides natural
        try env.setHands(player: [card(1), card(13)], dealer: [card(10), card(5)])
        env.riggedDraws = [card(6)]                            // dealer reaches 21 with 3 cards
        XCTAssertEqual(env.step(act("stand")).reward, 1)       // natural beats a non-natural 21 under sab
        try env.setHands(player: [card(1), card(13)], dealer: [card(1), card(12)])
        XCTAssertEqual(env.step(act("stand")).reward, 0)
    }

    func testBasicStrategy() {
        XCTAssertEqual(BlackjackStrategy.action(total: 16, soft: false, dealerUp: 10), "hit")
        XCTAssertEqual(BlackjackStrategy.action(total: 16, soft: false, dealerUp: 6), "stand")
        XCTAssertEqual(BlackjackStrategy.action(total: 12, soft: false, dealerUp: 2), "hit")
        XCTAssertEqual(BlackjackStrategy.action(total: 12, soft: false, dealerUp: 4), "stand")
        XCTAssertEqual(BlackjackStrategy.action(total: 18, soft: true, dealerUp: 1), "hit")
        XCTAssertEqual(BlackjackStrategy.action(total: 18, soft: true, dealerUp: 8), "stand")
        XCTAssertEqual(BlackjackStrategy.action(total: 17, soft: true, dealerUp: 7), "hit")
        XCTAssertEqual(BlackjackStrategy.action(total: 11, soft: false, dealerUp: 1), "hit")
        XCTAssertEqual(BlackjackStrategy.action(total: 17, soft: false, dealerUp: 1), "stand")
    }

    func testSolverBeatsRandomAndDealDistribution() throws {
        let solver = try Demos.evaluateSolver(env: "Blackjack", episodes: 4000, seed: 5)
        // basic strategy loses about 4-5% per hand here; random play loses about 30-40%
        XCTAssertGreaterThan(solver.meanReturn, -0.12)
        let env = try make(["obs_mode": "text"])
        var total = 0.0
        var tens = 0, cards = 0
        var rng = Xoshiro256(seed: 21)
        for i in 0..<4000 {
            _ = env.reset(seed: UInt64(i))
            for c in env.player + env.dealer { cards += 1; if c.blackjackValue == 10 { tens += 1; XCTAssertTrue(c.rank >= 11) } }
            while true { let r = try env.step(action: env.actionSpace[Int.random(in: 0...1, using: &rng)]); if r.done { total += r.reward; break } }
        }
        XCTAssertLessThan(total / 4000, -0.2)
        XCTAssertEqual(Double(tens) / Double(cards), 4.0 / 13, accuracy: 0.02)
    }
}
