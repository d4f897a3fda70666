import XCTest
@testable import MoonEnvs

final class ResponseFormatTests: XCTestCase {
    func testSplit() {
        let r = "{\"thoughts\": \"say \\\"action\\\": no\", \"action\": \"hit\"}"
        let s = ResponseFormat.split(r)
        XCTAssertTrue(s.hasActionKey)
        XCTAssertEqual(s.action, "\"action\": \"hit\"}")
        XCTAssertEqual(s.thought + s.action, r)
        XCTAssertEqual(ResponseFormat.actionKeyByteOffset("é\"action\":"), 2)  // bytes, not characters
        let two = "\"action\": \"+\" then \"action\": \"-\""
        XCTAssertEqual(ResponseFormat.split(two).action, "\"action\": \"-\"")  // last occurrence
        let none = ResponseFormat.split("no key here")
        XCTAssertFalse(none.hasActionKey); XCTAssertEqual(none.thought, "no key here"); XCTAssertEqual(none.action, "")
    }

    func testCheck() throws {
        let env = try EnvRegistry.make("Points24")
        let demo = env.solverResponse()
        let c = ResponseFormat.check(demo, env: "Points24", actions: env.actionSpace)
        XCTAssertTrue(c.wellFormed, demo); XCTAssertTrue(c.actionValid); XCTAssertEqual(c.missingKeys, [])
        XCTAssertNotNil(c.fields["thoughts"])
        let bad = ResponseFormat.check("{\"thoughts\": \"x\", \"action\": \"+\"}", env: "Points24", actions: env.actionSpace)
        XCTAssertFalse(bad.wellFormed); XCTAssertEqual(bad.missingKeys, ["cards", "current formula"]); XCTAssertTrue(bad.actionValid)
        XCTAssertFalse(ResponseFormat.check("{\"thoughts\": \"x\", \"action\": ", env: "Blackjack", actions: ["stand", "hit"]).wellFormed)
        let wrapped = ResponseFormat.check("<s> {\"thoughts\": \"x\", \"action\": \"Stand\"} </s>", env: "Blackjack", actions: ["stand", "hit"])
        XCTAssertTrue(wrapped.wellFormed); XCTAssertTrue(wrapped.actionValid)
        XCTAssertFalse(ResponseFormat.check("{\"thoughts\": \"x\", \"action\": \"hit or stand\"}", env: "Blackjack", actions: ["stand", "hit"]).actionValid)
        for name in EnvRegistry.names {
            let e = try EnvRegistry.make(name)
            XCTAssertTrue(ResponseFormat.check(e.solverResponse(), env: name, actions: e.actionSpace).wellFormed, name)
        }
    }
}

final class VectorActionsTests: XCTestCase {
    func testStepActions() throws {
        let v = try VectorEnv(name: "Blackjack", count: 3, options: ["obs_mode": "text"], seed: 2)
        let rs = try v.step(actions: ["stand", "stand", "stand"])
        XCTAssertTrue(rs.allSatisfy { $0.done && !$0.info.illegal })
        XCTAssertEqual(v.drainStats().count, 3)
        XCTAssertThrowsError(try v.step(actions: ["stand", "fold", "hit"]))
        print("envs: solve 4,7,8,8 -> \(FormulaSolver.solve(numbers: [4, 7, 8, 8])!.joined(separator: " "))")
    }
}
