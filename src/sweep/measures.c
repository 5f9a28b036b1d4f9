/* The measures of seeds 002, 003 and 004 as a per-model analysis, and their
 * results columns (measures.h).
 *
 * Dimension letters: N samples, V variant (0 trained, 1 untrained), U units
 * of a layer, NB samples of a block. */
#include "modsweep/measures.h"
#include "modsweep/assoc.h"
#include "modsweep/cluster.h"
#include "modsweep/error.h"
#include "modsweep/infotheory.h"
#include "modsweep/kernels.h"
#include "modsweep/log.h"
#include "modsweep/modularity.h"
#include "modsweep/nullmodel.h"
#include "modsweep/planted.h"
#include "modsweep/recovery.h"
#include "modsweep/rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NA MS_ASSOC_N /* association methods */
#define FWD_BLOCK 256 /* samples per forward block */
#define MAXKL_START_SUB 0x40000000u

/* clang-format off */
const ms_col_t ms_measures_cols[] = {
    {"models/meas_samples", MS_ROW_MODEL, MS_DT_I32, 0, {0},
     "test images the measures used (the first n of the test split)"},
    {"models/meas_test_acc", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NV},
     "accuracy on those images of each variant (0 trained, 1 untrained initialisation)"},
    {"models/time_measures", MS_ROW_MODEL, MS_DT_F64, 0, {0}, "wall seconds of the measures"},
    /* seed 002: information */
    {"models/info_pair_layers", MS_ROW_MODEL, MS_DT_I32, 2, {MS_DIM_NIP, 2},
     "fc numbers (X, Y) of each info layer pair (i < j, in layer order)"},
    {"models/info_pair", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NV, MS_DIM_NIP, 6},
     "entropies (nats) of the paired binned outputs: H(X), H(Y), H(X given Y), H(Y given X), "
     "I(X;Y), H(X,Y)"},
    {"models/info_measures", MS_ROW_MODEL, MS_DT_F64, 4, {MS_DIM_NV, MS_DIM_NIP, MS_DIM_NID, 4},
     "per unit set P: H(Y_P given X_notP), H(Y_P), H(Y_P given X), H(Y_P given X_P) (the "
     "seed's measures 1-4)"},
    {"models/info_comparisons", MS_ROW_MODEL, MS_DT_F64, 4, {MS_DIM_NV, MS_DIM_NIP, MS_DIM_NID, 3},
     "the seed's comparisons: m1 - m2, m3 - m4, m3 - m1"},
    /* seed 002: ablation */
    {"models/ablate_layer", MS_ROW_MODEL, MS_DT_I32, 0, {0}, "fc number of the ablated layer"},
    {"models/ablate_neuron_kl", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NV, MS_DIM_NAU},
     "mean KL divergence of the ablated from the unablated output, each neuron zeroed (nats)"},
    {"models/ablate_neuron_dentropy", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NV, MS_DIM_NAU},
     "mean H(p_ablated) - H(p) with each neuron zeroed (nats)"},
    {"models/ablate_dir_kl", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NV, MS_DIM_NDIR},
     "mean KL with each random unit direction projected out"},
    {"models/ablate_dir_dentropy", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NV, MS_DIM_NDIR},
     "mean entropy change with each random direction projected out"},
    {"models/maxkl_kl", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NV},
     "largest mean KL found for one projected-out unit direction"},
    {"models/maxkl_dentropy", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NV},
     "mean entropy change of that direction"},
    {"models/maxkl_direction", MS_ROW_MODEL, MS_DT_F32, 2, {MS_DIM_NV, MS_DIM_NAU},
     "that unit direction (sign: largest component positive)"},
    {"models/maxkl_best_neuron", MS_ROW_MODEL, MS_DT_I32, 1, {MS_DIM_NV},
     "neuron of largest KL (the first start of the search)"},
    {"models/maxkl_start_kl", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NV, MS_DIM_NST},
     "KL reached from each start (0: the best neuron, then random directions)"},
    {"models/maxkl_start_iters", MS_ROW_MODEL, MS_DT_I32, 2, {MS_DIM_NV, MS_DIM_NST},
     "ascent steps taken from each start"},
    {"models/maxkl_start_converged", MS_ROW_MODEL, MS_DT_I8, 2, {MS_DIM_NV, MS_DIM_NST},
     "1 when that start met the convergence test within maxkl_iters"},
    /* seed 003: associations and modularity */
    {"models/assoc_layers", MS_ROW_MODEL, MS_DT_I32, 1, {MS_DIM_NAL}, "fc numbers of the assoc layers"},
    {"models/assoc_q", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NV, MS_DIM_NAL, NA},
     "best Newman Q per association method (forward_cov, forward_jac, backward_jac, "
     "backward_hess, then each _norm)"},
    {"models/assoc_q_spectral", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NV, MS_DIM_NAL, NA},
     "Q after spectral bisection, before the Monte-Carlo refinement"},
    {"models/assoc_clusters", MS_ROW_MODEL, MS_DT_I32, 3, {MS_DIM_NV, MS_DIM_NAL, NA},
     "clusters found"},
    {"models/assoc_effective", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NV, MS_DIM_NAL, NA},
     "effective number of clusters: exp(entropy of the cluster sizes)"},
    {"models/assoc_dead", MS_ROW_MODEL, MS_DT_I32, 3, {MS_DIM_NV, MS_DIM_NAL, NA},
     "dead units (no association), in no cluster"},
    {"models/assoc_temperature", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NV, MS_DIM_NAL, NA},
     "temperature of the Monte-Carlo moves (set for the target move entropy)"},
    {"models/assoc_labels", MS_ROW_MODEL, MS_DT_I32, 4, {MS_DIM_NV, MS_DIM_NAL, NA, MS_DIM_MU},
     "cluster of each unit (-1: dead, or beyond the layer's width)"},
    {"models/assoc_align", MS_ROW_MODEL, MS_DT_F64, 4, {MS_DIM_NV, MS_DIM_NAL, NA, NA},
     "[a][b]: greedy-matching alignment score of the clusterings of methods a and b"},
    {"models/assoc_align_p", MS_ROW_MODEL, MS_DT_F64, 4, {MS_DIM_NV, MS_DIM_NAL, NA, NA},
     "[a][b]: p-value of that score under null_shuffles shuffles of a's labels"},
    {"models/assoc_spearman", MS_ROW_MODEL, MS_DT_F64, 4, {MS_DIM_NV, MS_DIM_NAL, NA, NA},
     "[a][b]: Spearman correlation of the two association matrices (pairs i < j of units live "
     "in both)"},
    {"models/assoc_transfer_q", MS_ROW_MODEL, MS_DT_F64, 4, {MS_DIM_NV, MS_DIM_NAL, NA, NA},
     "[a][b]: Q of association a under the clustering found on b"},
    {"models/null_assoc_q_mean", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NV, MS_DIM_NAL, NA},
     "mean of assoc_q over the [null] shuffles networks (each layer's weights permuted, its "
     "multiset kept; associations and Q recomputed); NaN without [null] shuffles"},
    {"models/null_assoc_q_sd", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NV, MS_DIM_NAL, NA},
     "sample sd (n - 1) of assoc_q over the shuffled networks"},
    {"models/null_assoc_q_z", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NV, MS_DIM_NAL, NA},
     "z-score (assoc_q - null mean) / null sd (NaN when the sd is 0)"},
    {"models/null_assoc_q_p", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NV, MS_DIM_NAL, NA},
     "empirical p-value (1 + shuffled networks with Q >= assoc_q) / (1 + shuffles)"},
    {"models/planted_ari_assoc", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NV, MS_DIM_NAL, NA},
     "dataset = planted: adjusted Rand index of assoc_labels (dead units left out) against the "
     "hidden units' planted modules (the strip of the largest absolute weight mass traced back "
     "to fc1's inputs through the product of the absolute weight matrices, of the variant's own "
     "weights, ms_planted_unit_modules); NaN for other datasets"},
    {"models/assoc_matrix", MS_ROW_MODEL, MS_DT_F32, 5,
     {MS_DIM_NV, MS_DIM_NAL, NA, MS_DIM_MUS, MS_DIM_MUS},
     "the association matrices (assoc_store; NaN beyond the layer's width)"},
    /* seed 004: conv layers */
    {"models/hebb_binary", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NV, MS_DIM_NCW},
     "co-activation count of each conv weight's input and output (conv1.weight, conv2.weight, "
     "... in (F, C, K, K) order)"},
    {"models/hebb_corr", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NV, MS_DIM_NCW},
     "mean over output positions of the absolute correlation of each conv weight's input and "
     "output"},
    {"models/sparse_sparsity", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NCV},
     "dynamic sparse training: pruned share of each conv layer's weights at the end"},
    {"models/sparse_events", MS_ROW_MODEL, MS_DT_I32, 0, {0},
     "dynamic sparse training: connection events run"},
    {NULL, 0, 0, 0, {0}, NULL},
};
/* clang-format on */

