/* The cluster analysis of the analyse stage and the regulariser's training
 * results, with their results columns (analyse.h).
 *
 * Dimension letters (results.h): NK curve k values, NFC fc layers, NU fc
 * units in the unit layout of cluster.h, NG gradient-similarity doubles,
 * KMAX the grid's largest k, NC classes. */
#include "modsweep/analyse.h"
#include "modsweep/ablate.h"
#include "modsweep/circuit.h"
#include "modsweep/cluster.h"
#include "modsweep/datagen.h"
#include "modsweep/error.h"
#include "modsweep/log.h"
#include "modsweep/nullmodel.h"
#include "modsweep/planted.h"
#include "modsweep/recovery.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UNITS_DOC                                                                                  \
    "; unit layout: for each fc layer (fc1 first) the labels of its input units then of its "      \
    "output units; -1 = in no cluster"
#define ABL_DOC                                                                                    \
    " [fc layer, cluster c, class]: class-wise test accuracy; padded with NaN beyond the "         \
    "partition's k and for layers without it"

#define NULL_DOC                                                                                   \
    "; NaN without [null] shuffles and for layers not analysed (gradient-based numbers have no "   \
    "shuffle null: the gradient similarity needs training)"

/* clang-format off */
const ms_col_t ms_cluster_cols[] = {
    /* Written by the train stage. */
    {"models/part_train", MS_ROW_MODEL, MS_DT_I32, 1, {MS_DIM_NU},
     "the regulariser's partition of the regularised layers (blocks, or BSGC of abs(W) after the "
     "warm-up epochs for spectral; -1 everywhere if it was never fixed)" UNITS_DOC},
    {"models/gradsim", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NG},
     "gradient similarity S_l = sum over steps of g^T g / sum(g^2) (g the layer's total weight "
     "gradient of the step, regulariser and penalties included) of each gradsim layer in layer "
     "order, D x D row-major (D = fan-in)"},
    {"models/gradsim_steps", MS_ROW_MODEL, MS_DT_I64, 1, {MS_DIM_NFC},
     "steps summed into each fc layer's gradient similarity (0: not a gradsim layer; steps with "
     "an all-zero gradient are skipped)"},
    /* The clusterability-vs-k curve. */
    {"models/cl_curve_k", MS_ROW_MODEL, MS_DT_I32, 1, {MS_DIM_NK}, "k of each curve point"},
    {"models/cl_curve_baseline", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NK},
     "random baseline 1/k of each curve point"},
    {"models/cl_curve_w", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NK, MS_DIM_NFC},
     "[k, fc layer]: clusterability of the layer's weights under its weight-based BSGC "
     "partition (chained over bsgc_layers); NaN for layers not analysed"},
    {"models/cl_curve_g", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NK, MS_DIM_NFC},
     "[k, fc layer]: clusterability of the layer's weights under the BSGC partition of its "
     "gradient similarity (bsgc layers that are gradsim layers, chained); NaN elsewhere"},
    {"models/cl_curve_w_mean", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NK},
     "mean of cl_curve_w over the analysed layers (seed 000's plotted curve)"},
    {"models/cl_curve_g_mean", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NK},
     "mean of cl_curve_g over the analysed layers"},
    {"models/cl_curve_w_sizebase", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NK, MS_DIM_NFC},
     "[k, fc layer]: size-matched baseline of the weight-based partition, sum_c #U_c #V_c / "
     "(O NI) (the clusterability of equal-magnitude weights)"},
    {"models/cl_curve_g_sizebase", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NK, MS_DIM_NFC},
     "[k, fc layer]: size-matched baseline of the gradient-based partition"},
    {"models/part_curve_w", MS_ROW_MODEL, MS_DT_I32, 2, {MS_DIM_NK, MS_DIM_NU},
     "[k, unit]: weight-based BSGC labels at each curve k" UNITS_DOC},
    {"models/part_curve_g", MS_ROW_MODEL, MS_DT_I32, 2, {MS_DIM_NK, MS_DIM_NU},
     "[k, unit]: gradient-based BSGC labels at each curve k" UNITS_DOC},
    /* dataset = planted: recovery of the planted modules. */
    {"models/planted_ari_w", MS_ROW_MODEL, MS_DT_F64, 0, {0},
     "dataset = planted: adjusted Rand index of the weight-based BSGC labels of fc1's inputs "
     "(part_w) against the planted modules (strips) of the pixels (for a cnn or layout 3x32x32: "
     "of fc1's input positions, ms_planted_input_modules; inputs that read padding only left "
     "out); NaN when fc1 is not a bsgc layer, and for other datasets"},
    {"models/planted_ari_curve_w", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NK},
     "dataset = planted: planted_ari_w at each curve k (part_curve_w)"},
    {"models/planted_ari_hidden_w", MS_ROW_MODEL, MS_DT_F64, 0, {0},
     "dataset = planted: adjusted Rand index of the weight-based BSGC labels of fc1's output "
     "units (part_w's fc1 rows) against their planted modules (the strip of the largest "
     "absolute input weight mass, ms_planted_unit_modules); NaN as planted_ari_w"},
    {"models/planted_ari_hidden_curve_w", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NK},
     "dataset = planted: planted_ari_hidden_w at each curve k (part_curve_w)"},
    /* Partitions at the model's k and their clusterability. */
    {"models/part_w", MS_ROW_MODEL, MS_DT_I32, 1, {MS_DIM_NU},
     "weight-based BSGC labels at the model's k (layers with k > min(O, NI) get -1)" UNITS_DOC},
    {"models/part_g", MS_ROW_MODEL, MS_DT_I32, 1, {MS_DIM_NU},
     "gradient-based BSGC labels at the model's k" UNITS_DOC},
    {"models/cl_train", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NFC},
     "clusterability of each regularised layer's trained weights under the training partition "
     "(NaN elsewhere)"},
    {"models/cl_w", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NFC},
     "clusterability of each bsgc layer under part_w"},
    {"models/cl_g", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NFC},
     "clusterability of each bsgc layer under part_g"},
    /* Cluster ablation (seed 000 section 4a). */
    {"models/ablate_train_on", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NFC, MS_DIM_KMAX, MS_DIM_NC},
     "training partition, only cluster c kept (the other clusters' rows and columns of that "
     "layer zeroed)" ABL_DOC},
    {"models/ablate_train_off", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NFC, MS_DIM_KMAX, MS_DIM_NC},
     "training partition, cluster c removed (its rows and columns of that layer zeroed)" ABL_DOC},
    {"models/ablate_w_on", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NFC, MS_DIM_KMAX, MS_DIM_NC},
     "part_w, only cluster c kept" ABL_DOC},
    {"models/ablate_w_off", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NFC, MS_DIM_KMAX, MS_DIM_NC},
     "part_w, cluster c removed" ABL_DOC},
    {"models/ablate_g_on", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NFC, MS_DIM_KMAX, MS_DIM_NC},
     "part_g, only cluster c kept" ABL_DOC},
    {"models/ablate_g_off", MS_ROW_MODEL, MS_DT_F64, 3, {MS_DIM_NFC, MS_DIM_KMAX, MS_DIM_NC},
     "part_g, cluster c removed" ABL_DOC},
    /* Cluster ablation under the mean and resample kinds ([cluster] ablation,
     * docs/cluster-ablation.md); NaN where the kind was not requested. */
