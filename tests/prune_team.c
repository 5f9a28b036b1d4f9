/* Helper of tests/test_prune_team.sh: prunes small trained models with the
 * window states split across all ranks of MPI_COMM_WORLD, and on rank 0
 * compares the mask, losses and tie count with a single-rank run (and with
 * the naive loop). Exit 0 when all agree. */
#include "check.h"
#include "prune_common.h"
#include "modsweep/kernels.h"
#include "modsweep/prune.h"

#include <mpi.h>

static int rank, size;

/* dead_unit >= 0: zero column dead_unit of fc2 first and prune fc1 only, so
 * row dead_unit of fc1 is read by no one; as row 0 it is decided while L
 * still equals L0, so all its
 * candidates are ties, decided by every rank of the team and counted once. */
static void team_case(const char *name, const ms_arch_t *arch, int label, int max_images,
                      int window, int dead_unit) {
    float *params = NULL;
    ms_split_t test;
    CHECK_OK(prune_test_model(arch, 2000, 2, 21, &params, &test));
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, arch));
    int N;
    float *x = prune_test_images(&test, label, max_images, &N);
    const size_t NW = L.n_fc_weights;
    uint32_t layers = (1u << arch->n_fc) - 1;
    if (dead_unit >= 0) {
        const ms_tensor_t *w2 = &L.t[L.fc_weight[1]];
        for (int o = 0; o < w2->shape[0]; o++) params[w2->off + (size_t)o * w2->shape[1] + dead_unit] = 0;
        layers = 0x1;
    }
    ms_prune_cfg_t cfg = {.label = label, .layers = layers, .window = window,
                          .comm = MPI_COMM_WORLD};
    ms_prune_result_t team = {.mask = malloc(NW)}, one = {.mask = malloc(NW)},
                      naive = {.mask = malloc(NW)};
    CHECK_OK(ms_prune(&L, params, x, N, &cfg, &team));
    if (rank == 0) {
        cfg.comm = MPI_COMM_SELF;
        CHECK_OK(ms_prune(&L, params, x, N, &cfg, &one));
        cfg.naive = 1;
        CHECK_OK(ms_prune(&L, params, x, N, &cfg, &naive));
        long d1 = 0, d2 = 0;
        for (size_t j = 0; j < NW; j++) {
            d1 += team.mask[j] != one.mask[j];
            d2 += team.mask[j] != naive.mask[j];
        }
        printf("  %-22s %d ranks, window %4d: ECS %.4f, %ld windows, mask differs from 1 rank "
               "in %ld, from naive in %ld\n",
               name, size, window, team.ecs, team.windows, d1, d2);
        CHECK_EQ_INT(d1, 0);
        CHECK_EQ_INT(d2, 0);
        CHECK(team.loss_final == one.loss_final);
        CHECK(team.loss0 == one.loss0);
        CHECK_EQ_INT(team.ties, naive.ties);
        if (dead_unit >= 0) CHECK(naive.ties >= L.fc_in[0]); /* the dead row's candidates */
    }
    /* Every rank of the team holds the same mask. */
    uint8_t *mine = team.mask, *r0 = malloc(NW);
    memcpy(r0, mine, NW);
    MPI_Bcast(r0, (int)NW, MPI_BYTE, 0, MPI_COMM_WORLD);
    int same = memcmp(r0, mine, NW) == 0, all = 0;
    MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (rank == 0) CHECK_MSG(all, "the ranks of the team hold different masks");
    free(r0);
    free(team.mask);
    free(one.mask);
    free(naive.mask);
    free(x);
    free(params);
    ms_split_free(&test);
}

int main(int argc, char **argv) {
    int provided = 0;
    /* The pruning calls MPI from the master thread of its threads. */
    MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ms_kernels_set_threads(1);
    ms_arch_t mlp = {.in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 3, .fc_out = {16, 12, 10}, .fc_bias = 1};
    ms_arch_t cnn = {.in_c = 3, .in_h = 12, .in_w = 12, .n_conv = 1, .conv_c = {4}, .conv_k = 3,
                     .conv_pad = 1, .conv_bias = 1, .n_fc = 4, .fc_out = {16, 16, 16, 10}};
    team_case("mlp with bias", &mlp, 7, 60, 0, -1);
    team_case("mlp with bias", &mlp, 7, 60, 5, -1);
    team_case("cnn", &cnn, 1, 40, 0, -1);
    team_case("cnn", &cnn, 1, 40, 64, -1);
    team_case("mlp, unread fc1 unit", &mlp, 7, 60, 0, 0);
    int fails = ms_test_failures, any = 0;
    MPI_Allreduce(&fails, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (rank == 0) printf(any ? "team pruning FAILED\n" : "team pruning agrees\n");
    MPI_Finalize();
    return any ? 1 : 0;
}
