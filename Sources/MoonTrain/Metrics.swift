import Foundation
import MoonTensor

/// A metric value: a number or a text.
public enum MetricValue: Equatable, Sendable, CustomStringConvertible {
    case number(Double)
    case text(String)

    public var doubleValue: Double? { if case .number(let d) = self { return d }; return nil }
    public var description: String {
        switch self {
        case .number(let d): return TrainJSON.formatNumber(d) == "null" ? "\(d)" : TrainJSON.formatNumber(d)
        case .text(let s): return s
        }
    }
}

/// Common metric keys (the progress line and the default plots look for these).
public enum MetricKey {
    public static let update = "update"
    public static let episodeReturn = "return"
    public static let successRate = "success_rate"
    public static let invalidRate = "invalid_rate"
    public static let episodeLength = "episode_length"
    public static let entropy = "entropy"
    public static let kl = "kl"
    public static let approxKL = "approx_kl"
    public static let clipFraction = "clip_frac"
    public static let valueLoss = "value_loss"
    public static let policyLoss = "policy_loss"
    public static let tokensPerSecond = "tokens_per_s"
    public static let wallSeconds = "wall_s"
    public static let distinct2 = "distinct_2"
    public static let distinctThoughts = "distinct_thoughts"
    public static let selfBLEU = "self_bleu"
}

/// One record: ordered keys → number or text. Setting an existing key keeps its position.
public struct MetricsRecord: Equatable, Sendable, ExpressibleByDictionaryLiteral {
    public private(set) var keys: [String] = []
    private var values: [String: MetricValue] = [:]

    public init() {}
    public init(_ pairs: [(String, MetricValue)]) { for (k, v) in pairs { self[k] = v } }
    public init(dictionaryLiteral elements: (String, MetricValue)...) { for (k, v) in elements { self[k] = v } }

    public subscript(key: String) -> MetricValue? {
        get { values[key] }
        set {
            if let v = newValue {
                if values[key] == nil { keys.append(key) }
                values[key] = v
            } else if values.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
            }
        }
    }

    public mutating func set(_ key: String, _ value: Double) { self[key] = .number(value) }
    public mutating func set(_ key: String, _ value: String) { self[key] = .text(value) }
    public func number(_ key: String) -> Double? { values[key]?.doubleValue }
    public var pairs: [(String, MetricValue)] { keys.map { ($0, values[$0]!) } }

    /// The record as a JSON object (NaN/Infinity become null).
    public var json: TrainJSON {
        .object(pairs: pairs.map { k, v in
            switch v {
            case .number(let d): return (k, .number(d))
            case .text(let s): return (k, .string(s))
            }
        })
    }

    /// A record from a flat JSON object: numbers and strings kept, booleans as 1/0, null as NaN,
    /// nested arrays/objects as their compact JSON text.
    public init(json: TrainJSON) throws {
        guard let members = json.members else { throw TrainError("metrics", "expected a JSON object per line, got \(json.serialized().prefix(40))") }
        for m in members {
            switch m.value {
            case .number(let d): self[m.key] = .number(d)
            case .string(let s): self[m.key] = .text(s)
            case .bool(let b): self[m.key] = .number(b ? 1 : 0)
            case .null: self[m.key] = .number(.nan)
            default: self[m.key] = .text(m.value.serialized())
            }
        }
    }
}

/// Appends per-update records to `metrics.jsonl` (one JSON object per line, written through at once) and
/// `metrics.csv` (header from the first record's keys). When a later record brings new keys, they are appended to the
/// header and the CSV is rewritten (atomically) from all records so every row has the same columns; missing values are
/// empty cells.
public final class MetricsLogger {
    public let jsonlPath: String
    public let csvPath: String
    public private(set) var records: [MetricsRecord] = []
    public private(set) var csvHeader: [String] = []

