/* The results file through parallel HDF5 (results.h).
 *
 * One output strategy: a single shared file opened with the MPI-IO driver.
 * Metadata operations (create, open, attributes, flush, close) are collective
 * with collective metadata I/O; row writes and reads are independent. Every
 * hid_t and herr_t is checked; HDF5's own error printing is switched off and
 * its innermost message is put into ours. */
#include "modsweep/results.h"
#include "modsweep/cluster.h"
#include "modsweep/error.h"
#include "modsweep/measures.h"
#include "modsweep/version.h"

#include "results_h5.h"
#include "tasks.h"

#include <errno.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ---- the core columns ------------------------------------------------------ */

const ms_col_t ms_core_cols[] = {
    {"models/seed", MS_ROW_MODEL, MS_DT_I64, 0, {0}, "training seed of the model"},
    {"models/lambda", MS_ROW_MODEL, MS_DT_F64, 0, {0},
     "clusterability regulariser weight as written in the grid (training used its float32 "
     "rounding)"},
    {"models/k", MS_ROW_MODEL, MS_DT_I32, 0, {0}, "clusters of the regulariser's partition"},
    {"models/lr", MS_ROW_MODEL, MS_DT_F64, 0, {0},
     "learning rate as written in the grid (training used its float32 rounding)"},
    {"models/l1", MS_ROW_MODEL, MS_DT_F64, 0, {0},
     "L1 penalty weight as written in the grid (training used its float32 rounding)"},
    {"models/l2", MS_ROW_MODEL, MS_DT_F64, 0, {0},
     "L2 penalty weight as written in the grid (training used its float32 rounding)"},
    {"models/dropout", MS_ROW_MODEL, MS_DT_F64, 0, {0},
     "dropout probability as written in the grid (training used its float32 rounding)"},
    {"models/status_train", MS_ROW_MODEL, MS_DT_I8, 0, {0},
     "training task: 0 pending, 1 done, 2 failed (written after the task's data)"},
    {"models/attempts_train", MS_ROW_MODEL, MS_DT_I32, 0, {0}, "training attempts so far"},
    {"models/reason_train", MS_ROW_MODEL, MS_DT_STR, 0, {0},
     "why the last training attempt failed (empty if none)"},
    {"models/status_analyse", MS_ROW_MODEL, MS_DT_I8, 0, {0},
     "analysis task: 0 pending, 1 done, 2 failed"},
    {"models/attempts_analyse", MS_ROW_MODEL, MS_DT_I32, 0, {0}, "analysis attempts so far"},
    {"models/reason_analyse", MS_ROW_MODEL, MS_DT_STR, 0, {0}, "why the last analysis failed"},
    {"models/host", MS_ROW_MODEL, MS_DT_STR, 0, {0}, "host that trained the model"},
    {"models/rank", MS_ROW_MODEL, MS_DT_I32, 0, {0}, "MPI rank that trained the model"},
    {"models/time_train", MS_ROW_MODEL, MS_DT_F64, 0, {0}, "wall seconds of training"},
    {"models/time_analyse", MS_ROW_MODEL, MS_DT_F64, 0, {0}, "wall seconds of the analyses"},
    {"models/train_loss", MS_ROW_MODEL, MS_DT_F32, 1, {MS_DIM_S},
     "cross-entropy of each training step's batch"},
    {"models/train_extra", MS_ROW_MODEL, MS_DT_F32, 1, {MS_DIM_S},
     "per-step clusterability of the regularised layers (NaN without regulariser)"},
    {"models/epoch_test_acc", MS_ROW_MODEL, MS_DT_F32, 1, {MS_DIM_E},
     "test accuracy after each epoch"},
    {"models/epoch_time", MS_ROW_MODEL, MS_DT_F32, 1, {MS_DIM_E},
     "wall seconds of each epoch's training steps"},
    {"models/test_acc", MS_ROW_MODEL, MS_DT_F64, 0, {0}, "test accuracy of the trained model"},
    {"models/test_loss", MS_ROW_MODEL, MS_DT_F64, 0, {0}, "mean test cross-entropy"},
    {"models/classwise_acc", MS_ROW_MODEL, MS_DT_F64, 1, {MS_DIM_NC},
     "test accuracy of each class"},
    {"models/params", MS_ROW_MODEL, MS_DT_F32, 1, {MS_DIM_P},
     "trained parameters in PyTorch state_dict order (attribute tensors lists them)"},
    {"labels/status", MS_ROW_LABEL, MS_DT_I8, 0, {0}, "prune task: 0 pending, 1 done, 2 failed"},
    {"labels/attempts", MS_ROW_LABEL, MS_DT_I32, 0, {0}, "prune attempts so far"},
    {"labels/reason", MS_ROW_LABEL, MS_DT_STR, 0, {0}, "why the last prune attempt failed"},
    {NULL, 0, 0, 0, {0}, NULL},
};

/* The column tables of every module, in file order. A module that stores
 * results declares its table in its header and adds it here. */
#define MAX_TABLES 8
static int col_tables(const ms_col_t *tables[MAX_TABLES]) {
    int n = 0;
    tables[n++] = ms_core_cols;
    tables[n++] = ms_prune_cols;
    tables[n++] = ms_cluster_cols;
    tables[n++] = ms_measures_cols;
    tables[n++] = ms_machine_cols;
    tables[n++] = ms_circuit_cols;
    return n;
}

#define MAX_COLS 512

/* ---- the open file ---------------------------------------------------------- */

struct ms_results {
    char path[MS_PATH_MAX];
    MPI_Comm comm;
    int rank, writable;
    int resume_checks; /* opened to resume (perhaps read-only first): check the layout */
    hid_t file, dxpl;
    ms_dims_t dims;
    uint64_t hash, results_hash;
    char *resolved, *text;
    int n_cols;
    const ms_col_t *cols[MAX_COLS];
    hid_t dset[MAX_COLS];
};

