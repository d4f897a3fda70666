import CLua
import CLuaShim
import Foundation
import MoonTensor

/// The checks every value crossing from Lua into Swift goes through (README, "Guarantees at the Lua boundary"):
/// one number-to-integer conversion, overflow-checked size arithmetic, a nesting limit for recursive conversions and
/// an allocation check. Bindings reach them through `LuaCall`'s accessors (`integer`, `integers`, `optionalInteger`,
/// `LuaOptions.integer`, `shape`, `checkShape`), so a new binding gets them by using the accessors.
public enum LuaLimits {
    /// The largest magnitude an integer argument may have: 2^53, the range in which Lua floats are exact. Sums and
    /// differences of a few such values cannot overflow a Swift `Int`; products go through `multiply`.
    public static let maxInteger = 1 << 53
    /// How deeply nested tables (and tensors' dims) recursive conversions follow: JSON, `moon.inspect`, tensors
    /// from tables and back.
    public static let maxDepth = 200
}

/// Converts a Lua number to a Swift integer: exact integral values within ±2^53 only (NaN, ±inf, 1e308, 2^63,
/// math.maxinteger and 1.5 are all refused). Returns nil when refused.
@inline(__always)
public func luaCheckedInteger(_ v: Double) -> Int? {
    guard v.isFinite, v == v.rounded(), abs(v) <= Double(LuaLimits.maxInteger) else { return nil }
    return Int(v)
}

/// The text of a Lua number in an error message (`nan`, `inf`, `1e+308`, `9223372036854775807`).
public func luaNumberText(_ v: Double) -> String {
    if v.isNaN { return "nan" }
    if v.isInfinite { return v > 0 ? "inf" : "-inf" }
    if v == v.rounded() && abs(v) < 1e15 { return String(Int(v)) }
    return String(format: "%.14g", v)
}

/// The product of sizes or counts, or nil on overflow (or a negative factor).
public func checkedProduct(_ values: [Int]) -> Int? {
    var total = 1
    for v in values {
        guard v >= 0 else { return nil }
        let (p, overflow) = total.multipliedReportingOverflow(by: v)
        if overflow { return nil }
        total = p
    }
    return total
}

extension LuaCall {
    /// `argument #2 'size'` or `element 3 of argument #1 'size'`.
    func label(_ index: Int32, _ name: String, element: Int? = nil) -> String {
        // a field of an argument ('batch.prompts', 'responses[2]') sits at a stack slot, not at an argument's position
        let nested = name.contains(".") || name.contains("[")
        let arg = name.isEmpty ? "argument #\(index)" : nested ? "'\(name)'" : "argument #\(index) '\(name)'"
        return element.map { "element \($0) of \(arg)" } ?? arg
    }

    /// The error for a number that is not a usable integer.
    func integerError(_ index: Int32, _ name: String, _ v: Double, element: Int? = nil, text: String? = nil) -> LuaArgumentError {
        let what = v == v.rounded() && v.isFinite ? "an integer of magnitude at most 2^53" : "an integer"
        return LuaArgumentError("\(function): \(label(index, name, element: element)): expected \(what), got \(text ?? luaNumberText(v))")
    }

    /// The integer at stack slot `slot` (a Lua integer, or a float with an exact integral value) checked by
    /// `luaCheckedInteger`; nil if the slot holds no number.
    func checkedInteger(at slot: Int32, _ index: Int32, _ name: String, element: Int? = nil) throws -> Int? {
        guard lua_type(L, slot) == LUA_TNUMBER else { return nil }
        if lua_isinteger(L, slot) != 0 {
            let v = lua_tointegerx(L, slot, nil)
            guard v.magnitude <= UInt64(LuaLimits.maxInteger) else {
                throw integerError(index, name, Double(v), element: element, text: String(v))
            }
            return Int(v)
        }
        let d = lua_tonumberx(L, slot, nil)
        guard let v = luaCheckedInteger(d) else { throw integerError(index, name, d, element: element) }
        return v
    }

    /// An integer that may use the full 64-bit range (seeds): Lua integers as they are, floats checked.
    public func integer64(_ i: Int32, _ name: String = "") throws -> Int64 {
        guard lua_type(L, i) == LUA_TNUMBER else { throw argumentError(i, name, expected: "integer") }
        var ok: Int32 = 0
        let v = lua_tointegerx(L, i, &ok)
        guard ok != 0 else { throw integerError(i, name, lua_tonumberx(L, i, nil)) }
        return Int64(v)
    }

    /// An array of integers from a Lua sequence, each checked (`element 2 of argument #1 'ids'` in errors).
    public func integers(_ i: Int32, _ name: String = "") throws -> [Int] {
        guard lua_type(L, i) == LUA_TTABLE else { throw argumentError(i, name, expected: "table of integers") }
        let t = lua_absindex(L, i)
        let n = Int(lua_rawlen(L, t))
        try Allocation.check(bytes: n.multipliedReportingOverflow(by: 8).overflow ? Int.max : n * 8)
        var out = [Int](); out.reserveCapacity(n)
        for k in 0..<n {
            lua_rawgeti(L, t, lua_Integer(k + 1))
            defer { moon_pop(L, 1) }
            guard let v = try checkedInteger(at: -1, i, name, element: k + 1) else {
                throw LuaArgumentError("\(function): \(label(i, name, element: k + 1)): expected integer, got \(typeName(-1))")
            }
            out.append(v)
        }
        return out
    }

    /// Makes room for `n` more values on the calling thread's stack (recursive conversions call it per level).
    public func ensureStack(_ n: Int32) throws {
        guard lua_checkstack(L, n) != 0 else { throw error("Lua stack overflow (nesting too deep)") }
    }

    /// Refuses a nesting depth beyond `LuaLimits.maxDepth` with an error naming the argument.
    public func checkDepth(_ depth: Int, _ index: Int32, _ name: String = "") throws {
        guard depth <= LuaLimits.maxDepth else {
            throw LuaArgumentError("\(function): \(label(index, name)): nested more than \(LuaLimits.maxDepth) levels deep")
        }
        try ensureStack(8)
    }
}
