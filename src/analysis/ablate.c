/* Cluster ablation and search-space reduction (ablate.h).
 *
 * Dimension letters: B batch, D floats per image, K clusters, NC classes,
 * O/NI fc rows/columns, NV modified networks (two per cluster). */
#include "modsweep/ablate.h"
#include "modsweep/circuit.h"
#include "modsweep/cluster.h"
#include "modsweep/error.h"
#include "modsweep/kernels.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Whether weight (o, i) is removed when cluster c is kept alone (on) or
 * removed. */
static int removed(const int32_t *row, const int32_t *col, int o, int i, int c, int on) {
    const int zero_row = on ? (row[o] >= 0 && row[o] != c) : row[o] == c;
    const int zero_col = on ? (col[i] >= 0 && col[i] != c) : col[i] == c;
    return zero_row || zero_col;
}

/* The weight of layer `layer` with cluster c kept alone (on) or removed. */
static void ablated_weight(float *w, const float *w0, int O, int NI, const int32_t *row,
                           const int32_t *col, int c, int on) {
    for (int o = 0; o < O; o++)
        for (int i = 0; i < NI; i++)
            w[(size_t)o * NI + i] = removed(row, col, o, i, c, on) ? 0.0f : w0[(size_t)o * NI + i];
}

int ms_ablate(const ms_arch_t *arch, const float *params, const ms_split_t *split, int batch,
              ms_ablation_t *a, int n) {
    if (n <= 0) return 0;
    ms_net_t net;
    int rc = ms_net_init(&net, arch, batch, 0);
    if (rc) return rc;
    const ms_layout_t *L = &net.L;
    const int nf = arch->n_fc, NC = arch->fc_out[nf - 1];
    const size_t D = (size_t)arch->in_c * arch->in_h * arch->in_w;
    if ((size_t)split->c * split->h * split->w != D) {
        ms_net_free(&net);
        return ms_err_set(MS_EINVAL, "ablation: images are %dx%dx%d, the model expects %dx%dx%d",
                          split->c, split->h, split->w, arch->in_c, arch->in_h, arch->in_w);
    }
    int NV = 0, maxw = 0;
    size_t wfloats = 0;
    for (int i = 0; i < n; i++) {
        const int l = a[i].layer;
        if (l < 0 || l >= nf || a[i].k < 1) {
            ms_net_free(&net);
            return ms_err_set(MS_EINVAL, "ablation: fc layer %d with %d clusters", l + 1, a[i].k);
        }
        NV += 2 * a[i].k;
        wfloats += 2 * (size_t)a[i].k * arch->fc_out[l] * L->fc_in[l];
    }
    for (int l = 0; l < nf; l++)
        maxw = arch->fc_out[l] > maxw ? arch->fc_out[l] : maxw;
    float *wv = malloc(sizeof(float) * (wfloats ? wfloats : 1));
    float *act = malloc(sizeof(float) * 2 * (size_t)batch * maxw);
    long *correct = calloc((size_t)NV * NC, sizeof(long));
    int *vl = malloc(sizeof(int) * (size_t)NV);        /* layer of variant v */
    float **vw = malloc(sizeof(float *) * (size_t)NV); /* its weight */
    if (!wv || !act || !correct || !vl || !vw) {
        rc = ms_err_set(MS_ENOMEM, "ablation: out of memory (%d modified networks)", NV);
        goto done;
    }
    /* Variant order: ablation i, cluster c, ON then OFF. */
    {
        float *w = wv;
        int v = 0;
        for (int i = 0; i < n; i++) {
            const int l = a[i].layer, O = arch->fc_out[l], NI = L->fc_in[l];
            const float *w0 = params + L->t[L->fc_weight[l]].off;
            for (int c = 0; c < a[i].k; c++)
                for (int on = 1; on >= 0; on--) {
                    ablated_weight(w, w0, O, NI, a[i].row, a[i].col, c, on);
                    vl[v] = l;
                    vw[v++] = w;
                    w += (size_t)O * NI;
                }
        }
    }
    long total[MS_MAX_CLASSES] = {0};
    for (int b0 = 0; b0 < split->n; b0 += batch) {
        const int nb = split->n - b0 < batch ? split->n - b0 : batch;
        const uint8_t *y = split->y + b0;
        ms_net_forward(&net, params, split->x + (size_t)b0 * D, nb, NULL);
        for (int i = 0; i < nb; i++)
            total[y[i]]++;
        for (int v = 0; v < NV; v++) {
            const int l0 = vl[v];
            const float *in = l0 ? net.fc_act[l0 - 1] : net.fc_in0;
            float *out = act;
            for (int l = l0; l < nf; l++) {
                const int O = arch->fc_out[l], NI = L->fc_in[l];
                const float *w = l == l0 ? vw[v] : params + L->t[L->fc_weight[l]].off;
                const float *b = L->fc_bias_t[l] >= 0 ? params + L->t[L->fc_bias_t[l]].off : NULL;
                ms_linear_forward(out, in, w, b, nb, NI, O);
                if (l < nf - 1) ms_relu_dropout_forward(out, nb, O, 0.0f, 0, 0, 0);
                in = out;
                out = out == act ? act + (size_t)batch * maxw : act;
            }
            /* in holds the logits; the first maximum wins, as ms_net_argmax. */
            long *cv = correct + (size_t)v * NC;
            for (int i = 0; i < nb; i++) {
                const float *z = in + (size_t)i * NC;
                int best = 0;
                for (int c = 1; c < NC; c++)
                    if (z[c] > z[best]) best = c;
                cv[y[i]] += best == y[i];
            }
        }
    }
    {
        int v = 0;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < a[i].k; c++)
                for (int on = 1; on >= 0; on--, v++) {
                    double *dst = (on ? a[i].on : a[i].off) + (size_t)c * NC;
                    for (int j = 0; j < NC; j++)
                        dst[j] = total[j] ? (double)correct[(size_t)v * NC + j] / total[j] : NAN;
                }
    }
