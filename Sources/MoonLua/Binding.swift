import CLua
import CLuaShim
import Foundation
import MoonTensor

/// A Swift function exported to Lua. It returns the number of values it pushed; any error it throws becomes a Lua
/// error (raised by the C trampoline after this frame has returned).
public typealias LuaFunction = (LuaCall) throws -> Int32

/// Holds an exported closure; owned by the Lua closure that calls it (released in the box's __gc).
final class FunctionBox {
    let name: String
    let body: LuaFunction
    /// Boxes are released by __gc, at the latest inside `lua_close` in the state's deinit, so the state's memory is
    /// valid whenever a box runs (unowned(unsafe): plain `unowned` refuses access during deinit).
    unowned(unsafe) let state: LuaState
    init(name: String, state: LuaState, body: @escaping LuaFunction) {
        self.name = name
        self.state = state
        self.body = body
    }
}

extension LuaState {
    /// The one dispatcher every exported function goes through: runs the Swift closure, and on error leaves the
    /// message on the stack and returns the sentinel so that C raises it.
    static let dispatch: moon_dispatch_fn = { L, raw in
        guard let L, let raw else { return MOON_ERROR_SENTINEL }
        let box = Unmanaged<FunctionBox>.fromOpaque(raw).takeUnretainedValue()
        // Every binding works on the stack of the thread that called it (a coroutine's own lua_State), never on
        // the main thread's: switch the state's running thread for the duration of the call.
        let lifetime = box.state.lifetime
        let saved = lifetime.current
        lifetime.current = L
        let savedSignalThread = moon_swap_running_thread(L)
        defer {
            lifetime.current = saved
            _ = moon_swap_running_thread(savedSignalThread ?? saved)
        }
        let call = LuaCall(state: box.state, function: box.name)
        do {
            // Ctrl-C: a loop of short Swift calls stops at the next one, not only at the next Lua hook.
            if moon_interrupt_pending() != 0 { throw LuaArgumentError("\(box.name): interrupted") }
            // Room for the results and scratch values of any binding (a coroutine starts with a small stack).
            guard lua_checkstack(L, 40) != 0 else { throw LuaArgumentError("\(box.name): Lua stack overflow") }
            return try box.body(call)
        } catch {
            lua_settop(L, 0)
            lua_pushstring(L, box.state.describe(error, in: box.name))
            return MOON_ERROR_SENTINEL
        }
    }

    static let release: moon_release_fn = { raw in
        guard let raw else { return }
        Unmanaged<AnyObject>.fromOpaque(raw).release()
    }

    static func installDispatcher() {
        moon_set_dispatcher(dispatch, release)
        Interrupt.probe = { moon_interrupt_pending() != 0 }
    }

    /// The text of a Swift error raised inside binding `name`, prefixed with the function name when it lacks it.
    func describe(_ error: Error, in name: String) -> String {
        luaNames(describeRaw(error, in: name))
    }

    /// Swift names that lower layers put in their messages, as Lua users know them.
    static let luaNameForSwiftName: [(String, String)] = [("Tensor.noGrad", "moon.no_grad")]

    private func luaNames(_ text: String) -> String {
        var out = text
        for (swift, lua) in LuaState.luaNameForSwiftName where out.contains(swift) {
            out = out.replacingOccurrences(of: swift, with: lua)
        }
        return out
    }

    private func describeRaw(_ error: Error, in name: String) -> String {
        let text: String
        switch error {
        case let e as LuaArgumentError: return e.message
        case let e as LuaError: return e.message
        case let e as CustomStringConvertible:
            text = e.description
            // "matmul: argument #2 ..." raised inside "Tensor:matmul" reads "Tensor:matmul: argument #2 ..."
            let leaf = name.split(whereSeparator: { $0 == "." || $0 == ":" }).last.map(String.init) ?? name
            if text.hasPrefix(leaf + ": ") { return "\(name): " + text.dropFirst(leaf.count + 2) }
        default: text = String(describing: error)
        }
        return text.hasPrefix(name) ? text : "\(name): \(text)"
    }

