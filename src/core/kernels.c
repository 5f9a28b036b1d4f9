/* The training kernels of kernels.h for one instruction-set path.
 *
 * This file is compiled once per path (CMakeLists.txt) with MS_ISA_SUFFIX
 * set to generic (the baseline, SSE2..SSE4.2, no FMA), avx2 (x86-64-v3) or
 * avx512 (x86-64-v4), and defines the path's table ms__kernels_<suffix>
 * (kernels_table.h); src/core/isa.c chooses one at start-up. It is
 * built with -ffp-contract=fast: a*b+c may become one FMA where the path has
 * FMA units, so avx2 and avx512 round alike and generic differently.
 *
 * The vector width (VW floats) and the register tiles fit each path's
 * registers: 16 xmm, 16 ymm or 32 zmm. Every output element is still summed
 * in the same order on every path: the conv forward's lanes are independent
 * outputs, and so are the conv weight gradient's lanes (one tap each, the
 * taps padded to a multiple of 16 floats), and the fc layers sum each
 * output in one fixed order of their own (no BLAS), so that avx2 and avx512
 * agree bit for bit.
 *
 * Parallel work is split into fixed chunks of MS_CHUNK batch rows (or fixed
 * tiles of output rows or columns) that are computed independently, so
 * every result is bitwise the same whatever the number of threads.
 *
 * Dimension letters: B batch, C input channels, H W input size, F filters,
 * K kernel side, P padding, HO WO conv output size, O fc outputs, NI fc inputs. */
#include "kernels_table.h"
#include "modsweep/kernels.h"
#include "modsweep/rng.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

#ifndef MS_ISA_SUFFIX
#error "compile with -DMS_ISA_SUFFIX=generic|avx2|avx512"
#endif
#define MS_CAT2(a, b) a##b
#define MS_CAT(a, b) MS_CAT2(a, b)
#define MS_STR2(a) #a
#define MS_STR(a) MS_STR2(a)

/* The threads of the kernels (isa.c keeps the count). */
#define kernel_threads ms_kernels_threads()

static int n_chunks(int rows) {
    return (rows + MS_CHUNK - 1) / MS_CHUNK;
}

/* ---- ReLU and dropout ---------------------------------------------------------- */

static void k_relu_dropout_forward(float *a, int B, int O, float drop_p, uint64_t seed,
                                   uint32_t step, uint64_t base) {
    size_t n = (size_t)B * O;
    if (drop_p <= 0.0f) {
        for (size_t e = 0; e < n; e++)
            a[e] = a[e] > 0.0f ? a[e] : 0.0f;
        return;
    }
    const float scale = 1.0f / (1.0f - drop_p);
    for (size_t e = 0; e < n; e++) {
        float keep = ms_rng_float_at(seed, MS_RNG_DROPOUT, step, base + e) >= drop_p;
        a[e] = a[e] > 0.0f && keep ? a[e] * scale : 0.0f;
    }
}

static void k_relu_dropout_backward(float *d, const float *a, int n, float drop_p) {
    const float scale = drop_p > 0.0f ? 1.0f / (1.0f - drop_p) : 1.0f;
    if (drop_p > 0.0f) {
        for (int e = 0; e < n; e++)
            d[e] = a[e] > 0.0f ? d[e] * scale : 0.0f;
    } else {
        for (int e = 0; e < n; e++)
            d[e] = a[e] > 0.0f ? d[e] : 0.0f;
    }
}

/* ---- conv blocks ------------------------------------------------------------- */

/* The path's vector: VW floats (4 in an SSE register, 8 in an AVX2 register,
 * 16 in an AVX-512 register), and the conv forward's register tile: FW_FB
 * filters x FW_XV vectors of columns of accumulators, plus FW_XV input
 * vectors and one broadcast weight (16 xmm: 8 + 2 + 1; 16 ymm: 8 + 2 + 1;
 * 32 zmm: 16 + 2 + 1); the conv weight gradient's DW_ACC accumulators
 * (a group of filters x a block of lanes), plus one broadcast gradient and
 * the patch loads: 8 of 16 xmm or ymm, 16 of 32 zmm. */
#if defined(__AVX512F__)
#define VW 16
#define FW_FB 8
#define FW_XV 2
#define DW_ACC 16
#elif defined(__AVX2__)
#define VW 8
#define FW_FB 4
#define FW_XV 2
#define DW_ACC 8
#else
#define VW 4
#define FW_FB 4
#define FW_XV 2
#define DW_ACC 8
#endif

/* c + a * b, rounded once where the path has FMA units (as the vector code,
 * which the compiler contracts): said explicitly, because the compiler does
 * not contract every scalar loop alike on every path (the avx2 object's
 * scalar tails were left unfused), and the tails of one path are vector
 * lanes on another. */
#if defined(__FMA__)
#define MADD(a, b, c) __builtin_fmaf((a), (b), (c))
#else
#define MADD(a, b, c) ((c) + (a) * (b))
#endif

/* Loads and stores go through memcpy, so no alignment is assumed. */
typedef float vf __attribute__((vector_size(VW * sizeof(float))));

static inline vf vload(const float *p) {
    vf v;
    memcpy(&v, p, sizeof v);
    return v;
}
static inline void vstore(float *p, vf v) {
    memcpy(p, &v, sizeof v);
}

/* ReLU of a vector, through the bits: a lane is kept where a > 0 and is
 * +0 elsewhere (NaN and -0 included), as the scalar a > 0 ? a : 0. */
typedef int32_t vi __attribute__((vector_size(VW * sizeof(int32_t))));
static inline vf vrelu(vf a) {
    const vf zero = {0};
    return (vf)((vi)a & (vi)(a > zero));
}

/* Output row y of filters f0..f0+FB-1, columns x0..x0+VW*XV-1, into
 * out + f * fs (out: the row's first column of filter 0; fs: the filters'
 * stride): every output accumulates its bias, then the taps (c, ky, kx) in
 * ascending order, and is stored after its ReLU. FB and XV are
 * compile-time constants at every call, so the accumulators stay in
 * registers. */
