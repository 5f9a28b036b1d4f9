/* The network walk and its kernel table (nn.h's ms_net_ops_t), the contract
 * the GPU network (src/gpu/nn_gpu.c) relies on, checked on the CPU where it
 * can run without a GPU: a network prepared with another table (the CPU's
 * kernels behind counting wrappers, a wider alignment and a scratch
 * minimum) and carved into its own allocation
 *  - calls every kernel only through its table, as often as the layers need
 *    (conv blocks, fc layers, hidden ReLU/dropout), never the CPU's directly;
 *  - gives its kernels buffers aligned to the table's alignment, inside the
 *    allocation, and at least the table's scratch;
 *  - gives the same logits, loss and gradients, bit for bit, as ms_net_init's
 *    CPU network, with dropout and two conv blocks, and for an MLP.
 * The same walk with the GPU's table is compared with the CPU on a GPU by
 * test_cuda_kernels. */
#include "check.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"
#include "modsweep/nn.h"
#include "modsweep/rng.h"
#include "modsweep/train.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ALIGN 256

/* The calls each wrapper saw, and whether every pointer it was given lay
 * inside the spy network's allocation (or was NULL, or an input). */
static struct {
    int conv_fwd, conv_bwd, lin_fwd, lin_bwd, relu_fwd, relu_bwd, scratch;
    int act_null; /* conv forwards given act = NULL */
    int misaligned;
} seen;
static const char *spy_lo, *spy_hi;

/* A pointer into the spy network's allocation must start at a multiple of
 * ALIGN from its base when it is a buffer's first element (the walk passes
 * whole buffers for every activation, gradient and scratch argument). */
static void buffer(const void *p) {
    const char *c = p;
    if (!c || c < spy_lo || c >= spy_hi) return; /* parameters, inputs, NULL */
    if ((size_t)(c - spy_lo) % ALIGN) seen.misaligned++;
}

static size_t spy_scratch(const ms_net_t *net, int C, int H, int W, int F, int K, int P) {
    seen.scratch++;
    return ms_net_ops_cpu.conv_scratch(net, C, H, W, F, K, P);
}
static void spy_conv_fwd(float *act, float *pooled, uint8_t *idx, const float *x, const float *w,
                         const float *b, int B, int C, int H, int W, int F, int K, int P,
                         float *scratch) {
    seen.conv_fwd++;
    seen.act_null += act == NULL;
    buffer(act), buffer(pooled), buffer(idx), buffer(x), buffer(scratch);
    ms_conv_relu_pool_forward(act, pooled, idx, x, w, b, B, C, H, W, F, K, P, scratch);
}
static void spy_conv_bwd(float *dx, float *dw, float *db, const float *dpooled, const float *act,
                         const float *pooled, const uint8_t *idx, const float *x, const float *w,
                         int B, int C, int H, int W, int F, int K, int P, float *partial) {
    seen.conv_bwd++;
    buffer(dx), buffer(dpooled), buffer(act), buffer(pooled), buffer(idx), buffer(x),
        buffer(partial);
    ms_conv_relu_pool_backward(dx, dw, db, dpooled, act, pooled, idx, x, w, B, C, H, W, F, K, P,
                               partial);
}
static void spy_lin_fwd(float *z, const float *x, const float *w, const float *b, int B, int NI,
                        int O) {
    seen.lin_fwd++;
    buffer(z), buffer(x);
    ms_linear_forward(z, x, w, b, B, NI, O);
}
static void spy_lin_bwd(float *dx, float *dw, float *db, const float *dz, const float *x,
                        const float *w, int B, int NI, int O) {
    seen.lin_bwd++;
    buffer(dx), buffer(dz), buffer(x);
    ms_linear_backward(dx, dw, db, dz, x, w, B, NI, O);
}
static void spy_relu_fwd(float *a, int B, int O, float drop_p, uint64_t seed, uint32_t step,
                         uint64_t base) {
    seen.relu_fwd++;
    buffer(a);
    ms_relu_dropout_forward(a, B, O, drop_p, seed, step, base);
}
static void spy_relu_bwd(float *d, const float *a, int n, float drop_p) {
    seen.relu_bwd++;
    buffer(d), buffer(a);
    ms_relu_dropout_backward(d, a, n, drop_p);
}

static const ms_net_ops_t spy_ops = {.align = ALIGN,
                                     .scratch_min = 100000,
                                     .conv_scratch = spy_scratch,
                                     .conv_forward = spy_conv_fwd,
                                     .conv_backward = spy_conv_bwd,
                                     .linear_forward = spy_lin_fwd,
                                     .linear_backward = spy_lin_bwd,
                                     .relu_dropout_forward = spy_relu_fwd,
                                     .relu_dropout_backward = spy_relu_bwd};

