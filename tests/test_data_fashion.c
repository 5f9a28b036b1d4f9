/* Loads the real Fashion-MNIST of Debian's dataset-fashion-mnist (the
 * embedded default data set) through ms_data_load's defaults; skipped when
 * /usr/share/datasets/fashion-mnist is absent. The references are the
 * published facts of the data set: 60000 training and 10000 test images of
 * 28x28, 6000 and 1000 per class, training-pixel mean 0.2860, and the first
 * labels of each file. */
#include "check.h"
#include "modsweep/data.h"
#include "modsweep/error.h"

#include <string.h>
#include <sys/stat.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

static ms_split_t train, test;

static void test_counts_and_shapes(void) {
    CHECK_EQ_INT(train.n, 60000);
    CHECK_EQ_INT(test.n, 10000);
    CHECK_EQ_INT(train.c, 1);
    CHECK_EQ_INT(train.h, 28);
    CHECK_EQ_INT(train.w, 28);
    CHECK_EQ_INT(train.n_classes, 10);
    for (int k = 0; k < 10; k++) {
        CHECK_EQ_INT(train.class_count[k], 6000);
        CHECK_EQ_INT(test.class_count[k], 1000);
    }
    int32_t *idx = malloc(sizeof(int32_t) * 10000);
    CHECK_EQ_INT(ms_split_class_indices(&test, 9, idx), 1000);
    CHECK_EQ_INT(idx[0], 0); /* test image 0 is an ankle boot */
    free(idx);
}

/* First labels of the two files (train: ankle boot, T-shirt, T-shirt, dress, ...). */
static void test_first_labels(void) {
    const uint8_t tr[10] = {9, 0, 0, 3, 0, 2, 7, 2, 5, 5};
    const uint8_t te[10] = {9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
    CHECK(memcmp(train.y, tr, 10) == 0);
    CHECK(memcmp(test.y, te, 10) == 0);
}

/* Default normalisation is MNIST's (x/255 - 0.1307)/0.3081, so the mean of
 * the normalised training set is (0.2860 - 0.1307) / 0.3081 = 0.5041. */
static void test_normalised_statistics(void) {
    double sum = 0, lo = 1e9, hi = -1e9;
    const size_t n = (size_t)train.n * 784;
    for (size_t i = 0; i < n; i++) {
        sum += train.x[i];
        if (train.x[i] < lo) lo = train.x[i];
        if (train.x[i] > hi) hi = train.x[i];
    }
    CHECK_NEAR(sum / (double)n, (0.2860 - 0.1307) / 0.3081, 2e-4);
    CHECK_NEAR(lo, -0.1307 / 0.3081, 1e-6);
    CHECK_NEAR(hi, (1 - 0.1307) / 0.3081, 1e-6);
}

int main(void) {
    struct stat st;
    if (stat(FASHION_DIR "/train-images-idx3-ubyte.gz", &st) != 0 &&
        stat(FASHION_DIR "/train-images-idx3-ubyte", &st) != 0)
        return ms_test_skip(FASHION_DIR " is absent (Debian package dataset-fashion-mnist)");
    ms_data_cfg_t cfg;
    ms_data_cfg_defaults(&cfg, MS_DATA_FASHION);
    int rc = ms_data_load(&cfg, &train, &test);
    if (rc) {
        fprintf(stderr, "ms_data_load: %s\n", ms_err_msg());
        return 1;
    }
    RUN_TEST(test_counts_and_shapes);
    RUN_TEST(test_first_labels);
    RUN_TEST(test_normalised_statistics);
    ms_split_free(&train);
    ms_split_free(&test);
    return ms_test_summary();
}
