/* GPU kernels of training and evaluation (kernels_gpu.h), the twins of the
 * CPU reference in src/core/kernels.c.
 *
 * Simple, deterministic kernels: one thread per output element wherever the
 * element's sum can be computed alone (in the CPU's order of terms), and for
 * the few sums over a whole batch one block per output with a fixed
 * per-thread order and a fixed tree in shared memory. Fully connected layers
 * go through cuBLAS SGEMM; PyTorch's row-major (B, O) matrices are column-
 * major (O, B) matrices to cuBLAS, which fixes the transposes below.
 *
 * Dimension letters: B batch, C input channels, H W input size, F filters,
 * K kernel side, P padding, HO WO conv output size, PH PW pooled size, O fc
 * outputs, NI fc inputs, NC classes. */
#include "common.cuh"

extern "C" {
#include "modsweep/philox.h"
#include "modsweep/rng.h"
}

#include <float.h>
#include <math.h>

#define THREADS MS_GPU_THREADS

/* Grid-stride loop over [0, n). */
#define FOR_EACH(e, n)                                                                             \
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < (size_t)(n);                \
         e += (size_t)blockDim.x * gridDim.x)

/* ---- fully connected layers --------------------------------------------------------------- */

__global__ static void add_bias_kernel(float *z, const float *b, int B, int O) {
    FOR_EACH(e, (size_t)B * O) z[e] = z[e] + b[e % O];
}

extern "C" void ms_linear_forward_gpu(float *z, const float *x, const float *w, const float *b,
                                      int B, int NI, int O) {
    MS_GPU_NEED_CTX();
    const float one = 1.0f, zero = 0.0f;
    /* Column-major: z^T (O x B) = (w^T)^T (O x NI) . x^T (NI x B). */
    cublasCheck(cublasSgemm(ms__gpu.cublas, CUBLAS_OP_T, CUBLAS_OP_N, O, B, NI, &one, w, NI, x,
                            NI, &zero, z, O));
    if (b) {
        add_bias_kernel<<<ms__blocks((size_t)B * O, THREADS), THREADS, 0, ms__gpu.stream>>>(z, b,
                                                                                            B, O);
        MS_GPU_LAUNCHED();
    }
}

/* db[o] = sum over rows r (ascending) of dz[r][o]. */
__global__ static void column_sums_kernel(float *db, const float *dz, int B, int O) {
    FOR_EACH(o, O) {
        float s = 0.0f;
        for (int r = 0; r < B; r++) s = s + dz[(size_t)r * O + o];
        db[o] = s;
    }
}

extern "C" void ms_linear_backward_gpu(float *dx, float *dw, float *db, const float *dz,
                                       const float *x, const float *w, int B, int NI, int O) {
    MS_GPU_NEED_CTX();
    const float one = 1.0f, zero = 0.0f;
    /* Column-major: dw^T (NI x O) = x^T (NI x B) . (dz^T)^T (B x O). */
    cublasCheck(cublasSgemm(ms__gpu.cublas, CUBLAS_OP_N, CUBLAS_OP_T, NI, O, B, &one, x, NI, dz,
                            O, &zero, dw, NI));
    if (db) {
        column_sums_kernel<<<ms__blocks(O, THREADS), THREADS, 0, ms__gpu.stream>>>(db, dz, B, O);
        MS_GPU_LAUNCHED();
    }
    /* Column-major: dx^T (NI x B) = w^T (NI x O) . dz^T (O x B). */
    if (dx)
        cublasCheck(cublasSgemm(ms__gpu.cublas, CUBLAS_OP_N, CUBLAS_OP_N, NI, B, O, &one, w, NI,
                                dz, O, &zero, dx, NI));
}

/* ---- ReLU and dropout ------------------------------------------------------------------------ */

__global__ static void relu_kernel(float *a, size_t n) {
    FOR_EACH(e, n) a[e] = a[e] > 0.0f ? a[e] : 0.0f;
}

