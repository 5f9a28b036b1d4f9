/* End to end on a GPU: a short training run (Adam, dropout, L2, the
 * clusterability regulariser and the gradient similarity on fc2 through
 * hooks), its evaluation, and the pruning of one label, on the CPU and on the
 * GPU; and determinism on the GPU.
 *
 * What must hold:
 *  - two GPU runs are bitwise equal (parameters, losses, curves, the
 *    gradient similarity, accuracies, masks);
 *  - the GPU and CPU runs agree within the drift of float rounding (the
 *    tolerances below; training is not bitwise portable between the two);
 *  - after one SGD step from the same start they agree tightly: each
 *    tensor's update within 1e-4 of its own largest magnitude;
 *  - pruning the same trained parameters gives identical masks, losses and
 *    ties on the CPU and the GPU (for the CPU-trained and for the GPU-trained
 *    model): the pruning is exact on both.
 * The analyses proper (BSGC, ablations, measures) had no GPU path yet; the
 * regulariser and gradient similarity stand in for them here, against the
 * double-precision references of cluster_ref.h (test_cuda_kernels.c checks
 * the GPU kernels against the same).
 *
 * Without a CUDA build or a GPU it prints "SKIPPED: no GPU" and exits 77. */
#include "check.h"
#include "cluster_ref.h"
#include "prune_common.h"
#include "modsweep/datagen.h"
#include "modsweep/error.h"
#include "modsweep/gpu.h"
#include "modsweep/kernels.h"
#include "modsweep/kernels_gpu.h"
#include "modsweep/prune.h"
#include "modsweep/rng.h"
#include "modsweep/train.h"

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if MODSWEEP_HAVE_CUDA

#define K_CLUSTERS 4
#define LAMBDA 0.5f
#define REG_LAYER 1 /* fc2 */

static ms_settings_t settings;
static ms_split_t train_s, test_s;
static ms_gpu_split_t train_g, test_g;
static int32_t row_c[256], col_c[256];

/* What a run produced. */
typedef struct run {
    float *params; /* (P) */
    float *loss;   /* (epochs * steps) */
    float *curve;  /* (epochs * steps) the clusterability per step */
    double *S;     /* (NI * NI) the gradient similarity of fc2 */
    double acc[4]; /* test accuracy per epoch */
    long steps;
} run_t;

static void run_free(run_t *r) {
    free(r->params);
    free(r->loss);
    free(r->curve);
    free(r->S);
    memset(r, 0, sizeof *r);
}

static const ms_tensor_t *reg_tensor(const ms_layout_t *L) {
    return &L->t[L->fc_weight[REG_LAYER]];
}

/* ---- the CPU hooks (double-precision references) ------------------------------------------- */

typedef struct cpu_ctx {
    run_t *run;
} cpu_ctx_t;

static int cpu_after_backward(void *vctx, ms_trainer_t *tr, long step, double *term, float *curve) {
    cpu_ctx_t *c = vctx;
    const ms_tensor_t *t = reg_tensor(tr->L);
    const int O = t->shape[0], NI = t->shape[1];
    float *g = tr->grad + t->off;
    const double f = ref_clusterability(tr->params + t->off, row_c, col_c, O, NI, LAMBDA, g);
    *term = -LAMBDA * f;
    *curve = (float)f;
    ref_gradsim_add(c->run->S, g, O, NI);
    (void)step;
    return 0;
}

static int cpu_on_epoch(void *vctx, ms_trainer_t *tr, const ms_epoch_report_t *rep) {
    cpu_ctx_t *c = vctx;
    memcpy(c->run->loss + rep->first_step, rep->loss, sizeof(float) * rep->n_steps);
    memcpy(c->run->curve + rep->first_step, rep->extra, sizeof(float) * rep->n_steps);
    c->run->acc[rep->epoch] = rep->test_acc;
    c->run->steps = rep->first_step + rep->n_steps;
    (void)tr;
    return 0;
}

