/* Tests of the Hebbian conv strengths and dynamic sparse training
 * (src/analysis/hebbian.c, seed 004):
 * - the batched binary counts and correlations equal a brute-force loop
 *   over (sample, filter, output position, connection) on the seed's
 *   layer (7 filters, 8 channels, 2x2 kernel, input 2 x 8 x 5 x 3, no
 *   padding), on a padded layer, and over many blocks of samples;
 * - the pre-activation equals a direct convolution;
 * - the connection event's ranking (keep k1, re-initialise up to k2, prune
 *   the rest) against sorting by hand;
 * - training a small CNN with dynamic sparse training leaves exactly k2
 *   active connections per kernel slice after the events, and still learns. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "modsweep/config.h"
#include "modsweep/datagen.h"
#include "modsweep/error.h"
#include "modsweep/hebbian.h"
#include "modsweep/kernels.h"
#include "modsweep/rng.h"
#include "modsweep/train.h"

/* The input value behind connection (c, i, j) at output (oh, ow), 0 in the padding. */
static double in_at(const float *x, const ms_conv_geom_t *g, int b, int c, int oh, int ow, int i,
                    int j) {
    int ih = oh + i - g->P, iw = ow + j - g->P;
    if (ih < 0 || ih >= g->H || iw < 0 || iw >= g->W) return 0.0;
    return x[((b * g->C + c) * g->H + ih) * g->W + iw];
}

/* Brute force: binary counts and mean |corr| of every connection. */
static void brute(const ms_conv_geom_t *g, const float *x, const float *y, int B, double *bin,
                  double *corr) {
    const int HO = g->H + 2 * g->P - g->K + 1, WO = g->W + 2 * g->P - g->K + 1, K = g->K;
    for (int f = 0; f < g->F; f++)
        for (int c = 0; c < g->C; c++)
            for (int i = 0; i < K; i++)
                for (int j = 0; j < K; j++) {
                    const int w = ((f * g->C + c) * K + i) * K + j;
                    double count = 0, csum = 0;
                    for (int oh = 0; oh < HO; oh++)
                        for (int ow = 0; ow < WO; ow++) {
                            double mx = 0, my = 0;
                            for (int b = 0; b < B; b++) {
                                double xv = in_at(x, g, b, c, oh, ow, i, j);
                                double yv = y[((b * g->F + f) * HO + oh) * WO + ow];
                                count += (xv > 0) && (yv > 0);
                                mx += xv / B;
                                my += yv / B;
                            }
                            double vx = 0, vy = 0, cxy = 0;
                            for (int b = 0; b < B; b++) {
                                double xv = in_at(x, g, b, c, oh, ow, i, j) - mx;
                                double yv = y[((b * g->F + f) * HO + oh) * WO + ow] - my;
                                vx += xv * xv / B;
                                vy += yv * yv / B;
                                cxy += xv * yv / B;
                            }
                            if (vx > 1e-300 && vy > 1e-300) csum += fabs(cxy / sqrt(vx * vy));
                        }
                    bin[w] = count;
                    corr[w] = csum / (HO * WO);
                }
}

/* Direct convolution plus bias, in double. */
static void brute_conv(const ms_conv_geom_t *g, const float *x, const float *w, const float *b,
                       int B, double *y) {
    const int HO = g->H + 2 * g->P - g->K + 1, WO = g->W + 2 * g->P - g->K + 1, K = g->K;
    for (int n = 0; n < B; n++)
        for (int f = 0; f < g->F; f++)
            for (int oh = 0; oh < HO; oh++)
                for (int ow = 0; ow < WO; ow++) {
                    double s = b[f];
                    for (int c = 0; c < g->C; c++)
                        for (int i = 0; i < K; i++)
                            for (int j = 0; j < K; j++)
                                s += w[((f * g->C + c) * K + i) * K + j] *
                                     in_at(x, g, n, c, oh, ow, i, j);
                    y[((n * g->F + f) * HO + oh) * WO + ow] = s;
                }
}

