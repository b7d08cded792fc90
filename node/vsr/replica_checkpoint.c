// Checkpoints (docs/vsr.md §11): every checkpoint_interval ops each replica encodes its state (room
// machine + client sessions) after applying the checkpoint op and makes it durable; the journal
// ring holds ops [checkpoint, checkpoint + slot_count), so a slot is reused only once the
// checkpoint covering its previous op is durable here, and the primary prepares an op only once
// the checkpoint covering the op it overwrites is durable on a replication quorum.

#include <string.h>

#include "replica_internal.h"
#include "room.h"
#include "tc_assert.h"
#include "tc_err.h"

#define CHECKPOINT_MAGIC 0x50434354u // "TCCP" little-endian
#define CHECKPOINT_VERSION 3u
#define CHECKPOINT_PREFIX_SIZE 128u

// The encoded checkpoint: a fixed prefix, then the room machine's bytes, the sessions' bytes and
// the message store's state (docs/store.md: cursor, chain, per-room towers and ratchets).
struct checkpoint_prefix {
    uint32_t magic;
    uint32_t version;
    uint64_t op;
    uint64_t room_size;
    uint64_t sessions_size;
    uint64_t store_size;
    // The group configuration of the state (vsr.md §11.4).
    uint32_t epoch;
    uint32_t reserved_epoch;
    uint64_t members[TC_REPLICAS_MAX];
    uint64_t epoch_op;                    // the reconfigure op that started epoch (0 for epoch 0)
    struct tc_checksum epoch_op_checksum;
    uint8_t reserved[16];
};
_Static_assert(sizeof(struct checkpoint_prefix) == CHECKPOINT_PREFIX_SIZE, "prefix layout");

uint64_t replica_checkpoint_interval(uint32_t slot_count) {
    tc_assert(slot_count >= 4 * TC_PIPELINE_PREPARE_MAX);
    return slot_count / 2;
}

uint64_t replica_checkpoint_size_max(const struct tc_replica_options *options) {
    return CHECKPOINT_PREFIX_SIZE + tc_room_checkpoint_size_max(&options->room) +
           tc_client_sessions_checkpoint_size_max(options->clients_max) +
           (TC_STORE_STATE_HEADER_SIZE + (uint64_t)options->room.rooms_max * TC_STORE_STATE_ROOM_SIZE);
}

uint64_t tc_replica_checkpoint_size_max(const struct tc_replica_options *options) {
    return replica_checkpoint_size_max(options);
}

uint64_t tc_replica_checkpoint_interval(const struct tc_replica_options *options) {
    return replica_checkpoint_interval(options->journal_slot_count);
}

// The checkpoint op that covers this replica's journal: its durable checkpoint. Ops at or below it
// are in the checkpoint's state, so their slots may be reused; it is also what prepare_ok reports
// to the primary for the quorum rule (docs/vsr.md §11.2).
uint64_t replica_checkpoint_op_covering(const struct tc_replica *replica) {
    uint64_t durable = tc_journal_checkpoint_op(replica->journal);
#if defined(TC_PLANTED_BUG_SLOT_REUSE_EARLY)
    // Planted bug: a checkpoint covers its ops as soon as it is taken (its op applied and encoded),
    // before its store flush, area write and superblock are durable.
    uint64_t interval = replica_checkpoint_interval(replica->options.journal_slot_count);
    uint64_t taken = replica->commit_min / interval * interval;
    if (taken > durable) return taken;
#endif
    return durable;
}

// The highest op this replica may write into its journal: the ring holds
// [durable checkpoint, durable checkpoint + slot_count).
uint64_t replica_op_write_max(const struct tc_replica *replica) {
    return replica_checkpoint_op_covering(replica) + replica->options.journal_slot_count - 1;
}

bool replica_op_writable(const struct tc_replica *replica, uint64_t op) {
    return op >= tc_journal_checkpoint_op(replica->journal) && op <= replica_op_write_max(replica);
}

// The checkpoint op durable on a replication quorum (counting ourselves), as far as we know.
static uint64_t checkpoint_op_quorum(const struct tc_replica *replica) {
    uint64_t ops[TC_REPLICAS_MAX];
    uint8_t count = replica->replica_count;
    for (uint8_t r = 0; r < count; r++) {
        ops[r] = r == replica->replica ? replica_checkpoint_op_covering(replica)
                                       : replica->checkpoint_op_heard[r];
    }
    // The quorum_replication-th highest: sort descending (at most TC_REPLICAS_MAX entries).
    for (uint8_t i = 1; i < count; i++) {
        for (uint8_t j = i; j > 0 && ops[j] > ops[j - 1]; j--) {
            uint64_t swap = ops[j];
            ops[j] = ops[j - 1];
            ops[j - 1] = swap;
        }
    }
    return ops[replica->quorum_replication - 1];
}

