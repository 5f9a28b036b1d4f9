/* Shuffle null models of the modularity numbers: per-layer weight
 * permutations, the summary of a null distribution, and the BSGC
 * clusterability null (nullmodel.h).
 *
 * Dimension letters: S shuffles, NK k values, NFC fc layers, NU units of
 * the unit layout (cluster.h). */
#include "modsweep/nullmodel.h"
#include "modsweep/cluster.h"
#include "modsweep/error.h"
#include "modsweep/rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void ms_null_shuffle(const ms_layout_t *L, const float *params, uint64_t seed, int s, float *out) {
    memcpy(out, params, sizeof(float) * L->n_params);
    for (int t = 0; t < L->n_tensors; t++) {
        if (L->t[t].kind != MS_T_WEIGHT) continue;
        float *w = out + L->t[t].off;
        const size_t n = L->t[t].n;
        ms_rng_t r;
        ms_rng_init(&r, seed, MS_RNG_NULL,
                    MS_NULL_SUB + (uint32_t)s * (uint32_t)MS_MAX_TENSORS + (uint32_t)t);
        for (size_t i = n - 1; i > 0; i--) {
            const size_t j = ms_rng_below(&r, (uint32_t)(i + 1));
            const float x = w[i];
            w[i] = w[j];
            w[j] = x;
        }
    }
}

void ms_null_stats(double obs, const double *null, int S, ms_null_stats_t *out) {
    double sum = 0.0;
    int n = 0, ge = 0;
    for (int s = 0; s < S; s++)
        if (isfinite(null[s])) {
            sum += null[s];
            n++;
            ge += null[s] >= obs;
        }
    out->mean = n > 0 ? sum / n : NAN;
    double ss = 0.0;
    for (int s = 0; s < S; s++)
        if (isfinite(null[s])) ss += (null[s] - out->mean) * (null[s] - out->mean);
    out->sd = n > 1 ? sqrt(ss / (n - 1)) : NAN;
    out->z = n > 1 && out->sd > 0.0 && isfinite(obs) ? (obs - out->mean) / out->sd : NAN;
    out->p = n > 0 && isfinite(obs) ? (1.0 + ge) / (1.0 + n) : NAN;
}

int ms_null_bsgc(const ms_layout_t *L, const float *params, uint32_t layers, const int *ks, int nk,
                 int restarts, uint64_t seed, int S, double *null) {
    const int NFC = L->arch.n_fc;
    long in_off[MS_MAX_FC], out_off[MS_MAX_FC];
    const long NU = ms_units_layout(L, in_off, out_off);
    for (size_t e = 0; e < (size_t)S * nk * NFC; e++)
        null[e] = NAN;
    float *sh = malloc(sizeof(float) * L->n_params);
    int32_t *units = malloc(sizeof(int32_t) * (size_t)(NU > 0 ? NU : 1));
    if (!sh || !units) {
        free(sh), free(units);
        return ms_err_set(MS_ENOMEM, "shuffle null: out of memory");
    }
    int rc = 0;
    for (int s = 0; s < S && !rc; s++) {
        ms_null_shuffle(L, params, seed, s, sh);
        for (int ki = 0; ki < nk && !rc; ki++) {
            uint32_t done = 0;
            rc = ms_bsgc_layers(L, sh, NULL, 0, layers, ks[ki], restarts, seed, MS_BASIS_WEIGHTS,
                                units, &done);
            if (rc) {
                ms_err_wrap(rc, "shuffle %d: ", s);
                break;
            }
            for (int l = 0; l < NFC; l++) {
                if (!(done >> l & 1u)) continue;
                const float *w = sh + L->t[L->fc_weight[l]].off;
                null[((size_t)s * nk + ki) * NFC + l] = ms_clusterability(
                    w, L->arch.fc_out[l], L->fc_in[l], units + out_off[l], units + in_off[l]);
            }
        }
    }
    free(sh), free(units);
    return rc;
}
