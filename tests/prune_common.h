/* Shared set-up of the pruning tests (test_prune_dev.c, test_cuda_kernels.c,
 * test_cuda_e2e.c): small models trained briefly on the synthetic data set,
 * and the images of one label. */
#ifndef MS_PRUNE_COMMON_H
#define MS_PRUNE_COMMON_H

#include "modsweep/config.h"
#include "modsweep/data.h"
#include "modsweep/datagen.h"
#include "modsweep/error.h"
#include "modsweep/nn.h"
#include "modsweep/prune.h"
#include "modsweep/train.h"

#include <stdlib.h>
#include <string.h>

/* The architectures both pruning comparisons run (test_prune_dev.c against
 * the device algorithm's host emulation, test_cuda_kernels.c on a GPU): an
 * MLP with bias, a CNN with one conv block, and one with two conv blocks of
 * odd sizes (13 -> 6 -> 3 after pooling) and no conv bias. */
static const ms_arch_t prune_arch_mlp = {
    .in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 3, .fc_out = {16, 12, 10}, .fc_bias = 1};
static const ms_arch_t prune_arch_cnn = {.in_c = 3,
                                         .in_h = 12,
                                         .in_w = 12,
                                         .n_conv = 1,
                                         .conv_c = {4},
                                         .conv_k = 3,
                                         .conv_pad = 1,
                                         .conv_bias = 1,
                                         .n_fc = 4,
                                         .fc_out = {16, 16, 16, 10}};
static const ms_arch_t prune_arch_cnn2 = {.in_c = 2,
                                          .in_h = 13,
                                          .in_w = 13,
                                          .n_conv = 2,
                                          .conv_c = {3, 5},
                                          .conv_k = 3,
                                          .conv_pad = 1,
                                          .n_fc = 3,
                                          .fc_out = {20, 12, 10},
                                          .fc_bias = 1};

/* Trains arch for `epochs` on n synthetic images (seed) with Adam and fills
 * params (malloc'd); returns the test split of the same distribution. */
static inline int prune_test_model(const ms_arch_t *arch, int n, int epochs, uint64_t seed,
                                   float **params, ms_split_t *test) {
    ms_images_t im;
    int rc = ms_images_synthetic(&im, n, arch->in_c, arch->in_h, arch->in_w, seed);
    if (rc) return rc;
    ms_split_t train;
    rc = ms_split_from_images(&train, &im, MS_LAYOUT_NATIVE, MS_NORM_UNIT, NULL, NULL, 0);
    ms_images_free(&im);
    if (rc) return rc;
    rc = ms_images_synthetic(&im, n / 2, arch->in_c, arch->in_h, arch->in_w, seed + 1000);
    if (!rc) rc = ms_split_from_images(test, &im, MS_LAYOUT_NATIVE, MS_NORM_UNIT, NULL, NULL, 0);
    ms_images_free(&im);
    if (rc) return rc;
    ms_settings_t s;
    memset(&s, 0, sizeof s);
    s.arch = *arch;
    s.seed = seed;
    s.optimizer = MS_OPT_ADAM;
    s.lr = 3e-3f;
    s.beta1 = 0.9f;
    s.beta2 = 0.999f;
    s.eps = 1e-8f;
    s.epochs = epochs;
    s.batch = 32;
    ms_trainer_t tr;
    rc = ms_trainer_init(&tr, &s, train.n);
    char reason[MS_REASON_MAX];
    if (!rc) rc = ms_train(&tr, &train, NULL, NULL, reason);
    if (!rc) {
        *params = malloc(sizeof(float) * tr.L->n_params);
        memcpy(*params, tr.params, sizeof(float) * tr.L->n_params);
    }
    ms_trainer_free(&tr);
    ms_split_free(&train);
    return rc;
}

/* The images of `label` in split s (at most max_n), as a new float array. */
static inline float *prune_test_images(const ms_split_t *s, int label, int max_n, int *n_out) {
    const size_t D = (size_t)s->c * s->h * s->w;
    int32_t *idx = malloc(sizeof(int32_t) * s->n);
    int n = ms_split_class_indices(s, label, idx);
    if (max_n > 0 && n > max_n) n = max_n;
    float *x = malloc(sizeof(float) * D * (n ? n : 1));
    for (int i = 0; i < n; i++) memcpy(x + D * i, s->x + D * idx[i], sizeof(float) * D);
    free(idx);
    *n_out = n;
    return x;
}

/* One pruning case: arch trained briefly (prune_test_model), with unit
 * cut_unit of fc1 made unread by every row of fc2 when cut_unit >= 0, at
 * most max_images test images of label (x, N), and the configuration that
 * prunes them (layers; one rank). params stays NULL when the training failed
 * (its error is returned). */
typedef struct prune_case {
    ms_layout_t L;
    float *params;
    float *x;
    int N;
    size_t NW; /* the fc weights (L.n_fc_weights): the length of a mask */
    ms_prune_cfg_t cfg;
    ms_split_t test;
} prune_case_t;

static inline int prune_case_init(prune_case_t *pc, const ms_arch_t *arch, int n_train, int epochs,
                                  uint64_t seed, int label, int max_images, uint32_t layers,
                                  int cut_unit) {
    memset(pc, 0, sizeof *pc);
    int rc = prune_test_model(arch, n_train, epochs, seed, &pc->params, &pc->test);
    if (!rc) rc = ms_layout_init(&pc->L, arch);
    if (rc || !pc->params) {
        free(pc->params);
        pc->params = NULL;
        return rc;
    }
    if (cut_unit >= 0) {
        /* No row of fc2 reads unit cut_unit of fc1. */
        const ms_tensor_t *t = &pc->L.t[pc->L.fc_weight[1]];
        for (int r = 0; r < t->shape[0]; r++)
            pc->params[t->off + (size_t)r * t->shape[1] + cut_unit] = 0;
    }
    pc->x = prune_test_images(&pc->test, label, max_images, &pc->N);
    pc->NW = pc->L.n_fc_weights;
    pc->cfg = (ms_prune_cfg_t){.label = label, .layers = layers, .comm = MPI_COMM_SELF};
    return 0;
}

static inline void prune_case_free(prune_case_t *pc) {
    free(pc->x);
    free(pc->params);
    ms_split_free(&pc->test);
    memset(pc, 0, sizeof *pc);
}

#endif