    /// Opens the logger in `directory` (created if missing). With `append` (default), existing records in the JSONL file
    /// are loaded and new ones appended (resuming a run); otherwise both files are started afresh.
    public init(directory: String, jsonlName: String = "metrics.jsonl", csvName: String = "metrics.csv", append: Bool = true) throws {
        let fm = FileManager.default
        do { try fm.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw TrainError("metrics", named: "directory", "cannot create \(directory): \(error.localizedDescription)")
        }
        jsonlPath = (directory as NSString).appendingPathComponent(jsonlName)
        csvPath = (directory as NSString).appendingPathComponent(csvName)
        if append, fm.fileExists(atPath: jsonlPath) {
            records = try MetricsLogger.read(jsonlPath)
            for r in records { for k in r.keys where !csvHeader.contains(k) { csvHeader.append(k) } }
            try rewriteCSV()
        } else {
            try writeFileAtomically("", to: jsonlPath)
            try writeFileAtomically("", to: csvPath)
        }
    }

    /// Appends one record to both files.
    public func log(_ record: MetricsRecord) throws {
        records.append(record)
        try appendLine(record.json.serialized() + "\n", to: jsonlPath)
        let newKeys = record.keys.filter { !csvHeader.contains($0) }
        if csvHeader.isEmpty {
            csvHeader = record.keys
            try appendLine(MetricsLogger.csvLine(csvHeader) + "\n" + csvRow(record) + "\n", to: csvPath)
        } else if !newKeys.isEmpty {
            csvHeader += newKeys
            try rewriteCSV()
        } else {
            try appendLine(csvRow(record) + "\n", to: csvPath)
        }
    }

    /// Drops the records logged after `update` (by their `update` value; records without one stay) and rewrites both
    /// files atomically. Resuming from a checkpoint calls this, so an update that was logged but not checkpointed
    /// before a crash is not counted twice. Returns how many records were dropped.
    @discardableResult
    public func truncate(after update: Double, key: String = MetricKey.update) throws -> Int {
        let kept = records.filter { ($0.number(key) ?? -Double.infinity) <= update }
        let dropped = records.count - kept.count
        guard dropped > 0 else { return 0 }
        records = kept
        try writeFileAtomically(records.map { $0.json.serialized() + "\n" }.joined(), to: jsonlPath)
        try rewriteCSV()
        return dropped
    }

    /// Convenience: log ordered pairs of numbers.
    public func log(_ pairs: [(String, Double)]) throws { try log(MetricsRecord(pairs.map { ($0.0, .number($0.1)) })) }

    /// All values of `key` in record order, with the x value of `xKey` (record index when absent). Non-numbers skipped.
    public func series(_ key: String, xKey: String = MetricKey.update) -> [(x: Double, y: Double)] {
        MetricsLogger.series(records, key, xKey: xKey)
    }

    static func series(_ records: [MetricsRecord], _ key: String, xKey: String) -> [(x: Double, y: Double)] {
        var out: [(x: Double, y: Double)] = []
        for (i, r) in records.enumerated() {
            guard let y = r.number(key), y.isFinite else { continue }
            out.append((r.number(xKey) ?? Double(i), y))
        }
        return out
    }

    /// Reads a `metrics.jsonl` file (blank lines skipped). Errors name the file and line.
    public static func read(_ path: String) throws -> [MetricsRecord] {
        let data: Data
        do { data = try RegularFile.read(path) } catch {
            throw TrainError("metrics.read", named: "path", "cannot read \(error)")
        }
        var out: [MetricsRecord] = []
        for (i, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            do { out.append(try MetricsRecord(json: TrainJSON.parse(t))) } catch {
                throw TrainError("metrics.read", "\(path):\(i + 1): \(error)")
            }
        }
        return out
    }

