// The instruction sets the C kernels are compiled for, beside portable code; moon_dk_isa() picks one at run time
// (2: AVX-512, 1: AVX2 + FMA, 0: portable). Private to CDecodeKernels.
#ifndef MOON_ISA_H
#define MOON_ISA_H

#define MOON_TARGET_AVX512 __attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")))
#define MOON_TARGET_AVX2 __attribute__((target("avx2,fma")))

#endif
