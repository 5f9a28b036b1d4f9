/* Circuits (circuit.h) against independent computations: mean and resample
 * ablation against plain forward passes of hand-modified networks, gradients
 * and attribution/IG scores against central finite differences in double,
 * the find/held-out sets against a direct check of their indices, and the
 * whole assessment of a small trained model whose exact circuit comes from
 * the naive pruning loop against brute-force masks, overlaps and losses. */
#include "check.h"
#include "prune_common.h"
#include "modsweep/circuit.h"
#include "modsweep/kernels.h"
#include "modsweep/prune.h"
#include "modsweep/rng.h"

#include <mpi.h>

/* A random model of arch (PyTorch's initialisation with biases made larger,
 * so that ablating weights changes the outputs noticeably). */
static float *random_params(const ms_layout_t *L, uint64_t seed) {
    float *p = malloc(sizeof(float) * L->n_params);
    ms_params_init(L, p, seed);
    return p;
}

static float *random_images(int N, size_t D, uint64_t seed) {
    float *x = malloc(sizeof(float) * D * N);
    ms_rng_t r;
    ms_rng_init(&r, seed, MS_RNG_TESTDATA, 77);
    for (size_t j = 0; j < D * N; j++)
        x[j] = ms_rng_float(&r) * 2.0f - 1.0f;
    return x;
}

static uint8_t *random_mask(const ms_layout_t *L, uint64_t seed, float keep) {
    uint8_t *m = malloc(L->n_fc_weights);
    ms_rng_t r;
    ms_rng_init(&r, seed, MS_RNG_TESTDATA, 78);
    for (size_t j = 0; j < L->n_fc_weights; j++)
        m[j] = ms_rng_float(&r) < keep;
    return m;
}

/* CE of logits z toward label, in double. */
static double ce_of(const float *z, int NC, int label) {
    double m = z[0], s = 0;
    for (int c = 1; c < NC; c++)
        if (z[c] > m) m = z[c];
    for (int c = 0; c < NC; c++)
        s += exp((double)z[c] - m);
    return m + log(s) - z[label];
}

/* The full model's input of every fc layer on NF images, by the float CPU
 * forward pass: act[l] (NF, NI_l) in double. */
static void full_acts(ms_net_t *net, const float *params, const float *x, int NF, double **act) {
    const ms_layout_t *L = &net->L;
    ms_net_forward(net, params, x, NF, NULL);
    for (int l = 0; l < L->arch.n_fc; l++) {
        const int NI = L->fc_in[l];
        const float *src = l == 0 ? net->fc_in0 : net->fc_act[l - 1];
        act[l] = malloc(sizeof(double) * NF * NI);
        for (int j = 0; j < NF * NI; j++)
            act[l][j] = src[j];
    }
}

/* Mean and resample ablation equal a plain forward pass of a network whose
 * removed weights are zero and whose biases carry the removed weights'
 * contribution w * (mean activation) or w * (activation on the drawn image). */
