/* Cluster ablation and search-space reduction (ablate.h). References: a
 * hand-built network whose ON/OFF answer follows from its construction,
 * brute-force evaluation of explicitly zeroed networks (ms_evaluate), and
 * parameter counts worked out by hand for the paper CNN. */
#include "paper_cnn.h"
#include "check.h"
#include "testdata.h"
#include "modsweep/ablate.h"
#include "modsweep/circuit.h"
#include "modsweep/cluster.h"
#include "modsweep/error.h"
#include "modsweep/rng.h"
#include "modsweep/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The hand-built mlp: 10 inputs -> 10 -> 10 -> 10 logits, no bias.
 * fc1 = identity; fc2 maps input unit i to output unit 9 - i; fc3 maps
 * hidden unit u to class 9 - u. The image of class j is a_j e_j, so the
 * logits are a_j e_j and every image is classified right. fc2's partition:
 * input unit i has label cl[i], output unit 9 - i the same label, so the
 * weight (9 - i, i) lies inside cluster cl[i]'s block. Zeroing any row or
 * column of that weight cuts class j's path: its logits become all zero
 * and the first maximum, class 0, is predicted. Units with label -1 are in
 * no cluster and never zeroed. */
static const int32_t cl[10] = {0, 1, 2, 0, 1, 2, 0, 1, 2, -1};

static void hand_net(ms_arch_t *a, float **params, ms_split_t *split) {
    *a = (ms_arch_t){.in_c = 1, .in_h = 1, .in_w = 10, .n_fc = 3, .fc_out = {10, 10, 10}};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, a));
    float *p = calloc(L.n_params, sizeof(float));
    float *w1 = p + L.t[L.fc_weight[0]].off, *w2 = p + L.t[L.fc_weight[1]].off,
          *w3 = p + L.t[L.fc_weight[2]].off;
    for (int i = 0; i < 10; i++) {
        w1[i * 10 + i] = 1.0f;
        w2[(9 - i) * 10 + i] = 1.0f;
        w3[i * 10 + (9 - i)] = 1.0f;
    }
    *params = p;
    memset(split, 0, sizeof *split);
    split->n = 50, split->c = 1, split->h = 1, split->w = 10, split->n_classes = 10;
    split->x = calloc(500, sizeof(float));
    split->y = malloc(50);
    for (int i = 0; i < 50; i++) {
        split->y[i] = (uint8_t)((i * 3) % 10);
        split->x[i * 10 + split->y[i]] = 1.0f + 0.1f * (float)(i % 7);
        split->class_count[split->y[i]]++;
    }
}

static void test_hand_built(void) {
    ms_arch_t a;
    float *p;
    ms_split_t s;
    hand_net(&a, &p, &s);
    int32_t row[10], col[10];
    for (int i = 0; i < 10; i++)
        col[i] = cl[i], row[9 - i] = cl[i];
    double on[3 * 10], off[3 * 10];
    ms_ablation_t ab = {.layer = 1, .k = 3, .row = row, .col = col, .on = on, .off = off};
    for (int batch = 7; batch <= 64; batch += 57) {
        CHECK_OK(ms_ablate(&a, p, &s, batch, &ab, 1));
        for (int c = 0; c < 3; c++)
            for (int j = 0; j < 10; j++) {
                const int keeps_on = cl[j] == c || cl[j] < 0, keeps_off = cl[j] != c;
                /* A cut class is predicted as class 0. */
                CHECK_NEAR(on[c * 10 + j], keeps_on || j == 0 ? 1.0 : 0.0, 0);
                CHECK_NEAR(off[c * 10 + j], keeps_off || j == 0 ? 1.0 : 0.0, 0);
            }
    }
    /* A class without images gives NaN. */
    for (int i = 0; i < 50; i++)
        if (s.y[i] == 4) s.y[i] = 5, s.x[i * 10 + 4] = 0, s.x[i * 10 + 5] = 1;
    CHECK_OK(ms_ablate(&a, p, &s, 16, &ab, 1));
    CHECK(isnan(on[4]) && isnan(off[2 * 10 + 4]) && !isnan(on[5]));
    free(p), free(s.x), free(s.y);
}

