// VSR view change: votes (start_view_change), do_view_change to the new primary, choosing the
// canonical log (highest log_view, then highest op), nack-quorum truncation, start_view.
// See docs/vsr.md "View change".

#include <string.h>

#include "replica_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

// A replica whose head is uncertain (RECOVERING_HEAD) joins a view change the others started: its
// do_view_change cannot count toward the quorum, but it can prove ops from later views uncommitted.
static bool view_change_allowed(const struct tc_replica *replica) {
    if (!replica_member(replica)) return false; // learners follow; they never vote (§11.4)
    return replica->state == TC_REPLICA_NORMAL || replica->state == TC_REPLICA_VIEW_CHANGE ||
           replica->state == TC_REPLICA_RECOVERING_HEAD;
}

// A do_view_change from a replica whose head is uncertain: it only nacks (docs/vsr.md §5).
static bool dvc_uncertain(const struct dvc_record *record) {
    return record->header.timestamp == 1;
}

static void broadcast_vote(struct tc_replica *replica) {
    struct tc_header svc;
    replica_header_init(replica, &svc, TC_COMMAND_START_VIEW_CHANGE);
    svc.view = replica->svc_votes[replica->replica];
    tc_header_set_checksum_body(&svc, NULL, 0);
    tc_header_set_checksum(&svc);
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        if (r != replica->replica) replica_send(replica, r, (const uint8_t *)&svc);
    }
}

// Votes to leave the current view for `view`. A view moves only on a quorum of votes, so one
// isolated replica (or an abdicating primary) cannot disrupt the others.
void replica_vote(struct tc_replica *replica, uint32_t view) {
    tc_assert(view > replica->view);
    if (!view_change_allowed(replica)) return;
    if (replica->svc_votes[replica->replica] < view) replica->svc_votes[replica->replica] = view;
    broadcast_vote(replica);
    replica_view_change_check_quorum(replica);
}

void replica_view_change_check_quorum(struct tc_replica *replica) {
    if (!view_change_allowed(replica)) return;
    uint32_t target = 0;
    for (uint8_t candidate = 0; candidate < replica->replica_count; candidate++) {
        uint32_t view = replica->svc_votes[candidate];
        if (view <= replica->view || view <= target) continue;
        uint32_t count = 0;
        for (uint8_t r = 0; r < replica->replica_count; r++) {
            if (replica->svc_votes[r] >= view) count++;
        }
        if (count >= replica->quorum_view_change) target = view;
    }
    if (target > replica->view) replica_view_change_start(replica, target);
}

void replica_persist_view(struct tc_replica *replica) {
    tc_journal_write_superblock(replica->journal, replica->view, replica->log_view,
                                replica->view_headers, replica->view_headers_count);
}

void replica_view_change_start(struct tc_replica *replica, uint32_t view) {
    tc_assert(view > replica->view);
    tc_assert(view_change_allowed(replica));
    replica_log(replica, TC_LOG_INFO, "view change to %u", view);
    replica->counters.view_changes_started++;
    replica->view = view;
    replica->state = TC_REPLICA_VIEW_CHANGE;
    replica->pending_normal = false;
    replica->canonical_installed = false;
    replica->dvc_sent = false;
    replica->view_change_ticks = 0;
    replica->anchor_op = 0;
    memset(replica->dvcs, 0, sizeof(replica->dvcs));
    replica_pipeline_reset(replica);
    if (replica->svc_votes[replica->replica] < view) replica->svc_votes[replica->replica] = view;
    broadcast_vote(replica);
    replica_persist_view(replica); // the view is durable before we send do_view_change
}

// ---------------------------------------------------------------------------------------------
// do_view_change.

static void dvc_record_own(struct tc_replica *replica, const struct tc_header *header,
                           const struct tc_header *headers, uint32_t count) {
    struct dvc_record *record = &replica->dvcs[replica->replica];
    record->present = true;
    record->header = *header;
    record->count = count;
    memcpy(record->headers, headers, (uint64_t)count * sizeof(struct tc_header));
}

