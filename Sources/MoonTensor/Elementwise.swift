import Foundation

@inline(__always)
func asFloat(_ t: Tensor) -> Tensor { t.dtype == .float32 ? t : t.to(.float32) }


extension Tensor {
    // MARK: binary ops (broadcasting, differentiable)

    /// Shared driver: float conversion, kernel, then recording.
    @inline(__always)
    private func binary(_ other: Tensor, _ op: String, _ f: (Float, Float) -> Float,
                        _ back: @escaping (Tensor, Tensor, Tensor, Tensor) throws -> [Tensor?]) throws -> Tensor {
        try binaryP(other, op, { try map2($0, $1, op, f) }, back)
    }

    /// `saveInputs`: whether the backward reads the input values (then in-place changes to them are detected).
    @inline(__always)
    private func binaryP(_ other: Tensor, _ op: String, saveInputs: Bool = true, _ kernel: (Tensor, Tensor) throws -> Tensor,
                         _ back: @escaping (Tensor, Tensor, Tensor, Tensor) throws -> [Tensor?]) throws -> Tensor {
        let a = asFloat(self), b = asFloat(other)
        let out = try kernel(a, b)
        if needsGrad(self, other) {
            let y = out.alias()
            out.record(GradNode(op, [self, other], saving: saveInputs ? [a, b] : []) { g in try back(g, a, b, y) })
        }
        return out
    }

    /// Elementwise `self + other` with broadcasting.
    public func add(_ other: Tensor) throws -> Tensor {
        if dtype == .int64 && other.dtype == .int64 { return try intBinary(other, "add") { $0 &+ $1 } }
        let ra = requiresGrad, rb = other.requiresGrad, sa = shape, sb = other.shape
        return try binaryP(other, "add", saveInputs: false, { try pmap2($0, $1, "add", AddF()) }) { g, _, _, _ in
            [ra ? try g.sumTo(sa) : nil, rb ? try g.sumTo(sb) : nil]
        }
    }

    /// Elementwise `self - other` with broadcasting.
    public func sub(_ other: Tensor) throws -> Tensor {
        if dtype == .int64 && other.dtype == .int64 { return try intBinary(other, "sub") { $0 &- $1 } }
        let sa = shape, sb = other.shape
        return try binaryP(other, "sub", saveInputs: false, { try pmap2($0, $1, "sub", SubF()) }) { g, _, _, _ in
            [try g.sumTo(sa), try map1(g) { -$0 }.sumTo(sb)]
        }
    }

    /// Elementwise `self * other` with broadcasting.
    public func mul(_ other: Tensor) throws -> Tensor {
        if dtype == .int64 && other.dtype == .int64 { return try intBinary(other, "mul") { $0 &* $1 } }
        let ra = requiresGrad, rb = other.requiresGrad
        return try binaryP(other, "mul", { try pmap2($0, $1, "mul", MulF()) }) { g, a, b, _ in
            [ra ? try pmap2(g, b, "mul", MulF()).sumTo(a.shape) : nil,
             rb ? try pmap2(g, a, "mul", MulF()).sumTo(b.shape) : nil]
        }
    }

    /// Elementwise `self / other` with broadcasting (true division).
    public func div(_ other: Tensor) throws -> Tensor {
        let ra = requiresGrad, rb = other.requiresGrad
        return try binaryP(other, "div", { try pmap2($0, $1, "div", DivF()) }) { g, a, b, y in
            [ra ? try map2(g, b, "div") { $0 / $1 }.sumTo(a.shape) : nil,
             rb ? try map2(try map2(g, y, "div") { -$0 * $1 }, b, "div") { $0 / $1 }.sumTo(b.shape) : nil]
        }
    }