static void test_ablation_direct(void) {
    ms_arch_t a = {.in_c = 1, .in_h = 4, .in_w = 4, .n_fc = 3, .fc_out = {12, 8, 10}, .fc_bias = 1};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    const size_t D = 16;
    const int NF = 7, N = 9, NC = 10;
    const uint64_t seed = 1234;
    float *params = random_params(&L, 5);
    float *xf = random_images(NF, D, 1), *xj = random_images(N, D, 2);
    uint8_t *mask = random_mask(&L, 3, 0.55f);
    double h0f[7 * 16];
    for (size_t j = 0; j < NF * D; j++)
        h0f[j] = xf[j];
    ms_circuit_ref_t ref;
    CHECK_OK(ms_circuit_ref_init(&ref, &L, params, h0f, NF, seed));
    ms_net_t net;
    CHECK_OK(ms_net_init(&net, &a, 16, 1));
    double *act[MS_MAX_FC];
    full_acts(&net, params, xf, NF, act);
    float *mod = malloc(sizeof(float) * L.n_params);
    int32_t ids[9];
    for (int n = 0; n < N; n++)
        ids[n] = 100 + 3 * n;
    double worst = 0;
    long checks = 0;
    for (int kind = 0; kind < MS_ABL_KINDS; kind++) {
        for (int n = 0; n < N; n++) {
            /* The hand-made network for image n. */
            memcpy(mod, params, sizeof(float) * L.n_params);
            size_t moff = 0;
            for (int l = 0; l < a.n_fc; l++) {
                const int O = a.fc_out[l], NI = L.fc_in[l];
                int r = 0;
                if (kind == MS_ABL_RESAMPLE) {
                    ms_rng_t g;
                    ms_rng_init(&g, seed, MS_RNG_RESAMPLE, (uint32_t)(ids[n] * MS_MAX_FC + l));
                    r = (int)ms_rng_below(&g, NF);
                }
                float *w = mod + L.t[L.fc_weight[l]].off, *b = mod + L.t[L.fc_bias_t[l]].off;
                for (int o = 0; o < O; o++) {
                    double extra = 0;
                    for (int i = 0; i < NI; i++) {
                        if (mask[moff + (size_t)o * NI + i]) continue;
                        double src = 0;
                        if (kind == MS_ABL_MEAN) {
                            for (int f = 0; f < NF; f++)
                                src += act[l][f * NI + i];
                            src /= NF;
                        } else if (kind == MS_ABL_RESAMPLE) {
                            src = act[l][r * NI + i];
                        }
                        extra += (double)w[(size_t)o * NI + i] * src;
                        w[(size_t)o * NI + i] = 0.0f;
                    }
                    b[o] = (float)((double)b[o] + extra);
                }
                moff += (size_t)O * NI;
            }
            ms_net_forward(&net, mod, xj + D * n, 1, NULL);
            const float *z = net.fc_act[a.n_fc - 1];
            for (int label = 0; label < NC; label++) {
                uint8_t y = (uint8_t)label;
                ms_circuit_eval_t e;
                CHECK_OK(ms_circuit_judge(&L, params, mask, kind, &ref, xj + D * n, NULL, NULL, &y,
                                          &ids[n], 1, label, &e));
                const double want = ce_of(z, NC, label);
                const double d = fabs(e.label_ce - want);
                if (d > worst) worst = d;
                CHECK_NEAR(e.label_ce, want, 1e-4);
                checks++;
            }
        }
    }
    printf("  %ld losses (3 kinds x %d images x %d labels), worst |diff| %.3g\n", checks, N, NC,
           worst);
    /* The resample draws really differ between layers and images. */
    int distinct = 0;
    for (int n = 1; n < N; n++)
        distinct += ms_circuit_resample_source(seed, ids[n], 0, NF) !=
                    ms_circuit_resample_source(seed, ids[0], 0, NF);
    CHECK(distinct > 0);
    for (int l = 0; l < a.n_fc; l++)
        free(act[l]);
    ms_circuit_ref_free(&ref);
    ms_net_free(&net);
    free(mod);
    free(params);
    free(xf);
    free(xj);
    free(mask);
}

/* L = mean CE toward label over NF inputs, weights wd (double, mask order)
 * scaled by alpha, biases from params: a plain double forward pass. */
static double loss_double(const ms_layout_t *L, const float *params, const double *wd,
                          const double *h0, int NF, int label) {
    const ms_arch_t *a = &L->arch;
    double s = 0;
    double buf[2][64];
    for (int f = 0; f < NF; f++) {
        const double *in = h0 + (size_t)f * L->fc_in[0];
        size_t off = 0;
        double *out = buf[0];
        for (int l = 0; l < a->n_fc; l++) {
            const int O = a->fc_out[l], NI = L->fc_in[l];
            const float *b = L->fc_bias_t[l] >= 0 ? params + L->t[L->fc_bias_t[l]].off : NULL;
            for (int o = 0; o < O; o++) {
                double z = b ? b[o] : 0;
                for (int i = 0; i < NI; i++)
                    z += wd[off + (size_t)o * NI + i] * in[i];
                out[o] = l + 1 < a->n_fc && z < 0 ? 0 : z;
            }
            off += (size_t)O * NI;
            in = out;
            out = out == buf[0] ? buf[1] : buf[0];
        }
        const int NC = a->fc_out[a->n_fc - 1];
        double m = in[0], e = 0;
        for (int c = 1; c < NC; c++)
            if (in[c] > m) m = in[c];
        for (int c = 0; c < NC; c++)
            e += exp(in[c] - m);
        s += m + log(e) - in[label];
    }
    return s / NF;
}

/* dL/dw at alpha * w by central differences, for every fc weight. */
static void fd_grad(const ms_layout_t *L, const float *params, double alpha, const double *h0,
                    int NF, int label, double *g) {
    const size_t NW = L->n_fc_weights;
    double *wd = malloc(sizeof(double) * NW);
    size_t j = 0;
    for (int l = 0; l < L->arch.n_fc; l++) {
        const ms_tensor_t *t = &L->t[L->fc_weight[l]];
        for (size_t k = 0; k < t->n; k++)
            wd[j++] = alpha * (double)params[t->off + k];
    }
    const double h = 1e-6;
    for (j = 0; j < NW; j++) {
        const double keep = wd[j];
        wd[j] = keep + h;
        const double up = loss_double(L, params, wd, h0, NF, label);
        wd[j] = keep - h;
        const double dn = loss_double(L, params, wd, h0, NF, label);
        wd[j] = keep;
        g[j] = (up - dn) / (2 * h);
    }
    free(wd);
}