    private func csvRow(_ r: MetricsRecord) -> String {
        MetricsLogger.csvLine(csvHeader.map { k in
            switch r[k] {
            case .none: return ""
            case .number(let d)?: return d.isNaN ? "NaN" : (d.isInfinite ? (d > 0 ? "inf" : "-inf") : TrainJSON.formatNumber(d))
            case .text(let s)?: return s
            }
        })
    }

    static func csvLine(_ fields: [String]) -> String {
        fields.map { f in
            f.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
                ? "\"" + f.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : f
        }.joined(separator: ",")
    }

    private func rewriteCSV() throws {
        var s = csvHeader.isEmpty ? "" : MetricsLogger.csvLine(csvHeader) + "\n"
        for r in records { s += csvRow(r) + "\n" }
        try writeFileAtomically(s, to: csvPath)
    }

    private func appendLine(_ s: String, to path: String) throws {
        guard let h = FileHandle(forWritingAtPath: path) else {
            throw TrainError("metrics.log", "cannot open \(path) for appending")
        }
        defer { try? h.close() }
        do {
            try h.seekToEnd()
            try h.write(contentsOf: Data(s.utf8))
        } catch { throw TrainError("metrics.log", "cannot write \(path): \(error.localizedDescription)") }
    }
}

/// The live progress line: `update 12/50 | return 3.21 | success 41.0% | invalid 2.0% | entropy 0.53 | kl 0.012 |
/// 1520 tok/s | 00:03:12`. Fields whose key is missing from the record are left out.
public enum ProgressLine {
    public enum Style: Sendable {
        /// 3 significant digits (`3.21`, `0.012`, `123`).
        case number
        /// A fraction shown as a percentage with one decimal (`0.41` → `41.0%`).
        case percent
        /// An integer followed by a unit (`1520 tok/s`).
        case rate(unit: String)
    }

    public struct Field: Sendable {
        public var key: String
        public var label: String
        public var style: Style
        public init(_ key: String, _ label: String, _ style: Style = .number) { self.key = key; self.label = label; self.style = style }
    }

    public static let defaultFields: [Field] = [
        Field(MetricKey.episodeReturn, "return"), Field(MetricKey.successRate, "success", .percent),
        Field(MetricKey.invalidRate, "invalid", .percent), Field(MetricKey.entropy, "entropy"), Field(MetricKey.kl, "kl"),
        Field(MetricKey.tokensPerSecond, "", .rate(unit: "tok/s")), Field("time_split", ""),
    ]

    public static func format(update: Int, total: Int?, record: MetricsRecord, elapsed: Double,
                              fields: [Field] = defaultFields) -> String {
        var parts = ["update \(update)" + (total.map { "/\($0)" } ?? "")]
        for f in fields {
            guard let v = record[f.key] else { continue }
            let text: String
            switch (v, f.style) {
            case (.text(let s), _): text = s
            case (.number(let d), .number): text = compact(d)
            case (.number(let d), .percent): text = d.isFinite ? String(format: "%.1f%%", d * 100) : "\(d)"
            case (.number(let d), .rate(let unit)): text = (d.isFinite ? String(format: "%.0f", d) : "\(d)") + " " + unit
            }
            parts.append(f.label.isEmpty ? text : f.label + " " + text)
        }
        parts.append(duration(elapsed))
        return parts.joined(separator: " | ")
    }

    /// 3 significant digits without trailing zeros: `3.21`, `0.53`, `0.012`, `1.5e-05`.
    public static func compact(_ d: Double) -> String {
        guard d.isFinite else { return d.isNaN ? "nan" : (d > 0 ? "inf" : "-inf") }
        if d != 0 && Swift.abs(d) >= 1000 { return String(format: "%.0f", d) }
        return String(format: "%.3g", d)
    }

    /// `HH:MM:SS` (hours may exceed 99).
    public static func duration(_ seconds: Double) -> String {
        let s = max(0, Int(seconds.isFinite ? seconds : 0))
        return String(format: "%02d:%02d:%02d", s / 3600, (s / 60) % 60, s % 60)
    }
}
