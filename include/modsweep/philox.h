/* Philox4x32-10 (Salmon et al. 2011) as a header-only function usable from C
 * (src/core/rng.c) and from CUDA device code (cuda/), so a random draw keyed by
 * (seed, stream, sub, index) is the same bits on the CPU and on the GPU.
 *
 * MS_HD (hd.h) marks functions compiled for both host and device under nvcc.
 * rng.h builds the sequential readers on top. */
#ifndef MODSWEEP_PHILOX_H
#define MODSWEEP_PHILOX_H

#include <stdint.h>

#include "modsweep/hd.h"

#define MS_PHILOX_M0 0xD2511F53u
#define MS_PHILOX_M1 0xCD9E8D57u
#define MS_PHILOX_W0 0x9E3779B9u
#define MS_PHILOX_W1 0xBB67AE85u

/* One Philox4x32-10 block: out = bijection of ctr under key. */
MS_HD static inline void ms_philox4x32_block(const uint32_t ctr[4], const uint32_t key[2],
                                             uint32_t out[4]) {
    uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3];
    uint32_t k0 = key[0], k1 = key[1];
    for (int round = 0; round < 10; round++) {
        const uint64_t p0 = (uint64_t)MS_PHILOX_M0 * c0;
        const uint64_t p1 = (uint64_t)MS_PHILOX_M1 * c2;
        const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0;
        const uint32_t n1 = (uint32_t)p1;
        const uint32_t n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
        const uint32_t n3 = (uint32_t)p0;
        c0 = n0;
        c1 = n1;
        c2 = n2;
        c3 = n3;
        k0 += MS_PHILOX_W0;
        k1 += MS_PHILOX_W1;
    }
    out[0] = c0;
    out[1] = c1;
    out[2] = c2;
    out[3] = c3;
}

/* Word `index` of stream (seed, stream, sub): block index >> 2 in ctr[0..1],
 * sub in ctr[2], stream in ctr[3], the seed as the key (rng.h's layout). */
MS_HD static inline uint32_t ms_philox_word_at(uint64_t seed, uint32_t stream, uint32_t sub,
                                               uint64_t index) {
    const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
    const uint64_t block = index >> 2;
    const uint32_t ctr[4] = {(uint32_t)block, (uint32_t)(block >> 32), sub, stream};
    uint32_t out[4];
    ms_philox4x32_block(ctr, key, out);
    return out[index & 3];
}

/* The same word as a float in [0, 1) with 24 random bits (exact in float). */
MS_HD static inline float ms_philox_float_at(uint64_t seed, uint32_t stream, uint32_t sub,
                                             uint64_t index) {
    return (float)(ms_philox_word_at(seed, stream, sub, index) >> 8) * 0x1.0p-24f;
}

#endif
