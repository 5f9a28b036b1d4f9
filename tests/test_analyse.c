/* The cluster columns through the whole engine: small sweeps on synthetic
 * MNIST-format data are run with ms_sweep_run, and every cluster column of
 * the results file is checked against brute-force recomputation from the
 * stored parameters and labels, against the partition and path counts worked
 * out from the grid, for the NaN / -1 padding to the grid's largest k, and
 * for independence of the thread count. Also checks that the grid files
 * sweeps/paper_cifar10.ini and sweeps/mnist_mlp.ini give the seeds' set-ups
 * and switch to Fashion-MNIST with the dataset key alone. */
#include "check.h"
#include "testdata.h"
#include "modsweep/ablate.h"
#include "modsweep/cluster.h"
#include "modsweep/error.h"
#include "modsweep/nullmodel.h"
#include "modsweep/results.h"
#include "modsweep/sweep.h"

#include <math.h>
#include <mpi.h>
#include <stdlib.h>
#include <string.h>

static char dir[1024];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
}

static int make_data(void) {
    snprintf(dir, sizeof dir, "%s", ms_test_tmpdir());
    return ms_test_write_mnist(dir, 600, 300);
}

static int run_grid(const char *name, const char *cluster, const char *out, int threads) {
    char text[4096], path[1200];
    snprintf(text, sizeof text,
             "[sweep]\nname = %s\n[data]\ndataset = mnist\ndir = %s\n"
             "[model]\narch = mlp\nhidden = 32, 32\n"
             "[train]\noptimizer = adam\nlr = 1e-3\nepochs = 2\n"
             "[cluster]\n%s\n[prune]\nlabels = 0\nsamples = 10\n",
             name, dir, cluster);
    snprintf(path, sizeof path, "%s/%s.ini", dir, name);
    write_file(path, text);
    ms_run_opts_t o = {
        .grid_path = path, .output = out, .quiet = 1, .threads = threads, .retries = -1};
    return ms_sweep_run(&o);
}

/* Runs the grid on `threads` threads (0: the default) into NAME.h5 (2
 * threads: NAME-t2.h5) and opens the file into *r; returns 0 when it is
 * open. */
static int run_and_open(const char *name, const char *cl, int threads, ms_results_t **r) {
    char out[1200];
    snprintf(out, sizeof out, "%s/%s%s.h5", dir, name, threads == 2 ? "-t2" : "");
    CHECK_EQ_INT(run_grid(name, cl, out, threads), 0);
    *r = NULL;
    CHECK_OK(ms_results_open(r, out, MPI_COMM_SELF, 0));
    return *r ? 0 : -1;
}

/* The grid on 1 thread into *r and on 2 threads into *r2; 0 when both are
 * open. */
static int run_on_1_and_2_threads(const char *name, const char *cl, ms_results_t **r,
                                  ms_results_t **r2) {
    const int rc = run_and_open(name, cl, 1, r);
    return run_and_open(name, cl, 2, r2) || rc ? -1 : 0;
}

static void *read_row(ms_results_t *r, const char *col, long m) {
    const ms_col_t *c = ms_results_col(col);
    static const size_t size[] = {4, 8, 1, 1, 4, 8, MS_STR_LEN};
    size_t n = (size_t)ms_results_row_elems(r, c) * size[c->dtype];
    void *buf = malloc(n ? n : 1);
    CHECK_OK(ms_results_read(r, col, m, -1, buf));
    return buf;
}

static double brute_cl(const float *w, int O, int NI, const int32_t *row, const int32_t *col) {
    double in = 0, tot = 0;
    for (int o = 0; o < O; o++)
        for (int i = 0; i < NI; i++) {
            double v = (double)w[o * NI + i] * w[o * NI + i];
            tot += v;
            if (row[o] >= 0 && row[o] == col[i]) in += v;
        }
    return in / tot;
}

