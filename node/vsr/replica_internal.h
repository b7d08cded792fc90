#ifndef TC_REPLICA_INTERNAL_H
#define TC_REPLICA_INTERNAL_H

// Internal state of a replica, shared by replica.c (normal case, commit, repair, recovery) and
// replica_view.c (view change). Not part of the public interface.

#include "client_sessions.h"
#include "journal.h"
#include "replica.h"
#include "store.h"
#include "tc_prng.h"

#define REPLICA_SERVE_READS_MAX 4u
#define REPLICA_REPAIR_REQUESTS_MAX 4u
#define REPLICA_REQUEST_QUEUE_MAX 8u   // requests waiting for a pipeline slot at the primary
#define REPLICA_PREPARE_CACHE_MAX 16u  // recent prepares a backup applies without a journal read

struct queued_request {
    uint8_t *message; // TC_MESSAGE_SIZE_MAX
};

struct cached_prepare {
    bool valid;
    uint64_t op;
    struct tc_checksum checksum;
    uint8_t *message; // TC_MESSAGE_SIZE_MAX
};

// A prepare the primary must replicate and commit: ops (commit_min, op_head] it owns.
struct pipeline_entry {
    struct tc_header header;
    uint8_t *message; // TC_MESSAGE_SIZE_MAX
    bool loaded;      // message holds the prepare (else it is being read from the journal)
    bool loading;
    uint8_t ok_from;  // replicas whose prepare_ok (durable, chained) covers this op
    uint32_t resend_ticks;
};

struct dvc_record {
    bool present;
    struct tc_header header; // the do_view_change header
    uint32_t count;
    struct tc_header headers[TC_VIEW_HEADERS_MAX]; // ascending ops ending at header.op
};

// State sync in progress (replica_sync.c): the checkpoint's bytes, then the message store's
// segments it lacks, then the journal installs the checkpoint.
struct replica_sync {
    bool active;
    bool fetching_store;      // the checkpoint bytes matched: fetching store segments
    bool installing;          // everything arrived and matched: the journal is writing them
    uint8_t target;
    uint64_t checkpoint_op;   // 0 until the first chunk names it
    struct tc_checksum id;
    uint64_t size;
    uint64_t received;
    struct tc_header header;  // the checkpoint op's prepare header
    uint32_t stall_ticks;
    uint32_t stuck_ticks;     // ticks without commit progress
    uint64_t commit_min_seen;
    bool buffer_overwritten;  // chunks of an abandoned transfer replaced the durable bytes in the
                              // journal's checkpoint buffer: serve nothing until it is rewritten
    // Store segments (docs/store.md §8): [store_segment, store_segment_last] are fetched in order.
    uint64_t store_segment;      // the segment being fetched
    uint64_t store_segment_last; // the checkpoint's cursor segment
    uint32_t store_offset_last;  // the checkpoint's cursor offset
    uint32_t store_received;     // bytes of store_segment received
    struct tc_checksum store_chain;        // the chain after the last segment fetched
    bool store_chain_known;                // a segment was fetched (its chain links the next)
    struct tc_checksum store_chain_target; // the checkpoint's chain
    uint8_t *store_buffer;       // a store buffer lent for the segment being fetched
    bool store_writing;          // the fetched segment is being written
    bool store_syncing;          // every segment landed: the storage sync is in flight
    bool store_verified;         // the fetched segment passed verification (store_used set)
    uint32_t store_used;         // its bytes up to the seal (or the checkpoint's open prefix)
    const uint8_t *store_tail;   // the checkpoint's open-segment tail (in the checkpoint buffer)
    uint32_t store_tail_size;
};

struct serve_read {
    bool busy;
    uint8_t target;
    uint32_t target_epoch; // the asker's epoch: its address resolves there
    uint64_t op;
    uint8_t *buffer;
};

struct tc_replica {
    struct tc_replica_options options;
    struct tc_io *io;
    struct tc_prng prng;
    struct tc_journal *journal;
    struct tc_room_machine *room;
    struct tc_store *store;
    struct tc_room_sink store_sink; // the store's sink, called first by the replica's own sink
    struct tc_client_sessions sessions;

