/* Tests of the dataset loaders, splits and generated data (data.h,
 * datagen.h): round trips through the writers, files built byte by byte in
 * the test as an independent reference of the formats, every malformed-file
 * error with its code and message, normalisation against PyTorch's values
 * (tests/fixtures/data_norm.txt, from tests/gen_data_fixture.py), the
 * 3x32x32 layout, ms_data_load's file finding, and the synthetic set.
 *
 * Dimension letters: N images, C channels, H rows, W columns. */
#include "check.h"
#include "modsweep/data.h"
#include "modsweep/datagen.h"
#include "modsweep/error.h"
#include "modsweep/rng.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

/* ---- helpers -------------------------------------------------------------- */

/* A path in the test's temporary folder. The result lives in one of 16
 * rotating static buffers: copy it if it must outlast 15 more calls. */
static const char *tmp(const char *name) {
    static char bufs[16][512];
    static int next;
    char *b = bufs[next++ % 16];
    snprintf(b, sizeof bufs[0], "%s/%s", ms_test_tmpdir(), name);
    return b;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK_MSG(f != NULL, "cannot create %s", path);
    if (!f) return;
    CHECK(fwrite(data, 1, n, f) == n);
    CHECK(fclose(f) == 0);
}

static void write_gz_bytes(const char *path, const void *data, size_t n) {
    gzFile g = gzopen(path, "wb");
    CHECK_MSG(g != NULL, "cannot create %s", path);
    if (!g) return;
    CHECK(n == 0 || gzwrite(g, data, (unsigned)n) == (int)n);
    CHECK(gzclose(g) == Z_OK);
}

/* Reads a whole file into a malloc'ed buffer. */
static unsigned char *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f != NULL, "cannot open %s", path);
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)len + 1);
    *n = fread(buf, 1, (size_t)len, f);
    fclose(f);
    return buf;
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Builds the bytes of an IDX image file by hand: header then pixels. */
static unsigned char *idx_images_bytes(uint32_t magic, uint32_t n, uint32_t rows, uint32_t cols,
                                       const uint8_t *pixels, size_t n_pixels, size_t *len) {
    unsigned char *b = malloc(16 + n_pixels);
    put_be32(b, magic);
    put_be32(b + 4, n);
    put_be32(b + 8, rows);
    put_be32(b + 12, cols);
    if (n_pixels) memcpy(b + 16, pixels, n_pixels);
    *len = 16 + n_pixels;
    return b;
}

static unsigned char *idx_labels_bytes(uint32_t magic, uint32_t n, const uint8_t *labels,
                                       size_t n_labels, size_t *len) {
    unsigned char *b = malloc(8 + n_labels);
    put_be32(b, magic);
    put_be32(b + 4, n);
    if (n_labels) memcpy(b + 8, labels, n_labels);
    *len = 8 + n_labels;
    return b;
}

/* Random images (uniform pixels, labels 0..9) of the given size. */
static void random_images(ms_images_t *im, int n, int c, int h, int w, uint32_t sub) {
    CHECK_OK(ms_images_alloc(im, n, c, h, w));
    ms_rng_t r;
    ms_rng_init(&r, 1234, MS_RNG_TESTDATA, sub);
    for (size_t i = 0; i < (size_t)n * c * h * w; i++)
        im->pixels[i] = (uint8_t)ms_rng_below(&r, 256);
    for (int i = 0; i < n; i++)
        im->labels[i] = (uint8_t)ms_rng_below(&r, 10);
}

static int zeroed_images(const ms_images_t *im) {
    return im->n == 0 && im->c == 0 && im->h == 0 && im->w == 0 && !im->pixels && !im->labels;
}

/* The call must fail with `code` and a message holding each of up to three
 * words (typically the file name and the fault); the output stays zeroed. */
