/* Generated data sets (datagen.h): IDX and CIFAR-10 writers and the
 * synthetic 10-class image set used by tests and benchmarks.
 *
 * Dimension letters: N images, C channels, H rows, W columns; K a class. */
#include "modsweep/datagen.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <zlib.h>

#include "modsweep/error.h"
#include "modsweep/rng.h"

/* ---- writers ------------------------------------------------------------- */

/* An output file, raw (stdio) or gzip (zlib). */
typedef struct outfile {
    const char *path;
    FILE *f;
    gzFile gz;
} outfile_t;

static int outfile_open(outfile_t *o, const char *path, int gzip) {
    memset(o, 0, sizeof *o);
    o->path = path;
    errno = 0;
    if (gzip)
        o->gz = gzopen(path, "wb");
    else
        o->f = fopen(path, "wb");
    if (!o->f && !o->gz)
        return ms_err_set(MS_EIO, "%s: cannot create: %s", path,
                          errno ? strerror(errno) : "out of memory");
    return 0;
}

static int outfile_write(outfile_t *o, const void *buf, size_t n) {
    const unsigned char *p = buf;
    while (n > 0) {
        /* gzwrite takes an unsigned length. */
        size_t chunk = n < ((size_t)1 << 30) ? n : ((size_t)1 << 30);
        if (o->gz) {
            if (gzwrite(o->gz, p, (unsigned)chunk) != (int)chunk) {
                int zerr = Z_OK;
                const char *zmsg = gzerror(o->gz, &zerr);
                return ms_err_set(MS_EIO, "%s: write error: %s", o->path,
                                  zerr == Z_ERRNO ? strerror(errno) : zmsg);
            }
        } else if (fwrite(p, 1, chunk, o->f) != chunk) {
            return ms_err_set(MS_EIO, "%s: write error: %s", o->path, strerror(errno));
        }
        p += chunk;
        n -= chunk;
    }
    return 0;
}

/* Closes o; with rc != 0 (an earlier failure) or a failing close, the file
 * is removed so nothing half-written stays behind. Returns the first error. */
