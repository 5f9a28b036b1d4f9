/* The measures end to end (src/sweep/measures.c through the sweep driver): two
 * small sweeps on generated MNIST-format data, an MLP with the information,
 * ablation and association measures and untrained nulls, and a CNN with
 * Hebbian strengths and dynamic sparse training. Checks the columns'
 * shapes and the relations their values must satisfy, and that the
 * results are bitwise the same with 1 and 2 kernel threads. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testdata.h"
#include "modsweep/error.h"
#include "modsweep/results.h"
#include "modsweep/sweep.h"

static char dir[512];

static void write_file(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static const char *const mlp_grid =
    "[sweep]\nname = mm\n[data]\ndataset = mnist\ndir = %s\n"
    "[model]\narch = mlp\nhidden = 16, 12\nbias = true\ndropout = 0, 0.25\n"
    "[train]\nseed = 3\nepochs = 2\nbatch = 32\n"
    "[cluster]\nlayers = none\ngradsim_layers = none\nbsgc_layers = none\ncurve_k = none\n"
    "ablate = false\n[prune]\nlabels = 0\nlayers = fc3\n"
    "[measures]\nuntrained = true\nsamples = 150\ninfo_layers = fc1, fc2, fc3\n"
    "unitset_size = 4\nunitset_draws = 3\nablate_layer = fc2\ndirections = 5\n"
    "maxkl_starts = 2\nassoc_layers = fc1, fc2\nassoc_store = true\nmc_steps = 300\n"
    "null_shuffles = 99\n[null]\nshuffles = 4\n";

static const char *const cnn_grid =
    "[sweep]\nname = mc\n[data]\ndataset = mnist\ndir = %s\n"
    "[model]\narch = cnn\nconv = 4\nhidden = 12\n"
    "[train]\nseed = 5\nepochs = 1\nbatch = 32\n"
    "[cluster]\nlayers = none\ngradsim_layers = none\nbsgc_layers = none\ncurve_k = none\n"
    "ablate = false\n[prune]\nlabels = 1\nlayers = fc2\n"
    "[measures]\nsamples = 60\nhebbian = true\nsparse_every = 4\nsparse_k1 = 2\nsparse_k2 = 3\n";

static int run(const char *grid, const char *out, int threads) {
    ms_run_opts_t o = {
        .grid_path = grid, .output = out, .quiet = 1, .threads = threads, .retries = 0};
    return ms_sweep_run(&o);
}

/* Reads a whole row of column `path` of model m into a new buffer of the
 * column's own type. */
static void *row(ms_results_t *r, const char *path, long m, long *n) {
    const ms_col_t *c = ms_results_col(path);
    CHECK_MSG(c != NULL, "no column %s", path);
    if (!c) return NULL;
    *n = ms_results_row_elems(r, c);
    size_t size = c->dtype == MS_DT_F64 || c->dtype == MS_DT_I64   ? 8
                  : c->dtype == MS_DT_F32 || c->dtype == MS_DT_I32 ? 4
                  : c->dtype == MS_DT_STR                          ? MS_STR_LEN
                                                                   : 1;
    void *buf = calloc((size_t)(*n > 0 ? *n : 1), size);
    CHECK_OK(ms_results_read(r, path, m, -1, buf));
    return buf;
}

/* Every measures column of both files is bitwise equal. */
static void compare_files(const char *a, const char *b) {
    ms_results_t *ra, *rb;
    CHECK_OK(ms_results_open(&ra, a, MPI_COMM_SELF, 0));
    CHECK_OK(ms_results_open(&rb, b, MPI_COMM_SELF, 0));
    if (!ra || !rb) return;
    for (const ms_col_t *c = ms_measures_cols; c->path; c++) {
        if (strcmp(c->path, "models/time_measures") == 0) continue;
        for (long m = 0; m < ms_results_dims(ra)->M; m++) {
            long n, n2;
            unsigned char *x = row(ra, c->path, m, &n), *y = row(rb, c->path, m, &n2);
            size_t size = c->dtype == MS_DT_F64 || c->dtype == MS_DT_I64   ? 8
                          : c->dtype == MS_DT_F32 || c->dtype == MS_DT_I32 ? 4
                                                                           : 1;
            CHECK_MSG(n == n2 && memcmp(x, y, size * (size_t)n) == 0,
                      "%s of model %ld differs between 1 and 2 threads", c->path, m);
            free(x);
            free(y);
        }
    }
    ms_results_close(ra);
    ms_results_close(rb);
}

