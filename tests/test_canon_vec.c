/* The canonical exp and log of the exact pruning (canon.h) give the same
 * bits as their earlier formulation, which converted between doubles and
 * 64-bit integers with casts (kept here as the reference), on a dense sweep
 * of their range, at the ends of every branch and on random inputs; and the
 * same bits again when a loop over them is compiled for x86-64-v3 (AVX2) or
 * x86-64-v4 (AVX-512) and vectorised, on the paths this CPU has. */
#include "check.h"
#include "modsweep/canon.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the earlier formulation (casts to and from int64_t) ---- */

static double ref_exp_reduced(double n, double r) {
    double p = 1.0 / 39916800.0;
    p = p * r + 1.0 / 3628800.0;
    p = p * r + 1.0 / 362880.0;
    p = p * r + 1.0 / 40320.0;
    p = p * r + 1.0 / 5040.0;
    p = p * r + 1.0 / 720.0;
    p = p * r + 1.0 / 120.0;
    p = p * r + 1.0 / 24.0;
    p = p * r + 1.0 / 6.0;
    p = p * r + 0.5;
    p = p * r + 1.0;
    p = p * r + 1.0;
    const int64_t k = (int64_t)n;
    return (k & 1) ? p * 0x1.6a09e667f3bcdp+0 : p;
}

static double ref_exp_core(double x) {
    const double n =
        (x * (2.0 / 6.93147180559945309417e-01) + 6755399441055744.0) - 6755399441055744.0;
    const double r = (x - n * (MS_CANON_LN2_HI / 2.0)) - n * (MS_CANON_LN2_LO / 2.0);
    const double v = ref_exp_reduced(n, r);
    const double two = ms_canon_u2d((uint64_t)(((int64_t)n >> 1) + 1023) << 52);
    return v * two;
}

static double ref_log_core(double x) {
    uint64_t bits = ms_canon_d2u(x);
    int64_t e = (int64_t)((bits >> 52) & 0x7ff) - 1022;
    bits = (bits & 0x800fffffffffffffull) | 0x3fe0000000000000ull;
    double f = ms_canon_u2d(bits);
    const int low = f < 0.70710678118654752440;
    f = low ? f * 2.0 : f;
    e = low ? e - 1 : e;
    const double u = (f - 1.0) / (f + 1.0), u2 = u * u;
    double s = 1.0 / 25.0;
    for (int k = 23; k >= 1; k -= 2)
        s = s * u2 + 1.0 / (double)k;
    const double logf = 2.0 * u * s;
    return ((double)e * MS_CANON_LN2_HI + logf) + (double)e * MS_CANON_LN2_LO;
}

/* ---- loops over the canonical functions, per target ---- */

#define LOOPS(suffix, attr)                                                                        \
    attr static void exp_loop_##suffix(const double *x, double *y, int n) {                        \
        for (int i = 0; i < n; i++)                                                                \
            y[i] = ms_canon_exp_core(x[i]);                                                        \
    }                                                                                              \
    attr static void log_loop_##suffix(const double *x, double *y, int n) {                        \
        for (int i = 0; i < n; i++)                                                                \
            y[i] = ms_canon_log_core(x[i]);                                                        \
    }                                                                                              \
    attr static void fixed_loop_##suffix(const double *x, int64_t *h, int64_t *l, int n) {         \
        int64_t hb[64], lb[64];                                                                    \
        for (int i0 = 0; i0 < n; i0 += 64) {                                                       \
            const int m = n - i0 < 64 ? n - i0 : 64;                                               \
            for (int i = 0; i < m; i++)                                                            \
                ms_canon_fixed_parts_small(x[i0 + i], &hb[i], &lb[i]);                             \
            memcpy(h + i0, hb, sizeof(int64_t) * m);                                               \
            memcpy(l + i0, lb, sizeof(int64_t) * m);                                               \
        }                                                                                          \
    }
