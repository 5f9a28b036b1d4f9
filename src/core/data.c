/* Datasets (data.h): MNIST / Fashion-MNIST IDX files, gzip-compressed or
 * raw, and CIFAR-10 binary batches, read with every length checked against
 * what the file really holds; and their conversion to float splits (layout,
 * normalisation).
 *
 * Dimension letters: N images, C channels, H rows, W columns; K a class.
 *
 * Length discipline (the loaders are fuzzed): no number from a header is
 * used to allocate before it has been range-checked and compared with an
 * upper bound of the bytes the file can deliver: the exact size of a raw
 * file, or 1032 x the compressed size for a gzip file (deflate cannot expand
 * more than 1032:1). All byte counts are uint64_t products of range-checked
 * factors, so they cannot overflow. */
#include "modsweep/data.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "modsweep/error.h"

/* ---- one input file, raw or gzip -------------------------------------- */

/* Deflate's largest expansion is 258 bytes from 2 bits; any gzip file of s
 * bytes decompresses to at most s * GZ_MAX_RATIO bytes. */
#define GZ_MAX_RATIO 1032u
/* Largest request passed to one read() or gzread() call (gzread takes an
 * unsigned and returns an int). */
#define READ_CHUNK ((size_t)1 << 30)
/* Size of zlib's input and output buffers. */
#define GZ_BUFFER (128u * 1024u)

/* An open input file. A raw file is read through its descriptor; a gzip
 * file (first two bytes 0x1f 0x8b) through zlib, which owns the descriptor. */
typedef struct infile {
    const char *path;
    int fd;        /* raw: the descriptor; -1 when gz is set or closed */
    gzFile gz;     /* gzip: the zlib stream; NULL for raw files */
    uint64_t size; /* bytes on disk */
    uint64_t pos;  /* bytes delivered so far (decompressed bytes for gzip) */
} infile_t;

/* Opens path, checks it is a readable regular file and detects gzip. */
static int infile_open(infile_t *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->path = path;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) return ms_err_set(MS_EIO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        int e = errno;
        close(f->fd);
        f->fd = -1;
        return ms_err_set(MS_EIO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(f->fd);
        f->fd = -1;
        return ms_err_set(MS_EIO, "%s: not a regular file%s", path,
                          S_ISDIR(st.st_mode) ? " (it is a directory)" : "");
    }
    f->size = (uint64_t)st.st_size;
    unsigned char magic[2];
    ssize_t got = pread(f->fd, magic, 2, 0);
    if (got < 0) {
        int e = errno;
        close(f->fd);
        f->fd = -1;
        return ms_err_set(MS_EIO, "%s: cannot read: %s", path, strerror(e));
    }
    if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
        /* gzdopen takes the descriptor over (gzclose closes it). */
        f->gz = gzdopen(f->fd, "rb");
        if (!f->gz) {
            close(f->fd);
            f->fd = -1;
            return ms_err_set(MS_ENOMEM, "%s: cannot start the gzip decoder", path);
        }
        f->fd = -1;
        gzbuffer(f->gz, GZ_BUFFER);
    }
    return 0;
}

static void infile_close(infile_t *f) {
    if (f->gz) gzclose(f->gz);
    if (f->fd >= 0) close(f->fd);
    f->gz = NULL;
    f->fd = -1;
}

/* Turns zlib's error state after a gzread into an ms_err_t (0 when none).
 * zlib decodes ahead into its buffer, so an error is seen up to GZ_BUFFER
 * bytes before the data it concerns is delivered: messages give no offset. */
static int gz_check(infile_t *f) {
    int zerr = Z_OK;
    const char *zmsg = gzerror(f->gz, &zerr);
    /* zlib prefixes its message with the name it knows, "<fd:N>: ". */
    if (zmsg && strncmp(zmsg, "<fd:", 4) == 0 && strstr(zmsg, ">: "))
        zmsg = strstr(zmsg, ">: ") + 3;
    switch (zerr) {
    case Z_OK:
        return 0;
    case Z_ERRNO:
        return ms_err_set(MS_EIO, "%s: read error: %s", f->path, strerror(errno));
    case Z_MEM_ERROR:
        return ms_err_set(MS_ENOMEM, "%s: out of memory in the gzip decoder", f->path);
    case Z_BUF_ERROR:
        return ms_err_set(MS_EFORMAT,
                          "%s: corrupt gzip stream: the compressed data ends early (zlib: %s); "
                          "the file is truncated",
                          f->path, zmsg);
    default:
        return ms_err_set(MS_EFORMAT, "%s: corrupt gzip stream (zlib: %s)", f->path, zmsg);
    }
}

