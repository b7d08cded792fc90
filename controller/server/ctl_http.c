// The API's router, response helpers and metrics (docs/controller.md §8).
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

#include "ctl_action.h"
#include "ctl_node.h"
#include "ctl_read.h"
#include "ctl_server.h"
#include "ctl_store.h"
#include "tc_assert.h"
#include "tc_err.h"

void ctl_respond_json(struct tc_admin_response *response, uint16_t status, const char *json) {
    const size_t size = strlen(json);
    if (size >= response->body_capacity) {
        ctl_respond_error(response, 500, "too_large", "the answer exceeds the response limit");
        return;
    }
    memcpy(response->body, json, size);
    response->status = status;
    response->content_type = "application/json";
    response->body_size = (uint32_t)size;
}

void ctl_respond_error(struct tc_admin_response *response, uint16_t status, const char *code,
                       const char *message) {
    cJSON *object = cJSON_CreateObject();
    tc_assert(object != NULL);
    (void)cJSON_AddStringToObject(object, "error", code);
    (void)cJSON_AddStringToObject(object, "message", message);
    const bool printed =
        cJSON_PrintPreallocated(object, response->body, (int)response->body_capacity, 0);
    tc_assert(printed);
    cJSON_Delete(object);
    response->status = status;
    response->content_type = "application/json";
    response->body_size = (uint32_t)strlen(response->body);
}

// Every heartbeat answers it: read once per chain seq (only chained actions change the topology),
// not with the status counts of every table.
uint64_t ctl_topology_version(struct ctl_server *server) {
    uint64_t seq = 0;
    if (ctl_store_head_seq(server->store, &seq) != 0) return 0;
    if (seq == server->topology_version_seq) return server->topology_version;
    struct ctl_store_status status;
    if (ctl_store_status_get(server->store, ctl_wall_ms(), server->options.liveness_ms,
                             &status) != 0) {
        return 0;
    }
    server->topology_version_seq = seq;
    server->topology_version = status.topology_version;
    return status.topology_version;
}

static bool path_is(const struct tc_admin_request *http, const char *path) {
    return tc_edge_http_path_equal(http->http, path);
}

static void route_get(struct ctl_server *server, const struct tc_admin_request *http,
                      struct tc_admin_response *response) {
    const struct tc_edge_str path = tc_edge_http_slice_str(http->http, http->http->path);
    static const char jobs_prefix[] = "/v1/jobs/";
    if (path_is(http, "/v1/status")) {
        ctl_read_status(server, http, response);
    } else if (path_is(http, "/v1/nodes")) {
        ctl_read_nodes(server, http, response);
    } else if (path_is(http, "/v1/groups")) {
        ctl_read_groups(server, http, response);
    } else if (path_is(http, "/v1/keys")) {
        ctl_read_keys(server, http, response);
    } else if (path_is(http, "/v1/jobs")) {
        ctl_read_jobs(server, http, response, NULL);
    } else if (path.size > sizeof(jobs_prefix) - 1 && path.size < sizeof(jobs_prefix) + 20 &&
               memcmp(path.data, jobs_prefix, sizeof(jobs_prefix) - 1) == 0) {
        char id[24];
        (void)snprintf(id, sizeof(id), "%.*s", (int)(path.size - (sizeof(jobs_prefix) - 1)),
                       path.data + sizeof(jobs_prefix) - 1);
        ctl_read_jobs(server, http, response, id);
    } else if (path_is(http, "/v1/rooms")) {
        ctl_read_room(server, http, response);
    } else if (path_is(http, "/v1/audit")) {
        ctl_read_audit(server, http, response);
    } else if (path_is(http, "/v1/topology")) {
        ctl_read_topology(server, http, response);
    } else if (path_is(http, "/v1/plan/drain")) {
        ctl_read_plan(server, http, response, "drain");
    } else if (path_is(http, "/v1/plan/rebalance")) {
        ctl_read_plan(server, http, response, "rebalance");
    } else {
        ctl_respond_error(response, 404, "not_found", "no such endpoint (see docs/controller.md)");
    }
}

