/* Tests of the grid checks that guard a sweep's input (docs/input-checks.md):
 * an empty or comment-only grid is refused; defaults the grid does not write
 * are fitted to the architecture (and reported), while written keys stay
 * strict; real axis values are kept as written beside the float values
 * training uses; a key's line is found again for messages; the integer
 * keys' ranges bound the command-line options.
 *
 * Expected values are written out by hand (the C compiler's own reading of
 * 1e-3 is the "as written" reference), never copied from the parser. */
#include <string.h>

#include "check.h"
#include "modsweep/config.h"
#include "modsweep/error.h"

static int parse_ok(ms_grid_t *g, const char *text) {
    int rc = ms_grid_parse(g, "t.ini", text);
    if (rc) fprintf(stderr, "unexpected error: %s\n--- text:\n%s---\n", ms_err_msg(), text);
    return rc == 0;
}

/* Parses text that must be refused with a message holding `want`. */
static void expect_refused(const char *text, const char *want) {
    ms_grid_t g;
    int rc = ms_grid_parse(&g, "t.ini", text);
    CHECK_EQ_INT(rc, MS_ECONFIG);
    CHECK_MSG(strstr(ms_err_msg(), want) != NULL, "message '%s' lacks '%s'", ms_err_msg(), want);
    CHECK_MSG(strncmp(ms_err_msg(), "t.ini", 5) == 0, "message '%s' does not name the file",
              ms_err_msg());
    if (rc == 0) ms_grid_free(&g);
}

static void test_empty_grid(void) {
    /* Nothing, comments, blank lines and bare headers set no key. */
    expect_refused("", "sets no key");
    expect_refused("; a comment\n# another\n\n", "sets no key");
    expect_refused("[sweep]\n[data]\n; nothing\n", "sets no key");
    /* One key is enough. */
    ms_grid_t g;
    if (parse_ok(&g, "[train]\nepochs = 1\n")) ms_grid_free(&g);
}

/* fc layers of an mlp on 28x28 images: fc1 784 -> h1, fc2 h1 -> h2, fc3 h2 -> 10. */
static void test_fitted_defaults(void) {
    ms_grid_t g;
    /* hidden = 32, 32: fc3 is 10 x 32, so the default curve 2..14:2 stops at
     * 10; gradsim keeps the square fc2 only; k = 4 fits. */
    if (parse_ok(&g, "[model]\narch = mlp\nhidden = 32, 32\n")) {
        CHECK_EQ_INT(g.base.bsgc_layers, (1u << 1) | (1u << 2));
        CHECK_EQ_INT(g.base.n_curve_k, 5);
        for (int i = 0; i < 5 && i < g.base.n_curve_k; i++)
            CHECK_EQ_INT(g.base.curve_k[i], 2 + 2 * i);
        CHECK_EQ_INT(g.base.gradsim_layers, 1u << 1);
        CHECK_EQ_INT(g.base.k, 4);
        CHECK_MSG(strstr(g.chosen, "curve_k = 2..10:2") && strstr(g.chosen, "fc3, 10 x 32"),
                  "chosen: '%s'", g.chosen);
        CHECK_MSG(strstr(g.resolved, "cluster.curve_k = 2, 4, 6, 8, 10\n") != NULL, "resolved");
        /* The plan says what was chosen. */
        char buf[8192] = "";
        FILE *f = fmemopen(buf, sizeof buf - 1, "w");
        if (f) {
            ms_grid_print_plan(&g, f);
            fclose(f);
        }
        CHECK_MSG(strstr(buf, "defaults fitted to this architecture: curve_k = 2..10:2") != NULL,
                  "plan: %s", buf);
        ms_grid_free(&g);
    }
    /* The paper's defaults change nothing and say nothing. */
    if (parse_ok(&g, "[train]\nepochs = 1\n")) {
        CHECK(g.chosen[0] == '\0');
        CHECK_EQ_INT(g.base.n_curve_k, 7);
        ms_grid_free(&g);
    }
    /* hidden = 3, 3: the regularised fc2 is 3 x 3, so k = 3 and the curve
     * keeps 2 (fc2 3 x 3, fc3 10 x 3). */
    if (parse_ok(&g, "[model]\narch = mlp\nhidden = 3, 3\n")) {
        CHECK_EQ_INT(g.base.k, 3);
        CHECK(g.values[MS_AXIS_K][0] == 3 && g.written[MS_AXIS_K][0] == 3);
        CHECK_EQ_INT(g.base.n_curve_k, 1);
        CHECK_EQ_INT(g.base.curve_k[0], 2);
        CHECK_MSG(
            strstr(g.chosen, "k = 3 (the default 4 does not fit regularised layer fc2, 3 x 3)"),
            "chosen: '%s'", g.chosen);
        ms_grid_free(&g);
    }
    /* A written curve_k keeps it, and the default bsgc layers drop fc3 (10 x 64). */
    if (parse_ok(&g, "[model]\narch = mlp\nhidden = 64, 64\n[cluster]\ncurve_k = 2, 12\n")) {
        CHECK_EQ_INT(g.base.bsgc_layers, 1u << 1);
        CHECK_EQ_INT(g.base.n_curve_k, 2);
        CHECK_MSG(strstr(g.chosen, "bsgc_layers without fc3 (10 x 64)"), "chosen: '%s'", g.chosen);
        ms_grid_free(&g);
    }
    /* Written keys stay strict: a written k or a written pair of curve and
     * layers that does not fit is an error naming the key's line. */
    expect_refused("[model]\narch = mlp\nhidden = 3, 3\n[cluster]\nk = 4\n",
                   "t.ini:5: k = 4 is larger than regularised layer fc2 (3 x 3)");
    expect_refused("[model]\narch = mlp\nhidden = 32, 32\n[cluster]\nbsgc_layers = fc3\n"
                   "curve_k = 2, 12\n",
                   "t.ini:6: curve_k value 12 is larger than bsgc layer fc3 (10 x 32)");
    /* unitset_size (default 10) fits info layers narrower than 11. */
    if (parse_ok(&g, "[model]\narch = mlp\nhidden = 6, 20\n[cluster]\ncurve_k = none\n"
                     "[measures]\ninfo_layers = fc1, fc2\n")) {
        CHECK_EQ_INT(g.base.meas.unitset_size, 5);
        CHECK_MSG(strstr(g.chosen, "unitset_size = 5"), "chosen: '%s'", g.chosen);
        ms_grid_free(&g);
    }
    expect_refused("[model]\narch = mlp\nhidden = 6, 20\n[cluster]\ncurve_k = none\n"
                   "[measures]\ninfo_layers = fc1, fc2\nunitset_size = 10\n",
                   "t.ini:8: unitset_size = 10 must be less than the width of fc1 (6)");
}

