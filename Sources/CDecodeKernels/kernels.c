// Small-M GEMM kernels for the decode loop (see include/CDecodeKernels.h).
//
// Dot-product form: for a block of NB weight rows and a tile of MB activation rows, NB·MB vector accumulators run
// along k; each weight row is loaded once per activation tile and the tiles reuse it from L1. The weights are read
// from memory exactly once per call, which is what bounds decoding (M is the batch: 1..64).
#include "CDecodeKernels.h"
#include "isa.h"
#include "fexp.h"
#include <string.h>

#define KERNEL_ATTRS static inline __attribute__((always_inline))
// One source, three instantiations: V is the vector width in floats, ATTR the target attribute.
#define DEFINE_KERNELS(SUFFIX, V, ATTR)                                                                              \
typedef float vf_##SUFFIX __attribute__((ext_vector_type(V)));                                                     \
typedef uint16_t vh_##SUFFIX __attribute__((ext_vector_type(V)));                                                  \
typedef uint32_t vu_##SUFFIX __attribute__((ext_vector_type(V)));                                                  \
ATTR KERNEL_ATTRS vf_##SUFFIX ld_##SUFFIX(const float *p) { vf_##SUFFIX v; memcpy(&v, p, sizeof v); return v; }    \
ATTR KERNEL_ATTRS vf_##SUFFIX ldh_##SUFFIX(const uint16_t *p) {                                                     \
    vh_##SUFFIX h; memcpy(&h, p, sizeof h);                                                                         \
    vu_##SUFFIX u = __builtin_convertvector(h, vu_##SUFFIX) << 16;                                                  \
    return (vf_##SUFFIX)u;                                                                                          \
}                                                                                                                   \
/* NB weight rows x MB activation rows; WT float or uint16_t (bf16), LD the matching vector load. */               \
DEFINE_TILE(SUFFIX, V, ATTR, f32, float, ld_##SUFFIX, (x))                                                          \
DEFINE_TILE(SUFFIX, V, ATTR, bf16, uint16_t, ldh_##SUFFIX, bf16f(x))

static inline float bf16f(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }

typedef float vf2 __attribute__((ext_vector_type(2)));
typedef float vf4 __attribute__((ext_vector_type(4)));
typedef float vf8 __attribute__((ext_vector_type(8)));
typedef float vf16 __attribute__((ext_vector_type(16)));
// Horizontal sums by halving (shuffles and adds, no round trip through memory).
#define HSUM2(v) ((v).x + (v).y)
#define HSUM4(v) ({ vf2 h2_ = (v).lo + (v).hi; HSUM2(h2_); })
#define HSUM8(v) ({ vf4 h4_ = (v).lo + (v).hi; HSUM4(h4_); })
#define HSUM16(v) ({ vf8 h8_ = (v).lo + (v).hi; HSUM8(h8_); })

// The 16 horizontal sums of a 4x4 or 2x8 tile's accumulators at once: each stage adds the halves of two vectors
// in one instruction, so every sum is formed by exactly the additions HSUM16 makes, in the same order (results
// are bit for bit those of 16 HSUM16s, in ~45 instead of ~130 instructions).
#if defined(__x86_64__)
MOON_TARGET_AVX512
#endif
static inline void hsum16x16(const void *vp, float *out) {
    vf16 v[16]; memcpy(v, vp, sizeof v);
    vf16 a[8], b[4], c[2], d;
    for (int p = 0; p < 8; p++)
        a[p] = __builtin_shufflevector(v[2 * p], v[2 * p + 1], 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)
             + __builtin_shufflevector(v[2 * p], v[2 * p + 1], 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31);
    for (int p = 0; p < 4; p++)
        b[p] = __builtin_shufflevector(a[2 * p], a[2 * p + 1], 0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27)
             + __builtin_shufflevector(a[2 * p], a[2 * p + 1], 4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31);
    for (int p = 0; p < 2; p++)
        c[p] = __builtin_shufflevector(b[2 * p], b[2 * p + 1], 0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29)
             + __builtin_shufflevector(b[2 * p], b[2 * p + 1], 2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31);
    d = __builtin_shufflevector(c[0], c[1], 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30)
      + __builtin_shufflevector(c[0], c[1], 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    memcpy(out, &d, sizeof d);
}

#define DEFINE_TILE(SUFFIX, V, ATTR, TN, WT, LD, CVT)                                                               \
ATTR KERNEL_ATTRS void tile_##TN##_##SUFFIX(int NB, int MB, int pf, int k, const float *a, int lda, const WT *w, int ldw,  \
                                            float *c, int ldc, float beta) {                                        \
    vf_##SUFFIX acc[8][8];                                                                                          \
    for (int j = 0; j < NB; j++) for (int i = 0; i < MB; i++) acc[j][i] = (vf_##SUFFIX)0;                           \
    int kk = 0;                                                                                                     \
    for (; kk + V <= k; kk += V) {                                                                                  \
        vf_##SUFFIX av[8];                                                                                          \
        for (int i = 0; i < MB; i++) av[i] = ld_##SUFFIX(a + (size_t)i * lda + kk);                                 \
        for (int j = 0; j < NB; j++) {                                                                              \
            vf_##SUFFIX wv = LD(w + (size_t)j * ldw + kk);                                                          \
            if (pf) __builtin_prefetch(w + (size_t)(j + pf) * ldw + kk);                                        \
            for (int i = 0; i < MB; i++) acc[j][i] += wv * av[i];                                                   \
        }                                                                                                           \
    }                                                                                                               \
    float sums[16];                                                                                                 \
    const int tree = V == 16 && NB * MB == 16;                                                      \
    if (tree) {                                                                                                     \
        vf_##SUFFIX all[16];                                                                                        \
        for (int j = 0; j < NB; j++) for (int i = 0; i < MB; i++) all[j * MB + i] = acc[j][i];                      \
        hsum16x16(all, sums);                                                                                       \
    }                                                                                                               \
    for (int j = 0; j < NB; j++) {                                                                                  \
        for (int i = 0; i < MB; i++) {                                                                              \
            float s = tree ? sums[j * MB + i] : HSUM##V(acc[j][i]);                                                 \
            const WT *wr = w + (size_t)j * ldw; const float *ar = a + (size_t)i * lda;                              \
            for (int q = kk; q < k; q++) { WT x = wr[q]; s += (CVT) * ar[q]; }                                      \
            float *o = c + (size_t)i * ldc + j;                                                                     \
            *o = beta == 0 ? s : s + beta * *o;                                                                     \
        }                                                                                                           \
    }                                                                                                               \
}                                                                                                                   \
/* Dispatch over constant tile shapes so each instantiation is fully unrolled (accumulators in registers). The   \
   first activation tile over a block of weight rows prefetches the rows two blocks ahead (measured: ~1.6x the    \
   bandwidth of relying on the hardware prefetcher alone with four concurrent row streams). */                  \
ATTR static void gemm_##TN##_##SUFFIX(int m, int n, int k, const float *a, int lda, const WT *w, int ldw,           \
                                      float *c, int ldc, float beta) {                                              \
    int j = 0;                                                                                                      \
    /* AVX-512, 8 to 23 rows: 2 weight rows x 8 activation rows (16 accumulators, each weight vector loaded and    \
       converted once for 8 rows). Measured on the loaded machine, one thread, one step's projections: f32 at 8     \
       rows 5-10% and at 16 rows ~20% less time than 4x4 tiles, bf16 at 8 rows ~20% less; at 32 rows ~20% more     \
       (the activations no longer stay in L1 and are re-read per 2 weight rows instead of 4), so 4x4 from 24. */   \
    if (m >= 8 && m < 24 && V == 16) {                                                                                 \
        for (; j + 2 <= n; j += 2) {                                                                            \
            const WT *wj = w + (size_t)j * ldw;                                                                     \
            int pf = j + 6 <= n ? 4 : 0;                                                              \
            int i = 0;                                                                                              \
            for (; i + 8 <= m; i += 8, pf = 0)                                                                      \
                tile_##TN##_##SUFFIX(2, 8, pf, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); \
            switch (m - i) {                                                                                        \
            case 7: tile_##TN##_##SUFFIX(2, 7, 0, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); break; \
            case 6: tile_##TN##_##SUFFIX(2, 6, 0, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); break; \
            case 5: tile_##TN##_##SUFFIX(2, 5, 0, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); break; \
            case 4: tile_##TN##_##SUFFIX(2, 4, 0, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); break; \
            case 3: tile_##TN##_##SUFFIX(2, 3, 0, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); break; \
            case 2: tile_##TN##_##SUFFIX(2, 2, 0, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); break; \
            case 1: tile_##TN##_##SUFFIX(2, 1, 0, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); break; \
            default: break;                                                                                         \
            }                                                                                                       \
        }                                                                                                           \
    }                                                                                                               \
    if (m == 1) {                                                                                                   \
        for (; j + 8 <= n; j += 8)                                                                                  \
            tile_##TN##_##SUFFIX(8, 1, j + 24 <= n ? 16 : 0, k, a, lda, w + (size_t)j * ldw, ldw, c + j, ldc, beta); \
    }                                                                                                               \
    for (; j + 4 <= n; j += 4) {                                                                                    \
        const WT *wj = w + (size_t)j * ldw;                                                                         \
        int pf = j + 12 <= n ? 8 : 0;                                                                               \
        int i = 0;                                                                                                  \
        for (; i + 4 <= m; i += 4, pf = 0)                                                                          \
            tile_##TN##_##SUFFIX(4, 4, pf, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); \
        switch (m - i) {                                                                                            \
        case 3: tile_##TN##_##SUFFIX(4, 3, pf, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); break; \
        case 2: tile_##TN##_##SUFFIX(4, 2, pf, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); break; \
        case 1: tile_##TN##_##SUFFIX(4, 1, pf, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); break; \
        default: break;                                                                                             \
        }                                                                                                           \
    }                                                                                                               \
    for (; j < n; j++) {                                                                                            \
        const WT *wj = w + (size_t)j * ldw;                                                                         \
        int i = 0;                                                                                                  \
        for (; i + 4 <= m; i += 4)                                                                                  \
            tile_##TN##_##SUFFIX(1, 4, 0, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); \
        for (; i < m; i++)                                                                                          \
            tile_##TN##_##SUFFIX(1, 1, 0, k, a + (size_t)i * lda, lda, wj, ldw, c + (size_t)i * ldc + j, ldc, beta); \
    }                                                                                                               \
}

#if defined(__x86_64__)
DEFINE_KERNELS(avx512, 16, MOON_TARGET_AVX512)
DEFINE_KERNELS(avx2, 8, MOON_TARGET_AVX2)
#endif
DEFINE_KERNELS(generic, 4, )

static int forced = -1;
static int detectedISA = -1;

// Detected once when the library loads (before any thread can call a kernel).
__attribute__((constructor)) static void detect(void) {
#if defined(__x86_64__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) detectedISA = 2;
    else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) detectedISA = 1;
    else detectedISA = 0;
#else
    detectedISA = 0;
#endif
}

static int detected(void) {
    if (detectedISA < 0) detect();
    return detectedISA;
}

int moon_dk_isa(void) {
    int d = detected();
    return forced >= 0 && forced < d ? forced : d;
}

void moon_dk_force_isa(int isa) { forced = isa; }

void moon_dk_gemm_nt_f32(int m, int n, int k, const float *a, int lda, const float *w, int ldw, float *c, int ldc,
                         float beta) {
    if (m <= 0 || n <= 0) return;
    switch (moon_dk_isa()) {
#if defined(__x86_64__)
    case 2: gemm_f32_avx512(m, n, k, a, lda, w, ldw, c, ldc, beta); return;
    case 1: gemm_f32_avx2(m, n, k, a, lda, w, ldw, c, ldc, beta); return;
#endif
    default: gemm_f32_generic(m, n, k, a, lda, w, ldw, c, ldc, beta); return;
    }
}

void moon_dk_gemm_nt_bf16(int m, int n, int k, const float *a, int lda, const uint16_t *w, int ldw, float *c, int ldc,
                          float beta) {
    if (m <= 0 || n <= 0) return;
    switch (moon_dk_isa()) {
#if defined(__x86_64__)
    case 2: gemm_bf16_avx512(m, n, k, a, lda, w, ldw, c, ldc, beta); return;
    case 1: gemm_bf16_avx2(m, n, k, a, lda, w, ldw, c, ldc, beta); return;
#endif
    default: gemm_bf16_generic(m, n, k, a, lda, w, ldw, c, ldc, beta); return;
    }
}

void moon_dk_to_bf16(const float *x, uint16_t *y, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u; memcpy(&u, &x[i], 4);
        if ((u & 0x7fffffffu) > 0x7f800000u) { y[i] = (uint16_t)((u >> 16) | 0x40); continue; }  // quiet NaN
        u += 0x7fffu + ((u >> 16) & 1u);
        y[i] = (uint16_t)(u >> 16);
    }
}

