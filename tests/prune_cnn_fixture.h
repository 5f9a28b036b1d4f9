/* The trained paper CNN of tests/fixtures/prune_cnn.msfx (see
 * tests/gen_prune_fixture.py) and its label images, for the pruning tests. */
#ifndef MS_PRUNE_CNN_FIXTURE_H
#define MS_PRUNE_CNN_FIXTURE_H

#include "paper_cnn.h"
#include "check.h"
#include "fixture.h"
#include "modsweep/data.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"
#include "modsweep/prune.h"

#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static ms_fixture_t fx;
static ms_layout_t L;
static float *params;
static ms_split_t split;
static int label;

static inline int setup(void) {
    char path[1024];
    if (ms_fixture_load(&fx, ms_fixture_path("prune_cnn.msfx", path, sizeof path))) return -1;
    ms_arch_t a = ms_test_paper_cnn();
    if (ms_layout_init(&L, &a)) return -1;
    params = malloc(sizeof(float) * L.n_params);
    for (int i = 0; i < L.n_tensors; i++) {
        char name[64];
        snprintf(name, sizeof name, "param.%s", L.t[i].name);
        const float *p = ms_fixture_f32(&fx, name, L.t[i].n);
        if (!p) return -1;
        memcpy(params + L.t[i].off, p, sizeof(float) * L.t[i].n);
    }
    const ms_fx_tensor_t *im = ms_fixture_get(&fx, "images_u8");
    label = ((const int32_t *)ms_fixture_get(&fx, "label")->data)[0];
    /* The same layout and normalisation as the script (and as a sweep). */
    ms_images_t raw;
    if (ms_images_alloc(&raw, (int)im->shape[0], 1, 28, 28)) return -1;
    memcpy(raw.pixels, im->data, im->n);
    memset(raw.labels, label, (size_t)raw.n);
    const float mean = 0.1307f, std = 0.3081f;
    int rc = ms_split_from_images(&split, &raw, MS_LAYOUT_3X32X32, MS_NORM_MEANSTD, &mean, &std, 0);
    ms_images_free(&raw);
    return rc;
}

static inline void fast_vs_naive(uint32_t layers, int n_images) {
    ms_prune_cfg_t cfg = {.label = label, .layers = layers, .comm = MPI_COMM_SELF};
    ms_prune_result_t fast = {.mask = malloc(L.n_fc_weights)}, naive = {.mask = malloc(L.n_fc_weights)};
    CHECK_OK(ms_prune(&L, params, split.x, n_images, &cfg, &fast));
    cfg.naive = 1;
    CHECK_OK(ms_prune(&L, params, split.x, n_images, &cfg, &naive));
    long d = 0;
    for (size_t j = 0; j < L.n_fc_weights; j++) d += fast.mask[j] != naive.mask[j];
    printf("  layers 0x%x, %d images: kept fc1..fc4 %ld %ld %ld %ld, ECS %.4f; naive %.1f s, "
           "fast %.2f s; masks differ in %ld\n",
           layers, n_images, fast.kept[0], fast.kept[1], fast.kept[2], fast.kept[3], fast.ecs,
           naive.seconds, fast.seconds, d);
    CHECK_EQ_INT(d, 0);
    CHECK(fast.loss_final == naive.loss_final);
    CHECK_EQ_INT(fast.ties, naive.ties);
    free(fast.mask);
    free(naive.mask);
}

/* The start and the end of a test's main(): MPI, two kernel threads and the
 * fixture; then the summary and the clean-up. A fixture that cannot be set
 * up ends the test (exit 1). */
static inline void prune_cnn_begin(int *argc, char ***argv) {
    MPI_Init(argc, argv);
    ms_kernels_set_threads(2);
    if (setup()) {
        printf("cannot set up the fixture\n");
        MPI_Finalize();
        exit(1);
    }
}
static inline int prune_cnn_end(void) {
    int rc = ms_test_summary();
    ms_fixture_free(&fx);
    ms_split_free(&split);
    free(params);
    MPI_Finalize();
    return rc;
}

#endif