/* Reads up to n bytes into buf, stopping early only at the end of the data;
 * *got is the number read. Read errors and gzip stream errors are errors. */
static int infile_read(infile_t *f, void *buf, size_t n, size_t *got) {
    unsigned char *p = buf;
    size_t done = 0;
    while (done < n) {
        size_t want = n - done < READ_CHUNK ? n - done : READ_CHUNK;
        if (f->gz) {
            int r = gzread(f->gz, p + done, (unsigned)want);
            if (r < 0 || (r == 0 && !gzeof(f->gz))) {
                int rc = gz_check(f);
                if (rc) return rc;
                return ms_err_set(MS_EFORMAT, "%s: gzip decoder failed", f->path);
            }
            done += (size_t)r;
            f->pos += (uint64_t)r;
            /* zlib reports a cut stream as a short read plus an error state. */
            int rc = gz_check(f);
            if (rc) return rc;
            if (r == 0) break;
        } else {
            ssize_t r = read(f->fd, p + done, want);
            if (r < 0) {
                if (errno == EINTR) continue;
                return ms_err_set(MS_EIO, "%s: read error: %s", f->path, strerror(errno));
            }
            if (r == 0) break;
            done += (size_t)r;
            f->pos += (uint64_t)r;
        }
    }
    *got = done;
    return 0;
}

/* Reads and discards the rest of the data, counting it into *rest. */
static int infile_drain(infile_t *f, uint64_t *rest) {
    unsigned char scratch[16384];
    uint64_t total = 0;
    for (;;) {
        size_t got = 0;
        int rc = infile_read(f, scratch, sizeof scratch, &got);
        if (rc) return rc;
        total += got;
        if (got < sizeof scratch) break;
    }
    *rest = total;
    return 0;
}

/* An upper bound of the bytes still to come: exact for a raw file. */
static uint64_t infile_max_rest(const infile_t *f) {
    if (!f->gz) return f->size > f->pos ? f->size - f->pos : 0;
    /* The size is at most 2^63, so the product cannot wrap for real files;
     * saturate anyway. */
    if (f->size > UINT64_MAX / GZ_MAX_RATIO) return UINT64_MAX;
    return f->size * GZ_MAX_RATIO;
}

/* Checks the rest of f against `expected` bytes of `what` ("pixel data")
 * before anything is allocated for them: a raw file is compared exactly, a
 * gzip file whose bound is too small is drained to say how much it holds.
 * `desc` describes what the header says ("header says 3 images of 28x28"). */
static int check_rest_plausible(infile_t *f, uint64_t expected, const char *what,
                                const char *desc) {
    uint64_t avail = infile_max_rest(f);
    if (avail >= expected && f->gz) return 0;
    if (f->gz) {
        int rc = infile_drain(f, &avail);
        if (rc) return rc;
        /* The stream is consumed now; deflate cannot have produced this much. */
        if (avail >= expected)
            return ms_err_set(MS_EFORMAT,
                              "%s: malformed gzip stream: it expands more than %ux its "
                              "compressed size, which deflate cannot do",
                              f->path, GZ_MAX_RATIO);
    }
    if (avail < expected)
        return ms_err_set(MS_EFORMAT,
                          "%s: truncated: %s (%llu bytes of %s), file holds %llu bytes of %s "
                          "after the header",
                          f->path, desc, (unsigned long long)expected, what,
                          (unsigned long long)avail, what);
    if (avail > expected)
        return ms_err_set(MS_EFORMAT,
                          "%s: malformed: %llu trailing bytes after the %llu bytes of %s the "
                          "header describes (%s)",
                          f->path, (unsigned long long)(avail - expected),
                          (unsigned long long)expected, what, desc);
    return 0;
}

/* Reads exactly `expected` bytes of `what` into buf and checks that nothing
 * follows them (the file may have changed since check_rest_plausible). */
static int read_exact_payload(infile_t *f, void *buf, uint64_t expected, const char *what,
                              const char *desc) {
    size_t got = 0;
    int rc = infile_read(f, buf, (size_t)expected, &got);
    if (rc) return rc;
    if (got < expected)
        return ms_err_set(MS_EFORMAT,
                          "%s: truncated: %s (%llu bytes of %s), file holds %llu bytes of %s "
                          "after the header",
                          f->path, desc, (unsigned long long)expected, what,
                          (unsigned long long)got, what);
    uint64_t rest = 0;
    rc = infile_drain(f, &rest);
    if (rc) return rc;
    if (rest)
        return ms_err_set(MS_EFORMAT,
                          "%s: malformed: %llu trailing bytes after the %llu bytes of %s the "
                          "header describes (%s)",
                          f->path, (unsigned long long)rest, (unsigned long long)expected, what,
                          desc);
    return 0;
}

