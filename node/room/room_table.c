// The open-addressing index used by every room table (rooms, members, idempotency keys, retained
// messages). Linear probing, load factor <= 1/2, backward-shift deletion. See room_internal.h.

#include <string.h>

#include "room_internal.h"
#include "tc_arena.h"
#include "tc_assert.h"

// A 64-bit finalizer (the murmur3/splitmix64 mix): every input bit affects every output bit.
static uint64_t mix64(uint64_t x) {
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

uint64_t tc_room__hash_u64(uint64_t a, uint64_t b) {
    return mix64(mix64(a ^ 0x9e3779b97f4a7c15ull) ^ b);
}

uint64_t tc_room__hash_key(uint64_t room, const uint8_t key[TC_ROOM_KEY_SIZE]) {
    uint64_t low = 0;
    uint64_t high = 0;
    memcpy(&low, key, 8); // host order is fine: the hash never leaves this process
    memcpy(&high, key + 8, 8);
    return tc_room__hash_u64(tc_room__hash_u64(room, low), high);
}

uint32_t tc_room__index_capacity(uint32_t count_max) {
    tc_assert(count_max >= 1);
    tc_assert(count_max <= ROOM_CONFIG_ENTRIES_MAX);
    uint32_t capacity = 16;
    while (capacity < 2u * count_max) capacity *= 2u;
    tc_assert(tc_is_power_of_two(capacity));
    tc_assert(capacity >= 2u * count_max);
    return capacity;
}

void tc_room__index_init(struct room_index *index, struct room_index_slot *slots,
                         uint32_t count_max) {
    tc_assert(index != NULL);
    tc_assert(slots != NULL);
    index->slots = slots;
    index->capacity = tc_room__index_capacity(count_max);
    index->count = 0;
    index->count_max = count_max;
    memset(slots, 0, sizeof(*slots) * index->capacity);
}

uint32_t tc_room__index_find(const struct room_index *index, uint64_t hash,
                             room_index_match_fn match, const void *context, const void *key) {
    tc_assert(index->count <= index->count_max);
    uint32_t mask = index->capacity - 1u;
    uint32_t hash32 = (uint32_t)hash;
    uint32_t position = hash32 & mask;
    for (uint32_t probes = 0; probes < index->capacity; probes++) {
        const struct room_index_slot *slot = &index->slots[position];
        if (slot->value_next == 0) return ROOM_INDEX_NONE;
        if (slot->hash32 == hash32 && match(context, slot->value_next - 1u, key)) return position;
        position = (position + 1u) & mask;
    }
    tc_unreachable(); // load factor <= 1/2 guarantees an empty slot
    return ROOM_INDEX_NONE;
}

void tc_room__index_insert(struct room_index *index, uint64_t hash, uint32_t value) {
    tc_assert(index->count < index->count_max);
    tc_assert(value < UINT32_MAX);
    uint32_t mask = index->capacity - 1u;
    uint32_t hash32 = (uint32_t)hash;
    uint32_t position = hash32 & mask;
    for (uint32_t probes = 0; probes < index->capacity; probes++) {
        struct room_index_slot *slot = &index->slots[position];
        if (slot->value_next == 0) {
            slot->hash32 = hash32;
            slot->value_next = value + 1u;
            index->count += 1;
            return;
        }
        position = (position + 1u) & mask;
    }
    tc_unreachable();
}

// Backward-shift deletion: after emptying `position`, move later entries of the same probe run
// back into the hole if their ideal slot does not lie (cyclically) between the hole and them.
void tc_room__index_remove_at(struct room_index *index, uint32_t position) {
    tc_assert(position < index->capacity);
    tc_assert(index->slots[position].value_next != 0);
    tc_assert(index->count > 0);
    uint32_t mask = index->capacity - 1u;
    uint32_t hole = position;
    uint32_t next = (hole + 1u) & mask;
    for (uint32_t probes = 0; probes < index->capacity; probes++) {
        struct room_index_slot *slot = &index->slots[next];
        if (slot->value_next == 0) break;
        uint32_t ideal = slot->hash32 & mask;
        // Distance from the ideal slot to `next` versus to the hole, both cyclic.
        uint32_t distance_next = (next - ideal) & mask;
        uint32_t distance_hole = (hole - ideal) & mask;
        if (distance_hole <= distance_next) {
            index->slots[hole] = *slot;
            hole = next;
        }
        next = (next + 1u) & mask;
        tc_assert(next != position);
    }
    index->slots[hole].hash32 = 0;
    index->slots[hole].value_next = 0;
    index->count -= 1;
}
