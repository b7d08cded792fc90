#ifndef TC_ARENA_H
#define TC_ARENA_H

#include <stdbool.h>
#include <stdint.h>

// A bump allocator over a caller-provided buffer. The deterministic core (vsr, journal, room) takes
// all of its memory from an arena at start-up and never allocates afterwards: once sealed, any
// further allocation is an assertion failure. The caller (node main, simulator, tests, bench) owns
// the backing memory.
struct tc_arena {
    uint8_t *base;
    uint64_t size_bytes;
    uint64_t used_bytes;
    bool sealed;
};

void tc_arena_init(struct tc_arena *arena, void *base, uint64_t size_bytes);
// Returns zeroed memory aligned to `alignment` (power of two, <= 4096), or NULL if the arena is too
// small (a configuration error the caller reports).
void *tc_arena_alloc(struct tc_arena *arena, uint64_t size_bytes, uint64_t alignment);
// After sealing, tc_arena_alloc asserts.
void tc_arena_seal(struct tc_arena *arena);

// Exact division helpers (Tiger Style: make divisions explicit).
static inline uint64_t tc_div_ceil(uint64_t a, uint64_t b) { return (a + b - 1) / b; }
static inline uint64_t tc_align_up(uint64_t a, uint64_t alignment) {
    return tc_div_ceil(a, alignment) * alignment;
}
static inline bool tc_is_power_of_two(uint64_t a) { return a != 0 && (a & (a - 1)) == 0; }
static inline uint64_t tc_min_u64(uint64_t a, uint64_t b) { return a < b ? a : b; }
static inline uint64_t tc_max_u64(uint64_t a, uint64_t b) { return a > b ? a : b; }
static inline uint32_t tc_min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static inline uint32_t tc_max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

#endif