static inline __attribute__((always_inline)) void
conv_tile(float *out, size_t fs, const float *xp, const float *w, const float *b, int C, int HP,
          int WP, int K, int y, int f0, int x0, const int FB, const int XV) {
    vf acc[FW_FB][FW_XV];
    for (int j = 0; j < FB; j++)
        for (int v = 0; v < XV; v++)
            acc[j][v] = (vf){0} + (b ? b[f0 + j] : 0.0f);
    const int CKK = C * K * K;
    for (int c = 0; c < C; c++) {
        for (int ky = 0; ky < K; ky++) {
            const float *row = xp + ((size_t)c * HP + y + ky) * WP + x0;
            for (int kx = 0; kx < K; kx++) {
                vf in[FW_XV];
                for (int v = 0; v < XV; v++)
                    in[v] = vload(row + kx + VW * v);
                const float *wt = w + (size_t)f0 * CKK + (c * K + ky) * K + kx;
                for (int j = 0; j < FB; j++) {
                    const float wv = wt[(size_t)j * CKK];
                    for (int v = 0; v < XV; v++)
                        acc[j][v] += wv * in[v];
                }
            }
        }
    }
    for (int j = 0; j < FB; j++)
        for (int v = 0; v < XV; v++)
            vstore(out + (size_t)(f0 + j) * fs + x0 + VW * v, vrelu(acc[j][v]));
}

/* Output row y of every filter, ReLU(conv(x) + b), into out + f * fs, from
 * the zero-padded copy xp (C, HP = H + 2P, WP = W + 2P). Full VW-wide
 * column blocks use conv_tile; remaining columns use a scalar loop with the
 * same accumulation order. */
static void conv_row(float *out, size_t fs, const float *xp, const float *w, const float *b, int C,
                     int HP, int WP, int F, int K, int WO, int y) {
    const int CKK = C * K * K;
    const int x_vec = WO - WO % VW;
    int f0 = 0;
    for (; f0 + FW_FB <= F; f0 += FW_FB) {
        int x0 = 0;
        for (; x0 + FW_XV * VW <= x_vec; x0 += FW_XV * VW)
            conv_tile(out, fs, xp, w, b, C, HP, WP, K, y, f0, x0, FW_FB, FW_XV);
        for (; x0 < x_vec; x0 += VW)
            conv_tile(out, fs, xp, w, b, C, HP, WP, K, y, f0, x0, FW_FB, 1);
    }
    for (; f0 < F; f0++)
        for (int x0 = 0; x0 < x_vec; x0 += VW)
            conv_tile(out, fs, xp, w, b, C, HP, WP, K, y, f0, x0, 1, 1);
    for (int f = 0; f < F; f++) {
        for (int xo = x_vec; xo < WO; xo++) {
            float acc = b ? b[f] : 0.0f;
            for (int c = 0; c < C; c++)
                for (int ky = 0; ky < K; ky++)
                    for (int kx = 0; kx < K; kx++)
                        acc = MADD(w[(size_t)f * CKK + (c * K + ky) * K + kx],
                                   xp[((size_t)c * HP + y + ky) * WP + xo + kx], acc);
            out[(size_t)f * fs + xo] = acc > 0.0f ? acc : 0.0f;
        }
    }
}

/* Lanes of a and b (lanes 0..VW-1, then VW..2VW-1) picked by m. Clang (the
 * fuzz build) has no two-vector shuffle with a mask vector: the same lanes
 * picked one at a time there. */
static inline vf vshuffle2(vf a, vf b, vi m) {
#if defined(__clang__)
    float ab[2 * VW], r[VW];
    memcpy(ab, &a, sizeof a);
    memcpy(ab + VW, &b, sizeof b);
    for (int i = 0; i < VW; i++)
        r[i] = ab[m[i] & (2 * VW - 1)];
    vf x;
    memcpy(&x, r, sizeof x);
    return x;
#else
    return __builtin_shuffle(a, b, m);
#endif
}

/* 2x2 max pooling of a pair of output rows (after their ReLU) of every
 * filter, at a + f * fs and a + f * fs + WO, into one row of each filter's
 * pooled / idx plane (pfs apart): each window keeps its first maximum in
 * the order q = 0 (top left), 1 (top right), 2 (bottom left), 3 (bottom
 * right) (a later value replaces it only if greater) and idx its q, VW
 * windows at a time from the rows' even and odd columns, then one at a
 * time. Not inlined: inlined into the forward's loop, GCC's code for it
 * ran slower (measured on avx512). */
typedef uint8_t vb __attribute__((vector_size(VW)));
static __attribute__((noinline)) void pool_rows(const float *a, size_t fs, float *pooled,
                                                uint8_t *idx, size_t pfs, int F, int PW, int WO) {
    vi ev, od;
    for (int i = 0; i < VW; i++)
        ev[i] = 2 * i, od[i] = 2 * i + 1;
    const int p_vec = PW - PW % VW;
    for (int f = 0; f < F; f++) {
        const float *r0 = a + (size_t)f * fs, *r1 = r0 + WO;
        float *po = pooled + (size_t)f * pfs;
        uint8_t *pi = idx + (size_t)f * pfs;
        for (int px = 0; px < p_vec; px += VW) {
            const vf a0 = vload(r0 + 2 * px), a1 = vload(r0 + 2 * px + VW);
            const vf b0 = vload(r1 + 2 * px), b1 = vload(r1 + 2 * px + VW);
            const vf cand[3] = {vshuffle2(a0, a1, od), vshuffle2(b0, b1, ev),
                                vshuffle2(b0, b1, od)};
            vf m = vshuffle2(a0, a1, ev);
            vi best = {0};
            for (int q = 0; q < 3; q++) {
                const vi gt = (vi)(cand[q] > m);
                m = (vf)(((vi)cand[q] & gt) | ((vi)m & ~gt));
                best = (((vi){0} + (q + 1)) & gt) | (best & ~gt);
            }
            vstore(po + px, m);
            const vb qb = __builtin_convertvector(best, vb);
            memcpy(pi + px, &qb, sizeof qb);
        }
        for (int px = p_vec; px < PW; px++) {
            int best = 0;
            float m = r0[2 * px];
            const float cand[3] = {r0[2 * px + 1], r1[2 * px], r1[2 * px + 1]};
            for (int q = 0; q < 3; q++) {
                if (cand[q] > m) {
                    m = cand[q];
                    best = q + 1;
                }
            }
            po[px] = m;
            pi[px] = (uint8_t)best;
        }
    }
}

/* The conv block forward, image by image: each pair of output rows
 * computed (into act, or into two rows of the thread's scratch when act is
 * NULL) and pooled at once, while it is in L1. */