static int outfile_close(outfile_t *o, int rc) {
    int crc = 0;
    if (o->gz) {
        int zrc = gzclose(o->gz);
        if (zrc != Z_OK && !rc)
            crc = ms_err_set(MS_EIO, "%s: error closing the gzip file (zlib %d)", o->path, zrc);
    } else if (o->f) {
        if (fclose(o->f) != 0 && !rc)
            crc = ms_err_set(MS_EIO, "%s: write error on close: %s", o->path, strerror(errno));
    }
    o->gz = NULL;
    o->f = NULL;
    if (rc || crc) remove(o->path);
    return rc ? rc : crc;
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

int ms_idx_write(const char *images_path, const char *labels_path, const ms_images_t *im,
                 int gzip) {
    if (!im || im->c != 1 || im->n < 1 || im->n > MS_IDX_MAX_N || im->h < 1 ||
        im->h > MS_IDX_MAX_SIDE || im->w < 1 || im->w > MS_IDX_MAX_SIDE || !im->pixels ||
        !im->labels)
        return ms_err_set(MS_EINVAL,
                          "%s: IDX writer needs 1..%d single-channel images of 1..%d pixels a side",
                          images_path   ? images_path
                          : labels_path ? labels_path
                                        : "(no path)",
                          MS_IDX_MAX_N, MS_IDX_MAX_SIDE);
    outfile_t o;
    unsigned char header[16];
    if (images_path) {
        int rc = outfile_open(&o, images_path, gzip);
        if (rc) return rc;
        put_be32(header, 0x00000803u);
        put_be32(header + 4, (uint32_t)im->n);
        put_be32(header + 8, (uint32_t)im->h);
        put_be32(header + 12, (uint32_t)im->w);
        rc = outfile_write(&o, header, 16);
        if (!rc) rc = outfile_write(&o, im->pixels, (size_t)im->n * im->h * im->w);
        rc = outfile_close(&o, rc);
        if (rc) return rc;
    }
    if (labels_path) {
        int rc = outfile_open(&o, labels_path, gzip);
        if (rc) return rc;
        put_be32(header, 0x00000801u);
        put_be32(header + 4, (uint32_t)im->n);
        rc = outfile_write(&o, header, 8);
        if (!rc) rc = outfile_write(&o, im->labels, (size_t)im->n);
        rc = outfile_close(&o, rc);
        if (rc) return rc;
    }
    return 0;
}

int ms_cifar10_write(const char *path, const ms_images_t *im) {
    if (!path) return ms_err_set(MS_EINVAL, "CIFAR-10 writer: no path");
    if (!im || im->c != 3 || im->h != 32 || im->w != 32 || im->n < 1 || !im->pixels || !im->labels)
        return ms_err_set(MS_EINVAL, "%s: CIFAR-10 writer needs 3x32x32 images", path);
    outfile_t o;
    int rc = outfile_open(&o, path, 0);
    if (rc) return rc;
    const size_t per = (size_t)MS_CIFAR10_RECORD - 1;
    for (int i = 0; i < im->n && !rc; i++) {
        rc = outfile_write(&o, im->labels + i, 1);
        if (!rc) rc = outfile_write(&o, im->pixels + (size_t)i * per, per);
    }
    return outfile_close(&o, rc);
}

/* ---- the synthetic set --------------------------------------------------- */

/* Key of the class prototypes ("modsweep" in ASCII); fixed, see datagen.h. */
#define PROTO_KEY 0x6d6f647377656570ull
/* Sub-stream of the label permutations (images use subs 0..n-1 < 2^31). */
#define LABEL_SUB 0xffffffffu
/* Words reserved per block of 10 labels (a shuffle of 10 draws 9+ words). */
#define LABEL_WORDS 64u

/* A class prototype in fractions of the image size. */
typedef struct proto {
    float blob_y[2], blob_x[2]; /* blob centres */
    float y0, x0, y1, x1;       /* stroke end points */
    float gain[3];              /* brightness per channel */
} proto_t;

static void make_protos(proto_t p[MS_N_CLASSES], int c) {
    for (int k = 0; k < MS_N_CLASSES; k++) {
        ms_rng_t r;
        ms_rng_init(&r, PROTO_KEY, MS_RNG_TESTDATA, (uint32_t)k);
        for (int b = 0; b < 2; b++) {
            p[k].blob_y[b] = 0.15f + 0.7f * ms_rng_float(&r);
            p[k].blob_x[b] = 0.15f + 0.7f * ms_rng_float(&r);
        }
        p[k].y0 = 0.1f + 0.8f * ms_rng_float(&r);
        p[k].x0 = 0.1f + 0.8f * ms_rng_float(&r);
        p[k].y1 = 0.1f + 0.8f * ms_rng_float(&r);
        p[k].x1 = 0.1f + 0.8f * ms_rng_float(&r);
        for (int ch = 0; ch < 3; ch++)
            p[k].gain[ch] = c == 1 ? 1.0f : 0.35f + 0.65f * ms_rng_float(&r);
    }
}

/* A smooth bump of squared relative distance t: 1 at 0, 0 from 1 on. */
static float bump(float t) {
    return t < 1.0f ? (1.0f - t) * (1.0f - t) : 0.0f;
}

/* Squared distance from (y, x) to the segment (y0, x0)-(y1, x1). */
static float seg_dist2(float y, float x, float y0, float x0, float y1, float x1) {
    const float dy = y1 - y0, dx = x1 - x0, len2 = dy * dy + dx * dx;
    float t = len2 > 0.0f ? ((y - y0) * dy + (x - x0) * dx) / len2 : 0.0f;
    t = t < 0.0f ? 0.0f : t > 1.0f ? 1.0f : t;
    const float ey = y - (y0 + t * dy), ex = x - (x0 + t * dx);
    return ey * ey + ex * ex;
}

/* The prototype of class p at pixel (y, x) of an h x w image, in 0..1. */
static float proto_at(const proto_t *p, float y, float x, int h, int w) {
    const float side = (float)(h < w ? h : w);
    const float rb = side * 0.18f > 1.0f ? side * 0.18f : 1.0f;
    const float rs = side * 0.07f > 0.75f ? side * 0.07f : 0.75f;
    const float sy = (float)(h - 1), sx = (float)(w - 1);
    float v = 0.0f;
    for (int b = 0; b < 2; b++) {
        const float dy = y - p->blob_y[b] * sy, dx = x - p->blob_x[b] * sx;
        const float u = bump((dy * dy + dx * dx) / (rb * rb));
        v = u > v ? u : v;
    }
    const float d2 = seg_dist2(y, x, p->y0 * sy, p->x0 * sx, p->y1 * sy, p->x1 * sx);
    const float u = bump(d2 / (rs * rs));
    return u > v ? u : v;
}

/* One pixel byte: 255 (base + noise) rounded and clamped to [0, 255], the
 * noise the mean of three uniforms of r, centred: a bell in [-0.3, 0.3). */
static uint8_t noisy_pixel(ms_rng_t *r, float base) {
    const float u = ms_rng_float(r) + ms_rng_float(r) + ms_rng_float(r);
    const float noise = (u / 3.0f - 0.5f) * 0.6f;
    float v = 255.0f * (base + noise) + 0.5f;
    v = v < 0.0f ? 0.0f : v > 255.0f ? 255.0f : v;
    return (uint8_t)v;
}

int ms_images_synthetic(ms_images_t *out, int n, int c, int h, int w, uint64_t seed) {
    memset(out, 0, sizeof *out);
    if (n < 1 || c < 1 || c > 3 || h < 4 || w < 4)
        return ms_err_set(MS_EINVAL,
                          "synthetic images: invalid size %d x %d x %d x %d (need n >= 1, c 1..3, "
                          "h, w >= 4)",
                          n, c, h, w);
    int rc = ms_images_alloc(out, n, c, h, w);
    if (rc) return rc;
    proto_t protos[MS_N_CLASSES];
    make_protos(protos, c);
    const int max_shift = (h < w ? h : w) / 14;
    const size_t plane = (size_t)h * w;

    /* Labels: a random permutation of the 10 classes per block of 10. */
    ms_rng_t r;
    ms_rng_init(&r, seed, MS_RNG_TESTDATA, LABEL_SUB);
    for (int b = 0; b * 10 < n; b++) {
        int32_t perm[MS_N_CLASSES];
        for (int k = 0; k < MS_N_CLASSES; k++)
            perm[k] = k;
        ms_rng_seek(&r, (uint64_t)b * LABEL_WORDS);
        ms_rng_shuffle(&r, perm, MS_N_CLASSES);
        for (int k = 0; k < MS_N_CLASSES && b * 10 + k < n; k++)
            out->labels[b * 10 + k] = (uint8_t)perm[k];
    }

    for (int i = 0; i < n; i++) {
        const proto_t *p = &protos[out->labels[i]];
        ms_rng_init(&r, seed, MS_RNG_TESTDATA, (uint32_t)i);
        const int dy = max_shift ? (int)ms_rng_below(&r, 2u * max_shift + 1) - max_shift : 0;
        const int dx = max_shift ? (int)ms_rng_below(&r, 2u * max_shift + 1) - max_shift : 0;
        const float contrast = 0.6f + 0.4f * ms_rng_float(&r);
        uint8_t *img = out->pixels + (size_t)i * c * plane;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                const float base = contrast * proto_at(p, (float)(y - dy), (float)(x - dx), h, w);
                for (int ch = 0; ch < c; ch++)
                    img[(size_t)ch * plane + (size_t)y * w + x] =
                        noisy_pixel(&r, p->gain[ch] * base);
            }
    }
    return 0;
}

