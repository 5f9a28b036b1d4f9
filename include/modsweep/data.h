/* Datasets: MNIST / Fashion-MNIST IDX files (gzip or raw) and CIFAR-10
 * binary batches, their normalisation, and the layout that places 28 x 28
 * images in 3 x 32 x 32 (zero padding 2, the channel copied three times) so
 * the paper's CNN runs on MNIST-like data.
 *
 * Every loader checks what it reads: a missing, truncated or malformed file
 * gives MS_EIO / MS_EFORMAT and a message naming the file and the fault
 * ("t10k-images-idx3-ubyte.gz: truncated: header says 10000 images of 28x28,
 * file holds 3 bytes of pixel data after the header"). */
#ifndef MODSWEEP_DATA_H
#define MODSWEEP_DATA_H

#include <stddef.h>
#include <stdint.h>

/* Limits of the IDX header fields the loader accepts; anything beyond them is
 * treated as a corrupt header rather than an allocation request. */
#define MS_IDX_MAX_N 10000000 /* images (and labels) per file */
#define MS_IDX_MAX_SIDE 1024  /* rows and columns per image */
/* Number of classes of every supported dataset (labels 0..9). */
#define MS_N_CLASSES 10
/* A CIFAR-10 record: 1 label byte then 3 x 32 x 32 pixel bytes (R, G, B planes). */
#define MS_CIFAR10_RECORD 3073

typedef enum ms_dataset_kind {
    MS_DATA_MNIST = 0,   /* IDX: train-images-idx3-ubyte[.gz], ... */
    MS_DATA_FASHION = 1, /* same file names and format as MNIST */
    MS_DATA_CIFAR10 = 2, /* data_batch_1..5.bin, test_batch.bin */
} ms_dataset_kind_t;

typedef enum ms_norm {
    MS_NORM_NONE = 0,    /* x / 255 is not applied: raw 0..255 */
    MS_NORM_UNIT = 1,    /* x / 255 (the seeds' CIFAR-10 ToTensor) */
    MS_NORM_MEANSTD = 2, /* (x / 255 - mean) / std, per channel (MNIST: 0.1307, 0.3081) */
} ms_norm_t;

typedef enum ms_layout_kind {
    MS_LAYOUT_NATIVE = 0, /* as stored: 1 x 28 x 28 or 3 x 32 x 32 */
    /* 28 x 28 padded by 2 with zeros (before normalisation), copied to 3 channels */
    MS_LAYOUT_3X32X32 = 1,
} ms_layout_kind_t;

/* Raw labelled images as stored on disk (uint8 pixels, C x H x W). */
typedef struct ms_images {
    int n, c, h, w;
    uint8_t *pixels; /* (n, c, h, w) */
    uint8_t *labels; /* (n) in 0..9 */
} ms_images_t;

/* Allocates zeroed pixels and labels for n images of c x h x w (all >= 1).
 * *im is overwritten, not freed; on error it is left zeroed (MS_EINVAL for
 * bad sizes or an element count that overflows, MS_ENOMEM). */
int ms_images_alloc(ms_images_t *im, int n, int c, int h, int w);

/* Reads an IDX image file and its label file (each gzip-compressed or raw:
 * detected by the gzip magic 0x1f 0x8b, not by the name). Checks magic
 * numbers (hinting when the two files look swapped), dimensions (1..
 * MS_IDX_MAX_N images of 1..MS_IDX_MAX_SIDE rows and columns), counts
 * agreeing between the two files, labels in 0..9, and the length: the
 * (decompressed) content must be exactly what the header describes, neither
 * shorter (truncated) nor longer (trailing bytes). A corrupt or cut gzip
 * stream is reported with zlib's message; bytes after the last gzip member
 * that are not another gzip member are ignored, as zlib and gunzip do.
 * Pixels stay uint8 with c = 1. *out is overwritten, not freed; on error it
 * is left zeroed and nothing stays allocated. */
int ms_idx_load(ms_images_t *out, const char *images_path, const char *labels_path);

/* Reads CIFAR-10 binary batches (records of 1 label byte + 3072 pixel bytes,
 * channel-major: the R, G then B 32 x 32 planes), concatenated in the order
 * given, into 3 x 32 x 32 images. Each file must be raw (not gzip) and hold
 * a non-zero multiple of 3073 bytes; labels must be 0..9. *out is
 * overwritten, not freed; on error it is left zeroed. */
int ms_cifar10_load(ms_images_t *out, const char *const *paths, int n_paths);

/* Frees the buffers and zeroes *im; safe on a zeroed struct and on NULL. */
void ms_images_free(ms_images_t *im);

/* A split ready for training: float images (n, c, h, w) after layout and
 * normalisation, labels, and per-class counts. */
