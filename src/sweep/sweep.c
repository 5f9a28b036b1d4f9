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
#include "modsweep/isa.h"
#include "modsweep/machine.h"
#include "modsweep/planted.h"
#include "modsweep/gpu.h"
#include "modsweep/kernels.h"
#include "modsweep/log.h"
#include "modsweep/results.h"
#include "modsweep/safety.h"
#include "modsweep/sched.h"
#include "modsweep/stages.h"
#include "modsweep/version.h"

#include "tasks.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <mpi.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Reads the grid file on rank 0 with the one grid reader (ms_grid_load, as
 * --dry-run does: a NUL byte, an over-long file or a bad key is refused the
 * same way), broadcasts its text, and parses it on the other ranks. The file
 * is read once, so a pipe (/dev/stdin, a process substitution) works. On
 * failure every rank returns the same error (rank 0 has the message). */
static int load_grid(ms_grid_t *g, const char *path, MPI_Comm comm) {
    int rank;
    MS_MPI_CHECK(MPI_Comm_rank(comm, &rank));
    long len = -1;
    int rc = 0;
    memset(g, 0, sizeof *g);
    if (rank == 0) {
        rc = ms_grid_load(g, path);
        if (rc == 0) len = (long)strlen(g->text);
    }
    MS_MPI_CHECK(MPI_Bcast(&len, 1, MPI_LONG, 0, comm));
    if (len < 0) return rank == 0 ? rc : MS_ECONFIG;
    if (rank == 0) {
        MS_MPI_CHECK(MPI_Bcast(g->text, (int)len + 1, MPI_CHAR, 0, comm));
        return 0;
    }
    char *text = malloc((size_t)len + 1);
    if (!text) ms_fatal("out of memory");
    MS_MPI_CHECK(MPI_Bcast(text, (int)len + 1, MPI_CHAR, 0, comm));
    rc = ms_grid_parse(g, path, text);
    free(text);
    return rc;
}

/* ---- checks shared by the run and --dry-run ------------------------------- */

/* The command-line options that override [sweep] keys. */
static void apply_overrides(ms_grid_t *g, const ms_run_opts_t *o) {
    if (o->output) snprintf(g->output, sizeof g->output, "%s", o->output);
    if (o->team > 0) g->team = o->team;
    if (o->retries >= 0) g->retries = o->retries;
    if (o->threads > 0) g->threads = o->threads;
}

/* What the loaded data must satisfy for this grid: the training images have
 * the input shape of the grid's network, and every pruned label has test
 * images (ms_data_load already refused test images of another shape than
 * the training images). */
static int check_inputs(const ms_grid_t *g, const ms_split_t *train, const ms_split_t *test) {
    const ms_arch_t *a = &g->base.arch;
    if (train->c != a->in_c || train->h != a->in_h || train->w != a->in_w)
        return ms_err_set(MS_EFORMAT,
                          "%s: the training images in %s are %dx%dx%d but the grid's network "
                          "takes %dx%dx%d (dataset and layout of [data]); check dir and dataset",
                          g->path, g->base.data.dir, train->c, train->h, train->w, a->in_c, a->in_h,
                          a->in_w);
    for (int i = 0; i < g->n_labels; i++) {
        const int label = g->labels[i];
        if (test->class_count[label] > 0) continue;
        const int limit = g->base.data.test_limit;
        if (limit > 0 && test->n == limit)
            return ms_err_set(MS_ECONFIG,
                              "%s:%d: test_limit = %d keeps no test image of label %d, which "
                              "[prune] labels prunes; raise test_limit or leave the label out",
                              g->path, ms_grid_key_line(g, "data", "test_limit"), limit, label);
        int line = ms_grid_key_line(g, "prune", "labels");
        if (line)
            return ms_err_set(MS_ECONFIG,
                              "%s:%d: label %d has no test images in %s; leave it out of labels",
                              g->path, line, label, g->base.data.dir);
        return ms_err_set(MS_ECONFIG,
                          "%s: label %d has no test images in %s; set [prune] labels to the "
                          "labels the data has",
                          g->path, label, g->base.data.dir);
    }
    return 0;
}

/* ---- cores and threads ------------------------------------------------------ */

/* Formats a CPU set as a list ("0-3,8"). */
static void cpu_list(const cpu_set_t *set, char *buf, size_t n) {
    size_t off = 0;
    buf[0] = 0;
    for (int c = 0; c < CPU_SETSIZE && off + 16 < n; c++) {
        if (!CPU_ISSET(c, set)) continue;
        int e = c;
        while (e + 1 < CPU_SETSIZE && CPU_ISSET(e + 1, set))
            e++;
        off += (size_t)snprintf(buf + off, n - off, "%s%d", off ? "," : "", c);
        if (e > c) off += (size_t)snprintf(buf + off, n - off, "-%d", e);
        c = e;
    }
}

