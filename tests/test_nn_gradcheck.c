/* Analytic gradients of every layer kind against central finite differences:
 * linear (with bias), ReLU with dropout, conv + ReLU + maxpool (first block
 * and a block whose input gradient is needed), cross-entropy, the L1/L2
 * penalty, and whole small networks. The objective of a single layer is
 * J = sum(r * out) for a fixed random r, accumulated in double. */
#include "check.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"
#include "modsweep/nn.h"
#include "modsweep/rng.h"

#include <stdlib.h>
#include <string.h>

static ms_rng_t rng;

static float *randv(size_t n, float scale) {
    float *v = malloc(sizeof(float) * (n ? n : 1));
    for (size_t i = 0; i < n; i++) v[i] = (float)(ms_rng_normal(&rng) * scale);
    return v;
}

static double dot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}

/* Signature of a piecewise-smooth function's active piece: FNV-1a over the
 * bytes given (which ReLUs are active, which pool positions win). */
static uint64_t sig_bytes(uint64_t h, const void *data, size_t n) {
    const unsigned char *b = data;
    if (!h) h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}
static uint64_t sig_positive(uint64_t h, const float *a, size_t n) {
    if (!h) h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (a[i] > 0.0f)) * 1099511628211ull;
    return h;
}

/* Compares an analytic gradient with central finite differences of fn at
 * every entry of p (n values). fn returns the objective and the signature of
 * the smooth piece it was evaluated on; an entry whose three evaluations
 * (p - h, p, p + h) do not share one piece straddles a kink of ReLU or max
 * pooling, where no finite difference is meaningful, and is skipped. Every
 * other entry must agree within atol + rtol*|g|, and at most 2 + max_kinks*n
 * entries may be skipped (none when max_kinks is 0). */
typedef double (*objective_fn)(void *ctx, uint64_t *sig);
static void compare_fd(const char *what, float *p, const float *g, size_t n, objective_fn fn,
                       void *ctx, float h, double atol, double rtol, double max_kinks) {
    size_t agree = 0, kinks = 0;
    double worst = 0;
    uint64_t s0, sp, sm;
    fn(ctx, &s0);
    for (size_t i = 0; i < n; i++) {
        float keep = p[i];
        p[i] = keep + h;
        double jp = fn(ctx, &sp);
        p[i] = keep - h;
        double jm = fn(ctx, &sm);
        p[i] = keep;
        if (sp != s0 || sm != s0) {
            kinks++;
            continue;
        }
        double fd = (jp - jm) / (2.0 * h);
        double err = fabs(fd - g[i]);
        if (err <= atol + rtol * fabs(g[i])) agree++;
        if (err > worst) worst = err;
    }
    fn(ctx, &s0); /* leave the objective's buffers as at the unperturbed point */
    printf("  %-28s %zu/%zu entries agree, %zu at kinks, worst |fd - analytic| %.3g\n", what,
           agree, n - kinks, kinks, worst);
    CHECK_MSG(agree == n - kinks, "%s: %zu of %zu gradient entries disagree", what,
              n - kinks - agree, n - kinks);
    CHECK_MSG(kinks == 0 || (max_kinks > 0 && (double)kinks <= 2 + max_kinks * (double)n),
              "%s: %zu of %zu entries at kinks", what, kinks, n);
}

/* ---- linear ---- */
typedef struct {
    float *z, *x, *w, *b, *r;
    int B, NI, O;
} lin_ctx;
static double lin_obj(void *vc, uint64_t *sig) {
    lin_ctx *c = vc;
    *sig = 0;
    ms_linear_forward(c->z, c->x, c->w, c->b, c->B, c->NI, c->O);
    return dot(c->z, c->r, (size_t)c->B * c->O);
}
static void test_linear(void) {
    lin_ctx c = {.B = 5, .NI = 7, .O = 3};
    c.x = randv(35, 1);
    c.w = randv(21, 0.5f);
    c.b = randv(3, 0.5f);
    c.r = randv(15, 1);
    c.z = randv(15, 0);
    float *dx = randv(35, 0), *dw = randv(21, 0), *db = randv(3, 0);
    ms_linear_backward(dx, dw, db, c.r, c.x, c.w, c.B, c.NI, c.O);
    compare_fd("linear dW", c.w, dw, 21, lin_obj, &c, 1e-2f, 1e-3, 1e-3, 0.0);
    compare_fd("linear db", c.b, db, 3, lin_obj, &c, 1e-2f, 1e-3, 1e-3, 0.0);
    compare_fd("linear dx", c.x, dx, 35, lin_obj, &c, 1e-2f, 1e-3, 1e-3, 0.0);
    free(c.x), free(c.w), free(c.b), free(c.r), free(c.z), free(dx), free(dw), free(db);
}

