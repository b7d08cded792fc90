// State sync (docs/vsr.md §11.3): a replica that cannot catch up through the journal (the ops it
// lacks were overwritten everywhere after a newer checkpoint) fetches a peer's durable checkpoint
// in checksummed chunks, makes it durable as its own checkpoint, and continues from there.
//
//   stuck (commit_min < a peer's checkpoint, no commit progress) or a log it cannot hold
//     ─► request_sync(offset 0) ─► peer answers sync(checkpoint op, id, size, header, chunk)
//     ─► request_sync(next offset) ... until every byte arrived and their checksum is the id
//     ─► journal writes them as our checkpoint (area, sync, superblock) ─► decode, commit_min = C
//
// While syncing the replica applies nothing; a stalled transfer restarts with another peer.

#include <string.h>

#include "replica_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

#define SYNC_CHUNK_SIZE_MAX (TC_MESSAGE_SIZE_MAX - 2 * TC_HEADER_SIZE)
#define SYNC_STUCK_TICKS 20u  // no commit progress while a peer's checkpoint is ahead: sync
#define SYNC_STALL_TICKS 50u  // no chunk for this long: restart with another peer

static void sync_reset(struct tc_replica *replica) {
    struct replica_sync *sync = &replica->sync;
    tc_assert(!sync->installing);
    sync->active = false;
    sync->fetching_store = false;
    sync->checkpoint_op = 0;
    sync->received = 0;
    sync->stall_ticks = 0;
    sync->store_received = 0;
    if (sync->store_buffer != NULL && !sync->store_writing) {
        tc_store_sync_buffer_release(replica->store, sync->store_buffer);
        sync->store_buffer = NULL;
    }
}

// Our membership may have changed since the transfer started (a learner became its slot's member,
// a member retired): a target that now reaches ourselves gets nothing, and the stall timer moves
// the transfer on to another peer.
static bool sync_target_ok(const struct tc_replica *replica) {
    uint8_t target = replica->sync.target;
    return !replica_slot_self(replica, target) && target != replica_address(replica);
}

static void sync_request(struct tc_replica *replica) {
    struct replica_sync *sync = &replica->sync;
    tc_assert(sync->active && !sync->installing);
    if (!sync_target_ok(replica)) return;
    struct tc_header request;
    replica_header_init(replica, &request, TC_COMMAND_REQUEST_SYNC);
    request.op = sync->received;
    request.commit = replica->commit_min;
    request.checkpoint_op = sync->checkpoint_op;
    replica_send_header(replica, sync->target, &request);
}

// Starts a transfer from `target` (any peer whose checkpoint is newer than our commit answers).
void replica_sync_start(struct tc_replica *replica, uint8_t target) {
    struct replica_sync *sync = &replica->sync;
    if (sync->active || replica->replica_count == 1 || replica_slot_self(replica, target)) return;
    if (replica_retired(replica)) return; // it only answers now
    if (replica_checkpoint_busy(replica)) return; // its buffer receives the bytes
    sync_reset(replica);
    sync->active = true;
    sync->target = target;
    replica->counters.syncs_started++;
    replica_log(replica, TC_LOG_INFO, "state sync from r%u (commit_min %llu)", target,
                (unsigned long long)replica->commit_min);
    sync_request(replica);
}

// Commits pause once a transfer is fixed on a checkpoint (its first chunk arrived): that state will
// replace ours. Before that, commits may still make progress through repair.
bool replica_sync_busy(const struct tc_replica *replica) {
    return replica->sync.active && replica->sync.checkpoint_op != 0;
}

// The peer whose durable checkpoint is the newest we heard of, if it is beyond our commit.
static bool sync_best_peer(const struct tc_replica *replica, uint8_t *peer) {
    uint64_t best_op = replica->commit_min;
    bool found = false;
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        if (!replica_slot_self(replica, r) && replica->checkpoint_op_heard[r] > best_op) {
            best_op = replica->checkpoint_op_heard[r];
            *peer = r;
            found = true;
        }
    }
    return found;
}