/* The online CPUs of this machine (/sys/devices/system/cpu/online, else 0..n-1). */
static void online_cpus(cpu_set_t *set) {
    CPU_ZERO(set);
    FILE *fp = fopen("/sys/devices/system/cpu/online", "r");
    int a, b, any = 0;
    if (fp) {
        char sep;
        while (fscanf(fp, "%d", &a) == 1) {
            b = a;
            if (fscanf(fp, "%c", &sep) == 1 && sep == '-') {
                if (fscanf(fp, "%d", &b) != 1) break;
                if (fscanf(fp, "%c", &sep) != 1) sep = '\n';
            }
            for (int c = a; c <= b && c < CPU_SETSIZE; c++)
                CPU_SET(c, set), any = 1;
            if (sep != ',') break;
        }
        fclose(fp);
    }
    if (!any) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        for (int c = 0; c < n && c < CPU_SETSIZE; c++)
            CPU_SET(c, set);
    }
}

/* The node's cores as far as one process can tell before MPI starts:
 * SLURM_CPUS_ON_NODE under Slurm; every online CPU when this process was
 * bound to a single core (mpirun binds each rank to one core by default,
 * which says nothing about the cores the node offers); else its own mask. */
static int cores_seen_alone(const cpu_set_t *mine) {
    const char *sl = getenv("SLURM_CPUS_ON_NODE");
    if (sl && atoi(sl) > 0) return atoi(sl);
    cpu_set_t on;
    online_cpus(&on);
    return CPU_COUNT(mine) == 1 ? CPU_COUNT(&on) : CPU_COUNT(mine);
}

/* This process's node-local rank and the ranks on its node, from the
 * launcher's environment (Open MPI's mpirun, MPICH's Hydra, srun). */
static int launcher_local(int *lr, int *ls) {
    static const char *vars[][2] = {{"OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE"},
                                    {"MPI_LOCALRANKID", "MPI_LOCALNRANKS"},
                                    {"SLURM_LOCALID", "SLURM_STEP_TASKS_PER_NODE"}};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *a = getenv(vars[i][0]), *b = getenv(vars[i][1]);
        if (a && b && atoi(b) > 0) { /* "2(x3)" or "3,2": the leading count */
            *lr = atoi(a);
            *ls = atoi(b);
            return 1;
        }
    }
    *lr = 0, *ls = 1;
    return 0;
}

void ms_sweep_early_affinity(char **argv, int opt_threads, const char *grid_path) {
    if (getenv("MODSWEEP_CPUS_FROM")) return; /* done: this is the re-executed process */
    cpu_set_t mine;
    if (sched_getaffinity(0, sizeof mine, &mine) != 0) return;
    int lr, ls;
    launcher_local(&lr, &ls);
    int threads = opt_threads;
    struct stat st;
    /* Only a regular file is read here: a pipe must be left for rank 0's
     * reader (setup_cores applies the grid's threads later). */
    if (threads <= 0 && grid_path && stat(grid_path, &st) == 0 && S_ISREG(st.st_mode)) {
        ms_grid_t g;
        if (ms_grid_load(&g, grid_path) == 0) {
            threads = g.threads;
            ms_grid_free(&g);
        }
        ms_err_clear(); /* a bad grid is reported once MPI runs */
    }
    if (threads <= 0) threads = cores_seen_alone(&mine) / ls;
    if (threads < 1) threads = 1;
    if (CPU_COUNT(&mine) >= threads) return;
    /* Node-local rank lr takes `threads` online CPUs from lr * threads on
     * (wrapping round when the node has fewer). */
    cpu_set_t on, set;
    online_cpus(&on);
    int cpus[CPU_SETSIZE], P = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &on)) cpus[P++] = c;
    CPU_ZERO(&set);
    for (int j = 0; j < threads && j < P; j++)
        CPU_SET(cpus[(lr * threads + j) % P], &set);
    char from[256];
    cpu_list(&mine, from, sizeof from);
    if (sched_setaffinity(0, sizeof set, &set) != 0) return; /* setup_cores warns */
    setenv("MODSWEEP_CPUS_FROM", from, 1);
    execv("/proc/self/exe", argv);
    /* exec failed: carry on with the wider mask (setup_cores reports it). */
}

