/* The results file's probe (results_h5.h), moved out of results.c
 * unchanged: a forked child reads the file's metadata before this process
 * opens it, so damage that crashes or hangs HDF5 is refused with a message;
 * and the walk of HDF5's error stack that both files' messages use. */
#include "results_h5.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <hdf5.h>

#include "modsweep/error.h"

herr_t ms_results_h5_walk(unsigned n, const H5E_error2_t *e, void *data) {
    h5_detail_t *d = data;
    if (n == 0) snprintf(d->api, sizeof d->api, "%s (%s)", e->desc, e->func_name);
    else snprintf(d->cause, sizeof d->cause, "%s", e->desc);
    return 0;
}

/* ---- probing a file in a child process ------------------------------------- */

/* HDF5 (1.10.8, Debian 12) can crash or loop for ever on some damaged
 * metadata (tests/fuzz/README.md lists what fuzzing found). So before a
 * file is opened in this process, a forked child opens it through the POSIX
 * driver (no MPI in the child), reads every object header and every
 * attribute, closes it and exits; if the child dies or does not finish in
 * time, the file is refused with a message.
 * The child also refuses an HDF5 file that it cannot open or close: the
 * MPI-IO driver overlooks some damage that the POSIX driver reports (a
 * superblock pointing past the end of the file: MPI-IO's failed read is not
 * passed on), and such a file, once opened for writing in this process,
 * cannot be closed; its handle then stays behind and HDF5 crashes on it
 * at exit (in H5F__close_cb, also from MPI_Finalize). A file that is not
 * HDF5 at all is left to the real open, whose message says so. */
enum { PROBE_OK = 0, PROBE_BAD = 3 };
/* Present only in builds with a sanitizer. */
extern void __sanitizer_set_death_callback(void (*callback)(void)) __attribute__((weak));
static herr_t probe_attr(hid_t loc, const char *name, const H5A_info_t *info, void *data) {
    hid_t a = H5Aopen(loc, name, H5P_DEFAULT);
    if (a < 0) return 0;
    hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    size_t size = t < 0 ? 0 : H5Tget_size(t);
    if (t >= 0 && n > 0 && n < 4096 && size > 0 && size < (1u << 20)) {
        if (H5Tis_variable_str(t) > 0) {
            char **v = calloc((size_t)n, sizeof *v);
            if (v && H5Aread(a, t, v) >= 0) H5Dvlen_reclaim(t, sp, H5P_DEFAULT, v);
            free(v);
        } else if (H5Tdetect_class(t, H5T_VLEN) == 0 && H5Tdetect_class(t, H5T_REFERENCE) == 0) {
            void *v = malloc((size_t)n * size);
            if (v) H5Aread(a, t, v);
            free(v);
        }
    }
    if (sp >= 0) H5Sclose(sp);
    if (t >= 0) H5Tclose(t);
    H5Aclose(a);
    return 0;
}
static herr_t probe_object(hid_t loc, const char *name, const H5O_info_t *info, void *data) {
    hid_t o = H5Oopen(loc, name, H5P_DEFAULT);
    if (o < 0) return 0;
    H5Aiterate2(o, H5_INDEX_NAME, H5_ITER_NATIVE, NULL, probe_attr, NULL);
    if (info->type == H5O_TYPE_DATASET) {
        hid_t t = H5Dget_type(o), sp = H5Dget_space(o), dcpl = H5Dget_create_plist(o);
        if (t >= 0) H5Tclose(t);
        if (sp >= 0) H5Sclose(sp);
        if (dcpl >= 0) H5Pclose(dcpl);
    }
    H5Oclose(o);
    return 0;
}
/* Ends the child with PROBE_BAD, telling the parent through fd what failed
 * (the HDF5 function and the innermost cause). */
static void probe_bad(int fd, const char *what) {
    h5_detail_t d = {"", ""};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, ms_results_h5_walk, &d);
    char msg[512];
    int n = snprintf(msg, sizeof msg, "%s%s%s%s%s", what, d.api[0] ? ": " : "", d.api,
                     d.cause[0] ? ": " : "", d.cause);
    if (n > 0 && write(fd, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1) < 0) _exit(4);
    _exit(PROBE_BAD);
}
static void probe_child(const char *path, int fd) {
    /* A crash ends the child by its signal, not through the handlers the
     * process may have installed (a sanitizer's, libFuzzer's: they would
     * report the parent's input as the crash). */
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) signal(sigs[i], SIG_DFL);
    /* Likewise an error that a sanitizer finds in HDF5 (its calls to memcpy
     * and the like are checked): the child just ends, with no death callback
     * of the parent's (libFuzzer's writes the parent's input as a finding). */
    if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(NULL);
    int null = open("/dev/null", O_WRONLY);
    if (null >= 0) { /* a crash report of the child's is not the user's business */
        dup2(null, 1);
        dup2(null, 2);
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (H5Fis_hdf5(path) <= 0) _exit(PROBE_OK); /* the real open says "not an HDF5 file" */
    H5Eclear2(H5E_DEFAULT);
    /* The child only reads: no lock (one a file system without locks would
     * refuse, or one the user turned off with HDF5_USE_FILE_LOCKING). */
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_sec2(fapl) < 0 || H5Pset_file_locking(fapl, 0, 1) < 0)
        _exit(PROBE_OK);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f < 0) probe_bad(fd, "cannot open the results file");
    H5Ovisit2(f, H5_INDEX_NAME, H5_ITER_NATIVE, probe_object, NULL, H5O_INFO_BASIC);
    H5Eclear2(H5E_DEFAULT);
    if (H5Fclose(f) < 0) probe_bad(fd, "cannot close the results file");
    _exit(PROBE_OK);
}
int ms_results_probe_file(const char *path) {
    const char *env = getenv("MODSWEEP_PROBE_SECONDS");
    double limit = env && atof(env) > 0 ? atof(env) : 60.0;
    int msg[2];
    if (pipe(msg) != 0) return 0; /* no pipe: open it in this process as before */
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) { /* no child: likewise */
        close(msg[0]);
        close(msg[1]);
        return 0;
    }
    if (pid == 0) {
        close(msg[0]);
        probe_child(path, msg[1]);
    }
    close(msg[1]);
    int st = 0;
    const struct timespec nap = {0, 5000000};
    double waited = 0;
    pid_t w;
    while ((w = waitpid(pid, &st, WNOHANG)) == 0 && waited < limit) {
        nanosleep(&nap, NULL);
        waited += 0.005;
    }
    char why[512] = "";
    if (w > 0) { /* the child has ended: what it wrote is in the pipe */
        ssize_t n = read(msg[0], why, sizeof why - 1);
        why[n > 0 ? n : 0] = 0;
    }
    close(msg[0]);
    if (w == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
        return ms_err_set(MS_EFORMAT,
                          "%s: HDF5 did not finish reading the file's metadata in %g s: the file "
                          "is damaged (MODSWEEP_PROBE_SECONDS sets the limit)",
                          path, limit);
    }
    if (w < 0) return 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == PROBE_BAD)
        return ms_err_set(MS_EHDF5, "%s: %s (HDF5 reading it without MPI-IO): the file is "
                                    "truncated or damaged",
                          path, why[0] ? why : "cannot read the results file");
    if (WIFSIGNALED(st) || (WIFEXITED(st) && WEXITSTATUS(st) != PROBE_OK))
        return ms_err_set(MS_EFORMAT,
                          "%s: HDF5 crashed (%s) reading the file's metadata: the file is damaged",
                          path,
                          WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "exit status of its reader");
    return 0;
}
