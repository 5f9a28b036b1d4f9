/* The grid file: parsing, validation, documentation and the dry-run plan of
 * a sweep (see include/modsweep/config.h and DESIGN.md sections 3 and 5).
 *
 * One static table of keys (key_table below) drives everything: which keys
 * exist, their types, defaults, ranges and meanings; the canonical
 * `resolved` text; and `modsweep --keys`. A grid is read in three passes:
 *
 *   1. libinih splits the text into (section, key, value) triples. A line
 *      reader of ours (read_line) hands inih one line at a time, so the
 *      handler always knows the line it is looking at, and it rejects what
 *      inih would otherwise accept silently: over-long lines (inih splits
 *      them), values continued on indented lines (inih glues them), text
 *      after a section header, lines that are neither key, header nor
 *      comment, and unknown sections. Leading whitespace is stripped before
 *      inih sees a line, so an indented key is simply a key.
 *   2. Every key's text (or its default text from the table) is parsed into
 *      numbers, a choice, a string or a set of fc layers and checked against
 *      its own range (parse_key).
 *   3. Cross-key rules (defaults that depend on other keys, the network's
 *      shapes, k against layer sizes, ...) run in the resolve_* functions;
 *      then the grid, its resolved text and its hash are filled in.
 *
 * Every error is recorded once, as "file:line: message", with the line of
 * the key at fault; parsing stops at the first one. Nothing is allocated
 * but the working context (one calloc), the file's text and the resolved
 * text, so every error path frees exactly those.
 *
 * Vocabulary: M models (combinations of the axes), L labels (prune tasks per
 * model), O / I output / input width of an fc layer. */
#include "modsweep/config.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#include "modsweep/error.h"
#include "modsweep/gpu_support.h"

/* Longest value text kept per key. inih's line buffer (ini_max_line, 200 in
 * Debian's build) is shorter, and read_line refuses longer lines. */
#define RAW_MAX 256
/* Largest grid file read (a grid is a few dozen lines). */
#define MAX_FILE_BYTES (1 << 20)
/* Most models one grid may describe. */
#define MAX_MODELS MS_MAX_MODELS
/* Largest seed: seeds travel as doubles in ms_grid_t.values, exact up to 2^53. */
#define MAX_SEED 9007199254740991.0
/* Largest conv channel count or fc width. */
#define MAX_WIDTH 65536
/* Largest parameter count of one model (indices into its buffer stay in int32). */
#define MAX_PARAMS 2147483647.0
/* Longest name that gets a "did you mean" suggestion. */
#define SUGGEST_MAX 64

/* Sizes of the datasets' splits, used only by the dry-run estimate. */
#define MNIST_TRAIN_N 60000
#define CIFAR_TRAIN_N 50000
#define TEST_N 10000

/* The dry-run's time estimate assumes this many useful GFLOP/s per CPU rank
 * (about two cores running OpenBLAS sgemm on small layers). It is a rough
 * order of magnitude, printed next to every figure that depends on it. */
#define PLAN_GFLOPS_PER_RANK 20.0
/* The dry-run lists at most this many models one per line. */
#define PLAN_MAX_ROWS 1000

/* ---- the key table ------------------------------------------------------ */

typedef enum section_id {
    S_SWEEP,
    S_DATA,
    S_MODEL,
    S_TRAIN,
    S_CLUSTER,
    S_PRUNE,
    S_MEASURES,
    S_NULL,
    N_SECTIONS
} section_id_t;

/* NULL-terminated, so nearest() can search it. */
static const char *const section_names[N_SECTIONS + 1] = {
    "sweep", "data", "model", "train", "cluster", "prune", "measures", "null", NULL};

/* How a key's text is read. T_INT and T_FLOAT keys with F_SWEEP take a list
 * (the axis' values); every other scalar type takes exactly one value. */
typedef enum key_type {
    T_STR,    /* text as written (one pair of surrounding quotes removed) */
    T_ENUM,   /* one of key_def_t.choices, case-insensitive */
    T_BOOL,   /* true/false/yes/no/1/0 */
    T_INT,    /* an integer (written 4, +4 or 4e0; 4.5 is an error) */
    T_FLOAT,  /* a finite number, stored as float */
    T_INTS,   /* list of integers and ranges, or none */
    T_FLOATS, /* list of numbers */
    T_LAYERS, /* fc layer names fc1..fcN, all, or none */
    T_LABELS, /* class labels: all, or a list of integers and ranges */
} key_type_t;

static const char *const type_names[] = {"string",   "choice",     "bool",      "integer", "float",
                                         "int list", "float list", "fc layers", "labels"};

/* Flags of key_def_t. */
#define F_LO_OPEN 1u  /* values must be > lo (else >= lo) */
#define F_HI_OPEN 2u  /* values must be < hi (else <= hi) */
#define F_NONE_OK 4u  /* the list may be empty: written `none` or left empty */
#define F_UNIQUE 8u   /* a value may appear only once */
#define F_FLOAT32 16u /* numbers are stored as float: checked after rounding */
#define F_SWEEP 32u   /* sweepable: a list becomes the axis key_def_t.axis */
#define F_RUN 64u     /* how the sweep runs, not what it computes: left out of results_hash */

typedef struct key_def {
    int section; /* section_id_t */
    const char *name;
    const char *alias;          /* another accepted name, or NULL */
    int type;                   /* key_type_t */
    int axis;                   /* F_SWEEP keys: their ms_axis_t */
    const char *def;            /* default, parsed like a written value; NULL: computed */
    const char *def_doc;        /* the default as documented (when computed) */
    double lo, hi;              /* allowed range of every number */
    unsigned flags;             /* F_* */
    int max_n;                  /* most values of a list or axis (0: a scalar, 1) */
    const char *const *choices; /* T_ENUM: names in the C enum's order, NULL-terminated */
    const char *doc;            /* one line: what the key means */
} key_def_t;

/* Keys, in table order (the order of `resolved` and of --keys). */
/* clang-format off */
enum key_id {
    /* [sweep] */
    K_NAME, K_OUTPUT, K_RETRIES, K_TEAM, K_THREADS, K_DEVICE, K_STORE_WEIGHTS,
    /* [data] */
    K_DATASET, K_DIR, K_MNIST_DIR, K_CIFAR_DIR, K_LAYOUT, K_NORMALIZE, K_MEAN, K_STD, K_TRAIN_LIMIT, K_TEST_LIMIT,
    K_PL_BLOCKS, K_PL_SUB, K_PL_TASK, K_PL_TRAIN, K_PL_TEST, K_PL_SEED, /* dataset = planted */
    /* [model] */
    K_ARCH, K_CONV, K_KERNEL, K_PADDING, K_CONV_BIAS, K_HIDDEN, K_BIAS, K_DROPOUT,
    /* [train] */
    K_SEED, K_OPTIMIZER, K_LR, K_MOMENTUM, K_BETA1, K_BETA2, K_EPS, K_L1, K_L2, K_EPOCHS, K_BATCH,
    /* [cluster] */
    K_LAMBDA, K_K, K_REG_LAYERS, K_PARTITION, K_WARMUP, K_GRADSIM, K_BSGC, K_CURVE_K, K_RESTARTS,
    K_ABLATE,
    /* [prune] */
    K_LABELS, K_PRUNE_LAYERS, K_SAMPLES, K_WINDOW, K_METHOD,
    K_FIND_SET, K_ABLATION, K_METHODS, K_IG_STEPS, K_SIZES, /* circuits (circuit.h) */
    /* [measures] */
    K_M_UNTRAINED, K_M_SAMPLES, K_INFO_LAYERS, K_INFO_BINS, K_UNITSET_SIZE, K_UNITSET_DRAWS,
    K_ABLATE_LAYER, K_DIRECTIONS, K_MAXKL_STARTS, K_MAXKL_ITERS, K_ASSOC_LAYERS, K_ASSOC_STORE,
    K_MC_STEPS, K_MC_ENTROPY, K_NULL_SHUFFLES, K_HEBBIAN, K_SPARSE_EVERY, K_SPARSE_K1, K_SPARSE_K2,
    /* [null] */
    K_SHUFFLES,
    N_KEYS
};
/* clang-format on */

/* Choices, in the order of the C enums they map to. */
static const char *const device_choices[] = {"cpu", "cuda", "auto", NULL}; /* ms_device_t */
static const char *const dataset_choices[] = {"mnist", "fashion-mnist", "cifar10", "planted",
                                              NULL}; /* ms_dataset_kind_t, then planted */
/* dataset = planted: generated IDX files read as mnist (planted.h). */
#define DATASET_PLANTED 3
static const char *const planted_task_choices[] = {"bars", "pairs", NULL}; /* ms_planted_task_t */
static const char *const layout_choices[] = {"native", "3x32x32", NULL}; /* ms_layout_kind_t */
/* normalize: index 0 is `default`; index i > 0 is ms_norm_t i - 1. */
static const char *const norm_choices[] = {"default", "none", "unit", "meanstd", NULL};
static const char *const arch_choices[] = {"mlp", "cnn", NULL};              /* arch_is_cnn */
static const char *const optimizer_choices[] = {"sgd", "adam", NULL};        /* ms_optimizer_t */
static const char *const partition_choices[] = {"blocks", "spectral", NULL}; /* ms_partition_t */
static const char *const method_choices[] = {"fast", "naive", NULL};         /* prune_naive */
static const char *const find_set_choices[] = {"test", "train", NULL};       /* prune_find_train */

#define NORM_DEFAULT 0

#define INF HUGE_VAL