/* Gradients, attribution and IG scores against finite differences. */
static void test_attribution_fd(void) {
    ms_arch_t a = {.in_c = 1, .in_h = 3, .in_w = 3, .n_fc = 3, .fc_out = {10, 7, 5}, .fc_bias = 1};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    const int NF = 6, label = 2, steps = 4;
    const size_t NW = L.n_fc_weights;
    float *params = random_params(&L, 9);
    float *x = random_images(NF, 9, 4);
    double h0[6 * 9];
    for (int j = 0; j < NF * 9; j++)
        h0[j] = x[j];
    double *g = malloc(sizeof(double) * NW), *fd = malloc(sizeof(double) * NW);
    double *sc = malloc(sizeof(double) * NW), *ig = calloc(NW, sizeof(double));
    double worst = 0;
    const double alphas[] = {1.0, 0.5, 0.25};
    for (int ai = 0; ai < 3; ai++) {
        CHECK_OK(ms_circuit_grad(&L, params, alphas[ai], h0, NF, label, g));
        fd_grad(&L, params, alphas[ai], h0, NF, label, fd);
        for (size_t j = 0; j < NW; j++) {
            const double d = fabs(g[j] - fd[j]);
            if (d > worst) worst = d;
            CHECK_NEAR(g[j], fd[j], 1e-7 + 1e-6 * fabs(fd[j]));
        }
    }
    printf("  gradient vs central differences over %zu weights x 3 alphas: worst |diff| %.3g\n", NW,
           worst);
    /* Attribution: |w * dL/dw| with the finite-difference gradient. */
    fd_grad(&L, params, 1.0, h0, NF, label, fd);
    CHECK_OK(ms_circuit_scores(&L, params, MS_CM_ATTRIBUTION, 0, h0, NF, label, sc));
    size_t j = 0;
    for (int l = 0; l < a.n_fc; l++) {
        const ms_tensor_t *t = &L.t[L.fc_weight[l]];
        for (size_t k = 0; k < t->n; k++, j++)
            CHECK_NEAR(sc[j], fabs(params[t->off + k] * fd[j]), 1e-7);
    }
    /* IG: |w * mean over alpha = k/steps of dL/dw at alpha w|. */
    for (int k = 1; k <= steps; k++) {
        fd_grad(&L, params, (double)k / steps, h0, NF, label, fd);
        for (j = 0; j < NW; j++)
            ig[j] += fd[j] / steps;
    }
    CHECK_OK(ms_circuit_scores(&L, params, MS_CM_IG, steps, h0, NF, label, sc));
    j = 0;
    for (int l = 0; l < a.n_fc; l++) {
        const ms_tensor_t *t = &L.t[L.fc_weight[l]];
        for (size_t k = 0; k < t->n; k++, j++)
            CHECK_NEAR(sc[j], fabs(params[t->off + k] * ig[j]), 1e-7);
    }
    /* Magnitude. */
    CHECK_OK(ms_circuit_scores(&L, params, MS_CM_MAGNITUDE, 0, h0, NF, label, sc));
    CHECK(sc[3] == fabs((double)params[L.t[L.fc_weight[0]].off + 3]));
    free(g);
    free(fd);
    free(sc);
    free(ig);
    free(params);
    free(x);
}

/* The find and held-out sets never share an image, cover what they should,
 * and the find set is the label's first `samples` images. */
static void test_sets_disjoint(void) {
    enum { NT = 200, NTR = 300 };
    uint8_t yt[NT], ytr[NTR];
    ms_rng_t r;
    ms_rng_init(&r, 5, MS_RNG_TESTDATA, 1);
    for (int n = 0; n < NT; n++)
        yt[n] = (uint8_t)ms_rng_below(&r, 10);
    for (int n = 0; n < NTR; n++)
        ytr[n] = (uint8_t)ms_rng_below(&r, 10);
    int32_t find[NTR], held[NT];
    const int samples_list[] = {0, 5, 12, 1000};
    for (int ft = 0; ft < 2; ft++)
        for (int si = 0; si < 4; si++)
            for (int label = 0; label < 10; label++) {
                int NF, NH;
                const int samples = samples_list[si];
                ms_circuit_sets(yt, NT, ytr, NTR, label, ft, samples, find, &NF, held, &NH);
                const uint8_t *yf = ft ? ytr : yt;
                const int nf = ft ? NTR : NT;
                int of_label = 0;
                for (int n = 0; n < nf; n++)
                    of_label += yf[n] == label;
                CHECK_EQ_INT(NF, samples && samples < of_label ? samples : of_label);
                for (int k = 0; k < NF; k++) {
                    CHECK(yf[find[k]] == label);
                    if (k) CHECK(find[k] > find[k - 1]);
                }
                /* The first NF images of the label, in order. */
                for (int n = 0, k = 0; n < nf && k < NF; n++)
                    if (yf[n] == label) CHECK_EQ_INT(find[k++], n);
                /* Disjoint (only meaningful when both index the test split). */
                char in_find[NT] = {0}, in_held[NT] = {0};
                if (!ft)
                    for (int k = 0; k < NF; k++)
                        in_find[find[k]] = 1;
                for (int k = 0; k < NH; k++)
                    in_held[held[k]] = 1;
                for (int n = 0; n < NT; n++) {
                    CHECK(!(in_find[n] && in_held[n]));
                    CHECK(in_find[n] || in_held[n]); /* every other test image is held out */
                }
                CHECK_EQ_INT(NH, ft ? NT : NT - NF);
            }
}

