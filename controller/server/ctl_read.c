// The read endpoints (GET, no signature; docs/controller.md §8).
#include "ctl_read.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl_decide.h"
#include "ctl_jobs.h"
#include "ctl_plan.h"
#include "ctl_store.h"
#include "node_config.h"
#include "tc_assert.h"
#include "tc_checksum.h"
#include "tc_err.h"

// A query parameter as an unsigned integer in [min, max]; `fallback` when absent.
static int query_u64(const struct tc_admin_request *http, const char *name, uint64_t min,
                     uint64_t max, uint64_t fallback, uint64_t *out) {
    char text[32];
    uint32_t size = 0;
    const int rc = tc_edge_http_query_get(http->http, name, text, sizeof(text), &size);
    if (rc == TC_ENOENT) {
        *out = fallback;
        return 0;
    }
    if (rc != 0 || size == 0 || strspn(text, "0123456789") != size || size > 19) return TC_EINVAL;
    const uint64_t value = strtoull(text, NULL, 10);
    if (value < min || value > max) return TC_EINVAL;
    *out = value;
    return 0;
}

static void bad_query(struct tc_admin_response *response, const char *name, const char *range) {
    char message[160];
    (void)snprintf(message, sizeof(message), "query parameter %s: %s", name, range);
    ctl_respond_error(response, 400, "bad_request", message);
}

// A store JSON renderer's output as the response body.
static void respond_store(struct ctl_server *server, struct tc_admin_response *response, int rc,
                          size_t size) {
    if (rc == TC_ENOENT) {
        ctl_respond_error(response, 404, "not_found", "no such job");
        return;
    }
    if (rc != 0) {
        ctl_respond_error(response, 500, "store", ctl_store_error(server->store));
        return;
    }
    tc_assert(size < response->body_capacity);
    response->status = 200;
    response->content_type = "application/json";
    response->body_size = (uint32_t)size;
}

void ctl_read_nodes(struct ctl_server *server, const struct tc_admin_request *http,
                    struct tc_admin_response *response) {
    (void)http;
    size_t size = 0;
    const int rc = ctl_store_nodes_json(server->store, ctl_wall_ms(), server->options.liveness_ms,
                                        response->body, response->body_capacity, &size);
    respond_store(server, response, rc, size);
}

void ctl_read_groups(struct ctl_server *server, const struct tc_admin_request *http,
                     struct tc_admin_response *response) {
    (void)http;
    size_t size = 0;
    const int rc = ctl_store_groups_json(server->store, ctl_wall_ms(), server->options.liveness_ms,
                                         response->body, response->body_capacity, &size);
    respond_store(server, response, rc, size);
}

void ctl_read_keys(struct ctl_server *server, const struct tc_admin_request *http,
                   struct tc_admin_response *response) {
    (void)http;
    size_t size = 0;
    const int rc =
        ctl_store_keys_json(server->store, response->body, response->body_capacity, &size);
    respond_store(server, response, rc, size);
}

// A running replace step's progress as the heartbeats show it now (not chained: the chain records
// phases, this shows the sync between them): "...; learner at op A of B".
static void move_live_progress(const cJSON *nodes, const struct ctl_model *model, cJSON *move) {
    const cJSON *state = cJSON_GetObjectItemCaseSensitive(move, "state");
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(move, "kind");
    const cJSON *group_id = cJSON_GetObjectItemCaseSensitive(move, "group");
    const cJSON *to = cJSON_GetObjectItemCaseSensitive(move, "to");
    const cJSON *progress = cJSON_GetObjectItemCaseSensitive(move, "progress");
    if (!cJSON_IsString(state) || strcmp(state->valuestring, "running") != 0 ||
        !cJSON_IsString(kind) || strcmp(kind->valuestring, "replace") != 0 ||
        !cJSON_IsNumber(group_id) || !cJSON_IsNumber(to) || !cJSON_IsString(progress)) {
        return;
    }
    const int32_t found = ctl_model_group_find(model, (uint64_t)group_id->valuedouble);
    const struct ctl_group *group = found < 0 ? NULL : &model->groups[found];
    const cJSON *learner =
        group == NULL ? NULL
                      : ctl_heartbeat_group(nodes, (uint16_t)to->valuedouble, group->id);
    const cJSON *applied = cJSON_GetObjectItemCaseSensitive(learner, "applied");
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(learner, "role");
    char text[CTL_STORE_TEXT_SIZE_MAX + 96];
    if (!cJSON_IsNumber(applied) || !cJSON_IsString(role)) {
        (void)snprintf(text, sizeof(text), "%s; waiting for node %u to start the learner",
                       progress->valuestring, (unsigned)to->valuedouble);
    } else {
        (void)snprintf(text, sizeof(text), "%s; %s at op %llu of %llu", progress->valuestring,
                       role->valuestring, (unsigned long long)applied->valuedouble,
                       (unsigned long long)ctl_members_applied(nodes, group));
    }
    cJSON_ReplaceItemInObjectCaseSensitive(move, "progress", cJSON_CreateString(text));
}