#define CHECK_ERR(call, code, out, w1, w2, w3)                                                     \
    do {                                                                                           \
        ms_err_clear();                                                                            \
        int rc_ = (call);                                                                          \
        const char *m_ = ms_err_msg();                                                             \
        CHECK_MSG(rc_ == (code), "%s returned %d (%s), expected %d: %s", #call, rc_,               \
                  ms_err_name(rc_), (code), m_);                                                   \
        const char *ws_[3] = {(w1), (w2), (w3)};                                                   \
        for (int k_ = 0; k_ < 3; k_++)                                                             \
            CHECK_MSG(!ws_[k_] || strstr(m_, ws_[k_]), "%s: message lacks \"%s\": %s", #call,      \
                      ws_[k_], m_);                                                                \
        CHECK_MSG(zeroed_images(out), "%s left its output non-zero", #call);                       \
    } while (0)

/* ---- round trips and the formats ------------------------------------------ */

static void check_same_images(const ms_images_t *a, const ms_images_t *b) {
    CHECK_EQ_INT(a->n, b->n);
    CHECK_EQ_INT(a->c, b->c);
    CHECK_EQ_INT(a->h, b->h);
    CHECK_EQ_INT(a->w, b->w);
    if (a->n != b->n || a->c != b->c || a->h != b->h || a->w != b->w) return;
    size_t np = (size_t)a->n * a->c * a->h * a->w;
    size_t bad = 0;
    for (size_t i = 0; i < np; i++)
        bad += a->pixels[i] != b->pixels[i];
    CHECK_EQ_INT(bad, 0);
    bad = 0;
    for (int i = 0; i < a->n; i++)
        bad += a->labels[i] != b->labels[i];
    CHECK_EQ_INT(bad, 0);
}

/* Writer then loader, raw and gzip, square and non-square images. */
static void test_idx_roundtrip(void) {
    for (int gz = 0; gz < 2; gz++)
        for (int shape = 0; shape < 2; shape++) {
            ms_images_t im, back;
            const int h = shape ? 5 : 28, w = shape ? 7 : 28;
            random_images(&im, 37, 1, h, w, (uint32_t)(gz * 2 + shape));
            const char *ip = tmp(gz ? "rt-images.gz" : "rt-images");
            const char *lp = tmp(gz ? "rt-labels.gz" : "rt-labels");
            CHECK_OK(ms_idx_write(ip, lp, &im, gz));
            /* The gzip magic is on disk exactly when asked for. */
            size_t len = 0;
            unsigned char *raw = read_all(ip, &len);
            CHECK(raw && len >= 2 && (raw[0] == 0x1f && raw[1] == 0x8b) == gz);
            free(raw);
            CHECK_OK(ms_idx_load(&back, ip, lp));
            check_same_images(&im, &back);
            ms_images_free(&im);
            ms_images_free(&back);
        }
}

/* The writer's bytes equal a file built by hand from the IDX definition, and
 * the loader reads a hand-built file (pixel (i, y, x) at 16 + (i*H + y)*W + x). */
static void test_idx_format_by_hand(void) {
    enum { N = 3, H = 4, W = 6 };
    uint8_t px[N * H * W], lb[N] = {7, 0, 9};
    for (int i = 0; i < N * H * W; i++)
        px[i] = (uint8_t)(i * 5 + 1);
    size_t li, ll;
    unsigned char *bi = idx_images_bytes(0x00000803u, N, H, W, px, sizeof px, &li);
    unsigned char *bl = idx_labels_bytes(0x00000801u, N, lb, N, &ll);
    CHECK(bi[0] == 0 && bi[1] == 0 && bi[2] == 8 && bi[3] == 3 && bi[7] == N && bi[11] == H &&
          bi[15] == W);
    write_bytes(tmp("hand-images"), bi, li);
    write_bytes(tmp("hand-labels"), bl, ll);

    ms_images_t im;
    CHECK_OK(ms_idx_load(&im, tmp("hand-images"), tmp("hand-labels")));
    CHECK_EQ_INT(im.n, N);
    CHECK_EQ_INT(im.c, 1);
    CHECK_EQ_INT(im.h, H);
    CHECK_EQ_INT(im.w, W);
    if (im.n == N) {
        CHECK_EQ_INT(im.pixels[(1 * H + 2) * W + 5], px[(1 * H + 2) * W + 5]);
        CHECK(memcmp(im.pixels, px, sizeof px) == 0);
        CHECK(memcmp(im.labels, lb, N) == 0);
    }
    /* Writing the loaded images back gives the same bytes. */
    CHECK_OK(ms_idx_write(tmp("hand2-images"), tmp("hand2-labels"), &im, 0));
    size_t n1, n2;
    unsigned char *w1 = read_all(tmp("hand2-images"), &n1);
    unsigned char *w2 = read_all(tmp("hand2-labels"), &n2);
    CHECK(n1 == li && memcmp(w1, bi, li) == 0);
    CHECK(n2 == ll && memcmp(w2, bl, ll) == 0);
    free(w1);
    free(w2);
    /* A gzip file is recognised by its magic, whatever its name. */
    write_gz_bytes(tmp("hand-images.raw"), bi, li);
    write_bytes(tmp("hand-labels.gz"), bl, ll);
    ms_images_t im2;
    CHECK_OK(ms_idx_load(&im2, tmp("hand-images.raw"), tmp("hand-labels.gz")));
    check_same_images(&im, &im2);
    ms_images_free(&im2);
    ms_images_free(&im);
    free(bi);
    free(bl);
}

/* CIFAR-10: two batches written by the writer load concatenated in order,
 * and a record built by hand is read channel-major (R, G, B planes). */
static void test_cifar_roundtrip(void) {
    ms_images_t a, b, back;
    random_images(&a, 3, 3, 32, 32, 10);
    random_images(&b, 5, 3, 32, 32, 11);
    CHECK_OK(ms_cifar10_write(tmp("batch_a.bin"), &a));
    CHECK_OK(ms_cifar10_write(tmp("batch_b.bin"), &b));
    const char *paths[2] = {tmp("batch_b.bin"), tmp("batch_a.bin")};
    CHECK_OK(ms_cifar10_load(&back, paths, 2));
    CHECK_EQ_INT(back.n, 8);
    CHECK_EQ_INT(back.c, 3);
    CHECK_EQ_INT(back.h, 32);
    CHECK_EQ_INT(back.w, 32);
    if (back.n == 8) {
        CHECK(memcmp(back.pixels, b.pixels, 5 * 3072) == 0);
        CHECK(memcmp(back.pixels + 5 * 3072, a.pixels, 3 * 3072) == 0);
        CHECK(memcmp(back.labels, b.labels, 5) == 0);
        CHECK(memcmp(back.labels + 5, a.labels, 3) == 0);
    }
    ms_images_free(&back);

    /* By hand: record 1 of 2 has label 4 and byte (ch*1024 + y*32 + x) =
     * (ch*50 + y*3 + x) mod 256 after its label. */
    unsigned char rec[2 * 3073];
    memset(rec, 0, sizeof rec);
    rec[0] = 2;
    rec[3073] = 4;
    for (int ch = 0; ch < 3; ch++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++)
                rec[3073 + 1 + ch * 1024 + y * 32 + x] = (unsigned char)(ch * 50 + y * 3 + x);
    write_bytes(tmp("hand_batch.bin"), rec, sizeof rec);
    const char *hp[1] = {tmp("hand_batch.bin")};
    CHECK_OK(ms_cifar10_load(&back, hp, 1));
    CHECK_EQ_INT(back.n, 2);
    if (back.n == 2) {
        CHECK_EQ_INT(back.labels[0], 2);
        CHECK_EQ_INT(back.labels[1], 4);
        const uint8_t *img = back.pixels + 3072;
        CHECK_EQ_INT(img[0 * 1024 + 0 * 32 + 0], 0);     /* R (0, 0) */
        CHECK_EQ_INT(img[1 * 1024 + 2 * 32 + 5], 61);    /* G (2, 5) = 50 + 6 + 5 */
        CHECK_EQ_INT(img[2 * 1024 + 31 * 32 + 31], 224); /* B (31, 31) = (100+93+31) */
        /* The writer reproduces the hand-built bytes. */
        CHECK_OK(ms_cifar10_write(tmp("hand_batch2.bin"), &back));
        size_t n = 0;
        unsigned char *again = read_all(tmp("hand_batch2.bin"), &n);
        CHECK(n == sizeof rec && memcmp(again, rec, sizeof rec) == 0);
        free(again);
    }
    ms_images_free(&back);
    ms_images_free(&a);
    ms_images_free(&b);
}

/* ---- malformed files ------------------------------------------------------- */

/* A valid 10-image 28x28 set on disk, as bytes and as raw files. */
typedef struct good_set {
    unsigned char *img, *lab;
    size_t img_len, lab_len;
} good_set_t;

static good_set_t good_set(void) {
    good_set_t g;
    ms_images_t im;
    random_images(&im, 10, 1, 28, 28, 20);
    g.img = idx_images_bytes(0x00000803u, 10, 28, 28, im.pixels, 7840, &g.img_len);
    g.lab = idx_labels_bytes(0x00000801u, 10, im.labels, 10, &g.lab_len);
    ms_images_free(&im);
    write_bytes(tmp("good-images"), g.img, g.img_len);
    write_bytes(tmp("good-labels"), g.lab, g.lab_len);
    return g;
}

static void test_idx_missing_and_magic(void) {
    good_set_t g = good_set();
    ms_images_t im;
    CHECK_ERR(ms_idx_load(&im, tmp("absent-images"), tmp("good-labels")), MS_EIO, &im,
              "absent-images", "No such file", NULL);
    CHECK_ERR(ms_idx_load(&im, tmp("good-images"), tmp("absent-labels")), MS_EIO, &im,
              "absent-labels", "No such file", NULL);
    /* A directory is not a data file. */
    CHECK_ERR(ms_idx_load(&im, ms_test_tmpdir(), tmp("good-labels")), MS_EIO, &im, ms_test_tmpdir(),
              "directory", NULL);
    /* Not an IDX file at all. */
    const char gif[] = "GIF89a this is not an IDX file, but long enough for a header";
    write_bytes(tmp("junk-images"), gif, sizeof gif);
    CHECK_ERR(ms_idx_load(&im, tmp("junk-images"), tmp("good-labels")), MS_EFORMAT, &im,
              "junk-images", "magic", "0x00000803");
    CHECK_ERR(ms_idx_load(&im, tmp("good-images"), tmp("junk-images")), MS_EFORMAT, &im,
              "junk-images", "magic", "0x00000801");
    /* Swapped files: each magic names the other kind of file. */
    CHECK_ERR(ms_idx_load(&im, tmp("good-labels"), tmp("good-images")), MS_EFORMAT, &im,
              "good-labels", "swapped", "0x00000801");
    /* Another IDX type (int32 elements, 3 dimensions). */
    g.img[2] = 0x0c;
    write_bytes(tmp("int-images"), g.img, g.img_len);
    g.img[2] = 0x08;
    CHECK_ERR(ms_idx_load(&im, tmp("int-images"), tmp("good-labels")), MS_EFORMAT, &im,
              "int-images", "0x00000c03", "type 0x0c");
    CHECK_OK(ms_idx_load(&im, tmp("good-images"), tmp("good-labels")));
    ms_images_free(&im);
    free(g.img);
    free(g.lab);
}

static void test_idx_lengths(void) {
    good_set_t g = good_set();
    ms_images_t im;
    /* Empty file. */
    write_bytes(tmp("empty-images"), "", 0);
    CHECK_ERR(ms_idx_load(&im, tmp("empty-images"), tmp("good-labels")), MS_EFORMAT, &im,
              "empty-images", "empty", NULL);
    write_gz_bytes(tmp("emptygz-labels"), "", 0);
    CHECK_ERR(ms_idx_load(&im, tmp("good-images"), tmp("emptygz-labels")), MS_EFORMAT, &im,
              "emptygz-labels", "empty", NULL);
    /* Header cut after 10 of 16 bytes (and a 6-byte label header). */
    write_bytes(tmp("shorthdr-images"), g.img, 10);
    CHECK_ERR(ms_idx_load(&im, tmp("shorthdr-images"), tmp("good-labels")), MS_EFORMAT, &im,
              "shorthdr-images", "truncated header", "10 bytes");
    write_bytes(tmp("shorthdr-labels"), g.lab, 6);
    CHECK_ERR(ms_idx_load(&im, tmp("good-images"), tmp("shorthdr-labels")), MS_EFORMAT, &im,
              "shorthdr-labels", "truncated header", "6 bytes");
    /* Pixel data cut by 100 bytes: raw and gzip. */
    write_bytes(tmp("cut-images"), g.img, g.img_len - 100);
    CHECK_ERR(ms_idx_load(&im, tmp("cut-images"), tmp("good-labels")), MS_EFORMAT, &im,
              "cut-images", "truncated", "7840 bytes");
    CHECK_ERR(ms_idx_load(&im, tmp("cut-images"), tmp("good-labels")), MS_EFORMAT, &im,
              "holds 7740 bytes of pixel data", NULL, NULL);
    write_gz_bytes(tmp("cut-images.gz"), g.img, g.img_len - 100);
    CHECK_ERR(ms_idx_load(&im, tmp("cut-images.gz"), tmp("good-labels")), MS_EFORMAT, &im,
              "cut-images.gz", "truncated", "holds 7740 bytes");
    /* Label data cut. */
    write_bytes(tmp("cut-labels"), g.lab, g.lab_len - 3);
    CHECK_ERR(ms_idx_load(&im, tmp("good-images"), tmp("cut-labels")), MS_EFORMAT, &im,
              "cut-labels", "truncated", "holds 7 bytes");
    /* Trailing bytes: raw and gzip, images and labels. */
    unsigned char *longer = malloc(g.img_len + 5);
    memcpy(longer, g.img, g.img_len);
    memset(longer + g.img_len, 0xab, 5);
    write_bytes(tmp("long-images"), longer, g.img_len + 5);
    CHECK_ERR(ms_idx_load(&im, tmp("long-images"), tmp("good-labels")), MS_EFORMAT, &im,
              "long-images", "5 trailing bytes", NULL);
    write_gz_bytes(tmp("long-images.gz"), longer, g.img_len + 5);
    CHECK_ERR(ms_idx_load(&im, tmp("long-images.gz"), tmp("good-labels")), MS_EFORMAT, &im,
              "long-images.gz", "5 trailing bytes", NULL);
    free(longer);
    unsigned char lab_long[18 + 1];
    memcpy(lab_long, g.lab, g.lab_len);
    lab_long[18] = 1;
    write_bytes(tmp("long-labels"), lab_long, 19);
    CHECK_ERR(ms_idx_load(&im, tmp("good-images"), tmp("long-labels")), MS_EFORMAT, &im,
              "long-labels", "1 trailing bytes", NULL);
    free(g.img);
    free(g.lab);
}

static void test_idx_header_values(void) {
    good_set_t g = good_set();
    ms_images_t im;
    size_t len;
    unsigned char *b;
    /* Implausible dimensions. */
    const uint32_t dims[4][3] = {{10, 0, 28}, {10, 28, 2000}, {0, 28, 28}, {20000000, 28, 28}};
    for (int k = 0; k < 4; k++) {
        b = idx_images_bytes(0x00000803u, dims[k][0], dims[k][1], dims[k][2], NULL, 0, &len);
        write_bytes(tmp("dims-images"), b, len);
        free(b);
        CHECK_ERR(ms_idx_load(&im, tmp("dims-images"), tmp("good-labels")), MS_EFORMAT, &im,
                  "dims-images", "implausible dimensions", NULL);
    }
    b = idx_labels_bytes(0x00000801u, 0, NULL, 0, &len);
    write_bytes(tmp("dims-labels"), b, len);
    free(b);
    CHECK_ERR(ms_idx_load(&im, tmp("good-images"), tmp("dims-labels")), MS_EFORMAT, &im,
              "dims-labels", "implausible dimensions", NULL);
    /* The largest accepted header on a tiny file is refused as truncated
     * before anything that large is allocated: raw and gzip. */
    b = idx_images_bytes(0x00000803u, MS_IDX_MAX_N, MS_IDX_MAX_SIDE, MS_IDX_MAX_SIDE, NULL, 0,
                         &len);
    write_bytes(tmp("huge-images"), b, len);
    write_gz_bytes(tmp("huge-images.gz"), b, len);
    free(b);
    b = idx_labels_bytes(0x00000801u, MS_IDX_MAX_N, NULL, 0, &len);
    write_bytes(tmp("huge-labels"), b, len);
    free(b);
    CHECK_ERR(ms_idx_load(&im, tmp("huge-images"), tmp("huge-labels")), MS_EFORMAT, &im,
              "huge-images", "truncated", "holds 0 bytes");
    CHECK_ERR(ms_idx_load(&im, tmp("huge-images.gz"), tmp("huge-labels")), MS_EFORMAT, &im,
              "huge-images.gz", "truncated", "holds 0 bytes");
    /* Image and label counts disagree (both files are named). */
    ms_images_t nine;
    random_images(&nine, 9, 1, 28, 28, 21);
    CHECK_OK(ms_idx_write(NULL, tmp("nine-labels"), &nine, 0));
    ms_images_free(&nine);
    CHECK_ERR(ms_idx_load(&im, tmp("good-images"), tmp("nine-labels")), MS_EFORMAT, &im,
              "good-images holds 10 images", "nine-labels holds 9 labels", NULL);
    /* A label of 10. */
    g.lab[8 + 6] = 10;
    write_bytes(tmp("ten-labels"), g.lab, g.lab_len);
    CHECK_ERR(ms_idx_load(&im, tmp("good-images"), tmp("ten-labels")), MS_EFORMAT, &im,
              "ten-labels", "label 10", "item 6");
    free(g.img);
    free(g.lab);
}

static void test_idx_corrupt_gzip(void) {
    good_set_t g = good_set();
    ms_images_t im;
    /* A valid gzip header (deflate, no flags, Unix) then garbage: 0xff
     * starts a final block of the reserved type 3. */
    unsigned char junk[64] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3};
    memset(junk + 10, 0xff, sizeof junk - 10);
    write_bytes(tmp("junkgz-images"), junk, sizeof junk);
    CHECK_ERR(ms_idx_load(&im, tmp("junkgz-images"), tmp("good-labels")), MS_EFORMAT, &im,
              "junkgz-images", "corrupt gzip", "zlib");
    /* A real gzip file cut in half. */
    write_gz_bytes(tmp("whole.gz"), g.img, g.img_len);
    size_t n = 0;
    unsigned char *gz = read_all(tmp("whole.gz"), &n);
    write_bytes(tmp("halfgz-images"), gz, n / 2);
    CHECK_ERR(ms_idx_load(&im, tmp("halfgz-images"), tmp("good-labels")), MS_EFORMAT, &im,
              "halfgz-images", "corrupt gzip", "truncated");
    /* A flipped bit in the CRC-32 of the trailer. */
    gz[n - 8] ^= 1;
    write_bytes(tmp("crcgz-images"), gz, n);
    CHECK_ERR(ms_idx_load(&im, tmp("crcgz-images"), tmp("good-labels")), MS_EFORMAT, &im,
              "crcgz-images", "corrupt gzip", "zlib");
    free(gz);
    free(g.img);
    free(g.lab);
}

