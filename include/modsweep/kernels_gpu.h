/* The GPU twins of the kernels of kernels.h, and the GPU kernels of the
 * clusterability regulariser and the gradient similarity.
 *
 * Each function has the name of its CPU reference with a `_gpu` suffix and
 * the same arguments (its type, ms_<kernel>_fn of kernels.h), on device
 * pointers of the GPU bound by ms_gpu_init (gpu.h); the work is queued on
 * that GPU's stream in call order, and no function waits for the GPU or
 * copies to the host. Differences from the CPU signatures are stated where
 * they occur (values the CPU returns stay on the device). All results are
 * deterministic: no floating-point atomics, fixed reduction orders, cuBLAS
 * in its deterministic default mode. They agree with the CPU reference
 * within rounding (tests/test_cuda_kernels.c), except the ReLU/dropout
 * masks, which are the same bits (philox.h).
 *
 * Dimension letters as in kernels.h: B batch, C input channels, H W input
 * size, F filters, K kernel side, P padding, O fc outputs, NI fc inputs,
 * NC classes. */
#ifndef MODSWEEP_KERNELS_GPU_H
#define MODSWEEP_KERNELS_GPU_H

#include <stddef.h>
#include <stdint.h>

#include "modsweep/kernels.h"

/* z (B, O) = x (B, NI) . w (O, NI)^T + b (O) (b may be NULL); cuBLAS. */
ms_linear_forward_fn ms_linear_forward_gpu;

/* dw (O, NI) = dz^T x, db (O) = column sums of dz (NULL to skip), dx (B, NI)
 * = dz w (NULL to skip); cuBLAS. */
ms_linear_backward_fn ms_linear_backward_gpu;

/* In place ReLU then dropout with the CPU's Philox draws (the same mask). */
ms_relu_dropout_forward_fn ms_relu_dropout_forward_gpu;
ms_relu_dropout_backward_fn ms_relu_dropout_backward_gpu;

/* Conv block forward; scratch is unused on the GPU (may be NULL). */
ms_conv_relu_pool_forward_fn ms_conv_relu_pool_forward_gpu;

/* Conv block backward; partial: at least
 * ms_conv_backward_partial_floats_gpu(...) floats of device scratch. */
ms_conv_relu_pool_backward_fn ms_conv_relu_pool_backward_gpu;
ms_conv_backward_partial_floats_fn ms_conv_backward_partial_floats_gpu;

/* Mean cross-entropy, accumulated in double, written to *loss (device; the
 * CPU returns it) instead of returned; NaN when a logit is not finite.
 * dlogits and per_sample (device) may be NULL. y: device labels. */
void ms_ce_loss_gpu(double *loss, const float *logits, const uint8_t *y, int B, int NC,
                    float *dlogits, double *per_sample);

/* PyTorch SGD and Adam (the scalar factors are computed on the host from t). */
ms_sgd_step_fn ms_sgd_step_gpu;
ms_adam_step_fn ms_adam_step_gpu;

/* ---- GPU kernels without a twin in kernels.h ----------------------------------------- */

/* pred[i] = the first class of maximal logit of sample i (ms_net_argmax). */
void ms_argmax_gpu(uint8_t *pred, const float *logits, int B, int NC);

/* grad += l1 * sign(p) + 2 * l2 * p over n weights (ms_params_penalty's
 * gradient for one tensor). */
void ms_penalty_grad_gpu(float *grad, const float *p, size_t n, float l1, float l2);

/* Clusterability of W (O, NI) for the partition given by row_c (O) and col_c
 * (NI) (weight (i, j) lies inside a block iff row_c[i] == col_c[j]):
 * f = sum_inside W^2 / sum W^2, both sums in double. Writes f to *clust
 * (device float, may be NULL) and, when lambda != 0, adds the gradient of
 * -lambda * f to grad: grad += -lambda * 2 W (m - f) / sum W^2 (m = 1 inside
 * a block). A zero W gives f = 0 and no gradient. */
void ms_clusterability_grad_gpu(float *clust, float *grad, const float *w, const int32_t *row_c,
                                const int32_t *col_c, int O, int NI, float lambda);

/* Streaming gradient similarity: S (NI, NI) += g^T g / ||g||_F^2 for the
 * gradient g (O, NI) of one step (nothing for a zero gradient), normalised
 * and accumulated in double as the CPU's ms_gradsim_add (cluster.h).
 * scratch: O * NI doubles of device memory. */
void ms_gradsim_accumulate_gpu(double *S, const float *g, int O, int NI, double *scratch);

/* ---- helpers of the GPU network and trainer (src/gpu/nn_gpu.c, src/gpu/train_gpu.c) ----------- */

/* bx (B, D) and by (B) = images and labels idx[0..B) of (x, y). */
void ms__gpu_gather(float *bx, uint8_t *by, const float *x, const uint8_t *y, const int32_t *idx,
                    int B, size_t D);
/* counts[y[i]] += pred[i] == y[i]; counts[10 + y[i]] += 1 (integer atomics). */
void ms__gpu_count(int32_t *counts, const uint8_t *pred, const uint8_t *y, int B);
/* loss[1] += loss[0] * nb (one thread, in call order). */
void ms__gpu_acc_loss(double *loss, int nb);
/* p[0..n) = v. */
void ms__gpu_fill_f32(float *p, size_t n, float v);
void ms__gpu_fill_f64(double *p, size_t n, double v);
void ms__gpu_fill_i32(int32_t *p, size_t n, int32_t v);
/* *flag = min(*flag, tensor) when buf[0..n) holds a NaN or Inf. */
void ms__gpu_nonfinite(int32_t *flag, const float *buf, size_t n, int32_t tensor);

#endif
