import Foundation
import MoonTensor
import Dispatch
import CBLAS
import CDecodeKernels

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
/// are views of the decoder's own parameters (no copies, so a loaded model is not held twice in memory). The decode
/// kernels stream them in their natural `[out, in]` layout (no packing); `lowered()` adds bfloat16 copies for
/// `DecodeWeights.bf16` generation.
final class PackedDecoder {
    struct Layer {
        let attnNorm: Tensor, wq: Projection, wk: Projection, wv: Projection, wo: Projection, mlpNorm: Tensor
        let wg: Projection, wu: Projection, wd: Projection
        /// Concatenated q/k/v biases `[(h + 2·kvh)·dh]` and the output bias, when the architecture has them.
        let bqkv: Tensor?, bo: Tensor?
    }
    let config: LlamaConfig
    let layers: [Layer]
    let finalNorm: Tensor
    let embed: Tensor
    let wout: Projection
    /// The format the small-M kernels read.
    let weights: DecodeWeights

    init(_ d: LlamaDecoder) throws {
        config = d.config
        weights = .f32
        func w(_ l: Linear) throws -> Projection { Projection(try l.effectiveWeight().contiguous()) }
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
        wout = Projection(try (d.lmHead?.effectiveWeight() ?? d.model.embedTokens.weight.detach()).contiguous())
    }

    private init(lowering p: PackedDecoder) {
        config = p.config; weights = .bf16
        layers = p.layers.map { L in
            Layer(attnNorm: L.attnNorm, wq: L.wq.lowered(), wk: L.wk.lowered(), wv: L.wv.lowered(), wo: L.wo.lowered(),
                  mlpNorm: L.mlpNorm, wg: L.wg.lowered(), wu: L.wu.lowered(), wd: L.wd.lowered(), bqkv: L.bqkv, bo: L.bo)
        }
        finalNorm = p.finalNorm; embed = p.embed; wout = p.wout.lowered()
    }

    /// The same weights with bfloat16 copies of every projection and the output head (prefill keeps f32 BLAS).
    func lowered() -> PackedDecoder { weights == .bf16 ? self : PackedDecoder(lowering: self) }

    /// These weights in the given format.
    func with(_ format: DecodeWeights) -> PackedDecoder { format == .bf16 ? lowered() : self }
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
    /// Per layer, the keys and values of each row's own slots (those after the shared prefix): keys transposed
    /// (`[dh, rowCapacity]` per row and kv head), values slot-major (`[rowCapacity, dh]`).
    private var kCache: [UnsafeMutablePointer<Float>] = []
    private var vCache: [UnsafeMutablePointer<Float>] = []
    /// Slots each row's own cache holds (`capacity` less the shared prefix).
    private var rowCapacity: Int
    /// The batch-1 session that prefilled the shared prefix (`appendShared`): its cache holds the prefix's keys and
    /// values once for all rows, and attention reads them with one GEMM over every row's queries.
    private var prefix: InferenceSession?
    /// Slots of the shared prefix (0 without one).
    private var sharedLength: Int { prefix?.length ?? 0 }
    /// Additive key mask per row and own slot: 0 for valid tokens, -inf for padding.
    private var maskAdd: UnsafeMutablePointer<Float>
    private let cosTab: UnsafeMutablePointer<Float>, sinTab: UnsafeMutablePointer<Float>
    private let maxPos: Int
    private let xb = FloatBuffer(), hb = FloatBuffer(), qkvb = FloatBuffer(), ab = FloatBuffer(), gub = FloatBuffer()
    private let actb = FloatBuffer(), scoreb = FloatBuffer(), qgb = FloatBuffer(), ogb = FloatBuffer(), logitb = FloatBuffer()
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
        rowCapacity = capacity
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

