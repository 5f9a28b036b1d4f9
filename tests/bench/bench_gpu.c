/* GPU figures for the README (docs/design.md section 8), on the GPU bound to
 * this process:
 *   train   training throughput of the paper CNN (batch 64, Adam): images/s,
 *           the model's FLOP/s and their share of the GPU's FP32 peak;
 *   prune   one full label of the paper CNN (all four fc layers) pruned on
 *           the GPU, per layer, with the CPU's mask for comparison when
 *           --check is given (target: under 1 s on one H100);
 *   paper   the paper reproduction through the sweep driver: two models
 *           (lambda 0 and 20) x 10 epochs, the analyses, 20 prunings, with
 *           device = cuda (target: under 2 minutes on one H100).
 *
 *   bench_gpu [train|prune|paper|all] [--check] [--cifar DIR | --fashion DIR] [--label L]
 *
 * Data: CIFAR-10 binary batches from --cifar DIR, else Fashion-MNIST (from
 * --fashion DIR, else Debian's folder) in the 3x32x32 layout (the paper
 * CNN's input shape). Without a GPU it says
 * so and exits 77. Timings are wall times of one process. Exits 1 when
 * --check finds a mask that differs from the CPU's, or when the paper sweep
 * fails or leaves a task not done. */
#include "bench_common.h"
#include "modsweep/config.h"
#include "modsweep/data.h"
#include "modsweep/error.h"
#include "modsweep/gpu.h"
#include "modsweep/kernels.h"
#include "modsweep/log.h"
#include "modsweep/prune.h"
#include "modsweep/results.h"
#include "modsweep/sweep.h"
#include "modsweep/train.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *cifar_dir = NULL, *fashion_dir = NULL;

static void paper_settings(ms_settings_t *s, int epochs) {
    *s = bench_settings(0); /* the paper CNN, Adam 1e-3, batch 64, seed 0 */
    s->epochs = epochs;
}

static void load_data(ms_split_t *train, ms_split_t *test) {
    ms_data_cfg_t dc;
    if (cifar_dir) {
        ms_data_cfg_defaults(&dc, MS_DATA_CIFAR10);
        snprintf(dc.dir, sizeof dc.dir, "%s", cifar_dir);
    } else {
        ms_data_cfg_defaults(&dc, MS_DATA_FASHION);
        if (fashion_dir) snprintf(dc.dir, sizeof dc.dir, "%s", fashion_dir);
        dc.layout = MS_LAYOUT_3X32X32;
    }
    MS_CHECK(ms_data_load(&dc, train, test));
}

/* Forward FLOPs of one image (multiply-adds count two); training ~ 3x. */
static double forward_flops(const ms_layout_t *L) {
    const ms_arch_t *a = &L->arch;
    double f = 0;
    for (int l = 0; l < a->n_conv; l++)
        f += 2.0 * a->conv_c[l] * L->conv_h[l] * L->conv_w[l] * L->conv_in_c[l] * a->conv_k *
             a->conv_k;
    for (int l = 0; l < a->n_fc; l++)
        f += 2.0 * a->fc_out[l] * L->fc_in[l];
    return f;
}

static void bench_train(const ms_split_t *train, const ms_split_t *test) {
    ms_settings_t s;
    paper_settings(&s, 1);
    ms_gpu_split_t gtr, gte;
    MS_CHECK(ms_gpu_split_upload(&gtr, train));
    MS_CHECK(ms_gpu_split_upload(&gte, test));
    ms_gpu_trainer_t gt;
    MS_CHECK(ms_gpu_trainer_init(&gt, &s, train->n));
    char reason[MS_REASON_MAX], name[128];
    double peak, best = 0;
    ms_gpu_describe(name, sizeof name, &peak);
    for (int rep = 0; rep < 3; rep++) {
        const double t0 = ms_now();
        MS_CHECK(ms_train_gpu(&gt, &gtr, NULL, NULL, reason));
        const double ips = train->n / (ms_now() - t0);
        if (ips > best) best = ips;
    }
    const double fl = 3.0 * forward_flops(gt.L);
    printf("train: paper CNN, batch 64, Adam, %d images per epoch on %s: %.0f images/s (best of 3 "
           "epochs), %.2f MFLOP per image, %.1f GFLOP/s = %.2f%% of the FP32 peak %.1f TFLOP/s\n",
           train->n, name, best, fl / 1e6, best * fl / 1e9, 100.0 * best * fl / 1e9 / peak,
           peak / 1e3);
    const double t0 = ms_now();
    const double acc = ms_evaluate_gpu(&gt.net, gt.params, &gte, -1, NULL, NULL);
    printf("       evaluation of %d test images: %.3f s (accuracy %.4f after 3 epochs)\n", test->n,
           ms_now() - t0, acc);
    ms_gpu_trainer_free(&gt);
    ms_gpu_split_free(&gtr);
    ms_gpu_split_free(&gte);
}

