import Foundation
import MoonCheckpoint
import MoonTensor

/// llama.cpp's GGUF naming of a Llama/Qwen2 decoder, and conversion between GGUF files and `LlamaDecoder`.
///
/// llama.cpp's converter permutes the rows of `q_proj`/`k_proj` of Llama checkpoints (per head, from the
/// `rotate_half` layout to interleaved pairs, so its rope can rotate adjacent elements); reading undoes it and
/// writing redoes it. Qwen2 files are not permuted (llama.cpp uses NeoX rope there).
public enum GGUFLlama {
    /// Architectures moonlab reads (`general.architecture`).
    public static let architectures = ["llama", "qwen2"]

    /// The transformers name of a GGUF tensor name (nil: not a decoder tensor).
    public static func hfName(_ g: String) -> String? {
        if let n = globalNames.first(where: { $0.gguf == g }) { return n.hf }
        let parts = g.split(separator: ".", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "blk", let i = Int(parts[1]), i >= 0, let rest = hfLayerName[parts[2]] else { return nil }
        return "model.layers.\(i).\(rest)"
    }

    /// The GGUF name of a transformers parameter name (nil: none).
    public static func ggufName(_ hf: String) -> String? {
        if let n = globalNames.first(where: { $0.hf == hf }) { return n.gguf }
        let parts = hf.split(separator: ".", maxSplits: 3).map(String.init)
        guard parts.count == 4, parts[0] == "model", parts[1] == "layers", let i = Int(parts[2]), let rest = ggufLayerName[parts[3]] else {
            return nil
        }
        return "blk.\(i).\(rest)"
    }

    /// llama.cpp ↔ transformers names, written once: the tensors outside the layers, then a layer's tensors (under
    /// `blk.N.` ↔ `model.layers.N.`).
    static let globalNames: [(gguf: String, hf: String)] = [
        ("token_embd.weight", "model.embed_tokens.weight"), ("output_norm.weight", "model.norm.weight"), ("output.weight", "lm_head.weight"),
    ]
    static let layerNames: [(gguf: String, hf: String)] = [
        ("attn_norm.weight", "input_layernorm.weight"), ("ffn_norm.weight", "post_attention_layernorm.weight"),
        ("attn_q.weight", "self_attn.q_proj.weight"), ("attn_k.weight", "self_attn.k_proj.weight"),
        ("attn_v.weight", "self_attn.v_proj.weight"), ("attn_output.weight", "self_attn.o_proj.weight"),
        ("attn_q.bias", "self_attn.q_proj.bias"), ("attn_k.bias", "self_attn.k_proj.bias"),
        ("attn_v.bias", "self_attn.v_proj.bias"), ("attn_output.bias", "self_attn.o_proj.bias"),
        ("ffn_gate.weight", "mlp.gate_proj.weight"), ("ffn_up.weight", "mlp.up_proj.weight"), ("ffn_down.weight", "mlp.down_proj.weight"),
    ]
    static let hfLayerName = Dictionary(uniqueKeysWithValues: layerNames.map { ($0.gguf, $0.hf) })
    static let ggufLayerName = Dictionary(uniqueKeysWithValues: layerNames.map { ($0.hf, $0.gguf) })

    /// The decoder configuration of a GGUF file's metadata (`{arch}.*` keys), checked.
    public static func config(_ f: GGUFFile, tokenizer: TokenizerMetadata?) throws -> LlamaConfig {
        func fail(_ why: String) -> GGUFError { GGUFError(path: f.path, why) }
        guard let arch = f.string("general.architecture") else { throw fail("general.architecture is missing or not a string") }
        guard architectures.contains(arch) else {
            throw fail("unsupported architecture \"\(arch)\" (moonlab reads \(architectures.joined(separator: ", ")))")
        }
        func req(_ k: String) throws -> Int {
            guard let v = f.int("\(arch).\(k)") else { throw fail("\(arch).\(k) is missing or not an integer") }
            guard v > 0 && v <= 1 << 24 else { throw fail("\(arch).\(k) = \(v) is out of range") }
            return v
        }
        var c = LlamaConfig()
        c.modelType = arch
        c.attentionBias = f.contains("blk.0.attn_q.bias")
        c.hiddenSize = try req("embedding_length")
        c.numHiddenLayers = try req("block_count")
        c.intermediateSize = try req("feed_forward_length")
        c.numAttentionHeads = try req("attention.head_count")
        c.numKeyValueHeads = f.metadata["\(arch).attention.head_count_kv"] == nil ? c.numAttentionHeads : try req("attention.head_count_kv")
        c.maxPositionEmbeddings = f.metadata["\(arch).context_length"] == nil ? 2048 : try req("context_length")
        if let eps = f.double("\(arch).attention.layer_norm_rms_epsilon") { c.rmsNormEps = Float(eps) }
        else { throw fail("\(arch).attention.layer_norm_rms_epsilon is missing or not a number") }
        c.ropeTheta = Float(f.double("\(arch).rope.freq_base") ?? 10000)
        if let kl = f.int("\(arch).attention.key_length"), kl != c.hiddenSize / max(c.numAttentionHeads, 1) { c.headDim = kl }
        if let rd = f.int("\(arch).rope.dimension_count"), rd != c.resolvedHeadDim {
            throw fail("\(arch).rope.dimension_count = \(rd) differs from the head size \(c.resolvedHeadDim) (partial rotary embeddings are not supported)")
        }
        if let st = f.string("\(arch).rope.scaling.type"), st != "none" {
            throw fail("\(arch).rope.scaling.type = \(st): rope scaling is not supported")
        }
        if f.contains("rope_freqs.weight") { throw fail("rope_freqs.weight: rope frequency scaling (Llama 3.1 style) is not supported") }
        guard let emb = try? f.info("token_embd.weight"), emb.dims.count == 2 else { throw fail("token_embd.weight is missing or not 2-D") }
        c.vocabSize = emb.dims[1]
        if let v = f.int("\(arch).vocab_size"), v != c.vocabSize {
            throw fail("\(arch).vocab_size = \(v) but token_embd.weight has \(c.vocabSize) rows")
        }
        c.tieWordEmbeddings = !f.contains("output.weight")
        if let t = tokenizer {
            if let b = t.bosId { c.bosTokenId = b }
            if let e = t.eosId { c.eosTokenId = e }
            c.padTokenId = t.paddingId ?? t.eosId ?? 0
        } else {
            c.bosTokenId = -1; c.eosTokenId = -1; c.padTokenId = 0
        }
        do { try c.validate() } catch { throw fail("bad model sizes in the metadata: \(error)") }
        return c
    }

    /// Builds a decoder from a GGUF file: config from the metadata, weights dequantised to float32 (q/k rows
    /// un-permuted for Llama). Every decoder parameter must be present with the right shape; other tensors throw.
    public static func loadDecoder(_ f: GGUFFile, tokenizer: TokenizerMetadata?) throws -> LlamaDecoder {
        let c = try config(f, tokenizer: tokenizer)
        let dec = try ParameterInit.$zeroed.withValue(true) { try LlamaDecoder(c) }
        let params = Dictionary(uniqueKeysWithValues: dec.namedParameters())
        var seen = Set<String>()
        var plan: [(GGUFTensorInfo, Tensor, String)] = []
        for t in f.tensors {
            guard let hf = hfName(t.name), let p = params[hf] else {
                throw GGUFError(path: f.path, "unexpected tensor \"\(t.name)\" for a \(c.modelType) decoder with \(c.numHiddenLayers) layers")
            }
            guard p.shape == t.shape else {
                throw GGUFError(path: f.path, "tensor \"\(t.name)\" has shape \(t.shape), the config needs \(p.shape)")
            }
            seen.insert(hf)
            plan.append((t, p, hf))
        }
        let missing = params.keys.filter { !seen.contains($0) }.sorted()
        if !missing.isEmpty {
            throw GGUFError(path: f.path, "missing tensors: " + missing.map { ggufName($0) ?? $0 }.joined(separator: ", "))
        }
        let permute = c.modelType == "llama"
        let dh = c.resolvedHeadDim
        for (t, p, hf) in plan {
            try Tensor.noGrad {
                try p.withUnsafeMutableFloats { buf in
                    f.dequantize(t, into: buf.baseAddress!)
                    if permute && (hf.hasSuffix("q_proj.weight") || hf.hasSuffix("k_proj.weight")) {
                        let heads = hf.hasSuffix("q_proj.weight") ? c.numAttentionHeads : c.numKeyValueHeads
                        unpermuteRows(buf.baseAddress!, heads: heads, headDim: dh, cols: t.shape.count == 2 ? t.shape[1] : 1)
                    } else if permute && (hf.hasSuffix("q_proj.bias") || hf.hasSuffix("k_proj.bias")) {
                        let heads = hf.hasSuffix("q_proj.bias") ? c.numAttentionHeads : c.numKeyValueHeads
                        unpermuteRows(buf.baseAddress!, heads: heads, headDim: dh, cols: 1)
                    }
                }
            }
        }
        return dec
    }

    /// GGUF row order (per head: interleaved pairs (i, i + d/2)) → transformers order (two halves).
    /// GGUF row `h·d + 2i + j` holds transformers row `h·d + j·d/2 + i`.
    static func unpermuteRows(_ w: UnsafeMutablePointer<Float>, heads: Int, headDim d: Int, cols: Int) {
        reorderRows(w, heads: heads, headDim: d, cols: cols, toGGUF: false)
    }

    /// transformers row order → GGUF row order (the inverse of `unpermuteRows`).
    static func permuteRows(_ w: UnsafeMutablePointer<Float>, heads: Int, headDim d: Int, cols: Int) {
        reorderRows(w, heads: heads, headDim: d, cols: cols, toGGUF: true)
    }

    /// The one row shuffle both directions use: per head, GGUF row 2i + j ↔ transformers row j·d/2 + i.
    private static func reorderRows(_ w: UnsafeMutablePointer<Float>, heads: Int, headDim d: Int, cols: Int, toGGUF: Bool) {
        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: d * cols)
        defer { tmp.deallocate() }
        let half = d / 2
        for h in 0..<heads {
            let base = w + h * d * cols
            tmp.update(from: base, count: d * cols)
            for i in 0..<half {
                for j in 0..<2 {
                    let gguf = (2 * i + j) * cols, hf = (j * half + i) * cols
                    (base + (toGGUF ? gguf : hf)).update(from: tmp + (toGGUF ? hf : gguf), count: cols)
                }
            }
        }
    }
}

