/* The pruned row's tree of the fast pruner (prune.c): the summation tree
 * of the canonical evaluation (row_tree) for one fc row and all N samples at
 * once, with a window's scratch copy, so zeroing one more weight of a window
 * costs one path to the root; and the forward pass of every fc layer built
 * from it. Internal to src/prune. */
#ifndef MODSWEEP_PRUNE_ROWTREE_H
#define MODSWEEP_PRUNE_ROWTREE_H

#include <stdint.h>

#include "modsweep/nn.h"

static inline double relu_d(double z) { return z > 0.0 ? z : 0.0; }

/* The bias of fc layer l in the weights w, or NULL. */
static inline const float *fc_bias(const ms_layout_t *L, const float *w, int l) {
    return L->fc_bias_t[l] >= 0 ? w + L->t[L->fc_bias_t[l]].off : NULL;
}

#define MAX_LEVELS 40
#define BMAX 1024

/* The tree of row_tree for one row and all N samples at once (each node holds
 * N values, one per sample): the committed state, and a window's scratch copy
 * of the nodes above the window's leaves. */
typedef struct rowtree {
    int N, NI, D;               /* levels above the leaves; level D is the root */
    int nk[MAX_LEVELS];         /* nodes per level; nk[0] = NI */
    double *val[MAX_LEVELS];    /* level k >= 1: (nk[k], N) */
    int32_t *cnt[MAX_LEVELS];   /* level k >= 1: present leaves under each node */
    const float *w;             /* the row's current weights */
    const double *hT;           /* (NI, N) the layer's input, transposed */
    int win, lo[MAX_LEVELS], hi[MAX_LEVELS];
    double *sval[MAX_LEVELS];   /* window scratch: (hi - lo + 1, N) */
    int32_t *scnt[MAX_LEVELS];  /* level 0 too: the window leaves' presence */
    double *leaf[2];            /* (N) leaf values */
    void *mem;
} rowtree_t;

/* Allocates the tree of a row with NI inputs for N samples (t->mem; the
 * caller frees it). */
int rowtree_init(rowtree_t *t, int NI, int N);
/* Builds the committed tree of a row from its weights. */
void rt_build(rowtree_t *t, const float *w, const double *hT);
/* The row's pre-activations z (N) from the root (window scratch if active). */
void rt_z(rowtree_t *t, const float *bias, double *z);
/* Opens a window over leaves j .. j+Bw-1: copies the committed nodes above them. */
void rt_window_begin(rowtree_t *t, int j, int Bw);
/* Inside the window: zeroes leaf c and updates the nodes above it; 0 if the
 * leaf was already absent. */
int rt_window_zero(rowtree_t *t, int c);
/* Closes the window and commits the zeroing of leaves j .. j+count-1. */
void rt_commit(rowtree_t *t, int j, int count);
/* The canonical forward of every fc layer for all samples, vectorised over
 * samples with the row tree: from hT[0] (NI_0, N), fills hT[l] (NI_l, N) for
 * l >= 1 and logits (NC, N). */
int forward_T(const ms_layout_t *L, const float *w, int N, double **hT, double *logits);

#endif