/* Chooses this rank's kernel threads and makes sure it may run them on as
 * many cores. Collective over MPI_COMM_WORLD; call before any OpenMP region.
 *
 * Threads: the option, else the grid's, else the node's cores divided by the
 * ranks on the node. The node's cores are SLURM_CPUS_ON_NODE under Slurm,
 * else the union of the node's ranks' CPU masks, or every online CPU when
 * each rank was bound to a single core (mpirun binds each rank to one core
 * by default; that says nothing about the cores the node offers).
 *
 * Affinity: a rank bound to fewer CPUs than it runs threads would put all of
 * its OpenMP threads on those CPUs. Each such node's ranks are then given
 * disjoint sets of `threads` CPUs (node-local rank i gets the CPUs i*threads
 * onwards of the pool, wrapping when the node is oversubscribed), where the
 * pool is the union of the ranks' masks if it is large enough, else every
 * online CPU. The main thread's mask is set before OpenMP starts its
 * threads, which inherit it.
 *
 * Widening the mask here, after the program started, is the fallback: GNU
 * OpenMP counts the CPUs it may use once, when it is loaded, and with more
 * threads than that count its threads hand over at every barrier through
 * the kernel instead of spinning briefly, which made the pruning's many
 * short parallel steps about 15 times slower in a measurement. So main()
 * first calls ms_sweep_early_affinity, which sets the mask from the
 * launcher's environment and re-executes modsweep before MPI starts; here
 * the result is only checked (and the fallback used, with a warning, when
 * the launcher's variables were missing). */
static int setup_cores(int opt, int grid, int quiet) {
    int rank, lr = 0, ls = 1;
    MS_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    MPI_Comm node;
    MS_MPI_CHECK(
        MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node));
    MS_MPI_CHECK(MPI_Comm_rank(node, &lr));
    MS_MPI_CHECK(MPI_Comm_size(node, &ls));
    cpu_set_t mine, pool, on;
    CPU_ZERO(&mine);
    if (sched_getaffinity(0, sizeof mine, &mine) != 0) online_cpus(&mine);
    cpu_set_t *all = malloc(sizeof(cpu_set_t) * (size_t)ls);
    if (!all) ms_fatal("out of memory");
    MS_MPI_CHECK(
        MPI_Allgather(&mine, (int)sizeof mine, MPI_BYTE, all, (int)sizeof mine, MPI_BYTE, node));
    CPU_ZERO(&pool);
    int singles = 1;
    for (int i = 0; i < ls; i++) {
        CPU_OR(&pool, &pool, &all[i]);
        singles &= CPU_COUNT(&all[i]) == 1;
    }
    free(all);
    online_cpus(&on);
    int node_cores = CPU_COUNT(&pool);
    const char *sl = getenv("SLURM_CPUS_ON_NODE");
    const char *early = getenv("MODSWEEP_CPUS_FROM");
    if (sl && atoi(sl) > 0)
        node_cores = atoi(sl);
    else if ((singles || early) && CPU_COUNT(&on) > node_cores)
        node_cores = CPU_COUNT(&on);
    int threads = opt > 0 ? opt : grid > 0 ? grid : node_cores / ls;
    if (threads < 1) threads = 1;

    int need = CPU_COUNT(&mine) < threads, any_need = 0;
    MS_MPI_CHECK(MPI_Allreduce(&need, &any_need, 1, MPI_INT, MPI_MAX, node));
    char from[256] = "";
    if (any_need) {
        if (CPU_COUNT(&pool) < ls * threads) pool = on;
        int cpus[CPU_SETSIZE], P = 0;
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &pool)) cpus[P++] = c;
        cpu_set_t set;
        CPU_ZERO(&set);
        for (int j = 0; j < threads && j < P; j++)
            CPU_SET(cpus[(lr * threads + j) % P], &set);
        cpu_list(&mine, from, sizeof from);
        if (sched_setaffinity(0, sizeof set, &set) != 0)
            ms_warning("cannot widen the CPU mask (%s) to %d threads: %s", from, threads,
                       strerror(errno));
        else if (need)
            ms_warning("rank %d: CPU mask widened from %s after start, so OpenMP's threads "
                       "will wait slowly; launch with `mpirun --bind-to none` or "
                       "`--map-by slot:PE=%d`",
                       rank, from, threads);
    } else if (early) {
        snprintf(from, sizeof from, "%s before start", early);
    }
    MS_MPI_CHECK(MPI_Comm_free(&node));

    /* Start OpenMP's threads now (they inherit the mask) and report where they may run. */
    ms_kernels_set_threads(threads);
    cpu_set_t used;
    CPU_ZERO(&used);
    int narrowest = CPU_SETSIZE; /* the fewest CPUs any of the threads may use */