/* Random cluster labels 0..2 drawn from r for every unit of L's fc layers
 * (ms_units_layout order, its offsets into in_off and out_off). */
static int32_t *random_units(const ms_layout_t *L, ms_rng_t *r, long *in_off, long *out_off) {
    const long NU = ms_units_layout(L, in_off, out_off);
    int32_t *u = malloc(sizeof(int32_t) * NU);
    for (long i = 0; i < NU; i++)
        u[i] = (int32_t)ms_rng_below(r, 3);
    return u;
}

/* The ablation of fc layer l at k = 3 with the unit labels u (offsets as
 * random_units gives them), writing its tables to on and off. */
static ms_ablation_t layer_ablation(int l, const int32_t *u, const long *in_off,
                                    const long *out_off, double *on, double *off) {
    return (ms_ablation_t){
        .layer = l, .k = 3, .row = u + out_off[l], .col = u + in_off[l], .on = on, .off = off};
}

/* Brute force: zero the weights explicitly and evaluate the whole network. */
static void test_against_explicit_zeroing(void) {
    ms_arch_t a = ms_test_small_cnn(2, 8, 4, 12, 12);
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    float *p = malloc(sizeof(float) * L.n_params), *q = malloc(sizeof(float) * L.n_params);
    ms_params_init(&L, p, 5);
    ms_split_t s;
    ms_rng_t r;
    ms_rng_init(&r, 9, MS_RNG_TESTDATA, 0);
    ms_test_random_split(&s, 300, 2, 8, 8, 1.0f, &r);
    /* fc1 (256 -> 12) and fc2 (12 -> 12), k = 3, random labels with a -1. */
    long in_off[MS_MAX_FC], out_off[MS_MAX_FC];
    int32_t *u = random_units(&L, &r, in_off, out_off);
    u[out_off[1] + 4] = -1;
    double on[2][3 * 10], off[2][3 * 10];
    ms_ablation_t ab[2];
    for (int l = 0; l < 2; l++)
        ab[l] = layer_ablation(l, u, in_off, out_off, on[l], off[l]);
    CHECK_OK(ms_ablate(&a, p, &s, 64, ab, 2));
    ms_net_t net;
    CHECK_OK(ms_net_init(&net, &a, 50, 0));
    for (int l = 0; l < 2; l++) {
        const int O = a.fc_out[l], NI = L.fc_in[l];
        const int32_t *row = u + out_off[l], *col = u + in_off[l];
        for (int c = 0; c < 3; c++)
            for (int mode = 0; mode < 2; mode++) {
                memcpy(q, p, sizeof(float) * L.n_params);
                float *w = q + L.t[L.fc_weight[l]].off;
                for (int o = 0; o < O; o++)
                    for (int i = 0; i < NI; i++) {
                        int zr = mode == 0 ? (row[o] >= 0 && row[o] != c) : row[o] == c;
                        int zc = mode == 0 ? (col[i] >= 0 && col[i] != c) : col[i] == c;
                        if (zr || zc) w[o * NI + i] = 0.0f;
                    }
                double cw[MS_MAX_CLASSES];
                ms_evaluate(&net, q, &s, -1, cw, NULL);
                const double *got = (mode == 0 ? on[l] : off[l]) + c * 10;
                for (int j = 0; j < 10; j++)
                    CHECK_MSG(got[j] == cw[j], "fc%d cluster %d %s class %d: %.4f vs %.4f", l + 1,
                              c, mode ? "OFF" : "ON", j, got[j], cw[j]);
            }
    }
    ms_net_free(&net);
    free(p), free(q), free(u), free(s.x), free(s.y);
}

/* A plain double forward pass from fc1 features h (NI0) through every fc
 * layer with the given weights (one matrix per layer) and biases; returns
 * the first maximal logit. acts[l] receives the input of layer l when acts
 * is not NULL. */