__global__ static void relu_dropout_kernel(float *a, size_t n, float drop_p, float scale,
                                           uint64_t seed, uint32_t step, uint64_t base) {
    FOR_EACH(e, n) {
        const float u = ms_philox_float_at(seed, MS_RNG_DROPOUT, step, base + e);
        const int keep = u >= drop_p;
        a[e] = a[e] > 0.0f && keep ? a[e] * scale : 0.0f;
    }
}

extern "C" void ms_relu_dropout_forward_gpu(float *a, int B, int O, float drop_p, uint64_t seed,
                                            uint32_t step, uint64_t base) {
    MS_GPU_NEED_CTX();
    const size_t n = (size_t)B * O;
    if (drop_p <= 0.0f) {
        relu_kernel<<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(a, n);
    } else {
        const float scale = 1.0f / (1.0f - drop_p);
        relu_dropout_kernel<<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(
            a, n, drop_p, scale, seed, step, base);
    }
    MS_GPU_LAUNCHED();
}

__global__ static void relu_dropout_backward_kernel(float *d, const float *a, int n, float scale,
                                                    int scaled) {
    FOR_EACH(e, n) {
        if (scaled)
            d[e] = a[e] > 0.0f ? d[e] * scale : 0.0f;
        else
            d[e] = a[e] > 0.0f ? d[e] : 0.0f;
    }
}

extern "C" void ms_relu_dropout_backward_gpu(float *d, const float *a, int n, float drop_p) {
    MS_GPU_NEED_CTX();
    const float scale = drop_p > 0.0f ? 1.0f / (1.0f - drop_p) : 1.0f;
    relu_dropout_backward_kernel<<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(
        d, a, n, scale, drop_p > 0.0f);
    MS_GPU_LAUNCHED();
}

/* ---- conv blocks ----------------------------------------------------------------------------- */

/* act (B, F, HO, WO) = ReLU(bias + taps (c, ky, kx) ascending), one thread per
 * output; taps outside the image are skipped (they add zero on the CPU). */
__global__ static void conv_relu_kernel(float *act, const float *x, const float *w, const float *b,
                                        int B, int C, int H, int W, int F, int K, int P, int HO,
                                        int WO) {
    FOR_EACH(e, (size_t)B * F * HO * WO) {
        const int xo = (int)(e % WO), y = (int)((e / WO) % HO);
        const int f = (int)((e / ((size_t)WO * HO)) % F);
        const size_t i = e / ((size_t)WO * HO * F);
        const float *xi = x + i * C * H * W;
        const float *wf = w + (size_t)f * C * K * K;
        float acc = b ? b[f] : 0.0f;
        for (int c = 0; c < C; c++)
            for (int ky = 0; ky < K; ky++) {
                const int yy = y + ky - P;
                if (yy < 0 || yy >= H) continue;
                for (int kx = 0; kx < K; kx++) {
                    const int xx = xo + kx - P;
                    if (xx < 0 || xx >= W) continue;
                    acc = acc + wf[(c * K + ky) * K + kx] * xi[((size_t)c * H + yy) * W + xx];
                }
            }
        act[e] = acc > 0.0f ? acc : 0.0f;
    }
}

/* 2x2 max pooling: the first maximum in row-major window order, and its
 * place in the window (2 dy + dx). */
__global__ static void maxpool_kernel(float *pooled, uint8_t *idx, const float *act, int planes,
                                      int HO, int WO) {
    const int PH = HO / 2, PW = WO / 2;
    FOR_EACH(e, (size_t)planes * PH * PW) {
        const int px = (int)(e % PW), py = (int)((e / PW) % PH);
        const size_t plane = e / ((size_t)PW * PH);
        const float *a = act + plane * HO * WO;
        const int o00 = (2 * py) * WO + 2 * px;
        const int cand[3] = {o00 + 1, o00 + WO, o00 + WO + 1};
        int best = 0;
        float m = a[o00];
        for (int q = 0; q < 3; q++)
            if (a[cand[q]] > m) {
                m = a[cand[q]];
                best = q + 1;
            }
        pooled[e] = m;
        idx[e] = (uint8_t)best;
    }
}

