/* Every GPU kernel against its CPU reference on random inputs (kernels.h vs
 * kernels_gpu.h, nn.h vs gpu.h, prune.h vs ms_prune_gpu), printing the
 * largest difference of each and checking it against a tolerance for its
 * kind:
 *  - exact (0): masks, pooling indices, argmax, the canonical pruning
 *    arithmetic (exp, log, fixed-point losses, CE) and everything the
 *    pruning decides (masks, losses, tie counts);
 *  - elementwise float (optimisers, penalties, ReLU/dropout): 1e-6;
 *  - sums in another order (GEMM, conv, batch reductions): 1e-4;
 *  - the whole network's gradient, tensor by tensor: 1e-3;
 *  - double sums (the gradient similarity): 1e-12;
 * each relative to the reference tensor's own largest magnitude (max |diff|
 * / max |ref| per tensor), never to max(1, |ref|), so a tensor of small
 * values (a gradient) is held to the same relative accuracy as a large one.
 * The clusterability regulariser and the gradient similarity are checked
 * against the small double-precision references of cluster_ref.h (the
 * CPU versions of src/analysis/cluster.c were being written in parallel).
 *
 * Without a CUDA build or a GPU it prints "SKIPPED: no GPU" and exits 77. */
#include "check.h"
#include "cluster_ref.h"
#include "prune_common.h"
#include "modsweep/gpu.h"
#include "modsweep/kernels.h"
#include "modsweep/kernels_gpu.h"
#include "modsweep/prune.h"
#include "modsweep/prune_dev.h"
#include "modsweep/rng.h"

#include <float.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if MODSWEEP_HAVE_CUDA

/* ---- helpers ------------------------------------------------------------------------------- */

static uint32_t sub_stream = 100;

static void fill(float *a, size_t n, float lo, float hi) {
    ms_rng_t r;
    ms_rng_init(&r, 2024, MS_RNG_TESTDATA, sub_stream++);
    for (size_t i = 0; i < n; i++)
        a[i] = lo + (hi - lo) * ms_rng_float(&r);
}

static float *fnew(size_t n) {
    return calloc(n ? n : 1, sizeof(float));
}

static void *dnew(size_t bytes) {
    void *p = NULL;
    CHECK_OK(ms_gpu_alloc(&p, bytes));
    return p;
}

static float *up(const float *h, size_t n) {
    float *d = dnew(sizeof(float) * n);
    CHECK_OK(ms_gpu_h2d(d, h, sizeof(float) * n));
    return d;
}

static float *down(const float *d, size_t n) {
    float *h = fnew(n);
    CHECK_OK(ms_gpu_d2h(h, d, sizeof(float) * n));
    return h;
}

static double maxabs(const float *a, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(a[i]) > m) m = fabs(a[i]);
    return m;
}

/* Compares n floats relative to the reference tensor's own scale:
 * max |ref - got| <= rel * max |ref| (rel 0: equal bits; a reference of
 * zeros must be matched exactly). */
static void compare_f(const char *what, const float *ref, const float *got, size_t n, double rel) {
    double d = ms_max_abs_diff_f(ref, got, n), scale = maxabs(ref, n);
    const double tol = rel * scale;
    printf("    %-36s max |diff| %.3g = %.3g of max |ref| %.3g (tolerance %.3g)\n", what, d,
           scale > 0 ? d / scale : d, scale, rel);
    if (rel == 0)
        CHECK_MSG(memcmp(ref, got, sizeof(float) * n) == 0, "%s: not bitwise equal", what);
    else
        CHECK_MSG(d <= tol, "%s: max |diff| %.3g > %.3g (%.3g of max |ref| %.3g)", what, d, tol,
                  rel, scale);
}

/* The same for doubles. */
static void compare_d(const char *what, const double *ref, const double *got, size_t n,
                      double rel) {
    double d = ms_max_abs_diff_d(ref, got, n), scale = 0;
    for (size_t i = 0; i < n; i++)
        if (fabs(ref[i]) > scale) scale = fabs(ref[i]);
    printf("    %-36s max |diff| %.3g = %.3g of max |ref| %.3g (tolerance %.3g)\n", what, d,
           scale > 0 ? d / scale : d, scale, rel);
    CHECK_MSG(d <= rel * scale, "%s: max |diff| %.3g > %.3g of max |ref| %.3g", what, d, rel,
              scale);
}

#define T_ELEM 1e-6
#define T_SUM 1e-4

/* ---- fully connected layers ---------------------------------------------------------------- */

