import Foundation
import MoonTensor
import CBLAS
import Dispatch

/// C[m, n] (+)= A[k, m]ᵀ · B[k, n].
@inline(__always)
func gemmTN(_ m: Int, _ n: Int, _ k: Int, _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
            _ c: UnsafeMutablePointer<Float>, _ ldc: Int, beta: Float = 0) {
    if m == 0 || n == 0 { return }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(lda), b, Int32(ldb),
                beta, c, Int32(ldc))
}

/// Scratch memory for a training step. Blocks are handed out in request order and kept after `reset()`, so a
/// repeated step with the same shapes reuses them (no page faults on ~100 MB of fresh memory every step).
final class Arena {
    private var blocks: [(ptr: UnsafeMutablePointer<Float>, capacity: Int)] = []
    private var cursor = 0
    func reset() { cursor = 0 }
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

/// A hand-written forward and backward pass of the decoder for next-token cross-entropy (SFT / language-model
/// training), without an autograd graph: one BLAS call per projection for the whole batch, fused RMSNorm, RoPE,
/// SwiGLU, softmax and cross-entropy loops, causal softmax over the visible keys only. Gradients are accumulated
/// into the parameters' `grad` exactly as `backward()` of `LlamaDecoder.lmLoss` would (tests compare the two).
enum FusedDecoderTraining {
    nonisolated(unsafe) static var profile: [String: Double] = [:]
    nonisolated(unsafe) static var profiling = false
    @inline(__always) static func tick(_ name: String, _ t0: inout Double) {
        guard profiling else { return }
        let now = Date().timeIntervalSinceReferenceDate
        profile[name, default: 0] += now - t0
        t0 = now
    }
    struct LayerSave {
        var x, h1, qkv, probs, attn, xmid, h2, gu, act: UnsafeMutablePointer<Float>
        var r1, r2: UnsafeMutablePointer<Float>
    }

    /// Runs `body(part, lo, hi)` over `0..<n` split into `numThreads()` parts on concurrent threads.
    static func parts(_ n: Int, _ body: (Int, Int, Int) -> Void) {
        let k = Swift.max(1, Swift.min(numThreads(), n))
        if k == 1 { body(0, 0, n); return }
        DispatchQueue.concurrentPerform(iterations: k) { c in body(c, n * c / k, n * (c + 1) / k) }
    }

    static func rmsForwardParallel(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                                   _ r: UnsafeMutablePointer<Float>, rows: Int, d: Int, eps: Float) {
        parts(rows) { _, lo, hi in rmsForward(x + lo * d, w, out + lo * d, r + lo, rows: hi - lo, d: d, eps: eps) }
    }

    /// rmsBackward with rows split across threads; the weight gradient is reduced from per-part partials.
    static func rmsBackwardParallel(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ r: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                    _ dx: UnsafeMutablePointer<Float>, _ dw: UnsafeMutablePointer<Float>, rows: Int, d: Int) {
        let k = Swift.max(1, numThreads())
        let partial = UnsafeMutablePointer<Float>.allocate(capacity: k * d)
        partial.initialize(repeating: 0, count: k * d)
        defer { partial.deallocate() }
        parts(rows) { c, lo, hi in
            rmsBackward(dy + lo * d, x + lo * d, r + lo, w, dx + lo * d, partial + c * d, rows: hi - lo, d: d)
        }
        for c in 0..<k { for j in 0..<d { dw[j] += partial[c * d + j] } }
    }

    static func rmsForward(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                           _ r: UnsafeMutablePointer<Float>, rows: Int, d: Int, eps: Float) {
        for n in 0..<rows {
            let xr = x + n * d, o = out + n * d
            var s: Float = 0
            for j in 0..<d { s += xr[j] * xr[j] }
            let inv = 1 / (s / Float(d) + eps).squareRoot()
            r[n] = inv
            for j in 0..<d { o[j] = xr[j] * inv * w[j] }
        }
    }

