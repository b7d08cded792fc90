#ifndef TC_STORE_INTERNAL_H
#define TC_STORE_INTERNAL_H

// Private to node/store: the store's memory layout, shared by store.c (append, flush, state,
// recovery, sync support) and store_read.c (history reads).

#include "store.h"
#include "store_format.h"

enum store_buffer_state {
    STORE_BUFFER_FREE = 0,
    STORE_BUFFER_OPEN = 1,   // the segment being appended to (exactly one)
    STORE_BUFFER_SEALED = 2, // complete; its write is in flight or pending
    STORE_BUFFER_SYNC = 3,   // lent to state sync
};

struct store_buffer {
    struct tc_store *store;
    uint8_t *bytes; // segment_size bytes
    uint8_t state;  // enum store_buffer_state
    bool writing;       // a write from this buffer is in flight (one at a time)
    bool write_pending; // sealed while a flush write was in flight: write when it lands
    uint64_t segment;
    uint32_t used;      // bytes of the segment filled (header, records, seal)
    uint32_t written;   // [0, written) is on storage with its current content
    uint32_t write_end; // end of the write in flight
    struct tc_io_storage_op io;
};

struct store_room {
    uint64_t run_segment; // segment of the latest run (valid when run_ordinal > 0)
    uint64_t run_ordinal; // runs so far
    uint64_t seq_last;    // last seq appended
    uint64_t floor_seq;   // retention ratchet: first readable seq (0: nothing removed)
    uint8_t retention_mode;
    uint64_t retention_value;
    struct store_pointer tower[TC_STORE_TOWER_LEVELS]; // seq_first 0: no run at this level yet
};

enum store_flush_stage { FLUSH_IDLE = 0, FLUSH_WAITING, FLUSH_SYNCING };

struct store_read;

struct tc_store {
    struct tc_store_options options;
    struct tc_room_sink sink;
    uint32_t buffer_count;
    uint32_t seals_per_batch_max; // free buffers an op may need
    struct store_buffer *buffers;
    struct store_buffer *open;

    struct tc_store_cursor cursor;
    struct tc_checksum chain;
    uint64_t op_applying; // the op whose messages are being appended (recorded in each record)
    uint32_t rooms_known; // rooms with state: indexes [0, rooms_known)
    struct store_room *rooms;

    // Flush (one at a time).
    uint8_t flush_stage;
    struct tc_store_cursor flush_target;
    tc_store_done_cb flush_callback;
    struct tc_io_storage_op flush_sync_io;
    // After each sealed segment lands, a sync of the zone (not needed for correctness: flushes
    // sync for S2) keeps the page cache from piling up tens of megabytes that the next flush
    // would push to the device at once (a latency spike for the journal's syncs).
    bool trickle_busy;
    struct tc_io_storage_op trickle_io;
    struct tc_checksum flush_chain;   // the chain at flush_target
    struct tc_store_cursor durable;   // [0, sector_floor(offset)) of its segment is on storage;
                                      // the rest of it travels in the checkpoint (the tail)
    struct tc_checksum durable_chain; // the chain at `durable`

    // Recovery.
    tc_store_done_cb recover_callback;
    struct tc_io_storage_op recover_io;

    // State sync support.
    tc_store_done_cb sync_callback;
    void *sync_context;
    struct tc_io_storage_op sync_io;

    struct store_read *reads;
};

// store.c helpers used by store_read.c.
uint64_t store_slot_offset(const struct tc_store *store, uint64_t segment);
struct store_buffer *store_buffer_of(struct tc_store *store, uint64_t segment);
void store_submit(struct tc_store *store, struct tc_io_storage_op *op, uint8_t kind,
                  uint64_t offset, uint8_t *buffer, uint32_t size, tc_io_storage_cb callback,
                  void *context);

// store_read.c.
uint64_t store_read_memory_size(const struct tc_store_options *options);
int store_read_init(struct tc_store *store, struct tc_arena *arena);
// The room's first readable seq proven by state alone, before a read refines it (keep_days).
uint64_t store_room_floor_state(const struct tc_store *store, uint32_t room_index,
                                uint64_t seq_last);

#endif
