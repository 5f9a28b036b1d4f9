/* The settings the GPU path does not compute yet (gpu_support.h): one table,
 * read by the grid check.
 *
 * The CPU trainer (train.c with the hooks of stages.c and cluster.c) and the
 * GPU trainer (train_gpu.c with the hooks of stage_gpu.c) share the loop
 * itself: shuffles, dropout, L1/L2 on the weights, SGD with momentum and
 * Adam, the stop flag and the numerical-fault checks. What only the CPU runs
 * is listed here; a row leaves the table when the GPU computes it. */
#include "modsweep/gpu_support.h"
#include "modsweep/error.h"

#include <stdio.h>

typedef struct gap {
    const char *section, *key;
    /* Whether settings s (largest lambda max_lambda) need the feature. */
    int (*needs)(const ms_settings_t *s, double max_lambda);
    const char *what; /* what the CPU computes and the GPU trainer would not */
    const char *fix;  /* the setting that avoids it */
} gap_t;

static int needs_regulariser(const ms_settings_t *s, double max_lambda) {
    return max_lambda > 0 && s->reg_layers != 0;
}

static int needs_curve(const ms_settings_t *s, double max_lambda) {
    (void)max_lambda;
    return s->reg_layers != 0;
}

static int needs_gradsim(const ms_settings_t *s, double max_lambda) {
    (void)max_lambda;
    return s->gradsim_layers != 0;
}

static int needs_sparse(const ms_settings_t *s, double max_lambda) {
    (void)max_lambda;
    return s->meas.sparse_every > 0 && s->arch.n_conv > 0;
}

/* In the order they are reported (the first that applies). */
static const gap_t gaps[] = {
    {"cluster", "lambda", needs_regulariser,
     "the clusterability regulariser (lambda > 0) is not applied by the GPU trainer",
     "lambda = 0 and layers = none"},
    {"cluster", "layers", needs_curve,
     "the clusterability of the regularised layers (its per-step curve models/train_extra and "
     "the partition models/part_train) is not computed by the GPU trainer",
     "layers = none"},
    {"cluster", "gradsim_layers", needs_gradsim,
     "the gradient similarity (models/gradsim, the analysis's part_g) is not accumulated by the "
     "GPU trainer",
     "gradsim_layers = none"},
    {"measures", "sparse_every", needs_sparse,
     "dynamic sparse training of the conv layers is not run by the GPU trainer",
     "sparse_every = 0"},
};

static const gap_t *first_gap(const ms_settings_t *s, double max_lambda) {
    for (size_t i = 0; i < sizeof gaps / sizeof gaps[0]; i++)
        if (gaps[i].needs(s, max_lambda)) return &gaps[i];
    return NULL;
}

const char *ms_gpu_unsupported(const ms_settings_t *s, double max_lambda) {
    const gap_t *gp = first_gap(s, max_lambda);
    return gp ? gp->key : NULL;
}

int ms_grid_gpu_check(ms_grid_t *g, const char *file, ms_grid_line_fn line_of, const void *ctx) {
    g->device_note[0] = 0;
    if (g->device == MS_DEV_CPU) return 0;
    double max_lambda = 0;
    for (int i = 0; i < g->n_values[MS_AXIS_LAMBDA]; i++)
        if (g->values[MS_AXIS_LAMBDA][i] > max_lambda) max_lambda = g->values[MS_AXIS_LAMBDA][i];
    const gap_t *gp = first_gap(&g->base, max_lambda);
    if (!gp) return 0;
    const int line = line_of(ctx, gp->section, gp->key);
    if (g->device == MS_DEV_CUDA)
        return ms_err_set(MS_ECONFIG,
                          "%s:%d: %s (in [%s]) needs the CPU: %s. With device = cuda the grid "
                          "is refused rather than trained differently; set %s, or device = cpu "
                          "or auto",
                          file, line, gp->key, gp->section, gp->what, gp->fix);
    snprintf(g->device_note, sizeof g->device_note,
             "device = auto: computing on the CPU, since %s (%s:%d) is not supported on the GPU "
             "yet",
             gp->key, file, line);
    return 0;
}