static const key_def_t key_table[N_KEYS] = {
    /* [sweep] */
    [K_NAME] = {.section = S_SWEEP,
                .name = "name",
                .type = T_STR,
                .flags = F_RUN,
                .def_doc = "the grid file's name without .ini",
                .doc = "Name of the sweep, used in logs and for the default output file (letters, "
                       "digits, '.', '_', '-', '+'; at most 63)."},
    [K_OUTPUT] = {.section = S_SWEEP,
                  .name = "output",
                  .type = T_STR,
                  .flags = F_RUN,
                  .def_doc = "<name>.h5",
                  .doc = "Results file (HDF5); a relative path is relative to the directory "
                         "modsweep is started in."},
    [K_RETRIES] =
        {.section = S_SWEEP,
         .name = "retries",
         .type = T_INT,
         .flags = F_RUN,
         .def = "2",
         .lo = 0,
         .hi = 100,
         .doc = "Further attempts at a task that failed before it is marked failed for good."},
    [K_TEAM] = {.section = S_SWEEP,
                .name = "team",
                .type = T_INT,
                .flags = F_RUN,
                .def = "1",
                .lo = 1,
                .hi = 1024,
                .doc = "Ranks that prune one label together, splitting each speculative window."},
    [K_THREADS] = {.section = S_SWEEP,
                   .name = "threads",
                   .type = T_INT,
                   .flags = F_RUN,
                   .def = "0",
                   .lo = 0,
                   .hi = 4096,
                   .doc = "Worker threads per rank; 0 = automatic (the node's cores divided by the "
                          "ranks on the node)."},
    [K_DEVICE] = {.section = S_SWEEP,
                  .name = "device",
                  .type = T_ENUM,
                  .def = "cpu",
                  .choices = device_choices,
                  .doc = "Where ranks compute: cpu, cuda (each rank binds GPU (node-local rank) "
                         "mod (GPUs of the node), so several ranks may share one; an error when a "
                         "rank has none or the build has no CUDA) or auto (cuda when every rank "
                         "has a usable GPU, else cpu on every rank)."},
    [K_STORE_WEIGHTS] = {.section = S_SWEEP,
                         .name = "store_weights",
                         .type = T_BOOL,
                         .def = "true",
                         .doc = "Keep every trained model's weights in the results file."},
    /* [data] */
    [K_DATASET] = {.section = S_DATA,
                   .name = "dataset",
                   .type = T_ENUM,
                   .def = "fashion-mnist",
                   .choices = dataset_choices,
                   .doc = "Dataset: mnist or fashion-mnist (IDX files, 1x28x28) or cifar10 (binary "
                          "batches, 3x32x32); always 10 classes."},
    [K_DIR] = {.section = S_DATA,
               .name = "dir",
               .type = T_STR,
               .def_doc =
                   "/usr/share/datasets/fashion-mnist for fashion-mnist; required for the others",
               .doc = "Folder holding the dataset's files (for any dataset; overrides the "
                      "dataset's own folder key)."},
    [K_MNIST_DIR] = {.section = S_DATA,
                     .name = "mnist_dir",
                     .type = T_STR,
                     .def_doc = "none",
                     .doc = "Folder of MNIST's IDX files, used when dataset = mnist and dir is "
                            "not given (ignored for the other datasets), so a grid file can "
                            "switch datasets with the dataset key alone."},
    [K_CIFAR_DIR] = {.section = S_DATA,
                     .name = "cifar10_dir",
                     .type = T_STR,
                     .def_doc = "none",
                     .doc = "Folder of CIFAR-10's binary batches, used when dataset = cifar10 "
                            "and dir is not given (ignored for the other datasets)."},
    [K_LAYOUT] = {.section = S_DATA,
                  .name = "layout",
                  .type = T_ENUM,
                  .def = "native",
                  .choices = layout_choices,
                  .doc =
                      "native: images as stored; 3x32x32: 28x28 images zero-padded by 2 and copied "
                      "to 3 channels (mnist, fashion-mnist), the paper CNN's input shape; cifar10 "
                      "images already are 3x32x32 (native)."},
    [K_NORMALIZE] = {.section = S_DATA,
                     .name = "normalize",
                     .type = T_ENUM,
                     .def = "default",
                     .choices = norm_choices,
                     .doc = "Pixel scaling: none (raw 0..255), unit (x/255), meanstd ((x/255 - "
                            "mean)/std per channel); default = meanstd 0.1307/0.3081 for mnist and "
                            "fashion-mnist, unit for cifar10."},
    [K_MEAN] = {.section = S_DATA,
                .name = "mean",
                .type = T_FLOATS,
                .def_doc = "0.1307 for mnist and fashion-mnist; required for cifar10 with meanstd",
                .lo = -INF,
                .hi = INF,
                .flags = F_FLOAT32,
                .max_n = 3,
                .doc = "Mean subtracted by normalize = meanstd: one value for every channel, or "
                       "one per input channel."},
    [K_STD] = {.section = S_DATA,
               .name = "std",
               .type = T_FLOATS,
               .def_doc = "0.3081 for mnist and fashion-mnist; required for cifar10 with meanstd",
               .lo = 0,
               .hi = INF,
               .flags = F_LO_OPEN | F_FLOAT32,
               .max_n = 3,
               .doc = "Standard deviation divided by normalize = meanstd (> 0): one value, or one "
                      "per input channel."},
    [K_TRAIN_LIMIT] = {.section = S_DATA,
                       .name = "train_limit",
                       .type = T_INT,
                       .def = "0",
                       .lo = 0,
                       .hi = 100000000,
                       .doc = "Train on the first n training images only (0 = all)."},
    [K_TEST_LIMIT] = {.section = S_DATA,
                      .name = "test_limit",
                      .type = T_INT,
                      .def = "0",
                      .lo = 0,
                      .hi = 100000000,
                      .doc = "Evaluate and prune with the first n test images only (0 = all)."},
    [K_PL_BLOCKS] = {.section = S_DATA,
                     .name = "planted_blocks",
                     .type = T_INT,
                     .def = "2",
                     .lo = 1,
                     .hi = 9,
                     .doc = "dataset = planted: vertical strips of the 28x28 image, each one "
                            "planted module of input pixels (planted_sub^planted_blocks <= 10)."},
    [K_PL_SUB] = {.section = S_DATA,
                  .name = "planted_sub",
                  .type = T_INT,
                  .def = "3",
                  .lo = 2,
                  .hi = 10,
                  .doc = "dataset = planted: sub-labels per strip; label = sum_b s_b sub^b."},
    [K_PL_TASK] = {.section = S_DATA,
                   .name = "planted_task",
                   .type = T_ENUM,
                   .def = "pairs",
                   .choices = planted_task_choices,
                   .doc = "dataset = planted: bars (a strip's sub-label is the row band of its "
                          "bar: linearly readable) or pairs (two bars per strip, sub-label = "
                          "(upper + lower position) mod sub: needs hidden units)."},
    [K_PL_TRAIN] = {.section = S_DATA,
                    .name = "planted_train",
                    .type = T_INT,
                    .def = "6000",
                    .lo = 10,
                    .hi = 1000000,
                    .doc = "dataset = planted: training images generated."},
    [K_PL_TEST] = {.section = S_DATA,
                   .name = "planted_test",
                   .type = T_INT,
                   .def = "1000",
                   .lo = 10,
                   .hi = 1000000,
                   .doc = "dataset = planted: test images generated."},
    [K_PL_SEED] = {.section = S_DATA,
                   .name = "planted_seed",
                   .type = T_INT,
                   .def = "1",
                   .lo = 0,
                   .hi = 1000000000,
                   .doc = "dataset = planted: seed of the images (training seed, test seed + 1)."},
    /* [model] */
    [K_ARCH] = {.section = S_MODEL,
                .name = "arch",
                .type = T_ENUM,
                .def = "cnn",
                .choices = arch_choices,
                .doc = "mlp: fc layers only; cnn: conv blocks (conv k x k, ReLU, maxpool 2x2) then "
                       "fc layers. The last fc layer gives the 10 logits."},
    [K_CONV] = {.section = S_MODEL,
                .name = "conv",
                .type = T_INTS,
                .def_doc = "16 for cnn; none for mlp",
                .lo = 1,
                .hi = MAX_WIDTH,
                .flags = F_NONE_OK,
                .max_n = MS_MAX_CONV,
                .doc = "Output channels of each conv block (cnn only; an mlp takes none)."},
    [K_KERNEL] = {.section = S_MODEL,
                  .name = "kernel",
                  .type = T_INT,
                  .def = "3",
                  .lo = 1,
                  .hi = 15,
                  .doc = "Side of the square conv kernels (cnn only)."},
    [K_PADDING] = {.section = S_MODEL,
                   .name = "padding",
                   .type = T_INT,
                   .def = "1",
                   .lo = 0,
                   .hi = 15,
                   .doc = "Zero padding on each side of every conv input (cnn only)."},
    [K_CONV_BIAS] = {.section = S_MODEL,
                     .name = "conv_bias",
                     .type = T_BOOL,
                     .def = "true",
                     .doc = "Conv layers carry a bias (cnn only)."},
    [K_HIDDEN] = {.section = S_MODEL,
                  .name = "hidden",
                  .type = T_INTS,
                  .def_doc = "64, 64, 64 for cnn; 128, 128 for mlp",
                  .lo = 1,
                  .hi = MAX_WIDTH,
                  .flags = F_NONE_OK,
                  .max_n = MS_MAX_FC - 1,
                  .doc = "Widths of the hidden fc layers; the output layer (10 classes) follows "
                         "them. Layers are named fc1.., fc1 first."},
    [K_BIAS] = {.section = S_MODEL,
                .name = "bias",
                .type = T_BOOL,
                .def = "false",
                .doc = "fc layers carry a bias."},
    [K_DROPOUT] = {.section = S_MODEL,
                   .name = "dropout",
                   .type = T_FLOAT,
                   .axis = MS_AXIS_DROPOUT,
                   .def = "0",
                   .lo = 0,
                   .hi = 1,
                   .flags = F_SWEEP | F_HI_OPEN | F_FLOAT32 | F_UNIQUE,
                   .max_n = MS_MAX_AXIS_VALUES,
                   .doc = "Dropout probability after each hidden fc ReLU (0 = none)."},
    /* [train] */
    [K_SEED] = {.section = S_TRAIN,
                .name = "seed",
                .alias = "seeds",
                .type = T_INT,
                .axis = MS_AXIS_SEED,
                .def = "0",
                .lo = 0,
                .hi = MAX_SEED,
                .flags = F_SWEEP | F_UNIQUE,
                .max_n = MS_MAX_AXIS_VALUES,
                .doc = "Seed of the initial weights, the shuffles and dropout (also spelt seeds)."},
    [K_OPTIMIZER] = {.section = S_TRAIN,
                     .name = "optimizer",
                     .type = T_ENUM,
                     .def = "adam",
                     .choices = optimizer_choices,
                     .doc = "Optimiser with PyTorch's semantics: adam or sgd."},
    [K_LR] = {.section = S_TRAIN,
              .name = "lr",
              .type = T_FLOAT,
              .axis = MS_AXIS_LR,
              .def = "1e-3",
              .lo = 0,
              .hi = INF,
              .flags = F_SWEEP | F_LO_OPEN | F_FLOAT32 | F_UNIQUE,
              .max_n = MS_MAX_AXIS_VALUES,
              .doc = "Learning rate (> 0)."},
    [K_MOMENTUM] = {.section = S_TRAIN,
                    .name = "momentum",
                    .type = T_FLOAT,
                    .def = "0",
                    .lo = 0,
                    .hi = 1,
                    .flags = F_HI_OPEN | F_FLOAT32,
                    .doc = "Momentum of sgd (sgd only)."},
    [K_BETA1] = {.section = S_TRAIN,
                 .name = "beta1",
                 .type = T_FLOAT,
                 .def = "0.9",
                 .lo = 0,
                 .hi = 1,
                 .flags = F_HI_OPEN | F_FLOAT32,
                 .doc = "Adam's first-moment decay (adam only)."},
    [K_BETA2] = {.section = S_TRAIN,
                 .name = "beta2",
                 .type = T_FLOAT,
                 .def = "0.999",
                 .lo = 0,
                 .hi = 1,
                 .flags = F_HI_OPEN | F_FLOAT32,
                 .doc = "Adam's second-moment decay (adam only)."},
    [K_EPS] = {.section = S_TRAIN,
               .name = "eps",
               .type = T_FLOAT,
               .def = "1e-8",
               .lo = 0,
               .hi = INF,
               .flags = F_LO_OPEN | F_FLOAT32,
               .doc = "Adam's epsilon (adam only)."},
    [K_L1] = {.section = S_TRAIN,
              .name = "l1",
              .type = T_FLOAT,
              .axis = MS_AXIS_L1,
              .def = "0",
              .lo = 0,
              .hi = INF,
              .flags = F_SWEEP | F_FLOAT32 | F_UNIQUE,
              .max_n = MS_MAX_AXIS_VALUES,
              .doc = "L1 penalty on weights (not biases): loss + l1 * sum |w|."},
    [K_L2] = {.section = S_TRAIN,
              .name = "l2",
              .type = T_FLOAT,
              .axis = MS_AXIS_L2,
              .def = "0",
              .lo = 0,
              .hi = INF,
              .flags = F_SWEEP | F_FLOAT32 | F_UNIQUE,
              .max_n = MS_MAX_AXIS_VALUES,
              .doc = "L2 penalty on weights (not biases): loss + l2 * sum w^2."},
    [K_EPOCHS] = {.section = S_TRAIN,
                  .name = "epochs",
                  .type = T_INT,
                  .def = "1",
                  .lo = 1,
                  .hi = 10000,
                  .doc = "Passes over the training images."},
    [K_BATCH] = {.section = S_TRAIN,
                 .name = "batch",
                 .type = T_INT,
                 .def = "64",
                 .lo = 1,
                 .hi = 65536,
                 .doc = "Images per optimiser step."},
    /* [cluster] */
    [K_LAMBDA] = {.section = S_CLUSTER,
                  .name = "lambda",
                  .type = T_FLOAT,
                  .axis = MS_AXIS_LAMBDA,
                  .def = "0",
                  .lo = 0,
                  .hi = INF,
                  .flags = F_SWEEP | F_FLOAT32 | F_UNIQUE,
                  .max_n = MS_MAX_AXIS_VALUES,
                  .doc = "Weight of the clusterability regulariser: loss = CE - lambda * sum of "
                         "the layers' clusterability (0 = off)."},
    [K_K] = {.section = S_CLUSTER,
             .name = "k",
             .type = T_INT,
             .axis = MS_AXIS_K,
             .def = "4",
             .lo = 2,
             .hi = 1024,
             .flags = F_SWEEP | F_UNIQUE,
             .max_n = MS_MAX_AXIS_VALUES,
             .doc = "Clusters of the regulariser's partition; at most min(O, I) of every "
                    "regularised layer."},
    [K_REG_LAYERS] = {.section = S_CLUSTER,
                      .name = "layers",
                      .type = T_LAYERS,
                      .def = "fc2",
                      .flags = F_NONE_OK,
                      .doc = "fc layers carrying the regulariser (none = no regulariser)."},
    [K_PARTITION] =
        {.section = S_CLUSTER,
         .name = "partition",
         .type = T_ENUM,
         .def = "blocks",
         .choices = partition_choices,
         .doc = "The regulariser's partition: blocks (k contiguous blocks, the last takes the "
                "remainder) or spectral (BSGC of |W| after warmup_epochs plain epochs)."},
    [K_WARMUP] = {.section = S_CLUSTER,
                  .name = "warmup_epochs",
                  .type = T_INT,
                  .def = "1",
                  .lo = 0,
                  .hi = 10000,
                  .doc = "Plain epochs before BSGC fixes the partition (spectral only; less than "
                         "epochs when lambda > 0)."},
    [K_GRADSIM] = {.section = S_CLUSTER,
                   .name = "gradsim_layers",
                   .type = T_LAYERS,
                   .def = "fc2, fc3",
                   .flags = F_NONE_OK,
                   .doc = "fc layers whose gradient similarity (the sum of the normalised "
                          "per-step gradient's g^T g, fan-in x fan-in) is accumulated during "
                          "training; each must be square (fan-in = fan-out), since its BSGC "
                          "clusters are applied to the weight matrix (the default keeps only "
                          "layers that exist and are square)."},
    [K_BSGC] =
        {.section = S_CLUSTER,
         .name = "bsgc_layers",
         .type = T_LAYERS,
         .def = "fc2, fc3",
         .flags = F_NONE_OK,
         .doc = "fc layers clustered by BSGC in the analysis, chained: where fc(l+1) follows "
                "fc(l), its input clusters are fc(l)'s output clusters (the default keeps only "
                "layers that exist)."},
    [K_CURVE_K] = {.section = S_CLUSTER,
                   .name = "curve_k",
                   .type = T_INTS,
                   .def = "2..14:2",
                   .lo = 2,
                   .hi = 1024,
                   .flags = F_NONE_OK | F_UNIQUE,
                   .max_n = MS_MAX_CURVE_K,
                   .doc = "k values of the clusterability-vs-k curve; each at most min(O, I) of "
                          "every bsgc layer."},
    [K_RESTARTS] = {.section = S_CLUSTER,
                    .name = "kmeans_restarts",
                    .type = T_INT,
                    .def = "10",
                    .lo = 1,
                    .hi = 1000,
                    .doc = "Seeded k-means++ restarts of each BSGC clustering (the best is kept)."},
    [K_ABLATE] =
        {.section = S_CLUSTER,
         .name = "ablate",
         .type = T_BOOL,
         .def = "true",
         .doc =
             "Run the cluster ablation (class-wise accuracy with each cluster kept or removed)."},
    /* [prune] */
    [K_LABELS] = {.section = S_PRUNE,
                  .name = "labels",
                  .type = T_LABELS,
                  .def = "all",
                  .lo = 0,
                  .hi = MS_MAX_CLASSES - 1,
                  .flags = F_UNIQUE,
                  .max_n = MS_MAX_CLASSES,
                  .doc =
                      "Labels pruned, one task per model and label: all (0..9) or a list/range."},
    [K_PRUNE_LAYERS] = {.section = S_PRUNE,
                        .name = "layers",
                        .type = T_LAYERS,
                        .def = "all",
                        .doc = "fc layers pruned, visited from the last to the first."},
    [K_SAMPLES] = {.section = S_PRUNE,
                   .name = "samples",
                   .type = T_INT,
                   .def = "0",
                   .lo = 0,
                   .hi = 1000000,
                   .doc = "Images of the label the circuit is found on, from the split find_set "
                          "names (0 = all of them; else the first n)."},
    [K_WINDOW] = {.section = S_PRUNE,
                  .name = "window",
                  .type = T_INT,
                  .def = "0",
                  .lo = 0,
                  .hi = 65536,
                  .doc = "Speculative window length of the fast pruner (0 = automatic)."},
    [K_METHOD] = {.section = S_PRUNE,
                  .name = "method",
                  .type = T_ENUM,
                  .def = "fast",
                  .choices = method_choices,
                  .doc = "fast (speculative windows, exact) or naive (the reference: two forward "
                         "passes per weight)."},
    [K_FIND_SET] = {.section = S_PRUNE,
                    .name = "find_set",
                    .type = T_ENUM,
                    .def = "test",
                    .choices = find_set_choices,
                    .doc = "Images the circuit is found on: test (the label's first `samples` "
                           "test images; the other test images are held out) or train (the "
                           "label's first `samples` training images; every test image is held "
                           "out). See docs/circuits.md."},
    [K_ABLATION] = {.section = S_PRUNE,
                    .name = "ablation",
                    .type = T_STR,
                    .def = "zero",
                    .doc = "Ablation kinds the circuit is judged under on the held-out images: a "
                           "list of zero, mean, resample, or none (no judging)."},
    [K_METHODS] = {.section = S_PRUNE,
                   .name = "methods",
                   .type = T_STR,
                   .def = "none",
                   .doc = "Approximate circuit methods scored against the exact circuit: a list of "
                          "magnitude, attribution, ig, or none."},
    [K_IG_STEPS] = {.section = S_PRUNE,
                    .name = "ig_steps",
                    .type = T_INT,
                    .def = "8",
                    .lo = 1,
                    .hi = 1000,
                    .doc = "Integrated-gradients steps of the ig method (alpha = k/n, k = 1..n)."},
    [K_SIZES] = {.section = S_PRUNE,
                 .name = "sizes",
                 .type = T_FLOATS,
                 .def = "none",
                 .lo = 0,
                 .hi = 1,
                 .flags = F_NONE_OK | F_LO_OPEN | F_UNIQUE,
                 .max_n = MS_CIRCUIT_MAX_SIZES,
                 .doc = "Circuit sizes (kept share of each pruned layer) at which every method's "
                        "mask is also judged, for the faithfulness-against-size curves."},
    /* [measures] */
    [K_M_UNTRAINED] = {.section = S_MEASURES,
                       .name = "untrained",
                       .type = T_BOOL,
                       .def = "false",
                       .doc = "Also analyse each model's untrained initialisation (the null model: "
                              "the same seed's initial weights), stored beside the trained model "
                              "as variant 1 of every measures column."},
    [K_M_SAMPLES] = {.section = S_MEASURES,
                     .name = "samples",
                     .type = T_INT,
                     .def = "0",
                     .lo = 0,
                     .hi = 100000000,
                     .doc = "Test images the measures use: the first n (0 = all of the test "
                            "split)."},
    [K_INFO_LAYERS] = {.section = S_MEASURES,
                       .name = "info_layers",
                       .type = T_LAYERS,
                       .def = "none",
                       .flags = F_NONE_OK,
                       .doc = "fc layers (at least two) whose binned outputs are compared pairwise "
                              "by entropy, conditional entropy, mutual information and joint "
                              "entropy, with the module comparisons of random unit sets (seed "
                              "002: fc1, fc2, fc3)."},
    [K_INFO_BINS] = {.section = S_MEASURES,
                     .name = "info_bins",
                     .type = T_INT,
                     .def = "10",
                     .lo = 2,
                     .hi = 4096,
                     .doc = "Equal-width bins between the minimum and maximum of a layer's "
                            "activations."},
    [K_UNITSET_SIZE] = {.section = S_MEASURES,
                        .name = "unitset_size",
                        .type = T_INT,
                        .def = "10",
                        .lo = 1,
                        .hi = MAX_WIDTH,
                        .doc = "Units of each info layer in a random unit set P (all units of a "
                               "narrower layer); less than the width of every info layer but the "
                               "last."},
    [K_UNITSET_DRAWS] = {.section = S_MEASURES,
                         .name = "unitset_draws",
                         .type = T_INT,
                         .def = "10",
                         .lo = 1,
                         .hi = 100000,
                         .doc = "Random unit sets P drawn (seeded by the model's seed)."},
    [K_ABLATE_LAYER] = {.section = S_MEASURES,
                        .name = "ablate_layer",
                        .type = T_LAYERS,
                        .def = "none",
                        .flags = F_NONE_OK,
                        .doc = "One fc layer whose neurons and random directions are projected "
                               "out of its (ReLU) output, with the change of output entropy, the "
                               "KL divergence to the unablated output, and the direction of "
                               "largest KL (none = off)."},
    [K_DIRECTIONS] = {.section = S_MEASURES,
                      .name = "directions",
                      .type = T_INT,
                      .def_doc = "the width of ablate_layer",
                      .lo = 0,
                      .hi = 1000000,
                      .doc = "Random unit directions projected out of ablate_layer."},
    [K_MAXKL_STARTS] = {.section = S_MEASURES,
                        .name = "maxkl_starts",
                        .type = T_INT,
                        .def = "4",
                        .lo = 0,
                        .hi = 1000,
                        .doc = "Random starts of the search for the direction of largest KL "
                               "divergence; the best single neuron is always one more start."},
    [K_MAXKL_ITERS] = {.section = S_MEASURES,
                       .name = "maxkl_iters",
                       .type = T_INT,
                       .def = "300",
                       .lo = 1,
                       .hi = 1000000,
                       .doc = "Most projected-gradient ascent iterations per start."},
    [K_ASSOC_LAYERS] = {.section = S_MEASURES,
                        .name = "assoc_layers",
                        .type = T_LAYERS,
                        .def = "none",
                        .flags = F_NONE_OK,
                        .doc = "Hidden fc layers of an mlp whose unit associations (forward_cov, "
                               "forward_jac, backward_jac, backward_hess, each raw and _norm) "
                               "are clustered by Newman's modularity and aligned (seed 003)."},
    [K_ASSOC_STORE] = {.section = S_MEASURES,
                       .name = "assoc_store",
                       .type = T_BOOL,
                       .def = "false",
                       .doc = "Keep the association matrices in the results file."},
    [K_MC_STEPS] = {.section = S_MEASURES,
                    .name = "mc_steps",
                    .type = T_INT,
                    .def = "10000",
                    .lo = 0,
                    .hi = 100000000,
                    .doc = "Monte-Carlo single-unit moves refining each spectral clustering (the "
                           "best modularity seen is kept)."},
    [K_MC_ENTROPY] = {.section = S_MEASURES,
                      .name = "mc_entropy",
                      .type = T_FLOAT,
                      .def = "0.1",
                      .lo = 0,
                      .hi = 20,
                      .flags = F_LO_OPEN | F_FLOAT32,
                      .doc = "Target mean entropy (nats) of the Monte-Carlo move distribution; "
                             "the temperature is set to reach it at the spectral clustering."},
    [K_NULL_SHUFFLES] = {.section = S_MEASURES,
                         .name = "null_shuffles",
                         .type = T_INT,
                         .def = "1000",
                         .lo = 1,
                         .hi = 10000000,
                         .doc = "Shuffles of unit labels in the null of each alignment score "
                                "(its p-value is (1 + shuffles scoring at least as high) / (1 + "
                                "shuffles))."},
    [K_HEBBIAN] = {.section = S_MEASURES,
                   .name = "hebbian",
                   .type = T_BOOL,
                   .def = "false",
                   .doc = "Per-connection Hebbian strengths of every conv layer: co-activation "
                          "counts and correlations of input and output through each filter "
                          "weight (seed 004; cnn only)."},
    [K_SPARSE_EVERY] = {.section = S_MEASURES,
                        .name = "sparse_every",
                        .type = T_INT,
                        .def = "0",
                        .lo = 0,
                        .hi = 100000000,
                        .doc = "Dynamic sparse training of the conv layers: every n steps keep the "
                               "sparse_k1 strongest connections of each kernel slice, re-initialise "
                               "the next sparse_k2 - sparse_k1 and prune the rest (0 = off; cnn "
                               "only)."},
    [K_SPARSE_K1] = {.section = S_MEASURES,
                     .name = "sparse_k1",
                     .type = T_INT,
                     .def_doc = "max(floor(0.1 * kernel^2), 1), as the seed",
                     .lo = 1,
                     .hi = 225,
                     .doc = "Connections of each kernel slice (one output and one input channel) "
                            "that keep their weights."},
    [K_SPARSE_K2] = {.section = S_MEASURES,
                     .name = "sparse_k2",
                     .type = T_INT,
                     .def_doc = "max(floor(0.15 * kernel^2), 1), as the seed",
                     .lo = 1,
                     .hi = 225,
                     .doc = "Active connections of each kernel slice (the k1 kept and the next "
                            "k2 - k1 re-initialised); at least sparse_k1, at most kernel^2."},
    /* [null] */
    [K_SHUFFLES] = {.section = S_NULL,
                    .name = "shuffles",
                    .type = T_INT,
                    .def = "0",
                    .lo = 0,
                    .hi = 100000,
                    .doc = "Null networks per model with each layer's weights shuffled (its "
                           "multiset kept): null mean, sd, z-score and p-value of the "
                           "weight-based BSGC clusterability curve and of every Newman Q of the "
                           "measures (0 = off)."},
};