static void linear_case(int B, int NI, int O, int bias) {
    float *x = fnew((size_t)B * NI), *w = fnew((size_t)O * NI), *b = fnew(O);
    float *dz = fnew((size_t)B * O);
    fill(x, (size_t)B * NI, -1, 1);
    fill(w, (size_t)O * NI, -0.2f, 0.2f);
    fill(b, O, -0.5f, 0.5f);
    fill(dz, (size_t)B * O, -1, 1);
    float *z = fnew((size_t)B * O), *dx = fnew((size_t)B * NI), *dw = fnew((size_t)O * NI),
          *db = fnew(O);
    ms_linear_forward(z, x, w, bias ? b : NULL, B, NI, O);
    ms_linear_backward(dx, dw, bias ? db : NULL, dz, x, w, B, NI, O);
    float *gx = up(x, (size_t)B * NI), *gw = up(w, (size_t)O * NI), *gb = up(b, O);
    float *gdz = up(dz, (size_t)B * O), *gz = dnew(sizeof(float) * B * O);
    float *gdx = dnew(sizeof(float) * B * NI), *gdw = dnew(sizeof(float) * O * NI),
          *gdb = dnew(sizeof(float) * O);
    ms_linear_forward_gpu(gz, gx, gw, bias ? gb : NULL, B, NI, O);
    ms_linear_backward_gpu(gdx, gdw, bias ? gdb : NULL, gdz, gx, gw, B, NI, O);
    float *hz = down(gz, (size_t)B * O), *hdx = down(gdx, (size_t)B * NI),
          *hdw = down(gdw, (size_t)O * NI), *hdb = down(gdb, O);
    char what[64];
    snprintf(what, sizeof what, "linear %dx%d->%d%s z", B, NI, O, bias ? " +b" : "");
    compare_f(what, z, hz, (size_t)B * O, T_SUM);
    compare_f("  dx", dx, hdx, (size_t)B * NI, T_SUM);
    compare_f("  dw", dw, hdw, (size_t)O * NI, T_SUM);
    if (bias) compare_f("  db", db, hdb, O, T_SUM);
    float *p[] = {x, w, b, dz, z, dx, dw, db, hz, hdx, hdw, hdb};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++)
        free(p[i]);
    float *g[] = {gx, gw, gb, gdz, gz, gdx, gdw, gdb};
    for (size_t i = 0; i < sizeof g / sizeof *g; i++)
        ms_gpu_free(g[i]);
}

static void test_linear(void) {
    linear_case(37, 300, 45, 1);
    linear_case(64, 4096, 64, 0);
    linear_case(1, 7, 10, 1);
}

/* ---- ReLU and dropout ---------------------------------------------------------------------- */

static void test_relu_dropout(void) {
    const int B = 33, O = 70;
    const size_t n = (size_t)B * O;
    const float ps[] = {0.0f, 0.3f};
    for (int k = 0; k < 2; k++) {
        float *a = fnew(n), *d = fnew(n);
        fill(a, n, -1, 1);
        fill(d, n, -1, 1);
        float *ga = up(a, n), *gd = up(d, n);
        ms_relu_dropout_forward(a, B, O, ps[k], 77, 12, 1000);
        ms_relu_dropout_forward_gpu(ga, B, O, ps[k], 77, 12, 1000);
        ms_relu_dropout_backward(d, a, (int)n, ps[k]);
        ms_relu_dropout_backward_gpu(gd, ga, (int)n, ps[k]);
        float *ha = down(ga, n), *hd = down(gd, n);
        compare_f(ps[k] > 0 ? "relu+dropout 0.3 forward (same mask)" : "relu forward", a, ha, n, 0);
        compare_f("  backward", d, hd, n, 0);
        free(a), free(d), free(ha), free(hd);
        ms_gpu_free(ga), ms_gpu_free(gd);
    }
}

/* ---- conv blocks --------------------------------------------------------------------------- */

