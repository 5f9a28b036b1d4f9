/* Models: parameter layout, initialisation, and the network (nn.h): one walk
 * of the layers, forward and backward, for every backend, calling the kernels
 * of the network's table (ms_net_ops_t): the CPU's, defined here on the
 * kernels of kernels.h, or the GPU's (src/gpu/nn_gpu.c).
 *
 * Dimension letters: B batch, C channels, H W image size, F filters, K kernel
 * side, O fc outputs, NI fc inputs. */
#include "modsweep/nn.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"
#include "modsweep/rng.h"

#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void add_tensor(ms_layout_t *L, const char *name, int ndim, const int *shape, int fan_in,
                       int layer_kind, int layer, int kind) {
    ms_tensor_t *t = &L->t[L->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->ndim = ndim;
    t->n = 1;
    for (int d = 0; d < ndim; d++) {
        t->shape[d] = shape[d];
        t->n *= (size_t)shape[d];
    }
    t->off = L->n_params;
    t->fan_in = fan_in;
    t->layer_kind = layer_kind;
    t->layer = layer;
    t->kind = kind;
    L->n_params += t->n;
}

int ms_layout_init(ms_layout_t *L, const ms_arch_t *arch) {
    memset(L, 0, sizeof *L);
    L->arch = *arch;
    const ms_arch_t *a = arch;
    if (a->in_c < 1 || a->in_h < 1 || a->in_w < 1)
        return ms_err_set(MS_EINVAL, "model: input shape %dx%dx%d is not positive", a->in_c,
                          a->in_h, a->in_w);
    if (a->n_conv < 0 || a->n_conv > MS_MAX_CONV)
        return ms_err_set(MS_EINVAL, "model: %d conv blocks (at most %d)", a->n_conv,
                          MS_MAX_CONV);
    if (a->n_fc < 1 || a->n_fc > MS_MAX_FC)
        return ms_err_set(MS_EINVAL, "model: %d fc layers (1 to %d)", a->n_fc, MS_MAX_FC);
    if (a->n_conv > 0 && (a->conv_k < 1 || a->conv_pad < 0 || a->conv_pad >= a->conv_k))
        return ms_err_set(MS_EINVAL, "model: conv kernel %d with padding %d", a->conv_k,
                          a->conv_pad);
    if (!(a->dropout >= 0.0f && a->dropout < 1.0f))
        return ms_err_set(MS_EINVAL, "model: dropout %g is not in [0, 1)", a->dropout);
    int c = a->in_c, h = a->in_h, w = a->in_w;
    char name[32];
    for (int l = 0; l < a->n_conv; l++) {
        int f = a->conv_c[l], k = a->conv_k;
        if (f < 1) return ms_err_set(MS_EINVAL, "model: conv%d has %d channels", l + 1, f);
        int ho = h + 2 * a->conv_pad - k + 1, wo = w + 2 * a->conv_pad - k + 1;
        if (ho < 2 || wo < 2)
            return ms_err_set(MS_EINVAL,
                              "model: conv%d output %dx%d is too small to pool 2x2 (input %dx%d)",
                              l + 1, ho, wo, h, w);
        L->conv_in_c[l] = c;
        L->conv_h[l] = ho;
        L->conv_w[l] = wo;
        L->pool_h[l] = ho / 2;
        L->pool_w[l] = wo / 2;
        int shape[4] = {f, c, k, k};
        snprintf(name, sizeof name, "conv%d.weight", l + 1);
        L->conv_weight[l] = L->n_tensors;
        add_tensor(L, name, 4, shape, c * k * k, MS_L_CONV, l, MS_T_WEIGHT);
        L->conv_bias_t[l] = -1;
        if (a->conv_bias) {
            snprintf(name, sizeof name, "conv%d.bias", l + 1);
            L->conv_bias_t[l] = L->n_tensors;
            add_tensor(L, name, 1, &f, c * k * k, MS_L_CONV, l, MS_T_BIAS);
        }
        c = f;
        h = ho / 2;
        w = wo / 2;
    }
    int in = c * h * w;
    for (int l = 0; l < a->n_fc; l++) {
        int o = a->fc_out[l];
        if (o < 1) return ms_err_set(MS_EINVAL, "model: fc%d has %d outputs", l + 1, o);
        L->fc_in[l] = in;
        int shape[2] = {o, in};
        snprintf(name, sizeof name, "fc%d.weight", l + 1);
        L->fc_weight[l] = L->n_tensors;
        add_tensor(L, name, 2, shape, in, MS_L_FC, l, MS_T_WEIGHT);
        L->n_fc_weights += (size_t)o * in;
        L->fc_bias_t[l] = -1;
        if (a->fc_bias) {
            snprintf(name, sizeof name, "fc%d.bias", l + 1);
            L->fc_bias_t[l] = L->n_tensors;
            add_tensor(L, name, 1, &o, in, MS_L_FC, l, MS_T_BIAS);
        }
        in = o;
    }
    if (a->fc_out[a->n_fc - 1] > MS_MAX_CLASSES)
        return ms_err_set(MS_EINVAL, "model: %d classes (at most %d)", a->fc_out[a->n_fc - 1],
                          MS_MAX_CLASSES);
    return 0;
}

int ms_layout_find(const ms_layout_t *L, const char *name) {
    for (int i = 0; i < L->n_tensors; i++)
        if (strcmp(L->t[i].name, name) == 0) return i;
    return -1;
}

void ms_params_init(const ms_layout_t *L, float *params, uint64_t seed) {
    for (int i = 0; i < L->n_tensors; i++) {
        const ms_tensor_t *t = &L->t[i];
        const float bound = (float)(1.0 / sqrt((double)t->fan_in));
        ms_rng_t r;
        ms_rng_init(&r, seed, MS_RNG_INIT, (uint32_t)i);
        float *p = params + t->off;
        for (size_t j = 0; j < t->n; j++) p[j] = (2.0f * ms_rng_float(&r) - 1.0f) * bound;
    }
}

double ms_params_penalty(const ms_layout_t *L, const float *params, float *grad, float l1,
                         float l2) {
    double total = 0.0;
    if (l1 == 0.0f && l2 == 0.0f) return 0.0;
    for (int i = 0; i < L->n_tensors; i++) {
        const ms_tensor_t *t = &L->t[i];
        if (t->kind != MS_T_WEIGHT) continue;
        const float *p = params + t->off;
        double s1 = 0.0, s2 = 0.0;
        for (size_t j = 0; j < t->n; j++) {
            s1 += fabs((double)p[j]);
            s2 += (double)p[j] * p[j];
        }
        total += (double)l1 * s1 + (double)l2 * s2;
        if (grad) {
            float *g = grad + t->off;
            for (size_t j = 0; j < t->n; j++) {
                const float sign = p[j] > 0.0f ? 1.0f : (p[j] < 0.0f ? -1.0f : 0.0f);
                g[j] += l1 * sign + 2.0f * l2 * p[j];
            }
        }
    }
    return total;
}

/* ---- the network ------------------------------------------------------------ */

/* The CPU's scratch for one conv block: the larger of the forward pass's
 * per-thread im2col rows for max(net->threads, OpenMP's threads) threads and
 * the backward pass's per-chunk partial sums. */
static size_t cpu_conv_scratch(const ms_net_t *net, int C, int H, int W, int F, int K, int P) {
    size_t per_thread = ms_conv_scratch_floats(C, H, W, F, K, P);
    size_t s1 = per_thread * (size_t)(net->threads > omp_get_max_threads() ? net->threads
                                                                           : omp_get_max_threads());
    size_t s2 = ms_conv_backward_partial_floats(net->max_b, C, H, W, F, K, P);
    return s1 > s2 ? s1 : s2;
}

const ms_net_ops_t ms_net_ops_cpu = {.align = 64,
                                     .scratch_min = 0,
                                     .conv_scratch = cpu_conv_scratch,
                                     .conv_act_optional = 1,
                                     .conv_forward = ms_conv_relu_pool_forward,
                                     .conv_backward = ms_conv_relu_pool_backward,
                                     .linear_forward = ms_linear_forward,
                                     .linear_backward = ms_linear_backward,
                                     .relu_dropout_forward = ms_relu_dropout_forward,
                                     .relu_dropout_backward = ms_relu_dropout_backward};

void *ms_net_take(char *base, size_t *off, size_t count, size_t size, size_t align) {
    void *p = base ? base + *off : NULL;
    *off += (count * size + align - 1) & ~(align - 1);
    return p;
}

size_t ms_net_carve(ms_net_t *net, char *base) {
    const ms_layout_t *L = &net->L;
    const ms_arch_t *a = &L->arch;
    const ms_net_ops_t *ops = net->ops;
    const size_t B = (size_t)net->max_b;
    size_t off = 0;
#define TAKE(ptr, type, count)                                                                     \
    ((ptr) = (type *)ms_net_take(base, &off, (size_t)(count), sizeof(type), ops->align))
    size_t scratch = ops->scratch_min;
    for (int l = 0; l < a->n_conv; l++) {
        size_t f = a->conv_c[l], ho = L->conv_h[l], wo = L->conv_w[l];
        size_t pooled = B * f * L->pool_h[l] * L->pool_w[l];
        TAKE(net->conv_act[l], float, B * f * ho * wo);
        TAKE(net->pool_idx[l], uint8_t, pooled);
        TAKE(net->pool_out[l], float, pooled);
        TAKE(net->d_conv[l], float, pooled); /* gradient w.r.t. the pooled output */
        int in_h = l ? L->pool_h[l - 1] : a->in_h, in_w = l ? L->pool_w[l - 1] : a->in_w;
        size_t s = ops->conv_scratch(net, L->conv_in_c[l], in_h, in_w, a->conv_c[l], a->conv_k,
                                     a->conv_pad);
        if (s > scratch) scratch = s;
    }
    for (int l = 0; l < a->n_fc; l++) {
        TAKE(net->fc_act[l], float, B * a->fc_out[l]);
        TAKE(net->d_fc[l], float, B * a->fc_out[l]);
    }
    TAKE(net->d_in0, float, B * L->fc_in[0]);
    TAKE(net->scratch, float, scratch);
    net->scratch_n = scratch;
#undef TAKE
    return off;
}

int ms_net_prepare(ms_net_t *net, const ms_arch_t *arch, int max_b, int threads,
                   const ms_net_ops_t *ops) {
    memset(net, 0, sizeof *net);
    int rc = ms_layout_init(&net->L, arch);
    if (rc) return rc;
    if (max_b < 1) return ms_err_set(MS_EINVAL, "network: batch size %d", max_b);
    net->max_b = max_b;
    net->threads = threads;
    net->ops = ops;
    net->keep_conv_act = 1;
    return 0;
}

int ms_net_init(ms_net_t *net, const ms_arch_t *arch, int max_b, int threads) {
    /* Scratch is sized for the larger of the requested and the process's
     * kernel thread count; the count itself is set by ms_kernels_set_threads. */
    int rc = ms_net_prepare(net, arch, max_b,
                            threads > ms_kernels_threads() ? threads : ms_kernels_threads(),
                            &ms_net_ops_cpu);
    if (rc) return rc;
    size_t bytes = ms_net_carve(net, NULL);
    net->mem = aligned_alloc(64, (bytes + 63) & ~(size_t)63);
    if (!net->mem) {
        memset(net, 0, sizeof *net);
        return ms_err_set(MS_ENOMEM, "network: cannot allocate %zu bytes of buffers", bytes);
    }
    memset(net->mem, 0, bytes);
    ms_net_carve(net, net->mem);
    return 0;
}

void ms_net_free(ms_net_t *net) {
    free(net->mem);
    memset(net, 0, sizeof *net);
}

/* The walk below runs on every backend: the kernels come from net->ops. */
void ms_net_forward(ms_net_t *net, const float *params, const float *x, int B,
                    const ms_dropout_t *drop) {
    const ms_layout_t *L = &net->L;
    const ms_arch_t *a = &L->arch;
    const ms_net_ops_t *ops = net->ops;
    const float *in = x;
    int c = a->in_c, h = a->in_h, w = a->in_w;
    const int act = net->keep_conv_act || !ops->conv_act_optional;
    for (int l = 0; l < a->n_conv; l++) {
        const float *wt = params + L->t[L->conv_weight[l]].off;
        const float *bt = L->conv_bias_t[l] >= 0 ? params + L->t[L->conv_bias_t[l]].off : NULL;
        ops->conv_forward(act ? net->conv_act[l] : NULL, net->pool_out[l], net->pool_idx[l], in, wt,
                          bt, B, c, h, w, a->conv_c[l], a->conv_k, a->conv_pad, net->scratch);
        in = net->pool_out[l];
        c = a->conv_c[l];
        h = L->pool_h[l];
        w = L->pool_w[l];
    }
    net->fc_in0 = (float *)in;
    uint64_t base = 0;
    for (int l = 0; l < a->n_fc; l++) {
        const int O = a->fc_out[l], NI = L->fc_in[l];
        const float *wt = params + L->t[L->fc_weight[l]].off;
        const float *bt = L->fc_bias_t[l] >= 0 ? params + L->t[L->fc_bias_t[l]].off : NULL;
        ops->linear_forward(net->fc_act[l], in, wt, bt, B, NI, O);
        if (l < a->n_fc - 1) {
            float p = drop ? a->dropout : 0.0f;
            ops->relu_dropout_forward(net->fc_act[l], B, O, p, drop ? drop->seed : 0,
                                      drop ? drop->step : 0, base);
            base += (uint64_t)B * O;
        }
        in = net->fc_act[l];
    }
    net->last_b = B;
    net->dropout_active = drop != NULL && a->dropout > 0.0f;
}

double ms_net_ce_loss(ms_net_t *net, const uint8_t *y, int B, double *loss_per_sample) {
    const ms_arch_t *a = &net->L.arch;
    const int nf = a->n_fc;
    return ms_ce_loss(net->fc_act[nf - 1], y, B, a->fc_out[nf - 1], net->d_fc[nf - 1],
                      loss_per_sample);
}

void ms_net_backward(ms_net_t *net, const float *params, const float *x, int B, float *grad) {
    const ms_layout_t *L = &net->L;
    const ms_arch_t *a = &L->arch;
    const ms_net_ops_t *ops = net->ops;
    const float p = net->dropout_active ? a->dropout : 0.0f;
    for (int l = a->n_fc - 1; l >= 0; l--) {
        const int O = a->fc_out[l], NI = L->fc_in[l];
        const float *in = l ? net->fc_act[l - 1] : net->fc_in0;
        const float *wt = params + L->t[L->fc_weight[l]].off;
        float *dw = grad + L->t[L->fc_weight[l]].off;
        float *db = L->fc_bias_t[l] >= 0 ? grad + L->t[L->fc_bias_t[l]].off : NULL;
        /* The gradient w.r.t. this layer's input is needed unless it is the
         * network input (no conv blocks below the first fc layer). */
        float *dx = l ? net->d_fc[l - 1] : (a->n_conv ? net->d_in0 : NULL);
        ops->linear_backward(dx, dw, db, net->d_fc[l], in, wt, B, NI, O);
        if (l)
            ops->relu_dropout_backward(net->d_fc[l - 1], net->fc_act[l - 1], B * L->fc_in[l], p);
    }
    const float *dpooled = net->d_in0;
    for (int l = a->n_conv - 1; l >= 0; l--) {
        const int C = L->conv_in_c[l];
        const int H = l ? L->pool_h[l - 1] : a->in_h, W = l ? L->pool_w[l - 1] : a->in_w;
        const float *in = l ? net->pool_out[l - 1] : x;
        const float *wt = params + L->t[L->conv_weight[l]].off;
        float *dw = grad + L->t[L->conv_weight[l]].off;
        float *db = L->conv_bias_t[l] >= 0 ? grad + L->t[L->conv_bias_t[l]].off : NULL;
        /* d_conv[l-1] holds the gradient w.r.t. the pooled output of block l-1,
         * which is this block's input. */
        float *dx = l ? net->d_conv[l - 1] : NULL;
        ops->conv_backward(dx, dw, db, dpooled, net->conv_act[l], net->pool_out[l],
                           net->pool_idx[l], in, wt, B, C, H, W, a->conv_c[l], a->conv_k,
                           a->conv_pad, net->scratch);
        dpooled = dx;
    }
}

void ms_net_argmax(const ms_net_t *net, int B, uint8_t *pred) {
    const ms_arch_t *a = &net->L.arch;
    const int nc = a->fc_out[a->n_fc - 1];
    const float *z = net->fc_act[a->n_fc - 1];
    for (int i = 0; i < B; i++) {
        int best = 0;
        for (int c = 1; c < nc; c++)
            if (z[(size_t)i * nc + c] > z[(size_t)i * nc + best]) best = c;
        pred[i] = (uint8_t)best;
    }
}
