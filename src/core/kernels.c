/* The training kernels of kernels.h for one instruction-set path: ReLU and
 * dropout, the fc layers, the loss and the optimisers here, the conv blocks
 * in kernels_conv.c, their shared vector helpers in kernels_vec.h.
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
#include "kernels_vec.h"
#include "modsweep/kernels.h"
#include "modsweep/rng.h"

#include <float.h>
#include <math.h>
#include <omp.h>
#include <string.h>

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
