// The core of moonlab's exp, shared by the C kernels (the same operations as fexp in MoonModels/TensorExtras.swift):
// x·log2(e) rounded to an integer with the 1.5·2^23 trick, Cody-Waite reduction, a degree-6 polynomial. Relative error
// below 2e-7 on [-87.3, 88.7]. Private to CDecodeKernels.
#ifndef MOON_FEXP_H
#define MOON_FEXP_H

// Declares `T N` (the rounded exponent n, a whole float) and `T Y` (the polynomial), so that exp(XC) = Y·2^N, for XC
// already clamped to [-87.3, 88.7]. T is float or a clang ext_vector of floats; callers form 2^N in their type and
// handle the ends of the range (expanded textually, so each caller's fp-contract setting applies).
#define MOON_FEXP_CORE(T, XC, N, Y)                                                                              \
    T N = ((XC) * 1.44269504f + (T)12582912.0f) - (T)12582912.0f;                                                \
    T N##_r = ((XC) - N * 0.693359375f) - N * -2.1219444e-4f;                                                    \
    T N##_p = (T)1.98756915e-4f;                                                                                 \
    N##_p = N##_p * N##_r + 1.39819995e-3f; N##_p = N##_p * N##_r + 8.3334519e-3f;                               \
    N##_p = N##_p * N##_r + 4.1665796e-2f; N##_p = N##_p * N##_r + 1.66666655e-1f;                               \
    N##_p = N##_p * N##_r + 5.0000001e-1f;                                                                       \
    T Y = N##_p * N##_r * N##_r + N##_r + 1.0f

#endif
