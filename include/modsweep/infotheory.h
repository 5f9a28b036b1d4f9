/* Information measures of binned activations and the ablation of neurons and
 * directions (seed 002).
 *
 * Binning (as the seed): a tensor of activations is cut into `bins` equal-
 * width bins between its own minimum and maximum (torch.histc's rule: bin
 * floor((x - min) / (max - min) * bins), the maximum in the last bin; a
 * constant tensor falls in bin 0). The seed's conditional entropy used
 * torch.bucketize with one bin fewer and sent each tensor's minimum to the
 * last bin; modsweep uses the histc rule everywhere, so every entropy here
 * comes from one consistent histogram.
 *
 * Pairing (as the seed): two activation tensors X (N x nx) and Y (N x ny)
 * are compared element by element: observation (n, j) is the pair
 * (bin of X[n, j], bin of Y[n, j]) for every sample n and column j < min(nx,
 * ny). All entropies are plug-in estimates in nats (0 log 0 = 0) from the
 * joint histogram of these pairs, so H(X|Y) = H(X,Y) - H(Y) and I(X;Y) =
 * H(X) + H(Y) - H(X,Y) >= 0 hold exactly (up to rounding).
 *
 * Ablation (the seed's "entropy-based feature extraction"): a unit direction
 * d is projected out of a layer's output h (h' = h - (h . d) d; a neuron is
 * d = e_i, i.e. h'_i = 0), the rest of the network runs on h', and the output
 * distribution p' is compared with the unablated p: the mean over samples of
 * KL(p' || p) (what the seed's F.kl_div(p.log(), p', 'sum') measures, here
 * averaged instead of summed) and of H(p') - H(p). The direction of largest
 * mean KL is found by projected gradient ascent on the unit sphere with the
 * analytic gradient through the downstream layers (L-BFGS with Armijo
 * backtracking, so every accepted step raises the KL).
 *
 * Dimension letters: N samples, U units of the ablated layer, C classes. */
#ifndef MODSWEEP_INFOTHEORY_H
#define MODSWEEP_INFOTHEORY_H

#include <stdint.h>

#include "modsweep/nn.h"

/* One selection of columns of a row-major activation matrix (N x ld). */
typedef struct ms_info_sel {
    const float *x;  /* (N, ld) */
    int ld;          /* row length of x */
    const int *cols; /* the selected columns, in this order (NULL: columns 0..n-1) */
    int n;           /* number of selected columns */
} ms_info_sel_t;

/* Entropies of one pair of selections. X is the first, Y the second. */
typedef struct ms_info_stats {
    double hx, hy;     /* H(X), H(Y) of the paired observations */
    double hx_given_y; /* H(X | Y) */
    double hy_given_x; /* H(Y | X) */
    double mi;         /* I(X; Y) */
    double hxy;        /* H(X, Y) */
} ms_info_stats_t;

/* Entropy (nats) of the binned values of a selection (all N x n elements). */
double ms_info_entropy(const ms_info_sel_t *a, int N, int bins);

/* The entropies of the paired, binned elements of X and Y (see above).
 * hist: scratch of bins * bins int64. Returns MS_EINVAL when a selection is
 * empty or N < 1. */
int ms_info_pair(const ms_info_sel_t *x, const ms_info_sel_t *y, int N, int bins, int64_t *hist,
                 ms_info_stats_t *out);

/* The seed's module measures of a unit set for one pair of layers: A is the
 * earlier layer's activations (N x ua), Bl the later one's (N x ub), pa / pb
 * the unit sets (na / nb units, in drawn order). With A2P = Bl[:, pb],
 * A1notP = A[:, units not in pa, ascending], A1P = A[:, pa]:
 *   meas[0] = H(A2P | A1notP), meas[1] = H(A2P), meas[2] = H(A2P | A),
 *   meas[3] = H(A2P | A1P);
 *   comp[0] = meas[0] - meas[1], comp[1] = meas[2] - meas[3],
 *   comp[2] = meas[2] - meas[0].
 * cols: scratch of ua ints; hist: bins * bins int64. na < ua is required. */
int ms_info_module(const float *A, int ua, const float *Bl, int ub, int N, const int *pa, int na,
                   const int *pb, int nb, int bins, int *cols, int64_t *hist, double meas[4],
                   double comp[3]);

/* A random unit set: the first k entries of a Fisher-Yates shuffle of
 * 0..n-1 drawn from stream MS_RNG_UNITSETS (seed, sub). */
void ms_info_unitset(int n, int k, uint64_t seed, uint32_t sub, int *out);

/* ---- ablation ----------------------------------------------------------- */

/* The network downstream of fc layer `layer` (0-based) evaluated on fixed
 * outputs h of that layer (ReLU output for a hidden layer, logits for the
 * last): everything the ablation needs, allocated once by ms_ablate_init. */
typedef struct ms_ablate {
    const ms_layout_t *L;
    const float *params;
    int layer, U, C, N;
    const double *h; /* (N, U) the layer's unablated output */
    double *lq;      /* (N, C) log-softmax of the unablated logits */
    double *hq;      /* (N) entropy of the unablated output distribution */
    double *w;       /* downstream weights and biases in double */
    double *buf;     /* block buffers */
    int block;       /* samples per block */
} ms_ablate_t;

/* Prepares the ablation of fc layer `layer` with outputs h (N x U, kept by
 * reference). Returns MS_ENOMEM or MS_EINVAL. */
int ms_ablate_init(ms_ablate_t *ab, const ms_layout_t *L, const float *params, int layer,
                   const double *h, int N);
void ms_ablate_free(ms_ablate_t *ab);

/* Projects unit direction d (U) out of the layer and returns the mean KL(p'
 * || p); *dentropy (may be NULL) receives the mean H(p') - H(p), and grad
 * (may be NULL) the gradient of the mean KL with respect to d (U), as if d
 * were free (not normalised). */
double ms_ablate_eval(ms_ablate_t *ab, const double *d, double *dentropy, double *grad);

/* Convergence of the max-KL search: the tangent gradient's norm relative to
 * the KL (below about 1e-6 the gain of a step is lost in rounding). */
#define MS_MAXKL_TOL 1e-5

/* The search for the direction of largest mean KL from start direction d
 * (U, normalised here; overwritten with the result): L-BFGS (8 pairs) on
 * F(v) = KL(v / |v|), whose gradient (I - d d^T) g / |v| is the tangent
 * component of the analytic gradient, with a backtracking line search that
 * accepts a step when F rises by 1e-4 of the first-order gain (so the KL
 * never falls); a direction that is not ascending, or a failed line search,
 * falls back to the plain gradient. Converged (*converged = 1) when the
 * tangent gradient's norm is at most MS_MAXKL_TOL times the KL (a
 * stationary point on the sphere), or when the KL rose by at most 1e-12 of
 * itself over the last 10 accepted steps (a maximum at a kink of the ReLU
 * network, where the gradient need not vanish). It stops, with *converged
 * = 0, after max_iters accepted steps or when no step raises the KL.
 * Returns the KL reached; *iters counts the accepted steps. The search
 * allocates its memory (U * 22 doubles) once per call. */
double ms_ablate_maxkl(ms_ablate_t *ab, double *d, int max_iters, int *iters, int *converged);

#endif
