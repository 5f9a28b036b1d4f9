/* The GPU network and evaluation (gpu.h): nn.c's network walk with the GPU's
 * kernels (kernels_gpu.h) on device buffers, and train.c's ms_evaluate on
 * the device. This file holds only what differs from the CPU: the kernel
 * table, the device allocation with the evaluation buffers, the loss and
 * argmax that keep their results on the device, and the evaluation loop.
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

/* The GPU's conv forward needs no scratch: it gets NULL, as it always has. */
static void gpu_conv_forward(float *act, float *pooled, uint8_t *idx, const float *x,
                             const float *w, const float *b, int B, int C, int H, int W, int F,
                             int K, int P, float *scratch) {
    (void)scratch;
    ms_conv_relu_pool_forward_gpu(act, pooled, idx, x, w, b, B, C, H, W, F, K, P, NULL);
}

/* Device scratch of one conv block: the backward pass's partial sums. */
static size_t gpu_conv_scratch(const ms_net_t *net, int C, int H, int W, int F, int K, int P) {
    return ms_conv_backward_partial_floats_gpu(net->max_b, C, H, W, F, K, P);
}

static const ms_net_ops_t gpu_ops = {.align = 256,
                                     .scratch_min = 1,
                                     .conv_scratch = gpu_conv_scratch,
                                     .conv_forward = gpu_conv_forward,
                                     .conv_backward = ms_conv_relu_pool_backward_gpu,
                                     .linear_forward = ms_linear_forward_gpu,
                                     .linear_backward = ms_linear_backward_gpu,
                                     .relu_dropout_forward = ms_relu_dropout_forward_gpu,
                                     .relu_dropout_backward = ms_relu_dropout_backward_gpu};

/* Lays out (or, with base == NULL, only counts) the network's buffers
 * (ms_net_carve) and then the evaluation buffers inside one device
 * allocation; returns its size in bytes. */
static size_t carve(ms_gpu_net_t *g, char *base) {
    const ms_arch_t *a = &g->net.L.arch;
    const size_t B = (size_t)g->net.max_b, D = (size_t)a->in_c * a->in_h * a->in_w;
    size_t off = ms_net_carve(&g->net, base);
#define TAKE(ptr, type, count)                                                                     \
    ((ptr) = (type *)ms_net_take(base, &off, (size_t)(count), sizeof(type), gpu_ops.align))
    TAKE(g->bx, float, B * D);
    TAKE(g->by, uint8_t, B);
    TAKE(g->pred, uint8_t, B);
    TAKE(g->loss, double, 2);
    TAKE(g->counts, int32_t, 2 * MS_MAX_CLASSES);
#undef TAKE
    return off;
}

int ms_gpu_net_init(ms_gpu_net_t *net, const ms_arch_t *arch, int max_b) {
    memset(net, 0, sizeof *net);
    int rc = ms_net_prepare(&net->net, arch, max_b, 1, &gpu_ops);
    if (rc) return rc;
    const size_t bytes = carve(net, NULL);
    void *mem = NULL;
    rc = ms_gpu_alloc(&mem, bytes);
    if (rc) {
        memset(net, 0, sizeof *net);
        return ms_err_wrap(rc, "GPU network: ");
    }
    net->net.mem = mem;
    carve(net, mem);
    return 0;
}

void ms_gpu_net_free(ms_gpu_net_t *net) {
    ms_gpu_free(net->net.mem);
    memset(net, 0, sizeof *net);
}

void ms_net_forward_gpu(ms_gpu_net_t *net, const float *params, const float *x, int B,
                        const ms_dropout_t *drop) {
    ms_net_forward(&net->net, params, x, B, drop);
}

void ms_net_ce_loss_gpu(ms_gpu_net_t *net, const uint8_t *y, int B, double *loss) {
    const ms_arch_t *a = &net->net.L.arch;
    const int nf = a->n_fc;
    ms_ce_loss_gpu(loss, net->net.fc_act[nf - 1], y, B, a->fc_out[nf - 1], net->net.d_fc[nf - 1],
                   NULL);
}

void ms_net_backward_gpu(ms_gpu_net_t *net, const float *params, const float *x, int B,
                         float *grad) {
    ms_net_backward(&net->net, params, x, B, grad);
}

void ms_net_argmax_gpu(const ms_gpu_net_t *net, int B, uint8_t *pred) {
    const ms_arch_t *a = &net->net.L.arch;
    ms_argmax_gpu(pred, net->net.fc_act[a->n_fc - 1], B, a->fc_out[a->n_fc - 1]);
}

double ms_evaluate_gpu(ms_gpu_net_t *net, const float *params, const ms_gpu_split_t *split,
                       int label_only, double classwise[MS_MAX_CLASSES], double *mean_loss) {
    const ms_arch_t *a = &net->net.L.arch;
    const size_t D = split->D;
    const int B = net->net.max_b;
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
            ms_ce_loss_gpu(net->loss, net->net.fc_act[a->n_fc - 1], y, nb, a->fc_out[a->n_fc - 1],
                           NULL, NULL);
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
