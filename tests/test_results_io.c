/* The results file's storage rules, checked through the HDF5 C API
 * directly: every dataset is contiguous and unfiltered (no compression on
 * datasets written independently) and allocated at creation; the root
 * attributes carry the grid's text, resolved settings, both hashes, the
 * version and build options; transfers larger than the MPI-IO limit are
 * split into pieces (here with a limit of a few bytes) and move the same
 * bytes as one transfer; a resumed file keeps the results hash. */
#include "check.h"
#include "modsweep/config.h"
#include "modsweep/error.h"
#include "modsweep/results.h"

#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *grid_text = "[sweep]\n"
                               "name = io\n"
                               "threads = 1\n"
                               "[data]\n"
                               "dataset = mnist\n"
                               "dir = /nonexistent\n"
                               "[model]\n"
                               "arch = mlp\n"
                               "hidden = 8\n"
                               "[train]\n"
                               "seeds = 1, 2, 3\n"
                               "epochs = 2\n"
                               "[cluster]\n"
                               "layers = none\n"
                               "bsgc_layers = none\n"
                               "gradsim_layers = none\n"
                               "curve_k = 2\n"
                               "[prune]\n"
                               "labels = 3, 7\n";

static char path[1024];
static ms_grid_t g;
static ms_dims_t d;

static void test_create_layout(void) {
    ms_results_t *r = NULL;
    CHECK_OK(ms_results_create(&r, path, MPI_COMM_SELF, &g, &d));
    CHECK_OK(ms_results_close(r));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0);
    if (f < 0) return;
    const char *attrs[] = {"grid_text",      "grid_resolved",    "grid_hash",    "results_hash",
                           "schema_version", "modsweep_version", "build_options"};
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++)
        CHECK_MSG(H5Aexists(f, attrs[i]) > 0, "attribute %s missing", attrs[i]);
    const char *cols[] = {"models/params", "models/train_loss", "labels/mask", "labels/status",
                          "models/status_train"};
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        hid_t ds = H5Dopen2(f, cols[i], H5P_DEFAULT);
        CHECK_MSG(ds >= 0, "dataset %s missing", cols[i]);
        if (ds < 0) continue;
        hid_t dcpl = H5Dget_create_plist(ds);
        CHECK_MSG(H5Pget_layout(dcpl) == H5D_CONTIGUOUS, "%s is not contiguous", cols[i]);
        CHECK_MSG(H5Pget_nfilters(dcpl) == 0, "%s has filters", cols[i]);
        H5D_space_status_t st;
        CHECK(H5Dget_space_status(ds, &st) >= 0);
        CHECK_MSG(st == H5D_SPACE_STATUS_ALLOCATED, "%s not allocated at creation", cols[i]);
        H5Pclose(dcpl);
        H5Dclose(ds);
    }
    H5Fclose(f);
}

static void test_split_transfers(void) {
    ms_results_t *r = NULL;
    CHECK_OK(ms_results_open(&r, path, MPI_COMM_SELF, 1));
    if (!r) return;
    CHECK(ms_results_results_hash(r) == g.results_hash);
    CHECK(ms_results_grid_hash(r) == g.hash);
    CHECK(strcmp(ms_results_grid_text(r), grid_text) == 0);
    const long P = d.P, S = d.S;
    float *a = malloc(sizeof(float) * P), *b = malloc(sizeof(float) * P);
    float *c = malloc(sizeof(float) * P);
    for (long i = 0; i < P; i++)
        a[i] = (float)i * 0.5f - 3.0f;
    /* 40 bytes per transfer: the params row moves in ten-float pieces. */
    ms__results_set_io_limit(40);
    CHECK_OK(ms_results_write(r, "models/params", 1, -1, a));
    ms__results_set_io_limit(0);
    CHECK_OK(ms_results_read(r, "models/params", 1, -1, b));
    CHECK(memcmp(a, b, sizeof(float) * P) == 0);
    ms__results_set_io_limit(28); /* not a multiple of the element size */
    CHECK_OK(ms_results_read(r, "models/params", 1, -1, c));
    CHECK(memcmp(a, c, sizeof(float) * P) == 0);
    /* A part of a row, and a whole column in pieces of rows. */
    float part[5] = {1, 2, 3, 4, 5}, all[3 * 64];
    CHECK(S * 3 <= 3 * 64);
    CHECK_OK(ms_results_write_part(r, "models/train_loss", 2, -1, 3, 5, part));
    ms__results_set_io_limit((size_t)S * sizeof(float)); /* one row per piece */
    CHECK_OK(ms_results_read_all(r, "models/train_loss", all));
    for (int i = 0; i < 5; i++)
        CHECK(all[2 * S + 3 + i] == part[i]);
    CHECK(all[2 * S + 2] != all[2 * S + 2]); /* untouched: NaN */
    /* A label column read whole: rows of L strings. */
    char reason[MS_STR_LEN];
    ms__results_set_io_limit(0);
    CHECK_OK(ms_results_set_status(r, MS_TASK_PRUNE, 2, 1, MS_ST_FAILED, 3, "why not"));
    ms__results_set_io_limit(MS_STR_LEN);
    CHECK_OK(ms_results_read(r, "labels/reason", 2, 1, reason));
    CHECK(strcmp(reason, "why not") == 0);
    /* A single element larger than the limit cannot be split: an error, not a crash. */
    ms__results_set_io_limit(2);
    CHECK(ms_results_read(r, "models/params", 0, -1, c) == MS_EINVAL);
    ms__results_set_io_limit(0);
    int st = 0, at = 0;
    CHECK_OK(ms_results_get_status(r, MS_TASK_PRUNE, 2, 1, &st, &at, NULL));
    CHECK_EQ_INT(st, MS_ST_FAILED);
    CHECK_EQ_INT(at, 3);
    CHECK_OK(ms_results_close(r));
    free(a), free(b), free(c);
}

/* The [sweep] keys that only say how the sweep runs do not change the
 * results hash; any other setting does. */
static void test_results_hash(void) {
    ms_grid_t h;
    char *t = malloc(strlen(grid_text) + 128);
    sprintf(t, "%s", grid_text);
    char *p = strstr(t, "threads = 1");
    memcpy(p, "threads = 4", 11);
    CHECK_OK(ms_grid_parse(&h, "h.ini", t));
    CHECK(h.results_hash == g.results_hash);
    CHECK(h.hash != g.hash);
    ms_grid_free(&h);
    sprintf(t, "%s", grid_text);
    strstr(t, "epochs = 2")[9] = '3';
    CHECK_OK(ms_grid_parse(&h, "h.ini", t));
    CHECK(h.results_hash != g.results_hash);
    ms_grid_free(&h);
    free(t);
}

int main(int argc, char **argv) {
    MPI_Init(&argc, &argv);
    snprintf(path, sizeof path, "%s/io.h5", ms_test_tmpdir());
    remove(path);
    if (ms_grid_parse(&g, "io.ini", grid_text) != 0) {
        fprintf(stderr, "%s\n", ms_err_msg());
        return 1;
    }
    ms_dims_init(&d, &g, 1000); /* 16 steps per epoch */
    RUN_TEST(test_create_layout);
    RUN_TEST(test_split_transfers);
    RUN_TEST(test_results_hash);
    ms_grid_free(&g);
    remove(path);
    int rc = ms_test_summary();
    MPI_Finalize();
    return rc;
}