    /// dx (+)= RMSNorm backward of dy; dw += Σ dy·x·r.
    static func rmsBackward(_ dy: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ r: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                            _ dx: UnsafeMutablePointer<Float>, _ dw: UnsafeMutablePointer<Float>, rows: Int, d: Int) {
        for n in 0..<rows {
            let dyr = dy + n * d, xr = x + n * d, o = dx + n * d, rn = r[n]
            var dot: Float = 0
            for j in 0..<d { dot += dyr[j] * w[j] * xr[j]; dw[j] += dyr[j] * xr[j] * rn }
            let k = rn * rn * rn * dot / Float(d)
            for j in 0..<d { o[j] += rn * dyr[j] * w[j] - xr[j] * k }
        }
    }

    /// Mean next-token cross-entropy of `ids` (`[b][t]`), targets at `target[b][j]` (position j predicts j+1)
    /// counted where `lossMask[b][j + 1]`; accumulates gradients into the decoder's parameters. `prefix`:
    /// optional input embeddings `[b, p, hidden]` placed before the ids; returns their gradient when given.
    static func lmLossBackward(_ dec: LlamaDecoder, ids: [[Int]], valid: [[Bool]]?, lossMask: [[Bool]]?,
                               prefix: Tensor? = nil) throws -> (loss: Float, prefixGrad: Tensor?) {
        let c = dec.config
        let bsz = ids.count
        guard bsz > 0, let tIds = ids.first?.count, ids.allSatisfy({ $0.count == tIds }) else {
            throw ModelError.invalidArgument("train: ids must be a non-empty rectangular batch")
        }
        if dec.config.attentionBias {
            throw ModelError.invalidArgument("train: the fused training path does not support attention biases (qwen2); use lmLoss(...).backward()")
        }
        if !LoRA.adapted(dec).isEmpty {
            throw ModelError.invalidArgument("train: the fused training path does not support LoRA adapters; use lmLoss(...).backward()")
        }
        let p = prefix?.shape[1] ?? 0
        if let pre = prefix, pre.ndim != 3 || pre.shape[0] != bsz || pre.shape[2] != c.hiddenSize {
            throw ModelError.invalidArgument("train: prefix must be [\(bsz), P, \(c.hiddenSize)], got \(shapeString(pre.shape))")
        }
        let t = p + tIds
        let D = c.hiddenSize, H = c.numAttentionHeads, K = c.numKeyValueHeads, dh = c.resolvedHeadDim
        let rep = H / K, QW = (H + 2 * K) * dh, I = c.intermediateSize, V = c.vocabSize, N = bsz * t, HD = H * dh
        let eps = c.rmsNormEps, scale = 1 / Float(dh).squareRoot()
        for row in ids { if let bad = row.first(where: { $0 < 0 || $0 >= V }) { throw ModelError.invalidArgument("train: token id \(bad) outside the vocabulary (\(V))") } }
        var vmask = [[Bool]](repeating: [Bool](repeating: true, count: t), count: bsz)
        if let v = valid {
            guard v.count == bsz, v.allSatisfy({ $0.count == tIds }) else { throw ModelError.invalidArgument("train: valid mask must be [\(bsz)][\(tIds)]") }
            for b in 0..<bsz { for j in 0..<tIds { vmask[b][p + j] = v[b][j] } }
        }
        let positions = LlamaDecoder.positions(valid: vmask)
        var t0 = Date().timeIntervalSinceReferenceDate
        let ar = dec.trainingWorkspace
        ar.reset()
        // RoPE tables per position.
        let maxPos = positions.map { $0.max() ?? 0 }.max() ?? 0
        let cosT = ar.alloc((maxPos + 1) * dh), sinT = ar.alloc((maxPos + 1) * dh)
        for q in 0...maxPos { dec.rope.angles(q, cos: cosT + q * dh, sin: sinT + q * dh) }
        // Packed weights.
        let layers = dec.model.layers.items
        let wqkv = layers.map { _ in ar.alloc(QW * D) }, wgu = layers.map { _ in ar.alloc(2 * I * D) }
        for (l, L) in layers.enumerated() {
            let a = L.selfAttn
            wqkv[l].update(from: a.qProj.weight.mPtr, count: HD * D)
            (wqkv[l] + HD * D).update(from: a.kProj.weight.mPtr, count: K * dh * D)
            (wqkv[l] + (HD + K * dh) * D).update(from: a.vProj.weight.mPtr, count: K * dh * D)
            wgu[l].update(from: L.mlp.gateProj.weight.mPtr, count: I * D)
            (wgu[l] + I * D).update(from: L.mlp.upProj.weight.mPtr, count: I * D)
        }
        let emb = dec.model.embedTokens.weight.mPtr
        let wout = dec.outputWeight.mPtr
        // Forward.
        var x = ar.alloc(N * D)
        for b in 0..<bsz {
            if let pre = prefix { (x + b * t * D).update(from: pre.contiguous().mPtr + b * p * D, count: p * D) }
            for j in 0..<tIds { (x + (b * t + p + j) * D).update(from: emb + ids[b][j] * D, count: D) }
        }
        var saves: [LayerSave] = []
        let sbufs = ar.alloc(t * t * max(numThreads(), 1))
        for (l, L) in layers.enumerated() {
            let s = LayerSave(x: x, h1: ar.alloc(N * D), qkv: ar.alloc(N * QW), probs: ar.alloc(bsz * H * t * t, zeroed: true),
                              attn: ar.alloc(N * HD), xmid: ar.alloc(N * D), h2: ar.alloc(N * D), gu: ar.alloc(N * 2 * I),
                              act: ar.alloc(N * I), r1: ar.alloc(N), r2: ar.alloc(N))
            rmsForwardParallel(x, L.inputLayernorm.weight.mPtr, s.h1, s.r1, rows: N, d: D, eps: eps)
            gemmNT(N, QW, D, s.h1, D, wqkv[l], D, s.qkv, QW)
            tick("f.norm+qkv", &t0)
            parts(bsz) { _, lo, hi in
                for b in lo..<hi {
                    for j in 0..<t {
                        let row = s.qkv + (b * t + j) * QW, ps = positions[b][j]
                        for hh in 0..<H { RoPE.rotate(row + hh * dh, cos: cosT + ps * dh, sin: sinT + ps * dh, dh, scale: scale) }
                        for kh in 0..<K { RoPE.rotate(row + (H + kh) * dh, cos: cosT + ps * dh, sin: sinT + ps * dh, dh) }
                    }
                }
            }
            tick("f.rope", &t0)
            // Small per-head GEMMs: single-threaded BLAS, (row, kv-head) groups split across threads.
            withBLASThreads(1) {
            parts(bsz * K) { part, lo, hi in
            let sbuf = sbufs + part * t * t
            for grp in lo..<hi {
                let b = grp / K
                for hh in ((grp % K) * rep)..<((grp % K + 1) * rep) {
                    let kh = hh / rep
                    let q = s.qkv + b * t * QW + hh * dh, k = s.qkv + b * t * QW + (H + kh) * dh, v = s.qkv + b * t * QW + (H + K + kh) * dh
                    let pm = s.probs + (b * H + hh) * t * t
                    gemmNT(t, t, dh, q, QW, k, QW, sbuf, t)
                    for i in 0..<t {
                        let srow = sbuf + i * t, prow = pm + i * t
                        var m = -Float.infinity
                        for j in 0...i where vmask[b][j] && srow[j] > m { m = srow[j] }
                        if m == -Float.infinity { continue }  // a padding query with no visible key: zero output
                        var sum: Float = 0
                        for j in 0...i { if vmask[b][j] { let e = fexp(srow[j] - m); prow[j] = e; sum += e } }
                        let inv = 1 / sum
                        for j in 0...i { prow[j] *= inv }
                    }
                    gemmNN(t, dh, t, pm, t, v, QW, s.attn + b * t * HD + hh * dh, HD)
                }
            }
            }
            }
            tick("f.attn", &t0)
            s.xmid.update(from: x, count: N * D)
            gemmNT(N, D, HD, s.attn, HD, L.selfAttn.oProj.weight.mPtr, HD, s.xmid, D, beta: 1)
            rmsForwardParallel(s.xmid, L.postAttentionLayernorm.weight.mPtr, s.h2, s.r2, rows: N, d: D, eps: eps)
            gemmNT(N, 2 * I, D, s.h2, D, wgu[l], D, s.gu, 2 * I)
            parts(N) { _, lo, hi in
                for n in lo..<hi {
                    let g = s.gu + n * 2 * I, u = g + I, o = s.act + n * I
                    for i in 0..<I { let gv = g[i]; o[i] = gv / (1 + fexp(-gv)) * u[i] }
                }
            }
            let xn = ar.alloc(N * D)
            xn.update(from: s.xmid, count: N * D)
            gemmNT(N, D, I, s.act, I, L.mlp.downProj.weight.mPtr, I, xn, D, beta: 1)
            saves.append(s)
            x = xn
            tick("f.o+mlp", &t0)
        }
        let rf = ar.alloc(N), hf = ar.alloc(N * D)
        rmsForwardParallel(x, dec.model.norm.weight.mPtr, hf, rf, rows: N, d: D, eps: eps)
        // Loss rows: position p + j (j < tIds - 1) predicts ids[b][j + 1].
        var rows: [(Int, Int)] = []
        for b in 0..<bsz {
            for j in 0..<(tIds - 1) where lossMask?[b][j + 1] ?? vmask[b][p + j + 1] { rows.append((b * t + p + j, ids[b][j + 1])) }
        }
        guard !rows.isEmpty else { throw ModelError.invalidArgument("train: no target tokens (check the loss mask)") }
        let nr = rows.count
        let hsel = ar.alloc(nr * D), logits = ar.alloc(nr * V)
        for (i, (r, _)) in rows.enumerated() { (hsel + i * D).update(from: hf + r * D, count: D) }
        gemmNT(nr, V, D, hsel, D, wout, D, logits, V)
        let invCount = 1 / Float(nr)
        let partLoss = UnsafeMutablePointer<Double>.allocate(capacity: max(numThreads(), 1))
        partLoss.initialize(repeating: 0, count: max(numThreads(), 1))
        defer { partLoss.deallocate() }
        parts(nr) { part, lo, hi in
            var acc: Double = 0
            for i in lo..<hi {
                let target = rows[i].1
                let lg = logits + i * V
                var m = -Float.infinity
                for v in 0..<V where lg[v] > m { m = lg[v] }
                for v in 0..<V { lg[v] = fexp(lg[v] - m) }
                var sum: Float = 0
                for v in 0..<V { sum += lg[v] }
                acc -= Double(Foundation.logf(lg[target] / sum))
                let inv = invCount / sum
                for v in 0..<V { lg[v] *= inv }          // dlogits = (softmax - onehot) / count
                lg[target] -= invCount
            }
            partLoss[part] = acc
        }
        var loss: Double = 0
        for c in 0..<max(numThreads(), 1) { loss += partLoss[c] }
        tick("f.head+loss", &t0)
        // Backward.
        var grads: [ObjectIdentifier: UnsafeMutablePointer<Float>] = [:]
        func g(_ t: Tensor) -> UnsafeMutablePointer<Float> {
            if let p = grads[ObjectIdentifier(t)] { return p }
            let p = ar.alloc(t.count, zeroed: true)
            grads[ObjectIdentifier(t)] = p
            return p
        }
        gemmTN(V, D, nr, logits, V, hsel, D, g(dec.outputWeight), D, beta: 1)
        let dhsel = ar.alloc(nr * D)
        gemmNN(nr, D, V, logits, V, wout, D, dhsel, D)
        let dhf = ar.alloc(N * D, zeroed: true)
        for (i, (r, _)) in rows.enumerated() {
            let o = dhf + r * D, src = dhsel + i * D
            for j in 0..<D { o[j] += src[j] }
        }
        var dx = ar.alloc(N * D, zeroed: true)
        rmsBackwardParallel(dhf, x, rf, dec.model.norm.weight.mPtr, dx, g(dec.model.norm.weight), rows: N, d: D)
        let dact = ar.alloc(N * I), dgu = ar.alloc(N * 2 * I), dh2 = ar.alloc(N * D), da = ar.alloc(N * HD)
        let dqkv = ar.alloc(N * QW), dh1 = ar.alloc(N * D), dps = ar.alloc(t * t * max(numThreads(), 1))
        for l in stride(from: layers.count - 1, through: 0, by: -1) {
            let L = layers[l], s = saves[l]
            // x_{l+1} = xmid + act·Wdᵀ
            let dxmid = ar.alloc(N * D)
            dxmid.update(from: dx, count: N * D)
            gemmNN(N, I, D, dx, D, L.mlp.downProj.weight.mPtr, I, dact, I)
            gemmTN(D, I, N, dx, D, s.act, I, g(L.mlp.downProj.weight), I, beta: 1)
            parts(N) { _, lo, hi in
                for n in lo..<hi {
                    let gg = s.gu + n * 2 * I, uu = gg + I, dA = dact + n * I, o = dgu + n * 2 * I
                    for i in 0..<I {
                        let gv = gg[i], sg = 1 / (1 + fexp(-gv))
                        o[i] = dA[i] * uu[i] * sg * (1 + gv * (1 - sg))
                        o[I + i] = dA[i] * gv * sg
                    }
                }
            }
            gemmTN(I, D, N, dgu, 2 * I, s.h2, D, g(L.mlp.gateProj.weight), D, beta: 1)
            gemmTN(I, D, N, dgu + I, 2 * I, s.h2, D, g(L.mlp.upProj.weight), D, beta: 1)
            gemmNN(N, D, 2 * I, dgu, 2 * I, wgu[l], D, dh2, D)
            tick("b.mlp", &t0)
            rmsBackwardParallel(dh2, s.xmid, s.r2, L.postAttentionLayernorm.weight.mPtr, dxmid, g(L.postAttentionLayernorm.weight), rows: N, d: D)
            // xmid = x + attn·Woᵀ
            let dxl = ar.alloc(N * D)
            dxl.update(from: dxmid, count: N * D)
            gemmNN(N, HD, D, dxmid, D, L.selfAttn.oProj.weight.mPtr, HD, da, HD)
            gemmTN(D, HD, N, dxmid, D, s.attn, HD, g(L.selfAttn.oProj.weight), HD, beta: 1)
            tick("b.norm2+o", &t0)
            dqkv.update(repeating: 0, count: N * QW)
            withBLASThreads(1) {
            parts(bsz * K) { part, lo, hi in
            let dp = dps + part * t * t
            for grp in lo..<hi {
                let b = grp / K
                for hh in ((grp % K) * rep)..<((grp % K + 1) * rep) {
                    let kh = hh / rep, base = b * t * QW
                    let q = s.qkv + base + hh * dh, k = s.qkv + base + (H + kh) * dh, v = s.qkv + base + (H + K + kh) * dh
                    let pm = s.probs + (b * H + hh) * t * t, dO = da + b * t * HD + hh * dh
                    gemmNT(t, t, dh, dO, HD, v, QW, dp, t)                                   // dP = dO Vᵀ
                    gemmTN(t, dh, t, pm, t, dO, HD, dqkv + base + (H + K + kh) * dh, QW, beta: 1)  // dV += Pᵀ dO
                    for i in 0..<t {                                                      // dS = P ⊙ (dP − Σ dP⊙P)
                        let prow = pm + i * t, drow = dp + i * t
                        var sdot: Float = 0
                        for j in 0...i { sdot += prow[j] * drow[j] }
                        for j in 0...i { drow[j] = prow[j] * (drow[j] - sdot) }
                        for j in (i + 1)..<max(t, i + 1) { drow[j] = 0 }
                    }
                    gemmNN(t, dh, t, dp, t, k, QW, dqkv + base + hh * dh, QW, beta: 1)     // dQ = dS K
                    gemmTN(t, dh, t, dp, t, q, QW, dqkv + base + (H + kh) * dh, QW, beta: 1) // dK += dSᵀ Q
                }
            }
            }
            }
            tick("b.attn", &t0)
            // RoPE backward (inverse rotation; queries also carry the scale).
            parts(bsz) { _, lo, hi in
                for b in lo..<hi {
                    for j in 0..<t {
                        let row = dqkv + (b * t + j) * QW, ps = positions[b][j]
                        let cs = cosT + ps * dh, sn = sinT + ps * dh, half = dh / 2
                        for head in 0..<(H + K) {
                            let xr = row + head * dh, sc: Float = head < H ? scale : 1
                            for i in 0..<half {
                                let a = xr[i], bb = xr[i + half]
                                xr[i] = (a * cs[i] + bb * sn[i + half]) * sc
                                xr[i + half] = (bb * cs[i + half] - a * sn[i]) * sc
                            }
                        }
                    }
                }
            }
            let a = L.selfAttn
            gemmTN(HD, D, N, dqkv, QW, s.h1, D, g(a.qProj.weight), D, beta: 1)
            gemmTN(K * dh, D, N, dqkv + HD, QW, s.h1, D, g(a.kProj.weight), D, beta: 1)
            gemmTN(K * dh, D, N, dqkv + HD + K * dh, QW, s.h1, D, g(a.vProj.weight), D, beta: 1)
            gemmNN(N, D, QW, dqkv, QW, wqkv[l], D, dh1, D)
            rmsBackwardParallel(dh1, s.x, s.r1, L.inputLayernorm.weight.mPtr, dxl, g(L.inputLayernorm.weight), rows: N, d: D)
            dx = dxl
            tick("b.rope+qkv+norm1", &t0)
        }
        // Embedding rows (and the prefix gradient).
        let de = g(dec.model.embedTokens.weight)
        for b in 0..<bsz {
            for j in 0..<tIds {
                let o = de + ids[b][j] * D, src = dx + (b * t + p + j) * D
                for k in 0..<D { o[k] += src[k] }
            }
        }
        var prefixGrad: Tensor? = nil
        if p > 0 {
            prefixGrad = Tensor.make([bsz, p, D]) { o in
                for b in 0..<bsz { (o + b * p * D).update(from: dx + b * t * D, count: p * D) }
            }
        }
        // Accumulate into .grad.
        for (_, param) in dec.namedParameters() {
            guard param.requiresGrad, let src = grads[ObjectIdentifier(param)] else { continue }
            if let existing = param.grad, existing.shape == param.shape, existing.isContiguous {
                let o = existing.mPtr
                for i in 0..<param.count { o[i] += src[i] }
            } else {
                param.grad = Tensor.make(param.shape) { $0.update(from: src, count: param.count) }
            }
        }
        tick("b.embed+accumulate", &t0)
        return (Float(loss / Double(nr)), prefixGrad)
    }
}

extension LlamaDecoder {
    /// Frees the scratch memory the fused training step keeps between steps (about
    /// 4·B·T·(5·hidden + 3·intermediate) + 4·B·heads·T² bytes per layer).
    public func releaseTrainingWorkspace() { trainingWorkspace.release() }

