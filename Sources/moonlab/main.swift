import ArgumentParser
import Foundation
import MoonDist
import MoonLua
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
            try runScript { try state.run(code, name: "=(command line)") }
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

    @Argument(help: "The Lua script to run.") var file: String
    @Argument(parsing: .captureForPassthrough, help: "Arguments passed to the script.") var arguments: [String] = []

    func run() throws {
        guard FileManager.default.isReadableFile(atPath: file) else {
            FileHandle.standardError.write(Data("moonlab: cannot open \(file)\n".utf8))
            throw ExitCode(2)
        }
        let state = LuaState()
        try runScript { try state.runFile(file, arguments: arguments) }
    }
}

/// `moonlab merge --method ties --base B --density 0.2 A B C -o out.safetensors`.
struct MergeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "merge",
        abstract: "Merge safetensors checkpoints (mergekit semantics), streaming tensor by tensor.",
        discussion: "Methods: average, ema, slerp, task_arithmetic, ties, dare_linear, dare_ties, breadcrumbs.")

    @Option(help: "Merge method.") var method = "ties"
    @Option(help: "Base model (needed by slerp, task_arithmetic, ties, dare_*, breadcrumbs).") var base: String?
    @Option(help: "Fraction of task-vector entries kept (ties, dare_*, breadcrumbs).") var density: Double?
    @Option(help: "Scale of the merged task vector.") var lambda: Double?
    @Option(help: "Comma-separated weights, one per model.") var weights: String?
    @Option(help: "Interpolation factor (slerp).") var t: Double?
    @Option(help: "EMA decay (ema).") var decay: Double?
    @Option(help: "Random seed (dare_*).") var seed: Int?
    @Option(name: .shortAndLong, help: "Output safetensors file (written atomically).") var output: String
    @Argument(help: "The models to merge (safetensors files).") var models: [String]

    func run() throws {
        let state = LuaState()
        var args = ["method=" + method, "output=" + output]
        if let base { args.append("base=" + base) }
        if let density { args.append("density=\(density)") }
        if let lambda { args.append("lambda=\(lambda)") }
        if let weights { args.append("weights=" + weights) }
        if let t { args.append("t=\(t)") }
        if let decay { args.append("decay=\(decay)") }
        if let seed { args.append("seed=\(seed)") }
        args += models.map { "model=" + $0 }
        state.setArguments(script: "moonlab merge", args)
        try runScript {
            try state.run("""
                local spec = {models = {}}
                for _, a in ipairs(arg) do
                  local k, v = a:match("^([%w_]+)=(.*)$")
                  if k == "model" then spec.models[#spec.models + 1] = v
                  elseif k == "weights" then
                    spec.weights = {}
                    for w in v:gmatch("[^,]+") do spec.weights[#spec.weights + 1] = assert(tonumber(w), "bad weight " .. w) end
                  elseif k == "method" or k == "output" or k == "base" then spec[k] = v
                  else spec[k] = math.tointeger(tonumber(v)) or tonumber(v) end
                end
                local t0 = moon.clock()
                local r = moon.merge.files(spec)
                print(string.format("merged %d tensors (%d parameters) with %s into %s in %.2fs", r.tensors, r.parameters, spec.method, r.output, moon.clock() - t0))
                """, name: "=moonlab merge")
        }
    }
}

/// `moonlab plot RUN [RUN...] [--metrics success_rate,return] [--x wall_s] [--out DIR]`.
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
        let state = LuaState()
        var args = runs.map { "run=" + $0 }
        if let metrics { args.append("metrics=" + metrics) }
        if let out { args.append("out=" + out) }
        if let x { args.append("x=" + x) }
        state.setArguments(script: "moonlab plot", args)
        try runScript {
            try state.run("""
                local runs, opts = {}, {}
                for _, a in ipairs(arg) do
                  local k, v = a:match("^(%w+)=(.*)$")
                  if k == "run" then runs[#runs + 1] = v
                  elseif k == "metrics" then opts.metrics = {}; for m in v:gmatch("[^,]+") do opts.metrics[#opts.metrics + 1] = m end
                  elseif k == "x" then opts.x = v
                  else opts.out = v end
                end
                for _, p in ipairs(moon.plot.run(runs, opts)) do print(p) end
                """, name: "=moonlab plot")
        }
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
        Dist.finish(success: false)  // under mpirun: MPI_Abort stops the other ranks instead of leaving them waiting
        throw ExitCode(1)
    }
}

// Usage errors exit 2 (ArgumentParser's default would be 64).
BLASKernels.ensureNativeKernels()  // restart with OPENBLAS_CORETYPE when OpenBLAS picked its SSE fallback
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
