/* Tests of the grid file (src/sweep/config.c): defaults, list and range syntax,
 * axis order and model decoding, the resolved text and its hash, every
 * error case with its file:line prefix, the layer-size checks, the printed
 * documentation and plan, and the sweep files under sweeps/.
 *
 * Expected values are written out from the specification (docs/design.md, the
 * brief of the config module), never taken from the parser's own output. */
#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "modsweep/config.h"
#include "modsweep/error.h"

/* The exact keys of a grid, in table order, as "section.key". */
static const char *const all_keys[] = {
    "sweep.name",
    "sweep.output",
    "sweep.retries",
    "sweep.team",
    "sweep.threads",
    "sweep.device",
    "sweep.store_weights",
    "data.dataset",
    "data.dir",
    "data.mnist_dir",
    "data.cifar10_dir",
    "data.layout",
    "data.normalize",
    "data.mean",
    "data.std",
    "data.train_limit",
    "data.test_limit",
    "model.arch",
    "model.conv",
    "model.kernel",
    "model.padding",
    "model.conv_bias",
    "model.hidden",
    "model.bias",
    "model.dropout",
    "train.seed",
    "train.optimizer",
    "train.lr",
    "train.momentum",
    "train.beta1",
    "train.beta2",
    "train.eps",
    "train.l1",
    "train.l2",
    "train.epochs",
    "train.batch",
    "cluster.lambda",
    "cluster.k",
    "cluster.layers",
    "cluster.partition",
    "cluster.warmup_epochs",
    "cluster.gradsim_layers",
    "cluster.bsgc_layers",
    "cluster.curve_k",
    "cluster.kmeans_restarts",
    "cluster.ablate",
    "cluster.ablation",
    "cluster.ablation_images",
    "prune.labels",
    "prune.layers",
    "prune.samples",
    "prune.window",
    "prune.method",
    "prune.find_set",
    "prune.ablation",
    "prune.methods",
    "prune.ig_steps",
    "prune.sizes",
    "measures.untrained",
    "measures.samples",
    "measures.info_layers",
    "measures.info_bins",
    "measures.unitset_size",
    "measures.unitset_draws",
    "measures.ablate_layer",
    "measures.directions",
    "measures.maxkl_starts",
    "measures.maxkl_iters",
    "measures.assoc_layers",
    "measures.assoc_store",
    "measures.mc_steps",
    "measures.mc_entropy",
    "measures.null_shuffles",
    "measures.hebbian",
    "measures.sparse_every",
    "measures.sparse_k1",
    "measures.sparse_k2",
    "null.shuffles",
};
#define N_ALL_KEYS ((int)(sizeof all_keys / sizeof all_keys[0]))

/* True when g holds nothing (the state after ms_grid_free or a failed load). */
static int grid_is_empty(const ms_grid_t *g) {
    static const ms_grid_t zero;
    return memcmp(g, &zero, sizeof zero) == 0;
}

/* Parses text that must be accepted. */
static int parse_ok(ms_grid_t *g, const char *text) {
    int rc = ms_grid_parse(g, "t.ini", text);
    if (rc) fprintf(stderr, "unexpected error: %s\n--- text:\n%s---\n", ms_err_msg(), text);
    return rc == 0;
}

/* Parses text that must fail with MS_ECONFIG, a message starting with
 * "t.ini:<line>: " and holding `keyword`; the grid must be left empty. */
static void expect_error_at(const char *file, int src_line, const char *text, int line,
                            const char *keyword) {
    ms_grid_t g;
    memset(&g, 0x5a, sizeof g); /* garbage: the parser must not read or free it */
    int rc = ms_grid_parse(&g, "t.ini", text);
    char prefix[64];
    snprintf(prefix, sizeof prefix, "t.ini:%d: ", line);
    const char *msg = ms_err_msg();
    if (rc != MS_ECONFIG)
        ms_test_fail_at(file, src_line, "expected MS_ECONFIG, got %d (%s) for:\n%s", rc, msg, text);
    else if (strncmp(msg, prefix, strlen(prefix)) != 0 || !strstr(msg, keyword))
        ms_test_fail_at(file, src_line, "message '%s' lacks '%s' or '%s'", msg, prefix, keyword);
    if (!grid_is_empty(&g)) ms_test_fail_at(file, src_line, "grid not empty after an error");
    if (rc == 0) ms_grid_free(&g);
}
#define EXPECT_ERROR(text, line, keyword) expect_error_at(__FILE__, __LINE__, text, line, keyword)

/* The line of `resolved` for "section.key", copied into buf ("" if absent). */
static const char *resolved_value(const ms_grid_t *g, const char *key, char *buf, size_t n) {
    char pat[128];
    snprintf(pat, sizeof pat, "%s = ", key);
    buf[0] = '\0';
    for (const char *p = g->resolved; p && *p;) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (strncmp(p, pat, strlen(pat)) == 0) {
            size_t vlen = len - strlen(pat);
            if (vlen >= n) vlen = n - 1;
            memcpy(buf, p + strlen(pat), vlen);
            buf[vlen] = '\0';
            return buf;
        }
        p = nl ? nl + 1 : p + len;
    }
    return buf;
}

