/* The circuit columns of the prune stage: the exact circuit judged on its
 * find set and on held-out images under each ablation kind of the grid, and
 * the approximate methods scored against it (circuit.h, docs/circuits.md).
 * The second dimension of the per-kind columns is ms_ablation_kind_t (zero,
 * mean, resample), that of the per-method columns ms_circuit_method_t
 * (magnitude, attribution, ig); kinds and methods the grid does not list stay
 * NaN (masks: 0). */
#include "modsweep/circuit.h"
#include "modsweep/error.h"
#include "modsweep/log.h"
#include "modsweep/results.h"
#include "modsweep/stages.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define K3 MS_ABL_KINDS
#define M3 MS_CM_METHODS
#define SZ MS_CIRCUIT_MAX_SIZES

/* clang-format off */
const ms_col_t ms_circuit_cols[] = {
    {"labels/heldout_n", MS_ROW_LABEL, MS_DT_I32, 0, {0},
     "held-out images of the label (test images not in the find set)"},
    {"labels/full_find_ce", MS_ROW_LABEL, MS_DT_F64, 0, {0},
     "full model: mean CE toward the label on the find set"},
    {"labels/full_heldout_ce", MS_ROW_LABEL, MS_DT_F64, 0, {0},
     "full model: mean CE toward the label on its held-out images"},
    {"labels/full_heldout_classwise_acc", MS_ROW_LABEL, MS_DT_F64, 1, {MS_DIM_NC},
     "full model: accuracy of each class on the held-out images"},
    {"labels/find_ce", MS_ROW_LABEL, MS_DT_F64, 1, {K3},
     "exact circuit: mean CE toward the label on the find set, per ablation kind"},
    {"labels/find_acc", MS_ROW_LABEL, MS_DT_F64, 1, {K3},
     "exact circuit: label accuracy on the find set, per ablation kind"},
    {"labels/find_faith", MS_ROW_LABEL, MS_DT_F64, 1, {K3},
     "exact circuit: faithfulness on the find set, per ablation kind"},
    {"labels/heldout_ce", MS_ROW_LABEL, MS_DT_F64, 1, {K3},
     "exact circuit: mean CE toward the label on its held-out images, per ablation kind"},
    {"labels/heldout_classwise_acc", MS_ROW_LABEL, MS_DT_F64, 2, {K3, MS_DIM_NC},
     "exact circuit: accuracy of each class on the held-out images (the label's: faithfulness; "
     "the others': specificity), per ablation kind"},
    {"labels/heldout_faith", MS_ROW_LABEL, MS_DT_F64, 1, {K3},
     "exact circuit: held-out faithfulness (CE_empty - CE) / (CE_empty - CE_full), per kind"},
    {"labels/empty_heldout_ce", MS_ROW_LABEL, MS_DT_F64, 1, {K3},
     "empty circuit (every pruned-layer weight removed): held-out label CE, per kind"},
    {"labels/method_mask", MS_ROW_LABEL, MS_DT_U8, 2, {M3, MS_DIM_NW},
     "approximate circuit of each method at the exact circuit's per-layer kept counts"},
    {"labels/method_jaccard", MS_ROW_LABEL, MS_DT_F64, 2, {M3, MS_DIM_NFC},
     "Jaccard overlap of each method's mask with the exact mask, per fc layer"},
    {"labels/method_ce", MS_ROW_LABEL, MS_DT_F64, 2, {M3, K3},
     "each method's circuit: held-out label CE, per ablation kind"},
    {"labels/method_acc", MS_ROW_LABEL, MS_DT_F64, 2, {M3, K3},
     "each method's circuit: held-out label accuracy, per ablation kind"},
    {"labels/method_faith", MS_ROW_LABEL, MS_DT_F64, 2, {M3, K3},
     "each method's circuit: held-out faithfulness, per ablation kind"},
    {"labels/method_time", MS_ROW_LABEL, MS_DT_F64, 1, {M3},
     "wall seconds of each method (scores and selection)"},
    {"labels/size_ecs", MS_ROW_LABEL, MS_DT_F64, 1, {SZ},
     "share of all fc weights kept at each [prune] sizes entry (NaN past the list)"},
    {"labels/size_faith", MS_ROW_LABEL, MS_DT_F64, 3, {M3, SZ, K3},
     "each method's held-out faithfulness at each size, per ablation kind"},
    {"labels/circuit_time", MS_ROW_LABEL, MS_DT_F64, 0, {0},
     "wall seconds of the whole circuit assessment"},
    {NULL, 0, 0, 0, {0}, NULL},
};
/* clang-format on */

