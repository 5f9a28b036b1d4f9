/* Shared helpers of the fuzz targets (tests/fuzz/fuzz_*.c): scratch files
 * for loaders that read paths, a sink for printed output, and property
 * checks that abort (so libFuzzer and the replay driver report them as
 * findings with the input that caused them). */
#ifndef MS_FUZZ_UTIL_H
#define MS_FUZZ_UTIL_H

#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* A property every input must keep; a violation is a finding. */
#define FZ_ASSERT(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz property violated at %s:%d: ", __FILE__, __LINE__);             \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The folder for scratch files: $MS_FUZZ_TMP, else /dev/shm (memory), else
 * $TMPDIR, else /tmp. */
static inline const char *fz_tmpdir(void) {
    static const char *dir;
    if (!dir) {
        dir = getenv("MS_FUZZ_TMP");
        if (!dir || !*dir) dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
        if (!dir || !*dir) dir = "/tmp";
    }
    return dir;
}

/* A scratch path private to this process: <tmpdir>/ms_fuzz_<pid>_<tag>. */
static inline const char *fz_path(char *buf, size_t n, const char *tag) {
    snprintf(buf, n, "%s/ms_fuzz_%ld_%s", fz_tmpdir(), (long)getpid(), tag);
    return buf;
}

/* Writes n bytes to path (replacing it); aborts when that fails, since the
 * harness, not the code under test, is then broken. */
static inline void fz_write(const char *path, const void *data, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    FZ_ASSERT(fd >= 0, "cannot create the scratch file %s", path);
    const char *p = data;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        FZ_ASSERT(w > 0, "cannot write the scratch file %s", path);
        p += w;
        n -= (size_t)w;
    }
    FZ_ASSERT(close(fd) == 0, "cannot close the scratch file %s", path);
}

/* A stream that discards what is printed into it (the code's report paths
 * run, nothing reaches the terminal). */
static inline FILE *fz_null(void) {
    static FILE *f;
    if (!f) f = fopen("/dev/null", "w");
    FZ_ASSERT(f != NULL, "cannot open /dev/null");
    return f;
}

/* Reads a little-endian integer of `bytes` bytes from *p (advancing it), or
 * 0 past the end: lets a target take its parameters from the input. */
static inline uint64_t fz_take(const uint8_t **p, const uint8_t *end, int bytes) {
    uint64_t v = 0;
    for (int i = 0; i < bytes && *p < end; i++, (*p)++)
        v |= (uint64_t)**p << (8 * i);
    return v;
}

#endif
