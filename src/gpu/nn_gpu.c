/* The GPU network and evaluation (gpu.h): nn.c's ms_net_t and train.c's
 * ms_evaluate on device buffers, built on the kernels of kernels_gpu.h. The
 * structure follows nn.c line by line, so the two can be read side by side.
 * Built only with the CUDA backend (the stubs of src/gpu/device.c stand in
 * otherwise).
 *
 * Dimension letters: B batch, C channels, H W image size, F filters, K kernel
 * side, O fc outputs, NI fc inputs, D floats per image. */
#include "modsweep/gpu.h"

#if MODSWEEP_HAVE_CUDA

#include "modsweep/error.h"
#include "modsweep/kernels_gpu.h"

#include <math.h>
#include <string.h>

/* Lays out (or, with base == NULL, only counts) every buffer of the network
 * inside one device allocation; returns its size in bytes. */
static size_t carve(ms_gpu_net_t *net, char *base) {
    const ms_layout_t *L = &net->L;
    const ms_arch_t *a = &L->arch;
    const size_t B = (size_t)net->max_b, D = (size_t)a->in_c * a->in_h * a->in_w;
    size_t off = 0;
#define TAKE(ptr, type, count)                                                                     \
    do {                                                                                           \
        size_t bytes_ = ((size_t)(count) * sizeof(type) + 255) & ~(size_t)255;                     \
        if (base) (ptr) = (type *)(void *)(base + off);                                            \
        off += bytes_;                                                                             \
    } while (0)
    size_t scratch = 1;
    for (int l = 0; l < a->n_conv; l++) {
        size_t f = a->conv_c[l], ho = L->conv_h[l], wo = L->conv_w[l];
        size_t pooled = B * f * L->pool_h[l] * L->pool_w[l];
        TAKE(net->conv_act[l], float, B *f *ho *wo);
        TAKE(net->pool_idx[l], int32_t, pooled);
        TAKE(net->pool_out[l], float, pooled);
        TAKE(net->d_conv[l], float, pooled);
        int in_h = l ? L->pool_h[l - 1] : a->in_h, in_w = l ? L->pool_w[l - 1] : a->in_w;
        size_t s = ms_conv_backward_partial_floats_gpu(net->max_b, L->conv_in_c[l], in_h, in_w,
                                                       a->conv_c[l], a->conv_k, a->conv_pad);
        if (s > scratch) scratch = s;
    }
    for (int l = 0; l < a->n_fc; l++) {
        TAKE(net->fc_act[l], float, B * a->fc_out[l]);
        TAKE(net->d_fc[l], float, B * a->fc_out[l]);
    }
    TAKE(net->d_in0, float, B * L->fc_in[0]);
    TAKE(net->scratch, float, scratch);
    TAKE(net->bx, float, B *D);
    TAKE(net->by, uint8_t, B);
    TAKE(net->pred, uint8_t, B);
    TAKE(net->loss, double, 2);
    TAKE(net->counts, int32_t, 2 * MS_MAX_CLASSES);
#undef TAKE
    return off;
}

int ms_gpu_net_init(ms_gpu_net_t *net, const ms_arch_t *arch, int max_b) {
    memset(net, 0, sizeof *net);
    int rc = ms_layout_init(&net->L, arch);
    if (rc) return rc;
    if (max_b < 1) return ms_err_set(MS_EINVAL, "GPU network: batch size %d", max_b);
    net->max_b = max_b;
    const size_t bytes = carve(net, NULL);
    rc = ms_gpu_alloc(&net->mem, bytes);
    if (rc) {
        memset(net, 0, sizeof *net);
        return ms_err_wrap(rc, "GPU network: ");
    }
    carve(net, net->mem);
    return 0;
}

void ms_gpu_net_free(ms_gpu_net_t *net) {
    ms_gpu_free(net->mem);
    memset(net, 0, sizeof *net);
}

void ms_net_forward_gpu(ms_gpu_net_t *net, const float *params, const float *x, int B,
                        const ms_dropout_t *drop) {
    const ms_layout_t *L = &net->L;
    const ms_arch_t *a = &L->arch;
    const float *in = x;
    int c = a->in_c, h = a->in_h, w = a->in_w;
    for (int l = 0; l < a->n_conv; l++) {
        const float *wt = params + L->t[L->conv_weight[l]].off;
        const float *bt = L->conv_bias_t[l] >= 0 ? params + L->t[L->conv_bias_t[l]].off : NULL;
        ms_conv_relu_pool_forward_gpu(net->conv_act[l], net->pool_out[l], net->pool_idx[l], in, wt,
                                      bt, B, c, h, w, a->conv_c[l], a->conv_k, a->conv_pad, NULL);
        in = net->pool_out[l];
        c = a->conv_c[l];
        h = L->pool_h[l];
        w = L->pool_w[l];
    }
    net->fc_in0 = in;
    uint64_t base = 0;
    for (int l = 0; l < a->n_fc; l++) {
        const int O = a->fc_out[l], NI = L->fc_in[l];
        const float *wt = params + L->t[L->fc_weight[l]].off;
        const float *bt = L->fc_bias_t[l] >= 0 ? params + L->t[L->fc_bias_t[l]].off : NULL;
        ms_linear_forward_gpu(net->fc_act[l], in, wt, bt, B, NI, O);
        if (l < a->n_fc - 1) {
            float p = drop ? a->dropout : 0.0f;
            ms_relu_dropout_forward_gpu(net->fc_act[l], B, O, p, drop ? drop->seed : 0,
                                        drop ? drop->step : 0, base);
            base += (uint64_t)B * O;
        }
        in = net->fc_act[l];
    }
    net->last_b = B;
    net->dropout_active = drop != NULL && a->dropout > 0.0f;
}

