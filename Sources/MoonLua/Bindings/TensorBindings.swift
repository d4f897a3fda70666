import CLua
import CLuaShim
import Foundation
import MoonTensor

/// `moon.tensor`: tensors, autograd, RNG and optimisers from Lua, Torch7-style.
extension LuaState {
    func installTensorBindings() {
        defineType(Tensor.self, name: "moon.Tensor", methods: tensorMethods(), metamethods: tensorMetamethods(),
                   index: { call in
                       let t = try call.tensor(1, "self")
                       if lua_type(call.L, 2) == LUA_TSTRING {
                           switch try call.string(2) {
                           case "shape": return call.push(t.shape.map(Double.init))
                           case "dtype": return call.push(t.dtype.rawValue)
                           case "requires_grad": return call.push(t.requiresGrad)
                           case "grad": return t.grad.map { call.push(tensor: $0) } ?? call.pushNil()
                           case "ndim": return call.push(t.ndim)
                           default: return call.pushNil()
                           }
                       }
                       let sub = try t.select(dim: 0, index: try position(call, 2, size: t.shape.first, "index"))
                       return sub.ndim == 0 ? pushScalar(call, sub) : call.push(tensor: sub)
                   },
                   newindex: { call in
                       let t = try call.tensor(1, "self")
                       if lua_type(call.L, 2) == LUA_TSTRING {
                           let key = try call.string(2)
                           switch key {
                           case "requires_grad": _ = try t.setRequiresGrad(try call.boolean(3, "value"))
                           case "grad": t.grad = call.isNoneOrNil(3) ? nil : try call.tensor(3, "value")
                           default: throw call.error("cannot set field '\(key)' of a tensor")
                           }
                           return 0
                       }
                       let sub = try t.select(dim: 0, index: try position(call, 2, size: t.shape.first, "index"))
                       if lua_type(call.L, 3) == LUA_TNUMBER {
                           _ = try sub.fill_(Float(try call.number(3, "value")))
                       } else {
                           _ = try sub.copy_(try call.tensorLike(3, "value"))
                       }
                       return 0
                   })
        defineType(Generator.self, name: "moon.Generator", methods: [
            LuaMethod("manual_seed", "g:manual_seed(seed) -- reseeds the generator") { call in
                try call.object(1, "self", as: Generator.self).manualSeed(UInt64(bitPattern: try call.integer64(2, "seed")))
                return 0
            },
            LuaMethod("seed", "g:seed() -> the seed it was created or last reseeded with") { call in
                call.push(Int(Int64(bitPattern: try call.object(1, "self", as: Generator.self).seed)))
            },
        ], metamethods: ["__tostring": { call in
            call.push("moon.Generator(seed=\(try call.object(1, as: Generator.self).seed))")
        }])
        installTensorModule()
        installOptimBindings()
    }