    /// Pushes a Lua function that runs `body`. `name` is the full name used in error messages (`moon.x.f`).
    public func pushFunction(_ name: String, _ body: @escaping LuaFunction) {
        let box = FunctionBox(name: name, state: self, body: body)
        moon_push_swift_closure(L, Unmanaged.passRetained(box).toOpaque())
    }

    /// Exports `body` as the global function at dotted `path` (`moon.tensor.zeros`) with a doc string for `help`.
    public func register(_ path: String, doc: String, _ body: @escaping LuaFunction) {
        var parts = path.split(separator: ".").map(String.init)
        let leaf = parts.removeLast()
        if parts.isEmpty { moon_pushglobaltable(L) } else { pushTable(path: parts.joined(separator: ".")) }
        pushFunction(path, body)
        setDoc(forValueAt: -1, doc)
        setRawField(-2, leaf)
        moon_pop(L, 1)
    }

    /// Records a doc string for the value at `idx` (shown by `help`).
    public func setDoc(forValueAt idx: Int32, _ doc: String) {
        let v = lua_absindex(L, idx)
        pushDocTable()
        lua_pushvalue(L, v)
        lua_pushstring(L, doc)
        lua_rawset(L, -3)
        moon_pop(L, 1)
    }

    /// The doc string of the value at `idx`, if one was recorded.
    public func doc(forValueAt idx: Int32) -> String? {
        let v = lua_absindex(L, idx)
        pushDocTable()
        lua_pushvalue(L, v)
        lua_rawget(L, -2)
        defer { moon_pop(L, 2) }
        return string(at: -1)
    }

    /// Pushes the registry table mapping values to doc strings (weak keys).
    func pushDocTable() {
        lua_pushstring(L, "moon.docs")
        lua_rawget(L, moon_registryindex())
        if lua_type(L, -1) == LUA_TTABLE { return }
        moon_pop(L, 1)
        moon_newtable(L)
        moon_newtable(L)
        lua_pushstring(L, "k"); setRawField(-2, "__mode")
        lua_setmetatable(L, -2)
        lua_pushstring(L, "moon.docs")
        lua_pushvalue(L, -2)
        lua_rawset(L, moon_registryindex())
    }
}

/// The arguments and results of one call from Lua into Swift. Accessors throw `LuaArgumentError`s whose text names
/// the function, the argument and what was expected.
public struct LuaCall {
    public let state: LuaState
    /// Full name of the function being called (`moon.x.f`).
    public let function: String
    public var L: OpaquePointer { state.L }

    /// Number of arguments passed.
    public var count: Int32 { lua_gettop(state.L) }

    /// Builds the standard argument error: `f: argument #2 'lr': expected number, got string`.
    public func argumentError(_ index: Int32, _ name: String, expected: String, got: String? = nil) -> LuaArgumentError {
        LuaArgumentError("\(function): \(label(index, name)): expected \(expected), got \(got ?? typeName(index))")
    }

    /// A free-form error for this function.
    public func error(_ message: String) -> LuaArgumentError { LuaArgumentError("\(function): \(message)") }

    public func typeName(_ i: Int32) -> String {
        if let tname = objectTypeName(i) { return tname }
        return state.typeName(at: i)
    }

    func objectTypeName(_ i: Int32) -> String? {
        guard lua_type(L, i) == LUA_TUSERDATA, lua_getmetatable(L, i) != 0 else { return nil }
        state.rawField(-1, "__name")
        defer { moon_pop(L, 2) }
        return state.string(at: -1)
    }

    /// The error for an object of the right type whose Swift object was released (`<close>`, `:free()`).
    func closedError(_ i: Int32, _ name: String, _ tname: String) -> LuaArgumentError {
        let short = (tname.split(separator: ".").last.map(String.init) ?? tname).lowercased()
        return LuaArgumentError("\(function): \(label(i, name)): this \(short) was closed")
    }

