/* Tests of the information measures and the ablation (src/analysis/infotheory.c,
 * seed 002) against known answers and independent references:
 * - entropies of hand-built histograms (uniform bins, a constant, the
 *   histc edge rule), identical activations (I = H, H(X|Y) = 0) and
 *   independent ones (I near 0), a 2x2 joint distribution worked by hand;
 * - the seed's four measures against a direct re-implementation that bins
 *   with its own loops;
 * - neuron and direction ablation against a plain forward pass written
 *   here; the analytic gradient against central differences; the max-KL
 *   search converges, beats every neuron and 2000 random directions, and
 *   ends with a tangent gradient near zero. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "modsweep/error.h"
#include "modsweep/infotheory.h"
#include "modsweep/kernels.h"
#include "modsweep/nn.h"
#include "modsweep/rng.h"

/* ---- binning and entropies ------------------------------------------------ */

static void test_uniform_bins(void) {
    /* 10 samples x 1 column with values 0..9: with 10 bins each value gets
     * its own bin (the maximum goes to the last), so H = log 10. */
    float x[10];
    for (int i = 0; i < 10; i++)
        x[i] = (float)i;
    ms_info_sel_t a = {.x = x, .ld = 1, .n = 1};
    CHECK_NEAR(ms_info_entropy(&a, 10, 10), log(10.0), 1e-12);
    /* 5 bins: two values per bin. */
    CHECK_NEAR(ms_info_entropy(&a, 10, 5), log(5.0), 1e-12);
    /* A constant tensor is one bin. */
    float c[6] = {2, 2, 2, 2, 2, 2};
    ms_info_sel_t b = {.x = c, .ld = 2, .n = 2};
    CHECK_NEAR(ms_info_entropy(&b, 3, 10), 0.0, 1e-15);
    /* histc's edges: 0, 0.5, 1 in 2 bins: [0, 0.5) -> 0, 0.5 and 1 -> 1: p = 1/3, 2/3. */
    float e[3] = {0.0f, 0.5f, 1.0f};
    ms_info_sel_t s = {.x = e, .ld = 1, .n = 1};
    CHECK_NEAR(ms_info_entropy(&s, 3, 2), -(1.0 / 3) * log(1.0 / 3) - (2.0 / 3) * log(2.0 / 3),
               1e-12);
}

static void test_identical_and_independent(void) {
    enum { N = 20000, U = 3 };
    float *x = malloc(sizeof(float) * N * U), *y = malloc(sizeof(float) * N * U);
    ms_rng_t r;
    ms_rng_init(&r, 11, MS_RNG_TESTDATA, 0);
    for (int i = 0; i < N * U; i++)
        x[i] = ms_rng_float(&r);
    for (int i = 0; i < N * U; i++)
        y[i] = ms_rng_float(&r);
    int64_t hist[100];
    ms_info_stats_t st;
    ms_info_sel_t sx = {.x = x, .ld = U, .n = U}, sy = {.x = y, .ld = U, .n = U};
    /* Identical: I(X;X) = H(X) = H(X,X), H(X|X) = 0. */
    CHECK_OK(ms_info_pair(&sx, &sx, N, 10, hist, &st));
    CHECK_NEAR(st.mi, st.hx, 1e-12);
    CHECK_NEAR(st.hxy, st.hx, 1e-12);
    CHECK_NEAR(st.hx_given_y, 0.0, 1e-12);
    CHECK_NEAR(st.hx, log(10.0), 0.01); /* uniform values: nearly log 10 */
    /* Independent uniform values: I near 0 (plug-in bias about 81 / (2 N U)). */
    CHECK_OK(ms_info_pair(&sx, &sy, N, 10, hist, &st));
    CHECK(st.mi >= 0.0);
    CHECK_MSG(st.mi < 0.003, "MI of independent activations is %g", st.mi);
    CHECK_NEAR(st.hx_given_y, st.hx, 0.003);
    CHECK_NEAR(st.hxy, st.hx + st.hy, 0.003);
    /* A deterministic function that is not the identity: Y = 1 - X is as
     * informative as X itself. */
    for (int i = 0; i < N * U; i++)
        y[i] = 1.0f - x[i];
    CHECK_OK(ms_info_pair(&sx, &sy, N, 10, hist, &st));
    CHECK_MSG(st.hx_given_y < 0.01 && fabs(st.mi - st.hx) < 0.01,
              "Y = 1 - X: H(X|Y) %g, I %g, H(X) %g", st.hx_given_y, st.mi, st.hx);
    free(x);
    free(y);
}

