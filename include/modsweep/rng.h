/* Counter-based random numbers (Philox4x32-10, Salmon et al. 2011).
 *
 * Every random draw in modsweep is a pure function of (seed, stream, sub,
 * index): the seed of the model, a stream naming what the numbers are for,
 * a sub-stream (a tensor, an epoch, a step) and the position in it. So a
 * model's initialisation, shuffles and dropout masks are the same on every
 * rank, in every thread split, and after a restart. */
#ifndef MODSWEEP_RNG_H
#define MODSWEEP_RNG_H

#include <stdint.h>

/* What a stream of numbers is used for; never renumber (results depend on it). */
typedef enum ms_rng_stream {
    MS_RNG_INIT = 1,       /* parameter initialisation; sub = tensor index */
    MS_RNG_SHUFFLE = 2,    /* training-set order; sub = epoch */
    MS_RNG_DROPOUT = 3,    /* dropout masks; sub = training step */
    MS_RNG_KMEANS = 4,     /* k-means++ seeding; sub = caller's choice */
    MS_RNG_UNITSETS = 5,   /* random unit sets of the information measures */
    MS_RNG_DIRECTIONS = 6, /* random directions for direction ablation */
    MS_RNG_MODULARITY = 7, /* Monte-Carlo moves of the modularity search */
    MS_RNG_SPARSE = 8,     /* re-initialisation in dynamic sparse training */
    MS_RNG_TESTDATA = 9,   /* generated data in tests and benchmarks */
    MS_RNG_NULL = 10,      /* shuffle nulls of alignment scores */
    MS_RNG_RESAMPLE = 11,  /* resample ablation of circuits; sub = image id * MS_MAX_FC + layer */
} ms_rng_stream_t;

/* One Philox4x32-10 block: out = bijection of ctr under key. */
void ms_philox4x32(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* A sequential reader of stream (seed, stream, sub), starting at index 0. */
typedef struct ms_rng {
    uint32_t key[2];
    uint32_t ctr[4]; /* ctr[0..1]: block index, ctr[2]: sub, ctr[3]: stream */
    uint32_t buf[4];
    int left; /* unread words in buf */
} ms_rng_t;

void ms_rng_init(ms_rng_t *r, uint64_t seed, uint32_t stream, uint32_t sub);
/* Moves the reader to word `index` of its stream. */
void ms_rng_seek(ms_rng_t *r, uint64_t index);
uint32_t ms_rng_u32(ms_rng_t *r);
uint64_t ms_rng_u64(ms_rng_t *r);
/* Uniform in [0, 1) with 24 random bits. */
float ms_rng_float(ms_rng_t *r);
/* Uniform in [0, 1) with 53 random bits (two words). */
double ms_rng_double(ms_rng_t *r);
/* Standard normal (Box-Muller on two doubles). */
double ms_rng_normal(ms_rng_t *r);
/* Uniform integer in [0, n), unbiased (Lemire's method); n > 0. */
uint32_t ms_rng_below(ms_rng_t *r, uint32_t n);
/* Fisher-Yates shuffle of idx[0..n). */
void ms_rng_shuffle(ms_rng_t *r, int32_t *idx, int n);

/* Random access: word `index` of stream (seed, stream, sub), as a float in [0, 1). */
float ms_rng_float_at(uint64_t seed, uint32_t stream, uint32_t sub, uint64_t index);

#endif
