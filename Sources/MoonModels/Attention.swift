import Foundation
import MoonTensor

/// Multi-head attention with optional grouped-query attention (fewer key/value heads), causal or bidirectional.
/// Parameter names follow transformers: `q_proj`, `k_proj`, `v_proj`, `o_proj`.
public final class Attention: Module {
    public let dim: Int
    public let numHeads: Int
    public let numKVHeads: Int
    public let headDim: Int
    public let causal: Bool
    public let qProj: Linear, kProj: Linear, vProj: Linear, oProj: Linear

    /// `bias`: biases on the q/k/v projections; `outputBias` (default: `bias`) on the output projection.
    public init(dim: Int, numHeads: Int, numKVHeads: Int? = nil, headDim: Int? = nil, bias: Bool = false, outputBias: Bool? = nil,
                causal: Bool = true, std: Float = 0.02, generator: Generator = .default) throws {
        let kv = numKVHeads ?? numHeads
        let hd = headDim ?? (numHeads > 0 ? dim / numHeads : 0)
        guard numHeads > 0 else { throw ModelError.invalidConfig(field: "num_attention_heads", reason: "must be positive, got \(numHeads)") }
        guard kv > 0, numHeads % kv == 0 else {
            throw ModelError.invalidConfig(field: "num_key_value_heads", reason: "must be positive and divide num_attention_heads (\(numHeads)), got \(kv)")
        }
        guard hd > 0, hd % 2 == 0 else { throw ModelError.invalidConfig(field: "head_dim", reason: "must be a positive even number, got \(hd)") }
        self.dim = dim; self.numHeads = numHeads; self.numKVHeads = kv; self.headDim = hd; self.causal = causal
        qProj = Linear(dim, numHeads * hd, bias: bias, std: std, generator: generator)
        kProj = Linear(dim, kv * hd, bias: bias, std: std, generator: generator)
        vProj = Linear(dim, kv * hd, bias: bias, std: std, generator: generator)
        oProj = Linear(numHeads * hd, dim, bias: outputBias ?? bias, std: std, generator: generator)
        super.init()
        registerModule("q_proj", qProj); registerModule("k_proj", kProj)
        registerModule("v_proj", vProj); registerModule("o_proj", oProj)
    }

    /// `x`: `[B, T, dim]`. `rope`: tables for the T positions (nil: no rotary embedding). `mask`: additive mask
    /// broadcastable to `[B, H, T, T]` (0 where allowed, a large negative number where not), or nil for none.
    public func callAsFunction(_ x: Tensor, rope: RoPETables?, mask: Tensor?) throws -> Tensor {
        guard x.ndim == 3, x.shape[2] == dim else {
            throw ModelError.invalidArgument("attention: expected input [B, T, \(dim)], got \(shapeString(x.shape))")
        }
        let b = x.shape[0], t = x.shape[1], h = numHeads, kvh = numKVHeads, d = headDim
        var q = try qProj(x).reshape([b, t, h, d])
        var k = try kProj(x).reshape([b, t, kvh, d])
        let v0 = try vProj(x).reshape([b, t, kvh, d])
        let scale = 1 / Float(d).squareRoot()
        if let r = rope {
            q = try r.rope.apply(q, cos: r.cosScaled, sin: r.sinScaled, rotation: r.rotation)
            k = try r.rope.apply(k, cos: r.cos, sin: r.sin, rotation: r.rotation)
        } else {
            q = q.mul(scale)
        }
        if kvh != h {
            // Grouped-query attention without repeating K/V: the `rep` query heads of a group are stacked along the
            // query axis, so each group's K and V are read once (no copies, no gradient reduction over copies).
            // Head index = group · rep + r, as transformers' repeat_kv orders them.
            let rep = h / kvh
            let qg = try q.reshape([b, t, kvh, rep, d]).permute([0, 2, 3, 1, 4]).reshape([b, kvh, rep * t, d])
            let kt = try k.permute([0, 2, 3, 1])        // [B, G, d, T]
            let vg = try v0.permute([0, 2, 1, 3])       // [B, G, T, d]
            var scores = try qg.matmul(kt).reshape([b, kvh, rep, t, t])
            if let m = mask { scores = try scores.add(m.unsqueeze(dim: 1)) }
            let p = try scores.softmax(dim: -1).reshape([b, kvh, rep * t, t])
            let o = try p.matmul(vg).reshape([b, kvh, rep, t, d]).permute([0, 3, 1, 2, 4]).reshape([b, t, h * d])
            return try oProj(o)
        }
        let v = v0
        let qh = try q.permute([0, 2, 1, 3])            // [B, H, T, d]
        let kt = try k.permute([0, 2, 3, 1])            // [B, H, d, T]
        let vh = try v.permute([0, 2, 1, 3])            // [B, H, T, d]
        var scores = try qh.matmul(kt)                  // [B, H, T, T]
        if let m = mask { scores = try scores.add(m) }
        let p = try scores.softmax(dim: -1)
        let o = try p.matmul(vh).permute([0, 2, 1, 3]).reshape([b, t, h * d])
        return try oProj(o)
    }
}

/// Additive attention masks (0 allowed, -1e30 blocked).
public enum AttentionMask {
    public static let blocked: Float = -1e30

    /// `[B, 1, T, T]` mask: key j is visible to query i when `valid[b][j]` and (not causal or j <= i).
    /// A query row with no visible key (a padding query) sees itself so softmax stays finite.
    public static func make(valid: [[Bool]], causal: Bool) -> Tensor {
        let b = valid.count, t = valid.first?.count ?? 0
        return Tensor.make([b, 1, t, t]) { p in
            for r in 0..<b {
                for i in 0..<t {
                    let row = p + (r * t + i) * t
                    var any = false
                    for j in 0..<t {
                        let ok = j < valid[r].count && valid[r][j] && (!causal || j <= i)
                        row[j] = ok ? 0 : blocked
                        any = any || ok
                    }
                    if !any { row[i] = 0 }
                }
            }
        }
    }

    /// Causal-only mask `[1, 1, T, T]`.
    public static func causal(_ t: Int) -> Tensor {
        Tensor.make([1, 1, t, t]) { p in
            for i in 0..<t { for j in 0..<t where j > i { p[i * t + j] = blocked } }
        }
    }
}