    enum tc_replica_state state;
    uint8_t replica; // our slot (we send as it while a member, as TC_REPLICA_ADDRESS_LEARNER else)
    uint8_t replica_count;
    uint8_t quorum_replication;
    uint8_t quorum_view_change;
    uint8_t quorum_nack;
    // The group configuration of the applied state (vsr.md §11.4): part of the replicated state,
    // changed only by applying a reconfigure op, encoded in checkpoints.
    uint32_t epoch;
    uint64_t members[TC_REPLICAS_MAX];
    uint64_t epoch_op;                    // the reconfigure op that started `epoch` (0: epoch 0)
    struct tc_checksum epoch_op_checksum; // its checksum (start_epoch answers name it)
    // The configuration we act in (membership, quorums, the epoch our messages carry): the applied
    // one, or the one our superblock persisted if newer (a restart from a checkpoint taken before
    // the reconfigure op: the state replays up to it while we already act in its epoch).
    uint32_t acting_epoch;
    uint64_t acting_members[TC_REPLICAS_MAX];
    uint64_t acting_epoch_op;                    // the reconfigure op that began it (0: epoch 0)
    struct tc_checksum acting_epoch_op_checksum; // its checksum (start_epoch answers name it)
    uint32_t epoch_heard;  // the newest epoch a start_epoch named (we are catching up to it)
    uint32_t epoch_persisted; // the epoch our superblock holds (or will: set with the next view)
    bool epoch_entered;    // the op being applied changed the configuration
    uint32_t learner_heard_ticks[TC_REPLICAS_MAX]; // primary: since each slot's learner spoke
    uint32_t view;
    uint32_t log_view; // the newest log_view requested (durable once the superblock is idle)
    struct tc_header view_headers[TC_VIEW_HEADERS_MAX];
    uint32_t view_headers_count;

    uint64_t op_head;       // highest op in our log
    uint64_t op_chained_min; // lowest op whose header is hash-chained up to op_head
    uint64_t commit_min;    // applied to the state machine
    uint64_t commit_max;    // known committed in the group
    uint64_t applied_timestamp_ns; // timestamp of the prepare at commit_min
    uint64_t op_prepare_ok_max; // cache: all ops in (commit_min, this] clean and chained
    uint64_t anchor_op;     // a canonical (op, checksum) learned from the primary beyond our log
    struct tc_checksum anchor_checksum;

    // Primary.
    struct pipeline_entry pipeline[TC_PIPELINE_PREPARE_MAX];
    uint64_t pipeline_op_first; // op of pipeline[first]; entries are ops [first, first + count)
    uint32_t pipeline_count;
    uint32_t commit_stall_ticks;
    uint32_t apply_stall_ticks; // ticks with commit_min < commit_max and commit_min at apply_stall_op
    uint64_t apply_stall_op;
    uint32_t heard_ticks[TC_REPLICAS_MAX]; // ticks since a message from each replica
    bool abdicating;

    // Backup.
    uint64_t prepare_ok_sent_op;
    uint32_t normal_ticks;
    uint32_t normal_timeout_ticks; // jittered

    // View change.
    uint32_t svc_votes[TC_REPLICAS_MAX]; // highest view each replica voted to move to
    struct dvc_record dvcs[TC_REPLICAS_MAX];
    bool dvc_sent;
    bool head_uncertain; // recovered with a faulty slot above the head, no start_view since
    uint32_t view_lead_forbidden; // a view we led before a restart: never lead it again (or MAX)
    bool canonical_installed;
    bool pending_normal; // waiting for the superblock (log_view == view) to become normal
    uint32_t view_change_ticks;
    uint32_t resend_ticks;

    // Timers.
    uint32_t heartbeat_ticks;
    uint32_t repair_ticks;
    uint32_t prepare_ticks;

    // Commit path.
    bool commit_reading;
    uint8_t *commit_buffer;
    uint8_t *reply_buffer; // TC_REPLY_SIZE_MAX

    struct serve_read serve_reads[REPLICA_SERVE_READS_MAX];
    uint8_t *send_buffer; // TC_MESSAGE_SIZE_MAX scratch for outgoing messages

    struct queued_request request_queue[REPLICA_REQUEST_QUEUE_MAX];
    uint32_t request_queue_first;
    uint32_t request_queue_count;
    struct cached_prepare prepare_cache[REPLICA_PREPARE_CACHE_MAX];

