#include <stdlib.h>
#include <string.h>

#include "sim_cluster.h"
#include "tc_assert.h"
#include "tc_le.h"
#include "tc_err.h"

// Invariant checkers. The canonical history of a group is built from commit hooks: the first
// replica to commit op k defines it, every other commit of op k (on any replica, before or after
// a restart) must match it byte for byte (prepare checksum and reply checksum).
//
//  commit_order         a replica commits k = previous + 1 (from any op <= canonical + 1 after a
//                       restart, where it rebuilds its state by replaying)
//  commit_agreement     every replica commits the same prepare at op k
//  reply_determinism    every replica's state machine produces the same reply bytes at op k
//  hash_chain           the canonical prepare at k names the canonical prepare at k - 1 as parent
//  timestamp_monotonic  prepare timestamps strictly increase along the committed log
//  request_exactly_once no (client, request) is applied twice (committed ops the replica does
//                       not apply, without a reply, may repeat a request)
//  model                every chat reply equals the reference model's results
//  client_reply_*       every reply a client accepts is the canonical reply of a committed op
//  log_committed_header a replica's log never shows another header for a committed op
//  ack_durable          (sim_durability.c) a prepare a replica acknowledged is still on its disk
//                       after a crash, unless it was superseded (never committed)
//  idempotency_*        (sim_workload.c) a re-sent key returns the original (seq, hash)
//  liveness             (sim_run.c) the core converges within the tick budget
//  state_digest         the core agrees on tc_room_digest; chain heads, read markers and the
//                       redaction table equal the model's

static void commits_reserve(struct sim_group *group, uint64_t count) {
    if (count <= group->commit_capacity) return;
    uint64_t capacity = tc_max_u64(group->commit_capacity * 2, 1024);
    struct sim_commit *commits = realloc(group->commits, capacity * sizeof(struct sim_commit));
    tc_assert(commits != NULL);
    group->commits = commits;
    group->commit_capacity = capacity;
}

static uint64_t request_slot(uint64_t client, uint64_t request, uint64_t capacity) {
    uint64_t state = client ^ (request * 0x9e3779b97f4a7c15ull);
    return tc_prng_splitmix64(&state) & (capacity - 1);
}

// The set of committed (client, request) pairs: entries are (client, request + 1), 0 is empty.
static bool request_keys_insert(struct sim_group *group, uint64_t client, uint64_t request);

static void request_keys_grow(struct sim_group *group) {
    uint64_t old_capacity = group->request_keys_capacity;
    uint64_t *old = group->request_keys;
    group->request_keys_capacity = tc_max_u64(old_capacity * 2, 1024);
    group->request_keys = calloc(group->request_keys_capacity, 2 * sizeof(uint64_t));
    tc_assert(group->request_keys != NULL);
    group->request_keys_count = 0;
    for (uint64_t i = 0; i < old_capacity; i++) {
        if (old[2 * i + 1] != 0) {
            bool inserted = request_keys_insert(group, old[2 * i], old[2 * i + 1] - 1);
            tc_assert(inserted);
        }
    }
    free(old);
}

static bool request_keys_insert(struct sim_group *group, uint64_t client, uint64_t request) {
    if ((group->request_keys_count + 1) * 2 > group->request_keys_capacity) {
        request_keys_grow(group);
    }
    uint64_t capacity = group->request_keys_capacity;
    uint64_t slot = request_slot(client, request, capacity);
    for (uint64_t probe = 0; probe < capacity; probe++) {
        uint64_t *entry = &group->request_keys[2 * slot];
        if (entry[1] == 0) {
            entry[0] = client;
            entry[1] = request + 1;
            group->request_keys_count += 1;
            return true;
        }
        if (entry[0] == client && entry[1] == request + 1) return false;
        slot = (slot + 1) & (capacity - 1);
    }
    tc_unreachable();
    return false;
}

int sim_checker_init(struct sim_cluster *cluster) {
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        struct sim_group *group = &cluster->groups[g];
        commits_reserve(group, 1024);
        struct tc_header root;
        tc_header_root_prepare(&root, cluster->cluster_id, group->index);
        struct sim_commit *commit = &group->commits[0];
        memset(commit, 0, sizeof(*commit));
        commit->checksum = root.checksum;
        commit->operation = TC_OPERATION_ROOT;
        group->commit_count = 1;
        request_keys_grow(group);
        group->model = tc_room_model_create(&group->options.room);
        group->model_results = calloc(TC_ROOM_BATCH_OPS_MAX, sizeof(struct tc_room_result));
        if (group->model == NULL || group->model_results == NULL) return TC_ENOMEM;
    }
    return TC_OK;
}

