// Epochs and replica replacement (docs/vsr.md §11.4): the reconfigure op, entering a new epoch,
// start_epoch for replicas left in an older one, and what learners do instead of voting.
//
//   reconfigure(e+1, slot, old, new) committed at op R
//     └─ every replica applying R: config = {e+1, members[slot] = new}
//          ├─ member of e+1: persist (e+1, members, R) with the view, view change into view + 1
//          ├─ the replaced one: retired; answers prepares, sync and start_epoch, asks nothing
//          └─ a learner not yet named: keeps following
//   a message from epoch e reaching a replica acting in e+1 ─► start_epoch(e+1, R, checksum):
//     the old-epoch replica stops acting in e, makes R its head, commits up to R (repair or
//     sync), applies R, and moves on.
//   The acting configuration (what membership and quorums use) is the applied one, or the
//   superblock's when newer: a restart from a checkpoint below R acts in e+1 at once.

#include <string.h>

#include "replica_internal.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_le.h"

// The op that started our epoch and its checksum (0 for epoch 0), for start_epoch answers.
static bool epoch_start_op(const struct tc_replica *replica, uint64_t *op,
                           struct tc_checksum *checksum) {
    if (replica->acting_epoch == 0) return false;
    tc_assert(replica->acting_epoch_op > 0);
    *op = replica->acting_epoch_op; // known even while our state replays up to it (superblock)
    *checksum = replica->acting_epoch_op_checksum;
    return true;
}

// Answers a message from an older epoch: "epoch E began at op R (checksum)".
void replica_send_start_epoch(struct tc_replica *replica, uint8_t target, uint32_t epoch) {
    struct tc_header start;
    uint64_t op = 0;
    struct tc_checksum checksum;
    if (!epoch_start_op(replica, &op, &checksum)) return;
    replica_header_init(replica, &start, TC_COMMAND_START_EPOCH);
    start.op = op;
    start.commit = op;
    start.context = checksum;
    start.checkpoint_op = tc_journal_checkpoint_op(replica->journal);
    tc_header_set_checksum_body(&start, NULL, 0);
    tc_header_set_checksum(&start);
    replica_send_answer(replica, target, epoch, (const uint8_t *)&start); // to the asker's epoch
}

// Op `op` (our head or beyond it, within our journal) is committed with prepare checksum
// `checksum`: it becomes our head if our entry differs or is missing (known by checksum only, fetched
// by repair), and nothing below counts until the hash chain from it reaches it.
void replica_log_anchor_committed(struct tc_replica *replica, uint64_t op,
                                  const struct tc_checksum *checksum) {
    tc_assert(op > replica->commit_min && op >= replica->op_head);
    tc_assert(op <= replica_op_write_max(replica));
    const struct tc_header *entry = tc_journal_header(replica->journal, op);
    if (entry == NULL || !tc_checksum_equal(&entry->checksum, checksum)) {
        if (entry != NULL) tc_journal_remove(replica->journal, op);
        replica->op_head = op;
        replica->op_chained_min = op;
        replica->anchor_op = op;
        replica->anchor_checksum = *checksum;
    } else if (replica->op_chained_min > op) {
        replica->op_chained_min = op;
        replica_chain_extend(replica);
    }
    if (op > replica->commit_max) replica->commit_max = op;
}

