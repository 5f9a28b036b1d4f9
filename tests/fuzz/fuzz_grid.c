/* Fuzz target: the grid-file parser and validator (ms_grid_parse,
 * ms_grid_load) on arbitrary bytes.
 *
 * Properties checked beyond "no crash, no leak, no undefined behaviour":
 * - a refused grid gives MS_ECONFIG (or MS_EIO/MS_ENOMEM) with a message
 *   that starts with the file's name, and leaves the grid zeroed;
 * - an accepted grid is consistent: axis counts in range, models = their
 *   product (at most 10^6), labels distinct classes, every model's settings
 *   in range and its network a valid layout, results dimensions computable,
 *   the plan printable; parsing its text again gives the same hash; the
 *   axis values as written round to the values training uses;
 * - ms_grid_load of the same bytes from a file agrees with ms_grid_parse
 *   (and refuses a NUL byte). */
#include "fuzz_util.h"

#include "modsweep/config.h"
#include "modsweep/error.h"
#include "modsweep/nn.h"
#include "modsweep/results.h"

#include <math.h>

static const char *NAME = "fuzz.ini";

static void check_refused(int rc, const ms_grid_t *g, const char *name) {
    FZ_ASSERT(rc == MS_ECONFIG || rc == MS_EIO || rc == MS_ENOMEM, "refused with code %d (%s)", rc,
              ms_err_msg());
    const char *msg = ms_err_msg();
    FZ_ASSERT(strncmp(msg, name, strlen(name)) == 0, "message does not name the file: '%s'", msg);
    FZ_ASSERT(g->text == NULL && g->resolved == NULL && g->n_models == 0,
              "a refused grid is not left empty");
}

static void check_settings(const ms_grid_t *g, int m) {
    ms_settings_t s;
    ms_grid_model_settings(g, m, &s);
    FZ_ASSERT(isfinite(s.lr) && s.lr > 0, "model %d: lr %g", m, s.lr);
    FZ_ASSERT(isfinite(s.lambda) && s.lambda >= 0, "model %d: lambda %g", m, s.lambda);
    FZ_ASSERT(isfinite(s.l1) && s.l1 >= 0 && isfinite(s.l2) && s.l2 >= 0, "model %d: l1/l2", m);
    FZ_ASSERT(s.arch.dropout >= 0 && s.arch.dropout < 1, "model %d: dropout %g", m,
              s.arch.dropout);
    FZ_ASSERT(s.epochs >= 1 && s.batch >= 1, "model %d: epochs %d batch %d", m, s.epochs, s.batch);
    FZ_ASSERT(s.k >= 1, "model %d: k %d", m, s.k);
    ms_layout_t L;
    FZ_ASSERT(ms_layout_init(&L, &s.arch) == 0, "model %d: accepted grid, invalid network: %s", m,
              ms_err_msg());
    FZ_ASSERT(L.arch.n_fc >= 1 && L.n_params > 0, "model %d: empty network", m);
}

static void check_accepted(const ms_grid_t *g) {
    long prod = 1;
    for (int a = 0; a < MS_N_AXES; a++) {
        FZ_ASSERT(g->n_values[a] >= 1 && g->n_values[a] <= MS_MAX_AXIS_VALUES, "axis %d: %d values",
                  a, g->n_values[a]);
        prod *= g->n_values[a];
    }
    FZ_ASSERT(g->n_models == prod && g->n_models >= 1 && g->n_models <= 1000000,
              "models %d, product of the axes %ld", g->n_models, prod);
    FZ_ASSERT(g->n_labels >= 0 && g->n_labels <= MS_MAX_CLASSES, "labels %d", g->n_labels);
    unsigned seen = 0;
    for (int i = 0; i < g->n_labels; i++) {
        FZ_ASSERT(g->labels[i] >= 0 && g->labels[i] < MS_MAX_CLASSES, "label %d", g->labels[i]);
        FZ_ASSERT(!(seen >> g->labels[i] & 1u), "label %d twice", g->labels[i]);
        seen |= 1u << g->labels[i];
    }
    FZ_ASSERT(g->text && g->resolved && g->output[0], "accepted grid without text or output");
    /* The values as written round to the values training uses (real axes to
     * float, the integer axes exactly). */
    for (int a = 0; a < MS_N_AXES; a++)
        for (int i = 0; i < g->n_values[a]; i++) {
            const double w = g->written[a][i], v = g->values[a][i];
            const int real = a != MS_AXIS_SEED && a != MS_AXIS_K;
            FZ_ASSERT(real ? (double)(float)w == v || (w == 0 && v == 0) : w == v,
                      "axis %d value %d: written %.17g, used %.17g", a, i, w, v);
        }
    FZ_ASSERT(g->retries >= 0 && g->team >= 1 && g->threads >= 0, "sweep settings");
    /* Every model when there are few, else the first, the last and a stride. */
    int step = g->n_models <= 64 ? 1 : g->n_models / 61;
    for (int m = 0; m < g->n_models; m += step)
        check_settings(g, m);
    check_settings(g, g->n_models - 1);
    /* The results dimensions of a data set of 60000 and of 1 training images. */
    ms_dims_t d;
    ms_dims_init(&d, g, 60000);
    FZ_ASSERT(d.M == g->n_models && d.L == g->n_labels && d.S >= d.E && d.P > 0,
              "dimensions M %ld L %ld S %ld E %ld P %ld", d.M, d.L, d.S, d.E, d.P);
    ms_dims_init(&d, g, 1);
    ms_grid_print_plan(g, fz_null());
    /* The stored text parses again to the same grid. */
    ms_grid_t again;
    int rc = ms_grid_parse(&again, NAME, g->text);
    FZ_ASSERT(rc == 0, "the accepted text is refused the second time: %s", ms_err_msg());
    FZ_ASSERT(again.hash == g->hash && again.results_hash == g->results_hash,
              "the same text gives another hash");
    ms_grid_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 65536) return 0; /* grids are short; long inputs only slow the search */
    char *text = malloc(size + 1);
    FZ_ASSERT(text, "out of memory");
    memcpy(text, data, size);
    text[size] = 0;
    const int has_nul = memchr(data, 0, size) != NULL;

    ms_grid_t g;
    int rc = ms_grid_parse(&g, NAME, text);
    uint64_t hash = 0;
    if (rc)
        check_refused(rc, &g, NAME);
    else {
        check_accepted(&g);
        hash = g.results_hash;
    }
    ms_grid_free(&g);

    /* The same bytes from a file. */
    char path[512];
    fz_path(path, sizeof path, "grid.ini");
    fz_write(path, data, size);
    ms_grid_t gl;
    int rl = ms_grid_load(&gl, path);
    if (has_nul) {
        FZ_ASSERT(rl == MS_ECONFIG && strstr(ms_err_msg(), "NUL byte"),
                  "a NUL byte is not refused: %d %s", rl, ms_err_msg());
        check_refused(rl, &gl, path);
    } else if (rc) {
        FZ_ASSERT(rl != 0, "ms_grid_load accepts what ms_grid_parse refused");
        check_refused(rl, &gl, path);
    } else {
        FZ_ASSERT(rl == 0, "ms_grid_load refuses what ms_grid_parse accepted: %s", ms_err_msg());
        /* results_hash leaves out the name, which defaults to the file's. */
        FZ_ASSERT(gl.results_hash == hash, "ms_grid_load and ms_grid_parse disagree on the hash");
        ms_grid_free(&gl);
    }
    unlink(path);
    free(text);
    ms_err_clear();
    return 0;
}
