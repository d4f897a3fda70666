import Foundation

/// An error raised by a MoonTrain primitive on bad user input.
///
/// The message names the operation and the argument or key, e.g.
/// `distill.forward_kl: argument 'mask': expected shape [2, 3], got [2]`.
public struct TrainError: Error, CustomStringConvertible, LocalizedError, Sendable {
    /// The operation that failed (e.g. `"gae"`).
    public let op: String
    /// The human-readable reason, without the op prefix.
    public let reason: String

    /// An error for `op` with a free-form reason.
    public init(_ op: String, _ reason: String) {
        self.op = op
        self.reason = reason
    }

    /// An error about one argument: `op: argument <arg>: <reason>`.
    public init(_ op: String, arg: String, _ reason: String) {
        self.op = op
        self.reason = "argument '\(arg)': \(reason)"
    }

    /// The full message: `op: reason`.
    public var message: String { "\(op): \(reason)" }
    public var description: String { message }
    public var errorDescription: String? { message }
}

/// Formats a shape as `[2, 3]`.
func shapeString(_ shape: [Int]) -> String {
    "[" + shape.map(String.init).joined(separator: ", ") + "]"
}
