import Foundation

/// Thread-local switch for gradient recording.
public enum GradMode {
    static let key: pthread_key_t = {
        var k = pthread_key_t()
        pthread_key_create(&k, nil)
        return k
    }()
    private static let off = UnsafeMutableRawPointer(bitPattern: 1)

    /// Whether ops on this thread record autograd history.
    public static var isEnabled: Bool {
        @inline(__always) get { pthread_getspecific(key) == nil }
    }

    /// Enables or disables recording on the current thread.
    public static func setEnabled(_ on: Bool) {
        pthread_setspecific(key, on ? nil : UnsafeRawPointer(off))
    }
}

extension Tensor {
    /// Runs `body` with gradient recording disabled on this thread (like `torch.no_grad()`).
    public static func noGrad<R>(_ body: () throws -> R) rethrows -> R {
        let was = GradMode.isEnabled
        GradMode.setEnabled(false)
        defer { GradMode.setEnabled(was) }
        return try body()
    }

    /// Runs `body` with gradient recording enabled on this thread.
    public static func enableGrad<R>(_ body: () throws -> R) rethrows -> R {
        let was = GradMode.isEnabled
        GradMode.setEnabled(true)
        defer { GradMode.setEnabled(was) }
        return try body()
    }
}

/// A recorded op: its inputs and a closure mapping the output gradient to input gradients.
final class GradNode {
    let name: String
    var inputs: [Tensor]
    var backward: ((Tensor) throws -> [Tensor?])?
    /// Set once a backward pass released this node's closure and inputs.
    var freed = false
    private var saved: [(Storage, Int)] = []

    init(_ name: String, _ inputs: [Tensor], saving: [Tensor] = [],
         _ backward: @escaping (Tensor) throws -> [Tensor?]) {
        self.name = name
        self.inputs = inputs
        self.backward = backward
        if !saving.isEmpty { saved = saving.map { ($0.storage, $0.storage.version) } }
    }

    /// Frees a graph iteratively (a long chain released recursively would overflow the stack).
    static func teardown(_ root: GradNode) {
        var stack = [root]
        while let n = stack.popLast() {
            n.backward = nil  // drops the closure's references to the inputs
            for i in 0..<n.inputs.count {
                if isKnownUniquelyReferenced(&n.inputs[i]), let f = n.inputs[i].gradFn {
                    n.inputs[i].gradFn = nil
                    stack.append(f)
                }
            }
        }
    }

    func checkSaved() throws {
        for (s, v) in saved where s.version != v {
            throw TensorError("backward", "a tensor needed to compute the gradient of '\(name)' was modified by an in-place operation (version \(s.version), expected \(v)); clone it before modifying")
        }
    }
}

/// True when an op on these inputs must be recorded.
@inline(__always)
func needsGrad(_ a: Tensor) -> Bool { a.requiresGrad && GradMode.isEnabled }
@inline(__always)
func needsGrad(_ a: Tensor, _ b: Tensor) -> Bool { (a.requiresGrad || b.requiresGrad) && GradMode.isEnabled }

extension Tensor {
    @inline(__always)
    func record(_ node: GradNode) {
        gradFn = node
        requiresGrad = true
    }