// Per tick: the stuck trigger, and restarting a stalled transfer with another peer.
void replica_sync_tick(struct tc_replica *replica) {
    struct replica_sync *sync = &replica->sync;
    if (replica->state != TC_REPLICA_NORMAL && replica->state != TC_REPLICA_VIEW_CHANGE) return;
    if (replica->commit_min != sync->commit_min_seen) {
        sync->commit_min_seen = replica->commit_min;
        sync->stuck_ticks = 0;
    } else if (sync->stuck_ticks < UINT32_MAX) {
        sync->stuck_ticks++;
    }
    if (sync->active) {
        replica_sync_store_tick(replica);
        if (sync->installing || sync->store_writing || sync->store_syncing) return;
        if (++sync->stall_ticks < SYNC_STALL_TICKS) return;
        uint8_t next = (uint8_t)((sync->target + 1) % replica->replica_count);
        if (replica_slot_self(replica, next)) next = (uint8_t)((next + 1) % replica->replica_count);
        sync_reset(replica);
        if (sync->stuck_ticks < SYNC_STUCK_TICKS) {
            // Commits moved meanwhile (repair caught up): no transfer needed (seed 22863: a sync
            // nobody could answer kept commits paused forever).
            replica_log(replica, TC_LOG_INFO, "state sync stalled: abandoned (commits progress)");
            return;
        }
        replica_log(replica, TC_LOG_INFO, "state sync stalled: trying r%u", next);
        replica_sync_start(replica, next);
        return;
    }
    if (sync->stuck_ticks < SYNC_STUCK_TICKS) return;
    uint8_t best = replica->replica;
    if (sync_best_peer(replica, &best)) replica_sync_start(replica, best);
}

// Serving: a chunk of our durable checkpoint, if it is newer than the requester's commit.
void replica_on_request_sync(struct tc_replica *replica, const struct tc_header *header) {
    if (replica->state != TC_REPLICA_NORMAL && replica->state != TC_REPLICA_VIEW_CHANGE) return;
    if (replica->sync.active || replica_checkpoint_busy(replica)) return;
    if (replica->sync.buffer_overwritten) return;
    const struct tc_superblock *sb = tc_journal_superblock(replica->journal);
    if (sb->checkpoint_op == 0 || sb->checkpoint_op <= header->commit) return;
    if (header->checkpoint_op != 0 && header->checkpoint_op != sb->checkpoint_op) return;
    if (header->op >= sb->checkpoint_size) return;
    uint64_t size_bytes = 0;
    const uint8_t *bytes = tc_journal_checkpoint_recovered(replica->journal, &size_bytes);
    tc_assert(size_bytes == sb->checkpoint_size);
    uint64_t chunk = size_bytes - header->op;
    if (chunk > SYNC_CHUNK_SIZE_MAX) chunk = SYNC_CHUNK_SIZE_MAX;
    struct tc_header *sync = (struct tc_header *)(void *)replica->send_buffer;
    replica_header_init(replica, sync, TC_COMMAND_SYNC);
    sync->op = header->op;
    sync->commit = size_bytes;
    sync->checkpoint_op = sb->checkpoint_op;
    sync->parent = sb->checkpoint_id;
    sync->size = (uint32_t)(2 * TC_HEADER_SIZE + chunk);
    memcpy(replica->send_buffer + TC_HEADER_SIZE, &sb->checkpoint_header, TC_HEADER_SIZE);
    memcpy(replica->send_buffer + 2 * TC_HEADER_SIZE, bytes + header->op, chunk);
    tc_header_set_checksum_body(sync, replica->send_buffer + TC_HEADER_SIZE,
                                sync->size - TC_HEADER_SIZE);
    tc_header_set_checksum(sync);
    replica_send_answer(replica, header->replica, header->epoch, replica->send_buffer);
}

// The first chunk fixes the checkpoint (op, id, size, header) the transfer is about.
static bool sync_first_chunk(struct tc_replica *replica, const struct tc_header *header,
                             const struct tc_header *checkpoint_header) {
    struct replica_sync *sync = &replica->sync;
    if (header->op != 0 || header->checkpoint_op <= replica->commit_min) return false;
    if (header->commit > replica_checkpoint_size_max(&replica->options)) {
        replica_log(replica, TC_LOG_ERROR, "sync: checkpoint of %llu bytes exceeds ours",
                    (unsigned long long)header->commit);
        return false;
    }
    if (!tc_header_valid_checksum(checkpoint_header) || tc_header_invalid(checkpoint_header) != NULL ||
        checkpoint_header->command != TC_COMMAND_PREPARE ||
        checkpoint_header->op != header->checkpoint_op ||
        checkpoint_header->cluster != replica->options.cluster ||
        checkpoint_header->group != replica->options.group) {
        replica->messages_dropped_invalid++;
        return false;
    }
    if (replica_checkpoint_busy(replica)) return false;
    sync->checkpoint_op = header->checkpoint_op;
    sync->id = header->parent;
    sync->size = header->commit;
    sync->header = *checkpoint_header;
    return true;
}

