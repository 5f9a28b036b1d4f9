/* Writes a small learnable synthetic data set in the MNIST IDX format (the
 * four files modsweep's mnist loader reads) for the MPI integration tests
 * and benchmarks:
 *
 *     ms_mkdata DIR N_TRAIN N_TEST
 *
 * Images come from ms_images_synthetic (datagen.h): the training set from
 * seed 1, the test set from seed 2, raw (not gzip) so writing is quick. */
#include "modsweep/datagen.h"
#include "modsweep/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: ms_mkdata DIR N_TRAIN N_TEST\n");
        return 2;
    }
    const char *dir = argv[1];
    int n_train = atoi(argv[2]), n_test = atoi(argv[3]);
    if (n_train < 10 || n_test < 10) {
        fprintf(stderr, "ms_mkdata: N_TRAIN and N_TEST must be at least 10\n");
        return 2;
    }
    mkdir(dir, 0755);
    char a[4096], b[4096];
    ms_images_t tr = {0}, te = {0};
    int rc = ms_images_synthetic(&tr, n_train, 1, 28, 28, 1);
    if (!rc) rc = ms_images_synthetic(&te, n_test, 1, 28, 28, 2);
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte", dir);
    snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte", dir);
    if (!rc) rc = ms_idx_write(a, b, &tr, 0);
    snprintf(a, sizeof a, "%s/t10k-images-idx3-ubyte", dir);
    snprintf(b, sizeof b, "%s/t10k-labels-idx1-ubyte", dir);
    if (!rc) rc = ms_idx_write(a, b, &te, 0);
    ms_images_free(&tr);
    ms_images_free(&te);
    if (rc) {
        fprintf(stderr, "ms_mkdata: %s\n", ms_err_msg());
        return 1;
    }
    return 0;
}
