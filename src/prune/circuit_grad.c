/* The gradients behind the attribution and integrated-gradients circuit
 * methods (ms_circuit_grad, circuit.h): over blocks of JB images, one image
 * per vector lane, with the one-image reference pass they are checked
 * against (tests/test_circuit.c).
 *
 * Dimension letters: N images, NI/O fc inputs and outputs, NC classes, NW fc
 * weights. */
#include "modsweep/circuit.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"
#include "circuit_lanes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The reference: one image at a time, forward, softmax, backward, each
 * image's d * in added to grad as soon as it is known. */
static int grad_scalar(const ms_layout_t *L, const float *params, double alpha, const double *h0,
                       int N, int label, double *grad) {
    const ms_arch_t *a = &L->arch;
    const int nf = a->n_fc, NC = a->fc_out[nf - 1];
    size_t off[MS_MAX_FC + 1], hoff[MS_MAX_FC + 1];
    off[0] = hoff[0] = 0;
    for (int l = 0; l < nf; l++) {
        off[l + 1] = off[l] + L->t[L->fc_weight[l]].n;
        hoff[l + 1] = hoff[l] + (size_t)L->fc_in[l];
    }
    const size_t NW = off[nf];
    const int MW = max_width(L);
    /* h: every layer's input for one image (layer l at hoff[l]); the logits after. */
    double *h = malloc(sizeof(double) * (hoff[nf] + NC));
    double *d = malloc(sizeof(double) * MW), *dp = malloc(sizeof(double) * MW);
    if (!h || !d || !dp) {
        free(h);
        free(d);
        free(dp);
        return ms_err_set(MS_ENOMEM, "circuit: out of memory for gradients");
    }
    for (size_t j = 0; j < NW; j++)
        grad[j] = 0.0;
    for (int n = 0; n < N; n++) {
        memcpy(h, h0 + (size_t)n * L->fc_in[0], sizeof(double) * L->fc_in[0]);
        for (int l = 0; l < nf; l++) {
            const int O = a->fc_out[l], NI = L->fc_in[l];
            const float *w = fc_w(L, params, l), *b = fc_b(L, params, l);
            const double *in = h + hoff[l];
            double *out = h + hoff[l + 1];
            for (int o = 0; o < O; o++) {
                double z = b ? (double)b[o] : 0.0;
                for (int i = 0; i < NI; i++)
                    z += alpha * (double)w[(size_t)o * NI + i] * in[i];
                out[o] = l + 1 < nf ? (z > 0.0 ? z : 0.0) : z;
            }
        }
        /* dCE/dlogits = softmax - onehot(label). */
        const double *z = h + hoff[nf];
        double m = z[0], s = 0.0;
        for (int c = 1; c < NC; c++)
            if (z[c] > m) m = z[c];
        for (int c = 0; c < NC; c++)
            s += exp(z[c] - m);
        for (int c = 0; c < NC; c++)
            d[c] = exp(z[c] - m) / s - (c == label ? 1.0 : 0.0);
        for (int l = nf - 1; l >= 0; l--) {
            const int O = a->fc_out[l], NI = L->fc_in[l];
            const float *w = fc_w(L, params, l);
            const double *in = h + hoff[l];
            double *g = grad + off[l];
            for (int o = 0; o < O; o++)
                for (int i = 0; i < NI; i++)
                    g[(size_t)o * NI + i] += d[o] * in[i];
            if (l == 0) break;
            /* Through layer l's scaled weights and the ReLU of layer l - 1
             * (its output is this layer's input: positive iff z > 0). */
            for (int i = 0; i < NI; i++) {
                double v = 0.0;
                for (int o = 0; o < O; o++)
                    v += alpha * (double)w[(size_t)o * NI + i] * d[o];
                dp[i] = in[i] > 0.0 ? v : 0.0;
            }
            memcpy(d, dp, sizeof(double) * NI);
        }
    }
    for (size_t j = 0; j < NW; j++)
        grad[j] /= N;
    free(h);
    free(d);
    free(dp);
    return 0;
}

