#ifndef TC_NODE_CTL_H
#define TC_NODE_CTL_H

// The node's controller client (docs/node.md §13, docs/controller.md §5, §8): a thread that
// registers the node, sends a signed heartbeat every controller_interval_ms, and fetches, verifies
// and caches (data_dir/topology.json) every newer signed topology; and the loop-side half that
// snapshots the replicas' status for it and acts on the topology's `move_primary` changes.
//
// Threads: blocking HTTP (libcurl) runs only on the client thread. cJSON runs only on the loop
// thread (and before the threads start): the edge swaps cJSON's process-wide allocator hooks on
// the loop thread (node/edge/edge_json.c), so a cJSON call on another thread could allocate from
// the edge's scratch. Hence the client builds its messages canonical by construction, reads the
// controller's small answers with node_ctl_answer_member, and hands a fetched topology to the loop
// for node_ctl_topology_verify. Shared under one mutex: the status snapshot (loop -> client), the
// fetched topology and its verdict, the "installed" sequence number, and counters for /metrics.
//
// The message builders and the topology verifier are pure (no I/O, no clock): tested by
// tests/unit/test_node_ctl.c.

#include <stdbool.h>
#include <stdint.h>

#include "node_config.h"
#include "tc_audit.h"

#define NODE_CTL_DOMAIN_REGISTER "tigerchat-register-v1"
#define NODE_CTL_DOMAIN_HEARTBEAT "tigerchat-heartbeat-v1"
#define NODE_CTL_DOMAIN_TOPOLOGY "tigerchat-topology-v1"

#define NODE_CTL_CONNECT_TIMEOUT_MS 1000u
#define NODE_CTL_TIMEOUT_MS 3000u                     // a whole request, connect included
#define NODE_CTL_RESPONSE_SIZE_MAX (1024u * 1024u)    // a controller's answer (else refused)
#define NODE_CTL_REQUEST_SIZE_MAX (64u * 1024u)       // the controller takes bodies <= 64 KiB
#define NODE_CTL_STATUS_SIZE_MAX (60u * 1024u)        // a heartbeat's status object
#define NODE_CTL_STATUS_GROUPS_MAX 240u               // groups in one status (more: omitted)
#define NODE_CTL_TOPOLOGY_GROUPS_MAX 1024u            // groups of a topology (controller's max)
#define NODE_CTL_MEMBERS_MAX 5u
#define NODE_CTL_CLUSTER_SIZE_MAX 64u                 // bytes of the topology's cluster name
#define NODE_CTL_WARN_INTERVAL_MS 60000u              // a repeated warning: once a minute
#define NODE_CTL_ERROR_SIZE 256u

// ------------------------------------------------------------------------------------------------
// Pure message builders.

// What a node registers with (docs/controller.md §8). Strings are NUL-terminated, and hold only
// characters that need no JSON escape (the config's addresses and zone are checked so).
struct node_ctl_identity {
    uint16_t node_id;
    char zone[TC_NODE_CONFIG_ZONE_SIZE_MAX + 1];
    char address_peer[TC_NODE_CONFIG_ADDRESS_TEXT_SIZE];
    char address_client[TC_NODE_CONFIG_ADDRESS_TEXT_SIZE];
    char address_admin[TC_NODE_CONFIG_ADDRESS_TEXT_SIZE];
    struct tc_audit_public_key public_key;
};

// A hosted replica's role in its group (docs/vsr.md §11.4): from tc_replica_status member/retired.
enum node_ctl_role {
    NODE_CTL_ROLE_MEMBER = 0,  // the acting configuration names it
    NODE_CTL_ROLE_LEARNER = 1, // it was never a member: catching up to replace one
    NODE_CTL_ROLE_RETIRED = 2, // replaced: it only answers until its node stops hosting it
};
const char *node_ctl_role_name(enum node_ctl_role role);

