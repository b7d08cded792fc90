// The storage of a VSR replica on real files: one tc_io_linux_storage per storage zone
// (tc_replica_storage_zones), dispatched by offset. Kept apart from storage.c so that programs
// using only the generic storage do not link the replica.
//
// Why one file per zone: fdatasync flushes every dirty page of its file. With one file, each
// journal sync (on the commit path) would also flush the message store's segment writes and the
// checkpoint areas' tens of megabytes; per-zone files keep the commit path's syncs small, and
// node/io.h lets a sync name its zone.

#include <stdio.h>
#include <string.h>

#include "io_linux.h"
#include "replica.h"
#include "tc_assert.h"
#include "tc_err.h"

_Static_assert(TC_IO_LINUX_REPLICA_ZONES == TC_REPLICA_STORAGE_ZONES, "one file per zone");

struct zone_format {
    const struct tc_replica_options *options;
    struct tc_storage_zone zone;
    tc_io_linux_format_write_fn write;
    void *write_context;
};

// tc_replica_format writes storage offsets: pass on the writes inside this zone, file-relative.
static void zone_format_write(void *context, uint64_t offset, const uint8_t *data, uint32_t size) {
    struct zone_format *format = context;
    const struct tc_storage_zone *zone = &format->zone;
    uint64_t end = offset + size;
    if (end <= zone->offset_bytes || offset >= zone->offset_bytes + zone->size_bytes) return;
    tc_assert(offset >= zone->offset_bytes);                     // no write straddles zones
    tc_assert(end <= zone->offset_bytes + zone->size_bytes);
    format->write(format->write_context, offset - zone->offset_bytes, data, size);
}

static void zone_format(void *format_context, tc_io_linux_format_write_fn write,
                        void *write_context) {
    struct zone_format *format = format_context;
    tc_assert(write != NULL);
    format->write = write;
    format->write_context = write_context;
    tc_replica_format(format->options, zone_format_write, format);
}

int tc_io_linux_replica_storage_open(struct tc_io_linux_replica_storage *storage, const char *path,
                                     const struct tc_replica_options *replica_options,
                                     bool create_if_missing, uint32_t threads_count) {
    tc_assert(path != NULL);
    tc_assert(replica_options != NULL);
    tc_assert(threads_count <= TC_IO_LINUX_STORAGE_THREADS_MAX);
    memset(storage, 0, sizeof(*storage));
    struct tc_storage_zone zones[TC_REPLICA_STORAGE_ZONES];
    tc_replica_storage_zones(replica_options, zones);
    for (uint32_t z = 0; z < TC_REPLICA_STORAGE_ZONES; z++) {
        char file[TC_IO_LINUX_PATH_SIZE_MAX];
        int length = snprintf(file, sizeof(file), "%s.%s", path, zones[z].name);
        if (length < 0 || (uint32_t)length >= sizeof(file)) {
            (void)snprintf(storage->error, sizeof(storage->error), "data path '%s' is too long",
                           path);
            tc_io_linux_replica_storage_close(storage);
            return TC_EINVAL;
        }
        struct zone_format format = {.options = replica_options, .zone = zones[z]};
        const struct tc_io_linux_storage_options options = {
            .path = file,
            .size_bytes = zones[z].size_bytes,
            .base_offset_bytes = zones[z].offset_bytes,
            .create_if_missing = create_if_missing,
            .threads_count = threads_count,
            .format = zone_format,
            .format_context = &format,
            // The journal is synced on every commit; the checkpoint areas and the store only at
            // checkpoints, after half a ring of ops: start their writeback as they are written.
            .writeback_early = z > 0,
        };
        int result = tc_io_linux_storage_open(&storage->files[z], &options);
        if (result != 0) {
            memcpy(storage->error, storage->files[z].error, sizeof(storage->error));
            tc_io_linux_replica_storage_close(storage);
            return result;
        }
        storage->zone_offsets[z] = zones[z].offset_bytes;
        storage->opened = z + 1;
    }
    return 0;
}