static int popcount(uint32_t m) {
    int n = 0;
    for (; m; m &= m - 1)
        n++;
    return n;
}

void ms_measures_dims(ms_dims_t *d, const ms_settings_t *s) {
    const ms_meas_cfg_t *me = &s->meas;
    const ms_arch_t *a = &s->arch;
    const int ni = popcount(me->info_layers);
    d->NV = 1 + (me->untrained != 0);
    d->NIP = ni * (ni - 1) / 2;
    d->NID = d->NIP ? me->unitset_draws : 0;
    d->NAU = me->ablate_layer >= 0 ? a->fc_out[me->ablate_layer] : 0;
    d->NDIR = me->ablate_layer >= 0 ? me->directions : 0;
    d->NST = me->ablate_layer >= 0 ? me->maxkl_starts + 1 : 0;
    d->NAL = popcount(me->assoc_layers);
    d->MU = 0;
    for (int l = 0; l < MS_MAX_FC; l++)
        if ((me->assoc_layers >> l & 1u) && a->fc_out[l] > d->MU) d->MU = a->fc_out[l];
    d->MUS = me->assoc_store ? d->MU : 0;
    d->NCW = 0;
    if (me->hebbian) {
        ms_layout_t L;
        if (ms_layout_init(&L, a) == 0)
            for (int l = 0; l < a->n_conv; l++)
                d->NCW += (long)L.t[L.conv_weight[l]].n;
    }
    d->NCV = me->sparse_every > 0 ? a->n_conv : 0;
}