    private func installTensorModule() {
        // moon.tensor(data) via __call on the module table
        pushTable(path: "moon.tensor")
        moon_newtable(L)
        pushFunction("moon.tensor") { call in
            let opts = try call.options(3, allowed: ["dtype", "requires_grad"])
            let dtype = try dtypeOption(opts)
            let t: Tensor
            if let other = call.state.object(at: 2, as: Tensor.self) {
                t = other.clone()
            } else if lua_type(call.L, 2) == LUA_TNUMBER {
                t = Tensor.scalar(Float(try call.number(2, "data")))
            } else {
                guard lua_type(call.L, 2) == LUA_TTABLE else {
                    throw call.argumentError(1, "data", expected: "table, number or moon.Tensor", got: call.typeName(2))
                }
                t = try call.state.tensor(fromTableAt: 2, function: "moon.tensor", argument: 1, name: "data", dtype: dtype)
            }
            let out = dtype.map { t.dtype == $0 ? t : t.to($0) } ?? t
            if try opts.boolean("requires_grad", default: false) { _ = try out.setRequiresGrad(true) }
            return call.push(tensor: out)
        }
        setRawField(-2, "__call")
        lua_setmetatable(L, -2)
        moon_pop(L, 1)

        let creation: [(String, String, ([Int], LuaOptions, LuaCall) throws -> Tensor)] = [
            ("zeros", "moon.zeros(2, 3 [, opts]) or moon.zeros({2, 3}) -> tensor of zeros. opts: dtype ('float32'|'int64'), requires_grad",
             { s, o, _ in try Tensor.zeros(s, dtype: try dtypeOption(o) ?? .float32) }),
            ("ones", "moon.ones(2, 3 [, opts]) -> tensor of ones. opts: dtype, requires_grad",
             { s, o, _ in try Tensor.ones(s, dtype: try dtypeOption(o) ?? .float32) }),
            ("rand", "moon.rand(2, 3 [, opts]) -> uniform [0, 1) samples. opts: generator, requires_grad",
             { s, o, c in try Tensor.rand(s, generator: try generatorOption(o, c)) }),
            ("randn", "moon.randn(2, 3 [, opts]) -> standard normal samples. opts: generator, requires_grad",
             { s, o, c in try Tensor.randn(s, generator: try generatorOption(o, c)) }),
        ]
        for (name, doc, make) in creation {
            let body: LuaFunction = { call in
                let (shape, next) = try call.shape(from: 1)
                try call.checkShape(shape, 1, "size")
                let opts = try call.options(next, allowed: ["dtype", "requires_grad", "generator"])
                let t = try make(shape, opts, call)
                if try opts.boolean("requires_grad", default: false) { _ = try t.setRequiresGrad(true) }
                return call.push(tensor: t)
            }
            register("moon.tensor.\(name)", doc: doc, body)
            register("moon.\(name)", doc: doc, body)
        }
        let functions: [(String, String, LuaFunction)] = [
            ("full", "moon.full(shape, value [, opts]) -> tensor filled with value. opts: dtype", { call in
                let (shape, next) = try call.shape(from: 1)
                try call.checkShape(shape, 1, "size")
                let value = try call.number(next, "value")
                let opts = try call.options(next + 1, allowed: ["dtype", "requires_grad"])
                let t = try Tensor.full(shape, value: Float(value), dtype: try dtypeOption(opts) ?? .float32)
                if try opts.boolean("requires_grad", default: false) { _ = try t.setRequiresGrad(true) }
                return call.push(tensor: t)
            }),
            ("arange", "moon.arange([start,] stop [, step]) -> values from start (default 0) up to but excluding stop", { call in
                let a = try call.number(1, "start")
                let stop = call.isNoneOrNil(2) ? a : try call.number(2, "stop")
                let step = try call.optionalNumber(3, "step", default: 1)
                let n = (stop - (call.isNoneOrNil(2) ? 0 : a)) / step
                guard n.isFinite else { throw call.argumentError(3, "step", expected: "a finite range") }
                try call.checkElementCount(Int(max(0, min(n, 1e18))), 2, "stop")
                let t: Tensor
                if call.isNoneOrNil(2) {
                    t = try Tensor.arange(0, Float(a))
                } else {
                    t = try Tensor.arange(Float(a), Float(try call.number(2, "stop")), step: Float(try call.optionalNumber(3, "step", default: 1)))
                }
                return call.push(tensor: t)
            }),
            ("linspace", "moon.linspace(start, stop, n) -> n evenly spaced values including both ends", { call in
                try call.checkElementCount(try call.integer(3, "n"), 3, "n")
                return call.push(tensor: try Tensor.linspace(Float(try call.number(1, "start")), Float(try call.number(2, "stop")),
                                                      count: try call.integer(3, "n")))
            }),
            ("eye", "moon.eye(n [, m]) -> identity matrix", { call in
                try call.checkShape([try call.integer(1, "n"), try call.optionalInteger(2, "m", default: 1)], 1, "n")
                try call.checkShape([try call.integer(1, "n"), try call.optionalInteger(2, "m", default: try call.integer(1, "n"))], 1, "n")
                return call.push(tensor: try Tensor.eye(try call.integer(1, "n"), call.isNoneOrNil(2) ? nil : try call.integer(2, "m")))
            }),
            ("randint", "moon.randint(low, high, shape [, opts]) -> int64 tensor uniform in [low, high). opts: generator", { call in
                let low = try call.integer(1, "low"), high = try call.integer(2, "high")
                let (shape, next) = try call.shape(from: 3)
                try call.checkShape(shape, 3, "size")
                try call.checkElementCount(checkedProduct(shape.map { max($0, 0) }) ?? Int.max, 3, "size", elementSize: 8)
                let opts = try call.options(next, allowed: ["generator"])
                return call.push(tensor: try Tensor.randint(low, high, shape, generator: try generatorOption(opts, call)))
            }),
            ("randperm", "moon.randperm(n [, opts]) -> a random permutation of 0..n-1 (int64). opts: generator", { call in
                let opts = try call.options(2, allowed: ["generator"])
                try call.checkElementCount(try call.integer(1, "n"), 1, "n", elementSize: 8)
                return call.push(tensor: try Tensor.randperm(try call.integer(1, "n"), generator: try generatorOption(opts, call)))
            }),
            ("cat", "moon.cat({a, b, ...} [, dim=1]) -> concatenation along dim", { call in
                call.push(tensor: try Tensor.cat(try call.tensors(1, "tensors"), dim: try call.optionalDim(2) ?? 0))
            }),
            ("stack", "moon.stack({a, b, ...} [, dim=1]) -> stack along a new dim", { call in
                call.push(tensor: try Tensor.stack(try call.tensors(1, "tensors"), dim: try call.optionalDim(2) ?? 0))
            }),
            ("where", "moon.where(cond, a, b) -> elementwise cond ~= 0 and a or b (b may be a number)", { call in
                let cond = try call.tensor(1, "cond"), a = try call.tensorLike(2, "a")
                if lua_type(call.L, 3) == LUA_TNUMBER {
                    return call.push(tensor: try Tensor.where(cond, a, Float(try call.number(3, "b"))))
                }
                return call.push(tensor: try Tensor.where(cond, a, try call.tensorLike(3, "b")))
            }),
            ("linear", "moon.linear(x, weight [, bias]) -> x W^T + b (weight is [out, in])", { call in
                let bias = call.isNoneOrNil(3) ? nil : try call.tensor(3, "bias")
                return call.push(tensor: try Tensor.linear(try call.tensor(1, "x"), weight: try call.tensor(2, "weight"), bias: bias))
            }),
            ("conv2d", """
                moon.conv2d(input [B, C, H, W], weight [O, C, kh, kw] [, bias [O]] [, opts]) -> [B, O, H', W'] (PyTorch conv2d:
                cross-correlation, zero padding; im2col + BLAS, differentiable). opts: stride (1), padding (0)
                """, { call in
                let optsAt: Int32 = lua_type(call.L, 3) == LUA_TTABLE ? 3 : 4
                let bias = optsAt == 4 && !call.isNoneOrNil(3) ? try call.tensor(3, "bias") : nil
                let o = try call.options(optsAt, allowed: ["stride", "padding"])
                return call.push(tensor: try Tensor.conv2d(try call.tensor(1, "input"), weight: try call.tensor(2, "weight"), bias: bias,
                                                           stride: try o.integer("stride", default: 1), padding: try o.integer("padding", default: 0)))
            }),
            ("matmul", "moon.matmul(a, b) -> matrix product (1-D to batched N-D, broadcasting batch dims)", { call in
                call.push(tensor: try call.tensor(1, "a").matmul(try call.tensor(2, "b")))
            }),
            ("cross_entropy", """
                moon.cross_entropy(logits[N, C], targets[N] (int64, 0-based classes) [, opts]) -> loss.
                opts: ignore_index (-100), reduction ('mean'|'sum'|'none')
                """, { call in
                let opts = try call.options(3, allowed: ["ignore_index", "reduction"])
                let red = Reduction(rawValue: try opts.choice("reduction", ["mean", "sum", "none"], default: "mean"))!
                return call.push(tensor: try Tensor.crossEntropy(try call.tensor(1, "logits"), try call.tensor(2, "targets"),
                                                                 ignoreIndex: try opts.integer("ignore_index", default: -100), reduction: red))
            }),
            ("mse_loss", "moon.mse_loss(input, target [, opts]) -> mean squared error. opts: reduction", { call in
                let opts = try call.options(3, allowed: ["reduction"])
                let red = Reduction(rawValue: try opts.choice("reduction", ["mean", "sum", "none"], default: "mean"))!
                return call.push(tensor: try Tensor.mseLoss(try call.tensor(1, "input"), try call.tensorLike(2, "target"), reduction: red))
            }),
            ("one_hot", "moon.one_hot(ids (int64, 0-based) [, num_classes]) -> float one-hot rows", { call in
                guard let total = checkedProduct([max(1, try call.tensor(1, "ids").count), max(1, try call.optionalInteger(2, "num_classes", default: 1))]) else {
                    throw call.argumentError(2, "num_classes", expected: "a class count whose one-hot rows fit in memory", got: "\(try call.optionalInteger(2, "num_classes", default: 1))")
                }
                try call.checkElementCount(total, 2, "num_classes")
                return call.push(tensor: try Tensor.oneHot(try call.tensor(1, "ids"), numClasses: try call.optionalInteger(2, "num_classes", default: -1)))
            }),
            ("embedding", "moon.embedding(ids (int64), weight[V, D]) -> rows of weight for each id", { call in
                call.push(tensor: try Tensor.embedding(try call.tensor(1, "ids"), weight: try call.tensor(2, "weight")))
            }),
        ]
        for (name, doc, body) in functions {
            register("moon.tensor.\(name)", doc: doc, body)
            register("moon.\(name)", doc: doc, body)
        }
        register("moon.is_tensor", doc: "moon.is_tensor(x) -> true if x is a moon.Tensor") { call in
            call.push(call.state.object(at: 1, as: Tensor.self) != nil)
        }
        register("moon.manual_seed", doc: "moon.manual_seed(seed) -- reseeds the default generator (same seed and thread count, same numbers)") { call in
            manualSeed(UInt64(bitPattern: try call.integer64(1, "seed")))
            return 0
        }
        register("moon.generator", doc: "moon.generator(seed) -> an independent random generator (pass as opts.generator)") { call in
            call.push(object: Generator(seed: UInt64(bitPattern: try call.integer64(1, "seed"))))
        }
        register("moon.set_num_threads", doc: "moon.set_num_threads(n) -- threads for large elementwise ops, reductions and OpenBLAS") { call in
            let n = try call.integer(1, "n")
            guard n >= 1 && n <= 256 else { throw call.argumentError(1, "n", expected: "1...256", got: "\(n)") }
            setNumThreads(n)
            return 0
        }
        register("moon.num_threads", doc: "moon.num_threads() -> the thread count in use") { call in call.push(numThreads()) }
        register("moon.no_grad", doc: "moon.no_grad(fn, ...) -> fn(...) run without recording autograd history") { call in
            let f = try call.function(1, "fn")
            let args = (2..<max(2, call.count + 1)).map { call.state.value(at: $0) }
            let results = try Tensor.noGrad { try call.state.call(f, args) }
            for r in results { call.push(r) }
            return Int32(results.count)
        }
        register("moon.tensor_bytes", doc: "moon.tensor_bytes() -> bytes held by live tensors, and the peak") { call in
            call.push(Storage.liveBytes) + call.push(Storage.peakBytes)
        }
    }

