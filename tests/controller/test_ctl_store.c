// Tests of the controller's SQLite store (controller/store, docs/controller.md §2–§5): migrations
// and reopening, every action's effects, refused and unknown actions, replays and gaps, schema
// constraints (nothing written on failure: the whole database is dumped before and after), the
// topology's versions and signatures, the model round trip, the rejected table's cap, the JSON
// renderers, replay determinism (C2) and a child process that dies mid-write (kill safety).
//
// Each test runs in a fresh directory under /tmp. Chain entries are built here (actor: the
// controller key; line hash: BLAKE2b-256 of seq, action, args and result); args are written in any
// key order and canonicalised by the audit library before they reach the store, as the chain does.
#include <errno.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <sodium.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "audit_internal.h"
#include "ctl_model.h"
#include "ctl_store.h"
#include "tc_assert.h"
#include "tc_checksum.h"
#include "tc_err.h"

#define TIME_TEXT "2026-12-02T18:00:00.000Z"
#define OK "\"ok\""
#define REFUSED "{\"reason\":\"no\",\"status\":\"refused\"}"
#define HASH_ZERO "0000000000000000000000000000000000000000000000000000000000000000"
#define NODE_KEYS 9u
#define JSON_SIZE (256u * 1024u)

struct fx {
    char dir[64];
    char path[128];
    struct ctl_store *store;
    struct tc_audit_secret_key controller;
    struct tc_audit_public_key controller_public;
    char controller_hex[CTL_KEY_HEX_SIZE];
    char admin_hex[CTL_KEY_HEX_SIZE];
    char operator_hex[CTL_KEY_HEX_SIZE];
    char node_hex[NODE_KEYS + 1][CTL_KEY_HEX_SIZE]; // index = node id
    uint64_t seq;         // the last applied seq
    uint32_t sign_calls;  // topology signatures made
    uint32_t crash_at_sign; // the child of the kill test _exits at this signature (0: never)
    struct ctl_model model;
    char json[JSON_SIZE];
};

static void key_make(uint8_t byte, struct tc_audit_secret_key *secret,
                     struct tc_audit_public_key *public_key, char *hex) {
    uint8_t seed[32];
    memset(seed, byte, sizeof(seed));
    tc_audit_keypair_from_seed(seed, secret, public_key);
    tc_audit_key_hex(public_key, hex);
}

// The signer given to the store: Ed25519 over the domain and the body, with sodium directly.
static int test_sign(void *context, const char *body, size_t body_size,
                     char signature_hex[CTL_STORE_SIGNATURE_HEX_SIZE]) {
    struct fx *fx = context;
    fx->sign_calls++;
    if (fx->crash_at_sign != 0 && fx->sign_calls == fx->crash_at_sign) _exit(42);
    const size_t domain = strlen(CTL_STORE_TOPOLOGY_DOMAIN);
    unsigned char *message = malloc(domain + body_size);
    if (message == NULL) return TC_ENOMEM;
    memcpy(message, CTL_STORE_TOPOLOGY_DOMAIN, domain);
    memcpy(message + domain, body, body_size);
    unsigned char signature[64];
    const int rc = crypto_sign_detached(signature, NULL, message, domain + body_size,
                                        fx->controller.bytes);
    free(message);
    if (rc != 0) return TC_EIO;
    tc_hex_encode(signature_hex, signature, sizeof(signature));
    return 0;
}

static int store_open(struct fx *fx) {
    const struct ctl_store_options options = {
        .sign_context = fx,
        .sign_topology = test_sign,
    };
    char error[CTL_STORE_ERROR_SIZE];
    const int rc = ctl_store_open(&fx->store, fx->path, &options, error, sizeof(error));
    if (rc != 0) print_message("open: %s\n", error);
    return rc;
}

static void store_reopen(struct fx *fx) {
    ctl_store_close(fx->store);
    fx->store = NULL;
    assert_int_equal(store_open(fx), 0);
}

static int setup(void **state) {
    struct fx *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    assert_int_equal(sodium_init() >= 0, 1);
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/test_ctl_store.XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    (void)snprintf(fx->path, sizeof(fx->path), "%s/controller.db", fx->dir);
    struct tc_audit_secret_key secret;
    struct tc_audit_public_key public_key;
    key_make(0x01, &fx->controller, &fx->controller_public, fx->controller_hex);
    key_make(0x02, &secret, &public_key, fx->admin_hex);
    key_make(0x03, &secret, &public_key, fx->operator_hex);
    for (uint8_t id = 1; id <= NODE_KEYS; id++) {
        key_make((uint8_t)(0x40 + id), &secret, &public_key, fx->node_hex[id]);
    }
    assert_int_equal(store_open(fx), 0);
    *state = fx;
    return 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state) {
    struct fx *fx = *state;
    ctl_store_close(fx->store);
    assert_int_equal(nftw(fx->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS), 0);
    free(fx);
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Entries.

static void line_hash(uint64_t seq, const char *action, const char *args, const char *result,
                      char hex[CTL_STORE_HASH_HEX_SIZE]) {
    char text[40000];
    const int size = snprintf(text, sizeof(text), "%llu|%s|%s|%s", (unsigned long long)seq,
                              action, args, result);
    assert_true(size > 0 && (size_t)size < sizeof(text));
    struct tc_hash256 hash;
    tc_hash256_compute(&hash, text, (uint64_t)size);
    tc_hex_encode(hex, hash.bytes, sizeof(hash.bytes));
}

static void canonical(const char *json, enum audit_json_kind kind, char *out, uint32_t capacity) {
    uint32_t size = 0;
    const char *detail = NULL;
    const int rc = audit_json_canonical_text(json, kind, out, capacity, &size, &detail);
    if (rc != 0) print_message("canonical %s: %s\n", json, detail);
    assert_int_equal(rc, 0);
}

// Applies an entry at `seq` (args and result canonicalised first); returns the store's answer.
static int apply_at(struct fx *fx, uint64_t seq, const char *actor, const char *action,
                    const char *args, const char *result) {
    static char args_canonical[TC_AUDIT_ARGS_SIZE_MAX + 1];
    static char result_canonical[TC_AUDIT_RESULT_SIZE_MAX + 1];
    canonical(args, AUDIT_JSON_OBJECT, args_canonical, sizeof(args_canonical));
    canonical(result, AUDIT_JSON_OBJECT_OR_STRING, result_canonical, sizeof(result_canonical));
    char hash[CTL_STORE_HASH_HEX_SIZE];
    line_hash(seq, action, args_canonical, result_canonical, hash);
    const struct ctl_store_action entry = {
        .seq = seq,
        .time = TIME_TEXT,
        .actor = actor,
        .action = action,
        .args = args_canonical,
        .result = result_canonical,
        .line_hash = hash,
    };
    return ctl_store_apply(fx->store, &entry);
}

// Applies the next entry by the controller; on success the fixture's seq moves on.
static int act(struct fx *fx, const char *action, const char *args, const char *result) {
    const int rc = apply_at(fx, fx->seq + 1, fx->controller_hex, action, args, result);
    if (rc == 0) fx->seq++;
    return rc;
}

static void act_ok(struct fx *fx, const char *action, const char *args) {
    const int rc = act(fx, action, args, OK);
    if (rc != 0) print_message("%s %s: %s\n", action, args, ctl_store_error(fx->store));
    assert_int_equal(rc, 0);
}

static int actf(struct fx *fx, const char *action, const char *result, const char *format, ...)
    __attribute__((format(printf, 4, 5)));

static int actf(struct fx *fx, const char *action, const char *result, const char *format, ...) {
    char args[8192];
    va_list ap;
    va_start(ap, format);
    const int size = vsnprintf(args, sizeof(args), format, ap);
    va_end(ap);
    assert_true(size > 0 && (size_t)size < sizeof(args));
    return act(fx, action, args, result);
}

static void bootstrap(struct fx *fx) {
    assert_int_equal(ctl_store_format(fx->store, "prod", fx->controller_hex, CTL_SLOTS), 0);
    assert_int_equal(actf(fx, "controller.bootstrap", OK,
                          "{\"cluster\":\"prod\",\"admin_key\":\"%s\",\"admin_name\":\"alice\","
                          "\"slots\":4096}",
                          fx->admin_hex),
                     0);
}

static int node_add(struct fx *fx, uint32_t id, const char *zone) {
    assert_true(id >= 1 && id <= NODE_KEYS);
    return actf(fx, "node.add", OK,
                "{\"node\":%u,\"public_key\":\"%s\",\"zone\":\"%s\","
                "\"address_peer\":\"10.0.0.%u:7101\",\"address_client\":\"10.0.0.%u:7001\","
                "\"address_admin\":\"10.0.0.%u:7201\"}",
                id, fx->node_hex[id], zone, id, id, id);
}

static void nodes_add(struct fx *fx, uint32_t count) {
    static const char *const zones[] = {"a", "b", "c"};
    for (uint32_t id = 1; id <= count; id++) {
        assert_int_equal(node_add(fx, id, zones[(id - 1) % 3]), 0);
    }
}

// ------------------------------------------------------------------------------------------------
// Looking at the database from a second connection.

struct text {
    char *data;
    size_t size;
    size_t capacity;
};

static void text_put(struct text *text, const char *part) {
    const size_t size = strlen(part);
    if (text->size + size + 1 > text->capacity) {
        text->capacity = (text->size + size + 1) * 2;
        text->data = realloc(text->data, text->capacity);
        assert_non_null(text->data);
    }
    memcpy(text->data + text->size, part, size + 1);
    text->size += size;
}

static bool table_skipped(const char *name, bool observations) {
    if (strcmp(name, "sqlite_sequence") == 0) return true;
    if (observations) return false;
    return strcmp(name, "node_status") == 0 || strcmp(name, "rejected") == 0;
}

static void table_dump(sqlite3 *db, const char *name, struct text *text) {
    char sql[128];
    (void)snprintf(sql, sizeof(sql), "SELECT * FROM \"%s\" ORDER BY rowid", name);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    text_put(text, "table ");
    text_put(text, name);
    text_put(text, "\n");
    int rc = 0;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(stmt); c++) {
            const unsigned char *value = sqlite3_column_text(stmt, c);
            text_put(text, value == NULL ? "NULL" : (const char *)value);
            text_put(text, "|");
        }
        text_put(text, "\n");
    }
    assert_int_equal(rc, SQLITE_DONE);
    assert_int_equal(sqlite3_finalize(stmt), SQLITE_OK);
}

// Every row of every table (heartbeats and rejected requests only if observations), as text.
static char *db_dump(const char *path, bool observations) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *tables = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT name FROM sqlite_schema WHERE type='table' "
                                            "ORDER BY name", -1, &tables, NULL),
                     SQLITE_OK);
    struct text text = {0};
    text_put(&text, "");
    while (sqlite3_step(tables) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(tables, 0);
        if (!table_skipped(name, observations)) table_dump(db, name, &text);
    }
    assert_int_equal(sqlite3_finalize(tables), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return text.data;
}

