import CLua
import CLuaShim
import Foundation
import MoonModels
import MoonTensor

/// `moon.vlm`, `moon.ckpt`, `moon.tokenizer`: the VLM policy, checkpoints and the byte tokenizer from Lua.
extension LuaState {
    func installModelBindings() {
        defineType(VLMPolicy.self, name: "moon.Policy", methods: policyMethods() + moduleMethods("policy", VLMPolicy.self), metamethods: [
            "__tostring": { call in
                let p = try call.object(1, as: VLMPolicy.self)
                let d = p.config.decoder
                let v = p.config.textOnly ? "text-only" : "vision \(p.config.vision.width)x\(p.config.vision.layers)"
                let src = p.decoderSource.map { ", decoder from \($0.path)" } ?? ""
                return call.push("moon.Policy(\(p.parameterCount) parameters: \(v), "
                                 + "decoder \(d.hiddenSize)x\(d.numHiddenLayers), \(p.numVisualTokens) visual tokens\(src))")
            },
        ])

        register("moon.vlm.new", doc: """
            moon.vlm.new([cfg]) -> a VLM policy (patch vision encoder + Llama decoder + value head).
            cfg: image_size (64), patch_size (16), vision_width (64), vision_layers (2), vision_heads (4), width (128),
            layers (4), heads (4), kv_heads (4), intermediate (344), max_positions (1024), rope_theta (10000), seed (0).
            Pretrained decoder: decoder = path (anything moon.lm.load reads, e.g. 'models/SmolLM2-135M-Instruct.Q4_1.gguf'):
            its tokenizer and chat template are used (prompt = the user message, image at an added <image> token), its
            base weights are frozen (adapt it with policy:lora), and the decoder-shape options (width, layers, heads,
            kv_heads, intermediate, max_positions, rope_theta) are refused. vision = false: text-only (no vision
            encoder). chat (default: when the tokenizer has a ChatML/Llama 3 template), projector_hidden (decoder width)
            vision = {kind = 'vit'|'conv', image_size, patch_size, width, layers, heads, mlp_ratio, conv_channels, registers}:
            the encoder in one table (instead of the flat image_size/patch_size/vision_* keys). kind 'vit' patchifies;
            'conv' is a conv stem (log2(patch_size) 3x3 stride-2 convolutions with channels conv_channels, default
            doubling up to width) before the same transformer layers. registers (0): learned tokens after the patches
            (visual tokens = patches + registers). Default kind: 'conv' with a decoder (it reads cards better per FLOP,
            README "Vision encoders and alignment"), 'vit' for the byte-level policy.
            """) { call in
            let o = try call.options(1, "cfg", allowed: ["image_size", "patch_size", "vision_width", "vision_layers", "vision_heads",
                                                         "width", "layers", "heads", "kv_heads", "intermediate", "max_positions",
                                                         "rope_theta", "seed", "decoder", "vision", "chat", "projector_hidden"])
            var c = VLMConfig()
            c.vision.imageSize = try o.integer("image_size", default: c.vision.imageSize)
            c.vision.patchSize = try o.integer("patch_size", default: c.vision.patchSize)
            c.vision.width = try o.integer("vision_width", default: c.vision.width)
            c.vision.layers = try o.integer("vision_layers", default: c.vision.layers)
            c.vision.heads = try o.integer("vision_heads", default: c.vision.heads)
            c.seed = UInt64(max(0, try o.integer("seed", default: 0)))
            if o.has("projector_hidden") { c.projectorHidden = try o.integer("projector_hidden", default: 0) }
            // a pretrained decoder gets the conv stem by default: it reads the cards better per FLOP (README,
            // "Vision encoders and alignment"); the byte-level policy keeps the ViT
            if o.has("decoder") { c.vision.kind = .conv }
            if o.has("vision") {
                call.state.rawField(1, "vision")
                defer { moon_pop(call.L, 1) }
                if lua_type(call.L, -1) == LUA_TTABLE {
                    try readVisionTable(call, lua_gettop(call.L), into: &c.vision, flat: o)
                } else {
                    c.textOnly = !(try o.boolean("vision", default: true))
                }
            }
            if o.has("decoder") {
                let path = try o.path("decoder")
                for k in ["width", "layers", "heads", "kv_heads", "intermediate", "max_positions", "rope_theta"] where o.has(k) {
                    throw call.error("option '\(k)' cannot be combined with 'decoder' (the decoder's shape comes from its file)")
                }
                let chat: Bool? = o.has("chat") ? try o.boolean("chat", default: true) : nil
                try c.vision.validate()
                let lm = try LanguageModel.load(path: path)
                return call.push(object: try VLMPolicy.pretrained(lm, vision: c.textOnly ? nil : c.vision, projectorHidden: c.projectorHidden,
                                                                  seed: c.seed, chat: chat))
            }
            if o.has("chat") { throw call.error("option 'chat' needs 'decoder' (the byte-level policy has no chat template)") }
            c.decoder.hiddenSize = try o.integer("width", default: c.decoder.hiddenSize)
            c.decoder.numHiddenLayers = try o.integer("layers", default: c.decoder.numHiddenLayers)
            c.decoder.numAttentionHeads = try o.integer("heads", default: c.decoder.numAttentionHeads)
            c.decoder.numKeyValueHeads = try o.integer("kv_heads", default: c.decoder.numAttentionHeads)
            c.decoder.intermediateSize = try o.integer("intermediate", default: c.decoder.intermediateSize)
            c.decoder.maxPositionEmbeddings = try o.integer("max_positions", default: c.decoder.maxPositionEmbeddings)
            c.decoder.ropeTheta = Float(try o.number("rope_theta", default: Double(c.decoder.ropeTheta)))
            try c.validate()  // the size limits, shared with vlm.load (VLMConfig.maxSize, maxLayers)
            return call.push(object: try VLMPolicy(c))
        }
        register("moon.vlm.load", doc: "moon.vlm.load(path) -> a policy saved with policy:save(path)") { call in
            call.push(object: try VLMPolicy.load(path: try call.path(1, "path")))
        }
        register("moon.ckpt.save", doc: """
            moon.ckpt.save(path, tensors [, metadata]) -- writes a table name -> tensor as safetensors, atomically
            (temp file, fsync, rename). metadata: table of string -> string
            """) { call in
            let path = try call.path(1, "path")
            let named = try namedTensors(call, 2, "tensors")
            var meta: [String: String] = [:]
            if !call.isNoneOrNil(3) {
                _ = try call.table(3, "metadata")
                lua_pushnil(call.L)
                while moon_next(call.L, 3) != 0 {
                    defer { moon_pop(call.L, 1) }
                    guard lua_type(call.L, -2) == LUA_TSTRING, lua_type(call.L, -1) == LUA_TSTRING,
                          let k = call.state.string(at: -2), let v = call.state.string(at: -1) else {
                        throw call.argumentError(3, "metadata", expected: "table of string -> string")
                    }
                    meta[k] = v
                }
            }
            try Checkpoint.writeTensors(named.sorted { $0.0 < $1.0 }, metadata: meta, to: path)
            return 0
        }
        register("moon.ckpt.load", doc: """
            moon.ckpt.load(path) -> tensors (name -> tensor). The file's metadata: moon.ckpt.metadata(path)
            """) { call in
            let (tensors, _) = try Checkpoint.readTensors(path: try call.path(1, "path"))
            pushNamedTensors(call, tensors)
            return 1
        }
        register("moon.ckpt.metadata", doc: "moon.ckpt.metadata(path) -> the safetensors file's metadata (string -> string)") { call in
            let meta = try SafeTensorsFile(path: try call.path(1, "path")).metadata
            lua_createtable(call.L, 0, Int32(meta.count))
            for (k, v) in meta { call.push(v); call.state.setRawField(-2, k) }
            return 1
        }
        register("moon.tokenizer.encode", doc: """
            moon.tokenizer.encode(text [, opts]) -> token ids (bytes 0-255; <bos> 256, <eos> 257, <pad> 258, <image> 259).
            opts: bos (false)
            """) { call in
            let bos = try call.flagOption(2, "bos", default: false, usage: "moon.tokenizer.encode(text, {bos = ...})")
            let ids = ByteTokenizer().encode(try call.string(1, "text"), addBos: bos)
            return call.push(ids.map(Double.init))
        }
        register("moon.tokenizer.decode", doc: "moon.tokenizer.decode(ids [, opts]) -> text. opts: skip_special (true)") { call in
            let ids = try call.integers(1, "ids")
            let skip = try call.flagOption(2, "skip_special", default: true, usage: "moon.tokenizer.decode(ids, {skip_special = ...})")
            return call.push(ByteTokenizer().decode(ids, skipSpecial: skip))
        }
    }