int ms_measures_any(const ms_settings_t *s) {
    const ms_meas_cfg_t *me = &s->meas;
    return me->info_layers || me->ablate_layer >= 0 || me->assoc_layers || me->hebbian;
}

/* ---- the rows of one model ----------------------------------------------------- */

/* Every row buffer of the model, sized by the file's dimensions. */
typedef struct rows {
    double acc[2];
    int32_t *pair_layers;
    double *info_pair, *info_meas, *info_comp;
    double *ab_nkl, *ab_ndh, *ab_dkl, *ab_ddh;
    double maxkl[2], maxkl_dh[2];
    int32_t best_neuron[2];
    float *maxkl_dir;
    double *st_kl;
    int32_t *st_iters;
    int8_t *st_conv;
    int32_t *assoc_layers;
    double *q, *q_spec, *eff, *temp;
    int32_t *nclus, *dead, *labels;
    double *align, *align_p, *spear, *tq;
    float *amat;
    double *hb, *hc;
    double *nq; /* (4, V, NAL, NA): null mean, sd, z, p of assoc_q */
    double *pari; /* (V, NAL, NA): planted_ari_assoc */
    long vla;   /* V * NAL * NA */
} rows_t;

static void *alloc_row(long n, size_t size, int *ok) {
    void *p = malloc(size * (size_t)(n > 0 ? n : 1));
    if (!p) *ok = 0;
    return p;
}

static int rows_alloc(rows_t *r, const ms_dims_t *d) {
    memset(r, 0, sizeof *r);
    int ok = 1;
    const long V = d->NV;
    r->pair_layers = alloc_row(d->NIP * 2, sizeof(int32_t), &ok);
    r->info_pair = alloc_row(V * d->NIP * 6, sizeof(double), &ok);
    r->info_meas = alloc_row(V * d->NIP * d->NID * 4, sizeof(double), &ok);
    r->info_comp = alloc_row(V * d->NIP * d->NID * 3, sizeof(double), &ok);
    r->ab_nkl = alloc_row(V * d->NAU, sizeof(double), &ok);
    r->ab_ndh = alloc_row(V * d->NAU, sizeof(double), &ok);
    r->ab_dkl = alloc_row(V * d->NDIR, sizeof(double), &ok);
    r->ab_ddh = alloc_row(V * d->NDIR, sizeof(double), &ok);
    r->maxkl_dir = alloc_row(V * d->NAU, sizeof(float), &ok);
    r->st_kl = alloc_row(V * d->NST, sizeof(double), &ok);
    r->st_iters = alloc_row(V * d->NST, sizeof(int32_t), &ok);
    r->st_conv = alloc_row(V * d->NST, sizeof(int8_t), &ok);
    r->assoc_layers = alloc_row(d->NAL, sizeof(int32_t), &ok);
    const long VLA = V * d->NAL * NA;
    r->q = alloc_row(VLA, sizeof(double), &ok);
    r->q_spec = alloc_row(VLA, sizeof(double), &ok);
    r->eff = alloc_row(VLA, sizeof(double), &ok);
    r->temp = alloc_row(VLA, sizeof(double), &ok);
    r->nclus = alloc_row(VLA, sizeof(int32_t), &ok);
    r->dead = alloc_row(VLA, sizeof(int32_t), &ok);
    r->labels = alloc_row(VLA * d->MU, sizeof(int32_t), &ok);
    r->align = alloc_row(VLA * NA, sizeof(double), &ok);
    r->align_p = alloc_row(VLA * NA, sizeof(double), &ok);
    r->spear = alloc_row(VLA * NA, sizeof(double), &ok);
    r->tq = alloc_row(VLA * NA, sizeof(double), &ok);
    r->amat = alloc_row(VLA * d->MUS * d->MUS, sizeof(float), &ok);
    r->hb = alloc_row(V * d->NCW, sizeof(double), &ok);
    r->hc = alloc_row(V * d->NCW, sizeof(double), &ok);
    r->vla = VLA;
    r->nq = alloc_row(4 * VLA, sizeof(double), &ok);
    for (long i = 0; ok && i < 4 * VLA; i++)
        r->nq[i] = NAN;
    r->pari = alloc_row(VLA, sizeof(double), &ok);
    for (long i = 0; ok && i < VLA; i++)
        r->pari[i] = NAN;
    for (long i = 0; i < VLA * d->MU; i++)
        r->labels[i] = -1;
    for (long i = 0; i < VLA * d->MUS * d->MUS; i++)
        r->amat[i] = NAN;
    return ok ? 0 : ms_err_set(MS_ENOMEM, "measures: out of memory for the result rows");
}

static void rows_free(rows_t *r) {
    void *p[] = {r->pair_layers,  r->info_pair, r->info_meas, r->info_comp, r->ab_nkl,   r->ab_ndh,
                 r->ab_dkl,       r->ab_ddh,    r->maxkl_dir, r->st_kl,     r->st_iters, r->st_conv,
                 r->assoc_layers, r->q,         r->q_spec,    r->eff,       r->temp,     r->nclus,
                 r->dead,         r->labels,    r->align,     r->align_p,   r->spear,    r->tq,
                 r->amat,         r->hb,        r->hc,        r->nq,        r->pari};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++)
        free(p[i]);
    memset(r, 0, sizeof *r);
}

/* ---- one variant ------------------------------------------------------------------ */

