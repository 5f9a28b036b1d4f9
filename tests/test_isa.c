/* The instruction-set paths of the training kernels (isa.h): the choice
 * follows the CPU (checked against the flags of /proc/cpuinfo, not the
 * code's own cpuid test) and MODSWEEP_ISA, a path the CPU lacks or an
 * unknown name is refused with a message, and on every path this CPU has,
 * each kernel agrees with a plain double-precision loop written here. The
 * avx2 and avx512 paths must agree bit for bit (both use FMA and the same
 * summation order); the generic path only within rounding. The fc layers
 * must also give exactly the bits of their promised summation order,
 * emulated here one operation at a time, on every path.
 *
 * Shapes are chosen to hit every tile and tail: widths that are not
 * multiples of 16, 8 or 4, filter counts not multiples of the filter
 * blocks, kernel sides 3, 4 and 5, tap rows of 16, 32 and more floats
 * (the conv weight gradient's specialised and general loops), several
 * chunks; fc layers with tails of every kind (k blocks of 16, vectors,
 * register tiles, work items). Every output of the conv block and of the
 * fc layers is also the same bits on 1 and on 3 threads. */
#include "check.h"
#include "modsweep/error.h"
#include "modsweep/isa.h"
#include "modsweep/kernels.h"
#include "modsweep/rng.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ms_rng_t rng;

static float *randv(size_t n, float scale) {
    float *a = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++)
        a[i] = scale * (2.0f * ms_rng_float(&rng) - 1.0f);
    return a;
}

/* ---- the CPU's flags, read independently of isa.c ---- */