// The primary prepares op x only if the op it overwrites, x - slot_count, is covered by a
// checkpoint durable on a quorum and by its own durable checkpoint.
uint64_t replica_op_prepare_max(const struct tc_replica *replica) {
    uint64_t own = replica_checkpoint_op_covering(replica);
    uint64_t quorum = checkpoint_op_quorum(replica);
    uint64_t covered = quorum < own ? quorum : own;
    return covered + replica->options.journal_slot_count - 1;
}

void replica_checkpoint_heard(struct tc_replica *replica, uint8_t from, uint64_t checkpoint_op) {
    tc_assert(from < replica->replica_count);
    if (checkpoint_op > replica->checkpoint_op_heard[from]) {
        replica->checkpoint_op_heard[from] = checkpoint_op;
    }
}

bool replica_checkpoint_busy(const struct tc_replica *replica) {
    return replica->checkpoint_flushing || tc_journal_checkpoint_busy(replica->journal);
}

// Whether applying `op` must wait: it is a checkpoint op and the previous checkpoint is still being
// written (one checkpoint buffer; it is half a ring of ops old, so this is rare).
bool replica_checkpoint_wait(const struct tc_replica *replica, uint64_t op) {
    uint64_t interval = replica_checkpoint_interval(replica->options.journal_slot_count);
    return op % interval == 0 && replica_checkpoint_busy(replica);
}

// The store's bytes up to the checkpoint's cursor are durable (S2): the journal may now write the
// checkpoint's area and name it in the superblock.
static void checkpoint_store_flushed(void *context, int result) {
    struct tc_replica *replica = context;
    tc_assert(replica->checkpoint_flushing);
    replica->checkpoint_flushing = false;
    if (replica->state == TC_REPLICA_STOPPED) return;
    if (result != TC_OK) {
        replica->state = TC_REPLICA_STOPPED;
        replica_log(replica, TC_LOG_ERROR, "stopped: message store flush failed (%s)",
                    tc_strerror(result));
        return;
    }
    tc_journal_write_checkpoint(replica->journal, &replica->checkpoint_pending,
                                replica->checkpoint_pending_size);
}

// Encodes the state after applying `op` into the journal's checkpoint buffer; returns its size.
static uint64_t checkpoint_encode(struct tc_replica *replica, uint64_t op) {
    uint8_t *buffer = tc_journal_checkpoint_buffer(replica->journal);
    uint64_t size_max = replica_checkpoint_size_max(&replica->options);
    struct checkpoint_prefix prefix;
    memset(&prefix, 0, sizeof(prefix));
    prefix.magic = CHECKPOINT_MAGIC;
    prefix.version = CHECKPOINT_VERSION;
    prefix.op = op;
    prefix.epoch = replica->epoch;
    memcpy(prefix.members, replica->members, sizeof(prefix.members));
    prefix.epoch_op = replica->epoch_op;
    prefix.epoch_op_checksum = replica->epoch_op_checksum;
#if defined(TC_PLANTED_BUG_CHECKPOINT_NONDETERMINISTIC)
    prefix.reserved[0] = replica->replica; // planted bug: replica-specific bytes in the checkpoint
#endif
    uint64_t left = size_max - CHECKPOINT_PREFIX_SIZE;
    uint8_t *room = buffer + CHECKPOINT_PREFIX_SIZE;
    prefix.room_size = tc_room_checkpoint_encode(replica->room, room, left);
    left -= prefix.room_size;
    uint8_t *sessions = room + prefix.room_size;
    prefix.sessions_size = tc_client_sessions_checkpoint_encode(&replica->sessions, sessions, left);
    left -= prefix.sessions_size;
    prefix.store_size = tc_store_state_encode(replica->store, sessions + prefix.sessions_size, left);
    memcpy(buffer, &prefix, sizeof(prefix));
    uint64_t size = CHECKPOINT_PREFIX_SIZE + prefix.room_size + prefix.sessions_size +
                    prefix.store_size;
    tc_assert(size <= size_max);
    return size;
}

// Called right after op `prepare->op` was applied: encodes and writes the checkpoint if it is one.
void replica_checkpoint_after_apply(struct tc_replica *replica, const struct tc_header *prepare) {
    uint64_t interval = replica_checkpoint_interval(replica->options.journal_slot_count);
    if (prepare->op % interval != 0) return;
    tc_assert(!replica_checkpoint_busy(replica));
    tc_assert(!tc_store_flush_busy(replica->store));
    replica->checkpoint_pending = *prepare;
    replica->checkpoint_flushing = true;
    // The flush first pads the store's open segment to a sector boundary: the encoded cursor is the
    // padded one. Its callback never fires inside this call.
    tc_store_flush(replica->store, checkpoint_store_flushed);
    replica->checkpoint_pending_size = checkpoint_encode(replica, prepare->op);
}

