import CLua
import CLuaShim

/// Renders Lua values for the REPL: cycle-safe, limited in depth and length, userdata through `__tostring`.
public struct PrettyPrinter {
    public var maxDepth = 3
    public var maxItems = 40
    public var maxStringLength = 2000

    public init() {}

    /// Renders the value at stack index `idx` of `state` (the stack is left unchanged).
    public func render(_ state: LuaState, at idx: Int32) -> String {
        var seen = Set<UnsafeRawPointer>()
        return render(state, lua_absindex(state.L, idx), depth: 0, seen: &seen)
    }

    private func render(_ s: LuaState, _ idx: Int32, depth: Int, seen: inout Set<UnsafeRawPointer>) -> String {
        let L = s.L
        switch lua_type(L, idx) {
        case LUA_TNIL: return "nil"
        case LUA_TBOOLEAN: return lua_toboolean(L, idx) != 0 ? "true" : "false"
        case LUA_TNUMBER:
            return s.string(at: idx) ?? "?"
        case LUA_TSTRING:
            var str = s.string(at: idx) ?? ""
            if str.count > maxStringLength { str = String(str.prefix(maxStringLength)) + "..." }
            return depth == 0 ? str : quote(str)
        case LUA_TTABLE:
            if hasMetafield(s, idx, "__tostring") { return tostring(s, idx) }
            guard let p = lua_topointer(L, idx) else { return "table" }
            if seen.contains(p) { return "<cycle: table: \(p)>" }
            if depth >= min(maxDepth, LuaLimits.maxDepth) || lua_checkstack(L, 8) == 0 { return "{...}" }
            seen.insert(p)
            defer { seen.remove(p) }
            return renderTable(s, idx, depth: depth, seen: &seen)
        default:
            return tostring(s, idx)
        }
    }

    private func renderTable(_ s: LuaState, _ idx: Int32, depth: Int, seen: inout Set<UnsafeRawPointer>) -> String {
        let L = s.L
        let n = Int(lua_rawlen(L, idx))
        var items: [String] = []
        var truncated = false
        for k in 0..<max(0, min(n, maxItems)) {
            lua_rawgeti(L, idx, lua_Integer(k + 1))
            items.append(render(s, lua_gettop(L), depth: depth + 1, seen: &seen))
            moon_pop(L, 1)
        }
        if n > maxItems { truncated = true }
        var keyed: [(String, String)] = []
        lua_pushnil(L)
        while moon_next(L, idx) != 0 {
            let isArrayKey = lua_isinteger(L, -2) != 0 && (1...max(n, 1)).contains(Int(lua_tointegerx(L, -2, nil))) && n > 0
            if !isArrayKey {
                if keyed.count >= maxItems { truncated = true; moon_pop(L, 2); break }
                let key: String
                if lua_type(L, -2) == LUA_TSTRING, let k = s.string(at: -2), isIdentifier(k) {
                    key = k
                } else {
                    key = "[" + render(s, lua_gettop(L) - 1, depth: depth + 1, seen: &seen) + "]"
                }
                keyed.append((key, render(s, lua_gettop(L), depth: depth + 1, seen: &seen)))
            }
            moon_pop(L, 1)
        }
        keyed.sort { $0.0 < $1.0 }
        items += keyed.map { "\($0.0) = \($0.1)" }
        if truncated { items.append("...") }
        if items.isEmpty { return "{}" }
        let oneLine = "{" + items.joined(separator: ", ") + "}"
        if oneLine.count <= 80 && !oneLine.contains("\n") { return oneLine }
        let pad = String(repeating: "  ", count: depth + 1)
        let close = String(repeating: "  ", count: depth)
        return "{\n" + items.map { pad + $0.replacingOccurrences(of: "\n", with: "\n" + pad) }.joined(separator: ",\n")
            + "\n" + close + "}"
    }

    private func hasMetafield(_ s: LuaState, _ idx: Int32, _ name: String) -> Bool {
        guard lua_getmetatable(s.L, idx) != 0 else { return false }
        s.rawField(-1, name)
        defer { moon_pop(s.L, 2) }
        return lua_type(s.L, -1) != LUA_TNIL
    }

    private func tostring(_ s: LuaState, _ idx: Int32) -> String {
        let status = moon_safe_tostring(s.L, idx)
        defer { moon_pop(s.L, 1) }
        let text = s.string(at: -1) ?? "?"
        return status == LUA_OK ? text : "<__tostring error: \(text)>"
    }

    private func quote(_ str: String) -> String {
        var out = "\""
        for c in str.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\r": out += "\\r"
            default:
                if c.value < 32 { out += "\\\(c.value)" } else { out.unicodeScalars.append(c) }
            }
        }
        return out + "\""
    }
}

/// Whether `s` is a Lua identifier (not a keyword).
func isIdentifier(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, first == "_" || (first.isASCII && first.properties.isAlphabetic) else {
        return false
    }
    return s.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) }
        && !luaKeywords.contains(s)
}

let luaKeywords: Set<String> = ["and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
                                "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while"]
