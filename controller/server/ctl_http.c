// The API's router, response helpers and metrics (docs/controller.md §8).
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ctl_action.h"
#include "ctl_jobs.h"
#include "ctl_node.h"
#include "ctl_read.h"
#include "ctl_server.h"
#include "ctl_store.h"
#include "tc_assert.h"
#include "tc_prom.h"
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

// ------------------------------------------------------------------------------------------------
// GET /metrics (Prometheus text format 0.0.4; docs/controller.md §8, checked by promtool in
// tests/e2e/metrics.sh).


static void sample(struct tc_prom *m, const char *name, const char *type, const char *help,
                   uint64_t value) {
    tc_prom_family(m, name, type, help);
    tc_prom_emit(m, "%s %llu\n", name, (unsigned long long)value);
}

static void metrics_chain(struct tc_prom *m, struct ctl_server *server,
                          const struct ctl_store_status *status) {
    const struct ctl_stats *s = &server->stats;
    tc_prom_family(m, "tigerchat_controller_actions_total", "counter",
           "Signed operator actions chained, by result.");
    tc_prom_emit(m, "tigerchat_controller_actions_total{result=\"ok\"} %llu\n",
         (unsigned long long)s->actions_ok);
    tc_prom_emit(m, "tigerchat_controller_actions_total{result=\"refused\"} %llu\n",
         (unsigned long long)s->actions_refused);
    sample(m, "tigerchat_controller_requests_rejected_total", "counter",
           "Requests not chained (malformed, bad signature, unknown key, stale, replayed).",
           s->requests_rejected);
    sample(m, "tigerchat_controller_heartbeats_total", "counter", "Node heartbeats accepted.",
           s->heartbeats);
    sample(m, "tigerchat_controller_registrations_total", "counter",
           "Node registrations accepted.", s->registrations);
    sample(m, "tigerchat_controller_audit_seq", "gauge", "The audit chain's last seq.",
           tc_audit_writer_seq(server->audit));
    sample(m, "tigerchat_controller_audit_writable", "gauge",
           "1 while the chain accepts entries.", server->audit_failed ? 0 : 1);
    sample(m, "tigerchat_controller_topology_version", "gauge",
           "The newest signed topology version.", status->topology_version);
}

static void metrics_cluster(struct tc_prom *m, const struct ctl_store_status *status) {
    tc_prom_family(m, "tigerchat_controller_nodes", "gauge", "Nodes by liveness.");
    tc_prom_emit(m, "tigerchat_controller_nodes{live=\"true\"} %u\n", status->nodes_live);
    tc_prom_family(m, "tigerchat_controller_nodes_by_state", "gauge",
           "Nodes by the operator's intent (active, cordoned, draining, drained, down).");
    for (uint32_t state = CTL_NODE_ACTIVE; state <= CTL_NODE_DOWN; state++) {
        tc_prom_emit(m, "tigerchat_controller_nodes_by_state{state=\"%s\"} %u\n",
             ctl_store_node_state_name((enum ctl_node_state)state), status->nodes_by_state[state]);
    }
    tc_prom_family(m, "tigerchat_controller_groups", "gauge", "Groups by health.");
    tc_prom_emit(m, "tigerchat_controller_groups{health=\"healthy\"} %u\n", status->groups_healthy);
    tc_prom_emit(m, "tigerchat_controller_groups{health=\"degraded\"} %u\n", status->groups_degraded);
    tc_prom_emit(m, "tigerchat_controller_groups{health=\"no_quorum\"} %u\n", status->groups_no_quorum);
    sample(m, "tigerchat_controller_jobs_running", "gauge", "Drain and rebalance jobs running.",
           status->jobs_running);
}

// Jobs are read a page at a time (newest first): the controller has one thread.
#define METRICS_JOBS_PAGE 64u
static struct ctl_store_job metrics_jobs[METRICS_JOBS_PAGE];

static const char *job_kind_name(enum ctl_store_job_kind kind) {
    return kind == CTL_STORE_JOB_DRAIN ? "drain" : "rebalance";
}