// A replica of a newer epoch says our epoch ended at op R: R is committed (a newer epoch exists
// only once it is), and nothing after it in our epoch ever will be. Our log becomes the canonical
// history up to R: R is our head, and our entries below it count only once the hash chain from R
// reaches them (our suffix may be a fork from a view the group left: seed 544 committed one).
// Commit up to R; applying R moves us into the new epoch (or further).
void replica_on_start_epoch(struct tc_replica *replica, const struct tc_header *header) {
    if (replica->state == TC_REPLICA_RECOVERING || replica->state == TC_REPLICA_STOPPED) return;
    if (header->epoch <= replica->acting_epoch || header->replica >= replica->replica_count) return;
    bool announced = header->epoch <= replica->epoch_heard; // logged once per epoch
    if (header->epoch > replica->epoch_heard) replica->epoch_heard = header->epoch;
    tc_assert(!replica_member(replica)); // our epoch is closed: we only follow now
    replica_checkpoint_heard(replica, header->replica, header->checkpoint_op);
    uint64_t op = header->op;
    if (op <= replica->commit_min) return; // applied (our state then is in a newer epoch)
    if (op > replica_op_write_max(replica)) {
        replica_sync_start(replica, header->replica); // R is beyond our journal: sync past it
        return;
    }
    if (replica->op_head > op) replica_log_truncate(replica, op);
    replica_log_anchor_committed(replica, op, &header->context);
    if (replica->state == TC_REPLICA_RECOVERING_HEAD) {
        // Our head is certain now: R is committed and nothing above it in our epoch can be.
        replica->state = TC_REPLICA_VIEW_CHANGE;
        replica->head_uncertain = false;
    }
    if (!announced) {
        replica_log(replica, TC_LOG_INFO, "epoch %u began at op %llu: catching up",
                    header->epoch, (unsigned long long)op);
    }
    replica_commit_journal(replica);
}

// ---------------------------------------------------------------------------------------------
// The reconfigure op.

static void reconfigure_decode(const uint8_t *body, struct tc_reconfigure *out) {
    out->epoch = tc_le_get_u32(body + 0);
    out->slot = body[4];
    memcpy(out->reserved, body + 5, sizeof(out->reserved));
    out->replica_id_old = tc_le_get_u64(body + 8);
    out->replica_id_new = tc_le_get_u64(body + 16);
}

static bool id_is_member(const struct tc_replica *replica, uint64_t id) {
    for (uint8_t slot = 0; slot < replica->replica_count; slot++) {
        if (replica->members[slot] == id) return true;
    }
    return false;
}

// Applies a committed reconfigure (deterministic: the same status and configuration on every
// replica). Returns the status; on TC_RECONFIGURE_OK with a change, *entered is set.
static uint32_t reconfigure_apply(struct tc_replica *replica, const struct tc_reconfigure *change,
                                  bool *entered) {
    *entered = false;
    bool reserved_zero = change->reserved[0] == 0 && change->reserved[1] == 0 &&
                         change->reserved[2] == 0;
    if (!reserved_zero || change->slot >= replica->replica_count ||
        change->replica_id_new == 0 || change->replica_id_old == 0) {
        return TC_RECONFIGURE_INVALID;
    }
    if (change->epoch <= replica->epoch && replica->members[change->slot] == change->replica_id_new) {
        return TC_RECONFIGURE_OK; // applied before: a retry of a change that committed
    }
    if (change->epoch != replica->epoch + 1) return TC_RECONFIGURE_STALE_EPOCH;
    if (replica->members[change->slot] != change->replica_id_old) {
        return TC_RECONFIGURE_MEMBER_MISMATCH;
    }
    if (id_is_member(replica, change->replica_id_new)) return TC_RECONFIGURE_INVALID;
    replica->epoch = change->epoch;
    replica->members[change->slot] = change->replica_id_new;
    *entered = true;
    tc_assert(!id_is_member(replica, change->replica_id_old));
    return TC_RECONFIGURE_OK;
}

// Applies op `prepare` (a reconfigure) and writes the 8-byte reply body: status, epoch.
uint32_t replica_reconfigure_apply(struct tc_replica *replica, const struct tc_header *prepare,
                                   const uint8_t *body, uint8_t *reply, bool *entered) {
    tc_assert(prepare->operation == TC_OPERATION_RECONFIGURE);
    tc_assert(prepare->size == TC_HEADER_SIZE + TC_RECONFIGURE_BODY_SIZE);
    struct tc_reconfigure change;
    reconfigure_decode(body, &change);
    uint32_t status = reconfigure_apply(replica, &change, entered);
    if (*entered) {
        replica->epoch_op = prepare->op;
        replica->epoch_op_checksum = prepare->checksum;
    }
    tc_le_put_u32(reply + 0, status);
    tc_le_put_u32(reply + 4, replica->epoch);
    replica_log(replica, TC_LOG_INFO, "reconfigure op %llu: epoch %u slot %u -> %llx: %s",
                (unsigned long long)prepare->op, change.epoch, change.slot,
                (unsigned long long)change.replica_id_new, tc_reconfigure_status_name(status));
    return TC_RECONFIGURE_REPLY_SIZE;
}