extension GGUFLlama {
    /// The metadata moonlab writes for the byte tokenizer (ids 0-255 bytes, then `<bos>`, `<eos>`, `<pad>`, `<image>`):
    /// a GPT-2 byte-level BPE vocabulary (bytes spelled through GPT-2's byte-to-unicode map) without merges, which
    /// llama.cpp and transformers tokenise into exactly the byte ids.
    public static func byteTokenizerMetadata() -> TokenizerMetadata {
        var tokens = (0..<256).map { String(Character(UnicodeScalar(gpt2ByteToUnicode[$0])!)) }
        tokens += ByteTokenizer.specialTokens.map(\.0)
        let types = [Int](repeating: 1, count: 256) + [Int](repeating: 3, count: ByteTokenizer.specialTokens.count)
        return TokenizerMetadata(model: "gpt2", pre: "default", tokens: tokens, merges: [], tokenTypes: types,
                                 bosId: ByteTokenizer.bos, eosId: ByteTokenizer.eos, unknownId: nil, paddingId: ByteTokenizer.pad,
                                 addBos: true, addEos: false)
    }

    /// GPT-2's `bytes_to_unicode`: printable bytes map to themselves, the rest to U+0100 onwards.
    static let gpt2ByteToUnicode: [UInt32] = {
        var printable = Array(33...126) + Array(161...172) + Array(174...255)
        var out = [UInt32](repeating: 0, count: 256)
        var n: UInt32 = 0
        for b in 0..<256 {
            if printable.contains(b) { out[b] = UInt32(b) } else { out[b] = 256 + n; n += 1 }
        }
        printable.removeAll()
        return out
    }()

