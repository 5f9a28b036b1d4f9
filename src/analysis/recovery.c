/* Recovery of planted modules: the circuit's module share, the planted
 * strip of fc1's inputs for every layout and architecture, and the planted
 * module of hidden units (recovery.h). */
#include "modsweep/recovery.h"
#include "modsweep/error.h"

#include <math.h>
#include <stdlib.h>

/* The module share; known_only: inputs in no module count neither inside
 * nor in the total (else they count in the total only). */
static double module_share(const uint8_t *mask, int n_out, int n_in, const int32_t *module,
                           int n_modules, int known_only) {
    if (n_modules < 1 || n_modules > 64) return NAN;
    long total = 0, inside = 0;
    for (int j = 0; j < n_out; j++) {
        long cnt[64] = {0};
        const uint8_t *row = mask + (long)j * n_in;
        for (int i = 0; i < n_in; i++) {
            if (!row[i]) continue;
            const int known = module[i] >= 0 && module[i] < n_modules;
            if (known_only && !known) continue;
            total++;
            if (known) cnt[module[i]]++;
        }
        long best = 0;
        for (int b = 0; b < n_modules; b++)
            best = cnt[b] > best ? cnt[b] : best;
        inside += best;
    }
    return total ? (double)inside / (double)total : NAN;
}

double ms_circuit_module_share(const uint8_t *mask, int n_out, int n_in, const int32_t *module,
                               int n_modules) {
    return module_share(mask, n_out, n_in, module, n_modules, 0);
}

double ms_circuit_module_share_known(const uint8_t *mask, int n_out, int n_in,
                                     const int32_t *module, int n_modules) {
    return module_share(mask, n_out, n_in, module, n_modules, 1);
}

/* The strip of image column x (as ms_planted_modules). */
static int strip_of(int x, int img_w, int blocks) {
    const int b = x / (img_w / blocks);
    return b < blocks - 1 ? b : blocks - 1;
}

/* The image range (clipped) of pooled positions lo..hi of the last conv
 * block, in one dimension; *lo > *hi when it lies in the padding only. */
static void field(const ms_arch_t *a, int pad, int img, int *lo, int *hi) {
    for (int l = a->n_conv - 1; l >= 0; l--) {
        *lo = 2 * *lo - a->conv_pad;
        *hi = 2 * *hi + 1 - a->conv_pad + a->conv_k - 1;
    }
    *lo -= pad;
    *hi -= pad;
    if (*lo < 0) *lo = 0;
    if (*hi > img - 1) *hi = img - 1;
}

int ms_planted_input_modules(const ms_layout_t *L, int img_h, int img_w, int pad, int blocks,
                             int32_t *module) {
    const ms_arch_t *a = &L->arch;
    if (blocks < 1 || blocks > img_w || pad < 0 || a->in_h != img_h + 2 * pad ||
        a->in_w != img_w + 2 * pad)
        return ms_err_set(MS_EINVAL,
                          "planted modules: %d strips of a %d x %d image with padding %d do not "
                          "fit a %d x %d network input",
                          blocks, img_h, img_w, pad, a->in_h, a->in_w);
    if (a->n_conv == 0) {
        for (int c = 0; c < a->in_c; c++)
            for (int y = 0; y < a->in_h; y++)
                for (int x = 0; x < a->in_w; x++) {
                    const int ys = y - pad, xs = x - pad;
                    const int in = ys >= 0 && ys < img_h && xs >= 0 && xs < img_w;
                    module[((size_t)c * a->in_h + y) * a->in_w + x] =
                        in ? strip_of(xs, img_w, blocks) : -1;
                }
        return 0;
    }
    const int last = a->n_conv - 1, C = a->conv_c[last], H = L->pool_h[last], W = L->pool_w[last];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            int ylo = y, yhi = y, xlo = x, xhi = x;
            field(a, pad, img_h, &ylo, &yhi);
            field(a, pad, img_w, &xlo, &xhi);
            const int b = ylo <= yhi && xlo <= xhi ? strip_of((xlo + xhi) / 2, img_w, blocks) : -1;
            for (int c = 0; c < C; c++)
                module[((size_t)c * H + y) * W + x] = b;
        }
    return 0;
}

int ms_planted_unit_modules(const ms_layout_t *L, const float *params, const int32_t *in_module,
                            int blocks, int layer, int32_t *unit_module) {
    const ms_arch_t *a = &L->arch;
    if (layer < 0 || layer >= a->n_fc || blocks < 1)
        return ms_err_set(MS_EINVAL, "planted unit modules: fc layer %d of %d, %d strips",
                          layer + 1, a->n_fc, blocks);
    int widest = 0;
    for (int l = 0; l <= layer; l++)
        widest = a->fc_out[l] > widest ? a->fc_out[l] : widest;
    double *prev = malloc(sizeof(double) * (size_t)widest * blocks);
    double *cur = malloc(sizeof(double) * (size_t)widest * blocks);
    if (!prev || !cur) {
        free(prev), free(cur);
        return ms_err_set(MS_ENOMEM, "planted unit modules: out of memory");
    }
    for (int l = 0; l <= layer; l++) {
        const int O = a->fc_out[l], I = L->fc_in[l];
        const float *W = params + L->t[L->fc_weight[l]].off;
        for (int j = 0; j < O; j++) {
            double *m = cur + (size_t)j * blocks;
            for (int b = 0; b < blocks; b++)
                m[b] = 0.0;
            for (int i = 0; i < I; i++) {
                const double w = fabs((double)W[(size_t)j * I + i]);
                if (l == 0) {
                    if (in_module[i] >= 0 && in_module[i] < blocks) m[in_module[i]] += w;
                } else {
                    for (int b = 0; b < blocks; b++)
                        m[b] += w * prev[(size_t)i * blocks + b];
                }
            }
        }
        double *t = prev;
        prev = cur;
        cur = t;
    }
    for (int j = 0; j < a->fc_out[layer]; j++) {
        const double *m = prev + (size_t)j * blocks;
        int best = 0;
        for (int b = 1; b < blocks; b++)
            if (m[b] > m[best]) best = b;
        unit_module[j] = m[best] > 0.0 ? best : -1;
    }
    free(prev), free(cur);
    return 0;
}
