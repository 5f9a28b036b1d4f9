/* Generated data sets in the real on-disk formats, for tests and
 * benchmarks: writers of IDX (MNIST) and CIFAR-10 batch files, and a
 * learnable synthetic 10-class image set.
 *
 * Typical use, a small MNIST-format data set for an integration test:
 *
 *     ms_images_t tr, te;
 *     ms_images_synthetic(&tr, 2000, 1, 28, 28, 1);   // train
 *     ms_images_synthetic(&te, 500, 1, 28, 28, 2);    // test, another seed
 *     ms_idx_write("dir/train-images-idx3-ubyte.gz", "dir/train-labels-idx1-ubyte.gz", &tr, 1);
 *     ms_idx_write("dir/t10k-images-idx3-ubyte.gz", "dir/t10k-labels-idx1-ubyte.gz", &te, 1);
 *     ms_images_free(&tr); ms_images_free(&te);
 *
 * then point an MS_DATA_MNIST configuration's dir at "dir". */
#ifndef MODSWEEP_DATAGEN_H
#define MODSWEEP_DATAGEN_H

#include <stdint.h>

#include "modsweep/data.h"

/* Writes im (c must be 1) as an IDX image file and an IDX label file,
 * gzip-compressed when gzip is non-zero, else raw. Either path may be NULL
 * to skip that file. Labels are written as given, even when >= 10, so tests
 * can make invalid files. On error (MS_EINVAL for c != 1 or sizes outside
 * the loader's limits, MS_EIO naming the file) a file being written is
 * removed. */
int ms_idx_write(const char *images_path, const char *labels_path, const ms_images_t *im, int gzip);

/* Writes im (3 x 32 x 32) as one CIFAR-10 binary batch: per image, its label
 * byte then the R, G and B 32 x 32 planes. Labels are written as given.
 * Errors as ms_idx_write. */
int ms_cifar10_write(const char *path, const ms_images_t *im);

/* Makes n synthetic labelled images of c x h x w (c 1..3, h and w >= 4)
 * that a small MLP or CNN learns well above chance in one epoch:
 * - each class K has a fixed prototype: two bright round blobs and one
 *   stroke at class-specific places, and for c > 1 a class-specific
 *   brightness per channel. The prototypes do NOT depend on seed (they come
 *   from a fixed key), so a training set and a test set made with different
 *   seeds are draws from the same distribution;
 * - image i is its class's prototype shifted by up to min(h, w) / 14 pixels
 *   in each direction, scaled by a contrast in [0.6, 1), plus noise of up to
 *   +-0.3 of full scale per pixel, rounded to 0..255;
 * - labels are balanced: every aligned block of 10 images (0..9, 10..19,
 *   ...) holds each class once, in a random order.
 * All randomness comes from rng.h stream MS_RNG_TESTDATA keyed by seed, with
 * sub-stream i for image i, and the arithmetic is plain float (no libm), so
 * the images are a pure function of (n, c, h, w, seed) and image i does not
 * depend on n. *out is overwritten, not freed; on error (MS_EINVAL,
 * MS_ENOMEM) it is left zeroed. */
int ms_images_synthetic(ms_images_t *out, int n, int c, int h, int w, uint64_t seed);

/* Makes n single-channel h x w images with planted modules: the image is
 * cut into `blocks` vertical strips of w / blocks columns (the last takes
 * the remainder), and strip b independently shows a sub-label s_b in
 * 0..sub-1 as a bright bar over rows [s_b h / sub, (s_b + 1) h / sub) of
 * the strip (contrast in [0.6, 1), the rest dark), plus noise of up to
 * +-0.3 of full scale per pixel. The label combines the sub-labels:
 * label = sum_b s_b sub^b, so sub^blocks <= 10 (for example 2 blocks of 3
 * or 3 blocks of 2 sub-labels), h >= sub and w >= 2 blocks. Each strip's pixels are one planted module
 * (ms_planted_modules). Randomness from stream MS_RNG_TESTDATA keyed by
 * seed, sub-stream 2^31 + i for image i: a pure function of the arguments.
 * Errors: MS_EINVAL (naming the set-up), MS_ENOMEM; *out is left zeroed. */
int ms_images_planted(ms_images_t *out, int n, int h, int w, int blocks, int sub, uint64_t seed);

/* As ms_images_planted, but a sub-label that needs hidden units to read:
 * strip b shows two bars, one at position a_b in 0..sub-1 of its upper half
 * (rows [0, h / 2)) and one at position c_b of its lower half, each
 * covering 1 / sub of its half's rows; a_b and c_b are independent and
 * uniform, and the strip's sub-label is s_b = (a_b + c_b) mod sub, so its
 * class-conditional pixel means are the same for every sub-label (no
 * linear read-out of one pixel set tells s_b; a unit must combine the two
 * halves of the strip). label = sum_b s_b sub^b; the strips are the planted
 * modules (ms_planted_modules). Needs h >= 2 sub; otherwise as
 * ms_images_planted (sub-stream 3 x 2^30 + i for image i). */
int ms_images_planted_pairs(ms_images_t *out, int n, int h, int w, int blocks, int sub,
                            uint64_t seed);

/* The planted module (strip) of each pixel of ms_images_planted, row-major
 * (h * w entries): the input-unit labels to compare clusterings with. */
void ms_planted_modules(int h, int w, int blocks, int32_t *module);

#endif