static void test_cifar_errors(void) {
    ms_images_t im, two;
    random_images(&two, 2, 3, 32, 32, 30);
    CHECK_OK(ms_cifar10_write(tmp("two.bin"), &two));
    size_t n = 0;
    unsigned char *b = read_all(tmp("two.bin"), &n);
    CHECK_EQ_INT(n, 2 * 3073);
    char first[512];
    snprintf(first, sizeof first, "%s", tmp("two.bin"));
    const char *p[2] = {first, NULL};

    /* Not a multiple of 3073 (5 trailing bytes; one byte short). */
    unsigned char *longer = malloc(n + 5);
    memcpy(longer, b, n);
    memset(longer + n, 0, 5);
    write_bytes(tmp("odd.bin"), longer, n + 5);
    free(longer);
    p[1] = tmp("odd.bin");
    CHECK_ERR(ms_cifar10_load(&im, p, 2), MS_EFORMAT, &im, "odd.bin", "6151 bytes", "3073");
    write_bytes(tmp("short.bin"), b, n - 1);
    p[1] = tmp("short.bin");
    CHECK_ERR(ms_cifar10_load(&im, p, 2), MS_EFORMAT, &im, "short.bin", "6145 bytes",
              "not a multiple");
    /* Empty, missing, gzip-compressed. */
    write_bytes(tmp("empty.bin"), "", 0);
    p[1] = tmp("empty.bin");
    CHECK_ERR(ms_cifar10_load(&im, p, 2), MS_EFORMAT, &im, "empty.bin", "empty", NULL);
    p[1] = tmp("absent.bin");
    CHECK_ERR(ms_cifar10_load(&im, p, 2), MS_EIO, &im, "absent.bin", "No such file", NULL);
    write_gz_bytes(tmp("gz.bin"), b, n);
    p[1] = tmp("gz.bin");
    CHECK_ERR(ms_cifar10_load(&im, p, 2), MS_EFORMAT, &im, "gz.bin", "gzip", NULL);
    /* Label 10 in the second record. */
    b[3073] = 10;
    write_bytes(tmp("ten.bin"), b, n);
    p[1] = tmp("ten.bin");
    CHECK_ERR(ms_cifar10_load(&im, p, 2), MS_EFORMAT, &im, "ten.bin", "label 10", "record 1");
    CHECK_ERR(ms_cifar10_load(&im, p, 0), MS_EINVAL, &im, NULL, NULL, NULL);
    free(b);
    ms_images_free(&two);
}

