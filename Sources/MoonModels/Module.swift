import MoonTensor

/// Base class of every layer and model: named parameters, child modules, train/eval mode, state dicts.
///
/// Parameters are leaf float32 tensors that require grad (unless frozen). Names are dotted paths built from the
/// registration names (`model.layers.0.self_attn.q_proj.weight`). Loading a state dict copies values *into* the
/// existing parameter tensors, so references held by layers (and optimisers) stay valid.
open class Module {
    /// True in training mode (the default); `eval()` sets it to false on the whole tree.
    public private(set) var training = true
    private var paramOrder: [String] = []
    private var params: [String: Tensor] = [:]
    private var childOrder: [String] = []
    private var childMap: [String: Module] = [:]

    public init() {}

    /// Registers (or replaces) a parameter under `name`. Returns the tensor.
    @discardableResult
    public func registerParameter(_ name: String, _ t: Tensor) -> Tensor {
        if params[name] == nil { paramOrder.append(name) }
        params[name] = t
        return t
    }

    /// Removes a parameter (e.g. LoRA adapters after merging).
    public func removeParameter(_ name: String) {
        params[name] = nil
        paramOrder.removeAll { $0 == name }
    }

    /// Registers (or replaces) a child module under `name`. Returns the child.
    @discardableResult
    public func registerModule<M: Module>(_ name: String, _ m: M) -> M {
        if childMap[name] == nil { childOrder.append(name) }
        childMap[name] = m
        return m
    }

    /// Removes a child module.
    public func removeModule(_ name: String) {
        childMap[name] = nil
        childOrder.removeAll { $0 == name }
    }

    /// The direct children, in registration order.
    public var children: [(String, Module)] { childOrder.map { ($0, childMap[$0]!) } }

    /// The direct child named `name`.
    public func child(_ name: String) -> Module? { childMap[name] }

    /// This module's own parameters (not the children's), in registration order.
    public var ownParameters: [(String, Tensor)] { paramOrder.map { ($0, params[$0]!) } }

    /// All modules of the tree with their dotted names (this one is "").
    public func namedModules(prefix: String = "") -> [(String, Module)] {
        var out: [(String, Module)] = [(prefix, self)]
        for (n, c) in children { out += c.namedModules(prefix: prefix.isEmpty ? n : prefix + "." + n) }
        return out
    }

    /// All parameters of the tree with dotted names, in a deterministic order (own first, then children).
    public func namedParameters(prefix: String = "") -> [(String, Tensor)] {
        var out: [(String, Tensor)] = []
        for n in paramOrder { out.append((prefix.isEmpty ? n : prefix + "." + n, params[n]!)) }
        for (n, c) in children { out += c.namedParameters(prefix: prefix.isEmpty ? n : prefix + "." + n) }
        return out
    }

    /// All parameter tensors.
    public func parameters() -> [Tensor] { namedParameters().map { $0.1 } }

    /// The parameters that currently require grad (what an optimiser should get).
    public func trainableParameters() -> [Tensor] { parameters().filter { $0.requiresGrad } }

    /// Named parameters that currently require grad.
    public func namedTrainableParameters() -> [(String, Tensor)] { namedParameters().filter { $0.1.requiresGrad } }

    /// Total number of parameter elements.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    /// Turns gradient tracking on or off for every parameter of the tree.
    public func setRequiresGrad(_ flag: Bool) {
        for p in parameters() { _ = try? p.setRequiresGrad(flag) }
    }

    /// Sets training mode on the whole tree.
    public func train(_ on: Bool = true) {
        training = on
        for (_, c) in children { c.train(on) }
    }

    /// Sets evaluation mode on the whole tree.
    public func eval() { train(false) }

    /// The parameters by dotted name. The tensors share storage with the parameters but are detached.
    public func stateDict() -> [String: Tensor] {
        var d: [String: Tensor] = [:]
        for (n, t) in namedParameters() { d[n] = t.detach() }
        return d
    }

    /// Differences between `dict` and this module's parameters: missing, unexpected and mis-shaped names (sorted).
    public func stateDictDifferences(_ shapes: [String: [Int]]) -> (missing: [String], unexpected: [String], mismatched: [(name: String, expected: [Int], got: [Int])]) {
        let mine = namedParameters()
        var names = Set<String>()
        var missing: [String] = [], mismatched: [(name: String, expected: [Int], got: [Int])] = []
        for (n, t) in mine {
            names.insert(n)
            guard let s = shapes[n] else { missing.append(n); continue }
            if s != t.shape { mismatched.append((n, t.shape, s)) }
        }
        let unexpected = shapes.keys.filter { !names.contains($0) }.sorted()
        return (missing.sorted(), unexpected, mismatched.sorted { $0.name < $1.name })
    }

    /// Copies the tensors of `dict` into the parameters. With `strict` (default), any missing or unexpected name is an
    /// error; a shape mismatch is always an error. The error lists every difference; nothing is modified when it throws.
    public func loadStateDict(_ dict: [String: Tensor], strict: Bool = true) throws {
        let diff = stateDictDifferences(dict.mapValues { $0.shape })
        let badDtype = dict.filter { $0.value.dtype != .float32 }.keys.sorted()
        if !badDtype.isEmpty {
            throw ModelError.invalidArgument("loadStateDict: tensors must be float32: \(badDtype.joined(separator: ", "))")
        }
        if !diff.mismatched.isEmpty || (strict && (!diff.missing.isEmpty || !diff.unexpected.isEmpty)) {
            throw ModelError.stateDictMismatch(missing: strict ? diff.missing : [], unexpected: strict ? diff.unexpected : [],
                                               mismatched: diff.mismatched)
        }
        try Tensor.noGrad {
            for (n, p) in namedParameters() {
                if let src = dict[n] { try p.copy_(src) }
            }
        }
    }

    /// The parameters as safetensors-style named arrays (float32 copies), e.g. for `Merge`.
    public func namedTensors() -> [NamedTensor] {
        namedParameters().map { NamedTensor(name: $0.0, shape: $0.1.shape, floats: $0.1.toArray()) }
    }

    /// Loads named float arrays (e.g. a `Merge` result) with `loadStateDict` semantics.
    public func loadNamedTensors(_ tensors: [NamedTensor], strict: Bool = true) throws {
        var d: [String: Tensor] = [:]
        for t in tensors {
            guard let f = t.floats, f.count == t.count else {
                throw ModelError.invalidArgument("loadNamedTensors: tensor \(t.name) is not a float tensor matching its shape")
            }
            d[t.name] = Tensor.fromArray(f, t.shape)
        }
        try loadStateDict(d, strict: strict)
    }
}