static int count_label(const int32_t *lab, int n, int c) {
    int k = 0;
    for (int i = 0; i < n; i++)
        k += lab[i] == c;
    return k;
}

/* The mlp 784 -> 32 -> 32 -> 10 without bias: unit offsets fc1 in 0, out
 * 784; fc2 in 816, out 848; fc3 in 880, out 912; NU = 922. */
enum { IN1 = 0, OUT1 = 784, IN2 = 816, OUT2 = 848, IN3 = 880, OUT3 = 912, NU = 922 };
static const int NPARAMS = 784 * 32 + 32 * 32 + 32 * 10;

static void test_blocks_sweep(void) {
    const char *cl = "lambda = 0, 5\nk = 2, 3\nlayers = fc2\npartition = blocks\ncurve_k = 2, 4\n"
                     "kmeans_restarts = 4\n";
    ms_results_t *r, *r2;
    if (run_on_1_and_2_threads("blocks", cl, &r, &r2)) return;
    const ms_dims_t *d = ms_results_dims(r);
    CHECK_EQ_INT(d->M, 4);
    CHECK_EQ_INT(d->KMAX, 3);
    CHECK_EQ_INT(d->NG, 32 * 32); /* fc2 only: the default drops fc3 (10 x 32) */
    CHECK_EQ_INT(d->NU, NU);
    CHECK_EQ_INT(d->NK, 2);
    int8_t st[4];
    CHECK_OK(ms_results_read_all(r, "models/status_analyse", st));
    for (int m = 0; m < 4; m++)
        CHECK_EQ_INT(st[m], MS_ST_DONE);
    for (int m = 0; m < 4; m++) {
        const int k = m % 2 ? 3 : 2;
        const double lambda = m < 2 ? 0 : 5;
        float *p = read_row(r, "models/params", m);
        const float *w2 = p + 784 * 32, *w3 = p + 784 * 32 + 32 * 32;
        int32_t *pt = read_row(r, "models/part_train", m);
        /* The training partition: fc2 blocks (32 = 16 + 16, or 10 + 10 + 12). */
        int32_t blk[32];
        ms_part_blocks(32, k, blk);
        CHECK(memcmp(pt + IN2, blk, sizeof blk) == 0 && memcmp(pt + OUT2, blk, sizeof blk) == 0);
        CHECK_EQ_INT(count_label(pt, NU, -1), NU - 64);
        double *cltr = read_row(r, "models/cl_train", m);
        CHECK_NEAR(cltr[1], brute_cl(w2, 32, 32, pt + OUT2, pt + IN2), 1e-12);
        CHECK(isnan(cltr[0]) && isnan(cltr[2]));
        /* The per-step curve: the clusterability during training, finite for
         * every step; the regularised model ends more clusterable. */
        float *extra = read_row(r, "models/train_extra", m);
        for (long t = 0; t < d->S; t++)
            CHECK(extra[t] >= 0 && extra[t] <= 1);
        if (lambda > 0) CHECK(extra[d->S - 1] > extra[0] + 0.05);
        /* The curve: k values, baseline, clusterability recomputed from labels. */
        int32_t *ck = read_row(r, "models/cl_curve_k", m);
        double *base = read_row(r, "models/cl_curve_baseline", m);
        double *cw = read_row(r, "models/cl_curve_w", m), *cg = read_row(r, "models/cl_curve_g", m);
        double *cwm = read_row(r, "models/cl_curve_w_mean", m);
        double *sbw = read_row(r, "models/cl_curve_w_sizebase", m);
        int32_t *pcw = read_row(r, "models/part_curve_w", m),
                *pcg = read_row(r, "models/part_curve_g", m);
        for (int ki = 0; ki < 2; ki++) {
            const int kk = ki ? 4 : 2;
            CHECK_EQ_INT(ck[ki], kk);
            CHECK_NEAR(base[ki], 1.0 / kk, 0);
            const int32_t *u = pcw + ki * NU, *ug = pcg + ki * NU;
            CHECK(isnan(cw[ki * 3 + 0]));
            CHECK_NEAR(cw[ki * 3 + 1], brute_cl(w2, 32, 32, u + OUT2, u + IN2), 1e-12);
            CHECK_NEAR(cw[ki * 3 + 2], brute_cl(w3, 10, 32, u + OUT3, u + IN3), 1e-12);
            CHECK_NEAR(cwm[ki], (cw[ki * 3 + 1] + cw[ki * 3 + 2]) / 2, 1e-15);
            /* Chained: fc3's input clusters are fc2's output clusters. */
            CHECK(memcmp(u + IN3, u + OUT2, 32 * sizeof(int32_t)) == 0);
            for (int c = 0; c < kk; c++)
                CHECK(count_label(u + OUT2, 32, c) > 0);
            double pairs = 0;
            for (int c = 0; c < kk; c++)
                pairs += count_label(u + OUT2, 32, c) * count_label(u + IN2, 32, c);
            CHECK_NEAR(sbw[ki * 3 + 1], pairs / (32.0 * 32.0), 1e-15);
            /* Gradient basis: fc2 only (the only gradsim layer). */
            CHECK_NEAR(cg[ki * 3 + 1], brute_cl(w2, 32, 32, ug + OUT2, ug + IN2), 1e-12);
            CHECK(isnan(cg[ki * 3 + 2]));
            CHECK_EQ_INT(count_label(ug + OUT3, 10, -1), 10);
        }
        /* The model's k: part_w at k = 2 is the curve's k = 2 partition. */
        int32_t *pw = read_row(r, "models/part_w", m);
        if (k == 2) CHECK(memcmp(pw, pcw, NU * sizeof(int32_t)) == 0);
        for (int o = 0; o < 32; o++)
            CHECK(pw[OUT2 + o] >= 0 && pw[OUT2 + o] < k);
        /* Ablation: finite for c < k on the partition's layers, NaN padding. */
        double *on = read_row(r, "models/ablate_train_on", m),
               *off = read_row(r, "models/ablate_train_off", m);
        double *won = read_row(r, "models/ablate_w_on", m);
        for (int l = 0; l < 3; l++)
            for (int c = 0; c < 3; c++)
                for (int j = 0; j < 10; j++) {
                    const size_t e = ((size_t)l * 3 + c) * 10 + j;
                    const int want = l == 1 && c < k;
                    CHECK(want ? (on[e] >= 0 && on[e] <= 1 && off[e] >= 0 && off[e] <= 1)
                               : (isnan(on[e]) && isnan(off[e])));
                    const int want_w = (l == 1 || l == 2) && c < k;
                    CHECK(want_w ? !isnan(won[e]) : isnan(won[e]));
                }
        /* Search-space reduction of the blocks: fc1 keeps |V_c| rows, fc2 the
         * block, fc3 |U_c| columns. */
        double *ssr = read_row(r, "models/ssr_train", m);
        for (int c = 0; c < 3; c++) {
            if (c >= k) {
                CHECK(isnan(ssr[c]));
                continue;
            }
            const double n = count_label(blk, 32, c);
            const double path = n * 784 + n * n + 10 * n;
            CHECK_NEAR(ssr[c], 1 - path / NPARAMS, 1e-12);
        }
        /* Gradient similarity: 2 epochs x 10 steps, symmetric, trace = steps. */
        int64_t *gsteps = read_row(r, "models/gradsim_steps", m);
        CHECK_EQ_INT(gsteps[1], 20);
        CHECK_EQ_INT(gsteps[0] + gsteps[2], 0);
        double *gs = read_row(r, "models/gradsim", m), tr = 0;
        for (int i = 0; i < 32; i++) {
            tr += gs[i * 32 + i];
            for (int j = 0; j < 32; j++)
                CHECK(gs[i * 32 + j] == gs[j * 32 + i]);
        }
        CHECK_NEAR(tr, 20, 1e-9);
        /* Thread-count independence: every cluster column bitwise equal. */
        for (const ms_col_t *c = ms_cluster_cols; c->path; c++) {
            static const size_t size[] = {4, 8, 1, 1, 4, 8, MS_STR_LEN};
            size_t n = (size_t)ms_results_row_elems(r, c) * size[c->dtype];
            void *a = read_row(r, c->path, m), *b = read_row(r2, c->path, m);
            CHECK_MSG(memcmp(a, b, n) == 0, "%s of model %d differs between 1 and 2 threads",
                      c->path, m);
            free(a), free(b);
        }
        free(p), free(pt), free(cltr), free(extra), free(ck), free(base), free(cw), free(cg);
        free(cwm), free(sbw), free(pcw), free(pcg), free(pw), free(on), free(off), free(won);
        free(ssr), free(gsteps), free(gs);
    }
    ms_results_close(r);
    ms_results_close(r2);
}