done:
    free(wv), free(act), free(correct), free(vl), free(vw);
    ms_net_free(&net);
    return rc;
}

int ms_ablate_kind(const ms_arch_t *arch, const float *params, const ms_split_t *split,
                   const ms_split_t *ref, int n_ref, int kind, uint64_t seed, int batch,
                   ms_ablation_t *a, int n) {
    if (kind == MS_ABL_ZERO) return ms_ablate(arch, params, split, batch, a, n);
    if (kind != MS_ABL_MEAN && kind != MS_ABL_RESAMPLE)
        return ms_err_set(MS_EINVAL, "ablation: unknown ablation kind %d", kind);
    if (n <= 0) return 0;
    ms_layout_t L;
    int rc = ms_layout_init(&L, arch);
    if (rc) return rc;
    const int nf = arch->n_fc, NC = arch->fc_out[nf - 1], NI0 = L.fc_in[0];
    const size_t D = (size_t)arch->in_c * arch->in_h * arch->in_w;
    if ((size_t)split->c * split->h * split->w != D || (size_t)ref->c * ref->h * ref->w != D)
        return ms_err_set(MS_EINVAL, "ablation: images are %dx%dx%d, the model expects %dx%dx%d",
                          split->c, split->h, split->w, arch->in_c, arch->in_h, arch->in_w);
    const int NF = n_ref > 0 && n_ref < ref->n ? n_ref : ref->n;
    if (NF < 1)
        return ms_err_set(MS_EINVAL, "ablation: %s ablation needs reference images, there are none",
                          ms_ablation_kind_name(kind));
    size_t moff[MS_MAX_FC + 1] = {0};
    for (int l = 0; l < nf; l++)
        moff[l + 1] = moff[l] + (size_t)arch->fc_out[l] * L.fc_in[l];
    for (int i = 0; i < n; i++)
        if (a[i].layer < 0 || a[i].layer >= nf || a[i].k < 1)
            return ms_err_set(MS_EINVAL, "ablation: fc layer %d with %d clusters", a[i].layer + 1,
                              a[i].k);
    double *h0 = malloc(sizeof(double) * (size_t)(split->n > 0 ? split->n : 1) * NI0);
    double *hf = malloc(sizeof(double) * (size_t)NF * NI0);
    uint8_t *mask = malloc(moff[nf]);
    ms_circuit_ref_t cref;
    memset(&cref, 0, sizeof cref);
    if (!h0 || !hf || !mask) {
        rc = ms_err_set(MS_ENOMEM, "ablation: out of memory for %s ablation",
                        ms_ablation_kind_name(kind));
        goto done;
    }
    if ((rc = ms_circuit_features(&L, params, split->x, split->n, h0))) goto done;
    if ((rc = ms_circuit_features(&L, params, ref->x, NF, hf))) goto done;
    if ((rc = ms_circuit_ref_init(&cref, &L, params, hf, NF, seed))) goto done;
    for (int i = 0; i < n && !rc; i++) {
        const int l = a[i].layer, O = arch->fc_out[l], NI = L.fc_in[l];
        for (int c = 0; c < a[i].k && !rc; c++)
            for (int on = 1; on >= 0 && !rc; on--) {
                /* The zeroed weights of ms_ablate are the removed ones. */
                memset(mask, 1, moff[nf]);
                for (int o = 0; o < O; o++)
                    for (int j = 0; j < NI; j++)
                        mask[moff[l] + (size_t)o * NI + j] =
                            !removed(a[i].row, a[i].col, o, j, c, on);
                ms_circuit_eval_t ev;
                rc = ms_circuit_judge(&L, params, mask, kind, &cref, NULL, NULL, h0, split->y, NULL,
                                      split->n, 0, &ev);
                double *dst = (on ? a[i].on : a[i].off) + (size_t)c * NC;
                for (int j = 0; j < NC && !rc; j++)
                    dst[j] = ev.class_acc[j];
            }
    }
done:
    ms_circuit_ref_free(&cref);
    free(h0), free(hf), free(mask);
    return rc;
}