static uint64_t reference_fnv1a(const char *s) {
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

/* ---- defaults --------------------------------------------------------------- */

/* A grid that sets one key to its default value: every other key takes its
 * default. (A grid that sets no key at all is refused: test_empty_grid.) */
#define ONE_DEFAULT_KEY "; nothing but a default\n[train]\nepochs = 1\n"

static void test_defaults_of_an_empty_file(void) {
    ms_grid_t g;
    if (!parse_ok(&g, ONE_DEFAULT_KEY)) return;
    const ms_settings_t *s = &g.base;
    CHECK(strcmp(g.path, "t.ini") == 0);
    CHECK(strcmp(g.name, "t") == 0);
    CHECK(strcmp(g.output, "t.h5") == 0);
    CHECK_EQ_INT(g.retries, 2);
    CHECK_EQ_INT(g.team, 1);
    CHECK_EQ_INT(g.threads, 0);
    CHECK_EQ_INT(g.device, MS_DEV_CPU);
    CHECK_EQ_INT(g.store_weights, 1);
    /* [data]: Fashion-MNIST from Debian's package, native 1x28x28, MNIST statistics. */
    CHECK_EQ_INT(s->data.kind, MS_DATA_FASHION);
    CHECK(strcmp(s->data.dir, "/usr/share/datasets/fashion-mnist") == 0);
    CHECK_EQ_INT(s->data.layout, MS_LAYOUT_NATIVE);
    CHECK_EQ_INT(s->data.norm, MS_NORM_MEANSTD);
    for (int i = 0; i < 3; i++) {
        CHECK(s->data.mean[i] == 0.1307f);
        CHECK(s->data.std[i] == 0.3081f);
    }
    CHECK_EQ_INT(s->data.train_limit, 0);
    CHECK_EQ_INT(s->data.test_limit, 0);
    /* [model]: the CNN, one 16-channel 3x3 block, fc 64-64-64-10 without bias. */
    const ms_arch_t *a = &s->arch;
    CHECK_EQ_INT(s->arch_is_cnn, 1);
    CHECK_EQ_INT(a->in_c, 1);
    CHECK_EQ_INT(a->in_h, 28);
    CHECK_EQ_INT(a->in_w, 28);
    CHECK_EQ_INT(a->n_conv, 1);
    CHECK_EQ_INT(a->conv_c[0], 16);
    CHECK_EQ_INT(a->conv_k, 3);
    CHECK_EQ_INT(a->conv_pad, 1);
    CHECK_EQ_INT(a->conv_bias, 1);
    CHECK_EQ_INT(a->n_fc, 4);
    CHECK_EQ_INT(a->fc_out[0], 64);
    CHECK_EQ_INT(a->fc_out[1], 64);
    CHECK_EQ_INT(a->fc_out[2], 64);
    CHECK_EQ_INT(a->fc_out[3], 10);
    CHECK_EQ_INT(a->fc_bias, 0);
    CHECK(a->dropout == 0.0f);
    /* [train] */
    CHECK(s->seed == 0);
    CHECK_EQ_INT(s->optimizer, MS_OPT_ADAM);
    CHECK(s->lr == 1e-3f);
    CHECK(s->momentum == 0.0f);
    CHECK(s->beta1 == 0.9f);
    CHECK(s->beta2 == 0.999f);
    CHECK(s->eps == 1e-8f);
    CHECK(s->l1 == 0.0f && s->l2 == 0.0f);
    CHECK_EQ_INT(s->epochs, 1);
    CHECK_EQ_INT(s->batch, 64);
    /* [cluster] */
    CHECK(s->lambda == 0.0f);
    CHECK_EQ_INT(s->k, 4);
    CHECK_EQ_INT(s->reg_layers, 1u << 1); /* fc2 */
    CHECK_EQ_INT(s->partition, MS_PART_BLOCKS);
    CHECK_EQ_INT(s->warmup_epochs, 1);
    CHECK_EQ_INT(s->gradsim_layers, (1u << 1) | (1u << 2)); /* fc2, fc3 */
    CHECK_EQ_INT(s->bsgc_layers, (1u << 1) | (1u << 2));
    CHECK_EQ_INT(s->n_curve_k, 7);
    for (int i = 0; i < 7 && i < s->n_curve_k; i++)
        CHECK_EQ_INT(s->curve_k[i], 2 + 2 * i);
    CHECK_EQ_INT(s->kmeans_restarts, 10);
    CHECK_EQ_INT(s->ablate, 1);
    /* [prune] */
    CHECK_EQ_INT(g.n_labels, 10);
    for (int i = 0; i < 10; i++)
        CHECK_EQ_INT(g.labels[i], i);
    CHECK_EQ_INT(s->prune_layers, 0xFu);
    CHECK_EQ_INT(s->prune_samples, 0);
    CHECK_EQ_INT(s->prune_window, 0);
    CHECK_EQ_INT(s->prune_naive, 0);
    /* One model, every axis at its single value. */
    CHECK_EQ_INT(g.n_models, 1);
    for (int ax = 0; ax < MS_N_AXES; ax++)
        CHECK_EQ_INT(g.n_values[ax], 1);
    CHECK(g.text && strcmp(g.text, ONE_DEFAULT_KEY) == 0);
    ms_grid_free(&g);
    CHECK(grid_is_empty(&g));
}

static void test_defaults_that_depend_on_other_keys(void) {
    ms_grid_t g;
    char buf[256];
    /* An mlp: no conv, hidden 128, 128; CIFAR-10: 3x32x32, x/255, no statistics. */
    if (parse_ok(&g, "[data]\ndataset = cifar10\ndir = /d\n[model]\narch = "
                     "mlp\n[cluster]\nbsgc_layers = fc2\n")) {
        const ms_arch_t *a = &g.base.arch;
        CHECK_EQ_INT(g.base.arch_is_cnn, 0);
        CHECK_EQ_INT(a->n_conv, 0);
        CHECK_EQ_INT(a->in_c, 3);
        CHECK_EQ_INT(a->in_h, 32);
        CHECK_EQ_INT(a->n_fc, 3);
        CHECK_EQ_INT(a->fc_out[0], 128);
        CHECK_EQ_INT(a->fc_out[1], 128);
        CHECK_EQ_INT(a->fc_out[2], 10);
        CHECK_EQ_INT(g.base.data.norm, MS_NORM_UNIT);
        CHECK(strcmp(resolved_value(&g, "data.normalize", buf, sizeof buf), "unit") == 0);
        CHECK(strcmp(resolved_value(&g, "data.mean", buf, sizeof buf), "none") == 0);
        CHECK(strcmp(resolved_value(&g, "model.conv", buf, sizeof buf), "none") == 0);
        CHECK(strcmp(resolved_value(&g, "data.dir", buf, sizeof buf), "/d") == 0);
        ms_grid_free(&g);
    }
    /* The paper layout: 3x32x32 from 28x28 images; a 3-channel mean. */
    if (parse_ok(&g, "[data]\nlayout = 3x32x32\nmean = 0.1, 0.2, 0.3\n")) {
        CHECK_EQ_INT(g.base.arch.in_c, 3);
        CHECK_EQ_INT(g.base.arch.in_h, 32);
        CHECK(g.base.data.mean[0] == 0.1f && g.base.data.mean[1] == 0.2f &&
              g.base.data.mean[2] == 0.3f);
        CHECK(g.base.data.std[2] == 0.3081f);
        ms_grid_free(&g);
    }
    /* A two-layer mlp: the default gradsim/bsgc layers "fc2, fc3" keep fc2 only,
     * and gradsim drops it too (32 -> 10 is not square). */
    if (parse_ok(&g, "[model]\narch = mlp\nhidden = 32\n[cluster]\ncurve_k = 2, 4\n")) {
        CHECK_EQ_INT(g.base.arch.n_fc, 2);
        CHECK_EQ_INT(g.base.gradsim_layers, 0);
        CHECK_EQ_INT(g.base.bsgc_layers, 1u << 1);
        CHECK_EQ_INT(g.base.reg_layers, 1u << 1);
        ms_grid_free(&g);
    }
    /* A linear classifier (hidden = none): fc1 only, no regularised layer. */
    if (parse_ok(&g, "[model]\narch = mlp\nhidden = none\n[cluster]\ncurve_k = none\n")) {
        CHECK_EQ_INT(g.base.arch.n_fc, 1);
        CHECK_EQ_INT(g.base.arch.fc_out[0], 10);
        CHECK_EQ_INT(g.base.reg_layers, 0);
        CHECK_EQ_INT(g.base.n_curve_k, 0);
        CHECK_EQ_INT(g.base.prune_layers, 1);
        ms_grid_free(&g);
    }
}

/* ---- values, lists and ranges ----------------------------------------------- */

static void test_list_and_range_syntax(void) {
    ms_grid_t g;
    const char *text = "[train]\n"
                       "seeds = 0..9\n"
                       "lr = 1e-3, 3e-3\n"
                       "[cluster]\n"
                       "lambda = 0, 5, 20 ; an inline comment\n"
                       "k = 2..8:3\n"
                       "curve_k = 2 .. 14 : 2\n"
                       "[prune]\n"
                       "labels = 0..2, 7\n";
    if (!parse_ok(&g, text)) return;
    CHECK_EQ_INT(g.n_values[MS_AXIS_SEED], 10);
    for (int i = 0; i < 10; i++)
        CHECK(g.values[MS_AXIS_SEED][i] == i);
    CHECK_EQ_INT(g.n_values[MS_AXIS_LR], 2);
    CHECK(g.values[MS_AXIS_LR][0] == (double)1e-3f);
    CHECK(g.values[MS_AXIS_LR][1] == (double)3e-3f);
    CHECK_EQ_INT(g.n_values[MS_AXIS_LAMBDA], 3);
    CHECK(g.values[MS_AXIS_LAMBDA][0] == 0 && g.values[MS_AXIS_LAMBDA][1] == 5 &&
          g.values[MS_AXIS_LAMBDA][2] == 20);
    CHECK_EQ_INT(g.n_values[MS_AXIS_K], 3);
    CHECK(g.values[MS_AXIS_K][0] == 2 && g.values[MS_AXIS_K][1] == 5 &&
          g.values[MS_AXIS_K][2] == 8);
    CHECK_EQ_INT(g.base.n_curve_k, 7);
    CHECK_EQ_INT(g.base.curve_k[6], 14);
    CHECK_EQ_INT(g.n_labels, 4);
    CHECK(g.labels[0] == 0 && g.labels[1] == 1 && g.labels[2] == 2 && g.labels[3] == 7);
    CHECK_EQ_INT(g.n_models, 10 * 2 * 3 * 3);
    ms_grid_free(&g);

    /* A step that does not land on the end stops before it; a float axis
     * takes an integer range; single values; `labels = all`. */
    if (parse_ok(&g,
                 "[cluster]\nlambda = 0..20:10\n[train]\nseed = 0..9:4\n[prune]\nlabels = 3\n")) {
        CHECK_EQ_INT(g.n_values[MS_AXIS_LAMBDA], 3);
        CHECK(g.values[MS_AXIS_LAMBDA][2] == 20);
        CHECK_EQ_INT(g.n_values[MS_AXIS_SEED], 3);
        CHECK(g.values[MS_AXIS_SEED][2] == 8);
        CHECK_EQ_INT(g.n_labels, 1);
        CHECK_EQ_INT(g.labels[0], 3);
        ms_grid_free(&g);
    }
    /* Booleans, choices in any case, quoted strings, integers in float
     * notation, indented keys, ':' as separator, CRLF line ends. */
    const char *forms = "[sweep]\r\n"
                        "store_weights = no\r\n"
                        "  device = AUTO\r\n"
                        "output: \"out dir/r.h5\"\r\n"
                        "[data]\n"
                        "train_limit = 2e4\n"
                        "[model]\n"
                        "bias = YES\n"
                        "conv_bias = 0\n"
                        "[cluster]\n"
                        "ablate = false\n"
                        "[prune]\n"
                        "method = naive\n";
    if (parse_ok(&g, forms)) {
        CHECK_EQ_INT(g.store_weights, 0);
        CHECK_EQ_INT(g.device, MS_DEV_AUTO);
        CHECK(strcmp(g.output, "out dir/r.h5") == 0);
        CHECK_EQ_INT(g.base.data.train_limit, 20000);
        CHECK_EQ_INT(g.base.arch.fc_bias, 1);
        CHECK_EQ_INT(g.base.arch.conv_bias, 0);
        CHECK_EQ_INT(g.base.ablate, 0);
        CHECK_EQ_INT(g.base.prune_naive, 1);
        ms_grid_free(&g);
    }
    /* A large seed survives as uint64 exactly. */
    if (parse_ok(&g, "[train]\nseed = 9007199254740991\n")) {
        CHECK(g.base.seed == 9007199254740991ull);
        ms_grid_free(&g);
    }
}

/* ---- axes ------------------------------------------------------------------- */

static void test_axis_order_and_decoding(void) {
    ms_grid_t g;
    /* 2 seeds x 2 lambdas x 3 ks, written in an order other than the axes'. */
    const char *text = "[cluster]\nk = 2, 3, 4\nlambda = 0, 5\n[train]\nseed = 7, 11\n";
    if (!parse_ok(&g, text)) return;
    CHECK_EQ_INT(g.n_models, 12);
    static const int seeds[2] = {7, 11}, ks[3] = {2, 3, 4};
    static const float lambdas[2] = {0, 5};
    for (int m = 0; m < 12; m++) {
        /* Seed outermost, then lambda, k fastest. */
        int is = m / 6, il = (m / 3) % 2, ik = m % 3;
        int idx[MS_N_AXES];
        ms_grid_model_index(&g, m, idx);
        CHECK_EQ_INT(idx[MS_AXIS_SEED], is);
        CHECK_EQ_INT(idx[MS_AXIS_LAMBDA], il);
        CHECK_EQ_INT(idx[MS_AXIS_K], ik);
        CHECK_EQ_INT(idx[MS_AXIS_LR], 0);
        CHECK_EQ_INT(idx[MS_AXIS_DROPOUT], 0);
        ms_settings_t s;
        ms_grid_model_settings(&g, m, &s);
        CHECK(s.seed == (uint64_t)seeds[is]);
        CHECK(s.lambda == lambdas[il]);
        CHECK_EQ_INT(s.k, ks[ik]);
        CHECK(s.lr == 1e-3f);
        CHECK_EQ_INT(s.epochs, 1); /* fixed settings come from base */
    }
    ms_grid_free(&g);

    /* The innermost axes: lr, l1, l2, dropout (dropout fastest). */
    text = "[train]\nlr = 0.1, 0.2\nl2 = 0, 1e-4\n[model]\ndropout = 0, 0.25, 0.5\n[train]\nl1 = "
           "0.5\n";
    if (!parse_ok(&g, text)) return;
    CHECK_EQ_INT(g.n_models, 12);
    for (int m = 0; m < 12; m++) {
        ms_settings_t s;
        ms_grid_model_settings(&g, m, &s);
        static const float lrs[2] = {0.1f, 0.2f}, l2s[2] = {0, 1e-4f}, drops[3] = {0, 0.25f, 0.5f};
        CHECK(s.lr == lrs[m / 6]);
        CHECK(s.l2 == l2s[(m / 3) % 2]);
        CHECK(s.arch.dropout == drops[m % 3]);
        CHECK(s.l1 == 0.5f);
    }
    ms_grid_free(&g);
    CHECK(strcmp(ms_axis_name(MS_AXIS_SEED), "seed") == 0);
    CHECK(strcmp(ms_axis_name(MS_AXIS_LAMBDA), "lambda") == 0);
    CHECK(strcmp(ms_axis_name(MS_AXIS_K), "k") == 0);
    CHECK(strcmp(ms_axis_name(MS_AXIS_DROPOUT), "dropout") == 0);
    CHECK(strcmp(ms_axis_name(MS_N_AXES), "?") == 0);
}

/* ---- resolved text and hash ------------------------------------------------- */

static void test_resolved_and_hash(void) {
    const char *a = "[train]\nseed = 0\nlr = 1e-3\n[cluster]\nlambda = 0, 20\nk = 4\n";
    /* The same settings: comments, blank lines, spacing, key and section
     * order, the alias `seeds`, another spelling of the numbers. */
    const char *b = "# the same grid\n\n[cluster]\n  k=4   ; four\nlambda =0,20.0\n"
                    "[train]\nlr = 0.001\n; seed\nseeds = 0\n";
    const char *c = "[train]\nseed = 0\nlr = 1e-3\n[cluster]\nlambda = 0, 21\nk = 4\n";
    ms_grid_t ga, gb, gc;
    if (!parse_ok(&ga, a)) return;
    if (!parse_ok(&gb, b)) {
        ms_grid_free(&ga);
        return;
    }
    if (!parse_ok(&gc, c)) {
        ms_grid_free(&ga);
        ms_grid_free(&gb);
        return;
    }
    CHECK(strcmp(ga.resolved, gb.resolved) == 0);
    CHECK(ga.hash == gb.hash);
    CHECK(ga.hash != gc.hash);
    CHECK(ga.hash == reference_fnv1a(ga.resolved));
    CHECK(gc.hash == reference_fnv1a(gc.resolved));

    /* Every key appears once, in table order, as "section.key = value". */
    const char *p = ga.resolved;
    int lines = 0;
    for (int i = 0; i < N_ALL_KEYS; i++) {
        size_t n = strlen(all_keys[i]);
        CHECK_MSG(strncmp(p, all_keys[i], n) == 0 && strncmp(p + n, " = ", 3) == 0,
                  "line %d of resolved should be %s", i + 1, all_keys[i]);
        const char *nl = strchr(p, '\n');
        if (!nl) break;
        p = nl + 1;
        lines++;
    }
    CHECK_EQ_INT(lines, N_ALL_KEYS);
    CHECK(*p == '\0');

    char buf[256];
    CHECK(strcmp(resolved_value(&ga, "cluster.lambda", buf, sizeof buf), "0, 20") == 0);
    CHECK(strcmp(resolved_value(&ga, "train.lr", buf, sizeof buf), "0.001") == 0);
    CHECK(strcmp(resolved_value(&ga, "cluster.curve_k", buf, sizeof buf),
                 "2, 4, 6, 8, 10, 12, 14") == 0);
    CHECK(strcmp(resolved_value(&ga, "prune.labels", buf, sizeof buf),
                 "0, 1, 2, 3, 4, 5, 6, 7, 8, 9") == 0);
    CHECK(strcmp(resolved_value(&ga, "prune.layers", buf, sizeof buf), "fc1, fc2, fc3, fc4") == 0);
    CHECK(strcmp(resolved_value(&ga, "cluster.gradsim_layers", buf, sizeof buf), "fc2, fc3") == 0);
    CHECK(strcmp(resolved_value(&ga, "model.hidden", buf, sizeof buf), "64, 64, 64") == 0);
    CHECK(strcmp(resolved_value(&ga, "data.normalize", buf, sizeof buf), "meanstd") == 0);
    CHECK(strcmp(resolved_value(&ga, "data.mean", buf, sizeof buf), "0.1307") == 0);
    CHECK(strcmp(resolved_value(&ga, "train.eps", buf, sizeof buf), "1e-08") == 0);
    CHECK(strcmp(resolved_value(&ga, "sweep.output", buf, sizeof buf), "t.h5") == 0);
    CHECK(strcmp(resolved_value(&ga, "train.seed", buf, sizeof buf), "0") == 0);
    ms_grid_free(&ga);
    ms_grid_free(&gb);
    ms_grid_free(&gc);

    /* A change in any one setting changes the hash. */
    static const char *const changed[] = {
        "[train]\nepochs = 2\n",      "[model]\nbias = true\n",  "[prune]\nlabels = 0..8\n",
        "[data]\nlayout = 3x32x32\n", "[sweep]\nname = other\n", "[cluster]\nlayers = fc3\n",
    };
    ms_grid_t base;
    if (!parse_ok(&base, ONE_DEFAULT_KEY)) return;
    for (size_t i = 0; i < sizeof changed / sizeof changed[0]; i++) {
        ms_grid_t g;
        if (!parse_ok(&g, changed[i])) continue;
        CHECK_MSG(g.hash != base.hash, "hash unchanged by %s", changed[i]);
        ms_grid_free(&g);
    }
    ms_grid_free(&base);
}

/* ---- errors ----------------------------------------------------------------- */

static void test_syntax_errors(void) {
    EXPECT_ERROR("[cluster]\nlamda = 1\n", 2,
                 "unknown key 'lamda' in [cluster] (did you mean 'lambda'?)");
    EXPECT_ERROR("[train]\nlambda = 1\n", 2, "did you mean 'lambda' in [cluster]?");
    EXPECT_ERROR("[train]\nlearning_rate = 1\n", 2, "unknown key 'learning_rate'");
    EXPECT_ERROR("[sweep]\n\n[clustr]\nk = 2\n", 3,
                 "unknown section [clustr] (did you mean [cluster]?)");
    EXPECT_ERROR("[cluster]\nk = 2\n\nk = 3\n", 4, "key 'k' given twice, first at line 2");
    EXPECT_ERROR("[train]\nseed = 1\nseeds = 2\n", 3, "given twice, first at line 2");
    EXPECT_ERROR("[cluster]\nlambda = 0,\n    5, 20\n", 3, "multi-line values are not allowed");
    EXPECT_ERROR("[cluster]\nlambda\n", 2, "expected 'key = value'");
    EXPECT_ERROR("[cluster] k = 2\n", 1, "unexpected text");
    EXPECT_ERROR("[cluster\nk = 2\n", 1, "no closing ']'");
    EXPECT_ERROR("k = 2\n[cluster]\n", 1, "before any [section]");
    EXPECT_ERROR("[cluster]\n= 2\n", 2, "no key name");
    EXPECT_ERROR("[cluster]\nk =\n", 2, "has no value");
    EXPECT_ERROR("[cluster]\nlambda = 0 # x\n", 2, "comment");
    EXPECT_ERROR("[cluster]\nk = 4;x\n", 2, "comment");
    /* A line longer than inih's buffer is refused, not split. */
    char long_line[512];
    snprintf(long_line, sizeof long_line, "[data]\n\ndir = /%0300d\n", 0);
    EXPECT_ERROR(long_line, 3, "too long");
}

static void test_value_errors(void) {
    EXPECT_ERROR("[cluster]\nk = 2.5\n", 2, "k must be an integer, got '2.5'");
    EXPECT_ERROR("[cluster]\nk = 1\n", 2, "out of range: must be in 2..1024");
    EXPECT_ERROR("[cluster]\nk = 0x10\n", 2, "expected an integer");
    EXPECT_ERROR("[cluster]\nlambda = -1\n", 2, "must be >= 0");
    EXPECT_ERROR("[cluster]\nlambda = 0, -0.5\n", 2, "must be >= 0");
    EXPECT_ERROR("[cluster]\nlambda = nan\n", 2, "NaN");
    EXPECT_ERROR("[train]\nl2 = -inf\n", 2, "not a finite number");
    EXPECT_ERROR("[train]\nlr = 0\n", 2, "must be > 0");
    EXPECT_ERROR("[train]\nlr = 1e-50\n", 2, "must be > 0"); /* 0 as a float */
    EXPECT_ERROR("[train]\nlr = 1e39\n", 2, "too large");
    EXPECT_ERROR("[model]\ndropout = 1\n", 2, "< 1");
    EXPECT_ERROR("[model]\ndropout = 0.5, 0.5\n", 2, "given twice");
    EXPECT_ERROR("[data]\nstd = 0\n", 2, "> 0");
    EXPECT_ERROR("[train]\nepochs = 1, 2\n", 2, "epochs takes a single value");
    EXPECT_ERROR("[train]\nbatch = 1..4\n", 2, "single value");
    EXPECT_ERROR("[train]\noptimizer = adamw\n", 2, "did you mean 'adam'?");
    EXPECT_ERROR("[train]\noptimizer = adam, sgd\n", 2, "single value");
    EXPECT_ERROR("[sweep]\nstore_weights = maybe\n", 2, "expected true, false");
    EXPECT_ERROR("[sweep]\nname = my grid\n", 2, "may hold only");
    EXPECT_ERROR("[sweep]\nretries = 101\n", 2, "0..100");
    EXPECT_ERROR("[train]\nseed = 5..2\n", 2, "empty");
    EXPECT_ERROR("[train]\nseed = 0..9:0\n", 2, "step");
    EXPECT_ERROR("[train]\nseed = 0..9.5\n", 2, "integers");
    EXPECT_ERROR("[train]\nseed = 0..256\n", 2, "too many values (at most 256)");
    EXPECT_ERROR("[train]\nseed = 0..1000000000000\n", 2, "too many values");
    EXPECT_ERROR("[train]\nseed = 9007199254740992\n", 2, "out of range");
    EXPECT_ERROR("[cluster]\ncurve_k = 2, 4, 4\n", 2, "given twice");
    EXPECT_ERROR("[cluster]\ncurve_k = 2..36:2\n", 2, "at most 16");
    EXPECT_ERROR("[model]\nhidden = 64, 0\n", 2, "out of range");
    EXPECT_ERROR("[model]\nhidden = 70000\n", 2, "1..65536");
    EXPECT_ERROR("[model]\nhidden = 8, 8, 8, 8, 8, 8, 8, 8\n", 2, "at most 7");
    EXPECT_ERROR("[model]\nconv = 4, 4, 4, 4, 4\n", 2, "at most 4");
}

static void test_label_errors(void) {
    EXPECT_ERROR("[prune]\nlabels = 10\n", 2, "label 10 is out of range");
    EXPECT_ERROR("[prune]\nlabels = 0..10\n", 2, "label 10 is out of range");
    EXPECT_ERROR("[prune]\nlabels = -1\n", 2, "out of range");
    EXPECT_ERROR("[prune]\nlabels = 1, 3, 1\n", 2, "label 1 given twice");
    EXPECT_ERROR("[prune]\nlabels = none\n", 2, "expected an integer");
}

static void test_combination_errors(void) {
    /* The spectral partition needs a warm-up shorter than training. */
    EXPECT_ERROR(
        "[train]\nepochs = 2\n[cluster]\nlambda = 1\npartition = spectral\nwarmup_epochs = 2\n", 6,
        "must be less than epochs");
    EXPECT_ERROR("[cluster]\nlambda = 1\npartition = spectral\n", 3,
                 "warmup_epochs = 1 must be less");
    EXPECT_ERROR("[cluster]\nwarmup_epochs = 1\n", 2, "only to partition = spectral");
    /* Data. */
    /* Gradient similarity needs square layers (the mlp's fc3 is 10 x 128). */
    EXPECT_ERROR("[model]\narch = mlp\nhidden = 128, 128\n[cluster]\ngradsim_layers = fc2, fc3\n"
                 "bsgc_layers = fc2\n",
                 5, "fc3 is 10 x 128, not square");
    EXPECT_ERROR("[data]\ndataset = cifar10\n", 2, "needs dir");
    EXPECT_ERROR("[data]\ndataset = mnist\n", 2, "needs dir");
    /* The dataset's own folder key may stand for dir, but not beside it. */
    EXPECT_ERROR("[data]\ndataset = cifar10\ndir = /a\ncifar10_dir = /b\n", 4, "not both");
    EXPECT_ERROR("[data]\ndataset = cifar10\ndir = /x\nmean = 0.5\n", 4,
                 "only to normalize = meanstd");
    EXPECT_ERROR("[data]\ndataset = cifar10\ndir = /x\nnormalize = meanstd\n", 4, "needs mean");
    EXPECT_ERROR("[data]\nmean = 0.1, 0.2, 0.3\n", 2, "3 values but the input has 1 channel");
    EXPECT_ERROR("[data]\nnormalize = none\nstd = 1\n", 3, "only to normalize = meanstd");
    /* Model. */
    EXPECT_ERROR("[model]\narch = mlp\nconv = 16\n", 3, "only for arch = cnn");
    EXPECT_ERROR("[model]\nkernel = 5\narch = mlp\n", 2, "kernel is only for arch = cnn");
    EXPECT_ERROR("[model]\nconv = none\n", 2, "at least one conv block");
    /* Found by fuzz_grid (tests/fuzz/regress/grid/padding-not-below-kernel). */
    EXPECT_ERROR("[model]\nkernel = 1\n", 2, "padding 1 must be smaller than the kernel (1)");
    EXPECT_ERROR("[model]\npadding = 3\nkernel = 3\n", 2, "padding 3 must be smaller");
    EXPECT_ERROR("[model]\nconv = 8, 8, 8, 8\nkernel = 5\npadding = 0\n", 2,
                 "conv block 3 leaves no pixel");
    EXPECT_ERROR("[model]\nhidden = 65536, 65536\n", 2, "parameters");
    /* Optimiser-specific keys. */
    EXPECT_ERROR("[train]\nmomentum = 0.9\n", 2, "only to optimizer = sgd");
    EXPECT_ERROR("[train]\noptimizer = sgd\nbeta1 = 0.8\n", 3, "only to optimizer = adam");
    /* Layer names. */
    EXPECT_ERROR("[cluster]\nlayers = fc5\n", 2, "fc5 does not exist: the model has 4 fc layers");
    EXPECT_ERROR("[model]\narch = mlp\n[cluster]\nbsgc_layers = fc2\n[prune]\nlayers = fc1, fc4\n",
                 6, "fc4 does not exist: the model has 3 fc layers");
    EXPECT_ERROR("[cluster]\ngradsim_layers = conv1\n", 2, "not an fc layer name");
    EXPECT_ERROR("[cluster]\nbsgc_layers = fc2, fc2\n", 2, "given twice");
    EXPECT_ERROR("[prune]\nlayers = none\n", 2, "at least one fc layer");
    /* lambda > 0 needs a regularised layer. */
    EXPECT_ERROR("[cluster]\nlambda = 0, 1\nlayers = none\n", 3, "regularised layer");
    EXPECT_ERROR("[model]\narch = mlp\nhidden = none\n[cluster]\ncurve_k = none\nlambda = 2\n", 6,
                 "regularised layer");
    /* At most a million models: 256 seeds x 256 lambdas x 16 ks. */
    EXPECT_ERROR("[train]\nseed = 0..255\n[cluster]\nlambda = 0..255\nk = 2..17\n", 2,
                 "1048576 models");
}

static void test_layer_size_checks(void) {
    ms_grid_t g;
    /* fc2 of the CNN is 64 x 64: k = 64 fits, 65 does not, for any k of the axis. */
    if (parse_ok(&g, "[cluster]\nk = 64\n")) ms_grid_free(&g);
    EXPECT_ERROR("[cluster]\nk = 65\n", 2, "k = 65 is larger than regularised layer fc2 (64 x 64)");
    EXPECT_ERROR("[cluster]\nk = 4, 65\n", 2, "k = 65");
    /* fc4 is 10 x 64: at most 10. */
    if (parse_ok(&g, "[cluster]\nlayers = fc4\nk = 10\n")) ms_grid_free(&g);
    EXPECT_ERROR("[cluster]\nlayers = fc2, fc4\nk = 11\n", 3, "fc4 (10 x 64)");
    /* A narrow hidden layer limits k through its inputs too (fc3 is 64 x 8). */
    EXPECT_ERROR("[model]\nhidden = 64, 8, 64\n[cluster]\ncurve_k = 2, 4\nlayers = fc3\nk = 9\n", 6,
                 "fc3 (64 x 8): at most 8");
    /* ... and so does the clusterability curve on the bsgc layers (fc2 is 8 x 64). */
    EXPECT_ERROR("[model]\nhidden = 64, 8, 64\n[cluster]\ncurve_k = 2, 10\n", 4,
                 "curve_k value 10 is larger than every layer of the default bsgc_layers (fc2 "
                 "(8 x 64), fc3 (64 x 8))");
    EXPECT_ERROR("[model]\nhidden = 64, 8, 64\n[cluster]\ncurve_k = 2, 10\nbsgc_layers = fc2\n", 4,
                 "curve_k value 10 is larger than bsgc layer fc2 (8 x 64)");
    /* The mlp's fc2 is 128 x 128. */
    if (parse_ok(&g, "[model]\narch = mlp\n[cluster]\nk = 128\nbsgc_layers = fc2\n"))
        ms_grid_free(&g);
    EXPECT_ERROR("[model]\narch = mlp\n[cluster]\nk = 129\nbsgc_layers = fc2\n", 4, "at most 128");
    /* curve_k against the bsgc layers, both written: the mlp's fc3 has 10
     * rows, so a curve up to 12 fails there (the defaults: test_fitted_defaults). */
    EXPECT_ERROR("[model]\narch = mlp\n[cluster]\ncurve_k = 2..12:2\nbsgc_layers = fc2, fc3\n", 4,
                 "curve_k value 12 is larger than bsgc layer fc3");
    EXPECT_ERROR("[cluster]\ncurve_k = 2, 66\n", 2, "curve_k value 66");
    if (parse_ok(&g, "[model]\narch = mlp\n[cluster]\ncurve_k = 2..10:2\n")) ms_grid_free(&g);
}

/* ---- files ------------------------------------------------------------------ */

static void write_file(const char *path, const char *text, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f != NULL);
    if (!f) return;
    CHECK(fwrite(text, 1, n, f) == n);
    fclose(f);
}