/* Spectral: one plain epoch (no curve), then BSGC of |W_fc2| fixes the partition. */
static void test_spectral_sweep(void) {
    ms_results_t *r;
    if (run_and_open("spectral",
                     "lambda = 2\nk = 2\nlayers = fc2\npartition = spectral\nwarmup_epochs = 1\n"
                     "curve_k = 2\nbsgc_layers = fc2\nablate = false\n",
                     0, &r))
        return;
    const ms_dims_t *d = ms_results_dims(r);
    float *extra = read_row(r, "models/train_extra", 0);
    for (long t = 0; t < d->S; t++)
        CHECK(t < d->S / 2 ? isnan(extra[t]) : extra[t] >= 0 && extra[t] <= 1);
    int32_t *pt = read_row(r, "models/part_train", 0);
    for (int i = 0; i < 32; i++)
        CHECK(pt[IN2 + i] >= 0 && pt[IN2 + i] < 2 && pt[OUT2 + i] >= 0 && pt[OUT2 + i] < 2);
    CHECK_EQ_INT(count_label(pt, NU, -1), NU - 64);
    double *on = read_row(r, "models/ablate_train_on", 0);
    for (long e = 0; e < 3 * 2 * 10; e++)
        CHECK(isnan(on[e])); /* ablate = false */
    free(extra), free(pt), free(on);
    ms_results_close(r);
}

