/* Test accuracy of the paper CNN after one epoch of Adam (lr 1e-3, batch 64)
 * on Fashion-MNIST in the 3x32x32 layout, with modsweep's CPU trainer, for
 * the seeds given (default 0 1 2). Compare with pytorch_quality.py
 * (tests/bench/run_quality.sh prints both). */
#include "bench_common.h"
#include "modsweep/data.h"
#include "modsweep/kernels.h"
#include "modsweep/log.h"
#include "modsweep/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    ms_kernels_set_threads(2);
    ms_data_cfg_t dc;
    ms_data_cfg_defaults(&dc, MS_DATA_FASHION);
    dc.layout = MS_LAYOUT_3X32X32;
    ms_split_t train, test;
    MS_CHECK(ms_data_load(&dc, &train, &test));
    ms_settings_t s = bench_settings(0);
    int n_seeds = argc > 1 ? argc - 1 : 3;
    for (int k = 0; k < n_seeds; k++) {
        s.seed = argc > 1 ? strtoull(argv[k + 1], NULL, 10) : (uint64_t)k;
        ms_trainer_t tr;
        char reason[MS_REASON_MAX];
        MS_CHECK(ms_trainer_init(&tr, &s, train.n));
        MS_CHECK(ms_train(&tr, &train, NULL, NULL, reason));
        printf("modsweep seed %llu: test accuracy %.4f\n", (unsigned long long)s.seed,
               ms_evaluate(&tr.net, tr.params, &test, -1, NULL, NULL));
        ms_trainer_free(&tr);
    }
    ms_split_free(&train);
    ms_split_free(&test);
    return 0;
}
