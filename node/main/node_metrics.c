// /metrics (Prometheus text format 0.0.4) and /healthz of the admin port (docs/node.md §10).
// Every family has HELP and TYPE; counters end in _total; units are seconds and bytes;
// tests/e2e/metrics.sh checks a live cluster's output with `promtool check metrics`.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "node.h"
#include "node_ctl.h"
#include "node_remote.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_histogram.h"
#include "tc_prom.h"


static void counter(struct tc_prom *m, const char *name, const char *help, uint64_t value) {
    tc_prom_family(m, name, "counter", help);
    tc_prom_emit(m, "%s %llu\n", name, (unsigned long long)value);
}

static void gauge(struct tc_prom *m, const char *name, const char *help, uint64_t value) {
    tc_prom_family(m, name, "gauge", help);
    tc_prom_emit(m, "%s %llu\n", name, (unsigned long long)value);
}

static void histogram(struct tc_prom *m, const struct tc_histogram *h, const char *name,
                      const char *labels) {
    if (m->overflow) return;
    const int32_t length = tc_histogram_format(h, name, labels, m->out + m->used,
                                               m->size - m->used);
    if (length < 0) {
        m->overflow = true;
        return;
    }
    m->used += (uint32_t)length;
}

// Per hosted group replica: gauges of its state, then counters since it started (a restarted node
// starts them at 0 again: Prometheus treats that as a counter reset).
enum replica_value {
    REPLICA_VIEW = 0,
    REPLICA_OP,
    REPLICA_COMMIT,
    REPLICA_CHECKPOINT_OP,
    REPLICA_PRIMARY,
    REPLICA_STATE,
    REPLICA_JOURNAL_FAULTY,
    REPLICA_EPOCH,
    REPLICA_SYNCS,
    REPLICA_SYNCS_STARTED,
    REPLICA_SYNC_STORE_BYTES,
    REPLICA_PREPARES,
    REPLICA_OPS_APPLIED,
    REPLICA_MESSAGES_COMMITTED,
    REPLICA_VIEW_CHANGES,
    REPLICA_VIEW_CHANGES_DONE,
    REPLICA_REPAIR_REQUESTS,
    REPLICA_REPAIRS_SERVED,
    REPLICA_CHECKPOINTS,
    REPLICA_DROPPED_INVALID,
    REPLICA_VALUES,
};