    private func policyMethods() -> [LuaMethod] {
        [
            LuaMethod("generate", """
                policy:generate(batch [, opts]) -> {texts, tokens, logprobs, entropies, values, finish, token_count, prompt_tokens}.
                batch: one observation {prompt=, image=}, a list of them, or {prompts = {...}, images = tensor [B,3,H,W]}.
                opts: max_new_tokens (64), temperature (1), greedy (false), top_k (0), top_p (1), repetition_penalty (1),
                stop (list of strings), stop_at_eos (true), eos_id, padding ('left'), generator (one moon.generator, or a
                list with one per row so that each row's sampling does not depend on the other rows), weights ('f32', or 'bf16': the
                decode loop streams bfloat16 weights, faster, log-probs then differ from score's by the weight rounding)
                """) { call in
                let p = try call.object(1, "self", as: VLMPolicy.self)
                let (images, prompts) = try batchArgument(call, 2)
                let (g, o) = try generateOptions(call, 3)
                let r = try p.generate(images: images, prompts: prompts, options: g, generator: try rowGeneratorOption(o, call, rows: prompts.count))
                lua_createtable(call.L, 0, 8)
                call.push(r.texts); call.state.setRawField(-2, "texts")
                pushNested(call, r.tokens.map { $0.map(Double.init) }); call.state.setRawField(-2, "tokens")
                pushNested(call, r.logProbs.map { $0.map(Double.init) }); call.state.setRawField(-2, "logprobs")
                pushNested(call, r.entropies.map { $0.map(Double.init) }); call.state.setRawField(-2, "entropies")
                call.push(r.values.map(Double.init)); call.state.setRawField(-2, "values")
                call.push(r.finishReasons); call.state.setRawField(-2, "finish")
                call.push(r.generatedTokenCount); call.state.setRawField(-2, "token_count")
                pushNested(call, r.promptTokens.map { $0.map(Double.init) }); call.state.setRawField(-2, "prompt_tokens")
                return 1
            },
            LuaMethod("score", """
                policy:score(batch, responses [, opts]) -> {logprobs, entropies, mask, action_mask, thought_mask [B, L],
                values [B], has_action, lengths}: teacher-forced scores of responses (token id lists or strings), with autograd.
                opts: temperature (1), fused (default true unless MOONLAB_FUSED=0): the decoder through the fused pass (one
                autograd node; same numbers as the graph of its layers, which fused = false uses)
                """) { call in
                let p = try call.object(1, "self", as: VLMPolicy.self)
                let (images, prompts) = try batchArgument(call, 2)
                let responses = try responsesArgument(call, 3, policy: p)
                let o = try call.options(4, allowed: ["temperature", "fused"])
                let fused: Bool? = o.has("fused") ? try o.boolean("fused", default: true) : nil
                let s = try p.score(images: images, prompts: prompts, responses: responses,
                                    temperature: Float(try o.number("temperature", default: 1)), fused: fused)
                lua_createtable(call.L, 0, 8)
                for (k, t) in [("logprobs", s.logProbs), ("entropies", s.entropies), ("mask", s.mask), ("action_mask", s.actionMask),
                               ("thought_mask", s.thoughtMask), ("values", s.values)] {
                    call.push(tensor: t); call.state.setRawField(-2, k)
                }
                lua_createtable(call.L, Int32(s.hasAction.count), 0)
                for (k, v) in s.hasAction.enumerated() { lua_pushboolean(call.L, v ? 1 : 0); lua_rawseti(call.L, -2, lua_Integer(k + 1)) }
                call.state.setRawField(-2, "has_action")
                call.push(s.lengths.map(Double.init)); call.state.setRawField(-2, "lengths")
                return 1
            },
            LuaMethod("encode_prompt", """
                policy:encode_prompt(text [, image=false]) -> the prompt's token ids as generate and score see them (pretrained:
                the chat template's user message with the generation prompt; with image, the <image> token where the visual
                tokens go)
                """) { call in
                let p = try call.object(1, "self", as: VLMPolicy.self)
                let ids = try p.encodePrompt(try call.string(2, "text"), image: try call.optionalBoolean(3, "image", default: false))
                return call.push(ids.map(Double.init))
            },
            LuaMethod("masks", """
                policy:masks(responses) -> {mask, action_mask, thought_mask [B, L], has_action, lengths}: the masks policy:score
                returns for these responses (token id lists or strings), without running the model
                """) { call in
                let p = try call.object(1, "self", as: VLMPolicy.self)
                let responses = try responsesArgument(call, 2, policy: p)
                let m = p.responseMasks(responses)
                lua_createtable(call.L, 0, 5)
                for (k, t) in [("mask", m.mask), ("action_mask", m.actionMask), ("thought_mask", m.thoughtMask)] {
                    call.push(tensor: t); call.state.setRawField(-2, k)
                }
                lua_createtable(call.L, Int32(m.hasAction.count), 0)
                for (k, v) in m.hasAction.enumerated() { lua_pushboolean(call.L, v ? 1 : 0); lua_rawseti(call.L, -2, lua_Integer(k + 1)) }
                call.state.setRawField(-2, "has_action")
                call.push(responses.map { Double($0.count) }); call.state.setRawField(-2, "lengths")
                return 1
            },
            LuaMethod("value", "policy:value(batch) -> value estimates [B] (autograd)") { call in
                let p = try call.object(1, "self", as: VLMPolicy.self)
                let (images, prompts) = try batchArgument(call, 2)
                return call.push(tensor: try p.value(images: images, prompts: prompts))
            },
            LuaMethod("save", "policy:save(path) -- safetensors with the config in the metadata, written atomically") { call in
                try call.object(1, "self", as: VLMPolicy.self).save(path: try call.path(2, "path"))
                return 0
            },
            LuaMethod("load_weights", """
                policy:load_weights(path [, opts]) -- loads weights saved by save() or moon.ckpt.save. opts: strict (true)
                """) { call in
                let p = try call.object(1, "self", as: VLMPolicy.self)
                let strict = try call.flagOption(3, "strict", default: true, usage: "policy:load_weights(path, {strict = ...})")
                try p.loadWeights(path: try call.path(2, "path"), strict: strict)
                return 0
            },
            LuaMethod("visual_tokens", """
                policy:visual_tokens(images [B, 3, H, W]) -> [B, num_visual_tokens, decoder width]: what the vision encoder and
                projector put in place of the image token (autograd; gtr.align trains them)
                """) { call in
                let p = try call.object(1, "self", as: VLMPolicy.self)
                return call.push(tensor: try p.visualTokens(try call.tensor(2, "images")))
            },
            LuaMethod("tokenizer", "policy:tokenizer() -> the policy's text tokenizer (a moon.Tokenizer: the byte tokenizer or the decoder's BPE)") { call in
                call.push(object: LuaTokenizer(try call.object(1, "self", as: VLMPolicy.self).tokenizer))
            },
            LuaMethod("greedy_check", """
                policy:greedy_check(batch, targets) -> {exact = {bool...}, prefix = {n...}, correct = {n...}}: whether greedy
                decoding of each (image, prompt) would produce exactly the target token ids (a string target is encoded and
                the end-of-sequence token appended), decided by one teacher-forced pass: exact[i] when the argmax at every
                target position is the target token; prefix[i]: how many leading tokens agree; correct[i]: how many agree
""") { call in
                let p = try call.object(1, "self", as: VLMPolicy.self)
                let (images, prompts) = try batchArgument(call, 2)
                var targets = try responsesArgument(call, 3, policy: p)
                let eos: Int = p.isPretrained ? p.tokenizer.eosTokenId ?? p.config.decoder.eosTokenId : ByteTokenizer.eos
                do {
                    // strings get the end-of-sequence token (greedy decoding must stop there)
                    _ = try call.table(3, "targets")
                    for k in 0..<targets.count {
                        lua_rawgeti(call.L, 3, lua_Integer(k + 1))
                        if lua_type(call.L, -1) == LUA_TSTRING { targets[k].append(eos) }
                        moon_pop(call.L, 1)
                    }
                }
                let r = try p.greedyCheck(images: images, prompts: prompts, targets: targets)
                lua_createtable(call.L, 0, 3)
                lua_createtable(call.L, Int32(r.count), 0)
                for (k, v) in r.enumerated() { lua_pushboolean(call.L, v.exact ? 1 : 0); lua_rawseti(call.L, -2, lua_Integer(k + 1)) }
                call.state.setRawField(-2, "exact")
                call.push(r.map { Double($0.prefix) }); call.state.setRawField(-2, "prefix")
                call.push(r.map { Double($0.correct) }); call.state.setRawField(-2, "correct")
                return 1
            },
            LuaMethod("num_visual_tokens", "policy:num_visual_tokens() -> visual tokens per image") { call in
                call.push(try call.object(1, "self", as: VLMPolicy.self).numVisualTokens)
            },
            LuaMethod("config", "policy:config() -> the configuration as JSON text") { call in
                call.push(try call.object(1, "self", as: VLMPolicy.self).config.json())
            },
            LuaMethod("save_gguf", """
                policy:save_gguf(path [, {type = 'f32'|'f16'|'bf16'|'q8_0'}]) -- writes the decoder (text part, LoRA folded in)
                as a GGUF file llama.cpp reads, with the byte tokenizer as a merge-free GPT-2 vocabulary, atomically
                """) { call in
                let p = try call.object(1, "self", as: VLMPolicy.self)
                let path = try call.path(2, "path")
                let type = try ggufTypeOption(call, 3)
                var tok = GGUFLlama.byteTokenizerMetadata()
                if p.isPretrained {
                    guard let m = p.tokenizerMetadata else { throw call.error("policy:save_gguf: the decoder's tokenizer came from a tokenizer.json, which GGUF metadata cannot carry yet") }
                    tok = m
                }
                try GGUFLlama.save(decoder: p.decoder, tokenizer: tok, type: type, to: path, name: "moonlab-policy")
                return 0
            },
        ]
    }
}

