/* The exact pruning of prune.h for a data-parallel device: the same masks,
 * losses and tie counts as ms_prune (bit for bit), with every candidate
 * state of a speculative window evaluated at once.
 *
 * The algorithm (src/prune/prune_dev.c) is written once against a table of
 * operations, ms_pdev_ops_t: the CUDA backend implements them with kernels
 * (cuda/prune.cu, used by ms_prune_gpu in gpu.h), and a host emulation
 * (ms_pdev_host_ops) implements them with plain loops, so the algorithm runs
 * and is tested on machines without a GPU. Both implementations call the
 * per-element functions of this header (MS_HD: host and device), which use
 * the canonical arithmetic of canon.h.
 *
 * How a window is evaluated. While row o of fc layer l is pruned, the row's
 * pre-activation of sample n is bias + the row tree over its present terms
 * w[i] h[i] (canon.h). The committed tree (the row's current weights) is
 * kept for all samples, level by level. State b of a window starting at
 * leaf j zeroes leaves j .. c = j + b - 1; its root is found by walking from
 * leaf c to the root: at each level the node on the path combines with its
 * sibling, and the sibling is
 *  - a right sibling (leaves > c): its committed value;
 *  - a left sibling wholly below j: its committed value;
 *  - the left sibling that holds leaf j: its value with the leaves >= j
 *    zeroed (the "prefix" node, walked up alongside);
 *  - a left sibling wholly inside [j, c): absent.
 * So every state costs O(log NI) per sample, independently of the others.
 * A state only needs the downstream network for samples whose activation of
 * unit o changed; the others keep their committed loss. The per-sample
 * losses are exact fixed-point integers, so the state sums do not depend on
 * the order of summation, and the first failing state is a minimum.
 *
 * Dimension letters: N samples, NI inputs and O outputs of an fc layer, NC
 * classes, B window length. */
#ifndef MODSWEEP_PRUNE_DEV_H
#define MODSWEEP_PRUNE_DEV_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "modsweep/canon.h"
#include "modsweep/nn.h"
#include "modsweep/prune.h"

#define MS_PDEV_MAX_LEVELS 32 /* levels of a row tree: NI < 2^31 */
#define MS_PDEV_BMAX 1024     /* longest window */

/* One fc layer in sparse form: its non-zero weights row by row, ascending
 * inputs within a row (the order canon.h's tree_sparse needs). */
typedef struct ms_pdev_csr {
    const int *row_start; /* (O + 1) */
    const int *idx;       /* (nnz) input of each non-zero */
    const double *w;      /* (nnz) its weight */
    const float *bias;    /* (O) or NULL */
    int O, NI;
} ms_pdev_csr_t;

/* The row tree of the row being pruned, for all N samples. Level 0 (the
 * leaves) is not stored: leaf v is w[v] * hT[v][n], present when w[v] != 0. */
typedef struct ms_pdev_tree {
    int N, NI, D;                       /* D: levels above the leaves; level D is the root */
    int nk[MS_PDEV_MAX_LEVELS];         /* nodes per level; nk[0] = NI */
    long long voff[MS_PDEV_MAX_LEVELS]; /* level k >= 1: offset of its values in val */
    long long poff[MS_PDEV_MAX_LEVELS]; /* level k >= 1: offset of its presence in pres */
    double *val;                        /* level k: (nk[k], N) */
    uint8_t *pres;                      /* level k: (nk[k]) */
    const float *w;                     /* (NI) the row's current weights */
    const double *hT;                   /* (NI, N) the layer's input, sample index last */
} ms_pdev_tree_t;

/* Everything one window (and its commit) reads and writes; all pointers are
 * device memory. */