/* ---- splits ------------------------------------------------------------------ */

/* Loads the PyTorch fixture: for each pixel value, the float bits of
 * ToTensor, MNIST-normalised and CIFAR-like-normalised values. */
static int load_norm_fixture(float unit[256], float mnist[256], float cifar[256]) {
    char path[512];
    FILE *f = fopen(ms_fixture_path("data_norm.txt", path, sizeof path), "r");
    CHECK_MSG(f != NULL, "cannot open fixture %s", path);
    if (!f) return 0;
    char line[256];
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        int v;
        unsigned a, b, c;
        if (sscanf(line, "%d %x %x %x", &v, &a, &b, &c) != 4 || v < 0 || v > 255) continue;
        memcpy(&unit[v], &a, 4);
        memcpy(&mnist[v], &b, 4);
        memcpy(&cifar[v], &c, 4);
        rows++;
    }
    fclose(f);
    CHECK_EQ_INT(rows, 256);
    return rows == 256;
}

/* Every pixel value, under every normalisation, bit for bit as PyTorch. */
static void test_normalisation_vs_pytorch(void) {
    float unit[256], mnist[256], cifar[256];
    if (!load_norm_fixture(unit, mnist, cifar)) return;
    ms_images_t im;
    CHECK_OK(ms_images_alloc(&im, 1, 3, 16, 16));
    for (int ch = 0; ch < 3; ch++)
        for (int v = 0; v < 256; v++)
            im.pixels[ch * 256 + v] = (uint8_t)v;
    im.labels[0] = 3;
    const float mean[3] = {0.1307f, 0.4914f, 0.1307f}, std[3] = {0.3081f, 0.2470f, 0.3081f};
    ms_split_t s;
    size_t bad[4] = {0};
    CHECK_OK(ms_split_from_images(&s, &im, MS_LAYOUT_NATIVE, MS_NORM_NONE, NULL, NULL, 0));
    for (int v = 0; v < 256 && s.x; v++)
        bad[0] += s.x[v] != (float)v;
    ms_split_free(&s);
    CHECK_OK(ms_split_from_images(&s, &im, MS_LAYOUT_NATIVE, MS_NORM_UNIT, NULL, NULL, 0));
    for (int v = 0; v < 256 && s.x; v++)
        bad[1] += s.x[v] != unit[v];
    ms_split_free(&s);
    CHECK_OK(ms_split_from_images(&s, &im, MS_LAYOUT_NATIVE, MS_NORM_MEANSTD, mean, std, 0));
    for (int v = 0; v < 256 && s.x; v++) {
        bad[2] += s.x[v] != mnist[v] || s.x[512 + v] != mnist[v];
        bad[3] += s.x[256 + v] != cifar[v];
    }
    ms_split_free(&s);
    for (int k = 0; k < 4; k++)
        CHECK_MSG(bad[k] == 0, "normalisation %d: %zu values differ", k, bad[k]);
    /* A few values by hand (double arithmetic): 128/255, (1/255 - 0.1307)/0.3081. */
    CHECK_NEAR(unit[128], 0.50196078431, 1e-7);
    CHECK_NEAR(mnist[1], -0.41148468475, 1e-6);
    CHECK_NEAR(mnist[255], 2.82148653035, 1e-6);
    ms_images_free(&im);
}

