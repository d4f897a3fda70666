import MoonTensor

/// The environments' random streams: MoonTensor's `Xoshiro256` (each env owns its own, so env dynamics never depend
/// on model sampling).
public typealias EnvRandom = Xoshiro256

extension Xoshiro256 {
    /// Seed of child stream `index` of `base` (e.g. env i of a vector env).
    public static func derive(_ base: UInt64, _ index: UInt64) -> UInt64 {
        var x = base ^ (index &* 0xD1B5_4A32_D192_ED03)
        _ = splitMix(&x)
        return splitMix(&x)
    }
}
