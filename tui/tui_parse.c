// The controller's answers (docs/operations.md §7, docs/controller.md §8) parsed into the
// dashboard's structs (see tui_model.h). Lenient per row, strict per answer: an answer of the
// wrong shape is an error (the last good view stays), a row without a valid id is skipped and
// counted, a missing or mistyped optional field reads as unknown.
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tui_model.h"

#define NODE_ID_MAX 255u
#define GROUP_ID_MAX 65535u
#define JSON_INTEGER_MAX ((UINT64_C(1) << 53) - 1u)

__attribute__((format(printf, 3, 4))) static int fail(char *error, uint32_t size,
                                                      const char *format, ...) {
    tc_assert(error != NULL && size > 0);
    va_list args;
    va_start(args, format);
    (void)vsnprintf(error, size, format, args);
    va_end(args);
    return TC_EINVAL;
}

static bool get_u64(const cJSON *object, const char *path, uint64_t max, uint64_t *value) {
    int64_t integer = 0;
    if (!tigerctl_json_integer(object, path, &integer) || integer < 0) return false;
    if ((uint64_t)integer > max) return false;
    *value = (uint64_t)integer;
    return true;
}

static bool get_u32(const cJSON *object, const char *path, uint32_t max, uint32_t *value) {
    uint64_t wide = 0;
    if (!get_u64(object, path, max, &wide)) return false;
    *value = (uint32_t)wide;
    return true;
}

// 0 when missing or not a count.
static uint32_t count_or_zero(const cJSON *object, const char *path) {
    uint32_t value = 0;
    return get_u32(object, path, UINT32_MAX, &value) ? value : 0;
}

// The member's string, sanitized and cut; "?" when missing or not a string.
static void get_text(const cJSON *object, const char *path, char *out, uint32_t size) {
    const char *text = tigerctl_json_string(object, path);
    tui_text_copy(out, size, text != NULL ? text : "?");
}

// A member of any type as compact JSON, sanitized and cut ("-" when missing).
static void get_json(const cJSON *object, const char *name, char *out, uint32_t size) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(object, name);
    if (item == NULL) {
        tui_text_copy(out, size, "-");
        return;
    }
    char *text = cJSON_PrintUnformatted(item);
    tui_text_copy(out, size, text != NULL ? text : "?");
    cJSON_free(text);
}

// ------------------------------------------------------------------------------------------------
// /v1/status

static void status_counts(const cJSON *json, struct tui_status *status) {
    status->nodes_active = count_or_zero(json, "nodes.active");
    status->nodes_cordoned = count_or_zero(json, "nodes.cordoned");
    status->nodes_draining = count_or_zero(json, "nodes.draining");
    status->nodes_drained = count_or_zero(json, "nodes.drained");
    status->nodes_down = count_or_zero(json, "nodes.down");
    status->nodes_live = count_or_zero(json, "nodes.live");
    status->groups_total = count_or_zero(json, "groups.total");
    status->groups_healthy = count_or_zero(json, "groups.healthy");
    status->groups_degraded = count_or_zero(json, "groups.degraded");
    status->groups_no_quorum = count_or_zero(json, "groups.no_quorum");
    status->jobs_running = count_or_zero(json, "jobs_running");
    status->keys_active = count_or_zero(json, "keys_active");
    uint64_t rejected = 0;
    status->rejected_requests =
        get_u64(json, "rejected_requests", JSON_INTEGER_MAX, &rejected) ? rejected : 0;
}

int tui_parse_status(const cJSON *json, struct tui_status *status, char *error,
                     uint32_t error_size) {
    tc_assert(status != NULL);
    memset(status, 0, sizeof(*status));
    if (!cJSON_IsObject(json)) return fail(error, error_size, "/v1/status: not an object");
    if (!get_u64(json, "audit.seq", JSON_INTEGER_MAX, &status->audit_seq)) {
        return fail(error, error_size, "/v1/status: no audit.seq");
    }
    get_text(json, "cluster", status->cluster, sizeof(status->cluster));
    get_text(json, "controller_key", status->controller_key, sizeof(status->controller_key));
    get_text(json, "audit.head", status->audit_head, sizeof(status->audit_head));
    status->audit_writable = cJSON_IsTrue(tigerctl_json_member(json, "audit.writable"));
    if (!get_u64(json, "topology_version", JSON_INTEGER_MAX, &status->topology_version)) {
        status->topology_version = 0;
    }
    status_counts(json, status);
    return 0;
}