/* The mean CE toward label over the images of class label among x (float
 * forward of params with mask applied; kind zero) or with mean ablation
 * built into the biases. */
static double direct_ce(const ms_layout_t *L, const float *params, const uint8_t *mask, int kind,
                        double **act, int NF, const float *x, const uint8_t *y, int N, int label,
                        double *acc) {
    ms_net_t net;
    ms_net_init(&net, &L->arch, N, 1);
    float *mod = malloc(sizeof(float) * L->n_params);
    memcpy(mod, params, sizeof(float) * L->n_params);
    size_t moff = 0;
    for (int l = 0; l < L->arch.n_fc; l++) {
        const int O = L->arch.fc_out[l], NI = L->fc_in[l];
        float *w = mod + L->t[L->fc_weight[l]].off;
        float *b = L->fc_bias_t[l] >= 0 ? mod + L->t[L->fc_bias_t[l]].off : NULL;
        for (int o = 0; o < O; o++) {
            double extra = 0;
            for (int i = 0; i < NI; i++) {
                if (!mask || mask[moff + (size_t)o * NI + i]) continue;
                double m = 0;
                for (int f = 0; f < NF; f++)
                    m += act[l][f * NI + i];
                if (kind == MS_ABL_MEAN) extra += (double)w[(size_t)o * NI + i] * (m / NF);
                w[(size_t)o * NI + i] = 0.0f;
            }
            if (b) b[o] = (float)((double)b[o] + extra);
        }
        moff += (size_t)O * NI;
    }
    ms_net_forward(&net, mod, x, N, NULL);
    const int NC = L->arch.fc_out[L->arch.n_fc - 1];
    double s = 0;
    int n_lab = 0, correct = 0;
    for (int n = 0; n < N; n++) {
        if (y[n] != label) continue;
        const float *z = net.fc_act[L->arch.n_fc - 1] + n * NC;
        int best = 0;
        for (int c = 1; c < NC; c++)
            if (z[c] > z[best]) best = c;
        correct += best == label;
        s += ce_of(z, NC, label);
        n_lab++;
    }
    ms_net_free(&net);
    free(mod);
    *acc = (double)correct / n_lab;
    return s / n_lab;
}

/* A small trained model, its exact circuit from the naive pruning loop on
 * the find set, and the whole assessment checked by brute force. */