static void conv_case(int B, int C, int H, int W, int F, int K, int P, int bias) {
    const int HO = H + 2 * P - K + 1, WO = W + 2 * P - K + 1, PH = HO / 2, PW = WO / 2;
    const size_t nx = (size_t)B * C * H * W, nw = (size_t)F * C * K * K;
    const size_t na = (size_t)B * F * HO * WO, np = (size_t)B * F * PH * PW;
    float *x = fnew(nx), *w = fnew(nw), *b = fnew(F), *act = fnew(na), *pooled = fnew(np);
    uint8_t *idx = calloc(np, 1);
    fill(x, nx, -1, 1);
    fill(w, nw, -0.3f, 0.3f);
    fill(b, F, -0.1f, 0.1f);
    float *scratch = fnew(ms_conv_scratch_floats(C, H, W, F, K, P) * (size_t)ms_kernels_threads());
    ms_conv_relu_pool_forward(act, pooled, idx, x, w, bias ? b : NULL, B, C, H, W, F, K, P,
                              scratch);
    float *gx = up(x, nx), *gw = up(w, nw), *gb = up(b, F), *gact = dnew(sizeof(float) * na);
    float *gpool = dnew(sizeof(float) * np);
    uint8_t *gidx = dnew(np);
    ms_conv_relu_pool_forward_gpu(gact, gpool, gidx, gx, gw, bias ? gb : NULL, B, C, H, W, F, K, P,
                                  NULL);
    float *hact = down(gact, na), *hpool = down(gpool, np);
    uint8_t *hidx = calloc(np, 1);
    CHECK_OK(ms_gpu_d2h(hidx, gidx, np));
    char what[96];
    snprintf(what, sizeof what, "conv %dx%dx%dx%d F%d K%d P%d%s act", B, C, H, W, F, K, P,
             bias ? " +b" : "");
    compare_f(what, act, hact, na, T_SUM);
    compare_f("  pooled", pooled, hpool, np, T_SUM);
    /* Pooling indices: equal, except where two window values are a rounding
     * apart (a near tie the two sums may order differently). */
    long differ = 0, near_ties = 0;
    for (size_t q = 0; q < np; q++) {
        if (idx[q] == hidx[q]) continue;
        const float *plane = act + (q / ((size_t)PH * PW)) * HO * WO;
        /* The window's outputs at the two places (2 dy + dx). */
        const int py = (int)(q % ((size_t)PH * PW)) / PW, px = (int)(q % PW);
        const float a1 = plane[(2 * py + (idx[q] >> 1)) * WO + 2 * px + (idx[q] & 1)];
        const float a2 = plane[(2 * py + (hidx[q] >> 1)) * WO + 2 * px + (hidx[q] & 1)];
        if (fabsf(a1 - a2) <= 1e-5f * (1 + fabsf(a1)))
            near_ties++;
        else
            differ++;
    }
    printf("    %-36s %ld differ (%ld near ties allowed)\n", "  pooling indices", differ,
           near_ties);
    CHECK_EQ_INT(differ, 0);

    /* Backward from the CPU's forward state (the same act and idx on both). */
    float *dp = fnew(np), *dx = fnew(nx), *dw = fnew(nw), *db = fnew(F);
    fill(dp, np, -1, 1);
    float *partial = fnew(ms_conv_backward_partial_floats(B, C, H, W, F, K, P));
    ms_conv_relu_pool_backward(dx, dw, bias ? db : NULL, dp, act, pooled, idx, x, w, B, C, H, W, F,
                               K, P, partial);
    CHECK_OK(ms_gpu_h2d(gact, act, sizeof(float) * na));
    CHECK_OK(ms_gpu_h2d(gidx, idx, np));
    float *gdp = up(dp, np), *gdx = dnew(sizeof(float) * nx), *gdw = dnew(sizeof(float) * nw);
    float *gdb = dnew(sizeof(float) * F);
    float *gpart = dnew(sizeof(float) * ms_conv_backward_partial_floats_gpu(B, C, H, W, F, K, P));
    ms_conv_relu_pool_backward_gpu(gdx, gdw, bias ? gdb : NULL, gdp, gact, NULL, gidx, gx, gw, B, C,
                                   H, W, F, K, P, gpart);
    float *hdx = down(gdx, nx), *hdw = down(gdw, nw), *hdb = down(gdb, F);
    compare_f("  dx", dx, hdx, nx, T_SUM);
    compare_f("  dw", dw, hdw, nw, T_SUM);
    if (bias) compare_f("  db", db, hdb, F, T_SUM);
    float *p[] = {x,  w,  b,  act, pooled,  scratch, hact, hpool,
                  dp, dx, dw, db,  partial, hdx,     hdw,  hdb};
    for (size_t i = 0; i < sizeof p / sizeof *p; i++)
        free(p[i]);
    free(idx), free(hidx);
    void *g[] = {gx, gw, gb, gact, gpool, gidx, gdp, gdx, gdw, gdb, gpart};
    for (size_t i = 0; i < sizeof g / sizeof *g; i++)
        ms_gpu_free(g[i]);
}

static void test_conv(void) {
    conv_case(5, 3, 13, 13, 6, 3, 1, 1);
    conv_case(3, 2, 32, 32, 16, 3, 1, 1);
    conv_case(2, 4, 11, 9, 5, 5, 2, 0);
}

