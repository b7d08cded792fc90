// Reads (keys, jobs, moves, status) and the observations that are not chained (heartbeats,
// rejected requests).
#include <cjson/cJSON.h>
#include <string.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_audit.h"
#include "tc_err.h"

int ctl_store_key_role(struct ctl_store *store, const char *key_hex, enum ctl_store_role *role) {
    tc_assert(store != NULL && role != NULL);
    if (!store_hex64(key_hex, false)) return store_fail(store, TC_EINVAL, "key: not 64 hex");
    store_bind_text(store, STMT_KEY_GET, 1, key_hex);
    int rc = store_step(store, STMT_KEY_GET);
    if (rc == 0) return store_fail(store, TC_ENOENT, "unknown key");
    if (rc < 0) return rc;
    char text[16];
    const bool removed = sqlite3_column_type(store_stmt(store, STMT_KEY_GET), 1) != SQLITE_NULL;
    rc = store_column_text(store, STMT_KEY_GET, 0, text, sizeof(text));
    store_reset(store, STMT_KEY_GET);
    if (rc != 0) return rc;
    if (removed) return store_fail(store, TC_ENOENT, "removed key");
    if (store_role_parse(text, role) != 0) return store_fail(store, TC_ECORRUPT, "role %s", text);
    return 0;
}

int ctl_store_keys_list(struct ctl_store *store, struct ctl_store_key *keys, uint32_t capacity,
                        uint32_t *count) {
    tc_assert(store != NULL && count != NULL);
    tc_assert(keys != NULL || capacity == 0);
    *count = 0;
    const enum store_stmt id = STMT_KEYS_LIST;
    store_bind_u64(store, id, 1, (uint64_t)capacity + 1);
    int rc = 0;
    while ((rc = store_step(store, id)) == 1) {
        if (*count == capacity) {
            rc = store_fail(store, TC_ENOSPC, "more than %u keys", capacity);
            break;
        }
        struct ctl_store_key *key = &keys[*count];
        char role[16];
        rc = store_column_text(store, id, 0, key->public_key, sizeof(key->public_key));
        if (rc == 0) rc = store_column_text(store, id, 1, key->name, sizeof(key->name));
        if (rc == 0) rc = store_column_text(store, id, 2, role, sizeof(role));
        if (rc == 0 && store_role_parse(role, &key->role) != 0) {
            rc = store_fail(store, TC_ECORRUPT, "role %s", role);
        }
        if (rc != 0) break;
        key->added_seq = store_column_u64(store, id, 3);
        key->removed_seq = store_column_u64(store, id, 4);
        (*count)++;
    }
    if (rc != 0) store_reset(store, id);
    return rc < 0 ? rc : 0;
}

static int job_row(struct ctl_store *store, struct ctl_store_job *job) {
    const enum store_stmt id = STMT_JOBS_LIST;
    memset(job, 0, sizeof(*job));
    char kind[16];
    char state[16];
    job->id = store_column_u64(store, id, 0);
    int rc = store_column_text(store, id, 1, kind, sizeof(kind));
    if (rc == 0 && store_job_kind_parse(kind, &job->kind) != 0) {
        rc = store_fail(store, TC_ECORRUPT, "job kind %s", kind);
    }
    const uint64_t node = store_column_u64(store, id, 2);
    tc_assert(node <= CTL_NODES_MAX); // REFERENCES nodes(id)
    job->node_id = (uint16_t)node;
    if (rc == 0) {
        rc = store_column_text(store, id, 3, job->topology_hash, sizeof(job->topology_hash));
    }
    if (rc == 0) rc = store_column_text(store, id, 4, state, sizeof(state));
    if (rc == 0 && store_job_state_parse(state, &job->state) != 0) {
        rc = store_fail(store, TC_ECORRUPT, "job state %s", state);
    }
    if (rc == 0) rc = store_column_text(store, id, 5, job->reason, sizeof(job->reason));
    job->created_seq = store_column_u64(store, id, 6);
    job->updated_seq = store_column_u64(store, id, 7);
    job->move_count = (uint32_t)store_column_u64(store, id, 8);
    job->moves_done = (uint32_t)store_column_u64(store, id, 9);
    return rc;
}