static int64_t db_query(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    const int64_t value = sqlite3_column_int64(stmt, 0);
    assert_int_equal(sqlite3_finalize(stmt), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    return value;
}

static void db_exec(const char *path, const char *sql) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    char *error = NULL;
    const int rc = sqlite3_exec(db, sql, NULL, NULL, &error);
    if (rc != SQLITE_OK) print_message("%s: %s\n", sql, error);
    sqlite3_free(error);
    assert_int_equal(rc, SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

// The store refuses an entry with `code` and the database is byte-for-byte what it was.
static void refused_unchanged(struct fx *fx, int code, const char *action, const char *args,
                              const char *result) {
    char *before = db_dump(fx->path, true);
    const uint64_t seq = fx->seq;
    const int rc = act(fx, action, args, result);
    if (rc != code) print_message("%s %s: %d %s\n", action, args, rc, ctl_store_error(fx->store));
    assert_int_equal(rc, code);
    assert_int_equal(fx->seq, seq);
    assert_true(strlen(ctl_store_error(fx->store)) > 0);
    char *after = db_dump(fx->path, true);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static uint64_t topology_version(struct fx *fx) {
    return (uint64_t)db_query(fx->path, "SELECT coalesce(max(version),0) FROM topology");
}

static void model_load(struct fx *fx) {
    assert_int_equal(ctl_store_model_load(fx->store, &fx->model, 0, 0), 0);
}

static const struct ctl_group *model_group(const struct ctl_model *model, uint32_t id) {
    for (uint32_t i = 0; i < model->group_count; i++) {
        if (model->groups[i].id == id) return &model->groups[i];
    }
    return NULL;
}

static const struct ctl_node *model_node(const struct ctl_model *model, uint32_t id) {
    for (uint32_t i = 0; i < model->node_count; i++) {
        if (model->nodes[i].id == id) return &model->nodes[i];
    }
    return NULL;
}

// ------------------------------------------------------------------------------------------------
// Opening and migrations.

static void test_open_migrates_empty(void **state) {
    struct fx *fx = *state;
    assert_int_equal(db_query(fx->path, "PRAGMA user_version"), CTL_STORE_SCHEMA_VERSION);
    assert_int_equal(db_query(fx->path, "SELECT count(*) FROM sqlite_schema WHERE type='table' "
                                        "AND name IN ('cluster','actions','keys','nodes',"
                                        "'node_status','groups','group_members','group_changes',"
                                        "'slots','topology','jobs','job_moves','rejected')"),
                     13);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(fx->path, &db), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &stmt, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(stmt), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(stmt, 0), "wal");
    assert_int_equal(sqlite3_finalize(stmt), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    char backup[160];
    (void)snprintf(backup, sizeof(backup), "%s.bak-v0", fx->path);
    assert_int_equal(access(backup, F_OK), -1); // an empty database is not backed up
    uint64_t seq = 99;
    assert_int_equal(ctl_store_head_seq(fx->store, &seq), 0);
    assert_int_equal(seq, 0);
    // Opening again migrates nothing and keeps the version.
    store_reopen(fx);
    assert_int_equal(db_query(fx->path, "PRAGMA user_version"), CTL_STORE_SCHEMA_VERSION);
}

static void test_open_refuses_memory_and_bad_path(void **state) {
    struct fx *fx = *state;
    struct ctl_store *store = NULL;
    char error[CTL_STORE_ERROR_SIZE];
    assert_int_equal(ctl_store_open(&store, ":memory:", NULL, error, sizeof(error)), TC_EIO);
    assert_null(store);
    assert_non_null(strstr(error, "wal"));
    char path[160];
    (void)snprintf(path, sizeof(path), "%s/missing/controller.db", fx->dir);
    assert_int_equal(ctl_store_open(&store, path, NULL, error, sizeof(error)), TC_EIO);
    assert_null(store);
    assert_true(strlen(error) > 0);
}

static void test_reopen_keeps_data(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    nodes_add(fx, 3);
    store_reopen(fx);
    uint64_t seq = 0;
    assert_int_equal(ctl_store_head_seq(fx->store, &seq), 0);
    assert_int_equal(seq, 4);
    enum ctl_store_role role = CTL_STORE_ROLE_VIEWER;
    assert_int_equal(ctl_store_key_role(fx->store, fx->admin_hex, &role), 0);
    assert_int_equal(role, CTL_STORE_ROLE_ADMIN);
    model_load(fx);
    assert_int_equal(fx->model.node_count, 3);
    assert_int_equal(topology_version(fx), 3);
    // The replay rule holds across the reopen.
    assert_int_equal(node_add(fx, 4, "a"), 0);
    assert_int_equal(fx->seq, 5);
}

static void test_newer_version_refused(void **state) {
    struct fx *fx = *state;
    ctl_store_close(fx->store);
    fx->store = NULL;
    db_exec(fx->path, "PRAGMA user_version=7");
    struct ctl_store *store = NULL;
    char error[CTL_STORE_ERROR_SIZE];
    assert_int_equal(ctl_store_open(&store, fx->path, NULL, error, sizeof(error)), TC_ERANGE);
    assert_null(store);
    assert_non_null(strstr(error, "version 7"));
    assert_non_null(strstr(error, "binary's 2"));
    // Nothing was changed: the version is still the newer one, no backup was made.
    assert_int_equal(db_query(fx->path, "PRAGMA user_version"), 7);
    char backup[160];
    (void)snprintf(backup, sizeof(backup), "%s.bak-v7", fx->path);
    assert_int_equal(access(backup, F_OK), -1);
    db_exec(fx->path, "PRAGMA user_version=2");
    assert_int_equal(store_open(fx), 0);
}

static void test_old_database_backed_up(void **state) {
    struct fx *fx = *state;
    ctl_store_close(fx->store);
    fx->store = NULL;
    assert_int_equal(unlink(fx->path), 0);
    char wal[160];
    (void)snprintf(wal, sizeof(wal), "%s-wal", fx->path);
    (void)unlink(wal);
    // A version-0 database that is not empty (an object from before any migration).
    db_exec(fx->path, "CREATE TABLE legacy (x TEXT); INSERT INTO legacy VALUES ('kept');");
    assert_int_equal(db_query(fx->path, "PRAGMA user_version"), 0);
    assert_int_equal(store_open(fx), 0);
    assert_int_equal(db_query(fx->path, "PRAGMA user_version"), CTL_STORE_SCHEMA_VERSION);
    char backup[160];
    (void)snprintf(backup, sizeof(backup), "%s.bak-v0", fx->path);
    assert_int_equal(db_query(backup, "PRAGMA user_version"), 0);
    assert_int_equal(db_query(backup, "SELECT count(*) FROM legacy WHERE x='kept'"), 1);
    assert_int_equal(db_query(backup, "SELECT count(*) FROM sqlite_schema WHERE name='actions'"),
                     0);
    char temporary[170];
    (void)snprintf(temporary, sizeof(temporary), "%s.tmp", backup);
    assert_int_equal(access(temporary, F_OK), -1);
    bootstrap(fx); // the migrated database works
}

static void test_format(void **state) {
    struct fx *fx = *state;
    assert_int_equal(ctl_store_format(fx->store, "bad name", fx->controller_hex, CTL_SLOTS),
                     TC_EINVAL);
    assert_int_equal(ctl_store_format(fx->store, "prod", "xyz", CTL_SLOTS), TC_EINVAL);
    assert_int_equal(ctl_store_format(fx->store, "prod", fx->controller_hex, 0), TC_EINVAL);
    assert_int_equal(ctl_store_format(fx->store, "prod", fx->controller_hex, CTL_SLOTS + 1),
                     TC_EINVAL);
    assert_int_equal(db_query(fx->path, "SELECT count(*) FROM cluster"), 0);
    assert_int_equal(ctl_store_format(fx->store, "prod", fx->controller_hex, CTL_SLOTS), 0);
    assert_int_equal(ctl_store_format(fx->store, "prod", fx->controller_hex, CTL_SLOTS), TC_EEXIST);
    // A bootstrap that disagrees with the formatted row is refused, nothing written.
    char args[512];
    (void)snprintf(args, sizeof(args),
                   "{\"cluster\":\"other\",\"admin_key\":\"%s\",\"admin_name\":\"alice\","
                   "\"slots\":4096}", fx->admin_hex);
    refused_unchanged(fx, TC_EINVAL, "controller.bootstrap", args, OK);
    (void)snprintf(args, sizeof(args),
                   "{\"cluster\":\"prod\",\"admin_key\":\"%s\",\"admin_name\":\"alice\","
                   "\"slots\":4096}", fx->admin_hex);
    assert_int_equal(act(fx, "controller.bootstrap", args, OK), 0);
    assert_int_equal(db_query(fx->path, "SELECT created_seq FROM cluster"), 1);
}

// ------------------------------------------------------------------------------------------------
// Effects of each action.

static void test_bootstrap_effects(void **state) {
    struct fx *fx = *state;
    // Without format, the bootstrap creates the cluster row (replay onto an empty database).
    assert_int_equal(actf(fx, "controller.bootstrap", OK,
                          "{\"cluster\":\"prod\",\"admin_key\":\"%s\",\"admin_name\":\"alice\","
                          "\"slots\":1024}",
                          fx->admin_hex),
                     0);
    struct ctl_store_status status;
    assert_int_equal(ctl_store_status_get(fx->store, 0, 0, &status), 0);
    assert_string_equal(status.cluster, "prod");
    assert_string_equal(status.controller_key, fx->controller_hex);
    assert_int_equal(status.slots, 1024);
    assert_int_equal(status.head_seq, 1);
    assert_int_equal(status.keys_active, 2);
    enum ctl_store_role role = CTL_STORE_ROLE_VIEWER;
    assert_int_equal(ctl_store_key_role(fx->store, fx->controller_hex, &role), 0);
    assert_int_equal(role, CTL_STORE_ROLE_CONTROLLER);
    assert_int_equal(ctl_store_key_role(fx->store, fx->admin_hex, &role), 0);
    assert_int_equal(role, CTL_STORE_ROLE_ADMIN);
    assert_int_equal(ctl_store_key_role(fx->store, fx->operator_hex, &role), TC_ENOENT);
    assert_int_equal(ctl_store_key_role(fx->store, "nothex", &role), TC_EINVAL);
    // No nodes, no groups: no topology yet.
    uint64_t version = 0;
    char hash[CTL_STORE_HASH_HEX_SIZE];
    char signature[CTL_STORE_SIGNATURE_HEX_SIZE];
    size_t size = 0;
    assert_int_equal(ctl_store_topology_latest(fx->store, &version, hash, fx->json,
                                               sizeof(fx->json), &size, signature),
                     TC_ENOENT);
    assert_int_equal(fx->sign_calls, 0);
    // A second bootstrap (seq 2) is refused.
    char args[512];
    (void)snprintf(args, sizeof(args),
                   "{\"cluster\":\"prod\",\"admin_key\":\"%s\",\"admin_name\":\"bob\","
                   "\"slots\":1024}", fx->operator_hex);
    refused_unchanged(fx, TC_EINVAL, "controller.bootstrap", args, OK);
    // Any other ok action needs the cluster row: checked on a second, empty database below.
}

static void test_action_before_bootstrap(void **state) {
    struct fx *fx = *state;
    refused_unchanged(fx, TC_EINVAL, "node.cordon", "{\"node\":1}", OK);
    // A refused result needs no cluster: only its actions row.
    assert_int_equal(act(fx, "node.cordon", "{\"node\":1}", REFUSED), 0);
    assert_int_equal(db_query(fx->path, "SELECT count(*) FROM actions"), 1);
}

static void test_node_effects(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    nodes_add(fx, 3);
    assert_int_equal(topology_version(fx), 3);
    model_load(fx);
    assert_int_equal(fx->model.node_count, 3);
    const struct ctl_node *node = model_node(&fx->model, 2);
    assert_non_null(node);
    assert_int_equal(node->state, CTL_NODE_ACTIVE);
    assert_string_equal(node->zone, "b");
    assert_string_equal(node->public_key, fx->node_hex[2]);
    assert_string_equal(node->address_peer, "10.0.0.2:7101");
    assert_string_equal(node->address_client, "10.0.0.2:7001");
    assert_string_equal(node->address_admin, "10.0.0.2:7201");
    assert_int_equal(db_query(fx->path, "SELECT added_seq FROM nodes WHERE id=2"), 3);
    // node.update: a changed address; then the same again (ok, unchanged: no version).
    act_ok(fx, "node.update", "{\"node\":2,\"address_client\":\"10.9.9.9:7001\",\"zone\":\"b\"}");
    assert_int_equal(topology_version(fx), 4);
    assert_int_equal(db_query(fx->path, "SELECT updated_seq FROM nodes WHERE id=2"), 5);
    act_ok(fx, "node.update", "{\"node\":2,\"address_client\":\"10.9.9.9:7001\"}");
    assert_int_equal(topology_version(fx), 4);
    assert_int_equal(db_query(fx->path, "SELECT updated_seq FROM nodes WHERE id=2"), 5);
    char args[256];
    (void)snprintf(args, sizeof(args), "{\"node\":2,\"public_key\":\"%s\"}", fx->node_hex[3]);
    refused_unchanged(fx, TC_EINVAL, "node.update", args, OK);
    model_load(fx);
    assert_string_equal(model_node(&fx->model, 2)->address_client, "10.9.9.9:7001");
    // cordon, cordon again (no version), uncordon, state.
    act_ok(fx, "node.cordon", "{\"node\":3}");
    assert_int_equal(topology_version(fx), 5);
    act_ok(fx, "node.cordon", "{\"node\":3}");
    assert_int_equal(topology_version(fx), 5);
    model_load(fx);
    assert_int_equal(model_node(&fx->model, 3)->state, CTL_NODE_CORDONED);
    assert_int_equal(db_query(fx->path, "SELECT state_seq FROM nodes WHERE id=3"), 7);
    act_ok(fx, "node.uncordon", "{\"node\":3}");
    act_ok(fx, "node.state", "{\"node\":1,\"state\":\"draining\"}");
    act_ok(fx, "node.state", "{\"node\":1,\"state\":\"drained\"}");
    act_ok(fx, "node.state", "{\"node\":1,\"state\":\"down\"}");
    assert_int_equal(topology_version(fx), 9);
    model_load(fx);
    assert_int_equal(model_node(&fx->model, 3)->state, CTL_NODE_ACTIVE);
    assert_int_equal(model_node(&fx->model, 1)->state, CTL_NODE_DOWN);
    refused_unchanged(fx, TC_EINVAL, "node.cordon", "{\"node\":9}", OK);
    refused_unchanged(fx, TC_EINVAL, "node.cordon", "{}", OK);
}

static void test_key_effects(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    assert_int_equal(actf(fx, "key.add", OK,
                          "{\"public_key\":\"%s\",\"name\":\"bob\",\"role\":\"operator\"}",
                          fx->operator_hex),
                     0);
    enum ctl_store_role role = CTL_STORE_ROLE_VIEWER;
    assert_int_equal(ctl_store_key_role(fx->store, fx->operator_hex, &role), 0);
    assert_int_equal(role, CTL_STORE_ROLE_OPERATOR);
    struct ctl_store_key keys[4];
    uint32_t count = 0;
    assert_int_equal(ctl_store_keys_list(fx->store, keys, 4, &count), 0);
    assert_int_equal(count, 3);
    assert_string_equal(keys[2].name, "bob");
    assert_int_equal(keys[2].added_seq, 2);
    assert_int_equal(keys[2].removed_seq, 0);
    assert_int_equal(ctl_store_keys_list(fx->store, keys, 2, &count), TC_ENOSPC);
    // Adding keys never changes the topology.
    assert_int_equal(topology_version(fx), 0);
    assert_int_equal(actf(fx, "key.remove", OK, "{\"public_key\":\"%s\"}", fx->operator_hex), 0);
    assert_int_equal(ctl_store_key_role(fx->store, fx->operator_hex, &role), TC_ENOENT);
    assert_int_equal(db_query(fx->path, "SELECT removed_seq FROM keys WHERE name='bob'"), 3);
    // Removing it again: ok, unchanged (removed_seq keeps 3).
    assert_int_equal(actf(fx, "key.remove", OK, "{\"public_key\":\"%s\"}", fx->operator_hex), 0);
    assert_int_equal(db_query(fx->path, "SELECT removed_seq FROM keys WHERE name='bob'"), 3);
    // Refusals by the schema and by apply.
    char args[512];
    (void)snprintf(args, sizeof(args),
                   "{\"public_key\":\"%s\",\"name\":\"carol\",\"role\":\"root\"}", fx->node_hex[1]);
    refused_unchanged(fx, TC_EINVAL, "key.add", args, OK); // CHECK role
    (void)snprintf(args, sizeof(args),
                   "{\"public_key\":\"%s\",\"name\":\"alice\",\"role\":\"viewer\"}",
                   fx->node_hex[1]);
    refused_unchanged(fx, TC_EINVAL, "key.add", args, OK); // UNIQUE name
    assert_non_null(strstr(ctl_store_error(fx->store), "UNIQUE"));
    (void)snprintf(args, sizeof(args), "{\"public_key\":\"%s\"}", fx->node_hex[1]);
    refused_unchanged(fx, TC_EINVAL, "key.remove", args, OK); // unknown key
    refused_unchanged(fx, TC_EINVAL, "key.add",
                      "{\"public_key\":\"00\",\"name\":\"x\",\"role\":\"viewer\"}", OK);
}

static void test_group_and_slot_effects(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    nodes_add(fx, 6);
    const uint64_t version = topology_version(fx);
    // The first group: everything in args (a controller-signed entry), all slots.
    act_ok(fx, "group.create", "{\"group\":1,\"members\":[1,2,3],\"slots\":[[0,4095,1]]}");
    assert_int_equal(topology_version(fx), version + 1);
    model_load(fx);
    assert_int_equal(fx->model.group_count, 1);
    const struct ctl_group *group = model_group(&fx->model, 1);
    assert_int_equal(group->epoch, 0);
    assert_int_equal(group->primary_node, 1);
    assert_int_equal(group->members[0], 1);
    assert_int_equal(group->members[1], 2);
    assert_int_equal(group->members[2], 3);
    assert_int_equal(group->change.kind, CTL_CHANGE_NONE);
    for (uint32_t slot = 0; slot < CTL_SLOTS; slot++) {
        assert_int_equal(fx->model.slot_group[slot], 1);
    }
    // The second: an operator's args, the members decided by the controller in the result.
    assert_int_equal(apply_at(fx, fx->seq + 1, fx->admin_hex, "group.create", "{\"group\":2}",
                              "{\"members\":[4,5,6],\"status\":\"ok\"}"),
                     0);
    fx->seq++;
    assert_int_equal(topology_version(fx), version + 2);
    act_ok(fx, "slots.assign", "{\"slots\":[[0,1023,2],[4000,4095,2]]}");
    assert_int_equal(topology_version(fx), version + 3);
    assert_int_equal(db_query(fx->path, "SELECT count(*) FROM slots WHERE group_id=2"), 1120);
    assert_int_equal(db_query(fx->path, "SELECT assigned_seq FROM slots WHERE slot=5"), fx->seq);
    // The same assignment again changes nothing: no version, assigned_seq kept.
    act_ok(fx, "slots.assign", "{\"slots\":[[0,1023,2]]}");
    assert_int_equal(topology_version(fx), version + 3);
    assert_int_equal(db_query(fx->path, "SELECT assigned_seq FROM slots WHERE slot=5"),
                     fx->seq - 1);
    model_load(fx);
    assert_int_equal(fx->model.slot_group[1023], 2);
    assert_int_equal(fx->model.slot_group[1024], 1);
    assert_int_equal(fx->model.slot_group[4000], 2);
    // Refusals: slot beyond the cluster, unknown group, ranges over more slots than exist, a
    // parameter named by both args and result, a result without members.
    refused_unchanged(fx, TC_EINVAL, "slots.assign", "{\"slots\":[[0,4096,2]]}", OK);
    refused_unchanged(fx, TC_EINVAL, "slots.assign", "{\"slots\":[[0,10,9]]}", OK);
    refused_unchanged(fx, TC_EINVAL, "slots.assign", "{\"slots\":[[0,4095,1],[0,0,2]]}", OK);
    refused_unchanged(fx, TC_EINVAL, "slots.assign", "{\"slots\":[]}", OK);
    refused_unchanged(fx, TC_EINVAL, "group.create", "{\"group\":3,\"members\":[1,2,4]}",
                      "{\"members\":[1,2,4],\"status\":\"ok\"}");
    refused_unchanged(fx, TC_EINVAL, "group.create", "{\"group\":3}", "{\"status\":\"ok\"}");
    refused_unchanged(fx, TC_EINVAL, "group.create", "{\"group\":3,\"members\":[1,2]}", OK);
}

// Nodes 1..4 (zones a b c a), group 1 on [1,2,3] with every slot.
static void cluster_small(struct fx *fx) {
    bootstrap(fx);
    nodes_add(fx, 4);
    act_ok(fx, "group.create", "{\"group\":1,\"members\":[1,2,3],\"slots\":[[0,4095,1]]}");
}

#define MOVES_TWO                                                                                  \
    "[{\"from\":1,\"group\":1,\"kind\":\"move_primary\",\"step\":1,\"to\":2},"                     \
    "{\"from\":1,\"group\":1,\"kind\":\"replace\",\"step\":2,\"to\":4}]"

static void job_start_drain(struct fx *fx, uint32_t job) {
    char result[512];
    (void)snprintf(result, sizeof(result), "{\"job\":%u,\"moves\":" MOVES_TWO ",\"status\":\"ok\"}",
                   job);
    assert_int_equal(apply_at(fx, fx->seq + 1, fx->operator_hex, "job.start",
                              "{\"kind\":\"drain\",\"node\":1,\"topology_hash\":\"" HASH_ZERO "\"}",
                              result),
                     0);
    fx->seq++;
}

static void test_job_effects(void **state) {
    struct fx *fx = *state;
    cluster_small(fx);
    const uint64_t version = topology_version(fx);
    job_start_drain(fx, 7);
    assert_int_equal(topology_version(fx), version); // a job is not topology
    struct ctl_store_job job;
    assert_int_equal(ctl_store_job_get(fx->store, 7, &job), 0);
    assert_int_equal(job.kind, CTL_STORE_JOB_DRAIN);
    assert_int_equal(job.node_id, 1);
    assert_int_equal(job.state, CTL_STORE_JOB_RUNNING);
    assert_int_equal(job.move_count, 2);
    assert_int_equal(job.moves_done, 0);
    assert_int_equal(job.created_seq, fx->seq);
    struct ctl_store_move moves[4];
    uint32_t count = 0;
    assert_int_equal(ctl_store_job_moves(fx->store, 7, moves, 4, &count), 0);
    assert_int_equal(count, 2);
    assert_int_equal(moves[0].kind, CTL_CHANGE_MOVE_PRIMARY);
    assert_int_equal(moves[1].kind, CTL_CHANGE_REPLACE);
    assert_int_equal(moves[1].state, CTL_STORE_MOVE_PENDING);
    assert_int_equal(ctl_store_job_moves(fx->store, 7, moves, 1, &count), TC_ENOSPC);
    assert_int_equal(ctl_store_job_moves(fx->store, 8, moves, 4, &count), TC_ENOENT);
    // Step 1 running: the group's change is declared (a new topology version), then done.
    act_ok(fx, "job.step", "{\"job\":7,\"step\":1,\"state\":\"running\",\"progress\":\"asked\"}");
    assert_int_equal(topology_version(fx), version + 1);
    model_load(fx);
    const struct ctl_group *group = model_group(&fx->model, 1);
    assert_int_equal(group->change.kind, CTL_CHANGE_MOVE_PRIMARY);
    assert_int_equal(group->change.from_node, 1);
    assert_int_equal(group->change.to_node, 2);
    assert_int_equal(group->change.job_id, 7);
    assert_int_equal(group->change.step, 1);
    act_ok(fx, "job.step", "{\"job\":7,\"step\":1,\"state\":\"running\",\"progress\":\"50%\"}");
    assert_int_equal(topology_version(fx), version + 1); // progress only
    act_ok(fx, "job.step", "{\"job\":7,\"step\":1,\"state\":\"done\"}");
    assert_int_equal(topology_version(fx), version + 2);
    model_load(fx);
    group = model_group(&fx->model, 1);
    assert_int_equal(group->change.kind, CTL_CHANGE_NONE);
    assert_int_equal(group->primary_node, 2);
    assert_int_equal(group->epoch, 0);
    // Step 2: replace 1 -> 4 in 1's member slot, with the epoch and members the nodes report.
    act_ok(fx, "job.step", "{\"job\":7,\"step\":2,\"state\":\"running\"}");
    // The learner, once caught up: on the change (a new topology version), only on a running
    // replace step, only a decimal replica id.
    const uint64_t before_learner = topology_version(fx);
    refused_unchanged(fx, TC_EINVAL, "job.step",
                      "{\"job\":7,\"step\":2,\"state\":\"running\",\"learner_id\":\"0x12\"}", OK);
    refused_unchanged(fx, TC_EINVAL, "job.step",
                      "{\"job\":7,\"step\":1,\"state\":\"running\",\"learner_id\":\"12\"}", OK);
    act_ok(fx, "job.step",
           "{\"job\":7,\"step\":2,\"state\":\"running\",\"learner_id\":\"18446744073709551615\"}");
    assert_int_equal(topology_version(fx), before_learner + 1);
    model_load(fx);
    assert_true(model_group(&fx->model, 1)->change.learner_id == UINT64_MAX);
    act_ok(fx, "job.step",
           "{\"job\":7,\"step\":2,\"state\":\"done\",\"group_epoch\":1,\"members\":[2,3,4]}");
    model_load(fx);
    group = model_group(&fx->model, 1);
    assert_int_equal(group->members[0], 4);
    assert_int_equal(group->members[1], 2);
    assert_int_equal(group->members[2], 3);
    assert_int_equal(group->epoch, 1);
    assert_int_equal(group->primary_node, 2);
    assert_int_equal(db_query(fx->path, "SELECT added_seq FROM group_members WHERE slot=0"),
                     fx->seq);
    assert_int_equal(ctl_store_job_moves(fx->store, 7, moves, 4, &count), 0);
    assert_string_equal(moves[0].progress, "50%"); // kept when a step gives none
    assert_int_equal(moves[0].state, CTL_STORE_MOVE_DONE);
    act_ok(fx, "job.finish", "{\"job\":7,\"state\":\"succeeded\",\"reason\":\"drained\"}");
    assert_int_equal(ctl_store_job_get(fx->store, 7, &job), 0);
    assert_int_equal(job.state, CTL_STORE_JOB_SUCCEEDED);
    assert_string_equal(job.reason, "drained");
    assert_int_equal(job.moves_done, 2);
    assert_int_equal(job.updated_seq, fx->seq);
    // Terminal states stay terminal.
    refused_unchanged(fx, TC_EINVAL, "job.step", "{\"job\":7,\"step\":2,\"state\":\"running\"}",
                      OK);
    refused_unchanged(fx, TC_EINVAL, "job.finish", "{\"job\":7,\"state\":\"failed\"}", OK);
}

static void test_job_step_refusals(void **state) {
    struct fx *fx = *state;
    cluster_small(fx);
    job_start_drain(fx, 3);
    refused_unchanged(fx, TC_EINVAL, "job.step", "{\"job\":3,\"step\":9,\"state\":\"running\"}",
                      OK);
    refused_unchanged(fx, TC_EINVAL, "job.step", "{\"job\":3,\"step\":1,\"state\":\"pending\"}",
                      OK);
    refused_unchanged(fx, TC_EINVAL, "job.step", "{\"job\":3,\"step\":1,\"state\":\"bogus\"}", OK);
    // A done replace whose reported members disagree with the result of the swap.
    act_ok(fx, "job.step", "{\"job\":3,\"step\":2,\"state\":\"running\"}");
    refused_unchanged(fx, TC_EINVAL, "job.step",
                      "{\"job\":3,\"step\":2,\"state\":\"done\",\"members\":[1,2,3]}", OK);
    // An epoch that goes backwards, a primary that is not a member.
    act_ok(fx, "job.step", "{\"job\":3,\"step\":2,\"state\":\"done\",\"group_epoch\":5}");
    act_ok(fx, "job.step", "{\"job\":3,\"step\":1,\"state\":\"running\"}");
    refused_unchanged(fx, TC_EINVAL, "job.step",
                      "{\"job\":3,\"step\":1,\"state\":\"done\",\"group_epoch\":4}", OK);
    refused_unchanged(fx, TC_EINVAL, "job.step",
                      "{\"job\":3,\"step\":1,\"state\":\"done\",\"primary\":1}", OK);
    // A running step blocks job.finish.
    refused_unchanged(fx, TC_EINVAL, "job.finish", "{\"job\":3,\"state\":\"succeeded\"}", OK);
    refused_unchanged(fx, TC_EINVAL, "job.finish", "{\"job\":3,\"state\":\"running\"}", OK);
    // move_primary from 1 to 2 after 1 was replaced: 2 is a member, so it applies.
    act_ok(fx, "job.step", "{\"job\":3,\"step\":1,\"state\":\"done\"}");
    model_load(fx);
    assert_int_equal(model_group(&fx->model, 1)->primary_node, 2);
    assert_int_equal(model_group(&fx->model, 1)->epoch, 5);
}

static void test_job_cancel(void **state) {
    struct fx *fx = *state;
    cluster_small(fx);
    job_start_drain(fx, 5);
    act_ok(fx, "job.step", "{\"job\":5,\"step\":1,\"state\":\"running\"}");
    act_ok(fx, "job.cancel", "{\"job\":5}");
    struct ctl_store_job job;
    assert_int_equal(ctl_store_job_get(fx->store, 5, &job), 0);
    assert_int_equal(job.state, CTL_STORE_JOB_CANCELLED);
    struct ctl_store_move moves[2];
    uint32_t count = 0;
    assert_int_equal(ctl_store_job_moves(fx->store, 5, moves, 2, &count), 0);
    assert_int_equal(moves[0].state, CTL_STORE_MOVE_RUNNING); // resolves on its own
    assert_int_equal(moves[1].state, CTL_STORE_MOVE_CANCELLED);
    act_ok(fx, "job.cancel", "{\"job\":5}"); // ok, unchanged
    assert_int_equal(db_query(fx->path, "SELECT updated_seq FROM jobs WHERE id=5"), fx->seq - 1);
    act_ok(fx, "job.step", "{\"job\":5,\"step\":1,\"state\":\"done\"}");
    refused_unchanged(fx, TC_EINVAL, "job.step", "{\"job\":5,\"step\":2,\"state\":\"running\"}",
                      OK);
    refused_unchanged(fx, TC_EINVAL, "job.cancel", "{\"job\":99}", OK);
    model_load(fx);
    assert_int_equal(model_group(&fx->model, 1)->change.kind, CTL_CHANGE_NONE);
    // A job without a "job" id takes its entry's seq.
    assert_int_equal(act(fx, "job.start",
                         "{\"kind\":\"rebalance\",\"topology_hash\":\"" HASH_ZERO "\","
                         "\"moves\":[]}",
                         OK),
                     0);
    assert_int_equal(ctl_store_job_get(fx->store, fx->seq, &job), 0);
    assert_int_equal(job.kind, CTL_STORE_JOB_REBALANCE);
    assert_int_equal(job.node_id, 0);
    uint32_t listed = 0;
    struct ctl_store_job jobs[4];
    assert_int_equal(ctl_store_jobs_list(fx->store, false, 0, jobs, 4, &listed), 0);
    assert_int_equal(listed, 2);
    assert_int_equal(jobs[0].id, fx->seq); // newest first
    assert_int_equal(jobs[1].id, 5);
    assert_int_equal(ctl_store_jobs_list(fx->store, true, 0, jobs, 4, &listed), 0);
    assert_int_equal(listed, 1);
    assert_int_equal(ctl_store_jobs_list(fx->store, false, fx->seq, jobs, 4, &listed), 0);
    assert_int_equal(listed, 1);
    assert_int_equal(jobs[0].id, 5);
}

// C7: one change per group at a time, across jobs.
static void test_one_change_per_group(void **state) {
    struct fx *fx = *state;
    cluster_small(fx);
    job_start_drain(fx, 1);
    assert_int_equal(act(fx, "job.start",
                         "{\"job\":2,\"kind\":\"rebalance\",\"topology_hash\":\"" HASH_ZERO "\","
                         "\"moves\":[{\"from\":3,\"group\":1,\"kind\":\"replace\",\"step\":1,"
                         "\"to\":4}]}",
                         OK),
                     0);
    act_ok(fx, "job.step", "{\"job\":1,\"step\":1,\"state\":\"running\"}");
    refused_unchanged(fx, TC_EINVAL, "job.step", "{\"job\":2,\"step\":1,\"state\":\"running\"}",
                      OK);
    act_ok(fx, "job.step", "{\"job\":1,\"step\":1,\"state\":\"failed\"}");
    act_ok(fx, "job.step", "{\"job\":2,\"step\":1,\"state\":\"running\"}");
    model_load(fx);
    assert_int_equal(model_group(&fx->model, 1)->change.job_id, 2);
    // A move with a bad kind or an unknown node is refused by the schema.
    refused_unchanged(fx, TC_EINVAL, "job.start",
                      "{\"job\":3,\"kind\":\"rebalance\",\"topology_hash\":\"" HASH_ZERO "\","
                      "\"moves\":[{\"from\":3,\"group\":1,\"kind\":\"swap\",\"step\":1,\"to\":4}]}",
                      OK);
    refused_unchanged(fx, TC_EINVAL, "job.start",
                      "{\"job\":3,\"kind\":\"rebalance\",\"topology_hash\":\"" HASH_ZERO "\","
                      "\"moves\":[{\"from\":3,\"group\":1,\"kind\":\"replace\",\"step\":1,"
                      "\"to\":9}]}",
                      OK);
    refused_unchanged(fx, TC_EINVAL, "job.start",
                      "{\"job\":2,\"kind\":\"rebalance\",\"topology_hash\":\"" HASH_ZERO "\"}",
                      OK); // job id taken
    refused_unchanged(fx, TC_EINVAL, "job.start",
                      "{\"job\":3,\"kind\":\"upgrade\",\"topology_hash\":\"" HASH_ZERO "\"}", OK);
}

// ------------------------------------------------------------------------------------------------
// Refused, unknown, replayed, out-of-order and malformed entries.

static void test_refused_result_writes_only_the_action(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    nodes_add(fx, 3);
    char *before = db_dump(fx->path, true);
    const uint64_t version = topology_version(fx);
    assert_int_equal(act(fx, "node.cordon", "{\"node\":1}", REFUSED), 0);
    assert_int_equal(act(fx, "node.add", "{\"node\":8}", "\"refused\""), 0);
    assert_int_equal(act(fx, "node.explode", "{}", REFUSED), 0); // unknown but refused: recorded
    assert_int_equal(topology_version(fx), version);
    model_load(fx);
    assert_int_equal(model_node(&fx->model, 1)->state, CTL_NODE_ACTIVE);
    assert_int_equal(fx->model.node_count, 3);
    assert_int_equal(db_query(fx->path, "SELECT count(*) FROM actions"), 7);
    assert_int_equal(db_query(fx->path, "SELECT count(*) FROM actions WHERE seq>4 AND "
                                        "result LIKE '%refused%'"),
                     3);
    // Apart from those three rows, nothing differs.
    db_exec(fx->path, "DELETE FROM actions WHERE seq>4");
    char *after = db_dump(fx->path, true);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void test_unknown_action_rolls_back(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    refused_unchanged(fx, TC_EINVAL, "node.explode", "{\"node\":1}", OK);
    refused_unchanged(fx, TC_EINVAL, "node.explode", "{}", "{\"status\":\"ok\"}");
    assert_non_null(strstr(ctl_store_error(fx->store), "unknown action"));
}

static void test_replay_and_gap(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    nodes_add(fx, 2);
    char *before = db_dump(fx->path, true);
    // The same entry again (a restart's catch-up overlapping what was applied): TC_EEXIST.
    char args[512];
    (void)snprintf(args, sizeof(args),
                   "{\"node\":2,\"public_key\":\"%s\",\"zone\":\"b\","
                   "\"address_peer\":\"10.0.0.2:7101\",\"address_client\":\"10.0.0.2:7001\","
                   "\"address_admin\":\"10.0.0.2:7201\"}",
                   fx->node_hex[2]);
    assert_int_equal(apply_at(fx, 3, fx->controller_hex, "node.add", args, OK), TC_EEXIST);
    // Another entry at an applied seq: the chain and the database disagree.
    assert_int_equal(apply_at(fx, 2, fx->controller_hex, "node.cordon", "{\"node\":1}", OK),
                     TC_ECORRUPT);
    // Gaps and seq 0.
    assert_int_equal(apply_at(fx, 5, fx->controller_hex, "node.cordon", "{\"node\":1}", OK),
                     TC_ERANGE);
    assert_int_equal(apply_at(fx, 0, fx->controller_hex, "node.cordon", "{\"node\":1}", OK),
                     TC_ERANGE);
    char *after = db_dump(fx->path, true);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(apply_at(fx, 4, fx->controller_hex, "node.cordon", "{\"node\":1}", OK), 0);
}

static void test_malformed_entries(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    char *before = db_dump(fx->path, true);
    char hash[CTL_STORE_HASH_HEX_SIZE];
    line_hash(2, "node.cordon", "{\"node\":1}", OK, hash);
    struct ctl_store_action entry = {
        .seq = 2,
        .time = TIME_TEXT,
        .actor = fx->controller_hex,
        .action = "node.cordon",
        .args = "{ \"node\":1}", // not canonical
        .result = OK,
        .line_hash = hash,
    };
    assert_int_equal(ctl_store_apply(fx->store, &entry), TC_EINVAL);
    entry.args = "{\"node\":1,\"a\":2}"; // keys out of order
    assert_int_equal(ctl_store_apply(fx->store, &entry), TC_EINVAL);
    entry.args = "[1]";
    assert_int_equal(ctl_store_apply(fx->store, &entry), TC_EINVAL);
    entry.args = "{\"node\":1}";
    entry.result = "ok"; // not JSON
    assert_int_equal(ctl_store_apply(fx->store, &entry), TC_EINVAL);
    entry.result = OK;
    entry.time = "2026-02-30T00:00:00.000Z";
    assert_int_equal(ctl_store_apply(fx->store, &entry), TC_EINVAL);
    entry.time = TIME_TEXT;
    entry.actor = fx->admin_hex + 1;
    assert_int_equal(ctl_store_apply(fx->store, &entry), TC_EINVAL);
    entry.actor = fx->controller_hex;
    entry.action = "Node.Cordon";
    assert_int_equal(ctl_store_apply(fx->store, &entry), TC_EINVAL);
    entry.action = "node.cordon";
    entry.line_hash = "ABC";
    assert_int_equal(ctl_store_apply(fx->store, &entry), TC_EINVAL);
    char *after = db_dump(fx->path, true);
    assert_string_equal(before, after);
    free(before);
    free(after);
}

static void test_constraints_write_nothing(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    nodes_add(fx, 4);
    // Duplicate member: UNIQUE(group_id, node_id).
    refused_unchanged(fx, TC_EINVAL, "group.create", "{\"group\":1,\"members\":[1,2,1]}", OK);
    assert_non_null(strstr(ctl_store_error(fx->store), "UNIQUE"));
    // A member on an unknown node: REFERENCES nodes(id).
    refused_unchanged(fx, TC_EINVAL, "group.create", "{\"group\":1,\"members\":[1,2,7]}", OK);
    assert_non_null(strstr(ctl_store_error(fx->store), "FOREIGN KEY"));
    refused_unchanged(fx, TC_EINVAL, "group.create", "{\"group\":1,\"members\":[7,1,2]}", OK);
    // A bad state: CHECK.
    refused_unchanged(fx, TC_EINVAL, "node.state", "{\"node\":1,\"state\":\"sleeping\"}", OK);
    assert_non_null(strstr(ctl_store_error(fx->store), "CHECK"));
    // A node id that exists, a public key another node has, an id beyond 255, a bad address.
    refused_unchanged(fx, TC_EINVAL, "node.add",
                      "{\"node\":1,\"public_key\":\"" HASH_ZERO "\",\"address_peer\":\"a:1\","
                      "\"address_client\":\"a:2\",\"address_admin\":\"a:3\"}",
                      OK); // the zero key is not a valid point
    char args[512];
    (void)snprintf(args, sizeof(args),
                   "{\"node\":1,\"public_key\":\"%s\",\"address_peer\":\"a:1\","
                   "\"address_client\":\"a:2\",\"address_admin\":\"a:3\"}", fx->node_hex[5]);
    refused_unchanged(fx, TC_EINVAL, "node.add", args, OK);
    (void)snprintf(args, sizeof(args),
                   "{\"node\":5,\"public_key\":\"%s\",\"address_peer\":\"a:1\","
                   "\"address_client\":\"a:2\",\"address_admin\":\"a:3\"}", fx->node_hex[1]);
    refused_unchanged(fx, TC_EINVAL, "node.add", args, OK);
    (void)snprintf(args, sizeof(args),
                   "{\"node\":256,\"public_key\":\"%s\",\"address_peer\":\"a:1\","
                   "\"address_client\":\"a:2\",\"address_admin\":\"a:3\"}", fx->node_hex[5]);
    refused_unchanged(fx, TC_EINVAL, "node.add", args, OK);
    (void)snprintf(args, sizeof(args),
                   "{\"node\":5,\"public_key\":\"%s\",\"address_peer\":\"a b:1\","
                   "\"address_client\":\"a:2\",\"address_admin\":\"a:3\"}", fx->node_hex[5]);
    refused_unchanged(fx, TC_EINVAL, "node.add", args, OK);
    // The group id bound.
    refused_unchanged(fx, TC_EINVAL, "group.create", "{\"group\":65536,\"members\":[1,2,3]}", OK);
    refused_unchanged(fx, TC_EINVAL, "group.create", "{\"group\":0,\"members\":[1,2,3]}", OK);
    act_ok(fx, "group.create", "{\"group\":1,\"members\":[1,2,3]}");
    refused_unchanged(fx, TC_EINVAL, "group.create", "{\"group\":1,\"members\":[2,3,4]}", OK);
}

// ------------------------------------------------------------------------------------------------
// The topology.

static void test_topology_body_matches_doc(void **state) {
    struct fx *fx = *state;
    struct ctl_model *model = &fx->model;
    memset(model, 0, sizeof(*model));
    model->node_count = 1;
    struct ctl_node *node = &model->nodes[0];
    node->id = 1;
    node->state = CTL_NODE_ACTIVE;
    (void)snprintf(node->zone, sizeof(node->zone), "a");
    (void)snprintf(node->address_admin, sizeof(node->address_admin), "10.0.0.1:7201");
    (void)snprintf(node->address_client, sizeof(node->address_client), "10.0.0.1:7001");
    (void)snprintf(node->address_peer, sizeof(node->address_peer), "10.0.0.1:7101");
    model->group_count = 1;
    model->groups[0] = (struct ctl_group){.id = 1, .members = {1, 2, 3}, .primary_node = 1};
    for (uint32_t slot = 0; slot < CTL_SLOTS; slot++) model->slot_group[slot] = 1;
    // docs/controller.md §5, whitespace removed.
    const char *expected =
        "{\"cluster\":\"prod\","
        "\"groups\":[{\"epoch\":0,\"id\":1,\"members\":[1,2,3],\"primary\":1}],"
        "\"nodes\":[{\"address_admin\":\"10.0.0.1:7201\",\"address_client\":\"10.0.0.1:7001\","
        "\"address_peer\":\"10.0.0.1:7101\",\"id\":1,\"state\":\"active\",\"zone\":\"a\"}],"
        "\"slots\":[[0,4095,1]],\"version\":17}";
    size_t size = 0;
    assert_int_equal(ctl_store_topology_body("prod", model, 17, fx->json, sizeof(fx->json), &size),
                     0);
    assert_string_equal(fx->json, expected);
    assert_int_equal(size, strlen(expected));
    // A running change, an unknown primary, split slots with a gap.
    model->groups[0].change = (struct ctl_change){
        .kind = CTL_CHANGE_REPLACE, .from_node = 3, .to_node = 4, .job_id = 9, .step = 2};
    model->groups[0].primary_node = 0;
    model->slot_group[0] = 0;
    model->slot_group[4095] = 2;
    assert_int_equal(ctl_store_topology_body("prod", model, 18, fx->json, sizeof(fx->json), &size),
                     0);
    assert_non_null(strstr(fx->json, "{\"change\":{\"from\":3,\"job\":9,\"kind\":\"replace\","
                                     "\"step\":2,\"to\":4},\"epoch\":0,\"id\":1,"
                                     "\"members\":[1,2,3],\"primary\":null}"));
    // Once the learner is known, the change names it (a decimal string: all 64 bits).
    model->groups[0].change.learner_id = UINT64_C(18446744073709551615);
    assert_int_equal(ctl_store_topology_body("prod", model, 18, fx->json, sizeof(fx->json), &size),
                     0);
    assert_non_null(strstr(fx->json, "\"learner_id\":\"18446744073709551615\",\"step\":2,"));
    assert_non_null(strstr(fx->json, "\"slots\":[[1,4094,1],[4095,4095,2]]"));
    assert_int_equal(ctl_store_topology_body("prod", model, 18, fx->json, size, &size), TC_ENOSPC);
}

// Every stored version: contiguous from 1, its body names it, its hash is BLAKE2b-256 of the body
// and its signature verifies with the controller key (sodium directly and the store's helper).
static void topology_check_all(struct fx *fx) {
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT version,hash,body,signature FROM topology "
                                            "ORDER BY version", -1, &stmt, NULL),
                     SQLITE_OK);
    int64_t expected = 1;
    const size_t domain = strlen(CTL_STORE_TOPOLOGY_DOMAIN);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        assert_int_equal(sqlite3_column_int64(stmt, 0), expected);
        const char *hash = (const char *)sqlite3_column_text(stmt, 1);
        const char *body = (const char *)sqlite3_column_text(stmt, 2);
        const char *signature = (const char *)sqlite3_column_text(stmt, 3);
        char needle[48];
        (void)snprintf(needle, sizeof(needle), ",\"version\":%lld}", (long long)expected);
        assert_non_null(strstr(body, needle));
        struct tc_hash256 computed;
        tc_hash256_compute(&computed, body, strlen(body));
        char computed_hex[CTL_STORE_HASH_HEX_SIZE];
        tc_hex_encode(computed_hex, computed.bytes, sizeof(computed.bytes));
        assert_string_equal(hash, computed_hex);
        unsigned char raw[64];
        assert_int_equal(sodium_hex2bin(raw, sizeof(raw), signature, 128, NULL, NULL, NULL), 0);
        unsigned char *message = malloc(domain + strlen(body));
        assert_non_null(message);
        memcpy(message, CTL_STORE_TOPOLOGY_DOMAIN, domain);
        memcpy(message + domain, body, strlen(body));
        assert_int_equal(crypto_sign_verify_detached(raw, message, domain + strlen(body),
                                                     fx->controller_public.bytes),
                         0);
        free(message);
        assert_int_equal(ctl_store_topology_verify(body, strlen(body), signature,
                                                   fx->controller_hex),
                         0);
        assert_int_equal(ctl_store_topology_verify(body, strlen(body), signature, fx->admin_hex),
                         TC_EPERM);
        expected++;
    }
    assert_int_equal(sqlite3_finalize(stmt), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_topology_versions(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    assert_int_equal(topology_version(fx), 0);
    // Each changing action adds exactly one version; no-ops, refusals and other actions none.
    struct {
        const char *action;
        const char *args;
        const char *result;
        uint32_t versions;
    } steps[] = {
        {"node.cordon", "{\"node\":1}", REFUSED, 0},
        {"group.create", "{\"group\":1}", REFUSED, 0},
        {"node.state", "{\"node\":1,\"state\":\"active\"}", OK, 0}, // node 1 added below first
        {"node.cordon", "{\"node\":2}", OK, 1},
        {"node.cordon", "{\"node\":2}", OK, 0},
        {"node.uncordon", "{\"node\":2}", OK, 1},
        {"group.create", "{\"group\":1,\"members\":[1,2,3],\"slots\":[[0,4095,1]]}", OK, 1},
        {"slots.assign", "{\"slots\":[[0,4095,1]]}", OK, 0},
        {"node.update", "{\"node\":1,\"zone\":\"z\"}", OK, 1},
        {"node.update", "{\"node\":1,\"zone\":\"z\"}", OK, 0},
        {"job.start", "{\"job\":1,\"kind\":\"rebalance\",\"topology_hash\":\"" HASH_ZERO "\","
                      "\"moves\":[{\"from\":3,\"group\":1,\"kind\":\"replace\",\"step\":1,"
                      "\"to\":4}]}", OK, 0},
        {"job.step", "{\"job\":1,\"step\":1,\"state\":\"running\"}", OK, 1},
        {"job.step", "{\"job\":1,\"step\":1,\"state\":\"running\",\"progress\":\"x\"}", OK, 0},
        {"job.step", "{\"job\":1,\"step\":1,\"state\":\"done\",\"group_epoch\":1}", OK, 1},
        {"job.finish", "{\"job\":1,\"state\":\"succeeded\"}", OK, 0},
    };
    nodes_add(fx, 4);
    assert_int_equal(topology_version(fx), 4);
    uint64_t version = 4;
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(steps); i++) {
        const int rc = act(fx, steps[i].action, steps[i].args, steps[i].result);
        if (rc != 0) print_message("step %u: %s\n", i, ctl_store_error(fx->store));
        assert_int_equal(rc, 0);
        version += steps[i].versions;
        assert_int_equal(topology_version(fx), version);
    }
    assert_int_equal(fx->sign_calls, version);
    assert_int_equal(db_query(fx->path, "SELECT seq FROM topology ORDER BY version DESC LIMIT 1"),
                     fx->seq - 1);
    topology_check_all(fx);
    // The latest through the API, and the helpers' signature equals the test signer's.
    uint64_t latest = 0;
    char hash[CTL_STORE_HASH_HEX_SIZE];
    char signature[CTL_STORE_SIGNATURE_HEX_SIZE];
    size_t size = 0;
    assert_int_equal(ctl_store_topology_latest(fx->store, &latest, hash, fx->json,
                                               sizeof(fx->json), &size, signature),
                     0);
    assert_int_equal(latest, version);
    assert_int_equal(size, strlen(fx->json));
    assert_non_null(strstr(fx->json, "\"members\":[1,2,4]"));
    char again[CTL_STORE_SIGNATURE_HEX_SIZE];
    assert_int_equal(ctl_store_topology_sign(&fx->controller, fx->json, size, again), 0);
    assert_string_equal(again, signature);
    fx->json[10] ^= 1;
    assert_int_equal(ctl_store_topology_verify(fx->json, size, signature, fx->controller_hex),
                     TC_EPERM);
    assert_int_equal(ctl_store_topology_latest(fx->store, &latest, hash, fx->json, size, &size,
                                               signature),
                     TC_ENOSPC);
}

static void test_no_signer(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    ctl_store_close(fx->store);
    char error[CTL_STORE_ERROR_SIZE];
    assert_int_equal(ctl_store_open(&fx->store, fx->path, NULL, error, sizeof(error)), 0);
    char args[512];
    (void)snprintf(args, sizeof(args),
                   "{\"node\":1,\"public_key\":\"%s\",\"address_peer\":\"a:1\","
                   "\"address_client\":\"a:2\",\"address_admin\":\"a:3\"}", fx->node_hex[1]);
    refused_unchanged(fx, TC_EPERM, "node.add", args, OK);
    // What does not change the topology needs no signer.
    assert_int_equal(actf(fx, "key.add", OK,
                          "{\"public_key\":\"%s\",\"name\":\"bob\",\"role\":\"viewer\"}",
                          fx->operator_hex),
                     0);
}

// ------------------------------------------------------------------------------------------------
// The model, observations, JSON.

static void node_expect(struct ctl_model *model, struct fx *fx, uint16_t id, const char *zone,
                        enum ctl_node_state state, bool live) {
    struct ctl_node *node = &model->nodes[model->node_count++];
    node->id = id;
    node->state = state;
    node->live = live;
    (void)snprintf(node->zone, sizeof(node->zone), "%s", zone);
    (void)snprintf(node->public_key, sizeof(node->public_key), "%s", fx->node_hex[id]);
    (void)snprintf(node->address_peer, sizeof(node->address_peer), "10.0.0.%u:7101", id);
    (void)snprintf(node->address_client, sizeof(node->address_client), "10.0.0.%u:7001", id);
    (void)snprintf(node->address_admin, sizeof(node->address_admin), "10.0.0.%u:7201", id);
}

static void model_assert_equal(const struct ctl_model *a, const struct ctl_model *b) {
    assert_int_equal(a->node_count, b->node_count);
    for (uint32_t i = 0; i < a->node_count; i++) {
        assert_int_equal(a->nodes[i].id, b->nodes[i].id);
        assert_int_equal(a->nodes[i].state, b->nodes[i].state);
        assert_int_equal(a->nodes[i].live, b->nodes[i].live);
        assert_string_equal(a->nodes[i].zone, b->nodes[i].zone);
        assert_string_equal(a->nodes[i].public_key, b->nodes[i].public_key);
        assert_string_equal(a->nodes[i].address_peer, b->nodes[i].address_peer);
        assert_string_equal(a->nodes[i].address_client, b->nodes[i].address_client);
        assert_string_equal(a->nodes[i].address_admin, b->nodes[i].address_admin);
    }
    assert_int_equal(a->group_count, b->group_count);
    for (uint32_t i = 0; i < a->group_count; i++) {
        const struct ctl_group *x = &a->groups[i];
        const struct ctl_group *y = &b->groups[i];
        assert_int_equal(x->id, y->id);
        assert_int_equal(x->epoch, y->epoch);
        assert_memory_equal(x->members, y->members, sizeof(x->members));
        assert_int_equal(x->primary_node, y->primary_node);
        assert_int_equal(x->change.kind, y->change.kind);
        assert_int_equal(x->change.from_node, y->change.from_node);
        assert_int_equal(x->change.to_node, y->change.to_node);
        assert_int_equal(x->change.job_id, y->change.job_id);
        assert_int_equal(x->change.step, y->change.step);
    }
    assert_memory_equal(a->slot_group, b->slot_group, sizeof(a->slot_group));
}

// Five nodes, groups 1 [1,2,3] and 2 [3,4,5] (slots 0..999 to 2), node 4 cordoned, job 6 with
// its step 1 (replace 5 -> 1 in group 2) running; heartbeats from nodes 1 (t=1000), 2 (t=9000).
static void cluster_medium(struct fx *fx) {
    bootstrap(fx);
    nodes_add(fx, 5);
    act_ok(fx, "group.create", "{\"group\":1,\"members\":[1,2,3],\"slots\":[[0,4095,1]]}");
    assert_int_equal(act(fx, "group.create", "{\"group\":2}",
                         "{\"members\":[3,4,5],\"status\":\"ok\"}"),
                     0);
    act_ok(fx, "slots.assign", "{\"slots\":[[0,999,2]]}");
    act_ok(fx, "node.cordon", "{\"node\":4}");
    act_ok(fx, "job.start", "{\"job\":6,\"kind\":\"rebalance\",\"topology_hash\":\"" HASH_ZERO "\","
                            "\"moves\":[{\"from\":5,\"group\":2,\"kind\":\"replace\",\"step\":1,"
                            "\"to\":1}]}");
    act_ok(fx, "job.step", "{\"job\":6,\"step\":1,\"state\":\"running\",\"progress\":\"sync\"}");
    assert_int_equal(ctl_store_heartbeat(fx->store, 1, 1000, "{\"lag\":0}"), 0);
    assert_int_equal(ctl_store_heartbeat(fx->store, 2, 9000, "{\"groups\":[1],\"lag\":3}"), 0);
}

static void test_model_round_trip(void **state) {
    struct fx *fx = *state;
    cluster_medium(fx);
    static struct ctl_model expected;
    memset(&expected, 0, sizeof(expected));
    node_expect(&expected, fx, 1, "a", CTL_NODE_ACTIVE, false);
    node_expect(&expected, fx, 2, "b", CTL_NODE_ACTIVE, true);
    node_expect(&expected, fx, 3, "c", CTL_NODE_ACTIVE, false);
    node_expect(&expected, fx, 4, "a", CTL_NODE_CORDONED, false);
    node_expect(&expected, fx, 5, "b", CTL_NODE_ACTIVE, false);
    expected.group_count = 2;
    expected.groups[0] = (struct ctl_group){.id = 1, .members = {1, 2, 3}, .primary_node = 1};
    expected.groups[1] = (struct ctl_group){
        .id = 2,
        .members = {3, 4, 5},
        .primary_node = 3,
        .change = {.kind = CTL_CHANGE_REPLACE, .from_node = 5, .to_node = 1, .job_id = 6,
                   .step = 1}};
    for (uint32_t slot = 0; slot < CTL_SLOTS; slot++) {
        expected.slot_group[slot] = slot < 1000 ? 2 : 1;
    }
    // At t=10000 with a 5 s window, node 2 (9000) is live, node 1 (1000) is not.
    assert_int_equal(ctl_store_model_load(fx->store, &fx->model, 10000, 5000), 0);
    model_assert_equal(&fx->model, &expected);
    // At t=500 node 1's heartbeat (1000) lies ahead: live too.
    expected.nodes[0].live = true;
    assert_int_equal(ctl_store_model_load(fx->store, &fx->model, 500, 0), 0);
    model_assert_equal(&fx->model, &expected);
    // The model renders the latest stored body exactly.
    uint64_t version = 0;
    char hash[CTL_STORE_HASH_HEX_SIZE];
    char signature[CTL_STORE_SIGNATURE_HEX_SIZE];
    size_t size = 0;
    static char body[CTL_STORE_TOPOLOGY_SIZE_MAX];
    assert_int_equal(ctl_store_topology_latest(fx->store, &version, hash, body, sizeof(body), &size,
                                               signature),
                     0);
    size_t rendered = 0;
    assert_int_equal(ctl_store_topology_body("prod", &fx->model, version, fx->json,
                                             sizeof(fx->json), &rendered),
                     0);
    assert_string_equal(fx->json, body);
    // The same model after a reopen.
    store_reopen(fx);
    assert_int_equal(ctl_store_model_load(fx->store, &fx->model, 500, 0), 0);
    model_assert_equal(&fx->model, &expected);
}

static void test_heartbeat(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    nodes_add(fx, 2);
    char *before = db_dump(fx->path, true);
    assert_int_equal(ctl_store_heartbeat(fx->store, 3, 1, "{}"), TC_ENOENT);
    assert_int_equal(ctl_store_heartbeat(fx->store, 0, 1, "{}"), TC_ENOENT);
    assert_int_equal(ctl_store_heartbeat(fx->store, 1, 1, "[1]"), TC_EINVAL);
    assert_int_equal(ctl_store_heartbeat(fx->store, 1, 1, "{\"a\":"), TC_EINVAL);
    char *after = db_dump(fx->path, true);
    assert_string_equal(before, after);
    free(before);
    free(after);
    assert_int_equal(ctl_store_heartbeat(fx->store, 1, 100, "{\"v\":1}"), 0);
    assert_int_equal(ctl_store_heartbeat(fx->store, 1, 200, "{\"v\":2}"), 0);
    assert_int_equal(db_query(fx->path, "SELECT count(*) FROM node_status"), 1);
    assert_int_equal(db_query(fx->path, "SELECT heartbeat_ms FROM node_status WHERE node_id=1"),
                     200);
    // Observations are not chained: the head and the topology stay.
    uint64_t seq = 0;
    assert_int_equal(ctl_store_head_seq(fx->store, &seq), 0);
    assert_int_equal(seq, 3);
    assert_int_equal(topology_version(fx), 2);
    // The connection is back at synchronous=FULL for the next action.
    act_ok(fx, "node.cordon", "{\"node\":2}");
}

static void test_rejected_cap(void **state) {
    struct fx *fx = *state;
    struct ctl_store_rejected row;
    memset(&row, 0, sizeof(row));
    (void)snprintf(row.remote, sizeof(row.remote), "10.1.1.1:5555");
    (void)snprintf(row.action, sizeof(row.action), "node.cordon");
    (void)snprintf(row.reason, sizeof(row.reason), "bad_signature");
    const uint32_t total = CTL_STORE_REJECTED_KEEP + 5;
    for (uint32_t i = 1; i <= total; i++) {
        row.time_ms = i;
        (void)snprintf(row.actor, sizeof(row.actor), "actor-%u", i);
        assert_int_equal(ctl_store_rejected_add(fx->store, &row), 0);
    }
    assert_int_equal(db_query(fx->path, "SELECT count(*) FROM rejected"), CTL_STORE_REJECTED_KEEP);
    assert_int_equal(db_query(fx->path, "SELECT min(time_ms) FROM rejected"), 6); // 1..5 gone
    assert_int_equal(db_query(fx->path, "SELECT max(time_ms) FROM rejected"), total);
    struct ctl_store_rejected rows[3];
    uint32_t count = 0;
    assert_int_equal(ctl_store_rejected_list(fx->store, 0, rows, 3, &count), 0);
    assert_int_equal(count, 3);
    assert_int_equal(rows[0].time_ms, total);
    assert_string_equal(rows[0].actor, "actor-10005");
    assert_string_equal(rows[1].reason, "bad_signature");
    assert_int_equal(ctl_store_rejected_list(fx->store, rows[2].id, rows, 3, &count), 0);
    assert_int_equal(rows[0].time_ms, total - 3);
    struct ctl_store_status status;
    assert_int_equal(ctl_store_status_get(fx->store, 0, 0, &status), 0);
    assert_int_equal(status.rejected_rows, CTL_STORE_REJECTED_KEEP);
}

static cJSON *json_parse(const char *text) {
    cJSON *root = cJSON_Parse(text);
    assert_non_null(root);
    return root;
}

static void test_json_renderers(void **state) {
    struct fx *fx = *state;
    cluster_medium(fx);
    size_t size = 0;
    // Nodes, with liveness and the last heartbeat's status object.
    assert_int_equal(ctl_store_nodes_json(fx->store, 10000, 5000, fx->json, sizeof(fx->json),
                                          &size),
                     0);
    assert_int_equal(size, strlen(fx->json));
    cJSON *root = json_parse(fx->json);
    assert_int_equal(cJSON_GetArraySize(root), 5);
    const cJSON *node = cJSON_GetArrayItem(root, 1);
    assert_int_equal(cJSON_GetObjectItem(node, "id")->valueint, 2);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(node, "live")));
    assert_int_equal(cJSON_GetObjectItem(node, "heartbeat_ms")->valueint, 9000);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(node, "status"), "lag")->valueint, 3);
    node = cJSON_GetArrayItem(root, 3);
    assert_string_equal(cJSON_GetObjectItem(node, "state")->valuestring, "cordoned");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(node, "heartbeat_ms")));
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(node, "status")));
    cJSON_Delete(root);
    assert_int_equal(ctl_store_nodes_json(fx->store, 0, 0, fx->json, 64, &size), TC_ENOSPC);
    // Groups: slot counts, change, health (only node 2 is live at t=10000).
    assert_int_equal(ctl_store_groups_json(fx->store, 10000, 5000, fx->json, sizeof(fx->json),
                                           NULL),
                     0);
    root = json_parse(fx->json);
    const cJSON *group = cJSON_GetArrayItem(root, 1);
    assert_int_equal(cJSON_GetObjectItem(group, "slots")->valueint, 1000);
    assert_string_equal(cJSON_GetObjectItem(group, "health")->valuestring, "no_quorum");
    const cJSON *change = cJSON_GetObjectItem(group, "change");
    assert_string_equal(cJSON_GetObjectItem(change, "kind")->valuestring, "replace");
    assert_int_equal(cJSON_GetObjectItem(change, "job")->valueint, 6);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(root, 0), "change")));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(root, 0), "slots")->valueint, 3096);
    cJSON_Delete(root);
    assert_int_equal(ctl_store_groups_json(fx->store, 500, 0, fx->json, sizeof(fx->json), NULL), 0);
    root = json_parse(fx->json);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(root, 0), "health")->valuestring,
                        "degraded");
    cJSON_Delete(root);
}