/* ---- IDX ---------------------------------------------------------------- */

/* Magic numbers: 0x00 0x00, type 0x08 (unsigned byte), number of dimensions. */
#define IDX_MAGIC_IMAGES 0x00000803u
#define IDX_MAGIC_LABELS 0x00000801u
#define IDX_HEADER_IMAGES 16
#define IDX_HEADER_LABELS 8

static uint32_t be32(const unsigned char *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Describes a magic number that is not the expected one, for messages. */
static void describe_magic(uint32_t found, int want_images, char *buf, size_t n) {
    if (want_images && found == IDX_MAGIC_LABELS)
        snprintf(buf, n, "; it is an IDX label file: are the images and labels files swapped?");
    else if (!want_images && found == IDX_MAGIC_IMAGES)
        snprintf(buf, n, "; it is an IDX image file: are the images and labels files swapped?");
    else if ((found >> 16) == 0)
        snprintf(buf, n, "; it is an IDX file of element type 0x%02x with %u dimensions",
                 (found >> 8) & 0xffu, found & 0xffu);
    else
        snprintf(buf, n, "; it is not an IDX file");
}

/* Reads and checks the header of an IDX file: images (rows, cols set) or
 * labels. *n is the number of items. */
static int idx_read_header(infile_t *f, int want_images, uint32_t *n, uint32_t *rows,
                           uint32_t *cols) {
    const size_t header = want_images ? IDX_HEADER_IMAGES : IDX_HEADER_LABELS;
    const uint32_t want = want_images ? IDX_MAGIC_IMAGES : IDX_MAGIC_LABELS;
    const char *kind = want_images ? "image" : "label";
    unsigned char h[IDX_HEADER_IMAGES];
    size_t got = 0;
    int rc = infile_read(f, h, header, &got);
    if (rc) return rc;
    if (got == 0)
        return ms_err_set(MS_EFORMAT,
                          "%s: empty file (an IDX %s file starts with a header of %zu bytes)",
                          f->path, kind, header);
    /* The magic is checked first: a wrong file says more than a short one. */
    if (got >= 4 && be32(h) != want) {
        char hint[128];
        describe_magic(be32(h), want_images, hint, sizeof hint);
        return ms_err_set(MS_EFORMAT,
                          "%s: wrong magic number 0x%08x, expected 0x%08x (IDX %s file)%s", f->path,
                          be32(h), want, kind, hint);
    }
    if (got < header)
        return ms_err_set(MS_EFORMAT,
                          "%s: truncated header: file holds %zu bytes, an IDX %s header needs %zu",
                          f->path, got, kind, header);
    *n = be32(h + 4);
    if (want_images) {
        *rows = be32(h + 8);
        *cols = be32(h + 12);
        if (*n == 0 || *n > MS_IDX_MAX_N || *rows == 0 || *rows > MS_IDX_MAX_SIDE || *cols == 0 ||
            *cols > MS_IDX_MAX_SIDE)
            return ms_err_set(MS_EFORMAT,
                              "%s: implausible dimensions in the header: %u images of %ux%u "
                              "(accepted: 1..%d images of 1..%d x 1..%d pixels)",
                              f->path, *n, *rows, *cols, MS_IDX_MAX_N, MS_IDX_MAX_SIDE,
                              MS_IDX_MAX_SIDE);
    } else if (*n == 0 || *n > MS_IDX_MAX_N) {
        return ms_err_set(MS_EFORMAT,
                          "%s: implausible dimensions in the header: %u labels (accepted: 1..%d)",
                          f->path, *n, MS_IDX_MAX_N);
    }
    return 0;
}

int ms_images_alloc(ms_images_t *im, int n, int c, int h, int w) {
    memset(im, 0, sizeof *im);
    if (n < 1 || c < 1 || h < 1 || w < 1)
        return ms_err_set(MS_EINVAL, "images: invalid size %d x %d x %d x %d", n, c, h, w);
    /* h * w < 2^62 fits; c * (h * w) may wrap, which the division detects. */
    const uint64_t hw = (uint64_t)h * (uint64_t)w, per = (uint64_t)c * hw;
    if (per / (uint64_t)c != hw || per > (uint64_t)SIZE_MAX / (uint64_t)n)
        return ms_err_set(MS_EINVAL, "images: %d x %d x %d x %d pixels overflow the address space",
                          n, c, h, w);
    size_t bytes = (size_t)(per * (uint64_t)n);
    im->pixels = calloc(bytes, 1);
    im->labels = calloc((size_t)n, 1);
    if (!im->pixels || !im->labels) {
        free(im->pixels);
        free(im->labels);
        memset(im, 0, sizeof *im);
        return ms_err_set(MS_ENOMEM, "images: cannot allocate %zu bytes for %d images", bytes, n);
    }
    im->n = n;
    im->c = c;
    im->h = h;
    im->w = w;
    return 0;
}

void ms_images_free(ms_images_t *im) {
    if (!im) return;
    free(im->pixels);
    free(im->labels);
    memset(im, 0, sizeof *im);
}

/* Checks that every label of im read from `path` is 0..9. */
static int check_labels(const uint8_t *labels, int n, const char *path, const char *unit) {
    for (int i = 0; i < n; i++)
        if (labels[i] >= MS_N_CLASSES)
            return ms_err_set(MS_EFORMAT,
                              "%s: label %u of %s %d is out of range (labels are 0..%d)", path,
                              labels[i], unit, i, MS_N_CLASSES - 1);
    return 0;
}

int ms_idx_load(ms_images_t *out, const char *images_path, const char *labels_path) {
    memset(out, 0, sizeof *out);
    if (!images_path || !labels_path)
        return ms_err_set(MS_EINVAL, "ms_idx_load: images and labels paths are required");
    infile_t fi = {.fd = -1}, fl = {.fd = -1};
    ms_images_t im = {0};
    uint32_t n = 0, rows = 0, cols = 0, n_labels = 0;
    char desc_px[128], desc_lb[64];

    int rc = infile_open(&fi, images_path);
    if (rc) goto done;
    rc = idx_read_header(&fi, 1, &n, &rows, &cols);
    if (rc) goto done;
    rc = infile_open(&fl, labels_path);
    if (rc) goto done;
    rc = idx_read_header(&fl, 0, &n_labels, NULL, NULL);
    if (rc) goto done;
    if (n != n_labels) {
        rc = ms_err_set(MS_EFORMAT, "%s holds %u images but %s holds %u labels (counts disagree)",
                        images_path, n, labels_path, n_labels);
        goto done;
    }

    /* Both factors are range-checked, so the product is below 2^44. */
    const uint64_t px_bytes = (uint64_t)n * rows * cols;
    snprintf(desc_px, sizeof desc_px, "header says %u images of %ux%u", n, rows, cols);
    snprintf(desc_lb, sizeof desc_lb, "header says %u labels", n);
    rc = check_rest_plausible(&fi, px_bytes, "pixel data", desc_px);
    if (rc) goto done;
    rc = check_rest_plausible(&fl, n, "label data", desc_lb);
    if (rc) goto done;

    rc = ms_images_alloc(&im, (int)n, 1, (int)rows, (int)cols);
    if (rc) goto done;
    rc = read_exact_payload(&fi, im.pixels, px_bytes, "pixel data", desc_px);
    if (rc) goto done;
    rc = read_exact_payload(&fl, im.labels, n, "label data", desc_lb);
    if (rc) goto done;
    rc = check_labels(im.labels, im.n, labels_path, "item");

done:
    infile_close(&fi);
    infile_close(&fl);
    if (rc)
        ms_images_free(&im);
    else
        *out = im;
    return rc;
}

/* ---- CIFAR-10 ------------------------------------------------------------ */

#define CIFAR_PIXELS (MS_CIFAR10_RECORD - 1) /* 3 x 32 x 32 */

/* Opens a CIFAR-10 batch and returns its number of records in *records. */
static int cifar_open(infile_t *f, const char *path, uint64_t *records) {
    int rc = infile_open(f, path);
    if (rc) return rc;
    if (f->gz) {
        infile_close(f);
        return ms_err_set(MS_EFORMAT,
                          "%s: gzip-compressed; CIFAR-10 batches are read uncompressed "
                          "(decompress the file first)",
                          path);
    }
    if (f->size == 0) {
        infile_close(f);
        return ms_err_set(MS_EFORMAT, "%s: empty file (a CIFAR-10 batch holds records of %d bytes)",
                          path, MS_CIFAR10_RECORD);
    }
    if (f->size % MS_CIFAR10_RECORD != 0) {
        infile_close(f);
        return ms_err_set(MS_EFORMAT,
                          "%s: size %llu bytes is not a multiple of the %d-byte CIFAR-10 record "
                          "(1 label + 3072 pixels); the file is truncated or not a CIFAR-10 batch",
                          path, (unsigned long long)f->size, MS_CIFAR10_RECORD);
    }
    *records = f->size / MS_CIFAR10_RECORD;
    return 0;
}

/* Reads `records` records of an open batch into im from image `first` on. */
static int cifar_read(infile_t *f, ms_images_t *im, int first, int records) {
    unsigned char rec[MS_CIFAR10_RECORD];
    for (int i = 0; i < records; i++) {
        size_t got = 0;
        int rc = infile_read(f, rec, sizeof rec, &got);
        if (rc) return rc;
        if (got < sizeof rec)
            return ms_err_set(MS_EFORMAT,
                              "%s: truncated: record %d of %d is cut after %zu of %d bytes "
                              "(the file shrank while being read)",
                              f->path, i, records, got, MS_CIFAR10_RECORD);
        if (rec[0] >= MS_N_CLASSES)
            return ms_err_set(MS_EFORMAT,
                              "%s: label %u of record %d is out of range (labels are 0..%d)",
                              f->path, rec[0], i, MS_N_CLASSES - 1);
        im->labels[first + i] = rec[0];
        memcpy(im->pixels + (size_t)(first + i) * CIFAR_PIXELS, rec + 1, CIFAR_PIXELS);
    }
    uint64_t rest = 0;
    int rc = infile_drain(f, &rest);
    if (rc) return rc;
    if (rest)
        return ms_err_set(MS_EFORMAT,
                          "%s: malformed: %llu trailing bytes after %d records (the file grew "
                          "while being read)",
                          f->path, (unsigned long long)rest, records);
    return 0;
}

int ms_cifar10_load(ms_images_t *out, const char *const *paths, int n_paths) {
    memset(out, 0, sizeof *out);
    if (!paths || n_paths < 1)
        return ms_err_set(MS_EINVAL, "ms_cifar10_load: no batch files given");
    for (int k = 0; k < n_paths; k++)
        if (!paths[k]) return ms_err_set(MS_EINVAL, "ms_cifar10_load: path %d is NULL", k);

    /* First pass: sizes, so the images are allocated once. */
    uint64_t total = 0;
    for (int k = 0; k < n_paths; k++) {
        infile_t f;
        uint64_t records = 0;
        int rc = cifar_open(&f, paths[k], &records);
        if (rc) return rc;
        infile_close(&f);
        total += records;
        if (total > (uint64_t)MS_IDX_MAX_N)
            return ms_err_set(MS_EFORMAT,
                              "%s: too many CIFAR-10 records in all (more than %d up to this file)",
                              paths[k], MS_IDX_MAX_N);
    }

    ms_images_t im;
    int rc = ms_images_alloc(&im, (int)total, 3, 32, 32);
    if (rc) return rc;
    int first = 0;
    for (int k = 0; k < n_paths && !rc; k++) {
        infile_t f;
        uint64_t records = 0;
        rc = cifar_open(&f, paths[k], &records);
        if (rc) break;
        if (records > total - (uint64_t)first)
            rc = ms_err_set(MS_EFORMAT, "%s: the file grew while the batches were being read",
                            paths[k]);
        else
            rc = cifar_read(&f, &im, first, (int)records);
        infile_close(&f);
        first += (int)records;
    }
    if (!rc && (uint64_t)first != total)
        rc = ms_err_set(MS_EFORMAT, "%s: the batches shrank while being read", paths[n_paths - 1]);
    if (rc) {
        ms_images_free(&im);
        return rc;
    }
    *out = im;
    return 0;
}

/* ---- configuration and the two splits ------------------------------------ */

#define MNIST_MEAN 0.1307f
#define MNIST_STD 0.3081f
#define FASHION_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define CIFAR_SUBDIR "cifar-10-batches-bin"

void ms_data_cfg_defaults(ms_data_cfg_t *cfg, ms_dataset_kind_t kind) {
    memset(cfg, 0, sizeof *cfg);
    cfg->kind = kind;
    cfg->layout = MS_LAYOUT_NATIVE;
    if (kind == MS_DATA_CIFAR10) {
        cfg->norm = MS_NORM_UNIT;
        for (int k = 0; k < 3; k++) {
            cfg->mean[k] = 0.0f;
            cfg->std[k] = 1.0f;
        }
    } else {
        /* MNIST's statistics, used by the seeds for Fashion-MNIST as well. */
        cfg->norm = MS_NORM_MEANSTD;
        for (int k = 0; k < 3; k++) {
            cfg->mean[k] = MNIST_MEAN;
            cfg->std[k] = MNIST_STD;
        }
    }
    if (kind == MS_DATA_FASHION) snprintf(cfg->dir, sizeof cfg->dir, "%s", FASHION_DEFAULT_DIR);
}

void ms_split_free(ms_split_t *s) {
    if (!s) return;
    free(s->x);
    free(s->y);
    memset(s, 0, sizeof *s);
}

int ms_split_class_indices(const ms_split_t *s, int label, int32_t *idx) {
    if (label < 0 || label >= s->n_classes)
        return ms_err_set(MS_EINVAL, "class %d is not one of the split's %d classes", label,
                          s->n_classes);
    int count = 0;
    for (int i = 0; i < s->n; i++)
        if (s->y[i] == label) {
            if (idx) idx[count] = i;
            count++;
        }
    return count;
}

/* Fills lut[v], v = 0..255, with the normalised value of pixel v, computed
 * as PyTorch does in float32: ToTensor divides by 255, Normalize subtracts
 * the mean and then divides by the std. */
static void fill_lut(float lut[256], ms_norm_t norm, float mean, float std) {
    for (int v = 0; v < 256; v++) {
        float x = (float)v;
        if (norm != MS_NORM_NONE) x = x / 255.0f;
        if (norm == MS_NORM_MEANSTD) x = (x - mean) / std;
        lut[v] = x;
    }
}

int ms_split_from_images(ms_split_t *out, const ms_images_t *im, ms_layout_kind_t layout,
                         ms_norm_t norm, const float *mean, const float *std, int limit) {
    memset(out, 0, sizeof *out);
    if (!im || !im->pixels || !im->labels || im->n < 1 || im->c < 1 || im->h < 1 || im->w < 1)
        return ms_err_set(MS_EINVAL, "split: no images to convert");
    if (limit < 0) return ms_err_set(MS_EINVAL, "split: limit %d is negative", limit);
    if (norm != MS_NORM_NONE && norm != MS_NORM_UNIT && norm != MS_NORM_MEANSTD)
        return ms_err_set(MS_EINVAL, "split: unknown normalisation %d", (int)norm);
    if (layout != MS_LAYOUT_NATIVE && layout != MS_LAYOUT_3X32X32)
        return ms_err_set(MS_EINVAL, "split: unknown layout %d", (int)layout);
    if (layout == MS_LAYOUT_3X32X32 && (im->c != 1 || im->h != 28 || im->w != 28))
        return ms_err_set(MS_EINVAL,
                          "split: layout 3x32x32 needs 1x28x28 images, these are %dx%dx%d", im->c,
                          im->h, im->w);
    if (im->c > 3)
        return ms_err_set(MS_EINVAL, "split: %d channels (at most 3 are supported)", im->c);
    if (norm == MS_NORM_MEANSTD) {
        if (!mean || !std)
            return ms_err_set(MS_EINVAL, "split: mean/std normalisation without values");
        for (int k = 0; k < im->c; k++)
            if (!isfinite(mean[k]) || !isfinite(std[k]) || !(std[k] > 0.0f))
                return ms_err_set(
                    MS_EINVAL, "split: channel %d: mean %g / std %g (std must be finite and > 0)",
                    k, (double)mean[k], (double)std[k]);
    }

    const int N = limit > 0 && limit < im->n ? limit : im->n;
    const int C_in = im->c, H_in = im->h, W_in = im->w;
    const int C = layout == MS_LAYOUT_3X32X32 ? 3 : C_in;
    const int H = layout == MS_LAYOUT_3X32X32 ? 32 : H_in;
    const int W = layout == MS_LAYOUT_3X32X32 ? 32 : W_in;
    const int pad = layout == MS_LAYOUT_3X32X32 ? 2 : 0;

    /* One lookup table per source channel. */
    float lut[3][256];
    for (int k = 0; k < C_in; k++)
        fill_lut(lut[k], norm, norm == MS_NORM_MEANSTD ? mean[k] : 0.0f,
                 norm == MS_NORM_MEANSTD ? std[k] : 1.0f);

    const size_t per_in = (size_t)C_in * H_in * W_in, per_out = (size_t)C * H * W;
    if (per_out > SIZE_MAX / sizeof(float) / (size_t)N)
        return ms_err_set(MS_EINVAL, "split: %d images of %dx%dx%d overflow the address space", N,
                          C, H, W);
    out->x = malloc((size_t)N * per_out * sizeof(float));
    out->y = malloc((size_t)N);
    if (!out->x || !out->y) {
        ms_split_free(out);
        return ms_err_set(MS_ENOMEM, "split: cannot allocate %d images of %dx%dx%d", N, C, H, W);
    }

    for (int i = 0; i < N; i++) {
        const uint8_t lb = im->labels[i];
        if (lb >= MS_N_CLASSES) {
            ms_split_free(out);
            return ms_err_set(MS_EINVAL, "split: image %d has label %u (labels are 0..%d)", i, lb,
                              MS_N_CLASSES - 1);
        }
        out->y[i] = lb;
        out->class_count[lb]++;
        const uint8_t *src = im->pixels + (size_t)i * per_in;
        float *dst = out->x + (size_t)i * per_out;
        if (pad == 0) {
            for (int k = 0; k < C; k++)
                for (size_t p = 0; p < (size_t)H * W; p++)
                    dst[(size_t)k * H * W + p] = lut[k][src[(size_t)k * H * W + p]];
            continue;
        }
        /* 3x32x32: channel 0 is the padded image, channels 1 and 2 copies. */
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++) {
                const int ys = y - pad, xs = x - pad;
                const int inside = ys >= 0 && ys < H_in && xs >= 0 && xs < W_in;
                dst[y * W + x] = lut[0][inside ? src[ys * W_in + xs] : 0];
            }
        for (int k = 1; k < C; k++)
            memcpy(dst + (size_t)k * H * W, dst, (size_t)H * W * sizeof(float));
    }
    out->n = N;
    out->c = C;
    out->h = H;
    out->w = W;
    out->n_classes = MS_N_CLASSES;
    return 0;
}

