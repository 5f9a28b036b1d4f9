/* The planted-module data set (ms_images_planted, datagen.h) and its
 * recovery:
 * - every label is the combination sum_b s_b sub^b of the sub-labels read
 *   back here from the pixels (the brightest band of each strip), every
 *   combination occurs, and the set is a pure function of its arguments;
 * - written in the real IDX format and loaded back by ms_data_load (as
 *   `dataset = mnist` with `dir` at the folder) unchanged;
 * - a planted toy recovered exactly: BSGC of the absolute pixel
 *   correlation matrix (symmetric: one clustering) at k = blocks gives the
 *   planted strips, adjusted Rand index 1 (ms_part_ari);
 * - the paired set (ms_images_planted_pairs): labels read back from the
 *   two bars of each strip, and no single bar position tells the class. */
#include "check.h"
#include "modsweep/cluster.h"
#include "modsweep/data.h"
#include "modsweep/datagen.h"
#include "modsweep/error.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { H = 12, W = 12, P = H * W };

/* The bar position in rows [y0, y0 + m) of strip b: the band of the
 * largest mean. */
static int read_bar(const uint8_t *img, int blocks, int sub, int b, int y0, int m) {
    const int bw = W / blocks, x0 = b * bw, x1 = b == blocks - 1 ? W : x0 + bw;
    int best = -1;
    double bm = -1;
    for (int s = 0; s < sub; s++) {
        double sum = 0;
        int cnt = 0;
        for (int y = 0; y < m; y++)
            if (y * sub / m == s)
                for (int x = x0; x < x1; x++)
                    sum += img[(y0 + y) * W + x], cnt++;
        if (sum / cnt > bm) bm = sum / cnt, best = s;
    }
    return best;
}

/* The sub-label strip b of image img shows: the band of the largest mean
 * over all its rows. */
static int read_sub(const uint8_t *img, int blocks, int sub, int b) {
    return read_bar(img, blocks, sub, b, 0, H);
}

static void test_labels(void) {
    const int setups[3][2] = {{2, 3}, {3, 2}, {1, 10}};
    for (int t = 0; t < 3; t++) {
        const int blocks = setups[t][0], sub = setups[t][1];
        ms_images_t im, again;
        if (ms_images_planted(&im, 500, H, W, blocks, sub, 7) ||
            ms_images_planted(&again, 500, H, W, blocks, sub, 7)) {
            CHECK_MSG(0, "set-up %d: %s", t, ms_err_msg());
            return;
        }
        CHECK(memcmp(im.pixels, again.pixels, (size_t)500 * P) == 0);
        CHECK(memcmp(im.labels, again.labels, 500) == 0);
        int seen[10] = {0}, classes = 1;
        for (int b = 0; b < blocks; b++)
            classes *= sub;
        for (int i = 0; i < 500; i++) {
            int label = 0, scale = 1;
            for (int b = 0; b < blocks; b++, scale *= sub)
                label += read_sub(im.pixels + (size_t)i * P, blocks, sub, b) * scale;
            CHECK_MSG(label == im.labels[i], "set-up %d image %d: label %d, pixels say %d", t, i,
                      im.labels[i], label);
            CHECK(im.labels[i] < classes);
            seen[im.labels[i]]++;
        }
        for (int c = 0; c < classes; c++)
            CHECK(seen[c] > 0);
        ms_images_free(&im);
        ms_images_free(&again);
    }
    ms_images_t bad;
    CHECK(ms_images_planted(&bad, 10, H, W, 4, 2, 1) == MS_EINVAL); /* 16 classes */
    CHECK(strstr(ms_err_msg(), "planted") != NULL);
}

static void test_idx_round_trip(void) {
    char d[1100], a[1200], b[1200], c[1200], e[1200];
    snprintf(d, sizeof d, "%s", ms_test_tmpdir());
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte.gz", d);
    snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte.gz", d);
    snprintf(c, sizeof c, "%s/t10k-images-idx3-ubyte.gz", d);
    snprintf(e, sizeof e, "%s/t10k-labels-idx1-ubyte.gz", d);
    ms_images_t tr, te;
    CHECK_OK(ms_images_planted(&tr, 300, 28, 28, 2, 3, 1));
    CHECK_OK(ms_images_planted(&te, 100, 28, 28, 2, 3, 2));
    CHECK_OK(ms_idx_write(a, b, &tr, 1));
    CHECK_OK(ms_idx_write(c, e, &te, 1));
    ms_data_cfg_t cfg;
    ms_data_cfg_defaults(&cfg, MS_DATA_MNIST);
    snprintf(cfg.dir, sizeof cfg.dir, "%s", d);
    cfg.norm = MS_NORM_NONE;
    ms_split_t s1, s2;
    CHECK_OK(ms_data_load(&cfg, &s1, &s2));
    CHECK_EQ_INT(s1.n, 300);
    CHECK_EQ_INT(s2.n, 100);
    for (int i = 0; i < 100; i++) {
        CHECK_EQ_INT(s2.y[i], te.labels[i]);
        for (int p = 0; p < 28 * 28; p++)
            CHECK(s2.x[(size_t)i * 784 + p] == (float)te.pixels[(size_t)i * 784 + p]);
    }
    ms_split_free(&s1);
    ms_split_free(&s2);
    ms_images_free(&tr);
    ms_images_free(&te);
}

