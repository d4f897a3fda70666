import CLua
import CLuaShim

/// A Lua value seen from Swift: scalars by value, tables/functions/userdata by registry reference.
public enum LuaValue: Equatable {
    case `nil`
    case boolean(Bool)
    case integer(Int)
    case number(Double)
    case string(String)
    case ref(LuaRef)

    public var number: Double? {
        switch self {
        case .integer(let i): return Double(i)
        case .number(let d): return d
        default: return nil
        }
    }

    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }
}

/// A strong reference (in the Lua registry) to a Lua value, released when the reference is deinitialised.
public final class LuaRef: Equatable {
    unowned let state: LuaState
    let ref: Int32

    /// References the value at stack index `index` (the stack is unchanged).
    init(state: LuaState, index: Int32) {
        self.state = state
        lua_pushvalue(state.L, index)
        ref = luaL_ref(state.L, moon_registryindex())
    }

    deinit { luaL_unref(state.L, moon_registryindex(), ref) }

    /// Pushes the referenced value.
    public func push() { lua_rawgeti(state.L, moon_registryindex(), lua_Integer(ref)) }

    /// The Lua type name of the referenced value.
    public var typeName: String {
        push()
        defer { moon_pop(state.L, 1) }
        return state.typeName(at: -1)
    }

    public static func == (a: LuaRef, b: LuaRef) -> Bool {
        a.push(); b.push()
        defer { moon_pop(a.state.L, 2) }
        return lua_rawequal(a.state.L, -1, -2) != 0
    }
}
