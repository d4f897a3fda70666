import CLua
import CLuaShim
import Foundation
import MoonTensor

/// Conversions between Lua values and tensors, and the Lua conventions for dims and positions.
///
/// Lua is 1-based: dims (`t:sum(1)` reduces the first dim) and positions (`t[1]`, `narrow(dim, start, n)`) count
/// from 1, and negative values count from the end (-1 is the last). Index *tensors* (argmax results, gather and
/// index_select indices, class targets, token ids) hold 0-based data, as in PyTorch, so that token ids flow
/// unchanged between Lua and the models.
/// The largest tensor the bindings create (2^32 elements, 16 GiB of float32).
public let maxTensorElements = 1 << 32

extension LuaCall {
    /// The tensor at argument `i`.
    public func tensor(_ i: Int32, _ name: String = "") throws -> Tensor {
        try object(i, name, as: Tensor.self)
    }

    /// A tensor argument that may also be a number or a (nested) table, converted to a tensor.
    public func tensorLike(_ i: Int32, _ name: String = "") throws -> Tensor {
        if let t = state.object(at: i, as: Tensor.self) { return t }
        switch lua_type(L, i) {
        case LUA_TNUMBER: return Tensor.scalar(Float(lua_tonumberx(L, i, nil)))
        case LUA_TTABLE: return try state.tensor(fromTableAt: i, function: function, argument: i, name: name)
        default: throw argumentError(i, name, expected: "moon.Tensor, number or table")
        }
    }

    /// A Lua dim (1-based, negative from the end) converted to the 0-based/negative Swift convention.
    public func dim(_ i: Int32, _ name: String = "dim") throws -> Int {
        let d = try integer(i, name)
        guard d != 0 else { throw argumentError(i, name, expected: "a non-zero dim (dims are 1-based)", got: "0") }
        return d > 0 ? d - 1 : d
    }

    public func optionalDim(_ i: Int32, _ name: String = "dim") throws -> Int? {
        isNoneOrNil(i) ? nil : try dim(i, name)
    }

    /// A Lua dim of tensor `t`, checked against its dims so that the error names the dim as the user wrote it
    /// (`t:sum(3)` on a 2-d tensor: "dim 3 out of range: expected 1..2 or -2..-1"). `extra` widens the range for
    /// dims that may name a new position (unsqueeze, stack).
    public func dim(_ i: Int32, _ name: String = "dim", for t: Tensor, extra: Int = 0) throws -> Int {
        let d = try integer(i, name)
        let n = t.ndim + extra
        guard n > 0 else { return d > 0 ? d - 1 : d }  // 0-d tensors: the tensor op explains
        guard d != 0, d >= -n, d <= n else {
            throw LuaArgumentError("\(function): \(label(i, name)): dim \(d) out of range for a \(t.ndim)-d tensor (expected 1..\(n) or -\(n)..-1; dims are 1-based)")
        }
        return d > 0 ? d - 1 : d
    }

    public func optionalDim(_ i: Int32, _ name: String = "dim", for t: Tensor) throws -> Int? {
        isNoneOrNil(i) ? nil : try dim(i, name, for: t)
    }

    /// A shape given either as a table `{2, 3}` or as integers from argument `i` on (`2, 3`); returns the shape and
    /// the index of the first argument after it.
    public func shape(from i: Int32, _ name: String = "size") throws -> (shape: [Int], next: Int32) {
        if lua_type(L, i) == LUA_TTABLE && state.object(at: i, as: Tensor.self) == nil {
            let values = try integers(i, name)
            for (k, v) in values.enumerated() where v < -1 {
                throw LuaArgumentError("\(function): \(label(i, name, element: k + 1)): expected a size >= 0 (or -1 to infer one), got \(v)")
            }
            return (values, i + 1)
        }
        var dims: [Int] = []
        var k = i
        while lua_type(L, k) == LUA_TNUMBER {
            dims.append(try integer(k, name))
            k += 1
        }
        if dims.isEmpty && !isNoneOrNil(i) && lua_type(L, i) != LUA_TTABLE {
            throw argumentError(i, name, expected: "sizes (integers or a table)")
        }
        return (dims, k)
    }

    /// Refuses element counts a tensor could not hold (a typo like `moon.zeros(1e12)` is an error, not a crash).
    public func checkElementCount(_ count: Int, _ i: Int32, _ name: String, elementSize: Int = 4) throws {
        guard count >= 0 && count <= maxTensorElements else {
            throw argumentError(i, name, expected: "at most \(maxTensorElements) elements", got: "\(count)")
        }
        do { try Allocation.check(bytes: count * elementSize) } catch { throw self.error("\(error)") }
    }

