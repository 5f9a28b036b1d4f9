/* Training loop and evaluation of one model on the CPU (train.h).
 *
 * Dimension letters: B batch, N images of a split, D floats per image. */
#include "modsweep/train.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"
#include "modsweep/log.h"
#include "modsweep/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t image_floats(const ms_arch_t *a) { return (size_t)a->in_c * a->in_h * a->in_w; }

int ms_trainer_init(ms_trainer_t *tr, const ms_settings_t *s, int n_train) {
    memset(tr, 0, sizeof *tr);
    if (n_train < 1) return ms_err_set(MS_EINVAL, "training: the training split is empty");
    if (s->batch < 1) return ms_err_set(MS_EINVAL, "training: batch size %d", s->batch);
    tr->s = s;
    int rc = ms_net_init(&tr->net, &s->arch, s->batch, 0);
    if (rc) return rc;
    tr->L = &tr->net.L;
    const size_t P = tr->L->n_params, D = image_floats(&s->arch);
    const int B = s->batch;
    tr->steps_per_epoch = (n_train + B - 1) / B;
    /* One allocation: params, grad, m, v, batch, order, epoch curves. */
    size_t floats = 4 * P + (size_t)B * D + 2 * (size_t)tr->steps_per_epoch;
    size_t bytes = floats * sizeof(float) + (size_t)n_train * sizeof(int32_t) + (size_t)B + 256;
    char *mem = calloc(1, bytes);
    if (!mem) {
        ms_net_free(&tr->net);
        return ms_err_set(MS_ENOMEM, "training: cannot allocate %zu bytes", bytes);
    }
    tr->mem = mem;
    float *f = (float *)(void *)mem;
    tr->params = f;
    tr->grad = f + P;
    tr->m = f + 2 * P;
    tr->v = f + 3 * P;
    tr->bx = f + 4 * P;
    tr->ep_loss = tr->bx + (size_t)B * D;
    tr->ep_extra = tr->ep_loss + tr->steps_per_epoch;
    tr->order = (int32_t *)(void *)(tr->ep_extra + tr->steps_per_epoch);
    tr->by = (uint8_t *)(tr->order + n_train);
    ms_params_init(tr->L, tr->params, s->seed);
    tr->step = 0;
    return 0;
}

void ms_trainer_free(ms_trainer_t *tr) {
    ms_net_free(&tr->net);
    free(tr->mem);
    memset(tr, 0, sizeof *tr);
}

/* Whether all n values are finite: a float is Inf or NaN exactly when its
 * exponent bits are all set. The flags are combined with an integer OR,
 * which the compiler vectorises (a float sum such as x * 0 over the values
 * it may not reorder, so that loop ran one add at a time: 4 times slower on
 * the paper CNN's 271,424 gradients, once per training step). */
static int all_finite(const float *x, size_t n) {
    uint32_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        bad |= (u & 0x7f800000u) == 0x7f800000u;
    }
    return !bad;
}

/* all_finite on one part each of the kernel threads (the answers ORed:
 * the same however it is split). */
static int all_finite_par(const float *x, size_t n) {
    const int T = n >= 65536 ? ms_kernels_threads() : 1;
    int bad = 0;
#pragma omp parallel for schedule(static) reduction(| : bad) num_threads(T)
    for (int t = 0; t < T; t++)
        bad |= !all_finite(x + n * t / T, n * (t + 1) / T - n * t / T);
    return !bad;
}

const char *ms_first_nonfinite(const ms_layout_t *L, const float *buf) {
    if (L->n_tensors == 0) return NULL;
    /* Once over the span of every tensor, in parallel (once per training
     * step); only if something there is not finite, tensor by tensor. */
    const ms_tensor_t *last = &L->t[L->n_tensors - 1];
    if (all_finite_par(buf + L->t[0].off, last->off + last->n - L->t[0].off)) return NULL;
    for (int i = 0; i < L->n_tensors; i++)
        if (!all_finite(buf + L->t[i].off, L->t[i].n)) return L->t[i].name;
    return NULL;
}

/* Where a non-finite loss of the last forward pass (nb images) came from,
 * for the failure reason: the first parameter tensor that is not finite,
 * else the first layer whose output is not, else the logits' size. */
