/* The operations of the device pruning algorithm (prune_dev.h) as CUDA
 * kernels, and ms_prune_gpu (gpu.h).
 *
 * Every kernel calls the per-element functions of prune_dev.h and canon.h,
 * the same code the host emulation (src/prune/prune_dev.c) runs and tests, compiled
 * with --fmad=false and written with the round-to-nearest intrinsics, so the
 * device computes the CPU's bits. What is specific to the GPU is only how the
 * work is spread:
 *  - one thread per (sample, output) for the features, fc layers and losses;
 *  - one kernel per tree level when a row's tree is built;
 *  - a window: one thread per (state, sample) finds the state's
 *    pre-activation; one block per changed (state, sample) pair runs the
 *    downstream layers (one thread per row, the activation vectors in shared
 *    memory); one block per state adds its samples' loss changes (integers:
 *    any order gives the same sum) and flags it; one block finds the first
 *    failing state;
 *  - a commit: one thread updates the presence of the touched tree nodes, one
 *    thread per sample their values, one block per sample the downstream
 *    state, one block the sum.
 *
 * Dimension letters: N samples, NI inputs and O outputs of an fc layer, NC
 * classes, C H W F K P as in conv layers. */
#include "common.cuh"

extern "C" {
#include "modsweep/prune_dev.h"
}

#include <stdlib.h>
#include <string.h>

typedef ms_i128 i128;

#define THREADS MS_GPU_THREADS

#define FOR_EACH(e, n)                                                                             \
    for (size_t e = (size_t)blockIdx.x * blockDim.x + threadIdx.x; e < (size_t)(n);                \
         e += (size_t)blockDim.x * gridDim.x)

#define LAUNCH(n) ms__blocks((n), THREADS), THREADS, 0, ms__gpu.stream

/* ---- memory --------------------------------------------------------------------------------- */

static int c_alloc(void **p, size_t bytes) { return ms_gpu_alloc(p, bytes); }
static void c_free(void *p) { ms_gpu_free(p); }
static int c_h2d(void *dst, const void *src, size_t bytes) { return ms_gpu_h2d(dst, src, bytes); }
static int c_d2h(void *dst, const void *src, size_t bytes) { return ms_gpu_d2h(dst, src, bytes); }
static int c_zero(void *dst, size_t bytes) { return ms_gpu_zero(dst, bytes); }

/* ---- features, forward, losses ------------------------------------------------------------- */

__global__ static void to_double_kernel(double *out, const float *x, size_t n) {
    FOR_EACH(e, n) out[e] = (double)x[e];
}

static int c_to_double(double *out, const float *x, size_t n) {
    to_double_kernel<<<LAUNCH(n)>>>(out, x, n);
    MS_GPU_LAUNCHED();
    return 0;
}

__global__ static void conv_pool_kernel(double *out, const double *in, const float *w,
                                        const float *b, int N, int C, int H, int W, int F, int K,
                                        int P, int PH, int PW) {
    FOR_EACH(e, (size_t)N * F * PH * PW) {
        const int px = (int)(e % PW), py = (int)((e / PW) % PH);
        const int f = (int)((e / ((size_t)PW * PH)) % F);
        const size_t n = e / ((size_t)PW * PH * F);
        out[e] = ms_pdev_conv_pool_at(in + n * C * H * W, w, b, C, H, W, K, P, f, py, px);
    }
}

static int c_conv_pool(double *out, const double *in, const float *w, const float *b, int N, int C,
                       int H, int W, int F, int K, int P) {
    const int PH = (H + 2 * P - K + 1) / 2, PW = (W + 2 * P - K + 1) / 2;
    conv_pool_kernel<<<LAUNCH((size_t)N * F * PH * PW)>>>(out, in, w, b, N, C, H, W, F, K, P, PH,
                                                         PW);
    MS_GPU_LAUNCHED();
    return 0;
}

__global__ static void fc_forward_kernel(double *out, const double *in, ms_pdev_csr_t c, int N,
                                         int relu) {
    FOR_EACH(e, (size_t)N * c.O) {
        const int r = (int)(e % c.O);
        const size_t n = e / c.O;
        const double z = ms_pdev_row(&c, r, in + n * c.NI);
        out[e] = relu ? ms_pdev_relu(z) : z;
    }
}

