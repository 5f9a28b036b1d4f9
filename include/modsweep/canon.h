/* The canonical double-precision arithmetic of the exact pruning (prune.h),
 * header-only so the CPU (src/prune/prune.c) and the GPU (cuda/prune.cu) evaluate
 * the same operations in the same order and get the same bits.
 *
 * Every function here is plain IEEE double arithmetic: no library exp/log,
 * no fused multiply-add. The C build forbids contraction with
 * -ffp-contract=off; under nvcc (built with --fmad=false as well) the
 * operations whose operands could otherwise be contracted are written with
 * the round-to-nearest intrinsics through MS_DADD / MS_DSUB / MS_DMUL /
 * MS_DDIV, which are the plain operators in C.
 *
 * What is here (moved from src/prune/prune.c without changing an operation):
 *  - ms_canon_round_magic, ms_canon_exp_reduced, ms_canon_exp_core,
 *    ms_canon_exp (= ms_exact_exp), ms_canon_log_core, ms_canon_log
 *    (= ms_exact_log);
 *  - ms_canon_fixed_loss: a loss as an exact 2^-53 fixed-point integer;
 *  - ms_canon_ce: the cross-entropy of one sample's logits;
 *  - ms_canon_conv_at: one output of a conv layer (canonical_features);
 *  - ms_canon_combine: row_tree's rule for combining two child nodes;
 *  - ms_canon_tree_gap and ms_canon_tree_sparse: the row tree evaluated
 *    from a row's non-zero weights in ascending input order.
 * Dimension letters: NC classes. */
#ifndef MODSWEEP_CANON_H
#define MODSWEEP_CANON_H

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "modsweep/hd.h"

#ifdef __CUDA_ARCH__
#define MS_DADD(a, b) __dadd_rn((a), (b))
#define MS_DSUB(a, b) __dsub_rn((a), (b))
#define MS_DMUL(a, b) __dmul_rn((a), (b))
#define MS_DDIV(a, b) __ddiv_rn((a), (b))
#else
#define MS_DADD(a, b) ((a) + (b))
#define MS_DSUB(a, b) ((a) - (b))
#define MS_DMUL(a, b) ((a) * (b))
#define MS_DDIV(a, b) ((a) / (b))
#endif

typedef __int128 ms_i128;

#define MS_CANON_LN2_HI 6.93147180369123816490e-01 /* high 32 bits of ln 2 */
#define MS_CANON_LN2_LO 1.90821492927058770002e-10 /* ln 2 - LN2_HI */

MS_HD static inline uint64_t ms_canon_d2u(double d) {
#ifdef __CUDA_ARCH__
    return (uint64_t)__double_as_longlong(d);
#else
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
#endif
}

MS_HD static inline double ms_canon_u2d(uint64_t u) {
#ifdef __CUDA_ARCH__
    return __longlong_as_double((long long)u);
#else
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
#endif
}

/* c ? a : b (c is 0 or 1) through the bits: both sides are computed and no
 * branch is left for the compiler to keep (a conditional multiply may trap,
 * so without AVX-512's masks it would not vectorise). */
MS_HD static inline double ms_canon_select(uint64_t c, double a, double b) {
    const uint64_t m = (uint64_t)0 - c;
    return ms_canon_u2d((ms_canon_d2u(a) & m) | (ms_canon_d2u(b) & ~m));
}

/* 1.5 * 2^52 and its bits: y + MS_CANON_MAGIC is exact for an integer y
 * with |y| < 2^51, and its bits are MS_CANON_MAGIC_BITS + y (as a 64-bit
 * integer). The conversions between small integers and doubles below go
 * through it instead of a double <-> int64 conversion, which has no vector
 * instruction before AVX-512 (so that loops over exp and log vectorise on
 * AVX2 too); the integers and doubles are the same, so are the results. */
#define MS_CANON_MAGIC 6755399441055744.0
#define MS_CANON_MAGIC_BITS 0x4338000000000000ull

/* The main path of ms_exact_exp, valid for -700 <= x <= 700. x = (n/2) ln 2 + r
 * with |r| <= ln2 / 4 (n * LN2_HI / 2 is exact: LN2_HI has 32 significant
 * bits and |n| < 2^12); exp(r) by its Taylor series to r^11 / 11! (error
 * below 2e-18); times sqrt(2) for odd n, then times 2^floor(n/2) through the
 * exponent bits (exact). Branch-free, so loops over it vectorise. */