    /// Elementwise `self ** exponent` with broadcasting.
    public func pow(_ exponent: Tensor) throws -> Tensor {
        let ra = requiresGrad, rb = exponent.requiresGrad
        return try binary(exponent, "pow", { Foundation.powf($0, $1) }) { g, a, b, y in
            [ra ? try map2(g, try map2(a, b, "pow") { $1 == 0 ? 0 : $1 * Foundation.powf($0, $1 - 1) }, "pow") { $0 * $1 }.sumTo(a.shape) : nil,
             rb ? try map2(g, try map2(y, a, "pow") { $1 > 0 ? $0 * Foundation.logf($1) : 0 }, "pow") { $0 * $1 }.sumTo(b.shape) : nil]
        }
    }

    /// Elementwise minimum with broadcasting (gradient goes to `self` on ties).
    public func minimum(_ other: Tensor) throws -> Tensor {
        try binary(other, "minimum", { $0 <= $1 || $0.isNaN ? $0 : $1 }) { g, a, b, _ in
            let mask = try map2(a, b, "minimum") { $0 <= $1 || $0.isNaN ? 1 : 0 }
            return [try map2(g, mask, "minimum") { $0 * $1 }.sumTo(a.shape),
                    try map2(g, mask, "minimum") { $0 * (1 - $1) }.sumTo(b.shape)]
        }
    }

    /// Elementwise maximum with broadcasting (gradient goes to `self` on ties).
    public func maximum(_ other: Tensor) throws -> Tensor {
        try binary(other, "maximum", { $0 >= $1 || $0.isNaN ? $0 : $1 }) { g, a, b, _ in
            let mask = try map2(a, b, "maximum") { $0 >= $1 || $0.isNaN ? 1 : 0 }
            return [try map2(g, mask, "maximum") { $0 * $1 }.sumTo(a.shape),
                    try map2(g, mask, "maximum") { $0 * (1 - $1) }.sumTo(b.shape)]
        }
    }

    /// int64 ⊕ int64 → int64 (broadcasting), no autograd.
    private func intBinary(_ other: Tensor, _ op: String, _ f: (Int64, Int64) -> Int64) throws -> Tensor {
        let shape = try broadcastShapes(self.shape, other.shape, op)
        let out = Tensor.empty(shape, dtype: .int64)
        let sa = broadcastStrides(self, to: shape), sb = broadcastStrides(other, to: shape)
        let pa = storage.ints, pb = other.storage.ints, o = out.iptr
        var k = 0
        forEachRow2(shape, sa, offset, sb, other.offset) { ia, da, ib, db, n in
            for j in 0..<n { o[k + j] = f(pa[ia + j * da], pb[ib + j * db]) }
            k += n
        }
        return out
    }

    // MARK: scalar variants

    @inline(__always)
    private func unary(_ op: String, _ f: (Float) -> Float, saveInput: Bool = true, saveOutput: Bool = false,
                       _ back: @escaping (Tensor, Tensor, Tensor) throws -> Tensor) -> Tensor {
        unaryP(op, { map1($0, f) }, saveInput: saveInput, saveOutput: saveOutput, back)
    }

    /// `saveInput`/`saveOutput`: which values the backward reads (guarded against later in-place changes).
    @inline(__always)
    private func unaryP(_ op: String, _ kernel: (Tensor) -> Tensor, saveInput: Bool = true, saveOutput: Bool = false,
                        _ back: @escaping (Tensor, Tensor, Tensor) throws -> Tensor) -> Tensor {
        let x = asFloat(self)
        let out = kernel(x)
        if needsGrad(self) {
            let y = out.alias()
            var saved: [Tensor] = []
            if saveInput { saved.append(x) }
            if saveOutput { saved.append(y) }
            out.record(GradNode(op, [self], saving: saved) { g in [try back(g, x, y)] })
        }
        return out
    }

