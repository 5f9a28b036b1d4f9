/* The hot operations of training and evaluation, one function per kernel.
 *
 * These CPU functions are the reference: the CUDA backend (cuda/) provides
 * the same names with a `_gpu` suffix and the same arguments on device
 * pointers, and tests/test_cuda_kernels.c checks each pair. Each kernel's
 * type is written once (ms_<kernel>_fn) and declares its CPU function, its
 * GPU twin (kernels_gpu.h) and the tables that hold either (nn.h's
 * ms_net_ops_t, the instruction-set paths' table). All are
 * deterministic and independent of the thread count: work is split into
 * fixed units (chunks of MS_CHUNK rows, or the fc layers' fixed tiles of
 * rows and outputs or of columns) whose results never depend on which
 * thread computes them, and reductions combine chunk results in chunk order.
 *
 * Dimension letters: B batch, C input channels, H W input height and width,
 * F output channels (filters), K kernel side, P padding, O fc outputs, NI fc
 * inputs (not `I`: <complex.h>, pulled in by cblas.h, defines I). */
#ifndef MODSWEEP_KERNELS_H
#define MODSWEEP_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#include "modsweep/hd.h"

/* Rows of a batch handled as one unit of parallel work. */
#define MS_CHUNK 16

/* Threads used by the kernels of this process (>= 1); results do not depend on it. */
void ms_kernels_set_threads(int threads);
int ms_kernels_threads(void);

/* z (B, O) = x (B, NI) . w (O, NI)^T + b (O) (b may be NULL). */
typedef void ms_linear_forward_fn(float *z, const float *x, const float *w, const float *b, int B,
                                  int NI, int O);
ms_linear_forward_fn ms_linear_forward;

/* Gradients of a linear layer from dz (B, O): dw (O, NI) = dz^T x,
 * db (O) = column sums of dz (NULL to skip), dx (B, NI) = dz w (NULL to skip). */
typedef void ms_linear_backward_fn(float *dx, float *dw, float *db, const float *dz, const float *x,
                                   const float *w, int B, int NI, int O);
ms_linear_backward_fn ms_linear_backward;

/* In place: a = ReLU(a), then dropout when drop_p > 0: element e (0 <= e < B*O)
 * is kept iff ms_rng_float_at(seed, MS_RNG_DROPOUT, step, base + e) >= drop_p
 * and kept values are scaled by 1 / (1 - drop_p). */
typedef void ms_relu_dropout_forward_fn(float *a, int B, int O, float drop_p, uint64_t seed,
                                        uint32_t step, uint64_t base);
ms_relu_dropout_forward_fn ms_relu_dropout_forward;

/* In place: d *= (a > 0) * scale, where a is the forward output of
 * ms_relu_dropout_forward and scale = 1 / (1 - drop_p). */
typedef void ms_relu_dropout_backward_fn(float *d, const float *a, int n, float drop_p);
ms_relu_dropout_backward_fn ms_relu_dropout_backward;

/* Conv block forward: act (B, F, HO, WO) = ReLU(conv(x, w, b)) with
 * HO = H + 2P - K + 1, then maxpool 2x2 stride 2: pooled (B, F, HO/2, WO/2)
 * and idx, where each window's maximum is: q = 2 dy + dx for the output
 * (2 py + dy, 2 px + dx) of window (py, px), the first maximum in
 * row-major window order on ties, as PyTorch (one byte per window: a
 * quarter of what the offsets inside the (HO, WO) plane took). act may be NULL
 * on the CPU: the activations are then not stored (pooled and idx are the
 * same; the CPU backward reads only those).
 * scratch: at least ms_conv_scratch_floats(C, H, W, F, K, P) floats per thread. */
/* The offset in its (HO, WO) plane of the maximum of window (py, px) whose
 * place is q (idx above): on the CPU and the GPU. */
MS_HD static inline int ms_pool_offset(int py, int px, int q, int WO) {
    return (2 * py + (q >> 1)) * WO + 2 * px + (q & 1);
}

typedef void ms_conv_relu_pool_forward_fn(float *act, float *pooled, uint8_t *idx, const float *x,
                                          const float *w, const float *b, int B, int C, int H,
                                          int W, int F, int K, int P, float *scratch);
ms_conv_relu_pool_forward_fn ms_conv_relu_pool_forward;
size_t ms_conv_scratch_floats(int C, int H, int W, int F, int K, int P);

/* Conv block backward from dpooled (B, F, HO/2, WO/2): the gradient reaches
 * the conv pre-activation only at each window's maximum and only where the
 * ReLU is active. act, pooled and idx are the forward's. Overwrites dw
 * (F, C, K, K), db (F) (may be NULL), and dx (B, C, H, W) (may be NULL for
 * the first layer). partial: scratch of at least
 * ms_conv_backward_partial_floats(B, C, H, W, F, K, P) floats. */
typedef void ms_conv_relu_pool_backward_fn(float *dx, float *dw, float *db, const float *dpooled,
                                           const float *act, const float *pooled,
                                           const uint8_t *idx, const float *x,
                                           const float *w, int B, int C, int H, int W, int F,
                                           int K, int P, float *partial);
typedef size_t ms_conv_backward_partial_floats_fn(int B, int C, int H, int W, int F, int K, int P);
ms_conv_relu_pool_backward_fn ms_conv_relu_pool_backward;
ms_conv_backward_partial_floats_fn ms_conv_backward_partial_floats;

/* Mean cross-entropy of logits (B, NC) against y, accumulated in double.
 * dlogits (may be NULL) receives (softmax - onehot) / B; per_sample (may be
 * NULL) each sample's loss. Returns NaN if any logit is not finite. */
typedef double ms_ce_loss_fn(const float *logits, const uint8_t *y, int B, int NC, float *dlogits,
                             double *per_sample);
ms_ce_loss_fn ms_ce_loss;

/* PyTorch SGD (momentum >= 0; buf is the momentum buffer, zero at step 1)
 * and Adam (m, v moments; t = step number starting at 1). */
typedef void ms_sgd_step_fn(float *p, const float *g, float *buf, size_t n, float lr,
                            float momentum, long t);
typedef void ms_adam_step_fn(float *p, const float *g, float *m, float *v, size_t n, float lr,
                             float beta1, float beta2, float eps, long t);
ms_sgd_step_fn ms_sgd_step;
ms_adam_step_fn ms_adam_step;

#endif
