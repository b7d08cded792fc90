#ifndef CTL_STORE_H
#define CTL_STORE_H

// The controller's SQLite store (docs/controller.md §2–§5, §8). One connection, one thread.
//
//   open      WAL, synchronous=FULL, foreign_keys=ON; migrations to CTL_STORE_SCHEMA_VERSION
//   apply     the ONLY writer of action-derived rows (invariant C2): one chained action per
//             transaction, its `actions` row plus its effects plus, if nodes/groups/members/
//             changes/slots changed, exactly one new signed topology version
//   reads     the in-memory model (ctl_model.h), keys, jobs, topology, JSON for the HTTP API
//   observed  heartbeats (node_status) and rejected requests: never chained
//
// All functions return 0 or a negative TC_E* code (tc_err.h); programmer errors are asserted.
// Errors from SQLite map to: constraint (foreign key, unique, check) -> TC_EINVAL, I/O, full disk,
// read-only -> TC_EIO, corrupt/not a database -> TC_ECORRUPT, busy/locked -> TC_EBUSY, out of
// memory -> TC_ENOMEM. After any error ctl_store_error() names it (SQLite's message included).
// If a ROLLBACK itself fails the store refuses every further call with TC_EIO (reopen it).

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ctl_model.h"

#define CTL_STORE_SCHEMA_VERSION 2u
#define CTL_STORE_ERROR_SIZE 256u
#define CTL_STORE_HASH_HEX_SIZE 65u       // BLAKE2b-256: 64 lowercase hex digits and the NUL
#define CTL_STORE_SIGNATURE_HEX_SIZE 129u // Ed25519: 128 lowercase hex digits and the NUL
#define CTL_STORE_TIME_TEXT_SIZE 25u      // "YYYY-MM-DDTHH:MM:SS.mmmZ" and the NUL
#define CTL_STORE_NAME_SIZE_MAX 65u       // cluster and key names: 1..64 bytes and the NUL
#define CTL_STORE_TEXT_SIZE_MAX 257u      // job reason, step progress: 0..256 bytes and the NUL
#define CTL_STORE_ACTION_SIZE_MAX 65u     // as TC_AUDIT_ACTION_SIZE_MAX, and the NUL
#define CTL_STORE_REMOTE_SIZE_MAX 129u    // a rejected request's remote address and the NUL
#define CTL_STORE_REASON_SIZE_MAX 257u    // a rejected request's reason and the NUL
#define CTL_STORE_STATUS_SIZE_MAX (64u * 1024u) // a heartbeat's status JSON (bodies are <= 64 KiB)
#define CTL_STORE_TOPOLOGY_SIZE_MAX (512u * 1024u) // canonical topology body, with its NUL
#define CTL_STORE_KEYS_MAX 1024u          // operator keys ever added (removed ones included)
#define CTL_STORE_JOB_MOVES_MAX 256u      // steps of one job
#define CTL_STORE_REJECTED_KEEP 10000u    // the rejected table keeps the newest this many rows
#define CTL_STORE_JOBS_JSON_MAX 100u      // ctl_store_jobs_json lists the newest this many jobs

// Ed25519 signs CTL_STORE_TOPOLOGY_DOMAIN || body (docs/controller.md §5).
#define CTL_STORE_TOPOLOGY_DOMAIN "tigerchat-topology-v1\n"

struct ctl_store;

// Signs a topology: writes the lowercase hex of the Ed25519 signature over
// CTL_STORE_TOPOLOGY_DOMAIN || body (body_size bytes, no NUL counted) and a NUL. Returns 0 or a
// negative TC_E* code (the apply then rolls back and returns it). ctl_store_topology_sign() is
// such a signer given the controller's secret key.
typedef int (*ctl_store_sign_fn)(void *context, const char *body, size_t body_size,
                                 char signature_hex[CTL_STORE_SIGNATURE_HEX_SIZE]);

struct ctl_store_options {
    uint32_t busy_timeout_ms; // 0: 5,000
    // NULL: the store is read-mostly; an action that changes the topology fails with TC_EPERM.
    void *sign_context;
    ctl_store_sign_fn sign_topology;
};

