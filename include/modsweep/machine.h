/* What each task's results depend on in the machine that ran it: the CPU
 * model, the training kernels' instruction-set path (isa.h) and OpenBLAS's
 * core type, stored per task in the results file (the columns of
 * ms_machine_cols, results.h), and the warning of `modsweep status` when
 * one sweep's tasks ran on different paths or BLAS cores. */
#ifndef MODSWEEP_MACHINE_H
#define MODSWEEP_MACHINE_H

#include <stdint.h>
#include <stdio.h>

struct ms_results;

/* Writes this process's CPU model, path and BLAS core into the row of task
 * kind (ms_task_kind_t) for model m (and label index li for a prune task).
 * Returns 0 or a negative ms_err_t. */
int ms_machine_write(struct ms_results *r, int kind, long m, long li);

/* Prints to out one warning line per property (path, BLAS core) that takes
 * more than one value among the finished tasks (status, as
 * ms_results_all_tasks reads it: training, analysis, then prune tasks),
 * with the count of tasks of each value; nothing when all agree. Returns 0
 * or a negative ms_err_t. */
int ms_machine_status(struct ms_results *r, const int8_t *status, FILE *out);

#endif
