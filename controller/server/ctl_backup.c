// tigerchat-controller backup --data-dir DIR --to DIR2 (docs/operations.md §11): a copy of a
// controller's state that a controller can start from, taken while it runs.
//
// Order matters: the database snapshot first, then the checkpoints, then the audit chain. The
// chain is then at least as long as the database (C2: a controller started on the copy applies
// the entries the database misses, docs/controller.md §3; a database ahead of its chain would be
// refused) and as every checkpoint (one naming a seq beyond the chain reads as truncation). A
// line being appended while a file is copied is cut at the last newline (the copy ends at a whole
// entry). Every file and the directory are fsynced; the key is copied with mode 0600.
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl_backup.h"
#include "ctl_store.h"
#include "tc_assert.h"
#include "tc_err.h"

#define BACKUP_CHUNK_BYTES (64u * 1024u)

static int backup_fail(char *error, uint32_t size, int rc, const char *what, const char *path) {
    (void)snprintf(error, size, "%s %s: %s", what, path, strerror(errno));
    return rc;
}

// Copies `from` into a new file `to` (mode), up to its last newline when `whole_lines`; fsyncs.
static int file_copy(const char *from, const char *to, mode_t mode, bool whole_lines,
                     uint64_t *copied, char *error, uint32_t error_size) {
    const int in = open(from, O_RDONLY | O_CLOEXEC);
    if (in < 0) return backup_fail(error, error_size, TC_EIO, "open", from);
    const int out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    if (out < 0) {
        (void)close(in);
        return backup_fail(error, error_size, TC_EIO, "create", to);
    }
    static char chunk[BACKUP_CHUNK_BYTES];
    uint64_t total = 0, line_end = 0;
    int rc = 0;
    for (;;) {
        const ssize_t got = read(in, chunk, sizeof(chunk));
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) rc = backup_fail(error, error_size, TC_EIO, "read", from);
        if (got <= 0) break;
        for (ssize_t i = got; i > 0; i--) {
            if (chunk[i - 1] == '\n') {
                line_end = total + (uint64_t)i;
                break;
            }
        }
        if (write(out, chunk, (size_t)got) != got) {
            rc = backup_fail(error, error_size, TC_EIO, "write", to);
            break;
        }
        total += (uint64_t)got;
    }
    const uint64_t keep = whole_lines ? line_end : total;
    if (rc == 0 && ftruncate(out, (off_t)keep) != 0) {
        rc = backup_fail(error, error_size, TC_EIO, "truncate", to);
    }
    if (rc == 0 && fsync(out) != 0) rc = backup_fail(error, error_size, TC_EIO, "fsync", to);
    (void)close(in);
    (void)close(out);
    *copied = keep;
    return rc;
}

static int path_sync(const char *path, int flags, char *error, uint32_t error_size) {
    const int fd = open(path, flags | O_CLOEXEC);
    if (fd < 0) return backup_fail(error, error_size, TC_EIO, "open", path);
    const int rc = fsync(fd) == 0 ? 0 : backup_fail(error, error_size, TC_EIO, "fsync", path);
    (void)close(fd);
    return rc;
}

// fsync of the directory holding `path` (after creating `path` in it).
static int path_sync_parent(const char *path, char *error, uint32_t error_size) {
    char parent[CTL_BACKUP_PATH_SIZE];
    (void)snprintf(parent, sizeof(parent), "%s", path);
    char *slash = strrchr(parent, '/');
    if (slash == NULL) (void)snprintf(parent, sizeof(parent), ".");
    else if (slash == parent) slash[1] = '\0';
    else *slash = '\0';
    return path_sync(parent, O_RDONLY | O_DIRECTORY, error, error_size);
}

int ctl_backup(const char *data_dir, const char *to_dir, struct ctl_backup_report *report,
               char *error, uint32_t error_size) {
    tc_assert(data_dir != NULL && to_dir != NULL && report != NULL && error != NULL);
    memset(report, 0, sizeof(*report));
    if (mkdir(to_dir, 0700) != 0) {
        return backup_fail(error, error_size, errno == EEXIST ? TC_EEXIST : TC_EIO,
                           "create directory (it must not exist)", to_dir);
    }
    char from[CTL_BACKUP_PATH_SIZE], to[CTL_BACKUP_PATH_SIZE];
    (void)snprintf(from, sizeof(from), "%s/controller.db", data_dir);
    (void)snprintf(to, sizeof(to), "%s/controller.db", to_dir);
    int rc = path_sync(to_dir, O_RDONLY | O_DIRECTORY, error, error_size); // the new directory
    if (rc == 0) rc = path_sync_parent(to_dir, error, error_size);              // its entry
    if (rc == 0) rc = ctl_store_backup(from, to, error, error_size);
    if (rc == 0) rc = path_sync(to, O_RDONLY, error, error_size); // VACUUM INTO does not sync
    if (rc == 0) {
        struct stat st;
        report->db_bytes = stat(to, &st) == 0 ? (uint64_t)st.st_size : 0;
    }
    static const struct {
        const char *name;
        mode_t mode;
        bool lines;
    } files[] = {
        {"audit-checkpoints.jsonl", 0640, true},
        {"audit.jsonl", 0640, true},
        {"controller.key", 0600, false},
        {"controller.key.pub", 0644, false},
    };
    for (uint32_t i = 0; i < sizeof(files) / sizeof(files[0]) && rc == 0; i++) {
        (void)snprintf(from, sizeof(from), "%s/%s", data_dir, files[i].name);
        (void)snprintf(to, sizeof(to), "%s/%s", to_dir, files[i].name);
        uint64_t copied = 0;
        rc = file_copy(from, to, files[i].mode, files[i].lines, &copied, error, error_size);
        if (i == 1) report->audit_bytes = copied;
    }
    if (rc == 0) rc = path_sync(to_dir, O_RDONLY | O_DIRECTORY, error, error_size);
    return rc;
}