void ctl_http_handle(void *context, const struct tc_admin_request *http,
                     struct tc_admin_response *response) {
    struct ctl_server *server = context;
    const bool post = tc_edge_http_method_equal(http->http, "POST");
    if (!post) {
        route_get(server, http, response);
    } else if (path_is(http, "/v1/actions")) {
        ctl_action_post(server, http, response);
    } else if (path_is(http, "/v1/register")) {
        ctl_node_register(server, http, response);
    } else if (path_is(http, "/v1/heartbeat")) {
        ctl_node_heartbeat(server, http, response);
    } else {
        ctl_respond_error(response, 404, "not_found", "no such endpoint (see docs/controller.md)");
    }
}

int32_t ctl_metrics_write(void *context, char *out, uint32_t out_size) {
    struct ctl_server *server = context;
    struct ctl_store_status status;
    const int rc =
        ctl_store_status_get(server->store, ctl_wall_ms(), server->options.liveness_ms, &status);
    if (rc != 0) return rc;
    const struct ctl_stats *s = &server->stats;
    const int size = snprintf(
        out, out_size,
        "# HELP tigerchat_controller_actions_total Signed operator actions chained, by result.\n"
        "# TYPE tigerchat_controller_actions_total counter\n"
        "tigerchat_controller_actions_total{result=\"ok\"} %llu\n"
        "tigerchat_controller_actions_total{result=\"refused\"} %llu\n"
        "# HELP tigerchat_controller_requests_rejected_total Requests not chained (malformed, bad "
        "signature, unknown key, stale, replayed).\n"
        "# TYPE tigerchat_controller_requests_rejected_total counter\n"
        "tigerchat_controller_requests_rejected_total %llu\n"
        "# HELP tigerchat_controller_heartbeats_total Node heartbeats accepted.\n"
        "# TYPE tigerchat_controller_heartbeats_total counter\n"
        "tigerchat_controller_heartbeats_total %llu\n"
        "# HELP tigerchat_controller_audit_seq The audit chain's last seq.\n"
        "# TYPE tigerchat_controller_audit_seq gauge\n"
        "tigerchat_controller_audit_seq %llu\n"
        "# HELP tigerchat_controller_audit_writable 1 while the chain accepts entries.\n"
        "# TYPE tigerchat_controller_audit_writable gauge\n"
        "tigerchat_controller_audit_writable %d\n"
        "# HELP tigerchat_controller_topology_version The newest signed topology version.\n"
        "# TYPE tigerchat_controller_topology_version gauge\n"
        "tigerchat_controller_topology_version %llu\n"
        "# HELP tigerchat_controller_nodes Nodes by liveness.\n"
        "# TYPE tigerchat_controller_nodes gauge\n"
        "tigerchat_controller_nodes{live=\"true\"} %u\n"
        "# HELP tigerchat_controller_groups Groups by health.\n"
        "# TYPE tigerchat_controller_groups gauge\n"
        "tigerchat_controller_groups{health=\"healthy\"} %u\n"
        "tigerchat_controller_groups{health=\"degraded\"} %u\n"
        "tigerchat_controller_groups{health=\"no_quorum\"} %u\n"
        "# HELP tigerchat_controller_jobs_running Drain and rebalance jobs running.\n"
        "# TYPE tigerchat_controller_jobs_running gauge\n"
        "tigerchat_controller_jobs_running %u\n",
        (unsigned long long)s->actions_ok, (unsigned long long)s->actions_refused,
        (unsigned long long)s->requests_rejected, (unsigned long long)s->heartbeats,
        (unsigned long long)tc_audit_writer_seq(server->audit), server->audit_failed ? 0 : 1,
        (unsigned long long)status.topology_version, status.nodes_live, status.groups_healthy,
        status.groups_degraded, status.groups_no_quorum, status.jobs_running);
    if (size < 0 || (uint32_t)size >= out_size) return TC_ENOSPC;
    return size;
}