static int has_flag(const char *flags, const char *f) {
    size_t n = strlen(f);
    for (const char *p = flags; (p = strstr(p, f)); p += n)
        if ((p == flags || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\n' || !p[n])) return 1;
    return 0;
}

static int cpu_has(ms_isa_t isa) {
    static char flags[8192];
    if (!flags[0]) {
        FILE *f = fopen("/proc/cpuinfo", "r");
        char line[8192];
        while (f && fgets(line, sizeof line, f))
            if (!strncmp(line, "flags", 5)) {
                snprintf(flags, sizeof flags, "%s", line);
                break;
            }
        if (f) fclose(f);
    }
    static const char *v3[] = {"avx", "avx2", "fma", "bmi1", "bmi2", "popcnt", NULL};
    static const char *v4[] = {"avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512cd", NULL};
    if (isa == MS_ISA_GENERIC) return 1;
    for (const char **f = v3; *f; f++)
        if (!has_flag(flags, *f)) return 0;
    if (isa == MS_ISA_AVX2) return 1;
    for (const char **f = v4; *f; f++)
        if (!has_flag(flags, *f)) return 0;
    return 1;
}

static void test_dispatch(void) {
    ms_isa_t best = MS_ISA_GENERIC;
    for (int i = 0; i < MS_ISA_COUNT; i++) {
        CHECK_MSG(ms_isa_supported((ms_isa_t)i) == cpu_has((ms_isa_t)i),
                  "path %s: supported %d, /proc/cpuinfo says %d", ms_isa_name((ms_isa_t)i),
                  ms_isa_supported((ms_isa_t)i), cpu_has((ms_isa_t)i));
        if (cpu_has((ms_isa_t)i)) best = (ms_isa_t)i;
    }
    /* Without MODSWEEP_ISA (and with "auto") the best path the CPU has. */
    unsetenv("MODSWEEP_ISA");
    CHECK_OK(ms_isa_init());
    CHECK_EQ_INT(ms_isa_current(), best);
    setenv("MODSWEEP_ISA", "auto", 1);
    CHECK_OK(ms_isa_init());
    CHECK_EQ_INT(ms_isa_current(), best);
    /* Each path by name: taken if the CPU has it, refused with a message if not. */
    for (int i = 0; i < MS_ISA_COUNT; i++) {
        const char *name = ms_isa_name((ms_isa_t)i);
        CHECK_EQ_INT(ms_isa_parse(name), i);
        setenv("MODSWEEP_ISA", name, 1);
        int rc = ms_isa_init();
        if (cpu_has((ms_isa_t)i)) {
            CHECK_EQ_INT(rc, 0);
            CHECK_EQ_INT(ms_isa_current(), i);
        } else {
            CHECK_EQ_INT(rc, MS_EINVAL);
            CHECK_MSG(strstr(ms_err_msg(), "lacks") && strstr(ms_err_msg(), name),
                      "refusal of %s: %s", name, ms_err_msg());
            CHECK_EQ_INT(ms_isa_current(), i - 1); /* the earlier choice stays */
        }
    }
    setenv("MODSWEEP_ISA", "avx3", 1);
    CHECK_EQ_INT(ms_isa_init(), MS_EINVAL);
    CHECK_MSG(strstr(ms_err_msg(), "MODSWEEP_ISA=avx3"), "unknown name: %s", ms_err_msg());
    CHECK_EQ_INT(ms_isa_parse("AVX2"), -1);
    CHECK_EQ_INT(ms_isa_select(MS_ISA_COUNT), MS_EINVAL);
    unsetenv("MODSWEEP_ISA");
    char model[128];
    ms_cpu_model(model, sizeof model);
    CHECK(model[0] && model[strlen(model) - 1] != ' ');
    CHECK(ms_blas_core()[0]);
    printf("  cpu %s, best path %s, BLAS core %s\n", model, ms_isa_name(best), ms_blas_core());
}

/* ---- the kernels against plain loops ---- */

/* Every output of one path, kept to compare paths bit for bit. */
#define MAX_OUT 96
static struct {
    int n;
    float *v[MAX_OUT];
    size_t len[MAX_OUT];
    char what[MAX_OUT][64];
} outs[MS_ISA_COUNT];
static ms_isa_t cur;

static void keep(const char *what, const float *v, size_t n) {
    int k = outs[cur].n++;
    if (k >= MAX_OUT) return;
    outs[cur].v[k] = malloc(sizeof(float) * (n ? n : 1));
    memcpy(outs[cur].v[k], v, sizeof(float) * n);
    outs[cur].len[k] = n;
    snprintf(outs[cur].what[k], sizeof outs[cur].what[k], "%s", what);
}

/* got[i] within rel * scale[i] + 1e-6 of ref[i] (scale: the sum of the
 * absolute terms of ref[i], or |ref[i]| when NULL). */
static void near(const char *what, const float *got, const double *ref, const double *scale,
                 size_t n, double rel) {
    int bad = 0;
    for (size_t i = 0; i < n && bad < 3; i++) {
        double s = scale ? scale[i] : fabs(ref[i]);
        if (!(fabs(got[i] - ref[i]) <= rel * s + 1e-6)) {
            ms_test_fail_at(__FILE__, __LINE__, "%s [%zu]: %.9g vs reference %.9g (path %s)", what,
                            i, got[i], ref[i], ms_isa_name(cur));
            bad++;
        }
    }
    keep(what, got, n);
}

static void conv_case(int B, int C, int H, int W, int F, int K, int P, int bias) {
    const int HO = H + 2 * P - K + 1, WO = W + 2 * P - K + 1, PH = HO / 2, PW = WO / 2;
    const size_t nx = (size_t)B * C * H * W, nw = (size_t)F * C * K * K;
    const size_t na = (size_t)B * F * HO * WO, np = (size_t)B * F * PH * PW;
    char what[64];
    snprintf(what, sizeof what, "conv B%d C%d %dx%d F%d K%d P%d", B, C, H, W, F, K, P);
    ms_rng_init(&rng, 7, 0, (uint32_t)((uint64_t)(B * 131 + W * 7 + F)));
    float *x = randv(nx, 1.0f), *w = randv(nw, 0.5f), *b = bias ? randv(F, 0.2f) : NULL;
    float *dp = randv(np, 1.0f);
    float *act = malloc(sizeof(float) * na), *pooled = malloc(sizeof(float) * np);
    uint8_t *idx = malloc(np);
    const int T = ms_kernels_threads();
    float *scratch = malloc(sizeof(float) * ms_conv_scratch_floats(C, H, W, F, K, P) * T);
    float *partial = malloc(sizeof(float) * ms_conv_backward_partial_floats(B, C, H, W, F, K, P));
    float *dx = malloc(sizeof(float) * nx), *dw = malloc(sizeof(float) * nw),
          *db = malloc(sizeof(float) * F);
    ms_conv_relu_pool_forward(act, pooled, idx, x, w, b, B, C, H, W, F, K, P, scratch);
    ms_conv_relu_pool_backward(dx, dw, db, dp, act, pooled, idx, x, w, B, C, H, W, F, K, P,
                               partial);

    /* Forward: ReLU(conv + b) in double; pooling checked on the kernel's act. */
    double *ra = calloc(na, sizeof(double)), *sa = calloc(na, sizeof(double));
    for (int i = 0; i < B; i++)
        for (int f = 0; f < F; f++)
            for (int y = 0; y < HO; y++)
                for (int xo = 0; xo < WO; xo++) {
                    double s = b ? b[f] : 0.0, m = b ? fabs(b[f]) : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int ky = 0; ky < K; ky++)
                            for (int kx = 0; kx < K; kx++) {
                                const int yy = y + ky - P, xx = xo + kx - P;
                                if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                const double t =
                                    (double)w[((size_t)(f * C + c) * K + ky) * K + kx] *
                                    x[((size_t)(i * C + c) * H + yy) * W + xx];
                                s += t, m += fabs(t);
                            }
                    const size_t o = (((size_t)i * F + f) * HO + y) * WO + xo;
                    ra[o] = s > 0 ? s : 0;
                    sa[o] = m;
                }
    snprintf(what + strlen(what), sizeof what - strlen(what), " act");
    near(what, act, ra, sa, na, 1e-5);
    int bad = 0;
    for (size_t pl = 0; pl < (size_t)B * F && bad < 3; pl++)
        for (int py = 0; py < PH; py++)
            for (int px = 0; px < PW; px++) {
                const float *a = act + pl * HO * WO;
                const int o[4] = {2 * py * WO + 2 * px, 2 * py * WO + 2 * px + 1,
                                  (2 * py + 1) * WO + 2 * px, (2 * py + 1) * WO + 2 * px + 1};
                int best = 0;
                for (int q = 1; q < 4; q++)
                    if (a[o[q]] > a[o[best]]) best = q;
                const size_t k = pl * PH * PW + py * PW + px;
                if (idx[k] != best || pooled[k] != a[o[best]]) {
                    ms_test_fail_at(__FILE__, __LINE__, "%s: pool window %zu: idx %d (want %d)",
                                    what, k, idx[k], best);
                    bad++;
                }
            }
    keep("pooled", pooled, np);
    /* Without act (the trainer's way): the same pooling, bit for bit. */
    {
        float *pooled2 = malloc(sizeof(float) * np);
        uint8_t *idx2 = malloc(np);
        ms_conv_relu_pool_forward(NULL, pooled2, idx2, x, w, b, B, C, H, W, F, K, P, scratch);
        CHECK_MSG(!memcmp(pooled2, pooled, sizeof(float) * np), "%s: pooled without act", what);
        CHECK_MSG(!memcmp(idx2, idx, np), "%s: idx without act", what);
        free(pooled2), free(idx2);
    }

    /* Backward from the kernel's own act and idx, in double. */
    double *rw = calloc(nw, sizeof(double)), *sw = calloc(nw, sizeof(double));
    double *rb = calloc(F, sizeof(double)), *sb = calloc(F, sizeof(double));
    double *rx = calloc(nx, sizeof(double)), *sx = calloc(nx, sizeof(double));
    for (size_t pl = 0; pl < (size_t)B * F; pl++) {
        const int i = (int)(pl / F), f = (int)(pl % F);
        for (int q = 0; q < PH * PW; q++) {
            const int at = idx[pl * PH * PW + q];
            const int y = 2 * (q / PW) + (at >> 1), xo = 2 * (q % PW) + (at & 1), o = y * WO + xo;
            if (!(act[pl * HO * WO + o] > 0)) continue;
            const double g = dp[pl * PH * PW + q];
            rb[f] += g, sb[f] += fabs(g);
            for (int c = 0; c < C; c++)
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++) {
                        const int yy = y + ky - P, xx = xo + kx - P;
                        if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                        const size_t wi = ((size_t)(f * C + c) * K + ky) * K + kx;
                        const size_t xi = ((size_t)(i * C + c) * H + yy) * W + xx;
                        rw[wi] += g * x[xi], sw[wi] += fabs(g * x[xi]);
                        rx[xi] += g * w[wi], sx[xi] += fabs(g * w[wi]);
                    }
        }
    }
    near("conv dw", dw, rw, sw, nw, 1e-5);
    if (b) near("conv db", db, rb, sb, F, 1e-5);
    near("conv dx", dx, rx, sx, nx, 1e-5);
    free(ra), free(sa), free(rw), free(sw), free(rb), free(sb), free(rx), free(sx);
    free(x), free(w), free(b), free(dp), free(act), free(pooled), free(idx), free(scratch);
    free(partial), free(dx), free(dw), free(db);
}

