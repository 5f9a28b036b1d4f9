/* Recovery of planted modules (recovery.h, and ms_part_ari on BSGC):
 * - ms_circuit_module_share against a brute force that finds each unit's
 *   most frequent module by sorting its kept inputs' modules (the longest
 *   run), on random masks, plus a hand-worked case and the NaN cases;
 * - a planted toy recovered exactly: the fc1 weights of a hand-built MLP on
 *   28 x 28 inputs are block-diagonal over the planted strips (each hidden
 *   unit reads one strip, random magnitudes), and weight-based BSGC at
 *   k = blocks gives input clusters with adjusted Rand index 1 against
 *   ms_planted_modules; a dense random fc1 does not (ARI near 0);
 * - ms_circuit_module_share_known against the brute force on masks with
 *   the inputs in no module removed;
 * - ms_planted_input_modules against a brute force over pixel coordinates:
 *   for MLPs on 28 x 28 and 3x32x32 inputs each input's pixel looked up in
 *   ms_planted_modules; for CNNs (several kernels, paddings, depths, both
 *   layouts) the set of image pixels each pooled position depends on,
 *   found by marking, layer by layer, every conv input a kept conv output
 *   reads (rows and columns), then the strip of the centre of the marked
 *   columns;
 * - ms_planted_unit_modules against a brute force that sums |weights| over
 *   every path from a strip's pixels to the unit (hand-built integer
 *   weights with ties and a dead unit);
 * - the hidden-unit ground truth of the block-diagonal toy is its blocks,
 *   BSGC's fc1 rows score ARI 1 against it, and so does the Newman
 *   partition (forward_cov, ms_mod_maximise) of a hand-built block-diagonal
 *   MLP on inputs with one shared latent per strip. */
#include "check.h"
#include "modsweep/assoc.h"
#include "modsweep/cluster.h"
#include "modsweep/datagen.h"
#include "modsweep/error.h"
#include "modsweep/modularity.h"
#include "modsweep/recovery.h"
#include "modsweep/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_i32(const void *a, const void *b) {
    const int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

/* The brute force: per unit, the kept inputs' modules sorted, the longest
 * run of one module (>= 0) is the unit's count inside. */
static double brute_share(const uint8_t *mask, int O, int NI, const int32_t *module) {
    long total = 0, inside = 0;
    int32_t *buf = malloc(sizeof(int32_t) * NI);
    for (int j = 0; j < O; j++) {
        int n = 0;
        for (int i = 0; i < NI; i++)
            if (mask[j * NI + i]) buf[n++] = module[i];
        total += n;
        qsort(buf, n, sizeof *buf, cmp_i32);
        long best = 0;
        for (int a = 0; a < n;) {
            int b = a;
            while (b < n && buf[b] == buf[a])
                b++;
            if (buf[a] >= 0 && b - a > best) best = b - a;
            a = b;
        }
        inside += best;
    }
    free(buf);
    return total ? (double)inside / total : NAN;
}

static void test_share(void) {
    /* Hand-worked: 2 units, 6 inputs in modules 0 0 1 1 2 -1.
     * unit 0 keeps inputs 0, 2, 3 (modules 0, 1, 1): 2 inside of 3;
     * unit 1 keeps inputs 4, 5 (modules 2, none): 1 inside of 2. */
    const int32_t mod[6] = {0, 0, 1, 1, 2, -1};
    const uint8_t mask[12] = {1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1};
    CHECK_NEAR(ms_circuit_module_share(mask, 2, 6, mod, 3), 3.0 / 5.0, 1e-15);
    const uint8_t none[12] = {0};
    CHECK(isnan(ms_circuit_module_share(none, 2, 6, mod, 3)));
    CHECK(isnan(ms_circuit_module_share(mask, 2, 6, mod, 0)));
    ms_rng_t r;
    for (int t = 0; t < 40; t++) {
        ms_rng_init(&r, 99, MS_RNG_TESTDATA, (uint32_t)t);
        const int O = 1 + (int)ms_rng_below(&r, 20), NI = 1 + (int)ms_rng_below(&r, 60);
        const int B = 1 + (int)ms_rng_below(&r, 6);
        const double keep = ms_rng_float(&r);
        int32_t *m = malloc(sizeof(int32_t) * NI);
        uint8_t *k = malloc((size_t)O * NI);
        for (int i = 0; i < NI; i++)
            m[i] = (int)ms_rng_below(&r, (uint32_t)B + 1) - 1; /* -1 .. B-1 */
        for (int e = 0; e < O * NI; e++)
            k[e] = ms_rng_float(&r) < keep;
        const double a = ms_circuit_module_share(k, O, NI, m, B), b = brute_share(k, O, NI, m);
        CHECK_MSG((isnan(a) && isnan(b)) || fabs(a - b) < 1e-15, "case %d: %.17g vs %.17g", t, a,
                  b);
        free(m), free(k);
    }
}

