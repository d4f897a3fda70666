/// Ctrl-C for long Swift loops: the scripting layer installs `probe` (it reads the flag the SIGINT handler sets);
/// loops that can run for more than a fraction of a second (demos, generation, merging, training steps) call
/// `Interrupt.check()` every iteration and stop with `InterruptError`.
public enum Interrupt {
    /// Returns whether an interrupt is pending. nil (never interrupted) until the scripting layer installs it.
    public nonisolated(unsafe) static var probe: (() -> Bool)?

    /// Throws `InterruptError` when an interrupt is pending.
    @inline(__always)
    public static func check() throws {
        if let probe, probe() { throw InterruptError() }
    }
}

/// A long operation stopped by Ctrl-C.
public struct InterruptError: Error, CustomStringConvertible, Sendable {
    public init() {}
    public var description: String { "interrupted" }
}
