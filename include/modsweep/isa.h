/* The instruction-set path of the training kernels, chosen once per process.
 *
 * One build runs on every x86-64 node: the program is compiled for the
 * baseline (x86-64-v2) and the training kernels (kernels.h) are compiled
 * once per path: generic (the baseline, SSE vectors, no FMA), avx2
 * (x86-64-v3: AVX2 + FMA, 8-float vectors) and avx512 (x86-64-v4: AVX-512,
 * 16-float vectors). The first kernel call (or ms_isa_init) picks the best
 * path the CPU supports; the environment variable MODSWEEP_ISA
 * (generic|avx2|avx512|auto) overrides the choice. The avx2 and avx512
 * paths give bitwise the same kernel results (both contract a*b+c into
 * FMAs and sum in the same order); generic differs from them in rounding. */
#ifndef MODSWEEP_ISA_H
#define MODSWEEP_ISA_H

#include <stddef.h>

typedef enum { MS_ISA_GENERIC = 0, MS_ISA_AVX2 = 1, MS_ISA_AVX512 = 2, MS_ISA_COUNT = 3 } ms_isa_t;

/* Chooses the path: MODSWEEP_ISA if set (and not "auto"), else the best the
 * CPU supports. Returns 0, or MS_EINVAL (message set) for an unknown value of
 * MODSWEEP_ISA or a path this CPU lacks; the choice is then left unmade. Safe
 * to call more than once (the later calls re-read the variable). */
int ms_isa_init(void);

/* Uses path isa from now on (tests and benchmarks). Returns 0, or MS_EINVAL
 * if this CPU lacks it. Not to be called while kernels run. */
int ms_isa_select(ms_isa_t isa);

/* The path in use (choosing it first as ms_isa_init if none is chosen yet;
 * if that fails the program stops with the message, see ms_isa_init). */
ms_isa_t ms_isa_current(void);

/* 1 if this CPU (and the OS) can run path isa. */
int ms_isa_supported(ms_isa_t isa);

/* "generic", "avx2", "avx512"; NULL for a value out of range. */
const char *ms_isa_name(ms_isa_t isa);

/* Parses a name of ms_isa_name (not "auto"); returns -1 if unknown. */
int ms_isa_parse(const char *name);

/* The CPU's model: /proc/cpuinfo's "model name" with its family and model
 * numbers ("AMD EPYC 7763 64-Core Processor [family 25 model 1]"), else
 * cpuid's brand string, else "unknown"; trimmed, into buf (n bytes). */
void ms_cpu_model(char *buf, size_t n);

/* OpenBLAS's core type on this machine (openblas_get_corename()), e.g.
 * "Haswell", "SkylakeX", "Zen"; the BLAS kernels of the fc layers depend on
 * it. */
const char *ms_blas_core(void);

#endif
