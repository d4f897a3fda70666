import Foundation
import MoonTensor

/// One env step of one env: the agent's response to an observation and what the env returned.
/// `Observation` is whatever the caller uses as a handle (an index into its own store, a Lua reference, ...).
public struct RolloutStep<Observation> {
    public var observation: Observation
    /// Token ids of the response (without the prompt).
    public var responseTokens: [Int]
    /// Rollout-time log-prob of each response token.
    public var tokenLogProbs: [Float]
    /// Per response token: true for thought tokens (before `"action":`).
    public var thoughtMask: [Bool]
    /// Per response token: true for action tokens (from `"action":` on).
    public var actionMask: [Bool]
    /// Sum of the rollout-time log-probs of the action tokens.
    public var logpAction: Float
    /// Sum of the rollout-time log-probs of the thought tokens.
    public var logpThought: Float
    /// Value estimate of the observation.
    public var value: Float
    public var reward: Float
    /// The episode ended with this step (terminated or truncated).
    public var done: Bool
    /// The answer was illegal/unparseable.
    public var invalid: Bool
    /// The decoded response (for samples, SFT targets and diversity metrics).
    public var text: String
    /// Free-form per-step numbers (e.g. "success", "kl_penalty").
    public var info: [String: Double]

    /// A step whose action/thought sums are computed from the per-token log-probs and masks.
    public init(observation: Observation, responseTokens: [Int], tokenLogProbs: [Float], thoughtMask: [Bool],
                actionMask: [Bool], value: Float, reward: Float, done: Bool, invalid: Bool = false, text: String = "",
                info: [String: Double] = [:]) throws {
        let op = "rollout_step"
        let n = responseTokens.count
        guard tokenLogProbs.count == n else { throw TrainError(op, named: "token_logprobs", "expected \(n) values (one per response token), got \(tokenLogProbs.count)") }
        guard thoughtMask.count == n else { throw TrainError(op, named: "thought_mask", "expected \(n) values (one per response token), got \(thoughtMask.count)") }
        guard actionMask.count == n else { throw TrainError(op, named: "action_mask", "expected \(n) values (one per response token), got \(actionMask.count)") }
        var la = 0.0, lt = 0.0
        for i in 0..<n {
            if actionMask[i] { la += Double(tokenLogProbs[i]) }
            if thoughtMask[i] { lt += Double(tokenLogProbs[i]) }
        }
        self.observation = observation
        self.responseTokens = responseTokens
        self.tokenLogProbs = tokenLogProbs
        self.thoughtMask = thoughtMask
        self.actionMask = actionMask
        self.logpAction = Float(la)
        self.logpThought = Float(lt)
        self.value = value
        self.reward = reward
        self.done = done
        self.invalid = invalid
        self.text = text
        self.info = info
    }
}

/// A minibatch gathered from a rollout buffer, padded to the longest response (right padding).
public struct RolloutMiniBatch<Observation> {
    /// Flat buffer indices (`t * envs + n`) of the samples.
    public let indices: [Int]
    public let observations: [Observation]
    /// `[B, L]` int64 response tokens (padding = `padToken`).
    public let tokens: Tensor
    /// `[B, L]` 1 for real tokens, 0 for padding.
    public let tokenMask: Tensor
    /// `[B, L]` thought/action token masks (0 on padding).
    public let thoughtMask: Tensor
    public let actionMask: Tensor
    /// `[B, L]` rollout-time per-token log-probs (0 on padding).
    public let oldTokenLogProbs: Tensor
    /// `[B]` rollout-time sums.
    public let oldLogpAction: Tensor
    public let oldLogpThought: Tensor
    public let oldValues: Tensor
    public let advantages: Tensor
    public let returns: Tensor
    public let rewards: Tensor
    public let invalid: [Bool]
    public let texts: [String]
}

/// Storage for a multi-turn rollout: `steps × envs` slots, filled one step (row) at a time.
/// After `computeAdvantages` it yields shuffled minibatches for the PPO epochs.
public final class RolloutBuffer<Observation> {
    public let steps: Int
    public let envs: Int
    private var slots: [RolloutStep<Observation>?]
    /// Row-major `[T, N]` advantages and returns, set by `computeAdvantages` / `setAdvantages`.
    public private(set) var advantages: [Float]?
    public private(set) var returns: [Float]?

    public init(steps: Int, envs: Int) throws {
        guard steps >= 1 else { throw TrainError("rollout_buffer", named: "steps", "must be >= 1, got \(steps)") }
        guard envs >= 1 else { throw TrainError("rollout_buffer", named: "envs", "must be >= 1, got \(envs)") }
        self.steps = steps
        self.envs = envs
        slots = Array(repeating: nil, count: steps * envs)
    }

    public var capacity: Int { steps * envs }
    /// Number of filled slots.
    public var count: Int { slots.reduce(0) { $0 + ($1 == nil ? 0 : 1) } }
    public var isFull: Bool { slots.allSatisfy { $0 != nil } }
    /// Number of complete rows (the next row `append` fills).
    public private(set) var filledRows = 0