/// The LoRA options table at argument `i` (policy:lora and lm:lora): rank (8), alpha (16), dropout (0), targets
/// (layer-name patterns), freeze_base (true).
func loraOptions(_ call: LuaCall, _ i: Int32) throws -> LoRAConfig {
    let o = try call.options(i, allowed: ["rank", "alpha", "dropout", "targets", "freeze_base"])
    var c = LoRAConfig()
    c.rank = try o.integer("rank", default: c.rank)
    c.alpha = Float(try o.number("alpha", default: Double(c.alpha)))
    c.dropout = Float(try o.number("dropout", default: 0))
    c.freezeBase = try o.boolean("freeze_base", default: true)
    if let targets = try o.strings("targets") { c.targets = targets }
    return c
}

/// `moon.vlm.new{vision = {...}}`: the encoder's options in one table. A size also given flat (image_size,
/// patch_size, vision_width, vision_layers, vision_heads) is an error, so the two spellings cannot disagree.
func readVisionTable(_ call: LuaCall, _ i: Int32, into v: inout VisionConfig, flat: LuaOptions) throws {
    let keys = ["kind", "image_size", "patch_size", "width", "layers", "heads", "mlp_ratio", "conv_channels", "registers"]
    let o = try call.options(i, "vision", allowed: keys)
    let flatNames = ["image_size": "image_size", "patch_size": "patch_size", "width": "vision_width", "layers": "vision_layers",
                     "heads": "vision_heads"]
    for (k, f) in flatNames.sorted(by: { $0.key < $1.key }) where o.has(k) && flat.has(f) {
        throw call.error("'\(f)' and 'vision.\(k)' both given; use one")
    }
    let kind = try o.choice("kind", VisionKind.allCases.map(\.rawValue), default: v.kind.rawValue)
    v.kind = VisionKind(rawValue: kind) ?? .vit
    v.imageSize = try o.integer("image_size", default: v.imageSize)
    v.patchSize = try o.integer("patch_size", default: v.patchSize)
    v.width = try o.integer("width", default: v.width)
    v.layers = try o.integer("layers", default: v.layers)
    v.heads = try o.integer("heads", default: v.heads)
    v.mlpRatio = try o.integer("mlp_ratio", default: v.mlpRatio)
    v.registers = try o.integer("registers", default: v.registers)
    if o.has("conv_channels") {
        call.state.rawField(i, "conv_channels")
        defer { moon_pop(call.L, 1) }
        v.convChannels = try call.integers(lua_gettop(call.L), "vision.conv_channels")
        if v.convChannels.count > 64 { throw call.error("option 'vision.conv_channels': at most 64 convolutions, got \(v.convChannels.count)") }
    }
    do { try v.validate() } catch let ModelError.invalidConfig(field, reason) {
        throw call.error("option '\(field)': \(reason)")
    }
}