// Sends our do_view_change to the new primary; with `broadcast`, to every replica: it is proof
// that a quorum voted for this view (we only move on a quorum), so a replica still happily normal
// in an older view (it never saw enough votes) joins instead of leaving the group split.
static void send_do_view_change(struct tc_replica *replica, bool broadcast) {
    tc_assert(replica->state == TC_REPLICA_VIEW_CHANGE);
    tc_assert(tc_journal_durable_view(replica->journal) == replica->view);
    struct tc_header *header = (struct tc_header *)(void *)replica->send_buffer;
    struct tc_header *body = header + 1;
    // Unknown entries at the top (a head known only by checksum after a nack truncation) were never
    // held here, so never acknowledged: the do_view_change claims the highest known op.
    uint64_t head = replica->op_head;
    for (uint32_t guard = 0; guard <= replica->options.journal_slot_count; guard++) {
        if (head == 0 || tc_journal_header(replica->journal, head) != NULL) break;
        head--;
    }
    uint32_t count = replica_view_headers_build(replica, body, head, true);
    tc_assert(body[count - 1].command == TC_COMMAND_PREPARE);
    replica_header_init(replica, header, TC_COMMAND_DO_VIEW_CHANGE);
    header->log_view = replica->log_view;
    header->op = body[count - 1].op;
    header->commit = replica->commit_max < header->op ? replica->commit_max : header->op;
    header->context = body[count - 1].checksum;
    header->timestamp = replica->head_uncertain ? 1u : 0u;
    header->size = TC_HEADER_SIZE * (1 + count);
    // Nack bits: prepares we hold by header only and never held durably (so never acknowledged).
    for (uint32_t i = 0; i < count; i++) {
        uint64_t op = body[i].op;
        if (body[i].command != TC_COMMAND_PREPARE || replica_log_clean(replica, op)) continue;
        if (op <= replica->commit_min) continue; // committed and applied here
        if (tc_journal_slot_corrupt(replica->journal, op)) continue;
        header->request |= 1u << i;
    }
    tc_header_set_checksum_body(header, (const uint8_t *)body, TC_HEADER_SIZE * count);
    tc_header_set_checksum(header);
    replica->dvc_sent = true;
    uint8_t primary = replica_primary_index(replica, replica->view);
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        if (r == replica->replica || (r != primary && !broadcast)) continue;
        replica_send(replica, r, replica->send_buffer);
    }
    if (primary == replica->replica && !replica->dvcs[replica->replica].present) {
        dvc_record_own(replica, header, body, count);
        replica_view_change_progress(replica);
    }
}

// Checks a do_view_change / start_view body: consecutive ops ending at header->op; start_view
// bodies hold only prepares, hash-chained, ending at header->context.
static bool view_body_valid(const struct tc_replica *replica, const struct tc_header *header,
                            const struct tc_header *body, uint32_t count) {
    bool start_view = header->command == TC_COMMAND_START_VIEW;
    for (uint32_t i = 0; i < count; i++) {
        const struct tc_header *h = &body[i];
        if (!tc_header_valid_checksum(h) || tc_header_invalid(h) != NULL) return false;
        if (h->cluster != replica->options.cluster || h->group != replica->options.group) return false;
        if (h->op != header->op - (count - 1 - i)) return false;
        if (h->command == TC_COMMAND_RESERVED) {
            if (start_view || h->request > 1) return false;
            continue;
        }
        if (h->command != TC_COMMAND_PREPARE) return false;
        if (start_view && i > 0 && !tc_checksum_equal(&h->parent, &body[i - 1].checksum)) {
            return false;
        }
    }
    const struct tc_header *last = &body[count - 1];
    if (last->command != TC_COMMAND_PREPARE) return false;
    return tc_checksum_equal(&last->checksum, &header->context);
}

void replica_on_do_view_change(struct tc_replica *replica, const struct tc_header *header,
                               const uint8_t *body) {
    if (!view_change_allowed(replica)) return;
    uint32_t count = (header->size - TC_HEADER_SIZE) / TC_HEADER_SIZE;
    const struct tc_header *headers = (const struct tc_header *)(const void *)body;
    if (!view_body_valid(replica, header, headers, count)) {
        replica->messages_dropped_invalid++;
        return;
    }
    if (header->view < replica->view) return;
    if (header->view > replica->view) {
        // A do_view_change is only sent after a quorum voted: join that view.
        replica_view_change_start(replica, header->view);
    }
    if (replica_primary_index(replica, replica->view) != replica->replica) return;
    if (replica->state != TC_REPLICA_VIEW_CHANGE || replica->pending_normal) return;
    struct dvc_record *record = &replica->dvcs[header->replica];
    record->present = true;
    record->header = *header;
    record->count = count;
    memcpy(record->headers, headers, (uint64_t)count * sizeof(struct tc_header));
    replica_view_change_progress(replica);
}

// ---------------------------------------------------------------------------------------------
// The new primary: canonical log, repair, nack truncation, start_view.

// The epoch of the prepare at the head of a do_view_change's log (the epoch it was prepared in).
static uint32_t dvc_head_epoch(const struct dvc_record *record) {
    return record->headers[record->count - 1].epoch;
}