static int plain_forward(const ms_layout_t *L, const double *const *w, const double *const *b,
                         const double *h, double acts[][64]) {
    double cur[64], nxt[64];
    const int nf = L->arch.n_fc;
    memcpy(cur, h, sizeof(double) * (size_t)L->fc_in[0]);
    for (int l = 0; l < nf; l++) {
        const int O = L->arch.fc_out[l], NI = L->fc_in[l];
        if (acts) memcpy(acts[l], cur, sizeof(double) * (size_t)NI);
        for (int o = 0; o < O; o++) {
            double z = b[l][o];
            for (int i = 0; i < NI; i++)
                z += w[l][o * NI + i] * cur[i];
            nxt[o] = l + 1 < nf && z < 0.0 ? 0.0 : z;
        }
        memcpy(cur, nxt, sizeof(double) * (size_t)O);
    }
    int best = 0;
    for (int c = 1; c < L->arch.fc_out[nf - 1]; c++)
        if (cur[c] > cur[best]) best = c;
    return best;
}

/* Mean and resample ablation against a direct computation: each modified
 * network built by hand (the removed weights zeroed, their input's mean or
 * resampled reference activation folded into the bias, the reference
 * activations from a plain forward pass of the full model over the first
 * n_ref reference images) and run forward in double from the fc1 features. */
