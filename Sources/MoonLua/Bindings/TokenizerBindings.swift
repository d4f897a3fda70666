import CLua
import CLuaShim
import Foundation
import MoonModels

/// A tokenizer as a Lua object: any `TextTokenizer` (the byte tokenizer, a BPE tokenizer, a language model's).
final class LuaTokenizer {
    let base: any TextTokenizer
    init(_ base: any TextTokenizer) { self.base = base }

    var kind: String {
        if let b = base as? BPETokenizer { return "byte-level BPE, \(b.preTokenizer.rawValue) split" }
        return "bytes"
    }
}

/// `moon.tokenizer.load`, `moon.tokenizer.bytes`, `moon.tokenizer.from_json` and the tokenizer object's methods.
extension LuaState {
    func installTokenizerBindings() {
        defineType(LuaTokenizer.self, name: "moon.Tokenizer", methods: tokenizerMethods(), metamethods: [
            "__tostring": { call in
                let t = try call.object(1, as: LuaTokenizer.self)
                return call.push("moon.Tokenizer(\(t.kind), \(t.base.vocabSize) ids)")
            },
        ])
        register("moon.tokenizer.load", doc: """
            moon.tokenizer.load(path) -> tokenizer. path: a GGUF file, a Hugging Face tokenizer.json, or a directory holding one
            (its tokenizer_config.json gives the chat template and bos/eos/pad/unk). Byte-level BPE with the GPT-2,
            Llama-3, Qwen2 or SmolLM pre-tokenizer; encodes exactly as Hugging Face `tokenizers`.
            Methods: encode, decode, apply_chat_template, vocab_size, token_to_id, id_to_token, bos_id, eos_id,
            pad_id, unk_id, special_tokens, added_tokens, chat_template
            """) { call in
            call.push(object: LuaTokenizer(try BPETokenizer.load(path: try call.path(1, "path"))))
        }
        register("moon.tokenizer.from_json", doc: """
            moon.tokenizer.from_json(tokenizer_json [, tokenizer_config_json]) -> tokenizer, from the text of a
            tokenizer.json (and of a tokenizer_config.json)
            """) { call in
            let json = try call.string(1, "tokenizer_json")
            let config = try call.optionalString(2, "tokenizer_config_json")
            return call.push(object: LuaTokenizer(try BPETokenizer(tokenizerJSON: Data(json.utf8), config: config.map { Data($0.utf8) },
                                                                   source: "moon.tokenizer.from_json")))
        }
        register("moon.tokenizer.bytes", doc: """
            moon.tokenizer.bytes() -> the byte tokenizer of moonlab's tiny policies as a tokenizer object (ids 0-255 are
            bytes; <bos> 256, <eos> 257, <pad> 258, <image> 259)
            """) { call in
            call.push(object: LuaTokenizer(ByteTokenizer()))
        }
    }

    private func pushIds(_ call: LuaCall, _ ids: [Int]) -> Int32 {
        lua_createtable(call.L, Int32(clamping: ids.count), 0)
        for (k, id) in ids.enumerated() {
            lua_pushinteger(call.L, lua_Integer(id))
            lua_rawseti(call.L, -2, lua_Integer(k + 1))
        }
        return 1
    }

    private func optionalId(_ call: LuaCall, _ id: Int?) -> Int32 { id.map { call.push($0) } ?? call.pushNil() }

    /// Token ids from a Lua sequence of integers, each in 0..<vocab.
    private func ids(_ call: LuaCall, _ i: Int32, _ name: String, vocab: Int) throws -> [Int] {
        guard lua_type(call.L, i) == LUA_TTABLE else { throw call.argumentError(i, name, expected: "table of token ids") }
        let n = Int(lua_rawlen(call.L, i))
        var out: [Int] = []
        out.reserveCapacity(n)
        for k in 0..<n {
            lua_rawgeti(call.L, i, lua_Integer(k + 1))
            defer { moon_pop(call.L, 1) }
            var ok: Int32 = 0
            let v = lua_tointegerx(call.L, -1, &ok)
            guard lua_type(call.L, -1) == LUA_TNUMBER, ok != 0 else {
                throw call.argumentError(i, name, expected: "table of integer token ids", got: "\(call.state.typeName(at: -1)) at index \(k + 1)")
            }
            guard v >= 0 && v < vocab else {
                throw call.argumentError(i, name, expected: "token ids in 0..<\(vocab)", got: "\(v) at index \(k + 1)")
            }
            out.append(Int(v))
        }
        return out
    }