/* c + a * b as the path computes it: one FMA on the paths with FMA units,
 * a multiply and then an add on generic (this file is compiled without
 * contraction). */
static float madd_path(float a, float b, float c) {
    return cur == MS_ISA_GENERIC ? c + a * b : fmaf(a, b, c);
}

/* The first element where a and b differ in bits, or -1. */
static long first_diff(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (memcmp(a + i, b + i, sizeof(float))) return (long)i;
    return -1;
}

/* The fc layer in the order docs/fc-kernels.md promises, one float
 * operation at a time: the kernels must give these bits on every path,
 * generic included. Forward: 16 lanes, lane j summing k = j, j+16, ... in
 * order, zero-padded to a multiple of 16, then the tree (i + i+8, i + i+4,
 * i + i+2, i + i+1), then the bias. Backward: one chain per output, in
 * order, from +0. */
static void linear_order_check(const float *z, const float *dx, const float *dw, const float *db,
                               const float *x, const float *w, const float *b, const float *dz,
                               int B, int NI, int O) {
    const int K16 = (NI + 15) / 16 * 16;
    float *ez = malloc(sizeof(float) * B * O), *edx = malloc(sizeof(float) * B * NI),
          *edw = malloc(sizeof(float) * O * NI), *edb = malloc(sizeof(float) * O);
    for (int r = 0; r < B; r++)
        for (int o = 0; o < O; o++) {
            float l[16] = {0};
            for (int k = 0; k < K16; k++)
                l[k % 16] = madd_path(k < NI ? x[(size_t)r * NI + k] : 0.0f,
                                      k < NI ? w[(size_t)o * NI + k] : 0.0f, l[k % 16]);
            float s8[8], s4[4];
            for (int i = 0; i < 8; i++)
                s8[i] = l[i] + l[i + 8];
            for (int i = 0; i < 4; i++)
                s4[i] = s8[i] + s8[i + 4];
            const float s2a = s4[0] + s4[2], s2b = s4[1] + s4[3];
            ez[(size_t)r * O + o] = (s2a + s2b) + b[o];
        }
    for (int k = 0; k < NI; k++) {
        for (int o = 0; o < O; o++) {
            float acc = 0.0f;
            for (int r = 0; r < B; r++)
                acc = madd_path(dz[(size_t)r * O + o], x[(size_t)r * NI + k], acc);
            edw[(size_t)o * NI + k] = acc;
        }
        for (int r = 0; r < B; r++) {
            float acc = 0.0f;
            for (int o = 0; o < O; o++)
                acc = madd_path(dz[(size_t)r * O + o], w[(size_t)o * NI + k], acc);
            edx[(size_t)r * NI + k] = acc;
        }
    }
    for (int o = 0; o < O; o++) {
        float acc = 0.0f;
        for (int r = 0; r < B; r++)
            acc += dz[(size_t)r * O + o];
        edb[o] = acc;
    }
    const float *got[4] = {z, dx, dw, db}, *want[4] = {ez, edx, edw, edb};
    const size_t len[4] = {(size_t)B * O, (size_t)B * NI, (size_t)O * NI, (size_t)O};
    const char *name[4] = {"z", "dx", "dw", "db"};
    for (int q = 0; q < 4; q++) {
        const long i = first_diff(got[q], want[q], len[q]);
        CHECK_MSG(i < 0, "linear B%d NI%d O%d, path %s: %s[%ld] = %.9g, in order %.9g", B, NI, O,
                  ms_isa_name(cur), name[q], i, i < 0 ? 0.0 : got[q][i], i < 0 ? 0.0 : want[q][i]);
    }
    free(ez), free(edx), free(edw), free(edb);
}

