// /metrics (Prometheus text format 0.0.4) and /healthz of the admin port (docs/node.md §10).
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "node.h"
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

int32_t node_metrics_write(void *context, char *out, uint32_t out_size) {
    struct node *node = context;
    struct metrics_out m = {.out = out, .size = out_size};
    gauge(&m, "tigerchat_node_draining", "1 while the node shuts down.", node->stopping);
    metrics_replicas(&m, node);
    metrics_edge(&m, node);
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
        if (!node->groups[i].client_registered) return false;
    }
    return true;
}
