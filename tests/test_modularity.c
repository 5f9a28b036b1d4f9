/* Tests of Newman's modularity, its maximisation and the alignment scores
 * (src/analysis/modularity.c, seed 003) against known answers:
 * - Q of two triangles joined by an edge (6/7 - 1/2 by hand) and of random
 *   graphs against Newman's double sum written out here;
 * - a planted modular graph (4 blocks) is recovered exactly, with Q at
 *   least the planted partition's; dead units are excluded;
 * - the Monte-Carlo temperature gives the target mean move entropy, with
 *   the gains recomputed here from full Q evaluations;
 * - identical clusterings (also with permuted cluster ids) align with score
 *   1 and p = 1 / (1 + shuffles); a hand-worked partial overlap; Spearman
 *   against hand-ranked vectors with ties; the effective cluster count;
 * - Q at least networkx Louvain's best (fixture
 *   tests/fixtures/modularity_louvain.msfx from
 *   tests/gen_modularity_fixtures.py), no single unit's move raising it
 *   (brute force), and an over-split spectral start merged back. */
#include <stdio.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "modsweep/error.h"
#include "modsweep/modularity.h"
#include "modsweep/rng.h"

/* Newman's formula as written: (1/2m) sum_ij [A_ij - k_i k_j / 2m] delta. */
static double ref_q(const double *A, int n, const int *lab) {
    double m2 = 0, *k = calloc(n, sizeof(double));
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (i != j) k[i] += A[i * n + j], m2 += A[i * n + j];
    double q = 0;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            if (lab[i] >= 0 && lab[i] == lab[j])
                q += (i != j ? A[i * n + j] : 0) - k[i] * k[j] / m2;
    free(k);
    return q / m2;
}

static void test_two_triangles(void) {
    enum { n = 6 };
    double A[n * n] = {0};
    int e[7][2] = {{0, 1}, {0, 2}, {1, 2}, {3, 4}, {3, 5}, {4, 5}, {2, 3}};
    for (int t = 0; t < 7; t++)
        A[e[t][0] * n + e[t][1]] = A[e[t][1] * n + e[t][0]] = 1;
    int lab[n] = {0, 0, 0, 1, 1, 1};
    CHECK_NEAR(ms_mod_q(A, n, lab), 6.0 / 7.0 - 0.5, 1e-14);
    int one[n] = {0, 0, 0, 0, 0, 0};
    CHECK_NEAR(ms_mod_q(A, n, one), 0.0, 1e-14);
    /* The maximiser finds the two triangles. */
    int got[n];
    ms_mod_cfg_t cfg = {.steps = 2000, .entropy = 0.1, .seed = 1, .sub = 0};
    ms_mod_result_t res;
    CHECK_OK(ms_mod_maximise(A, n, &cfg, got, &res));
    CHECK_EQ_INT(res.k, 2);
    CHECK_NEAR(res.q, 6.0 / 7.0 - 0.5, 1e-14);
    for (int i = 0; i < n; i++)
        CHECK_EQ_INT(got[i], lab[i]);
    /* The diagonal is ignored. */
    for (int i = 0; i < n; i++)
        A[i * n + i] = 5;
    CHECK_NEAR(ms_mod_q(A, n, lab), 6.0 / 7.0 - 0.5, 1e-14);
}

static void test_q_random_graphs(void) {
    ms_rng_t r;
    ms_rng_init(&r, 2, MS_RNG_TESTDATA, 0);
    for (int t = 0; t < 20; t++) {
        int n = 5 + t;
        double *A = malloc(sizeof(double) * n * n);
        int *lab = malloc(sizeof(int) * n);
        for (int i = 0; i < n; i++) {
            lab[i] = (int)ms_rng_below(&r, 4) - (t % 3 == 0 && i == 0); /* some -1 */
            for (int j = 0; j <= i; j++)
                A[i * n + j] = A[j * n + i] = ms_rng_double(&r);
        }
        CHECK_NEAR(ms_mod_q(A, n, lab), ref_q(A, n, lab), 1e-13);
        free(A);
        free(lab);
    }
}

/* A planted graph: blocks of `bs` units, strong inside, weak across, plus
 * noise; `dead` zero units at the end. */