static void test_json_jobs_and_keys(void **state) {
    struct fx *fx = *state;
    cluster_medium(fx);
    cJSON *root = NULL;
    // Jobs and one job with its moves.
    assert_int_equal(ctl_store_jobs_json(fx->store, fx->json, sizeof(fx->json), NULL), 0);
    root = json_parse(fx->json);
    assert_int_equal(cJSON_GetArraySize(root), 1);
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(root, 0), "moves")->valueint, 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(root, 0), "node")));
    cJSON_Delete(root);
    assert_int_equal(ctl_store_job_json(fx->store, 6, fx->json, sizeof(fx->json), NULL), 0);
    root = json_parse(fx->json);
    assert_string_equal(cJSON_GetObjectItem(root, "state")->valuestring, "running");
    const cJSON *move = cJSON_GetArrayItem(cJSON_GetObjectItem(root, "moves"), 0);
    assert_string_equal(cJSON_GetObjectItem(move, "progress")->valuestring, "sync");
    assert_string_equal(cJSON_GetObjectItem(move, "state")->valuestring, "running");
    cJSON_Delete(root);
    assert_int_equal(ctl_store_job_json(fx->store, 7, fx->json, sizeof(fx->json), NULL), TC_ENOENT);
    // Keys.
    assert_int_equal(ctl_store_keys_json(fx->store, fx->json, sizeof(fx->json), NULL), 0);
    root = json_parse(fx->json);
    assert_int_equal(cJSON_GetArraySize(root), 2);
    const cJSON *alice = cJSON_GetArrayItem(root, 0);
    if (strcmp(cJSON_GetObjectItem(alice, "name")->valuestring, "alice") != 0) {
        alice = cJSON_GetArrayItem(root, 1); // same added_seq: ordered by key
    }
    assert_string_equal(cJSON_GetObjectItem(alice, "name")->valuestring, "alice");
    assert_string_equal(cJSON_GetObjectItem(alice, "role")->valuestring, "admin");
    assert_string_equal(cJSON_GetObjectItem(alice, "public_key")->valuestring, fx->admin_hex);
    assert_int_equal(cJSON_GetObjectItem(alice, "added_seq")->valueint, 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(alice, "removed_seq")));
    cJSON_Delete(root);
    assert_int_equal(ctl_store_keys_json(fx->store, fx->json, 16, NULL), TC_ENOSPC);
}

