/* Modular training and cluster analysis (docs/design.md section 2, seeds 000 and
 * 001): partitions of fc layers, clusterability and the analytic gradient of
 * the clusterability regulariser, the streaming gradient similarity,
 * deterministic k-means, bipartite spectral graph co-clustering (BSGC), and
 * the trainer hooks that put the regulariser and the gradient similarity
 * into training.
 *
 * A partition of an fc layer with weight W (O x NI, rows = output units U,
 * columns = input units V) into K clusters is two label arrays: row[o] and
 * col[i] in 0..K-1, or -1 for a unit in no cluster. The block of cluster c
 * is (U_c, V_c) = ({o : row[o] = c}, {i : col[i] = c}); the pairs inside a
 * block are the (o, i) with row[o] = col[i] >= 0. The clusterability of W
 * is the share of sum W^2 inside the blocks.
 *
 * Unit layout of a whole network (the NU labels of a results row): fc layer
 * by fc layer (fc1 first), the NI_l labels of the layer's input units, then
 * the O_l labels of its output units. The output units of layer l and the
 * input units of layer l+1 are the same neurons but have separate slots, so
 * a layer's partition is stored whole. ms_units_layout gives the offsets.
 *
 * Gradient similarity layout (the NG values of a results row): for each fc
 * layer in the gradsim mask, in layer order, its D x D sum (D = fan-in)
 * row-major, full and symmetric. ms_gradsim_layout gives the offsets.
 *
 * Dimension letters: O rows (outputs), NI columns (inputs), K clusters,
 * N points and DK coordinates of k-means, D fan-in of a gradsim layer. */
#ifndef MODSWEEP_CLUSTER_H
#define MODSWEEP_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

#include "modsweep/config.h"
#include "modsweep/nn.h"
#include "modsweep/train.h"

/* What a BSGC clustering is computed for; part of the k-means sub-stream, so
 * never renumber. */
typedef enum ms_bsgc_basis {
    MS_BASIS_WEIGHTS = 0,   /* analysis: M = W_l */
    MS_BASIS_GRADIENTS = 1, /* analysis: M = S_l, the gradient similarity */
    MS_BASIS_TRAINING = 2,  /* the spectral partition of the regulariser: M = W_l after warm-up */
} ms_bsgc_basis_t;

/* ---- layouts ----------------------------------------------------------------- */

/* Offsets of each fc layer's input and output labels in the unit layout;
 * returns NU (the sum of the fc layers' inputs and outputs). */
long ms_units_layout(const ms_layout_t *L, long in_off[MS_MAX_FC], long out_off[MS_MAX_FC]);

/* Offsets of each gradsim layer's D x D sum (-1 for layers not in mask);
 * returns NG, the total number of doubles. */
long ms_gradsim_layout(const ms_layout_t *L, uint32_t mask, long off[MS_MAX_FC]);

/* The largest k of the grid's k axis (>= 1): the padded cluster dimension
 * KMAX of the results. */
int ms_grid_kmax(const ms_grid_t *g);

/* ---- partitions and clusterability ------------------------------------------ */

/* Contiguous equal blocks: n units into k clusters of n / k units each, the
 * last one taking the remainder (seed 000). */
void ms_part_blocks(int n, int k, int32_t *lab);

/* Clusterability of W (O x NI) under the partition (row, col): the share of
 * sum W^2 inside the blocks, accumulated in double. NaN when W is all zero. */
double ms_clusterability(const float *w, int O, int NI, const int32_t *row, const int32_t *col);

/* Same, and adds scale * d(clusterability)/dW = scale * 2 W (m - f) / sum W^2
 * to grad (O x NI; m the block mask, f the clusterability). The regulariser
 * uses scale = -lambda. Adds nothing when W is all zero (returns NaN). */
double ms_clusterability_grad(const float *w, int O, int NI, const int32_t *row, const int32_t *col,
                              double scale, float *grad);

/* The clusterability expected of the partition when every weight has the
 * same magnitude: sum_c |U_c| |V_c| / (O NI). For K balanced clusters this
 * is the 1/K random baseline of seed 000; for unbalanced ones it is the
 * size-matched baseline. */
double ms_part_size_baseline(int O, int NI, const int32_t *row, const int32_t *col);

/* Adjusted Rand index (Hubert and Arabie 1985) of two labellings of n
 * units, over the units labelled (>= 0) in both: 1 for the same partition
 * up to relabelling, about 0 for independent ones (as sklearn's
 * adjusted_rand_score; 1 when both put every unit in one cluster). NaN
 * with fewer than two such units or when out of memory. */
double ms_part_ari(const int32_t *a, const int32_t *b, int n);

/* ---- k-means and BSGC --------------------------------------------------------- */

/* Deterministic k-means of N points x (N x DK, row-major): greedy
 * k-means++ seeding (2 + floor(ln k) candidates per centre, the one that
 * most lowers the potential kept, as sklearn does) from rng stream (seed,
 * MS_RNG_KMEANS, sub), read sequentially over the restarts; Lloyd
 * iterations in a fixed order (a point moves only to a strictly nearer
 * centre; ties go to the lower cluster index; an empty cluster takes the
 * point farthest from its centre) until no point moves (at most 300
 * iterations); then Hartigan's single-point moves (a point moves to the
 * cluster where the exact change of the objective is most negative) and
 * Lloyd again, until neither changes a label. Each restart so ends at a
 * Lloyd fixed point that no single-point move improves. The restart with
 * the smallest inertia wins (the first on ties). lab (N) receives labels
 * 0..k-1; *inertia (may be NULL) the within-cluster sum of squares.
 * Returns 0 or MS_ENOMEM / MS_EINVAL. */
