// Effects of job.start, job.step, job.finish and job.cancel (docs/controller.md §7).
//
//   job.start {"job"?,"kind","node"?,"topology_hash","moves":[{"step","group","kind","from",
//       "to"},...]}  a running job (id: "job", or the entry's seq when absent) and its moves,
//       pending. C5 (the hash is current) is the controller's check before chaining.
//   job.step {"job","step","state","progress"?,"group_epoch"?,"members"?,"primary"?}
//       a move's state: pending -> running -> done|failed|cancelled (pending may also go straight
//       to any of the last three; running -> running only updates progress). Going running
//       declares the change on its group (group_changes, C7: a second change on the group is
//       TC_EINVAL); leaving running withdraws it. On done: a replace puts `to` in `from`'s member
//       slot (and forgets the primary if it was `from`); a move_primary makes `to` the primary;
//       "primary" overrides either, "group_epoch" sets the epoch (never lower), "members", if
//       given, must be the resulting member set.
//   job.finish {"job","state":"succeeded"|"failed"|"cancelled","reason"?}  a running job without
//       a running move; its pending moves become cancelled
//   job.cancel {"job","reason"?}  a running job becomes cancelled and its pending moves too; a
//       running move keeps running until a job.step resolves it. Not running: ok, unchanged.
#include <cjson/cJSON.h>
#include <string.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_audit.h"
#include "tc_err.h"

#define GROUP_ID_MAX 65535u
#define STEP_MAX UINT32_MAX

struct move_row {
    uint64_t group;
    enum ctl_change_kind kind;
    uint64_t from;
    uint64_t to;
    enum ctl_store_move_state state;
};

static int move_insert(struct store_apply *apply, uint64_t job, const cJSON *move) {
    struct ctl_store *store = apply->store;
    if (!cJSON_IsObject(move)) return args_fail(apply, "a move must be an object");
    uint64_t step = 0;
    uint64_t group = 0;
    uint64_t from = 0;
    uint64_t to = 0;
    const cJSON *kind = cJSON_GetObjectItemCaseSensitive(move, "kind");
    int rc = args_item_u64(apply, cJSON_GetObjectItemCaseSensitive(move, "step"), "move step", 1,
                           STEP_MAX, &step);
    if (rc == 0) {
        rc = args_item_u64(apply, cJSON_GetObjectItemCaseSensitive(move, "group"), "move group",
                           1, GROUP_ID_MAX, &group);
    }
    if (rc == 0) {
        rc = args_item_u64(apply, cJSON_GetObjectItemCaseSensitive(move, "from"), "move from", 1,
                           CTL_NODES_MAX, &from);
    }
    if (rc == 0) {
        rc = args_item_u64(apply, cJSON_GetObjectItemCaseSensitive(move, "to"), "move to", 1,
                           CTL_NODES_MAX, &to);
    }
    if (rc == 0 && !cJSON_IsString(kind)) rc = args_fail(apply, "move kind must be a string");
    if (rc != 0) return rc;
    store_bind_u64(store, STMT_MOVE_INSERT, 1, job);
    store_bind_u64(store, STMT_MOVE_INSERT, 2, step);
    store_bind_u64(store, STMT_MOVE_INSERT, 3, group);
    store_bind_text(store, STMT_MOVE_INSERT, 4, kind->valuestring); // CHECKed by the schema
    store_bind_u64(store, STMT_MOVE_INSERT, 5, from);
    store_bind_u64(store, STMT_MOVE_INSERT, 6, to);
    store_bind_i64(store, STMT_MOVE_INSERT, 7, apply->seq);
    return store_exec(store, STMT_MOVE_INSERT);
}