typedef struct ms_pdev_win {
    ms_pdev_tree_t tree;
    const float *bias; /* the pruned row's bias, or NULL */
    int l, o, nf, NC, N, label;
    int j, Bw;                    /* the window: states b = 1..Bw zero leaves j .. j+b-1 */
    int b0, b1;                   /* this rank's states (b0 <= b1) */
    int max_width;                /* widest activation vector downstream of layer l */
    ms_pdev_csr_t csr[MS_MAX_FC]; /* layers d > l */
    double *hin[MS_MAX_FC];       /* d > l: (N, NI_d) committed input of layer d */
    double *logits;               /* (N, NC) committed */
    ms_i128 *q;                   /* (N) committed fixed-point losses */
    double *zc;                   /* (N) committed pre-activation of the row */
    double *zs;                   /* (b1 - b0 + 1, N) pre-activation in each state */
    uint8_t *chg;                 /* (b1 - b0 + 1, N) the activation of unit o moved */
    ms_i128 *delta;               /* (b1 - b0 + 1, N) loss change of each sample */
    ms_i128 *dq;                  /* (N) loss change of each sample in a commit */
    ms_i128 *scal;                /* [0] current sum S, [1] S0, [2] tie tolerance */
    int32_t *res;                 /* [0] first failing state of this rank (B + 1: none),
                                     [1] of the team, [2 + b - b0] flags of state b
                                     (1: fails, 2: tie) */
} ms_pdev_win_t;

#define MS_PDEV_FAIL 1
#define MS_PDEV_TIE 2

/* The operations the algorithm needs from a device. Every pointer argument
 * named *_dev lives in the device's memory. Each returns 0 or a negative
 * ms_err_t with a message. Operations are executed in the order issued; d2h
 * waits for all of them. */
typedef struct ms_pdev_ops {
    const char *name;
    int (*alloc)(void **p, size_t bytes); /* zero-filled */
    void (*free)(void *p);
    int (*h2d)(void *dst_dev, const void *src, size_t bytes);
    int (*d2h)(void *dst, const void *src_dev, size_t bytes);
    int (*zero)(void *dst_dev, size_t bytes);
    /* out[e] = (double)x[e] for e < n. */
    int (*to_double)(double *out_dev, const float *x_dev, size_t n);
    /* One conv block of every sample in the canonical order (prune.h):
     * in (N, C, H, W) -> out (N, F, (H+2P-K+1)/2, (W+2P-K+1)/2). */
    int (*conv_pool)(double *out_dev, const double *in_dev, const float *w_dev, const float *b_dev,
                     int N, int C, int H, int W, int F, int K, int P);
    /* out (N, O) = canonical rows of c on in (N, NI); ReLU when relu. */
    int (*fc_forward)(double *out_dev, const double *in_dev, const ms_pdev_csr_t *c, int N,
                      int relu);
    /* hT (NI, N) = h (N, NI) transposed. */
    int (*transpose)(double *hT_dev, const double *h_dev, int N, int NI);
    /* q[n] = fixed-point canonical CE of logits (N, NC) for class label. */
    int (*losses)(ms_i128 *q_dev, const double *logits_dev, int N, int NC, int label);
    /* *out = sum of q (N). */
    int (*sum)(ms_i128 *out_dev, const ms_i128 *q_dev, int N);
    /* Every level of t from its weights; zc[n] = the row's pre-activation. */
    int (*tree_build)(const ms_pdev_tree_t *t, const float *bias_dev, double *zc_dev);
    /* h[n][col] = v for every sample (h is (N, NI)). */
    int (*set_column)(double *h_dev, int N, int NI, int col, double v);
    /* Evaluates states b0..b1 of the window: the flags, res[0] = the first
     * failing state (Bw + 1 if none) and res[1] = res[0]. */
    int (*window)(const ms_pdev_win_t *w);
    /* res[1] = minimum of res[0] over the team (only called for teams > 1). */
    int (*team_min)(int32_t *res_dev, void *team, MPI_Comm comm);
    /* Commits the zeroing of leaves j .. j+count-1 (whose weights are already
     * zero in device memory): the tree, the row's zc, the downstream state,
     * the losses and S. */
    int (*commit)(const ms_pdev_win_t *w, int count);
} ms_pdev_ops_t;