LOOPS(base, )
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define HAVE_TARGETS 1
LOOPS(v3, __attribute__((target("arch=x86-64-v3"))))
LOOPS(v4, __attribute__((target("arch=x86-64-v4"))))
#endif

static int same(double a, double b) {
    return ms_canon_d2u(a) == ms_canon_d2u(b);
}

static double *xs_exp, *xs_log, *xs_fix;
static int n_exp, n_log, n_fix;

static void make_inputs(void) {
    const int dense = 2000000, rnd = 1000000;
    n_exp = 0, n_log = 0;
    xs_exp = malloc(sizeof(double) * (dense + rnd + 4000));
    xs_log = malloc(sizeof(double) * (dense + rnd + 4000));
    /* exp_core's range [-700, 700], densely, and the ends of each n. */
    for (int i = 0; i < dense; i++)
        xs_exp[n_exp++] = -700.0 + 1400.0 * i / (dense - 1);
    for (int k = -2020; k <= 2020; k += 3) {
        const double edge = (k + 0.5) * (6.93147180559945309417e-01 / 2.0);
        if (edge >= -700.0 && edge <= 700.0) xs_exp[n_exp++] = edge;
    }
    uint64_t s = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < rnd; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        xs_exp[n_exp++] = -700.0 + 1400.0 * (double)(s >> 11) / 9007199254740992.0;
    }
    xs_exp[n_exp++] = 0.0, xs_exp[n_exp++] = -0.0, xs_exp[n_exp++] = 700.0;
    /* log_core: positive normals, densely in [1, 16] (the pruning's sums),
     * and random exponents and mantissas over the whole normal range. */
    for (int i = 0; i < dense; i++)
        xs_log[n_log++] = 1.0 + 15.0 * i / (dense - 1);
    for (int i = 0; i < rnd; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        const uint64_t e = 1 + (s >> 33) % 2046, m = s & 0xfffffffffffffull;
        xs_log[n_log++] = ms_canon_u2d(e << 52 | m);
    }
    xs_log[n_log++] = 2.2250738585072014e-308, xs_log[n_log++] = 1.7976931348623157e308;
    xs_log[n_log++] = 0.70710678118654752440, xs_log[n_log++] = 1.0;
    /* The losses' fixed point (|ce| < 2^50): densely over the losses a
     * pruning sees, whole numbers and their neighbours, tiny values of both
     * signs (whose fraction rounds to 1), and random doubles of every
     * exponent below 2^50 of both signs. */
    xs_fix = malloc(sizeof(double) * (dense + rnd + 4000));
    n_fix = 0;
    for (int i = 0; i < dense; i++)
        xs_fix[n_fix++] = -2.0 + 66.0 * i / (dense - 1);
    for (int k = -300; k <= 300; k++) {
        const double w = k * 7.0;
        xs_fix[n_fix++] = w;
        xs_fix[n_fix++] = nextafter(w, -1e300);
        xs_fix[n_fix++] = nextafter(w, 1e300);
    }
    for (int k = 1; k < 1074; k += 3) {
        xs_fix[n_fix++] = ldexp(1.0, -k);
        xs_fix[n_fix++] = -ldexp(1.0, -k);
    }
    xs_fix[n_fix++] = 0x1p50 - 0.25, xs_fix[n_fix++] = -0x1p50 + 0.5, xs_fix[n_fix++] = -0.0;
    for (int i = 0; i < rnd; i++) {
        s = s * 6364136223846793005ull + 1442695040888963407ull;
        const uint64_t e = 1 + (s >> 33) % (1023 + 49), m = s & 0xfffffffffffffull;
        xs_fix[n_fix++] = ms_canon_u2d((uint64_t)(s >> 63) << 63 | e << 52 | m);
    }
}

/* ms_canon_fixed_parts_small, in a loop compiled for one target, against
 * ms_canon_fixed_parts. */