// One hosted replica in a heartbeat's status.
struct node_ctl_group_status {
    uint32_t id;
    uint8_t slot;
    bool primary;  // leads a normal view
    uint8_t state; // enum tc_replica_state
    uint8_t role;  // enum node_ctl_role
    uint32_t view;
    uint32_t epoch;      // acting_epoch
    uint64_t op;         // op_head
    uint64_t commit;     // commit_max
    uint64_t applied;    // commit_min
    uint64_t replica_id; // this replica's id (sent as a decimal string: all 64 bits are used)
};

// The busiest rooms of the groups this node leads (one node counts a room: its group's primary),
// by messages committed in the last window, and the node's commit latency: what the dashboard
// shows (tui/, docs/node.md §13).
#define NODE_CTL_ROOMS_TOP 8u
#define NODE_CTL_ROOMS_SCAN_PER_TICK 2048u // rooms visited per loop tick (bounded work)
struct node_ctl_room_load {
    uint32_t group;
    uint64_t room;
    uint64_t messages; // committed in the window
    uint64_t seq;      // the room's last seq
};
struct node_ctl_status_extra {
    bool commit_p99_known;
    uint64_t commit_p99_us;
    uint64_t window_ms; // 0: no window measured yet (no "rooms")
    uint32_t room_count;
    struct node_ctl_room_load rooms[NODE_CTL_ROOMS_TOP]; // most messages first
};

// Keeps the NODE_CTL_ROOMS_TOP loads with the most messages (then the higher seq), most first.
void node_ctl_rooms_offer(struct node_ctl_status_extra *extra, const struct node_ctl_room_load *load);

// The status object, canonical: {"connections":N,"groups":[{"applied","commit","epoch","id","op",
// "primary","replica_id","role","slot","state","view"},...]} and, when more than
// NODE_CTL_STATUS_GROUPS_MAX groups are given, "groups_omitted":K (the first
// NODE_CTL_STATUS_GROUPS_MAX are sent). Returns its size (NUL excluded), TC_ENOSPC, or TC_ERANGE
// for a number beyond 2^53 - 1 (canonical JSON's integers; replica_id is a string).
// With `extra` (NULL: none), "commit_p99_us":N first (when known) and "rooms":[{"group","messages",
// "room":"<decimal>","seq"},...],"rooms_window_ms":W last (when window_ms > 0), keys in canonical
// order.
int32_t node_ctl_status_build(const struct node_ctl_group_status *groups, uint32_t group_count,
                              uint64_t connections, const struct node_ctl_status_extra *extra,
                              char *out, uint32_t capacity);

// The next message time: now, or last + 1 ms when the clock has not moved past the last one (the
// controller refuses a heartbeat not newer than the previous).
uint64_t node_ctl_time_next(uint64_t time_last_ms, uint64_t time_now_ms);

// POST /v1/register's body: the canonical object {"address_admin","address_client","address_peer",
// "node","public_key","time","zone"} (written canonical: sorted keys, no whitespace, strings that
// need no escape) with ,"sig":"<128 hex>"} in place of its final '}', where sig signs
// NODE_CTL_DOMAIN_REGISTER "\n" <the canonical object>. Returns 0 with *size (NUL excluded), or
// TC_ETOOBIG (nothing usable in out). The secret key must belong to identity->public_key.
int node_ctl_register_build(const struct node_ctl_identity *identity, uint64_t time_ms,
                            const struct tc_audit_secret_key *secret, char *out,
                            uint32_t capacity, uint32_t *size);

// POST /v1/heartbeat's body: canonical {"node","status","time"}, then ,"sig":"<hex>"} over
// NODE_CTL_DOMAIN_HEARTBEAT. `status` must be canonical JSON (node_ctl_status_build's): it is
// signed as is. TC_ETOOBIG when it does not fit.
int node_ctl_heartbeat_build(uint16_t node_id, const char *status, uint64_t time_ms,
                             const struct tc_audit_secret_key *secret, char *out,
                             uint32_t capacity, uint32_t *size);

