/* Results-file safety (safety.h): the output path, the lock file, what an
 * existing file is, the data fingerprint, retrying failed tasks and the
 * exit status of `modsweep status --check`. See docs/data-safety.md. */
#include "modsweep/safety.h"
#include "modsweep/error.h"
#include "modsweep/sweep.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "tasks.h"

/* ---- the output path -------------------------------------------------------- */

/* The folder of path ("." when it has none) into dir (n bytes). */
static void folder_of(const char *path, char *dir, size_t n) {
    snprintf(dir, n, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        snprintf(dir, n, ".");
    else if (slash == dir)
        dir[1] = 0;
    else
        *slash = 0;
}

int ms_safety_check_output(const char *path, char *real, size_t n) {
    snprintf(real, n, "%s", path);
    if (!path[0]) return ms_err_set(MS_EIO, "the results file name is empty");
    if (path[strlen(path) - 1] == '/')
        return ms_err_set(MS_EIO,
                          "%s: the results path names a folder; give a file name (for "
                          "example %sresults.h5)",
                          path, path);
    struct stat st;
    if (lstat(path, &st) == 0) {
        if (S_ISLNK(st.st_mode)) {
            char target[PATH_MAX];
            if (stat(path, &st) != 0)
                return ms_err_set(MS_EIO,
                                  "%s: a symbolic link to a missing file; give the real path of "
                                  "the results file",
                                  path);
            if (S_ISREG(st.st_mode)) {
                /* Followed only to a results file (its lock and .part go beside it). */
                if (!realpath(path, target))
                    return ms_err_set(MS_EIO, "%s: cannot resolve the symbolic link: %s", path,
                                      strerror(errno));
                if (strlen(target) >= n)
                    return ms_err_set(MS_EIO, "%s: the link's target path is too long", path);
                ms_ident_t id;
                ms_results_identify(target, &id);
                if (id.kind != MS_ID_RESULTS)
                    return ms_err_set(MS_EIO,
                                      "%s is a symbolic link to %s, which is not a modsweep "
                                      "results file (%s); give the real path of a results file",
                                      path, target, id.why);
                snprintf(real, n, "%s", target); /* work on the file the link names */
            }
        }
        if (S_ISDIR(st.st_mode))
            return ms_err_set(MS_EIO,
                              "%s is a folder, not a results file; give a file name (for "
                              "example %s/results.h5)",
                              path, path);
        if (!S_ISREG(st.st_mode))
            return ms_err_set(MS_EIO,
                              "%s is %s, not a results file; modsweep writes results only to a "
                              "regular file",
                              path,
                              S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                              : S_ISFIFO(st.st_mode)                     ? "a pipe"
                              : S_ISSOCK(st.st_mode)                     ? "a socket"
                                                                         : "not a regular file");
    } else if (errno != ENOENT) {
        return ms_err_set(MS_EIO, "%s: cannot look at the results path: %s", path, strerror(errno));
    }
    char dir[PATH_MAX];
    folder_of(real, dir, sizeof dir);
    if (stat(dir, &st) != 0) {
        if (errno == ENOENT || errno == ENOTDIR)
            return ms_err_set(MS_EIO,
                              "%s: the folder %s does not exist; create it first (mkdir -p %s)",
                              path, dir, dir);
        return ms_err_set(MS_EIO, "%s: cannot reach the folder %s: %s", path, dir, strerror(errno));
    }
    if (!S_ISDIR(st.st_mode)) return ms_err_set(MS_EIO, "%s: %s is not a folder", path, dir);
    if (access(dir, W_OK | X_OK) != 0) {
        if (errno == EROFS)
            return ms_err_set(MS_EIO,
                              "%s: the folder %s is on a read-only file system; write the "
                              "results to a writable one (copy a results file there to resume "
                              "it, or read it with `modsweep status`)",
                              path, dir);
        return ms_err_set(MS_EIO,
                          "%s: the folder %s is not writable (modsweep makes the results file, "
                          "its .part and its .lock there): %s",
                          path, dir, strerror(errno));
    }
    return 0;
}

/* ---- the lock ---------------------------------------------------------------------- */

typedef struct lock_info {
    char host[256], start[64], job[64], boot[64];
    long pid, restart;
    unsigned long long pid_start;
} lock_info_t;

static char lock_path[PATH_MAX + 8]; /* the lock this process holds ("" when none) */
static char lock_text[2048];         /* what it wrote into it */
static volatile sig_atomic_t lock_held = 0;

/* This boot's identity (Linux), so a lock from before a reboot is stale. */
static void boot_id(char *buf, size_t n) {
    buf[0] = 0;
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (!f) return;
    if (fgets(buf, (int)n, f)) buf[strcspn(buf, "\n")] = 0;
    fclose(f);
}

/* The start time (clock ticks after boot, field 22 of /proc/PID/stat) of
 * process pid; 0 when unknown. Tells a live holder from a reused pid. */
static unsigned long long proc_start(long pid) {
    char p[64], buf[1024];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f) return 0;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = 0;
    char *e = strrchr(buf, ')'); /* the command name may hold spaces */
    if (!e) return 0;
    unsigned long long v = 0;
    char *s = e + 2;
    for (int field = 3; field < 22 && s; field++) {
        s = strchr(s, ' ');
        if (s) s++;
    }
    if (s) v = strtoull(s, NULL, 10);
    return v;
}

