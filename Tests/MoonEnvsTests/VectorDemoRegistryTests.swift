import XCTest
@testable import MoonEnvs

final class RegistryTests: XCTestCase {
    func testNamesAndAliases() throws {
        XCTAssertEqual(try EnvRegistry.make("points24").name, "Points24")
        XCTAssertEqual(try EnvRegistry.make("gym_cards/NumberLine-v0").name, "NumberLine")
        XCTAssertEqual(try EnvRegistry.make("Blackjack").actionSpace, ["stand", "hit"])
        XCTAssertEqual(try EnvRegistry.make("EZPoints").actionSpace, ["1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "+", "*", "="])
        XCTAssertEqual(try EnvRegistry.make("Points24").actionSpace.count, 17)
        XCTAssertEqual(try EnvRegistry.make("NumberLine", options: ["size": 128]).reset(seed: 1).image?.width, 128)
    }

    func testBadOptionsThrow() {
        func message(_ name: String, _ o: EnvOptions) -> String {
            do { _ = try EnvRegistry.make(name, options: o); return "no error" } catch { return "\(error)" }
        }
        XCTAssertTrue(message("Nope", [:]).contains("unknown env 'Nope'"))
        XCTAssertTrue(message("NumberLine", ["max_positon": 5]).contains("unknown option 'max_positon'"))
        XCTAssertTrue(message("NumberLine", ["max_position": 1]).contains("max_position"))
        XCTAssertTrue(message("NumberLine", ["max_position": 2.5]).contains("expected an integer"))
        XCTAssertTrue(message("NumberLine", ["max_position": "five"]).contains("max_position"))
        XCTAssertTrue(message("Points24", ["treat_face_cards_as_10": 1]).contains("expected a boolean"))
        XCTAssertTrue(message("Points24", ["natural": true]).contains("unknown option 'natural'"))
        XCTAssertTrue(message("EZPoints", ["target": 99]).contains("out of range"))
        XCTAssertTrue(message("Blackjack", ["size": 8]).contains("'size'"))
        XCTAssertTrue(message("Blackjack", ["obs_mode": "pixels"]).contains("obs_mode"))
        XCTAssertTrue(message("Blackjack", ["seed": -1]).contains("seed"))
        XCTAssertEqual(message("NumberLine", ["max_position": 5.0]), "no error")
        XCTAssertEqual(message("Points24", ["target": 10, "treat_face_cards_as_10": false, "invalidPenalty": true]), "no error")
    }

    func testOtherTargets() throws {
        let ez = try EnvRegistry.make("EZPoints", options: ["target": 7, "obs_mode": "text"]) as! EZPointsEnv
        for s in 0..<200 {
            _ = ez.reset(seed: UInt64(s))
            XCTAssertTrue(ez.numbers[0] + ez.numbers[1] == 7 || ez.numbers[0] * ez.numbers[1] == 7)
            XCTAssertTrue(ez.isSolvable)
        }
        XCTAssertTrue(ez.currentObservation().prompt.contains("evaluates to 7"))
        let p = try EnvRegistry.make("Points24", options: ["target": 10]) as! Points24Env
        try p.setHand([card(1), card(2), card(3), card(4)])
        for a in ["1", "+", "2", "+", "3", "+", "4"] { _ = try p.step(action: a) }
        XCTAssertEqual(try p.step(action: "=").reward, 10)
    }

    func testMaxEpisodeSteps() throws {
        let env = try EnvRegistry.make("Blackjack", options: ["invalid_penalty": true, "max_episode_steps": 3])
        _ = env.reset(seed: 0)
        for _ in 0..<2 { XCTAssertFalse(env.step("???").done) }
        let r = env.step("???")
        XCTAssertTrue(r.truncated); XCTAssertTrue(r.info.timeLimit)
    }

    func testSeeding() throws {
        let a = try EnvRegistry.make("Points24", options: ["seed": 5, "obs_mode": "text"]) as! Points24Env
        let b = try EnvRegistry.make("Points24", options: ["seed": 5, "obs_mode": "text"]) as! Points24Env
        XCTAssertEqual(a.cards, b.cards)
        _ = a.reset(seed: nil); _ = b.reset(seed: nil)
        XCTAssertEqual(a.cards, b.cards)
        _ = a.reset(seed: 9); let c1 = a.cards
        _ = a.reset(seed: 9); XCTAssertEqual(a.cards, c1)
    }
}

final class VectorEnvTests: XCTestCase {
    func testAutoResetAndStats() throws {
        let v = try VectorEnv(name: "NumberLine", count: 4, options: ["obs_mode": "text"], seed: 3)
        XCTAssertEqual(v.observations.count, 4)
        var finished: [EpisodeStats] = []
        var steps = 0
        while finished.count < 20 && steps < 1000 {
            let rs = try v.step(v.solverResponses())
            for (i, r) in rs.enumerated() where r.done {
                XCTAssertNotNil(v.finalObservations[i])
                XCTAssertNotNil(r.info.extra["final_observation_state"])
                // auto-reset: the env is playable again
                XCTAssertFalse(v.envs[i].isDone)
            }
            finished += v.drainStats()
            steps += 1
        }
        XCTAssertGreaterThanOrEqual(finished.count, 20)
        for e in finished {
            XCTAssertTrue(e.success)
            XCTAssertEqual(e.episodeReturn, 1)       // the solver only moves closer: 0 ... 0, +1
            XCTAssertGreaterThanOrEqual(e.length, 1)
            XCTAssertEqual(e.illegalCount, 0)
        }
        let s = VectorEnv.summarize(finished)
        XCTAssertEqual(s.successRate, 1)
        XCTAssertEqual(v.drainStats().count, 0)
    }

    func testStatsOfFailures() throws {
        let v = try VectorEnv(name: "EZPoints", count: 2, options: ["obs_mode": "text"], seed: 1)
        // "=" at once: −1, done, not success
        let rs = try v.step(["\"action\": \"=\"", "bad"])
        XCTAssertTrue(rs[0].done); XCTAssertEqual(rs[0].reward, -1)
        XCTAssertTrue(rs[1].info.illegal)
        let st = v.drainStats()
        XCTAssertTrue(st.contains { $0.env == 0 && !$0.success && $0.episodeReturn == -1 && $0.length == 1 })
    }

    func testSeedsDifferPerEnvAndReproduce() throws {
        let a = try VectorEnv(name: "Points24", count: 3, options: ["obs_mode": "text"], seed: 7)
        let b = try VectorEnv(name: "Points24", count: 3, options: ["obs_mode": "text"], seed: 7)
        XCTAssertEqual(a.observations.map { $0.stateText }, b.observations.map { $0.stateText })
        XCTAssertEqual(Set(a.observations.map { $0.stateText }).count, 3)
        let ra = try a.step(["x", "y", "z"]), rb = try b.step(["x", "y", "z"])
        XCTAssertEqual(ra.map { $0.info.action }, rb.map { $0.info.action })
    }
}

final class DemoTests: XCTestCase {
    func testDemosAllEnvs() throws {
        for name in EnvRegistry.names {
            let demos = try Demos.generate(env: name, n: 40, options: ["size": 64], seed: 1)
            XCTAssertEqual(demos.count, 40)
            for d in demos {
                XCTAssertNotNil(d.observation.image)
                // the response parses back to the demo's action
                let env = try EnvRegistry.make(name)
                XCTAssertEqual(ActionParser.parse(d.response, actions: env.actionSpace, cardTask: name == "EZPoints" || name == "Points24"), d.action, d.response)
                XCTAssertTrue(d.response.contains("\"thoughts\": "))
            }
            if name != "Blackjack" {
                // every finished demo episode of the solvable tasks succeeds
                for d in demos where d.done { XCTAssertGreaterThan(d.reward, 0, "\(name): \(d.response)") }
            }
        }
        let p = try Demos.generate(env: "Points24", n: 5, seed: 2)
        XCTAssertTrue(p[0].response.hasPrefix("{\n \"cards\": ["))
        XCTAssertTrue(p[0].response.contains("\"current formula\": \"\""))
        XCTAssertEqual(p[0].step, 0)
    }

    func testSolverRates() throws {
        let p24 = try Demos.evaluateSolver(env: "Points24", episodes: 300, seed: 4)
        XCTAssertEqual(p24.successRate, p24.solvableFraction!, accuracy: 1e-9)
        XCTAssertGreaterThan(p24.solvableFraction!, 0.6)
        XCTAssertEqual(try Demos.evaluateSolver(env: "EZPoints", episodes: 100).successRate, 1)
        XCTAssertEqual(try Demos.evaluateSolver(env: "NumberLine", episodes: 100).successRate, 1)
        print("envs: solver Points24 solvable fraction \(p24.solvableFraction!)")
    }
}

final class APIErrorTests: XCTestCase {
    func testThrowingSetters() throws {
        let p = try EnvRegistry.make("Points24") as! Points24Env
        XCTAssertThrowsError(try p.setHand([card(1)]))
        XCTAssertThrowsError(try p.step(action: "11")) { e in XCTAssertTrue("\(e)".contains("'11' is not an action")) }
        let n = try EnvRegistry.make("NumberLine") as! NumberLineEnv
        XCTAssertThrowsError(try n.setState(current: 9, target: 1))
        let v = try VectorEnv(name: "Blackjack", count: 2)
        XCTAssertThrowsError(try v.step(["hit"]))
        XCTAssertThrowsError(try VectorEnv(name: "Blackjack", count: 0))
    }

    func testCardCodes() {
        XCTAssertEqual(Card(code: "H10"), Card(rank: 10, suit: .hearts))
        XCTAssertEqual(Card(code: "ct"), Card(rank: 10, suit: .clubs))
        XCTAssertEqual(Card(code: "SA")?.label, "A")
        XCTAssertEqual(Card(code: "DK")?.code, "DK")
        XCTAssertNil(Card(code: "X5")); XCTAssertNil(Card(code: "H14")); XCTAssertNil(Card(code: ""))
    }
}