// Reads member `name` of a controller's flat JSON answer without a JSON library (see Threads):
// a string's characters (no escapes) or a bare token of a-z 0-9 (a number, true, false, null).
// False, with value "", when it is absent, malformed or longer than value_size - 1 bytes.
bool node_ctl_answer_member(const char *answer, const char *name, char *value,
                            uint32_t value_size);

// ------------------------------------------------------------------------------------------------
// The signed topology.

enum node_ctl_change_kind {
    NODE_CTL_CHANGE_NONE = 0,
    NODE_CTL_CHANGE_MOVE_PRIMARY = 1,
    NODE_CTL_CHANGE_REPLACE = 2,
    NODE_CTL_CHANGE_OTHER = 3, // a kind this node does not know
};

// A group's "change": {"kind","from","to"} and, when the controller names them, "job" and "step";
// a replace step whose learner caught up also carries "learner_id" (a decimal string: replica ids
// use all 64 bits, beyond JSON's exact integers; docs/controller.md §7 phase 3).
struct node_ctl_change {
    uint8_t kind; // enum node_ctl_change_kind
    bool job_known;
    bool learner_known;
    uint16_t from_node;
    uint16_t to_node;
    uint64_t job;
    uint64_t step;
    uint64_t learner_id; // when learner_known: non-zero
};

struct node_ctl_topology_group {
    uint32_t id;
    uint64_t epoch;
    uint32_t member_count;
    uint16_t members[NODE_CTL_MEMBERS_MAX]; // node ids by slot
    uint16_t primary_node;                  // 0: null (unknown)
    struct node_ctl_change change;
};

// A node of the topology with its peer address (docs/node.md §15: nodes join the link from it).
#define NODE_CTL_TOPOLOGY_NODES_MAX 255u
#define NODE_CTL_ADDRESS_SIZE_MAX 128u // TC_LINK_ADDRESS_SIZE_MAX (asserted in node_ctl.c)
struct node_ctl_topology_node {
    uint16_t id;
    char address_peer[NODE_CTL_ADDRESS_SIZE_MAX];
};

struct node_ctl_topology {
    uint64_t version;
    // "nodes" entries with an id and an address_peer that fits (others are not listed here).
    uint32_t node_count;
    struct node_ctl_topology_node nodes[NODE_CTL_TOPOLOGY_NODES_MAX];
    char cluster[NODE_CTL_CLUSTER_SIZE_MAX + 1];
    // The slot map ("slots": inclusive [first,last,group] ranges): slot -> group id, 0 unrouted.
    uint32_t slot_group[TC_ROUTING_SLOTS];
    uint32_t slots_routed;
    uint32_t group_count;
    struct node_ctl_topology_group groups[NODE_CTL_TOPOLOGY_GROUPS_MAX]; // as listed
};

// Loop thread only (cJSON). Verifies a GET /v1/topology answer
// {"body":{...},"hash":"<64 hex>","signature":"<128 hex>"}:
// re-encodes body canonically (tc_audit_json_canonical), checks hash = BLAKE2b-256 of those bytes
// and the Ed25519 signature over NODE_CTL_DOMAIN_TOPOLOGY "\n" <those bytes> with `key`, then
// parses the body into *topology. Refuses (C6) a version <= version_have (TC_ERANGE) and, when
// cluster is not NULL or "", another cluster name (TC_EPERM). Returns 0, TC_EINVAL (malformed),
// TC_EPERM (hash or signature), TC_ERANGE, TC_ETOOBIG (over the canonical encoder's 64 KiB or
// NODE_CTL_TOPOLOGY_GROUPS_MAX groups) or TC_ENOMEM, with a message in error.
int node_ctl_topology_verify(const char *response, uint32_t size,
                             const struct tc_audit_public_key *key, uint64_t version_have,
                             const char *cluster, struct node_ctl_topology *topology,
                             char error[NODE_CTL_ERROR_SIZE]);

