#ifndef TC_IO_H
#define TC_IO_H

#include <stdint.h>

// struct tc_io: everything the deterministic core (replica, journal, room state machine) may ask of
// the outside world. The core never calls the clock, rand, the network, the disk or malloc itself.
// node/io_linux implements this on epoll/sockets/files; sim/ implements it in memory with faults.
//
// Contract (enforced by the simulator):
//  - Storage operations are asynchronous: the callback never fires inside the call that submitted
//    it, and fires exactly once. On a crash, unsynced writes may be lost or torn (partially written
//    sectors).
//  - The storage is divided into zones, contiguous byte ranges the owner's layout defines (for a
//    replica: tc_replica_storage_zones: journal, checkpoint areas, message store), which the io may
//    keep in separate files. A sync names a zone by any offset inside it (offset_bytes) and makes
//    durable exactly the writes to that zone that completed before the sync was submitted; a write
//    is durable only after such a sync of its zone completes successfully.
//  - A read may complete with TC_EIO (latent sector error) or return corrupt bytes; the caller
//    verifies checksums. A write or sync failing is fatal for the replica (it stops: fail-stop).
//  - send_* copies the message before returning; the message may be dropped, delayed, duplicated or
//    reordered. Delivery is by calling the receiver's on_message with a buffer valid only during the
//    call.
//  - Ticks: the owner calls the core's tick function every TC_TICK_MS of its own (monotonic) time.
//  - realtime_ns is wall-clock time, used only by a primary to stamp prepares.

#define TC_TICK_MS 10u

struct tc_io;
struct tc_io_storage_op;

typedef void (*tc_io_storage_cb)(struct tc_io_storage_op *op, int result);

// Caller-owned request for one storage operation; must stay valid until its callback.
struct tc_io_storage_op {
    tc_io_storage_cb callback;
    void *context;          // for the caller
    uint64_t offset_bytes;  // into the replica's storage
    uint8_t *buffer;        // read into / write from
    uint32_t size_bytes;
    uint8_t kind;           // enum tc_io_storage_kind (set by the io)
    uint8_t reserved[3];
    struct tc_io_storage_op *next; // owned by the io while in flight
};

enum tc_io_storage_kind {
    TC_IO_STORAGE_READ = 1,
    TC_IO_STORAGE_WRITE = 2,
    TC_IO_STORAGE_SYNC = 3,
};

enum tc_log_level {
    TC_LOG_ERROR = 0,
    TC_LOG_WARN = 1,
    TC_LOG_INFO = 2,
    TC_LOG_DEBUG = 3,
};

struct tc_io_vtable {
    // Messages. `message` starts with a struct tc_header; its size is header->size.
    // `address` is a slot or a learner address (header.h); `epoch` is the configuration epoch in
    // which a slot address is resolved: the replica that was the slot's member in that epoch (the
    // sender's own epoch for its consensus messages, the asker's for an answer), or the slot's
    // newest replica once that one is stopped. TC_EPOCH_CURRENT: the newest epoch the io knows
    // (clients know no epochs).
    void (*send_to_replica)(struct tc_io *io, uint8_t address, uint32_t epoch,
                            const uint8_t *message);
    void (*send_to_client)(struct tc_io *io, uint64_t client, const uint8_t *message);
    // Storage of this replica: one linear byte space of storage_size_bytes (see journal layout).
    void (*storage_read)(struct tc_io *io, struct tc_io_storage_op *op);
    void (*storage_write)(struct tc_io *io, struct tc_io_storage_op *op);
    void (*storage_sync)(struct tc_io *io, struct tc_io_storage_op *op);
    // Wall clock in nanoseconds since the Unix epoch (may jump; the core never trusts it for order).
    uint64_t (*realtime_ns)(struct tc_io *io);
    // One log line (no trailing newline). The io prefixes time and identity.
    void (*log)(struct tc_io *io, enum tc_log_level level, const char *line);
};

struct tc_io {
    const struct tc_io_vtable *vtable;
    void *context;               // the implementation's state
    enum tc_log_level log_level; // lines above this level are not formatted at all
    uint8_t reserved[4];
};

#endif