int apply_job_start(struct store_apply *apply) {
    struct ctl_store *store = apply->store;
    uint64_t job = (uint64_t)apply->seq;
    uint64_t node = 0;
    bool present = false;
    const char *kind = NULL;
    const char *hash = NULL;
    const cJSON *moves = NULL;
    int rc = args_u64_opt(apply, "job", 1, TC_AUDIT_SEQ_MAX, &job, &present);
    if (rc == 0) rc = args_text(apply, "kind", &kind);
    if (rc == 0) rc = args_u64_opt(apply, "node", 1, CTL_NODES_MAX, &node, &present);
    if (rc == 0) rc = args_text(apply, "topology_hash", &hash);
    if (rc == 0 && !store_hex64(hash, false)) rc = args_fail(apply, "bad topology_hash");
    if (rc == 0) rc = args_array_opt(apply, "moves", &moves);
    if (rc == 0 && moves != NULL && cJSON_GetArraySize(moves) > (int)CTL_STORE_JOB_MOVES_MAX) {
        rc = args_fail(apply, "more than %u moves", CTL_STORE_JOB_MOVES_MAX);
    }
    if (rc != 0) return rc;
    store_bind_u64(store, STMT_JOB_INSERT, 1, job);
    store_bind_text(store, STMT_JOB_INSERT, 2, kind); // CHECKed by the schema
    store_bind_u64(store, STMT_JOB_INSERT, 3, node);
    store_bind_text(store, STMT_JOB_INSERT, 4, hash);
    store_bind_i64(store, STMT_JOB_INSERT, 5, apply->seq);
    rc = store_exec(store, STMT_JOB_INSERT);
    const cJSON *move = moves == NULL ? NULL : moves->child;
    for (; move != NULL && rc == 0; move = move->next) rc = move_insert(apply, job, move);
    return rc;
}

static int move_get(struct store_apply *apply, uint64_t job, uint64_t step, struct move_row *row) {
    struct ctl_store *store = apply->store;
    store_bind_u64(store, STMT_MOVE_GET, 1, job);
    store_bind_u64(store, STMT_MOVE_GET, 2, step);
    int rc = store_step(store, STMT_MOVE_GET);
    if (rc == 0) {
        return args_fail(apply, "no step %llu in job %llu", (unsigned long long)step,
                         (unsigned long long)job);
    }
    if (rc < 0) return rc;
    char kind[16];
    char state[16];
    row->group = store_column_u64(store, STMT_MOVE_GET, 0);
    row->from = store_column_u64(store, STMT_MOVE_GET, 2);
    row->to = store_column_u64(store, STMT_MOVE_GET, 3);
    rc = store_column_text(store, STMT_MOVE_GET, 1, kind, sizeof(kind));
    if (rc == 0) rc = store_column_text(store, STMT_MOVE_GET, 4, state, sizeof(state));
    store_reset(store, STMT_MOVE_GET);
    if (rc == 0 && (store_change_kind_parse(kind, &row->kind) != 0 ||
                    store_move_state_parse(state, &row->state) != 0)) {
        rc = store_fail(store, TC_ECORRUPT, "job_moves row with kind %s state %s", kind, state);
    }
    return rc;
}

static bool move_state_terminal(enum ctl_store_move_state state) {
    return state == CTL_STORE_MOVE_DONE || state == CTL_STORE_MOVE_FAILED ||
           state == CTL_STORE_MOVE_CANCELLED;
}

static int member_check(struct store_apply *apply, uint64_t group, uint64_t node) {
    struct ctl_store *store = apply->store;
    store_bind_u64(store, STMT_MEMBER_IS, 1, group);
    store_bind_u64(store, STMT_MEMBER_IS, 2, node);
    const int rc = store_step(store, STMT_MEMBER_IS);
    if (rc < 0) return rc;
    if (rc == 0) {
        return args_fail(apply, "node %llu is not a member of group %llu",
                         (unsigned long long)node, (unsigned long long)group);
    }
    store_reset(store, STMT_MEMBER_IS);
    return 0;
}

// "members", if given, must be the group's member set (in any order).
static int members_check(struct store_apply *apply, uint64_t group) {
    const cJSON *array = NULL;
    int rc = args_array_opt(apply, "members", &array);
    if (rc != 0 || array == NULL) return rc;
    if (cJSON_GetArraySize(array) != (int)CTL_REPLICAS) {
        return args_fail(apply, "members must list %u node ids", CTL_REPLICAS);
    }
    uint64_t seen[CTL_REPLICAS] = {0};
    uint32_t count = 0;
    for (const cJSON *item = array->child; item != NULL && rc == 0; item = item->next) {
        uint64_t node = 0;
        rc = args_item_u64(apply, item, "a member", 1, CTL_NODES_MAX, &node);
        for (uint32_t i = 0; i < count && rc == 0; i++) {
            if (seen[i] == node) rc = args_fail(apply, "members lists node %llu twice",
                                                (unsigned long long)node);
        }
        if (rc == 0) rc = member_check(apply, group, node);
        tc_assert(rc != 0 || count < CTL_REPLICAS);
        if (rc == 0) seen[count++] = node;
    }
    return rc;
}