static int job_live_progress(struct ctl_server *server, struct tc_admin_response *response,
                             size_t *size) {
    const int rc = ctl_model_refresh(server);
    if (rc != 0) return rc;
    const cJSON *nodes = server->heartbeats;
    cJSON *job = cJSON_ParseWithLength(response->body, *size);
    tc_assert(nodes != NULL && job != NULL);
    const cJSON *moves = cJSON_GetObjectItemCaseSensitive(job, "moves");
    cJSON *move = NULL;
    cJSON_ArrayForEach(move, moves) move_live_progress(nodes, server->model, move);
    const bool printed = cJSON_PrintPreallocated(job, response->body,
                                                 (int)response->body_capacity, 0);
    cJSON_Delete(job);
    if (!printed) return TC_ENOSPC;
    *size = strlen(response->body);
    return 0;
}

void ctl_read_jobs(struct ctl_server *server, const struct tc_admin_request *http,
                   struct tc_admin_response *response, const char *id_text) {
    (void)http;
    size_t size = 0;
    if (id_text == NULL) {
        const int rc =
            ctl_store_jobs_json(server->store, response->body, response->body_capacity, &size);
        respond_store(server, response, rc, size);
        return;
    }
    const size_t digits = strspn(id_text, "0123456789");
    if (digits == 0 || digits != strlen(id_text) || digits > 15) {
        ctl_respond_error(response, 404, "not_found", "no such job");
        return;
    }
    int rc = ctl_store_job_json(server->store, strtoull(id_text, NULL, 10), response->body,
                                response->body_capacity, &size);
    if (rc == 0) rc = job_live_progress(server, response, &size);
    respond_store(server, response, rc, size);
}

void ctl_read_room(struct ctl_server *server, const struct tc_admin_request *http,
                   struct tc_admin_response *response) {
    uint64_t room = 0;
    if (query_u64(http, "room", 1, UINT64_MAX, 0, &room) != 0 || room == 0) {
        bad_query(response, "room", "a room id (decimal, 1..2^64-1)");
        return;
    }
    const int rc = ctl_store_model_load(server->store, server->model, ctl_wall_ms(),
                                        server->options.liveness_ms);
    if (rc != 0) {
        ctl_respond_error(response, 500, "store", ctl_store_error(server->store));
        return;
    }
    const uint32_t slot = (uint32_t)(tc_node_config_room_mix(room) % CTL_SLOTS);
    const uint32_t group = server->model->slot_group[slot];
    char group_text[16] = "null"; // a slot not assigned yet
    if (group != 0) (void)snprintf(group_text, sizeof(group_text), "%u", group);
    char body[160];
    (void)snprintf(body, sizeof(body), "{\"group\":%s,\"room\":\"%llu\",\"slot\":%u}", group_text,
                   (unsigned long long)room, slot);
    ctl_respond_json(response, 200, body);
}