// What the loop does about one hosted group's change (node_ctl_change_decide).
enum node_ctl_action {
    NODE_CTL_ACTION_NONE = 0,     // no change, already acted on this (job, step), or not ours
    NODE_CTL_ACTION_WAIT,         // ours, but the local replica is not a normal primary (yet)
    NODE_CTL_ACTION_TRANSFER,     // tc_replica_transfer_leadership(target_slot)
    NODE_CTL_ACTION_NOT_MEMBER,   // move_primary to a node that is not in the local group: log
    NODE_CTL_ACTION_UNSUPPORTED,  // an unknown kind: log, once
};

// Whether two changes are the same step (kind, from, to, and job and step when known).
bool node_ctl_change_equal(const struct node_ctl_change *a, const struct node_ctl_change *b);

// change: the group's change in the topology (NULL: none). acted: the change last acted on for
// this group (NULL: none). target_slot: the local slot of change->to_node, or -1. A replace is
// NODE_CTL_ACTION_NONE here: node_replace.c carries it out.
enum node_ctl_action node_ctl_change_decide(const struct node_ctl_change *change,
                                            const struct node_ctl_change *acted, uint16_t node_id,
                                            bool primary_normal, int32_t target_slot);

// Atomically replaces <data_dir>/topology.json with `bytes`: a temporary file, fsync, rename,
// fsync of the directory. Returns 0 or TC_EIO / TC_ETOOBIG with a message in error.
int node_ctl_topology_file_write(const char *data_dir, const char *bytes, uint32_t size,
                                 char error[NODE_CTL_ERROR_SIZE]);
// Reads <data_dir>/topology.json (at most capacity - 1 bytes, NUL-terminated). TC_ENOENT when it
// does not exist, TC_ETOOBIG when larger, TC_EIO.
int node_ctl_topology_file_read(const char *data_dir, char *buffer, uint32_t capacity,
                                uint32_t *size);
// The same for any file <data_dir>/<name> (the identity files of node_replace.c): written through
// <name>.tmp, read bounded.
int node_ctl_file_write(const char *data_dir, const char *name, const char *bytes, uint32_t size,
                        char error[NODE_CTL_ERROR_SIZE]);
int node_ctl_file_read(const char *data_dir, const char *name, char *buffer, uint32_t capacity,
                       uint32_t *size);
// fsync of data_dir (after a rename in it). 0 or TC_EIO.
int node_ctl_directory_sync(const char *data_dir);

// ------------------------------------------------------------------------------------------------
// The client in the node (needs struct node, node.h).

struct node;

struct node_ctl_stats {
    bool configured; // a controller is set
    bool up;         // the last call got a 2xx answer
    uint64_t heartbeats;
    uint64_t topology_version; // installed (0: none)
    uint64_t leadership_transfers;
};

// `format`: creates node_key_file with tc_audit_keygen when it is missing (prints what it did).
int node_ctl_format_key(struct node *node);
// `start`, before the replicas open: with a controller configured, loads node_key_file (refusing
// to start without it, message in node->error), allocates everything and loads the cached
// topology (a bad one is logged and ignored). Without a controller: nothing, node->ctl stays NULL.
int node_ctl_init(struct node *node);
// Starts the client thread (after the listeners are up). No-op without a controller.
int node_ctl_start(struct node *node);
// Loop thread, every tick: status snapshot, newest topology, move_primary. No-op without one.
void node_ctl_tick(struct node *node);
// Stops the thread (it wakes at once; a request in flight is aborted), joins it, frees. Idempotent.
void node_ctl_deinit(struct node *node);
// Loop thread (/metrics).
void node_ctl_stats_get(struct node *node, struct node_ctl_stats *stats);
// Loop thread, or before the threads start: the installed topology's entry for the group (NULL
// without a controller, a topology, or that group in it).
// The installed topology (the loop's copy), or NULL before one: slot map and groups.
const struct node_ctl_topology *node_ctl_topology_installed(struct node *node);
const struct node_ctl_topology_group *node_ctl_topology_group(struct node *node,
                                                              uint32_t group_id);

#endif