static void test_mean_resample_direct(void) {
    ms_arch_t a = ms_test_small_cnn(1, 6, 2, 12, 12);
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    const int NI0 = L.fc_in[0], N = 200, NR = 90, n_ref = 70;
    CHECK(NI0 <= 64);
    float *p = malloc(sizeof(float) * L.n_params);
    ms_params_init(&L, p, 11);
    /* The images (s) and the reference images (t) from one stream; N is a
     * multiple of 10, so t's labels continue s's cycle. */
    ms_split_t s, t;
    ms_rng_t r;
    ms_rng_init(&r, 4, MS_RNG_TESTDATA, 0);
    ms_test_random_split(&s, N, 1, 6, 6, 2.0f, &r);
    ms_test_random_split(&t, NR, 1, 6, 6, 2.0f, &r);
    long in_off[MS_MAX_FC], out_off[MS_MAX_FC];
    int32_t *u = random_units(&L, &r, in_off, out_off);
    u[in_off[1] + 2] = -1;
    /* fc1 features (float forward pass) in double, and the full model. */
    double *h = malloc(sizeof(double) * (size_t)(N + NR) * NI0);
    ms_net_t net;
    CHECK_OK(ms_net_init(&net, &a, N, 0));
    ms_net_forward(&net, p, s.x, N, NULL);
    for (long j = 0; j < (long)N * NI0; j++)
        h[j] = net.fc_in0[j];
    ms_net_forward(&net, p, t.x, NR, NULL);
    for (long j = 0; j < (long)NR * NI0; j++)
        h[(long)N * NI0 + j] = net.fc_in0[j];
    ms_net_free(&net);
    double *w0[MS_MAX_FC], *b0[MS_MAX_FC], *wm[MS_MAX_FC], *bm[MS_MAX_FC];
    for (int l = 0; l < 3; l++) {
        const int O = a.fc_out[l], NI = L.fc_in[l];
        w0[l] = malloc(sizeof(double) * O * NI), wm[l] = malloc(sizeof(double) * O * NI);
        b0[l] = malloc(sizeof(double) * O), bm[l] = malloc(sizeof(double) * O);
        for (int j = 0; j < O * NI; j++)
            w0[l][j] = p[L.t[L.fc_weight[l]].off + j];
        for (int o = 0; o < O; o++)
            b0[l][o] = p[L.t[L.fc_bias_t[l]].off + o];
    }
    /* Reference activations of every layer over the first n_ref images. */
    static double ract[70][3][64], mu[3][64];
    memset(mu, 0, sizeof mu);
    for (int f = 0; f < n_ref; f++) {
        plain_forward(&L, (const double *const *)w0, (const double *const *)b0,
                      h + (size_t)(N + f) * NI0, ract[f]);
        for (int l = 0; l < 3; l++)
            for (int i = 0; i < L.fc_in[l]; i++)
                mu[l][i] += ract[f][l][i] / n_ref;
    }
    const uint64_t seed = 77;
    for (int kind = MS_ABL_MEAN; kind <= MS_ABL_RESAMPLE; kind++) {
        double on[2][3 * 10], off[2][3 * 10], zon[2][3 * 10], zoff[2][3 * 10];
        ms_ablation_t ab[2], zb[2];
        for (int l = 0; l < 2; l++) {
            ab[l] = layer_ablation(l, u, in_off, out_off, on[l], off[l]);
            zb[l] = ab[l], zb[l].on = zon[l], zb[l].off = zoff[l];
        }
        CHECK_OK(ms_ablate_kind(&a, p, &s, &t, n_ref, kind, seed, 64, ab, 2));
        CHECK_OK(ms_ablate_kind(&a, p, &s, &t, n_ref, MS_ABL_ZERO, seed, 64, zb, 2));
        int differs = 0;
        for (int l = 0; l < 2; l++) {
            const int O = a.fc_out[l], NI = L.fc_in[l];
            const int32_t *row = u + out_off[l], *col = u + in_off[l];
            for (int c = 0; c < 3; c++)
                for (int mode = 0; mode < 2; mode++) {
                    long correct[10] = {0}, total[10] = {0};
                    for (int n = 0; n < N; n++) {
                        /* The reference activation the removed weights read. */
                        const double *src = mu[l];
                        if (kind == MS_ABL_RESAMPLE) {
                            ms_rng_t q;
                            ms_rng_init(&q, seed, MS_RNG_RESAMPLE, (uint32_t)(n * MS_MAX_FC + l));
                            src = ract[ms_rng_below(&q, n_ref)][l];
                        }
                        for (int k = 0; k < 3; k++) {
                            memcpy(wm[k], w0[k], sizeof(double) * a.fc_out[k] * L.fc_in[k]);
                            memcpy(bm[k], b0[k], sizeof(double) * a.fc_out[k]);
                        }
                        for (int o = 0; o < O; o++)
                            for (int i = 0; i < NI; i++) {
                                int zr = mode == 0 ? (row[o] >= 0 && row[o] != c) : row[o] == c;
                                int zc = mode == 0 ? (col[i] >= 0 && col[i] != c) : col[i] == c;
                                if (zr || zc) {
                                    bm[l][o] += w0[l][o * NI + i] * src[i];
                                    wm[l][o * NI + i] = 0.0;
                                }
                            }
                        const int best =
                            plain_forward(&L, (const double *const *)wm, (const double *const *)bm,
                                          h + (size_t)n * NI0, NULL);
                        total[s.y[n]]++;
                        correct[s.y[n]] += best == s.y[n];
                    }
                    const double *got = (mode == 0 ? on[l] : off[l]) + c * 10;
                    const double *zero = (mode == 0 ? zon[l] : zoff[l]) + c * 10;
                    for (int j = 0; j < 10; j++) {
                        const double want = (double)correct[j] / total[j];
                        CHECK_MSG(fabs(got[j] - want) < 1e-12,
                                  "%s fc%d cluster %d %s class %d: %.4f vs %.4f",
                                  ms_ablation_kind_name(kind), l + 1, c, mode ? "OFF" : "ON", j,
                                  got[j], want);
                        differs += got[j] != zero[j];
                    }
                }
        }
        /* The kind matters on this model (else the check above proves little). */
        CHECK_MSG(differs > 0, "%s ablation equals zero ablation everywhere",
                  ms_ablation_kind_name(kind));
    }
    /* No reference image: a clear error. */
    t.n = 0;
    double on1[30], off1[30];
    ms_ablation_t one = layer_ablation(0, u, in_off, out_off, on1, off1);
    CHECK(ms_ablate_kind(&a, p, &s, &t, 0, MS_ABL_MEAN, seed, 64, &one, 1) < 0);
    CHECK(strstr(ms_err_msg(), "reference images") != NULL);
    ms_err_clear();
    for (int l = 0; l < 3; l++)
        free(w0[l]), free(b0[l]), free(wm[l]), free(bm[l]);
    free(h), free(p), free(u), free(s.x), free(s.y), free(t.x), free(t.y);
}

