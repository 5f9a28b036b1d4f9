/* The results file: one HDF5 file per sweep, written through parallel HDF5
 * (MPI-IO) by every rank, read with h5py.
 *
 * Layout (columnar): every dataset has the model index m as its first
 * dimension (group /models), or (m, label index) as its first two (group
 * /labels), followed by the column's own dimensions. All groups and datasets
 * are created collectively at full size when the sweep starts (into
 * "<file>.part", renamed once complete and flushed), so a results file either
 * does not exist or holds every dataset. Afterwards each rank writes its own
 * rows with independent writes and never creates or extends anything; a
 * task's status is written after its data. The file's attributes carry the
 * grid file's text, the resolved settings and their hash, modsweep's version,
 * build options and schema version.
 *
 * The columns are declared in tables (ms_col_t), one per module (this file's
 * core columns, cluster, prune, measures), so the schema documentation
 * (`modsweep --schema`, docs/schema.md) comes from the same place as the file. */
#ifndef MODSWEEP_RESULTS_H
#define MODSWEEP_RESULTS_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "modsweep/config.h"
#include "modsweep/nn.h"

#define MS_STR_LEN 256 /* fixed-length strings (reasons, host names) */

/* Task status values, in /models/status_train, /models/status_analyse and
 * /labels/status. */
typedef enum ms_status {
    MS_ST_PENDING = 0,
    MS_ST_DONE = 1,
    MS_ST_FAILED = 2, /* failed after all retries: see the reason column */
} ms_status_t;

typedef enum ms_task_kind { MS_TASK_TRAIN = 0, MS_TASK_ANALYSE = 1, MS_TASK_PRUNE = 2 } ms_task_kind_t;

/* The sizes every column's shape is made of, in one list: X(name, meaning).
 * It makes the fields of ms_dims_t, the symbolic trailing dimensions
 * MS_DIM_<name>, the root attributes dim_<name> of a results file and the
 * sizes table of the schema documentation, so they cannot drift apart. */
#define MS_DIMS(X)                                                                                 \
    X(M, "models")                                                                                 \
    X(L, "labels per model")                                                                       \
    X(S, "training steps per model (epochs x steps per epoch)")                                    \
    X(E, "epochs")                                                                                 \
    X(P, "parameters per model")                                                                   \
    X(NW, "prunable fc weights per model")                                                         \
    X(NFC, "fc layers")                                                                            \
    X(NC, "classes")                                                                               \
    X(NK, "k values of the clusterability curve")                                                  \
    X(NU, "fc units: the inputs and outputs of each fc layer, laid out layer by layer")            \
    X(NT, "tensors in the parameter buffer")                                                       \
    /* the cluster analyses' (cluster.h) */                                                        \
    X(KMAX, "largest k of the grid's k axis: the padded cluster dimension")                        \
    X(NG, "doubles of the gradient-similarity sums of the gradsim layers")                         \
    /* the measures' (measures.h; 0 when a measure is off) */                                      \
    X(NV, "variants analysed: 1 (trained) or 2 (trained, untrained initialisation)")               \
    X(NIP, "pairs of info layers")                                                                 \
    X(NID, "random unit sets drawn")                                                               \
    X(NAU, "units of the ablated layer")                                                           \
    X(NDIR, "random directions projected out")                                                     \
    X(NST, "starts of the max-KL direction search")                                                \
    X(NAL, "association layers")                                                                   \
    X(MU, "units of the widest association layer")                                                 \
    X(MUS, "MU when the association matrices are stored, else 0")                                  \
    X(NCW, "conv weights (Hebbian strengths)")                                                     \
    X(NCV, "conv layers with Hebbian strengths or dynamic sparse training")

typedef struct ms_dims {
#define MS_DIM_FIELD(name, doc) long name;
    MS_DIMS(MS_DIM_FIELD)
#undef MS_DIM_FIELD
    ms_layout_t layout;
} ms_dims_t;

/* Position of each size in MS_DIMS, and how many there are. */
enum {
#define MS_DIM_INDEX(name, doc) MS_DIMI_##name,
    MS_DIMS(MS_DIM_INDEX)
#undef MS_DIM_INDEX
    MS_N_DIMS
};

/* Symbolic trailing dimensions of a column (ms_col_t.dim): MS_DIM_<name> is
 * -1 - its position in MS_DIMS; literal sizes are positive. */
enum {
#define MS_DIM_SYMBOL(name, doc) MS_DIM_##name = -1 - MS_DIMI_##name,
    MS_DIMS(MS_DIM_SYMBOL)
#undef MS_DIM_SYMBOL
};

/* Fills dims for grid g whose training split has n_train images. */
void ms_dims_init(ms_dims_t *d, const ms_grid_t *g, int n_train);

typedef enum ms_row_kind {
    MS_ROW_MODEL = 0, /* first dimension M */
    MS_ROW_LABEL = 1, /* first dimensions M, L */
} ms_row_kind_t;

typedef enum ms_dtype {
    MS_DT_F32 = 0,
    MS_DT_F64,
    MS_DT_I8,
    MS_DT_U8,
    MS_DT_I32,
    MS_DT_I64,
    MS_DT_STR, /* fixed-length MS_STR_LEN, NUL-padded */
} ms_dtype_t;


/* Most trailing dimensions of a column. */
#define MS_COL_MAX_DIMS 5

/* One dataset of the file. */
typedef struct ms_col {
    const char *path;  /* "models/test_acc" */
    int row;           /* ms_row_kind_t */
    int dtype;         /* ms_dtype_t */
    int ndim;          /* trailing dimensions (0..MS_COL_MAX_DIMS) */
    int dim[MS_COL_MAX_DIMS]; /* MS_DIM_* or literal sizes */
    const char *doc;   /* meaning and units, for the schema documentation */
} ms_col_t;