static void k_conv_relu_pool_forward(float *act, float *pooled, uint8_t *idx, const float *x,
                                     const float *w, const float *b, int B, int C, int H, int W,
                                     int F, int K, int P, float *scratch) {
    const int HP = H + 2 * P, WP = W + 2 * P, HO = HP - K + 1, WO = WP - K + 1;
    const int PH = HO / 2, PW = WO / 2;
    const size_t per_thread = ms_conv_scratch_floats(C, H, W, F, K, P);
    const size_t plane = (size_t)HO * WO, pplane = (size_t)PH * PW;
    /* With act, every output row; without, only the rows a window reads. */
    const int rows = act ? HO : 2 * PH;
#pragma omp parallel num_threads(kernel_threads)
    {
        float *xp = scratch + per_thread * (size_t)omp_get_thread_num();
        float *two = xp + (size_t)C * HP * WP + 64;
        memset(xp, 0, sizeof(float) * (size_t)C * HP * WP);
#pragma omp for schedule(static)
        for (int i = 0; i < B; i++) {
            const float *xi = x + (size_t)i * C * H * W;
            for (int c = 0; c < C; c++)
                for (int y = 0; y < H; y++)
                    memcpy(xp + ((size_t)c * HP + y + P) * WP + P, xi + ((size_t)c * H + y) * W,
                           sizeof(float) * W);
            float *ai = act ? act + (size_t)i * F * plane : NULL;
            float *pooled_i = pooled + (size_t)i * F * pplane;
            uint8_t *idx_i = idx + (size_t)i * F * pplane;
            for (int y = 0; y < rows; y++) {
                float *out = ai ? ai + (size_t)y * WO : two + (size_t)(y & 1) * WO;
                const size_t fs = ai ? plane : 2 * (size_t)WO;
                conv_row(out, fs, xp, w, b, C, HP, WP, F, K, WO, y);
                if ((y & 1) && y / 2 < PH)
                    pool_rows(out - WO, fs, pooled_i + (size_t)(y / 2) * PW,
                              idx_i + (size_t)(y / 2) * PW, pplane, F, PW, WO);
            }
        }
    }
}

/* The conv weight gradient, sparse: the gradient reaches the conv output
 * only at one position of each 2x2 pooling window (its maximum) and only
 * where the ReLU is active, so dw[f] += g * patch, where patch is the
 * (C, K, K) block of the padded input under that position, once per window
 * and filter instead of once per output position (a quarter of the work of
 * the dense sum, or less). A window's four patches are gathered once and
 * serve all F filters. The lanes of a vector are taps (a row of NL floats,
 * ms__conv_taps_padded): each weight is one sequential sum over the
 * windows in a fixed order (image, window row, window column), so its
 * value does not depend on the vector width: avx2 and avx512 (both FMA)
 * agree bit for bit. The row's last lane holds 1 in every patch, so that
 * lane sums g itself: the bias gradient, in the same order (g * 1 is
 * exact, so the sum rounds as a plain sum). A filter whose ReLU is
 * inactive in a window adds g = +0, which changes no sum (an accumulator
 * is never -0): no data-dependent branch. It pays on every path: the paper
 * CNN's block (3 -> 16 channels, 32x32, batch 64) on one Zen 5 core took
 * 1.84 / 2.07 / 2.43 ms densely and 0.67 / 0.92 / 1.42 ms so on avx512 /
 * avx2 / generic (bench_train, measured on a loaded machine). */

/* dst[0 .. C*K*K) = the patch at src (the input under one conv output),
 * copied 4 floats at a time: a copy that reaches past a row is overwritten
 * by the next one, and the last writes up to 3 floats into the padding
 * (never the row's last lane). */
static inline __attribute__((always_inline)) void gather_patch(float *dst, const float *src, int C,
                                                               int K, size_t plane, int WP) {
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++, dst += K) {
            const float *s = src + c * plane + (size_t)ky * WP;
            for (int kx = 0; kx < K; kx += 4)
                memcpy(dst + kx, s + kx, 4 * sizeof(float));
        }
}

/* One (image, filter) plane: for window q = (py, px), gs[2q] = the
 * gradient that reaches the conv output at the window's maximum (dp[q], or
 * +0 where the ReLU is inactive there) and gs[2q + 1] = (as int32) the
 * offset of the maximum's patch in the row of patches, (4 px + 2 dy + dx)
 * * n, where 2 dy + dx is the maximum's place in its window (ip[q]). The
 * activation at the maximum is the pooled output pp[q] (the same float:
 * pooling keeps one of the window's four), a quarter of what the
 * activations would be to read. Without a branch (whether the ReLU is
 * active is data, mispredicted about half the time): VW windows at a time,
 * the places widened from bytes and the two results interleaved, then one
 * at a time (left to itself, the compiler sized its vectors for the bytes,
 * 64 windows, more than a row of the paper CNN has, and ran the scalar
 * loop). A function of its own, so that its few pointers stay in
 * registers. */
static __attribute__((noinline)) void window_grads(float *restrict gs, const float *restrict dp,
                                                   const uint8_t *restrict ip,
                                                   const float *restrict pp, int PH, int PW,
                                                   int n) {
    vi lane4, lo, hi;
    for (int i = 0; i < VW; i++) {
        lane4[i] = 4 * i;
        lo[i] = i / 2 + (i % 2 ? VW : 0);
        hi[i] = VW / 2 + i / 2 + (i % 2 ? VW : 0);
    }
    const int p_vec = PW - PW % VW;
    for (int py = 0; py < PH; py++) {
        const uint8_t *iq = ip + (size_t)py * PW;
        const float *dq = dp + (size_t)py * PW, *aq = pp + (size_t)py * PW;
        float *gq = gs + (size_t)2 * py * PW;
        for (int px = 0; px < p_vec; px += VW) {
            vi q;
            for (int i = 0; i < VW; i++)
                q[i] = iq[px + i];
            const vf g = (vf)((vi)vload(dq + px) & (vi)(vload(aq + px) > (vf){0}));
            const vf off = (vf)((lane4 + 4 * px + q) * n);
            vstore(gq + 2 * px, vshuffle2(g, off, lo));
            vstore(gq + 2 * px + VW, vshuffle2(g, off, hi));
        }
        for (int px = p_vec; px < PW; px++) {
            uint32_t bits;
            memcpy(&bits, dq + px, sizeof bits);
            bits &= -(uint32_t)(aq[px] > 0.0f);
            const int32_t off = (4 * px + iq[px]) * n;
            memcpy(gq + 2 * px, &bits, sizeof bits);
            memcpy(gq + 2 * px + 1, &off, sizeof off);
        }
    }
}

