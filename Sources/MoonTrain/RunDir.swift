import Foundation
import MoonEnvs
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
///     RUN/checkpoints/         step-000012.safetensors, ...
///     RUN/teacher/             merged teachers
///     RUN/samples/             sample rollouts (images and texts)
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

    public static let checkpointExtension = "safetensors"

    public init(_ path: String, mode: Mode = .create) throws {
        let op = "run_dir"
        guard !path.isEmpty else { throw TrainError(op, named: "path", "must not be empty") }
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

    /// `step-000012.safetensors` (6 digits at least; larger steps use more).
    public static func checkpointFileName(step: Int, ext: String = checkpointExtension) -> String {
        String(format: "step-%06d", step) + (ext.isEmpty ? "" : "." + ext)
    }

    /// The step number of a checkpoint file name (`step-000012.safetensors` → 12), nil for other names.
    public static func checkpointStep(fileName: String, ext: String = checkpointExtension) -> Int? {
        guard fileName.hasPrefix("step-") else { return nil }
        var rest = fileName.dropFirst(5)
        if !ext.isEmpty {
            guard rest.hasSuffix("." + ext) else { return nil }
            rest = rest.dropLast(ext.count + 1)
        }
        guard !rest.isEmpty, rest.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return Int(rest)
    }

    public func checkpointPath(step: Int) throws -> String {
        guard step >= 0 else { throw TrainError("run_dir.checkpoint_path", named: "step", "must be >= 0, got \(step)") }
        return (checkpointsDir as NSString).appendingPathComponent(RunDir.checkpointFileName(step: step))
    }

    public func teacherPath(step: Int) throws -> String {
        guard step >= 0 else { throw TrainError("run_dir.teacher_path", named: "step", "must be >= 0, got \(step)") }
        return (teacherDir as NSString).appendingPathComponent(RunDir.checkpointFileName(step: step))
    }

    /// Checkpoint files in `dir` (default: checkpoints/), sorted by step.
    public func checkpoints(in dir: String? = nil) -> [(step: Int, path: String)] {
        let d = dir ?? checkpointsDir
        let names = (try? FileManager.default.contentsOfDirectory(atPath: d)) ?? []
        return names.compactMap { n in RunDir.checkpointStep(fileName: n).map { ($0, (d as NSString).appendingPathComponent(n)) } }
            .sorted { $0.0 < $1.0 }
    }

    /// The checkpoint with the highest step number, or nil when there is none.
    public func latestCheckpoint() -> (step: Int, path: String)? { checkpoints().last }

    /// Teacher files in teacher/, sorted by step.
    public func teachers() -> [(step: Int, path: String)] { checkpoints(in: teacherDir) }

    /// A path in samples/ (the name must be a plain file name).
    public func samplePath(_ name: String) throws -> String {
        try RunDir.checkPlainName(name, "run_dir.sample_path")
        return (samplesDir as NSString).appendingPathComponent(name)
    }

    /// Writes one sample to samples/: `<name>.png` (when an image is given) and `<name>.json` (the record, with an
    /// `"image"` member naming the PNG added when there is one), both atomically. `name` must be a plain file name
    /// without extension, e.g. `"u0012-env3-step2"`. Returns the paths written.
    @discardableResult
    public func writeSample(_ name: String, image: RGBImage? = nil, record: TrainJSON) throws -> (json: String, png: String?) {
        let op = "run_dir.write_sample"
        try RunDir.checkPlainName(name, op)
        guard var members = record.members else { throw TrainError(op, named: "record", "expected a JSON object") }
        var png: String? = nil
        if let img = image {
            let p = (samplesDir as NSString).appendingPathComponent(name + ".png")
            try writeFileAtomically(Data(PNG.encode(img)), to: p)
            png = p
            members.removeAll { $0.key == "image" }
            members.append(TrainJSON.Member("image", .string(name + ".png")))
        }
        let j = (samplesDir as NSString).appendingPathComponent(name + ".json")
        try writeFileAtomically(TrainJSON.object(members).pretty() + "\n", to: j)
        return (j, png)
    }

    /// plots/<metric>.png with the metric name made file-safe.
    public func plotPath(_ metric: String) -> String {
        (plotsDir as NSString).appendingPathComponent(RunDir.fileSafe(metric) + ".png")
    }

    static func fileSafe(_ s: String) -> String {
        let t = String(s.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == "." ? $0 : "_" })
        return t.isEmpty || t.hasPrefix(".") ? "_" + t : t
    }

    static func checkPlainName(_ name: String, _ op: String) throws {
        guard !name.isEmpty, !name.contains("/"), name != ".", name != ".." else {
            throw TrainError(op, named: "name", "expected a plain file name, got '\(name)'")
        }
    }

    /// Run directories (containing config.json or metrics.jsonl) directly under `root`, sorted by name.
    public static func list(root: String) -> [String] {
        let fm = FileManager.default
        let names = (try? fm.contentsOfDirectory(atPath: root)) ?? []
        return names.sorted().map { (root as NSString).appendingPathComponent($0) }.filter {
            fm.fileExists(atPath: ($0 as NSString).appendingPathComponent("config.json"))
                || fm.fileExists(atPath: ($0 as NSString).appendingPathComponent("metrics.jsonl"))
        }
    }
}
