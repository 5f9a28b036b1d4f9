/* The CUDA backend seen from C: choosing and binding a GPU, device memory,
 * the GPU network and trainer, evaluation, pruning, and teams of GPU ranks.
 *
 * Every function exists in every build. Without CUDA (MODSWEEP_CUDA=OFF or
 * no nvcc at build time) ms_gpu_count() is 0 and the others return
 * MS_ENOGPU, so the CPU build and its callers need no #if. A process uses one
 * GPU, bound once with ms_gpu_bind; all GPU work of the process then runs in
 * order on one CUDA stream of that GPU (a host round trip happens only where
 * a function says it returns a host value).
 *
 * The kernels themselves, with the CPU reference's signatures, are in
 * kernels_gpu.h. Dimension letters: B batch, N images, D floats per image. */
#ifndef MODSWEEP_GPU_H
#define MODSWEEP_GPU_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "modsweep/config.h"
#include "modsweep/data.h"
#include "modsweep/nn.h"
#include "modsweep/prune.h"
#include "modsweep/train.h"

/* ---- devices ------------------------------------------------------------------------ */

/* 1 when this binary was built with the CUDA backend. */
int ms_gpu_built(void);

/* Usable GPUs of this process (0 without a CUDA build, without a driver or
 * without a device; never aborts). why (may be NULL, 256 bytes) receives the
 * reason when it is 0. */
int ms_gpu_count(char *why);

/* Binds GPU `device` (0 <= device < ms_gpu_count) to this process: its
 * stream, cuBLAS handle and scratch. Returns MS_ENOGPU with a message on
 * failure. Binding again to the same device is a no-op. */
int ms_gpu_init(int device);

/* The device a rank uses: its rank among the ranks of its node
 * (MPI_Comm_split_type shared) modulo the node's GPUs, so several ranks may
 * share one GPU. Collective over comm; then ms_gpu_init. *device receives it. */
int ms_gpu_bind(MPI_Comm comm, int *device);

/* Releases what ms_gpu_init made (a no-op when nothing is bound). */
void ms_gpu_release(void);

/* The bound device (-1: none) and its name and peak FP32 rate (GFLOP/s,
 * from the SM count and clock; 0 when unknown). */
int ms_gpu_device(void);
void ms_gpu_describe(char *name, size_t n, double *peak_gflops);

/* Resolves `device = cpu|cuda|auto` (ms_device_t) for the ranks of comm
 * (collective): *use_gpu = 0 for cpu; for cuda binds a GPU or fails with
 * MS_ENOGPU and a message saying why (no CUDA build, no driver, no device,
 * on which rank); for auto binds a GPU when every rank of comm has one, else
 * runs every rank on the CPU. All ranks get the same answer. */
int ms_device_resolve(int device, MPI_Comm comm, int *use_gpu);

/* ---- device memory (of the bound GPU) ------------------------------------------------- */

int ms_gpu_alloc(void **p, size_t bytes); /* zero-filled; MS_ENOMEM with a message */
void ms_gpu_free(void *p);                /* NULL is fine */
int ms_gpu_h2d(void *dst, const void *src, size_t bytes); /* src may be reused at return */
int ms_gpu_d2h(void *dst, const void *src, size_t bytes); /* waits for the GPU's work */
int ms_gpu_zero(void *dst, size_t bytes);
int ms_gpu_sync(void);

/* ---- data on the device ----------------------------------------------------------------- */

/* A split uploaded once: images, labels, and the image indices grouped by
 * class (ascending within a class) for per-class evaluation. */
typedef struct ms_gpu_split {
    int n;
    size_t D;          /* floats per image */
    float *x;          /* device (n, D) */
    uint8_t *y;        /* device (n) */
    int32_t *by_class; /* device (n) */
    /* host: class c is by_class[class_off[c] .. class_off[c + 1]) */
    int class_off[MS_MAX_CLASSES + 1];
} ms_gpu_split_t;

int ms_gpu_split_upload(ms_gpu_split_t *d, const ms_split_t *s);
void ms_gpu_split_free(ms_gpu_split_t *d);

/* ---- the GPU network (nn.h's ms_net_t on device buffers) ------------------------------- */

typedef struct ms_gpu_net {
    /* nn.h's network on device buffers, with the GPU's kernels: the layout,
     * the activations of the last forward pass, the gradients and scratch
     * (net.mem is the single device allocation behind every pointer). */
    ms_net_t net;
    /* Evaluation state (device). */
    float *bx;          /* (max_b, D) gathered images */
    uint8_t *by, *pred; /* (max_b) */
    double *loss;       /* [0] a batch's mean CE, [1] the running sum of losses */
    int32_t *counts;    /* [0..9] correct per class, [10..19] seen per class */
} ms_gpu_net_t;

int ms_gpu_net_init(ms_gpu_net_t *net, const ms_arch_t *arch, int max_b);
void ms_gpu_net_free(ms_gpu_net_t *net);

/* As ms_net_forward / ms_net_backward / ms_net_argmax, on device pointers
 * (the first two are nn.c's walk with the GPU's kernels). */
void ms_net_forward_gpu(ms_gpu_net_t *net, const float *params, const float *x, int B,
                        const ms_dropout_t *drop);
