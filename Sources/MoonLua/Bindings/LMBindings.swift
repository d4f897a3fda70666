import CLua
import CLuaShim
import Foundation
import MoonCheckpoint
import MoonModels
import MoonTensor

/// `moon.lm`: pretrained language models (GGUF files, Hugging Face directories, moonlab LM checkpoints).
extension LuaState {
    func installLMBindings() {
        defineType(LanguageModel.self, name: "moon.LM", methods: lmMethods() + moduleMethods("lm", LanguageModel.self), metamethods: [
            "__tostring": { call in
                let m = try call.object(1, as: LanguageModel.self)
                let c = m.config
                return call.push("moon.LM(\(c.modelType), \(m.parameterCount) parameters: \(c.numHiddenLayers) layers x \(c.hiddenSize), "
                                 + "\(c.numAttentionHeads)/\(c.numKeyValueHeads) heads, vocabulary \(c.vocabSize); from \(m.source))")
            },
        ])
        register("moon.lm.load", doc: """
            moon.lm.load(path) -> a language model. path: a .gguf file (llama.cpp; F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K/Q6_K
            tensors, dequantised to float32), a Hugging Face directory (config.json + model.safetensors or sharded
            model-*.safetensors; Llama or Qwen2), or a .safetensors file written by lm:save. Errors name the file and the problem.
            """) { call in
            call.push(object: try LanguageModel.load(path: try call.path(1, "path")))
        }
    }

