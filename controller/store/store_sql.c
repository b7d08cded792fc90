// Statements, SQLite error mapping and transactions. Every sqlite3_* return code goes through
// here: binds record their first failure for the following step, steps map errors to TC_E* with
// SQLite's message copied into store->error.
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

static const char *const stmt_sql[STMT_COUNT] = {
#define STORE_STMT_SQL(name, sql) [name] = sql,
    STORE_STMT_TABLE(STORE_STMT_SQL)
#undef STORE_STMT_SQL
};

int store_fail(struct ctl_store *store, int code, const char *format, ...) {
    tc_assert(store != NULL);
    tc_assert(code < 0);
    va_list ap;
    va_start(ap, format);
    (void)vsnprintf(store->error, sizeof(store->error), format, ap);
    va_end(ap);
    return code;
}

int store_map_sqlite(int sqlite_rc) {
    tc_assert(sqlite_rc != SQLITE_OK && sqlite_rc != SQLITE_ROW && sqlite_rc != SQLITE_DONE);
    switch (sqlite_rc & 0xff) {
    case SQLITE_CONSTRAINT:
    case SQLITE_MISMATCH:
        return TC_EINVAL;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return TC_ECORRUPT;
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return TC_EBUSY;
    case SQLITE_NOMEM:
        return TC_ENOMEM;
    case SQLITE_TOOBIG:
        return TC_ETOOBIG;
    case SQLITE_MISUSE:
    case SQLITE_RANGE:
        tc_unreachable(); // a statement used out of order or a bad bind index: a bug here
    default:
        return TC_EIO; // IOERR, FULL, CANTOPEN, READONLY, PROTOCOL, ERROR, ...
    }
}

int store_sqlite_fail(struct ctl_store *store, int sqlite_rc, const char *what) {
    tc_assert(store != NULL && what != NULL);
    const int code = store_map_sqlite(sqlite_rc);
    const char *message = store->db != NULL ? sqlite3_errmsg(store->db) : sqlite3_errstr(sqlite_rc);
    // SQLite's message first: the statement may be long and is cut off at the buffer's end.
    return store_fail(store, code, "%s (sqlite %d) in: %s", message, sqlite_rc, what);
}

sqlite3_stmt *store_stmt(struct ctl_store *store, enum store_stmt id) {
    tc_assert((uint32_t)id < STMT_COUNT);
    tc_assert(store->stmts[id] != NULL);
    return store->stmts[id];
}

static void bind_result(struct ctl_store *store, int sqlite_rc, enum store_stmt id) {
    if (sqlite_rc == SQLITE_OK || store->bind_rc != 0) return;
    store->bind_rc = store_sqlite_fail(store, sqlite_rc, stmt_sql[id]);
}

void store_bind_i64(struct ctl_store *store, enum store_stmt id, int index, int64_t value) {
    tc_assert(index >= 1);
    bind_result(store, sqlite3_bind_int64(store_stmt(store, id), index, value), id);
}

void store_bind_u64(struct ctl_store *store, enum store_stmt id, int index, uint64_t value) {
    tc_assert(value <= (uint64_t)INT64_MAX); // every stored integer is below 2^53 or an id bound
    store_bind_i64(store, id, index, (int64_t)value);
}

void store_bind_text(struct ctl_store *store, enum store_stmt id, int index, const char *text) {
    tc_assert(index >= 1);
    sqlite3_stmt *stmt = store_stmt(store, id);
    // SQLITE_STATIC: every statement is reset before the bound text goes out of scope.
    const int rc = text == NULL ? sqlite3_bind_null(stmt, index)
                                : sqlite3_bind_text(stmt, index, text, -1, SQLITE_STATIC);
    bind_result(store, rc, id);
}

void store_reset(struct ctl_store *store, enum store_stmt id) {
    sqlite3_stmt *stmt = store_stmt(store, id);
    // reset repeats the last step's error, which the step already reported; clear_bindings
    // cannot fail (it returns SQLITE_OK unconditionally).
    (void)sqlite3_reset(stmt);
    const int rc = sqlite3_clear_bindings(stmt);
    tc_assert(rc == SQLITE_OK);
}

int store_step(struct ctl_store *store, enum store_stmt id) {
    if (store->bind_rc != 0) {
        const int rc = store->bind_rc;
        store->bind_rc = 0;
        store_reset(store, id);
        return rc;
    }
    const int rc = sqlite3_step(store_stmt(store, id));
    if (rc == SQLITE_ROW) return 1;
    int result = 0;
    if (rc != SQLITE_DONE) result = store_sqlite_fail(store, rc, stmt_sql[id]);
    store_reset(store, id);
    return result;
}

int store_exec(struct ctl_store *store, enum store_stmt id) {
    const int rc = store_step(store, id);
    if (rc == 1) {
        // PRAGMA synchronous=... returns no row; a statement used with exec never does.
        store_reset(store, id);
        tc_unreachable();
    }
    return rc;
}

int store_query_i64(struct ctl_store *store, enum store_stmt id, int64_t *value) {
    tc_assert(value != NULL);
    const int rc = store_step(store, id);
    if (rc < 0) return rc;
    tc_assert(rc == 1); // aggregate queries always yield one row
    *value = sqlite3_column_int64(store_stmt(store, id), 0);
    store_reset(store, id);
    return 0;
}