/* ---- loss, argmax, optimisers, penalties ---------------------------------------------------- */

static void test_ce_loss(void) {
    const int B = 300, NC = 10;
    float *z = fnew((size_t)B * NC), *dl = fnew((size_t)B * NC);
    fill(z, (size_t)B * NC, -6, 6);
    uint8_t *y = malloc(B);
    for (int i = 0; i < B; i++)
        y[i] = (uint8_t)((i * 7) % NC);
    double *ps = malloc(sizeof(double) * B), *hps = malloc(sizeof(double) * B);
    const double loss = ms_ce_loss(z, y, B, NC, dl, ps);
    float *gz = up(z, (size_t)B * NC), *gdl = dnew(sizeof(float) * B * NC);
    uint8_t *gy = dnew(B);
    double *gl = dnew(sizeof(double)), *gps = dnew(sizeof(double) * B), hl = 0;
    CHECK_OK(ms_gpu_h2d(gy, y, B));
    ms_ce_loss_gpu(gl, gz, gy, B, NC, gdl, gps);
    CHECK_OK(ms_gpu_d2h(&hl, gl, sizeof hl));
    CHECK_OK(ms_gpu_d2h(hps, gps, sizeof(double) * B));
    float *hdl = down(gdl, (size_t)B * NC);
    printf("    %-36s %.17g vs %.17g (|diff| %.3g, tolerance 1e-12 relative)\n", "ce loss", loss,
           hl, fabs(loss - hl));
    CHECK(fabs(loss - hl) <= 1e-12 * fabs(loss));
    CHECK(ms_max_abs_diff_d(ps, hps, B) <= 1e-12 * 10);
    compare_f("  dlogits", dl, hdl, (size_t)B * NC, T_ELEM);
    /* A non-finite logit makes the loss NaN, as on the CPU. */
    z[17] = INFINITY;
    CHECK_OK(ms_gpu_h2d(gz, z, sizeof(float) * B * NC));
    ms_ce_loss_gpu(gl, gz, gy, B, NC, NULL, NULL);
    CHECK_OK(ms_gpu_d2h(&hl, gl, sizeof hl));
    CHECK(isnan(hl) && isnan(ms_ce_loss(z, y, B, NC, NULL, NULL)));
    free(z), free(dl), free(y), free(ps), free(hps), free(hdl);
    ms_gpu_free(gz), ms_gpu_free(gdl), ms_gpu_free(gy), ms_gpu_free(gl), ms_gpu_free(gps);
}

static void test_argmax(void) {
    const int B = 129, NC = 10;
    float *z = fnew((size_t)B * NC);
    fill(z, (size_t)B * NC, -3, 3);
    uint8_t ref[129], got[129];
    for (int i = 0; i < B; i++) {
        int best = 0;
        for (int c = 1; c < NC; c++)
            if (z[i * NC + c] > z[i * NC + best]) best = c;
        ref[i] = (uint8_t)best;
    }
    float *gz = up(z, (size_t)B * NC);
    uint8_t *gp = dnew(B);
    ms_argmax_gpu(gp, gz, B, NC);
    CHECK_OK(ms_gpu_d2h(got, gp, B));
    printf("    %-36s %s\n", "argmax", memcmp(ref, got, B) ? "DIFFERS" : "equal");
    CHECK(memcmp(ref, got, B) == 0);
    free(z);
    ms_gpu_free(gz), ms_gpu_free(gp);
}