extern "C" void ms_conv_relu_pool_forward_gpu(float *act, float *pooled, uint8_t *idx,
                                              const float *x, const float *w, const float *b,
                                              int B, int C, int H, int W, int F, int K, int P,
                                              float *scratch) {
    MS_GPU_NEED_CTX();
    (void)scratch;
    const int HO = H + 2 * P - K + 1, WO = W + 2 * P - K + 1;
    const size_t n = (size_t)B * F * HO * WO;
    conv_relu_kernel<<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(act, x, w, b, B, C, H,
                                                                            W, F, K, P, HO, WO);
    MS_GPU_LAUNCHED();
    const size_t np = (size_t)B * F * (HO / 2) * (WO / 2);
    maxpool_kernel<<<ms__blocks(np, THREADS), THREADS, 0, ms__gpu.stream>>>(pooled, idx, act, B * F,
                                                                           HO, WO);
    MS_GPU_LAUNCHED();
}

extern "C" size_t ms_conv_backward_partial_floats_gpu(int B, int C, int H, int W, int F, int K,
                                                      int P) {
    (void)C;
    return (size_t)B * F * (H + 2 * P - K + 1) * (W + 2 * P - K + 1);
}

/* The dense gradient w.r.t. the conv pre-activation (gmap zeroed before):
 * each window's gradient goes to its maximum when the ReLU is active. Windows
 * do not overlap, so no two threads write one element. */
__global__ static void unpool_kernel(float *gmap, const float *dpooled, const float *act,
                                     const uint8_t *idx, int planes, int HO, int WO) {
    const int PW = WO / 2, PQ = (HO / 2) * PW;
    FOR_EACH(e, (size_t)planes * PQ) {
        const size_t plane = e / PQ;
        const int py = (int)(e % PQ) / PW, px = (int)(e % PQ) % PW;
        const size_t o = plane * HO * WO + ms_pool_offset(py, px, idx[e], WO);
        if (act[o] > 0.0f) gmap[o] = dpooled[e];
    }
}

/* db[f]: one block per filter, the sum of gmap over images and positions. */
__global__ static void conv_db_kernel(float *db, const float *gmap, int B, int F, int HW) {
    __shared__ float sh[THREADS];
    const int f = blockIdx.x;
    float s = 0.0f;
    for (size_t e = threadIdx.x; e < (size_t)B * HW; e += THREADS) {
        const size_t i = e / HW, q = e % HW;
        s = s + gmap[(i * F + f) * HW + q];
    }
    s = ms__block_sum<float>(s, sh);
    if (threadIdx.x == 0) db[f] = s;
}

/* dw[f][c][ky][kx]: one block per weight, the sum over images and output
 * positions of gmap * input (zero outside the image). */
__global__ static void conv_dw_kernel(float *dw, const float *gmap, const float *x, int B, int C,
                                      int H, int W, int F, int K, int P, int HO, int WO) {
    __shared__ float sh[THREADS];
    const int wi = blockIdx.x;
    const int kx = wi % K, ky = (wi / K) % K, c = (wi / (K * K)) % C, f = wi / (K * K * C);
    const size_t HW = (size_t)HO * WO;
    float s = 0.0f;
    for (size_t e = threadIdx.x; e < (size_t)B * HW; e += THREADS) {
        const size_t i = e / HW;
        const int q = (int)(e % HW), y = q / WO, xo = q % WO;
        const int yy = y + ky - P, xx = xo + kx - P;
        if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
        const float g = gmap[(i * F + f) * HW + q];
        s = s + g * x[((i * C + c) * H + yy) * W + xx];
    }
    s = ms__block_sum<float>(s, sh);
    if (threadIdx.x == 0) dw[wi] = s;
}