/* Whether process pid runs on this host (a zombie, dead but not yet
 * reaped, does not). */
static int proc_alive(long pid) {
    if (kill((pid_t)pid, 0) != 0 && errno != EPERM) return 0;
    char p[64], buf[512];
    snprintf(p, sizeof p, "/proc/%ld/stat", pid);
    FILE *f = fopen(p, "r");
    if (!f) return 1;
    size_t got = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[got] = 0;
    const char *e = strrchr(buf, ')');
    return !(e && e[1] == ' ' && (e[2] == 'Z' || e[2] == 'X'));
}

static void lock_fill_text(char *buf, size_t n) {
    char host[256] = "", start[64], boot[64];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(start, sizeof start, "%Y-%m-%dT%H:%M:%SZ", &tm);
    boot_id(boot, sizeof boot);
    const char *job = getenv("SLURM_JOB_ID"), *rs = getenv("SLURM_RESTART_COUNT");
    snprintf(buf, n,
             "modsweep results-file lock: a sweep is writing the results file beside it\n"
             "host=%s\npid=%ld\nstart=%s\njob=%s\nrestart=%s\nboot_id=%s\npid_start=%llu\n",
             host, (long)getpid(), start, job && *job ? job : "-", rs && *rs ? rs : "0", boot,
             proc_start((long)getpid()));
}

static void field(const char *text, const char *key, char *out, size_t n) {
    out[0] = 0;
    size_t kl = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, key, kl) && p[kl] == '=') {
            size_t l = strcspn(p + kl + 1, "\n");
            snprintf(out, n, "%.*s", (int)(l < n ? l : n - 1), p + kl + 1);
            return;
        }
}

/* Parses a lock's text; 0 when it names at least a host and a pid. */
static int lock_parse(const char *text, lock_info_t *li) {
    char v[64];
    memset(li, 0, sizeof *li);
    field(text, "host", li->host, sizeof li->host);
    field(text, "start", li->start, sizeof li->start);
    field(text, "job", li->job, sizeof li->job);
    field(text, "boot_id", li->boot, sizeof li->boot);
    field(text, "pid", v, sizeof v);
    li->pid = atol(v);
    field(text, "restart", v, sizeof v);
    li->restart = atol(v);
    field(text, "pid_start", v, sizeof v);
    li->pid_start = strtoull(v, NULL, 10);
    return li->host[0] && li->pid > 0 ? 0 : -1;
}

/* Reads the lock file into buf; the length, or -1 when there is none. */
static long lock_read(const char *path, char *buf, size_t n) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    ssize_t got = read(fd, buf, n - 1);
    close(fd);
    buf[got > 0 ? got : 0] = 0;
    return got > 0 ? got : 0;
}

