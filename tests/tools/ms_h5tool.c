/* Small checks on modsweep results files for the shell tests, written
 * against the HDF5 C API directly (independent of src/sweep/results.c):
 *
 *   ms_h5tool cmp A.h5 B.h5 [--ignore NAME]...
 *       Compares every dataset of A and B byte for byte (so NaN equals NaN
 *       of the same bits): same set of datasets, same type size, shape and
 *       contents. Datasets whose name (last path component) contains "time"
 *       or is host, rank or team, and the machine columns (cpu_model, isa,
 *       blas_core and their _analyse forms) are skipped (they record where
 *       and how long a task ran), and so is every dataset named by --ignore (a full path
 *       like /labels/states or a last component). Prints each difference;
 *       exits 0 when equal, 1 when not, 2 on an error.
 *
 *   ms_h5tool done FILE.h5
 *       Prints one line per task whose status is done, in the words of
 *       modsweep's log: "train model M", "analyse model M",
 *       "prune model M label X" (X the label value).
 *
 *   ms_h5tool cmpdone REF.h5 FILE.h5 [--ignore NAME]...
 *       Compares, byte for byte, the rows of FILE that its status columns
 *       mark done with the same rows of REF (skipping what cmp skips): every
 *       /labels column at each (m, l) whose prune is done; every /models
 *       column at each m whose training and analysis are done; the training
 *       columns (TRAIN_COLS) at each m whose training alone is done. REF may
 *       have more models. Prints the rows compared and each difference;
 *       exits 0 when every compared row is equal, 1 when not, 2 on an error.
 *
 *   ms_h5tool set FILE.h5 DATASET INDEX VALUE
 *       Writes VALUE (a number, "nan" or "inf", converted to the dataset's
 *       type) into element INDEX (counted over all dimensions, C order).
 *
 *   ms_h5tool setattr FILE.h5 NAME VALUE
 *       Overwrites the integer attribute NAME of the root group.
 *
 *   ms_h5tool get FILE.h5 DATASET INDEX
 *       Prints element INDEX of a numeric dataset (as %.9g). */
#define _POSIX_C_SOURCE 200809L
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NAMES 1024

typedef struct names {
    char *v[MAX_NAMES];
    int n;
} names_t;

static herr_t collect(hid_t obj, const char *name, const H5O_info_t *info, void *data) {
    names_t *ns = data;
    (void)obj;
    if (info->type == H5O_TYPE_DATASET && ns->n < MAX_NAMES) ns->v[ns->n++] = strdup(name);
    return 0;
}

static int list_datasets(hid_t f, names_t *ns) {
    ns->n = 0;
    return H5Ovisit(f, H5_INDEX_NAME, H5_ITER_INC, collect, ns) < 0 ? -1 : 0;
}

static const char *last(const char *p) {
    const char *s = strrchr(p, '/');
    return s ? s + 1 : p;
}

static int ignored(const char *name, char **ign, int n_ign) {
    const char *b = last(name);
    if (strstr(b, "time") || !strcmp(b, "host") || !strcmp(b, "rank") || !strcmp(b, "team"))
        return 1;
    /* The machine a task ran on (CPU model, kernel path, BLAS core). */
    if (!strncmp(b, "cpu_model", 9) || !strncmp(b, "isa", 3) || !strncmp(b, "blas_core", 9))
        return 1;
    for (int i = 0; i < n_ign; i++) {
        const char *x = ign[i][0] == '/' ? ign[i] + 1 : ign[i];
        if (!strcmp(name, x) || !strcmp(b, x)) return 1;
    }
    return 0;
}

/* Reads a whole dataset as raw bytes of its file type. */
static unsigned char *read_raw(hid_t f, const char *name, size_t *bytes, int *rank, hsize_t *dims) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) return NULL;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    unsigned char *buf = NULL;
    if (t >= 0 && s >= 0) {
        *rank = H5Sget_simple_extent_dims(s, dims, NULL);
        hssize_t n = H5Sget_simple_extent_npoints(s);
        size_t es = H5Tget_size(t);
        if (*rank >= 0 && n >= 0 && es > 0) {
            *bytes = (size_t)n * es;
            buf = malloc(*bytes ? *bytes : 1);
            if (buf && *bytes && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
                free(buf);
                buf = NULL;
            }
        }
    }
    if (t >= 0) H5Tclose(t);
    if (s >= 0) H5Sclose(s);
    H5Dclose(d);
    return buf;
}