/* dx[i][c][yy][xx] = sum over (f, ky, kx) of gmap[i][f][y][x] * w[f][c][ky][kx]
 * with y = yy + P - ky, x = xx + P - kx inside the conv output. */
__global__ static void conv_dx_kernel(float *dx, const float *gmap, const float *w, int B, int C,
                                      int H, int W, int F, int K, int P, int HO, int WO) {
    FOR_EACH(e, (size_t)B * C * H * W) {
        const int xx = (int)(e % W), yy = (int)((e / W) % H), c = (int)((e / ((size_t)W * H)) % C);
        const size_t i = e / ((size_t)W * H * C);
        float s = 0.0f;
        for (int f = 0; f < F; f++)
            for (int ky = 0; ky < K; ky++) {
                const int y = yy + P - ky;
                if (y < 0 || y >= HO) continue;
                for (int kx = 0; kx < K; kx++) {
                    const int xo = xx + P - kx;
                    if (xo < 0 || xo >= WO) continue;
                    s = s + gmap[((i * F + f) * HO + y) * WO + xo] *
                                w[(((size_t)f * C + c) * K + ky) * K + kx];
                }
            }
        dx[e] = s;
    }
}

extern "C" void ms_conv_relu_pool_backward_gpu(float *dx, float *dw, float *db,
                                               const float *dpooled, const float *act,
                                               const float *pooled, const uint8_t *idx,
                                               const float *x, const float *w,
                                               int B, int C, int H, int W, int F, int K, int P,
                                               float *partial) {
    MS_GPU_NEED_CTX();
    const int HO = H + 2 * P - K + 1, WO = W + 2 * P - K + 1;
    float *gmap = partial;
    cudaCheck(cudaMemsetAsync(gmap, 0, sizeof(float) * (size_t)B * F * HO * WO, ms__gpu.stream));
    const size_t np = (size_t)B * F * (HO / 2) * (WO / 2);
    unpool_kernel<<<ms__blocks(np, THREADS), THREADS, 0, ms__gpu.stream>>>(gmap, dpooled, act, idx,
                                                                          B * F, HO, WO);
    MS_GPU_LAUNCHED();
    if (db) {
        conv_db_kernel<<<F, THREADS, 0, ms__gpu.stream>>>(db, gmap, B, F, HO * WO);
        MS_GPU_LAUNCHED();
    }
    conv_dw_kernel<<<F * C * K * K, THREADS, 0, ms__gpu.stream>>>(dw, gmap, x, B, C, H, W, F, K, P,
                                                                  HO, WO);
    MS_GPU_LAUNCHED();
    if (dx) {
        const size_t n = (size_t)B * C * H * W;
        conv_dx_kernel<<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(dx, gmap, w, B, C, H,
                                                                              W, F, K, P, HO, WO);
        MS_GPU_LAUNCHED();
    }
}

/* ---- loss, argmax, optimisers ---------------------------------------------------------------- */

/* One block: each thread takes samples tid, tid + THREADS, ... and sums its
 * losses in that order; the block adds the threads' sums in a fixed tree. */
__global__ static void ce_loss_kernel(double *loss, const float *logits, const uint8_t *y, int B,
                                      int NC, float *dlogits, double *per_sample) {
    __shared__ double sh[THREADS];
    __shared__ int bad_any;
    if (threadIdx.x == 0) bad_any = 0;
    __syncthreads();
    double total = 0.0;
    int bad = 0;
    for (int i = threadIdx.x; i < B; i += THREADS) {
        const float *z = logits + (size_t)i * NC;
        double m = -DBL_MAX;
        int finite = 1;
        for (int c = 0; c < NC; c++) {
            finite &= isfinite(z[c]) ? 1 : 0;
            if ((double)z[c] > m) m = z[c];
        }
        if (!finite) {
            bad = 1;
            continue;
        }
        double s = 0.0;
        for (int c = 0; c < NC; c++) s = s + exp((double)z[c] - m);
        const double lse = m + log(s);
        const double li = lse - (double)z[y[i]];
        if (per_sample) per_sample[i] = li;
        total = total + li;
        if (dlogits)
            for (int c = 0; c < NC; c++) {
                const double p = exp((double)z[c] - lse);
                dlogits[(size_t)i * NC + c] = (float)((p - (c == y[i] ? 1.0 : 0.0)) / B);
            }
    }
    if (bad) atomicOr(&bad_any, 1);
    total = ms__block_sum<double>(total, sh);
    if (threadIdx.x == 0) *loss = bad_any ? (double)NAN : total / B;
}