/// Reads a batch: a list of observations {prompt=, image=} or {prompts=, images=}.
private func batchArgument(_ call: LuaCall, _ i: Int32) throws -> (Tensor?, [String]) {
    _ = try call.table(i, "batch")
    call.state.rawField(i, "prompts")
    let hasPrompts = lua_type(call.L, -1) == LUA_TTABLE
    if hasPrompts {
        let prompts = try call.strings(lua_gettop(call.L), "batch.prompts")
        moon_pop(call.L, 1)
        call.state.rawField(i, "images")
        defer { moon_pop(call.L, 1) }
        if lua_type(call.L, -1) == LUA_TNIL { return (nil, prompts) }
        guard let images = call.state.object(at: -1, as: Tensor.self) else {
            throw call.argumentError(i, "batch", expected: "batch.images to be a tensor [B, 3, H, W]", got: call.typeName(-1))
        }
        return (images, prompts)
    }
    moon_pop(call.L, 1)
    call.state.rawField(i, "prompt")
    let single = lua_type(call.L, -1) == LUA_TSTRING
    moon_pop(call.L, 1)
    if single {  // one observation {prompt=, image=}
        lua_createtable(call.L, 1, 0)
        lua_pushvalue(call.L, i)
        lua_rawseti(call.L, -2, 1)
        moon_replace(call.L, i)
    }
    let n = Int(lua_rawlen(call.L, i))
    guard n > 0 else { throw call.argumentError(i, "batch", expected: "a non-empty list of observations or {prompts=, images=}", got: "an empty table") }
    var prompts: [String] = []
    var images: [Tensor] = []
    for k in 1...n {
        lua_rawgeti(call.L, i, lua_Integer(k))
        defer { moon_pop(call.L, 1) }
        guard lua_type(call.L, -1) == LUA_TTABLE else {
            throw call.argumentError(i, "batch", expected: "observations (tables)", got: "\(call.typeName(-1)) at index \(k)")
        }
        call.state.rawField(-1, "prompt")
        guard let prompt = call.state.string(at: -1), lua_type(call.L, -1) == LUA_TSTRING else {
            moon_pop(call.L, 1)
            throw call.argumentError(i, "batch", expected: "a string 'prompt' in every observation", got: "none at index \(k)")
        }
        moon_pop(call.L, 1)
        prompts.append(prompt)
        call.state.rawField(-1, "image")
        if let img = call.state.object(at: -1, as: Tensor.self) { images.append(img) }
        moon_pop(call.L, 1)
    }
    guard images.isEmpty || images.count == n else {
        throw call.argumentError(i, "batch", expected: "an image in every observation or in none", got: "\(images.count) of \(n)")
    }
    return (images.isEmpty ? nil : try Tensor.stack(images), prompts)
}

