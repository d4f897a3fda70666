import Foundation
import MoonTensor
import CDecodeKernels

/// Numeric format of the projection weights the decode loop streams. `.f32` is the model's own (generation's
/// log-probs match `score`'s to rounding); `.bf16` halves the bytes read per token (decoding is bound by memory
/// bandwidth), at the cost of log-probs that differ from `score`'s by the weights' rounding.
public enum DecodeWeights: String, Sendable { case f32, bf16 }

/// A weight matrix `[n, k]` rounded to bfloat16 (the upper half of each f32), for the decode kernels. Where the CPU
/// has AMX (`moon_dk_amx`) and the shape fits the tiles (n a multiple of 16, k of 32), the values are stored in tile
/// order (`moon_dk_to_bf16_tiled`) and the products run on the tile unit; otherwise row-major for the AVX-512/AVX2 kernel.
final class BF16Matrix: @unchecked Sendable {
    let ptr: UnsafeMutablePointer<UInt16>
    let n: Int, k: Int
    /// Stored in AMX tile order (column ranges must then start and end at multiples of 16).
    let tiled: Bool
    init(_ w: UnsafePointer<Float>, n: Int, k: Int) {
        self.n = n; self.k = k
        ptr = .allocate(capacity: max(n * k, 1))
        tiled = moon_dk_amx() != 0 && n % 16 == 0 && k % 32 == 0 && n > 0
        if tiled {
            moon_dk_to_bf16_tiled(w, Int32(n), Int32(k), ptr)
        } else {
            moon_dk_to_bf16(w, ptr, n * k)
        }
    }
    deinit { ptr.deallocate() }
}

/// One projection's weights as the decode loop uses them: the f32 matrix `[n, k]` (row-major, contiguous) and, when
/// generation asked for it, a bfloat16 copy that the small-M kernel streams instead.
struct Projection {
    let weight: Tensor
    let bf16: BF16Matrix?
    var n: Int { weight.shape[0] }
    var k: Int { weight.shape[1] }
    init(_ weight: Tensor, bf16: Bool = false) {
        self.weight = weight
        self.bf16 = bf16 ? BF16Matrix(weight.mPtr, n: weight.shape[0], k: weight.shape[1]) : nil
    }
    func lowered() -> Projection { bf16 != nil ? self : Projection(weight, bf16: true) }
}

/// Up to this many rows an f32 projection runs on the streaming small-M kernel; above it (prompt prefill) on BLAS,
/// whose packing is then amortised. Measured on the shared 2-core machine (load 8): in isolation (one thread, both
/// interleaved on warm caches) BLAS (OpenBLAS 0.3.21, SkylakeX kernels) overtakes the kernel at ~24 rows (0.5x the
/// kernel's time at 8 rows, 1.3-1.5x faster at 64), but inside decoding (single-threaded generate, tokens per
/// CPU-second) the kernel is as fast at 64 rows (237 vs 244 tok per CPU-s) and faster at 32 (244 vs 167): BLAS
/// repacks each weight matrix per call, and other processes evict its packed panels. bf16 weights halve the
/// kernel's bytes: it keeps them up to twice the rows (BLAS has only the f32 copy). Tests set it to 0 to compare
/// with the BLAS-only path; MOONLAB_SMALL_GEMM_ROWS overrides it.
nonisolated(unsafe) var smallGemmRows = Knob.integer("MOONLAB_SMALL_GEMM_ROWS", in: 0...4096) ?? 48

/// The most rows `p` runs on the small-M kernel (see `smallGemmRows`).
@inline(__always)
func kernelRowLimit(_ p: Projection) -> Int { p.bf16 != nil ? smallGemmRows * 2 : smallGemmRows }

/// `C[m, cols] = A[m, k] · W[cols, k]ᵀ (+ beta·C)` for the columns `cols` of one projection, single-threaded: the
/// small-M kernel (bf16 weights when the projection has them) up to `smallGemmRows` rows, else BLAS (f32 weights).
@inline(__always)
func projectColumns(_ m: Int, _ p: Projection, _ cols: Range<Int>, _ a: UnsafePointer<Float>, _ lda: Int,
                    _ c: UnsafeMutablePointer<Float>, _ ldc: Int, beta: Float) {
    let k = p.k
    if cols.isEmpty || m == 0 { return }
    if m <= kernelRowLimit(p) {
        if let h = p.bf16, h.tiled {
            moon_dk_gemm_nt_bf16_tiled(Int32(m), Int32(cols.count), Int32(k), a, Int32(lda), h.ptr + cols.lowerBound * k,
                                       c + cols.lowerBound, Int32(ldc), beta)
        } else if let h = p.bf16 {
            moon_dk_gemm_nt_bf16(Int32(m), Int32(cols.count), Int32(k), a, Int32(lda), h.ptr + cols.lowerBound * k, Int32(k),
                                 c + cols.lowerBound, Int32(ldc), beta)
        } else {
            moon_dk_gemm_nt_f32(Int32(m), Int32(cols.count), Int32(k), a, Int32(lda), p.weight.mPtr + cols.lowerBound * k, Int32(k),
                                c + cols.lowerBound, Int32(ldc), beta)
        }
    } else {
        gemmNT(m, cols.count, k, a, lda, p.weight.mPtr + cols.lowerBound * k, k, c + cols.lowerBound, ldc, beta: beta)
    }
}

/// The column range of part `part` of 2 when `n` output columns are split in two (at a multiple of 16: AMX tiles
/// hold 16 columns; the f32 kernels compute each column alike wherever the split falls).
@inline(__always)
func halfColumns(_ n: Int, part: Int) -> Range<Int> {
    let half = n >= 64 ? (n / 2) & ~15 : n
    return part == 0 ? 0..<half : half..<n
}
