#ifndef TC_NODE_H
#define TC_NODE_H

// tigerchat-node: the host of replicas, the link, the edge and the admin port (docs/node.md).
// Everything below is allocated once by node_init; the loop does not allocate.

#include <stdbool.h>
#include <stdint.h>

#include "admin_server.h"
#include "client.h"
#include "edge_jwt.h"
#include "edge_proto.h"
#include "io.h"
#include "io_linux.h"
#include "link.h"
#include "loop.h"
#include "node_config.h"
#include "node_redis.h"
#include "node_replace.h"
#include "replica.h"
#include "room.h"
#include "store.h"
#include "tc_histogram.h"
#include "ws_server.h"

#define NODE_LOCAL_QUEUE_SLOTS 256u     // deferred same-node VSR messages (docs/node.md §3)
#define NODE_TICKS_CATCH_UP_MAX 10u     // late ticks run per loop iteration; the rest are skipped
#define NODE_BUS_BUFFER_SIZE (64u * 1024u) // one bus frame (docs/node.md §7)
#define NODE_LINK_KIND_VSR 1u
#define NODE_LINK_KIND_BUS 2u
#define NODE_LINK_KIND_READ 3u // forwarded read request (node_remote.c)
#define NODE_LINK_KIND_PAGE 4u // its answer
#define NODE_RYW_GROUPS 8u              // read-your-writes: (group, op) remembered per connection
#define NODE_PUMP_PER_ITERATION 64u     // behind subscriptions served per loop iteration
#define NODE_PAGE_BYTES_MAX (256u * 1024u) // history page message data (docs/protocol.md §5.8)
#define NODE_FRAME_SIZE_MAX (1024u * 1024u) // one server message (docs/protocol.md §9)
#define NODE_MESSAGE_JSON_OVERHEAD 768u // a message object's JSON besides its escaped body
#define NODE_REQUEST_TIMEOUT_MS 10000u
#define NODE_REMOTE_POLL_MS 10u        // a forwarded subscription page that came back short  // a read waiting for the local replica gives up
#define NODE_CLIENT_ID_NODE_SHIFT 48u
// VSR sessions (batches in flight) per edge and group. More than one pipelines batches of
// different rooms; on this 2-core, fsync-bound VM 4 sessions were slower than 1 (smaller batches,
// more fdatasyncs: docs/benchmarks.md), so the default is 1.
#define NODE_SESSIONS_PER_GROUP 1u
#define NODE_SESSION_PENDING 8u // batches queued per session behind the one in flight
// Timeouts in ticks of TC_TICK_MS (docs/node.md §5): heartbeats every tick, a backup suspects the
// primary after 15 silent ticks, the edge's VSR client resends after 10.
#define NODE_NORMAL_TIMEOUT_TICKS 15u
#define NODE_VIEW_CHANGE_TIMEOUT_TICKS 15u
#define NODE_CLIENT_REQUEST_TIMEOUT_TICKS 10u

struct node;

// ------------------------------------------------------------------------------------------------
// The edge's per-connection state (node_edge.c).

enum node_request_state {
    NODE_REQUEST_FREE = 0,
    NODE_REQUEST_BATCHED,   // a chat op in its group's next or in-flight batch
    NODE_REQUEST_READ_WAIT, // history/subscribe waiting for the local replica (RYW, store slot)
    NODE_REQUEST_READING,   // a store read in flight
};

struct node_request {
    uint8_t state;      // enum node_request_state
    uint8_t op;         // enum tc_edge_op
    uint8_t id_size;
    char id[TC_EDGE_REQUEST_ID_SIZE_MAX + 1];
    uint32_t generation; // bumped when freed: a late reply for an old use is ignored
    uint32_t group;      // index into node->groups
    uint64_t room;
    uint64_t seq;        // history: from_seq; subscribe: since
    uint32_t limit;      // history
    uint8_t retention_mode; // set_retention: enum tc_edge_retention_mode, echoed in the result
    uint64_t retention_value;
    uint64_t op_wait;    // reads: the local replica must have applied this op first
    uint64_t deadline_ms;
    uint32_t wait_next;  // intrusive list of waiting reads (UINT32_MAX: none)
    uint32_t wait_prev;
};

struct node_ryw {
    uint32_t group;
    uint64_t op;
};

struct node_bucket {
    double tokens;
    uint64_t updated_ms;
};