static void store_fetch_start(struct tc_replica *replica);

static void sync_complete(struct tc_replica *replica) {
    struct replica_sync *sync = &replica->sync;
    uint8_t *buffer = tc_journal_checkpoint_buffer(replica->journal);
    struct tc_checksum id;
    tc_checksum_compute(&id, buffer, sync->size);
    if (!tc_checksum_equal(&id, &sync->id)) {
        replica_log(replica, TC_LOG_ERROR, "sync: checkpoint %llu bytes do not match its id",
                    (unsigned long long)sync->checkpoint_op);
        sync_reset(replica);
        return;
    }
    const uint8_t *state = NULL;
    uint64_t state_size = 0;
    int rc = replica_checkpoint_store_state(buffer, sync->size, &state, &state_size);
    // The peer's store state drives what we fetch and write: validate it first (shape, cursor,
    // rooms) against our geometry, exactly as installing it will.
    if (rc == TC_OK) rc = tc_store_state_validate(replica->store, state, state_size);
    if (rc == TC_OK) {
        rc = tc_store_state_peek(state, state_size, &sync->store_segment_last,
                                 &sync->store_offset_last, &sync->store_chain_target);
    }
    if (rc == TC_OK) rc = tc_store_state_tail(state, state_size, &sync->store_tail,
                                              &sync->store_tail_size);
    if (rc != TC_OK) {
        replica_log(replica, TC_LOG_ERROR, "sync: checkpoint %llu has no valid store state",
                    (unsigned long long)sync->checkpoint_op);
        sync_reset(replica);
        return;
    }
    store_fetch_start(replica);
}

void replica_on_sync(struct tc_replica *replica, const struct tc_header *header,
                     const uint8_t *body) {
    struct replica_sync *sync = &replica->sync;
    if (!sync->active || sync->installing || header->replica != sync->target) return;
    const struct tc_header *checkpoint_header = (const struct tc_header *)(const void *)body;
    if (sync->checkpoint_op == 0 && !sync_first_chunk(replica, header, checkpoint_header)) return;
    if (header->checkpoint_op != sync->checkpoint_op || !tc_checksum_equal(&header->parent, &sync->id) ||
        header->commit != sync->size || header->op != sync->received) {
        return; // another checkpoint (the peer moved on: we restart when stalled) or a duplicate
    }
    uint32_t chunk = header->size - 2 * TC_HEADER_SIZE;
    tc_assert(sync->received + chunk <= sync->size); // validated with the header
    uint8_t *buffer = tc_journal_checkpoint_buffer(replica->journal);
    memcpy(buffer + sync->received, body + TC_HEADER_SIZE, chunk);
    sync->buffer_overwritten = true; // until our next checkpoint write (local or this one) lands
    sync->received += chunk;
    sync->stall_ticks = 0;
    if (sync->received < sync->size) {
        sync_request(replica);
        return;
    }
    sync_complete(replica);
}

// The synced checkpoint is durable as ours: adopt its state. Our log above it stays (it may hold
// acknowledged ops); a suffix that provably forks from the checkpoint's op is cut.
void replica_sync_installed(struct tc_replica *replica) {
    struct replica_sync *sync = &replica->sync;
    tc_assert(sync->installing);
    uint64_t op = sync->checkpoint_op;
    tc_assert(tc_journal_checkpoint_op(replica->journal) == op);
    tc_assert(op > replica->commit_min);
    int rc = replica_checkpoint_restore(replica);
    const char *step = "state";
    if (rc == TC_OK) {
        step = "store open segment";
        rc = tc_store_recover_from(replica->store, sync->store_buffer); // NULL: header only
    }
    if (sync->store_buffer != NULL) {
        tc_store_sync_buffer_release(replica->store, sync->store_buffer);
        sync->store_buffer = NULL;
    }
    if (rc != TC_OK) {
        replica->state = TC_REPLICA_STOPPED;
        replica_log(replica, TC_LOG_ERROR, "sync: checkpoint at op %llu does not decode: %s (%s)",
                    (unsigned long long)op, step, tc_strerror(rc));
        return;
    }
    sync->installing = false;
    sync->active = false;
    sync->fetching_store = false;
    replica->syncs_done++;
    replica_log_adopt_checkpoint(replica, &sync->header);
    replica_log(replica, TC_LOG_INFO, "state sync done: checkpoint at op %llu", (unsigned long long)op);
    (void)replica_epoch_enter(replica); // the checkpoint may be of a newer epoch (§11.4)
}