static void test_recovery(void) {
    const int setups[2][2] = {{2, 3}, {3, 2}};
    for (int t = 0; t < 2; t++) {
        const int blocks = setups[t][0], sub = setups[t][1], n = 3000;
        ms_images_t im;
        CHECK_OK(ms_images_planted(&im, n, H, W, blocks, sub, 11));
        double *mean = calloc(P, sizeof(double)), *C = calloc((size_t)P * P, sizeof(double));
        for (int i = 0; i < n; i++)
            for (int p = 0; p < P; p++)
                mean[p] += im.pixels[(size_t)i * P + p] / (double)n;
        for (int i = 0; i < n; i++) {
            const uint8_t *img = im.pixels + (size_t)i * P;
            for (int p = 0; p < P; p++)
                for (int q = 0; q < P; q++)
                    C[(size_t)p * P + q] += (img[p] - mean[p]) * (img[q] - mean[q]);
        }
        for (int p = 0; p < P; p++)
            for (int q = 0; q < P; q++)
                if (p != q)
                    C[(size_t)p * P + q] /= sqrt(C[(size_t)p * P + p] * C[(size_t)q * P + q]);
        for (int p = 0; p < P; p++)
            C[(size_t)p * P + p] = 1.0;
        int32_t row[P], col[P], planted[P];
        ms_planted_modules(H, W, blocks, planted);
        CHECK_OK(ms_bsgc(C, P, P, blocks, 10, 1, 0, NULL, row, col));
        CHECK(memcmp(row, col, sizeof row) == 0);
        const double ari = ms_part_ari(col, planted, P);
        CHECK_MSG(ari == 1.0, "set-up %d: ARI %.6f of the pixel clusters", t, ari);
        free(mean), free(C);
        ms_images_free(&im);
    }
}

/* The paired planted set: every label is sum_b ((a_b + c_b) mod sub) sub^b
 * of the bar positions read back from the pixels, every combination
 * occurs, the set is a pure function of its arguments; and no single bar
 * tells the label: within each class, each bar position of each half of
 * each strip occurs in a share near 1 / sub of the images (the bar set of
 * ms_images_planted fails this: there the position is the sub-label). */
static void test_pairs(void) {
    const int setups[2][2] = {{2, 3}, {3, 2}};
    for (int t = 0; t < 2; t++) {
        const int blocks = setups[t][0], sub = setups[t][1], n = 6000;
        ms_images_t im, again;
        if (ms_images_planted_pairs(&im, n, H, W, blocks, sub, 5) ||
            ms_images_planted_pairs(&again, n, H, W, blocks, sub, 5)) {
            CHECK_MSG(0, "set-up %d: %s", t, ms_err_msg());
            return;
        }
        CHECK(memcmp(im.pixels, again.pixels, (size_t)n * P) == 0);
        CHECK(memcmp(im.labels, again.labels, (size_t)n) == 0);
        int classes = 1;
        for (int b = 0; b < blocks; b++)
            classes *= sub;
        /* count[class][strip][half][position] */
        static int count[10][3][2][3], per[10];
        memset(count, 0, sizeof count), memset(per, 0, sizeof per);
        for (int i = 0; i < n; i++) {
            const uint8_t *img = im.pixels + (size_t)i * P;
            int label = 0, scale = 1, pos[3][2];
            for (int b = 0; b < blocks; b++, scale *= sub) {
                pos[b][0] = read_bar(img, blocks, sub, b, 0, H / 2);
                pos[b][1] = read_bar(img, blocks, sub, b, H / 2, H - H / 2);
                label += (pos[b][0] + pos[b][1]) % sub * scale;
            }
            CHECK_MSG(label == im.labels[i], "set-up %d image %d: label %d, pixels say %d", t, i,
                      im.labels[i], label);
            if (label != im.labels[i] || label >= classes) continue;
            per[label]++;
            for (int b = 0; b < blocks; b++)
                for (int hf = 0; hf < 2; hf++)
                    count[label][b][hf][pos[b][hf]]++;
        }
        for (int c = 0; c < classes; c++) {
            CHECK(per[c] > n / classes / 2);
            for (int b = 0; b < blocks; b++)
                for (int hf = 0; hf < 2; hf++)
                    for (int a = 0; a < sub; a++) {
                        const double share = count[c][b][hf][a] / (double)per[c];
                        CHECK_MSG(fabs(share - 1.0 / sub) < 0.08,
                                  "set-up %d class %d strip %d half %d: position %d in %.3f "
                                  "of the images",
                                  t, c, b, hf, a, share);
                    }
        }
        ms_images_free(&im);
        ms_images_free(&again);
    }
    ms_images_t bad;
    CHECK(ms_images_planted_pairs(&bad, 10, 5, W, 2, 3, 1) == MS_EINVAL); /* h < 2 sub */
    CHECK(strstr(ms_err_msg(), "planted") != NULL);
}

int main(void) {
    RUN_TEST(test_labels);
    RUN_TEST(test_pairs);
    RUN_TEST(test_idx_round_trip);
    RUN_TEST(test_recovery);
    return ms_test_summary();
}