static void test_joint_by_hand(void) {
    /* Two binary variables with p(0,0) = p(1,1) = 0.4, p(0,1) = p(1,0) = 0.1
     * (10 observations), values 0 and 1 in 2 bins. */
    float x[10] = {0, 0, 0, 0, 1, 1, 1, 1, 0, 1};
    float y[10] = {0, 0, 0, 0, 1, 1, 1, 1, 1, 0};
    ms_info_sel_t sx = {.x = x, .ld = 1, .n = 1}, sy = {.x = y, .ld = 1, .n = 1};
    int64_t hist[4];
    ms_info_stats_t st;
    CHECK_OK(ms_info_pair(&sx, &sy, 10, 2, hist, &st));
    const double hxy = -2 * 0.4 * log(0.4) - 2 * 0.1 * log(0.1);
    CHECK_NEAR(st.hx, log(2.0), 1e-12);
    CHECK_NEAR(st.hy, log(2.0), 1e-12);
    CHECK_NEAR(st.hxy, hxy, 1e-12);
    CHECK_NEAR(st.mi, 2 * log(2.0) - hxy, 1e-12);
    CHECK_NEAR(st.hx_given_y, hxy - log(2.0), 1e-12);
    /* Pairing runs over the columns both have: a 1-column X against a 2-column Y. */
    float y2[20];
    for (int i = 0; i < 10; i++)
        y2[2 * i] = y[i], y2[2 * i + 1] = 100.0f * (i % 3);
    ms_info_sel_t sy2 = {.x = y2, .ld = 2, .cols = NULL, .n = 1};
    CHECK_OK(ms_info_pair(&sx, &sy2, 10, 2, hist, &st));
    CHECK_NEAR(st.hxy, hxy, 1e-12);
}

/* An independent reference for one conditional entropy H(X|Y) of the
 * seed's pairing: its own binning loops and a dense joint table. */
static double ref_cond(const float *X, int ldx, const int *cx, int nx, const float *Y, int ldy,
                       const int *cy, int ny, int N, int bins) {
    double lx = 1e300, hx = -1e300, ly = 1e300, hy = -1e300;
    for (int n = 0; n < N; n++) {
        for (int j = 0; j < nx; j++) {
            double v = X[n * ldx + cx[j]];
            lx = v < lx ? v : lx, hx = v > hx ? v : hx;
        }
        for (int j = 0; j < ny; j++) {
            double v = Y[n * ldy + cy[j]];
            ly = v < ly ? v : ly, hy = v > hy ? v : hy;
        }
    }
    double *joint = calloc((size_t)bins * bins, sizeof(double)), *py = calloc(bins, sizeof(double));
    int J = nx < ny ? nx : ny;
    for (int n = 0; n < N; n++)
        for (int j = 0; j < J; j++) {
            int bx = hx > lx ? (int)floor((X[n * ldx + cx[j]] - lx) / (hx - lx) * bins) : 0;
            int by = hy > ly ? (int)floor((Y[n * ldy + cy[j]] - ly) / (hy - ly) * bins) : 0;
            if (bx == bins) bx--;
            if (by == bins) by--;
            joint[bx * bins + by] += 1.0 / (N * J);
            py[by] += 1.0 / (N * J);
        }
    double h = 0;
    for (int a = 0; a < bins; a++)
        for (int b = 0; b < bins; b++)
            if (joint[a * bins + b] > 0)
                h -= joint[a * bins + b] * log(joint[a * bins + b] / py[b]);
    free(joint);
    free(py);
    return h;
}