static void test_load(void) {
    char path[512];
    ms_grid_t g;
    snprintf(path, sizeof path, "%s/my grid.ini", ms_test_tmpdir());
    const char *text = "[cluster]\nlambda = 0, 5\n";
    write_file(path, text, strlen(text));
    CHECK_OK(ms_grid_load(&g, path));
    CHECK(strcmp(g.path, path) == 0);
    CHECK(strcmp(g.name, "my_grid") == 0); /* the space is not allowed in names */
    CHECK(strcmp(g.output, "my_grid.h5") == 0);
    CHECK(g.text && strcmp(g.text, text) == 0);
    CHECK_EQ_INT(g.n_models, 2);
    ms_grid_free(&g);

    /* Errors carry the path and the line. */
    text = "[cluster]\n\nk = 99999\n";
    write_file(path, text, strlen(text));
    CHECK_EQ_INT(ms_grid_load(&g, path), MS_ECONFIG);
    char want[600];
    snprintf(want, sizeof want, "%s:3: ", path);
    CHECK_MSG(strncmp(ms_err_msg(), want, strlen(want)) == 0, "message: %s", ms_err_msg());
    CHECK(grid_is_empty(&g));

    /* A NUL byte is refused with its line. */
    write_file(path, "[sweep]\nname = a\0b\n", 19);
    CHECK_EQ_INT(ms_grid_load(&g, path), MS_ECONFIG);
    snprintf(want, sizeof want, "%s:2: NUL byte", path);
    CHECK_MSG(strncmp(ms_err_msg(), want, strlen(want)) == 0, "message: %s", ms_err_msg());
    CHECK(grid_is_empty(&g));

    snprintf(path, sizeof path, "%s/does-not-exist.ini", ms_test_tmpdir());
    CHECK_EQ_INT(ms_grid_load(&g, path), MS_EIO);
    CHECK(strstr(ms_err_msg(), "does-not-exist.ini") != NULL);
    CHECK(grid_is_empty(&g));

    /* Freeing twice, or a zeroed grid, is safe. */
    ms_grid_free(&g);
    ms_grid_free(&g);
    ms_grid_free(NULL);
}

