/* Fuzz target: the IDX loader (ms_idx_load) on an image file and a label
 * file made from the input, raw or gzip-compressed.
 *
 * Input: byte 0 = mode (bit 0: gzip the image file, bit 1: gzip the label
 * file, in the harness, so the fuzzer explores the content behind a valid
 * gzip stream; bit 2: also convert an accepted set to splits), bytes 1-2 =
 * length of the image file's bytes (little-endian, clipped), then the image
 * file's bytes, then the label file's bytes. A file whose own bytes start
 * with the gzip magic goes through zlib as it is (corrupt streams).
 *
 * Properties beyond "no crash, no leak, no undefined behaviour":
 * - a refusal is MS_EFORMAT / MS_EIO / MS_ENOMEM with a message naming one
 *   of the two files, and leaves the images zeroed;
 * - where the harness knows the content (raw, or gzipped by the harness),
 *   the loader accepts exactly the valid pairs of IDX files (an independent
 *   check of the format below) and returns their pixels and labels;
 * - an accepted set converts to splits in every layout it fits. */
#include "fuzz_util.h"

#include "modsweep/data.h"
#include "modsweep/error.h"

#include <zlib.h>

static uint32_t be32(const uint8_t *p) {
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Whether (img, lab) is a valid IDX pair by the format's definition: the
 * reference the loader is compared with. */
static int idx_valid(const uint8_t *img, size_t ni, const uint8_t *lab, size_t nl, uint32_t *n,
                     uint32_t *rows, uint32_t *cols) {
    if (ni < 16 || nl < 8 || be32(img) != 0x803 || be32(lab) != 0x801) return 0;
    *n = be32(img + 4), *rows = be32(img + 8), *cols = be32(img + 12);
    if (*n < 1 || *n > MS_IDX_MAX_N || *rows < 1 || *rows > MS_IDX_MAX_SIDE || *cols < 1 ||
        *cols > MS_IDX_MAX_SIDE)
        return 0;
    if (be32(lab + 4) != *n) return 0;
    if ((uint64_t)ni != 16 + (uint64_t)*n * *rows * *cols || (uint64_t)nl != 8 + (uint64_t)*n)
        return 0;
    for (size_t i = 8; i < nl; i++)
        if (lab[i] > 9) return 0;
    return 1;
}

/* gzip-compresses src into a new buffer. */
static uint8_t *gzip(const uint8_t *src, size_t n, size_t *out_n) {
    z_stream z;
    memset(&z, 0, sizeof z);
    FZ_ASSERT(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) == Z_OK, "deflateInit2");
    size_t cap = deflateBound(&z, n) + 32;
    uint8_t *out = malloc(cap);
    FZ_ASSERT(out, "out of memory");
    z.next_in = (uint8_t *)src;
    z.avail_in = (uInt)n;
    z.next_out = out;
    z.avail_out = (uInt)cap;
    FZ_ASSERT(deflate(&z, Z_FINISH) == Z_STREAM_END, "deflate");
    *out_n = z.total_out;
    deflateEnd(&z);
    return out;
}

static int is_gz(const uint8_t *p, size_t n) { return n >= 2 && p[0] == 0x1f && p[1] == 0x8b; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    const int mode = (int)fz_take(&p, end, 1);
    size_t ni = (size_t)fz_take(&p, end, 2);
    if (ni > (size_t)(end - p)) ni = (size_t)(end - p);
    const uint8_t *img = p, *lab = p + ni;
    const size_t nl = (size_t)(end - lab);

    /* What the files hold after any decompression, when the harness knows it. */
    const int known = !((mode & 1) ? 0 : is_gz(img, ni)) && !((mode & 2) ? 0 : is_gz(lab, nl));
    size_t fi = ni, fl = nl;
    uint8_t *zi = (mode & 1) ? gzip(img, ni, &fi) : NULL;
    uint8_t *zl = (mode & 2) ? gzip(lab, nl, &fl) : NULL;
    char pi[512], pl[512];
    fz_path(pi, sizeof pi, "images-idx3-ubyte");
    fz_path(pl, sizeof pl, "labels-idx1-ubyte");
    fz_write(pi, zi ? zi : img, fi);
    fz_write(pl, zl ? zl : lab, fl);
    free(zi);
    free(zl);

    ms_images_t im;
    memset(&im, 0x5a, sizeof im);
    int rc = ms_idx_load(&im, pi, pl);
    uint32_t n = 0, rows = 0, cols = 0;
    const int valid = known && idx_valid(img, ni, lab, nl, &n, &rows, &cols);
    if (rc) {
        FZ_ASSERT(rc == MS_EFORMAT || rc == MS_EIO || rc == MS_ENOMEM, "code %d: %s", rc,
                  ms_err_msg());
        FZ_ASSERT(strstr(ms_err_msg(), pi) || strstr(ms_err_msg(), pl),
                  "the message names neither file: %s", ms_err_msg());
        FZ_ASSERT(im.pixels == NULL && im.labels == NULL && im.n == 0, "not zeroed on error");
        /* MS_ENOMEM is no verdict on the format. */
        FZ_ASSERT(!valid || rc == MS_ENOMEM, "a valid IDX pair is refused: %s", ms_err_msg());
    } else {
        FZ_ASSERT(!known || valid, "an invalid IDX pair is accepted");
        FZ_ASSERT(im.n >= 1 && im.c == 1 && im.h >= 1 && im.w >= 1, "shape %d %d %d %d", im.n,
                  im.c, im.h, im.w);
        for (int i = 0; i < im.n; i++)
            FZ_ASSERT(im.labels[i] <= 9, "label %d of image %d", im.labels[i], i);
        if (known) {
            FZ_ASSERT((uint32_t)im.n == n && (uint32_t)im.h == rows && (uint32_t)im.w == cols,
                      "shape differs from the header");
            FZ_ASSERT(memcmp(im.pixels, img + 16, (size_t)n * rows * cols) == 0, "pixels differ");
            FZ_ASSERT(memcmp(im.labels, lab + 8, n) == 0, "labels differ");
        }
        if (mode & 4) {
            const float mean[3] = {0.1307f, 0.1307f, 0.1307f}, sd[3] = {0.3081f, 0.3081f, 0.3081f};
            ms_split_t s;
            int limit = (int)(mode >> 3); /* 0 = all */
            FZ_ASSERT(ms_split_from_images(&s, &im, MS_LAYOUT_NATIVE, MS_NORM_MEANSTD, mean, sd,
                                           limit) == 0,
                      "native split: %s", ms_err_msg());
            int total = 0;
            for (int k = 0; k < MS_N_CLASSES; k++) {
                int c = ms_split_class_indices(&s, k, NULL);
                FZ_ASSERT(c == s.class_count[k], "class %d: %d indices, count %d", k, c,
                          s.class_count[k]);
                total += c;
            }
            FZ_ASSERT(total == s.n, "class counts add up to %d of %d", total, s.n);
            ms_split_free(&s);
            int r3 = ms_split_from_images(&s, &im, MS_LAYOUT_3X32X32, MS_NORM_UNIT, NULL, NULL, 0);
            FZ_ASSERT((r3 == 0) == (im.h == 28 && im.w == 28), "3x32x32 layout of %dx%d: %d",
                      im.h, im.w, r3);
            ms_split_free(&s);
        }
        ms_images_free(&im);
    }
    unlink(pi);
    unlink(pl);
    ms_err_clear();
    return 0;
}
