import CLua
import CLuaShim
import Foundation
import MoonTensor

/// moonlab's version string.
public let moonlabVersion = "0.1.0"

extension LuaState {
    /// Installs every `moon.*` binding.
    func installBindings() {
        installCoreBindings()
        installTensorBindings()
        installEnvBindings()
        installModelBindings()
        installTokenizerBindings()
        installLMBindings()
        installMergeBindings()
        installJSONBindings()
        installTrainBindings()
        installDistBindings()
    }

    func installCoreBindings() {
        lua_pushstring(L, moonlabVersion)
        pushTable(path: "moon")
        moon_insert(L, -2)
        setRawField(-2, "version")
        moon_pop(L, 1)

        register("help", doc: """
            help([x]) -- prints documentation.
              help()            an overview of moonlab's modules
              help(f)           the doc string of a function moonlab exports
              help(moon.tensor) the functions of a module, one line each
              help(obj)         the methods of a moonlab object
              help("moon.env.make") the same, looked up by name
            """) { call in
            print(call.state.helpText(call))
            return 0
        }

        register("moon.inspect", doc: """
            moon.inspect(value [, opts]) -> string -- the REPL's rendering of a value: cycle-safe, limited in depth
            and length. opts: depth (3, at most 200), items (40).
            """) { call in
            let opts = try call.options(2, allowed: ["depth", "items"])
            var printer = PrettyPrinter()
            printer.maxDepth = try opts.integer("depth", default: 3)
            printer.maxItems = try opts.integer("items", default: 40)
            guard (0...LuaLimits.maxDepth).contains(printer.maxDepth) else {
                throw call.error("option 'depth': expected 0..\(LuaLimits.maxDepth), got \(printer.maxDepth)")
            }
            guard printer.maxItems >= 0 else { throw call.error("option 'items': expected a count >= 0, got \(printer.maxItems)") }
            return call.push(printer.render(call.state, at: 1))
        }

        register("moon.doc", doc: """
            moon.doc(value, text) -> value: records `text` as the documentation help() shows for `value` (a function or
            table written in Lua: the gtr modules, their functions, runs and hooks register theirs this way)
            """) { call in
            guard lua_type(call.L, 1) == LUA_TFUNCTION || lua_type(call.L, 1) == LUA_TTABLE else {
                throw call.argumentError(1, "value", expected: "function or table")
            }
            call.state.setDoc(forValueAt: 1, try call.string(2, "text"))
            lua_settop(call.L, 1)
            return 1
        }

        register("moon.warn_once", doc: """
            moon.warn_once(message) -> printed: writes 'moonlab: warning: <message>' to stderr the first time this state
            sees `message` (old names kept one release use it); true when it printed
            """) { call in
            call.push(call.state.warnOnce(try call.string(1, "message")))
        }

        register("moon.executable", doc: "moon.executable() -> path of the running moonlab binary (to start sub-processes)") { call in
            let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
            return call.push(exe)
        }

        register("moon.file_kind", doc: """
            moon.file_kind(path) -> "file", "directory", "fifo", "socket", "character", "block", "link" (a link whose
            target is missing) or nil (nothing there, or not reachable): what is at path, following symbolic links,
            without opening it (a probe that never blocks on a FIFO, unlike io.open)
            """) { call in
            guard let kind = FileKind(path: try call.path(1)) else { lua_pushnil(call.L); return 1 }
            return call.push(kind.rawValue)
        }

        register("moon.mkdir", doc: """
            moon.mkdir(path) -- creates the directory path and any missing parents (mkdir -p, without a shell); an
            existing directory is fine, anything else in the way (a file, a FIFO, a dangling link) is an error
            """) { call in
            try Directory.create(try call.path(1))
            return 0
        }

        register("moon.write_file", doc: """
            moon.write_file(path, data) -- writes the string data (bytes, as they are) to path atomically: a temporary
            file renamed over it, so a reader sees the old file or the new one, never part of one; refuses to replace
            what is not a regular file (a directory, a FIFO, a device); through a symbolic link, writes its target
            """) { call in
            let path = try call.path(1)
            try AtomicFile.write(to: path, bytes: try call.bytes(2, "data"))
            return 0
        }

        register("moon.clock", doc: "moon.clock() -> number -- wall-clock seconds (monotonic), for timing.") { call in
            var ts = timespec()
            clock_gettime(CLOCK_MONOTONIC, &ts)
            return call.push(Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9)
        }
    }

