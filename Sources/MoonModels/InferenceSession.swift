import Foundation
import MoonTensor
import Dispatch
import CBLAS

/// A growable scratch buffer of floats (reused across decoding steps).
final class FloatBuffer {
    private(set) var ptr: UnsafeMutablePointer<Float>
    private(set) var capacity: Int
    init(_ n: Int = 0) {
        capacity = max(n, 16)
        ptr = .allocate(capacity: capacity)
    }
    deinit { ptr.deallocate() }
    @inline(__always) func ensure(_ n: Int) -> UnsafeMutablePointer<Float> {
        if n > capacity {
            ptr.deallocate()
            capacity = max(n, capacity * 2)
            ptr = .allocate(capacity: capacity)
        }
        return ptr
    }
}

/// The decoder's weights as the fast path uses them: the effective (LoRA-folded) weights. Without adapters these
/// are views of the decoder's own parameters (no copies, so a loaded model is not held twice in memory); the q/k/v
/// and gate/up projections write into adjacent columns of one output buffer.
final class PackedDecoder {
    struct Layer {
        let attnNorm: Tensor, wq: Tensor, wk: Tensor, wv: Tensor, wo: Tensor, mlpNorm: Tensor, wg: Tensor, wu: Tensor, wd: Tensor
        /// Concatenated q/k/v biases `[(h + 2·kvh)·dh]` and the output bias, when the architecture has them.
        let bqkv: Tensor?, bo: Tensor?
    }
    let config: LlamaConfig
    let layers: [Layer]
    let finalNorm: Tensor
    let embed: Tensor
    let wout: Tensor

    init(_ d: LlamaDecoder) throws {
        config = d.config
        func w(_ l: Linear) throws -> Tensor { try l.effectiveWeight().contiguous() }
        layers = try Tensor.noGrad {
            try d.model.layers.items.map { l in
                let a = l.selfAttn
                var bqkv: Tensor? = nil
                if let bq = a.qProj.bias, let bk = a.kProj.bias, let bv = a.vProj.bias {
                    bqkv = try Tensor.cat([bq.detach(), bk.detach(), bv.detach()], dim: 0)
                }
                return Layer(attnNorm: l.inputLayernorm.weight.detach(), wq: try w(a.qProj), wk: try w(a.kProj), wv: try w(a.vProj),
                             wo: try w(a.oProj), mlpNorm: l.postAttentionLayernorm.weight.detach(),
                             wg: try w(l.mlp.gateProj), wu: try w(l.mlp.upProj), wd: try w(l.mlp.downProj),
                             bqkv: bqkv, bo: a.oProj.bias?.detach())
            }
        }
        finalNorm = d.model.norm.weight.detach()
        embed = d.model.embedTokens.weight.detach()
        wout = try (d.lmHead?.effectiveWeight() ?? d.model.embedTokens.weight.detach()).contiguous()
    }
}

/// Incremental, no-autograd decoding with a KV cache: feed a block of tokens (the prompt, "prefill"), then one
/// token per step. Every projection is one `cblas_sgemm` over the whole batch into reused buffers.
///
/// Each appended token is valid or padding. Padding tokens are never attended to and do not advance the row's
/// position, so where the padding sits (left, right, or in the middle of a finished row) never changes a row's
/// results. Positions count the valid tokens before each token, as in `LlamaDecoder.hiddenStates`.
public final class InferenceSession {
    public let batch: Int
    /// Maximum number of tokens (slots) the cache holds.
    public let capacity: Int
    /// Slots used so far.
    public private(set) var length = 0
    /// Position the next valid token of each row will get.
    public private(set) var nextPosition: [Int]

    let w: PackedDecoder
    let c: LlamaConfig
    let h: Int, kvh: Int, dh: Int, dim: Int, inter: Int, vocab: Int
    private var kCache: [UnsafeMutablePointer<Float>] = []
    private var vCache: [UnsafeMutablePointer<Float>] = []
    /// Additive key mask per row and slot: 0 for valid tokens, -inf for padding.
    private let maskAdd: UnsafeMutablePointer<Float>
    private let cosTab: UnsafeMutablePointer<Float>, sinTab: UnsafeMutablePointer<Float>
    private let maxPos: Int
    private let xb = FloatBuffer(), hb = FloatBuffer(), qkvb = FloatBuffer(), ab = FloatBuffer(), gub = FloatBuffer()
    private let actb = FloatBuffer(), scoreb = FloatBuffer()
    /// Two-way fork-join helper for the small decode-step GEMMs (nil with one thread).
    private let pool: SpinPool?