    public func isNoneOrNil(_ i: Int32) -> Bool { moon_isnoneornil(L, i) != 0 }

    // MARK: required arguments

    public func number(_ i: Int32, _ name: String = "") throws -> Double {
        var ok: Int32 = 0
        let v = lua_tonumberx(L, i, &ok)
        guard ok != 0, lua_type(L, i) == LUA_TNUMBER else { throw argumentError(i, name, expected: "number") }
        return v
    }

    /// An integer argument, checked: NaN, ±inf, non-integral values and magnitudes over 2^53 are errors naming the
    /// argument (`LuaLimits.maxInteger`; seeds that need 64 bits use `integer64`).
    public func integer(_ i: Int32, _ name: String = "") throws -> Int {
        guard let v = try checkedInteger(at: i, i, name) else { throw argumentError(i, name, expected: "integer") }
        return v
    }

    public func string(_ i: Int32, _ name: String = "") throws -> String {
        guard lua_type(L, i) == LUA_TSTRING, let s = state.string(at: i) else {
            throw argumentError(i, name, expected: "string")
        }
        return s
    }

    /// A path argument: a string of valid UTF-8 without NUL bytes (see `pathProblem`).
    public func path(_ i: Int32, _ name: String = "path") throws -> String {
        let path = try string(i, name)
        if let problem = pathProblem(at: i) { throw error("\(label(i, name)): \(problem)") }
        return path
    }

    /// Why the string at `idx` cannot name a file as it is, or nil: a NUL byte (the C call would stop at it and name
    /// the prefix) or bytes that are not UTF-8 (Swift strings would replace them, naming another file).
    func pathProblem(at idx: Int32) -> String? {
        var len = 0
        guard let p = lua_tolstring(L, idx, &len) else { return nil }
        let bytes = UnsafeRawBufferPointer(start: p, count: len)
        if bytes.contains(0) { return "contains a NUL byte" }
        if String(validating: bytes, as: UTF8.self) == nil { return "is not valid UTF-8 (a path must be, to name the file it spells)" }
        return nil
    }

    /// A string argument's bytes, exactly (Lua strings are byte strings; `string` decodes them as UTF-8).
    public func bytes(_ i: Int32, _ name: String = "") throws -> [UInt8] {
        guard lua_type(L, i) == LUA_TSTRING else { throw argumentError(i, name, expected: "string") }
        var len = 0
        guard let p = lua_tolstring(L, i, &len) else { throw argumentError(i, name, expected: "string") }
        return [UInt8](UnsafeRawBufferPointer(start: p, count: len))
    }

    public func boolean(_ i: Int32, _ name: String = "") throws -> Bool {
        guard lua_type(L, i) == LUA_TBOOLEAN else { throw argumentError(i, name, expected: "boolean") }
        return lua_toboolean(L, i) != 0
    }

    /// A reference to a Lua function argument.
    public func function(_ i: Int32, _ name: String = "") throws -> LuaRef {
        guard lua_type(L, i) == LUA_TFUNCTION else { throw argumentError(i, name, expected: "function") }
        return LuaRef(state: state, index: i)
    }

    /// A reference to a table argument.
    public func table(_ i: Int32, _ name: String = "") throws -> LuaRef {
        guard lua_type(L, i) == LUA_TTABLE else { throw argumentError(i, name, expected: "table") }
        return LuaRef(state: state, index: i)
    }

    /// The Swift object of an exported type at argument `i`.
    public func object<T: AnyObject>(_ i: Int32, _ name: String = "", as type: T.Type = T.self) throws -> T {
        if let o = state.object(at: i, as: type) { return o }
        let tname = state.typeNames[ObjectIdentifier(type)] ?? String(describing: type)
        if objectTypeName(i) == tname { throw closedError(i, name, tname) }
        throw argumentError(i, name, expected: tname)
    }