void sim_checker_deinit(struct sim_cluster *cluster) {
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        struct sim_group *group = &cluster->groups[g];
        free(group->commits);
        free(group->checkpoint_ids);
        free(group->checkpoint_seen);
        group->checkpoint_ids = NULL;
        group->checkpoint_seen = NULL;
        group->checkpoint_capacity = 0;
        free(group->request_keys);
        tc_room_model_destroy(group->model);
        free(group->model_results);
        group->commits = NULL;
        group->request_keys = NULL;
        group->model = NULL;
        group->model_results = NULL;
    }
}

static void model_check(struct sim_cluster *cluster, struct sim_group *group,
                        const struct tc_replica_commit_event *event) {
    const struct tc_header *prepare = event->prepare;
    uint32_t body_size = prepare->size - TC_HEADER_SIZE;
    uint32_t count = tc_room_model_apply(group->model, prepare->timestamp, event->body, body_size,
                                         group->model_results);
    int32_t mismatch = tc_room_model_reply_mismatch(group->model_results, count, event->reply,
                                                    event->reply_size);
    if (mismatch < 0) return;
    struct tc_room_result actual;
    memset(&actual, 0, sizeof(actual));
    int decoded = tc_room_reply_get(event->reply, event->reply_size, (uint32_t)mismatch, &actual);
    const struct tc_room_result *expected =
        (uint32_t)mismatch < count ? &group->model_results[mismatch] : NULL;
    int reply_count = tc_room_reply_count(event->reply, event->reply_size);
    sim_fail(cluster, "model",
             "group %u op %llu replica %u result %d (model results %u, replica results %d): "
             "expected status %s seq %llu dup %d, replica %s status %s seq %llu dup %d",
             group->index, (unsigned long long)event->op, event->replica, mismatch, count,
             reply_count,
             expected ? tc_room_status_name(expected->status) : "-",
             expected ? (unsigned long long)expected->seq : 0ull, expected ? expected->duplicate : 0,
             decoded == TC_OK ? "decodes" : "undecodable", tc_room_status_name(actual.status),
             (unsigned long long)actual.seq, actual.duplicate);
}

// The first commit of op k anywhere: extends the canonical history after checking it.
static void canonical_append(struct sim_cluster *cluster, struct sim_group *group,
                             const struct tc_replica_commit_event *event,
                             const struct tc_checksum *reply) {
    const struct tc_header *prepare = event->prepare;
    uint64_t op = event->op;
    tc_assert(op == group->commit_count);
    const struct sim_commit *previous = &group->commits[op - 1];
    if (!tc_checksum_equal(&prepare->parent, &previous->checksum)) {
        sim_fail(cluster, "hash_chain", "group %u op %llu: parent is not op %llu's checksum",
                 group->index, (unsigned long long)op, (unsigned long long)(op - 1));
    }
    if (prepare->timestamp <= previous->timestamp) {
        sim_fail(cluster, "timestamp_monotonic", "group %u op %llu: timestamp %llu <= %llu",
                 group->index, (unsigned long long)op, (unsigned long long)prepare->timestamp,
                 (unsigned long long)previous->timestamp);
    }
    // The replica commits but does not apply an op whose session is gone (evicted) or whose
    // request was already applied (prepared again in a later view): such ops have no reply. Every
    // replica must agree (reply_determinism), and an applied request is applied only once.
    // Registration is exempt: a delayed register of an evicted client id registers it again.
    bool applied = event->reply != NULL;
    if (applied && prepare->operation == TC_OPERATION_CHAT &&
        !request_keys_insert(group, prepare->client, prepare->request)) {
        sim_fail(cluster, "request_exactly_once",
                 "group %u op %llu: client %llx request %u committed twice", group->index,
                 (unsigned long long)op, (unsigned long long)prepare->client, prepare->request);
    }
    if (applied && prepare->operation == TC_OPERATION_CHAT) model_check(cluster, group, event);
    if (applied && prepare->operation == TC_OPERATION_RECONFIGURE &&
        event->reply_size == TC_RECONFIGURE_REPLY_SIZE &&
        tc_le_get_u32(event->reply) == TC_RECONFIGURE_OK) {
        uint32_t epoch = tc_le_get_u32(event->reply + 4);
        if (epoch > group->epoch) group->epoch = epoch; // routing follows the committed epoch
    }
    commits_reserve(group, op + 1);
    struct sim_commit *commit = &group->commits[op];
    memset(commit, 0, sizeof(*commit));
    commit->checksum = prepare->checksum;
    commit->parent = prepare->parent;
    commit->reply = *reply;
    commit->timestamp = prepare->timestamp;
    commit->client = prepare->client;
    commit->request = prepare->request;
    commit->operation = prepare->operation;
    group->commit_count = op + 1;
    sim_durability_on_commit(cluster, group, op);
    sim_durability_commit_quorum(cluster, group, prepare);
}

