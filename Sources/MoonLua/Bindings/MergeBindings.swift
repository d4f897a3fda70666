import CLua
import CLuaShim
import Foundation
import MoonModels
import MoonTensor

/// `moon.merge`: checkpoint merging (mergekit semantics) over state dicts in memory and over safetensors files.
extension LuaState {
    func installMergeBindings() {
        let methods: [(String, String, [String])] = [
            ("average", "moon.merge.average(sets [, opts]) -> weighted average. opts: weights (all 1), normalize (true)",
             ["weights", "normalize"]),
            ("ema", "moon.merge.ema(sets [, opts]) -> EMA over the ordered sets: t = decay*t + (1-decay)*next. opts: decay (0.5)",
             ["decay"]),
            ("slerp", "moon.merge.slerp({other} , {base = b, t = 0.5}) -> spherical interpolation from base (t=0) to other (t=1)",
             ["base", "t"]),
            ("task_arithmetic", "moon.merge.task_arithmetic(sets, {base = b [, weights, lambda = 1, normalize = false]}) -> base + lambda * sum w_i (x_i - base)",
             ["base", "weights", "lambda", "normalize"]),
            ("ties", "moon.merge.ties(sets, {base = b [, density = 0.2, weights, lambda = 1, normalize = true]}) -> TIES: top-density task vector entries by magnitude, sign election by mass, disjoint mean",
             ["base", "weights", "density", "lambda", "normalize"]),
            ("dare_linear", "moon.merge.dare_linear(sets, {base = b [, density = 0.5, weights, lambda, normalize = false, seed = 0]}) -> DARE: random drop, rescale, linear",
             ["base", "weights", "density", "lambda", "normalize", "seed"]),
            ("dare_ties", "moon.merge.dare_ties(sets, {base = b [, density = 0.5, weights, lambda, normalize = false, seed = 0]}) -> DARE with TIES sign election",
             ["base", "weights", "density", "lambda", "normalize", "seed"]),
            ("breadcrumbs", "moon.merge.breadcrumbs(sets, {base = b [, density = 0.9, gamma = 0.01, ties = false, weights, lambda]}) -> drop largest and smallest task-vector entries",
             ["base", "weights", "density", "gamma", "ties", "lambda", "normalize"]),
        ]
        for (name, doc, keys) in methods {
            register("moon.merge.\(name)", doc: doc) { call in
                let sets = try stateDictList(call, 1)
                let opts = try call.options(2, allowed: keys)
                let method = try mergeMethod(name, opts, count: sets.count, call: call)
                var base: [NamedTensor]?
                if opts.has("base") {
                    call.state.rawField(2, "base")
                    defer { moon_pop(call.L, 1) }
                    base = try namedTensors(call, lua_gettop(call.L), "base").map(toNamed)
                } else if method.needsBase {
                    throw call.error("option 'base' is required for \(name)")
                }
                let merged = try Merge.merge(method, base: base, models: sets)
                var out: [String: Tensor] = [:]
                for t in merged { out[t.name] = try Tensor(t.floats ?? [], shape: t.shape) }
                pushNamedTensors(call, out)
                return 1
            }
        }
        register("moon.merge.files", doc: """
            moon.merge.files{method = 'ties', models = {paths}, output = path [, base = path, density, weights, lambda,
            normalize, seed, t, decay, gamma]} -> {tensors, parameters}: streams safetensors files tensor by tensor
            (memory near one tensor per input) and writes the result atomically
            """) { call in
            let o = try call.options(1, "spec", allowed: ["method", "models", "output", "base", "weights", "density", "lambda",
                                                          "normalize", "seed", "t", "decay", "gamma", "ties"])
            let method = try o.choice("method", ["average", "ema", "slerp", "task_arithmetic", "ties", "dare_linear", "dare_ties", "breadcrumbs"],
                                      default: "ties")
            guard let output = try o.optionalString("output") else { throw call.error("option 'output' is required") }
            call.state.rawField(1, "models")
            let models = try call.strings(lua_gettop(call.L), "models")
            moon_pop(call.L, 1)
            let m = try mergeMethod(method, o, count: models.count, call: call)
            let summary = try Merge.mergeFiles(m, base: try o.optionalString("base"), models: models, output: output)
            return call.push(record: [("tensors", .integer(summary.tensors)), ("parameters", .integer(summary.parameters)),
                                      ("output", .string(summary.output))])
        }
    }
}

