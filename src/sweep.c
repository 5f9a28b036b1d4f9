/* The sweep driver (sweep.h): reads the grid on rank 0 and shares it, loads
 * the data, creates or resumes the results file, hands the tasks to the
 * scheduler (sched.c), and reports.
 *
 * Everything that can be wrong with the input (grid, data files, an existing
 * results file of another grid) is found before the results file is created
 * or touched. */
#include "modsweep/sweep.h"
#include "modsweep/config.h"
#include "modsweep/data.h"
#include "modsweep/error.h"
#include "modsweep/gpu.h"
#include "modsweep/kernels.h"
#include "modsweep/log.h"
#include "modsweep/results.h"
#include "modsweep/sched.h"
#include "modsweep/stages.h"
#include "modsweep/version.h"

#include <math.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Reads the grid file on rank 0, broadcasts its text, and parses it on every
 * rank. On failure every rank returns the same error (rank 0 has the message). */
static int load_grid(ms_grid_t *g, const char *path, MPI_Comm comm) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    long len = -1;
    char *text = NULL;
    int rc = 0;
    if (rank == 0) {
        FILE *f = fopen(path, "rb");
        if (!f) {
            rc = ms_err_set(MS_EIO, "%s: cannot open the grid file", path);
        } else {
            if (fseek(f, 0, SEEK_END) == 0) len = ftell(f);
            if (len < 0 || len > (1L << 24) || fseek(f, 0, SEEK_SET) != 0) {
                rc = ms_err_set(MS_EIO, "%s: cannot read the grid file (or it is over 16 MiB)",
                                path);
                len = -1;
            } else {
                text = malloc((size_t)len + 1);
                if (fread(text, 1, (size_t)len, f) != (size_t)len) {
                    rc = ms_err_set(MS_EIO, "%s: read error", path);
                    len = -1;
                } else {
                    text[len] = 0;
                }
            }
            fclose(f);
        }
    }
    MPI_Bcast(&len, 1, MPI_LONG, 0, comm);
    if (len < 0) {
        free(text);
        return rc ? rc : ms_err_set(MS_EIO, "%s: cannot read the grid file", path);
    }
    if (rank != 0) text = malloc((size_t)len + 1);
    MPI_Bcast(text, (int)len + 1, MPI_CHAR, 0, comm);
    rc = ms_grid_parse(g, path, text);
    free(text);
    return rc;
}

/* Threads for this rank's kernels: the option, else the grid's, else the
 * cores this process may run on divided by the ranks sharing its node. */
static int choose_threads(int opt, int grid) {
    if (opt > 0) return opt;
    if (grid > 0) return grid;
    MPI_Comm node;
    int local = 1;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &local);
    MPI_Comm_free(&node);
    cpu_set_t set;
    int cores = 0;
    if (sched_getaffinity(0, sizeof set, &set) == 0) cores = CPU_COUNT(&set);
    if (cores < 1) cores = (int)sysconf(_SC_NPROCESSORS_ONLN);
    /* mpirun binds each rank to one core by default: use the node's cores. */
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    if (cores == 1 && online > 1) cores = (int)online;
    int t = cores / (local > 0 ? local : 1);
    return t > 0 ? t : 1;
}

/* Opens the results file to resume it, or creates it. Collective. */
static int open_results(ms_results_t **res, const ms_grid_t *g, const ms_dims_t *dims,
                        int restart, MPI_Comm comm) {
    int rank;
    MPI_Comm_rank(comm, &rank);
    int exists = 0;
    if (rank == 0) exists = access(g->output, F_OK) == 0;
    MPI_Bcast(&exists, 1, MPI_INT, 0, comm);
    if (!exists) return ms_results_create(res, g->output, comm, g, dims);
    int rc = ms_results_open(res, g->output, comm, 1);
    int same = 0;
    if (rc == 0) same = ms_results_grid_hash(*res) == g->hash;
    if (rc == 0 && same) return 0;
    if (rc == 0) ms_results_close(*res);
    *res = NULL;
    if (!restart) {
        if (rc == 0)
            return ms_err_set(MS_EMISMATCH,
                              "%s was made by a different grid (settings differ from %s); "
                              "use another output file, or --restart to replace it",
                              g->output, g->path);
        return ms_err_wrap(rc, "cannot resume: ");
    }
    if (rank == 0) {
        ms_message("--restart: replacing %s", g->output);
        unlink(g->output);
    }
    MPI_Barrier(comm);
    return ms_results_create(res, g->output, comm, g, dims);
}

