import Foundation
import MoonTensor

/// Low-rank adapter of one `Linear`: `y = W·x + scale · B·(A·x)` with `A` `[rank, in]` (random) and `B`
/// `[out, rank]` (zero), `scale = alpha / rank`. Parameters are named `<layer>.lora_A.weight`, `<layer>.lora_B.weight`.
public final class LoRAAdapter {
    public let rank: Int
    public let alpha: Float
    public var scale: Float { alpha / Float(rank) }
    public let loraA: Linear
    public let loraB: Linear
    /// When false the layer behaves as its base weight alone.
    public var enabled = true
    /// Dropout applied to the adapter input in training mode.
    public var dropout: Float

    init(inFeatures: Int, outFeatures: Int, rank: Int, alpha: Float, dropout: Float, generator: Generator) {
        self.rank = rank; self.alpha = alpha; self.dropout = dropout
        loraA = Linear(inFeatures, rank, bias: false, std: 0, generator: generator)
        loraB = Linear(rank, outFeatures, bias: false, std: 0, generator: generator)
        // A ~ U(-1/sqrt(in), 1/sqrt(in)) (PEFT's kaiming-uniform with a = sqrt(5)); B = 0.
        let bound = 1 / Float(inFeatures).squareRoot()
        Tensor.noGrad {
            let p = loraA.weight.mPtr
            for i in 0..<loraA.weight.count { p[i] = (generator.nextFloat() * 2 - 1) * bound }
        }
    }

    func delta(_ x: Tensor, training: Bool) throws -> Tensor {
        var h = x
        if training && dropout > 0 { h = try h.dropout(p: dropout, training: true) }
        return try loraB(loraA(h)).mul(scale)
    }

    /// `scale · B·A` `[out, in]`.
    func deltaWeight() throws -> Tensor { try loraB.weight.matmul(loraA.weight).mul(scale) }
}

/// Options for attaching LoRA adapters.
public struct LoRAConfig: Sendable, Equatable {
    public var rank: Int = 8
    public var alpha: Float = 16
    public var dropout: Float = 0
    /// Regular expressions matched (searched) against the dotted names of `Linear` modules, e.g. `"q_proj"`
    /// (also matches the vision encoder's), `"self_attn\\.(q|v)_proj"`, `"model\\.layers\\.[0-9]+\\.mlp"`.
    /// Default: the decoder's attention projections.
    public var targets: [String] = LoRAConfig.decoderAttention
    /// Freeze every non-adapter parameter except those matching `trainable` (only adapters and those train).
    public var freezeBase: Bool = true
    /// Regular expressions of parameter names that stay trainable when `freezeBase` (default: the value head, which
    /// PPO must train).
    public var trainable: [String] = ["^value_head\\."]

    public static let decoderAttention = ["^model\\.layers\\.[0-9]+\\.self_attn\\.(q|k|v|o)_proj$"]

    public init(rank: Int = 8, alpha: Float = 16, dropout: Float = 0, targets: [String] = LoRAConfig.decoderAttention,
                freezeBase: Bool = true, trainable: [String] = ["^value_head\\."]) {
        self.rank = rank; self.alpha = alpha; self.dropout = dropout; self.targets = targets; self.freezeBase = freezeBase
        self.trainable = trainable
    }

    public func validate() throws {
        if rank <= 0 || rank > VLMConfig.maxSize {
            throw ModelError.invalidConfig(field: "lora.rank", reason: "must be in 1...\(VLMConfig.maxSize), got \(rank)")
        }
        if !(alpha > 0) { throw ModelError.invalidConfig(field: "lora.alpha", reason: "must be positive, got \(alpha)") }
        if !(dropout >= 0 && dropout < 1) { throw ModelError.invalidConfig(field: "lora.dropout", reason: "must be in [0, 1), got \(dropout)") }
        if targets.isEmpty { throw ModelError.invalidConfig(field: "lora.targets", reason: "must name at least one layer pattern") }
        for t in targets where (try? NSRegularExpression(pattern: t)) == nil {
            throw ModelError.invalidConfig(field: "lora.targets", reason: "invalid pattern \"\(t)\"")
        }
        for t in trainable where (try? NSRegularExpression(pattern: t)) == nil {
            throw ModelError.invalidConfig(field: "lora.trainable", reason: "invalid pattern \"\(t)\"")
        }
    }
}

