/* The trainer's random stream (train_rng.h): xoshiro256** seeded through splitmix64. */
#define _GNU_SOURCE /* M_PI */
#include "train/train_rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void train_rng_seed(train_rng *rng, uint64_t seed)
{
    uint64_t state = seed;
    for (int i = 0; i < 4; i++)
        rng->s[i] = splitmix64(&state);
    /* splitmix64 is a bijection of successive states, so four zeros cannot all come out; keep
     * the generator valid regardless. */
    if (!(rng->s[0] | rng->s[1] | rng->s[2] | rng->s[3])) rng->s[0] = 1;
}

uint64_t train_rng_next(train_rng *rng)
{
    uint64_t *s = rng->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

uint64_t train_rng_below(train_rng *rng, uint64_t n)
{
    if (n <= 1) {
        /* Still consume one value so that the number of draws never depends on n. */
        (void)train_rng_next(rng);
        return 0;
    }
    /* Reject the lowest 2^64 mod n values so that every residue is equally likely. */
    uint64_t threshold = (0 - n) % n;
    for (;;) {
        uint64_t r = train_rng_next(rng);
        if (r >= threshold) return r % n;
    }
}

double train_rng_uniform(train_rng *rng)
{
    return (double)(train_rng_next(rng) >> 11) * 0x1.0p-53;
}

double train_rng_normal(train_rng *rng)
{
    double u1 = train_rng_uniform(rng);
    double u2 = train_rng_uniform(rng);
    double radius = sqrt(-2.0 * log(1.0 - u1)); /* 1 - u1 is in (0, 1] */
    return radius * cos(2.0 * M_PI * u2);
}