static const char *const axis_names[MS_N_AXES] = {"seed", "lambda", "k",      "lr",
                                                  "l1",   "l2",     "dropout"};

const char *ms_axis_name(int axis) {
    return axis >= 0 && axis < MS_N_AXES ? axis_names[axis] : "?";
}

/* ---- shapes ------------------------------------------------------------- */

/* The shapes of an architecture and its size, as ms_layout_init will find
 * them; computed here without nn.c so the grid is checked on its own. */
typedef struct dims {
    int bad_conv;         /* first conv block leaving < 1x1 after pooling, or -1 */
    int conv_h, conv_w;   /* that block's output before pooling (when bad_conv >= 0) */
    int in_h, in_w;       /* that block's input */
    int fc_in[MS_MAX_FC]; /* I of each fc layer (fc_in[0]: the flattened conv output) */
    double n_params;      /* parameters of one model */
    double n_fc_weights;  /* fc weights (pruning candidates) */
    double macs;          /* multiply-adds of one image's forward pass */
    double fc_macs;       /* the fc layers' share of macs */
} dims_t;

static void compute_dims(const ms_arch_t *a, dims_t *d) {
    memset(d, 0, sizeof *d);
    d->bad_conv = -1;
    int c = a->in_c, h = a->in_h, w = a->in_w;
    for (int i = 0; i < a->n_conv; i++) {
        int ch = h + 2 * a->conv_pad - a->conv_k + 1, cw = w + 2 * a->conv_pad - a->conv_k + 1;
        d->n_params +=
            (double)a->conv_c[i] * c * a->conv_k * a->conv_k + (a->conv_bias ? a->conv_c[i] : 0);
        if (d->bad_conv < 0)
            d->macs += (double)a->conv_c[i] * c * a->conv_k * a->conv_k * (ch > 0 ? ch : 0) *
                       (cw > 0 ? cw : 0);
        if ((ch < 2 || cw < 2) && d->bad_conv < 0) {
            d->bad_conv = i;
            d->conv_h = ch;
            d->conv_w = cw;
            d->in_h = h;
            d->in_w = w;
        }
        c = a->conv_c[i];
        h = ch / 2;
        w = cw / 2;
    }
    int in = d->bad_conv >= 0 ? 0 : c * h * w;
    for (int l = 0; l < a->n_fc; l++) {
        d->fc_in[l] = in;
        double wts = (double)a->fc_out[l] * in;
        d->n_fc_weights += wts;
        d->fc_macs += wts;
        d->n_params += wts + (a->fc_bias ? a->fc_out[l] : 0);
        in = a->fc_out[l];
    }
    d->macs += d->fc_macs;
}

/* ---- the working context ------------------------------------------------ */

/* The value of one key: what was written, and what it means once parsed. */
typedef struct val {
    int given;                      /* the file sets it */
    int line;                       /* where (0 = not given) */
    const char *spelt;              /* the name used (the key's name or its alias) */
    char raw[RAW_MAX];              /* the text as written */
    int n;                          /* numbers in num */
    double num[MS_MAX_AXIS_VALUES]; /* numbers, ranges expanded (F_FLOAT32: rounded to float) */
    double exact[MS_MAX_AXIS_VALUES]; /* the same numbers as written (parsed as double) */
    int choice;                     /* T_ENUM index, T_BOOL 0/1 */
    uint32_t mask;                  /* T_LAYERS: bit l = fc(l+1) */
    char str[RAW_MAX];              /* T_STR */
} val_t;

typedef struct ctx {
    const char *file;         /* the name in messages */
    const char *pos, *end;    /* read_line's position in the text */
    int lineno;               /* the line read_line handed to inih last (1-based) */
    int failed;               /* an error was recorded: stop */
    char msg[2048];           /* the first error, "file:line: message" */
    int sec_line[N_SECTIONS]; /* first header line of each section (0 = absent) */
    val_t v[N_KEYS];
    /* Results of the resolve_* passes. */
    ms_arch_t arch;
    int is_cnn;
    dims_t dims;
    int kind; /* ms_dataset_kind_t */
    char chosen[512]; /* defaults adapted to the architecture (ms_grid_t.chosen) */
} ctx_t;

/* Records the first error; every later one is dropped (the first is what the
 * user fixes first, and the rest may be its consequences). */
__attribute__((format(printf, 3, 4))) static int fail(ctx_t *c, int line, const char *fmt, ...) {
    if (c->failed) return MS_ECONFIG;
    char body[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(c->msg, sizeof c->msg, "%s:%d: %s", c->file, line, body);
    else
        snprintf(c->msg, sizeof c->msg, "%s: %s", c->file, body);
    c->failed = 1;
    return MS_ECONFIG;
}

/* The line to blame for a fault involving keys that may not have been
 * written: the first of the keys (a list ending in -1) that the file sets,
 * else the header of the first key's section, else line 1. */
static int pick_line(const ctx_t *c, int first, ...) {
    va_list ap;
    va_start(ap, first);
    int line = 0;
    for (int k = first; k >= 0 && !line; k = va_arg(ap, int))
        if (c->v[k].given) line = c->v[k].line;
    va_end(ap);
    if (!line) line = c->sec_line[key_table[first].section];
    return line ? line : 1;
}

/* ---- small text helpers ------------------------------------------------- */

static char *trim(char *s) {
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

static void lower(char *s) {
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

/* Copies at most n - 1 bytes and terminates. */
static void copy_str(char *dst, size_t n, const char *src) {
    snprintf(dst, n, "%s", src);
}

/* Optimal-string-alignment distance (edits, with adjacent transpositions)
 * between two short names; longer names count as far apart. */
static int edit_distance(const char *a, const char *b) {
    size_t n = strlen(a), m = strlen(b);
    if (n >= SUGGEST_MAX || m >= SUGGEST_MAX) return 1 << 20;
    int d[SUGGEST_MAX + 1][SUGGEST_MAX + 1];
    for (size_t i = 0; i <= n; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= m; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= n; i++)
        for (size_t j = 1; j <= m; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best) best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best) best = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < best)
                best = d[i - 2][j - 2] + 1;
            d[i][j] = best;
        }
    return d[n][m];
}

/* How close `typed` is to the candidate `name`, or -1 when too far to
 * suggest: a few edits (1 for names of up to 3 letters, else 2), or one name
 * containing the other (at least 3 letters). Lower is closer. */
static int closeness(const char *typed, const char *name) {
    int d = edit_distance(typed, name);
    int limit = strlen(name) <= 3 ? 1 : 2;
    if (d <= limit) return d;
    size_t lt = strlen(typed), ln = strlen(name);
    if (lt >= 3 && ln >= 3 && (strstr(name, typed) || strstr(typed, name))) return limit + 1;
    return -1;
}

/* Best suggestion among the names of a NULL-terminated list, or NULL. */
static const char *nearest(const char *typed, const char *const *names) {
    const char *best = NULL;
    int best_d = 1 << 20;
    for (int i = 0; names[i]; i++) {
        int d = closeness(typed, names[i]);
        if (d >= 0 && d < best_d) {
            best_d = d;
            best = names[i];
        }
    }
    return best;
}

/* ---- number formatting (the canonical text) ----------------------------- */

/* The shortest "%.*g" text that reads back as the same float (9 digits
 * always suffice), so 1e-3 prints as 0.001. Numbers of 1 to 9 integer digits
 * get at least that many, so 20 prints as 20, not 2e+01. */
static void format_float(char *buf, size_t n, double x) {
    float f = (float)x;
    if (!isfinite(f)) { /* no digits to count ("inf", "nan") */
        snprintf(buf, n, "%g", (double)f);
        return;
    }
    int p = 1;
    while (p < 9) {
        snprintf(buf, n, "%.*g", p, (double)f);
        if ((float)strtod(buf, NULL) == f) break;
        p++;
    }
    double mag = fabs((double)f);
    int digits = mag >= 1 ? (int)floor(log10(mag)) + 1 : 0;
    if (digits > p && digits <= 9) p = digits;
    snprintf(buf, n, "%.*g", p, (double)f);
}

static int is_int_type(int type) {
    return type == T_INT || type == T_INTS || type == T_LABELS;
}

/* A number of key k as text: integers in full, floats as format_float. */
static void format_num(int k, double x, char *buf, size_t n) {
    if (is_int_type(key_table[k].type))
        snprintf(buf, n, "%lld", (long long)x);
    else
        format_float(buf, n, x);
}

/* "must be in 2..1024", "must be >= 0 and < 1", ... */
static void range_text(int k, char *buf, size_t n) {
    const key_def_t *d = &key_table[k];
    /* Only finite bounds are printed (an integer conversion of an infinite
     * one would be undefined). */
    const int has_lo = isfinite(d->lo), has_hi = isfinite(d->hi);
    char lo[48] = "", hi[48] = "";
    if (has_lo) format_num(k, d->lo, lo, sizeof lo);
    if (has_hi) format_num(k, d->hi, hi, sizeof hi);
    if (is_int_type(d->type) && has_lo && has_hi)
        snprintf(buf, n, "must be in %s..%s", lo, hi);
    else if (has_lo && has_hi)
        snprintf(buf, n, "must be %s %s and %s %s", d->flags & F_LO_OPEN ? ">" : ">=", lo,
                 d->flags & F_HI_OPEN ? "<" : "<=", hi);
    else if (has_lo)
        snprintf(buf, n, "must be %s %s", d->flags & F_LO_OPEN ? ">" : ">=", lo);
    else if (has_hi)
        snprintf(buf, n, "must be %s %s", d->flags & F_HI_OPEN ? "<" : "<=", hi);
    else
        snprintf(buf, n, "must be finite");
}

/* ---- pass 1: reading lines with inih ------------------------------------ */

static int section_find(const char *name) {
    for (int s = 0; s < N_SECTIONS; s++)
        if (strcmp(name, section_names[s]) == 0) return s;
    return -1;
}

