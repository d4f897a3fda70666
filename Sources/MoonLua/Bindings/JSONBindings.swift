import CLua
import CLuaShim
import Foundation

/// `moon.json`: JSON text to and from Lua values (sequences become arrays, other tables objects).
extension LuaState {
    func installJSONBindings() {
        register("moon.json.encode", doc: """
            moon.json.encode(value [, opts]) -> JSON text. Sequences become arrays, other tables objects (string keys;
            keys sorted). opts: pretty (false). Functions, userdata, NaN and cycles are errors naming the path
            """) { call in
            let opts = try call.options(2, allowed: ["pretty"])
            var seen = Set<UnsafeRawPointer>()
            let value = try call.state.jsonValue(at: 1, path: "value", seen: &seen, call: call, depth: 0)
            var options: JSONSerialization.WritingOptions = [.sortedKeys, .fragmentsAllowed, .withoutEscapingSlashes]
            if try opts.boolean("pretty", default: false) { options.insert(.prettyPrinted) }
            let data = try JSONSerialization.data(withJSONObject: value, options: options)
            return call.push(String(decoding: data, as: UTF8.self))
        }
        register("moon.json.decode", doc: "moon.json.decode(text) -> Lua value (null becomes nil in objects, moon.json.null in arrays)") { call in
            let text = try call.string(1, "text")
            let obj: Any
            do { obj = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) } catch {
                throw call.argumentError(1, "text", expected: "valid JSON", got: "text that does not parse")
            }
            try call.state.pushJSON(obj, call: call, depth: 0)
            return 1
        }
        pushTable(path: "moon.json")
        lua_pushlightuserdata(L, nil)
        setRawField(-2, "null")
        moon_pop(L, 1)
    }

    fileprivate func jsonValue(at idx: Int32, path: String, seen: inout Set<UnsafeRawPointer>, call: LuaCall,
                               depth: Int) throws -> Any {
        let i = lua_absindex(L, idx)
        try call.checkDepth(depth, 1, "value")
        switch lua_type(L, i) {
        case LUA_TNIL: return NSNull()
        case LUA_TBOOLEAN: return lua_toboolean(L, i) != 0
        case LUA_TNUMBER:
            if lua_isinteger(L, i) != 0 { return Int(lua_tointegerx(L, i, nil)) }
            let d = lua_tonumberx(L, i, nil)
            guard d.isFinite else { throw call.error("\(path): cannot encode \(d) as JSON") }
            return d
        case LUA_TSTRING: return string(at: i) ?? ""
        case LUA_TLIGHTUSERDATA where lua_touserdata(L, i) == nil: return NSNull()
        case LUA_TTABLE:
            guard let p = lua_topointer(L, i) else { return NSNull() }
            guard !seen.contains(p) else { throw call.error("\(path): cycle in table") }
            seen.insert(p)
            defer { seen.remove(p) }
            let n = Int(lua_rawlen(L, i))
            var count = 0
            lua_pushnil(L)
            while moon_next(L, i) != 0 { count += 1; moon_pop(L, 1) }
            if n > 0 && count == n {
                var arr: [Any] = []
                for k in 1...n {
                    lua_rawgeti(L, i, lua_Integer(k))
                    defer { moon_pop(L, 1) }
                    arr.append(try jsonValue(at: -1, path: "\(path)[\(k)]", seen: &seen, call: call, depth: depth + 1))
                }
                return arr
            }
            var dict: [String: Any] = [:]
            lua_pushnil(L)
            while moon_next(L, i) != 0 {
                defer { moon_pop(L, 1) }
                let key: String
                if lua_type(L, -2) == LUA_TSTRING { key = string(at: -2) ?? "" } else if lua_type(L, -2) == LUA_TNUMBER {
                    key = string(at: -2) ?? ""
                } else { throw call.error("\(path): table keys must be strings or numbers, got \(typeName(at: -2))") }
                dict[key] = try jsonValue(at: -1, path: "\(path).\(key)", seen: &seen, call: call, depth: depth + 1)
            }
            return dict
        default:
            throw call.error("\(path): cannot encode a \(typeName(at: i)) as JSON")
        }
    }

    /// Pushes a decoded JSON value, or nil when it is nested deeper than `LuaLimits.maxDepth` (kept for callers that
    /// cannot fail; bindings use the throwing form).
    func pushJSON(_ v: Any) {
        let top = lua_gettop(L)
        if (try? pushJSON(v, call: LuaCall(state: self, function: "json"), depth: 0)) == nil {
            lua_settop(L, top)
            lua_pushnil(L)
        }
    }

    /// Pushes a decoded JSON value; nesting deeper than `LuaLimits.maxDepth` is an error (no unbounded recursion).
    func pushJSON(_ v: Any, call: LuaCall, depth: Int) throws {
        try call.checkDepth(depth, 1, "text")
        switch v {
        case let s as String: lua_pushstring(L, s)
        case let n as NSNumber:
            switch UInt8(bitPattern: n.objCType.pointee) {
            case UInt8(ascii: "c"), UInt8(ascii: "B"): lua_pushboolean(L, n.boolValue ? 1 : 0)
            case UInt8(ascii: "d"), UInt8(ascii: "f"): lua_pushnumber(L, n.doubleValue)
            default: lua_pushinteger(L, lua_Integer(n.int64Value))
            }
        case let a as [Any]:
            lua_createtable(L, Int32(clamping: a.count), 0)
            for (k, e) in a.enumerated() {
                if e is NSNull { lua_pushlightuserdata(L, nil) } else { try pushJSON(e, call: call, depth: depth + 1) }
                lua_rawseti(L, -2, lua_Integer(k + 1))
            }
        case let d as [String: Any]:
            lua_createtable(L, 0, Int32(clamping: d.count))
            for (k, e) in d where !(e is NSNull) { try pushJSON(e, call: call, depth: depth + 1); setRawField(-2, k) }
        default: lua_pushnil(L)
        }
    }
}
