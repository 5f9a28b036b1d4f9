/* Tests of the GPU refusals (src/sweep/gpu_support.c, gpu_support.h): every
 * setting the GPU trainer does not compute is refused with device = cuda,
 * naming its key and the line it is on (or its section's header when the
 * default asks for it); device = auto runs such a grid on the CPU with a
 * note naming the key; device = cpu and grids the GPU computes in full pass
 * unchanged. Needs no GPU: it is the grid check.
 *
 * The expected lines are counted in the grid texts written here. */
#include <string.h>

#include "check.h"
#include "modsweep/config.h"
#include "modsweep/error.h"
#include "modsweep/gpu_support.h"

/* An MLP the GPU trains in full: nothing in [cluster] it lacks. */
#define PLAIN_MLP "[model]\narch = mlp\nhidden = 64, 64, 64\n"
#define NO_CLUSTER "[cluster]\nlayers = none\ngradsim_layers = none\n"

/* text with `device = dev` in front must fail at `line` naming `key`. */
static void refused_at(int src_line, const char *text, int line, const char *key) {
    char buf[1024], prefix[64];
    snprintf(buf, sizeof buf, "[sweep]\ndevice = cuda\n%s", text);
    ms_grid_t g;
    const int rc = ms_grid_parse(&g, "t.ini", buf);
    const char *msg = ms_err_msg();
    snprintf(prefix, sizeof prefix, "t.ini:%d: %s ", line, key);
    if (rc != MS_ECONFIG)
        ms_test_fail_at(__FILE__, src_line, "expected MS_ECONFIG, got %d for:\n%s", rc, buf);
    else if (strncmp(msg, prefix, strlen(prefix)) != 0 || !strstr(msg, "device = cuda"))
        ms_test_fail_at(__FILE__, src_line, "message '%s' does not start with '%s'", msg, prefix);
    if (rc == 0) ms_grid_free(&g);
    /* The same grid with device = auto runs on the CPU, with the note. */
    snprintf(buf, sizeof buf, "[sweep]\ndevice = auto\n%s", text);
    if (ms_grid_parse(&g, "t.ini", buf)) {
        ms_test_fail_at(__FILE__, src_line, "device = auto refused: %s", ms_err_msg());
        return;
    }
    char where[64];
    snprintf(where, sizeof where, "(t.ini:%d)", line);
    if (g.device != MS_DEV_AUTO || !strstr(g.device_note, key) || !strstr(g.device_note, where) ||
        !strstr(g.device_note, "device = auto: computing on the CPU"))
        ms_test_fail_at(__FILE__, src_line, "device = auto: device %d, note '%s'", g.device,
                        g.device_note);
    ms_grid_free(&g);
    /* And with device = cpu nothing is said. */
    snprintf(buf, sizeof buf, "[sweep]\ndevice = cpu\n%s", text);
    if (ms_grid_parse(&g, "t.ini", buf)) {
        ms_test_fail_at(__FILE__, src_line, "device = cpu refused: %s", ms_err_msg());
        return;
    }
    if (g.device != MS_DEV_CPU || g.device_note[0])
        ms_test_fail_at(__FILE__, src_line, "device = cpu: device %d, note '%s'", g.device,
                        g.device_note);
    ms_grid_free(&g);
}
#define REFUSED_AT(text, line, key) refused_at(__LINE__, text, line, key)

static void test_refusals(void) {
    /* lambda > 0 (the regulariser), on its own line; swept values count. */
    REFUSED_AT(PLAIN_MLP "[cluster]\nk = 2\nlambda = 0, 5\nlayers = fc2\ngradsim_layers = none\n",
               8, "lambda");
    /* layers with lambda = 0: the clusterability curve and part_train. */
    REFUSED_AT(PLAIN_MLP "[cluster]\ngradsim_layers = none\nk = 2\nlayers = fc1\n", 9, "layers");
    /* The default layers = fc2, not written: the [cluster] header. */
    REFUSED_AT(PLAIN_MLP "[train]\nepochs = 1\n[cluster]\ngradsim_layers = none\n", 8, "layers");
    /* No [cluster] section at all: line 1. */
    REFUSED_AT(PLAIN_MLP, 1, "layers");
    /* Gradient similarity, written and by default (fc2 and fc3 of 64 x 64 are square). */
    REFUSED_AT(PLAIN_MLP "[cluster]\nlayers = none\ngradsim_layers = fc2\n", 8, "gradsim_layers");
    REFUSED_AT(PLAIN_MLP "[cluster]\nlayers = none\n", 6, "gradsim_layers");
    /* Dynamic sparse training of a CNN's conv layers. */
    REFUSED_AT("[model]\narch = cnn\nconv = 4\nhidden = 64, 64, 64\n" NO_CLUSTER
               "[measures]\nsparse_every = 10\n",
               11, "sparse_every");
}

static void test_supported(void) {
    /* What the GPU computes in full: dropout, L1/L2, SGD and Adam, plain
     * training of MLPs and CNNs; sparse_every of an MLP does nothing on
     * either device. Accepted with device = cuda, device unchanged. */
    static const char *const ok[] = {
        "[sweep]\ndevice = cuda\n" PLAIN_MLP NO_CLUSTER,
        "[sweep]\ndevice = cuda\n[model]\narch = mlp\nhidden = 64, 64, 64\ndropout = 0.2\n"
        "[train]\noptimizer = sgd\nmomentum = 0.9\nl1 = 1e-5\nl2 = 1e-4\n" NO_CLUSTER,
        "[sweep]\ndevice = cuda\n[model]\narch = cnn\nconv = 4\nhidden = 64, 64, 64\n"
        "[train]\noptimizer = adam\n" NO_CLUSTER "lambda = 0\n",
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        ms_grid_t g;
        const int rc = ms_grid_parse(&g, "t.ini", ok[i]);
        CHECK_MSG(rc == 0, "grid %zu refused: %s", i, ms_err_msg());
        if (rc) continue;
        CHECK_EQ_INT(g.device, MS_DEV_CUDA);
        CHECK(g.device_note[0] == 0);
        ms_grid_free(&g);
    }
    /* The same answer per model (the GPU stage's own guard). */
    ms_settings_t s;
    memset(&s, 0, sizeof s);
    CHECK(ms_gpu_unsupported(&s, 0) == NULL);
    s.gradsim_layers = 2;
    CHECK(ms_gpu_unsupported(&s, 0) && !strcmp(ms_gpu_unsupported(&s, 0), "gradsim_layers"));
    s.reg_layers = 2;
    CHECK(ms_gpu_unsupported(&s, 0) && !strcmp(ms_gpu_unsupported(&s, 0), "layers"));
    CHECK(ms_gpu_unsupported(&s, 20) && !strcmp(ms_gpu_unsupported(&s, 20), "lambda"));
    memset(&s, 0, sizeof s);
    s.meas.sparse_every = 5;
    CHECK(ms_gpu_unsupported(&s, 0) == NULL); /* no conv layer: nothing to sparsify */
    s.arch.n_conv = 1;
    CHECK(ms_gpu_unsupported(&s, 0) && !strcmp(ms_gpu_unsupported(&s, 0), "sparse_every"));
}

int main(void) {
    RUN_TEST(test_refusals);
    RUN_TEST(test_supported);
    return ms_test_summary();
}
