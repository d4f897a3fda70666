#ifndef MOON_CDECODEKERNELS_H
#define MOON_CDECODEKERNELS_H
#include <stddef.h>
#include <stdint.h>

/// Small-M matrix products for decoding: C[m, n] = A[m, k] · W[n, k]ᵀ (+ beta·C) with the weights in their natural
/// row-major [n, k] layout, streamed once per call (no packing). Rows of A are reused from cache; the kernel picks
/// AVX-512, AVX2+FMA or portable code at run time. Accumulation is in f32 (order differs from BLAS: results agree
/// to rounding, not bit for bit).
void moon_dk_gemm_nt_f32(int m, int n, int k, const float *a, int lda, const float *w, int ldw, float *c, int ldc,
                         float beta);

/// As moon_dk_gemm_nt_f32 with bfloat16 weights (the upper 16 bits of an f32); activations and sums stay f32.
void moon_dk_gemm_nt_bf16(int m, int n, int k, const float *a, int lda, const uint16_t *w, int ldw, float *c, int ldc,
                          float beta);

/// Rounds n floats to bfloat16 (nearest even; NaN stays NaN).
void moon_dk_to_bf16(const float *x, uint16_t *y, size_t n);

/// 1 when the bf16 products may run on AMX tiles (the CPU has AMX-BF16 and AVX-512, and Linux granted this process
/// the tile state), else 0; moon_dk_force_amx(0) turns them off, -1 restores automatic choice (for tests).
int moon_dk_amx(void);
void moon_dk_force_amx(int on);

/// Rounds W[n, k] (n a multiple of 16, k of 32) to bfloat16 as moon_dk_to_bf16 does, in AMX tile order: for each
/// block of 16 rows and each 32 k, one 1 KiB tile t[kp][j][e] = W[16·block + j][32·s + 2·kp + e]. `out` holds n·k
/// values.
void moon_dk_to_bf16_tiled(const float *w, int n, int k, uint16_t *out);

/// As moon_dk_gemm_nt_bf16 with W in tile order (moon_dk_to_bf16_tiled): n a multiple of 16 and k of 32; the columns
/// from a multiple of 16, c0, start at w + c0·k. On AMX the activations are split exactly into three bf16 pieces
/// (hi + mid + lo = x), so results equal f32 activations times bf16 weights up to summation order; without AMX a
/// portable loop gives the same.
void moon_dk_gemm_nt_bf16_tiled(int m, int n, int k, const float *a, int lda, const uint16_t *w, float *c, int ldc,
                                float beta);

/// The instruction set the kernels use: 2 AVX-512, 1 AVX2+FMA, 0 portable.
int moon_dk_isa(void);

/// Forces the portable (0), AVX2 (1) or AVX-512 (2) kernels, capped at what the CPU has; -1 restores automatic
/// choice. For tests that compare the paths.
void moon_dk_force_isa(int isa);

// The fused training pass's row kernels (same ISA choice).
#include "CFusedKernels.h"

/// In-place softmax of x[0..<n] (vectorised max, exp and sum), then x[n..<zero_to] = 0. A row whose entries are all
/// -inf becomes all zeros (up to max(n, zero_to)).
void moon_dk_softmax(float *x, int n, int zero_to);

/// SwiGLU of the decode loop over columns c0..<c1 of `rows` rows laid out [gate (inter) | up (inter)]:
/// act[t, i] = g / (1 + exp(-g)) · u, with exp computed as MoonModels' `fexp`, bit for bit.
void moon_dk_swiglu_cols(const float *gu, int inter, int rows, int c0, int c1, float *act);

/// For z = x[0..<n]·scale: max = max(z), sum = Σ exp(z - max), wsum = Σ exp(z - max)·(z - max) (the sampler's
/// log-sum-exp and entropy in one pass). The exponentials are vectorised; the sums run in index order, as the
/// scalar loops of `score` (FusedTraining.swift) sum them, so the two agree to the last bits (a lane-wise sum over
/// ~50k terms differs from the in-order one by ~1e-4 relative: tiny terms the in-order sum rounds away).
void moon_dk_row_stats(const float *x, int n, float scale, float *max, float *sum, float *wsum);

/// out[i] = exp(x[i]·scale - max(x·scale)) for i < n; returns Σ out (summed in index order).
float moon_dk_row_exp(const float *x, int n, float scale, float *out);

#endif
