import CLua
import CLuaShim
import Foundation
import MoonDist
import MoonTensor

/// `moon.dist`: data parallelism over Open MPI (rank, size, barrier, allreduce, broadcast, allgather, gradient buckets).
extension LuaState {
    func installDistBindings() {
        pushTable(path: "moon.dist")
        setDoc(forValueAt: -1, """
            moon.dist: data-parallel processes over Open MPI. `mpirun -np N moonlab run script.lua` starts N ranks;
            without mpirun moonlab is a world of size 1 (MPI is not even initialised). Ranks are MPI's 0-based process
            ids. Collectives time out (moon.dist.timeout) so that a dead rank stops the others with an error.
            """)
        moon_pop(L, 1)
        register("moon.dist.rank", doc: "moon.dist.rank() -> this process's rank, 0-based (0 without mpirun)") { call in
            call.push(try Dist.rank())
        }
        register("moon.dist.size", doc: "moon.dist.size() -> number of processes in the job (1 without mpirun)") { call in
            call.push(try Dist.size())
        }
        register("moon.dist.is_main", doc: "moon.dist.is_main() -> true on rank 0 (the rank that writes files and prints)") { call in
            call.push(try Dist.rank() == 0)
        }
        register("moon.dist.local_size", doc: "moon.dist.local_size() -> ranks on this node (they share its cores; 1 without mpirun)") { call in
            call.push(Dist.localSize)
        }
        register("moon.dist.launched", doc: "moon.dist.launched() -> true when started by mpirun (or MOONLAB_DIST=1)") { call in
            call.push(Dist.isLaunched)
        }
        register("moon.dist.timeout", doc: """
            moon.dist.timeout([seconds]) -> seconds. Gets (and sets) how long a collective waits for the other ranks
            before failing (default 600, or MOONLAB_DIST_TIMEOUT)
            """) { call in
            if !call.isNoneOrNil(1) {
                let s = try call.number(1, "seconds")
                guard s > 0 && s.isFinite else { throw call.argumentError(1, "seconds", expected: "a positive number", got: "\(s)") }
                Dist.timeout = s
            }
            return call.push(Dist.timeout)
        }
        register("moon.dist.barrier", doc: "moon.dist.barrier() -- waits until every rank has called it") { call in
            try Dist.barrier()
            return 0
        }
        register("moon.dist.allreduce", doc: """
            moon.dist.allreduce(tensor [, {op = "sum"|"mean"|"max"}]) -> tensor, reduced in place over all ranks
            (float32, contiguous; same shape on every rank)
            """) { call in
            let t = try call.tensor(1, "tensor")
            let o = try call.options(2, allowed: ["op"])
            let op = ReduceOp(rawValue: try o.choice("op", ReduceOp.allCases.map(\.rawValue), default: "sum"))!
            try Dist.allreduce(t, op: op, call: call.function)
            lua_settop(call.L, 1)
            return 1
        }
        register("moon.dist.broadcast", doc: """
            moon.dist.broadcast(x [, root = 0]) -> x from rank root. A tensor is overwritten in place (same shape and
            dtype on every rank); any other value (numbers, strings, booleans, tables of them and of tensors) is
            returned as root sent it (the argument is ignored on the other ranks)
            """) { call in
            let root = try call.optionalInteger(2, "root", default: 0)
            let size = try Dist.size()
            guard root >= 0 && root < size else { throw call.argumentError(2, "root", expected: "a rank in 0...\(size - 1)", got: "\(root)") }
            if let t = call.state.object(at: 1, as: Tensor.self) {
                try Dist.broadcast(t, root: root, call: call.function)
                lua_settop(call.L, 1)
                return 1
            }
            let mine = try Dist.rank() == root ? try call.state.encodeValue(at: 1, function: call.function) : []
            let bytes = try Dist.broadcast(bytes: mine, root: root, call: call.function)
            var reader = ValueReader(bytes: bytes, function: call.function)
            try call.state.decodeValue(&reader)
            return 1
        }
        register("moon.dist.allgather", doc: """
            moon.dist.allgather(x) -> list with every rank's x (entry r + 1 from rank r). x: a tensor (any shape per
            rank) or a small Lua value (number, string, boolean, tables of them and of tensors), e.g. metrics
            """) { call in
            if call.isNoneOrNil(1) && call.count < 1 { throw call.argumentError(1, "x", expected: "a value") }
            let mine = try call.state.encodeValue(at: 1, function: call.function)
            let all = try Dist.allgather(bytes: mine, call: call.function)
            lua_createtable(call.L, Int32(all.count), 0)
            for (k, b) in all.enumerated() {
                var reader = ValueReader(bytes: b, function: call.function)
                try call.state.decodeValue(&reader)
                lua_rawseti(call.L, -2, lua_Integer(k + 1))
            }
            return 1
        }
        register("moon.dist.finish", doc: """
            moon.dist.finish([success = true]) -- ends MPI in this process now: MPI_Finalize, or MPI_Abort (stopping every
            rank) when success is false. os.exit calls it; moonlab calls it when a script ends
            """) { call in
            Dist.finish(success: try call.optionalBoolean(1, "success", default: true))
            return 0
        }
        register("moon.dist.flatten", doc: """
            moon.dist.flatten(tensors [, {grad = false, extra = {numbers}}]) -> one 1-D float32 tensor with every
            tensor's elements (grad = true: their gradients, a missing one as zeros), then the extra numbers: the
            bucket that one allreduce averages per minibatch
            """) { call in
            let ts = try call.tensors(1, "tensors")
            let o = try call.options(2, allowed: ["grad", "extra"])
            var extra: [Float] = []
            if o.has("extra") {
                call.state.rawField(2, "extra")
                defer { moon_pop(call.L, 1) }
                extra = try call.numbers(lua_gettop(call.L), "opts.extra").map(Float.init)
            }
            return call.push(tensor: try Dist.flatten(ts, gradients: try o.boolean("grad", default: false), extra: extra))
        }
        register("moon.dist.unflatten", doc: """
            moon.dist.unflatten(flat, tensors [, {grad = false}]) -> list of the numbers after the tensors. Copies
            consecutive slices of flat into the tensors (grad = true: into their gradients), in place, outside autograd
            """) { call in
            let flat = try call.tensor(1, "flat")
            let ts = try call.tensors(2, "tensors")
            let o = try call.options(3, allowed: ["grad"])
            let rest = try Dist.unflatten(flat, into: ts, gradients: try o.boolean("grad", default: false))
            return call.push(rest.map(Double.init))
        }
        wrapExit()
    }

