// A consistent copy of the controller database (tigerchat-controller backup, docs/operations.md).
#include <sqlite3.h>
#include <stdio.h>

#include "ctl_store.h"
#include "tc_assert.h"
#include "tc_err.h"

int ctl_store_backup(const char *db_path, const char *out_path, char *error, uint32_t error_size) {
    tc_assert(db_path != NULL && out_path != NULL && error != NULL && error_size > 0);
    error[0] = '\0';
    sqlite3 *db = NULL;
    // Read-only: the running controller keeps writing; VACUUM INTO reads one snapshot (WAL) and
    // writes a new, compact database file, which it refuses to do over an existing file.
    int rc = sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK) rc = sqlite3_busy_timeout(db, 5000);
    char *sql = rc == SQLITE_OK ? sqlite3_mprintf("VACUUM INTO %Q", out_path) : NULL;
    if (rc == SQLITE_OK && sql == NULL) rc = SQLITE_NOMEM;
    if (rc == SQLITE_OK) rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        (void)snprintf(error, error_size, "%s: %s", db_path,
                       db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
    }
    sqlite3_free(sql);
    (void)sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : TC_EIO;
}