static void run_case(const ms_conv_geom_t *g, int B, int max_b, uint64_t seed) {
    const int HO = g->H + 2 * g->P - g->K + 1, WO = g->W + 2 * g->P - g->K + 1;
    const int NW = g->F * g->C * g->K * g->K;
    const size_t nx = (size_t)B * g->C * g->H * g->W, ny = (size_t)B * g->F * HO * WO;
    float *x = malloc(sizeof(float) * nx), *y = malloc(sizeof(float) * ny);
    float *w = malloc(sizeof(float) * NW), *bias = malloc(sizeof(float) * g->F);
    double *yref = malloc(sizeof(double) * ny);
    ms_rng_t r;
    ms_rng_init(&r, seed, MS_RNG_TESTDATA, 0);
    for (size_t i = 0; i < nx; i++)
        x[i] = (float)ms_rng_normal(&r);
    for (int i = 0; i < NW; i++)
        w[i] = (float)(ms_rng_normal(&r) * 0.5);
    for (int i = 0; i < g->F; i++)
        bias[i] = (float)(ms_rng_normal(&r) * 0.1);
    ms_conv_preact(g, x, w, bias, B, y);
    brute_conv(g, x, w, bias, B, yref);
    double worst = 0;
    for (size_t i = 0; i < ny; i++)
        worst = fmax(worst, fabs(y[i] - yref[i]) / (1 + fabs(yref[i])));
    CHECK_MSG(worst < 1e-6, "pre-activation differs by %g", worst);
    double *bin = malloc(sizeof(double) * NW), *corr = malloc(sizeof(double) * NW);
    double *rbin = malloc(sizeof(double) * NW), *rcorr = malloc(sizeof(double) * NW);
    brute(g, x, y, B, rbin, rcorr);
    ms_hebb_t h;
    CHECK_OK(ms_hebb_init(&h, g, max_b, 1));
    /* Feed the samples in two uneven calls. */
    const int first = B / 3;
    ms_hebb_add(&h, x, y, first);
    ms_hebb_add(&h, x + (size_t)first * g->C * g->H * g->W, y + (size_t)first * g->F * HO * WO,
                B - first);
    ms_hebb_result(&h, bin, corr);
    for (int i = 0; i < NW; i++)
        CHECK_EQ_INT((long long)bin[i], (long long)rbin[i]);
    CHECK_MSG(ms_max_abs_diff_d(bin, rbin, NW) == 0.0, "binary counts differ");
    double ec = ms_max_abs_diff_d(corr, rcorr, NW);
    CHECK_MSG(ec < 1e-9, "correlations differ by %g", ec);
    /* The binary-only accumulator gives the same counts. */
    ms_hebb_t hb;
    CHECK_OK(ms_hebb_init(&hb, g, max_b, 0));
    ms_hebb_add(&hb, x, y, B);
    ms_hebb_result(&hb, bin, NULL);
    CHECK(ms_max_abs_diff_d(bin, rbin, NW) == 0.0);
    double total = 0;
    for (int i = 0; i < NW; i++)
        total += rbin[i];
    printf("  F %d C %d K %d P %d input %dx%dx%d x %d: %.0f co-activations, corr up to %.3f\n",
           g->F, g->C, g->K, g->P, g->C, g->H, g->W, B, total, rcorr[0] > 0 ? rcorr[0] : rcorr[1]);
    ms_hebb_free(&h);
    ms_hebb_free(&hb);
    free(x), free(y), free(w), free(bias), free(yref), free(bin), free(corr), free(rbin),
        free(rcorr);
}

static void test_seed_layer(void) {
    /* The seed's layer: Conv2d(8, 7, kernel (2, 2)), input randn(2, 8, 5, 3). */
    ms_conv_geom_t g = {.C = 8, .H = 5, .W = 3, .F = 7, .K = 2, .P = 0};
    run_case(&g, 2, 2, 1);
}

static void test_padded_and_blocks(void) {
    ms_conv_geom_t g = {.C = 3, .H = 6, .W = 7, .F = 4, .K = 3, .P = 1};
    run_case(&g, 23, 4, 2);
    ms_conv_geom_t g2 = {.C = 2, .H = 5, .W = 5, .F = 3, .K = 5, .P = 2};
    run_case(&g2, 9, 32, 3);
}

static void test_select(void) {
    double s[9] = {3, 7, 7, 1, 0, 9, 2, 7, 5};
    int32_t order[9];
    uint8_t st[9];
    /* Ranks: 9 (5), 7 (1), 7 (2), 7 (7), 5 (8), 3 (0), 2 (6), 1 (3), 0 (4). */
    ms_sparse_select(s, 9, 2, 5, order, st);
    const uint8_t want[9] = {MS_SPARSE_PRUNE, MS_SPARSE_KEEP,   MS_SPARSE_REINIT,
                             MS_SPARSE_PRUNE, MS_SPARSE_PRUNE,  MS_SPARSE_KEEP,
                             MS_SPARSE_PRUNE, MS_SPARSE_REINIT, MS_SPARSE_REINIT};
    for (int i = 0; i < 9; i++)
        CHECK_EQ_INT(st[i], want[i]);
    ms_sparse_select(s, 9, 9, 9, order, st);
    for (int i = 0; i < 9; i++)
        CHECK_EQ_INT(st[i], MS_SPARSE_KEEP);
    ms_sparse_select(s, 9, 1, 1, order, st);
    for (int i = 0; i < 9; i++)
        CHECK_EQ_INT(st[i], i == 5 ? MS_SPARSE_KEEP : MS_SPARSE_PRUNE);
}