static double *planted(int blocks, int bs, int dead, uint64_t seed, int *n_out) {
    const int n = blocks * bs + dead;
    double *A = calloc((size_t)n * n, sizeof(double));
    ms_rng_t r;
    ms_rng_init(&r, seed, MS_RNG_TESTDATA, 3);
    for (int i = 0; i < blocks * bs; i++)
        for (int j = 0; j < i; j++) {
            double w = (i / bs == j / bs ? 1.0 : 0.15) + 0.3 * ms_rng_double(&r);
            A[i * n + j] = A[j * n + i] = w;
        }
    *n_out = n;
    return A;
}

static void test_planted(void) {
    int n;
    double *A = planted(4, 16, 3, 5, &n);
    /* Shuffle the unit order so the blocks are not contiguous. */
    int perm[67];
    int32_t idx[67];
    for (int i = 0; i < n; i++)
        idx[i] = i;
    ms_rng_t r;
    ms_rng_init(&r, 9, MS_RNG_TESTDATA, 4);
    ms_rng_shuffle(&r, idx, n);
    for (int i = 0; i < n; i++)
        perm[i] = idx[i];
    double *B = malloc(sizeof(double) * n * n);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            B[i * n + j] = A[perm[i] * n + perm[j]];
    int truth[67], got[67];
    for (int i = 0; i < n; i++)
        truth[i] = perm[i] < 64 ? perm[i] / 16 : -1;
    ms_mod_canonical(truth, n);
    ms_mod_cfg_t cfg = {.steps = 5000, .entropy = 0.1, .seed = 3, .sub = 1};
    ms_mod_result_t res;
    CHECK_OK(ms_mod_maximise(B, n, &cfg, got, &res));
    CHECK_EQ_INT(res.k, 4);
    CHECK_EQ_INT(res.dead, 3);
    for (int i = 0; i < n; i++)
        CHECK_EQ_INT(got[i], truth[i]);
    CHECK(res.q >= ref_q(B, n, truth) - 1e-12);
    CHECK_NEAR(res.q, ref_q(B, n, got), 1e-13);
    CHECK_NEAR(res.effective, 4.0, 1e-12);
    CHECK(res.q >= res.q_spectral - 1e-15);
    /* The same graph with MC only from a poor start is not needed: the
     * spectral stage alone already recovers strong blocks. */
    int spec[67];
    double qs = ms_mod_spectral(B, n, spec);
    CHECK_NEAR(qs, res.q_spectral, 1e-15);
    uint8_t live[67];
    CHECK_EQ_INT(ms_mod_live(B, n, live), 64);
    free(A);
    free(B);
}

static void test_temperature(void) {
    /* Weak blocks, so the moves have real choices. */
    int n;
    double *A = calloc(30 * 30, sizeof(double));
    n = 30;
    ms_rng_t r;
    ms_rng_init(&r, 4, MS_RNG_TESTDATA, 5);
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            A[i * n + j] = A[j * n + i] = (i / 10 == j / 10 ? 0.6 : 0.3) + ms_rng_double(&r);
    int spec[30], got[30];
    ms_mod_spectral(A, n, spec);
    const double target = 0.35;
    ms_mod_cfg_t cfg = {.steps = 100, .entropy = target, .seed = 7, .sub = 2};
    ms_mod_result_t res;
    CHECK_OK(ms_mod_maximise(A, n, &cfg, got, &res));
    CHECK(isfinite(res.temperature) && res.temperature > 0);
    /* Gains of every move from the spectral clustering by full Q. */
    int K = 0;
    for (int i = 0; i < n; i++)
        K = spec[i] + 1 > K ? spec[i] + 1 : K;
    const double q0 = ref_q(A, n, spec);
    double hsum = 0;
    for (int i = 0; i < n; i++) {
        int size = 0;
        for (int j = 0; j < n; j++)
            size += spec[j] == spec[i];
        double g[40];
        int m = 0;
        for (int c = 0; c <= K; c++) {
            if (c == K && size == 1) continue; /* a singleton's new cluster is a no-op */
            int save = spec[i];
            spec[i] = c;
            g[m++] = ref_q(A, n, spec) - q0;
            spec[i] = save;
        }
        double mx = -1e300, z = 0, s = 0;
        for (int t = 0; t < m; t++)
            mx = g[t] > mx ? g[t] : mx;
        for (int t = 0; t < m; t++) {
            double x = (g[t] - mx) / res.temperature;
            z += exp(x);
            s += exp(x) * x;
        }
        hsum += log(z) - s / z;
    }
    CHECK_NEAR(hsum / n, target, 1e-6);
    free(A);
}