/* The sweep files shipped in sweeps/: all parse, every key line follows a
 * comment line, and the quickstart holds the settings it promises. */
static void test_sweep_files(void) {
    const char *src = getenv("MS_SOURCE_DIR");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/sweeps", src ? src : "../..");
    DIR *d = opendir(dir);
    CHECK_MSG(d != NULL, "cannot open %s", dir);
    if (!d) return;
    int n = 0, have_quick = 0, have_paper = 0, have_mlp = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 5 || strcmp(e->d_name + len - 4, ".ini") != 0) continue;
        char path[2048];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ms_grid_t g;
        int rc = ms_grid_load(&g, path);
        CHECK_MSG(rc == 0, "%s: %s", e->d_name, ms_err_msg());
        if (rc) continue;
        n++;
        /* Every key line is directly preceded by a comment line. */
        int prev_comment = 0, line = 0;
        for (const char *p = g.text; *p;) {
            const char *nl = strchr(p, '\n');
            size_t l = nl ? (size_t)(nl - p) : strlen(p);
            line++;
            int comment = l > 0 && (p[0] == ';' || p[0] == '#');
            int key = l > 0 && !comment && p[0] != '[' && memchr(p, '=', l);
            if (key)
                CHECK_MSG(prev_comment, "%s:%d: key without a comment above it", e->d_name, line);
            prev_comment = comment;
            p = nl ? nl + 1 : p + l;
        }
        if (strcmp(e->d_name, "quickstart.ini") == 0) {
            have_quick = 1;
            const ms_settings_t *s = &g.base;
            CHECK(strcmp(s->data.dir, "/usr/share/datasets/fashion-mnist") == 0);
            CHECK_EQ_INT(s->data.kind, MS_DATA_FASHION);
            CHECK_EQ_INT(s->data.layout, MS_LAYOUT_3X32X32);
            CHECK_EQ_INT(s->data.train_limit, 20000);
            CHECK_EQ_INT(s->data.test_limit, 0);
            CHECK_EQ_INT(s->arch_is_cnn, 1);
            CHECK_EQ_INT(s->arch.in_c, 3);
            CHECK_EQ_INT(s->arch.n_fc, 4);
            CHECK_EQ_INT(s->arch.fc_out[0], 64);
            CHECK_EQ_INT(s->arch.fc_bias, 0);
            CHECK_EQ_INT(s->optimizer, MS_OPT_ADAM);
            CHECK(s->lr == 1e-3f);
            CHECK_EQ_INT(s->batch, 64);
            CHECK_EQ_INT(s->epochs, 1);
            CHECK_EQ_INT(g.n_values[MS_AXIS_LAMBDA], 2);
            CHECK(g.values[MS_AXIS_LAMBDA][0] == 0 && g.values[MS_AXIS_LAMBDA][1] == 20);
            CHECK_EQ_INT(s->k, 4);
            CHECK_EQ_INT(s->reg_layers, 1u << 1);
            CHECK_EQ_INT(s->partition, MS_PART_BLOCKS);
            CHECK_EQ_INT(g.n_labels, 2);
            CHECK(g.labels[0] == 0 && g.labels[1] == 1);
            CHECK_EQ_INT(s->prune_samples, 300);
            CHECK_EQ_INT(g.n_models, 2);
        } else if (strcmp(e->d_name, "paper_cifar10.ini") == 0) {
            have_paper = 1;
            CHECK_EQ_INT(g.base.data.kind, MS_DATA_CIFAR10);
            CHECK_EQ_INT(g.base.epochs, 10);
            CHECK_EQ_INT(g.n_labels, 10);
            CHECK_EQ_INT(g.n_models, 2);
        } else if (strcmp(e->d_name, "mnist_mlp.ini") == 0) {
            have_mlp = 1;
            CHECK_EQ_INT(g.base.data.kind, MS_DATA_MNIST);
            CHECK_EQ_INT(g.base.arch_is_cnn, 0);
            CHECK_EQ_INT(g.base.arch.n_fc, 3);
            CHECK_EQ_INT(g.base.optimizer, MS_OPT_SGD);
            CHECK_EQ_INT(g.base.partition, MS_PART_SPECTRAL);
            CHECK(g.base.lambda == 3.0f);
            CHECK_EQ_INT(g.base.k, 2);
        }
        ms_grid_free(&g);
    }
    closedir(d);
    CHECK(n >= 3);
    CHECK(have_quick && have_paper && have_mlp);
}

