/* The table of training kernels that each instruction-set path provides
 * (internal to src/core). src/core/kernels.c is compiled once per
 * path with MS_ISA_SUFFIX set to the path's name (generic, avx2, avx512) and
 * defines one table, ms__kernels_<suffix>; src/core/isa.c chooses one of
 * them at start-up (isa.h) and forwards the public functions of kernels.h. */
#ifndef MODSWEEP_KERNELS_TABLE_H
#define MODSWEEP_KERNELS_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "modsweep/kernels.h"

typedef struct {
    const char *name;
    ms_linear_forward_fn *linear_forward;
    ms_linear_backward_fn *linear_backward;
    ms_relu_dropout_forward_fn *relu_dropout_forward;
    ms_relu_dropout_backward_fn *relu_dropout_backward;
    ms_conv_relu_pool_forward_fn *conv_relu_pool_forward;
    ms_conv_relu_pool_backward_fn *conv_relu_pool_backward;
    ms_ce_loss_fn *ce_loss;
    ms_sgd_step_fn *sgd_step;
    ms_adam_step_fn *adam_step;
} ms__kernel_table_t;

/* The conv weight gradient's row of C*K*K taps, padded to a multiple of 16
 * floats (every path's vectors divide it) with at least 4 spare floats: 3
 * for the gathering of a patch, which copies 4 floats at a time, and the
 * last for the bias gradient (kernels.c). */
static inline size_t ms__conv_taps_padded(int C, int K) {
    return ((size_t)C * K * K + 4 + 15) / 16 * 16;
}

extern const ms__kernel_table_t ms__kernels_generic, ms__kernels_avx2, ms__kernels_avx512;

#endif