    /// `self + s`.
    public func add(_ s: Float) -> Tensor {
        if dtype == .int64 && s.isFinite && s == s.rounded() {
            let out = Tensor.empty(shape, dtype: .int64); let c = contiguous(); let v = saturatingInt64(s)
            for i in 0..<count { out.iptr[i] = c.iptr[i] &+ v }
            return out
        }
        return unaryP("add", { pmap1($0, AddS(s: s)) }, saveInput: false) { g, _, _ in g }
    }
    /// `self - s`.
    public func sub(_ s: Float) -> Tensor { add(-s) }
    /// `s - self`.
    public func rsub(_ s: Float) -> Tensor { unary("rsub", { s - $0 }, saveInput: false) { g, _, _ in map1(g) { -$0 } } }
    /// `self * s`.
    public func mul(_ s: Float) -> Tensor { unaryP("mul", { pmap1($0, MulS(s: s)) }, saveInput: false) { g, _, _ in pmap1(g, MulS(s: s)) } }
    /// `self / s`.
    public func div(_ s: Float) -> Tensor { unary("div", { $0 / s }, saveInput: false) { g, _, _ in map1(g) { $0 / s } } }
    /// `s / self`.
    public func rdiv(_ s: Float) -> Tensor {
        unary("rdiv", { s / $0 }) { g, x, _ in try map2(g, x, "rdiv") { -$0 * s / ($1 * $1) } }
    }
    /// `self ** p`.
    public func pow(_ p: Float) -> Tensor {
        if p == 2 { return unary("pow", { $0 * $0 }) { g, x, _ in try map2(g, x, "pow") { 2 * $0 * $1 } } }
        return unary("pow", { Foundation.powf($0, p) }) { g, x, _ in
            try map2(g, x, "pow") { p == 0 ? 0 : $0 * p * Foundation.powf($1, p - 1) }
        }
    }

    // MARK: unary math

