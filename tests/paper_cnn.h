/* Seed 000's paper CNN, the model most tests and benchmarks use: 3x32x32
 * input, conv 3 -> 16 (3x3, padding 1, with bias) + ReLU + 2x2 max-pool,
 * fc 4096 -> 64 -> 64 -> 64 -> 10 without bias (271,424 parameters). */
#ifndef MS_PAPER_CNN_H
#define MS_PAPER_CNN_H

#include "modsweep/nn.h"

static inline ms_arch_t ms_test_paper_cnn(void) {
    ms_arch_t a = {.in_c = 3, .in_h = 32, .in_w = 32, .n_conv = 1, .conv_c = {16}, .conv_k = 3,
                   .conv_pad = 1, .conv_bias = 1, .n_fc = 4, .fc_out = {64, 64, 64, 10},
                   .fc_bias = 0};
    return a;
}

#endif
