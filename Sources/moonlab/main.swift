import ArgumentParser
import Foundation
import MoonCheckpoint
import MoonDist
import MoonLua
import MoonTrain
import MoonTensor

/// The `moonlab` command: a REPL by default, `run FILE`, or `-e CODE`.
struct Moonlab: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "moonlab",
        abstract: "A scriptable workbench for training agentic vision-language-model policies (GTR-Turbo).",
        discussion: """
            With no arguments, starts the interactive REPL (history in ~/.moonlab_history, Tab completion).
            Exit codes: 0 success, 1 script error, 2 usage error.
            """,
        version: moonlabVersion,
        subcommands: [Run.self, MergeCommand.self, PlotCommand.self])

    @Option(name: .customShort("e"), help: ArgumentHelp("Run a Lua chunk and exit.", valueName: "code"))
    var execute: String?

    func run() throws {
        let state = LuaState()
        if let code = execute {
            // as its bytes: a string literal in the code may hold any
            let raw = rawArguments.last { String(decoding: $0, as: UTF8.self) == code } ?? Array(code.utf8)
            try runScript { try state.run(Data(raw), name: "=(command line)") }
            return
        }
        let code = REPL(state: state).run()
        Dist.finish(success: code == 0)
        throw ExitCode(code)
    }
}

/// `moonlab run FILE [ARGS...]`.
struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a Lua script (arg and ... hold its arguments).")

    @Argument(help: "The Lua script to run (a file or a pipe such as <(...); '-': standard input).") var file: String
    @Argument(parsing: .captureForPassthrough, help: "Arguments passed to the script.") var arguments: [String] = []

    func run() throws {
        try requireUTF8Arguments(before: arguments.count)
        let state = LuaState()
        // the script's arguments are the command line's last ones: passed as their bytes, which Swift strings would repair
        let raw = rawArguments.suffix(arguments.count)
        let exact = zip(raw, arguments).allSatisfy { String(decoding: $0, as: UTF8.self) == $1 }
        try runScript { try state.runFile(file, rawArguments: exact ? Array(raw) : arguments.map { Array($0.utf8) }) }
    }
}

/// `moonlab merge --method ties --base B --density 0.2 A B C -o out.safetensors`: `MergeMethod.named` (the
/// vocabulary of `moon.merge.*`) and `Merge.mergeFiles`, called directly.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge safetensors checkpoints (mergekit semantics), streaming tensor by tensor.",
        discussion: "Methods: \(MergeMethod.methodNames.joined(separator: ", ")) (options as moon.merge.<method>).")

    @Option(help: "Merge method.") var method = "ties"
    @Option(help: "Base model (needed by slerp, task_arithmetic, ties, dare_*, breadcrumbs).") var base: String?
    @Option(help: "Fraction of task-vector entries kept (ties, dare_*, breadcrumbs).") var density: Double?
    @Option(help: "Scale of the merged task vector.") var lambda: Double?
    @Option(help: "Comma-separated weights, one per model.") var weights: String?
    @Option(help: "Interpolation factor (slerp).") var t: Double?
    @Option(help: "EMA decay (ema): t = decay*t + (1-decay)*next.") var decay: Double?
    @Option(help: "Outlier fraction dropped (breadcrumbs).") var gamma: Double?
    @Option(help: "Random seed (dare_*).") var seed: Int?
    @Option(name: .shortAndLong, help: "Output safetensors file (written atomically).") var output: String
    @Argument(help: "The models to merge (safetensors files).") var models: [String]

    func run() throws {
        try requireUTF8Arguments()
        var options: [String: MergeOptionValue] = [:]
        if let density { options["density"] = .number(density) }
        if let lambda { options["lambda"] = .number(lambda) }
        if let t { options["t"] = .number(t) }
        if let decay { options["decay"] = .number(decay) }
        if let gamma { options["gamma"] = .number(gamma) }
        if let seed { options["seed"] = .number(Double(seed)) }
        if let weights {
            var list: [Double] = []
            for w in weights.split(separator: ",") {
                guard let v = Double(w.trimmingCharacters(in: .whitespaces)) else {
                    throw ValidationError("--weights: '\(w)' is not a number")
                }
                list.append(v)
            }
            options["weights"] = .numbers(list)
        }
        try runTool("merge") {
            let m = try MergeMethod.named(method, models: models.count, options: options)
            let start = Date()
            let r = try Merge.mergeFiles(m, base: base, models: models, output: output)
            print(String(format: "merged %d tensors (%d parameters) with %@ into %@ in %.2fs", r.tensors, r.parameters, method,
                         r.output, Date().timeIntervalSince(start)))
        }
    }
}