// A configuration names one non-zero, distinct id per slot and nothing beyond.
static bool config_valid(const struct tc_replica *replica, const struct checkpoint_prefix *prefix) {
    for (uint8_t slot = 0; slot < TC_REPLICAS_MAX; slot++) {
        bool used = slot < replica->replica_count;
        if (used != (prefix->members[slot] != 0)) return false;
        for (uint8_t other = 0; used && other < slot; other++) {
            if (prefix->members[other] == prefix->members[slot]) return false;
        }
    }
    for (uint32_t i = 0; i < sizeof(prefix->reserved); i++) {
        if (prefix->reserved[i] != 0) return false;
    }
    if ((prefix->epoch == 0) != (prefix->epoch_op == 0)) return false;
    return prefix->epoch_op <= prefix->op;
}

// Recovery: replaces the (empty) state by the durable checkpoint's. TC_ECORRUPT if its bytes do not
// decode (they matched their checksum, so this is a bug or a different build's format).
int replica_checkpoint_restore(struct tc_replica *replica) {
    uint64_t size = 0;
    const uint8_t *bytes = tc_journal_checkpoint_recovered(replica->journal, &size);
    uint64_t op = tc_journal_checkpoint_op(replica->journal);
    if (size == 0) {
        tc_assert(op == 0);
        return TC_OK; // the initial state
    }
    struct checkpoint_prefix prefix;
    if (size < sizeof(prefix)) return TC_ECORRUPT;
    memcpy(&prefix, bytes, sizeof(prefix));
    if (prefix.magic != CHECKPOINT_MAGIC || prefix.version != CHECKPOINT_VERSION) return TC_ECORRUPT;
    if (prefix.op != op) return TC_ECORRUPT;
    if (prefix.reserved_epoch != 0 || !config_valid(replica, &prefix)) return TC_ECORRUPT;
    uint64_t body = size - sizeof(prefix);
    if (prefix.room_size > body || prefix.sessions_size > body - prefix.room_size) {
        return TC_ECORRUPT;
    }
    if (prefix.store_size != body - prefix.room_size - prefix.sessions_size) return TC_ECORRUPT;
    const uint8_t *room = bytes + sizeof(prefix);
    const uint8_t *sessions = room + prefix.room_size;
    int rc = tc_room_checkpoint_decode(replica->room, room, prefix.room_size);
    if (rc == TC_OK) {
        rc = tc_client_sessions_checkpoint_decode(&replica->sessions, sessions,
                                                  prefix.sessions_size);
    }
    if (rc == TC_OK) {
        rc = tc_store_state_decode(replica->store, sessions + prefix.sessions_size,
                                   prefix.store_size);
    }
    if (rc == TC_OK) {
        replica->epoch = prefix.epoch;
        memcpy(replica->members, prefix.members, sizeof(replica->members));
        replica->epoch_op = prefix.epoch_op;
        replica->epoch_op_checksum = prefix.epoch_op_checksum;
    }
    // Every session the replica registers stores its register reply at once: a session without
    // a stored reply cannot come from a replica, and answering a duplicate from it would fail.
    for (uint32_t i = 0; rc == TC_OK && i < replica->sessions.capacity; i++) {
        const struct tc_client_session *session = &replica->sessions.entries[i];
        if (session->client != 0 && session->reply_size < TC_HEADER_SIZE) rc = TC_ECORRUPT;
    }
    return rc;
}

// A commit heartbeat names the primary's durable checkpoint and its id. Replicas that applied the
// same ops hold byte-identical checkpoints: a different id at the same op means our state diverged.
// Returns false (and the caller stops the replica) on a mismatch.
bool replica_checkpoint_matches(const struct tc_replica *replica, uint64_t op,
                                const struct tc_checksum *id) {
    const struct tc_superblock *sb = tc_journal_superblock(replica->journal);
    if (op == 0 || sb->checkpoint_op != op) return true;
    return tc_checksum_equal(&sb->checkpoint_id, id);
}

// The store section of an encoded checkpoint (state sync reads its cursor before installing).
int replica_checkpoint_store_state(const uint8_t *bytes, uint64_t size, const uint8_t **state,
                                   uint64_t *state_size) {
    struct checkpoint_prefix prefix;
    if (size < sizeof(prefix)) return TC_ECORRUPT;
    memcpy(&prefix, bytes, sizeof(prefix));
    if (prefix.magic != CHECKPOINT_MAGIC || prefix.version != CHECKPOINT_VERSION) return TC_ECORRUPT;
    uint64_t body = size - sizeof(prefix);
    if (prefix.room_size > body || prefix.sessions_size > body - prefix.room_size) {
        return TC_ECORRUPT;
    }
    if (prefix.store_size != body - prefix.room_size - prefix.sessions_size) return TC_ECORRUPT;
    *state = bytes + sizeof(prefix) + prefix.room_size + prefix.sessions_size;
    *state_size = prefix.store_size;
    return TC_OK;
}
