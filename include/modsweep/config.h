/* The grid file: an INI file (libinih) describing a sweep.
 *
 * A grid is fixed settings plus swept axes. Each model is one combination of
 * the axes' values (seed, lambda, k, lr, l1, l2, dropout, in that nesting
 * order, seed outermost); labels form the per-model prune tasks. Lists and
 * ranges are written `0, 5, 20`, `0..9` (inclusive) or `2..14:2` (step);
 * `labels = all`. Every key, its type, default, meaning and the field below
 * it fills are in the key table, src/sweep/config_keys.def, which also gives
 * the documentation
 * (`modsweep --keys`). Unknown sections or keys, malformed or out-of-range
 * values and impossible combinations are errors carrying file:line, found
 * before any work starts and before any output exists. */
#ifndef MODSWEEP_CONFIG_H
#define MODSWEEP_CONFIG_H

#include <stdint.h>
#include <stdio.h>

#include "modsweep/circuit.h"
#include "modsweep/data.h"
#include "modsweep/nn.h"

#define MS_MAX_AXIS_VALUES 256
#define MS_MAX_MODELS 1000000 /* most models (combinations of the axes) of one grid */
#define MS_MAX_CURVE_K 16
#define MS_NAME_MAX 64
#define MS_PATH_MAX 1024

typedef enum ms_optimizer { MS_OPT_SGD = 0, MS_OPT_ADAM = 1 } ms_optimizer_t;
typedef enum ms_partition { MS_PART_BLOCKS = 0, MS_PART_SPECTRAL = 1 } ms_partition_t;
typedef enum ms_device { MS_DEV_CPU = 0, MS_DEV_CUDA = 1, MS_DEV_AUTO = 2 } ms_device_t;

/* The [measures] section: the modularity measures of seeds 002, 003 and 004
 * (measures.h). Every measure is off by default. */
typedef struct ms_meas_cfg {
    int untrained;          /* also analyse the untrained initialisation of each model */
    int samples;            /* test images the measures use (0 = all) */
    uint32_t info_layers;   /* fc layers whose binned activations are compared (seed 002) */
    int info_bins;          /* equal-width bins of the activation histograms */
    int unitset_size;       /* units per layer of a random unit set P */
    int unitset_draws;      /* random unit sets drawn */
    int ablate_layer;       /* fc layer (0-based) of neuron/direction ablation, or -1 */
    int directions;         /* random directions projected out */
    int maxkl_starts;       /* random starts of the max-KL direction search (plus the best neuron) */
    int maxkl_iters;        /* most ascent iterations per start */
    uint32_t assoc_layers;  /* hidden fc layers of the unit associations (seed 003) */
    int assoc_store;        /* keep the association matrices in the results file */
    int mc_steps;           /* Monte-Carlo moves of the modularity refinement */
    float mc_entropy;       /* target mean entropy (nats) of the Monte-Carlo move distribution */
    int null_shuffles;      /* shuffles of the alignment score's null */
    int hebbian;            /* per-connection Hebbian strengths of the conv layers (seed 004) */
    int sparse_every;       /* dynamic sparse training of the conv layers every n steps (0 = off) */
    int sparse_k1, sparse_k2; /* connections kept / active per kernel slice */
} ms_meas_cfg_t;

/* The swept axes, in nesting order (outermost first). */
typedef enum ms_axis {
    MS_AXIS_SEED = 0,
    MS_AXIS_LAMBDA,
    MS_AXIS_K,
    MS_AXIS_LR,
    MS_AXIS_L1,
    MS_AXIS_L2,
    MS_AXIS_DROPOUT,
    MS_N_AXES
} ms_axis_t;

/* Name of an axis as it appears in results ("seed", "lambda", ...). */
const char *ms_axis_name(int axis);

/* Everything one model is trained and analysed with. Layer sets are bit
 * masks over fc layers: bit l is fc(l+1). */
typedef struct ms_settings {
    /* [data] */
    ms_data_cfg_t data;
    /* [model] */
    ms_arch_t arch;
    int arch_is_cnn;
    /* [train] */
    uint64_t seed;
    int optimizer; /* ms_optimizer_t */
    float lr, momentum, beta1, beta2, eps;
    float l1, l2; /* penalties on weights (not biases): + l1 sum|w| + l2 sum w^2 */
    int epochs, batch;
    /* [cluster] */
    float lambda;             /* clusterability regulariser weight */
    int k;                    /* clusters of the regulariser's partition */
    uint32_t reg_layers;      /* fc layers carrying the regulariser */
    int partition;            /* ms_partition_t */
    int warmup_epochs;        /* spectral: plain epochs before BSGC fixes the partition */
    uint32_t gradsim_layers;  /* fc layers whose gradient similarity is accumulated */
    uint32_t bsgc_layers;     /* fc layers chained in the BSGC analysis */
    int n_curve_k;
    int curve_k[MS_MAX_CURVE_K]; /* k values of the clusterability-vs-k curve */
    int kmeans_restarts;
    int ablate;               /* run cluster ablation */
    uint32_t cluster_kinds;   /* its ablation kinds (bit = ms_ablation_kind_t) */
    int cluster_abl_images;   /* training images of mean/resample (0 = all) */
    /* [prune] */
    uint32_t prune_layers;    /* fc layers pruned (default all) */
    int prune_samples;        /* images of the label used (0 = all of the find split) */
    int prune_window;         /* speculative window length (0 = automatic) */
    int prune_naive;          /* use the naive reference (tests) */
    int prune_find_train;     /* circuits found on training images (else test images) */
    int prune_ref_train;      /* mean/resample reference: the first prune_ref_images training images (else the find set) */
    int prune_ref_images;
    uint32_t prune_kinds;     /* ablation kinds judged (bit = ms_ablation_kind_t) */
    uint32_t prune_methods;   /* approximate methods (bit = ms_circuit_method_t) */
    int prune_ig_steps;       /* integrated-gradients steps */
    int prune_n_sizes;
    double prune_sizes[MS_CIRCUIT_MAX_SIZES]; /* kept shares judged for every method */
    /* [measures] */
    ms_meas_cfg_t meas;
    /* [null] */
    int null_weight_shuffles; /* weight-shuffle null networks per model (0 = off) */
} ms_settings_t;

