// Replica replacement on running nodes (node_replace.h, docs/node.md §14): routing by topology
// and epoch, the identity file, the pure decisions, and the loop-side driver of the three things
// a node does for a replace step: start a learner (the target), submit the reconfiguration (the
// node whose replica leads the group), stop hosting a retired replica (the replaced node).
#include "node_replace.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "node.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_le.h"

_Static_assert(TC_REPLICAS_MAX == NODE_CTL_MEMBERS_MAX, "members by slot");
_Static_assert(TC_REPLICAS_MAX < 0x10u, "epoch-0 ids end in 0x10 | slot");

// ------------------------------------------------------------------------------------------------
// Routing.

uint32_t node_route_targets(const struct node_route *route, uint8_t address, uint32_t epoch,
                            uint16_t targets[NODE_ROUTE_TARGETS_MAX]) {
    tc_assert(route->replica_count >= 1 && route->replica_count <= TC_REPLICAS_MAX);
    tc_assert(!route->change || route->change_slot < route->replica_count);
    const uint8_t slot = (uint8_t)(address % TC_REPLICAS_MAX);
    if (address >= TC_REPLICA_ADDRESSES_MAX || slot >= route->replica_count) return 0;
    const bool learner = address >= TC_REPLICAS_MAX;
    const bool named = epoch != TC_EPOCH_CURRENT;
    if (route->change && slot == route->change_slot) {
        // The learner of the slot, or the slot's member of an epoch after the topology's: the
        // replacement (docs/vsr.md §11.4: "a learner address to that slot's learner").
        if (learner || (named && (uint64_t)epoch > route->epoch)) {
            targets[0] = route->change_to;
            return 1;
        }
    }
    targets[0] = route->members[slot];
    tc_assert(targets[0] != 0);
    // An epoch before the topology's: the slot's member of that epoch, if it still runs (a
    // replaced replica that has not learned so hears start_epoch), and the newest one, which
    // answers if it does not (docs/vsr.md §11.4: "or to the slot's newest replica once that
    // member is stopped").
    const uint16_t previous = route->previous[slot];
    if (!learner && named && (uint64_t)epoch < route->epoch && previous != 0 &&
        previous != targets[0]) {
        targets[1] = previous;
        return 2;
    }
    return 1;
}

int32_t node_route_slot(const struct node_route *route, uint16_t node_id) {
    tc_assert(route->replica_count <= TC_REPLICAS_MAX);
    for (uint8_t slot = 0; slot < route->replica_count; slot++) {
        if (route->members[slot] == node_id) return slot;
    }
    return -1;
}