// The group's epoch and primary after a done move (and the member swap of a replace).
static int move_done(struct store_apply *apply, const struct move_row *move) {
    struct ctl_store *store = apply->store;
    int rc = 0;
    if (move->kind == CTL_CHANGE_REPLACE) {
        store_bind_u64(store, STMT_MEMBER_REPLACE, 1, move->group);
        store_bind_u64(store, STMT_MEMBER_REPLACE, 2, move->from);
        store_bind_u64(store, STMT_MEMBER_REPLACE, 3, move->to);
        store_bind_i64(store, STMT_MEMBER_REPLACE, 4, apply->seq);
        rc = store_exec(store, STMT_MEMBER_REPLACE);
        if (rc == 0 && sqlite3_changes(store->db) != 1) rc = member_check(apply, move->group,
                                                                           move->from);
        tc_assert(rc != 0 || sqlite3_changes(store->db) == 1);
    }
    if (rc != 0) return rc;
    store_bind_u64(store, STMT_GROUP_GET, 1, move->group);
    rc = store_step(store, STMT_GROUP_GET);
    if (rc == 0) rc = store_fail(store, TC_ECORRUPT, "move of missing group");
    if (rc < 0) return rc;
    uint64_t epoch = store_column_u64(store, STMT_GROUP_GET, 0);
    uint64_t primary = store_column_u64(store, STMT_GROUP_GET, 1);
    store_reset(store, STMT_GROUP_GET);
    const uint64_t epoch_stored = epoch;
    if (move->kind == CTL_CHANGE_MOVE_PRIMARY) primary = move->to;
    if (move->kind == CTL_CHANGE_REPLACE && primary == move->from) primary = 0;
    bool present = false;
    rc = args_u64_opt(apply, "primary", 1, CTL_NODES_MAX, &primary, &present);
    if (rc == 0) rc = args_u64_opt(apply, "group_epoch", epoch, TC_AUDIT_SEQ_MAX, &epoch, &present);
    if (rc == 0 && primary != 0) rc = member_check(apply, move->group, primary);
    if (rc == 0) rc = members_check(apply, move->group);
    if (rc != 0) return rc;
    tc_assert(epoch >= epoch_stored);
    store_bind_u64(store, STMT_GROUP_SET, 1, move->group);
    store_bind_u64(store, STMT_GROUP_SET, 2, epoch);
    store_bind_u64(store, STMT_GROUP_SET, 3, primary);
    store_bind_i64(store, STMT_GROUP_SET, 4, apply->seq);
    return store_exec(store, STMT_GROUP_SET);
}

// Declares (going running) or withdraws (leaving running) the move's change on its group.
static int move_change(struct store_apply *apply, uint64_t job, uint64_t step,
                       const struct move_row *move, enum ctl_store_move_state state) {
    struct ctl_store *store = apply->store;
    if (move->state != CTL_STORE_MOVE_RUNNING && state == CTL_STORE_MOVE_RUNNING) {
        store_bind_u64(store, STMT_CHANGE_INSERT, 1, move->group);
        store_bind_u64(store, STMT_CHANGE_INSERT, 2, job);
        store_bind_u64(store, STMT_CHANGE_INSERT, 3, step);
        store_bind_text(store, STMT_CHANGE_INSERT, 4, store_change_kind_name(move->kind));
        store_bind_u64(store, STMT_CHANGE_INSERT, 5, move->from);
        store_bind_u64(store, STMT_CHANGE_INSERT, 6, move->to);
        store_bind_i64(store, STMT_CHANGE_INSERT, 7, apply->seq);
        return store_exec(store, STMT_CHANGE_INSERT); // C7: the primary key refuses a second
    }
    if (move->state == CTL_STORE_MOVE_RUNNING && state != CTL_STORE_MOVE_RUNNING) {
        store_bind_u64(store, STMT_CHANGE_DELETE, 1, move->group);
        store_bind_u64(store, STMT_CHANGE_DELETE, 2, job);
        store_bind_u64(store, STMT_CHANGE_DELETE, 3, step);
        const int rc = store_exec(store, STMT_CHANGE_DELETE);
        if (rc == 0 && sqlite3_changes(store->db) != 1) {
            return store_fail(store, TC_ECORRUPT, "running step without its group change");
        }
        return rc;
    }
    return 0;
}

