/* The grid reader's own declarations, shared by its files (not a public
 * header): src/sweep/config.c (the key table, pass 1 with inih, filling the
 * grid, the entry points, --keys), config_values.c (pass 2: each key's text
 * into values), config_check.c (pass 3: defaults that depend on other keys,
 * and the cross-key rules) and plan.c (the dry-run plan). The keys
 * themselves are in config_keys.def. */
#ifndef MODSWEEP_SWEEP_CONFIG_INT_H
#define MODSWEEP_SWEEP_CONFIG_INT_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "modsweep/config.h"

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


/* Flags of key_def_t. */
#define F_LO_OPEN 1u  /* values must be > lo (else >= lo) */
#define F_HI_OPEN 2u  /* values must be < hi (else <= hi) */
#define F_NONE_OK 4u  /* the list may be empty: written `none` or left empty */
#define F_UNIQUE 8u   /* a value may appear only once */
#define F_FLOAT32 16u /* numbers are stored as float: checked after rounding */
#define F_SWEEP 32u   /* sweepable: a list becomes the axis key_def_t.axis */
#define F_RUN 64u     /* how the sweep runs, not what it computes: left out of results_hash */
#define F_OMIT_DEFAULT 128u /* left out of the resolved text (and hashes) while at its default:
                             * keys added after results schema 2, so older grids keep their hashes */

/* How a key's parsed value is stored into its field (key_def_t.dst). */
typedef enum store_kind {
    ST_INT,          /* int = the first number */
    ST_U64,          /* uint64_t = the first number */
    ST_F32,          /* float = the first number */
    ST_CHOICE,       /* int (or a C enum) = the choice index, a bool 0/1 */
    ST_CHOICE_LESS1, /* int (or a C enum) = the choice index - 1 (normalize: 0 is `default`) */
    ST_MASK,         /* uint32_t = the layer or name set */
    ST_LAYER,        /* int = the single layer of a layer set (0-based), or -1 */
    ST_STR,          /* char[] = the text */
    ST_INTS,         /* int[] = the numbers, their count into the int at count_off */
    ST_DOUBLES,      /* double[] = the numbers, their count into the int at count_off */
    ST_CHANNELS0,    /* float[3] = one value per channel (the first repeated); none: 0 */
    ST_CHANNELS1,    /* float[3] = the same; none: 1 */
} store_kind_t;

/* Where a key's value goes: a field of ms_grid_t.base (ms_settings_t) or of
 * ms_grid_t itself, or nowhere (a key a resolve pass reads into another). */
typedef enum dst_struct { DST_NONE = 0, DST_SETTINGS, DST_GRID } dst_struct_t;

typedef struct key_dst {
    int in;           /* dst_struct_t */
    int how;          /* store_kind_t */
    size_t off, size; /* the field's offset and size */
    size_t count_off; /* ST_INTS, ST_DOUBLES: offset of the int count */
} key_dst_t;

#define FIELD_SIZE(type, field) sizeof(((type *)0)->field)
#define SET_FIELD(how, field)                                                                     \
    { DST_SETTINGS, how, offsetof(ms_settings_t, field), FIELD_SIZE(ms_settings_t, field), 0 }
#define SET_LIST(how, field, count)                                                               \
    {                                                                                              \
        DST_SETTINGS, how, offsetof(ms_settings_t, field), FIELD_SIZE(ms_settings_t, field),      \
            offsetof(ms_settings_t, count)                                                         \
    }
#define GRID_FIELD(how, field)                                                                    \
    { DST_GRID, how, offsetof(ms_grid_t, field), FIELD_SIZE(ms_grid_t, field), 0 }
#define GRID_LIST(how, field, count)                                                              \
    { DST_GRID, how, offsetof(ms_grid_t, field), FIELD_SIZE(ms_grid_t, field), offsetof(ms_grid_t, count) }
#define NO_FIELD \
    { DST_NONE, 0, 0, 0, 0 }