    private func installOptimBindings() {
        defineType(LuaOptimizer.self, name: "moon.Optimizer", methods: [
            LuaMethod("step", "opt:step() -- one update from the parameters' gradients (lr from the schedule if any)") { call in
                try call.object(1, "self", as: LuaOptimizer.self).step()
                return 0
            },
            LuaMethod("zero_grad", "opt:zero_grad() -- clears the parameters' gradients") { call in
                try call.object(1, "self", as: LuaOptimizer.self).optimizer.zeroGrad()
                return 0
            },
            LuaMethod("lr", "opt:lr() -> current learning rate") { call in
                call.push(Double(try call.object(1, "self", as: LuaOptimizer.self).optimizer.lr))
            },
            LuaMethod("set_lr", "opt:set_lr(lr) -- sets the learning rate (replaces any schedule)") { call in
                let o = try call.object(1, "self", as: LuaOptimizer.self)
                o.schedule = nil
                o.optimizer.lr = Float(try call.number(2, "lr"))
                return 0
            },
            LuaMethod("steps", "opt:steps() -> number of steps taken") { call in
                call.push(try call.object(1, "self", as: LuaOptimizer.self).stepCount)
            },
            LuaMethod("state_dict", "opt:state_dict() -> table of name -> tensor (moments, step), for checkpoints") { call in
                let o = try call.object(1, "self", as: LuaOptimizer.self)
                var state = o.optimizer.stateDict()
                state["moon.step_count"] = Tensor.scalar(Float(o.stepCount))
                lua_createtable(call.L, 0, Int32(state.count))
                for (k, v) in state { call.push(tensor: v); call.state.setRawField(-2, k) }
                return 1
            },
            LuaMethod("load_state_dict", "opt:load_state_dict(t) -- restores a state_dict()") { call in
                let o = try call.object(1, "self", as: LuaOptimizer.self)
                _ = try call.table(2, "state")
                var state: [String: Tensor] = [:]
                lua_pushnil(call.L)
                while moon_next(call.L, 2) != 0 {
                    defer { moon_pop(call.L, 1) }
                    guard let k = call.state.string(at: -2), lua_type(call.L, -2) == LUA_TSTRING,
                          let t = call.state.object(at: -1, as: Tensor.self) else {
                        throw call.argumentError(2, "state", expected: "table of name -> moon.Tensor")
                    }
                    state[k] = t
                }
                if let s = state.removeValue(forKey: "moon.step_count") {
                    guard s.count == 1, let n = luaCheckedInteger(Double(try s.reshape([]).item())), n >= 0 else {
                        throw call.argumentError(2, "state", expected: "'moon.step_count' holding a step count >= 0")
                    }
                    o.stepCount = n
                }
                try o.optimizer.loadStateDict(state)
                return 0
            },
        ], metamethods: ["__tostring": { call in
            let o = try call.object(1, as: LuaOptimizer.self)
            return call.push("moon.Optimizer(\(o.kind), lr=\(o.optimizer.lr), \(o.optimizer.params.count) params, step \(o.stepCount))")
        }])

        let common = ["lr", "weight_decay", "schedule"]
        register("moon.optim.sgd", doc: """
            moon.optim.sgd(params, opts) -> optimizer. opts: lr (required), momentum (0), dampening (0), nesterov (false),
            weight_decay (0), schedule (from moon.optim.schedule)
            """) { call in
            let params = try call.tensors(1, "params")
            let o = try call.options(2, allowed: common + ["momentum", "dampening", "nesterov"])
            guard o.has("lr") else { throw call.error("option 'lr' is required") }
            let sgd = try SGD(params, lr: Float(try o.number("lr", default: 0)), momentum: Float(try o.number("momentum", default: 0)),
                          dampening: Float(try o.number("dampening", default: 0)), weightDecay: Float(try o.number("weight_decay", default: 0)),
                          nesterov: try o.boolean("nesterov", default: false))
            return call.push(object: LuaOptimizer("sgd", sgd, schedule: try scheduleOption(o)))
        }
        for (kind, decoupled) in [("adam", false), ("adamw", true)] {
            register("moon.optim.\(kind)", doc: """
                moon.optim.\(kind)(params [, opts]) -> optimizer (PyTorch semantics). opts: lr (1e-3), beta1 (0.9), beta2 (0.999),
                eps (1e-8), weight_decay (\(decoupled ? "0.01, decoupled" : "0, L2")), schedule
                """) { call in
                let params = try call.tensors(1, "params")
                let o = try call.options(2, allowed: common + ["beta1", "beta2", "eps"])
                let lr = Float(try o.number("lr", default: 1e-3))
                let betas = (Float(try o.number("beta1", default: 0.9)), Float(try o.number("beta2", default: 0.999)))
                let eps = Float(try o.number("eps", default: 1e-8))
                let wd = Float(try o.number("weight_decay", default: decoupled ? 0.01 : 0))
                let opt: Optimizer = decoupled ? try AdamW(params, lr: lr, betas: betas, eps: eps, weightDecay: wd)
                                               : try Adam(params, lr: lr, betas: betas, eps: eps, weightDecay: wd)
                return call.push(object: LuaOptimizer(kind, opt, schedule: try scheduleOption(o)))
            }
        }
        let clip: LuaFunction = { call in
            let params = try call.tensors(1, "params")
            let maxNorm = try call.number(2, "max_norm")
            guard maxNorm > 0 else { throw call.argumentError(2, "max_norm", expected: "a positive number", got: "\(maxNorm)") }
            return call.push(Double(try clipGradNorm(params, maxNorm: Float(maxNorm))))
        }
        register("moon.optim.clip_grad_norm_", doc: """
            moon.optim.clip_grad_norm_(params, max_norm) -> total norm before clipping; scales the gradients in place
            (PyTorch's torch.nn.utils.clip_grad_norm_)
            """, clip)
        registerAlias("moon.optim.clip_grad_norm", of: "moon.optim.clip_grad_norm_", clip)
        defineType(LuaSchedule.self, name: "moon.Schedule", methods: [
            LuaMethod("lr", "s:lr(step) -> learning rate at step (0-based)") { call in
                call.push(Double(try call.object(1, "self", as: LuaSchedule.self).schedule.lr(at: try call.integer(2, "step"))))
            },
        ])
        register("moon.optim.schedule", doc: """
            moon.optim.schedule{kind = 'constant'|'warmup'|'cosine'|'linear', lr = , min_lr = 0, total = steps, warmup = 0}
            -> a learning-rate schedule (pass as opts.schedule to an optimizer)
            """) { call in
            let o = try call.options(1, allowed: ["kind", "lr", "min_lr", "total", "warmup"])
            let kind = try o.choice("kind", ["constant", "warmup", "cosine", "linear"], default: "constant")
            guard o.has("lr") else { throw call.error("option 'lr' is required") }
            let lr = Float(try o.number("lr", default: 0)), minLR = Float(try o.number("min_lr", default: 0))
            let warm = try o.integer("warmup", default: 0), total = try o.integer("total", default: 0)
            if (kind == "cosine" || kind == "linear") && total <= 0 { throw call.error("option 'total': expected a positive step count for a \(kind) schedule") }
            let s: LRSchedule
            switch kind {
            case "warmup": s = .warmup(lr, warmupSteps: warm)
            case "cosine": s = .cosine(lr, minLR: minLR, totalSteps: total, warmupSteps: warm)
            case "linear": s = .linear(lr, minLR: minLR, totalSteps: total, warmupSteps: warm)
            default: s = .constant(lr)
            }
            return call.push(object: LuaSchedule(s))
        }
    }
}

