import XCTest
@testable import MoonEnvs

func card(_ rank: Int, _ suit: Suit = .spades) -> Card { Card(rank: rank, suit: suit) }
func act(_ a: String) -> String { "{\"thoughts\": \"...\", \"action\": \"\(a)\"}" }

final class FormulaEvalTests: XCTestCase {
    func testPythonSemantics() {
        XCTAssertEqual(FormulaEval.evaluate("(10+2)*2"), 24)
        XCTAssertEqual(FormulaEval.evaluate("6 +6"), 12)        // blanks are whitespace
        XCTAssertNil(FormulaEval.evaluate("6 6"))                // syntax error
        XCTAssertEqual(FormulaEval.evaluate("24"), 24)           // digits concatenate
        XCTAssertEqual(FormulaEval.evaluate("2**3"), 8)          // two "*" = power
        XCTAssertEqual(FormulaEval.evaluate("7//2"), 3)          // two "/" = floor division
        XCTAssertEqual(FormulaEval.evaluate("-2**2"), -4)
        XCTAssertEqual(FormulaEval.evaluate("2**-1"), 0.5)
        XCTAssertEqual(FormulaEval.evaluate("--3"), 3)
        XCTAssertNil(FormulaEval.evaluate("1/0"))
        XCTAssertNil(FormulaEval.evaluate(""))
        XCTAssertNil(FormulaEval.evaluate("()"))
        XCTAssertNil(FormulaEval.evaluate("(2)(3)"))
        XCTAssertNil(FormulaEval.evaluate("(2+3"))
        XCTAssertNil(FormulaEval.evaluate("2+"))
        XCTAssertEqual(FormulaEval.evaluate("8/(3-8/3)")!, 23.999999999999996, accuracy: 1e-12)
        XCTAssertNotEqual(FormulaEval.evaluate("8/(3-8/3)"), 24)  // as Python: not == 24
        XCTAssertEqual(FormulaEval.evaluate(" ( 1 + 2 ) "), 3)
    }
}

final class EZPointsTests: XCTestCase {
    func make(_ opts: EnvOptions = [:]) throws -> EZPointsEnv { try EnvRegistry.make("EZPoints", options: opts) as! EZPointsEnv }

    func testCorrectFormula() throws {
        let env = try make()
        try env.setHand([card(6, .hearts), card(2, .clubs)])
        XCTAssertEqual(env.step(act("6")).reward, 0)
        XCTAssertEqual(env.step(act("*")).reward, 0)
        XCTAssertEqual(env.step(act("2")).reward, 0)
        XCTAssertEqual(env.formulaText, "6*2")
        let r = env.step(act("="))
        XCTAssertEqual(r.reward, 10); XCTAssertTrue(r.terminated); XCTAssertFalse(r.truncated); XCTAssertTrue(r.info.success)
    }

    func testWrongAndIncompleteFormula() throws {
        let env = try make()
        try env.setHand([card(6), card(2)])
        for a in ["6", "+", "2"] { _ = env.step(act(a)) }
        var r = env.step(act("="))
        XCTAssertEqual(r.reward, -1); XCTAssertTrue(r.terminated); XCTAssertFalse(r.info.success)
        // 12 from a single card is not enough: both cards must be used
        try env.setHand([card(12), card(2)])  // Q counts 10
        for a in ["10", "+", "2"] { _ = env.step(act(a)) }
        XCTAssertEqual(env.step(act("=")).reward, 10)
        try env.setHand([card(6), card(6)])
        _ = env.step(act("6"))
        r = env.step(act("="))
        XCTAssertEqual(r.reward, -1)
    }

    func testInvalidNumberAppendsBlank() throws {
        let env = try make()
        try env.setHand([card(6), card(2)])
        var r = env.step(act("5"))
        XCTAssertEqual(r.reward, -1); XCTAssertFalse(r.done); XCTAssertTrue(r.info.invalid); XCTAssertFalse(r.info.illegal)
        XCTAssertEqual(env.formula, [" "])
        _ = env.step(act("6"))
        r = env.step(act("6"))  // used more often than it appears
        XCTAssertEqual(r.reward, -1); XCTAssertTrue(r.info.invalid)
        XCTAssertEqual(env.formula, [" ", "6", " "])
        XCTAssertEqual(r.info.extra["formula"], " 6 ")
        // the blank is whitespace in the evaluation: " 6 +2" → no, 6+ 2... build 6*2 with a blank inside
        try env.setHand([card(6), card(2)])
        for a in ["6", "*", "9", "2"] { _ = env.step(act(a)) }
        XCTAssertEqual(env.formulaText, "6* 2")
        XCTAssertEqual(env.step(act("=")).reward, 10)
    }