static hid_t h5_type(int dtype) {
    static hid_t str = -1;
    switch (dtype) {
    case MS_DT_F32:
        return H5T_NATIVE_FLOAT;
    case MS_DT_F64:
        return H5T_NATIVE_DOUBLE;
    case MS_DT_I8:
        return H5T_NATIVE_INT8;
    case MS_DT_U8:
        return H5T_NATIVE_UINT8;
    case MS_DT_I32:
        return H5T_NATIVE_INT32;
    case MS_DT_I64:
        return H5T_NATIVE_INT64;
    default:
        /* Made once per process (a failure returns -1, which every caller's
         * HDF5 call then reports). */
        if (str < 0) {
            hid_t t = H5Tcopy(H5T_C_S1);
            if (t < 0) return -1;
            if (H5Tset_size(t, MS_STR_LEN) < 0 || H5Tset_strpad(t, H5T_STR_NULLTERM) < 0) {
                H5Tclose(t);
                return -1;
            }
            str = t;
        }
        return str;
    }
}

/* The field of size i (its position in MS_DIMS). */
static long *dim_field(ms_dims_t *d, int i) {
    long *f[] = {
#define DIM_ADDR(name, doc) &d->name,
        MS_DIMS(DIM_ADDR)
#undef DIM_ADDR
    };
    return f[i];
}

static const char *dim_names[] = {
#define DIM_NAME(name, doc) #name,
    MS_DIMS(DIM_NAME)
#undef DIM_NAME
};

/* The size a column's trailing dimension stands for: a literal size, or the
 * grid's value of a symbolic one (MS_DIM_*). */
static long resolve_dim(const ms_dims_t *d, int dim) {
    if (dim >= 0 || dim < -MS_N_DIMS) return dim;
    return *dim_field((ms_dims_t *)d, -1 - dim);
}

/* Full shape of a column; returns its rank. */
static int col_shape(const ms_dims_t *d, const ms_col_t *c, hsize_t *shape) {
    int r = 0;
    shape[r++] = (hsize_t)d->M;
    if (c->row == MS_ROW_LABEL) shape[r++] = (hsize_t)d->L;
    for (int i = 0; i < c->ndim; i++) shape[r++] = (hsize_t)resolve_dim(d, c->dim[i]);
    return r;
}

const ms_col_t *ms_results_col(const char *path) {
    const ms_col_t *tables[MAX_TABLES];
    int nt = col_tables(tables);
    for (int t = 0; t < nt; t++)
        for (const ms_col_t *c = tables[t]; c->path; c++)
            if (strcmp(c->path, path) == 0) return c;
    return NULL;
}

long ms_results_row_elems(const ms_results_t *r, const ms_col_t *c) {
    long n = 1;
    for (int i = 0; i < c->ndim; i++) n *= resolve_dim(&r->dims, c->dim[i]);
    return n;
}

void ms_dims_init(ms_dims_t *d, const ms_grid_t *g, int n_train) {
    memset(d, 0, sizeof *d);
    ms_layout_init(&d->layout, &g->base.arch);
    const ms_layout_t *L = &d->layout;
    d->M = g->n_models;
    d->L = g->n_labels;
    d->E = g->base.epochs;
    d->S = (long)g->base.epochs * ((n_train + g->base.batch - 1) / g->base.batch);
    d->P = (long)L->n_params;
    d->NW = (long)L->n_fc_weights;
    d->NFC = L->arch.n_fc;
    d->NC = L->arch.fc_out[L->arch.n_fc - 1];
    d->NK = g->base.n_curve_k;
    d->NT = L->n_tensors;
    for (int l = 0; l < L->arch.n_fc; l++) d->NU += L->fc_in[l] + L->arch.fc_out[l];
    d->KMAX = ms_grid_kmax(g);
    d->NG = ms_gradsim_layout(L, g->base.gradsim_layers, NULL);
    ms_measures_dims(d, &g->base);
}

/* ---- create and open ------------------------------------------------------------- */

