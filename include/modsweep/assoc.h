/* Unit associations of the hidden fc layers of an MLP (seed 003: Lange,
 * Rolnick and Kording 2022). For a hidden layer with ReLU output h (U
 * units), over N samples x with labels y, logits z (C) and per-sample
 * cross-entropy L:
 *
 *   forward_cov    |Cov(h)|                   population covariance over samples
 *   forward_jac    |E[J J^T]|, J = dh/dx      (U x input): upstream sensitivity
 *   backward_jac   |E[G^T G]|, G = dz/dh      (C x U): downstream sensitivity of the logits
 *   backward_hess  |E[d2L / dh dh]|           the loss Hessian with respect to h
 *
 * each also `_norm`: |M_ij / sqrt(M_ii M_jj)| (0 where a diagonal entry is
 * 0, i.e. for dead units). Expectations are means over the N samples; the
 * network is evaluated without dropout.
 *
 * How they are computed (double precision, blocks of samples, no per-sample
 * Jacobian is ever stored for the whole set): in a ReLU network every
 * Jacobian is a product of weight matrices and 0/1 masks D_l = [z_l > 0].
 * With the QR factorisation W_1^T = Q R, J_l J_l^T = X_l X_l^T for
 * X_1 = D_1 R^T and X_l = D_l W_l X_{l-1}, whose width is min(input, O_1)
 * instead of the input's; G_l = G_{l+1} D_{l+1} W_{l+1} from G_{last hidden}
 * = W_last; the Hessian is G^T (diag(p) - p p^T) G because the second
 * derivative of ReLU is zero almost everywhere (what autograd computes too).
 * Each block adds X X^T, G^T G, G^T diag(p) G and (G^T p)(G^T p)^T for all
 * its samples with one matrix product each.
 *
 * Dimension letters: N samples, U units, C classes, I0 inputs, R rank of the
 * input factor. */
#ifndef MODSWEEP_ASSOC_H
#define MODSWEEP_ASSOC_H

#include <stdint.h>

#include "modsweep/nn.h"

typedef enum ms_assoc_method {
    MS_ASSOC_FORWARD_COV = 0,
    MS_ASSOC_FORWARD_JAC = 1,
    MS_ASSOC_BACKWARD_JAC = 2,
    MS_ASSOC_BACKWARD_HESS = 3,
    MS_ASSOC_N_RAW = 4,
    /* methods 4..7 are the _norm versions of 0..3 */
    MS_ASSOC_N = 8,
} ms_assoc_method_t;

/* "forward_cov", ..., "backward_hess_norm" for methods 0..7. */
const char *ms_assoc_name(int method);

/* The four raw associations (signed, before the absolute value) of every
 * hidden fc layer in `layers` (bit l = fc(l+1); the model must have no conv
 * blocks and the logits layer is not allowed). out[l] (for each layer in the
 * mask) receives 4 matrices of U_l x U_l doubles, method-major. x: (N, I0)
 * inputs. The labels are not needed: the Hessian of the cross-entropy with
 * respect to the logits, diag(p) - p p^T, does not depend on them. Returns
 * MS_EINVAL or MS_ENOMEM. */
int ms_assoc_compute(const ms_layout_t *L, const float *params, const float *x, int N,
                     uint32_t layers, double *const out[MS_MAX_FC]);

/* From the 4 raw matrices (U x U each) of one layer, the 8 associations:
 * |M| for methods 0..3 and |M_ij / sqrt(M_ii M_jj)| for 4..7, symmetrised
 * ((M + M^T) / 2 first). assoc: 8 * U * U doubles. */
void ms_assoc_finish(const double *raw, int U, double *assoc);

#endif