    func testTruncation() throws {
        let env = try make()
        try env.setHand([card(6), card(2)])
        for _ in 0..<6 { let r = env.step(act("+")); XCTAssertEqual(r.reward, 0); XCTAssertFalse(r.done) }
        XCTAssertEqual(env.formula.count, 6)
        let r = env.step(act("="))  // formula longer than 5: truncated before evaluating
        XCTAssertEqual(r.reward, -1); XCTAssertTrue(r.truncated); XCTAssertFalse(r.terminated)
    }

    func testInitialDistribution() throws {
        let env = try make(["obs_mode": "text"])
        var products = 0, swapped = 0, firstFace = 0
        let n = 4000
        for i in 0..<n {
            _ = env.reset(seed: UInt64(i))
            let v = env.numbers
            XCTAssertEqual(v.count, 2)
            XCTAssertTrue(v[0] + v[1] == 12 || v[0] * v[1] == 12, "\(v)")
            XCTAssertTrue(env.cards.allSatisfy { $0.rank >= 2 })
            if v[0] * v[1] == 12 && v[0] + v[1] != 12 { products += 1 }
            if env.cards[1].rank > 10 { swapped += 1; firstFace += 1 }
            XCTAssertTrue(env.isSolvable)
        }
        // P(product) = P(first in {2,3,4,6}) * 0.5 = 4/12 * 0.5 = 1/6 (6*2 vs 6+6: 6 gives 6+6 or 6*2)
        XCTAssertEqual(Double(products) / Double(n), 1.0 / 6.0, accuracy: 0.03)
        // a face card (J/Q/K, always the first drawn) lands second half of the time: 3/12 * 0.5
        XCTAssertEqual(Double(swapped) / Double(n), 0.125, accuracy: 0.025)
    }

    func testSolverAndIllegal() throws {
        let env = try make()
        for s in 0..<50 {
            _ = env.reset(seed: UInt64(s))
            var total = 0.0
            while true { let r = env.step(env.solverResponse()); total += r.reward; XCTAssertFalse(r.info.illegal); if r.done { XCTAssertTrue(r.info.success); break } }
            XCTAssertEqual(total, 10)
        }
        // illegal answer: random action, flagged
        _ = env.reset(seed: 1)
        let r = env.step("I don't know")
        XCTAssertTrue(r.info.illegal); XCTAssertNil(r.info.parsedAction); XCTAssertNotNil(r.info.action)
    }

    func testInvalidPenaltyMode() throws {
        let env = try make(["invalid_penalty": true])
        try env.setHand([card(6), card(2)])
        let r = env.step("no action here")
        XCTAssertEqual(r.reward, -1); XCTAssertTrue(r.info.illegal); XCTAssertTrue(r.info.invalid); XCTAssertNil(r.info.action)
        XCTAssertEqual(env.formula, [" "])
    }
}

final class Points24Tests: XCTestCase {
    func make(_ opts: EnvOptions = [:]) throws -> Points24Env { try EnvRegistry.make("Points24", options: opts) as! Points24Env }

    func testCorrectFormula() throws {
        let env = try make()
        try env.setHand([card(4), card(7), card(8), card(8)])
        // 4*(7-8/8) = 24
        for a in ["4", "*", "(", "7", "-", "8", "/", "8", ")"] { XCTAssertEqual(env.step(act(a)).reward, 0) }
        let r = env.step(act("="))
        XCTAssertEqual(r.reward, 10); XCTAssertTrue(r.terminated); XCTAssertTrue(r.info.success)
    }

    func testWrongUnusedAndUnparsable() throws {
        let env = try make()
        try env.setHand([card(4), card(7), card(8), card(8)])
        for a in ["4", "+", "7", "+", "8", "+", "8"] { _ = env.step(act(a)) }
        XCTAssertEqual(env.step(act("=")).reward, -1)          // 27
        try env.setHand([card(3), card(8), card(1), card(1)])
        for a in ["3", "*", "8"] { _ = env.step(act(a)) }
        XCTAssertEqual(env.step(act("=")).reward, -1)          // 24 but two cards unused
        try env.setHand([card(3), card(8), card(1), card(1)])
        for a in ["3", "*", "8", "*", "1", "*", "1", ")"] { _ = env.step(act(a)) }
        XCTAssertEqual(env.step(act("=")).reward, -1)          // does not parse
        try env.setHand([card(3), card(8), card(1), card(1)])
        for a in ["3", "*", "8", "*", "1", "*", "1"] { _ = env.step(act(a)) }
        XCTAssertEqual(env.step(act("=")).reward, 10)
        try env.setHand([card(3), card(8), card(1), card(1)])
        XCTAssertEqual(env.step(act("=")).reward, -1)          // empty formula
    }