/// Attaching, toggling and merging LoRA adapters on a module tree.
public enum LoRA {
    /// Attaches adapters to every `Linear` whose dotted name matches a target pattern (adapters themselves are
    /// never targets). Returns the adapted layer names. Throws when nothing matches or a layer already has one.
    @discardableResult
    public static func apply(to root: Module, config: LoRAConfig, generator: Generator = .default) throws -> [String] {
        try config.validate()
        let regs = config.targets.map { try! NSRegularExpression(pattern: $0) }
        var names: [String] = []
        var layers: [Linear] = []
        for (name, m) in root.namedModules() {
            guard let lin = m as? Linear, !name.hasSuffix("lora_A"), !name.hasSuffix("lora_B") else { continue }
            let r = NSRange(name.startIndex..., in: name)
            guard regs.contains(where: { $0.firstMatch(in: name, range: r) != nil }) else { continue }
            if lin.lora != nil { throw ModelError.invalidArgument("lora: layer \(name) already has an adapter") }
            names.append(name); layers.append(lin)
        }
        if layers.isEmpty {
            throw ModelError.invalidConfig(field: "lora.targets", reason: "no Linear layer matches \(config.targets)")
        }
        if config.freezeBase {
            root.setRequiresGrad(false)
            let keep = config.trainable.map { try! NSRegularExpression(pattern: $0) }
            for (n, p) in root.namedParameters() where keep.contains(where: { $0.firstMatch(in: n, range: NSRange(n.startIndex..., in: n)) != nil }) {
                _ = try? p.setRequiresGrad(true)
            }
        }
        var elements = 0
        for lin in layers {
            guard let n = checkedProductOfSizes([config.rank, lin.inFeatures + lin.outFeatures]),
                  case let (sum, false) = elements.addingReportingOverflow(n) else {
                throw ModelError.invalidConfig(field: "lora.rank", reason: "rank \(config.rank) needs too many parameters")
            }
            elements = sum
        }
        do { try Allocation.check(bytes: elements.multipliedReportingOverflow(by: 8).overflow ? Int.max : elements * 8) } catch {
            throw ModelError.invalidConfig(field: "lora.rank", reason: "rank \(config.rank): \(error)")
        }
        for lin in layers {
            let ad = LoRAAdapter(inFeatures: lin.inFeatures, outFeatures: lin.outFeatures, rank: config.rank,
                                 alpha: config.alpha, dropout: config.dropout, generator: generator)
            lin.lora = ad
            lin.registerModule("lora_A", ad.loraA)
            lin.registerModule("lora_B", ad.loraB)
            ad.loraA.train(lin.training); ad.loraB.train(lin.training)
        }
        return names
    }

    /// The layers carrying adapters, with their names.
    public static func adapted(_ root: Module) -> [(String, Linear)] {
        root.namedModules().compactMap { n, m in (m as? Linear)?.lora != nil ? (n, m as! Linear) : nil }
    }

    /// Enables or disables every adapter (disabled: the base model).
    public static func setEnabled(_ root: Module, _ on: Bool) {
        for (_, l) in adapted(root) { l.lora?.enabled = on }
    }

    /// The adapter parameters (`*.lora_A.weight`, `*.lora_B.weight`).
    public static func adapterParameters(_ root: Module) -> [(String, Tensor)] {
        root.namedParameters().filter { $0.0.contains(".lora_A.") || $0.0.contains(".lora_B.") }
    }

    /// Folds every enabled adapter into its base weight (`W += scale·B·A`), removes the adapters (disabled ones are
    /// dropped without merging) and makes every parameter trainable again.
    public static func merge(_ root: Module) throws {
        try Tensor.noGrad {
            for (_, l) in adapted(root) {
                guard let ad = l.lora else { continue }
                if ad.enabled { try l.weight.add_(ad.deltaWeight()) }
                l.lora = nil
                l.removeModule("lora_A"); l.removeModule("lora_B")
            }
        }
        root.setRequiresGrad(true)
    }
}