    /// Stores a step at `(step, env)`.
    public func set(step t: Int, env n: Int, _ s: RolloutStep<Observation>) throws {
        guard t >= 0, t < steps else { throw TrainError("rollout_buffer.set", named: "step", "must be in 0..<\(steps), got \(t)") }
        guard n >= 0, n < envs else { throw TrainError("rollout_buffer.set", named: "env", "must be in 0..<\(envs), got \(n)") }
        slots[t * envs + n] = s
        advantages = nil; returns = nil
    }

    /// Appends one row: one step for every env, in env order.
    public func append(_ row: [RolloutStep<Observation>]) throws {
        guard row.count == envs else { throw TrainError("rollout_buffer.append", named: "row", "expected \(envs) steps (one per env), got \(row.count)") }
        guard filledRows < steps else { throw TrainError("rollout_buffer.append", "the buffer is full (\(steps) steps); call clear() first") }
        for (n, s) in row.enumerated() { slots[filledRows * envs + n] = s }
        filledRows += 1
        advantages = nil; returns = nil
    }

    public func step(_ t: Int, env n: Int) -> RolloutStep<Observation>? {
        guard t >= 0, t < steps, n >= 0, n < envs else { return nil }
        return slots[t * envs + n]
    }

    /// The step at a flat index `t * envs + n`.
    public subscript(index: Int) -> RolloutStep<Observation>? { index >= 0 && index < slots.count ? slots[index] : nil }

    public func clear() {
        slots = Array(repeating: nil, count: steps * envs)
        filledRows = 0
        advantages = nil; returns = nil
    }

    private func allSteps(_ op: String) throws -> [RolloutStep<Observation>] {
        var out: [RolloutStep<Observation>] = []
        out.reserveCapacity(slots.count)
        for (i, s) in slots.enumerated() {
            guard let s = s else { throw TrainError(op, "the buffer is not full: slot (step \(i / envs), env \(i % envs)) is empty") }
            out.append(s)
        }
        return out
    }

    /// Runs GAE over the full buffer (see `GAE.compute`), optionally subtracting `beta × penalty` per turn
    /// (GTR-Turbo's KL reward: `penalty[t * envs + n]`), and stores advantages and returns.
    /// With `normalize`, the stored advantages are normalised (mean/std) after the penalty.
    @discardableResult
    public func computeAdvantages(lastValues: [Float], gamma: Float, lambda: Float, penalty: [Float]? = nil, beta: Float = 1,
                                  normalize: Bool = false, eps: Float = 1e-5) throws -> GAEResult {
        let all = try allSteps("rollout_buffer.compute_advantages")
        var r = try GAE.compute(rewards: all.map(\.reward), values: all.map(\.value), dones: all.map(\.done),
                                lastValues: lastValues, steps: steps, envs: envs, gamma: gamma, lambda: lambda)
        if let p = penalty { r = try GAE.subtractPenalty(r, penalty: p, beta: beta) }
        returns = r.returns
        advantages = normalize ? try GAE.normalize(r.advantages, eps: eps) : r.advantages
        return r
    }

    /// Sets advantages and returns computed elsewhere (e.g. in Lua), row-major `[T, N]`.
    public func setAdvantages(_ adv: [Float], returns ret: [Float]) throws {
        guard adv.count == capacity else { throw TrainError("rollout_buffer.set_advantages", named: "advantages", "expected \(capacity) values, got \(adv.count)") }
        guard ret.count == capacity else { throw TrainError("rollout_buffer.set_advantages", named: "returns", "expected \(capacity) values, got \(ret.count)") }
        advantages = adv; returns = ret
    }

    /// Shuffled flat indices split into minibatches of `batchSize` (the last one smaller unless `dropLast`).
    /// The same seed gives the same order.
    public func minibatches(batchSize: Int, seed: UInt64, dropLast: Bool = false) throws -> [[Int]] {
        try shuffledBatches(count: capacity, batchSize: batchSize, seed: seed, dropLast: dropLast, op: "rollout_buffer.minibatches")
    }

