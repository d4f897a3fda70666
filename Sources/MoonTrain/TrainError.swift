import Foundation
import MoonTensor

/// MoonTrain's errors on bad user input are tensor errors naming the operation and the argument or key, e.g.
/// `distill.forward_kl: argument 'mask': expected shape [2, 3], got [2]`.
public typealias TrainError = TensorError

extension TensorError {
    /// An error about a named argument: `op: argument 'name': reason`.
    public init(_ op: String, named name: String, _ reason: String) {
        self.init(op, arg: "'\(name)'", reason)
    }
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
    throw TrainError(op, named: key, "unknown value '\(value)' (expected one of: \(E.allCases.map(\.rawValue).joined(separator: ", ")))")
}