static void test_planted_toy(void) {
    enum { P = 28 * 28, O = 24 };
    const int setups[3] = {2, 3, 4};
    for (int t = 0; t < 3; t++) {
        const int blocks = setups[t];
        int32_t module[P], row[O], col[P];
        ms_planted_modules(28, 28, blocks, module);
        double *W = malloc(sizeof(double) * O * P);
        ms_rng_t r;
        ms_rng_init(&r, 5, MS_RNG_TESTDATA, (uint32_t)(100 + t));
        /* Hidden unit j reads strip j mod blocks only. */
        for (int j = 0; j < O; j++)
            for (int i = 0; i < P; i++)
                W[j * P + i] = module[i] == j % blocks ? 0.1 + ms_rng_float(&r) : 0.0;
        CHECK_OK(ms_bsgc(W, O, P, blocks, 10, 1, 0, NULL, row, col));
        const double ari = ms_part_ari(col, module, P);
        CHECK_MSG(ari == 1.0, "%d blocks: ARI %.6f of the input clusters", blocks, ari);
        int32_t want[O];
        for (int j = 0; j < O; j++)
            want[j] = j % blocks;
        CHECK_MSG(ms_part_ari(row, want, O) == 1.0, "%d blocks: hidden units' clusters", blocks);
        /* The hidden-unit ground truth is the blocks, and BSGC's rows recover it. */
        {
            ms_arch_t a = {.in_c = 1, .in_h = 28, .in_w = 28, .n_fc = 2, .fc_out = {O, 10}};
            ms_layout_t L;
            CHECK_OK(ms_layout_init(&L, &a));
            float *params = calloc(L.n_params, sizeof(float));
            for (int e = 0; e < O * P; e++)
                params[L.t[L.fc_weight[0]].off + e] = (float)W[e];
            int32_t unit[O];
            CHECK_OK(ms_planted_unit_modules(&L, params, module, blocks, 0, unit));
            CHECK_MSG(memcmp(unit, want, sizeof unit) == 0, "%d blocks: unit modules", blocks);
            CHECK_MSG(ms_part_ari(row, unit, O) == 1.0, "%d blocks: rows vs unit modules", blocks);
            free(params);
        }
        /* Dense random weights: no planted structure to find. */
        for (int e = 0; e < O * P; e++)
            W[e] = ms_rng_float(&r);
        CHECK_OK(ms_bsgc(W, O, P, blocks, 10, 1, 0, NULL, row, col));
        CHECK_MSG(fabs(ms_part_ari(col, module, P)) < 0.2, "%d blocks: dense ARI %.4f", blocks,
                  ms_part_ari(col, module, P));
        free(W);
    }
}

static void test_share_known(void) {
    ms_rng_t r;
    for (int t = 0; t < 40; t++) {
        ms_rng_init(&r, 98, MS_RNG_TESTDATA, (uint32_t)t);
        const int O = 1 + (int)ms_rng_below(&r, 20), NI = 1 + (int)ms_rng_below(&r, 60);
        const int B = 1 + (int)ms_rng_below(&r, 6);
        int32_t *m = malloc(sizeof(int32_t) * NI), *mk = malloc(sizeof(int32_t) * NI);
        uint8_t *k = malloc((size_t)O * NI), *kk = malloc((size_t)O * NI);
        for (int i = 0; i < NI; i++)
            m[i] = (int)ms_rng_below(&r, (uint32_t)B + 1) - 1; /* -1 .. B-1 */
        for (int e = 0; e < O * NI; e++)
            k[e] = ms_rng_float(&r) < 0.5;
        /* The reference: the same mask with the unmapped inputs removed. */
        int nk = 0;
        for (int i = 0; i < NI; i++)
            if (m[i] >= 0) {
                for (int j = 0; j < O; j++)
                    kk[j * NI + nk] = k[j * NI + i];
                mk[nk++] = m[i];
            }
        uint8_t *packed = malloc((size_t)O * (nk ? nk : 1));
        for (int j = 0; j < O; j++)
            for (int i = 0; i < nk; i++)
                packed[j * nk + i] = kk[j * NI + i];
        const double a = ms_circuit_module_share_known(k, O, NI, m, B);
        const double b = nk ? brute_share(packed, O, nk, mk) : NAN;
        CHECK_MSG((isnan(a) && isnan(b)) || fabs(a - b) < 1e-15, "case %d: %.17g vs %.17g", t, a,
                  b);
        free(m), free(mk), free(k), free(kk), free(packed);
    }
}