    private func lmMethods() -> [LuaMethod] {
        [
            LuaMethod("generate", """
                lm:generate(prompts [, opts]) -> {texts, tokens, logprobs, entropies, finish, token_count}. prompts: a string, or a
                list of strings (encoded by the model's tokenizer, BOS added when the checkpoint adds it; use
                lm:tokenizer():apply_chat_template for chat) or of token-id lists (0-based ids). opts: max_new_tokens (64), temperature (1), greedy (false), top_k (0), top_p (1),
                repetition_penalty (1), stop (not supported yet: an error), stop_at_eos (true), eos_id, padding ('left'), generator,
                weights ('f32' or 'bf16': faster decoding, log-probs then differ from score's by the weight rounding)
                """) { call in
                let m = try call.object(1, "self", as: LanguageModel.self)
                let prompts = try textOrIds(call, 2, "prompts", model: m, response: false)
                let (g, o) = try generateOptions(call, 3)
                let r = try m.generate(prompts: prompts, options: g, generator: try generatorOption(o, call))
                lua_createtable(call.L, 0, 6)
                call.push(r.texts); call.state.setRawField(-2, "texts")
                pushNested(call, r.tokens.map { $0.map(Double.init) }); call.state.setRawField(-2, "tokens")
                pushNested(call, r.logProbs.map { $0.map(Double.init) }); call.state.setRawField(-2, "logprobs")
                pushNested(call, r.entropies.map { $0.map(Double.init) }); call.state.setRawField(-2, "entropies")
                call.push(r.finishReasons); call.state.setRawField(-2, "finish")
                call.push(r.generatedTokenCount); call.state.setRawField(-2, "token_count")
                return 1
            },
            LuaMethod("score", """
                lm:score(prompts, responses [, opts]) -> {logprobs, entropies, mask [B, L] tensors (autograd), lengths}:
                teacher-forced scores of responses after prompts (each a string or a list of strings, encoded by the model's
                tokenizer, or token-id lists). opts: temperature (1)
                """) { call in
                let m = try call.object(1, "self", as: LanguageModel.self)
                let prompts = try textOrIds(call, 2, "prompts", model: m, response: false)
                let responses = try textOrIds(call, 3, "responses", model: m, response: true)
                let o = try call.options(4, allowed: ["temperature"])
                let s = try m.score(prompts: prompts, responses: responses, temperature: Float(try o.number("temperature", default: 1)))
                lua_createtable(call.L, 0, 4)
                for (k, t) in [("logprobs", s.logProbs), ("entropies", s.entropies), ("mask", s.mask)] {
                    call.push(tensor: t); call.state.setRawField(-2, k)
                }
                call.push(s.lengths.map(Double.init)); call.state.setRawField(-2, "lengths")
                return 1
            },
            LuaMethod("logits", "lm:logits(ids) -> logits [T, vocab] of one token-id list (no autograd)") { call in
                let m = try call.object(1, "self", as: LanguageModel.self)
                let ids = try tokenList(call, 2, "ids", vocab: m.config.vocabSize)
                guard !ids.isEmpty else { throw call.argumentError(2, "ids", expected: "a non-empty list of token ids", got: "an empty list") }
                return call.push(tensor: try Tensor.noGrad { try m.decoder(Tensor(ints: ids, shape: [1, ids.count])) }.reshape([ids.count, m.config.vocabSize]))
            },
            LuaMethod("loss", """
                lm:loss(ids) -> mean next-token cross-entropy (a scalar tensor, autograd) of int64 ids [B, T] (a tensor) or a
                list of equal-length token-id lists
                """) { call in
                let m = try call.object(1, "self", as: LanguageModel.self)
                let ids: Tensor
                if let t = call.state.object(at: 2, as: Tensor.self) {
                    guard t.dtype == .int64, t.ndim == 2 else { throw call.argumentError(2, "ids", expected: "int64 ids [B, T]", got: "\(t.dtype) \(t.shape)") }
                    ids = t
                } else {
                    let rows = try tokenLists(call, 2, "ids", vocab: m.config.vocabSize)
                    guard let n = rows.first?.count, rows.allSatisfy({ $0.count == n }) else {
                        throw call.argumentError(2, "ids", expected: "token-id lists of equal length", got: "ragged lists")
                    }
                    ids = try Tensor(ints: rows.flatMap { $0 }, shape: [rows.count, n])
                }
                return call.push(tensor: try m.decoder.lmLoss(ids))
            },
            LuaMethod("save", "lm:save(path) -- safetensors (Hugging Face names) with the config, tokenizer and LoRA settings; moon.lm.load reads it") { call in
                try call.object(1, "self", as: LanguageModel.self).save(path: try call.path(2, "path"))
                return 0
            },
            LuaMethod("save_gguf", """
                lm:save_gguf(path [, {type = 'f32'|'f16'|'bf16'|'q8_0'}]) -- writes a GGUF file llama.cpp and transformers read
                (llama.cpp names, q/k rows permuted as llama.cpp's converter does, LoRA folded in, the tokenizer metadata the
                model was loaded with), atomically. Default type f32; norms stay f32.
                """) { call in
                let m = try call.object(1, "self", as: LanguageModel.self)
                let path = try call.path(2, "path")
                let type = try ggufTypeOption(call, 3)
                try m.saveGGUF(path: path, type: type)
                return 0
            },
            LuaMethod("config", "lm:config() -> the configuration as a Hugging Face config.json text") { call in
                call.push(try call.object(1, "self", as: LanguageModel.self).config.hfJSON())
            },
            LuaMethod("tokenizer", """
                lm:tokenizer() -> the checkpoint's tokenizer (a moon.Tokenizer: encode, decode, apply_chat_template, ...), or nil
                and the reason when it has none moonlab can build
                """) { call in
                let m = try call.object(1, "self", as: LanguageModel.self)
                guard let t = m.tokenizer else { lua_pushnil(call.L); call.push(m.tokenizerProblem ?? "no tokenizer"); return 2 }
                return call.push(object: LuaTokenizer(t))
            },
            LuaMethod("tokenizer_metadata", """
                lm:tokenizer_metadata() -> the GGUF tokenizer description: model, pre, vocab_size, merges (count), bos_id, eos_id,
                unk_id, pad_id (0-based), add_bos, chat_template; nil when the checkpoint has none
                """) { call in
                let m = try call.object(1, "self", as: LanguageModel.self)
                guard let t = m.tokenizerMetadata else { lua_pushnil(call.L); return 1 }
                lua_createtable(call.L, 0, 10)
                call.push(t.model); call.state.setRawField(-2, "model")
                if let p = t.pre { call.push(p); call.state.setRawField(-2, "pre") }
                call.push(t.tokens.count); call.state.setRawField(-2, "vocab_size")
                call.push(t.merges.count); call.state.setRawField(-2, "merges")
                for (k, v) in [("bos_id", t.bosId), ("eos_id", t.eosId), ("unk_id", t.unknownId), ("pad_id", t.paddingId)] {
                    if let v { call.push(v); call.state.setRawField(-2, k) }
                }
                if let b = t.addBos { lua_pushboolean(call.L, b ? 1 : 0); call.state.setRawField(-2, "add_bos") }
                if let s = t.chatTemplate { call.push(s); call.state.setRawField(-2, "chat_template") }
                return 1
            },
        ]
    }
}