typedef struct ms_split {
    int n, c, h, w;
    float *x;   /* (n, c, h, w) */
    uint8_t *y; /* (n) */
    int n_classes;
    int class_count[10];
} ms_split_t;

typedef struct ms_data_cfg {
    ms_dataset_kind_t kind;
    char dir[1024]; /* folder holding the files */
    ms_layout_kind_t layout;
    ms_norm_t norm;
    float mean[3], std[3]; /* per channel, for MS_NORM_MEANSTD */
    int train_limit;       /* use the first n training images (0 = all) */
    int test_limit;        /* use the first n test images (0 = all) */
} ms_data_cfg_t;

/* The default configuration of a dataset kind, as in the seeds: native
 * layout, all images, and
 * - MNIST: MS_NORM_MEANSTD with mean 0.1307, std 0.3081 (in all three
 *   entries of mean[] and std[]), dir empty;
 * - Fashion-MNIST: the same MNIST statistics (the seeds use them; Fashion-
 *   MNIST's own are 0.2860 / 0.3530), dir /usr/share/datasets/fashion-mnist
 *   (Debian's dataset-fashion-mnist);
 * - CIFAR-10: MS_NORM_UNIT (x / 255), mean 0 and std 1, dir empty. */
void ms_data_cfg_defaults(ms_data_cfg_t *cfg, ms_dataset_kind_t kind);

/* Loads the train and test splits of cfg, applies layout and normalisation.
 * File names are fixed by the dataset kind:
 * - MNIST and Fashion-MNIST: dir/train-images-idx3-ubyte, train-labels-
 *   idx1-ubyte, t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each with
 *   ".gz" or without (".gz" is preferred when both exist; when neither does
 *   the error names both paths tried);
 * - CIFAR-10: dir/data_batch_1.bin .. data_batch_5.bin (train, in that
 *   order) and test_batch.bin, each looked for in dir and then in
 *   dir/cifar-10-batches-bin.
 * The test images must have the training images' shape (else MS_EFORMAT
 * naming the test images file and both shapes). mean/std are passed to
 * ms_split_from_images as cfg->mean/cfg->std. On error both splits are left
 * zeroed. */
int ms_data_load(const ms_data_cfg_t *cfg, ms_split_t *train, ms_split_t *test);

/* The files ms_data_load(cfg) reads, in the order it reads them (training
 * images and labels, then test images and labels; for CIFAR-10 the five
 * training batches, then the test batch), found as it finds them: writes up
 * to max paths of MS_DATA_PATH_MAX bytes into paths and returns their
 * number, or a negative ms_err_t (a missing file, as ms_data_load says it).
 * The sweep records a fingerprint of each (see docs/data-safety.md). */
#define MS_DATA_PATH_MAX 4096
#define MS_DATA_MAX_FILES 6
int ms_data_files(const ms_data_cfg_t *cfg, char (*paths)[MS_DATA_PATH_MAX], int max);

/* Converts the first `limit` raw images (all when limit is 0 or >= im->n;
 * negative is MS_EINVAL) to a split:
 * - layout MS_LAYOUT_NATIVE keeps c x h x w; MS_LAYOUT_3X32X32 needs 1 x 28
 *   x 28 images (else MS_EINVAL), pads them by 2 raw zero pixels on each
 *   side and copies the channel into 3 channels (padding comes before
 *   normalisation, so a pad pixel is the normalised value of pixel 0);
 * - norm MS_NORM_NONE gives the raw value (0..255) as float, MS_NORM_UNIT
 *   (float)p / 255.0f, MS_NORM_MEANSTD ((float)p / 255.0f - mean[k]) / std[k],
 *   each step in float32 exactly as PyTorch's ToTensor then Normalize.
 * mean and std (read only for MS_NORM_MEANSTD; may be NULL otherwise) hold
 * one value per channel of the *source* images (im->c): 1 for MNIST-like
 * data, 3 for CIFAR-10. The three copies made by MS_LAYOUT_3X32X32 all use
 * mean[0] / std[0], so they stay equal. std must be finite and > 0.
 * Labels must be 0..9; class_count[] and n_classes (10) are filled. *out is
 * overwritten, not freed; on error it is left zeroed. */
int ms_split_from_images(ms_split_t *out, const ms_images_t *im, ms_layout_kind_t layout,
                         ms_norm_t norm, const float *mean, const float *std, int limit);

/* Frees the buffers and zeroes *s; safe on a zeroed struct and on NULL. */
void ms_split_free(ms_split_t *s);

/* Writes the indices (into s) of the images of class `label`, in order, to
 * idx (room for s->class_count[label] entries; may be NULL to only count)
 * and returns their number; MS_EINVAL when label is not in 0..n_classes-1. */
int ms_split_class_indices(const ms_split_t *s, int label, int32_t *idx);

#endif