/* [null] shuffles: the null columns of the weight-based curve are filled
 * and finite where cl_curve_w is (fc2 at each curve k), NaN elsewhere; z
 * is (obs - mean) / sd of the stored values; p is a multiple of 1 / (1 +
 * S) and agrees with the count of shuffled networks at least as
 * clusterable; the mean and sd agree with S shuffled networks clustered
 * here (ms_null_shuffle, ms_bsgc_layers and the brute-force
 * clusterability). Without the section the columns are NaN. */
static void test_null_sweep(void) {
    enum { S = 6, NK = 2 };
    ms_results_t *r;
    if (run_and_open("null",
                     "lambda = 1\nk = 2\nlayers = fc2\npartition = blocks\ncurve_k = 2, 4\n"
                     "bsgc_layers = fc2\nablate = false\nkmeans_restarts = 3\n"
                     "[null]\nshuffles = 6\n",
                     1, &r))
        return;
    double *obs = read_row(r, "models/cl_curve_w", 0);
    double *mean = read_row(r, "models/null_cl_w_mean", 0);
    double *sd = read_row(r, "models/null_cl_w_sd", 0);
    double *z = read_row(r, "models/null_cl_w_z", 0);
    double *pv = read_row(r, "models/null_cl_w_p", 0);
    float *p = read_row(r, "models/params", 0);
    ms_arch_t a = {.in_c = 1, .in_h = 28, .in_w = 28, .n_fc = 3, .fc_out = {32, 32, 10}};
    ms_layout_t L;
    CHECK_OK(ms_layout_init(&L, &a));
    CHECK_EQ_INT((long)L.n_params, NPARAMS);
    float *sh = malloc(sizeof(float) * L.n_params);
    int32_t *u = malloc(sizeof(int32_t) * NU);
    const int ks[NK] = {2, 4};
    for (int ki = 0; ki < NK; ki++) {
        for (int l = 0; l < 3; l++) {
            const int e = ki * 3 + l;
            if (l != 1) {
                CHECK(isnan(obs[e]) && isnan(mean[e]) && isnan(sd[e]) && isnan(z[e]) &&
                      isnan(pv[e]));
                continue;
            }
            CHECK(isfinite(obs[e]) && isfinite(mean[e]) && isfinite(sd[e]) && isfinite(z[e]) &&
                  isfinite(pv[e]));
            CHECK(sd[e] > 0);
            CHECK_NEAR(z[e], (obs[e] - mean[e]) / sd[e], 1e-12 * (1 + fabs(z[e])));
            /* The null, recomputed here. */
            double v[S], m = 0, ss = 0;
            int ge = 0;
            for (int s = 0; s < S; s++) {
                ms_null_shuffle(&L, p, 0, s, sh);
                CHECK_OK(ms_bsgc_layers(&L, sh, NULL, 0, 1u << 1, ks[ki], 3, 0, MS_BASIS_WEIGHTS, u,
                                        NULL));
                v[s] = brute_cl(sh + 784 * 32, 32, 32, u + OUT2, u + IN2);
                m += v[s] / S;
                ge += v[s] >= obs[e];
            }
            for (int s = 0; s < S; s++)
                ss += (v[s] - m) * (v[s] - m);
            CHECK_NEAR(mean[e], m, 1e-12);
            CHECK_NEAR(sd[e], sqrt(ss / (S - 1)), 1e-12);
            CHECK_NEAR(pv[e], (1.0 + ge) / (1.0 + S), 1e-15);
        }
    }
    free(obs), free(mean), free(sd), free(z), free(pv), free(p), free(sh), free(u);
    ms_results_close(r);
    /* Off by default: all NaN. */
    char out[1200];
    snprintf(out, sizeof out, "%s/spectral.h5", dir);
    CHECK_OK(ms_results_open(&r, out, MPI_COMM_SELF, 0));
    if (!r) return;
    double *m0 = read_row(r, "models/null_cl_w_mean", 0);
    double *p0 = read_row(r, "models/null_cl_w_p", 0);
    for (int e = 0; e < 3; e++)
        CHECK(isnan(m0[e]) && isnan(p0[e]));
    free(m0), free(p0);
    ms_results_close(r);
}