/* Filters f0..f0+FB-1, lanes l0..l0+NV*VW-1, of one row of windows:
 * acc (F, n) += g * patch for each window of the row, px ascending, with
 * the FB x NV accumulators in registers (FB and NV compile-time
 * constants). gs: this row's (g, offset) pairs of filter f0, those of the
 * next filter gstride floats further. */
static inline __attribute__((always_inline)) void dw_row_group(float *acc, const float *patch,
                                                               const float *gs, size_t gstride,
                                                               int PW, int f0, int n, int l0,
                                                               const int FB, const int NV) {
    vf r[DW_ACC];
    for (int j = 0; j < FB; j++)
        for (int v = 0; v < NV; v++)
            r[j * NV + v] = vload(acc + (size_t)(f0 + j) * n + l0 + v * VW);
    const float *pl = patch + l0;
    for (int px = 0; px < PW; px++) {
        for (int j = 0; j < FB; j++) {
            const float *e = gs + j * gstride + 2 * px;
            int32_t off;
            memcpy(&off, e + 1, sizeof off);
            const float g = e[0], *p = pl + off;
            for (int v = 0; v < NV; v++)
                r[j * NV + v] += g * vload(p + v * VW);
        }
    }
    for (int j = 0; j < FB; j++)
        for (int v = 0; v < NV; v++)
            vstore(acc + (size_t)(f0 + j) * n + l0 + v * VW, r[j * NV + v]);
}

/* All filters, lanes l0..l0+NV*VW-1, of one row of windows: groups of
 * DW_ACC / NV filters, then single filters. */
static inline __attribute__((always_inline)) void dw_row_lanes(float *acc, const float *patch,
                                                               const float *gr, size_t gstride,
                                                               int PW, int F, int n, int l0,
                                                               const int NV) {
    const int FG = DW_ACC / NV;
    int f0 = 0;
    for (; f0 + FG <= F; f0 += FG)
        dw_row_group(acc, patch, gr + f0 * gstride, gstride, PW, f0, n, l0, FG, NV);
    for (; f0 < F; f0++)
        dw_row_group(acc, patch, gr + f0 * gstride, gstride, PW, f0, n, l0, 1, NV);
}

/* One image's windows: acc (F, n) += g * patch for every window and
 * filter (gs: (F, PH, PW) pairs of window_grads), row by row of windows,
 * in blocks of 32 lanes (and one of 16 where n is not a multiple of 32).
 * K = KC is a compile-time constant for the usual kernel side (so that the
 * copies are unrolled), or 0 for the general loop over k taps. */
static inline __attribute__((always_inline)) void dw_windows(float *acc, float *patch,
                                                             const float *gs, const float *xp,
                                                             int C, int k, int HP, int WP, int PH,
                                                             int PW, int F, int n, const int KC) {
    const int K = KC ? KC : k;
    const size_t plane = (size_t)HP * WP, gstride = (size_t)2 * PH * PW;
    for (int py = 0; py < PH; py++) {
        /* The row's patches first (4 per window), then the sums: the
         * patches are read well after they are written. */
        for (int px = 0; px < PW; px++) {
            const float *s0 = xp + (size_t)(2 * py) * WP + 2 * px;
            float *pp = patch + (size_t)4 * n * px;
            gather_patch(pp, s0, C, K, plane, WP);
            gather_patch(pp + n, s0 + 1, C, K, plane, WP);
            gather_patch(pp + 2 * n, s0 + WP, C, K, plane, WP);
            gather_patch(pp + 3 * n, s0 + WP + 1, C, K, plane, WP);
        }
        const float *gr = gs + (size_t)2 * py * PW;
        int l0 = 0;
        for (; l0 + 32 <= n; l0 += 32)
            dw_row_lanes(acc, patch, gr, gstride, PW, F, n, l0, 32 / VW);
        if (l0 < n) dw_row_lanes(acc, patch, gr, gstride, PW, F, n, l0, 16 / VW);
    }
}