/* ---- documentation, plan, helpers ------------------------------------------- */

static void test_print_keys_and_plan(void) {
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    if (!f) return;
    ms_grid_print_keys(f);
    fclose(f);
    for (int i = 0; i < N_ALL_KEYS; i++) {
        /* Every key is listed under its section's header. */
        char sec[32], key[64];
        const char *dot = strchr(all_keys[i], '.');
        snprintf(sec, sizeof sec, "\n[%.*s]\n", (int)(dot - all_keys[i]), all_keys[i]);
        snprintf(key, sizeof key, "\n  %s ", dot + 1);
        const char *s = strstr(buf, sec);
        CHECK_MSG(s && strstr(s, key), "--keys lacks %s", all_keys[i]);
    }
    CHECK(strstr(buf, "sweepable") != NULL);
    free(buf);

    ms_grid_t g;
    if (!parse_ok(
            &g,
            "[train]\nseed = 1, 2\n[cluster]\nk = 2..4\nlambda = 0, 5\n[prune]\nlabels = 0..2\n"))
        return;
    buf = NULL;
    f = open_memstream(&buf, &len);
    CHECK(f != NULL);
    if (!f) {
        ms_grid_free(&g);
        return;
    }
    ms_grid_print_plan(&g, f);
    fclose(f);
    CHECK(strstr(buf, "models: 12\n") != NULL);
    CHECK(strstr(buf, "labels: 0, 1, 2\n") != NULL);
    CHECK(strstr(buf, "train 12, analyse 12, prune 36") != NULL);
    CHECK(strstr(buf, "t.h5") != NULL);
    /* 3136 = 16 x 14 x 14 inputs of fc1 for a 1x28x28 image; the fc
     * weights are 3136*64 + 64*64*2 + 64*10 = 209536; the conv adds 16*9+16. */
    CHECK(strstr(buf, "fc 3136-64-64-64-10") != NULL);
    CHECK(strstr(buf, "209696 parameters, 209536 of them fc weights") != NULL);
    /* One row per model: the last is seed 2, lambda 5, k 4. */
    CHECK(strstr(buf, "       11            2            5            4\n") != NULL);
    free(buf);
    ms_grid_free(&g);
}

