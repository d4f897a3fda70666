/// A small seeded PRNG for the environments: SplitMix64 seeding a xoshiro256** generator.
/// Independent of MoonTensor's RNG so env dynamics never depend on model sampling.
public struct EnvRandom: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// SplitMix64 step (also used to derive child seeds).
    @inline(__always)
    public static func splitMix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    public init(seed: UInt64) {
        var x = seed
        s0 = EnvRandom.splitMix(&x); s1 = EnvRandom.splitMix(&x)
        s2 = EnvRandom.splitMix(&x); s3 = EnvRandom.splitMix(&x)
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    /// Seed of child stream `index` of `base` (e.g. env i of a vector env).
    public static func derive(_ base: UInt64, _ index: UInt64) -> UInt64 {
        var x = base ^ (index &* 0xD1B5_4A32_D192_ED03)
        _ = splitMix(&x)
        return splitMix(&x)
    }

    @inline(__always)
    private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = EnvRandom.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = EnvRandom.rotl(s3, 45)
        return result
    }

    /// Uniform integer in `range` (inclusive), unbiased (Lemire's method).
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(range.upperBound - range.lowerBound) &+ 1
        if span == 0 { return Int(truncatingIfNeeded: next()) }
        var m = next().multipliedFullWidth(by: span)
        if m.low < span {
            let t = (0 &- span) % span
            while m.low < t { m = next().multipliedFullWidth(by: span) }
        }
        return range.lowerBound + Int(m.high)
    }

    /// Uniform index in 0..<n.
    public mutating func index(_ n: Int) -> Int { int(in: 0...(n - 1)) }

    /// Uniform double in [0, 1).
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A random element of a non-empty array.
    public mutating func choice<T>(_ xs: [T]) -> T { xs[index(xs.count)] }
}