    // Checkpoints (replica_checkpoint.c).
    bool checkpoint_flushing;            // encoded; the store's bytes are being made durable
    struct tc_header checkpoint_pending; // the checkpoint op's prepare header while flushing
    uint64_t checkpoint_pending_size;
    uint64_t checkpoint_op_heard[TC_REPLICAS_MAX]; // durable checkpoint op each replica reported
    uint64_t checkpoints_durable;
    struct replica_sync sync;
    uint64_t syncs_done;
    uint64_t sync_store_bytes;

    // Serving store segments to a syncing peer (one read at a time).
    uint8_t *store_serve_buffer; // TC_MESSAGE_SIZE_MAX
    bool store_serving;
    uint8_t store_serve_target;
    uint32_t store_serve_epoch;
    uint64_t store_serve_segment;
    uint32_t store_serve_offset;
    uint32_t store_serve_size;

    uint64_t messages_dropped_invalid;
    uint64_t requests_dropped;
    struct tc_replica_counters counters; // write-only here: tc_replica_status_get reports them
};

// Membership (vsr.md §11.4): we are a member while the acting configuration names our id for our
// slot. Once a start_epoch told us a newer epoch began, our epoch is closed (its last op
// committed): we only follow until we apply that op (a primary of the old epoch would heartbeat a
// commit beyond its log, and nothing it could still prepare would ever commit).
static inline bool replica_member(const struct tc_replica *replica) {
    return replica->acting_members[replica->replica] == replica->options.replica_id &&
           replica->acting_epoch >= replica->epoch_heard;
}
// A start_epoch told us that our acting epoch ended at op R (vsr.md §11.4): until we apply R, no
// consensus message of our epoch counts (its start_views may carry a log that forks below R).
static inline bool replica_epoch_closed(const struct tc_replica *replica) {
    return replica->epoch_heard > replica->acting_epoch;
}
// Replaced (vsr.md §11.4): the acting configuration no longer names us, though we were a member
// once (in epoch 0's configuration, or we acted in a later epoch: our superblock says so). We only
// answer (prepares, state sync, start_epoch) until the operator stops us, under our slot's address
// (we were its member in the epoch our reconfigure op closed; our learner address is our
// successor's now).
static inline bool replica_retired(const struct tc_replica *replica) {
    uint8_t slot = replica->replica;
    if (replica->acting_members[slot] == replica->options.replica_id) return false;
    return replica->options.members[slot] == replica->options.replica_id ||
           replica->epoch_persisted > 0;
}
// Whether slot `slot`'s address reaches ourselves: the acting configuration names us there. A
// learner's own slot reaches its predecessor, a good source for repair and state sync.
static inline bool replica_slot_self(const struct tc_replica *replica, uint8_t slot) {
    return slot == replica->replica &&
           replica->acting_members[slot] == replica->options.replica_id;
}
// What we send as: our slot while the acting configuration names us (a member, or a follower of
// a closed epoch), or once retired; the slot's learner address otherwise. A follower is still its
// slot's replica in the epoch it acts in: under the learner address, answers to its repairs went
// to the slot's learner (our successor) and the learner's requests to us looked like our own (sim
// seed 25204: neither could repair up to R, and the new epoch never formed a view).
static inline uint8_t replica_address(const struct tc_replica *replica) {
    return replica_slot_self(replica, replica->replica) || replica_retired(replica)
               ? replica->replica
               : TC_REPLICA_ADDRESS_LEARNER(replica->replica);
}