    /// Prefills `ids`, a token prefix common to every row, once at batch 1 and places its keys and values in every
    /// row's cache (slots and positions 0..<ids.count), as if each row had been fed `ids` itself. Only on an empty
    /// session. Results agree with feeding the prefix to every row up to the rounding of the batch-1 products.
    public func appendShared(ids: [Int]) throws {
        guard length == 0 else { throw ModelError.invalidArgument("inference: a shared prefix must come first (cache holds \(length) tokens)") }
        let l = ids.count
        guard l > 0 else { return }
        guard l <= capacity else { throw ModelError.invalidArgument("inference: \(l) tokens exceed the cache capacity \(capacity)") }
        let one = try InferenceSession(packed: w, batch: 1, capacity: l)
        try one.append(ids: [ids])
        // The rows' own caches now only need the slots after the prefix (the prefix's keys and values stay in `one`).
        rowCapacity = capacity - l
        for li in 0..<kCache.count {
            kCache[li].deallocate(); vCache[li].deallocate()
            kCache[li] = .allocate(capacity: max(batch * kvh * rowCapacity * dh, 1))
            vCache[li] = .allocate(capacity: max(batch * kvh * rowCapacity * dh, 1))
        }
        maskAdd.deallocate()
        maskAdd = .allocate(capacity: max(batch * rowCapacity, 1))
        maskAdd.initialize(repeating: -Float.infinity, count: max(batch * rowCapacity, 1))
        prefix = one
        for b in 0..<batch { nextPosition[b] = l }
        length = l
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
            withBLASThreads(1) { project(rows.count, [(w.wout, 0)], sel, o, ldc: vocab) }
        }
    }

    /// `C[:, seg] = A·Wᵀ (+ beta·C)` for one or more projections sharing the input `A [m, k]` (q/k/v, gate/up), each
    /// writing its columns of `C` at its offset: one fork-join in which each of the two threads computes its half
    /// of every projection's columns (the small-M kernel streams the weights; BLAS for prefill-sized m).
    /// `then`, when given, runs on the same thread after its part, with that part's column range of the first
    /// projection (so element-wise work on the columns just computed needs no second fork-join).
    private func project(_ m: Int, _ segs: [(Projection, Int)], _ a: UnsafePointer<Float>, _ c: UnsafeMutablePointer<Float>,
                         ldc: Int, beta: Float = 0, then: ((Range<Int>) -> Void)? = nil) {
        let lda = segs[0].0.k
        guard let pool else {
            for (p, off) in segs { projectColumns(m, p, 0..<p.n, a, lda, c + off, ldc, beta: beta) }
            then?(0..<segs[0].0.n)
            return
        }
        pool.run { part in
            for (p, off) in segs { projectColumns(m, p, halfColumns(p.n, part: part), a, lda, c + off, ldc, beta: beta) }
            then?(halfColumns(segs[0].0.n, part: part))
        }
    }

    /// Runs `body` over the rows `0..<batch` split in two halves on the session's two threads (or once over all
    /// rows with one thread); returns when both are done.
    func parallelRows(_ body: @escaping (Range<Int>) -> Void) {
        if let pool, batch >= 2 {
            let half = batch / 2, all = batch
            pool.run { part in body(part == 0 ? 0..<half : half..<all) }
        } else {
            body(0..<batch)
        }
    }

    private func run(t: Int, valid: [[Bool]]?) throws -> Tensor {
        // BLAS runs single-threaded; projections (`project`) and attention (`attention`) are split in two over
        // the session's spin pool (OpenBLAS's own pool hands off poorly on these small GEMMs).
        try withBLASThreads(1) { try runLayers(t: t, valid: valid) }
        let x = xb.ptr, n = batch * t
        return Tensor.make([batch, t, dim]) { o in rmsNormRows(x, w.finalNorm.mPtr, o, rows: n, d: dim, eps: c.rmsNormEps) }
    }

    /// One decoding step: appends one token per row (`valid[b]` false: padding) and returns the logits
    /// `[batch, vocab]` of the new tokens in a buffer the session reuses (valid until the next call). The same
    /// results as `append(ids:valid:)` then `logits(hidden:at:)`, without allocating per step.
    func step(ids: [Int], valid: [Bool]) throws -> UnsafeMutablePointer<Float> {
        guard ids.count == batch, valid.count == batch else {
            throw ModelError.invalidArgument("inference: expected \(batch) tokens and validity flags")
        }
        let x = xb.ensure(batch * dim)
        let e = w.embed.mPtr
        for b in 0..<batch {
            let id = ids[b]
            if id < 0 || id >= vocab {
                if valid[b] { throw ModelError.invalidArgument("inference: token id \(id) out of range for vocabulary \(vocab)") }
                (x + b * dim).update(repeating: 0, count: dim)
            } else {
                (x + b * dim).update(from: e + id * dim, count: dim)
            }
        }
        let out = logitb.ensure(batch * vocab)
        try withBLASThreads(1) {
            try runLayers(t: 1, valid: valid.map { [$0] })
            let hn = hb.ensure(batch * dim)
            rmsNormRows(xb.ptr, w.finalNorm.mPtr, hn, rows: batch, d: dim, eps: c.rmsNormEps)
            project(batch, [(w.wout, 0)], hn, out, ldc: vocab)
        }
        return out
    }

    private func runLayers(t: Int, valid: [[Bool]]?) throws {
        if let v = valid, v.count != batch || !v.allSatisfy({ $0.count == t }) {
            throw ModelError.invalidArgument("inference: validity mask must be [\(batch)][\(t)]")
        }
        guard length + t <= capacity else {
            throw ModelError.invalidArgument("inference: \(length + t) tokens exceed the cache capacity \(capacity)")
        }
        let n = batch * t
        let own = length - sharedLength  // slots already in each row's own cache
        // Positions and slot validity of the new tokens.
        var pos = [Int](repeating: 0, count: n)
        for b in 0..<batch {
            for j in 0..<t {
                let ok = valid?[b][j] ?? true
                maskAdd[b * rowCapacity + own + j] = ok ? 0 : -Float.infinity
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
        let cap = rowCapacity
        let eps = c.rmsNormEps
        for (li, L) in w.layers.enumerated() {
            rmsNormRows(x, L.attnNorm.mPtr, hbuf, rows: n, d: dim, eps: eps)
            // q, k and v in one fork-join, each thread computing its half of every projection's columns.
            project(n, [(L.wq, 0), (L.wk, h * dh), (L.wv, (h + kvh) * dh)], hbuf, qkv, ldc: qkvW)
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
                        let headBase = (b * kvh + kh) * cap * dh, slot = own + j
                        let kt = kc + headBase + slot
                        for d in 0..<dh { kt[d * cap] = kp[d] }
                        (vc + headBase + slot * dh).update(from: row + (h + kvh + kh) * dh, count: dh)
                    }
                }
            }
            attention(layer: li, qkv: qkv, qkvW: qkvW, t: t, kc: kc, vc: vc, out: att, scores: scores)
            project(n, [(L.wo, 0)], att, x, ldc: dim, beta: 1)
            if let bias = L.bo {
                let bp = bias.mPtr
                for r in 0..<n { let row = x + r * dim; for i in 0..<dim { row[i] += bp[i] } }
            }
            rmsNormRows(x, L.mlpNorm.mPtr, hbuf, rows: n, d: dim, eps: eps)
            // gate and up in one fork-join; each thread then applies SwiGLU to the columns it computed (gate and up
            // have the same width, so its halves of both line up)
            let inter = self.inter
            project(n, [(L.wg, 0), (L.wu, inter)], hbuf, gu, ldc: 2 * inter) { cols in
                moon_dk_swiglu_cols(gu, Int32(inter), Int32(n), Int32(cols.lowerBound), Int32(cols.upperBound), act)
            }
            project(n, [(L.wd, 0)], act, x, ldc: dim, beta: 1)
        }
        length += t
    }

    /// Attention of the t new queries of every row over the shared prefix and the row's own valid slots (causal).
    /// Queries are grouped by kv head (GQA: the `h / kvh` query heads of a kv head and the t new tokens form the rows
    /// of one product): the shared prefix's scores and values are one GEMM over every row's queries (its keys and
    /// values read once, not once per row), each row's own slots one small GEMM per row and kv head. Keys are cached
    /// transposed (`[dh, slots]`), values slot-major. Scores for (kv head, row, token, query head) are laid out with
    /// stride `total` (shared slots first, then own), softmax runs over each score row in place.
    private func attention(layer li: Int, qkv: UnsafeMutablePointer<Float>, qkvW: Int, t: Int,
                           kc: UnsafeMutablePointer<Float>, vc: UnsafeMutablePointer<Float>,
                           out: UnsafeMutablePointer<Float>, scores: UnsafeMutablePointer<Float>) {
        let rep = h / kvh, dh = self.dh, h = self.h, kvh = self.kvh, batch = self.batch
        let shared = sharedLength, base = length - shared, cap = rowCapacity
        let own = base + t  // own slots visible to the last new token
        let stride = shared + own
        let rowsPerB = t * rep  // score rows of one batch row and kv head
        let group = batch * rowsPerB  // score rows of one kv head
        let qg = qgb.ensure(kvh * group * dh), og = ogb.ensure(kvh * group * dh)
        let maskAdd = self.maskAdd
        let sk = prefix?.kCache[li], sv = prefix?.vCache[li]
        let body: (Range<Int>) -> Void = { bs in
            if bs.isEmpty { return }
            for kh in 0..<kvh {
                let q0 = qg + kh * group * dh, s0 = scores + kh * group * stride, o0 = og + kh * group * dh
                // gather the queries of this kv head: rows (b, j, r), contiguous
                for b in bs {
                    for j in 0..<t {
                        (q0 + ((b * t + j) * rep) * dh).update(from: qkv + (b * t + j) * qkvW + kh * rep * dh, count: rep * dh)
                    }
                }
                let r0 = bs.lowerBound * rowsPerB, rn = bs.count * rowsPerB
                if let sk {
                    // every row's queries against the shared prefix's keys at once
                    gemmNN(rn, shared, dh, q0 + r0 * dh, dh, sk + kh * dh * shared, shared, s0 + r0 * stride, stride)
                }
                for b in bs {
                    let kt = kc + (b * kvh + kh) * cap * dh
                    let sb = s0 + b * rowsPerB * stride
                    gemmNN(rowsPerB, own, dh, q0 + b * rowsPerB * dh, dh, kt, cap, sb + shared, stride)
                    let mk = maskAdd + b * cap
                    for j in 0..<t {
                        let visible = base + j + 1
                        for r in 0..<rep {
                            let row = sb + (j * rep + r) * stride
                            let ownRow = row + shared
                            for s in 0..<visible { ownRow[s] += mk[s] }
                            moon_dk_softmax(row, Int32(shared + visible), Int32(stride))
                        }
                    }
                }
                if let sv {
                    gemmNN(rn, dh, shared, s0 + r0 * stride, stride, sv + kh * shared * dh, dh, o0 + r0 * dh, dh)
                }
                for b in bs {
                    let vp = vc + (b * kvh + kh) * cap * dh
                    gemmNN(rowsPerB, dh, own, s0 + b * rowsPerB * stride + shared, stride, vp, dh, o0 + b * rowsPerB * dh, dh,
                           beta: sv == nil ? 0 : 1)
                    for j in 0..<t {
                        (out + (b * t + j) * h * dh + kh * rep * dh).update(from: o0 + ((b * t + j) * rep) * dh, count: rep * dh)
                    }
                }
            }
        }
        // Rows are independent: split them in two over the spin pool (each part calls single-threaded BLAS).
        if let pool, batch >= 2 {
            pool.run { part in body(part == 0 ? 0..<(batch / 2) : (batch / 2)..<batch) }
        } else {
            body(0..<batch)
        }
    }
}
