#ifndef CTL_STORE_INTERNAL_H
#define CTL_STORE_INTERNAL_H

// Internals of the store shared between its files. Not a public API.

#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "ctl_store.h"

struct cJSON;

// Every statement the store runs after open, prepared once (SQLITE_PREPARE_PERSISTENT).
#define STORE_STMT_TABLE(X)                                                                        \
    X(STMT_BEGIN, "BEGIN IMMEDIATE")                                                               \
    X(STMT_BEGIN_READ, "BEGIN")                                                                    \
    X(STMT_COMMIT, "COMMIT")                                                                       \
    X(STMT_ROLLBACK, "ROLLBACK")                                                                   \
    X(STMT_SYNC_NORMAL, "PRAGMA synchronous=NORMAL")                                               \
    X(STMT_SYNC_FULL, "PRAGMA synchronous=FULL")                                                   \
    X(STMT_HEAD_SEQ, "SELECT coalesce(max(seq),0) FROM actions")                                   \
    X(STMT_ACTION_HASH, "SELECT line_hash FROM actions WHERE seq=?1")                              \
    X(STMT_ACTION_INSERT, "INSERT INTO actions(seq,time,actor,action,args,result,line_hash) "      \
                          "VALUES(?1,?2,?3,?4,?5,?6,?7)")                                          \
    X(STMT_CLUSTER_GET, "SELECT name,controller_key,slots FROM cluster WHERE id=1")                \
    X(STMT_CLUSTER_INSERT, "INSERT INTO cluster(id,name,controller_key,slots,created_seq) "        \
                           "VALUES(1,?1,?2,?3,1)")                                                 \
    X(STMT_KEY_INSERT, "INSERT INTO keys(public_key,name,role,added_seq) VALUES(?1,?2,?3,?4)")     \
    X(STMT_KEY_REMOVE, "UPDATE keys SET removed_seq=?2 "                                           \
                       "WHERE public_key=?1 AND removed_seq IS NULL")                              \
    X(STMT_KEY_GET, "SELECT role,removed_seq FROM keys WHERE public_key=?1")                       \
    X(STMT_KEY_COUNT, "SELECT count(*),count(*)-count(removed_seq) FROM keys")                     \
    X(STMT_KEYS_LIST, "SELECT public_key,name,role,added_seq,coalesce(removed_seq,0) FROM keys "   \
                      "ORDER BY added_seq,public_key LIMIT ?1")                                    \
    X(STMT_NODE_INSERT, "INSERT INTO nodes(id,public_key,zone,address_peer,address_client,"        \
                        "address_admin,state,added_seq,state_seq,updated_seq) "                    \
                        "VALUES(?1,?2,?3,?4,?5,?6,'active',?7,?7,?7)")                             \
    X(STMT_NODE_GET, "SELECT public_key,zone,address_peer,address_client,address_admin,state "     \
                     "FROM nodes WHERE id=?1")                                                     \
    X(STMT_NODE_UPDATE, "UPDATE nodes SET zone=?2,address_peer=?3,address_client=?4,"              \
                        "address_admin=?5,updated_seq=?6 WHERE id=?1")                             \
    X(STMT_NODE_STATE, "UPDATE nodes SET state=?2,state_seq=?3,updated_seq=?3 WHERE id=?1")        \
    X(STMT_NODES_ALL, "SELECT n.id,n.public_key,n.zone,n.address_peer,n.address_client,"           \
                      "n.address_admin,n.state,s.heartbeat_ms FROM nodes n "                       \
                      "LEFT JOIN node_status s ON s.node_id=n.id ORDER BY n.id")                   \
    X(STMT_STATUS_UPSERT, "INSERT INTO node_status(node_id,heartbeat_ms,status) VALUES(?1,?2,?3) " \
                          "ON CONFLICT(node_id) DO UPDATE SET heartbeat_ms=excluded.heartbeat_ms," \
                          "status=excluded.status")                                                \
    X(STMT_STATUS_GET, "SELECT heartbeat_ms,status FROM node_status WHERE node_id=?1")             \
    X(STMT_GROUP_COUNT, "SELECT count(*) FROM groups")                                             \
    X(STMT_GROUP_INSERT, "INSERT INTO groups(id,epoch,primary_node,created_seq,updated_seq) "      \
                         "VALUES(?1,0,?2,?3,?3)")                                                  \
    X(STMT_GROUP_GET, "SELECT epoch,coalesce(primary_node,0) FROM groups WHERE id=?1")             \
    X(STMT_GROUP_SET, "UPDATE groups SET epoch=?2,primary_node=nullif(?3,0),updated_seq=?4 "       \
                      "WHERE id=?1")                                                               \
    X(STMT_GROUPS_ALL, "SELECT id,epoch,coalesce(primary_node,0) FROM groups ORDER BY id")         \
    X(STMT_MEMBER_INSERT, "INSERT INTO group_members(group_id,slot,node_id,added_seq) "            \
                          "VALUES(?1,?2,?3,?4)")                                                   \
    X(STMT_MEMBER_REPLACE, "UPDATE group_members SET node_id=?3,added_seq=?4 "                     \
                           "WHERE group_id=?1 AND node_id=?2")                                     \
    X(STMT_MEMBER_IS, "SELECT 1 FROM group_members WHERE group_id=?1 AND node_id=?2")              \
    X(STMT_MEMBERS_ALL, "SELECT group_id,slot,node_id FROM group_members ORDER BY group_id,slot")  \
    X(STMT_CHANGE_INSERT, "INSERT INTO group_changes(group_id,job_id,step,kind,from_node,"         \
                          "to_node,started_seq) VALUES(?1,?2,?3,?4,?5,?6,?7)")                     \
    X(STMT_CHANGE_DELETE, "DELETE FROM group_changes WHERE group_id=?1 AND job_id=?2 AND step=?3") \
    X(STMT_CHANGE_LEARNER, "UPDATE group_changes SET learner_id=?4 "                               \
                           "WHERE group_id=?1 AND job_id=?2 AND step=?3")                          \
    X(STMT_CHANGES_ALL, "SELECT group_id,job_id,step,kind,from_node,to_node,learner_id "           \
                        "FROM group_changes "                                                      \
                        "ORDER BY group_id")                                                       \
    X(STMT_SLOT_UPSERT, "INSERT INTO slots(slot,group_id,assigned_seq) VALUES(?1,?2,?3) "          \
                        "ON CONFLICT(slot) DO UPDATE SET group_id=excluded.group_id,"              \
                        "assigned_seq=excluded.assigned_seq WHERE group_id!=excluded.group_id")    \
    X(STMT_SLOTS_ALL, "SELECT slot,group_id FROM slots ORDER BY slot")                             \
    X(STMT_TOPOLOGY_LATEST, "SELECT version,hash,body,signature FROM topology "                    \
                            "ORDER BY version DESC LIMIT 1")                                       \
    X(STMT_TOPOLOGY_INSERT, "INSERT INTO topology(version,hash,body,signature,seq) "               \
                            "VALUES(?1,?2,?3,?4,?5)")                                              \
    X(STMT_JOB_INSERT, "INSERT INTO jobs(id,kind,node_id,topology_hash,state,created_seq,"         \
                       "updated_seq) VALUES(?1,?2,nullif(?3,0),?4,'running',?5,?5)")               \
    X(STMT_JOB_STATE, "SELECT state FROM jobs WHERE id=?1")                                        \
    X(STMT_JOB_SET, "UPDATE jobs SET state=?2,reason=?3,updated_seq=?4 WHERE id=?1")               \
    X(STMT_JOB_TOUCH, "UPDATE jobs SET updated_seq=?2 WHERE id=?1")                                \
    X(STMT_JOBS_LIST, "SELECT j.id,j.kind,coalesce(j.node_id,0),j.topology_hash,j.state,j.reason," \
                      "j.created_seq,j.updated_seq,"                                               \
                      "(SELECT count(*) FROM job_moves m WHERE m.job_id=j.id),"                    \
                      "(SELECT count(*) FROM job_moves m WHERE m.job_id=j.id AND m.state='done') " \
                      "FROM jobs j WHERE j.id<?1 AND (?2=0 OR j.state='running') "                 \
                      "ORDER BY j.id DESC LIMIT ?3")                                               \
    X(STMT_JOBS_RUNNING, "SELECT count(*) FROM jobs WHERE state='running'")                        \
    X(STMT_MOVE_INSERT, "INSERT INTO job_moves(job_id,step,group_id,kind,from_node,to_node,"       \
                        "state,updated_seq) VALUES(?1,?2,?3,?4,?5,?6,'pending',?7)")               \
    X(STMT_MOVE_GET, "SELECT group_id,kind,from_node,to_node,state FROM job_moves "                \
                     "WHERE job_id=?1 AND step=?2")                                                \
    X(STMT_MOVE_SET, "UPDATE job_moves SET state=?3,progress=coalesce(?4,progress),updated_seq=?5 "\
                     "WHERE job_id=?1 AND step=?2")                                                \
    X(STMT_MOVES_RUNNING, "SELECT count(*) FROM job_moves WHERE job_id=?1 AND state='running'")    \
    X(STMT_MOVES_CANCEL, "UPDATE job_moves SET state='cancelled',updated_seq=?2 "                  \
                         "WHERE job_id=?1 AND state='pending'")                                    \
    X(STMT_MOVES_LIST, "SELECT job_id,step,group_id,kind,from_node,to_node,state,progress "        \
                       "FROM job_moves WHERE job_id=?1 ORDER BY step LIMIT ?2")                    \
    X(STMT_REJECTED_INSERT, "INSERT INTO rejected(time_ms,remote,actor,action,reason) "            \
                            "VALUES(?1,?2,?3,?4,?5)")                                              \
    X(STMT_REJECTED_TRIM, "DELETE FROM rejected WHERE id<=?1")                                     \
    X(STMT_REJECTED_LIST, "SELECT id,time_ms,remote,actor,action,reason FROM rejected "            \
                          "WHERE id<?1 ORDER BY id DESC LIMIT ?2")                                 \
    X(STMT_REJECTED_COUNT, "SELECT count(*) FROM rejected")

