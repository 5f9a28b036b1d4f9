/* The instruction-set clones of src/prune's hot loops (the pruning's block
 * evaluation, the circuits' passes over blocks of images): compiled for the
 * baseline and, with GCC on x86-64, also for x86-64-v3 (AVX2) and x86-64-v4
 * (AVX-512); the program picks the clone for the CPU when it starts (GCC's
 * function multi-versioning). No clone contracts a*b+c (-ffp-contract=off)
 * and each vector lane is one sample, so every clone gives the same bits.
 * -DMS_PRUNE_NO_CLONES builds the baseline alone. Internal to src/prune. */
#ifndef MODSWEEP_PRUNE_CLONES_H
#define MODSWEEP_PRUNE_CLONES_H

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) &&                          \
    !defined(MS_PRUNE_NO_CLONES)
#define MS_PRUNE_CLONES                                                                            \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define MS_PRUNE_CLONES
#endif

#endif