struct node_conn {
    uint64_t conn_id; // 0: slot free
    struct tc_edge_jwt_claims claims;
    struct node_bucket bucket;
    uint32_t requests_used;
    uint32_t rate_limited_streak;
    uint32_t subscription_count;
    struct node_ryw ryw[NODE_RYW_GROUPS];
    uint32_t ryw_next;
    struct node_request *requests; // requests_in_flight_max of them
    uint32_t *subscriptions;       // subscriptions_max indices into node->subs (UINT32_MAX: none)
};

// A subscription (node_subs.c).
struct node_sub {
    bool used;
    bool behind;          // in the pump list: a gap, a replay or a slow-consumer catch-up
    bool reading;         // a store read in flight
    bool catch_up_notice; // send a catch_up event before the next delivery
    uint32_t conn;        // index into node->conns
    uint64_t conn_id;
    uint64_t room;
    uint32_t group;
    uint32_t generation;
    uint64_t next_seq;
    uint64_t seq_target;    // the highest seq known to exist (head at subscribe, seen on the bus)
    uint64_t read_after_ms; // a remote page came back short: ask again after this
    uint32_t room_next; // room list (node->rooms), UINT32_MAX ends it
    uint32_t room_prev;
    uint32_t behind_next; // pump list
    uint32_t behind_prev;
};

// ------------------------------------------------------------------------------------------------
// A group this node knows (hosts a replica of, or only routes to).

struct node_batch {
    uint8_t *body;         // TC_MESSAGE_BODY_SIZE_MAX
    struct tc_room_batch batch;
    uint32_t count;
    uint64_t first_op_ms; // when the first op joined (a batch not sent in time expires)
    bool expired;         // in flight, its ops already answered `timeout`
    // Origin of op i: the connection slot, request slot and its generation.
    uint32_t *origin_conn;
    uint16_t *origin_request;
    uint32_t *origin_generation;
};

struct node_group;

// The group's control client (only with a controller): a VSR client session of its own that
// submits the reconfigure of a replace step when the local replica leads the group
// (node_replace.c, docs/node.md §14). Allocated at start, registered when first needed.
struct node_control {
    struct tc_client *client; // NULL without a controller
    void *client_memory;
    uint64_t client_id;
    bool change_valid;             // `change` is the step it works for
    struct node_ctl_change change; // (job, step, learner) of that step
    bool done;                     // the slot holds the learner: nothing more for this step
    bool submitted;                // a reconfigure is in flight...
    struct node_ctl_change inflight; // ...for this step (a newer step may have come meanwhile)
    uint8_t body[TC_RECONFIGURE_BODY_SIZE];
    uint64_t retry_ms; // no new request before this (loop time)
    uint32_t attempts;
};

struct node_session {
    struct node_group *group;
    uint32_t index;
    struct tc_client *client;
    void *client_memory;
    uint64_t client_id;
    bool registered;
    bool busy;       // `batch` is in flight
    uint64_t sent_ms;
    struct node_batch batch; // in flight while busy
    // Ops waiting for this session, in arrival order: a ring of up to NODE_SESSION_PENDING
    // batches (each one VSR request); only the newest takes new ops. Full: server_busy.
    struct node_batch pending[NODE_SESSION_PENDING];
    uint32_t pending_head;
    uint32_t pending_count; // batches holding ops (the newest may be partly filled)
};

struct node_group {
    struct node *node;
    uint32_t index;
    uint32_t id;
    uint8_t replica_count;
    // Where group addresses go: the newest topology's members and change, else the config's
    // (node_replace.h, docs/node.md §14).
    struct node_route route;
    // hosted: the local replica runs (ticks, messages). closing: it was retired and stops once no
    // I/O is in flight (node_group_retire_*). group->replica != NULL iff hosted || closing.
    bool hosted;
    bool closing;
    bool readable;                     // hosted, and a member: reads are served locally (per tick)
    uint8_t slot;                      // when hosted
    bool primary;                      // the local replica leads a normal view (refreshed per tick)
    // Replica replacement (node_replace.c).
    bool learner_tried;                     // a learner start was attempted for learner_change
    struct node_ctl_change learner_change;
    bool learner_kept_logged;               // a learner no change names: said once
    uint64_t retire_epoch;                  // closing: the epoch named in the retired files
    uint64_t closing_since_ms;
    bool closing_warned;
    bool slot_mismatch_logged;
    struct node_control control;
    // The local replica.
    struct tc_replica_options replica_options;
    struct tc_io replica_io;
    struct tc_replica *replica;
    void *replica_memory;
    struct tc_io_linux_replica_storage storage;
    bool storage_open;
    struct tc_loop_handler storage_handlers[TC_IO_LINUX_REPLICA_ZONES];
    char path[600];
    // The edge's VSR client sessions for this group (docs/node.md §5): each keeps one batch in
    // flight, so up to NODE_SESSIONS_PER_GROUP batches pipeline. A room always uses the same
    // session (node_room_session): its ops stay in the order they arrived.
    struct tc_io client_io;
    struct node_session sessions[NODE_SESSIONS_PER_GROUP];
};