/* The seeds' grid files, and the one-key switch to Fashion-MNIST. */
static char *load_sweep(const char *name) {
    char path[1200];
    const char *src = getenv("MS_SOURCE_DIR");
    snprintf(path, sizeof path, "%s/sweeps/%s", src ? src : MS_SOURCE_DIR_DEFAULT, name);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *t = calloc(1, 1 << 16);
    fread(t, 1, (1 << 16) - 1, f);
    fclose(f);
    return t;
}

/* Replaces the first line starting with `from` by `to`. */
static void replace_line(char *t, const char *from, const char *to) {
    char *p = strstr(t, from);
    CHECK_MSG(p != NULL, "line '%s' not found", from);
    if (!p) return;
    char *e = strchr(p, '\n');
    char *rest = strdup(e ? e : "");
    /* Buffers are 64 KiB and the grid files far shorter. */
    sprintf(p, "%s%s", to, rest);
    free(rest);
}

static void test_sweep_files(void) {
    char *t = load_sweep("paper_cifar10.ini");
    CHECK(t != NULL);
    if (!t) return;
    ms_grid_t g;
    char *fm = calloc(1, 1 << 16);
    memcpy(fm, t, strlen(t));
    replace_line(t, "cifar10_dir = ", "cifar10_dir = /some/cifar");
    CHECK_OK(ms_grid_parse(&g, "paper_cifar10.ini", t));
    const ms_settings_t *s = &g.base;
    CHECK(strcmp(s->data.dir, "/some/cifar") == 0);
    /* Seed 000: CNN 3x32x32 -> conv 16 -> fc 4096-64-64-64-10 without bias, Adam 1e-3,
     * batch 64, 10 epochs, lambda 0 and 20, k = 4 blocks on fc2, BSGC/gradients on fc2, fc3. */
    CHECK(s->data.kind == MS_DATA_CIFAR10 && s->data.norm == MS_NORM_UNIT);
    CHECK_EQ_INT(s->arch.in_c * 10000 + s->arch.in_h * 100 + s->arch.in_w, 33232);
    CHECK(s->arch.n_conv == 1 && s->arch.conv_c[0] == 16 && s->arch.conv_k == 3 &&
          s->arch.conv_pad == 1);
    CHECK(s->arch.n_fc == 4 && s->arch.fc_out[0] == 64 && s->arch.fc_out[1] == 64 &&
          s->arch.fc_out[2] == 64 && s->arch.fc_out[3] == 10 && !s->arch.fc_bias);
    CHECK(s->optimizer == MS_OPT_ADAM && s->lr == 1e-3f && s->batch == 64 && s->epochs == 10);
    CHECK(g.n_values[MS_AXIS_LAMBDA] == 2 && g.values[MS_AXIS_LAMBDA][0] == 0 &&
          g.values[MS_AXIS_LAMBDA][1] == 20);
    CHECK(s->k == 4 && s->reg_layers == 2u && s->partition == MS_PART_BLOCKS);
    CHECK(s->gradsim_layers == 6u && s->bsgc_layers == 6u && s->n_curve_k == 7 &&
          s->curve_k[6] == 14);
    CHECK(s->ablate && g.n_labels == 10);
    ms_grid_free(&g);
    /* Fashion-MNIST by the dataset key alone: the same network on 3x32x32. */
    replace_line(fm, "dataset = cifar10", "dataset = fashion-mnist");
    CHECK_OK(ms_grid_parse(&g, "paper_cifar10.ini", fm));
    CHECK(g.base.data.kind == MS_DATA_FASHION && g.base.data.layout == MS_LAYOUT_3X32X32);
    CHECK(strcmp(g.base.data.dir, "/usr/share/datasets/fashion-mnist") == 0);
    CHECK(g.base.arch.in_c == 3 && g.base.arch.in_h == 32 && g.base.arch.fc_out[0] == 64);
    ms_grid_free(&g);
    free(t), free(fm);

    t = load_sweep("mnist_mlp.ini");
    CHECK(t != NULL);
    if (!t) return;
    fm = calloc(1, 1 << 16);
    memcpy(fm, t, strlen(t));
    replace_line(t, "mnist_dir = ", "mnist_dir = /some/mnist");
    CHECK_OK(ms_grid_parse(&g, "mnist_mlp.ini", t));
    s = &g.base;
    CHECK(strcmp(s->data.dir, "/some/mnist") == 0);
    /* Seed 001: MLP 784-128-128-10 without bias, SGD 1e-3, one plain epoch,
     * then spectral (BSGC of |W_fc2|) with k = 2, lambda = 3, ten more epochs. */
    CHECK(s->data.kind == MS_DATA_MNIST && s->data.norm == MS_NORM_MEANSTD &&
          s->data.mean[0] == 0.1307f && s->data.std[0] == 0.3081f);
    CHECK(s->arch.n_conv == 0 && s->arch.n_fc == 3 && s->arch.fc_out[0] == 128 &&
          s->arch.fc_out[1] == 128 && !s->arch.fc_bias);
    CHECK(s->optimizer == MS_OPT_SGD && s->lr == 1e-3f && s->momentum == 0 && s->batch == 64);
    CHECK(s->epochs == 11 && s->warmup_epochs == 1 && s->partition == MS_PART_SPECTRAL);
    CHECK(s->lambda == 3 && s->k == 2 && s->reg_layers == 2u && s->gradsim_layers == 2u);
    ms_grid_free(&g);
    replace_line(fm, "dataset = mnist", "dataset = fashion-mnist");
    CHECK_OK(ms_grid_parse(&g, "mnist_mlp.ini", fm));
    CHECK(g.base.data.kind == MS_DATA_FASHION && g.base.arch.in_c == 1 && g.base.arch.in_h == 28);
    CHECK(strcmp(g.base.data.dir, "/usr/share/datasets/fashion-mnist") == 0);
    ms_grid_free(&g);
    free(t), free(fm);
}

