/* Recovery of planted modules (dataset = planted): how well a network's
 * partitions and circuits follow known modules of its input units. */
#ifndef MODSWEEP_RECOVERY_H
#define MODSWEEP_RECOVERY_H

#include "modsweep/nn.h"

#include <stdint.h>

/* The circuit's module share in one fc layer: mask is the layer's kept
 * weights (n_out x n_in, row-major, nonzero = kept), module[i] in
 * 0..n_modules-1 the planted module of input i (or < 0: input in no
 * module, counted as outside every module). For each output unit j, its
 * kept inputs are counted per module and the largest count is taken; the
 * share is the sum of those counts over the units divided by the number of
 * kept weights: 1 when every unit of the circuit reads from one planted
 * module only. NaN when nothing is kept or n_modules is not in 1..64. */
double ms_circuit_module_share(const uint8_t *mask, int n_out, int n_in, const int32_t *module,
                               int n_modules);

/* As ms_circuit_module_share, but inputs in no module (module[i] < 0, for
 * example padding pixels) are left out of the count altogether: their kept
 * weights are neither inside nor outside. Equal to ms_circuit_module_share
 * when every input has a module. */
double ms_circuit_module_share_known(const uint8_t *mask, int n_out, int n_in,
                                     const int32_t *module, int n_modules);

/* The planted module (strip) of each of fc1's L->fc_in[0] inputs, for a
 * network fed img_h x img_w images (the planted strips of
 * ms_planted_modules with `blocks` strips) placed with `pad` zero pixels on
 * every side (2 for layout 3x32x32, 0 for the native layout; every input
 * channel is a copy). Needs L->arch.in_h = img_h + 2 pad and in_w = img_w +
 * 2 pad (else MS_EINVAL).
 * - MLP: input (c, y, x) is pixel (y - pad, x - pad) of the image: its
 *   strip, or -1 for a padding pixel.
 * - CNN: input (c, y, x) of the last pooled map has a receptive field of
 *   image rows and columns, traced back through every conv block (conv K x
 *   K with zero padding P, stride 1, then 2 x 2 max pooling: pooled
 *   positions lo..hi read conv inputs 2 lo - P .. 2 hi + 1 - P + K - 1),
 *   less the layout's pad, and clipped to the image. A field with no image
 *   row or no image column (padding only) gets -1; otherwise the strip of
 *   the clipped field's centre column floor((lo + hi) / 2), also when the
 *   field straddles strips. */
int ms_planted_input_modules(const ms_layout_t *L, int img_h, int img_w, int pad, int blocks,
                             int32_t *module);

/* The planted module of each output unit of fc layer `layer` (0-based; the
 * hidden-unit ground truth for clusterings of hidden units), from fc1's
 * input modules in_module (-1 = none) and the weights in params: the
 * absolute weight mass each unit draws from each strip, traced back to
 * fc1's inputs through the product of the absolute weight matrices,
 * mass_1[j][b] = sum over inputs i of strip b of |W_1[j][i]|, mass_l[j][b]
 * = sum_i |W_l[j][i]| mass_(l-1)[i][b]; the unit's module is the strip of
 * the largest mass (ties to the lowest strip), -1 when its mass is zero
 * (a unit with no path to a strip). Biases are ignored. unit_module has
 * L->arch.fc_out[layer] entries. 0, MS_EINVAL or MS_ENOMEM. */
int ms_planted_unit_modules(const ms_layout_t *L, const float *params, const int32_t *in_module,
                            int blocks, int layer, int32_t *unit_module);

#endif
