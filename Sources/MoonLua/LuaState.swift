import CLua
import CLuaShim
import Foundation
import MoonTensor

/// Owns a `lua_State` with the standard libraries and moonlab's bindings.
///
/// Every call from Swift into Lua goes through a protected call with a traceback handler; no raising Lua API is
/// ever called from a Swift frame (DESIGN.md, "The Lua/Swift boundary").
public final class LuaState {
    /// The raw state of the running thread: the main thread, or the coroutine whose call into a binding is running
    /// (the dispatcher switches it). Use only non-raising Lua APIs on it from Swift.
    public var L: OpaquePointer { lifetime.current }
    /// The main thread (the state `lua_close` closes).
    public var mainThread: OpaquePointer { lifetime.main }
    /// Where the Lua stdlib/ folder was found (nil if none).
    public let stdlibPath: String?
    /// Metatable names of exported Swift types.
    var typeNames: [ObjectIdentifier: String] = [:]
    /// Registry references of the exported types' metatables (pushing and checking objects without name lookups).
    var typeRefs: [ObjectIdentifier: Int32] = [:]
    /// Tells references whether this state is still open, and which thread is running.
    let lifetime: LuaLifetime

    /// Creates a state with the standard libraries, `package.path` including moonlab's stdlib/, and (unless
    /// `bindings` is false) every `moon.*` binding.
    public init(bindings: Bool = true) {
        LuaState.installDispatcher()
        guard let L = luaL_newstate() else { fatalError("moonlab: cannot allocate a Lua state") }
        lifetime = LuaLifetime(main: L)
        moon_install_panic(L)
        luaL_openlibs(L)
        stdlibPath = LuaState.findStdlib()
        installPathGuards()
        configurePackagePath()
        createMoonTable()
        if bindings { installBindings() }
    }

    deinit {
        lua_close(lifetime.main)
        lifetime.closed = true
    }

    // MARK: running code

    /// Loads and runs `code`; returns the values the chunk returned (converted), or throws a `LuaError` carrying
    /// the traceback.
    @discardableResult
    public func run(_ code: String, name: String = "=(moonlab)") throws -> [LuaValue] {
        try run(Data(code.utf8), name: name)
    }

    /// Runs a chunk given as bytes (a command line's `-e` code, which may hold any bytes in its string literals).
    @discardableResult
    public func run(_ code: Data, name: String) throws -> [LuaValue] {
        let base = lua_gettop(L)
        try load(code, name: name)
        try pcall(nargs: 0, nresults: LUA_MULTRET)
        let values = (base + 1 ..< lua_gettop(L) + 1).map { value(at: $0) }
        lua_settop(L, base)
        return values
    }

    /// Runs a Lua file with the global `arg` set as lua(1) does (arg[0] = script, arg[1...] = args) and the args
    /// passed as `...`.
    public func runFile(_ path: String, arguments: [String] = []) throws {
        try runFile(path, rawArguments: arguments.map { Array($0.utf8) })
    }

    /// `runFile` with the arguments as the bytes the command line gave (any bytes: a script's argument is a Lua
    /// string, not text that Swift would repair). The script may be a pipe (`<(...)`, `/dev/stdin`); "-" is stdin.
    public func runFile(_ path: String, rawArguments arguments: [[UInt8]]) throws {
        let data: Data
        do { data = try FileContents.read(path == "-" ? "/dev/stdin" : path, limit: 1 << 28) } catch let e as FileIOError {
            throw LuaError(.file, "cannot open \(path): \(e.message)")
        }
        setArguments(script: path, arguments)
        let base = lua_gettop(L)
        try load(data, name: "@" + path)
        for a in arguments { pushBytes(a) }
        try pcall(nargs: Int32(arguments.count), nresults: 0)
        lua_settop(L, base)
    }

    /// Sets the global `arg` as lua(1) does: arg[-1] = "moonlab", arg[0] = script, arg[1...] = arguments.
    public func setArguments(script: String, _ arguments: [[UInt8]]) {
        moon_newtable(L)
        lua_pushstring(L, "moonlab"); lua_rawseti(L, -2, -1)
        lua_pushstring(L, script); lua_rawseti(L, -2, 0)
        for (i, a) in arguments.enumerated() { pushBytes(a); lua_rawseti(L, -2, lua_Integer(i + 1)) }
        setGlobal("arg")
    }