static bool commit_order(struct sim_cluster *cluster, struct sim_replica *replica, uint64_t op) {
    struct sim_group *group = replica->group;
    // After a (re)start, or a state sync (a checkpoint beyond what it committed): the op after
    // its checkpoint. Otherwise the op after the last one.
    struct tc_replica_status status;
    tc_replica_status_get(replica->replica, &status);
    bool jumped = replica->fresh || status.checkpoint_op > replica->commit_last;
    uint64_t expected = jumped ? status.checkpoint_op + 1 : replica->commit_last + 1;
    if (op != expected || op > group->commit_count) {
        sim_fail(cluster, "commit_order", "group %u replica %u committed op %llu after %llu%s",
                 group->index, replica->index, (unsigned long long)op,
                 (unsigned long long)replica->commit_last, replica->fresh ? " (restart)" : "");
        return false;
    }
    replica->fresh = false;
    replica->commit_last = op;
    return true;
}

void sim_checker_commit_hook(void *context, const struct tc_replica_commit_event *event) {
    struct sim_replica *replica = context;
    struct sim_cluster *cluster = replica->cluster;
    struct sim_group *group = replica->group;
    const struct tc_header *prepare = event->prepare;
    if (event->replica != replica->index || prepare->op != event->op ||
        !tc_header_valid_checksum(prepare) || prepare->command != TC_COMMAND_PREPARE) {
        sim_fail(cluster, "commit_event", "group %u replica %u op %llu: malformed commit event",
                 group->index, replica->index, (unsigned long long)event->op);
        return;
    }
    if (!commit_order(cluster, replica, event->op)) return;
    struct tc_checksum reply;
    tc_checksum_compute(&reply, event->reply, event->reply == NULL ? 0 : event->reply_size);
    if (event->op == group->commit_count) {
        canonical_append(cluster, group, event, &reply);
        return;
    }
    const struct sim_commit *canonical = &group->commits[event->op];
    if (!tc_checksum_equal(&canonical->checksum, &prepare->checksum)) {
        sim_fail(cluster, "commit_agreement", "group %u replica %u op %llu: another prepare",
                 group->index, replica->index, (unsigned long long)event->op);
    } else if (!tc_checksum_equal(&canonical->reply, &reply)) {
        sim_fail(cluster, "reply_determinism", "group %u replica %u op %llu: other reply bytes",
                 group->index, replica->index, (unsigned long long)event->op);
    }
}

void sim_checker_client_reply(struct sim_cluster *cluster, struct sim_session *session,
                              const struct tc_header *reply, const uint8_t *body,
                              uint32_t body_size) {
    struct sim_group *group = session->group;
    cluster->client_replies += 1;
    if (reply->op >= group->commit_count) {
        sim_fail(cluster, "client_reply_uncommitted",
                 "group %u client %llx request %u: reply for op %llu, highest commit %llu",
                 group->index, (unsigned long long)reply->client, reply->request,
                 (unsigned long long)reply->op, (unsigned long long)(group->commit_count - 1));
        return;
    }
    const struct sim_commit *commit = &group->commits[reply->op];
    struct tc_checksum checksum;
    tc_checksum_compute(&checksum, body, body_size);
    if (!tc_checksum_equal(&commit->checksum, &reply->parent) || commit->client != reply->client ||
        commit->request != reply->request || commit->operation != reply->operation) {
        sim_fail(cluster, "client_reply_op", "group %u op %llu: reply is not the committed op's",
                 group->index, (unsigned long long)reply->op);
    } else if (!tc_checksum_equal(&commit->reply, &checksum)) {
        sim_fail(cluster, "client_reply_body", "group %u op %llu: reply body differs from commit",
                 group->index, (unsigned long long)reply->op);
    }
}

