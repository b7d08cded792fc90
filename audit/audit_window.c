// The replay window: which signed requests (actor, nonce) were logged recently.
//
// A request's time lies within TC_AUDIT_REQUEST_SKEW_MS_MAX of its entry's time, so two entries
// of the same signed request (same request time) lie at most 2 * skew apart. The window therefore
// keeps the entries of the last 2 * skew of entry time: a FIFO ring (entry times never decrease)
// plus a linear-probing hash table over it, with backward-shift deletion (no tombstones).
#include <sodium.h>
#include <string.h>

#include "audit_internal.h"
#include "tc_assert.h"

_Static_assert((AUDIT_WINDOW_SLOTS & (AUDIT_WINDOW_SLOTS - 1)) == 0, "slots: a power of two");
_Static_assert(AUDIT_WINDOW_SLOTS >= 2 * TC_AUDIT_WINDOW_ENTRIES_MAX, "load factor <= 1/2");

#define WINDOW_SPAN_MS (2u * TC_AUDIT_REQUEST_SKEW_MS_MAX)

void audit_window_reset(struct audit_window *window) {
    tc_assert(window != NULL);
    memset(window->slots, 0, sizeof(window->slots));
    window->oldest = 0;
    window->count = 0;
}

void audit_window_key(uint8_t key[16], const struct tc_audit_public_key *actor,
                      const uint8_t nonce[TC_AUDIT_NONCE_SIZE]) {
    tc_assert(key != NULL && actor != NULL && nonce != NULL);
    uint8_t input[32 + TC_AUDIT_NONCE_SIZE];
    memcpy(input, actor->bytes, 32);
    memcpy(input + 32, nonce, TC_AUDIT_NONCE_SIZE);
    const int rc = crypto_generichash(key, 16, input, sizeof(input), NULL, 0);
    tc_assert(rc == 0);
}

static uint32_t slot_home(const uint8_t key[16]) {
    const uint32_t hash = (uint32_t)key[0] | (uint32_t)key[1] << 8 | (uint32_t)key[2] << 16 |
                          (uint32_t)key[3] << 24;
    return hash & (AUDIT_WINDOW_SLOTS - 1);
}

// The slot holding key, or AUDIT_WINDOW_SLOTS if absent.
static uint32_t slot_find(const struct audit_window *window, const uint8_t key[16]) {
    uint32_t slot = slot_home(key);
    for (uint32_t probes = 0; probes < AUDIT_WINDOW_SLOTS; probes++) {
        const uint32_t stored = window->slots[slot];
        if (stored == 0) return AUDIT_WINDOW_SLOTS;
        tc_assert(stored <= TC_AUDIT_WINDOW_ENTRIES_MAX);
        if (memcmp(window->items[stored - 1].key, key, 16) == 0) return slot;
        slot = (slot + 1) & (AUDIT_WINDOW_SLOTS - 1);
    }
    tc_unreachable(); // the load factor stays at most 1/2: an empty slot always exists
    return AUDIT_WINDOW_SLOTS;
}

const struct audit_window_item *audit_window_find(const struct audit_window *window,
                                                  const uint8_t key[16]) {
    tc_assert(window != NULL && key != NULL);
    const uint32_t slot = slot_find(window, key);
    if (slot == AUDIT_WINDOW_SLOTS) return NULL;
    return &window->items[window->slots[slot] - 1];
}

// Empties `hole` and shifts later members of its probe run back so every key stays reachable.
static void slot_delete(struct audit_window *window, uint32_t hole) {
    const uint32_t mask = AUDIT_WINDOW_SLOTS - 1;
    uint32_t next = hole;
    for (;;) {
        next = (next + 1) & mask;
        const uint32_t stored = window->slots[next];
        if (stored == 0) break;
        const uint32_t home = slot_home(window->items[stored - 1].key);
        // The member at `next` may move into the hole only if its home is not in (hole, next].
        const bool home_between = hole <= next ? (hole < home && home <= next)
                                               : (hole < home || home <= next);
        if (home_between) continue;
        window->slots[hole] = stored;
        hole = next;
    }
    window->slots[hole] = 0;
}

void audit_window_advance(struct audit_window *window, uint64_t time_ms) {
    tc_assert(window != NULL);
    if (time_ms < WINDOW_SPAN_MS) return;
    const uint64_t time_ms_min = time_ms - WINDOW_SPAN_MS;
    while (window->count > 0 && window->items[window->oldest].time_ms < time_ms_min) {
        const uint32_t slot = slot_find(window, window->items[window->oldest].key);
        tc_assert(slot < AUDIT_WINDOW_SLOTS);
        tc_assert(window->slots[slot] == window->oldest + 1);
        slot_delete(window, slot);
        window->oldest = (window->oldest + 1) % TC_AUDIT_WINDOW_ENTRIES_MAX;
        window->count--;
    }
}

bool audit_window_full(const struct audit_window *window) {
    tc_assert(window->count <= TC_AUDIT_WINDOW_ENTRIES_MAX);
    return window->count == TC_AUDIT_WINDOW_ENTRIES_MAX;
}

void audit_window_push(struct audit_window *window, const uint8_t key[16], uint64_t time_ms,
                       uint64_t seq, uint64_t line) {
    tc_assert(!audit_window_full(window));
    tc_assert(slot_find(window, key) == AUDIT_WINDOW_SLOTS);
    if (window->count > 0) { // entry times never decrease: the ring stays sorted by time
        const uint32_t newest = (window->oldest + window->count - 1) % TC_AUDIT_WINDOW_ENTRIES_MAX;
        tc_assert(window->items[newest].time_ms <= time_ms);
    }
    const uint32_t index = (window->oldest + window->count) % TC_AUDIT_WINDOW_ENTRIES_MAX;
    struct audit_window_item *item = &window->items[index];
    memcpy(item->key, key, 16);
    item->time_ms = time_ms;
    item->seq = seq;
    item->line = line;
    uint32_t slot = slot_home(key);
    while (window->slots[slot] != 0) slot = (slot + 1) & (AUDIT_WINDOW_SLOTS - 1);
    window->slots[slot] = index + 1;
    window->count++;
    tc_assert(audit_window_find(window, key) == item);
}