/* 3x32x32: border = normalised 0, centre = normalised original, channels equal. */
static void test_layout_3x32x32(void) {
    float unit[256], mnist[256], cifar[256];
    if (!load_norm_fixture(unit, mnist, cifar)) return;
    ms_images_t im;
    random_images(&im, 4, 1, 28, 28, 40);
    const float mean[1] = {0.1307f}, std[1] = {0.3081f};
    ms_split_t s;
    CHECK_OK(ms_split_from_images(&s, &im, MS_LAYOUT_3X32X32, MS_NORM_MEANSTD, mean, std, 0));
    CHECK_EQ_INT(s.n, 4);
    CHECK_EQ_INT(s.c, 3);
    CHECK_EQ_INT(s.h, 32);
    CHECK_EQ_INT(s.w, 32);
    size_t bad_border = 0, bad_centre = 0, bad_copy = 0;
    for (int i = 0; i < s.n && s.x; i++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                const float *img = s.x + (size_t)i * 3 * 1024;
                const float v = img[y * 32 + x];
                if (y < 2 || y >= 30 || x < 2 || x >= 30)
                    bad_border += v != mnist[0];
                else
                    bad_centre += v != mnist[im.pixels[i * 784 + (y - 2) * 28 + (x - 2)]];
                bad_copy += img[1024 + y * 32 + x] != v || img[2048 + y * 32 + x] != v;
            }
    CHECK_EQ_INT(bad_border, 0);
    CHECK_EQ_INT(bad_centre, 0);
    CHECK_EQ_INT(bad_copy, 0);
    CHECK_NEAR(mnist[0], -0.4242129, 1e-6); /* -0.1307 / 0.3081 */
    ms_split_free(&s);
    /* Only 1x28x28 input can be laid out so. */
    ms_images_t cif;
    random_images(&cif, 2, 3, 32, 32, 41);
    ms_err_clear();
    CHECK_EQ_INT(ms_split_from_images(&s, &cif, MS_LAYOUT_3X32X32, MS_NORM_UNIT, NULL, NULL, 0),
                 MS_EINVAL);
    CHECK(strstr(ms_err_msg(), "1x28x28") != NULL);
    CHECK(s.x == NULL && s.n == 0);
    ms_images_free(&cif);
    ms_images_free(&im);
}

