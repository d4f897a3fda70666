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
    }
}