typedef struct job {
    const ms_settings_t *s;
    const ms_dims_t *d;
    const ms_layout_t *L;
    const ms_split_t *test;
    int N, threads, m, verbose;
    rows_t *r;
    const int32_t *planted; /* dataset = planted: fc1's input strips (NULL otherwise) */
    int planted_blocks;
} job_t;

/* Forward passes over the N samples: accuracy, the info layers' outputs
 * before ReLU (z[l], N x O_l floats), the ablated layer's output (h, N x U
 * doubles: ReLU output, or the logits for the last layer), and the Hebbian
 * sums of the conv layers (hebb[l] when hebb is not NULL; ybuf: scratch for
 * one block's pre-activations of the widest conv layer). */
static int forward_all(const job_t *jb, const float *params, float *const z[MS_MAX_FC], double *h,
                       ms_hebb_t *hebb, float *ybuf, double *acc) {
    const ms_layout_t *L = jb->L;
    const ms_arch_t *a = &L->arch;
    const ms_meas_cfg_t *me = &jb->s->meas;
    const ms_split_t *t = jb->test;
    const size_t D = (size_t)t->c * t->h * t->w;
    ms_net_t net;
    int rc = ms_net_init(&net, a, FWD_BLOCK, jb->threads);
    if (rc) return rc;
    uint8_t pred[FWD_BLOCK];
    long correct = 0;
    for (int n0 = 0; n0 < jb->N; n0 += FWD_BLOCK) {
        const int nb = jb->N - n0 < FWD_BLOCK ? jb->N - n0 : FWD_BLOCK;
        const float *x = t->x + (size_t)n0 * D;
        ms_net_forward(&net, params, x, nb, NULL);
        ms_net_argmax(&net, nb, pred);
        for (int i = 0; i < nb; i++)
            correct += pred[i] == t->y[n0 + i];
        for (int l = 0; l < a->n_fc; l++) {
            if (!(me->info_layers >> l & 1u)) continue;
            const int O = a->fc_out[l], NI = L->fc_in[l];
            const float *in = l ? net.fc_act[l - 1] : net.fc_in0;
            const float *w = params + L->t[L->fc_weight[l]].off;
            const float *b = L->fc_bias_t[l] >= 0 ? params + L->t[L->fc_bias_t[l]].off : NULL;
            ms_linear_forward(z[l] + (size_t)n0 * O, in, w, b, nb, NI, O);
        }
        if (me->ablate_layer >= 0) {
            const int l = me->ablate_layer, U = a->fc_out[l];
            for (size_t e = 0; e < (size_t)nb * U; e++)
                h[(size_t)n0 * U + e] = net.fc_act[l][e];
        }
        for (int l = 0; hebb && l < a->n_conv; l++) {
            const float *xin = l ? net.pool_out[l - 1] : x;
            const float *w = params + L->t[L->conv_weight[l]].off;
            const float *b = L->conv_bias_t[l] >= 0 ? params + L->t[L->conv_bias_t[l]].off : NULL;
            ms_conv_preact(&hebb[l].g, xin, w, b, nb, ybuf);
            ms_hebb_add(&hebb[l], xin, ybuf, nb);
        }
    }
    *acc = (double)correct / jb->N;
    ms_net_free(&net);
    return 0;
}

/* The info layers (fc indices, in order); returns their number. */
static int info_list(const ms_meas_cfg_t *me, int *il) {
    int n = 0;
    for (int l = 0; l < MS_MAX_FC; l++)
        if (me->info_layers >> l & 1u) il[n++] = l;
    return n;
}

static int run_info(const job_t *jb, int v, float *const z[MS_MAX_FC]) {
    const ms_settings_t *s = jb->s;
    const ms_meas_cfg_t *me = &s->meas;
    const ms_arch_t *a = &jb->L->arch;
    const ms_dims_t *d = jb->d;
    rows_t *r = jb->r;
    int il[MS_MAX_FC], ni = info_list(me, il), rc = 0;
    int widest = 0;
    for (int k = 0; k < ni; k++)
        if (a->fc_out[il[k]] > widest) widest = a->fc_out[il[k]];
    int64_t *hist = malloc(sizeof(int64_t) * (size_t)me->info_bins * me->info_bins);
    int *cols = malloc(sizeof(int) * (size_t)widest);
    int *sets = malloc(sizeof(int) * (size_t)ni * widest);
    if (!hist || !cols || !sets) {
        rc = ms_err_set(MS_ENOMEM, "information measures: out of memory");
        goto done;
    }
    int p = 0;
    for (int i = 0; i < ni && !rc; i++)
        for (int j = i + 1; j < ni && !rc; j++, p++) {
            const int li = il[i], lj = il[j];
            r->pair_layers[2 * p] = li + 1;
            r->pair_layers[2 * p + 1] = lj + 1;
            ms_info_sel_t x = {.x = z[li], .ld = a->fc_out[li], .n = a->fc_out[li]};
            ms_info_sel_t y = {.x = z[lj], .ld = a->fc_out[lj], .n = a->fc_out[lj]};
            ms_info_stats_t st;
            rc = ms_info_pair(&x, &y, jb->N, me->info_bins, hist, &st);
            double *o = r->info_pair + ((size_t)v * d->NIP + p) * 6;
            o[0] = st.hx, o[1] = st.hy, o[2] = st.hx_given_y, o[3] = st.hy_given_x, o[4] = st.mi;
            o[5] = st.hxy;
        }
    for (int t = 0; t < me->unitset_draws && !rc; t++) {
        int size[MS_MAX_FC];
        for (int k = 0; k < ni; k++) {
            const int O = a->fc_out[il[k]];
            size[k] = me->unitset_size < O ? me->unitset_size : O;
            ms_info_unitset(O, size[k], s->seed, (uint32_t)(t * MS_MAX_FC + il[k]),
                            sets + (size_t)k * widest);
        }
        p = 0;
        for (int i = 0; i < ni && !rc; i++)
            for (int j = i + 1; j < ni && !rc; j++, p++) {
                const size_t at = ((size_t)v * d->NIP + p) * d->NID + t;
                rc = ms_info_module(z[il[i]], a->fc_out[il[i]], z[il[j]], a->fc_out[il[j]], jb->N,
                                    sets + (size_t)i * widest, size[i], sets + (size_t)j * widest,
                                    size[j], me->info_bins, cols, hist, r->info_meas + at * 4,
                                    r->info_comp + at * 3);
            }
    }
done:
    free(hist);
    free(cols);
    free(sets);
    return rc;
}

