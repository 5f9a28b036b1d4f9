/* dataset = planted ([data] planted_*): the generated planted-module data
 * set a grid names, written as real IDX files into the grid's data folder
 * before the normal loader reads them (so the safety layer's data
 * fingerprints cover them), and the planted modules of its input pixels. */
#ifndef MODSWEEP_PLANTED_H
#define MODSWEEP_PLANTED_H

#include "modsweep/config.h"

typedef enum ms_planted_task {
    MS_PLANTED_BARS = 0,  /* ms_images_planted: the sub-label is the bar's band */
    MS_PLANTED_PAIRS = 1, /* ms_images_planted_pairs: (upper + lower bar) mod sub */
} ms_planted_task_t;

/* For a grid with dataset = planted (g->planted.blocks > 0): makes the
 * training images (seed planted_seed) and test images (seed planted_seed +
 * 1), 28 x 28, and makes sure g->base.data.dir holds exactly them as
 * {train,t10k}-{images-idx3,labels-idx1}-ubyte.gz: a missing folder is
 * created (its parent must exist), missing files are written (to a
 * temporary name, then renamed), and files already there are read and
 * compared with the generated images; files that differ are an error
 * (MS_EFORMAT naming the file: another data set; remove it or give another
 * dir). Call on one rank before any rank loads the data. A grid without
 * dataset = planted: returns 0 and does nothing. */
int ms_planted_prepare(const ms_grid_t *g);

/* dataset = planted: the planted strip of each of fc1's L->fc_in[0] inputs
 * for a model with settings s (ms_planted_input_modules, recovery.h: the
 * 28 x 28 planted image, padded by 2 pixels for layout 3x32x32; -1 for
 * inputs that read padding only), in a new array the caller frees; *module
 * is NULL for a grid without dataset = planted. 0, MS_EINVAL or
 * MS_ENOMEM. */
int ms_planted_fc1_modules(const ms_grid_t *g, const ms_settings_t *s, const ms_layout_t *L,
                           int32_t **module);

#endif
