/* Recovery of planted modules (dataset = planted): how well a network's
 * partitions and circuits follow known modules of its input units. */
#ifndef MODSWEEP_RECOVERY_H
#define MODSWEEP_RECOVERY_H

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

#endif