#pragma omp parallel num_threads(threads)
    {
        cpu_set_t t;
        CPU_ZERO(&t);
        if (sched_getaffinity(0, sizeof t, &t) == 0) {
#pragma omp critical
            {
                CPU_OR(&used, &used, &t);
                if (CPU_COUNT(&t) < narrowest) narrowest = CPU_COUNT(&t);
            }
        }
    }
    char line[256], list[200], host[64] = "";
    gethostname(host, sizeof host - 1);
    cpu_list(&used, list, sizeof list);
    snprintf(line, sizeof line, "rank %d on %s: %d threads on cpus %s%s%s", rank, host, threads,
             list, from[0] ? " (widened from " : "", from[0] ? from : "");
    if (from[0]) snprintf(line + strlen(line), sizeof line - strlen(line), ")");
    /* What the results depend on in this node (isa.h, machine.h). */
    snprintf(line + strlen(line), sizeof line - strlen(line), "; kernel path %s, OpenBLAS core %s",
             ms_isa_name(ms_isa_current()), ms_blas_core());
    int size;
    MS_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size));
    char *lines = rank == 0 ? malloc(sizeof line * (size_t)size) : NULL;
    MS_MPI_CHECK(MPI_Gather(line, (int)sizeof line, MPI_CHAR, lines, (int)sizeof line, MPI_CHAR, 0,
                            MPI_COMM_WORLD));
    int few = CPU_COUNT(&used) < threads || narrowest < threads;
    int *fews = rank == 0 ? malloc(sizeof(int) * (size_t)size) : NULL;
    MS_MPI_CHECK(MPI_Gather(&few, 1, MPI_INT, fews, 1, MPI_INT, 0, MPI_COMM_WORLD));
    if (rank == 0) {
        for (int r = 0; r < size; r++) {
            if (fews[r])
                ms_warning("%s: fewer cpus than threads, so threads share cores",
                           lines + sizeof line * (size_t)r);
            else if (!quiet)
                ms_debug("%s", lines + sizeof line * (size_t)r);
        }
        free(lines);
        free(fews);
    }
    return threads;
}

void ms__sweep_settings_diff(const char *a, const char *b, char *buf, size_t n, int max) {
    size_t off = 0;
    int shown = 0;
    buf[0] = 0;
    while (*a && *b && shown < max && off + 1 < n) {
        const char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        size_t la = ea ? (size_t)(ea - a) : strlen(a), lb = eb ? (size_t)(eb - b) : strlen(b);
        if (la != lb || memcmp(a, b, la) != 0) {
            off += (size_t)snprintf(buf + off, n - off, "\n  file: %.*s\n  grid: %.*s",
                                    (int)(la > 120 ? 120 : la), a, (int)(lb > 120 ? 120 : lb), b);
            shown++;
        }
        a += la + (ea ? 1 : 0);
        b += lb + (eb ? 1 : 0);
    }
}

/* --restart: builds the new file beside the old one and renames it over it;
 * says what it replaced (even with -q), or that the old file is unchanged. */
static int replace_results(ms_results_t **res, const ms_grid_t *g, const ms_dims_t *dims,
                           const char *data_files, const char *what, MPI_Comm comm) {
    int rank;
    MS_MPI_CHECK(MPI_Comm_rank(comm, &rank));
    int rc = ms_results_create_ex(res, g->output, comm, g, dims, data_files, 1);
    if (rc) return ms_err_wrap(rc, "--restart: %s is unchanged: ", g->output);
    if (rank == 0) fprintf(stderr, "modsweep: --restart: replaced %s (%s)\n", g->output, what);
    return 0;
}

/* Opens the results file to resume it, or creates it. Collective; rank 0
 * holds the file's lock (ms_safety_claim).
 *
 * A file is resumed when it was made by the same settings: its results_hash
 * (every setting except the [sweep] keys that only say how the sweep runs:
 * name, output, retries, team, threads) equals the grid's, its dimensions
 * equal those of the data now loaded, and its data fingerprint (data_files:
 * the size and crc32 of every data file) equals the data's now. Otherwise it
 * is refused (naming what differs), or replaced under --restart. --restart
 * replaces only a modsweep results file (anything else needs --force too),
 * by renaming the complete new file over it: until then it is untouched. */