static void linear_case(int B, int NI, int O) {
    ms_rng_init(&rng, 11, 0, (uint32_t)((uint64_t)(B + NI + O)));
    float *x = randv((size_t)B * NI, 1.0f), *w = randv((size_t)O * NI, 0.3f), *b = randv(O, 0.1f);
    float *dz = randv((size_t)B * O, 1.0f);
    float *z = malloc(sizeof(float) * B * O), *dx = malloc(sizeof(float) * B * NI),
          *dw = malloc(sizeof(float) * O * NI), *db = malloc(sizeof(float) * O);
    ms_linear_forward(z, x, w, b, B, NI, O);
    ms_linear_backward(dx, dw, db, dz, x, w, B, NI, O);
    double *rz = calloc((size_t)B * O, sizeof(double)), *sz = calloc((size_t)B * O, sizeof(double));
    double *rx = calloc((size_t)B * NI, sizeof(double)),
           *sx = calloc((size_t)B * NI, sizeof(double));
    double *rw = calloc((size_t)O * NI, sizeof(double)),
           *sw = calloc((size_t)O * NI, sizeof(double));
    double *rb = calloc(O, sizeof(double)), *sb = calloc(O, sizeof(double));
    for (int r = 0; r < B; r++)
        for (int o = 0; o < O; o++) {
            double s = b[o], m = fabs(b[o]);
            for (int k = 0; k < NI; k++) {
                const double t = (double)x[(size_t)r * NI + k] * w[(size_t)o * NI + k];
                s += t, m += fabs(t);
                const double g = dz[(size_t)r * O + o];
                rx[(size_t)r * NI + k] += g * w[(size_t)o * NI + k];
                sx[(size_t)r * NI + k] += fabs(g * w[(size_t)o * NI + k]);
                rw[(size_t)o * NI + k] += g * x[(size_t)r * NI + k];
                sw[(size_t)o * NI + k] += fabs(g * x[(size_t)r * NI + k]);
            }
            rz[(size_t)r * O + o] = s, sz[(size_t)r * O + o] = m;
            rb[o] += dz[(size_t)r * O + o], sb[o] += fabs(dz[(size_t)r * O + o]);
        }
    near("linear z", z, rz, sz, (size_t)B * O, 1e-5);
    near("linear dx", dx, rx, sx, (size_t)B * NI, 1e-5);
    near("linear dw", dw, rw, sw, (size_t)O * NI, 1e-5);
    near("linear db", db, rb, sb, O, 1e-5);
    linear_order_check(z, dx, dw, db, x, w, b, dz, B, NI, O);
    free(x), free(w), free(b), free(dz), free(z), free(dx), free(dw), free(db);
    free(rz), free(sz), free(rx), free(sx), free(rw), free(sw), free(rb), free(sb);
}