// Orders do_view_change logs by recency: the epoch of the head prepare, then log_view (docs/vsr.md
// §5, §11.4). View numbers do not grow across an epoch change: each member enters epoch e+1 at
// its own view + 1, so a member that lagged in epoch e may open e+1's views below views that e
// used after the reconfigure op R was prepared, and a log_view of epoch e carried into e+1 then
// outranked the logs of e+1's own views (seed 1292 --reconfig-heavy: log_view 13 of epoch 0, head
// R = 14, beat log_view 11 of epoch 1, head 19 with ops 15..19 committed). Every member of e+1
// holds R's committed chain and nothing of epoch e above it, so a log whose head was prepared in
// an older epoch ends at R; a log holding a prepare of e+1 was installed in a view of e+1, and
// those view numbers order among themselves as in any one epoch.
static int dvc_rank_compare(const struct dvc_record *a, const struct dvc_record *b) {
    uint32_t epoch_a = dvc_head_epoch(a);
    uint32_t epoch_b = dvc_head_epoch(b);
    if (epoch_a != epoch_b) return epoch_a > epoch_b ? 1 : -1;
    if (a->header.log_view != b->header.log_view) {
        return a->header.log_view > b->header.log_view ? 1 : -1;
    }
    return 0;
}

static const struct dvc_record *canonical_choose(const struct tc_replica *replica) {
    const struct dvc_record *best = NULL;
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        const struct dvc_record *record = &replica->dvcs[r];
        if (!record->present || dvc_uncertain(record)) continue;
        int rank = best == NULL ? 1 : dvc_rank_compare(record, best);
        if (rank > 0) {
            best = record;
            continue;
        }
        if (rank < 0) continue;
#if defined(TC_PLANTED_BUG_VIEW_CHANGE_SHORTEST_LOG)
        if (record->header.op < best->header.op) best = record; // planted bug
#else
        if (record->header.op > best->header.op) best = record;
#endif
    }
    tc_assert(best != NULL);
    return best;
}

static void canonical_install(struct tc_replica *replica) {
    const struct dvc_record *best = canonical_choose(replica);
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        const struct dvc_record *record = &replica->dvcs[r];
        if (record->present && !dvc_uncertain(record) && record->header.commit > replica->commit_max) {
            replica->commit_max = record->header.commit;
        }
        // The canonical log holds every op a sender knew committed when it sent (I3): the op
        // was in a quorum's logs at a log_view no lower than the sender's (seed 1989 broke this
        // across an epoch change, before recovery kept the ops up to the epoch's op).
        tc_assert(!record->present || dvc_uncertain(record) ||
                  record->header.commit <= best->header.op);
    }
    // Install the hash-chained top of the canonical suffix (anything below a placeholder or a
    // broken link is repaired along the hash chain).
    uint32_t first = best->count - 1;
    tc_assert(best->headers[first].command == TC_COMMAND_PREPARE);
    while (first > 0 && best->headers[first - 1].command == TC_COMMAND_PREPARE &&
           tc_checksum_equal(&best->headers[first].parent, &best->headers[first - 1].checksum)) {
        first--;
    }
    uint64_t head = best->header.op;
    tc_assert(head >= replica->commit_min);
    replica_log_install(replica, &best->headers[first], best->count - first);
    if (head > TC_PIPELINE_PREPARE_MAX && replica->commit_max < head - TC_PIPELINE_PREPARE_MAX) {
        replica->commit_max = head - TC_PIPELINE_PREPARE_MAX;
    }
    if (replica->commit_max > head) replica->commit_max = head;
    replica->canonical_installed = true;
    replica_log(replica, TC_LOG_INFO, "canonical log from r%u log_view=%u head=%llu",
                best->header.replica, best->header.log_view, (unsigned long long)head);
}

// Whether the do_view_change of `record` says its sender never prepared (op, checksum); `view` is
// the prepare's view when its header is known, else 0. A sender with an uncertain head may have
// lost the top of its log, so it nacks only prepares from views after its log_view: it acknowledges
// prepares only while normal in its log_view, and it is now durably in a later view.
static bool dvc_nacks(const struct dvc_record *record, uint64_t op,
                      const struct tc_checksum *checksum, uint32_t view) {
    // The sender knew the op committed: it never says otherwise (defence in depth: the sender's
    // placeholders and nack bits already spare committed ops).
    if (op <= record->header.commit) return false;
    if (dvc_uncertain(record)) return view > record->header.log_view;
    uint64_t head = record->header.op;
    if (op > head) return true;
    uint64_t first = head - (record->count - 1);
    if (op < first) return false; // below its suffix: committed there
    const struct tc_header *entry = &record->headers[op - first];
    if (entry->command == TC_COMMAND_PREPARE) {
        if (!tc_checksum_equal(&entry->checksum, checksum)) return true;
        return (record->header.request & (1u << (op - first))) != 0; // held, never acknowledged
    }
    return entry->request == 0; // a blank entry nacks; a faulty one never does
}

