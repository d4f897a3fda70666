import Foundation
import MoonTensor

/// The per-token estimator of the KL between the agent (A) and the teacher (T), computed from the log-probs
/// of the agent's own sampled tokens. With `log r = log π_T(tok) − log π_A(tok)`:
public enum KLEstimator: String, Sendable, CaseIterable {
    /// Plain single-sample estimate. Reverse: `−log r = log π_A − log π_T`. Forward: `r · log r`.
    case k1
    /// Absolute value of k1.
    case abs
    /// Schulman's low-variance non-negative estimator. Reverse: `(r − 1) − log r`. Forward: `r log r − (r − 1)`.
    case k3
}

/// Direction of the estimated KL (samples always come from the agent).
public enum KLDirection: String, Sendable, CaseIterable {
    /// `KL(agent ‖ teacher)` (GTR-Turbo's choice).
    case reverse
    /// `KL(teacher ‖ agent)`, importance-weighted by `r = π_T / π_A` since the tokens are the agent's.
    case forward
}

/// Options of the GTR-Turbo KL reward. Defaults are the paper's choice: reverse, k1, clamped to [0, 10],
/// averaged over the (thought) tokens of the mask, 100 for an invalid answer.
public struct KLRewardOptions: Sendable {
    public var estimator: KLEstimator = .k1
    public var direction: KLDirection = .reverse
    /// Lower clamp of each per-token value (`nil` = none). Default 0.
    public var clampMin: Float? = 0
    /// Upper clamp of each per-token value (`nil` = none). Default 10.
    public var clampMax: Float? = 10
    /// The per-turn value of an invalid (format-breaking) answer. Default 100.
    public var invalidValue: Float = 100
    /// The per-turn value when the mask selects no token (e.g. an answer with no thought). Default 0.
    public var emptyValue: Float = 0

    public init(estimator: KLEstimator = .k1, direction: KLDirection = .reverse, clampMin: Float? = 0,
                clampMax: Float? = 10, invalidValue: Float = 100, emptyValue: Float = 0) {
        self.estimator = estimator
        self.direction = direction
        self.clampMin = clampMin
        self.clampMax = clampMax
        self.invalidValue = invalidValue
        self.emptyValue = emptyValue
    }
}

/// GTR-Turbo's KL guidance as a reward: from the agent's and the teacher's log-probabilities of the agent's sampled
/// tokens, a per-token KL estimate, clamped, averaged over the masked (thought) tokens → one scalar per turn.
/// The caller subtracts `beta ×` this from the turn's return/advantage after GAE (stdlib/gtr/turbo.lua's
/// `adjust_advantages` hook).
/// No gradients: these are rewards.
public enum KLReward {

    /// The per-token estimate for one token (before clamping).
    public static func estimate(agentLogProb a: Float, teacherLogProb t: Float,
                                estimator: KLEstimator = .k1, direction: KLDirection = .reverse) -> Float {
        let logr = Double(t) - Double(a)
        let r = Foundation.exp(logr)
        let v: Double
        switch (direction, estimator) {
        case (.reverse, .k1): v = -logr
        case (.reverse, .abs): v = Swift.abs(logr)
        case (.reverse, .k3): v = (r - 1) - logr
        case (.forward, .k1): v = r * logr
        case (.forward, .abs): v = Swift.abs(r * logr)
        case (.forward, .k3): v = r * logr - (r - 1)
        }
        return Float(v)
    }

    static func clamp(_ x: Float, _ o: KLRewardOptions) -> Float {
        var v = x
        if let lo = o.clampMin { v = Swift.max(v, lo) }
        if let hi = o.clampMax { v = Swift.min(v, hi) }
        return v
    }

    /// Per-token clamped values for one turn (masked-out tokens give 0).
    public static func perToken(agentLogProbs: [Float], teacherLogProbs: [Float], mask: [Bool]? = nil,
                                options: KLRewardOptions = KLRewardOptions()) throws -> [Float] {
        let op = "kl_reward"
        guard agentLogProbs.count == teacherLogProbs.count else {
            throw TrainError(op, named: "teacher_logprobs", "expected \(agentLogProbs.count) values (one per agent token), got \(teacherLogProbs.count)")
        }
        if let m = mask, m.count != agentLogProbs.count {
            throw TrainError(op, named: "mask", "expected \(agentLogProbs.count) values (one per token), got \(m.count)")
        }
        if let lo = options.clampMin, let hi = options.clampMax, lo > hi {
            throw TrainError(op, named: "clamp", "min \(lo) is greater than max \(hi)")
        }
        return (0..<agentLogProbs.count).map { i in
            if let m = mask, !m[i] { return 0 }
            return clamp(estimate(agentLogProb: agentLogProbs[i], teacherLogProb: teacherLogProbs[i],
                                  estimator: options.estimator, direction: options.direction), options)
        }
    }