    /// An array of numbers from a Lua sequence.
    public func numbers(_ i: Int32, _ name: String = "") throws -> [Double] {
        guard lua_type(L, i) == LUA_TTABLE else { throw argumentError(i, name, expected: "table of numbers") }
        let t = lua_absindex(L, i)
        let n = Int(lua_rawlen(L, t))
        try Allocation.check(bytes: n.multipliedReportingOverflow(by: 8).overflow ? Int.max : n * 8)
        var out = [Double](); out.reserveCapacity(n)
        for k in 0..<n {
            lua_rawgeti(L, t, lua_Integer(k + 1))
            defer { moon_pop(L, 1) }
            guard lua_type(L, -1) == LUA_TNUMBER else {
                throw LuaArgumentError("\(function): \(label(i, name, element: k + 1)): expected number, got \(typeName(-1))")
            }
            out.append(lua_tonumberx(L, -1, nil))
        }
        return out
    }

    /// An array of strings from a Lua sequence.
    public func strings(_ i: Int32, _ name: String = "") throws -> [String] {
        guard lua_type(L, i) == LUA_TTABLE else { throw argumentError(i, name, expected: "table of strings") }
        return try stringSequence(i, paths: false) { label(i, name, element: $0) }
    }

    /// An array of paths from a Lua sequence (each as `path` checks it).
    public func paths(_ i: Int32, _ name: String = "paths") throws -> [String] {
        guard lua_type(L, i) == LUA_TTABLE else { throw argumentError(i, name, expected: "table of paths") }
        return try stringSequence(i, paths: true) { label(i, name, element: $0) }
    }

    /// The strings of the table at `i` (1..#t); `paths` checks them as `path` does; `label(k)` names element k.
    func stringSequence(_ i: Int32, paths: Bool, label: (Int) -> String) throws -> [String] {
        let t = lua_absindex(L, i)
        let n = Int(lua_rawlen(L, t))
        try Allocation.check(bytes: n.multipliedReportingOverflow(by: 16).overflow ? Int.max : n * 16)
        var out = [String]()
        for k in 0..<n {
            lua_rawgeti(L, t, lua_Integer(k + 1))
            defer { moon_pop(L, 1) }
            guard lua_type(L, -1) == LUA_TSTRING, let s = state.string(at: -1) else {
                throw LuaArgumentError("\(function): \(label(k + 1)): expected string, got \(typeName(-1))")
            }
            if paths, let problem = pathProblem(at: -1) { throw LuaArgumentError("\(function): \(label(k + 1)): \(problem)") }
            out.append(s)
        }
        return out
    }

    // MARK: optional arguments

    public func optionalNumber(_ i: Int32, _ name: String = "", default d: Double) throws -> Double {
        isNoneOrNil(i) ? d : try number(i, name)
    }

    public func optionalInteger(_ i: Int32, _ name: String = "", default d: Int) throws -> Int {
        isNoneOrNil(i) ? d : try integer(i, name)
    }

    public func optionalString(_ i: Int32, _ name: String = "") throws -> String? {
        isNoneOrNil(i) ? nil : try string(i, name)
    }

    public func optionalBoolean(_ i: Int32, _ name: String = "", default d: Bool) throws -> Bool {
        isNoneOrNil(i) ? d : try boolean(i, name)
    }