static void test_written_values(void) {
    ms_grid_t g;
    if (!parse_ok(&g, "[train]\nlr = 1e-3, 3e-4\nl2 = 0.1\n[cluster]\nlambda = 0, 0.1, 20\n"
                      "[model]\ndropout = 0.3\n"))
        return;
    /* Training's values: rounded to float. */
    CHECK(g.values[MS_AXIS_LR][0] == (double)1e-3f);
    CHECK(g.values[MS_AXIS_LAMBDA][1] == (double)0.1f);
    /* As written: the double the text names. */
    CHECK(g.written[MS_AXIS_LR][0] == 1e-3 && g.written[MS_AXIS_LR][1] == 3e-4);
    CHECK(g.written[MS_AXIS_LAMBDA][1] == 0.1 && g.written[MS_AXIS_LAMBDA][2] == 20);
    CHECK(g.written[MS_AXIS_L2][0] == 0.1 && g.written[MS_AXIS_DROPOUT][0] == 0.3);
    CHECK(g.written[MS_AXIS_SEED][0] == 0 && g.written[MS_AXIS_K][0] == 4);
    CHECK(g.written[MS_AXIS_L1][0] == 0);
    /* Per model: lr is the second axis swept here, lambda outermost. */
    CHECK_EQ_INT(g.n_models, 6);
    double w[MS_N_AXES];
    ms_grid_model_written(&g, 3, w); /* lambda index 1, lr index 1 */
    CHECK(w[MS_AXIS_LAMBDA] == 0.1 && w[MS_AXIS_LR] == 3e-4);
    ms_settings_t s;
    ms_grid_model_settings(&g, 3, &s);
    CHECK(s.lambda == 0.1f && s.lr == 3e-4f && s.l2 == 0.1f && s.arch.dropout == 0.3f);
    /* The canonical text (and so the hash) stays what it was: float digits. */
    CHECK(strstr(g.resolved, "train.lr = 0.001, 0.0003\n") != NULL);
    ms_grid_free(&g);
    /* Ranges of a real key are whole numbers, the same either way. */
    if (parse_ok(&g, "[cluster]\nlambda = 0..3\n")) {
        for (int i = 0; i < 4; i++)
            CHECK(g.written[MS_AXIS_LAMBDA][i] == i && g.values[MS_AXIS_LAMBDA][i] == i);
        ms_grid_free(&g);
    }
}

static void test_key_line_and_range(void) {
    ms_grid_t g;
    if (parse_ok(&g, "; c\n[data]\n\ntest_limit = 5\n[prune]\n  labels = 0, 1\n")) {
        CHECK_EQ_INT(ms_grid_key_line(&g, "data", "test_limit"), 4);
        CHECK_EQ_INT(ms_grid_key_line(&g, "prune", "labels"), 6);
        CHECK_EQ_INT(ms_grid_key_line(&g, "data", "train_limit"), 0);
        CHECK_EQ_INT(ms_grid_key_line(&g, "nope", "labels"), 0);
        ms_grid_free(&g);
    }
    long lo = -1, hi = -1;
    CHECK_OK(ms_grid_key_range("sweep", "retries", &lo, &hi));
    CHECK(lo == 0 && hi == 100);
    CHECK_OK(ms_grid_key_range("sweep", "threads", &lo, &hi));
    CHECK(lo == 0 && hi == 4096);
    CHECK_OK(ms_grid_key_range("sweep", "team", &lo, &hi));
    CHECK(lo == 1 && hi == 1024);
    CHECK(ms_grid_key_range("sweep", "device", &lo, &hi) == MS_EINVAL);
    CHECK(ms_grid_key_range("sweep", "nope", &lo, &hi) == MS_EINVAL);
    ms_err_clear();
}

int main(void) {
    RUN_TEST(test_empty_grid);
    RUN_TEST(test_fitted_defaults);
    RUN_TEST(test_written_values);
    RUN_TEST(test_key_line_and_range);
    return ms_test_summary();
}
