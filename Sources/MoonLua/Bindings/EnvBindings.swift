import CLua
import CLuaShim
import Foundation
import MoonEnvs
import MoonTensor

/// A Swift env as Lua sees it, with its latest observation (for `env:image()` and `env:save_png()`).
final class LuaEnv {
    let env: any Env
    var observation: Observation?
    init(_ env: any Env) { self.env = env }
}

/// A reward-shaping wrapper around any env (a moon.Env or a Lua table with reset/step).
final class LuaWrappedEnv {
    let inner: LuaRef
    let reward: LuaRef?
    init(inner: LuaRef, reward: LuaRef?) {
        self.inner = inner
        self.reward = reward
    }
}

final class LuaVectorEnv {
    let vector: VectorEnv
    init(_ v: VectorEnv) { vector = v }
}

extension LuaState {
    func installEnvBindings() {
        defineType(LuaEnv.self, name: "moon.Env", methods: envMethods(), metamethods: [
            "__tostring": { call in
                let e = try call.object(1, as: LuaEnv.self)
                return call.push("moon.Env(\(e.env.name), \(e.env.actionSpace.count) actions)")
            },
        ], index: { call in
            let e = try call.object(1, "self", as: LuaEnv.self)
            switch try call.string(2, "key") {
            case "name": return call.push(e.env.name)
            case "done": return call.push(e.env.isDone)
            default: return call.pushNil()
            }
        })
        defineType(LuaWrappedEnv.self, name: "moon.WrappedEnv", methods: wrappedEnvMethods(), metamethods: [
            "__tostring": { call in
                let w = try call.object(1, as: LuaWrappedEnv.self)
                let inner = try call.state.callMethod(w.inner, "name_or_nil", [], optional: true).first
                return call.push("moon.WrappedEnv(\(inner?.string ?? w.inner.typeName))")
            },
        ], index: { call in
            let w = try call.object(1, "self", as: LuaWrappedEnv.self)
            let key = try call.string(2, "key")
            w.inner.push()
            lua_pushstring(call.L, key)
            guard moon_safe_gettable(call.L, -2) == LUA_OK else { throw LuaError(.runtime, call.state.errorMessage(at: -1)) }
            return 1
        })
        defineType(LuaVectorEnv.self, name: "moon.VectorEnv", methods: vectorEnvMethods(), metamethods: [
            "__tostring": { call in
                let v = try call.object(1, as: LuaVectorEnv.self)
                return call.push("moon.VectorEnv(\(v.vector.count) envs)")
            },
            "__len": { call in call.push(try call.object(1, as: LuaVectorEnv.self).vector.count) },
        ])

        register("moon.env.names", doc: "moon.env.names() -> the environment names") { call in call.push(EnvRegistry.allNames) }
        register("moon.env.split_answer", doc: """
            moon.env.split_answer(text) -> thoughts, action (nil without one) -- the one answer-split rule (Swift
            AnswerFormat), as the envs' parsers and the scoring masks apply it: the action part starts at the first
            '"action"' key (any case) followed by optional whitespace and a colon; the bytes before it are the thoughts
            """) { call in
            guard lua_type(call.L, 1) == LUA_TSTRING else {
                throw call.argumentError(1, "text", expected: "string", got: call.typeName(1))
            }
            var len = 0
            guard let p = lua_tolstring(call.L, 1, &len) else { return call.pushNil() }
            let bytes = UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: len)
            guard let at = AnswerFormat.actionStart(in: bytes) else {
                lua_pushvalue(call.L, 1)
                return 1 + call.pushNil()
            }
            lua_pushlstring(call.L, p, at)
            lua_pushlstring(call.L, p + at, len - at)
            return 2
        }
        register("moon.env.make", doc: """
            moon.env.make(name [, opts]) -> env. Names: NumberLine, EZPoints, Points24, Blackjack, Household (case-insensitive).
            opts: size (64), width, height, observation ('image'|'text'|'both'; alias obs_mode), invalid_penalty (false), max_episode_steps (300),
            seed (0); NumberLine max_position (5); EZPoints target (12); Points24 treat_face_cards_as_10 (true), target (24);
            Blackjack natural (false), sab (false); Household (ALFWorld-style text env) task ('any'|'pick'|'clean'|'heat'|'cool'|
            'examine'|'pick_two'), room ('any'|'kitchen'|'bedroom'|'bathroom'|'livingroom'), max_episode_steps (50)
            """) { call in
            let name = try call.string(1, "name")
            let env = try EnvRegistry.make(name, options: try envOptions(call, 2, env: name))
            return call.push(object: LuaEnv(env))
        }
        register("moon.env.demos", doc: """
            moon.env.demos(name, n [, opts]) -> n expert demonstrations {prompt, text, image, response, action, reward, done,
            episode, step} from the task's solver. opts: the env's options plus seed (episodes), include_unsolvable (false)
            """) { call in
            let name = try call.string(1, "name")
            let n = try call.integer(2, "n")
            guard n >= 0 && n <= 10_000_000 else { throw call.argumentError(2, "n", expected: "0...10000000", got: "\(n)") }
            var opts = try envOptions(call, 3, env: name, extra: ["include_unsolvable"])
            var seed: UInt64 = 0
            if case .int(let s)? = opts.removeValue(forKey: "seed") { seed = UInt64(max(0, s)) }
            var unsolvable = false
            if let v = opts.removeValue(forKey: "include_unsolvable") {
                guard case .bool(let b) = v else { throw call.error("option 'include_unsolvable': expected boolean") }
                unsolvable = b
            }
            let demos = try Demos.generate(env: name, n: n, options: opts, seed: seed, includeUnsolvable: unsolvable)
            lua_createtable(call.L, Int32(demos.count), 0)
            for (k, d) in demos.enumerated() {
                pushObservation(call, d.observation)
                for (key, v) in [("response", LuaValue.string(d.response)), ("action", .string(d.action)),
                                 ("reward", .number(d.reward)), ("done", .boolean(d.done)),
                                 ("episode", .integer(d.episode + 1)), ("step", .integer(d.step + 1))] {
                    call.state.push(v)
                    call.state.setRawField(-2, key)
                }
                lua_rawseti(call.L, -2, lua_Integer(k + 1))
            }
            return 1
        }
        register("moon.env.wrap", doc: """
            moon.env.wrap(env, {reward = function(obs, response, reward, info) return shaped end}) -> env whose step
            returns the shaped reward (info.raw_reward keeps the original). env may be a moon.Env or a Lua table with
            reset/step methods; a failing or non-number reward function is an error with its traceback
            """) { call in
            guard call.state.object(at: 1, as: LuaEnv.self) != nil || call.state.object(at: 1, as: LuaWrappedEnv.self) != nil
                    || lua_type(call.L, 1) == LUA_TTABLE else {
                throw call.argumentError(1, "env", expected: "moon.Env or a table with reset and step")
            }
            if lua_type(call.L, 1) == LUA_TTABLE {
                for m in ["reset", "step"] {
                    call.state.rawField(1, m)
                    let ok = lua_type(call.L, -1) == LUA_TFUNCTION
                    moon_pop(call.L, 1)
                    if !ok { throw call.argumentError(1, "env", expected: "a table with a '\(m)' function", got: "a table without it") }
                }
            }
            let opts = try call.options(2, allowed: ["reward"])
            let inner = LuaRef(state: call.state, index: 1)
            return call.push(object: LuaWrappedEnv(inner: inner, reward: try opts.function("reward")))
        }
        register("moon.env.vector", doc: """
            moon.env.vector(name, n [, opts]) -> n seeded copies with auto-reset and episode statistics.
            opts: the env's options; seed (0) derives each copy's seed; first (0): the 0-based index of copy 1 in a
            larger vector split across ranks (copy i is seeded as copy first + i of the whole vector)
            """) { call in
            let name = try call.string(1, "name")
            let n = try call.integer(2, "n")
            guard n >= 1 && n <= 100_000 else { throw call.argumentError(2, "n", expected: "1...100000", got: "\(n)") }
            var opts = try envOptions(call, 3, env: name, extra: ["first"])
            var seed: UInt64 = 0
            if case .int(let s)? = opts.removeValue(forKey: "seed") { seed = UInt64(max(0, s)) }
            var first = 0
            if let f = opts.removeValue(forKey: "first") {
                guard case .int(let v) = f, v >= 0 && v <= 1 << 40 else { throw call.error("option 'first': expected a non-negative integer") }
                first = v
            }
            return call.push(object: LuaVectorEnv(try VectorEnv(name: name, count: n, options: opts, seed: seed, firstIndex: first)))
        }
        register("moon.image.save_png", doc: "moon.image.save_png(tensor[3, H, W] in 0..1, path) -- writes a PNG file") { call in
            let t = try call.tensor(1, "image")
            let path = try call.path(2, "path")
            try PNG.write(try rgbImage(from: t, call: call), to: path)
            return 0
        }
    }

    private func envMethods() -> [LuaMethod] {
        [
            LuaMethod("reset", "env:reset([seed]) -> obs {prompt, text, image}: a new episode (a seed restarts the env's random stream)") { call in
                let e = try call.object(1, "self", as: LuaEnv.self)
                let seed = call.isNoneOrNil(2) ? nil : UInt64(bitPattern: try call.integer64(2, "seed"))
                let obs = e.env.reset(seed: seed)
                e.observation = obs
                return pushObservation(call, obs)
            },
            LuaMethod("step", "env:step(response) -> obs, reward, done, info: one answer (free text) is one step") { call in
                let e = try call.object(1, "self", as: LuaEnv.self)
                let text = try call.string(2, "response")
                guard e.observation != nil else { throw call.error("call env:reset() before env:step()") }
                return pushStep(call, e, e.env.step(text))
            },
            LuaMethod("step_action", "env:step_action(action) -> obs, reward, done, info: steps with an action string (no parsing)") { call in
                let e = try call.object(1, "self", as: LuaEnv.self)
                let a = try call.string(2, "action")
                guard e.observation != nil else { throw call.error("call env:reset() before env:step_action()") }
                return pushStep(call, e, try e.env.step(action: a))
            },
            LuaMethod("image", "env:image() -> the current frame as a float tensor [3, H, W] in 0..1") { call in
                let e = try call.object(1, "self", as: LuaEnv.self)
                guard let img = (e.observation ?? e.env.currentObservation()).image else { throw call.error("env has no image (observation = 'text')") }
                return call.push(tensor: try imageTensor(img))
            },
            LuaMethod("save_png", "env:save_png(path) -- writes the current frame as a PNG") { call in
                let e = try call.object(1, "self", as: LuaEnv.self)
                let path = try call.path(2, "path")
                guard let img = (e.observation ?? e.env.currentObservation()).image else { throw call.error("env has no image (observation = 'text')") }
                try PNG.write(img, to: path)
                return 0
            },
            LuaMethod("actions", "env:actions() -> the action strings") { call in call.push(try call.object(1, "self", as: LuaEnv.self).env.actionSpace) },
            LuaMethod("observation", "env:observation() -> the current observation") { call in
                let e = try call.object(1, "self", as: LuaEnv.self)
                return pushObservation(call, e.env.currentObservation())
            },
            LuaMethod("solver_action", "env:solver_action() -> the expert's action for the current state") { call in
                call.push(try call.object(1, "self", as: LuaEnv.self).env.solverAction())
            },
            LuaMethod("solver_response", "env:solver_response() -> the expert's full answer (thoughts and action) for the current state") { call in
                call.push(try call.object(1, "self", as: LuaEnv.self).env.solverResponse())
            },
        ]
    }

    private func wrappedEnvMethods() -> [LuaMethod] {
        [
            LuaMethod("reset", "env:reset([seed]) -> obs (delegated)") { call in
                let w = try call.object(1, "self", as: LuaWrappedEnv.self)
                let r = try call.state.callMethod(w.inner, "reset", call.isNoneOrNil(2) ? [] : [call.state.value(at: 2)])
                for v in r { call.push(v) }
                return Int32(r.count)
            },
            LuaMethod("step", "env:step(response) -> obs, shaped reward, done, info") { call in
                let w = try call.object(1, "self", as: LuaWrappedEnv.self)
                let response = try call.string(2, "response")
                let r = try call.state.callMethod(w.inner, "step", [.string(response)])
                guard r.count >= 3, let raw = r[1].number else {
                    throw call.error("the wrapped env's step must return obs, reward (number), done, info")
                }
                var shaped = raw
                if let f = w.reward {
                    let info = r.count > 3 ? r[3] : .nil
                    let out: [LuaValue]
                    do {
                        out = try call.state.call(f, [r[0], .string(response), .number(raw), info], results: 1)
                    } catch let e as LuaError {
                        throw LuaArgumentError("moon.env.wrap: reward function failed: \(e.message)")
                    }
                    guard let v = out.first?.number else {
                        throw LuaArgumentError("moon.env.wrap: reward function must return a number, got \(luaTypeName(out.first ?? .nil))")
                    }
                    shaped = v
                    if case .ref(let t) = info, t.typeName == "table" {
                        t.push()
                        lua_pushnumber(call.L, raw)
                        call.state.setRawField(-2, "raw_reward")
                        moon_pop(call.L, 1)
                    }
                }
                call.push(r[0]); call.push(shaped); call.push(r[2])
                if r.count > 3 { call.push(r[3]) } else { call.pushNil() }
                return 4
            },
        ]
    }

    private func vectorEnvMethods() -> [LuaMethod] {
        [
            LuaMethod("reset", "venv:reset() -> list of observations") { call in
                let v = try call.object(1, "self", as: LuaVectorEnv.self)
                let obs = v.vector.reset()
                lua_createtable(call.L, Int32(obs.count), 0)
                for (k, o) in obs.enumerated() { pushObservation(call, o); lua_rawseti(call.L, -2, lua_Integer(k + 1)) }
                return 1
            },
            LuaMethod("step", "venv:step(responses) -> observations, rewards, dones, infos (lists; finished envs auto-reset)") { call in
                let v = try call.object(1, "self", as: LuaVectorEnv.self)
                let texts = try call.strings(2, "responses")
                guard texts.count == v.vector.count else {
                    throw call.argumentError(2, "responses", expected: "\(v.vector.count) strings", got: "\(texts.count)")
                }
                let results = try v.vector.step(texts)
                lua_createtable(call.L, Int32(results.count), 0)
                for (k, r) in results.enumerated() { pushObservation(call, r.observation); lua_rawseti(call.L, -2, lua_Integer(k + 1)) }
                call.push(results.map(\.reward))
                lua_createtable(call.L, Int32(results.count), 0)
                for (k, r) in results.enumerated() { lua_pushboolean(call.L, r.done ? 1 : 0); lua_rawseti(call.L, -2, lua_Integer(k + 1)) }
                lua_createtable(call.L, Int32(results.count), 0)
                for (k, r) in results.enumerated() { pushInfo(call, r); lua_rawseti(call.L, -2, lua_Integer(k + 1)) }
                return 4
            },
            LuaMethod("stats", "venv:stats() -> finished episodes since the last call {return, length, success, illegal, invalid, truncated, env}") { call in
                let v = try call.object(1, "self", as: LuaVectorEnv.self)
                let stats = v.vector.drainStats()
                lua_createtable(call.L, Int32(stats.count), 0)
                for (k, s) in stats.enumerated() {
                    call.push(record: [("return", .number(s.episodeReturn)), ("length", .integer(s.length)), ("success", .boolean(s.success)),
                                       ("illegal", .integer(s.illegalCount)), ("invalid", .integer(s.invalidCount)),
                                       ("truncated", .boolean(s.truncated)), ("env", .integer(s.env + 1))])
                    lua_rawseti(call.L, -2, lua_Integer(k + 1))
                }
                return 1
            },
            LuaMethod("solver_responses", "venv:solver_responses() -> the expert's answer for each env's current state") { call in
                call.push(try call.object(1, "self", as: LuaVectorEnv.self).vector.solverResponses())
            },
        ]
    }

    /// Calls `obj:name(args...)` in protected mode (the method is looked up with metamethods, protected).
    func callMethod(_ obj: LuaRef, _ name: String, _ args: [LuaValue], optional: Bool = false) throws -> [LuaValue] {
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        obj.push()
        lua_pushstring(L, name)
        guard moon_safe_gettable(L, -2) == LUA_OK else { throw LuaError(.runtime, errorMessage(at: -1)) }
        if lua_type(L, -1) != LUA_TFUNCTION {
            if optional { return [] }
            throw LuaError(.runtime, "the env has no method '\(name)'")
        }
        let f = LuaRef(state: self, index: -1)
        let selfValue = value(at: base + 1)
        return try call(f, [selfValue] + args)
    }
}

