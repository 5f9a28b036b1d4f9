/* Small checks on modsweep results files for the shell tests, written
 * against the HDF5 C API directly (independent of src/results.c):
 *
 *   ms_h5tool cmp A.h5 B.h5 [--ignore NAME]...
 *       Compares every dataset of A and B byte for byte (so NaN equals NaN
 *       of the same bits): same set of datasets, same type size, shape and
 *       contents. Datasets whose name (last path component) contains "time"
 *       or is host, rank or team are skipped (they record where and how long
 *       a task ran), and so is every dataset named by --ignore (a full path
 *       like /labels/states or a last component). Prints each difference;
 *       exits 0 when equal, 1 when not, 2 on an error.
 *
 *   ms_h5tool done FILE.h5
 *       Prints one line per task whose status is done, in the words of
 *       modsweep's log: "train model M", "analyse model M",
 *       "prune model M label X" (X the label value). */
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

int main(int argc, char **argv) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
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
    fprintf(stderr, "usage: ms_h5tool cmp A.h5 B.h5 [--ignore NAME]... | ms_h5tool done FILE.h5\n");
    return 2;
}
