/* The results file (results.h) on one process: creation at full size with
 * NaN fill, attributes, the per-model settings columns, row and part writes
 * and reads, task status, reopening (read-only and writable), refusal of an
 * existing file, of a non-HDF5 file and of a truncated one. */
#include "check.h"
#include "modsweep/config.h"
#include "modsweep/error.h"
#include "modsweep/results.h"

#include <hdf5.h>
#include <stdlib.h>
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static const char *grid_text =
    "[data]\ndataset = mnist\ndir = /nonexistent\n"
    "[model]\narch = mlp\nhidden = 8, 8\n"
    "[train]\nseed = 0..2\nepochs = 2\nbatch = 10\noptimizer = sgd\nlr = 0.1\n"
    "[cluster]\nlambda = 0, 5\nk = 2\nlayers = fc2\nbsgc_layers = fc2\ncurve_k = 2, 4\n"
    "gradsim_layers = fc2\n"
    "[prune]\nlabels = 3, 5\n";

static ms_grid_t g;
static ms_dims_t d;
static char path[512];

static void test_create_shapes_and_fill(void) {
    snprintf(path, sizeof path, "%s/r.h5", ms_test_tmpdir());
    unlink(path);
    ms_results_t *r = NULL;
    CHECK_OK(ms_results_create(&r, path, MPI_COMM_SELF, &g, &d));
    if (!r) return;
    CHECK(access(path, F_OK) == 0);
    char part[600];
    snprintf(part, sizeof part, "%s.part", path);
    CHECK(access(part, F_OK) != 0); /* renamed once complete */
    CHECK_EQ_INT(ms_results_dims(r)->M, 6);
    CHECK_EQ_INT(ms_results_dims(r)->L, 2);
    CHECK_EQ_INT(ms_results_dims(r)->S, 2 * 10); /* 2 epochs x 100 images / 10 */
    /* Settings columns: model m = (seed, lambda) with lambda fastest. */
    for (long m = 0; m < 6; m++) {
        int64_t seed = -1;
        double lambda = -1;
        CHECK_OK(ms_results_read(r, "models/seed", m, -1, &seed));
        CHECK_OK(ms_results_read(r, "models/lambda", m, -1, &lambda));
        CHECK_EQ_INT(seed, m / 2);
        CHECK_NEAR(lambda, (m % 2) * 5.0, 0);
    }
    /* Floats not computed yet are NaN; statuses pending. */
    double acc = 0;
    CHECK_OK(ms_results_read(r, "models/test_acc", 4, -1, &acc));
    CHECK(isnan(acc));
    int st = -1, at = -1;
    char reason[MS_STR_LEN];
    CHECK_OK(ms_results_get_status(r, MS_TASK_PRUNE, 5, 1, &st, &at, reason));
    CHECK_EQ_INT(st, MS_ST_PENDING);
    CHECK_EQ_INT(at, 0);
    /* Row and part writes. */
    float curve[20];
    for (int i = 0; i < 20; i++) curve[i] = (float)i;
    CHECK_OK(ms_results_write_part(r, "models/train_loss", 2, -1, 10, 10, curve + 10));
    float back[20];
    CHECK_OK(ms_results_read(r, "models/train_loss", 2, -1, back));
    CHECK(isnan(back[0]) && isnan(back[9]));
    CHECK(back[10] == 10.0f && back[19] == 19.0f);
    CHECK(ms_results_write_part(r, "models/train_loss", 2, -1, 15, 10, curve) == MS_EINVAL);
    CHECK(ms_results_write(r, "models/test_acc", 6, -1, &acc) == MS_EINVAL);
    CHECK(ms_results_write(r, "models/nope", 0, -1, &acc) == MS_EINVAL);
    uint8_t *mask = malloc((size_t)d.NW);
    for (size_t j = 0; j < (size_t)d.NW; j++) mask[j] = (uint8_t)(j % 3 == 0);
    CHECK_OK(ms_results_write(r, "labels/mask", 4, 1, mask));
    free(mask);
    CHECK_OK(ms_results_set_status(r, MS_TASK_PRUNE, 4, 1, MS_ST_DONE, 1, ""));
    CHECK_OK(ms_results_set_status(r, MS_TASK_TRAIN, 3, -1, MS_ST_FAILED, 3, "step 7: loss is NaN"));
    CHECK_OK(ms_results_close(r));
}