    /// The options table at argument `i` (an absent or nil argument is an empty table). Keys outside `allowed` are
    /// an error naming the key.
    public func options(_ i: Int32, _ name: String = "opts", allowed: [String]) throws -> LuaOptions {
        if isNoneOrNil(i) { return LuaOptions(call: self, index: 0, argName: name, values: [:]) }
        guard lua_type(L, i) == LUA_TTABLE else { throw argumentError(i, name, expected: "table of options") }
        let t = lua_absindex(L, i)
        var values: [String: Int32] = [:]
        lua_pushnil(L)
        while moon_next(L, t) != 0 {
            defer { moon_pop(L, 1) }
            guard lua_type(L, -2) == LUA_TSTRING, let key = state.string(at: -2) else {
                lua_settop(L, t)
                throw argumentError(i, name, expected: "options with string keys", got: "a \(state.typeName(at: -2)) key")
            }
            guard allowed.contains(key) else {
                moon_pop(L, 2)
                let list = allowed.sorted().joined(separator: ", ")
                throw LuaArgumentError("\(function): argument #\(i) '\(name)': unknown option '\(key)' (expected one of: \(list))")
            }
            values[key] = 1
        }
        return LuaOptions(call: self, index: t, argName: name, values: values)
    }

    // MARK: results

    @discardableResult public func push(_ v: Double) -> Int32 { lua_pushnumber(L, v); return 1 }
    @discardableResult public func push(_ v: Int) -> Int32 { lua_pushinteger(L, lua_Integer(v)); return 1 }
    @discardableResult public func push(_ v: Bool) -> Int32 { lua_pushboolean(L, v ? 1 : 0); return 1 }
    @discardableResult public func push(_ v: String) -> Int32 { lua_pushstring(L, v); return 1 }
    @discardableResult public func pushNil() -> Int32 { lua_pushnil(L); return 1 }
    @discardableResult public func push(_ v: LuaValue) -> Int32 { state.push(v); return 1 }
    @discardableResult public func push<T: AnyObject>(object: T) -> Int32 { state.push(object: object); return 1 }

    /// Pushes a Lua sequence of numbers.
    @discardableResult public func push(_ values: [Double]) -> Int32 {
        lua_createtable(L, Int32(values.count), 0)
        for (k, v) in values.enumerated() { lua_pushnumber(L, v); lua_rawseti(L, -2, lua_Integer(k + 1)) }
        return 1
    }

    /// Pushes a Lua sequence of strings.
    @discardableResult public func push(_ values: [String]) -> Int32 {
        lua_createtable(L, Int32(values.count), 0)
        for (k, v) in values.enumerated() { lua_pushstring(L, v); lua_rawseti(L, -2, lua_Integer(k + 1)) }
        return 1
    }

    /// Pushes a table built from string keys to scalar values.
    @discardableResult public func push(record: [(String, LuaValue)]) -> Int32 {
        lua_createtable(L, 0, Int32(record.count))
        for (k, v) in record { state.push(v); state.setRawField(-2, k) }
        return 1
    }
}

/// A validated options table. Getters return the documented default when the key is absent and throw an error naming
/// the option when it has the wrong type.
public struct LuaOptions {
    let call: LuaCall
    let index: Int32
    let argName: String
    let values: [String: Int32]

    /// Whether the option was given.
    public func has(_ key: String) -> Bool { values[key] != nil }

    private func withValue<T>(_ key: String, _ body: () throws -> T) rethrows -> T? {
        guard has(key) else { return nil }
        call.state.rawField(index, key)
        defer { moon_pop(call.L, 1) }
        return try body()
    }

    private func wrongType(_ key: String, _ expected: String) -> LuaArgumentError {
        LuaArgumentError("\(call.function): option '\(key)': expected \(expected), got \(call.typeName(-1))")
    }

    public func number(_ key: String, default d: Double) throws -> Double {
        try withValue(key) {
            guard lua_type(call.L, -1) == LUA_TNUMBER else { throw wrongType(key, "number") }
            return lua_tonumberx(call.L, -1, nil)
        } ?? d
    }

