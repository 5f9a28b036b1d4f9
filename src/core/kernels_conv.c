/* The conv blocks' training kernels (conv + ReLU + 2x2 max pooling,
 * forward and backward) for one instruction-set path: compiled once per
 * path with MS_ISA_SUFFIX set, as kernels.c, whose table points at them
 * (kernels_vec.h names them per path). Built with -ffp-contract=fast: a*b+c
 * may become one FMA where the path has FMA units.
 *
 * Dimension letters: B batch, C input channels, H W input size, F filters,
 * K kernel side, P padding, HO WO conv output size. */
#include "kernels_table.h"
#include "kernels_vec.h"

#include <omp.h>
#include <string.h>

/* The conv forward's register tile: FW_FB filters x FW_XV vectors of
 * columns of accumulators, plus FW_XV input vectors and one broadcast weight
 * (16 xmm: 8 + 2 + 1; 16 ymm: 8 + 2 + 1; 32 zmm: 16 + 2 + 1); the conv
 * weight gradient's DW_ACC accumulators (a group of filters x a block of
 * lanes), plus one broadcast gradient and the patch loads: 8 of 16 xmm or
 * ymm, 16 of 32 zmm. */
#if VW == 16
#define FW_FB 8
#define FW_XV 2
#define DW_ACC 16
#else
#define FW_FB 4
#define FW_XV 2
#define DW_ACC 8
#endif

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
void k_conv_relu_pool_forward(float *act, float *pooled, uint8_t *idx, const float *x,
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

void k_conv_relu_pool_backward(float *dx, float *dw, float *db, const float *dpooled,
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
                            gmap[(size_t)f * HO * WO +
                                 ms_pool_offset(py, px, idx[(pl0 + f) * PHW + q], WO)] =
                                gs[2 * (f * PHW + q)];
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
