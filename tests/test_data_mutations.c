/* Robustness of the dataset loaders (data.h) against damaged files: valid
 * IDX (raw and gzip) and CIFAR-10 files get deterministic random damage
 * (flipped bytes, cuts, appended bytes, overwritten header fields) and every
 * load must either succeed with a consistent result or fail with a negative
 * code, a message naming the file, and a zeroed output. Run under
 * AddressSanitizer (MODSWEEP_SANITIZE=ON) this also catches out-of-bounds
 * access and leaks on every error path. */
#include "check.h"
#include "modsweep/data.h"
#include "modsweep/datagen.h"
#include "modsweep/error.h"
#include "modsweep/rng.h"

#include <string.h>
#include <zlib.h>

#define ROUNDS 300

static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 64);
    *n = fread(buf, 1, (size_t)len, f);
    fclose(f);
    return buf;
}

static void write_bytes(const char *path, const unsigned char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    fwrite(data, 1, n, f);
    fclose(f);
}

/* Damages buf (length *n, room for 64 more bytes) in one of five ways. */
static void mutate(ms_rng_t *r, unsigned char *buf, size_t *n) {
    switch (ms_rng_below(r, 5)) {
    case 0: /* flip a few bytes anywhere */
        for (int k = 0, m = 1 + (int)ms_rng_below(r, 4); k < m && *n; k++)
            buf[ms_rng_below(r, (uint32_t)*n)] ^= (unsigned char)(1 + ms_rng_below(r, 255));
        break;
    case 1: /* cut */
        *n = ms_rng_below(r, (uint32_t)*n + 1);
        break;
    case 2: /* append */
        for (uint32_t k = 0, m = 1 + ms_rng_below(r, 64); k < m; k++)
            buf[(*n)++] = (unsigned char)ms_rng_below(r, 256);
        break;
    case 3: /* a random big-endian word over one of the first 4 header words */
        if (*n >= 16) {
            uint32_t v = ms_rng_u32(r), at = 4 * ms_rng_below(r, 4);
            buf[at] = (unsigned char)(v >> 24);
            buf[at + 1] = (unsigned char)(v >> 16);
            buf[at + 2] = (unsigned char)(v >> 8);
            buf[at + 3] = (unsigned char)v;
        }
        break;
    default: /* a small header field (count, rows or cols) */
        if (*n >= 16) {
            uint32_t at = 4 + 4 * ms_rng_below(r, 3);
            memset(buf + at, 0, 4);
            buf[at + 3] = (unsigned char)ms_rng_below(r, 40);
        }
        break;
    }
}

/* The result of one load is either a consistent success or a clean error. */
static void check_outcome(int rc, const ms_images_t *im, const char *path_a, const char *path_b) {
    if (rc == 0) {
        CHECK(im->n > 0 && im->pixels && im->labels);
        for (int i = 0; i < im->n; i++)
            CHECK(im->labels[i] < 10);
        return;
    }
    CHECK_MSG(rc < 0, "positive return %d", rc);
    const char *m = ms_err_msg();
    CHECK_MSG(strstr(m, path_a) || (path_b && strstr(m, path_b)), "message names no file: %s", m);
    CHECK(im->n == 0 && !im->pixels && !im->labels);
}

static void fuzz_idx(int gzip) {
    char ip[600], lp[600], mp[600];
    const char *dir = ms_test_tmpdir();
    snprintf(ip, sizeof ip, "%s/m-images%s", dir, gzip ? ".gz" : "");
    snprintf(lp, sizeof lp, "%s/m-labels%s", dir, gzip ? ".gz" : "");
    snprintf(mp, sizeof mp, "%s/m-damaged", dir);
    ms_images_t im;
    CHECK_OK(ms_images_synthetic(&im, 20, 1, 12, 10, 3));
    CHECK_OK(ms_idx_write(ip, lp, &im, gzip));
    ms_images_free(&im);
    size_t ni = 0, nl = 0;
    unsigned char *gi = read_all(ip, &ni), *gl = read_all(lp, &nl);
    unsigned char *buf = malloc((ni > nl ? ni : nl) + 64);
    ms_rng_t r;
    ms_rng_init(&r, 99, MS_RNG_TESTDATA, (uint32_t)gzip);
    int failures = 0;
    for (int round = 0; round < ROUNDS; round++) {
        const int damage_images = round % 2 == 0;
        size_t n = damage_images ? ni : nl;
        memcpy(buf, damage_images ? gi : gl, n);
        mutate(&r, buf, &n);
        write_bytes(mp, buf, n);
        int rc = damage_images ? ms_idx_load(&im, mp, lp) : ms_idx_load(&im, ip, mp);
        check_outcome(rc, &im, mp, damage_images ? lp : ip);
        failures += rc != 0;
        ms_images_free(&im);
    }
    /* Nearly every damage must be noticed (a flipped pixel byte is not). */
    printf("idx %s: %d of %d damaged files refused\n", gzip ? "gzip" : "raw", failures, ROUNDS);
    CHECK(failures > ROUNDS / 2);
    free(buf);
    free(gi);
    free(gl);
}

static void test_idx_raw_damage(void) {
    fuzz_idx(0);
}
static void test_idx_gzip_damage(void) {
    fuzz_idx(1);
}

static void test_cifar_damage(void) {
    char good[600], bad[600];
    snprintf(good, sizeof good, "%s/m-good.bin", ms_test_tmpdir());
    snprintf(bad, sizeof bad, "%s/m-bad.bin", ms_test_tmpdir());
    ms_images_t im;
    CHECK_OK(ms_images_synthetic(&im, 3, 3, 32, 32, 4));
    CHECK_OK(ms_cifar10_write(good, &im));
    ms_images_free(&im);
    size_t n0 = 0;
    unsigned char *g = read_all(good, &n0);
    unsigned char *buf = malloc(n0 + 64);
    ms_rng_t r;
    ms_rng_init(&r, 99, MS_RNG_TESTDATA, 2);
    const char *paths[2] = {good, bad};
    for (int round = 0; round < ROUNDS; round++) {
        size_t n = n0;
        memcpy(buf, g, n);
        mutate(&r, buf, &n);
        write_bytes(bad, buf, n);
        int rc = ms_cifar10_load(&im, paths, 2);
        check_outcome(rc, &im, bad, NULL);
        if (rc == 0) CHECK_EQ_INT(im.n, 3 + (int)(n / 3073));
        ms_images_free(&im);
    }
    free(buf);
    free(g);
}

int main(void) {
    RUN_TEST(test_idx_raw_damage);
    RUN_TEST(test_idx_gzip_damage);
    RUN_TEST(test_cifar_damage);
    return ms_test_summary();
}
