// Opening: the connection, its pragmas (each verified), migrations with a backup of an older
// database, the prepared statements; closing; format.
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

#define BUSY_TIMEOUT_MS_DEFAULT 5000u

// Runs SQL that returns no rows (pragma settings, scripts, transaction control).
static int open_exec(struct ctl_store *store, const char *sql) {
    tc_assert(store->db != NULL && sql != NULL);
    const int rc = sqlite3_exec(store->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) return store_sqlite_fail(store, rc, sql);
    return 0;
}

// Runs SQL whose first row's first column is text (a pragma query); TC_ENOENT if there is no row.
static int open_query(struct ctl_store *store, const char *sql, char *out, size_t capacity) {
    tc_assert(out != NULL && capacity > 0);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) return store_sqlite_fail(store, rc, sql);
    int result = 0;
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(stmt, 0);
        if (text == NULL || strlen((const char *)text) >= capacity) {
            result = store_fail(store, TC_EIO, "%s: unexpected answer", sql);
        } else {
            memcpy(out, text, strlen((const char *)text) + 1);
        }
    } else if (rc == SQLITE_DONE) {
        result = store_fail(store, TC_ENOENT, "%s: no answer", sql);
    } else {
        result = store_sqlite_fail(store, rc, sql);
    }
    (void)sqlite3_finalize(stmt); // repeats the step's error, handled above
    return result;
}

static int open_query_i64(struct ctl_store *store, const char *sql, int64_t *value) {
    char text[32];
    const int rc = open_query(store, sql, text, sizeof(text));
    if (rc != 0) return rc;
    char *end = NULL;
    errno = 0;
    const long long parsed = strtoll(text, &end, 10);
    if (errno != 0 || end == text || *end != '\0') {
        return store_fail(store, TC_EIO, "%s: not an integer: %s", sql, text);
    }
    *value = (int64_t)parsed;
    return 0;
}

static int open_connection(struct ctl_store *store, const char *path) {
    const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path, &store->db, flags, NULL);
    if (rc != SQLITE_OK) {
        if (store->db == NULL) return store_fail(store, TC_ENOMEM, "sqlite3_open_v2: no memory");
        return store_sqlite_fail(store, rc, path);
    }
    rc = sqlite3_extended_result_codes(store->db, 1);
    if (rc != SQLITE_OK) return store_sqlite_fail(store, rc, "sqlite3_extended_result_codes");
    tc_assert(store->options.busy_timeout_ms <= INT32_MAX);
    rc = sqlite3_busy_timeout(store->db, (int)store->options.busy_timeout_ms);
    if (rc != SQLITE_OK) return store_sqlite_fail(store, rc, "sqlite3_busy_timeout");
    return 0;
}

// WAL, synchronous=FULL, foreign keys on: each setting read back (a pragma SQLite does not know
// or cannot apply is silently ignored, e.g. WAL on ":memory:").
static int open_pragmas(struct ctl_store *store) {
    char answer[32];
    int rc = open_query(store, "PRAGMA journal_mode=WAL", answer, sizeof(answer));
    if (rc == 0 && strcmp(answer, "wal") != 0) {
        rc = store_fail(store, TC_EIO, "journal_mode is %s, not wal (a file path is required)",
                        answer);
    }
    if (rc == 0) rc = open_exec(store, "PRAGMA synchronous=FULL");
    if (rc == 0) rc = open_query(store, "PRAGMA synchronous", answer, sizeof(answer));
    if (rc == 0 && strcmp(answer, "2") != 0) {
        rc = store_fail(store, TC_EIO, "synchronous is %s, not 2 (FULL)", answer);
    }
    if (rc == 0) rc = open_exec(store, "PRAGMA foreign_keys=ON");
    if (rc == 0) rc = open_query(store, "PRAGMA foreign_keys", answer, sizeof(answer));
    if (rc == 0 && strcmp(answer, "1") != 0) {
        rc = store_fail(store, TC_EIO, "foreign_keys is %s, not 1", answer);
    }
    if (rc == 0) rc = open_query(store, "PRAGMA quick_check", answer, sizeof(answer));
    if (rc == 0 && strcmp(answer, "ok") != 0) {
        rc = store_fail(store, TC_ECORRUPT, "quick_check: %s", answer);
    }
    return rc;
}

