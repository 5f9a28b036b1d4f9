/* Fuzz target: the results-file reader of `modsweep status` and of resuming
 * (see results_common.h) on files whose *contents* are wrong while their
 * HDF5 structure stays valid: the input is a list of edits made through
 * the HDF5 API to a copy of a base file (attributes changed, removed or
 * given another type or shape, datasets removed, reshaped, retyped or
 * replaced by groups, values overwritten). HDF5 itself only ever reads
 * files it wrote, so every finding of this target is modsweep's.
 *
 * Input: byte 0 picks the base file; then edits, each an opcode byte and
 * its arguments (taken from the following bytes; missing bytes read as 0). */
#include "results_common.h"

#include <limits.h>

/* ---- names the edits pick from -------------------------------------------------- */

static const char *const attr_names[] = {
    "schema_version", "modsweep_version", "build_options", "created", "grid_path", "grid_text",
    "grid_resolved", "grid_hash", "results_hash", "tensors", "dim_M", "dim_L", "dim_S", "dim_E",
    "dim_P", "dim_NW", "dim_NFC", "dim_NC", "dim_NK", "dim_NU", "dim_NT", "dim_KMAX", "dim_NG",
    "dim_NV", "dim_NIP", "dim_NID", "dim_NAU", "dim_NDIR", "dim_NST", "dim_NAL", "dim_MU",
    "dim_MUS", "dim_NCW", "dim_NCV"};
#define N_ATTRS ((int)(sizeof attr_names / sizeof attr_names[0]))

static const char *dset_names[1024];
static int n_dsets;

static void collect_dsets(void) {
    const ms_col_t *tables[] = {ms_core_cols, ms_prune_cols, ms_cluster_cols, ms_measures_cols};
    /* The columns modsweep status reads come first, so short inputs reach them. */
    static const char *const first[] = {"models/status_train", "models/status_analyse",
                                        "labels/status", "models/attempts_train",
                                        "models/attempts_analyse", "labels/attempts",
                                        "models/reason_train", "models/reason_analyse",
                                        "labels/reason", "models/time_train",
                                        "models/time_analyse", "labels/time", "labels/label"};
    for (size_t i = 0; i < sizeof first / sizeof first[0]; i++)
        dset_names[n_dsets++] = first[i];
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++)
        for (const ms_col_t *c = tables[t]; c->path && n_dsets < 1024; c++) {
            int dup = 0;
            for (int i = 0; i < n_dsets && !dup; i++)
                dup = strcmp(dset_names[i], c->path) == 0;
            if (!dup) dset_names[n_dsets++] = c->path;
        }
}

/* ---- values the edits write --------------------------------------------------------- */

/* An integer: a telling value from a table, or 8 raw bytes. */
static int64_t take_i64(const uint8_t **p, const uint8_t *end) {
    static const int64_t special[] = {0,          -1,         1,         2,
                                      3,          10,         11,        (int64_t)1 << 31,
                                      INT_MAX,    (int64_t)1 << 40, ((int64_t)1 << 40) + 1,
                                      (int64_t)1 << 62, INT64_MAX, INT64_MIN, 100000, 1000001};
    unsigned sel = (unsigned)fz_take(p, end, 1);
    if (sel < 2 * sizeof special / sizeof special[0]) return special[sel / 2];
    return (int64_t)fz_take(p, end, 8);
}

static hid_t str_type(size_t len) { /* len 0: variable length */
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, len ? len : H5T_VARIABLE);
    return t;
}

/* Replaces attribute `name` of obj with one of the given type, shape and value. */
static void put_attr(hid_t obj, const char *name, hid_t type, int n, const void *value) {
    if (H5Aexists(obj, name) > 0) H5Adelete(obj, name);
    hsize_t dim = (hsize_t)n;
    hid_t sp = n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &dim, NULL);
    hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, type, value);
        H5Aclose(a);
    }
    H5Sclose(sp);
}

/* Overwrites element `index` (modulo the size) of a dataset with raw bytes
 * in its own type. */
