import XCTest
import Foundation
@testable import MoonEnvs

/// Household env speed (text only, one core) and the expert's success on 1,000 seeded tasks of each type, run by
/// scripts/bench-envs:   MOONLAB_BENCH=1 swift test -c release --filter HouseholdBenchmarkTests
/// Skipped unless MOONLAB_BENCH=1.
final class HouseholdBenchmarkTests: XCTestCase {
    func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
    /// CPU time of this thread: on a shared machine the wall clock also counts time spent waiting for a core.
    func cpuNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
    }

    enum Mode { case answer, command, typed }

    /// Random admissible commands (as a policy that always answers in format would), episodes auto-reset.
    func bench(_ mode: Mode, seconds: Double) throws -> (stepsPerSecond: Double, stepsPerCPUSecond: Double) {
        let env = try EnvRegistry.make("household", options: ["obs_mode": "text", "seed": 1]) as! HouseholdEnv
        var rng = EnvRandom(seed: 1)
        var steps = 0, checksum = 0
        let t0 = now(), c0 = cpuNow()
        var t = t0
        while t - t0 < seconds {
            for _ in 0..<200 {
                let cmds = env.admissible
                let c = cmds[rng.index(cmds.count)]
                let r: StepResult
                switch mode {
                case .answer:
                    r = env.step("{\"thoughts\": \"benchmark\", \"action\": \"" + HouseholdText.command(c, env.world) + "\"}")
                case .command:
                    r = try env.step(action: HouseholdText.command(c, env.world))
                case .typed:
                    r = env.step(command: c)
                }
                checksum &+= r.observation.prompt.utf8.count
                steps += 1
                if r.done { _ = env.reset(seed: nil) }
            }
            t = now()
        }
        XCTAssertGreaterThan(checksum, 0)
        return (Double(steps) / (t - t0), Double(steps) / (cpuNow() - c0))
    }

    func testBenchmarkHousehold() throws {
        guard ProcessInfo.processInfo.environment["MOONLAB_BENCH"] == "1" else { throw XCTSkip("set MOONLAB_BENCH=1") }
        let secs = Double(ProcessInfo.processInfo.environment["MOONLAB_BENCH_SECONDS"] ?? "1.5") ?? 1.5
        let a = try bench(.answer, seconds: secs)
        let c = try bench(.command, seconds: secs)
        let k = try bench(.typed, seconds: secs)
        print(String(format: "envs: Household steps/s %.0f (text only, JSON answer parsed, prompt + info built; per CPU-second of the thread; wall clock %.0f)", a.stepsPerCPUSecond, a.stepsPerSecond))
        print(String(format: "envs: Household steps/s %.0f (text only, command text; wall clock %.0f)", c.stepsPerCPUSecond, c.stepsPerSecond))
        print(String(format: "envs: Household steps/s %.0f (text only, typed command; wall clock %.0f)", k.stepsPerCPUSecond, k.stepsPerSecond))
        // episode generation (room, task, and the expert check that the task is solvable within 50 steps)
        var rng = EnvRandom(seed: 2)
        let t0 = now(), c0 = cpuNow()
        var n = 0
        while now() - t0 < secs { _ = HouseholdGenerator.generate(task: nil, room: nil, rng: &rng); n += 1 }
        print(String(format: "envs: Household resets/s %.0f (generation incl. the solvability check, per CPU-second)", Double(n) / (cpuNow() - c0)))
        // the expert on 1,000 seeded tasks of each type, through the text interface
        for type in HouseholdTaskType.allCases {
            let env = try EnvRegistry.make("household", options: ["task": .string(type.rawValue), "obs_mode": "text"])
            var wins = 0, steps = 0
            for ep in 0..<1000 {
                _ = env.reset(seed: EnvRandom.derive(1234, UInt64(ep)))
                while true {
                    let r = env.step(env.solverResponse())
                    steps += 1
                    if r.done { if r.info.success { wins += 1 }; break }
                }
            }
            XCTAssertEqual(wins, 1000, type.rawValue)
            print(String(format: "envs: Household expert %@ %d/1000 solved, %.1f steps per episode", type.rawValue, wins, Double(steps) / 1000))
        }
    }
}