void ms_net_ce_loss_gpu(ms_gpu_net_t *net, const uint8_t *y, int B, double *loss) {
    const ms_arch_t *a = &net->L.arch;
    const int nf = a->n_fc;
    ms_ce_loss_gpu(loss, net->fc_act[nf - 1], y, B, a->fc_out[nf - 1], net->d_fc[nf - 1], NULL);
}

void ms_net_backward_gpu(ms_gpu_net_t *net, const float *params, const float *x, int B,
                         float *grad) {
    const ms_layout_t *L = &net->L;
    const ms_arch_t *a = &L->arch;
    const float p = net->dropout_active ? a->dropout : 0.0f;
    for (int l = a->n_fc - 1; l >= 0; l--) {
        const int O = a->fc_out[l], NI = L->fc_in[l];
        const float *in = l ? net->fc_act[l - 1] : net->fc_in0;
        const float *wt = params + L->t[L->fc_weight[l]].off;
        float *dw = grad + L->t[L->fc_weight[l]].off;
        float *db = L->fc_bias_t[l] >= 0 ? grad + L->t[L->fc_bias_t[l]].off : NULL;
        float *dx = l ? net->d_fc[l - 1] : (a->n_conv ? net->d_in0 : NULL);
        ms_linear_backward_gpu(dx, dw, db, net->d_fc[l], in, wt, B, NI, O);
        if (l)
            ms_relu_dropout_backward_gpu(net->d_fc[l - 1], net->fc_act[l - 1], B * L->fc_in[l], p);
    }
    const float *dpooled = net->d_in0;
    for (int l = a->n_conv - 1; l >= 0; l--) {
        const int C = L->conv_in_c[l];
        const int H = l ? L->pool_h[l - 1] : a->in_h, W = l ? L->pool_w[l - 1] : a->in_w;
        const float *in = l ? net->pool_out[l - 1] : x;
        const float *wt = params + L->t[L->conv_weight[l]].off;
        float *dw = grad + L->t[L->conv_weight[l]].off;
        float *db = L->conv_bias_t[l] >= 0 ? grad + L->t[L->conv_bias_t[l]].off : NULL;
        float *dx = l ? net->d_conv[l - 1] : NULL;
        ms_conv_relu_pool_backward_gpu(dx, dw, db, dpooled, net->conv_act[l], net->pool_idx[l], in,
                                       wt, B, C, H, W, a->conv_c[l], a->conv_k, a->conv_pad,
                                       net->scratch);
        dpooled = dx;
    }
}

void ms_net_argmax_gpu(const ms_gpu_net_t *net, int B, uint8_t *pred) {
    const ms_arch_t *a = &net->L.arch;
    ms_argmax_gpu(pred, net->fc_act[a->n_fc - 1], B, a->fc_out[a->n_fc - 1]);
}

double ms_evaluate_gpu(ms_gpu_net_t *net, const float *params, const ms_gpu_split_t *split,
                       int label_only, double classwise[MS_MAX_CLASSES], double *mean_loss) {
    const ms_arch_t *a = &net->L.arch;
    const size_t D = split->D;
    const int B = net->max_b;
    ms_gpu_zero(net->counts, sizeof(int32_t) * 2 * MS_MAX_CLASSES);
    ms_gpu_zero(net->loss, sizeof(double) * 2);
    int first = 0, n = split->n;
    if (label_only >= 0) {
        first = split->class_off[label_only];
        n = split->class_off[label_only + 1] - first;
    }
    for (int b0 = 0; b0 < n; b0 += B) {
        const int nb = n - b0 < B ? n - b0 : B;
        const float *x;
        const uint8_t *y;
        if (label_only >= 0) {
            ms__gpu_gather(net->bx, net->by, split->x, split->y, split->by_class + first + b0, nb,
                           D);
            x = net->bx;
            y = net->by;
        } else {
            x = split->x + (size_t)b0 * D;
            y = split->y + b0;
        }
        ms_net_forward_gpu(net, params, x, nb, NULL);
        if (mean_loss) {
            ms_ce_loss_gpu(net->loss, net->fc_act[a->n_fc - 1], y, nb, a->fc_out[a->n_fc - 1], NULL,
                           NULL);
            ms__gpu_acc_loss(net->loss, nb);
        }
        ms_net_argmax_gpu(net, nb, net->pred);
        ms__gpu_count(net->counts, net->pred, y, nb);
    }
    int32_t cnt[2 * MS_MAX_CLASSES];
    double loss[2];
    ms_gpu_d2h(cnt, net->counts, sizeof cnt);
    ms_gpu_d2h(loss, net->loss, sizeof loss);
    long c_all = 0, t_all = 0;
    for (int c = 0; c < MS_MAX_CLASSES; c++) {
        const long correct = cnt[c], total = cnt[MS_MAX_CLASSES + c];
        c_all += correct;
        t_all += total;
        if (classwise) classwise[c] = total ? (double)correct / total : NAN;
    }
    if (mean_loss) *mean_loss = t_all ? loss[1] / t_all : NAN;
    return t_all ? (double)c_all / t_all : NAN;
}

#endif
