/* Long check (tests/run.sh --long): on the trained paper CNN of
 * tests/fixtures/prune_cnn.msfx, the fast path equals the naive loop for all
 * four fc layers (on 2 images: the naive loop re-evaluates the 262,144-weight
 * fc1 for every candidate), and for fc4, fc3 and fc2 on all 200 images. */
#include "prune_cnn_fixture.h"

static void test_all_layers_two_images(void) { fast_vs_naive(0xF, 2); }
static void test_fc4_fc3_fc2_all_images(void) { fast_vs_naive(0xE, 200); }

int main(int argc, char **argv) {
    prune_cnn_begin(&argc, &argv);
    RUN_TEST(test_fc4_fc3_fc2_all_images);
    RUN_TEST(test_all_layers_two_images);
    return prune_cnn_end();
}