static void holder_text(const lock_info_t *li, char *buf, size_t n) {
    snprintf(buf, n, "host %s, pid %ld%s%s%s, started %s", li->host, li->pid,
             strcmp(li->job, "-") && li->job[0] ? ", Slurm job " : "",
             strcmp(li->job, "-") && li->job[0] ? li->job : "",
             li->restart > 0 && strcmp(li->job, "-") ? " (requeued run)" : "",
             li->start[0] ? li->start : "at an unknown time");
}

/* Asks squeue whether Slurm job `job` is still known: 1 it is (state in
 * state), 0 it is not (finished and gone), -1 no answer (no squeue, error,
 * more than 30 s). */
static int squeue_state(const char *job, char *state, size_t n) {
    state[0] = 0;
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        dup2(fds[1], 1);
        dup2(fds[1], 2);
        close(fds[0]);
        execlp("squeue", "squeue", "-h", "-j", job, "-o", "%T", (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char out[512] = "";
    size_t got = 0;
    int st = 0;
    double waited = 0;
    pid_t w;
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    const struct timespec nap = {0, 20000000};
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && waited < 30) {
        ssize_t r = read(fds[0], out + got, sizeof out - 1 - got);
        if (r > 0) got += (size_t)r;
        nanosleep(&nap, NULL);
        waited += 0.02;
    }
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        close(fds[0]);
        return -1;
    }
    ssize_t r;
    while (got < sizeof out - 1 && (r = read(fds[0], out + got, sizeof out - 1 - got)) > 0)
        got += (size_t)r;
    close(fds[0]);
    out[got] = 0;
    out[strcspn(out, "\n")] = 0;
    if (!WIFEXITED(st) || WEXITSTATUS(st) == 127) return -1;
    if (WEXITSTATUS(st) == 0 && out[0]) {
        snprintf(state, n, "%s", out);
        return 1;
    }
    /* squeue says "Invalid job id specified" (exit 1) for a job it no longer knows. */
    if ((WEXITSTATUS(st) == 0 && !out[0]) || strstr(out, "Invalid job id")) return 0;
    return -1;
}