// ---------------------------------------------------------------------------------------------
// Store segments (docs/store.md §8): after the checkpoint's bytes matched their id, fetch the
// segments from our durable store cursor up to the checkpoint's cursor, verify each (records and
// the chain, continuing ours), write what we do not hold durably already, sync, and only then let
// the journal install the checkpoint (S2). The checkpoint's open segment is fetched up to its last
// whole sector; its tail comes with the checkpoint.

#define STORE_CHUNK_SIZE_MAX (31u * TC_SECTOR_SIZE)
_Static_assert(STORE_CHUNK_SIZE_MAX <= TC_MESSAGE_SIZE_MAX - TC_HEADER_SIZE,
               "a store chunk fits in a message");

static uint32_t sector_floor_u32(uint32_t offset) {
    return offset / TC_SECTOR_SIZE * TC_SECTOR_SIZE;
}

// Bytes to fetch of the segment being fetched: a whole segment, or the checkpoint's open prefix.
static uint32_t store_fetch_size(const struct tc_replica *replica) {
    const struct replica_sync *sync = &replica->sync;
    if (sync->store_segment == sync->store_segment_last) {
        return sector_floor_u32(sync->store_offset_last);
    }
    return replica->options.store_segment_size_bytes;
}

static void store_fetch_request(struct tc_replica *replica) {
    struct replica_sync *sync = &replica->sync;
    tc_assert(sync->fetching_store && sync->store_buffer != NULL);
    if (!sync_target_ok(replica)) return;
    struct tc_header request;
    replica_header_init(replica, &request, TC_COMMAND_REQUEST_STORE);
    request.op = sync->store_segment;
    request.commit = sync->store_received;
    replica_send_header(replica, sync->target, &request);
}

static void store_fetch_complete(struct tc_replica *replica);

// Takes a store buffer for the next segment (none free yet: the tick retries) and asks for it.
static void store_fetch_next(struct tc_replica *replica) {
    struct replica_sync *sync = &replica->sync;
    if (sync->store_buffer == NULL) sync->store_buffer = tc_store_sync_buffer(replica->store);
    if (sync->store_buffer == NULL) return;
    memset(sync->store_buffer, 0, replica->options.store_segment_size_bytes);
    sync->store_received = 0;
    sync->store_verified = false;
    if (store_fetch_size(replica) == 0) {
        store_fetch_complete(replica); // the checkpoint's tail holds the whole open prefix
        return;
    }
    store_fetch_request(replica);
}

static void store_fetch_start(struct tc_replica *replica) {
    struct replica_sync *sync = &replica->sync;
    struct tc_store_cursor durable = tc_store_cursor_durable(replica->store);
    if (durable.segment > sync->store_segment_last ||
        (durable.segment == sync->store_segment_last && durable.offset > sync->store_offset_last)) {
        replica_log(replica, TC_LOG_ERROR, "sync: checkpoint %llu's store ends before ours",
                    (unsigned long long)sync->checkpoint_op);
        sync_reset(replica);
        return;
    }
    sync->fetching_store = true;
    sync->store_chain_known = false;
    sync->store_segment = durable.segment;
    sync->stall_ticks = 0;
    store_fetch_next(replica);
}

static void store_fetch_installed_storage(void *context, int result) {
    struct tc_replica *replica = context;
    struct replica_sync *sync = &replica->sync;
    tc_assert(sync->store_syncing);
    sync->store_syncing = false;
    if (replica->state == TC_REPLICA_STOPPED) return;
    if (result != TC_OK) {
        replica->state = TC_REPLICA_STOPPED;
        replica_log(replica, TC_LOG_ERROR, "stopped: store sync failed (%s)", tc_strerror(result));
        return;
    }
    if (!sync->active) return;
    sync->installing = true;
    tc_journal_write_checkpoint(replica->journal, &sync->header, sync->size);
}