void ctl_read_status(struct ctl_server *server, const struct tc_admin_request *http,
                     struct tc_admin_response *response) {
    (void)http;
    struct ctl_store_status status;
    const int rc =
        ctl_store_status_get(server->store, ctl_wall_ms(), server->options.liveness_ms, &status);
    if (rc != 0) {
        ctl_respond_error(response, 500, "store", ctl_store_error(server->store));
        return;
    }
    struct tc_hash256 head;
    tc_audit_writer_head(server->audit, &head);
    char head_hex[65];
    tc_hex_encode(head_hex, head.bytes, sizeof(head.bytes));
    cJSON *root = cJSON_CreateObject();
    tc_assert(root != NULL);
    (void)cJSON_AddStringToObject(root, "cluster", status.cluster);
    (void)cJSON_AddStringToObject(root, "controller_key", server->key_hex);
    cJSON *audit = cJSON_AddObjectToObject(root, "audit");
    (void)cJSON_AddNumberToObject(audit, "seq", (double)tc_audit_writer_seq(server->audit));
    (void)cJSON_AddStringToObject(audit, "head", head_hex);
    (void)cJSON_AddBoolToObject(audit, "writable", !server->audit_failed);
    (void)cJSON_AddNumberToObject(root, "topology_version", (double)status.topology_version);
    cJSON *nodes = cJSON_AddObjectToObject(root, "nodes");
    for (uint32_t s = 0; s <= CTL_NODE_DOWN; s++) {
        (void)cJSON_AddNumberToObject(nodes, ctl_store_node_state_name((enum ctl_node_state)s),
                                      status.nodes_by_state[s]);
    }
    (void)cJSON_AddNumberToObject(nodes, "live", status.nodes_live);
    cJSON *groups = cJSON_AddObjectToObject(root, "groups");
    (void)cJSON_AddNumberToObject(groups, "total", status.groups);
    (void)cJSON_AddNumberToObject(groups, "healthy", status.groups_healthy);
    (void)cJSON_AddNumberToObject(groups, "degraded", status.groups_degraded);
    (void)cJSON_AddNumberToObject(groups, "no_quorum", status.groups_no_quorum);
    (void)cJSON_AddNumberToObject(root, "jobs_running", status.jobs_running);
    (void)cJSON_AddNumberToObject(root, "keys_active", status.keys_active);
    (void)cJSON_AddNumberToObject(root, "rejected_requests", (double)status.rejected_rows);
    char *text = cJSON_PrintUnformatted(root);
    tc_assert(text != NULL);
    ctl_respond_json(response, 200, text);
    cJSON_free(text);
    cJSON_Delete(root);
}

struct audit_page {
    cJSON *lines;
    uint64_t last_seq;
};

static int audit_page_add(void *context, const struct tc_audit_entry *entry, const char *line,
                          uint32_t line_size) {
    struct audit_page *page = context;
    cJSON *parsed = cJSON_ParseWithLength(line, line_size);
    if (parsed == NULL) return TC_ECORRUPT;
    cJSON_AddItemToArray(page->lines, parsed);
    page->last_seq = entry->seq;
    return 0;
}

void ctl_read_audit(struct ctl_server *server, const struct tc_admin_request *http,
                    struct tc_admin_response *response) {
    uint64_t after = 0;
    uint64_t limit = 0;
    if (query_u64(http, "after", 0, UINT64_C(9007199254740991), 0, &after) != 0) {
        bad_query(response, "after", "a seq");
        return;
    }
    if (query_u64(http, "limit", 1, 1000, 100, &limit) != 0) {
        bad_query(response, "limit", "1..1000");
        return;
    }
    struct audit_page page = {.lines = cJSON_CreateArray(), .last_seq = after};
    tc_assert(page.lines != NULL);
    uint32_t count = 0;
    const int rc =
        tc_audit_log_scan(server->path_log, after, (uint32_t)limit, audit_page_add, &page, &count);
    if (rc != 0) {
        cJSON_Delete(page.lines);
        ctl_respond_error(response, 500, "audit", "the audit chain could not be read");
        return;
    }
    cJSON *root = cJSON_CreateObject();
    tc_assert(root != NULL);
    cJSON_AddItemToObject(root, "entries", page.lines);
    (void)cJSON_AddNumberToObject(root, "head_seq", (double)tc_audit_writer_seq(server->audit));
    (void)cJSON_AddNumberToObject(root, "next_after", (double)page.last_seq);
    char *text = cJSON_PrintUnformatted(root);
    tc_assert(text != NULL);
    ctl_respond_json(response, 200, text);
    cJSON_free(text);
    cJSON_Delete(root);
}