static void on_sigint(int sig) {
    if (lock_held) unlink(lock_path);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void release_at_exit(void) {
    ms_lock_release();
}

void ms_lock_release(void) {
    if (!lock_held) return;
    /* Remove only our own lock (someone may have broken it with --break-lock). */
    char buf[2048];
    if (lock_read(lock_path, buf, sizeof buf) >= 0 && !strcmp(buf, lock_text)) unlink(lock_path);
    lock_held = 0;
}

void ms_lock_describe(const char *results, FILE *out) {
    char path[PATH_MAX + 8], buf[2048], who[512];
    snprintf(path, sizeof path, "%s.lock", results);
    lock_info_t li;
    if (lock_read(path, buf, sizeof buf) < 0 || lock_parse(buf, &li) != 0) return;
    holder_text(&li, who, sizeof who);
    fprintf(out, "  in use by a sweep: %s (lock file %s)\n", who, path);
}

/* Takes the stale lock at path whose text was `seen`: only when it still
 * holds exactly that text, and one process at a time (the ".break" file). */
static int take_over(const char *path, const char *seen) {
    char brk[PATH_MAX + 16], buf[2048];
    snprintf(brk, sizeof brk, "%s.break", path);
    int fd = open(brk, O_WRONLY | O_CREAT | O_EXCL, 0644);
    if (fd < 0) {
        struct stat st;
        /* A breaker that died while breaking: its file is old. */
        if (errno == EEXIST && stat(brk, &st) == 0 && time(NULL) - st.st_mtime > 30) unlink(brk);
        return -1;
    }
    close(fd);
    int ok = lock_read(path, buf, sizeof buf) >= 0 && !strcmp(buf, seen) && unlink(path) == 0;
    unlink(brk);
    return ok ? 0 : -1;
}

int ms_lock_take(const char *results, int break_lock) {
    char path[PATH_MAX + 8];
    if (snprintf(path, sizeof path, "%s.lock", results) >= (int)sizeof path)
        return ms_err_set(MS_EIO, "%s: path too long", results);
    char mine[2048];
    lock_fill_text(mine, sizeof mine);
    lock_info_t me;
    lock_parse(mine, &me);
    for (int attempt = 0; attempt < 50; attempt++) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
        if (fd >= 0) {
            size_t len = strlen(mine);
            int e = 0;
            if (write(fd, mine, len) != (ssize_t)len) e = errno ? errno : ENOSPC;
            if (!e && fsync(fd) != 0 && errno != EINVAL) e = errno;
            if (close(fd) != 0 && !e) e = errno;
            int bad = e != 0;
            if (bad && (e == ENOSPC || e == EDQUOT)) {
                /* A full disk: the empty lock file still excludes others
                 * (they are told it is empty); the sweep may still resume
                 * a file allocated in full. */
                if (truncate(path, 0) != 0) { /* nothing more to do */
                }
                fprintf(stderr,
                        "modsweep: warning: the disk is full: the lock file %s stays empty "
                        "(another sweep is refused without being told who holds it)\n",
                        path);
                mine[0] = 0;
                bad = 0;
            }
            if (bad) {
                unlink(path);
                return ms_err_set(MS_EIO, "%s: cannot write the lock file: %s", path, strerror(e));
            }
            snprintf(lock_path, sizeof lock_path, "%s", path);
            snprintf(lock_text, sizeof lock_text, "%s", mine);
            lock_held = 1;
            static int hooked = 0;
            if (!hooked) {
                hooked = 1;
                atexit(release_at_exit);
                struct sigaction old;
                if (sigaction(SIGINT, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
                    signal(SIGINT, on_sigint);
            }
            return 0;
        }
        if (errno != EEXIST)
            return ms_err_set(MS_EIO, "%s: cannot make the lock file: %s", path, strerror(errno));
        char seen[2048];
        long len = lock_read(path, seen, sizeof seen);
        if (len < 0) continue; /* removed meanwhile: try again */
        lock_info_t li;
        if (lock_parse(seen, &li) != 0) {
            /* Being written right now (made, not yet filled), or damaged. */
            if (attempt < 20) {
                const struct timespec nap = {0, 100000000};
                nanosleep(&nap, NULL);
                continue;
            }
            if (break_lock && take_over(path, seen) == 0) {
                fprintf(stderr, "modsweep: --break-lock: removed the unreadable lock file %s\n",
                        path);
                continue;
            }
            return ms_err_set(MS_EIO,
                              "%s: the lock file %s is empty or unreadable, so another sweep may "
                              "be writing this file; if none is, remove the lock file (or run "
                              "with --break-lock)",
                              results, path);
        }
        char who[512], buf_check[2048];
        holder_text(&li, who, sizeof who);
        const int same_host = !strcmp(li.host, me.host);
        const int same_boot = same_host && li.boot[0] && !strcmp(li.boot, me.boot);
        int stale = 0;
        char why[256] = "";
        if (same_host && (same_boot || !li.boot[0])) {
            /* A sweep that is ending (a job being torn down) gets 3 s to go. */
            int alive = proc_alive(li.pid);
            for (int w = 0; alive && w < 30; w++) {
                const struct timespec nap = {0, 100000000};
                nanosleep(&nap, NULL);
                alive = proc_alive(li.pid) && lock_read(path, buf_check, sizeof buf_check) >= 0 &&
                        !strcmp(buf_check, seen);
            }
            const unsigned long long ps = alive ? proc_start(li.pid) : 0;
            if (!alive)
                stale = 1, snprintf(why, sizeof why, "process %ld no longer runs", li.pid);
            else if (li.pid_start && ps && ps != li.pid_start)
                stale = 1,
                snprintf(why, sizeof why, "pid %ld now belongs to another process", li.pid);
            if (!stale)
                return ms_err_set(MS_EIO,
                                  "%s is in use by another sweep: %s (lock file %s); it runs on "
                                  "this host: wait for it to end or stop it (kill -TERM %ld); "
                                  "`modsweep status %s` shows its progress",
                                  results, who, path, li.pid, results);
        } else if (same_host) {
            stale = 1, snprintf(why, sizeof why, "this host rebooted since");
        } else if (me.job[0] && strcmp(me.job, "-") && !strcmp(li.job, me.job) &&
                   li.restart < me.restart) {
            stale = 1, snprintf(why, sizeof why, "an earlier run of this requeued job");
        } else if (break_lock) {
            stale = 1, snprintf(why, sizeof why, "--break-lock");
        } else {
            char state[128] = "";
            int known =
                li.job[0] && strcmp(li.job, "-") ? squeue_state(li.job, state, sizeof state) : -1;
            if (known == 0) {
                stale = 1, snprintf(why, sizeof why, "squeue no longer lists job %s", li.job);
            } else {
                char hint[512];
                if (known == 1)
                    snprintf(hint, sizeof hint, "squeue says job %s is %s", li.job, state);
                else if (li.job[0] && strcmp(li.job, "-"))
                    snprintf(hint, sizeof hint,
                             "check it with `squeue -j %s`; if that sweep is dead, run again "
                             "with --break-lock",
                             li.job);
                else
                    snprintf(hint, sizeof hint,
                             "it runs on another host, so this one cannot tell whether it is "
                             "alive; if it is dead (its host crashed), run again with "
                             "--break-lock");
                return ms_err_set(MS_EIO,
                                  "%s is in use by another sweep: %s (lock file %s); %s; "
                                  "`modsweep status %s` shows its progress",
                                  results, who, path, hint, results);
            }
        }
        if (stale && take_over(path, seen) == 0)
            fprintf(stderr, "modsweep: taking over the stale lock %s of %s: %s\n", path, who, why);
        else {
            const struct timespec nap = {0, 50000000};
            nanosleep(&nap, NULL);
        }
    }
    return ms_err_set(MS_EIO, "%s: cannot take the lock file %s (it keeps changing)", results,
                      path);
}

int ms_safety_claim(char *output, size_t n, int break_lock, MPI_Comm comm) {
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    int rc = 0;
    if (rank == 0) {
        char real[PATH_MAX];
        rc = ms_safety_check_output(output, real, sizeof real);
        if (!rc && strlen(real) >= n) rc = ms_err_set(MS_EIO, "%s: path too long", real);
        if (!rc) snprintf(output, n, "%s", real);
        if (!rc) rc = ms_lock_take(output, break_lock);
    }
    if (MPI_Bcast(&rc, 1, MPI_INT, 0, comm) != MPI_SUCCESS)
        return ms_err_set(MS_EMPI, "MPI_Bcast failed");
    if (MPI_Bcast(output, (int)n, MPI_CHAR, 0, comm) != MPI_SUCCESS)
        return ms_err_set(MS_EMPI, "MPI_Bcast failed");
    if (rc && rank != 0) ms_err_set(rc, "%s: refused on rank 0", output);
    return rc;
}

/* ---- what an existing file is ----------------------------------------------------- */

static int id_attr_i64(hid_t f, const char *name, int64_t *v) {
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a);
    int ok = t >= 0 && H5Tget_class(t) == H5T_INTEGER && H5Aread(a, H5T_NATIVE_INT64, v) >= 0;
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return ok ? 0 : -1;
}

static int id_attr_str(hid_t f, const char *name, char *buf, size_t n) {
    buf[0] = 0;
    hid_t a = H5Aopen(f, name, H5P_DEFAULT);
    if (a < 0) return -1;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a), mt = H5Tcopy(H5T_C_S1);
    int ok = 0;
    if (t >= 0 && sp >= 0 && mt >= 0 && H5Tis_variable_str(t) > 0 &&
        H5Sget_simple_extent_npoints(sp) == 1 && H5Tset_size(mt, H5T_VARIABLE) >= 0 &&
        H5Tset_cset(mt, H5Tget_cset(t)) >= 0) {
        char *v = NULL;
        if (H5Aread(a, mt, &v) >= 0 && v) {
            snprintf(buf, n, "%s", v);
            H5Dvlen_reclaim(mt, sp, H5P_DEFAULT, &v);
            ok = 1;
        }
    }
    if (mt >= 0) H5Tclose(mt);
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return ok ? 0 : -1;
}

