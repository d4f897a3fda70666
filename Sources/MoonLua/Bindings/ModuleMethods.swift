import CLua
import CLuaShim
import MoonModels
import MoonTensor

/// A model object exported to Lua (`moon.VLMPolicy`, `moon.LanguageModel`): a `Module` with LoRA and cloning.
protocol LuaModel: Module {
    func enableLoRA(_ c: LoRAConfig, generator: Generator) throws -> [String]
    func mergeLoRA() throws
    func clone() throws -> Self
}

extension VLMPolicy: LuaModel {}
extension LanguageModel: LuaModel {}

/// The methods every exported model has, written once: `self` is named `prefix` in the doc strings (`policy`, `lm`).
func moduleMethods<M: LuaModel>(_ prefix: String, _ type: M.Type) -> [LuaMethod] {
    [
        LuaMethod("parameters", """
            \(prefix):parameters([opts]) -> list of parameter tensors. opts: trainable_only (true; false: frozen ones too)
            """) { call in
            let m = try call.object(1, "self", as: M.self)
            let trainable = try call.flagOption(2, "trainable_only", default: true, usage: "\(prefix):parameters{trainable_only = ...}")
            return call.push(tensors: trainable ? m.trainableParameters() : m.parameters())
        },
        LuaMethod("named_parameters", "\(prefix):named_parameters() -> table name -> parameter tensor (live, not copies)") { call in
            pushNamedTensors(call, Dictionary(uniqueKeysWithValues: try call.object(1, "self", as: M.self).namedParameters()))
            return 1
        },
        LuaMethod("state_dict", """
            \(prefix):state_dict([opts]) -> table name -> tensor (copies, Hugging Face names for the decoder).
            opts: trainable_only (false): only the parameters that train (with a frozen base: the adapters and what else
            trains; what a checkpoint pool needs to merge)
            """) { call in
            let m = try call.object(1, "self", as: M.self)
            let o = try call.options(2, allowed: ["trainable_only"])
            var d = m.stateDict()
            if try o.boolean("trainable_only", default: false) {
                let keep = Set(m.namedParameters().filter { $0.1.requiresGrad }.map(\.0))
                d = d.filter { keep.contains($0.key) }
            }
            pushNamedTensors(call, d.mapValues { $0.detach().clone() })
            return 1
        },
        LuaMethod("load_state_dict", """
            \(prefix):load_state_dict(tensors [, opts]) -- copies weights in; lists missing/extra/mis-shaped names on error.
            opts: strict (true; false: names missing on either side are skipped)
            """) { call in
            let m = try call.object(1, "self", as: M.self)
            let named = try namedTensors(call, 2, "tensors")
            let strict = try call.flagOption(3, "strict", default: true, usage: "\(prefix):load_state_dict(tensors, {strict = ...})")
            try Tensor.noGrad { try m.loadStateDict(Dictionary(uniqueKeysWithValues: named), strict: strict) }
            return 0
        },
        LuaMethod("clone", "\(prefix):clone() -> an independent copy (weights copied)") { call in
            call.push(object: try call.object(1, "self", as: M.self).clone())
        },
        LuaMethod("lora", """
            \(prefix):lora([opts]) -> names of adapted layers. Attaches LoRA adapters; only they train.
            opts: rank (8), alpha (16), dropout (0), targets ({'q_proj','k_proj','v_proj','o_proj'}, patterns), freeze_base (true)
            """) { call in
            let m = try call.object(1, "self", as: M.self)
            return call.push(try m.enableLoRA(try loraOptions(call, 2), generator: .default))
        },
        LuaMethod("merge_lora", "\(prefix):merge_lora() -- folds the adapters into the base weights and removes them") { call in
            try call.object(1, "self", as: M.self).mergeLoRA(); return 0
        },
        LuaMethod("train", "\(prefix):train() -- training mode (dropout on)") { call in
            try call.object(1, "self", as: M.self).train(); return 0
        },
        LuaMethod("eval", "\(prefix):eval() -- evaluation mode") { call in
            try call.object(1, "self", as: M.self).eval(); return 0
        },
        LuaMethod("num_parameters", "\(prefix):num_parameters() -> number of parameters") { call in
            call.push(try call.object(1, "self", as: M.self).parameterCount)
        },
    ]
}

/// The options of `policy:generate` and `lm:generate` (one vocabulary, read once), checked; the caller reads
/// `generator` from the returned options table.
func generateOptions(_ call: LuaCall, _ i: Int32) throws -> (GenerateOptions, LuaOptions) {
    let o = try call.options(i, allowed: ["max_new_tokens", "temperature", "greedy", "top_k", "top_p", "repetition_penalty",
                                          "stop", "stop_at_eos", "eos_id", "padding", "generator", "weights"])
    var g = GenerateOptions()
    g.maxNewTokens = try o.integer("max_new_tokens", default: g.maxNewTokens)
    g.temperature = Float(try o.number("temperature", default: Double(g.temperature)))
    g.greedy = try o.boolean("greedy", default: false)
    g.topK = try o.integer("top_k", default: 0)
    g.topP = Float(try o.number("top_p", default: 1))
    g.repetitionPenalty = Float(try o.number("repetition_penalty", default: 1))
    g.stopAtEos = try o.boolean("stop_at_eos", default: true)
    if o.has("eos_id") { g.eosId = try o.integer("eos_id", default: 0) }
    g.padding = Padding(rawValue: try o.choice("padding", ["left", "right"], default: "left"))!
    if let stop = try o.strings("stop") { g.stop = stop }
    g.weights = DecodeWeights(rawValue: try o.choice("weights", ["f32", "bf16"], default: "f32"))!
    guard g.maxNewTokens >= 0 && g.maxNewTokens <= 1 << 16 else { throw call.error("option 'max_new_tokens': expected 0...65536") }
    try g.validate()
    return (g, o)
}
