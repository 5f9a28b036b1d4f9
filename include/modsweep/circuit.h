/* Judging circuits (masks of kept fc weights) on held-out images under three
 * ablation kinds, and the cheap approximate circuit methods scored against
 * the exact greedy circuit of prune.h.
 *
 * Setting. A label's circuit is found on a find set F of NF images of the
 * label (prune.h) and judged on a held-out set H disjoint from F. Only fc
 * weights are in a mask (1 = kept, fc1 first, row-major, as in prune.h);
 * conv layers and biases are never removed. Evaluation is in double from the
 * fc1 input features, which the float CPU forward pass (nn.h) computes once
 * per image (they do not depend on the fc weights).
 *
 * Ablation kinds: what a removed weight w[o][i] of fc layer l contributes to
 * the pre-activation of output o for an image x (a kept weight contributes
 * w[o][i] * h_l(x)[i], h_l(x) being the input of layer l in the masked model):
 *  - zero: nothing (the weight is 0; the pruning's own semantics);
 *  - mean: w[o][i] * mean over the find set of a_l(f)[i], where a_l(f) is the
 *    input of layer l in the FULL (unmasked) model on find image f;
 *  - resample: w[o][i] * a_l(r)[i], the full model's input of layer l on find
 *    image r, drawn once per (judged image, layer): r = ms_rng_below(NF) of
 *    the stream (seed, MS_RNG_RESAMPLE, sub = id * MS_MAX_FC + l) read from
 *    its start, where id is the judged image's identifier (its index in its
 *    split), so every removed weight of one layer of one image reads the same
 *    other image, and the draw depends only on (seed, id, l).
 *
 * Approximate methods (scores per fc weight; a mask keeps, per layer, the
 * given number of highest scores, ties broken by the lower weight index):
 *  - magnitude: |w|;
 *  - attribution: |w * dL/dw| on the find set, L = mean CE toward the label
 *    (the pruning's loss): the linear estimate of the loss change from
 *    zeroing w (edge attribution patching);
 *  - ig: |w * mean_{k=1..n} dL/dw evaluated with every fc weight scaled by
 *    alpha_k = k/n| (integrated gradients along the straight path from the
 *    all-fc-weights-zero model to the trained one, n steps, right Riemann
 *    sum; EAP-IG). Biases and conv weights are not scaled.
 *
 * Scores of a mask:
 *  - Jaccard overlap with the exact mask per fc layer: |A and B| / |A or B|
 *    over the layer's weights (1 when both keep nothing);
 *  - held-out faithfulness under ablation kind k:
 *      F = (CE_empty - CE_circuit) / (CE_empty - CE_full)
 *    with CE the mean cross-entropy toward the label over the held-out
 *    images of the label, CE_full that of the full model, CE_empty that of
 *    the model with every weight of the pruned layers removed (same kind).
 *    1 = the circuit recovers the full model's loss, 0 = no better than the
 *    empty circuit; NaN when CE_empty = CE_full or no held-out image exists.
 *
 * Dimension letters: N images judged, NF find images, NI/O fc inputs/outputs,
 * NC classes, NW fc weights. */
#ifndef MODSWEEP_CIRCUIT_H
#define MODSWEEP_CIRCUIT_H

#include <stdint.h>

#include "modsweep/nn.h"

typedef enum ms_ablation_kind {
    MS_ABL_ZERO = 0,
    MS_ABL_MEAN = 1,
    MS_ABL_RESAMPLE = 2,
    MS_ABL_KINDS = 3
} ms_ablation_kind_t;

typedef enum ms_circuit_method {
    MS_CM_MAGNITUDE = 0,
    MS_CM_ATTRIBUTION = 1,
    MS_CM_IG = 2,
    MS_CM_METHODS = 3
} ms_circuit_method_t;

/* Most circuit sizes (fractions) of one assessment. */
#define MS_CIRCUIT_MAX_SIZES 16

/* Names as written in grid files and results ("zero", "magnitude", ...). */
const char *ms_ablation_kind_name(int kind);
const char *ms_circuit_method_name(int method);

/* The fc1 input features (N, NI0) of N images x in double, from the float
 * CPU forward pass in batches. */
int ms_circuit_features(const ms_layout_t *L, const float *params, const float *x, int N,
                        double *h0);