    /// A session for `batch` rows of up to `capacity` tokens over the decoder's weights. Without LoRA adapters the
    /// session reads the live parameters (do not update them while it is in use); with adapters it holds a snapshot
    /// of the folded weights.
    public convenience init(decoder: LlamaDecoder, batch: Int, capacity: Int) throws {
        try self.init(packed: PackedDecoder(decoder), batch: batch, capacity: capacity)
    }

    init(packed: PackedDecoder, batch: Int, capacity: Int) throws {
        guard batch > 0 else { throw ModelError.invalidArgument("inference: batch must be positive, got \(batch)") }
        guard capacity > 0 else { throw ModelError.invalidArgument("inference: capacity must be positive, got \(capacity)") }
        w = packed; c = packed.config
        self.batch = batch; self.capacity = capacity
        h = c.numAttentionHeads; kvh = c.numKeyValueHeads; dh = c.resolvedHeadDim; dim = c.hiddenSize
        inter = c.intermediateSize; vocab = c.vocabSize
        nextPosition = Array(repeating: 0, count: batch)
        maskAdd = .allocate(capacity: batch * capacity)
        maskAdd.initialize(repeating: -Float.infinity, count: batch * capacity)
        for _ in 0..<c.numHiddenLayers {
            kCache.append(.allocate(capacity: batch * kvh * capacity * dh))
            vCache.append(.allocate(capacity: batch * kvh * capacity * dh))
        }
        maxPos = capacity
        pool = numThreads() > 1 ? SpinPool() : nil
        cosTab = .allocate(capacity: capacity * dh); sinTab = .allocate(capacity: capacity * dh)
        let rope = RoPE(headDim: dh, theta: c.ropeTheta)
        for p in 0..<capacity { rope.angles(p, cos: cosTab + p * dh, sin: sinTab + p * dh) }
    }

    deinit {
        for p in kCache { p.deallocate() }
        for p in vCache { p.deallocate() }
        cosTab.deallocate(); sinTab.deallocate(); maskAdd.deallocate()
        pool?.shutdown()
    }

    /// Appends `t` tokens per row given as token ids `[batch][t]` with validity flags; returns the final
    /// (normalised) hidden states `[batch, t, hidden]`.
    @discardableResult
    public func append(ids: [[Int]], valid: [[Bool]]? = nil) throws -> Tensor {
        guard ids.count == batch, let t = ids.first?.count, ids.allSatisfy({ $0.count == t }) else {
            throw ModelError.invalidArgument("inference: expected ids of shape [\(batch)][t]")
        }
        let x = xb.ensure(batch * t * dim)
        let e = w.embed.mPtr
        for b in 0..<batch {
            for j in 0..<t {
                let id = ids[b][j]
                let ok = valid?[b][j] ?? true
                if id < 0 || id >= vocab {
                    if ok { throw ModelError.invalidArgument("inference: token id \(id) out of range for vocabulary \(vocab)") }
                    (x + (b * t + j) * dim).update(repeating: 0, count: dim)
                } else {
                    (x + (b * t + j) * dim).update(from: e + id * dim, count: dim)
                }
            }
        }
        return try run(t: t, valid: valid)
    }

    /// Appends `t` tokens per row given as embeddings `[batch, t, hidden]` with validity flags.
    @discardableResult
    public func append(embeddings: Tensor, valid: [[Bool]]? = nil) throws -> Tensor {
        guard embeddings.ndim == 3, embeddings.shape[0] == batch, embeddings.shape[2] == dim else {
            throw ModelError.invalidArgument("inference: expected embeddings [\(batch), t, \(dim)], got \(shapeString(embeddings.shape))")
        }
        let t = embeddings.shape[1]
        let src = embeddings.contiguous()
        xb.ensure(batch * t * dim).update(from: src.mPtr, count: batch * t * dim)
        return try run(t: t, valid: valid)
    }

    /// Logits `[rows.count, vocab]` of the hidden states returned by `append` at (row, index) pairs.
    public func logits(hidden: Tensor, at rows: [(Int, Int)]) throws -> Tensor {
        guard hidden.ndim == 3, hidden.shape[0] == batch, hidden.shape[2] == dim, hidden.dtype == .float32 else {
            throw ModelError.invalidArgument("inference: hidden states must be [\(batch), t, \(dim)], got \(shapeString(hidden.shape))")
        }
        let t = hidden.shape[1]
        if let bad = rows.first(where: { $0.0 < 0 || $0.0 >= batch || $0.1 < 0 || $0.1 >= t }) {
            throw ModelError.invalidArgument("inference: position \(bad) outside [\(batch), \(t)]")
        }
        let hidden = hidden.contiguous()
        let hp = hidden.mPtr
        let sel = hb.ensure(max(rows.count, 1) * dim)
        for (i, (b, j)) in rows.enumerated() { (sel + i * dim).update(from: hp + (b * t + j) * dim, count: dim) }
        return Tensor.make([rows.count, vocab]) { o in
            withBLASThreads(1) { projGemm(rows.count, vocab, dim, sel, w.wout.mPtr, o) }
        }
    }

