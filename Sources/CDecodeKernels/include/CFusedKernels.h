#ifndef MOON_CFUSEDKERNELS_H
#define MOON_CFUSEDKERNELS_H

/// Row kernels of the fused training pass (MoonModels/FusedTraining.swift), vectorised for the CPU at run time
/// (AVX-512, AVX2+FMA or portable; moon_dk_isa / moon_dk_force_isa choose as for the decode kernels).

/// In-place masked softmax of `rows` score rows (row t at s + t·ld): row t sees its first vis0 + t / rep entries
/// (the causal mask of `rep` stacked query heads per query position); entries from there to `width` are set to 0.
/// When `lse` is not NULL, lse[t] receives the row's log-sum-exp.
void moon_fk_softmax_rows(float *s, int ld, int rows, int rep, int vis0, int width, float *lse);

/// Softmax backward from recomputed probabilities: for the visible entries (as moon_fk_softmax_rows) of row t,
/// p = exp(s − lse[t]) replaces s and dp becomes p·(dp − dsum[t]); the rest of both rows up to `width` is set to 0.
void moon_fk_softmax_grad_rows(float *s, float *dp, int ld, int rows, int rep, int vis0, int width, const float *lse,
                               const float *dsum);

/// out[t] = Σ_j a[t·lda + j]·b[t·ldb + j] for j < n.
void moon_fk_row_dots(const float *a, int lda, const float *b, int ldb, int rows, int n, float *out);

/// The log-sum-exp of z[0..<n] and the entropy of softmax(z).
void moon_fk_log_softmax_stats(const float *z, int n, float *lse, float *entropy);

/// dz = (−glp·p − gh·p·(log p + entropy))·invT with log p = z − lse: the gradient of glp·log p_t + gh·entropy
/// with respect to logits z/T, without glp·invT at the target (the caller adds it).
void moon_fk_log_softmax_grad(const float *z, float *dz, int n, float lse, float entropy, float glp, float gh,
                              float invT);

/// SwiGLU of `rows` rows laid out [gate (inter) | up (inter)]: act[t, i] = silu(gate[t, i])·up[t, i].
void moon_fk_swiglu(const float *gu, int inter, int rows, float *act);

/// Its backward: dgu [gate | up] rows from dact [rows, inter].
void moon_fk_swiglu_backward(const float *gu, const float *dact, int inter, int rows, float *dgu);

#endif