/* Writes grid `name` (a format with the data folder as its argument), runs
 * it with 1 and with 2 kernel threads, checks the two files agree, and opens
 * the first (NULL on failure). */
static ms_results_t *run_both(const char *name, const char *format) {
    char grid[1024], text[4096], out1[1024], out2[1024];
    snprintf(grid, sizeof grid, "%s/%s.ini", dir, name);
    snprintf(text, sizeof text, format, dir);
    write_file(grid, text);
    snprintf(out1, sizeof out1, "%s/%s1.h5", dir, name);
    snprintf(out2, sizeof out2, "%s/%s2.h5", dir, name);
    CHECK_EQ_INT(run(grid, out1, 1), 0);
    CHECK_EQ_INT(run(grid, out2, 2), 0);
    compare_files(out1, out2);
    ms_results_t *r = NULL;
    CHECK_OK(ms_results_open(&r, out1, MPI_COMM_SELF, 0));
    return r;
}

static void test_mlp(void) {
    ms_results_t *r = run_both("mlp", mlp_grid);
    if (!r) return;
    const ms_dims_t *d = ms_results_dims(r);
    CHECK_EQ_INT(d->NV, 2);
    CHECK_EQ_INT(d->NIP, 3);
    CHECK_EQ_INT(d->NID, 3);
    CHECK_EQ_INT(d->NAU, 12);
    CHECK_EQ_INT(d->NDIR, 5);
    CHECK_EQ_INT(d->NST, 3);
    CHECK_EQ_INT(d->NAL, 2);
    CHECK_EQ_INT(d->MU, 16);
    CHECK_EQ_INT(d->MUS, 16);
    CHECK_EQ_INT(d->NCW, 0);
    for (long m = 0; m < d->M; m++) {
        long n;
        int8_t st = 0;
        CHECK_OK(ms_results_read(r, "models/status_analyse", m, -1, &st));
        CHECK_EQ_INT(st, 1);
        double *acc = row(r, "models/meas_test_acc", m, &n);
        CHECK_EQ_INT(n, 2);
        CHECK_MSG(acc[0] > acc[1], "model %ld: trained %g, untrained %g", m, acc[0], acc[1]);
        int32_t *pl = row(r, "models/info_pair_layers", m, &n);
        const int want_pairs[6] = {1, 2, 1, 3, 2, 3};
        for (int i = 0; i < 6; i++)
            CHECK_EQ_INT(pl[i], want_pairs[i]);
        double *ip = row(r, "models/info_pair", m, &n);
        CHECK_EQ_INT(n, 2 * 3 * 6);
        for (int p = 0; p < 6; p++) { /* (variant, pair) */
            const double *o = ip + p * 6;
            CHECK(o[4] >= -1e-12);
            CHECK_NEAR(o[4], o[0] + o[1] - o[5], 1e-12);
            CHECK_NEAR(o[2], o[5] - o[1], 1e-12);
        }
        double *comp = row(r, "models/info_comparisons", m, &n);
        double *meas = row(r, "models/info_measures", m, &n);
        for (int t = 0; t < 2 * 3 * 3; t++)
            CHECK_NEAR(comp[3 * t], meas[4 * t] - meas[4 * t + 1], 1e-15);
        /* Ablation: the search beats every neuron and random direction. */
        double *nkl = row(r, "models/ablate_neuron_kl", m, &n);
        double *dkl = row(r, "models/ablate_dir_kl", m, &n);
        double *mk = row(r, "models/maxkl_kl", m, &n);
        int32_t *bn = row(r, "models/maxkl_best_neuron", m, &n);
        int8_t *conv = row(r, "models/maxkl_start_converged", m, &n);
        for (int v = 0; v < 2; v++) {
            CHECK(bn[v] >= 0 && bn[v] < 12);
            for (int i = 0; i < 12; i++)
                CHECK(mk[v] >= nkl[v * 12 + i]);
            for (int j = 0; j < 5; j++)
                CHECK(mk[v] >= dkl[v * 5 + j]);
            CHECK_EQ_INT(conv[v * 3], 1);
        }
        /* Associations: labels in range, Q finite, alignment diagonal 1. */
        double *q = row(r, "models/assoc_q", m, &n);
        int32_t *k = row(r, "models/assoc_clusters", m, &n);
        int32_t *lab = row(r, "models/assoc_labels", m, &n);
        double *al = row(r, "models/assoc_align", m, &n);
        double *tq = row(r, "models/assoc_transfer_q", m, &n);
        float *am = row(r, "models/assoc_matrix", m, &n);
        for (int vl = 0; vl < 4; vl++) { /* (variant, layer) */
            const int U = vl % 2 ? 12 : 16;
            for (int a = 0; a < 8; a++) {
                const int at = vl * 8 + a;
                CHECK(isfinite(q[at]) && q[at] > -0.5 && q[at] < 1);
                CHECK_NEAR(tq[at * 8 + a], q[at], 1e-12);
                CHECK_NEAR(al[at * 8 + a], 1.0, 1e-15);
                for (int u = 0; u < 16; u++) {
                    const int32_t l = lab[at * 16 + u];
                    CHECK(l >= -1 && l < k[at]);
                    if (u >= U) CHECK_EQ_INT(l, -1);
                    CHECK(u >= U ? isnan(am[(size_t)at * 256 + u]) : am[(size_t)at * 256 + u] >= 0);
                }
            }
        }
        /* [null] shuffles = 4: the null of each Q is filled; z and p follow
         * from the stored values. */
        double *nm = row(r, "models/null_assoc_q_mean", m, &n);
        CHECK_EQ_INT(n, 2 * 2 * 8);
        double *ns = row(r, "models/null_assoc_q_sd", m, &n);
        double *nz = row(r, "models/null_assoc_q_z", m, &n);
        double *np = row(r, "models/null_assoc_q_p", m, &n);
        for (int at = 0; at < 2 * 2 * 8; at++) {
            CHECK(isfinite(nm[at]) && nm[at] > -0.5 && nm[at] < 1);
            CHECK(isfinite(ns[at]) && ns[at] >= 0);
            if (ns[at] > 0)
                CHECK_NEAR(nz[at], (q[at] - nm[at]) / ns[at], 1e-12 * (1 + fabs(nz[at])));
            else
                CHECK(isnan(nz[at]));
            const double c = np[at] * 5;
            CHECK(c >= 1 - 1e-12 && c <= 5 + 1e-12 && fabs(c - round(c)) < 1e-12);
        }
        free(nm), free(ns), free(nz), free(np);
        free(acc), free(pl), free(ip), free(comp), free(meas), free(nkl), free(dkl), free(mk),
            free(bn), free(conv), free(q), free(k), free(lab), free(al), free(tq), free(am);
    }
    ms_results_close(r);
}