// Replicas that applied the same ops hold byte-identical checkpoints (checkpoint id = checksum).
static void checkpoint_agreement(struct sim_cluster *cluster, struct sim_group *group,
                                 uint8_t r, const struct tc_replica_status *status) {
    if (status->checkpoint_op == 0) return;
    uint64_t interval = tc_replica_checkpoint_interval(&group->options);
    tc_assert(status->checkpoint_op % interval == 0);
    uint64_t index = status->checkpoint_op / interval;
    if (index >= group->checkpoint_capacity) {
        uint64_t capacity = index * 2 + 16;
        group->checkpoint_ids = realloc(group->checkpoint_ids, capacity * sizeof(struct tc_checksum));
        group->checkpoint_seen = realloc(group->checkpoint_seen, capacity * sizeof(bool));
        tc_assert(group->checkpoint_ids != NULL && group->checkpoint_seen != NULL);
        memset(group->checkpoint_seen + group->checkpoint_capacity, 0,
               (capacity - group->checkpoint_capacity) * sizeof(bool));
        group->checkpoint_capacity = capacity;
    }
    if (!group->checkpoint_seen[index]) {
        group->checkpoint_seen[index] = true;
        group->checkpoint_ids[index] = status->checkpoint_id;
        return;
    }
    if (!tc_checksum_equal(&group->checkpoint_ids[index], &status->checkpoint_id)) {
        sim_fail(cluster, "checkpoint_agreement",
                 "group %u replica %u: checkpoint at op %llu differs from another replica's",
                 group->index, r, (unsigned long long)status->checkpoint_op);
    }
}

// The holder of `group` that sends from `endpoint` (NULL: none now).
static const struct sim_replica *holder_at(struct sim_group *group, uint32_t endpoint) {
    for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
        const struct sim_replica *holder = sim_holder(group, h);
        if (holder != NULL && holder->endpoint == endpoint) return holder;
    }
    return NULL;
}

void sim_checker_on_deliver(struct sim_replica *to, uint32_t from_endpoint,
                            const uint8_t *message) {
    struct tc_header header;
    memcpy(&header, message, sizeof(header));
    if (header.command != TC_COMMAND_DO_VIEW_CHANGE || to->replica == NULL) return;
    struct tc_replica_status status;
    tc_replica_status_get(to->replica, &status);
    if (header.view < to->dvc_view) return; // a late one for a view we left (resent, delayed)
    if (header.view > to->dvc_view || status.acting_epoch != to->dvc_epoch) {
        to->dvc_view = header.view;
        to->dvc_epoch = status.acting_epoch;
        to->dvc_slots = 0;
        to->dvc_checked = false;
    }
    // Counted only from the member of its slot in the receiver's epoch: what a correct receiver
    // accepts. Anything else a primary used would be missing from its count.
    if (header.epoch != status.acting_epoch || header.replica >= to->group->replica_count) return;
    const struct sim_replica *sender = holder_at(to->group, from_endpoint);
    if (sender == NULL || sender != sim_member(to->group, header.replica, header.epoch)) return;
    to->dvc_slots |= (uint8_t)(1u << header.replica);
}

// view_change_quorum: a primary first seen normal in a view formed it from the do_view_changes of
// a view-change quorum of its epoch's members (its own counts; it never sends it) that reached it.
// Catches one counted from a replica that is not its epoch's member for its slot (planted bug
// old_epoch_accepted).
static void view_change_quorum(struct sim_cluster *cluster, struct sim_group *group,
                               struct sim_replica *primary, const struct tc_replica_status *status) {
    if (primary->dvc_view != status->view || primary->dvc_epoch != status->acting_epoch) return;
    if (primary->dvc_checked) return;
    primary->dvc_checked = true;
    cluster->stats.view_change_quorums_checked += 1;
    uint32_t count = 1; // the primary's own
    for (uint8_t slot = 0; slot < group->replica_count; slot++) {
        if (slot != primary->index && (primary->dvc_slots & (1u << slot)) != 0) count++;
    }
    uint32_t f = (group->replica_count - 1u) / 2u;
    if (count < group->replica_count - f) {
        sim_fail(cluster, "view_change_quorum",
                 "group %u: r%u leads view %u of epoch %u with do_view_changes from %u members "
                 "(a quorum is %u)", group->index, primary->index, status->view,
                 status->acting_epoch, count, group->replica_count - f);
    }
}