/// Responses as token id lists (Lua lists of integers) or strings (encoded as bytes).
private func responsesArgument(_ call: LuaCall, _ i: Int32, policy: VLMPolicy) throws -> [[Int]] {
    _ = try call.table(i, "responses")
    let n = Int(lua_rawlen(call.L, i))
    var out: [[Int]] = []
    let vocab = policy.config.decoder.vocabSize
    for k in 0..<n {
        lua_rawgeti(call.L, i, lua_Integer(k + 1))
        defer { moon_pop(call.L, 1) }
        if lua_type(call.L, -1) == LUA_TSTRING {
            out.append(policy.encodeResponse(call.state.string(at: -1) ?? ""))
        } else {
            let ids = try call.integers(lua_gettop(call.L), "responses[\(k + 1)]")
            guard ids.allSatisfy({ $0 >= 0 && $0 < vocab }) else {
                throw call.argumentError(i, "responses", expected: "token ids in 0..<\(vocab)", got: "an out-of-range id at index \(k + 1)")
            }
            out.append(ids)
        }
    }
    return out
}

/// A Lua table name -> tensor.
func namedTensors(_ call: LuaCall, _ i: Int32, _ name: String) throws -> [(String, Tensor)] {
    _ = try call.table(i, name)
    var out: [(String, Tensor)] = []
    let t = lua_absindex(call.L, i)
    lua_pushnil(call.L)
    while moon_next(call.L, t) != 0 {
        defer { moon_pop(call.L, 1) }
        guard lua_type(call.L, -2) == LUA_TSTRING, let k = call.state.string(at: -2),
              let v = call.state.object(at: -1, as: Tensor.self) else {
            throw call.argumentError(i, name, expected: "table of name -> moon.Tensor", got: "a \(call.state.typeName(at: -2)) -> \(call.typeName(-1)) entry")
        }
        out.append((k, v))
    }
    return out
}