/* ms_circuit_grad over blocks of JB images, one image per vector lane
 * (the same terms in the same order as grad_scalar in every lane). Phase 1
 * runs each block's forward pass, softmax and backward pass and keeps every
 * image's d (the loss's derivative by each layer's pre-activation) and the
 * inputs of the hidden layers; phase 2 adds d * in to grad image by image in
 * image order, as grad_scalar does, so grad has its bits. Phase 1's blocks
 * and phase 2's column tiles are split among the threads in a fixed way,
 * each writing only its own rows or columns: the result does not depend on
 * the number of threads. */
int ms__circuit_grad_scalar = 0;

typedef struct grad_ctx {
    const ms_layout_t *L;
    int nf, NC, label;
    size_t off[MS_MAX_FC + 1];  /* layer l's weights in grad (and aw) */
    size_t hoff[MS_MAX_FC + 1]; /* layer l's input in a block's vectors; logits at hoff[nf] */
    size_t doff[MS_MAX_FC + 1]; /* layer l's d in an image's row of dimg */
    size_t soff[MS_MAX_FC + 1]; /* layer l's input (l >= 1) in an image's row of himg */
    const double *aw;           /* (NW): alpha * w, row-major like grad */
    const double *awt;          /* layers >= 1: alpha * w transposed, (NI, O), at off[l] */
    const double *bias;         /* (sum O): layer l's at doff[l] */
    double *dimg, *himg;        /* (N, doff[nf]), (N, soff[nf]) */
} grad_ctx_t;

/* Softmax minus the one-hot label of each lane's logits z (NC vectors) into
 * d, with grad_scalar's operations. */
static void grad_softmax(const vjb_t *z, int NC, int label, vjb_t *d) {
    for (int j = 0; j < JB; j++) {
        double m = z[0][j], s = 0.0;
        for (int c = 1; c < NC; c++)
            if (z[c][j] > m) m = z[c][j];
        for (int c = 0; c < NC; c++)
            s += exp(z[c][j] - m);
        for (int c = 0; c < NC; c++)
            d[c][j] = exp(z[c][j] - m) / s - (c == label ? 1.0 : 0.0);
    }
}

/* One block: images n0 .. n0 + nj - 1 of h0 (idle lanes repeat image n0).
 * h: hoff[nf] + NC vectors; d, dp: max_width vectors. */
