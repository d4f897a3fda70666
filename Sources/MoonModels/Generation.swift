import Foundation
import MoonTensor
import CDecodeKernels

/// Where padding goes when prompts of different lengths are batched. Results of a row do not depend on it.
public enum Padding: String, Sendable { case left, right }

/// Options of `generate`.
public struct GenerateOptions: Sendable {
    /// Maximum number of new tokens per row.
    public var maxNewTokens: Int = 64
    /// Sampling temperature; 0 means greedy.
    public var temperature: Float = 1
    /// Greedy decoding (argmax) regardless of temperature.
    public var greedy: Bool = false
    /// Keep only the k most likely tokens (0: off).
    public var topK: Int = 0
    /// Nucleus sampling: keep the smallest set of tokens whose probability reaches topP (1: off).
    public var topP: Float = 1
    /// transformers-style repetition penalty on tokens already in the row (prompt and generated); 1: off.
    public var repetitionPenalty: Float = 1
    /// Stop a row when its generated text ends with any of these strings (the stop string is kept).
    public var stop: [String] = []
    /// Stop a row at the end-of-sequence token (kept as the last token).
    public var stopAtEos: Bool = true
    /// End-of-sequence id (nil: the decoder config's `eosTokenId`).
    public var eosId: Int? = nil
    /// Padding side of the batched prompts.
    public var padding: Padding = .left
    /// The returned log-probs and entropies are those of softmax(logits / logprobTemperature) (no top-k/top-p
    /// filtering). With the default 1 they are the policy's own, which is what `score` computes.
    public var logprobTemperature: Float = 1
    /// Weight format of the decode loop: `.f32` (log-probs equal `score`'s up to rounding) or `.bf16` (about twice
    /// the tokens/s where decoding is memory-bound; log-probs then differ from `score`'s by the weight rounding).
    public var weights: DecodeWeights = .f32
    /// Prefill the longest token prefix common to all prompts (the chat template's system part) once at batch 1 and
    /// share its keys/values across rows. Same results up to float rounding.
    public var sharePrefix: Bool = true

    public init() {}

    public func validate() throws {
        func bad(_ f: String, _ r: String) -> ModelError { .invalidConfig(field: f, reason: r) }
        if maxNewTokens < 0 { throw bad("max_new_tokens", "must be non-negative, got \(maxNewTokens)") }
        if !(temperature >= 0) || !temperature.isFinite { throw bad("temperature", "must be a finite number >= 0, got \(temperature)") }
        if topK < 0 { throw bad("top_k", "must be non-negative, got \(topK)") }
        if !(topP > 0 && topP <= 1) { throw bad("top_p", "must be in (0, 1], got \(topP)") }
        if !(repetitionPenalty > 0) || !repetitionPenalty.isFinite { throw bad("repetition_penalty", "must be positive, got \(repetitionPenalty)") }
        if !(logprobTemperature > 0) || !logprobTemperature.isFinite { throw bad("logprob_temperature", "must be positive, got \(logprobTemperature)") }
        if stop.contains(where: { $0.isEmpty }) { throw bad("stop", "stop strings must not be empty") }
    }
}

/// Output of `generate` (one entry per prompt, in order).
public struct GenerateResult: Sendable {
    /// Generated token ids (the eos token included when the row stopped on it; no padding).
    public var tokens: [[Int]]
    /// The generated text (special tokens dropped).
    public var texts: [String]
    /// log p(token) of each generated token (see `GenerateOptions.logprobTemperature`).
    public var logProbs: [[Float]]
    /// Entropy (nats) of the distribution each token was drawn from (same distribution as `logProbs`).
    public var entropies: [[Float]]
    /// Why each row ended: "eos", "stop" or "length".
    public var finishReasons: [String]
    /// Value estimates at the last prompt token (policies only; empty for a bare decoder).
    public var values: [Float]
    /// The prompt token ids of each row (as fed after any visual tokens).
    public var promptTokens: [[Int]]
    /// Number of generated tokens in all rows.
    public var generatedTokenCount: Int { tokens.reduce(0) { $0 + $1.count } }
}

enum GenerationCore {
    /// Runs batched generation over `packed` weights. `prefix`: optional `[B, P, hidden]` embeddings placed before
    /// each prompt (visual tokens). `valueHead`: weights and bias of a linear value head read at the last prompt token.
    /// `prefixAt`: per row, the prompt index the prefix goes before (nil: all 0, before the prompt). `tokenBytes`:
    /// the text bytes of a token (stop strings; default: ids below 256 are bytes).
    static func run(packed: PackedDecoder, prefix: Tensor?, prefixAt: [Int]? = nil, prompts: [[Int]], options o: GenerateOptions,
                    generator: Generator, valueHead: ([Float], Float)? = nil,
                    tokenBytes: ((Int) -> [UInt8])? = nil) throws -> GenerateResult {
        // The prompt's prefill is large GEMMs and uses every configured BLAS thread; the decoding loop (see
        // runSingleThreaded) is a long chain of small GEMMs, where single-threaded BLAS is faster than OpenBLAS's pool,
        // whose idle workers spin between calls and steal the core the loop needs (measured on 2 shared cores).
        try runSingleThreaded(packed: packed.with(o.weights), prefix: prefix, prefixAt: prefixAt, prompts: prompts, options: o, generator: generator,
                              valueHead: valueHead, tokenBytes: tokenBytes ?? { $0 >= 0 && $0 < 256 ? [UInt8($0)] : [] })
    }