// The last segment is in (or needed no write): sync the store zone, then install.
static void store_fetch_finish(struct tc_replica *replica) {
    struct replica_sync *sync = &replica->sync;
    sync->store_syncing = true; // the buffer stays: it becomes our open segment at install
    tc_store_sync_storage(replica->store, store_fetch_installed_storage, replica);
}

static void store_fetch_written(void *context, int result) {
    struct tc_replica *replica = context;
    struct replica_sync *sync = &replica->sync;
    tc_assert(sync->store_writing);
    sync->store_writing = false;
    if (replica->state == TC_REPLICA_STOPPED) return;
    if (result != TC_OK) {
        replica->state = TC_REPLICA_STOPPED;
        replica_log(replica, TC_LOG_ERROR, "stopped: store write failed (%s)", tc_strerror(result));
        return;
    }
    tc_assert(sync->active); // a write in flight keeps the transfer (the tick waits for it)
    if (sync->store_segment == sync->store_segment_last) {
        store_fetch_finish(replica);
        return;
    }
    sync->store_segment += 1;
    store_fetch_next(replica);
}

// Verifies the fetched segment: the first one must lead to our own durable chain at our durable
// cursor (it continues our store), each next one must start at the chain the previous one ended
// at, and the checkpoint's open segment (its tail appended) must end at the checkpoint's chain.
static bool store_fetch_verify(struct tc_replica *replica, uint32_t *used) {
    struct replica_sync *sync = &replica->sync;
    struct tc_store *store = replica->store;
    bool last = sync->store_segment == sync->store_segment_last;
    uint32_t size = last ? sync->store_offset_last : replica->options.store_segment_size_bytes;
    if (last) {
        memcpy(sync->store_buffer + sector_floor_u32(sync->store_offset_last), sync->store_tail,
               sync->store_tail_size);
    }
    struct tc_checksum chain;
    bool sealed = false;
    if (tc_store_segment_chain_in(store, sync->store_segment, sync->store_buffer, &chain) != TC_OK) {
        return false;
    }
    if (sync->store_chain_known && !tc_checksum_equal(&chain, &sync->store_chain)) return false;
    struct tc_store_cursor durable = tc_store_cursor_durable(store);
    if (!sync->store_chain_known && sync->store_segment == durable.segment &&
        durable.offset >= TC_STORE_SEGMENT_HEADER_SIZE) {
        struct tc_checksum ours = chain;
        uint32_t ours_used = 0;
        if (tc_store_segment_verify(store, durable.segment, sync->store_buffer, durable.offset,
                                    &ours, &ours_used, &sealed) != TC_OK || sealed) {
            return false;
        }
        struct tc_checksum durable_chain = tc_store_chain_durable(store);
        if (!tc_checksum_equal(&ours, &durable_chain)) return false;
    }
    if (tc_store_segment_verify(store, sync->store_segment, sync->store_buffer, size, &chain, used,
                                &sealed) != TC_OK) {
        return false;
    }
    if (last ? sealed || !tc_checksum_equal(&chain, &sync->store_chain_target) : !sealed) {
        return false;
    }
    sync->store_chain = chain;
    sync->store_chain_known = true;
    return true;
}

// The segment arrived whole: verify it (once), then write what we lack (once our own store writes
// have drained: the slots may overlap).
static void store_fetch_complete(struct tc_replica *replica) {
    struct replica_sync *sync = &replica->sync;
    if (!sync->store_verified) {
        if (!store_fetch_verify(replica, &sync->store_used)) {
            replica_log(replica, TC_LOG_WARN, "sync: store segment %llu from r%u does not verify",
                        (unsigned long long)sync->store_segment, sync->target);
            sync_reset(replica);
            return;
        }
        sync->store_verified = true;
    }
    bool last = sync->store_segment == sync->store_segment_last;
    uint32_t end = last ? sector_floor_u32(sync->store_offset_last)
                        : (uint32_t)tc_align_up(sync->store_used, TC_SECTOR_SIZE);
    uint32_t start = tc_store_sync_write_start(replica->store, sync->store_segment);
    if (start >= end) { // we hold every whole sector of it durably already
        if (last) {
            store_fetch_finish(replica);
        } else {
            sync->store_segment += 1;
            store_fetch_next(replica);
        }
        return;
    }
    if (!tc_store_idle(replica->store)) {
        sync->stall_ticks = 0; // waiting on our own disk, not on the peer
        return;                // the tick retries
    }
    sync->store_writing = true;
    tc_store_sync_write(replica->store, sync->store_segment, sync->store_buffer, start, end,
                        store_fetch_written, replica);
}