// Every job by state (the job table is small: one row per drain or rebalance ever started).
static int metrics_jobs_by_state(struct tc_prom *m, struct ctl_server *server) {
    uint64_t by_state[CTL_STORE_JOB_CANCELLED + 1] = {0};
    uint64_t before_id = 0;
    for (;;) {
        uint32_t count = 0;
        const int rc = ctl_store_jobs_list(server->store, false, before_id, metrics_jobs,
                                           METRICS_JOBS_PAGE, &count);
        if (rc != 0) return rc;
        for (uint32_t i = 0; i < count; i++) {
            tc_assert(metrics_jobs[i].state <= CTL_STORE_JOB_CANCELLED);
            tc_assert(before_id == 0 || metrics_jobs[i].id < before_id);
            by_state[metrics_jobs[i].state] += 1;
        }
        if (count < METRICS_JOBS_PAGE) break;
        before_id = metrics_jobs[count - 1].id;
    }
    tc_prom_family(m, "tigerchat_controller_jobs", "gauge",
           "Jobs by state (running, succeeded, failed, cancelled).");
    for (uint32_t state = CTL_STORE_JOB_RUNNING; state <= CTL_STORE_JOB_CANCELLED; state++) {
        tc_prom_emit(m, "tigerchat_controller_jobs{state=\"%s\"} %llu\n",
             ctl_store_job_state_name((enum ctl_store_job_state)state),
             (unsigned long long)by_state[state]);
    }
    return 0;
}

// The running job's progress (the executor runs at most one) and the stall timer of its step.
static int metrics_jobs_running(struct tc_prom *m, struct ctl_server *server) {
    uint32_t count = 0;
    const int rc = ctl_store_jobs_list(server->store, true, 0, metrics_jobs, METRICS_JOBS_PAGE,
                                       &count);
    if (rc != 0) return rc;
    tc_prom_family(m, "tigerchat_controller_job_steps", "gauge", "Steps of each running job.");
    for (uint32_t i = 0; i < count; i++) {
        tc_prom_emit(m, "tigerchat_controller_job_steps{job=\"%llu\",kind=\"%s\"} %u\n",
             (unsigned long long)metrics_jobs[i].id, job_kind_name(metrics_jobs[i].kind),
             metrics_jobs[i].move_count);
    }
    tc_prom_family(m, "tigerchat_controller_job_steps_done", "gauge", "Steps done of each running job.");
    for (uint32_t i = 0; i < count; i++) {
        tc_assert(metrics_jobs[i].moves_done <= metrics_jobs[i].move_count);
        tc_prom_emit(m, "tigerchat_controller_job_steps_done{job=\"%llu\",kind=\"%s\"} %u\n",
             (unsigned long long)metrics_jobs[i].id, job_kind_name(metrics_jobs[i].kind),
             metrics_jobs[i].moves_done);
    }
    const uint64_t now_ms = ctl_monotonic_ms();
    const uint64_t started_ms = server->job_step_started_ms;
    const uint64_t stall_ms = started_ms == 0 || started_ms > now_ms ? 0 : now_ms - started_ms;
    tc_prom_family(m, "tigerchat_controller_job_step_stall_seconds", "gauge",
           "Seconds since the running step last made progress (0: no step running); the job "
           "fails at tigerchat_controller_job_step_stall_limit_seconds.");
    tc_prom_emit(m, "tigerchat_controller_job_step_stall_seconds %llu.%03llu\n",
         (unsigned long long)(stall_ms / 1000u), (unsigned long long)(stall_ms % 1000u));
    sample(m, "tigerchat_controller_job_step_stall_limit_seconds", "gauge",
           "A running step without progress this long fails its job.", CTL_JOBS_STALL_MS / 1000u);
    return 0;
}

int32_t ctl_metrics_write(void *context, char *out, uint32_t out_size) {
    struct ctl_server *server = context;
    struct ctl_store_status status;
    int rc =
        ctl_store_status_get(server->store, ctl_wall_ms(), server->options.liveness_ms, &status);
    if (rc != 0) return rc;
    struct tc_prom m = {.out = out, .size = out_size};
    metrics_chain(&m, server, &status);
    metrics_cluster(&m, &status);
    rc = metrics_jobs_by_state(&m, server);
    if (rc == 0) rc = metrics_jobs_running(&m, server);
    if (rc != 0) return rc;
    if (m.overflow) return TC_ENOSPC;
    return (int32_t)m.used;
}