static int key_find(int section, const char *name) {
    for (int k = 0; k < N_KEYS; k++)
        if (key_table[k].section == section &&
            (strcmp(name, key_table[k].name) == 0 ||
             (key_table[k].alias && strcmp(name, key_table[k].alias) == 0)))
            return k;
    return -1;
}

/* A comma-separated list of the keys of a section, for messages. */
static void section_keys(int section, char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < N_KEYS && len < n; k++)
        if (key_table[k].section == section)
            len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? ", " : "", key_table[k].name);
}

/* Checks a section header line ("[name]" plus an optional comment) and
 * returns its section, or records an error and returns -1. */
static int check_header(ctx_t *c, char *line) {
    char *close = strchr(line, ']');
    if (!close) return fail(c, c->lineno, "section header '%s' has no closing ']'", line), -1;
    char *rest = trim(close + 1);
    if (*rest && *rest != ';' && *rest != '#')
        return fail(c, c->lineno, "unexpected text '%s' after the section header", rest), -1;
    *close = '\0';
    char *name = trim(line + 1);
    int s = section_find(name);
    if (s < 0) {
        const char *hint = nearest(name, section_names);
        if (hint)
            fail(c, c->lineno, "unknown section [%s] (did you mean [%s]?)", name, hint);
        else
            fail(c, c->lineno,
                 "unknown section [%s] (sections: [sweep], [data], [model], [train], [cluster], "
                 "[prune], [measures])",
                 name);
        return -1;
    }
    if (!c->sec_line[s]) c->sec_line[s] = c->lineno;
    return s;
}

/* Where inih would split "key = value" (the first '=' or ':' before an
 * inline comment, which is ';' after whitespace), or NULL. */
static const char *find_separator(const char *s) {
    int was_space = 0;
    for (; *s; s++) {
        if (*s == '=' || *s == ':') return s;
        if (was_space && *s == ';') return NULL;
        was_space = isspace((unsigned char)*s);
    }
    return NULL;
}

/* inih's line reader: hands inih the next line of the text, without its
 * leading whitespace, and rejects lines inih would misread. A rejected line
 * records an error and reading stops (NULL ends inih's loop). */
static char *read_line(char *buf, int num, void *stream) {
    ctx_t *c = stream;
    if (c->failed || c->pos >= c->end) return NULL;
    const char *s = c->pos;
    const char *nl = memchr(s, '\n', (size_t)(c->end - s));
    const char *e = nl ? nl : c->end;
    c->pos = nl ? nl + 1 : c->end;
    c->lineno++;
    if (c->lineno == 1 && e - s >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) s += 3; /* UTF-8 BOM */
    if (e > s && e[-1] == '\r') e--;
    int indented = 0;
    while (s < e && isspace((unsigned char)*s)) {
        s++;
        indented = 1;
    }
    size_t len = (size_t)(e - s);
    /* inih needs room for the text, a newline and the terminator. */
    if (num < 3 || len > (size_t)num - 2) {
        fail(c, c->lineno, "line is too long (%zu characters; at most %d)", len, num - 2);
        return NULL;
    }
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (len == 0 || buf[0] == ';' || buf[0] == '#') {
        /* A blank line or a comment. */
    } else if (buf[0] == '[') {
        char tmp[RAW_MAX * 2];
        copy_str(tmp, sizeof tmp, buf);
        if (check_header(c, tmp) < 0) return NULL;
    } else if (!find_separator(buf)) {
        if (indented)
            fail(c, c->lineno,
                 "multi-line values are not allowed: this indented line has no '=' and would "
                 "continue the previous value; write the whole value on one line");
        else
            fail(c, c->lineno, "expected 'key = value', a [section] header or a comment, got '%s'",
                 buf);
        return NULL;
    }
    buf[len] = '\n';
    buf[len + 1] = '\0';
    return buf;
}

/* inih's handler: one (section, key, value) of the line read last. Stores the
 * value's text for pass 2. Returns 1 (errors are recorded in the context, and
 * read_line stops the parse). */
static int on_pair(void *user, const char *section, const char *name, const char *value) {
    ctx_t *c = user;
    int line = c->lineno;
    if (c->failed) return 1;
    char sec[RAW_MAX];
    copy_str(sec, sizeof sec, section);
    int s = section_find(trim(sec));
    if (!*name) return fail(c, line, "a line with '=' but no key name"), 1;
    if (s < 0) {
        /* Headers are checked by read_line, so only "before any header" is left. */
        for (int k = 0; k < N_KEYS; k++)
            if (strcmp(name, key_table[k].name) == 0)
                return fail(c, line,
                            "key '%s' comes before any [section] header (it belongs in [%s])", name,
                            section_names[key_table[k].section]),
                       1;
        return fail(c, line, "key '%s' comes before any [section] header", name), 1;
    }
    int k = key_find(s, name);
    if (k < 0) {
        const char *names[N_KEYS + 1];
        int n = 0;
        for (int j = 0; j < N_KEYS; j++)
            if (key_table[j].section == s) names[n++] = key_table[j].name;
        names[n] = NULL;
        const char *hint = nearest(name, names);
        if (hint)
            return fail(c, line, "unknown key '%s' in [%s] (did you mean '%s'?)", name,
                        section_names[s], hint),
                   1;
        /* The right key in the wrong section, or a close one elsewhere. */
        int other = -1, other_d = 1 << 20;
        for (int j = 0; j < N_KEYS; j++) {
            int d = closeness(name, key_table[j].name);
            if (d >= 0 && d < other_d) {
                other_d = d;
                other = j;
            }
        }
        if (other >= 0)
            return fail(c, line, "unknown key '%s' in [%s] (did you mean '%s' in [%s]?)", name,
                        section_names[s], key_table[other].name,
                        section_names[key_table[other].section]),
                   1;
        char list[512];
        section_keys(s, list, sizeof list);
        return fail(c, line, "unknown key '%s' in [%s] (its keys: %s)", name, section_names[s],
                    list),
               1;
    }
    val_t *v = &c->v[k];
    if (v->given) {
        if (strcmp(name, v->spelt) != 0)
            return fail(c, line, "key '%s' given twice, first at line %d (as '%s', the same key)",
                        name, v->line, v->spelt),
                   1;
        return fail(c, line, "key '%s' given twice, first at line %d", name, v->line), 1;
    }
    if (strlen(value) >= sizeof v->raw)
        return fail(c, line, "the value of '%s' is too long", name), 1;
    v->given = 1;
    v->line = line;
    v->spelt = strcmp(name, key_table[k].name) == 0 ? key_table[k].name : key_table[k].alias;
    copy_str(v->raw, sizeof v->raw, value);
    return 1;
}

/* ---- pass 2: parsing each key's text ------------------------------------ */

/* A list of the sweepable keys, for messages. */
static void sweepable_keys(char *buf, size_t n) {
    size_t len = 0;
    buf[0] = '\0';
    for (int a = 0; a < MS_N_AXES && len < n; a++)
        len += (size_t)snprintf(buf + len, n - len, "%s%s",
                                a ? (a + 1 < MS_N_AXES ? ", " : " and ") : "", axis_names[a]);
}

/* Rejects a list written where one value is expected. */
static int check_single(ctx_t *c, int k, const char *text, int line) {
    if (!strchr(text, ',') && !strstr(text, "..")) return 0;
    char sw[128];
    sweepable_keys(sw, sizeof sw);
    return fail(c, line, "%s takes a single value, not a list (only %s can be swept)",
                key_table[k].name, sw);
}

/* The error for text that is not the expected kind of value. A '#' or ';'
 * glued to the value is most likely a comment inih did not strip. */
static int bad_value(ctx_t *c, int k, int line, const char *tok, const char *expected) {
    const char *hint = "";
    if (strchr(tok, '#') || strchr(tok, ';'))
        hint = " (a comment after a value starts with ';' after a space; '#' starts a comment only "
               "at the beginning of a line)";
    return fail(c, line, "%s: expected %s, got '%s'%s", key_table[k].name, expected, tok, hint);
}

/* Parses one number of key k. Integers may be written in any decimal form
 * whose value is whole (4, +4, 4e0); hexadecimal, nan and inf are refused. */
static int parse_number(ctx_t *c, int k, const char *tok, int line, double *out) {
    int is_int = is_int_type(key_table[k].type);
    char low[RAW_MAX];
    copy_str(low, sizeof low, tok);
    lower(low);
    const char *word = low + (*low == '+' || *low == '-');
    if (strncmp(word, "nan", 3) == 0 || strncmp(word, "inf", 3) == 0)
        return fail(c, line, "%s: '%s' is not a finite number (NaN and infinities are not allowed)",
                    key_table[k].name, tok);
    for (const char *p = tok; *p; p++)
        if (!strchr("0123456789+-.eE", *p))
            return bad_value(c, k, line, tok, is_int ? "an integer" : "a number");
    char *end;
    errno = 0;
    double x = strtod(tok, &end);
    if (end == tok || *end) return bad_value(c, k, line, tok, is_int ? "an integer" : "a number");
    if (!isfinite(x)) return fail(c, line, "%s: '%s' is too large", key_table[k].name, tok);
    if (is_int && x != floor(x))
        return fail(c, line, "%s must be an integer, got '%s'", key_table[k].name, tok);
    *out = x == 0 ? 0 : x; /* no negative zero */
    return 0;
}

/* Checks one number against key k's range; floats stored as float are
 * rounded first (so 1e-50 for a positive float is refused as 0). */
static int check_value(ctx_t *c, int k, int line, const char *tok, double *x) {
    const key_def_t *d = &key_table[k];
    if (d->flags & F_FLOAT32) {
        if (fabs(*x) > FLT_MAX)
            return fail(c, line, "%s = %s is too large for a float", d->name, tok);
        *x = (double)(float)*x;
        if (*x == 0) *x = 0;
    }
    int ok = (d->flags & F_LO_OPEN) ? *x > d->lo : *x >= d->lo;
    ok = ok && ((d->flags & F_HI_OPEN) ? *x < d->hi : *x <= d->hi);
    if (!ok) {
        char r[128];
        range_text(k, r, sizeof r);
        if (d->type == T_LABELS)
            return fail(c, line, "label %s is out of range: %s (the dataset has %d classes)", tok,
                        r, MS_MAX_CLASSES);
        return fail(c, line, "%s = %s is out of range: %s", d->name, tok, r);
    }
    return 0;
}

/* Parses a comma-separated list of numbers and inclusive integer ranges
 * (a..b or a..b:step) into v->num; `list_ok` = 0 accepts one number only. */
static int parse_numbers(ctx_t *c, int k, const char *text, int line, int list_ok, val_t *v) {
    const key_def_t *d = &key_table[k];
    if (!list_ok && check_single(c, k, text, line)) return MS_ECONFIG;
    int max_n = d->max_n > 1 ? d->max_n : 1;
    char buf[RAW_MAX];
    copy_str(buf, sizeof buf, text);
    v->n = 0;
    for (char *s = buf;;) {
        char *comma = strchr(s, ',');
        if (comma) *comma = '\0';
        char *item = trim(s);
        if (!*item) return fail(c, line, "%s: empty item in the list '%s'", d->name, text);
        char *dots = strstr(item, "..");
        if (dots) {
            /* A range a..b[:step]: integer bounds and step (even for float
             * keys), counting up; its bounds are checked before it is
             * expanded, so a huge range costs nothing. */
            *dots = '\0';
            char *parts[3] = {trim(item), dots + 2, NULL};
            char *colon = strchr(parts[1], ':');
            if (colon) {
                *colon = '\0';
                parts[2] = trim(colon + 1);
            }
            parts[1] = trim(parts[1]);
            double num[3] = {0, 0, 1};
            for (int i = 0; i < 3; i++) {
                if (!parts[i]) continue;
                int digits = *parts[i] != '\0';
                for (const char *p = parts[i]; *p; p++)
                    if (!strchr("0123456789+-", *p)) digits = 0;
                char *end = NULL;
                double x = digits ? strtod(parts[i], &end) : 0;
                if (!digits || *end || !isfinite(x))
                    return fail(c, line,
                                "%s: a range is written a..b or a..b:step with integers, got '%s'",
                                d->name, parts[i]);
                num[i] = x == 0 ? 0 : x;
            }
            double lo = num[0], hi = num[1], step = num[2];
            if (hi < lo)
                return fail(c, line, "%s: the range %s..%s is empty (ranges count up)", d->name,
                            parts[0], parts[1]);
            if (step < 1) return fail(c, line, "%s: the step of a range must be >= 1", d->name);
            double bounds[2] = {lo, hi};
            for (int i = 0; i < 2; i++)
                if (check_value(c, k, line, parts[i], &bounds[i])) return MS_ECONFIG;
            double count = floor((hi - lo) / step) + 1;
            if (v->n + count > max_n)
                return fail(c, line, "%s: too many values (at most %d)", d->name, max_n);
            for (int i = 0; i < (int)count; i++) {
                double x = lo + i * step;
                char t[64];
                format_num(k, x, t, sizeof t);
                v->exact[v->n] = x;
                if (check_value(c, k, line, t, &x)) return MS_ECONFIG;
                v->num[v->n++] = x;
            }
        } else {
            double x = 0;
            if (parse_number(c, k, item, line, &x)) return MS_ECONFIG;
            const double as_written = x;
            if (check_value(c, k, line, item, &x)) return MS_ECONFIG;
            if (v->n >= max_n)
                return fail(c, line, "%s: too many values (at most %d)", d->name, max_n);
            v->exact[v->n] = as_written;
            v->num[v->n++] = x;
        }
        if (!comma) break;
        s = comma + 1;
    }
    if (d->flags & F_UNIQUE)
        for (int i = 0; i < v->n; i++)
            for (int j = 0; j < i; j++)
                if (v->num[i] == v->num[j]) {
                    char t[64];
                    format_num(k, v->num[i], t, sizeof t);
                    if (d->type == T_LABELS) return fail(c, line, "label %s given twice", t);
                    return fail(c, line, "%s: the value %s is given twice", d->name, t);
                }
    return 0;
}

/* Parses one choice of a T_ENUM key (case-insensitive). */
static int parse_choice(ctx_t *c, int k, const char *text, int line, val_t *v) {
    const key_def_t *d = &key_table[k];
    if (check_single(c, k, text, line)) return MS_ECONFIG;
    char low[RAW_MAX];
    copy_str(low, sizeof low, text);
    lower(low);
    for (int i = 0; d->choices[i]; i++)
        if (strcmp(low, d->choices[i]) == 0) {
            v->choice = i;
            return 0;
        }
    char list[256];
    size_t len = 0;
    list[0] = '\0';
    for (int i = 0; d->choices[i]; i++)
        len +=
            (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? ", " : "", d->choices[i]);
    const char *hint = nearest(low, d->choices);
    if (hint)
        return fail(c, line, "%s: '%s' is not one of %s (did you mean '%s'?)", d->name, text, list,
                    hint);
    return fail(c, line, "%s: '%s' is not one of %s", d->name, text, list);
}

static int parse_bool(ctx_t *c, int k, const char *text, int line, val_t *v) {
    if (check_single(c, k, text, line)) return MS_ECONFIG;
    char low[RAW_MAX];
    copy_str(low, sizeof low, text);
    lower(low);
    static const char *const yes[] = {"true", "yes", "1"}, *const no[] = {"false", "no", "0"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(low, yes[i]) == 0) return v->choice = 1, 0;
        if (strcmp(low, no[i]) == 0) return v->choice = 0, 0;
    }
    return fail(c, line, "%s: expected true, false, yes, no, 1 or 0, got '%s'", key_table[k].name,
                text);
}

