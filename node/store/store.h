#ifndef TC_STORE_H
#define TC_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "io.h"
#include "room.h"
#include "tc_arena.h"
#include "tc_checksum.h"

// The message store of one group replica (docs/store.md): every committed chat message, in
// append-only, checksummed, hash-chained segments of the replica's storage, indexed per room by a
// skip list over the room's runs, so that history reads work for every seq since the room was
// created. Deterministic: the bytes depend only on the committed ops (S1). All I/O goes through
// `struct tc_io`; all memory comes from the arena at init.

#define TC_STORE_SEGMENT_SIZE_MIN (16u * 1024u)
#define TC_STORE_SEGMENT_SIZE_MAX (64u * 1024u * 1024u)
#define TC_STORE_SEGMENT_HEADER_SIZE 64u
#define TC_STORE_RECORD_HEADER_SIZE TC_ROOM_STORE_RECORD_HEADER_SIZE
#define TC_STORE_POINTER_SIZE 32u
#define TC_STORE_TOWER_LEVELS 10u
#define TC_STORE_SEAL_SIZE (TC_STORE_RECORD_HEADER_SIZE + 16u)
#define TC_STORE_READS_MAX 16u
// A history page returns at most this many messages.
#define TC_STORE_PAGE_MAX 256u

_Static_assert(TC_STORE_TOWER_LEVELS * TC_STORE_POINTER_SIZE == TC_ROOM_STORE_POINTERS_SIZE_MAX,
               "the room machine's cost formula counts a full tower");
_Static_assert(TC_STORE_SEAL_SIZE % 8u == 0, "records are 8-byte aligned");

struct tc_store_options {
    uint64_t cluster;
    uint32_t group;
    uint64_t zone_offset_bytes;  // where segment slot 0 starts in the replica's storage (sector aligned)
    uint32_t segment_size_bytes; // power of two in [MIN, MAX]
    uint32_t segment_count;      // >= 2
    uint32_t rooms_max;          // the room machine's rooms_max
    uint32_t reads_max;          // concurrent history reads, 1..TC_STORE_READS_MAX
    struct tc_io *io;
    const struct tc_room_machine *room; // read-only: room ids, heads, policies for reads
    void *context;                      // passed to every callback
    // A write buffer became free: commits waiting on tc_store_ready may resume.
    void (*ready_callback)(void *context);
};

struct tc_store;

// NULL if valid, else a static message naming the bad option. The geometry check covers only what
// sizing needs (segment size and count, rooms, reads, zone alignment).
const char *tc_store_options_invalid(const struct tc_store_options *options);
const char *tc_store_geometry_invalid(const struct tc_store_options *options);
uint64_t tc_store_memory_size(const struct tc_store_options *options);
// Bytes of storage the zone takes (segment_count x segment_size).
uint64_t tc_store_zone_size(const struct tc_store_options *options);
// The largest room-machine budget (store_bytes_max) this geometry always fits (S5): segments can
// waste up to one largest record at their end.
uint64_t tc_store_budget_bytes(const struct tc_store_options *options);
int tc_store_init(struct tc_store **out, const struct tc_store_options *options,
                  struct tc_arena *arena);

// The room sink to install on the room machine (tc_room_set_sink): appends committed messages,
// records retention policies.
const struct tc_room_sink *tc_store_sink(struct tc_store *store);

// The op about to be applied (each record names the op that committed it).
void tc_store_set_op(struct tc_store *store, uint64_t op);

// Whether an op may be applied now without blocking: enough free write buffers for the segments
// one batch can seal. When false, the caller waits for ready_callback.
bool tc_store_ready(const struct tc_store *store);

// ---------------------------------------------------------------------------------------------
// Persistent state (part of the checkpoint) and durability.

#define TC_STORE_STATE_HEADER_SIZE 64u
#define TC_STORE_STATE_ROOM_SIZE (48u + TC_STORE_TOWER_LEVELS * TC_STORE_POINTER_SIZE)

// Bytes of the encoded state (cursor, chain, per-room towers and retention) at most.
uint64_t tc_store_state_size_max(const struct tc_store_options *options);
// Encodes the state canonically (byte-identical on replicas that applied the same ops).
uint64_t tc_store_state_encode(const struct tc_store *store, uint8_t *buffer, uint64_t size_max);
// Decoded cursor of an encoded state, without changing the store (state sync uses it).
int tc_store_state_peek(const uint8_t *buffer, uint64_t size, uint64_t *segment, uint32_t *offset,
                        struct tc_checksum *chain);
// The open segment's tail carried by an encoded state (bytes past its last whole sector).
int tc_store_state_tail(const uint8_t *buffer, uint64_t size, const uint8_t **tail,
                        uint32_t *tail_bytes);
// Checks an encoded state against this store's geometry without changing anything: TC_OK or
// TC_ECORRUPT (state sync validates a peer's checkpoint before acting on it).
int tc_store_state_validate(const struct tc_store *store, const uint8_t *buffer, uint64_t size);
// Replaces the in-memory state by the encoded one: TC_OK or TC_ECORRUPT (then the store is empty).
// The open segment's whole sectors must then be loaded with tc_store_recover (its tail comes with
// the state).
int tc_store_state_decode(struct tc_store *store, const uint8_t *buffer, uint64_t size);

// Makes every byte up to the current cursor durable, together with the state encoded right after
// this call (whose tail carries the open segment's last partial sector): waits for segment writes
// in flight, writes the open segment's unwritten whole sectors, syncs; then
// callback(context, result). One at a time.
typedef void (*tc_store_done_cb)(void *context, int result);
void tc_store_flush(struct tc_store *store, tc_store_done_cb callback);
bool tc_store_flush_busy(const struct tc_store *store);