    /// A conversation from a Lua sequence of {role = string, content = string}.
    private func messages(_ call: LuaCall, _ i: Int32) throws -> [ChatMessage] {
        guard lua_type(call.L, i) == LUA_TTABLE else { throw call.argumentError(i, "messages", expected: "table of {role =, content =}") }
        let n = Int(lua_rawlen(call.L, i))
        var out: [ChatMessage] = []
        for k in 0..<n {
            lua_rawgeti(call.L, i, lua_Integer(k + 1))
            defer { moon_pop(call.L, 1) }
            guard lua_type(call.L, -1) == LUA_TTABLE else {
                throw call.argumentError(i, "messages", expected: "table of {role =, content =}", got: "\(call.state.typeName(at: -1)) at index \(k + 1)")
            }
            var fields: [String] = []
            for key in ["role", "content"] {
                call.state.rawField(-1, key)
                defer { moon_pop(call.L, 1) }
                guard lua_type(call.L, -1) == LUA_TSTRING, let s = call.state.string(at: -1) else {
                    throw call.argumentError(i, "messages", expected: "message \(k + 1) with a string '\(key)'", got: call.state.typeName(at: -1))
                }
                fields.append(s)
            }
            out.append(ChatMessage(role: fields[0], content: fields[1]))
        }
        return out
    }