/* The host emulation: the operations as loops over host memory. */
const ms_pdev_ops_t *ms_pdev_host_ops(void);

/* Prunes as ms_prune does (cfg->naive is ignored), on the device of ops.
 * team: the NCCL communicator of cfg->comm's ranks (NULL: MPI only). */
int ms_prune_dev(const ms_layout_t *L, const float *params, const float *x, int N,
                 const ms_prune_cfg_t *cfg, void *team, const ms_pdev_ops_t *ops,
                 ms_prune_result_t *res);

/* CUDA builds only (test support): the device's canon.h results for x (n):
 * ms_canon_exp(x), ms_canon_log(|x|), ms_canon_fixed_loss(|x|), and
 * ms_canon_ce of each group of 10 values x[10 g ..] for class g % 10. */
int ms__gpu_canon_eval(const double *x, int n, double *exp_out, double *log_out, ms_i128 *fixed_out,
                       double *ce_out);

/* ---- per-element functions (host and device) ------------------------------------- */

MS_HD static inline double ms_pdev_relu(double z) {
    return z > 0.0 ? z : 0.0;
}

/* Committed node v of level k for sample n: returns whether it is present,
 * and its value in *val. */
MS_HD static inline int ms_pdev_node(const ms_pdev_tree_t *t, int k, int v, int n, double *val) {
    if (v >= t->nk[k]) return 0;
    if (k == 0) {
        const float wv = t->w[v];
        if (wv == 0.0f) return 0;
        *val = MS_DMUL((double)wv, t->hT[(size_t)v * t->N + n]);
        return 1;
    }
    if (!t->pres[t->poff[k] + v]) return 0;
    *val = t->val[t->voff[k] + (size_t)v * t->N + n];
    return 1;
}

/* Whether committed node v of level k is present (the same for all samples). */
MS_HD static inline int ms_pdev_present(const ms_pdev_tree_t *t, int k, int v) {
    if (v >= t->nk[k]) return 0;
    if (k == 0) return t->w[v] != 0.0f;
    return t->pres[t->poff[k] + v] != 0;
}

/* Node u of level k >= 1: its presence from its children's (level k - 1
 * must be up to date). */
MS_HD static inline void ms_pdev_update_pres(const ms_pdev_tree_t *t, int k, int u) {
    t->pres[t->poff[k] + u] =
        (uint8_t)(ms_pdev_present(t, k - 1, 2 * u) || ms_pdev_present(t, k - 1, 2 * u + 1));
}

/* Node u of level k >= 1 for sample n: its value from its children's. */
MS_HD static inline void ms_pdev_update_val(const ms_pdev_tree_t *t, int k, int u, int n) {
    double a = 0.0, b = 0.0;
    const int pa = ms_pdev_node(t, k - 1, 2 * u, n, &a);
    const int pb = ms_pdev_node(t, k - 1, 2 * u + 1, n, &b);
    int p;
    const double v = ms_canon_combine(pa, a, pb, b, &p);
    t->val[t->voff[k] + (size_t)u * t->N + n] = p ? v : 0.0;
}

/* The pre-activation bias + root (rt_z of prune.c). */
MS_HD static inline double ms_pdev_with_bias(const float *bias, int present, double root) {
    if (bias) return present ? MS_DADD((double)*bias, root) : (double)*bias;
    return present ? root : 0.0;
}

/* The committed pre-activation of sample n. */
MS_HD static inline double ms_pdev_root_z(const ms_pdev_tree_t *t, const float *bias, int n) {
    double r = 0.0;
    const int p = ms_pdev_node(t, t->D, 0, n, &r);
    return ms_pdev_with_bias(bias, p, r);
}

/* The pre-activation of sample n when leaves j .. c are zeroed (see the
 * comment at the top of this file). */