#define ABL_KIND_COLS(kind, what)                                                                  \
    {"models/ablate_train_on_" kind, MS_ROW_MODEL, MS_DT_F64, 3,                                   \
     {MS_DIM_NFC, MS_DIM_KMAX, MS_DIM_NC}, "as ablate_train_on, " what ABL_DOC},                  \
    {"models/ablate_train_off_" kind, MS_ROW_MODEL, MS_DT_F64, 3,                                  \
     {MS_DIM_NFC, MS_DIM_KMAX, MS_DIM_NC}, "as ablate_train_off, " what ABL_DOC},                 \
    {"models/ablate_w_on_" kind, MS_ROW_MODEL, MS_DT_F64, 3,                                       \
     {MS_DIM_NFC, MS_DIM_KMAX, MS_DIM_NC}, "as ablate_w_on, " what ABL_DOC},                      \
    {"models/ablate_w_off_" kind, MS_ROW_MODEL, MS_DT_F64, 3,                                      \
     {MS_DIM_NFC, MS_DIM_KMAX, MS_DIM_NC}, "as ablate_w_off, " what ABL_DOC},                     \
    {"models/ablate_g_on_" kind, MS_ROW_MODEL, MS_DT_F64, 3,                                       \
     {MS_DIM_NFC, MS_DIM_KMAX, MS_DIM_NC}, "as ablate_g_on, " what ABL_DOC},                      \
    {"models/ablate_g_off_" kind, MS_ROW_MODEL, MS_DT_F64, 3,                                      \
     {MS_DIM_NFC, MS_DIM_KMAX, MS_DIM_NC}, "as ablate_g_off, " what ABL_DOC}
    ABL_KIND_COLS("mean", "a removed weight's input replaced by its mean over the reference "
                  "training images ([cluster] ablation = mean)"),
    ABL_KIND_COLS("resample", "a removed weight's input replaced by its value on a seeded "
                  "resampled reference training image ([cluster] ablation = resample)"),
