// /metrics (Prometheus text format 0.0.4) and /healthz of the admin port (docs/node.md §10).
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "node.h"
#include "node_ctl.h"
#include "node_remote.h"
#include "tc_assert.h"
#include "tc_err.h"

struct metrics_out {
    char *out;
    uint32_t size;
    uint32_t used;
    bool overflow;
};

static void emit(struct metrics_out *m, const char *format, ...) __attribute__((format(printf, 2, 3)));
static void emit(struct metrics_out *m, const char *format, ...) {
    if (m->overflow) return;
    va_list args;
    va_start(args, format);
    const int length = vsnprintf(m->out + m->used, m->size - m->used, format, args);
    va_end(args);
    if (length < 0 || (uint32_t)length >= m->size - m->used) {
        m->overflow = true;
        return;
    }
    m->used += (uint32_t)length;
}

static void family(struct metrics_out *m, const char *name, const char *type, const char *help) {
    emit(m, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void counter(struct metrics_out *m, const char *name, const char *help, uint64_t value) {
    family(m, name, "counter", help);
    emit(m, "%s %llu\n", name, (unsigned long long)value);
}

static void gauge(struct metrics_out *m, const char *name, const char *help, uint64_t value) {
    family(m, name, "gauge", help);
    emit(m, "%s %llu\n", name, (unsigned long long)value);
}

static void metrics_replicas(struct metrics_out *m, struct node *node) {
    static const struct {
        const char *name;
        const char *help;
    } families[] = {
        {"tigerchat_replica_view", "Current view of the local replica."},
        {"tigerchat_replica_op", "Highest op in the local replica's log."},
        {"tigerchat_replica_commit", "Highest op applied by the local replica."},
        {"tigerchat_replica_checkpoint_op", "Op of the local replica's durable checkpoint."},
        {"tigerchat_replica_primary", "1 if the local replica leads a normal view."},
        {"tigerchat_replica_state", "State: 0 recovering, 1 normal, 2 view change, 3 recovering "
                                    "head, 4 stopped."},
        {"tigerchat_replica_journal_faulty", "Journal slots needing repair."},
        {"tigerchat_replica_syncs_total", "State syncs completed since start."},
    };
    for (uint32_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
        const bool is_counter = strstr(families[f].name, "_total") != NULL;
        family(m, families[f].name, is_counter ? "counter" : "gauge", families[f].help);
        for (uint32_t i = 0; i < node->group_count; i++) {
            const struct node_group *group = &node->groups[i];
            if (!group->hosted) continue;
            struct tc_replica_status s;
            tc_replica_status_get(group->replica, &s);
            const uint64_t values[] = {s.view, s.op_head, s.commit_min, s.checkpoint_op,
                                       group->primary, (uint64_t)s.state, s.journal_faulty,
                                       s.syncs_done};
            emit(m, "%s{group=\"%u\",slot=\"%u\"} %llu\n", families[f].name, group->id,
                 group->slot, (unsigned long long)values[f]);
        }
    }
    family(m, "tigerchat_storage_fdatasync_seconds_total", "counter",
           "Time spent in fdatasync by the replica's storage.");
    for (uint32_t i = 0; i < node->group_count; i++) {
        struct node_group *group = &node->groups[i];
        if (!group->hosted) continue;
        struct tc_io_linux_storage_stats stats;
        tc_io_linux_replica_storage_stats_get(&group->storage, &stats);
        emit(m, "tigerchat_storage_fdatasync_seconds_total{group=\"%u\"} %.6f\n", group->id,
             (double)stats.sync_ns_total / 1e9);
    }
    family(m, "tigerchat_storage_fdatasyncs_total", "counter", "fdatasync calls.");
    for (uint32_t i = 0; i < node->group_count; i++) {
        struct node_group *group = &node->groups[i];
        if (!group->hosted) continue;
        struct tc_io_linux_storage_stats stats;
        tc_io_linux_replica_storage_stats_get(&group->storage, &stats);
        emit(m, "tigerchat_storage_fdatasyncs_total{group=\"%u\"} %llu\n", group->id,
             (unsigned long long)stats.syncs);
    }
}

static void metrics_edge(struct metrics_out *m, struct node *node) {
    const struct node_stats *s = &node->stats;
    counter(m, "tigerchat_edge_requests_total", "Client request frames received.", s->requests);
    counter(m, "tigerchat_edge_requests_rejected_total", "Client requests refused as invalid.",
            s->requests_rejected);
    counter(m, "tigerchat_edge_rate_limited_total", "Client requests refused by a rate limit.",
            s->rate_limited);
    counter(m, "tigerchat_edge_ops_committed_total", "Chat ops answered ok after commit.",
            s->ops_committed);
    counter(m, "tigerchat_edge_batches_sent_total", "VSR requests (chat batches) sent.",
            s->batches_sent);
    counter(m, "tigerchat_edge_batches_answered_total", "Edge batches answered by their group.",
            s->batches_answered);
    counter(m, "tigerchat_edge_batch_rtt_milliseconds_total",
            "Sum of send-to-reply times of the edge's batches.", s->batch_rtt_ms_total);
    gauge(m, "tigerchat_edge_batch_rtt_milliseconds_max", "Longest batch send-to-reply time.",
          s->batch_rtt_ms_max);
    counter(m, "tigerchat_fanout_messages_delivered_total", "Messages sent to subscribers.",
            s->messages_delivered);
    counter(m, "tigerchat_fanout_duplicates_dropped_total",
            "Events dropped because the subscriber already had them.",
            s->messages_duplicate_dropped);
    counter(m, "tigerchat_fanout_gaps_total", "Gaps detected by seq and closed from the log.",
            s->gaps);
    counter(m, "tigerchat_fanout_catch_ups_total", "Slow-subscriber catch-ups.", s->catch_ups);
    counter(m, "tigerchat_store_reads_total", "Message store reads started.", s->store_reads);
    counter(m, "tigerchat_history_requests_total", "History requests.", s->history_reads);
    counter(m, "tigerchat_bus_frames_sent_total", "Bus frames published.", s->bus_frames_sent);
    counter(m, "tigerchat_bus_frames_received_total", "Bus frames received.",
            s->bus_frames_received);
    counter(m, "tigerchat_bus_frames_invalid_total", "Bus frames dropped as invalid.",
            s->bus_frames_invalid);
    counter(m, "tigerchat_vsr_dropped_invalid_total", "VSR frames dropped (checksum, size).",
            s->vsr_dropped_invalid);
    counter(m, "tigerchat_vsr_dropped_group_total",
            "VSR messages dropped for a group without a local replica.", s->vsr_dropped_group);
    counter(m, "tigerchat_vsr_dropped_self_total",
            "A replica's messages whose address resolved to its own node (dropped).",
            s->vsr_dropped_self);
    counter(m, "tigerchat_link_send_failed_total", "Frames not queued (peer down, queue full).",
            s->link_send_failed);
    counter(m, "tigerchat_local_queue_dropped_total", "Same-node VSR messages dropped (full).",
            s->local_dropped);
    counter(m, "tigerchat_edge_sessions_evicted_total", "Edge VSR sessions evicted.",
            s->sessions_evicted);
    counter(m, "tigerchat_ticks_skipped_total", "Ticks skipped because the loop ran late.",
            s->ticks_skipped);
    uint64_t connections = 0, subscriptions = 0;
    for (uint32_t i = 0; i < node->conns_max; i++) {
        if (node->conns[i].conn_id == 0) continue;
        connections += 1;
        subscriptions += node->conns[i].subscription_count;
    }
    gauge(m, "tigerchat_edge_connections", "Open WebSocket connections.", connections);
    gauge(m, "tigerchat_edge_subscriptions", "Active subscriptions.", subscriptions);
}

static void metrics_servers(struct metrics_out *m, struct node *node) {
    const struct tc_ws_server_stats *ws = tc_ws_server_stats(&node->ws);
    gauge(m, "tigerchat_ws_connections_open", "Open WebSocket connections.", ws->connections_open);
    counter(m, "tigerchat_ws_accepted_total", "TCP connections accepted on the client port.",
            ws->accepted);
    counter(m, "tigerchat_ws_handshakes_total", "WebSocket upgrades (101).", ws->handshakes);
    family(m, "tigerchat_ws_refused_total", "counter", "Handshakes refused, by reason.");
    emit(m, "tigerchat_ws_refused_total{reason=\"pool_full\"} %llu\n",
         (unsigned long long)ws->refused_pool_full);
    emit(m, "tigerchat_ws_refused_total{reason=\"draining\"} %llu\n",
         (unsigned long long)ws->refused_draining);
    emit(m, "tigerchat_ws_refused_total{reason=\"rate_limited\"} %llu\n",
         (unsigned long long)ws->refused_rate_limited);
    emit(m, "tigerchat_ws_refused_total{reason=\"user_limit\"} %llu\n",
         (unsigned long long)ws->refused_user_limit);
    emit(m, "tigerchat_ws_refused_total{reason=\"auth\"} %llu\n",
         (unsigned long long)ws->refused_auth);
    counter(m, "tigerchat_ws_frames_in_total", "WebSocket frames received.", ws->frames_in);
    counter(m, "tigerchat_ws_frames_out_total", "WebSocket frames sent.", ws->frames_out);
    counter(m, "tigerchat_ws_send_buffer_full_total",
            "Server messages that did not fit a connection's send buffer.", ws->send_buffer_full);
    counter(m, "tigerchat_ws_tls_errors_total", "TLS handshake failures and errors.",
            ws->tls_handshake_failures + ws->tls_errors);
    family(m, "tigerchat_ws_closes_total", "counter", "Close frames sent, by code.");
    const struct {
        const char *code;
        uint64_t value;
    } closes[] = {{"1000", ws->close_1000}, {"1001", ws->close_1001}, {"1002", ws->close_1002},
                  {"1003", ws->close_1003}, {"1007", ws->close_1007}, {"1008", ws->close_1008},
                  {"1009", ws->close_1009}, {"1011", ws->close_1011}, {"4001", ws->close_4001},
                  {"4002", ws->close_4002}, {"4003", ws->close_4003}, {"4004", ws->close_4004},
                  {"other", ws->close_other}};
    for (uint32_t i = 0; i < sizeof(closes) / sizeof(closes[0]); i++) {
        emit(m, "tigerchat_ws_closes_total{code=\"%s\"} %llu\n", closes[i].code,
             (unsigned long long)closes[i].value);
    }
    struct tc_link_stats link;
    tc_link_stats_get(&node->link, &link);
    family(m, "tigerchat_link_frames_sent_total", "counter", "Link frames sent, by priority.");
    emit(m, "tigerchat_link_frames_sent_total{priority=\"high\"} %llu\n",
         (unsigned long long)link.frames_sent[TC_LINK_PRIORITY_HIGH]);
    emit(m, "tigerchat_link_frames_sent_total{priority=\"low\"} %llu\n",
         (unsigned long long)link.frames_sent[TC_LINK_PRIORITY_LOW]);
    counter(m, "tigerchat_link_frames_received_total", "Link frames received.",
            link.frames_received);
    family(m, "tigerchat_link_drops_total", "counter", "Link frames dropped, by reason.");
    emit(m, "tigerchat_link_drops_total{reason=\"not_connected\"} %llu\n",
         (unsigned long long)link.drops_not_connected);
    emit(m, "tigerchat_link_drops_total{reason=\"queue_full\"} %llu\n",
         (unsigned long long)link.drops_queue_full);
    emit(m, "tigerchat_link_drops_total{reason=\"disconnect\"} %llu\n",
         (unsigned long long)link.drops_disconnect_frames);
    counter(m, "tigerchat_link_connects_total", "Outbound link connections established.",
            link.connects);
    counter(m, "tigerchat_link_invalid_frames_total", "Link frames refused as invalid.",
            link.invalid_frames);
    const struct node_redis_stats *redis = &node->redis.stats;
    counter(m, "tigerchat_redis_published_frames_total", "Bus frames published to Redis.",
            redis->published_frames);
    family(m, "tigerchat_redis_dropped_total", "counter", "Bus frames not published, by reason.");
    emit(m, "tigerchat_redis_dropped_total{reason=\"disconnected\"} %llu\n",
         (unsigned long long)redis->dropped_disconnected);
    emit(m, "tigerchat_redis_dropped_total{reason=\"backlog\"} %llu\n",
         (unsigned long long)redis->dropped_backlog);
    counter(m, "tigerchat_redis_received_frames_total", "Bus frames received from Redis.",
            redis->received_frames);
    gauge(m, "tigerchat_redis_connected", "1 while both Redis connections are up (bus = redis).",
          redis->publisher_connected && redis->subscriber_connected);
    struct node_remote_stats remote;
    node_remote_stats_get(&remote);
    counter(m, "tigerchat_remote_reads_sent_total", "Reads forwarded to a hosting node.",
            remote.reads_sent);
    counter(m, "tigerchat_remote_reads_timed_out_total", "Forwarded reads never answered.",
            remote.reads_timed_out);
    counter(m, "tigerchat_remote_jobs_total", "Reads served for other nodes.", remote.jobs);
}

// The controller client (node_ctl.c); all 0 without `controller`.
static void metrics_controller(struct metrics_out *m, struct node *node) {
    struct node_ctl_stats ctl;
    node_ctl_stats_get(node, &ctl);
    tc_assert(ctl.configured == (node->ctl != NULL));
    gauge(m, "tigerchat_node_controller_up", "1 when the last call to the controller succeeded.",
          ctl.up);
    counter(m, "tigerchat_node_controller_heartbeats_total", "Heartbeats the controller accepted.",
            ctl.heartbeats);
    gauge(m, "tigerchat_node_topology_version",
          "Version of the installed signed topology (0: none).", ctl.topology_version);
    counter(m, "tigerchat_node_leadership_transfers_total",
            "Leadership transfers started for the controller's move_primary changes.",
            ctl.leadership_transfers);
    // Replica replacement (node_replace.c, docs/node.md §14).
    const struct node_stats *s = &node->stats;
    counter(m, "tigerchat_node_learners_started_total",
            "Learner replicas started for the controller's replace changes.", s->learners_started);
    counter(m, "tigerchat_node_reconfigures_submitted_total",
            "Reconfigure requests this node's control clients sent.", s->reconfigures_submitted);
    counter(m, "tigerchat_node_reconfigures_done_total",
            "Reconfigure requests answered ok.", s->reconfigures_done);
    counter(m, "tigerchat_node_replicas_retired_total",
            "Retired replicas this node stopped hosting (files renamed group-G.retired-E.*).",
            s->replicas_retired);
    uint32_t closing = 0;
    for (uint32_t i = 0; i < node->group_count; i++) closing += node->groups[i].closing ? 1u : 0u;
    gauge(m, "tigerchat_node_replicas_closing",
          "Retired replicas waiting for their I/O in flight before they close.", closing);
}

int32_t node_metrics_write(void *context, char *out, uint32_t out_size) {
    struct node *node = context;
    struct metrics_out m = {.out = out, .size = out_size};
    gauge(&m, "tigerchat_node_draining", "1 while the node shuts down.", node->stopping);
    metrics_controller(&m, node);
    metrics_replicas(&m, node);
    metrics_edge(&m, node);
    metrics_servers(&m, node);
    if (m.overflow) return TC_ENOSPC;
    return (int32_t)m.used;
}

bool node_healthy(void *context) {
    struct node *node = context;
    if (node->stopping) return false;
    for (uint32_t i = 0; i < node->group_count; i++) {
        const struct node_group *group = &node->groups[i];
        if (!group->hosted) continue;
        struct tc_replica_status s;
        tc_replica_status_get(group->replica, &s);
        if (s.state == TC_REPLICA_RECOVERING || s.state == TC_REPLICA_STOPPED) return false;
    }
    // Ready for clients: the edge holds a session with every group.
    for (uint32_t i = 0; i < node->group_count; i++) {
        if (!node_group_ready(&node->groups[i])) return false;
    }
    return true;
}