/* A parsed, validated grid file. */
typedef struct ms_grid {
    char path[MS_PATH_MAX];
    char *text;               /* the file's bytes, NUL-terminated */
    ms_settings_t base;       /* settings with every axis at its first value */
    int n_values[MS_N_AXES];  /* >= 1 */
    double values[MS_N_AXES][MS_MAX_AXIS_VALUES];  /* what training uses: the real axes
                                                      (lambda, lr, l1, l2, dropout) rounded
                                                      to float */
    double written[MS_N_AXES][MS_MAX_AXIS_VALUES]; /* the same values as written in the grid
                                                      (parsed as double): the results file's
                                                      settings columns */
    int n_models;             /* product of n_values */
    int n_labels;
    int labels[MS_MAX_CLASSES];
    /* [sweep] */
    char name[MS_NAME_MAX];
    char output[MS_PATH_MAX]; /* results file */
    int retries;              /* attempts after a failure */
    int team;                 /* ranks pruning one label together */
    int threads;              /* threads per rank (0 = cores on the node / ranks on the node) */
    int device;               /* ms_device_t */
    int store_weights;        /* keep trained weights in the results file */
    char *resolved;           /* canonical "section.key = value" text of every setting */
    char chosen[512];         /* defaults chosen for this architecture (keys the grid does
                                 not write, adapted to the layer sizes), "" when none was
                                 changed; --dry-run prints it */
    uint64_t hash;            /* FNV-1a of resolved (every setting) */
    uint64_t results_hash;    /* FNV-1a of resolved without the keys that do not change results
                                 ([sweep] name, output, retries, team, threads): a resumed
                                 sweep must match it */
    char device_note[256];    /* set: device = auto computes on the CPU, and this says why
                                 (a setting the GPU lacks, gpu_support.h) */
    struct {                  /* dataset = planted ([data] planted_*): blocks 0 otherwise */
        int blocks, sub, task; /* task: ms_planted_task_t (planted.h) */
        int n_train, n_test;
        uint64_t seed;
    } planted;
} ms_grid_t;

/* Parses and validates path. On error returns MS_ECONFIG (or MS_EIO) with a
 * message "path:line: fault" and leaves g empty. */
int ms_grid_load(ms_grid_t *g, const char *path);

/* Same, from text in memory; `name` stands for the file in messages. */
int ms_grid_parse(ms_grid_t *g, const char *name, const char *text);

void ms_grid_free(ms_grid_t *g);

/* The axis indices of model m (0 <= m < n_models). */
void ms_grid_model_index(const ms_grid_t *g, int m, int idx[MS_N_AXES]);

/* The full settings of model m. */
void ms_grid_model_settings(const ms_grid_t *g, int m, ms_settings_t *out);

/* The axis values of model m as written in the grid (parsed as double, not
 * rounded to float): what the results file's settings columns hold. */
void ms_grid_model_written(const ms_grid_t *g, int m, double out[MS_N_AXES]);

/* The line of g's text that sets section.key (read with the grid reader),
 * or 0 when the grid does not set it. */
int ms_grid_key_line(const ms_grid_t *g, const char *section, const char *key);

/* The range of an integer key (lo..hi), for command-line options that
 * override it; MS_EINVAL when there is no such integer key. */
int ms_grid_key_range(const char *section, const char *key, long *lo, long *hi);

/* The dry-run plan's rough estimate of the seconds one rank trains one model
 * of g on n_train images (all epochs). */
double ms_grid_train_estimate(const ms_grid_t *g, long n_train);

/* Writes the tasks of the grid and an estimate of the work (--dry-run). */
void ms_grid_print_plan(const ms_grid_t *g, FILE *f);

/* Writes documentation of every key (section, key, type, default, meaning). */
void ms_grid_print_keys(FILE *f);

/* Parses a layer name "fc2" into its fc index (1), or -1. */
int ms_fc_layer_index(const char *name);

#endif
