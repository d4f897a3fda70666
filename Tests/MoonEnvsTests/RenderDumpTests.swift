import XCTest
@testable import MoonEnvs

/// Writes sample frames as PNGs to $MOONLAB_DUMP (a directory) for eyeballing; skipped otherwise.
final class RenderDumpTests: XCTestCase {
    func testDumpFrames() throws {
        guard let dir = ProcessInfo.processInfo.environment["MOONLAB_DUMP"] else { throw XCTSkip("set MOONLAB_DUMP=dir") }
        for name in EnvRegistry.names {
            for size in [64, 300] {
                let env = try EnvRegistry.make(name, options: ["size": .int(size), "seed": 3])
                _ = env.reset(seed: 7)
                var obs = env.currentObservation()
                for k in 0..<4 {
                    try PNG.write(obs.image!, to: "\(dir)/\(name)-\(size)-\(k).png")
                    let r = env.step(env.solverResponse())
                    obs = r.observation
                    if r.done { break }
                }
            }
        }
        for size in [64, 300] {
            let p = try EnvRegistry.make("Points24", options: ["size": .int(size)]) as! Points24Env
            try p.setHand([Card(rank: 10, suit: .hearts), Card(rank: 4, suit: .spades), Card(rank: 1, suit: .diamonds), Card(rank: 13, suit: .clubs)])
            for a in ["(", "10", "+", "10", ")", "*", "4", "/", "5", "-", "1", "+", "(", "(", "*", "*", "/", "+", "-", "2", "("] { _ = try p.step(action: a) }
            try PNG.write(p.currentObservation().image!, to: "\(dir)/Points24-long-\(size).png")
            let b = try EnvRegistry.make("Blackjack", options: ["size": .int(size)]) as! BlackjackEnv
            try b.setHands(player: [Card(rank: 1, suit: .hearts), Card(rank: 2, suit: .clubs), Card(rank: 1, suit: .spades), Card(rank: 3, suit: .diamonds), Card(rank: 2, suit: .hearts), Card(rank: 1, suit: .clubs), Card(rank: 4, suit: .hearts), Card(rank: 1, suit: .diamonds)], dealer: [Card(rank: 1, suit: .spades), Card(rank: 5, suit: .clubs)])
            try PNG.write(b.currentObservation().image!, to: "\(dir)/Blackjack-many-\(size).png")
        }
    }
}
