#ifndef TUI_MODEL_H
#define TUI_MODEL_H

// The dashboard's model: what the controller said, parsed into plain bounded structs (no ncurses,
// no I/O). One `struct tui_snapshot` is one consistent refresh: GET /v1/status, /v1/groups,
// /v1/nodes (with each node's last heartbeat), /v1/jobs (+ the running job's moves) and the audit
// tail. Everything a view shows that is not in an answer is derived here: a group's view, commit,
// commit lag and observed primary from the members' heartbeats, commits per second between two
// snapshots, the cluster's overall health. Strings from the controller are sanitized (printable
// ASCII only) and cut to the field's size on the way in.
//
// Parsers take a cJSON tree and return 0, or TC_EINVAL with a message naming the problem
// ("/v1/nodes: not an array"). Rows without a valid id are skipped and counted in
// snapshot->rows_ignored (a shown warning), rows beyond a bound are counted in rows_dropped: a
// strange answer never crashes the dashboard and never blanks the last good view.

#include <stdbool.h>
#include <stdint.h>

struct cJSON;

#define TUI_NODES_MAX 255u   // the controller's CTL_NODES_MAX
#define TUI_GROUPS_MAX 1024u // CTL_GROUPS_MAX
#define TUI_MEMBERS_MAX 3u   // CTL_REPLICAS
#define TUI_OBSERVED_MAX 5u  // heartbeat reports kept per group (3 members, a learner, one more)
#define TUI_JOBS_MAX 100u    // the controller lists the newest 100 jobs
#define TUI_MOVES_MAX 256u   // CTL_STORE_JOB_MOVES_MAX: steps of one job
#define TUI_PLAN_STEPS_MAX 2048u // CTL_PLAN_STEPS_MAX: steps of one plan
#define TUI_AUDIT_TAIL_MAX 32u   // audit entries fetched for the tail pane
#define TUI_ROOMS_MAX 64u        // busiest rooms kept from the heartbeats (8 per node reporting)
#define TUI_NAME_SIZE 24u        // states, kinds, roles, actions (cut)
#define TUI_TEXT_SIZE 64u        // zones, addresses, clusters (cut)
#define TUI_LONG_TEXT_SIZE 160u  // reasons, progress, args (cut)
#define TUI_HEX_SIZE 129u        // keys (64 hex), hashes (64 hex), up to 128 digits + NUL
#define TUI_MESSAGE_SIZE 320u    // an error or result message

enum tui_health {
    TUI_HEALTH_UNKNOWN = 0,
    TUI_HEALTH_HEALTHY,   // 3 live members
    TUI_HEALTH_DEGRADED,  // 2 live members (or, cluster-wide: a node not live, a degraded group)
    TUI_HEALTH_NO_QUORUM, // fewer than 2
};

struct tui_status {
    char cluster[TUI_TEXT_SIZE];
    char controller_key[TUI_HEX_SIZE];
    uint64_t audit_seq;
    char audit_head[TUI_HEX_SIZE];
    bool audit_writable;
    uint64_t topology_version;
    uint32_t nodes_active, nodes_cordoned, nodes_draining, nodes_drained, nodes_down, nodes_live;
    uint32_t groups_total, groups_healthy, groups_degraded, groups_no_quorum;
    uint32_t jobs_running;
    uint32_t keys_active;
    uint64_t rejected_requests;
};

struct tui_node {
    uint32_t id;
    char state[TUI_NAME_SIZE]; // the operator's intent: active, cordoned, draining, drained, down
    bool live;
    bool heartbeat_known;
    uint64_t heartbeat_ms; // the controller's wall clock when the last heartbeat arrived
    char zone[TUI_TEXT_SIZE];
    char public_key[TUI_HEX_SIZE];
    char address_peer[TUI_TEXT_SIZE];
    char address_client[TUI_TEXT_SIZE];
    char address_admin[TUI_TEXT_SIZE];
    uint32_t replicas;         // groups that list it as a member (topology)
    uint32_t primaries;        // groups its heartbeat says it leads in a normal view
    uint32_t learners;         // groups it hosts as a learner (a replace step in progress)
    uint32_t reported;         // groups in its heartbeat
    uint32_t reported_omitted; // groups its heartbeat left out ("groups_omitted")
    bool connections_known;
    uint64_t connections; // client connections (heartbeat)
    bool commit_p99_known;
    uint64_t commit_p99_us; // heartbeat "commit_p99_us" (the node's edge commit latency p99)
};