/// `moonlab plot RUN [RUN...] [--metrics success_rate,return] [--x wall_s] [--out DIR]`: `Plot.plotRuns`, called
/// directly.
struct PlotCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plot",
        abstract: "Write PNG curves (success rate, return, entropy, KL by default) from runs' metrics.jsonl.",
        discussion: "Several runs overlay in one chart per metric, with a legend; 'a+b' overlays two metrics.")

    @Option(help: "Comma-separated metrics (default: success_rate, return, entropy, kl when present).") var metrics: String?
    @Option(help: "Output directory (default: the first run's plots/).") var out: String?
    @Option(help: "The x axis: a metric such as update (default) or wall_s.") var x: String?
    @Argument(help: "Run directories.") var runs: [String]

    func run() throws {
        try requireUTF8Arguments()
        try runTool("plot") {
            let list = metrics.map { $0.split(separator: ",").map(String.init) }
            for p in try Plot.plotRuns(runs, metrics: list, xKey: x ?? MetricKey.update, outputDir: out) { print(p) }
        }
    }
}

/// The command line's arguments as the bytes the shell passed (`CommandLine.arguments` repairs invalid UTF-8).
let rawArguments: [[UInt8]] = (0..<Int(CommandLine.argc)).map { i in
    guard let p = CommandLine.unsafeArgv[i] else { return [] }
    return Array(UnsafeBufferPointer(start: UnsafeRawPointer(p).assumingMemoryBound(to: UInt8.self), count: strlen(p)))
}

/// A usage error (exit 2) when an argument before the last `passthrough` ones (a script's own, which may hold any
/// bytes) is not valid UTF-8: such a path or option would reach the program repaired, naming another file.
func requireUTF8Arguments(before passthrough: Int = 0) throws {
    for (i, a) in rawArguments.dropLast(passthrough).enumerated().dropFirst() where String(validating: a, as: UTF8.self) == nil {
        let shown = String(decoding: a, as: UTF8.self)
        FileHandle.standardError.write(Data("moonlab: argument \(i) ('\(shown)') is not valid UTF-8 (a path or an option must be; a script's own arguments may hold any bytes)\n".utf8))
        throw ExitCode(2)
    }
}

/// Runs a subcommand's Swift body: an error is printed as `moonlab <name>: <message>` and exits 1.
func runTool(_ name: String, _ body: () throws -> Void) throws {
    do {
        try body()
        fflush(stdout)
    } catch {
        fflush(stdout)
        FileHandle.standardError.write(Data("moonlab \(name): \(error)\n".utf8))
        throw ExitCode(1)
    }
}

/// Runs a script body, printing a Lua error (with traceback) to stderr and exiting 1.
func runScript(_ body: () throws -> Void) throws {
    do {
        try body()
        fflush(stdout)
        Dist.finish(success: true)
    } catch let e as LuaError {
        fflush(stdout)
        FileHandle.standardError.write(Data("moonlab: \(e.message)\n".utf8))
        if e.kind == .file { Dist.finish(success: false); throw ExitCode(2) }  // a script that cannot be read: usage
        Dist.finish(success: false)  // under mpirun: MPI_Abort stops the other ranks instead of leaving them waiting
        throw ExitCode(1)
    }
}

// OpenBLAS 0.3.21 runs its SSE3 kernels on CPUs it does not know (recent Xeons): pick the native ones (re-exec).
BLASCore.reexecWithNativeKernelsIfNeeded()

// Usage errors exit 2 (ArgumentParser's default would be 64).
do {
    var command = try Moonlab.parseAsRoot()
    do {
        try command.run()
    } catch {
        Moonlab.exit(withError: error)
    }
} catch {
    let code = Moonlab.exitCode(for: error)
    if code == .success {
        Moonlab.exit(withError: error)
    }
    FileHandle.standardError.write(Data((Moonlab.fullMessage(for: error) + "\n").utf8))
    exit(2)
}
