/* Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC'11). */
#include "moonlab/rng.h"

#include <math.h>

#define PHILOX_M0 0xD2511F53u
#define PHILOX_M1 0xCD9E8D57u
#define PHILOX_W0 0x9E3779B9u
#define PHILOX_W1 0xBB67AE85u

static void philox_block(uint32_t out[4], uint64_t key, uint64_t c_lo, uint64_t c_hi)
{
    uint32_t k0 = (uint32_t)key, k1 = (uint32_t)(key >> 32);
    uint32_t x0 = (uint32_t)c_lo, x1 = (uint32_t)(c_lo >> 32);
    uint32_t x2 = (uint32_t)c_hi, x3 = (uint32_t)(c_hi >> 32);
    for (int round = 0; round < 10; round++) {
        uint64_t p0 = (uint64_t)PHILOX_M0 * x0;
        uint64_t p1 = (uint64_t)PHILOX_M1 * x2;
        uint32_t y0 = (uint32_t)(p1 >> 32) ^ x1 ^ k0;
        uint32_t y1 = (uint32_t)p1;
        uint32_t y2 = (uint32_t)(p0 >> 32) ^ x3 ^ k1;
        uint32_t y3 = (uint32_t)p0;
        x0 = y0;
        x1 = y1;
        x2 = y2;
        x3 = y3;
        k0 += PHILOX_W0;
        k1 += PHILOX_W1;
    }
    out[0] = x0;
    out[1] = x1;
    out[2] = x2;
    out[3] = x3;
}

void ml_rng_seed(ml_rng_t *r, uint64_t seed)
{
    r->key = seed;
    r->counter = 0;
    r->nbuf = 0;
}

uint64_t ml_seed_derive(uint64_t seed, const char *name, uint64_t index)
{
    /* FNV-1a folds the name to 64 bits; Philox keyed by the parent seed then mixes it with
     * the index, so children of different parents or names are unrelated streams. */
    uint64_t h = 0xcbf29ce484222325ull;
    if (name)
        for (const unsigned char *p = (const unsigned char *)name; *p; p++)
            h = (h ^ *p) * 0x100000001b3ull;
    uint32_t out[4];
    philox_block(out, seed, h, index ^ 0x6d6f6f6e6c616221ull);
    return ((uint64_t)out[0] << 32) | out[1];
}

uint32_t ml_rng_u32(ml_rng_t *r)
{
    if (r->nbuf == 0) {
        philox_block(r->buf, r->key, r->counter++, 0);
        r->nbuf = 4;
    }
    return r->buf[4 - r->nbuf--];
}

uint64_t ml_rng_u64(ml_rng_t *r)
{
    uint64_t hi = ml_rng_u32(r);
    return (hi << 32) | ml_rng_u32(r);
}

float ml_rng_float(ml_rng_t *r)
{
    return (float)(ml_rng_u32(r) >> 8) * 0x1.0p-24f;
}

double ml_rng_double(ml_rng_t *r)
{
    return (double)(ml_rng_u64(r) >> 11) * 0x1.0p-53;
}

uint64_t ml_rng_below(ml_rng_t *r, uint64_t n)
{
    if (n <= 1)
        return 0;
    /* Rejection keeps every residue equally likely. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do {
        x = ml_rng_u64(r);
    } while (x >= limit);
    return x % n;
}

void ml_rng_uniform(ml_rng_t *r, float *out, int64_t n, float a, float b)
{
    for (int64_t i = 0; i < n; i++) {
        /* a + (b-a)*u can round up to b for the largest u: keep the interval half-open. */
        float v = a + (b - a) * ml_rng_float(r);
        out[i] = v < b ? v : nextafterf(b, a);
    }
}

void ml_rng_normal(ml_rng_t *r, float *out, int64_t n, float mean, float std)
{
    for (int64_t i = 0; i < n; i += 2) {
        double u1 = 1.0 - ml_rng_double(r); /* (0, 1]: log is finite */
        double u2 = ml_rng_double(r);
        double rad = sqrt(-2.0 * log(u1));
        out[i] = (float)(mean + std * rad * cos(2.0 * M_PI * u2));
        if (i + 1 < n)
            out[i + 1] = (float)(mean + std * rad * sin(2.0 * M_PI * u2));
    }
}

void ml_rng_permutation(ml_rng_t *r, int64_t *out, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        out[i] = i;
    for (int64_t i = n - 1; i > 0; i--) {
        int64_t j = (int64_t)ml_rng_below(r, (uint64_t)i + 1);
        int64_t t = out[i];
        out[i] = out[j];
        out[j] = t;
    }
}