    /// `checkElementCount` for a shape (overflow-safe; -1 entries are ignored).
    public func checkShape(_ shape: [Int], _ i: Int32, _ name: String) throws {
        var total = 1
        if let bad = shape.first(where: { $0 < -1 }) {
            throw argumentError(i, name, expected: "sizes >= 0 (or -1 to infer one)", got: "\(bad)")
        }
        for d in shape where d != -1 {
            let (p, overflow) = total.multipliedReportingOverflow(by: max(d, 0))
            guard !overflow else { throw argumentError(i, name, expected: "a shape of at most \(maxTensorElements) elements", got: "\(shape)") }
            total = p
        }
        try checkElementCount(total, i, name)
    }

    /// Pushes a tensor as a moon.Tensor userdata (and tells the collector about its bytes).
    @discardableResult
    public func push(tensor: Tensor) -> Int32 {
        state.noteExternalAllocation(bytes: tensor.byteCount + 64)
        state.push(object: tensor)
        return 1
    }

    /// Pushes a Lua sequence of tensors.
    @discardableResult
    public func push(tensors: [Tensor]) -> Int32 {
        lua_createtable(L, Int32(tensors.count), 0)
        for (k, t) in tensors.enumerated() {
            push(tensor: t)
            lua_rawseti(L, -2, lua_Integer(k + 1))
        }
        return 1
    }

    /// A Lua sequence of tensors.
    public func tensors(_ i: Int32, _ name: String = "") throws -> [Tensor] {
        guard lua_type(L, i) == LUA_TTABLE else { throw argumentError(i, name, expected: "table of moon.Tensor") }
        let t = lua_absindex(L, i)
        let n = Int(lua_rawlen(L, t))
        var out: [Tensor] = []
        for k in 0..<n {
            lua_rawgeti(L, t, lua_Integer(k + 1))
            defer { moon_pop(L, 1) }
            guard let t = state.object(at: -1, as: Tensor.self) else {
                let what = objectTypeName(-1) == "moon.Tensor" ? "this tensor was closed" : "expected moon.Tensor, got \(typeName(-1))"
                throw LuaArgumentError("\(function): \(label(i, name, element: k + 1)): \(what)")
            }
            out.append(t)
        }
        return out
    }
}

extension LuaState {
    /// Builds a tensor from a nested Lua table of numbers (rectangular; booleans count as 0/1).
    func tensor(fromTableAt idx: Int32, function: String, argument: Int32, name: String,
                dtype: DType? = nil) throws -> Tensor {
        let t = lua_absindex(L, idx)
        var shape: [Int] = []
        var values: [Double] = []
        var allIntegers = true
        func fail(_ what: String) -> LuaArgumentError {
            let label = name.isEmpty ? "argument #\(argument)" : "argument #\(argument) '\(name)'"
            return LuaArgumentError("\(function): \(label): \(what)")
        }
        // The shape comes from the first element at each depth; every element is then checked against it.
        lua_pushvalue(L, t)
        while lua_type(L, -1) == LUA_TTABLE && object(at: -1, as: Tensor.self) == nil {
            let n = Int(lua_rawlen(L, -1))
            shape.append(n)
            guard shape.count <= 16 else {
                moon_pop(L, 1)
                throw fail("nested more than 16 levels deep (a tensor has at most 16 dims)")
            }
            guard n > 0 else { break }
            lua_rawgeti(L, -1, 1)
            moon_remove(L, -2)
        }
        moon_pop(L, 1)
        guard let expected = checkedProduct(shape), expected <= maxTensorElements else {
            throw fail("a table of shape \(shape) is too large")
        }
        do { try Allocation.check(bytes: expected * 16) } catch { throw fail("\(error)") }
        values.reserveCapacity(expected)
        func fill(_ index: Int32, depth: Int) throws {
            let n = Int(lua_rawlen(L, index))
            guard n == shape[depth] else {
                throw fail("ragged table: expected \(shape[depth]) elements at depth \(depth + 1), got \(n)")
            }
            guard lua_checkstack(L, 4) != 0 else { throw fail("Lua stack overflow") }
            for k in 0..<n {
                lua_rawgeti(L, index, lua_Integer(k + 1))
                defer { moon_pop(L, 1) }
                let type = lua_type(L, -1)
                if depth == shape.count - 1 {
                    if type == LUA_TNUMBER {
                        if lua_isinteger(L, -1) == 0 { allIntegers = false }
                        values.append(lua_tonumberx(L, -1, nil))
                    } else if type == LUA_TBOOLEAN {
                        values.append(lua_toboolean(L, -1) != 0 ? 1 : 0)
                    } else if type == LUA_TTABLE {
                        throw fail("ragged table: a table where a number was expected at depth \(depth + 1)")
                    } else {
                        throw fail("expected numbers in the table, got \(typeName(at: -1)) at depth \(depth + 1)")
                    }
                } else {
                    guard type == LUA_TTABLE else {
                        throw fail("ragged table: expected a table at depth \(depth + 1), got \(typeName(at: -1))")
                    }
                    try fill(lua_gettop(L), depth: depth + 1)
                }
            }
        }
        try fill(t, depth: 0)
        guard values.count == expected else { throw fail("ragged table: \(values.count) numbers for shape \(shape)") }
        let type = dtype ?? .float32
        _ = allIntegers
        if type == .int64 {
            var ints = [Int](); ints.reserveCapacity(values.count)
            for (k, v) in values.enumerated() {
                guard let i = luaCheckedInteger(v) else {
                    throw fail("element \(k + 1) (in row-major order): expected an integer of magnitude at most 2^53 for an int64 tensor, got \(luaNumberText(v))")
                }
                ints.append(i)
            }
            return try Tensor(ints: ints, shape: shape)
        }
        return try Tensor(values.map { Float($0) }, shape: shape)
    }

