/* Training does not depend on OpenBLAS's core type (docs/fc-kernels.md):
 * the paper CNN and an MLP with biases, trained a few steps on the same
 * random data under two OPENBLAS_CORETYPE values, end with bitwise the
 * same parameters. OpenBLAS reads the variable once, when it is loaded, so
 * each training runs in a child process (this program run with --train
 * FILE), which writes the parameters to FILE and prints the core type
 * OpenBLAS took; the test fails if OpenBLAS did not take the one asked for
 * (the comparison would show nothing), and is skipped only where OpenBLAS
 * cannot choose its kernels at run time (a build without DYNAMIC_ARCH).
 *
 * The pair of core types: Haswell (AVX2) against SkylakeX (AVX-512) on a
 * CPU with AVX-512, whose sgemm kernels sum in other orders (with the fc
 * layers in OpenBLAS the weights differed after the first steps); else
 * Haswell against Sandybridge (AVX) on a CPU with AVX2 (or with AVX-512
 * where this OpenBLAS lacks SkylakeX); else Prescott against Nehalem. The
 * test is skipped, saying why, where OpenBLAS takes no second core type. */
#include "check.h"
#include "paper_cnn.h"
#include "modsweep/config.h"
#include "modsweep/error.h"
#include "modsweep/isa.h"
#include "modsweep/kernels.h"
#include "modsweep/rng.h"
#include "modsweep/train.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Trains one model (the paper CNN, or an MLP with biases) for `steps`
 * steps of `batch` images on random data and appends its parameters to f. */
static int train_one(int mlp, int steps, int batch, FILE *f) {
    ms_settings_t s;
    memset(&s, 0, sizeof s);
    if (mlp) {
        ms_arch_t a = {
            .in_c = 1, .in_h = 28, .in_w = 28, .n_fc = 3, .fc_out = {70, 13, 10}, .fc_bias = 1};
        s.arch = a;
    } else {
        s.arch = ms_test_paper_cnn();
    }
    s.optimizer = MS_OPT_ADAM;
    s.lr = 1e-3f;
    s.beta1 = 0.9f;
    s.beta2 = 0.999f;
    s.eps = 1e-8f;
    s.epochs = 1;
    s.batch = batch;
    s.seed = 3;
    const int n = steps * batch - batch / 3; /* the last batch is short */
    const size_t D = (size_t)s.arch.in_c * s.arch.in_h * s.arch.in_w;
    ms_split_t tr = {.n = n, .c = s.arch.in_c, .h = s.arch.in_h, .w = s.arch.in_w, .n_classes = 10};
    tr.x = malloc(sizeof(float) * D * n);
    tr.y = malloc((size_t)n);
    ms_rng_t r;
    ms_rng_init(&r, 5, MS_RNG_TESTDATA, (uint32_t)mlp);
    for (size_t i = 0; i < D * n; i++)
        tr.x[i] = (float)ms_rng_normal(&r);
    for (int i = 0; i < n; i++)
        tr.y[i] = (uint8_t)ms_rng_below(&r, 10);
    ms_trainer_t t;
    char reason[MS_REASON_MAX];
    int rc = ms_trainer_init(&t, &s, n);
    if (rc == 0) rc = ms_train(&t, &tr, NULL, NULL, reason);
    if (rc == 0 && fwrite(t.params, sizeof(float), t.L->n_params, f) != t.L->n_params) rc = -1;
    if (rc != 0) fprintf(stderr, "training the %s: %s\n", mlp ? "MLP" : "CNN", ms_err_msg());
    ms_trainer_free(&t);
    free(tr.x);
    free(tr.y);
    return rc;
}

/* The child: both models into path, the core type OpenBLAS took to stdout. */
static int child(const char *path) {
    FILE *f = fopen(path, "wb");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        return 1;
    }
    ms_kernels_set_threads(2);
    int rc = train_one(0, 6, 64, f) || train_one(1, 5, 50, f);
    if (fclose(f) != 0) rc = 1;
    printf("%s\n", ms_blas_core());
    return rc != 0;
}