static int fsync_path(struct ctl_store *store, const char *path, int flags) {
    const int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) return store_fail(store, TC_EIO, "open %s: %s", path, strerror(errno));
    int rc = 0;
    if (fsync(fd) != 0) rc = store_fail(store, TC_EIO, "fsync %s: %s", path, strerror(errno));
    (void)close(fd); // read-only descriptor: nothing left to flush
    return rc;
}

// The directory holding path ("." for a bare file name), synced after a rename into it.
static int fsync_parent(struct ctl_store *store, const char *path) {
    char dir[PATH_MAX];
    const char *slash = strrchr(path, '/');
    if (slash == NULL) return fsync_path(store, ".", O_RDONLY | O_DIRECTORY);
    const size_t size = slash == path ? 1 : (size_t)(slash - path);
    tc_assert(size < sizeof(dir)); // path itself fit PATH_MAX
    memcpy(dir, path, size);
    dir[size] = '\0';
    return fsync_path(store, dir, O_RDONLY | O_DIRECTORY);
}

// VACUUM INTO "<path>.bak-v<version>" through a temporary name, synced and renamed: a crash
// leaves either the previous backup or the complete new one.
static int open_backup(struct ctl_store *store, const char *path, int64_t version) {
    char backup[PATH_MAX];
    char temporary[PATH_MAX];
    const int size = snprintf(backup, sizeof(backup), "%s.bak-v%" PRId64, path, version);
    const int temporary_size = snprintf(temporary, sizeof(temporary), "%s.tmp", backup);
    if (size < 0 || temporary_size < 0 || (size_t)temporary_size >= sizeof(temporary)) {
        return store_fail(store, TC_ETOOBIG, "backup path too long: %s", path);
    }
    if (unlink(temporary) != 0 && errno != ENOENT) {
        return store_fail(store, TC_EIO, "unlink %s: %s", temporary, strerror(errno));
    }
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2(store->db, "VACUUM INTO ?1", -1, &stmt, NULL);
    if (rc != SQLITE_OK) return store_sqlite_fail(store, rc, "VACUUM INTO");
    rc = sqlite3_bind_text(stmt, 1, temporary, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK) rc = sqlite3_step(stmt);
    int result = rc == SQLITE_DONE ? 0 : store_sqlite_fail(store, rc, "VACUUM INTO");
    (void)sqlite3_finalize(stmt); // repeats the step's error, handled above
    if (result == 0) result = fsync_path(store, temporary, O_RDONLY);
    if (result == 0 && rename(temporary, backup) != 0) {
        result = store_fail(store, TC_EIO, "rename %s: %s", temporary, strerror(errno));
    }
    if (result == 0) result = fsync_parent(store, backup);
    return result;
}

// One migration in one transaction; user_version is re-read inside it, so two processes opening
// the same old database cannot both run a migration.
static int open_migrate_one(struct ctl_store *store, uint32_t from_version) {
    tc_assert(from_version < CTL_STORE_SCHEMA_VERSION);
    int rc = open_exec(store, "BEGIN IMMEDIATE");
    if (rc != 0) return rc;
    int64_t version = -1;
    rc = open_query_i64(store, "PRAGMA user_version", &version);
    if (rc == 0 && version != (int64_t)from_version) {
        rc = store_fail(store, TC_EBUSY, "user_version moved to %" PRId64 " while migrating",
                        version);
    }
    if (rc == 0) rc = open_exec(store, store_migration(from_version));
    char sql[64];
    (void)snprintf(sql, sizeof(sql), "PRAGMA user_version=%u", from_version + 1);
    if (rc == 0) rc = open_exec(store, sql);
    if (rc == 0) {
        char table[64]; // the first row names a table with a violation; no row: none
        const int check = open_query(store, "PRAGMA foreign_key_check", table, sizeof(table));
        if (check == 0) {
            rc = store_fail(store, TC_EINVAL, "migration broke a foreign key in %s", table);
        } else if (check != TC_ENOENT) {
            rc = check;
        } else {
            store->error[0] = '\0';
        }
    }
    if (rc == 0) rc = open_exec(store, "COMMIT");
    if (rc != 0 && sqlite3_get_autocommit(store->db) == 0) {
        const int rollback = sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        if (rollback != SQLITE_OK) store->broken = true;
    }
    return rc;
}