#undef ABL_KIND_COLS
    /* Search-space reduction (seed 000 section 5b). */
    {"models/ssr_train", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_KMAX},
     "search-space reduction of each cluster c of the training partition: the share of all "
     "parameters outside c's path (see docs/clusters.md); NaN beyond k"},
    {"models/ssr_w", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_KMAX},
     "search-space reduction of each cluster of part_w (the chained bsgc layers)"},
    {"models/ssr_g", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_KMAX},
     "search-space reduction of each cluster of part_g"},
    /* Weight-shuffle null of the clusterability curve ([null] shuffles; NaN when 0). */
    {"models/null_cl_w_mean", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NK, MS_DIM_NFC},
     "[k, fc layer]: mean of cl_curve_w over the shuffled networks (each layer's weights "
     "permuted, its multiset kept; BSGC and clusterability as for cl_curve_w)" NULL_DOC},
    {"models/null_cl_w_sd", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NK, MS_DIM_NFC},
     "[k, fc layer]: sample sd (n - 1) of cl_curve_w over the shuffled networks" NULL_DOC},
    {"models/null_cl_w_z", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NK, MS_DIM_NFC},
     "[k, fc layer]: z-score (cl_curve_w - null mean) / null sd (NaN when the sd is 0)" NULL_DOC},
    {"models/null_cl_w_p", MS_ROW_MODEL, MS_DT_F64, 2, {MS_DIM_NK, MS_DIM_NFC},
     "[k, fc layer]: empirical p-value (1 + shuffles with clusterability >= cl_curve_w) / (1 + "
     "shuffles)" NULL_DOC},
    {NULL, 0, 0, 0, {0}, NULL},
};
/* clang-format on */

int ms_cluster_train_write(const ms_cluster_train_t *ct, ms_results_t *res, long m) {
    int64_t steps[MS_MAX_FC] = {0};
    for (int l = 0; l < ct->L->arch.n_fc; l++)
        steps[l] = ct->gs_steps[l];
    int rc = ms_results_write(res, "models/part_train", m, -1, ct->units);
    if (!rc && ct->ng > 0) rc = ms_results_write(res, "models/gradsim", m, -1, ct->gs);
    if (!rc) rc = ms_results_write(res, "models/gradsim_steps", m, -1, steps);
    return rc;
}

/* Whether layer l carries labels on both sides (any >= 0). */
static int layer_labelled(const int32_t *units, const long *in_off, const long *out_off,
                          const ms_layout_t *L, int l) {
    int in = 0, out = 0;
    for (int i = 0; i < L->fc_in[l] && !in; i++)
        in = units[in_off[l] + i] >= 0;
    for (int o = 0; o < L->arch.fc_out[l] && !out; o++)
        out = units[out_off[l] + o] >= 0;
    return in && out;
}

/* The analysis's working state: the model, its layouts and every output row. */
typedef struct an {
    ms_settings_t s;
    ms_layout_t L;
    long nu, ng, nk, kmax, nfc, nc;
    long in_off[MS_MAX_FC], out_off[MS_MAX_FC];
    float *params;
    double *gs;
    int32_t *part_train, *part_w, *part_g, *pc_w, *pc_g; /* (NU), (NU), (NU), (NK, NU) x 2 */
    int32_t *curve_k;
    double *base, *cw, *cg, *cwm, *cgm, *sbw, *sbg; /* curves */
    double *cl_train, *cl_w, *cl_g;                 /* (NFC) */
    double *abl[6];                                 /* (NFC, KMAX, NC) */
    double *abl_kind[2][6];                         /* the same, mean and resample */
    double *ssr[3];                                 /* (KMAX) */
    double *nul[4]; /* (NK, NFC) x 4: null mean, sd, z, p of cl_curve_w */
} an_t;