/* Mean CE of the last forward pass into *loss (device double; NaN when a
 * logit is not finite) and dL/dlogits into d_fc[n_fc-1]; y on the device. */
void ms_net_ce_loss_gpu(ms_gpu_net_t *net, const uint8_t *y, int B, double *loss);
void ms_net_backward_gpu(ms_gpu_net_t *net, const float *params, const float *x, int B,
                         float *grad);
void ms_net_argmax_gpu(const ms_gpu_net_t *net, int B, uint8_t *pred);

/* As ms_evaluate, for device parameters and a device split (host results;
 * one round trip at the end). */
double ms_evaluate_gpu(ms_gpu_net_t *net, const float *params, const ms_gpu_split_t *split,
                       int label_only, double classwise[MS_MAX_CLASSES], double *mean_loss);

/* ---- the GPU trainer (train.h's ms_trainer_t on the device) ----------------------------- */

typedef struct ms_gpu_trainer ms_gpu_trainer_t;

/* Hooks as ms_train_hooks_t, for the GPU trainer: after_backward sees the
 * gradient on the device (gt->grad) and receives device pointers to this
 * step's loss term and curve value (0.0 and NaN before the hook). */
typedef struct ms_gpu_train_hooks {
    void *ctx;
    int (*epoch_start)(void *ctx, ms_gpu_trainer_t *gt, int epoch);
    int (*after_backward)(void *ctx, ms_gpu_trainer_t *gt, long step, double *term_dev,
                          float *curve_dev);
    int (*after_step)(void *ctx, ms_gpu_trainer_t *gt, long step);
    int (*on_epoch)(void *ctx, ms_gpu_trainer_t *gt, const ms_epoch_report_t *rep);
} ms_gpu_train_hooks_t;

struct ms_gpu_trainer {
    const ms_settings_t *s;
    ms_gpu_net_t net;
    ms_layout_t *L;            /* = &net.net.L */
    float *params, *grad;      /* device (n_params) */
    float *m, *v;              /* device (n_params) optimiser moments / momentum buffer */
    float *params_host;        /* host (n_params): ms_gpu_trainer_download fills it */
    int32_t *order;            /* device (n_train) the epoch's order */
    int32_t *order_host;       /* host (n_train) */
    double *step_loss;         /* device (steps per epoch) each step's mean CE */
    double *step_term;         /* device (steps per epoch) the hooks' loss terms */
    float *step_curve;         /* device (steps per epoch) the hooks' curve values */
    int32_t *step_bad;         /* device (steps per epoch) first non-finite gradient tensor */
    double *ep_loss_d;         /* host (steps per epoch) */
    int32_t *ep_bad;           /* host (steps per epoch) */
    float *ep_loss, *ep_extra; /* host (steps per epoch) the report's curves */
    int n_train;
    int steps_per_epoch;
    long step;         /* global step counter (0-based, next step to run) */
    void *dmem, *hmem; /* the single device and host allocations */
};

/* Allocates everything for settings s and n_train training images and
 * initialises the parameters from s->seed (as ms_trainer_init). */
int ms_gpu_trainer_init(ms_gpu_trainer_t *gt, const ms_settings_t *s, int n_train);
void ms_gpu_trainer_free(ms_gpu_trainer_t *gt);

/* As ms_train (the same shuffles, dropout masks, optimiser, failure reasons),
 * on device splits. Losses and checks stay on the device during an epoch and
 * are read once at its end. */
int ms_train_gpu(ms_gpu_trainer_t *gt, const ms_gpu_split_t *train, const ms_gpu_split_t *test,
                 const ms_gpu_train_hooks_t *hooks, char *reason);

/* Copies the device parameters into gt->params_host. */
int ms_gpu_trainer_download(ms_gpu_trainer_t *gt);

/* ---- pruning ------------------------------------------------------------------------------ */

/* ms_prune on the bound GPU (prune_dev.h with the CUDA operations): the same
 * result as ms_prune, bit for bit. team: the ms_gpu_team_t of cfg->comm's
 * ranks, or NULL (window reductions through MPI). */
typedef struct ms_gpu_team ms_gpu_team_t;
int ms_prune_gpu(const ms_layout_t *L, const float *params, const float *x, int N,
                 const ms_prune_cfg_t *cfg, ms_gpu_team_t *team, ms_prune_result_t *res);

/* ---- teams of GPU ranks (NCCL) ------------------------------------------------------------- */

/* An NCCL communicator over the ranks of comm (collective: rank 0 makes the
 * unique id, MPI_Bcast shares it, ncclCommInitRank). *team is NULL, with a
 * return of 0, when NCCL was not built in or comm has one rank; callers then
 * use MPI. */
int ms_gpu_team_init(ms_gpu_team_t **team, MPI_Comm comm);
void ms_gpu_team_free(ms_gpu_team_t *team);

/* Broadcasts n floats of device memory from the team's rank root. */
int ms_gpu_team_bcast(ms_gpu_team_t *team, float *buf, size_t n, int root);

/* *dst (device int32) = minimum over the team of *src (device int32). */
int ms_gpu_team_min_i32(ms_gpu_team_t *team, const int32_t *src, int32_t *dst);

#endif
