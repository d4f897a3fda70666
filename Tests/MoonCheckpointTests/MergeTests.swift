import XCTest
import Foundation
import MoonTensor
@testable import MoonCheckpoint

final class MergeTests: XCTestCase {
    // MARK: mergekit fixtures

    struct Case {
        var name: String
        var method: MergeMethod
        var base: String?
        var models: [String]
        var random: Bool { if case let .generalized(g) = method, case .random = g.sparsification { return true } else { return false } }
    }

    func loadCases() throws -> [Case] {
        let data = try Data(contentsOf: URL(fileURLWithPath: fixturePath("merge/cases.json")))
        let root = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let cases = root["cases"] as! [String: [String: Any]]
        var out: [Case] = []
        for (name, c) in cases.sorted(by: { $0.key < $1.key }) {
            let method = c["method"] as! String
            let base = c["base"] as? String
            let params = c["parameters"] as! [String: Any]
            var models = (c["models"] as! [[String: Any]])
            if let b = base { models.removeAll { ($0["model"] as! String) == b } }
            let names = models.map { $0["model"] as! String }
            let weights = models.map { ($0["weight"] as? Double) ?? 1 }
            let densities = models.map { ($0["density"] as? Double) ?? 1 }
            let gammas = models.map { ($0["gamma"] as? Double) ?? 0.01 }
            let lambda = (params["lambda"] as? Double) ?? 1
            let normalize = params["normalize"] as? Bool
            let m: MergeMethod
            switch method {
            case "linear": m = .linear(weights: weights, normalize: normalize ?? true)
            case "slerp": m = .slerp(t: params["t"] as! Double)
            case "task_arithmetic": m = .taskArithmetic(weights: weights, lambda: lambda, normalize: normalize ?? false)
            case "ties": m = .ties(weights: weights, densities: densities, lambda: lambda, normalize: normalize ?? true)
            case "dare_linear", "dare_ties":
                let rescale: Rescale = (params["rescale"] as? Bool ?? true) ? .l1 : .none
                m = method == "dare_linear"
                    ? .dareLinear(weights: weights, densities: densities, seed: 1, lambda: lambda, normalize: normalize ?? false, rescale: rescale)
                    : .dareTies(weights: weights, densities: densities, seed: 1, lambda: lambda, normalize: normalize ?? false, rescale: rescale)
            case "breadcrumbs": m = .breadcrumbs(weights: weights, densities: densities, gammas: gammas, ties: false, lambda: lambda, normalize: normalize ?? false)
            case "breadcrumbs_ties": m = .breadcrumbs(weights: weights, densities: densities, gammas: gammas, ties: true, lambda: lambda, normalize: normalize ?? false)
            default: XCTFail("unknown method \(method)"); continue
            }
            out.append(Case(name: name, method: m, base: base, models: names))
        }
        return out
    }

    func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    func testMatchesMergekitInMemory() throws {
        let cases = try loadCases()
        XCTAssertGreaterThanOrEqual(cases.count, 13)
        var loaded: [String: [NamedTensor]] = [:]
        func model(_ n: String) throws -> [NamedTensor] {
            if let m = loaded[n] { return m }
            let m = try SafeTensors.load(fixturePath("merge/\(n).safetensors")).tensors
            loaded[n] = m
            return m
        }
        for c in cases where !c.random {
            let result = try Merge.merge(c.method, base: try c.base.map(model), models: try c.models.map(model), threads: 1)
            let expected = try SafeTensors.open(fixturePath("merge/out_\(c.name).safetensors"))
            XCTAssertEqual(Set(result.map(\.name)), Set(expected.names), c.name)
            var worst: Float = 0
            for t in result {
                XCTAssertEqual(t.shape, try expected.info(t.name).shape)
                worst = max(worst, maxDiff(t.floats!, try expected.floats(t.name)))
            }
            print("mergekit fixture \(c.name): max abs diff \(worst)")
            XCTAssertLessThanOrEqual(worst, 1e-6, "\(c.name): max |moonlab - mergekit| = \(worst)")
        }
    }

