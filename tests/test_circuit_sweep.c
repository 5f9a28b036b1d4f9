/* The circuit columns end to end (src/sweep/circuit_stage.c through the
 * sweep driver): tiny MLP sweeps on generated MNIST-format data with every
 * ablation kind and method, the find set on test and on training images.
 * Every stored value is checked against a recomputation from the stored
 * mask and parameters: the whole assessment again (same column layout), and
 * independently the held-out losses and accuracies by plain float forward
 * passes, the method masks' per-layer counts and Jaccard by brute force. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testdata.h"
#include "modsweep/circuit.h"
#include "modsweep/error.h"
#include "modsweep/prune.h"
#include "modsweep/results.h"
#include "modsweep/sweep.h"

static char dir[512];

static const char *const grid_fmt =
    "[sweep]\nname = cs\n[data]\ndataset = mnist\ndir = %s\n"
    "[model]\narch = mlp\nhidden = 16, 12\nbias = true\n"
    "[train]\nseed = 3\nepochs = 2\nbatch = 32\n"
    "[cluster]\nlayers = none\ngradsim_layers = none\nbsgc_layers = none\ncurve_k = none\n"
    "ablate = false\n[prune]\nlabels = 0, 3\nsamples = 15\nfind_set = %s\n"
    "ablation_ref = %s\nref_images = 40\n"
    "ablation = zero, mean, resample\nmethods = magnitude, attribution, ig\nig_steps = 3\n"
    "sizes = 0.2, 0.6\n";

static void *read_row(ms_results_t *r, const char *path, long m, long li, size_t size) {
    const ms_col_t *c = ms_results_col(path);
    CHECK_MSG(c != NULL, "no column %s", path);
    if (!c) return calloc(1, 8);
    const long n = ms_results_row_elems(r, c);
    void *buf = calloc((size_t)(n > 0 ? n : 1), size);
    CHECK_OK(ms_results_read(r, path, m, li, buf));
    return buf;
}

/* Mean CE toward label and accuracy of each class, float forward of params
 * with mask applied (NULL: none), over images sel of split s. */
static void direct(const ms_layout_t *L, const float *params, const uint8_t *mask,
                   const ms_split_t *s, const int32_t *sel, int N, int label, double *ce,
                   double *acc) {
    float *p = malloc(sizeof(float) * L->n_params);
    memcpy(p, params, sizeof(float) * L->n_params);
    if (mask) ms_prune_apply_mask(L, p, mask);
    ms_net_t net;
    CHECK_OK(ms_net_init(&net, &L->arch, 1, 1));
    const size_t D = (size_t)s->c * s->h * s->w;
    const int NC = 10;
    long n_c[10] = {0}, ok[10] = {0}, nl = 0;
    double sum = 0;
    for (int k = 0; k < N; k++) {
        const int i = sel[k];
        ms_net_forward(&net, p, s->x + D * i, 1, NULL);
        const float *z = net.fc_act[L->arch.n_fc - 1];
        int best = 0;
        for (int c = 1; c < NC; c++)
            if (z[c] > z[best]) best = c;
        n_c[s->y[i]]++;
        ok[s->y[i]] += best == s->y[i];
        if (s->y[i] == label) {
            double m = z[0], e = 0;
            for (int c = 1; c < NC; c++)
                if (z[c] > m) m = z[c];
            for (int c = 0; c < NC; c++)
                e += exp((double)z[c] - m);
            sum += m + log(e) - z[label];
            nl++;
        }
    }
    for (int c = 0; c < NC; c++)
        acc[c] = n_c[c] ? (double)ok[c] / n_c[c] : NAN;
    *ce = nl ? sum / nl : NAN;
    ms_net_free(&net);
    free(p);
}

static int same(double a, double b) {
    return (isnan(a) && isnan(b)) || a == b;
}

/* The mean-ablation held-out CE of label 0, per ablation_ref (find, train). */
static double mean_ce_of_ref[2] = {NAN, NAN};