/* A random unit direction from stream MS_RNG_DIRECTIONS (seed, sub). */
static void random_direction(uint64_t seed, uint32_t sub, int U, double *d) {
    ms_rng_t r;
    ms_rng_init(&r, seed, MS_RNG_DIRECTIONS, sub);
    double n = 0.0;
    for (int u = 0; u < U; u++) {
        d[u] = ms_rng_normal(&r);
        n += d[u] * d[u];
    }
    n = sqrt(n);
    for (int u = 0; u < U; u++)
        d[u] /= n;
}

static int run_ablation(const job_t *jb, int v, const float *params, const double *h) {
    const ms_settings_t *s = jb->s;
    const ms_meas_cfg_t *me = &s->meas;
    const ms_dims_t *d = jb->d;
    rows_t *r = jb->r;
    const int U = (int)d->NAU;
    ms_ablate_t ab;
    int rc = ms_ablate_init(&ab, jb->L, params, me->ablate_layer, h, jb->N);
    if (rc) return rc;
    double *dir = malloc(sizeof(double) * (size_t)U), *best = malloc(sizeof(double) * (size_t)U);
    if (!dir || !best) {
        rc = ms_err_set(MS_ENOMEM, "ablation: out of memory");
        goto done;
    }
    int bn = 0;
    for (int i = 0; i < U; i++) {
        memset(dir, 0, sizeof(double) * U);
        dir[i] = 1.0;
        double dh;
        double kl = ms_ablate_eval(&ab, dir, &dh, NULL);
        r->ab_nkl[(size_t)v * U + i] = kl;
        r->ab_ndh[(size_t)v * U + i] = dh;
        if (kl > r->ab_nkl[(size_t)v * U + bn]) bn = i;
    }
    r->best_neuron[v] = bn;
    for (long j = 0; j < d->NDIR; j++) {
        random_direction(s->seed, (uint32_t)j, U, dir);
        double dh;
        r->ab_dkl[v * d->NDIR + j] = ms_ablate_eval(&ab, dir, &dh, NULL);
        r->ab_ddh[v * d->NDIR + j] = dh;
    }
    double top = -1.0;
    for (long st = 0; st < d->NST; st++) {
        if (st == 0) {
            memset(dir, 0, sizeof(double) * U);
            dir[bn] = 1.0;
        } else {
            random_direction(s->seed, MAXKL_START_SUB + (uint32_t)(st - 1), U, dir);
        }
        int iters = 0, conv = 0;
        double kl = ms_ablate_maxkl(&ab, dir, me->maxkl_iters, &iters, &conv);
        r->st_kl[v * d->NST + st] = kl;
        r->st_iters[v * d->NST + st] = iters;
        r->st_conv[v * d->NST + st] = (int8_t)conv;
        if (kl > top) {
            top = kl;
            memcpy(best, dir, sizeof(double) * U);
        }
    }
    /* The sign of a projected-out direction does not matter: make the
     * largest component positive. */
    int big = 0;
    for (int u = 1; u < U; u++)
        if (fabs(best[u]) > fabs(best[big])) big = u;
    const double sg = best[big] < 0.0 ? -1.0 : 1.0;
    for (int u = 0; u < U; u++)
        best[u] *= sg;
    r->maxkl[v] = ms_ablate_eval(&ab, best, &r->maxkl_dh[v], NULL);
    for (int u = 0; u < U; u++)
        r->maxkl_dir[(size_t)v * U + u] = (float)best[u];
done:
    free(dir);
    free(best);
    ms_ablate_free(&ab);
    return rc;
}

/* The weight-shuffle null of assoc_q: for each of [null] shuffles networks
 * (ms_null_shuffle of params), the associations of the assoc layers and
 * their maximised Q per method (the observed run's Monte-Carlo settings
 * and sub-streams); summarised against assoc_q into r->nq. raw, assoc and
 * labels are run_assoc's buffers, reused. */