/* limit, class counts and indices against a brute-force count; bad arguments. */
static void test_split_limit_and_classes(void) {
    ms_images_t im;
    random_images(&im, 57, 1, 5, 5, 50);
    ms_split_t s;
    CHECK_OK(ms_split_from_images(&s, &im, MS_LAYOUT_NATIVE, MS_NORM_UNIT, NULL, NULL, 23));
    CHECK_EQ_INT(s.n, 23);
    CHECK_EQ_INT(s.n_classes, 10);
    int total = 0;
    for (int k = 0; k < 10; k++) {
        int expect = 0;
        for (int i = 0; i < 23; i++)
            expect += im.labels[i] == k;
        CHECK_EQ_INT(s.class_count[k], expect);
        total += s.class_count[k];
        int32_t idx[23];
        CHECK_EQ_INT(ms_split_class_indices(&s, k, idx), expect);
        CHECK_EQ_INT(ms_split_class_indices(&s, k, NULL), expect);
        int j = 0;
        for (int i = 0; i < 23; i++)
            if (im.labels[i] == k) {
                CHECK_EQ_INT(idx[j], i);
                j++;
            }
    }
    CHECK_EQ_INT(total, 23);
    CHECK(memcmp(s.y, im.labels, 23) == 0);
    CHECK_EQ_INT(ms_split_class_indices(&s, 10, NULL), MS_EINVAL);
    CHECK_EQ_INT(ms_split_class_indices(&s, -1, NULL), MS_EINVAL);
    ms_split_free(&s);
    /* A limit beyond n keeps all. */
    CHECK_OK(ms_split_from_images(&s, &im, MS_LAYOUT_NATIVE, MS_NORM_NONE, NULL, NULL, 1000));
    CHECK_EQ_INT(s.n, 57);
    ms_split_free(&s);
    /* Bad arguments leave the split zeroed. */
    const float mean[1] = {0.5f}, zero[1] = {0.0f};
    CHECK_EQ_INT(ms_split_from_images(&s, &im, MS_LAYOUT_NATIVE, MS_NORM_UNIT, NULL, NULL, -1),
                 MS_EINVAL);
    CHECK_EQ_INT(ms_split_from_images(&s, &im, MS_LAYOUT_NATIVE, MS_NORM_MEANSTD, mean, zero, 0),
                 MS_EINVAL);
    CHECK_EQ_INT(ms_split_from_images(&s, &im, MS_LAYOUT_NATIVE, MS_NORM_MEANSTD, NULL, NULL, 0),
                 MS_EINVAL);
    im.labels[5] = 12;
    CHECK_EQ_INT(ms_split_from_images(&s, &im, MS_LAYOUT_NATIVE, MS_NORM_UNIT, NULL, NULL, 0),
                 MS_EINVAL);
    CHECK(s.x == NULL && s.y == NULL && s.n == 0);
    ms_images_free(&im);
}

/* Free functions on zeroed structs (and twice) are no-ops that leave zeros. */
static void test_free_zeroed(void) {
    ms_images_t im;
    ms_split_t s;
    memset(&im, 0, sizeof im);
    memset(&s, 0, sizeof s);
    ms_images_free(&im);
    ms_images_free(&im);
    ms_split_free(&s);
    ms_split_free(&s);
    ms_images_free(NULL);
    ms_split_free(NULL);
    CHECK(zeroed_images(&im));
    CHECK(s.x == NULL && s.y == NULL && s.n == 0 && s.n_classes == 0);
    CHECK_OK(ms_images_alloc(&im, 2, 1, 3, 3));
    ms_images_free(&im);
    CHECK(zeroed_images(&im));
    CHECK_EQ_INT(ms_images_alloc(&im, 0, 1, 3, 3), MS_EINVAL);
    CHECK_EQ_INT(ms_images_alloc(&im, 1 << 30, 1 << 30, 1 << 30, 1 << 30), MS_EINVAL);
    CHECK(zeroed_images(&im));
}

/* ---- configuration and ms_data_load -------------------------------------------- */

static void test_cfg_defaults(void) {
    ms_data_cfg_t c;
    ms_data_cfg_defaults(&c, MS_DATA_FASHION);
    CHECK_EQ_INT(c.kind, MS_DATA_FASHION);
    CHECK(strcmp(c.dir, "/usr/share/datasets/fashion-mnist") == 0);
    CHECK_EQ_INT(c.norm, MS_NORM_MEANSTD);
    CHECK_EQ_INT(c.layout, MS_LAYOUT_NATIVE);
    for (int k = 0; k < 3; k++) {
        CHECK(c.mean[k] == 0.1307f);
        CHECK(c.std[k] == 0.3081f);
    }
    CHECK_EQ_INT(c.train_limit, 0);
    CHECK_EQ_INT(c.test_limit, 0);
    ms_data_cfg_defaults(&c, MS_DATA_MNIST);
    CHECK_EQ_INT(c.norm, MS_NORM_MEANSTD);
    CHECK(c.dir[0] == 0);
    CHECK(c.mean[0] == 0.1307f && c.std[0] == 0.3081f);
    ms_data_cfg_defaults(&c, MS_DATA_CIFAR10);
    CHECK_EQ_INT(c.norm, MS_NORM_UNIT);
    CHECK(c.dir[0] == 0);
}

