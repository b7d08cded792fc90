#include "tc_arena.h"

#include <string.h>

#include "tc_assert.h"

void tc_arena_init(struct tc_arena *arena, void *base, uint64_t size_bytes) {
    tc_assert(arena != NULL);
    tc_assert(base != NULL || size_bytes == 0);
    arena->base = base;
    arena->size_bytes = size_bytes;
    arena->used_bytes = 0;
    arena->sealed = false;
}

void *tc_arena_alloc(struct tc_arena *arena, uint64_t size_bytes, uint64_t alignment) {
    tc_assert(!arena->sealed);
    tc_assert(tc_is_power_of_two(alignment));
    tc_assert(alignment <= 4096);
    uint64_t address = (uint64_t)(uintptr_t)(arena->base + arena->used_bytes);
    uint64_t padding = tc_align_up(address, alignment) - address;
    if (arena->used_bytes + padding + size_bytes > arena->size_bytes) return NULL;
    uint8_t *result = arena->base + arena->used_bytes + padding;
    arena->used_bytes += padding + size_bytes;
    memset(result, 0, size_bytes);
    tc_assert(arena->used_bytes <= arena->size_bytes);
    return result;
}

void tc_arena_seal(struct tc_arena *arena) {
    tc_assert(!arena->sealed);
    arena->sealed = true;
}