/* ---- the planted-module set ---------------------------------------------- */

/* Sub-stream base of the planted set (the synthetic set's images use subs
 * below 2^31). */
#define PLANTED_SUB 0x80000000u

void ms_planted_modules(int h, int w, int blocks, int32_t *module) {
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++) {
            const int b = x / (w / blocks);
            module[(size_t)y * w + x] = b < blocks - 1 ? b : blocks - 1;
        }
}

int ms_images_planted(ms_images_t *out, int n, int h, int w, int blocks, int sub, uint64_t seed) {
    memset(out, 0, sizeof *out);
    int classes = 1;
    for (int b = 0; b < blocks && classes <= MS_N_CLASSES; b++)
        classes *= sub;
    if (n < 1 || blocks < 1 || sub < 2 || classes > MS_N_CLASSES || h < sub || w < 2 * blocks)
        return ms_err_set(MS_EINVAL,
                          "planted images: invalid set-up (n %d, %d x %d pixels, %d blocks of %d "
                          "sub-labels: need n >= 1, blocks >= 1, sub-labels >= 2, "
                          "sub-labels^blocks <= %d, h >= sub-labels, w >= 2 x blocks)",
                          n, h, w, blocks, sub, MS_N_CLASSES);
    int rc = ms_images_alloc(out, n, 1, h, w);
    if (rc) return rc;
    const int bw = w / blocks;
    for (int i = 0; i < n; i++) {
        ms_rng_t r;
        ms_rng_init(&r, seed, MS_RNG_TESTDATA, PLANTED_SUB + (uint32_t)i);
        int s[MS_N_CLASSES], label = 0, scale = 1;
        float contrast[MS_N_CLASSES];
        for (int b = 0; b < blocks; b++) {
            s[b] = (int)ms_rng_below(&r, (uint32_t)sub);
            contrast[b] = 0.6f + 0.4f * ms_rng_float(&r);
            label += s[b] * scale;
            scale *= sub;
        }
        out->labels[i] = (uint8_t)label;
        uint8_t *img = out->pixels + (size_t)i * h * w;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int b = x / bw;
                b = b < blocks - 1 ? b : blocks - 1;
                /* The bar of sub-label s covers rows [s h / sub, (s + 1) h / sub). */
                const int band = y * sub / h;
                img[(size_t)y * w + x] = noisy_pixel(&r, band == s[b] ? contrast[b] : 0.0f);
            }
    }
    return 0;
}

