/* The task numbering of a sweep, written once: M models and L labels give
 * T = 2M + ML tasks, numbered train 0..M-1 (task m), analyse M..2M-1
 * (task M + m), then prune 2M.. (task 2M + m L + li, label index li
 * fastest). The scheduler numbers its tasks this way and the results file
 * lays the status and attempt columns out in this order (train, analyse,
 * prune), so a task's number is also its place in ms_results_all_tasks.
 * What a task is (its kind, model, label and the model's settings) is the
 * task value ms_task_t of stages.h, built once by ms_task_make (tasks.c).
 * Internal to src/sweep. */
#ifndef MODSWEEP_SWEEP_TASKS_H
#define MODSWEEP_SWEEP_TASKS_H

#include "modsweep/results.h"

/* The number of tasks of M models and L labels. */
static inline long ms_task_count(long M, long L) {
    return 2 * M + M * L;
}

/* The first task of a kind (ms_task_kind_t). */
static inline long ms_task_first(int kind, long M) {
    return kind == MS_TASK_TRAIN ? 0 : kind == MS_TASK_ANALYSE ? M : 2 * M;
}

/* The number of tasks of a kind: M train, M analyse, M L prune. */
static inline long ms_task_kind_count(int kind, long M, long L) {
    return kind == MS_TASK_PRUNE ? M * L : M;
}

/* The number of a task: its kind, model m and label index li (prune only). */
static inline long ms_task_id(long M, long L, int kind, long m, long li) {
    return ms_task_first(kind, M) + (kind == MS_TASK_PRUNE ? m * L + li : m);
}

/* The kind, model and label index (-1 unless prune) of task t. */
static inline void ms_task_of(long M, long L, long t, int *kind, long *m, long *li) {
    if (t < M) {
        *kind = MS_TASK_TRAIN, *m = t, *li = -1;
    } else if (t < 2 * M) {
        *kind = MS_TASK_ANALYSE, *m = t - M, *li = -1;
    } else {
        *kind = MS_TASK_PRUNE, *m = (t - 2 * M) / L, *li = (t - 2 * M) % L;
    }
}

#endif