// Truncates the lowest uncommitted op we cannot repair if a nack quorum proves it never committed.
// The do_view_change suffixes hold headers too: a header with the checksum our hash chain expects
// below op_chained_min extends the chain at once (its prepare is then repaired by checksum).
static void chain_learn_from_dvcs(struct tc_replica *replica) {
    for (uint32_t guard = 0; guard < TC_VIEW_HEADERS_MAX * TC_REPLICAS_MAX; guard++) {
        uint64_t below = replica->op_chained_min;
        if (below == 0 || below <= replica->commit_min) return;
        struct tc_checksum expected;
        const struct tc_header *upper = tc_journal_header(replica->journal, below);
        uint64_t op;
        if (upper != NULL) {
            op = below - 1;
            expected = upper->parent;
        } else if (replica->anchor_op == below) {
            op = below; // the head itself is known only by checksum
            expected = replica->anchor_checksum;
        } else {
            return;
        }
        const struct tc_header *found = NULL;
        for (uint8_t r = 0; r < replica->replica_count && found == NULL; r++) {
            const struct dvc_record *record = &replica->dvcs[r];
            if (!record->present || op > record->header.op) continue;
            uint64_t first = record->header.op - (record->count - 1);
            if (op < first) continue;
            const struct tc_header *entry = &record->headers[op - first];
            if (entry->command == TC_COMMAND_PREPARE &&
                tc_checksum_equal(&entry->checksum, &expected)) {
                found = entry;
            }
        }
        if (found == NULL) return;
        if (op == replica->anchor_op) replica->anchor_op = 0;
        replica_log_set(replica, found);
        if (replica->op_chained_min == below && upper != NULL) return; // no progress
    }
}

static uint32_t dvc_nack_count(const struct tc_replica *replica, uint64_t op,
                               const struct tc_checksum *checksum, uint32_t view) {
    uint32_t nacks = 0;
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        if (replica->dvcs[r].present && dvc_nacks(&replica->dvcs[r], op, checksum, view)) nacks++;
    }
    return nacks;
}

// The prepare at `op` that the primary of the highest log_view among the do_view_changes created
// (its header's `view` is that log_view), or NULL. Such a header is unique: a primary prepares each
// op once per view and a restarted primary never leads its view again. Conflicting copies would be
// a protocol violation: we then refuse to choose.
static const struct tc_header *dvc_log_view_prepare(struct tc_replica *replica, uint64_t op) {
    // The highest log_view in the canonical order (dvc_rank_compare): a view number may recur in
    // another epoch, so its primary's prepares are those of the canonical log's head epoch.
    const struct dvc_record *best = canonical_choose(replica);
    uint32_t log_view_max = best->header.log_view;
    uint32_t epoch = dvc_head_epoch(best);
    const struct tc_header *found = NULL;
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        const struct dvc_record *record = &replica->dvcs[r];
        if (!record->present || op > record->header.op) continue;
        uint64_t first = record->header.op - (record->count - 1);
        if (op < first) continue;
        const struct tc_header *entry = &record->headers[op - first];
        if (entry->command != TC_COMMAND_PREPARE || entry->view != log_view_max ||
            entry->epoch != epoch) {
            continue;
        }
        if (found != NULL && !tc_checksum_equal(&found->checksum, &entry->checksum)) {
            replica_log(replica, TC_LOG_ERROR, "two prepares for op %llu in view %u",
                        (unsigned long long)op, log_view_max);
            return NULL;
        }
        found = entry;
    }
    return found;
}

// The committed prepare at `op` (<= commit_max): ours if we applied it, else one from a certain
// do_view_change whose sender knew it committed (a log is canonical up to its sender's commit).
static const struct tc_header *dvc_committed_prepare(const struct tc_replica *replica,
                                                     uint64_t op) {
    tc_assert(op <= replica->commit_max);
    if (op <= replica->commit_min) return tc_journal_header(replica->journal, op);
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        const struct dvc_record *record = &replica->dvcs[r];
        if (!record->present || dvc_uncertain(record) || record->header.commit < op) continue;
        uint64_t first = record->header.op - (record->count - 1);
        if (op < first || op > record->header.op) continue;
        const struct tc_header *entry = &record->headers[op - first];
        if (entry->command == TC_COMMAND_PREPARE) return entry;
    }
    return NULL;
}