// Whether the primary must prepare nothing more: a reconfigure op in its pipeline ends the epoch.
bool replica_epoch_closing(const struct tc_replica *replica) {
    for (uint32_t i = 0; i < replica->pipeline_count; i++) {
        const struct pipeline_entry *entry =
            &replica->pipeline[(replica->pipeline_op_first + i) % TC_PIPELINE_PREPARE_MAX];
        if (entry->header.operation == TC_OPERATION_RECONFIGURE) return true;
    }
    return false;
}

// The applied configuration becomes the acting one when it is at least as new (after a checkpoint
// restore, a state sync or applying a reconfigure). Returns whether the acting epoch grew.
bool replica_config_adopt(struct tc_replica *replica) {
    if (replica->epoch < replica->acting_epoch) return false;
    if (replica->epoch == replica->acting_epoch) {
        // One epoch, one configuration: the superblock's and the replicated state's agree.
        tc_assert(memcmp(replica->members, replica->acting_members, sizeof(replica->members)) == 0);
        return false;
    }
    replica->acting_epoch = replica->epoch;
    memcpy(replica->acting_members, replica->members, sizeof(replica->acting_members));
    replica->acting_epoch_op = replica->epoch_op;
    replica->acting_epoch_op_checksum = replica->epoch_op_checksum;
    return true;
}

// Right after applying a reconfigure (or installing a synced checkpoint) that changed the
// configuration: leave the old epoch's view. Nothing to do if we already act in that epoch (a
// replay after a restart from an older checkpoint). Returns whether we entered a new epoch.
bool replica_epoch_enter(struct tc_replica *replica) {
    if (!replica_config_adopt(replica)) return false;
    replica_log(replica, TC_LOG_INFO, "entered epoch %u as %s", replica->epoch,
                replica_member(replica)    ? "member"
                : replica_retired(replica) ? "retired replica (answers read-only requests)"
                                           : "learner");
    replica_pipeline_reset(replica); // nothing after the reconfigure op belongs to the old epoch
    replica->abdicating = false;
    memset(replica->svc_votes, 0, sizeof(replica->svc_votes));
    if (!replica_member(replica)) return true; // replaced, or still a learner: follow by polling
    if (replica->op_head == replica->commit_min &&
        tc_journal_header(replica->journal, replica->op_head) != NULL) {
        // Our log is R's committed chain and nothing above it. The view headers persisted with the
        // epoch (recovery takes them as authoritative) become that chain's top: those of our
        // log_view may be a suffix of an older view that forks from it (a start_view installed
        // before we heard of R), and our log_view is of the older epoch, so its view number may
        // recur in ours.
        replica->view_headers_count =
            replica_view_headers_build(replica, replica->view_headers, replica->op_head, false);
        tc_assert(replica->view_headers_count >= 1);
    }
    struct tc_journal_epoch persisted = {
        .epoch = replica->acting_epoch,
        .op = replica->acting_epoch_op,
        .checksum = replica->acting_epoch_op_checksum,
    };
    memcpy(persisted.members, replica->acting_members, sizeof(persisted.members));
    tc_journal_set_epoch(replica->journal, &persisted); // with R: recovery keeps the ops below it
    replica->epoch_persisted = replica->acting_epoch;
    if (replica->state == TC_REPLICA_NORMAL || replica->state == TC_REPLICA_VIEW_CHANGE) {
        replica_view_change_start(replica, replica->view + 1); // persists epoch with the view
    }
    return true;
}

// A learner (or a replica passive until its state reaches its durable epoch) does not vote when
// its primary is silent: it asks every member for the current view instead.
void replica_learner_poll(struct tc_replica *replica) {
    struct tc_header request;
    replica_header_init(replica, &request, TC_COMMAND_REQUEST_START_VIEW);
    for (uint8_t slot = 0; slot < replica->replica_count; slot++) {
        if (replica_slot_self(replica, slot)) continue; // a learner polls its predecessor too
        replica_send_header(replica, slot, &request);
    }
}
