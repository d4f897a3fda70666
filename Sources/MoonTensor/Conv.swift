import Foundation
import CBLAS

/// 2-D convolution (PyTorch `conv2d` semantics: cross-correlation, NCHW, weight `[out, in, kh, kw]`) by im2col and
/// one OpenBLAS sgemm per image; the backward pass is the transposed products and col2im.
extension Tensor {
    /// `input [B, C, H, W]` ⋆ `weight [O, C, kh, kw]` (+ `bias [O]`) → `[B, O, Ho, Wo]` with
    /// `Ho = (H + 2·padding − kh) / stride + 1` (zero padding). Differentiable in all three tensors.
    public static func conv2d(_ input: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0) throws -> Tensor {
        guard input.dtype == .float32, input.ndim == 4 else {
            throw TensorError("conv2d", arg: "#1", "expected a float32 tensor [B, C, H, W], got \(input.dtype) \(fmt(input.shape))")
        }
        let b = input.shape[0], c = input.shape[1], h = input.shape[2], w = input.shape[3]
        guard weight.dtype == .float32, weight.ndim == 4, weight.shape[1] == c else {
            throw TensorError("conv2d", arg: "'weight'", "expected a float32 tensor [*, \(c), kh, kw], got \(weight.dtype) \(fmt(weight.shape))")
        }
        let o = weight.shape[0], kh = weight.shape[2], kw = weight.shape[3]
        if let bb = bias, bb.dtype != .float32 || bb.shape != [o] {
            throw TensorError("conv2d", arg: "'bias'", "expected a float32 tensor [\(o)], got \(bb.dtype) \(fmt(bb.shape))")
        }
        guard stride >= 1 && stride <= 1 << 16 else { throw TensorError("conv2d", arg: "'stride'", "expected 1...65536, got \(stride)") }
        guard padding >= 0 && padding <= 1 << 16 else { throw TensorError("conv2d", arg: "'padding'", "expected 0...65536, got \(padding)") }
        guard kh >= 1, kw >= 1, h + 2 * padding >= kh, w + 2 * padding >= kw else {
            throw TensorError("conv2d", arg: "'weight'", "kernel \(kh)x\(kw) does not fit the padded input \(h + 2 * padding)x\(w + 2 * padding)")
        }
        let geo = ConvGeometry(c: c, h: h, w: w, kh: kh, kw: kw, stride: stride, padding: padding)
        let k = geo.colRows, n = geo.colCols
        try checkShape([k, n], op: "conv2d", arg: "#1")
        try checkShape([b, o, n], op: "conv2d", arg: "#1")
        let x = input.contiguous(), wt = weight.contiguous()
        let out = Tensor.empty([b, o, geo.ho, geo.wo])
        let col = Tensor.empty([k, n])
        let bc = bias?.contiguous()
        for i in 0..<b {
            geo.im2col(x.fptr + i * c * h * w, col.fptr)
            let y = out.fptr + i * o * n
            if let bv = bc {
                for r in 0..<o { (y + r * n).initialize(repeating: bv.fptr[r], count: n) }
            }
            if o > 0 && n > 0 && k > 0 {
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(n), Int32(k), 1,
                            wt.fptr, Int32(k), col.fptr, Int32(n), bc == nil ? 0 : 1, y, Int32(n))
            } else if bc == nil {
                y.initialize(repeating: 0, count: o * n)
            }
        }
        let rb = bias?.requiresGrad ?? false
        if GradMode.isEnabled && (input.requiresGrad || weight.requiresGrad || rb) {
            let rx = input.requiresGrad, rw = weight.requiresGrad
            var inputs = [input, weight]
            if let bb = bias { inputs.append(bb) }
            out.record(GradNode("conv2d", inputs, saving: [x, wt]) { g0 in
                let g = g0.contiguous()
                let gx: Tensor? = rx ? Tensor.empty([b, c, h, w], zeroed: true) : nil
                let gw: Tensor? = rw ? Tensor.empty([o, c, kh, kw], zeroed: true) : nil
                let col = Tensor.empty([k, n])
                for i in 0..<b {
                    let gi = g.fptr + i * o * n
                    if let gw = gw, k > 0 && n > 0 && o > 0 {
                        geo.im2col(x.fptr + i * c * h * w, col.fptr)
                        // dW += g_i [O, N] · col_iᵀ [N, K]
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(o), Int32(k), Int32(n), 1,
                                    gi, Int32(n), col.fptr, Int32(n), 1, gw.fptr, Int32(k))
                    }
                    if let gx = gx, k > 0 && n > 0 && o > 0 {
                        // dcol = Wᵀ [K, O] · g_i [O, N], scattered back onto the image
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(k), Int32(n), Int32(o), 1,
                                    wt.fptr, Int32(k), gi, Int32(n), 0, col.fptr, Int32(n))
                        geo.col2im(col.fptr, gx.fptr + i * c * h * w)
                    }
                }
                var result: [Tensor?] = [gx, gw]
                if bias != nil {
                    if rb {
                        let gb = Tensor.empty([o], zeroed: true)
                        for i in 0..<b {
                            for r in 0..<o {
                                let row = g.fptr + (i * o + r) * n
                                var s: Float = 0
                                for j in 0..<n { s += row[j] }
                                gb.fptr[r] += s
                            }
                        }
                        result.append(gb)
                    } else {
                        result.append(nil)
                    }
                }
                return result
            })
        }
        return out
    }
}

