import Foundation

/// One finished episode.
public struct EpisodeRecord: Equatable, Sendable {
    public let env: Int
    public let episodeReturn: Double
    public let length: Int
    public let success: Bool
    public let invalidSteps: Int
}

/// Accumulates per-env rewards over steps (episodes may span rollouts/updates) and summarises the episodes that
/// finished: success rate, mean return, mean length, plus the illegal-answer rate over all recorded steps.
public final class EpisodeTracker {
    public let envs: Int
    private var ret: [Double], len: [Int], inv: [Int]
    /// Episodes finished since the last `summary(reset: true)`.
    public private(set) var completed: [EpisodeRecord] = []
    /// Steps and invalid steps recorded since the last reset.
    public private(set) var steps = 0
    public private(set) var invalidSteps = 0

    public init(envs: Int) throws {
        guard envs >= 1 else { throw TrainError("episode_tracker", named: "envs", "must be >= 1, got \(envs)") }
        self.envs = envs
        ret = Array(repeating: 0, count: envs); len = Array(repeating: 0, count: envs); inv = Array(repeating: 0, count: envs)
    }

    /// Records one step of one env; `success` is read when `done`.
    public func record(env: Int, reward: Float, done: Bool, success: Bool = false, invalid: Bool = false) throws {
        guard env >= 0, env < envs else { throw TrainError("episode_tracker.record", named: "env", "must be in 0..<\(envs), got \(env)") }
        ret[env] += Double(reward); len[env] += 1
        steps += 1
        if invalid { inv[env] += 1; invalidSteps += 1 }
        if done {
            completed.append(EpisodeRecord(env: env, episodeReturn: ret[env], length: len[env], success: success, invalidSteps: inv[env]))
            ret[env] = 0; len[env] = 0; inv[env] = 0
        }
    }

    /// Records one step of every env.
    public func record(rewards: [Float], dones: [Bool], successes: [Bool]? = nil, invalid: [Bool]? = nil) throws {
        let op = "episode_tracker.record"
        guard rewards.count == envs else { throw TrainError(op, named: "rewards", "expected \(envs) values (one per env), got \(rewards.count)") }
        guard dones.count == envs else { throw TrainError(op, named: "dones", "expected \(envs) values (one per env), got \(dones.count)") }
        if let s = successes, s.count != envs { throw TrainError(op, named: "successes", "expected \(envs) values (one per env), got \(s.count)") }
        if let i = invalid, i.count != envs { throw TrainError(op, named: "invalid", "expected \(envs) values (one per env), got \(i.count)") }
        for e in 0..<envs {
            try record(env: e, reward: rewards[e], done: dones[e], success: successes?[e] ?? false, invalid: invalid?[e] ?? false)
        }
    }

    /// `episodes`, `return` (mean), `success_rate`, `episode_length` (mean) over the finished episodes (the last three
    /// left out when none finished) and `invalid_rate` over the recorded steps (left out when none). With `reset`, the
    /// finished episodes and step counts are cleared (episodes in progress carry on).
    public func summary(reset: Bool = true) -> MetricsRecord {
        var r = MetricsRecord()
        r.set("episodes", Double(completed.count))
        if !completed.isEmpty {
            let n = Double(completed.count)
            r.set(MetricKey.episodeReturn, completed.reduce(0) { $0 + $1.episodeReturn } / n)
            r.set(MetricKey.successRate, Double(completed.filter(\.success).count) / n)
            r.set(MetricKey.episodeLength, Double(completed.reduce(0) { $0 + $1.length }) / n)
        }
        if steps > 0 { r.set(MetricKey.invalidRate, Double(invalidSteps) / Double(steps)) }
        if reset { completed = []; steps = 0; invalidSteps = 0 }
        return r
    }
}