static void loss_origin(const ms_trainer_t *tr, int nb, char *buf, size_t n) {
    const ms_layout_t *L = tr->L;
    const ms_net_t *net = &tr->net;
    const char *bad = ms_first_nonfinite(L, tr->params);
    if (bad) {
        snprintf(buf, n, "parameters of %s are not finite", bad);
        return;
    }
    /* A conv block's pooled output: the activations after the ReLU are
     * never NaN, and a +Inf among them is its window's maximum, so the
     * pooled output is finite exactly where what reaches the loss is (the
     * activations themselves are not kept in training: nn.h). */
    for (int c = 0; c < L->arch.n_conv; c++) {
        const size_t cnt = (size_t)nb * L->arch.conv_c[c] * L->pool_h[c] * L->pool_w[c];
        if (!all_finite(net->pool_out[c], cnt)) {
            snprintf(buf, n, "the output of conv%d is not finite", c + 1);
            return;
        }
    }
    for (int l = 0; l < L->arch.n_fc; l++)
        if (!all_finite(net->fc_act[l], (size_t)nb * L->arch.fc_out[l])) {
            snprintf(buf, n, "the output of fc%d is not finite", l + 1);
            return;
        }
    snprintf(buf, n, "the logits (fc%d) are finite but too large", L->arch.n_fc);
}

static int train_epochs(ms_trainer_t *tr, const ms_split_t *train, const ms_split_t *test,
                        const ms_train_hooks_t *hooks, char *reason) {
    const ms_settings_t *s = tr->s;
    const ms_layout_t *L = tr->L;
    const int B = s->batch, N = train->n;
    const size_t D = image_floats(&s->arch), P = L->n_params;
    if (reason) reason[0] = 0;
    if ((size_t)train->c * train->h * train->w != D)
        return ms_err_set(MS_EINVAL, "training: images are %dx%dx%d, the model expects %dx%dx%d",
                          train->c, train->h, train->w, s->arch.in_c, s->arch.in_h, s->arch.in_w);
    if ((N + B - 1) / B > tr->steps_per_epoch)
        return ms_err_set(MS_EINVAL, "training: split of %d images, trainer sized for %d steps",
                          N, tr->steps_per_epoch);
    int rc = 0, epoch = 0;
    for (epoch = 0; epoch < s->epochs; epoch++) {
        if (hooks->epoch_start && (rc = hooks->epoch_start(hooks->ctx, tr, epoch)) < 0) goto fail;
        for (int i = 0; i < N; i++) tr->order[i] = i;
        ms_rng_t r;
        ms_rng_init(&r, s->seed, MS_RNG_SHUFFLE, (uint32_t)epoch);
        ms_rng_shuffle(&r, tr->order, N);
        const long first = tr->step;
        double t0 = ms_now();
        int n_steps = 0;
        for (int b0 = 0; b0 < N; b0 += B, n_steps++) {
            const int nb = N - b0 < B ? N - b0 : B;
            /* The batch's images gathered by the kernel threads (a copy:
             * the same bytes however it is split). */
#pragma omp parallel for schedule(static) num_threads(ms_kernels_threads()) if (nb * D >= 65536)
            for (int i = 0; i < nb; i++) {
                const int src = tr->order[b0 + i];
                memcpy(tr->bx + (size_t)i * D, train->x + (size_t)src * D, sizeof(float) * D);
                tr->by[i] = train->y[src];
            }
            ms_dropout_t drop = {.seed = s->seed, .step = (uint32_t)tr->step};
            ms_net_forward(&tr->net, tr->params, tr->bx, nb, s->arch.dropout > 0 ? &drop : NULL);
            double loss = ms_net_ce_loss(&tr->net, tr->by, nb, NULL);
            if (!isfinite(loss)) {
                char where[96];
                loss_origin(tr, nb, where, sizeof where);
                snprintf(reason, MS_REASON_MAX, "step %ld (epoch %d): cross-entropy loss is %s: %s",
                         tr->step, epoch + 1, isnan(loss) ? "NaN" : "Inf", where);
                return ms_err_set(MS_ENUMERIC, "%s", reason);
            }
            ms_net_backward(&tr->net, tr->params, tr->bx, nb, tr->grad);
            ms_params_penalty(L, tr->params, tr->grad, s->l1, s->l2);
            double term = 0.0;
            float curve = NAN;
            if (hooks->after_backward &&
                (rc = hooks->after_backward(hooks->ctx, tr, tr->step, &term, &curve)) < 0)
                goto fail;
            const char *bad = ms_first_nonfinite(L, tr->grad);
            if (bad) {
                snprintf(reason, MS_REASON_MAX, "step %ld (epoch %d): gradient of %s is not finite",
                         tr->step, epoch + 1, bad);
                return ms_err_set(MS_ENUMERIC, "%s", reason);
            }
            if (s->optimizer == MS_OPT_ADAM)
                ms_adam_step(tr->params, tr->grad, tr->m, tr->v, P, s->lr, s->beta1, s->beta2,
                             s->eps, tr->step + 1);
            else
                ms_sgd_step(tr->params, tr->grad, tr->m, P, s->lr, s->momentum, tr->step + 1);
            if (hooks->after_step && (rc = hooks->after_step(hooks->ctx, tr, tr->step)) < 0)
                goto fail;
            tr->ep_loss[n_steps] = (float)loss;
            tr->ep_extra[n_steps] = curve;
            (void)term;
            tr->step++;
        }
        const double seconds = ms_now() - t0;
        const char *bad = ms_first_nonfinite(L, tr->params);
        if (bad) {
            snprintf(reason, MS_REASON_MAX, "epoch %d: parameters of %s are not finite", epoch + 1,
                     bad);
            return ms_err_set(MS_ENUMERIC, "%s", reason);
        }
        ms_epoch_report_t rep = {.epoch = epoch,
                                 .first_step = first,
                                 .n_steps = n_steps,
                                 .loss = tr->ep_loss,
                                 .extra = tr->ep_extra,
                                 .test_acc = test ? ms_evaluate(&tr->net, tr->params, test, -1,
                                                                NULL, NULL)
                                                  : NAN,
                                 .seconds = seconds};
        if (hooks->on_epoch && (rc = hooks->on_epoch(hooks->ctx, tr, &rep)) < 0) goto fail;
    }
    return 0;
fail:
    /* A hook's numerical fault (the regulariser's BSGC partition, ...) gets
     * the step and epoch it happened at. */
    if (reason && rc == MS_ENUMERIC)
        snprintf(reason, MS_REASON_MAX, "step %ld (epoch %d): %s", tr->step, epoch + 1,
                 ms_err_msg());
    else if (reason)
        snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
    return rc;
}