static void test_cnn(void) {
    ms_results_t *r = run_both("cnn", cnn_grid);
    if (!r) return;
    const ms_dims_t *d = ms_results_dims(r);
    CHECK_EQ_INT(d->NV, 1);
    CHECK_EQ_INT(d->NCW, 4 * 1 * 3 * 3);
    CHECK_EQ_INT(d->NCV, 1);
    long n;
    double *hb = row(r, "models/hebb_binary", 0, &n), *hc = row(r, "models/hebb_corr", 0, &n);
    double *sp = row(r, "models/sparse_sparsity", 0, &n);
    int32_t *ev = row(r, "models/sparse_events", 0, &n);
    float *params = row(r, "models/params", 0, &n);
    /* 60 images x 28 x 28 positions at most. */
    for (int i = 0; i < 36; i++) {
        CHECK(hb[i] >= 0 && hb[i] <= 60.0 * 28 * 28 && hb[i] == floor(hb[i]));
        CHECK(hc[i] >= 0 && hc[i] <= 1);
    }
    CHECK_NEAR(sp[0], 1.0 - 3.0 / 9.0, 1e-12);
    CHECK_EQ_INT(ev[0], (640 / 32) / 4); /* 20 steps, an event every 4 */
    int nz = 0;
    for (int i = 0; i < 36; i++)
        nz += params[i] != 0.0f;
    CHECK(nz <= 4 * 3);
    free(hb), free(hc), free(sp), free(ev), free(params);
    ms_results_close(r);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    snprintf(dir, sizeof dir, "%s", ms_test_tmpdir());
    CHECK_OK(ms_test_write_mnist(dir, 640, 200));
    RUN_TEST(test_mlp);
    RUN_TEST(test_cnn);
    MPI_Finalize();
    return ms_test_summary();
}
