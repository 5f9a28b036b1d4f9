/* Pruning one label of the paper CNN (all four fc layers) on Fashion-MNIST
 * in the 3x32x32 layout: wall time per layer and weights/s of the fast path,
 * and weights/s of the naive reference loop on a slice of fc2. The model is
 * trained here for one epoch of Adam (or read from a params file).
 *
 *   mpirun -n R bench_prune [label] [images] [train_images] [threads]
 *
 * With R > 1 ranks the windows are split across them (one team). */
#include "bench_common.h"
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
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    const int label = argc > 1 ? atoi(argv[1]) : 8;
    const int max_images = argc > 2 ? atoi(argv[2]) : 1000;
    const int n_train = argc > 3 ? atoi(argv[3]) : 60000;
    const int threads = argc > 4 ? atoi(argv[4]) : 1;
    ms_kernels_set_threads(threads);
    ms_split_t train, test;
    ms_trainer_t tr;
    const double secs = bench_train_paper_fashion(n_train, &train, &test, &tr);
    double acc = ms_evaluate(&tr.net, tr.params, &test, -1, NULL, NULL);
    if (rank == 0)
        printf("trained the paper CNN on %d images in %.1f s: test accuracy %.4f\n", train.n, secs,
               acc);
    int32_t *idx = malloc(sizeof(int32_t) * test.n);
    int N = ms_split_class_indices(&test, label, idx);
    if (N > max_images) N = max_images;
    const size_t D = 3 * 32 * 32;
    float *x = malloc(sizeof(float) * D * N);
    for (int i = 0; i < N; i++) memcpy(x + D * i, test.x + D * idx[i], sizeof(float) * D);
    const ms_layout_t *L = tr.L;
    ms_prune_result_t res = {.mask = malloc(L->n_fc_weights)};
    ms_prune_cfg_t cfg = {.label = label, .layers = 0xF, .comm = MPI_COMM_WORLD};
    MS_CHECK(ms_prune(L, tr.params, x, N, &cfg, &res));
    if (rank == 0) {
        printf("fast path, %d rank(s) x %d thread(s), label %d, %d images: %.2f s for %zu weights "
               "(%.0f weights/s), ECS %.4f, L0 %.6f -> %.6f, ties %ld, %ld states in %ld windows\n",
               size, threads, label, N, res.seconds, L->n_fc_weights, L->n_fc_weights / res.seconds,
               res.ecs, res.loss0, res.loss_final, res.ties, res.evaluated, res.windows);
        for (int l = 3; l >= 0; l--)
            printf("  fc%d: %7ld / %7ld kept, %.2f s\n", l + 1, res.kept[l], res.total[l],
                   res.layer_seconds[l]);
    }
    /* The naive loop on fc4 alone, to measure its weights/s. */
    if (rank == 0 && size == 1) {
        ms_prune_cfg_t nc = {.label = label, .layers = 0x8, .naive = 1, .comm = MPI_COMM_SELF};
        ms_prune_result_t nr = {.mask = malloc(L->n_fc_weights)};
        MS_CHECK(ms_prune(L, tr.params, x, N, &nc, &nr));
        printf("naive loop on fc4 (%ld weights): %.2f s (%.0f weights/s)\n", nr.total[3],
               nr.layer_seconds[3], nr.total[3] / nr.layer_seconds[3]);
        free(nr.mask);
    }
    free(res.mask);
    free(x);
    free(idx);
    ms_trainer_free(&tr);
    ms_split_free(&train);
    ms_split_free(&test);
    MPI_Finalize();
    return 0;
}