    /// Pushes bytes as a Lua string, exactly (NUL bytes and invalid UTF-8 included).
    func pushBytes(_ bytes: [UInt8]) {
        // a NULL pointer with length 0 pushes ""
        bytes.withUnsafeBytes { b in _ = lua_pushlstring(L, b.baseAddress?.assumingMemoryBound(to: CChar.self), b.count) }
    }

    /// Compiles a chunk and pushes it (non-raising).
    public func load(_ code: String, name: String) throws {
        try load(Data(code.utf8), name: name)
    }

    func load(_ data: Data, name: String) throws {
        var bytes = [CChar](repeating: 0, count: data.count + 1)
        bytes.withUnsafeMutableBytes { _ = data.copyBytes(to: $0) }
        let status = moon_loadbuffer(L, bytes, data.count, name, "t")  // text only: bytecode is not verified
        if status != LUA_OK {
            let msg = string(at: -1) ?? "error loading chunk"
            moon_pop(L, 1)
            throw LuaError(status == LUA_ERRSYNTAX ? .syntax : .memory, msg)
        }
    }

    /// Calls the function below `nargs` arguments on the stack in protected mode with a traceback handler.
    public func pcall(nargs: Int32, nresults: Int32) throws {
        let status = moon_pcall_traceback(L, nargs, nresults)
        if status != LUA_OK {
            let msg = errorMessage(at: -1)
            moon_pop(L, 1)
            throw LuaError(status == LUA_ERRMEM ? .memory : .runtime, msg)
        }
    }

    /// The error object at `idx` as text (through __tostring when it has one, protected).
    func errorMessage(at idx: Int32) -> String {
        if let s = string(at: idx) { return s }
        if moon_safe_tostring(L, idx) == LUA_OK, let s = string(at: -1) { moon_pop(L, 1); return s }
        moon_pop(L, 1)
        return "(error object is a \(typeName(at: idx)) value)"
    }

    // MARK: stack helpers (all non-raising)

    /// The string at `idx` if it is a string or a number, without converting the stack slot.
    public func string(at idx: Int32) -> String? {
        let t = lua_type(L, idx)
        guard t == LUA_TSTRING || t == LUA_TNUMBER else { return nil }
        lua_pushvalue(L, idx)
        defer { moon_pop(L, 1) }
        var len = 0
        guard let p = lua_tolstring(L, -1, &len) else { return nil }
        return String(decoding: UnsafeRawBufferPointer(start: p, count: len), as: UTF8.self)
    }

    public func typeName(at idx: Int32) -> String {
        String(cString: lua_typename(L, lua_type(L, idx)))
    }

    /// Pushes the global `name` (raw access: never runs metamethods).
    public func getGlobal(_ name: String) {
        moon_pushglobaltable(L)
        lua_pushstring(L, name)
        lua_rawget(L, -2)
        moon_remove(L, -2)
    }

    /// Pops the top value into the global `name` (raw access).
    public func setGlobal(_ name: String) {
        moon_pushglobaltable(L)
        lua_pushstring(L, name)
        lua_rotate(L, -3, -1) // value, G, key -> G, key, value
        lua_rawset(L, -3)
        moon_pop(L, 1)
    }

    /// Raw field access on the table at `idx`: pushes t[key].
    public func rawField(_ idx: Int32, _ key: String) {
        let t = lua_absindex(L, idx)
        lua_pushstring(L, key)
        lua_rawget(L, t)
    }

    /// Pops the top value into t[key] of the table at `idx` (raw).
    public func setRawField(_ idx: Int32, _ key: String) {
        let t = lua_absindex(L, idx)
        lua_pushstring(L, key)
        moon_insert(L, -2)
        lua_rawset(L, t)
    }

    /// Pushes the table at the dotted `path` from the globals, creating missing tables (raw access).
    public func pushTable(path: String) {
        moon_pushglobaltable(L)
        for part in path.split(separator: ".") {
            rawField(-1, String(part))
            if lua_type(L, -1) != LUA_TTABLE {
                moon_pop(L, 1)
                moon_newtable(L)
                lua_pushvalue(L, -1)
                setRawField(-3, String(part))
            }
            moon_remove(L, -2)
        }
    }

