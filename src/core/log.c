/* Logging with rank and time, fatal errors, checked allocation (log.h). */
#define _POSIX_C_SOURCE 200809L
#include "modsweep/log.h"
#include "modsweep/error.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int log_rank = 0;
static int log_verbosity = 1;
static int log_mpi = 0;

void ms_log_init(int rank, int verbosity) {
    log_rank = rank;
    log_verbosity = verbosity;
}
int ms_log_rank(void) { return log_rank; }
int ms_log_verbosity(void) { return log_verbosity; }
void ms_log_set_mpi(int mpi_active) { log_mpi = mpi_active; }

double ms_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void stamp(char *buf, size_t n) {
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    localtime_r(&ts.tv_sec, &tm);
    snprintf(buf, n, "[%d] %02d:%02d:%02d.%03ld", log_rank, tm.tm_hour, tm.tm_min, tm.tm_sec,
             ts.tv_nsec / 1000000L);
}

static void vlog(const char *tag, const char *fmt, va_list ap) {
    char head[64], body[2048];
    stamp(head, sizeof head);
    vsnprintf(body, sizeof body, fmt, ap);
    /* One fprintf per line so lines from ranks sharing a terminal do not interleave. */
    fprintf(stderr, "%s %s%s\n", head, tag, body);
}

void ms_message(const char *fmt, ...) {
    if (log_verbosity < 1) return;
    va_list ap;
    va_start(ap, fmt);
    vlog("", fmt, ap);
    va_end(ap);
}

void ms_debug(const char *fmt, ...) {
    if (log_verbosity < 2) return;
    va_list ap;
    va_start(ap, fmt);
    vlog("debug: ", fmt, ap);
    va_end(ap);
}

void ms_warning(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vlog("warning: ", fmt, ap);
    va_end(ap);
}

void ms_fatal_at(const char *file, const char *func, int line, const char *fmt, ...) {
    char head[64], body[2048];
    va_list ap;
    stamp(head, sizeof head);
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s %s:%s():%d: error: %s\n", head, file, func, line, body);
    fflush(stderr);
    if (log_mpi) MPI_Abort(MPI_COMM_WORLD, 1);
    exit(1);
}

void *ms_malloc_check(size_t n, const char *file, const char *func, int line) {
    void *p = malloc(n ? n : 1);
    if (!p) ms_fatal_at(file, func, line, "out of memory allocating %zu bytes", n);
    return p;
}

void *ms_calloc_check(size_t n, size_t size, const char *file, const char *func, int line) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) ms_fatal_at(file, func, line, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}