/* Counts the done and failed entries of int8 status dataset `name` (n values). */
static int id_count(hid_t f, const char *name, long n, ms_ident_t *id) {
    if (n == 0) return 0;
    int8_t *v = malloc((size_t)n);
    hid_t d = v ? H5Dopen2(f, name, H5P_DEFAULT) : -1;
    int ok = d >= 0 && H5Dread(d, H5T_NATIVE_INT8, H5S_ALL, H5S_ALL, H5P_DEFAULT, v) >= 0;
    if (d >= 0) H5Dclose(d);
    for (long i = 0; ok && i < n; i++) {
        id->done += v[i] == 1;
        id->failed += v[i] == 2;
    }
    free(v);
    return ok ? 0 : -1;
}

static void identify_child(const char *path, int fd) {
    ms_ident_t id;
    memset(&id, 0, sizeof id);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) dup2(null, 2);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (H5Fis_hdf5(path) <= 0) {
        id.kind = MS_ID_OTHER;
        snprintf(id.why, sizeof id.why, "not an HDF5 file");
    } else if (fapl < 0 || H5Pset_fapl_sec2(fapl) < 0 || H5Pset_file_locking(fapl, 0, 1) < 0) {
        id.kind = MS_ID_DAMAGED;
        snprintf(id.why, sizeof id.why, "HDF5 cannot be set up to read it");
    } else {
        hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
        int64_t schema, M, L;
        char hash[64];
        if (f < 0) {
            id.kind = MS_ID_DAMAGED;
            snprintf(id.why, sizeof id.why, "HDF5 cannot open it (damaged or truncated)");
        } else if (id_attr_i64(f, "schema_version", &schema) || id_attr_i64(f, "dim_M", &M) ||
                   id_attr_i64(f, "dim_L", &L) ||
                   id_attr_str(f, "results_hash", hash, sizeof hash) || M < 0 || L < 0 ||
                   M > (1L << 30) || L > 64) {
            id.kind = MS_ID_HDF5;
            snprintf(id.why, sizeof id.why, "an HDF5 file without modsweep's root attributes");
        } else {
            id.kind = MS_ID_RESULTS;
            id.results_hash = strtoull(hash, NULL, 16);
            id_attr_str(f, "grid_path", id.grid_path, sizeof id.grid_path);
            id_attr_str(f, "created", id.created, sizeof id.created);
            id.has_data_files =
                id_attr_str(f, "data_files", id.data_files, sizeof id.data_files) == 0;
            id.total = ms_task_count(M, L);
            if (id_count(f, "models/status_train", M, &id) ||
                id_count(f, "models/status_analyse", M, &id) ||
                id_count(f, "labels/status", M * L, &id)) {
                id.total = -1; /* the statuses cannot be read: counts unknown */
                snprintf(id.why, sizeof id.why, "its task statuses cannot be read");
            }
            H5Fclose(f);
        }
    }
    const char *p = (const char *)&id;
    size_t left = sizeof id;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w <= 0) _exit(4);
        p += w, left -= (size_t)w;
    }
    _exit(0);
}