// A replace step's learner (phase 3 of docs/controller.md §7): set once, on a step that is (or
// becomes) running; the topology's change carries it from then on.
static int move_learner(struct store_apply *apply, uint64_t job, uint64_t step,
                        const struct move_row *move, enum ctl_store_move_state state,
                        const char *learner) {
    struct ctl_store *store = apply->store;
    uint64_t id = 0;
    if (move->kind != CTL_CHANGE_REPLACE || state != CTL_STORE_MOVE_RUNNING) {
        return args_fail(apply, "learner_id only on a running replace step");
    }
    if (!store_decimal_u64(learner, &id)) return args_fail(apply, "learner_id: a decimal replica id");
    store_bind_u64(store, STMT_CHANGE_LEARNER, 1, move->group);
    store_bind_u64(store, STMT_CHANGE_LEARNER, 2, job);
    store_bind_u64(store, STMT_CHANGE_LEARNER, 3, step);
    store_bind_text(store, STMT_CHANGE_LEARNER, 4, learner);
    const int rc = store_exec(store, STMT_CHANGE_LEARNER);
    if (rc == 0 && sqlite3_changes(store->db) != 1) {
        return store_fail(store, TC_ECORRUPT, "running step without its group change");
    }
    return rc;
}

static int move_transition(struct store_apply *apply, const struct move_row *move,
                           enum ctl_store_move_state state) {
    if (move_state_terminal(move->state)) {
        return args_fail(apply, "the step is %s already", ctl_store_move_state_name(move->state));
    }
    if (state == CTL_STORE_MOVE_PENDING) return args_fail(apply, "a step cannot become pending");
    return 0;
}

int apply_job_step(struct store_apply *apply) {
    struct ctl_store *store = apply->store;
    uint64_t job = 0;
    uint64_t step = 0;
    const char *state_text = NULL;
    const char *progress = NULL;
    bool present = false;
    enum ctl_store_move_state state = CTL_STORE_MOVE_PENDING;
    struct move_row move = {0};
    int rc = args_u64(apply, "job", 1, TC_AUDIT_SEQ_MAX, &job);
    if (rc == 0) rc = args_u64(apply, "step", 1, STEP_MAX, &step);
    if (rc == 0) rc = args_text(apply, "state", &state_text);
    if (rc == 0 && store_move_state_parse(state_text, &state) != 0) {
        rc = args_fail(apply, "bad step state %s", state_text);
    }
    if (rc == 0) rc = args_text_opt(apply, "progress", &progress, &present);
    if (rc == 0 && present && strlen(progress) >= CTL_STORE_TEXT_SIZE_MAX) {
        rc = args_fail(apply, "progress longer than %u bytes", CTL_STORE_TEXT_SIZE_MAX - 1);
    }
    const char *learner = NULL;
    bool learner_present = false;
    if (rc == 0) rc = args_text_opt(apply, "learner_id", &learner, &learner_present);
    if (rc == 0) rc = move_get(apply, job, step, &move);
    if (rc == 0) rc = move_transition(apply, &move, state);
    if (rc == 0) rc = move_change(apply, job, step, &move, state);
    if (rc == 0 && learner_present) rc = move_learner(apply, job, step, &move, state, learner);
    if (rc == 0 && state == CTL_STORE_MOVE_DONE) rc = move_done(apply, &move);
    if (rc != 0) return rc;
    store_bind_u64(store, STMT_MOVE_SET, 1, job);
    store_bind_u64(store, STMT_MOVE_SET, 2, step);
    store_bind_text(store, STMT_MOVE_SET, 3, state_text);
    store_bind_text(store, STMT_MOVE_SET, 4, progress); // NULL keeps the progress
    store_bind_i64(store, STMT_MOVE_SET, 5, apply->seq);
    rc = store_exec(store, STMT_MOVE_SET);
    if (rc != 0) return rc;
    store_bind_u64(store, STMT_JOB_TOUCH, 1, job);
    store_bind_i64(store, STMT_JOB_TOUCH, 2, apply->seq);
    return store_exec(store, STMT_JOB_TOUCH);
}

