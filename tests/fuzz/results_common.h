/* Shared part of the results-file fuzz targets (fuzz_results.c: files
 * edited through the HDF5 API, so always well-formed HDF5 with wrong
 * contents; fuzz_results_bytes.c: files with bytes overwritten or cut, so
 * also malformed HDF5).
 *
 * At start-up each process creates base results files with the library
 * (ms_results_create, the same code a sweep uses) for a few small grids,
 * marks some tasks done, failed and retrying, and keeps their bytes. Each
 * input picks a base, changes a scratch copy, and then reads it the way
 * modsweep does:
 * - `modsweep status`: ms_results_open read-only on MPI_COMM_SELF, every
 *   task's status, attempts and reason, then ms_sweep_status itself;
 * - resuming a sweep: ms_results_open writable on MPI_COMM_WORLD, the grid
 *   hashes and dimensions compared, and the settings diff of sweep.c.
 *
 * Properties beyond "no crash, no leak, no undefined behaviour":
 * - a refusal gives one of the codes of a bad file (not "out of memory")
 *   with a message that names the file;
 * - an accepted file has sane dimensions, statuses in 0..2, attempts >= 0
 *   and NUL-terminated reasons;
 * - a file refused by the writable open is left exactly as it was (a
 *   refused results file is never modified). */
#ifndef MS_FUZZ_RESULTS_COMMON_H
#define MS_FUZZ_RESULTS_COMMON_H

#include "fuzz_util.h"

#include "modsweep/config.h"
#include "modsweep/error.h"
#include "modsweep/results.h"
#include "modsweep/sweep.h"

#include <hdf5.h>
#include <mpi.h>
#include <sys/stat.h>

/* The grids of the base files: an MLP with the cluster analyses, and one
 * with the measures' extra dimensions. */
static const char *const base_grids[] = {
    "[sweep]\nname = fz\n[data]\ndataset = mnist\ndir = /nonexistent\n[model]\narch = mlp\n"
    "hidden = 6, 5\n[train]\nseeds = 1, 2, 3\nepochs = 2\nbatch = 40\n[cluster]\nlambda = 0\n"
    "k = 2\ncurve_k = 2, 3\n[prune]\nlabels = 0, 3, 9\n",
    "[sweep]\nname = fz2\n[data]\ndataset = mnist\ndir = /nonexistent\n[model]\narch = mlp\n"
    "hidden = 12, 12\n[train]\nseeds = 5\nepochs = 1\n[cluster]\nk = 2\ncurve_k = 2\n"
    "[measures]\nuntrained = true\ninfo_layers = fc1, fc2\nassoc_layers = fc1, fc2\n"
    "assoc_store = true\n[prune]\nlabels = 1\n",
};
#define N_BASES ((int)(sizeof base_grids / sizeof base_grids[0]))

static struct {
    uint8_t *bytes;
    size_t n;
    ms_grid_t g;
} base[N_BASES];

static uint8_t *slurp(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    FZ_ASSERT(f, "cannot read %s", path);
    struct stat st;
    FZ_ASSERT(fstat(fileno(f), &st) == 0, "stat %s", path);
    uint8_t *b = malloc((size_t)st.st_size + 1);
    FZ_ASSERT(b, "out of memory");
    *n = fread(b, 1, (size_t)st.st_size, f);
    fclose(f);
    return b;
}

static void make_base(int i) {
    ms_grid_t *g = &base[i].g;
    FZ_ASSERT(ms_grid_parse(g, "fz.ini", base_grids[i]) == 0, "base grid %d: %s", i, ms_err_msg());
    ms_dims_t d;
    ms_dims_init(&d, g, 100);
    char path[512];
    fz_path(path, sizeof path, "base.h5");
    unlink(path);
    ms_results_t *r;
    FZ_ASSERT(ms_results_create(&r, path, MPI_COMM_WORLD, g, &d) == 0, "create: %s", ms_err_msg());
    /* Model 0 done throughout; model 1 failed to train (its later tasks with
     * it); the last model's training pending after a failed attempt. */
    FZ_ASSERT(ms_results_set_status(r, MS_TASK_TRAIN, 0, -1, MS_ST_DONE, 1, "") == 0, "status");
    FZ_ASSERT(ms_results_set_status(r, MS_TASK_ANALYSE, 0, -1, MS_ST_DONE, 1, "") == 0, "status");
    for (int li = 0; li < g->n_labels; li++)
        FZ_ASSERT(ms_results_set_status(r, MS_TASK_PRUNE, 0, li, li ? MS_ST_DONE : MS_ST_FAILED, 1,
                                        li ? "" : "prune failed: injected") == 0,
                  "status");
    if (g->n_models > 1) {
        FZ_ASSERT(ms_results_set_status(r, MS_TASK_TRAIN, 1, -1, MS_ST_FAILED, 3,
                                        "step 7 (epoch 1): cross-entropy loss is NaN") == 0,
                  "status");
        FZ_ASSERT(ms_results_set_status(r, MS_TASK_TRAIN, g->n_models - 1, -1, MS_ST_PENDING, 1,
                                        "injected failure") == 0,
                  "status");
    }
    double t = 1.5;
    FZ_ASSERT(ms_results_write(r, "models/time_train", 0, -1, &t) == 0, "write");
    FZ_ASSERT(ms_results_close(r) == 0, "close: %s", ms_err_msg());
    base[i].bytes = slurp(path, &base[i].n);
    unlink(path);
}