/* Mean and resample cluster ablation through the engine: with
 * [cluster] ablation = mean, resample the new columns are filled for the
 * partition's layer and clusters (NaN padding elsewhere), the zero tables
 * are left NaN (zero not listed), the two kinds differ from each other
 * somewhere, and every value is the same on 1 and 2 threads. */
static void test_ablation_kinds_sweep(void) {
    const char *cl = "lambda = 5\nk = 2\nlayers = fc2\npartition = blocks\ncurve_k = none\n"
                     "bsgc_layers = fc2\nkmeans_restarts = 2\nablation = mean, resample\n"
                     "ablation_images = 100\n";
    ms_results_t *r, *r2;
    if (run_on_1_and_2_threads("kinds", cl, &r, &r2)) return;
    static const char *const cols[] = {
        "models/ablate_train_on_mean",     "models/ablate_train_off_mean",
        "models/ablate_w_on_mean",         "models/ablate_w_off_mean",
        "models/ablate_train_on_resample", "models/ablate_train_off_resample",
        "models/ablate_w_on_resample",     "models/ablate_w_off_resample"};
    int differ = 0;
    double *mean_on = read_row(r, cols[0], 0), *res_on = read_row(r, cols[4], 0);
    for (int t = 0; t < 8; t++) {
        double *v = read_row(r, cols[t], 0), *v2 = read_row(r2, cols[t], 0);
        for (int l = 0; l < 3; l++)
            for (int c = 0; c < 2; c++)
                for (int j = 0; j < 10; j++) {
                    const size_t e = ((size_t)l * 2 + c) * 10 + j;
                    if (l == 1)
                        CHECK_MSG(v[e] >= 0 && v[e] <= 1, "%s[%d][%d][%d] = %g", cols[t], l, c, j,
                                  v[e]);
                    else
                        CHECK_MSG(isnan(v[e]), "%s[%d][%d][%d] = %g", cols[t], l, c, j, v[e]);
                    CHECK(memcmp(&v[e], &v2[e], sizeof(double)) == 0);
                }
        free(v), free(v2);
    }
    for (int e = 0; e < 3 * 2 * 10; e++)
        differ += isfinite(mean_on[e]) && mean_on[e] != res_on[e];
    CHECK_MSG(differ > 0, "mean and resample ON tables are identical");
    double *zero = read_row(r, "models/ablate_train_on", 0);
    for (int e = 0; e < 3 * 2 * 10; e++)
        CHECK(isnan(zero[e]));
    free(mean_on), free(res_on), free(zero);
    ms_results_close(r);
    ms_results_close(r2);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    if (make_data() != 0) {
        fprintf(stderr, "cannot write the synthetic data: %s\n", ms_err_msg());
        MPI_Finalize();
        return 1;
    }
    RUN_TEST(test_sweep_files);
    RUN_TEST(test_blocks_sweep);
    RUN_TEST(test_spectral_sweep);
    RUN_TEST(test_null_sweep);
    RUN_TEST(test_ablation_kinds_sweep);
    int rc = ms_test_summary();
    MPI_Finalize();
    return rc;
}