    private static func runSingleThreaded(packed: PackedDecoder, prefix: Tensor?, prefixAt: [Int]?, prompts: [[Int]], options o: GenerateOptions,
                                          generator: Generator, valueHead: ([Float], Float)?,
                                          tokenBytes: (Int) -> [UInt8]) throws -> GenerateResult {
        try o.validate()
        let c = packed.config
        let bsz = prompts.count
        guard bsz > 0 else { throw ModelError.invalidArgument("generate: expected at least one prompt") }
        let p = prefix?.shape[1] ?? 0
        if let pre = prefix, pre.ndim != 3 || pre.shape[0] != bsz || pre.shape[2] != c.hiddenSize {
            throw ModelError.invalidArgument("generate: prefix embeddings must be [\(bsz), P, \(c.hiddenSize)], got \(shapeString(pre.shape))")
        }
        for (i, pr) in prompts.enumerated() {
            if pr.isEmpty && p == 0 { throw ModelError.invalidArgument("generate: prompt \(i + 1) is empty") }
            if let bad = pr.first(where: { $0 < 0 || $0 >= c.vocabSize }) {
                throw ModelError.invalidArgument("generate: prompt \(i + 1) has token id \(bad) outside the vocabulary (\(c.vocabSize))")
            }
        }
        if let at = prefixAt, at.count != bsz || zip(at, prompts).contains(where: { $0 < 0 || $0 > $1.count }) {
            throw ModelError.invalidArgument("generate: prefix positions must lie within their prompts")
        }
        let eos = o.eosId ?? c.eosTokenId
        // The token prefix common to every row, prefilled once and shared. It stops before any row's last prompt
        // token (whose hidden state gives the first logits) and before any row's visual tokens.
        var shared = 0
        if o.sharePrefix && bsz > 1 {
            var limit = prompts.map { $0.count - 1 }.min()!
            if prefix != nil && p > 0 { limit = min(limit, prefixAt?.min() ?? 0) }
            let first = prompts[0]
            while shared < limit && prompts.allSatisfy({ $0[shared] == first[shared] }) { shared += 1 }
        }
        let rest = shared > 0 ? prompts.map { Array($0[shared...]) } : prompts
        let restAt = prefixAt.map { $0.map { $0 - shared } }
        let lp = rest.map(\.count).max()!
        let t0 = p + lp
        let d = c.hiddenSize
        let session = try InferenceSession(packed: packed, batch: bsz, capacity: shared + t0 + max(o.maxNewTokens, 1))
        if shared > 0 { try session.appendShared(ids: Array(prompts[0][0..<shared])) }
        // Prefill embeddings and validity.
        let emb = packed.embed.mPtr
        var valid = [[Bool]](repeating: [Bool](repeating: false, count: t0), count: bsz)
        var lastIndex = [Int](repeating: 0, count: bsz)
        let x = Tensor.make([bsz, t0, d]) { xp in
            for b in 0..<bsz {
                let len = rest[b].count
                let start = o.padding == .left ? lp - len : 0
                let rowp = xp + b * t0 * d
                let k = prefix == nil ? 0 : restAt?[b] ?? 0
                if let pre = prefix {
                    let src = pre.contiguous().mPtr + b * p * d
                    (rowp + (start + k) * d).update(from: src, count: p * d)
                }
                for (j, id) in rest[b].enumerated() {
                    (rowp + (start + j + (j < k ? 0 : p)) * d).update(from: emb + id * d, count: d)
                }
                for j in start..<(start + p + len) { valid[b][j] = true }
                lastIndex[b] = start + p + len - 1
            }
        }
        let hidden = try session.append(embeddings: x, valid: valid)
        var values: [Float] = []
        if let (vw, vb) = valueHead {
            let hp = hidden.mPtr
            for b in 0..<bsz {
                let r = hp + (b * t0 + lastIndex[b]) * d
                var acc = vb
                for k in 0..<d { acc += r[k] * vw[k] }
                values.append(acc)
            }
        }
        let firstLogits = try session.logits(hidden: hidden, at: (0..<bsz).map { ($0, lastIndex[$0]) })
        // each step's logits live in the session's reused buffer (no per-step allocation)
        var lg = firstLogits.mPtr
        var tokens = [[Int]](repeating: [], count: bsz)
        var lps = [[Float]](repeating: [], count: bsz), ents = [[Float]](repeating: [], count: bsz)
        var reasons = [String](repeating: "length", count: bsz)
        var done = [Bool](repeating: o.maxNewTokens == 0, count: bsz)
        var bytes = [[UInt8]](repeating: [], count: bsz)
        let stops = o.stop.map { Array($0.utf8) }
        let sampler = Sampler(vocab: c.vocabSize, options: o)
        var seen: [Set<Int>] = o.repetitionPenalty != 1 ? prompts.map { Set($0) } : []
        // Without a repetition penalty or top-k/top-p filtering, the per-row work over the vocabulary (log-sum-exp,
        // entropy, the sampling weights) runs vectorised and split over the session's two threads; only the draws
        // (in row order, from the generator's streams) stay serial.
        let rowsFast = seen.isEmpty && o.topK == 0 && o.topP >= 1
        let prepared = UnsafeMutableBufferPointer<Sampler.Prepared>.allocate(capacity: bsz)
        let weights = rowsFast && !sampler.greedy ? UnsafeMutablePointer<Float>.allocate(capacity: bsz * c.vocabSize) : nil
        defer { prepared.deallocate(); weights?.deallocate() }
        try withBLASThreads(1) {
        for step in 0..<o.maxNewTokens {
            try Interrupt.check()  // Ctrl-C stops generation between tokens
            var next = [Int](repeating: c.padTokenId < c.vocabSize && c.padTokenId >= 0 ? c.padTokenId : 0, count: bsz)
            var feed = [Bool](repeating: false, count: bsz)
            if rowsFast {
                let live = done.map { !$0 }, lgRows = lg, vocab = c.vocabSize
                session.parallelRows { range in
                    for b in range where live[b] {
                        prepared[b] = sampler.prepare(lgRows + b * vocab, weights: weights.map { $0 + b * vocab })
                    }
                }
            }
            for b in 0..<bsz where !done[b] {
                let (tok, lpv, ent) = rowsFast
                    ? sampler.draw(prepared[b], lg + b * c.vocabSize, weights: weights.map { $0 + b * c.vocabSize }, generator: generator.stream(forRow: b))
                    : sampler.pick(lg + b * c.vocabSize, seen: seen.isEmpty ? nil : seen[b], generator: generator.stream(forRow: b))
                if !lpv.isFinite && lpv.isNaN {
                    throw ModelError.invalidArgument("generate: the model produced non-finite logits (row \(b + 1), step \(step + 1)); the weights may have diverged")
                }
                tokens[b].append(tok); lps[b].append(lpv); ents[b].append(ent)
                if !seen.isEmpty { seen[b].insert(tok) }
                let tb = stops.isEmpty ? [] : tokenBytes(tok)
                bytes[b] += tb
                if tok == eos && o.stopAtEos { done[b] = true; reasons[b] = "eos"; continue }
                if !tb.isEmpty, stops.contains(where: { s in bytes[b].count >= s.count && bytes[b].suffix(s.count).elementsEqual(s) }) {
                    done[b] = true; reasons[b] = "stop"; continue
                }
                next[b] = tok; feed[b] = true
            }
            if step == o.maxNewTokens - 1 || !done.contains(false) { break }
            lg = try session.step(ids: next, valid: feed)
        }
        }
        withExtendedLifetime(firstLogits) {}
        let tk = ByteTokenizer()
        return GenerateResult(tokens: tokens, texts: tokens.map { tk.decode($0) }, logProbs: lps, entropies: ents,
                              finishReasons: reasons, values: values, promptTokens: prompts)
    }
}