/* The full model's fc-layer inputs on the find set, for mean and resample. */
typedef struct ms_circuit_ref {
    int NF;
    uint64_t seed;
    double *act[MS_MAX_FC];  /* (NF, NI_l): input of fc layer l in the full model */
    double *mean[MS_MAX_FC]; /* (NI_l): its mean over the find set */
    /* act[l] in blocks of 8 find images, (ceil(NF / 8), NI_l, 8): image
     * 8 * rb + j's input i at act_t[l][(rb * NI_l + i) * 8 + j], 0 past NF
     * (resample's constant part, one image per vector lane). */
    double *act_t[MS_MAX_FC];
} ms_circuit_ref_t;

/* h0_find: the find set's features (NF, NI0). */
int ms_circuit_ref_init(ms_circuit_ref_t *ref, const ms_layout_t *L, const float *params,
                        const double *h0_find, int NF, uint64_t seed);
void ms_circuit_ref_free(ms_circuit_ref_t *ref);

/* The find image resample reads for judged image `id` at fc layer l. */
int ms_circuit_resample_source(uint64_t seed, long id, int l, int NF);

/* What judging a masked model on an image set gives. */
typedef struct ms_circuit_eval {
    int class_n[MS_MAX_CLASSES];      /* judged images of each class */
    double class_acc[MS_MAX_CLASSES]; /* accuracy of each class (NaN: no image) */
    double label_acc;                 /* class_acc[label] */
    double label_ce;                  /* mean CE toward label over the label's images (NaN: none) */
} ms_circuit_eval_t;

/* Judges the model (params, fc weights outside mask removed under `kind`;
 * mask NULL: the full model) on N images given as features h0 (N, NI0) or,
 * when h0 is NULL, as images of x (features computed in batches): image n is
 * x[sel[n]] (sel NULL: x[n]), of class y[sel[n]] (y[n]). ids: identifiers
 * for resample, ids[n] for judged image n (NULL: sel[n], or n). ref may be
 * NULL for kind zero. */
int ms_circuit_judge(const ms_layout_t *L, const float *params, const uint8_t *mask, int kind,
                     const ms_circuit_ref_t *ref, const float *x, const int32_t *sel,
                     const double *h0, const uint8_t *y, const int32_t *ids, int N, int label,
                     ms_circuit_eval_t *out);

/* The most masks ms_circuit_judge_many judges at once. */
#define MS_CIRCUIT_MAX_JUDGE 8

/* ms_circuit_judge for np masks at once (masks[q] under kinds[q] into
 * outs[q]), on the same images: each batch's features are computed once. */
int ms_circuit_judge_many(const ms_layout_t *L, const float *params, int np,
                          const uint8_t *const *masks, const int *kinds,
                          const ms_circuit_ref_t *ref, const float *x, const int32_t *sel,
                          const double *h0, const uint8_t *y, const int32_t *ids, int N, int label,
                          ms_circuit_eval_t *outs);

/* Test hook: non-zero makes ms_circuit_judge run its one-image-at-a-time
 * reference pass instead of the pass over blocks of images (same bits). */
extern int ms__circuit_judge_scalar;

/* Test hooks: non-zero makes ms_circuit_grad run its one-image-at-a-time
 * reference pass (grad_scalar), and ms_circuit_ref_init's hidden layers and
 * resample's masked-model constant part be computed one find image at a
 * time (plan_scalar), instead of over blocks of images (same bits). */
extern int ms__circuit_grad_scalar;
extern int ms__circuit_plan_scalar;

/* dL/dw (NW doubles, mask order) with every fc weight scaled by alpha (biases
 * and conv as they are), L = mean CE toward label over the N images h0. */
int ms_circuit_grad(const ms_layout_t *L, const float *params, double alpha, const double *h0,
                    int N, int label, double *grad);

/* Scores (NW) of an approximate method on the find set h0_find (NF, NI0). */
int ms_circuit_scores(const ms_layout_t *L, const float *params, int method, int ig_steps,
                      const double *h0_find, int NF, int label, double *score);

/* Mask keeping kept[l] weights of each fc layer l: the highest scores, ties
 * to the lower index. */
int ms_circuit_select(const ms_layout_t *L, const double *score, const long *kept, uint8_t *mask);