/* ---- the GPU hooks -------------------------------------------------------------------------- */

typedef struct gpu_ctx {
    run_t *run;
    int32_t *rc, *cc; /* device partition */
    double *S;        /* device (NI, NI) */
    double *scratch;  /* device (O, NI) */
} gpu_ctx_t;

static int gpu_after_backward(void *vctx, ms_gpu_trainer_t *gt, long step, double *term,
                              float *curve) {
    gpu_ctx_t *c = vctx;
    const ms_tensor_t *t = reg_tensor(gt->L);
    const int O = t->shape[0], NI = t->shape[1];
    ms_clusterability_grad_gpu(curve, gt->grad + t->off, gt->params + t->off, c->rc, c->cc, O, NI,
                               LAMBDA);
    ms_gradsim_accumulate_gpu(c->S, gt->grad + t->off, O, NI, c->scratch);
    (void)step, (void)term;
    return 0;
}

static int gpu_on_epoch(void *vctx, ms_gpu_trainer_t *gt, const ms_epoch_report_t *rep) {
    gpu_ctx_t *c = vctx;
    memcpy(c->run->loss + rep->first_step, rep->loss, sizeof(float) * rep->n_steps);
    memcpy(c->run->curve + rep->first_step, rep->extra, sizeof(float) * rep->n_steps);
    c->run->acc[rep->epoch] = rep->test_acc;
    c->run->steps = rep->first_step + rep->n_steps;
    (void)gt;
    return 0;
}

/* ---- runs -------------------------------------------------------------------------------------
 */

static void run_alloc(run_t *r, const ms_layout_t *L, long steps) {
    const ms_tensor_t *t = reg_tensor(L);
    r->params = calloc(L->n_params, sizeof(float));
    r->loss = calloc((size_t)steps, sizeof(float));
    r->curve = calloc((size_t)steps, sizeof(float));
    r->S = calloc((size_t)t->shape[1] * t->shape[1], sizeof(double));
}

static void run_cpu(run_t *r) {
    ms_trainer_t tr;
    CHECK_OK(ms_trainer_init(&tr, &settings, train_s.n));
    run_alloc(r, tr.L, (long)settings.epochs * tr.steps_per_epoch);
    cpu_ctx_t c = {.run = r};
    ms_train_hooks_t hooks = {
        .ctx = &c, .after_backward = cpu_after_backward, .on_epoch = cpu_on_epoch};
    char reason[MS_REASON_MAX];
    CHECK_OK(ms_train(&tr, &train_s, &test_s, &hooks, reason));
    memcpy(r->params, tr.params, sizeof(float) * tr.L->n_params);
    ms_trainer_free(&tr);
}

static void run_gpu(run_t *r) {
    ms_gpu_trainer_t gt;
    CHECK_OK(ms_gpu_trainer_init(&gt, &settings, train_s.n));
    run_alloc(r, gt.L, (long)settings.epochs * gt.steps_per_epoch);
    const ms_tensor_t *t = reg_tensor(gt.L);
    const int O = t->shape[0], NI = t->shape[1];
    gpu_ctx_t c = {.run = r};
    CHECK_OK(ms_gpu_alloc((void **)&c.rc, sizeof(int32_t) * O));
    CHECK_OK(ms_gpu_alloc((void **)&c.cc, sizeof(int32_t) * NI));
    CHECK_OK(ms_gpu_alloc((void **)&c.S, sizeof(double) * NI * NI));
    CHECK_OK(ms_gpu_alloc((void **)&c.scratch, sizeof(double) * O * NI));
    CHECK_OK(ms_gpu_h2d(c.rc, row_c, sizeof(int32_t) * O));
    CHECK_OK(ms_gpu_h2d(c.cc, col_c, sizeof(int32_t) * NI));
    ms_gpu_train_hooks_t hooks = {
        .ctx = &c, .after_backward = gpu_after_backward, .on_epoch = gpu_on_epoch};
    char reason[MS_REASON_MAX];
    CHECK_OK(ms_train_gpu(&gt, &train_g, &test_g, &hooks, reason));
    CHECK_OK(ms_gpu_trainer_download(&gt));
    memcpy(r->params, gt.params_host, sizeof(float) * gt.L->n_params);
    CHECK_OK(ms_gpu_d2h(r->S, c.S, sizeof(double) * NI * NI));
    ms_gpu_free(c.rc), ms_gpu_free(c.cc), ms_gpu_free(c.S), ms_gpu_free(c.scratch);
    ms_gpu_trainer_free(&gt);
}

