/* modsweep: the command line.
 *
 *   mpirun -n N modsweep [options] grid.ini   run or resume a sweep
 *   modsweep --dry-run grid.ini               validate, print tasks and an estimate
 *   modsweep status results.h5                progress of a results file
 */
#include "modsweep/config.h"
#include "modsweep/error.h"
#include "modsweep/isa.h"
#include "modsweep/log.h"
#include "modsweep/results.h"
#include "modsweep/safety.h"
#include "modsweep/sweep.h"
#include "modsweep/version.h"

#include <errno.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *f) {
    fprintf(f,
            "usage: mpirun -n N modsweep [options] GRID.ini   run (or resume) a sweep\n"
            "       modsweep --dry-run GRID.ini              validate; print the tasks and an "
            "estimate\n"
            "       modsweep status RESULTS.h5               progress: done, failed, pending, ETA\n"
            "       modsweep status --check RESULTS.h5       exit 0 complete, 75 tasks pending\n"
            "                                                (run again), 1 tasks failed for good\n"
            "                                                and none pending; RESULTS may be the\n"
            "                                                grid (its output, or -o FILE)\n"
            "       modsweep --keys                          every grid-file key with its meaning\n"
            "       modsweep --schema                        the datasets of a results file\n"
            "\n"
            "options:\n"
            "  -o, --output FILE  results file (default: [sweep] output of the grid)\n"
            "  --restart          replace a results file that another grid (or other data) made;\n"
            "                     the new file is built beside it and renamed over it once\n"
            "                     complete; with the same grid and data it resumes\n"
            "  --force            with --restart: also replace a file that is not a modsweep\n"
            "                     results file (damaged, or something else)\n"
            "  --retry-failed     run the tasks that failed for good again (keeps all done ones)\n"
            "  --break-lock       take the results file's lock although its holder runs on\n"
            "                     another host (only when you know that sweep is dead)\n"
            "  --threads N        kernel threads per rank (default: cores / ranks per node)\n"
            "  --team N           ranks pruning one label together (default: [sweep] team)\n"
            "  --retries N        attempts after a failed task (default: [sweep] retries)\n"
            "  --dedicated-coordinator  rank 0 only hands out work (default: it also computes)\n"
            "  -q, --quiet        no progress lines\n"
            "  -v, --verbose      also debug lines (task hand-outs, each rank's cores)\n"
            "  -h, --help         this text\n"
            "  --version          version and build options\n"
            "\n"
            "signals: SIGTERM or SIGUSR1 stop the sweep cleanly (tasks in progress finish or are\n"
            "left pending); with mpirun send SIGUSR1 to mpirun, which forwards it\n"
            "\n"
            "exit status: 0 finished, 1 error, 2 usage, 75 stopped by a signal (run again to "
            "resume)\n"
            "\n"
            "one sweep at a time owns a results file: RESULTS.lock beside it names the holder\n"
            "(host, pid, Slurm job, start); a second sweep on it is refused\n");
}

/* Parses the value of an option that overrides the [sweep] key `key`,
 * within that key's range (at least `lo`, when that is larger): the option
 * and the grid key take the same values. */
static int parse_int(const char *opt, const char *v, const char *key, long lo, int *out) {
    long klo = 0, khi = 0;
    if (ms_grid_key_range("sweep", key, &klo, &khi) != 0) {
        fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        return -1;
    }
    if (klo > lo) lo = klo;
    char *end = NULL;
    errno = 0;
    long x = v && *v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || errno) {
        fprintf(stderr, "modsweep: %s needs an integer in %ld..%ld, got '%s'\n", opt, lo, khi,
                v ? v : "nothing");
        return -1;
    }
    if (x < lo || x > khi) {
        fprintf(stderr,
                "modsweep: %s %s is out of range: must be in %ld..%ld (as [sweep] %s in a grid)\n",
                opt, v, lo, khi, key);
        return -1;
    }
    *out = (int)x;
    return 0;
}

/* The results file `modsweep status` reads: arg itself, or when arg is a
 * grid file (name ending in .ini) the -o file, else its [sweep] output. */
static int status_path(const char *arg, const char *opt_output, char *out, size_t n) {
    size_t len = strlen(arg);
    snprintf(out, n, "%s", arg);
    if (len < 4 || strcmp(arg + len - 4, ".ini")) return MS_EXIT_OK;
    if (opt_output) {
        snprintf(out, n, "%s", opt_output);
        return MS_EXIT_OK;
    }
    ms_grid_t g;
    if (ms_grid_load(&g, arg) != 0) {
        fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        return MS_EXIT_ERROR;
    }
    snprintf(out, n, "%s", g.output);
    ms_grid_free(&g);
    return MS_EXIT_OK;
}