static void one_arch(const char *what, const ms_arch_t *a, int B) {
    ms_net_t ref, spy;
    CHECK_OK(ms_net_init(&ref, a, B, 2));
    CHECK_OK(ms_net_prepare(&spy, a, B, ref.threads, &spy_ops));
    const size_t bytes = ms_net_carve(&spy, NULL);
    char *mem = aligned_alloc(ALIGN, (bytes + ALIGN - 1) / ALIGN * ALIGN);
    memset(mem, 0, bytes);
    CHECK(ms_net_carve(&spy, mem) == bytes);
    spy.mem = mem;
    spy_lo = mem;
    spy_hi = mem + bytes;
    CHECK(spy.scratch_n >= spy_ops.scratch_min);
    CHECK(spy.scratch_n >= ref.scratch_n);
    CHECK((char *)spy.scratch + sizeof(float) * spy.scratch_n <= spy_hi);
    const ms_layout_t *L = &ref.L;
    const size_t P = L->n_params, D = (size_t)a->in_c * a->in_h * a->in_w;
    float *params = malloc(sizeof(float) * P), *x = malloc(sizeof(float) * B * D);
    float *g_ref = malloc(sizeof(float) * P), *g_spy = malloc(sizeof(float) * P);
    ms_params_init(L, params, 11);
    ms_rng_t r;
    ms_rng_init(&r, 3, MS_RNG_TESTDATA, 7);
    for (size_t i = 0; i < (size_t)B * D; i++)
        x[i] = (float)ms_rng_normal(&r);
    uint8_t y[64];
    for (int i = 0; i < B; i++)
        y[i] = (uint8_t)(i % a->fc_out[a->n_fc - 1]);
    const ms_dropout_t drop = {.seed = 5, .step = 2};
    memset(&seen, 0, sizeof seen);
    ms_net_forward(&ref, params, x, B, &drop);
    /* A table whose conv forward does not take act = NULL gets act even
     * when the network need not keep it. */
    spy.keep_conv_act = 0;
    ms_net_forward(&spy, params, x, B, &drop);
    CHECK_EQ_INT(seen.act_null, 0);
    memset(&seen, 0, sizeof seen);
    spy.keep_conv_act = 1;
    ms_net_forward(&spy, params, x, B, &drop);
    const double l_ref = ms_net_ce_loss(&ref, y, B, NULL), l_spy = ms_net_ce_loss(&spy, y, B, NULL);
    ms_net_backward(&ref, params, x, B, g_ref);
    ms_net_backward(&spy, params, x, B, g_spy);
    const int nf = a->n_fc, nc = a->n_conv;
    printf("  %-26s calls: conv %d/%d, linear %d/%d, relu+dropout %d/%d, misaligned %d; "
           "loss %.9g vs %.9g\n",
           what, seen.conv_fwd, seen.conv_bwd, seen.lin_fwd, seen.lin_bwd, seen.relu_fwd,
           seen.relu_bwd, seen.misaligned, l_ref, l_spy);
    CHECK_EQ_INT(seen.scratch, 0); /* sized at carve time only */
    CHECK_EQ_INT(seen.conv_fwd, nc);
    CHECK_EQ_INT(seen.conv_bwd, nc);
    CHECK_EQ_INT(seen.lin_fwd, nf);
    CHECK_EQ_INT(seen.lin_bwd, nf);
    CHECK_EQ_INT(seen.relu_fwd, nf - 1);
    CHECK_EQ_INT(seen.relu_bwd, nf - 1);
    CHECK_EQ_INT(seen.misaligned, 0);
    CHECK(memcmp(&l_ref, &l_spy, sizeof l_ref) == 0);
    const size_t nl = (size_t)B * a->fc_out[nf - 1];
    CHECK(memcmp(ref.fc_act[nf - 1], spy.fc_act[nf - 1], sizeof(float) * nl) == 0);
    CHECK(memcmp(g_ref, g_spy, sizeof(float) * P) == 0);
    /* The CPU network without the activations kept: conv_act untouched
     * (still the zeros of ms_net_init), the rest bit for bit the same. */
    if (nc) {
        ms_net_t lean;
        CHECK_OK(ms_net_init(&lean, a, B, 2));
        lean.keep_conv_act = 0;
        ms_net_forward(&lean, params, x, B, &drop);
        ms_net_ce_loss(&lean, y, B, NULL);
        ms_net_backward(&lean, params, x, B, g_spy);
        for (int l = 0; l < nc; l++) {
            const size_t n = (size_t)B * a->conv_c[l] * L->conv_h[l] * L->conv_w[l];
            size_t nz = 0, nz_ref = 0;
            for (size_t e = 0; e < n; e++)
                nz += lean.conv_act[l][e] != 0.0f;
            for (size_t e = 0; e < n; e++)
                nz_ref += ref.conv_act[l][e] != 0.0f;
            CHECK_MSG(nz == 0 && nz_ref > 0,
                      "conv%d: %zu activations stored without keep, %zu with", l + 1, nz, nz_ref);
            const size_t np = (size_t)B * a->conv_c[l] * L->pool_h[l] * L->pool_w[l];
            CHECK(memcmp(lean.pool_out[l], ref.pool_out[l], sizeof(float) * np) == 0);
        }
        CHECK(memcmp(lean.fc_act[nf - 1], ref.fc_act[nf - 1], sizeof(float) * nl) == 0);
        CHECK(memcmp(g_ref, g_spy, sizeof(float) * P) == 0);
        ms_net_free(&lean);
    }
    free(params), free(x), free(g_ref), free(g_spy), free(mem);
    ms_net_free(&ref);
}

