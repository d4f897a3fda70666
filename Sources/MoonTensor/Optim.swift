import Foundation

/// A first-order optimiser over a fixed list of parameters (PyTorch semantics).
public protocol Optimizer: AnyObject {
    /// The parameters updated by `step()`.
    var params: [Tensor] { get }
    /// The current learning rate (set it each step from an `LRSchedule`).
    var lr: Float { get set }
    /// Applies one update from the parameters' current `grad` (parameters without grad are skipped).
    func step() throws
    /// Exports the optimiser state (moments, step counts, lr) for checkpointing.
    func stateDict() -> [String: Tensor]
    /// Restores state exported by `stateDict()`; throws on missing keys or shape mismatches.
    func loadStateDict(_ state: [String: Tensor]) throws
}

extension Optimizer {
    /// Clears the gradients of all parameters.
    public func zeroGrad() { for p in params { p.grad = nil } }
}

func validateParams(_ params: [Tensor], _ op: String) throws {
    for (i, p) in params.enumerated() {
        if p.dtype != .float32 { throw TensorError(op, arg: "'params'", "parameter \(i + 1) must be float32, got \(p.dtype)") }
        if !p.isContiguous { throw TensorError(op, arg: "'params'", "parameter \(i + 1) must be contiguous") }
    }
}

func gradOf(_ p: Tensor, _ i: Int, _ op: String) throws -> Tensor? {
    guard let g = p.grad else { return nil }
    if g.shape != p.shape {
        throw TensorError(op, "gradient of parameter \(i + 1) has shape \(fmt(g.shape)), expected \(fmt(p.shape))")
    }
    return g.contiguous()
}

func loadSlot(_ state: [String: Tensor], _ key: String, _ shape: [Int], _ op: String) throws -> Tensor? {
    guard let t = state[key] else { return nil }
    if t.shape != shape { throw TensorError(op, arg: "'state'", "'\(key)' has shape \(fmt(t.shape)), expected \(fmt(shape))") }
    return Tensor.noGrad { asFloat(t).clone() }
}

func scalarState(_ state: [String: Tensor], _ key: String, _ op: String) throws -> Float? {
    guard let t = state[key] else { return nil }
    return try t.item()
}

/// Stochastic gradient descent with optional momentum, Nesterov momentum and L2 weight decay.
public final class SGD: Optimizer {
    public let params: [Tensor]
    public var lr: Float
    public let momentum: Float, dampening: Float, weightDecay: Float, nesterov: Bool
    private var buffers: [Tensor?]

    /// Creates the optimiser; throws on invalid hyper-parameters.
    public init(_ params: [Tensor], lr: Float, momentum: Float = 0, dampening: Float = 0,
                weightDecay: Float = 0, nesterov: Bool = false) throws {
        try validateParams(params, "SGD")
        guard lr >= 0 else { throw TensorError("SGD", arg: "'lr'", "expected lr >= 0, got \(lr)") }
        guard momentum >= 0 else { throw TensorError("SGD", arg: "'momentum'", "expected momentum >= 0, got \(momentum)") }
        guard weightDecay >= 0 else { throw TensorError("SGD", arg: "'weightDecay'", "expected weight decay >= 0, got \(weightDecay)") }
        if nesterov && (momentum <= 0 || dampening != 0) {
            throw TensorError("SGD", arg: "'nesterov'", "Nesterov momentum requires momentum > 0 and dampening 0")
        }
        self.params = params; self.lr = lr; self.momentum = momentum; self.dampening = dampening
        self.weightDecay = weightDecay; self.nesterov = nesterov
        buffers = Array(repeating: nil, count: params.count)
    }

    public func step() throws {
        for (i, p) in params.enumerated() {
            guard let g = try gradOf(p, i, "SGD.step") else { continue }
            let n = p.count, pp = p.fptr, gp = g.fptr
            let lr = self.lr, wd = weightDecay, mom = momentum, damp = dampening, nest = nesterov
            if mom == 0 {
                parallelRange(n) { lo, hi in for j in lo..<hi { pp[j] -= lr * (gp[j] + wd * pp[j]) } }
            } else if let buf = buffers[i] {
                let bp = buf.fptr
                parallelRange(n) { lo, hi in
                    for j in lo..<hi {
                        let d = gp[j] + wd * pp[j]
                        bp[j] = mom * bp[j] + (1 - damp) * d
                        pp[j] -= lr * (nest ? d + mom * bp[j] : bp[j])
                    }
                }
            } else {
                let buf = Tensor.empty(p.shape)
                let bp = buf.fptr
                for j in 0..<n {
                    let d = gp[j] + wd * pp[j]
                    bp[j] = d
                    pp[j] -= lr * (nest ? d + mom * d : d)
                }
                buffers[i] = buf
            }
            p.storage.bump()
        }
    }