// Samples one replica per group per tick: a header its log shows for an op it committed must be
// the canonical one, and it cannot have applied more than the canonical history.
void sim_checker_tick(struct sim_cluster *cluster) {
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        struct sim_group *group = &cluster->groups[g];
        // Summary accounting: a view change completed when a replica is first seen normal in a
        // view higher than any before in its group.
        for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
            struct sim_replica *holder = sim_holder(group, h);
            if (holder == NULL || holder->replica == NULL) continue;
            uint8_t r = holder->index;
            struct tc_replica_status status;
            tc_replica_status_get(holder->replica, &status);
            if (status.state == TC_REPLICA_NORMAL && status.view > group->view_normal_max) {
                group->view_normal_max = status.view;
                cluster->stats.view_changes += 1;
            }
            checkpoint_agreement(cluster, group, r, &status);
            if (status.state == TC_REPLICA_NORMAL && status.primary && status.member) {
                view_change_quorum(cluster, group, holder, &status);
            }
            if (group->transfer_view != 0 && status.primary && status.view >= group->transfer_view) {
                if (r == group->transfer_target && status.view == group->transfer_view) {
                    uint64_t ticks = cluster->tick - group->transfer_tick;
                    group->transfers_done += 1;
                    group->transfer_ticks_sum += ticks;
                    if (ticks > group->transfer_ticks_max) group->transfer_ticks_max = ticks;
                }
                group->transfer_view = 0; // done, or superseded by a later view change
            }
        }
        struct sim_replica *replica = sim_holder(group, (uint32_t)(cluster->tick % SIM_HOLDERS));
        if (replica == NULL || replica->replica == NULL) continue;
        struct tc_replica_status status;
        tc_replica_status_get(replica->replica, &status);
        if (status.commit_min >= group->commit_count) {
            sim_fail(cluster, "commit_order", "group %u replica %u: commit_min %llu beyond hooks",
                     g, replica->index, (unsigned long long)status.commit_min);
            return;
        }
        // Only ops this replica committed: below that, its log may still hold a stale uncommitted
        // entry from an older view until it repairs.
        if (status.commit_min == 0) continue;
        uint64_t op = 1 + (cluster->tick * 7919u) % status.commit_min;
        const struct tc_header *header = tc_replica_log_header(replica->replica, op);
        if (header == NULL) continue;
        if (header->op != op || !tc_checksum_equal(&header->checksum, &group->commits[op].checksum)) {
            sim_fail(cluster, "log_committed_header",
                     "group %u replica %u: log header of committed op %llu differs", g,
                     replica->index, (unsigned long long)op);
            return;
        }
    }
}