/* Joins dir and name into buf; MS_EINVAL when it does not fit. */
static int join_path(char *buf, size_t cap, const char *dir, const char *sub, const char *name,
                     const char *suffix) {
    int len = sub ? snprintf(buf, cap, "%s/%s/%s%s", dir, sub, name, suffix)
                  : snprintf(buf, cap, "%s/%s%s", dir, name, suffix);
    if (len < 0 || (size_t)len >= cap)
        return ms_err_set(MS_EINVAL, "%s/%s: path too long (more than %zu bytes)", dir, name,
                          cap - 1);
    return 0;
}

static int path_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* Finds an IDX file: dir/name.gz, else dir/name. */
static int find_idx(char *buf, size_t cap, const char *dir, const char *name) {
    char raw[PATH_MAX];
    int rc = join_path(buf, cap, dir, NULL, name, ".gz");
    if (!rc) rc = join_path(raw, sizeof raw, dir, NULL, name, "");
    if (rc) return rc;
    if (path_exists(buf)) return 0;
    if (path_exists(raw)) {
        snprintf(buf, cap, "%s", raw);
        return 0;
    }
    return ms_err_set(MS_EIO, "%s: no such file (nor %s)", buf, raw);
}

/* Finds a CIFAR-10 batch: dir/name, else dir/cifar-10-batches-bin/name. */
static int find_cifar(char *buf, size_t cap, const char *dir, const char *name) {
    char sub[PATH_MAX];
    int rc = join_path(buf, cap, dir, NULL, name, "");
    if (!rc) rc = join_path(sub, sizeof sub, dir, CIFAR_SUBDIR, name, "");
    if (rc) return rc;
    if (path_exists(buf)) return 0;
    if (path_exists(sub)) {
        snprintf(buf, cap, "%s", sub);
        return 0;
    }
    return ms_err_set(MS_EIO, "%s: no such file (nor %s)", buf, sub);
}

