/* The stages of a sweep (stages.h): each one calls the module that computes
 * it and writes that module's rows. */
#include "modsweep/stages.h"
#include "modsweep/analyse.h"
#include "modsweep/error.h"
#include "modsweep/machine.h"
#include "modsweep/log.h"
#include "modsweep/measures.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct train_sink {
    ms_ctx_t *ctx;
    int m;
    ms_sparse_t *sparse; /* dynamic sparse training (measures.h), or NULL */
} train_sink_t;

/* The trainer's after_step hook: gives up training once the sweep is asked
 * to stop (SIGTERM/SIGUSR1; the task stays pending), then dynamic sparse
 * training of conv layers. */
static int after_step(void *vctx, ms_trainer_t *tr, long step) {
    train_sink_t *sink = vctx;
    if (sink->ctx->stop_requested && sink->ctx->stop_requested())
        return ms_err_set(MS_EINTERRUPTED, "model %d: training stopped at step %ld by a signal",
                          sink->m, step);
    return sink->sparse ? ms_sparse_after_step(sink->sparse, tr, step) : 0;
}

int ms_stage_write_epoch(ms_ctx_t *ctx, int m, int epochs, const ms_epoch_report_t *rep,
                         const char *where) {
    ms_results_t *res = ctx->res;
    float acc = (float)rep->test_acc, secs = (float)rep->seconds;
    int rc = ms_results_write_part(res, "models/train_loss", m, -1, rep->first_step, rep->n_steps,
                                   rep->loss);
    if (!rc)
        rc = ms_results_write_part(res, "models/train_extra", m, -1, rep->first_step,
                                   rep->n_steps, rep->extra);
    if (!rc) rc = ms_results_write_part(res, "models/epoch_test_acc", m, -1, rep->epoch, 1, &acc);
    if (!rc) rc = ms_results_write_part(res, "models/epoch_time", m, -1, rep->epoch, 1, &secs);
    if (ctx->verbose)
        ms_message("model %d epoch %d/%d%s: loss %.4f, test accuracy %.4f, %.1f s (%.0f images/s)",
                   m, rep->epoch + 1, epochs, where, rep->loss[rep->n_steps - 1], rep->test_acc,
                   rep->seconds, ctx->train->n / rep->seconds);
    return rc;
}

/* The CPU trainer's on_epoch hook. */
static int write_epoch(void *vctx, ms_trainer_t *tr, const ms_epoch_report_t *rep) {
    train_sink_t *sink = vctx;
    return ms_stage_write_epoch(sink->ctx, sink->m, tr->s->epochs, rep, "");
}

int ms_stage_train(ms_ctx_t *ctx, const ms_task_t *task, char *reason) {
    if (ctx->use_gpu) return ms_stage_train_gpu(ctx, task, reason);
    const ms_settings_t *s = &task->s;
    const int m = task->model;
    ms_trainer_t tr;
    double t0 = ms_now();
    int rc = ms_trainer_init(&tr, s, ctx->train->n);
    if (rc) {
        snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
        return rc;
    }
    train_sink_t sink = {.ctx = ctx, .m = m};
    ms_train_hooks_t sink_hooks = {.ctx = &sink, .after_step = after_step, .on_epoch = write_epoch},
                     hooks;
    /* Dynamic sparse training (measures.h) in the sink's hooks; the
     * clusterability regulariser and gradient similarity (cluster.h) chained
     * in front of them. */
    ms_cluster_train_t ct = {0};
    rc = ms_sparse_create(&sink.sparse, s, tr.L);
    sink_hooks.needs_conv_act = sink.sparse != NULL;
    if (!rc) rc = ms_cluster_train_init(&ct, s, tr.L, &sink_hooks, &hooks);
    if (rc) snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
    if (!rc) rc = ms_train(&tr, ctx->train, ctx->test, &hooks, reason);
    if (!rc && (rc = ms_measures_write_sparse(ctx, m, sink.sparse)))
        snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
    if (rc == 0) {
        double classwise[MS_MAX_CLASSES], loss;
        double acc = ms_evaluate(&tr.net, tr.params, ctx->test, -1, classwise, &loss);
        double secs = ms_now() - t0;
        int32_t rank = ctx->rank;
        char host[MS_STR_LEN] = {0};
        snprintf(host, sizeof host, "%s", ctx->host);
        ms_results_t *res = ctx->res;
        rc = ms_results_write(res, "models/params", m, -1, tr.params);
        if (!rc) rc = ms_results_write(res, "models/test_acc", m, -1, &acc);
        if (!rc) rc = ms_results_write(res, "models/test_loss", m, -1, &loss);
        if (!rc) rc = ms_results_write(res, "models/classwise_acc", m, -1, classwise);
        if (!rc) rc = ms_results_write(res, "models/time_train", m, -1, &secs);
        if (!rc) rc = ms_results_write(res, "models/rank", m, -1, &rank);
        if (!rc) rc = ms_results_write(res, "models/host", m, -1, host);
        if (!rc) rc = ms_machine_write(res, MS_TASK_TRAIN, m, -1); /* machine.h */
        if (!rc) rc = ms_cluster_train_write(&ct, res, m);
        if (rc) snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
    }
    ms_cluster_train_free(&ct);
    ms_sparse_free(sink.sparse);
    ms_trainer_free(&tr);
    return rc;
}

int ms_stage_load_params(ms_ctx_t *ctx, const ms_task_t *task, float *params) {
    const int m = task->model;
    int rc = ms_results_read(ctx->res, "models/params", m, -1, params);
    if (rc) return rc;
    /* Training fails a model rather than store parameters that are not
     * finite, so a NaN or Inf here was written by something else (or the
     * file is damaged); no analysis or pruning of it would mean anything. */
    ms_layout_t L;
    if ((rc = ms_layout_init(&L, &task->s.arch))) return rc;
    const char *bad = ms_first_nonfinite(&L, params);
    if (bad)
        return ms_err_set(MS_ENUMERIC,
                          "model %d: the trained parameters in %s hold a NaN or Inf in %s (the "
                          "file was changed or damaged)",
                          m, ms_results_path(ctx->res), bad);
    return 0;
}

int ms_stage_analyse(ms_ctx_t *ctx, const ms_task_t *task, char *reason) {
    const int m = task->model;
    reason[0] = 0;
    double t0 = ms_now();
    int rc = ms_cluster_analyse(ctx, task, reason);       /* cluster.h: BSGC, curves, ablation */
    if (!rc) rc = ms_measures_analyse(ctx, task, reason); /* measures.h: seeds 002, 003, 004 */
    double secs = ms_now() - t0;
    if (!rc) rc = ms_machine_write(ctx->res, MS_TASK_ANALYSE, m, -1); /* machine.h */
    if (rc && !reason[0]) snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
    if (!rc && (rc = ms_results_write(ctx->res, "models/time_analyse", m, -1, &secs)))
        snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
    return rc;
}

int ms_stage_prune(ms_ctx_t *ctx, const ms_task_t *task, MPI_Comm team, char *reason) {
    return ms_prune_label(ctx, task, team, reason);
}