static int c_fc_forward(double *out, const double *in, const ms_pdev_csr_t *c, int N, int relu) {
    fc_forward_kernel<<<LAUNCH((size_t)N * c->O)>>>(out, in, *c, N, relu);
    MS_GPU_LAUNCHED();
    return 0;
}

__global__ static void transpose_kernel(double *hT, const double *h, int N, int NI) {
    FOR_EACH(e, (size_t)N * NI) {
        const size_t i = e % NI, n = e / NI;
        hT[i * N + n] = h[e];
    }
}

static int c_transpose(double *hT, const double *h, int N, int NI) {
    transpose_kernel<<<LAUNCH((size_t)N * NI)>>>(hT, h, N, NI);
    MS_GPU_LAUNCHED();
    return 0;
}

__global__ static void losses_kernel(i128 *q, const double *logits, int N, int NC, int label) {
    FOR_EACH(n, N) q[n] = ms_canon_fixed_loss(ms_canon_ce(logits + n * NC, NC, label));
}

static int c_losses(i128 *q, const double *logits, int N, int NC, int label) {
    losses_kernel<<<LAUNCH(N)>>>(q, logits, N, NC, label);
    MS_GPU_LAUNCHED();
    return 0;
}

/* The sum of v[0], v[stride], ... (n values) by one block of THREADS threads
 * (integers: any order gives the same sum). */
__device__ static i128 block_sum_i128(const i128 *v, size_t n, size_t stride) {
    __shared__ i128 sh[THREADS];
    i128 s = 0;
    for (size_t e = threadIdx.x; e < n; e += THREADS) s += v[e * stride];
    return ms__block_sum<i128>(s, sh);
}

/* out[0] = sum of q (add = 0) or out[0] += sum of q (add = 1). */
__global__ static void sum_kernel(i128 *out, const i128 *q, int N, int add) {
    const i128 s = block_sum_i128(q, (size_t)N, 1);
    if (threadIdx.x == 0) out[0] = add ? out[0] + s : s;
}

static int c_sum(i128 *out, const i128 *q, int N) {
    sum_kernel<<<1, THREADS, 0, ms__gpu.stream>>>(out, q, N, 0);
    MS_GPU_LAUNCHED();
    return 0;
}

__global__ static void set_column_kernel(double *h, int N, int NI, int col, double v) {
    FOR_EACH(n, N) h[n * NI + col] = v;
}

static int c_set_column(double *h, int N, int NI, int col, double v) {
    set_column_kernel<<<LAUNCH(N)>>>(h, N, NI, col, v);
    MS_GPU_LAUNCHED();
    return 0;
}

/* ---- the row tree ---------------------------------------------------------------------------- */

/* Level k of the tree: every node's values (and, by the sample-0 thread, its
 * presence; level k - 1 is complete, as the previous kernel). */
__global__ static void tree_level_kernel(ms_pdev_tree_t t, int k) {
    FOR_EACH(e, (size_t)t.nk[k] * t.N) {
        const int n = (int)(e % t.N), u = (int)(e / t.N);
        ms_pdev_update_val(&t, k, u, n);
        if (n == 0) ms_pdev_update_pres(&t, k, u);
    }
}

__global__ static void root_z_kernel(ms_pdev_tree_t t, const float *bias, double *zc) {
    FOR_EACH(n, t.N) zc[n] = ms_pdev_root_z(&t, bias, (int)n);
}

static int c_tree_build(const ms_pdev_tree_t *t, const float *bias, double *zc) {
    for (int k = 1; k <= t->D; k++) {
        tree_level_kernel<<<LAUNCH((size_t)t->nk[k] * t->N)>>>(*t, k);
        MS_GPU_LAUNCHED();
    }
    root_z_kernel<<<LAUNCH(t->N)>>>(*t, bias, zc);
    MS_GPU_LAUNCHED();
    return 0;
}

/* ---- a window -------------------------------------------------------------------------------- */

/* The downstream layers of the pruned layer for sample n when unit o has
 * activation act, by one block: returns the fixed-point loss (in thread 0).
 * va, vb: max_width doubles of shared memory each. With commit, the new
 * activations and logits are written into the committed state. */
