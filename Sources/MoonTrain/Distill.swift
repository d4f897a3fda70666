import Foundation
import MoonTensor

/// Which divergence a distillation loss uses. Teacher = T, student = S (the model being trained).
public enum DistillDivergence: String, Sendable, CaseIterable {
    /// `KL(T ‖ S) = Σ_v p_T (log p_T − log p_S)`: mass-covering; the classic "forward" distillation loss.
    case forwardKL = "forward"
    /// `KL(S ‖ T) = Σ_v p_S (log p_S − log p_T)`: mode-seeking (GTR-Turbo's choice).
    case reverseKL = "reverse"
    /// Generalised Jensen–Shannon divergence with interpolation `beta`, exactly as TRL's GKD
    /// (`GKDTrainer.generalized_jsd_loss`): with the mixture `M = (1 − β)·S + β·T`,
    /// `JSD_β = β · KL(T ‖ M) + (1 − β) · KL(S ‖ M)` for 0 < β < 1, and by TRL's convention
    /// β = 0 → forward `KL(T ‖ S)`, β = 1 → reverse `KL(S ‖ T)` (note: not the limits of the formula,
    /// which tends to 0 at both ends).
    case jsd
}

/// Options for the token-level distillation losses.
public struct DistillOptions: Sendable {
    /// Both logits are divided by this before the softmax (> 0). Default 1.
    public var temperature: Float = 1
    /// Multiply the divergence by `temperature²` (Hinton's gradient-scale correction). Default false (TRL does not).
    public var scaleByTemperatureSquared: Bool = false
    /// When set, the divergence is computed over the teacher's top-k tokens only (per position), with both
    /// distributions renormalised over those k tokens. `nil` = the full vocabulary.
    public var topK: Int? = nil
    /// JSD interpolation β in [0, 1] (used by `.jsd` only). Default 0.5.
    public var beta: Float = 0.5
    /// How per-token values are reduced: `.mean` (masked mean over the mask's non-zero weight), `.sum`, or `.none`
    /// (per-token values `[...]` with masked positions 0).
    public var reduction: Reduction = .mean

    public init(temperature: Float = 1, scaleByTemperatureSquared: Bool = false, topK: Int? = nil,
                beta: Float = 0.5, reduction: Reduction = .mean) {
        self.temperature = temperature
        self.scaleByTemperatureSquared = scaleByTemperatureSquared
        self.topK = topK
        self.beta = beta
        self.reduction = reduction
    }
}

/// Token-level distillation losses on logits, differentiable with respect to the student's logits
/// (the teacher's logits are treated as constants: they are detached).
///
/// Shapes: logits `[..., V]` (typically `[B, T, V]`), both the same; `mask` (optional) `[...]` (e.g. `[B, T]`)
/// of 0/1 or weights; per-token values have shape `[...]`.
public enum Distill {

    /// Per-token divergence `[...]` between student and teacher logits (no reduction, no mask).
    public static func perToken(student: Tensor, teacher: Tensor, divergence: DistillDivergence,
                                options: DistillOptions = DistillOptions()) throws -> Tensor {
        let op = "distill." + divergence.rawValue
        guard student.dtype == .float32, teacher.dtype == .float32 else {
            throw TrainError(op, "expected float32 logits, got student \(student.dtype), teacher \(teacher.dtype)")
        }
        guard student.ndim >= 1 else { throw TrainError(op, named: "student", "expected logits of shape [..., V], got a scalar") }
        guard student.shape == teacher.shape else {
            throw TrainError(op, named: "teacher", "expected the student's shape \(shapeString(student.shape)), got \(shapeString(teacher.shape))")
        }
        guard options.temperature > 0, options.temperature.isFinite else {
            throw TrainError(op, named: "temperature", "must be a positive number, got \(options.temperature)")
        }
        guard options.beta >= 0, options.beta <= 1 else {
            throw TrainError(op, named: "beta", "must be in [0, 1], got \(options.beta)")
        }
        var s = student, t = teacher.detach()
        if options.temperature != 1 { s = s.div(options.temperature); t = t.div(options.temperature) }
        if let k = options.topK {
            let v = student.shape.last!
            guard k >= 1, k <= v else { throw TrainError(op, named: "top_k", "must be in 1...\(v) (the vocabulary size), got \(k)") }
            if k < v {
                let idx = try t.topk(k, dim: -1).indices
                t = try t.gather(dim: -1, index: idx)
                s = try s.gather(dim: -1, index: idx)
            }
        }
        let ls = try s.logSoftmax(dim: -1), lt = try t.logSoftmax(dim: -1)
        var out: Tensor
        switch divergence {
        case .forwardKL: out = try kl(lt, ls)
        case .reverseKL: out = try kl(ls, lt)
        case .jsd:
            let b = options.beta
            if b == 0 { out = try kl(lt, ls) }
            else if b == 1 { out = try kl(ls, lt) }
            else {
                // log M = logsumexp(log S + log(1 − β), log T + log β), computed stably element-wise
                let a = ls.add(Foundation.logf(1 - b)), c = lt.add(Foundation.logf(b))
                let hi = try a.maximum(c)
                let lm = try hi.add(try a.sub(hi).exp().add(try c.sub(hi).exp()).log())
                out = try kl(lt, lm).mul(b).add(try kl(ls, lm).mul(1 - b))
            }
        }
        if options.scaleByTemperatureSquared && options.temperature != 1 {
            out = out.mul(options.temperature * options.temperature)
        }
        return out
    }

