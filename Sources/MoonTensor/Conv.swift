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
        // one im2col of the whole batch, [K, B·N] (images side by side), and one sgemm: the products are large and
        // OpenBLAS threads them; the im2col itself runs one image per task
        try checkShape([k, b, n], op: "conv2d", arg: "#1")
        let col = Tensor.empty([k, b * n])
        geo.im2colBatch(x.fptr, col.fptr, batch: b)
        let prod = Tensor.empty([o, b * n], zeroed: k == 0)
        if o > 0 && b * n > 0 && k > 0 {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(o), Int32(b * n), Int32(k), 1,
                        wt.fptr, Int32(Swift.max(k, 1)), col.fptr, Int32(b * n), 0, prod.fptr, Int32(b * n))
        }
        // [O, B, N] → [B, O, N], plus the bias
        let out = Tensor.empty([b, o, geo.ho, geo.wo])
        let bc = bias?.contiguous()
        parallelFor(b, parts: Swift.min(b, Parallel.threadCount)) { _, lo, hi in
            for i in lo..<hi {
                for r in 0..<o {
                    let dst = out.fptr + (i * o + r) * n, src = prod.fptr + r * b * n + i * n
                    if let bv = bc {
                        let v = bv.fptr[r]
                        for j in 0..<n { dst[j] = src[j] + v }
                    } else {
                        dst.update(from: src, count: n)
                    }
                }
            }
        }
        let rb = bias?.requiresGrad ?? false
        if GradMode.isEnabled && (input.requiresGrad || weight.requiresGrad || rb) {
            let rx = input.requiresGrad, rw = weight.requiresGrad
            var inputs = [input, weight]
            if let bb = bias { inputs.append(bb) }
            out.record(GradNode("conv2d", inputs, saving: [x, wt]) { g0 in
                let g = g0.contiguous()
                // g as [O, B·N]
                let gt = Tensor.empty([o, b * n])
                parallelFor(o, parts: Swift.min(o, Parallel.threadCount)) { _, lo, hi in
                    for r in lo..<hi { for i in 0..<b { (gt.fptr + r * b * n + i * n).update(from: g.fptr + (i * o + r) * n, count: n) } }
                }
                var gw: Tensor? = nil, gx: Tensor? = nil
                if rw {
                    let dw = Tensor.empty([o, c, kh, kw], zeroed: true)
                    if k > 0 && b * n > 0 && o > 0 {
                        let col = Tensor.empty([k, b * n])
                        geo.im2colBatch(x.fptr, col.fptr, batch: b)
                        // dW = g [O, BN] · colᵀ [BN, K]
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(o), Int32(k), Int32(b * n), 1,
                                    gt.fptr, Int32(b * n), col.fptr, Int32(b * n), 0, dw.fptr, Int32(k))
                    }
                    gw = dw
                }
                if rx {
                    let dx = Tensor.empty([b, c, h, w], zeroed: true)
                    if k > 0 && b * n > 0 && o > 0 {
                        // dcol = Wᵀ [K, O] · g [O, BN], scattered back onto each image
                        let dcol = Tensor.empty([k, b * n])
                        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(k), Int32(b * n), Int32(o), 1,
                                    wt.fptr, Int32(k), gt.fptr, Int32(b * n), 0, dcol.fptr, Int32(b * n))
                        geo.col2imBatch(dcol.fptr, dx.fptr, batch: b)
                    }
                    gx = dx
                }
                var result: [Tensor?] = [gx, gw]
                if bias != nil {
                    if rb {
                        let gb = Tensor.empty([o])
                        for r in 0..<o {
                            let row = gt.fptr + r * b * n
                            var s: Float = 0
                            for j in 0..<(b * n) { s += row[j] }
                            gb.fptr[r] = s
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

    /// `images [B, C, H, W]` → `col [C·kh·kw, B·Ho·Wo]` (image i in columns i·Ho·Wo ..< (i+1)·Ho·Wo), one image per task.
    func im2colBatch(_ images: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, batch: Int) {
        let imageSize = c * h * w, n = ho * wo
        parallelFor(batch, parts: Swift.min(batch, Parallel.threadCount)) { _, lo, hi in
            for i in lo..<hi { im2col(images + i * imageSize, col + i * n, rowStride: batch * n) }
        }
    }

    /// Adds `col [C·kh·kw, B·Ho·Wo]` back onto `images [B, C, H, W]`, one image per task.
    func col2imBatch(_ col: UnsafePointer<Float>, _ images: UnsafeMutablePointer<Float>, batch: Int) {
        let imageSize = c * h * w, n = ho * wo
        parallelFor(batch, parts: Swift.min(batch, Parallel.threadCount)) { _, lo, hi in
            for i in lo..<hi { col2im(col + i * n, images + i * imageSize, rowStride: batch * n) }
        }
    }

    /// `image [C, H, W]` → `col [C·kh·kw, Ho·Wo]` with rows `rowStride` apart (zeros where the kernel reads the padding).
    func im2col(_ image: UnsafePointer<Float>, _ col: UnsafeMutablePointer<Float>, rowStride: Int) {
        let n = ho * wo
        for ch in 0..<c {
            for ky in 0..<kh {
                let ys = validRange(ky, size: h, outSize: ho)
                for kx in 0..<kw {
                    let xs = validRange(kx, size: w, outSize: wo)
                    let row = col + ((ch * kh + ky) * kw + kx) * rowStride
                    if ys.count < ho || xs.count < wo { row.update(repeating: 0, count: n) }
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

    /// Adds `col [C·kh·kw, Ho·Wo]` (rows `rowStride` apart) back onto `image [C, H, W]` (the adjoint of `im2col`).
    func col2im(_ col: UnsafePointer<Float>, _ image: UnsafeMutablePointer<Float>, rowStride: Int) {
        for ch in 0..<c {
            for ky in 0..<kh {
                let ys = validRange(ky, size: h, outSize: ho)
                for kx in 0..<kw {
                    let xs = validRange(kx, size: w, outSize: wo)
                    let row = col + ((ch * kh + ky) * kw + kx) * rowStride
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
