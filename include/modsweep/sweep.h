/* The sweep driver: everything `modsweep grid.ini`, `modsweep --dry-run` and
 * `modsweep status` do, from reading the grid to closing the results file. */
#ifndef MODSWEEP_SWEEP_H
#define MODSWEEP_SWEEP_H

#include <stdio.h>

/* Exit statuses of modsweep (slurm/sweep.sh turns MS_EXIT_RESUMABLE into a requeue). */
enum {
    MS_EXIT_OK = 0,         /* every task is done or has failed for good (see status) */
    MS_EXIT_ERROR = 1,      /* bad input or an I/O fault: nothing was lost */
    MS_EXIT_USAGE = 2,      /* bad command line */
    MS_EXIT_RESUMABLE = 75, /* stopped by SIGTERM/SIGUSR1; run the same command again */
};

typedef struct ms_run_opts {
    const char *grid_path;
    const char *output;        /* overrides [sweep] output (NULL: the grid's) */
    int restart;               /* replace a results file made by a different grid */
    int quiet;                 /* no progress lines */
    int threads;               /* kernel threads per rank (0: the grid's, else automatic) */
    int team;                  /* ranks pruning one label together (0: the grid's) */
    int retries;               /* attempts after a failure (-1: the grid's) */
    int dedicated_coordinator; /* rank 0 only hands out work */
    int thread_multiple;       /* MPI provided MPI_THREAD_MULTIPLE */
    int force;                 /* --restart may replace a file that is no results file */
    int break_lock;            /* take a lock held on another host (docs/data-safety.md) */
    int retry_failed;          /* set failed tasks back to pending before the sweep */
} ms_run_opts_t;

/* Before MPI starts: when this process is bound to fewer CPUs than it will
 * run kernel threads (mpirun binds each rank to one core by default), sets
 * its CPU mask to `threads` CPUs of its own (node-local rank i gets CPUs
 * i*threads onwards, from the launcher's OMPI_COMM_WORLD_LOCAL_RANK, ...)
 * and re-executes modsweep with argv, so that OpenMP starts with the right
 * CPUs. threads: opt_threads, else the grid's (read here only from a regular
 * file: a pipe is left whole for the run's reader), else the node's cores /
 * its ranks. Returns when nothing is to be done (or exec failed). */
void ms_sweep_early_affinity(char **argv, int opt_threads, const char *grid_path);

/* Runs (or resumes) a sweep; collective over MPI_COMM_WORLD. Returns an exit status. */
int ms_sweep_run(const ms_run_opts_t *o);

/* Validates a grid file and prints its tasks and an estimate (no output file). */
int ms_sweep_dry_run(const char *grid_path, FILE *out);

/* The same with the command-line options that override [sweep] keys
 * (output, team, retries, threads), then every check the run makes before
 * its work starts: the data (ms_data_load: the folder, each file's header
 * and contents, test images of the training images' shape), the network's
 * input shape against the images, test images for every pruned label, and
 * that a results file can be created. Exit status 0 or MS_EXIT_ERROR. */
int ms_sweep_dry_run_opts(const ms_run_opts_t *o, FILE *out);

/* Prints the progress of a results file: done, failed with reasons, pending, ETA. */
int ms_sweep_status(const char *results_path, FILE *out);

/* Writes up to `max` lines "  file: X / grid: Y" where the resolved settings
 * a (the file's) and b (the grid's) differ, into buf (n bytes): the reason
 * a sweep refuses to resume a file. Internal; exported for the fuzz tests. */
void ms__sweep_settings_diff(const char *a, const char *b, char *buf, size_t n, int max);

#endif