    /// `-self`.
    public func neg() -> Tensor { unary("neg", { -$0 }, saveInput: false) { g, _, _ in map1(g) { -$0 } } }
    /// `|self|` (gradient 0 at 0).
    public func abs() -> Tensor {
        unary("abs", { Swift.abs($0) }) { g, x, _ in try map2(g, x, "abs") { $1 > 0 ? $0 : ($1 < 0 ? -$0 : 0) } }
    }
    /// `self * self`.
    public func square() -> Tensor { pow(2) }
    /// `e ** self`.
    public func exp() -> Tensor {
        unaryP("exp", { pmap1($0, ExpF()) }, saveInput: false, saveOutput: true) { g, _, y in try pmap2(g, y, "exp", MulF()) }
    }
    /// Natural logarithm.
    public func log() -> Tensor { unary("log", { Foundation.logf($0) }) { g, x, _ in try map2(g, x, "log") { $0 / $1 } } }
    /// `log(1 + self)`, accurate near 0.
    public func log1p() -> Tensor {
        unary("log1p", { Foundation.log1pf($0) }) { g, x, _ in try map2(g, x, "log1p") { $0 / (1 + $1) } }
    }
    /// Square root.
    public func sqrt() -> Tensor {
        unary("sqrt", { $0.squareRoot() }, saveInput: false, saveOutput: true) { g, _, y in try map2(g, y, "sqrt") { $0 * 0.5 / $1 } }
    }
    /// `1 / sqrt(self)`.
    public func rsqrt() -> Tensor {
        unary("rsqrt", { 1 / $0.squareRoot() }, saveInput: false, saveOutput: true) { g, _, y in try map2(g, y, "rsqrt") { -0.5 * $0 * $1 * $1 * $1 } }
    }
    /// `1 / self`.
    public func reciprocal() -> Tensor { rdiv(1) }
    /// Sine.
    public func sin() -> Tensor { unary("sin", { Foundation.sinf($0) }) { g, x, _ in try map2(g, x, "sin") { $0 * Foundation.cosf($1) } } }
    /// Cosine.
    public func cos() -> Tensor { unary("cos", { Foundation.cosf($0) }) { g, x, _ in try map2(g, x, "cos") { -$0 * Foundation.sinf($1) } } }
    /// Hyperbolic tangent.
    public func tanh() -> Tensor {
        unaryP("tanh", { pmap1($0, TanhF()) }, saveInput: false, saveOutput: true) { g, _, y in try map2(g, y, "tanh") { $0 * (1 - $1 * $1) } }
    }
    /// Logistic sigmoid `1 / (1 + e^-x)`.
    public func sigmoid() -> Tensor {
        unaryP("sigmoid", { pmap1($0, SigmoidF()) }, saveInput: false, saveOutput: true) { g, _, y in
            try map2(g, y, "sigmoid") { $0 * $1 * (1 - $1) }
        }
    }
    /// `max(x, 0)`.
    public func relu() -> Tensor {
        unaryP("relu", { pmap1($0, ReluF()) }) { g, x, _ in try map2(g, x, "relu") { $1 > 0 ? $0 : 0 } }
    }
    /// GELU; the erf form by default as in PyTorch, or the tanh approximation (`approximate: true`).
    /// erf and tanh are float32 rational approximations accurate to a few ulp (see FastMath.swift).
    public func gelu(approximate: Bool = false) -> Tensor {
        if approximate {
            let k: Float = 0.7978845608028654, c: Float = 0.044715
            return unaryP("gelu", { pmap1($0, GeluTanhF()) }) { g, x, _ in
                try map2(g, x, "gelu") { g, x in
                    let t = fastTanh(k * (x + c * x * x * x))
                    return g * (0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x))
                }
            }
        }
        return unaryP("gelu", { pmap1($0, GeluF()) }) { g, x, _ in
            try map2(g, x, "gelu") { g, x in
                g * (0.5 * (1 + fastErf(x * 0.7071067811865476)) + x * 0.3989422804014327 * Foundation.expf(-0.5 * x * x))
            }
        }
    }
    /// SiLU / swish: `x * sigmoid(x)`.
    public func silu() -> Tensor {
        unaryP("silu", { pmap1($0, SiluF()) }) { g, x, _ in
            try map2(g, x, "silu") { g, x in
                let s = 1 / (1 + Foundation.expf(-x))
                return g * s * (1 + x * (1 - s))
            }
        }
    }
    /// Clamps into `[min, max]` (either bound optional); gradient 1 inside, 0 outside.
    public func clamp(min lo: Float? = nil, max hi: Float? = nil) -> Tensor {
        let l = lo ?? -Float.infinity, h = hi ?? Float.infinity
        return unary("clamp", { Swift.min(Swift.max($0, l), h) }) { g, x, _ in
            try map2(g, x, "clamp") { $1 >= l && $1 <= h ? $0 : 0 }
        }
    }
    /// Sign: -1, 0 or 1 (not differentiable: gradient 0).
    public func sign() -> Tensor { map1(asFloat(self)) { $0 > 0 ? 1 : ($0 < 0 ? -1 : 0) } }
    /// Rounds down (no gradient).
    public func floor() -> Tensor { map1(asFloat(self)) { $0.rounded(.down) } }
    /// Rounds to nearest (no gradient).
    public func round() -> Tensor { map1(asFloat(self)) { $0.rounded(.toNearestOrEven) } }

    // MARK: comparisons (float32 0/1 masks, no gradient)

    private func compare(_ other: Tensor, _ op: String, _ f: @escaping (Float, Float) -> Bool) throws -> Tensor {
        try map2(asFloat(self), asFloat(other), op) { f($0, $1) ? 1 : 0 }
    }
    /// 1 where `self == other`, else 0 (float32, broadcasting).
    public func eq(_ other: Tensor) throws -> Tensor { try compare(other, "eq") { $0 == $1 } }
    /// 1 where `self != other`.
    public func ne(_ other: Tensor) throws -> Tensor { try compare(other, "ne") { $0 != $1 } }
    /// 1 where `self < other`.
    public func lt(_ other: Tensor) throws -> Tensor { try compare(other, "lt") { $0 < $1 } }
    /// 1 where `self <= other`.
    public func le(_ other: Tensor) throws -> Tensor { try compare(other, "le") { $0 <= $1 } }
    /// 1 where `self > other`.
    public func gt(_ other: Tensor) throws -> Tensor { try compare(other, "gt") { $0 > $1 } }
    /// 1 where `self >= other`.
    public func ge(_ other: Tensor) throws -> Tensor { try compare(other, "ge") { $0 >= $1 } }
    /// 1 where `self == s`.
    public func eq(_ s: Float) -> Tensor { map1(asFloat(self)) { $0 == s ? 1 : 0 } }
    /// 1 where `self != s`.
    public func ne(_ s: Float) -> Tensor { map1(asFloat(self)) { $0 != s ? 1 : 0 } }
    /// 1 where `self < s`.
    public func lt(_ s: Float) -> Tensor { map1(asFloat(self)) { $0 < s ? 1 : 0 } }
    /// 1 where `self <= s`.
    public func le(_ s: Float) -> Tensor { map1(asFloat(self)) { $0 <= s ? 1 : 0 } }
    /// 1 where `self > s`.
    public func gt(_ s: Float) -> Tensor { map1(asFloat(self)) { $0 > s ? 1 : 0 } }
    /// 1 where `self >= s`.
    public func ge(_ s: Float) -> Tensor { map1(asFloat(self)) { $0 >= s ? 1 : 0 } }

    /// True when shapes match and all elements differ by at most `atol + rtol * |other|`.
    public func allClose(_ other: Tensor, rtol: Float = 1e-5, atol: Float = 1e-8) -> Bool {
        guard shape == other.shape else { return false }
        let a = toArray(), b = other.toArray()
        for i in 0..<a.count where !(Swift.abs(a[i] - b[i]) <= atol + rtol * Swift.abs(b[i])) {
            if a[i].isNaN && b[i].isNaN { continue }
            return false
        }
        return true
    }

    // MARK: in-place ops (not recorded by autograd)

    func checkWritable(_ op: String, source: Tensor? = nil) throws {
        if GradMode.isEnabled {
            if requiresGrad {
                if isLeaf {
                    throw TensorError(op, "a leaf tensor that requires grad cannot be modified in place; wrap the update in Tensor.noGrad")
                }
                throw TensorError(op, "in-place modification of a tensor that is part of the autograd graph is not supported; use the out-of-place op")
            }
            if let s = source, s.requiresGrad {
                throw TensorError(op, arg: "#1", "the source requires grad but in-place ops are not recorded by autograd; use the out-of-place op or Tensor.noGrad")
            }
        }
        for (d, s) in zip(shape, strides) where s == 0 && d > 1 {
            throw TensorError(op, "cannot write in place to an expanded tensor (several elements share one memory location); call contiguous() first")
        }
    }

    private func floatOnly(_ op: String) throws {
        if dtype != .float32 { throw TensorError(op, "expected a float32 tensor, got \(dtype)") }
    }

    /// `self += other * alpha` in place (broadcasting `other` to self's shape). Returns self.
    @discardableResult
    public func add_(_ other: Tensor, alpha: Float = 1) throws -> Tensor {
        try floatOnly("add_"); try checkWritable("add_", source: other)
        if alpha == 1 { try inplace2(self, asFloat(other), "add_") { $0 + $1 } } else {
            try inplace2(self, asFloat(other), "add_") { $0 + alpha * $1 }
        }
        storage.bump()
        return self
    }
    /// `self += s` in place.
    @discardableResult
    public func add_(_ s: Float) throws -> Tensor {
        try floatOnly("add_"); try checkWritable("add_")
        inplace1(self) { $0 + s }; storage.bump(); return self
    }
    /// `self -= other` in place.
    @discardableResult
    public func sub_(_ other: Tensor) throws -> Tensor { try add_(other, alpha: -1) }
    /// `self *= other` in place (broadcasting).
    @discardableResult
    public func mul_(_ other: Tensor) throws -> Tensor {
        try floatOnly("mul_"); try checkWritable("mul_", source: other)
        try inplace2(self, asFloat(other), "mul_") { $0 * $1 }; storage.bump(); return self
    }
    /// `self *= s` in place.
    @discardableResult
    public func mul_(_ s: Float) throws -> Tensor {
        try floatOnly("mul_"); try checkWritable("mul_")
        inplace1(self) { $0 * s }; storage.bump(); return self
    }
    /// `self /= s` in place.
    @discardableResult
    public func div_(_ s: Float) throws -> Tensor { try mul_(1 / s) }
    /// Clamps in place.
    @discardableResult
    public func clamp_(min lo: Float? = nil, max hi: Float? = nil) throws -> Tensor {
        try floatOnly("clamp_"); try checkWritable("clamp_")
        let l = lo ?? -Float.infinity, h = hi ?? Float.infinity
        inplace1(self) { Swift.min(Swift.max($0, l), h) }; storage.bump(); return self
    }
    /// Copies `src` (broadcast to self's shape, converted to self's dtype) into self.
    @discardableResult
    public func copy_(_ src: Tensor) throws -> Tensor {
        try checkWritable("copy_", source: src)
        let s = src.to(dtype)
        if dtype == .float32 {
            try inplace2(self, s, "copy_") { _, b in b }
        } else {
            if s.shape != shape {
                let bs = try? broadcastShapes(shape, s.shape, "copy_")
                if bs != shape { throw TensorError("copy_", arg: "#1", "shape \(fmt(s.shape)) cannot be broadcast to \(fmt(shape))") }
            }
            let so = broadcastStrides(s, to: shape)
            let pa = storage.ints, pb = s.storage.ints
            forEachRow2(shape, strides, offset, so, s.offset) { ia, da, ib, db, n in
                for j in 0..<n { pa[ia + j * da] = pb[ib + j * db] }
            }
        }
        storage.bump()
        return self
    }
    /// Sets every element to `value`.
    @discardableResult
    public func fill_(_ value: Float) throws -> Tensor { try fill(value, op: "fill_") }

    private func fill(_ value: Float, op: String) throws -> Tensor {
        try checkWritable(op)
        if dtype == .float32 { inplace1(self) { _ in value } } else {
            let v = saturatingInt64(value), base = storage.ints
            forEachRow(shape, strides, offset) { st, s, n in for j in 0..<n { base[st + j * s] = v } }
        }
        storage.bump()
        return self
    }
    /// Sets every element to zero.
    @discardableResult
    public func zero_() throws -> Tensor { try fill(0, op: "zero_") }
}

// MARK: operators

extension Tensor {
    public static func + (a: Tensor, b: Tensor) throws -> Tensor { try a.add(b) }
    public static func - (a: Tensor, b: Tensor) throws -> Tensor { try a.sub(b) }
    public static func * (a: Tensor, b: Tensor) throws -> Tensor { try a.mul(b) }
    public static func / (a: Tensor, b: Tensor) throws -> Tensor { try a.div(b) }
    public static func + (a: Tensor, s: Float) -> Tensor { a.add(s) }
    public static func - (a: Tensor, s: Float) -> Tensor { a.sub(s) }
    public static func * (a: Tensor, s: Float) -> Tensor { a.mul(s) }
    public static func / (a: Tensor, s: Float) -> Tensor { a.div(s) }
    public static func + (s: Float, a: Tensor) -> Tensor { a.add(s) }
    public static func - (s: Float, a: Tensor) -> Tensor { a.rsub(s) }
    public static func * (s: Float, a: Tensor) -> Tensor { a.mul(s) }
    public static func / (s: Float, a: Tensor) -> Tensor { a.rdiv(s) }
    public static prefix func - (a: Tensor) -> Tensor { a.neg() }
}
