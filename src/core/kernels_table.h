/* The table of training kernels that each instruction-set path provides
 * (internal to src/core). src/core/kernels.c is compiled once per
 * path with MS_ISA_SUFFIX set to the path's name (generic, avx2, avx512) and
 * defines one table, ms__kernels_<suffix>; src/core/isa.c chooses one of
 * them at start-up (isa.h) and forwards the public functions of kernels.h. */
#ifndef MODSWEEP_KERNELS_TABLE_H
#define MODSWEEP_KERNELS_TABLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    void (*linear_forward)(float *z, const float *x, const float *w, const float *b, int B, int NI,
                           int O);
    void (*linear_backward)(float *dx, float *dw, float *db, const float *dz, const float *x,
                            const float *w, int B, int NI, int O);
    void (*relu_dropout_forward)(float *a, int B, int O, float drop_p, uint64_t seed, uint32_t step,
                                 uint64_t base);
    void (*relu_dropout_backward)(float *d, const float *a, int n, float drop_p);
    void (*conv_relu_pool_forward)(float *act, float *pooled, int32_t *idx, const float *x,
                                   const float *w, const float *b, int B, int C, int H, int W,
                                   int F, int K, int P, float *scratch);
    void (*conv_relu_pool_backward)(float *dx, float *dw, float *db, const float *dpooled,
                                    const float *act, const int32_t *idx, const float *x,
                                    const float *w, int B, int C, int H, int W, int F, int K, int P,
                                    float *partial);
    double (*ce_loss)(const float *logits, const uint8_t *y, int B, int NC, float *dlogits,
                      double *per_sample);
    void (*sgd_step)(float *p, const float *g, float *buf, size_t n, float lr, float momentum,
                     long t);
    void (*adam_step)(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                      float beta2, float eps, long t);
} ms__kernel_table_t;

extern const ms__kernel_table_t ms__kernels_generic, ms__kernels_avx2, ms__kernels_avx512;

#endif