    public func stateDict() -> [String: Tensor] {
        var s: [String: Tensor] = ["lr": .scalar(lr)]
        for (i, b) in buffers.enumerated() { if let b { s["state.\(i).momentum_buffer"] = b.clone() } }
        return s
    }

    public func loadStateDict(_ state: [String: Tensor]) throws {
        if let v = try scalarState(state, "lr", "SGD.loadStateDict") { lr = v }
        for (i, p) in params.enumerated() {
            buffers[i] = try loadSlot(state, "state.\(i).momentum_buffer", p.shape, "SGD.loadStateDict")
        }
    }
}

/// Adam (L2 weight decay added to the gradient), or AdamW when `decoupledWeightDecay` is true.
public class Adam: Optimizer {
    public let params: [Tensor]
    public var lr: Float
    public let beta1: Float, beta2: Float, eps: Float, weightDecay: Float
    /// True for AdamW: weight decay shrinks the parameters directly instead of entering the moments.
    public let decoupledWeightDecay: Bool
    private var m: [Tensor?], v: [Tensor?], steps: [Int]

    /// Creates the optimiser; throws on invalid hyper-parameters.
    public init(_ params: [Tensor], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
                weightDecay: Float = 0, decoupledWeightDecay: Bool = false) throws {
        let name = decoupledWeightDecay ? "AdamW" : "Adam"
        try validateParams(params, name)
        guard lr >= 0 else { throw TensorError(name, arg: "'lr'", "expected lr >= 0, got \(lr)") }
        guard betas.0 >= 0 && betas.0 < 1 else { throw TensorError(name, arg: "'betas'", "expected beta1 in [0, 1), got \(betas.0)") }
        guard betas.1 >= 0 && betas.1 < 1 else { throw TensorError(name, arg: "'betas'", "expected beta2 in [0, 1), got \(betas.1)") }
        guard eps >= 0 else { throw TensorError(name, arg: "'eps'", "expected eps >= 0, got \(eps)") }
        guard weightDecay >= 0 else { throw TensorError(name, arg: "'weightDecay'", "expected weight decay >= 0, got \(weightDecay)") }
        self.params = params; self.lr = lr; beta1 = betas.0; beta2 = betas.1; self.eps = eps
        self.weightDecay = weightDecay; self.decoupledWeightDecay = decoupledWeightDecay
        m = Array(repeating: nil, count: params.count)
        v = Array(repeating: nil, count: params.count)
        steps = Array(repeating: 0, count: params.count)
    }

    public func step() throws {
        for (i, p) in params.enumerated() {
            guard let g = try gradOf(p, i, decoupledWeightDecay ? "AdamW.step" : "Adam.step") else { continue }
            if m[i] == nil { m[i] = Tensor.empty(p.shape, zeroed: true); v[i] = Tensor.empty(p.shape, zeroed: true) }
            steps[i] += 1
            let t = Double(steps[i])
            let bc1 = Float(1 - Foundation.pow(Double(beta1), t))
            let bc2sqrt = Float((1 - Foundation.pow(Double(beta2), t)).squareRoot())
            let stepSize = lr / bc1
            let b1 = beta1, b2 = beta2, eps = self.eps, wd = weightDecay, dec = decoupledWeightDecay, lr = self.lr
            let pp = p.fptr, gp = g.fptr, mp = m[i]!.fptr, vp = v[i]!.fptr
            parallelRange(p.count) { lo, hi in
                for j in lo..<hi {
                    var gj = gp[j]
                    if dec { pp[j] *= 1 - lr * wd } else if wd != 0 { gj += wd * pp[j] }
                    mp[j] = b1 * mp[j] + (1 - b1) * gj
                    vp[j] = b2 * vp[j] + (1 - b2) * gj * gj
                    pp[j] -= stepSize * mp[j] / (vp[j].squareRoot() / bc2sqrt + eps)
                }
            }
            p.storage.bump()
        }
    }

    public func stateDict() -> [String: Tensor] {
        var s: [String: Tensor] = ["lr": .scalar(lr)]
        for i in 0..<params.count {
            guard let mi = m[i], let vi = v[i] else { continue }
            s["state.\(i).exp_avg"] = mi.clone()
            s["state.\(i).exp_avg_sq"] = vi.clone()
            s["state.\(i).step"] = .scalar(Float(steps[i]))
        }
        return s
    }

