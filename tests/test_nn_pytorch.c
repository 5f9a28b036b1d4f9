/* The CPU network against PyTorch: forward outputs, loss, every parameter
 * gradient, and ten SGD and ten Adam steps, from fixtures written by
 * tests/gen_nn_fixtures.py (Debian python3-torch). Prints the max difference
 * per tensor. */
#include "paper_cnn.h"
#include "check.h"
#include "fixture.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"
#include "modsweep/nn.h"

#include <stdlib.h>
#include <string.h>

typedef struct model_case {
    const char *file;
    ms_arch_t arch;
} model_case_t;

static ms_arch_t arch_mlp(void) {
    ms_arch_t a = {.in_c = 1, .in_h = 28, .in_w = 28, .n_conv = 0, .n_fc = 3,
                   .fc_out = {128, 128, 10}, .fc_bias = 1};
    return a;
}
static ms_arch_t arch_deep(void) {
    ms_arch_t a = {.in_c = 3, .in_h = 16, .in_w = 16, .n_conv = 2, .conv_c = {4, 6}, .conv_k = 5,
                   .conv_pad = 2, .conv_bias = 1, .n_fc = 2, .fc_out = {20, 10}, .fc_bias = 1};
    return a;
}

/* Relative max difference: max|a-b| / max(1e-3, max|b|). */
static double rel_diff(const float *a, const float *b, size_t n) {
    double scale = 1e-3;
    for (size_t i = 0; i < n; i++)
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    return ms_max_abs_diff_f(a, b, n) / scale;
}

static void load_params(const ms_fixture_t *fx, const ms_layout_t *L, const char *prefix,
                        float *params) {
    char name[160];
    for (int i = 0; i < L->n_tensors; i++) {
        snprintf(name, sizeof name, "%s%s", prefix, L->t[i].name);
        const float *src = ms_fixture_f32(fx, name, L->t[i].n);
        CHECK_MSG(src != NULL, "fixture lacks %s", name);
        if (src) memcpy(params + L->t[i].off, src, sizeof(float) * L->t[i].n);
    }
}