/* Files found by their fixed names (.gz preferred), limits and layout applied. */
static void test_data_load_mnist(void) {
    const char *dir = tmp("mnist");
    mkdir(dir, 0700);
    ms_images_t tr, te, decoy;
    random_images(&tr, 30, 1, 28, 28, 60);
    random_images(&te, 20, 1, 28, 28, 61);
    random_images(&decoy, 5, 1, 28, 28, 62);
    char ip[600], lp[600];
    snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte.gz", dir);
    snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte.gz", dir);
    CHECK_OK(ms_idx_write(ip, lp, &tr, 1));
    /* Raw train files beside the .gz ones are ignored (.gz is preferred). */
    snprintf(ip, sizeof ip, "%s/train-images-idx3-ubyte", dir);
    snprintf(lp, sizeof lp, "%s/train-labels-idx1-ubyte", dir);
    CHECK_OK(ms_idx_write(ip, lp, &decoy, 0));

    ms_data_cfg_t cfg;
    ms_data_cfg_defaults(&cfg, MS_DATA_MNIST);
    snprintf(cfg.dir, sizeof cfg.dir, "%s", dir);
    ms_split_t a, b;
    /* No test files yet: the error names both paths tried. */
    ms_err_clear();
    CHECK_EQ_INT(ms_data_load(&cfg, &a, &b), MS_EIO);
    CHECK(strstr(ms_err_msg(), "t10k-images-idx3-ubyte.gz") != NULL);
    CHECK(strstr(ms_err_msg(), "t10k-images-idx3-ubyte (") ||
          strstr(ms_err_msg(), "t10k-images-idx3-ubyte)"));
    CHECK(a.x == NULL && b.x == NULL && a.n == 0);

    snprintf(ip, sizeof ip, "%s/t10k-images-idx3-ubyte", dir);
    snprintf(lp, sizeof lp, "%s/t10k-labels-idx1-ubyte", dir);
    CHECK_OK(ms_idx_write(ip, lp, &te, 0));
    cfg.train_limit = 25;
    cfg.layout = MS_LAYOUT_3X32X32;
    CHECK_OK(ms_data_load(&cfg, &a, &b));
    CHECK_EQ_INT(a.n, 25);
    CHECK_EQ_INT(b.n, 20);
    CHECK_EQ_INT(a.c, 3);
    CHECK_EQ_INT(a.h, 32);
    if (a.n == 25 && b.n == 20) {
        CHECK(memcmp(a.y, tr.labels, 25) == 0);
        CHECK(memcmp(b.y, te.labels, 20) == 0);
        /* Pixel (i=7, y=10, x=3) of the train set at (12, 5) of channel 2. */
        const float want = ((float)tr.pixels[7 * 784 + 10 * 28 + 3] / 255.0f - 0.1307f) / 0.3081f;
        CHECK(a.x[(size_t)7 * 3072 + 2 * 1024 + 12 * 32 + 5] == want);
    }
    ms_split_free(&a);
    ms_split_free(&b);
    /* No folder. */
    cfg.dir[0] = 0;
    CHECK_EQ_INT(ms_data_load(&cfg, &a, &b), MS_EINVAL);
    ms_images_free(&tr);
    ms_images_free(&te);
    ms_images_free(&decoy);
}

/* CIFAR-10 batches inside cifar-10-batches-bin/, five train batches in order. */
static void test_data_load_cifar(void) {
    const char *dir = tmp("cifar");
    char sub[600], path[700];
    mkdir(dir, 0700);
    snprintf(sub, sizeof sub, "%s/cifar-10-batches-bin", dir);
    mkdir(sub, 0700);
    ms_images_t batch[6];
    for (int k = 0; k < 6; k++) {
        random_images(&batch[k], 2 + k, 3, 32, 32, 70 + (uint32_t)k);
        if (k < 5)
            snprintf(path, sizeof path, "%s/data_batch_%d.bin", sub, k + 1);
        else
            snprintf(path, sizeof path, "%s/test_batch.bin", sub);
        CHECK_OK(ms_cifar10_write(path, &batch[k]));
    }
    ms_data_cfg_t cfg;
    ms_data_cfg_defaults(&cfg, MS_DATA_CIFAR10);
    snprintf(cfg.dir, sizeof cfg.dir, "%s", dir);
    ms_split_t a, b;
    CHECK_OK(ms_data_load(&cfg, &a, &b));
    CHECK_EQ_INT(a.n, 2 + 3 + 4 + 5 + 6);
    CHECK_EQ_INT(b.n, 7);
    CHECK_EQ_INT(a.c, 3);
    if (a.n == 20 && b.n == 7) {
        /* Image 0 of batch 4 is image 2+3+4 = 9 of the train split. */
        const int i = 9, ch = 1, y = 17, x = 30;
        CHECK(a.x[(size_t)i * 3072 + ch * 1024 + y * 32 + x] ==
              (float)batch[3].pixels[ch * 1024 + y * 32 + x] / 255.0f);
        CHECK_EQ_INT(a.y[i], batch[3].labels[0]);
        CHECK(memcmp(b.y, batch[5].labels, 7) == 0);
    }
    ms_split_free(&a);
    ms_split_free(&b);
    /* A missing batch names both places looked in. */
    snprintf(path, sizeof path, "%s/data_batch_3.bin", sub);
    remove(path);
    ms_err_clear();
    CHECK_EQ_INT(ms_data_load(&cfg, &a, &b), MS_EIO);
    CHECK(strstr(ms_err_msg(), "cifar-10-batches-bin/data_batch_3.bin") != NULL);
    CHECK(a.x == NULL && b.x == NULL);
    /* 3x32x32 layout of CIFAR-10 is refused, naming the folder. */
    CHECK_OK(ms_cifar10_write(path, &batch[2]));
    cfg.layout = MS_LAYOUT_3X32X32;
    ms_err_clear();
    CHECK_EQ_INT(ms_data_load(&cfg, &a, &b), MS_EINVAL);
    CHECK(strstr(ms_err_msg(), dir) != NULL);
    for (int k = 0; k < 6; k++)
        ms_images_free(&batch[k]);
}

