/* Settings shared by the benchmarks: the paper CNN (seed 000) and seed 001's
 * MLP, trained with Adam (lr 1e-3, batch 64) as in the seeds; and the set-up
 * of the benchmarks that start from a trained paper CNN. */
#ifndef MS_BENCH_COMMON_H
#define MS_BENCH_COMMON_H

#include "paper_cnn.h"
#include "modsweep/config.h"
#include "modsweep/data.h"
#include "modsweep/error.h"
#include "modsweep/log.h"
#include "modsweep/train.h"

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

/* Loads Fashion-MNIST in the 3x32x32 layout (at most n_train training
 * images) into *train and *test and trains the paper CNN on it in *tr for
 * one epoch (bench_settings(0)). Dies with the library's message on
 * failure. Returns the seconds the training took. */
static inline double bench_train_paper_fashion(int n_train, ms_split_t *train, ms_split_t *test,
                                               ms_trainer_t *tr) {
    ms_data_cfg_t dc;
    ms_data_cfg_defaults(&dc, MS_DATA_FASHION);
    dc.layout = MS_LAYOUT_3X32X32;
    dc.train_limit = n_train;
    MS_CHECK(ms_data_load(&dc, train, test));
    ms_settings_t s = bench_settings(0);
    char reason[MS_REASON_MAX];
    MS_CHECK(ms_trainer_init(tr, &s, train->n));
    const double t0 = ms_now();
    MS_CHECK(ms_train(tr, train, NULL, NULL, reason));
    return ms_now() - t0;
}

#endif