// ---- Row softmax for attention (vectorised: lane-wise max and sum, branch-free exp) ----

// exp(x) (fexp.h, the same operations as Swift's fexp in TensorExtras.swift): 0 below -87.3 (so -inf gives 0).
#define DEFINE_SOFTMAX(SUFFIX, V, ATTR)                                                                              \
typedef float sf_##SUFFIX __attribute__((ext_vector_type(V)));                                                     \
typedef int32_t si_##SUFFIX __attribute__((ext_vector_type(V)));                                                   \
ATTR KERNEL_ATTRS sf_##SUFFIX vexp_##SUFFIX(sf_##SUFFIX x) {                                                       \
    sf_##SUFFIX lo = (sf_##SUFFIX)-87.3f, hi = (sf_##SUFFIX)88.7f;                                                  \
    sf_##SUFFIX xc = x < lo ? lo : x; xc = xc > hi ? hi : xc;                                                       \
    MOON_FEXP_CORE(sf_##SUFFIX, xc, n, y);                                                                          \
    si_##SUFFIX e = (__builtin_convertvector(n, si_##SUFFIX) + 127) << 23;                                          \
    sf_##SUFFIX v = y * (sf_##SUFFIX)e;                                                                             \
    return x < lo ? (sf_##SUFFIX)0 : v;                                                                             \
}                                                                                                                   \
ATTR static void softmax_##SUFFIX(float *x, int n, int zero_to) {                                                  \
    float m = -__builtin_inff();                                                                                    \
    int j = 0;                                                                                                      \
    if (n >= V) {                                                                                                   \
        sf_##SUFFIX mv = (sf_##SUFFIX)(-__builtin_inff());                                                          \
        for (; j + V <= n; j += V) { sf_##SUFFIX v; memcpy(&v, x + j, sizeof v); mv = v > mv ? v : mv; }            \
        for (int l = 0; l < V; l++) m = mv[l] > m ? mv[l] : m;                                                      \
    }                                                                                                               \
    for (; j < n; j++) m = x[j] > m ? x[j] : m;                                                                     \
    if (m == -__builtin_inff()) { memset(x, 0, sizeof(float) * (size_t)(zero_to > n ? zero_to : n)); return; }     \
    sf_##SUFFIX sv = (sf_##SUFFIX)0;                                                                                \
    float s = 0;                                                                                                    \
    j = 0;                                                                                                          \
    for (; j + V <= n; j += V) {                                                                                    \
        sf_##SUFFIX v; memcpy(&v, x + j, sizeof v);                                                                 \
        v = vexp_##SUFFIX(v - m); sv += v; memcpy(x + j, &v, sizeof v);                                             \
    }                                                                                                               \
    for (; j < n; j++) {                                                                                            \
        sf_##SUFFIX v = (sf_##SUFFIX)(x[j] - m); v = vexp_##SUFFIX(v); x[j] = v[0]; s += v[0];                      \
    }                                                                                                               \
    for (int l = 0; l < V; l++) s += sv[l];                                                                         \
    float inv = 1.0f / s;                                                                                           \
    j = 0;                                                                                                          \
    for (; j + V <= n; j += V) { sf_##SUFFIX v; memcpy(&v, x + j, sizeof v); v *= inv; memcpy(x + j, &v, sizeof v); } \
    for (; j < n; j++) x[j] *= inv;                                                                                 \
    for (j = n; j < zero_to; j++) x[j] = 0;                                                                         \
}

#if defined(__x86_64__)
DEFINE_SOFTMAX(avx512, 16, MOON_TARGET_AVX512)
DEFINE_SOFTMAX(avx2, 8, MOON_TARGET_AVX2)
#endif
DEFINE_SOFTMAX(generic, 4, )

void moon_dk_softmax(float *x, int n, int zero_to) {
    if (n < 0) return;
    switch (moon_dk_isa()) {
#if defined(__x86_64__)
    case 2: softmax_avx512(x, n, zero_to); return;
    case 1: softmax_avx2(x, n, zero_to); return;
#endif
    default: softmax_generic(x, n, zero_to); return;
    }
}

// ---- Per-row statistics of a logit row for the sampler ----

#define DEFINE_ROWSTATS(SUFFIX, V, ATTR)                                                                             \
ATTR static float rowmax_##SUFFIX(const float *x, int n, float scale) {                                             \
    float m = -__builtin_inff();                                                                                    \
    int j = 0;                                                                                                      \
    if (n >= V) {                                                                                                   \
        sf_##SUFFIX mv = (sf_##SUFFIX)(-__builtin_inff());                                                          \
        for (; j + V <= n; j += V) { sf_##SUFFIX v; memcpy(&v, x + j, sizeof v); v *= scale; mv = v > mv ? v : mv; } \
        for (int l = 0; l < V; l++) m = mv[l] > m ? mv[l] : m;                                                      \
    }                                                                                                               \
    for (; j < n; j++) { float v = x[j] * scale; m = v > m ? v : m; }                                               \
    return m;                                                                                                       \
}                                                                                                                   \
ATTR static void rowstats_##SUFFIX(const float *x, int n, float scale, float *max, float *sum, float *wsum) {      \
    float m = rowmax_##SUFFIX(x, n, scale);                                                                         \
    float s = 0, w = 0;                                                                                             \
    int j = 0;                                                                                                      \
    for (; j + V <= n; j += V) {                                                                                    \
        sf_##SUFFIX v; memcpy(&v, x + j, sizeof v); v = v * scale - m;                                              \
        sf_##SUFFIX e = vexp_##SUFFIX(v), ev = e * v;                                                               \
        for (int l = 0; l < V; l++) { s += e[l]; w += ev[l]; }                                                      \
    }                                                                                                               \
    for (; j < n; j++) { sf_##SUFFIX v = (sf_##SUFFIX)(x[j] * scale - m); sf_##SUFFIX e = vexp_##SUFFIX(v); s += e[0]; w += e[0] * v[0]; } \
    *max = m; *sum = s; *wsum = w;                                                                                  \
}                                                                                                                   \
ATTR static float rowexp_##SUFFIX(const float *x, int n, float scale, float *out) {                                 \
    float m = rowmax_##SUFFIX(x, n, scale);                                                                         \
    float s = 0;                                                                                                    \
    int j = 0;                                                                                                      \
    for (; j + V <= n; j += V) {                                                                                    \
        sf_##SUFFIX v; memcpy(&v, x + j, sizeof v); v = vexp_##SUFFIX(v * scale - m);                               \
        for (int l = 0; l < V; l++) s += v[l];                                                                      \
        memcpy(out + j, &v, sizeof v);                                                                              \
    }                                                                                                               \
    for (; j < n; j++) { sf_##SUFFIX v = (sf_##SUFFIX)(x[j] * scale - m); v = vexp_##SUFFIX(v); out[j] = v[0]; s += v[0]; } \
    return s;                                                                                                       \
}

#if defined(__x86_64__)
DEFINE_ROWSTATS(avx512, 16, MOON_TARGET_AVX512)
DEFINE_ROWSTATS(avx2, 8, MOON_TARGET_AVX2)
#endif
DEFINE_ROWSTATS(generic, 4, )

void moon_dk_row_stats(const float *x, int n, float scale, float *max, float *sum, float *wsum) {
    switch (moon_dk_isa()) {
#if defined(__x86_64__)
    case 2: rowstats_avx512(x, n, scale, max, sum, wsum); return;
    case 1: rowstats_avx2(x, n, scale, max, sum, wsum); return;
#endif
    default: rowstats_generic(x, n, scale, max, sum, wsum); return;
    }
}

float moon_dk_row_exp(const float *x, int n, float scale, float *out) {
    switch (moon_dk_isa()) {
#if defined(__x86_64__)
    case 2: return rowexp_avx512(x, n, scale, out);
    case 1: return rowexp_avx2(x, n, scale, out);
#endif
    default: return rowexp_generic(x, n, scale, out);
    }
}

// ---- SwiGLU of the decode loop ----

// silu(g)·u with exp exactly as Swift's `fexp` (MoonModels/TensorExtras.swift) computes it, operation for
// operation and without contraction into FMAs, so results are bit for bit those of the Swift loop this replaces
// (which the compiler vectorised only 4 wide).
#define DEFINE_SWIGLU_COLS(SUFFIX, ATTR)                                                                              \
ATTR static void swiglu_cols_##SUFFIX(const float *restrict g, const float *restrict u, float *restrict o, int n) {  \
    _Pragma("clang fp contract(off)")                                                                               \
    for (int i = 0; i < n; i++) {                                                                                   \
        float gv = g[i], x = -gv;                                                                                   \
        float xc = -87.3f >= x ? -87.3f : x;                                                                        \
        xc = 88.7f < xc ? 88.7f : xc;                                                                               \
        MOON_FEXP_CORE(float, xc, nn, y);                                                                           \
        uint32_t bits = (uint32_t)((int32_t)nn + 127) << 23;                                                        \
        float scale; memcpy(&scale, &bits, 4);                                                                      \
        float v = y * scale;                                                                                        \
        float e = x < -87.3f ? 0.0f : (x > 88.7f ? __builtin_inff() : v);                                           \
        o[i] = gv / (1.0f + e) * u[i];                                                                              \
    }                                                                                                               \
}

#if defined(__x86_64__)
DEFINE_SWIGLU_COLS(avx512, MOON_TARGET_AVX512)
DEFINE_SWIGLU_COLS(avx2, MOON_TARGET_AVX2)
#endif
DEFINE_SWIGLU_COLS(generic, )

void moon_dk_swiglu_cols(const float *gu, int inter, int rows, int c0, int c1, float *act) {
    if (c1 <= c0) return;
    for (int t = 0; t < rows; t++) {
        const float *g = gu + (size_t)t * 2 * inter + c0;
        float *o = act + (size_t)t * inter + c0;
        switch (moon_dk_isa()) {
#if defined(__x86_64__)
        case 2: swiglu_cols_avx512(g, g + inter, o, c1 - c0); break;
        case 1: swiglu_cols_avx2(g, g + inter, o, c1 - c0); break;
#endif
        default: swiglu_cols_generic(g, g + inter, o, c1 - c0); break;
        }
    }
}