static void pointwise_cases(void) {
    const int B = 37, O = 29, n = B * O;
    ms_rng_init(&rng, 13, 0, (uint32_t)(0));
    float *a0 = randv(n, 1.0f), *d0 = randv(n, 1.0f);
    float *a = malloc(sizeof(float) * n), *d = malloc(sizeof(float) * n);
    double *ra = malloc(sizeof(double) * n), *rd = malloc(sizeof(double) * n);
    const float p = 0.3f;
    memcpy(a, a0, sizeof(float) * n);
    ms_relu_dropout_forward(a, B, O, p, 99, 5, 1000);
    for (int e = 0; e < n; e++) {
        const int kept = ms_rng_float_at(99, MS_RNG_DROPOUT, 5, 1000 + (uint64_t)e) >= p;
        ra[e] = a0[e] > 0 && kept ? (double)a0[e] / (1.0 - p) : 0.0;
    }
    near("dropout forward", a, ra, NULL, n, 1e-6);
    memcpy(d, d0, sizeof(float) * n);
    ms_relu_dropout_backward(d, a, n, p);
    for (int e = 0; e < n; e++)
        rd[e] = a[e] > 0 ? (double)d0[e] / (1.0 - p) : 0.0;
    near("dropout backward", d, rd, NULL, n, 1e-6);

    /* Cross-entropy of 10 classes. */
    uint8_t y[37];
    for (int i = 0; i < B; i++)
        y[i] = (uint8_t)(i % 10);
    float *logits = randv((size_t)B * 10, 4.0f), *dl = malloc(sizeof(float) * B * 10);
    double per[37], rper[37], rl[370], total = 0;
    const double loss = ms_ce_loss(logits, y, B, 10, dl, per);
    for (int i = 0; i < B; i++) {
        double s = 0;
        for (int c = 0; c < 10; c++)
            s += exp((double)logits[i * 10 + c]);
        rper[i] = log(s) - logits[i * 10 + y[i]];
        total += rper[i];
        for (int c = 0; c < 10; c++)
            rl[i * 10 + c] = (exp((double)logits[i * 10 + c]) / s - (c == y[i])) / B;
    }
    CHECK_NEAR(loss, total / B, 1e-12 * B);
    for (int i = 0; i < B; i++)
        CHECK_NEAR(per[i], rper[i], 1e-12);
    near("ce dlogits", dl, rl, NULL, (size_t)B * 10, 1e-6);
    float lossf = (float)loss;
    keep("ce loss", &lossf, 1);

    /* SGD with momentum (two steps) and Adam (three steps), as PyTorch. */
    const size_t m = 1001;
    float *p0 = randv(m, 1.0f), *g = randv(m, 0.5f), *ps = malloc(sizeof(float) * m),
          *buf = calloc(m, sizeof(float)), *pa = malloc(sizeof(float) * m),
          *mm = calloc(m, sizeof(float)), *vv = calloc(m, sizeof(float));
    double *rp = malloc(sizeof(double) * m);
    memcpy(ps, p0, sizeof(float) * m);
    for (long t = 1; t <= 2; t++)
        ms_sgd_step(ps, g, buf, m, 0.1f, 0.9f, t);
    for (size_t j = 0; j < m; j++)
        rp[j] = p0[j] - 0.1 * g[j] - 0.1 * (0.9 * g[j] + g[j]);
    near("sgd", ps, rp, NULL, m, 1e-6);
    memcpy(pa, p0, sizeof(float) * m);
    for (long t = 1; t <= 3; t++)
        ms_adam_step(pa, g, mm, vv, m, 1e-2f, 0.9f, 0.999f, 1e-8f, t);
    for (size_t j = 0; j < m; j++) {
        double q = p0[j], mj = 0, vj = 0;
        for (int t = 1; t <= 3; t++) {
            mj = 0.9 * mj + 0.1 * g[j];
            vj = 0.999 * vj + 0.001 * (double)g[j] * g[j];
            const double mh = mj / (1 - pow(0.9, t)), vh = vj / (1 - pow(0.999, t));
            q -= 1e-2 * mh / (sqrt(vh) + 1e-8);
        }
        rp[j] = q;
    }
    near("adam", pa, rp, NULL, m, 1e-5);
    free(a0), free(d0), free(a), free(d), free(ra), free(rd), free(logits), free(dl);
    free(p0), free(g), free(ps), free(buf), free(pa), free(mm), free(vv), free(rp);
}

