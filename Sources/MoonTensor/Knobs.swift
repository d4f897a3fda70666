import Foundation

/// Tuning knobs read from the environment (`MOONLAB_*`), in one place: a value that is not a number in the knob's
/// range is ignored with a warning on stderr (never trusted into an allocation or an index): the caller's default holds.
public enum Knob {
    /// An integer knob: `name`'s value when it is an integer in `range`; nil when unset or not one.
    public static func integer(_ name: String, in range: ClosedRange<Int>) -> Int? {
        guard let text = ProcessInfo.processInfo.environment[name], !text.isEmpty else { return nil }
        guard let v = Int(text.trimmingCharacters(in: .whitespaces)), range.contains(v) else {
            warn(name, text, "an integer in \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return v
    }

    /// A number knob: `name`'s value when it is a finite number in `range`; nil when unset or not one.
    public static func number(_ name: String, in range: ClosedRange<Double>) -> Double? {
        guard let text = ProcessInfo.processInfo.environment[name], !text.isEmpty else { return nil }
        guard let v = Double(text.trimmingCharacters(in: .whitespaces)), v.isFinite, range.contains(v) else {
            warn(name, text, "a number in \(range.lowerBound)...\(range.upperBound)")
            return nil
        }
        return v
    }

    /// A switch: on unless the variable is "0" (`defaultOn`), or off unless it is "1".
    public static func flag(_ name: String, defaultOn: Bool) -> Bool {
        let v = ProcessInfo.processInfo.environment[name]
        return defaultOn ? v != "0" : v == "1"
    }

    private static func warn(_ name: String, _ text: String, _ expected: String) {
        FileHandle.standardError.write(Data("moonlab: ignoring \(name)=\(text.prefix(40)): expected \(expected); using the default\n".utf8))
    }
}