static const char *const abl_cols[6] = {"models/ablate_train_on", "models/ablate_train_off",
                                        "models/ablate_w_on",     "models/ablate_w_off",
                                        "models/ablate_g_on",     "models/ablate_g_off"};
static const char *const abl_kind_cols[2][6] = {
    {"models/ablate_train_on_mean", "models/ablate_train_off_mean", "models/ablate_w_on_mean",
     "models/ablate_w_off_mean", "models/ablate_g_on_mean", "models/ablate_g_off_mean"},
    {"models/ablate_train_on_resample", "models/ablate_train_off_resample",
     "models/ablate_w_on_resample", "models/ablate_w_off_resample", "models/ablate_g_on_resample",
     "models/ablate_g_off_resample"}};
static const char *const ssr_cols[3] = {"models/ssr_train", "models/ssr_w", "models/ssr_g"};

static const char *const null_cols[4] = {"models/null_cl_w_mean", "models/null_cl_w_sd",
                                         "models/null_cl_w_z", "models/null_cl_w_p"};

/* The null of cl_curve_w from [null] shuffles weight-shuffled networks,
 * summarised for every (k, layer) that has an observed value. */
static int curve_null(an_t *a) {
    const int S = a->s.null_weight_shuffles;
    const long NK = a->nk, NFC = a->nfc;
    double *null = malloc(sizeof(double) * (size_t)S * NK * NFC);
    double *col = malloc(sizeof(double) * (size_t)S);
    if (!null || !col) {
        free(null), free(col);
        return ms_err_set(MS_ENOMEM, "shuffle null: out of memory");
    }
    int rc = ms_null_bsgc(&a->L, a->params, a->s.bsgc_layers, a->s.curve_k, (int)NK,
                          a->s.kmeans_restarts, a->s.seed, S, null);
    for (long e = 0; e < NK * NFC && !rc; e++) {
        if (!isfinite(a->cw[e])) continue;
        for (int t = 0; t < S; t++)
            col[t] = null[(size_t)t * NK * NFC + e];
        ms_null_stats_t st;
        ms_null_stats(a->cw[e], col, S, &st);
        a->nul[0][e] = st.mean, a->nul[1][e] = st.sd, a->nul[2][e] = st.z, a->nul[3][e] = st.p;
    }
    free(null), free(col);
    return rc;
}

static int an_alloc(an_t *a) {
    const long NU = a->nu, NK = a->nk, NFC = a->nfc, T = a->nfc * a->kmax * a->nc;
    size_t nd =
        (size_t)(a->ng > 0 ? a->ng : 1) + NK * (3 + 8 * NFC) + 3 * NFC + 18 * T + 3 * a->kmax;
    size_t ni = (size_t)NU * (3 + 2 * NK) + NK;
    double *d = malloc(sizeof(double) * nd);
    int32_t *i32 = malloc(sizeof(int32_t) * (ni ? ni : 1));
    a->params = malloc(sizeof(float) * a->L.n_params);
    if (!d || !i32 || !a->params) {
        free(d), free(i32);
        return ms_err_set(MS_ENOMEM, "cluster analysis: out of memory");
    }
    for (size_t e = 0; e < nd; e++)
        d[e] = NAN;
    a->gs = d;
    d += a->ng > 0 ? a->ng : 1;
    a->base = d, d += NK;
    a->cwm = d, d += NK;
    a->cgm = d, d += NK;
    a->cw = d, d += NK * NFC;
    a->cg = d, d += NK * NFC;
    a->sbw = d, d += NK * NFC;
    a->sbg = d, d += NK * NFC;
    a->cl_train = d, d += NFC;
    a->cl_w = d, d += NFC;
    a->cl_g = d, d += NFC;
    for (int t = 0; t < 6; t++)
        a->abl[t] = d, d += T;
    for (int t = 0; t < 12; t++)
        a->abl_kind[t / 6][t % 6] = d, d += T;
    for (int t = 0; t < 3; t++)
        a->ssr[t] = d, d += a->kmax;
    for (int t = 0; t < 4; t++)
        a->nul[t] = d, d += NK * NFC;
    a->part_train = i32;
    a->part_w = i32 + NU;
    a->part_g = i32 + 2 * NU;
    a->pc_w = i32 + 3 * NU;
    a->pc_g = a->pc_w + NK * NU;
    a->curve_k = a->pc_g + NK * NU;
    for (size_t e = 0; e < ni; e++)
        i32[e] = -1;
    return 0;
}