// Whether the do_view_change of `record` proves its sender never acknowledged any version of `op`:
// a certain head below it, or a blank placeholder. A held prepare may be the canonical version (an
// op keeps the view it was first prepared in), so it never counts here.
static bool dvc_nacks_any(const struct dvc_record *record, uint64_t op) {
    if (op <= record->header.commit || dvc_uncertain(record)) return false;
    uint64_t head = record->header.op;
    if (op > head) return true;
    uint64_t first = head - (record->count - 1);
    if (op < first) return false;
    const struct tc_header *entry = &record->headers[op - first];
    return entry->command != TC_COMMAND_PREPARE && entry->request == 0;
}

static uint32_t dvc_nack_any_count(const struct tc_replica *replica, uint64_t op) {
    uint32_t nacks = 0;
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        if (replica->dvcs[r].present && dvc_nacks_any(&replica->dvcs[r], op)) nacks++;
    }
    return nacks;
}

// The op just below our chained suffix may be held by nobody, not even as a header (its only copy
// was an unsynced write on a primary that crashed): we know its checksum only as the parent of the
// op above. If a nack quorum proves that it never committed, nothing above it did either, and the
// log is cut below it. The new head must be the op of the highest log_view's primary there (that
// primary's log holds every committed op), identified by its view. Below an op nobody holds, the
// ops under it may be lost the same way: while a nack quorum proves that no version of the next op
// down committed either, the cut moves down; without a head we keep waiting.
static bool nack_truncate_unknown(struct tc_replica *replica) {
    uint64_t below = replica->op_chained_min;
    if (below < 2 || below - 1 <= replica->commit_max) return false;
    uint64_t op = below - 1;
    const struct tc_header *upper = tc_journal_header(replica->journal, below);
    if (upper == NULL || tc_journal_header(replica->journal, op) != NULL) return false;
    struct tc_checksum checksum = upper->parent;
    uint32_t nacks = dvc_nack_count(replica, op, &checksum, 0);
    if (nacks < replica->quorum_nack) return false;
    const struct tc_header *head = NULL;
    uint64_t head_op = op - 1;
    for (uint32_t guard = 0; guard < TC_VIEW_HEADERS_MAX; guard++) {
        head = head_op <= replica->commit_max ? dvc_committed_prepare(replica, head_op)
                                              : dvc_log_view_prepare(replica, head_op);
        if (head != NULL) break;
        if (head_op <= replica->commit_max + 1 || head_op < 2) return false;
        if (dvc_nack_any_count(replica, head_op) < replica->quorum_nack) return false;
        head_op--;
    }
    if (head == NULL) return false;
    tc_assert(head->op == head_op);
    tc_assert(head_op >= replica->commit_min);
    struct tc_header head_copy = *head;
    replica_log(replica, TC_LOG_INFO,
                "nack quorum (%u) for unknown op %llu: truncating from it (new head %llu)", nacks,
                (unsigned long long)op, (unsigned long long)head_op);
    replica_log_truncate(replica, head_op);
    replica_log_set(replica, &head_copy);
    tc_assert(replica->op_head == head_op);
    tc_assert(replica->op_chained_min <= head_op);
    return true;
}

// Truncates the lowest uncommitted op we cannot repair if a nack quorum proves it never committed.
// Only ops in our hash-chained (canonical) suffix are candidates, and the new head must be the
// canonical parent of the truncated op: our own entry there may be stale.
static void nack_truncate(struct tc_replica *replica) {
    if (nack_truncate_unknown(replica)) return;
    uint64_t from = replica->commit_max + 1;
    if (from < replica->op_chained_min) from = replica->op_chained_min;
    for (uint64_t op = from; op <= replica->op_head; op++) {
        if (replica_log_clean(replica, op)) continue;
        const struct tc_header *entry = tc_journal_header(replica->journal, op);
        if (entry == NULL) continue; // known only by checksum: its parent is unknown
        struct tc_checksum checksum = entry->checksum;
        struct tc_checksum parent = entry->parent;
        uint32_t nacks = dvc_nack_count(replica, op, &checksum, entry->view);
        if (nacks < replica->quorum_nack) continue;
        replica_log(replica, TC_LOG_INFO, "nack quorum (%u): truncating from op %llu", nacks,
                    (unsigned long long)op);
        uint64_t head = op - 1;
        bool head_chained = head >= replica->op_chained_min;
        replica_log_truncate(replica, head);
        const struct tc_header *new_head = tc_journal_header(replica->journal, head);
        if (!head_chained && (new_head == NULL || !tc_checksum_equal(&new_head->checksum, &parent))) {
            tc_assert(head > replica->commit_min); // a committed op always chains
            if (new_head != NULL) tc_journal_remove(replica->journal, head);
            replica->anchor_op = head;
            replica->anchor_checksum = parent;
            replica->op_chained_min = head;
        }
        return;
    }
}