static void test_assess_known_circuit(void) {
    ms_arch_t a = {
        .in_c = 1, .in_h = 8, .in_w = 8, .n_fc = 3, .fc_out = {12, 10, 10}, .fc_bias = 1};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    float *params = NULL;
    ms_split_t test;
    CHECK_OK(prune_test_model(&a, 1200, 2, 21, &params, &test));
    if (!params) return;
    const int label = 4, samples = 25;
    const size_t D = 64, NW = L.n_fc_weights;
    int32_t *find = malloc(sizeof(int32_t) * test.n), *held = malloc(sizeof(int32_t) * test.n);
    int NF, NH;
    ms_circuit_sets(test.y, test.n, NULL, 0, label, 0, samples, find, &NF, held, &NH);
    float *xf = malloc(sizeof(float) * D * NF), *xh = malloc(sizeof(float) * D * NH);
    uint8_t *yh = malloc(NH);
    for (int k = 0; k < NF; k++)
        memcpy(xf + D * k, test.x + D * find[k], sizeof(float) * D);
    for (int k = 0; k < NH; k++) {
        memcpy(xh + D * k, test.x + D * held[k], sizeof(float) * D);
        yh[k] = test.y[held[k]];
    }
    ms_prune_cfg_t pc = {.label = label, .layers = 0x7, .comm = MPI_COMM_SELF, .naive = 1};
    ms_prune_result_t exact = {.mask = malloc(NW)};
    CHECK_OK(ms_prune(&L, params, xf, NF, &pc, &exact));
    double *h0f = malloc(sizeof(double) * D * NF);
    CHECK_OK(ms_circuit_features(&L, params, xf, NF, h0f));
    ms_circuit_cfg_t cfg = {.label = label,
                            .layers = 0x7,
                            .kinds = 0x7,
                            .methods = 0x7,
                            .ig_steps = 3,
                            .seed = 8,
                            .n_sizes = 2,
                            .sizes = {0.1, 0.5}};
    ms_circuit_report_t rep = {0};
    for (int m = 0; m < MS_CM_METHODS; m++)
        rep.method_mask[m] = malloc(NW);
    CHECK_OK(
        ms_circuit_assess(&L, params, exact.mask, &cfg, h0f, NF, test.x, test.y, held, NH, &rep));
    CHECK_EQ_INT(rep.find_n, NF);
    CHECK_EQ_INT(rep.heldout_n, NH);
    /* The full model's activations on the find set, for the mean-ablated references. */
    ms_net_t net;
    CHECK_OK(ms_net_init(&net, &a, NF, 1));
    double *act[MS_MAX_FC];
    full_acts(&net, params, xf, NF, act);
    ms_net_free(&net);
    double acc;
    const double full = direct_ce(&L, params, NULL, 0, act, NF, xh, yh, NH, label, &acc);
    CHECK_NEAR(rep.full_heldout.label_ce, full, 1e-4);
    uint8_t *empty = calloc(NW, 1);
    /* The exact circuit: held-out CE, faithfulness, zero and mean kinds. */
    for (int kind = 0; kind < 2; kind++) {
        const double ce = direct_ce(&L, params, exact.mask, kind, act, NF, xh, yh, NH, label, &acc);
        const double ce0 = direct_ce(&L, params, empty, kind, act, NF, xh, yh, NH, label, &acc);
        CHECK_NEAR(rep.exact_heldout[kind].label_ce, ce, 1e-4);
        CHECK_NEAR(rep.empty_heldout_ce[kind], ce0, 1e-4);
        CHECK_NEAR(rep.exact_faith[kind], (ce0 - ce) / (ce0 - full), 1e-3);
    }
    /* On the find set with zero ablation, the exact circuit's loss is what the pruning said. */
    CHECK_NEAR(rep.exact_find_ce[MS_ABL_ZERO], exact.loss_final, 1e-5);
    CHECK_NEAR(rep.full_find_ce, exact.loss0, 1e-5);
    CHECK(rep.exact_find_ce[MS_ABL_ZERO] <= rep.full_find_ce + 1e-5);
    /* Every method: the exact kept counts, a top-k mask of its scores,
     * Jaccard by brute force over index lists, faithfulness directly. */
    double *sc = malloc(sizeof(double) * NW);
    for (int m = 0; m < MS_CM_METHODS; m++) {
        const uint8_t *mm = rep.method_mask[m];
        CHECK_OK(ms_circuit_scores(&L, params, m, cfg.ig_steps, h0f, NF, label, sc));
        size_t off = 0;
        for (int l = 0; l < a.n_fc; l++) {
            const size_t n = L.t[L.fc_weight[l]].n;
            long k = 0, inter = 0, uni = 0;
            for (size_t j = 0; j < n; j++)
                k += mm[off + j];
            CHECK_EQ_INT(k, exact.kept[l]);
            for (size_t j = 0; j < n; j++) /* kept beats removed */
                for (size_t q = 0; q < n; q++)
                    if (mm[off + j] && !mm[off + q])
                        CHECK(sc[off + j] > sc[off + q] || (sc[off + j] == sc[off + q] && j < q));
            /* Jaccard from the lists of kept indices. */
            long la[4096], lb[4096], na = 0, nb = 0;
            for (size_t j = 0; j < n; j++) {
                if (mm[off + j]) la[na++] = (long)j;
                if (exact.mask[off + j]) lb[nb++] = (long)j;
            }
            for (long p = 0; p < na; p++)
                for (long q = 0; q < nb; q++)
                    inter += la[p] == lb[q];
            uni = na + nb - inter;
            CHECK_NEAR(rep.jaccard[m][l], uni ? (double)inter / uni : 1.0, 1e-12);
            off += n;
        }
        for (int kind = 0; kind < 2; kind++) {
            double acc0;
            const double ce = direct_ce(&L, params, mm, kind, act, NF, xh, yh, NH, label, &acc);
            const double ce0 =
                direct_ce(&L, params, empty, kind, act, NF, xh, yh, NH, label, &acc0);
            CHECK_NEAR(rep.method_ce[m][kind], ce, 1e-4);
            CHECK_NEAR(rep.method_acc[m][kind], acc, 1.0 / NH + 1e-12);
            CHECK_NEAR(rep.method_faith[m][kind], (ce0 - ce) / (ce0 - full), 1e-3);
        }
        CHECK(rep.method_seconds[m] >= 0);
        printf("  %-11s jaccard fc1..3 %.3f %.3f %.3f  faith zero %.3f mean %.3f resample %.3f\n",
               ms_circuit_method_name(m), rep.jaccard[m][0], rep.jaccard[m][1], rep.jaccard[m][2],
               rep.method_faith[m][0], rep.method_faith[m][1], rep.method_faith[m][2]);
        /* A size: the top round(0.5 n) of each layer; checked with zero ablation. */
        long ks[MS_MAX_FC];
        uint8_t *half = malloc(NW);
        for (int l = 0; l < a.n_fc; l++)
            ks[l] = lround(0.5 * L.t[L.fc_weight[l]].n);
        CHECK_OK(ms_circuit_select(&L, sc, ks, half));
        const double ce = direct_ce(&L, params, half, 0, act, NF, xh, yh, NH, label, &acc);
        const double ce0 = direct_ce(&L, params, empty, 0, act, NF, xh, yh, NH, label, &acc);
        CHECK_NEAR(rep.size_faith[m][1][0], (ce0 - ce) / (ce0 - full), 1e-3);
        free(half);
    }
    printf("  exact: kept %ld/%ld/%ld, faith zero %.3f mean %.3f resample %.3f (find set: %.3f)\n",
           exact.kept[0], exact.kept[1], exact.kept[2], rep.exact_faith[0], rep.exact_faith[1],
           rep.exact_faith[2], rep.exact_find_faith[0]);
    CHECK_NEAR(rep.size_ecs[1], 0.5, 0.01);
    for (int l = 0; l < a.n_fc; l++)
        free(act[l]);
    for (int m = 0; m < MS_CM_METHODS; m++)
        free(rep.method_mask[m]);
    free(sc);
    free(empty);
    free(h0f);
    free(exact.mask);
    free(xf);
    free(xh);
    free(yh);
    free(find);
    free(held);
    free(params);
    ms_split_free(&test);
}