int node_route_install(struct node_route *route, const struct node_ctl_topology_group *entry) {
    tc_assert(route->replica_count >= 1 && route->replica_count <= TC_REPLICAS_MAX);
    tc_assert(entry->member_count <= NODE_CTL_MEMBERS_MAX);
    if (entry->member_count != route->replica_count) return TC_EINVAL;
    for (uint32_t slot = 0; slot < entry->member_count; slot++) {
        if (entry->members[slot] == 0) return TC_EINVAL;
        for (uint32_t other = 0; other < slot; other++) {
            if (entry->members[other] == entry->members[slot]) return TC_EINVAL;
        }
    }
    struct node_route next = {.replica_count = route->replica_count, .epoch = entry->epoch};
    memcpy(next.members, entry->members, entry->member_count * sizeof(entry->members[0]));
    for (uint8_t slot = 0; slot < next.replica_count; slot++) {
        // Replaced by this epoch (or before it, as the route last saw it).
        const bool replaced = entry->epoch > route->epoch &&
                              route->members[slot] != next.members[slot];
        next.previous[slot] = replaced                     ? route->members[slot]
                              : entry->epoch == route->epoch ? route->previous[slot]
                                                             : 0;
        if (next.previous[slot] == next.members[slot]) next.previous[slot] = 0;
    }
    const struct node_ctl_change *change = &entry->change;
    const int32_t from_slot = node_route_slot(&next, change->from_node);
    if (change->kind == NODE_CTL_CHANGE_REPLACE && from_slot >= 0 &&
        node_route_slot(&next, change->to_node) < 0) {
        next.change = true;
        next.change_slot = (uint8_t)from_slot;
        next.change_to = change->to_node;
    }
    *route = next;
    uint16_t targets[NODE_ROUTE_TARGETS_MAX];
    tc_assert(node_route_targets(route, 0, TC_EPOCH_CURRENT, targets) == 1);
    tc_assert(targets[0] == entry->members[0]);
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Replica ids.

uint64_t node_member_id_epoch0(uint64_t cluster, uint32_t group, uint8_t slot) {
    tc_assert(slot < TC_REPLICAS_MAX);
    uint64_t x = cluster * 0x9e3779b97f4a7c15ull ^ ((uint64_t)group << 8) ^ slot;
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    const uint64_t id = (x & ~0xffull) | 0x10u | slot;
    tc_assert(id != 0 && (id & 0xffu) != NODE_REPLACE_ID_TAG);
    return id;
}

uint64_t node_replica_id_draw(uint64_t random_bits) {
    uint64_t high = random_bits & ~0xffull;
    if (high == 0) high = 0x100u; // never 0 in the random part either
    const uint64_t id = high | NODE_REPLACE_ID_TAG;
    tc_assert(id != 0 && (id & 0xffu) == NODE_REPLACE_ID_TAG);
    tc_assert(id >= TC_REPLICA_ADDRESSES_MAX); // no id is a small address-like value
    return id;
}

// ------------------------------------------------------------------------------------------------
// The identity file.

int32_t node_identity_encode(const struct node_identity *identity, char *out, uint32_t capacity) {
    tc_assert(identity->group != 0 && identity->replica_id != 0);
    tc_assert(identity->slot < TC_REPLICAS_MAX && capacity > 0);
    const int n = snprintf(out, capacity,
                           NODE_IDENTITY_MAGIC "\ncluster %" PRIu64 "\ngroup %" PRIu32
                           "\nslot %u\nreplica_id %" PRIu64 "\njob %" PRIu64 "\nstep %" PRIu64
                           "\n",
                           identity->cluster, identity->group, identity->slot,
                           identity->replica_id, identity->job, identity->step);
    tc_assert(n > 0);
    if ((uint32_t)n >= capacity) return TC_ENOSPC;
    return (int32_t)n;
}

// "<name> <decimal>\n" at *at: the number, no leading zeros. Advances *at.
static bool identity_field(const char *text, uint32_t size, uint32_t *at, const char *name,
                           uint64_t *value) {
    const uint32_t name_size = (uint32_t)strlen(name);
    if (size - *at < name_size + 3 || memcmp(text + *at, name, name_size) != 0 ||
        text[*at + name_size] != ' ') {
        return false;
    }
    uint32_t c = *at + name_size + 1;
    const uint32_t first = c;
    uint64_t number = 0;
    for (; c < size && text[c] >= '0' && text[c] <= '9'; c++) {
        const uint64_t digit = (uint64_t)(text[c] - '0');
        if (number > (UINT64_MAX - digit) / 10u) return false;
        number = number * 10u + digit;
    }
    const uint32_t digits = c - first;
    if (digits == 0 || (digits > 1 && text[first] == '0')) return false;
    if (c >= size || text[c] != '\n') return false;
    *at = c + 1;
    *value = number;
    return true;
}

int node_identity_decode(const char *text, uint32_t size, struct node_identity *identity) {
    tc_assert(text != NULL && identity != NULL);
    memset(identity, 0, sizeof(*identity));
    const uint32_t magic_size = (uint32_t)strlen(NODE_IDENTITY_MAGIC);
    if (size < magic_size + 1 || memcmp(text, NODE_IDENTITY_MAGIC "\n", magic_size + 1) != 0) {
        return TC_EINVAL;
    }
    uint32_t at = magic_size + 1;
    uint64_t cluster = 0, group = 0, slot = 0, replica_id = 0, job = 0, step = 0;
    const bool ok = identity_field(text, size, &at, "cluster", &cluster) &&
                    identity_field(text, size, &at, "group", &group) &&
                    identity_field(text, size, &at, "slot", &slot) &&
                    identity_field(text, size, &at, "replica_id", &replica_id) &&
                    identity_field(text, size, &at, "job", &job) &&
                    identity_field(text, size, &at, "step", &step) && at == size;
    if (!ok || group == 0 || group > UINT32_MAX || slot >= TC_REPLICAS_MAX || replica_id == 0) {
        return TC_EINVAL;
    }
    *identity = (struct node_identity){.cluster = cluster, .group = (uint32_t)group,
                                       .slot = (uint8_t)slot, .replica_id = replica_id,
                                       .job = job, .step = step};
    return 0;
}

static void identity_name(uint32_t group, char name[64]) {
    const int n = snprintf(name, 64, "group-%" PRIu32 "." NODE_IDENTITY_FILE_SUFFIX, group);
    tc_assert(n > 0 && n < 64);
}

int node_identity_read(const char *data_dir, uint32_t group, struct node_identity *identity,
                       char error[NODE_CTL_ERROR_SIZE]) {
    tc_assert(data_dir != NULL && group != 0);
    char name[64];
    identity_name(group, name);
    char text[NODE_IDENTITY_SIZE_MAX + 1];
    uint32_t size = 0;
    int rc = node_ctl_file_read(data_dir, name, text, sizeof(text), &size);
    if (rc == TC_ENOENT) return rc;
    if (rc == 0) rc = node_identity_decode(text, size, identity);
    if (rc == 0 && identity->group != group) rc = TC_EINVAL;
    if (rc != 0) {
        (void)snprintf(error, NODE_CTL_ERROR_SIZE, "%.150s/%s: %s", data_dir, name,
                       rc == TC_EINVAL ? "not an identity file of this group" : tc_strerror(rc));
    }
    return rc;
}

int node_identity_write(const char *data_dir, const struct node_identity *identity,
                        char error[NODE_CTL_ERROR_SIZE]) {
    char name[64];
    identity_name(identity->group, name);
    char text[NODE_IDENTITY_SIZE_MAX];
    const int32_t size = node_identity_encode(identity, text, sizeof(text));
    tc_assert(size > 0); // bounded fields
    struct node_identity check;
    tc_assert(node_identity_decode(text, (uint32_t)size, &check) == 0);
    tc_assert(check.replica_id == identity->replica_id && check.slot == identity->slot);
    tc_assert(check.group == identity->group && check.step == identity->step);
    return node_ctl_file_write(data_dir, name, text, (uint32_t)size, error);
}

// ------------------------------------------------------------------------------------------------
// Decisions.

enum node_learner_decision node_learner_decide(const struct node_ctl_change *change,
                                               uint16_t node_id, bool hosted, int32_t from_slot,
                                               bool tried) {
    tc_assert(node_id != 0);
    tc_assert(from_slot >= -1 && from_slot < (int32_t)TC_REPLICAS_MAX);
    if (change == NULL || change->kind != NODE_CTL_CHANGE_REPLACE) return NODE_LEARNER_NONE;
    if (change->to_node != node_id || change->from_node == node_id) return NODE_LEARNER_NONE;
    if (hosted || tried) return NODE_LEARNER_NONE; // a learner (or member) is running already
    if (from_slot < 0) return NODE_LEARNER_FROM_UNKNOWN;
    return NODE_LEARNER_START;
}

enum node_reconfigure_decision node_reconfigure_decide(const struct node_reconfigure_input *input,
                                                       struct tc_reconfigure *body) {
    const struct node_ctl_change *change = input->change;
    tc_assert(change != NULL && body != NULL);
    tc_assert(input->slot >= -1 && input->slot < (int32_t)TC_REPLICAS_MAX);
    memset(body, 0, sizeof(*body));
    if (change->kind != NODE_CTL_CHANGE_REPLACE || !change->learner_known || input->slot < 0) {
        return NODE_RECONFIGURE_NONE;
    }
    tc_assert(change->learner_id != 0);
    if (!input->primary_normal) return NODE_RECONFIGURE_WAIT;
    // Our configuration names the learner for the slot: the change committed (a retry answered,
    // or another node's request won the race).
    if (input->slot_member_id == change->learner_id) return NODE_RECONFIGURE_APPLIED;
    // One change at a time, from the epoch the controller declared it in: a replica acting in
    // another epoch is not the primary the step expects (a newer epoch without our learner is
    // another change; an older one is a stale topology here). The controller resolves it.
    if ((uint64_t)input->acting_epoch != input->topology_epoch) return NODE_RECONFIGURE_WAIT;
    tc_assert(input->slot_member_id != 0 && input->acting_epoch < UINT32_MAX);
    body->epoch = input->acting_epoch + 1;
    body->slot = (uint8_t)input->slot;
    body->replica_id_old = input->slot_member_id;
    body->replica_id_new = change->learner_id;
    tc_assert(body->replica_id_old != body->replica_id_new);
    return NODE_RECONFIGURE_SUBMIT;
}

void node_reconfigure_encode(const struct tc_reconfigure *body,
                             uint8_t out[TC_RECONFIGURE_BODY_SIZE]) {
    tc_assert(body->replica_id_old != 0 && body->replica_id_new != 0);
    memset(out, 0, TC_RECONFIGURE_BODY_SIZE);
    tc_le_put_u32(out + 0, body->epoch);
    out[4] = body->slot;
    tc_le_put_u64(out + 8, body->replica_id_old);
    tc_le_put_u64(out + 16, body->replica_id_new);
    tc_assert(tc_le_get_u32(out) == body->epoch && out[5] == 0);
}

bool node_retire_decide(const struct node_ctl_topology_group *entry, uint16_t node_id,
                        bool recovering, bool retired) {
    tc_assert(node_id != 0);
    tc_assert(entry == NULL || entry->member_count <= NODE_CTL_MEMBERS_MAX);
    if (entry == NULL || recovering || !retired) return false;
    for (uint32_t slot = 0; slot < entry->member_count; slot++) {
        if (entry->members[slot] == node_id) return false; // a member here still: keep it
    }
    const struct node_ctl_change *change = &entry->change;
    if (change->kind == NODE_CTL_CHANGE_REPLACE && change->to_node == node_id) return false;
    return true;
}

// ------------------------------------------------------------------------------------------------
// The loop-side driver.

static void step_text(const struct node_ctl_change *change, char text[64]) {
    text[0] = '\0';
    if (change->job_known) {
        (void)snprintf(text, 64, " (job %" PRIu64 " step %" PRIu64 ")", change->job, change->step);
    }
}

// Phase 1 on the target: a learner of the group in the replaced node's slot, with a fresh id.
static void learner_start(struct node *node, struct node_group *group,
                          const struct node_ctl_change *change, uint8_t slot) {
    char step[64];
    step_text(change, step);
    char error[NODE_CTL_ERROR_SIZE] = "";
    struct node_identity identity;
    int rc = node_identity_read(node->config.data_dir, group->id, &identity, error);
    const uint32_t present = node_group_files_present(node, group);
    if (rc != TC_ENOENT || present > 0) {
        // Some replica's files are here (a member's, or a learner's that cannot open): never
        // formatted over (amnesia, docs/node.md §14).
        node_log(node, TC_LOG_ERROR, "group %u: replace %u -> %u%s: NOT starting a learner: "
                 "%u data file(s) or an identity file of the group exist in %s (%s); they are "
                 "never formatted over", group->id, change->from_node, change->to_node, step,
                 present, node->config.data_dir, rc == TC_ENOENT ? "no identity" :
                 rc == TC_OK ? "identity present" : error);
        return;
    }
    uint64_t random_bits = 0;
    tc_assert(getentropy(&random_bits, sizeof(random_bits)) == 0);
    identity = (struct node_identity){.cluster = node->config.cluster, .group = group->id,
                                      .slot = slot, .replica_id = node_replica_id_draw(random_bits),
                                      .job = change->job, .step = change->step};
    tc_assert(identity.replica_id != node_member_id_epoch0(node->config.cluster, group->id, slot));
    // The identity is durable before any file of the replica exists: a restart finds it and
    // never formats this replica again.
    rc = node_identity_write(node->config.data_dir, &identity, error);
    if (rc == TC_OK) rc = node_group_host_learner(node, group, &identity);
    if (rc != TC_OK) {
        node_log(node, TC_LOG_ERROR, "group %u: replace %u -> %u%s: learner NOT started: %s",
                 group->id, change->from_node, change->to_node, step,
                 error[0] != '\0' ? error : node->error);
        node->error[0] = '\0';
        return;
    }
    tc_assert(group->hosted && group->slot == slot);
    node->stats.learners_started += 1;
    node_log(node, TC_LOG_INFO, "group %u: replace %u -> %u%s: learner started in slot %u, "
             "replica id %" PRIu64 " (syncing from the members)", group->id, change->from_node,
             change->to_node, step, slot, identity.replica_id);
}

static void learner_tick(struct node *node, struct node_group *group,
                         const struct node_ctl_topology_group *entry) {
    const struct node_ctl_change *change = &entry->change;
    const bool tried = group->learner_tried &&
                       node_ctl_change_equal(&group->learner_change, change);
    const int32_t from_slot = node_route_slot(&group->route, change->from_node);
    const enum node_learner_decision decision = node_learner_decide(
        change, node->node_id, group->hosted || group->closing, from_slot, tried);
    if (decision == NODE_LEARNER_NONE) return;
    group->learner_tried = true; // once per (job, step)
    group->learner_change = *change;
    if (decision == NODE_LEARNER_FROM_UNKNOWN) {
        char step[64];
        step_text(change, step);
        node_log(node, TC_LOG_WARN, "group %u: replace %u -> %u%s: node %u is not a member in "
                 "the topology: not acted on", group->id, change->from_node, change->to_node,
                 step, change->from_node);
        return;
    }
    tc_assert(decision == NODE_LEARNER_START);
    learner_start(node, group, change, (uint8_t)from_slot);
}

// Phase 3 on the node whose replica leads the group: reconfigure(epoch + 1, slot, old, learner)
// through the group's control client, until the slot holds the learner.
static void control_on_register(void *context, struct tc_client *client,
                                const struct tc_header *reply, const uint8_t *body,
                                uint32_t body_size) {
    // The client's state says how it went (ready, or evicted: the tick opens a new session).
    struct node_group *group = context;
    (void)body, (void)body_size;
    tc_assert(client == group->control.client);
    node_log(group->node, reply == NULL ? TC_LOG_WARN : TC_LOG_INFO,
             "group %u: control client %" PRIu64 " %s", group->id, group->control.client_id,
             reply == NULL ? "evicted while registering" : "registered");
}

// The same step with the same learner.
static bool change_same(const struct node_ctl_change *a, const struct node_ctl_change *b) {
    return node_ctl_change_equal(a, b) && a->learner_known == b->learner_known &&
           a->learner_id == b->learner_id;
}

static void control_on_reply(void *context, struct tc_client *client, const struct tc_header *reply,
                             const uint8_t *body, uint32_t body_size) {
    struct node_group *group = context;
    struct node *node = group->node;
    struct node_control *control = &group->control;
    tc_assert(client == control->client && control->submitted);
    control->submitted = false;
    if (reply == NULL) {
        node_log(node, TC_LOG_WARN, "group %u: reconfigure: the control session was evicted; "
                 "retrying with a new one", group->id);
        return; // the tick renews the session
    }
    const uint32_t status = body_size == TC_RECONFIGURE_REPLY_SIZE ? tc_le_get_u32(body)
                                                                   : UINT32_MAX;
    const uint32_t epoch = body_size == TC_RECONFIGURE_REPLY_SIZE ? tc_le_get_u32(body + 4) : 0;
    char step[64];
    step_text(&control->inflight, step);
    if (!control->change_valid || !change_same(&control->inflight, &control->change)) {
        node_log(node, TC_LOG_INFO, "group %u: reconfigure%s (an earlier step): answered %s",
                 group->id, step, tc_reconfigure_status_name(status));
        return;
    }
    if (status == TC_RECONFIGURE_OK) {
        control->done = true;
        node->stats.reconfigures_done += 1;
        node_log(node, TC_LOG_INFO, "group %u: reconfigure%s: ok, the group is in epoch %u with "
                 "replica %" PRIu64 " in slot %u (op %" PRIu64 ", attempt %u)", group->id, step,
                 epoch, control->change.learner_id, control->body[4], reply->op,
                 control->attempts);
        return;
    }
    // member_mismatch with the learner in the slot means applied: the next tick sees it in the
    // local replica's configuration. Anything else: retried with fresh arguments.
    control->retry_ms = node->now_ms + NODE_RECONFIGURE_RETRY_MS;
    node_log(node, TC_LOG_WARN, "group %u: reconfigure%s: answered %s (group epoch %u, attempt "
             "%u); retrying in %u ms", group->id, step, tc_reconfigure_status_name(status), epoch,
             control->attempts, NODE_RECONFIGURE_RETRY_MS);
}

// Whether the control client can take a request now; opens and registers its session on the way.
static bool control_ready(struct node *node, struct node_group *group) {
    struct node_control *control = &group->control;
    switch (tc_client_state_get(control->client)) {
    case TC_CLIENT_EVICTED:
        tc_assert(node_control_renew(node, group) == TC_OK); // its memory exists: cannot fail
        return false;
    case TC_CLIENT_IDLE:
        tc_client_register(control->client, control_on_register, group);
        return false;
    case TC_CLIENT_REGISTERING:
    case TC_CLIENT_BUSY: return false;
    case TC_CLIENT_READY: return true;
    }
    tc_assert(false);
    return false;
}

static void reconfigure_submit(struct node *node, struct node_group *group,
                               const struct tc_reconfigure *body) {
    struct node_control *control = &group->control;
    tc_assert(!control->submitted && !control->done);
    node_reconfigure_encode(body, control->body);
    control->submitted = true;
    control->inflight = control->change;
    control->attempts += 1;
    node->stats.reconfigures_submitted += 1;
    char step[64];
    step_text(&control->change, step);
    node_log(node, TC_LOG_INFO, "group %u: reconfigure%s: submitting epoch %u, slot %u: replica "
             "%" PRIu64 " -> %" PRIu64 " (attempt %u)", group->id, step, body->epoch, body->slot,
             body->replica_id_old, body->replica_id_new, control->attempts);
    tc_client_request_operation(control->client, TC_OPERATION_RECONFIGURE, control->body,
                                TC_RECONFIGURE_BODY_SIZE, control_on_reply, group);
}

static void reconfigure_tick(struct node *node, struct node_group *group,
                             const struct node_ctl_topology_group *entry) {
    const struct node_ctl_change *change = &entry->change;
    struct node_control *control = &group->control;
    if (control->client == NULL || !change->learner_known || !group->hosted) return;
    if (!control->change_valid || !change_same(&control->change, change)) {
        // A new step: once per (job, step, learner) to success. A request of an earlier step
        // still in flight answers into the log only.
        control->change = *change;
        control->change_valid = true;
        control->done = false;
        control->attempts = 0;
        control->retry_ms = 0;
    }
    if (control->done || control->submitted || node->now_ms < control->retry_ms) return;
    struct tc_replica_status status;
    tc_replica_status_get(group->replica, &status);
    const int32_t slot = node_route_slot(&group->route, change->from_node);
    const struct node_reconfigure_input input = {
        .change = change,
        .topology_epoch = entry->epoch,
        .slot = slot,
        .primary_normal = status.state == TC_REPLICA_NORMAL && status.primary,
        .acting_epoch = status.acting_epoch,
        .slot_member_id = slot >= 0 ? tc_replica_member_id(group->replica, (uint8_t)slot) : 0,
    };
    struct tc_reconfigure body;
    const enum node_reconfigure_decision decision = node_reconfigure_decide(&input, &body);
    if (decision == NODE_RECONFIGURE_APPLIED) {
        control->done = true;
        node_log(node, TC_LOG_INFO, "group %u: reconfigure: slot %d already holds replica %"
                 PRIu64 " (epoch %u): applied", group->id, slot, change->learner_id,
                 status.acting_epoch);
        return;
    }
    // The session is opened (registered) only when there is something to submit.
    if (decision == NODE_RECONFIGURE_SUBMIT && control_ready(node, group)) {
        reconfigure_submit(node, group, &body);
    }
}

// Phase 4's aftermath on the replaced node: the topology's members left this node and the local
// replica retired (the reconfiguration committed and the successor applied it: the controller
// marks the step done only then), so it stops; its files stay, renamed.
static void retire_tick(struct node *node, struct node_group *group,
                        const struct node_ctl_topology_group *entry) {
    if (!group->hosted) return;
    struct tc_replica_status status;
    tc_replica_status_get(group->replica, &status);
    const bool recovering = status.state == TC_REPLICA_RECOVERING;
    if (node_retire_decide(entry, node->node_id, recovering, status.retired)) {
        node_log(node, TC_LOG_INFO, "group %u: replica %" PRIu64 " (slot %u) retired and the "
                 "topology (epoch %" PRIu64 ") names other members: closing it", group->id,
                 group->replica_options.replica_id, group->slot, entry->epoch);
        node_group_retire_begin(node, group, entry->epoch);
        return;
    }
    const bool named = node_route_slot(&group->route, node->node_id) >= 0 ||
                       (entry->change.kind == NODE_CTL_CHANGE_REPLACE &&
                        entry->change.to_node == node->node_id);
    if (!named && !recovering && !status.member && !status.retired &&
        !group->learner_kept_logged) {
        // A learner whose step went away: a reconfigure naming it may still commit (docs/vsr.md
        // §11.4: a change once sent is never abandoned), so it keeps running.
        group->learner_kept_logged = true;
        node_log(node, TC_LOG_WARN, "group %u: learner %" PRIu64 " is named by no change of the "
                 "topology: kept running (a reconfiguration naming it may still commit)",
                 group->id, group->replica_options.replica_id);
    }
    const int32_t slot = node_route_slot(&group->route, node->node_id);
    if (slot >= 0 && slot != group->slot && !group->slot_mismatch_logged) {
        group->slot_mismatch_logged = true;
        node_log(node, TC_LOG_WARN, "group %u: the topology lists this node in slot %d, its "
                 "replica runs in slot %u", group->id, slot, group->slot);
    }
}

void node_replace_group_tick(struct node *node, struct node_group *group,
                             const struct node_ctl_topology_group *entry) {
    tc_assert(group->node == node);
    tc_assert(!(group->hosted && group->closing));
    if (entry == NULL) return;
    if (entry->change.kind == NODE_CTL_CHANGE_REPLACE) {
        learner_tick(node, group, entry);
        reconfigure_tick(node, group, entry);
    }
    retire_tick(node, group, entry);
}
