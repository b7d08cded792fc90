// The data file of one replica: open an existing file or create, preallocate, format and make a
// new one durable. Everything here runs once at start-up on the caller's thread (blocking is fine).
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io_linux_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

#define TC_IO_LINUX_FILE_MODE 0644

int io_linux_errno_to_tc(int error_number) {
    tc_assert(error_number > 0);
    switch (error_number) {
    case ENOENT:
    case ENOTDIR: return TC_ENOENT;
    case EACCES:
    case EPERM:
    case EROFS: return TC_EPERM;
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return TC_ENOSPC;
    case EEXIST: return TC_EEXIST;
    case EWOULDBLOCK: return TC_EBUSY;
    case EINVAL:
    case ENAMETOOLONG: return TC_EINVAL;
    default: return TC_EIO;
    }
}

int io_linux_fail(struct tc_io_linux_storage *storage, int error_number, const char *what,
                  const char *path) {
    tc_assert(error_number > 0);
    tc_assert(what != NULL);
    char text_buffer[256];
    // GNU strerror_r (_GNU_SOURCE): returns a pointer to the text, maybe not text_buffer.
    const char *text = strerror_r(error_number, text_buffer, sizeof(text_buffer));
    (void)snprintf(storage->error, sizeof(storage->error), "%s '%s': %s (errno %d)", what,
                   path, text, error_number);
    const int result = io_linux_errno_to_tc(error_number);
    tc_assert(result < 0);
    return result;
}