static void an_free(an_t *a) {
    free(a->gs);
    free(a->part_train);
    free(a->params);
}

/* Clusterability and size baseline of every labelled layer of a partition. */
static void score_layers(const an_t *a, const int32_t *units, double *cl, double *sizebase) {
    for (int l = 0; l < a->nfc; l++) {
        if (!layer_labelled(units, a->in_off, a->out_off, &a->L, l)) continue;
        const int O = a->L.arch.fc_out[l], NI = a->L.fc_in[l];
        const int32_t *row = units + a->out_off[l], *col = units + a->in_off[l];
        cl[l] = ms_clusterability(a->params + a->L.t[a->L.fc_weight[l]].off, O, NI, row, col);
        if (sizebase) sizebase[l] = ms_part_size_baseline(O, NI, row, col);
    }
}

static double mean_finite(const double *x, long n) {
    double s = 0.0;
    long c = 0;
    for (long i = 0; i < n; i++)
        if (isfinite(x[i])) s += x[i], c++;
    return c ? s / c : NAN;
}

/* BSGC of both bases at k into the given label rows (gradients only when a
 * gradient similarity was recorded). */
static int bsgc_both(an_t *a, int k, int32_t *uw, int32_t *ug) {
    const ms_settings_t *s = &a->s;
    int rc = ms_bsgc_layers(&a->L, a->params, NULL, 0, s->bsgc_layers, k, s->kmeans_restarts,
                            s->seed, MS_BASIS_WEIGHTS, uw, NULL);
    if (!rc && a->ng > 0)
        rc = ms_bsgc_layers(&a->L, a->params, a->gs, s->gradsim_layers, s->bsgc_layers, k,
                            s->kmeans_restarts, s->seed, MS_BASIS_GRADIENTS, ug, NULL);
    return rc;
}

/* Adds the ablations of every labelled layer of a partition with k clusters
 * to the list; the tables go to on/off (NFC, KMAX, NC). */
static int add_ablations(const an_t *a, const int32_t *units, int k, uint32_t layers, double *on,
                         double *off, ms_ablation_t *list, int n) {
    for (int l = 0; l < a->nfc; l++) {
        if (!(layers >> l & 1u) || !layer_labelled(units, a->in_off, a->out_off, &a->L, l))
            continue;
        const size_t at = (size_t)l * a->kmax * a->nc;
        list[n++] = (ms_ablation_t){.layer = l,
                                    .k = k,
                                    .row = units + a->out_off[l],
                                    .col = units + a->in_off[l],
                                    .on = on + at,
                                    .off = off + at};
    }
    return n;
}

static int has_any(const int32_t *u, long n) {
    for (long i = 0; i < n; i++)
        if (u[i] >= 0) return 1;
    return 0;
}

/* dataset = planted: the ARI of fc1's input labels (part_w and each curve
 * k's) against the planted strips, and of fc1's output labels against the
 * hidden units' planted modules; NaN where they cannot be compared. */