/* max |a - b| / max(1e-30, max |a|) over n values. */
static double rel_diff_f(const float *a, const float *b, size_t n) {
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > d) d = fabs(a[i] - b[i]);
        if (fabs(a[i]) > m) m = fabs(a[i]);
    }
    return d / m;
}
static double rel_diff_d(const double *a, const double *b, size_t n) {
    double d = 0, m = 1e-30;
    for (size_t i = 0; i < n; i++) {
        if (fabs(a[i] - b[i]) > d) d = fabs(a[i] - b[i]);
        if (fabs(a[i]) > m) m = fabs(a[i]);
    }
    return d / m;
}

static run_t cpu1, gpu1, gpu2;

static void test_gpu_determinism(void) {
    run_gpu(&gpu1);
    run_gpu(&gpu2);
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &settings.arch));
    const ms_tensor_t *t = reg_tensor(&L);
    const size_t NS = (size_t)t->shape[1] * t->shape[1];
    const int same_p = memcmp(gpu1.params, gpu2.params, sizeof(float) * L.n_params) == 0;
    const int same_l = memcmp(gpu1.loss, gpu2.loss, sizeof(float) * gpu1.steps) == 0;
    const int same_c = memcmp(gpu1.curve, gpu2.curve, sizeof(float) * gpu1.steps) == 0;
    const int same_s = memcmp(gpu1.S, gpu2.S, sizeof(double) * NS) == 0;
    const int same_a = memcmp(gpu1.acc, gpu2.acc, sizeof gpu1.acc) == 0;
    printf("    two GPU runs: params %s, losses %s, curves %s, gradient similarity %s, "
           "accuracies %s\n",
           same_p ? "equal" : "DIFFER", same_l ? "equal" : "DIFFER", same_c ? "equal" : "DIFFER",
           same_s ? "equal" : "DIFFER", same_a ? "equal" : "DIFFER");
    CHECK(same_p && same_l && same_c && same_s && same_a);
}

static void test_cpu_vs_gpu_training(void) {
    run_cpu(&cpu1);
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &settings.arch));
    const ms_tensor_t *t = reg_tensor(&L);
    const size_t NS = (size_t)t->shape[1] * t->shape[1];
    CHECK_EQ_INT(cpu1.steps, gpu1.steps);
    const double dl = rel_diff_f(cpu1.loss, gpu1.loss, (size_t)cpu1.steps);
    const double dc = ms_max_abs_diff_f(cpu1.curve, gpu1.curve, (size_t)cpu1.steps);
    const double dp = rel_diff_f(cpu1.params, gpu1.params, L.n_params);
    const double ds = rel_diff_d(cpu1.S, gpu1.S, NS);
    const double da = fabs(cpu1.acc[settings.epochs - 1] - gpu1.acc[settings.epochs - 1]);
    printf("    CPU vs GPU after %ld steps: losses %.3g (relative, tolerance 2e-2), "
           "clusterability %.3g (tolerance 1e-2), params %.3g (relative to max, tolerance 5e-2), "
           "gradient similarity %.3g (relative, tolerance 5e-2), test accuracy %.4f vs %.4f "
           "(tolerance 0.03)\n",
           cpu1.steps, dl, dc, dp, ds, cpu1.acc[settings.epochs - 1],
           gpu1.acc[settings.epochs - 1]);
    CHECK(dl <= 2e-2);
    CHECK(dc <= 1e-2);
    CHECK(dp <= 5e-2);
    CHECK(ds <= 5e-2);
    CHECK(da <= 0.03);
    /* The first step starts from the same parameters: its loss agrees closely. */
    CHECK(fabs(cpu1.loss[0] - gpu1.loss[0]) <= 1e-5 * fabs(cpu1.loss[0]));
}