int ctl_store_jobs_list(struct ctl_store *store, bool running_only, uint64_t before_id,
                        struct ctl_store_job *jobs, uint32_t capacity, uint32_t *count) {
    tc_assert(store != NULL && count != NULL);
    tc_assert(jobs != NULL || capacity == 0);
    *count = 0;
    if (capacity == 0) return 0;
    const enum store_stmt id = STMT_JOBS_LIST;
    store_bind_u64(store, id, 1, before_id == 0 || before_id > INT64_MAX ? INT64_MAX : before_id);
    store_bind_u64(store, id, 2, running_only ? 1 : 0);
    store_bind_u64(store, id, 3, capacity);
    int rc = 0;
    while ((rc = store_step(store, id)) == 1) {
        tc_assert(*count < capacity); // LIMIT
        rc = job_row(store, &jobs[*count]);
        if (rc != 0) break;
        (*count)++;
    }
    if (rc != 0) store_reset(store, id);
    return rc < 0 ? rc : 0;
}

int ctl_store_job_get(struct ctl_store *store, uint64_t job_id, struct ctl_store_job *job) {
    tc_assert(store != NULL && job != NULL);
    if (job_id == 0 || job_id >= INT64_MAX) return store_fail(store, TC_ENOENT, "no job 0");
    uint32_t count = 0;
    const int rc = ctl_store_jobs_list(store, false, job_id + 1, job, 1, &count);
    if (rc != 0) return rc;
    if (count == 0 || job->id != job_id) {
        return store_fail(store, TC_ENOENT, "no job %llu", (unsigned long long)job_id);
    }
    return 0;
}

static int move_row(struct ctl_store *store, struct ctl_store_move *move) {
    const enum store_stmt id = STMT_MOVES_LIST;
    memset(move, 0, sizeof(*move));
    char kind[16];
    char state[16];
    move->job_id = store_column_u64(store, id, 0);
    move->step = (uint32_t)store_column_u64(store, id, 1);
    move->group_id = (uint32_t)store_column_u64(store, id, 2);
    move->from_node = (uint16_t)store_column_u64(store, id, 4);
    move->to_node = (uint16_t)store_column_u64(store, id, 5);
    int rc = store_column_text(store, id, 3, kind, sizeof(kind));
    if (rc == 0) rc = store_column_text(store, id, 6, state, sizeof(state));
    if (rc == 0) rc = store_column_text(store, id, 7, move->progress, sizeof(move->progress));
    if (rc == 0 && (store_change_kind_parse(kind, &move->kind) != 0 ||
                    store_move_state_parse(state, &move->state) != 0)) {
        rc = store_fail(store, TC_ECORRUPT, "move kind %s state %s", kind, state);
    }
    return rc;
}

int ctl_store_job_moves(struct ctl_store *store, uint64_t job_id, struct ctl_store_move *moves,
                        uint32_t capacity, uint32_t *count) {
    tc_assert(store != NULL && count != NULL);
    tc_assert(moves != NULL || capacity == 0);
    *count = 0;
    struct ctl_store_job job;
    int rc = ctl_store_job_get(store, job_id, &job);
    if (rc != 0) return rc;
    const enum store_stmt id = STMT_MOVES_LIST;
    store_bind_u64(store, id, 1, job_id);
    store_bind_u64(store, id, 2, (uint64_t)capacity + 1);
    while ((rc = store_step(store, id)) == 1) {
        if (*count == capacity) {
            rc = store_fail(store, TC_ENOSPC, "job %llu has more than %u moves",
                            (unsigned long long)job_id, capacity);
            break;
        }
        rc = move_row(store, &moves[*count]);
        if (rc != 0) break;
        (*count)++;
    }
    if (rc != 0) store_reset(store, id);
    return rc < 0 ? rc : 0;
}
