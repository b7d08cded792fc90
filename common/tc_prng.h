#ifndef TC_PRNG_H
#define TC_PRNG_H

#include <stdbool.h>
#include <stdint.h>

// xoshiro256** seeded through splitmix64. Every component owns its own explicitly seeded PRNG; there
// is no process-global random state, so a seed reproduces a run exactly.
struct tc_prng {
    uint64_t s[4];
};

void tc_prng_init(struct tc_prng *prng, uint64_t seed);
uint64_t tc_prng_next(struct tc_prng *prng);
// Uniform in [0, bound) without modulo bias; bound > 0.
uint64_t tc_prng_below(struct tc_prng *prng, uint64_t bound);
// Uniform in [min, max] inclusive; min <= max.
uint64_t tc_prng_range(struct tc_prng *prng, uint64_t min, uint64_t max);
// True with probability ppm / 1,000,000.
bool tc_prng_chance_ppm(struct tc_prng *prng, uint32_t ppm);
void tc_prng_fill(struct tc_prng *prng, void *buffer, uint32_t size_bytes);

// splitmix64 step, also useful to derive independent seeds from one seed.
uint64_t tc_prng_splitmix64(uint64_t *state);

#endif
