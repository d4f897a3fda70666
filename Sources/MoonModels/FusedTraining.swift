import Foundation
import MoonTensor
import CBLAS
import CDecodeKernels
import Dispatch

// The fused decoder pass: moonlab's one home for training the decoder fast. `policy:score`, `lm:score`, `lm:loss`
// and through them every loss (PPO, KL, SFT) run the decoder here instead of through an autograd graph of ~40 ops
// per layer: one BLAS call per projection for the whole batch, rows packed without padding, the prompt prefix common
// to every row computed once, fused RMSNorm/RoPE/SwiGLU/softmax loops, causal attention as GEMMs over the visible
// keys (a key/value head's grouped query heads stacked into one score matrix that reads the shared K/V in place;
// probabilities recomputed in backward from each row's log-sum-exp, never stored), and logits only at the scored
// positions, a chunk at a time, with log-softmax, gather and entropy fused (vectorised row kernels,
// CDecodeKernels/fused_kernels.c). The pass is ONE autograd node:
// its backward computes input gradients through the frozen base (no weight gradients for parameters that do not
// train), the LoRA A/B gradients, the gradients of base parameters that do train (the byte-level policy), of the
// value head and of the input embeddings (so visual tokens reach the vision encoder through autograd).

/// Scratch memory of a fused pass. Blocks are handed out in request order and kept after `reset()`, so a repeated
/// pass with the same shapes reuses them (no page faults on fresh memory every step).
final class Arena {
    private var blocks: [(ptr: UnsafeMutablePointer<Float>, capacity: Int)] = []
    private var cursor = 0
    func reset() { cursor = 0 }
    /// The position of the next block (for `rewind`).
    var mark: Int { cursor }
    /// Hands out the blocks after `mark` again (their contents are kept until overwritten).
    func rewind(to m: Int) { cursor = m }
    /// Bytes held.
    var bytes: Int { blocks.reduce(0) { $0 + $1.capacity * 4 } }
    func alloc(_ n: Int, zeroed: Bool = false) -> UnsafeMutablePointer<Float> {
        let need = max(n, 1)
        if cursor < blocks.count {
            if blocks[cursor].capacity < need {
                blocks[cursor].ptr.deallocate()
                blocks[cursor] = (.allocate(capacity: need), need)
            }
        } else {
            blocks.append((.allocate(capacity: need), need))
        }
        let p = blocks[cursor].ptr
        cursor += 1
        if zeroed { p.initialize(repeating: 0, count: need) }
        return p
    }
    /// Frees every block.
    func release() {
        for b in blocks { b.ptr.deallocate() }
        blocks = []; cursor = 0
    }
    deinit { for b in blocks { b.ptr.deallocate() } }
}

/// Arenas kept between passes of one decoder (at most two: a pass alive in a graph while the next one runs).
final class ArenaPool: @unchecked Sendable {
    private var free: [Arena] = []
    private let lock = NSLock()
    func take() -> Arena {
        lock.lock(); defer { lock.unlock() }
        return free.popLast() ?? Arena()
    }
    func give(_ a: Arena) {
        a.reset()
        lock.lock(); defer { lock.unlock() }
        if free.count < 2 { free.append(a) } else { a.release() }
    }
    func release() {
        lock.lock(); defer { lock.unlock() }
        for a in free { a.release() }
        free = []
    }
}

/// C[m, n] = alpha·op(A)·op(B) + beta·C (row-major): the fused pass's BLAS call.
@inline(__always)
private func sgemm(_ ta: CBLAS_TRANSPOSE, _ tb: CBLAS_TRANSPOSE, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
                   _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float,
                   _ c: UnsafeMutablePointer<Float>, _ ldc: Int) {
    if m == 0 || n == 0 { return }
    if k == 0 {
        if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
        return
    }
    cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Where the time of fused passes goes (set `profiling`; read `profile`, seconds by phase).
public enum FusedDecoderProfile {
    nonisolated(unsafe) public static var profile: [String: Double] = [:]
    nonisolated(unsafe) public static var profiling = Knob.flag("MOONLAB_FUSED_PROFILE", defaultOn: false)
    /// Prints the profile to stderr and clears it (with `MOONLAB_FUSED_PROFILE=1`, after every backward).
    static func report(_ label: String) {
        guard profiling else { return }
        let total = profile.filter { !$0.key.hasPrefix("~") }.values.reduce(0, +)
        var line = String(format: "fused %@ %.2fs:", label, total)
        for (k, v) in profile.sorted(by: { $0.key < $1.key }) { line += String(format: " %@ %.2f", k, v) }
        FileHandle.standardError.write((line + "\n").data(using: .utf8)!)
        profile = [:]
    }
    /// Adds the time since `t0` to `name` without moving a phase clock (sub-phases: names starting with "~" are
    /// inside the phases and left out of the total).
    @inline(__always) static func add(_ name: String, since t0: Double) {
        guard profiling else { return }
        profile[name, default: 0] += Date().timeIntervalSinceReferenceDate - t0
    }
    @inline(__always) static var now: Double { profiling ? Date().timeIntervalSinceReferenceDate : 0 }
    @inline(__always) static func tick(_ name: String, _ t0: inout Double) {
        guard profiling else { return }
        let now = Date().timeIntervalSinceReferenceDate
        profile[name, default: 0] += now - t0
        t0 = now
    }
}

/// A shared counter handing out work items (`FusedDecoderPass.dynamicParts`).
final class ManagedCounter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func take() -> Int {
        lock.lock(); defer { lock.unlock() }
        value += 1
        return value - 1
    }
}

/// One projection as the fused pass applies it: `y = x·Wᵀ (+ b) (+ s·(x·Aᵀ)·Bᵀ)` (an enabled LoRA adapter).
struct FusedLinear {
    let weight: Tensor, bias: Tensor?
    let loraA: Tensor?, loraB: Tensor?
    let rank: Int, scale: Float, inF: Int, outF: Int
    init(_ l: Linear) {
        weight = l.weight; bias = l.bias
        inF = l.inFeatures; outF = l.outFeatures
        if let ad = l.lora, ad.enabled {
            loraA = ad.loraA.weight; loraB = ad.loraB.weight; rank = ad.rank; scale = ad.scale
        } else {
            loraA = nil; loraB = nil; rank = 0; scale = 0
        }
    }
    var parameters: [Tensor] { [weight] + [bias, loraA, loraB].compactMap { $0 } }
}

