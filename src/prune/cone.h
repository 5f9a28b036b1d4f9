/* The downstream cone of the fast pruner (prune.c): what can change when one
 * output o of fc layer l changes while that row is pruned. The rows of later
 * layers that (transitively) read o, compiled into a short program whose
 * operations are exactly the canonical ones (row_tree's pairwise sums, bias,
 * ReLU, the cross-entropy), with every subtree that reads no changing input
 * precomputed once per row as a per-sample constant: those inputs are fixed
 * while row o is pruned. The samples are permuted so that the ones whose
 * input is zero (they rarely move) fill whole blocks, which are skipped.
 * Every lane performs the scalar canonical operations, so the losses are
 * bitwise those of the canonical evaluation. Internal to src/prune. */
#ifndef MODSWEEP_PRUNE_CONE_H
#define MODSWEEP_PRUNE_CONE_H

#include <stdint.h>

#include "modsweep/canon.h"
#include "modsweep/nn.h"

#define CONE_BS 64 /* samples per block: one vector lane each */
#define CONE_MAX_THREADS 64

/* A later layer in sparse form: each row's non-zero weights in ascending
 * input order, and for each input the rows that read it. */
typedef struct cone_readers {
    int *start;     /* (NI + 1) */
    int *row;       /* rows reading each input */
    int *row_start; /* (O + 1) */
    int *row_idx;   /* input index of each non-zero, ascending within a row */
    double *row_w;  /* its weight */
} cone_readers_t;

/* One operation on a register (64 lanes), or a chain of them fused into one
 * pass (fuse_chains): dst = [relu](a + K[k0] + ... + K[k0 + nk - 1]), each
 * addition rounded in that order, with a = dst, w * src (leaf 1) or
 * dst + src (leaf 2). */
typedef struct cone_op {
    int kind, dst, src, k0, nk, leaf, relu;
    double w;
} cone_op_t;

/* A subtree of a row that reads no changing input: its value per sample is
 * a constant of the row's program (or, with d < 0, the logit of class row). */
typedef struct cone_fixed {
    int d, row, qa, qb, k, t;
} cone_fixed_t;

typedef struct cone {
    const ms_layout_t *L;
    const float *w; /* current weights */
    int l, nf, N, NC, y, nth, nb;
    /* The samples are split into nth parts (one per thread): part t holds
     * samples n0[t] .. n0[t+1]-1 and blocks b0[t] .. b0[t+1]-1. */
    int n0[CONE_MAX_THREADS + 1], b0[CONE_MAX_THREADS + 1];
    cone_readers_t rd[MS_MAX_FC]; /* layers l+1 .. nf-1 */
    /* Row o's program. */
    int o, nregs, nops, nconst, cap_ops, cap_const;
    int n_rows[MS_MAX_FC], *rows[MS_MAX_FC], *row_reg[MS_MAX_FC];
    int *chg[MS_MAX_FC]; /* (NI_d) register of a changing input of layer d, or -1 */
    cone_op_t *ops;
    cone_fixed_t *fixed;
    int logit_reg[MS_MAX_CLASSES], logit_const[MS_MAX_CLASSES];
    /* The logits by value: the classes whose logit is the same double in
     * every sample (constants equal bit for bit, such as the rows of the last
     * layer pruned to nothing without a bias) form one group, each changing
     * logit its own; the cross-entropy computes one exp per group (the same
     * input gives the same exp) and sums them in class order. grp: each
     * class's group; grp_class: each group's first class, the only one with
     * a register (logit_reg) or a constant (logit_const). */
    int ng, grp[MS_MAX_CLASSES], grp_class[MS_MAX_CLASSES];
    int *free_regs, n_free;
    /* Per position of the permuted sample order (nb * CONE_BS of them). */
    int *perm;                   /* its sample, or N (padding: z[N] is +0) */
    double *K;                   /* (nb, nconst, CONE_BS) the constants */
    double *hin;                 /* the evaluated state's input (the row's output) */
    double *hcur, *hmemo;        /* the committed one, and the last evaluated one */
    int64_t *qcur[2], *qmemo[2]; /* their losses (ms_canon_fixed_parts: hi, lo) */
    size_t cap_K;
    double *regs[CONE_MAX_THREADS];         /* per thread: (nregs, CONE_BS) */
    struct ce_pack *pack[CONE_MAX_THREADS]; /* per thread: its packed moved samples */
    int cap_regs;
    double *tmp; /* (N) and (levels, N) scratch of the constants */
} cone_t;

/* Readers of every layer after l from the current weights w; nth threads. */
int cone_init(cone_t *c, const ms_layout_t *L, const float *w, int l, int N, int label, int nth);
void cone_free(cone_t *c);
/* Splits the samples into the nth parts n0[t] .. n0[t+1]-1 (n0[0] = 0,
 * n0[nth] = N, the boundaries on whole cache lines: multiples of 8), from
 * the next cone_set_row on; the results do not depend on the split. */
void cone_split(cone_t *c, const int *n0);
/* Does any later row read output o of layer l (always, for the last layer)? */
int cone_output_is_read(const cone_t *c, int o);
/* Prepares row o from the committed state: its program, its constants
 * (from hT[d], the inputs of the layers, and logT (NC, N)), the permutation,
 * and the committed input and losses (hT[l+1] or logT row o, and q). */
int cone_set_row(cone_t *c, int o, double *const *hT, const double *logT, const ms_i128 *q);
/* Part t's memo (the last evaluated state) back to the committed state. */
void cone_memo_reset_part(cone_t *c, int t);
/* Part t's share of the change of the loss sum when row o's
 * pre-activations are z (N + 1, sample order; only samples n0[t] ..
 * n0[t+1]-1 and z[N], which must be +0 and stands for the padding, are
 * read): against the memo (which then holds this state), or with commit
 * against the committed state (which then becomes this one). The thread
 * that computed part t's z evaluates it, with its registers (thread me);
 * the sum over the parts does not depend on the split. */
ms_i128 cone_eval_part(cone_t *c, const double *z, int commit, int t, int me);
/* Writes the committed state of row o's cone into hT, logT and q. Returns 0,
 * or an error if a recomputed loss differs from the committed one (a bug). */
int cone_write_back(cone_t *c, double *const *hT, double *logT, ms_i128 *q);

#endif
