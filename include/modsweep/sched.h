/* The task scheduler: an MPI task farm that runs the train, analyse and
 * prune tasks of a sweep whose status in the results file is not yet final.
 *
 * Rank 0 keeps the state of every task and hands tasks out dynamically:
 * train per model first, then each trained model's analysis and its prunings
 * per label. A model is trained exactly once (a failed attempt is retried up
 * to the grid's retry count, its reason kept); the tasks that read a model's
 * trained parameters are handed out only after the trainer reported its
 * writes complete (the file is in MPI-IO atomic mode, see results.c).
 *
 * Prune teams: the workers are split once, at start, into fixed teams of
 * `team` consecutive ranks (MPI_Comm_split). A prune task goes to a whole
 * team when all its members are free, and every member calls
 * ms_stage_prune over the team's communicator; train and analyse tasks go
 * to any single free worker, so no rank waits while such work is left.
 *
 * Rank 0 runs the bookkeeping in a thread of its own (the coordinator) and,
 * by default, computes tasks in its main thread like every other rank (this
 * needs MPI_THREAD_MULTIPLE when there are several ranks; without it rank 0
 * only coordinates). Waiting never spins a core: MPI requests are tested
 * with a sleeping backoff, and rank 0's worker and coordinator talk through
 * a mutex and condition variables.
 *
 * Signals: SIGTERM and SIGUSR1 set a flag (ms_sched_install_signals); rank
 * 0 stops handing out work, training in progress gives up at its next step
 * (its task stays pending), other tasks in progress finish, the ranks agree
 * to stop and ms_sched_run returns MS_EXIT_RESUMABLE. */
#ifndef MODSWEEP_SCHED_H
#define MODSWEEP_SCHED_H

#include "modsweep/stages.h"

typedef struct ms_sched_opts {
    int quiet;                 /* no progress or per-task lines */
    int team;                  /* ranks per prune team (>= 1; clamped to the workers) */
    int dedicated_coordinator; /* rank 0 only coordinates (computes no task) */
    int thread_multiple;       /* MPI_Init_thread provided MPI_THREAD_MULTIPLE */
} ms_sched_opts_t;

/* Runs every pending task; collective over MPI_COMM_WORLD. Returns an exit
 * status of sweep.h, the same on every rank: MS_EXIT_OK when no task is left
 * pending, MS_EXIT_RESUMABLE after a stop signal, MS_EXIT_ERROR when the
 * results file could not be written. */
int ms_sched_run(ms_ctx_t *ctx, const ms_sched_opts_t *o);

/* Installs the SIGTERM and SIGUSR1 handlers (they only set a flag). */
void ms_sched_install_signals(void);

/* Non-zero once SIGTERM or SIGUSR1 arrived in this process. */
int ms_sched_stop_requested(void);

#endif
