import XCTest
@testable import MoonEnvs

/// Prints sample demonstrations when MOONLAB_PRINT_DEMOS=1 (for eyeballing the teacher's answers).
final class DemoPrintTests: XCTestCase {
    func testPrintDemos() throws {
        guard ProcessInfo.processInfo.environment["MOONLAB_PRINT_DEMOS"] == "1" else { throw XCTSkip("set MOONLAB_PRINT_DEMOS=1") }
        for name in EnvRegistry.names {
            for d in try Demos.generate(env: name, n: 6, options: ["obs_mode": "text"], seed: 3) {
                print("--- \(name) ep \(d.episode) step \(d.step) reward \(d.reward)\n\(d.observation.stateText)\n\(d.response)")
            }
        }
        let env = try EnvRegistry.make("Points24") as! Points24Env
        try env.setHand([Card(rank: 4, suit: .hearts), Card(rank: 7, suit: .clubs), Card(rank: 8, suit: .spades), Card(rank: 8, suit: .diamonds)])
        for a in ["8", "+"] { _ = try env.step(action: a) }
        print("--- off-plan prefix 8+\n" + env.solverResponse())
        for a in ["8", "+"] { _ = try env.step(action: a) }
        print("--- dead end 8+8+\n" + env.solverResponse())
        print("--- prompt\n" + env.currentObservation().prompt)
    }
}