static void test_optimisers(void) {
    const size_t n = 5003;
    float *p = fnew(n), *g = fnew(n), *m = fnew(n), *v = fnew(n);
    fill(p, n, -1, 1);
    float *gp = up(p, n), *gm = up(m, n), *gv = up(v, n), *gg = dnew(sizeof(float) * n);
    for (long t = 1; t <= 3; t++) {
        fill(g, n, -0.1f, 0.1f);
        CHECK_OK(ms_gpu_h2d(gg, g, sizeof(float) * n));
        ms_adam_step(p, g, m, v, n, 1e-3f, 0.9f, 0.999f, 1e-8f, t);
        ms_adam_step_gpu(gp, gg, gm, gv, n, 1e-3f, 0.9f, 0.999f, 1e-8f, t);
    }
    float *hp = down(gp, n), *hm = down(gm, n), *hv = down(gv, n);
    compare_f("adam, 3 steps: params", p, hp, n, T_ELEM);
    compare_f("  m", m, hm, n, T_ELEM);
    compare_f("  v", v, hv, n, T_ELEM);
    free(hp), free(hm), free(hv);
    const float moms[] = {0.0f, 0.9f};
    for (int k = 0; k < 2; k++) {
        memset(m, 0, sizeof(float) * n);
        CHECK_OK(ms_gpu_h2d(gp, p, sizeof(float) * n));
        CHECK_OK(ms_gpu_zero(gm, sizeof(float) * n));
        for (long t = 1; t <= 3; t++) {
            fill(g, n, -0.1f, 0.1f);
            CHECK_OK(ms_gpu_h2d(gg, g, sizeof(float) * n));
            ms_sgd_step(p, g, m, n, 0.05f, moms[k], t);
            ms_sgd_step_gpu(gp, gg, gm, n, 0.05f, moms[k], t);
        }
        hp = down(gp, n);
        compare_f(moms[k] > 0 ? "sgd momentum 0.9, 3 steps" : "sgd, 3 steps", p, hp, n, T_ELEM);
        free(hp);
    }
    /* The penalty gradient of one weight tensor (ms_params_penalty's). */
    ms_arch_t a = {.in_c = 1, .in_h = 4, .in_w = 4, .n_fc = 2, .fc_out = {7, 10}, .fc_bias = 1};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    float *prm = fnew(L.n_params), *grad = fnew(L.n_params);
    fill(prm, L.n_params, -1, 1);
    fill(grad, L.n_params, -1, 1);
    float *gprm = up(prm, L.n_params), *ggrad = up(grad, L.n_params);
    ms_params_penalty(&L, prm, grad, 1e-3f, 2e-3f);
    for (int t = 0; t < L.n_tensors; t++)
        if (L.t[t].kind == MS_T_WEIGHT)
            ms_penalty_grad_gpu(ggrad + L.t[t].off, gprm + L.t[t].off, L.t[t].n, 1e-3f, 2e-3f);
    float *hg = down(ggrad, L.n_params);
    compare_f("l1 + l2 penalty gradient", grad, hg, L.n_params, T_ELEM);
    free(prm), free(grad), free(hg), free(p), free(g), free(m), free(v);
    ms_gpu_free(gprm), ms_gpu_free(ggrad), ms_gpu_free(gp), ms_gpu_free(gm), ms_gpu_free(gv),
        ms_gpu_free(gg);
}

/* ---- clusterability and gradient similarity (references of cluster_ref.h) ------------------- */

static void test_clusterability(void) {
    const int O = 64, NI = 150, k = 4;
    float *w = fnew((size_t)O * NI), *grad = fnew((size_t)O * NI);
    fill(w, (size_t)O * NI, -1, 1);
    fill(grad, (size_t)O * NI, -0.01f, 0.01f);
    int32_t rc[64], cc[150];
    /* "blocks": contiguous equal blocks, the last takes the remainder. */
    for (int i = 0; i < O; i++)
        rc[i] = i / (O / k) < k - 1 ? i / (O / k) : k - 1;
    for (int j = 0; j < NI; j++)
        cc[j] = j / (NI / k) < k - 1 ? j / (NI / k) : k - 1;
    float *gw = up(w, (size_t)O * NI), *gg = up(grad, (size_t)O * NI);
    int32_t *grc = dnew(sizeof rc), *gcc = dnew(sizeof cc);
    float *gf = dnew(sizeof(float)), hf = 0;
    CHECK_OK(ms_gpu_h2d(grc, rc, sizeof rc));
    CHECK_OK(ms_gpu_h2d(gcc, cc, sizeof cc));
    const double f = ref_clusterability(w, rc, cc, O, NI, 20.0f, grad);
    ms_clusterability_grad_gpu(gf, gg, gw, grc, gcc, O, NI, 20.0f);
    CHECK_OK(ms_gpu_d2h(&hf, gf, sizeof hf));
    float *hg = down(gg, (size_t)O * NI);
    printf("    %-36s %.9g vs %.9g (|diff| %.3g, tolerance 1e-6)\n", "clusterability", f, hf,
           fabs(f - hf));
    CHECK(fabs(f - hf) <= 1e-6);
    compare_f("  gradient of -lambda * clusterability", grad, hg, (size_t)O * NI, T_ELEM);
    free(w), free(grad), free(hg);
    ms_gpu_free(gw), ms_gpu_free(gg), ms_gpu_free(grc), ms_gpu_free(gcc), ms_gpu_free(gf);
}