/* Loads the raw train (which = 0) or test (which = 1) images of cfg; `where`
 * (PATH_MAX bytes) gets the file that holds the images (the first batch). */
static int load_raw(const ms_data_cfg_t *cfg, int which, ms_images_t *im, char *where) {
    if (cfg->kind == MS_DATA_CIFAR10) {
        static const char *const names[2][5] = {{"data_batch_1.bin", "data_batch_2.bin",
                                                 "data_batch_3.bin", "data_batch_4.bin",
                                                 "data_batch_5.bin"},
                                                {"test_batch.bin"}};
        const int count = which == 0 ? 5 : 1;
        char paths[5][PATH_MAX];
        const char *ptrs[5];
        for (int k = 0; k < count; k++) {
            int rc = find_cifar(paths[k], sizeof paths[k], cfg->dir, names[which][k]);
            if (rc) return rc;
            ptrs[k] = paths[k];
        }
        snprintf(where, PATH_MAX, "%s", paths[0]);
        return ms_cifar10_load(im, ptrs, count);
    }
    static const char *const img[2] = {"train-images-idx3-ubyte", "t10k-images-idx3-ubyte"};
    static const char *const lab[2] = {"train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"};
    char ip[PATH_MAX], lp[PATH_MAX];
    int rc = find_idx(ip, sizeof ip, cfg->dir, img[which]);
    if (!rc) rc = find_idx(lp, sizeof lp, cfg->dir, lab[which]);
    if (!rc) snprintf(where, PATH_MAX, "%s", ip);
    if (!rc) rc = ms_idx_load(im, ip, lp);
    return rc;
}