// One node's heartbeat report of one group.
struct tui_replica {
    uint32_t node;
    uint32_t slot;
    char role[TUI_NAME_SIZE];  // member, learner, retired
    char state[TUI_NAME_SIZE]; // normal, view_change, recovering, ...
    bool primary;
    uint32_t view;
    uint32_t epoch;
    uint64_t op, commit, applied;
    uint64_t heartbeat_ms;
};

struct tui_change {
    bool present;
    uint64_t job;
    uint32_t step;
    char kind[TUI_NAME_SIZE];
    uint32_t from, to;
};

struct tui_group {
    uint32_t id;
    uint32_t epoch;
    uint32_t members[TUI_MEMBERS_MAX];
    uint32_t member_count;
    uint32_t primary_topology; // 0: null / unknown
    uint32_t slots;
    uint32_t live_members;
    enum tui_health health;
    struct tui_change change;
    struct tui_replica observed[TUI_OBSERVED_MAX];
    uint32_t observed_count;
    // Derived from observed (tui_snapshot_derive):
    uint32_t primary_observed; // the node whose heartbeat leads it in a normal view, 0: none
    uint32_t view;             // the highest view reported
    uint64_t commit;           // the highest commit reported
    uint64_t commit_at_ms;     // heartbeat time of the report with that commit
    uint64_t lag;              // commit - the lowest applied among reporting members
    bool unsettled;            // a reporting member is not in a normal view
    bool rate_known;
    double commits_per_s; // between the last two snapshots (smoothed)
};

// A busy room as its group's primary reported it (heartbeat "rooms", docs/node.md §13).
struct tui_room {
    uint64_t room;
    uint32_t group;
    uint32_t node;     // the reporting node (it leads the group)
    uint64_t seq;      // the room's last seq
    double per_s;      // messages per second over the node's window
};

struct tui_job {
    uint64_t id;
    char kind[TUI_NAME_SIZE];
    uint32_t node; // drain: the node; 0 otherwise
    char state[TUI_NAME_SIZE];
    char reason[TUI_LONG_TEXT_SIZE];
    uint32_t moves_done;
    uint32_t moves;
    uint64_t created_seq;
};

struct tui_move {
    uint32_t step;
    uint32_t group;
    char kind[TUI_NAME_SIZE];
    uint32_t from, to;
    char state[TUI_NAME_SIZE];
    char progress[TUI_LONG_TEXT_SIZE];
};

struct tui_audit_entry {
    uint64_t seq;
    char time[TUI_NAME_SIZE + 8];
    char actor[TUI_HEX_SIZE];
    char action[TUI_NAME_SIZE + 8];
    char args[TUI_LONG_TEXT_SIZE];
    char result[TUI_LONG_TEXT_SIZE];
};

struct tui_snapshot {
    bool valid;          // a complete refresh is in it
    uint64_t fetched_ms; // wall clock of the refresh
    struct tui_status status;
    struct tui_node nodes[TUI_NODES_MAX];
    uint32_t node_count;
    struct tui_group groups[TUI_GROUPS_MAX];
    uint32_t group_count;
    struct tui_job jobs[TUI_JOBS_MAX];
    uint32_t job_count;
    uint64_t running_job; // the running job whose moves are below, 0: none
    struct tui_move moves[TUI_MOVES_MAX];
    uint32_t move_count;
    struct tui_audit_entry audit[TUI_AUDIT_TAIL_MAX]; // oldest first
    uint32_t audit_count;
    struct tui_room rooms[TUI_ROOMS_MAX]; // as reported (tui_pane_rows orders them)
    uint32_t room_count;
    uint32_t rows_ignored; // rows without a valid id (or duplicated)
    uint32_t rows_dropped; // rows beyond a bound
};

enum tui_plan_kind {
    TUI_PLAN_DRAIN,
    TUI_PLAN_REBALANCE,
};

struct tui_plan_step {
    uint32_t step;
    uint32_t group;
    char kind[TUI_NAME_SIZE];
    uint32_t from, to;
};

struct tui_plan {
    enum tui_plan_kind kind;
    uint32_t node;      // drain
    uint32_t max_moves; // rebalance
    char topology_hash[TUI_HEX_SIZE];
    uint64_t topology_version;
    struct tui_plan_step steps[TUI_PLAN_STEPS_MAX];
    uint32_t step_count; // kept
    uint32_t step_total; // in the answer (more than step_count when cut)
};