    /// A GGUF writer holding `decoder` (LoRA folded in) under llama.cpp's names and metadata, with `tokenizer`.
    /// Matrices are stored as `type` (F32, F16, BF16 or Q8_0; rows not a multiple of 32 fall back to F16 for Q8_0);
    /// 1-D tensors (norms, biases) stay F32 as llama.cpp keeps them.
    public static func writer(decoder: LlamaDecoder, tokenizer: TokenizerMetadata, type: GGMLType, name: String = "moonlab") throws -> GGUFWriter {
        guard GGUFWriter.writableTypes.contains(type) else {
            throw ModelError.invalidArgument("save_gguf: cannot write type \(type.name) (f32, f16, bf16 and q8_0 are supported)")
        }
        let c = decoder.config
        guard tokenizer.tokens.count == c.vocabSize else {
            throw ModelError.invalidArgument("save_gguf: the tokenizer has \(tokenizer.tokens.count) tokens but the model's vocabulary is \(c.vocabSize)")
        }
        let arch = c.modelType
        var w = GGUFWriter()
        let fileType: UInt32 = type == .f32 ? 0 : type == .f16 ? 1 : type == .bf16 ? 32 : 7
        w.add("general.architecture", .string(arch))
        w.add("general.name", .string(name))
        w.add("general.file_type", .uint32(fileType))
        w.add("\(arch).context_length", .uint32(UInt32(c.maxPositionEmbeddings)))
        w.add("\(arch).embedding_length", .uint32(UInt32(c.hiddenSize)))
        w.add("\(arch).block_count", .uint32(UInt32(c.numHiddenLayers)))
        w.add("\(arch).feed_forward_length", .uint32(UInt32(c.intermediateSize)))
        w.add("\(arch).attention.head_count", .uint32(UInt32(c.numAttentionHeads)))
        w.add("\(arch).attention.head_count_kv", .uint32(UInt32(c.numKeyValueHeads)))
        w.add("\(arch).rope.freq_base", .float32(c.ropeTheta))
        w.add("\(arch).attention.layer_norm_rms_epsilon", .float32(c.rmsNormEps))
        w.add("\(arch).rope.dimension_count", .uint32(UInt32(c.resolvedHeadDim)))
        if c.headDim != nil {
            w.add("\(arch).attention.key_length", .uint32(UInt32(c.resolvedHeadDim)))
            w.add("\(arch).attention.value_length", .uint32(UInt32(c.resolvedHeadDim)))
        }
        w.add("\(arch).vocab_size", .uint32(UInt32(c.vocabSize)))
        for (k, v) in tokenizer.ggufEntries() { w.add(k, v) }
        let permute = arch == "llama"
        for (hf, t) in try decoder.exportParameters() {
            guard let g = ggufName(hf) else { continue }
            var vals = t.detach().toArray()
            if permute, hf.hasSuffix("q_proj.weight") || hf.hasSuffix("k_proj.weight") || hf.hasSuffix("q_proj.bias") || hf.hasSuffix("k_proj.bias") {
                let heads = hf.contains("q_proj") ? c.numAttentionHeads : c.numKeyValueHeads
                let cols = t.ndim == 2 ? t.shape[1] : 1
                vals.withUnsafeMutableBufferPointer { permuteRows($0.baseAddress!, heads: heads, headDim: c.resolvedHeadDim, cols: cols) }
            }
            var tt = t.ndim == 1 ? GGMLType.f32 : type
            if tt == .q8_0 && t.shape.last! % 32 != 0 { tt = .f16 }
            w.tensors.append(.init(name: g, shape: t.shape, type: tt, values: vals))
        }
        return w
    }

    /// Writes `decoder` as a GGUF file atomically (temp file, fsync, rename).
    public static func save(decoder: LlamaDecoder, tokenizer: TokenizerMetadata, type: GGMLType, to path: String, name: String = "moonlab") throws {
        let w = try writer(decoder: decoder, tokenizer: tokenizer, type: type, name: name)
        try AtomicFile.write(to: path) { f in try w.write(path: path) { try f.write($0) } }
    }
}