static void test_gradsim(void) {
    const int O = 20, NI = 70;
    const size_t ng = (size_t)O * NI, ns = (size_t)NI * NI;
    float *g = fnew(ng);
    double *ref = calloc(ns, sizeof(double)), *hS = calloc(ns, sizeof(double));
    double *gS = dnew(sizeof(double) * ns), *scratch = dnew(sizeof(double) * ng);
    float *gg = dnew(sizeof(float) * ng);
    /* Many steps of gradients of very different sizes: a float accumulator
     * drifts by ~1e-7 per step relative, the double one by ~1e-16. */
    const int steps = 200;
    for (int step = 0; step < steps; step++) {
        fill(g, ng, -1, 1);
        for (size_t e = 0; e < ng; e++)
            g[e] *= (float)ldexp(1.0, step % 13 - 6);
        if (step == 1) memset(g, 0, sizeof(float) * ng); /* a zero gradient adds nothing */
        ref_gradsim_add(ref, g, O, NI);
        CHECK_OK(ms_gpu_h2d(gg, g, sizeof(float) * ng));
        ms_gradsim_accumulate_gpu(gS, gg, O, NI, scratch);
    }
    CHECK_OK(ms_gpu_d2h(hS, gS, sizeof(double) * ns));
    compare_d("gradient similarity, 200 steps", ref, hS, ns, 1e-12);
    free(g), free(ref), free(hS);
    ms_gpu_free(gS), ms_gpu_free(gg), ms_gpu_free(scratch);
}

/* ---- the canonical arithmetic on the device ------------------------------------------------- */

static void test_canon_device(void) {
    const int n = 200000;
    double *x = malloc(sizeof(double) * n), *ex = malloc(sizeof(double) * n),
           *lg = malloc(sizeof(double) * n), *ce = malloc(sizeof(double) * (n / 10));
    ms_i128 *fx = malloc(sizeof(ms_i128) * n);
    ms_rng_t r;
    ms_rng_init(&r, 9, MS_RNG_TESTDATA, 1);
    for (int i = 0; i < n; i++) {
        const double u = ms_rng_double(&r);
        switch (i % 4) {
        case 0:
            x[i] = (u - 0.5) * 1500.0;
            break; /* exp's whole range, the ends included */
        case 1:
            x[i] = (u - 0.5) * 40.0;
            break; /* logits */
        case 2:
            x[i] = u * 1e-300;
            break; /* subnormals and tiny values for log */
        default:
            x[i] = (u - 0.5) * 2e-3;
            break; /* near zero */
        }
    }
    CHECK_OK(ms__gpu_canon_eval(x, n, ex, lg, fx, ce));
    long bad_e = 0, bad_l = 0, bad_f = 0, bad_c = 0;
    for (int i = 0; i < n; i++) {
        const double e = ms_canon_exp(x[i]), l = ms_canon_log(fabs(x[i]));
        bad_e += memcmp(&e, &ex[i], sizeof e) != 0;
        bad_l += memcmp(&l, &lg[i], sizeof l) != 0;
        bad_f += ms_canon_fixed_loss(fabs(x[i])) != fx[i];
        if (i % 10 == 0 && i + 10 <= n) {
            const double c = ms_canon_ce(x + i, 10, (i / 10) % 10);
            bad_c += memcmp(&c, &ce[i / 10], sizeof c) != 0;
        }
    }
    printf("    %-36s exp %ld, log %ld, fixed %ld, ce %ld of %d differ (tolerance 0)\n",
           "canonical arithmetic on the device", bad_e, bad_l, bad_f, bad_c, n);
    CHECK(bad_e == 0 && bad_l == 0 && bad_f == 0 && bad_c == 0);
    free(x), free(ex), free(lg), free(ce), free(fx);
}

/* ---- the whole network and evaluation -------------------------------------------------------- */

