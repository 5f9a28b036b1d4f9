/* Newman's modularity of a weighted graph of units, its maximisation, and
 * the alignment of two clusterings (seed 003: Lange, Rolnick and Kording
 * 2022, "Clustering units in neural networks: upstream vs downstream
 * information").
 *
 * A graph is a symmetric, non-negative n x n association matrix A (row-
 * major, double); its diagonal is ignored (treated as zero). With m2 =
 * sum_ij A_ij (both orders, the "2m" of Newman) and k_i = sum_j A_ij,
 *
 *     Q = (1 / m2) sum_ij [A_ij - k_i k_j / m2] delta(c_i, c_j).
 *
 * A unit is dead when k_i <= 1e-15 m2 (for instance a ReLU unit that never
 * fires): it belongs to no cluster (label -1) and adds nothing to Q. A
 * clustering is an array of n labels, 0..K-1 for live units and -1 for dead
 * ones; the functions here return them in canonical order (cluster ids
 * numbered by their first unit).
 *
 * Maximisation (ms_mod_maximise), the number of clusters free:
 *  1. spectral bisection (Newman 2006): starting from one cluster of all
 *     live units, each cluster g in breadth-first order is split by the sign
 *     of the leading eigenvector of its generalised modularity matrix
 *     B(g)_ij = B_ij - delta_ij sum_{k in g} B_ik (B = A / m2 - k k^T / m2^2);
 *     a split is kept only when Q rises, and kept halves are split again;
 *  2. Monte-Carlo refinement: `steps` single-unit moves; each picks a live
 *     unit uniformly and moves it to one of the non-empty clusters or to a
 *     new one with probability proportional to exp(dQ / T) (a heat-bath step
 *     of the Gibbs distribution exp(Q / T)); the best Q seen is kept. The
 *     temperature T is set once, at the spectral clustering, so that the
 *     mean entropy over live units of their move distributions equals the
 *     target `entropy` (nats), by bisection on log T; a target above what
 *     any temperature reaches gives the largest T tried (1e3 times the
 *     largest |dQ|), one below the ties' floor the smallest.
 *  3. greedy refinement (Louvain-style, zero temperature): from the best
 *     clustering of step 2 and from MS_MOD_STARTS - 1 starts with every
 *     live unit alone, each with its own random unit order (stream
 *     MS_RNG_MODULARITY, sub ^ 2^31): greedy sweeps move single units to the
 *     cluster (or new cluster) of the largest gain until none gains more
 *     than 1e-14; then the clusters become the nodes of an aggregated graph
 *     and whole clusters move greedily into others (merges); repeated until
 *     neither moves. The highest Q of the starts is returned (the refined
 *     step-2 clustering on ties). The result is a local optimum: no single
 *     unit's move and no merge of two clusters raises Q by more than 1e-14,
 *     so an over-split spectral start is merged back.
 *
 * Alignment of clusterings a and b of the same units (Lange et al.):
 * the overlap counts of their clusters are matched greedily (the largest
 * remaining overlap first, ties to the lowest (cluster a, cluster b) pair),
 * and the score is the matched overlap over min(live units of a, live
 * units of b): 1 for identical clusterings. The null shuffles the labels of
 * a over the units (dead ones included) and scores again; the p-value is
 * (1 + shuffles scoring >= the observed score) / (1 + shuffles).
 *
 * Randomness: MC moves from stream MS_RNG_MODULARITY and shuffles from
 * MS_RNG_NULL, keyed by (seed, sub) chosen by the caller. */
#ifndef MODSWEEP_MODULARITY_H
#define MODSWEEP_MODULARITY_H

#include <stdint.h>

/* Greedy refinement starts (step 3 below): the step-2 clustering and
 * MS_MOD_STARTS - 1 Louvain runs from singletons. */
#define MS_MOD_STARTS 8

/* Dead-unit threshold relative to m2. */
#define MS_MOD_DEAD_EPS 1e-15

/* Q of clustering labels on A (labels -1 count nowhere). NaN when m2 is 0. */
double ms_mod_q(const double *A, int n, const int *labels);

/* Marks dead units: live[i] = 0 or 1; returns the number of live units. */
int ms_mod_live(const double *A, int n, uint8_t *live);

typedef struct ms_mod_cfg {
    int steps;      /* Monte-Carlo moves (0: spectral only) */
    double entropy; /* target mean entropy of the move distributions, nats (> 0) */
    uint64_t seed;  /* stream MS_RNG_MODULARITY (seed, sub) */
    uint32_t sub;
} ms_mod_cfg_t;

typedef struct ms_mod_result {
    double q;           /* best Q found (recomputed exactly for the returned labels) */
    double q_spectral;  /* Q after spectral bisection */
    double temperature; /* T of the Monte-Carlo moves (NaN without moves) */
    int k;              /* clusters */
    int dead;           /* dead units */
    double effective;   /* exp(entropy of the cluster sizes over live units) */
    long accepted;      /* moves that changed a unit's cluster */
} ms_mod_result_t;

/* Maximises Q on A (n x n): labels (n) receives the best clustering.
 * Returns MS_ENOMEM or 0. When every unit is dead, labels are all -1, k = 0
 * and Q is NaN. */
int ms_mod_maximise(const double *A, int n, const ms_mod_cfg_t *cfg, int *labels,
                    ms_mod_result_t *res);

/* Only the spectral bisection (step 1 above); returns Q. */
double ms_mod_spectral(const double *A, int n, int *labels);

/* Renumbers labels so cluster ids follow their first unit; returns K. */
int ms_mod_canonical(int *labels, int n);

/* exp(entropy of the cluster sizes) over the labelled units (NaN if none). */
double ms_mod_effective(const int *labels, int n);

/* The greedy-matching alignment score of two clusterings of n units. */
double ms_mod_align(const int *la, const int *lb, int n);

/* The score and its shuffle p-value (see above). */
int ms_mod_align_null(const int *la, const int *lb, int n, int shuffles, uint64_t seed,
                      uint32_t sub, double *score, double *p);

/* Spearman rank correlation of the entries A_ij and B_ij over pairs i < j
 * whose units are live in both matrices (live may be NULL: all units);
 * ties get average ranks. NaN with fewer than two pairs or no variation. */
double ms_mod_spearman(const double *A, const double *B, int n, const uint8_t *live);

#endif
