/* The stages of a sweep: what one task computes and writes.
 *
 * A model (one grid index m) is trained once (ms_stage_train), analysed once
 * (ms_stage_analyse: clusters, ablations, measures) and pruned once per label
 * (ms_stage_prune, possibly by a team of ranks). The scheduler builds each
 * task's value (ms_task_t: kind, model, label, the model's settings) once
 * with ms_task_make and hands it to the stage, which passes it on to the
 * modules behind it; no stage derives a model's settings or a label's value
 * itself. Each stage reads what it needs from the results file (the trained
 * parameters), writes its rows, and leaves the task status to the caller,
 * who writes it after the data. */
#ifndef MODSWEEP_STAGES_H
#define MODSWEEP_STAGES_H

#include <mpi.h>

#include "modsweep/config.h"
#include "modsweep/data.h"
#include "modsweep/results.h"
#include "modsweep/train.h"

/* What every stage needs: the grid, the open results file, the data. */
typedef struct ms_ctx {
    const ms_grid_t *g;
    ms_results_t *res;
    const ms_split_t *train, *test;
    int rank;          /* rank in MPI_COMM_WORLD */
    char host[64];
    int threads;       /* kernel threads of this rank */
    int verbose;
    /* GPU ranks (device = cuda, or auto with a GPU on every rank): src/sweep/stage_gpu.c. */
    int use_gpu;
    struct ms_gpu_split *gpu_train, *gpu_test; /* the splits in GPU memory */
    struct ms_gpu_team *gpu_team;              /* NCCL team of gpu_team_comm (cached) */
    MPI_Comm gpu_team_comm;
    /* Non-zero once the sweep was asked to stop (SIGTERM/SIGUSR1); NULL:
     * never. A long stage may give up early and return MS_EINTERRUPTED: its
     * task stays pending and is redone on resume. */
    int (*stop_requested)(void);
} ms_ctx_t;

/* One task of a sweep as the stages see it. Its number in the scheduler's
 * and the results file's order is src/sweep/tasks.h's (ms_task_id). */
typedef struct ms_task {
    int kind;        /* ms_task_kind_t */
    int model;       /* the model's grid index m */
    int label_index; /* index li into the grid's labels; -1 unless prune */
    int label;       /* the label's value (the class pruned for); -1 unless prune */
    ms_settings_t s; /* the model's resolved settings (ms_grid_model_settings) */
} ms_task_t;

/* Builds the task of kind `kind` (ms_task_kind_t) for model m and, for a
 * prune task, label index li of grid g (li is ignored otherwise). Returns 0,
 * or MS_EINVAL when the kind, m or li lies outside the grid (src/sweep/tasks.c). */
int ms_task_make(const ms_grid_t *g, int kind, int m, int li, ms_task_t *t);

/* Trains the model of a train task and writes its curves, accuracies and
 * parameters. Returns 0 or a negative error; reason (MS_REASON_MAX) receives
 * why it failed. A numerical fault (NaN/Inf) returns MS_ENUMERIC: retrying
 * cannot help. */
int ms_stage_train(ms_ctx_t *ctx, const ms_task_t *task, char *reason);

/* Analyses the trained model of an analyse task (cluster analysis, ablations,
 * measures). */
int ms_stage_analyse(ms_ctx_t *ctx, const ms_task_t *task, char *reason);

/* Prunes the trained model of a prune task for the task's label over the ranks of
 * team (whose members all call it); rank 0 of the team writes the results. */
int ms_stage_prune(ms_ctx_t *ctx, const ms_task_t *task, MPI_Comm team, char *reason);

/* The modules behind the stages. */
int ms_prune_label(ms_ctx_t *ctx, const ms_task_t *task, MPI_Comm team, char *reason);
/* The circuit columns of a prune task (circuit_stage.c): the exact mask
 * judged on the find images xfind (NF) and the held-out test images held (NH). */
int ms__circuit_label(ms_ctx_t *ctx, const ms_task_t *task, const ms_layout_t *L,
                      const float *params, const uint8_t *mask, const float *xfind, int NF,
                      const int32_t *held, int NH);

/* The GPU side of the stages (src/sweep/stage_gpu.c): ms_stage_train on the GPU
 * trainer (same rows); the NCCL team of a prune team (NULL when NCCL cannot
 * serve it: MPI is used then); the team leader's parameters shared through
 * it; a model's test accuracy on the GPU (*rc receives the error). */
int ms_stage_train_gpu(ms_ctx_t *ctx, const ms_task_t *task, char *reason);
int ms__stage_gpu_team(ms_ctx_t *ctx, MPI_Comm team, struct ms_gpu_team **out);
int ms__stage_gpu_share_params(struct ms_gpu_team *team, int team_rank, float *params, size_t n);
double ms__stage_gpu_evaluate(ms_ctx_t *ctx, const ms_settings_t *s, const float *params,
                              double classwise[MS_MAX_CLASSES], int *rc);

/* Writes one epoch's curves of model m (training loss and extra value per
 * step, test accuracy and time of the epoch) as soon as the epoch ends, so no
 * per-step history is kept; `where` is added to the log line (e.g. " on GPU 0"). */
int ms_stage_write_epoch(ms_ctx_t *ctx, int m, int epochs, const ms_epoch_report_t *rep,
                         const char *where);

/* Reads the trained parameters of the task's model (P floats) from the results
 * file; MS_ENUMERIC (naming the tensor) when they are not all finite. */
int ms_stage_load_params(ms_ctx_t *ctx, const ms_task_t *task, float *params);

#endif