int io_linux_pread_all(int fd, uint8_t *buffer, uint32_t size, uint64_t offset) {
    tc_assert(fd >= 0);
    tc_assert(buffer != NULL);
    uint32_t done = 0;
    while (done < size) { // Each iteration makes progress, fails, or was interrupted (EINTR).
        const ssize_t count = pread(fd, buffer + done, size - done, (off_t)(offset + done));
        if (count < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (count == 0) return EIO; // End of file inside the preallocated size: treat as I/O error.
        tc_assert((uint64_t)count <= size - done);
        done += (uint32_t)count;
    }
    tc_assert(done == size);
    return 0;
}

int io_linux_pwrite_all(int fd, const uint8_t *buffer, uint32_t size, uint64_t offset) {
    tc_assert(fd >= 0);
    tc_assert(buffer != NULL);
    uint32_t done = 0;
    while (done < size) {
        const ssize_t count = pwrite(fd, buffer + done, size - done, (off_t)(offset + done));
        if (count < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (count == 0) return EIO; // No progress: never spin.
        tc_assert((uint64_t)count <= size - done);
        done += (uint32_t)count;
    }
    tc_assert(done == size);
    return 0;
}

int io_linux_fdatasync(int fd) {
    tc_assert(fd >= 0);
    for (uint32_t attempt = 0; attempt < 1000u; attempt++) {
        if (fdatasync(fd) == 0) return 0;
        if (errno != EINTR) return errno;
    }
    return EINTR;
}

void io_linux_writeback_start(int fd, uint64_t offset, uint32_t size) {
    tc_assert(fd >= 0);
    tc_assert(size > 0);
    // Errors are not lost by ignoring them here: a failed writeback marks the file's error state,
    // which the next fdatasync returns; that sync is what the caller's durability waits for.
    (void)sync_file_range(fd, (off_t)offset, (off_t)size, SYNC_FILE_RANGE_WRITE);
}

// Locks the whole file against a second opener (another process or another storage).
static int file_lock(struct tc_io_linux_storage *storage, int fd, const char *path) {
    tc_assert(fd >= 0);
    if (flock(fd, LOCK_EX | LOCK_NB) == 0) return 0;
    const int error_number = errno;
    if (error_number == EWOULDBLOCK) {
        (void)snprintf(storage->error, sizeof(storage->error),
                       "lock data file '%s': already in use by another replica or process", path);
        return TC_EBUSY;
    }
    return io_linux_fail(storage, error_number, "lock data file", path);
}

// fsync of the directory holding `path`, so that a created or renamed entry is durable.
static int file_sync_directory(struct tc_io_linux_storage *storage, const char *path) {
    char directory[TC_IO_LINUX_PATH_SIZE_MAX];
    tc_assert(strlen(path) < sizeof(directory));
    (void)snprintf(directory, sizeof(directory), "%s", path);
    char *slash = strrchr(directory, '/');
    if (slash == NULL) {
        (void)snprintf(directory, sizeof(directory), ".");
    } else if (slash == directory) {
        slash[1] = '\0'; // The root directory.
    } else {
        slash[0] = '\0';
    }
    const int fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return io_linux_fail(storage, errno, "open directory", directory);
    const int result = fsync(fd);
    const int error_number = errno;
    (void)close(fd);
    if (result != 0) return io_linux_fail(storage, error_number, "fsync directory", directory);
    return 0;
}

struct file_format_state {
    int fd;
    int error_number; // first error, latched
    uint64_t size_bytes;
    uint64_t bytes_written;
};

static void file_format_write(void *context, uint64_t offset, const uint8_t *data,
                              uint32_t size) {
    struct file_format_state *state = context;
    tc_assert(state->fd >= 0);
    tc_assert(data != NULL);
    tc_assert(offset <= state->size_bytes);
    tc_assert(size <= state->size_bytes - offset);
    if (state->error_number != 0) return;
    state->error_number = io_linux_pwrite_all(state->fd, data, size, offset);
    state->bytes_written += size;
}

// Preallocates and formats a new (empty) temporary file, then makes it durable.
static int file_prepare(struct tc_io_linux_storage *storage, int fd, const char *path,
                        const struct tc_io_linux_storage_options *options) {
    tc_assert(options->format != NULL);
    tc_assert(options->size_bytes > 0);
    const int allocate_error = posix_fallocate(fd, 0, (off_t)options->size_bytes);
    if (allocate_error != 0) {
        return io_linux_fail(storage, allocate_error, "preallocate data file", path);
    }
    struct file_format_state state = {.fd = fd, .size_bytes = options->size_bytes};
    options->format(options->format_context, file_format_write, &state);
    if (state.error_number != 0) {
        return io_linux_fail(storage, state.error_number, "format data file", path);
    }
    const int sync_error = io_linux_fdatasync(fd);
    if (sync_error != 0) return io_linux_fail(storage, sync_error, "fdatasync data file", path);
    if (fsync(fd) != 0) return io_linux_fail(storage, errno, "fsync data file", path);
    struct stat status;
    if (fstat(fd, &status) != 0) return io_linux_fail(storage, errno, "stat data file", path);
    tc_assert((uint64_t)status.st_size == options->size_bytes);
    return 0;
}

// Builds "<path>.tmp", then links it to `path` (never replacing an existing file) and makes the
// directory entry durable. On success storage->fd is the new, locked, formatted file.
static int file_create(struct tc_io_linux_storage *storage,
                       const struct tc_io_linux_storage_options *options) {
    const char *path = options->path;
    char path_temporary[TC_IO_LINUX_PATH_SIZE_MAX + 8];
    (void)snprintf(path_temporary, sizeof(path_temporary), "%s.tmp", path);
    const int fd = open(path_temporary, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC,
                        TC_IO_LINUX_FILE_MODE);
    if (fd < 0) return io_linux_fail(storage, errno, "create data file", path_temporary);
    int result = file_lock(storage, fd, path_temporary);
    const bool locked = result == 0; // Else another creator owns the temporary file.
    if (result == 0) result = file_prepare(storage, fd, path_temporary, options);
    if (result == 0 && link(path_temporary, path) != 0) {
        result = io_linux_fail(storage, errno, "link new data file to", path);
    }
    if (locked) (void)unlink(path_temporary); // Linked into place, or a failed attempt.
    if (result == 0) result = file_sync_directory(storage, path);
    if (result != 0) {
        (void)close(fd);
        return result;
    }
    storage->fd = fd;
    return 0;
}

// Opens an existing file: locked, a regular file, exactly the expected size.
static int file_open_existing(struct tc_io_linux_storage *storage, int fd,
                              const struct tc_io_linux_storage_options *options) {
    tc_assert(fd >= 0);
    int result = file_lock(storage, fd, options->path);
    if (result != 0) return result;
    struct stat status;
    if (fstat(fd, &status) != 0) return io_linux_fail(storage, errno, "stat data file",
                                                      options->path);
    if (!S_ISREG(status.st_mode)) {
        (void)snprintf(storage->error, sizeof(storage->error),
                       "data file '%s' is not a regular file", options->path);
        return TC_EINVAL;
    }
    if ((uint64_t)status.st_size != options->size_bytes) {
        (void)snprintf(storage->error, sizeof(storage->error),
                       "data file '%s' has %lld bytes, expected %llu (other journal size?)",
                       options->path, (long long)status.st_size,
                       (unsigned long long)options->size_bytes);
        return TC_EINVAL;
    }
    storage->fd = fd;
    return 0;
}

int io_linux_file_open(struct tc_io_linux_storage *storage,
                       const struct tc_io_linux_storage_options *options) {
    tc_assert(storage->fd == -1);
    tc_assert(options->path != NULL);
    const int fd = open(options->path, O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        const int result = file_open_existing(storage, fd, options);
        if (result != 0) (void)close(fd);
        return result;
    }
    const int error_number = errno;
    if (error_number != ENOENT || !options->create_if_missing) {
        return io_linux_fail(storage, error_number, "open data file", options->path);
    }
    const int result = file_create(storage, options);
    tc_assert(result != 0 || storage->fd >= 0);
    return result;
}