/// An optimiser as Lua sees it: the Swift optimiser, an optional schedule and the step count.
final class LuaOptimizer {
    let kind: String
    let optimizer: Optimizer
    var schedule: LRSchedule?
    var stepCount = 0
    init(_ kind: String, _ optimizer: Optimizer, schedule: LRSchedule?) {
        self.kind = kind
        self.optimizer = optimizer
        self.schedule = schedule
        if let schedule { optimizer.lr = schedule.lr(at: 0) }
    }

    func step() throws {
        if let schedule { optimizer.lr = schedule.lr(at: stepCount) }
        try optimizer.step()
        stepCount += 1
    }
}

/// A learning-rate schedule object.
final class LuaSchedule {
    let schedule: LRSchedule
    init(_ s: LRSchedule) { schedule = s }
}

func dtypeOption(_ o: LuaOptions) throws -> DType? {
    guard o.has("dtype") else { return nil }
    let name = try o.choice("dtype", ["float32", "float", "int64", "long"], default: "float32")
    return (name == "int64" || name == "long") ? .int64 : .float32
}

func generatorOption(_ o: LuaOptions, _ call: LuaCall) throws -> Generator {
    try o.object("generator", as: Generator.self) ?? .default
}

func scheduleOption(_ o: LuaOptions) throws -> LRSchedule? {
    try o.object("schedule", as: LuaSchedule.self)?.schedule
}

/// A 1-based Lua position (negative from the end) converted to a 0-based index, checked against `size`.
func position(_ call: LuaCall, _ i: Int32, size: Int?, _ name: String) throws -> Int {
    let p = try call.integer(i, name)
    guard let size else { throw call.error("cannot index a 0-d tensor") }
    let k = p > 0 ? p - 1 : size + p
    guard p != 0, k >= 0, k < size else {
        throw call.argumentError(i, name, expected: "a position in 1...\(size) or -\(size)...-1", got: "\(p)")
    }
    return k
}

/// Pushes a 0-d tensor as a Lua number (integer for int64).
func pushScalar(_ call: LuaCall, _ t: Tensor) -> Int32 {
    if t.dtype == .int64, let v = try? t.intItem() { return call.push(v) }
    return call.push(Double((try? t.item()) ?? .nan))
}
