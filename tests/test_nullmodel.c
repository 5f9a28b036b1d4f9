/* Tests of the shuffle null models (src/analysis/nullmodel.c):
 * - a shuffle keeps each weight tensor's multiset of values (sorted copies
 *   equal), leaves biases alone, moves weights, and is a pure function of
 *   (seed, shuffle index);
 * - the null summary against values worked out here (mean, sample sd,
 *   z, p with ties counted as at least as large);
 * - on random networks whose weights are exchangeable (i.i.d.), the
 *   observed BSGC clusterability is just one more draw of the null, so
 *   its p-values spread over (0, 1): a loose Kolmogorov-Smirnov check
 *   against the uniform distribution;
 * - a planted block-structured layer gets a small p and a large z. */
#include "check.h"
#include "testdata.h"
#include "modsweep/cluster.h"
#include "modsweep/error.h"
#include "modsweep/nullmodel.h"
#include "modsweep/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_float(const void *a, const void *b) {
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void test_shuffle_multiset(void) {
    ms_arch_t a = ms_test_small_cnn(2, 8, 4, 20, 16);
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    float *p = malloc(sizeof(float) * L.n_params), *s1 = malloc(sizeof(float) * L.n_params);
    float *s2 = malloc(sizeof(float) * L.n_params), *u = malloc(sizeof(float) * L.n_params);
    float *v = malloc(sizeof(float) * L.n_params);
    ms_params_init(&L, p, 5);
    ms_null_shuffle(&L, p, 9, 0, s1);
    ms_null_shuffle(&L, p, 9, 0, s2);
    CHECK(memcmp(s1, s2, sizeof(float) * L.n_params) == 0);
    ms_null_shuffle(&L, p, 9, 1, s2);
    CHECK(memcmp(s1, s2, sizeof(float) * L.n_params) != 0);
    int weights = 0;
    for (int t = 0; t < L.n_tensors; t++) {
        const size_t off = L.t[t].off, n = L.t[t].n;
        if (L.t[t].kind != MS_T_WEIGHT) {
            CHECK(memcmp(s1 + off, p + off, sizeof(float) * n) == 0);
            continue;
        }
        weights++;
        memcpy(u, p + off, sizeof(float) * n);
        memcpy(v, s1 + off, sizeof(float) * n);
        qsort(u, n, sizeof(float), cmp_float);
        qsort(v, n, sizeof(float), cmp_float);
        CHECK_MSG(memcmp(u, v, sizeof(float) * n) == 0, "%s: multiset of weights changed",
                  L.t[t].name);
        /* Weights moved: at most a few stay in place by chance. */
        size_t same = 0;
        for (size_t i = 0; i < n; i++)
            same += s1[off + i] == p[off + i];
        CHECK_MSG(same * 10 < n, "%s: %zu of %zu weights in place", L.t[t].name, same, n);
    }
    CHECK(weights == 4); /* conv1 and fc1..fc3 */
    free(p), free(s1), free(s2), free(u), free(v);
}

static void test_stats(void) {
    const double null[5] = {1, 2, 3, 4, NAN};
    ms_null_stats_t st;
    ms_null_stats(3.0, null, 5, &st);
    CHECK_NEAR(st.mean, 2.5, 1e-15);
    CHECK_NEAR(st.sd, sqrt(5.0 / 3.0), 1e-15);
    CHECK_NEAR(st.z, 0.5 / sqrt(5.0 / 3.0), 1e-15);
    CHECK_NEAR(st.p, 3.0 / 5.0, 1e-15); /* 3 and 4 are >= 3: (1 + 2) / (1 + 4) */
    ms_null_stats(10.0, null, 5, &st);
    CHECK_NEAR(st.p, 1.0 / 5.0, 1e-15);
    ms_null_stats(NAN, null, 5, &st);
    CHECK(isnan(st.p) && isnan(st.z));
    const double flat[3] = {2, 2, 2};
    ms_null_stats(2.0, flat, 3, &st);
    CHECK(isnan(st.z));
    CHECK_NEAR(st.p, 1.0, 1e-15);
}

/* One fc layer's observed clusterability and its null, as the analysis
 * computes them. */