// ------------------------------------------------------------------------------------------------
// /v1/groups

static enum tui_health health_parse(const char *text, uint32_t live_members) {
    if (text == NULL) return tui_health_of_live(live_members);
    if (strcmp(text, "healthy") == 0) return TUI_HEALTH_HEALTHY;
    if (strcmp(text, "degraded") == 0) return TUI_HEALTH_DEGRADED;
    if (strcmp(text, "no_quorum") == 0) return TUI_HEALTH_NO_QUORUM;
    return TUI_HEALTH_UNKNOWN;
}

static void change_parse(const cJSON *change, struct tui_change *out) {
    memset(out, 0, sizeof(*out));
    if (!cJSON_IsObject(change)) return;
    out->present = true;
    if (!get_u64(change, "job", JSON_INTEGER_MAX, &out->job)) out->job = 0;
    out->step = count_or_zero(change, "step");
    get_text(change, "kind", out->kind, sizeof(out->kind));
    if (!get_u32(change, "from", NODE_ID_MAX, &out->from)) out->from = 0;
    if (!get_u32(change, "to", NODE_ID_MAX, &out->to)) out->to = 0;
}

static void members_parse(const cJSON *members, struct tui_group *group) {
    group->member_count = 0;
    const cJSON *member = NULL;
    cJSON_ArrayForEach(member, members) {
        if (group->member_count == TUI_MEMBERS_MAX) break;
        if (!cJSON_IsNumber(member)) continue;
        const double value = member->valuedouble;
        if (!(value >= 1.0 && value <= (double)NODE_ID_MAX)) continue; // NaN too
        const uint32_t id = (uint32_t)value;
        if ((double)id != value) continue;
        group->members[group->member_count++] = id;
    }
}

// false for a row without a valid id.
static bool group_parse(const cJSON *row, struct tui_group *group) {
    memset(group, 0, sizeof(*group));
    if (!get_u32(row, "id", GROUP_ID_MAX, &group->id) || group->id == 0) return false;
    group->epoch = count_or_zero(row, "epoch");
    if (!get_u32(row, "primary", NODE_ID_MAX, &group->primary_topology)) {
        group->primary_topology = 0;
    }
    group->slots = count_or_zero(row, "slots");
    group->live_members = count_or_zero(row, "live_members");
    group->health = health_parse(tigerctl_json_string(row, "health"), group->live_members);
    members_parse(tigerctl_json_member(row, "members"), group);
    change_parse(tigerctl_json_member(row, "change"), &group->change);
    return true;
}

static int group_order(const void *a, const void *b) {
    const uint32_t x = ((const struct tui_group *)a)->id;
    const uint32_t y = ((const struct tui_group *)b)->id;
    return x < y ? -1 : x > y ? 1 : 0;
}

static int node_order(const void *a, const void *b) {
    const uint32_t x = ((const struct tui_node *)a)->id;
    const uint32_t y = ((const struct tui_node *)b)->id;
    return x < y ? -1 : x > y ? 1 : 0;
}

// Sorts by id and drops repeated ids (counted as ignored rows). Returns the new count.
static uint32_t groups_unique(struct tui_snapshot *snapshot) {
    qsort(snapshot->groups, snapshot->group_count, sizeof(snapshot->groups[0]), group_order);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < snapshot->group_count; i++) {
        if (kept > 0 && snapshot->groups[kept - 1].id == snapshot->groups[i].id) {
            snapshot->rows_ignored++;
            continue;
        }
        if (kept != i) snapshot->groups[kept] = snapshot->groups[i];
        kept++;
    }
    return kept;
}

int tui_parse_groups(const cJSON *json, struct tui_snapshot *snapshot, char *error,
                     uint32_t error_size) {
    tc_assert(snapshot != NULL);
    snapshot->group_count = 0;
    if (!cJSON_IsArray(json)) return fail(error, error_size, "/v1/groups: not an array");
    const cJSON *row = NULL;
    cJSON_ArrayForEach(row, json) {
        if (snapshot->group_count == TUI_GROUPS_MAX) {
            snapshot->rows_dropped++;
            continue;
        }
        if (group_parse(row, &snapshot->groups[snapshot->group_count])) {
            snapshot->group_count++;
        } else {
            snapshot->rows_ignored++;
        }
    }
    snapshot->group_count = groups_unique(snapshot);
    return 0;
}