/* Parses key k from its written text or, when the file does not set it, from
 * the table's default text. Layer sets wait for the architecture
 * (parse_layers); computed defaults are filled in by the resolve passes. */
static int parse_key(ctx_t *c, int k) {
    const key_def_t *d = &key_table[k];
    val_t *v = &c->v[k];
    if (d->type == T_LAYERS) return 0;
    if (!v->given && !d->def) return 0;
    char text[RAW_MAX];
    copy_str(text, sizeof text, v->given ? v->raw : d->def);
    char *t = trim(text);
    int line = v->line;
    char low[RAW_MAX];
    copy_str(low, sizeof low, t);
    lower(low);
    if (d->flags & F_NONE_OK && (!*t || strcmp(low, "none") == 0)) {
        v->n = 0;
        return 0;
    }
    if (!*t) return fail(c, line, "%s has no value", d->name);
    switch (d->type) {
    case T_STR: {
        size_t n = strlen(t);
        if (n >= 2 && (t[0] == '"' || t[0] == '\'') && t[n - 1] == t[0]) {
            t[n - 1] = '\0';
            t++;
        }
        if (!*t) return fail(c, line, "%s has no value", d->name);
        copy_str(v->str, sizeof v->str, t);
        return 0;
    }
    case T_ENUM:
        return parse_choice(c, k, t, line, v);
    case T_BOOL:
        return parse_bool(c, k, t, line, v);
    case T_INT:
    case T_FLOAT:
        return parse_numbers(c, k, t, line, (d->flags & F_SWEEP) != 0, v);
    case T_LABELS:
        if (strcmp(low, "all") == 0) {
            for (v->n = 0; v->n < MS_MAX_CLASSES; v->n++)
                v->num[v->n] = v->n;
            return 0;
        }
        return parse_numbers(c, k, t, line, 1, v);
    case T_INTS:
    case T_FLOATS:
        return parse_numbers(c, k, t, line, 1, v);
    }
    return 0;
}

/* The number of "fcN", or -1 when the text is not an fc layer name. */
static int fc_number(const char *name) {
    if (strncmp(name, "fc", 2) != 0 || name[2] < '1' || name[2] > '9') return -1;
    int n = 0;
    for (const char *p = name + 2; *p; p++) {
        if (!isdigit((unsigned char)*p) || n > 100000) return -1;
        n = n * 10 + (*p - '0');
    }
    return n;
}

int ms_fc_layer_index(const char *name) {
    int n = name ? fc_number(name) : -1;
    return n >= 1 && n <= MS_MAX_FC ? n - 1 : -1;
}

/* Parses a layer set (fc names, all, none) for a model with n_fc fc layers.
 * A default names layers that may not exist (fc3 of a two-layer model):
 * those are dropped; a written name that does not exist is an error. */
static int parse_layers(ctx_t *c, int k, int n_fc) {
    const key_def_t *d = &key_table[k];
    val_t *v = &c->v[k];
    char buf[RAW_MAX];
    copy_str(buf, sizeof buf, v->given ? v->raw : d->def);
    lower(buf);
    char *t = trim(buf);
    int line = v->line;
    v->mask = 0;
    if (!*t || strcmp(t, "none") == 0) {
        if (!(d->flags & F_NONE_OK))
            return fail(c, line, "%s needs at least one fc layer (fc1..fc%d or all)", d->name,
                        n_fc);
        return 0;
    }
    if (strcmp(t, "all") == 0) {
        v->mask = (uint32_t)((1u << n_fc) - 1u);
        return 0;
    }
    for (char *s = t;;) {
        char *comma = strchr(s, ',');
        if (comma) *comma = '\0';
        char *item = trim(s);
        int n = fc_number(item);
        if (n < 0) {
            if (!strcmp(item, "all") || !strcmp(item, "none"))
                return fail(c, line, "%s: '%s' stands alone, not in a list", d->name, item);
            return fail(c, line, "%s: '%s' is not an fc layer name (fc1..fc%d, all%s)", d->name,
                        item, n_fc, d->flags & F_NONE_OK ? " or none" : "");
        }
        if (n > n_fc) {
            if (v->given)
                return fail(c, line, "%s: %s does not exist: the model has %d fc layers", d->name,
                            item, n_fc);
        } else {
            uint32_t bit = 1u << (n - 1);
            if (v->mask & bit) return fail(c, line, "%s: %s is given twice", d->name, item);
            v->mask |= bit;
        }
        if (!comma) break;
        s = comma + 1;
    }
    return 0;
}

/* ---- pass 3: defaults that depend on other keys, and cross-key rules ---- */

/* A name made of letters, digits and ".+-_" (it goes into file names). */
static int name_char_ok(char ch) {
    return isalnum((unsigned char)ch) || ch == '.' || ch == '_' || ch == '-' || ch == '+';
}

static int resolve_sweep(ctx_t *c) {
    val_t *name = &c->v[K_NAME], *out = &c->v[K_OUTPUT];
    if (name->given) {
        if (strlen(name->str) >= MS_NAME_MAX)
            return fail(c, name->line, "name is too long (at most %d characters)", MS_NAME_MAX - 1);
        for (const char *p = name->str; *p; p++)
            if (!name_char_ok(*p))
                return fail(c, name->line,
                            "name '%s' may hold only letters, digits, '.', '_', '-' and '+'",
                            name->str);
    } else {
        /* The file's base name without .ini; other characters become '_'. */
        const char *base = strrchr(c->file, '/');
        base = base ? base + 1 : c->file;
        char tmp[MS_NAME_MAX];
        copy_str(tmp, sizeof tmp, base);
        size_t n = strlen(tmp);
        if (n > 4 && strcmp(tmp + n - 4, ".ini") == 0) tmp[n - 4] = '\0';
        for (char *p = tmp; *p; p++)
            if (!name_char_ok(*p)) *p = '_';
        copy_str(name->str, sizeof name->str, *tmp ? tmp : "grid");
    }
    if (!out->given) snprintf(out->str, sizeof out->str, "%.*s.h5", MS_NAME_MAX, name->str);
    return 0;
}

/* dataset = planted: checks the planted_* keys, reads the set as mnist
 * from dir, by default a folder beside the grid file named by the
 * parameters (modsweep writes the files there before loading, planted.h). */
static int resolve_planted(ctx_t *c) {
    val_t *v = c->v;
    const int blocks = (int)v[K_PL_BLOCKS].num[0], sub = (int)v[K_PL_SUB].num[0];
    long classes = 1;
    for (int b = 0; b < blocks; b++)
        classes *= sub;
    if (classes > MS_N_CLASSES)
        return fail(c, pick_line(c, K_PL_BLOCKS, K_PL_SUB, K_DATASET, -1),
                    "dataset = planted: planted_sub^planted_blocks = %d^%d = %ld classes, more "
                    "than the %d a network has",
                    sub, blocks, classes, MS_N_CLASSES);
    if (v[K_MNIST_DIR].given || v[K_CIFAR_DIR].given)
        return fail(c, v[v[K_MNIST_DIR].given ? K_MNIST_DIR : K_CIFAR_DIR].line,
                    "dataset = planted takes dir (where its files are written), not %s",
                    key_table[v[K_MNIST_DIR].given ? K_MNIST_DIR : K_CIFAR_DIR].name);
    if (!v[K_DIR].given) {
        const char *slash = strrchr(c->file, '/');
        const int n = slash ? (int)(slash - c->file) : 1;
        snprintf(v[K_DIR].str, sizeof v[K_DIR].str, "%.*s/planted-%s-b%d-s%d-n%d-%d-seed%d", n,
                 slash ? c->file : ".", planted_task_choices[v[K_PL_TASK].choice], blocks, sub,
                 (int)v[K_PL_TRAIN].num[0], (int)v[K_PL_TEST].num[0], (int)v[K_PL_SEED].num[0]);
    }
    c->kind = MS_DATA_MNIST;
    return 0;
}

static int resolve_data(ctx_t *c) {
    val_t *v = c->v;
    c->kind = v[K_DATASET].choice;
    const int planted = c->kind == DATASET_PLANTED;
    if (planted) {
        int rc = resolve_planted(c);
        if (rc) return rc;
    } else {
        for (int k = K_PL_BLOCKS; k <= K_PL_SEED; k++)
            if (v[k].given)
                return fail(c, v[k].line, "%s applies only to dataset = planted (it is %s here)",
                            key_table[k].name, dataset_choices[c->kind]);
    }
    int cifar = c->kind == MS_DATA_CIFAR10;
    /* The dataset's own folder key (mnist_dir, cifar10_dir), used when dir is not given. */
    const int own = c->kind == MS_DATA_MNIST ? K_MNIST_DIR : cifar ? K_CIFAR_DIR : -1;
    if (v[K_DIR].given && own >= 0 && v[own].given)
        return fail(c, v[own].line, "give dir or %s for dataset = %s, not both",
                    key_table[own].name, dataset_choices[c->kind]);
    if (!v[K_DIR].given && !planted) {
        if (own >= 0 && v[own].given)
            copy_str(v[K_DIR].str, sizeof v[K_DIR].str, v[own].str);
        else if (c->kind != MS_DATA_FASHION)
            return fail(c, pick_line(c, K_DATASET, -1),
                        "dataset = %s needs dir = <the folder holding its files> or %s (only "
                        "fashion-mnist has a default)",
                        dataset_choices[c->kind], key_table[own].name);
        else
            copy_str(v[K_DIR].str, sizeof v[K_DIR].str, "/usr/share/datasets/fashion-mnist");
    }
    /* CIFAR-10 images already are 3x32x32: the paper layout is their native
     * one, so a grid file switches between cifar10 and the 28x28 sets with
     * the dataset key alone. */
    if (v[K_LAYOUT].choice == MS_LAYOUT_3X32X32 && cifar)
        v[K_LAYOUT].choice = MS_LAYOUT_NATIVE; /* the effective choice, as resolved text shows it */
    int three = cifar || v[K_LAYOUT].choice == MS_LAYOUT_3X32X32;
    c->arch.in_c = three ? 3 : 1;
    c->arch.in_h = c->arch.in_w = three ? 32 : 28;

    int norm = v[K_NORMALIZE].choice;
    if (norm == NORM_DEFAULT) norm = 1 + (cifar ? MS_NORM_UNIT : MS_NORM_MEANSTD);
    v[K_NORMALIZE].choice = norm; /* the effective choice, as resolved text shows it */
    if (norm - 1 != MS_NORM_MEANSTD) {
        for (int k = K_MEAN; k <= K_STD; k++)
            if (v[k].given)
                return fail(c, v[k].line, "%s applies only to normalize = meanstd (it is %s here)",
                            key_table[k].name, norm_choices[norm]);
        v[K_MEAN].n = v[K_STD].n = 0;
        return 0;
    }
    static const double mnist_stat[2] = {0.1307, 0.3081};
    for (int k = K_MEAN; k <= K_STD; k++) {
        val_t *s = &v[k];
        if (!s->given) {
            if (cifar)
                return fail(
                    c, pick_line(c, K_NORMALIZE, K_MEAN, K_STD, K_DATASET, -1),
                    "normalize = meanstd for cifar10 needs %s (one value, or one per channel)",
                    key_table[k].name);
            s->n = 1;
            s->num[0] = (double)(float)mnist_stat[k - K_MEAN];
        }
        if (s->n != 1 && s->n != c->arch.in_c)
            return fail(c, s->line, "%s has %d values but the input has %d channel%s: give 1 or %d",
                        key_table[k].name, s->n, c->arch.in_c, c->arch.in_c > 1 ? "s" : "",
                        c->arch.in_c);
        for (int i = s->n; i < c->arch.in_c; i++)
            s->num[i] = s->num[0];
        s->n = c->arch.in_c;
    }
    return 0;
}

static int resolve_model(ctx_t *c) {
    val_t *v = c->v;
    ms_arch_t *a = &c->arch;
    c->is_cnn = v[K_ARCH].choice == 1;
    if (!c->is_cnn) {
        for (int k = K_CONV; k <= K_CONV_BIAS; k++)
            if (v[k].given && !(k == K_CONV && v[k].n == 0))
                return fail(c, v[k].line, "%s is only for arch = cnn (an mlp has no conv blocks)",
                            key_table[k].name);
    } else if (v[K_CONV].given && v[K_CONV].n == 0) {
        return fail(c, v[K_CONV].line,
                    "arch = cnn needs at least one conv block (or use arch = mlp)");
    }
    if (!v[K_CONV].given) {
        v[K_CONV].n = c->is_cnn;
        v[K_CONV].num[0] = 16;
    }
    if (!v[K_HIDDEN].given) {
        static const double cnn_hidden[] = {64, 64, 64}, mlp_hidden[] = {128, 128};
        v[K_HIDDEN].n = c->is_cnn ? 3 : 2;
        memcpy(v[K_HIDDEN].num, c->is_cnn ? cnn_hidden : mlp_hidden,
               sizeof(double) * v[K_HIDDEN].n);
    }
    a->n_conv = v[K_CONV].n;
    for (int i = 0; i < a->n_conv; i++)
        a->conv_c[i] = (int)v[K_CONV].num[i];
    a->conv_k = (int)v[K_KERNEL].num[0];
    a->conv_pad = (int)v[K_PADDING].num[0];
    a->conv_bias = v[K_CONV_BIAS].choice;
    a->n_fc = v[K_HIDDEN].n + 1;
    for (int l = 0; l + 1 < a->n_fc; l++)
        a->fc_out[l] = (int)v[K_HIDDEN].num[l];
    a->fc_out[a->n_fc - 1] = MS_MAX_CLASSES;
    a->fc_bias = v[K_BIAS].choice;
    a->dropout = (float)v[K_DROPOUT].num[0];

    if (a->n_conv > 0 && a->conv_pad >= a->conv_k)
        return fail(c, pick_line(c, K_PADDING, K_KERNEL, -1),
                    "padding %d must be smaller than the kernel (%d): wider padding only adds "
                    "outputs that see nothing but zeros",
                    a->conv_pad, a->conv_k);
    compute_dims(a, &c->dims);
    if (c->dims.bad_conv >= 0)
        return fail(c, pick_line(c, K_CONV, K_KERNEL, K_PADDING, K_LAYOUT, K_DATASET, -1),
                    "conv block %d leaves no pixel after its 2x2 pooling: its %dx%d input with "
                    "kernel %d and padding %d gives %dx%d; use fewer conv blocks, a smaller kernel "
                    "or more padding",
                    c->dims.bad_conv + 1, c->dims.in_h, c->dims.in_w, a->conv_k, a->conv_pad,
                    c->dims.conv_h, c->dims.conv_w);
    if (c->dims.n_params > MAX_PARAMS)
        return fail(c, pick_line(c, K_HIDDEN, K_CONV, K_ARCH, -1),
                    "the model has %.0f parameters; at most %.0f", c->dims.n_params, MAX_PARAMS);
    return 0;
}

static int resolve_train(ctx_t *c) {
    val_t *v = c->v;
    if (v[K_OPTIMIZER].choice == MS_OPT_ADAM) {
        if (v[K_MOMENTUM].given)
            return fail(c, v[K_MOMENTUM].line, "momentum applies only to optimizer = sgd");
    } else {
        for (int k = K_BETA1; k <= K_EPS; k++)
            if (v[k].given)
                return fail(c, v[k].line, "%s applies only to optimizer = adam", key_table[k].name);
    }
    return 0;
}

/* The largest number of clusters layer l can be split into: min(O, I). */
static int layer_cap(const ctx_t *c, int l) {
    int o = c->arch.fc_out[l], i = c->dims.fc_in[l];
    return o < i ? o : i;
}