    func testFaceCardsAndInvalidNumber() throws {
        let env = try make()
        try env.setHand([card(13), card(12), card(2), card(2)])
        XCTAssertEqual(env.numbers, [10, 10, 2, 2])
        var r = env.step(act("13"))  // "13" contains "1" and "3": two actions → illegal, random substitute
        XCTAssertTrue(r.info.illegal)
        try env.setHand([card(13), card(12), card(2), card(2)])
        r = env.step(act("5"))
        XCTAssertEqual(r.reward, -1); XCTAssertTrue(r.info.invalid); XCTAssertEqual(env.formula, [" "])
        for a in ["10", "+", "10", "+", "2", "+", "2"] { _ = env.step(act(a)) }
        r = env.step(act("="))
        XCTAssertEqual(r.reward, 10)
        let full = try make(["treat_face_cards_as_10": false])
        XCTAssertEqual(full.actionSpace.count, 20)
        try full.setHand([card(13), card(11), card(1), card(1)])
        XCTAssertEqual(full.numbers, [13, 11, 1, 1])
        XCTAssertEqual(try full.step(action: "13").reward, 0)
        XCTAssertEqual(try full.step(action: "10").reward, -1)
    }

    func testTruncationAfterTwentyElements() throws {
        let env = try make()
        try env.setHand([card(1), card(2), card(3), card(4)])
        for i in 0..<21 { let r = env.step(act("(")); XCTAssertFalse(r.done, "step \(i)"); XCTAssertEqual(r.reward, 0) }
        XCTAssertEqual(env.formula.count, 21)
        let r = env.step(act("="))
        XCTAssertEqual(r.reward, -1); XCTAssertTrue(r.truncated); XCTAssertFalse(r.terminated)
        XCTAssertTrue(env.isDone)
        let again = env.step(act("+"))  // after the end: no crash, reward 0
        XCTAssertEqual(again.reward, 0); XCTAssertNotNil(again.info.extra["error"])
    }

    func testSolverKnownHands() {
        XCTAssertNil(FormulaSolver.solve(numbers: [1, 1, 1, 1]))
        for hand in [[4, 7, 8, 8], [1, 2, 3, 4], [3, 3, 8, 8], [10, 10, 4, 4], [1, 5, 5, 5], [6, 6, 6, 6], [2, 2, 10, 10]] {
            let sols = FormulaSolver.allSolutions(numbers: hand, target: 24, operators: ["+", "-", "*", "/"], allowParens: true)
            guard let s = sols.first else {
                // 3,3,8,8 is only solvable as 8/(3-8/3), which floating point does not make exactly 24
                XCTAssertEqual(hand, [3, 3, 8, 8]); continue
            }
            for sol in sols.prefix(50) {
                XCTAssertEqual(FormulaEval.evaluate(tokens: sol), 24, "\(hand) \(sol)")
                let nums = sol.compactMap { Int($0) }.sorted()
                XCTAssertEqual(nums, hand.sorted(), "each card once: \(sol)")
            }
            XCTAssertLessThanOrEqual(s.count, 20)
        }
        XCTAssertNotNil(FormulaSolver.solve(numbers: [4, 7, 8, 8]))
        XCTAssertNil(FormulaSolver.solve(numbers: [3, 3, 8, 8]))
        XCTAssertNil(FormulaSolver.solve(numbers: [1, 1, 2, 2]))
        // 1,5,5,5: 5*(5-1/5) is exact in floats
        XCTAssertNotNil(FormulaSolver.solve(numbers: [1, 5, 5, 5]))
    }

    func testSolverRolloutsInEnv() throws {
        let env = try make(["obs_mode": "text"])
        var solvable = 0
        for s in 0..<60 {
            _ = env.reset(seed: UInt64(s))
            let ok = env.isSolvable
            if ok { solvable += 1 }
            var total = 0.0, success = false
            while true { let r = env.step(env.solverResponse()); total += r.reward; if r.done { success = r.info.success; break } }
            XCTAssertEqual(success, ok)
            XCTAssertEqual(total, ok ? 10 : -1)
        }
        XCTAssertGreaterThan(solvable, 20)
    }

    func testTeacherContinuesFromPrefix() throws {
        let env = try make()
        try env.setHand([card(4), card(7), card(8), card(8)])
        _ = env.step(act("8"))
        let a = env.solverAction()
        XCTAssertTrue(env.actionSpace.contains(a))
        XCTAssertNotEqual(a, "=")
        try env.setHand([card(1), card(1), card(1), card(1)])
        XCTAssertEqual(env.solverAction(), "=")
        XCTAssertTrue(env.solverResponse().contains("No formula"))
    }

    func testInitialDistribution() throws {
        let env = try make(["obs_mode": "text"])
        var ranks = [Int](repeating: 0, count: 14), suits = [Int](repeating: 0, count: 4)
        for i in 0..<2000 {
            _ = env.reset(seed: UInt64(i))
            for c in env.cards { ranks[c.rank] += 1; suits[c.suit.rawValue] += 1 }
            XCTAssertEqual(env.numbers, env.cards.map { min($0.rank, 10) })
        }
        for r in 1...13 { XCTAssertEqual(Double(ranks[r]) / 8000, 1.0 / 13, accuracy: 0.015) }
        for s in 0..<4 { XCTAssertEqual(Double(suits[s]) / 8000, 0.25, accuracy: 0.02) }
    }
}
