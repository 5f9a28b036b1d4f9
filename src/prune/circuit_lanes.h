/* What circuit.c and circuit_grad.c share: blocks of JB images held one
 * image per vector lane, the instruction-set clones of the functions that
 * work on them, and the fc layers' weights and widths. Internal to
 * src/prune. */
#ifndef MODSWEEP_PRUNE_CIRCUIT_LANES_H
#define MODSWEEP_PRUNE_CIRCUIT_LANES_H

#include "modsweep/nn.h"
#include "clones.h"

/* Blocks of JB images, one image per vector lane: each lane does the
 * one-image code's operations in its order, a multiply and an add (never
 * contracted: -ffp-contract=off), so every clone gives its bits. */
#define JB 8
typedef double vjb_t __attribute__((vector_size(JB * sizeof(double))));
typedef long long vjbi_t __attribute__((vector_size(JB * sizeof(long long))));


/* x in every lane of *v (bit for bit, -0 included). */
static inline void splat(vjb_t *v, double x) {
    for (int j = 0; j < JB; j++)
        (*v)[j] = x;
}

/* The widest fc layer (inputs or outputs). */
static inline int max_width(const ms_layout_t *L) {
    int m = 0;
    for (int l = 0; l < L->arch.n_fc; l++) {
        if (L->fc_in[l] > m) m = L->fc_in[l];
        if (L->arch.fc_out[l] > m) m = L->arch.fc_out[l];
    }
    return m;
}

/* Layer l's weights (O, NI) and bias (O; NULL: none) in params. */
static inline const float *fc_w(const ms_layout_t *L, const float *params, int l) {
    return params + L->t[L->fc_weight[l]].off;
}

static inline const float *fc_b(const ms_layout_t *L, const float *params, int l) {
    return L->fc_bias_t[l] >= 0 ? params + L->t[L->fc_bias_t[l]].off : NULL;
}

#endif