    /// The text `help` prints for its argument.
    func helpText(_ call: LuaCall) -> String {
        if call.isNoneOrNil(1) {
            return """
                moonlab \(moonlabVersion): a scriptable workbench for training agentic VLM policies (GTR-Turbo).
                Modules: \(moduleNames().joined(separator: ", "))
                help(moon.<module>) lists a module; help(f) documents a function; Tab completes names.
                The gtr algorithms: help(require("gtr")), help(require("gtr.turbo")), help(run), help(require("gtr.core").hooks).
                """
        }
        if lua_type(L, 1) == LUA_TSTRING, let path = string(at: 1) {
            let top = lua_gettop(L)
            defer { lua_settop(L, top) }
            moon_pushglobaltable(L)
            for part in path.split(separator: ".") {
                guard lua_type(L, -1) == LUA_TTABLE else { return "help: no such name '\(path)'" }
                rawField(-1, String(part))
            }
            if lua_type(L, -1) == LUA_TNIL { return "help: no such name '\(path)'" }
            return helpText(forValueAt: lua_gettop(L), name: path)
        }
        return helpText(forValueAt: 1, name: nil)
    }

    private func helpText(forValueAt idx: Int32, name: String?) -> String {
        let own = doc(forValueAt: idx)
        switch lua_type(L, idx) {
        case LUA_TTABLE:
            // a table: its own doc (moon.doc), its documented fields, and the methods its metatable's __index table
            // gives it (a gtr run: the Run methods)
            var lines = entries(ofTableAt: idx, prefix: name.map { $0 + "." } ?? "")
            if lua_getmetatable(L, idx) != 0 {
                rawField(-1, "__index")
                if lua_type(L, -1) == LUA_TTABLE && lua_rawequal(L, -1, idx) == 0 {
                    let methods = entries(ofTableAt: lua_gettop(L), prefix: ":", functionsOnly: true)
                    if !methods.isEmpty { lines += ["methods:"] + methods.map { "  " + $0 } }
                }
                moon_pop(L, 2)
            }
            let body = lines.isEmpty ? "(empty table)" : lines.joined(separator: "\n")
            return own.map { $0 + "\n" + body } ?? body
        case LUA_TUSERDATA where own != nil:
            return own!
        case LUA_TUSERDATA:
            guard lua_getmetatable(L, idx) != 0 else { return "userdata (no documentation)" }
            rawField(-1, "__name")
            let tname = string(at: -1) ?? "userdata"
            moon_pop(L, 1)
            rawField(-1, "__methods")
            var lines = ["\(tname) methods:"]
            if lua_type(L, -1) == LUA_TTABLE {
                let t = lua_gettop(L)
                var entries: [String] = []
                lua_pushnil(L)
                while moon_next(L, t) != 0 {
                    if let k = string(at: -2) {
                        entries.append("  " + (doc(forValueAt: -1)?.split(separator: "\n").first.map(String.init) ?? k))
                    }
                    moon_pop(L, 1)
                }
                lines += entries.sorted()
            }
            moon_pop(L, 2)
            return lines.joined(separator: "\n")
        case LUA_TFUNCTION:
            return own ?? "\(name ?? "function"): no documentation (not a moonlab export, and none given with moon.doc)"
        default:
            return "\(typeName(at: idx)) value: no documentation"
        }
    }

    /// One line per string key of the table at `idx`: the first line of its doc, else `prefix + key (type)`; sorted.
    private func entries(ofTableAt idx: Int32, prefix: String, functionsOnly: Bool = false) -> [String] {
        var lines: [String] = []
        lua_pushnil(L)
        while moon_next(L, idx) != 0 {
            if lua_type(L, -2) == LUA_TSTRING, let k = string(at: -2), !functionsOnly || lua_type(L, -1) == LUA_TFUNCTION,
               !k.hasPrefix("__") {
                let first = doc(forValueAt: -1)?.split(separator: "\n").first.map(String.init)
                lines.append(first ?? "\(prefix)\(k) (\(typeName(at: -1)))")
            }
            moon_pop(L, 1)
        }
        return lines.sorted()
    }

    private func moduleNames() -> [String] {
        pushTable(path: "moon")
        var names: [String] = []
        lua_pushnil(L)
        while moon_next(L, -2) != 0 {
            if lua_type(L, -1) == LUA_TTABLE, let k = string(at: -2) { names.append("moon." + k) }
            moon_pop(L, 1)
        }
        moon_pop(L, 1)
        return names.sorted()
    }
}