// ------------------------------------------------------------------------------------------------
// /v1/nodes, with each node's last heartbeat ("status")

static bool replica_parse(const cJSON *report, const struct tui_node *node,
                          struct tui_replica *replica, uint32_t *group_id) {
    memset(replica, 0, sizeof(*replica));
    if (!get_u32(report, "id", GROUP_ID_MAX, group_id) || *group_id == 0) return false;
    replica->node = node->id;
    replica->heartbeat_ms = node->heartbeat_ms;
    replica->slot = count_or_zero(report, "slot");
    get_text(report, "role", replica->role, sizeof(replica->role));
    get_text(report, "state", replica->state, sizeof(replica->state));
    replica->primary = cJSON_IsTrue(tigerctl_json_member(report, "primary"));
    replica->view = count_or_zero(report, "view");
    replica->epoch = count_or_zero(report, "epoch");
    if (!get_u64(report, "op", JSON_INTEGER_MAX, &replica->op)) replica->op = 0;
    if (!get_u64(report, "commit", JSON_INTEGER_MAX, &replica->commit)) replica->commit = 0;
    if (!get_u64(report, "applied", JSON_INTEGER_MAX, &replica->applied)) replica->applied = 0;
    return true;
}

static struct tui_group *group_lookup(struct tui_snapshot *snapshot, uint32_t id) {
    return (struct tui_group *)tui_group_find(snapshot, id);
}

// A decimal room id ("rooms":[{"room":"<decimal>"}]: 64 bits, beyond JSON's exact integers).
static bool room_id_parse(const char *text, uint64_t *room) {
    if (text == NULL || text[0] < '1' || text[0] > '9' || strlen(text) > 20) return false;
    uint64_t value = 0;
    for (const char *c = text; *c != '\0'; c++) {
        if (*c < '0' || *c > '9') return false;
        const uint64_t digit = (uint64_t)(*c - '0');
        if (value > (UINT64_MAX - digit) / 10u) return false;
        value = value * 10u + digit;
    }
    *room = value;
    return true;
}

// Keeps the TUI_ROOMS_MAX busiest: a room beyond the bound replaces the slowest kept, if slower.
static void room_keep(struct tui_snapshot *snapshot, const struct tui_room *room) {
    if (snapshot->room_count < TUI_ROOMS_MAX) {
        snapshot->rooms[snapshot->room_count++] = *room;
        return;
    }
    uint32_t slowest = 0;
    for (uint32_t i = 1; i < TUI_ROOMS_MAX; i++) {
        if (snapshot->rooms[i].per_s < snapshot->rooms[slowest].per_s) slowest = i;
    }
    snapshot->rows_dropped++;
    if (room->per_s > snapshot->rooms[slowest].per_s) snapshot->rooms[slowest] = *room;
}

// The node's busiest rooms (heartbeat "rooms" over "rooms_window_ms"); malformed entries skipped.
// Only a live node's: a dead node's last heartbeat would show its rooms busy forever.
static void rooms_parse(const cJSON *status, const struct tui_node *node,
                        struct tui_snapshot *snapshot) {
    if (!node->live) return;
    uint64_t window_ms = 0;
    if (!get_u64(status, "rooms_window_ms", JSON_INTEGER_MAX, &window_ms) || window_ms == 0) return;
    const cJSON *entry = NULL;
    cJSON_ArrayForEach(entry, tigerctl_json_member(status, "rooms")) {
        struct tui_room room = {.node = node->id};
        uint64_t messages = 0;
        if (!room_id_parse(tigerctl_json_string(entry, "room"), &room.room) ||
            !get_u32(entry, "group", UINT32_MAX, &room.group) ||
            !get_u64(entry, "messages", JSON_INTEGER_MAX, &messages) ||
            !get_u64(entry, "seq", JSON_INTEGER_MAX, &room.seq)) {
            snapshot->rows_ignored++;
            continue;
        }
        room.per_s = (double)messages * 1000.0 / (double)window_ms;
        room_keep(snapshot, &room);
    }
}