MS_PRUNE_CLONES
static void grad_block(const grad_ctx_t *g, const double *h0, int n0, int nj, vjb_t *h, vjb_t *d,
                       vjb_t *dp) {
    const ms_layout_t *L = g->L;
    const int nf = g->nf, NI0 = L->fc_in[0];
    const vjb_t zero = {0};
    for (int j = 0; j < JB; j++) {
        const double *src = h0 + (size_t)(n0 + (j < nj ? j : 0)) * NI0;
        for (int i = 0; i < NI0; i++)
            h[i][j] = src[i];
    }
    for (int l = 0; l < nf; l++) {
        const int O = L->arch.fc_out[l], NI = L->fc_in[l], hidden = l + 1 < nf;
        const double *aw = g->aw + g->off[l], *bias = g->bias + g->doff[l];
        const vjb_t *in = h + g->hoff[l];
        vjb_t *out = h + g->hoff[l + 1];
        int o = 0;
        /* Four outputs at once (four independent sums, each in input order). */
        for (; o + 4 <= O; o += 4) {
            const double *w0 = aw + (size_t)o * NI, *w1 = w0 + NI, *w2 = w1 + NI, *w3 = w2 + NI;
            vjb_t z0, z1, z2, z3;
            splat(&z0, bias[o]);
            splat(&z1, bias[o + 1]);
            splat(&z2, bias[o + 2]);
            splat(&z3, bias[o + 3]);
            for (int i = 0; i < NI; i++) {
                const vjb_t x = in[i];
                const vjb_t t0 = w0[i] * x, t1 = w1[i] * x, t2 = w2[i] * x, t3 = w3[i] * x;
                z0 = z0 + t0;
                z1 = z1 + t1;
                z2 = z2 + t2;
                z3 = z3 + t3;
            }
            out[o] = hidden ? (vjb_t)((vjbi_t)z0 & (z0 > zero)) : z0;
            out[o + 1] = hidden ? (vjb_t)((vjbi_t)z1 & (z1 > zero)) : z1;
            out[o + 2] = hidden ? (vjb_t)((vjbi_t)z2 & (z2 > zero)) : z2;
            out[o + 3] = hidden ? (vjb_t)((vjbi_t)z3 & (z3 > zero)) : z3;
        }
        for (; o < O; o++) {
            const double *w0 = aw + (size_t)o * NI;
            vjb_t z0;
            splat(&z0, bias[o]);
            for (int i = 0; i < NI; i++) {
                const vjb_t t0 = w0[i] * in[i];
                z0 = z0 + t0;
            }
            out[o] = hidden ? (vjb_t)((vjbi_t)z0 & (z0 > zero)) : z0;
        }
    }
    grad_softmax(h + g->hoff[nf], g->NC, g->label, d);
    for (int l = nf - 1; l >= 0; l--) {
        const int O = L->arch.fc_out[l], NI = L->fc_in[l];
        for (int j = 0; j < nj; j++)
            for (int o = 0; o < O; o++)
                g->dimg[(size_t)(n0 + j) * g->doff[nf] + g->doff[l] + o] = d[o][j];
        if (l == 0) break;
        const vjb_t *in = h + g->hoff[l];
        for (int j = 0; j < nj; j++)
            for (int i = 0; i < NI; i++)
                g->himg[(size_t)(n0 + j) * g->soff[nf] + g->soff[l] + i] = in[i][j];
        /* Through layer l's scaled weights and the ReLU of layer l - 1. */
        const double *awt = g->awt + g->off[l];
        for (int i = 0; i < NI; i++) {
            const double *wt = awt + (size_t)i * O;
            vjb_t v = zero;
            for (int o = 0; o < O; o++) {
                const vjb_t t = wt[o] * d[o];
                v = v + t;
            }
            dp[i] = (vjb_t)((vjbi_t)v & (in[i] > zero));
        }
        vjb_t *tmp = d;
        d = dp;
        dp = tmp;
    }
}

/* Columns i0 .. i1 - 1 of layer l's gradient: d * in of every image, in
 * image order (four images at a time: each entry adds image n's term, then
 * n + 1's, ..., as grad_scalar does). */
MS_PRUNE_CLONES
static void grad_accumulate(const grad_ctx_t *g, const double *h0, int N, int l, int i0, int i1,
                            double *grad) {
    const int O = g->L->arch.fc_out[l], NI = g->L->fc_in[l], nf = g->nf;
    double *gl = grad + g->off[l];
    const double *in[4], *dn[4];
    for (int n = 0; n < N; n += 4) {
        const int nk = N - n < 4 ? N - n : 4;
        for (int k = 0; k < 4; k++) {
            const int m = n + (k < nk ? k : 0);
            in[k] = l == 0 ? h0 + (size_t)m * NI : g->himg + (size_t)m * g->soff[nf] + g->soff[l];
            dn[k] = g->dimg + (size_t)m * g->doff[nf] + g->doff[l];
        }
        for (int o = 0; o < O; o++) {
            double *row = gl + (size_t)o * NI;
            const double d0 = dn[0][o], d1 = dn[1][o], d2 = dn[2][o], d3 = dn[3][o];
            const double *x0 = in[0], *x1 = in[1], *x2 = in[2], *x3 = in[3];
            if (nk == 4) {
                for (int i = i0; i < i1; i++) {
                    const double t0 = d0 * x0[i], t1 = d1 * x1[i], t2 = d2 * x2[i], t3 = d3 * x3[i];
                    row[i] = (((row[i] + t0) + t1) + t2) + t3;
                }
            } else {
                for (int k = 0; k < nk; k++) {
                    const double dk = dn[k][o], *xk = in[k];
                    for (int i = i0; i < i1; i++) {
                        const double t = dk * xk[i];
                        row[i] = row[i] + t;
                    }
                }
            }
        }
    }
}

#define GRAD_TILE 256

