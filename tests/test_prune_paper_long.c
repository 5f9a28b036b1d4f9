/* Long check (tests/run.sh --long): on the trained paper CNN of
 * tests/fixtures/prune_cnn.msfx, the fast path equals the naive loop for all
 * four fc layers (on 2 images: the naive loop re-evaluates the 262,144-weight
 * fc1 for every candidate), and for fc4, fc3 and fc2 on all 200 images. */
#include "modsweep/kernels.h"
#include "prune_cnn_fixture.h"

static void test_all_layers_two_images(void) { fast_vs_naive(0xF, 2); }
static void test_fc4_fc3_fc2_all_images(void) { fast_vs_naive(0xE, 200); }

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    ms_kernels_set_threads(2);
    if (setup()) {
        printf("cannot set up the fixture\n");
        MPI_Finalize();
        return 1;
    }
    RUN_TEST(test_fc4_fc3_fc2_all_images);
    RUN_TEST(test_all_layers_two_images);
    int rc = ms_test_summary();
    ms_fixture_free(&fx);
    ms_split_free(&split);
    free(params);
    MPI_Finalize();
    return rc;
}
