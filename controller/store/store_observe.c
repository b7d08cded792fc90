// Observations, never chained: heartbeats (node_status) and rejected requests, each committed
// with synchronous=NORMAL (a power loss may lose the newest, never corrupt the database; up to
// 255 nodes heartbeat every second and must not cost an fsync each). And the status counts.
#include <cjson/cJSON.h>
#include <string.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

static bool status_valid(const char *status_json) {
    if (status_json == NULL) return false;
    if (strnlen(status_json, CTL_STORE_STATUS_SIZE_MAX) >= CTL_STORE_STATUS_SIZE_MAX) return false;
    cJSON *status = cJSON_ParseWithOpts(status_json, NULL, 1);
    const bool valid = status != NULL && cJSON_IsObject(status);
    cJSON_Delete(status);
    return valid;
}

int ctl_store_heartbeat(struct ctl_store *store, uint16_t node, uint64_t now_ms,
                        const char *status_json) {
    tc_assert(store != NULL);
    tc_assert(now_ms <= (uint64_t)INT64_MAX);
    if (node == 0 || node > CTL_NODES_MAX) return store_fail(store, TC_ENOENT, "node %u", node);
    if (!status_valid(status_json)) {
        return store_fail(store, TC_EINVAL, "heartbeat: status is not a JSON object below %u bytes",
                          CTL_STORE_STATUS_SIZE_MAX);
    }
    int rc = store_observe_begin(store);
    if (rc != 0) return rc;
    store_bind_u64(store, STMT_NODE_GET, 1, node);
    rc = store_step(store, STMT_NODE_GET);
    if (rc == 0) rc = store_fail(store, TC_ENOENT, "heartbeat: unknown node %u", node);
    if (rc == 1) {
        store_reset(store, STMT_NODE_GET);
        store_bind_u64(store, STMT_STATUS_UPSERT, 1, node);
        store_bind_u64(store, STMT_STATUS_UPSERT, 2, now_ms);
        store_bind_text(store, STMT_STATUS_UPSERT, 3, status_json);
        rc = store_exec(store, STMT_STATUS_UPSERT);
    }
    return store_observe_end(store, rc);
}

static bool field_terminated(const char *field, size_t size) {
    return memchr(field, '\0', size) != NULL;
}

int ctl_store_rejected_add(struct ctl_store *store, const struct ctl_store_rejected *row) {
    tc_assert(store != NULL && row != NULL);
    tc_assert(row->time_ms <= (uint64_t)INT64_MAX);
    tc_assert(field_terminated(row->remote, sizeof(row->remote)));
    tc_assert(field_terminated(row->actor, sizeof(row->actor)));
    tc_assert(field_terminated(row->action, sizeof(row->action)));
    tc_assert(field_terminated(row->reason, sizeof(row->reason)));
    int rc = store_observe_begin(store);
    if (rc != 0) return rc;
    store_bind_u64(store, STMT_REJECTED_INSERT, 1, row->time_ms);
    store_bind_text(store, STMT_REJECTED_INSERT, 2, row->remote);
    store_bind_text(store, STMT_REJECTED_INSERT, 3, row->actor);
    store_bind_text(store, STMT_REJECTED_INSERT, 4, row->action);
    store_bind_text(store, STMT_REJECTED_INSERT, 5, row->reason);
    rc = store_exec(store, STMT_REJECTED_INSERT);
    if (rc == 0) {
        // AUTOINCREMENT ids only grow and only this trim deletes: ids <= newest - KEEP are exactly
        // the rows beyond the newest KEEP (fewer are kept only if an insert ever left a gap).
        const int64_t newest = sqlite3_last_insert_rowid(store->db);
        tc_assert(newest >= 1);
        store_bind_i64(store, STMT_REJECTED_TRIM, 1, newest - (int64_t)CTL_STORE_REJECTED_KEEP);
        rc = store_exec(store, STMT_REJECTED_TRIM);
    }
    return store_observe_end(store, rc);
}

static int rejected_row(struct ctl_store *store, struct ctl_store_rejected *row) {
    const enum store_stmt id = STMT_REJECTED_LIST;
    memset(row, 0, sizeof(*row));
    row->id = store_column_u64(store, id, 0);
    row->time_ms = store_column_u64(store, id, 1);
    int rc = store_column_text(store, id, 2, row->remote, sizeof(row->remote));
    if (rc == 0) rc = store_column_text(store, id, 3, row->actor, sizeof(row->actor));
    if (rc == 0) rc = store_column_text(store, id, 4, row->action, sizeof(row->action));
    if (rc == 0) rc = store_column_text(store, id, 5, row->reason, sizeof(row->reason));
    return rc;
}