__device__ static i128 block_downstream(const ms_pdev_win_t &w, int n, double act, int commit,
                                        double *va, double *vb) {
    const int l = w.l, nf = w.nf, tid = threadIdx.x, bd = blockDim.x;
    double *in = va, *out = vb;
    if (l + 1 < nf) {
        const int NI = w.csr[l + 1].NI;
        const double *src = w.hin[l + 1] + (size_t)n * NI;
        for (int i = tid; i < NI; i += bd) in[i] = i == w.o ? act : src[i];
        if (commit && tid == 0) w.hin[l + 1][(size_t)n * NI + w.o] = act;
        __syncthreads();
        for (int dl = l + 1; dl < nf; dl++) {
            const ms_pdev_csr_t *c = &w.csr[dl];
            const int hidden = dl + 1 < nf;
            double *dst = hidden ? w.hin[dl + 1] : w.logits;
            for (int r = tid; r < c->O; r += bd) {
                const double z = ms_pdev_row(c, r, in);
                out[r] = hidden ? ms_pdev_relu(z) : z;
                if (commit) dst[(size_t)n * c->O + r] = out[r];
            }
            __syncthreads();
            double *t = in;
            in = out;
            out = t;
        }
    } else {
        for (int c = tid; c < w.NC; c += bd)
            in[c] = c == w.o ? act : w.logits[(size_t)n * w.NC + c];
        if (commit && tid == 0) w.logits[(size_t)n * w.NC + w.o] = act;
        __syncthreads();
    }
    i128 q = 0;
    if (tid == 0) q = ms_canon_fixed_loss(ms_canon_ce(in, w.NC, w.label));
    __syncthreads(); /* the buffers are reused by the block's next sample */
    return q;
}

/* State b0 + k for sample n: its pre-activation, whether unit o's activation
 * moved, and a zero loss change when it did not. */
__global__ static void window_z_kernel(ms_pdev_win_t w, int nb) {
    FOR_EACH(p, (size_t)nb * w.N) {
        const int n = (int)(p % w.N), k = (int)(p / w.N);
        const double z = ms_pdev_state_z(&w.tree, w.bias, w.j, w.j + w.b0 + k - 1, n);
        w.zs[p] = z;
        const int moved = ms_pdev_unit_act(&w, z) != *ms_pdev_unit_slot(&w, n);
        w.chg[p] = (uint8_t)moved;
        if (!moved) w.delta[p] = 0;
    }
}

/* One block per changed (state, sample) pair: the loss change. */
__global__ static void window_down_kernel(ms_pdev_win_t w, int nb) {
    extern __shared__ double shd[];
    double *va = shd, *vb = shd + w.max_width;
    for (size_t p = blockIdx.x; p < (size_t)nb * w.N; p += gridDim.x) {
        if (!w.chg[p]) continue; /* the same for the whole block */
        const int n = (int)(p % w.N);
        const i128 q = block_downstream(w, n, ms_pdev_unit_act(&w, w.zs[p]), 0, va, vb);
        if (threadIdx.x == 0) w.delta[p] = q - w.q[n];
    }
}

/* One block per state: S of the state and its flags. */
__global__ static void window_sum_kernel(ms_pdev_win_t w) {
    const int k = blockIdx.x;
    const i128 s = block_sum_i128(w.delta + (size_t)k * w.N, (size_t)w.N, 1);
    if (threadIdx.x == 0) w.res[2 + k] = ms_pdev_flags(w.scal[0] + s, w.scal[1], w.scal[2]);
}

/* One block: the first failing state (Bw + 1 if none) into res[0] and res[1]. */
__global__ static void window_first_kernel(ms_pdev_win_t w, int nb) {
    __shared__ int best;
    if (threadIdx.x == 0) best = w.Bw + 1;
    __syncthreads();
    int mine = w.Bw + 1;
    for (int k = threadIdx.x; k < nb; k += blockDim.x)
        if ((w.res[2 + k] & MS_PDEV_FAIL) && w.b0 + k < mine) mine = w.b0 + k;
    atomicMin(&best, mine);
    __syncthreads();
    if (threadIdx.x == 0) {
        w.res[0] = best;
        w.res[1] = best;
    }
}

/* Threads of the downstream blocks: the widest downstream layer, in warps. */
static int down_threads(const ms_pdev_win_t *w) {
    int rows = w->NC;
    for (int d = w->l + 1; d < w->nf; d++) {
        if (w->csr[d].O > rows) rows = w->csr[d].O;
        if (w->csr[d].NI > rows) rows = w->csr[d].NI;
    }
    int t = (rows + 31) / 32 * 32;
    return t > THREADS ? THREADS : t;
}

