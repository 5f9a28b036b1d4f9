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

typedef enum ms_dataset_kind {
    MS_DATA_MNIST = 0,   /* IDX: train-images-idx3-ubyte[.gz], ... */
    MS_DATA_FASHION = 1, /* same file names and format as MNIST */
    MS_DATA_CIFAR10 = 2, /* data_batch_1..5.bin, test_batch.bin */
} ms_dataset_kind_t;

typedef enum ms_norm {
    MS_NORM_NONE = 0, /* x / 255 is not applied: raw 0..255 */
    MS_NORM_UNIT = 1, /* x / 255 (the seeds' CIFAR-10 ToTensor) */
    MS_NORM_MEANSTD = 2, /* (x / 255 - mean) / std, per channel (MNIST: 0.1307, 0.3081) */
} ms_norm_t;

typedef enum ms_layout_kind {
    MS_LAYOUT_NATIVE = 0,  /* as stored: 1 x 28 x 28 or 3 x 32 x 32 */
    MS_LAYOUT_3X32X32 = 1, /* 28 x 28 padded by 2 with zeros (before normalisation), copied to 3 channels */
} ms_layout_kind_t;

/* Raw labelled images as stored on disk (uint8 pixels, C x H x W). */
typedef struct ms_images {
    int n, c, h, w;
    uint8_t *pixels; /* (n, c, h, w) */
    uint8_t *labels; /* (n) in 0..9 */
} ms_images_t;

/* Reads an IDX image file and its label file (each gzip-compressed or raw:
 * detected by the gzip magic, not by the name). Checks magic numbers,
 * dimensions, counts agreeing between the two files, label range and length. */
int ms_idx_load(ms_images_t *out, const char *images_path, const char *labels_path);

/* Reads CIFAR-10 binary batches (records of 1 label byte + 3072 pixel bytes),
 * concatenated in the order given. Checks sizes and label range. */
int ms_cifar10_load(ms_images_t *out, const char *const *paths, int n_paths);

void ms_images_free(ms_images_t *im);

/* A split ready for training: float images (n, c, h, w) after layout and
 * normalisation, labels, and per-class counts. */
typedef struct ms_split {
    int n, c, h, w;
    float *x;     /* (n, c, h, w) */
    uint8_t *y;   /* (n) */
    int n_classes;
    int class_count[10];
} ms_split_t;

typedef struct ms_data_cfg {
    ms_dataset_kind_t kind;
    char dir[1024];       /* folder holding the files */
    ms_layout_kind_t layout;
    ms_norm_t norm;
    float mean[3], std[3]; /* per channel, for MS_NORM_MEANSTD */
    int train_limit;      /* use the first n training images (0 = all) */
    int test_limit;       /* use the first n test images (0 = all) */
} ms_data_cfg_t;

/* The default normalisation of a dataset, as in the seeds: MNIST-like data
 * (x/255 - 0.1307)/0.3081, CIFAR-10 x/255. */
void ms_data_cfg_defaults(ms_data_cfg_t *cfg, ms_dataset_kind_t kind);

/* Loads the train and test splits of cfg (file names fixed by the dataset
 * kind), applies layout and normalisation. */
int ms_data_load(const ms_data_cfg_t *cfg, ms_split_t *train, ms_split_t *test);

/* Converts raw images to a split (layout, normalisation); limit 0 = all. */
int ms_split_from_images(ms_split_t *out, const ms_images_t *im, ms_layout_kind_t layout,
                         ms_norm_t norm, const float *mean, const float *std, int limit);

void ms_split_free(ms_split_t *s);

/* Indices (into s) of the images of class `label`, in file order; returns the count. */
int ms_split_class_indices(const ms_split_t *s, int label, int32_t *idx);

#endif