/* Records a default that was adapted to the architecture, for --dry-run. */
__attribute__((format(printf, 2, 3))) static void note_chosen(ctx_t *c, const char *fmt, ...) {
    size_t len = strlen(c->chosen);
    if (len + 3 >= sizeof c->chosen) return;
    if (len) len += (size_t)snprintf(c->chosen + len, sizeof c->chosen - len, "; ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->chosen + len, sizeof c->chosen - len, fmt, ap);
    va_end(ap);
}

/* The fc layer of mask holding the fewest clusters (min(O, I)), or -1. */
static int smallest_layer(const ctx_t *c, uint32_t mask) {
    int best = -1;
    for (int l = 0; l < c->arch.n_fc; l++)
        if ((mask >> l & 1u) && (best < 0 || layer_cap(c, l) < layer_cap(c, best))) best = l;
    return best;
}

/* Defaults of the cluster keys that depend on the layer sizes. A key the
 * grid writes is never changed (resolve_cluster checks it strictly); a key
 * left to its default is fitted to the architecture, so a grid of any
 * network the keys allow works without naming them:
 * - k (default 4): the most clusters the smallest regularised layer holds,
 *   when that is fewer than 4 (and at least 2);
 * - bsgc_layers (default fc2, fc3) with a written curve_k: only the layers
 *   that hold the largest curve_k value;
 * - curve_k (default 2..14:2): only the values the smallest bsgc layer holds. */
static int fit_cluster_defaults(ctx_t *c) {
    val_t *v = c->v;
    if (!v[K_K].given && v[K_K].n == 1) {
        int l = smallest_layer(c, v[K_REG_LAYERS].mask);
        int cap = l >= 0 ? layer_cap(c, l) : 0;
        if (l >= 0 && cap >= 2 && cap < v[K_K].num[0]) {
            note_chosen(c, "k = %d (the default %d does not fit regularised layer fc%d, %d x %d)",
                        cap, (int)v[K_K].num[0], l + 1, c->arch.fc_out[l], c->dims.fc_in[l]);
            v[K_K].num[0] = v[K_K].exact[0] = cap;
        }
    }
    if (!v[K_BSGC].given && v[K_CURVE_K].given && v[K_CURVE_K].n > 0 && v[K_BSGC].mask) {
        int most = 0;
        for (int i = 0; i < v[K_CURVE_K].n; i++)
            if (v[K_CURVE_K].num[i] > most) most = (int)v[K_CURVE_K].num[i];
        uint32_t kept = 0;
        char dropped[128] = "";
        size_t len = 0;
        for (int l = 0; l < c->arch.n_fc; l++) {
            if (!(v[K_BSGC].mask >> l & 1u)) continue;
            if (layer_cap(c, l) >= most)
                kept |= 1u << l;
            else if (len + 32 < sizeof dropped)
                len +=
                    (size_t)snprintf(dropped + len, sizeof dropped - len, "%sfc%d (%d x %d)",
                                     len ? ", " : "", l + 1, c->arch.fc_out[l], c->dims.fc_in[l]);
        }
        if (!kept)
            return fail(c, v[K_CURVE_K].line,
                        "curve_k value %d is larger than every layer of the default bsgc_layers "
                        "(%s); lower curve_k or set bsgc_layers",
                        most, dropped);
        if (kept != v[K_BSGC].mask) {
            note_chosen(c, "bsgc_layers without %s: too small for curve_k value %d", dropped, most);
            v[K_BSGC].mask = kept;
        }
    }
    if (!v[K_CURVE_K].given && v[K_BSGC].mask) {
        int l = smallest_layer(c, v[K_BSGC].mask), cap = layer_cap(c, l), n = 0;
        for (int i = 0; i < v[K_CURVE_K].n; i++)
            if (v[K_CURVE_K].num[i] <= cap) {
                v[K_CURVE_K].exact[n] = v[K_CURVE_K].exact[i];
                v[K_CURVE_K].num[n++] = v[K_CURVE_K].num[i];
            }
        if (n < v[K_CURVE_K].n) {
            if (n)
                note_chosen(c,
                            "curve_k = 2..%d:2 (the default %s up to %d, the most clusters bsgc "
                            "layer fc%d, %d x %d, holds)",
                            (int)v[K_CURVE_K].num[n - 1], key_table[K_CURVE_K].def, cap, l + 1,
                            c->arch.fc_out[l], c->dims.fc_in[l]);
            else
                note_chosen(c,
                            "curve_k = none (bsgc layer fc%d, %d x %d, holds fewer clusters than "
                            "the default %s)",
                            l + 1, c->arch.fc_out[l], c->dims.fc_in[l], key_table[K_CURVE_K].def);
            v[K_CURVE_K].n = n;
        }
    }
    return 0;
}

static int resolve_cluster(ctx_t *c) {
    val_t *v = c->v;
    int n_fc = c->arch.n_fc;
    if (parse_layers(c, K_REG_LAYERS, n_fc) || parse_layers(c, K_GRADSIM, n_fc) ||
        parse_layers(c, K_BSGC, n_fc))
        return MS_ECONFIG;
    /* Gradient similarity S_l is fan-in x fan-in; its BSGC clusters become
     * the rows and columns of W_l (seed 000), so W_l must be square. */
    for (int l = 0; l < n_fc; l++) {
        if (!(v[K_GRADSIM].mask >> l & 1u) || c->arch.fc_out[l] == c->dims.fc_in[l]) continue;
        if (!v[K_GRADSIM].given) {
            v[K_GRADSIM].mask &= ~(1u << l); /* the default keeps square layers only */
            continue;
        }
        return fail(c, v[K_GRADSIM].line,
                    "gradsim_layers: fc%d is %d x %d, not square; the gradient similarity "
                    "(fan-in x fan-in) gives clusters for a square weight matrix only",
                    l + 1, c->arch.fc_out[l], c->dims.fc_in[l]);
    }
    if (fit_cluster_defaults(c)) return MS_ECONFIG;
    int spectral = v[K_PARTITION].choice == MS_PART_SPECTRAL;
    if (!spectral && v[K_WARMUP].given)
        return fail(c, v[K_WARMUP].line, "warmup_epochs applies only to partition = spectral");
    double max_lambda = 0;
    for (int i = 0; i < v[K_LAMBDA].n; i++)
        if (v[K_LAMBDA].num[i] > max_lambda) max_lambda = v[K_LAMBDA].num[i];
    if (max_lambda > 0 && !v[K_REG_LAYERS].mask) {
        if (v[K_REG_LAYERS].given)
            return fail(c, v[K_REG_LAYERS].line,
                        "layers = none, but lambda > 0 needs at least one regularised layer");
        return fail(c, pick_line(c, K_LAMBDA, -1),
                    "lambda > 0 needs at least one regularised layer, but the default layers = fc2 "
                    "does not exist in a model with %d fc layer%s; set layers",
                    n_fc, n_fc > 1 ? "s" : "");
    }
    int warmup = (int)v[K_WARMUP].num[0], epochs = (int)v[K_EPOCHS].num[0];
    if (spectral && max_lambda > 0 && warmup >= epochs)
        return fail(
            c, pick_line(c, K_WARMUP, K_EPOCHS, K_PARTITION, -1),
            "warmup_epochs = %d must be less than epochs = %d with partition = spectral and "
            "lambda > 0 (the partition is fixed after the warm-up epochs)",
            warmup, epochs);
    for (int l = 0; l < n_fc; l++) {
        int cap = layer_cap(c, l);
        if (v[K_REG_LAYERS].mask >> l & 1u)
            for (int i = 0; i < v[K_K].n; i++)
                if (v[K_K].num[i] > cap)
                    return fail(
                        c, pick_line(c, K_K, K_REG_LAYERS, K_HIDDEN, -1),
                        "k = %d is larger than regularised layer fc%d (%d x %d): at most %d "
                        "clusters fit",
                        (int)v[K_K].num[i], l + 1, c->arch.fc_out[l], c->dims.fc_in[l], cap);
        if (v[K_BSGC].mask >> l & 1u)
            for (int i = 0; i < v[K_CURVE_K].n; i++)
                if (v[K_CURVE_K].num[i] > cap)
                    return fail(
                        c, pick_line(c, K_CURVE_K, K_BSGC, K_HIDDEN, K_ARCH, -1),
                        "curve_k value %d is larger than bsgc layer fc%d (%d x %d): at most "
                        "%d clusters fit; lower curve_k or change bsgc_layers",
                        (int)v[K_CURVE_K].num[i], l + 1, c->arch.fc_out[l], c->dims.fc_in[l], cap);
    }
    return 0;
}

/* A list of names (comma or space separated, or none) as a bit set over
 * names[] into v[k].mask. */
static int parse_name_set(ctx_t *c, int k, const char *const *names, int n) {
    val_t *v = &c->v[k];
    char buf[RAW_MAX];
    copy_str(buf, sizeof buf, v->str);
    lower(buf);
    v->mask = 0;
    if (strcmp(trim(buf), "none") == 0) return 0;
    for (char *save = NULL, *tok = strtok_r(buf, ", \t", &save); tok;
         tok = strtok_r(NULL, ", \t", &save)) {
        int i = 0;
        while (i < n && strcmp(tok, names[i]) != 0) i++;
        if (i == n) {
            char list[256] = {0};
            for (int j = 0; j < n; j++)
                snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s", j ? ", " : "",
                         names[j]);
            return fail(c, v->line, "%s: unknown value '%s' (choose from %s, or none)",
                        key_table[k].name, tok, list);
        }
        if (v->mask >> i & 1u)
            return fail(c, v->line, "%s: '%s' is listed twice", key_table[k].name, tok);
        v->mask |= 1u << i;
    }
    return 0;
}

static int resolve_prune(ctx_t *c) {
    const char *kinds[MS_ABL_KINDS], *methods[MS_CM_METHODS];
    for (int i = 0; i < MS_ABL_KINDS; i++) kinds[i] = ms_ablation_kind_name(i);
    for (int i = 0; i < MS_CM_METHODS; i++) methods[i] = ms_circuit_method_name(i);
    if (parse_name_set(c, K_ABLATION, kinds, MS_ABL_KINDS) ||
        parse_name_set(c, K_METHODS, methods, MS_CM_METHODS))
        return MS_ECONFIG;
    if ((c->v[K_METHODS].mask || c->v[K_SIZES].n) && !c->v[K_ABLATION].mask)
        return fail(c, pick_line(c, K_ABLATION, K_METHODS, K_SIZES, -1),
                    "methods and sizes are judged on held-out images: list at least one "
                    "ablation kind (zero, mean, resample)");
    if (c->v[K_SIZES].n && !c->v[K_METHODS].mask)
        return fail(c, c->v[K_SIZES].line, "sizes needs at least one of methods");
    return parse_layers(c, K_PRUNE_LAYERS, c->arch.n_fc);
}

/* The single fc layer of a layer set (its 0-based index), or -1 for none. */
static int single_layer(uint32_t mask) {
    for (int l = 0; l < MS_MAX_FC; l++)
        if (mask >> l & 1u) return l;
    return -1;
}

static int count_layers(uint32_t mask) {
    int n = 0;
    for (int l = 0; l < MS_MAX_FC; l++) n += (int)(mask >> l & 1u);
    return n;
}

static int resolve_measures(ctx_t *c) {
    val_t *v = c->v;
    const ms_arch_t *a = &c->arch;
    const int n_fc = a->n_fc;
    if (parse_layers(c, K_INFO_LAYERS, n_fc) || parse_layers(c, K_ABLATE_LAYER, n_fc) ||
        parse_layers(c, K_ASSOC_LAYERS, n_fc))
        return MS_ECONFIG;
    /* Information measures: pairs of layers, and unit sets that leave units outside P. */
    uint32_t info = v[K_INFO_LAYERS].mask;
    if (info && count_layers(info) < 2)
        return fail(c, v[K_INFO_LAYERS].line,
                    "info_layers needs at least two fc layers (the measures compare pairs)");
    int last_info = -1;
    for (int l = 0; l < n_fc; l++)
        if (info >> l & 1u) last_info = l;
    int size = (int)v[K_UNITSET_SIZE].num[0];
    if (!v[K_UNITSET_SIZE].given) {
        /* The default (10) fitted to the narrowest info layer but the last. */
        int narrow = -1;
        for (int l = 0; l < last_info; l++)
            if ((info >> l & 1u) && (narrow < 0 || a->fc_out[l] < a->fc_out[narrow])) narrow = l;
        if (narrow >= 0 && size >= a->fc_out[narrow] && a->fc_out[narrow] >= 2) {
            note_chosen(c,
                        "unitset_size = %d (the default %d is not less than info layer fc%d's "
                        "width %d)",
                        a->fc_out[narrow] - 1, size, narrow + 1, a->fc_out[narrow]);
            size = a->fc_out[narrow] - 1;
            v[K_UNITSET_SIZE].num[0] = v[K_UNITSET_SIZE].exact[0] = size;
        }
    }
    for (int l = 0; l < last_info; l++)
        if ((info >> l & 1u) && size >= a->fc_out[l])
            return fail(c, pick_line(c, K_UNITSET_SIZE, K_INFO_LAYERS, K_HIDDEN, -1),
                        "unitset_size = %d must be less than the width of fc%d (%d): the module "
                        "comparisons need units outside the unit set",
                        size, l + 1, a->fc_out[l]);
    /* Ablation: one layer; the default number of directions is its width. */
    uint32_t abl = v[K_ABLATE_LAYER].mask;
    if (count_layers(abl) > 1)
        return fail(c, v[K_ABLATE_LAYER].line, "ablate_layer takes one fc layer (or none)");
    if (!v[K_DIRECTIONS].given) {
        v[K_DIRECTIONS].n = 1;
        v[K_DIRECTIONS].num[0] = abl ? a->fc_out[single_layer(abl)] : 0;
    } else if (!abl) {
        return fail(c, v[K_DIRECTIONS].line, "directions applies only with an ablate_layer");
    }
    /* Associations: hidden layers of an mlp (the input Jacobian is taken through fc layers). */
    uint32_t assoc = v[K_ASSOC_LAYERS].mask;
    if (assoc && c->is_cnn)
        return fail(c, pick_line(c, K_ASSOC_LAYERS, K_ARCH, -1),
                    "assoc_layers needs arch = mlp (forward_jac differentiates a hidden layer "
                    "with respect to the input image through fc layers only)");
    if (assoc >> (n_fc - 1) & 1u)
        return fail(c, v[K_ASSOC_LAYERS].line,
                    "assoc_layers: fc%d gives the logits; associations are of hidden layers "
                    "(fc1..fc%d)",
                    n_fc, n_fc - 1);
    /* Conv measures. */
    if (!c->is_cnn) {
        static const int conv_keys[] = {K_HEBBIAN, K_SPARSE_EVERY, K_SPARSE_K1, K_SPARSE_K2};
        for (int i = 0; i < 4; i++) {
            int k = conv_keys[i];
            if (v[k].given && !(k == K_HEBBIAN && !v[k].choice) &&
                !(k == K_SPARSE_EVERY && v[k].num[0] == 0))
                return fail(c, v[k].line, "%s is only for arch = cnn (an mlp has no conv layers)",
                            key_table[k].name);
        }
    }
    int kk = a->conv_k * a->conv_k;
    int sparse = v[K_SPARSE_EVERY].num[0] > 0;
    for (int k = K_SPARSE_K1; k <= K_SPARSE_K2; k++) {
        if (v[k].given && !sparse)
            return fail(c, v[k].line, "%s applies only with sparse_every > 0", key_table[k].name);
        if (!v[k].given) {
            int def = (int)floor((k == K_SPARSE_K1 ? 0.1 : 0.15) * kk);
            v[k].n = 1;
            v[k].num[0] = def > 1 ? def : 1;
        }
    }
    int k1 = (int)v[K_SPARSE_K1].num[0], k2 = (int)v[K_SPARSE_K2].num[0];
    if (sparse && k2 < k1)
        return fail(c, pick_line(c, K_SPARSE_K2, K_SPARSE_K1, -1),
                    "sparse_k2 = %d is less than sparse_k1 = %d (k2 counts the k1 kept "
                    "connections too)",
                    k2, k1);
    if (sparse && k2 > kk)
        return fail(c, pick_line(c, K_SPARSE_K2, K_SPARSE_K1, K_KERNEL, -1),
                    "sparse_k2 = %d is more than the %d connections of a %dx%d kernel slice", k2,
                    kk, a->conv_k, a->conv_k);
    return 0;
}