static void run_path(void) {
    /* (B, C, H, W, F, K, P, bias): the paper CNN's block, tails of every
     * width, odd filter counts, kernel sides 3, 4, 5, one and two chunks. */
    conv_case(17, 3, 32, 32, 16, 3, 1, 1);
    conv_case(2, 1, 20, 37, 11, 3, 1, 1);
    conv_case(3, 2, 12, 50, 9, 4, 0, 0);
    conv_case(2, 3, 9, 23, 5, 5, 2, 1);
    conv_case(3, 1, 10, 13, 7, 5, 2, 1); /* 25 taps: one 32-float row, K = 5 */
    /* (B, NI, O): tails of the batch rows, the 16-float k blocks, the
     * vectors and the column tiles, and of the register tiles' rows and
     * outputs; the paper CNN's and MLP's fc shapes. */
    linear_case(37, 50, 13);
    linear_case(64, 1100, 70); /* several column tiles of the backward */
    linear_case(5, 4096, 64);
    linear_case(64, 64, 10);
    linear_case(3, 17, 3);
    linear_case(64, 784, 128);
    linear_case(1, 1, 1);
    linear_case(67, 300, 7);   /* more than one forward work item of 64 rows */
    linear_case(2, 15, 5);     /* fewer than 16 inputs: only the padded block */
    linear_case(130, 1024, 9); /* the backward's chains over B in pieces */
    pointwise_cases();
}