static void k_conv_relu_pool_backward(float *dx, float *dw, float *db, const float *dpooled,
                                      const float *act, const float *pooled, const uint8_t *idx,
                                      const float *x,
                                      const float *w, int B, int C, int H, int W, int F, int K,
                                      int P, float *partial) {
    const int HO = H + 2 * P - K + 1, WO = W + 2 * P - K + 1, HP = H + 2 * P, WP = W + 2 * P;
    const int PH = HO / 2, PW = WO / 2;
    const int CKK = C * K * K, NL = (int)ms__conv_taps_padded(C, K);
    const size_t nw = (size_t)F * CKK, PHW = (size_t)PH * PW;
    /* One chunk's part of partial (isa.c lays it out). */
    const size_t stride = ms_conv_backward_partial_floats(1, C, H, W, F, K, P);
    const int nc = n_chunks(B);
    (void)act; /* pooled holds the activation at each maximum (the GPU reads act) */
    if (dx) memset(dx, 0, sizeof(float) * (size_t)B * C * H * W);
#pragma omp parallel for schedule(static) num_threads(kernel_threads)
    for (int ch = 0; ch < nc; ch++) {
        float *pw = partial + (size_t)ch * stride, *pb = pw + nw;
        float *gmap = pb + F, *xp = gmap + (size_t)F * HO * WO;
        float *acc = xp + (size_t)C * HP * WP + 32, *patch = acc + (size_t)F * NL;
        float *gs = patch + 4 * (size_t)PW * NL;
        memset(pb, 0, sizeof(float) * F);
        /* The padded input with its slack (read by the last patch copies),
         * the accumulators and the patches (whose spare lanes must stay
         * finite), and the bias lane of every patch. */
        memset(xp, 0, sizeof(float) * ((size_t)C * HP * WP + 32 + (size_t)(F + 4 * PW) * NL));
        for (int t = 0; t < 4 * PW; t++)
            patch[(size_t)t * NL + NL - 1] = 1.0f;
        int i1 = (ch + 1) * MS_CHUNK < B ? (ch + 1) * MS_CHUNK : B;
        for (int i = ch * MS_CHUNK; i < i1; i++) {
            const float *xi = x + (size_t)i * C * H * W;
            /* The gradient w.r.t. the conv pre-activation at each window's
             * maximum (0 where the ReLU is inactive), and that maximum's
             * patch; the dense map only for dx. */
            const size_t pl0 = (size_t)i * F;
            for (int f = 0; f < F; f++)
                window_grads(gs + 2 * f * PHW, dpooled + (pl0 + f) * PHW, idx + (pl0 + f) * PHW,
                             pooled + (pl0 + f) * PHW, PH, PW, NL);
            if (dx) {
                memset(gmap, 0, sizeof(float) * (size_t)F * HO * WO);
                for (int f = 0; f < F; f++)
                    for (int py = 0; py < PH; py++)
                        for (int px = 0; px < PW; px++) {
                            const size_t q = (size_t)py * PW + px;
                            const int at = idx[(pl0 + f) * PHW + q];
                            gmap[(size_t)f * HO * WO + (size_t)(2 * py + (at >> 1)) * WO + 2 * px +
                                 (at & 1)] = gs[2 * (f * PHW + q)];
                        }
            }
            for (int c = 0; c < C; c++)
                for (int y = 0; y < H; y++)
                    memcpy(xp + ((size_t)c * HP + y + P) * WP + P, xi + ((size_t)c * H + y) * W,
                           sizeof(float) * W);
            /* The bias lanes sum this image's gradients, from +0 (added to
             * pb afterwards, image by image). */
            for (int f = 0; f < F; f++)
                acc[(size_t)f * NL + NL - 1] = 0.0f;
            if (K == 3)
                dw_windows(acc, patch, gs, xp, C, K, HP, WP, PH, PW, F, NL, 3);
            else
                dw_windows(acc, patch, gs, xp, C, K, HP, WP, PH, PW, F, NL, 0);
            for (int f = 0; f < F; f++)
                pb[f] += acc[(size_t)f * NL + NL - 1];
            if (!dx) continue;
            /* The input gradient, from the dense map in (f, y, x, tap) order. */
            for (int f = 0; f < F; f++) {
                const float *gm = gmap + (size_t)f * HO * WO;
                const float *wf = w + (size_t)f * CKK;
                for (int y = 0; y < HO; y++) {
                    for (int xo = 0; xo < WO; xo++) {
                        const float g = gm[(size_t)y * WO + xo];
                        if (g == 0.0f) continue;
                        for (int c = 0; c < C; c++) {
                            for (int ky = 0; ky < K; ky++) {
                                for (int kx = 0; kx < K; kx++) {
                                    const int yy = y + ky - P, xx = xo + kx - P;
                                    if (yy < 0 || yy >= H || xx < 0 || xx >= W) continue;
                                    float *dxe =
                                        dx + (size_t)i * C * H * W + ((size_t)c * H + yy) * W + xx;
                                    *dxe = MADD(g, wf[(size_t)(c * K + ky) * K + kx], *dxe);
                                }
                            }
                        }
                    }
                }
            }
        }
        for (int f = 0; f < F; f++)
            memcpy(pw + (size_t)f * CKK, acc + (size_t)f * NL, sizeof(float) * CKK);
    }
    /* Chunk partial sums combined in chunk order. */
    memcpy(dw, partial, sizeof(float) * nw);
    if (db) memcpy(db, partial + nw, sizeof(float) * F);
    for (int ch = 1; ch < nc; ch++) {
        const float *pw = partial + (size_t)ch * stride;
        for (size_t j = 0; j < nw; j++)
            dw[j] += pw[j];
        if (db)
            for (int f = 0; f < F; f++)
                db[f] += pw[nw + f];
    }
}

/* ---- fully connected layers ------------------------------------------------------ */

/* modsweep's own fc kernels (docs/fc-kernels.md), written so that every
 * output is summed in one fixed order whatever the path, the thread count
 * or the BLAS library: avx2 and avx512 (both FMA) give the same bits, and
 * generic (no FMA) the same order with a multiply and an add.
 *
 * Forward, z[r][o] = sum_k x[r][k] w[o][k] (+ b[o]): both operands run
 * along k, so each output keeps 16 partial sums, lane j summing
 * k = j, j + 16, j + 32, ... in ascending order (acc = fma(x, w, acc), from
 * +0), the last block of fewer than 16 k zero-padded (the padded lanes add
 * +0); then one fixed tree adds the 16 lanes (lanes i + i+8, then i + i+4,
 * i + i+2, i + i+1), and then the bias. The 16 lanes are 1 zmm, 2 ymm or 4
 * xmm. The register tile is FC_RB rows x FC_OB outputs (x 16 lanes): 4 x 6
 * zmm (24 of 32 registers), 2 x 3 x 2 ymm (12 of 16), 1 x 3 x 4 xmm (12 of
 * 16). k runs in blocks of FC_KC floats, so that the tile's block of w
 * (packed) stays in L1 while all the rows of a work item pass; the partial
 * sums wait between blocks in a buffer on the stack (the order of every
 * lane's sum is unchanged by the blocking).
 *
 * Backward, dw[o][k] = sum_r dz[r][o] x[r][k] and dx[r][k] = sum_o dz[r][o]
 * w[o][k]: outer products whose vector lanes are independent k; every
 * output is one sequential chain of FMAs, r (resp. o) ascending from +0, so
 * its bits do not depend on the vector width. One function computes both:
 * out[i][k] = sum_c s[i * srs + c * scs] src[c][k]. The register tile is
 * FB_RB output rows x FB_KV vectors of k: 6 x 4 zmm, 4 x 3 ymm, 4 x 2 xmm;
 * the columns left over run one vector, then one float, at a time (the
 * same chain, so the same bits as a vector lane). db[o] = sum_r dz[r][o],
 * r ascending.
 *
 * A tile with fewer rows or outputs than the register tile repeats the last
 * one (its results are dropped): every output is computed the same way
 * wherever it falls. Work items (FC_ROWS rows x FC_OG output tiles
 * forward, columns of FC_COLS backward) are fixed and share no sums, so the
 * thread count changes nothing. */
#define FC_LV (16 / VW)
#if defined(__AVX512F__)
#define FC_RB 4
#define FC_OB 6
#define FB_RB 6
#define FB_KV 4
#elif defined(__AVX2__)
#define FC_RB 2
#define FC_OB 3
#define FB_RB 4
#define FB_KV 3
#else
#define FC_RB 1
#define FC_OB 3
#define FB_RB 4
#define FB_KV 2
#endif
/* The forward's k block, and its work item: FC_ROWS rows x FC_OG tiles of
 * outputs (each k block of a row tile's x serves FC_OG tiles). */
#define FC_KC 256
#define FC_OG 2
#define FC_KCP (FC_KC + 16)
#define FC_ROWS 64
/* The backward's column tiles, the units of its parallel work. */
#define FC_COLS 512

/* The tree over an output's 16 lanes runs in registers, several outputs at
 * a time: each step adds, for every output, the same two partial sums
 * (lanes i + i+8, then i + i+4, i + i+2, i + i+1, the lower lane first),
 * with the partial sums of two vectors shuffled together where the two
 * halves share a vector, so that every add is a full vector. On avx512,
 * after the first step a vector holds 2 outputs x 8 lanes, then 4 x 4,
 * 8 x 2, and 16 x 1. */

