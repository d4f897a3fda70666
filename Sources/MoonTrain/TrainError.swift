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

/// Parses a string option into one of an enum's cases by raw value (as Lua option tables give them), throwing an
/// error that names the key and lists the accepted values, e.g.
/// `ppo: argument 'estimator': unknown value 'k2' (expected one of: k1, abs, k3)`.
public func parseOption<E: RawRepresentable & CaseIterable>(_ value: String, key: String, op: String,
                                                            as type: E.Type = E.self) throws -> E where E.RawValue == String {
    if let e = E(rawValue: value) { return e }
    throw TrainError(op, arg: key, "unknown value '\(value)' (expected one of: \(E.allCases.map(\.rawValue).joined(separator: ", ")))")
}