func luaTypeName(_ v: LuaValue) -> String {
    switch v {
    case .nil: return "nil"
    case .boolean: return "boolean"
    case .integer, .number: return "number"
    case .string: return "string"
    case .ref(let r): return r.typeName
    }
}

/// Reads an options table into env options, validated by the env registry (unknown keys are errors there).
private func envOptions(_ call: LuaCall, _ i: Int32, env: String, extra: [String] = []) throws -> EnvOptions {
    guard EnvRegistry.canonicalName(env) != nil else { throw EnvError.unknownEnv(env) }
    let opts = try call.options(i, allowed: EnvRegistry.optionNames(for: env) + extra)
    guard !call.isNoneOrNil(i) else { return [:] }
    var out: EnvOptions = [:]
    lua_pushnil(call.L)
    let t = lua_absindex(call.L, i)
    while moon_next(call.L, t) != 0 {
        defer { moon_pop(call.L, 1) }
        let key = call.state.string(at: -2) ?? ""
        switch lua_type(call.L, -1) {
        case LUA_TBOOLEAN: out[key] = .bool(lua_toboolean(call.L, -1) != 0)
        case LUA_TSTRING: out[key] = .string(call.state.string(at: -1) ?? "")
        case LUA_TNUMBER:
            if lua_isinteger(call.L, -1) != 0 {
                let v = lua_tointegerx(call.L, -1, nil)
                guard v.magnitude <= UInt64(LuaLimits.maxInteger) || key == "seed" else {
                    throw LuaArgumentError("\(call.function): option '\(key)': expected an integer of magnitude at most 2^53, got \(v)")
                }
                out[key] = .int(Int(v))
            } else { out[key] = .double(lua_tonumberx(call.L, -1, nil)) }
        default:
            throw LuaArgumentError("\(call.function): option '\(key)': expected number, boolean or string, got \(call.state.typeName(at: -1))")
        }
    }
    _ = opts
    return out
}