/* Returns 1 when --check found a mask, loss or tie count that differs from the CPU's. */
static int bench_prune(const ms_split_t *train, const ms_split_t *test, int label, int check) {
    ms_settings_t s;
    paper_settings(&s, 2);
    ms_gpu_split_t gtr;
    MS_CHECK(ms_gpu_split_upload(&gtr, train));
    ms_gpu_trainer_t gt;
    MS_CHECK(ms_gpu_trainer_init(&gt, &s, train->n));
    char reason[MS_REASON_MAX];
    MS_CHECK(ms_train_gpu(&gt, &gtr, NULL, NULL, reason));
    MS_CHECK(ms_gpu_trainer_download(&gt));
    const ms_layout_t *L = gt.L;
    const size_t D = (size_t)test->c * test->h * test->w;
    int32_t *idx = malloc(sizeof(int32_t) * test->n);
    const int N = ms_split_class_indices(test, label, idx);
    float *x = malloc(sizeof(float) * D * N);
    for (int i = 0; i < N; i++)
        memcpy(x + D * i, test->x + D * idx[i], sizeof(float) * D);
    ms_prune_cfg_t cfg = {.label = label, .layers = 0xF, .comm = MPI_COMM_SELF};
    ms_prune_result_t g = {.mask = malloc(L->n_fc_weights)};
    MS_CHECK(ms_prune_gpu(L, gt.params_host, x, N, &cfg, NULL, &g));
    printf("prune: label %d, %d images, %zu fc weights on the GPU: %.3f s (%.0f weights/s), ECS "
           "%.4f, L0 %.6f -> %.6f, ties %ld, %ld states in %ld windows\n",
           label, N, L->n_fc_weights, g.seconds, L->n_fc_weights / g.seconds, g.ecs, g.loss0,
           g.loss_final, g.ties, g.evaluated, g.windows);
    for (int l = L->arch.n_fc - 1; l >= 0; l--)
        printf("       fc%d: %7ld / %7ld kept, %.3f s\n", l + 1, g.kept[l], g.total[l],
               g.layer_seconds[l]);
    int differ = 0;
    if (check) {
        ms_prune_result_t c = {.mask = malloc(L->n_fc_weights)};
        MS_CHECK(ms_prune(L, gt.params_host, x, N, &cfg, &c));
        const int same = memcmp(c.mask, g.mask, L->n_fc_weights) == 0 &&
                         c.loss_final == g.loss_final && c.ties == g.ties;
        printf("       CPU (%d threads): %.2f s, mask, loss and ties %s\n", ms_kernels_threads(),
               c.seconds, same ? "identical" : "DIFFER");
        differ = !same;
        free(c.mask);
    }
    free(g.mask);
    free(x);
    free(idx);
    ms_gpu_trainer_free(&gt);
    ms_gpu_split_free(&gtr);
    return differ;
}

/* Tasks of results file `path` that are not done (every one when it cannot
 * be read), after printing the counts. */
static long tasks_not_done(const char *path) {
    ms_results_t *r = NULL;
    if (ms_results_open(&r, path, MPI_COMM_SELF, 0)) {
        printf("       cannot read %s: %s\n", path, ms_err_msg());
        return -1;
    }
    const ms_dims_t *d = ms_results_dims(r);
    const long n = 2 * d->M + d->M * d->L;
    int8_t *st = malloc((size_t)n);
    long done = 0, failed = 0;
    if (!st || ms_results_all_tasks(r, st, NULL)) {
        printf("       cannot read the task statuses of %s: %s\n", path, ms_err_msg());
        done = -n;
    } else {
        for (long i = 0; i < n; i++) {
            done += st[i] == MS_ST_DONE;
            failed += st[i] == MS_ST_FAILED;
        }
        printf("       tasks: %ld done, %ld failed, %ld pending of %ld (modsweep status %s)\n",
               done, failed, n - done - failed, n, path);
    }
    free(st);
    ms_results_close(r);
    return n - done;
}