/// The `type` option of save_gguf.
func ggufTypeOption(_ call: LuaCall, _ i: Int32) throws -> GGMLType {
    let o = try call.options(i, allowed: ["type"])
    switch try o.choice("type", ["f32", "f16", "bf16", "q8_0"], default: "f32") {
    case "f16": return .f16
    case "bf16": return .bf16
    case "q8_0": return .q8_0
    default: return .f32
    }
}

/// A Lua list of integer token ids, each in 0..<vocab.
private func tokenList(_ call: LuaCall, _ i: Int32, _ name: String, vocab: Int) throws -> [Int] {
    let nums = try call.numbers(i, name)
    var out: [Int] = []
    out.reserveCapacity(nums.count)
    for (k, v) in nums.enumerated() {
        guard let id = Int(exactly: v), id >= 0, id < vocab else {
            throw call.argumentError(i, name, expected: "token ids (integers in 0..<\(vocab))", got: "\(v) at index \(k + 1)")
        }
        out.append(id)
    }
    return out
}

/// Prompts or responses: a string, a list of strings (encoded with the model's tokenizer), or a list of token-id lists.
private func textOrIds(_ call: LuaCall, _ i: Int32, _ name: String, model: LanguageModel, response: Bool) throws -> [[Int]] {
    func encode(_ s: String) throws -> [Int] { response ? try model.encodeResponse(s) : try model.encodePrompt(s) }
    if lua_type(call.L, i) == LUA_TSTRING { return [try encode(try call.string(i, name))] }
    _ = try call.table(i, name)
    lua_rawgeti(call.L, i, 1)
    let first = lua_type(call.L, -1)
    moon_pop(call.L, 1)
    if first == LUA_TSTRING {
        let texts = try call.strings(i, name)
        let ids = try texts.map(encode)
        if !response, let k = ids.firstIndex(where: { $0.isEmpty }) {
            throw call.argumentError(i, name, expected: "non-empty prompts", got: "an empty prompt at index \(k + 1)")
        }
        return ids
    }
    return try tokenLists(call, i, name, vocab: model.config.vocabSize, allowEmpty: response)
}

/// A Lua list of token-id lists.
private func tokenLists(_ call: LuaCall, _ i: Int32, _ name: String, vocab: Int, allowEmpty: Bool = false) throws -> [[Int]] {
    _ = try call.table(i, name)
    let n = Int(lua_rawlen(call.L, i))
    guard n > 0 else { throw call.argumentError(i, name, expected: "a non-empty list of token-id lists", got: "an empty table") }
    var out: [[Int]] = []
    for k in 1...n {
        lua_rawgeti(call.L, i, lua_Integer(k))
        defer { moon_pop(call.L, 1) }
        guard lua_type(call.L, -1) == LUA_TTABLE else {
            throw call.argumentError(i, name, expected: "a list of token-id lists", got: "\(call.typeName(-1)) at index \(k)")
        }
        let ids = try tokenList(call, lua_gettop(call.L), "\(name)[\(k)]", vocab: vocab)
        if ids.isEmpty && !allowEmpty { throw call.argumentError(i, name, expected: "non-empty token-id lists", got: "an empty list at index \(k)") }
        out.append(ids)
    }
    return out
}
