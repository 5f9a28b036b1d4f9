/* The GPU trainer (gpu.h): train.c's ms_train on the device, step for step.
 *
 * The same epochs, shuffles (Philox on the host, one upload per epoch),
 * batches, dropout masks (the same Philox draws on the device), penalties,
 * optimiser and failure reasons as the CPU trainer. Inside an epoch nothing
 * comes back to the host: each step's loss, hook curve value and gradient
 * check are written to device arrays and read once when the epoch ends; the
 * first failing step is then found in them, so a NaN or Inf fails the model
 * with the reason the CPU would give. Built only with the CUDA backend.
 *
 * Dimension letters: B batch, N images of a split, D floats per image, P
 * parameters, S steps per epoch. */
#include "modsweep/gpu.h"

#if MODSWEEP_HAVE_CUDA

#include "modsweep/error.h"
#include "modsweep/kernels_gpu.h"
#include "modsweep/log.h"
#include "modsweep/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NO_TENSOR INT32_MAX

int ms_gpu_trainer_init(ms_gpu_trainer_t *gt, const ms_settings_t *s, int n_train) {
    memset(gt, 0, sizeof *gt);
    if (n_train < 1) return ms_err_set(MS_EINVAL, "training: the training split is empty");
    if (s->batch < 1) return ms_err_set(MS_EINVAL, "training: batch size %d", s->batch);
    gt->s = s;
    int rc = ms_gpu_net_init(&gt->net, &s->arch, s->batch);
    if (rc) return rc;
    gt->L = &gt->net.net.L;
    const size_t P = gt->L->n_params;
    const int B = s->batch, S = (n_train + B - 1) / B;
    gt->steps_per_epoch = S;
    gt->n_train = n_train;
    /* One device allocation: params, grad, m, v, order, step arrays. */
    const size_t dbytes = 4 * P * sizeof(float) + (size_t)n_train * sizeof(int32_t) +
                          (size_t)S * (2 * sizeof(double) + sizeof(float) + sizeof(int32_t)) + 64;
    rc = ms_gpu_alloc(&gt->dmem, dbytes);
    if (rc) {
        ms_gpu_net_free(&gt->net);
        return ms_err_wrap(rc, "GPU training: ");
    }
    /* Doubles first, so every array is aligned. */
    char *d = gt->dmem;
    gt->step_loss = (double *)(void *)d, d += sizeof(double) * S;
    gt->step_term = (double *)(void *)d, d += sizeof(double) * S;
    gt->params = (float *)(void *)d, d += sizeof(float) * P;
    gt->grad = (float *)(void *)d, d += sizeof(float) * P;
    gt->m = (float *)(void *)d, d += sizeof(float) * P;
    gt->v = (float *)(void *)d, d += sizeof(float) * P;
    gt->step_curve = (float *)(void *)d, d += sizeof(float) * S;
    gt->order = (int32_t *)(void *)d, d += sizeof(int32_t) * n_train;
    gt->step_bad = (int32_t *)(void *)d;
    /* One host allocation: params copy, order, the epoch's curves. */
    const size_t hbytes = sizeof(double) * S + P * sizeof(float) +
                          (size_t)n_train * sizeof(int32_t) +
                          (size_t)S * (2 * sizeof(float) + sizeof(int32_t));
    char *h = calloc(1, hbytes);
    if (!h) {
        ms_gpu_trainer_free(gt);
        return ms_err_set(MS_ENOMEM, "GPU training: cannot allocate %zu host bytes", hbytes);
    }
    gt->hmem = h;
    gt->ep_loss_d = (double *)(void *)h, h += sizeof(double) * S;
    gt->params_host = (float *)(void *)h, h += sizeof(float) * P;
    gt->ep_loss = (float *)(void *)h, h += sizeof(float) * S;
    gt->ep_extra = (float *)(void *)h, h += sizeof(float) * S;
    gt->order_host = (int32_t *)(void *)h, h += sizeof(int32_t) * n_train;
    gt->ep_bad = (int32_t *)(void *)h;
    ms_params_init(gt->L, gt->params_host, s->seed);
    rc = ms_gpu_h2d(gt->params, gt->params_host, sizeof(float) * P);
    if (rc) {
        ms_gpu_trainer_free(gt);
        return rc;
    }
    gt->step = 0;
    return 0;
}

void ms_gpu_trainer_free(ms_gpu_trainer_t *gt) {
    ms_gpu_net_free(&gt->net);
    ms_gpu_free(gt->dmem);
    free(gt->hmem);
    memset(gt, 0, sizeof *gt);
}

int ms_gpu_trainer_download(ms_gpu_trainer_t *gt) {
    return ms_gpu_d2h(gt->params_host, gt->params, sizeof(float) * gt->L->n_params);
}

