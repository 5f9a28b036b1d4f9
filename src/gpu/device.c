/* Where a sweep computes (gpu.h): `device = cpu|cuda|auto` resolved the same
 * way on every rank, with a clear error when cuda is asked for and cannot be
 * had; and, in a build without the CUDA backend, the stand-ins of every GPU
 * function (no GPU, MS_ENOGPU), so callers need no #if. */
#include "modsweep/gpu.h"
#include "modsweep/error.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The lowest rank of comm where bad is set, and its message on every rank. */
static int first_bad(int bad, const char *msg, MPI_Comm comm, char *out, size_t n) {
    int rank, lowest;
    MPI_Comm_rank(comm, &rank);
    int mine = bad ? rank : INT_MAX;
    MPI_Allreduce(&mine, &lowest, 1, MPI_INT, MPI_MIN, comm);
    if (lowest == INT_MAX) return -1;
    char buf[512] = "";
    if (rank == lowest) snprintf(buf, sizeof buf, "%s", msg);
    MPI_Bcast(buf, sizeof buf, MPI_CHAR, lowest, comm);
    snprintf(out, n, "%s", buf);
    return lowest;
}

int ms_device_resolve(int device, MPI_Comm comm, int *use_gpu) {
    *use_gpu = 0;
    if (device == MS_DEV_CPU) return 0;
    if (!ms_gpu_built()) {
        if (device == MS_DEV_AUTO) return 0;
        return ms_err_set(MS_ENOGPU,
                          "device = cuda, but this modsweep was built without the CUDA backend "
                          "(build with nvcc on the PATH or at /usr/local/cuda, or "
                          "-DMODSWEEP_CUDA=ON); use device = cpu or auto");
    }
    char host[64] = "", why[256] = "", msg[512];
    gethostname(host, sizeof host - 1);
    const int n = ms_gpu_count(why);
    snprintf(msg, sizeof msg, "%s: %s", host, why);
    char first[512];
    int rank = first_bad(n < 1, msg, comm, first, sizeof first);
    if (rank >= 0) {
        if (device == MS_DEV_AUTO) return 0;
        return ms_err_set(MS_ENOGPU,
                          "device = cuda, but rank %d has no usable GPU (%s); use "
                          "device = cpu or auto",
                          rank, first);
    }
    const int rc = ms_gpu_bind(comm, NULL);
    rank = first_bad(rc != 0, rc ? ms_err_msg() : "", comm, first, sizeof first);
    if (rank >= 0) {
        ms_gpu_release();
        if (device == MS_DEV_AUTO) return 0;
        return ms_err_set(MS_ENOGPU, "device = cuda, but rank %d cannot use its GPU: %s", rank,
                          first);
    }
    *use_gpu = 1;
    return 0;
}

#if !MODSWEEP_HAVE_CUDA

/* ---- stand-ins of the CUDA backend ------------------------------------------------------- */

static int no_gpu(void) {
    return ms_err_set(MS_ENOGPU, "this modsweep was built without the CUDA backend");
}

int ms_gpu_built(void) {
    return 0;
}
int ms_gpu_count(char *why) {
    if (why) snprintf(why, 256, "modsweep was built without the CUDA backend");
    return 0;
}
int ms_gpu_init(int device) {
    return no_gpu();
}
int ms_gpu_bind(MPI_Comm comm, int *device) {
    return no_gpu();
}
void ms_gpu_release(void) {}
int ms_gpu_device(void) {
    return -1;
}
void ms_gpu_describe(char *name, size_t n, double *peak_gflops) {
    if (name && n) name[0] = 0;
    if (peak_gflops) *peak_gflops = 0;
}
int ms_gpu_alloc(void **p, size_t bytes) {
    *p = NULL;
    return no_gpu();
}
void ms_gpu_free(void *p) {}
int ms_gpu_h2d(void *dst, const void *src, size_t bytes) {
    return no_gpu();
}
int ms_gpu_d2h(void *dst, const void *src, size_t bytes) {
    return no_gpu();
}
int ms_gpu_zero(void *dst, size_t bytes) {
    return no_gpu();
}
int ms_gpu_sync(void) {
    return no_gpu();
}
int ms_gpu_split_upload(ms_gpu_split_t *d, const ms_split_t *s) {
    memset(d, 0, sizeof *d);
    return no_gpu();
}
void ms_gpu_split_free(ms_gpu_split_t *d) {
    memset(d, 0, sizeof *d);
}
int ms_gpu_net_init(ms_gpu_net_t *net, const ms_arch_t *arch, int max_b) {
    memset(net, 0, sizeof *net);
    return no_gpu();
}
void ms_gpu_net_free(ms_gpu_net_t *net) {
    memset(net, 0, sizeof *net);
}
void ms_net_forward_gpu(ms_gpu_net_t *net, const float *params, const float *x, int B,
                        const ms_dropout_t *drop) {}
void ms_net_ce_loss_gpu(ms_gpu_net_t *net, const uint8_t *y, int B, double *loss) {}
void ms_net_backward_gpu(ms_gpu_net_t *net, const float *params, const float *x, int B,
                         float *grad) {}
void ms_net_argmax_gpu(const ms_gpu_net_t *net, int B, uint8_t *pred) {}
double ms_evaluate_gpu(ms_gpu_net_t *net, const float *params, const ms_gpu_split_t *split,
                       int label_only, double classwise[MS_MAX_CLASSES], double *mean_loss) {
    return NAN;
}
int ms_gpu_trainer_init(ms_gpu_trainer_t *gt, const ms_settings_t *s, int n_train) {
    memset(gt, 0, sizeof *gt);
    return no_gpu();
}
void ms_gpu_trainer_free(ms_gpu_trainer_t *gt) {
    memset(gt, 0, sizeof *gt);
}
int ms_train_gpu(ms_gpu_trainer_t *gt, const ms_gpu_split_t *train, const ms_gpu_split_t *test,
                 const ms_gpu_train_hooks_t *hooks, char *reason) {
    if (reason) snprintf(reason, MS_REASON_MAX, "no CUDA backend");
    return no_gpu();
}
int ms_gpu_trainer_download(ms_gpu_trainer_t *gt) {
    return no_gpu();
}
int ms_prune_gpu(const ms_layout_t *L, const float *params, const float *x, int N,
                 const ms_prune_cfg_t *cfg, ms_gpu_team_t *team, ms_prune_result_t *res) {
    return no_gpu();
}
int ms_gpu_team_init(ms_gpu_team_t **team, MPI_Comm comm) {
    *team = NULL;
    return 0;
}
void ms_gpu_team_free(ms_gpu_team_t *team) {}
int ms_gpu_team_bcast(ms_gpu_team_t *team, float *buf, size_t n, int root) {
    return no_gpu();
}
int ms_gpu_team_min_i32(ms_gpu_team_t *team, const int32_t *src, int32_t *dst) {
    return no_gpu();
}

#endif