    /// Gathers the samples at `indices` into padded tensors.
    public func batch(_ indices: [Int], padToken: Int = 0) throws -> RolloutMiniBatch<Observation> {
        let op = "rollout_buffer.batch"
        guard !indices.isEmpty else { throw TrainError(op, named: "indices", "expected at least one index") }
        guard let adv = advantages, let ret = returns else {
            throw TrainError(op, "advantages are not computed yet; call compute_advantages first")
        }
        var items: [RolloutStep<Observation>] = []
        for i in indices {
            guard i >= 0, i < capacity else { throw TrainError(op, named: "indices", "index \(i) out of range 0..<\(capacity)") }
            guard let s = slots[i] else { throw TrainError(op, named: "indices", "slot \(i) (step \(i / envs), env \(i % envs)) is empty") }
            items.append(s)
        }
        let b = items.count, l = max(1, items.map { $0.responseTokens.count }.max() ?? 1)
        var tok = [Int](repeating: padToken, count: b * l)
        var tm = [Float](repeating: 0, count: b * l), th = tm, ac = tm, lp = tm
        for (r, s) in items.enumerated() {
            for j in 0..<s.responseTokens.count {
                let k = r * l + j
                tok[k] = s.responseTokens[j]; tm[k] = 1
                th[k] = s.thoughtMask[j] ? 1 : 0; ac[k] = s.actionMask[j] ? 1 : 0
                lp[k] = s.tokenLogProbs[j]
            }
        }
        return RolloutMiniBatch(
            indices: indices, observations: items.map(\.observation),
            tokens: try Tensor(ints: tok, shape: [b, l]), tokenMask: try Tensor(tm, shape: [b, l]),
            thoughtMask: try Tensor(th, shape: [b, l]), actionMask: try Tensor(ac, shape: [b, l]),
            oldTokenLogProbs: try Tensor(lp, shape: [b, l]),
            oldLogpAction: Tensor(items.map(\.logpAction)), oldLogpThought: Tensor(items.map(\.logpThought)),
            oldValues: Tensor(items.map(\.value)), advantages: Tensor(indices.map { adv[$0] }),
            returns: Tensor(indices.map { ret[$0] }), rewards: Tensor(items.map(\.reward)),
            invalid: items.map(\.invalid), texts: items.map(\.text))
    }

    /// All filled steps in flat order.
    public var filledSteps: [RolloutStep<Observation>] { slots.compactMap { $0 } }

    /// Fraction of filled steps whose answer was invalid (0 when empty).
    public var invalidRate: Double {
        let s = filledSteps
        return s.isEmpty ? 0 : Double(s.filter(\.invalid).count) / Double(s.count)
    }

    /// Mean reward per filled step (0 when empty).
    public var meanReward: Double {
        let s = filledSteps
        return s.isEmpty ? 0 : s.reduce(0.0) { $0 + Double($1.reward) } / Double(s.count)
    }

    /// Total response tokens stored.
    public var tokenCount: Int { filledSteps.reduce(0) { $0 + $1.responseTokens.count } }
}

/// Seeded Fisher–Yates shuffle of `0..<count`, split into batches.
func shuffledBatches(count: Int, batchSize: Int, seed: UInt64, dropLast: Bool, op: String) throws -> [[Int]] {
    guard batchSize >= 1 else { throw TrainError(op, named: "batch_size", "must be >= 1, got \(batchSize)") }
    var order = Array(0..<count)
    let g = Generator(seed: seed)
    if count > 1 {
        for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, g.nextInt(0, i + 1)) }
    }
    var out: [[Int]] = []
    var i = 0
    while i < count {
        let j = min(count, i + batchSize)
        if j - i == batchSize || !dropLast { out.append(Array(order[i..<j])) }
        i = j
    }
    return out
}

/// DAgger-style aggregated dataset of (observation, target text) pairs, e.g. corrected thoughts for SFT.
/// Keeps at most `capacity` pairs: when full, the oldest pair is dropped (first in, first out).
public final class AggregatedBuffer<Observation> {
    public struct Entry {
        public var observation: Observation
        public var target: String
        /// The update (or any tag) at which the pair was added.
        public var tag: Int
    }

    public let capacity: Int
    private var ring: [Entry] = []
    private var start = 0
    /// Pairs ever added (including dropped ones).
    public private(set) var totalAdded = 0

    public init(capacity: Int) throws {
        guard capacity >= 1 else { throw TrainError("aggregated_buffer", named: "capacity", "must be >= 1, got \(capacity)") }
        self.capacity = capacity
    }

    public var count: Int { ring.count }

    /// The stored pairs, oldest first.
    public var entries: [Entry] { Array(ring[start...]) + Array(ring[..<start]) }

    /// The `i`-th oldest stored pair.
    public subscript(i: Int) -> Entry { ring[(start + i) % ring.count] }

    public func add(_ observation: Observation, target: String, tag: Int = 0) {
        let e = Entry(observation: observation, target: target, tag: tag)
        totalAdded += 1
        if ring.count < capacity { ring.append(e); return }
        ring[start] = e
        start = (start + 1) % capacity
    }

    public func clear() { ring = []; start = 0 }

    /// Shuffled index batches over the stored pairs (indices as for the subscript).
    public func minibatches(batchSize: Int, seed: UInt64, dropLast: Bool = false) throws -> [[Int]] {
        try shuffledBatches(count: count, batchSize: batchSize, seed: seed, dropLast: dropLast, op: "aggregated_buffer.minibatches")
    }

    /// `n` distinct pairs drawn uniformly (all of them, shuffled, when `n >= count`).
    public func sample(_ n: Int, seed: UInt64) throws -> [Entry] {
        guard n >= 0 else { throw TrainError("aggregated_buffer.sample", named: "n", "must be >= 0, got \(n)") }
        let order = try shuffledBatches(count: count, batchSize: max(1, count), seed: seed, dropLast: false, op: "aggregated_buffer.sample").first ?? []
        return order.prefix(n).map { self[$0] }
    }
}