/* Brute force: marks the inputs (one dimension) that conv block l's pooled
 * positions in `out` (n_out of them) depend on. */
static void back_mark(const ms_arch_t *a, int n_in, const uint8_t *out, int n_out, uint8_t *in) {
    memset(in, 0, (size_t)n_in);
    const int n_conv = n_in + 2 * a->conv_pad - a->conv_k + 1;
    for (int o = 0; o < n_conv; o++) {
        if (o / 2 >= n_out || !out[o / 2]) continue; /* pooling drops an odd last output */
        for (int t = 0; t < a->conv_k; t++) {
            const int i = o - a->conv_pad + t;
            if (i >= 0 && i < n_in) in[i] = 1;
        }
    }
}

static void brute_modules(const ms_layout_t *L, int pad, int blocks, int32_t *module) {
    const ms_arch_t *a = &L->arch;
    int32_t pix[28 * 28];
    ms_planted_modules(28, 28, blocks, pix);
    if (a->n_conv == 0) {
        for (int i = 0; i < L->fc_in[0]; i++) {
            const int x = i % a->in_w, y = i / a->in_w % a->in_h;
            const int ys = y - pad, xs = x - pad;
            module[i] = ys >= 0 && ys < 28 && xs >= 0 && xs < 28 ? pix[ys * 28 + xs] : -1;
        }
        return;
    }
    const int last = a->n_conv - 1, H = L->pool_h[last], W = L->pool_w[last];
    uint8_t cur[64], nxt[64], rows[64];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int lo = 99, hi = -1, any_row = 0;
            for (int dim = 0; dim < 2; dim++) {
                const int p = dim ? y : x;
                int n = dim ? H : W;
                memset(cur, 0, sizeof cur);
                cur[p] = 1;
                for (int l = last; l >= 0; l--) {
                    const int n_in =
                        l ? (dim ? L->pool_h[l - 1] : L->pool_w[l - 1]) : (dim ? a->in_h : a->in_w);
                    back_mark(a, n_in, cur, n, nxt);
                    memcpy(cur, nxt, sizeof cur);
                    n = n_in;
                }
                /* Image pixels only (less the layout's padding). */
                memset(rows, 0, sizeof rows);
                for (int i = 0; i < n; i++)
                    if (cur[i] && i - pad >= 0 && i - pad < 28) rows[i - pad] = 1;
                for (int i = 0; i < 28; i++)
                    if (rows[i]) {
                        if (dim)
                            any_row = 1;
                        else {
                            lo = i < lo ? i : lo;
                            hi = i > hi ? i : hi;
                        }
                    }
            }
            const int b = any_row && hi >= 0 ? pix[(lo + hi) / 2] : -1;
            for (int c = 0; c < a->conv_c[last]; c++)
                module[(c * H + y) * W + x] = b;
        }
}

