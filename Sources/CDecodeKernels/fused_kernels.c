// Row kernels of the fused training pass (see include/CFusedKernels.h): masked softmax and its gradient for
// attention score blocks, and the vocabulary log-softmax of the head with its gradient. Written as plain loops over
// a branch-free exp so the compiler vectorises them; compiled for AVX-512, AVX2+FMA and portable code, picked at run
// time like the decode kernels (moon_dk_isa).
#include "CFusedKernels.h"
#include "CDecodeKernels.h"
#include "isa.h"
#include "fexp.h"
#include <math.h>
#include <string.h>

// exp(x) (fexp.h): 0 below -87.3 (so -inf gives 0), exp(88.7) above 88.7.
#define FK_EXP_BODY(x, out) do {                                                                                  \
    float xc_ = (x) < -87.3f ? -87.3f : ((x) > 88.7f ? 88.7f : (x));                                             \
    MOON_FEXP_CORE(float, xc_, n_, y_);                                                                          \
    int e_ = ((int)n_ + 127) << 23;                                                                              \
    float s_; memcpy(&s_, &e_, 4);                                                                               \
    (out) = (x) < -87.3f ? 0.0f : y_ * s_;                                                                       \
} while (0)

#define DEFINE_FUSED(SUFFIX, ATTR)                                                                               \
ATTR static void softmax_rows_##SUFFIX(float *s, int ld, int rows, int rep, int vis0, int width, float *lse) {   \
    _Pragma("clang fp reassociate(on)")                                                                          \
    for (int t = 0; t < rows; t++) {                                                                             \
        float *row = s + (size_t)t * ld;                                                                         \
        int vis = vis0 + t / rep;                                                                                \
        float m = -INFINITY;                                                                                     \
        for (int j = 0; j < vis; j++) m = fmaxf(m, row[j]);                                               \
        float sum = 0;                                                                                           \
        for (int j = 0; j < vis; j++) { float e; FK_EXP_BODY(row[j] - m, e); row[j] = e; sum += e; }             \
        float inv = 1.0f / sum;                                                                                  \
        for (int j = 0; j < vis; j++) row[j] *= inv;                                                             \
        for (int j = vis; j < width; j++) row[j] = 0;                                                            \
        if (lse) lse[t] = m + logf(sum);                                                                         \
    }                                                                                                            \
}                                                                                                                \
ATTR static void softmax_grad_row_##SUFFIX(float *restrict row, float *restrict drow, int vis, int width, float l, float d) { \
    for (int j = 0; j < vis; j++) {                                                                              \
        float p; FK_EXP_BODY(row[j] - l, p);                                                                     \
        row[j] = p; drow[j] = p * (drow[j] - d);                                                                 \
    }                                                                                                            \
    for (int j = vis; j < width; j++) { row[j] = 0; drow[j] = 0; }                                               \
}                                                                                                                \
ATTR static void softmax_grad_rows_##SUFFIX(float *s, float *dp, int ld, int rows, int rep, int vis0, int width, \
                                            const float *lse, const float *dsum) {                               \
    for (int t = 0; t < rows; t++)                                                                               \
        softmax_grad_row_##SUFFIX(s + (size_t)t * ld, dp + (size_t)t * ld, vis0 + t / rep, width, lse[t], dsum[t]); \
}                                                                                                                \
ATTR static void row_dots_##SUFFIX(const float *a, int lda, const float *b, int ldb, int rows, int n, float *out) { \
    _Pragma("clang fp reassociate(on)")                                                                          \
    for (int t = 0; t < rows; t++) {                                                                             \
        const float *restrict x = a + (size_t)t * lda, *restrict y = b + (size_t)t * ldb;                                          \
        float s = 0;                                                                                             \
        for (int j = 0; j < n; j++) s += x[j] * y[j];                                                            \
        out[t] = s;                                                                                              \
    }                                                                                                            \
}                                                                                                                \
ATTR static void log_softmax_stats_##SUFFIX(const float *z, int n, float *lse, float *entropy) {                 \
    _Pragma("clang fp reassociate(on)")                                                                          \
    float m = -INFINITY;                                                                                         \
    for (int v = 0; v < n; v++) m = fmaxf(m, z[v]);                                                         \
    float s = 0, w = 0;                                                                                          \
    for (int v = 0; v < n; v++) { float e; FK_EXP_BODY(z[v] - m, e); s += e; w += e * z[v]; }                   \
    float l = m + logf(s);                                                                                       \
    *lse = l; *entropy = l - w / s;                                                                              \
}                                                                                                                \
ATTR static void log_softmax_grad_##SUFFIX(const float *restrict z, float *restrict dz, int n, float lse, float entropy,           \
                                           float glp, float gh, float invT) {                                    \
    _Pragma("clang fp reassociate(on)")                                                                          \
    for (int v = 0; v < n; v++) {                                                                                \
        float lp = z[v] - lse, p; FK_EXP_BODY(lp, p);                                                            \
        dz[v] = (-glp * p - gh * p * (lp + entropy)) * invT;                                                     \
    }                                                                                                            \
}