// A database newer than this binary is refused before anything (even the journal mode) changes.
static int open_version(struct ctl_store *store, int64_t *version) {
    const int rc = open_query_i64(store, "PRAGMA user_version", version);
    if (rc != 0) return rc;
    if (*version < 0 || *version > (int64_t)CTL_STORE_SCHEMA_VERSION) {
        return store_fail(store, TC_ERANGE,
                          "database schema version %" PRId64 " is newer than this binary's %u",
                          *version, CTL_STORE_SCHEMA_VERSION);
    }
    return 0;
}

static int open_migrate(struct ctl_store *store, const char *path, int64_t version) {
    tc_assert(version >= 0 && version <= (int64_t)CTL_STORE_SCHEMA_VERSION);
    if (version == (int64_t)CTL_STORE_SCHEMA_VERSION) return 0;
    int64_t objects = 0;
    int rc = open_query_i64(store, "SELECT count(*) FROM sqlite_schema", &objects);
    if (rc == 0 && objects > 0) rc = open_backup(store, path, version);
    for (uint32_t v = (uint32_t)version; rc == 0 && v < CTL_STORE_SCHEMA_VERSION; v++) {
        rc = open_migrate_one(store, v);
    }
    return rc;
}

int ctl_store_open(struct ctl_store **out, const char *path,
                   const struct ctl_store_options *options, char *error, size_t error_size) {
    tc_assert(out != NULL && path != NULL);
    tc_assert(error != NULL || error_size == 0);
    *out = NULL;
    if (error_size > 0) error[0] = '\0';
    struct ctl_store *store = calloc(1, sizeof(*store));
    if (store == NULL) {
        if (error_size > 0) (void)snprintf(error, error_size, "out of memory");
        return TC_ENOMEM;
    }
    if (options != NULL) store->options = *options;
    if (store->options.busy_timeout_ms == 0) {
        store->options.busy_timeout_ms = BUSY_TIMEOUT_MS_DEFAULT;
    }
    int64_t version = -1;
    int rc = open_connection(store, path);
    if (rc == 0) rc = open_version(store, &version);
    if (rc == 0) rc = open_pragmas(store);
    if (rc == 0) rc = open_migrate(store, path, version);
    if (rc == 0) rc = store_prepare_all(store);
    if (rc != 0) {
        if (error_size > 0) (void)snprintf(error, error_size, "%s", store->error);
        ctl_store_close(store);
        return rc;
    }
    tc_assert(sqlite3_get_autocommit(store->db) != 0);
    store->error[0] = '\0';
    *out = store;
    return 0;
}

void ctl_store_close(struct ctl_store *store) {
    if (store == NULL) return;
    store_finalize_all(store);
    if (store->db != NULL) {
        // Only unfinalized statements make close fail (SQLITE_BUSY): a bug here, not an I/O error.
        const int rc = sqlite3_close(store->db);
        tc_assert(rc == SQLITE_OK);
    }
    free(store);
}

const char *ctl_store_error(const struct ctl_store *store) {
    tc_assert(store != NULL);
    return store->error;
}

int ctl_store_format(struct ctl_store *store, const char *cluster_name,
                     const char *controller_key_hex, uint32_t slots) {
    tc_assert(store != NULL);
    if (!store_text_plain(cluster_name, 1, CTL_STORE_NAME_SIZE_MAX)) {
        return store_fail(store, TC_EINVAL, "format: bad cluster name");
    }
    if (!store_hex64(controller_key_hex, true)) {
        return store_fail(store, TC_EINVAL, "format: bad controller key");
    }
    if (slots == 0 || slots > CTL_SLOTS) {
        return store_fail(store, TC_EINVAL, "format: slots %u not in 1..%u", slots, CTL_SLOTS);
    }
    int rc = store_begin(store);
    if (rc != 0) return rc;
    rc = store_step(store, STMT_CLUSTER_GET);
    if (rc == 1) {
        store_reset(store, STMT_CLUSTER_GET);
        rc = store_fail(store, TC_EEXIST, "format: the cluster row exists");
    }
    if (rc == 0) {
        store_bind_text(store, STMT_CLUSTER_INSERT, 1, cluster_name);
        store_bind_text(store, STMT_CLUSTER_INSERT, 2, controller_key_hex);
        store_bind_u64(store, STMT_CLUSTER_INSERT, 3, slots);
        rc = store_exec(store, STMT_CLUSTER_INSERT);
    }
    if (rc == 0) return store_commit(store);
    store_rollback(store);
    return rc;
}