static void test_fc_layer_index(void) {
    CHECK_EQ_INT(ms_fc_layer_index("fc1"), 0);
    CHECK_EQ_INT(ms_fc_layer_index("fc2"), 1);
    CHECK_EQ_INT(ms_fc_layer_index("fc8"), MS_MAX_FC - 1);
    CHECK_EQ_INT(ms_fc_layer_index("fc9"), -1);
    CHECK_EQ_INT(ms_fc_layer_index("fc0"), -1);
    CHECK_EQ_INT(ms_fc_layer_index("fc02"), -1);
    CHECK_EQ_INT(ms_fc_layer_index("fc"), -1);
    CHECK_EQ_INT(ms_fc_layer_index("fc2x"), -1);
    CHECK_EQ_INT(ms_fc_layer_index("conv1"), -1);
    CHECK_EQ_INT(ms_fc_layer_index(""), -1);
    CHECK_EQ_INT(ms_fc_layer_index(NULL), -1);
}

/* Mutated copies of a valid grid must each parse or fail cleanly, leaving
 * the grid empty on failure (run under AddressSanitizer for leaks). */
static void test_mutations(void) {
    const char *src = "[sweep]\nname = q\n[data]\nlayout = 3x32x32\ntrain_limit = 100\n[model]\n"
                      "hidden = 64, 64, 64\n[train]\nseed = 0..3\nlr = 1e-3\n[cluster]\n"
                      "lambda = 0, 20\nk = 4\nlayers = fc2\n[prune]\nlabels = 0, 1\n";
    static const char alphabet[] = "[]=,.:;#\n 0123456789abcdefklmnorsx-+";
    size_t n = strlen(src);
    char buf[512];
    uint64_t x = 88172645463325252ull;
    int ok = 0, bad = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(buf, src, n + 1);
        int edits = 1 + it % 4;
        for (int e = 0; e < edits; e++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17; /* xorshift64 */
            size_t pos = (size_t)(x % n);
            buf[pos] = alphabet[(x >> 32) % (sizeof alphabet - 1)];
        }
        ms_grid_t g;
        int rc = ms_grid_parse(&g, "m.ini", buf);
        if (rc == 0) {
            ok++;
            CHECK(g.resolved && g.n_models >= 1);
            ms_grid_free(&g);
        } else {
            bad++;
            CHECK_EQ_INT(rc, MS_ECONFIG);
            CHECK(strncmp(ms_err_msg(), "m.ini:", 6) == 0);
            CHECK(grid_is_empty(&g));
        }
    }
    CHECK(ok > 0 && bad > 0);
}