static int job_state_get(struct store_apply *apply, uint64_t job,
                         enum ctl_store_job_state *state) {
    struct ctl_store *store = apply->store;
    store_bind_u64(store, STMT_JOB_STATE, 1, job);
    int rc = store_step(store, STMT_JOB_STATE);
    if (rc == 0) return args_fail(apply, "unknown job %llu", (unsigned long long)job);
    if (rc < 0) return rc;
    char text[16];
    rc = store_column_text(store, STMT_JOB_STATE, 0, text, sizeof(text));
    store_reset(store, STMT_JOB_STATE);
    if (rc == 0 && store_job_state_parse(text, state) != 0) {
        rc = store_fail(store, TC_ECORRUPT, "jobs row with state %s", text);
    }
    return rc;
}

// Ends a running job: pending moves become cancelled, the job takes state and reason.
static int job_end(struct store_apply *apply, uint64_t job, const char *state) {
    struct ctl_store *store = apply->store;
    const char *reason = "";
    bool present = false;
    int rc = args_text_opt(apply, "reason", &reason, &present);
    if (rc == 0 && present && strlen(reason) >= CTL_STORE_TEXT_SIZE_MAX) {
        rc = args_fail(apply, "reason longer than %u bytes", CTL_STORE_TEXT_SIZE_MAX - 1);
    }
    if (rc != 0) return rc;
    if (!present) reason = "";
    store_bind_u64(store, STMT_MOVES_CANCEL, 1, job);
    store_bind_i64(store, STMT_MOVES_CANCEL, 2, apply->seq);
    rc = store_exec(store, STMT_MOVES_CANCEL);
    if (rc != 0) return rc;
    store_bind_u64(store, STMT_JOB_SET, 1, job);
    store_bind_text(store, STMT_JOB_SET, 2, state);
    store_bind_text(store, STMT_JOB_SET, 3, reason);
    store_bind_i64(store, STMT_JOB_SET, 4, apply->seq);
    rc = store_exec(store, STMT_JOB_SET);
    tc_assert(rc != 0 || sqlite3_changes(store->db) == 1);
    return rc;
}

int apply_job_finish(struct store_apply *apply) {
    struct ctl_store *store = apply->store;
    uint64_t job = 0;
    const char *state_text = NULL;
    enum ctl_store_job_state state = CTL_STORE_JOB_RUNNING;
    enum ctl_store_job_state current = CTL_STORE_JOB_RUNNING;
    int rc = args_u64(apply, "job", 1, TC_AUDIT_SEQ_MAX, &job);
    if (rc == 0) rc = args_text(apply, "state", &state_text);
    if (rc == 0 && (store_job_state_parse(state_text, &state) != 0 ||
                    state == CTL_STORE_JOB_RUNNING)) {
        rc = args_fail(apply, "state must be succeeded, failed or cancelled");
    }
    if (rc == 0) rc = job_state_get(apply, job, &current);
    if (rc == 0 && current != CTL_STORE_JOB_RUNNING) {
        rc = args_fail(apply, "job %llu is %s already", (unsigned long long)job,
                       ctl_store_job_state_name(current));
    }
    if (rc != 0) return rc;
    int64_t running = 0;
    store_bind_u64(store, STMT_MOVES_RUNNING, 1, job);
    rc = store_query_i64(store, STMT_MOVES_RUNNING, &running);
    if (rc != 0) return rc;
    if (running != 0) {
        return args_fail(apply, "job %llu has a running step", (unsigned long long)job);
    }
    return job_end(apply, job, state_text);
}

int apply_job_cancel(struct store_apply *apply) {
    uint64_t job = 0;
    enum ctl_store_job_state current = CTL_STORE_JOB_RUNNING;
    int rc = args_u64(apply, "job", 1, TC_AUDIT_SEQ_MAX, &job);
    if (rc == 0) rc = job_state_get(apply, job, &current);
    if (rc != 0) return rc;
    if (current != CTL_STORE_JOB_RUNNING) return 0; // ok, unchanged
    return job_end(apply, job, "cancelled");
}
