import CLua
import CLuaShim
import Foundation
import MoonTensor
import MoonTrain

/// A run directory as Lua sees it: paths, metrics logger, state records, pruning.
final class LuaRunDir {
    let dir: RunDir
    let logger: MetricsLogger
    init(_ dir: RunDir, _ logger: MetricsLogger) {
        self.dir = dir
        self.logger = logger
    }
}

/// `moon.rl`, `moon.distill`, `moon.metrics`, `moon.run`, `moon.plot`: the training primitives from Lua.
extension LuaState {
    func installTrainBindings() {
        register("moon.rl.gae", doc: """
            moon.rl.gae(rewards[T,N], values[T,N], dones[T,N], last_values[N] [, opts]) -> advantages[T,N], returns[T,N].
            opts: gamma (0.99), lambda (0.95). A done at t cuts the trace (no bootstrap from t+1)
            """) { call in
            let o = try call.options(5, allowed: ["gamma", "lambda"])
            let r = try GAE.compute(rewards: try call.tensorLike(1, "rewards"), values: try call.tensorLike(2, "values"),
                                    dones: try call.tensorLike(3, "dones"), lastValues: try call.tensorLike(4, "last_values"),
                                    gamma: Float(try o.number("gamma", default: 0.99)), lambda: Float(try o.number("lambda", default: 0.95)))
            return call.push(tensor: r.advantages) + call.push(tensor: r.returns)
        }
        register("moon.rl.ppo_loss", doc: """
            moon.rl.ppo_loss{logp = [B] (autograd), old_logp = [B], advantages = [B], values = [B] (autograd), returns = [B]
            [, old_values, entropy, clip = 0.1, value_coef = 0.5, entropy_coef = 0, value_clip]} -> loss, stats
            {policy_loss, value_loss, entropy, approx_kl, clip_frac, ratio}. Instead of logp/old_logp you may give
            logp_action, logp_thought, old_logp_action, old_logp_thought and thought_coef (0.5)
            """) { call in
            let o = try call.options(1, "inputs", allowed: ["logp", "old_logp", "logp_action", "logp_thought", "old_logp_action",
                                                            "old_logp_thought", "thought_coef", "advantages", "values", "returns",
                                                            "old_values", "entropy", "clip", "value_coef", "entropy_coef", "value_clip"])
            func need(_ k: String) throws -> Tensor {
                guard let t = try o.object(k, as: Tensor.self) else { throw call.error("option '\(k)' is required") }
                return t
            }
            var config = PPOConfig(clip: Float(try o.number("clip", default: 0.1)),
                                   thoughtCoef: Float(try o.number("thought_coef", default: 0.5)),
                                   valueCoef: Float(try o.number("value_coef", default: 0.5)),
                                   entropyCoef: Float(try o.number("entropy_coef", default: 0)))
            if o.has("value_clip") { config.valueClip = Float(try o.number("value_clip", default: 0)) }
            let inputs: PPOInputs
            if o.has("logp") {
                let logp = try need("logp"), old = try need("old_logp")
                let zero = try Tensor.zeros(logp.shape)
                inputs = PPOInputs(newLogpAction: logp, newLogpThought: zero, oldLogpAction: old, oldLogpThought: try Tensor.zeros(old.shape),
                                   advantages: try need("advantages"), returns: try need("returns"), values: try need("values"),
                                   oldValues: try o.object("old_values", as: Tensor.self), entropy: try o.object("entropy", as: Tensor.self))
            } else {
                inputs = PPOInputs(newLogpAction: try need("logp_action"), newLogpThought: try need("logp_thought"),
                                   oldLogpAction: try need("old_logp_action"), oldLogpThought: try need("old_logp_thought"),
                                   advantages: try need("advantages"), returns: try need("returns"), values: try need("values"),
                                   oldValues: try o.object("old_values", as: Tensor.self), entropy: try o.object("entropy", as: Tensor.self))
            }
            let out = try PPOLoss.compute(inputs, config: config)
            call.push(tensor: out.loss)
            call.push(record: out.stats.map { ($0.0, .number($0.1)) })
            return 2
        }
        register("moon.distill.kl", doc: """
            moon.distill.kl(student_logits[..., V], teacher_logits[..., V] [, opts]) -> token-level distillation loss
            (differentiable in the student). opts: direction ('reverse'|'forward'), mask [...], temperature (1),
            scale_t2 (false: multiply by temperature^2), top_k (teacher's top-k tokens only), reduction ('mean'|'sum'|'none')
            """) { call in
            try distill(call, fixed: nil)
        }
        register("moon.distill.jsd", doc: """
            moon.distill.jsd(student_logits, teacher_logits [, opts]) -> generalised JSD (TRL GKD). opts: beta (0.5; 0 = forward KL,
            1 = reverse KL), mask, temperature, scale_t2, top_k, reduction
            """) { call in
            try distill(call, fixed: .jsd)
        }
        register("moon.distill.turn_kl", doc: """
            moon.distill.turn_kl(agent_logprobs[N,L], teacher_logprobs[N,L], mask[N,L] [, opts]) -> [N] per-turn KL
            (GTR-Turbo, a reward: no gradient): per-token estimates of the sampled tokens, clamped to
            [clamp_min, clamp_max], averaged over the mask. opts: estimator ('k1' (default: unbiased as a reward)|'abs'|'k3'),
            direction ('reverse'|'forward'), clamp_min (0), clamp_max (10) (the same clamp as moon.distill.sampled_kl's;
            -math.huge/math.huge for none), invalid (list of booleans), invalid_value (100). Old: clamp = c (= clamp_max)
            """) { call in
            let o = try call.options(4, allowed: ["estimator", "direction", "clamp_min", "clamp_max", "clamp", "invalid", "invalid_value"])
            var opts = KLRewardOptions()
            opts.estimator = KLEstimator(rawValue: try o.choice("estimator", KLEstimator.allCases.map(\.rawValue), default: "k1"))!
            opts.direction = KLDirection(rawValue: try o.choice("direction", KLDirection.allCases.map(\.rawValue), default: "reverse"))!
            if o.has("clamp") {
                guard !o.has("clamp_max") else { throw call.error("options 'clamp' (old name) and 'clamp_max' both given") }
                call.state.warnOnce("moon.distill.turn_kl{clamp = c} is deprecated; use {clamp_max = c} (clamp_min: 0)")
            }
            opts.clampMin = Float(try o.number("clamp_min", default: 0))
            opts.clampMax = Float(try o.number("clamp_max", default: try o.number("clamp", default: 10)))
            opts.invalidValue = Float(try o.number("invalid_value", default: 100))
            var invalid: [Bool] = []
            if o.has("invalid") {
                call.state.rawField(4, "invalid")
                defer { moon_pop(call.L, 1) }
                let t = lua_gettop(call.L)
                guard lua_type(call.L, t) == LUA_TTABLE else { throw call.error("option 'invalid': expected a list of booleans") }
                for k in 1...max(1, Int(lua_rawlen(call.L, t))) where lua_rawlen(call.L, t) > 0 {
                    lua_rawgeti(call.L, t, lua_Integer(k)); invalid.append(lua_toboolean(call.L, -1) != 0); moon_pop(call.L, 1)
                }
            }
            let v = try KLReward.turns(agent: try call.tensor(1, "agent_logprobs"), teacher: try call.tensor(2, "teacher_logprobs"),
                                       mask: try call.tensor(3, "mask"), invalid: invalid, options: opts)
            return call.push(tensor: try Tensor(v, shape: [v.count]))
        }
        register("moon.distill.sampled_kl", doc: """
            moon.distill.sampled_kl(agent_logprobs, teacher_logprobs [, opts]) -> differentiable KL penalty on sampled tokens (a loss).
            opts: mask, estimator ('k3' (default: k1's gradient on fixed samples is zero in expectation)|'k1'|'abs'),
            direction ('reverse'), clamp_min, clamp_max (per-token bounds as in moon.distill.turn_kl; default none),
            reduction ('mean')
            """) { call in
            let o = try call.options(3, allowed: ["mask", "estimator", "direction", "clamp_min", "clamp_max", "reduction"])
            let est = KLEstimator(rawValue: try o.choice("estimator", KLEstimator.allCases.map(\.rawValue), default: "k3"))!
            let dir = KLDirection(rawValue: try o.choice("direction", KLDirection.allCases.map(\.rawValue), default: "reverse"))!
            let red = Reduction(rawValue: try o.choice("reduction", ["mean", "sum", "none"], default: "mean"))!
            return call.push(tensor: try Distill.sampledKL(
                agentLogProbs: try call.tensor(1, "agent_logprobs"), teacherLogProbs: try call.tensor(2, "teacher_logprobs"),
                mask: try o.object("mask", as: Tensor.self), estimator: est, direction: dir,
                clampMin: o.has("clamp_min") ? Float(try o.number("clamp_min", default: 0)) : nil,
                clampMax: o.has("clamp_max") ? Float(try o.number("clamp_max", default: 0)) : nil, reduction: red))
        }
        register("moon.distill.sft", doc: """
            moon.distill.sft(logits[..., V], targets[...] (int64) [, opts]) -> masked cross-entropy. opts: mask, ignore_index (-100),
            reduction ('mean'|'sum'|'none')
            """) { call in
            let o = try call.options(3, allowed: ["mask", "ignore_index", "reduction"])
            let red = Reduction(rawValue: try o.choice("reduction", ["mean", "sum", "none"], default: "mean"))!
            return call.push(tensor: try SFT.loss(logits: try call.tensor(1, "logits"), targets: try call.tensor(2, "targets"),
                                                  mask: try o.object("mask", as: Tensor.self),
                                                  ignoreIndex: try o.integer("ignore_index", default: -100), reduction: red))
        }
        register("moon.metrics.distinct_n", doc: "moon.metrics.distinct_n(texts, n) -> distinct n-grams / n-grams over the texts (thought diversity)") { call in
            call.push(try Diversity.distinctN(try call.strings(1, "texts"), n: try call.integer(2, "n")))
        }
        register("moon.metrics.distinct_ratio", doc: "moon.metrics.distinct_ratio(texts) -> distinct texts / texts") { call in
            call.push(Diversity.distinctRatio(try call.strings(1, "texts")))
        }
        register("moon.metrics.self_bleu", doc: "moon.metrics.self_bleu(texts) -> mean BLEU of each text against the others (nil for < 2 texts)") { call in
            guard let v = Diversity.selfBLEU(try call.strings(1, "texts")) else { return call.pushNil() }
            return call.push(v)
        }
        register("moon.metrics.progress", doc: "moon.metrics.progress(record [, total_updates]) -> the one-line progress text") { call in
            let rec = try metricsRecord(call, 1)
            let total = call.isNoneOrNil(2) ? nil : try call.integer(2, "total")
            return call.push(ProgressLine.format(update: Int(rec.number(MetricKey.update) ?? 0), total: total, record: rec,
                                                 elapsed: rec.number(MetricKey.wallSeconds) ?? 0))
        }
        defineType(LuaRunDir.self, name: "moon.RunDir", methods: runDirMethods(), metamethods: [
            "__tostring": { call in call.push("moon.RunDir(\(try call.object(1, as: LuaRunDir.self).dir.path))") },
        ])
        register("moon.run.open", doc: """
            moon.run.open(dir [, opts]) -> run directory (config.json, metrics.jsonl/.csv, checkpoints/, teacher/, samples/,
            plots/). opts: config (JSON text, written atomically), resume (false: refuse an existing non-empty directory)
            """) { call in
            let path = try call.path(1, "dir")
            let o = try call.options(2, allowed: ["config", "resume"])
            let resume = try o.boolean("resume", default: false)
            let dir = try RunDir(path, mode: resume ? .resume : .create)
            if let cfg = try o.optionalString("config"), !resume { try dir.writeConfig(text: cfg) }
            return call.push(object: LuaRunDir(dir, try dir.metricsLogger()))
        }
        register("moon.plot.run", doc: """
            moon.plot.run(dir_or_dirs [, opts]) -> list of PNG paths: one line chart per metric (success_rate, return, entropy, kl
            by default) from metrics.jsonl; several runs overlay with a legend. opts: metrics (list; 'a+b' overlays), out (dir),
            x (the x-axis metric: 'update' (default) or e.g. 'wall_s')
            """) { call in
            let runs: [String] = lua_type(call.L, 1) == LUA_TSTRING ? [try call.path(1, "dir")] : try call.paths(1, "dirs")
            let o = try call.options(2, allowed: ["metrics", "out", "x"])
            let metrics = try o.strings("metrics")
            return call.push(try Plot.plotRuns(runs, metrics: metrics, xKey: try o.optionalString("x") ?? MetricKey.update,
                                               outputDir: try o.optionalPath("out")))
        }
    }