/// Builds a merge method from Lua options (defaults as mergekit's).
func mergeMethod(_ name: String, _ o: LuaOptions, count: Int, call: LuaCall) throws -> MergeMethod {
    func list(_ key: String, default d: Double) throws -> [Double] {
        guard o.has(key) else { return Array(repeating: d, count: count) }
        call.state.rawField(o.index, key)
        defer { moon_pop(call.L, 1) }
        if lua_type(call.L, -1) == LUA_TNUMBER { return Array(repeating: lua_tonumberx(call.L, -1, nil), count: count) }
        let v = try call.numbers(lua_gettop(call.L), key)
        guard v.count == count else { throw call.error("option '\(key)': expected \(count) values (one per set), got \(v.count)") }
        return v
    }
    let weights = try list("weights", default: 1)
    let lambda = try o.number("lambda", default: 1)
    let seed = UInt64(max(0, try o.integer("seed", default: 0)))
    func densities(_ d: Double) throws -> [Double] {
        let v = try list("density", default: d)
        if let bad = v.first(where: { !($0 > 0 && $0 <= 1) }) { throw call.error("option 'density': expected a value in (0, 1], got \(bad)") }
        return v
    }
    switch name {
    case "average": return .linear(weights: weights, normalize: try o.boolean("normalize", default: true))
    case "ema":
        let decay = try o.number("decay", default: 0.5)
        guard decay >= 0 && decay <= 1 else { throw call.error("option 'decay': expected a value in [0, 1], got \(decay)") }
        return .ema(decay: decay)
    case "slerp":
        guard count == 1 else { throw call.error("slerp merges exactly one set into the base, got \(count)") }
        return .slerp(t: try o.number("t", default: 0.5))
    case "task_arithmetic": return .taskArithmetic(weights: weights, lambda: lambda, normalize: try o.boolean("normalize", default: false))
    case "ties": return .ties(weights: weights, densities: try densities(0.2), lambda: lambda, normalize: try o.boolean("normalize", default: true))
    case "dare_linear": return .dareLinear(weights: weights, densities: try densities(0.5), seed: seed, lambda: lambda,
                                           normalize: try o.boolean("normalize", default: false))
    case "dare_ties": return .dareTies(weights: weights, densities: try densities(0.5), seed: seed, lambda: lambda,
                                       normalize: try o.boolean("normalize", default: false))
    case "breadcrumbs": return .breadcrumbs(weights: weights, densities: try densities(0.9), gammas: try list("gamma", default: 0.01),
                                            ties: try o.boolean("ties", default: false), lambda: lambda,
                                            normalize: try o.boolean("normalize", default: false))
    default: throw call.error("unknown merge method '\(name)'")
    }
}

/// A Lua list of state dicts as named float tensors.
private func stateDictList(_ call: LuaCall, _ i: Int32) throws -> [[NamedTensor]] {
    _ = try call.table(i, "sets")
    let n = Int(lua_rawlen(call.L, i))
    guard n > 0 else { throw call.argumentError(i, "sets", expected: "a non-empty list of state dicts", got: "an empty list") }
    var out: [[NamedTensor]] = []
    for k in 1...n {
        lua_rawgeti(call.L, i, lua_Integer(k))
        defer { moon_pop(call.L, 1) }
        out.append(try namedTensors(call, lua_gettop(call.L), "sets[\(k)]").map(toNamed).sorted { $0.name < $1.name })
    }
    return out
}

private func toNamed(_ e: (String, Tensor)) throws -> NamedTensor {
    let t = e.1
    guard t.dtype == .float32 else { throw MergeError("tensor \"\(e.0)\" is \(t.dtype); only float tensors can be merged") }
    return NamedTensor(name: e.0, shape: t.shape, floats: t.detach().contiguous().toArray())
}
