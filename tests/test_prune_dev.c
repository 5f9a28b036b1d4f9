/* The device pruning algorithm (prune_dev.h), run through its host
 * emulation, against the CPU reference (prune.h): identical masks, losses,
 * kept counts and tie counts on small trained MLPs and CNNs, for several
 * window lengths, with an fc unit that no later row reads, with a subset of
 * layers, and (run as `test_prune_dev team` under mpirun, see
 * test_prune_dev_team.sh) with the windows split across a team of ranks.
 *
 * The CUDA operations implement the same algorithm with the same per-element
 * functions; test_cuda_kernels checks them against this emulation on a GPU. */
#include "check.h"
#include "prune_common.h"
#include "modsweep/kernels.h"
#include "modsweep/prune.h"
#include "modsweep/prune_dev.h"
#include "modsweep/rng.h"

#include <mpi.h>

static MPI_Comm team_comm;

/* Prunes with the CPU fast path (one rank), optionally the naive loop, and
 * the emulated device path at several window lengths on team_comm. */
static void compare(const char *name, const ms_arch_t *arch, int n_train, int epochs, int label,
                    int max_images, uint32_t layers, int naive, int cut_unit) {
    prune_case_t pc;
    CHECK_OK(prune_case_init(&pc, arch, n_train, epochs, 21, label, max_images, layers, cut_unit));
    if (!pc.params) return;
    ms_prune_result_t ref = {.mask = malloc(pc.NW)}, dev = {.mask = malloc(pc.NW)};
    CHECK_OK(ms_prune(&pc.L, pc.params, pc.x, pc.N, &pc.cfg, &ref));
    if (naive) {
        ms_prune_result_t nv = {.mask = malloc(pc.NW)};
        pc.cfg.naive = 1;
        CHECK_OK(ms_prune(&pc.L, pc.params, pc.x, pc.N, &pc.cfg, &nv));
        pc.cfg.naive = 0;
        CHECK(memcmp(nv.mask, ref.mask, pc.NW) == 0);
        CHECK_EQ_INT(nv.ties, ref.ties);
        free(nv.mask);
    }
    const int windows[] = {0, 1, 3, 64, 1024};
    pc.cfg.comm = team_comm;
    for (int wi = 0; wi < 5; wi++) {
        pc.cfg.window = windows[wi];
        memset(dev.mask, 7, pc.NW);
        CHECK_OK(
            ms_prune_dev(&pc.L, pc.params, pc.x, pc.N, &pc.cfg, NULL, ms_pdev_host_ops(), &dev));
        long diff = 0;
        for (size_t j = 0; j < pc.NW; j++)
            diff += ref.mask[j] != dev.mask[j];
        CHECK_MSG(diff == 0, "%s window %d: %ld of %zu mask entries differ from the CPU", name,
                  windows[wi], diff, pc.NW);
        CHECK(dev.loss0 == ref.loss0);
        CHECK(dev.loss_final == ref.loss_final);
        CHECK_EQ_INT(dev.ties, ref.ties);
        CHECK(dev.ecs == ref.ecs);
        for (int l = 0; l < arch->n_fc; l++)
            CHECK_EQ_INT(dev.kept[l], ref.kept[l]);
        if (wi == 0) {
            printf("  %-24s N=%3d ECS %.4f kept/layer", name, pc.N, dev.ecs);
            for (int l = 0; l < arch->n_fc; l++)
                printf(" %ld/%ld", dev.kept[l], dev.total[l]);
            printf("  L0 %.6f -> %.6f ties %ld, %ld states in %ld windows\n", dev.loss0,
                   dev.loss_final, dev.ties, dev.evaluated, dev.windows);
        }
    }
    /* A non-trivial case: something pruned and something kept. */
    long kept = 0;
    for (int l = 0; l < arch->n_fc; l++)
        kept += ref.kept[l];
    CHECK(kept > 0 && kept < (long)pc.NW);
    free(ref.mask);
    free(dev.mask);
    prune_case_free(&pc);
}