// ------------------------------------------------------------------------------------------------
// Parsers (tui_parse.c). `error` receives a message on TC_EINVAL.

int tui_parse_status(const struct cJSON *json, struct tui_status *status, char *error,
                     uint32_t error_size);
// /v1/groups: replaces snapshot->groups (sorted by id), clears their observations.
int tui_parse_groups(const struct cJSON *json, struct tui_snapshot *snapshot, char *error,
                     uint32_t error_size);
// /v1/nodes: replaces snapshot->nodes (sorted by id) and files each heartbeat's per-group report
// under the group (groups first).
int tui_parse_nodes(const struct cJSON *json, struct tui_snapshot *snapshot, char *error,
                    uint32_t error_size);
int tui_parse_jobs(const struct cJSON *json, struct tui_snapshot *snapshot, char *error,
                   uint32_t error_size);
// /v1/jobs/ID: the moves of one job into moves (at most capacity; *total is the answer's count).
int tui_parse_job_moves(const struct cJSON *json, struct tui_move *moves, uint32_t capacity,
                        uint32_t *count, uint32_t *total, char *error, uint32_t error_size);
int tui_parse_audit(const struct cJSON *json, struct tui_snapshot *snapshot, char *error,
                    uint32_t error_size);
// /v1/plan/...: kind, node and max_moves are the request's (set by the caller before).
int tui_parse_plan(const struct cJSON *json, struct tui_plan *plan, char *error,
                   uint32_t error_size);

// ------------------------------------------------------------------------------------------------
// Derived state (tui_derive.c).

// Fills every group's derived fields from its observations and the nodes' counts; previous (may
// be NULL or invalid) gives commits per second.
void tui_snapshot_derive(struct tui_snapshot *snapshot, const struct tui_snapshot *previous);

// The group's health from its live members when the controller did not say.
enum tui_health tui_health_of_live(uint32_t live_members);
const char *tui_health_name(enum tui_health health);

// The cluster at a glance: no_quorum if a group has none, degraded if a group is degraded or a
// node that is not drained is not live, healthy otherwise; unknown before the first refresh.
enum tui_health tui_cluster_health(const struct tui_snapshot *snapshot);

// By id, or NULL.
const struct tui_node *tui_node_find(const struct tui_snapshot *snapshot, uint32_t id);
const struct tui_group *tui_group_find(const struct tui_snapshot *snapshot, uint32_t id);

// The running job (state "running") or NULL.
const struct tui_job *tui_job_running(const struct tui_snapshot *snapshot);

// ------------------------------------------------------------------------------------------------
// The link to the controller and its retry schedule (tui_derive.c).

enum tui_link_state {
    TUI_LINK_CONNECTING, // no answer yet
    TUI_LINK_UP,         // the last refresh succeeded
    TUI_LINK_DOWN,       // the controller could not be reached
    TUI_LINK_ERROR,      // it answered, but not with what the dashboard needs
};

#define TUI_BACKOFF_MAX_MS 10000u

struct tui_link {
    enum tui_link_state state;
    uint32_t failures;      // consecutive
    uint64_t down_since_ms; // wall clock of the first of those failures
    uint64_t next_ms;       // monotonic time of the next refresh
    char error[TUI_MESSAGE_SIZE];
};

// After a good refresh at monotonic now_ms: up, next in refresh_ms.
void tui_link_success(struct tui_link *link, uint64_t now_ms, uint32_t refresh_ms);
// After a failed one: down (unreachable) or error, the next try after refresh_ms doubled per
// consecutive failure, at most TUI_BACKOFF_MAX_MS (and never sooner than refresh_ms).
void tui_link_failure(struct tui_link *link, bool unreachable, const char *message, uint64_t now_ms,
                      uint64_t wall_ms, uint32_t refresh_ms);
uint32_t tui_backoff_ms(uint32_t refresh_ms, uint32_t failures);

// ------------------------------------------------------------------------------------------------
// Small helpers shared by the modules.

// Copies text sanitized (bytes outside 0x20..0x7e become '?') and cut to size - 1 bytes.
void tui_text_copy(char *out, uint32_t size, const char *text);

// "4s", "12m", "3h", "2d" for an age in ms.
void tui_age_format(uint64_t age_ms, char *out, uint32_t size);

#endif
