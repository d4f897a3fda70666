/// Merge methods over named parameter sets, with mergekit's semantics (mergekit 0.1.5 source:
/// merge_methods/linear.py, slerp.py, generalized_task_arithmetic.py, sparsify.py).
///
/// - `linear`: Σ wᵢ xᵢ, divided by Σ wᵢ when `normalize` (mergekit default: true).
/// - `ema`: teacher₀ = x₀, teacherₖ = decay·teacherₖ₋₁ + (1 − decay)·xₖ over the ordered inputs (not in
///   mergekit; the GTR-Turbo teacher). The paper's α (weight of the newest checkpoint) is 1 − decay.
/// - `slerp`: spherical interpolation from the base (t = 0) to the single other model (t = 1) over the whole
///   tensor, falling back to lerp when |cos θ| > 0.9995; norms ≤ 1e-8 count as 1.
/// - `generalized` (task arithmetic, TIES, DARE, breadcrumbs): task vectors δᵢ = xᵢ − base, optionally
///   sparsified per tensor (density), weighted, optionally sign-elected (TIES), summed, optionally divided by
///   the (masked) weight sum, scaled by `lambda`, added to the base.
public enum MergeMethod: Sendable, Equatable {
    case linear(weights: [Double], normalize: Bool = true)
    case ema(decay: Double)
    case slerp(t: Double)
    case generalized(GeneralizedTaskArithmetic)

    /// Whether the method needs a base model.
    public var needsBase: Bool {
        switch self {
        case .linear, .ema: return false
        case .slerp, .generalized: return true
        }
    }

    /// mergekit's `task_arithmetic`: no sparsification, no sign election, normalize false.
    public static func taskArithmetic(weights: [Double], lambda: Double = 1, normalize: Bool = false) -> MergeMethod {
        .generalized(.init(weights: weights, densities: weights.map { _ in 1 }, sparsification: .none,
                           consensus: .none, normalize: normalize, rescale: .none, lambda: lambda))
    }

    /// mergekit's `ties`: magnitude top-k per tensor (k = max(1, ⌊density·numel⌋)), sign election by total
    /// mass (`sum`), disjoint mean (normalize defaults to true), lambda.
    public static func ties(weights: [Double], densities: [Double], lambda: Double = 1, normalize: Bool = true) -> MergeMethod {
        .generalized(.init(weights: weights, densities: densities, sparsification: .magnitude,
                           consensus: .sum, normalize: normalize, rescale: .none, lambda: lambda))
    }

    /// mergekit's `dare_linear`: Bernoulli(density) keep mask, rescaled (mergekit: L1-norm matching), no
    /// sign election, normalize false.
    public static func dareLinear(weights: [Double], densities: [Double], seed: UInt64, lambda: Double = 1,
                                  normalize: Bool = false, rescale: Rescale = .l1) -> MergeMethod {
        .generalized(.init(weights: weights, densities: densities, sparsification: .random(seed: seed),
                           consensus: .none, normalize: normalize, rescale: rescale, lambda: lambda))
    }

    /// mergekit's `dare_ties`: as `dareLinear` plus sign election (`sum`).
    public static func dareTies(weights: [Double], densities: [Double], seed: UInt64, lambda: Double = 1,
                                normalize: Bool = false, rescale: Rescale = .l1) -> MergeMethod {
        .generalized(.init(weights: weights, densities: densities, sparsification: .random(seed: seed),
                           consensus: .sum, normalize: normalize, rescale: rescale, lambda: lambda))
    }

    /// mergekit's `breadcrumbs` (`breadcrumbs_ties` with `ties: true`): drop the `gamma` fraction of largest
    /// magnitudes and then the smallest, keeping ⌊density·numel⌋ entries.
    public static func breadcrumbs(weights: [Double], densities: [Double], gammas: [Double], ties: Bool = false,
                                   lambda: Double = 1, normalize: Bool = false) -> MergeMethod {
        .generalized(.init(weights: weights, densities: densities, sparsification: .magnitudeOutliers(gammas: gammas),
                           consensus: ties ? .sum : .none, normalize: normalize, rescale: .none, lambda: lambda))
    }
}

