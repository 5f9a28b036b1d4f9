/* Training throughput of the paper CNN (or the MLP) in images/s: modsweep's
 * CPU trainer on preloaded random data, batch 64, Adam. Run beside
 * tests/bench/pytorch_train.py (same model, same threads) via
 * tests/bench/run_train_bench.sh, which prints the two side by side.
 *
 * Then, on the kernel path in use (MODSWEEP_ISA, isa.h), the machine's FP32
 * peak for that path and thread count, measured with an FMA loop (a mul+add
 * loop on the generic path, which has no FMA), and each kernel of a
 * training step timed alone on the model's shapes, with its GFLOP/s and
 * share of that peak. FLOPs count the model's dense multiply-adds (2 per
 * multiply-add, the conv weight gradient over every position, although
 * the kernel sums it only at each pooling window's maximum). The
 * lines starting "peak", "kernel" and "step" are read by the script.
 *
 *   bench_train [cnn|mlp] [threads] [steps] */
#include "bench_common.h"
#include "modsweep/config.h"
#include "modsweep/isa.h"
#include "modsweep/nn.h"
#include "modsweep/log.h"
#include "modsweep/rng.h"
#include "modsweep/kernels.h"
#include "modsweep/train.h"

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the FP32 peak of one path: independent accumulator chains ---- */

#define CHAINS 12 /* enough to cover 2 FMA units x 4-6 cycles of latency */

__attribute__((target("avx512f"))) static float peak_avx512(long iters) {
    __m512 acc[CHAINS], m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-7f);
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm512_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < CHAINS; k++) acc[k] = _mm512_fmadd_ps(acc[k], m, a);
    float s = 0, v[16];
    for (int k = 0; k < CHAINS; k++) {
        _mm512_storeu_ps(v, acc[k]);
        s += v[0];
    }
    return s;
}

__attribute__((target("avx2,fma"))) static float peak_avx2(long iters) {
    __m256 acc[CHAINS], m = _mm256_set1_ps(0.999999f), a = _mm256_set1_ps(1e-7f);
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < CHAINS; k++) acc[k] = _mm256_fmadd_ps(acc[k], m, a);
    float s = 0, v[8];
    for (int k = 0; k < CHAINS; k++) {
        _mm256_storeu_ps(v, acc[k]);
        s += v[0];
    }
    return s;
}

/* Generic: no FMA; one multiply and one add per chain step (2 FLOPs). */
static float peak_generic(long iters) {
    __m128 acc[CHAINS], m = _mm_set1_ps(0.999999f), a = _mm_set1_ps(1e-7f);
    for (int k = 0; k < CHAINS; k++) acc[k] = _mm_set1_ps((float)k);
    for (long i = 0; i < iters; i++)
        for (int k = 0; k < CHAINS; k++) acc[k] = _mm_add_ps(_mm_mul_ps(acc[k], m), a);
    float s = 0, v[4];
    for (int k = 0; k < CHAINS; k++) {
        _mm_storeu_ps(v, acc[k]);
        s += v[0];
    }
    return s;
}

/* GFLOP/s of path isa on `threads` threads at once (best of 5). */
static double peak_gflops(ms_isa_t isa, int threads) {
    const int lanes = isa == MS_ISA_AVX512 ? 16 : isa == MS_ISA_AVX2 ? 8 : 4;
    const long iters = 20000000 / lanes;
    double best = 0;
    volatile float sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = ms_now();
#pragma omp parallel num_threads(threads)
        {
            float r = isa == MS_ISA_AVX512 ? peak_avx512(iters)
                      : isa == MS_ISA_AVX2 ? peak_avx2(iters)
                                           : peak_generic(iters);
#pragma omp atomic
            sink += r;
        }
        const double g = 2.0 * lanes * CHAINS * (double)iters * threads / (ms_now() - t0) / 1e9;
        if (g > best) best = g;
    }
    (void)sink;
    return best;
}

/* ---- each kernel of a training step, alone, on the model's shapes ---- */

typedef struct {
    const char *name;
    double flops, sec; /* per step */
} kern_t;

static float *rnd(size_t n, ms_rng_t *r) {
    float *a = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) a[i] = (float)ms_rng_normal(r) * 0.1f;
    return a;
}

/* Fills k[] (conv forward, conv backward, fc forward, fc backward, the rest:
 * ReLU/dropout, loss, Adam); returns the count. */