    private func runDirMethods() -> [LuaMethod] {
        [
            LuaMethod("path", "run:path(relative) -> absolute path inside the run directory (parent folders created)") { call in
                let r = try call.object(1, "self", as: LuaRunDir.self)
                let rel = try call.path(2, "relative")
                guard !rel.hasPrefix("/"), !rel.split(separator: "/").contains("..") else {
                    throw call.argumentError(2, "relative", expected: "a path inside the run directory", got: "'\(rel)'")
                }
                let p = r.dir.file(rel)
                try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                return call.push(p)
            },
            LuaMethod("log", "run:log(record) -- appends a metrics record (table of numbers/strings) to metrics.jsonl and .csv") { call in
                try call.object(1, "self", as: LuaRunDir.self).logger.log(try metricsRecord(call, 2))
                return 0
            },
            LuaMethod("truncate_metrics", "run:truncate_metrics(update) -> drops the metrics records logged after `update` (resume); returns how many") { call in
                call.push(try call.object(1, "self", as: LuaRunDir.self).logger.truncate(after: try call.number(2, "update")))
            },
            LuaMethod("write", "run:write(relative, text) -- writes a file atomically (temp, fsync, rename)") { call in
                let r = try call.object(1, "self", as: LuaRunDir.self)
                let p = r.dir.file(try call.path(2, "relative"))
                try FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
                try writeFileAtomically(try call.string(3, "text"), to: p)
                return 0
            },
            LuaMethod("checkpoint_files", """
                run:checkpoint_files(step) -> {policy, optimizer, state}: the checkpoint's file names relative to the run
                directory (checkpoints/step-NNNNNN.safetensors, optim-…, state-….json; RunDir owns the naming)
                """) { call in
                _ = try call.object(1, "self", as: LuaRunDir.self)
                let step = try call.integer(2, "step")
                guard step >= 0 else { throw call.argumentError(2, "step", expected: "a step >= 0", got: "\(step)") }
                let f = RunDir.checkpointFiles(step: step)
                return call.push(record: [("policy", .string(f.policy)), ("optimizer", .string(f.optimizer)), ("state", .string(f.state))])
            },
            LuaMethod("save_state", "run:save_state(step, json) -- writes the step's state record atomically (the resume point; write it last)") { call in
                let r = try call.object(1, "self", as: LuaRunDir.self)
                let step = try call.integer(2, "step")
                guard step >= 0 else { throw call.argumentError(2, "step", expected: "a step >= 0", got: "\(step)") }
                try r.dir.writeState(step: step, json: try call.string(3, "json"))
                return 0
            },
            LuaMethod("latest", "run:latest() -> the latest state record (decoded) or nil") { call in
                let r = try call.object(1, "self", as: LuaRunDir.self)
                guard let (_, path) = r.dir.stateRecords().last, let data = try? RegularFile.read(path),
                      let obj = try? JSONSerialization.jsonObject(with: data) else { return call.pushNil() }
                try call.state.pushJSON(obj, call: call, depth: 0)
                return 1
            },
            LuaMethod("prune", "run:prune(keep) -- keeps the newest `keep` (>= 1) checkpoints (state, step, optim files)") { call in
                let r = try call.object(1, "self", as: LuaRunDir.self)
                r.dir.prune(keep: try call.integer(2, "keep"))
                return 0
            },
            LuaMethod("dir", "run:dir() -> the run directory") { call in call.push(try call.object(1, "self", as: LuaRunDir.self).dir.path) },
        ]
    }
}