// Every room the workload named in this group: the core replica's chain head equals the model's.
static bool chain_heads_match(struct sim_cluster *cluster, struct sim_group *group,
                              const struct tc_room_machine *machine, char *why, uint32_t why_size) {
    for (uint32_t i = 0; i < group->rooms_count; i++) {
        uint64_t seq = 0;
        uint64_t model_seq = 0;
        struct tc_hash256 hash;
        struct tc_hash256 model_hash;
        memset(&hash, 0, sizeof(hash));
        memset(&model_hash, 0, sizeof(model_hash));
        int result = tc_room_chain_head(machine, group->rooms[i], &seq, &hash);
        int model_result = tc_room_model_chain_head(group->model, group->rooms[i], &model_seq,
                                                    &model_hash);
        if (result != model_result || seq != model_seq || !tc_hash256_equal(&hash, &model_hash)) {
            snprintf(why, why_size, "group %u room %llu: chain head seq %llu (%d), model %llu (%d)",
                     group->index, (unsigned long long)group->rooms[i], (unsigned long long)seq,
                     result, (unsigned long long)model_seq, model_result);
            sim_fail(cluster, "state_digest", "%s", why);
            return false;
        }
        // Every app's read marker in the room, replica against model (a member's marker, or
        // TC_ENOENT for a non-member on both sides).
        for (uint32_t a = 0; a < cluster->app_count; a++) {
            const uint64_t user = cluster->apps[a].user;
            uint64_t marker = 0, model_marker = 0;
            result = tc_room_read_marker(machine, group->rooms[i], user, &marker);
            model_result = tc_room_model_read_marker(group->model, group->rooms[i], user,
                                                     &model_marker);
            if (result != model_result || marker != model_marker) {
                snprintf(why, why_size,
                         "group %u room %llu user %llu: read marker %llu (%d), model %llu (%d)",
                         group->index, (unsigned long long)group->rooms[i],
                         (unsigned long long)user, (unsigned long long)marker, result,
                         (unsigned long long)model_marker, model_result);
                sim_fail(cluster, "state_digest", "%s", why);
                return false;
            }
        }
    }
    return true;
}

// The converged replica's redaction table is the model's: the same count, and every message the
// model redacted is redacted there (the digest then carries the rest to every core replica).
static bool redactions_match(struct sim_cluster *cluster, struct sim_group *group,
                             const struct tc_room_machine *machine, char *why, uint32_t why_size) {
    uint32_t count = tc_room_model_redaction_count(group->model);
    if (tc_room_redaction_count(machine) != count) {
        snprintf(why, why_size, "group %u: %u redactions, model %u", group->index,
                 tc_room_redaction_count(machine), count);
        sim_fail(cluster, "state_digest", "%s", why);
        return false;
    }
    for (uint32_t i = 0; i < count; i++) {
        uint64_t room = 0;
        uint64_t seq = 0;
        tc_assert(tc_room_model_redaction_at(group->model, i, &room, &seq) == TC_OK);
        if (!tc_room_redacted(machine, room, seq)) {
            snprintf(why, why_size, "group %u room %llu seq %llu: redacted in the model only",
                     group->index, (unsigned long long)room, (unsigned long long)seq);
            sim_fail(cluster, "state_digest", "%s", why);
            return false;
        }
    }
    return true;
}

static bool group_converged(struct sim_cluster *cluster, struct sim_group *group, char *why,
                            uint32_t why_size) {
    struct tc_checksum digest_first;
    bool have_first = false;
    for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
        struct sim_replica *replica = sim_holder(group, h);
        if (replica == NULL || !replica->core) continue;
        uint8_t r = replica->index;
        if (replica->replica == NULL) {
            snprintf(why, why_size, "group %u replica %u is down", group->index, r);
            return false;
        }
        struct tc_replica_status status;
        tc_replica_status_get(replica->replica, &status);
        if (status.state != TC_REPLICA_NORMAL || status.commit_min + 1 != group->commit_count) {
            snprintf(why, why_size,
                     "group %u replica %u: state %d view %u op_head %llu commit_min %llu "
                     "commit_max %llu (canonical %llu) faulty %u",
                     group->index, r, (int)status.state, status.view,
                     (unsigned long long)status.op_head, (unsigned long long)status.commit_min,
                     (unsigned long long)status.commit_max,
                     (unsigned long long)(group->commit_count - 1), status.journal_faulty);
            return false;
        }
        struct tc_checksum digest;
        tc_room_digest(tc_replica_room(replica->replica), &digest);
        if (!have_first) {
            digest_first = digest;
            have_first = true;
            if (!chain_heads_match(cluster, group, tc_replica_room(replica->replica), why,
                                   why_size) ||
                !redactions_match(cluster, group, tc_replica_room(replica->replica), why,
                                  why_size)) {
                return false;
            }
        } else if (!tc_checksum_equal(&digest, &digest_first)) {
            snprintf(why, why_size, "group %u replica %u: state digest differs", group->index, r);
            sim_fail(cluster, "state_digest", "%s", why);
            return false;
        }
    }
    return true;
}