MS_HD static inline double ms_canon_exp_reduced(double n, double r) {
    double p = 1.0 / 39916800.0;
    p = MS_DADD(MS_DMUL(p, r), 1.0 / 3628800.0);
    p = MS_DADD(MS_DMUL(p, r), 1.0 / 362880.0);
    p = MS_DADD(MS_DMUL(p, r), 1.0 / 40320.0);
    p = MS_DADD(MS_DMUL(p, r), 1.0 / 5040.0);
    p = MS_DADD(MS_DMUL(p, r), 1.0 / 720.0);
    p = MS_DADD(MS_DMUL(p, r), 1.0 / 120.0);
    p = MS_DADD(MS_DMUL(p, r), 1.0 / 24.0);
    p = MS_DADD(MS_DMUL(p, r), 1.0 / 6.0);
    p = MS_DADD(MS_DMUL(p, r), 0.5);
    p = MS_DADD(MS_DMUL(p, r), 1.0);
    p = MS_DADD(MS_DMUL(p, r), 1.0);
    /* n odd: the low bit of n + MS_CANON_MAGIC (n is an integer, |n| < 2^12). */
    const uint64_t odd = ms_canon_d2u(MS_DADD(n, MS_CANON_MAGIC)) & 1;
    return ms_canon_select(odd, MS_DMUL(p, 0x1.6a09e667f3bcdp+0), p);
}

/* Round to the nearest integer (ties to even) for |y| < 2^51: adding and
 * subtracting 1.5 * 2^52 is exact IEEE arithmetic (no -ffast-math here), and
 * unlike floor() it vectorises. */
MS_HD static inline double ms_canon_round_magic(double y) {
    return MS_DSUB(MS_DADD(y, MS_CANON_MAGIC), MS_CANON_MAGIC);
}

/* n and r of the range reduction x = (n/2) ln 2 + r. */
MS_HD static inline double ms_canon_exp_n(double x) {
    return ms_canon_round_magic(MS_DMUL(x, (2.0 / 6.93147180559945309417e-01)));
}
MS_HD static inline double ms_canon_exp_r(double x, double n) {
    return MS_DSUB(MS_DSUB(x, MS_DMUL(n, (MS_CANON_LN2_HI / 2.0))),
                   MS_DMUL(n, (MS_CANON_LN2_LO / 2.0)));
}

MS_HD static inline double ms_canon_exp_core(double x) {
    const double n = ms_canon_exp_n(x);
    const double r = ms_canon_exp_r(x, n);
    const double v = ms_canon_exp_reduced(n, r);
    /* 2^floor(n/2) from its exponent bits floor(n/2) + 1023 = (n + 2046) >> 1,
     * a shift of a non-negative integer (n >= -2020 here). */
    const uint64_t n2046 = ms_canon_d2u(MS_DADD(n, MS_CANON_MAGIC)) - MS_CANON_MAGIC_BITS + 2046u;
    const double two = ms_canon_u2d((n2046 >> 1) << 52);
    return MS_DMUL(v, two);
}

/* exp in plain double arithmetic (ms_exact_exp of prune.h). */
MS_HD static inline double ms_canon_exp(double x) {
    if (x != x) return x;
    if (x > 709.0) return INFINITY;
    if (x < -745.0) return 0.0;
    if (x >= -700.0 && x <= 700.0) return ms_canon_exp_core(x);
    /* Near the ends of the range: the same steps, the scaling by ldexp. */
    const double n = ms_canon_exp_n(x);
    const double r = ms_canon_exp_r(x, n);
    return ldexp(ms_canon_exp_reduced(n, r), (int)((int64_t)n >> 1));
}

/* The main path of ms_exact_log for positive normal x: x = f 2^e with f in
 * [sqrt(1/2), sqrt(2)) read from the bits (what frexp gives), then
 * log f = 2 atanh(u), u = (f - 1)/(f + 1), |u| < 0.1716, by its series to u^25. */