int ms_data_load(const ms_data_cfg_t *cfg, ms_split_t *train, ms_split_t *test) {
    memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (cfg->kind != MS_DATA_MNIST && cfg->kind != MS_DATA_FASHION && cfg->kind != MS_DATA_CIFAR10)
        return ms_err_set(MS_EINVAL, "data: unknown dataset kind %d", (int)cfg->kind);
    if (memchr(cfg->dir, 0, sizeof cfg->dir) == NULL)
        return ms_err_set(MS_EINVAL, "data: dir is not NUL-terminated");
    if (!cfg->dir[0]) return ms_err_set(MS_EINVAL, "data: no data folder (dir) given");

    ms_split_t *splits[2] = {train, test};
    const int limits[2] = {cfg->train_limit, cfg->test_limit};
    char where[2][PATH_MAX] = {"", ""};
    int shape[3] = {0, 0, 0}; /* c, h, w of the training images */
    for (int which = 0; which < 2; which++) {
        ms_images_t im = {0};
        int rc = load_raw(cfg, which, &im, where[which]);
        if (!rc && which == 0) {
            shape[0] = im.c, shape[1] = im.h, shape[2] = im.w;
        } else if (!rc && (im.c != shape[0] || im.h != shape[1] || im.w != shape[2])) {
            /* A network takes one input shape: test images of another shape
             * would be read past their end or misread. */
            rc = ms_err_set(MS_EFORMAT,
                            "%s: the test images are %dx%dx%d but the training images (%s) are "
                            "%dx%dx%d; both splits must have one shape",
                            where[1], im.c, im.h, im.w, where[0], shape[0], shape[1], shape[2]);
        }
        if (!rc) {
            rc = ms_split_from_images(splits[which], &im, cfg->layout, cfg->norm, cfg->mean,
                                      cfg->std, limits[which]);
            if (rc)
                ms_err_wrap(rc, "data in %s (%s split): ", cfg->dir, which == 0 ? "train" : "test");
        }
        ms_images_free(&im);
        if (rc) {
            ms_split_free(train);
            ms_split_free(test);
            return rc;
        }
    }
    return 0;
}