// Opens or creates the database at path (a file: WAL is required, ":memory:" is refused) and
// migrates it to CTL_STORE_SCHEMA_VERSION; an older non-empty database is first copied to
// "<path>.bak-v<old>". TC_ERANGE if its schema is newer than this binary's (error names both).
// On failure `error` (error_size bytes, may be 0) holds a message and *out is NULL.
int ctl_store_open(struct ctl_store **out, const char *path,
                   const struct ctl_store_options *options, char *error, size_t error_size);

// Finalizes the statements and closes the database. NULL is allowed.
void ctl_store_close(struct ctl_store *store);

// The message of the last error (empty if none).
const char *ctl_store_error(const struct ctl_store *store);

// Writes the cluster row on an empty database (before the first chain entry, which is the
// `controller.bootstrap` at seq 1, hence created_seq = 1). TC_EEXIST if the cluster row exists,
// TC_EINVAL on a bad name (1..64 printable bytes), key (64 hex) or slots (1..CTL_SLOTS).
int ctl_store_format(struct ctl_store *store, const char *cluster_name,
                     const char *controller_key_hex, uint32_t slots);

// ------------------------------------------------------------------------------------------------
// Applying chained actions.

// One audit chain entry, as text (the fields of the line; docs/audit.md §3).
struct ctl_store_action {
    uint64_t seq;
    const char *time;      // the entry's time, "YYYY-MM-DDTHH:MM:SS.mmmZ"
    const char *actor;     // 64 lowercase hex
    const char *action;    // [a-z][a-z0-9._-]*, at most 64 bytes
    const char *args;      // canonical JSON object
    const char *result;    // canonical JSON: "\"ok\"", {"status":"ok",...} or a refusal
    const char *line_hash; // BLAKE2b-256 of the entry's line, 64 lowercase hex
};

// Applies one entry in one transaction: the `actions` row and, if the result is ok, the action's
// effects (docs/controller.md §8; store_apply*.c list each action's parameters and effects). The
// result is ok when it is the string "ok" or an object whose "status" is "ok"; the other members
// of such an object are parameters the controller decided (group.create: members, slots;
// job.start: job, moves) and may not repeat a key of args. Any other result (a refusal) writes
// the `actions` row only. Deterministic in (entry, tables). Errors, nothing written:
//   TC_EEXIST   seq <= head seq with the same line hash (a replay: already applied)
//   TC_ECORRUPT seq <= head seq with another line hash (the chain and the database disagree)
//   TC_ERANGE   seq != head seq + 1
//   TC_EINVAL   malformed entry or args, unknown action, or effects that violate the schema
//               (unknown node, duplicate member, bad state, ...)
//   TC_ENOSPC   a bounded table is full (CTL_GROUPS_MAX groups, CTL_STORE_KEYS_MAX keys)
//   TC_EPERM    the topology changed but no signer was given at open
int ctl_store_apply(struct ctl_store *store, const struct ctl_store_action *action);

// max(actions.seq), 0 for none.
int ctl_store_head_seq(struct ctl_store *store, uint64_t *seq);

// ------------------------------------------------------------------------------------------------
// Topology (docs/controller.md §5).

// The canonical body of a topology: {"cluster","groups","nodes","slots","version"}, keys sorted,
// no whitespace. A group carries "change":{"from","kind","to"} while a step is running on it.
// Pure. TC_ENOSPC if capacity is short, TC_EINVAL if a field cannot be encoded.
int ctl_store_topology_body(const char *cluster, const struct ctl_model *model, uint64_t version,
                            char *out, size_t capacity, size_t *size);

// The newest topology: version, hash (CTL_STORE_HASH_HEX_SIZE), body (NUL-terminated; *body_size
// excludes the NUL), signature (CTL_STORE_SIGNATURE_HEX_SIZE). TC_ENOENT if none yet,
// TC_ENOSPC if body_capacity is short.
int ctl_store_topology_latest(struct ctl_store *store, uint64_t *version, char *hash, char *body,
                              size_t body_capacity, size_t *body_size, char *signature);

// A ctl_store_sign_fn body: context is a `const struct tc_audit_secret_key *` (tc_audit.h).
int ctl_store_topology_sign(void *context, const char *body, size_t body_size,
                            char signature_hex[CTL_STORE_SIGNATURE_HEX_SIZE]);

// 0 if signature_hex is a valid signature of body by public_key_hex, TC_EPERM otherwise.
int ctl_store_topology_verify(const char *body, size_t body_size, const char *signature_hex,
                              const char *public_key_hex);

