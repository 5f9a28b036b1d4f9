/* Exact greedy per-weight pruning of the fully connected layers for one
 * label (seed 000's prune_model), and the fast algorithm that gives the same
 * mask.
 *
 * Semantics. X = the images of class `label`, target = label, L = mean
 * cross-entropy over X, L0 = L of the trained model. The fc layers are
 * visited from the last to the first, each row by row (output unit o, then
 * input i ascending): w[o][i] is set to 0, and restored if L(now) - L0 > 0.
 * Conv layers are not pruned. The circuit is the mask of kept weights.
 *
 * Arithmetic (the "canonical evaluation"). To make every decision exact and
 * reproducible, the pruning stage evaluates the network in double precision
 * with a fixed order of operations, and the fast path reproduces it bit for
 * bit rather than approximately:
 *  - the conv part is evaluated once: each output is bias + the taps
 *    (c, ky, kx) in ascending order, products and sums in double;
 *  - an fc pre-activation is z[o] = b[o], then + w[o][i] * h[i] for i from
 *    the last input down to the first, skipping weights equal to zero; each
 *    product and sum is one IEEE double operation (the build forbids FMA
 *    contraction), and the float weights are exact in double;
 *  - a sample's loss is logsumexp(logits) - logits[label] in double
 *    (ms_exact_exp / ms_exact_log: pure double arithmetic, the same on CPU
 *    and GPU);
 *  - L is the sum of the samples' losses in exact fixed point (each loss
 *    rounded once to a multiple of 2^-53, summed as 128-bit integers), so the
 *    sum does not depend on the order of the samples, and "L(now) - L0 > 0"
 *    is an exact integer comparison.
 * Because the descending order sums the not-yet-visited inputs of a row
 * first, the fast path can precompute those partial sums once per row, and
 * because zero weights are skipped, a pruned downstream layer costs only its
 * surviving weights. Ties (|L(now) - L0| < 1e-9) are counted and reported.
 *
 * Speculative windows. The fast path evaluates the cumulative states "zero
 * candidates 1..b" for b = 1..B of a window in one pass; every state before
 * the first failure is exactly what the sequential loop accepts. A window's
 * states can be split across the ranks of a team: one MPI_Allreduce(MIN) of
 * the first failing index per window gives every rank the same decision, so
 * the mask is the same on any number of ranks. */
#ifndef MODSWEEP_PRUNE_H
#define MODSWEEP_PRUNE_H

#include <mpi.h>
#include <stdint.h>

#include "modsweep/nn.h"

/* The label's images in the canonical evaluation, and what is cached of them. */
typedef struct ms_prune_cfg {
    int label;           /* target class */
    uint32_t layers;     /* fc layers to prune (bit l = fc(l+1)); others are left intact */
    int window;          /* speculative window length (0 = automatic) */
    int naive;           /* use the naive reference loop (tests) */
    MPI_Comm comm;       /* team splitting the windows (MPI_COMM_SELF for one rank) */
    int verbose;         /* log each layer's progress */
} ms_prune_cfg_t;

typedef struct ms_prune_result {
    uint8_t *mask;            /* (n_fc_weights) 1 = kept, fc1 first, row-major (caller owns) */
    long kept[MS_MAX_FC];     /* kept weights per fc layer */
    long total[MS_MAX_FC];    /* weights per fc layer */
    double ecs;               /* kept share of all fc weights (effective circuit size) */
    double loss0;             /* L0: mean CE of the trained model on the label's images */
    double loss_final;        /* mean CE of the pruned model */
    long ties;                /* decisions with |L(now) - L0| < 1e-9 */
    long evaluated;           /* candidate states evaluated (speculation included) */
    long windows;             /* windows (one reduction each) */
    double seconds;           /* wall time */
    double layer_seconds[MS_MAX_FC];
} ms_prune_result_t;

/* Prunes the model (L, params: float, unchanged) for the N images x (N, image)
 * of cfg->label. res->mask must hold L->n_fc_weights bytes. Collective over
 * cfg->comm; every rank gets the same result. */
int ms_prune(const ms_layout_t *L, const float *params, const float *x, int N,
             const ms_prune_cfg_t *cfg, ms_prune_result_t *res);

/* Applies a mask to a copy of params (zeroing pruned fc weights). */
void ms_prune_apply_mask(const ms_layout_t *L, float *params, const uint8_t *mask);

/* The canonical mean CE of the model with fc weights masked (mask NULL: none)
 * on the N images x of class label: the L of the semantics above. */
double ms_prune_canonical_loss(const ms_layout_t *L, const float *params, const uint8_t *mask,
                               const float *x, int N, int label);

/* exp and log in plain double arithmetic (range reduction and polynomials;
 * relative error below 1e-15), identical wherever IEEE doubles are. */
double ms_exact_exp(double x);
double ms_exact_log(double x);

#endif