static void test_reopen_and_read(void) {
    ms_results_t *r = NULL;
    CHECK_OK(ms_results_open(&r, path, MPI_COMM_SELF, 0));
    if (!r) return;
    CHECK(ms_results_grid_hash(r) == g.hash);
    CHECK(strcmp(ms_results_grid_text(r), g.text) == 0);
    CHECK(strcmp(ms_results_grid_resolved(r), g.resolved) == 0);
    CHECK_EQ_INT(ms_results_dims(r)->NW, d.NW);
    uint8_t *mask = malloc((size_t)d.NW);
    CHECK_OK(ms_results_read(r, "labels/mask", 4, 1, mask));
    int bad = 0;
    for (size_t j = 0; j < (size_t)d.NW; j++) bad += mask[j] != (j % 3 == 0);
    CHECK_EQ_INT(bad, 0);
    free(mask);
    int8_t tr[6], an[6], pr[12];
    CHECK_OK(ms_results_all_status(r, tr, an, pr));
    CHECK_EQ_INT(tr[3], MS_ST_FAILED);
    CHECK_EQ_INT(pr[4 * 2 + 1], MS_ST_DONE);
    CHECK_EQ_INT(pr[4 * 2 + 0], MS_ST_PENDING);
    /* The same in task order, with the attempts (6 models, 2 labels). */
    int8_t all[2 * 6 + 12];
    int32_t att[2 * 6 + 12];
    CHECK_OK(ms_results_all_tasks(r, all, att));
    int diff = 0;
    for (int t = 0; t < 6; t++) diff += all[t] != tr[t] || all[6 + t] != an[t];
    for (int t = 0; t < 12; t++) diff += all[12 + t] != pr[t];
    CHECK_EQ_INT(diff, 0);
    CHECK_EQ_INT(att[3], 3);
    CHECK_EQ_INT(att[12 + 4 * 2 + 1], 1);
    CHECK_EQ_INT(att[12 + 4 * 2 + 0], 0);
    int st, at;
    char reason[MS_STR_LEN];
    CHECK_OK(ms_results_get_status(r, MS_TASK_TRAIN, 3, -1, &st, &at, reason));
    CHECK_EQ_INT(at, 3);
    CHECK(strcmp(reason, "step 7: loss is NaN") == 0);
    /* Read-only: writes are refused. */
    double x = 1;
    CHECK(ms_results_write(r, "models/test_acc", 0, -1, &x) == MS_EIO);
    CHECK_OK(ms_results_close(r));
}

static void test_refusals(void) {
    ms_results_t *r = NULL;
    /* An existing file is never overwritten by create. */
    CHECK(ms_results_create(&r, path, MPI_COMM_SELF, &g, &d) == MS_EIO);
    CHECK(strstr(ms_err_msg(), "already exists") != NULL);
    /* Not HDF5. */
    char other[600];
    snprintf(other, sizeof other, "%s/not.h5", ms_test_tmpdir());
    FILE *f = fopen(other, "wb");
    fputs("hello, this is not HDF5\n", f);
    fclose(f);
    CHECK(ms_results_open(&r, other, MPI_COMM_SELF, 0) == MS_EFORMAT);
    CHECK(strstr(ms_err_msg(), other) != NULL);
    /* Truncated: the first 4 KiB of a real results file. */
    FILE *in = fopen(path, "rb"), *out = fopen(other, "wb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, n, out);
    fclose(in);
    fclose(out);
    int rc = ms_results_open(&r, other, MPI_COMM_SELF, 0);
    CHECK(rc == MS_EFORMAT || rc == MS_EHDF5);
    CHECK(strstr(ms_err_msg(), other) != NULL);
    /* Missing. */
    CHECK(ms_results_open(&r, "/nonexistent/x.h5", MPI_COMM_SELF, 0) == MS_EIO);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    if (ms_grid_parse(&g, "t.ini", grid_text) != 0) {
        printf("grid: %s\n", ms_err_msg());
        MPI_Finalize();
        return 1;
    }
    ms_dims_init(&d, &g, 100);
    RUN_TEST(test_create_shapes_and_fill);
    RUN_TEST(test_reopen_and_read);
    RUN_TEST(test_refusals);
    ms_grid_free(&g);
    MPI_Finalize();
    return ms_test_summary();
}