    /// Fused next-token training step: returns the mean cross-entropy of ids `[B, T]` (as `lmLoss`) and accumulates
    /// its gradients into the parameters' `grad` (no autograd graph; much faster than `lmLoss(ids).backward()`).
    /// `lossMask[b][j]` selects which tokens count as targets (default: all but the first of each row).
    /// Not available with LoRA adapters attached (use the autograd path there).
    @discardableResult
    public func lmLossBackward(_ ids: Tensor, lossMask: [[Bool]]? = nil) throws -> Float {
        guard ids.dtype == .int64, ids.ndim == 2, ids.shape[1] >= 2 else {
            throw ModelError.invalidArgument("train: expected int64 ids of shape [B, T] with T >= 2, got \(ids.dtype) \(shapeString(ids.shape))")
        }
        let b = ids.shape[0], t = ids.shape[1]
        let flat = ids.toIntArray()
        let rows = (0..<b).map { Array(flat[($0 * t)..<(($0 + 1) * t)]) }
        if let m = lossMask, m.count != b || !m.allSatisfy({ $0.count == t }) {
            throw ModelError.invalidArgument("train: loss mask must be [\(b)][\(t)]")
        }
        return try Tensor.noGrad { try FusedDecoderTraining.lmLossBackward(self, ids: rows, valid: nil, lossMask: lossMask).loss }
    }
}