static void test_module_measures(void) {
    enum { N = 500, UA = 12, UB = 9, NA_ = 4, NB_ = 4, BINS = 6 };
    float *A = malloc(sizeof(float) * N * UA), *B = malloc(sizeof(float) * N * UB);
    ms_rng_t r;
    ms_rng_init(&r, 3, MS_RNG_TESTDATA, 1);
    for (int i = 0; i < N * UA; i++)
        A[i] = (float)ms_rng_normal(&r);
    int pa[NA_], pb[NB_];
    ms_info_unitset(UA, NA_, 9, 0, pa);
    ms_info_unitset(UB, NB_, 9, 1, pb);
    /* B's unit set copies A's; its other units are noise plus a little of A. */
    for (int n = 0; n < N; n++)
        for (int u = 0; u < UB; u++)
            B[n * UB + u] = (float)ms_rng_normal(&r) + 0.3f * A[n * UA + u];
    for (int n = 0; n < N; n++)
        for (int k = 0; k < NB_; k++)
            B[n * UB + pb[k]] = A[n * UA + pa[k]];
    int cols[UA];
    int64_t hist[BINS * BINS];
    double meas[4], comp[3];
    CHECK_OK(ms_info_module(A, UA, B, UB, N, pa, NA_, pb, NB_, BINS, cols, hist, meas, comp));
    /* The references. */
    int notp[UA], all[UA], nn = 0;
    for (int i = 0; i < UA; i++) {
        all[i] = i;
        int in = 0;
        for (int k = 0; k < NA_; k++)
            in |= pa[k] == i;
        if (!in) notp[nn++] = i;
    }
    CHECK_NEAR(meas[0], ref_cond(B, UB, pb, NB_, A, UA, notp, nn, N, BINS), 1e-10);
    CHECK_NEAR(meas[2], ref_cond(B, UB, pb, NB_, A, UA, all, UA, N, BINS), 1e-10);
    CHECK_NEAR(meas[3], ref_cond(B, UB, pb, NB_, A, UA, pa, NA_, N, BINS), 1e-10);
    /* Copied units: knowing A_P leaves nothing of B_P unknown. */
    CHECK_NEAR(meas[3], 0.0, 1e-12);
    ms_info_sel_t a2p = {.x = B, .ld = UB, .cols = pb, .n = NB_};
    CHECK_NEAR(meas[1], ms_info_entropy(&a2p, N, BINS), 1e-15);
    CHECK_NEAR(comp[0], meas[0] - meas[1], 1e-15);
    CHECK_NEAR(comp[1], meas[2] - meas[3], 1e-15);
    CHECK_NEAR(comp[2], meas[2] - meas[0], 1e-15);
    /* A unit set covering the whole earlier layer is refused. */
    int every[UA];
    for (int i = 0; i < UA; i++)
        every[i] = i;
    CHECK_EQ_INT(ms_info_module(A, UA, B, UB, N, every, UA, pb, NB_, BINS, cols, hist, meas, comp),
                 MS_EINVAL);
    free(A);
    free(B);
}

static void test_unitset(void) {
    int a[7], b[7], seen[20] = {0};
    ms_info_unitset(20, 7, 5, 3, a);
    ms_info_unitset(20, 7, 5, 3, b);
    CHECK(memcmp(a, b, sizeof a) == 0);
    for (int i = 0; i < 7; i++) {
        CHECK(a[i] >= 0 && a[i] < 20);
        if (a[i] >= 0 && a[i] < 20) CHECK_EQ_INT(seen[a[i]]++, 0);
    }
    ms_info_unitset(20, 7, 5, 4, b);
    CHECK(memcmp(a, b, sizeof a) != 0);
}

