/* Fuzz target: the CIFAR-10 loader (ms_cifar10_load) on one to three batch
 * files made from the input.
 *
 * Input: byte 0 = mode (bits 0-1: files - 1, at most 3; bit 2: also convert
 * an accepted set to splits), then for each file but the last its length
 * (2 bytes, little-endian, clipped), then the files' bytes one after the
 * other (the last file takes the rest).
 *
 * Properties beyond "no crash, no leak, no undefined behaviour":
 * - a refusal is MS_EFORMAT / MS_EIO / MS_ENOMEM with a message naming one
 *   of the files, and leaves the images zeroed;
 * - the loader accepts exactly the sets of valid batches (each file a
 *   non-empty whole number of 3073-byte records with labels 0..9: the
 *   format's definition, checked independently below) and returns their
 *   images in file order, R, G and B planes as stored;
 * - an accepted set converts to splits. */
#include "fuzz_util.h"

#include "modsweep/data.h"
#include "modsweep/error.h"

#define MAX_FILES 3

static int batch_valid(const uint8_t *p, size_t n) {
    if (n == 0 || n % MS_CIFAR10_RECORD) return 0;
    for (size_t r = 0; r < n; r += MS_CIFAR10_RECORD)
        if (p[r] > 9) return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint8_t *p = data, *end = data + size;
    const int mode = (int)fz_take(&p, end, 1);
    int nf = (mode & 3) + 1;
    if (nf > MAX_FILES) nf = MAX_FILES;
    size_t len[MAX_FILES];
    for (int i = 0; i < nf - 1; i++)
        len[i] = (size_t)fz_take(&p, end, 2);
    const uint8_t *part[MAX_FILES];
    char paths[MAX_FILES][512];
    const char *pv[MAX_FILES];
    int valid = 1;
    size_t images = 0;
    for (int i = 0; i < nf; i++) {
        size_t left = (size_t)(end - p);
        if (i == nf - 1 || len[i] > left) len[i] = left;
        part[i] = p;
        p += len[i];
        char tag[32];
        snprintf(tag, sizeof tag, "data_batch_%d.bin", i + 1);
        pv[i] = fz_path(paths[i], sizeof paths[i], tag);
        fz_write(paths[i], part[i], len[i]);
        valid &= batch_valid(part[i], len[i]);
        images += len[i] / MS_CIFAR10_RECORD;
    }

    ms_images_t im;
    memset(&im, 0x5a, sizeof im);
    int rc = ms_cifar10_load(&im, pv, nf);
    if (rc) {
        FZ_ASSERT(rc == MS_EFORMAT || rc == MS_EIO || rc == MS_ENOMEM, "code %d: %s", rc,
                  ms_err_msg());
        int named = 0;
        for (int i = 0; i < nf; i++)
            named |= strstr(ms_err_msg(), pv[i]) != NULL;
        FZ_ASSERT(named, "the message names no file: %s", ms_err_msg());
        FZ_ASSERT(im.pixels == NULL && im.labels == NULL && im.n == 0, "not zeroed on error");
        FZ_ASSERT(!valid || rc == MS_ENOMEM, "valid batches refused: %s", ms_err_msg());
    } else {
        FZ_ASSERT(valid, "invalid batches accepted");
        FZ_ASSERT((size_t)im.n == images && im.c == 3 && im.h == 32 && im.w == 32,
                  "shape %d %d %d %d for %zu records", im.n, im.c, im.h, im.w, images);
        size_t k = 0;
        for (int i = 0; i < nf; i++)
            for (size_t r = 0; r < len[i]; r += MS_CIFAR10_RECORD, k++) {
                FZ_ASSERT(im.labels[k] == part[i][r], "label of image %zu", k);
                FZ_ASSERT(memcmp(im.pixels + k * 3072, part[i] + r + 1, 3072) == 0,
                          "pixels of image %zu", k);
            }
        if (mode & 4) {
            const float mean[3] = {0.49f, 0.48f, 0.45f}, sd[3] = {0.25f, 0.24f, 0.26f};
            ms_split_t s;
            FZ_ASSERT(ms_split_from_images(&s, &im, MS_LAYOUT_NATIVE, MS_NORM_MEANSTD, mean, sd,
                                           mode >> 3) == 0,
                      "split: %s", ms_err_msg());
            int total = 0;
            for (int c = 0; c < MS_N_CLASSES; c++)
                total += s.class_count[c];
            FZ_ASSERT(total == s.n, "class counts add up to %d of %d", total, s.n);
            ms_split_free(&s);
            FZ_ASSERT(ms_split_from_images(&s, &im, MS_LAYOUT_3X32X32, MS_NORM_UNIT, NULL, NULL,
                                           0) != 0,
                      "3x32x32 layout accepted for 3-channel images");
            ms_split_free(&s);
        }
        ms_images_free(&im);
    }
    for (int i = 0; i < nf; i++)
        unlink(paths[i]);
    ms_err_clear();
    return 0;
}