/// Picks the next token of one row and reports its log-prob and the entropy under the log-prob distribution.
final class Sampler {
    let vocab: Int
    let o: GenerateOptions
    let greedy: Bool
    private var z: [Float], order: [Int], probs: [Float]
    init(vocab: Int, options: GenerateOptions) {
        self.vocab = vocab; o = options
        greedy = options.greedy || options.temperature == 0
        z = [Float](repeating: 0, count: vocab); order = Array(0..<vocab); probs = [Float](repeating: 0, count: vocab)
    }

    /// What `prepare` computes for one row: the log-sum-exp and entropy of the log-prob distribution, the greedy
    /// token (greedy decoding) or the total of the sampling weights.
    struct Prepared { var lse: Float = 0, ent: Float = 0, tok = 0, total: Float = 0 }

    /// The work of `pick` over the whole vocabulary for one row without repetition penalty or filtering, vectorised
    /// and safe to run concurrently for different rows: sampling weights exp(z - max z), z = logits / temperature,
    /// go to `weights` (sampling only).
    func prepare(_ lg: UnsafePointer<Float>, weights: UnsafeMutablePointer<Float>?) -> Prepared {
        var r = Prepared()
        if o.logprobTemperature == 1 {
            // the very kernel the fused training pass uses for its log-probs, so PPO's old log-probs taken from
            // generation (ppo.old_logprobs = "generation") agree with policy:score's to the logits' rounding
            moon_fk_log_softmax_stats(lg, Int32(vocab), &r.lse, &r.ent)
        } else {
            var m: Float = 0, s: Float = 0, w: Float = 0
            moon_dk_row_stats(lg, Int32(vocab), 1 / o.logprobTemperature, &m, &s, &w)
            r.lse = m + Foundation.logf(s); r.ent = Foundation.logf(s) - w / s
        }
        if greedy {
            var best = -Float.infinity
            for i in 0..<vocab where lg[i] > best { best = lg[i]; r.tok = i }
        } else if let weights {
            r.total = moon_dk_row_exp(lg, Int32(vocab), 1 / o.temperature, weights)
        }
        return r
    }