    /// Pushes a tensor's values as a nested Lua table (numbers; 0-d tensors as a number).
    func pushTable(of tensor: Tensor) throws {
        guard lua_checkstack(L, Int32(tensor.ndim) + 8) != 0 else {
            throw LuaArgumentError("Tensor:totable: Lua stack overflow (\(tensor.ndim) dims)")
        }
        let c = tensor.contiguous()
        let isInt = c.dtype == .int64
        let fl = isInt ? [] : c.toArray()
        let ints = isInt ? c.toIntArray() : []
        if c.ndim == 0 {
            if isInt { lua_pushinteger(L, lua_Integer(ints[0])) } else { lua_pushnumber(L, Double(fl[0])) }
            return
        }
        var pos = 0
        func build(_ depth: Int) {
            let n = c.shape[depth]
            lua_createtable(L, Int32(n), 0)
            for k in 0..<n {
                if depth == c.ndim - 1 {
                    if isInt { lua_pushinteger(L, lua_Integer(ints[pos])) } else { lua_pushnumber(L, Double(fl[pos])) }
                    pos += 1
                } else {
                    build(depth + 1)
                }
                lua_rawseti(L, -2, lua_Integer(k + 1))
            }
        }
        build(0)
    }
}

/// Torch-style text of a tensor: values (rows of a matrix, slices of higher dims, truncated for large tensors) and
/// a footer with type and size.
func formatTensor(_ t: Tensor, maxElements: Int = 1000) -> String {
    let c = t.contiguous()
    let footer = "[moon.Tensor \(t.dtype) of size \(t.shape.isEmpty ? "scalar" : t.shape.map(String.init).joined(separator: "x"))"
        + (t.requiresGrad ? ", requires_grad" : "") + "]"
    if c.count == 0 { return "[empty tensor]\n" + footer }
    let values: [Double] = c.dtype == .int64 ? c.toIntArray().map(Double.init) : c.toArray().map(Double.init)
    func fmt(_ v: Double) -> String {
        if c.dtype == .int64 { return String(Int(v)) }
        if v == v.rounded() && abs(v) < 1e7 { return String(format: "%.0f", v) }
        return String(format: "%.4g", v)
    }
    if c.ndim == 0 { return fmt(values[0]) + "\n" + footer }
    let cols = c.shape.last!
    let rows = c.count / cols
    let showRows = rows > 24 ? Array(0..<10) + [-1] + Array(rows - 10..<rows) : Array(0..<rows)
    let showCols = cols > 12 ? Array(0..<5) + [-1] + Array(cols - 5..<cols) : Array(0..<cols)
    var cells: [[String]] = []
    for r in showRows {
        cells.append(showCols.map { col in (r < 0 || col < 0) ? "..." : fmt(values[r * cols + col]) })
    }
    let width = cells.flatMap { $0 }.map(\.count).max() ?? 1
    var lines: [String] = []
    let plane = c.ndim >= 2 ? c.shape[c.ndim - 2] : rows
    for (k, r) in showRows.enumerated() {
        if c.ndim > 2 && r >= 0 && r % plane == 0 {
            var idx: [Int] = []
            var rem = r / plane
            for d in stride(from: c.ndim - 3, through: 0, by: -1) { idx.insert(rem % c.shape[d] + 1, at: 0); rem /= c.shape[d] }
            lines.append("(" + idx.map(String.init).joined(separator: ",") + ",.,.) =")
        }
        lines.append(" " + cells[k].map { String(repeating: " ", count: width - $0.count) + $0 }.joined(separator: "  "))
    }
    _ = maxElements
    return lines.joined(separator: "\n") + "\n" + footer
}
