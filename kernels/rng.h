/* Counter-based random numbers: a value is a pure function of its keys.
 *
 * Dropout masks, augmentations and initialisations draw from (seed, stream keys,
 * element counter) through a stateless 64-bit mixer, never from a sequential
 * generator. That is what makes accumulation, OOM fallback, resume and the CUDA
 * backend see the same numbers as the CPU. None of these functions can fail.
 */
#ifndef LT_RNG_H
#define LT_RNG_H

#include <stdint.h>

#include "half.h" /* LT_HD */

/* A bijective 64-bit finaliser (splitmix64's). */
static inline LT_HD uint64_t lt_mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* The key of one random stream: seed plus three stream coordinates, e.g. dropout's
 * (layer, epoch, sample index). */
static inline LT_HD uint64_t lt_rng_key(uint64_t seed, uint64_t a, uint64_t b, uint64_t c) {
    uint64_t k = lt_mix64(seed ^ 0x6a09e667f3bcc909ull);
    k = lt_mix64(k ^ a);
    k = lt_mix64((k + 0x9e3779b97f4a7c15ull) ^ b);
    return lt_mix64((k + 0x3c6ef372fe94f82bull) ^ c);
}

/* Uniform in [0, 1) with 24 random bits: element `counter` of stream `key`. */
static inline LT_HD float lt_rng_uniform(uint64_t key, uint64_t counter) {
    return (float)(lt_mix64(key + counter * 0x9e3779b97f4a7c15ull) >> 40) * 0x1p-24f;
}

/* The stream coordinate a that keeps multinomial's draws apart from other streams of the
 * same seed. */
#define LT_MULTINOMIAL_STREAM 0x6d756c74u

/* Dropout's keep decision for one element of one sample. */
static inline LT_HD int lt_dropout_keep(uint64_t seed, uint32_t layer, uint32_t epoch,
                                        int64_t sample, int64_t element, float p) {
    uint64_t key = lt_rng_key(seed, layer, epoch, (uint64_t)sample);
    return lt_rng_uniform(key, (uint64_t)element) >= p;
}

#endif