static inline vf fc_tree_step(vf a, vf b, vi lo, vi hi) {
    return vshuffle2(a, b, lo) + vshuffle2(a, b, hi);
}

#if VW == 16
/* out[j] = the tree of the 16 lanes of v[j], j < n (n a multiple of 8). */
static inline __attribute__((always_inline)) void fc_tree_vec(float *out, const vf *v,
                                                              const int n) {
    const vi l1 = {0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23};
    const vi l2 = {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27};
    const vi l3 = {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29};
    const vi l4 = {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30};
    vf s1[16], s2[8], s3[4];
    for (int i = 0; i < n / 2; i++)
        s1[i] = fc_tree_step(v[2 * i], v[2 * i + 1], l1, l1 + 8);
    for (int i = 0; i < n / 4; i++)
        s2[i] = fc_tree_step(s1[2 * i], s1[2 * i + 1], l2, l2 + 4);
    for (int i = 0; i < n / 8; i++)
        s3[i] = fc_tree_step(s2[2 * i], s2[2 * i + 1], l3, l3 + 2);
    for (int i = 0; i < n / 8; i += 2) {
        if (i + 1 < n / 8) {
            vstore(out + 8 * i, fc_tree_step(s3[i], s3[i + 1], l4, l4 + 1));
        } else {
            float t[16];
            vstore(t, fc_tree_step(s3[i], s3[i], l4, l4 + 1));
            memcpy(out + 8 * i, t, 8 * sizeof(float));
        }
    }
}
#elif VW == 8
/* On avx2, 8 outputs at a time: the first step adds an output's two
 * vectors (lanes i and i+8), the next three shuffle within 8 lanes
 * (2 outputs x 4 lanes, 4 x 2, 8 x 1). A group of fewer than 8 outputs
 * repeats its last one. */

/* out[j] = the tree of the 16 lanes of v[2j], v[2j + 1], j < n. */
static inline __attribute__((always_inline)) void fc_tree_vec(float *out, const vf *v,
                                                              const int n) {
    const vi l2 = {0, 1, 2, 3, 8, 9, 10, 11};
    const vi l3 = {0, 1, 4, 5, 8, 9, 12, 13};
    const vi l4 = {0, 2, 4, 6, 8, 10, 12, 14};
    for (int g = 0; g < n; g += 8) {
        vf s1[8], s2[4], s3[2];
        for (int i = 0; i < 8; i++) {
            const int j = g + i < n ? g + i : n - 1;
            s1[i] = v[2 * j] + v[2 * j + 1];
        }
        for (int i = 0; i < 4; i++)
            s2[i] = fc_tree_step(s1[2 * i], s1[2 * i + 1], l2, l2 + 4);
        for (int i = 0; i < 2; i++)
            s3[i] = fc_tree_step(s2[2 * i], s2[2 * i + 1], l3, l3 + 2);
        float t[8];
        vstore(t, fc_tree_step(s3[0], s3[1], l4, l4 + 1));
        memcpy(out + g, t, sizeof(float) * (n - g < 8 ? n - g : 8));
    }
}
#else
/* On generic, 4 outputs at a time: the first two steps add an output's
 * four vectors (lanes i and i+8, then i and i+4), the last two shuffle
 * within 4 lanes (2 outputs x 2 lanes, 4 x 1). A group of fewer than 4
 * outputs repeats its last one. */

/* out[j] = the tree of the 16 lanes of v[4j .. 4j + 3], j < n. */
static inline __attribute__((always_inline)) void fc_tree_vec(float *out, const vf *v,
                                                              const int n) {
    const vi l3 = {0, 1, 4, 5};
    const vi l4 = {0, 2, 4, 6};
    for (int g = 0; g < n; g += 4) {
        vf s2[4], s3[2];
        for (int i = 0; i < 4; i++) {
            const int j = g + i < n ? g + i : n - 1;
            s2[i] = (v[4 * j] + v[4 * j + 2]) + (v[4 * j + 1] + v[4 * j + 3]);
        }
        for (int i = 0; i < 2; i++)
            s3[i] = fc_tree_step(s2[2 * i], s2[2 * i + 1], l3, l3 + 2);
        float t[4];
        vstore(t, fc_tree_step(s3[0], s3[1], l4, l4 + 1));
        memcpy(out + g, t, sizeof(float) * (n - g < 4 ? n - g : 4));
    }
}
#endif

/* The 16 lanes of the tile's outputs (r, o) at acc_mem + (r * FC_OB + o) * 16
 * (+0 instead when first) += x rows xr[r] (from the block's first k) times
 * the packed w rows wp + o * FC_KCP over nk floats (a multiple of 16), then
 * over the tailn < 16 floats after them, x zero-padded to 16 (the packed w
 * rows are padded already). On the last block, the outputs' trees go to
 * sums[r * FC_OB + o] instead. */
static inline __attribute__((always_inline)) void fc_fwd_tile(float *acc_mem, float *sums,
                                                              const float *const *xr,
                                                              const float *wp, int nk, int tailn,
                                                              int first, int last) {
    vf acc[FC_RB][FC_OB][FC_LV];
    for (int r = 0; r < FC_RB; r++)
        for (int o = 0; o < FC_OB; o++)
            for (int q = 0; q < FC_LV; q++)
                acc[r][o][q] = first ? (vf){0} : vload(acc_mem + (r * FC_OB + o) * 16 + q * VW);
    for (int k = 0; k < nk; k += 16) {
        for (int q = 0; q < FC_LV; q++) {
            vf xv[FC_RB];
            for (int r = 0; r < FC_RB; r++)
                xv[r] = vload(xr[r] + k + q * VW);
            for (int o = 0; o < FC_OB; o++) {
                const vf wv = vload(wp + o * FC_KCP + k + q * VW);
                for (int r = 0; r < FC_RB; r++)
                    acc[r][o][q] += xv[r] * wv;
            }
        }
    }
    if (tailn) {
        float xp[FC_RB][16];
        memset(xp, 0, sizeof xp);
        for (int r = 0; r < FC_RB; r++)
            memcpy(xp[r], xr[r] + nk, sizeof(float) * tailn);
        for (int q = 0; q < FC_LV; q++)
            for (int o = 0; o < FC_OB; o++) {
                const vf wv = vload(wp + o * FC_KCP + nk + q * VW);
                for (int r = 0; r < FC_RB; r++)
                    acc[r][o][q] += vload(xp[r] + q * VW) * wv;
            }
    }
    if (last) {
        fc_tree_vec(sums, &acc[0][0][0], FC_RB * FC_OB);
        return;
    }
    for (int r = 0; r < FC_RB; r++)
        for (int o = 0; o < FC_OB; o++)
            for (int q = 0; q < FC_LV; q++)
                vstore(acc_mem + (r * FC_OB + o) * 16 + q * VW, acc[r][o][q]);
}