int ms_train_gpu(ms_gpu_trainer_t *gt, const ms_gpu_split_t *train, const ms_gpu_split_t *test,
                 const ms_gpu_train_hooks_t *hooks, char *reason) {
    static const ms_gpu_train_hooks_t none = {0};
    const ms_settings_t *s = gt->s;
    const ms_layout_t *L = gt->L;
    const ms_arch_t *a = &s->arch;
    const int B = s->batch, N = train->n;
    const size_t D = (size_t)a->in_c * a->in_h * a->in_w, P = L->n_params;
    if (!hooks) hooks = &none;
    if (reason) reason[0] = 0;
    if (train->D != D)
        return ms_err_set(MS_EINVAL, "training: images hold %zu floats, the model expects %dx%dx%d",
                          train->D, a->in_c, a->in_h, a->in_w);
    if (N > gt->n_train)
        return ms_err_set(MS_EINVAL, "training: split of %d images, trainer sized for %d", N,
                          gt->n_train);
    ms_gpu_net_t *net = &gt->net;
    int rc = 0;
    for (int epoch = 0; epoch < s->epochs; epoch++) {
        if (hooks->epoch_start && (rc = hooks->epoch_start(hooks->ctx, gt, epoch)) < 0) goto fail;
        for (int i = 0; i < N; i++)
            gt->order_host[i] = i;
        ms_rng_t r;
        ms_rng_init(&r, s->seed, MS_RNG_SHUFFLE, (uint32_t)epoch);
        ms_rng_shuffle(&r, gt->order_host, N);
        if ((rc = ms_gpu_h2d(gt->order, gt->order_host, sizeof(int32_t) * N))) goto fail;
        const int S = (N + B - 1) / B;
        ms__gpu_fill_f64(gt->step_term, S, 0.0);
        ms__gpu_fill_f32(gt->step_curve, S, NAN);
        ms__gpu_fill_i32(gt->step_bad, S, NO_TENSOR);
        const long first = gt->step;
        ms_gpu_sync();
        const double t0 = ms_now();
        int n_steps = 0;
        for (int b0 = 0; b0 < N; b0 += B, n_steps++) {
            const int nb = N - b0 < B ? N - b0 : B;
            ms__gpu_gather(net->bx, net->by, train->x, train->y, gt->order + b0, nb, D);
            ms_dropout_t drop = {.seed = s->seed, .step = (uint32_t)gt->step};
            ms_net_forward_gpu(net, gt->params, net->bx, nb, a->dropout > 0 ? &drop : NULL);
            ms_net_ce_loss_gpu(net, net->by, nb, gt->step_loss + n_steps);
            ms_net_backward_gpu(net, gt->params, net->bx, nb, gt->grad);
            if (s->l1 != 0.0f || s->l2 != 0.0f)
                for (int t = 0; t < L->n_tensors; t++)
                    if (L->t[t].kind == MS_T_WEIGHT)
                        ms_penalty_grad_gpu(gt->grad + L->t[t].off, gt->params + L->t[t].off,
                                            L->t[t].n, s->l1, s->l2);
            if (hooks->after_backward &&
                (rc = hooks->after_backward(hooks->ctx, gt, gt->step, gt->step_term + n_steps,
                                            gt->step_curve + n_steps)) < 0)
                goto fail;
            for (int t = 0; t < L->n_tensors; t++)
                ms__gpu_nonfinite(gt->step_bad + n_steps, gt->grad + L->t[t].off, L->t[t].n, t);
            if (s->optimizer == MS_OPT_ADAM)
                ms_adam_step_gpu(gt->params, gt->grad, gt->m, gt->v, P, s->lr, s->beta1, s->beta2,
                                 s->eps, gt->step + 1);
            else
                ms_sgd_step_gpu(gt->params, gt->grad, gt->m, P, s->lr, s->momentum, gt->step + 1);
            if (hooks->after_step && (rc = hooks->after_step(hooks->ctx, gt, gt->step)) < 0)
                goto fail;
            gt->step++;
        }
        /* The epoch's losses, curve values and checks: one round trip. */
        if ((rc = ms_gpu_d2h(gt->ep_loss_d, gt->step_loss, sizeof(double) * n_steps))) goto fail;
        const double seconds = ms_now() - t0;
        if ((rc = ms_gpu_d2h(gt->ep_extra, gt->step_curve, sizeof(float) * n_steps))) goto fail;
        if ((rc = ms_gpu_d2h(gt->ep_bad, gt->step_bad, sizeof(int32_t) * n_steps))) goto fail;
        for (int k = 0; k < n_steps; k++) {
            const double loss = gt->ep_loss_d[k];
            if (!isfinite(loss)) {
                snprintf(reason, MS_REASON_MAX, "step %ld (epoch %d): cross-entropy loss is %s",
                         first + k, epoch + 1, isnan(loss) ? "NaN" : "Inf");
                return ms_err_set(MS_ENUMERIC, "%s", reason);
            }
            if (gt->ep_bad[k] != NO_TENSOR) {
                snprintf(reason, MS_REASON_MAX, "step %ld (epoch %d): gradient of %s is not finite",
                         first + k, epoch + 1, L->t[gt->ep_bad[k]].name);
                return ms_err_set(MS_ENUMERIC, "%s", reason);
            }
            gt->ep_loss[k] = (float)loss;
        }
        if ((rc = ms_gpu_trainer_download(gt))) goto fail;
        const char *bad = ms_first_nonfinite(L, gt->params_host);
        if (bad) {
            snprintf(reason, MS_REASON_MAX, "epoch %d: parameters of %s are not finite", epoch + 1,
                     bad);
            return ms_err_set(MS_ENUMERIC, "%s", reason);
        }
        ms_epoch_report_t rep = {
            .epoch = epoch,
            .first_step = first,
            .n_steps = n_steps,
            .loss = gt->ep_loss,
            .extra = gt->ep_extra,
            .test_acc = test ? ms_evaluate_gpu(net, gt->params, test, -1, NULL, NULL) : NAN,
            .seconds = seconds};
        if (hooks->on_epoch && (rc = hooks->on_epoch(hooks->ctx, gt, &rep)) < 0) goto fail;
    }
    return 0;
fail:
    if (reason) snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
    return rc;
}

#endif