/* ---- ablation -------------------------------------------------------------- */

/* A small MLP with bias: 6 -> 8 -> 7 -> 5. */
static ms_arch_t small_arch(void) {
    ms_arch_t a = {.in_c = 1, .in_h = 2, .in_w = 3, .n_fc = 3, .fc_out = {8, 7, 5}, .fc_bias = 1};
    return a;
}

/* Reference: mean KL(p' || p) and mean H(p') - H(p) with d projected out of
 * fc layer `layer`'s output, by a plain forward pass (loops, double). */
static void ref_ablate(const ms_layout_t *L, const float *params, const float *x, int N, int layer,
                       const double *d, double *kl, double *dh) {
    const ms_arch_t *a = &L->arch;
    double act[2][64], logits[2][16];
    *kl = *dh = 0;
    for (int n = 0; n < N; n++) {
        for (int pass = 0; pass < 2; pass++) {
            double in[64];
            int NI = L->fc_in[0];
            for (int i = 0; i < NI; i++)
                in[i] = x[n * NI + i];
            for (int l = 0; l < a->n_fc; l++) {
                const float *W = params + L->t[L->fc_weight[l]].off;
                const float *b = params + L->t[L->fc_bias_t[l]].off;
                double out[64];
                for (int o = 0; o < a->fc_out[l]; o++) {
                    double s = b[o];
                    for (int i = 0; i < NI; i++)
                        s += (double)W[o * NI + i] * in[i];
                    out[o] = l < a->n_fc - 1 && s < 0 ? 0 : s;
                }
                NI = a->fc_out[l];
                if (l == layer && pass == 1) {
                    double s = 0;
                    for (int i = 0; i < NI; i++)
                        s += out[i] * d[i];
                    for (int i = 0; i < NI; i++)
                        out[i] -= s * d[i];
                }
                memcpy(in, out, sizeof(double) * NI);
            }
            memcpy(act[pass], in, sizeof(double) * NI);
        }
        const int C = a->fc_out[a->n_fc - 1];
        double h[2] = {0, 0}, k = 0;
        for (int pass = 0; pass < 2; pass++) {
            double mx = -1e300, z = 0;
            for (int c = 0; c < C; c++)
                mx = act[pass][c] > mx ? act[pass][c] : mx;
            for (int c = 0; c < C; c++)
                z += exp(act[pass][c] - mx);
            for (int c = 0; c < C; c++)
                logits[pass][c] = act[pass][c] - mx - log(z);
        }
        for (int c = 0; c < C; c++) {
            double p1 = exp(logits[1][c]), p0 = exp(logits[0][c]);
            k += p1 * (logits[1][c] - logits[0][c]);
            h[0] -= p0 * logits[0][c];
            h[1] -= p1 * logits[1][c];
        }
        *kl += k / N;
        *dh += (h[1] - h[0]) / N;
    }
}

typedef struct net_case {
    ms_layout_t L;
    float *params, *x;
    double *h;
    int N, layer, U;
} net_case_t;

/* A random model (weights scaled up so the output reacts strongly), N
 * inputs, and the outputs of fc layer `layer` (computed by ms_net). */
static void make_case(net_case_t *c, int layer, int N, uint64_t seed) {
    ms_arch_t a = small_arch();
    CHECK_OK(ms_layout_init(&c->L, &a));
    c->params = malloc(sizeof(float) * c->L.n_params);
    ms_params_init(&c->L, c->params, seed);
    for (size_t i = 0; i < c->L.n_params; i++)
        c->params[i] *= 3.0f;
    c->N = N;
    c->layer = layer;
    c->U = a.fc_out[layer];
    c->x = malloc(sizeof(float) * N * 6);
    ms_rng_t r;
    ms_rng_init(&r, seed, MS_RNG_TESTDATA, 7);
    for (int i = 0; i < N * 6; i++)
        c->x[i] = (float)ms_rng_normal(&r);
    ms_net_t net;
    CHECK_OK(ms_net_init(&net, &a, N, 1));
    ms_net_forward(&net, c->params, c->x, N, NULL);
    c->h = malloc(sizeof(double) * N * c->U);
    for (int i = 0; i < N * c->U; i++)
        c->h[i] = net.fc_act[layer][i];
    ms_net_free(&net);
}

