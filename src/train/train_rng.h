/*
 * The trainer's random stream: xoshiro256** seeded through splitmix64. Deterministic and
 * small, so a checkpoint stores its state and a resumed run draws what the uninterrupted run
 * would have drawn (batches, initialisation, jitter).
 */
#ifndef STYLE_TRAIN_RNG_H
#define STYLE_TRAIN_RNG_H

#include <stdint.h>

/* A small deterministic generator (xoshiro256**), whose state a checkpoint stores. */
typedef struct train_rng {
    uint64_t s[4];
} train_rng;

void train_rng_seed(train_rng *rng, uint64_t seed);
uint64_t train_rng_next(train_rng *rng);
/* Uniform in [0, n) without modulo bias (n >= 1). */
uint64_t train_rng_below(train_rng *rng, uint64_t n);
/* Uniform double in [0, 1). */
double train_rng_uniform(train_rng *rng);
/* Standard normal (Box-Muller, no cached second value, so the state alone defines it). */
double train_rng_normal(train_rng *rng);

#endif