static int assoc_null(const job_t *jb, int v, const float *params, double *const raw[MS_MAX_FC],
                      double *assoc, int *labels) {
    const ms_settings_t *s = jb->s;
    const ms_meas_cfg_t *me = &s->meas;
    const ms_arch_t *a = &jb->L->arch;
    const ms_dims_t *d = jb->d;
    rows_t *r = jb->r;
    const int S = s->null_weight_shuffles;
    const long NAL = d->NAL;
    float *sh = malloc(sizeof(float) * jb->L->n_params);
    double *null = malloc(sizeof(double) * (size_t)S * NAL * NA), *col = malloc(sizeof(double) * S);
    int rc = sh && null && col ? 0 : ms_err_set(MS_ENOMEM, "association null: out of memory");
    for (int t = 0; t < S && !rc; t++) {
        ms_null_shuffle(jb->L, params, s->seed, t, sh);
        rc = ms_assoc_compute(jb->L, sh, jb->test->x, jb->N, me->assoc_layers, raw);
        int k = 0;
        for (int l = 0; l < a->n_fc && !rc; l++) {
            if (!(me->assoc_layers >> l & 1u)) continue;
            const int U = a->fc_out[l];
            const size_t uu = (size_t)U * U;
            ms_assoc_finish(raw[l], U, assoc);
            for (int mt = 0; mt < NA && !rc; mt++) {
                ms_mod_cfg_t cfg = {.steps = me->mc_steps,
                                    .entropy = me->mc_entropy,
                                    .seed = s->seed,
                                    .sub = (uint32_t)(((size_t)v * MS_MAX_FC + l) * NA + mt)};
                ms_mod_result_t res;
                rc = ms_mod_maximise(assoc + mt * uu, U, &cfg, labels + (size_t)mt * U, &res);
                null[((size_t)t * NAL + k) * NA + mt] = res.q;
            }
            k++;
        }
        if (rc) ms_err_wrap(rc, "association null, shuffle %d: ", t);
    }
    for (long e = 0; e < NAL * NA && !rc; e++) {
        const size_t at = (size_t)v * NAL * NA + (size_t)e;
        for (int t = 0; t < S; t++)
            col[t] = null[(size_t)t * NAL * NA + (size_t)e];
        ms_null_stats_t st;
        ms_null_stats(r->q[at], col, S, &st);
        r->nq[at] = st.mean;
        r->nq[r->vla + at] = st.sd;
        r->nq[2 * r->vla + at] = st.z;
        r->nq[3 * r->vla + at] = st.p;
    }
    free(sh), free(null), free(col);
    return rc;
}

/* dataset = planted: the ARI of each method's labels of fc layer l (assoc
 * layer k) against the planted modules of its units. */
static int planted_assoc_ari(const job_t *jb, int v, const float *params, int l, int k) {
    const ms_dims_t *d = jb->d;
    const int U = jb->L->arch.fc_out[l];
    int32_t *unit = malloc(sizeof(int32_t) * (size_t)U);
    int rc = unit ? ms_planted_unit_modules(jb->L, params, jb->planted, jb->planted_blocks, l, unit)
                  : ms_err_set(MS_ENOMEM, "associations: out of memory");
    for (int mt = 0; mt < NA && !rc; mt++) {
        const size_t at = ((size_t)v * d->NAL + k) * NA + mt;
        jb->r->pari[at] = ms_part_ari(jb->r->labels + at * d->MU, unit, U);
    }
    free(unit);
    return rc;
}

static int run_assoc(const job_t *jb, int v, const float *params) {
    const ms_settings_t *s = jb->s;
    const ms_meas_cfg_t *me = &s->meas;
    const ms_arch_t *a = &jb->L->arch;
    const ms_dims_t *d = jb->d;
    rows_t *r = jb->r;
    const size_t MU = (size_t)d->MU, UU = MU * MU;
    double *raw[MS_MAX_FC] = {0};
    double *assoc = malloc(sizeof(double) * NA * UU);
    int *labels = malloc(sizeof(int) * NA * MU);
    uint8_t *live = malloc(NA * MU), *both = malloc(MU);
    int rc =
        assoc && labels && live && both ? 0 : ms_err_set(MS_ENOMEM, "associations: out of memory");
    for (int l = 0; l < a->n_fc && !rc; l++)
        if (me->assoc_layers >> l & 1u) {
            raw[l] = malloc(sizeof(double) * 4 * (size_t)a->fc_out[l] * a->fc_out[l]);
            if (!raw[l]) rc = ms_err_set(MS_ENOMEM, "associations: out of memory");
        }
    if (!rc) rc = ms_assoc_compute(jb->L, params, jb->test->x, jb->N, me->assoc_layers, raw);
    int k = 0;
    for (int l = 0; l < a->n_fc && !rc; l++) {
        if (!(me->assoc_layers >> l & 1u)) continue;
        const int U = a->fc_out[l];
        const size_t uu = (size_t)U * U;
        r->assoc_layers[k] = l + 1;
        ms_assoc_finish(raw[l], U, assoc);
        for (int mt = 0; mt < NA && !rc; mt++) {
            const size_t at = ((size_t)v * d->NAL + k) * NA + mt;
            ms_mod_cfg_t cfg = {.steps = me->mc_steps,
                                .entropy = me->mc_entropy,
                                .seed = s->seed,
                                .sub = (uint32_t)(((size_t)v * MS_MAX_FC + l) * NA + mt)};
            ms_mod_result_t res;
            rc = ms_mod_maximise(assoc + mt * uu, U, &cfg, labels + (size_t)mt * U, &res);
            ms_mod_live(assoc + mt * uu, U, live + (size_t)mt * U);
            r->q[at] = res.q;
            r->q_spec[at] = res.q_spectral;
            r->nclus[at] = res.k;
            r->eff[at] = res.effective;
            r->dead[at] = res.dead;
            r->temp[at] = res.temperature;
            for (int u = 0; u < U; u++)
                r->labels[at * MU + u] = labels[(size_t)mt * U + u];
            if (d->MUS)
                for (int i = 0; i < U; i++)
                    for (int j = 0; j < U; j++)
                        r->amat[at * UU + (size_t)i * MU + j] =
                            (float)assoc[mt * uu + (size_t)i * U + j];
        }
        for (int ma = 0; ma < NA && !rc; ma++)
            for (int mb = 0; mb < NA && !rc; mb++) {
                const size_t at = (((size_t)v * d->NAL + k) * NA + ma) * NA + mb;
                const uint32_t sub = (uint32_t)((((size_t)v * MS_MAX_FC + l) * NA + ma) * NA + mb);
                rc = ms_mod_align_null(labels + (size_t)ma * U, labels + (size_t)mb * U, U,
                                       me->null_shuffles, s->seed, sub, &r->align[at],
                                       &r->align_p[at]);
                for (int u = 0; u < U; u++)
                    both[u] = live[(size_t)ma * U + u] && live[(size_t)mb * U + u];
                r->spear[at] = ms_mod_spearman(assoc + ma * uu, assoc + mb * uu, U, both);
                r->tq[at] = ms_mod_q(assoc + ma * uu, U, labels + (size_t)mb * U);
            }
        if (!rc && jb->planted) rc = planted_assoc_ari(jb, v, params, l, k);
        k++;
    }
    if (!rc && s->null_weight_shuffles > 0) rc = assoc_null(jb, v, params, raw, assoc, labels);
    for (int l = 0; l < MS_MAX_FC; l++)
        free(raw[l]);
    free(assoc);
    free(labels);
    free(live);
    free(both);
    return rc;
}