/// An RGB image as a float tensor [3, H, W] in 0...1.
func imageTensor(_ img: RGBImage) throws -> Tensor {
    try Tensor(img.chwFloats(), shape: [3, img.height, img.width])
}

/// A float tensor [3, H, W] (values in 0...1, clamped) as an RGB image.
func rgbImage(from t: Tensor, call: LuaCall) throws -> RGBImage {
    guard t.ndim == 3, t.shape[0] == 3, t.dtype == .float32 else {
        throw call.argumentError(1, "image", expected: "float32 tensor [3, H, W]", got: "\(t.dtype) tensor \(t.shape)")
    }
    let h = t.shape[1], w = t.shape[2]
    let v = t.contiguous().toArray()
    var px = [UInt8](repeating: 0, count: w * h * 3)
    for c in 0..<3 {
        for i in 0..<(w * h) {
            px[i * 3 + c] = UInt8(max(0, min(255, (v[c * w * h + i] * 255).rounded())))
        }
    }
    return RGBImage(width: w, height: h, pixels: px)
}

/// Pushes an observation table {prompt, text, image}.
@discardableResult
func pushObservation(_ call: LuaCall, _ obs: Observation) -> Int32 {
    lua_createtable(call.L, 0, 3)
    call.push(obs.prompt); call.state.setRawField(-2, "prompt")
    call.push(obs.stateText); call.state.setRawField(-2, "text")
    if let img = obs.image, let t = try? imageTensor(img) {
        call.push(tensor: t)
        call.state.setRawField(-2, "image")
    }
    return 1
}