// Row loops take their pointers as restrict parameters (restrict locals are not enough for the vectoriser: with
// them it kept runtime alias checks and ran 3x slower).
#define DEFINE_SWIGLU(SUFFIX, ATTR)                                                                              \
ATTR static void swiglu_row_##SUFFIX(const float *restrict g, const float *restrict u, float *restrict o, int n) { \
    for (int i = 0; i < n; i++) { float e; FK_EXP_BODY(-g[i], e); o[i] = g[i] / (1.0f + e) * u[i]; }             \
}                                                                                                                \
ATTR static void swiglu_##SUFFIX(const float *gu, int inter, int rows, float *act) {                            \
    for (int t = 0; t < rows; t++)                                                                               \
        swiglu_row_##SUFFIX(gu + (size_t)t * 2 * inter, gu + (size_t)t * 2 * inter + inter, act + (size_t)t * inter, inter); \
}                                                                                                                \
ATTR static void swiglu_backward_row_##SUFFIX(const float *restrict g, const float *restrict u,                 \
                                              const float *restrict da, float *restrict dg, float *restrict du, int n) { \
    for (int i = 0; i < n; i++) {                                                                                \
        float e; FK_EXP_BODY(-g[i], e);                                                                          \
        float sg = 1.0f / (1.0f + e);                                                                            \
        dg[i] = da[i] * u[i] * sg * (1.0f + g[i] * (1.0f - sg));                                                 \
        du[i] = da[i] * g[i] * sg;                                                                               \
    }                                                                                                            \
}                                                                                                                \
ATTR static void swiglu_backward_##SUFFIX(const float *gu, const float *dact, int inter, int rows, float *dgu) {  \
    for (int t = 0; t < rows; t++) {                                                                             \
        const float *g = gu + (size_t)t * 2 * inter;                                                             \
        float *dg = dgu + (size_t)t * 2 * inter;                                                                 \
        swiglu_backward_row_##SUFFIX(g, g + inter, dact + (size_t)t * inter, dg, dg + inter, inter);             \
    }                                                                                                            \
}

#if defined(__x86_64__)
DEFINE_SWIGLU(avx512, MOON_TARGET_AVX512)
DEFINE_SWIGLU(avx2, MOON_TARGET_AVX2)
#endif
DEFINE_SWIGLU(generic, )

#if defined(__x86_64__)
DEFINE_FUSED(avx512, MOON_TARGET_AVX512)
DEFINE_FUSED(avx2, MOON_TARGET_AVX2)
#endif
DEFINE_FUSED(generic, )

#if defined(__x86_64__)
#define DISPATCH(NAME, ...) do {                                                                                 \
    switch (moon_dk_isa()) {                                                                                     \
    case 2: NAME##_avx512(__VA_ARGS__); return;                                                                  \
    case 1: NAME##_avx2(__VA_ARGS__); return;                                                                    \
    default: NAME##_generic(__VA_ARGS__); return;                                                                \
    }                                                                                                            \
} while (0)
#else
#define DISPATCH(NAME, ...) do { NAME##_generic(__VA_ARGS__); return; } while (0)
#endif

void moon_fk_softmax_rows(float *s, int ld, int rows, int rep, int vis0, int width, float *lse) {
    DISPATCH(softmax_rows, s, ld, rows, rep, vis0, width, lse);
}

void moon_fk_softmax_grad_rows(float *s, float *dp, int ld, int rows, int rep, int vis0, int width, const float *lse,
                               const float *dsum) {
    DISPATCH(softmax_grad_rows, s, dp, ld, rows, rep, vis0, width, lse, dsum);
}

void moon_fk_row_dots(const float *a, int lda, const float *b, int ldb, int rows, int n, float *out) {
    DISPATCH(row_dots, a, lda, b, ldb, rows, n, out);
}

void moon_fk_log_softmax_stats(const float *z, int n, float *lse, float *entropy) {
    DISPATCH(log_softmax_stats, z, n, lse, entropy);
}

void moon_fk_log_softmax_grad(const float *z, float *dz, int n, float lse, float entropy, float glp, float gh,
                              float invT) {
    DISPATCH(log_softmax_grad, z, dz, n, lse, entropy, glp, gh, invT);
}

void moon_fk_swiglu(const float *gu, int inter, int rows, float *act) { DISPATCH(swiglu, gu, inter, rows, act); }

void moon_fk_swiglu_backward(const float *gu, const float *dact, int inter, int rows, float *dgu) {
    DISPATCH(swiglu_backward, gu, dact, inter, rows, dgu);
}