    public func loadStateDict(_ state: [String: Tensor]) throws {
        let op = decoupledWeightDecay ? "AdamW.loadStateDict" : "Adam.loadStateDict"
        if let l = try scalarState(state, "lr", op) { lr = l }
        for (i, p) in params.enumerated() {
            let mi = try loadSlot(state, "state.\(i).exp_avg", p.shape, op)
            let vi = try loadSlot(state, "state.\(i).exp_avg_sq", p.shape, op)
            if (mi == nil) != (vi == nil) {
                throw TensorError(op, arg: "'state'", "parameter \(i + 1) has only one of exp_avg / exp_avg_sq")
            }
            m[i] = mi; v[i] = vi
            steps[i] = Swift.max(0, Int(saturatingInt64(try scalarState(state, "state.\(i).step", op) ?? 0)))
        }
    }
}

/// AdamW: Adam with decoupled weight decay (default 0.01), as `torch.optim.AdamW`.
public final class AdamW: Adam {
    public init(_ params: [Tensor], lr: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8,
                weightDecay: Float = 1e-2) throws {
        try super.init(params, lr: lr, betas: betas, eps: eps, weightDecay: weightDecay, decoupledWeightDecay: true)
    }
}

/// Scales all gradients in place so that their joint norm is at most `maxNorm`; returns the norm before clipping.
/// `normType` is 2 (Euclidean) or `.infinity`.
@discardableResult
public func clipGradNorm(_ params: [Tensor], maxNorm: Float, normType: Float = 2) throws -> Float {
    guard maxNorm >= 0 else { throw TensorError("clip_grad_norm", arg: "'maxNorm'", "expected maxNorm >= 0, got \(maxNorm)") }
    guard normType == 2 || normType == .infinity else {
        throw TensorError("clip_grad_norm", arg: "'normType'", "expected 2 or infinity, got \(normType)")
    }
    var grads: [Tensor] = []
    for p in params { if let g = p.grad { grads.append(g) } }
    var total = 0.0
    for g in grads {
        let c = g.contiguous()
        if normType == 2 {
            let p = c.fptr
            var s = 0.0
            for j in 0..<c.count { s += Double(p[j]) * Double(p[j]) }
            total += s
        } else {
            for j in 0..<c.count { total = Swift.max(total, Double(Swift.abs(c.fptr[j]))) }
        }
    }
    if normType == 2 { total = total.squareRoot() }
    let coef = Double(maxNorm) / (total + 1e-6)
    if coef < 1 {
        for g in grads { try Tensor.noGrad { _ = try g.mul_(Float(coef)) } }
    }
    return Float(total)
}

/// A learning-rate schedule: `lr(at: step)` for a 0-based step index.
public struct LRSchedule: Sendable {
    private enum Kind: Sendable { case constant, warmup, cosine, linear }
    private let kind: Kind
    public let baseLR: Float, minLR: Float, warmupSteps: Int, totalSteps: Int

    private init(_ k: Kind, _ base: Float, _ minLR: Float, _ warm: Int, _ total: Int) {
        kind = k; baseLR = base; self.minLR = minLR; warmupSteps = warm; totalSteps = total
    }

    /// Always `lr`.
    public static func constant(_ lr: Float) -> LRSchedule { LRSchedule(.constant, lr, lr, 0, 0) }
    /// Linear warm-up from `lr/warmupSteps` to `lr` over `warmupSteps`, then constant.
    public static func warmup(_ lr: Float, warmupSteps: Int) -> LRSchedule { LRSchedule(.warmup, lr, lr, Swift.max(0, warmupSteps), 0) }
    /// Optional linear warm-up, then cosine decay from `lr` to `minLR` at step `totalSteps` (constant `minLR` after).
    public static func cosine(_ lr: Float, minLR: Float = 0, totalSteps: Int, warmupSteps: Int = 0) -> LRSchedule {
        LRSchedule(.cosine, lr, minLR, Swift.max(0, warmupSteps), totalSteps)
    }
    /// Optional linear warm-up, then linear decay from `lr` to `minLR` at step `totalSteps`.
    public static func linear(_ lr: Float, minLR: Float = 0, totalSteps: Int, warmupSteps: Int = 0) -> LRSchedule {
        LRSchedule(.linear, lr, minLR, Swift.max(0, warmupSteps), totalSteps)
    }

    /// The learning rate for the 0-based `step`.
    public func lr(at step: Int) -> Float {
        if kind == .constant { return baseLR }
        if step < warmupSteps { return baseLR * Float(step + 1) / Float(warmupSteps) }
        if kind == .warmup { return baseLR }
        let span = totalSteps - warmupSteps
        let prog = span <= 0 ? 1.0 : Swift.min(1.0, Double(step - warmupSteps) / Double(span))
        if kind == .linear { return baseLR + (minLR - baseLR) * Float(prog) }
        return minLR + (baseLR - minLR) * Float(0.5 * (1 + Foundation.cos(Double.pi * prog)))
    }
}