bool sim_checker_converged(struct sim_cluster *cluster, char *why, uint32_t why_size) {
    for (uint32_t a = 0; a < cluster->app_count; a++) {
        for (uint32_t g = 0; g < cluster->group_count; g++) {
            const struct sim_session *session = &cluster->apps[a].sessions[g];
            enum tc_client_state state = tc_client_state_get(session->client);
            if (state != TC_CLIENT_REGISTERING && state != TC_CLIENT_BUSY) continue;
            snprintf(why, why_size,
                     "group %u client %llx (app %u) %s request %u outstanding since tick %llu "
                     "(group canonical op %llu)",
                     g, (unsigned long long)session->client_id, a,
                     state == TC_CLIENT_BUSY ? "chat" : "register",
                     tc_client_request_number(session->client),
                     (unsigned long long)session->request_start_tick,
                     (unsigned long long)(cluster->groups[g].commit_count - 1));
            return false;
        }
    }
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        const struct sim_group *group = &cluster->groups[g];
        if (group->reconfig.state != SIM_RECONFIG_IDLE) {
            snprintf(why, why_size, "group %u: replacement of slot %u (epoch %u) in state %d",
                     g, group->reconfig.slot, group->reconfig.epoch, (int)group->reconfig.state);
            return false;
        }
    }
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        if (!group_converged(cluster, &cluster->groups[g], why, why_size)) return false;
    }
    return true;
}

static bool op_clean_in_core(struct sim_group *group, uint64_t op) {
    for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
        const struct sim_replica *replica = sim_holder(group, h);
        if (replica == NULL || !replica->core || replica->replica == NULL) continue;
        const struct tc_header *header = tc_replica_log_header(replica->replica, op);
        if (header != NULL && tc_checksum_equal(&header->checksum, &group->commits[op].checksum)) {
            return true;
        }
    }
    return false;
}

bool sim_checker_liveness_excusable(struct sim_cluster *cluster, char *why, uint32_t why_size) {
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        struct sim_group *group = &cluster->groups[g];
        for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
            const struct sim_replica *replica = sim_holder(group, h);
            if (replica == NULL || !replica->core) continue;
            uint8_t r = replica->index;
            tc_assert(replica->replica != NULL);
            struct tc_replica_status status;
            tc_replica_status_get(replica->replica, &status);
            if (status.state != TC_REPLICA_NORMAL) {
                snprintf(why, why_size,
                         "group %u core replica %u in state %d view %u: its view change may need "
                         "an op whose only intact copy is outside the core",
                         g, r, (int)status.state, status.view);
                return true;
            }
            for (uint64_t op = status.commit_min + 1; op < group->commit_count; op++) {
                if (op_clean_in_core(group, op)) continue;
                snprintf(why, why_size,
                         "group %u core replica %u lacks committed op %llu and no core replica holds "
                         "it clean",
                         g, r, (unsigned long long)op);
                return true;
            }
        }
    }
    snprintf(why, why_size, "every core replica is normal and the core holds every committed op");
    return false;
}

uint64_t sim_checker_commits(const struct sim_cluster *cluster) {
    uint64_t commits = 0;
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        commits += cluster->groups[g].commit_count - 1;
    }
    return commits;
}

// BLAKE2b-128 over every group's canonical history (prepare and reply checksums) and the outcome.
void sim_checker_digest(const struct sim_cluster *cluster, const char *outcome,
                        struct tc_checksum *out) {
    uint64_t size = 64 + strlen(outcome);
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        size += 16 + cluster->groups[g].commit_count * 2 * sizeof(struct tc_checksum);
    }
    uint8_t *buffer = malloc(size);
    tc_assert(buffer != NULL);
    uint64_t offset = 0;
    memcpy(buffer + offset, &cluster->seed, 8);
    offset += 8;
    for (uint32_t g = 0; g < cluster->group_count; g++) {
        const struct sim_group *group = &cluster->groups[g];
        memcpy(buffer + offset, &group->commit_count, 8);
        offset += 8;
        for (uint64_t op = 0; op < group->commit_count; op++) {
            memcpy(buffer + offset, &group->commits[op].checksum, 16);
            memcpy(buffer + offset + 16, &group->commits[op].reply, 16);
            offset += 32;
        }
    }
    memcpy(buffer + offset, outcome, strlen(outcome));
    offset += strlen(outcome);
    tc_assert(offset <= size);
    tc_checksum_compute(out, buffer, offset);
    free(buffer);
}