void tc_io_linux_replica_storage_close(struct tc_io_linux_replica_storage *storage) {
    tc_assert(storage->opened <= TC_IO_LINUX_REPLICA_ZONES);
    for (uint32_t z = 0; z < storage->opened; z++) tc_io_linux_storage_close(&storage->files[z]);
    storage->opened = 0;
}

static struct tc_io_linux_storage *zone_of(struct tc_io_linux_replica_storage *storage,
                                           uint64_t offset) {
    tc_assert(storage->opened == TC_IO_LINUX_REPLICA_ZONES);
    uint32_t zone = 0;
    for (uint32_t z = 1; z < TC_IO_LINUX_REPLICA_ZONES; z++) {
        if (offset >= storage->zone_offsets[z]) zone = z;
    }
    return &storage->files[zone];
}

void tc_io_linux_replica_storage_read(struct tc_io_linux_replica_storage *storage,
                                      struct tc_io_storage_op *op) {
    tc_io_linux_storage_read(zone_of(storage, op->offset_bytes), op);
}

void tc_io_linux_replica_storage_write(struct tc_io_linux_replica_storage *storage,
                                       struct tc_io_storage_op *op) {
    tc_io_linux_storage_write(zone_of(storage, op->offset_bytes), op);
}

void tc_io_linux_replica_storage_sync(struct tc_io_linux_replica_storage *storage,
                                      struct tc_io_storage_op *op) {
    tc_io_linux_storage_sync(zone_of(storage, op->offset_bytes), op);
}

uint32_t tc_io_linux_replica_storage_poll(struct tc_io_linux_replica_storage *storage) {
    uint32_t completions = 0;
    for (uint32_t z = 0; z < storage->opened; z++) {
        completions += tc_io_linux_storage_poll(&storage->files[z]);
    }
    return completions;
}

uint32_t tc_io_linux_replica_storage_inflight(struct tc_io_linux_replica_storage *storage) {
    uint32_t inflight = 0;
    for (uint32_t z = 0; z < storage->opened; z++) {
        inflight += tc_io_linux_storage_inflight(&storage->files[z]);
    }
    return inflight;
}

uint32_t tc_io_linux_replica_storage_event_fds(const struct tc_io_linux_replica_storage *storage,
                                               int *fds, uint32_t count) {
    tc_assert(count >= storage->opened);
    for (uint32_t z = 0; z < storage->opened; z++) {
        fds[z] = tc_io_linux_storage_event_fd(&storage->files[z]);
    }
    return storage->opened;
}

void tc_io_linux_replica_storage_stats_get(struct tc_io_linux_replica_storage *storage,
                                           struct tc_io_linux_storage_stats *stats) {
    memset(stats, 0, sizeof(*stats));
    for (uint32_t z = 0; z < storage->opened; z++) {
        struct tc_io_linux_storage_stats file;
        tc_io_linux_storage_stats_get(&storage->files[z], &file);
        stats->reads += file.reads;
        stats->writes += file.writes;
        stats->syncs += file.syncs;
        stats->errors += file.errors;
        stats->bytes_read += file.bytes_read;
        stats->bytes_written += file.bytes_written;
        stats->sync_ns_total += file.sync_ns_total;
        if (file.sync_ns_max > stats->sync_ns_max) stats->sync_ns_max = file.sync_ns_max;
        stats->syncs_coalesced += file.syncs_coalesced;
    }
}

const struct tc_histogram *tc_io_linux_replica_storage_sync_latency(
    const struct tc_io_linux_replica_storage *storage, uint32_t zone) {
    tc_assert(zone < TC_IO_LINUX_REPLICA_ZONES);
    tc_assert(storage->opened == TC_IO_LINUX_REPLICA_ZONES);
    return tc_io_linux_storage_sync_latency(&storage->files[zone]);
}
