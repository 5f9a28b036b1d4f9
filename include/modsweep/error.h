/* Error codes and the per-thread error message every modsweep library call
 * leaves behind when it fails.
 *
 * Library functions return 0 on success or a negative ms_err_t; before
 * returning an error they record a message that names the file, key or
 * object at fault (ms_err_set). Drivers print ms_err_msg(). The codes and
 * their descriptions come from one X-macro list so they cannot drift apart. */
#ifndef MODSWEEP_ERROR_H
#define MODSWEEP_ERROR_H

#include <stdarg.h>

#define MS_ERRNO_MAP(X)                                                                            \
    X(NOMEM, -1, "out of memory")                                                                  \
    X(IO, -2, "I/O error")                                                                         \
    X(FORMAT, -3, "malformed file")                                                                \
    X(INVAL, -4, "invalid argument")                                                               \
    X(CONFIG, -5, "invalid grid file")                                                             \
    X(HDF5, -6, "HDF5 error")                                                                      \
    X(MPI, -7, "MPI error")                                                                        \
    X(NUMERIC, -8, "numerical fault (NaN or Inf)")                                                 \
    X(MISMATCH, -9, "results file belongs to a different grid")                                    \
    X(INTERRUPTED, -10, "interrupted by a signal")                                                 \
    X(NOGPU, -11, "no usable GPU")                                                                 \
    X(RANGE, -12, "value out of range")                                                            \
    X(SCHEMA, -13, "unsupported results-file schema")

typedef enum ms_err {
    MS_OK = 0,
#define MS_ERR_ENUM(name, code, text) MS_E##name = code,
    MS_ERRNO_MAP(MS_ERR_ENUM)
#undef MS_ERR_ENUM
} ms_err_t;

/* The description of an error code ("malformed file"). */
const char *ms_strerror(int err);

/* The symbolic name of an error code ("MS_EFORMAT"). */
const char *ms_err_name(int err);

/* Records a formatted message for the calling thread and returns err, so a
 * failing function can end with `return ms_err_set(MS_EFORMAT, "%s: ...", path);`. */
int ms_err_set(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int ms_err_vset(int err, const char *fmt, va_list ap);

/* Prefixes the calling thread's message with more context ("loading grid.ini: "). */
int ms_err_wrap(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The calling thread's last message, or the code's description when none was set. */
const char *ms_err_msg(void);

/* Clears the calling thread's message. */
void ms_err_clear(void);

#endif