typedef struct hook_ctx {
    ms_sparse_t *sp;
    int calls;
} hook_ctx_t;

static int hook(void *v, ms_trainer_t *tr, long step) {
    hook_ctx_t *h = v;
    h->calls++;
    return ms_sparse_after_step(h->sp, tr, step);
}

static void test_sparse_training(void) {
    ms_images_t tr_im, te_im;
    CHECK_OK(ms_images_synthetic(&tr_im, 640, 1, 12, 12, 1));
    CHECK_OK(ms_images_synthetic(&te_im, 300, 1, 12, 12, 2));
    ms_split_t train, test;
    const float mean = 0.1307f, std = 0.3081f;
    CHECK_OK(
        ms_split_from_images(&train, &tr_im, MS_LAYOUT_NATIVE, MS_NORM_MEANSTD, &mean, &std, 0));
    CHECK_OK(
        ms_split_from_images(&test, &te_im, MS_LAYOUT_NATIVE, MS_NORM_MEANSTD, &mean, &std, 0));
    ms_settings_t s;
    memset(&s, 0, sizeof s);
    s.arch = (ms_arch_t){.in_c = 1,
                         .in_h = 12,
                         .in_w = 12,
                         .n_conv = 1,
                         .conv_c = {6},
                         .conv_k = 3,
                         .conv_pad = 1,
                         .conv_bias = 1,
                         .n_fc = 2,
                         .fc_out = {16, 10},
                         .fc_bias = 0};
    s.arch_is_cnn = 1;
    s.seed = 4;
    s.optimizer = MS_OPT_ADAM;
    s.lr = 3e-3f, s.beta1 = 0.9f, s.beta2 = 0.999f, s.eps = 1e-8f;
    s.epochs = 3;
    s.batch = 32;
    s.meas.ablate_layer = -1;
    s.meas.sparse_every = 7;
    s.meas.sparse_k1 = 2;
    s.meas.sparse_k2 = 4;
    ms_trainer_t tr;
    CHECK_OK(ms_trainer_init(&tr, &s, train.n));
    hook_ctx_t hc = {0};
    CHECK_OK(ms_sparse_create(&hc.sp, &s, tr.L));
    CHECK(hc.sp != NULL);
    ms_train_hooks_t hooks = {.ctx = &hc, .after_step = hook, .needs_conv_act = 1};
    char reason[MS_REASON_MAX];
    CHECK_OK(ms_train(&tr, &train, &test, &hooks, reason));
    const int steps = 3 * (640 / 32);
    CHECK_EQ_INT(hc.calls, steps);
    double sparsity[MS_MAX_CONV];
    int events = 0;
    ms_sparse_stats(hc.sp, sparsity, &events);
    CHECK_EQ_INT(events, steps / 7);
    CHECK_NEAR(sparsity[0], 1.0 - 4.0 / 9.0, 1e-12);
    /* Every kernel slice holds at most k2 non-zero weights. */
    const ms_tensor_t *t = &tr.L->t[tr.L->conv_weight[0]];
    int bad = 0;
    for (int sl = 0; sl < 6; sl++) {
        int nz = 0;
        for (int e = 0; e < 9; e++)
            nz += tr.params[t->off + sl * 9 + e] != 0.0f;
        bad += nz > 4;
    }
    CHECK_EQ_INT(bad, 0);
    double acc = ms_evaluate(&tr.net, tr.params, &test, -1, NULL, NULL);
    printf("  sparse CNN: %d events, conv sparsity %.3f, test accuracy %.3f\n", events, sparsity[0],
           acc);
    CHECK_MSG(acc > 0.5, "sparse training did not learn: accuracy %g", acc);
    /* Off: no state. */
    ms_sparse_t *none = (ms_sparse_t *)1;
    s.meas.sparse_every = 0;
    CHECK_OK(ms_sparse_create(&none, &s, tr.L));
    CHECK(none == NULL);
    ms_sparse_free(hc.sp);
    ms_trainer_free(&tr);
    ms_split_free(&train);
    ms_split_free(&test);
    ms_images_free(&tr_im);
    ms_images_free(&te_im);
}

int main(void) {
    ms_kernels_set_threads(1);
    RUN_TEST(test_seed_layer);
    RUN_TEST(test_padded_and_blocks);
    RUN_TEST(test_select);
    RUN_TEST(test_sparse_training);
    return ms_test_summary();
}
