import MoonTensor

/// Errors raised by the model layer (bad configs, checkpoint mismatches, bad arguments). Never a crash on user input.
public enum ModelError: Error, CustomStringConvertible, Sendable {
    /// A configuration value is invalid: `field` names it (e.g. "decoder.num_heads").
    case invalidConfig(field: String, reason: String)
    /// A state dict does not match the module: every difference is listed.
    case stateDictMismatch(missing: [String], unexpected: [String], mismatched: [(name: String, expected: [Int], got: [Int])])
    /// An argument of a model call is invalid.
    case invalidArgument(String)
    /// A checkpoint file is unreadable or inconsistent.
    case checkpoint(path: String, reason: String)

    public var description: String {
        switch self {
        case let .invalidConfig(field, reason): return "invalid config: \(field): \(reason)"
        case let .stateDictMismatch(missing, unexpected, mismatched):
            var parts: [String] = []
            if !missing.isEmpty { parts.append("missing \(missing.count) tensor(s): \(missing.joined(separator: ", "))") }
            if !unexpected.isEmpty { parts.append("unexpected \(unexpected.count) tensor(s): \(unexpected.joined(separator: ", "))") }
            if !mismatched.isEmpty {
                parts.append("mis-shaped \(mismatched.count) tensor(s): " + mismatched.map {
                    "\($0.name) (expected \(shapeString($0.expected)), got \(shapeString($0.got)))"
                }.joined(separator: ", "))
            }
            return "state dict mismatch: " + parts.joined(separator: "; ")
        case let .invalidArgument(m): return m
        case let .checkpoint(path, reason): return "checkpoint \(path): \(reason)"
        }
    }
    public var localizedDescription: String { description }
}

func shapeString(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }
