/* Null models of the modularity numbers (Filan et al. 2021's shuffle
 * test): the weights of each layer permuted at random, keeping the layer's
 * multiset of weights, and the modularity numbers recomputed on each of S
 * shuffled networks, giving a null mean, sd, z-score and empirical p-value
 * for the observed number.
 *
 * Shuffle s of a network: every weight tensor (conv and fc weights; biases
 * are kept) is permuted uniformly (Fisher-Yates) with the random numbers of
 * stream (seed, MS_RNG_NULL, MS_NULL_SUB + s * MS_MAX_TENSORS + tensor
 * index), so a shuffle is a pure function of (seed, s) and the parameters.
 *
 * Only weight-based numbers have a shuffle null: the gradient similarity
 * is a record of training and cannot be recomputed for a shuffled network
 * without training it.
 *
 * Dimension letters: S shuffles, NK k values, NFC fc layers. */
#ifndef MODSWEEP_NULLMODEL_H
#define MODSWEEP_NULLMODEL_H

#include <stdint.h>

#include "modsweep/nn.h"

/* The first MS_RNG_NULL sub-stream of the weight shuffles (far above the
 * alignment nulls' subs). */
#define MS_NULL_SUB 0x40000000u

/* Writes shuffle s of params (layout L) into out (L->n_params floats);
 * params and out must not overlap. */
void ms_null_shuffle(const ms_layout_t *L, const float *params, uint64_t seed, int s, float *out);

/* The summary of a null distribution against an observed value: mean and
 * sample sd (n - 1) of the finite null values, z = (obs - mean) / sd (NaN
 * when sd is 0 or fewer than two finite values), and the empirical p-value
 * p = (1 + #{null >= obs}) / (1 + n) over the n finite null values (the
 * chance of a null value at least as large; NaN when obs is not finite or
 * n = 0). */
typedef struct ms_null_stats {
    double mean, sd, z, p;
} ms_null_stats_t;

void ms_null_stats(double obs, const double *null, int S, ms_null_stats_t *out);

/* The weight-based BSGC clusterability null: for each shuffle s < S, BSGC
 * of the shuffled weights of `layers` (chained as ms_bsgc_layers does,
 * basis MS_BASIS_WEIGHTS) at each k of ks (NK values) and the
 * clusterability of each layer under it. null (S x NK x NFC, NFC =
 * L->arch.n_fc) receives the values, NaN for layers not clustered (not in
 * layers, or k > min(O, NI)). Returns 0 or a negative error. */
int ms_null_bsgc(const ms_layout_t *L, const float *params, uint32_t layers, const int *ks, int nk,
                 int restarts, uint64_t seed, int S, double *null);

#endif