static void test_mlp_no_bias(void) {
    ms_arch_t a = {.in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 3, .fc_out = {16, 12, 10}};
    compare("mlp 64-16-12-10", &a, 2000, 2, 3, 60, 0x7, 1, -1);
}

static void test_mlp_bias(void) {
    compare("mlp with bias", &prune_arch_mlp, 2000, 2, 7, 60, 0x7, 0, -1);
}

static void test_unread_unit(void) {
    compare("mlp, fc1 unit 5 unread", &prune_arch_mlp, 2000, 2, 2, 50, 0x7, 0, 5);
}

static void test_cnn(void) {
    compare("cnn 144-16-16-16-10", &prune_arch_cnn, 2000, 2, 1, 40, 0xF, 0, -1);
}

static void test_cnn_two_blocks(void) {
    compare("cnn two conv blocks", &prune_arch_cnn2, 1500, 2, 4, 40, 0x7, 0, -1);
}

static void test_layer_subset(void) {
    compare("mlp fc1+fc3 only", &prune_arch_mlp, 2000, 2, 5, 50, 0x5, 0, -1);
}

/* The tree functions alone: every state of every window of a random row,
 * against the pre-activation recomputed from scratch with the leaves zeroed. */
static void test_state_z(void) {
    const int NI = 37, N = 3;
    float w[37];
    double hT[37 * 3], h[37];
    ms_rng_t r;
    ms_rng_init(&r, 5, MS_RNG_TESTDATA, 0);
    for (int i = 0; i < NI; i++)
        w[i] = (i % 5 == 2) ? 0.0f : (float)(ms_rng_double(&r) - 0.5);
    for (int i = 0; i < NI * N; i++)
        hT[i] = ms_rng_double(&r);
    double val[64 * 3];
    uint8_t pres[64];
    ms_pdev_tree_t t = {.N = N, .NI = NI, .val = val, .pres = pres, .w = w, .hT = hT};
    t.nk[0] = NI;
    long long vo = 0;
    while (t.nk[t.D] > 1) {
        t.nk[t.D + 1] = (t.nk[t.D] + 1) / 2;
        t.D++;
        t.voff[t.D] = vo * N;
        t.poff[t.D] = vo;
        vo += t.nk[t.D];
    }
    const float bias = 0.25f;
    const ms_pdev_ops_t *ops = ms_pdev_host_ops();
    double zc[3];
    ops->tree_build(&t, &bias, zc);
    long bad = 0;
    for (int j = 0; j < NI; j++)
        for (int c = j; c < NI; c++)
            for (int n = 0; n < N; n++) {
                /* From scratch: the row with leaves j..c zeroed, as a sparse row. */
                int idx[37], nnz = 0;
                double wd[37];
                for (int i = 0; i < NI; i++) {
                    h[i] = hT[(size_t)i * N + n];
                    if (w[i] != 0.0f && (i < j || i > c)) {
                        idx[nnz] = i;
                        wd[nnz++] = (double)w[i];
                    }
                }
                const double ref = ms_canon_tree_sparse(idx, wd, nnz, h, &bias);
                const double got = ms_pdev_state_z(&t, &bias, j, c, n);
                bad += memcmp(&ref, &got, sizeof ref) != 0;
            }
    CHECK_EQ_INT(bad, 0);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    ms_kernels_set_threads(1);
    team_comm = argc > 1 && strcmp(argv[1], "team") == 0 ? MPI_COMM_WORLD : MPI_COMM_SELF;
    RUN_TEST(test_state_z);
    RUN_TEST(test_mlp_no_bias);
    RUN_TEST(test_mlp_bias);
    RUN_TEST(test_unread_unit);
    RUN_TEST(test_cnn);
    RUN_TEST(test_cnn_two_blocks);
    RUN_TEST(test_layer_subset);
    int rc = ms_test_summary();
    MPI_Finalize();
    return rc;
}