int ms_results_identify(const char *path, ms_ident_t *id) {
    memset(id, 0, sizeof *id);
    struct stat st;
    if (stat(path, &st) != 0) return 0; /* MS_ID_NONE */
    if (!S_ISREG(st.st_mode)) {
        id->kind = MS_ID_OTHER;
        snprintf(id->why, sizeof id->why, "not a regular file");
        return 0;
    }
    int fds[2];
    if (pipe(fds) != 0) return ms_err_set(MS_EIO, "%s: cannot make a pipe", path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return ms_err_set(MS_EIO, "%s: cannot start a process to read it", path);
    }
    if (pid == 0) {
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
        for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
            signal(sigs[i], SIG_DFL);
        close(fds[0]);
        identify_child(path, fds[1]);
    }
    close(fds[1]);
    const char *env = getenv("MODSWEEP_PROBE_SECONDS");
    const double limit = env && atof(env) > 0 ? atof(env) : 60.0;
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    char *p = (char *)id;
    size_t got = 0;
    int st_ = 0;
    double waited = 0;
    pid_t w = 0;
    const struct timespec nap = {0, 5000000};
    for (;;) {
        ssize_t r = read(fds[0], p + got, sizeof *id - got);
        if (r > 0) got += (size_t)r;
        if (got == sizeof *id) break;
        if ((w = waitpid(pid, &st_, WNOHANG)) != 0) break;
        if (waited > limit) break;
        nanosleep(&nap, NULL);
        waited += 0.005;
    }
    if (w == 0) {
        if (got != sizeof *id) kill(pid, SIGKILL);
        waitpid(pid, &st_, 0);
    } else {
        ssize_t r;
        while (got < sizeof *id && (r = read(fds[0], p + got, sizeof *id - got)) > 0)
            got += (size_t)r;
    }
    close(fds[0]);
    if (got != sizeof *id) {
        memset(id, 0, sizeof *id);
        id->kind = MS_ID_DAMAGED;
        snprintf(id->why, sizeof id->why, "HDF5 %s reading it (the file is damaged)",
                 waited > limit ? "did not finish" : "crashed");
    }
    id->why[sizeof id->why - 1] = 0;
    id->grid_path[sizeof id->grid_path - 1] = 0;
    id->created[sizeof id->created - 1] = 0;
    id->data_files[sizeof id->data_files - 1] = 0;
    return 0;
}