int main(int argc, char **argv) {
    ms_run_opts_t o = {.retries = -1};
    int dry = 0, status_cmd = 0, verbose = 0, check = 0;
    const char *arg = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return MS_EXIT_OK;
        } else if (!strcmp(a, "--version")) {
            printf("modsweep %s (%s, results schema %d)\n", MS_VERSION, MS_BUILD_OPTIONS,
                   MS_SCHEMA_VERSION);
            return MS_EXIT_OK;
        } else if (!strcmp(a, "--keys")) {
            ms_grid_print_keys(stdout);
            return MS_EXIT_OK;
        } else if (!strcmp(a, "--schema")) {
            ms_results_print_schema(stdout);
            return MS_EXIT_OK;
        } else if (!strcmp(a, "--dry-run")) {
            dry = 1;
        } else if (!strcmp(a, "--restart")) {
            o.restart = 1;
        } else if (!strcmp(a, "--force")) {
            o.force = 1;
        } else if (!strcmp(a, "--break-lock")) {
            o.break_lock = 1;
        } else if (!strcmp(a, "--retry-failed")) {
            o.retry_failed = 1;
        } else if (!strcmp(a, "--check")) {
            check = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            o.quiet = 1;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if (!strcmp(a, "--dedicated-coordinator")) {
            o.dedicated_coordinator = 1;
        } else if (!strcmp(a, "-o") || !strcmp(a, "--output")) {
            if (++i >= argc) {
                fprintf(stderr, "modsweep: %s needs a file name\n", a);
                return MS_EXIT_USAGE;
            }
            o.output = argv[i];
        } else if (!strcmp(a, "--threads")) {
            if (parse_int(a, ++i < argc ? argv[i] : NULL, "threads", 1, &o.threads))
                return MS_EXIT_USAGE;
        } else if (!strcmp(a, "--team")) {
            if (parse_int(a, ++i < argc ? argv[i] : NULL, "team", 1, &o.team)) return MS_EXIT_USAGE;
        } else if (!strcmp(a, "--retries")) {
            if (parse_int(a, ++i < argc ? argv[i] : NULL, "retries", 0, &o.retries))
                return MS_EXIT_USAGE;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "modsweep: unknown option '%s' (see --help)\n", a);
            return MS_EXIT_USAGE;
        } else if (!strcmp(a, "status") && !arg && !status_cmd) {
            status_cmd = 1;
        } else if (!arg) {
            arg = a;
        } else {
            fprintf(stderr, "modsweep: unexpected argument '%s' (see --help)\n", a);
            return MS_EXIT_USAGE;
        }
    }
    if (!arg) {
        usage(stderr);
        return MS_EXIT_USAGE;
    }
    if (check && !status_cmd) {
        fprintf(stderr, "modsweep: --check goes with status: modsweep status --check RESULTS.h5\n");
        return MS_EXIT_USAGE;
    }
    if (o.force && !o.restart) {
        fprintf(stderr, "modsweep: --force only goes with --restart\n");
        return MS_EXIT_USAGE;
    }
    if (dry) {
        o.grid_path = arg;
        return ms_sweep_dry_run_opts(&o, stdout);
    }

    /* The training kernels' instruction-set path (isa.h): MODSWEEP_ISA names
     * one, or the CPU chooses. */
    if (!status_cmd && ms_isa_init() != 0) {
        fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        return MS_EXIT_ERROR;
    }
    if (!status_cmd) ms_sweep_early_affinity(argv, o.threads, arg); /* may re-execute */

    int provided;
    /* Rank 0's coordinator thread talks MPI beside its computing main thread. */
    MPI_Init_thread(&argc, &argv, MPI_THREAD_MULTIPLE, &provided);
    o.thread_multiple = provided >= MPI_THREAD_MULTIPLE;
    int rank;
    MS_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    ms_log_init(rank, o.quiet ? 0 : verbose ? 2 : 1);
    ms_log_set_mpi(1);
    int rc;
    if (status_cmd) {
        char results[MS_PATH_MAX];
        rc = status_path(arg, o.output, results, sizeof results);
        if (rc == MS_EXIT_OK && rank == 0) {
            rc = ms_sweep_status(results, stdout);
            if (rc == MS_EXIT_OK) ms_lock_describe(results, stdout);
            if (rc == MS_EXIT_OK && check) rc = ms_sweep_check(results, stdout);
        }
    } else {
        o.grid_path = arg;
        rc = ms_sweep_run(&o);
    }
    MPI_Finalize();
    return rc;
}