static int run_variant(const job_t *jb, int v, const float *params) {
    const ms_settings_t *s = jb->s;
    const ms_meas_cfg_t *me = &s->meas;
    const ms_layout_t *L = jb->L;
    const ms_arch_t *a = &L->arch;
    const ms_dims_t *d = jb->d;
    rows_t *r = jb->r;
    const int N = jb->N;
    float *z[MS_MAX_FC] = {0};
    double *h = NULL;
    float *ybuf = NULL;
    ms_hebb_t hebb[MS_MAX_CONV];
    memset(hebb, 0, sizeof hebb);
    int rc = 0;
    for (int l = 0; l < a->n_fc && !rc; l++)
        if (me->info_layers >> l & 1u) {
            z[l] = malloc(sizeof(float) * (size_t)N * a->fc_out[l]);
            if (!z[l]) rc = ms_err_set(MS_ENOMEM, "measures: out of memory");
        }
    if (!rc && me->ablate_layer >= 0) {
        h = malloc(sizeof(double) * (size_t)N * a->fc_out[me->ablate_layer]);
        if (!h) rc = ms_err_set(MS_ENOMEM, "measures: out of memory");
    }
    const int hebbian = me->hebbian && a->n_conv > 0;
    if (!rc && hebbian) {
        size_t most = 0;
        for (int l = 0; l < a->n_conv && !rc; l++) {
            ms_conv_geom_t g = ms_conv_geom(L, l);
            rc = ms_hebb_init(&hebb[l], &g, 32, 1);
            size_t n = (size_t)g.F * L->conv_h[l] * L->conv_w[l];
            if (n > most) most = n;
        }
        if (!rc && !(ybuf = malloc(sizeof(float) * most * FWD_BLOCK)))
            rc = ms_err_set(MS_ENOMEM, "measures: out of memory");
    }
    if (!rc) rc = forward_all(jb, params, z, h, hebbian ? hebb : NULL, ybuf, &r->acc[v]);
    if (!rc && me->info_layers) rc = run_info(jb, v, z);
    if (!rc && me->ablate_layer >= 0) rc = run_ablation(jb, v, params, h);
    if (!rc && me->assoc_layers) rc = run_assoc(jb, v, params);
    if (!rc && hebbian) {
        size_t off = 0;
        for (int l = 0; l < a->n_conv; l++) {
            ms_hebb_result(&hebb[l], r->hb + (size_t)v * d->NCW + off,
                           r->hc + (size_t)v * d->NCW + off);
            off += L->t[L->conv_weight[l]].n;
        }
    }
    for (int l = 0; l < MS_MAX_FC; l++)
        free(z[l]);
    for (int l = 0; l < MS_MAX_CONV; l++)
        ms_hebb_free(&hebb[l]);
    free(h);
    free(ybuf);
    return rc;
}

/* ---- the stage ------------------------------------------------------------------- */