/* Shared memory of the downstream blocks; raises the kernels' limit past the
 * default 48 KiB when a layer is that wide. */
static int down_shared(const ms_pdev_win_t *w, size_t *bytes) {
    *bytes = sizeof(double) * 2 * (size_t)w->max_width;
    if (*bytes <= 48 * 1024) return 0;
    int max_optin = 0;
    cudaDeviceGetAttribute(&max_optin, cudaDevAttrMaxSharedMemoryPerBlockOptin, ms__gpu.device);
    if (*bytes > (size_t)max_optin)
        return ms_err_set(MS_EINVAL,
                          "GPU pruning: layers of %d units need %zu bytes of shared memory, the "
                          "GPU has %d per block",
                          w->max_width, *bytes, max_optin);
    return 0;
}

static int set_shared_limit(const void *kernel, size_t bytes) {
    if (bytes <= 48 * 1024) return 0;
    cudaCheck(
        cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
    return 0;
}

static unsigned pair_blocks(size_t pairs) {
    size_t g = (size_t)(ms__gpu.sm_count > 0 ? ms__gpu.sm_count : 1) * 32;
    if (g > pairs) g = pairs;
    return (unsigned)(g < 1 ? 1 : g);
}

static int c_window(const ms_pdev_win_t *w) {
    const int nb = w->b1 - w->b0 + 1;
    const size_t pairs = (size_t)nb * w->N;
    size_t shm;
    int rc = down_shared(w, &shm);
    if (rc) return rc;
    set_shared_limit((const void *)window_down_kernel, shm);
    window_z_kernel<<<LAUNCH(pairs)>>>(*w, nb);
    MS_GPU_LAUNCHED();
    window_down_kernel<<<pair_blocks(pairs), down_threads(w), shm, ms__gpu.stream>>>(*w, nb);
    MS_GPU_LAUNCHED();
    window_sum_kernel<<<nb, THREADS, 0, ms__gpu.stream>>>(*w);
    MS_GPU_LAUNCHED();
    window_first_kernel<<<1, THREADS, 0, ms__gpu.stream>>>(*w, nb);
    MS_GPU_LAUNCHED();
    return 0;
}

static int c_team_min(int32_t *res, void *team, MPI_Comm comm) {
    if (team) return ms_gpu_team_min_i32((ms_gpu_team_t *)team, res, res + 1);
    int32_t mine = 0, all = 0;
    ms_gpu_d2h(&mine, res, sizeof mine);
    if (MPI_Allreduce(&mine, &all, 1, MPI_INT32_T, MPI_MIN, comm) != MPI_SUCCESS)
        return ms_err_set(MS_EMPI, "GPU pruning: window reduction failed");
    return ms_gpu_h2d(res + 1, &all, sizeof all);
}

/* ---- a commit -------------------------------------------------------------------------------- */

/* One thread: the presence of the tree nodes above leaves j .. j+count-1. */
__global__ static void commit_pres_kernel(ms_pdev_tree_t t, int j, int count) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    for (int k = 1; k <= t.D; k++)
        for (int u = j >> k; u <= (j + count - 1) >> k; u++) ms_pdev_update_pres(&t, k, u);
}

/* One thread per sample: the values of those nodes, the row's new
 * pre-activation, and whether unit o's activation moved (into chg[n]). */
__global__ static void commit_vals_kernel(ms_pdev_win_t w, int count) {
    FOR_EACH(n, w.N) {
        for (int k = 1; k <= w.tree.D; k++)
            for (int u = w.j >> k; u <= (w.j + count - 1) >> k; u++)
                ms_pdev_update_val(&w.tree, k, u, (int)n);
        const double z = ms_pdev_root_z(&w.tree, w.bias, (int)n);
        w.zc[n] = z;
        w.chg[n] = (uint8_t)(ms_pdev_unit_act(&w, z) != *ms_pdev_unit_slot(&w, (int)n));
        if (!w.chg[n]) w.dq[n] = 0;
    }
}

/* One block per moved sample: the downstream state, its loss and change. */
__global__ static void commit_down_kernel(ms_pdev_win_t w) {
    extern __shared__ double shd[];
    double *va = shd, *vb = shd + w.max_width;
    for (int n = blockIdx.x; n < w.N; n += gridDim.x) {
        if (!w.chg[n]) continue;
        const i128 q = block_downstream(w, n, ms_pdev_unit_act(&w, w.zc[n]), 1, va, vb);
        if (threadIdx.x == 0) {
            w.dq[n] = q - w.q[n];
            w.q[n] = q;
        }
    }
}