void replica_on_store_chunk(struct tc_replica *replica, const struct tc_header *header,
                            const uint8_t *body) {
    struct replica_sync *sync = &replica->sync;
    if (!sync->active || !sync->fetching_store || header->replica != sync->target) return;
    if (sync->installing || sync->store_buffer == NULL) return;
    if (sync->store_writing || sync->store_syncing) return;
    uint32_t wanted = store_fetch_size(replica);
    if (sync->store_received >= wanted) return; // complete: waiting for the store to idle
    if (header->op != sync->store_segment || header->commit != sync->store_received) return;
    uint32_t chunk = header->size - TC_HEADER_SIZE;
    if (chunk > wanted - sync->store_received) chunk = wanted - sync->store_received;
    memcpy(sync->store_buffer + sync->store_received, body, chunk);
    sync->store_received += chunk;
    replica->sync_store_bytes += chunk;
    sync->stall_ticks = 0;
    if (sync->store_received < wanted) {
        store_fetch_request(replica);
        return;
    }
    store_fetch_complete(replica);
}

// Per tick while fetching the store: a buffer or an idle store we were waiting for.
void replica_sync_store_tick(struct tc_replica *replica) {
    struct replica_sync *sync = &replica->sync;
    if (!sync->active || !sync->fetching_store || sync->installing) return;
    if (sync->store_writing || sync->store_syncing) return;
    if (sync->store_buffer == NULL) {
        store_fetch_next(replica);
        return;
    }
    if (sync->store_received == store_fetch_size(replica)) store_fetch_complete(replica);
}

// Serving: bytes of our durable store (a syncing peer asks segment by segment).
static void store_serve_done(void *context, int result) {
    struct tc_replica *replica = context;
    tc_assert(replica->store_serving);
    replica->store_serving = false;
    if (result != TC_OK || replica->state == TC_REPLICA_STOPPED) return; // the peer asks again
    struct tc_header *chunk = (struct tc_header *)(void *)replica->send_buffer;
    replica_header_init(replica, chunk, TC_COMMAND_STORE_CHUNK);
    chunk->op = replica->store_serve_segment;
    chunk->commit = replica->store_serve_offset;
    chunk->size = TC_HEADER_SIZE + replica->store_serve_size;
    memcpy(replica->send_buffer + TC_HEADER_SIZE, replica->store_serve_buffer,
           replica->store_serve_size);
    tc_header_set_checksum_body(chunk, replica->send_buffer + TC_HEADER_SIZE,
                                replica->store_serve_size);
    tc_header_set_checksum(chunk);
    replica_send_answer(replica, replica->store_serve_target, replica->store_serve_epoch,
                        replica->send_buffer);
}

void replica_on_request_store(struct tc_replica *replica, const struct tc_header *header) {
    if (replica->state != TC_REPLICA_NORMAL && replica->state != TC_REPLICA_VIEW_CHANGE) return;
    if (replica->sync.active || replica->store_serving) return;
    uint32_t segment_size = replica->options.store_segment_size_bytes;
    if (header->commit >= segment_size) return;
    uint32_t offset = (uint32_t)header->commit;
    struct tc_store_cursor durable = tc_store_cursor_durable(replica->store);
    uint32_t end = segment_size;
    if (header->op == durable.segment) {
        // Only whole sectors are on disk; the tail travels in the checkpoint.
        end = sector_floor_u32(durable.offset);
    }
    if (header->op > durable.segment || offset >= end) return; // not durable here (yet)
    uint32_t size = end - offset;
    if (size > STORE_CHUNK_SIZE_MAX) size = STORE_CHUNK_SIZE_MAX;
    int rc = tc_store_serve(replica->store, header->op, offset, size, replica->store_serve_buffer,
                            store_serve_done, replica);
    if (rc != TC_OK) return; // busy: the peer asks again
    replica->store_serving = true;
    replica->store_serve_target = header->replica;
    replica->store_serve_epoch = header->epoch;
    replica->store_serve_segment = header->op;
    replica->store_serve_offset = offset;
    replica->store_serve_size = size;
}
