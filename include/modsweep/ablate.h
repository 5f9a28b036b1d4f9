/* Cluster ablation and the search-space reduction of a partition (docs/design.md
 * section 3, seed 000 sections 4a and 5b).
 *
 * Ablation of cluster c of an fc layer's partition (row labels of its
 * output units U, column labels of its input units V, as in cluster.h):
 * - ON: only c is kept: the rows U_c' and the columns V_c' of every other
 *   cluster c' are zeroed (units with label -1 belong to no cluster and are
 *   kept: they are no other cluster's);
 * - OFF: c is removed: its rows U_c and columns V_c are zeroed.
 * Only that layer's weight matrix changes (biases stay). The class-wise test
 * accuracy of each modified network is measured; all modifications of one
 * call share one forward pass of the unchanged layers below the ablated
 * layer per batch, so the conv blocks run once per image.
 *
 * Dimension letters: K clusters, NC classes, O/NI rows/columns of a layer. */
#ifndef MODSWEEP_ABLATE_H
#define MODSWEEP_ABLATE_H

#include <stdint.h>

#include "modsweep/data.h"
#include "modsweep/nn.h"

/* One layer's partition to ablate and where its tables go. */
typedef struct ms_ablation {
    int layer;          /* fc index (fc2 -> 1) */
    int k;              /* clusters: labels are in 0..k-1 or -1 */
    const int32_t *row; /* (O) labels of the layer's output units */
    const int32_t *col; /* (NI) labels of its input units */
    double *on;         /* (k, NC) class-wise accuracy with only cluster c kept */
    double *off;        /* (k, NC) class-wise accuracy with cluster c removed */
} ms_ablation_t;

/* Runs the n ablations on the whole split (evaluation mode, batches of
 * `batch` images). Accuracy of a class without images is NaN. Returns 0 or
 * a negative error. */
int ms_ablate(const ms_arch_t *arch, const float *params, const ms_split_t *split, int batch,
              ms_ablation_t *a, int n);

/* The same ablations under an ablation kind of circuit.h (ms_ablation_kind_t):
 * zero runs ms_ablate; mean and resample judge each modified network with
 * ms_circuit_judge, the zeroed weights of the ablated layer being the removed
 * weights (their input replaced by its mean over, or by the activation of a
 * resampled image of, the reference images), in double from the fc1 features
 * of the float forward pass. ref: the reference images (the first n_ref of
 * the split; n_ref <= 0 or beyond it: all), from the training split in the
 * sweep; seed: the resample draws, which read image n of `split` as
 * identifier n. */
int ms_ablate_kind(const ms_arch_t *arch, const float *params, const ms_split_t *split,
                   const ms_split_t *ref, int n_ref, int kind, uint64_t seed, int batch,
                   ms_ablation_t *a, int n);

/* Search-space reduction of cluster c of a network's partition (units in the
 * unit layout of cluster.h; -1 = no cluster): the share of all parameters
 * (conv included) that lie outside c's path, 1 - |path| / n_params. The
 * path keeps, in every fc layer l, the weights (and biases) between its
 * kept outputs and kept inputs:
 * - an input unit of l is kept if its label is c when layer l carries labels
 *   on its inputs, else if its label as an output of layer l-1 is c when
 *   that layer carries output labels, else always;
 * - an output unit of l likewise from l's output labels, else from layer
 *   l+1's input labels, else always.
 * Conv parameters are all in the path. For the paper CNN with k = 4 blocks
 * on fc2 this keeps fc1's 16 rows, fc2's 16 x 16 block, fc3's 16 columns
 * and fc4 whole. A layer "carries labels" on a side when any unit of that
 * side has a label >= 0. */
double ms_search_space_reduction(const ms_layout_t *L, const int32_t *units, int c);

#endif
