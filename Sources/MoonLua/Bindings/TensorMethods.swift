import CLua
import CLuaShim
import Foundation
import MoonTensor

/// A method whose result is one tensor computed from `self`.
private func unary(_ name: String, _ doc: String, _ f: @escaping (Tensor) throws -> Tensor) -> LuaMethod {
    LuaMethod(name, doc) { call in call.push(tensor: try f(try call.tensor(1, "self"))) }
}

/// A method taking a tensor (or number, or table) argument, with a faster path for numbers.
private func binary(_ name: String, _ doc: String, tensor: @escaping (Tensor, Tensor) throws -> Tensor,
                    scalar: @escaping (Tensor, Float) throws -> Tensor) -> LuaMethod {
    LuaMethod(name, doc) { call in
        let t = try call.tensor(1, "self")
        if lua_type(call.L, 2) == LUA_TNUMBER { return call.push(tensor: try scalar(t, Float(lua_tonumberx(call.L, 2, nil)))) }
        return call.push(tensor: try tensor(t, try call.tensorLike(2, "other")))
    }
}

/// A method that changes `self` in place and returns it (so calls chain: `t:zero_():add_(1)`).
private func inPlace(_ name: String, _ doc: String, _ body: @escaping (Tensor, LuaCall) throws -> Void) -> LuaMethod {
    LuaMethod(name, doc) { call in
        try body(try call.tensor(1, "self"), call)
        lua_settop(call.L, 1)
        return 1
    }
}

/// A reduction method: `t:sum()` over everything, `t:sum(dim [, keepdim])` over one dim.
private func reduction(_ name: String, _ all: @escaping (Tensor) throws -> Tensor,
                       _ byDim: @escaping (Tensor, Int, Bool) throws -> Tensor) -> LuaMethod {
    LuaMethod(name, "t:\(name)([dim [, keepdim]]) -> \(name) over all elements, or over dim (1-based; -1 is the last)") { call in
        let t = try call.tensor(1, "self")
        guard let d = try call.optionalDim(2, for: try call.tensor(1, "self")) else { return call.push(tensor: try all(t)) }
        return call.push(tensor: try byDim(t, d, try call.optionalBoolean(3, "keepdim", default: false)))
    }
}

/// A binary operator metamethod: either operand may be a number.
private func arithmetic(_ tt: @escaping (Tensor, Tensor) throws -> Tensor, _ ts: @escaping (Tensor, Float) throws -> Tensor,
                        _ st: @escaping (Float, Tensor) throws -> Tensor) -> LuaFunction {
    { call in
        if lua_type(call.L, 1) == LUA_TNUMBER {
            return call.push(tensor: try st(Float(lua_tonumberx(call.L, 1, nil)), try call.tensor(2, "right")))
        }
        let a = try call.tensor(1, "left")
        if lua_type(call.L, 2) == LUA_TNUMBER { return call.push(tensor: try ts(a, Float(lua_tonumberx(call.L, 2, nil)))) }
        return call.push(tensor: try tt(a, try call.tensorLike(2, "right")))
    }
}

/// Dims given as integers or a table, 1-based, converted.
private func dimList(_ call: LuaCall, from i: Int32) throws -> [Int] {
    let (dims, _) = try call.shape(from: i, "dims")
    let n = try call.tensor(1, "self").ndim
    return try dims.map { d in
        guard d != 0, d >= -n, d <= n else {
            throw call.argumentError(i, "dims", expected: "dims in 1..\(n) or -\(n)..-1 (dims are 1-based)", got: "\(d)")
        }
        return d > 0 ? d - 1 : d
    }
}

/// Pushes (values, indices) as two results.
private func pushPair(_ call: LuaCall, _ pair: (values: Tensor, indices: Tensor)) -> Int32 {
    call.push(tensor: pair.values) + call.push(tensor: pair.indices)
}

