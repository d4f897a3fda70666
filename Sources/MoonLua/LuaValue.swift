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
/// A reference may outlive its state (a Swift object holding a Lua callback); it then does nothing.
public final class LuaRef: Equatable {
    let lifetime: LuaLifetime
    let ref: Int32
    /// The running thread of the state (never a thread captured at creation: a coroutine may be collected).
    var L: OpaquePointer { lifetime.current }

    /// References the value at stack index `index` (the stack is unchanged).
    init(state: LuaState, index: Int32) {
        lifetime = state.lifetime
        let L = lifetime.current
        lua_pushvalue(L, index)
        ref = luaL_ref(L, moon_registryindex())
    }

    deinit { if !lifetime.closed { luaL_unref(L, moon_registryindex(), ref) } }

    /// Whether the state this reference belongs to is still open.
    public var isValid: Bool { !lifetime.closed }

    /// Pushes the referenced value (nil if the state was closed: callers check `isValid` first).
    public func push() { lua_rawgeti(L, moon_registryindex(), lua_Integer(ref)) }

    /// The Lua type name of the referenced value.
    public var typeName: String {
        push()
        defer { moon_pop(L, 1) }
        return String(cString: lua_typename(L, lua_type(L, -1)))
    }

    public static func == (a: LuaRef, b: LuaRef) -> Bool {
        guard a.lifetime === b.lifetime, a.isValid else { return false }
        a.push(); b.push()
        defer { moon_pop(a.L, 2) }
        return lua_rawequal(a.L, -1, -2) != 0
    }
}

/// Shared between a state and its references: the main thread, the thread now running Swift code (the one whose
/// stack every binding must use: a coroutine's own `lua_State` while a binding runs inside it), and whether the
/// state was closed.
final class LuaLifetime {
    var closed = false
    let main: OpaquePointer
    /// Set by the dispatcher for the duration of each call (and restored after it), so it always names a live thread.
    var current: OpaquePointer
    init(main: OpaquePointer) {
        self.main = main
        current = main
    }
}
