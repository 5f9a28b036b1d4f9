/* Shared set-up of the pruning tests: small models trained briefly on the
 * synthetic data set, and the images of one label. */
#ifndef MS_PRUNE_COMMON_H
#define MS_PRUNE_COMMON_H

#include "modsweep/config.h"
#include "modsweep/data.h"
#include "modsweep/datagen.h"
#include "modsweep/error.h"
#include "modsweep/train.h"

#include <stdlib.h>
#include <string.h>

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

#endif
