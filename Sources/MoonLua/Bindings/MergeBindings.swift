import CLua
import CLuaShim
import Foundation
import MoonModels
import MoonTensor

/// `moon.merge`: checkpoint merging (mergekit semantics) over state dicts in memory and over safetensors files.
extension LuaState {
    func installMergeBindings() {
        let docs: [(String, String)] = [
            ("average", "moon.merge.average(sets [, opts]) -> weighted average. opts: weights (all 1), normalize (true)"),
            ("ema", "moon.merge.ema(sets [, opts]) -> EMA over the ordered sets: t = decay*t + (1-decay)*next. opts: decay (0.5)"),
            ("slerp", "moon.merge.slerp({other} , {base = b, t = 0.5}) -> spherical interpolation from base (t=0) to other (t=1)"),
            ("task_arithmetic", "moon.merge.task_arithmetic(sets, {base = b [, weights, lambda = 1, normalize = false]}) -> base + lambda * sum w_i (x_i - base)"),
            ("ties", "moon.merge.ties(sets, {base = b [, density = 0.2, weights, lambda = 1, normalize = true]}) -> TIES: top-density task vector entries by magnitude, sign election by mass, disjoint mean"),
            ("dare_linear", "moon.merge.dare_linear(sets, {base = b [, density = 0.5, weights, lambda, normalize = false, rescale = true, seed = 0]}) -> DARE: random drop, rescale, linear"),
            ("dare_ties", "moon.merge.dare_ties(sets, {base = b [, density = 0.5, weights, lambda, normalize = false, rescale = true, seed = 0]}) -> DARE with TIES sign election"),
            ("breadcrumbs", "moon.merge.breadcrumbs(sets, {base = b [, density = 0.9, gamma = 0.01, ties = false, weights, lambda]}) -> drop largest and smallest task-vector entries"),
        ]
        for (name, doc) in docs {
            let keys = MergeMethod.optionNames(name) ?? []
            register("moon.merge.\(name)", doc: doc) { call in
                let sets = try stateDictList(call, 1)
                let opts = try call.options(2, allowed: keys + ["base"])
                let method = try MergeMethod.named(name, models: sets.count, options: try mergeOptionValues(call, opts, keys))
                var base: [NamedTensor]?
                if opts.has("base") {
                    call.state.rawField(2, "base")
                    defer { moon_pop(call.L, 1) }
                    base = try namedTensors(call, lua_gettop(call.L), "opts.base").map(toNamed)
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
        let allKeys = Array(Set(MergeMethod.methodNames.flatMap { MergeMethod.optionNames($0) ?? [] })).sorted()
        register("moon.merge.files", doc: """
            moon.merge.files{method = 'ties', models = {paths}, output = path [, base = path, and the method's options
            (as moon.merge.<method>)]} -> {tensors, parameters, output}: streams safetensors files tensor by tensor
            (memory near one tensor per input) and writes the result atomically
            """) { call in
            let o = try call.options(1, "spec", allowed: ["method", "models", "output", "base"] + allKeys)
            let method = try o.choice("method", MergeMethod.methodNames, default: "ties")
            guard let output = try o.optionalPath("output") else { throw call.error("option 'output' is required") }
            guard let models = try o.paths("models") else { throw call.error("option 'models' is required") }
            let m = try MergeMethod.named(method, models: models.count, options: try mergeOptionValues(call, o, allKeys))
            let summary = try Merge.mergeFiles(m, base: try o.optionalPath("base"), models: models, output: output)
            return call.push(record: [("tensors", .integer(summary.tensors)), ("parameters", .integer(summary.parameters)),
                                      ("output", .string(summary.output))])
        }
    }
}

/// The merge options among `keys` given in a Lua options table, as `MergeMethod.named` takes them (it rejects the
/// ones the method does not take).
func mergeOptionValues(_ call: LuaCall, _ o: LuaOptions, _ keys: [String]) throws -> [String: MergeOptionValue] {
    var out: [String: MergeOptionValue] = [:]
    for key in keys where o.has(key) {
        call.state.rawField(o.index, key)
        defer { moon_pop(call.L, 1) }
        switch lua_type(call.L, -1) {
        case LUA_TNUMBER: out[key] = .number(lua_tonumberx(call.L, -1, nil))
        case LUA_TBOOLEAN: out[key] = .bool(lua_toboolean(call.L, -1) != 0)
        case LUA_TSTRING: out[key] = .string(call.state.string(at: -1) ?? "")
        case LUA_TTABLE: out[key] = .numbers(try call.numbers(lua_gettop(call.L), key))
        default: throw call.error("option '\(key)': expected a number, boolean, string or list of numbers, got \(call.typeName(-1))")
        }
    }
    return out
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