/* Prints what the sweep found: one line per model (rank 0). */
static void print_summary(ms_results_t *res, const ms_grid_t *g) {
    const ms_dims_t *d = ms_results_dims(res);
    for (long m = 0; m < d->M; m++) {
        int st = 0;
        char reason[MS_STR_LEN];
        double acc = NAN;
        ms_results_get_status(res, MS_TASK_TRAIN, m, -1, &st, NULL, reason);
        ms_results_read(res, "models/test_acc", m, -1, &acc);
        ms_settings_t s;
        ms_grid_model_settings(g, (int)m, &s);
        if (st == MS_ST_DONE)
            printf("model %ld (seed %llu, lambda %g, k %d): test accuracy %.4f\n", m,
                   (unsigned long long)s.seed, s.lambda, s.k, acc);
        else
            printf("model %ld (seed %llu, lambda %g, k %d): %s%s\n", m, (unsigned long long)s.seed,
                   s.lambda, s.k, st == MS_ST_FAILED ? "FAILED: " : "not trained",
                   st == MS_ST_FAILED ? reason : "");
    }
}

int ms_sweep_run(const ms_run_opts_t *o) {
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    ms_grid_t g;
    int rc = load_grid(&g, o->grid_path, MPI_COMM_WORLD);
    if (rc) {
        if (rank == 0) fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        return MS_EXIT_ERROR;
    }
    if (o->output) snprintf(g.output, sizeof g.output, "%s", o->output);
    if (o->team > 0) g.team = o->team;
    if (o->retries >= 0) g.retries = o->retries;
    int threads = choose_threads(o->threads, g.threads);
    ms_kernels_set_threads(threads);

    /* device = cpu|cuda|auto: the same answer on every rank, an error (before
     * any output) when cuda cannot be had. */
    int use_gpu = 0;
    rc = ms_device_resolve(g.device, MPI_COMM_WORLD, &use_gpu);
    if (rc) {
        if (rank == 0) fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        ms_grid_free(&g);
        return MS_EXIT_ERROR;
    }
    if (use_gpu && !o->quiet) {
        char gpu[128];
        ms_gpu_describe(gpu, sizeof gpu, NULL);
        ms_message("computing on GPU %d (%s)", ms_gpu_device(), gpu);
    }

    /* The data, on every rank (each trains and evaluates on its own copy). */
    ms_split_t train = {0}, test = {0};
    rc = ms_data_load(&g.base.data, &train, &test);
    int bad = rc != 0, any = 0;
    MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (any) {
        if (rc) fprintf(stderr, "modsweep: [rank %d] %s\n", rank, ms_err_msg());
        ms_gpu_release();
        ms_split_free(&train);
        ms_split_free(&test);
        ms_grid_free(&g);
        return MS_EXIT_ERROR;
    }
    for (int i = 0; i < g.n_labels; i++) {
        if (test.class_count[g.labels[i]] == 0) {
            if (rank == 0)
                fprintf(stderr, "modsweep: %s: label %d has no test images in %s\n", g.path,
                        g.labels[i], g.base.data.dir);
            ms_gpu_release();
            ms_split_free(&train);
            ms_split_free(&test);
            ms_grid_free(&g);
            return MS_EXIT_ERROR;
        }
    }

    /* GPU ranks keep both splits in GPU memory for the whole sweep. */
    ms_gpu_split_t gpu_train = {0}, gpu_test = {0};
    if (use_gpu) {
        rc = ms_gpu_split_upload(&gpu_train, &train);
        if (!rc) rc = ms_gpu_split_upload(&gpu_test, &test);
        bad = rc != 0;
        MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (any) {
            if (rc) fprintf(stderr, "modsweep: [rank %d] %s\n", rank, ms_err_msg());
            ms_gpu_split_free(&gpu_train);
            ms_gpu_split_free(&gpu_test);
            ms_gpu_release();
            ms_split_free(&train);
            ms_split_free(&test);
            ms_grid_free(&g);
            return MS_EXIT_ERROR;
        }
    }

    ms_dims_t dims;
    ms_dims_init(&dims, &g, train.n);
    ms_results_t *res = NULL;
    rc = open_results(&res, &g, &dims, o->restart, MPI_COMM_WORLD);
    if (rc) {
        if (rank == 0) fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        ms_gpu_split_free(&gpu_train);
        ms_gpu_split_free(&gpu_test);
        ms_gpu_release();
        ms_split_free(&train);
        ms_split_free(&test);
        ms_grid_free(&g);
        return MS_EXIT_ERROR;
    }
    if (rank == 0 && !o->quiet)
        ms_message("modsweep %s: %s, %d models x %d labels, %d ranks x %d threads, results %s",
                   MS_VERSION, g.path, g.n_models, g.n_labels, size, threads, g.output);

    ms_ctx_t ctx = {.g = &g, .res = res, .train = &train, .test = &test, .rank = rank,
                    .threads = threads, .verbose = !o->quiet, .use_gpu = use_gpu,
                    .gpu_train = &gpu_train, .gpu_test = &gpu_test};
    gethostname(ctx.host, sizeof ctx.host - 1);
    int status = ms_sched_run(&ctx, o->quiet);
    if (status == MS_EXIT_OK && rank == 0 && !o->quiet) print_summary(res, &g);
    rc = ms_results_close(res);
    if (rc && status == MS_EXIT_OK) {
        if (rank == 0) fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        status = MS_EXIT_ERROR;
    }
    ms_gpu_team_free(ctx.gpu_team);
    ms_gpu_split_free(&gpu_train);
    ms_gpu_split_free(&gpu_test);
    ms_gpu_release();
    ms_split_free(&train);
    ms_split_free(&test);
    ms_grid_free(&g);
    return status;
}

