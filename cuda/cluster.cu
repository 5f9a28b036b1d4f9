/* GPU kernels of the clusterability regulariser and of the streaming
 * gradient similarity (kernels_gpu.h).
 *
 * Sums over a weight matrix are taken in double in two fixed stages: G_BLOCKS
 * blocks each sum a fixed strided subset, then one block adds the G_BLOCKS
 * partial sums in a fixed tree, so the result is the same bits every run.
 *
 * Dimension letters: O rows (fc outputs), NI columns (fc inputs). */
#include "common.cuh"

#define THREADS MS_GPU_THREADS
#define G_BLOCKS 128

/* part[2 b] = sum of w^2 inside blocks, part[2 b + 1] = sum of all w^2, over
 * the elements e = b * THREADS + t + k * G_BLOCKS * THREADS. With row_c NULL
 * only the total is wanted (part[2 b] = 0). */
__global__ static void sq_partial_kernel(double *part, const float *w, const int32_t *row_c,
                                         const int32_t *col_c, int O, int NI) {
    __shared__ double sh[THREADS];
    const size_t n = (size_t)O * NI;
    double in = 0.0, all = 0.0;
    const size_t stride = (size_t)G_BLOCKS * THREADS;
    for (size_t e = (size_t)blockIdx.x * THREADS + threadIdx.x; e < n; e += stride) {
        const double v = (double)w[e];
        const double v2 = v * v;
        all = all + v2;
        if (row_c && row_c[e / NI] == col_c[e % NI]) in = in + v2;
    }
    in = ms__block_sum<double>(in, sh);
    all = ms__block_sum<double>(all, sh);
    if (threadIdx.x == 0) {
        part[2 * blockIdx.x] = in;
        part[2 * blockIdx.x + 1] = all;
    }
}

/* One block: tot[0] = inside sum, tot[1] = total, tot[2] = f (0 for a zero
 * matrix); *clust = (float)f when clust is not NULL. */
__global__ static void sq_final_kernel(double *tot, const double *part, float *clust) {
    __shared__ double sh[THREADS];
    double in = 0.0, all = 0.0;
    for (int b = threadIdx.x; b < G_BLOCKS; b += THREADS) {
        in = in + part[2 * b];
        all = all + part[2 * b + 1];
    }
    in = ms__block_sum<double>(in, sh);
    all = ms__block_sum<double>(all, sh);
    if (threadIdx.x == 0) {
        const double f = all > 0.0 ? in / all : 0.0;
        tot[0] = in;
        tot[1] = all;
        tot[2] = f;
        if (clust) *clust = (float)f;
    }
}

/* grad += -lambda * 2 w (m - f) / S, computed in double, added in float. */
__global__ static void clust_grad_kernel(float *grad, const float *w, const int32_t *row_c,
                                         const int32_t *col_c, int O, int NI, double lambda,
                                         const double *tot) {
    const double S = tot[1], f = tot[2];
    if (!(S > 0.0)) return;
    const double coef = -2.0 * lambda / S;
    const size_t n = (size_t)O * NI;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (size_t)blockDim.x * gridDim.x) {
        const double m = row_c[e / NI] == col_c[e % NI] ? 1.0 : 0.0;
        grad[e] = grad[e] + (float)(coef * (double)w[e] * (m - f));
    }
}

extern "C" void ms_clusterability_grad_gpu(float *clust, float *grad, const float *w,
                                           const int32_t *row_c, const int32_t *col_c, int O,
                                           int NI, float lambda) {
    MS_GPU_NEED_CTX();
    double *part = (double *)ms__gpu.scratch, *tot = part + 2 * G_BLOCKS;
    sq_partial_kernel<<<G_BLOCKS, THREADS, 0, ms__gpu.stream>>>(part, w, row_c, col_c, O, NI);
    MS_GPU_LAUNCHED();
    sq_final_kernel<<<1, THREADS, 0, ms__gpu.stream>>>(tot, part, clust);
    MS_GPU_LAUNCHED();
    if (lambda != 0.0f && grad) {
        clust_grad_kernel<<<ms__blocks((size_t)O * NI, THREADS), THREADS, 0, ms__gpu.stream>>>(
            grad, w, row_c, col_c, O, NI, (double)lambda, tot);
        MS_GPU_LAUNCHED();
    }
}

/* out = g / ||g||_F in double (zero when g is zero). */
__global__ static void normalise_kernel(double *out, const float *g, size_t n, const double *tot) {
    const double n2 = tot[1];
    const double inv = n2 > 0.0 ? 1.0 / sqrt(n2) : 0.0;
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < n;
         e += (size_t)blockDim.x * gridDim.x)
        out[e] = (double)g[e] * inv;
}

extern "C" void ms_gradsim_accumulate_gpu(double *S, const float *g, int O, int NI,
                                          double *scratch) {
    MS_GPU_NEED_CTX();
    double *part = (double *)ms__gpu.scratch, *tot = part + 2 * G_BLOCKS;
    sq_partial_kernel<<<G_BLOCKS, THREADS, 0, ms__gpu.stream>>>(part, g, NULL, NULL, O, NI);
    MS_GPU_LAUNCHED();
    sq_final_kernel<<<1, THREADS, 0, ms__gpu.stream>>>(tot, part, NULL);
    MS_GPU_LAUNCHED();
    const size_t n = (size_t)O * NI;
    normalise_kernel<<<ms__blocks(n, THREADS), THREADS, 0, ms__gpu.stream>>>(scratch, g, n, tot);
    MS_GPU_LAUNCHED();
    /* In double, as the CPU's ms_gradsim_add, so thousands of steps add up
     * without float drift. Column-major: S (NI x NI) += gn^T(NI x O) .
     * gn^T^T (O x NI), gn^T being the row-major (O, NI) normalised gradient
     * read as column-major (NI x O). S is symmetric, so its row- and
     * column-major readings agree. */
    const double one = 1.0;
    cublasCheck(cublasDgemm(ms__gpu.cublas, CUBLAS_OP_N, CUBLAS_OP_T, NI, NI, O, &one, scratch, NI,
                            scratch, NI, &one, S, NI));
}
