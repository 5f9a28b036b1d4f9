/* The fast pruning path against the naive reference loop: identical masks,
 * losses and tie counts on small trained MLPs and CNNs (with and without
 * biases), for every window length; plus the exact exp/log and the canonical
 * loss of the result. */
#include "check.h"
#include "prune_common.h"
#include "modsweep/kernels.h"
#include "modsweep/prune.h"

#include <mpi.h>

static void test_exact_exp_log(void) {
    double worst_e = 0, worst_l = 0;
    for (int i = -200000; i <= 200000; i++) {
        double x = i * 3.7e-4; /* -74 .. 74 */
        double e = ms_exact_exp(x), ref = exp(x);
        double rel = fabs(e - ref) / ref;
        if (rel > worst_e) worst_e = rel;
        double y = 0.5 + (i + 200000) * 2.5e-4; /* 0.5 .. 100.5 */
        double lg = ms_exact_log(y), lref = log(y);
        double rl = fabs(lg - lref) / fmax(fabs(lref), 1e-300);
        if (lref != 0 && rl > worst_l) worst_l = rl;
    }
    printf("  exp max rel error %.3g, log max rel error %.3g\n", worst_e, worst_l);
    CHECK(worst_e < 1e-15);
    CHECK(worst_l < 1e-15);
    CHECK(ms_exact_exp(0.0) == 1.0);
    CHECK(ms_exact_log(1.0) == 0.0);
    CHECK(ms_exact_exp(-800) == 0.0);
    CHECK(isinf(ms_exact_exp(800)));
    CHECK(isnan(ms_exact_log(-1)));
}

/* Prunes with the naive loop and with the fast path at several window
 * lengths; everything must be identical. */
static void compare_paths(const char *name, const ms_arch_t *arch, int n_train, int epochs,
                          int label, int max_images, uint32_t layers) {
    float *params = NULL;
    ms_split_t test;
    CHECK_OK(prune_test_model(arch, n_train, epochs, 11, &params, &test));
    if (!params) return;
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, arch));
    int N;
    float *x = prune_test_images(&test, label, max_images, &N);
    const size_t NW = L.n_fc_weights;
    ms_prune_cfg_t cfg = {.label = label, .layers = layers, .comm = MPI_COMM_SELF, .naive = 1};
    ms_prune_result_t ref = {.mask = malloc(NW)}, fast = {.mask = malloc(NW)};
    CHECK_OK(ms_prune(&L, params, x, N, &cfg, &ref));
    const int windows[] = {0, 1, 7, 64};
    for (int wi = 0; wi < 4; wi++) {
        cfg.naive = 0;
        cfg.window = windows[wi];
        CHECK_OK(ms_prune(&L, params, x, N, &cfg, &fast));
        long diff = 0;
        for (size_t j = 0; j < NW; j++) diff += ref.mask[j] != fast.mask[j];
        CHECK_MSG(diff == 0, "%s window %d: %ld of %zu mask entries differ from the naive loop",
                  name, windows[wi], diff, NW);
        CHECK(fast.loss0 == ref.loss0);
        CHECK(fast.loss_final == ref.loss_final);
        CHECK_EQ_INT(fast.ties, ref.ties);
        for (int l = 0; l < arch->n_fc; l++) CHECK_EQ_INT(fast.kept[l], ref.kept[l]);
        if (wi == 0)
            printf("  %-26s N=%3d  ECS %.4f  kept/layer", name, N, fast.ecs);
        if (wi == 0) {
            for (int l = 0; l < arch->n_fc; l++) printf(" %ld/%ld", fast.kept[l], fast.total[l]);
            printf("  L0 %.6f -> %.6f  ties %ld  naive %.2fs fast %.3fs\n", fast.loss0,
                   fast.loss_final, fast.ties, ref.seconds, fast.seconds);
        }
    }
    /* The semantics: every accepted zeroing kept L <= L0, so the pruned model's
     * canonical loss is at most L0, and it is what the result says. */
    double lf = ms_prune_canonical_loss(&L, params, ref.mask, x, N, label);
    CHECK(lf == ref.loss_final);
    CHECK(ref.loss_final <= ref.loss0);
    /* Without biases, the last layer's rows pruned to nothing give logits
     * equal (0) in every sample: the fast path's cross-entropy shares their
     * exp. At least two such rows, so that the sharing is exercised. */
    if (!arch->fc_bias) {
        const int NC = arch->fc_out[arch->n_fc - 1], NI = L.fc_in[arch->n_fc - 1];
        const uint8_t *last = ref.mask + (NW - (size_t)NC * NI);
        int empty = 0;
        for (int c = 0; c < NC; c++) {
            int any = 0;
            for (int i = 0; i < NI; i++) any |= last[(size_t)c * NI + i];
            empty += !any;
        }
        printf("  %s: %d of %d logit rows pruned to nothing\n", name, empty, NC);
        CHECK(empty >= 2);
    }
    /* Something was pruned and something kept (a non-trivial case). */
    long kept = 0;
    for (int l = 0; l < arch->n_fc; l++) kept += ref.kept[l];
    CHECK(kept > 0 && kept < (long)NW);
    free(ref.mask);
    free(fast.mask);
    free(x);
    free(params);
    ms_split_free(&test);
}

