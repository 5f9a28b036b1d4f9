/* The public training kernels (kernels.h) and the choice of their
 * instruction-set path (isa.h).
 *
 * Each path's kernels are in src/core/kernels.c, compiled once per
 * path; this file picks one table at the first kernel call (or at
 * ms_isa_init) from the CPU, or from MODSWEEP_ISA, and forwards every call
 * to it. It is compiled for the baseline like the rest of the program. */
#include "modsweep/kernels.h"
#include "kernels_table.h"
#include "modsweep/error.h"
#include "modsweep/isa.h"

#include <cblas.h>
#include <cpuid.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int kernel_threads = 1;

void ms_kernels_set_threads(int threads) {
    kernel_threads = threads > 0 ? threads : 1;
    openblas_set_num_threads(1);
    omp_set_num_threads(kernel_threads);
}

int ms_kernels_threads(void) {
    return kernel_threads;
}

/* ---- the instruction-set path -------------------------------------------------- */

static const ms__kernel_table_t *const tables[MS_ISA_COUNT] = {
    &ms__kernels_generic, &ms__kernels_avx2, &ms__kernels_avx512};
static const char *const isa_names[MS_ISA_COUNT] = {"generic", "avx2", "avx512"};
/* The chosen table (NULL until chosen) and its path. */
static const ms__kernel_table_t *kern;
static ms_isa_t kern_isa;

const char *ms_isa_name(ms_isa_t isa) {
    return isa >= 0 && isa < MS_ISA_COUNT ? isa_names[isa] : NULL;
}

int ms_isa_parse(const char *name) {
    for (int i = 0; i < MS_ISA_COUNT; i++)
        if (!strcmp(name, isa_names[i])) return i;
    return -1;
}