int ms_data_files(const ms_data_cfg_t *cfg, char (*paths)[MS_DATA_PATH_MAX], int max) {
    if (memchr(cfg->dir, 0, sizeof cfg->dir) == NULL)
        return ms_err_set(MS_EINVAL, "data: dir is not NUL-terminated");
    if (!cfg->dir[0]) return ms_err_set(MS_EINVAL, "data: no data folder (dir) given");
    int n = 0, rc = 0;
    if (cfg->kind == MS_DATA_CIFAR10) {
        static const char *const names[] = {"data_batch_1.bin", "data_batch_2.bin",
                                            "data_batch_3.bin", "data_batch_4.bin",
                                            "data_batch_5.bin", "test_batch.bin"};
        for (int k = 0; k < 6 && !rc; k++) {
            if (n == max) return ms_err_set(MS_EINVAL, "data: more than %d files", max);
            rc = find_cifar(paths[n++], MS_DATA_PATH_MAX, cfg->dir, names[k]);
        }
    } else if (cfg->kind == MS_DATA_MNIST || cfg->kind == MS_DATA_FASHION) {
        static const char *const names[] = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                            "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
        for (int k = 0; k < 4 && !rc; k++) {
            if (n == max) return ms_err_set(MS_EINVAL, "data: more than %d files", max);
            rc = find_idx(paths[n++], MS_DATA_PATH_MAX, cfg->dir, names[k]);
        }
    } else {
        return ms_err_set(MS_EINVAL, "data: unknown dataset kind %d", (int)cfg->kind);
    }
    return rc ? rc : n;
}