// Files the node's heartbeat reports under their groups and counts its roles.
static void heartbeat_parse(const cJSON *status, struct tui_node *node,
                            struct tui_snapshot *snapshot) {
    if (!cJSON_IsObject(status)) return;
    uint64_t connections = 0;
    node->connections_known = get_u64(status, "connections", JSON_INTEGER_MAX, &connections);
    node->connections = node->connections_known ? connections : 0;
    uint64_t p99 = 0;
    node->commit_p99_known = get_u64(status, "commit_p99_us", JSON_INTEGER_MAX, &p99);
    node->commit_p99_us = node->commit_p99_known ? p99 : 0;
    node->reported_omitted = count_or_zero(status, "groups_omitted");
    rooms_parse(status, node, snapshot);
    const cJSON *report = NULL;
    cJSON_ArrayForEach(report, tigerctl_json_member(status, "groups")) {
        struct tui_replica replica;
        uint32_t group_id = 0;
        if (!replica_parse(report, node, &replica, &group_id)) continue;
        node->reported++;
        const bool leads = replica.primary && strcmp(replica.state, "normal") == 0;
        node->primaries += leads ? 1u : 0u;
        node->learners += strcmp(replica.role, "learner") == 0 ? 1u : 0u;
        struct tui_group *group = group_lookup(snapshot, group_id);
        if (group == NULL) continue; // a group the controller does not list (not registered)
        if (group->observed_count == TUI_OBSERVED_MAX) {
            snapshot->rows_dropped++;
            continue;
        }
        group->observed[group->observed_count++] = replica;
    }
}

static bool node_parse(const cJSON *row, struct tui_node *node) {
    memset(node, 0, sizeof(*node));
    if (!get_u32(row, "id", NODE_ID_MAX, &node->id) || node->id == 0) return false;
    get_text(row, "state", node->state, sizeof(node->state));
    node->live = cJSON_IsTrue(tigerctl_json_member(row, "live"));
    node->heartbeat_known = get_u64(row, "heartbeat_ms", JSON_INTEGER_MAX, &node->heartbeat_ms);
    get_text(row, "zone", node->zone, sizeof(node->zone));
    get_text(row, "public_key", node->public_key, sizeof(node->public_key));
    get_text(row, "address_peer", node->address_peer, sizeof(node->address_peer));
    get_text(row, "address_client", node->address_client, sizeof(node->address_client));
    get_text(row, "address_admin", node->address_admin, sizeof(node->address_admin));
    return true;
}

// Replicas per node from the groups' members (the topology, as tigerctl nodes counts them).
static void nodes_count_replicas(struct tui_snapshot *snapshot) {
    for (uint32_t g = 0; g < snapshot->group_count; g++) {
        const struct tui_group *group = &snapshot->groups[g];
        for (uint32_t m = 0; m < group->member_count; m++) {
            struct tui_node *node = (struct tui_node *)tui_node_find(snapshot, group->members[m]);
            if (node != NULL) node->replicas++;
        }
    }
}

static uint32_t nodes_unique(struct tui_snapshot *snapshot) {
    qsort(snapshot->nodes, snapshot->node_count, sizeof(snapshot->nodes[0]), node_order);
    uint32_t kept = 0;
    for (uint32_t i = 0; i < snapshot->node_count; i++) {
        if (kept > 0 && snapshot->nodes[kept - 1].id == snapshot->nodes[i].id) {
            snapshot->rows_ignored++;
            continue;
        }
        if (kept != i) snapshot->nodes[kept] = snapshot->nodes[i];
        kept++;
    }
    return kept;
}

int tui_parse_nodes(const cJSON *json, struct tui_snapshot *snapshot, char *error,
                    uint32_t error_size) {
    tc_assert(snapshot != NULL);
    snapshot->node_count = 0;
    snapshot->room_count = 0;
    for (uint32_t g = 0; g < snapshot->group_count; g++) snapshot->groups[g].observed_count = 0;
    if (!cJSON_IsArray(json)) return fail(error, error_size, "/v1/nodes: not an array");
    const cJSON *row = NULL;
    cJSON_ArrayForEach(row, json) {
        if (snapshot->node_count == TUI_NODES_MAX) {
            snapshot->rows_dropped++;
            continue;
        }
        if (node_parse(row, &snapshot->nodes[snapshot->node_count])) {
            snapshot->node_count++;
        } else {
            snapshot->rows_ignored++;
        }
    }
    snapshot->node_count = nodes_unique(snapshot);
    // Heartbeats after the ids are final; a repeated node's reports are filed once.
    bool filed[NODE_ID_MAX + 1] = {false};
    cJSON_ArrayForEach(row, json) {
        uint32_t id = 0;
        if (!get_u32(row, "id", NODE_ID_MAX, &id) || filed[id]) continue;
        struct tui_node *node = (struct tui_node *)tui_node_find(snapshot, id);
        if (node == NULL) continue;
        filed[id] = true;
        heartbeat_parse(tigerctl_json_member(row, "status"), node, snapshot);
    }
    nodes_count_replicas(snapshot);
    return 0;
}

