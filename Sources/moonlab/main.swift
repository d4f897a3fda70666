import ArgumentParser
import Foundation
import MoonLua

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
        subcommands: [Run.self])

    @Option(name: .customShort("e"), help: ArgumentHelp("Run a Lua chunk and exit.", valueName: "code"))
    var execute: String?

    func run() throws {
        let state = LuaState()
        if let code = execute {
            try runScript { try state.run(code, name: "=(command line)") }
            return
        }
        throw ExitCode(REPL(state: state).run())
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

/// Runs a script body, printing a Lua error (with traceback) to stderr and exiting 1.
func runScript(_ body: () throws -> Void) throws {
    do {
        try body()
        fflush(stdout)
    } catch let e as LuaError {
        fflush(stdout)
        FileHandle.standardError.write(Data("moonlab: \(e.message)\n".utf8))
        throw ExitCode(1)
    }
}

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
