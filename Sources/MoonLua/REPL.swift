import CLua
import CLuaShim
import CReadline
import Foundation
import MoonTensor

/// The interactive read-eval-print loop: GNU readline with persistent history and completion, multi-line input,
/// bare expressions printed, Ctrl-C interrupting the running statement, errors printed with their traceback.
public final class REPL {
    public let state: LuaState
    public var printer = PrettyPrinter()
    public let historyPath: String
    /// Whether history is read from and written to `historyPath` (`historyUsable`).
    private var keepsHistory = false
    public var prompt = "moon> "
    public var continuationPrompt = "  >> "

    /// The outcome of evaluating one chunk of input.
    public enum Outcome: Equatable {
        case values([String])
        case incomplete
        case failure(String)
    }

    public init(state: LuaState, historyPath: String? = nil) {
        self.state = state
        let env = ProcessInfo.processInfo.environment
        self.historyPath = historyPath ?? env["MOONLAB_HISTORY"]
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".moonlab_history")
    }

    /// Evaluates `source`: first as an expression (`return <source>`), then as a statement. Incomplete input (the
    /// parser stopped at end of input) asks for more lines.
    public func evaluate(_ source: String) -> Outcome {
        let L = state.L
        let base = lua_gettop(L)
        defer { lua_settop(L, base) }
        do {
            try state.load("return " + source, name: "=stdin")
        } catch {
            do {
                try state.load(source, name: "=stdin")
            } catch let e as LuaError {
                if e.kind == .syntax && e.message.hasSuffix("<eof>") { return .incomplete }
                return .failure(e.message)
            } catch {
                return .failure("\(error)")
            }
        }
        moon_set_running(1)
        let status = moon_pcall_traceback(L, 0, LUA_MULTRET)
        moon_set_running(0)
        lua_sethook(L, nil, 0, 0)
        if status != LUA_OK { return .failure(state.errorMessage(at: -1)) }
        let n = lua_gettop(L) - base
        guard n > 0 else { return .values([]) }
        return .values((base + 1 ... base + n).map { printer.render(state, at: $0) })
    }

    /// Runs the loop until end of input; returns the exit status.
    public func run() -> Int32 {
        let interactive = isatty(STDIN_FILENO) != 0
        moon_install_sigint(state.L)
        if interactive {
            completionState = state
            moon_install_completion(complete)
            using_history()
            keepsHistory = REPL.historyUsable(historyPath)
            if keepsHistory {
                if FileKind(path: historyPath) == nil { _ = FileManager.default.createFile(atPath: historyPath, contents: nil) }
                read_history(historyPath)
            }
            print("moonlab \(moonlabVersion) (Lua 5.4) -- help() for help, Ctrl-D to exit")
        }
        var buffer = ""
        while true {
            let line: String?
            if interactive {
                line = readLine(prompt: buffer.isEmpty ? prompt : continuationPrompt)
            } else {
                line = Swift.readLine(strippingNewline: true)
            }
            if moon_take_prompt_interrupt() != 0 { buffer = "" }
            guard let line else { break }
            if buffer.isEmpty && line.trimmingCharacters(in: .whitespaces).isEmpty { continue }
            buffer = buffer.isEmpty ? line : buffer + "\n" + line
            if buffer.hasPrefix("=") { buffer = "return " + buffer.dropFirst() }
            let outcome = evaluate(buffer)
            if outcome == .incomplete { continue }
            if interactive { remember(buffer) }
            buffer = ""
            switch outcome {
            case .values(let values):
                if !values.isEmpty { print(values.joined(separator: "\t")) }
            case .failure(let message):
                fputs(message + "\n", stderr)
            case .incomplete: break
            }
            fflush(stdout)
        }
        if interactive {
            print("")
            if keepsHistory { history_truncate_file(historyPath, 1000) }
        }
        return 0
    }

    private func readLine(prompt: String) -> String? {
        guard let p = readline(prompt) else { return nil }
        defer { free(p) }
        return String(cString: p)
    }

    private func remember(_ entry: String) {
        add_history(entry)
        if keepsHistory { append_history(1, historyPath) }
    }

    /// Whether the history file can be kept at `path`: a regular file (or a link to one), or nothing yet. Anything
    /// else (a FIFO would block the start, a device would be written to) turns the history off, with a warning.
    static func historyUsable(_ path: String) -> Bool {
        switch FileKind(path: path) {
        case nil, .file?: return !path.utf8.contains(0)
        case let kind?:
            fputs("moonlab: history off: \(path) is \(kind.phrase), not a regular file\n", stderr)
            return false
        }
    }
}

/// The state completion works on (readline's callback is a C function and cannot capture).
nonisolated(unsafe) var completionState: LuaState?

private let complete: moon_complete_fn = { text, _, _ in
    guard let text, let state = completionState else { return nil }
    let candidates = state.completions(for: String(cString: text))
    guard !candidates.isEmpty else { return nil }
    var cStrings = candidates.map { strdup($0) }
    defer { cStrings.forEach { free($0) } }
    return cStrings.withUnsafeMutableBufferPointer { buf in
        moon_completion_matches(text, buf.baseAddress, Int32(buf.count))
    }
}