// ------------------------------------------------------------------------------------------------
// /v1/jobs, /v1/jobs/ID

static bool job_parse(const cJSON *row, struct tui_job *job) {
    memset(job, 0, sizeof(*job));
    if (!get_u64(row, "id", JSON_INTEGER_MAX, &job->id) || job->id == 0) return false;
    get_text(row, "kind", job->kind, sizeof(job->kind));
    if (!get_u32(row, "node", NODE_ID_MAX, &job->node)) job->node = 0;
    get_text(row, "state", job->state, sizeof(job->state));
    const char *reason = tigerctl_json_string(row, "reason");
    tui_text_copy(job->reason, sizeof(job->reason), reason != NULL ? reason : "");
    job->moves_done = count_or_zero(row, "moves_done");
    job->moves = count_or_zero(row, "moves");
    if (!get_u64(row, "created_seq", JSON_INTEGER_MAX, &job->created_seq)) job->created_seq = 0;
    return true;
}

int tui_parse_jobs(const cJSON *json, struct tui_snapshot *snapshot, char *error,
                   uint32_t error_size) {
    tc_assert(snapshot != NULL);
    snapshot->job_count = 0;
    if (!cJSON_IsArray(json)) return fail(error, error_size, "/v1/jobs: not an array");
    const cJSON *row = NULL;
    cJSON_ArrayForEach(row, json) {
        if (snapshot->job_count == TUI_JOBS_MAX) {
            snapshot->rows_dropped++;
            continue;
        }
        if (job_parse(row, &snapshot->jobs[snapshot->job_count])) {
            snapshot->job_count++;
        } else {
            snapshot->rows_ignored++;
        }
    }
    return 0;
}

static bool move_parse(const cJSON *row, struct tui_move *move) {
    memset(move, 0, sizeof(*move));
    if (!get_u32(row, "step", UINT32_MAX, &move->step) || move->step == 0) return false;
    move->group = count_or_zero(row, "group");
    get_text(row, "kind", move->kind, sizeof(move->kind));
    if (!get_u32(row, "from", NODE_ID_MAX, &move->from)) move->from = 0;
    if (!get_u32(row, "to", NODE_ID_MAX, &move->to)) move->to = 0;
    get_text(row, "state", move->state, sizeof(move->state));
    const char *progress = tigerctl_json_string(row, "progress");
    tui_text_copy(move->progress, sizeof(move->progress), progress != NULL ? progress : "");
    return true;
}

int tui_parse_job_moves(const cJSON *json, struct tui_move *moves, uint32_t capacity,
                        uint32_t *count, uint32_t *total, char *error, uint32_t error_size) {
    tc_assert(moves != NULL && count != NULL && total != NULL);
    *count = 0;
    *total = 0;
    const cJSON *array = tigerctl_json_member(json, "moves");
    if (!cJSON_IsObject(json) || !cJSON_IsArray(array)) {
        return fail(error, error_size, "/v1/jobs/ID: no moves array");
    }
    const cJSON *row = NULL;
    cJSON_ArrayForEach(row, array) {
        (*total)++;
        if (*count < capacity && move_parse(row, &moves[*count])) (*count)++;
    }
    return 0;
}

// ------------------------------------------------------------------------------------------------
// /v1/audit

// "ok", "refused: <reason>", "ok (job 2)", or the result's JSON.
static void result_text(const cJSON *entry, char *out, uint32_t size) {
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(entry, "result");
    const char *status = tigerctl_json_string(result, "status");
    const char *reason = tigerctl_json_string(result, "reason");
    uint64_t job = 0;
    char text[TUI_LONG_TEXT_SIZE];
    if (cJSON_IsString(result)) {
        tui_text_copy(out, size, result->valuestring);
    } else if (status != NULL && reason != NULL) {
        (void)snprintf(text, sizeof(text), "%s: %s", status, reason);
        tui_text_copy(out, size, text);
    } else if (status != NULL && get_u64(result, "job", JSON_INTEGER_MAX, &job)) {
        (void)snprintf(text, sizeof(text), "%s (job %llu)", status, (unsigned long long)job);
        tui_text_copy(out, size, text);
    } else if (status != NULL) {
        tui_text_copy(out, size, status);
    } else {
        get_json(entry, "result", out, size);
    }
}

