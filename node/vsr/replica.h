#ifndef TC_VSR_REPLICA_H
#define TC_VSR_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

#include "header.h"
#include "io.h"
#include "room.h"
#include "tc_arena.h"

// A VSR replica of one group: normal case, view change, repair, recovery from its journal.
// See docs/vsr.md for the protocol, invariants and state diagrams.

enum tc_replica_state {
    TC_REPLICA_RECOVERING = 0,      // reading superblock + journal
    TC_REPLICA_NORMAL = 1,
    TC_REPLICA_VIEW_CHANGE = 2,
    TC_REPLICA_RECOVERING_HEAD = 3, // journal head uncertain: waits for start_view (or a view change)
    TC_REPLICA_STOPPED = 4,         // fail-stop after a storage write/sync error
};

struct tc_replica_commit_event {
    uint8_t replica;
    uint64_t op;
    const struct tc_header *prepare; // the committed prepare header
    const uint8_t *body;             // its body (prepare->size - 256 bytes)
    const uint8_t *reply;            // state machine reply body (chat/register) or NULL
    uint32_t reply_size;
};

// Optional observer for the simulator's checkers and the bench; never used for I/O.
typedef void (*tc_replica_commit_hook)(void *hook_context,
                                       const struct tc_replica_commit_event *event);
// Optional observer of every message the state machine appends (after the store took it), in
// apply order: the node's fan-out (docs/node.md §7). `message` and its body are valid during the
// call only; the hook must not call into the replica.
struct tc_room_message;
typedef void (*tc_replica_message_hook)(void *hook_context, uint32_t group,
                                        const struct tc_room_message *message);

struct tc_replica_options {
    uint64_t cluster;
    uint32_t group;
    uint8_t replica;       // this replica's slot, < replica_count
    uint8_t replica_count; // slots, 1..TC_REPLICAS_MAX
    // Identity (docs/vsr.md §11.4): drawn when the storage is formatted, kept in the superblock; a
    // replica is a member while the group's configuration names this id for its slot, else a
    // learner. `members` is the configuration of epoch 0 (the same on every replica and learner
    // of the group): the initial replicas' ids, by slot.
    uint64_t replica_id;
    uint64_t members[TC_REPLICAS_MAX];
    uint32_t journal_slot_count; // power of two in [TC_JOURNAL_SLOT_COUNT_MIN, _MAX]
    uint64_t seed;               // for this replica's PRNG (timeout jitter)
    uint32_t clients_max;        // client sessions, <= TC_CLIENTS_MAX; same on every replica
    struct tc_room_config room; // room.store_bytes_max must be <= tc_replica_store_budget_bytes
    // Message store (docs/store.md): segment_count x segment_size bytes after the journal.
    uint32_t store_segment_size_bytes; // power of two, 16 KiB .. 64 MiB
    uint32_t store_segment_count;      // >= 2
    uint32_t store_reads_max;          // concurrent history reads (0: 2)
    // Timeouts in ticks (TC_TICK_MS each); 0 selects the default.
    uint32_t prepare_timeout_ticks;     // primary resends unacked prepares (default 5)
    uint32_t heartbeat_timeout_ticks;   // primary sends commit heartbeat when idle (default 5)
    uint32_t normal_timeout_ticks;      // backup votes to leave a silent primary's view (default 30)
    uint32_t view_change_timeout_ticks; // view change that stalls moves on (default 30)
    uint32_t repair_timeout_ticks;      // re-request missing prepares (default 5)
    struct tc_io *io;
    tc_replica_commit_hook commit_hook;
    tc_replica_message_hook message_hook;
    void *hook_context;
};

// Counters since the replica started (observability: docs/node.md §10). Only ever incremented;
// the replica never reads them, so they change neither its behaviour nor the simulator's digests.
struct tc_replica_counters {
    uint64_t prepares;              // prepares this replica made as the primary
    uint64_t ops_applied;           // ops applied to the state machine
    uint64_t messages_applied;      // chat messages the state machine appended (store + hook)
    uint64_t view_changes_started;  // view changes this replica moved into
    uint64_t views_normal;          // times it became normal in a new view (after a view change)
    uint64_t repair_requests;       // request_prepare messages sent (repair)
    uint64_t repairs_served;        // prepares sent in answer to a peer's request_prepare
    uint64_t syncs_started;         // state syncs begun (syncs_done in the status: completed)
};

