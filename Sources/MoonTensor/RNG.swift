import Foundation

/// A seedable pseudo-random generator (xoshiro256**, seeded through splitmix64). Not thread-safe:
/// use one generator per thread.
public final class Generator {
    private var s0: UInt64 = 0, s1: UInt64 = 0, s2: UInt64 = 0, s3: UInt64 = 0
    /// The seed last set.
    public private(set) var seed: UInt64 = 0

    /// Creates a generator; the same seed always yields the same sequence.
    public init(seed: UInt64) { manualSeed(seed) }

    /// Resets the generator to the start of the sequence for `seed`.
    public func manualSeed(_ seed: UInt64) {
        self.seed = seed
        var x = seed
        func splitmix() -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        s0 = splitmix(); s1 = splitmix(); s2 = splitmix(); s3 = splitmix()
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
        get { [s0, s1, s2, s3] }
        set { if newValue.count == 4 { s0 = newValue[0]; s1 = newValue[1]; s2 = newValue[2]; s3 = newValue[3] } }
    }

    @inline(__always) private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// The next 64 random bits.
    @inline(__always)
    public func nextUInt64() -> UInt64 {
        let result = Generator.rotl(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0; s3 ^= s1; s1 ^= s2; s0 ^= s3
        s2 ^= t
        s3 = Generator.rotl(s3, 45)
        return result
    }

    /// A uniform float in [0, 1).
    @inline(__always)
    public func nextFloat() -> Float { Float(nextUInt64() >> 40) * (1.0 / 16_777_216.0) }

    /// A uniform double in [0, 1).
    @inline(__always)
    public func nextDouble() -> Double { Double(nextUInt64() >> 11) * (1.0 / 9_007_199_254_740_992.0) }

    /// A uniform integer in `low..<high` (requires low < high).
    @inline(__always)
    public func nextInt(_ low: Int, _ high: Int) -> Int {
        let range = UInt64(high - low)
        return low + Int(nextUInt64().multipliedFullWidth(by: range).high)
    }

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