static void finalize_mpi(void) {
    int fin = 0;
    MPI_Finalized(&fin);
    if (!fin) MPI_Finalize();
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    setenv("HDF5_USE_FILE_LOCKING", "FALSE", 1);
    setenv("OMPI_MCA_btl", "self", 0); /* one process: no shared memory or network set-up */
    /* Open MPI's handlers of SIGSEGV, SIGABRT, ... would hide crashes from
     * libFuzzer and the sanitizers. */
    setenv("OMPI_MCA_opal_signal", "", 0);
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited) {
        int provided;
        MPI_Init_thread(argc, argv, MPI_THREAD_MULTIPLE, &provided);
        atexit(finalize_mpi);
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    for (int i = 0; i < N_BASES; i++)
        make_base(i);
    return 0;
}

/* The codes a bad results file may be refused with. "Out of memory" is not
 * one: the file's sizes are checked before anything is allocated for them
 * (run_fuzz.sh makes allocations over 2 GiB fail). */
static int bad_file_code(int rc) {
    return rc == MS_EIO || rc == MS_EFORMAT || rc == MS_EHDF5 || rc == MS_ESCHEMA;
}

/* What `modsweep status` reads. */
static void read_status(const char *path) {
    ms_results_t *r = NULL;
    int rc = ms_results_open(&r, path, MPI_COMM_SELF, 0);
    if (rc) {
        FZ_ASSERT(bad_file_code(rc), "read-only open: code %d: %s", rc, ms_err_msg());
        FZ_ASSERT(strstr(ms_err_msg(), path), "the message does not name the file: %s",
                  ms_err_msg());
        FZ_ASSERT(r == NULL, "a refused open returns a handle");
        return;
    }
    const ms_dims_t *d = ms_results_dims(r);
    FZ_ASSERT(d->M >= 0 && d->L >= 0 && d->L <= MS_MAX_CLASSES, "dimensions M %ld L %ld", d->M,
              d->L);
    const long M = d->M, L = d->L;
    if (M <= 100000) {
        int8_t *st = malloc((size_t)(2 * M + M * L + 1));
        FZ_ASSERT(st, "out of memory");
        if (ms_results_all_status(r, st, st + M, st + 2 * M) == 0) {
            for (long t = 0; t < 2 * M + M * L; t++)
                FZ_ASSERT(st[t] >= 0 && st[t] <= 2, "task %ld: status %d accepted", t, st[t]);
            for (long m = 0; m < M && m < 64; m++)
                for (int kind = 0; kind < 3; kind++)
                    for (long li = 0; li < (kind == MS_TASK_PRUNE ? L : 1); li++) {
                        int s = -1, a = -1;
                        char reason[MS_STR_LEN + 16];
                        memset(reason, 'x', sizeof reason);
                        if (ms_results_get_status(r, kind, m, li, &s, &a, reason) != 0) continue;
                        FZ_ASSERT(memchr(reason, 0, MS_STR_LEN), "reason not NUL-terminated");
                    }
        }
        free(st);
    }
    ms_results_close(r);
    ms_sweep_status(path, fz_null());
}

/* What resuming a sweep reads; a refused file must not change. */
static void read_resume(const char *path, const ms_grid_t *g) {
    size_t n0;
    uint8_t *before = slurp(path, &n0);
    ms_results_t *r = NULL;
    int rc = ms_results_open(&r, path, MPI_COMM_WORLD, 1);
    if (rc == 0) {
        int same = ms_results_results_hash(r) == g->results_hash;
        char diff[1024];
        if (!same)
            ms__sweep_settings_diff(ms_results_grid_resolved(r), g->resolved, diff, sizeof diff, 4);
        ms_results_close(r);
    } else {
        FZ_ASSERT(bad_file_code(rc), "writable open: code %d: %s", rc, ms_err_msg());
        FZ_ASSERT(strstr(ms_err_msg(), path), "the message does not name the file: %s",
                  ms_err_msg());
        size_t n1;
        uint8_t *after = slurp(path, &n1);
        FZ_ASSERT(n1 == n0 && memcmp(before, after, n0) == 0,
                  "a results file refused for resuming was modified (%s)", ms_err_msg());
        free(after);
    }
    free(before);
}

/* Reads path as `modsweep status` and a resume do, then removes it: the
 * end of every input of the results targets. */
static void read_and_remove(const char *path, const ms_grid_t *g) {
    read_status(path);
    read_resume(path, g);
    unlink(path);
    ms_err_clear();
}

#endif
