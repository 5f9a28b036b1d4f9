/* Time per label of the approximate circuit methods (magnitude, attribution,
 * integrated gradients) beside the exact greedy pruning, on the paper CNN
 * (all four fc layers) with Fashion-MNIST in the 3x32x32 layout, and their
 * held-out faithfulness and Jaccard overlap with the exact circuit. The
 * model is trained here for one epoch of Adam. For each label the find set
 * is its first `samples` test images and the held-out set every other test
 * image (docs/circuits.md).
 *
 *   bench_circuits [labels] [samples] [train_images] [threads] [ig_steps]
 *
 * labels: how many labels, 0..labels-1 (default 10). Prints one row per
 * label and method; timings are wall seconds of one rank. */
#include "bench_common.h"
#include "modsweep/circuit.h"
#include "modsweep/data.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"
#include "modsweep/log.h"
#include "modsweep/prune.h"
#include "modsweep/train.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    const int n_labels = argc > 1 ? atoi(argv[1]) : 10;
    const int samples = argc > 2 ? atoi(argv[2]) : 500;
    const int n_train = argc > 3 ? atoi(argv[3]) : 60000;
    const int threads = argc > 4 ? atoi(argv[4]) : 1;
    const int ig_steps = argc > 5 ? atoi(argv[5]) : 8;
    ms_kernels_set_threads(threads);
    ms_split_t train, test;
    ms_trainer_t tr;
    const double secs = bench_train_paper_fashion(n_train, &train, &test, &tr);
    printf("trained the paper CNN on %d images in %.1f s: test accuracy %.4f; %d thread(s), "
           "find set = first %d test images of the label, ig %d steps\n",
           train.n, secs, ms_evaluate(&tr.net, tr.params, &test, -1, NULL, NULL), threads, samples,
           ig_steps);
    const ms_layout_t *L = tr.L;
    const size_t D = 3 * 32 * 32, NW = L->n_fc_weights;
    int32_t *find = malloc(sizeof(int32_t) * test.n), *held = malloc(sizeof(int32_t) * test.n);
    float *x = malloc(sizeof(float) * D * test.n);
    double *h0 = malloc(sizeof(double) * (size_t)L->fc_in[0] * test.n);
    uint8_t *masks = malloc(MS_CM_METHODS * NW);
    ms_prune_result_t res = {.mask = malloc(NW)};
    printf("%-5s %-11s %9s %9s %9s %9s %9s %9s\n", "label", "method", "seconds", "ecs", "faith0",
           "faithM", "faithR", "jaccard");
    for (int label = 0; label < n_labels && label < 10; label++) {
        int NF, NH;
        ms_circuit_sets(test.y, test.n, NULL, 0, label, 0, samples, find, &NF, held, &NH);
        for (int i = 0; i < NF; i++)
            memcpy(x + D * i, test.x + D * find[i], sizeof(float) * D);
        ms_prune_cfg_t cfg = {.label = label, .layers = 0xF, .comm = MPI_COMM_SELF};
        MS_CHECK(ms_prune(L, tr.params, x, NF, &cfg, &res));
        MS_CHECK(ms_circuit_features(L, tr.params, x, NF, h0));
        ms_circuit_cfg_t cc = {.label = label,
                               .layers = 0xF,
                               .kinds = 0x7,
                               .methods = 0x7,
                               .ig_steps = ig_steps,
                               .seed = 1};
        ms_circuit_report_t rep = {0};
        for (int m = 0; m < MS_CM_METHODS; m++)
            rep.method_mask[m] = masks + m * NW;
        MS_CHECK(
            ms_circuit_assess(L, tr.params, res.mask, &cc, h0, NF, test.x, test.y, held, NH, &rep));
        printf("%-5d %-11s %9.3f %9.5f %9.4f %9.4f %9.4f %9s\n", label, "exact", res.seconds,
               res.ecs, rep.exact_faith[0], rep.exact_faith[1], rep.exact_faith[2], "1");
        for (int m = 0; m < MS_CM_METHODS; m++) {
            double j = 0;
            for (int l = 0; l < L->arch.n_fc; l++)
                j += rep.jaccard[m][l] / L->arch.n_fc;
            printf("%-5d %-11s %9.3f %9.5f %9.4f %9.4f %9.4f %9.4f\n", label,
                   ms_circuit_method_name(m), rep.method_seconds[m], res.ecs,
                   rep.method_faith[m][0], rep.method_faith[m][1], rep.method_faith[m][2], j);
        }
        printf("%-5d %-11s %9.3f (judging and all methods)\n", label, "assessment", rep.seconds);
        fflush(stdout);
    }
    free(res.mask);
    free(masks);
    free(h0);
    free(x);
    free(find);
    free(held);
    ms_trainer_free(&tr);
    ms_split_free(&train);
    ms_split_free(&test);
    MPI_Finalize();
    return 0;
}
