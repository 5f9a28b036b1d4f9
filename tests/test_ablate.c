/* Cluster ablation and search-space reduction (ablate.h). References: a
 * hand-built network whose ON/OFF answer follows from its construction,
 * brute-force evaluation of explicitly zeroed networks (ms_evaluate), and
 * parameter counts worked out by hand for the paper CNN. */
#include "paper_cnn.h"
#include "check.h"
#include "modsweep/ablate.h"
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

/* Brute force: zero the weights explicitly and evaluate the whole network. */
static void test_against_explicit_zeroing(void) {
    ms_arch_t a = {.in_c = 2,
                   .in_h = 8,
                   .in_w = 8,
                   .n_conv = 1,
                   .conv_c = {4},
                   .conv_k = 3,
                   .conv_pad = 1,
                   .conv_bias = 1,
                   .n_fc = 3,
                   .fc_out = {12, 12, 10},
                   .fc_bias = 1};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    float *p = malloc(sizeof(float) * L.n_params), *q = malloc(sizeof(float) * L.n_params);
    ms_params_init(&L, p, 5);
    ms_split_t s = {.n = 300, .c = 2, .h = 8, .w = 8, .n_classes = 10};
    s.x = malloc(sizeof(float) * 300 * 128);
    s.y = malloc(300);
    ms_rng_t r;
    ms_rng_init(&r, 9, MS_RNG_TESTDATA, 0);
    for (int i = 0; i < 300; i++) {
        s.y[i] = (uint8_t)(i % 10);
        s.class_count[i % 10]++;
        for (int e = 0; e < 128; e++)
            s.x[i * 128 + e] = ms_rng_float(&r) + (e % 10 == s.y[i]);
    }
    /* fc1 (256 -> 12) and fc2 (12 -> 12), k = 3, random labels with a -1. */
    long in_off[MS_MAX_FC], out_off[MS_MAX_FC];
    const long NU = ms_units_layout(&L, in_off, out_off);
    int32_t *u = malloc(sizeof(int32_t) * NU);
    for (long i = 0; i < NU; i++)
        u[i] = (int32_t)ms_rng_below(&r, 3);
    u[out_off[1] + 4] = -1;
    double on[2][3 * 10], off[2][3 * 10];
    ms_ablation_t ab[2];
    for (int l = 0; l < 2; l++)
        ab[l] = (ms_ablation_t){.layer = l,
                                .k = 3,
                                .row = u + out_off[l],
                                .col = u + in_off[l],
                                .on = on[l],
                                .off = off[l]};
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
    RUN_TEST(test_search_space_paper);
    RUN_TEST(test_search_space_bias);
    return ms_test_summary();
}