/// The index arithmetic of one image's im2col: rows `(channel, ky, kx)`, columns `(oy, ox)`.
struct ConvGeometry {
    let c: Int, h: Int, w: Int, kh: Int, kw: Int, stride: Int, padding: Int
    let ho: Int, wo: Int

    init(c: Int, h: Int, w: Int, kh: Int, kw: Int, stride: Int, padding: Int) {
        self.c = c; self.h = h; self.w = w; self.kh = kh; self.kw = kw; self.stride = stride; self.padding = padding
        ho = (h + 2 * padding - kh) / stride + 1
        wo = (w + 2 * padding - kw) / stride + 1
    }

    var colRows: Int { c * kh * kw }
    var colCols: Int { ho * wo }

    /// The output columns `lo..<hi` of kernel offset `d` along an axis of `size` pixels: those whose input
    /// coordinate `o·stride − padding + d` falls inside the image.
    @inline(__always)
    func validRange(_ d: Int, size: Int, outSize: Int) -> Range<Int> {
        // o·s − p + d ≥ 0  ⇔  o ≥ ceil((p − d) / s);  o·s − p + d ≤ size − 1  ⇔  o ≤ floor((size − 1 + p − d) / s)
        let num = padding - d
        let lo = num <= 0 ? 0 : (num + stride - 1) / stride
        let top = size - 1 + padding - d
        let hi = top < 0 ? 0 : Swift.min(outSize, top / stride + 1)
        return lo < hi ? lo..<hi : 0..<0
    }

    /// `image [C, H, W]` → `col [C·kh·kw, Ho·Wo]` (zeros where the kernel reads the padding).
    func im2col(_ image: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>) {
        let n = ho * wo
        for ch in 0..<c {
            for ky in 0..<kh {
                let ys = validRange(ky, size: h, outSize: ho)
                for kx in 0..<kw {
                    let xs = validRange(kx, size: w, outSize: wo)
                    let row = col + ((ch * kh + ky) * kw + kx) * n
                    if ys.count < ho || xs.count < wo { row.initialize(repeating: 0, count: n) }
                    for oy in ys {
                        let base = (ch * h + oy * stride - padding + ky) * w - padding + kx
                        let dst = row + oy * wo
                        if stride == 1 {
                            (dst + xs.lowerBound).update(from: image + (base + xs.lowerBound), count: xs.count)
                        } else {
                            for ox in xs { dst[ox] = image[base + ox * stride] }
                        }
                    }
                }
            }
        }
    }

    /// Adds `col [C·kh·kw, Ho·Wo]` back onto `image [C, H, W]` (the adjoint of `im2col`).
    func col2im(_ col: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>) {
        let n = ho * wo
        for ch in 0..<c {
            for ky in 0..<kh {
                let ys = validRange(ky, size: h, outSize: ho)
                for kx in 0..<kw {
                    let xs = validRange(kx, size: w, outSize: wo)
                    let row = col + ((ch * kh + ky) * kw + kx) * n
                    for oy in ys {
                        let base = (ch * h + oy * stride - padding + ky) * w - padding + kx
                        let src = row + oy * wo
                        for ox in xs { image[base + ox * stride] += src[ox] }
                    }
                }
            }
        }
    }
}