/* Sub-stream base of the paired planted set (above the bar set's). */
#define PLANTED_PAIRS_SUB 0xC0000000u

int ms_images_planted_pairs(ms_images_t *out, int n, int h, int w, int blocks, int sub,
                            uint64_t seed) {
    memset(out, 0, sizeof *out);
    int classes = 1;
    for (int b = 0; b < blocks && classes <= MS_N_CLASSES; b++)
        classes *= sub;
    if (n < 1 || blocks < 1 || sub < 2 || classes > MS_N_CLASSES || h < 2 * sub || w < 2 * blocks)
        return ms_err_set(MS_EINVAL,
                          "planted pair images: invalid set-up (n %d, %d x %d pixels, %d blocks "
                          "of %d sub-labels: need n >= 1, blocks >= 1, sub-labels >= 2, "
                          "sub-labels^blocks <= %d, h >= 2 x sub-labels, w >= 2 x blocks)",
                          n, h, w, blocks, sub, MS_N_CLASSES);
    int rc = ms_images_alloc(out, n, 1, h, w);
    if (rc) return rc;
    const int bw = w / blocks, hh = h / 2;
    for (int i = 0; i < n; i++) {
        ms_rng_t r;
        ms_rng_init(&r, seed, MS_RNG_TESTDATA, PLANTED_PAIRS_SUB + (uint32_t)i);
        int top[MS_N_CLASSES], bot[MS_N_CLASSES], label = 0, scale = 1;
        float contrast[MS_N_CLASSES];
        for (int b = 0; b < blocks; b++) {
            top[b] = (int)ms_rng_below(&r, (uint32_t)sub);
            bot[b] = (int)ms_rng_below(&r, (uint32_t)sub);
            contrast[b] = 0.6f + 0.4f * ms_rng_float(&r);
            label += ((top[b] + bot[b]) % sub) * scale;
            scale *= sub;
        }
        out->labels[i] = (uint8_t)label;
        uint8_t *img = out->pixels + (size_t)i * h * w;
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int b = x / bw;
                b = b < blocks - 1 ? b : blocks - 1;
                /* Upper half rows [0, hh), lower half rows [hh, h); the bar
                 * of position a covers the half's rows [a m / sub, (a + 1)
                 * m / sub) for a half of m rows. */
                const int lower = y >= hh, m = lower ? h - hh : hh, yy = lower ? y - hh : y;
                const int band = yy * sub / m, pos = lower ? bot[b] : top[b];
                img[(size_t)y * w + x] = noisy_pixel(&r, band == pos ? contrast[b] : 0.0f);
            }
    }
    return 0;
}