static void test_mlp_no_bias(void) {
    ms_arch_t a = {.in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 3, .fc_out = {16, 12, 10}};
    compare_paths("mlp 64-16-12-10", &a, 2000, 2, 3, 60, 0x7);
}

static void test_mlp_bias(void) {
    ms_arch_t a = {.in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 3, .fc_out = {16, 12, 10}, .fc_bias = 1};
    compare_paths("mlp with bias", &a, 2000, 2, 7, 60, 0x7);
}

static void test_narrow(void) {
    /* Rows of 6, 2, 3 and 4 inputs: row trees of 3, 1 and 2 levels, where
     * the lowest stored level is the root or above it. */
    ms_arch_t a = {.in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 3, .fc_out = {6, 2, 10}, .fc_bias = 1};
    compare_paths("mlp 64-6-2-10", &a, 2000, 4, 1, 60, 0x7);
    ms_arch_t b = {.in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 3, .fc_out = {3, 4, 10}, .fc_bias = 1};
    compare_paths("mlp 64-3-4-10", &b, 2000, 2, 6, 60, 0x7);
}

static void test_cnn(void) {
    ms_arch_t a = {.in_c = 3, .in_h = 12, .in_w = 12, .n_conv = 1, .conv_c = {4}, .conv_k = 3,
                   .conv_pad = 1, .conv_bias = 1, .n_fc = 4, .fc_out = {16, 16, 16, 10}};
    compare_paths("cnn 144-16-16-16-10", &a, 2000, 2, 1, 40, 0xF);
}

static void test_layer_subset(void) {
    /* Only fc1 and fc3: fc2 stays dense downstream of fc1. */
    ms_arch_t a = {.in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 3, .fc_out = {16, 12, 10}, .fc_bias = 1};
    compare_paths("mlp fc1+fc3 only", &a, 2000, 2, 5, 50, 0x5);
}

static void test_blocks_threads(void) {
    /* 200 images in three parts, one per thread (64, 64 and 72 samples:
     * four blocks, two of them partial), the threads walking each window's
     * states on their own parts; biases (the cone's bias operations). */
    ms_arch_t a = {.in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 3, .fc_out = {16, 12, 10}, .fc_bias = 1};
    ms_kernels_set_threads(3);
    compare_paths("mlp 200 images, 3 threads", &a, 6000, 2, 4, 200, 0x7);
    ms_kernels_set_threads(1);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    ms_kernels_set_threads(1);
    RUN_TEST(test_exact_exp_log);
    RUN_TEST(test_mlp_no_bias);
    RUN_TEST(test_mlp_bias);
    RUN_TEST(test_narrow);
    RUN_TEST(test_cnn);
    RUN_TEST(test_layer_subset);
    RUN_TEST(test_blocks_threads);
    int rc = ms_test_summary();
    MPI_Finalize();
    return rc;
}