/* The conv activations before pooling are stored only if a hook reads
 * them: the CPU backward needs the pooled output and the maxima's offsets
 * only (4 MB of writes per step spared on the paper CNN, batch 64). */
int ms_train(ms_trainer_t *tr, const ms_split_t *train, const ms_split_t *test,
             const ms_train_hooks_t *hooks, char *reason) {
    static const ms_train_hooks_t none = {0};
    if (!hooks) hooks = &none;
    const int keep = tr->net.keep_conv_act;
    tr->net.keep_conv_act = hooks->needs_conv_act;
    const int rc = train_epochs(tr, train, test, hooks, reason);
    tr->net.keep_conv_act = keep;
    return rc;
}

double ms_evaluate(ms_net_t *net, const float *params, const ms_split_t *split, int label_only,
                   double classwise[MS_MAX_CLASSES], double *mean_loss) {
    const ms_arch_t *a = &net->L.arch;
    const size_t D = image_floats(a);
    const int B = net->max_b;
    long correct[MS_MAX_CLASSES] = {0}, total[MS_MAX_CLASSES] = {0};
    double loss_sum = 0.0;
    int32_t *idx = NULL;
    float *gx = NULL;
    uint8_t *gy = NULL, *pred = malloc((size_t)B);
    int n = split->n;
    if (label_only >= 0) {
        idx = malloc(sizeof(int32_t) * (size_t)(split->n ? split->n : 1));
        gx = malloc(sizeof(float) * D * (size_t)B);
        gy = malloc((size_t)B);
        n = ms_split_class_indices(split, label_only, idx);
    }
    for (int b0 = 0; b0 < n; b0 += B) {
        int nb = n - b0 < B ? n - b0 : B;
        const float *x;
        const uint8_t *y;
        if (idx) {
            for (int i = 0; i < nb; i++) {
                memcpy(gx + (size_t)i * D, split->x + (size_t)idx[b0 + i] * D, sizeof(float) * D);
                gy[i] = split->y[idx[b0 + i]];
            }
            x = gx;
            y = gy;
        } else {
            x = split->x + (size_t)b0 * D;
            y = split->y + b0;
        }
        ms_net_forward(net, params, x, nb, NULL);
        if (mean_loss) loss_sum += ms_ce_loss(net->fc_act[a->n_fc - 1], y, nb,
                                              a->fc_out[a->n_fc - 1], NULL, NULL) * nb;
        ms_net_argmax(net, nb, pred);
        for (int i = 0; i < nb; i++) {
            total[y[i]]++;
            correct[y[i]] += pred[i] == y[i];
        }
    }
    long c_all = 0, t_all = 0;
    for (int c = 0; c < MS_MAX_CLASSES; c++) {
        c_all += correct[c];
        t_all += total[c];
        if (classwise) classwise[c] = total[c] ? (double)correct[c] / total[c] : NAN;
    }
    if (mean_loss) *mean_loss = t_all ? loss_sum / t_all : NAN;
    free(idx);
    free(gx);
    free(gy);
    free(pred);
    return t_all ? (double)c_all / t_all : NAN;
}
