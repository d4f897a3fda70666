import CLua
import CLuaShim

/// A method of an exported Swift type: name, doc string and body (argument #1 is the object itself).
public struct LuaMethod {
    public let name: String
    public let doc: String
    public let body: LuaFunction
    public init(_ name: String, _ doc: String, _ body: @escaping LuaFunction) {
        self.name = name
        self.doc = doc
        self.body = body
    }
}

extension LuaState {
    /// Exports a Swift class as a Lua userdata type. Objects pushed with `push(object:)` get a metatable named
    /// `name` holding `methods` (reached through `__index`, also listed under `__methods` for completion and
    /// `help`) and `metamethods` (`__add`, `__tostring`, `__len`, ...). `index` is consulted for keys that are not
    /// methods (for example `t[1]`); `newindex` handles assignment.
    public func defineType<T: AnyObject>(_ type: T.Type, name: String, methods: [LuaMethod],
                                         metamethods: [String: LuaFunction] = [:],
                                         index: LuaFunction? = nil, newindex: LuaFunction? = nil) {
        typeNames[ObjectIdentifier(type)] = name
        let short = name.split(separator: ".").last.map(String.init) ?? name
        moon_new_object_metatable(L, name)
        let mt = lua_gettop(L)
        lua_pushvalue(L, mt)
        typeRefs[ObjectIdentifier(type)] = luaL_ref(L, moon_registryindex())
        moon_newtable(L)
        for m in methods {
            pushFunction("\(short):\(m.name)", m.body)
            setDoc(forValueAt: -1, m.doc)
            setRawField(-2, m.name)
        }
        let methodsRef = LuaRef(state: self, index: -1)
        setRawField(mt, "__methods")
        for (key, body) in metamethods {
            pushFunction("\(short).\(key)", body)
            setRawField(mt, key)
        }
        if let index {
            pushFunction("\(short).__index") { call in
                if lua_type(call.L, 2) == LUA_TSTRING {
                    methodsRef.push()
                    lua_pushvalue(call.L, 2)
                    lua_rawget(call.L, -2)
                    if lua_type(call.L, -1) != LUA_TNIL { return 1 }
                    moon_pop(call.L, 2)
                }
                return try index(call)
            }
        } else {
            methodsRef.push()
        }
        setRawField(mt, "__index")
        if let newindex {
            pushFunction("\(short).__newindex", newindex)
            setRawField(mt, "__newindex")
        }
        lua_pushstring(L, name)
        setRawField(mt, "__name")
        moon_pop(L, 1)
    }

    /// Pushes a Swift object as a userdata of its exported type (the type must have been defined).
    public func push<T: AnyObject>(object: T) {
        guard let ref = typeRefs[ObjectIdentifier(T.self)] ?? typeRefs[ObjectIdentifier(type(of: object))] else {
            fatalError("moonlab: type \(T.self) was not exported with defineType")
        }
        moon_push_object_ref(L, Unmanaged.passRetained(object as AnyObject).toOpaque(), ref)
    }

    /// The Swift object at `idx` if it is a live userdata of `type`'s exported type.
    public func object<T: AnyObject>(at idx: Int32, as type: T.Type) -> T? {
        guard let ref = typeRefs[ObjectIdentifier(type)], let p = moon_test_object_ref(L, idx, ref) else { return nil }
        return Unmanaged<AnyObject>.fromOpaque(p).takeUnretainedValue() as? T
    }
}