MS_HD static inline double ms_canon_log_core(double x) {
    uint64_t bits = ms_canon_d2u(x);
    int64_t e = (int64_t)((bits >> 52) & 0x7ff) - 1022;
    bits = (bits & 0x800fffffffffffffull) | 0x3fe0000000000000ull; /* f in [0.5, 1) */
    double f = ms_canon_u2d(bits);
    const int low = f < 0.70710678118654752440;
    f = ms_canon_select((uint64_t)low, MS_DMUL(f, 2.0), f);
    e = e - low;
    const double u = MS_DDIV(MS_DSUB(f, 1.0), MS_DADD(f, 1.0)), u2 = MS_DMUL(u, u);
    double s = 1.0 / 25.0;
    for (int k = 23; k >= 1; k -= 2)
        s = MS_DADD(MS_DMUL(s, u2), MS_DDIV(1.0, (double)k));
    const double logf = MS_DMUL(MS_DMUL(2.0, u), s);
    /* (double)e through MS_CANON_MAGIC (|e| < 1100). */
    const double ed = MS_DSUB(ms_canon_u2d(MS_CANON_MAGIC_BITS + (uint64_t)e), MS_CANON_MAGIC);
    return MS_DADD(MS_DADD(MS_DMUL(ed, MS_CANON_LN2_HI), logf), MS_DMUL(ed, MS_CANON_LN2_LO));
}

/* log in plain double arithmetic (ms_exact_log of prune.h). */
MS_HD static inline double ms_canon_log(double x) {
    if (x != x || x < 0.0) return NAN;
    if (x == 0.0) return -INFINITY;
    if (x == INFINITY) return x;
    if (x >= 2.2250738585072014e-308) return ms_canon_log_core(x);
    /* Subnormal: scale into the normal range first (exact). */
    return MS_DSUB(
        MS_DSUB(ms_canon_log_core(MS_DMUL(x, 18014398509481984.0)), 54.0 * MS_CANON_LN2_HI),
        54.0 * MS_CANON_LN2_LO);
}

/* One sample's loss as an exact fixed-point number: the double ce rounded to a
 * multiple of 2^-53 (floor part and 53-bit fraction), as a 128-bit integer. */
MS_HD static inline ms_i128 ms_canon_fixed_loss(double ce) {
    const double hi = floor(ce);
    const double frac = MS_DSUB(ce, hi);                           /* exact, in [0, 1) */
    const int64_t lo = (int64_t)MS_DMUL(frac, 9007199254740992.0); /* * 2^53, truncated */
    return (ms_i128)(int64_t)hi * ((ms_i128)1 << 53) + lo;
}

/* The same number in two 64-bit parts, q = hi * 2^53 + lo with 0 <= lo < 2^53
 * (what vector loops can compute: no 128-bit lanes); ms_canon_fixed_join
 * puts them together. */
MS_HD static inline void ms_canon_fixed_parts(double ce, int64_t *hi, int64_t *lo) {
    const double h = floor(ce);
    *hi = (int64_t)h;
    *lo = (int64_t)MS_DMUL(MS_DSUB(ce, h), 9007199254740992.0);
}
/* The same two integers for |ce| < 2^50, in additions, comparisons and bits
 * only (no floor and no double -> int64 conversion, which AVX2 lacks), so
 * that a loop over it vectorises. A whole y with |y| < 2^51 has the bits
 * MS_CANON_MAGIC_BITS + y in y + MS_CANON_MAGIC, and adding then
 * subtracting MS_CANON_MAGIC rounds to the nearest whole number: floor(ce)
 * is that, less one where it is above ce. The fraction times 2^53 (the same
 * operations as above) is f in [0, 2^53]: below 2^52, the bits of f + 2^52
 * hold the whole number nearest f (less one where that is above f: the
 * truncation); from 2^52 on, f is whole and its bits (exponent 52) hold
 * f - 2^52. The selections go through bit masks: a conditional subtraction
 * may trap, so it would not vectorise. test_canon_vec checks both against
 * each other, vectorised too. */
MS_HD static inline void ms_canon_fixed_parts_small(double ce, int64_t *hi, int64_t *lo) {
    const uint64_t two52 = 0x4330000000000000ull; /* the bits of 2^52 */
    const double r = MS_DSUB(MS_DADD(ce, MS_CANON_MAGIC), MS_CANON_MAGIC);
    const double h = ms_canon_select((uint64_t)(r > ce), MS_DSUB(r, 1.0), r);
    *hi = (int64_t)(ms_canon_d2u(MS_DADD(h, MS_CANON_MAGIC)) - MS_CANON_MAGIC_BITS);
    const double f = MS_DMUL(MS_DSUB(ce, h), 9007199254740992.0);
    const double u = MS_DADD(f, 4503599627370496.0);
    const uint64_t below =
        ms_canon_d2u(u) - two52 - (uint64_t)(MS_DSUB(u, 4503599627370496.0) > f);
    const uint64_t above = ms_canon_d2u(f) - two52 + ((uint64_t)1 << 52);
    const uint64_t small = (uint64_t)0 - (uint64_t)(f < 4503599627370496.0);
    *lo = (int64_t)((below & small) | (above & ~small));
}

