/* Philox4x32-10 counter-based random numbers (rng.h); the block function
 * itself is header-only in philox.h, shared with the CUDA kernels. */
#include "modsweep/rng.h"
#include "modsweep/philox.h"

#include <math.h>

void ms_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
    ms_philox4x32_block(ctr, key, out);
}

void ms_rng_init(ms_rng_t *r, uint64_t seed, uint32_t stream, uint32_t sub) {
    r->key[0] = (uint32_t)seed;
    r->key[1] = (uint32_t)(seed >> 32);
    r->ctr[0] = 0;
    r->ctr[1] = 0;
    r->ctr[2] = sub;
    r->ctr[3] = stream;
    r->left = 0;
}

void ms_rng_seek(ms_rng_t *r, uint64_t index) {
    uint64_t block = index >> 2;
    r->ctr[0] = (uint32_t)block;
    r->ctr[1] = (uint32_t)(block >> 32);
    r->left = 0;
    int skip = (int)(index & 3);
    if (skip) {
        ms_philox4x32(r->ctr, r->key, r->buf);
        if (++r->ctr[0] == 0) r->ctr[1]++;
        r->left = 4 - skip;
    }
}

uint32_t ms_rng_u32(ms_rng_t *r) {
    if (r->left == 0) {
        ms_philox4x32(r->ctr, r->key, r->buf);
        if (++r->ctr[0] == 0) r->ctr[1]++;
        r->left = 4;
    }
    return r->buf[4 - r->left--];
}

uint64_t ms_rng_u64(ms_rng_t *r) {
    uint64_t hi = ms_rng_u32(r);
    return (hi << 32) | ms_rng_u32(r);
}

float ms_rng_float(ms_rng_t *r) { return (float)(ms_rng_u32(r) >> 8) * 0x1.0p-24f; }

double ms_rng_double(ms_rng_t *r) { return (double)(ms_rng_u64(r) >> 11) * 0x1.0p-53; }

double ms_rng_normal(ms_rng_t *r) {
    double u1 = ms_rng_double(r), u2 = ms_rng_double(r);
    /* 1 - u1 is in (0, 1], so the log is finite. */
    return sqrt(-2.0 * log(1.0 - u1)) * cos(2.0 * 3.14159265358979323846 * u2);
}

uint32_t ms_rng_below(ms_rng_t *r, uint32_t n) {
    uint64_t m = (uint64_t)ms_rng_u32(r) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (low < threshold) {
            m = (uint64_t)ms_rng_u32(r) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void ms_rng_shuffle(ms_rng_t *r, int32_t *idx, int n) {
    for (int i = n - 1; i > 0; i--) {
        int j = (int)ms_rng_below(r, (uint32_t)(i + 1));
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

float ms_rng_float_at(uint64_t seed, uint32_t stream, uint32_t sub, uint64_t index) {
    return ms_philox_float_at(seed, stream, sub, index);
}