static void run_case(const char *file, ms_arch_t arch) {
    char path[1024];
    ms_fixture_t fx;
    if (ms_fixture_load(&fx, ms_fixture_path(file, path, sizeof path)) != 0) {
        CHECK_MSG(0, "cannot load %s", path);
        return;
    }
    ms_net_t net;
    const double *hyper = ms_fixture_f64(&fx, "hyper", 6);
    const int B = (int)hyper[5];
    CHECK_OK(ms_net_init(&net, &arch, B, 2));
    const ms_layout_t *L = &net.L;
    float *params = malloc(sizeof(float) * L->n_params), *grad = malloc(sizeof(float) * L->n_params);
    float *m = calloc(L->n_params, sizeof(float)), *v = calloc(L->n_params, sizeof(float));
    load_params(&fx, L, "param.", params);
    const ms_fx_tensor_t *x = ms_fixture_get(&fx, "x");
    const uint8_t *y = ms_fixture_get(&fx, "y")->data;

    /* Forward, loss, gradients. */
    ms_net_forward(&net, params, x->data, B, NULL);
    const int NC = arch.fc_out[arch.n_fc - 1];
    double d = rel_diff(net.fc_act[arch.n_fc - 1], ms_fixture_f32(&fx, "logits", (size_t)B * NC),
                        (size_t)B * NC);
    printf("  %-6s logits          max rel diff %.3g\n", file, d);
    CHECK(d < 1e-5);
    double loss = ms_net_ce_loss(&net, y, B, NULL);
    double ref = ms_fixture_f64(&fx, "loss", 1)[0];
    printf("  %-6s loss %.7f vs %.7f\n", file, loss, ref);
    CHECK_NEAR(loss, ref, 1e-6);
    ms_net_backward(&net, params, x->data, B, grad);
    char name[160];
    for (int i = 0; i < L->n_tensors; i++) {
        snprintf(name, sizeof name, "grad.%s", L->t[i].name);
        const float *g = ms_fixture_f32(&fx, name, L->t[i].n);
        if (!g) {
            CHECK(0);
            continue;
        }
        double dg = rel_diff(grad + L->t[i].off, g, L->t[i].n);
        printf("  %-6s grad %-14s max rel diff %.3g\n", file, L->t[i].name, dg);
        CHECK_MSG(dg < 1e-4, "%s: gradient of %s differs by %.3g", file, L->t[i].name, dg);
    }

    /* Ten SGD steps (with the fixture's momentum and L1/L2), then ten Adam steps. */
    const ms_fx_tensor_t *px = ms_fixture_get(&fx, "pool_x");
    const uint8_t *py = ms_fixture_get(&fx, "pool_y")->data;
    const int pool = (int)px->shape[0];
    const size_t img = px->n / (size_t)pool;
    float *bx = malloc(sizeof(float) * img * B);
    uint8_t *by = malloc((size_t)B);
    for (int opt = 0; opt < 2; opt++) {
        load_params(&fx, L, "param.", params);
        memset(m, 0, sizeof(float) * L->n_params);
        memset(v, 0, sizeof(float) * L->n_params);
        const double *ref_losses = ms_fixture_f64(&fx, opt ? "adam.losses" : "sgd.losses", 10);
        double maxd = 0;
        for (int t = 0; t < 10; t++) {
            for (int i = 0; i < B; i++) {
                int src = (t * B + i) % pool;
                memcpy(bx + img * i, (const float *)px->data + img * src, sizeof(float) * img);
                by[i] = py[src];
            }
            ms_net_forward(&net, params, bx, B, NULL);
            double l = ms_net_ce_loss(&net, by, B, NULL);
            ms_net_backward(&net, params, bx, B, grad);
            if (opt == 0) {
                l += ms_params_penalty(L, params, grad, (float)hyper[2], (float)hyper[3]);
                ms_sgd_step(params, grad, m, L->n_params, (float)hyper[0], (float)hyper[1], t + 1);
            } else {
                ms_adam_step(params, grad, m, v, L->n_params, (float)hyper[4], 0.9f, 0.999f, 1e-8f,
                             t + 1);
            }
            double dl = fabs(l - ref_losses[t]);
            if (dl > maxd) maxd = dl;
            CHECK_MSG(dl < 2e-5 * (1 + fabs(ref_losses[t])), "%s %s step %d: loss %.7f vs %.7f",
                      file, opt ? "adam" : "sgd", t + 1, l, ref_losses[t]);
        }
        printf("  %-6s %-4s 10 steps: max |loss diff| %.3g (last loss %.6f)\n", file,
               opt ? "adam" : "sgd", maxd, ref_losses[9]);
        /* Final parameters, where the fixture keeps them. */
        for (int i = 0; i < L->n_tensors; i++) {
            snprintf(name, sizeof name, "%s.final.%s", opt ? "adam" : "sgd", L->t[i].name);
            const ms_fx_tensor_t *t = NULL;
            for (int j = 0; j < fx.n; j++)
                if (strcmp(fx.t[j].name, name) == 0) t = &fx.t[j];
            if (!t) continue;
            double dp = rel_diff(params + L->t[i].off, t->data, L->t[i].n);
            CHECK_MSG(dp < 1e-4, "%s: %s differs by %.3g", file, name, dp);
        }
    }
    free(bx);
    free(by);
    free(params);
    free(grad);
    free(m);
    free(v);
    ms_net_free(&net);
    ms_fixture_free(&fx);
}

static void test_paper_cnn(void) { run_case("nn_cnn.msfx", ms_test_paper_cnn()); }
static void test_mlp_bias_penalties(void) { run_case("nn_mlp.msfx", arch_mlp()); }
static void test_two_conv_blocks(void) { run_case("nn_deep.msfx", arch_deep()); }

int main(void) {
    RUN_TEST(test_paper_cnn);
    RUN_TEST(test_mlp_bias_penalties);
    RUN_TEST(test_two_conv_blocks);
    return ms_test_summary();
}