    /// `KL(P ‖ Q)` per position from log-probabilities `[..., V]` → `[...]`; terms with `p = 0` count 0.
    static func kl(_ logP: Tensor, _ logQ: Tensor) throws -> Tensor {
        let p = logP.exp()
        let term = try p.mul(try logP.sub(logQ))
        return try Tensor.where(p.gt(0), term, 0).sum(dim: -1)
    }

    /// Distillation loss: per-token divergence reduced with the mask as `options.reduction` says.
    public static func loss(student: Tensor, teacher: Tensor, divergence: DistillDivergence, mask: Tensor? = nil,
                            options: DistillOptions = DistillOptions()) throws -> Tensor {
        let per = try perToken(student: student, teacher: teacher, divergence: divergence, options: options)
        return try maskedReduce(per, mask: mask, reduction: options.reduction, op: "distill." + divergence.rawValue)
    }

    /// Forward KL `KL(teacher ‖ student)`, reduced (see `loss`).
    public static func forwardKL(student: Tensor, teacher: Tensor, mask: Tensor? = nil,
                                 options: DistillOptions = DistillOptions()) throws -> Tensor {
        try loss(student: student, teacher: teacher, divergence: .forwardKL, mask: mask, options: options)
    }

    /// Reverse KL `KL(student ‖ teacher)`, reduced (see `loss`).
    public static func reverseKL(student: Tensor, teacher: Tensor, mask: Tensor? = nil,
                                 options: DistillOptions = DistillOptions()) throws -> Tensor {
        try loss(student: student, teacher: teacher, divergence: .reverseKL, mask: mask, options: options)
    }

    /// Generalised JSD with interpolation `beta` (TRL GKD conventions; see `DistillDivergence.jsd`), reduced.
    public static func jsd(student: Tensor, teacher: Tensor, beta: Float = 0.5, mask: Tensor? = nil,
                           options: DistillOptions = DistillOptions()) throws -> Tensor {
        var o = options
        o.beta = beta
        return try loss(student: student, teacher: teacher, divergence: .jsd, mask: mask, options: o)
    }
}

// MARK: - SFT

/// Supervised fine-tuning (thought cloning) losses: token-level cross-entropy with masks.
public enum SFT {
    /// Per-token negative log-likelihood `[...]` of int64 `targets` `[...]` under `logits` `[..., V]`.
    /// Positions whose target equals `ignoreIndex` (default -100) count 0 and are excluded from the mean.
    public static func perTokenNLL(logits: Tensor, targets: Tensor, ignoreIndex: Int = -100) throws -> Tensor {
        let op = "sft.cross_entropy"
        guard targets.dtype == .int64 else { throw TrainError(op, named: "targets", "expected an int64 tensor, got \(targets.dtype)") }
        guard logits.ndim >= 1, Array(logits.shape.dropLast()) == targets.shape else {
            throw TrainError(op, named: "targets", "expected shape \(shapeString(Array(logits.shape.dropLast()))) (logits \(shapeString(logits.shape)) without the vocabulary), got \(shapeString(targets.shape))")
        }
        let ids = targets.toIntArray()
        let safe = try Tensor(ints: ids.map { $0 == ignoreIndex ? 0 : $0 }, shape: targets.shape)
        let keep = try Tensor(ids.map { $0 == ignoreIndex ? Float(0) : 1 }, shape: targets.shape)
        let v = logits.shape.last!
        for (i, t) in ids.enumerated() where t != ignoreIndex && (t < 0 || t >= v) {
            throw TrainError(op, named: "targets", "token id \(t) at flat position \(i) out of range for a vocabulary of \(v)")
        }
        return try tokenLogProbs(logits: logits, tokens: safe).neg().mul(keep)
    }

    /// Masked cross-entropy: `mask` `[...]` (0/1 or weights) selects the target tokens (e.g. the thought tokens).
    /// `.mean` divides by the mask's total weight (positions with `ignoreIndex` targets also excluded).
    public static func loss(logits: Tensor, targets: Tensor, mask: Tensor? = nil, ignoreIndex: Int = -100,
                            reduction: Reduction = .mean) throws -> Tensor {
        let per = try perTokenNLL(logits: logits, targets: targets, ignoreIndex: ignoreIndex)
        let ignoreMask = try Tensor(targets.toIntArray().map { $0 == ignoreIndex ? Float(0) : 1 }, shape: targets.shape)
        let m = try checkedMask(mask, shape: targets.shape, op: "sft.cross_entropy").map { try $0.mul(ignoreMask) } ?? ignoreMask
        return try maskedReduce(per, mask: m, reduction: reduction, op: "sft.cross_entropy")
    }

    /// SFT loss from per-token log-probabilities already computed by the model (e.g. the policy's scoring pass):
    /// `−masked mean(logProbs)` (or sum / none).
    public static func loss(tokenLogProbs: Tensor, mask: Tensor? = nil, reduction: Reduction = .mean) throws -> Tensor {
        try maskedReduce(tokenLogProbs.neg(), mask: mask, reduction: reduction, op: "sft.nll")
    }
}