static const struct {
    const char *name;
    const char *type;
    const char *help;
} replica_families[REPLICA_VALUES] = {
    [REPLICA_VIEW] = {"tigerchat_replica_view", "gauge", "Current view of the local replica."},
    [REPLICA_OP] = {"tigerchat_replica_op", "gauge", "Highest op in the local replica's log."},
    [REPLICA_COMMIT] = {"tigerchat_replica_commit", "gauge",
                        "Highest op applied by the local replica."},
    [REPLICA_CHECKPOINT_OP] = {"tigerchat_replica_checkpoint_op", "gauge",
                               "Op of the local replica's durable checkpoint."},
    [REPLICA_PRIMARY] = {"tigerchat_replica_primary", "gauge",
                         "1 if the local replica leads a normal view."},
    [REPLICA_STATE] = {"tigerchat_replica_state", "gauge",
                       "State: 0 recovering, 1 normal, 2 view change, 3 recovering head, "
                       "4 stopped."},
    [REPLICA_JOURNAL_FAULTY] = {"tigerchat_replica_journal_faulty", "gauge",
                                "Journal slots needing repair."},
    [REPLICA_EPOCH] = {"tigerchat_replica_epoch", "gauge",
                       "Configuration epoch the local replica acts in."},
    [REPLICA_SYNCS] = {"tigerchat_replica_syncs_total", "counter",
                       "State syncs completed since start."},
    [REPLICA_SYNCS_STARTED] = {"tigerchat_replica_syncs_started_total", "counter",
                               "State syncs begun since start (a replica a ring behind)."},
    [REPLICA_SYNC_STORE_BYTES] = {"tigerchat_replica_sync_store_bytes_total", "counter",
                                  "Message store bytes received by state syncs."},
    [REPLICA_PREPARES] = {"tigerchat_replica_prepares_total", "counter",
                          "Prepares the local replica made as the group's primary."},
    [REPLICA_OPS_APPLIED] = {"tigerchat_replica_ops_applied_total", "counter",
                             "Committed ops applied to the local state machine."},
    [REPLICA_MESSAGES_COMMITTED] = {"tigerchat_replica_messages_committed_total", "counter",
                                    "Chat messages committed and applied by the local replica "
                                    "(every member applies each: take max by group)."},
    [REPLICA_VIEW_CHANGES] = {"tigerchat_replica_view_changes_total", "counter",
                              "View changes the local replica moved into (voted for a new view)."},
    [REPLICA_VIEW_CHANGES_DONE] = {"tigerchat_replica_view_changes_completed_total", "counter",
                                   "Times the local replica became normal in a new view."},
    [REPLICA_REPAIR_REQUESTS] = {"tigerchat_replica_repair_requests_total", "counter",
                                 "Prepares the local replica asked peers for (repair)."},
    [REPLICA_REPAIRS_SERVED] = {"tigerchat_replica_repairs_served_total", "counter",
                                "Prepares the local replica sent to repair a peer."},
    [REPLICA_CHECKPOINTS] = {"tigerchat_replica_checkpoints_total", "counter",
                             "Checkpoints made durable since start."},
    [REPLICA_DROPPED_INVALID] = {"tigerchat_replica_messages_dropped_invalid_total", "counter",
                                 "Messages the local replica dropped as invalid."},
};

static void replica_values(const struct node_group *group, uint64_t values[REPLICA_VALUES]) {
    struct tc_replica_status s;
    tc_replica_status_get(group->replica, &s);
    const struct tc_replica_counters *c = &s.counters;
    values[REPLICA_VIEW] = s.view;
    values[REPLICA_OP] = s.op_head;
    values[REPLICA_COMMIT] = s.commit_min;
    values[REPLICA_CHECKPOINT_OP] = s.checkpoint_op;
    values[REPLICA_PRIMARY] = group->primary;
    values[REPLICA_STATE] = (uint64_t)s.state;
    values[REPLICA_JOURNAL_FAULTY] = s.journal_faulty;
    values[REPLICA_EPOCH] = s.acting_epoch;
    values[REPLICA_SYNCS] = s.syncs_done;
    values[REPLICA_SYNCS_STARTED] = c->syncs_started;
    values[REPLICA_SYNC_STORE_BYTES] = s.sync_store_bytes;
    values[REPLICA_PREPARES] = c->prepares;
    values[REPLICA_OPS_APPLIED] = c->ops_applied;
    values[REPLICA_MESSAGES_COMMITTED] = c->messages_applied;
    values[REPLICA_VIEW_CHANGES] = c->view_changes_started;
    values[REPLICA_VIEW_CHANGES_DONE] = c->views_normal;
    values[REPLICA_REPAIR_REQUESTS] = c->repair_requests;
    values[REPLICA_REPAIRS_SERVED] = c->repairs_served;
    values[REPLICA_CHECKPOINTS] = s.checkpoints_durable;
    values[REPLICA_DROPPED_INVALID] = s.messages_dropped_invalid;
    tc_assert(c->syncs_started >= s.syncs_done);
}

static void metrics_replicas(struct tc_prom *m, struct node *node) {
    for (uint32_t f = 0; f < REPLICA_VALUES; f++) {
        tc_assert(replica_families[f].name != NULL);
        const bool counter_named = strstr(replica_families[f].name, "_total") != NULL;
        tc_assert(counter_named == (strcmp(replica_families[f].type, "counter") == 0));
        tc_prom_family(m, replica_families[f].name, replica_families[f].type, replica_families[f].help);
        for (uint32_t i = 0; i < node->group_count; i++) {
            const struct node_group *group = &node->groups[i];
            if (!group->hosted) continue;
            uint64_t values[REPLICA_VALUES];
            replica_values(group, values);
            tc_prom_emit(m, "%s{group=\"%u\",slot=\"%u\"} %llu\n", replica_families[f].name, group->id,
                 group->slot, (unsigned long long)values[f]);
        }
    }
}