static void test_paths(void) {
    ms_kernels_set_threads(2);
    for (int i = 0; i < MS_ISA_COUNT; i++) {
        cur = (ms_isa_t)i;
        if (!ms_isa_supported(cur)) {
            printf("  path %s: this CPU lacks it, not run\n", ms_isa_name(cur));
            continue;
        }
        CHECK_OK(ms_isa_select(cur));
        CHECK_EQ_INT(ms_isa_current(), cur);
        run_path();
        printf("  path %s: %d outputs checked\n", ms_isa_name(cur), outs[cur].n);
    }
    /* avx2 and avx512: the same FMAs in the same order, so the same bits. */
    if (outs[MS_ISA_AVX2].n && outs[MS_ISA_AVX512].n) {
        CHECK_EQ_INT(outs[MS_ISA_AVX2].n, outs[MS_ISA_AVX512].n);
        for (int k = 0; k < outs[MS_ISA_AVX2].n && k < MAX_OUT; k++)
            CHECK_MSG(!memcmp(outs[MS_ISA_AVX2].v[k], outs[MS_ISA_AVX512].v[k],
                              sizeof(float) * outs[MS_ISA_AVX2].len[k]),
                      "%s: avx2 and avx512 differ in bits", outs[MS_ISA_AVX2].what[k]);
    }
    for (int i = 0; i < MS_ISA_COUNT; i++)
        for (int k = 0; k < outs[i].n && k < MAX_OUT; k++)
            free(outs[i].v[k]);
}

/* The conv block forward and backward on 1 and on 3 threads: every output
 * the same bits (the images split into chunks of MS_CHUNK whose partial
 * sums are combined in chunk order, whichever thread computed them). */
