/* What the GPU path does not compute yet, checked when a grid is read.
 *
 * The GPU trainer (gpu.h) runs the plain training loop (shuffles, dropout,
 * L1/L2, SGD and Adam, the stop flag, numerical faults); the CPU trainer's
 * hooks that it does not run are listed in one table in
 * src/sweep/gpu_support.c. A grid that asks for one of them with
 * `device = cuda` is refused ("file:line: ..." naming the key); with
 * `device = auto` it runs on the CPU and says why in a one-line note. So a
 * GPU rank never trains differently from a CPU rank without saying so. */
#ifndef MODSWEEP_GPU_SUPPORT_H
#define MODSWEEP_GPU_SUPPORT_H

#include "modsweep/config.h"

/* The line of key `key` in `section` of the grid being read (the line of the
 * section's header or 1 when the key is not written): config.c's. */
typedef int (*ms_grid_line_fn)(const void *ctx, const char *section, const char *key);

/* Checks grid g (filled from file `file`) against the table: returns 0 when
 * g->device is cpu or the grid needs nothing the GPU lacks; MS_ECONFIG with
 * "file:line: ..." for device = cuda; for device = auto writes the reason
 * into g->device_note (the sweep then computes on the CPU) and returns 0. */
int ms_grid_gpu_check(ms_grid_t *g, const char *file, ms_grid_line_fn line_of, const void *ctx);

/* The key of the first setting of settings s (with largest lambda
 * max_lambda) that the GPU trainer does not compute, or NULL when it
 * computes everything s asks for. */
const char *ms_gpu_unsupported(const ms_settings_t *s, double max_lambda);

#endif