/* The [measures] section: defaults (all off), computed defaults, the
 * settings they fill, and every cross-key error with its line. */
static void test_measures_keys(void) {
    ms_grid_t g;
    if (parse_ok(&g, ONE_DEFAULT_KEY)) {
        const ms_meas_cfg_t *me = &g.base.meas;
        CHECK_EQ_INT(me->untrained, 0);
        CHECK_EQ_INT(me->info_layers, 0);
        CHECK_EQ_INT(me->ablate_layer, -1);
        CHECK_EQ_INT(me->assoc_layers, 0);
        CHECK_EQ_INT(me->hebbian, 0);
        CHECK_EQ_INT(me->sparse_every, 0);
        CHECK_EQ_INT(me->directions, 0);
        CHECK_EQ_INT(me->info_bins, 10);
        CHECK_EQ_INT(me->unitset_size, 10);
        CHECK_EQ_INT(me->unitset_draws, 10);
        /* the seed's k1 = max(floor(0.1 * 9), 1), k2 = max(floor(0.15 * 9), 1) */
        CHECK_EQ_INT(me->sparse_k1, 1);
        CHECK_EQ_INT(me->sparse_k2, 1);
        ms_grid_free(&g);
    }
    if (parse_ok(&g, "[model]\narch = mlp\nhidden = 64, 64\ndropout = 0, 0.5\n[cluster]\n"
                     "curve_k = none\n[measures]\n"
                     "untrained = yes\nsamples = 500\ninfo_layers = fc1, fc2, fc3\ninfo_bins = 8\n"
                     "unitset_size = 5\nunitset_draws = 3\nablate_layer = fc2\n"
                     "assoc_layers = fc1, fc2\nassoc_store = true\nmc_steps = 99\n"
                     "mc_entropy = 0.25\nnull_shuffles = 50\n")) {
        const ms_meas_cfg_t *me = &g.base.meas;
        CHECK_EQ_INT(me->untrained, 1);
        CHECK_EQ_INT(me->samples, 500);
        CHECK_EQ_INT(me->info_layers, 7u);
        CHECK_EQ_INT(me->info_bins, 8);
        CHECK_EQ_INT(me->unitset_size, 5);
        CHECK_EQ_INT(me->unitset_draws, 3);
        CHECK_EQ_INT(me->ablate_layer, 1);
        CHECK_EQ_INT(me->directions, 64); /* the width of fc2 */
        CHECK_EQ_INT(me->assoc_layers, 3u);
        CHECK_EQ_INT(me->assoc_store, 1);
        CHECK_EQ_INT(me->mc_steps, 99);
        CHECK(me->mc_entropy == 0.25f);
        CHECK_EQ_INT(me->null_shuffles, 50);
        CHECK_EQ_INT(g.n_models, 2);
        char buf[64];
        CHECK(strcmp(resolved_value(&g, "measures.directions", buf, sizeof buf), "64") == 0);
        CHECK(strcmp(resolved_value(&g, "measures.ablate_layer", buf, sizeof buf), "fc2") == 0);
        ms_grid_free(&g);
    }
    if (parse_ok(&g, "[model]\nkernel = 5\npadding = 2\n[measures]\nhebbian = true\n"
                     "sparse_every = 100\n")) {
        CHECK_EQ_INT(g.base.meas.hebbian, 1);
        CHECK_EQ_INT(g.base.meas.sparse_every, 100);
        CHECK_EQ_INT(g.base.meas.sparse_k1, 2); /* floor(2.5) */
        CHECK_EQ_INT(g.base.meas.sparse_k2, 3); /* floor(3.75) */
        ms_grid_free(&g);
    }
    if (parse_ok(&g, "[measures]\nsparse_every = 10\nsparse_k1 = 2\nsparse_k2 = 9\n")) {
        CHECK_EQ_INT(g.base.meas.sparse_k1, 2);
        CHECK_EQ_INT(g.base.meas.sparse_k2, 9);
        ms_grid_free(&g);
    }
    EXPECT_ERROR("[measures]\ninfo_layers = fc2\n", 2, "at least two fc layers");
    EXPECT_ERROR("[model]\narch = mlp\nhidden = 8, 64\n[cluster]\ncurve_k = none\n[measures]\n"
                 "info_layers = all\nunitset_size = 8\n",
                 8, "must be less than the width of fc1 (8)");
    EXPECT_ERROR("[measures]\ninfo_layers = fc1, fc5\n", 2, "fc5 does not exist");
    EXPECT_ERROR("[measures]\nablate_layer = fc1, fc2\n", 2, "takes one fc layer");
    EXPECT_ERROR("[measures]\ndirections = 5\n", 2, "only with an ablate_layer");
    EXPECT_ERROR("[measures]\nassoc_layers = fc1\n", 2, "needs arch = mlp");
    EXPECT_ERROR("[model]\narch = mlp\n[cluster]\ncurve_k = none\n[measures]\n"
                 "assoc_layers = fc2, fc3\n",
                 6,
                 "fc3 gives the logits");
    EXPECT_ERROR("[model]\narch = mlp\n[cluster]\ncurve_k = none\n[measures]\nhebbian = true\n", 6,
                 "only for arch = cnn");
    EXPECT_ERROR("[model]\narch = mlp\n[cluster]\ncurve_k = none\n[measures]\nsparse_every = 5\n",
                 6, "only for arch = cnn");
    EXPECT_ERROR("[measures]\nsparse_k1 = 2\n", 2, "only with sparse_every > 0");
    EXPECT_ERROR("[measures]\nsparse_every = 5\nsparse_k1 = 3\nsparse_k2 = 2\n", 4,
                 "less than sparse_k1");
    EXPECT_ERROR("[measures]\nsparse_every = 5\nsparse_k2 = 10\n", 3, "3x3 kernel slice");
    EXPECT_ERROR("[measures]\nmc_entropy = 0\n", 2, "out of range");
    EXPECT_ERROR("[measures]\ninfo_bins = 1\n", 2, "out of range");
    EXPECT_ERROR("[measurez]\n", 1, "did you mean [measures]?");
}