/* One SGD step (no momentum) from the same parameters on the same batch,
 * with dropout, L2, the regulariser and the gradient similarity: the update
 * p1 - p0 = -lr * gradient of every tensor, and the gradient similarity of
 * that step, agree tightly (1e-4 of each tensor's own largest magnitude;
 * float sums in another order), unlike the loose comparison after many
 * steps above where rounding differences have grown. */
static void test_one_step(void) {
    ms_settings_t one = settings;
    one.optimizer = MS_OPT_SGD;
    one.momentum = 0;
    one.lr = 0.05f;
    one.epochs = 1;
    const int B = one.batch;
    ms_split_t sub_s = train_s;
    ms_gpu_split_t sub_g = train_g;
    sub_s.n = sub_g.n = B; /* one batch: one step; training reads only x and y */
    ms_settings_t keep = settings;
    settings = one;
    run_t c1 = {0}, g1 = {0};
    ms_trainer_t tr;
    CHECK_OK(ms_trainer_init(&tr, &one, B));
    run_alloc(&c1, tr.L, 1);
    cpu_ctx_t cc = {.run = &c1};
    ms_train_hooks_t ch = {
        .ctx = &cc, .after_backward = cpu_after_backward, .on_epoch = cpu_on_epoch};
    char reason[MS_REASON_MAX];
    CHECK_OK(ms_train(&tr, &sub_s, NULL, &ch, reason));
    memcpy(c1.params, tr.params, sizeof(float) * tr.L->n_params);
    ms_trainer_free(&tr);
    ms_gpu_trainer_t gt;
    CHECK_OK(ms_gpu_trainer_init(&gt, &one, B));
    run_alloc(&g1, gt.L, 1);
    const ms_tensor_t *t = reg_tensor(gt.L);
    const int O = t->shape[0], NI = t->shape[1];
    gpu_ctx_t gc = {.run = &g1};
    CHECK_OK(ms_gpu_alloc((void **)&gc.rc, sizeof(int32_t) * O));
    CHECK_OK(ms_gpu_alloc((void **)&gc.cc, sizeof(int32_t) * NI));
    CHECK_OK(ms_gpu_alloc((void **)&gc.S, sizeof(double) * NI * NI));
    CHECK_OK(ms_gpu_alloc((void **)&gc.scratch, sizeof(double) * O * NI));
    CHECK_OK(ms_gpu_h2d(gc.rc, row_c, sizeof(int32_t) * O));
    CHECK_OK(ms_gpu_h2d(gc.cc, col_c, sizeof(int32_t) * NI));
    ms_gpu_train_hooks_t gh = {
        .ctx = &gc, .after_backward = gpu_after_backward, .on_epoch = gpu_on_epoch};
    CHECK_OK(ms_train_gpu(&gt, &sub_g, NULL, &gh, reason));
    CHECK_OK(ms_gpu_trainer_download(&gt));
    memcpy(g1.params, gt.params_host, sizeof(float) * gt.L->n_params);
    CHECK_OK(ms_gpu_d2h(g1.S, gc.S, sizeof(double) * NI * NI));
    /* The updates, tensor by tensor, against the initial parameters. */
    const ms_layout_t *L = gt.L;
    float *p0 = malloc(sizeof(float) * L->n_params), *uc = malloc(sizeof(float) * L->n_params),
          *ug = malloc(sizeof(float) * L->n_params);
    ms_params_init(L, p0, one.seed);
    for (size_t i = 0; i < L->n_params; i++) {
        uc[i] = c1.params[i] - p0[i];
        ug[i] = g1.params[i] - p0[i];
    }
    CHECK_EQ_INT(c1.steps, 1);
    CHECK_EQ_INT(g1.steps, 1);
    printf("    one step: loss %.9g vs %.9g, clusterability %.9g vs %.9g\n", c1.loss[0], g1.loss[0],
           c1.curve[0], g1.curve[0]);
    CHECK(fabs(c1.loss[0] - g1.loss[0]) <= 1e-6 * fabs(c1.loss[0]));
    CHECK(fabs(c1.curve[0] - g1.curve[0]) <= 1e-6);
    for (int k = 0; k < L->n_tensors; k++) {
        const ms_tensor_t *tk = &L->t[k];
        const double d = rel_diff_f(uc + tk->off, ug + tk->off, tk->n);
        printf("    one step: update of %-12s %.3g of its largest magnitude (tolerance 1e-4)\n",
               tk->name, d);
        CHECK_MSG(d <= 1e-4, "one step: the update of %s differs by %.3g", tk->name, d);
    }
    const double ds = rel_diff_d(c1.S, g1.S, (size_t)NI * NI);
    printf("    one step: gradient similarity %.3g (tolerance 1e-4)\n", ds);
    CHECK(ds <= 1e-4);
    free(p0), free(uc), free(ug);
    ms_gpu_free(gc.rc), ms_gpu_free(gc.cc), ms_gpu_free(gc.S), ms_gpu_free(gc.scratch);
    ms_gpu_trainer_free(&gt);
    run_free(&c1), run_free(&g1);
    settings = keep;
}

