/* The prune stage of a sweep: one (model, label) task, pruned by a team of
 * ranks, and its columns in the results file. */
#include "modsweep/circuit.h"
#include "modsweep/datagen.h"
#include "modsweep/error.h"
#include "modsweep/machine.h"
#include "modsweep/planted.h"
#include "modsweep/gpu.h"
#include "modsweep/log.h"
#include "modsweep/prune.h"
#include "modsweep/recovery.h"
#include "modsweep/results.h"
#include "modsweep/stages.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const ms_col_t ms_prune_cols[] = {
    {"labels/mask", MS_ROW_LABEL, MS_DT_U8, 1, {MS_DIM_NW},
     "circuit: 1 = weight kept, for every fc weight (fc1 first, row-major as in params)"},
    {"labels/kept", MS_ROW_LABEL, MS_DT_I64, 1, {MS_DIM_NFC}, "kept weights per fc layer"},
    {"labels/planted_circuit_share", MS_ROW_LABEL, MS_DT_F64, 0, {0},
     "dataset = planted: share of the circuit's kept fc1 weights whose input pixel lies in the "
     "planted module (strip) that its hidden unit reads most from "
     "(ms_circuit_module_share_known; for a cnn or layout 3x32x32 fc1's input positions, "
     "ms_planted_input_modules, and kept weights of inputs that read padding only left out): 1 "
     "when every hidden unit of the circuit reads one strip only; NaN for other datasets"},
    {"labels/ecs", MS_ROW_LABEL, MS_DT_F64, 0, {0},
     "effective circuit size: kept share of all fc weights"},
    {"labels/loss0", MS_ROW_LABEL, MS_DT_F64, 0, {0},
     "L0: mean cross-entropy of the trained model on the label's images"},
    {"labels/loss_final", MS_ROW_LABEL, MS_DT_F64, 0, {0},
     "mean cross-entropy of the pruned model on the label's images"},
    {"labels/ties", MS_ROW_LABEL, MS_DT_I64, 0, {0},
     "pruning decisions with |L - L0| < 1e-9 (near ties)"},
    {"labels/n_images", MS_ROW_LABEL, MS_DT_I32, 0, {0}, "images of the label used"},
    {"labels/pruned_classwise_acc", MS_ROW_LABEL, MS_DT_F64, 1, {MS_DIM_NC},
     "test accuracy of each class for the pruned model"},
    {"labels/pruned_test_acc", MS_ROW_LABEL, MS_DT_F64, 0, {0},
     "test accuracy of the pruned model (all classes)"},
    {"labels/states", MS_ROW_LABEL, MS_DT_I64, 0, {0},
     "candidate states evaluated by the fast path (speculation included)"},
    {"labels/time", MS_ROW_LABEL, MS_DT_F64, 0, {0}, "wall seconds of the pruning"},
    {"labels/team", MS_ROW_LABEL, MS_DT_I32, 0, {0}, "ranks that pruned the label together"},
    {"labels/rank", MS_ROW_LABEL, MS_DT_I32, 0, {0}, "world rank that led the team"},
    {"labels/host", MS_ROW_LABEL, MS_DT_STR, 0, {0}, "host that led the team"},
    {NULL, 0, 0, 0, {0}, NULL},
};