extern "C" void ms_ce_loss_gpu(double *loss, const float *logits, const uint8_t *y, int B, int NC,
                               float *dlogits, double *per_sample) {
    MS_GPU_NEED_CTX();
    ce_loss_kernel<<<1, THREADS, 0, ms__gpu.stream>>>(loss, logits, y, B, NC, dlogits, per_sample);
    MS_GPU_LAUNCHED();
}

__global__ static void argmax_kernel(uint8_t *pred, const float *logits, int B, int NC) {
    FOR_EACH(i, B) {
        const float *z = logits + i * NC;
        int best = 0;
        for (int c = 1; c < NC; c++)
            if (z[c] > z[best]) best = c;
        pred[i] = (uint8_t)best;
    }
}

extern "C" void ms_argmax_gpu(uint8_t *pred, const float *logits, int B, int NC) {
    MS_GPU_NEED_CTX();
    argmax_kernel<<<ms__blocks(B, THREADS), THREADS, 0, ms__gpu.stream>>>(pred, logits, B, NC);
    MS_GPU_LAUNCHED();
}

__global__ static void penalty_kernel(float *g, const float *p, size_t n, float l1, float l2) {
    FOR_EACH(j, n) {
        const float sign = p[j] > 0.0f ? 1.0f : (p[j] < 0.0f ? -1.0f : 0.0f);
        g[j] = g[j] + (l1 * sign + 2.0f * l2 * p[j]);
    }
}

extern "C" void ms_penalty_grad_gpu(float *grad, const float *p, size_t n, float l1, float l2) {
    MS_GPU_NEED_CTX();
    if (l1 == 0.0f && l2 == 0.0f) return;
    penalty_kernel<<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(grad, p, n, l1, l2);
    MS_GPU_LAUNCHED();
}

__global__ static void sgd_kernel(float *p, const float *g, float *buf, size_t n, float lr,
                                  float momentum, int first) {
    FOR_EACH(j, n) {
        if (momentum == 0.0f) {
            p[j] = p[j] - lr * g[j];
        } else {
            buf[j] = first ? g[j] : momentum * buf[j] + g[j];
            p[j] = p[j] - lr * buf[j];
        }
    }
}

extern "C" void ms_sgd_step_gpu(float *p, const float *g, float *buf, size_t n, float lr,
                                float momentum, long t) {
    MS_GPU_NEED_CTX();
    sgd_kernel<<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(p, g, buf, n, lr, momentum,
                                                                      t == 1);
    MS_GPU_LAUNCHED();
}

__global__ static void adam_kernel(float *p, const float *g, float *m, float *v, size_t n,
                                   float beta1, float beta2, float a1, float a2, float eps,
                                   float step_size, float bc2_sqrt) {
    FOR_EACH(j, n) {
        const float gj = g[j];
        const float mj = m[j] * beta1 + a1 * gj;
        const float vj = v[j] * beta2 + a2 * gj * gj;
        m[j] = mj;
        v[j] = vj;
        const float denom = sqrtf(vj) / bc2_sqrt + eps;
        p[j] = p[j] - step_size * (mj / denom);
    }
}