/* The number of models, refusing grids above MAX_MODELS. */
static int resolve_models(ctx_t *c, int *n_models) {
    double m = 1;
    int widest = -1;
    for (int k = 0; k < N_KEYS; k++)
        if (key_table[k].flags & F_SWEEP) {
            m *= c->v[k].n;
            if (widest < 0 || c->v[k].n > c->v[widest].n) widest = k;
        }
    if (m > MAX_MODELS)
        return fail(c, pick_line(c, widest, -1),
                    "the grid has %.0f models (the product of the axes' "
                    "lengths); at most %d",
                    m, MAX_MODELS);
    *n_models = (int)m;
    return 0;
}

/* ---- filling the grid --------------------------------------------------- */

/* A growing string for the resolved text. */
typedef struct strbuf {
    char *s;
    size_t len, cap;
    int oom;
} strbuf_t;

__attribute__((format(printf, 2, 3))) static void sb_printf(strbuf_t *b, const char *fmt, ...) {
    if (b->oom) return;
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->s ? b->s + b->len : NULL, b->s ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->s && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = b->cap ? b->cap : 4096;
        while (cap <= b->len + (size_t)n)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
}

/* Writes the canonical value of key k. */
static void format_key(const ctx_t *c, int k, strbuf_t *b) {
    const key_def_t *d = &key_table[k];
    const val_t *v = &c->v[k];
    char t[64];
    switch (d->type) {
    case T_STR:
        sb_printf(b, "%s", v->str);
        break;
    case T_ENUM:
        sb_printf(b, "%s", d->choices[v->choice]);
        break;
    case T_BOOL:
        sb_printf(b, "%s", v->choice ? "true" : "false");
        break;
    case T_LAYERS:
        if (!v->mask) sb_printf(b, "none");
        for (int l = 0, first = 1; l < MS_MAX_FC; l++)
            if (v->mask >> l & 1u) {
                sb_printf(b, "%sfc%d", first ? "" : ", ", l + 1);
                first = 0;
            }
        break;
    default:
        if (!v->n) sb_printf(b, "none");
        for (int i = 0; i < v->n; i++) {
            format_num(k, v->num[i], t, sizeof t);
            sb_printf(b, "%s%s", i ? ", " : "", t);
        }
        break;
    }
}

