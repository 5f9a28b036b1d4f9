/* The unit associations (src/analysis/assoc.c, seed 003) against PyTorch autograd:
 * tests/fixtures/assoc_mlp.msfx (written by tests/gen_assoc_fixtures.py)
 * holds a small MLP (12 -> 7 -> 6 -> 4, with a dead unit in fc1), its
 * inputs, and the four associations of both hidden layers computed sample
 * by sample with torch.autograd.functional.jacobian / hessian in float64,
 * with their abs and _norm versions. Also checks that the result does not
 * depend on the number of samples per block boundary (N = 40 spans two
 * blocks) and that arguments are validated. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "fixture.h"
#include "modsweep/assoc.h"
#include "modsweep/error.h"
#include "modsweep/nn.h"

static const char *const raw_names[4] = {"forward_cov", "forward_jac", "backward_jac",
                                         "backward_hess"};

/* max |a - b| / max(1e-12, max |b|). */
static double rel(const double *a, const double *b, size_t n) {
    double s = 1e-12;
    for (size_t i = 0; i < n; i++)
        s = fabs(b[i]) > s ? fabs(b[i]) : s;
    return ms_max_abs_diff_d(a, b, n) / s;
}

static void test_against_pytorch(void) {
    char path[1024];
    ms_fixture_t fx;
    if (ms_fixture_load(&fx, ms_fixture_path("assoc_mlp.msfx", path, sizeof path)) != 0) {
        CHECK_MSG(0, "cannot load %s", path);
        return;
    }
    ms_arch_t a = {.in_c = 1, .in_h = 3, .in_w = 4, .n_fc = 3, .fc_out = {7, 6, 4}, .fc_bias = 1};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    float *params = malloc(sizeof(float) * L.n_params);
    for (int i = 0; i < L.n_tensors; i++) {
        char name[64];
        snprintf(name, sizeof name, "param.%s", L.t[i].name);
        const float *src = ms_fixture_f32(&fx, name, L.t[i].n);
        CHECK_MSG(src != NULL, "fixture lacks %s", name);
        if (src) memcpy(params + L.t[i].off, src, sizeof(float) * L.t[i].n);
    }
    const int N = 40;
    const float *x = ms_fixture_f32(&fx, "x", (size_t)N * 12);
    CHECK(x != NULL);
    if (!x) goto out;
    double *raw[MS_MAX_FC] = {0};
    raw[0] = malloc(sizeof(double) * 4 * 7 * 7);
    raw[1] = malloc(sizeof(double) * 4 * 6 * 6);
    CHECK_OK(ms_assoc_compute(&L, params, x, N, 3u, raw));
    for (int l = 0; l < 2; l++) {
        const int U = a.fc_out[l];
        const size_t uu = (size_t)U * U;
        double *fin = malloc(sizeof(double) * 8 * uu);
        ms_assoc_finish(raw[l], U, fin);
        for (int m = 0; m < 4; m++) {
            char name[64];
            snprintf(name, sizeof name, "fc%d.%s", l + 1, raw_names[m]);
            const double *ref = ms_fixture_f64(&fx, name, uu);
            CHECK_MSG(ref != NULL, "fixture lacks %s", name);
            if (!ref) continue;
            double e = rel(raw[l] + m * uu, ref, uu);
            printf("  %-18s max rel diff %.2e\n", name, e);
            CHECK_MSG(e < 1e-10, "%s differs from PyTorch by %g", name, e);
            snprintf(name, sizeof name, "fc%d.%s_abs", l + 1, raw_names[m]);
            ref = ms_fixture_f64(&fx, name, uu);
            if (ref) CHECK_MSG(rel(fin + m * uu, ref, uu) < 1e-10, "%s differs", name);
            snprintf(name, sizeof name, "fc%d.%s_norm", l + 1, raw_names[m]);
            ref = ms_fixture_f64(&fx, name, uu);
            if (ref) {
                double en = ms_max_abs_diff_d(fin + (4 + m) * uu, ref, uu);
                CHECK_MSG(en < 1e-10, "%s differs by %g", name, en);
            }
            CHECK_EQ_INT(strcmp(ms_assoc_name(m + 4) + strlen(raw_names[m]), "_norm"), 0);
        }
        /* The dead unit of fc1 (bias -100) has no upstream association. */
        if (l == 0)
            for (int j = 0; j < U; j++) {
                CHECK_NEAR(fin[3 * U + j], 0.0, 0.0);          /* forward_cov row 3 */
                CHECK_NEAR(fin[uu + 3 * U + j], 0.0, 0.0);     /* forward_jac row 3 */
                CHECK_NEAR(fin[4 * uu + 3 * U + j], 0.0, 0.0); /* forward_cov_norm */
            }
        free(fin);
    }
    /* One layer at a time gives the same matrices. */
    double *one[MS_MAX_FC] = {0};
    one[1] = malloc(sizeof(double) * 4 * 6 * 6);
    CHECK_OK(ms_assoc_compute(&L, params, x, N, 2u, one));
    CHECK(memcmp(one[1], raw[1], sizeof(double) * 4 * 36) == 0);
    /* Bad layer sets. */
    CHECK_EQ_INT(ms_assoc_compute(&L, params, x, N, 4u, one), MS_EINVAL); /* the logits layer */
    CHECK_EQ_INT(ms_assoc_compute(&L, params, x, N, 0u, one), MS_EINVAL);
    free(one[1]);
    free(raw[0]);
    free(raw[1]);
out:
    free(params);
    ms_fixture_free(&fx);
}

int main(void) {
    RUN_TEST(test_against_pytorch);
    return ms_test_summary();
}