/// A metrics record from a Lua table (numbers, booleans as 0/1, strings), "update" first, then known keys, then sorted.
private func metricsRecord(_ call: LuaCall, _ i: Int32) throws -> MetricsRecord {
    _ = try call.table(i, "record")
    var values: [String: MetricValue] = [:]
    let t = lua_absindex(call.L, i)
    lua_pushnil(call.L)
    while moon_next(call.L, t) != 0 {
        defer { moon_pop(call.L, 1) }
        guard lua_type(call.L, -2) == LUA_TSTRING, let k = call.state.string(at: -2) else {
            throw call.argumentError(i, "record", expected: "string keys", got: "a \(call.state.typeName(at: -2)) key")
        }
        switch lua_type(call.L, -1) {
        case LUA_TNUMBER: values[k] = .number(lua_tonumberx(call.L, -1, nil))
        case LUA_TBOOLEAN: values[k] = .number(lua_toboolean(call.L, -1) != 0 ? 1 : 0)
        case LUA_TSTRING: values[k] = .text(call.state.string(at: -1) ?? "")
        default: throw call.error("record field '\(k)': expected number, boolean or string, got \(call.typeName(-1))")
        }
    }
    let order = [MetricKey.update, MetricKey.successRate, MetricKey.episodeReturn, MetricKey.invalidRate, MetricKey.episodeLength,
                 MetricKey.entropy, MetricKey.kl, MetricKey.distinct2, MetricKey.distinctThoughts, MetricKey.valueLoss,
                 MetricKey.policyLoss, MetricKey.clipFraction, MetricKey.approxKL, MetricKey.tokensPerSecond, MetricKey.wallSeconds]
    var rec = MetricsRecord()
    for k in order where values[k] != nil { rec[k] = values.removeValue(forKey: k) }
    for k in values.keys.sorted() { rec[k] = values[k] }
    return rec
}

private func distill(_ call: LuaCall, fixed: DistillDivergence?) throws -> Int32 {
    // kl takes a direction, jsd a beta: each rejects the other's option instead of ignoring it
    let o = try call.options(3, allowed: ["mask", "temperature", "top_k", "reduction", "scale_t2", fixed == .jsd ? "beta" : "direction"])
    let div = try fixed ?? DistillDivergence(rawValue: try o.choice("direction", ["reverse", "forward"], default: "reverse"))!
    var opts = DistillOptions()
    opts.temperature = Float(try o.number("temperature", default: 1))
    opts.scaleByTemperatureSquared = try o.boolean("scale_t2", default: false)
    if o.has("top_k") { opts.topK = try o.integer("top_k", default: 0) }
    opts.beta = Float(try o.number("beta", default: 0.5))
    opts.reduction = Reduction(rawValue: try o.choice("reduction", ["mean", "sum", "none"], default: "mean"))!
    return call.push(tensor: try Distill.loss(student: try call.tensor(1, "student_logits"), teacher: try call.tensor(2, "teacher_logits"),
                                              divergence: div, mask: try o.object("mask", as: Tensor.self), options: opts))
}