static uint64_t fnv1a64(const char *s, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static int fill_grid(ctx_t *c, ms_grid_t *g, int n_models) {
    const val_t *v = c->v;
    ms_settings_t *s = &g->base;
    /* [data] */
    s->data.kind = (ms_dataset_kind_t)c->kind;
    copy_str(s->data.dir, sizeof s->data.dir, v[K_DIR].str);
    s->data.layout = (ms_layout_kind_t)v[K_LAYOUT].choice;
    s->data.norm = (ms_norm_t)(v[K_NORMALIZE].choice - 1);
    for (int i = 0; i < 3; i++) {
        /* Unused statistics are the identity (mean 0, std 1). */
        s->data.mean[i] = v[K_MEAN].n ? (float)v[K_MEAN].num[i < v[K_MEAN].n ? i : 0] : 0.0f;
        s->data.std[i] = v[K_STD].n ? (float)v[K_STD].num[i < v[K_STD].n ? i : 0] : 1.0f;
    }
    s->data.train_limit = (int)v[K_TRAIN_LIMIT].num[0];
    s->data.test_limit = (int)v[K_TEST_LIMIT].num[0];
    if (v[K_DATASET].choice == DATASET_PLANTED) {
        g->planted.blocks = (int)v[K_PL_BLOCKS].num[0];
        g->planted.sub = (int)v[K_PL_SUB].num[0];
        g->planted.task = v[K_PL_TASK].choice;
        g->planted.n_train = (int)v[K_PL_TRAIN].num[0];
        g->planted.n_test = (int)v[K_PL_TEST].num[0];
        g->planted.seed = (uint64_t)v[K_PL_SEED].num[0];
    }
    /* [model] */
    s->arch = c->arch;
    s->arch_is_cnn = c->is_cnn;
    /* [train] */
    s->seed = (uint64_t)v[K_SEED].num[0];
    s->optimizer = v[K_OPTIMIZER].choice;
    s->lr = (float)v[K_LR].num[0];
    s->momentum = (float)v[K_MOMENTUM].num[0];
    s->beta1 = (float)v[K_BETA1].num[0];
    s->beta2 = (float)v[K_BETA2].num[0];
    s->eps = (float)v[K_EPS].num[0];
    s->l1 = (float)v[K_L1].num[0];
    s->l2 = (float)v[K_L2].num[0];
    s->epochs = (int)v[K_EPOCHS].num[0];
    s->batch = (int)v[K_BATCH].num[0];
    /* [cluster] */
    s->lambda = (float)v[K_LAMBDA].num[0];
    s->k = (int)v[K_K].num[0];
    s->reg_layers = v[K_REG_LAYERS].mask;
    s->partition = v[K_PARTITION].choice;
    s->warmup_epochs = (int)v[K_WARMUP].num[0];
    s->gradsim_layers = v[K_GRADSIM].mask;
    s->bsgc_layers = v[K_BSGC].mask;
    s->n_curve_k = v[K_CURVE_K].n;
    for (int i = 0; i < s->n_curve_k; i++)
        s->curve_k[i] = (int)v[K_CURVE_K].num[i];
    s->kmeans_restarts = (int)v[K_RESTARTS].num[0];
    s->ablate = v[K_ABLATE].choice;
    /* [prune] */
    s->prune_layers = v[K_PRUNE_LAYERS].mask;
    s->prune_samples = (int)v[K_SAMPLES].num[0];
    s->prune_window = (int)v[K_WINDOW].num[0];
    s->prune_naive = v[K_METHOD].choice;
    s->prune_find_train = v[K_FIND_SET].choice;
    s->prune_kinds = v[K_ABLATION].mask;
    s->prune_methods = v[K_METHODS].mask;
    s->prune_ig_steps = (int)v[K_IG_STEPS].num[0];
    s->prune_n_sizes = v[K_SIZES].n;
    for (int i = 0; i < s->prune_n_sizes; i++) s->prune_sizes[i] = v[K_SIZES].num[i];
    /* [measures] */
    ms_meas_cfg_t *me = &s->meas;
    me->untrained = v[K_M_UNTRAINED].choice;
    me->samples = (int)v[K_M_SAMPLES].num[0];
    me->info_layers = v[K_INFO_LAYERS].mask;
    me->info_bins = (int)v[K_INFO_BINS].num[0];
    me->unitset_size = (int)v[K_UNITSET_SIZE].num[0];
    me->unitset_draws = (int)v[K_UNITSET_DRAWS].num[0];
    me->ablate_layer = single_layer(v[K_ABLATE_LAYER].mask);
    me->directions = (int)v[K_DIRECTIONS].num[0];
    me->maxkl_starts = (int)v[K_MAXKL_STARTS].num[0];
    me->maxkl_iters = (int)v[K_MAXKL_ITERS].num[0];
    me->assoc_layers = v[K_ASSOC_LAYERS].mask;
    me->assoc_store = v[K_ASSOC_STORE].choice;
    me->mc_steps = (int)v[K_MC_STEPS].num[0];
    me->mc_entropy = (float)v[K_MC_ENTROPY].num[0];
    me->null_shuffles = (int)v[K_NULL_SHUFFLES].num[0];
    me->hebbian = v[K_HEBBIAN].choice;
    me->sparse_every = (int)v[K_SPARSE_EVERY].num[0];
    me->sparse_k1 = (int)v[K_SPARSE_K1].num[0];
    me->sparse_k2 = (int)v[K_SPARSE_K2].num[0];
    /* [null] */
    s->null_weight_shuffles = (int)v[K_SHUFFLES].num[0];
    /* Axes, labels and [sweep]. */
    for (int k = 0; k < N_KEYS; k++) {
        if (!(key_table[k].flags & F_SWEEP)) continue;
        int a = key_table[k].axis;
        g->n_values[a] = v[k].n;
        memcpy(g->values[a], v[k].num, sizeof(double) * v[k].n);
        memcpy(g->written[a], v[k].exact, sizeof(double) * v[k].n);
    }
    g->n_models = n_models;
    g->n_labels = v[K_LABELS].n;
    for (int i = 0; i < g->n_labels; i++)
        g->labels[i] = (int)v[K_LABELS].num[i];
    copy_str(g->name, sizeof g->name, v[K_NAME].str);
    copy_str(g->chosen, sizeof g->chosen, c->chosen);
    copy_str(g->output, sizeof g->output, v[K_OUTPUT].str);
    g->retries = (int)v[K_RETRIES].num[0];
    g->team = (int)v[K_TEAM].num[0];
    g->threads = (int)v[K_THREADS].num[0];
    g->device = v[K_DEVICE].choice;
    g->store_weights = v[K_STORE_WEIGHTS].choice;
    /* The resolved text and its hash. */
    strbuf_t b = {0};
    /* results_hash covers the same lines without the F_RUN keys. */
    uint64_t rh = 0xcbf29ce484222325ull;
    for (int k = 0; k < N_KEYS; k++) {
        /* The planted_* keys only for dataset = planted: other grids keep their hashes. */
        if (k >= K_PL_BLOCKS && k <= K_PL_SEED && v[K_DATASET].choice != DATASET_PLANTED)
            continue;
        size_t start = b.len;
        sb_printf(&b, "%s.%s = ", section_names[key_table[k].section], key_table[k].name);
        format_key(c, k, &b);
        sb_printf(&b, "\n");
        if (b.oom || (key_table[k].flags & F_RUN)) continue;
        for (size_t i = start; i < b.len; i++) {
            rh ^= (unsigned char)b.s[i];
            rh *= 0x100000001b3ull;
        }
    }
    if (b.oom) {
        free(b.s);
        return ms_err_set(MS_ENOMEM, "%s: out of memory for the resolved settings", c->file);
    }
    g->resolved = b.s;
    g->hash = fnv1a64(b.s, b.len);
    g->results_hash = rh;
    return 0;
}

/* The line of a key named by section and name, for gpu_support.c. */
static int key_line_of(const void *vc, const char *section, const char *name) {
    const int k = key_find(section_find(section), name);
    return k < 0 ? 1 : pick_line(vc, k, -1);
}

/* ---- the public entry points -------------------------------------------- */

/* Parses text (owned: stored in g->text on success, freed on failure). */
static int parse_owned(ms_grid_t *g, const char *file, char *text) {
    memset(g, 0, sizeof *g);
    if (strlen(file) >= sizeof g->path) {
        free(text);
        return ms_err_set(MS_ECONFIG, "%.64s...: the grid file's path is too long", file);
    }
    ctx_t *c = calloc(1, sizeof *c);
    if (!c) {
        free(text);
        return ms_err_set(MS_ENOMEM, "%s: out of memory", file);
    }
    c->file = file;
    c->pos = text;
    c->end = text + strlen(text);
    int rc = ini_parse_stream(read_line, c, on_pair, c);
    if (rc != 0 && !c->failed) {
        /* read_line lets only comments, headers and key lines through, so
         * inih should find nothing more; report whatever it did find. */
        if (rc > 0)
            fail(c, rc, "cannot parse this line");
        else
            fail(c, 0, "the INI parser failed (%d)", rc);
    }
    if (!c->failed) {
        /* A grid that sets nothing would run the whole default sweep (a CNN
         * on every training image, ten labels): almost surely a wrong or
         * empty file, so it is refused. */
        int any = 0;
        for (int k = 0; k < N_KEYS; k++)
            any |= c->v[k].given;
        if (!any)
            fail(c, 0,
                 "the grid sets no key (the file is empty or holds only comments and section "
                 "headers); write the settings of the sweep (modsweep --keys lists them)");
    }
    for (int k = 0; k < N_KEYS && !c->failed; k++)
        parse_key(c, k);
    int n_models = 0;
    if (!c->failed) resolve_sweep(c);
    if (!c->failed) resolve_data(c);
    if (!c->failed) resolve_model(c);
    if (!c->failed) resolve_train(c);
    if (!c->failed) resolve_cluster(c);
    if (!c->failed) resolve_prune(c);
    if (!c->failed) resolve_measures(c);
    if (!c->failed) resolve_models(c, &n_models);
    int err = 0;
    if (c->failed) {
        err = ms_err_set(MS_ECONFIG, "%s", c->msg);
    } else {
        copy_str(g->path, sizeof g->path, file);
        err = fill_grid(c, g, n_models);
        if (!err) err = ms_grid_gpu_check(g, file, key_line_of, c); /* gpu_support.h */
    }
    free(c);
    if (err) {
        free(text);
        ms_grid_free(g);
        return err;
    }
    g->text = text;
    return 0;
}

int ms_grid_parse(ms_grid_t *g, const char *name, const char *text) {
    if (!g) return ms_err_set(MS_EINVAL, "ms_grid_parse: no grid");
    memset(g, 0, sizeof *g);
    if (!name) name = "<grid>";
    if (!text) return ms_err_set(MS_EINVAL, "%s: no text", name);
    char *copy = strdup(text);
    if (!copy) return ms_err_set(MS_ENOMEM, "%s: out of memory", name);
    return parse_owned(g, name, copy);
}

int ms_grid_load(ms_grid_t *g, const char *path) {
    if (!g) return ms_err_set(MS_EINVAL, "ms_grid_load: no grid");
    memset(g, 0, sizeof *g);
    if (!path) return ms_err_set(MS_EINVAL, "ms_grid_load: no path");
    FILE *f = fopen(path, "rb");
    if (!f) return ms_err_set(MS_EIO, "%s: cannot open: %s", path, strerror(errno));
    char *text = malloc(MAX_FILE_BYTES + 1);
    if (!text) {
        fclose(f);
        return ms_err_set(MS_ENOMEM, "%s: out of memory", path);
    }
    size_t n = fread(text, 1, MAX_FILE_BYTES + 1, f);
    int read_error = ferror(f);
    fclose(f);
    if (read_error) {
        free(text);
        return ms_err_set(MS_EIO, "%s: read error", path);
    }
    if (n > MAX_FILE_BYTES) {
        free(text);
        return ms_err_set(MS_ECONFIG, "%s: file too large for a grid (more than %d bytes)", path,
                          MAX_FILE_BYTES);
    }
    text[n] = '\0';
    const char *nul = memchr(text, '\0', n);
    if (nul) {
        int line = 1;
        for (const char *p = text; p < nul; p++)
            line += *p == '\n';
        free(text);
        return ms_err_set(MS_ECONFIG, "%s:%d: NUL byte in the file (not a text file?)", path, line);
    }
    char *fit = realloc(text, n + 1); /* give back the unused part of the buffer */
    return parse_owned(g, path, fit ? fit : text);
}

void ms_grid_free(ms_grid_t *g) {
    if (!g) return;
    free(g->text);
    free(g->resolved);
    memset(g, 0, sizeof *g);
}

void ms_grid_model_index(const ms_grid_t *g, int m, int idx[MS_N_AXES]) {
    /* Mixed radix, the last axis fastest. */
    for (int a = MS_N_AXES - 1; a >= 0; a--) {
        int n = g->n_values[a] > 0 ? g->n_values[a] : 1;
        idx[a] = m % n;
        m /= n;
    }
}

void ms_grid_model_settings(const ms_grid_t *g, int m, ms_settings_t *out) {
    int idx[MS_N_AXES];
    ms_grid_model_index(g, m, idx);
    *out = g->base;
    out->seed = (uint64_t)g->values[MS_AXIS_SEED][idx[MS_AXIS_SEED]];
    out->lambda = (float)g->values[MS_AXIS_LAMBDA][idx[MS_AXIS_LAMBDA]];
    out->k = (int)g->values[MS_AXIS_K][idx[MS_AXIS_K]];
    out->lr = (float)g->values[MS_AXIS_LR][idx[MS_AXIS_LR]];
    out->l1 = (float)g->values[MS_AXIS_L1][idx[MS_AXIS_L1]];
    out->l2 = (float)g->values[MS_AXIS_L2][idx[MS_AXIS_L2]];
    out->arch.dropout = (float)g->values[MS_AXIS_DROPOUT][idx[MS_AXIS_DROPOUT]];
}

void ms_grid_model_written(const ms_grid_t *g, int m, double out[MS_N_AXES]) {
    int idx[MS_N_AXES];
    ms_grid_model_index(g, m, idx);
    for (int a = 0; a < MS_N_AXES; a++)
        out[a] = g->written[a][idx[a]];
}

int ms_grid_key_line(const ms_grid_t *g, const char *section, const char *key) {
    if (!g || !g->text || !section || !key) return 0;
    int s = section_find(section), k = s < 0 ? -1 : key_find(s, key);
    if (k < 0) return 0;
    ctx_t *c = calloc(1, sizeof *c);
    if (!c) return 0;
    c->file = g->path;
    c->pos = g->text;
    c->end = g->text + strlen(g->text);
    ini_parse_stream(read_line, c, on_pair, c);
    int line = c->v[k].given ? c->v[k].line : 0;
    free(c);
    return line;
}

int ms_grid_key_range(const char *section, const char *key, long *lo, long *hi) {
    int s = section ? section_find(section) : -1, k = s < 0 || !key ? -1 : key_find(s, key);
    if (k < 0 || key_table[k].type != T_INT)
        return ms_err_set(MS_EINVAL, "no integer key [%s] %s", section ? section : "?",
                          key ? key : "?");
    *lo = (long)key_table[k].lo;
    *hi = (long)key_table[k].hi;
    return 0;
}

double ms_grid_train_estimate(const ms_grid_t *g, long n_train) {
    dims_t d;
    compute_dims(&g->base.arch, &d);
    /* As the plan: about 3 forward passes per image, 2 FLOP per multiply-add. */
    const double flop = 6.0 * d.macs * (double)n_train * g->base.epochs;
    return flop / (PLAN_GFLOPS_PER_RANK * 1e9);
}

/* ---- documentation and the dry-run plan --------------------------------- */

void ms_grid_print_keys(FILE *f) {
    char sw[128];
    sweepable_keys(sw, sizeof sw);
    fprintf(f,
            "Grid file keys (INI: [section] headers, 'key = value' lines, comments start a line "
            "with ';' or '#', or follow a value after ' ;').\n"
            "Lists: '0, 5, 20'; inclusive integer ranges: '0..9', '2..14:2' (step 2).\n"
            "Sweepable keys (%s) given several values become axes; every combination is one "
            "model, nested in that order (the first outermost).\n",
            sw);
    for (int s = 0; s < N_SECTIONS; s++) {
        fprintf(f, "\n[%s]\n", section_names[s]);
        for (int k = 0; k < N_KEYS; k++) {
            const key_def_t *d = &key_table[k];
            if (d->section != s) continue;
            char type[256], r[128];
            size_t len = (size_t)snprintf(type, sizeof type, "%s", type_names[d->type]);
            if (d->type == T_ENUM) {
                len += (size_t)snprintf(type + len, sizeof type - len, ":");
                for (int i = 0; d->choices[i]; i++)
                    len += (size_t)snprintf(type + len, sizeof type - len, "%s%s", i ? " | " : " ",
                                            d->choices[i]);
            }
            if (d->type == T_INT || d->type == T_FLOAT || d->type == T_INTS ||
                d->type == T_FLOATS || d->type == T_LABELS) {
                range_text(k, r, sizeof r);
                if (strcmp(r, "must be finite") != 0)
                    len += (size_t)snprintf(type + len, sizeof type - len, ", %s",
                                            r + strlen("must be "));
            }
            if (d->flags & F_SWEEP)
                len += (size_t)snprintf(type + len, sizeof type - len, ", sweepable");
            if (d->flags & F_RUN)
                len += (size_t)snprintf(type + len, sizeof type - len, ", may change on resume");
            if (d->max_n > 1 && !(d->flags & F_SWEEP))
                snprintf(type + len, sizeof type - len, ", at most %d values", d->max_n);
            fprintf(f, "  %-15s %s\n", d->name, type);
            fprintf(f, "  %-15s default: %s\n", "", d->def ? d->def : d->def_doc);
            fprintf(f, "  %-15s %s\n", "", d->doc);
        }
    }
}

/* Writes a float with format_float (for plan lines). */
static const char *ffmt(char *buf, size_t n, double x) {
    format_float(buf, n, x);
    return buf;
}

static void print_mask(FILE *f, uint32_t mask) {
    if (!mask) fprintf(f, "none");
    for (int l = 0, first = 1; l < MS_MAX_FC; l++)
        if (mask >> l & 1u) {
            fprintf(f, "%sfc%d", first ? "" : ", ", l + 1);
            first = 0;
        }
}

/* Writes one axis value: integers in full, floats as format_float. */
static void print_axis_value(FILE *f, int axis, double x, int width) {
    char t[64];
    if (axis == MS_AXIS_SEED || axis == MS_AXIS_K)
        snprintf(t, sizeof t, "%lld", (long long)x);
    else
        format_float(t, sizeof t, x);
    fprintf(f, " %*s", width, t);
}

static void print_model_row(FILE *f, const ms_grid_t *g, int m) {
    int idx[MS_N_AXES];
    ms_grid_model_index(g, m, idx);
    fprintf(f, "  %7d", m);
    for (int a = 0; a < MS_N_AXES; a++)
        if (g->n_values[a] > 1) print_axis_value(f, a, g->values[a][idx[a]], 12);
    fprintf(f, "\n");
}

/* The [measures] line of the plan. */
static void print_measures_plan(FILE *f, const ms_settings_t *s) {
    const ms_meas_cfg_t *me = &s->meas;
    fprintf(f, "measures:");
    int any = 0;
    if (me->info_layers) {
        fprintf(f, " information of ");
        print_mask(f, me->info_layers);
        fprintf(f, " (%d bins, %d unit sets of %d);", me->info_bins, me->unitset_draws,
                me->unitset_size);
        any = 1;
    }
    if (me->ablate_layer >= 0) {
        fprintf(f, " ablation of fc%d (%d random directions, max-KL direction from %d starts);",
                me->ablate_layer + 1, me->directions, me->maxkl_starts + 1);
        any = 1;
    }
    if (me->assoc_layers) {
        fprintf(f, " associations of ");
        print_mask(f, me->assoc_layers);
        fprintf(f, " (modularity: %d Monte-Carlo moves, %d null shuffles);", me->mc_steps,
                me->null_shuffles);
        any = 1;
    }
    if (me->hebbian) fprintf(f, " Hebbian conv strengths;"), any = 1;
    if (me->sparse_every)
        fprintf(f, " dynamic sparse conv training every %d steps (k1 %d, k2 %d);",
                me->sparse_every, me->sparse_k1, me->sparse_k2),
            any = 1;
    if (!any) fprintf(f, " none");
    else if (me->untrained) fprintf(f, " also for the untrained initialisations");
    fprintf(f, "\n");
}

void ms_grid_print_plan(const ms_grid_t *g, FILE *f) {
    const ms_settings_t *s = &g->base;
    const ms_arch_t *a = &s->arch;
    dims_t d;
    compute_dims(a, &d);
    char t1[64], t2[64], t3[64];

    fprintf(f, "grid %s: sweep '%s', settings hash %016" PRIx64 "\n", g->path, g->name, g->hash);
    fprintf(f, "output: %s%s\n", g->output, g->store_weights ? " (with trained weights)" : "");
    static const char *const dev[] = {"cpu", "cuda", "auto"};
    fprintf(f, "run: device %s, threads per rank %s, team %d, retries %d\n", dev[g->device],
            g->threads ? (snprintf(t1, sizeof t1, "%d", g->threads), t1) : "automatic", g->team,
            g->retries);

    /* Data. */
    int cifar = s->data.kind == MS_DATA_CIFAR10;
    int train_n = cifar ? CIFAR_TRAIN_N : MNIST_TRAIN_N, test_n = TEST_N;
    if (s->data.train_limit && s->data.train_limit < train_n) train_n = s->data.train_limit;
    if (s->data.test_limit && s->data.test_limit < test_n) test_n = s->data.test_limit;
    static const char *const norm[] = {"none", "unit", "meanstd"};
    fprintf(f, "data: %s in %s, layout %s, normalize %s", dataset_choices[s->data.kind],
            s->data.dir, layout_choices[s->data.layout], norm[s->data.norm]);
    if (s->data.norm == MS_NORM_MEANSTD) {
        fputs(" (mean", f);
        for (int i = 0; i < a->in_c && i < 3; i++)
            fprintf(f, " %s", ffmt(t1, sizeof t1, s->data.mean[i]));
        fputs(", std", f);
        for (int i = 0; i < a->in_c && i < 3; i++)
            fprintf(f, " %s", ffmt(t1, sizeof t1, s->data.std[i]));
        fputs(")", f);
    }
    fprintf(f, "; %d training and %d test images (at most)\n", train_n, test_n);

    /* Model. */
    fprintf(f, "model: %s, input %dx%dx%d", s->arch_is_cnn ? "cnn" : "mlp", a->in_c, a->in_h,
            a->in_w);
    for (int i = 0; i < a->n_conv; i++)
        fprintf(f, ", conv%d %d (%dx%d, padding %d%s) + maxpool 2x2", i + 1, a->conv_c[i],
                a->conv_k, a->conv_k, a->conv_pad, a->conv_bias ? "" : ", no bias");
    fprintf(f, ", fc %d", d.fc_in[0]);
    for (int l = 0; l < a->n_fc; l++)
        fprintf(f, "-%d", a->fc_out[l]);
    fprintf(f, " (%s)\n", a->fc_bias ? "with bias" : "no bias");
    fprintf(f, "  %.0f parameters, %.0f of them fc weights (the pruning candidates)\n", d.n_params,
            d.n_fc_weights);

    /* Training and analysis settings that hold for every model. */
    fprintf(f, "train: %s", s->optimizer == MS_OPT_ADAM ? "adam" : "sgd");
    if (s->optimizer == MS_OPT_ADAM)
        fprintf(f, " (betas %s, %s, eps %s)", ffmt(t1, sizeof t1, s->beta1),
                ffmt(t2, sizeof t2, s->beta2), ffmt(t3, sizeof t3, s->eps));
    else
        fprintf(f, " (momentum %s)", ffmt(t1, sizeof t1, s->momentum));
    fprintf(f, ", batch %d, %d epoch%s\n", s->batch, s->epochs, s->epochs > 1 ? "s" : "");
    fprintf(f, "cluster: regularised layers ");
    print_mask(f, s->reg_layers);
    fprintf(f, ", partition %s", partition_choices[s->partition]);
    if (s->partition == MS_PART_SPECTRAL)
        fprintf(f, " after %d warm-up epoch(s)", s->warmup_epochs);
    fprintf(f, "; gradient similarity ");
    print_mask(f, s->gradsim_layers);
    fprintf(f, "; bsgc ");
    print_mask(f, s->bsgc_layers);
    fprintf(f, ", curve k");
    if (!s->n_curve_k) fprintf(f, " none");
    for (int i = 0; i < s->n_curve_k; i++)
        fprintf(f, "%s%d", i ? ", " : " ", s->curve_k[i]);
    fprintf(f, "; %d k-means restarts; ablation %s\n", s->kmeans_restarts,
            s->ablate ? "on" : "off");
    print_measures_plan(f, s);
    if (g->chosen[0]) fprintf(f, "defaults fitted to this architecture: %s\n", g->chosen);

    /* Axes and models. */
    int swept = 0;
    fprintf(f, "axes (outermost first):\n");
    for (int ax = 0; ax < MS_N_AXES; ax++) {
        fprintf(f, "  %-8s", axis_names[ax]);
        for (int i = 0; i < g->n_values[ax]; i++) {
            if (i) fputc(',', f);
            print_axis_value(f, ax, g->values[ax][i], 0);
        }
        fprintf(f, "%s\n", g->n_values[ax] > 1 ? "  (swept)" : "");
        swept += g->n_values[ax] > 1;
    }
    fprintf(f, "models: %d\n", g->n_models);
    if (swept) {
        fprintf(f, "  %7s", "model");
        for (int ax = 0; ax < MS_N_AXES; ax++)
            if (g->n_values[ax] > 1) fprintf(f, " %12s", axis_names[ax]);
        fprintf(f, "\n");
        int rows = g->n_models <= PLAN_MAX_ROWS ? g->n_models : PLAN_MAX_ROWS - 10;
        for (int m = 0; m < rows; m++)
            print_model_row(f, g, m);
        if (rows < g->n_models) {
            fprintf(f, "  ... %d more models ...\n", g->n_models - rows - 10);
            for (int m = g->n_models - 10; m < g->n_models; m++)
                print_model_row(f, g, m);
        }
    }

    /* Labels and tasks. */
    fprintf(f, "labels:");
    for (int i = 0; i < g->n_labels; i++)
        fprintf(f, "%s%d", i ? ", " : " ", g->labels[i]);
    fprintf(f, "\n");
    long long M = g->n_models, L = g->n_labels;
    fprintf(
        f, "tasks: train %lld, analyse %lld, prune %lld (%lld models x %lld labels); %lld in all\n",
        M, M, M * L, M, L, 2 * M + M * L);

    /* The estimate. Training costs about 3 forward passes per image
     * (forward, and a backward pass of about twice its cost), 2 FLOP per
     * multiply-add. The naive pruner runs 2 forward passes of the label's
     * images through the fc layers per candidate weight. */
    double train_imgs = (double)train_n * s->epochs;
    double train_flop = 6.0 * d.macs * train_imgs;
    double cand = 0;
    for (int l = 0; l < a->n_fc; l++)
        if (s->prune_layers >> l & 1u) cand += (double)a->fc_out[l] * d.fc_in[l];
    double per_label = test_n / (double)MS_MAX_CLASSES;
    double prune_imgs = s->prune_samples
                            ? (s->prune_samples < per_label ? s->prune_samples : per_label)
                            : per_label;
    double naive_flop = cand * 2.0 * prune_imgs * 2.0 * d.fc_macs;
    double rate = PLAN_GFLOPS_PER_RANK * 1e9;
    fprintf(f, "estimate (rough, at %.0f GFLOP/s per CPU rank):\n", PLAN_GFLOPS_PER_RANK);
    fprintf(f, "  forward pass: %.3g MFLOP per image\n", 2.0 * d.macs / 1e6);
    fprintf(f,
            "  training: %.0f images x epochs per model, %.3g GFLOP, about %.3g s per model, "
            "%.3g CPU-hours for all %lld\n",
            train_imgs, train_flop / 1e9, train_flop / rate, train_flop * M / rate / 3600, M);
    fprintf(f,
            "  pruning: %.0f candidate weights per label, about %.0f images per label; the naive "
            "method would take %.3g GFLOP (%.3g s) per label, the fast method far less\n",
            cand, prune_imgs, naive_flop / 1e9, naive_flop / rate);
}
