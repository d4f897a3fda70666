/// N copies of an env stepped together, with auto-reset and episode statistics.

/// Statistics of one finished episode.
public struct EpisodeStats: Sendable, Equatable {
    public var env: Int
    public var episodeReturn: Double
    public var length: Int
    public var success: Bool
    /// Answers that did not name exactly one action.
    public var illegalCount: Int
    /// Steps judged invalid by the task (or illegal under invalid_penalty).
    public var invalidCount: Int
    public var truncated: Bool
}

public final class VectorEnv {
    public let envs: [any Env]
    public let baseSeed: UInt64
    /// Index of `envs[0]` in a larger vector split across processes: env i is seeded as env `firstIndex + i` of the
    /// whole vector, so a slice behaves exactly like the same envs of the unsplit vector.
    public let firstIndex: Int
    /// Current observation of each env (the first of a new episode after an auto-reset).
    public private(set) var observations: [Observation] = []
    /// Finished episodes since the last `drainStats()`.
    public private(set) var finished: [EpisodeStats] = []
    /// All finished episodes counted since creation.
    public private(set) var totalEpisodes = 0
    private var returns: [Double], lengths: [Int], illegal: [Int], invalid: [Int]

    /// `count` copies made by name with options; env i is seeded with `EnvRandom.derive(seed, i)`.
    public convenience init(name: String, count: Int, options: EnvOptions = [:], seed: UInt64 = 0, firstIndex: Int = 0) throws {
        guard count >= 1 else { throw EnvError.badOption(env: name, option: "count", message: "must be at least 1") }
        var envs: [any Env] = []
        for _ in 0..<count { envs.append(try EnvRegistry.make(name, options: options)) }
        self.init(envs: envs, seed: seed, firstIndex: max(0, firstIndex))
    }

    public init(envs: [any Env], seed: UInt64 = 0, firstIndex: Int = 0) {
        precondition(!envs.isEmpty, "VectorEnv needs at least one env")
        self.envs = envs
        baseSeed = seed
        self.firstIndex = firstIndex
        returns = Array(repeating: 0, count: envs.count)
        lengths = Array(repeating: 0, count: envs.count)
        illegal = Array(repeating: 0, count: envs.count)
        invalid = Array(repeating: 0, count: envs.count)
        observations = reset()
    }

    public var count: Int { envs.count }

    /// Reset every env with its derived seed (restarting all streams) and clear running episode counters.
    @discardableResult
    public func reset() -> [Observation] {
        observations = envs.enumerated().map { i, e in e.reset(seed: EnvRandom.derive(baseSeed, UInt64(firstIndex + i))) }
        for i in 0..<envs.count { returns[i] = 0; lengths[i] = 0; illegal[i] = 0; invalid[i] = 0 }
        return observations
    }

    /// Step every env with its answer. A finished env is reset (continuing its random stream) and the
    /// returned result carries the new episode's first observation; `info.extra["final_observation_state"]`
    /// holds the final state text and `finalObservations[i]` the final observation.
    public func step(_ responses: [String]) throws -> [StepResult] {
        guard responses.count == envs.count else {
            throw EnvError.badData("VectorEnv.step: expected \(envs.count) responses, got \(responses.count)")
        }
        return try stepAll { i in envs[i].step(responses[i]) }
    }

    /// Step every env with an action string directly (no parsing); throws on an unknown action.
    public func step(actions: [String]) throws -> [StepResult] {
        guard actions.count == envs.count else {
            throw EnvError.badData("VectorEnv.step: expected \(envs.count) actions, got \(actions.count)")
        }
        return try stepAll { i in try envs[i].step(action: actions[i]) }
    }

    private func stepAll(_ one: (Int) throws -> StepResult) throws -> [StepResult] {
        var results: [StepResult] = []
        results.reserveCapacity(envs.count)
        finalObservations = Array(repeating: nil, count: envs.count)
        for i in 0..<envs.count {
            var r = try one(i)
            returns[i] += r.reward; lengths[i] += 1
            if r.info.illegal { illegal[i] += 1 }
            if r.info.invalid { invalid[i] += 1 }
            if r.done {
                finished.append(EpisodeStats(env: i, episodeReturn: returns[i], length: lengths[i], success: r.info.success,
                                             illegalCount: illegal[i], invalidCount: invalid[i], truncated: r.truncated))
                totalEpisodes += 1
                returns[i] = 0; lengths[i] = 0; illegal[i] = 0; invalid[i] = 0
                finalObservations[i] = r.observation
                r.info.extra["final_observation_state"] = r.observation.stateText
                r.observation = envs[i].reset(seed: nil)
            }
            observations[i] = r.observation
            results.append(r)
        }
        return results
    }

    /// Final observations of the envs that finished in the last `step` (nil for the others).
    public private(set) var finalObservations: [Observation?] = []

    /// Return and clear the finished-episode statistics.
    public func drainStats() -> [EpisodeStats] {
        defer { finished.removeAll() }
        return finished
    }

    /// Summary of a list of episodes: mean return, mean length, success rate, illegal answers per step.
    public static func summarize(_ eps: [EpisodeStats]) -> (meanReturn: Double, meanLength: Double, successRate: Double, illegalRate: Double) {
        guard !eps.isEmpty else { return (0, 0, 0, 0) }
        let n = Double(eps.count)
        let steps = Double(eps.reduce(0) { $0 + $1.length })
        return (eps.reduce(0) { $0 + $1.episodeReturn } / n, steps / n,
                Double(eps.filter { $0.success }.count) / n,
                Double(eps.reduce(0) { $0 + $1.illegalCount }) / max(1, steps))
    }

    /// The solver's answers for every env's current state (privileged teacher).
    public func solverResponses() -> [String] { envs.map { $0.solverResponse() } }
}
