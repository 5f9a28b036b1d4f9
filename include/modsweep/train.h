/* Training and evaluation of one model on the CPU.
 *
 * ms_trainer_t owns everything one model needs (network buffers, one
 * parameter buffer with gradient and optimiser moments in the same layout,
 * the batch buffers), allocated once in ms_trainer_init; nothing is
 * allocated inside the loop. Curves are handed to the caller epoch by epoch
 * (on_epoch), so memory does not grow with the number of steps.
 *
 * Stages that change training (the clusterability regulariser, gradient
 * similarity, dynamic sparse training) plug in through ms_train_hooks_t. */
#ifndef MODSWEEP_TRAIN_H
#define MODSWEEP_TRAIN_H

#include <stddef.h>
#include <stdint.h>

#include "modsweep/config.h"
#include "modsweep/data.h"
#include "modsweep/nn.h"

#define MS_REASON_MAX 256

/* What one epoch produced, handed to on_epoch. */
typedef struct ms_epoch_report {
    int epoch;              /* 0-based */
    long first_step;        /* global index of the epoch's first step */
    int n_steps;            /* steps in this epoch */
    const float *loss;      /* (n_steps) mean CE of each step's batch */
    const float *extra;     /* (n_steps) the hooks' curve value per step (NaN if none) */
    double test_acc;        /* test accuracy after the epoch */
    double seconds;         /* wall time of the epoch's training steps */
} ms_epoch_report_t;

typedef struct ms_trainer ms_trainer_t;

/* Hooks into the training loop; every member may be NULL. A hook returning a
 * negative ms_err_t stops training with that error (its message kept). */
typedef struct ms_train_hooks {
    void *ctx;
    /* Before the first step of each epoch (e.g. fix a spectral partition after warm-up). */
    int (*epoch_start)(void *ctx, ms_trainer_t *tr, int epoch);
    /* After the backward pass of step `step`, with the CE gradient (plus
     * penalties) in tr->grad: may add terms to it. *loss_term receives a term
     * added to the step's loss (e.g. -lambda * clusterability) and *curve a
     * value recorded per step (e.g. the clusterability); both start at 0 / NaN. */
    int (*after_backward)(void *ctx, ms_trainer_t *tr, long step, double *loss_term,
                          float *curve);
    /* After the optimiser step (e.g. re-apply a sparsity mask). */
    int (*after_step)(void *ctx, ms_trainer_t *tr, long step);
    /* After each epoch, with its curves. */
    int (*on_epoch)(void *ctx, ms_trainer_t *tr, const ms_epoch_report_t *rep);
    /* Set when a hook reads tr->net.conv_act (the conv activations before
     * pooling, e.g. dynamic sparse training): without it the CPU trainer
     * does not store them (nn.h: keep_conv_act). */
    int needs_conv_act;
} ms_train_hooks_t;

struct ms_trainer {
    const ms_settings_t *s;
    ms_net_t net;
    ms_layout_t *L;         /* = &net.L */
    float *params;          /* (n_params) */
    float *grad;            /* (n_params) */
    float *m, *v;           /* (n_params) optimiser moments / momentum buffer */
    float *bx;              /* (batch, image) the current batch */
    uint8_t *by;            /* (batch) */
    int32_t *order;         /* (n_train) the epoch's shuffled order */
    float *ep_loss, *ep_extra; /* (steps per epoch) */
    int steps_per_epoch;
    long step;              /* global step counter (0-based, next step to run) */
    void *mem;              /* the single allocation behind the buffers above */
};

/* Allocates every buffer for settings s and a training split of n_train
 * images, and initialises the parameters from s->seed. */
int ms_trainer_init(ms_trainer_t *tr, const ms_settings_t *s, int n_train);
void ms_trainer_free(ms_trainer_t *tr);

/* Trains for s->epochs epochs. Returns 0, MS_ENUMERIC when a loss, gradient
 * or parameter becomes NaN or Inf (reason names the step and the tensor), or
 * a hook's error. reason (MS_REASON_MAX bytes) receives the failure reason. */
int ms_train(ms_trainer_t *tr, const ms_split_t *train, const ms_split_t *test,
             const ms_train_hooks_t *hooks, char *reason);

/* Accuracy of params on split, evaluated in batches with net (no dropout).
 * classwise (may be NULL) receives the accuracy of each class (NaN for a
 * class with no images); mean_loss (may be NULL) the mean CE. When label_only
 * >= 0 only the images of that class are evaluated. */
double ms_evaluate(ms_net_t *net, const float *params, const ms_split_t *split, int label_only,
                   double classwise[MS_MAX_CLASSES], double *mean_loss);

/* The name of the first tensor holding a NaN or Inf in buf (a params-shaped
 * buffer), or NULL if all are finite. */
const char *ms_first_nonfinite(const ms_layout_t *L, const float *buf);

#endif