    /// One scalar for one turn: mean of the clamped per-token values over the masked tokens;
    /// `options.invalidValue` when `invalid`; `options.emptyValue` when the mask selects no token.
    public static func turn(agentLogProbs: [Float], teacherLogProbs: [Float], mask: [Bool]? = nil, invalid: Bool = false,
                            options: KLRewardOptions = KLRewardOptions()) throws -> Float {
        let per = try perToken(agentLogProbs: agentLogProbs, teacherLogProbs: teacherLogProbs, mask: mask, options: options)
        if invalid { return options.invalidValue }
        let n = mask.map { $0.filter { $0 }.count } ?? per.count
        if n == 0 { return options.emptyValue }
        var s = 0.0
        for v in per { s += Double(v) }
        return Float(s / Double(n))
    }

    /// Batched version: `agent`, `teacher` log-probs `[N, L]` (padded), `mask` `[N, L]` (non-zero = a guided token),
    /// `invalid` `N` flags (or empty for none) → `N` per-turn values.
    public static func turns(agent: Tensor, teacher: Tensor, mask: Tensor, invalid: [Bool] = [],
                             options: KLRewardOptions = KLRewardOptions()) throws -> [Float] {
        let op = "kl_reward"
        guard agent.ndim == 2 else { throw TrainError(op, named: "agent_logprobs", "expected shape [N, L], got \(shapeString(agent.shape))") }
        guard teacher.shape == agent.shape else {
            throw TrainError(op, named: "teacher_logprobs", "expected shape \(shapeString(agent.shape)), got \(shapeString(teacher.shape))")
        }
        guard mask.shape == agent.shape else {
            throw TrainError(op, named: "mask", "expected shape \(shapeString(agent.shape)), got \(shapeString(mask.shape))")
        }
        let n = agent.shape[0], l = agent.shape[1]
        guard invalid.isEmpty || invalid.count == n else {
            throw TrainError(op, named: "invalid", "expected \(n) flags (one per turn), got \(invalid.count)")
        }
        let a = floats(agent), t = floats(teacher), m = floats(mask)
        return try (0..<n).map { i in
            let r = (i * l)..<((i + 1) * l)
            return try turn(agentLogProbs: Array(a[r]), teacherLogProbs: Array(t[r]), mask: m[r].map { $0 != 0 },
                            invalid: invalid.isEmpty ? false : invalid[i], options: options)
        }
    }
}

extension Distill {
    /// KL to the teacher as a differentiable *loss* on the agent's sampled tokens only (no full logits needed):
    /// `agentLogProbs` `[...]` (with gradient) and `teacherLogProbs` `[...]` (constant) are the log-probs of the same
    /// sampled tokens; per-token values use `estimator`/`direction` as `KLReward` does (e.g. reverse k3 =
    /// `exp(log π_T − log π_A) − 1 − (log π_T − log π_A)`, the usual GRPO-style KL penalty), optionally clamped
    /// (a clamped token has zero gradient), then reduced with `mask`.
    public static func sampledKL(agentLogProbs: Tensor, teacherLogProbs: Tensor, mask: Tensor? = nil,
                                 estimator: KLEstimator = .k3, direction: KLDirection = .reverse,
                                 clampMin: Float? = nil, clampMax: Float? = nil, reduction: Reduction = .mean) throws -> Tensor {
        let op = "distill.sampled_kl"
        guard teacherLogProbs.shape == agentLogProbs.shape else {
            throw TrainError(op, named: "teacher_logprobs", "expected shape \(shapeString(agentLogProbs.shape)), got \(shapeString(teacherLogProbs.shape))")
        }
        if let lo = clampMin, let hi = clampMax, lo > hi { throw TrainError(op, named: "clamp", "min \(lo) is greater than max \(hi)") }
        let logr = try teacherLogProbs.detach().sub(agentLogProbs)
        var v: Tensor
        switch (direction, estimator) {
        case (.reverse, .k1): v = logr.neg()
        case (.reverse, .abs): v = logr.abs()
        case (.reverse, .k3): v = try logr.exp().sub(1).sub(logr)
        case (.forward, .k1): v = try logr.exp().mul(logr)
        case (.forward, .abs): v = try logr.exp().mul(logr).abs()
        case (.forward, .k3): let r = logr.exp(); v = try r.mul(logr).sub(r.sub(1))
        }
        if clampMin != nil || clampMax != nil { v = v.clamp(min: clampMin, max: clampMax) }
        return try maskedReduce(v, mask: mask, reduction: reduction, op: op)
    }
}
