/* The task scheduler (sched.h), sequential form: rank 0 runs every task in
 * order. */
#include "modsweep/sched.h"
#include "modsweep/error.h"
#include "modsweep/log.h"
#include "modsweep/sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Runs one task with retries; returns 0 when its final status was written
 * (done or failed for good), or a negative error when the file cannot be written. */
static int run_task(ms_ctx_t *ctx, int kind, int m, int li, int quiet) {
    int st = 0, attempts = 0;
    char reason[MS_REASON_MAX] = "";
    int rc = ms_results_get_status(ctx->res, kind, m, li, &st, &attempts, NULL);
    if (rc) return rc;
    if (st != MS_ST_PENDING) return 0;
    while (1) {
        double t0 = ms_now();
        reason[0] = 0;
        if (kind == MS_TASK_TRAIN)
            rc = ms_stage_train(ctx, m, reason);
        else if (kind == MS_TASK_ANALYSE)
            rc = ms_stage_analyse(ctx, m, reason);
        else
            rc = ms_stage_prune(ctx, m, li, MPI_COMM_SELF, reason);
        attempts++;
        static const char *names[] = {"train", "analyse", "prune"};
        if (rc == 0) {
            if (!quiet) {
                if (kind == MS_TASK_PRUNE)
                    ms_message("prune model %d label %d: done in %.1f s", m, ctx->g->labels[li],
                               ms_now() - t0);
                else
                    ms_message("%s model %d: done in %.1f s", names[kind], m, ms_now() - t0);
            }
            return ms_results_set_status(ctx->res, kind, m, li, MS_ST_DONE, attempts, "");
        }
        if (rc == MS_EHDF5 || rc == MS_EIO) return rc; /* the file itself failed: stop */
        ms_warning("%s model %d: attempt %d failed: %s", names[kind], m, attempts, reason);
        /* A numerical fault repeats exactly on retry: fail at once. */
        if (rc == MS_ENUMERIC || attempts > ctx->g->retries)
            return ms_results_set_status(ctx->res, kind, m, li, MS_ST_FAILED, attempts, reason);
    }
}

int ms_sched_run(ms_ctx_t *ctx, int quiet) {
    int rank;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int rc = 0;
    if (rank == 0) {
        const ms_grid_t *g = ctx->g;
        for (int m = 0; m < g->n_models && !rc; m++) {
            rc = run_task(ctx, MS_TASK_TRAIN, m, -1, quiet);
            int st = 0;
            char why[MS_STR_LEN];
            if (!rc) rc = ms_results_get_status(ctx->res, MS_TASK_TRAIN, m, -1, &st, NULL, why);
            if (rc) break;
            if (st != MS_ST_DONE) {
                /* The model's later tasks cannot run: they fail with its reason. */
                char reason[MS_STR_LEN];
                snprintf(reason, sizeof reason, "model failed to train: %.200s", why);
                rc = ms_results_set_status(ctx->res, MS_TASK_ANALYSE, m, -1, MS_ST_FAILED, 0, reason);
                for (int li = 0; li < g->n_labels && !rc; li++)
                    rc = ms_results_set_status(ctx->res, MS_TASK_PRUNE, m, li, MS_ST_FAILED, 0, reason);
                continue;
            }
            rc = run_task(ctx, MS_TASK_ANALYSE, m, -1, quiet);
            for (int li = 0; li < g->n_labels && !rc; li++)
                rc = run_task(ctx, MS_TASK_PRUNE, m, li, quiet);
        }
        if (rc) fprintf(stderr, "modsweep: %s\n", ms_err_msg());
    }
    MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return rc ? MS_EXIT_ERROR : MS_EXIT_OK;
}