static void k_linear_forward(float *z, const float *x, const float *w, const float *b, int B,
                             int NI, int O) {
    const int OG = FC_OG * FC_OB; /* outputs of a work item */
    const int n_rg = (B + FC_ROWS - 1) / FC_ROWS, n_og = (O + OG - 1) / OG;
    const int items = n_rg * n_og, kfull = NI - NI % 16;
#pragma omp parallel for schedule(static) num_threads(kernel_threads) if (items > 1)
    for (int it = 0; it < items; it++) {
        const int r0 = it / n_og * FC_ROWS, og = it % n_og * OG;
        const int rows = B - r0 < FC_ROWS ? B - r0 : FC_ROWS;
        const int nt = (O - og < OG ? O - og + FC_OB - 1 : OG) / FC_OB; /* tiles of the item */
        /* The 16 lanes of every (tile, row, output) of the item between k
         * blocks, and each tile's w rows of one k block, packed (one after
         * another, not 4 NI bytes apart, which would put them all in the
         * same sets of the L1 cache when NI is a multiple of 1024), the tail
         * block zero-padded. */
        enum { ROWS_PAD = (FC_ROWS + FC_RB - 1) / FC_RB * FC_RB };
        float acc[FC_OG * ROWS_PAD * FC_OB * 16] __attribute__((aligned(64)));
        float sums[FC_OG * ROWS_PAD * FC_OB];
        float wp[FC_OG][FC_OB * FC_KCP] __attribute__((aligned(64)));
        int k0 = 0;
        do {
            const int k1 = k0 + FC_KC < kfull ? k0 + FC_KC : kfull;
            const int tailn = k1 == kfull ? NI - kfull : 0;
            for (int t = 0; t < nt; t++) {
                const int o0 = og + t * FC_OB, no = O - o0 < FC_OB ? O - o0 : FC_OB;
                for (int o = 0; o < FC_OB; o++) {
                    const float *wo = w + (size_t)(o0 + (o < no ? o : no - 1)) * NI;
                    memcpy(wp[t] + o * FC_KCP, wo + k0, sizeof(float) * (k1 - k0 + tailn));
                    if (tailn)
                        memset(wp[t] + o * FC_KCP + (k1 - k0) + tailn, 0,
                               sizeof(float) * (16 - tailn));
                }
            }
            for (int rt = 0; rt < rows; rt += FC_RB) {
                const float *xr[FC_RB];
                for (int r = 0; r < FC_RB; r++)
                    xr[r] = x + (size_t)(r0 + (rt + r < rows ? rt + r : rows - 1)) * NI + k0;
                for (int t = 0; t < nt; t++) {
                    const size_t at = (size_t)t * ROWS_PAD + rt;
                    fc_fwd_tile(acc + at * FC_OB * 16, sums + at * FC_OB, xr, wp[t], k1 - k0, tailn,
                                k0 == 0, k1 == kfull);
                }
            }
            k0 = k1;
        } while (k0 < kfull);
        /* Each output's tree (fc_fwd_tile), then the bias. */
        for (int t = 0; t < nt; t++) {
            const int o0 = og + t * FC_OB, no = O - o0 < FC_OB ? O - o0 : FC_OB;
            for (int r = 0; r < rows; r++)
                for (int o = 0; o < no; o++) {
                    const size_t at = ((size_t)t * ROWS_PAD + r) * FC_OB + o;
                    float s = sums[at];
                    if (b) s = s + b[o0 + o];
                    z[(size_t)(r0 + r) * O + o0 + o] = s;
                }
        }
    }
}

/* out[i][k] (+)= sum_c s[i * srs + c * scs] * src[c * lds + k], c = 0 .. nc-1
 * ascending, for rows i < nr (at most FB_RB; the missing ones repeat the
 * last and are not stored) and the KV vectors of lanes at out and src: from
 * +0 when first, else continuing the chain from the values in out. */
static inline __attribute__((always_inline)) void
fc_outer_tile(float *out, size_t ldo, const float *src, size_t lds, const float *s, size_t srs,
              size_t scs, int nr, int nc, int first, const int KV) {
    vf acc[FB_RB][FB_KV];
    const float *sr[FB_RB];
    for (int i = 0; i < FB_RB; i++) {
        sr[i] = s + (size_t)(i < nr ? i : nr - 1) * srs;
        for (int v = 0; v < KV; v++)
            acc[i][v] = first || i >= nr ? (vf){0} : vload(out + (size_t)i * ldo + v * VW);
    }
    for (int c = 0; c < nc; c++) {
        const float *sc = src + (size_t)c * lds;
        vf in[FB_KV];
        for (int v = 0; v < KV; v++)
            in[v] = vload(sc + v * VW);
        for (int i = 0; i < FB_RB; i++) {
            const float g = sr[i][(size_t)c * scs];
            for (int v = 0; v < KV; v++)
                acc[i][v] += g * in[v];
        }
    }
    for (int i = 0; i < FB_RB; i++)
        if (i < nr)
            for (int v = 0; v < KV; v++)
                vstore(out + (size_t)i * ldo + v * VW, acc[i][v]);
}

/* The columns [c0, c1) of out (nrows, ld) as fc_outer_tile says: blocks of
 * FB_KV vectors, then single vectors, then single floats. For the blocks
 * of long rows, the chain runs in pieces of FB_CP entries whose rows of src
 * are first copied one after another (NI floats apart, they would fall
 * into the same L1 sets), each piece continuing the chains of the one
 * before. */