// The new primary needs its uncommitted suffix (commit_max, op_head] durable and hash-chained down
// to a committed op. Committed ops it lacks below are repaired while it already serves as primary
// (it applies nothing, and accepts no request, until its commits catch up).
static bool log_repaired(const struct tc_replica *replica) {
    if (replica->op_chained_min > replica->commit_max) return false;
    if (tc_journal_header(replica->journal, replica->op_head) == NULL) return false;
    for (uint64_t op = replica->commit_max + 1; op <= replica->op_head; op++) {
        if (!replica_log_clean(replica, op)) return false;
    }
    return true;
}

// Debug aid: what a new primary is still waiting for: the chain link below op_chained_min while
// that is above commit_max, else the lowest uncommitted op that is not clean.
static void view_change_waiting_log(struct tc_replica *replica) {
    if (replica->io->log_level < TC_LOG_DEBUG) return;
    uint64_t op = replica->op_chained_min > replica->commit_max ? replica->op_chained_min - 1 : 0;
    for (uint64_t o = replica->commit_max + 1; op == 0 && o <= replica->op_head; o++) {
        if (!replica_log_clean(replica, o)) op = o;
    }
    if (op == 0) op = replica->op_head; // the head itself is known only by checksum
    const struct tc_header *entry = tc_journal_header(replica->journal, op);
    struct tc_checksum checksum = {0};
    if (entry != NULL) checksum = entry->checksum;
    const struct tc_header *upper = tc_journal_header(replica->journal, op + 1);
    if (entry == NULL && upper != NULL) checksum = upper->parent;
    replica_log(replica, TC_LOG_DEBUG,
                "view change waits for op %llu (state %d corrupt %d known %d nacks %u "
                "chained_min %llu)", (unsigned long long)op,
                (int)tc_journal_slot_state(replica->journal, op),
                (int)tc_journal_slot_corrupt(replica->journal, op), entry != NULL,
                dvc_nack_count(replica, op, &checksum, entry == NULL ? 0 : entry->view),
                (unsigned long long)replica->op_chained_min);
}

void replica_view_change_progress(struct tc_replica *replica) {
    if (replica->state != TC_REPLICA_VIEW_CHANGE || replica->pending_normal) return;
    if (replica_primary_index(replica, replica->view) != replica->replica) return;
    if (replica->view_lead_forbidden == replica->view) return;
    if (replica->head_uncertain) return; // cannot lead: its own log may lack acknowledged ops
    if (!replica->dvcs[replica->replica].present) return;
    uint32_t count = 0;
    for (uint8_t r = 0; r < replica->replica_count; r++) {
        const struct dvc_record *record = &replica->dvcs[r];
        if (record->present && !dvc_uncertain(record)) count++;
    }
    if (count < replica->quorum_view_change) return;
    if (!replica->canonical_installed) {
        const struct dvc_record *best = canonical_choose(replica);
        if (best->header.op < replica->commit_min) {
            // Every committed op is in some do_view_change of a quorum of the view being formed,
            // so this quorum's view was superseded before we committed (we synced a checkpoint the
            // group took in a later view, then delayed do_view_changes of a dead view arrived:
            // seed 698 --reconfig-heavy). We never lead it; the live primary's heartbeats bring
            // us into its view.
            replica_log(replica, TC_LOG_WARN, "view %u is stale: its canonical head %llu is below "
                        "our commit %llu", replica->view, (unsigned long long)best->header.op,
                        (unsigned long long)replica->commit_min);
            replica->view_lead_forbidden = replica->view;
            return;
        }
        if (best->header.op > replica_op_write_max(replica)) {
            // Our journal cannot hold the canonical head before our next checkpoint: we are too
            // far behind to lead (state sync, docs/vsr.md §11.3); the view change moves on.
            replica_log(replica, TC_LOG_WARN, "canonical head %llu beyond our journal (max %llu)",
                        (unsigned long long)best->header.op,
                        (unsigned long long)replica_op_write_max(replica));
            replica_sync_start(replica, best->header.replica);
            return;
        }
        canonical_install(replica);
    }
    chain_learn_from_dvcs(replica);
    nack_truncate(replica);
    if (!log_repaired(replica)) {
        view_change_waiting_log(replica);
        return;
    }
    replica->log_view = replica->view;
    replica->view_headers_count =
        replica_view_headers_build(replica, replica->view_headers, replica->op_head, false);
    tc_assert(replica->view_headers_count >= 1);
    replica->pending_normal = true;
    replica_persist_view(replica);
}