static void poke(hid_t file, const char *name, uint64_t index, const uint8_t **p,
                 const uint8_t *end) {
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return;
    hid_t sp = H5Dget_space(d), ft = H5Dget_type(d);
    hid_t mt = H5Tget_class(ft) == H5T_STRING ? H5Tcopy(ft) : H5Tget_native_type(ft, H5T_DIR_ASCEND);
    hssize_t npts = H5Sget_simple_extent_npoints(sp);
    size_t esz = H5Tget_size(mt);
    if (npts > 0 && esz > 0 && esz <= 4096 && !H5Tis_variable_str(mt)) {
        hsize_t coord = (hsize_t)(index % (uint64_t)npts);
        int rank = H5Sget_simple_extent_ndims(sp);
        hsize_t dims[8], at[8];
        if (rank >= 1 && rank <= 8) {
            H5Sget_simple_extent_dims(sp, dims, NULL);
            for (int k = rank - 1; k >= 0; k--) {
                at[k] = coord % dims[k];
                coord /= dims[k];
            }
            uint8_t buf[4096];
            for (size_t i = 0; i < esz; i++)
                buf[i] = (uint8_t)fz_take(p, end, 1);
            H5Sselect_elements(sp, H5S_SELECT_SET, 1, at);
            hsize_t one = 1;
            hid_t ms = H5Screate_simple(1, &one, NULL);
            H5Dwrite(d, mt, ms, sp, H5P_DEFAULT, buf);
            H5Sclose(ms);
        }
    }
    H5Tclose(mt);
    H5Tclose(ft);
    H5Sclose(sp);
    H5Dclose(d);
}

/* Replaces a dataset by one of another type and shape (small, filled with
 * a byte of the input). */
static void reshape(hid_t file, const char *name, const uint8_t **p, const uint8_t *end) {
    H5Ldelete(file, name, H5P_DEFAULT);
    static const hid_t *types[] = {&H5T_NATIVE_INT8_g, &H5T_NATIVE_INT32_g, &H5T_NATIVE_INT64_g,
                                   &H5T_NATIVE_FLOAT_g, &H5T_NATIVE_DOUBLE_g, &H5T_NATIVE_UINT8_g};
    unsigned tsel = (unsigned)fz_take(p, end, 1) % 8;
    int rank = (int)fz_take(p, end, 1) % 4;
    hsize_t dims[3];
    hsize_t total = 1;
    for (int k = 0; k < rank; k++)
        total *= dims[k] = fz_take(p, end, 1) % 12;
    uint8_t fill = (uint8_t)fz_take(p, end, 1);
    hid_t t = tsel < 6 ? H5Tcopy(*types[tsel]) : str_type(tsel == 6 ? MS_STR_LEN : 7);
    hid_t sp = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    H5Pset_create_intermediate_group(lcpl, 1);
    hid_t d = H5Dcreate2(file, name, t, sp, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) {
        size_t bytes = (size_t)(rank ? total : 1) * H5Tget_size(t);
        uint8_t *buf = malloc(bytes ? bytes : 1);
        memset(buf, fill, bytes);
        H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
        free(buf);
        H5Dclose(d);
    }
    H5Pclose(lcpl);
    H5Sclose(sp);
    H5Tclose(t);
}

/* Rewrites a dataset with the same type, shape and values but chunked and
 * compressed (as h5repack -f GZIP=1 would). */