/// Pushes an info table.
func pushInfo(_ call: LuaCall, _ r: StepResult) {
    var fields: [(String, LuaValue)] = [
        ("success", .boolean(r.info.success)), ("illegal", .boolean(r.info.illegal)), ("invalid", .boolean(r.info.invalid)),
        ("terminated", .boolean(r.terminated)), ("truncated", .boolean(r.truncated)), ("time_limit", .boolean(r.info.timeLimit)),
    ]
    if let a = r.info.action { fields.append(("action", .string(a))) }
    if let a = r.info.parsedAction { fields.append(("parsed_action", .string(a))) }
    for (k, v) in r.info.extra.sorted(by: { $0.key < $1.key }) where !fields.contains(where: { $0.0 == k }) {
        fields.append((k, .string(v)))
    }
    call.push(record: fields)
    if let cmds = r.info.admissibleCommands {
        call.push(cmds)
        call.state.setRawField(-2, "admissible_commands")
    }
}

/// Pushes obs, reward, done, info for a step and records the observation.
private func pushStep(_ call: LuaCall, _ e: LuaEnv, _ r: StepResult) -> Int32 {
    e.observation = r.observation
    pushObservation(call, r.observation)
    call.push(r.reward)
    call.push(r.done)
    pushInfo(call, r)
    return 4
}
