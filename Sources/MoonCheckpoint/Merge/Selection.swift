import MoonTensor
/// Magnitude selection for sparsification: which entries of a task vector survive.
///
/// Ranks follow a *stable* sort of the magnitudes (PyTorch's CPU sort is stable): among equal magnitudes
/// the lower index comes first, in both ascending and descending order. A `KeepRule` describes the kept set
/// compactly (two threshold values plus index windows for the entries equal to a threshold), so the fused
/// merge pass can test membership per element without materialising a mask.
struct KeepRule {
    /// Entries with lo < |d| < hi are kept.
    var lo: Float
    var hi: Float
    /// Entries with |d| == lo are kept iff their index is in loIndex.
    var loIndex: Range<Int>
    /// Entries with |d| == hi (hi != lo) are kept iff their index is in hiIndex.
    var hiIndex: Range<Int>
    var keepAll = false
    var keepNone = false

    static let all = KeepRule(lo: 0, hi: 0, loIndex: 0..<0, hiIndex: 0..<0, keepAll: true)
    static let none = KeepRule(lo: 0, hi: 0, loIndex: 0..<0, hiIndex: 0..<0, keepNone: true)

    @inline(__always) func keeps(_ m: Float, _ j: Int) -> Bool {
        if m == lo { return loIndex.contains(j) }
        if m == hi { return hiIndex.contains(j) }
        return m > lo && m < hi
    }
}

enum Selection {
    /// Rearranges `a` so that a[r] is the value of ascending rank r, everything before is <= and everything
    /// after is >= (nth_element). Three-way partitioning keeps runs of equal values linear.
    static func select(_ a: UnsafeMutableBufferPointer<Float>, rank r: Int) -> Float {
        var lo = 0
        var hi = a.count - 1
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15 &+ UInt64(a.count)
        while hi > lo {
            if hi - lo < 16 {
                // insertion sort the small range
                var i = lo + 1
                while i <= hi {
                    let v = a[i]
                    var k = i - 1
                    while k >= lo && a[k] > v { a[k + 1] = a[k]; k -= 1 }
                    a[k + 1] = v
                    i += 1
                }
                return a[r]
            }
            // median of three samples (one random) as pivot
            state = state &* 6364136223846793005 &+ 1442695040888963407
            let m = lo + Int((state >> 33) % UInt64(hi - lo + 1))
            let x = a[lo], y = a[m], z = a[hi]
            let pivot = max(min(x, y), min(max(x, y), z))
            // Dutch national flag partition: [lo, lt) < p, [lt, i) == p, (gt, hi] > p
            var lt = lo, i = lo, gt = hi
            while i <= gt {
                let v = a[i]
                if v < pivot {
                    a[i] = a[lt]; a[lt] = v; lt += 1; i += 1
                } else if v > pivot {
                    a[i] = a[gt]; a[gt] = v; gt -= 1
                } else {
                    i += 1
                }
            }
            if r < lt { hi = lt - 1 } else if r > gt { lo = gt + 1 } else { return pivot }
        }
        return a[r]
    }

    /// Counts entries < v and == v.
    static func count(_ a: UnsafeMutableBufferPointer<Float>, around v: Float) -> (less: Int, equal: Int) {
        var less = 0, equal = 0
        for x in a {
            less &+= x < v ? 1 : 0
            equal &+= x == v ? 1 : 0
        }
        return (less, equal)
    }

    /// Index (in original order) of each requested occurrence number of value v; occurrence == count → n.
    static func occurrenceIndices(value v: Float, occurrences: [Int], n: Int, magnitude: (Int) -> Float) -> [Int] {
        var result = [Int](repeating: n, count: occurrences.count)
        var seen = 0
        let maxNeeded = occurrences.max() ?? 0
        var j = 0
        while j < n && seen <= maxNeeded {
            if magnitude(j) == v {
                for (q, o) in occurrences.enumerated() where o == seen { result[q] = j }
                seen += 1
            }
            j += 1
        }
        return result
    }

