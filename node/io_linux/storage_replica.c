// Opens the data file of a VSR replica: size and format come from the replica module. Kept apart
// from storage.c so that programs using only the generic storage do not link the replica.
#include <stddef.h>

#include "io_linux.h"
#include "replica.h"
#include "tc_assert.h"

static void storage_replica_format(void *format_context, tc_io_linux_format_write_fn write,
                                   void *write_context) {
    const struct tc_replica_options *options = format_context;
    tc_assert(options != NULL);
    tc_assert(write != NULL);
    tc_replica_format(options, write, write_context);
}

int tc_io_linux_storage_open_replica(struct tc_io_linux_storage *storage, const char *path,
                                     const struct tc_replica_options *replica_options,
                                     bool create_if_missing, uint32_t threads_count) {
    tc_assert(path != NULL);
    tc_assert(replica_options != NULL);
    tc_assert(threads_count <= TC_IO_LINUX_STORAGE_THREADS_MAX);
    const uint64_t size_bytes = tc_replica_storage_size(replica_options);
    tc_assert(size_bytes > 0);
    const struct tc_io_linux_storage_options options = {
        .path = path,
        .size_bytes = size_bytes,
        .create_if_missing = create_if_missing,
        .threads_count = threads_count,
        .format = storage_replica_format,
        // The format callback only reads the options.
        .format_context = (void *)(uintptr_t)replica_options,
    };
    return tc_io_linux_storage_open(storage, &options);
}
