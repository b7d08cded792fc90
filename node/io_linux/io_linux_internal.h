#ifndef TC_IO_LINUX_INTERNAL_H
#define TC_IO_LINUX_INTERNAL_H

#include <stdint.h>

#include "io_linux.h"

// Private helpers shared by the io_linux translation units. errno values are translated to TC_E*
// codes only here (the rest of the project never sees errno).

// Maps an errno value to a TC_E* code (TC_EIO when nothing more specific fits).
int io_linux_errno_to_tc(int error_number);
// Writes "<what> '<path>': <strerror> (errno N)" into storage->error; returns the TC_E* code.
int io_linux_fail(struct tc_io_linux_storage *storage, int error_number, const char *what,
                  const char *path);
// Full-length positional I/O retrying short transfers and EINTR. Return 0 or an errno value
// (EIO for an unexpected end of file).
int io_linux_pread_all(int fd, uint8_t *buffer, uint32_t size, uint64_t offset);
int io_linux_pwrite_all(int fd, const uint8_t *buffer, uint32_t size, uint64_t offset);
// fdatasync, retried on EINTR. Returns 0 or an errno value.
int io_linux_fdatasync(int fd);
// Starts writeback of [offset, offset + size) without waiting for it (a hint, see
// tc_io_linux_storage_options.writeback_early). Blocks only while the device queue is full.
void io_linux_writeback_start(int fd, uint64_t offset, uint32_t size);

// Opens the file described by options (creating, preallocating and formatting it when allowed)
// and sets storage->fd. Returns 0 or a TC_E* code with storage->error filled.
int io_linux_file_open(struct tc_io_linux_storage *storage,
                       const struct tc_io_linux_storage_options *options);

#endif