extension LuaState {
    func tensorMetamethods() -> [String: LuaFunction] {
        [
            "__add": arithmetic({ try $0.add($1) }, { $0.add($1) }, { $1.add($0) }),
            "__sub": arithmetic({ try $0.sub($1) }, { $0.sub($1) }, { $1.rsub($0) }),
            "__mul": arithmetic({ try $0.mul($1) }, { $0.mul($1) }, { $1.mul($0) }),
            "__div": arithmetic({ try $0.div($1) }, { $0.div($1) }, { $1.rdiv($0) }),
            "__pow": arithmetic({ try $0.pow($1) }, { $0.pow($1) }, { try Tensor.full($1.shape, value: $0).pow($1) }),
            "__unm": { call in call.push(tensor: try call.tensor(1).neg()) },
            "__len": { call in call.push(try call.tensor(1).shape.first ?? 0) },
            "__tostring": { call in call.push(formatTensor(try call.tensor(1))) },
        ]
    }

    func tensorMethods() -> [LuaMethod] {
        var m: [LuaMethod] = [
            // shape and type
            LuaMethod("size", "t:size([dim]) -> the shape as a table, or the size of one dim") { call in
                let t = try call.tensor(1, "self")
                guard let d = try call.optionalDim(2, for: try call.tensor(1, "self")) else { return call.push(t.shape.map(Double.init)) }
                return call.push(try t.size(d))
            },
            LuaMethod("dim", "t:dim() -> number of dims") { call in call.push(try call.tensor(1, "self").ndim) },
            LuaMethod("numel", "t:numel() -> number of elements") { call in call.push(try call.tensor(1, "self").count) },
            LuaMethod("type", "t:type() -> 'float32' or 'int64'") { call in call.push(try call.tensor(1, "self").dtype.rawValue) },
            LuaMethod("is_contiguous", "t:is_contiguous() -> whether elements are dense row-major") { call in
                call.push(try call.tensor(1, "self").isContiguous)
            },
            unary("float", "t:float() -> float32 copy (or self)") { $0.float() },
            unary("long", "t:long() -> int64 copy (or self), truncating") { $0.long() },
            unary("contiguous", "t:contiguous() -> a dense copy, or self if already dense") { $0.contiguous() },
            unary("clone", "t:clone() -> a copy with its own storage (autograd-tracked)") { $0.clone() },
            LuaMethod("item", "t:item() -> the number in a one-element tensor") { call in
                let t = try call.tensor(1, "self")
                guard t.count == 1 else { throw call.error("expected a tensor with one element, got shape \(t.shape)") }
                return t.dtype == .int64 ? call.push(try t.reshape([]).intItem()) : call.push(Double(try t.reshape([]).item()))
            },
            LuaMethod("totable", "t:totable() -> nested Lua table of the values (a number for 0-d tensors)") { call in
                try call.state.pushTable(of: try call.tensor(1, "self"))
                return 1
            },
            LuaMethod("allclose", "t:allclose(u [, rtol=1e-5 [, atol=1e-8]]) -> whether all values are close") { call in
                call.push(try call.tensor(1, "self").allClose(try call.tensorLike(2, "other"),
                                                              rtol: Float(try call.optionalNumber(3, "rtol", default: 1e-5)),
                                                              atol: Float(try call.optionalNumber(4, "atol", default: 1e-8))))
            },
            // views
            LuaMethod("reshape", "t:reshape(2, -1) or t:reshape({2, -1}) -> same elements, new shape (a view when possible)") { call in
                let shape = try call.shape(from: 2, "shape").shape
                try call.checkShape(shape, 2, "shape")
                return call.push(tensor: try call.tensor(1, "self").reshape(shape))
            },
            LuaMethod("view", "t:view(2, -1) -> a view with a new shape (contiguous tensors only)") { call in
                let shape = try call.shape(from: 2, "shape").shape
                try call.checkShape(shape, 2, "shape")
                return call.push(tensor: try call.tensor(1, "self").view(shape))
            },
            LuaMethod("permute", "t:permute(2, 1, 3) -> dims reordered (1-based)") { call in
                call.push(tensor: try call.tensor(1, "self").permute(try dimList(call, from: 2)))
            },
            LuaMethod("transpose", "t:transpose(d1, d2) -> two dims swapped") { call in
                call.push(tensor: try call.tensor(1, "self").transpose(try call.dim(2, "dim0", for: try call.tensor(1, "self")), try call.dim(3, "dim1", for: try call.tensor(1, "self"))))
            },
            unary("t", "t:t() -> transpose of a matrix") { try $0.t() },
            LuaMethod("narrow", "t:narrow(dim, start, length) -> a view of length elements from start (1-based)") { call in
                let t = try call.tensor(1, "self")
                let d = try call.dim(2, for: try call.tensor(1, "self"))
                let size = try t.size(d)
                return call.push(tensor: try t.narrow(dim: d, start: try position(call, 3, size: size, "start"), length: try call.integer(4, "length")))
            },
            LuaMethod("select", "t:select(dim, index) -> the slice at index (1-based), one dim fewer") { call in
                let t = try call.tensor(1, "self")
                let d = try call.dim(2, for: try call.tensor(1, "self"))
                return call.push(tensor: try t.select(dim: d, index: try position(call, 3, size: try t.size(d), "index")))
            },
            LuaMethod("slice", "t:slice(dim, first [, last [, step]]) -> elements first..last inclusive (1-based, negative from the end)") { call in
                let t = try call.tensor(1, "self")
                let d = try call.dim(2, for: try call.tensor(1, "self"))
                let size = try t.size(d)
                let first = try call.integer(3, "first"), last = try call.optionalInteger(4, "last", default: -1)
                let start = first > 0 ? first - 1 : size + first
                let end = (last > 0 ? last - 1 : size + last) + 1
                return call.push(tensor: try t.slice(dim: d, start: start, end: end, step: try call.optionalInteger(5, "step", default: 1)))
            },
            LuaMethod("expand", "t:expand(4, 3) -> broadcast view to a larger shape (-1 keeps a size)") { call in
                let shape = try call.shape(from: 2, "shape").shape
                try call.checkShape(shape, 2, "shape")
                return call.push(tensor: try call.tensor(1, "self").expand(shape))
            },
            LuaMethod("squeeze", "t:squeeze([dim]) -> size-1 dims removed") { call in
                let t = try call.tensor(1, "self")
                guard let d = try call.optionalDim(2, for: try call.tensor(1, "self")) else { return call.push(tensor: t.squeeze()) }
                return call.push(tensor: try t.squeeze(dim: d))
            },
            LuaMethod("unsqueeze", "t:unsqueeze(dim) -> a size-1 dim inserted at dim") { call in
                call.push(tensor: try call.tensor(1, "self").unsqueeze(dim: try call.dim(2, for: try call.tensor(1, "self"), extra: 1)))
            },
            LuaMethod("flatten", "t:flatten([start=1 [, end=-1]]) -> dims start..end merged") { call in
                call.push(tensor: try call.tensor(1, "self").flatten(start: try call.optionalDim(2, for: try call.tensor(1, "self")) ?? 0, end: try call.optionalDim(3, for: try call.tensor(1, "self")) ?? -1))
            },
            LuaMethod("split", "t:split(size [, dim=1]) -> table of pieces of `size` along dim") { call in
                call.push(tensors: try call.tensor(1, "self").split(size: try call.integer(2, "size"), dim: try call.optionalDim(3, for: try call.tensor(1, "self")) ?? 0))
            },
            LuaMethod("chunk", "t:chunk(n [, dim=1]) -> table of n nearly equal pieces") { call in
                call.push(tensors: try call.tensor(1, "self").chunk(try call.integer(2, "n"), dim: try call.optionalDim(3, for: try call.tensor(1, "self")) ?? 0))
            },
            // arithmetic
            binary("add", "t:add(u) or t + u -> elementwise sum (broadcasting)", tensor: { try $0.add($1) }, scalar: { $0.add($1) }),
            binary("sub", "t:sub(u) or t - u -> elementwise difference", tensor: { try $0.sub($1) }, scalar: { $0.sub($1) }),
            binary("mul", "t:mul(u) or t * u -> elementwise product", tensor: { try $0.mul($1) }, scalar: { $0.mul($1) }),
            binary("div", "t:div(u) or t / u -> elementwise quotient", tensor: { try $0.div($1) }, scalar: { $0.div($1) }),
            binary("pow", "t:pow(p) or t ^ p -> elementwise power", tensor: { try $0.pow($1) }, scalar: { $0.pow($1) }),
            binary("minimum", "t:minimum(u) -> elementwise min", tensor: { try $0.minimum($1) }, scalar: { try $0.minimum(Tensor.scalar($1)) }),
            binary("maximum", "t:maximum(u) -> elementwise max", tensor: { try $0.maximum($1) }, scalar: { try $0.maximum(Tensor.scalar($1)) }),
            binary("eq", "t:eq(u) -> 1 where equal, else 0", tensor: { try $0.eq($1) }, scalar: { $0.eq($1) }),
            binary("ne", "t:ne(u) -> 1 where not equal", tensor: { try $0.ne($1) }, scalar: { $0.ne($1) }),
            binary("lt", "t:lt(u) -> 1 where t < u", tensor: { try $0.lt($1) }, scalar: { $0.lt($1) }),
            binary("le", "t:le(u) -> 1 where t <= u", tensor: { try $0.le($1) }, scalar: { $0.le($1) }),
            binary("gt", "t:gt(u) -> 1 where t > u", tensor: { try $0.gt($1) }, scalar: { $0.gt($1) }),
            binary("ge", "t:ge(u) -> 1 where t >= u", tensor: { try $0.ge($1) }, scalar: { $0.ge($1) }),
            unary("neg", "t:neg() or -t") { $0.neg() },
            unary("abs", "t:abs()") { $0.abs() },
            unary("exp", "t:exp()") { $0.exp() },
            unary("log", "t:log()") { $0.log() },
            unary("log1p", "t:log1p() -> log(1 + t)") { $0.log1p() },
            unary("sqrt", "t:sqrt()") { $0.sqrt() },
            unary("rsqrt", "t:rsqrt() -> 1 / sqrt(t)") { $0.rsqrt() },
            unary("square", "t:square()") { $0.square() },
            unary("tanh", "t:tanh()") { $0.tanh() },
            unary("sigmoid", "t:sigmoid()") { $0.sigmoid() },
            unary("relu", "t:relu()") { $0.relu() },
            unary("silu", "t:silu() -> t * sigmoid(t)") { $0.silu() },
            unary("sin", "t:sin()") { $0.sin() },
            unary("cos", "t:cos()") { $0.cos() },
            unary("sign", "t:sign()") { $0.sign() },
            unary("floor", "t:floor()") { $0.floor() },
            unary("round", "t:round()") { $0.round() },
            unary("tril", "t:tril() -> lower triangle of a matrix") { try $0.tril() },
            unary("triu", "t:triu() -> upper triangle of a matrix") { try $0.triu() },
            LuaMethod("gelu", "t:gelu([approximate=false]) -> GELU (exact erf form, or the tanh approximation)") { call in
                call.push(tensor: try call.tensor(1, "self").gelu(approximate: try call.optionalBoolean(2, "approximate", default: false)))
            },
            LuaMethod("clamp", "t:clamp(min, max) -> values limited to [min, max] (either may be nil)") { call in
                let t = try call.tensor(1, "self")
                let lo = call.isNoneOrNil(2) ? nil : Float(try call.number(2, "min"))
                let hi = call.isNoneOrNil(3) ? nil : Float(try call.number(3, "max"))
                return call.push(tensor: t.clamp(min: lo, max: hi))
            },
            // reductions
            reduction("sum", { $0.sum() }, { try $0.sum(dim: $1, keepdim: $2) }),
            reduction("mean", { $0.mean() }, { try $0.mean(dim: $1, keepdim: $2) }),
            reduction("logsumexp", { try $0.logsumexp() }, { try $0.logsumexp(dim: $1, keepdim: $2) }),
            unary("norm", "t:norm() -> Euclidean norm of all elements") { $0.norm() },
            LuaMethod("var", "t:var([dim [, unbiased=true [, keepdim]]]) -> variance") { call in
                let t = try call.tensor(1, "self")
                let unbiased = try call.optionalBoolean(3, "unbiased", default: true)
                guard let d = try call.optionalDim(2, for: try call.tensor(1, "self")) else { return call.push(tensor: t.variance(unbiased: unbiased)) }
                return call.push(tensor: try t.variance(dim: d, unbiased: unbiased, keepdim: try call.optionalBoolean(4, "keepdim", default: false)))
            },
            LuaMethod("std", "t:std([dim [, unbiased=true [, keepdim]]]) -> standard deviation") { call in
                let t = try call.tensor(1, "self")
                let unbiased = try call.optionalBoolean(3, "unbiased", default: true)
                guard let d = try call.optionalDim(2, for: try call.tensor(1, "self")) else { return call.push(tensor: t.std(unbiased: unbiased)) }
                return call.push(tensor: try t.std(dim: d, unbiased: unbiased, keepdim: try call.optionalBoolean(4, "keepdim", default: false)))
            },
            LuaMethod("max", "t:max() -> largest value; t:max(dim [, keepdim]) -> values, indices (0-based)") { call in
                let t = try call.tensor(1, "self")
                guard let d = try call.optionalDim(2, for: try call.tensor(1, "self")) else { return call.push(tensor: try t.max()) }
                return pushPair(call, try t.max(dim: d, keepdim: try call.optionalBoolean(3, "keepdim", default: false)))
            },
            LuaMethod("min", "t:min() -> smallest value; t:min(dim [, keepdim]) -> values, indices (0-based)") { call in
                let t = try call.tensor(1, "self")
                guard let d = try call.optionalDim(2, for: try call.tensor(1, "self")) else { return call.push(tensor: try t.min()) }
                return pushPair(call, try t.min(dim: d, keepdim: try call.optionalBoolean(3, "keepdim", default: false)))
            },
            LuaMethod("argmax", "t:argmax([dim [, keepdim]]) -> 0-based index of the largest value (int64)") { call in
                let t = try call.tensor(1, "self")
                guard let d = try call.optionalDim(2, for: try call.tensor(1, "self")) else { return call.push(tensor: try t.argmax()) }
                return call.push(tensor: try t.argmax(dim: d, keepdim: try call.optionalBoolean(3, "keepdim", default: false)))
            },
            LuaMethod("argmin", "t:argmin([dim [, keepdim]]) -> 0-based index of the smallest value (int64)") { call in
                let t = try call.tensor(1, "self")
                guard let d = try call.optionalDim(2, for: try call.tensor(1, "self")) else { return call.push(tensor: try t.argmin()) }
                return call.push(tensor: try t.argmin(dim: d, keepdim: try call.optionalBoolean(3, "keepdim", default: false)))
            },
            LuaMethod("softmax", "t:softmax([dim=-1]) -> exp(t) / sum(exp(t)) along dim") { call in
                call.push(tensor: try call.tensor(1, "self").softmax(dim: try call.optionalDim(2, for: try call.tensor(1, "self")) ?? -1))
            },
            LuaMethod("log_softmax", "t:log_softmax([dim=-1]) -> log of softmax, computed stably") { call in
                call.push(tensor: try call.tensor(1, "self").logSoftmax(dim: try call.optionalDim(2, for: try call.tensor(1, "self")) ?? -1))
            },
            LuaMethod("cumsum", "t:cumsum(dim) -> running sums along dim") { call in
                call.push(tensor: try call.tensor(1, "self").cumsum(dim: try call.dim(2, for: try call.tensor(1, "self"))))
            },
            LuaMethod("sort", "t:sort([dim=-1 [, descending=false]]) -> values, indices (0-based)") { call in
                pushPair(call, try call.tensor(1, "self").sort(dim: try call.optionalDim(2, for: try call.tensor(1, "self")) ?? -1,
                                                              descending: try call.optionalBoolean(3, "descending", default: false)))
            },
            LuaMethod("topk", "t:topk(k [, dim=-1 [, largest=true]]) -> values, indices (0-based)") { call in
                pushPair(call, try call.tensor(1, "self").topk(try call.integer(2, "k"), dim: try call.optionalDim(3, for: try call.tensor(1, "self")) ?? -1,
                                                              largest: try call.optionalBoolean(4, "largest", default: true)))
            },
            LuaMethod("kthvalue", "t:kthvalue(k [, dim=-1 [, keepdim]]) -> k-th smallest values, indices (0-based)") { call in
                pushPair(call, try call.tensor(1, "self").kthvalue(try call.integer(2, "k"), dim: try call.optionalDim(3, for: try call.tensor(1, "self")) ?? -1,
                                                                  keepdim: try call.optionalBoolean(4, "keepdim", default: false)))
            },
            LuaMethod("multinomial", "t:multinomial([n=1 [, opts]]) -> n samples (0-based) from rows of probabilities. opts: generator") { call in
                let opts = try call.options(3, allowed: ["generator"])
                let t = try call.tensor(1, "self")
                let n = try call.optionalInteger(2, "n", default: 1)
                let rows = t.ndim >= 2 ? t.count / max(1, t.shape.last ?? 1) : 1
                guard let total = checkedProduct([rows, max(n, 0)]) else { throw call.argumentError(2, "n", expected: "a sample count whose total fits in memory", got: "\(n)") }
                try call.checkElementCount(total, 2, "n", elementSize: 8)
                return call.push(tensor: try t.multinomial(numSamples: try call.optionalInteger(2, "n", default: 1),
                                                                                generator: try generatorOption(opts, call)))
            },
            // linear algebra
            LuaMethod("matmul", "t:matmul(u) -> matrix product (1-D to batched N-D)") { call in
                call.push(tensor: try call.tensor(1, "self").matmul(try call.tensor(2, "other")))
            },
            LuaMethod("mm", "t:mm(u) -> product of two matrices") { call in
                call.push(tensor: try call.tensor(1, "self").mm(try call.tensor(2, "other")))
            },
            LuaMethod("bmm", "t:bmm(u) -> batched product [B,n,k] x [B,k,m]") { call in
                call.push(tensor: try call.tensor(1, "self").bmm(try call.tensor(2, "other")))
            },
            LuaMethod("dot", "t:dot(u) -> inner product of two vectors") { call in
                call.push(tensor: try call.tensor(1, "self").dot(try call.tensor(2, "other")))
            },
            // indexing
            LuaMethod("index_select", "t:index_select(dim, ids) -> rows at 0-based int64 ids along dim") { call in
                call.push(tensor: try call.tensor(1, "self").indexSelect(dim: try call.dim(2, for: try call.tensor(1, "self")), index: try call.tensor(3, "index")))
            },
            LuaMethod("gather", "t:gather(dim, index) -> values at 0-based int64 index along dim") { call in
                call.push(tensor: try call.tensor(1, "self").gather(dim: try call.dim(2, for: try call.tensor(1, "self")), index: try call.tensor(3, "index")))
            },
            LuaMethod("scatter_add", "t:scatter_add(dim, index, src) -> copy of t with src added at 0-based index") { call in
                call.push(tensor: try call.tensor(1, "self").scatterAdd(dim: try call.dim(2, for: try call.tensor(1, "self")), index: try call.tensor(3, "index"),
                                                                        src: try call.tensor(4, "src")))
            },
            LuaMethod("masked_fill", "t:masked_fill(mask, value) -> value where mask ~= 0") { call in
                call.push(tensor: try call.tensor(1, "self").maskedFill(try call.tensor(2, "mask"), value: Float(try call.number(3, "value"))))
            },
            LuaMethod("dropout", "t:dropout(p [, training=true [, opts]]) -> zeroes elements with probability p, scales by 1/(1-p)") { call in
                let opts = try call.options(4, allowed: ["generator"])
                return call.push(tensor: try call.tensor(1, "self").dropout(p: Float(try call.number(2, "p")),
                                                                            training: try call.optionalBoolean(3, "training", default: true),
                                                                            generator: try generatorOption(opts, call)))
            },
            // in place: each returns self
            inPlace("add_", "t:add_(u [, alpha]) -> t, after t += alpha * u in place") { t, call in
                if lua_type(call.L, 2) == LUA_TNUMBER { _ = try t.add_(Float(lua_tonumberx(call.L, 2, nil))); return }
                _ = try t.add_(try call.tensorLike(2, "other"), alpha: Float(try call.optionalNumber(3, "alpha", default: 1)))
            },
            inPlace("sub_", "t:sub_(u) -> t, after t -= u in place") { t, call in
                if lua_type(call.L, 2) == LUA_TNUMBER { _ = try t.add_(-Float(lua_tonumberx(call.L, 2, nil))) } else { _ = try t.sub_(try call.tensorLike(2, "other")) }
            },
            inPlace("mul_", "t:mul_(u) -> t, after t *= u in place") { t, call in
                if lua_type(call.L, 2) == LUA_TNUMBER { _ = try t.mul_(Float(lua_tonumberx(call.L, 2, nil))) } else { _ = try t.mul_(try call.tensorLike(2, "other")) }
            },
            inPlace("div_", "t:div_(s) -> t, after t /= s in place") { t, call in
                _ = try t.div_(Float(try call.number(2, "divisor")))
            },
            inPlace("copy_", "t:copy_(u) -> t, after copying u's values (broadcast) into t") { t, call in
                _ = try t.copy_(try call.tensorLike(2, "src"))
            },
            inPlace("fill_", "t:fill_(value) -> t, after setting every element") { t, call in
                _ = try t.fill_(Float(try call.number(2, "value")))
            },
            inPlace("zero_", "t:zero_() -> t, after setting every element to 0") { t, _ in
                _ = try t.zero_()
            },
            inPlace("clamp_", "t:clamp_(min, max) -> t, clamped in place") { t, call in
                let lo = call.isNoneOrNil(2) ? nil : Float(try call.number(2, "min"))
                let hi = call.isNoneOrNil(3) ? nil : Float(try call.number(3, "max"))
                _ = try t.clamp_(min: lo, max: hi)
            },
            // autograd
            inPlace("requires_grad_", "t:requires_grad_([flag=true]) -> t, now tracking gradients (float32 leaves)") { t, call in
                _ = try t.setRequiresGrad(try call.optionalBoolean(2, "flag", default: true))
            },
            LuaMethod("backward", """
                t:backward([gradient [, opts]]) -> accumulates gradients into the leaves (gradient required for non-scalars).
                The graph is freed as it goes; opts: retain_graph (false) keeps it for a second backward
                """) { call in
                let t = try call.tensor(1, "self")
                let opts = try call.options(3, allowed: ["retain_graph"])
                try t.backward(gradient: call.isNoneOrNil(2) ? nil : try call.tensorLike(2, "gradient"),
                               retainGraph: try opts.boolean("retain_graph", default: false))
                return 0
            },
            unary("detach", "t:detach() -> same data, no autograd history") { $0.detach() },
            LuaMethod("zero_grad", "t:zero_grad() -- clears t.grad") { call in
                try call.tensor(1, "self").zeroGrad()
                return 0
            },
            LuaMethod("retain_grad", "t:retain_grad() -- keep .grad on a non-leaf after backward") { call in
                try call.tensor(1, "self").retainGrad()
                return 0
            },
        ]
        m.append(LuaMethod("grad_fn", "t:grad_fn() -> name of the op that produced t (nil for leaves)") { call in
            guard let name = try call.tensor(1, "self").gradFnName else { return call.pushNil() }
            return call.push(name)
        })
        return m
    }
}