/* ---- ReLU + dropout ---- */
typedef struct {
    float *in, *a, *r;
    int n;
    float p;
} relu_ctx;
static double relu_obj(void *vc, uint64_t *sig) {
    relu_ctx *c = vc;
    memcpy(c->a, c->in, sizeof(float) * c->n);
    ms_relu_dropout_forward(c->a, 1, c->n, c->p, 99, 7, 0);
    *sig = sig_positive(0, c->a, c->n);
    return dot(c->a, c->r, c->n);
}
static void test_relu_dropout(void) {
    for (int pi = 0; pi < 2; pi++) {
        relu_ctx c = {.n = 400, .p = pi ? 0.3f : 0.0f};
        c.in = randv(400, 1);
        c.a = randv(400, 0);
        c.r = randv(400, 1);
        uint64_t sg;
        relu_obj(&c, &sg);
        float *d = malloc(sizeof(float) * 400);
        memcpy(d, c.r, sizeof(float) * 400);
        ms_relu_dropout_backward(d, c.a, 400, c.p);
        compare_fd(pi ? "relu+dropout(0.3) dx" : "relu dx", c.in, d, 400, relu_obj, &c, 1e-3f,
                   1e-3, 1e-3, 0.05);
        if (pi) {
            int kept = 0, pos = 0;
            for (int i = 0; i < 400; i++) {
                pos += c.in[i] > 0;
                kept += c.a[i] > 0;
                if (c.a[i] > 0) CHECK_NEAR(c.a[i], c.in[i] / 0.7f, 1e-5);
            }
            /* About 70% of the positive inputs survive. */
            CHECK_NEAR((double)kept / pos, 0.7, 0.1);
        }
        free(c.in), free(c.a), free(c.r), free(d);
    }
}

/* ---- conv + ReLU + maxpool ---- */
typedef struct {
    float *x, *w, *b, *act, *pooled, *r, *scratch;
    uint8_t *idx;
    int B, C, H, W, F, K, P;
} conv_ctx;
static int conv_pooled_n(conv_ctx *c) {
    int ho = c->H + 2 * c->P - c->K + 1, wo = c->W + 2 * c->P - c->K + 1;
    return c->B * c->F * (ho / 2) * (wo / 2);
}
static double conv_obj(void *vc, uint64_t *sig) {
    conv_ctx *c = vc;
    ms_conv_relu_pool_forward(c->act, c->pooled, c->idx, c->x, c->w, c->b, c->B, c->C, c->H,
                              c->W, c->F, c->K, c->P, c->scratch);
    const int np = conv_pooled_n(c);
    *sig = sig_bytes(sig_positive(0, c->pooled, np), c->idx, np);
    return dot(c->pooled, c->r, conv_pooled_n(c));
}
static void conv_case(const char *name, int B, int C, int H, int W, int F, int K, int P) {
    conv_ctx c = {.B = B, .C = C, .H = H, .W = W, .F = F, .K = K, .P = P};
    int ho = H + 2 * P - K + 1, wo = W + 2 * P - K + 1;
    size_t nx = (size_t)B * C * H * W, nw = (size_t)F * C * K * K;
    c.x = randv(nx, 1);
    c.w = randv(nw, 0.3f);
    c.b = randv(F, 0.1f);
    c.act = randv((size_t)B * F * ho * wo, 0);
    int np = conv_pooled_n(&c);
    c.pooled = randv(np, 0);
    c.idx = malloc(np);
    c.r = randv(np, 1);
    c.scratch = randv(ms_conv_scratch_floats(C, H, W, F, K, P) * 64, 0);
    uint64_t sg;
    conv_obj(&c, &sg);
    float *dx = randv(nx, 0), *dw = randv(nw, 0), *db = randv(F, 0);
    float *partial = randv(ms_conv_backward_partial_floats(B, C, H, W, F, K, P), 0);
    ms_conv_relu_pool_backward(dx, dw, db, c.r, c.act, c.pooled, c.idx, c.x, c.w, B, C, H, W, F, K,
                               P, partial);
    char what[64];
    snprintf(what, sizeof what, "%s dW", name);
    compare_fd(what, c.w, dw, nw, conv_obj, &c, 1e-3f, 2e-3, 1e-2, 0.3);
    snprintf(what, sizeof what, "%s db", name);
    compare_fd(what, c.b, db, F, conv_obj, &c, 1e-3f, 2e-3, 1e-2, 0.3);
    snprintf(what, sizeof what, "%s dx", name);
    compare_fd(what, c.x, dx, nx, conv_obj, &c, 1e-3f, 2e-3, 1e-2, 0.3);
    free(c.x), free(c.w), free(c.b), free(c.act), free(c.pooled), free(c.idx), free(c.r);
    free(c.scratch), free(dx), free(dw), free(db), free(partial);
}
static void test_conv_blocks(void) {
    conv_case("conv 3x3 pad 1", 3, 2, 8, 8, 4, 3, 1);
    conv_case("conv 5x5 pad 2, odd size", 2, 3, 9, 7, 2, 5, 2);
    conv_case("conv 2x2 pad 0", 17, 1, 6, 6, 3, 2, 0); /* 17 images: two chunks */
}

