/* The stages on GPU ranks (stages.h, gpu.h): training with the GPU trainer,
 * the NCCL team of a prune team, and the evaluation of a pruned model. Each
 * writes the same rows as its CPU counterpart in stages.c / prune_stage.c. */
#include "modsweep/analyse.h"
#include "modsweep/cluster.h"
#include "modsweep/error.h"
#include "modsweep/gpu.h"
#include "modsweep/gpu_support.h"
#include "modsweep/log.h"
#include "modsweep/stages.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gpu_sink {
    ms_ctx_t *ctx;
    int m;
} gpu_sink_t;

/* The GPU trainer's on_epoch hook: the same rows as on the CPU. */
static int write_epoch_gpu(void *vctx, ms_gpu_trainer_t *gt, const ms_epoch_report_t *rep) {
    gpu_sink_t *sink = vctx;
    char where[32];
    snprintf(where, sizeof where, " on GPU %d", ms_gpu_device());
    return ms_stage_write_epoch(sink->ctx, sink->m, gt->s->epochs, rep, where);
}

/* The GPU trainer's after_step hook: gives up training once the sweep is
 * asked to stop (SIGTERM/SIGUSR1; the task stays pending), as the CPU's.
 * It runs on the host between steps and waits for nothing on the GPU. */
static int stop_gpu(void *vctx, ms_gpu_trainer_t *gt, long step) {
    gpu_sink_t *sink = vctx;
    (void)gt;
    if (sink->ctx->stop_requested && sink->ctx->stop_requested())
        return ms_err_set(MS_EINTERRUPTED, "model %d: training stopped at step %ld by a signal",
                          sink->m, step);
    return 0;
}

int ms_stage_train_gpu(ms_ctx_t *ctx, const ms_task_t *task, char *reason) {
    const ms_settings_t *s = &task->s;
    const int m = task->model;
    /* The grid check refuses these settings with device = cuda; a model
     * that reaches here with one anyway fails rather than train without it. */
    const char *gap = ms_gpu_unsupported(s, s->lambda);
    if (gap) {
        const int rc =
            ms_err_set(MS_EINVAL, "model %d: %s is not supported by the GPU trainer", m, gap);
        snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
        return rc;
    }
    ms_gpu_trainer_t gt;
    const double t0 = ms_now();
    int rc = ms_gpu_trainer_init(&gt, s, ctx->train->n);
    if (rc) {
        snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
        return rc;
    }
    /* No regulariser and no gradient similarity here (gpu_support.h): the
     * state gives the rows the CPU writes for such a model (an unset
     * partition, zero gradient-similarity steps). */
    ms_cluster_train_t ct;
    ms_train_hooks_t unused;
    if ((rc = ms_cluster_train_init(&ct, s, gt.L, NULL, &unused))) {
        snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
        ms_gpu_trainer_free(&gt);
        return rc;
    }
    gpu_sink_t sink = {.ctx = ctx, .m = m};
    ms_gpu_train_hooks_t hooks = {
        .ctx = &sink, .after_step = stop_gpu, .on_epoch = write_epoch_gpu};
    rc = ms_train_gpu(&gt, ctx->gpu_train, ctx->gpu_test, &hooks, reason);
    if (rc == 0) {
        double classwise[MS_MAX_CLASSES], loss;
        const double acc = ms_evaluate_gpu(&gt.net, gt.params, ctx->gpu_test, -1, classwise, &loss);
        rc = ms_gpu_trainer_download(&gt);
        const double secs = ms_now() - t0;
        int32_t rank = ctx->rank;
        char host[MS_STR_LEN] = {0};
        snprintf(host, sizeof host, "%s", ctx->host);
        const struct {
            const char *col;
            const void *buf;
        } rows[] = {{"models/params", gt.params_host},
                    {"models/test_acc", &acc},
                    {"models/test_loss", &loss},
                    {"models/classwise_acc", classwise},
                    {"models/time_train", &secs},
                    {"models/rank", &rank},
                    {"models/host", host}};
        for (size_t i = 0; i < sizeof rows / sizeof rows[0] && !rc; i++)
            rc = ms_results_write(ctx->res, rows[i].col, m, -1, rows[i].buf);
        if (!rc) rc = ms_cluster_train_write(&ct, ctx->res, m);
        if (rc) snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
    }
    ms_cluster_train_free(&ct);
    ms_gpu_trainer_free(&gt);
    return rc;
}

int ms__stage_gpu_team(ms_ctx_t *ctx, MPI_Comm team, ms_gpu_team_t **out) {
    *out = NULL;
    int size = 1;
    MPI_Comm_size(team, &size);
    if (size < 2) return 0;
    if (ctx->gpu_team) {
        int same = MPI_UNEQUAL;
        MPI_Comm_compare(team, ctx->gpu_team_comm, &same);
        if (same == MPI_IDENT) {
            *out = ctx->gpu_team;
            return 0;
        }
        ms_gpu_team_free(ctx->gpu_team);
        ctx->gpu_team = NULL;
    }
    const int rc = ms_gpu_team_init(&ctx->gpu_team, team);
    ctx->gpu_team_comm = team;
    *out = ctx->gpu_team;
    return rc;
}

int ms__stage_gpu_share_params(ms_gpu_team_t *team, int team_rank, float *params, size_t n) {
    float *d = NULL;
    int rc = ms_gpu_alloc((void **)&d, sizeof(float) * n);
    if (!rc && team_rank == 0) rc = ms_gpu_h2d(d, params, sizeof(float) * n);
    if (!rc) rc = ms_gpu_team_bcast(team, d, n, 0);
    if (!rc) rc = ms_gpu_d2h(params, d, sizeof(float) * n);
    ms_gpu_free(d);
    return rc;
}

double ms__stage_gpu_evaluate(ms_ctx_t *ctx, const ms_settings_t *s, const float *params,
                              double classwise[MS_MAX_CLASSES], int *rc) {
    ms_gpu_net_t net;
    float *d = NULL;
    double acc = NAN;
    *rc = ms_gpu_net_init(&net, &s->arch, s->batch);
    if (*rc) return acc;
    *rc = ms_gpu_alloc((void **)&d, sizeof(float) * net.net.L.n_params);
    if (!*rc) *rc = ms_gpu_h2d(d, params, sizeof(float) * net.net.L.n_params);
    if (!*rc) acc = ms_evaluate_gpu(&net, d, ctx->gpu_test, -1, classwise, NULL);
    ms_gpu_free(d);
    ms_gpu_net_free(&net);
    return acc;
}