static int profile_kernels(const ms_settings_t *s, int threads, int steps, kern_t *k) {
    ms_layout_t L;
    MS_CHECK(ms_layout_init(&L, &s->arch));
    const ms_arch_t *a = &L.arch;
    const int B = s->batch;
    ms_rng_t r;
    ms_rng_init(&r, 2, MS_RNG_TESTDATA, 0);
    int nk = 0;
    const int reps = steps > 20 ? steps : 20;
    /* Conv blocks. */
    double cf_fl = 0, cf_s = 0, cb_fl = 0, cb_s = 0;
    int C = a->in_c, H = a->in_h, W = a->in_w;
    for (int l = 0; l < a->n_conv; l++) {
        const int F = a->conv_c[l], K = a->conv_k, P = a->conv_pad;
        const int HO = H + 2 * P - K + 1, WO = W + 2 * P - K + 1;
        float *x = rnd((size_t)B * C * H * W, &r), *w = rnd((size_t)F * C * K * K, &r),
              *b = rnd(F, &r), *act = rnd((size_t)B * F * HO * WO, &r),
              *pooled = rnd((size_t)B * F * (HO / 2) * (WO / 2), &r),
              *dp = rnd((size_t)B * F * (HO / 2) * (WO / 2), &r), *dw = rnd((size_t)F * C * K * K, &r),
              *db = rnd(F, &r), *dx = l ? rnd((size_t)B * C * H * W, &r) : NULL;
        uint8_t *idx = malloc((size_t)B * F * (HO / 2) * (WO / 2));
        float *scratch = rnd(ms_conv_scratch_floats(C, H, W, F, K, P) * threads, &r);
        float *partial = rnd(ms_conv_backward_partial_floats(B, C, H, W, F, K, P), &r);
        const double fl = 2.0 * B * F * HO * WO * C * K * K;
        double bf = 1e30, bb = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = ms_now();
            for (int i = 0; i < reps; i++)
                ms_conv_relu_pool_forward(act, pooled, idx, x, w, b, B, C, H, W, F, K, P, scratch);
            double t1 = ms_now();
            for (int i = 0; i < reps; i++)
                ms_conv_relu_pool_backward(dx, dw, db, dp, act, pooled, idx, x, w, B, C, H, W, F,
                                           K, P, partial);
            double t2 = ms_now();
            if ((t1 - t0) / reps < bf) bf = (t1 - t0) / reps;
            if ((t2 - t1) / reps < bb) bb = (t2 - t1) / reps;
        }
        cf_fl += fl, cf_s += bf;
        cb_fl += fl * (l ? 2 : 1), cb_s += bb; /* weight gradient, and input gradient above */
        free(x), free(w), free(b), free(act), free(pooled), free(dp), free(dw), free(db), free(dx);
        free(idx), free(scratch), free(partial);
        C = F, H = L.pool_h[l], W = L.pool_w[l];
    }
    if (a->n_conv) {
        k[nk++] = (kern_t){"conv forward", cf_fl, cf_s};
        k[nk++] = (kern_t){"conv backward", cb_fl, cb_s};
    }
    /* Fully connected layers. */
    double ff_fl = 0, ff_s = 0, fb_fl = 0, fb_s = 0;
    for (int l = 0; l < a->n_fc; l++) {
        const int NI = L.fc_in[l], O = a->fc_out[l];
        const int need_dx = l > 0 || a->n_conv > 0;
        float *x = rnd((size_t)B * NI, &r), *w = rnd((size_t)O * NI, &r), *b = rnd(O, &r),
              *z = rnd((size_t)B * O, &r), *dw = rnd((size_t)O * NI, &r), *db = rnd(O, &r),
              *dx = rnd((size_t)B * NI, &r);
        const int bias = L.fc_bias_t[l] >= 0;
        double bf = 1e30, bb = 1e30;
        for (int rep = 0; rep < 3; rep++) {
            double t0 = ms_now();
            for (int i = 0; i < reps; i++) ms_linear_forward(z, x, w, bias ? b : NULL, B, NI, O);
            double t1 = ms_now();
            for (int i = 0; i < reps; i++)
                ms_linear_backward(need_dx ? dx : NULL, dw, bias ? db : NULL, z, x, w, B, NI, O);
            double t2 = ms_now();
            if ((t1 - t0) / reps < bf) bf = (t1 - t0) / reps;
            if ((t2 - t1) / reps < bb) bb = (t2 - t1) / reps;
        }
        ff_fl += 2.0 * B * NI * O, ff_s += bf;
        fb_fl += 2.0 * B * NI * O * (need_dx ? 2 : 1), fb_s += bb;
        free(x), free(w), free(b), free(z), free(dw), free(db), free(dx);
    }
    k[nk++] = (kern_t){"fc forward", ff_fl, ff_s};
    k[nk++] = (kern_t){"fc backward", fb_fl, fb_s};
    /* The rest: ReLU (+ backward) of the hidden fc layers, the loss, Adam. */
    size_t hid = 0;
    for (int l = 0; l + 1 < a->n_fc; l++) hid += (size_t)B * a->fc_out[l];
    const int NC = a->fc_out[a->n_fc - 1];
    float *h = rnd(hid, &r), *dh = rnd(hid, &r), *lg = rnd((size_t)B * NC, &r),
          *dl = rnd((size_t)B * NC, &r), *p = rnd(L.n_params, &r), *g = rnd(L.n_params, &r),
          *m = calloc(L.n_params, sizeof(float)), *v = calloc(L.n_params, sizeof(float));
    uint8_t *y = calloc(B, 1);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = ms_now();
        for (int i = 0; i < reps; i++) {
            ms_relu_dropout_forward(h, 1, (int)hid, 0.0f, 0, 0, 0);
            ms_relu_dropout_backward(dh, h, (int)hid, 0.0f);
            ms_ce_loss(lg, y, B, NC, dl, NULL);
            ms_adam_step(p, g, m, v, L.n_params, 1e-3f, 0.9f, 0.999f, 1e-8f, i + 1);
        }
        if ((ms_now() - t0) / reps < best) best = (ms_now() - t0) / reps;
    }
    k[nk++] = (kern_t){"ReLU, loss, Adam", 0, best};
    free(h), free(dh), free(lg), free(dl), free(p), free(g), free(m), free(v), free(y);
    return nk;
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : "cnn";
    int threads = argc > 2 ? atoi(argv[2]) : 1;
    int steps = argc > 3 ? atoi(argv[3]) : 300;
    ms_settings_t s = bench_settings(strcmp(model, "mlp") == 0);
    const int n = steps * s.batch;
    const size_t D = (size_t)s.arch.in_c * s.arch.in_h * s.arch.in_w;
    ms_split_t tr = {.n = n, .c = s.arch.in_c, .h = s.arch.in_h, .w = s.arch.in_w, .n_classes = 10};
    tr.x = malloc(sizeof(float) * D * n);
    tr.y = malloc((size_t)n);
    ms_rng_t r;
    ms_rng_init(&r, 1, MS_RNG_TESTDATA, 0);
    for (size_t i = 0; i < D * n; i++) tr.x[i] = (float)ms_rng_normal(&r);
    for (int i = 0; i < n; i++) tr.y[i] = (uint8_t)ms_rng_below(&r, 10);
    ms_trainer_t t;
    MS_CHECK(ms_trainer_init(&t, &s, n));
    ms_kernels_set_threads(threads);
    char reason[MS_REASON_MAX];
    double best = 0;
    for (int rep = 0; rep < 3; rep++) {
        double t0 = ms_now();
        MS_CHECK(ms_train(&t, &tr, NULL, NULL, reason));
        double ips = n / (ms_now() - t0);
        if (ips > best) best = ips;
    }
    printf("modsweep %s threads=%d: %.0f images/s (best of 3 epochs of %d steps)\n", model,
           threads, best, steps);
    /* The peak of the path in use and each kernel's share of it. */
    const ms_isa_t isa = ms_isa_current();
    const double peak = peak_gflops(isa, threads);
    /* The machine's peak: that of the best path it has. */
    ms_isa_t top = MS_ISA_GENERIC;
    for (int i = 0; i < MS_ISA_COUNT; i++)
        if (ms_isa_supported((ms_isa_t)i)) top = (ms_isa_t)i;
    const double mpeak = top == isa ? peak : peak_gflops(top, threads);
    char cpu[256];
    ms_cpu_model(cpu, sizeof cpu);
    printf("peak path=%s threads=%d: %.1f GFLOP/s; machine (path %s): %.1f GFLOP/s; cpu %s; "
           "BLAS core %s\n",
           ms_isa_name(isa), threads, peak, ms_isa_name(top), mpeak, cpu, ms_blas_core());
    kern_t k[8];
    const int nk = profile_kernels(&s, threads, steps, k);
    double step_fl = 0, sum_s = 0;
    for (int i = 0; i < nk; i++) {
        step_fl += k[i].flops, sum_s += k[i].sec;
        const double gf = k[i].flops / k[i].sec / 1e9;
        printf("kernel %s: %.3f ms/step, %.1f GFLOP/s, %.1f%% of path peak, %.1f%% of machine "
               "peak\n",
               k[i].name, k[i].sec * 1e3, gf, 100.0 * gf / peak, 100.0 * gf / mpeak);
    }
    const double step_s = s.batch / best, gf = step_fl / step_s / 1e9;
    printf("step: %.3f ms (kernels alone %.3f ms), %.1f MFLOP, %.1f GFLOP/s, %.1f%% of path "
           "peak, %.1f%% of machine peak\n",
           step_s * 1e3, sum_s * 1e3, step_fl / 1e6, gf, 100.0 * gf / peak, 100.0 * gf / mpeak);
    ms_trainer_free(&t);
    free(tr.x);
    free(tr.y);
    return 0;
}
