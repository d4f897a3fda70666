/// An error raised by Lua code (or by loading it), with the Lua traceback when one was captured.
public struct LuaError: Error, CustomStringConvertible {
    public enum Kind: Sendable { case syntax, runtime, memory, file }
    public let kind: Kind
    /// The message followed by the traceback, as Lua's message handler produced it.
    public let message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }
}

/// An error a binding throws for a bad argument; the dispatcher turns it into a Lua error.
/// The message is complete (`moon.x.f: argument #2 'lr': expected number, got string`).
public struct LuaArgumentError: Error, CustomStringConvertible {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