struct tc_replica_status {
    enum tc_replica_state state;
    uint32_t view;
    uint32_t log_view;
    uint64_t op_head;    // highest op in this replica's log
    uint64_t commit_min; // highest op applied to the state machine here
    uint64_t commit_max; // highest op known committed in the group
    bool primary;
    uint32_t journal_faulty; // slots needing repair
    uint64_t messages_dropped_invalid;
    uint64_t checkpoint_op;         // durable checkpoint (0: the initial state)
    struct tc_checksum checkpoint_id; // checksum of its bytes (zero for the initial state)
    uint64_t checkpoints_durable;   // checkpoints written since start (synced ones included)
    uint32_t epoch;                 // the configuration epoch of the applied state
    uint32_t acting_epoch;          // the epoch it acts in (its messages carry it; >= epoch)
    bool member;                    // the configuration names this replica for its slot
    bool retired;                   // replaced: it only answers read-only requests (§11.4)
    uint64_t syncs_done;            // state syncs completed since start
    uint64_t sync_store_bytes;      // message store bytes received by state syncs since start
    struct tc_replica_counters counters;
};

struct tc_replica;

// The storage zones (node/io.h): [0] journal (superblock, header ring, prepare ring), [1] the
// checkpoint areas, [2] the message store. Contiguous, sector aligned, covering the whole storage.
#define TC_REPLICA_STORAGE_ZONES 3u
struct tc_storage_zone {
    uint64_t offset_bytes;
    uint64_t size_bytes;
    const char *name; // "journal", "checkpoints", "store"
};
void tc_replica_storage_zones(const struct tc_replica_options *options,
                              struct tc_storage_zone zones[TC_REPLICA_STORAGE_ZONES]);
// The largest room.store_bytes_max the store geometry of `options` always fits.
uint64_t tc_replica_store_budget_bytes(const struct tc_replica_options *options);
// Bytes of storage (superblock, header ring, prepare ring, checkpoint areas, message store) this
// replica needs.
uint64_t tc_replica_storage_size(const struct tc_replica_options *options);
// Bytes of the largest encoded checkpoint (one of the two checkpoint areas holds it).
uint64_t tc_replica_checkpoint_size_max(const struct tc_replica_options *options);
// Ops between checkpoints (half the journal ring).
uint64_t tc_replica_checkpoint_interval(const struct tc_replica_options *options);
// Arena bytes tc_replica_init needs (replica, journal, room state machine, message buffers).
uint64_t tc_replica_memory_size(const struct tc_replica_options *options);
// Writes a fresh (empty) journal image through `write` (offset, bytes). Synchronous and pure: the
// caller performs the writes and syncs (real file: pwrite + fdatasync; simulator: memcpy).
void tc_replica_format(const struct tc_replica_options *options,
                       void (*write)(void *context, uint64_t offset, const uint8_t *data,
                                     uint32_t size),
                       void *context);

// Validates options (returns TC_EINVAL naming nothing; see tc_replica_options_invalid) and carves
// all memory from `arena`. Does no I/O.
int tc_replica_init(struct tc_replica **out, const struct tc_replica_options *options,
                    struct tc_arena *arena);
// Returns NULL if options are valid, else a static message naming the bad option.
const char *tc_replica_options_invalid(const struct tc_replica_options *options);
// Starts recovery: reads the superblock and journal asynchronously through the io.
void tc_replica_open(struct tc_replica *replica);
void tc_replica_tick(struct tc_replica *replica);
// Any bytes from the network: validated here (checksums, fields); invalid input is counted, dropped.
void tc_replica_on_message(struct tc_replica *replica, const uint8_t *message, uint32_t size);

void tc_replica_status_get(const struct tc_replica *replica, struct tc_replica_status *status);
// The replica id the acting configuration names for `slot` (< replica_count): the member a
// reconfigure of that slot names as replica_id_old (docs/vsr.md §11.4). Read-only.
uint64_t tc_replica_member_id(const struct tc_replica *replica, uint8_t slot);
// "normal", "view_change", "recovering_head", ... (logs and reports).
const char *tc_replica_state_name(enum tc_replica_state state);
// Leadership transfer: a normal primary hands the group to replica `target` through a view change
// to the next view `target` leads (docs/vsr.md §11.5). It stops taking requests at once; its
// prepares in flight survive the view change or are retried by their clients (exactly once).
// TC_OK, TC_EPERM if this replica is not a normal primary, TC_EINVAL for a bad target.
int tc_replica_transfer_leadership(struct tc_replica *replica, uint8_t target);
// The header of `op` in this replica's log if known and its prepare is durable here, else NULL.
const struct tc_header *tc_replica_log_header(const struct tc_replica *replica, uint64_t op);
const struct tc_room_machine *tc_replica_room(const struct tc_replica *replica);
// The replica's message store, for history reads (tc_store_read) by the edge and checkers.
struct tc_store *tc_replica_store(struct tc_replica *replica);
// Timestamp of the newest applied op (the `now` retention by age is measured from).
uint64_t tc_replica_applied_timestamp(const struct tc_replica *replica);

#endif
