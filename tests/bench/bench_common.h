/* Settings shared by the benchmarks: the paper CNN (seed 000) and seed 001's
 * MLP, trained with Adam (lr 1e-3, batch 64) as in the seeds. */
#ifndef MS_BENCH_COMMON_H
#define MS_BENCH_COMMON_H

#include "paper_cnn.h"
#include "modsweep/config.h"

#include <string.h>

static inline ms_settings_t bench_settings(int mlp) {
    ms_settings_t s;
    memset(&s, 0, sizeof s);
    if (mlp) {
        ms_arch_t a = {.in_c = 1, .in_h = 28, .in_w = 28, .n_fc = 3, .fc_out = {128, 128, 10}};
        s.arch = a;
    } else {
        s.arch = ms_test_paper_cnn();
    }
    s.optimizer = MS_OPT_ADAM;
    s.lr = 1e-3f;
    s.beta1 = 0.9f;
    s.beta2 = 0.999f;
    s.eps = 1e-8f;
    s.epochs = 1;
    s.batch = 64;
    return s;
}

#endif
