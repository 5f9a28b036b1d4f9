/* The task scheduler: runs the train, analyse and prune tasks of a sweep
 * whose status in the results file is not yet final, respecting their order
 * (a model is trained before it is analysed or pruned), retrying failures up
 * to the grid's retry count, and writing each task's status after its data. */
#ifndef MODSWEEP_SCHED_H
#define MODSWEEP_SCHED_H

#include "modsweep/stages.h"

/* Runs every pending task; collective over MPI_COMM_WORLD. Returns an exit
 * status of sweep.h (MS_EXIT_OK when no task is left pending). */
int ms_sched_run(ms_ctx_t *ctx, int quiet);

#endif