MS_HD static inline ms_i128 ms_canon_fixed_join(int64_t hi, int64_t lo) {
    return (ms_i128)hi * ((ms_i128)1 << 53) + lo;
}

/* Cross-entropy of one sample's logits z (NC) for class y, canonical order. */
MS_HD static inline double ms_canon_ce(const double *z, int NC, int y) {
    double m = -DBL_MAX;
    for (int c = 0; c < NC; c++)
        if (z[c] > m) m = z[c];
    double s = 0.0;
    for (int c = 0; c < NC; c++)
        s = MS_DADD(s, ms_canon_exp(MS_DSUB(z[c], m)));
    return MS_DSUB(MS_DADD(m, ms_canon_log(s)), z[y]);
}

/* One conv output (f, y, xo), before the ReLU, of one image whose input is
 * in (C, H, W): the bias, then the taps (c, ky, kx) in ascending order, taps
 * outside the image skipped, each product and sum one double operation. */
MS_HD static inline double ms_canon_conv_at(const double *in, const float *w, const float *b, int C,
                                            int H, int W, int K, int P, int f, int y, int xo) {
    double acc = b ? (double)b[f] : 0.0;
    for (int c = 0; c < C; c++)
        for (int ky = 0; ky < K; ky++) {
            const int yy = y + ky - P;
            if (yy < 0 || yy >= H) continue;
            for (int kx = 0; kx < K; kx++) {
                const int xx = xo + kx - P;
                if (xx < 0 || xx >= W) continue;
                acc = MS_DADD(acc, MS_DMUL((double)w[((f * C + c) * K + ky) * K + kx],
                                           in[((size_t)c * H + yy) * W + xx]));
            }
        }
    return acc;
}

/* row_tree's rule: node = left + right when both children are present, the
 * present one when only one is; *present says whether the node is. */
MS_HD static inline double ms_canon_combine(int pa, double a, int pb, double b, int *present) {
    *present = pa || pb;
    if (pa && pb) return MS_DADD(a, b);
    return pb && !pa ? b : a;
}

/* The level at which two leaves a != b of the row tree meet: one more than
 * the highest bit in which they differ. */
MS_HD static inline int ms_canon_tree_gap(int a, int b) {
#ifdef __CUDA_ARCH__
    return 32 - __clz((unsigned)(a ^ b));
#else
    return 32 - __builtin_clz((unsigned)(a ^ b));
#endif
}

/* row_tree of a sparse row: the present terms w[k] * h[idx[k]] in ascending
 * input order, evaluated with the same tree, plus the bias (NULL: none). Two
 * leaves a < b meet at the level of the highest bit in which a and b differ;
 * walking the leaves in order with a stack, pairs that meet deeper than the
 * next gap are added first, so the additions (operands and order) are those
 * of row_tree. */
MS_HD static inline double ms_canon_tree_sparse(const int *idx, const double *w, int nnz,
                                                const double *h, const float *bias) {
    if (nnz <= 2) {
        if (nnz == 0) return bias ? (double)*bias : 0.0;
        double t = MS_DMUL(w[0], h[idx[0]]);
        if (nnz == 2) t = MS_DADD(t, MS_DMUL(w[1], h[idx[1]]));
        return bias ? MS_DADD((double)*bias, t) : t;
    }
    double v[33];
    int gap[33];
    int top = -1;
    for (int k = 0; k < nnz; k++) {
        const double val = MS_DMUL(w[k], h[idx[k]]);
        if (top >= 0) {
            const int g = ms_canon_tree_gap(idx[k - 1], idx[k]);
            while (top >= 1 && gap[top - 1] < g) {
                v[top - 1] = MS_DADD(v[top - 1], v[top]);
                top--;
            }
            gap[top] = g;
        }
        v[++top] = val;
    }
    while (top >= 1) {
        v[top - 1] = MS_DADD(v[top - 1], v[top]);
        top--;
    }
    if (bias) return top == 0 ? MS_DADD((double)*bias, v[0]) : (double)*bias;
    return top == 0 ? v[0] : 0.0;
}

#endif
