/* Long checks of modular training on the real Fashion-MNIST (Debian's
 * dataset-fashion-mnist; skipped when absent), run by `tests/run.sh --long`:
 *
 * 1. The paper CNN on the 3x32x32 layout (pixels x/255, as seed 000's
 *    ToTensor), Adam 1e-3, batch 64, one epoch over all 60000 training
 *    images: with lambda = 20, k = 4 blocks on fc2 the clusterability of
 *    fc2 reaches >= 0.999 within the epoch and ends >= 0.999, and the test
 *    accuracy is within 2 points of the lambda = 0 model (docs/design.md
 *    section 3, issue 3).
 * 2. Peak memory does not grow with the number of training steps: the
 *    modsweep binary runs the same grid (train_limit = 3000, gradient
 *    similarity on fc2 and fc3, the regulariser on, analyses on) for 1 and
 *    for 10 epochs; the peak resident set of each run (ru_maxrss of the
 *    child) must differ by less than 4 MiB, while per-step storage of the
 *    10-epoch run's gradients would be 9 x 47 steps x 32 KiB = 13 MiB and
 *    the seed's list of every step's fc2 and fc3 gradient twice that. */
#include "check.h"
#include "paper_cnn.h"
#include "modsweep/cluster.h"
#include "modsweep/data.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"
#include "modsweep/log.h"
#include "modsweep/train.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define FASHION_DIR "/usr/share/datasets/fashion-mnist"

typedef struct curve_probe {
    double first_hit; /* first step with clusterability >= 0.999 (-1 if none) */
    double last;
} curve_probe_t;

static int probe_after_backward(void *vctx, ms_trainer_t *tr, long step, double *term,
                                float *curve) {
    curve_probe_t *p = vctx;
    (void)tr, (void)term;
    if (*curve >= 0.999f && p->first_hit < 0) p->first_hit = (double)step;
    p->last = *curve;
    return 0;
}

/* Trains the paper CNN for one epoch with lambda; returns the test accuracy. */
static double train_paper(const ms_split_t *train, const ms_split_t *test, float lambda,
                          double *cl_end, double *first_hit) {
    ms_settings_t s;
    memset(&s, 0, sizeof s);
    s.arch = ms_test_paper_cnn();
    s.seed = 0;
    s.optimizer = MS_OPT_ADAM;
    s.lr = 1e-3f, s.beta1 = 0.9f, s.beta2 = 0.999f, s.eps = 1e-8f;
    s.epochs = 1, s.batch = 64;
    s.lambda = lambda, s.k = 4, s.reg_layers = 1u << 1, s.partition = MS_PART_BLOCKS;
    s.gradsim_layers = (1u << 1) | (1u << 2), s.kmeans_restarts = 10;
    ms_trainer_t tr;
    CHECK_OK(ms_trainer_init(&tr, &s, train->n));
    curve_probe_t p = {.first_hit = -1, .last = NAN};
    ms_train_hooks_t chain = {.ctx = &p, .after_backward = probe_after_backward}, hooks;
    ms_cluster_train_t ct;
    CHECK_OK(ms_cluster_train_init(&ct, &s, tr.L, &chain, &hooks));
    char reason[MS_REASON_MAX];
    double t0 = ms_now();
    CHECK_OK(ms_train(&tr, train, test, &hooks, reason));
    double secs = ms_now() - t0;
    const size_t off = tr.L->t[tr.L->fc_weight[1]].off;
    *cl_end = ms_clusterability(tr.params + off, 64, 64, ct.units + ct.out_off[1],
                                ct.units + ct.in_off[1]);
    *first_hit = p.first_hit;
    double acc = ms_evaluate(&tr.net, tr.params, test, -1, NULL, NULL);
    printf("lambda %g: test accuracy %.4f, fc2 clusterability %.5f (>= 0.999 from step %.0f), "
           "%.1f s\n",
           lambda, acc, *cl_end, p.first_hit, secs);
    ms_cluster_train_free(&ct);
    ms_trainer_free(&tr);
    return acc;
}

static void test_paper_cnn_fashion(void) {
    ms_data_cfg_t cfg;
    ms_data_cfg_defaults(&cfg, MS_DATA_FASHION);
    cfg.layout = MS_LAYOUT_3X32X32;
    cfg.norm = MS_NORM_UNIT;
    ms_split_t train, test;
    CHECK_OK(ms_data_load(&cfg, &train, &test));
    CHECK_EQ_INT(train.n, 60000);
    double cl0, cl20, hit0, hit20;
    const double acc0 = train_paper(&train, &test, 0.0f, &cl0, &hit0);
    const double acc20 = train_paper(&train, &test, 20.0f, &cl20, &hit20);
    CHECK_MSG(cl20 >= 0.999, "clusterability %.5f after one epoch", cl20);
    CHECK_MSG(hit20 >= 0 && hit20 < 938, "clusterability never reached 0.999 within the epoch");
    CHECK_MSG(fabs(acc20 - acc0) <= 0.02, "accuracy %.4f (lambda 20) vs %.4f (lambda 0)", acc20,
              acc0);
    CHECK(cl0 < 0.5); /* the unregularised model is not modular */
    ms_split_free(&train);
    ms_split_free(&test);
}

/* Runs the modsweep binary on a grid with `epochs`; returns ru_maxrss (KiB). */
static long run_rss(const char *bin, int epochs) {
    char grid[1200], out[1200], text[2048];
    snprintf(grid, sizeof grid, "%s/mem%d.ini", ms_test_tmpdir(), epochs);
    snprintf(out, sizeof out, "%s/mem%d.h5", ms_test_tmpdir(), epochs);
    snprintf(text, sizeof text,
             "[sweep]\nname = mem\n[data]\ndataset = fashion-mnist\nlayout = 3x32x32\n"
             "train_limit = 3000\ntest_limit = 1000\n"
             "[model]\narch = cnn\nhidden = 64, 64, 64\n[train]\nepochs = %d\n"
             "[cluster]\nlambda = 20\nk = 4\nlayers = fc2\ngradsim_layers = fc2, fc3\n"
             "bsgc_layers = fc2, fc3\n[prune]\nlabels = 0\nsamples = 5\n",
             epochs);
    FILE *f = fopen(grid, "w");
    fputs(text, f);
    fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        execl(bin, bin, "-q", "--threads", "2", "-o", out, grid, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        CHECK_MSG(0, "modsweep with %d epochs failed (status %d)", epochs, status);
        return -1;
    }
    printf("%2d epochs (%d steps): peak resident set %ld KiB\n", epochs, epochs * 47, ru.ru_maxrss);
    return ru.ru_maxrss;
}

static void test_memory_independent_of_steps(void) {
    const char *bin = getenv("MS_BIN");
    if (!bin) {
        printf("MS_BIN not set: memory check not run\n");
        return;
    }
    long r1 = run_rss(bin, 1), r10 = run_rss(bin, 10);
    CHECK_MSG(r1 > 0 && r10 > 0 && labs(r10 - r1) < 4096,
              "peak RSS %ld KiB (1 epoch) vs %ld KiB (10)", r1, r10);
}

int main(void) {
    struct stat st;
    if (stat(FASHION_DIR "/train-images-idx3-ubyte.gz", &st) != 0)
        return ms_test_skip(FASHION_DIR " is absent (Debian package dataset-fashion-mnist)");
    RUN_TEST(test_memory_independent_of_steps);
    RUN_TEST(test_paper_cnn_fashion);
    return ms_test_summary();
}