static void test_input_modules(void) {
    struct {
        int in, n_conv, k, pad;
    } cases[] = {{28, 0, 3, 1}, {32, 0, 3, 1}, {28, 1, 3, 1}, {28, 2, 3, 1}, {32, 2, 3, 1},
                 {32, 2, 5, 0}, {28, 2, 5, 2}, {32, 3, 3, 1}, {28, 1, 7, 3}, {32, 1, 3, 0},
                 {32, 1, 1, 0}, {32, 2, 2, 1}, {28, 2, 2, 1}, {32, 2, 4, 3}};
    int padonly = 0;
    for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++)
        for (int blocks = 1; blocks <= 4; blocks++) {
            ms_arch_t a = {.in_c = cases[t].in == 32 ? 3 : 1,
                           .in_h = cases[t].in,
                           .in_w = cases[t].in,
                           .n_conv = cases[t].n_conv,
                           .conv_c = {2, 3, 2},
                           .conv_k = cases[t].k,
                           .conv_pad = cases[t].pad,
                           .n_fc = 2,
                           .fc_out = {5, 10}};
            ms_layout_t L;
            CHECK_OK(ms_layout_init(&L, &a));
            const int pad = (cases[t].in - 28) / 2;
            int32_t *got = malloc(sizeof(int32_t) * L.fc_in[0]);
            int32_t *want = malloc(sizeof(int32_t) * L.fc_in[0]);
            CHECK_OK(ms_planted_input_modules(&L, 28, 28, pad, blocks, got));
            brute_modules(&L, pad, blocks, want);
            int bad = 0;
            for (int i = 0; i < L.fc_in[0]; i++) {
                bad += got[i] != want[i];
                padonly += want[i] < 0 && a.n_conv > 0;
            }
            CHECK_MSG(bad == 0, "case %zu, %d blocks: %d of %d inputs differ", t, blocks, bad,
                      L.fc_in[0]);
            free(got), free(want);
        }
    CHECK_MSG(padonly > 0, "no CNN case has a padding-only position");
    /* A layout that does not fit the image. */
    ms_arch_t a = {.in_c = 1, .in_h = 30, .in_w = 30, .n_fc = 2, .fc_out = {5, 10}};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    int32_t *m = malloc(sizeof(int32_t) * L.fc_in[0]);
    CHECK(ms_planted_input_modules(&L, 28, 28, 0, 2, m) == MS_EINVAL);
    free(m);
}

/* Brute force of ms_planted_unit_modules for a 3-layer MLP: the mass of
 * unit j of layer `layer` in strip b is the sum over every path of the
 * product of the absolute weights on it. */
static void test_unit_modules(void) {
    enum { I = 12, H1 = 6, H2 = 5, OUT = 4, B = 3 };
    ms_arch_t a = {
        .in_c = 1, .in_h = 3, .in_w = 4, .n_fc = 3, .fc_out = {H1, H2, OUT}, .fc_bias = 1};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    const int32_t mod[I] = {0, 0, 1, 1, 2, 2, 0, 0, 1, 1, -1, -1};
    ms_rng_t r;
    for (int t = 0; t < 30; t++) {
        ms_rng_init(&r, 97, MS_RNG_TESTDATA, (uint32_t)t);
        float *params = malloc(sizeof(float) * L.n_params);
        for (size_t e = 0; e < L.n_params; e++) /* small integers: exact sums, many ties */
            params[e] = (float)((int)ms_rng_below(&r, 5) - 2);
        float *W1 = params + L.t[L.fc_weight[0]].off, *W2 = params + L.t[L.fc_weight[1]].off,
              *W3 = params + L.t[L.fc_weight[2]].off;
        for (int i = 0; i < I; i++) /* unit 0 of fc1 is dead */
            W1[i] = 0.0f;
        if (t == 0) /* unit 1 of fc1: an exact tie of strips 1 and 2 */
            for (int i = 0; i < I; i++)
                W1[I + i] = mod[i] == 1 || mod[i] == 2 ? 1.0f : 0.0f;
        for (int layer = 0; layer < 3; layer++) {
            const int U = a.fc_out[layer];
            int32_t got[8], want[8];
            CHECK_OK(ms_planted_unit_modules(&L, params, mod, B, layer, got));
            for (int j = 0; j < U; j++) {
                double mass[B] = {0};
                for (int i = 0; i < I; i++) {
                    if (mod[i] < 0) continue;
                    if (layer == 0) {
                        mass[mod[i]] += fabs(W1[j * I + i]);
                        continue;
                    }
                    for (int h = 0; h < H1; h++) {
                        if (layer == 1) {
                            mass[mod[i]] += fabs(W1[h * I + i]) * fabs(W2[j * H1 + h]);
                            continue;
                        }
                        for (int g = 0; g < H2; g++)
                            mass[mod[i]] +=
                                fabs(W1[h * I + i]) * fabs(W2[g * H1 + h]) * fabs(W3[j * H2 + g]);
                    }
                }
                want[j] = -1;
                double best = 0.0;
                for (int b = 0; b < B; b++)
                    if (mass[b] > best) best = mass[b], want[j] = b;
            }
            CHECK_MSG(memcmp(got, want, sizeof(int32_t) * U) == 0, "case %d layer %d", t, layer);
            if (layer == 0) {
                CHECK_MSG(got[0] == -1, "case %d: the dead unit has no module", t);
                if (t == 0) CHECK_MSG(got[1] == 1, "the tie goes to the lower strip (%d)", got[1]);
            }
        }
        free(params);
    }
    float p[1] = {0};
    int32_t u[1];
    CHECK(ms_planted_unit_modules(&L, p, mod, B, 3, u) == MS_EINVAL);
}

