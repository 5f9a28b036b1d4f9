/* The pruned row's tree of the fast pruner (prune.c): the summation tree
 * of the canonical evaluation (row_tree) for one fc row and all N samples at
 * once, with a window's scratch copy, so zeroing one more weight of a window
 * costs one path to the root; and the forward pass of every fc layer built
 * from it. Internal to src/prune. */
#ifndef MODSWEEP_PRUNE_ROWTREE_H
#define MODSWEEP_PRUNE_ROWTREE_H

#include <stdint.h>

#include "modsweep/nn.h"

static inline double relu_d(double z) {
    return z > 0.0 ? z : 0.0;
}

/* The bias of fc layer l in the weights w, or NULL. */
static inline const float *fc_bias(const ms_layout_t *L, const float *w, int l) {
    return L->fc_bias_t[l] >= 0 ? w + L->t[L->fc_bias_t[l]].off : NULL;
}

#define MAX_LEVELS 40
#define BMAX 1024

/* The tree of row_tree for one row and all N samples at once (each node holds
 * N values, one per sample, S apart): the committed state, and a window's
 * scratch for the nodes above the window's leaves that its zeroings
 * recompute. The window's counts and flags belong to each thread's view
 * (rt_view); the shared tree itself never opens a window. */
typedef struct rowtree {
    int N, NI, D;             /* levels above the leaves; level D is the root */
    int k0;                   /* the lowest level whose values are stored (rowtree_init) */
    int S;                    /* doubles per node: N rounded up to whole cache lines */
    int nk[MAX_LEVELS];       /* nodes per level; nk[0] = NI */
    double *val[MAX_LEVELS];  /* level k >= k0: (nk[k], S) */
    int32_t *cnt[MAX_LEVELS]; /* level k >= 1: present leaves under each node */
    const float *w;           /* the row's current weights */
    const double *hT;         /* (NI, N) the layer's input, transposed */
    int win, lo[MAX_LEVELS], hi[MAX_LEVELS];
    double *sval[MAX_LEVELS];  /* k >= k0: window scratch (hi - lo + 1, S), shared by the views */
    int32_t *scnt[MAX_LEVELS]; /* a view's: level 0 too: the window leaves' presence */
    uint8_t *smod[MAX_LEVELS]; /* a view's: whether the scratch holds a node's window value */
    uint8_t *p0;               /* a view's: whether each leaf is present (NULL: its weight != 0) */
    void *mem;
} rowtree_t;

/* Allocates the tree of a row with NI inputs for N samples (t->mem; the
 * caller frees it). */
int rowtree_init(rowtree_t *t, int NI, int N);

/* A thread's view of the tree: the same nodes, its own copy of the
 * window's presence counts and scratch flags, and of the committed presence
 * (counts above the leaves, a flag per leaf) (rt_view_ints ints at mem), so
 * each thread can walk a window's states on its own samples, and commit
 * them, without waiting for the others. */
size_t rt_view_ints(const rowtree_t *t);
void rt_view(const rowtree_t *t, rowtree_t *v, int32_t *mem);

/* Every operation is split in two: the presence counts (one caller), then
 * the values for a range of samples n0 .. n1-1 (the threads of a team each
 * take their own range; the counts must be up to date first). */

/* Builds the committed tree of a row from its weights. */
void rt_build_counts(rowtree_t *t, const float *w, const double *hT);
void rt_build_values(rowtree_t *t, int n0, int n1);
/* The row's pre-activations z from the root (window scratch if active). */
void rt_z(const rowtree_t *t, const float *bias, double *z, int n0, int n1);
/* Opens a window over leaves j .. j+Bw-1. Nothing is copied: a node above
 * the window is read from the committed tree until a zeroing in the window
 * recomputes it into the scratch (a node's new value never reads its old). */
void rt_window_begin(rowtree_t *t, int j, int Bw);
/* Inside the window: zeroes leaf c (0 if it was already absent: nothing
 * changes), then the values of the nodes above it. */
int rt_window_zero_counts(rowtree_t *t, int c);
void rt_path_values(rowtree_t *t, int c, int n0, int n1);
/* Closes the window and commits the zeroing of leaves j .. j+count-1: in a
 * view, its own presence flags; in the shared tree (no flags), the caller
 * has set their weights to zero. */
void rt_commit_counts(rowtree_t *t, int j, int count);
void rt_commit_values(rowtree_t *t, int j, int count, int n0, int n1);
/* The canonical forward of every fc layer for all samples, vectorised over
 * samples with the row tree: from hT[0] (NI_0, N), fills hT[l] (NI_l, N) for
 * l >= 1 and logits (NC, N). */
int forward_T(const ms_layout_t *L, const float *w, int N, double **hT, double *logits);

#endif