void replica_send_start_view(struct tc_replica *replica, uint8_t target) {
    struct tc_header *header = (struct tc_header *)(void *)replica->send_buffer;
    struct tc_header *body = header + 1;
    uint32_t count = replica_view_headers_build(replica, body, replica->op_head, false);
    tc_assert(count >= 1);
    replica_header_init(replica, header, TC_COMMAND_START_VIEW);
    header->log_view = replica->view;
    header->op = replica->op_head;
    header->commit = replica->commit_max;
    header->context = body[count - 1].checksum;
    header->size = TC_HEADER_SIZE * (1 + count);
    tc_header_set_checksum_body(header, (const uint8_t *)body, TC_HEADER_SIZE * count);
    tc_header_set_checksum(header);
    replica_send(replica, target, replica->send_buffer);
}

static void become_normal(struct tc_replica *replica) {
    tc_assert(replica->state == TC_REPLICA_VIEW_CHANGE);
    tc_assert(replica->pending_normal);
    tc_assert(tc_journal_durable_log_view(replica->journal) == replica->view);
    replica->state = TC_REPLICA_NORMAL;
    replica->pending_normal = false;
    replica->counters.views_normal++;
    replica->heartbeat_ticks = 0;
    replica_normal_timeout_reset(replica);
    replica_log(replica, TC_LOG_INFO, "normal (%s)", replica_is_primary(replica) ? "primary" : "backup");
    if (replica_is_primary(replica)) {
        replica_pipeline_from_log(replica);
        for (uint8_t r = 0; r < replica->replica_count; r++) {
            if (r != replica->replica) replica_send_start_view(replica, r);
        }
        replica_primary_commit_quorum(replica); // a single replica is its own quorum
    } else {
        replica_send_prepare_ok(replica); // also reports our durable checkpoint
    }
    replica_commit_journal(replica);
}

// Called when a superblock write completes (and after recovery): act on what is now durable.
void replica_view_on_superblock(struct tc_replica *replica) {
    if (tc_journal_superblock_busy(replica->journal)) return;
    if (replica->state != TC_REPLICA_VIEW_CHANGE) return;
    if (replica->pending_normal) {
        if (tc_journal_durable_log_view(replica->journal) == replica->view) become_normal(replica);
        return;
    }
    if (!replica->dvc_sent && tc_journal_durable_view(replica->journal) == replica->view) {
        send_do_view_change(replica, false);
    }
}

// ---------------------------------------------------------------------------------------------
// Backups: start_view and request_start_view.

void replica_on_start_view(struct tc_replica *replica, const struct tc_header *header,
                           const uint8_t *body) {
    if (replica->state == TC_REPLICA_RECOVERING || replica->state == TC_REPLICA_STOPPED) return;
    uint32_t count = (header->size - TC_HEADER_SIZE) / TC_HEADER_SIZE;
    const struct tc_header *headers = (const struct tc_header *)(const void *)body;
    if (!view_body_valid(replica, header, headers, count)) {
        replica->messages_dropped_invalid++;
        return;
    }
    if (header->view < replica->view) return;
    if (header->view == replica->view && replica->state == TC_REPLICA_NORMAL) return;
    if (header->replica != replica_primary_index(replica, header->view)) return;
    if (header->op < replica->commit_min) {
        replica_log(replica, TC_LOG_ERROR, "start_view head below our commit: ignored");
        return;
    }
    if (header->op > replica_op_write_max(replica)) {
        replica_log(replica, TC_LOG_WARN, "start_view head %llu beyond our journal (max %llu): "
                    "waiting for our checkpoint", (unsigned long long)header->op,
                    (unsigned long long)replica_op_write_max(replica));
        // The view is established: leave ours (we may be its old primary) while we sync.
        if (header->view > replica->view && view_change_allowed(replica)) {
            replica_view_change_start(replica, header->view);
        }
        replica_sync_start(replica, header->replica);
        return;
    }
    replica->view = header->view;
    replica->state = TC_REPLICA_VIEW_CHANGE;
    replica->head_uncertain = false; // the start_view's suffix is the canonical head
    replica->canonical_installed = false;
    replica->dvc_sent = true;
    replica->pending_normal = true;
    replica_pipeline_reset(replica);
    replica_log_install(replica, headers, count);
    uint64_t commit = header->commit;
    if (header->op > TC_PIPELINE_PREPARE_MAX && commit < header->op - TC_PIPELINE_PREPARE_MAX) {
        commit = header->op - TC_PIPELINE_PREPARE_MAX;
    }
    if (commit > replica->commit_max) replica->commit_max = commit;
    replica->log_view = header->view;
    replica->view_headers_count = count;
    memcpy(replica->view_headers, headers, (uint64_t)count * sizeof(struct tc_header));
    replica_persist_view(replica); // log_view durable before any prepare_ok
    replica_repair(replica);
}