int ms_circuit_grad(const ms_layout_t *L, const float *params, double alpha, const double *h0,
                    int N, int label, double *grad) {
    if (ms__circuit_grad_scalar) return grad_scalar(L, params, alpha, h0, N, label, grad);
    const ms_arch_t *a = &L->arch;
    grad_ctx_t g = {.L = L, .nf = a->n_fc, .NC = a->fc_out[a->n_fc - 1], .label = label};
    const int nf = g.nf;
    for (int l = 0; l < nf; l++) {
        g.off[l + 1] = g.off[l] + L->t[L->fc_weight[l]].n;
        g.hoff[l + 1] = g.hoff[l] + (size_t)L->fc_in[l];
        g.doff[l + 1] = g.doff[l] + (size_t)a->fc_out[l];
        g.soff[l + 1] = g.soff[l] + (l ? (size_t)L->fc_in[l] : 0);
    }
    const size_t NW = g.off[nf];
    const int MW = max_width(L), T = ms_kernels_threads();
    const int nblk = (N + JB - 1) / JB;
    double *aw = malloc(sizeof(double) * (NW ? NW : 1));
    double *awt = malloc(sizeof(double) * (NW ? NW : 1));
    double *bias = malloc(sizeof(double) * g.doff[nf]);
    double *dimg = malloc(sizeof(double) * (size_t)(N > 0 ? N : 1) * g.doff[nf]);
    double *himg = malloc(sizeof(double) * (size_t)(N > 0 ? N : 1) * (g.soff[nf] ? g.soff[nf] : 1));
    const size_t per_t = g.hoff[nf] + (size_t)g.NC + 2 * (size_t)MW;
    vjb_t *vb = aligned_alloc(sizeof(vjb_t), sizeof(vjb_t) * per_t * T);
    int rc = 0;
    if (!aw || !awt || !bias || !dimg || !himg || !vb) {
        rc = ms_err_set(MS_ENOMEM, "circuit: out of memory for gradients");
        goto done;
    }
    /* alpha * w as grad_scalar rounds it, row-major and (hidden layers) transposed. */
    for (int l = 0; l < nf; l++) {
        const int O = a->fc_out[l], NI = L->fc_in[l];
        const float *w = fc_w(L, params, l), *b = fc_b(L, params, l);
        for (int o = 0; o < O; o++) {
            bias[g.doff[l] + o] = b ? (double)b[o] : 0.0;
            for (int i = 0; i < NI; i++) {
                const double v = alpha * (double)w[(size_t)o * NI + i];
                aw[g.off[l] + (size_t)o * NI + i] = v;
                if (l) awt[g.off[l] + (size_t)i * O + o] = v;
            }
        }
    }
    g.aw = aw;
    g.awt = awt;
    g.bias = bias;
    g.dimg = dimg;
    g.himg = himg;
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1 && nblk > 1)
    for (int t = 0; t < T; t++) {
        vjb_t *h = vb + per_t * t, *d = h + g.hoff[nf] + g.NC, *dp = d + MW;
        for (int blk = (int)((long)nblk * t / T); blk < (int)((long)nblk * (t + 1) / T); blk++) {
            const int n0 = blk * JB;
            grad_block(&g, h0, n0, N - n0 < JB ? N - n0 : JB, h, d, dp);
        }
    }
    for (size_t j = 0; j < NW; j++)
        grad[j] = 0.0;
    for (int l = 0; l < nf; l++) {
        const int NI = L->fc_in[l], nt = (NI + GRAD_TILE - 1) / GRAD_TILE;
#pragma omp parallel for schedule(static) num_threads(T) if (T > 1 && nt > 1)
        for (int t = 0; t < T; t++)
            for (int k = (int)((long)nt * t / T); k < (int)((long)nt * (t + 1) / T); k++)
                grad_accumulate(&g, h0, N, l, k * GRAD_TILE,
                                (k + 1) * GRAD_TILE < NI ? (k + 1) * GRAD_TILE : NI, grad);
    }
    for (size_t j = 0; j < NW; j++)
        grad[j] /= N;
done:
    free(aw);
    free(awt);
    free(bias);
    free(dimg);
    free(himg);
    free(vb);
    return rc;
}
