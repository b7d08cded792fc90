// JSON for the HTTP API (docs/controller.md §8), built with cJSON and printed compact into the
// caller's buffer. Each renderer reads in one snapshot.
#include <cjson/cJSON.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_audit.h"
#include "tc_err.h"


bool store_json_members(cJSON *item, const struct ctl_group *group) {
    cJSON *members = cJSON_AddArrayToObject(item, "members");
    bool ok = members != NULL;
    for (uint32_t i = 0; ok && i < CTL_REPLICAS; i++) {
        cJSON *member = cJSON_CreateNumber((double)group->members[i]);
        ok = member != NULL;
        if (ok) cJSON_AddItemToArray(members, member);
    }
    return ok;
}
static bool json_u64(cJSON *object, const char *name, uint64_t value) {
    tc_assert(value <= TC_AUDIT_SEQ_MAX); // exact as a double
    return cJSON_AddNumberToObject(object, name, (double)value) != NULL;
}

// A number, or null for 0 (no node, not removed, no primary).
static bool json_u64_or_null(cJSON *object, const char *name, uint64_t value) {
    if (value == 0) return cJSON_AddNullToObject(object, name) != NULL;
    return json_u64(object, name, value);
}

static bool json_string(cJSON *object, const char *name, const char *value) {
    return cJSON_AddStringToObject(object, name, value) != NULL;
}

// A new object appended to array (owned by it), or NULL.
static cJSON *json_item(cJSON *array) {
    cJSON *item = cJSON_CreateObject();
    if (item != NULL) cJSON_AddItemToArray(array, item);
    return item;
}

// Prints root (taking ownership) into out; ok false means building it ran out of memory.
static int json_finish(struct ctl_store *store, cJSON *root, bool ok, char *out, size_t capacity,
                       size_t *size) {
    tc_assert(out != NULL && capacity > 0);
    if (root == NULL || !ok) {
        cJSON_Delete(root);
        return store_fail(store, TC_ENOMEM, "json: out of memory");
    }
    const int length = capacity > INT_MAX ? INT_MAX : (int)capacity;
    const bool printed = cJSON_PrintPreallocated(root, out, length, 0) != 0;
    cJSON_Delete(root);
    if (!printed) return store_fail(store, TC_ENOSPC, "json: %zu bytes are not enough", capacity);
    const size_t printed_size = strnlen(out, capacity);
    tc_assert(printed_size < capacity);
    if (size != NULL) *size = printed_size;
    return 0;
}

static bool node_json(struct ctl_store *store, cJSON *nodes, const struct ctl_node *node,
                      int *rc) {
    cJSON *item = json_item(nodes);
    bool ok = item != NULL && json_u64(item, "id", node->id) &&
              json_string(item, "public_key", node->public_key) &&
              json_string(item, "zone", node->zone) &&
              json_string(item, "address_peer", node->address_peer) &&
              json_string(item, "address_client", node->address_client) &&
              json_string(item, "address_admin", node->address_admin) &&
              json_string(item, "state", ctl_store_node_state_name(node->state)) &&
              cJSON_AddBoolToObject(item, "live", node->live) != NULL;
    if (!ok) return false;
    store_bind_u64(store, STMT_STATUS_GET, 1, node->id);
    *rc = store_step(store, STMT_STATUS_GET);
    if (*rc <= 0) {
        return cJSON_AddNullToObject(item, "heartbeat_ms") != NULL &&
               cJSON_AddNullToObject(item, "status") != NULL;
    }
    sqlite3_stmt *stmt = store_stmt(store, STMT_STATUS_GET);
    const unsigned char *status = sqlite3_column_text(stmt, 1);
    ok = json_u64(item, "heartbeat_ms", store_column_u64(store, STMT_STATUS_GET, 0)) &&
         status != NULL && cJSON_AddRawToObject(item, "status", (const char *)status) != NULL;
    store_reset(store, STMT_STATUS_GET);
    *rc = 0;
    return ok; // status was checked to be a JSON object when recorded
}