/* A hand-built MLP 784-12-10, fc1 block-diagonal over 2 strips (units 0-5
 * read strip 0, 6-11 strip 1, positive weights), fc2 likewise (logits 0-4
 * read units 0-5), on inputs whose pixels are one latent per strip plus a
 * little noise: the Newman partition of the forward_cov association is the
 * blocks, ARI 1 against the hidden-unit ground truth. */
static void test_newman_blocks(void) {
    enum { P = 28 * 28, U = 12, N = 400 };
    ms_arch_t a = {.in_c = 1, .in_h = 28, .in_w = 28, .n_fc = 2, .fc_out = {U, 10}, .fc_bias = 1};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    int32_t module[P], unit[U], want[U];
    ms_planted_modules(28, 28, 2, module);
    float *params = calloc(L.n_params, sizeof(float));
    float *x = malloc(sizeof(float) * N * P);
    ms_rng_t r;
    ms_rng_init(&r, 11, MS_RNG_TESTDATA, 7);
    float *W1 = params + L.t[L.fc_weight[0]].off, *W2 = params + L.t[L.fc_weight[1]].off;
    for (int j = 0; j < U; j++) {
        want[j] = j / 6;
        for (int i = 0; i < P; i++)
            W1[j * P + i] = module[i] == j / 6 ? 0.01f + 0.02f * (float)ms_rng_float(&r) : 0.0f;
    }
    for (int o = 0; o < 10; o++)
        for (int j = 0; j < U; j++)
            W2[o * U + j] = j / 6 == o / 5 ? 0.5f + (float)ms_rng_float(&r) : 0.0f;
    for (int n = 0; n < N; n++) {
        const double z[2] = {ms_rng_float(&r), ms_rng_float(&r)};
        for (int i = 0; i < P; i++)
            x[n * P + i] = (float)(z[module[i]] + 0.05 * ms_rng_float(&r));
    }
    CHECK_OK(ms_planted_unit_modules(&L, params, module, 2, 0, unit));
    CHECK_MSG(memcmp(unit, want, sizeof unit) == 0, "the unit modules are the blocks");
    double *raw[MS_MAX_FC] = {0};
    raw[0] = malloc(sizeof(double) * 4 * U * U);
    double *assoc = malloc(sizeof(double) * MS_ASSOC_N * U * U);
    CHECK_OK(ms_assoc_compute(&L, params, x, N, 1u, raw));
    ms_assoc_finish(raw[0], U, assoc);
    int labels[U];
    int32_t lab[U];
    ms_mod_cfg_t cfg = {.steps = 2000, .entropy = 0.5, .seed = 3, .sub = 0};
    ms_mod_result_t res;
    CHECK_OK(ms_mod_maximise(assoc, U, &cfg, labels, &res)); /* method 0: forward_cov */
    for (int j = 0; j < U; j++)
        lab[j] = labels[j];
    CHECK_MSG(ms_part_ari(lab, unit, U) == 1.0, "Newman partition: ARI %.4f (%d clusters)",
              ms_part_ari(lab, unit, U), res.k);
    free(raw[0]), free(assoc), free(params), free(x);
}

int main(void) {
    RUN_TEST(test_share);
    RUN_TEST(test_share_known);
    RUN_TEST(test_input_modules);
    RUN_TEST(test_unit_modules);
    RUN_TEST(test_newman_blocks);
    RUN_TEST(test_planted_toy);
    return ms_test_summary();
}