/* ---- cross-entropy ---- */
typedef struct {
    float *z;
    uint8_t *y;
    int B, NC;
} ce_ctx;
static double ce_obj(void *vc, uint64_t *sig) {
    ce_ctx *c = vc;
    *sig = 0;
    return ms_ce_loss(c->z, c->y, c->B, c->NC, NULL, NULL);
}
static void test_cross_entropy(void) {
    ce_ctx c = {.B = 6, .NC = 10};
    c.z = randv(60, 3);
    c.y = malloc(6);
    for (int i = 0; i < 6; i++) c.y[i] = (uint8_t)ms_rng_below(&rng, 10);
    float *dz = randv(60, 0);
    double ps[6];
    double l = ms_ce_loss(c.z, c.y, 6, 10, dz, ps);
    double mean = 0;
    for (int i = 0; i < 6; i++) mean += ps[i] / 6;
    CHECK_NEAR(l, mean, 1e-12);
    compare_fd("cross-entropy dlogits", c.z, dz, 60, ce_obj, &c, 1e-3f, 1e-5, 1e-3, 0.0);
    c.z[3] = NAN;
    CHECK(isnan(ms_ce_loss(c.z, c.y, 6, 10, NULL, NULL)));
    free(c.z), free(c.y), free(dz);
}

/* ---- whole networks with the L1/L2 penalty ---- */
typedef struct {
    ms_net_t *net;
    float *params, *x;
    uint8_t *y;
    int B;
    float l1, l2;
} net_ctx;
static double net_obj(void *vc, uint64_t *sig) {
    net_ctx *c = vc;
    const ms_layout_t *L = &c->net->L;
    const ms_arch_t *a = &L->arch;
    ms_net_forward(c->net, c->params, c->x, c->B, NULL);
    uint64_t h = 0;
    for (int l = 0; l < a->n_conv; l++) {
        size_t np = (size_t)c->B * a->conv_c[l] * L->pool_h[l] * L->pool_w[l];
        h = sig_bytes(sig_positive(h, c->net->pool_out[l], np), c->net->pool_idx[l],
                      np);
    }
    for (int l = 0; l + 1 < a->n_fc; l++)
        h = sig_positive(h, c->net->fc_act[l], (size_t)c->B * a->fc_out[l]);
    /* The L1 penalty has a kink at w = 0: include the weights' signs. */
    if (c->l1 > 0) h = sig_positive(h, c->params, L->n_params);
    *sig = h;
    return ms_net_ce_loss(c->net, c->y, c->B, NULL) +
           ms_params_penalty(&c->net->L, c->params, NULL, c->l1, c->l2);
}
static void net_case(const char *name, ms_arch_t arch, float l1, float l2) {
    ms_net_t net;
    const int B = 4;
    CHECK_OK(ms_net_init(&net, &arch, B, 2));
    const ms_layout_t *L = &net.L;
    net_ctx c = {.net = &net, .B = B, .l1 = l1, .l2 = l2};
    c.params = randv(L->n_params, 0);
    ms_params_init(L, c.params, 5);
    size_t nx = (size_t)arch.in_c * arch.in_h * arch.in_w * B;
    c.x = randv(nx, 1);
    c.y = malloc(B);
    for (int i = 0; i < B; i++) c.y[i] = (uint8_t)ms_rng_below(&rng, 10);
    float *g = randv(L->n_params, 0);
    uint64_t sg;
    net_obj(&c, &sg);
    ms_net_backward(&net, c.params, c.x, B, g);
    ms_params_penalty(L, c.params, g, l1, l2);
    for (int t = 0; t < L->n_tensors; t++) {
        char what[64];
        snprintf(what, sizeof what, "%s %s", name, L->t[t].name);
        compare_fd(what, c.params + L->t[t].off, g + L->t[t].off, L->t[t].n, net_obj, &c, 1e-3f,
                   2e-4, 2e-2, 0.5);
    }
    free(c.params), free(c.x), free(c.y), free(g);
    ms_net_free(&net);
}
static void test_networks(void) {
    ms_arch_t mlp = {.in_c = 1, .in_h = 6, .in_w = 6, .n_fc = 3, .fc_out = {12, 8, 10}, .fc_bias = 1};
    net_case("mlp", mlp, 1e-3f, 1e-2f);
    ms_arch_t cnn = {.in_c = 2, .in_h = 8, .in_w = 8, .n_conv = 2, .conv_c = {3, 4}, .conv_k = 3,
                     .conv_pad = 1, .conv_bias = 1, .n_fc = 2, .fc_out = {7, 10}};
    net_case("cnn", cnn, 0.0f, 1e-2f);
}

int main(void) {
    ms_rng_init(&rng, 2024, MS_RNG_TESTDATA, 1);
    ms_kernels_set_threads(2);
    RUN_TEST(test_linear);
    RUN_TEST(test_relu_dropout);
    RUN_TEST(test_conv_blocks);
    RUN_TEST(test_cross_entropy);
    RUN_TEST(test_networks);
    return ms_test_summary();
}