    private func tokenizerMethods() -> [LuaMethod] {
        [
            LuaMethod("encode", """
                tok:encode(text [, opts]) -> token ids. opts: add_special_tokens (true: what the checkpoint adds around a
                sequence, e.g. BOS), parse_special (true: special-token spellings in text become their ids)
                """) { call in
                let t = try call.object(1, "self", as: LuaTokenizer.self)
                let text = try call.string(2, "text")
                let o = try call.options(3, allowed: ["add_special_tokens", "parse_special"])
                let ids = t.base.encode(text, addSpecialTokens: try o.boolean("add_special_tokens", default: true),
                                        parseSpecial: try o.boolean("parse_special", default: true))
                return self.pushIds(call, ids)
            },
            LuaMethod("decode", """
                tok:decode(ids [, opts]) -> text (invalid UTF-8 becomes U+FFFD). opts: skip_special (true).
                Ids outside 0..vocab_size-1 are an error.
                """) { call in
                let t = try call.object(1, "self", as: LuaTokenizer.self)
                let ids = try self.ids(call, 2, "ids", vocab: t.base.vocabSize)
                let o = try call.options(3, allowed: ["skip_special"])
                return call.push(t.base.decode(ids, skipSpecial: try o.boolean("skip_special", default: true)))
            },
            LuaMethod("apply_chat_template", """
                tok:apply_chat_template(messages [, opts]) -> text (or ids with tokenize = true). messages: list of
                {role =, content =}. The checkpoint's template must be ChatML or Llama 3 (recognised from its text);
                for any other format pass opts.template = function(messages, add_generation_prompt) -> text.
                opts: add_generation_prompt (false), template (function), tokenize (false)
                """) { call in
                let t = try call.object(1, "self", as: LuaTokenizer.self)
                let msgs = try self.messages(call, 2)
                let o = try call.options(3, allowed: ["add_generation_prompt", "template", "tokenize"])
                let gen = try o.boolean("add_generation_prompt", default: false)
                let tokenize = try o.boolean("tokenize", default: false)
                let text: String
                if let f = try o.function("template") {
                    let messagesRef = LuaRef(state: call.state, index: 2)
                    let r = try call.state.call(f, [.ref(messagesRef), .boolean(gen)], results: 1)
                    guard let s = r.first?.string else {
                        throw call.error("option 'template': the function must return a string, got \(r.first.map { "\($0)" } ?? "nothing")")
                    }
                    text = s
                } else {
                    text = try t.base.applyChatTemplate(msgs, addGenerationPrompt: gen)
                }
                return tokenize ? self.pushIds(call, t.base.encode(text, addSpecialTokens: false, parseSpecial: true)) : call.push(text)
            },
            LuaMethod("vocab_size", "tok:vocab_size() -> number of ids (added tokens included)") { call in
                call.push(try call.object(1, "self", as: LuaTokenizer.self).base.vocabSize)
            },
            LuaMethod("token_to_id", "tok:token_to_id(token) -> id or nil (the vocabulary's spelling, e.g. 'Ġthe' in a byte-level BPE)") { call in
                let t = try call.object(1, "self", as: LuaTokenizer.self)
                return self.optionalId(call, t.base.tokenId(try call.string(2, "token")))
            },
            LuaMethod("id_to_token", "tok:id_to_token(id) -> the vocabulary's spelling of id, or nil when out of range") { call in
                let t = try call.object(1, "self", as: LuaTokenizer.self)
                return t.base.token(try call.integer(2, "id")).map { call.push($0) } ?? call.pushNil()
            },
            LuaMethod("bos_id", "tok:bos_id() -> id of the beginning-of-sequence token, or nil") { call in
                self.optionalId(call, try call.object(1, "self", as: LuaTokenizer.self).base.bosTokenId)
            },
            LuaMethod("eos_id", "tok:eos_id() -> id of the end-of-sequence token, or nil") { call in
                self.optionalId(call, try call.object(1, "self", as: LuaTokenizer.self).base.eosTokenId)
            },
            LuaMethod("pad_id", "tok:pad_id() -> id of the padding token, or nil") { call in
                self.optionalId(call, try call.object(1, "self", as: LuaTokenizer.self).base.padTokenId)
            },
            LuaMethod("unk_id", "tok:unk_id() -> id of the unknown token, or nil") { call in
                self.optionalId(call, try call.object(1, "self", as: LuaTokenizer.self).base.unkTokenId)
            },
            LuaMethod("special_tokens", "tok:special_tokens() -> table spelling -> id of the special tokens") { call in
                let t = try call.object(1, "self", as: LuaTokenizer.self)
                let specials = t.base.specialTokens
                lua_createtable(call.L, 0, Int32(clamping: specials.count))
                for s in specials { lua_pushinteger(call.L, lua_Integer(s.id)); call.state.setRawField(-2, s.content) }
                return 1
            },
            LuaMethod("added_tokens", "tok:added_tokens() -> list of {content, id, special, lstrip, rstrip, single_word, normalized}") { call in
                let t = try call.object(1, "self", as: LuaTokenizer.self)
                let added = t.base.addedTokens
                lua_createtable(call.L, Int32(clamping: added.count), 0)
                for (k, a) in added.enumerated() {
                    call.push(record: [("content", .string(a.content)), ("id", .integer(a.id)), ("special", .boolean(a.special)),
                                       ("lstrip", .boolean(a.lstrip)), ("rstrip", .boolean(a.rstrip)),
                                       ("single_word", .boolean(a.singleWord)), ("normalized", .boolean(a.normalized))])
                    lua_rawseti(call.L, -2, lua_Integer(k + 1))
                }
                return 1
            },
            LuaMethod("chat_template", "tok:chat_template() -> the checkpoint's chat template text (Jinja), or nil") { call in
                let t = try call.object(1, "self", as: LuaTokenizer.self)
                return t.base.chatTemplate.map { call.push($0) } ?? call.pushNil()
            },
        ]
    }
}
