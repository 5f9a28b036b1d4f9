/* Tests of the Philox counter-based generator (rng.h). */
#include "check.h"
#include "modsweep/rng.h"

#include <string.h>

/* Known answers of Philox4x32-10 from the Random123 distribution (kat_vectors). */
static void test_philox_known_answers(void) {
    uint32_t out[4];
    const uint32_t c0[4] = {0, 0, 0, 0}, k0[2] = {0, 0};
    ms_philox4x32(c0, k0, out);
    CHECK_EQ_INT(out[0], 0x6627e8d5u);
    CHECK_EQ_INT(out[1], 0xe169c58du);
    CHECK_EQ_INT(out[2], 0xbc57ac4cu);
    CHECK_EQ_INT(out[3], 0x9b00dbd8u);
    const uint32_t c1[4] = {0xffffffffu, 0xffffffffu, 0xffffffffu, 0xffffffffu};
    const uint32_t k1[2] = {0xffffffffu, 0xffffffffu};
    ms_philox4x32(c1, k1, out);
    CHECK_EQ_INT(out[0], 0x408f276du);
    CHECK_EQ_INT(out[1], 0x41c83b0eu);
    CHECK_EQ_INT(out[2], 0xa20bc7c6u);
    CHECK_EQ_INT(out[3], 0x6d5451fdu);
    const uint32_t c2[4] = {0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u};
    const uint32_t k2[2] = {0xa4093822u, 0x299f31d0u};
    ms_philox4x32(c2, k2, out);
    CHECK_EQ_INT(out[0], 0xd16cfe09u);
    CHECK_EQ_INT(out[1], 0x94fdccebu);
    CHECK_EQ_INT(out[2], 0x5001e420u);
    CHECK_EQ_INT(out[3], 0x24126ea1u);
}

/* Sequential reads, seeks and random access agree. */
static void test_seek_and_random_access(void) {
    ms_rng_t a, b;
    ms_rng_init(&a, 42, MS_RNG_INIT, 3);
    float seq[11];
    for (int i = 0; i < 11; i++) seq[i] = ms_rng_float(&a);
    for (int i = 0; i < 11; i++) {
        ms_rng_init(&b, 42, MS_RNG_INIT, 3);
        ms_rng_seek(&b, (uint64_t)i);
        CHECK(ms_rng_float(&b) == seq[i]);
        CHECK(ms_rng_float_at(42, MS_RNG_INIT, 3, (uint64_t)i) == seq[i]);
    }
    /* Different sub-streams and seeds differ. */
    ms_rng_init(&b, 42, MS_RNG_INIT, 4);
    CHECK(ms_rng_float(&b) != seq[0]);
    ms_rng_init(&b, 43, MS_RNG_INIT, 3);
    CHECK(ms_rng_float(&b) != seq[0]);
}

/* Uniform floats lie in [0,1) with mean 1/2; bounded integers are in range and
 * roughly uniform; a shuffle is a permutation. */
static void test_distributions(void) {
    ms_rng_t r;
    ms_rng_init(&r, 7, MS_RNG_TESTDATA, 0);
    double sum = 0;
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++) {
        float u = ms_rng_float(&r);
        CHECK(u >= 0.0f && u < 1.0f);
        sum += u;
        counts[ms_rng_below(&r, 10)]++;
    }
    CHECK_NEAR(sum / 100000, 0.5, 0.01);
    for (int i = 0; i < 10; i++) CHECK_NEAR(counts[i], 10000, 500);
    int32_t idx[100];
    for (int i = 0; i < 100; i++) idx[i] = i;
    ms_rng_shuffle(&r, idx, 100);
    int seen[100] = {0}, moved = 0;
    for (int i = 0; i < 100; i++) {
        seen[idx[i]]++;
        moved += idx[i] != i;
    }
    for (int i = 0; i < 100; i++) CHECK_EQ_INT(seen[i], 1);
    CHECK(moved > 50);
    double s2 = 0, s1 = 0;
    for (int i = 0; i < 20000; i++) {
        double z = ms_rng_normal(&r);
        s1 += z;
        s2 += z * z;
    }
    CHECK_NEAR(s1 / 20000, 0.0, 0.03);
    CHECK_NEAR(s2 / 20000, 1.0, 0.05);
}

int main(void) {
    RUN_TEST(test_philox_known_answers);
    RUN_TEST(test_seek_and_random_access);
    RUN_TEST(test_distributions);
    return ms_test_summary();
}