/* The paper CNN: conv 3 -> 16 (448 parameters), fc 4096 -> 64 -> 64 -> 64 -> 10
 * without bias: 271424 parameters. */
static void test_search_space_paper(void) {
    ms_arch_t a = ms_test_paper_cnn();
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    CHECK_EQ_INT(L.n_params, 271424);
    long in_off[MS_MAX_FC], out_off[MS_MAX_FC];
    const long NU = ms_units_layout(&L, in_off, out_off);
    int32_t *u = malloc(sizeof(int32_t) * NU);
    for (long i = 0; i < NU; i++)
        u[i] = -1;
    /* Blocks k = 4 on fc2: fc1's 16 rows (x 4096), fc2's 16 x 16 block, fc3's
     * 16 columns (x 64 rows), fc4 whole (640), conv whole (448). */
    ms_part_blocks(64, 4, u + in_off[1]);
    ms_part_blocks(64, 4, u + out_off[1]);
    const double path1 = 448 + 16 * 4096 + 16 * 16 + 64 * 16 + 640;
    for (int c = 0; c < 4; c++)
        CHECK_NEAR(ms_search_space_reduction(&L, u, c), 1 - path1 / 271424, 1e-15);
    /* Chained over fc2 and fc3 (fc3's inputs = fc2's outputs): fc3 keeps
     * 16 x 16, fc4 keeps 10 x 16 (the seed's 5b count, which left fc3 out). */
    ms_part_blocks(64, 4, u + in_off[2]);
    ms_part_blocks(64, 4, u + out_off[2]);
    const double path2 = 448 + 16 * 4096 + 16 * 16 + 16 * 16 + 10 * 16;
    CHECK_NEAR(ms_search_space_reduction(&L, u, 2), 1 - path2 / 271424, 1e-15);
    /* Unequal clusters: cluster 0 holds 10 of fc2's outputs and 20 of its inputs. */
    for (int i = 0; i < 64; i++) {
        u[in_off[1] + i] = i < 20 ? 0 : 1;
        u[out_off[1] + i] = i < 10 ? 0 : 1;
        u[in_off[2] + i] = u[out_off[2] + i] = -1;
    }
    const double path3 = 448 + 20 * 4096 + 10 * 20 + 64 * 10 + 640;
    CHECK_NEAR(ms_search_space_reduction(&L, u, 0), 1 - path3 / 271424, 1e-15);
    free(u);
}

/* Biases follow their output units. */
static void test_search_space_bias(void) {
    ms_arch_t a = {.in_c = 1, .in_h = 2, .in_w = 2, .n_fc = 2, .fc_out = {6, 10}, .fc_bias = 1};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    CHECK_EQ_INT(L.n_params, 4 * 6 + 6 + 6 * 10 + 10);
    long in_off[MS_MAX_FC], out_off[MS_MAX_FC];
    int32_t u[4 + 6 + 6 + 10];
    ms_units_layout(&L, in_off, out_off);
    for (int i = 0; i < 26; i++)
        u[i] = -1;
    /* fc1 partition: outputs {0, 1} in cluster 0; inputs {0} in cluster 0. */
    const int32_t rows[6] = {0, 0, 1, 1, 1, 1}, cols[4] = {0, 1, 1, 1};
    memcpy(u + out_off[0], rows, sizeof rows);
    memcpy(u + in_off[0], cols, sizeof cols);
    /* fc1: 2 x 1 weights + 2 biases; fc2: 10 x 2 (its inputs from fc1's outputs) + 10 biases. */
    const double path = 2 * 1 + 2 + 10 * 2 + 10, total = 100;
    CHECK_NEAR(ms_search_space_reduction(&L, u, 0), 1 - path / total, 1e-15);
}

int main(void) {
    RUN_TEST(test_hand_built);
    RUN_TEST(test_against_explicit_zeroing);
    RUN_TEST(test_mean_resample_direct);
    RUN_TEST(test_search_space_paper);
    RUN_TEST(test_search_space_bias);
    return ms_test_summary();
}
