import Foundation

/// moonlab's one pseudo-random generator: xoshiro256** seeded through SplitMix64. A value type (copying it forks the
/// stream); `Generator` wraps it for tensors, and the environments use it as `EnvRandom`. The same seed gives the same
/// stream in both.
public struct Xoshiro256: RandomNumberGenerator, Sendable {
    private var s0: UInt64, s1: UInt64, s2: UInt64, s3: UInt64

    /// One SplitMix64 step: advances `x` and returns the next output (used for seeding and to derive child seeds).
    @inline(__always)
    public static func splitMix(_ x: inout UInt64) -> UInt64 {
        x &+= 0x9E37_79B9_7F4A_7C15
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The stream for `seed`: four SplitMix64 outputs are the state.
    public init(seed: UInt64) {
        var x = seed
        s0 = Xoshiro256.splitMix(&x); s1 = Xoshiro256.splitMix(&x)
        s2 = Xoshiro256.splitMix(&x); s3 = Xoshiro256.splitMix(&x)
        if s0 | s1 | s2 | s3 == 0 { s0 = 1 }
    }

    /// The internal state (for checkpointing); setting it needs four words.
    public var state: [UInt64] {
        get { [s0, s1, s2, s3] }
        set { if newValue.count == 4 { s0 = newValue[0]; s1 = newValue[1]; s2 = newValue[2]; s3 = newValue[3] } }
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// The next 64 random bits.
    @inline(__always)
    public mutating func next() -> UInt64 {
        let result = Xoshiro256.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = Xoshiro256.rotl(s3, 45)
        return result
    }

    /// A uniform integer in `range` (inclusive), unbiased (Lemire's multiply-and-reject).
    @inline(__always)
    public mutating func int(in range: ClosedRange<Int>) -> Int {
        let span = UInt64(bitPattern: Int64(range.upperBound &- range.lowerBound)) &+ 1
        if span == 0 { return Int(truncatingIfNeeded: next()) }
        var m = next().multipliedFullWidth(by: span)
        if m.low < span {
            let t = (0 &- span) % span
            while m.low < t { m = next().multipliedFullWidth(by: span) }
        }
        return range.lowerBound &+ Int(truncatingIfNeeded: m.high)
    }

    /// A uniform index in `0..<n` (n >= 1).
    public mutating func index(_ n: Int) -> Int { int(in: 0...(n - 1)) }

    /// A uniform double in [0, 1) (53 bits).
    @inline(__always)
    public mutating func uniform() -> Double { Double(next() >> 11) * 0x1.0p-53 }

    /// A random element of a non-empty array.
    public mutating func choice<T>(_ xs: [T]) -> T { xs[index(xs.count)] }
}

/// A seedable generator for tensor code (`moon.generator`, `moon.manual_seed`): a shared, mutable `Xoshiro256`.
/// Not thread-safe: use one generator per thread.
public final class Generator {
    private var core: Xoshiro256
    /// The seed last set.
    public private(set) var seed: UInt64 = 0

    /// Creates a generator; the same seed always yields the same sequence.
    public init(seed: UInt64) { core = Xoshiro256(seed: seed); self.seed = seed }

    /// Resets the generator to the start of the sequence for `seed`.
    public func manualSeed(_ seed: UInt64) {
        self.seed = seed
        core = Xoshiro256(seed: seed)
    }

    /// Per-row streams for batched sampling: row b of a batch draws from `rowStreams[b]` instead of this generator,
    /// so sampling a slice of a batch (one rank's envs) draws exactly what the whole batch would draw for those rows.
    public var rowStreams: [Generator]?

    /// The stream that row `row` of a batch samples from.
    @inline(__always)
    public func stream(forRow row: Int) -> Generator {
        if let r = rowStreams, row < r.count { return r[row] }
        return self
    }

    /// The internal state (for checkpointing).
    public var state: [UInt64] {
        get { core.state }
        set { core.state = newValue }
    }

    /// The next 64 random bits.
    @inline(__always)
    public func nextUInt64() -> UInt64 { core.next() }

    /// A uniform float in [0, 1).
    @inline(__always)
    public func nextFloat() -> Float { Float(nextUInt64() >> 40) * (1.0 / 16_777_216.0) }

    /// A uniform double in [0, 1).
    @inline(__always)
    public func nextDouble() -> Double { core.uniform() }

    /// A uniform integer in `low..<high`, unbiased (`low` when the range is empty).
    @inline(__always)
    public func nextInt(_ low: Int, _ high: Int) -> Int { high > low ? core.int(in: low...(high - 1)) : low }

    /// Two independent standard normals (Box-Muller).
    @inline(__always)
    public func nextNormalPair() -> (Float, Float) {
        let u1 = 1.0 - nextDouble()  // (0, 1]
        let u2 = nextDouble()
        let r = (-2.0 * Foundation.log(u1)).squareRoot()
        let th = 2.0 * Double.pi * u2
        return (Float(r * Foundation.cos(th)), Float(r * Foundation.sin(th)))
    }

    /// One standard normal.
    public func nextNormal() -> Float { nextNormalPair().0 }

    /// The process-wide default generator (seeded by `manualSeed`).
    public nonisolated(unsafe) static var `default` = Generator(seed: 0x5EED)
}

/// Re-seeds the default generator.
public func manualSeed(_ seed: UInt64) { Generator.default.manualSeed(seed) }
