/* The cluster analysis of a trained model (the analyse stage's part from
 * docs/design.md section 2) and the training results of the clusterability
 * regulariser, with their columns in the results file (ms_cluster_cols).
 *
 * Per model it stores: the training partition and the gradient-similarity
 * sums (written by the train stage); the clusterability-vs-k curve of the
 * bsgc layers for weight-based and gradient-based BSGC with the 1/k and the
 * size-matched baselines; the BSGC partitions at every curve k and at the
 * model's k; the clusterability of the trained weights under each
 * partition; the ON/OFF cluster ablation tables of the training partition
 * and of the BSGC partitions at the model's k; and the search-space
 * reduction of every cluster. Columns whose size depends on k are padded to
 * KMAX (the grid's largest k) with NaN; labels of units in no cluster are -1.
 * `modsweep --schema` lists every column. */
#ifndef MODSWEEP_ANALYSE_H
#define MODSWEEP_ANALYSE_H

#include "modsweep/cluster.h"
#include "modsweep/results.h"
#include "modsweep/stages.h"

/* Writes the training partition and gradient similarity of model m after
 * training (columns models/part_train, models/gradsim, models/gradsim_steps). */
int ms_cluster_train_write(const ms_cluster_train_t *ct, ms_results_t *res, long m);

/* The cluster analysis of the trained model of an analyse task: reads its
 * parameters, training partition and gradient similarity from the results
 * file and writes the curves, partitions, ablations and search-space
 * reductions. */
int ms_cluster_analyse(ms_ctx_t *ctx, const ms_task_t *task, char *reason);

#endif
