/* Pruning against PyTorch and the naive loop on a trained paper CNN
 * (tests/fixtures/prune_cnn.msfx, written by tests/gen_prune_fixture.py):
 *  - the fc4 and fc3 masks equal those of seed 000's loop run by PyTorch in
 *    float64 on the same model and images, and so do L0 and the final loss;
 *  - the fast path equals the naive loop on fc4, fc3 and fc2 in full. */
#include "prune_cnn_fixture.h"

static long mask_diff(const uint8_t *mask, int l, const uint8_t *ref) {
    size_t off = 0;
    for (int k = 0; k < l; k++) off += L.t[L.fc_weight[k]].n;
    long d = 0;
    for (size_t j = 0; j < L.t[L.fc_weight[l]].n; j++) d += mask[off + j] != ref[j];
    return d;
}

static void test_masks_equal_pytorch_seed_loop(void) {
    ms_prune_cfg_t cfg = {.label = label, .layers = 0xC, .comm = MPI_COMM_SELF};
    ms_prune_result_t res = {.mask = malloc(L.n_fc_weights)};
    CHECK_OK(ms_prune(&L, params, split.x, split.n, &cfg, &res));
    const uint8_t *m4 = ms_fixture_get(&fx, "mask.fc4")->data, *m3 = ms_fixture_get(&fx, "mask.fc3")->data;
    long d4 = mask_diff(res.mask, 3, m4), d3 = mask_diff(res.mask, 2, m3);
    double l0 = ms_fixture_f64(&fx, "loss0", 1)[0], lf = ms_fixture_f64(&fx, "loss_final", 1)[0];
    printf("  %d images of class %d: fc4 keeps %ld (PyTorch: mask differs in %ld), fc3 keeps %ld "
           "(differs in %ld)\n  L0 %.12f vs PyTorch %.12f; final %.12f vs %.12f; ties %ld\n",
           split.n, label, res.kept[3], d4, res.kept[2], d3, res.loss0, l0, res.loss_final, lf,
           res.ties);
    CHECK_EQ_INT(d4, 0);
    CHECK_EQ_INT(d3, 0);
    CHECK_NEAR(res.loss0, l0, 1e-12);
    CHECK_NEAR(res.loss_final, lf, 1e-12);
    CHECK_EQ_INT(res.kept[1], L.t[L.fc_weight[1]].n); /* layers not pruned stay whole */
    free(res.mask);
}

static void test_fast_equals_naive_fc4_fc3_fc2(void) { fast_vs_naive(0xE, 60); }

int main(int argc, char **argv) {
    prune_cnn_begin(&argc, &argv);
    RUN_TEST(test_masks_equal_pytorch_seed_loop);
    RUN_TEST(test_fast_equals_naive_fc4_fc3_fc2);
    return prune_cnn_end();
}