static void observed_and_null(const ms_layout_t *L, const float *p, int layer, int k, int S,
                              uint64_t seed, double *obs, double *null) {
    long in_off[MS_MAX_FC], out_off[MS_MAX_FC];
    const long nu = ms_units_layout(L, in_off, out_off);
    int32_t *u = malloc(sizeof(int32_t) * (size_t)nu);
    CHECK_OK(ms_bsgc_layers(L, p, NULL, 0, 1u << layer, k, 3, seed, MS_BASIS_WEIGHTS, u, NULL));
    *obs = ms_clusterability(p + L->t[L->fc_weight[layer]].off, L->arch.fc_out[layer],
                             L->fc_in[layer], u + out_off[layer], u + in_off[layer]);
    double *all = malloc(sizeof(double) * (size_t)S * L->arch.n_fc);
    CHECK_OK(ms_null_bsgc(L, p, 1u << layer, &k, 1, 3, seed, S, all));
    for (int s = 0; s < S; s++)
        null[s] = all[(size_t)s * L->arch.n_fc + layer];
    free(all), free(u);
}

static void test_p_uniform(void) {
    ms_arch_t a = {.in_c = 1, .in_h = 3, .in_w = 4, .n_fc = 3, .fc_out = {12, 12, 4}};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    float *p = malloc(sizeof(float) * L.n_params);
    enum { NET = 200, S = 19 };
    double pv[NET], null[S];
    ms_rng_t r;
    ms_rng_init(&r, 77, MS_RNG_TESTDATA, 3);
    for (int t = 0; t < NET; t++) {
        for (size_t e = 0; e < L.n_params; e++)
            p[e] = (float)ms_rng_normal(&r);
        double obs;
        observed_and_null(&L, p, 1, 2, S, (uint64_t)t, &obs, null);
        ms_null_stats_t st;
        ms_null_stats(obs, null, S, &st);
        CHECK(st.p > 0.0 && st.p <= 1.0);
        pv[t] = st.p;
    }
    /* KS distance of the p-values to U(0, 1): the p-values are discrete
     * (multiples of 1 / 20), so the check is loose: D < 0.15 (the 1 %
     * critical value for 200 continuous draws is 0.115). */
    qsort(pv, NET, sizeof(double), cmp_double);
    double D = 0.0, mean = 0.0;
    for (int t = 0; t < NET; t++) {
        const double lo = fabs(pv[t] - (double)t / NET), hi = fabs(pv[t] - (double)(t + 1) / NET);
        if (lo > D) D = lo;
        if (hi > D) D = hi;
        mean += pv[t] / NET;
    }
    free(p);
    printf("  p-values of %d random networks: KS distance %.3f, mean %.3f\n", NET, D, mean);
    CHECK_MSG(D < 0.15, "KS distance %.3f", D);
    CHECK(mean > 0.4 && mean < 0.65);
}

static void test_planted_significant(void) {
    ms_arch_t a = {.in_c = 1, .in_h = 4, .in_w = 6, .n_fc = 3, .fc_out = {24, 24, 4}};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    float *p = malloc(sizeof(float) * L.n_params);
    ms_rng_t r;
    ms_rng_init(&r, 78, MS_RNG_TESTDATA, 4);
    for (size_t e = 0; e < L.n_params; e++)
        p[e] = (float)(0.2 * ms_rng_normal(&r));
    float *w = p + L.t[L.fc_weight[1]].off;
    for (int o = 0; o < 24; o++)
        for (int i = 0; i < 24; i++)
            if ((o * 5) % 3 == (i * 7) % 3) w[o * 24 + i] *= 8.0f;
    enum { S = 19 };
    double obs, null[S];
    observed_and_null(&L, p, 1, 3, S, 1, &obs, null);
    ms_null_stats_t st;
    ms_null_stats(obs, null, S, &st);
    CHECK_NEAR(st.p, 1.0 / (1 + S), 1e-15);
    CHECK_MSG(st.z > 3.0, "planted layer: z %.3g", st.z);
    free(p);
}

int main(void) {
    RUN_TEST(test_shuffle_multiset);
    RUN_TEST(test_stats);
    RUN_TEST(test_p_uniform);
    RUN_TEST(test_planted_significant);
    return ms_test_summary();
}