    func testMatchesMergekitStreamingFiles() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for c in try loadCases() where !c.random {
            let out = dir + "/\(c.name).safetensors"
            try Merge.mergeFiles(c.method, base: c.base.map { fixturePath("merge/\($0).safetensors") },
                                 models: c.models.map { fixturePath("merge/\($0).safetensors") }, output: out,
                                 metadata: ["merge": c.name])
            let got = try SafeTensors.open(out)
            let expected = try SafeTensors.open(fixturePath("merge/out_\(c.name).safetensors"))
            XCTAssertEqual(got.metadata, ["merge": c.name])
            XCTAssertEqual(Set(got.names), Set(expected.names))
            for name in expected.names {
                let d = maxDiff(try got.floats(name), try expected.floats(name))
                XCTAssertLessThanOrEqual(d, 1e-6, "\(c.name) \(name)")
            }
        }
    }

    /// DARE is random: compare with mergekit's output statistically: the kept fraction ≈ density, and with
    /// mergekit's `rescale: true` the L1 norm of each tensor's task vector is preserved exactly, with
    /// `rescale: false` it shrinks to ≈ density.
    func testDAREMatchesMergekitStatistically() throws {
        let cases = try loadCases().filter(\.random)
        XCTAssertEqual(cases.count, 2)
        let base = try SafeTensors.load(fixturePath("merge/base.safetensors")).tensors
        let m1 = try SafeTensors.load(fixturePath("merge/m1.safetensors")).tensors
        for c in cases {
            guard case let .generalized(g) = c.method else { continue }
            let density = g.densities[0]
            let ours = try Merge.merge(c.method, base: base, models: [m1])
            let theirs = try SafeTensors.open(fixturePath("merge/out_\(c.name).safetensors"))
            var keptOurs = 0, keptTheirs = 0, total = 0
            for (k, b) in base.enumerated() {
                let bv = b.floats!, xv = m1[k].floats!
                let o = ours.first { $0.name == b.name }!.floats!
                let t = try theirs.floats(b.name)
                let l1In = zip(xv, bv).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) }
                let l1Ours = zip(o, bv).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) }
                let l1Theirs = zip(t, bv).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) }
                keptOurs += zip(o, bv).filter { $0 != $1 }.count
                keptTheirs += zip(t, bv).filter { $0 != $1 }.count
                total += bv.count
                // (a tiny tensor can lose every entry; then nothing is rescaled)
                if g.rescale == .l1 {
                    if l1Ours > 0 { XCTAssertEqual(l1Ours / l1In, 1, accuracy: 1e-5, "\(c.name) \(b.name)") }
                    if l1Theirs > 0 { XCTAssertEqual(l1Theirs / l1In, 1, accuracy: 1e-5, "\(c.name) \(b.name) (mergekit)") }
                }
            }
            let tol = 4 * (density * (1 - density) / Double(total)).squareRoot()
            XCTAssertEqual(Double(keptOurs) / Double(total), density, accuracy: tol, c.name)
            XCTAssertEqual(Double(keptTheirs) / Double(total), density, accuracy: tol, "\(c.name) (mergekit)")
        }
    }

    // MARK: semantics checked against direct formulas

    func randomModels(_ count: Int, n: Int, seed: UInt64, quantized: Bool = false) -> (base: [Float], models: [[Float]]) {
        var rng = Xoshiro256(seed: seed)
        let base = (0..<n).map { _ in Float(rng.normal()) }
        let models = (0..<count).map { _ in
            base.map { b -> Float in
                if quantized { return b + Float(Int(rng.next() % 7) - 3) * 0.125 }
                return b + Float(rng.normal()) * 0.1
            }
        }
        return (base, models)
    }

    /// Straightforward TIES (sort-based top-k with stable tie-breaking), for comparison with the fused kernel.
    func referenceTies(base: [Float], models: [[Float]], weights: [Double], densities: [Double], lambda: Double, normalize: Bool) -> [Float] {
        let n = base.count
        var deltas: [[Float]] = []
        for (i, x) in models.enumerated() {
            var d = zip(x, base).map { $0 - $1 }
            if densities[i] < 1 {
                let k = max(1, Int(densities[i] * Double(n)))
                let order = (0..<n).sorted { abs(d[$0]) != abs(d[$1]) ? abs(d[$0]) > abs(d[$1]) : $0 < $1 }
                var keep = [Bool](repeating: false, count: n)
                for j in order.prefix(k) { keep[j] = true }
                for j in 0..<n where !keep[j] { d[j] = 0 }
            }
            deltas.append(d.map { $0 * Float(weights[i]) })
        }
        return (0..<n).map { j in
            var s: Float = 0
            for d in deltas { s += d[j] }
            let pos = s >= 0
            var mixed: Float = 0, div: Float = 0
            for (i, d) in deltas.enumerated() where pos ? d[j] > 0 : d[j] < 0 { mixed += d[j]; div += Float(weights[i]) }
            if div == 0 { div = 1 }
            if normalize { mixed /= div }
            return base[j] + mixed * Float(lambda)
        }
    }

    func testTiesAgainstReferenceWithTiesInMagnitudesAndThreads() throws {
        // 140,001 elements take the sampled one-pass selection; 70,001 the full selection
        for (seed, quantized, n) in [(1 as UInt64, false, 70_001), (2, true, 70_001), (3, true, 140_001), (4, false, 140_001)] {
            let (base, models) = randomModels(5, n: n, seed: seed, quantized: quantized)
            let w = [1.0, 0.5, -0.3, 0.8, 1.2], d = [0.2, 0.5, 0.05, 0.9, 1.0]
            let ref = referenceTies(base: base, models: models, weights: w, densities: d, lambda: 1.1, normalize: true)
            for threads in [1, 2, 3] {
                let got = try Merge.mergeTensor(.ties(weights: w, densities: d, lambda: 1.1), base: base, models: models, threads: threads)
                XCTAssertLessThanOrEqual(maxDiff(got, ref), 1e-6, "seed \(seed) threads \(threads)")
            }
        }
    }

    func testSelectionRules() {
        var rng = Xoshiro256(seed: 5)
        for trial in 0..<300 {
            let n = 1 + Int(rng.next() % 60)
            let levels = 1 + Int(rng.next() % 6)
            let mags: [Float] = (0..<n).map { _ in trial % 2 == 0 ? Float(rng.next() % UInt64(levels)) : Float(rng.uniform()) }
            // stable ascending ranks
            let asc = (0..<n).sorted { mags[$0] != mags[$1] ? mags[$0] < mags[$1] : $0 < $1 }
            let desc = (0..<n).sorted { mags[$0] != mags[$1] ? mags[$0] > mags[$1] : $0 < $1 }
            let k = Int(rng.next() % UInt64(n + 1))
            var scratch = mags
            let rule = scratch.withUnsafeMutableBufferPointer { Selection.topK($0, k: k) { mags[$0] } }
            let want = Set(desc.prefix(k))
            for j in 0..<n {
                let kept = rule.keepAll || (!rule.keepNone && rule.keeps(mags[j], j))
                XCTAssertEqual(kept, want.contains(j), "topK trial \(trial) j \(j)")
            }
            let lo = Int(rng.next() % UInt64(n + 1)), hi = lo + Int(rng.next() % UInt64(n + 1 - lo))
            scratch = mags
            let w = scratch.withUnsafeMutableBufferPointer { Selection.rankWindow($0, from: lo, to: hi) { mags[$0] } }
            let wantW = Set(asc[lo..<hi])
            for j in 0..<n {
                let kept = w.keepAll || (!w.keepNone && w.keeps(mags[j], j))
                XCTAssertEqual(kept, wantW.contains(j), "window [\(lo),\(hi)) trial \(trial) j \(j)")
            }
        }
    }

    /// The sampled top-k (one streaming pass) selects exactly what the full selection selects.
    func testSampledTopKMatchesFullSelection() {
        var rng = Xoshiro256(seed: 77)
        let n = 200_003
        let fallbacksBefore = Selection.sampledFallbacks
        defer { XCTAssertLessThanOrEqual(Selection.sampledFallbacks - fallbacksBefore, 2, "sampled bracket missed too often") }
        for dist in 0..<4 {
            let base = (0..<n).map { _ in Float(rng.normal()) }
            let x: [Float] = base.enumerated().map { j, b in
                switch dist {
                case 0: return b + Float(rng.normal()) * 0.01
                case 1: return b + Float(Int(rng.next() % 9) - 4) * 0.25  // heavy ties
                case 2: return j % 3 == 0 ? b : b + Float(rng.normal())  // a third exactly zero
                default: return b + Float(rng.uniform() < 0.001 ? rng.normal() * 100 : rng.normal())  // outliers
                }
            }
            let mags = zip(x, base).map { abs($0 - $1) }
            for density in [0.001, 0.2, 0.5, 0.8, 0.999] {
                let k = max(1, Int(density * Double(n)))
                var scratch = [Float](repeating: 0, count: n)
                let fast = x.withUnsafeBufferPointer { xp in base.withUnsafeBufferPointer { bp in
                    scratch.withUnsafeMutableBufferPointer { Selection.topKMagnitude(x: xp.baseAddress!, base: bp.baseAddress!, n: n, k: k, scratch: $0) }
                } }
                var s2 = mags
                let full = s2.withUnsafeMutableBufferPointer { Selection.topK($0, k: k) { mags[$0] } }
                var keptFast = 0
                for j in 0..<n {
                    let a = fast.keeps(mags[j], j), b = full.keeps(mags[j], j)
                    if a != b { XCTFail("dist \(dist) density \(density) j \(j)"); break }
                    keptFast += a ? 1 : 0
                }
                XCTAssertEqual(keptFast, k, "dist \(dist) density \(density)")
            }
        }
    }

    func testEMAMatchesRecurrence() throws {
        let (_, models) = randomModels(6, n: 1000, seed: 11)
        let decay = 0.7
        var teacher = models[0]
        for m in models.dropFirst() {
            teacher = zip(teacher, m).map { Float(decay) * $0 + Float(1 - decay) * $1 }
        }
        let got = try Merge.mergeTensor(.ema(decay: decay), models: models)
        XCTAssertLessThanOrEqual(maxDiff(got, teacher), 1e-6)
        // incremental update API over parameter sets
        var t = [NamedTensor(name: "w", shape: [1000], floats: models[0])]
        for m in models.dropFirst() { try Merge.emaUpdate(teacher: &t, with: [NamedTensor(name: "w", shape: [1000], floats: m)], decay: decay) }
        XCTAssertLessThanOrEqual(maxDiff(t[0].floats!, teacher), 1e-6)
        // decay 0 → the newest checkpoint; decay 1 → the first
        XCTAssertEqual(try Merge.mergeTensor(.ema(decay: 0), models: models), models.last!)
        XCTAssertEqual(try Merge.mergeTensor(.ema(decay: 1), models: models), models[0])
    }

    /// The GTR-Turbo teacher from files: EMA over checkpoints streamed from disk equals the in-memory EMA, and an
    /// incremental teacher file update (teacher, new checkpoint) gives the same teacher.
    func testEMAFilesMatchInMemoryAndIncremental() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let paths = ["m1", "m2", "m3"].map { fixturePath("merge/\($0).safetensors") }
        let decay = 0.5
        try Merge.mergeFiles(.ema(decay: decay), models: paths, output: dir + "/teacher.safetensors")
        let inMemory = try Merge.merge(.ema(decay: decay), models: try paths.map { try SafeTensors.load($0).tensors })
        try Merge.mergeFiles(.ema(decay: decay), models: Array(paths[0..<2]), output: dir + "/t2.safetensors")
        try Merge.mergeFiles(.ema(decay: decay), models: [dir + "/t2.safetensors", paths[2]], output: dir + "/t2.safetensors")
        let full = try SafeTensors.open(dir + "/teacher.safetensors")
        let incremental = try SafeTensors.open(dir + "/t2.safetensors")
        for t in inMemory {
            XCTAssertEqual(try full.floats(t.name), t.floats!)
            XCTAssertEqual(try incremental.floats(t.name), t.floats!)
        }
    }

    func testDAREStatistics() throws {
        let n = 200_000
        let (base, models) = randomModels(2, n: n, seed: 21)
        for density in [0.1, 0.5, 0.9] {
            // single model, weight 1: output = base + kept(δ)·scale
            for rescale in [Rescale.inverseDensity, .l1, .none] {
                let out = try Merge.mergeTensor(.dareLinear(weights: [1], densities: [density], seed: 7, rescale: rescale),
                                                name: "layer.w", base: base, models: [models[0]])
                let delta = zip(models[0], base).map { $0 - $1 }
                var kept = 0
                var sumOut = 0.0, sumIn = 0.0, l1Out = 0.0, l1In = 0.0
                for j in 0..<n {
                    let o = out[j] - base[j]
                    if o != 0 { kept += 1 }
                    sumOut += Double(o); sumIn += Double(delta[j])
                    l1Out += Double(abs(o)); l1In += Double(abs(delta[j]))
                }
                let frac = Double(kept) / Double(n)
                XCTAssertEqual(frac, density, accuracy: 4 * (density * (1 - density) / Double(n)).squareRoot() + 1e-3, "kept fraction")
                switch rescale {
                case .inverseDensity:
                    // the mean of the kept-and-rescaled entries equals the mean of δ in expectation
                    XCTAssertEqual(sumOut / Double(n), sumIn / Double(n), accuracy: 0.1 * 0.1 * 5 / (Double(n) * density).squareRoot() * (1 / density).squareRoot() + 1e-3)
                    XCTAssertEqual(l1Out / l1In, 1, accuracy: 0.05)
                case .l1:
                    XCTAssertEqual(l1Out / l1In, 1, accuracy: 1e-4)
                case .none:
                    XCTAssertEqual(l1Out / l1In, density, accuracy: 0.02)
                }
            }
        }
        // seeded: same seed same mask, different seed different mask, thread count irrelevant
        let m = MergeMethod.dareTies(weights: [0.5, 0.5], densities: [0.3, 0.3], seed: 1)
        let a = try Merge.mergeTensor(m, base: base, models: models, threads: 1)
        XCTAssertEqual(a, try Merge.mergeTensor(m, base: base, models: models, threads: 2))
        XCTAssertNotEqual(a, try Merge.mergeTensor(.dareTies(weights: [0.5, 0.5], densities: [0.3, 0.3], seed: 2), base: base, models: models))
    }

    func testCountConsensusAndTaskArithmeticFormulas() throws {
        let base: [Float] = [0, 0, 0, 1]
        let models: [[Float]] = [[1, -1, 0.5, 1], [2, -1, -3, 1], [-0.5, 2, -1, 1]]
        // count consensus: majority of signs (ties → +), disjoint mean of agreeing weighted deltas
        let g = GeneralizedTaskArithmetic(weights: [1, 1, 1], densities: [1, 1, 1], sparsification: .none,
                                          consensus: .count, normalize: true, rescale: .none)
        let got = try Merge.mergeTensor(.generalized(g), base: base, models: models)
        // j0: signs + + - → +: mean(1, 2) = 1.5; j1: - - + → -: mean(-1, -1) = -1; j2: + - - → -: mean(-3, -1) = -2
        // j3: all zero deltas: nothing agrees with +, divisor 0 → 1, result base
        XCTAssertEqual(got, [1.5, -1, -2, 1])
        // sum consensus: j0 1 + 2 - 0.5 > 0; j1 -1 - 1 + 2 == 0 → + (mergekit: sum >= 0), mean(2); j2 negative
        XCTAssertEqual(try Merge.mergeTensor(.ties(weights: [1, 1, 1], densities: [1, 1, 1]), base: base, models: models), [1.5, 2, -2, 1])
        // task arithmetic: base + lambda * sum(w * delta)
        let ta = try Merge.mergeTensor(.taskArithmetic(weights: [0.5, 0.25, 1], lambda: 2), base: base, models: models)
        XCTAssertEqual(ta, [1, 2.5, -3, 1] as [Float])
    }

    func testLinearAndSlerpBasics() throws {
        let a: [Float] = [1, 0, 0, 0], b: [Float] = [0, 1, 0, 0]
        let mid = try Merge.mergeTensor(.slerp(t: 0.5), base: a, models: [b])
        XCTAssertEqual(mid[0], Float(0.5.squareRoot()), accuracy: 1e-6)
        XCTAssertEqual(mid[1], Float(0.5.squareRoot()), accuracy: 1e-6)
        XCTAssertEqual(try Merge.mergeTensor(.slerp(t: 0), base: a, models: [b]), a)
        XCTAssertEqual(try Merge.mergeTensor(.linear(weights: [1, 3]), models: [a, b]), [0.25, 0.75, 0, 0])
        XCTAssertEqual(try Merge.mergeTensor(.linear(weights: [1, 3], normalize: false), models: [a, b]), [1, 3, 0, 0])
        // zero vectors: slerp falls back without NaN
        let z: [Float] = [0, 0, 0, 0]
        XCTAssertFalse(try Merge.mergeTensor(.slerp(t: 0.3), base: z, models: [b]).contains { $0.isNaN })
    }

    // MARK: bad input

    func expectMergeError(_ contains: [String], _ body: () throws -> Void, file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertThrowsError(try body(), file: file, line: line) { e in
            for c in contains { XCTAssertTrue("\(e)".contains(c), "error \"\(e)\" lacks \"\(c)\"", file: file, line: line) }
        }
    }

    func testNamedMethodsAndOptions() throws {
        XCTAssertEqual(try MergeMethod.named("ties", models: 2, options: ["density": .number(0.8)]),
                       .ties(weights: [1, 1], densities: [0.8, 0.8]))
        XCTAssertEqual(try MergeMethod.named("average", models: 2, options: ["weights": .numbers([0.3, 0.7]), "normalize": .bool(false)]),
                       .linear(weights: [0.3, 0.7], normalize: false))
        // the defaults of moon.merge.* and moonlab merge (one vocabulary, one builder)
        XCTAssertEqual(try MergeMethod.named("ties", models: 2), .ties(weights: [1, 1], densities: [0.2, 0.2]))
        XCTAssertEqual(try MergeMethod.named("dare_linear", models: 1), .dareLinear(weights: [1], densities: [0.5], seed: 0))
        XCTAssertEqual(try MergeMethod.named("breadcrumbs", models: 1, options: ["ties": .bool(true)]),
                       .breadcrumbs(weights: [1], densities: [0.9], gammas: [0.01], ties: true))
        XCTAssertEqual(try MergeMethod.named("ema", models: 2), .ema(decay: 0.5))
        XCTAssertEqual(try MergeMethod.named("slerp", models: 1), .slerp(t: 0.5))
        expectMergeError(["unknown merge method \"linear\""]) { _ = try MergeMethod.named("linear", models: 2) }
        expectMergeError(["unknown option \"weight\""]) { _ = try MergeMethod.named("average", models: 2, options: ["weight": .number(1)]) }
        XCTAssertEqual(try MergeMethod.named("dare_ties", models: 1, options: ["density": .number(0.5), "rescale": .string("inverse_density"), "seed": .number(3)]),
                       .dareTies(weights: [1], densities: [0.5], seed: 3, rescale: .inverseDensity))
        XCTAssertEqual(try MergeMethod.named("ema", models: 3, options: ["decay": .number(0.5)]), .ema(decay: 0.5))
        XCTAssertEqual(try MergeMethod.named("task_arithmetic", models: 1, options: ["lambda": .number(0.5)]),
                       .taskArithmetic(weights: [1], lambda: 0.5))
        expectMergeError(["unknown option \"densty\""]) { _ = try MergeMethod.named("ties", models: 2, options: ["densty": .number(0.8)]) }
        expectMergeError(["unknown merge method"]) { _ = try MergeMethod.named("tie", models: 2) }
        expectMergeError(["decay 1.5 outside"]) { _ = try MergeMethod.named("ema", models: 2, options: ["decay": .number(1.5)]) }
        expectMergeError(["3 values for 2 models"]) { _ = try MergeMethod.named("ties", models: 2, options: ["weights": .numbers([1, 2, 3])]) }
        expectMergeError(["must be a boolean"]) { _ = try MergeMethod.named("ties", models: 2, options: ["normalize": .number(1)]) }
        expectMergeError(["density 0.0"]) { _ = try MergeMethod.named("ties", models: 2, options: ["density": .number(0)]) }
        expectMergeError(["empty"]) { _ = try MergeMethod.named("ties", models: 0) }
    }

    func testBadInputsInMemory() {
        let t = { (name: String, shape: [Int]) in NamedTensor(name: name, shape: shape, floats: [Float](repeating: 1, count: shape.reduce(1, *))) }
        let m1 = [t("a", [2, 2]), t("b", [3])]
        expectMergeError(["empty"]) { _ = try Merge.merge(.linear(weights: []), models: []) }
        expectMergeError(["density", "outside (0, 1]"]) { _ = try Merge.merge(.ties(weights: [1], densities: [0]), base: m1, models: [m1]) }
        expectMergeError(["density 1.5"]) { _ = try Merge.merge(.ties(weights: [1], densities: [1.5]), base: m1, models: [m1]) }
        expectMergeError(["needs a base"]) { _ = try Merge.merge(.ties(weights: [1], densities: [0.5]), models: [m1]) }
        expectMergeError(["\"b\"", "shape [4]", "model #1"]) { _ = try Merge.merge(.linear(weights: [1, 1]), models: [m1, [t("a", [2, 2]), t("b", [4])]]) }
        expectMergeError(["\"b\"", "missing from model #1"]) { _ = try Merge.merge(.linear(weights: [1, 1]), models: [m1, [t("a", [2, 2])]]) }
        expectMergeError(["\"c\"", "missing from base"]) { _ = try Merge.merge(.ties(weights: [1], densities: [0.5]), base: m1, models: [m1 + [t("c", [1])]]) }
        expectMergeError(["\"b\"", "missing from model #0"]) { _ = try Merge.merge(.ties(weights: [1], densities: [0.5]), base: m1, models: [[t("a", [2, 2])]]) }
        expectMergeError(["2 weights for 1"]) { _ = try Merge.merge(.linear(weights: [1, 1]), models: [m1]) }
        expectMergeError(["sum to 0"]) { _ = try Merge.merge(.linear(weights: [1, -1]), models: [m1, m1]) }
        expectMergeError(["exactly one"]) { _ = try Merge.merge(.slerp(t: 0.5), base: m1, models: [m1, m1]) }
        expectMergeError(["only float"]) { _ = try Merge.merge(.linear(weights: [1]), models: [[NamedTensor(name: "ids", shape: [2], ints: [1, 2])]]) }
    }

    func testBadInputsFilesLeaveNoOutput() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let base = fixturePath("merge/base.safetensors")
        let m1 = fixturePath("merge/m1.safetensors")
        // a model with one tensor missing, one with a wrong shape, and a corrupt file
        var tensors = try SafeTensors.load(m1).tensors
        let dropped = tensors.removeLast()
        try SafeTensors.save(tensors, to: dir + "/missing.safetensors")
        var reshaped = try SafeTensors.load(m1).tensors
        reshaped[0] = NamedTensor(name: reshaped[0].name, shape: [reshaped[0].count], floats: reshaped[0].floats!)
        try SafeTensors.save(reshaped, to: dir + "/reshaped.safetensors")
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: m1)))
        bytes.removeLast(10)
        try Data(bytes).write(to: URL(fileURLWithPath: dir + "/truncated.safetensors"))

        let out = dir + "/out.safetensors"
        let ties = MergeMethod.ties(weights: [1, 1], densities: [0.5, 0.5])
        expectMergeError(["\"\(dropped.name)\"", "missing.safetensors"]) {
            try Merge.mergeFiles(ties, base: base, models: [m1, dir + "/missing.safetensors"], output: out)
        }
        expectMergeError(["\"\(reshaped[0].name)\"", "reshaped.safetensors", "shape"]) {
            try Merge.mergeFiles(ties, base: base, models: [m1, dir + "/reshaped.safetensors"], output: out)
        }
        expectMergeError(["truncated.safetensors", "truncated"]) {
            try Merge.mergeFiles(ties, base: base, models: [m1, dir + "/truncated.safetensors"], output: out)
        }
        expectMergeError(["\"\(dropped.name)\"", "missing from", "missing.safetensors"]) {
            try Merge.mergeFiles(ties, base: dir + "/missing.safetensors", models: [m1, m1], output: out)
        }
        expectMergeError(["density"]) {
            try Merge.mergeFiles(.ties(weights: [1], densities: [-0.5]), base: base, models: [m1], output: out)
        }
        expectMergeError(["empty"]) { try Merge.mergeFiles(.linear(weights: []), models: [], output: out) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
        // an existing output survives a failed merge untouched, and no temporary files are left
        try AtomicFile.write(to: out, string: "previous")
        expectMergeError(["missing.safetensors"]) {
            try Merge.mergeFiles(ties, base: base, models: [m1, dir + "/missing.safetensors"], output: out)
        }
        XCTAssertEqual(try String(contentsOfFile: out, encoding: .utf8), "previous")
        XCTAssertFalse(try FileManager.default.contentsOfDirectory(atPath: dir).contains { $0.contains(".tmp-") })
    }

    func testFileMergeOutputDTypeAndHalfInputs() throws {
        let dir = makeTempDir()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (t1, _) = try SafeTensors.load(fixturePath("merge/m1.safetensors"))
        let (t2, _) = try SafeTensors.load(fixturePath("merge/m2.safetensors"))
        try SafeTensors.save(t1.map { NamedTensor(name: $0.name, shape: $0.shape, floats: $0.floats!, dtype: .BF16) }, to: dir + "/a.safetensors")
        try SafeTensors.save(t2.map { NamedTensor(name: $0.name, shape: $0.shape, floats: $0.floats!, dtype: .F16) }, to: dir + "/b.safetensors")
        try Merge.mergeFiles(.linear(weights: [1, 1]), models: [dir + "/a.safetensors", dir + "/b.safetensors"],
                             output: dir + "/o.safetensors", outputDType: .F32)
        let o = try SafeTensors.open(dir + "/o.safetensors")
        let a = try SafeTensors.open(dir + "/a.safetensors"), b = try SafeTensors.open(dir + "/b.safetensors")
        for name in o.names {
            XCTAssertEqual(try o.info(name).dtype, .F32)
            let want = zip(try a.floats(name), try b.floats(name)).map { ($0 + $1) / 2 }
            XCTAssertLessThanOrEqual(maxDiff(try o.floats(name), want), 1e-6)
        }
    }
}