    /// Computes gradients of this tensor with respect to all leaves that require grad, accumulating into `grad`.
    ///
    /// - Parameters:
    ///   - gradient: the gradient of some scalar with respect to `self`; required unless `self` has one element.
    ///   - retainGraph: keep the graph (and the intermediate tensors it holds) for another backward pass.
    ///     By default the graph is released as it is traversed, as in PyTorch, so a second pass throws.
    public func backward(gradient: Tensor? = nil, retainGraph: Bool = false) throws {
        guard requiresGrad else {
            throw TensorError("backward", "the tensor does not require grad (no leaf with requiresGrad contributed to it)")
        }
        let seed: Tensor
        if let g = gradient {
            guard g.shape == shape else {
                throw TensorError("backward", arg: "'gradient'", "expected shape \(fmt(shape)), got \(fmt(g.shape))")
            }
            guard g.dtype == .float32 else {
                throw TensorError("backward", arg: "'gradient'", "expected a float32 tensor, got \(g.dtype)")
            }
            seed = g
        } else {
            guard count == 1 else {
                throw TensorError("backward", "a gradient can be implicitly created only for a one-element output, got shape \(fmt(shape)); pass gradient:")
            }
            seed = Tensor.full(shape, 1)
        }
        try Tensor.noGrad {
            // Post-order DFS (iterative): inputs before the tensors that use them.
            var order: [Tensor] = []
            var visited = Set<ObjectIdentifier>([ObjectIdentifier(self)])
            var stack: [(Tensor, Int)] = [(self, 0)]
            while !stack.isEmpty {
                let (t, i) = stack[stack.count - 1]
                let inputs = t.gradFn?.inputs ?? []
                if i < inputs.count {
                    stack[stack.count - 1].1 = i + 1
                    let c = inputs[i]
                    if c.requiresGrad && visited.insert(ObjectIdentifier(c)).inserted {
                        stack.append((c, 0))
                    }
                } else {
                    stack.removeLast()
                    order.append(t)
                }
            }
            var grads: [ObjectIdentifier: Tensor] = [ObjectIdentifier(self): seed]
            for t in order.reversed() {
                guard let g = grads.removeValue(forKey: ObjectIdentifier(t)) else { continue }
                if let fn = t.gradFn {
                    if t.retainsGrad { t.accumulateGrad(g) }
                    guard let bw = fn.backward, !fn.freed else {
                        throw TensorError("backward", "the graph through '\(fn.name)' was already freed by an earlier backward(); pass retainGraph: true to the first call")
                    }
                    try fn.checkSaved()
                    let gs = try bw(g)
                    for (inp, gi) in zip(fn.inputs, gs) where inp.requiresGrad {
                        guard let gi else { continue }
                        let key = ObjectIdentifier(inp)
                        if let prev = grads[key] { grads[key] = try prev.add(gi) } else { grads[key] = gi }
                    }
                    if !retainGraph {
                        fn.freed = true
                        fn.backward = nil
                        fn.inputs = []
                    }
                } else {
                    t.accumulateGrad(g)
                }
            }
        }
    }

    func accumulateGrad(_ g: Tensor) {
        if let prev = grad, prev.shape == shape, prev.isContiguous {
            // In place into our own buffer (grads are always private contiguous copies).
            let p = prev.fptr
            let src = g.shape == shape ? g : g
            if src.isContiguous {
                let q = src.fptr
                for i in 0..<count { p[i] += q[i] }
            } else {
                let tmp = src.contiguous()
                let q = tmp.fptr
                for i in 0..<count { p[i] += q[i] }
            }
            prev.storage.bump()
        } else {
            let c = Tensor.empty(shape)
            copyElements(from: g, into: c)
            grad = c
        }
    }

    /// Sets `grad` to nil.
    public func zeroGrad() { grad = nil }
}

/// Clears the gradients of the given parameters.
public func zeroGrad(_ params: [Tensor]) { for p in params { p.grad = nil } }

extension Tensor {
    /// Records `output`, a fresh tensor computed outside autograd from `inputs`, as the result of one differentiable
    /// op named `name`: `backward(gradOutput)` returns one gradient (or nil) per input, shaped like it. Used by fused
    /// kernels that compute a whole sub-graph at once (the decoder's fused scoring pass). Without grad mode or with no
    /// input that requires grad, `output` is returned unrecorded. `output` must not already have autograd history.
    public static func customOp(_ name: String, output: Tensor, inputs: [Tensor],
                                backward: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
        guard GradMode.isEnabled, output.gradFn == nil, inputs.contains(where: { $0.requiresGrad }) else { return output }
        output.record(GradNode(name, inputs, backward))
        return output
    }
}