// After tc_store_state_decode (or at start for a fresh store): reads the open segment's bytes up to
// the cursor from storage and verifies them (header, records, chain == the state's chain); then
// callback(context, TC_OK or TC_ECORRUPT / TC_EIO). A fresh store (cursor at the start of segment
// 0, nothing written) completes without reading.
void tc_store_recover(struct tc_store *store, tc_store_done_cb callback);

struct tc_store_cursor {
    uint64_t segment;
    uint32_t offset;
};
struct tc_store_cursor tc_store_cursor(const struct tc_store *store);
struct tc_checksum tc_store_chain(const struct tc_store *store);

// ---------------------------------------------------------------------------------------------
// State sync (docs/store.md §8): serving segment bytes to a peer, and installing fetched segments.

// Reads `size` bytes at `offset` of segment `segment` (which must be below the durable cursor, or
// its prefix below the durable offset) into `buffer`; callback(context, result). TC_EBUSY if no
// read slot is free, TC_ERANGE if the bytes are not durable here.
int tc_store_serve(struct tc_store *store, uint64_t segment, uint32_t offset, uint32_t size,
                   uint8_t *buffer, tc_store_done_cb callback, void *callback_context);
// The durable cursor (the last completed flush).
struct tc_store_cursor tc_store_cursor_durable(const struct tc_store *store);

// A buffer of segment_size bytes for a segment being fetched (NULL if none is free).
uint8_t *tc_store_sync_buffer(struct tc_store *store);
void tc_store_sync_buffer_release(struct tc_store *store, uint8_t *buffer);
// Verifies segment bytes [0, size): the header names `segment` and carries the chain before it
// (*chain must hold that chain on entry), every record checks, the seal (if any) holds the chain.
// On TC_OK *chain is the chain after the last message record, *used the bytes up to the seal
// (sealed) or `size` (not sealed). TC_ECORRUPT otherwise.
int tc_store_segment_verify(const struct tc_store *store, uint64_t segment, const uint8_t *bytes,
                            uint32_t size, struct tc_checksum *chain, uint32_t *used,
                            bool *sealed);
// The chain before `segment` as its header (which must name it) says: TC_OK or TC_ECORRUPT.
int tc_store_segment_chain_in(const struct tc_store *store, uint64_t segment, const uint8_t *bytes,
                              struct tc_checksum *chain);
// After tc_store_state_decode: loads the open segment's prefix from `bytes` (a fetched copy)
// instead of storage, verifying it like tc_store_recover. TC_OK or TC_ECORRUPT.
int tc_store_recover_from(struct tc_store *store, const uint8_t *bytes);
// No write, flush or sync-support I/O in flight and no sealed segment waiting for its write.
bool tc_store_idle(const struct tc_store *store);
// Where a fetched segment's write must start: past our own durable whole sectors of it.
uint32_t tc_store_sync_write_start(const struct tc_store *store, uint64_t segment);
// Writes bytes [start, end) of a verified fetched segment into its slot (no sync; both sector
// aligned, start from tc_store_sync_write_start); callback when it landed.
void tc_store_sync_write(struct tc_store *store, uint64_t segment, const uint8_t *bytes,
                         uint32_t start, uint32_t end, tc_store_done_cb callback,
                         void *callback_context);
// The chain at the durable cursor (what the fetched bytes must lead to at that point).
struct tc_checksum tc_store_chain_durable(const struct tc_store *store);
// Whether a serve read, fetched-segment write or sync of the above is in flight (one at a time).
bool tc_store_sync_io_busy(const struct tc_store *store);
// Syncs the storage (after the fetched segments landed); callback when durable.
void tc_store_sync_storage(struct tc_store *store, tc_store_done_cb callback,
                           void *callback_context);

// ---------------------------------------------------------------------------------------------
// History reads (local; docs/store.md §6).

enum tc_store_page_kind {
    TC_STORE_PAGE_MESSAGES = 1,  // count >= 1 consecutive messages from from_seq
    TC_STORE_PAGE_EMPTY = 2,     // from_seq > seq_last: nothing yet
    TC_STORE_PAGE_TRUNCATED = 3, // from_seq < floor_seq: removed by retention
};

struct tc_store_page {
    int result; // TC_OK, TC_ENOENT (no such room), TC_ECORRUPT / TC_EIO (damaged store here)
    uint8_t kind;
    uint64_t room;
    uint64_t from_seq;
    uint64_t seq_last;  // the room's head when the read started
    uint64_t floor_seq; // the first readable seq (1 when nothing was removed)
    uint32_t count;
    struct tc_room_message messages[TC_STORE_PAGE_MAX]; // bodies point into the store's buffer,
                                                         // valid during the callback only
};

typedef void (*tc_store_read_cb)(void *context, const struct tc_store_page *page);

// Starts a read of up to `limit` (1..TC_STORE_PAGE_MAX) messages of `room` from `from_seq` (0
// reads as 1). `now_ns` is the time retention by age is measured from (the newest applied
// prepare timestamp). Returns TC_OK: the callback fires exactly once, inside this call when the
// page is served from memory (the open segment, answers without data), else from a storage
// completion; TC_EBUSY (every read slot is busy) or TC_EINVAL (bad limit).
int tc_store_read(struct tc_store *store, uint64_t room, uint64_t from_seq, uint32_t limit,
                  uint64_t now_ns, tc_store_read_cb callback, void *callback_context);
// Reads still in flight (a replica must not be torn down with reads pending).
uint32_t tc_store_reads_busy(const struct tc_store *store);

// The retention floor the replicated state proves for a room (the ratchet): reads never go below
// it. 1 when nothing was removed.
uint64_t tc_store_floor_ratchet(const struct tc_store *store, uint32_t room_index);

#endif