    /// Converts the value at `idx` to a `LuaValue` (tables by reference).
    public func value(at idx: Int32) -> LuaValue {
        switch lua_type(L, idx) {
        case LUA_TNIL, LUA_TNONE: return .nil
        case LUA_TBOOLEAN: return .boolean(lua_toboolean(L, idx) != 0)
        case LUA_TNUMBER:
            if lua_isinteger(L, idx) != 0 { return .integer(Int(lua_tointegerx(L, idx, nil))) }
            return .number(lua_tonumberx(L, idx, nil))
        case LUA_TSTRING: return .string(string(at: idx) ?? "")
        default: return .ref(LuaRef(state: self, index: idx))
        }
    }

    /// Pushes a `LuaValue`.
    public func push(_ v: LuaValue) {
        switch v {
        case .nil: lua_pushnil(L)
        case .boolean(let b): lua_pushboolean(L, b ? 1 : 0)
        case .integer(let i): lua_pushinteger(L, lua_Integer(i))
        case .number(let d): lua_pushnumber(L, d)
        case .string(let s): lua_pushstring(L, s)
        case .ref(let r): r.push()
        }
    }

    /// Calls a Lua function value with arguments, in protected mode; returns its results.
    @discardableResult
    public func call(_ function: LuaRef, _ args: [LuaValue] = [], results: Int32 = LUA_MULTRET) throws -> [LuaValue] {
        guard function.isValid && function.lifetime === lifetime else { throw LuaError(.runtime, "call of a function from a closed Lua state") }
        let base = lua_gettop(L)
        function.push()
        for a in args { push(a) }
        try pcall(nargs: Int32(args.count), nresults: results)
        let values = (base + 1 ..< lua_gettop(L) + 1).map { value(at: $0) }
        lua_settop(L, base)
        return values
    }

    /// Tells the collector that `bytes` of memory outside Lua were allocated for objects it owns.
    public func noteExternalAllocation(bytes: Int) {
        pendingExternalBytes += bytes
        if pendingExternalBytes >= 64 * 1024 {
            moon_gc_hint(L, Int32(clamping: pendingExternalBytes / 1024))
            pendingExternalBytes = 0
        }
    }
    private var pendingExternalBytes = 0

    /// Lua heap size in bytes (approximate).
    public var luaHeapBytes: Int { Int(moon_gc_count(L)) * 1024 }

    // MARK: set-up

    /// Locates stdlib/: $MOONLAB_STDLIB, else the first `stdlib` folder with a README.md found walking up from
    /// the executable, else from the current directory.
    static func findStdlib() -> String? {
        let fm = FileManager.default
        if let env = ProcessInfo.processInfo.environment["MOONLAB_STDLIB"], !env.isEmpty { return env }
        var starts: [URL] = [URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
            .deletingLastPathComponent()]
        if let exe = try? fm.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            starts.insert(URL(fileURLWithPath: exe).deletingLastPathComponent(), at: 0)
        }
        starts.append(URL(fileURLWithPath: fm.currentDirectoryPath))
        for start in starts {
            var dir = start.standardizedFileURL
            for _ in 0..<8 {
                let candidate = dir.appendingPathComponent("stdlib")
                if fm.fileExists(atPath: candidate.appendingPathComponent("README.md").path) { return candidate.path }
                let share = dir.appendingPathComponent("share/moonlab/stdlib")
                if fm.fileExists(atPath: share.appendingPathComponent("README.md").path) { return share.path }
                if dir.path == "/" { break }
                dir = dir.deletingLastPathComponent()
            }
        }
        return nil
    }

    private func configurePackagePath() {
        guard let dir = stdlibPath else { return }
        getGlobal("package")
        rawField(-1, "path")
        let old = string(at: -1) ?? ""
        moon_pop(L, 1)
        lua_pushstring(L, "\(dir)/?.lua;\(dir)/?/init.lua;" + old)
        setRawField(-2, "path")
        moon_pop(L, 1)
    }

    private func createMoonTable() {
        pushTable(path: "moon")
        getGlobal("package")
        rawField(-1, "loaded")
        lua_pushvalue(L, -3)
        setRawField(-2, "moon")
        moon_pop(L, 3)
    }
}