void ctl_read_topology(struct ctl_server *server, const struct tc_admin_request *http,
                       struct tc_admin_response *response) {
    uint64_t have = 0;
    if (query_u64(http, "have", 0, UINT64_C(9007199254740991), 0, &have) != 0) {
        bad_query(response, "have", "a topology version");
        return;
    }
    static char body[CTL_STORE_TOPOLOGY_SIZE_MAX];
    char hash[CTL_STORE_HASH_HEX_SIZE];
    char signature[CTL_STORE_SIGNATURE_HEX_SIZE];
    uint64_t version = 0;
    size_t body_size = 0;
    const int rc = ctl_store_topology_latest(server->store, &version, hash, body, sizeof(body),
                                             &body_size, signature);
    if (rc == TC_ENOENT) {
        ctl_respond_error(response, 404, "not_found", "no topology yet (no node or group)");
        return;
    }
    if (rc != 0) {
        ctl_respond_error(response, 500, "store", ctl_store_error(server->store));
        return;
    }
    if (have == version) {
        ctl_respond_json(response, 200, "{\"unchanged\":true}");
        return;
    }
    const int size =
        snprintf(response->body, response->body_capacity,
                 "{\"body\":%s,\"hash\":\"%s\",\"signature\":\"%s\"}", body, hash, signature);
    tc_assert(size > 0 && (uint32_t)size < response->body_capacity);
    response->status = 200;
    response->content_type = "application/json";
    response->body_size = (uint32_t)size;
}

// GET /v1/plan/drain?node=N and /v1/plan/rebalance?max_moves=M: the plan against the current
// tables with the topology hash it is bound to (C5).
void ctl_read_plan(struct ctl_server *server, const struct tc_admin_request *http,
                   struct tc_admin_response *response, const char *kind) {
    uint64_t node = 0;
    uint64_t max_moves = CTL_PLAN_MOVES_DEFAULT;
    if (strcmp(kind, "drain") == 0 && query_u64(http, "node", 1, 255, 0, &node) != 0) {
        bad_query(response, "node", "1..255");
        return;
    }
    if (strcmp(kind, "drain") == 0 && node == 0) {
        bad_query(response, "node", "required");
        return;
    }
    if (strcmp(kind, "rebalance") == 0 &&
        query_u64(http, "max_moves", CTL_PLAN_MOVES_MIN, CTL_PLAN_MOVES_MAX, CTL_PLAN_MOVES_DEFAULT,
                  &max_moves) != 0) {
        bad_query(response, "max_moves", "1..64");
        return;
    }
    static char body[CTL_STORE_TOPOLOGY_SIZE_MAX];
    char hash[CTL_STORE_HASH_HEX_SIZE] = "";
    char signature[CTL_STORE_SIGNATURE_HEX_SIZE];
    uint64_t version = 0;
    size_t body_size = 0;
    int rc = ctl_store_topology_latest(server->store, &version, hash, body, sizeof(body),
                                       &body_size, signature);
    if (rc == 0 || rc == TC_ENOENT) {
        rc = ctl_model_refresh(server);
    }
    if (rc != 0) {
        ctl_respond_error(response, 500, "store", ctl_store_error(server->store));
        return;
    }
    static struct ctl_plan plan;
    rc = ctl_decide_plan(server->model, kind, (int64_t)node, (int64_t)max_moves, &plan);
    if (rc != 0) {
        ctl_respond_error(response, 409, "refused", plan.reason);
        return;
    }
    static char steps[CTL_RESULT_SIZE_MAX * 8];
    rc = ctl_plan_format_json(&plan, steps, sizeof(steps));
    tc_assert(rc == 0);
    // steps is {"steps":[...]}: add the hash and the version inside the same object.
    const int size =
        snprintf(response->body, response->body_capacity,
                 "{\"kind\":\"%s\",%.*s,\"topology_hash\":\"%s\","
                 "\"topology_version\":%llu}",
                 kind, (int)(strlen(steps) - 2), steps + 1, hash, (unsigned long long)version);
    tc_assert(size > 0 && (uint32_t)size < response->body_capacity);
    response->status = 200;
    response->content_type = "application/json";
    response->body_size = (uint32_t)size;
}
