/* Training throughput of the paper CNN (or the MLP) in images/s: modsweep's
 * CPU trainer on preloaded random data, batch 64, Adam. Run beside
 * tests/bench/pytorch_train.py (same model, same threads) via
 * tests/bench/run_train_bench.sh, which prints the two side by side.
 *
 *   bench_train [cnn|mlp] [threads] [steps] */
#include "bench_common.h"
#include "modsweep/config.h"
#include "modsweep/log.h"
#include "modsweep/rng.h"
#include "modsweep/kernels.h"
#include "modsweep/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : "cnn";
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    int steps = argc > 3 ? atoi(argv[3]) : 300;
    ms_settings_t s = bench_settings(strcmp(model, "mlp") == 0);
    const int n = steps * s.batch;
    const size_t D = (size_t)s.arch.in_c * s.arch.in_h * s.arch.in_w;
    ms_split_t tr = {.n = n, .c = s.arch.in_c, .h = s.arch.in_h, .w = s.arch.in_w, .n_classes = 10};
    tr.x = malloc(sizeof(float) * D * n);
    tr.y = malloc((size_t)n);
    ms_rng_t r;
    ms_rng_init(&r, 1, MS_RNG_TESTDATA, 0);
    for (size_t i = 0; i < D * n; i++) tr.x[i] = (float)ms_rng_normal(&r);
    for (int i = 0; i < n; i++) tr.y[i] = (uint8_t)ms_rng_below(&r, 10);
    ms_trainer_t t;
    MS_CHECK(ms_trainer_init(&t, &s, n));
    ms_kernels_set_threads(threads);
    char reason[MS_REASON_MAX];
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = ms_now();
        MS_CHECK(ms_train(&t, &tr, NULL, NULL, reason));
        double ips = n / (ms_now() - t0);
        if (ips > best) best = ips;
    }
    printf("modsweep %s threads=%d: %.0f images/s (best of 3 epochs of %d steps)\n", model,
           threads, best, steps);
    ms_trainer_free(&t);
    free(tr.x);
    free(tr.y);
    return 0;
}