static void free_case(net_case_t *c) {
    free(c->params);
    free(c->x);
    free(c->h);
}

static void test_ablation_reference(void) {
    for (int layer = 0; layer < 3; layer++) {
        net_case_t c;
        make_case(&c, layer, 37, 21 + layer);
        ms_ablate_t ab;
        CHECK_OK(ms_ablate_init(&ab, &c.L, c.params, layer, c.h, c.N));
        double d[16] = {0}, kl_ref, dh_ref, dh;
        for (int i = 0; i < c.U; i++) {
            memset(d, 0, sizeof d);
            d[i] = 1.0;
            double kl = ms_ablate_eval(&ab, d, &dh, NULL);
            ref_ablate(&c.L, c.params, c.x, c.N, layer, d, &kl_ref, &dh_ref);
            CHECK_NEAR(kl, kl_ref, 1e-6 * (1 + kl_ref));
            CHECK_NEAR(dh, dh_ref, 1e-6 * (1 + fabs(dh_ref)));
        }
        ms_rng_t r;
        ms_rng_init(&r, 5, MS_RNG_TESTDATA, 9);
        double s = 0;
        for (int i = 0; i < c.U; i++)
            d[i] = ms_rng_normal(&r), s += d[i] * d[i];
        for (int i = 0; i < c.U; i++)
            d[i] /= sqrt(s);
        double kl = ms_ablate_eval(&ab, d, &dh, NULL);
        ref_ablate(&c.L, c.params, c.x, c.N, layer, d, &kl_ref, &dh_ref);
        CHECK_NEAR(kl, kl_ref, 1e-6 * (1 + kl_ref));
        CHECK_NEAR(dh, dh_ref, 1e-6 * (1 + fabs(dh_ref)));
        /* Projecting out nothing changes nothing. */
        memset(d, 0, sizeof d);
        CHECK_NEAR(ms_ablate_eval(&ab, d, &dh, NULL), 0.0, 1e-15);
        ms_ablate_free(&ab);
        free_case(&c);
    }
}

static void test_gradient(void) {
    for (int layer = 0; layer < 3; layer++) {
        net_case_t c;
        make_case(&c, layer, 300, 31 + layer); /* 300 samples: more than one block */
        ms_ablate_t ab;
        CHECK_OK(ms_ablate_init(&ab, &c.L, c.params, layer, c.h, c.N));
        double d[16], g[16], dp[16], dm[16];
        ms_rng_t r;
        ms_rng_init(&r, 6, MS_RNG_TESTDATA, 10 + layer);
        for (int i = 0; i < c.U; i++)
            d[i] = 0.5 * ms_rng_normal(&r);
        ms_ablate_eval(&ab, d, NULL, g);
        double worst = 0, scale = 1e-12;
        for (int i = 0; i < c.U; i++) {
            const double eps = 1e-6;
            memcpy(dp, d, sizeof d);
            memcpy(dm, d, sizeof d);
            dp[i] += eps;
            dm[i] -= eps;
            double fd =
                (ms_ablate_eval(&ab, dp, NULL, NULL) - ms_ablate_eval(&ab, dm, NULL, NULL)) /
                (2 * eps);
            worst = fmax(worst, fabs(fd - g[i]));
            scale = fmax(scale, fabs(g[i]));
        }
        CHECK_MSG(worst < 1e-5 * scale, "fc%d: gradient vs central differences: %g (scale %g)",
                  layer + 1, worst, scale);
        ms_ablate_free(&ab);
        free_case(&c);
    }
}