static long file_bytes(const char *path, char **data) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    const long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    *data = malloc(n > 0 ? (size_t)n : 1);
    const long got = (long)fread(*data, 1, (size_t)n, f);
    fclose(f);
    return got == n ? n : -1;
}

static int cpu_flag(const char *flag) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[8192];
    int has = 0;
    const size_t n = strlen(flag);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "flags", 5)) {
            for (const char *p = line; (p = strstr(p, flag)); p += n)
                if (p[-1] == ' ' && (p[n] == ' ' || p[n] == '\n')) has = 1;
            break;
        }
    if (f) fclose(f);
    return has;
}

static const char *self;

/* Runs the child under OPENBLAS_CORETYPE=core; its parameters into out.
 * Returns 1 if it ran on that core type, 0 if OpenBLAS took another one
 * (into took), -1 if it failed. */
static int run_child(const char *core, const char *out, char *took, size_t n) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "OPENBLAS_CORETYPE=%s '%s' --train '%s'", core, self, out);
    FILE *p = popen(cmd, "r");
    if (!p) return -1;
    took[0] = 0;
    if (!fgets(took, (int)n, p)) took[0] = 0;
    took[strcspn(took, "\n")] = 0;
    const int st = pclose(p);
    if (st != 0) return -1;
    return strcasecmp(took, core) == 0;
}

static int skipped;

static void test_core_types(void) {
    /* The first core type, then the candidates for the second, best first
     * (an older OpenBLAS may lack SkylakeX). */
    const char *a, *cand[2] = {NULL, NULL};
    if (cpu_flag("avx512f"))
        a = "Haswell", cand[0] = "SkylakeX", cand[1] = "Sandybridge";
    else if (cpu_flag("avx2"))
        a = "Haswell", cand[0] = "Sandybridge";
    else
        a = "Prescott", cand[0] = "Nehalem";
    const char *files[2] = {"fc_blas_a.bin", "fc_blas_b.bin"}, *b = NULL;
    char *data[2] = {NULL, NULL};
    long len[2] = {0, 0};
    char took[128];
    int rc = run_child(a, files[0], took, sizeof took);
    CHECK_MSG(rc >= 0, "training under OPENBLAS_CORETYPE=%s failed", a);
    if (rc < 0) return;
    if (rc == 0) {
        /* OpenBLAS ignored the variable: it cannot choose its kernels. */
        printf("SKIPPED: OpenBLAS took core type %s when asked for %s (no DYNAMIC_ARCH)\n", took,
               a);
        skipped = 1;
        return;
    }
    for (int i = 0; i < 2 && cand[i] && !b; i++) {
        rc = run_child(cand[i], files[1], took, sizeof took);
        CHECK_MSG(rc >= 0, "training under OPENBLAS_CORETYPE=%s failed", cand[i]);
        if (rc < 0) return;
        if (rc == 1)
            b = cand[i];
        else
            printf("  OpenBLAS took core type %s when asked for %s\n", took, cand[i]);
    }
    if (!b) {
        printf("SKIPPED: this OpenBLAS has no second core type for this CPU (asked for %s)\n",
               cand[0]);
        skipped = 1;
        return;
    }
    for (int i = 0; i < 2; i++) {
        len[i] = file_bytes(files[i], &data[i]);
        CHECK_MSG(len[i] > 0, "no parameters in %s", files[i]);
    }
    printf("  trained under OPENBLAS_CORETYPE=%s and %s: %ld bytes of parameters each\n", a, b,
           len[0]);
    CHECK_EQ_INT(len[0], len[1]);
    if (len[0] == len[1] && len[0] > 0) {
        long diff = 0;
        for (long k = 0; k + 4 <= len[0]; k += 4)
            diff += memcmp(data[0] + k, data[1] + k, 4) != 0;
        CHECK_MSG(diff == 0, "%ld of %ld parameters differ between core types %s and %s", diff,
                  len[0] / 4, a, b);
    }
    free(data[0]), free(data[1]);
    remove(files[0]), remove(files[1]);
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "--train")) return child(argv[2]);
    self = argv[0];
    RUN_TEST(test_core_types);
    const int rc = ms_test_summary();
    return rc == 0 && skipped ? 77 : rc;
}
