/// An error raised by a tensor operation on bad user input.
///
/// The message names the operation, the argument, what was expected and what came,
/// e.g. `matmul: argument #2: expected shape [4, *], got [3, 5]`.
public struct TensorError: Error, CustomStringConvertible, Sendable {
    /// The operation that failed (e.g. `"matmul"`).
    public let op: String
    /// The human-readable reason, without the op prefix.
    public let reason: String

    /// Creates an error for `op` with a free-form reason.
    public init(_ op: String, _ reason: String) {
        self.op = op
        self.reason = reason
    }

    /// Creates an error about one argument: `op: argument <arg>: <reason>`.
    /// `arg` is either a position like `"#2"` or a name like `"'dim'"`.
    public init(_ op: String, arg: String, _ reason: String) {
        self.op = op
        self.reason = "argument \(arg): \(reason)"
    }

    /// The full message: `op: reason`.
    public var message: String { "\(op): \(reason)" }
    public var description: String { message }
    public var localizedDescription: String { message }
}

/// Formats a shape as `[2, 3]`.
@inline(never)
func fmt(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