// The node's journal fdatasync latency: the histograms of the hosted replicas' journal files,
// plus those of replicas no longer hosted (retired, or hosted again on new storage), so that no
// bucket ever goes down (Prometheus would read a decrease as a counter reset). Each scrape keeps
// every group's histogram as last seen; one that disappeared or restarted is carried over (its
// observations after the previous scrape are lost, never counted twice). The loop thread only.
struct journal_sync_carry {
    struct tc_histogram carried; // replicas no longer hosted, as last seen
    bool seen[NODE_LATENCY_GROUPS_MAX];
    struct tc_histogram last[NODE_LATENCY_GROUPS_MAX]; // by group index (they never change)
};
static struct journal_sync_carry journal_sync_carry;

static void journal_sync_total(struct node *node, struct tc_histogram *total) {
    struct journal_sync_carry *carry = &journal_sync_carry;
    if (carry->carried.layout == NULL) {
        tc_histogram_init(&carry->carried, &tc_histogram_layout_fdatasync);
    }
    tc_assert(node->group_count <= NODE_LATENCY_GROUPS_MAX);
    for (uint32_t i = 0; i < node->group_count; i++) {
        struct node_group *group = &node->groups[i];
        const struct tc_histogram *now =
            group->hosted ? tc_io_linux_replica_storage_sync_latency(&group->storage, 0) : NULL;
        if (carry->seen[i] && (now == NULL || now->count < carry->last[i].count)) {
            tc_histogram_merge(&carry->carried, &carry->last[i]);
            carry->seen[i] = false;
        }
        if (now == NULL) continue;
        carry->last[i] = *now;
        carry->seen[i] = true;
    }
    tc_histogram_init(total, &tc_histogram_layout_fdatasync);
    tc_histogram_merge(total, &carry->carried);
    for (uint32_t i = 0; i < node->group_count; i++) {
        if (carry->seen[i]) tc_histogram_merge(total, &carry->last[i]);
    }
}

// The replica files' storage (node/io_linux/storage_replica.c), every zone's file summed per group.
static void metrics_storage(struct tc_prom *m, struct node *node) {
    static const struct {
        const char *name;
        const char *help;
    } families[] = {
        {"tigerchat_storage_fdatasync_seconds_total",
         "Time spent in fdatasync by the replica's storage (every file)."},
        {"tigerchat_storage_fdatasyncs_total", "fdatasync calls (every file)."},
        {"tigerchat_storage_fdatasyncs_coalesced_total",
         "Syncs answered by another sync's fdatasync (group commit)."},
        {"tigerchat_storage_errors_total",
         "Failed reads, writes and syncs (a failed write or sync stops the replica)."},
        {"tigerchat_storage_written_bytes_total", "Bytes written to the replica's files."},
    };
    for (uint32_t f = 0; f < TC_ARRAY_COUNT(families); f++) {
        tc_prom_family(m, families[f].name, "counter", families[f].help);
        for (uint32_t i = 0; i < node->group_count; i++) {
            struct node_group *group = &node->groups[i];
            if (!group->hosted) continue;
            struct tc_io_linux_storage_stats stats;
            tc_io_linux_replica_storage_stats_get(&group->storage, &stats);
            const uint64_t values[] = {0, stats.syncs, stats.syncs_coalesced, stats.errors,
                                       stats.bytes_written};
            if (f == 0) {
                char seconds[TC_HISTOGRAM_SECONDS_TEXT_SIZE];
                (void)tc_histogram_seconds_text(stats.sync_ns_total, seconds, sizeof(seconds));
                tc_prom_emit(m, "%s{group=\"%u\"} %s\n", families[f].name, group->id, seconds);
            } else {
                tc_prom_emit(m, "%s{group=\"%u\"} %llu\n", families[f].name, group->id,
                     (unsigned long long)values[f]);
            }
        }
    }
    const char *name = "tigerchat_storage_journal_fdatasync_duration_seconds";
    tc_prom_family(m, name, "histogram",
           "Duration of each fdatasync of a journal file (the commit path's), all replicas.");
    struct tc_histogram total;
    journal_sync_total(node, &total);
    histogram(m, &total, name, "");
}

