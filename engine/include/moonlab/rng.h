/* Counter-based random numbers (Philox4x32-10). A stream is (key, counter): the i-th block of
 * four 32-bit words depends only on the key and i, so the numbers never depend on thread count
 * or call pattern, and child streams are derived from a root seed by name and index. */
#ifndef MOONLAB_RNG_H
#define MOONLAB_RNG_H

#include <stdint.h>

typedef struct ml_rng {
    uint64_t key;      /* the stream's seed */
    uint64_t counter;  /* next block index */
    uint32_t buf[4];   /* unread words of the current block */
    int nbuf;
} ml_rng_t;

void ml_rng_seed(ml_rng_t *r, uint64_t seed);
/* Seed of a child stream named `name` (may be NULL) with `index`, derived from `seed`
 * by a keyed hash: stable across versions and platforms. */
uint64_t ml_seed_derive(uint64_t seed, const char *name, uint64_t index);

uint32_t ml_rng_u32(ml_rng_t *r);
uint64_t ml_rng_u64(ml_rng_t *r);
/* Uniform in [0, 1) with 24 random bits (float) / 53 bits (double). */
float ml_rng_float(ml_rng_t *r);
double ml_rng_double(ml_rng_t *r);
/* Uniform integer in [0, n), unbiased (n >= 1). */
uint64_t ml_rng_below(ml_rng_t *r, uint64_t n);
/* Fill out[0..n) with U[a, b) or N(mean, std^2) (Box-Muller, pairs). */
void ml_rng_uniform(ml_rng_t *r, float *out, int64_t n, float a, float b);
void ml_rng_normal(ml_rng_t *r, float *out, int64_t n, float mean, float std);
/* A uniformly random permutation of 0..n-1 (Fisher-Yates). */
void ml_rng_permutation(ml_rng_t *r, int64_t *out, int64_t n);

#endif