    /// `C = A·Bᵀ (+ beta·C)` with B `[n, k]`: split in two column halves over the spin pool when there is one.
    private func projGemm(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                          _ c: UnsafeMutablePointer<Float>, ldc: Int? = nil, beta: Float = 0) {
        let ldc = ldc ?? n
        guard let pool, n >= 64 else { gemmNT(m, n, k, a, k, b, k, c, ldc, beta: beta); return }
        let half = (n / 2) & ~7
        pool.run { part in
            if part == 0 { gemmNT(m, half, k, a, k, b, k, c, ldc, beta: beta) }
            else { gemmNT(m, n - half, k, a, k, b + half * k, k, c + half, ldc, beta: beta) }
        }
    }

    /// Runs two independent pieces of work on the spin pool's two threads (in sequence without a pool).
    private func twoParts(_ a: () -> Void, _ b: () -> Void) {
        guard let pool else { a(); b(); return }
        withoutActuallyEscaping(a) { a in
            withoutActuallyEscaping(b) { b in
                pool.run { part in if part == 0 { a() } else { b() } }
            }
        }
    }

    private func run(t: Int, valid: [[Bool]]?) throws -> Tensor {
        // BLAS runs single-threaded; projections (`projGemm`) and attention heads (`attention`) are split in two over
        // the session's spin pool (OpenBLAS's own pool hands off poorly on these small GEMMs).
        try withBLASThreads(1) { try runLayers(t: t, valid: valid) }
    }

    private func runLayers(t: Int, valid: [[Bool]]?) throws -> Tensor {
        if let v = valid, v.count != batch || !v.allSatisfy({ $0.count == t }) {
            throw ModelError.invalidArgument("inference: validity mask must be [\(batch)][\(t)]")
        }
        guard length + t <= capacity else {
            throw ModelError.invalidArgument("inference: \(length + t) tokens exceed the cache capacity \(capacity)")
        }
        let n = batch * t
        // Positions and slot validity of the new tokens.
        var pos = [Int](repeating: 0, count: n)
        for b in 0..<batch {
            for j in 0..<t {
                let ok = valid?[b][j] ?? true
                maskAdd[b * capacity + length + j] = ok ? 0 : -Float.infinity
                if ok {
                    guard nextPosition[b] < maxPos else {
                        throw ModelError.invalidArgument("inference: position \(nextPosition[b]) exceeds the cache capacity")
                    }
                    pos[b * t + j] = nextPosition[b]; nextPosition[b] += 1
                } else {
                    pos[b * t + j] = max(nextPosition[b] - 1, 0)
                }
            }
        }
        let x = xb.ptr
        let hbuf = hb.ensure(n * dim)
        let qkvW = (h + 2 * kvh) * dh
        let qkv = qkvb.ensure(n * qkvW)
        let att = ab.ensure(n * h * dh)
        let gu = gub.ensure(n * 2 * inter)
        let act = actb.ensure(n * inter)
        let scale = 1 / Float(dh).squareRoot()
        let total = length + t
        let scores = scoreb.ensure(max(t, 1) * total * h * batch)
        let eps = c.rmsNormEps
        for (li, L) in w.layers.enumerated() {
            rmsNormRows(x, L.attnNorm.mPtr, hbuf, rows: n, d: dim, eps: eps)
            // q on one thread, k and v on the other (one hand-off; the weights are separate tensors, not copied).
            let wq = L.wq.mPtr, wk = L.wk.mPtr, wv = L.wv.mPtr
            twoParts({ gemmNT(n, h * dh, dim, hbuf, dim, wq, dim, qkv, qkvW) },
                     { gemmNT(n, kvh * dh, dim, hbuf, dim, wk, dim, qkv + h * dh, qkvW)
                       gemmNT(n, kvh * dh, dim, hbuf, dim, wv, dim, qkv + (h + kvh) * dh, qkvW) })
            if let bias = L.bqkv {
                let bp = bias.mPtr
                for r in 0..<n { let row = qkv + r * qkvW; for i in 0..<qkvW { row[i] += bp[i] } }
            }
            // RoPE (queries pre-scaled) and cache writes.
            let kc = kCache[li], vc = vCache[li]
            for b in 0..<batch {
                for j in 0..<t {
                    let r = b * t + j, p = pos[r]
                    let row = qkv + r * qkvW
                    let cs = cosTab + p * dh, sn = sinTab + p * dh
                    for hh in 0..<h { RoPE.rotate(row + hh * dh, cos: cs, sin: sn, dh, scale: scale) }
                    for kh in 0..<kvh {
                        let kp = row + (h + kh) * dh
                        RoPE.rotate(kp, cos: cs, sin: sn, dh)
                        let headBase = (b * kvh + kh) * capacity * dh, slot = length + j
                        let kt = kc + headBase + slot
                        for d in 0..<dh { kt[d * capacity] = kp[d] }
                        (vc + headBase + slot * dh).update(from: row + (h + kvh + kh) * dh, count: dh)
                    }
                }
            }
            attention(qkv: qkv, qkvW: qkvW, t: t, total: total, kc: kc, vc: vc, out: att, scores: scores)
            projGemm(n, dim, h * dh, att, L.wo.mPtr, x, beta: 1)
            if let bias = L.bo {
                let bp = bias.mPtr
                for r in 0..<n { let row = x + r * dim; for i in 0..<dim { row[i] += bp[i] } }
            }
            rmsNormRows(x, L.mlpNorm.mPtr, hbuf, rows: n, d: dim, eps: eps)
            let wg = L.wg.mPtr, wu = L.wu.mPtr
            twoParts({ gemmNT(n, inter, dim, hbuf, dim, wg, dim, gu, 2 * inter) },
                     { gemmNT(n, inter, dim, hbuf, dim, wu, dim, gu + inter, 2 * inter) })
            for r in 0..<n {
                let g = gu + r * 2 * inter, u = g + inter, o = act + r * inter
                for i in 0..<inter { let gv = g[i]; o[i] = gv / (1 + fexp(-gv)) * u[i] }
            }
            projGemm(n, dim, inter, act, L.wd.mPtr, x, beta: 1)
        }
        length += t
        return Tensor.make([batch, t, dim]) { o in rmsNormRows(x, w.finalNorm.mPtr, o, rows: n, d: dim, eps: eps) }
    }