/* Whether any of the n labels is set. */
static int has_labels(const int32_t *lab, int n) {
    for (int i = 0; i < n; i++)
        if (lab[i] >= 0) return 1;
    return 0;
}

/* Units of one side kept in c's path: from the side's own labels, else from
 * the neighbouring layer's labels of the same neurons (nb, may be NULL),
 * else all. */
static long kept_units(const int32_t *own, const int32_t *nb, int n, int c) {
    const int32_t *lab = has_labels(own, n) ? own : (nb && has_labels(nb, n) ? nb : NULL);
    if (!lab) return n;
    long k = 0;
    for (int i = 0; i < n; i++)
        k += lab[i] == c;
    return k;
}

double ms_search_space_reduction(const ms_layout_t *L, const int32_t *units, int c) {
    long in_off[MS_MAX_FC], out_off[MS_MAX_FC];
    ms_units_layout(L, in_off, out_off);
    const int nf = L->arch.n_fc;
    double path = (double)L->n_params;
    for (int l = 0; l < nf; l++) {
        const int O = L->arch.fc_out[l], NI = L->fc_in[l];
        const long ki = kept_units(units + in_off[l], l > 0 ? units + out_off[l - 1] : NULL, NI, c);
        const long ko =
            kept_units(units + out_off[l], l < nf - 1 ? units + in_off[l + 1] : NULL, O, c);
        /* Replace the layer's full count by its path's count. */
        path -= (double)O * NI - (double)ko * ki;
        if (L->fc_bias_t[l] >= 0) path -= (double)(O - ko);
    }
    return 1.0 - path / (double)L->n_params;
}