/// The seven projections and two norms of a decoder layer.
struct FusedLayer {
    let q, k, v, o, gate, up, down: FusedLinear
    let norm1, norm2: Tensor
    init(_ L: TransformerBlock) {
        let a = L.selfAttn, m = L.mlp
        q = FusedLinear(a.qProj); k = FusedLinear(a.kProj); v = FusedLinear(a.vProj); o = FusedLinear(a.oProj)
        gate = FusedLinear(m.gateProj); up = FusedLinear(m.upProj); down = FusedLinear(m.downProj)
        norm1 = L.inputLayernorm.weight; norm2 = L.postAttentionLayernorm.weight
    }
    var linears: [FusedLinear] { [q, k, v, o, gate, up, down] }
}

/// How a batch of rows is packed: row b holds positions `0..<lengths[b]` (no padding); its first `shared` positions
/// are the prefix common to every row, stored once at packed rows `0..<shared`; its own positions `shared...` at
/// `offsets[b]...`.
struct FusedLayout {
    let lengths: [Int]
    let shared: Int
    let offsets: [Int]
    let rows: Int
    /// Position of each packed row.
    let positions: [Int]

    init(lengths: [Int], shared: Int) {
        self.lengths = lengths
        self.shared = shared
        var off: [Int] = [], m = shared, pos = Array(0..<shared)
        for n in lengths {
            off.append(m)
            m += n - shared
            pos += Array(shared..<n)
        }
        offsets = off; rows = m; positions = pos
    }

    @inline(__always) func packed(_ b: Int, _ pos: Int) -> Int { pos < shared ? pos : offsets[b] + pos - shared }

    /// Attention segments: queries `q0..<q0+len` see the first `kOffset` packed rows (the shared prefix) and their own
    /// rows causally. The shared prefix is a segment of its own.
    var segments: [(q0: Int, len: Int, kOffset: Int)] {
        var s: [(Int, Int, Int)] = []
        if shared > 0 { s.append((0, shared, 0)) }
        for (b, n) in lengths.enumerated() where n > shared { s.append((offsets[b], n - shared, shared)) }
        return s
    }
}

/// One forward (and backward) of the decoder over a packed batch. See the comment at the top of the file.
final class FusedDecoderPass {
    let dec: LlamaDecoder
    let layout: FusedLayout
    let save: Bool
    let arena: Arena
    private let pool: ArenaPool
    let layers: [FusedLayer]
    let D: Int, H: Int, K: Int, dh: Int, HD: Int, QW: Int, I: Int, M: Int, eps: Float
    let segs: [(q0: Int, len: Int, kOffset: Int)]
    let cosT: UnsafeMutablePointer<Float>, sinT: UnsafeMutablePointer<Float>
    /// Scratch for a projection's merged weight `W + s·B·A` (see `mergesAdapter`); nil without adapters.
    let mergedWeight: UnsafeMutablePointer<Float>?

    struct LayerSave {
        var x, r1, qkv, lse, attn, xmid, r2, gu: UnsafeMutablePointer<Float>
        /// LoRA intermediates `x·Aᵀ` `[M, rank]` of q, k, v, o, gate, up, down (nil without an adapter).
        var u: [UnsafeMutablePointer<Float>?]
    }
    private(set) var saves: [LayerSave] = []
    /// The last layer's output, the final norm's inverse RMS and its output (the final hidden states `[M, D]`).
    private(set) var xLast: UnsafeMutablePointer<Float>! = nil
    private(set) var rf: UnsafeMutablePointer<Float>! = nil
    private(set) var hf: UnsafeMutablePointer<Float>! = nil
    /// Where backward's scratch starts (a second backward reuses it).
    private var forwardMark = 0
    /// Gradient buffers of the parameters that train, by identity (filled by backward).
    private(set) var grads: [ObjectIdentifier: (Tensor, UnsafeMutablePointer<Float>)] = [:]

    init(_ dec: LlamaDecoder, layout: FusedLayout, save: Bool) {
        self.dec = dec; self.layout = layout; self.save = save
        pool = dec.trainingArenas
        arena = pool.take()
        let c = dec.config
        D = c.hiddenSize; H = c.numAttentionHeads; K = c.numKeyValueHeads; dh = c.resolvedHeadDim
        HD = H * dh; QW = (H + 2 * K) * dh; I = c.intermediateSize; M = layout.rows; eps = c.rmsNormEps
        layers = dec.model.layers.items.map(FusedLayer.init)
        segs = layout.segments
        let maxPos = max(layout.lengths.max() ?? 1, 1)
        cosT = arena.alloc(maxPos * dh); sinT = arena.alloc(maxPos * dh)
        for q in 0..<maxPos { dec.rope.angles(q, cos: cosT + q * dh, sin: sinT + q * dh) }
        let adapted = layers.flatMap(\.linears).filter { $0.loraA != nil }
        mergedWeight = adapted.isEmpty ? nil : arena.alloc(adapted.map { $0.outF * $0.inF }.max()!)
    }

    deinit { pool.give(arena) }

    /// Runs `body(part, lo, hi)` over `0..<n` split into `numThreads()` parts on concurrent threads.
    @inline(__always) func parts(_ n: Int, _ body: (Int, Int, Int) -> Void) { parallelFor(n, parts: numThreads(), body) }

    // MARK: gradient buffers

    /// The gradient buffer of `t` (zeroed on first use), or nil when `t` does not train.
    func grad(_ t: Tensor?) -> UnsafeMutablePointer<Float>? {
        guard let t, t.requiresGrad else { return nil }
        if let g = grads[ObjectIdentifier(t)] { return g.1 }
        let p = arena.alloc(t.count, zeroed: true)
        grads[ObjectIdentifier(t)] = (t, p)
        return p
    }

    // MARK: pieces

    func rmsForward(_ x: UnsafePointer<Float>, _ w: Tensor, _ out: UnsafeMutablePointer<Float>, _ r: UnsafeMutablePointer<Float>) {
        let wp = w.mPtr, d = D, e = eps
        parts(M) { _, lo, hi in
            for n in lo..<hi {
                let xr = x + n * d, o = out + n * d
                var s: Float = 0
                for j in 0..<d { s += xr[j] * xr[j] }
                let inv = 1 / (s / Float(d) + e).squareRoot()
                r[n] = inv
                for j in 0..<d { o[j] = xr[j] * inv * wp[j] }
            }
        }
    }