static int c_commit(const ms_pdev_win_t *w, int count) {
    size_t shm;
    int rc = down_shared(w, &shm);
    if (rc) return rc;
    set_shared_limit((const void *)commit_down_kernel, shm);
    commit_pres_kernel<<<1, 1, 0, ms__gpu.stream>>>(w->tree, w->j, count);
    MS_GPU_LAUNCHED();
    commit_vals_kernel<<<LAUNCH(w->N)>>>(*w, count);
    MS_GPU_LAUNCHED();
    commit_down_kernel<<<pair_blocks((size_t)w->N), down_threads(w), shm, ms__gpu.stream>>>(*w);
    MS_GPU_LAUNCHED();
    sum_kernel<<<1, THREADS, 0, ms__gpu.stream>>>(w->scal, w->dq, w->N, 1);
    MS_GPU_LAUNCHED();
    return 0;
}

static const ms_pdev_ops_t cuda_ops = {
    "GPU",        c_alloc,      c_free,        c_h2d,       c_d2h,         c_zero,
    c_to_double,  c_conv_pool,  c_fc_forward,  c_transpose, c_losses,      c_sum,
    c_tree_build, c_set_column, c_window,      c_team_min,  c_commit,
};

extern "C" const ms_pdev_ops_t *ms__pdev_cuda_ops(void) { return &cuda_ops; }

extern "C" int ms_prune_gpu(const ms_layout_t *L, const float *params, const float *x, int N,
                            const ms_prune_cfg_t *cfg, ms_gpu_team_t *team,
                            ms_prune_result_t *res) {
    if (ms__gpu.device < 0)
        return ms_err_set(MS_ENOGPU, "GPU pruning: no GPU is bound to this process");
    return ms_prune_dev(L, params, x, N, cfg, team, &cuda_ops, res);
}

/* ---- test support ---------------------------------------------------------------------------- */

__global__ static void canon_eval_kernel(const double *x, int n, double *ex, double *lg, i128 *fx,
                                         double *ce) {
    FOR_EACH(i, n) {
        ex[i] = ms_canon_exp(x[i]);
        lg[i] = ms_canon_log(fabs(x[i]));
        fx[i] = ms_canon_fixed_loss(fabs(x[i]));
        if (i % 10 == 0 && i + 10 <= (size_t)n)
            ce[i / 10] = ms_canon_ce(x + i, 10, (int)((i / 10) % 10));
    }
}

extern "C" int ms__gpu_canon_eval(const double *x, int n, double *ex, double *lg, ms_i128 *fx,
                                  double *ce) {
    if (ms__gpu.device < 0) return ms_err_set(MS_ENOGPU, "no GPU bound");
    const size_t nd = (size_t)n;
    double *dx = NULL, *dex = NULL, *dlg = NULL, *dce = NULL;
    i128 *dfx = NULL;
    int rc = ms_gpu_alloc((void **)&dx, sizeof(double) * nd);
    if (!rc) rc = ms_gpu_alloc((void **)&dex, sizeof(double) * nd);
    if (!rc) rc = ms_gpu_alloc((void **)&dlg, sizeof(double) * nd);
    if (!rc) rc = ms_gpu_alloc((void **)&dce, sizeof(double) * (nd / 10 + 1));
    if (!rc) rc = ms_gpu_alloc((void **)&dfx, sizeof(i128) * nd);
    if (!rc) rc = ms_gpu_h2d(dx, x, sizeof(double) * nd);
    if (!rc) {
        canon_eval_kernel<<<LAUNCH(nd)>>>(dx, n, dex, dlg, dfx, dce);
        MS_GPU_LAUNCHED();
        rc = ms_gpu_d2h(ex, dex, sizeof(double) * nd);
    }
    if (!rc) rc = ms_gpu_d2h(lg, dlg, sizeof(double) * nd);
    if (!rc) rc = ms_gpu_d2h(fx, dfx, sizeof(i128) * nd);
    if (!rc) rc = ms_gpu_d2h(ce, dce, sizeof(double) * (nd / 10));
    ms_gpu_free(dx);
    ms_gpu_free(dex);
    ms_gpu_free(dlg);
    ms_gpu_free(dce);
    ms_gpu_free(dfx);
    return rc;
}
