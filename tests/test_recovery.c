/* Recovery of planted modules (recovery.h, and ms_part_ari on BSGC):
 * - ms_circuit_module_share against a brute force that finds each unit's
 *   most frequent module by sorting its kept inputs' modules (the longest
 *   run), on random masks, plus a hand-worked case and the NaN cases;
 * - a planted toy recovered exactly: the fc1 weights of a hand-built MLP on
 *   28 x 28 inputs are block-diagonal over the planted strips (each hidden
 *   unit reads one strip, random magnitudes), and weight-based BSGC at
 *   k = blocks gives input clusters with adjusted Rand index 1 against
 *   ms_planted_modules; a dense random fc1 does not (ARI near 0). */
#include "check.h"
#include "modsweep/cluster.h"
#include "modsweep/datagen.h"
#include "modsweep/error.h"
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
        /* Dense random weights: no planted structure to find. */
        for (int e = 0; e < O * P; e++)
            W[e] = ms_rng_float(&r);
        CHECK_OK(ms_bsgc(W, O, P, blocks, 10, 1, 0, NULL, row, col));
        CHECK_MSG(fabs(ms_part_ari(col, module, P)) < 0.2, "%d blocks: dense ARI %.4f", blocks,
                  ms_part_ari(col, module, P));
        free(W);
    }
}

int main(void) {
    RUN_TEST(test_share);
    RUN_TEST(test_planted_toy);
    return ms_test_summary();
}