int ctl_store_rejected_list(struct ctl_store *store, uint64_t before_id,
                            struct ctl_store_rejected *rows, uint32_t capacity, uint32_t *count) {
    tc_assert(store != NULL && count != NULL);
    tc_assert(rows != NULL || capacity == 0);
    *count = 0;
    if (capacity == 0) return 0;
    const enum store_stmt id = STMT_REJECTED_LIST;
    store_bind_u64(store, id, 1, before_id == 0 || before_id > INT64_MAX ? INT64_MAX : before_id);
    store_bind_u64(store, id, 2, capacity);
    int rc = 0;
    while ((rc = store_step(store, id)) == 1) {
        tc_assert(*count < capacity); // LIMIT
        rc = rejected_row(store, &rows[*count]);
        if (rc != 0) break;
        (*count)++;
    }
    if (rc != 0) store_reset(store, id);
    return rc < 0 ? rc : 0;
}

// Node and group counts from store->model (loaded with liveness).
static void status_model(const struct ctl_model *model, struct ctl_store_status *status) {
    for (uint32_t i = 0; i < model->node_count; i++) {
        const struct ctl_node *node = &model->nodes[i];
        tc_assert((uint32_t)node->state <= CTL_NODE_DOWN);
        status->nodes_by_state[node->state]++;
        if (node->live) status->nodes_live++;
    }
    status->groups = model->group_count;
    for (uint32_t g = 0; g < model->group_count; g++) {
        uint32_t live = 0;
        for (uint32_t m = 0; m < CTL_REPLICAS; m++) {
            for (uint32_t i = 0; i < model->node_count; i++) {
                const struct ctl_node *node = &model->nodes[i];
                if (node->id == model->groups[g].members[m] && node->live) live++;
            }
        }
        if (live == CTL_REPLICAS) status->groups_healthy++;
        if (live == CTL_REPLICAS - 1) status->groups_degraded++;
        if (live < CTL_REPLICAS - 1) status->groups_no_quorum++;
    }
    tc_assert(status->groups_healthy + status->groups_degraded + status->groups_no_quorum ==
              status->groups);
}

static int status_tables(struct ctl_store *store, struct ctl_store_status *status) {
    int rc = store_cluster_get(store, status->cluster, sizeof(status->cluster),
                               status->controller_key, &status->slots);
    if (rc == TC_ENOENT) rc = 0; // before format/bootstrap: empty fields
    int64_t value = 0;
    if (rc == 0) rc = store_query_i64(store, STMT_HEAD_SEQ, &value);
    status->head_seq = (uint64_t)value;
    if (rc == 0) rc = store_step(store, STMT_TOPOLOGY_LATEST);
    if (rc == 1) {
        status->topology_version = store_column_u64(store, STMT_TOPOLOGY_LATEST, 0);
        store_reset(store, STMT_TOPOLOGY_LATEST);
        rc = 0;
    }
    if (rc == 0) rc = store_query_i64(store, STMT_JOBS_RUNNING, &value);
    status->jobs_running = (uint32_t)value;
    if (rc == 0) rc = store_step(store, STMT_KEY_COUNT);
    if (rc == 1) {
        status->keys_active = (uint32_t)store_column_u64(store, STMT_KEY_COUNT, 1);
        store_reset(store, STMT_KEY_COUNT);
        rc = 0;
    }
    if (rc == 0) rc = store_query_i64(store, STMT_REJECTED_COUNT, &value);
    status->rejected_rows = (uint64_t)value;
    return rc;
}

int ctl_store_status_get(struct ctl_store *store, uint64_t now_ms, uint64_t liveness_ms,
                         struct ctl_store_status *status) {
    tc_assert(store != NULL && status != NULL);
    memset(status, 0, sizeof(*status));
    bool started = false;
    int rc = store_read_begin(store, &started);
    if (rc != 0) return rc;
    rc = status_tables(store, status);
    if (rc == 0) rc = store_model_load(store, &store->model, now_ms, liveness_ms);
    if (rc == 0) status_model(&store->model, status);
    return store_read_end(store, started, rc);
}
