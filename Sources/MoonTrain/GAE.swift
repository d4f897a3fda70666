import Foundation
import MoonTensor

/// Advantages and returns over a `[T, N]` rollout (T steps × N envs), stored row-major (`index = t * N + n`).
public struct GAEResult: Sendable, Equatable {
    public let steps: Int
    public let envs: Int
    /// `A[t, n]`.
    public var advantages: [Float]
    /// `R[t, n] = A[t, n] + V[t, n]` (the value targets).
    public var returns: [Float]

    public subscript(advantage t: Int, _ n: Int) -> Float { advantages[t * envs + n] }
    public subscript(return t: Int, _ n: Int) -> Float { returns[t * envs + n] }
}

/// Generalised Advantage Estimation (Schulman et al. 2016), as in RL4VLM / GTR's PPO storage.
///
/// `dones[t, n]` is true when the episode of env n ended with the step taken at t (terminated or truncated); it
/// cuts the trace: step t does not bootstrap from V[t+1] and no later advantage flows back into it.
/// `lastValues[n]` is V(s_T), the value of the observation after the last stored step (used unless `dones[T−1, n]`).
///
///     δ_t = r_t + γ (1 − d_t) V_{t+1} − V_t
///     A_t = δ_t + γ λ (1 − d_t) A_{t+1}
///     R_t = A_t + V_t
public enum GAE {

    /// GAE over flat row-major `[T, N]` arrays.
    public static func compute(rewards: [Float], values: [Float], dones: [Bool], lastValues: [Float],
                               steps: Int, envs: Int, gamma: Float, lambda: Float) throws -> GAEResult {
        let op = "gae"
        guard steps >= 0, envs >= 1 else { throw TrainError(op, "expected steps >= 0 and envs >= 1, got steps \(steps), envs \(envs)") }
        let n = steps * envs
        guard rewards.count == n else { throw TrainError(op, named: "rewards", "expected \(n) values ([\(steps), \(envs)]), got \(rewards.count)") }
        guard values.count == n else { throw TrainError(op, named: "values", "expected \(n) values ([\(steps), \(envs)]), got \(values.count)") }
        guard dones.count == n else { throw TrainError(op, named: "dones", "expected \(n) values ([\(steps), \(envs)]), got \(dones.count)") }
        guard lastValues.count == envs else { throw TrainError(op, named: "last_values", "expected \(envs) values (one per env), got \(lastValues.count)") }
        guard gamma >= 0, gamma <= 1 else { throw TrainError(op, named: "gamma", "must be in [0, 1], got \(gamma)") }
        guard lambda >= 0, lambda <= 1 else { throw TrainError(op, named: "lambda", "must be in [0, 1], got \(lambda)") }
        var adv = [Float](repeating: 0, count: n), ret = [Float](repeating: 0, count: n)
        let g = Double(gamma), l = Double(lambda)
        for e in 0..<envs {
            var next = 0.0
            for t in stride(from: steps - 1, through: 0, by: -1) {
                let i = t * envs + e
                let nonTerminal = dones[i] ? 0.0 : 1.0
                let nextValue = t == steps - 1 ? Double(lastValues[e]) : Double(values[i + envs])
                let delta = Double(rewards[i]) + g * nextValue * nonTerminal - Double(values[i])
                next = delta + g * l * nonTerminal * next
                adv[i] = Float(next)
                ret[i] = Float(next + Double(values[i]))
            }
        }
        return GAEResult(steps: steps, envs: envs, advantages: adv, returns: ret)
    }

    /// GAE over tensors: `rewards`, `values`, `dones` (non-zero = done) of shape `[T, N]`, `lastValues` `[N]`.
    /// Returns float32 `[T, N]` advantages and returns (no gradient).
    public static func compute(rewards: Tensor, values: Tensor, dones: Tensor, lastValues: Tensor,
                               gamma: Float, lambda: Float) throws -> (advantages: Tensor, returns: Tensor) {
        guard rewards.ndim == 2 else { throw TrainError("gae", named: "rewards", "expected shape [T, N], got \(shapeString(rewards.shape))") }
        let s = rewards.shape
        guard values.shape == s else { throw TrainError("gae", named: "values", "expected shape \(shapeString(s)), got \(shapeString(values.shape))") }
        guard dones.shape == s else { throw TrainError("gae", named: "dones", "expected shape \(shapeString(s)), got \(shapeString(dones.shape))") }
        guard lastValues.shape == [s[1]] else {
            throw TrainError("gae", named: "last_values", "expected shape [\(s[1])], got \(shapeString(lastValues.shape))")
        }
        let r = try compute(rewards: floats(rewards), values: floats(values), dones: floats(dones).map { $0 != 0 },
                            lastValues: floats(lastValues), steps: s[0], envs: s[1], gamma: gamma, lambda: lambda)
        return (try Tensor(r.advantages, shape: s), try Tensor(r.returns, shape: s))
    }
}