int ctl_store_nodes_json(struct ctl_store *store, uint64_t now_ms, uint64_t liveness_ms,
                         char *out, size_t capacity, size_t *size) {
    tc_assert(store != NULL);
    bool started = false;
    int rc = store_read_begin(store, &started);
    if (rc == 0) rc = store_model_load(store, &store->model, now_ms, liveness_ms);
    cJSON *root = rc == 0 ? cJSON_CreateArray() : NULL;
    bool ok = root != NULL;
    for (uint32_t i = 0; ok && rc == 0 && i < store->model.node_count; i++) {
        ok = node_json(store, root, &store->model.nodes[i], &rc);
    }
    rc = store_read_end(store, started, rc);
    if (rc != 0) {
        cJSON_Delete(root);
        return rc;
    }
    return json_finish(store, root, ok, out, capacity, size);
}

static uint32_t group_live(const struct ctl_model *model, const struct ctl_group *group) {
    uint32_t live = 0;
    for (uint32_t m = 0; m < CTL_REPLICAS; m++) {
        for (uint32_t i = 0; i < model->node_count; i++) {
            if (model->nodes[i].id == group->members[m] && model->nodes[i].live) live++;
        }
    }
    tc_assert(live <= CTL_REPLICAS);
    return live;
}


static bool group_json(cJSON *groups, const struct ctl_model *model, const struct ctl_group *group,
                       uint32_t slots) {
    cJSON *item = json_item(groups);
    const uint32_t live = group_live(model, group);
    const char *health = live == CTL_REPLICAS       ? "healthy"
                         : live == CTL_REPLICAS - 1 ? "degraded"
                                                    : "no_quorum";
    bool ok = item != NULL && json_u64(item, "id", group->id) &&
              json_u64(item, "epoch", group->epoch) &&
              json_u64_or_null(item, "primary", group->primary_node) &&
              json_u64(item, "slots", slots) && json_u64(item, "live_members", live) &&
              json_string(item, "health", health);
    ok = ok && store_json_members(item, group);
    if (!ok || group->change.kind == CTL_CHANGE_NONE) {
        return ok && cJSON_AddNullToObject(item, "change") != NULL;
    }
    cJSON *change = cJSON_AddObjectToObject(item, "change");
    return change != NULL && json_u64(change, "from", group->change.from_node) &&
           json_u64(change, "job", group->change.job_id) &&
           json_string(change, "kind", store_change_kind_name(group->change.kind)) &&
           json_u64(change, "step", group->change.step) &&
           json_u64(change, "to", group->change.to_node);
}

int ctl_store_groups_json(struct ctl_store *store, uint64_t now_ms, uint64_t liveness_ms,
                          char *out, size_t capacity, size_t *size) {
    tc_assert(store != NULL);
    int rc = ctl_store_model_load(store, &store->model, now_ms, liveness_ms);
    if (rc != 0) return rc;
    const struct ctl_model *model = &store->model;
    uint32_t slots[CTL_GROUPS_MAX];
    memset(slots, 0, sizeof(slots));
    for (uint32_t slot = 0; slot < CTL_SLOTS; slot++) {
        if (model->slot_group[slot] == 0) continue;
        const int32_t index = ctl_model_group_find(model, model->slot_group[slot]);
        tc_assert(index >= 0); // model_slots checked it
        slots[index]++;
    }
    cJSON *root = cJSON_CreateArray();
    bool ok = root != NULL;
    for (uint32_t g = 0; ok && g < model->group_count; g++) {
        ok = group_json(root, model, &model->groups[g], slots[g]);
    }
    return json_finish(store, root, ok, out, capacity, size);
}

static bool job_json_fields(cJSON *item, const struct ctl_store_job *job) {
    return json_u64(item, "id", job->id) &&
           json_string(item, "kind", store_job_kind_name(job->kind)) &&
           json_u64_or_null(item, "node", job->node_id) &&
           json_string(item, "topology_hash", job->topology_hash) &&
           json_string(item, "state", ctl_store_job_state_name(job->state)) &&
           json_string(item, "reason", job->reason) &&
           json_u64(item, "created_seq", job->created_seq) &&
           json_u64(item, "updated_seq", job->updated_seq) &&
           json_u64(item, "moves_done", job->moves_done);
}