static void check_run(const char *find_set, const char *ref) {
    char grid[1024], path[1024], out[1024];
    snprintf(path, sizeof path, "%s/cs_%s_%s.ini", dir, find_set, ref);
    snprintf(out, sizeof out, "%s/cs_%s_%s.h5", dir, find_set, ref);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    snprintf(grid, sizeof grid, grid_fmt, dir, find_set, ref);
    fputs(grid, f);
    fclose(f);
    ms_run_opts_t o = {.grid_path = path, .output = out, .quiet = 1, .threads = 1, .retries = 0};
    CHECK_OK(ms_sweep_run(&o));
    ms_grid_t g;
    CHECK_OK(ms_grid_load(&g, path));
    ms_split_t train, test;
    CHECK_OK(ms_data_load(&g.base.data, &train, &test));
    ms_results_t *r = NULL;
    CHECK_OK(ms_results_open(&r, out, MPI_COMM_SELF, 0));
    if (!r) return;
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &g.base.arch));
    const size_t NW = L.n_fc_weights, D = (size_t)test.c * test.h * test.w;
    const int NFC = L.arch.n_fc, ft = strcmp(find_set, "train") == 0;
    const int rt = strcmp(ref, "train") == 0;
    float *params = read_row(r, "models/params", 0, -1, 4);
    /* ablation_ref = train: the first 40 training images, independently. */
    double *hr = malloc(sizeof(double) * 40 * L.fc_in[0]);
    CHECK_OK(ms_circuit_features(&L, params, train.x, 40, hr));
    for (int li = 0; li < g.n_labels; li++) {
        const int label = g.labels[li];
        uint8_t *mask = read_row(r, "labels/mask", 0, li, 1);
        /* The sets, independently: the label's first 15 images of the find split. */
        const ms_split_t *fs = ft ? &train : &test;
        int32_t *find = malloc(sizeof(int32_t) * fs->n), *held = malloc(sizeof(int32_t) * test.n);
        int NF = 0, NH = 0, nh_label = 0;
        for (int i = 0; i < fs->n && NF < 15; i++)
            if (fs->y[i] == label) find[NF++] = i;
        for (int i = 0, k = 0; i < test.n; i++) {
            if (!ft && test.y[i] == label && k++ < 15) continue;
            held[NH++] = i;
            nh_label += test.y[i] == label;
        }
        int32_t *n_images = read_row(r, "labels/n_images", 0, li, 4);
        int32_t *heldout_n = read_row(r, "labels/heldout_n", 0, li, 4);
        CHECK_EQ_INT(*n_images, NF);
        CHECK_EQ_INT(*heldout_n, nh_label);
        /* The recomputed assessment, column by column. */
        float *xf = malloc(sizeof(float) * D * NF);
        for (int k = 0; k < NF; k++)
            memcpy(xf + D * k, fs->x + D * find[k], sizeof(float) * D);
        double *h0 = malloc(sizeof(double) * NF * L.fc_in[0]);
        CHECK_OK(ms_circuit_features(&L, params, xf, NF, h0));
        ms_circuit_cfg_t cfg = {.label = label,
                                .layers = g.base.prune_layers,
                                .kinds = 7,
                                .methods = 7,
                                .ig_steps = 3,
                                .seed = g.base.seed,
                                .n_sizes = 2,
                                .sizes = {0.2, 0.6},
                                .ref_h0 = rt ? hr : NULL,
                                .ref_n = rt ? 40 : 0};
        ms_circuit_report_t rep = {0};
        uint8_t *mm = malloc(3 * NW);
        for (int k = 0; k < 3; k++)
            rep.method_mask[k] = mm + k * NW;
        CHECK_OK(ms_circuit_assess(&L, params, mask, &cfg, h0, NF, test.x, test.y, held, NH, &rep));
        double *hce = read_row(r, "labels/heldout_ce", 0, li, 8);
        double *hfa = read_row(r, "labels/heldout_faith", 0, li, 8);
        double *fce = read_row(r, "labels/find_ce", 0, li, 8);
        double *cls = read_row(r, "labels/heldout_classwise_acc", 0, li, 8);
        double *full_cls = read_row(r, "labels/full_heldout_classwise_acc", 0, li, 8);
        double *full_ce = read_row(r, "labels/full_heldout_ce", 0, li, 8);
        double *full_fce = read_row(r, "labels/full_find_ce", 0, li, 8);
        double *mf = read_row(r, "labels/method_faith", 0, li, 8);
        double *jac = read_row(r, "labels/method_jaccard", 0, li, 8);
        double *sf = read_row(r, "labels/size_faith", 0, li, 8);
        uint8_t *smm = read_row(r, "labels/method_mask", 0, li, 1);
        int64_t *kept = read_row(r, "labels/kept", 0, li, 8);
        for (int k = 0; k < 3; k++) {
            CHECK(same(hce[k], rep.exact_heldout[k].label_ce));
            CHECK(same(hfa[k], rep.exact_faith[k]));
            CHECK(same(fce[k], rep.exact_find_ce[k]));
            for (int c = 0; c < 10; c++)
                CHECK(same(cls[k * 10 + c], rep.exact_heldout[k].class_acc[c]));
            for (int m = 0; m < 3; m++) {
                CHECK(same(mf[m * 3 + k], rep.method_faith[m][k]));
                for (int s = 0; s < MS_CIRCUIT_MAX_SIZES; s++)
                    CHECK(
                        same(sf[(m * MS_CIRCUIT_MAX_SIZES + s) * 3 + k], rep.size_faith[m][s][k]));
            }
        }
        CHECK(memcmp(smm, mm, 3 * NW) == 0);
        CHECK(!isnan(hfa[0]) && !isnan(hfa[1]) && !isnan(hfa[2]) && !isnan(sf[3]));
        /* Independently: the full model and the zero-ablated exact circuit by
         * plain float forward passes on the held-out images. */
        double ce, acc[10];
        direct(&L, params, NULL, &test, held, NH, label, &ce, acc);
        CHECK_NEAR(*full_ce, ce, 1e-4);
        for (int c = 0; c < 10; c++)
            CHECK_NEAR(full_cls[c], acc[c], 1e-12 + 1.0 / 20);
        direct(&L, params, mask, &test, held, NH, label, &ce, acc);
        CHECK_NEAR(hce[0], ce, 1e-4);
        for (int c = 0; c < 10; c++)
            CHECK_NEAR(cls[c], acc[c], 1e-12 + 1.0 / 20);
        direct(&L, params, NULL, fs, find, NF, label, &ce, acc);
        CHECK_NEAR(*full_fce, ce, 1e-4);
        /* Method masks: the exact per-layer counts; Jaccard by brute force. */
        for (int m = 0; m < 3; m++) {
            size_t off = 0;
            for (int l = 0; l < NFC; l++) {
                const size_t n = L.t[L.fc_weight[l]].n;
                long k = 0, inter = 0, uni = 0;
                for (size_t j = 0; j < n; j++) {
                    k += smm[m * NW + off + j];
                    inter += smm[m * NW + off + j] && mask[off + j];
                    uni += smm[m * NW + off + j] || mask[off + j];
                }
                CHECK_EQ_INT(k, kept[l]);
                CHECK_NEAR(jac[m * NFC + l], uni ? (double)inter / uni : 1.0, 1e-12);
                off += n;
            }
        }
        if (label == 0 && !ft) mean_ce_of_ref[rt] = hce[MS_ABL_MEAN];
        printf("  find_set %-5s ref %-5s label %d: find %d, held-out %d of the label; faith zero %.3f "
               "mean %.3f resample %.3f; methods (zero) %.3f %.3f %.3f\n",
               find_set, ref, label, NF, nh_label, hfa[0], hfa[1], hfa[2], mf[0], mf[3], mf[6]);
        free(mask);
        free(find);
        free(held);
        free(n_images);
        free(heldout_n);
        free(xf);
        free(h0);
        free(mm);
        free(hce);
        free(hfa);
        free(fce);
        free(cls);
        free(full_cls);
        free(full_ce);
        free(full_fce);
        free(mf);
        free(jac);
        free(sf);
        free(smm);
        free(kept);
    }
    free(params);
    free(hr);
    ms_results_close(r);
    ms_split_free(&train);
    ms_split_free(&test);
    ms_grid_free(&g);
}