    /// The serial end of a prepared pick: the draw (sampling) and the token's log-prob.
    func draw(_ p: Prepared, _ lg: UnsafePointer<Float>, weights: UnsafeMutablePointer<Float>?, generator: Generator) -> (Int, Float, Float) {
        var tok = p.tok
        if !greedy, let weights {
            let u = generator.nextFloat() * p.total
            var acc: Float = 0
            tok = vocab - 1
            for r in 0..<vocab {
                acc += weights[r]
                if u < acc { tok = r; break }
            }
        }
        return (tok, lg[tok] / o.logprobTemperature - p.lse, p.ent)
    }

    func pick(_ lg: UnsafeMutablePointer<Float>, seen: Set<Int>?, generator: Generator) -> (Int, Float, Float) {
        let v = vocab
        // Log-prob distribution: softmax(logits / logprobTemperature).
        let lt = o.logprobTemperature
        var m = -Float.infinity
        for i in 0..<v where lg[i] / lt > m { m = lg[i] / lt }
        // One exp pass: s = sum e_i, w = sum e_i * (x_i - m); entropy = log s - w / s.
        var s: Float = 0, w: Float = 0
        for i in 0..<v { let x = lg[i] / lt - m; let e = fexp(x); s += e; w += e * x }
        let lse = m + Foundation.logf(s)
        let ent = Foundation.logf(s) - w / s
        var tok = 0
        if greedy && seen == nil {
            var best = -Float.infinity
            for i in 0..<v where lg[i] > best { best = lg[i]; tok = i }
        } else {
            for i in 0..<v { z[i] = lg[i] }
            if let seen, o.repetitionPenalty != 1 {
                for i in seen where i >= 0 && i < v { z[i] = z[i] > 0 ? z[i] / o.repetitionPenalty : z[i] * o.repetitionPenalty }
            }
            if greedy {
                var best = -Float.infinity
                for i in 0..<v where z[i] > best { best = z[i]; tok = i }
            } else {
                for i in 0..<v { z[i] /= o.temperature }
                let filter = o.topK > 0 || o.topP < 1
                if filter {
                    for i in 0..<v { order[i] = i }
                    let zz = z
                    order.sort { zz[$0] > zz[$1] || (zz[$0] == zz[$1] && $0 < $1) }
                }
                var keep = filter ? (o.topK > 0 ? min(o.topK, v) : v) : v
                var zm = -Float.infinity
                if filter { zm = z[order[0]] } else { for i in 0..<v where z[i] > zm { zm = z[i] } }
                var total: Float = 0
                if filter {
                    for r in 0..<keep { let e = fexp(z[order[r]] - zm); probs[r] = e; total += e }
                } else {
                    for r in 0..<keep { let e = fexp(z[r] - zm); probs[r] = e; total += e }
                }
                if o.topP < 1 {
                    var cum: Float = 0
                    for r in 0..<keep {
                        cum += probs[r] / total
                        if cum >= o.topP { keep = r + 1; break }
                    }
                    total = probs[0..<keep].reduce(0, +)
                }
                let u = generator.nextFloat() * total
                var acc: Float = 0
                tok = filter ? order[keep - 1] : keep - 1
                for r in 0..<keep {
                    acc += probs[r]
                    if u < acc { tok = filter ? order[r] : r; break }
                }
            }
        }
        return (tok, lg[tok] / lt - lse, ent)
    }
}

extension LlamaDecoder {
    /// Batched generation from token-id prompts (no autograd, KV cache). See `GenerateOptions`.
    public func generate(prompts: [[Int]], options: GenerateOptions = GenerateOptions(),
                         generator: Generator = .default) throws -> GenerateResult {
        try Tensor.noGrad {
            try GenerationCore.run(packed: PackedDecoder(self), prefix: nil, prompts: prompts, options: options, generator: generator)
        }
    }
}
