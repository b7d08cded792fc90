// File helpers of the audit library: the only place errno becomes a TC_E* code.
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <unistd.h>

#include "audit_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

int audit_errno_to_tc(int error_number) {
    switch (error_number) {
    case 0: return TC_EIO; // a failure without errno is still a failure
    case ENOENT:
    case ENOTDIR: return TC_ENOENT;
    case EEXIST: return TC_EEXIST;
    case EACCES:
    case EPERM:
    case EROFS: return TC_EPERM;
    case ENOSPC:
    case EDQUOT: return TC_ENOSPC;
    case ENAMETOOLONG:
    case EFBIG: return TC_ETOOBIG;
    case ENOMEM: return TC_ENOMEM;
    case EWOULDBLOCK: return TC_EBUSY;
    default: return TC_EIO;
    }
}

int audit_write_all(int fd, const void *data, size_t size) {
    tc_assert(fd >= 0);
    tc_assert(data != NULL || size == 0);
    const char *bytes = data;
    size_t done = 0;
    while (done < size) {
        const ssize_t written = write(fd, bytes + done, size - done);
        if (written < 0) {
            if (errno == EINTR) continue;
            return audit_errno_to_tc(errno);
        }
        tc_assert((size_t)written <= size - done);
        if (written == 0) return TC_EIO;
        done += (size_t)written;
    }
    return 0;
}

int64_t audit_pread_full(int fd, void *data, size_t size, uint64_t offset) {
    tc_assert(fd >= 0);
    tc_assert(size <= INT64_MAX);
    char *bytes = data;
    size_t done = 0;
    while (done < size) {
        const ssize_t got = pread(fd, bytes + done, size - done, (off_t)(offset + done));
        if (got < 0) {
            if (errno == EINTR) continue;
            return audit_errno_to_tc(errno);
        }
        if (got == 0) break;
        done += (size_t)got;
    }
    tc_assert(done <= size);
    return (int64_t)done;
}

int audit_fsync_parent_dir(const char *path) {
    tc_assert(path != NULL);
    char dir[PATH_MAX];
    const size_t size = strnlen(path, sizeof(dir));
    if (size == sizeof(dir)) return TC_ETOOBIG;
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        memcpy(dir, ".", 2);
    } else if (slash == path) {
        memcpy(dir, "/", 2);
    } else {
        const size_t dir_size = (size_t)(slash - path);
        memcpy(dir, path, dir_size);
        dir[dir_size] = '\0';
    }
    const int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return audit_errno_to_tc(errno);
    const int rc = fsync(fd) == 0 ? 0 : audit_errno_to_tc(errno);
    (void)close(fd);
    return rc;
}