// The send buffer bytes a connection holds, from the space it has left (exact to the frame
// header's few bytes; a connection that is closing counts as full).
static uint64_t conn_buffered_bytes(struct node *node, uint64_t conn_id) {
    tc_assert(node->ws.options.send_buffer_bytes > TC_WS_SERVER_RESERVE_TEXT);
    const uint32_t limit = node->ws.options.send_buffer_bytes - TC_WS_SERVER_RESERVE_TEXT;
    const uint32_t space = tc_ws_server_send_space(&node->ws, conn_id);
    if (space == 0) return limit;
    const uint32_t header = space <= 125 ? 2u : space <= 65535 ? 4u : 10u;
    return space + header >= limit ? 0 : limit - space - header;
}

// Queue depths, read at scrape time: the edge's connections and subscriptions (fan-out), the
// batches waiting for their group, and the link's send queues.
static void metrics_edge_queues(struct tc_prom *m, struct node *node) {
    uint64_t connections = 0, subscriptions = 0, buffered = 0, slow = 0, behind = 0;
    const uint64_t slow_bytes = (uint64_t)node->ws.options.send_buffer_bytes * 3u / 4u;
    for (uint32_t i = 0; i < node->conns_max; i++) {
        if (node->conns[i].conn_id == 0) continue;
        connections += 1;
        subscriptions += node->conns[i].subscription_count;
        const uint64_t bytes = conn_buffered_bytes(node, node->conns[i].conn_id);
        buffered += bytes;
        slow += bytes >= slow_bytes ? 1u : 0u;
    }
    for (uint32_t i = 0; i < node->subs_max; i++) {
        behind += node->subs[i].used && node->subs[i].behind ? 1u : 0u;
    }
    gauge(m, "tigerchat_edge_connections", "Open WebSocket connections.", connections);
    gauge(m, "tigerchat_edge_subscriptions", "Active subscriptions.", subscriptions);
    gauge(m, "tigerchat_fanout_send_buffered_bytes",
          "Bytes queued in the connections' send buffers.", buffered);
    gauge(m, "tigerchat_fanout_slow_connections",
          "Connections whose send buffer is at least 3/4 full (closed 4002 if it stays).", slow);
    gauge(m, "tigerchat_fanout_subscriptions_behind",
          "Subscriptions catching up from the store (gap, replay or slow consumer).", behind);
    uint64_t in_flight = 0, waiting = 0;
    for (uint32_t i = 0; i < node->group_count; i++) {
        for (uint32_t s = 0; s < NODE_SESSIONS_PER_GROUP; s++) {
            const struct node_session *session = &node->groups[i].sessions[s];
            in_flight += session->busy ? 1u : 0u;
            waiting += session->pending_count;
        }
    }
    gauge(m, "tigerchat_edge_batches_in_flight", "Edge batches sent and not yet answered.",
          in_flight);
    gauge(m, "tigerchat_edge_batches_waiting",
          "Edge batches queued behind the one in flight of their session.", waiting);
    uint64_t queued[TC_LINK_PRIORITIES] = {0};
    for (uint32_t i = 0; i < node->link.peers_count; i++) {
        for (uint32_t p = 0; p < TC_LINK_PRIORITIES; p++) {
            queued[p] += node->link.peers[i].rings[p].count_bytes;
        }
    }
    tc_prom_family(m, "tigerchat_link_queued_bytes", "gauge",
           "Bytes queued to the link's peers, by priority.");
    tc_prom_emit(m, "tigerchat_link_queued_bytes{priority=\"high\"} %llu\n",
         (unsigned long long)queued[TC_LINK_PRIORITY_HIGH]);
    tc_prom_emit(m, "tigerchat_link_queued_bytes{priority=\"low\"} %llu\n",
         (unsigned long long)queued[TC_LINK_PRIORITY_LOW]);
}