/* The paper grid, written to a temporary file and run by the sweep driver.
 * Returns 0 when the sweep exited 0 and every task is done. */
static int bench_paper(void) {
    char dir[] = "/tmp/bench_gpu_XXXXXX";
    if (!mkdtemp(dir)) ms_fatal("cannot make a temporary directory");
    char grid[256], out[256];
    snprintf(grid, sizeof grid, "%s/paper.ini", dir);
    snprintf(out, sizeof out, "%s/paper.h5", dir);
    FILE *f = fopen(grid, "w");
    if (!f) ms_fatal("cannot write %s", grid);
    fprintf(f, "[sweep]\nname = paper_gpu\ndevice = cuda\n");
    if (cifar_dir)
        fprintf(f, "[data]\ndataset = cifar10\ndir = %s\nnormalize = unit\n", cifar_dir);
    else
        fprintf(f, "[data]\ndataset = fashion-mnist\nlayout = 3x32x32\n%s%s\n",
                fashion_dir ? "dir = " : "", fashion_dir ? fashion_dir : "");
    fprintf(f, "[model]\narch = cnn\nconv = 16\nkernel = 3\npadding = 1\nhidden = 64, 64, 64\n"
               "bias = false\n[train]\nseed = 0\noptimizer = adam\nlr = 1e-3\nbatch = 64\n"
               "epochs = 10\n[cluster]\nlambda = 0, 20\nk = 4\nlayers = fc2\npartition = blocks\n"
               "[prune]\nlabels = all\n");
    fclose(f);
    ms_run_opts_t o = {.grid_path = grid, .output = out, .restart = 1, .retries = -1};
    const double t0 = ms_now();
    const int rc = ms_sweep_run(&o);
    const double secs = ms_now() - t0;
    printf("paper: two models x 10 epochs, analyses, 20 prunings on the GPU: %.1f s (exit %d; "
           "results in %s)\n",
           secs, rc, out);
    if (rc) return 1;
    const long left = tasks_not_done(out);
    if (left) printf("paper: FAILED: %ld task%s not done\n", left, left == 1 ? "" : "s");
    return left != 0;
}

int main(int argc, char **argv) {
    const char *what = "all";
    int check = 0, label = 8;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--check"))
            check = 1;
        else if (!strcmp(argv[i], "--cifar") && i + 1 < argc)
            cifar_dir = argv[++i];
        else if (!strcmp(argv[i], "--fashion") && i + 1 < argc)
            fashion_dir = argv[++i];
        else if (!strcmp(argv[i], "--label") && i + 1 < argc)
            label = atoi(argv[++i]);
        else
            what = argv[i];
    }
    char why[256] = "";
    if (ms_gpu_count(why) < 1) {
        printf("bench_gpu: no GPU here (%s); run it on the GPU machine\n", why);
        return 77;
    }
    MPI_Init(&argc, &argv);
    ms_log_init(0, 1);
    ms_log_set_mpi(1);
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    ms_kernels_set_threads(cores > 0 ? (int)cores : 1);
    int dev = -1;
    MS_CHECK(ms_gpu_bind(MPI_COMM_WORLD, &dev));
    const int all = !strcmp(what, "all");
    int failed = 0;
    if (all || !strcmp(what, "train") || !strcmp(what, "prune")) {
        ms_split_t train, test;
        load_data(&train, &test);
        if (all || !strcmp(what, "train")) bench_train(&train, &test);
        if (all || !strcmp(what, "prune")) failed |= bench_prune(&train, &test, label, check);
        ms_split_free(&train);
        ms_split_free(&test);
    }
    ms_gpu_release();
    if (all || !strcmp(what, "paper")) failed |= bench_paper();
    MPI_Finalize();
    return failed;
}
