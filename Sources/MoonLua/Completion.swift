import CLua
import CLuaShim

extension LuaState {
    /// Completion candidates for `text` (the word before the cursor): globals and keywords, or the fields and
    /// methods after `a.b.` / `obj:` (userdata methods are found through their metatables).
    public func completions(for text: String) -> [String] {
        guard let sep = text.lastIndex(where: { $0 == "." || $0 == ":" }) else {
            moon_pushglobaltable(L)
            var names = keys(ofValueAt: -1, functionsOnly: false)
            moon_pop(L, 1)
            names.formUnion(luaKeywords)
            return names.filter { $0.hasPrefix(text) }.sorted()
        }
        let base = String(text[..<sep])
        let partial = String(text[text.index(after: sep)...])
        let methodsOnly = text[sep] == ":"
        let top = lua_gettop(L)
        defer { lua_settop(L, top) }
        moon_pushglobaltable(L)
        for part in base.split(separator: ".", omittingEmptySubsequences: false) {
            guard !part.isEmpty, lookupField(String(part)) else { return [] }
        }
        return keys(ofValueAt: -1, functionsOnly: methodsOnly).filter { $0.hasPrefix(partial) }.sorted()
            .map { base + String(text[sep]) + $0 }
    }

    /// Replaces the value on top of the stack with its field `name` (raw, then through a table `__index`).
    private func lookupField(_ name: String) -> Bool {
        let t = lua_gettop(L)
        if lua_type(L, t) == LUA_TTABLE {
            rawField(t, name)
            if lua_type(L, -1) != LUA_TNIL { moon_replace(L, t); return true }
            moon_pop(L, 1)
        }
        guard lua_getmetatable(L, t) != 0 else { return false }
        rawField(-1, "__index")
        guard lua_type(L, -1) == LUA_TTABLE else { lua_settop(L, t); return false }
        rawField(-1, name)
        guard lua_type(L, -1) != LUA_TNIL else { lua_settop(L, t); return false }
        moon_replace(L, t)
        lua_settop(L, t)
        return true
    }

    /// String keys of the value at `idx` that are identifiers, plus those of its metatable's `__methods` and
    /// table `__index`.
    private func keys(ofValueAt idx: Int32, functionsOnly: Bool) -> Set<String> {
        let v = lua_absindex(L, idx)
        var out = Set<String>()
        func collect(_ t: Int32) {
            lua_pushnil(L)
            while moon_next(L, t) != 0 {
                if lua_type(L, -2) == LUA_TSTRING, let k = string(at: -2), isIdentifier(k),
                   !functionsOnly || lua_type(L, -1) == LUA_TFUNCTION {
                    out.insert(k)
                }
                moon_pop(L, 1)
            }
        }
        if lua_type(L, v) == LUA_TTABLE { collect(v) }
        if lua_getmetatable(L, v) != 0 {
            for field in ["__methods", "__index"] {
                rawField(-1, field)
                if lua_type(L, -1) == LUA_TTABLE { collect(lua_gettop(L)) }
                moon_pop(L, 1)
            }
            moon_pop(L, 1)
        }
        return out
    }
}