/// mergekit's GeneralizedTaskArithmeticMerge configuration (weights and densities per non-base model).
public struct GeneralizedTaskArithmetic: Sendable, Equatable {
    public enum Sparsification: Sendable, Equatable {
        case none
        /// keep the top-k magnitudes (TIES)
        case magnitude
        /// keep each entry with probability `density`; seeded, counter-based (DARE)
        case random(seed: UInt64)
        /// breadcrumbs: drop the largest `gamma` fraction and the smallest
        case magnitudeOutliers(gammas: [Double])
    }

    public enum Consensus: Sendable, Equatable {
        case none
        /// majority sign of Σ wᵢδᵢ (TIES paper; mergekit `sum`)
        case sum
        /// majority of the signs (mergekit `count`)
        case count
    }

    /// Rescaling of a sparsified task vector.
    public enum Rescale: Sendable, Equatable {
        case none
        /// mergekit's `rescale: true`: scale so the L1 norm matches the unsparsified vector (skipped when either
        /// norm is below 1e-7)
        case l1
        /// the DARE paper's (and older mergekit's) 1/density
        case inverseDensity
    }

    public var weights: [Double]
    public var densities: [Double]
    public var sparsification: Sparsification
    public var consensus: Consensus
    public var normalize: Bool
    public var rescale: Rescale
    public var lambda: Double

    public init(weights: [Double], densities: [Double], sparsification: Sparsification, consensus: Consensus,
                normalize: Bool, rescale: Rescale, lambda: Double = 1) {
        self.weights = weights; self.densities = densities; self.sparsification = sparsification
        self.consensus = consensus; self.normalize = normalize; self.rescale = rescale; self.lambda = lambda
    }
}

public typealias Rescale = GeneralizedTaskArithmetic.Rescale

/// A thrown error for invalid merge requests: mismatched names or shapes, bad parameters, missing tensors.
public struct MergeError: Error, CustomStringConvertible, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { "merge: \(message)" }
}

extension MergeMethod {
    /// Checks parameters against the number of non-base inputs.
    func validate(inputCount n: Int, hasBase: Bool) throws {
        if n == 0 { throw MergeError("no models to merge (empty list)") }
        if needsBase && !hasBase { throw MergeError("\(name) needs a base model") }
        switch self {
        case let .linear(weights, normalize):
            if weights.count != n { throw MergeError("linear: \(weights.count) weights for \(n) models") }
            if weights.contains(where: { !$0.isFinite }) { throw MergeError("linear: weights must be finite") }
            if normalize && Float(weights.reduce(0, +)) == 0 {
                throw MergeError("linear: weights sum to 0, cannot normalize")
            }
        case let .ema(decay):
            if !(decay >= 0 && decay <= 1) { throw MergeError("ema: decay \(decay) outside [0, 1]") }
        case let .slerp(t):
            if !t.isFinite { throw MergeError("slerp: t must be finite") }
            if n != 1 { throw MergeError("slerp: needs exactly one model besides the base, got \(n)") }
        case let .generalized(g):
            if g.weights.count != n { throw MergeError("\(name): \(g.weights.count) weights for \(n) models") }
            if g.densities.count != n { throw MergeError("\(name): \(g.densities.count) densities for \(n) models") }
            if g.weights.contains(where: { !$0.isFinite }) { throw MergeError("\(name): weights must be finite") }
            if !g.lambda.isFinite { throw MergeError("\(name): lambda must be finite") }
            for (i, d) in g.densities.enumerated() where !(d > 0 && d <= 1) {
                throw MergeError("\(name): density \(d) of model #\(i) is outside (0, 1]")
            }
            if case let .magnitudeOutliers(gammas) = g.sparsification {
                if gammas.count != n { throw MergeError("\(name): \(gammas.count) gammas for \(n) models") }
                for (i, gm) in gammas.enumerated() where !(gm >= 0 && gm < 1) {
                    throw MergeError("\(name): gamma \(gm) of model #\(i) is outside [0, 1)")
                }
            }
        }
    }

    public var name: String {
        switch self {
        case .linear: return "linear"
        case .ema: return "ema"
        case .slerp: return "slerp"
        case let .generalized(g):
            switch (g.sparsification, g.consensus) {
            case (.none, .none): return "task_arithmetic"
            case (.magnitude, .none): return "magnitude_linear"
            case (.magnitude, _): return "ties"
            case (.random, .none): return "dare_linear"
            case (.random, _): return "dare_ties"
            case (.magnitudeOutliers, .none): return "breadcrumbs"
            case (.magnitudeOutliers, _): return "breadcrumbs_ties"
            case (.none, _): return "sign_consensus"
            }
        }
    }
}