    /// The top `k` magnitudes (stable descending: ties go to lower indices). `scratch` holds |d| and is clobbered.
    static func topK(_ scratch: UnsafeMutableBufferPointer<Float>, k: Int, magnitude: (Int) -> Float) -> KeepRule {
        let n = scratch.count
        if k >= n { return .all }
        if k <= 0 { return .none }
        let t = select(scratch, rank: n - k)
        let (less, equal) = count(scratch, around: t)
        let greater = n - less - equal
        let keepEq = k - greater  // 1...equal
        var idx = 0..<n
        if keepEq < equal {
            let pos = occurrenceIndices(value: t, occurrences: [keepEq], n: n, magnitude: magnitude)
            idx = 0..<pos[0]
        }
        return KeepRule(lo: t, hi: .infinity, loIndex: idx, hiIndex: n..<n)
    }

    /// Entries of stable ascending rank in [rLo, rHi). `scratch` holds |d| and is clobbered.
    static func rankWindow(_ scratch: UnsafeMutableBufferPointer<Float>, from rLo: Int, to rHi: Int,
                           magnitude: (Int) -> Float) -> KeepRule {
        let n = scratch.count
        if rHi <= rLo || rHi <= 0 || rLo >= n { return .none }
        if rLo <= 0 && rHi >= n { return .all }
        let vHi = select(scratch, rank: rHi - 1)
        let vLo = rLo > 0 ? select(UnsafeMutableBufferPointer(rebasing: scratch[0..<rHi]), rank: rLo) : -Float.infinity
        if rLo == 0 {
            // only an upper cut: like topK from below
            let (lessHi, eqHi) = count(scratch, around: vHi)
            let keepEq = rHi - lessHi
            var idx = 0..<n
            if keepEq < eqHi { idx = 0..<occurrenceIndices(value: vHi, occurrences: [keepEq], n: n, magnitude: magnitude)[0] }
            return KeepRule(lo: -.infinity, hi: vHi, loIndex: n..<n, hiIndex: idx)
        }
        let (lessLo, eqLo) = count(scratch, around: vLo)
        if vLo == vHi {
            let e0 = rLo - lessLo, e1 = min(eqLo, rHi - lessLo)
            let pos = occurrenceIndices(value: vLo, occurrences: [e0, e1], n: n, magnitude: magnitude)
            return KeepRule(lo: vLo, hi: vLo, loIndex: pos[0]..<pos[1], hiIndex: n..<n)
        }
        let (lessHi, eqHi) = count(scratch, around: vHi)
        let e0 = rLo - lessLo  // occurrences of vLo kept: [e0, eqLo)
        let e1 = rHi - lessHi  // occurrences of vHi kept: [0, e1)
        var loIdx = 0..<n, hiIdx = 0..<n
        if e0 > 0 { loIdx = occurrenceIndices(value: vLo, occurrences: [e0], n: n, magnitude: magnitude)[0]..<n }
        if e1 < eqHi { hiIdx = 0..<occurrenceIndices(value: vHi, occurrences: [e1], n: n, magnitude: magnitude)[0] }
        return KeepRule(lo: vLo, hi: vHi, loIndex: loIdx, hiIndex: hiIdx)
    }
}

/// Counter-based uniform random numbers: the value for (stream, index) does not depend on the order in
/// which indices are visited, so DARE masks are identical for any thread count.
enum CounterRNG {
    /// SplitMix64's output function of `x` (one step from state `x`).
    @inline(__always) static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        return Xoshiro256.splitMix(&z)
    }

    /// Uniform in [0, 1) with 53 bits.
    @inline(__always) static func uniform(_ stream: UInt64, _ index: Int) -> Double {
        Double(mix(stream ^ mix(UInt64(truncatingIfNeeded: index))) >> 11) * 0x1p-53
    }

    /// A stream key from a seed, a tensor name and an input number (FNV-1a over the name).
    static func stream(seed: UInt64, name: String, input: Int) -> UInt64 {
        var h: UInt64 = 0xCBF2_9CE4_8422_2325
        for b in name.utf8 { h = (h ^ UInt64(b)) &* 0x100_0000_01B3 }
        return mix(seed ^ mix(h ^ mix(UInt64(input) &+ 0x5555)))
    }
}

