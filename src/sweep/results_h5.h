/* HDF5 helpers of the results file shared by results.c, results_attr.c
 * (attributes) and results_probe.c (the forked metadata probe): HDF5's error
 * stack in messages, and the probe (not a public header). */
#ifndef MODSWEEP_SWEEP_RESULTS_H5_H
#define MODSWEEP_SWEEP_RESULTS_H5_H

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/statvfs.h>

#include <hdf5.h>

#include "modsweep/config.h"
#include "modsweep/error.h"

/* HDF5's error stack, outermost (the API call) first: the API call's
 * description and the innermost one, which names the cause (an MPI-IO or
 * system error such as "No space left on device"). */
typedef struct h5_detail {
    char api[160], cause[256];
} h5_detail_t;

/* H5Ewalk2's callback filling an h5_detail_t (data). */
herr_t ms_results_h5_walk(unsigned n, const H5E_error2_t *e, void *data);

/* Reads every object header and attribute of the file at path in a forked
 * child (POSIX driver, no MPI) before this process opens it: 0 when the
 * child finished (or could not be started, or the file is not HDF5), else
 * MS_EFORMAT / MS_EHDF5 with a message naming the file. */
int ms_results_probe_file(const char *path);

/* The bytes free (to this user) on the file system that holds (or would
 * hold) the file at path; -1 when the system does not say. */
static inline long long free_bytes(const char *path) {
    char dir[MS_PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = 0;
    else
        snprintf(dir, sizeof dir, ".");
    struct statvfs sv;
    if (statvfs(dir, &sv) != 0) return -1;
    const unsigned long long b = (unsigned long long)sv.f_bavail * sv.f_frsize;
    return b > (unsigned long long)LLONG_MAX ? LLONG_MAX : (long long)b;
}

/* MPI-IO reports a write that the disk could not take as a short write,
 * which HDF5 passes on as "file write failed" without the system's reason;
 * so a failure on a file system with (almost) no space left says so. */
static inline void space_note(const char *path, char *buf, size_t n) {
    const long long have = free_bytes(path);
    buf[0] = 0;
    if (have >= 0 && have < (1ll << 20))
        snprintf(buf, n, " (no space left: the file system holding it has %lld bytes free)", have);
}

static inline int h5_fail(const char *path, const char *what) {
    h5_detail_t d = {"", ""};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, ms_results_h5_walk, &d);
    H5Eclear2(H5E_DEFAULT);
    char note[128];
    space_note(path, note, sizeof note);
    return ms_err_set(MS_EHDF5, "%s: %s%s%s%s%s%s", path, what, d.api[0] ? ": " : "", d.api,
                      d.cause[0] ? ": " : "", d.cause, note);
}

/* Records a failed release (close) of an HDF5 object unless an error is
 * already recorded: cleanup paths check every herr_t without losing the
 * first fault. */
static inline void h5_check(herr_t e, int *rc, const char *path, const char *what) {
    if (e < 0 && !*rc) *rc = h5_fail(path, what);
}

/* results_attr.c: scalar attributes, checked on reading (a missing or
 * malformed one is MS_EFORMAT naming the file). */
int attr_write_str(hid_t obj, const char *name, const char *value, const char *path);
int attr_write_i64(hid_t obj, const char *name, int64_t value, const char *path);
int attr_read_i64(hid_t obj, const char *name, int64_t *value, const char *path);
int attr_read_str(hid_t obj, const char *name, char **out, const char *path);

#endif
