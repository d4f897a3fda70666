import Foundation
import MoonTensor
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes `data` to `path` atomically: a temporary file in the same directory is written, fsync'ed and renamed over
/// `path` (then the directory is fsync'ed), so readers see either the old or the new content, never a torn file.
/// For small text/JSON files (configs, metrics CSV); checkpoints use the safetensors writer. One home for atomic
/// writes: this is `AtomicFile` (which refuses to replace devices, FIFOs and directories).
public func writeFileAtomically(_ data: Data, to path: String) throws {
    do { try AtomicFile.write(to: path, bytes: [UInt8](data)) } catch let e as FileIOError {
        throw TrainError("write_file_atomically", "cannot create \(path) atomically: \(e.description)")
    }
}

/// Writes UTF-8 text atomically (see `writeFileAtomically(_:to:)` for data).
public func writeFileAtomically(_ text: String, to path: String) throws {
    try writeFileAtomically(Data(text.utf8), to: path)
}

/// A training run's directory:
///
///     RUN/config.json          the resolved config (written atomically)
///     RUN/metrics.jsonl, .csv  per-update metrics
///     RUN/checkpoints/         step-000012.safetensors, optim-…, state-….json (`checkpointFiles(step:)`, `prune`:
///                              this type is the one owner of their names)
///     RUN/teacher/             merged teachers (the GTR-Turbo pool)
///     RUN/samples/             sample rollouts
///     RUN/plots/               PNG charts
public final class RunDir {
    public enum Mode: String, Sendable {
        /// A new run: the directory must not exist or be empty.
        case create
        /// An existing run: the directory must exist.
        case resume
        /// Resume when the directory exists and is not empty, else create.
        case createOrResume = "auto"
    }

    public let path: String
    /// True when the run was opened on an existing, non-empty directory.
    public let resumed: Bool
    /// Names of the temporary files of interrupted writes removed when the run was opened.
    public private(set) var sweptTemporaries: [String] = []

    public init(_ path: String, mode: Mode = .create) throws {
        let op = "run_dir"
        guard !path.isEmpty else { throw TrainError(op, named: "path", "must not be empty") }
        do { try checkPath(path) } catch let e as FileIOError { throw TrainError(op, named: "path", e.message) }
        let fm = FileManager.default
        var isDir: ObjCBool = false
        let exists = fm.fileExists(atPath: path, isDirectory: &isDir)
        if exists && !isDir.boolValue { throw TrainError(op, named: "path", "'\(path)' exists and is not a directory") }
        let entries = exists ? ((try? fm.contentsOfDirectory(atPath: path)) ?? []) : []
        let nonEmpty = exists && !entries.isEmpty
        switch mode {
        case .create:
            if nonEmpty {
                throw TrainError(op, named: "path", "run directory '\(path)' already exists (\(entries.count) entries); resume it or choose another name")
            }
            resumed = false
        case .resume:
            guard exists else { throw TrainError(op, named: "path", "cannot resume: run directory '\(path)' does not exist") }
            resumed = true
        case .createOrResume:
            resumed = nonEmpty
        }
        self.path = path
        for d in [path, checkpointsDir, teacherDir, samplesDir, plotsDir] {
            do { try fm.createDirectory(atPath: d, withIntermediateDirectories: true) } catch {
                throw TrainError(op, named: "path", "cannot create \(d): \(error.localizedDescription)")
            }
        }
        // temp files of writes a kill -9 interrupted (checkpoints are megabytes each)
        for d in [path, checkpointsDir, teacherDir, samplesDir, plotsDir] {
            sweptTemporaries += AtomicFile.sweepTemporaries(in: d)
        }
    }

    public func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
    public var configPath: String { file("config.json") }
    public var metricsJSONLPath: String { file("metrics.jsonl") }
    public var metricsCSVPath: String { file("metrics.csv") }
    public var checkpointsDir: String { file("checkpoints") }
    public var teacherDir: String { file("teacher") }
    public var samplesDir: String { file("samples") }
    public var plotsDir: String { file("plots") }

    // MARK: config

    /// Writes the resolved config as indented JSON, atomically.
    public func writeConfig(_ config: TrainJSON) throws {
        guard config.members != nil else { throw TrainError("run_dir.write_config", named: "config", "expected a JSON object") }
        try writeFileAtomically(config.pretty() + "\n", to: configPath)
    }

    /// Writes a config given as JSON text (validated first), atomically.
    public func writeConfig(text: String) throws {
        let v: TrainJSON
        do { v = try TrainJSON.parse(text) } catch { throw TrainError("run_dir.write_config", named: "config", "not valid JSON: \(error)") }
        try writeConfig(v)
    }

    /// The stored config, or nil when none was written yet.
    public func readConfig() throws -> TrainJSON? {
        guard let d = try? RegularFile.read(configPath) else { return nil }
        do { return try TrainJSON.parse(String(decoding: d, as: UTF8.self)) } catch {
            throw TrainError("run_dir.read_config", "\(configPath): \(error)")
        }
    }

    /// A metrics logger on this run's files (appending when resuming).
    public func metricsLogger() throws -> MetricsLogger {
        try MetricsLogger(directory: path, append: resumed)
    }

    // MARK: checkpoints

    /// The files of the checkpoint taken at `step`, relative to the run directory: the policy weights, the optimiser
    /// state and the state record that points at both (written last: the resume point).
    public static func checkpointFiles(step: Int) -> (policy: String, optimizer: String, state: String) {
        let n = String(format: "%06d", step)
        return ("checkpoints/step-\(n).safetensors", "checkpoints/optim-\(n).safetensors", "checkpoints/state-\(n).json")
    }

    /// The state records (`checkpoints/state-NNNNNN.json`), sorted by step, as (step, absolute path).
    public func stateRecords() -> [(step: Int, path: String)] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: checkpointsDir)) ?? []
        return names.compactMap { n -> (Int, String)? in
            guard n.hasPrefix("state-"), n.hasSuffix(".json"), let s = Int(n.dropFirst(6).dropLast(5)), s >= 0 else { return nil }
            return (s, file("checkpoints/" + n))
        }.sorted { $0.0 < $1.0 }
    }

    /// Writes the state record of `step` atomically (after its weights and optimiser files).
    public func writeState(step: Int, json: String) throws {
        try writeFileAtomically(json, to: file(Self.checkpointFiles(step: step).state))
    }

    /// Removes every checkpoint but the newest `keep` (at least 1): state record first, then its weight files.
    public func prune(keep: Int) {
        let fm = FileManager.default
        for (step, _) in stateRecords().dropLast(Swift.max(1, keep)) {
            let f = Self.checkpointFiles(step: step)
            for rel in [f.state, f.policy, f.optimizer] { try? fm.removeItem(atPath: file(rel)) }
        }
    }

    /// A metric name made safe as a file name (plots/<name>.png).
    static func fileSafe(_ s: String) -> String {
        let t = String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
        return t.isEmpty || t.hasPrefix(".") ? "_" + t : t
    }
}