static void metrics_edge(struct tc_prom *m, struct node *node) {
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
    tc_prom_family(m, "tigerchat_edge_commit_duration_seconds", "histogram",
           "Commit latency: an edge batch's VSR request sent to its group's reply (prepare, "
           "journal fdatasync on a quorum, commit, apply).");
    histogram(m, &s->latency.batch_commit, "tigerchat_edge_commit_duration_seconds", "");
    counter(m, "tigerchat_fanout_messages_delivered_total", "Messages sent to subscribers.",
            s->messages_delivered);
    counter(m, "tigerchat_fanout_duplicates_dropped_total",
            "Events dropped because the subscriber already had them.",
            s->messages_duplicate_dropped);
    counter(m, "tigerchat_fanout_gaps_total", "Gaps detected by seq and closed from the log.",
            s->gaps);
    counter(m, "tigerchat_fanout_catch_ups_total", "Slow-subscriber catch-ups.", s->catch_ups);
    counter(m, "tigerchat_store_reads_total", "Message store reads started.", s->store_reads);
    counter(m, "tigerchat_store_reads_busy_total",
            "Store reads refused by the replica's store (read slots busy): retried later.",
            s->store_reads_busy);
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
    counter(m, "tigerchat_vsr_dropped_client_total",
            "VSR replies dropped: for a client session of an earlier incarnation.",
            s->vsr_dropped_client);
    counter(m, "tigerchat_vsr_dropped_self_total",
            "A replica's messages whose address resolved to its own node (dropped).",
            s->vsr_dropped_self);
    counter(m, "tigerchat_link_send_failed_total", "Frames not queued (peer down, queue full).",
            s->link_send_failed);
    counter(m, "tigerchat_local_queue_dropped_total", "Same-node VSR messages dropped (full).",
            s->local_dropped);
    counter(m, "tigerchat_edge_sessions_evicted_total", "Edge VSR sessions evicted.",
            s->sessions_evicted);
    counter(m, "tigerchat_ticks_total", "Ticks of 10 ms run by the loop.", s->ticks);
    counter(m, "tigerchat_ticks_skipped_total", "Ticks skipped because the loop ran late.",
            s->ticks_skipped);
    metrics_edge_queues(m, node);
}

