// bfloat16 decode products on AMX tiles (see moon_dk_gemm_nt_bf16_tiled in include/CDecodeKernels.h).
//
// TDPBF16PS multiplies bf16 tiles and accumulates in f32: C[16, 16] += A[16, 32] · B[32, 16] per instruction, with
// exact products and one f32 rounding per accumulation. The weights are the B operand, stored once in tile order
// (moon_dk_to_bf16_tiled: each 16-column block of W's rows is a run of 1 KiB tiles, one per 32 k), so the decode loop
// streams them strictly sequentially. The activations stay f32 in effect: each row is split into three bf16
// pieces, hi + mid + lo = x exactly (each round-to-nearest piece takes 8 more significand bits of the remainder,
// 3 x 8 >= 24), which become three rows of A; the three partial products are added at the end. So the result is
// that of f32 activations and bf16 weights, as the AVX-512 bf16 kernel computes it, up to summation order.
#include "CDecodeKernels.h"
#include "isa.h"
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#if defined(__x86_64__) && defined(__linux__)
#include <immintrin.h>
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>
#define MOON_AMX_BUILD 1
#endif

static inline float amx_bf16f(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }

static inline uint32_t rne_bits(float x) {
    uint32_t u; memcpy(&u, &x, 4);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40;  // quiet NaN
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

static void to_bf16_tiled_generic(const float *w, int n, int k, uint16_t *out) {
    const int ks = k / 32;
    uint32_t *o = (uint32_t *)out;  // a tile row holds 16 pairs: one uint32 per (row j, k pair)
    for (int b = 0; b < n / 16; b++)
        for (int j = 0; j < 16; j++) {
            const float *x = w + (size_t)(16 * b + j) * k;
            uint32_t *blk = o + (size_t)b * ks * 256 + j;
            for (int q = 0; q < ks * 16; q++)  // q: k pair; tile q / 16, tile row q % 16
                blk[(size_t)(q / 16) * 256 + (q % 16) * 16] = rne_bits(x[2 * q]) | (rne_bits(x[2 * q + 1]) << 16);
        }
}

#if MOON_AMX_BUILD
typedef uint32_t tv_u16 __attribute__((ext_vector_type(16)));
typedef float tv_f16 __attribute__((ext_vector_type(16)));
MOON_TARGET_AVX512 static inline tv_u16 rne_vec(tv_f16 x) {
    tv_u16 u; memcpy(&u, &x, sizeof u);
    tv_u16 r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    return (u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : r;
}
// Each tile: the 16 rows' 32 values rounded and paired (lane kp of v[j] = row j's pair kp), then a 16 x 16
// transpose of the pairs (four stages exchanging blocks of 8, 4, 2, 1 lanes), stored as the tile's 16 rows.
// Measured ~2x faster than the scalar scatter (the bf16 copies are made at each generate call).
MOON_TARGET_AVX512 static void to_bf16_tiled_avx512(const float *w, int n, int k, uint16_t *out) {
    const int ks = k / 32;
    for (int b = 0; b < n / 16; b++)
        for (int s = 0; s < ks; s++) {
            tv_u16 v[16];
            for (int j = 0; j < 16; j++) {
                const float *x = w + (size_t)(16 * b + j) * k + 32 * s;
                tv_f16 lo, hi; memcpy(&lo, x, sizeof lo); memcpy(&hi, x + 16, sizeof hi);
                tv_u16 rl = rne_vec(lo), rh = rne_vec(hi);
                tv_u16 even = __builtin_shufflevector(rl, rh, 0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
                tv_u16 odd = __builtin_shufflevector(rl, rh, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
                v[j] = even | (odd << 16);
            }
#define T8L 0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23
#define T8H 8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31
#define T4L 0, 1, 2, 3, 16, 17, 18, 19, 8, 9, 10, 11, 24, 25, 26, 27
#define T4H 4, 5, 6, 7, 20, 21, 22, 23, 12, 13, 14, 15, 28, 29, 30, 31
#define T2L 0, 1, 16, 17, 4, 5, 20, 21, 8, 9, 24, 25, 12, 13, 28, 29
#define T2H 2, 3, 18, 19, 6, 7, 22, 23, 10, 11, 26, 27, 14, 15, 30, 31
#define T1L 0, 16, 2, 18, 4, 20, 6, 22, 8, 24, 10, 26, 12, 28, 14, 30
#define T1H 1, 17, 3, 19, 5, 21, 7, 23, 9, 25, 11, 27, 13, 29, 15, 31
#define TSTAGE(B, LO, HI) \
            for (int i = 0; i < 16; i++) if (!(i & B)) { \
                tv_u16 x_ = v[i], y_ = v[i + B]; \
                v[i] = __builtin_shufflevector(x_, y_, LO); v[i + B] = __builtin_shufflevector(x_, y_, HI); \
            }
            TSTAGE(8, T8L, T8H)
            TSTAGE(4, T4L, T4H)
            TSTAGE(2, T2L, T2H)
            TSTAGE(1, T1L, T1H)
#undef TSTAGE
            uint16_t *t = out + ((size_t)b * ks + s) * 512;
            for (int kp = 0; kp < 16; kp++) memcpy(t + kp * 32, &v[kp], sizeof v[kp]);
        }
}
#endif

void moon_dk_to_bf16_tiled(const float *w, int n, int k, uint16_t *out) {
#if MOON_AMX_BUILD
    if (moon_dk_isa() >= 2) { to_bf16_tiled_avx512(w, n, k, out); return; }
#endif
    to_bf16_tiled_generic(w, n, k, out);
}

// Portable product on the tiled layout (AMX forced off, or a CPU without it that was handed tiled weights).
static void tiled_generic(int m, int n, int k, const float *a, int lda, const uint16_t *w, float *c, int ldc, float beta) {
    int ks = k / 32;
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            const uint16_t *blk = w + (size_t)(j / 16) * ks * 512;
            int jj = j % 16;
            float s = 0;
            for (int q = 0; q < k; q++) s += a[(size_t)i * lda + q] * amx_bf16f(blk[(q / 32) * 512 + ((q % 32) / 2) * 32 + 2 * jj + (q & 1)]);
            float *o = c + (size_t)i * ldc + j;
            *o = beta == 0 ? s : s + beta * *o;
        }
}

static int amxDetected = -1;
static int amxForced = -1;

#if MOON_AMX_BUILD
// CPUID leaf 7: EDX bit 22 AMX-BF16, bit 24 AMX-TILE; then Linux must grant this process the tile data state
// (ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA, 18), without which the first tile instruction faults.
static int amx_detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    if (!((d >> 22) & 1) || !((d >> 24) & 1)) return 0;
    if (moon_dk_isa() < 2) return 0;  // the activation split and the sums use AVX-512
    if (syscall(SYS_arch_prctl, 0x1023 /* ARCH_REQ_XCOMP_PERM */, 18) != 0) return 0;
    unsigned long bits = 0;
    if (syscall(SYS_arch_prctl, 0x1022 /* ARCH_GET_XCOMP_PERM */, &bits) != 0) return 0;
    return (bits >> 18) & 1;
}
#else
static int amx_detect(void) { return 0; }
#endif

__attribute__((constructor)) static void amx_init(void) { amxDetected = amx_detect(); }

int moon_dk_amx(void) {
    if (amxDetected < 0) amxDetected = amx_detect();
    return amxForced == 0 || moon_dk_isa() < 2 ? 0 : amxDetected;
}

void moon_dk_force_amx(int on) { amxForced = on; }

#if MOON_AMX_BUILD
// Per-thread workspace (the activation pieces and the tile sums), grown on demand and freed when the thread exits.
typedef struct { void *p; size_t cap; } amx_ws;
static pthread_key_t wsKey;
static pthread_once_t wsOnce = PTHREAD_ONCE_INIT;
static void ws_free(void *v) { amx_ws *w = v; free(w->p); free(w); }
static void ws_key(void) { pthread_key_create(&wsKey, ws_free); }
static void *workspace(size_t bytes) {
    pthread_once(&wsOnce, ws_key);
    amx_ws *w = pthread_getspecific(wsKey);
    if (!w) {
        w = calloc(1, sizeof *w);
        if (!w) return NULL;
        pthread_setspecific(wsKey, w);
    }
    if (w->cap < bytes) {
        free(w->p);
        w->p = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
        w->cap = w->p ? bytes : 0;
    }
    return w->p;
}

typedef struct __attribute__((aligned(64))) {
    uint8_t palette, startRow, reserved[14];
    uint16_t colsb[16];
    uint8_t rows[16];
} tile_config;

#define AMX_ATTR __attribute__((target("amx-tile,amx-bf16,avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")))

typedef float amx_vf16 __attribute__((ext_vector_type(16)));
typedef uint32_t amx_vu16 __attribute__((ext_vector_type(16)));
typedef uint16_t amx_vh16 __attribute__((ext_vector_type(16)));

// Round to bfloat16, nearest even (finite inputs; as moon_dk_to_bf16).
AMX_ATTR static inline amx_vu16 rne16(amx_vu16 u) { return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16; }

// Rows 3i, 3i+1, 3i+2 of `ap` ([rows, k] bf16) get the pieces of activation row i; rows 3m..<rows are zero.
AMX_ATTR static void split_rows(int m, int k, const float *a, int lda, uint16_t *ap, int rows) {
    for (int i = 0; i < m; i++) {
        const float *x = a + (size_t)i * lda;
        uint16_t *h = ap + (size_t)3 * i * k, *md = h + k, *lo = md + k;
        int q = 0;
        for (; q + 16 <= k; q += 16) {
            amx_vf16 v; memcpy(&v, x + q, sizeof v);
            amx_vu16 u; memcpy(&u, &v, sizeof u);
            amx_vu16 uh = rne16(u);
            amx_vu16 b = uh << 16; amx_vf16 fh; memcpy(&fh, &b, sizeof fh);
            amx_vf16 r = v - fh;
            memcpy(&u, &r, sizeof u);
            amx_vu16 um = rne16(u);
            b = um << 16; amx_vf16 fm; memcpy(&fm, &b, sizeof fm);
            amx_vf16 r2 = r - fm;
            memcpy(&u, &r2, sizeof u);
            amx_vu16 ul = rne16(u);
            amx_vh16 s;
            s = __builtin_convertvector(uh, amx_vh16); memcpy(h + q, &s, sizeof s);
            s = __builtin_convertvector(um, amx_vh16); memcpy(md + q, &s, sizeof s);
            s = __builtin_convertvector(ul, amx_vh16); memcpy(lo + q, &s, sizeof s);
        }
        for (; q < k; q++) {  // k is a multiple of 32 here; kept for safety
            float v = x[q];
            uint32_t u; memcpy(&u, &v, 4);
            uint32_t uh = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
            float r = v - amx_bf16f((uint16_t)uh);
            memcpy(&u, &r, 4);
            uint32_t um = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
            float r2 = r - amx_bf16f((uint16_t)um);
            memcpy(&u, &r2, 4);
            h[q] = (uint16_t)uh; md[q] = (uint16_t)um; lo[q] = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
        }
    }
    memset(ap + (size_t)3 * m * k, 0, sizeof(uint16_t) * (size_t)(rows - 3 * m) * k);
}

// Tiles: 0-3 accumulators (2 activation tiles x 2 weight blocks), 4-5 activation pieces, 6-7 weight blocks. Up to
// 32 piece rows (m <= 10, decoding) the two activation tiles hold exactly the 3·m rows (TDPBF16PS time grows with
// the rows); beyond, the rows are padded to pairs of full tiles.
AMX_ATTR static int gemm_tiled_amx(int m, int n, int k, const float *a, int lda, const uint16_t *w, float *c, int ldc,
                                   float beta) {
    const int ks = k / 32, nb = n / 16;
    const int R = 3 * m, single = R <= 32;
    const int rows = single ? R : (R + 31) & ~31;  // rows of the activation pieces (zero rows pad the last pair)
    const int r0 = single && R < 16 ? R : 16, r1 = single ? R - r0 : 16;
    const size_t apBytes = sizeof(uint16_t) * (size_t)rows * k;
    char *ws = workspace(apBytes + sizeof(float) * (size_t)rows * 32);
    if (!ws) return 0;
    uint16_t *ap = (uint16_t *)ws;
    float *S = (float *)(ws + apBytes);  // [rows, 32] sums of one pair of weight blocks
    split_rows(m, k, a, lda, ap, rows);
    tile_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.palette = 1;
    cfg.rows[0] = cfg.rows[2] = cfg.rows[4] = (uint8_t)r0;
    cfg.colsb[0] = cfg.colsb[2] = cfg.colsb[4] = 64;
    if (r1 > 0) {
        cfg.rows[1] = cfg.rows[3] = cfg.rows[5] = (uint8_t)r1;
        cfg.colsb[1] = cfg.colsb[3] = cfg.colsb[5] = 64;
    }
    cfg.rows[6] = cfg.rows[7] = 16; cfg.colsb[6] = cfg.colsb[7] = 64;
    _tile_loadconfig(&cfg);
    const size_t lda2 = (size_t)k * 2;
    for (int b = 0; b < nb; b += 2) {
        const int two = b + 1 < nb;
        const uint16_t *w0 = w + (size_t)b * 16 * k, *w1 = w0 + (size_t)16 * k;
        // the next pair of blocks (contiguous after this pair), fetched into L2 while this one is multiplied
        // (measured: into L1 it was 1.8x slower than none, to L2 ~10% faster than none)
        const char *next = (const char *)(w0 + (size_t)32 * k);
        const int prefetch = b + 2 < nb;
        for (int t = 0; t < rows; t += 32) {
            const uint16_t *a0 = ap + (size_t)t * k, *a1 = a0 + (size_t)16 * k;
            _tile_zero(0); _tile_zero(2);
            if (r1) { _tile_zero(1); _tile_zero(3); }
            for (int s = 0; s < ks; s++) {
                if (prefetch && t == 0) {
                    const char *p = next + (size_t)s * 2048;
                    for (int l = 0; l < 2048; l += 64) _mm_prefetch(p + l, _MM_HINT_T1);
                }
                _tile_loadd(6, w0 + (size_t)s * 512, 64);
                _tile_loadd(4, a0 + (size_t)s * 32, lda2);
                _tile_dpbf16ps(0, 4, 6);
                if (r1) { _tile_loadd(5, a1 + (size_t)s * 32, lda2); _tile_dpbf16ps(1, 5, 6); }
                if (two) {
                    _tile_loadd(7, w1 + (size_t)s * 512, 64);
                    _tile_dpbf16ps(2, 4, 7);
                    if (r1) _tile_dpbf16ps(3, 5, 7);
                }
            }
            float *s0 = S + (size_t)t * 32;
            _tile_stored(0, s0, 128);
            if (two) _tile_stored(2, s0 + 16, 128);
            if (r1) {
                _tile_stored(1, s0 + 16 * 32, 128);
                if (two) _tile_stored(3, s0 + 16 * 32 + 16, 128);
            }
        }
        const int cols = two ? 32 : 16;
        for (int i = 0; i < m; i++) {
            const float *ph = S + (size_t)3 * i * 32, *pm = ph + 32, *pl = pm + 32;
            float *o = c + (size_t)i * ldc + (size_t)b * 16;
            for (int j = 0; j < cols; j++) {
                float s = (pl[j] + pm[j]) + ph[j];
                o[j] = beta == 0 ? s : s + beta * o[j];
            }
        }
    }
    _tile_release();
    return 1;
}
#endif

void moon_dk_gemm_nt_bf16_tiled(int m, int n, int k, const float *a, int lda, const uint16_t *w, float *c, int ldc,
                                float beta) {
    if (m <= 0 || n <= 0) return;
#if MOON_AMX_BUILD
    if (moon_dk_amx() && gemm_tiled_amx(m, n, k, a, lda, w, c, ldc, beta)) return;
#endif
    tiled_generic(m, n, k, a, lda, w, c, ldc, beta);
}