int ms_prune_label(ms_ctx_t *ctx, const ms_task_t *task, MPI_Comm team, char *reason) {
    const ms_settings_t *s = &task->s;
    const int m = task->model, li = task->label_index, label = task->label;
    ms_layout_t L;
    int rc = ms_layout_init(&L, &s->arch);
    const ms_split_t *test = ctx->test;
    /* The find set: the label's first `samples` test or training images. */
    const ms_split_t *fsplit = s->prune_find_train && ctx->train ? ctx->train : test;
    const size_t D = (size_t)test->c * test->h * test->w;
    float *params = malloc(sizeof(float) * L.n_params);
    int32_t *idx = malloc(sizeof(int32_t) * (size_t)(fsplit->n > 0 ? fsplit->n : 1));
    int32_t *held = malloc(sizeof(int32_t) * (size_t)(test->n > 0 ? test->n : 1));
    int NH = 0;
    uint8_t *mask = malloc(L.n_fc_weights);
    float *x = NULL;
    ms_net_t net = {0};
    int team_rank = 0, team_size = 1;
    MPI_Comm_rank(team, &team_rank);
    MPI_Comm_size(team, &team_size);
    if (!rc && s->prune_find_train && !ctx->train)
        rc = ms_err_set(MS_EINVAL, "prune model %d label %d: find_set = train, but no training "
                        "images are loaded", m, label);
    if (!rc && (!params || !idx || !held || !mask))
        rc = ms_err_set(MS_ENOMEM, "prune model %d label %d: out of memory", m, label);
    /* The team's leader reads the trained model; the others get it by message. */
    if (!rc && team_rank == 0) rc = ms_stage_load_params(ctx, task, params);
    MPI_Bcast(&rc, 1, MPI_INT, 0, team);
    if (rc) goto done;
    /* A team of GPU ranks shares it through NCCL when it can, else through MPI. */
    ms_gpu_team_t *gteam = NULL;
    if (ctx->use_gpu && (rc = ms__stage_gpu_team(ctx, team, &gteam))) goto done;
    if (gteam)
        rc = ms__stage_gpu_share_params(gteam, team_rank, params, L.n_params);
    else
        MPI_Bcast(params, (int)L.n_params, MPI_FLOAT, 0, team);
    if (rc) goto done;
    int N = 0;
    ms_circuit_sets(test->y, test->n, ctx->train ? ctx->train->y : NULL,
                    ctx->train ? ctx->train->n : 0, label, s->prune_find_train, s->prune_samples,
                    idx, &N, held, &NH);
    x = malloc(sizeof(float) * D * (size_t)(N > 0 ? N : 1));
    if (!x) {
        rc = ms_err_set(MS_ENOMEM, "prune model %d label %d: out of memory", m, label);
        goto done;
    }
    for (int i = 0; i < N; i++) memcpy(x + D * i, fsplit->x + D * idx[i], sizeof(float) * D);
    ms_prune_cfg_t cfg = {.label = label,
                          .layers = s->prune_layers,
                          .window = s->prune_window,
                          .naive = s->prune_naive,
                          .comm = team,
                          .verbose = ctx->verbose > 1};
    ms_prune_result_t res = {.mask = mask};
    rc = ctx->use_gpu ? ms_prune_gpu(&L, params, x, N, &cfg, gteam, &res)
                      : ms_prune(&L, params, x, N, &cfg, &res);
    if (rc || team_rank != 0) goto done;
    /* The circuit judged on the find and held-out sets (before params are masked). */
    if ((rc = ms__circuit_label(ctx, task, &L, params, mask, x, N, held, NH))) goto done;
    /* The pruned model's class-wise accuracy on the whole test split. */
    ms_prune_apply_mask(&L, params, mask);
    double classwise[MS_MAX_CLASSES], acc = NAN;
    if (ctx->use_gpu) {
        acc = ms__stage_gpu_evaluate(ctx, s, params, classwise, &rc);
    } else {
        rc = ms_net_init(&net, &s->arch, s->batch, ctx->threads);
        if (!rc) acc = ms_evaluate(&net, params, test, -1, classwise, NULL);
    }
    if (rc) goto done;
    int64_t kept[MS_MAX_FC], ties = res.ties, states = res.evaluated;
    for (int l = 0; l < L.arch.n_fc; l++) kept[l] = res.kept[l];
    int32_t n_images = N, tsize = team_size, rank = ctx->rank;
    char host[MS_STR_LEN] = {0};
    snprintf(host, sizeof host, "%s", ctx->host);
    ms_results_t *r = ctx->res;
    rc = ms_results_write(r, "labels/mask", m, li, mask);
    double share = NAN; /* dataset = planted: the circuit's module share in fc1 */
    int32_t *module = NULL;
    if (!rc) rc = ms_planted_fc1_modules(ctx->g, s, &L, &module);
    if (module)
        share = ms_circuit_module_share_known(mask, L.arch.fc_out[0], L.fc_in[0], module,
                                              ctx->g->planted.blocks);
    free(module);
    if (!rc) rc = ms_results_write(r, "labels/planted_circuit_share", m, li, &share);
    if (!rc) rc = ms_results_write(r, "labels/kept", m, li, kept);
    if (!rc) rc = ms_results_write(r, "labels/ecs", m, li, &res.ecs);
    if (!rc) rc = ms_results_write(r, "labels/loss0", m, li, &res.loss0);
    if (!rc) rc = ms_results_write(r, "labels/loss_final", m, li, &res.loss_final);
    if (!rc) rc = ms_results_write(r, "labels/ties", m, li, &ties);
    if (!rc) rc = ms_results_write(r, "labels/n_images", m, li, &n_images);
    if (!rc) rc = ms_results_write(r, "labels/pruned_classwise_acc", m, li, classwise);
    if (!rc) rc = ms_results_write(r, "labels/pruned_test_acc", m, li, &acc);
    if (!rc) rc = ms_results_write(r, "labels/states", m, li, &states);
    if (!rc) rc = ms_results_write(r, "labels/time", m, li, &res.seconds);
    if (!rc) rc = ms_results_write(r, "labels/team", m, li, &tsize);
    if (!rc) rc = ms_results_write(r, "labels/rank", m, li, &rank);
    if (!rc) rc = ms_results_write(r, "labels/host", m, li, host);
    if (!rc) rc = ms_machine_write(r, MS_TASK_PRUNE, m, li); /* machine.h */
    if (!rc && ctx->verbose)
        ms_message("model %d label %d: ECS %.4f (kept %lld of %zu), L0 %.6f -> %.6f, %.2f s", m,
                   label, res.ecs, (long long)(res.ecs * (double)L.n_fc_weights + 0.5),
                   L.n_fc_weights, res.loss0, res.loss_final, res.seconds);
done:
    if (rc) snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
    ms_net_free(&net);
    free(params);
    free(idx);
    free(held);
    free(mask);
    free(x);
    return rc;
}