int ctl_store_jobs_json(struct ctl_store *store, char *out, size_t capacity, size_t *size) {
    tc_assert(store != NULL);
    struct ctl_store_job *jobs = calloc(CTL_STORE_JOBS_JSON_MAX, sizeof(*jobs));
    if (jobs == NULL) return store_fail(store, TC_ENOMEM, "jobs: out of memory");
    uint32_t count = 0;
    int rc = ctl_store_jobs_list(store, false, 0, jobs, CTL_STORE_JOBS_JSON_MAX, &count);
    cJSON *root = rc == 0 ? cJSON_CreateArray() : NULL;
    bool ok = root != NULL;
    for (uint32_t i = 0; ok && i < count; i++) {
        cJSON *item = json_item(root);
        ok = item != NULL && job_json_fields(item, &jobs[i]) &&
             json_u64(item, "moves", jobs[i].move_count);
    }
    free(jobs);
    if (rc != 0) return rc;
    return json_finish(store, root, ok, out, capacity, size);
}

static bool move_json(cJSON *moves, const struct ctl_store_move *move) {
    cJSON *item = json_item(moves);
    return item != NULL && json_u64(item, "step", move->step) &&
           json_u64(item, "group", move->group_id) &&
           json_string(item, "kind", store_change_kind_name(move->kind)) &&
           json_u64(item, "from", move->from_node) && json_u64(item, "to", move->to_node) &&
           json_string(item, "state", ctl_store_move_state_name(move->state)) &&
           json_string(item, "progress", move->progress);
}

int ctl_store_job_json(struct ctl_store *store, uint64_t job_id, char *out, size_t capacity,
                       size_t *size) {
    tc_assert(store != NULL);
    struct ctl_store_job job = {0};
    struct ctl_store_move *moves = calloc(CTL_STORE_JOB_MOVES_MAX, sizeof(*moves));
    if (moves == NULL) return store_fail(store, TC_ENOMEM, "job: out of memory");
    uint32_t count = 0;
    bool started = false;
    int rc = store_read_begin(store, &started);
    if (rc == 0) rc = ctl_store_job_get(store, job_id, &job);
    if (rc == 0) rc = ctl_store_job_moves(store, job_id, moves, CTL_STORE_JOB_MOVES_MAX, &count);
    rc = store_read_end(store, started, rc);
    cJSON *root = rc == 0 ? cJSON_CreateObject() : NULL;
    bool ok = root != NULL && job_json_fields(root, &job);
    cJSON *array = ok ? cJSON_AddArrayToObject(root, "moves") : NULL;
    ok = array != NULL;
    for (uint32_t i = 0; ok && i < count; i++) ok = move_json(array, &moves[i]);
    free(moves);
    if (rc != 0) return rc;
    return json_finish(store, root, ok, out, capacity, size);
}

int ctl_store_keys_json(struct ctl_store *store, char *out, size_t capacity, size_t *size) {
    tc_assert(store != NULL);
    struct ctl_store_key *keys = calloc(CTL_STORE_KEYS_MAX, sizeof(*keys));
    if (keys == NULL) return store_fail(store, TC_ENOMEM, "keys: out of memory");
    uint32_t count = 0;
    const int rc = ctl_store_keys_list(store, keys, CTL_STORE_KEYS_MAX, &count);
    cJSON *root = rc == 0 ? cJSON_CreateArray() : NULL;
    bool ok = root != NULL;
    for (uint32_t i = 0; ok && i < count; i++) {
        cJSON *item = json_item(root);
        ok = item != NULL && json_string(item, "public_key", keys[i].public_key) &&
             json_string(item, "name", keys[i].name) &&
             json_string(item, "role", ctl_store_role_name(keys[i].role)) &&
             json_u64(item, "added_seq", keys[i].added_seq) &&
             json_u64_or_null(item, "removed_seq", keys[i].removed_seq);
    }
    free(keys);
    if (rc != 0) return rc;
    return json_finish(store, root, ok, out, capacity, size);
}