static void test_status(void **state) {
    struct fx *fx = *state;
    cluster_medium(fx);
    struct ctl_store_status status;
    assert_int_equal(ctl_store_status_get(fx->store, 500, 0, &status), 0);
    assert_string_equal(status.cluster, "prod");
    assert_int_equal(status.slots, CTL_SLOTS);
    assert_int_equal(status.head_seq, fx->seq);
    assert_int_equal(status.topology_version, topology_version(fx));
    assert_int_equal(status.nodes_by_state[CTL_NODE_ACTIVE], 4);
    assert_int_equal(status.nodes_by_state[CTL_NODE_CORDONED], 1);
    assert_int_equal(status.nodes_live, 2);
    assert_int_equal(status.groups, 2);
    assert_int_equal(status.groups_healthy, 0);
    assert_int_equal(status.groups_degraded, 1);  // group 1: nodes 1, 2 live
    assert_int_equal(status.groups_no_quorum, 1); // group 2: none live
    assert_int_equal(status.jobs_running, 1);
    assert_int_equal(status.keys_active, 2);
    assert_int_equal(status.rejected_rows, 0);
}

// ------------------------------------------------------------------------------------------------
// C2 and crashes.

// Invariant C2: replaying the same entries onto an empty database yields the same rows.
static void test_replay_reproduces_tables(void **state) {
    struct fx *fx = *state;
    cluster_medium(fx);
    act_ok(fx, "job.step", "{\"job\":6,\"step\":1,\"state\":\"done\",\"group_epoch\":2}");
    act_ok(fx, "job.finish", "{\"job\":6,\"state\":\"succeeded\"}");
    assert_int_equal(act(fx, "node.cordon", "{\"node\":1}", REFUSED), 0);
    assert_int_equal(actf(fx, "key.add", OK,
                          "{\"public_key\":\"%s\",\"name\":\"x\",\"role\":\"viewer\"}",
                          fx->operator_hex),
                     0);
    char *original = db_dump(fx->path, false);
    // Copy the actions out, then replay them into a second database.
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(fx->path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *stmt = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT seq,time,actor,action,args,result,line_hash "
                                            "FROM actions ORDER BY seq", -1, &stmt, NULL),
                     SQLITE_OK);
    struct fx *replica = calloc(1, sizeof(*replica));
    assert_non_null(replica);
    memcpy(replica->dir, fx->dir, sizeof(fx->dir));
    (void)snprintf(replica->path, sizeof(replica->path), "%s/replica.db", fx->dir);
    replica->controller = fx->controller;
    assert_int_equal(store_open(replica), 0);
    uint64_t count = 0;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
        const struct ctl_store_action entry = {
            .seq = (uint64_t)sqlite3_column_int64(stmt, 0),
            .time = (const char *)sqlite3_column_text(stmt, 1),
            .actor = (const char *)sqlite3_column_text(stmt, 2),
            .action = (const char *)sqlite3_column_text(stmt, 3),
            .args = (const char *)sqlite3_column_text(stmt, 4),
            .result = (const char *)sqlite3_column_text(stmt, 5),
            .line_hash = (const char *)sqlite3_column_text(stmt, 6),
        };
        assert_int_equal(ctl_store_apply(replica->store, &entry), 0);
        count++;
    }
    assert_int_equal(count, fx->seq);
    assert_int_equal(sqlite3_finalize(stmt), SQLITE_OK);
    assert_int_equal(sqlite3_close(db), SQLITE_OK);
    ctl_store_close(replica->store);
    char *replayed = db_dump(replica->path, false);
    assert_string_equal(original, replayed);
    free(original);
    free(replayed);
    free(replica);
}