static bool entry_parse(const cJSON *row, struct tui_audit_entry *entry) {
    memset(entry, 0, sizeof(*entry));
    if (!get_u64(row, "seq", JSON_INTEGER_MAX, &entry->seq) || entry->seq == 0) return false;
    get_text(row, "time", entry->time, sizeof(entry->time));
    get_text(row, "actor", entry->actor, sizeof(entry->actor));
    get_text(row, "action", entry->action, sizeof(entry->action));
    get_json(row, "args", entry->args, sizeof(entry->args));
    result_text(row, entry->result, sizeof(entry->result));
    return true;
}

int tui_parse_audit(const cJSON *json, struct tui_snapshot *snapshot, char *error,
                    uint32_t error_size) {
    tc_assert(snapshot != NULL);
    snapshot->audit_count = 0;
    const cJSON *entries = tigerctl_json_member(json, "entries");
    if (!cJSON_IsObject(json) || !cJSON_IsArray(entries)) {
        return fail(error, error_size, "/v1/audit: no entries array");
    }
    // Keep the newest TUI_AUDIT_TAIL_MAX, oldest first.
    const int size = cJSON_GetArraySize(entries);
    const int skip = size > (int)TUI_AUDIT_TAIL_MAX ? size - (int)TUI_AUDIT_TAIL_MAX : 0;
    int index = 0;
    const cJSON *row = NULL;
    cJSON_ArrayForEach(row, entries) {
        if (index++ < skip) continue;
        tc_assert(snapshot->audit_count < TUI_AUDIT_TAIL_MAX);
        if (entry_parse(row, &snapshot->audit[snapshot->audit_count])) {
            snapshot->audit_count++;
        } else {
            snapshot->rows_ignored++;
        }
    }
    return 0;
}

// ------------------------------------------------------------------------------------------------
// /v1/plan/drain, /v1/plan/rebalance

static bool hash_valid(const char *hash) {
    const size_t size = strnlen(hash, TUI_HEX_SIZE);
    if (size == 0 || size >= TUI_HEX_SIZE) return false;
    for (size_t i = 0; i < size; i++) {
        if (hash[i] <= 0x20 || hash[i] >= 0x7f) return false;
    }
    return true;
}

static bool plan_step_parse(const cJSON *row, struct tui_plan_step *step) {
    memset(step, 0, sizeof(*step));
    if (!get_u32(row, "step", UINT32_MAX, &step->step)) return false;
    step->group = count_or_zero(row, "group");
    get_text(row, "kind", step->kind, sizeof(step->kind));
    if (!get_u32(row, "from", NODE_ID_MAX, &step->from)) step->from = 0;
    if (!get_u32(row, "to", NODE_ID_MAX, &step->to)) step->to = 0;
    return true;
}

int tui_parse_plan(const cJSON *json, struct tui_plan *plan, char *error, uint32_t error_size) {
    tc_assert(plan != NULL);
    plan->step_count = 0;
    plan->step_total = 0;
    plan->topology_hash[0] = '\0';
    const char *hash = tigerctl_json_string(json, "topology_hash");
    const cJSON *steps = tigerctl_json_member(json, "steps");
    if (!cJSON_IsObject(json) || hash == NULL || !cJSON_IsArray(steps)) {
        return fail(error, error_size, "the plan needs topology_hash and steps");
    }
    if (!hash_valid(hash)) return fail(error, error_size, "the plan's topology_hash is malformed");
    (void)snprintf(plan->topology_hash, sizeof(plan->topology_hash), "%s", hash);
    if (!get_u64(json, "topology_version", JSON_INTEGER_MAX, &plan->topology_version)) {
        plan->topology_version = 0;
    }
    const cJSON *row = NULL;
    cJSON_ArrayForEach(row, steps) {
        plan->step_total++;
        if (plan->step_count == TUI_PLAN_STEPS_MAX) continue;
        if (!plan_step_parse(row, &plan->steps[plan->step_count])) {
            return fail(error, error_size, "plan step %u is malformed", plan->step_total);
        }
        plan->step_count++;
    }
    return 0;
}
