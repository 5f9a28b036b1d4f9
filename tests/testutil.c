/* The test harness behind check.h. */
#include "check.h"
#include "modsweep/error.h"
#include "modsweep/gpu.h"
#include "modsweep/kernels.h"

#include <mpi.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int ms_test_failures = 0;
const char *ms_test_current = "";

void ms_test_fail_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "%s:%d: in %s: ", file, line, ms_test_current);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    ms_test_failures++;
}

int ms_test_summary(void) {
    if (ms_test_failures) {
        printf("%d check(s) failed\n", ms_test_failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}

int ms_test_skip(const char *why) {
    printf("SKIPPED: %s\n", why);
    return MS_TEST_SKIP;
}

int ms_test_need_gpu(void) {
    char why[256] = "";
    if (ms_gpu_count(why) >= 1) return 0;
    printf("SKIPPED: no GPU (%s)\n", why);
    return MS_TEST_SKIP;
}

void ms_test_gpu_begin(int *argc, char ***argv, int bind0) {
    MPI_Init(argc, argv);
    ms_kernels_set_threads(2);
    if (bind0) CHECK_OK(ms_gpu_init(0));
}

int ms_test_gpu_end(void) {
    ms_gpu_release();
    const int rc = ms_test_summary();
    MPI_Finalize();
    return rc;
}

double ms_max_abs_diff_f(const float *a, const float *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - (double)b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

double ms_max_abs_diff_d(const double *a, const double *b, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
    }
    return m;
}

const char *ms_test_tmpdir(void) {
    static char dir[256];
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof dir, "%s/ms_test_%ld", base ? base : "/tmp", (long)getpid());
        mkdir(dir, 0700);
    }
    return dir;
}

const char *ms_fixture_path(const char *name, char *buf, size_t n) {
    const char *dir = getenv("MS_FIXTURES");
    if (dir) snprintf(buf, n, "%s/%s", dir, name);
    else snprintf(buf, n, "%s/tests/fixtures/%s", MS_SOURCE_DIR_DEFAULT, name);
    return buf;
}
