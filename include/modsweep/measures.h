/* The modularity measures of seeds 002, 003 and 004 as a per-model analysis
 * (the [measures] section of a grid file) and their results columns.
 *
 * For each model the analyse stage evaluates, on the first `samples` test
 * images, every measure the grid switches on, for the trained model
 * (variant 0) and, with `untrained = true`, for its untrained
 * initialisation (variant 1: ms_params_init with the model's seed, the
 * null model): so every measures column has the variant as its first
 * trailing dimension (NV).
 *
 *  - information (infotheory.h): for every pair (i < j) of info_layers, the
 *    entropies of their binned outputs (before ReLU, as the seed's hooks on
 *    nn.Linear see them), and for unitset_draws random unit sets P the
 *    seed's four measures and three comparisons;
 *  - ablation (infotheory.h): of ablate_layer's ReLU output, every neuron and
 *    `directions` random unit directions, and the direction of largest KL
 *    found from the best neuron and maxkl_starts random starts;
 *  - associations (assoc.h, modularity.h): for every hidden layer of
 *    assoc_layers, the eight associations, their modularity-maximising
 *    clusterings, and the alignment of every pair of them;
 *  - Hebbian strengths (hebbian.h) of every conv layer.
 *
 * Dynamic sparse training (hebbian.h) runs in the train stage; its results
 * are written by ms_measures_write_sparse.
 *
 * Random draws: unit sets from MS_RNG_UNITSETS (seed, sub = draw *
 * MS_MAX_FC + fc layer), directions from MS_RNG_DIRECTIONS (sub = direction
 * j; the max-KL starts sub = 2^30 + start), Monte-Carlo moves from
 * MS_RNG_MODULARITY and shuffles from MS_RNG_NULL keyed by the variant,
 * layer and methods, so the trained and untrained variants see the same
 * unit sets and directions. */
#ifndef MODSWEEP_MEASURES_H
#define MODSWEEP_MEASURES_H

#include "modsweep/config.h"
#include "modsweep/hebbian.h"
#include "modsweep/results.h"
#include "modsweep/stages.h"

/* Fills the measures' sizes of d (NV, NIP, ...) for settings s. */
void ms_measures_dims(ms_dims_t *d, const ms_settings_t *s);

/* Whether settings s switch on any analysis of this module. */
int ms_measures_any(const ms_settings_t *s);

/* The analyse-stage part of this module for the model of an analyse task:
 * computes and writes every measure switched on (nothing when none is). */
int ms_measures_analyse(ms_ctx_t *ctx, const ms_task_t *task, char *reason);

/* Writes the results of dynamic sparse training of model m (sp may be NULL:
 * nothing to write). */
int ms_measures_write_sparse(ms_ctx_t *ctx, int m, const ms_sparse_t *sp);

#endif