static int open_results(ms_results_t **res, const ms_grid_t *g, const ms_dims_t *dims,
                        const ms_run_opts_t *o, const char *data_files, MPI_Comm comm) {
    const int restart = o->restart, quiet = o->quiet;
    int rank;
    MS_MPI_CHECK(MPI_Comm_rank(comm, &rank));
    /* Rank 0 looks at what is there: 0 resume or refuse below, 1 create,
     * 2 replace (--restart), -1 refused (its message is set). */
    enum { ACT_OPEN = 0, ACT_CREATE = 1, ACT_REPLACE = 2, ACT_REFUSE = -1 };
    int act = ACT_OPEN;
    char what[768] = "";
    if (rank == 0) {
        ms_ident_t id;
        ms_results_identify(g->output, &id);
        ms_ident_describe(&id, what, sizeof what);
        if (id.kind == MS_ID_NONE) {
            act = ACT_CREATE;
        } else if (id.kind != MS_ID_RESULTS && restart) {
            if (o->force) {
                act = ACT_REPLACE;
            } else {
                act = ACT_REFUSE;
                ms_err_set(MS_EMISMATCH,
                           "%s is not a modsweep results file (%s); --restart replaces only a "
                           "results file: move it away, or add --force to replace it",
                           g->output, id.why);
            }
        } else if (id.kind == MS_ID_RESULTS && id.results_hash == g->results_hash &&
                   id.has_data_files && data_files &&
                   ms_data_fingerprint_compare(id.data_files, data_files, g->output,
                                               g->base.data.dir) != 0) {
            act = restart ? ACT_REPLACE : ACT_REFUSE;
            if (restart) ms_err_clear();
        }
    }
    MS_MPI_CHECK(MPI_Bcast(&act, 1, MPI_INT, 0, comm));
    if (act == ACT_REFUSE)
        return rank == 0 ? MS_EMISMATCH : ms_err_set(MS_EMISMATCH, "refused on rank 0");
    if (act == ACT_CREATE)
        return ms_results_create_ex(res, g->output, comm, g, dims, data_files, 0);
    if (act == ACT_REPLACE) return replace_results(res, g, dims, data_files, what, comm);
    int rc = ms_results_open(res, g->output, comm, 1);
    int same = 0, same_dims = 0;
    char diff[1024] = "";
    if (rc == 0) {
        same = ms_results_results_hash(*res) == g->results_hash;
        const ms_dims_t *fd = ms_results_dims(*res);
        same_dims = fd->M == dims->M && fd->L == dims->L && fd->S == dims->S && fd->E == dims->E &&
                    fd->P == dims->P && fd->NW == dims->NW && fd->NFC == dims->NFC &&
                    fd->NC == dims->NC && fd->NK == dims->NK && fd->NU == dims->NU;
        if (!same)
            ms__sweep_settings_diff(ms_results_grid_resolved(*res), g->resolved, diff, sizeof diff,
                                    4);
    }
    if (rc == 0 && same && same_dims) {
        if (rank == 0 && !quiet)
            ms_message("resuming %s%s", g->output,
                       ms_results_grid_hash(*res) == g->hash
                           ? ""
                           : " (only [sweep] settings that do not change results differ)");
        return 0;
    }
    if (rc == 0) ms_results_close(*res);
    *res = NULL;
    if (!restart) {
        if (rc == 0 && !same)
            return ms_err_set(MS_EMISMATCH,
                              "%s was made by a different grid (settings differ from %s); "
                              "use another output file, or --restart to replace it:%s",
                              g->output, g->path, diff);
        if (rc == 0)
            return ms_err_set(MS_EMISMATCH,
                              "%s was made with other data (the number of training images "
                              "differs); use another output file, or --restart to replace it",
                              g->output);
        return ms_err_wrap(rc, "cannot resume: ");
    }
    return replace_results(res, g, dims, data_files, what, comm);
}

/* Prints what the sweep found: one line per model (rank 0). */
static void print_summary(ms_results_t *res, const ms_grid_t *g) {
    const ms_dims_t *d = ms_results_dims(res);
    const long shown = d->M <= 20 ? d->M : 16;
    for (long m = 0; m < shown; m++) {
        int st = 0;
        char reason[MS_STR_LEN];
        double acc = NAN;
        ms_results_get_status(res, MS_TASK_TRAIN, m, -1, &st, NULL, reason);
        ms_results_read(res, "models/test_acc", m, -1, &acc);
        ms_task_t task; /* the model's train task: its settings */
        ms_task_make(g, MS_TASK_TRAIN, (int)m, -1, &task);
        const ms_settings_t s = task.s;
        if (st == MS_ST_DONE)
            printf("model %ld (seed %llu, lambda %g, k %d): test accuracy %.4f\n", m,
                   (unsigned long long)s.seed, s.lambda, s.k, acc);
        else
            printf("model %ld (seed %llu, lambda %g, k %d): %s%s\n", m, (unsigned long long)s.seed,
                   s.lambda, s.k, st == MS_ST_FAILED ? "FAILED: " : "not trained",
                   st == MS_ST_FAILED ? reason : "");
    }
    if (shown < d->M)
        printf("... and %ld more models (modsweep status %s)\n", d->M - shown,
               ms_results_path(res));
}