int ms_sweep_dry_run(const char *grid_path, FILE *out) {
    ms_grid_t g;
    if (ms_grid_load(&g, grid_path) != 0) {
        fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        return MS_EXIT_ERROR;
    }
    ms_grid_print_plan(&g, out);
    ms_grid_free(&g);
    return MS_EXIT_OK;
}

int ms_sweep_status(const char *results_path, FILE *out) {
    ms_results_t *res = NULL;
    if (ms_results_open(&res, results_path, MPI_COMM_SELF, 0) != 0) {
        fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        return MS_EXIT_ERROR;
    }
    const ms_dims_t *d = ms_results_dims(res);
    const long M = d->M, L = d->L;
    int8_t *st_train = calloc((size_t)M + 1, 1), *st_an = calloc((size_t)M + 1, 1);
    int8_t *st_pr = calloc((size_t)(M * L) + 1, 1);
    double *t_train = malloc(sizeof(double) * (size_t)(M + 1));
    int rc = ms_results_all_status(res, st_train, st_an, st_pr);
    if (!rc) rc = ms_results_read_all(res, "models/time_train", t_train);
    if (rc) {
        fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        free(st_train), free(st_an), free(st_pr), free(t_train);
        ms_results_close(res);
        return MS_EXIT_ERROR;
    }
    long cnt[3][3] = {{0}};
    for (long m = 0; m < M; m++) {
        cnt[0][st_train[m] < 3 ? st_train[m] : 0]++;
        cnt[1][st_an[m] < 3 ? st_an[m] : 0]++;
    }
    for (long i = 0; i < M * L; i++) cnt[2][st_pr[i] < 3 ? st_pr[i] : 0]++;
    fprintf(out, "%s\n", results_path);
    const char *names[] = {"train", "analyse", "prune"};
    const long totals[] = {M, M, M * L};
    for (int k = 0; k < 3; k++)
        fprintf(out, "  %-8s %6ld done  %6ld failed  %6ld pending  (of %ld)\n", names[k],
                cnt[k][MS_ST_DONE], cnt[k][MS_ST_FAILED], cnt[k][MS_ST_PENDING], totals[k]);
    /* Reasons of failed tasks. */
    char reason[MS_STR_LEN];
    for (long m = 0; m < M; m++) {
        for (int k = 0; k < 2; k++) {
            if ((k ? st_an : st_train)[m] != MS_ST_FAILED) continue;
            ms_results_get_status(res, k, m, -1, NULL, NULL, reason);
            fprintf(out, "  failed %s of model %ld: %s\n", names[k], m, reason);
        }
        for (long li = 0; li < L; li++) {
            if (st_pr[m * L + li] != MS_ST_FAILED) continue;
            ms_results_get_status(res, MS_TASK_PRUNE, m, li, NULL, NULL, reason);
            fprintf(out, "  failed prune of model %ld label index %ld: %s\n", m, li, reason);
        }
    }
    /* ETA from the mean time of the tasks done so far (on one rank). */
    double tsum = 0;
    long tn = 0;
    for (long m = 0; m < M; m++)
        if (st_train[m] == MS_ST_DONE && isfinite(t_train[m])) tsum += t_train[m], tn++;
    long pending = cnt[0][MS_ST_PENDING] + cnt[1][MS_ST_PENDING] + cnt[2][MS_ST_PENDING];
    if (pending == 0)
        fprintf(out, "  complete\n");
    else if (tn > 0)
        fprintf(out, "  about %.0f s of training left on one rank (%.1f s per model so far)\n",
                tsum / tn * cnt[0][MS_ST_PENDING], tsum / tn);
    free(st_train), free(st_an), free(st_pr), free(t_train);
    ms_results_close(res);
    return MS_EXIT_OK;
}