void ms_ident_describe(const ms_ident_t *id, char *buf, size_t n) {
    if (id->kind != MS_ID_RESULTS) {
        snprintf(buf, n, "not a modsweep results file: %s", id->why);
        return;
    }
    if (id->total < 0)
        snprintf(buf, n, "results of %s, created %s; %s", id->grid_path, id->created, id->why);
    else
        snprintf(buf, n, "results of %s, created %s: %ld of %ld tasks done, %ld failed",
                 id->grid_path, id->created, id->done, id->total, id->failed);
}

/* ---- the data fingerprint ---------------------------------------------------------------- */

int ms_data_fingerprint(const ms_data_cfg_t *cfg, char *buf, size_t n) {
    static char paths[MS_DATA_MAX_FILES][MS_DATA_PATH_MAX];
    int nf = ms_data_files(cfg, paths, MS_DATA_MAX_FILES);
    if (nf < 0) return nf;
    size_t off = 0;
    buf[0] = 0;
    unsigned char *chunk = malloc(1 << 20);
    if (!chunk) return ms_err_set(MS_ENOMEM, "out of memory");
    int rc = 0;
    for (int i = 0; i < nf && !rc; i++) {
        int fd = open(paths[i], O_RDONLY);
        if (fd < 0) {
            rc = ms_err_set(MS_EIO, "%s: cannot open: %s", paths[i], strerror(errno));
            break;
        }
        uLong crc = crc32(0L, Z_NULL, 0);
        long long size = 0;
        ssize_t r;
        while ((r = read(fd, chunk, 1 << 20)) > 0) {
            crc = crc32(crc, chunk, (uInt)r);
            size += r;
        }
        if (r < 0) rc = ms_err_set(MS_EIO, "%s: read error: %s", paths[i], strerror(errno));
        close(fd);
        const char *base = strrchr(paths[i], '/');
        base = base ? base + 1 : paths[i];
        int w = snprintf(buf + off, n - off, "%s\t%lld\t%08lx\n", base, size, (unsigned long)crc);
        if (w < 0 || (size_t)w >= n - off)
            rc = ms_err_set(MS_EINVAL, "data fingerprint too long");
        else
            off += (size_t)w;
    }
    free(chunk);
    return rc;
}

/* Finds the line of file `name` in a fingerprint text: size and crc. */
static int fp_find(const char *text, const char *name, long long *size, char *crc) {
    size_t nl = strlen(name);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
        if (!strncmp(p, name, nl) && p[nl] == '\t')
            return sscanf(p + nl + 1, "%lld\t%8s", size, crc) == 2 ? 0 : -1;
    return -1;
}

