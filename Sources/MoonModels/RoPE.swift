import Foundation
import MoonTensor

/// Rotary position embedding as in Hugging Face Llama (`rotate_half` convention: the two halves of each head
/// are rotated as pairs (i, i + headDim/2)).
public struct RoPE: Sendable {
    public let headDim: Int
    public let theta: Float
    /// Inverse frequencies `1 / theta^(2i/headDim)`, computed in float32 as transformers does.
    public let invFreq: [Float]

    public init(headDim: Int, theta: Float) {
        self.headDim = headDim
        self.theta = theta
        let half = headDim / 2
        invFreq = (0..<half).map { i in 1 / Foundation.powf(theta, Float(2 * i) / Float(headDim)) }
    }

    /// cos and sin of the angle for `position` (length headDim, halves duplicated).
    @inline(__always)
    func angles(_ position: Int, cos c: UnsafeMutablePointer<Float>, sin s: UnsafeMutablePointer<Float>) {
        let half = headDim / 2
        for i in 0..<half {
            let a = Float(position) * invFreq[i]
            let cv = Float(Foundation.cos(Double(a))), sv = Float(Foundation.sin(Double(a)))
            c[i] = cv; c[i + half] = cv; s[i] = sv; s[i + half] = sv
        }
    }

    /// Tables for a batch of position rows: cos/sin of shape `[B, T, 1, headDim]`, multiplied by `scale`.
    /// Angles are computed once per distinct position and copied.
    public func tables(positions rawPositions: [[Int]], scale: Float = 1) -> (cos: Tensor, sin: Tensor) {
        let b = rawPositions.count, d = headDim
        let t = rawPositions.first?.count ?? 0
        // Ragged rows are padded/truncated to the first row's length; negative positions are clamped to 0.
        let positions = rawPositions.map { row in Array((row + [Int](repeating: 0, count: t)).prefix(t)).map { Swift.max($0, 0) } }
        let maxPos = positions.map { $0.max() ?? 0 }.max() ?? 0
        var cosRow = [Float](repeating: 0, count: (maxPos + 1) * d), sinRow = cosRow
        cosRow.withUnsafeMutableBufferPointer { cb in
            sinRow.withUnsafeMutableBufferPointer { sb in
                for p in 0...maxPos {
                    angles(p, cos: cb.baseAddress! + p * d, sin: sb.baseAddress! + p * d)
                    if scale != 1 { for k in 0..<d { cb[p * d + k] *= scale; sb[p * d + k] *= scale } }
                }
            }
        }
        let cosT = Tensor.make([b, t, 1, d]) { cp in
            cosRow.withUnsafeBufferPointer { src in
                for i in 0..<b { for j in 0..<t { (cp + (i * t + j) * d).update(from: src.baseAddress! + positions[i][j] * d, count: d) } }
            }
        }
        let sinT = Tensor.make([b, t, 1, d]) { sp in
            sinRow.withUnsafeBufferPointer { src in
                for i in 0..<b { for j in 0..<t { (sp + (i * t + j) * d).update(from: src.baseAddress! + positions[i][j] * d, count: d) } }
            }
        }
        return (cosT, sinT)
    }

    /// The matrix R with `x·R = rotate_half(x) = cat(-x[half...], x[..<half])`.
    public func rotationMatrix() -> Tensor {
        let d = headDim, h = d / 2
        return Tensor.make([d, d]) { r in
            for j in 0..<h { r[(j + h) * d + j] = -1 }
            for j in h..<d { r[(j - h) * d + j] = 1 }
        }
    }

    /// `x·cos + rotate_half(x)·sin` for `x` of shape `[B, T, H, headDim]` and tables `[B, T, 1, headDim]` (differentiable in x).
    public func apply(_ x: Tensor, cos: Tensor, sin: Tensor, rotation: Tensor) throws -> Tensor {
        try x.mul(cos).add(x.matmul(rotation).mul(sin))
    }

    /// In-place rotation of one head vector at `position` (no autograd), using precomputed cos/sin rows.
    @inline(__always)
    static func rotate(_ x: UnsafeMutablePointer<Float>, cos c: UnsafePointer<Float>, sin s: UnsafePointer<Float>, _ d: Int, scale: Float = 1) {
        let h = d / 2
        for i in 0..<h {
            let a = x[i], b = x[i + h]
            x[i] = (a * c[i] - b * s[i]) * scale
            x[i + h] = (b * c[i + h] + a * s[i + h]) * scale
        }
    }
}

/// Precomputed RoPE tables for one forward pass (shared by all layers).
public struct RoPETables {
    public let cos: Tensor, sin: Tensor
    /// cos/sin multiplied by the attention scale 1/sqrt(headDim) (applied to the queries).
    public let cosScaled: Tensor, sinScaled: Tensor
    public let rotation: Tensor
    public let rope: RoPE

    public init(rope: RoPE, positions: [[Int]], queryScale: Float) {
        self.rope = rope
        (cos, sin) = rope.tables(positions: positions)
        (cosScaled, sinScaled) = rope.tables(positions: positions, scale: queryScale)
        rotation = rope.rotationMatrix()
    }
}