/// Pushes a table name -> tensor.
func pushNamedTensors(_ call: LuaCall, _ tensors: [String: Tensor]) {
    lua_createtable(call.L, 0, Int32(tensors.count))
    for (k, v) in tensors { call.push(tensor: v); call.state.setRawField(-2, k) }
}

/// Pushes a list of lists of numbers.
func pushNested(_ call: LuaCall, _ rows: [[Double]]) {
    lua_createtable(call.L, Int32(rows.count), 0)
    for (k, r) in rows.enumerated() { call.push(r); lua_rawseti(call.L, -2, lua_Integer(k + 1)) }
}

/// The `generator` option of generation: one generator, or a list of one per row (each row samples from its own).
func rowGeneratorOption(_ o: LuaOptions, _ call: LuaCall, rows: Int) throws -> Generator {
    guard o.has("generator") else { return .default }
    call.state.rawField(o.index, "generator")
    defer { moon_pop(call.L, 1) }
    let top = lua_gettop(call.L)
    if lua_type(call.L, top) != LUA_TTABLE { return try generatorOption(o, call) }
    var list: [Generator] = []
    for k in 0..<Int(lua_rawlen(call.L, top)) {
        lua_rawgeti(call.L, top, lua_Integer(k + 1))
        defer { moon_pop(call.L, 1) }
        guard let g = call.state.object(at: -1, as: Generator.self) else {
            throw call.error("option 'generator': entry \(k + 1) is a \(call.typeName(-1)), expected moon.Generator")
        }
        list.append(g)
    }
    guard list.count == rows else {
        throw call.error("option 'generator': expected one generator per row (\(rows)), got \(list.count)")
    }
    let g = Generator(seed: 0)
    g.rowStreams = list
    return g
}