/* The pass over blocks of images (one image per vector lane, the path the
 * program takes) gives the one-image reference pass's bits: every kind, a
 * dense and a sparse mask and the full model, image counts that leave idle
 * lanes, features given and computed from images, 1 and 3 threads. */
static void test_block_equals_scalar(void) {
    ms_arch_t a = {.in_c = 1, .in_h = 6, .in_w = 6, .n_fc = 3, .fc_out = {20, 12, 10}, .fc_bias = 1};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    const int NC = 10, NF = 7, NI0 = L.fc_in[0];
    const size_t D = 36;
    float *params = random_params(&L, 91);
    float *xf = random_images(NF, D, 92);
    const int N = 301; /* over one feature batch (256), not a multiple of 8 */
    float *x = random_images(N, D, 93);
    uint8_t *y = malloc(N);
    int32_t *sel = malloc(sizeof(int32_t) * N);
    for (int n = 0; n < N; n++) {
        y[n] = (uint8_t)(n * 7 % NC);
        sel[n] = (n * 13) % N;
    }
    double *hf = malloc(sizeof(double) * NF * NI0), *hx = malloc(sizeof(double) * N * NI0);
    CHECK_OK(ms_circuit_features(&L, params, xf, NF, hf));
    CHECK_OK(ms_circuit_features(&L, params, x, N, hx));
    ms_circuit_ref_t ref;
    CHECK_OK(ms_circuit_ref_init(&ref, &L, params, hf, NF, 5));
    uint8_t *masks[3] = {NULL, random_mask(&L, 94, 0.8f), random_mask(&L, 95, 0.1f)};
    long compared = 0;
    for (int mi = 0; mi < 3; mi++)
        for (int kind = 0; kind < MS_ABL_KINDS; kind++)
            for (int way = 0; way < 3; way++) {
                const int label = (mi + kind + way) % NC;
                /* The block pass on 1 and 3 threads against the reference. */
                ms_circuit_eval_t e[3];
                const int n = way == 2 ? 13 : N; /* 13: one block and 5 idle lanes */
                for (int v = 0; v < 3; v++) {
                    ms__circuit_judge_scalar = v == 0;
                    ms_kernels_set_threads(v == 2 ? 3 : 1);
                    if (way == 0)
                        CHECK_OK(ms_circuit_judge(&L, params, masks[mi], kind, &ref, x, sel, NULL,
                                                  y, NULL, n, label, &e[v]));
                    else
                        CHECK_OK(ms_circuit_judge(&L, params, masks[mi], kind, &ref, NULL, NULL,
                                                  hx, y, NULL, n, label, &e[v]));
                }
                ms__circuit_judge_scalar = 0;
                ms_kernels_set_threads(1);
                CHECK(e[0].label_ce == e[0].label_ce); /* not NaN: the label has images */
                for (int v = 1; v < 3; v++) {
                    CHECK(memcmp(&e[0].label_ce, &e[v].label_ce, sizeof(double)) == 0);
                    for (int c = 0; c < NC; c++) {
                        CHECK(e[0].class_n[c] == e[v].class_n[c]);
                        CHECK(memcmp(&e[0].class_acc[c], &e[v].class_acc[c], sizeof(double)) == 0);
                    }
                }
                compared++;
            }
    printf("  %ld judgements, block pass on 1 and 3 threads and reference pass bitwise equal\n", compared);
    /* Several masks judged in one pass over the images equal one at a time. */
    {
        const uint8_t *jm[4] = {NULL, masks[1], masks[2], masks[1]};
        const int jk[4] = {MS_ABL_ZERO, MS_ABL_MEAN, MS_ABL_RESAMPLE, MS_ABL_ZERO};
        ms_circuit_eval_t many[4], one;
        CHECK_OK(ms_circuit_judge_many(&L, params, 4, jm, jk, &ref, x, sel, NULL, y, NULL, N, 4,
                                       many));
        for (int q = 0; q < 4; q++) {
            CHECK_OK(ms_circuit_judge(&L, params, jm[q], jk[q], &ref, x, sel, NULL, y, NULL, N, 4,
                                      &one));
            CHECK(memcmp(&one.label_ce, &many[q].label_ce, sizeof(double)) == 0);
            for (int c = 0; c < NC; c++)
                CHECK(memcmp(&one.class_acc[c], &many[q].class_acc[c], sizeof(double)) == 0);
        }
        CHECK(many[1].label_ce != many[3].label_ce); /* the kinds really differ */
    }
    ms_circuit_ref_free(&ref);
    free(masks[1]);
    free(masks[2]);
    free(hf);
    free(hx);
    free(y);
    free(sel);
    free(x);
    free(xf);
    free(params);
}