/* Jaccard overlap per fc layer of masks a and b (jac: n_fc). */
void ms_circuit_jaccard(const ms_layout_t *L, const uint8_t *a, const uint8_t *b, double *jac);

/* (ce_empty - ce) / (ce_empty - ce_full); NaN when undefined. */
double ms_circuit_faithfulness(double ce, double ce_full, double ce_empty);

/* Per-layer kept counts of a size: round(fraction * weights) of every layer
 * in `layers`, all weights of the others. */
void ms_circuit_size_counts(const ms_layout_t *L, uint32_t layers, double fraction, long *kept);

/* The find and held-out sets of a label. find_train = 0: the find set is
 * the first `samples` (0 = all) test images of the label and the held-out set
 * every other test image; find_train = 1: the find set is the first
 * `samples` training images of the label and the held-out set every test
 * image. find (n_train or n_test entries) receives indices into the split
 * the find set comes from, held (n_test) indices into the test split, both
 * ascending; *NF and *NH their counts. */
void ms_circuit_sets(const uint8_t *y_test, int n_test, const uint8_t *y_train, int n_train,
                     int label, int find_train, int samples, int32_t *find, int *NF, int32_t *held,
                     int *NH);

/* One (model, label) assessment: the exact circuit judged on find and
 * held-out sets under each requested kind, and each requested method's mask
 * at the exact circuit's per-layer counts (and at the requested sizes). */
typedef struct ms_circuit_cfg {
    int label;
    uint32_t layers;  /* fc layers the exact pruning pruned (the others are kept whole) */
    uint32_t kinds;   /* ablation kinds judged (bit k = ms_ablation_kind_t k) */
    uint32_t methods; /* approximate methods run (bit m = ms_circuit_method_t m) */
    int ig_steps;     /* integrated-gradients steps (>= 1) */
    uint64_t seed;    /* resample draws */
    int n_sizes;
    double sizes[MS_CIRCUIT_MAX_SIZES]; /* kept fraction of each pruned layer */
    /* The reference images of mean and resample ablation, as features
     * (ref_n, NI0); NULL: the find set (h0_find). */
    const double *ref_h0;
    int ref_n;
} ms_circuit_cfg_t;

/* Results; NaN (or 0 counts) where a kind or method was not requested. */
typedef struct ms_circuit_report {
    int heldout_n, heldout_label_n, find_n;
    ms_circuit_eval_t full_heldout;                /* the full model on H */
    double full_find_ce, full_find_acc;            /* the full model on F (label) */
    ms_circuit_eval_t exact_heldout[MS_ABL_KINDS]; /* the exact circuit on H */
    double exact_find_ce[MS_ABL_KINDS], exact_find_acc[MS_ABL_KINDS];
    double empty_heldout_ce[MS_ABL_KINDS], empty_find_ce[MS_ABL_KINDS];
    double exact_faith[MS_ABL_KINDS], exact_find_faith[MS_ABL_KINDS];
    uint8_t *method_mask[MS_CM_METHODS]; /* caller's NW bytes each, or NULL */
    double jaccard[MS_CM_METHODS][MS_MAX_FC];
    double method_ce[MS_CM_METHODS][MS_ABL_KINDS];  /* held-out label CE */
    double method_acc[MS_CM_METHODS][MS_ABL_KINDS]; /* held-out label accuracy */
    double method_faith[MS_CM_METHODS][MS_ABL_KINDS];
    double method_seconds[MS_CM_METHODS];  /* scores and selection */
    double size_ecs[MS_CIRCUIT_MAX_SIZES]; /* kept share of all fc weights */
    double size_faith[MS_CM_METHODS][MS_CIRCUIT_MAX_SIZES][MS_ABL_KINDS];
    double seconds; /* the whole assessment */
} ms_circuit_report_t;

/* find: features (NF, NI0) of the find images (all of the label). The N
 * held-out images are x[held[n]] of class y[held[n]] (x, y: a whole split),
 * held[n] also being their resample identifier. exact: the exact greedy
 * mask. */
int ms_circuit_assess(const ms_layout_t *L, const float *params, const uint8_t *exact,
                      const ms_circuit_cfg_t *cfg, const double *h0_find, int NF, const float *x,
                      const uint8_t *y, const int32_t *held, int N, ms_circuit_report_t *rep);

#endif
