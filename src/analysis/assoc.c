/* Unit associations of hidden fc layers (assoc.h, seed 003).
 *
 * Dimension letters: N samples, NB samples of a block, O_l width of fc layer
 * l, I0 inputs, R rank of the input factor (min(I0, O_0)), C classes. */
#include "modsweep/assoc.h"
#include "modsweep/error.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ASSOC_BLOCK 32

static const char *const names[MS_ASSOC_N] = {
    "forward_cov",      "forward_jac",      "backward_jac",      "backward_hess",
    "forward_cov_norm", "forward_jac_norm", "backward_jac_norm", "backward_hess_norm"};

const char *ms_assoc_name(int method) {
    return method >= 0 && method < MS_ASSOC_N ? names[method] : "?";
}

int ms_assoc_compute(const ms_layout_t *L, const float *params, const float *x, int N,
                     uint32_t layers, double *const out[MS_MAX_FC]) {
    const ms_arch_t *a = &L->arch;
    const int nf = a->n_fc, C = a->fc_out[nf - 1], I0 = L->fc_in[0];
    if (a->n_conv > 0)
        return ms_err_set(MS_EINVAL, "associations: the model has conv blocks (mlp only)");
    if (N < 1) return ms_err_set(MS_EINVAL, "associations: no samples");
    if (!layers || layers >> (nf - 1))
        return ms_err_set(MS_EINVAL, "associations: layer set 0x%x is not a set of hidden layers",
                          layers);
    int lo = -1, hi = -1; /* the lowest and highest requested layers */
    for (int l = 0; l < nf - 1; l++)
        if (layers >> l & 1u) {
            if (lo < 0) lo = l;
            hi = l;
        }
    const int R = I0 < a->fc_out[0] ? I0 : a->fc_out[0];
    const int NB = ASSOC_BLOCK;
    int widest = C;
    for (int l = 0; l < nf; l++)
        if (a->fc_out[l] > widest) widest = a->fc_out[l];
    /* Weights and biases in double, the input factor R, and block buffers. */
    size_t nw = 0;
    for (int l = 0; l < nf; l++)
        nw += (size_t)a->fc_out[l] * (L->fc_in[l] + 1);
    double *w = malloc(sizeof(double) * nw);
    double *qr = malloc(sizeof(double) * (size_t)I0 * a->fc_out[0]);
    double *tau = malloc(sizeof(double) * (size_t)R);
    double *xb = malloc(sizeof(double) * (size_t)NB * I0);
    double *act[MS_MAX_FC] = {0}; /* (NB, O_l): ReLU output of hidden layers, logits last */
    double *X0 = malloc(sizeof(double) * (size_t)widest * NB * R);
    double *X1 = malloc(sizeof(double) * (size_t)widest * NB * R);
    double *G0 = malloc(sizeof(double) * (size_t)NB * C * widest);
    double *G1 = malloc(sizeof(double) * (size_t)NB * C * widest);
    double *Gp = malloc(sizeof(double) * (size_t)NB * C * widest);
    double *V = malloc(sizeof(double) * (size_t)NB * widest);
    double *p = malloc(sizeof(double) * (size_t)NB * C);
    double *s1[MS_MAX_FC] = {0};
    int rc = 0;
    int ok = w && qr && tau && xb && X0 && X1 && G0 && G1 && Gp && V && p;
    for (int l = 0; l < nf && ok; l++) {
        act[l] = malloc(sizeof(double) * (size_t)NB * a->fc_out[l]);
        ok = act[l] != NULL;
        if (ok && (layers >> l & 1u)) {
            s1[l] = calloc((size_t)a->fc_out[l], sizeof(double));
            ok = s1[l] != NULL;
        }
    }
    if (!ok) {
        rc = ms_err_set(MS_ENOMEM, "associations: out of memory");
        goto done;
    }
    double *Wl[MS_MAX_FC], *bl[MS_MAX_FC];
    {
        double *q = w;
        for (int l = 0; l < nf; l++) {
            const size_t n = (size_t)a->fc_out[l] * L->fc_in[l];
            const float *W = params + L->t[L->fc_weight[l]].off;
            Wl[l] = q;
            for (size_t e = 0; e < n; e++)
                q[e] = W[e];
            q += n;
            bl[l] = q;
            for (int o = 0; o < a->fc_out[l]; o++)
                q[o] = L->fc_bias_t[l] >= 0 ? params[L->t[L->fc_bias_t[l]].off + o] : 0.0;
            q += a->fc_out[l];
        }
    }
    /* W_0^T = Q R: W_0 W_0^T = R^T R. */
    const int O0 = a->fc_out[0];
    for (int i = 0; i < I0; i++)
        for (int o = 0; o < O0; o++)
            qr[(size_t)i * O0 + o] = Wl[0][(size_t)o * I0 + i];
    if (LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, I0, O0, qr, O0, tau) != 0) {
        rc = ms_err_set(MS_EINVAL, "associations: QR factorisation of fc1 failed");
        goto done;
    }
    for (int l = lo; l <= hi; l++) {
        if (!(layers >> l & 1u)) continue;
        const size_t U = (size_t)a->fc_out[l];
        memset(out[l], 0, sizeof(double) * 4 * U * U);
    }
    for (int n0 = 0; n0 < N; n0 += NB) {
        const int nb = N - n0 < NB ? N - n0 : NB;
        for (size_t e = 0; e < (size_t)nb * I0; e++)
            xb[e] = x[(size_t)n0 * I0 + e];
        /* Forward pass. */
        const double *in = xb;
        for (int l = 0; l < nf; l++) {
            const int O = a->fc_out[l], NI = L->fc_in[l];
            for (int r = 0; r < nb; r++)
                memcpy(act[l] + (size_t)r * O, bl[l], sizeof(double) * O);
            cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, nb, O, NI, 1.0, in, NI, Wl[l], NI,
                        1.0, act[l], O);
            if (l < nf - 1)
                for (size_t e = 0; e < (size_t)nb * O; e++)
                    act[l][e] = act[l][e] > 0.0 ? act[l][e] : 0.0;
            in = act[l];
        }
        for (int r = 0; r < nb; r++) {
            const double *z = act[nf - 1] + (size_t)r * C;
            double mx = z[0], s = 0.0;
            for (int c = 1; c < C; c++)
                if (z[c] > mx) mx = z[c];
            for (int c = 0; c < C; c++)
                s += exp(z[c] - mx);
            for (int c = 0; c < C; c++)
                p[(size_t)r * C + c] = exp(z[c] - mx) / s;
        }
        /* forward_cov: first and second moments. */
        for (int l = lo; l <= hi; l++) {
            if (!(layers >> l & 1u)) continue;
            const int U = a->fc_out[l];
            for (int r = 0; r < nb; r++)
                for (int u = 0; u < U; u++)
                    s1[l][u] += act[l][(size_t)r * U + u];
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, U, U, nb, 1.0, act[l], U, act[l],
                        U, 1.0, out[l], U);
        }
        /* forward_jac: X_0 = D_0 R^T, X_l = D_l W_l X_{l-1}; layout X[o][n R + k]. */
        double *Xp = X0, *Xc = X1;
        for (int l = 0; l <= hi; l++) {
            const int O = a->fc_out[l], ld = nb * R;
            if (l == 0) {
                for (int o = 0; o < O; o++)
                    for (int r = 0; r < nb; r++) {
                        const int on = act[0][(size_t)r * O + o] > 0.0;
                        double *dst = Xc + (size_t)o * ld + (size_t)r * R;
                        for (int k = 0; k < R; k++)
                            dst[k] = on && k <= o ? qr[(size_t)k * O0 + o] : 0.0;
                    }
            } else {
                const int NI = L->fc_in[l];
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, O, ld, NI, 1.0, Wl[l], NI,
                            Xp, ld, 0.0, Xc, ld);
                for (int o = 0; o < O; o++)
                    for (int r = 0; r < nb; r++)
                        if (!(act[l][(size_t)r * O + o] > 0.0))
                            memset(Xc + (size_t)o * ld + (size_t)r * R, 0, sizeof(double) * R);
            }
            if (layers >> l & 1u)
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, O, O, ld, 1.0, Xc, ld, Xc, ld,
                            1.0, out[l] + (size_t)O * O, O);
            double *t = Xp;
            Xp = Xc;
            Xc = t;
        }
        /* backward_jac and backward_hess: G rows (n, c), G_{nf-2} = W_{nf-1}. */
        double *Gc = G0, *Gn = G1;
        for (int l = nf - 2; l >= lo; l--) {
            const int O = a->fc_out[l];
            if (l == nf - 2) {
                for (int r = 0; r < nb; r++)
                    memcpy(Gc + (size_t)r * C * O, Wl[nf - 1], sizeof(double) * C * O);
            } else {
                /* G_l = (G_{l+1} D_{l+1}) W_{l+1}. */
                const int O1 = a->fc_out[l + 1];
                for (int r = 0; r < nb; r++)
                    for (int c = 0; c < C; c++) {
                        double *row = Gc + ((size_t)r * C + c) * O1;
                        for (int o = 0; o < O1; o++)
                            if (!(act[l + 1][(size_t)r * O1 + o] > 0.0)) row[o] = 0.0;
                    }
                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, nb * C, O, O1, 1.0, Gc, O1,
                            Wl[l + 1], O, 0.0, Gn, O);
                double *t = Gc;
                Gc = Gn;
                Gn = t;
            }
            if (!(layers >> l & 1u)) continue;
            double *bj = out[l] + 2 * (size_t)O * O, *bh = out[l] + 3 * (size_t)O * O;
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, O, nb * C, 1.0, Gc, O, Gc, O,
                        1.0, bj, O);
            for (int r = 0; r < nb; r++) {
                double *v = V + (size_t)r * O;
                memset(v, 0, sizeof(double) * O);
                for (int c = 0; c < C; c++) {
                    const double pc = p[(size_t)r * C + c], sq = sqrt(pc);
                    const double *g = Gc + ((size_t)r * C + c) * O;
                    double *gp = Gp + ((size_t)r * C + c) * O;
                    for (int o = 0; o < O; o++) {
                        gp[o] = sq * g[o];
                        v[o] += pc * g[o];
                    }
                }
            }
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, O, nb * C, 1.0, Gp, O, Gp, O,
                        1.0, bh, O);
            cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, O, O, nb, -1.0, V, O, V, O, 1.0,
                        bh, O);
        }
    }
    /* Means over the samples; the covariance from its moments. */
    for (int l = lo; l <= hi; l++) {
        if (!(layers >> l & 1u)) continue;
        const int U = a->fc_out[l];
        double *cov = out[l];
        for (int i = 0; i < U; i++)
            for (int j = 0; j < U; j++)
                cov[(size_t)i * U + j] =
                    cov[(size_t)i * U + j] / N - (s1[l][i] / N) * (s1[l][j] / N);
        for (size_t e = (size_t)U * U; e < 4 * (size_t)U * U; e++)
            out[l][e] /= N;
    }
done:
    free(w);
    free(qr);
    free(tau);
    free(xb);
    free(X0);
    free(X1);
    free(G0);
    free(G1);
    free(Gp);
    free(V);
    free(p);
    for (int l = 0; l < MS_MAX_FC; l++) {
        free(act[l]);
        free(s1[l]);
    }
    return rc;
}

void ms_assoc_finish(const double *raw, int U, double *assoc) {
    const size_t UU = (size_t)U * U;
    for (int m = 0; m < MS_ASSOC_N_RAW; m++) {
        const double *M = raw + m * UU;
        double *A = assoc + m * UU, *An = assoc + (m + MS_ASSOC_N_RAW) * UU;
        for (int i = 0; i < U; i++)
            for (int j = 0; j < U; j++) {
                const double s = 0.5 * (M[(size_t)i * U + j] + M[(size_t)j * U + i]);
                const double di = M[(size_t)i * U + i], dj = M[(size_t)j * U + j];
                A[(size_t)i * U + j] = fabs(s);
                An[(size_t)i * U + j] = di > 0.0 && dj > 0.0 ? fabs(s / sqrt(di * dj)) : 0.0;
            }
    }
}
