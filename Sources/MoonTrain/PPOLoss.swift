import Foundation
import MoonTensor

/// PPO hyper-parameters (defaults: GTR-Turbo's code for Points24, except where noted).
public struct PPOConfig: Sendable {
    /// Clip range ε of the ratio. Default 0.1.
    public var clip: Float = 0.1
    /// Weight of the thought tokens' log-prob in the response log-prob. Default 0.5.
    public var thoughtCoef: Float = 0.5
    /// Coefficient of the value loss in the total. Default 0.5.
    public var valueCoef: Float = 0.5
    /// Coefficient of the entropy bonus (subtracted from the loss). Default 0 (unused in GTR-Turbo).
    public var entropyCoef: Float = 0
    /// Clip the value prediction to `oldValue ± valueClip` and take the max of both squared errors
    /// (PPO2-style). `nil` (default) = plain squared error.
    public var valueClip: Float? = nil

    public init(clip: Float = 0.1, thoughtCoef: Float = 0.5, valueCoef: Float = 0.5, entropyCoef: Float = 0,
                valueClip: Float? = nil) {
        self.clip = clip
        self.thoughtCoef = thoughtCoef
        self.valueCoef = valueCoef
        self.entropyCoef = entropyCoef
        self.valueClip = valueClip
    }
}

/// One minibatch of B samples (one response each). New log-probs/values carry gradients; the rest are constants.
public struct PPOInputs {
    /// `[B]` sum of the new log-probs of the action tokens (tokens from `"action":` on).
    public var newLogpAction: Tensor
    /// `[B]` sum of the new log-probs of the thought tokens (before `"action":`).
    public var newLogpThought: Tensor
    /// `[B]` the same sums at rollout time.
    public var oldLogpAction: Tensor
    public var oldLogpThought: Tensor
    /// `[B]` advantages (already normalised if wanted).
    public var advantages: Tensor
    /// `[B]` value targets.
    public var returns: Tensor
    /// `[B]` new value predictions (with gradient).
    public var values: Tensor
    /// `[B]` value predictions at rollout time (needed for value clipping; may be nil without it).
    public var oldValues: Tensor?
    /// Per-sample (or per-token, any shape) entropies whose mean is the entropy bonus's entropy; nil = none.
    public var entropy: Tensor?

    public init(newLogpAction: Tensor, newLogpThought: Tensor, oldLogpAction: Tensor, oldLogpThought: Tensor,
                advantages: Tensor, returns: Tensor, values: Tensor, oldValues: Tensor? = nil, entropy: Tensor? = nil) {
        self.newLogpAction = newLogpAction
        self.newLogpThought = newLogpThought
        self.oldLogpAction = oldLogpAction
        self.oldLogpThought = oldLogpThought
        self.advantages = advantages
        self.returns = returns
        self.values = values
        self.oldValues = oldValues
        self.entropy = entropy
    }
}

/// The loss tensor and the statistics researchers watch.
public struct PPOOutput {
    /// `policyLoss + valueCoef · valueLoss − entropyCoef · entropy` (scalar, differentiable).
    public let loss: Tensor
    /// `−mean(min(ρA, clip(ρ, 1−ε, 1+ε)A))`.
    public let policyLoss: Float
    /// `0.5 · mean((V − R)²)` (or the clipped max form), before `valueCoef`.
    public let valueLoss: Float
    /// Mean entropy (0 when none was given).
    public let entropy: Float
    /// `mean((ρ − 1) − log ρ)` (Schulman's k3 estimate of KL(old ‖ new)).
    public let approxKL: Float
    /// Fraction of samples with `|ρ − 1| > ε`.
    public let clipFraction: Float
    /// Mean ratio ρ.
    public let ratioMean: Float

    /// The statistics as ordered (key, value) pairs, ready for the metrics logger.
    public var stats: [(String, Double)] {
        [("policy_loss", Double(policyLoss)), ("value_loss", Double(valueLoss)), ("entropy", Double(entropy)),
         ("approx_kl", Double(approxKL)), ("clip_frac", Double(clipFraction)), ("ratio", Double(ratioMean))]
    }
}