    /// `out = x·r·w` from a saved inverse RMS (recomputes a norm's output in backward).
    func rmsApply(_ x: UnsafePointer<Float>, _ w: Tensor, _ r: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>) {
        let wp = w.mPtr, d = D
        parts(M) { _, lo, hi in
            for n in lo..<hi {
                let xr = x + n * d, o = out + n * d, inv = r[n]
                for j in 0..<d { o[j] = xr[j] * inv * wp[j] }
            }
        }
    }

    /// dx += RMSNorm backward of dy; the weight's gradient when it trains (reduced from per-part partials).
    func rmsBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ r: UnsafePointer<Float>, _ w: Tensor,
                     _ dx: UnsafeMutablePointer<Float>) {
        let wp = w.mPtr, d = D
        let gw = grad(w)
        let k = max(1, numThreads())
        let partial: UnsafeMutablePointer<Float>? = gw == nil ? nil : arena.alloc(k * d, zeroed: true)
        parts(M) { c, lo, hi in
            let pw = partial.map { $0 + c * d }
            for n in lo..<hi {
                let dyr = dy + n * d, xr = x + n * d, o = dx + n * d, rn = r[n]
                var dot: Float = 0
                for j in 0..<d { dot += dyr[j] * wp[j] * xr[j] }
                if let pw { for j in 0..<d { pw[j] += dyr[j] * xr[j] * rn } }
                let kk = rn * rn * rn * dot / Float(d)
                for j in 0..<d { o[j] += rn * dyr[j] * wp[j] - xr[j] * kk }
            }
        }
        if let gw, let partial { for c in 0..<k { for j in 0..<d { gw[j] += partial[c * d + j] } } }
    }

    /// Whether `L`'s adapter is applied through the merged weight `W + s·B·A` (built per call in `mergedWeight`):
    /// one GEMM on the merged weight replaces the rank-r product over the whole `[M, out]` output (forward) or
    /// `[M, in]` input gradient (backward), a read and a write of that matrix; building the merged weight reads and
    /// writes `[out, in]` twice. So it pays with more than 2·in rows (forward) or 2·out rows (backward).
    @inline(__always) func mergesAdapter(_ L: FusedLinear, forward: Bool) -> Bool {
        L.loraA != nil && mergedWeight != nil && M > 2 * (forward ? L.inF : L.outF)
    }

    /// `mergedWeight = W + s·B·A` for `L`; returns it.
    func buildMergedWeight(_ L: FusedLinear) -> UnsafeMutablePointer<Float> {
        let w = mergedWeight!, src = L.weight.mPtr, n = L.inF
        parts(L.outF) { _, lo, hi in (w + lo * n).update(from: src + lo * n, count: (hi - lo) * n) }
        sgemm(CblasNoTrans, CblasNoTrans, L.outF, L.inF, L.rank, L.scale, L.loraB!.mPtr, L.rank, L.loraA!.mPtr, L.inF, 1, w, L.inF)
        return w
    }

    /// y (+)= x·Wᵀ + b + s·(x·Aᵀ)·Bᵀ over the M rows; `u` receives x·Aᵀ (kept for backward; not computed by a pass
    /// that keeps nothing when the adapter is merged).
    func linearForward(_ L: FusedLinear, _ x: UnsafePointer<Float>, _ ldx: Int, _ y: UnsafeMutablePointer<Float>, _ ldy: Int,
                       beta: Float, u: UnsafeMutablePointer<Float>?) {
        let t0 = FusedDecoderProfile.now
        let merged = mergesAdapter(L, forward: true)
        let w: UnsafePointer<Float> = merged ? UnsafePointer(buildMergedWeight(L)) : UnsafePointer(L.weight.mPtr)
        if merged { FusedDecoderProfile.add("~f.lora", since: t0) }
        sgemm(CblasNoTrans, CblasTrans, M, L.outF, L.inF, 1, x, ldx, w, L.inF, beta, y, ldy)
        if let b = L.bias {
            let bp = b.mPtr, n = L.outF
            parts(M) { _, lo, hi in for r in lo..<hi { let row = y + r * ldy; for j in 0..<n { row[j] += bp[j] } } }
        }
        if let a = L.loraA, let b = L.loraB, let u {
            let t0 = FusedDecoderProfile.now
            // u = x·Aᵀ: backward's input to the gradient of B (not needed by a pass that keeps nothing)
            if save || !merged { sgemm(CblasNoTrans, CblasTrans, M, L.rank, L.inF, 1, x, ldx, a.mPtr, L.inF, 0, u, L.rank) }
            if !merged { sgemm(CblasNoTrans, CblasTrans, M, L.outF, L.rank, L.scale, u, L.rank, b.mPtr, L.rank, 1, y, ldy) }
            FusedDecoderProfile.add("~f.lora", since: t0)
        }
    }

    /// dx (+)= dy·W + s·(dy·B)·A, and the gradients of W, b, A, B where they train. `x`: the layer's input.
    func linearBackward(_ L: FusedLinear, _ dy: UnsafePointer<Float>, _ ldy: Int, _ x: UnsafePointer<Float>, _ ldx: Int,
                        _ dx: UnsafeMutablePointer<Float>?, _ lddx: Int, beta: Float, u: UnsafePointer<Float>?,
                        du: UnsafeMutablePointer<Float>) {
        let merged = dx != nil && mergesAdapter(L, forward: false)
        if let dx {
            let t0 = FusedDecoderProfile.now
            let w: UnsafePointer<Float> = merged ? UnsafePointer(buildMergedWeight(L)) : UnsafePointer(L.weight.mPtr)
            if merged { FusedDecoderProfile.add("~b.lora", since: t0) }
            sgemm(CblasNoTrans, CblasNoTrans, M, L.inF, L.outF, 1, dy, ldy, w, L.inF, beta, dx, lddx)
        }
        if let gw = grad(L.weight) { sgemm(CblasTrans, CblasNoTrans, L.outF, L.inF, M, 1, dy, ldy, x, ldx, 1, gw, L.inF) }
        if let gb = grad(L.bias) {
            let n = L.outF, k = max(1, numThreads())
            let partial = arena.alloc(k * n, zeroed: true)
            parts(M) { c, lo, hi in
                let p = partial + c * n
                for r in lo..<hi { let row = dy + r * ldy; for j in 0..<n { p[j] += row[j] } }
            }
            for c in 0..<k { for j in 0..<n { gb[j] += partial[c * n + j] } }
        }
        if let a = L.loraA, let b = L.loraB, let u {
            let t0 = FusedDecoderProfile.now
            defer { FusedDecoderProfile.add("~b.lora", since: t0) }
            let r = L.rank
            if let gB = grad(b) { sgemm(CblasTrans, CblasNoTrans, L.outF, r, M, L.scale, dy, ldy, u, r, 1, gB, r) }
            sgemm(CblasNoTrans, CblasNoTrans, M, r, L.outF, L.scale, dy, ldy, b.mPtr, r, 0, du, r)
            if let gA = grad(a) { sgemm(CblasTrans, CblasNoTrans, r, L.inF, M, 1, du, r, x, ldx, 1, gA, L.inF) }
            if let dx, !merged { sgemm(CblasNoTrans, CblasNoTrans, M, L.inF, r, 1, du, r, a.mPtr, L.inF, 1, dx, lddx) }
        }
    }

    /// Rotates q (scaled by 1/sqrt(dh)) and k of every packed row in place; `inverse`: the backward rotation.
    func rope(_ qkv: UnsafeMutablePointer<Float>, inverse: Bool) {
        let pos = layout.positions, dh = dh, H = H, K = K, QW = QW, cosT = cosT, sinT = sinT
        let scale = 1 / Float(dh).squareRoot(), half = dh / 2
        parts(M) { _, lo, hi in
            for n in lo..<hi {
                let row = qkv + n * QW, ps = pos[n]
                let cs = cosT + ps * dh, sn = sinT + ps * dh
                if !inverse {
                    for hh in 0..<H { RoPE.rotate(row + hh * dh, cos: cs, sin: sn, dh, scale: scale) }
                    for kh in 0..<K { RoPE.rotate(row + (H + kh) * dh, cos: cs, sin: sn, dh) }
                } else {
                    for head in 0..<(H + K) {
                        let xr = row + head * dh, sc: Float = head < H ? scale : 1
                        for i in 0..<half {
                            let a = xr[i], b = xr[i + half]
                            xr[i] = (a * cs[i] + b * sn[i + half]) * sc
                            xr[i + half] = (b * cs[i + half] - a * sn[i]) * sc
                        }
                    }
                }
            }
        }
    }

    /// Query positions per attention block (`MOONLAB_ATTN_BLOCK`, default 64): a block of positions `[i0, i1)` reads
    /// only the keys before `kOffset + i1`, so the causal upper triangle is mostly skipped; the `H / K` query heads of
    /// a key/value head are stacked, so one block is a `[rep·bl, kOffset + i1]` score matrix.
    nonisolated(unsafe) static var attentionBlock = Knob.integer("MOONLAB_ATTN_BLOCK", in: 8...4096) ?? 64

    /// Work items of the attention: (segment, key/value head, first query position of the block), the costliest
    /// first (they are handed out dynamically, see `dynamicParts`).
    private func attentionItems(perBlock: Bool) -> [(seg: Int, kh: Int, i0: Int)] {
        let blk = Self.attentionBlock
        var items: [(seg: Int, kh: Int, i0: Int, cost: Int)] = []
        for (si, s) in segs.enumerated() {
            for kh in 0..<K {
                if perBlock {
                    for i0 in stride(from: 0, to: s.len, by: blk) { items.append((si, kh, i0, min(blk, s.len - i0) * (s.kOffset + min(i0 + blk, s.len)))) }
                } else {
                    items.append((si, kh, 0, s.len * (s.kOffset + s.len)))
                }
            }
        }
        return items.sorted { $0.cost > $1.cost }.map { ($0.seg, $0.kh, $0.i0) }
    }

    /// Runs `body(worker, item)` for every item in `0..<n` on `workers` concurrent threads that take the next item
    /// when they finish one (the attention's items differ in cost: a static split left one core idle).
    func dynamicParts(_ n: Int, workers: Int, _ body: (Int, Int) -> Void) {
        let next = ManagedCounter()
        parallelFor(workers, parts: workers) { w, _, _ in
            while true {
                let i = next.take()
                if i >= n { return }
                body(w, i)
            }
        }
    }

    /// Causal attention of every segment as GEMMs: per (segment, key/value head, block of query positions), the
    /// group's `rep` query heads stacked into `Q [rep·bl, dh]`, `S = Q·Kᵀ` over the visible keys (the shared prefix,
    /// then the segment's own rows), the masked softmax, `O = P·V`. out `[M, HD]` from the rotated qkv; when `lse` is
    /// given (saving for backward), each score row's log-sum-exp goes there (`[M·H]`, in the order segment, key/value
    /// head, position, stacked head), from which backward recomputes the probabilities (they are never stored).
    func attentionForward(_ qkv: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>?) {
        let segs = segs, H = H, K = K, dh = dh, QW = QW, HD = HD, rep = H / K, blk = Self.attentionBlock
        let items = attentionItems(perBlock: true)
        let nt = max(1, min(numThreads(), items.count))
        let maxW = segs.map { $0.kOffset + $0.len }.max() ?? 1
        let R = blk * rep, per = R * maxW + 2 * R * dh
        let scratch = arena.alloc(nt * per)
        withBLASThreads(1) {
            dynamicParts(items.count, workers: nt) { part, it in
                let sb = scratch + part * per, qs = sb + R * maxW, os = qs + R * dh
                do {
                    let (si, kh, i0) = items[it]
                    let (q0, len, kOff) = segs[si]
                    let i1 = min(i0 + blk, len), bl = i1 - i0, rows = bl * rep, w = kOff + i1
                    let kp = qkv + (H + kh) * dh, vp = qkv + (H + K + kh) * dh
                    // The group's query heads are contiguous in a row: one copy of rep·dh floats per position.
                    for i in 0..<bl { (qs + i * rep * dh).update(from: qkv + (q0 + i0 + i) * QW + kh * rep * dh, count: rep * dh) }
                    if kOff > 0 { sgemm(CblasNoTrans, CblasTrans, rows, kOff, dh, 1, qs, dh, kp, QW, 0, sb, w) }
                    sgemm(CblasNoTrans, CblasTrans, rows, i1, dh, 1, qs, dh, kp + q0 * QW, QW, 0, sb + kOff, w)
                    moon_fk_softmax_rows(sb, Int32(w), Int32(rows), Int32(rep), Int32(kOff + i0 + 1), Int32(w),
                                         lse.map { $0 + H * q0 + (kh * len + i0) * rep })
                    if kOff > 0 { sgemm(CblasNoTrans, CblasNoTrans, rows, dh, kOff, 1, sb, w, vp, QW, 0, os, dh) }
                    sgemm(CblasNoTrans, CblasNoTrans, rows, dh, i1, 1, sb + kOff, w, vp + q0 * QW, QW, kOff > 0 ? 1 : 0, os, dh)
                    for i in 0..<bl { (out + (q0 + i0 + i) * HD + kh * rep * dh).update(from: os + i * rep * dh, count: rep * dh) }
                }
            }
        }
    }

    /// Backward of `attentionForward`: dqkv (zeroed here) from dout `[M, HD]`, the forward's output `attn` and its
    /// log-sum-exps. Per block: `S = Q·Kᵀ` again, `dP = dO·Vᵀ`, `P = exp(S − lse)`, `dS = P ⊙ (dP − rowsum(dO ⊙ O))`
    /// (one fused pass), `dV += Pᵀ·dO`, `dQ = dS·K`, `dK += dSᵀ·Q`. Work items are (segment, key/value head), so the
    /// segment's own key/value rows have one writer; those of the shared prefix (read by every segment) are
    /// accumulated in per-thread buffers and summed at the end.
    func attentionBackward(_ qkv: UnsafePointer<Float>, _ attn: UnsafePointer<Float>, _ lse: UnsafePointer<Float>,
                           _ dout: UnsafePointer<Float>, _ dqkv: UnsafeMutablePointer<Float>) {
        let segs = segs, H = H, K = K, dh = dh, QW = QW, HD = HD, rep = H / K, P = layout.shared
        let blk = Self.attentionBlock
        let items = attentionItems(perBlock: false)
        let nt = max(1, min(numThreads(), items.count))
        dqkv.update(repeating: 0, count: M * QW)
        let maxW = segs.map { $0.kOffset + $0.len }.max() ?? 1
        let R = blk * rep, per = 2 * R * maxW + 3 * R * dh + R
        let scratch = arena.alloc(nt * per)
        let kvw = 2 * K * dh
        let priv: UnsafeMutablePointer<Float>? = P > 0 ? arena.alloc(nt * P * kvw, zeroed: true) : nil
        withBLASThreads(1) {
            dynamicParts(items.count, workers: nt) { part, it in
                let sb = scratch + part * per, dp = sb + R * maxW, qs = dp + R * maxW, dos = qs + R * dh, dqs = dos + R * dh
                let dsum = dqs + R * dh
                do {
                    let (si, kh, _) = items[it]
                    let (q0, len, kOff) = segs[si]
                    let kp = qkv + (H + kh) * dh, vp = qkv + (H + K + kh) * dh
                    // Gradient targets of the prefix keys/values (per-thread) and of the own rows (unique to this item).
                    let pk = priv.map { $0 + part * P * kvw + kh * dh }, pv = priv.map { $0 + part * P * kvw + (K + kh) * dh }
                    let ownIsPrefix = q0 < P  // the prefix segment itself
                    let dkOwn = ownIsPrefix ? pk! : dqkv + q0 * QW + (H + kh) * dh
                    let dvOwn = ownIsPrefix ? pv! : dqkv + q0 * QW + (H + K + kh) * dh
                    let ldOwn = ownIsPrefix ? kvw : QW
                    for i0 in stride(from: 0, to: len, by: blk) {
                        let i1 = min(i0 + blk, len), bl = i1 - i0, rows = bl * rep, w = kOff + i1
                        for i in 0..<bl {
                            let r = (q0 + i0 + i)
                            (qs + i * rep * dh).update(from: qkv + r * QW + kh * rep * dh, count: rep * dh)
                            (dos + i * rep * dh).update(from: dout + r * HD + kh * rep * dh, count: rep * dh)
                            moon_fk_row_dots(dout + r * HD + kh * rep * dh, Int32(dh), attn + r * HD + kh * rep * dh, Int32(dh),
                                             Int32(rep), Int32(dh), dsum + i * rep)
                        }
                        // S = Q·Kᵀ (recomputed), dP = dO·Vᵀ
                        if kOff > 0 {
                            sgemm(CblasNoTrans, CblasTrans, rows, kOff, dh, 1, qs, dh, kp, QW, 0, sb, w)
                            sgemm(CblasNoTrans, CblasTrans, rows, kOff, dh, 1, dos, dh, vp, QW, 0, dp, w)
                        }
                        sgemm(CblasNoTrans, CblasTrans, rows, i1, dh, 1, qs, dh, kp + q0 * QW, QW, 0, sb + kOff, w)
                        sgemm(CblasNoTrans, CblasTrans, rows, i1, dh, 1, dos, dh, vp + q0 * QW, QW, 0, dp + kOff, w)
                        // P = exp(S − lse) into sb, dS = P ⊙ (dP − rowsum(dO ⊙ O)) into dp
                        moon_fk_softmax_grad_rows(sb, dp, Int32(w), Int32(rows), Int32(rep), Int32(kOff + i0 + 1), Int32(w),
                                                  lse + H * q0 + (kh * len + i0) * rep, dsum)
                        // dV += Pᵀ·dO; dK += dSᵀ·Q; dQ = dS·K
                        if kOff > 0 {
                            sgemm(CblasTrans, CblasNoTrans, kOff, dh, rows, 1, sb, w, dos, dh, 1, pv!, kvw)
                            sgemm(CblasTrans, CblasNoTrans, kOff, dh, rows, 1, dp, w, qs, dh, 1, pk!, kvw)
                            sgemm(CblasNoTrans, CblasNoTrans, rows, dh, kOff, 1, dp, w, kp, QW, 0, dqs, dh)
                        }
                        sgemm(CblasTrans, CblasNoTrans, i1, dh, rows, 1, sb + kOff, w, dos, dh, 1, dvOwn, ldOwn)
                        sgemm(CblasTrans, CblasNoTrans, i1, dh, rows, 1, dp + kOff, w, qs, dh, 1, dkOwn, ldOwn)
                        sgemm(CblasNoTrans, CblasNoTrans, rows, dh, i1, 1, dp + kOff, w, kp + q0 * QW, QW, kOff > 0 ? 1 : 0, dqs, dh)
                        for i in 0..<bl {
                            (dqkv + (q0 + i0 + i) * QW + kh * rep * dh).update(from: dqs + i * rep * dh, count: rep * dh)
                        }
                    }
                }
            }
        }
        if let priv {
            for c in 0..<nt {
                for r in 0..<P {
                    let src = priv + (c * P + r) * kvw, dst = dqkv + r * QW + H * dh
                    for j in 0..<kvw { dst[j] += src[j] }
                }
            }
        }
    }

    // MARK: forward / backward

    /// Runs the layers over packed input embeddings `[M, D]`; the final hidden states are in `hf`.
    func forward(_ x0: UnsafePointer<Float>) {
        var t0 = Date().timeIntervalSinceReferenceDate
        let M = M, D = D, I = I
        var x = arena.alloc(M * D)
        x.update(from: x0, count: M * D)
        let h = arena.alloc(M * D), act = arena.alloc(M * I)
        func allocSave() -> LayerSave {
            LayerSave(x: x, r1: arena.alloc(M), qkv: arena.alloc(M * QW), lse: arena.alloc(M * H), attn: arena.alloc(M * HD),
                      xmid: arena.alloc(M * D), r2: arena.alloc(M), gu: arena.alloc(M * 2 * I), u: [])
        }
        // Without saving, one set of buffers serves every layer.
        let maxRank = layers.flatMap { $0.linears.map(\.rank) }.max() ?? 0
        let reused: LayerSave? = save ? nil : allocSave()
        let uReused: [UnsafeMutablePointer<Float>?] = save || maxRank == 0 ? [] : (0..<7).map { _ in arena.alloc(M * maxRank) }
        var spare = save ? nil : Optional(arena.alloc(M * D))
        for L in layers {
            var s: LayerSave
            if save {
                s = allocSave()
                s.u = L.linears.map { $0.rank > 0 ? arena.alloc(M * $0.rank) : nil }
            } else {
                s = reused!
                s.x = x
                s.u = L.linears.enumerated().map { i, l in l.rank > 0 ? uReused[i] : nil }
            }
            rmsForward(x, L.norm1, h, s.r1)
            linearForward(L.q, h, D, s.qkv, QW, beta: 0, u: s.u[0])
            linearForward(L.k, h, D, s.qkv + HD, QW, beta: 0, u: s.u[1])
            linearForward(L.v, h, D, s.qkv + HD + K * dh, QW, beta: 0, u: s.u[2])
            rope(s.qkv, inverse: false)
            FusedDecoderProfile.tick("f.norm+qkv+rope", &t0)
            attentionForward(s.qkv, s.attn, lse: save ? s.lse : nil)
            FusedDecoderProfile.tick("f.attn", &t0)
            s.xmid.update(from: x, count: M * D)
            linearForward(L.o, s.attn, HD, s.xmid, D, beta: 1, u: s.u[3])
            rmsForward(s.xmid, L.norm2, h, s.r2)
            linearForward(L.gate, h, D, s.gu, 2 * I, beta: 0, u: s.u[4])
            linearForward(L.up, h, D, s.gu + I, 2 * I, beta: 0, u: s.u[5])
            let gu = s.gu
            parts(M) { _, lo, hi in moon_fk_swiglu(gu + lo * 2 * I, Int32(I), Int32(hi - lo), act + lo * I) }
            let xn: UnsafeMutablePointer<Float>
            if save { xn = arena.alloc(M * D) } else { xn = spare!; spare = x }
            xn.update(from: s.xmid, count: M * D)
            linearForward(L.down, act, I, xn, D, beta: 1, u: s.u[6])
            if save { saves.append(s) }
            x = xn
            FusedDecoderProfile.tick("f.o+mlp", &t0)
        }
        xLast = x
        rf = arena.alloc(M); hf = arena.alloc(M * D)
        rmsForward(x, dec.model.norm.weight, hf, rf)
        forwardMark = arena.mark
    }

    /// Backward from the gradient of the final hidden states `dhf` `[M, D]`: accumulates the gradients of every
    /// parameter that trains into `grads` and returns the gradient of the input embeddings `[M, D]`.
    func backward(_ dhf: UnsafePointer<Float>) -> UnsafeMutablePointer<Float> {
        var t0 = Date().timeIntervalSinceReferenceDate
        let M = M, D = D, I = I
        var dx = arena.alloc(M * D, zeroed: true)
        rmsBackward(dhf, xLast, rf, dec.model.norm.weight, dx)
        var dxl = arena.alloc(M * D)
        let h = arena.alloc(M * D), act = arena.alloc(M * I), dact = arena.alloc(M * I), dgu = arena.alloc(M * 2 * I)
        let dxmid = arena.alloc(M * D), da = arena.alloc(M * HD), dqkv = arena.alloc(M * QW), dnorm = arena.alloc(M * D)
        let maxRank = layers.flatMap { $0.linears.map(\.rank) }.max() ?? 0
        let du = arena.alloc(M * max(maxRank, 1))
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let L = layers[l], s = saves[l]
            // x_{l+1} = xmid + down(act)
            let gu = s.gu
            var t1 = FusedDecoderProfile.now
            parts(M) { _, lo, hi in moon_fk_swiglu(gu + lo * 2 * I, Int32(I), Int32(hi - lo), act + lo * I) }
            dxmid.update(from: dx, count: M * D)
            FusedDecoderProfile.add("~b.mlp.elementwise", since: t1)
            t1 = FusedDecoderProfile.now
            linearBackward(L.down, dx, D, act, I, dact, I, beta: 0, u: s.u[6], du: du)
            FusedDecoderProfile.add("~b.mlp.down", since: t1)
            t1 = FusedDecoderProfile.now
            parts(M) { _, lo, hi in moon_fk_swiglu_backward(gu + lo * 2 * I, dact + lo * I, Int32(I), Int32(hi - lo), dgu + lo * 2 * I) }
            rmsApply(s.xmid, L.norm2, s.r2, h)
            FusedDecoderProfile.add("~b.mlp.elementwise", since: t1)
            linearBackward(L.gate, dgu, 2 * I, h, D, dnorm, D, beta: 0, u: s.u[4], du: du)
            linearBackward(L.up, dgu + I, 2 * I, h, D, dnorm, D, beta: 1, u: s.u[5], du: du)
            FusedDecoderProfile.tick("b.mlp", &t0)
            rmsBackward(dnorm, s.xmid, s.r2, L.norm2, dxmid)
            // xmid = x + o(attn)
            dxl.update(from: dxmid, count: M * D)
            linearBackward(L.o, dxmid, D, s.attn, HD, da, HD, beta: 0, u: s.u[3], du: du)
            FusedDecoderProfile.tick("b.norm2+o", &t0)
            attentionBackward(s.qkv, s.attn, s.lse, da, dqkv)
            FusedDecoderProfile.tick("b.attn", &t0)
            rope(dqkv, inverse: true)
            rmsApply(s.x, L.norm1, s.r1, h)
            linearBackward(L.q, dqkv, QW, h, D, dnorm, D, beta: 0, u: s.u[0], du: du)
            linearBackward(L.k, dqkv + HD, QW, h, D, dnorm, D, beta: 1, u: s.u[1], du: du)
            linearBackward(L.v, dqkv + HD + K * dh, QW, h, D, dnorm, D, beta: 1, u: s.u[2], du: du)
            rmsBackward(dnorm, s.x, s.r1, L.norm1, dxl)
            swap(&dx, &dxl)
            FusedDecoderProfile.tick("b.rope+qkv+norm1", &t0)
        }
        return dx
    }

    /// Makes backward runnable again (a graph kept with retainGraph): its scratch starts over after the forward's.
    func rewindForBackward() {
        arena.rewind(to: forwardMark)
        grads = [:]
    }
}

