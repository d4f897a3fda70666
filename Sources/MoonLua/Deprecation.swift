import CLua
import CLuaShim
import Foundation

/// Old names kept for one release: each use of one prints a warning to stderr, once per Lua state and message.
extension LuaState {
    /// Prints `moonlab: warning: <message>` to stderr the first time this state sees `message`; returns whether it
    /// printed. The set of messages lives in the registry (non-raising raw access only).
    @discardableResult public func warnOnce(_ message: String) -> Bool {
        lua_pushstring(L, "moon.warned")
        lua_rawget(L, moon_registryindex())
        if lua_type(L, -1) != LUA_TTABLE {
            moon_pop(L, 1)
            moon_newtable(L)
            lua_pushstring(L, "moon.warned")
            lua_pushvalue(L, -2)
            lua_rawset(L, moon_registryindex())
        }
        defer { moon_pop(L, 1) }
        lua_pushstring(L, message)
        lua_rawget(L, -2)
        let seen = lua_type(L, -1) != LUA_TNIL
        moon_pop(L, 1)
        if seen { return false }
        lua_pushstring(L, message)
        lua_pushboolean(L, 1)
        lua_rawset(L, -3)
        FileHandle.standardError.write(Data("moonlab: warning: \(message)\n".utf8))
        return true
    }

    /// Registers `old` as a deprecated alias of the function exported at `new` (same body): it warns once, then runs.
    func registerAlias(_ old: String, of new: String, _ body: @escaping LuaFunction) {
        register(old, doc: "\(old): deprecated alias of \(new) (kept one release); use \(new)") { call in
            call.state.warnOnce("\(old) is deprecated; use \(new)")
            return try body(call)
        }
    }
}

extension LuaCall {
    /// A boolean option `key` read from the options table at argument `i` (`{key = b}`); a bare boolean there is the
    /// old positional form, accepted with a warning (once). Absent or nil: `d`.
    func flagOption(_ i: Int32, _ key: String, default d: Bool, usage: String) throws -> Bool {
        if lua_type(L, i) == LUA_TBOOLEAN {
            state.warnOnce("\(function)(..., \(lua_toboolean(L, i) != 0)) is deprecated; use \(usage)")
            return lua_toboolean(L, i) != 0
        }
        return try options(i, allowed: [key]).boolean(key, default: d)
    }
}