/* Faulty circuit keys: a clear message naming the key, no grid. */
static void test_bad_keys(void) {
    const char *cases[][2] = {
        {"[prune]\nablation = zero, median\n", "ablation: unknown value 'median'"},
        {"[prune]\nablation = mean, mean\n", "'mean' is listed twice"},
        {"[prune]\nmethods = gradient\n", "methods: unknown value 'gradient'"},
        {"[prune]\nablation = none\nmethods = ig\n", "list at least one ablation kind"},
        {"[prune]\nsizes = 0.5\n", "sizes needs at least one of methods"},
        {"[prune]\nsizes = 1.5\nmethods = ig\n", "sizes = 1.5 is out of range"},
        {"[prune]\nfind_set = valid\n", "find_set"},
        {"[prune]\nig_steps = 0\n", "ig_steps"},
        {"[prune]\nablation_ref = test\n", "ablation_ref"},
        {"[prune]\nref_images = 0\n", "ref_images"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ms_grid_t g;
        const int rc = ms_grid_parse(&g, "bad.ini", cases[i][0]);
        CHECK_MSG(rc == MS_ECONFIG, "case %zu: rc %d", i, rc);
        if (rc == 0) {
            ms_grid_free(&g);
            continue;
        }
        CHECK_MSG(strstr(ms_err_msg(), cases[i][1]) && strstr(ms_err_msg(), "bad.ini:2"),
                  "case %zu: message '%s' should name bad.ini:2 and '%s'", i, ms_err_msg(),
                  cases[i][1]);
    }
    ms_grid_t g;
    CHECK_OK(ms_grid_parse(&g, "ok.ini", "[prune]\nablation = Resample zero\nmethods = ig\n"));
    CHECK_EQ_INT(g.base.prune_kinds, (1u << MS_ABL_ZERO) | (1u << MS_ABL_RESAMPLE));
    CHECK_EQ_INT(g.base.prune_methods, 1u << MS_CM_IG);
    ms_grid_free(&g);
}

static void test_find_on_test(void) {
    check_run("test", "find");
}
static void test_find_on_train(void) {
    check_run("train", "find");
}
/* Mean and resample ablation from the first training images of every label
 * (ablation_ref = train): the stored columns equal the assessment with that
 * reference, and the reference really changed them. */
static void test_ref_train(void) {
    check_run("test", "train");
    CHECK(!isnan(mean_ce_of_ref[0]) && !isnan(mean_ce_of_ref[1]));
    CHECK(mean_ce_of_ref[0] != mean_ce_of_ref[1]);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    snprintf(dir, sizeof dir, "%s", ms_test_tmpdir());
    CHECK_OK(ms_test_write_mnist(dir, 600, 400));
    RUN_TEST(test_bad_keys);
    RUN_TEST(test_find_on_test);
    RUN_TEST(test_find_on_train);
    RUN_TEST(test_ref_train);
    MPI_Finalize();
    return ms_test_summary();
}