// A child applies entries and dies inside the fifth topology signature, i.e. inside the
// transaction of its fifth node.add, without closing anything. Every committed entry survives,
// the torn one left no trace, and applying it again (the controller's catch-up) works.
static void test_kill_mid_transaction(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    ctl_store_close(fx->store);
    fx->store = NULL;
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        fx->crash_at_sign = 5;
        if (store_open(fx) != 0) _exit(1);
        for (uint32_t id = 1; id <= 8; id++) {
            if (node_add(fx, id, "a") != 0) _exit(2);
        }
        _exit(3); // not reached: the fifth signature exits
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 42);
    assert_int_equal(store_open(fx), 0);
    uint64_t seq = 0;
    assert_int_equal(ctl_store_head_seq(fx->store, &seq), 0);
    assert_int_equal(seq, 5);
    model_load(fx);
    assert_int_equal(fx->model.node_count, 4);
    assert_int_equal(topology_version(fx), 4);
    assert_int_equal(db_query(fx->path, "SELECT count(*) FROM nodes WHERE id=5"), 0);
    topology_check_all(fx);
    fx->seq = seq;
    assert_int_equal(node_add(fx, 5, "a"), 0);
    assert_int_equal(topology_version(fx), 5);
}

// A child applies entries as fast as it can and reports each committed seq through a pipe; the
// parent kills it (SIGKILL) at some point. Every reported seq is in the database with its effects.
static void test_kill_signal(void **state) {
    struct fx *fx = *state;
    bootstrap(fx);
    assert_int_equal(node_add(fx, 1, "a"), 0);
    ctl_store_close(fx->store);
    fx->store = NULL;
    int pipe_fds[2];
    assert_int_equal(pipe(pipe_fds), 0);
    const pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        (void)close(pipe_fds[0]);
        if (store_open(fx) != 0) _exit(1);
        for (uint32_t i = 0;; i++) {
            char args[64];
            (void)snprintf(args, sizeof(args), "{\"node\":1,\"zone\":\"%s\"}", i % 2 ? "a" : "b");
            if (act(fx, "node.update", args, OK) != 0) _exit(2);
            if (write(pipe_fds[1], &fx->seq, sizeof(fx->seq)) != sizeof(fx->seq)) _exit(3);
        }
    }
    (void)close(pipe_fds[1]);
    uint64_t reported = 0;
    for (uint32_t i = 0; i < 25; i++) {
        assert_int_equal(read(pipe_fds[0], &reported, sizeof(reported)), sizeof(reported));
    }
    assert_int_equal(kill(pid, SIGKILL), 0);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    (void)close(pipe_fds[0]);
    assert_int_equal(store_open(fx), 0);
    uint64_t seq = 0;
    assert_int_equal(ctl_store_head_seq(fx->store, &seq), 0);
    assert_true(seq >= reported);
    assert_int_equal(db_query(fx->path, "SELECT count(*) FROM actions"), seq);
    // Entries 3.. alternate the zone b, a, b, ...: each one a topology version after node.add's.
    assert_int_equal(topology_version(fx), seq - 1);
    model_load(fx);
    assert_string_equal(fx->model.nodes[0].zone, seq % 2 == 1 ? "b" : "a");
    topology_check_all(fx);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        TEST(test_open_migrates_empty),
        TEST(test_open_refuses_memory_and_bad_path),
        TEST(test_reopen_keeps_data),
        TEST(test_newer_version_refused),
        TEST(test_old_database_backed_up),
        TEST(test_format),
        TEST(test_bootstrap_effects),
        TEST(test_action_before_bootstrap),
        TEST(test_node_effects),
        TEST(test_key_effects),
        TEST(test_group_and_slot_effects),
        TEST(test_job_effects),
        TEST(test_job_step_refusals),
        TEST(test_job_cancel),
        TEST(test_one_change_per_group),
        TEST(test_refused_result_writes_only_the_action),
        TEST(test_unknown_action_rolls_back),
        TEST(test_replay_and_gap),
        TEST(test_malformed_entries),
        TEST(test_constraints_write_nothing),
        TEST(test_topology_body_matches_doc),
        TEST(test_topology_versions),
        TEST(test_no_signer),
        TEST(test_model_round_trip),
        TEST(test_heartbeat),
        TEST(test_rejected_cap),
        TEST(test_json_renderers),
        TEST(test_json_jobs_and_keys),
        TEST(test_status),
        TEST(test_replay_reproduces_tables),
        TEST(test_kill_mid_transaction),
        TEST(test_kill_signal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