// ------------------------------------------------------------------------------------------------
// Reads.

// Fills the model: nodes and groups sorted by id, members by slot, running changes, slot map.
// node.live: a heartbeat at most liveness_ms before now_ms (or after it). TC_ECORRUPT if the
// tables break a model bound (more than CTL_GROUPS_MAX groups, a group without 3 members, ...).
int ctl_store_model_load(struct ctl_store *store, struct ctl_model *model, uint64_t now_ms,
                         uint64_t liveness_ms);

enum ctl_store_role {
    CTL_STORE_ROLE_VIEWER = 0,
    CTL_STORE_ROLE_OPERATOR,
    CTL_STORE_ROLE_ADMIN,
    CTL_STORE_ROLE_CONTROLLER,
};

// The role of a key that is known and not removed; TC_ENOENT otherwise.
int ctl_store_key_role(struct ctl_store *store, const char *key_hex, enum ctl_store_role *role);

struct ctl_store_key {
    char public_key[CTL_KEY_HEX_SIZE];
    char name[CTL_STORE_NAME_SIZE_MAX];
    enum ctl_store_role role;
    uint64_t added_seq;
    uint64_t removed_seq; // 0: not removed
};

// Every key, removed ones included, by added_seq. TC_ENOSPC if there are more than capacity.
int ctl_store_keys_list(struct ctl_store *store, struct ctl_store_key *keys, uint32_t capacity,
                        uint32_t *count);

enum ctl_store_job_kind {
    CTL_STORE_JOB_DRAIN = 0,
    CTL_STORE_JOB_REBALANCE,
};

enum ctl_store_job_state {
    CTL_STORE_JOB_RUNNING = 0,
    CTL_STORE_JOB_SUCCEEDED,
    CTL_STORE_JOB_FAILED,
    CTL_STORE_JOB_CANCELLED,
};

enum ctl_store_move_state {
    CTL_STORE_MOVE_PENDING = 0,
    CTL_STORE_MOVE_RUNNING,
    CTL_STORE_MOVE_DONE,
    CTL_STORE_MOVE_FAILED,
    CTL_STORE_MOVE_CANCELLED,
};

struct ctl_store_job {
    uint64_t id;
    enum ctl_store_job_kind kind;
    uint16_t node_id; // 0: none (rebalance)
    char topology_hash[CTL_STORE_HASH_HEX_SIZE];
    enum ctl_store_job_state state;
    char reason[CTL_STORE_TEXT_SIZE_MAX];
    uint64_t created_seq;
    uint64_t updated_seq;
    uint32_t move_count;
    uint32_t moves_done;
};

struct ctl_store_move {
    uint64_t job_id;
    uint32_t step;
    uint32_t group_id;
    enum ctl_change_kind kind; // CTL_CHANGE_MOVE_PRIMARY or CTL_CHANGE_REPLACE
    uint16_t from_node;
    uint16_t to_node;
    enum ctl_store_move_state state;
    char progress[CTL_STORE_TEXT_SIZE_MAX];
};

// Jobs with id < before_id (0: no bound), newest first, at most capacity (page with the last id).
int ctl_store_jobs_list(struct ctl_store *store, bool running_only, uint64_t before_id,
                        struct ctl_store_job *jobs, uint32_t capacity, uint32_t *count);

// One job; TC_ENOENT if unknown.
int ctl_store_job_get(struct ctl_store *store, uint64_t job_id, struct ctl_store_job *job);

// A job's moves by step. TC_ENOENT if the job is unknown, TC_ENOSPC if it has more than capacity.
int ctl_store_job_moves(struct ctl_store *store, uint64_t job_id, struct ctl_store_move *moves,
                        uint32_t capacity, uint32_t *count);

struct ctl_store_status {
    char cluster[CTL_STORE_NAME_SIZE_MAX]; // "" before format/bootstrap
    char controller_key[CTL_KEY_HEX_SIZE];
    uint32_t slots;
    uint64_t head_seq;
    uint64_t topology_version; // 0: none yet
    uint32_t nodes_by_state[CTL_NODE_DOWN + 1]; // indexed by enum ctl_node_state
    uint32_t nodes_live;
    uint32_t groups;
    uint32_t groups_healthy;   // 3 live members
    uint32_t groups_degraded;  // 2 live members
    uint32_t groups_no_quorum; // fewer than 2
    uint32_t jobs_running;
    uint32_t keys_active;      // not removed
    uint64_t rejected_rows;
};

