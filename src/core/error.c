/* Error codes and per-thread error messages (see include/modsweep/error.h). */
#include "modsweep/error.h"

#include <stdio.h>
#include <string.h>

#define MS_ERR_MSG_MAX 1024

static _Thread_local char err_msg[MS_ERR_MSG_MAX];
static _Thread_local int err_code;

const char *ms_strerror(int err) {
    switch (err) {
    case MS_OK:
        return "success";
#define MS_ERR_TEXT(name, code, text)                                                              \
    case code:                                                                                     \
        return text;
        MS_ERRNO_MAP(MS_ERR_TEXT)
#undef MS_ERR_TEXT
    }
    return "unknown error";
}

const char *ms_err_name(int err) {
    switch (err) {
    case MS_OK:
        return "MS_OK";
#define MS_ERR_NAME(name, code, text)                                                              \
    case code:                                                                                     \
        return "MS_E" #name;
        MS_ERRNO_MAP(MS_ERR_NAME)
#undef MS_ERR_NAME
    }
    return "MS_E?";
}

int ms_err_vset(int err, const char *fmt, va_list ap) {
    vsnprintf(err_msg, sizeof err_msg, fmt, ap);
    err_code = err;
    return err;
}

int ms_err_set(int err, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    ms_err_vset(err, fmt, ap);
    va_end(ap);
    return err;
}

int ms_err_wrap(int err, const char *fmt, ...) {
    char prefix[MS_ERR_MSG_MAX], old[MS_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(old, sizeof old, "%s", err_msg[0] ? err_msg : ms_strerror(err));
    snprintf(err_msg, sizeof err_msg, "%s%s", prefix, old);
    err_code = err;
    return err;
}

const char *ms_err_msg(void) { return err_msg[0] ? err_msg : ms_strerror(err_code); }

void ms_err_clear(void) {
    err_msg[0] = 0;
    err_code = 0;
}