int store_column_text(struct ctl_store *store, enum store_stmt id, int column, char *out,
                      size_t capacity) {
    tc_assert(out != NULL && capacity > 0);
    sqlite3_stmt *stmt = store_stmt(store, id);
    const unsigned char *text = sqlite3_column_text(stmt, column);
    if (text == NULL) {
        if (sqlite3_errcode(store->db) == SQLITE_NOMEM) {
            return store_fail(store, TC_ENOMEM, "out of memory reading %s", stmt_sql[id]);
        }
        return store_fail(store, TC_ECORRUPT, "NULL text in column %d of %s", column, stmt_sql[id]);
    }
    const int bytes = sqlite3_column_bytes(stmt, column);
    tc_assert(bytes >= 0);
    if ((size_t)bytes >= capacity || strlen((const char *)text) != (size_t)bytes) {
        return store_fail(store, TC_ECORRUPT, "text of %d bytes in column %d does not fit %zu: %s",
                          bytes, column, capacity, stmt_sql[id]);
    }
    memcpy(out, text, (size_t)bytes + 1);
    return 0;
}

uint64_t store_column_u64(struct ctl_store *store, enum store_stmt id, int column) {
    const int64_t value = sqlite3_column_int64(store_stmt(store, id), column);
    tc_assert(value >= 0); // CHECKs and apply's validation keep every stored integer >= 0
    return (uint64_t)value;
}

int store_begin(struct ctl_store *store) {
    tc_assert(sqlite3_get_autocommit(store->db) != 0); // no nested transactions
    tc_assert(store->bind_rc == 0);                     // every bind is followed by its step
    if (store->broken) return store_fail(store, TC_EIO, "store broken by a failed rollback");
    return store_exec(store, STMT_BEGIN);
}

int store_read_begin(struct ctl_store *store, bool *started) {
    tc_assert(started != NULL);
    tc_assert(store->bind_rc == 0);
    *started = false;
    if (store->broken) return store_fail(store, TC_EIO, "store broken by a failed rollback");
    if (sqlite3_get_autocommit(store->db) == 0) return 0; // inside apply: its snapshot
    const int rc = store_exec(store, STMT_BEGIN_READ);
    *started = rc == 0;
    return rc;
}

int store_read_end(struct ctl_store *store, bool started, int rc) {
    if (!started) return rc;
    tc_assert(sqlite3_get_autocommit(store->db) == 0);
    if (rc != 0) {
        store_rollback(store); // keeps the message of rc
        return rc;
    }
    return store_commit(store); // a read-only transaction: commit only ends it
}

int store_commit(struct ctl_store *store) {
    tc_assert(sqlite3_get_autocommit(store->db) == 0);
    const int rc = store_exec(store, STMT_COMMIT);
    if (rc != 0) store_rollback(store);
    tc_assert(sqlite3_get_autocommit(store->db) != 0 || store->broken);
    return rc;
}

void store_rollback(struct ctl_store *store) {
    if (sqlite3_get_autocommit(store->db) != 0) return; // SQLite rolled back already
    char kept[CTL_STORE_ERROR_SIZE];
    memcpy(kept, store->error, sizeof(kept)); // the caller reports the original error
    const int rc = store_exec(store, STMT_ROLLBACK);
    if (rc != 0 || sqlite3_get_autocommit(store->db) == 0) store->broken = true;
    memcpy(store->error, kept, sizeof(kept));
}

int store_observe_begin(struct ctl_store *store) {
    if (store->broken) return store_fail(store, TC_EIO, "store broken by a failed rollback");
    int rc = store_exec(store, STMT_SYNC_NORMAL);
    if (rc == 0) rc = store_begin(store);
    if (rc != 0) {
        const int restore = store_exec(store, STMT_SYNC_FULL);
        if (restore != 0) store->broken = true; // never leave the connection at NORMAL
    }
    return rc;
}

int store_observe_end(struct ctl_store *store, int rc) {
    if (rc == 0) {
        rc = store_commit(store);
    } else {
        store_rollback(store);
    }
    const int restore = store_exec(store, STMT_SYNC_FULL);
    if (restore != 0) {
        store->broken = true; // never leave the connection at NORMAL
        if (rc == 0) rc = restore;
    }
    return rc;
}

int store_prepare_all(struct ctl_store *store) {
    for (uint32_t i = 0; i < STMT_COUNT; i++) {
        tc_assert(store->stmts[i] == NULL);
        const int rc = sqlite3_prepare_v3(store->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                          &store->stmts[i], NULL);
        if (rc != SQLITE_OK) return store_sqlite_fail(store, rc, stmt_sql[i]);
        tc_assert(store->stmts[i] != NULL);
    }
    return 0;
}

void store_finalize_all(struct ctl_store *store) {
    for (uint32_t i = 0; i < STMT_COUNT; i++) {
        // finalize repeats the last step's error, already reported by that step.
        (void)sqlite3_finalize(store->stmts[i]);
        store->stmts[i] = NULL;
    }
}