/* Gradients over blocks of images (the path the program takes) give the
 * one-image reference's bits: alpha 1 and 0.37, image counts below, at and
 * past one block of 8 and not a multiple of it, 1 and 3 threads, and a model
 * without hidden layers. */
static void test_grad_block_equals_scalar(void) {
    const ms_arch_t archs[2] = {
        {.in_c = 1, .in_h = 6, .in_w = 6, .n_fc = 3, .fc_out = {21, 12, 10}, .fc_bias = 1},
        {.in_c = 1, .in_h = 5, .in_w = 5, .n_fc = 1, .fc_out = {7}, .fc_bias = 0}};
    const int Ns[] = {1, 5, 8, 13, 70};
    const double alphas[] = {1.0, 0.37};
    long compared = 0, differ_by_alpha = 0;
    for (int ai = 0; ai < 2; ai++) {
        ms_layout_t L;
        CHECK_OK(ms_layout_init(&L, &archs[ai]));
        const int NI0 = L.fc_in[0], Nmax = 70;
        const size_t NW = L.n_fc_weights;
        float *params = random_params(&L, 31 + ai);
        float *x = random_images(Nmax, (size_t)NI0, 32 + ai);
        double *h0 = malloc(sizeof(double) * Nmax * NI0);
        CHECK_OK(ms_circuit_features(&L, params, x, Nmax, h0));
        double *ref = malloc(sizeof(double) * NW), *g = malloc(sizeof(double) * NW);
        double *g1 = malloc(sizeof(double) * NW);
        for (int ni = 0; ni < 5; ni++)
            for (int al = 0; al < 2; al++) {
                const int N = Ns[ni], label = (ni + al) % archs[ai].fc_out[archs[ai].n_fc - 1];
                ms__circuit_grad_scalar = 1;
                CHECK_OK(ms_circuit_grad(&L, params, alphas[al], h0, N, label, ref));
                ms__circuit_grad_scalar = 0;
                for (int th = 1; th <= 3; th += 2) {
                    ms_kernels_set_threads(th);
                    for (size_t j = 0; j < NW; j++)
                        g[j] = NAN;
                    CHECK_OK(ms_circuit_grad(&L, params, alphas[al], h0, N, label, g));
                    CHECK(memcmp(ref, g, sizeof(double) * NW) == 0);
                    compared++;
                }
                ms_kernels_set_threads(1);
                if (al == 1) differ_by_alpha += memcmp(g, g1, sizeof(double) * NW) != 0;
                memcpy(g1, g, sizeof(double) * NW);
            }
        free(ref);
        free(g);
        free(g1);
        free(h0);
        free(x);
        free(params);
    }
    CHECK(differ_by_alpha == 10); /* alpha really changes the gradient */
    printf("  %ld gradients, block pass on 1 and 3 threads and reference bitwise equal\n",
           compared);
}

