import MoonTensor
import Dispatch
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Per-tensor merge kernels over flat Float buffers. Inputs and output are contiguous, equally long.
/// Large tensors are split across `threads` workers; results do not depend on the thread count.
public enum MergeKernels {
    /// Default worker count: the number of online processors (at most 16).
    public static var defaultThreads: Int { max(1, min(16, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))) }

    /// Accumulated seconds in the selection phase and the fused phase of task-arithmetic merges (diagnostics for
    /// the benchmark).
    public static var phaseSeconds: (selection: Double, fused: Double) {
        Diagnostics.queue.sync { (Diagnostics.selectionSeconds, Diagnostics.fusedSeconds) }
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

    /// Elements below which a tensor is processed on one thread.
    static let parallelThreshold = 1 << 16

    /// Runs body over `count` elements split into contiguous chunks.
    static func parallelChunks(_ count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
        let t = count < parallelThreshold ? 1 : max(1, min(threads, count / (parallelThreshold / 2)))
        if t == 1 { body(0..<count); return }
        // a few chunks per thread for balance
        parallelFor(count, parts: t * 4) { _, lo, hi in body(lo..<hi) }
    }

    /// Merges one tensor. `base` is required for slerp and the task-arithmetic family and ignored otherwise
    /// (pass nil). `name` seeds DARE's random mask and labels errors.
    public static func merge(_ method: MergeMethod, name: String, base: UnsafeBufferPointer<Float>?,
                             inputs: [UnsafeBufferPointer<Float>], out: UnsafeMutableBufferPointer<Float>,
                             threads: Int = MergeKernels.defaultThreads) throws {
        try method.validate(inputCount: inputs.count, hasBase: base != nil)
        let n = out.count
        for (i, x) in inputs.enumerated() where x.count != n {
            throw MergeError("tensor \"\(name)\": model #\(i) has \(x.count) values, expected \(n)")
        }
        if let b = base, b.count != n { throw MergeError("tensor \"\(name)\": base has \(b.count) values, expected \(n)") }
        if n == 0 { return }
        let ptrs = inputs.map { $0.baseAddress! }
        let o = out.baseAddress!
        switch method {
        case let .linear(weights, normalize):
            linear(ptrs, weights: weights.map { Float($0) }, normalize: normalize, out: o, count: n, threads: threads)
        case let .ema(decay):
            ema(ptrs, decay: decay, out: o, count: n, threads: threads)
        case let .slerp(t):
            slerp(t: t, base!.baseAddress!, ptrs[0], out: o, count: n, threads: threads)
        case let .generalized(g):
            generalized(g, name: name, base: base!.baseAddress!, ptrs, out: o, count: n, threads: threads)
        }
    }

    // MARK: linear / ema

    static func linear(_ xs: [UnsafePointer<Float>], weights: [Float], normalize: Bool,
                       out: UnsafeMutablePointer<Float>, count: Int, threads: Int) {
        var denom: Float = 0
        for w in weights { denom += w }
        let m = xs.count
        parallelChunks(count, threads: threads) { r in
            for j in r { out[j] = 0 }
            for i in 0..<m {
                let x = xs[i], w = weights[i]
                for j in r { out[j] += x[j] * w }
            }
            if normalize { for j in r { out[j] /= denom } }
        }
    }

    static func ema(_ xs: [UnsafePointer<Float>], decay: Double, out: UnsafeMutablePointer<Float>, count: Int, threads: Int) {
        let a = Float(decay), b = Float(1 - decay)
        let m = xs.count
        parallelChunks(count, threads: threads) { r in
            let x0 = xs[0]
            for j in r { out[j] = x0[j] }
            for i in 1..<max(1, m) where i < m {
                let x = xs[i]
                for j in r { out[j] = a * out[j] + b * x[j] }
            }
        }
    }

    /// In-place EMA step: teacher = decay·teacher + (1 − decay)·new.
    public static func emaUpdate(teacher: UnsafeMutableBufferPointer<Float>, new: UnsafeBufferPointer<Float>, decay: Double) {
        precondition(teacher.count == new.count, "emaUpdate: sizes differ")
        let a = Float(decay), b = Float(1 - decay)
        guard let t = teacher.baseAddress, let x = new.baseAddress else { return }
        parallelChunks(teacher.count, threads: defaultThreads) { r in
            for j in r { t[j] = a * t[j] + b * x[j] }
        }
    }

    // MARK: slerp

    static func slerp(t: Double, _ v0: UnsafePointer<Float>, _ v1: UnsafePointer<Float>,
                      out: UnsafeMutablePointer<Float>, count n: Int, threads: Int) {
        let eps = 1e-8
        var ss0 = 0.0, ss1 = 0.0
        for j in 0..<n { let a = Double(v0[j]), b = Double(v1[j]); ss0 += a * a; ss1 += b * b }
        var n0 = Double(Float(ss0.squareRoot())), n1 = Double(Float(ss1.squareRoot()))
        if !(n0 > eps) { n0 = 1 }
        if !(n1 > eps) { n1 = 1 }
        let f0 = Float(n0), f1 = Float(n1)
        var dot = 0.0
        for j in 0..<n { dot += Double(v0[j] / f0) * Double(v1[j] / f1) }
        dot = min(1, max(-1, Double(Float(dot))))
        let ca: Float, cb: Float
        let tf = Double(Float(t))
        if abs(dot) > 0.9995 {
            ca = Float(1 - tf); cb = Float(tf)
        } else {
            let theta = acos(dot)
            let s = sin(theta)
            ca = Float(sin((1 - tf) * theta) / s)
            cb = Float(sin(tf * theta) / s)
        }
        parallelChunks(n, threads: threads) { r in
            for j in r { out[j] = ca * v0[j] + cb * v1[j] }
        }
    }

    // MARK: generalized task arithmetic (task arithmetic, TIES, DARE, breadcrumbs)

    enum KeepKind { case all, rule, random, none }

    struct InputPlan {
        var kind: KeepKind = .all
        var rule: KeepRule = .all
        var stream: UInt64 = 0
        var density: Double = 1
        var scale: Float = 1
        var rescaled = false
    }

    @inline(__always) static func keeps(_ p: InputPlan, _ d: Float, _ j: Int) -> Bool {
        switch p.kind {
        case .all: return true
        case .none: return false
        case .rule: return p.rule.keeps(abs(d), j)
        case .random: return CounterRNG.uniform(p.stream, j) < p.density
        }
    }

    static func generalized(_ g: GeneralizedTaskArithmetic, name: String, base: UnsafePointer<Float>,
                            _ xs: [UnsafePointer<Float>], out: UnsafeMutablePointer<Float>, count n: Int, threads: Int) {
        let m = xs.count
        var plans = [InputPlan](repeating: InputPlan(), count: m)

        let t0 = now()
        // Phase 1: per-input keep rules (selection) and rescale factors, inputs spread over workers.
        let workers = max(1, min(threads, m))
        let needsScratch: Bool
        switch g.sparsification {
        case .magnitude, .magnitudeOutliers: needsScratch = true
        default: needsScratch = false
        }
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: needsScratch ? workers * n : 1)
        defer { scratch.deallocate() }
        plans.withUnsafeMutableBufferPointer { planBuf in
            let planPtr = planBuf.baseAddress!
            let work: (Int) -> Void = { w in
                var i = w
                while i < m {
                    planPtr[i] = plan(g, input: i, name: name, base: base, x: xs[i], count: n,
                                      scratch: UnsafeMutableBufferPointer(start: scratch + (needsScratch ? w * n : 0), count: needsScratch ? n : 0))
                    i += workers
                }
            }
            if workers == 1 || n < parallelThreshold { for w in 0..<workers { work(w) } } else {
                parallelFor(workers, parts: workers) { w, _, _ in work(w) }
            }
        }

        let t1 = now()
        // Phase 2: fused weighted sum, sign election, disjoint mean.
        let weights = g.weights.map { Float($0) }
        var weightSum: Float = 0
        for w in weights { weightSum += w }
        if abs(weightSum) < 1e-8 { weightSum = 1 }
        let lambda = Float(g.lambda)
        let applyLambda = g.lambda != 1
        let normalize = g.normalize
        let consensus = g.consensus
        let scales = plans.map { $0.rescaled ? $0.scale : 1 }
        let block = 2048
        let xsBuf = xs
        plans.withUnsafeBufferPointer { pl in
            weights.withUnsafeBufferPointer { wt in
                scales.withUnsafeBufferPointer { sc in
                    parallelChunks(n, threads: threads) { r in
                        // Block-wise, input-major: every inner loop runs over contiguous elements (vectorisable);
                        // sums over inputs keep the input order, so results match the element-wise formula.
                        let tmp = UnsafeMutablePointer<Float>.allocate(capacity: m * block)
                        let sum = UnsafeMutablePointer<Float>.allocate(capacity: block)
                        let mixed = UnsafeMutablePointer<Float>.allocate(capacity: block)
                        let div = UnsafeMutablePointer<Float>.allocate(capacity: block)
                        defer { tmp.deallocate(); sum.deallocate(); mixed.deallocate(); div.deallocate() }
                        var j0 = r.lowerBound
                        while j0 < r.upperBound {
                            let len = min(block, r.upperBound - j0)
                            let b = base + j0
                            for i in 0..<m {
                                fillWeightedDelta(pl[i], x: xsBuf[i] + j0, base: b, start: j0, count: len,
                                                  scale: sc[i], weight: wt[i], out: tmp + i * len)
                            }
                            for q in 0..<len { sum[q] = 0 }
                            for i in 0..<m {
                                let t = tmp + i * len
                                for q in 0..<len { sum[q] += t[q] }
                            }
                            switch consensus {
                            case .none:
                                for q in 0..<len { mixed[q] = sum[q]; div[q] = weightSum }
                            case .sum, .count:
                                if consensus == .count {
                                    for q in 0..<len { sum[q] = 0 }
                                    for i in 0..<m {
                                        let t = tmp + i * len
                                        for q in 0..<len { sum[q] += t[q] > 0 ? 1 : (t[q] < 0 ? -1 : 0) }
                                    }
                                }
                                for q in 0..<len { mixed[q] = 0; div[q] = 0 }
                                for i in 0..<m {
                                    let t = tmp + i * len
                                    let w = wt[i]
                                    for q in 0..<len {
                                        let wd = t[q]
                                        let agree = sum[q] >= 0 ? wd > 0 : wd < 0
                                        mixed[q] += agree ? wd : 0
                                        div[q] += agree ? w : 0
                                    }
                                }
                                for q in 0..<len where div[q] == 0 { div[q] = 1 }
                            }
                            let o = out + j0
                            if normalize {
                                for q in 0..<len { mixed[q] /= div[q] }
                            }
                            if applyLambda {
                                for q in 0..<len { mixed[q] *= lambda }
                            }
                            for q in 0..<len { o[q] = b[q] + mixed[q] }
                            j0 += len
                        }
                    }
                }
            }
        }
        let t2 = now()
        Diagnostics.queue.sync {
            Diagnostics.selectionSeconds += t1 - t0
            Diagnostics.fusedSeconds += t2 - t1
        }
    }

    /// out[q] = keep(j0+q) ? (x − base)·scale·weight : 0 over one block.
    @inline(__always)
    static func fillWeightedDelta(_ p: InputPlan, x: UnsafePointer<Float>, base: UnsafePointer<Float>, start j0: Int,
                                  count len: Int, scale: Float, weight: Float, out: UnsafeMutablePointer<Float>) {
        switch p.kind {
        case .all:
            for q in 0..<len { out[q] = ((x[q] - base[q]) * scale) * weight }
        case .none:
            for q in 0..<len { out[q] = 0 }
        case .rule:
            let r = p.rule
            let lo = r.lo, hi = r.hi
            let loS = r.loIndex.lowerBound - j0, loE = r.loIndex.upperBound - j0
            let hiS = r.hiIndex.lowerBound - j0, hiE = r.hiIndex.upperBound - j0
            let hiEmpty = hiE <= 0 || hiS >= len || hiE <= hiS
            if hi == .infinity && hiEmpty && ((loS <= 0 && loE >= len) || loE <= 0 || loS >= len || loE <= loS) {
                // top-k, and this block lies entirely inside or outside the tie window: one compare per element
                if scale == 1 {
                    if loS <= 0 && loE >= len {
                        for q in 0..<len { let d = x[q] - base[q]; out[q] = abs(d) >= lo ? d * weight : 0 }
                    } else {
                        for q in 0..<len { let d = x[q] - base[q]; out[q] = abs(d) > lo ? d * weight : 0 }
                    }
                } else {
                    if loS <= 0 && loE >= len {
                        for q in 0..<len { let d = x[q] - base[q]; out[q] = abs(d) >= lo ? (d * scale) * weight : 0 }
                    } else {
                        for q in 0..<len { let d = x[q] - base[q]; out[q] = abs(d) > lo ? (d * scale) * weight : 0 }
                    }
                }
                return
            }
            for q in 0..<len {
                let d = x[q] - base[q]
                let mag = abs(d)
                let between = mag > lo && mag < hi
                let atLo = mag == lo && q >= loS && q < loE
                let atHi = mag != lo && mag == hi && q >= hiS && q < hiE
                out[q] = (between || atLo || atHi) ? (d * scale) * weight : 0
            }
        case .random:
            for q in 0..<len {
                let d = x[q] - base[q]
                out[q] = CounterRNG.uniform(p.stream, j0 + q) < p.density ? (d * scale) * weight : 0
            }
        }
    }

    /// Builds input i's keep rule and rescale factor.
    static func plan(_ g: GeneralizedTaskArithmetic, input i: Int, name: String, base: UnsafePointer<Float>,
                     x: UnsafePointer<Float>, count n: Int, scratch: UnsafeMutableBufferPointer<Float>) -> InputPlan {
        var p = InputPlan()
        let density = g.densities[i]
        if density >= 1 { return p }  // mergekit: sparsify returns the tensor unchanged
        let magnitude: (Int) -> Float = { j in abs(x[j] - base[j]) }
        switch g.sparsification {
        case .none:
            return p
        case .magnitude:
            let k = max(1, Int(density * Double(n)))
            p.rule = Selection.topKMagnitude(x: x, base: base, n: n, k: k, scratch: scratch)
            p.kind = p.rule.keepAll ? .all : (p.rule.keepNone ? .none : .rule)
        case let .magnitudeOutliers(gammas):
            let target = Int(density * Double(n))
            let top = Int(gammas[i] * Double(n))
            let bottom = max(0, n - target - top)
            for j in 0..<n { scratch[j] = abs(x[j] - base[j]) }
            p.rule = Selection.rankWindow(scratch, from: bottom, to: bottom + target, magnitude: magnitude)
            p.kind = p.rule.keepAll ? .all : (p.rule.keepNone ? .none : .rule)
        case let .random(seed):
            p.kind = .random
            p.density = density
            p.stream = CounterRNG.stream(seed: seed, name: name, input: i)
        }
        switch g.rescale {
        case .none:
            break
        case .inverseDensity:
            p.rescaled = true
            p.scale = Float(1 / density)
        case .l1:
            var before = 0.0, after = 0.0
            for j in 0..<n {
                let d = x[j] - base[j]
                let a = Double(abs(d))
                before += a
                if keeps(p, d, j) { after += a }
            }
            if before >= 1e-7 && after >= 1e-7 {
                p.rescaled = true
                p.scale = Float(Float(before) / Float(after))
            }
        }
        return p
    }
}