int ms_data_fingerprint_compare(const char *stored, const char *now, const char *results,
                                const char *data_dir) {
    for (const char *p = stored; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        char name[256], crc0[16], crc1[16];
        long long s0, s1;
        if (sscanf(p, "%255[^\t]\t%lld\t%8s", name, &s0, crc0) != 3) continue;
        if (fp_find(now, name, &s1, crc1) != 0)
            return ms_err_set(MS_EMISMATCH,
                              "%s was computed on data file %s, which the data folder %s no "
                              "longer holds (the data changed since); restore the data, or "
                              "write to another results file (-o), or replace this one with "
                              "--restart",
                              results, name, data_dir);
        if (s0 != s1)
            return ms_err_set(MS_EMISMATCH,
                              "%s/%s changed since %s was created: its size was %lld bytes, now "
                              "%lld; resuming would mix results of two data sets: restore the "
                              "data, or write to another results file (-o), or replace this one "
                              "with --restart",
                              data_dir, name, results, s0, s1);
        if (strcmp(crc0, crc1))
            return ms_err_set(MS_EMISMATCH,
                              "%s/%s changed since %s was created: same size (%lld bytes) but "
                              "other bytes (crc32 %s, now %s); resuming would mix results of two "
                              "data sets: restore the data, or write to another results file "
                              "(-o), or replace this one with --restart",
                              data_dir, name, results, s0, crc0, crc1);
    }
    for (const char *p = now; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        char name[256], crc[16];
        long long s;
        if (sscanf(p, "%255[^\t]", name) == 1 && fp_find(stored, name, &s, crc) != 0)
            return ms_err_set(MS_EMISMATCH,
                              "%s: data file %s/%s was not used when %s was created (the data "
                              "changed since); restore the data, or write to another results "
                              "file (-o), or replace this one with --restart",
                              results, data_dir, name, results);
    }
    return 0;
}

/* ---- failed tasks and status --check --------------------------------------------------- */

int ms_results_retry_failed(ms_results_t *r, long n[3]) {
    const ms_dims_t *d = ms_results_dims(r);
    const long M = d->M, L = d->L, T = ms_task_count(M, L);
    n[0] = n[1] = n[2] = 0;
    int8_t *st = malloc((size_t)T + 1);
    if (!st) return ms_err_set(MS_ENOMEM, "out of memory");
    int rc = ms_results_all_tasks(r, st, NULL);
    for (long t = 0; t < T && !rc; t++) {
        if (st[t] != MS_ST_FAILED) continue;
        int kind;
        long m, li;
        ms_task_of(M, L, t, &kind, &m, &li);
        rc = ms_results_set_status(r, kind, m, li, MS_ST_PENDING, 0, "");
        if (!rc) n[kind]++;
    }
    free(st);
    return rc;
}

int ms_sweep_check(const char *results, FILE *out) {
    ms_results_t *r = NULL;
    if (ms_results_open(&r, results, MPI_COMM_SELF, 0) != 0) {
        fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        return MS_EXIT_ERROR;
    }
    const ms_dims_t *d = ms_results_dims(r);
    const long T = ms_task_count(d->M, d->L);
    int8_t *st = malloc((size_t)T + 1);
    int rc = st ? ms_results_all_tasks(r, st, NULL) : ms_err_set(MS_ENOMEM, "out of memory");
    long pending = 0, failed = 0;
    for (long t = 0; t < T && !rc; t++) {
        pending += st[t] == MS_ST_PENDING;
        failed += st[t] == MS_ST_FAILED;
    }
    free(st);
    int crc = ms_results_close(r);
    if (rc || crc) {
        fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        return MS_EXIT_ERROR;
    }
    if (pending) {
        fprintf(out, "check: %ld tasks pending: run the sweep again to resume (exit %d)\n", pending,
                MS_EXIT_RESUMABLE);
        return MS_EXIT_RESUMABLE;
    }
    if (failed) {
        fprintf(out,
                "check: %ld tasks failed for good, none pending (exit %d); the sweep's command "
                "with --retry-failed runs them again\n",
                failed, MS_EXIT_ERROR);
        return MS_EXIT_ERROR;
    }
    fprintf(out, "check: complete (exit %d)\n", MS_EXIT_OK);
    return MS_EXIT_OK;
}
