/* Per-connection Hebbian strengths of conv layers and dynamic sparse
 * training (seed 004).
 *
 * A conv layer (stride 1, zero padding P) maps input x (B, C, H, W) to
 * pre-activations y (B, F, HO, WO), HO = H + 2P - K + 1, through weights
 * w (F, C, K, K). Connection (f, c, i, j) links output unit y[b, f, oh, ow]
 * with input unit x[b, c, oh + i - P, ow + j - P] (zero outside the image,
 * as the seed's grouped convolution pads). Strengths (seed 004):
 *
 *   binary  S[f,c,i,j] = sum_b sum_(oh,ow) [y > 0] [x > 0]: how often both
 *           ends are active together (the seed's f1/f2: sigmoid(t) > 0.5
 *           is t > 0);
 *   corr    S[f,c,i,j] = mean over (oh, ow) of |Pearson correlation over
 *           the samples b of x[b, c, oh+i-P, ow+j-P] and y[b, f, oh, ow]|,
 *           0 where either side does not vary (the seed's f2b, with
 *           population (1/B) variances on both sides where the seed mixed
 *           a biased covariance with unbiased deviations).
 *
 * The binary count is the conv weight gradient of 0/1 maps: one matrix
 * product of [y > 0] (F x B HO WO) with the im2col matrix of [x > 0] (B HO
 * WO x C K K). The correlation keeps five running moments per (connection,
 * position), added block by block with one matrix product per position.
 * Counts are exact (double holds integers up to 2^53).
 *
 * Dynamic sparse training (the seed's DSConv2d, with its unfinished
 * progress_connections defined): during training the binary strengths of
 * each step's batch are summed; every `every` steps, in each kernel slice
 * (one output channel f and one input channel c: K x K connections) the
 * connections are ranked by that sum (ties to the lower index) and
 *   - the k1 strongest stay active with their current weights;
 *   - the next k2 - k1 stay or become active with a fresh weight drawn as
 *     PyTorch's initialisation, U(+-1/sqrt(C K K)), from stream
 *     MS_RNG_SPARSE (seed, sub = event number, index = weight offset);
 *   - the rest are pruned: weight 0, masked after every optimiser step;
 * the optimiser moments of every re-initialised or pruned weight are reset
 * to 0, and the sums start again. Connections are ranked by co-activation,
 * which does not depend on their weights, so a pruned connection can come
 * back at a later event. Conv biases are never pruned.
 *
 * Dimension letters: B batch, C input channels, H W input size, F filters,
 * K kernel side, P padding, HO WO output size, CKK = C K K. */
#ifndef MODSWEEP_HEBBIAN_H
#define MODSWEEP_HEBBIAN_H

#include <stddef.h>
#include <stdint.h>

#include "modsweep/nn.h"
#include "modsweep/train.h"

/* Geometry of one conv layer. */
typedef struct ms_conv_geom {
    int C, H, W, F, K, P;
} ms_conv_geom_t;

/* The geometry of conv layer l of layout L. */
ms_conv_geom_t ms_conv_geom(const ms_layout_t *L, int l);

/* The running sums of one layer's strengths over blocks of samples. */
typedef struct ms_hebb {
    ms_conv_geom_t g;
    int HO, WO, CKK, max_b;
    long samples;
    double *binary;          /* (F, CKK) co-activation counts */
    double *sx, *sxx;        /* (CKK, HO WO) moments of the inputs through each connection */
    double *sy, *syy;        /* (F, HO WO) moments of the outputs */
    double *sxy;             /* (HO WO, F, CKK) cross moments */
    double *col, *ycol, *yp; /* block scratch */
    double *xp; /* shift references: the first sample's inputs (CKK, HW) and outputs (F, HW) */
    int with_corr;
} ms_hebb_t;

/* Allocates the sums for blocks of up to max_b samples; with_corr = 0 keeps
 * only the binary counts. */
int ms_hebb_init(ms_hebb_t *h, const ms_conv_geom_t *g, int max_b, int with_corr);
void ms_hebb_free(ms_hebb_t *h);

/* Adds a block of B samples: x (B, C, H, W) inputs and y (B, F, HO, WO)
 * pre-activations (for the binary count alone, any array positive exactly
 * where the pre-activation is, such as the ReLU output). */
void ms_hebb_add(ms_hebb_t *h, const float *x, const float *y, int B);

/* The strengths so far: binary (F * CKK, may be NULL) and corr (F * CKK, may
 * be NULL; needs with_corr), in the weight's (F, C, K, K) order. */
void ms_hebb_result(const ms_hebb_t *h, double *binary, double *corr);

/* y (B, F, HO, WO) = conv(x, w) + b (b may be NULL), summed in double and
 * rounded to float, for the correlation variant (which needs the pre-
 * activation, not the network's ReLU output). */
void ms_conv_preact(const ms_conv_geom_t *g, const float *x, const float *w, const float *b, int B,
                    float *y);

/* ---- dynamic sparse training ---------------------------------------------- */

typedef struct ms_sparse ms_sparse_t;

/* Creates the state for training with settings s (NULL in *out when
 * s->meas.sparse_every is 0 or the model has no conv layer). */
int ms_sparse_create(ms_sparse_t **out, const ms_settings_t *s, const ms_layout_t *L);
void ms_sparse_free(ms_sparse_t *sp);

/* The decision of a connection event for one kernel slice of kk
 * connections with summed strengths s: state[i] receives MS_SPARSE_KEEP
 * (rank < k1), MS_SPARSE_REINIT (k1 <= rank < k2) or MS_SPARSE_PRUNE, ranks
 * counted strongest first with ties to the lower index. order: scratch of
 * kk. */
enum { MS_SPARSE_PRUNE = 0, MS_SPARSE_KEEP = 1, MS_SPARSE_REINIT = 2 };
void ms_sparse_select(const double *s, int kk, int k1, int k2, int32_t *order, uint8_t *state);

/* The trainer's after_step hook: adds the step's co-activations, runs a
 * connection event every `every` steps, and re-applies the mask. */
int ms_sparse_after_step(ms_sparse_t *sp, ms_trainer_t *tr, long step);

/* Pruned share of each conv layer's weights (n_conv entries) and the number
 * of events so far. */
void ms_sparse_stats(const ms_sparse_t *sp, double *sparsity, int *events);

#endif