static int cmp(const char *pa, const char *pb, char **ign, int n_ign) {
    hid_t fa = H5Fopen(pa, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t fb = H5Fopen(pb, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fa < 0 || fb < 0) {
        fprintf(stderr, "ms_h5tool: cannot open %s\n", fa < 0 ? pa : pb);
        return 2;
    }
    names_t na, nb;
    if (list_datasets(fa, &na) || list_datasets(fb, &nb)) {
        fprintf(stderr, "ms_h5tool: cannot list the datasets\n");
        return 2;
    }
    int diffs = 0, compared = 0;
    for (int i = 0; i < nb.n; i++) {
        int found = 0;
        for (int j = 0; j < na.n && !found; j++)
            found = !strcmp(na.v[j], nb.v[i]);
        if (!found) printf("only in %s: /%s\n", pb, nb.v[i]), diffs++;
    }
    for (int i = 0; i < na.n; i++) {
        const char *name = na.v[i];
        int found = 0;
        for (int j = 0; j < nb.n && !found; j++)
            found = !strcmp(nb.v[j], name);
        if (!found) {
            printf("only in %s: /%s\n", pa, name);
            diffs++;
            continue;
        }
        if (ignored(name, ign, n_ign)) continue;
        size_t ba = 0, bb = 0;
        int ra = 0, rb = 0;
        hsize_t da[8] = {0}, db[8] = {0};
        unsigned char *xa = read_raw(fa, name, &ba, &ra, da),
                      *xb = read_raw(fb, name, &bb, &rb, db);
        if (!xa || !xb) {
            fprintf(stderr, "ms_h5tool: cannot read /%s\n", name);
            return 2;
        }
        compared++;
        if (ra != rb || ba != bb || memcmp(da, db, sizeof da) != 0) {
            printf("/%s: shapes or types differ\n", name);
            diffs++;
        } else if (memcmp(xa, xb, ba) != 0) {
            size_t n = 0, first = 0;
            for (size_t k = 0; k < ba; k++)
                if (xa[k] != xb[k]) {
                    if (!n) first = k;
                    n++;
                }
            printf("/%s: %zu of %zu bytes differ (first at byte %zu)\n", name, n, ba, first);
            diffs++;
        }
        free(xa);
        free(xb);
    }
    printf("%d datasets compared, %d differences\n", compared, diffs);
    H5Fclose(fa);
    H5Fclose(fb);
    return diffs ? 1 : 0;
}

static int done(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        fprintf(stderr, "ms_h5tool: cannot open %s\n", path);
        return 2;
    }
    size_t b1, b2, b3, b4;
    int r;
    hsize_t d1[8], d2[8], d3[8], d4[8];
    unsigned char *tr = read_raw(f, "models/status_train", &b1, &r, d1);
    unsigned char *an = read_raw(f, "models/status_analyse", &b2, &r, d2);
    unsigned char *pr = read_raw(f, "labels/status", &b3, &r, d3);
    unsigned char *lab = read_raw(f, "labels/label", &b4, &r, d4);
    if (!tr || !an || !pr || !lab) {
        fprintf(stderr, "ms_h5tool: %s: status datasets missing\n", path);
        return 2;
    }
    long M = (long)d1[0], L = (long)d4[0];
    const int32_t *labels = (const int32_t *)lab;
    for (long m = 0; m < M; m++) {
        if (tr[m] == 1) printf("train model %ld\n", m);
        if (an[m] == 1) printf("analyse model %ld\n", m);
        for (long li = 0; li < L; li++)
            if (pr[m * L + li] == 1) printf("prune model %ld label %d\n", m, labels[li]);
    }
    free(tr), free(an), free(pr), free(lab);
    H5Fclose(f);
    return 0;
}