void replica_on_request_start_view(struct tc_replica *replica, const struct tc_header *header) {
    if (replica->state != TC_REPLICA_NORMAL || !replica_is_primary(replica)) return;
    if (header->view > replica->view) return;
    replica_send_start_view(replica, header->replica);
}

int tc_replica_transfer_leadership(struct tc_replica *replica, uint8_t target) {
    if (target >= replica->replica_count || target == replica->replica) return TC_EINVAL;
    if (replica->state != TC_REPLICA_NORMAL || !replica_is_primary(replica)) return TC_EPERM;
    if (replica->abdicating) return TC_EPERM;
    uint32_t view = replica->view + 1;
    while (replica_primary_index(replica, view) != target) view++;
    tc_assert(view - replica->view <= replica->replica_count);
    replica_log(replica, TC_LOG_INFO, "leadership transfer to r%u: view %u", target, view);
    replica->abdicating = true; // no new requests, no heartbeats: the group moves on
    replica_vote(replica, view);
    return TC_OK;
}

void replica_on_start_view_change(struct tc_replica *replica, const struct tc_header *header) {
    if (!view_change_allowed(replica)) return;
    // Our own primary wants to leave its view (leadership transfer or abdication): follow at once
    // rather than after our normal timeout. Votes are always safe; only the primary's count here.
    if (replica->state == TC_REPLICA_NORMAL && header->view > replica->view &&
        header->replica == replica_primary_index(replica, replica->view) &&
        !replica_is_primary(replica) && replica->svc_votes[replica->replica] < header->view) {
        if (header->view > replica->svc_votes[header->replica]) {
            replica->svc_votes[header->replica] = header->view;
        }
        replica_vote(replica, header->view);
        return;
    }
    if (header->view > replica->svc_votes[header->replica]) {
        replica->svc_votes[header->replica] = header->view;
    }
    replica_view_change_check_quorum(replica);
    // A vote to leave view w - 1 means its sender reached view w - 1, which a quorum established:
    // if we are behind it (say, a primary of an older view nobody follows any more), ask its
    // primary for the log instead of leaving the group split.
    uint32_t established = header->view - 1;
    uint8_t primary = replica_primary_index(replica, established);
    if (established > replica->view && primary != replica->replica) {
        struct tc_header rsv;
        replica_header_init(replica, &rsv, TC_COMMAND_REQUEST_START_VIEW);
        rsv.view = established;
        replica_send_header(replica, primary, &rsv);
    }
    // Our view is superseded for certain: join the vote to leave `established` too (its primary may
    // be gone, and the voter may need us for a quorum).
    if (established > replica->view && view_change_allowed(replica) &&
        replica->svc_votes[replica->replica] < header->view) {
        replica_vote(replica, header->view);
    }
}

// ---------------------------------------------------------------------------------------------
// Timers.

void replica_view_tick(struct tc_replica *replica) {
    bool resend = ++replica->resend_ticks >= replica->options.heartbeat_timeout_ticks;
    if (resend) replica->resend_ticks = 0;
    if (replica->state == TC_REPLICA_RECOVERING_HEAD) {
        if (++replica->view_change_ticks < replica->options.view_change_timeout_ticks) return;
        replica->view_change_ticks = 0;
        struct tc_header rsv;
        replica_header_init(replica, &rsv, TC_COMMAND_REQUEST_START_VIEW);
        tc_header_set_checksum_body(&rsv, NULL, 0);
        tc_header_set_checksum(&rsv);
        for (uint8_t r = 0; r < replica->replica_count; r++) {
            if (r != replica->replica) replica_send(replica, r, (const uint8_t *)&rsv);
        }
        return;
    }
    if (resend && replica->svc_votes[replica->replica] > replica->view) broadcast_vote(replica);
    if (replica->state != TC_REPLICA_VIEW_CHANGE) return;
    if (resend && replica->dvc_sent && !replica->pending_normal &&
        !tc_journal_superblock_busy(replica->journal)) {
        send_do_view_change(replica, true);
    }
    if (++replica->view_change_ticks >= replica->options.view_change_timeout_ticks) {
        replica->view_change_ticks = 0;
        replica_vote(replica, replica->view + 1);
    }
}