#define FB_CP 128
static void fc_outer(float *out, const float *src, size_t ld, const float *s, size_t srs,
                     size_t scs, int nrows, int nc, int c0, int c1) {
    enum { KW = FB_KV * VW };
    float sp[FB_CP * KW] __attribute__((aligned(64)));
    /* Short rows (fewer than 1024 floats, sets of the L1 cache to spare) go
     * without the copy: the same chain, so the same bits. */
    const int pack = ld >= 1024;
    int k = c0;
    for (; k + KW <= c1 && !pack; k += KW)
        for (int i0 = 0; i0 < nrows; i0 += FB_RB)
            fc_outer_tile(out + (size_t)i0 * ld + k, ld, src + k, ld, s + (size_t)i0 * srs, srs,
                          scs, nrows - i0 < FB_RB ? nrows - i0 : FB_RB, nc, 1, FB_KV);
    for (; k + KW <= c1; k += KW)
        for (int p0 = 0; p0 < nc; p0 += FB_CP) {
            const int np = nc - p0 < FB_CP ? nc - p0 : FB_CP;
            for (int c = 0; c < np; c++)
                memcpy(sp + c * KW, src + (size_t)(p0 + c) * ld + k, sizeof(float) * KW);
            for (int i0 = 0; i0 < nrows; i0 += FB_RB)
                fc_outer_tile(out + (size_t)i0 * ld + k, ld, sp, KW,
                              s + (size_t)i0 * srs + (size_t)p0 * scs, srs, scs,
                              nrows - i0 < FB_RB ? nrows - i0 : FB_RB, np, p0 == 0, FB_KV);
        }
    for (; k + VW <= c1; k += VW)
        for (int i0 = 0; i0 < nrows; i0 += FB_RB)
            fc_outer_tile(out + (size_t)i0 * ld + k, ld, src + k, ld, s + (size_t)i0 * srs, srs,
                          scs, nrows - i0 < FB_RB ? nrows - i0 : FB_RB, nc, 1, 1);
    for (; k < c1; k++)
        for (int i = 0; i < nrows; i++) {
            float acc = 0.0f;
            for (int c = 0; c < nc; c++)
                acc = MADD(s[(size_t)i * srs + (size_t)c * scs], src[(size_t)c * ld + k], acc);
            out[(size_t)i * ld + k] = acc;
        }
}

static void k_linear_backward(float *dx, float *dw, float *db, const float *dz, const float *x,
                              const float *w, int B, int NI, int O) {
    const int nt = (NI + FC_COLS - 1) / FC_COLS;
#pragma omp parallel num_threads(kernel_threads)
    {
        /* dw (O, NI): row o, chain over the batch rows r of dz[r][o] x[r]. */
#pragma omp for schedule(static) nowait
        for (int t = 0; t < nt; t++) {
            const int c0 = t * FC_COLS, c1 = NI - c0 < FC_COLS ? NI : c0 + FC_COLS;
            fc_outer(dw, x, NI, dz, 1, O, O, B, c0, c1);
        }
        if (db) {
#pragma omp for schedule(static) nowait
            for (int o = 0; o < O; o++) {
                float s = 0.0f;
                for (int r = 0; r < B; r++)
                    s += dz[(size_t)r * O + o];
                db[o] = s;
            }
        }
        /* dx (B, NI): row r, chain over the outputs o of dz[r][o] w[o]. */
        if (dx) {
#pragma omp for schedule(static)
            for (int t = 0; t < nt; t++) {
                const int c0 = t * FC_COLS, c1 = NI - c0 < FC_COLS ? NI : c0 + FC_COLS;
                fc_outer(dx, w, NI, dz, O, 1, B, O, c0, c1);
            }
        }
    }
}

/* ---- loss and optimisers ------------------------------------------------------ */

static double k_ce_loss(const float *logits, const uint8_t *y, int B, int NC, float *dlogits,
                        double *per_sample) {
    double total = 0.0;
    for (int i = 0; i < B; i++) {
        const float *z = logits + (size_t)i * NC;
        double m = -DBL_MAX;
        for (int c = 0; c < NC; c++) {
            if (!isfinite(z[c])) return NAN;
            if (z[c] > m) m = z[c];
        }
        double s = 0.0;
        for (int c = 0; c < NC; c++)
            s += exp((double)z[c] - m);
        const double lse = m + log(s);
        const double li = lse - (double)z[y[i]];
        if (per_sample) per_sample[i] = li;
        total += li;
        if (dlogits) {
            for (int c = 0; c < NC; c++) {
                double p = exp((double)z[c] - lse);
                dlogits[(size_t)i * NC + c] = (float)((p - (c == y[i] ? 1.0 : 0.0)) / B);
            }
        }
    }
    return total / B;
}

static void k_sgd_step(float *p, const float *g, float *buf, size_t n, float lr, float momentum,
                       long t) {
    if (momentum == 0.0f) {
        for (size_t j = 0; j < n; j++)
            p[j] -= lr * g[j];
        return;
    }
    for (size_t j = 0; j < n; j++) {
        buf[j] = t == 1 ? g[j] : momentum * buf[j] + g[j];
        p[j] -= lr * buf[j];
    }
}

static void k_adam_step(float *p, const float *g, float *m, float *v, size_t n, float lr,
                        float beta1, float beta2, float eps, long t) {
    /* As torch.optim.Adam (single-tensor path): scalars are computed in double
     * and used in float. */
    const double bc1 = 1.0 - pow((double)beta1, (double)t);
    const double bc2 = 1.0 - pow((double)beta2, (double)t);
    const float step_size = (float)((double)lr / bc1);
    const float bc2_sqrt = (float)sqrt(bc2);
    const float a1 = (float)(1.0 - (double)beta1), a2 = (float)(1.0 - (double)beta2);
    /* Element by element: any split among the threads gives the same bits.
     * Split, each core streams its own part (memory bound: four arrays). */
#pragma omp parallel for schedule(static) num_threads(kernel_threads) if (n >= 65536)
    for (size_t j = 0; j < n; j++) {
        const float gj = g[j];
        m[j] = m[j] * beta1 + a1 * gj;
        v[j] = v[j] * beta2 + a2 * gj * gj;
        const float denom = sqrtf(v[j]) / bc2_sqrt + eps;
        p[j] = p[j] - step_size * (m[j] / denom);
    }
}

const ms__kernel_table_t MS_CAT(ms__kernels_, MS_ISA_SUFFIX) = {
    .name = MS_STR(MS_ISA_SUFFIX),
    .linear_forward = k_linear_forward,
    .linear_backward = k_linear_backward,
    .relu_dropout_forward = k_relu_dropout_forward,
    .relu_dropout_backward = k_relu_dropout_backward,
    .conv_relu_pool_forward = k_conv_relu_pool_forward,
    .conv_relu_pool_backward = k_conv_relu_pool_backward,
    .ce_loss = k_ce_loss,
    .sgd_step = k_sgd_step,
    .adam_step = k_adam_step,
};