int ms_sweep_run(const ms_run_opts_t *o) {
    int rank, size;
    MS_MPI_CHECK(MPI_Comm_rank(MPI_COMM_WORLD, &rank));
    MS_MPI_CHECK(MPI_Comm_size(MPI_COMM_WORLD, &size));
    ms_sched_install_signals();
    ms_grid_t g;
    int rc = load_grid(&g, o->grid_path, MPI_COMM_WORLD);
    if (rc) {
        if (rank == 0) fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        return MS_EXIT_ERROR;
    }
    /* Everything below is released at `out`; each is safe to free unused. */
    int status = MS_EXIT_ERROR, use_gpu = 0, bad, any;
    ms_split_t train = {0}, test = {0};
    ms_gpu_split_t gpu_train = {0}, gpu_test = {0};
    ms_results_t *res = NULL;
    ms_ctx_t ctx = {0};

    apply_overrides(&g, o);
    /* The output path and its lock, before any work (rank 0 holds the lock
     * until the results file is closed). */
    rc = ms_safety_claim(g.output, sizeof g.output, o->break_lock, MPI_COMM_WORLD);
    if (rc) goto fail;
    int threads = setup_cores(o->threads, g.threads, o->quiet);

    /* device = cpu|cuda|auto: the same answer on every rank, an error (before
     * any output) when cuda cannot be had. */
    if (rank == 0 && g.device_note[0] && !o->quiet) ms_message("%s", g.device_note);
    rc = ms_device_resolve(g.device_note[0] ? MS_DEV_CPU : g.device, MPI_COMM_WORLD, &use_gpu);
    if (rc) goto fail;
    if (use_gpu && !o->quiet) {
        char gpu[128];
        ms_gpu_describe(gpu, sizeof gpu, NULL);
        ms_message("computing on GPU %d (%s)", ms_gpu_device(), gpu);
    }

    /* The data, on every rank (each trains and evaluates on its own copy);
     * dataset = planted: rank 0 writes or checks the generated files first. */
    rc = rank == 0 ? ms_planted_prepare(&g) : 0;
    MS_MPI_CHECK(MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD));
    if (rc) goto fail;
    /* A rank that fails to load the data says so itself. */
    rc = ms_data_load(&g.base.data, &train, &test);
    bad = rc != 0;
    MS_MPI_CHECK(MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    if (any) goto fail_per_rank;
    /* The checks --dry-run makes too (every rank has the same data). */
    rc = check_inputs(&g, &train, &test); /* the output path: ms_safety_claim above */
    if (rc) goto fail;

    /* GPU ranks keep both splits in GPU memory for the whole sweep. */
    if (use_gpu) {
        rc = ms_gpu_split_upload(&gpu_train, &train);
        if (!rc) rc = ms_gpu_split_upload(&gpu_test, &test);
        bad = rc != 0;
        MS_MPI_CHECK(MPI_Allreduce(&bad, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
        if (any) goto fail_per_rank;
    }

    ms_dims_t dims;
    ms_dims_init(&dims, &g, train.n);
    /* The data's fingerprint (rank 0 reads the files once more), for every rank. */
    static char fingerprint[2048];
    rc = rank == 0 ? ms_data_fingerprint(&g.base.data, fingerprint, sizeof fingerprint) : 0;
    MS_MPI_CHECK(MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD));
    MS_MPI_CHECK(MPI_Bcast(fingerprint, (int)sizeof fingerprint, MPI_CHAR, 0, MPI_COMM_WORLD));
    if (rc) goto fail;
    rc = open_results(&res, &g, &dims, o, fingerprint, MPI_COMM_WORLD);
    if (rc) goto fail;
    if (o->retry_failed) {
        /* Failed tasks back to pending before the scheduler reads the statuses. */
        long n[3] = {0, 0, 0};
        if (rank == 0) rc = ms_results_retry_failed(res, n);
        MS_MPI_CHECK(MPI_Bcast(&rc, 1, MPI_INT, 0, MPI_COMM_WORLD));
        if (rc) goto fail;
        if (rank == 0)
            fprintf(stderr,
                    "modsweep: --retry-failed: %ld failed tasks of %s set back to pending "
                    "(%ld train, %ld analyse, %ld prune)\n",
                    n[0] + n[1] + n[2], g.output, n[0], n[1], n[2]);
    }
    if (rank == 0 && !o->quiet)
        ms_message("modsweep %s: %s, %d models x %d labels, %d ranks x %d threads, results %s",
                   MS_VERSION, g.path, g.n_models, g.n_labels, size, threads, g.output);

    ctx = (ms_ctx_t){.g = &g,
                     .res = res,
                     .train = &train,
                     .test = &test,
                     .rank = rank,
                     .threads = threads,
                     .verbose = !o->quiet,
                     .use_gpu = use_gpu,
                     .gpu_train = &gpu_train,
                     .gpu_test = &gpu_test};
    gethostname(ctx.host, sizeof ctx.host - 1);
    ms_sched_opts_t so = {.quiet = o->quiet,
                          .team = g.team,
                          .dedicated_coordinator = o->dedicated_coordinator,
                          .thread_multiple = o->thread_multiple};
    status = ms_sched_run(&ctx, &so);
    if (status == MS_EXIT_OK && rank == 0 && !o->quiet) print_summary(res, &g);
    rc = ms_results_close(res);
    res = NULL;
    if (rc && status == MS_EXIT_OK) {
        status = MS_EXIT_ERROR;
        goto fail;
    }
    goto out;

fail_per_rank:
    if (rc) fprintf(stderr, "modsweep: [rank %d] %s\n", rank, ms_err_msg());
    goto out;
fail:
    if (rank == 0) fprintf(stderr, "modsweep: %s\n", ms_err_msg());
out:
    ms_results_close(res);
    ms_gpu_team_free(ctx.gpu_team);
    ms_gpu_split_free(&gpu_train);
    ms_gpu_split_free(&gpu_test);
    ms_gpu_release();
    ms_split_free(&train);
    ms_split_free(&test);
    ms_grid_free(&g);
    ms_lock_release(); /* after the file is closed */
    return status;
}

int ms_sweep_dry_run(const char *grid_path, FILE *out) {
    ms_run_opts_t o = {.grid_path = grid_path, .retries = -1};
    return ms_sweep_dry_run_opts(&o, out);
}

int ms_sweep_dry_run_opts(const ms_run_opts_t *o, FILE *out) {
    ms_grid_t g;
    if (ms_grid_load(&g, o->grid_path) != 0) {
        fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        return MS_EXIT_ERROR;
    }
    apply_overrides(&g, o);
    ms_grid_print_plan(&g, out);
    if (g.device_note[0]) fprintf(out, "%s\n", g.device_note);
    /* What the run checks before its work starts, in the same functions. */
    ms_split_t train = {0}, test = {0};
    int rc = ms_planted_prepare(&g); /* dataset = planted: the generated files */
    if (!rc) rc = ms_data_load(&g.base.data, &train, &test);
    if (!rc)
        fprintf(out, "check: data in %s: %d training and %d test images of %dx%dx%d\n",
                g.base.data.dir, train.n, test.n, train.c, train.h, train.w);
    if (!rc) rc = check_inputs(&g, &train, &test);
    if (!rc)
        fprintf(out, "check: the network's input shape and every pruned label's test images\n");
    char real[MS_PATH_MAX];
    if (!rc) rc = ms_safety_check_output(g.output, real, sizeof real);
    if (!rc) fprintf(out, "check: a results file can be made in %s's folder\n", g.output);
    if (rc) fprintf(stderr, "modsweep: %s\n", ms_err_msg());
    ms_split_free(&train);
    ms_split_free(&test);
    ms_grid_free(&g);
    return rc ? MS_EXIT_ERROR : MS_EXIT_OK;
}

/* Mean of the finite entries of x[i] whose status st[i] is done; NAN if none. */
static double mean_done(const double *x, const int8_t *st, long n, long *count) {
    double sum = 0;
    long k = 0;
    for (long i = 0; i < n; i++)
        if (st[i] == MS_ST_DONE && isfinite(x[i])) sum += x[i], k++;
    *count = k;
    return k ? sum / (double)k : NAN;
}

int ms_sweep_status(const char *results_path, FILE *out) {
    ms_results_t *res = NULL;
    if (ms_results_open(&res, results_path, MPI_COMM_SELF, 0) != 0) {
        fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        return MS_EXIT_ERROR;
    }
    const ms_dims_t *d = ms_results_dims(res);
    const long M = d->M, L = d->L;
    /* Every task in task order (tasks.h); st[k], att[k], secs[k] are kind k's part. */
    const size_t T = (size_t)ms_task_count(M, L);
    int8_t *st_all = calloc(T + 1, 1);
    int32_t *att_all = calloc(T + 1, sizeof(int32_t));
    double *secs_all = calloc(T + 1, sizeof(double));
    long n[3], off[3];
    int8_t *st[3];
    int32_t *att[3];
    double *secs[3];
    for (int k = 0; k < 3; k++) {
        n[k] = ms_task_kind_count(k, M, L), off[k] = ms_task_first(k, M);
        st[k] = st_all + off[k], att[k] = att_all + off[k], secs[k] = secs_all + off[k];
    }
    static const char *time_col[] = {"models/time_train", "models/time_analyse", "labels/time"};
    int rc = !st_all || !att_all || !secs_all ? ms_err_set(MS_ENOMEM, "out of memory") : 0;
    if (!rc) rc = ms_results_all_tasks(res, st_all, att_all);
    for (int k = 0; k < 3 && !rc; k++)
        if (n[k] > 0) rc = ms_results_read_all(res, time_col[k], secs[k]);
    if (rc) {
        fprintf(stderr, "modsweep: %s\n", ms_err_msg());
    } else {
        static const char *names[] = {"train", "analyse", "prune"};
        /* The grid text stored in the file, for the label values of prune
         * tasks (their label index where it cannot be parsed). */
        ms_grid_t g;
        const int have_grid = ms_grid_parse(&g, results_path, ms_results_grid_text(res)) == 0;
        ms_err_clear();
        fprintf(out, "%s\n", results_path);
        long cnt[3][3] = {{0}}, retrying[3] = {0};
        double mean[3];
        long timed[3];
        for (int k = 0; k < 3; k++) {
            for (long i = 0; i < n[k]; i++) {
                cnt[k][st[k][i] >= 0 && st[k][i] < 3 ? st[k][i] : 0]++;
                if (st[k][i] == MS_ST_PENDING && att[k][i] > 0) retrying[k]++;
            }
            mean[k] = mean_done(secs[k], st[k], n[k], &timed[k]);
            fprintf(out, "  %-8s %6ld done  %6ld failed  %6ld pending  (of %ld)", names[k],
                    cnt[k][MS_ST_DONE], cnt[k][MS_ST_FAILED], cnt[k][MS_ST_PENDING], n[k]);
            if (retrying[k]) fprintf(out, ", %ld pending after failed attempts", retrying[k]);
            if (timed[k]) fprintf(out, "; %.2f s per task", mean[k]);
            fprintf(out, "\n");
        }
        /* Failed tasks and the last reason of tasks that will be retried. */
        char reason[MS_STR_LEN];
        int shown = 0, more = 0;
        for (int k = 0; k < 3; k++)
            for (long i = 0; i < n[k]; i++) {
                int failed = st[k][i] == MS_ST_FAILED;
                if (!failed && !(st[k][i] == MS_ST_PENDING && att[k][i] > 0)) continue;
                if (shown == 20) {
                    more++;
                    continue;
                }
                int kind;
                long m, li;
                ms_task_of(M, L, off[k] + i, &kind, &m, &li);
                ms_results_get_status(res, kind, m, li, NULL, NULL, reason);
                ms_task_t task = {.label = (int)li}; /* the label index without the grid */
                if (kind == MS_TASK_PRUNE && have_grid &&
                    ms_task_make(&g, kind, (int)m, (int)li, &task))
                    ms_err_clear();
                if (kind == MS_TASK_PRUNE)
                    fprintf(out, "  %s prune of model %ld label %d: %s\n",
                            failed ? "failed" : "retrying", m, task.label, reason);
                else
                    fprintf(out, "  %s %s of model %ld: %s\n", failed ? "failed" : "retrying",
                            names[k], m, reason);
                shown++;
            }
        if (more) fprintf(out, "  ... and %d more failed or retried tasks\n", more);
        /* Tasks that ran on different kernel paths or BLAS cores (machine.h). */
        if (ms_machine_status(res, st_all, out)) {
            fprintf(out, "  (cannot read the machine columns: %s)\n", ms_err_msg());
            ms_err_clear();
        }
        /* ETA: each kind's pending tasks at that kind's own mean time; a kind
         * none of whose tasks has finished yet is costed by the plan's
         * estimate where the plan has one (training), else left out and
         * named, so the total is a lower bound. */
        long pending = cnt[0][0] + cnt[1][0] + cnt[2][0];
        double work = 0, plan_train = NAN;
        int unknown = 0;
        char parts[512] = "";
        size_t plen = 0;
        if (cnt[0][0] && !timed[0] && d->E > 0 && have_grid) {
            /* The training images: steps per epoch x batch (at most that many). */
            plan_train = ms_grid_train_estimate(&g, d->S / d->E * g.base.batch);
        }
        if (have_grid) ms_grid_free(&g);
        ms_err_clear();
        for (int k = 0; k < 3; k++) {
            if (!cnt[k][0]) continue;
            const char *sep = plen ? "; " : "";
            if (timed[k]) {
                work += (double)cnt[k][0] * mean[k];
                plen += (size_t)snprintf(parts + plen, sizeof parts - plen,
                                         "%s%s %ld x %.3g s (their mean so far)", sep, names[k],
                                         cnt[k][0], mean[k]);
            } else if (k == 0 && isfinite(plan_train)) {
                work += (double)cnt[k][0] * plan_train;
                plen += (size_t)snprintf(parts + plen, sizeof parts - plen,
                                         "%s%s %ld x %.3g s (the plan's rough estimate)", sep,
                                         names[k], cnt[k][0], plan_train);
            } else {
                unknown = 1;
                plen += (size_t)snprintf(parts + plen, sizeof parts - plen,
                                         "%s%s %ld not costed (none finished yet)", sep, names[k],
                                         cnt[k][0]);
            }
            if (plen >= sizeof parts) plen = sizeof parts - 1;
        }
        long failed = cnt[0][MS_ST_FAILED] + cnt[1][MS_ST_FAILED] + cnt[2][MS_ST_FAILED];
        if (pending == 0 && failed == 0)
            fprintf(out, "  complete\n");
        else if (pending == 0)
            fprintf(out,
                    "  complete (%ld tasks failed for good; the sweep's command with "
                    "--retry-failed runs them again)\n",
                    failed);
        else if (work > 0)
            fprintf(out,
                    "  %ld tasks pending: %s %.1f s of work for one rank (divide by the ranks "
                    "that resume it): %s\n",
                    pending, unknown ? "at least" : "about", work, parts);
        else
            fprintf(out, "  %ld tasks pending: no finished task yet to estimate from: %s\n",
                    pending, parts);
    }
    free(st_all);
    free(att_all);
    free(secs_all);
    int crc = ms_results_close(res);
    if (!rc && crc) fprintf(stderr, "modsweep: %s\n", ms_err_msg());
    return rc || crc ? MS_EXIT_ERROR : MS_EXIT_OK;
}
