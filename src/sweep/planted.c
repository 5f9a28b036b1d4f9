/* dataset = planted: writes (or checks) the generated planted-module data
 * set in the grid's data folder before the normal loader reads it
 * (planted.h). */
#include "modsweep/planted.h"

#include "modsweep/data.h"
#include "modsweep/datagen.h"
#include "modsweep/error.h"
#include "modsweep/recovery.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int make(const ms_grid_t *g, ms_images_t *im, int n, uint64_t seed) {
    return g->planted.task == MS_PLANTED_PAIRS
               ? ms_images_planted_pairs(im, n, 28, 28, g->planted.blocks, g->planted.sub, seed)
               : ms_images_planted(im, n, 28, 28, g->planted.blocks, g->planted.sub, seed);
}

/* One split: compare with the files there, or write them. */
static int split(const ms_grid_t *g, const char *prefix, int n, uint64_t seed) {
    const char *dir = g->base.data.dir;
    char ip[MS_PATH_MAX + 64], lp[MS_PATH_MAX + 64], it[MS_PATH_MAX + 96], lt[MS_PATH_MAX + 96];
    snprintf(ip, sizeof ip, "%s/%s-images-idx3-ubyte.gz", dir, prefix);
    snprintf(lp, sizeof lp, "%s/%s-labels-idx1-ubyte.gz", dir, prefix);
    ms_images_t im, old;
    int rc = make(g, &im, n, seed);
    if (rc) return rc;
    if (access(ip, F_OK) == 0 || access(lp, F_OK) == 0) {
        rc = ms_idx_load(&old, ip, lp);
        if (!rc) {
            const int same = old.n == im.n && old.h == im.h && old.w == im.w &&
                             memcmp(old.pixels, im.pixels, (size_t)im.n * im.h * im.w) == 0 &&
                             memcmp(old.labels, im.labels, (size_t)im.n) == 0;
            ms_images_free(&old);
            if (!same)
                rc = ms_err_set(MS_EFORMAT,
                                "%s: holds other images than dataset = planted with this grid's "
                                "planted_* settings; remove the folder's files or give another "
                                "dir",
                                ip);
        }
        ms_images_free(&im);
        return rc;
    }
    snprintf(it, sizeof it, "%s.tmp%ld", ip, (long)getpid());
    snprintf(lt, sizeof lt, "%s.tmp%ld", lp, (long)getpid());
    rc = ms_idx_write(it, lt, &im, 1);
    ms_images_free(&im);
    if (!rc && (rename(it, ip) != 0 || rename(lt, lp) != 0))
        rc = ms_err_set(MS_EIO, "%s: cannot rename into place: %s", ip, strerror(errno));
    if (rc) remove(it), remove(lt);
    return rc;
}

int ms_planted_prepare(const ms_grid_t *g) {
    if (g->planted.blocks <= 0) return 0;
    const char *dir = g->base.data.dir;
    if (mkdir(dir, 0755) != 0 && errno != EEXIST)
        return ms_err_set(MS_EIO, "%s: cannot create the planted data folder: %s", dir,
                          strerror(errno));
    int rc = split(g, "train", g->planted.n_train, g->planted.seed);
    if (!rc) rc = split(g, "t10k", g->planted.n_test, g->planted.seed + 1);
    return rc;
}

int ms_planted_fc1_modules(const ms_grid_t *g, const ms_settings_t *s, const ms_layout_t *L,
                           int32_t **module) {
    *module = NULL;
    if (g->planted.blocks <= 0) return 0;
    int32_t *m = malloc(sizeof(int32_t) * (size_t)L->fc_in[0]);
    if (!m) return ms_err_set(MS_ENOMEM, "planted modules: out of memory");
    const int pad = s->data.layout == MS_LAYOUT_3X32X32 ? 2 : 0;
    int rc = ms_planted_input_modules(L, 28, 28, pad, g->planted.blocks, m);
    if (rc)
        free(m);
    else
        *module = m;
    return rc;
}
