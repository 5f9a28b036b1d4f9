/* The test harness behind check.h, and the shared test networks and data
 * of testdata.h. */
#include "check.h"
#include "testdata.h"
#include "modsweep/datagen.h"
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

ms_arch_t ms_test_small_cnn(int in_c, int hw, int conv_c, int fc1, int fc2) {
    return (ms_arch_t){.in_c = in_c,
                       .in_h = hw,
                       .in_w = hw,
                       .n_conv = 1,
                       .conv_c = {conv_c},
                       .conv_k = 3,
                       .conv_pad = 1,
                       .conv_bias = 1,
                       .n_fc = 3,
                       .fc_out = {fc1, fc2, 10},
                       .fc_bias = 1};
}

void ms_test_random_split(ms_split_t *s, int n, int c, int h, int w, float amp, ms_rng_t *r) {
    const int D = c * h * w;
    *s = (ms_split_t){.n = n, .c = c, .h = h, .w = w, .n_classes = 10};
    s->x = malloc(sizeof(float) * (size_t)n * D);
    s->y = malloc((size_t)n);
    for (int i = 0; i < n; i++) {
        s->y[i] = (uint8_t)(i % 10);
        s->class_count[i % 10]++;
        for (int e = 0; e < D; e++)
            s->x[(size_t)i * D + e] = ms_rng_float(r) + amp * (e % 10 == s->y[i]);
    }
}

int ms_test_write_mnist(const char *dir, int n_train, int n_test) {
    ms_images_t tr = {0}, te = {0};
    char a[1200], b[1200], c[1200], d[1200];
    snprintf(a, sizeof a, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(b, sizeof b, "%s/train-labels-idx1-ubyte.gz", dir);
    snprintf(c, sizeof c, "%s/t10k-images-idx3-ubyte.gz", dir);
    snprintf(d, sizeof d, "%s/t10k-labels-idx1-ubyte.gz", dir);
    int rc = ms_images_synthetic(&tr, n_train, 1, 28, 28, 1);
    if (!rc) rc = ms_images_synthetic(&te, n_test, 1, 28, 28, 2);
    if (!rc) rc = ms_idx_write(a, b, &tr, 1);
    if (!rc) rc = ms_idx_write(c, d, &te, 1);
    ms_images_free(&tr);
    ms_images_free(&te);
    return rc;
}