/* The column tables of every module, each ended by an entry with path NULL. */
extern const ms_col_t ms_core_cols[];  /* results.c: settings, status, training */
extern const ms_col_t ms_prune_cols[]; /* prune_stage.c: circuits */
extern const ms_col_t ms_cluster_cols[]; /* analyse.c: partitions, BSGC, clusterability, ablation */
extern const ms_col_t ms_measures_cols[]; /* measures.c: seeds 002, 003, 004 */
extern const ms_col_t ms_machine_cols[]; /* machine.c: CPU, ISA path, BLAS core per task */
extern const ms_col_t ms_circuit_cols[];  /* circuit_stage.c: held-out circuits, methods */

typedef struct ms_results ms_results_t;

/* Creates path collectively over comm for grid g with sizes d: writes
 * "<path>.part", creates every dataset at full size (floats filled with NaN,
 * integers with 0, strings empty), writes the attributes and the per-model
 * settings columns, flushes, and renames it to path. Fails with MS_EIO if
 * path exists. */
int ms_results_create(ms_results_t **out, const char *path, MPI_Comm comm, const ms_grid_t *g,
                      const ms_dims_t *d);

/* ms_results_create, and: data_files (NULL: none) is stored as the root
 * attribute "data_files" (the data fingerprint, see safety.h); replace: an
 * existing file at path is replaced by the rename of the complete new file
 * (it stays untouched when the creation fails). */
int ms_results_create_ex(ms_results_t **out, const char *path, MPI_Comm comm, const ms_grid_t *g,
                         const ms_dims_t *d, const char *data_files, int replace);

/* Opens an existing file collectively over comm (MPI_COMM_SELF for one
 * process): checks the schema version (MS_ESCHEMA when another), reads the
 * dimensions and checks every dataset's shape and type against them
 * (MS_EFORMAT: missing, damaged or not a results file; MS_EHDF5 with
 * HDF5's message when HDF5 cannot read it). writable: for resuming; a file
 * without write permission is refused (MS_EIO), even for root, and so is a
 * file whose datasets are not stored as ms_results_create made them
 * (contiguous, allocated: h5repack'ed copies). Nothing is written to a file
 * this refuses. */
int ms_results_open(ms_results_t **out, const char *path, MPI_Comm comm, int writable);

/* Closes collectively; safe on NULL. */
int ms_results_close(ms_results_t *r);

/* The hashes (ms_grid_t.hash and .results_hash), resolved text and
 * dimensions stored in the file. */
uint64_t ms_results_grid_hash(const ms_results_t *r);
uint64_t ms_results_results_hash(const ms_results_t *r);
const char *ms_results_grid_resolved(const ms_results_t *r);
const char *ms_results_grid_text(const ms_results_t *r);
const ms_dims_t *ms_results_dims(const ms_results_t *r);
const char *ms_results_path(const ms_results_t *r);

/* Writes / reads one row of column `path` (independent I/O): the row of model
 * m (li = -1 for model columns) or of (m, li). buf holds the row's trailing
 * dimensions in C order, in the column's type (char[MS_STR_LEN] for strings). */
int ms_results_write(ms_results_t *r, const char *path, long m, long li, const void *buf);
int ms_results_read(ms_results_t *r, const char *path, long m, long li, void *buf);

/* Writes / reads `count` entries starting at `first` along the first
 * trailing dimension of a row (e.g. one epoch's steps of a curve). */
int ms_results_write_part(ms_results_t *r, const char *path, long m, long li, long first,
                          long count, const void *buf);
int ms_results_read_part(ms_results_t *r, const char *path, long m, long li, long first,
                         long count, void *buf);

/* Reads a whole column (every row) into buf. */
int ms_results_read_all(ms_results_t *r, const char *path, void *buf);

/* Transfers are split into pieces of at most this many bytes (default 1 GiB,
 * under MPI-IO's 2 GiB count limit); 0 restores the default. For tests. */
void ms__results_set_io_limit(size_t bytes);

/* Task bookkeeping: status (ms_status_t), attempts so far and the last
 * failure reason of a task; li is ignored for train and analyse tasks. */
int ms_results_set_status(ms_results_t *r, int kind, long m, long li, int status, int attempts,
                          const char *reason);
int ms_results_get_status(ms_results_t *r, int kind, long m, long li, int *status, int *attempts,
                          char *reason);

/* Reads the status of every task into arrays (train[M], analyse[M],
 * prune[M*L]); any may be NULL. A value that is no ms_status_t (a damaged
 * file) is MS_EFORMAT naming the task, as it is for ms_results_get_status
 * (which also refuses negative attempts). */
int ms_results_all_status(ms_results_t *r, int8_t *train, int8_t *analyse, int8_t *prune);

/* Reads every task's status and attempt count in task order (training of
 * models 0..M-1, then their analyses, then the prunings m * L + label index:
 * 2M + ML values); either array may be NULL. A status that is no ms_status_t
 * or a negative attempt count (a damaged file) is MS_EFORMAT naming it. */
int ms_results_all_tasks(ms_results_t *r, int8_t *status, int32_t *attempts);

/* Prints the schema (every column of every table) as a Markdown table. */
void ms_results_print_schema(FILE *f);

/* Size in elements of one row of a column, and the column's definition. */
const ms_col_t *ms_results_col(const char *path);
long ms_results_row_elems(const ms_results_t *r, const ms_col_t *c);

#endif