static void test_all_dead(void) {
    double A[16] = {0};
    int lab[4];
    ms_mod_cfg_t cfg = {.steps = 10, .entropy = 0.1};
    ms_mod_result_t res;
    CHECK_OK(ms_mod_maximise(A, 4, &cfg, lab, &res));
    CHECK_EQ_INT(res.k, 0);
    CHECK_EQ_INT(res.dead, 4);
    CHECK(isnan(res.q));
    for (int i = 0; i < 4; i++)
        CHECK_EQ_INT(lab[i], -1);
}

static void test_alignment(void) {
    enum { n = 40 };
    int a[n], b[n];
    for (int i = 0; i < n; i++)
        a[i] = i % 4, b[i] = (i % 4 + 1) % 4; /* ids permuted */
    double score, p;
    CHECK_OK(ms_mod_align_null(a, a, n, 999, 1, 0, &score, &p));
    CHECK_NEAR(score, 1.0, 1e-15);
    CHECK_NEAR(p, 1.0 / 1000.0, 1e-15);
    CHECK_OK(ms_mod_align_null(a, b, n, 999, 1, 1, &score, &p));
    CHECK_NEAR(score, 1.0, 1e-15);
    CHECK_NEAR(p, 1.0 / 1000.0, 1e-15);
    /* By hand: a = {0,0,0,1,1,1}, b = {0,0,1,1,2,2}: overlaps [[2,1,0],[0,1,2]];
     * greedy takes 2 (a0,b0) then 2 (a1,b2): 4 of min(6, 6). */
    int ha[6] = {0, 0, 0, 1, 1, 1}, hb[6] = {0, 0, 1, 1, 2, 2};
    CHECK_NEAR(ms_mod_align(ha, hb, 6), 4.0 / 6.0, 1e-15);
    CHECK_NEAR(ms_mod_align(hb, ha, 6), 4.0 / 6.0, 1e-15);
    /* Dead units count in neither: min(live) is the denominator. */
    int da[6] = {0, 0, -1, 1, 1, 1};
    CHECK_NEAR(ms_mod_align(da, hb, 6), 4.0 / 5.0, 1e-15);
    /* Unrelated clusterings are not significant. */
    int c[n];
    ms_rng_t r;
    ms_rng_init(&r, 12, MS_RNG_TESTDATA, 6);
    for (int i = 0; i < n; i++)
        c[i] = (int)ms_rng_below(&r, 4);
    CHECK_OK(ms_mod_align_null(a, c, n, 999, 1, 2, &score, &p));
    CHECK_MSG(p > 0.05, "unrelated clusterings: p = %g", p);
    CHECK_NEAR(ms_mod_effective(a, n), 4.0, 1e-12);
    int e[4] = {0, 0, 0, 1};
    CHECK_NEAR(ms_mod_effective(e, 4), exp(-(0.75 * log(0.75) + 0.25 * log(0.25))), 1e-12);
}

static void test_spearman(void) {
    /* 4 units: pairs (0,1) (0,2) (0,3) (1,2) (1,3) (2,3). */
    enum { n = 4 };
    double A[n * n] = {0}, B[n * n] = {0};
    double va[6] = {1, 2, 3, 4, 5, 6}, vb[6] = {10, 30, 20, 20, 50, 60};
    int e = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++, e++) {
            A[i * n + j] = A[j * n + i] = va[e];
            B[i * n + j] = B[j * n + i] = vb[e];
        }
    /* Ranks of vb with ties averaged: 1, 4, 2.5, 2.5, 5, 6. */
    double ra[6] = {1, 2, 3, 4, 5, 6}, rb[6] = {1, 4, 2.5, 2.5, 5, 6}, sab = 0, saa = 0, sbb = 0;
    for (int t = 0; t < 6; t++) {
        sab += (ra[t] - 3.5) * (rb[t] - 3.5);
        saa += (ra[t] - 3.5) * (ra[t] - 3.5);
        sbb += (rb[t] - 3.5) * (rb[t] - 3.5);
    }
    CHECK_NEAR(ms_mod_spearman(A, B, n, NULL), sab / sqrt(saa * sbb), 1e-14);
    CHECK_NEAR(ms_mod_spearman(A, A, n, NULL), 1.0, 1e-14);
    for (int t = 0; t < n * n; t++)
        B[t] = -A[t];
    CHECK_NEAR(ms_mod_spearman(A, B, n, NULL), -1.0, 1e-14);
    /* Only units live in both count: unit 3 out leaves pairs (0,1) (0,2) (1,2). */
    uint8_t live[n] = {1, 1, 1, 0};
    for (int t = 0; t < n * n; t++)
        B[t] = exp(A[t]);
    CHECK_NEAR(ms_mod_spearman(A, B, n, live), 1.0, 1e-14);
}

