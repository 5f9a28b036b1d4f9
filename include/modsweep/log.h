/* Logging and checked calls for drivers (main, the scheduler, tests).
 *
 * ms_message() prints "[rank] hh:mm:ss.mmm text" to stderr; ms_fatal()
 * prints "[rank] time file:function():line: text" and ends the process (all
 * ranks, through MPI_Abort, once MPI is up). The *_CHECK macros wrap calls
 * whose failure a driver cannot recover from and decode the error. Library
 * code returns error codes instead (error.h) and never calls ms_fatal. */
#ifndef MODSWEEP_LOG_H
#define MODSWEEP_LOG_H

#include <stddef.h>

#include "modsweep/error.h"

/* Verbosity: 0 = errors only (--quiet), 1 = normal, 2 = debug. */
void ms_log_init(int rank, int verbosity);
int ms_log_rank(void);
int ms_log_verbosity(void);
/* Tells ms_fatal to call MPI_Abort (set once MPI_Init has run). */
void ms_log_set_mpi(int mpi_active);

void ms_message(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ms_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void ms_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void ms_fatal_at(const char *file, const char *func, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define ms_fatal(...) ms_fatal_at(__FILE__, __func__, __LINE__, __VA_ARGS__)

/* Seconds since an arbitrary fixed point (CLOCK_MONOTONIC). */
double ms_now(void);

/* Allocation that cannot fail silently: size 0 returns a valid pointer. */
void *ms_malloc_check(size_t n, const char *file, const char *func, int line);
void *ms_calloc_check(size_t n, size_t size, const char *file, const char *func, int line);
#define MS_MALLOC(n) ms_malloc_check((n), __FILE__, __func__, __LINE__)
#define MS_CALLOC(n, size) ms_calloc_check((n), (size), __FILE__, __func__, __LINE__)

/* A library call returning an ms_err_t: on failure print its message and die. */
#define MS_CHECK(call)                                                                             \
    do {                                                                                           \
        int ms_check_rc_ = (call);                                                                 \
        if (ms_check_rc_ < 0) ms_fatal("%s", ms_err_msg());                                        \
    } while (0)

/* An MPI call in a driver: on failure print which call failed and die (all
 * ranks). Open MPI's default error handler aborts first; this covers the
 * others. */
#define MS_MPI_CHECK(call)                                                                         \
    do {                                                                                           \
        if ((call) != 0) ms_fatal("%s failed", #call);                                             \
    } while (0)

#endif
