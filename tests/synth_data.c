/* Helper of tests/test_*.sh scripts: writes a synthetic MNIST-format data
 * set (datagen.h: learnable 10-class 28 x 28 images, balanced labels) into a
 * folder, so a script can run the modsweep binary on it with
 * `dataset = mnist` and `dir = DIR`.
 *
 *   synth_data DIR [N_TRAIN [N_TEST [ROWSxCOLS [ROWSxCOLS]]]]
 *                                   (defaults 600, 300, 28x28, 28x28)
 *   synth_data --planted BLOCKS SUB DIR [N_TRAIN [N_TEST]]
 *   synth_data --planted-pairs BLOCKS SUB DIR [N_TRAIN [N_TEST]]
 *
 * With --planted the images are ms_images_planted's (28 x 28, BLOCKS
 * vertical strips each showing one of SUB sub-labels; label = sum_b s_b
 * SUB^b; the strips are the planted modules of the input pixels) instead
 * of the 10-class synthetic set; with --planted-pairs they are
 * ms_images_planted_pairs's (each strip's sub-label is (upper bar + lower
 * bar) mod SUB, so it needs hidden units).
 *
 * Creates DIR if needed and writes DIR/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz from seeds 1
 * (train) and 2 (test). The first ROWSxCOLS is the shape of the test images,
 * the second that of the training images (for the tests of those faults).
 * Exit 0 on success, 1 with a message otherwise. */
#include "modsweep/datagen.h"
#include "modsweep/error.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int planted_blocks, planted_sub; /* --planted (0: the synthetic set) */
static int planted_pairs;               /* --planted-pairs: ms_images_planted_pairs */

static int write_split(const char *dir, const char *prefix, int n, int h, int w, uint64_t seed) {
    char im_path[1200], lb_path[1200];
    snprintf(im_path, sizeof im_path, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(lb_path, sizeof lb_path, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    ms_images_t im;
    int rc = planted_pairs
                 ? ms_images_planted_pairs(&im, n, h, w, planted_blocks, planted_sub, seed)
             : planted_blocks ? ms_images_planted(&im, n, h, w, planted_blocks, planted_sub, seed)
                              : ms_images_synthetic(&im, n, 1, h, w, seed);
    if (!rc) rc = ms_idx_write(im_path, lb_path, &im, 1);
    ms_images_free(&im);
    return rc;
}

int main(int argc, char **argv) {
    if (argc > 3 &&
        (strcmp(argv[1], "--planted") == 0 || strcmp(argv[1], "--planted-pairs") == 0)) {
        planted_pairs = strcmp(argv[1], "--planted-pairs") == 0;
        planted_blocks = atoi(argv[2]);
        planted_sub = atoi(argv[3]);
        argv += 3;
        argc -= 3;
        if (planted_blocks < 1 || planted_sub < 2) {
            fprintf(stderr, "synth_data: --planted needs BLOCKS >= 1 and SUB >= 2\n");
            return 1;
        }
        if (argc > 4) {
            fprintf(stderr, "usage: synth_data --planted BLOCKS SUB DIR [N_TRAIN [N_TEST]]\n");
            return 1;
        }
    }
    if (argc < 2 || argc > 6) {
        fprintf(stderr, "usage: synth_data [--planted BLOCKS SUB] DIR [N_TRAIN [N_TEST "
                        "[ROWSxCOLS [ROWSxCOLS]]]]\n");
        return 1;
    }
    const int n_train = argc > 2 ? atoi(argv[2]) : 600, n_test = argc > 3 ? atoi(argv[3]) : 300;
    if (n_train < 10 || n_test < 10) {
        fprintf(stderr, "synth_data: need at least 10 images per split\n");
        return 1;
    }
    if (mkdir(argv[1], 0755) != 0 && errno != EEXIST) {
        perror(argv[1]);
        return 1;
    }
    int h[2] = {28, 28}, w[2] = {28, 28}; /* test, train */
    for (int i = 0; i < 2 && argc > 4 + i; i++)
        if (sscanf(argv[4 + i], "%dx%d", &h[i], &w[i]) != 2 || h[i] < 1 || w[i] < 1) {
            fprintf(stderr, "synth_data: a shape is written ROWSxCOLS, got '%s'\n", argv[4 + i]);
            return 1;
        }
    if (write_split(argv[1], "train", n_train, h[1], w[1], 1) ||
        write_split(argv[1], "t10k", n_test, h[0], w[0], 2)) {
        fprintf(stderr, "synth_data: %s\n", ms_err_msg());
        return 1;
    }
    return 0;
}