// ------------------------------------------------------------------------------------------------
// Deferred local deliveries (docs/node.md §3).

struct node_local_slot {
    uint32_t group;  // index
    bool to_client;  // else to the replica
    uint32_t size;
    uint8_t *message; // TC_MESSAGE_SIZE_MAX
};

// Latency histograms (node_metrics.c exports them): recorded on the loop thread only, no lock.
#define NODE_LATENCY_GROUPS_MAX 1024u // group indices (config and topology groups), asserted
_Static_assert(NODE_LATENCY_GROUPS_MAX >= TC_NODE_CONFIG_GROUPS_MAX &&
                   NODE_LATENCY_GROUPS_MAX >= NODE_CTL_TOPOLOGY_GROUPS_MAX,
               "every group index has its batch send times");
struct node_latency_stats {
    // The edge's batches: its VSR request sent -> the group's reply (prepare, journal write and
    // fdatasync on a quorum, commit, apply): the commit latency a client sees, less its own hops.
    struct tc_histogram batch_commit;                   // tc_histogram_layout_commit
    uint64_t batch_sent_ns[NODE_LATENCY_GROUPS_MAX][NODE_SESSIONS_PER_GROUP]; // monotonic
};

struct node_stats {
    struct node_latency_stats latency;
    uint64_t ticks;
    uint64_t ticks_skipped;
    uint64_t local_dropped;
    uint64_t vsr_dropped_invalid;
    uint64_t vsr_dropped_group;
    uint64_t vsr_dropped_client;
    uint64_t link_send_failed;
    uint64_t bus_frames_sent;
    uint64_t bus_frames_received;
    uint64_t bus_frames_invalid;
    uint64_t requests;
    uint64_t requests_rejected;
    uint64_t rate_limited;
    uint64_t ops_committed;
    uint64_t batches_sent;
    uint64_t batches_answered;
    uint64_t messages_delivered;
    uint64_t messages_duplicate_dropped;
    uint64_t gaps;
    uint64_t catch_ups;
    uint64_t store_reads;
    uint64_t store_reads_busy;
    uint64_t history_reads;
    uint64_t sessions_evicted;
    uint64_t vsr_dropped_self; // a replica's message that resolved to its own node
    // Replica replacement (node_replace.c).
    uint64_t learners_started;
    uint64_t reconfigures_submitted;
    uint64_t reconfigures_done;
    uint64_t replicas_retired;
};

#define NODE_TYPING_ROOMS 4u      // typing throttle: rooms remembered per user
#define NODE_TYPING_INTERVAL_MS 2000u // at most one typing event per user and room per interval

struct node_user {
    uint64_t user; // 0: free
    uint32_t connections;
    struct node_bucket bucket;
    uint64_t typing_room[NODE_TYPING_ROOMS];
    uint64_t typing_ms[NODE_TYPING_ROOMS];
};

// Hot paths (a line per request, connection, batch or incoming message) log through a limiter:
// at most lines_max (NODE_LOG_LIMIT_LINES unless set) per NODE_LOG_LIMIT_WINDOW_MS (loop time);
// the next line after a window that dropped some says how many.
#define NODE_LOG_LIMIT_WINDOW_MS 1000u
#define NODE_LOG_LIMIT_LINES 10u
#define NODE_LOG_LIMIT_REPLICA_LINES 50u // replicas: start-up and view changes of many groups
struct node_log_limit {
    const char *module;
    uint32_t lines_max;
    uint64_t window_start_ms;
    uint32_t lines;
    uint32_t suppressed;
};