extension Selection {
    /// Top-k of |x − base| without materialising all magnitudes when possible: a random sample brackets the
    /// threshold, one streaming pass counts the entries above the bracket and collects those inside it into
    /// `scratch`, and the exact threshold is selected among the (few) collected candidates. Falls back to the
    /// full selection when the bracket misses. Same result as `topK` on all magnitudes.
    static func topKMagnitude(x: UnsafePointer<Float>, base: UnsafePointer<Float>, n: Int, k: Int,
                              scratch: UnsafeMutableBufferPointer<Float>) -> KeepRule {
        let magnitude: (Int) -> Float = { j in abs(x[j] - base[j]) }
        if k >= n { return .all }
        if k <= 0 { return .none }
        let s = 16384
        if n >= 16 * s {
            var sample = [Float](repeating: 0, count: s)
            for i in 0..<s {
                let j = Int(CounterRNG.mix(UInt64(i) &+ 0x51ED_270B_2736_44E5) % UInt64(n))
                sample[i] = abs(x[j] - base[j])
            }
            sample.sort(by: >)
            let q = Double(k) / Double(n)
            let p = q * Double(s)
            let margin = 4 * (Double(s) * q * (1 - q)).squareRoot() + 16
            let hiRank = Int(p - margin), loRank = Int(p + margin)
            let hiVal: Float = hiRank <= 0 ? .infinity : sample[hiRank]
            let loVal: Float = loRank >= s - 1 ? -1 : sample[loRank]
            if !hiVal.isNaN && !loVal.isNaN {
                var above = 0, c = 0
                let sp = scratch.baseAddress!
                // Non-negative floats order like their bit patterns: one unsigned compare per test, no branches.
                let hiBits = hiVal.bitPattern
                let loBits: UInt32 = loVal <= 0 ? 0 : loVal.bitPattern
                let span = hiBits &- loBits
                for j in 0..<n {
                    let v = abs(x[j] - base[j])
                    let vb = v.bitPattern
                    // (a − b) >> 63 over UInt64 is 1 exactly when b > a: arithmetic instead of branches
                    above &+= Int(truncatingIfNeeded: (UInt64(hiBits) &- UInt64(vb)) >> 63)
                    sp[c] = v
                    c &+= 1 &- Int(truncatingIfNeeded: (UInt64(span) &- UInt64(vb &- loBits)) >> 63)
                }
                let need = k - above  // rank (descending, 1-based) of the threshold among candidates
                if need >= 1 && need <= c {
                    let cand = UnsafeMutableBufferPointer(rebasing: scratch[0..<c])
                    let t = select(cand, rank: c - need)
                    let (less, equal) = count(cand, around: t)
                    let greater = above + (c - less - equal)
                    let keepEq = k - greater
                    var idx = 0..<n
                    if keepEq < equal {
                        idx = 0..<occurrenceIndices(value: t, occurrences: [keepEq], n: n, magnitude: magnitude)[0]
                    }
                    return KeepRule(lo: t, hi: .infinity, loIndex: idx, hiIndex: n..<n)
                }
            }
        }
        if n >= 16 * s { Diagnostics.queue.sync { Diagnostics.sampledFallbacks += 1 } }
        for j in 0..<n { scratch[j] = abs(x[j] - base[j]) }
        return topK(UnsafeMutableBufferPointer(rebasing: scratch[0..<n]), k: k, magnitude: magnitude)
    }

    /// How often the sampled bracket missed (diagnostics for tests and the benchmark).
    static var sampledFallbacks: Int { Diagnostics.queue.sync { Diagnostics.sampledFallbacks } }
}

import Dispatch

/// Merge diagnostics, guarded by a serial queue.
enum Diagnostics {
    static let queue = DispatchQueue(label: "moonlab.merge.diagnostics")
    nonisolated(unsafe) static var sampledFallbacks = 0
    nonisolated(unsafe) static var selectionSeconds = 0.0
    nonisolated(unsafe) static var fusedSeconds = 0.0
}
