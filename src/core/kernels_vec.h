/* What the two files of one instruction-set path of the training kernels
 * (kernels.c: ReLU/dropout, the fc layers, the loss, the optimisers and
 * the path's table; kernels_conv.c: the conv blocks) share: the path's
 * vector type and its helpers, and the conv kernels' names. Both files are
 * compiled once per path with MS_ISA_SUFFIX set (CMakeLists.txt).
 * Internal to src/core. */
#ifndef MODSWEEP_KERNELS_VEC_H
#define MODSWEEP_KERNELS_VEC_H

#include "modsweep/kernels.h"

#include <stdint.h>
#include <string.h>

#ifndef MS_ISA_SUFFIX
#error "compile with -DMS_ISA_SUFFIX=generic|avx2|avx512"
#endif
#define MS_CAT2(a, b) a##b
#define MS_CAT(a, b) MS_CAT2(a, b)
#define MS_STR2(a) #a
#define MS_STR(a) MS_STR2(a)

/* The threads of the kernels (isa.c keeps the count). */
#define kernel_threads ms_kernels_threads()

static inline int n_chunks(int rows) {
    return (rows + MS_CHUNK - 1) / MS_CHUNK;
}

/* The path's vector: VW floats (4 in an SSE register, 8 in an AVX2
 * register, 16 in an AVX-512 register). */
#if defined(__AVX512F__)
#define VW 16
#elif defined(__AVX2__)
#define VW 8
#else
#define VW 4
#endif

/* c + a * b, rounded once where the path has FMA units (as the vector code,
 * which the compiler contracts): said explicitly, because the compiler does
 * not contract every scalar loop alike on every path (the avx2 object's
 * scalar tails were left unfused), and the tails of one path are vector
 * lanes on another. */
#if defined(__FMA__)
#define MADD(a, b, c) __builtin_fmaf((a), (b), (c))
#else
#define MADD(a, b, c) ((c) + (a) * (b))
#endif

/* Loads and stores go through memcpy, so no alignment is assumed. */
typedef float vf __attribute__((vector_size(VW * sizeof(float))));

static inline vf vload(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vstore(float *p, vf v) {
    memcpy(p, &v, sizeof v);
}

/* ReLU of a vector, through the bits: a lane is kept where a > 0 and is
 * +0 elsewhere (NaN and -0 included), as the scalar a > 0 ? a : 0. */
typedef int32_t vi __attribute__((vector_size(VW * sizeof(int32_t))));
static inline vf vrelu(vf a) {
    const vf zero = {0};
    return (vf)((vi)a & (vi)(a > zero));
}

/* Lanes of a and b (lanes 0..VW-1, then VW..2VW-1) picked by m. Clang (the
 * fuzz build) has no two-vector shuffle with a mask vector: the same lanes
 * picked one at a time there. */
static inline vf vshuffle2(vf a, vf b, vi m) {
#if defined(__clang__)
    float ab[2 * VW], r[VW];
    memcpy(ab, &a, sizeof a);
    memcpy(ab + VW, &b, sizeof b);
    for (int i = 0; i < VW; i++)
        r[i] = ab[m[i] & (2 * VW - 1)];
    vf x;
    memcpy(&x, r, sizeof x);
    return x;
#else
    return __builtin_shuffle(a, b, m);
#endif
}

/* The conv blocks' kernels of this path (kernels_conv.c), named per path
 * so that the three paths' objects link together. */
#define k_conv_relu_pool_forward MS_CAT(ms__conv_forward_, MS_ISA_SUFFIX)
#define k_conv_relu_pool_backward MS_CAT(ms__conv_backward_, MS_ISA_SUFFIX)
ms_conv_relu_pool_forward_fn k_conv_relu_pool_forward;
ms_conv_relu_pool_backward_fn k_conv_relu_pool_backward;

#endif