struct node {
    struct tc_node_config config;
    // Derived from the config at load (node_main.c).
    uint16_t node_id;
    enum tc_log_level log_level;
    bool log_json;
    char listen_peer[24]; // "host:port"
    char listen_client[24];
    char listen_admin[24];
    struct tc_loop loop;
    struct tc_link link;
    struct tc_ws_server ws;
    struct tc_admin_server admin;
    bool link_open, ws_open, admin_open, loop_open;
    uint64_t now_ms;
    uint64_t tick_next_ms;
    uint64_t started_ms;
    bool stopping;
    bool stop_requested;
    uint64_t stop_deadline_ms;
    // Groups: the config's, then (topology mode, docs/node.md §15) the ones the topology placed,
    // appended as they appear. An index never changes; group_order sorts them by id.
    uint32_t group_count;
    uint32_t group_capacity;
    struct node_group *groups;
    uint32_t *group_order; // group_count indices into groups, ascending id
    uint32_t group_hosted_count;
    // Edge.
    uint32_t conns_max;
    struct node_conn *conns;
    struct node_request *requests_pool;
    uint32_t requests_per_conn;
    uint32_t *conn_subscriptions_pool;
    uint32_t subs_per_conn;
    uint32_t subs_max;
    struct node_sub *subs;
    uint32_t sub_free_head; // free list through room_next
    uint32_t behind_head;   // pump list
    uint32_t behind_tail;
    // room -> first subscription: open addressing, linear probing, backward-shift deletion.
    uint32_t rooms_capacity; // power of two
    uint64_t *room_keys;     // 0: empty
    uint32_t *room_heads;
    uint32_t users_capacity; // power of two
    struct node_user *users;
    uint32_t wait_head;      // reads waiting (node_request), as (conn << 16 | request)
    // Deferred local deliveries.
    struct node_local_slot local[NODE_LOCAL_QUEUE_SLOTS];
    uint8_t *vsr_aligned; // TC_MESSAGE_SIZE_MAX: an aligned copy of a misaligned link payload
    uint32_t local_head;
    uint32_t local_count;
    // Bus.
    uint8_t *bus_buffer;
    uint32_t bus_used;
    uint32_t bus_count;
    // Scratch.
    char *frame;             // NODE_FRAME_SIZE_MAX, one server message being written
    uint8_t *json_scratch_memory;
    struct tc_edge_json_scratch json_scratch;
    uint8_t *jwt_scratch_memory;
    struct tc_edge_json_scratch jwt_scratch;
    struct node_stats stats;
    // Redis bus (node_redis.c): both connections and node_redis_stats; enabled iff bus = redis.
    struct node_redis redis;
    // The controller client (node_ctl.c, docs/node.md §13); NULL without `controller`.
    struct node_ctl *ctl;
    // Log limiters of the hot paths (node_log_allowed).
    struct node_log_limit log_limit_link, log_limit_ws, log_limit_edge, log_limit_reads;
    struct node_log_limit log_limit_replica; // every replica's and VSR client's lines
    char error[2048];
};

// node_host.c: replicas, their io, the router and deferred local deliveries.
int node_hosts_init(struct node *node, bool format);
int node_session_renew(struct node *node, struct node_session *session);
struct node_session *node_session_find(struct node_group *group, uint64_t client_id);
// The group's control client: a fresh session (new random id), at start and after an eviction.
int node_control_renew(struct node *node, struct node_group *group);
// Replica replacement (docs/node.md §14). How many of the group's data files exist.
uint32_t node_group_files_present(struct node *node, const struct node_group *group);
// Formats the group's storage (no file may exist) and starts a learner with the identity (written
// before, by the caller). The replica's arena is allocated here: a configuration change, not a
// request. On failure nothing runs (the files stay) and node->error says why.
int node_group_host_learner(struct node *node, struct node_group *group,
                            const struct node_identity *identity);
// A retired replica stops: it takes no more ticks or messages at once; node_hosts_tick closes it
// (storage, memory) once no I/O is in flight and renames its files group-G.retired-<epoch>.*.
void node_group_retire_begin(struct node *node, struct node_group *group, uint64_t epoch);
bool node_group_ready(const struct node_group *group);
void node_hosts_deinit(struct node *node);
void node_hosts_tick(struct node *node);
void node_local_flush(struct node *node);
void node_link_on_frame(void *context, uint16_t from_node, uint8_t kind, const uint8_t *payload,
                        uint32_t size);