// MARK: the scoring node

/// Teacher-forced scoring through the fused pass, as one autograd node (see the comment at the top of the file).
enum FusedScoring {
    /// Whether `policy:score`, `lm:score` and `lm:loss` use the fused pass when they can (`MOONLAB_FUSED=0` turns it
    /// off for comparisons).
    nonisolated(unsafe) static var enabled: Bool = Knob.flag("MOONLAB_FUSED", defaultOn: true)
    /// Whether the prompt prefix common to every row is computed once (`MOONLAB_SHARED_PREFIX=0` turns it off).
    nonisolated(unsafe) static var sharePrefix: Bool = Knob.flag("MOONLAB_SHARED_PREFIX", defaultOn: true)
    /// Rows of logits computed at once (`MOONLAB_FUSED_CHUNK`, default 256).
    nonisolated(unsafe) static var chunk = Knob.integer("MOONLAB_FUSED_CHUNK", in: 1...65536) ?? 256
    /// Bytes of logits kept from forward to backward (above it they are recomputed chunk by chunk;
    /// `MOONLAB_FUSED_LOGITS_MB`, default 512: a batch of 8 × 256 scored tokens at SmolLM2's 49,152-token vocabulary
    /// is 403 MB, less than the attention probabilities the pass no longer keeps).
    nonisolated(unsafe) static var logitsBudget: Int = (Knob.integer("MOONLAB_FUSED_LOGITS_MB", in: 0...(1 << 24)) ?? 512) << 20