    /// os.exit ends MPI first (finalise on success, abort otherwise), or the other ranks would wait for this one.
    private func wrapExit() {
        _ = try? run("""
            local exit, finish = os.exit, moon.dist.finish
            os.exit = function(code, close)
              finish(code == nil or code == true or code == 0)
              return exit(code, close)
            end
            """, name: "=moon.dist")
    }

    // MARK: values on the wire

    /// Serialises the Lua value at `idx`: nil, booleans, numbers, strings, tensors and tables of them (no cycles,
    /// at most 64 levels deep).
    func encodeValue(at idx: Int32, function: String) throws -> [UInt8] {
        var out: [UInt8] = []
        try encode(lua_absindex(L, idx), into: &out, depth: 0, path: "value", function: function)
        return out
    }

    private func encode(_ i: Int32, into out: inout [UInt8], depth: Int, path: String, function: String) throws {
        func int(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { out.append(contentsOf: $0) } }
        switch lua_type(L, i) {
        case LUA_TNIL, LUA_TNONE: out.append(0)
        case LUA_TBOOLEAN: out.append(lua_toboolean(L, i) != 0 ? 2 : 1)
        case LUA_TNUMBER:
            if lua_isinteger(L, i) != 0 { out.append(3); int(Int64(lua_tointegerx(L, i, nil))) }
            else { out.append(4); int(Int64(bitPattern: lua_tonumberx(L, i, nil).bitPattern)) }
        case LUA_TSTRING:
            var len = 0
            let p = lua_tolstring(L, i, &len)
            out.append(5); int(Int64(len))
            if let p, len > 0 { out.append(contentsOf: UnsafeRawBufferPointer(start: p, count: len)) }
        case LUA_TTABLE:
            guard depth < 64 else { throw LuaArgumentError("\(function): \(path): tables nested deeper than 64 levels (a cycle?)") }
            guard lua_checkstack(L, 4) != 0 else { throw LuaArgumentError("\(function): out of Lua stack") }
            out.append(6)
            let countAt = out.count
            int(0)
            var n: Int64 = 0
            lua_pushnil(L)
            while moon_next(L, i) != 0 {
                let kt = lua_type(L, -2)
                guard kt == LUA_TSTRING || kt == LUA_TNUMBER || kt == LUA_TBOOLEAN else {
                    moon_pop(L, 2)
                    throw LuaArgumentError("\(function): \(path): cannot send a table with a \(typeName(at: -2)) key")
                }
                let key = string(at: -2) ?? "?"
                do {
                    try encode(lua_absindex(L, -2), into: &out, depth: depth + 1, path: path, function: function)
                    try encode(lua_absindex(L, -1), into: &out, depth: depth + 1, path: "\(path).\(key)", function: function)
                } catch {
                    moon_pop(L, 2)
                    throw error
                }
                moon_pop(L, 1)
                n += 1
            }
            withUnsafeBytes(of: n.littleEndian) { b in for k in 0..<8 { out[countAt + k] = b[k] } }
        default:
            guard let t = object(at: i, as: Tensor.self) else {
                throw LuaArgumentError("\(function): \(path): cannot send a \(typeName(at: i)) (numbers, strings, booleans, tensors and tables of them)")
            }
            out.append(7)
            out.append(t.dtype == .float32 ? 0 : 1)
            int(Int64(t.shape.count))
            for d in t.shape { int(Int64(d)) }
            t.withUnsafeBytes { out.append(contentsOf: $0) }
        }
    }