static void conv_threads_case(int B, int C, int H, int W, int F, int K, int P) {
    const int HO = H + 2 * P - K + 1, WO = W + 2 * P - K + 1, PH = HO / 2, PW = WO / 2;
    const size_t nx = (size_t)B * C * H * W, nw = (size_t)F * C * K * K;
    const size_t na = (size_t)B * F * HO * WO, np = (size_t)B * F * PH * PW;
    ms_rng_init(&rng, 17, 0, (uint32_t)(B * 7 + F));
    float *x = randv(nx, 1.0f), *w = randv(nw, 0.5f), *b = randv(F, 0.2f), *dp = randv(np, 1.0f);
    float *out[2][5];
    uint8_t *idx[2];
    for (int t = 0; t < 2; t++) {
        const int T = t ? 3 : 1;
        ms_kernels_set_threads(T);
        float *act = malloc(sizeof(float) * na), *pooled = malloc(sizeof(float) * np);
        float *scratch = malloc(sizeof(float) * ms_conv_scratch_floats(C, H, W, F, K, P) * T);
        float *partial =
            malloc(sizeof(float) * ms_conv_backward_partial_floats(B, C, H, W, F, K, P));
        float *dx = malloc(sizeof(float) * nx), *dw = malloc(sizeof(float) * nw),
              *db = malloc(sizeof(float) * F);
        idx[t] = malloc(np);
        ms_conv_relu_pool_forward(act, pooled, idx[t], x, w, b, B, C, H, W, F, K, P, scratch);
        ms_conv_relu_pool_backward(dx, dw, db, dp, act, pooled, idx[t], x, w, B, C, H, W, F, K, P,
                                   partial);
        out[t][0] = act, out[t][1] = pooled, out[t][2] = dw, out[t][3] = db, out[t][4] = dx;
        free(scratch), free(partial);
    }
    const size_t len[5] = {na, np, nw, (size_t)F, nx};
    const char *name[5] = {"act", "pooled", "dw", "db", "dx"};
    for (int k = 0; k < 5; k++)
        CHECK_MSG(!memcmp(out[0][k], out[1][k], sizeof(float) * len[k]),
                  "conv B%d C%d %dx%d F%d K%d, path %s: %s differs between 1 and 3 threads", B, C,
                  H, W, F, K, ms_isa_name(ms_isa_current()), name[k]);
    CHECK(!memcmp(idx[0], idx[1], np));
    for (int t = 0; t < 2; t++) {
        for (int k = 0; k < 5; k++)
            free(out[t][k]);
        free(idx[t]);
    }
    free(x), free(w), free(b), free(dp);
}

/* The fc layer forward and backward on 1 and on 3 threads: every output the
 * same bits (each output is one fixed sum, whichever thread computes it). */
static void linear_threads_case(int B, int NI, int O) {
    ms_rng_init(&rng, 19, 0, (uint32_t)(B * 7 + NI + O));
    float *x = randv((size_t)B * NI, 1.0f), *w = randv((size_t)O * NI, 0.3f), *b = randv(O, 0.1f);
    float *dz = randv((size_t)B * O, 1.0f);
    float *out[2][4];
    for (int t = 0; t < 2; t++) {
        ms_kernels_set_threads(t ? 3 : 1);
        float *z = malloc(sizeof(float) * B * O), *dx = malloc(sizeof(float) * B * NI),
              *dw = malloc(sizeof(float) * O * NI), *db = malloc(sizeof(float) * O);
        ms_linear_forward(z, x, w, b, B, NI, O);
        ms_linear_backward(dx, dw, db, dz, x, w, B, NI, O);
        out[t][0] = z, out[t][1] = dx, out[t][2] = dw, out[t][3] = db;
    }
    const size_t len[4] = {(size_t)B * O, (size_t)B * NI, (size_t)O * NI, (size_t)O};
    const char *name[4] = {"z", "dx", "dw", "db"};
    for (int k = 0; k < 4; k++)
        CHECK_MSG(!memcmp(out[0][k], out[1][k], sizeof(float) * len[k]),
                  "linear B%d NI%d O%d, path %s: %s differs between 1 and 3 threads", B, NI, O,
                  ms_isa_name(ms_isa_current()), name[k]);
    for (int t = 0; t < 2; t++)
        for (int k = 0; k < 4; k++)
            free(out[t][k]);
    free(x), free(w), free(b), free(dz);
}

static void test_threads(void) {
    for (int i = 0; i < MS_ISA_COUNT; i++) {
        if (!ms_isa_supported((ms_isa_t)i)) continue;
        CHECK_OK(ms_isa_select((ms_isa_t)i));
        conv_threads_case(37, 3, 32, 32, 16, 3, 1); /* the paper CNN's block, 3 chunks */
        conv_threads_case(50, 2, 11, 9, 5, 5, 2);
        linear_threads_case(130, 4096, 64); /* 3 forward items of rows, 8 column tiles */
        linear_threads_case(64, 1100, 13);
        linear_threads_case(37, 50, 10);
    }
    ms_kernels_set_threads(2);
}

int main(void) {
    RUN_TEST(test_dispatch);
    RUN_TEST(test_paths);
    RUN_TEST(test_threads);
    return ms_test_summary();
}