int ms__circuit_label(ms_ctx_t *ctx, const ms_task_t *task, const ms_layout_t *L,
                      const float *params, const uint8_t *mask, const float *xfind, int NF,
                      const int32_t *held, int NH) {
    const ms_settings_t *s = &task->s;
    const int m = task->model, li = task->label_index, label = task->label;
    int32_t heldout_n = 0;
    for (int n = 0; n < NH; n++)
        heldout_n += ctx->test->y[held[n]] == label;
    int rc = ms_results_write(ctx->res, "labels/heldout_n", m, li, &heldout_n);
    if (rc || !s->prune_kinds) return rc;
    const size_t NW = L->n_fc_weights, NI0 = (size_t)L->fc_in[0];
    ms_circuit_cfg_t cfg = {.label = label,
                            .layers = s->prune_layers,
                            .kinds = s->prune_kinds,
                            .methods = s->prune_methods,
                            .ig_steps = s->prune_ig_steps,
                            .seed = s->seed,
                            .n_sizes = s->prune_n_sizes};
    for (int i = 0; i < s->prune_n_sizes; i++)
        cfg.sizes[i] = s->prune_sizes[i];
    /* ablation_ref = train: the first ref_images training images of every
     * label give mean and resample ablation their inputs. */
    const int use_ref = s->prune_ref_train &&
                        (s->prune_kinds & ((1u << MS_ABL_MEAN) | (1u << MS_ABL_RESAMPLE)));
    if (use_ref && (!ctx->train || ctx->train->n < 1))
        return ms_err_set(MS_EINVAL, "circuits of model %d label %d: ablation_ref = train, but no "
                          "training images are loaded", m, label);
    const int NR = !use_ref                               ? 0
                   : s->prune_ref_images < ctx->train->n ? s->prune_ref_images
                                                          : ctx->train->n;
    ms_circuit_report_t *rep = calloc(1, sizeof *rep);
    uint8_t *masks = calloc(M3 * NW, 1);
    double *h0 = malloc(sizeof(double) * NI0 * (size_t)NF);
    double *hr = use_ref ? malloc(sizeof(double) * NI0 * (size_t)NR) : NULL;
    if (!rep || !masks || !h0 || (use_ref && !hr)) {
        rc = ms_err_set(MS_ENOMEM, "circuits of model %d label %d: out of memory", m, label);
        goto done;
    }
    for (int k = 0; k < M3; k++)
        rep->method_mask[k] = masks + k * NW;
    if ((rc = ms_circuit_features(L, params, xfind, NF, h0))) goto done;
    if (use_ref) {
        if ((rc = ms_circuit_features(L, params, ctx->train->x, NR, hr))) goto done;
        cfg.ref_h0 = hr;
        cfg.ref_n = NR;
    }
    if ((rc = ms_circuit_assess(L, params, mask, &cfg, h0, NF, ctx->test->x, ctx->test->y, held, NH,
                                rep)))
        goto done;
    double ce[K3], acc[K3], cls[K3][MS_MAX_CLASSES], ceh[K3];
    for (int k = 0; k < K3; k++) {
        ce[k] = rep->exact_find_ce[k];
        acc[k] = rep->exact_find_acc[k];
        ceh[k] = rep->exact_heldout[k].label_ce;
        for (int c = 0; c < MS_MAX_CLASSES; c++)
            cls[k][c] = rep->exact_heldout[k].class_acc[c];
    }
    const int NFC = L->arch.n_fc;
    double jac[M3 * MS_MAX_FC];
    for (int k = 0; k < M3; k++)
        for (int l = 0; l < NFC; l++)
            jac[k * NFC + l] = rep->jaccard[k][l];
    ms_results_t *r = ctx->res;
    rc = ms_results_write(r, "labels/full_find_ce", m, li, &rep->full_find_ce);
    if (!rc) rc = ms_results_write(r, "labels/full_heldout_ce", m, li, &rep->full_heldout.label_ce);
    if (!rc)
        rc = ms_results_write(r, "labels/full_heldout_classwise_acc", m, li,
                              rep->full_heldout.class_acc);
    if (!rc) rc = ms_results_write(r, "labels/find_ce", m, li, ce);
    if (!rc) rc = ms_results_write(r, "labels/find_acc", m, li, acc);
    if (!rc) rc = ms_results_write(r, "labels/find_faith", m, li, rep->exact_find_faith);
    if (!rc) rc = ms_results_write(r, "labels/heldout_ce", m, li, ceh);
    if (!rc) rc = ms_results_write(r, "labels/heldout_classwise_acc", m, li, cls);
    if (!rc) rc = ms_results_write(r, "labels/heldout_faith", m, li, rep->exact_faith);
    if (!rc) rc = ms_results_write(r, "labels/empty_heldout_ce", m, li, rep->empty_heldout_ce);
    if (!rc) rc = ms_results_write(r, "labels/method_mask", m, li, masks);
    if (!rc) rc = ms_results_write(r, "labels/method_jaccard", m, li, jac);
    if (!rc) rc = ms_results_write(r, "labels/method_ce", m, li, rep->method_ce);
    if (!rc) rc = ms_results_write(r, "labels/method_acc", m, li, rep->method_acc);
    if (!rc) rc = ms_results_write(r, "labels/method_faith", m, li, rep->method_faith);
    if (!rc) rc = ms_results_write(r, "labels/method_time", m, li, rep->method_seconds);
    if (!rc) rc = ms_results_write(r, "labels/size_ecs", m, li, rep->size_ecs);
    if (!rc) rc = ms_results_write(r, "labels/size_faith", m, li, rep->size_faith);
    if (!rc) rc = ms_results_write(r, "labels/circuit_time", m, li, &rep->seconds);
    if (!rc && ctx->verbose) {
        const int k0 = __builtin_ctz(s->prune_kinds);
        ms_message("model %d label %d: held-out faithfulness (%s) %.4f, find %.4f, %.2f s", m,
                   label, ms_ablation_kind_name(k0), rep->exact_faith[k0],
                   rep->exact_find_faith[k0], rep->seconds);
    }
done:
    free(rep);
    free(masks);
    free(h0);
    free(hr);
    return rc;
}