    /// An integer option, checked as `LuaCall.integer` checks arguments.
    public func integer(_ key: String, default d: Int) throws -> Int {
        try withValue(key) {
            guard lua_type(call.L, -1) == LUA_TNUMBER else { throw wrongType(key, "integer") }
            var v: Int?
            if lua_isinteger(call.L, -1) != 0 {
                let i = lua_tointegerx(call.L, -1, nil)
                if i.magnitude <= UInt64(LuaLimits.maxInteger) { v = Int(i) }
            } else {
                v = luaCheckedInteger(lua_tonumberx(call.L, -1, nil))
            }
            guard let v else {
                throw LuaArgumentError("\(call.function): option '\(key)': expected an integer of magnitude at most 2^53, got \(lua_isinteger(call.L, -1) != 0 ? String(lua_tointegerx(call.L, -1, nil)) : luaNumberText(lua_tonumberx(call.L, -1, nil)))")
            }
            return v
        } ?? d
    }

    public func string(_ key: String, default d: String) throws -> String {
        try optionalString(key) ?? d
    }

    public func optionalString(_ key: String) throws -> String? {
        try withValue(key) {
            guard lua_type(call.L, -1) == LUA_TSTRING, let s = call.state.string(at: -1) else {
                throw wrongType(key, "string")
            }
            return s
        }
    }

    /// A list-of-strings option (nil when absent).
    public func strings(_ key: String) throws -> [String]? { try sequence(key, paths: false) }

    /// A list-of-paths option (nil when absent), each as `path` checks it.
    public func paths(_ key: String) throws -> [String]? { try sequence(key, paths: true) }

    private func sequence(_ key: String, paths: Bool) throws -> [String]? {
        try withValue(key) {
            guard lua_type(call.L, -1) == LUA_TTABLE else { throw wrongType(key, paths ? "table of paths" : "table of strings") }
            return try call.stringSequence(-1, paths: paths) { "option '\(key)', element \($0)" }
        }
    }

    /// A path option, checked as `LuaCall.path` checks arguments.
    public func optionalPath(_ key: String) throws -> String? {
        try withValue(key) {
            guard lua_type(call.L, -1) == LUA_TSTRING, let s = call.state.string(at: -1) else { throw wrongType(key, "string") }
            if let problem = call.pathProblem(at: -1) { throw LuaArgumentError("\(call.function): option '\(key)': \(problem)") }
            return s
        }
    }

    /// A required path option.
    public func path(_ key: String) throws -> String {
        guard let s = try optionalPath(key) else { throw LuaArgumentError("\(call.function): option '\(key)' is required") }
        return s
    }

    /// A string option restricted to `choices`.
    public func choice(_ key: String, _ choices: [String], default d: String) throws -> String {
        let s = try string(key, default: d)
        guard choices.contains(s) else {
            throw LuaArgumentError("\(call.function): option '\(key)': expected one of \(choices.joined(separator: ", ")), got '\(s)'")
        }
        return s
    }

    public func boolean(_ key: String, default d: Bool) throws -> Bool {
        try withValue(key) {
            guard lua_type(call.L, -1) == LUA_TBOOLEAN else { throw wrongType(key, "boolean") }
            return lua_toboolean(call.L, -1) != 0
        } ?? d
    }

    public func function(_ key: String) throws -> LuaRef? {
        try withValue(key) {
            guard lua_type(call.L, -1) == LUA_TFUNCTION else { throw wrongType(key, "function") }
            return LuaRef(state: call.state, index: -1)
        }
    }

    /// Any value as a reference (tables, userdata, functions).
    public func ref(_ key: String) -> LuaRef? {
        withValue(key) { LuaRef(state: call.state, index: -1) }
    }

    public func object<T: AnyObject>(_ key: String, as type: T.Type = T.self) throws -> T? {
        try withValue(key) {
            guard let o = call.state.object(at: -1, as: type) else {
                let tname = call.state.typeNames[ObjectIdentifier(type)] ?? String(describing: type)
                if call.objectTypeName(-1) == tname {
                    throw LuaArgumentError("\(call.function): option '\(key)': this \((tname.split(separator: ".").last.map(String.init) ?? tname).lowercased()) was closed")
                }
                throw wrongType(key, tname)
            }
            return o
        }
    }
}