static int planted_ari(const ms_ctx_t *ctx, const an_t *a, ms_results_t *res, int m) {
    double ari = NAN, curve[MS_MAX_CURVE_K], hid = NAN, hcurve[MS_MAX_CURVE_K];
    const long nk = a->nk < MS_MAX_CURVE_K ? a->nk : MS_MAX_CURVE_K;
    for (long ki = 0; ki < nk; ki++)
        curve[ki] = hcurve[ki] = NAN;
    int32_t *module = NULL, *unit = NULL;
    int rc = ms_planted_fc1_modules(ctx->g, &a->s, &a->L, &module);
    if (!rc && module && !(unit = malloc(sizeof(int32_t) * (size_t)a->L.arch.fc_out[0])))
        rc = ms_err_set(MS_ENOMEM, "planted recovery: out of memory");
    if (!rc && module)
        rc = ms_planted_unit_modules(&a->L, a->params, module, ctx->g->planted.blocks, 0, unit);
    if (!rc && module) {
        const int P = a->L.fc_in[0], O = a->L.arch.fc_out[0];
        const int32_t *in = a->part_w + a->in_off[0], *out = a->part_w + a->out_off[0];
        if (has_any(in, P)) ari = ms_part_ari(in, module, P);
        if (has_any(out, O)) hid = ms_part_ari(out, unit, O);
        for (long ki = 0; ki < nk; ki++) {
            const int32_t *pc = a->pc_w + ki * a->nu;
            if (has_any(pc + a->in_off[0], P))
                curve[ki] = ms_part_ari(pc + a->in_off[0], module, P);
            if (has_any(pc + a->out_off[0], O))
                hcurve[ki] = ms_part_ari(pc + a->out_off[0], unit, O);
        }
    }
    free(module);
    free(unit);
    if (!rc) rc = ms_results_write(res, "models/planted_ari_w", m, -1, &ari);
    if (!rc && a->nk > 0) rc = ms_results_write(res, "models/planted_ari_curve_w", m, -1, curve);
    if (!rc) rc = ms_results_write(res, "models/planted_ari_hidden_w", m, -1, &hid);
    if (!rc && a->nk > 0)
        rc = ms_results_write(res, "models/planted_ari_hidden_curve_w", m, -1, hcurve);
    return rc;
}