// The counts behind GET /v1/status (the audit head comes from the writer, not the store).
int ctl_store_status_get(struct ctl_store *store, uint64_t now_ms, uint64_t liveness_ms,
                         struct ctl_store_status *status);

// ------------------------------------------------------------------------------------------------
// Observations (not chained).

// Records a node's heartbeat (status: a JSON object, at most CTL_STORE_STATUS_SIZE_MAX - 1 bytes).
// TC_ENOENT if the node is unknown, TC_EINVAL if status is not a JSON object. Committed with
// synchronous=NORMAL: a power loss may lose the newest observations, never corrupt the database.
int ctl_store_heartbeat(struct ctl_store *store, uint16_t node, uint64_t now_ms,
                        const char *status_json);

struct ctl_store_rejected {
    uint64_t id; // assigned by the store (ignored by ctl_store_rejected_add)
    uint64_t time_ms;
    char remote[CTL_STORE_REMOTE_SIZE_MAX];
    char actor[CTL_STORE_REMOTE_SIZE_MAX]; // the claimed actor as sent (may be anything)
    char action[CTL_STORE_ACTION_SIZE_MAX];
    char reason[CTL_STORE_REASON_SIZE_MAX];
};

// Records a request that could not be chained and drops all but the newest
// CTL_STORE_REJECTED_KEEP rows. Committed with synchronous=NORMAL, as heartbeats.
int ctl_store_rejected_add(struct ctl_store *store, const struct ctl_store_rejected *row);

// Rejected rows with id < before_id (0: no bound), newest first, at most capacity.
int ctl_store_rejected_list(struct ctl_store *store, uint64_t before_id,
                            struct ctl_store_rejected *rows, uint32_t capacity, uint32_t *count);

// ------------------------------------------------------------------------------------------------
// JSON for the HTTP API (docs/controller.md §8), compact, NUL-terminated in out; *size excludes
// the NUL (size may be NULL). TC_ENOSPC if capacity is short.

// [{"id","public_key","zone","address_peer","address_client","address_admin","state","live",
//   "heartbeat_ms" (null: never),"status" (the last heartbeat's object, or null)}, ...]
int ctl_store_nodes_json(struct ctl_store *store, uint64_t now_ms, uint64_t liveness_ms,
                         char *out, size_t capacity, size_t *size);

// [{"id","epoch","members","primary" (null: unknown),"change" (null or {"from","job","kind",
//   "step","to"}),"slots" (count),"live_members","health":"healthy"|"degraded"|"no_quorum"}, ...]
int ctl_store_groups_json(struct ctl_store *store, uint64_t now_ms, uint64_t liveness_ms,
                          char *out, size_t capacity, size_t *size);

// The newest CTL_STORE_JOBS_JSON_MAX jobs: [{"id","kind","node" (null),"topology_hash","state",
//   "reason","created_seq","updated_seq","moves","moves_done"}, ...]
int ctl_store_jobs_json(struct ctl_store *store, char *out, size_t capacity, size_t *size);

// One job as in ctl_store_jobs_json with "moves" as [{"step","group","kind","from","to","state",
// "progress"}, ...]. TC_ENOENT if unknown.
int ctl_store_job_json(struct ctl_store *store, uint64_t job_id, char *out, size_t capacity,
                       size_t *size);

// [{"public_key","name","role","added_seq","removed_seq" (null: active)}, ...]
int ctl_store_keys_json(struct ctl_store *store, char *out, size_t capacity, size_t *size);

// A consistent snapshot of the database at db_path (possibly open and written by a running
// controller) into a new file out_path (VACUUM INTO: refuses an existing file). 0 or TC_EIO with
// a message in error.
int ctl_store_backup(const char *db_path, const char *out_path, char *error, uint32_t error_size);

// Names of the enums, as stored in the tables.
const char *ctl_store_role_name(enum ctl_store_role role);
const char *ctl_store_node_state_name(enum ctl_node_state state);
const char *ctl_store_job_state_name(enum ctl_store_job_state state);
const char *ctl_store_move_state_name(enum ctl_store_move_state state);

#endif