/* The trainer keeps the conv activations only for hooks that read them
 * (ms_train_hooks_t.needs_conv_act), and trains the same parameters,
 * bit for bit, either way. A hook after every step sees them stored (or
 * not: the buffer keeps the zeros of ms_net_init). */
typedef struct {
    int steps, stored;
} act_probe_t;
static int probe_after_step(void *ctx, ms_trainer_t *tr, long step) {
    act_probe_t *p = ctx;
    const ms_layout_t *L = tr->L;
    const size_t n = (size_t)tr->net.last_b * L->arch.conv_c[0] * L->conv_h[0] * L->conv_w[0];
    size_t nz = 0;
    for (size_t e = 0; e < n; e++)
        nz += tr->net.conv_act[0][e] != 0.0f;
    p->steps++;
    p->stored += nz > 0;
    return 0;
}

static void test_train_conv_act(void) {
    ms_settings_t s;
    memset(&s, 0, sizeof s);
    const ms_arch_t a = {.in_c = 2,
                         .in_h = 10,
                         .in_w = 10,
                         .n_conv = 1,
                         .conv_c = {5},
                         .conv_k = 3,
                         .conv_pad = 1,
                         .conv_bias = 1,
                         .n_fc = 2,
                         .fc_out = {12, 10}};
    s.arch = a;
    s.optimizer = MS_OPT_ADAM;
    s.lr = 1e-2f, s.beta1 = 0.9f, s.beta2 = 0.999f, s.eps = 1e-8f;
    s.epochs = 2, s.batch = 16, s.seed = 4;
    const int n = 70;
    const size_t D = 2 * 10 * 10;
    ms_split_t split = {.n = n, .c = 2, .h = 10, .w = 10, .n_classes = 10};
    split.x = malloc(sizeof(float) * D * n);
    split.y = malloc(n);
    ms_rng_t r;
    ms_rng_init(&r, 9, MS_RNG_TESTDATA, 1);
    for (size_t i = 0; i < D * n; i++)
        split.x[i] = (float)ms_rng_normal(&r);
    for (int i = 0; i < n; i++)
        split.y[i] = (uint8_t)ms_rng_below(&r, 10);
    float *params[2] = {NULL, NULL};
    size_t P = 0;
    for (int keep = 0; keep < 2; keep++) {
        ms_trainer_t tr;
        CHECK_OK(ms_trainer_init(&tr, &s, n));
        act_probe_t probe = {0};
        const ms_train_hooks_t hooks = {
            .ctx = &probe, .after_step = probe_after_step, .needs_conv_act = keep};
        char reason[MS_REASON_MAX];
        CHECK_OK(ms_train(&tr, &split, NULL, &hooks, reason));
        CHECK_EQ_INT(probe.steps, 2 * 5);
        CHECK_EQ_INT(probe.stored, keep ? probe.steps : 0);
        CHECK_EQ_INT(tr.net.keep_conv_act, 1); /* the network's own setting is restored */
        P = tr.L->n_params;
        params[keep] = malloc(sizeof(float) * P);
        memcpy(params[keep], tr.params, sizeof(float) * P);
        ms_trainer_free(&tr);
    }
    CHECK(memcmp(params[0], params[1], sizeof(float) * P) == 0);
    free(params[0]), free(params[1]), free(split.x), free(split.y);
}

static void test_cnn_two_blocks(void) {
    /* Odd sizes: 11 -> 5 after the first pooling, 5 -> 2 after the second. */
    const ms_arch_t a = {.in_c = 3,
                         .in_h = 11,
                         .in_w = 11,
                         .n_conv = 2,
                         .conv_c = {4, 6},
                         .conv_k = 3,
                         .conv_pad = 1,
                         .conv_bias = 1,
                         .n_fc = 3,
                         .fc_out = {18, 14, 10},
                         .fc_bias = 1,
                         .dropout = 0.25f};
    one_arch("cnn, two conv blocks", &a, 37);
}

static void test_mlp(void) {
    const ms_arch_t a = {
        .in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 4, .fc_out = {24, 16, 12, 10}, .dropout = 0.1f};
    one_arch("mlp, no bias", &a, 64);
}

/* ms_net_prepare checks as ms_net_init does: a bad architecture and a bad
 * batch size are refused with a message. */
static void test_prepare_errors(void) {
    ms_net_t net;
    ms_arch_t bad = {.in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 0};
    CHECK(ms_net_prepare(&net, &bad, 4, 1, &spy_ops) == MS_EINVAL);
    ms_arch_t ok = {.in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 2, .fc_out = {5, 3}};
    CHECK(ms_net_prepare(&net, &ok, 0, 1, &spy_ops) == MS_EINVAL);
    CHECK(strstr(ms_err_msg(), "batch size 0") != NULL);
}

int main(void) {
    ms_kernels_set_threads(2);
    RUN_TEST(test_cnn_two_blocks);
    RUN_TEST(test_mlp);
    RUN_TEST(test_train_conv_act);
    RUN_TEST(test_prepare_errors);
    return ms_test_summary();
}