    /// Why the fused pass cannot run `dec` (with `valueHead`) now; nil when it can.
    static func unsupported(_ dec: LlamaDecoder, valueHead: Linear?) -> String? {
        if dec.lmHead?.lora != nil { return "LoRA on lm_head" }
        if valueHead?.lora != nil { return "LoRA on the value head" }
        for L in dec.model.layers.items {
            for l in [L.selfAttn.qProj, L.selfAttn.kProj, L.selfAttn.vProj, L.selfAttn.oProj, L.mlp.gateProj, L.mlp.upProj, L.mlp.downProj] {
                if let ad = l.lora, ad.enabled, ad.dropout > 0, l.training { return "LoRA dropout in training mode" }
                if !l.weight.isContiguous || !(l.bias?.isContiguous ?? true) { return "non-contiguous weights" }
            }
        }
        return nil
    }

    /// Scores `rows` (row b, position j: the hidden state at j predicts `targets[i]`) of the batch whose input
    /// embeddings are `x` `[B, T, D]` (row b valid at positions `0..<lengths[b]`), and the value head at `valueRows`
    /// (one position per row). Returns log-probs `[n]`, entropies `[n]` (of softmax(logits / temperature)) and values
    /// `[B]` — views of one autograd node's output.
    static func score(_ dec: LlamaDecoder, embeddings x: Tensor, lengths: [Int], shared: Int, rows: [(Int, Int)], targets: [Int],
                      temperature: Float, valueHead: Linear?, valueRows: [Int]?) throws -> (logProbs: Tensor, entropies: Tensor, values: Tensor?) {
        let b = x.shape[0], t = x.shape[1], D = dec.config.hiddenSize, V = dec.config.vocabSize
        guard x.ndim == 3, x.shape[2] == D, lengths.count == b, lengths.allSatisfy({ $0 > 0 && $0 <= t }) else {
            throw ModelError.invalidArgument("score: the fused pass expected embeddings [B, T, \(D)] and B row lengths in 1...T")
        }
        let shared = FusedScoring.sharePrefix ? max(0, min(shared, (lengths.min() ?? 1) - 1)) : 0
        let layout = FusedLayout(lengths: lengths, shared: shared)
        let n = rows.count, nv = valueRows == nil ? 0 : b
        // Inputs of the node: the embeddings and every parameter that trains.
        var params: [Tensor] = []
        var seen = Set<ObjectIdentifier>()
        func add(_ t: Tensor?) { if let t, t.requiresGrad, seen.insert(ObjectIdentifier(t)).inserted { params.append(t) } }
        for L in dec.model.layers.items.map(FusedLayer.init) {
            for l in L.linears { for p in l.parameters { add(p) } }
            add(L.norm1); add(L.norm2)
        }
        add(dec.model.norm.weight); add(dec.outputWeight)
        if nv > 0, let vh = valueHead { add(vh.weight); add(vh.bias) }
        let train = GradMode.isEnabled && (x.requiresGrad || !params.isEmpty)
        let pass = FusedDecoderPass(dec, layout: layout, save: train)
        let M = layout.rows
        // Pack the embeddings.
        let xc = x.detach().contiguous()
        let packed = pass.arena.alloc(M * D)
        do {
            let src = xc.mPtr
            if shared > 0 { packed.update(from: src, count: shared * D) }
            for r in 0..<b where lengths[r] > shared {
                (packed + layout.offsets[r] * D).update(from: src + (r * t + shared) * D, count: (lengths[r] - shared) * D)
            }
        }
        try Interrupt.check()
        pass.forward(packed)
        try Interrupt.check()
        var t0 = Date().timeIntervalSinceReferenceDate
        // Head: logits of the scored rows a chunk at a time; log-softmax, gather and entropy fused.
        let sel = rows.map { layout.packed($0.0, $0.1) }
        let hsel = pass.arena.alloc(n * D), lse = pass.arena.alloc(n), ent = pass.arena.alloc(n)
        let out = try Tensor.zeros([2 * n + nv])
        let op = out.mPtr
        for (i, r) in sel.enumerated() { (hsel + i * D).update(from: pass.hf + r * D, count: D) }
        let wout = dec.outputWeight.mPtr, invT = 1 / temperature
        let C = min(chunk, max(n, 1))
        let logits = pass.arena.alloc(C * V)
        // Logits kept for backward when they fit the budget (else recomputed there, a chunk at a time).
        let stored: UnsafeMutablePointer<Float>? = train && n * V <= logitsBudget / 4 ? pass.arena.alloc(n * V) : nil
        for c0 in stride(from: 0, to: n, by: C) {
            let c = min(C, n - c0)
            let zc = stored.map { $0 + c0 * V } ?? logits
            sgemm(CblasNoTrans, CblasTrans, c, V, D, invT, hsel + c0 * D, D, wout, D, 0, zc, V)
            FusedDecoderProfile.tick("f.head.gemm", &t0)
            pass.parts(c) { _, lo, hi in
                for i in lo..<hi {
                    let z = zc + i * V
                    moon_fk_log_softmax_stats(z, Int32(V), lse + c0 + i, ent + c0 + i)
                    op[c0 + i] = z[targets[c0 + i]] - lse[c0 + i]
                    op[n + c0 + i] = ent[c0 + i]
                }
            }
            FusedDecoderProfile.tick("f.head.sm", &t0)
        }
        if nv > 0, let vh = valueHead, let vr = valueRows {
            let w = vh.weight.mPtr, bias = vh.bias.map { $0.mPtr[0] } ?? 0
            for r in 0..<b {
                let hrow = pass.hf + layout.packed(r, vr[r]) * D
                var s: Float = 0
                for j in 0..<D { s += hrow[j] * w[j] }
                op[2 * n + r] = s + bias
            }
        }
        FusedDecoderProfile.tick("f.head", &t0)
        var node = out
        if train {
            let inputs = [x] + params
            let vhead = nv > 0 ? valueHead : nil
            let vrows = valueRows
            var ran = false
            node = Tensor.customOp("fusedScore", output: out, inputs: inputs) { g in
                if ran { pass.rewindForBackward() }
                ran = true
                var t0 = Date().timeIntervalSinceReferenceDate
                let gc = g.contiguous(), gp = gc.mPtr
                let dhf = pass.arena.alloc(M * D, zeroed: true)
                // Head backward, chunk by chunk (logits recomputed).
                let dhs = pass.arena.alloc(C * D)
                let gW = pass.grad(dec.outputWeight)
                for c0 in stride(from: 0, to: n, by: C) {
                    let c = min(C, n - c0)
                    let zc: UnsafeMutablePointer<Float>
                    if let st = stored { zc = st + c0 * V } else {
                        sgemm(CblasNoTrans, CblasTrans, c, V, D, invT, hsel + c0 * D, D, wout, D, 0, logits, V)
                        zc = logits
                    }
                    FusedDecoderProfile.tick("b.head.gemm", &t0)
                    pass.parts(c) { _, lo, hi in
                        for i in lo..<hi {
                            let z = zc + i * V, dz = logits + i * V, l = lse[c0 + i], h = ent[c0 + i]
                            let glp = gp[c0 + i], gh = gp[n + c0 + i]
                            // d/dz of glp·(z_t − lse) + gh·H, H = −Σ p log p: glp(δ − p) − gh·p(log p + H); then /T.
                            moon_fk_log_softmax_grad(z, dz, Int32(V), l, h, glp, gh, invT)
                            dz[targets[c0 + i]] += glp * invT
                        }
                    }
                    FusedDecoderProfile.tick("b.head.sm", &t0)
                    sgemm(CblasNoTrans, CblasNoTrans, c, D, V, 1, logits, V, wout, D, 0, dhs, D)
                    if let gW { sgemm(CblasTrans, CblasNoTrans, V, D, c, 1, logits, V, hsel + c0 * D, D, 1, gW, D) }
                    for i in 0..<c {
                        let o = dhf + sel[c0 + i] * D, src = dhs + i * D
                        for j in 0..<D { o[j] += src[j] }
                    }
                }
                // A value head the loss does not use gets no gradient (as autograd leaves it without one).
                var valueUsed = false
                if vhead != nil { for r in 0..<b where gp[2 * n + r] != 0 { valueUsed = true } }
                if valueUsed, let vh = vhead, let vr = vrows {
                    let w = vh.weight.mPtr
                    let gw = pass.grad(vh.weight), gb = pass.grad(vh.bias)
                    for r in 0..<b {
                        let gv = gp[2 * n + r], row = layout.packed(r, vr[r])
                        let hrow = pass.hf + row * D, o = dhf + row * D
                        for j in 0..<D { o[j] += gv * w[j] }
                        if let gw { for j in 0..<D { gw[j] += gv * hrow[j] } }
                        gb?[0] += gv
                    }
                }
                FusedDecoderProfile.tick("b.head", &t0)
                try Interrupt.check()
                let dx = pass.backward(dhf)
                FusedDecoderProfile.report("M=\(M) n=\(n) shared=\(shared)")
                var result: [Tensor?] = []
                if x.requiresGrad {
                    result.append(Tensor.make([b, t, D]) { o in
                        if shared > 0 { o.update(from: dx, count: shared * D) }
                        for r in 0..<b where lengths[r] > shared {
                            (o + (r * t + shared) * D).update(from: dx + layout.offsets[r] * D, count: (lengths[r] - shared) * D)
                        }
                    })
                } else {
                    result.append(nil)
                }
                for p in params {
                    if let (_, buf) = pass.grads[ObjectIdentifier(p)], valueUsed || (p !== vhead?.weight && p !== vhead?.bias) {
                        result.append(Tensor.make(p.shape) { $0.update(from: buf, count: p.count) })
                    } else {
                        result.append(nil)
                    }
                }
                return result
            }
        }
        let lp = try node.narrow(dim: 0, start: 0, length: n)
        let en = try node.narrow(dim: 0, start: n, length: n)
        let vals = nv > 0 ? try node.narrow(dim: 0, start: 2 * n, length: b) : nil
        return (lp, en, vals)
    }
}

extension LlamaDecoder {
    /// Frees the scratch memory fused passes keep between steps (activations of the last batch: about
    /// 23 KB per token and layer at 135M, plus the attention probabilities).
    public func releaseTrainingWorkspace() { trainingArenas.release() }

    /// Fused next-token training step: returns the mean cross-entropy of ids `[B, T]` (as `lmLoss`) and accumulates
    /// its gradients into the parameters' `grad`. `lossMask[b][j]` selects which tokens count as targets (default:
    /// all but the first of each row).
    @discardableResult
    public func lmLossBackward(_ ids: Tensor, lossMask: [[Bool]]? = nil) throws -> Float {
        let l = try Tensor.enableGrad { try lmLoss(ids, lossMask: lossMask, fused: true) }
        if l.requiresGrad { try l.backward() }
        return try l.item()
    }
}
