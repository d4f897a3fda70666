import XCTest
import Foundation
import MoonEnvs

/// Steps per second of each env (parsing + step + rendering), run by scripts/bench-envs:
///   MOONLAB_BENCH=1 swift test -c release --filter EnvBenchmarkTests
/// Skipped unless MOONLAB_BENCH=1. Answers are random well-formed responses; episodes auto-reset.
final class EnvBenchmarkTests: XCTestCase {
    func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }

    func bench(_ name: String, options: EnvOptions, seconds: Double, parse: Bool) throws -> Double {
        let env = try EnvRegistry.make(name, options: options)
        let actions = env.actionSpace
        let responses = actions.map { "{\"thoughts\": \"benchmark\", \"action\": \"\($0)\"}" }
        var rng = EnvRandom(seed: 1)
        _ = env.reset(seed: 1)
        var steps = 0
        var checksum = 0
        let t0 = now()
        var t = t0
        while t - t0 < seconds {
            for _ in 0..<200 {
                let k = rng.index(actions.count)
                let r = try parse ? env.step(responses[k]) : env.step(action: actions[k])
                checksum &+= Int(r.observation.image?.pixels[0] ?? 0)
                steps += 1
                if r.done { _ = env.reset(seed: nil) }
            }
            t = now()
        }
        XCTAssertGreaterThan(checksum, -1)
        return Double(steps) / (t - t0)
    }

    func testBenchmarkEnvs() throws {
        guard ProcessInfo.processInfo.environment["MOONLAB_BENCH"] == "1" else { throw XCTSkip("set MOONLAB_BENCH=1") }
        let secs = Double(ProcessInfo.processInfo.environment["MOONLAB_BENCH_SECONDS"] ?? "1.5") ?? 1.5
        for name in EnvRegistry.names {
            let s300 = try bench(name, options: ["size": 300], seconds: secs, parse: true)
            let s64 = try bench(name, options: ["size": 64], seconds: secs, parse: true)
            let text = try bench(name, options: ["obs_mode": "text"], seconds: secs, parse: true)
            print(String(format: "envs: %@ steps/s %.0f (300x300 image, parse+step+render)", name, s300))
            print(String(format: "envs: %@ steps/s %.0f (64x64 image)", name, s64))
            print(String(format: "envs: %@ steps/s %.0f (text only)", name, text))
        }
        // solver cost (Points24: exhaustive search once per hand, cached for the episode)
        let env = try EnvRegistry.make("Points24", options: ["obs_mode": "text"])
        let t0 = now()
        var n = 0
        while now() - t0 < secs { _ = env.reset(seed: nil); _ = env.solverResponse(); n += 1 }
        print(String(format: "envs: Points24 solver hands/s %.0f", Double(n) / (now() - t0)))
        // exact fraction of deals (ranks uniform 1..13) that the solver can solve
        for faces in [true, false] {
            var solvable = 0, total = 0
            for a in 1...13 { for b in 1...13 { for c in 1...13 { for d in 1...13 {
                let nums = [a, b, c, d].map { faces ? min($0, 10) : $0 }
                if FormulaSolver.solve(numbers: nums) != nil { solvable += 1 }
                total += 1
            } } } }
            print(String(format: "envs: Points24 solvable fraction %.4f (treat_face_cards_as_10 = %@)", Double(solvable) / Double(total), faces ? "true" : "false"))
        }
    }
}