/// The PPO objective as in RL4VLM / GTR: the response log-prob is `logp_action + thoughtCoef · logp_thought`,
/// ratio `ρ = exp(new − old)`, clipped surrogate, value loss (`0.5 · (V − R)²` as in their code, optionally clipped),
/// entropy bonus.
public enum PPOLoss {

    public static func compute(_ x: PPOInputs, config c: PPOConfig = PPOConfig()) throws -> PPOOutput {
        let op = "ppo.loss"
        guard x.newLogpAction.ndim == 1, x.newLogpAction.shape[0] >= 1 else {
            throw TrainError(op, named: "new_logp_action", "expected shape [B] with B >= 1, got \(shapeString(x.newLogpAction.shape))")
        }
        let b = x.newLogpAction.shape
        let named: [(String, Tensor?)] = [("new_logp_thought", x.newLogpThought), ("old_logp_action", x.oldLogpAction),
                                          ("old_logp_thought", x.oldLogpThought), ("advantages", x.advantages),
                                          ("returns", x.returns), ("values", x.values), ("old_values", x.oldValues)]
        for (name, t) in named {
            if let t = t, t.shape != b { throw TrainError(op, named: name, "expected shape \(shapeString(b)), got \(shapeString(t.shape))") }
        }
        guard c.clip > 0, c.clip < 1 else { throw TrainError(op, named: "clip", "must be in (0, 1), got \(c.clip)") }
        guard c.thoughtCoef >= 0, c.thoughtCoef.isFinite else { throw TrainError(op, named: "thought_coef", "must be >= 0, got \(c.thoughtCoef)") }
        guard c.valueCoef >= 0, c.valueCoef.isFinite else { throw TrainError(op, named: "value_coef", "must be >= 0, got \(c.valueCoef)") }
        guard c.entropyCoef.isFinite else { throw TrainError(op, named: "entropy_coef", "must be a finite number, got \(c.entropyCoef)") }
        if let vc = c.valueClip {
            guard vc > 0 else { throw TrainError(op, named: "value_clip", "must be > 0, got \(vc)") }
            guard x.oldValues != nil else { throw TrainError(op, named: "old_values", "required when value_clip is set") }
        }

        let oldLogp = try x.oldLogpAction.detach().add(x.oldLogpThought.detach().mul(c.thoughtCoef))
        let newLogp = try x.newLogpAction.add(x.newLogpThought.mul(c.thoughtCoef))
        let logRatio = try newLogp.sub(oldLogp)
        let ratio = logRatio.exp()
        let adv = x.advantages.detach()
        let surr1 = try ratio.mul(adv)
        let surr2 = try ratio.clamp(min: 1 - c.clip, max: 1 + c.clip).mul(adv)
        let policyLoss = try surr1.minimum(surr2).mean().neg()

        let ret = x.returns.detach()
        var valueLoss: Tensor
        if let vc = c.valueClip, let old = x.oldValues?.detach() {
            let clipped = try old.add(try x.values.sub(old).clamp(min: -vc, max: vc))
            let l1 = try x.values.sub(ret).square(), l2 = try clipped.sub(ret).square()
            valueLoss = try l1.maximum(l2).mean().mul(0.5)
        } else {
            valueLoss = try x.values.sub(ret).square().mean().mul(0.5)
        }

        var loss = try policyLoss.add(valueLoss.mul(c.valueCoef))
        var entropyValue: Float = 0
        if let e = x.entropy {
            let em = e.mean()
            entropyValue = try em.item()
            if c.entropyCoef != 0 { loss = try loss.sub(em.mul(c.entropyCoef)) }
        }

        let r = ratio.toArray(), lr = logRatio.toArray()
        var kl = 0.0, clipped = 0, rs = 0.0
        for i in 0..<r.count {
            kl += Double(r[i] - 1) - Double(lr[i])
            rs += Double(r[i])
            if Swift.abs(r[i] - 1) > c.clip { clipped += 1 }
        }
        let n = Double(r.count)
        return PPOOutput(loss: loss, policyLoss: try policyLoss.item(), valueLoss: try valueLoss.item(),
                         entropy: entropyValue, approxKL: Float(kl / n), clipFraction: Float(Double(clipped) / n),
                         ratioMean: Float(rs / n))
    }
}
