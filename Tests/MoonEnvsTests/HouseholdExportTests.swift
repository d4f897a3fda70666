import XCTest
import Foundation
@testable import MoonEnvs

/// Writes household rooms as PDDL problems for scripts/household_textworld.py (TextWorld's engine as peer and
/// reference). Skipped unless MOONLAB_HOUSEHOLD_EXPORT names a directory.
final class HouseholdExportTests: XCTestCase {
    func testExportRooms() throws {
        guard let dir = ProcessInfo.processInfo.environment["MOONLAB_HOUSEHOLD_EXPORT"] else { throw XCTSkip("set MOONLAB_HOUSEHOLD_EXPORT=dir") }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        var k = 0
        for type in HouseholdTaskType.allCases {
            for seed in 0..<2 {
                let env = try EnvRegistry.make("household", options: ["task": .string(type.rawValue), "obs_mode": "text"]) as! HouseholdEnv
                _ = env.reset(seed: UInt64(seed))
                let name = String(format: "%@/room-%02d", dir, k)
                try env.world.pddlProblem(task: env.task).write(toFile: name + ".pddl", atomically: true, encoding: .utf8)
                try "{\"task\": \"\(type.rawValue)\", \"seed\": \(seed), \"description\": \"\(env.task.description)\"}".write(toFile: name + ".json", atomically: true, encoding: .utf8)
                k += 1
            }
        }
    }
}