typedef struct key_def {
    int section; /* section_id_t */
    const char *name;
    key_dst_t dst;              /* the field the value fills */
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

/* Keys, in table order (the order of `resolved` and of --keys): the ids of
 * the entries of config_keys.def. */
enum key_id {
#define MS_KEY(id, ...) id,
#include "config_keys.def"
#undef MS_KEY
    N_KEYS
};

/* Choices, in the order of the C enums they map to. */
__attribute__((unused)) static const char *const device_choices[] = {"cpu", "cuda", "auto", NULL}; /* ms_device_t */
__attribute__((unused)) static const char *const dataset_choices[] = {"mnist", "fashion-mnist", "cifar10",
                                              "planted", NULL}; /* ms_dataset_kind_t, then planted */
/* dataset = planted: generated IDX files read as mnist (planted.h). */
#define DATASET_PLANTED 3
__attribute__((unused)) static const char *const planted_task_choices[] = {"bars", "pairs", NULL}; /* ms_planted_task_t */
__attribute__((unused)) static const char *const layout_choices[] = {"native", "3x32x32", NULL}; /* ms_layout_kind_t */
/* normalize: index 0 is `default`; index i > 0 is ms_norm_t i - 1. */
__attribute__((unused)) static const char *const norm_choices[] = {"default", "none", "unit", "meanstd", NULL};
__attribute__((unused)) static const char *const arch_choices[] = {"mlp", "cnn", NULL};              /* arch_is_cnn */
__attribute__((unused)) static const char *const optimizer_choices[] = {"sgd", "adam", NULL};        /* ms_optimizer_t */
__attribute__((unused)) static const char *const partition_choices[] = {"blocks", "spectral", NULL}; /* ms_partition_t */
__attribute__((unused)) static const char *const method_choices[] = {"fast", "naive", NULL};         /* prune_naive */
__attribute__((unused)) static const char *const find_set_choices[] = {"test", "train", NULL};       /* prune_find_train */
__attribute__((unused)) static const char *const ref_choices[] = {"find", "train", NULL};            /* prune_ref_train */

#define NORM_DEFAULT 0

#define INF HUGE_VAL

__attribute__((unused)) static const char *const axis_names[MS_N_AXES] = {"seed", "lambda", "k",      "lr",
                                                  "l1",   "l2",     "dropout"};

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

/* The key table (config.c), made from config_keys.def. */
extern const key_def_t cfg_key_table[N_KEYS];

/* config.c: the context's error and the line to blame. */
__attribute__((format(printf, 3, 4))) int cfg_fail(ctx_t *c, int line, const char *fmt, ...);
int cfg_pick_line(const ctx_t *c, int first, ...);

/* config_values.c: text helpers, the canonical number text, pass 2. */
char *cfg_trim(char *s);
void cfg_lower(char *s);
void cfg_copy_str(char *dst, size_t n, const char *src);
int cfg_closeness(const char *typed, const char *name);
const char *cfg_nearest(const char *typed, const char *const *names);
void cfg_format_float(char *buf, size_t n, double x);
int cfg_is_int_type(int type);
void cfg_format_num(int k, double x, char *buf, size_t n);
void cfg_range_text(int k, char *buf, size_t n);
void cfg_sweepable_keys(char *buf, size_t n);
int cfg_parse_key(ctx_t *c, int k);
int cfg_parse_layers(ctx_t *c, int k, int n_fc);

/* config_check.c: shapes and pass 3 (the cross-key rules). */
void cfg_compute_dims(const ms_arch_t *a, dims_t *d);
int cfg_resolve_sweep(ctx_t *c);
int cfg_resolve_data(ctx_t *c);
int cfg_resolve_model(ctx_t *c);
int cfg_resolve_train(ctx_t *c);
int cfg_resolve_cluster(ctx_t *c);
int cfg_resolve_prune(ctx_t *c);
int cfg_resolve_measures(ctx_t *c);
int cfg_resolve_models(ctx_t *c, int *n_models);
int cfg_single_layer(uint32_t mask);

#endif
