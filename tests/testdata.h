/* Small networks and data sets that several unit tests build the same way
 * (defined in testutil.c, linked into every test through ms_testutil). */
#ifndef MS_TESTDATA_H
#define MS_TESTDATA_H

#include "modsweep/data.h"
#include "modsweep/nn.h"
#include "modsweep/rng.h"

/* A small CNN: in_c x hw x hw inputs, one 3 x 3 convolution (padding 1,
 * with bias) to conv_c channels, then fc layers of fc1, fc2 and 10 units,
 * with bias. */
ms_arch_t ms_test_small_cnn(int in_c, int hw, int conv_c, int fc1, int fc2);

/* Fills *s with n random c x h x w images of 10 classes: image i has label
 * i % 10, and element e is ms_rng_float(r) + amp where e % 10 is the label
 * (ms_rng_float(r) elsewhere), drawn from r in image, then element order.
 * Sets class_count and n_classes; free with ms_split_free. */
void ms_test_random_split(ms_split_t *s, int n, int c, int h, int w, float amp, ms_rng_t *r);

/* Writes generated MNIST-format data (ms_images_synthetic, 1 x 28 x 28:
 * n_train training images of seed 1, n_test test images of seed 2) as the
 * four gzipped IDX files of the MNIST layout in folder dir. Returns 0 or a
 * negative ms_err_t. */
int ms_test_write_mnist(const char *dir, int n_train, int n_test);

#endif