MS_HD static inline double ms_pdev_state_z(const ms_pdev_tree_t *t, const float *bias, int j, int c,
                                           int n) {
    int cp = 0, pp = 0; /* the path node of leaf c, the prefix node of leaf j */
    double cv = 0.0, pv = 0.0;
    for (int k = 1; k <= t->D; k++) {
        const int pc = c >> (k - 1), pj = j >> (k - 1), s = pc ^ 1;
        int sp = 0;
        double sv = 0.0;
        if (s > pc || s < pj) {
            sp = ms_pdev_node(t, k - 1, s, n, &sv);
        } else if (s == pj) {
            sp = pp;
            sv = pv;
        } /* else a left sibling wholly inside [j, c): absent */
        int np;
        const double nv =
            s < pc ? ms_canon_combine(sp, sv, cp, cv, &np) : ms_canon_combine(cp, cv, sp, sv, &np);
        if (pj & 1) {
            /* The prefix node is a right child: its left sibling lies wholly
             * below j. (As a left child its right sibling lies wholly at or
             * above j, absent, and the node keeps its value.) */
            double lv = 0.0;
            const int lp = ms_pdev_node(t, k - 1, pj ^ 1, n, &lv);
            int q;
            pv = ms_canon_combine(lp, lv, pp, pv, &q);
            pp = q;
        }
        cp = np;
        cv = nv;
    }
    return ms_pdev_with_bias(bias, cp, cv);
}

/* Canonical output `row` of layer c on the input vector h. */
MS_HD static inline double ms_pdev_row(const ms_pdev_csr_t *c, int row, const double *h) {
    const int q0 = c->row_start[row];
    return ms_canon_tree_sparse(c->idx + q0, c->w + q0, c->row_start[row + 1] - q0, h,
                                c->bias ? c->bias + row : NULL);
}

/* Canonical conv output (f, y, xo) of one sample after the ReLU. */
MS_HD static inline double ms_pdev_conv_at(const double *in, const float *w, const float *b, int C,
                                           int H, int W, int K, int P, int f, int y, int xo) {
    return ms_pdev_relu(ms_canon_conv_at(in, w, b, C, H, W, K, P, f, y, xo));
}

/* Pooled output (f, py, px): the maximum of the 2x2 window, compared in
 * row-major order (first maximum kept). */
MS_HD static inline double ms_pdev_conv_pool_at(const double *in, const float *w, const float *b,
                                                int C, int H, int W, int K, int P, int f, int py,
                                                int px) {
    const double o0 = ms_pdev_conv_at(in, w, b, C, H, W, K, P, f, 2 * py, 2 * px);
    const double o1 = ms_pdev_conv_at(in, w, b, C, H, W, K, P, f, 2 * py, 2 * px + 1);
    const double o2 = ms_pdev_conv_at(in, w, b, C, H, W, K, P, f, 2 * py + 1, 2 * px);
    const double o3 = ms_pdev_conv_at(in, w, b, C, H, W, K, P, f, 2 * py + 1, 2 * px + 1);
    double m = o0;
    if (o1 > m) m = o1;
    if (o2 > m) m = o2;
    if (o3 > m) m = o3;
    return m;
}

/* The activation of unit o of the pruned layer for pre-activation z: its
 * ReLU for a hidden layer, z itself for the logits. */
MS_HD static inline double ms_pdev_unit_act(const ms_pdev_win_t *w, double z) {
    return w->l + 1 < w->nf ? ms_pdev_relu(z) : z;
}

/* Where the committed activation of unit o of sample n is kept. */
MS_HD static inline double *ms_pdev_unit_slot(const ms_pdev_win_t *w, int n) {
    if (w->l + 1 < w->nf) return w->hin[w->l + 1] + (size_t)n * w->csr[w->l + 1].NI + w->o;
    return w->logits + (size_t)n * w->NC + w->o;
}

/* |s - s0| < tol and s > s0 as window flags. */
MS_HD static inline int32_t ms_pdev_flags(ms_i128 s, ms_i128 s0, ms_i128 tol) {
    ms_i128 d = s - s0;
    if (d < 0) d = -d;
    return (s > s0 ? MS_PDEV_FAIL : 0) | (d < tol ? MS_PDEV_TIE : 0);
}

#endif