/* Returns rc, or an error when another rank of comm failed (collective). */
static int agree(int rc, MPI_Comm comm, const char *path) {
    int bad = rc != 0, any_bad = 0;
    if (MPI_Allreduce(&bad, &any_bad, 1, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS && !rc)
        return ms_err_set(MS_EMPI, "%s: MPI_Allreduce failed", path);
    if (!rc && any_bad) return ms_err_set(MS_EHDF5, "%s: failed on another rank", path);
    return rc;
}

/* Switches the file to MPI-IO atomic mode (collective). By MPI's default
 * consistency semantics a write by one rank is only guaranteed visible to a
 * read by another after sync-barrier-sync, and MPI_File_sync (H5Fflush) is
 * collective, which a task farm cannot call whenever one task ends. In
 * atomic mode a completed write is visible to every read that starts after
 * it (MPI 3.1 section 13.6.1); the scheduler orders the two by messages: a
 * rank reports a task done only after its writes returned, and the tasks
 * that read its rows (a model's analysis and prunings read its params) are
 * handed out only after that report. Rows are small, so the cost (a lock
 * per access on some file systems) is negligible. */
static int set_atomic(ms_results_t *r) {
    int size = 1;
    if (MPI_Comm_size(r->comm, &size) != MPI_SUCCESS)
        return ms_err_set(MS_EMPI, "%s: MPI_Comm_size failed", r->path);
    if (size == 1 || !r->writable) return 0;
    if (H5Fset_mpi_atomicity(r->file, 1) < 0)
        return h5_fail(r->path, "cannot switch MPI-IO to atomic mode");
    return 0;
}

static hid_t make_fapl(MPI_Comm comm) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return -1;
    if (H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL) < 0 ||
        H5Pset_all_coll_metadata_ops(fapl, 1) < 0 || H5Pset_coll_metadata_write(fapl, 1) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

static ms_results_t *alloc_results(const char *path, MPI_Comm comm) {
    ms_results_t *r = calloc(1, sizeof *r);
    if (!r) return NULL;
    snprintf(r->path, sizeof r->path, "%s", path);
    r->comm = comm;
    if (MPI_Comm_rank(comm, &r->rank) != MPI_SUCCESS) {
        free(r);
        return NULL;
    }
    r->file = r->dxpl = -1;
    return r;
}

static int collect_cols(ms_results_t *r) {
    const ms_col_t *tables[MAX_TABLES];
    int nt = col_tables(tables);
    r->n_cols = 0;
    for (int t = 0; t < nt; t++)
        for (const ms_col_t *c = tables[t]; c->path; c++) {
            if (r->n_cols == MAX_COLS) return ms_err_set(MS_EINVAL, "results: too many columns");
            r->cols[r->n_cols] = c;
            r->dset[r->n_cols++] = -1;
        }
    return 0;
}

static int ensure_groups(hid_t file, const char *dpath, const char *path) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", dpath);
    for (char *p = strchr(buf, '/'); p; p = strchr(p + 1, '/')) {
        *p = 0;
        htri_t e = H5Lexists(file, buf, H5P_DEFAULT);
        if (e < 0) return h5_fail(path, "cannot inspect a group");
        if (!e) {
            hid_t g = H5Gcreate2(file, buf, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (g < 0) return h5_fail(path, "cannot create a group");
            if (H5Gclose(g) < 0) return h5_fail(path, "cannot close a group");
        }
        *p = '/';
    }
    return 0;
}

static int create_dataset(ms_results_t *r, int i) {
    const ms_col_t *c = r->cols[i];
    hsize_t shape[8];
    int rank = col_shape(&r->dims, c, shape);
    int rc = ensure_groups(r->file, c->path, r->path);
    if (rc) return rc;
    hid_t sp = H5Screate_simple(rank, shape, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    /* Contiguous (no chunks, so no compression), allocated and filled at
     * creation: ranks later write rows independently and never allocate.
     * NaN marks float values not (yet) computed. */
    const float fnan = NAN;
    const double dnan = NAN;
    if (sp < 0 || dcpl < 0 || H5Pset_layout(dcpl, H5D_CONTIGUOUS) < 0 ||
        H5Pset_alloc_time(dcpl, H5D_ALLOC_TIME_EARLY) < 0 ||
        H5Pset_fill_time(dcpl, H5D_FILL_TIME_ALLOC) < 0 ||
        (c->dtype == MS_DT_F32 && H5Pset_fill_value(dcpl, H5T_NATIVE_FLOAT, &fnan) < 0) ||
        (c->dtype == MS_DT_F64 && H5Pset_fill_value(dcpl, H5T_NATIVE_DOUBLE, &dnan) < 0)) {
        rc = h5_fail(r->path, "cannot set up a dataset");
    } else {
        r->dset[i] =
            H5Dcreate2(r->file, c->path, h5_type(c->dtype), sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    }
    if (dcpl >= 0) h5_check(H5Pclose(dcpl), &rc, r->path, "cannot close a property list");
    if (sp >= 0) h5_check(H5Sclose(sp), &rc, r->path, "cannot close a dataspace");
    if (rc) return rc;
    if (r->dset[i] < 0) {
        char what[300];
        snprintf(what, sizeof what, "cannot create dataset %s", c->path);
        return h5_fail(r->path, what);
    }
    return 0;
}

static int write_settings_columns(ms_results_t *r, const ms_grid_t *g) {
    const long M = r->dims.M;
    int64_t *seed = malloc(sizeof(int64_t) * M);
    double *vals = malloc(sizeof(double) * M * 6);
    int32_t *k = malloc(sizeof(int32_t) * M);
    for (long m = 0; m < M; m++) {
        ms_settings_t s;
        ms_grid_model_settings(g, (int)m, &s);
        seed[m] = (int64_t)s.seed;
        k[m] = s.k;
        /* The real settings as written in the grid (parsed as double), so
         * df[df.lr == 1e-3] finds them; training uses their float rounding. */
        double w[MS_N_AXES];
        ms_grid_model_written(g, (int)m, w);
        vals[0 * M + m] = w[MS_AXIS_LAMBDA];
        vals[1 * M + m] = w[MS_AXIS_LR];
        vals[2 * M + m] = w[MS_AXIS_L1];
        vals[3 * M + m] = w[MS_AXIS_L2];
        vals[4 * M + m] = w[MS_AXIS_DROPOUT];
    }
    int rc = 0;
    const char *dcols[] = {"models/lambda", "models/lr", "models/l1", "models/l2", "models/dropout"};
    for (long m = 0; m < M && !rc; m++) {
        rc = ms_results_write(r, "models/seed", m, -1, &seed[m]);
        if (!rc) rc = ms_results_write(r, "models/k", m, -1, &k[m]);
        for (int j = 0; j < 5 && !rc; j++) rc = ms_results_write(r, dcols[j], m, -1, &vals[j * M + m]);
    }
    free(seed);
    free(vals);
    free(k);
    return rc;
}

static int write_root_attrs(ms_results_t *r, const ms_grid_t *g) {
    char created[64], hash[32], rhash[32], tensors[8192];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)g->hash);
    snprintf(rhash, sizeof rhash, "%016llx", (unsigned long long)g->results_hash);
    size_t off = 0;
    tensors[0] = 0;
    for (int i = 0; i < r->dims.layout.n_tensors && off + 64 < sizeof tensors; i++) {
        const ms_tensor_t *t = &r->dims.layout.t[i];
        off += (size_t)snprintf(tensors + off, sizeof tensors - off, "%s%s:%zu:%zu", i ? " " : "",
                                t->name, t->off, t->n);
    }
    int rc = 0;
    rc = rc ? rc : attr_write_i64(r->file, "schema_version", MS_SCHEMA_VERSION, r->path);
    rc = rc ? rc : attr_write_str(r->file, "modsweep_version", MS_VERSION, r->path);
    rc = rc ? rc : attr_write_str(r->file, "build_options", MS_BUILD_OPTIONS, r->path);
    rc = rc ? rc : attr_write_str(r->file, "created", created, r->path);
    rc = rc ? rc : attr_write_str(r->file, "grid_path", g->path, r->path);
    rc = rc ? rc : attr_write_str(r->file, "grid_text", g->text ? g->text : "", r->path);
    rc = rc ? rc : attr_write_str(r->file, "grid_resolved", g->resolved ? g->resolved : "", r->path);
    rc = rc ? rc : attr_write_str(r->file, "grid_hash", hash, r->path);
    rc = rc ? rc : attr_write_str(r->file, "results_hash", rhash, r->path);
    rc = rc ? rc : attr_write_str(r->file, "tensors", tensors, r->path);
    for (int i = 0; i < MS_N_DIMS && !rc; i++) {
        char name[16];
        snprintf(name, sizeof name, "dim_%s", dim_names[i]);
        rc = attr_write_i64(r->file, name, *dim_field(&r->dims, i), r->path);
    }
    if (!rc && r->dims.L > 0) {
        /* The label values, as a small dataset beside the columns. */
        hsize_t n = (hsize_t)r->dims.L;
        int32_t labels[MS_MAX_CLASSES];
        for (int i = 0; i < g->n_labels; i++) labels[i] = g->labels[i];
        hid_t sp = H5Screate_simple(1, &n, NULL);
        if (sp < 0) rc = h5_fail(r->path, "cannot make a dataspace");
        if (!rc) rc = ensure_groups(r->file, "labels/label", r->path);
        hid_t ds = rc ? -1
                      : H5Dcreate2(r->file, "labels/label", H5T_NATIVE_INT32, sp, H5P_DEFAULT,
                                   H5P_DEFAULT, H5P_DEFAULT);
        if (!rc && (ds < 0 || (r->rank == 0 &&
                               H5Dwrite(ds, H5T_NATIVE_INT32, H5S_ALL, H5S_ALL, r->dxpl, labels) < 0)))
            rc = h5_fail(r->path, "cannot write labels/label");
        if (ds >= 0) h5_check(H5Dclose(ds), &rc, r->path, "cannot close labels/label");
        if (sp >= 0) h5_check(H5Sclose(sp), &rc, r->path, "cannot close a dataspace");
    }
    return rc;
}

/* The bytes a new results file takes: every dataset in full (they are
 * allocated and filled at creation) and a margin for HDF5's metadata and the
 * attributes (the grid text, the resolved settings). */
static unsigned long long file_bytes(const ms_results_t *r) {
    unsigned long long total = (1ull << 16) + 2 * (strlen(r->text) + strlen(r->resolved));
    for (int i = 0; i < r->n_cols; i++) {
        hsize_t shape[8];
        const int rank = col_shape(&r->dims, r->cols[i], shape);
        unsigned long long n = H5Tget_size(h5_type(r->cols[i]->dtype));
        for (int k = 0; k < rank; k++) n *= shape[k];
        total += n + 1024; /* the dataset's object header and its group's entry */
    }
    return total;
}

/* Refuses (on rank 0, before anything is written) a file larger than the
 * free space of the file system that would hold it: a write that fails
 * inside HDF5's collective dataset creation leaves the other ranks waiting
 * in it, so a full disk must be found before. (Space taken by others
 * between this check and the creation is not covered.) */
static int check_space(const ms_results_t *r, const char *path) {
    const long long have = free_bytes(path);
    if (have < 0) return 0; /* no answer: HDF5 reports what happens */
    const unsigned long long need = file_bytes(r);
    if (need <= (unsigned long long)have) return 0;
    return ms_err_set(MS_EIO,
                      "%s: cannot create the results file: no space left: it needs %llu bytes, "
                      "the file system holding it has %lld bytes free",
                      path, need, have);
}

int ms_results_create(ms_results_t **out, const char *path, MPI_Comm comm, const ms_grid_t *g,
                      const ms_dims_t *d) {
    return ms_results_create_ex(out, path, comm, g, d, NULL, 0);
}

int ms_results_create_ex(ms_results_t **out, const char *path, MPI_Comm comm, const ms_grid_t *g,
                         const ms_dims_t *d, const char *data_files, int replace) {
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!replace && access(path, F_OK) == 0)
        return ms_err_set(MS_EIO, "%s: already exists (made meanwhile by another program?); run "
                          "the sweep again to resume it",
                          path);
    ms_results_t *r = alloc_results(path, comm);
    if (!r) return ms_err_set(MS_ENOMEM, "%s: out of memory", path);
    r->writable = 1;
    r->dims = *d;
    r->hash = g->hash;
    r->results_hash = g->results_hash;
    r->resolved = strdup(g->resolved ? g->resolved : "");
    r->text = strdup(g->text ? g->text : "");
    char part[MS_PATH_MAX + 8];
    snprintf(part, sizeof part, "%s.part", path);
    int rc = collect_cols(r);
    if (!rc && (!r->resolved || !r->text)) rc = ms_err_set(MS_ENOMEM, "%s: out of memory", path);
    if (!rc && r->rank == 0) rc = check_space(r, path);
    rc = agree(rc, comm, path);
    hid_t fapl = rc ? -1 : make_fapl(comm);
    if (!rc && fapl < 0) rc = h5_fail(path, "cannot set up MPI-IO file access");
    if (!rc) {
        r->file = H5Fcreate(part, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
        if (r->file < 0) rc = h5_fail(part, "cannot create the results file");
    }
    if (fapl >= 0) h5_check(H5Pclose(fapl), &rc, path, "cannot close a property list");
    if (!rc) {
        r->dxpl = H5Pcreate(H5P_DATASET_XFER);
        if (r->dxpl < 0 || H5Pset_dxpl_mpio(r->dxpl, H5FD_MPIO_INDEPENDENT) < 0)
            rc = h5_fail(path, "cannot set up independent transfers");
    }
    for (int i = 0; i < r->n_cols && !rc; i++) rc = create_dataset(r, i);
    if (!rc) rc = write_root_attrs(r, g);
    if (!rc && data_files) rc = attr_write_str(r->file, "data_files", data_files, r->path);
    if (!rc && r->rank == 0) rc = write_settings_columns(r, g);
    /* Every rank learns whether the creation worked everywhere. */
    rc = agree(rc, comm, path);
    if (!rc && H5Fflush(r->file, H5F_SCOPE_GLOBAL) < 0) rc = h5_fail(part, "cannot flush");
    rc = agree(rc, comm, path);
    /* rename() replaces an existing file (--restart) in one step: the old
     * file stays whole until the new one is complete. */
    if (!rc && r->rank == 0 && rename(part, path) != 0)
        rc = ms_err_set(MS_EIO, "%s: cannot rename %s into place: %s", path, part,
                        strerror(errno));
    rc = agree(rc, comm, path);
    if (!rc) rc = agree(set_atomic(r), comm, path);
    if (rc) {
        /* Every rank closes its handle before rank 0 removes the part file
         * (the first error is kept; these calls' own faults add nothing). */
        int rk = r->rank;
        ms_results_close(r);
        if (MPI_Barrier(comm) == MPI_SUCCESS && rk == 0) unlink(part);
        return rc;
    }
    *out = r;
    return 0;
}

/* Opens dataset i of an existing file and checks what modsweep relies on:
 * a dataset (not a group) of the column's shape and element type; for a
 * file opened to write (resume), also the layout ms_results_create made
 * (contiguous, every byte allocated), since ranks write rows into it
 * independently and a chunked or compressed copy (h5repack) cannot take
 * independent parallel writes. */
static int check_dataset(ms_results_t *r, int i) {
    const ms_col_t *c = r->cols[i];
    const char *path = r->path;
    r->dset[i] = H5Dopen2(r->file, c->path, H5P_DEFAULT);
    if (r->dset[i] < 0) {
        h5_fail(path, "");
        return ms_err_set(MS_EFORMAT,
                          "%s: dataset %s is missing or not a dataset (file damaged, or made by "
                          "another modsweep?)",
                          path, c->path);
    }
    hsize_t want[8], have[8];
    const int rank = col_shape(&r->dims, c, want);
    hid_t sp = H5Dget_space(r->dset[i]), t = H5Dget_type(r->dset[i]),
          dcpl = H5Dget_create_plist(r->dset[i]);
    int rc = 0;
    if (sp < 0 || t < 0 || dcpl < 0) {
        rc = h5_fail(path, "cannot read a dataset's description");
    } else {
        const int hr = H5Sget_simple_extent_ndims(sp);
        int same = hr == rank && H5Sget_simple_extent_dims(sp, have, NULL) == rank;
        hsize_t n = 1;
        for (int k = 0; same && k < rank; k++) {
            same = have[k] == want[k];
            /* At most 2^62 elements: sizes in bytes stay in 64 bits. */
            if (want[k] && n > ((hsize_t)1 << 62) / want[k]) same = 0;
            n *= want[k];
        }
        const hid_t mine = h5_type(c->dtype);
        const H5T_class_t cls = H5Tget_class(t);
        const int type_ok = cls == H5Tget_class(mine) && H5Tget_size(t) == H5Tget_size(mine) &&
                            (cls != H5T_STRING || H5Tis_variable_str(t) == 0) &&
                            (cls != H5T_INTEGER || H5Tget_sign(t) == H5Tget_sign(mine));
        if (!same)
            rc = ms_err_set(MS_EFORMAT, "%s: dataset %s has the wrong shape (file damaged?)", path,
                            c->path);
        else if (!type_ok)
            rc = ms_err_set(MS_EFORMAT, "%s: dataset %s has the wrong element type (file damaged?)",
                            path, c->path);
        else if (r->resume_checks && n > 0 &&
                 (H5Pget_layout(dcpl) != H5D_CONTIGUOUS ||
                  H5Dget_storage_size(r->dset[i]) != n * H5Tget_size(t)))
            rc = ms_err_set(MS_EFORMAT,
                            "%s: dataset %s is not stored as modsweep made it (contiguous and "
                            "allocated; was the file rewritten, e.g. by h5repack?): a sweep "
                            "cannot resume it, `modsweep status` can read it",
                            path, c->path);
    }
    if (sp >= 0) h5_check(H5Sclose(sp), &rc, path, "cannot close a dataspace");
    if (t >= 0) h5_check(H5Tclose(t), &rc, path, "cannot close a datatype");
    if (dcpl >= 0) h5_check(H5Pclose(dcpl), &rc, path, "cannot close a property list");
    H5Eclear2(H5E_DEFAULT);
    return rc;
}

/* Opens path (read-write when writable) and checks it (check_dataset; the
 * layout checks too when resume_checks). */
static int open_file(ms_results_t **out, const char *path, MPI_Comm comm, int writable,
                     int resume_checks) {
    htri_t is = H5Fis_hdf5(path);
    if (is <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return ms_err_set(MS_EFORMAT, "%s: not an HDF5 file (truncated or damaged?)", path);
    }
    ms_results_t *r = alloc_results(path, comm);
    if (!r) return ms_err_set(MS_ENOMEM, "%s: out of memory", path);
    r->writable = writable;
    r->resume_checks = resume_checks;
    int rc = collect_cols(r);
    hid_t fapl = rc ? -1 : make_fapl(comm);
    if (!rc && fapl < 0) rc = h5_fail(path, "cannot set up MPI-IO file access");
    if (!rc) {
        r->file = H5Fopen(path, writable ? H5F_ACC_RDWR : H5F_ACC_RDONLY, fapl);
        if (r->file < 0) rc = h5_fail(path, "cannot open the results file");
    }
    if (fapl >= 0) h5_check(H5Pclose(fapl), &rc, path, "cannot close a property list");
    if (!rc) {
        r->dxpl = H5Pcreate(H5P_DATASET_XFER);
        if (r->dxpl < 0 || H5Pset_dxpl_mpio(r->dxpl, H5FD_MPIO_INDEPENDENT) < 0)
            rc = h5_fail(path, "cannot set up independent transfers");
    }
    int64_t schema = 0;
    if (!rc) rc = attr_read_i64(r->file, "schema_version", &schema, path);
    if (!rc && schema != MS_SCHEMA_VERSION)
        rc = ms_err_set(MS_ESCHEMA,
                        "%s: results schema version %lld, this modsweep %s reads version %d%s",
                        path, (long long)schema, MS_VERSION, MS_SCHEMA_VERSION,
                        schema > MS_SCHEMA_VERSION
                            ? " (written by a newer modsweep)"
                            : " (written by an older modsweep, whose columns differ: read it "
                              "with that version, or start the sweep over with --restart)");
    char *hash = NULL;
    if (!rc) rc = attr_read_str(r->file, "grid_hash", &hash, path);
    if (!rc) r->hash = strtoull(hash, NULL, 16);
    free(hash);
    hash = NULL;
    if (!rc) rc = attr_read_str(r->file, "results_hash", &hash, path);
    if (!rc) r->results_hash = strtoull(hash, NULL, 16);
    free(hash);
    if (!rc) rc = attr_read_str(r->file, "grid_resolved", &r->resolved, path);
    if (!rc) rc = attr_read_str(r->file, "grid_text", &r->text, path);
    for (int i = 0; i < MS_N_DIMS && !rc; i++) {
        char name[16];
        int64_t v;
        snprintf(name, sizeof name, "dim_%s", dim_names[i]);
        rc = attr_read_i64(r->file, name, &v, path);
        /* A grid has 1..10^6 models and 0..10 labels (config.c); no other
         * size comes near 2^40. */
        const int64_t hi = i == 0 ? MS_MAX_MODELS : i == 1 ? MS_MAX_CLASSES
                                                                   : (int64_t)1 << 40;
        if (!rc && (v < (i == 0) || v > hi))
            rc = ms_err_set(MS_EFORMAT, "%s: dimension %s = %lld is corrupt (file damaged?)", path,
                            dim_names[i], (long long)v);
        if (!rc) *dim_field(&r->dims, i) = (long)v;
    }
    if (!rc) {
        ms_grid_t g;
        if (ms_grid_parse(&g, path, r->text) == 0) {
            ms_layout_init(&r->dims.layout, &g.base.arch);
            ms_grid_free(&g);
        }
        ms_err_clear();
    }
    /* Open every dataset and check it against the dimensions. */
    for (int i = 0; i < r->n_cols && !rc; i++)
        rc = check_dataset(r, i);
    rc = agree(rc, comm, path);
    if (!rc) rc = agree(set_atomic(r), comm, path);
    if (rc) {
        ms_results_close(r);
        return rc;
    }
    *out = r;
    return 0;
}

/* Every task's status is one of ms_status_t and no attempt count is
 * negative (collective over the file's communicator). */
static int check_tasks(ms_results_t *r) {
    const long T = ms_task_count(r->dims.M, r->dims.L);
    int8_t *st = malloc((size_t)T + 1);
    int32_t *at = malloc(sizeof(int32_t) * ((size_t)T + 1));
    int rc = !st || !at ? ms_err_set(MS_ENOMEM, "%s: out of memory", r->path) : 0;
    if (!rc) rc = ms_results_all_tasks(r, st, at);
    free(st);
    free(at);
    return agree(rc, r->comm, r->path);
}

int ms_results_open(ms_results_t **out, const char *path, MPI_Comm comm, int writable) {
    *out = NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    struct stat st;
    if (stat(path, &st) != 0) return ms_err_set(MS_EIO, "%s: no such results file", path);
    if (!S_ISREG(st.st_mode)) return ms_err_set(MS_EIO, "%s: not a regular file", path);
    int rank = 0;
    MPI_Comm_rank(comm, &rank);
    int prc = rank == 0 ? ms_results_probe_file(path) : 0;
    if ((prc = agree(prc, comm, path))) return prc;
    if (!writable) return open_file(out, path, comm, 0, 0);
    /* A file without write permission is read-only even to root (whom
     * access() lets write anything): its owner protected it. */
    if (access(path, W_OK) != 0 && errno == EROFS)
        return ms_err_set(MS_EIO,
                          "%s: the results file is on a read-only file system; copy it to a "
                          "writable one to resume it, or read it with `modsweep status`",
                          path);
    if (access(path, W_OK) != 0 || !(st.st_mode & (S_IWUSR | S_IWGRP | S_IWOTH)))
        return ms_err_set(MS_EIO,
                          "%s: the results file is read-only (no write permission); make it "
                          "writable to resume it (chmod u+w), or read it with `modsweep status`",
                          path);
    /* Everything is checked on a read-only handle first: HDF5 may write to
     * a file opened for writing even when nothing is written through it
     * (closing it sets the file's size to the end of its data), and a file
     * that is refused must stay exactly as it was. */
    ms_results_t *ro = NULL;
    int rc = open_file(&ro, path, comm, 0, 1);
    if (rc) return rc;
    rc = check_tasks(ro);
    int crc = ms_results_close(ro);
    if (rc) return rc;
    if (crc) return agree(crc, comm, path);
    return open_file(out, path, comm, 1, 1);
}

int ms_results_close(ms_results_t *r) {
    if (!r) return 0;
    int rc = 0;
    for (int i = 0; i < r->n_cols; i++)
        if (r->dset[i] >= 0) h5_check(H5Dclose(r->dset[i]), &rc, r->path, "cannot close a dataset");
    if (r->dxpl >= 0) h5_check(H5Pclose(r->dxpl), &rc, r->path, "cannot close a property list");
    if (r->file >= 0) h5_check(H5Fclose(r->file), &rc, r->path, "cannot close");
    free(r->resolved);
    free(r->text);
    free(r);
    return rc;
}

uint64_t ms_results_grid_hash(const ms_results_t *r) { return r->hash; }
uint64_t ms_results_results_hash(const ms_results_t *r) { return r->results_hash; }
const char *ms_results_grid_resolved(const ms_results_t *r) { return r->resolved; }
const char *ms_results_grid_text(const ms_results_t *r) { return r->text; }
const ms_dims_t *ms_results_dims(const ms_results_t *r) { return &r->dims; }
const char *ms_results_path(const ms_results_t *r) { return r->path; }

/* ---- rows ---------------------------------------------------------------------------- */

static int find_col(const ms_results_t *r, const char *path) {
    for (int i = 0; i < r->n_cols; i++)
        if (strcmp(r->cols[i]->path, path) == 0) return i;
    return -1;
}

/* Largest transfer handed to HDF5 (and so to one MPI-IO call) at once. MPI-IO
 * counts are C ints, so a transfer must stay under 2 GiB; larger rows (a big
 * model's params) are moved in pieces along their first trailing dimension,
 * whole columns in pieces of rows. */
static size_t io_max_bytes = (size_t)1 << 30;

void ms__results_set_io_limit(size_t bytes) { io_max_bytes = bytes ? bytes : (size_t)1 << 30; }

/* Moves the hyperslab (start, cnt) of dataset i (rank dims) between the file
 * and buf, in pieces along dimension `along` so that no piece exceeds
 * io_max_bytes. Every dimension after `along` is moved whole. */
static int slab_io(ms_results_t *r, int i, int rank, const hsize_t *start, const hsize_t *cnt,
                   int along, void *buf, int write, const char *path, long m, long li) {
    const ms_col_t *c = r->cols[i];
    hid_t type = h5_type(c->dtype);
    size_t esize = H5Tget_size(type);
    if (esize == 0) return h5_fail(r->path, "cannot size a datatype");
    hsize_t inner = 1;
    for (int k = along + 1; k < rank; k++) inner *= cnt[k];
    hsize_t slice_bytes = inner * esize;
    if (slice_bytes > io_max_bytes)
        return ms_err_set(MS_EINVAL,
                          "%s: %s: one slice of %llu bytes exceeds the %zu-byte transfer limit",
                          r->path, path, (unsigned long long)slice_bytes, io_max_bytes);
    hsize_t per = io_max_bytes / slice_bytes, total = cnt[along];
    hsize_t st[6], ct[6];
    for (int k = 0; k < rank; k++) st[k] = start[k], ct[k] = cnt[k];
    hsize_t outer = 1; /* dimensions before `along` are single rows (cnt 1) or moved whole */
    for (int k = 0; k < along; k++) outer *= cnt[k];
    if (outer != 1 && per < total)
        return ms_err_set(MS_EINVAL, "%s: %s: transfer too large to split", r->path, path);
    int rc = 0;
    for (hsize_t off = 0; off < total && !rc; off += per) {
        hsize_t n = total - off < per ? total - off : per;
        st[along] = start[along] + off;
        ct[along] = n;
        hsize_t elems = outer * n * inner;
        hid_t fs = H5Dget_space(r->dset[i]), ms = H5Screate_simple(1, &elems, NULL);
        if (fs < 0 || ms < 0 || H5Sselect_hyperslab(fs, H5S_SELECT_SET, st, NULL, ct, NULL) < 0) {
            rc = h5_fail(r->path, "cannot select a row");
        } else {
            char *p = (char *)buf + (size_t)(off * inner * esize);
            herr_t e = write ? H5Dwrite(r->dset[i], type, ms, fs, r->dxpl, p)
                             : H5Dread(r->dset[i], type, ms, fs, r->dxpl, p);
            /* A string read back always ends in a NUL, even when the file
             * (damaged, or written by something else) filled all its bytes. */
            if (e >= 0 && !write && r->cols[i]->dtype == MS_DT_STR)
                for (hsize_t j = 0; j < elems; j++) p[j * esize + esize - 1] = 0;
            if (e < 0) {
                char what[320];
                snprintf(what, sizeof what, "%s of %s row (%ld, %ld) failed",
                         write ? "write" : "read", path, m, li);
                rc = h5_fail(r->path, what);
            }
        }
        if (fs >= 0 && H5Sclose(fs) < 0 && !rc) rc = h5_fail(r->path, "cannot close a dataspace");
        if (ms >= 0 && H5Sclose(ms) < 0 && !rc) rc = h5_fail(r->path, "cannot close a dataspace");
    }
    return rc;
}

/* Selects row (m, li), entries [first, first + count) of the first trailing
 * dimension (count < 0: the whole row). */
static int row_io(ms_results_t *r, const char *path, long m, long li, long first, long count,
                  void *buf, int write) {
    int i = find_col(r, path);
    if (i < 0) return ms_err_set(MS_EINVAL, "%s: no column %s", r->path, path);
    const ms_col_t *c = r->cols[i];
    if (write && !r->writable) return ms_err_set(MS_EIO, "%s: opened read-only", r->path);
    hsize_t shape[8], start[8] = {0}, cnt[8];
    int rank = col_shape(&r->dims, c, shape);
    int lead = c->row == MS_ROW_LABEL ? 2 : 1;
    if (m < 0 || m >= r->dims.M || (lead == 2 && (li < 0 || li >= r->dims.L)))
        return ms_err_set(MS_EINVAL, "%s: row (%ld, %ld) of %s is out of range", r->path, m, li,
                          path);
    for (int k = 0; k < rank; k++) cnt[k] = shape[k];
    start[0] = (hsize_t)m;
    cnt[0] = 1;
    if (lead == 2) {
        start[1] = (hsize_t)li;
        cnt[1] = 1;
    }
    if (count >= 0) {
        if (rank == lead || first < 0 || (hsize_t)(first + count) > shape[lead])
            return ms_err_set(MS_EINVAL, "%s: part [%ld, %ld) of %s is out of range", r->path,
                              first, first + count, path);
        start[lead] = (hsize_t)first;
        cnt[lead] = (hsize_t)count;
    }
    hsize_t n = 1;
    for (int k = 0; k < rank; k++) n *= cnt[k];
    if (n == 0) return 0;
    /* A scalar row is one element; otherwise split along the first trailing dimension. */
    return slab_io(r, i, rank, start, cnt, rank == lead ? lead - 1 : lead, buf, write, path, m,
                   li);
}

int ms_results_write(ms_results_t *r, const char *path, long m, long li, const void *buf) {
    return row_io(r, path, m, li, 0, -1, (void *)buf, 1);
}
int ms_results_read(ms_results_t *r, const char *path, long m, long li, void *buf) {
    return row_io(r, path, m, li, 0, -1, buf, 0);
}
int ms_results_write_part(ms_results_t *r, const char *path, long m, long li, long first,
                          long count, const void *buf) {
    return row_io(r, path, m, li, first, count, (void *)buf, 1);
}
int ms_results_read_part(ms_results_t *r, const char *path, long m, long li, long first,
                         long count, void *buf) {
    return row_io(r, path, m, li, first, count, buf, 0);
}

int ms_results_read_all(ms_results_t *r, const char *path, void *buf) {
    int i = find_col(r, path);
    if (i < 0) return ms_err_set(MS_EINVAL, "%s: no column %s", r->path, path);
    hsize_t shape[6], start[6] = {0};
    int rank = col_shape(&r->dims, r->cols[i], shape);
    for (int k = 0; k < rank; k++)
        if (shape[k] == 0) return 0;
    /* Pieces of whole rows (of models). */
    return slab_io(r, i, rank, start, shape, 0, buf, 0, path, -1, -1);
}

static const char *status_col[] = {"models/status_train", "models/status_analyse", "labels/status"};
static const char *attempts_col[] = {"models/attempts_train", "models/attempts_analyse",
                                     "labels/attempts"};
static const char *reason_col[] = {"models/reason_train", "models/reason_analyse", "labels/reason"};

int ms_results_set_status(ms_results_t *r, int kind, long m, long li, int status, int attempts,
                          const char *reason) {
    if (kind < 0 || kind > 2) return ms_err_set(MS_EINVAL, "results: task kind %d", kind);
    char rs[MS_STR_LEN] = {0};
    snprintf(rs, sizeof rs, "%s", reason ? reason : "");
    int32_t at = attempts;
    int8_t st = (int8_t)status;
    long row_li = kind == MS_TASK_PRUNE ? li : -1;
    int rc = ms_results_write(r, reason_col[kind], m, row_li, rs);
    if (!rc) rc = ms_results_write(r, attempts_col[kind], m, row_li, &at);
    /* The status goes last: once it says done, everything before it is written. */
    if (!rc) rc = ms_results_write(r, status_col[kind], m, row_li, &st);
    return rc;
}

/* Checks that the n status values st read from the column of `kind` are
 * task statuses; first is the row index of st[0]. */
static int check_statuses(const ms_results_t *r, int kind, const int8_t *st, long n, long first) {
    for (long i = 0; i < n; i++) {
        if (st[i] >= MS_ST_PENDING && st[i] <= MS_ST_FAILED) continue;
        const long at = first + i, L = r->dims.L > 0 ? r->dims.L : 1;
        char task[64];
        if (kind == MS_TASK_PRUNE)
            snprintf(task, sizeof task, "model %ld, label index %ld", at / L, at % L);
        else
            snprintf(task, sizeof task, "model %ld", at);
        return ms_err_set(MS_EFORMAT,
                          "%s: %s of %s holds %d, which is no task status (0 pending, 1 done, "
                          "2 failed): the file is damaged",
                          r->path, status_col[kind], task, st[i]);
    }
    return 0;
}

int ms_results_get_status(ms_results_t *r, int kind, long m, long li, int *status, int *attempts,
                          char *reason) {
    if (kind < 0 || kind > 2) return ms_err_set(MS_EINVAL, "results: task kind %d", kind);
    long row_li = kind == MS_TASK_PRUNE ? li : -1;
    int8_t st = 0;
    int32_t at = 0;
    int rc = ms_results_read(r, status_col[kind], m, row_li, &st);
    if (!rc) rc = check_statuses(r, kind, &st, 1, kind == MS_TASK_PRUNE ? m * r->dims.L + li : m);
    if (!rc && attempts) rc = ms_results_read(r, attempts_col[kind], m, row_li, &at);
    if (!rc && at < 0)
        rc = ms_err_set(MS_EFORMAT, "%s: %s of row (%ld, %ld) holds %d: the file is damaged",
                        r->path, attempts_col[kind], m, li, (int)at);
    if (!rc && reason) rc = ms_results_read(r, reason_col[kind], m, row_li, reason);
    if (status) *status = st;
    if (attempts) *attempts = at;
    return rc;
}

int ms_results_all_status(ms_results_t *r, int8_t *train, int8_t *analyse, int8_t *prune) {
    int rc = 0;
    if (train) rc = ms_results_read_all(r, status_col[0], train);
    if (!rc && train) rc = check_statuses(r, MS_TASK_TRAIN, train, r->dims.M, 0);
    if (!rc && analyse) rc = ms_results_read_all(r, status_col[1], analyse);
    if (!rc && analyse) rc = check_statuses(r, MS_TASK_ANALYSE, analyse, r->dims.M, 0);
    if (!rc && prune && r->dims.L > 0) rc = ms_results_read_all(r, status_col[2], prune);
    if (!rc && prune && r->dims.L > 0)
        rc = check_statuses(r, MS_TASK_PRUNE, prune, r->dims.M * r->dims.L, 0);
    return rc;
}

int ms_results_all_tasks(ms_results_t *r, int8_t *status, int32_t *attempts) {
    const long M = r->dims.M, L = r->dims.L, T = ms_task_count(M, L);
    const long off[3] = {ms_task_first(MS_TASK_TRAIN, M), ms_task_first(MS_TASK_ANALYSE, M),
                         ms_task_first(MS_TASK_PRUNE, M)};
    int rc = status ? ms_results_all_status(r, status + off[0], status + off[1], status + off[2]) : 0;
    const long n[3] = {ms_task_kind_count(MS_TASK_TRAIN, M, L),
                       ms_task_kind_count(MS_TASK_ANALYSE, M, L),
                       ms_task_kind_count(MS_TASK_PRUNE, M, L)};
    for (int k = 0; k < 3 && !rc && attempts; k++)
        if (n[k] > 0) rc = ms_results_read_all(r, attempts_col[k], attempts + off[k]);
    for (long t = 0; t < T && !rc && attempts; t++)
        if (attempts[t] < 0)
            rc = ms_err_set(MS_EFORMAT, "%s: task %ld has %d attempts: the file is damaged",
                            r->path, t, (int)attempts[t]);
    return rc;
}

void ms_results_print_schema(FILE *f) {
    static const char *tname[] = {"float32", "float64", "int8", "uint8", "int32", "int64", "string"};
    const ms_col_t *tables[MAX_TABLES];
    int nt = col_tables(tables);
    static const char *dim_doc[] = {
#define DIM_DOC(name, doc) doc,
        MS_DIMS(DIM_DOC)
#undef DIM_DOC
    };
    fprintf(f, "| size | meaning |\n|---|---|\n");
    for (int i = 0; i < MS_N_DIMS; i++) fprintf(f, "| %s | %s |\n", dim_names[i], dim_doc[i]);
    fprintf(f, "\n| dataset | type | shape | meaning |\n|---|---|---|---|\n");
    for (int t = 0; t < nt; t++) {
        for (const ms_col_t *c = tables[t]; c->path; c++) {
            char shape[96];
            int off = snprintf(shape, sizeof shape, "%s", c->row == MS_ROW_LABEL ? "M, L" : "M");
            for (int i = 0; i < c->ndim; i++)
                off += c->dim[i] < 0
                           ? snprintf(shape + off, sizeof shape - off, ", %s", dim_names[-1 - c->dim[i]])
                           : snprintf(shape + off, sizeof shape - off, ", %d", c->dim[i]);
            fprintf(f, "| `/%s` | %s | (%s) | %s |\n", c->path, tname[c->dtype], shape, c->doc);
        }
    }
}