int ms_cluster_analyse(ms_ctx_t *ctx, const ms_task_t *task, char *reason) {
    const int m = task->model;
    an_t a;
    memset(&a, 0, sizeof a);
    a.s = task->s;
    const ms_settings_t *s = &a.s;
    const ms_dims_t *d = ms_results_dims(ctx->res);
    ms_results_t *res = ctx->res;
    int rc = ms_layout_init(&a.L, &s->arch);
    if (rc) goto out;
    a.nu = ms_units_layout(&a.L, a.in_off, a.out_off);
    a.ng = ms_gradsim_layout(&a.L, s->gradsim_layers, NULL);
    a.nk = s->n_curve_k;
    a.kmax = d->KMAX;
    a.nfc = a.L.arch.n_fc;
    a.nc = a.L.arch.fc_out[a.nfc - 1];
    if (a.nu != d->NU || a.ng != d->NG || a.nk != d->NK || s->k > a.kmax) {
        rc = ms_err_set(MS_EFORMAT, "%s: model %d does not fit the file's cluster dimensions",
                        ms_results_path(res), m);
        goto out;
    }
    if ((rc = an_alloc(&a))) goto out;
    rc = ms_stage_load_params(ctx, task, a.params);
    if (!rc) rc = ms_results_read(res, "models/part_train", m, -1, a.part_train);
    if (!rc && a.ng > 0) rc = ms_results_read(res, "models/gradsim", m, -1, a.gs);
    if (rc) goto out;

    /* The clusterability-vs-k curve. */
    for (long ki = 0; ki < a.nk && !rc; ki++) {
        const int k = s->curve_k[ki];
        int32_t *uw = a.pc_w + ki * a.nu, *ug = a.pc_g + ki * a.nu;
        a.curve_k[ki] = k;
        a.base[ki] = 1.0 / k;
        rc = bsgc_both(&a, k, uw, ug);
        score_layers(&a, uw, a.cw + ki * a.nfc, a.sbw + ki * a.nfc);
        score_layers(&a, ug, a.cg + ki * a.nfc, a.sbg + ki * a.nfc);
        a.cwm[ki] = mean_finite(a.cw + ki * a.nfc, a.nfc);
        a.cgm[ki] = mean_finite(a.cg + ki * a.nfc, a.nfc);
    }
    /* The weight-shuffle null of the weight-based curve. */
    if (!rc && s->null_weight_shuffles > 0 && a.nk > 0) rc = curve_null(&a);
    /* The partitions at the model's k. */
    if (!rc) rc = bsgc_both(&a, s->k, a.part_w, a.part_g);
    if (rc) goto out;
    score_layers(&a, a.part_train, a.cl_train, NULL);
    score_layers(&a, a.part_w, a.cl_w, NULL);
    score_layers(&a, a.part_g, a.cl_g, NULL);

    /* Ablation of the three partitions at the model's k. */
    const int32_t *parts[3] = {a.part_train, a.part_w, a.part_g};
    const uint32_t part_layers[3] = {s->reg_layers, s->bsgc_layers, s->bsgc_layers};
    for (int kind = 0; kind < MS_ABL_KINDS && s->ablate; kind++) {
        if (!(s->cluster_kinds >> kind & 1u)) continue;
        double **t = kind == MS_ABL_ZERO ? a.abl : a.abl_kind[kind - 1];
        ms_ablation_t list[3 * MS_MAX_FC];
        int n = 0;
        for (int p = 0; p < 3; p++)
            n = add_ablations(&a, parts[p], s->k, part_layers[p], t[2 * p], t[2 * p + 1], list, n);
        const int batch = 256;
        rc = ms_ablate_kind(&s->arch, a.params, ctx->test, ctx->train, s->cluster_abl_images, kind,
                            s->seed, batch, list, n);
        if (rc) goto out;
    }
    /* Search-space reduction of every cluster. */
    for (int p = 0; p < 3; p++)
        if (has_any(parts[p], a.nu))
            for (int c = 0; c < s->k; c++)
                a.ssr[p][c] = ms_search_space_reduction(&a.L, parts[p], c);

    if (a.nk > 0) {
        rc = ms_results_write(res, "models/cl_curve_k", m, -1, a.curve_k);
        if (!rc) rc = ms_results_write(res, "models/cl_curve_baseline", m, -1, a.base);
        if (!rc) rc = ms_results_write(res, "models/cl_curve_w", m, -1, a.cw);
        if (!rc) rc = ms_results_write(res, "models/cl_curve_g", m, -1, a.cg);
        if (!rc) rc = ms_results_write(res, "models/cl_curve_w_mean", m, -1, a.cwm);
        if (!rc) rc = ms_results_write(res, "models/cl_curve_g_mean", m, -1, a.cgm);
        if (!rc) rc = ms_results_write(res, "models/cl_curve_w_sizebase", m, -1, a.sbw);
        if (!rc) rc = ms_results_write(res, "models/cl_curve_g_sizebase", m, -1, a.sbg);
        if (!rc) rc = ms_results_write(res, "models/part_curve_w", m, -1, a.pc_w);
        if (!rc) rc = ms_results_write(res, "models/part_curve_g", m, -1, a.pc_g);
    }
    if (!rc) rc = planted_ari(ctx, &a, res, m);
    if (!rc) rc = ms_results_write(res, "models/part_w", m, -1, a.part_w);
    if (!rc) rc = ms_results_write(res, "models/part_g", m, -1, a.part_g);
    if (!rc) rc = ms_results_write(res, "models/cl_train", m, -1, a.cl_train);
    if (!rc) rc = ms_results_write(res, "models/cl_w", m, -1, a.cl_w);
    if (!rc) rc = ms_results_write(res, "models/cl_g", m, -1, a.cl_g);
    for (int t = 0; t < 6 && !rc; t++)
        rc = ms_results_write(res, abl_cols[t], m, -1, a.abl[t]);
    for (int t = 0; t < 12 && !rc; t++)
        rc = ms_results_write(res, abl_kind_cols[t / 6][t % 6], m, -1, a.abl_kind[t / 6][t % 6]);
    for (int t = 0; t < 3 && !rc; t++)
        rc = ms_results_write(res, ssr_cols[t], m, -1, a.ssr[t]);
    for (int t = 0; t < 4 && !rc && a.nk > 0; t++)
        rc = ms_results_write(res, null_cols[t], m, -1, a.nul[t]);
    if (!rc && ctx->verbose) {
        ms_message("model %d: clusterability of the trained partition %.4f; BSGC at k = %d: "
                   "weights %.4f, gradients %.4f",
                   m, mean_finite(a.cl_train, a.nfc), s->k, mean_finite(a.cl_w, a.nfc),
                   mean_finite(a.cl_g, a.nfc));
    }
out:
    if (rc) snprintf(reason, MS_REASON_MAX, "%s", ms_err_msg());
    an_free(&a);
    return rc;
}