static void check_fixed(const char *what, void (*loop)(const double *, int64_t *, int64_t *, int)) {
    int64_t *h = malloc(sizeof(int64_t) * n_fix), *l = malloc(sizeof(int64_t) * n_fix);
    loop(xs_fix, h, l, n_fix);
    int bad = 0;
    for (int i = 0; i < n_fix && bad < 5; i++) {
        int64_t rh, rl;
        ms_canon_fixed_parts(xs_fix[i], &rh, &rl);
        if (h[i] != rh || l[i] != rl) {
            ms_test_fail_at(__FILE__, __LINE__,
                            "%s(%.17g) = (%lld, %lld), ms_canon_fixed_parts gives (%lld, %lld)",
                            what, xs_fix[i], (long long)h[i], (long long)l[i], (long long)rh,
                            (long long)rl);
            bad++;
        }
    }
    free(h);
    free(l);
}

static void check_loop(const char *what, void (*loop)(const double *, double *, int),
                       double (*ref)(double), const double *x, int n) {
    double *y = malloc(sizeof(double) * n);
    loop(x, y, n);
    int bad = 0;
    for (int i = 0; i < n && bad < 5; i++)
        if (!same(y[i], ref(x[i]))) {
            ms_test_fail_at(__FILE__, __LINE__,
                            "%s(%.17g) = %.17g, the earlier formula gives %.17g", what, x[i], y[i],
                            ref(x[i]));
            bad++;
        }
    free(y);
}

static void test_scalar(void) {
    check_loop("exp_core", exp_loop_base, ref_exp_core, xs_exp, n_exp);
    check_loop("log_core", log_loop_base, ref_log_core, xs_log, n_log);
    check_fixed("fixed_parts_small", fixed_loop_base);
    /* The full functions: their core path and their other branches. */
    for (int i = 0; i < n_exp; i += 97)
        CHECK(same(ms_canon_exp(xs_exp[i]), ref_exp_core(xs_exp[i])));
    for (int i = 0; i < n_log; i += 97)
        CHECK(same(ms_canon_log(xs_log[i]), ref_log_core(xs_log[i])));
    for (double x = -745.0; x < -700.0; x += 0.37) {
        const double n =
            (x * (2.0 / 6.93147180559945309417e-01) + 6755399441055744.0) - 6755399441055744.0;
        const double r = (x - n * (MS_CANON_LN2_HI / 2.0)) - n * (MS_CANON_LN2_LO / 2.0);
        CHECK(same(ms_canon_exp(x), ldexp(ref_exp_reduced(n, r), (int)((int64_t)n >> 1))));
    }
    CHECK(same(ms_canon_log(5e-324),
               (ref_log_core(5e-324 * 18014398509481984.0) - 54.0 * MS_CANON_LN2_HI) -
                   54.0 * MS_CANON_LN2_LO));
}

static void test_vector(void) {
#ifdef HAVE_TARGETS
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
        __builtin_cpu_supports("bmi2")) {
        check_loop("exp_core (x86-64-v3)", exp_loop_v3, ref_exp_core, xs_exp, n_exp);
        check_loop("log_core (x86-64-v3)", log_loop_v3, ref_log_core, xs_log, n_log);
        check_fixed("fixed_parts_small (x86-64-v3)", fixed_loop_v3);
    } else {
        printf("  x86-64-v3: this CPU lacks it, not run\n");
    }
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl")) {
        check_loop("exp_core (x86-64-v4)", exp_loop_v4, ref_exp_core, xs_exp, n_exp);
        check_loop("log_core (x86-64-v4)", log_loop_v4, ref_log_core, xs_log, n_log);
        check_fixed("fixed_parts_small (x86-64-v4)", fixed_loop_v4);
    } else {
        printf("  x86-64-v4: this CPU lacks it, not run\n");
    }
#else
    printf("  per-target loops need GCC on x86-64, not run\n");
#endif
}

int main(void) {
    make_inputs();
    RUN_TEST(test_scalar);
    RUN_TEST(test_vector);
    free(xs_exp);
    free(xs_log);
    free(xs_fix);
    return ms_test_summary();
}