int ms_isa_supported(ms_isa_t isa) {
    /* A test hook: MODSWEEP_TEST_ISA_MAX=generic|avx2 makes the CPU appear
     * to lack the paths above it, so that the refusal can be tested on a CPU
     * that has every path. */
    const char *cap = getenv("MODSWEEP_TEST_ISA_MAX");
    const int top = cap && *cap ? ms_isa_parse(cap) : -1;
    if (top >= 0 && (int)isa > top) return 0;
    __builtin_cpu_init();
    switch (isa) {
    case MS_ISA_GENERIC:
        return 1;
    case MS_ISA_AVX2: /* x86-64-v3 */
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("bmi") && __builtin_cpu_supports("bmi2") &&
               __builtin_cpu_supports("popcnt");
    case MS_ISA_AVX512: /* x86-64-v4 */
        return ms_isa_supported(MS_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
               __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512cd");
    default:
        return 0;
    }
}

int ms_isa_select(ms_isa_t isa) {
    if (isa < 0 || isa >= MS_ISA_COUNT)
        return ms_err_set(MS_EINVAL, "instruction-set path %d does not exist", (int)isa);
    if (!ms_isa_supported(isa)) {
        char model[128];
        ms_cpu_model(model, sizeof model);
        return ms_err_set(MS_EINVAL,
                          "instruction-set path %s: this CPU (%s) lacks it (%s needs %s); "
                          "unset MODSWEEP_ISA or choose a path it has",
                          isa_names[isa], model, isa_names[isa],
                          isa == MS_ISA_AVX2 ? "AVX2, FMA, BMI1/2 (x86-64-v3)"
                                             : "AVX-512 F/CD/BW/DQ/VL (x86-64-v4)");
    }
    kern = tables[isa];
    kern_isa = isa;
    return 0;
}

int ms_isa_init(void) {
    const char *env = getenv("MODSWEEP_ISA");
    if (env && *env && strcmp(env, "auto")) {
        int isa = ms_isa_parse(env);
        if (isa < 0)
            return ms_err_set(MS_EINVAL,
                              "MODSWEEP_ISA=%s: unknown instruction-set path (generic, avx2, "
                              "avx512 or auto)",
                              env);
        return ms_isa_select((ms_isa_t)isa);
    }
    ms_isa_t best = MS_ISA_GENERIC;
    for (int i = MS_ISA_COUNT - 1; i > 0; i--)
        if (ms_isa_supported((ms_isa_t)i)) {
            best = (ms_isa_t)i;
            break;
        }
    return ms_isa_select(best);
}

/* The table in use; the first call chooses it. A program that reaches a
 * kernel without calling ms_isa_init (test programs, benchmarks) and asked
 * for a path that cannot run stops here with the message rather than run
 * another path than asked or die of an illegal instruction. The choice
 * happens on the first kernel call, before any parallel region. */
static const ms__kernel_table_t *K(void) {
    if (!kern && ms_isa_init() != 0) {
        fprintf(stderr, "modsweep: %s\n", ms_err_msg());
        exit(2);
    }
    return kern;
}

ms_isa_t ms_isa_current(void) {
    K();
    return kern_isa;
}

/* The value after "key<blanks>:" of the first line of /proc/cpuinfo that
 * starts with key, into out (empty if none). */
static void cpuinfo_value(const char *key, char *out, size_t n) {
    out[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    const size_t k = strlen(key);
    while (f && fgets(line, sizeof line, f)) {
        if (strncmp(line, key, k) || (line[k] != ' ' && line[k] != '\t' && line[k] != ':'))
            continue;
        const char *c = strchr(line, ':');
        if (c) snprintf(out, n, "%s", c + 1);
        break;
    }
    if (f) fclose(f);
}

void ms_cpu_model(char *buf, size_t n) {
    if (!n) return;
    /* /proc/cpuinfo's model name (as lscpu shows it) with the family and
     * model numbers, which tell CPU generations apart where the name does
     * not ("AMD EPYC" under some hypervisors); else cpuid's brand string. */
    char s[320] = "", name[200], fam[32], mod[32];
    cpuinfo_value("model name", name, sizeof name);
    cpuinfo_value("cpu family", fam, sizeof fam);
    cpuinfo_value("model", mod, sizeof mod);
    if (name[0]) {
        fam[strcspn(fam, "\n")] = 0;
        mod[strcspn(mod, "\n")] = 0;
        name[strcspn(name, "\n")] = 0;
        if (fam[0] && mod[0])
            snprintf(s, sizeof s, "%s [family%s model%s]", name, fam, mod);
        else
            snprintf(s, sizeof s, "%s", name);
    } else if (__get_cpuid_max(0x80000000u, NULL) >= 0x80000004u) {
        unsigned r[12];
        for (unsigned i = 0; i < 3; i++)
            __get_cpuid(0x80000002u + i, &r[4 * i], &r[4 * i + 1], &r[4 * i + 2], &r[4 * i + 3]);
        memcpy(s, r, 48);
        s[48] = 0;
    }
    /* Trimmed, with runs of blanks as one space. */
    size_t k = 0;
    for (const char *p = s; *p && k + 1 < n; p++) {
        if (*p == ' ' || *p == '\t' || *p == '\n') {
            if (k && buf[k - 1] != ' ') buf[k++] = ' ';
        } else {
            buf[k++] = *p;
        }
    }
    while (k && buf[k - 1] == ' ')
        k--;
    buf[k] = 0;
    if (!k) snprintf(buf, n, "unknown");
}

const char *ms_blas_core(void) {
    const char *c = openblas_get_corename();
    return c && *c ? c : "unknown";
}

/* ---- forwarding to the chosen path ---------------------------------------------- */

size_t ms_conv_scratch_floats(int C, int H, int W, int F, int K, int P) {
    return (size_t)C * (H + 2 * P) * (W + 2 * P) + 64 + 2 * (size_t)F * (W + 2 * P - K + 1);
}

/* Per chunk of MS_CHUNK images: the partial dw (F*C*K*K), db (F), then room
 * for one image's dense gradient map (F, HO, WO) and padded input (C, HP, WP),
 * 32 floats of slack for the widest loads, then rows of
 * ms__conv_taps_padded floats (F accumulators and 4 patches for each window
 * of a row of windows), and each pooling window's gradient and patch
 * offset (2 * F * HO/2 * WO/2). */
size_t ms_conv_backward_partial_floats(int B, int C, int H, int W, int F, int K, int P) {
    const size_t HO = H + 2 * P - K + 1, WO = W + 2 * P - K + 1;
    const size_t HP = H + 2 * P, WP = W + 2 * P;
    const size_t stride = (size_t)F * C * K * K + F + F * HO * WO + (size_t)C * HP * WP + 32 +
                          (F + 4 * (WO / 2)) * ms__conv_taps_padded(C, K) +
                          2 * F * (HO / 2) * (WO / 2);
    return (size_t)((B + MS_CHUNK - 1) / MS_CHUNK) * stride;
}

void ms_linear_forward(float *z, const float *x, const float *w, const float *b, int B, int NI,
                       int O) {
    K()->linear_forward(z, x, w, b, B, NI, O);
}

void ms_linear_backward(float *dx, float *dw, float *db, const float *dz, const float *x,
                        const float *w, int B, int NI, int O) {
    K()->linear_backward(dx, dw, db, dz, x, w, B, NI, O);
}

void ms_relu_dropout_forward(float *a, int B, int O, float drop_p, uint64_t seed, uint32_t step,
                             uint64_t base) {
    K()->relu_dropout_forward(a, B, O, drop_p, seed, step, base);
}

void ms_relu_dropout_backward(float *d, const float *a, int n, float drop_p) {
    K()->relu_dropout_backward(d, a, n, drop_p);
}

void ms_conv_relu_pool_forward(float *act, float *pooled, uint8_t *idx, const float *x,
                               const float *w, const float *b, int B, int C, int H, int W, int F,
                               int K_, int P, float *scratch) {
    K()->conv_relu_pool_forward(act, pooled, idx, x, w, b, B, C, H, W, F, K_, P, scratch);
}

void ms_conv_relu_pool_backward(float *dx, float *dw, float *db, const float *dpooled,
                                const float *act, const float *pooled, const uint8_t *idx,
                                const float *x, const float *w, int B, int C, int H, int W, int F,
                                int K_, int P, float *partial) {
    K()->conv_relu_pool_backward(dx, dw, db, dpooled, act, pooled, idx, x, w, B, C, H, W, F, K_,
                                 P, partial);
}

double ms_ce_loss(const float *logits, const uint8_t *y, int B, int NC, float *dlogits,
                  double *per_sample) {
    return K()->ce_loss(logits, y, B, NC, dlogits, per_sample);
}

void ms_sgd_step(float *p, const float *g, float *buf, size_t n, float lr, float momentum, long t) {
    K()->sgd_step(p, g, buf, n, lr, momentum, t);
}

void ms_adam_step(float *p, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                  float beta2, float eps, long t) {
    K()->adam_step(p, g, m, v, n, lr, beta1, beta2, eps, t);
}