/* No single live unit's move (to another existing cluster or to a new
 * one) raises Q by more than tol, by full recomputation; returns the
 * largest gain found. */
static double best_single_move(const double *A, int n, const int *lab) {
    int *t = malloc(sizeof(int) * n), K = 0;
    for (int i = 0; i < n; i++)
        if (lab[i] + 1 > K) K = lab[i] + 1;
    const double q = ref_q(A, n, lab);
    double best = -INFINITY;
    memcpy(t, lab, sizeof(int) * n);
    for (int i = 0; i < n; i++) {
        if (lab[i] < 0) continue;
        for (int c = 0; c <= K; c++) {
            if (c == lab[i]) continue;
            t[i] = c;
            const double g = ref_q(A, n, t) - q;
            if (g > best) best = g;
        }
        t[i] = lab[i];
    }
    free(t);
    return best;
}

static void test_louvain_fixture(void) {
    char path[4096], name[32];
    ms_fixture_t fx;
    if (ms_fixture_load(&fx, ms_fixture_path("modularity_louvain.msfx", path, sizeof path)) != 0) {
        CHECK_MSG(0, "fixture modularity_louvain.msfx missing");
        return;
    }
    int cases = 0, over = 0;
    for (int t = 0;; t++) {
        snprintf(name, sizeof name, "a%d", t);
        const ms_fx_tensor_t *at = NULL;
        for (int e = 0; e < fx.n; e++)
            if (!strcmp(fx.t[e].name, name)) at = &fx.t[e];
        if (!at) break;
        const int n = (int)at->shape[0];
        const double *A = at->data;
        snprintf(name, sizeof name, "q%d", t);
        const double ql = *(const double *)ms_fixture_get(&fx, name)->data;
        snprintf(name, sizeof name, "ks%d", t);
        const int ks = *(const int32_t *)ms_fixture_get(&fx, name)->data;
        int *lab = malloc(sizeof(int) * n), *sp = malloc(sizeof(int) * n);
        for (uint64_t seed = 1; seed <= 2; seed++) {
            ms_mod_cfg_t cfg = {.steps = 2000, .entropy = 0.5, .seed = seed, .sub = 4};
            ms_mod_result_t res;
            CHECK_OK(ms_mod_maximise(A, n, &cfg, lab, &res));
            CHECK_NEAR(res.q, ref_q(A, n, lab), 1e-12);
            CHECK_MSG(res.q >= ql - 1e-12, "case %d seed %d: Q %.10f below Louvain's %.10f", t,
                      (int)seed, res.q, ql);
            const double g = best_single_move(A, n, lab);
            CHECK_MSG(g <= 1e-12, "case %d seed %d: a single move raises Q by %.3g", t, (int)seed,
                      g);
            if (ks > 0) {
                ms_mod_spectral(A, n, sp);
                int K = 0;
                for (int i = 0; i < n; i++)
                    if (sp[i] + 1 > K) K = sp[i] + 1;
                CHECK_MSG(res.k < K, "case %d: %d clusters, not fewer than the spectral %d", t,
                          res.k, K);
                over++;
            }
            /* Deterministic from the seed. */
            int *again = malloc(sizeof(int) * n);
            ms_mod_result_t r2;
            CHECK_OK(ms_mod_maximise(A, n, &cfg, again, &r2));
            CHECK(memcmp(lab, again, sizeof(int) * n) == 0);
            free(again);
        }
        free(lab), free(sp);
        cases++;
    }
    CHECK(cases >= 8);
    CHECK(over >= 2);
    ms_fixture_free(&fx);
}

int main(void) {
    RUN_TEST(test_two_triangles);
    RUN_TEST(test_q_random_graphs);
    RUN_TEST(test_planted);
    RUN_TEST(test_temperature);
    RUN_TEST(test_all_dead);
    RUN_TEST(test_alignment);
    RUN_TEST(test_spearman);
    RUN_TEST(test_louvain_fixture);
    return ms_test_summary();
}