/* The /models columns the training task writes (stages.c, cluster.c). */
static const char *const TRAIN_COLS[] = {
    "seed",          "lambda",      "k",           "lr",         "l1",          "l2",
    "dropout",       "status_train", "attempts_train", "reason_train", "train_loss",
    "train_extra",   "epoch_test_acc", "test_acc", "test_loss",  "classwise_acc", "params",
    "part_train",    "gradsim",     "gradsim_steps", NULL};

static int is_train_col(const char *name) {
    for (int i = 0; TRAIN_COLS[i]; i++)
        if (!strcmp(last(name), TRAIN_COLS[i])) return 1;
    return 0;
}

static int cmpdone(const char *pref, const char *pf, char **ign, int n_ign) {
    hid_t fr = H5Fopen(pref, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t ff = H5Fopen(pf, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (fr < 0 || ff < 0) {
        fprintf(stderr, "ms_h5tool: cannot open %s\n", fr < 0 ? pref : pf);
        return 2;
    }
    size_t b;
    int r;
    hsize_t d1[8], d3[8];
    unsigned char *tr = read_raw(ff, "models/status_train", &b, &r, d1);
    unsigned char *an = read_raw(ff, "models/status_analyse", &b, &r, d1);
    unsigned char *pr = read_raw(ff, "labels/status", &b, &r, d3);
    names_t nf;
    if (!tr || !an || !pr || list_datasets(ff, &nf)) {
        fprintf(stderr, "ms_h5tool: %s: status datasets missing\n", pf);
        return 2;
    }
    const long M = (long)d1[0], L = (long)d3[1];
    long rows = 0, diffs = 0;
    for (int i = 0; i < nf.n; i++) {
        const char *name = nf.v[i];
        const int label = !strncmp(name, "labels/", 7), model = !strncmp(name, "models/", 7);
        if ((!label && !model) || ignored(name, ign, n_ign)) continue;
        size_t bf = 0, br = 0;
        int rf = 0, rr = 0;
        hsize_t df[8] = {0}, dr[8] = {0};
        unsigned char *xf = read_raw(ff, name, &bf, &rf, df), *xr = read_raw(fr, name, &br, &rr, dr);
        if (!xf || !xr) {
            fprintf(stderr, "ms_h5tool: cannot read /%s\n", name);
            return 2;
        }
        const int lead = label ? 2 : 1;
        int same_shape = rf == rr && rf >= lead && df[0] == (hsize_t)M && dr[0] >= df[0];
        for (int k = 1; k < rf && same_shape; k++)
            same_shape = df[k] == dr[k];
        if (label && rf < 2) same_shape = 0; /* labels/label: not a per-task column */
        if (!same_shape) {
            if (!(label && rf < 2)) printf("/%s: shapes differ\n", name), diffs++;
            free(xf), free(xr);
            continue;
        }
        size_t row = bf / (size_t)(label ? M * L : M); /* bytes per row */
        for (long m = 0; m < M; m++)
            for (long li = 0; li < (label ? L : 1); li++) {
                int use = label ? pr[m * L + li] == 1
                                : tr[m] == 1 && (an[m] == 1 || is_train_col(name));
                if (!use) continue;
                size_t at = (size_t)(label ? m * L + li : m) * row;
                rows++;
                if (memcmp(xf + at, xr + at, row) != 0) {
                    printf("/%s: row (%ld, %ld) differs from %s\n", name, m, label ? li : -1,
                           pref);
                    diffs++;
                }
            }
        free(xf), free(xr);
    }
    printf("%ld rows of done tasks compared, %ld differences\n", rows, diffs);
    free(tr), free(an), free(pr);
    H5Fclose(fr);
    H5Fclose(ff);
    return diffs ? 1 : 0;
}

static int set(const char *path, const char *name, const char *index, const char *value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t d = f < 0 ? -1 : H5Dopen2(f, name, H5P_DEFAULT);
    if (d < 0) {
        fprintf(stderr, "ms_h5tool: cannot open %s in %s\n", name, path);
        return 2;
    }
    hid_t sp = H5Dget_space(d);
    hsize_t dims[8], at[8];
    int rank = H5Sget_simple_extent_dims(sp, dims, NULL);
    unsigned long long flat = strtoull(index, NULL, 10);
    for (int k = rank - 1; k >= 0; k--) {
        at[k] = flat % dims[k];
        flat /= dims[k];
    }
    double v = strtod(value, NULL);
    hsize_t one = 1;
    hid_t ms = H5Screate_simple(1, &one, NULL);
    int rc = rank < 1 || H5Sselect_elements(sp, H5S_SELECT_SET, 1, at) < 0 ||
             H5Dwrite(d, H5T_NATIVE_DOUBLE, ms, sp, H5P_DEFAULT, &v) < 0;
    H5Sclose(ms);
    H5Sclose(sp);
    H5Dclose(d);
    if (H5Fclose(f) < 0) rc = 1;
    if (rc) fprintf(stderr, "ms_h5tool: cannot write %s[%s] of %s\n", name, index, path);
    return rc ? 2 : 0;
}

static int get(const char *path, const char *name, const char *index) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = f < 0 ? -1 : H5Dopen2(f, name, H5P_DEFAULT);
    hid_t sp = d < 0 ? -1 : H5Dget_space(d);
    hssize_t n = sp < 0 ? -1 : H5Sget_simple_extent_npoints(sp);
    unsigned long long at = strtoull(index, NULL, 10);
    double *all = n > 0 && (hssize_t)at < n ? malloc(sizeof(double) * (size_t)n) : NULL;
    int rc = !all || H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, all) < 0;
    if (!rc) printf("%.9g\n", all[at]);
    else fprintf(stderr, "ms_h5tool: cannot read %s[%s] of %s\n", name, index, path);
    free(all);
    if (sp >= 0) H5Sclose(sp);
    if (d >= 0) H5Dclose(d);
    if (f >= 0) H5Fclose(f);
    return rc ? 2 : 0;
}