static void test_evaluation(void) {
    ms_net_t net;
    ms_gpu_net_t gnet;
    CHECK_OK(ms_net_init(&net, &settings.arch, 100, 1));
    CHECK_OK(ms_gpu_net_init(&gnet, &settings.arch, 100));
    const size_t P = net.L.n_params;
    float *gp = NULL;
    CHECK_OK(ms_gpu_alloc((void **)&gp, sizeof(float) * P));
    CHECK_OK(ms_gpu_h2d(gp, cpu1.params, sizeof(float) * P));
    double cw[MS_MAX_CLASSES], gcw[MS_MAX_CLASSES], ml, gml;
    const double acc = ms_evaluate(&net, cpu1.params, &test_s, -1, cw, &ml);
    const double gacc = ms_evaluate_gpu(&gnet, gp, &test_g, -1, gcw, &gml);
    printf("    evaluation of the CPU-trained model: accuracy %.6f vs %.6f, loss %.9g vs %.9g\n",
           acc, gacc, ml, gml);
    CHECK(fabs(acc - gacc) <= 1.0 / test_s.n + 1e-12);
    CHECK(fabs(ml - gml) <= 1e-5 * ml);
    ms_gpu_free(gp);
    ms_net_free(&net);
    ms_gpu_net_free(&gnet);
}

static void prune_both(const char *name, const float *params, int label) {
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &settings.arch));
    int N;
    float *x = prune_test_images(&test_s, label, 0, &N);
    const size_t NW = L.n_fc_weights;
    ms_prune_cfg_t cfg = {.label = label, .layers = 0xF, .comm = MPI_COMM_SELF};
    ms_prune_result_t c = {.mask = malloc(NW)}, g = {.mask = malloc(NW)}, g2 = {.mask = malloc(NW)};
    CHECK_OK(ms_prune(&L, params, x, N, &cfg, &c));
    CHECK_OK(ms_prune_gpu(&L, params, x, N, &cfg, NULL, &g));
    CHECK_OK(ms_prune_gpu(&L, params, x, N, &cfg, NULL, &g2));
    long diff = 0;
    for (size_t j = 0; j < NW; j++)
        diff += c.mask[j] != g.mask[j];
    printf("    prune label %d of the %s model (%d images): ECS %.4f vs %.4f, %ld of %zu mask "
           "entries differ, L0 %.9f -> %.9f, ties %ld vs %ld; CPU %.2f s, GPU %.2f s\n",
           label, name, N, c.ecs, g.ecs, diff, NW, c.loss0, c.loss_final, c.ties, g.ties, c.seconds,
           g.seconds);
    CHECK_EQ_INT(diff, 0);
    CHECK(c.loss0 == g.loss0 && c.loss_final == g.loss_final);
    CHECK_EQ_INT(c.ties, g.ties);
    CHECK(memcmp(g.mask, g2.mask, NW) == 0 && g.loss_final == g2.loss_final);
    free(c.mask), free(g.mask), free(g2.mask), free(x);
}