extern "C" void ms_adam_step_gpu(float *p, const float *g, float *m, float *v, size_t n, float lr,
                                 float beta1, float beta2, float eps, long t) {
    MS_GPU_NEED_CTX();
    /* As ms_adam_step: the scalars in double, used in float. */
    const double bc1 = 1.0 - pow((double)beta1, (double)t);
    const double bc2 = 1.0 - pow((double)beta2, (double)t);
    const float step_size = (float)((double)lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float a1 = (float)(1.0 - (double)beta1), a2 = (float)(1.0 - (double)beta2);
    adam_kernel<<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(
        p, g, m, v, n, beta1, beta2, a1, a2, eps, step_size, bc2_sqrt);
    MS_GPU_LAUNCHED();
}

/* ---- helpers of the GPU network and trainer -------------------------------------------------- */

__global__ static void gather_kernel(float *bx, uint8_t *by, const float *x, const uint8_t *y,
                                     const int32_t *idx, int B, size_t D) {
    FOR_EACH(e, (size_t)B * D) {
        const size_t i = e / D, k = e % D;
        const size_t src = (size_t)idx[i];
        bx[e] = x[src * D + k];
        if (k == 0) by[i] = y[src];
    }
}

extern "C" void ms__gpu_gather(float *bx, uint8_t *by, const float *x, const uint8_t *y,
                               const int32_t *idx, int B, size_t D) {
    MS_GPU_NEED_CTX();
    gather_kernel<<<ms__blocks((size_t)B * D, THREADS), THREADS, 0, ms__gpu.stream>>>(bx, by, x, y,
                                                                                     idx, B, D);
    MS_GPU_LAUNCHED();
}

__global__ static void count_kernel(int32_t *counts, const uint8_t *pred, const uint8_t *y, int B) {
    FOR_EACH(i, B) {
        if (pred[i] == y[i]) atomicAdd(&counts[y[i]], 1);
        atomicAdd(&counts[10 + y[i]], 1);
    }
}

extern "C" void ms__gpu_count(int32_t *counts, const uint8_t *pred, const uint8_t *y, int B) {
    MS_GPU_NEED_CTX();
    count_kernel<<<ms__blocks(B, THREADS), THREADS, 0, ms__gpu.stream>>>(counts, pred, y, B);
    MS_GPU_LAUNCHED();
}

__global__ static void acc_loss_kernel(double *loss, int nb) {
    if (blockIdx.x == 0 && threadIdx.x == 0) loss[1] = loss[1] + loss[0] * nb;
}

extern "C" void ms__gpu_acc_loss(double *loss, int nb) {
    MS_GPU_NEED_CTX();
    acc_loss_kernel<<<1, 1, 0, ms__gpu.stream>>>(loss, nb);
    MS_GPU_LAUNCHED();
}

template <typename T> __global__ static void fill_kernel(T *p, size_t n, T v) {
    FOR_EACH(e, n) p[e] = v;
}

extern "C" void ms__gpu_fill_f32(float *p, size_t n, float v) {
    MS_GPU_NEED_CTX();
    fill_kernel<float><<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(p, n, v);
    MS_GPU_LAUNCHED();
}

extern "C" void ms__gpu_fill_f64(double *p, size_t n, double v) {
    MS_GPU_NEED_CTX();
    fill_kernel<double><<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(p, n, v);
    MS_GPU_LAUNCHED();
}

extern "C" void ms__gpu_fill_i32(int32_t *p, size_t n, int32_t v) {
    MS_GPU_NEED_CTX();
    fill_kernel<int32_t><<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(p, n, v);
    MS_GPU_LAUNCHED();
}

__global__ static void nonfinite_kernel(int32_t *flag, const float *buf, size_t n, int32_t tensor) {
    FOR_EACH(e, n) {
        if (!isfinite(buf[e])) {
            atomicMin(flag, tensor);
            break;
        }
    }
}

extern "C" void ms__gpu_nonfinite(int32_t *flag, const float *buf, size_t n, int32_t tensor) {
    MS_GPU_NEED_CTX();
    nonfinite_kernel<<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(flag, buf, n, tensor);
    MS_GPU_LAUNCHED();
}