    /// Attention of the t new queries of every row over the row's valid cache slots (causal). Keys are cached
    /// transposed (`[dh, capacity]` per row and head) so both the score and the value loops are contiguous axpys.
    private func attention(qkv: UnsafeMutablePointer<Float>, qkvW: Int, t: Int, total: Int,
                           kc: UnsafeMutablePointer<Float>, vc: UnsafeMutablePointer<Float>,
                           out: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>) {
        let rep = h / kvh, base = length, cap = capacity, dh = self.dh, h = self.h, kvh = self.kvh
        let work = batch * h
        let maskAdd = self.maskAdd
        let body: (Int) -> Void = { idx in
            let b = idx / h, hh = idx % h, kh = hh / rep
            let kt = kc + (b * kvh + kh) * cap * dh, vp = vc + (b * kvh + kh) * cap * dh
            let s = scores + idx * t * total
            let q = qkv + (b * t) * qkvW + hh * dh
            let mk = maskAdd + b * cap
            if t == 1 {
                // s = qᵀ·Kt (+ mask): one BLAS gemv over the transposed key cache.
                for j in 0..<total { s[j] = mk[j] }
                cblas_sgemv(CblasRowMajor, CblasTrans, Int32(dh), Int32(total), 1, kt, Int32(cap), q, 1, 1, s, 1)
            } else {
                gemmNN(t, total, dh, q, qkvW, kt, cap, s, total)
            }
            for i in 0..<t {
                let row = s + i * total
                let n = base + i + 1
                if t > 1 { for j in 0..<n { row[j] += mk[j] } }
                var m = -Float.infinity
                for j in 0..<n where row[j] > m { m = row[j] }
                let o = out + (b * t + i) * h * dh + hh * dh
                if m == -Float.infinity {
                    for j in 0..<total { row[j] = 0 }
                    if t == 1 { o.update(repeating: 0, count: dh) }
                    continue
                }
                for j in 0..<n { row[j] = fexp(row[j] - m) }
                var sum: Float = 0
                for j in 0..<n { sum += row[j] }
                let inv = 1 / sum
                for j in 0..<n { row[j] *= inv }
                for j in n..<total { row[j] = 0 }
                if t == 1 {
                    // o = Vᵀ·p over the visible slots.
                    cblas_sgemv(CblasRowMajor, CblasTrans, Int32(n), Int32(dh), 1, vp, Int32(dh), row, 1, 0, o, 1)
                }
            }
            if t > 1 { gemmNN(t, dh, total, s, total, vp, dh, out + (b * t) * h * dh + hh * dh, h * dh) }
        }
        // Heads are independent: split them in two over the spin pool (each part calls single-threaded BLAS).
        if let pool, work >= 2 {
            pool.run { part in
                for idx in (part == 0 ? 0..<(work / 2) : (work / 2)..<work) { body(idx) }
            }
        } else {
            for idx in 0..<work { body(idx) }
        }
    }
}
