/* Minimal test harness: one function per behaviour, assertions that print
 * both values and the line, a summary, and exit codes ctest understands
 * (0 pass, 1 fail, 77 skipped). */
#ifndef MS_CHECK_H
#define MS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

extern int ms_test_failures;
extern const char *ms_test_current;

void ms_test_fail_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) ms_test_fail_at(__FILE__, __LINE__, "CHECK(%s) failed", #cond);              \
    } while (0)

#define CHECK_MSG(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) ms_test_fail_at(__FILE__, __LINE__, __VA_ARGS__);                             \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long ms_a_ = (long long)(a), ms_b_ = (long long)(b);                                  \
        if (ms_a_ != ms_b_)                                                                        \
            ms_test_fail_at(__FILE__, __LINE__, "%s == %s: %lld != %lld", #a, #b, ms_a_, ms_b_);   \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double ms_a_ = (double)(a), ms_b_ = (double)(b), ms_t_ = (double)(tol);                    \
        if (!(fabs(ms_a_ - ms_b_) <= ms_t_))                                                       \
            ms_test_fail_at(__FILE__, __LINE__, "%s ~ %s: %.9g vs %.9g (|diff| %.3g > %.3g)", #a,  \
                            #b, ms_a_, ms_b_, fabs(ms_a_ - ms_b_), ms_t_);                         \
    } while (0)

/* a call returning an ms_err_t must succeed */
#define CHECK_OK(call)                                                                             \
    do {                                                                                           \
        int ms_rc_ = (call);                                                                       \
        if (ms_rc_ != 0)                                                                           \
            ms_test_fail_at(__FILE__, __LINE__, "%s returned %d: %s", #call, ms_rc_,               \
                            ms_err_msg());                                                         \
    } while (0)

#define RUN_TEST(fn)                                                                               \
    do {                                                                                           \
        ms_test_current = #fn;                                                                     \
        int ms_before_ = ms_test_failures;                                                         \
        fn();                                                                                      \
        printf("%s %s\n", ms_test_failures == ms_before_ ? "ok  " : "FAIL", #fn);                  \
        fflush(stdout);                                                                            \
    } while (0)

/* Ends main: prints the summary, returns the exit code. */
int ms_test_summary(void);

/* Exit code for a test that cannot run here (prints why). */
#define MS_TEST_SKIP 77
int ms_test_skip(const char *why);

/* The start and end of a GPU test's main (test_cuda_*.c):
 * ms_test_need_gpu returns 0 when this process has a usable GPU, else prints
 * "SKIPPED: no GPU (why)" and returns MS_TEST_SKIP (in a build without the
 * CUDA backend too); ms_test_gpu_begin calls MPI_Init, gives the CPU kernels
 * two threads and, when bind0, binds GPU 0; ms_test_gpu_end releases the GPU,
 * prints the summary and calls MPI_Finalize, returning main's exit code. */
int ms_test_need_gpu(void);
void ms_test_gpu_begin(int *argc, char ***argv, int bind0);
int ms_test_gpu_end(void);

/* Max |a - b| over n floats / doubles. */
double ms_max_abs_diff_f(const float *a, const float *b, size_t n);
double ms_max_abs_diff_d(const double *a, const double *b, size_t n);

/* A temporary directory unique to this process (created on first call). */
const char *ms_test_tmpdir(void);
/* Path of a fixture file under $MS_FIXTURES (or tests/fixtures). */
const char *ms_fixture_path(const char *name, char *buf, size_t n);

#endif