enum store_stmt {
#define STORE_STMT_ENUM(name, sql) name,
    STORE_STMT_TABLE(STORE_STMT_ENUM)
#undef STORE_STMT_ENUM
        STMT_COUNT
};

struct ctl_store {
    sqlite3 *db;
    sqlite3_stmt *stmts[STMT_COUNT];
    struct ctl_store_options options;
    int bind_rc;  // the first bind failure since the last step, returned by that step
    bool broken;  // a ROLLBACK failed: the connection's state is unknown, refuse everything
    char error[CTL_STORE_ERROR_SIZE];
    struct ctl_model model;                 // scratch: topology refresh, status, renderers
    char body[CTL_STORE_TOPOLOGY_SIZE_MAX]; // scratch: topology body
};

// ------------------------------------------------------------------------------------------------
// store_sql.c: statements, errors, transactions.

// Sets store->error from a format and returns code (a negative TC_E*).
int store_fail(struct ctl_store *store, int code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
// Maps a SQLite result code to TC_E*, naming `what` and SQLite's message in store->error.
int store_sqlite_fail(struct ctl_store *store, int sqlite_rc, const char *what);
int store_map_sqlite(int sqlite_rc);

// Binding: the first failure is kept in store->bind_rc and returned by the next step/exec.
void store_bind_i64(struct ctl_store *store, enum store_stmt id, int index, int64_t value);
void store_bind_u64(struct ctl_store *store, enum store_stmt id, int index, uint64_t value);
void store_bind_text(struct ctl_store *store, enum store_stmt id, int index, const char *text);

// Steps a statement that returns no rows and resets it: 0 or TC_E*.
int store_exec(struct ctl_store *store, enum store_stmt id);
// Steps once: 1 with a row (the caller reads it, then steps again or resets), 0 when done (reset),
// or TC_E* (reset).
int store_step(struct ctl_store *store, enum store_stmt id);
void store_reset(struct ctl_store *store, enum store_stmt id);
sqlite3_stmt *store_stmt(struct ctl_store *store, enum store_stmt id);
// Steps a statement that yields exactly one row of one integer and resets it.
int store_query_i64(struct ctl_store *store, enum store_stmt id, int64_t *value);

// Column reads of the current row. Text is copied with its NUL; TC_ECORRUPT if it does not fit
// or is NULL where text is required, TC_ENOMEM if SQLite could not produce it.
int store_column_text(struct ctl_store *store, enum store_stmt id, int column, char *out,
                      size_t capacity);
uint64_t store_column_u64(struct ctl_store *store, enum store_stmt id, int column);

int store_begin(struct ctl_store *store);
// A read snapshot: begins a deferred transaction unless one is open (*started says which);
// store_read_end commits it (reads only: nothing to lose) and returns rc or the commit's error.
int store_read_begin(struct ctl_store *store, bool *started);
int store_read_end(struct ctl_store *store, bool started, int rc);
int store_commit(struct ctl_store *store);
// Rolls back an open transaction (if SQLite has not already). Marks the store broken on failure.
void store_rollback(struct ctl_store *store);

// Runs `body` with synchronous=NORMAL in one transaction (observations: heartbeats, rejected).
int store_observe_begin(struct ctl_store *store);
int store_observe_end(struct ctl_store *store, int rc);

int store_prepare_all(struct ctl_store *store);
void store_finalize_all(struct ctl_store *store);

// store_schema.c: the script taking user_version from_version to from_version + 1.
const char *store_migration(uint32_t from_version);

// ------------------------------------------------------------------------------------------------
// store_text.c: validation and names.

// 1..size_max-1 bytes of 0x21..0x7e except '"' and '\\' (min_size may be 0 for "").
bool store_text_plain(const char *text, uint32_t min_size, uint32_t size_max);
// Exactly 64 lowercase hex digits (also checks the key is a valid Ed25519 point if key is true).
bool store_hex64(const char *text, bool key);
bool store_hex128(const char *text);
// A decimal u64 in 1..2^64-1 without leading zeros (replica ids).
bool store_decimal_u64(const char *text, uint64_t *value);
// Adds "members": [a, b, c] (the group's nodes by slot) to a JSON object; false when out of memory.
struct cJSON;
bool store_json_members(struct cJSON *item, const struct ctl_group *group);
int store_role_parse(const char *text, enum ctl_store_role *role);
int store_node_state_parse(const char *text, enum ctl_node_state *state);
int store_job_kind_parse(const char *text, enum ctl_store_job_kind *kind);
int store_job_state_parse(const char *text, enum ctl_store_job_state *state);
int store_move_state_parse(const char *text, enum ctl_store_move_state *state);
int store_change_kind_parse(const char *text, enum ctl_change_kind *kind);
const char *store_change_kind_name(enum ctl_change_kind kind);
const char *store_job_kind_name(enum ctl_store_job_kind kind);

// ------------------------------------------------------------------------------------------------
// store_apply*.c: one applying action.

struct store_apply {
    struct ctl_store *store;
    const struct ctl_store_action *action;
    const struct cJSON *args;
    const struct cJSON *result; // an ok result object ({"status":"ok",...}) or NULL for "ok"
    int64_t seq;
};

// Argument access. An effect's parameters are the members of args and of an ok result object
// (what the controller decided: members, slots, job id, moves), which never share a key (checked
// before the effects). Every failure names the action and field in store->error, TC_EINVAL.
const struct cJSON *args_member(struct store_apply *apply, const char *name);
int args_u64(struct store_apply *apply, const char *name, uint64_t min, uint64_t max,
             uint64_t *out);
int args_u64_opt(struct store_apply *apply, const char *name, uint64_t min, uint64_t max,
                 uint64_t *out, bool *present);
// Text fields point into the args tree (valid during the apply).
int args_text(struct store_apply *apply, const char *name, const char **out);
int args_text_opt(struct store_apply *apply, const char *name, const char **out, bool *present);
int args_plain(struct store_apply *apply, const char *name, uint32_t min_size, uint32_t size_max,
               const char **out);
int args_key(struct store_apply *apply, const char *name, const char **out);
// An array member (NULL if absent); TC_EINVAL if present and not an array.
int args_array_opt(struct store_apply *apply, const char *name, const struct cJSON **out);
// An integer element or member within [min, max].
int args_item_u64(struct store_apply *apply, const struct cJSON *item, const char *what,
                  uint64_t min, uint64_t max, uint64_t *out);
int args_fail(struct store_apply *apply, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

int apply_bootstrap(struct store_apply *apply);
int apply_node_add(struct store_apply *apply);
int apply_node_update(struct store_apply *apply);
int apply_node_cordon(struct store_apply *apply);
int apply_node_uncordon(struct store_apply *apply);
int apply_node_state(struct store_apply *apply);
int apply_key_add(struct store_apply *apply);
int apply_key_remove(struct store_apply *apply);
int apply_group_create(struct store_apply *apply);
int apply_slots_assign(struct store_apply *apply);
int apply_job_start(struct store_apply *apply);
int apply_job_step(struct store_apply *apply);
int apply_job_finish(struct store_apply *apply);
int apply_job_cancel(struct store_apply *apply);

// Writes slot rows from a [[first,last,group],...] array.
int apply_slot_ranges(struct store_apply *apply, const struct cJSON *ranges);

// ------------------------------------------------------------------------------------------------
// store_model.c, store_topology.c

// ctl_store_model_load inside the caller's transaction (or snapshot).
int store_model_load(struct ctl_store *store, struct ctl_model *model, uint64_t now_ms,
                     uint64_t liveness_ms);

// After an action's effects: if the topology body changed, writes version + 1 (signed) at seq.
int store_topology_refresh(struct ctl_store *store, int64_t seq);
// The cluster row's name and slots; TC_ENOENT before format/bootstrap.
int store_cluster_get(struct ctl_store *store, char *name, size_t name_capacity, char *key,
                      uint32_t *slots);

#endif
