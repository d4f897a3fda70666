import XCTest
import Foundation
@testable import MoonEnvs

/// Replays games that TextWorld's own PDDL engine played on moonlab rooms with ALFWorld's domain and grammar
/// (Tests/Fixtures/household_textworld.json, made by scripts/household_textworld.py fixture): every command's
/// feedback and the admissible commands after it must be the same. TextWorld prints ids ("cabinet_1"); lists are
/// compared as sets (TextWorld orders them by its facts, moonlab by name).
final class HouseholdTextWorldTests: XCTestCase {
    struct Fixture: Decodable {
        struct Step: Decodable { let command: String?; let feedback: String; let admissible: [String]; let won: Bool }
        struct Options: Decodable { let task: String; let seed: UInt64; let description: String }
        struct Game: Decodable { let options: Options; let problem: String; let steps: [Step] }
        let games: [Game]
    }

    static let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/household_textworld.json")

    /// "_" → " ", trimmed, and every "you see a, b, and c." list sorted.
    static func normalize(_ s: String) -> String {
        var t = s.replacingOccurrences(of: "_", with: " ").trimmingCharacters(in: .whitespacesAndNewlines)
        var out = ""
        while let r = t.range(of: "you see ") {
            out += t[..<r.upperBound]
            t = String(t[r.upperBound...])
            guard let end = t.firstIndex(of: ".") else { break }
            let items = t[..<end].replacingOccurrences(of: ", and ", with: ", ").components(separatedBy: ", ").sorted()
            out += items.joined(separator: ", ")
            t = String(t[end...])
        }
        return out + t
    }

    func testSameFeedbackAndCommandsAsTextWorld() throws {
        guard let data = try? Data(contentsOf: Self.path) else { throw XCTSkip("no fixture at \(Self.path.path)") }
        let fixture = try JSONDecoder().decode(Fixture.self, from: data)
        XCTAssertGreaterThan(fixture.games.count, 0)
        var compared = 0
        for game in fixture.games {
            let env = try EnvRegistry.make("household", options: ["task": .string(game.options.task), "obs_mode": "text"]) as! HouseholdEnv
            _ = env.reset(seed: game.options.seed)
            XCTAssertEqual(env.world.pddlProblem(task: env.task), game.problem, "the generator changed; regenerate the fixture")
            for (k, step) in game.steps.enumerated() {
                if let cmd = step.command {
                    _ = try env.step(action: cmd.replacingOccurrences(of: "_", with: " "))
                }
                let ours = k == 0 ? env.lastFeedback : env.lastFeedback
                XCTAssertEqual(Self.normalize(ours), Self.normalize(step.feedback), "\(game.options) step \(k): \(step.command ?? "reset")")
                let theirs = step.admissible.filter { $0 != "help" }.map { $0.replacingOccurrences(of: "_", with: " ") }
                XCTAssertEqual(Set(env.actionSpace), Set(theirs), "\(game.options) step \(k): \(step.command ?? "reset")")
                XCTAssertEqual(env.task.isSatisfied(by: env.world), step.won)
                compared += 1
            }
        }
        print("household: \(compared) steps identical to TextWorld's engine")
    }
}
