/* Results-file safety (docs/data-safety.md): what a sweep checks and holds
 * so that nothing finished is lost or mixed with other results.
 *
 * - The output path: a regular file (or none yet) in a writable folder; a
 *   folder, device, pipe, missing folder or read-only file system is
 *   refused in plain words before any work.
 * - The lock: one sweep owns a results file for its lifetime through the
 *   lock file "<results>.lock", made with O_CREAT | O_EXCL (atomic on local
 *   file systems and on NFS v3+, Lustre and GPFS, where fcntl/flock locks
 *   may be off or node-local). It holds the holder's host, pid, Slurm job,
 *   start time and enough to tell a stale lock (a dead process) from a live
 *   one; a live one is never taken.
 * - What an existing file is (a modsweep results file, another HDF5 file,
 *   something else), read in a child process as results.c probes files.
 * - The data fingerprint: the name, size and zlib crc32 of every data file
 *   a sweep reads, stored in the results file; a resume on other data is
 *   refused naming the file.
 * - `modsweep status --check`: 0 complete, 75 work left, 1 failed for good.
 *
 * Everything here runs on one process (rank 0) unless it says collective. */
#ifndef MODSWEEP_SAFETY_H
#define MODSWEEP_SAFETY_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "modsweep/data.h"
#include "modsweep/results.h"

/* Checks that path can hold a results file (see above); a symbolic link to
 * a regular file is followed: real (n bytes) receives the path to work on
 * (path itself, or the link's target). 0 or MS_EIO with a message naming
 * the path and the fault. */
int ms_safety_check_output(const char *path, char *real, size_t n);

/* The lock of results file `results`. ms_lock_take makes "<results>.lock"
 * or refuses (MS_EIO, naming the holder) when another sweep holds it; a
 * stale lock (its process is gone: same host and that pid no longer runs,
 * or the host rebooted, or an earlier run of this same requeued Slurm job,
 * or a Slurm job that squeue no longer lists) is taken over with a message.
 * break_lock: also take a lock held on another host (the user says its
 * sweep is dead); a live holder on this host is refused even then. Once
 * taken, the lock is removed by ms_lock_release, at exit() and on SIGINT. */
int ms_lock_take(const char *results, int break_lock);
void ms_lock_release(void);

/* Prints one line naming the sweep that holds results' lock, if any. */
void ms_lock_describe(const char *results, FILE *out);

/* Collective: rank 0 checks the output path (resolving it into output, n
 * bytes) and takes its lock; every rank gets the same answer (rank 0 has
 * the message) and the resolved path. */
int ms_safety_claim(char *output, size_t n, int break_lock, MPI_Comm comm);

/* What an existing file is (ms_results_identify). */
typedef enum ms_ident_kind {
    MS_ID_NONE = 0,    /* nothing at that path */
    MS_ID_RESULTS = 1, /* a modsweep results file (its root attributes are there) */
    MS_ID_HDF5 = 2,    /* an HDF5 file without modsweep's root attributes */
    MS_ID_OTHER = 3,   /* a regular file that is not HDF5 (text, ...) */
    MS_ID_DAMAGED = 4, /* HDF5 that cannot be read (why says what failed) */
} ms_ident_kind_t;

typedef struct ms_ident {
    int kind;
    long done, failed, total; /* tasks (MS_ID_RESULTS) */
    uint64_t results_hash;
    char grid_path[256], created[64];
    int has_data_files;
    char data_files[2048]; /* the stored fingerprint (has_data_files) */
    char why[256];
} ms_ident_t;

/* Reads what the file at path is in a forked child (HDF5 without MPI), so
 * that a damaged file cannot crash or hang this process. */
int ms_results_identify(const char *path, ms_ident_t *id);

/* A one-line description of an identified file for messages ("a modsweep
 * results file of grid.ini, created ..., 12 of 40 tasks done"). */
void ms_ident_describe(const ms_ident_t *id, char *buf, size_t n);

/* The data fingerprint of cfg: one line "name<TAB>size<TAB>crc32" per file
 * ms_data_load reads (ms_data_files), into buf (n bytes). */
int ms_data_fingerprint(const ms_data_cfg_t *cfg, char *buf, size_t n);

/* 0 when the fingerprint now equals stored, else MS_EMISMATCH naming the
 * first file that differs and how (gone, size, bytes). */
int ms_data_fingerprint_compare(const char *stored, const char *now, const char *results,
                                const char *data_dir);

/* Sets every failed task of r back to pending with no attempts and no
 * reason (rank 0, independent writes); n[kind] receives the counts. */
int ms_results_retry_failed(ms_results_t *r, long n[3]);

/* The state of a results file for `modsweep status --check`: MS_EXIT_OK
 * (every task done), MS_EXIT_RESUMABLE (tasks pending), MS_EXIT_ERROR
 * (tasks failed for good and none pending, or the file cannot be read: the
 * message says which). */
int ms_sweep_check(const char *results, FILE *out);

#endif