/* The find set's activations and resample's constant part built over
 * blocks of find images give the one-image build's bits: dense, sparse,
 * empty and full masks, find sets of 3, 13 and 37 images (not multiples of
 * 8, under and over one group of four blocks), 1 and 3 threads. */
static void test_resample_plan_block_equals_scalar(void) {
    ms_arch_t a = {
        .in_c = 1, .in_h = 6, .in_w = 6, .n_fc = 3, .fc_out = {20, 12, 10}, .fc_bias = 1};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    const int NC = 10, NI0 = L.fc_in[0], N = 77;
    const size_t NW = L.n_fc_weights;
    float *params = random_params(&L, 41);
    float *xf = random_images(37, 36, 42), *x = random_images(N, 36, 43);
    double *hf = malloc(sizeof(double) * 37 * NI0), *hx = malloc(sizeof(double) * N * NI0);
    CHECK_OK(ms_circuit_features(&L, params, xf, 37, hf));
    CHECK_OK(ms_circuit_features(&L, params, x, N, hx));
    uint8_t *y = malloc(N);
    for (int n = 0; n < N; n++)
        y[n] = (uint8_t)(n % 3 == 0 ? 4 : n * 7 % NC);
    uint8_t *masks[4] = {random_mask(&L, 44, 0.9f), random_mask(&L, 45, 0.05f), malloc(NW),
                         malloc(NW)};
    memset(masks[2], 0, NW);
    memset(masks[3], 1, NW);
    const int NFs[3] = {3, 13, 37};
    long compared = 0;
    double ce_dense = 0, ce_sparse = 0;
    for (int fi = 0; fi < 3; fi++) {
        ms_circuit_ref_t ref, ref1;
        /* The find set's activations: over blocks and one image at a time. */
        ms__circuit_plan_scalar = 1;
        CHECK_OK(ms_circuit_ref_init(&ref1, &L, params, hf, NFs[fi], 17 + fi));
        ms__circuit_plan_scalar = 0;
        ms_kernels_set_threads(1 + 2 * (fi == 2));
        CHECK_OK(ms_circuit_ref_init(&ref, &L, params, hf, NFs[fi], 17 + fi));
        ms_kernels_set_threads(1);
        for (int l = 0; l < a.n_fc; l++) {
            CHECK(memcmp(ref.act[l], ref1.act[l], sizeof(double) * NFs[fi] * L.fc_in[l]) == 0);
            CHECK(memcmp(ref.mean[l], ref1.mean[l], sizeof(double) * L.fc_in[l]) == 0);
            CHECK(memcmp(ref.act_t[l], ref1.act_t[l],
                         sizeof(double) * ((NFs[fi] + 7) / 8 * 8) * L.fc_in[l]) == 0);
        }
        ms_circuit_ref_free(&ref1);
        for (int mi = 0; mi < 4; mi++) {
            ms_circuit_eval_t e[3];
            for (int v = 0; v < 3; v++) {
                ms__circuit_plan_scalar = v == 0;
                ms_kernels_set_threads(v == 2 ? 3 : 1);
                CHECK_OK(ms_circuit_judge(&L, params, masks[mi], MS_ABL_RESAMPLE, &ref, NULL, NULL,
                                          hx, y, NULL, N, 4, &e[v]));
            }
            ms__circuit_plan_scalar = 0;
            ms_kernels_set_threads(1);
            CHECK(e[0].label_ce == e[0].label_ce);
            for (int v = 1; v < 3; v++) {
                CHECK(memcmp(&e[0].label_ce, &e[v].label_ce, sizeof(double)) == 0);
                for (int c = 0; c < NC; c++)
                    CHECK(memcmp(&e[0].class_acc[c], &e[v].class_acc[c], sizeof(double)) == 0);
            }
            if (mi == 0) ce_dense = e[0].label_ce;
            if (mi == 1) ce_sparse = e[0].label_ce;
            compared++;
        }
        CHECK(ce_dense != ce_sparse); /* the masks really differ */
        ms_circuit_ref_free(&ref);
    }
    printf("  %ld resample judgements, block-built and one-image-built plans bitwise equal\n",
           compared);
    for (int mi = 0; mi < 4; mi++)
        free(masks[mi]);
    free(y);
    free(hf);
    free(hx);
    free(x);
    free(xf);
    free(params);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    ms_kernels_set_threads(1);
    RUN_TEST(test_ablation_direct);
    RUN_TEST(test_block_equals_scalar);
    RUN_TEST(test_grad_block_equals_scalar);
    RUN_TEST(test_resample_plan_block_equals_scalar);
    RUN_TEST(test_attribution_fd);
    RUN_TEST(test_sets_disjoint);
    RUN_TEST(test_assess_known_circuit);
    int rc = ms_test_summary();
    MPI_Finalize();
    return rc;
}