static void test_network(void) {
    ms_arch_t a = {.in_c = 3,
                   .in_h = 16,
                   .in_w = 16,
                   .n_conv = 1,
                   .conv_c = {8},
                   .conv_k = 3,
                   .conv_pad = 1,
                   .conv_bias = 1,
                   .n_fc = 3,
                   .fc_out = {32, 24, 10},
                   .fc_bias = 1,
                   .dropout = 0.2f};
    const int B = 40;
    ms_net_t net;
    ms_gpu_net_t gnet;
    CHECK_OK(ms_net_init(&net, &a, B, 1));
    CHECK_OK(ms_gpu_net_init(&gnet, &a, B));
    const ms_layout_t *L = &net.L;
    const size_t P = L->n_params, D = 3 * 16 * 16;
    float *params = fnew(P), *x = fnew((size_t)B * D), *grad = fnew(P);
    ms_params_init(L, params, 3);
    fill(x, (size_t)B * D, -1, 1);
    uint8_t y[40];
    for (int i = 0; i < B; i++)
        y[i] = (uint8_t)(i % 10);
    float *gp = up(params, P), *gx = up(x, (size_t)B * D), *gg = dnew(sizeof(float) * P);
    uint8_t *gy = dnew(B);
    double *gl = dnew(sizeof(double)), hl = 0;
    CHECK_OK(ms_gpu_h2d(gy, y, B));
    ms_dropout_t drop = {.seed = 5, .step = 9};
    ms_net_forward(&net, params, x, B, &drop);
    const double loss = ms_net_ce_loss(&net, y, B, NULL);
    ms_net_backward(&net, params, x, B, grad);
    ms_net_forward_gpu(&gnet, gp, gx, B, &drop);
    ms_net_ce_loss_gpu(&gnet, gy, B, gl);
    ms_net_backward_gpu(&gnet, gp, gx, B, gg);
    CHECK_OK(ms_gpu_d2h(&hl, gl, sizeof hl));
    printf("    %-36s %.12g vs %.12g\n", "network (dropout 0.2): loss", loss, hl);
    CHECK(fabs(loss - hl) <= 1e-5 * fabs(loss));
    float *hg = down(gg, P);
    for (int t = 0; t < L->n_tensors; t++) {
        char what[64];
        snprintf(what, sizeof what, "  grad %s", L->t[t].name);
        compare_f(what, grad + L->t[t].off, hg + L->t[t].off, L->t[t].n, 1e-3);
    }
    /* Evaluation on a split, all classes and one class. */
    ms_images_t im;
    ms_split_t s;
    CHECK_OK(ms_images_synthetic(&im, 700, 3, 16, 16, 4));
    CHECK_OK(ms_split_from_images(&s, &im, MS_LAYOUT_NATIVE, MS_NORM_UNIT, NULL, NULL, 0));
    ms_images_free(&im);
    ms_gpu_split_t gs;
    CHECK_OK(ms_gpu_split_upload(&gs, &s));
    for (int label = -1; label <= 3; label += 4) {
        double cw[MS_MAX_CLASSES], gcw[MS_MAX_CLASSES], ml, gml;
        const double acc = ms_evaluate(&net, params, &s, label, cw, &ml);
        const double gacc = ms_evaluate_gpu(&gnet, gp, &gs, label, gcw, &gml);
        printf("    %-36s accuracy %.6f vs %.6f, mean loss %.9g vs %.9g\n",
               label < 0 ? "evaluate (all classes)" : "evaluate (class 3 only)", acc, gacc, ml,
               gml);
        /* Argmax may differ only at a near tie of two logits: one image at most here. */
        CHECK(fabs(acc - gacc) <= 1.0 / 700 + 1e-12);
        CHECK(fabs(ml - gml) <= 1e-5 * fabs(ml));
        for (int c = 0; c < MS_MAX_CLASSES; c++)
            CHECK((isnan(cw[c]) && isnan(gcw[c])) || fabs(cw[c] - gcw[c]) <= 0.02);
    }
    ms_gpu_split_free(&gs);
    ms_split_free(&s);
    free(params), free(x), free(grad), free(hg);
    ms_gpu_free(gp), ms_gpu_free(gx), ms_gpu_free(gg), ms_gpu_free(gy), ms_gpu_free(gl);
    ms_net_free(&net);
    ms_gpu_net_free(&gnet);
}

/* ---- pruning ----------------------------------------------------------------------------------
 */

/* In team mode (see main) the GPU pruning splits each window across the
 * ranks of MPI_COMM_WORLD, reducing through NCCL when team is set. */
static MPI_Comm prune_comm;
static ms_gpu_team_t *prune_team;