static void metrics_servers(struct tc_prom *m, struct node *node) {
    const struct tc_ws_server_stats *ws = tc_ws_server_stats(&node->ws);
    gauge(m, "tigerchat_ws_connections_open", "Open WebSocket connections.", ws->connections_open);
    counter(m, "tigerchat_ws_accepted_total", "TCP connections accepted on the client port.",
            ws->accepted);
    counter(m, "tigerchat_ws_handshakes_total", "WebSocket upgrades (101).", ws->handshakes);
    tc_prom_family(m, "tigerchat_ws_refused_total", "counter", "Handshakes refused, by reason.");
    tc_prom_emit(m, "tigerchat_ws_refused_total{reason=\"pool_full\"} %llu\n",
         (unsigned long long)ws->refused_pool_full);
    tc_prom_emit(m, "tigerchat_ws_refused_total{reason=\"draining\"} %llu\n",
         (unsigned long long)ws->refused_draining);
    tc_prom_emit(m, "tigerchat_ws_refused_total{reason=\"rate_limited\"} %llu\n",
         (unsigned long long)ws->refused_rate_limited);
    tc_prom_emit(m, "tigerchat_ws_refused_total{reason=\"user_limit\"} %llu\n",
         (unsigned long long)ws->refused_user_limit);
    tc_prom_emit(m, "tigerchat_ws_refused_total{reason=\"auth\"} %llu\n",
         (unsigned long long)ws->refused_auth);
    counter(m, "tigerchat_ws_frames_in_total", "WebSocket frames received.", ws->frames_in);
    counter(m, "tigerchat_ws_frames_out_total", "WebSocket frames sent.", ws->frames_out);
    counter(m, "tigerchat_ws_send_buffer_full_total",
            "Server messages that did not fit a connection's send buffer.", ws->send_buffer_full);
    counter(m, "tigerchat_ws_tls_errors_total", "TLS handshake failures and errors.",
            ws->tls_handshake_failures + ws->tls_errors);
    tc_prom_family(m, "tigerchat_ws_closes_total", "counter", "Close frames sent, by code.");
    const struct {
        const char *code;
        uint64_t value;
    } closes[] = {{"1000", ws->close_1000}, {"1001", ws->close_1001}, {"1002", ws->close_1002},
                  {"1003", ws->close_1003}, {"1007", ws->close_1007}, {"1008", ws->close_1008},
                  {"1009", ws->close_1009}, {"1011", ws->close_1011}, {"4001", ws->close_4001},
                  {"4002", ws->close_4002}, {"4003", ws->close_4003}, {"4004", ws->close_4004},
                  {"other", ws->close_other}};
    for (uint32_t i = 0; i < sizeof(closes) / sizeof(closes[0]); i++) {
        tc_prom_emit(m, "tigerchat_ws_closes_total{code=\"%s\"} %llu\n", closes[i].code,
             (unsigned long long)closes[i].value);
    }
    struct tc_link_stats link;
    tc_link_stats_get(&node->link, &link);
    tc_prom_family(m, "tigerchat_link_frames_sent_total", "counter", "Link frames sent, by priority.");
    tc_prom_emit(m, "tigerchat_link_frames_sent_total{priority=\"high\"} %llu\n",
         (unsigned long long)link.frames_sent[TC_LINK_PRIORITY_HIGH]);
    tc_prom_emit(m, "tigerchat_link_frames_sent_total{priority=\"low\"} %llu\n",
         (unsigned long long)link.frames_sent[TC_LINK_PRIORITY_LOW]);
    counter(m, "tigerchat_link_frames_received_total", "Link frames received.",
            link.frames_received);
    tc_prom_family(m, "tigerchat_link_drops_total", "counter", "Link frames dropped, by reason.");
    tc_prom_emit(m, "tigerchat_link_drops_total{reason=\"not_connected\"} %llu\n",
         (unsigned long long)link.drops_not_connected);
    tc_prom_emit(m, "tigerchat_link_drops_total{reason=\"queue_full\"} %llu\n",
         (unsigned long long)link.drops_queue_full);
    tc_prom_emit(m, "tigerchat_link_drops_total{reason=\"disconnect\"} %llu\n",
         (unsigned long long)link.drops_disconnect_frames);
    counter(m, "tigerchat_link_connects_total", "Outbound link connections established.",
            link.connects);
    counter(m, "tigerchat_link_invalid_frames_total", "Link frames refused as invalid.",
            link.invalid_frames);
    const struct node_redis_stats *redis = &node->redis.stats;
    counter(m, "tigerchat_redis_published_frames_total", "Bus frames published to Redis.",
            redis->published_frames);
    tc_prom_family(m, "tigerchat_redis_dropped_total", "counter", "Bus frames not published, by reason.");
    tc_prom_emit(m, "tigerchat_redis_dropped_total{reason=\"disconnected\"} %llu\n",
         (unsigned long long)redis->dropped_disconnected);
    tc_prom_emit(m, "tigerchat_redis_dropped_total{reason=\"backlog\"} %llu\n",
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
static void metrics_controller(struct tc_prom *m, struct node *node) {
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
    struct tc_prom m = {.out = out, .size = out_size};
    gauge(&m, "tigerchat_node_draining", "1 while the node shuts down.", node->stopping);
    metrics_controller(&m, node);
    metrics_replicas(&m, node);
    metrics_storage(&m, node);
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