    /// Pushes the value `reader` holds.
    func decodeValue(_ r: inout ValueReader) throws {
        guard lua_checkstack(L, 4) != 0 else { throw LuaArgumentError("\(r.function): out of Lua stack") }
        let tag = try r.byte()
        switch tag {
        case 0: lua_pushnil(L)
        case 1, 2: lua_pushboolean(L, tag == 2 ? 1 : 0)
        case 3: lua_pushinteger(L, lua_Integer(try r.int()))
        case 4: lua_pushnumber(L, Double(bitPattern: UInt64(bitPattern: try r.int())))
        case 5:
            let n = try r.count()
            try r.take(n) { p in _ = lua_pushlstring(L, p.baseAddress?.assumingMemoryBound(to: CChar.self), n) }
        case 6:
            let n = try r.count()
            lua_createtable(L, 0, 0)
            for _ in 0..<n {
                try decodeValue(&r)
                try decodeValue(&r)
                if lua_type(L, -2) == LUA_TNIL { moon_pop(L, 2); continue }
                lua_rawset(L, -3)
            }
        case 7:
            let dtype: DType = try r.byte() == 0 ? .float32 : .int64
            let nd = try r.count()
            guard nd <= 16 else { throw r.bad() }
            var shape: [Int] = []
            for _ in 0..<nd { shape.append(try r.count()) }
            var bytes = dtype.size
            for d in shape {
                let (m, overflow) = bytes.multipliedReportingOverflow(by: d)
                guard !overflow else { throw r.bad() }
                bytes = m
            }
            let t = try r.take(bytes) { try Tensor(bytes: $0, shape: shape, dtype: dtype) }
            noteExternalAllocation(bytes: t.byteCount + 64)
            push(object: t)
        default: throw r.bad()
        }
    }
}

/// Reads values written by `encodeValue`.
struct ValueReader {
    let bytes: [UInt8]
    let function: String
    var at = 0
    init(bytes: [UInt8], function: String) {
        self.bytes = bytes
        self.function = function
    }

    func bad() -> LuaArgumentError { LuaArgumentError("\(function): received a malformed value (byte \(at) of \(bytes.count))") }

    mutating func byte() throws -> UInt8 {
        guard at < bytes.count else { throw bad() }
        at += 1
        return bytes[at - 1]
    }

    mutating func int() throws -> Int64 {
        guard at + 8 <= bytes.count else { throw bad() }
        var v: Int64 = 0
        withUnsafeMutableBytes(of: &v) { d in for k in 0..<8 { d[k] = bytes[at + k] } }
        at += 8
        return Int64(littleEndian: v)
    }

    mutating func count() throws -> Int {
        let v = try int()
        guard v >= 0 && v <= Int64(bytes.count) * 8 + 1 << 20 else { throw bad() }
        return Int(v)
    }

    mutating func take<R>(_ n: Int, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard n >= 0, at + n <= bytes.count else { throw bad() }
        defer { at += n }
        return try bytes.withUnsafeBytes { try body(UnsafeRawBufferPointer(rebasing: $0[at ..< at + n])) }
    }
}