uint32_t node_hosts_inflight(struct node *node);
// Log lines (docs/node.md §10): `ts=S.US level=L node=N module=M [group=G ]msg="..."`, or the same
// fields as one JSON object with log_format = json. node_log is module "node".
void node_log(struct node *node, enum tc_log_level level, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
void node_log_module(struct node *node, enum tc_log_level level, const char *module,
                     uint32_t group, const char *format, ...)
    __attribute__((format(printf, 5, 6)));
bool node_log_allowed(struct node *node, struct node_log_limit *limit);

// node_edge.c: WebSocket callbacks, request handling, batching.
int node_edge_init(struct node *node);
void node_edge_deinit(struct node *node);
void node_edge_on_open(void *context, uint64_t conn_id, const struct tc_edge_jwt_claims *claims,
                       const char *peer_ip);
void node_edge_on_text(void *context, uint64_t conn_id, const uint8_t *data, uint32_t size);
void node_edge_on_close(void *context, uint64_t conn_id);
void node_edge_tick(struct node *node);
void node_edge_flush(struct node *node); // send the next batch of every idle group
struct node_conn *node_conn_get(struct node *node, uint64_t conn_id);
void node_edge_error(struct node *node, uint64_t conn_id, const char *id, uint32_t id_size,
                     enum tc_edge_error error, const char *field);
void node_edge_send(struct node *node, uint64_t conn_id, int32_t size);
void node_request_free(struct node_conn *conn, struct node_request *request);
bool node_edge_ryw_ready(struct node *node, const struct node_conn *conn, uint32_t group);
uint64_t node_edge_ryw_op(const struct node_conn *conn, uint32_t group);

// node_subs.c: subscriptions, the pump, history reads, the bus.
int node_subs_init(struct node *node);
void node_subs_deinit(struct node *node);
void node_subs_on_message(void *context, uint32_t group_id, const struct tc_room_message *message);
void node_subs_conn_closed(struct node *node, struct node_conn *conn);
void node_subs_subscribe(struct node *node, struct node_conn *conn, struct node_request *request);
void node_subs_unsubscribe(struct node *node, struct node_conn *conn, const char *id,
                           uint32_t id_size, uint64_t room);
void node_subs_history(struct node *node, struct node_conn *conn, struct node_request *request);
void node_subs_pump(struct node *node);
void node_bus_on_frame(struct node *node, const uint8_t *payload, uint32_t size);
void node_bus_flush(struct node *node);
// Events of bus frames and forwarded pages (node_subs.c).
#define NODE_EVENT_HEADER_SIZE 120u
uint32_t node_event_size(uint32_t body_size);
uint32_t node_event_encode(uint8_t *event, uint8_t type, const struct tc_room_message *message);
// False when the bytes do not hold a whole, well-formed event (room 0, body over the limit).
bool node_event_decode(const uint8_t *event, uint32_t available, uint8_t *type,
                       struct tc_room_message *message, uint32_t *event_size);
void node_bus_typing(struct node *node, uint64_t room, uint64_t user);
void node_subs_typing(struct node *node, uint64_t room, uint64_t user);
void node_subs_read_marker(struct node *node, uint64_t room, uint64_t user, uint64_t seq,
                           bool publish);
void node_json_begin(struct node *node, struct tc_edge_json_writer *writer, const char *type,
                     const char *id, uint32_t id_size, uint64_t room);
int32_t write_read_marker(struct node *node, const char *id, uint32_t id_size, uint64_t room,
                          uint64_t user, uint64_t seq, const char *type);
void node_subs_end(struct node *node, struct node_conn *conn, uint64_t room, const char *reason);
void node_subs_conn_claims_changed(struct node *node, struct node_conn *conn);
void node_subs_user_left(struct node *node, uint64_t room, uint64_t user, uint64_t conn_id_left,
                         bool publish);
void node_wait_remove(struct node *node, struct node_request *request);

// node_metrics.c: /metrics and /healthz. The admin server's body is sized for the node's group
// capacity (a node of 1024 placed groups gets ~4.3 MiB).
#define NODE_METRICS_BASE_BYTES (256u * 1024u)
#define NODE_METRICS_GROUP_BYTES (4u * 1024u)
int32_t node_metrics_write(void *context, char *out, uint32_t out_size);
bool node_healthy(void *context);

// Groups by id (NULL if unknown) and the group of a room: the config's blocks, or in topology
// mode the topology's slot map (NULL: the room's slot is not routed yet, or no topology).
struct node_group *node_group_find(struct node *node, uint32_t group_id);
struct node_group *node_room_group(struct node *node, uint64_t room);
// Topology mode (docs/node.md §15): the config lists no group; the controller's topology places
// the groups and its slot map routes rooms.
bool node_topology_mode(const struct node *node);
// Adds the topology's groups this node does not know yet, hosting those that name this node as an
// epoch-0 member (and any with an identity file). running: the edge is up, so its batches are
// allocated here (else node_edge_init allocates them). Allocation here is a configuration change,
// never a request's.
void node_groups_adopt(struct node *node, const struct node_ctl_topology *topology, bool running);
// The topology's nodes the link does not know yet join it (any mode: a node added to the cluster
// after this one started, docs/node.md §15). Needs the link up; node_listen calls it at start.
void node_peers_join(struct node *node, const struct node_ctl_topology *topology);
// The edge's per-group memory (batches), node_edge.c; deinit frees what init got (any part).
int node_edge_group_init(struct node_group *group);
void node_edge_group_deinit(struct node_group *group);

#endif