static void repack(hid_t file, const char *name) {
    hid_t d = H5Dopen2(file, name, H5P_DEFAULT);
    if (d < 0) return;
    hid_t sp = H5Dget_space(d), t = H5Dget_type(d);
    int rank = H5Sget_simple_extent_ndims(sp);
    hsize_t dims[8];
    hssize_t npts = H5Sget_simple_extent_npoints(sp);
    size_t esz = H5Tget_size(t);
    uint8_t *buf = npts > 0 && rank >= 1 && rank <= 8 ? malloc((size_t)npts * esz) : NULL;
    if (buf && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) {
        H5Sget_simple_extent_dims(sp, dims, NULL);
        H5Dclose(d);
        d = -1;
        H5Ldelete(file, name, H5P_DEFAULT);
        hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
        hsize_t chunk[8];
        for (int k = 0; k < rank; k++)
            chunk[k] = dims[k] ? dims[k] : 1;
        H5Pset_chunk(dcpl, rank, chunk);
        H5Pset_deflate(dcpl, 1);
        hid_t nd = H5Dcreate2(file, name, t, sp, H5P_DEFAULT, dcpl, H5P_DEFAULT);
        if (nd >= 0) {
            H5Dwrite(nd, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
            H5Dclose(nd);
        }
        H5Pclose(dcpl);
    }
    free(buf);
    if (d >= 0) H5Dclose(d);
    H5Tclose(t);
    H5Sclose(sp);
}

enum {
    OP_INT_ATTR,     /* an attribute becomes an int64 scalar */
    OP_STR_ATTR,     /* an attribute becomes a variable-length string */
    OP_FSTR_ATTR,    /* an attribute becomes a fixed-length string */
    OP_ARRAY_ATTR,   /* an attribute becomes an array of two (int64 or strings) */
    OP_DEL_ATTR,     /* an attribute is removed */
    OP_DEL_DSET,     /* a dataset is removed */
    OP_GROUP_DSET,   /* a dataset is replaced by a group */
    OP_RESHAPE_DSET, /* a dataset gets another type and shape */
    OP_POKE,         /* an element of a dataset is overwritten */
    OP_STATUS,       /* a status value is overwritten (any int8) */
    OP_REPACK,       /* a dataset is rewritten chunked and compressed */
    N_OPS
};

static void edit(hid_t file, const uint8_t **p, const uint8_t *end) {
    int op = (int)(fz_take(p, end, 1) % N_OPS);
    const char *attr = attr_names[fz_take(p, end, 1) % N_ATTRS];
    switch (op) {
    case OP_INT_ATTR: {
        int64_t v = take_i64(p, end);
        put_attr(file, attr, H5T_NATIVE_INT64, 1, &v);
        break;
    }
    case OP_STR_ATTR:
    case OP_FSTR_ATTR: {
        size_t len = (size_t)fz_take(p, end, 1);
        char s[300];
        size_t i = 0;
        for (; i < len && *p < end; i++)
            s[i] = (char)fz_take(p, end, 1);
        s[i] = 0;
        hid_t t = str_type(op == OP_STR_ATTR ? 0 : (i ? i : 1));
        const char *sp = s;
        put_attr(file, attr, t, 1, op == OP_STR_ATTR ? (const void *)&sp : (const void *)s);
        H5Tclose(t);
        break;
    }
    case OP_ARRAY_ATTR: {
        if (fz_take(p, end, 1) & 1) {
            int64_t v[2] = {take_i64(p, end), take_i64(p, end)};
            put_attr(file, attr, H5T_NATIVE_INT64, 2, v);
        } else {
            const char *v[2] = {"0123456789abcdef", "x"};
            hid_t t = str_type(0);
            put_attr(file, attr, t, 2, v);
            H5Tclose(t);
        }
        break;
    }
    case OP_DEL_ATTR:
        if (H5Aexists(file, attr) > 0) H5Adelete(file, attr);
        break;
    default: {
        const char *ds = dset_names[fz_take(p, end, 1) % (uint64_t)n_dsets];
        if (op == OP_DEL_DSET) {
            H5Ldelete(file, ds, H5P_DEFAULT);
        } else if (op == OP_GROUP_DSET) {
            H5Ldelete(file, ds, H5P_DEFAULT);
            hid_t g = H5Gcreate2(file, ds, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (g >= 0) H5Gclose(g);
        } else if (op == OP_RESHAPE_DSET) {
            reshape(file, ds, p, end);
        } else if (op == OP_POKE) {
            poke(file, ds, fz_take(p, end, 2), p, end);
        } else if (op == OP_STATUS) {
            static const char *const st[] = {"models/status_train", "models/status_analyse",
                                             "labels/status"};
            poke(file, st[fz_take(p, end, 1) % 3], fz_take(p, end, 1), p, end);
        } else {
            repack(file, ds);
        }
        break;
    }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!n_dsets) collect_dsets();
    if (size > 4096) return 0;
    const uint8_t *p = data, *end = data + size;
    const int b = (int)(fz_take(&p, end, 1) % N_BASES);
    char path[512];
    fz_path(path, sizeof path, "results.h5");
    fz_write(path, base[b].bytes, base[b].n);
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    FZ_ASSERT(file >= 0, "cannot open the scratch copy of base %d", b);
    for (int n = 0; p < end && n < 64; n++)
        edit(file, &p, end);
    FZ_ASSERT(H5Fclose(file) >= 0, "cannot close the edited copy");
    H5Eclear2(H5E_DEFAULT);

    read_and_remove(path, &base[b].g);
    return 0;
}