// replica.c helpers used by replica_view.c.
uint8_t replica_primary_index(const struct tc_replica *replica, uint32_t view);
bool replica_is_primary(const struct tc_replica *replica);
void replica_log(struct tc_replica *replica, enum tc_log_level level, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
void replica_send(struct tc_replica *replica, uint8_t target, const uint8_t *message);
void replica_send_answer(struct tc_replica *replica, uint8_t target, uint32_t epoch,
                         const uint8_t *message);
void replica_send_header(struct tc_replica *replica, uint8_t target, struct tc_header *header);
void replica_header_init(const struct tc_replica *replica, struct tc_header *header,
                         enum tc_command command);
void replica_log_set(struct tc_replica *replica, const struct tc_header *header);
void replica_log_truncate(struct tc_replica *replica, uint64_t op_head);
void replica_log_install(struct tc_replica *replica, const struct tc_header *headers,
                         uint32_t count);
bool replica_log_clean(const struct tc_replica *replica, uint64_t op);
void replica_normal_timeout_reset(struct tc_replica *replica);
void replica_chain_extend(struct tc_replica *replica);
bool replica_connected(const struct tc_replica *replica);
void replica_commit_journal(struct tc_replica *replica);
void replica_repair(struct tc_replica *replica);
void replica_send_prepare_ok(struct tc_replica *replica);
void replica_pipeline_reset(struct tc_replica *replica);
void replica_pipeline_from_log(struct tc_replica *replica);
void replica_primary_commit_quorum(struct tc_replica *replica);
uint32_t replica_view_headers_build(const struct tc_replica *replica, struct tc_header *out,
                                    uint64_t head, bool placeholders);
void replica_persist_view(struct tc_replica *replica);

// replica_checkpoint.c.
uint64_t replica_checkpoint_interval(uint32_t slot_count);
uint64_t replica_checkpoint_size_max(const struct tc_replica_options *options);
uint64_t replica_checkpoint_op_covering(const struct tc_replica *replica);
uint64_t replica_op_write_max(const struct tc_replica *replica);
bool replica_op_writable(const struct tc_replica *replica, uint64_t op);
uint64_t replica_op_prepare_max(const struct tc_replica *replica);
void replica_checkpoint_heard(struct tc_replica *replica, uint8_t from, uint64_t checkpoint_op);
bool replica_checkpoint_wait(const struct tc_replica *replica, uint64_t op);
// A checkpoint is being made durable (store flush, then the journal's area and superblock).
bool replica_checkpoint_busy(const struct tc_replica *replica);
void replica_checkpoint_after_apply(struct tc_replica *replica, const struct tc_header *prepare);
int replica_checkpoint_restore(struct tc_replica *replica);
int replica_checkpoint_store_state(const uint8_t *bytes, uint64_t size, const uint8_t **state,
                                   uint64_t *state_size);
bool replica_checkpoint_matches(const struct tc_replica *replica, uint64_t op,
                                const struct tc_checksum *id);

// replica_sync.c.
void replica_sync_start(struct tc_replica *replica, uint8_t target);
bool replica_sync_busy(const struct tc_replica *replica);
void replica_sync_tick(struct tc_replica *replica);
void replica_on_request_sync(struct tc_replica *replica, const struct tc_header *header);
void replica_on_sync(struct tc_replica *replica, const struct tc_header *header,
                     const uint8_t *body);
void replica_sync_installed(struct tc_replica *replica);
void replica_on_request_store(struct tc_replica *replica, const struct tc_header *header);
void replica_sync_store_tick(struct tc_replica *replica);
void replica_on_store_chunk(struct tc_replica *replica, const struct tc_header *header,
                            const uint8_t *body);
// replica.c: adopt a synced checkpoint's op as the committed prefix of the log.
void replica_log_adopt_checkpoint(struct tc_replica *replica, const struct tc_header *header);

// replica_epoch.c.
void replica_send_start_epoch(struct tc_replica *replica, uint8_t target, uint32_t epoch);
void replica_on_start_epoch(struct tc_replica *replica, const struct tc_header *header);
uint32_t replica_reconfigure_apply(struct tc_replica *replica, const struct tc_header *prepare,
                                   const uint8_t *body, uint8_t *reply, bool *entered);
bool replica_epoch_closing(const struct tc_replica *replica);
bool replica_epoch_enter(struct tc_replica *replica);
bool replica_config_adopt(struct tc_replica *replica);
void replica_log_anchor_committed(struct tc_replica *replica, uint64_t op,
                                  const struct tc_checksum *checksum);
void replica_learner_poll(struct tc_replica *replica);

// replica_view.c.
void replica_vote(struct tc_replica *replica, uint32_t view);
void replica_view_change_check_quorum(struct tc_replica *replica);
void replica_view_change_start(struct tc_replica *replica, uint32_t view);
void replica_view_tick(struct tc_replica *replica);
void replica_on_start_view_change(struct tc_replica *replica, const struct tc_header *header);
void replica_on_do_view_change(struct tc_replica *replica, const struct tc_header *header,
                               const uint8_t *body);
void replica_on_start_view(struct tc_replica *replica, const struct tc_header *header,
                           const uint8_t *body);
void replica_on_request_start_view(struct tc_replica *replica, const struct tc_header *header);
void replica_view_on_superblock(struct tc_replica *replica);
void replica_view_change_progress(struct tc_replica *replica);
void replica_send_start_view(struct tc_replica *replica, uint8_t target);

#endif