int ms_kmeans(const double *x, int N, int DK, int k, int restarts, uint64_t seed, uint32_t sub,
              int32_t *lab, double *inertia);

/* BSGC of M (O x NI, row-major) into k clusters: A = |M|, D_U and D_V its
 * row and column sums, A~ = D_U^-1/2 A D_V^-1/2 (a zero row or column gets
 * a zero scale, never a NaN), the top k singular vectors of A~ (LAPACKE
 * dgesdd, descending singular values, each pair's sign fixed so that the
 * largest-magnitude entry of the left vector is positive, the first on
 * ties), and k-means on the rows of U (the O row units) and of V (the NI
 * column units), k-means sub-streams sub (columns) and sub + 1 (rows).
 *
 * Column labels: fixed_col when not NULL (chaining: the previous layer's row
 * clusters), else the k-means labels renumbered by first appearance (unit 0
 * is in cluster 0, the next new cluster is 1, ...). Row labels: the row
 * clusters are matched one to one to the column clusters so that the sum
 * of A inside the blocks is largest (Hungarian algorithm); the seed pairs
 * them by k-means' arbitrary numbering instead. A square M that is exactly
 * symmetric (M_ij == M_ji, as the gradient similarity is) and has no
 * fixed_col gets one clustering for both sides: row = col, the column
 * clustering above (its rows and columns are the same units; the seed's
 * row and column clusters coincide there too). Requires 1 <= k <= min(O, NI). */
int ms_bsgc(const double *M, int O, int NI, int k, int restarts, uint64_t seed, uint32_t sub,
            const int32_t *fixed_col, int32_t *row, int32_t *col);

/* BSGC of the fc layers in `layers`, chained: where layer l+1 follows
 * processed layer l, its input clusters are layer l's output clusters. M_l
 * is W_l (gs = NULL) or the gradient similarity S_l (gs in the gradsim
 * layout of gs_mask; layers without S_l are skipped). Layers with k >
 * min(O, NI) are skipped too. units (NU) receives the labels of the
 * processed layers and -1 elsewhere. The k-means sub-stream of layer l is
 * ms_bsgc_sub(basis, l, k). Returns the mask of processed layers in
 * *done (may be NULL), 0 or a negative error. */
int ms_bsgc_layers(const ms_layout_t *L, const float *params, const double *gs, uint32_t gs_mask,
                   uint32_t layers, int k, int restarts, uint64_t seed, int basis, int32_t *units,
                   uint32_t *done);

/* The k-means sub-stream of a BSGC: even, distinct for each (basis, layer, k). */
uint32_t ms_bsgc_sub(int basis, int layer, int k);

/* ---- streaming gradient similarity ------------------------------------------ */

/* S (D x D, upper triangle) += g^T g / ||g||_F^2 for the gradient g (O x D)
 * of one step, in double; returns 0 without adding when g is all zero
 * (ghat undefined), else 1. Only the upper triangle (j >= i) is updated;
 * ms_gradsim_symmetrize fills the lower one. Every element is a sum over
 * the rows of g in row order, so the result does not depend on vector width
 * or threads. */
int ms_gradsim_add(double *S, const float *g, int O, int D);
void ms_gradsim_symmetrize(double *S, int D);

/* ---- training hooks ------------------------------------------------------------ */

/* The regulariser loss = CE - lambda * sum_l clusterability(W_l) over
 * s->reg_layers and the gradient similarity of s->gradsim_layers, as
 * trainer hooks:
 * - epoch_start: with partition = spectral, at epoch warmup_epochs, BSGC
 *   of |W_l| (chained over the regularised layers, basis
 *   MS_BASIS_TRAINING, k = s->k) fixes the partition; blocks is fixed at init.
 * - after_backward: once the partition is fixed, adds -lambda d/dW of each
 *   layer's clusterability to the gradient (lambda > 0), reports
 *   -lambda sum_l clusterability as the loss term and the mean
 *   clusterability over the regularised layers as the step's curve value
 *   (NaN before the partition exists); then adds the normalised total
 *   gradient of each gradsim layer (CE + penalties + regulariser: the
 *   p.grad the seeds store after loss.backward()) to S_l.
 * - every hook then calls the chained hook of the same name. */
typedef struct ms_cluster_train {
    const ms_settings_t *s;
    const ms_layout_t *L;
    long nu, ng;
    long in_off[MS_MAX_FC], out_off[MS_MAX_FC], gs_off[MS_MAX_FC];
    int32_t *units;              /* (NU) the training partition; -1 where none */
    int part_ready;              /* the partition is fixed */
    double *gs;                  /* (NG) the gradient similarity sums */
    int64_t gs_steps[MS_MAX_FC]; /* steps added to each layer's sum */
    ms_train_hooks_t chain;
} ms_cluster_train_t;

/* Allocates ct for settings s and layout L, sets the blocks partition, and
 * fills *hooks with ct's hooks chained to `chain` (may be NULL). */
int ms_cluster_train_init(ms_cluster_train_t *ct, const ms_settings_t *s, const ms_layout_t *L,
                          const ms_train_hooks_t *chain, ms_train_hooks_t *hooks);
void ms_cluster_train_free(ms_cluster_train_t *ct);

#endif