static void prune_case(const char *name, const ms_arch_t *arch, int label, int max_images,
                       uint32_t layers, int cut_unit) {
    prune_case_t pc;
    CHECK_OK(prune_case_init(&pc, arch, 2000, 2, 31, label, max_images, layers, cut_unit));
    if (!pc.params) return;
    ms_prune_result_t cpu = {.mask = malloc(pc.NW)}, emu = {.mask = malloc(pc.NW)},
                      gpu = {.mask = malloc(pc.NW)};
    CHECK_OK(ms_prune(&pc.L, pc.params, pc.x, pc.N, &pc.cfg, &cpu));
    const int windows[] = {0, 1, 5, 1024};
    for (int wi = 0; wi < 4; wi++) {
        pc.cfg.window = windows[wi];
        pc.cfg.comm = prune_comm;
        CHECK_OK(
            ms_prune_dev(&pc.L, pc.params, pc.x, pc.N, &pc.cfg, NULL, ms_pdev_host_ops(), &emu));
        CHECK_OK(ms_prune_gpu(&pc.L, pc.params, pc.x, pc.N, &pc.cfg, prune_team, &gpu));
        pc.cfg.comm = MPI_COMM_SELF;
        long diff = 0;
        for (size_t j = 0; j < pc.NW; j++)
            diff += cpu.mask[j] != gpu.mask[j];
        printf("    %-28s window %4d: %ld of %zu mask entries differ, L0 %.9f -> %.9f vs %.9f "
               "-> %.9f, ties %ld/%ld, %.3f s\n",
               name, windows[wi], diff, pc.NW, cpu.loss0, cpu.loss_final, gpu.loss0, gpu.loss_final,
               cpu.ties, gpu.ties, gpu.seconds);
        CHECK_EQ_INT(diff, 0);
        CHECK(gpu.loss0 == cpu.loss0);
        CHECK(gpu.loss_final == cpu.loss_final);
        CHECK_EQ_INT(gpu.ties, cpu.ties);
        /* The same algorithm as the emulation: the same windows and states. */
        CHECK_EQ_INT(gpu.windows, emu.windows);
        CHECK_EQ_INT(gpu.evaluated, emu.evaluated);
    }
    free(cpu.mask), free(emu.mask), free(gpu.mask);
    prune_case_free(&pc);
}

static void test_prune(void) {
    prune_case("mlp with bias", &prune_arch_mlp, 7, 60, 0x7, -1);
    prune_case("mlp, fc1 unit 5 unread", &prune_arch_mlp, 2, 50, 0x7, 5);
    prune_case("cnn", &prune_arch_cnn, 1, 200, 0xF, -1);
    prune_case("cnn, two conv blocks", &prune_arch_cnn2, 4, 40, 0x7, -1);
}

/* Team mode: the trained model shared through NCCL (when there is a team). */
static void test_team_bcast(void) {
    if (!prune_team) {
        printf("    no NCCL team (one GPU shared by the ranks, or no NCCL): MPI reductions\n");
        return;
    }
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    const size_t n = 1000;
    float *h = fnew(n), *ref = fnew(n);
    sub_stream = 900;
    fill(ref, n, -1, 1);
    if (rank == 0) memcpy(h, ref, sizeof(float) * n);
    float *d = up(h, n);
    CHECK_OK(ms_gpu_team_bcast(prune_team, d, n, 0));
    float *got = down(d, n);
    CHECK(memcmp(got, ref, sizeof(float) * n) == 0);
    printf("    NCCL broadcast of %zu floats: %s\n", n,
           memcmp(got, ref, sizeof(float) * n) ? "DIFFERS" : "equal on every rank");
    free(h), free(ref), free(got);
    ms_gpu_free(d);
}

#endif

int main(int argc, char **argv) {
    int rc = ms_test_need_gpu();
    if (rc) return rc;
#if MODSWEEP_HAVE_CUDA
    if (argc > 1 && strcmp(argv[1], "--probe") == 0) return 0; /* a GPU is there */
    /* `test_cuda_kernels team` under mpirun (test_cuda_team.sh): only the
     * pruning, with each window split across the ranks (each rank binds its
     * GPU below). */
    const int team_mode = argc > 1 && strcmp(argv[1], "team") == 0;
    ms_test_gpu_begin(&argc, &argv, !team_mode);
    prune_comm = MPI_COMM_SELF;
    if (team_mode) {
        int dev = -1;
        CHECK_OK(ms_gpu_bind(MPI_COMM_WORLD, &dev));
        CHECK_OK(ms_gpu_team_init(&prune_team, MPI_COMM_WORLD));
        prune_comm = MPI_COMM_WORLD;
        RUN_TEST(test_team_bcast);
        RUN_TEST(test_prune);
        ms_gpu_team_free(prune_team);
        return ms_test_gpu_end();
    }
    char name[128];
    double peak;
    ms_gpu_describe(name, sizeof name, &peak);
    printf("GPU 0: %s (peak FP32 %.1f TFLOP/s)\n", name, peak / 1000);
    RUN_TEST(test_canon_device);
    RUN_TEST(test_linear);
    RUN_TEST(test_relu_dropout);
    RUN_TEST(test_conv);
    RUN_TEST(test_ce_loss);
    RUN_TEST(test_argmax);
    RUN_TEST(test_optimisers);
    RUN_TEST(test_clusterability);
    RUN_TEST(test_gradsim);
    RUN_TEST(test_network);
    RUN_TEST(test_prune);
    rc = ms_test_gpu_end();
#endif
    return rc;
}