/* [cluster] ablation: a set of kinds (default zero), refused when unknown
 * or repeated; ablation_images within its bounds. */
static void test_cluster_ablation_keys(void) {
    ms_grid_t g;
    ms_settings_t s;
    if (parse_ok(&g, "[cluster]\nk = 2\n")) {
        ms_grid_model_settings(&g, 0, &s);
        CHECK_EQ_INT(s.cluster_kinds, 1u << MS_ABL_ZERO);
        CHECK_EQ_INT(s.cluster_abl_images, 1000);
        ms_grid_free(&g);
    }
    if (parse_ok(&g, "[cluster]\nablation = resample, mean\nablation_images = 0\n")) {
        ms_grid_model_settings(&g, 0, &s);
        CHECK_EQ_INT(s.cluster_kinds, (1u << MS_ABL_MEAN) | (1u << MS_ABL_RESAMPLE));
        CHECK_EQ_INT(s.cluster_abl_images, 0);
        ms_grid_free(&g);
    }
    EXPECT_ERROR("[cluster]\nk = 2\nablation = zero, median\n", 3, "unknown value 'median'");
    EXPECT_ERROR("[cluster]\nablation = mean, mean\n", 2, "listed twice");
    EXPECT_ERROR("[cluster]\nablation_images = -1\n", 2, "ablation_images");
}

int main(void) {
    RUN_TEST(test_defaults_of_an_empty_file);
    RUN_TEST(test_defaults_that_depend_on_other_keys);
    RUN_TEST(test_list_and_range_syntax);
    RUN_TEST(test_axis_order_and_decoding);
    RUN_TEST(test_resolved_and_hash);
    RUN_TEST(test_cluster_ablation_keys);
    RUN_TEST(test_syntax_errors);
    RUN_TEST(test_value_errors);
    RUN_TEST(test_label_errors);
    RUN_TEST(test_combination_errors);
    RUN_TEST(test_layer_size_checks);
    RUN_TEST(test_load);
    RUN_TEST(test_sweep_files);
    RUN_TEST(test_print_keys_and_plan);
    RUN_TEST(test_fc_layer_index);
    RUN_TEST(test_mutations);
    RUN_TEST(test_measures_keys);
    return ms_test_summary();
}