/* ---- the synthetic set ----------------------------------------------------------- */

/* Nearest class mean trained on one seed, tested on another. */
static double centroid_accuracy(const ms_images_t *train, const ms_images_t *test) {
    const size_t D = (size_t)train->c * train->h * train->w;
    double *mean = calloc(10 * D, sizeof(double));
    int count[10] = {0};
    for (int i = 0; i < train->n; i++) {
        count[train->labels[i]]++;
        for (size_t d = 0; d < D; d++)
            mean[train->labels[i] * D + d] += train->pixels[i * D + d];
    }
    for (int k = 0; k < 10; k++)
        for (size_t d = 0; d < D; d++)
            mean[k * D + d] /= count[k] ? count[k] : 1;
    int right = 0;
    for (int i = 0; i < test->n; i++) {
        int best = -1;
        double best_d = 0;
        for (int k = 0; k < 10; k++) {
            double dist = 0;
            for (size_t d = 0; d < D; d++) {
                double e = test->pixels[i * D + d] - mean[k * D + d];
                dist += e * e;
            }
            if (best < 0 || dist < best_d) {
                best = k;
                best_d = dist;
            }
        }
        right += best == test->labels[i];
    }
    free(mean);
    return (double)right / test->n;
}

static void test_synthetic(void) {
    ms_images_t a, b, c;
    CHECK_OK(ms_images_synthetic(&a, 1000, 1, 28, 28, 5));
    CHECK_OK(ms_images_synthetic(&b, 1000, 1, 28, 28, 5));
    CHECK_OK(ms_images_synthetic(&c, 305, 1, 28, 28, 6));
    /* Deterministic; a prefix of a longer set; another seed differs. */
    check_same_images(&a, &b);
    ms_images_t prefix;
    CHECK_OK(ms_images_synthetic(&prefix, 13, 1, 28, 28, 5));
    CHECK(memcmp(prefix.pixels, a.pixels, 13 * 784) == 0 &&
          memcmp(prefix.labels, a.labels, 13) == 0);
    ms_images_free(&prefix);
    CHECK(memcmp(a.pixels, c.pixels, 784) != 0);
    /* Balanced: each block of 10 holds every class once. */
    for (int blk = 0; blk < 100; blk++) {
        int seen[10] = {0};
        for (int k = 0; k < 10; k++)
            seen[a.labels[blk * 10 + k]]++;
        for (int k = 0; k < 10; k++)
            CHECK_EQ_INT(seen[k], 1);
    }
    /* Not blank, not saturated. */
    double sum = 0;
    for (size_t i = 0; i < (size_t)1000 * 784; i++)
        sum += a.pixels[i];
    const double mean = sum / (1000.0 * 784);
    CHECK_MSG(mean > 10 && mean < 150, "mean pixel %.1f", mean);
    /* Learnable across seeds: nearest class mean is far above chance (0.1). */
    const double acc = centroid_accuracy(&a, &c);
    printf("synthetic 1x28x28 nearest-centroid accuracy: %.3f\n", acc);
    CHECK_MSG(acc > 0.8, "nearest-centroid accuracy %.3f", acc);
    ms_images_free(&a);
    ms_images_free(&b);
    ms_images_free(&c);
    /* 3 channels, written as CIFAR-10 and read back. */
    CHECK_OK(ms_images_synthetic(&a, 400, 3, 32, 32, 7));
    CHECK_OK(ms_images_synthetic(&c, 200, 3, 32, 32, 8));
    const double acc3 = centroid_accuracy(&a, &c);
    printf("synthetic 3x32x32 nearest-centroid accuracy: %.3f\n", acc3);
    CHECK_MSG(acc3 > 0.8, "nearest-centroid accuracy %.3f", acc3);
    CHECK_OK(ms_cifar10_write(tmp("synthetic.bin"), &a));
    const char *p[1] = {tmp("synthetic.bin")};
    CHECK_OK(ms_cifar10_load(&b, p, 1));
    check_same_images(&a, &b);
    ms_images_free(&a);
    ms_images_free(&b);
    ms_images_free(&c);
    CHECK_EQ_INT(ms_images_synthetic(&a, 10, 4, 28, 28, 1), MS_EINVAL);
    CHECK(zeroed_images(&a));
}

/* Writers refuse what the formats cannot hold and leave no file behind. */
static void test_writer_errors(void) {
    ms_images_t im;
    random_images(&im, 2, 3, 32, 32, 80);
    ms_err_clear();
    CHECK_EQ_INT(ms_idx_write(tmp("w-images"), tmp("w-labels"), &im, 0), MS_EINVAL);
    struct stat st;
    CHECK(stat(tmp("w-images"), &st) != 0);
    ms_images_free(&im);
    random_images(&im, 2, 1, 28, 28, 81);
    CHECK_EQ_INT(ms_cifar10_write(tmp("w.bin"), &im), MS_EINVAL);
    CHECK_EQ_INT(ms_idx_write("/nonexistent-dir/x-images", NULL, &im, 1), MS_EIO);
    CHECK(strstr(ms_err_msg(), "/nonexistent-dir/x-images") != NULL);
    ms_images_free(&im);
}

int main(void) {
    RUN_TEST(test_idx_roundtrip);
    RUN_TEST(test_idx_format_by_hand);
    RUN_TEST(test_cifar_roundtrip);
    RUN_TEST(test_idx_missing_and_magic);
    RUN_TEST(test_idx_lengths);
    RUN_TEST(test_idx_header_values);
    RUN_TEST(test_idx_corrupt_gzip);
    RUN_TEST(test_cifar_errors);
    RUN_TEST(test_normalisation_vs_pytorch);
    RUN_TEST(test_layout_3x32x32);
    RUN_TEST(test_split_limit_and_classes);
    RUN_TEST(test_free_zeroed);
    RUN_TEST(test_cfg_defaults);
    RUN_TEST(test_data_load_mnist);
    RUN_TEST(test_data_load_cifar);
    RUN_TEST(test_synthetic);
    RUN_TEST(test_writer_errors);
    return ms_test_summary();
}