static void test_pruning(void) {
    prune_both("CPU-trained", cpu1.params, 3);
    prune_both("GPU-trained", gpu1.params, 3);
}

#endif

int main(int argc, char **argv) {
    int rc = ms_test_need_gpu();
    if (rc) return rc;
#if MODSWEEP_HAVE_CUDA
    ms_test_gpu_begin(&argc, &argv, 1);
    /* A small CNN on learnable synthetic data. */
    ms_images_t im;
    CHECK_OK(ms_images_synthetic(&im, 3000, 3, 16, 16, 17));
    CHECK_OK(ms_split_from_images(&train_s, &im, MS_LAYOUT_NATIVE, MS_NORM_UNIT, NULL, NULL, 0));
    ms_images_free(&im);
    CHECK_OK(ms_images_synthetic(&im, 800, 3, 16, 16, 18));
    CHECK_OK(ms_split_from_images(&test_s, &im, MS_LAYOUT_NATIVE, MS_NORM_UNIT, NULL, NULL, 0));
    ms_images_free(&im);
    CHECK_OK(ms_gpu_split_upload(&train_g, &train_s));
    CHECK_OK(ms_gpu_split_upload(&test_g, &test_s));
    ms_arch_t a = {.in_c = 3,
                   .in_h = 16,
                   .in_w = 16,
                   .n_conv = 1,
                   .conv_c = {8},
                   .conv_k = 3,
                   .conv_pad = 1,
                   .conv_bias = 1,
                   .n_fc = 4,
                   .fc_out = {48, 32, 24, 10},
                   .dropout = 0.1f};
    settings.arch = a;
    settings.seed = 3;
    settings.optimizer = MS_OPT_ADAM;
    settings.lr = 2e-3f;
    settings.beta1 = 0.9f;
    settings.beta2 = 0.999f;
    settings.eps = 1e-8f;
    settings.l2 = 1e-4f;
    settings.epochs = 2;
    settings.batch = 64;
    /* fc2 (32 x 48): "blocks" partition into K_CLUSTERS. */
    const int O = a.fc_out[REG_LAYER], NI = a.fc_out[REG_LAYER - 1];
    for (int i = 0; i < O; i++)
        row_c[i] = i / (O / K_CLUSTERS) < K_CLUSTERS - 1 ? i / (O / K_CLUSTERS) : K_CLUSTERS - 1;
    for (int j = 0; j < NI; j++)
        col_c[j] = j / (NI / K_CLUSTERS) < K_CLUSTERS - 1 ? j / (NI / K_CLUSTERS) : K_CLUSTERS - 1;
    RUN_TEST(test_gpu_determinism);
    RUN_TEST(test_cpu_vs_gpu_training);
    RUN_TEST(test_one_step);
    RUN_TEST(test_evaluation);
    RUN_TEST(test_pruning);
    run_free(&cpu1), run_free(&gpu1), run_free(&gpu2);
    ms_gpu_split_free(&train_g);
    ms_gpu_split_free(&test_g);
    ms_split_free(&train_s);
    ms_split_free(&test_s);
    rc = ms_test_gpu_end();
#endif
    return rc;
}