static void test_maxkl(void) {
    for (int layer = 0; layer < 2; layer++) {
        net_case_t c;
        make_case(&c, layer, 200, 41 + layer);
        ms_ablate_t ab;
        CHECK_OK(ms_ablate_init(&ab, &c.L, c.params, layer, c.h, c.N));
        double d[16] = {0}, best_neuron = 0, best_random = 0, g[16];
        int bn = 0;
        for (int i = 0; i < c.U; i++) {
            memset(d, 0, sizeof d);
            d[i] = 1;
            double kl = ms_ablate_eval(&ab, d, NULL, NULL);
            if (kl > best_neuron) best_neuron = kl, bn = i;
        }
        ms_rng_t r;
        ms_rng_init(&r, 8, MS_RNG_TESTDATA, 20 + layer);
        for (int t = 0; t < 2000; t++) {
            double s = 0;
            for (int i = 0; i < c.U; i++)
                d[i] = ms_rng_normal(&r), s += d[i] * d[i];
            for (int i = 0; i < c.U; i++)
                d[i] /= sqrt(s);
            best_random = fmax(best_random, ms_ablate_eval(&ab, d, NULL, NULL));
        }
        memset(d, 0, sizeof d);
        d[bn] = 1;
        int iters = 0, conv = 0;
        double kl = ms_ablate_maxkl(&ab, d, 2000, &iters, &conv);
        CHECK_MSG(conv, "fc%d: the search did not converge in %d steps", layer + 1, iters);
        CHECK_MSG(kl >= best_neuron && kl >= best_random - 1e-9,
                  "fc%d: max-KL %g below the best neuron %g or random direction %g", layer + 1, kl,
                  best_neuron, best_random);
        double nd = 0;
        for (int i = 0; i < c.U; i++)
            nd += d[i] * d[i];
        CHECK_NEAR(nd, 1.0, 1e-12);
        CHECK_NEAR(ms_ablate_eval(&ab, d, NULL, g), kl, 1e-15);
        /* A local maximum on the sphere (possibly at a ReLU kink, where the
         * gradient need not vanish): no nearby direction does better. */
        int better = 0;
        double dn[16];
        for (int t = 0; t < 400; t++) {
            const double angle = t % 2 ? 1e-3 : 1e-6;
            double s = 0;
            for (int i = 0; i < c.U; i++)
                dn[i] = d[i] + angle * ms_rng_normal(&r), s += dn[i] * dn[i];
            for (int i = 0; i < c.U; i++)
                dn[i] /= sqrt(s);
            /* The search stops at a tangent gradient of MS_MAXKL_TOL * KL: a
             * step of this angle can gain at most about angle * that. */
            better += ms_ablate_eval(&ab, dn, NULL, NULL) >
                      kl + 2.0 * angle * MS_MAXKL_TOL * kl + 1e-13 * kl;
        }
        CHECK_MSG(better == 0, "fc%d: %d of 400 nearby directions beat the maximum", layer + 1,
                  better);
        (void)g;
        printf("  fc%d: best neuron %.4f, best of 2000 random directions %.4f, max-KL %.4f "
               "(%d steps)\n",
               layer + 1, best_neuron, best_random, kl, iters);
        ms_ablate_free(&ab);
        free_case(&c);
    }
}

int main(void) {
    ms_kernels_set_threads(1);
    RUN_TEST(test_uniform_bins);
    RUN_TEST(test_identical_and_independent);
    RUN_TEST(test_joint_by_hand);
    RUN_TEST(test_module_measures);
    RUN_TEST(test_unitset);
    RUN_TEST(test_ablation_reference);
    RUN_TEST(test_gradient);
    RUN_TEST(test_maxkl);
    return ms_test_summary();
}