static int setattr(const char *path, const char *name, const char *value) {
    hid_t f = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    hid_t a = f < 0 ? -1 : H5Aopen(f, name, H5P_DEFAULT);
    long long v = strtoll(value, NULL, 10);
    int rc = a < 0 || H5Awrite(a, H5T_NATIVE_LLONG, &v) < 0;
    if (a >= 0) H5Aclose(a);
    if (f >= 0 && H5Fclose(f) < 0) rc = 1;
    if (rc) fprintf(stderr, "ms_h5tool: cannot write attribute %s of %s\n", name, path);
    return rc ? 2 : 0;
}

int main(int argc, char **argv) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (argc >= 4 && !strcmp(argv[1], "cmpdone")) {
        char *ign[64];
        int n = 0;
        for (int i = 4; i + 1 < argc && !strcmp(argv[i], "--ignore") && n < 64; i += 2)
            ign[n++] = argv[i + 1];
        return cmpdone(argv[2], argv[3], ign, n);
    }
    if (argc == 6 && !strcmp(argv[1], "set")) return set(argv[2], argv[3], argv[4], argv[5]);
    if (argc == 5 && !strcmp(argv[1], "setattr")) return setattr(argv[2], argv[3], argv[4]);
    if (argc == 5 && !strcmp(argv[1], "get")) return get(argv[2], argv[3], argv[4]);
    if (argc >= 4 && !strcmp(argv[1], "cmp")) {
        char *ign[64];
        int n = 0;
        for (int i = 4; i < argc; i++) {
            if (!strcmp(argv[i], "--ignore") && i + 1 < argc && n < 64)
                ign[n++] = argv[++i];
            else {
                fprintf(stderr, "ms_h5tool: unexpected '%s'\n", argv[i]);
                return 2;
            }
        }
        return cmp(argv[2], argv[3], ign, n);
    }
    if (argc == 3 && !strcmp(argv[1], "done")) return done(argv[2]);
    fprintf(stderr, "usage: ms_h5tool cmp A.h5 B.h5 [--ignore NAME]... | done FILE.h5 | cmpdone "
                    "REF.h5 FILE.h5 [--ignore NAME]... | set FILE.h5 DATASET INDEX VALUE | "
                    "setattr FILE.h5 NAME VALUE | get FILE.h5 DATASET INDEX\n");
    return 2;
}
