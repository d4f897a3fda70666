import MoonTensor
/// Demonstrations: solver rollouts as (observation, response) pairs in the task's answer format.

public struct Demo: Sendable {
    public var observation: Observation
    /// The teacher's full answer (fields, thoughts and the action), as the agent should write it.
    public var response: String
    public var action: String
    public var reward: Double
    public var episode: Int
    public var step: Int
    public var done: Bool
}

public enum Demos {
    /// Roll out the solver until `n` (observation, response) pairs are collected (one step = one pair).
    /// Episodes are seeded from `seed`. For Points24, hands without a solution are skipped unless
    /// `includeUnsolvable` (their teacher answer ends the formula with "=" and the thoughts say why).
    public static func generate(env name: String, n: Int, options: EnvOptions = [:], seed: UInt64 = 0,
                                includeUnsolvable: Bool = false) throws -> [Demo] {
        let env = try EnvRegistry.make(name, options: options)
        var out: [Demo] = []
        out.reserveCapacity(n)
        var episode = 0
        var attempts = 0
        while out.count < n {
            try Interrupt.check()  // Ctrl-C: demos(…, 200000) stops within milliseconds
            var obs = env.reset(seed: EnvRandom.derive(seed, UInt64(attempts)))
            attempts += 1
            if attempts > 100 * max(n, 1) + 1000 { break }
            if !includeUnsolvable, let f = env as? FormulaCardEnv, !f.isSolvable { continue }
            var step = 0
            while out.count < n {
                let response = env.solverResponse()
                let action = env.solverAction()
                let r = env.step(response)
                out.append(Demo(observation: obs, response: response, action: action, reward: r.reward,
                                episode: episode, step: step, done: r.done))
                step += 1
                obs = r.observation
                if r.done { break }
            }
            episode += 1
        }
        return out
    }

    /// Solver success rate over `episodes` episodes (each seeded from `seed`), and for the formula games the
    /// fraction of solvable deals.
    public static func evaluateSolver(env name: String, episodes: Int, options: EnvOptions = [:], seed: UInt64 = 0)
        throws -> (successRate: Double, meanReturn: Double, solvableFraction: Double?) {
        var opts = options
        if opts["obs_mode"] == nil && opts["observation"] == nil { opts["observation"] = "text" }
        let env = try EnvRegistry.make(name, options: opts)
        var wins = 0, solvable = 0
        var total = 0.0
        for e in 0..<episodes {
            try Interrupt.check()
            _ = env.reset(seed: EnvRandom.derive(seed, UInt64(e)))
            if let f = env as? FormulaCardEnv, f.isSolvable { solvable += 1 }
            while true {
                let r = env.step(env.solverResponse())
                total += r.reward
                if r.done { if r.info.success { wins += 1 }; break }
            }
        }
        let n = Double(max(1, episodes))
        let frac: Double? = (env is FormulaCardEnv) ? Double(solvable) / n : nil
        return (Double(wins) / n, total / n, frac)
    }
}
