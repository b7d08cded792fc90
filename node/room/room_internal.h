#ifndef TC_ROOM_INTERNAL_H
#define TC_ROOM_INTERNAL_H

// Private to node/room: the machine's layout and the open-addressing index shared by its tables.

#include <stdbool.h>
#include <stdint.h>

#include "room.h"

#define ROOM_KIND_GROUP 1u
#define ROOM_KIND_DM 2u

// Config upper bounds: every index has a power-of-two capacity >= 2 * entries that fits in u32.
#define ROOM_CONFIG_ROOMS_MAX (1u << 24)
#define ROOM_CONFIG_ENTRIES_MAX (1u << 26)
// Largest store budget (and, without a budget, the largest store_bytes_used a checkpoint may
// carry): far beyond any disk, and small enough that no budget arithmetic can overflow.
#define ROOM_STORE_BYTES_LIMIT (1ull << 62)
#define ROOM_STORE_COST_MIN TC_ROOM_STORE_COST(1u)
#define ROOM_STORE_COST_MAX TC_ROOM_STORE_COST(TC_ROOM_BODY_SIZE_MAX)

// An open-addressing (linear probing) index from a 64-bit key hash to a u32 value (an entry index
// in one of the machine's arrays). The keys live in those arrays; a caller-supplied match function
// compares them. Load factor <= 1/2, so every probe loop ends within `capacity` steps (asserted).
// Removal uses backward-shift deletion (no tombstones), so lookups stay O(1) under churn.
struct room_index_slot {
    uint32_t hash32;     // low 32 bits of the key hash (fast reject, and the ideal slot)
    uint32_t value_next; // value + 1; 0 = empty
};

struct room_index {
    struct room_index_slot *slots;
    uint32_t capacity; // power of two
    uint32_t count;
    uint32_t count_max; // entries this index must hold (<= capacity / 2)
};

typedef bool (*room_index_match_fn)(const void *context, uint32_t value, const void *key);

#define ROOM_INDEX_NONE UINT32_MAX

uint32_t tc_room__index_capacity(uint32_t count_max);
void tc_room__index_init(struct room_index *index, struct room_index_slot *slots,
                         uint32_t count_max);
// Returns the slot position holding the key, or ROOM_INDEX_NONE.
uint32_t tc_room__index_find(const struct room_index *index, uint64_t hash,
                             room_index_match_fn match, const void *context, const void *key);
static inline uint32_t tc_room__index_value(const struct room_index *index, uint32_t position) {
    return index->slots[position].value_next - 1u;
}
// The key must be absent (the caller looked it up first) and count < count_max.
void tc_room__index_insert(struct room_index *index, uint64_t hash, uint32_t value);
void tc_room__index_remove_at(struct room_index *index, uint32_t position);

uint64_t tc_room__hash_u64(uint64_t a, uint64_t b);
uint64_t tc_room__hash_key(uint64_t room, const uint8_t key[TC_ROOM_KEY_SIZE]);

struct room_entry {
    uint64_t id;
    uint64_t seq_last;       // 0 = no message yet
    uint64_t seq_window_min; // lowest seq of this room in the thread window; seq_last + 1 if none
    struct tc_hash256 hash_last;
    struct tc_room_retention retention; // default keep_all (0, 0)
    uint32_t member_count;
    uint32_t kind; // ROOM_KIND_*
};

struct room_member {
    uint64_t room;
    uint64_t user;
    uint64_t read_seq;  // the read marker: 0 at join, only moves forward, <= the room's seq_last
    uint32_t free_next; // free list link (pool index + 1; 0 = end) while free
    uint32_t used;      // 1 while a member
};

struct room_idempotency {
    uint64_t room;
    uint8_t key[TC_ROOM_KEY_SIZE];
    uint64_t seq;
    uint64_t thread_seq;
    struct tc_hash256 hash;
};

// One message of the thread window: what the thread and redaction rules need, nothing more
// (docs/room.md §5).
struct room_window_entry {
    uint64_t room;
    uint64_t seq;
    uint64_t sender;            // only the sender may redact the message
    uint64_t thread_parent_seq; // 0: a thread root (or a plain message)
    uint64_t thread_seq;        // a reply's number within its thread; 0 for a root
    uint64_t thread_seq_last;   // a root's reply counter: its last reply's thread_seq
    uint32_t room_index;
};

// One redacted message (docs/room.md §3, redact): permanent, never evicted.
struct room_redaction {
    uint64_t room;
    uint64_t seq;
    uint64_t sender; // who redacted it: the message's sender
};

struct tc_room_machine {
    struct tc_room_config config;
    uint64_t op_last;
    uint64_t store_bytes_used; // sum of TC_ROOM_STORE_COST over every committed message

    struct room_entry *rooms; // creation order
    uint32_t rooms_count;
    struct room_index rooms_index; // room id -> rooms[]

    struct room_member *members; // pool
    uint32_t members_count;
    uint32_t members_free;           // free list head (index + 1; 0 = empty)
    struct room_index members_index; // (room, user) -> members[]

    struct room_idempotency *keys; // FIFO ring, oldest at keys_head
    uint32_t keys_head;
    uint32_t keys_count;
    struct room_index keys_index; // (room, key) -> keys[]

    struct room_window_entry *window; // FIFO ring of the newest messages, oldest at window_head
    uint32_t window_head;
    uint32_t window_count;
    struct room_index window_index; // (room, seq) -> window[]

    struct room_redaction *redactions; // append-only, oldest first; capacity messages_max
    uint32_t redactions_count;
    struct room_index redactions_index; // (room, seq) -> redactions[]

    // Not state: never encoded, digested or reset by a checkpoint decode.
    struct tc_room_sink sink;
    bool sink_installed;
};

// room_window.c: the thread window.
// The window slot of (room, seq), or ROOM_INDEX_NONE.
uint32_t tc_room__window_find(const struct tc_room_machine *machine, uint64_t room, uint64_t seq);
// Appends the newest message, evicting the oldest one first when the window is full.
void tc_room__window_append(struct tc_room_machine *machine, const struct room_window_entry *entry);

// room_redaction.c: the redact op and the redaction table.
// The table entry of (room, seq), or ROOM_INDEX_NONE.
uint32_t tc_room__redaction_find(const struct tc_room_machine *machine, uint64_t room,
                                 uint64_t seq);
// Appends a redaction (absent, and the table not full).
void tc_room__redaction_append(struct tc_room_machine *machine,
                               const struct room_redaction *redaction);
// The op (docs/room.md §3, redact). Returns its status and fills `result` (zeroed by the caller).
uint8_t tc_room__op_redact(struct tc_room_machine *machine, const struct tc_room_op *op,
                           uint64_t timestamp_ns, struct tc_room_result *result);

// room_apply.c.
uint32_t tc_room__find(const struct tc_room_machine *machine, uint64_t room);
bool tc_room__member_exists(const struct tc_room_machine *machine, uint64_t room, uint64_t user);
// The member record of (room, user), or ROOM_INDEX_NONE.
uint32_t tc_room__member_find(const struct tc_room_machine *machine, uint64_t room, uint64_t user);

// room_codec.c: the retention rule shared by the encoder, apply and checkpoint decode.
bool tc_room__retention_valid(uint32_t mode, uint64_t value);

#endif