static int write_rows(ms_results_t *res, int m, const rows_t *r, int32_t samples, double secs,
                      int32_t ablate_layer) {
    struct {
        const char *path;
        const void *buf;
    } w[] = {
        {"models/meas_samples", &samples},
        {"models/meas_test_acc", r->acc},
        {"models/time_measures", &secs},
        {"models/info_pair_layers", r->pair_layers},
        {"models/info_pair", r->info_pair},
        {"models/info_measures", r->info_meas},
        {"models/info_comparisons", r->info_comp},
        {"models/ablate_layer", &ablate_layer},
        {"models/ablate_neuron_kl", r->ab_nkl},
        {"models/ablate_neuron_dentropy", r->ab_ndh},
        {"models/ablate_dir_kl", r->ab_dkl},
        {"models/ablate_dir_dentropy", r->ab_ddh},
        {"models/maxkl_kl", r->maxkl},
        {"models/maxkl_dentropy", r->maxkl_dh},
        {"models/maxkl_direction", r->maxkl_dir},
        {"models/maxkl_best_neuron", r->best_neuron},
        {"models/maxkl_start_kl", r->st_kl},
        {"models/maxkl_start_iters", r->st_iters},
        {"models/maxkl_start_converged", r->st_conv},
        {"models/assoc_layers", r->assoc_layers},
        {"models/assoc_q", r->q},
        {"models/assoc_q_spectral", r->q_spec},
        {"models/assoc_clusters", r->nclus},
        {"models/assoc_effective", r->eff},
        {"models/assoc_dead", r->dead},
        {"models/assoc_temperature", r->temp},
        {"models/assoc_labels", r->labels},
        {"models/assoc_align", r->align},
        {"models/assoc_align_p", r->align_p},
        {"models/assoc_spearman", r->spear},
        {"models/assoc_transfer_q", r->tq},
        {"models/assoc_matrix", r->amat},
        {"models/hebb_binary", r->hb},
        {"models/hebb_corr", r->hc},
        {"models/null_assoc_q_mean", r->nq},
        {"models/null_assoc_q_sd", r->nq + r->vla},
        {"models/null_assoc_q_z", r->nq + 2 * r->vla},
        {"models/null_assoc_q_p", r->nq + 3 * r->vla},
        {"models/planted_ari_assoc", r->pari},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof w / sizeof w[0] && !rc; i++)
        rc = ms_results_write(res, w[i].path, m, -1, w[i].buf);
    return rc;
}

int ms_measures_analyse(ms_ctx_t *ctx, const ms_task_t *task, char *reason) {
    const ms_settings_t s = task->s;
    const int m = task->model;
    if (!ms_measures_any(&s)) return 0;
    const double t0 = ms_now();
    const ms_dims_t *d = ms_results_dims(ctx->res);
    ms_layout_t L;
    rows_t r;
    float *params[2] = {NULL, NULL};
    int rc = ms_layout_init(&L, &s.arch);
    if (!rc)
        rc = rows_alloc(&r, d);
    else
        memset(&r, 0, sizeof r);
    for (long v = 0; v < d->NV && !rc; v++)
        if (!(params[v] = malloc(sizeof(float) * L.n_params)))
            rc = ms_err_set(MS_ENOMEM, "measures: out of memory");
    if (!rc) rc = ms_stage_load_params(ctx, task, params[0]);
    if (!rc && d->NV > 1) ms_params_init(&L, params[1], s.seed);
    int32_t *planted = NULL; /* dataset = planted: fc1's input strips */
    if (!rc && d->NAL) rc = ms_planted_fc1_modules(ctx->g, &s, &L, &planted);
    int N = ctx->test->n;
    if (s.meas.samples > 0 && s.meas.samples < N) N = s.meas.samples;
    job_t jb = {.s = &s,
                .d = d,
                .L = &L,
                .test = ctx->test,
                .N = N,
                .threads = ctx->threads,
                .m = m,
                .verbose = ctx->verbose,
                .r = &r,
                .planted = planted,
                .planted_blocks = ctx->g->planted.blocks};
    for (long v = 0; v < d->NV && !rc; v++)
        rc = run_variant(&jb, (int)v, params[v]);
    if (!rc)
        rc = write_rows(ctx->res, m, &r, N, ms_now() - t0,
                        s.meas.ablate_layer >= 0 ? s.meas.ablate_layer + 1 : 0);
    if (!rc && ctx->verbose) {
        char line[512];
        int off = snprintf(line, sizeof line, "measures model %d: %d images, %.1f s", m, N,
                           ms_now() - t0);
        if (s.meas.ablate_layer >= 0)
            off += snprintf(line + off, sizeof line - off,
                            "; max-KL direction %.4g vs best neuron %.4g", r.maxkl[0],
                            r.ab_nkl[r.best_neuron[0]]);
        if (d->NAL)
            snprintf(line + off, sizeof line - off, "; Q(fc%d forward_cov) %.3f", r.assoc_layers[0],
                     r.q[0]);
        ms_message("%s", line);
    }
    if (rc) snprintf(reason, MS_REASON_MAX, "measures: %s", ms_err_msg());
    rows_free(&r);
    free(planted);
    free(params[0]);
    free(params[1]);
    return rc;
}

int ms_measures_write_sparse(ms_ctx_t *ctx, int m, const ms_sparse_t *sp) {
    if (!sp) return 0;
    double sparsity[MS_MAX_CONV];
    int32_t events = 0;
    int ev = 0;
    ms_sparse_stats(sp, sparsity, &ev);
    events = ev;
    int rc = ms_results_write(ctx->res, "models/sparse_sparsity", m, -1, sparsity);
    if (!rc) rc = ms_results_write(ctx->res, "models/sparse_events", m, -1, &events);
    return rc;
}
