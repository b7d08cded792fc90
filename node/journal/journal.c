#include "journal.h"

#include <stdio.h>
#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"

// Stages of one prepare write: prepare slot -> redundant header -> sync.
// A prepare is written, synced, and only then is its redundant header written and synced: so a
// redundant header naming a prepare proves that prepare was durable (maybe acknowledged), and a
// torn prepare write always leaves the old header behind (never acknowledged: a safe nack).
// *_sync_wait: written, waiting for the next group sync; *_sync: covered by the sync in flight.
// One fdatasync makes every write that completed before it durable (group commit).
enum write_stage {
    write_free = 0,
    write_prepare,
    write_prepare_sync_wait,
    write_prepare_sync,
    write_header,
    write_header_sync_wait,
    write_header_sync,
};
enum read_stage { read_free = 0, read_first_sector, read_rest };
// A checkpoint write: area bytes -> sync -> superblock naming them (coalesced with view writes).
#define JOURNAL_CHECKPOINT_CHUNK_SIZE (1u << 20)
enum checkpoint_stage { checkpoint_idle = 0, checkpoint_write, checkpoint_sync, checkpoint_superblock };
enum recover_stage {
    recover_idle = 0,
    recover_superblock,
    recover_superblock_repair,
    recover_checkpoint,
    recover_header_ring,
    recover_slots,
    recover_sync,
    recover_done,
};

struct journal_write {
    struct tc_io_storage_op io_op;
    struct tc_journal *journal;
    uint8_t *buffer; // TC_MESSAGE_SIZE_MAX: the journal owns a copy of the prepare while writing
    uint64_t op;
    struct tc_checksum checksum;
    enum write_stage stage;
    _Alignas(64) struct tc_header header_copy; // redundant header written to the header ring
};

struct journal_read {
    struct tc_io_storage_op io_op;
    struct tc_journal *journal;
    uint8_t *buffer;
    uint64_t op;
    struct tc_checksum checksum;
    enum read_stage stage;
};

struct tc_journal {
    struct tc_journal_options options;
    struct tc_journal_layout layout;
    struct tc_header *headers; // [slot_count]: the log's entry per slot (reserved when EMPTY)
    uint8_t *states;           // [slot_count]: enum tc_slot_state
    uint8_t *writing;          // [slot_count]: writes in flight to this slot (0 or 1)
    uint8_t *corrupt;          // [slot_count]: this version was durable here once (maybe acked)
                               // and is damaged now: a do_view_change must never nack it
    uint32_t faulty_count;

    struct journal_write writes[TC_JOURNAL_WRITES_MAX];
    struct tc_io_storage_op sync_op; // the group sync
    bool sync_in_flight;
    struct journal_read reads[TC_JOURNAL_READS_MAX];

    // Superblock.
    uint8_t *superblock_copies; // [TC_SUPERBLOCK_COPIES * TC_SECTOR_SIZE]
    struct tc_superblock durable;   // newest durable state
    struct tc_superblock desired;   // newest requested state
    struct tc_superblock in_flight; // state being written
    bool superblock_pending;        // desired differs from what is durable / in flight
    bool superblock_writing;
    bool superblock_copies_agree;
    const char *superblock_copy_invalid[TC_SUPERBLOCK_COPIES]; // why each copy was rejected   // found at recovery: every copy valid with the same sequence
    uint32_t superblock_stage;      // 2 x copy + (0 write, 1 sync)
    uint32_t superblock_ios_pending;
    struct tc_io_storage_op superblock_ops[TC_SUPERBLOCK_COPIES];

    // Checkpoint.
    uint8_t *checkpoint_buffer; // checkpoint_size_max bytes (at least a sector)
    enum checkpoint_stage checkpoint_stage;
    struct tc_io_storage_op checkpoint_io;
    struct tc_header checkpoint_header; // of the checkpoint being written
    uint64_t checkpoint_size;
    struct tc_journal_epoch epoch_next; // what superblock writes persist (tc_journal_set_epoch)
    uint64_t checkpoint_written; // bytes of the area written and synced so far
    struct tc_checksum_state checkpoint_hash; // the id, computed chunk by chunk
    uint32_t checkpoint_area;
    const char *recover_error; // why recovery failed beyond the superblock copies, or NULL

    // Recovery.
    enum recover_stage recover_stage;
    uint32_t recover_index;
    uint64_t recovered_op_max;
    struct tc_io_storage_op recover_op;
    uint8_t *recover_buffer; // TC_MESSAGE_SIZE_MAX
};

static uint64_t slot_of(const struct tc_journal *journal, uint64_t op) {
    return op % journal->layout.slot_count;
}

static uint64_t checkpoint_buffer_size(uint64_t checkpoint_size_max) {
    return tc_align_up(checkpoint_size_max > 0 ? checkpoint_size_max : 1, TC_SECTOR_SIZE);
}

void tc_journal_layout_init(struct tc_journal_layout *layout, uint32_t slot_count,
                            uint64_t checkpoint_size_max) {
    tc_assert(tc_is_power_of_two(slot_count));
    tc_assert(slot_count >= TC_JOURNAL_SLOT_COUNT_MIN);
    tc_assert(slot_count <= TC_JOURNAL_SLOT_COUNT_MAX);
    memset(layout, 0, sizeof(*layout));
    layout->slot_count = slot_count;
    layout->superblock_offset = 0;
    layout->superblock_size = (uint64_t)TC_SUPERBLOCK_COPIES * TC_SECTOR_SIZE;
    layout->header_ring_offset = layout->superblock_offset + layout->superblock_size;
    layout->header_ring_size = tc_align_up((uint64_t)slot_count * TC_HEADER_SIZE, TC_SECTOR_SIZE);
    layout->prepare_ring_offset = layout->header_ring_offset + layout->header_ring_size;
    layout->prepare_ring_size = (uint64_t)slot_count * TC_MESSAGE_SIZE_MAX;
    layout->checkpoint_area_offset = layout->prepare_ring_offset + layout->prepare_ring_size;
    layout->checkpoint_area_size = checkpoint_buffer_size(checkpoint_size_max);
    layout->storage_size = layout->checkpoint_area_offset + 2 * layout->checkpoint_area_size;
    tc_assert(layout->prepare_ring_offset % TC_SECTOR_SIZE == 0);
    tc_assert(layout->checkpoint_area_offset % TC_SECTOR_SIZE == 0);
}

uint64_t tc_journal_memory_size(uint32_t slot_count, uint64_t checkpoint_size_max) {
    uint64_t size = sizeof(struct tc_journal) + 64;
    size += (uint64_t)slot_count * (TC_HEADER_SIZE + 2) + 3 * 64;
    size += (uint64_t)TC_SUPERBLOCK_COPIES * TC_SECTOR_SIZE + 4096;
    size += (uint64_t)(TC_JOURNAL_WRITES_MAX + 1) * (TC_MESSAGE_SIZE_MAX + 4096);
    size += checkpoint_buffer_size(checkpoint_size_max) + 4096;
    return size;
}

int tc_journal_init(struct tc_journal **out, const struct tc_journal_options *options,
                    struct tc_arena *arena) {
    tc_assert(options->io != NULL);
    tc_assert(options->write_callback != NULL && options->read_callback != NULL);
    tc_assert(options->superblock_callback != NULL && options->recover_callback != NULL);
    tc_assert(options->checkpoint_callback != NULL);
    tc_assert(options->checkpoint_size_max < UINT32_MAX); // one storage I/O
    tc_assert(options->replica_id != 0);
    struct tc_journal *journal = tc_arena_alloc(arena, sizeof(*journal), 64);
    if (journal == NULL) return TC_ENOMEM;
    journal->options = *options;
    tc_journal_layout_init(&journal->layout, options->slot_count, options->checkpoint_size_max);
    uint32_t slots = options->slot_count;
    journal->checkpoint_buffer =
        tc_arena_alloc(arena, checkpoint_buffer_size(options->checkpoint_size_max), 4096);
    if (journal->checkpoint_buffer == NULL) return TC_ENOMEM;
    journal->headers = tc_arena_alloc(arena, (uint64_t)slots * TC_HEADER_SIZE, 64);
    journal->states = tc_arena_alloc(arena, slots, 64);
    journal->writing = tc_arena_alloc(arena, slots, 64);
    journal->corrupt = tc_arena_alloc(arena, slots, 64);
    journal->superblock_copies =
        tc_arena_alloc(arena, (uint64_t)TC_SUPERBLOCK_COPIES * TC_SECTOR_SIZE, 4096);
    journal->recover_buffer = tc_arena_alloc(arena, TC_MESSAGE_SIZE_MAX, 4096);
    for (uint32_t i = 0; i < TC_JOURNAL_WRITES_MAX; i++) {
        journal->writes[i].buffer = tc_arena_alloc(arena, TC_MESSAGE_SIZE_MAX, 4096);
        if (journal->writes[i].buffer == NULL) return TC_ENOMEM;
    }
    if (journal->headers == NULL || journal->states == NULL || journal->writing == NULL ||
        journal->corrupt == NULL ||
        journal->superblock_copies == NULL || journal->recover_buffer == NULL) {
        return TC_ENOMEM;
    }
    for (uint32_t slot = 0; slot < slots; slot++) {
        tc_header_reserved(&journal->headers[slot], options->cluster, options->group, slot);
    }
    *out = journal;
    return TC_OK;
}

// Fills `op` and submits it: the one place the journal hands work to its storage.
static void storage_submit(struct tc_journal *journal, struct tc_io_storage_op *op,
                           enum tc_io_storage_kind kind, tc_io_storage_cb callback, void *context,
                           uint64_t offset, uint8_t *buffer, uint32_t size) {
    struct tc_io *io = journal->options.io;
    memset(op, 0, sizeof(*op));
    op->callback = callback;
    op->context = context;
    op->offset_bytes = offset;
    op->buffer = buffer;
    op->size_bytes = size;
    switch (kind) {
    case TC_IO_STORAGE_READ: io->vtable->storage_read(io, op); break;
    case TC_IO_STORAGE_WRITE: io->vtable->storage_write(io, op); break;
    case TC_IO_STORAGE_SYNC: io->vtable->storage_sync(io, op); break;
    default: tc_unreachable();
    }
}

// ---------------------------------------------------------------------------------------------
// Superblock encoding.

static void superblock_seal(struct tc_superblock *superblock) {
    tc_checksum_compute(&superblock->checksum, (const uint8_t *)superblock + sizeof(superblock->checksum),
                        sizeof(*superblock) - sizeof(superblock->checksum));
}

// NULL if the copy is valid, else the first rule it breaks.
static const char *superblock_invalid(const struct tc_superblock *sb, uint32_t copy) {
    struct tc_checksum expected;
    tc_checksum_compute(&expected, (const uint8_t *)sb + sizeof(sb->checksum),
                        sizeof(*sb) - sizeof(sb->checksum));
    if (!tc_checksum_equal(&expected, &sb->checksum)) return "checksum";
    if (sb->version != TC_SUPERBLOCK_VERSION) return "version";
    if (sb->copy != copy) return "copy index (misdirected)";
    if (sb->view_headers_count == 0 || sb->view_headers_count > TC_VIEW_HEADERS_MAX) {
        return "view_headers_count";
    }
    if (sb->log_view > sb->view) return "log_view > view";
    for (uint32_t i = 0; i < sb->view_headers_count; i++) {
        const struct tc_header *h = &sb->view_headers[i];
        if (!tc_header_valid_checksum(h)) return "view header checksum";
        if (tc_header_invalid(h) != NULL) return tc_header_invalid(h);
        if (h->command != TC_COMMAND_PREPARE) return "view header command";
        if (i > 0 && h->op != sb->view_headers[i - 1].op + 1) return "view headers not consecutive";
    }
    const struct tc_header *checkpoint = &sb->checkpoint_header;
    if (!tc_header_valid_checksum(checkpoint) || tc_header_invalid(checkpoint) != NULL ||
        checkpoint->command != TC_COMMAND_PREPARE || checkpoint->op != sb->checkpoint_op) {
        return "checkpoint header";
    }
    if (sb->checkpoint_area > 1 || sb->checkpoint_reserved != 0) return "checkpoint area";
    if (sb->replica_id == 0 || sb->epoch_reserved != 0) return "replica id / epoch";
    for (uint8_t slot = 0; slot < TC_REPLICAS_MAX; slot++) {
        // Epoch 0 names nobody here; a later epoch names every slot of the group.
        bool named = sb->epoch_members[slot] != 0;
        if (named != (sb->epoch > 0 && slot < sb->replica_count)) return "epoch members";
    }
    if ((sb->epoch == 0) != (sb->epoch_op == 0)) return "epoch op";
    if ((sb->checkpoint_op == 0) != (sb->checkpoint_size == 0)) return "checkpoint size";
    return NULL;
}

static bool superblock_valid(const struct tc_journal *journal, const struct tc_superblock *sb,
                             uint32_t copy) {
    if (superblock_invalid(sb, copy) != NULL) return false;
    return sb->checkpoint_size <= journal->options.checkpoint_size_max;
}

// Sets identity and view fields; checkpoint fields are left as they are.
static void superblock_build(const struct tc_journal_options *options, struct tc_superblock *sb,
                             uint64_t sequence, uint32_t view, uint32_t log_view,
                             const struct tc_header *view_headers, uint32_t count) {
    tc_assert(count >= 1 && count <= TC_VIEW_HEADERS_MAX);
    tc_assert(log_view <= view);
    memset(sb->view_headers, 0, sizeof(sb->view_headers));
    sb->cluster = options->cluster;
    sb->replica_id = options->replica_id;
    sb->sequence = sequence;
    sb->group = options->group;
    sb->slot_count = options->slot_count;
    sb->view = view;
    sb->log_view = log_view;
    sb->view_headers_count = count;
    sb->replica = options->replica;
    sb->replica_count = options->replica_count;
    sb->version = TC_SUPERBLOCK_VERSION;
    memcpy(sb->view_headers, view_headers, (uint64_t)count * sizeof(struct tc_header));
}

// ---------------------------------------------------------------------------------------------
// Format.

void tc_journal_format(const struct tc_journal_options *options,
                       void (*write)(void *context, uint64_t offset, const uint8_t *data,
                                     uint32_t size),
                       void *write_context) {
    struct tc_journal_layout layout;
    tc_journal_layout_init(&layout, options->slot_count, options->checkpoint_size_max);
    struct tc_header root;
    tc_header_root_prepare(&root, options->cluster, options->group);

    _Alignas(64) uint8_t sector[TC_SECTOR_SIZE];
    for (uint32_t copy = 0; copy < TC_SUPERBLOCK_COPIES; copy++) {
        memset(sector, 0, sizeof(sector));
        struct tc_superblock *sb = (struct tc_superblock *)(void *)sector;
        superblock_build(options, sb, 1, 0, 0, &root, 1);
        sb->checkpoint_header = root; // the initial state: checkpoint op 0, no bytes
        sb->copy = (uint8_t)copy;
        superblock_seal(sb);
        write(write_context, layout.superblock_offset + (uint64_t)copy * TC_SECTOR_SIZE, sector,
              TC_SECTOR_SIZE);
    }
    // Header ring, a sector at a time.
    uint32_t per_sector = TC_SECTOR_SIZE / TC_HEADER_SIZE;
    for (uint32_t first = 0; first < options->slot_count; first += per_sector) {
        memset(sector, 0, sizeof(sector));
        for (uint32_t i = 0; i < per_sector && first + i < options->slot_count; i++) {
            struct tc_header *h = (struct tc_header *)(void *)(sector + i * TC_HEADER_SIZE);
            if (first + i == 0) {
                *h = root;
            } else {
                tc_header_reserved(h, options->cluster, options->group, first + i);
            }
        }
        write(write_context, layout.header_ring_offset + (uint64_t)first * TC_HEADER_SIZE, sector,
              TC_SECTOR_SIZE);
    }
    // The first sector of every prepare slot.
    for (uint32_t slot = 0; slot < options->slot_count; slot++) {
        memset(sector, 0, sizeof(sector));
        struct tc_header *h = (struct tc_header *)(void *)sector;
        if (slot == 0) {
            *h = root;
        } else {
            tc_header_reserved(h, options->cluster, options->group, slot);
        }
        write(write_context, layout.prepare_ring_offset + (uint64_t)slot * TC_MESSAGE_SIZE_MAX,
              sector, TC_SECTOR_SIZE);
    }
}

// ---------------------------------------------------------------------------------------------
// Slot access.

enum tc_slot_state tc_journal_slot_state(const struct tc_journal *journal, uint64_t op) {
    return (enum tc_slot_state)journal->states[slot_of(journal, op)];
}

const struct tc_header *tc_journal_header(const struct tc_journal *journal, uint64_t op) {
    uint64_t slot = slot_of(journal, op);
    uint8_t state = journal->states[slot];
    if (state != TC_SLOT_CLEAN && state != TC_SLOT_DIRTY) return NULL;
    const struct tc_header *header = &journal->headers[slot];
    if (header->op != op) return NULL;
    tc_assert(header->command == TC_COMMAND_PREPARE);
    return header;
}

static void slot_set_state(struct tc_journal *journal, uint64_t slot, enum tc_slot_state state) {
    if (state != TC_SLOT_DIRTY) journal->corrupt[slot] = 0;
    if (journal->states[slot] == TC_SLOT_FAULTY) journal->faulty_count--;
    if (state == TC_SLOT_FAULTY) journal->faulty_count++;
    journal->states[slot] = (uint8_t)state;
}

bool tc_journal_set_header(struct tc_journal *journal, const struct tc_header *header) {
    tc_assert(header->command == TC_COMMAND_PREPARE);
    // The ring holds [checkpoint, checkpoint + slot_count): older ops are covered by the checkpoint.
    tc_assert(header->op >= journal->durable.checkpoint_op);
    tc_assert(header->op < journal->durable.checkpoint_op + journal->layout.slot_count);
    uint64_t slot = slot_of(journal, header->op);
    const struct tc_header *existing = tc_journal_header(journal, header->op);
    if (existing != NULL && tc_checksum_equal(&existing->checksum, &header->checksum)) {
        return false;
    }
    journal->headers[slot] = *header;
    slot_set_state(journal, slot, TC_SLOT_DIRTY);
    journal->corrupt[slot] = 0; // a new version: never durable here
    return true;
}

void tc_journal_remove(struct tc_journal *journal, uint64_t op) {
    tc_assert(op > 0);
    uint64_t slot = slot_of(journal, op);
    tc_header_reserved(&journal->headers[slot], journal->options.cluster, journal->options.group,
                       slot);
    slot_set_state(journal, slot, TC_SLOT_EMPTY);
}

void tc_journal_mark_dirty(struct tc_journal *journal, uint64_t op) {
    tc_assert(tc_journal_header(journal, op) != NULL);
    slot_set_state(journal, slot_of(journal, op), TC_SLOT_DIRTY);
    journal->corrupt[slot_of(journal, op)] = 1;
}

bool tc_journal_slot_corrupt(const struct tc_journal *journal, uint64_t op) {
    return journal->corrupt[slot_of(journal, op)] != 0;
}

void tc_journal_mark_faulty(struct tc_journal *journal, uint64_t op) {
    uint64_t slot = slot_of(journal, op);
    tc_header_reserved(&journal->headers[slot], journal->options.cluster, journal->options.group,
                       slot);
    slot_set_state(journal, slot, TC_SLOT_FAULTY);
}

uint32_t tc_journal_faulty_count(const struct tc_journal *journal) {
    return journal->faulty_count;
}

bool tc_journal_writing(const struct tc_journal *journal, uint64_t op) {
    return journal->writing[slot_of(journal, op)] != 0;
}

const struct tc_superblock *tc_journal_superblock(const struct tc_journal *journal) {
    return &journal->durable;
}

uint64_t tc_journal_recovered_op_max(const struct tc_journal *journal) {
    tc_assert(journal->recover_stage == recover_done);
    return journal->recovered_op_max;
}

bool tc_journal_recovered_faulty_above(const struct tc_journal *journal, uint64_t op) {
    uint64_t end = journal->durable.checkpoint_op + journal->layout.slot_count;
    for (uint64_t o = op + 1; o < end; o++) {
        if (journal->states[slot_of(journal, o)] == TC_SLOT_FAULTY) return true;
    }
    return false;
}

// ---------------------------------------------------------------------------------------------
// Prepare writes.

static void write_submit(struct journal_write *write, uint64_t offset, const uint8_t *buffer,
                         uint32_t size);

static void write_finish(struct tc_journal *journal, struct journal_write *write, int result);
static void journal_sync_start(struct tc_journal *journal);

static void write_io_callback(struct tc_io_storage_op *io_op, int result) {
    struct journal_write *write = io_op->context;
    struct tc_journal *journal = write->journal;
    uint64_t slot = slot_of(journal, write->op);
    tc_assert(write->stage != write_free);
    tc_assert(journal->writing[slot] == 1);
    if (result == TC_OK && write->stage == write_prepare) {
        write->stage = write_prepare_sync_wait;
        journal_sync_start(journal);
        return;
    }
    if (result == TC_OK && write->stage == write_header) {
        write->stage = write_header_sync_wait;
        journal_sync_start(journal);
        return;
    }
    tc_assert(result != TC_OK); // syncs complete through journal_sync_callback
    write_finish(journal, write, result);
}

static void write_finish(struct tc_journal *journal, struct journal_write *write, int result) {
    uint64_t slot = slot_of(journal, write->op);
    write->stage = write_free;
    journal->writing[slot] = 0;
    if (result == TC_OK) {
        const struct tc_header *current = tc_journal_header(journal, write->op);
        if (current != NULL && tc_checksum_equal(&current->checksum, &write->checksum)) {
            slot_set_state(journal, slot, TC_SLOT_CLEAN);
        }
    }
    journal->options.write_callback(journal->options.context, write->op, &write->checksum, result);
}

static void journal_sync_callback(struct tc_io_storage_op *io_op, int result) {
    struct tc_journal *journal = io_op->context;
    tc_assert(journal->sync_in_flight);
    journal->sync_in_flight = false;
    // Collect first: callbacks may start new writes in the slots being freed.
    struct journal_write *done[TC_JOURNAL_WRITES_MAX];
    uint32_t done_count = 0;
    uint32_t covered = 0;
    for (uint32_t i = 0; i < TC_JOURNAL_WRITES_MAX; i++) {
        struct journal_write *write = &journal->writes[i];
        if (write->stage == write_header_sync) done[done_count++] = write;
        if (write->stage != write_prepare_sync) continue;
        covered++;
        if (result != TC_OK) {
            done[done_count++] = write;
            continue;
        }
        // The prepare is durable: now its redundant header.
        write->stage = write_header;
        write_submit(write,
                     journal->layout.header_ring_offset + slot_of(journal, write->op) * TC_HEADER_SIZE,
                     (const uint8_t *)&write->header_copy, TC_HEADER_SIZE);
    }
    tc_assert(done_count + covered > 0);
    for (uint32_t i = 0; i < done_count; i++) write_finish(journal, done[i], result);
    journal_sync_start(journal);
}

// Starts a sync covering every write waiting for one, unless a sync is already in flight (its
// completion starts the next).
static void journal_sync_start(struct tc_journal *journal) {
    if (journal->sync_in_flight) return;
    uint32_t covered = 0;
    for (uint32_t i = 0; i < TC_JOURNAL_WRITES_MAX; i++) {
        struct journal_write *write = &journal->writes[i];
        if (write->stage == write_prepare_sync_wait) {
            write->stage = write_prepare_sync;
            covered++;
        } else if (write->stage == write_header_sync_wait) {
            write->stage = write_header_sync;
            covered++;
        }
    }
    if (covered == 0) return;
    journal->sync_in_flight = true;
    storage_submit(journal, &journal->sync_op, TC_IO_STORAGE_SYNC, journal_sync_callback, journal,
                   0, NULL, 0);
}

// Writes (the prepare, or its redundant header); syncs are shared (journal_sync_start).
static void write_submit(struct journal_write *write, uint64_t offset, const uint8_t *buffer,
                         uint32_t size) {
    storage_submit(write->journal, &write->io_op, TC_IO_STORAGE_WRITE, write_io_callback, write,
                   offset, (uint8_t *)(uintptr_t)buffer, size);
}

int tc_journal_write_prepare(struct tc_journal *journal, const uint8_t *message) {
    const struct tc_header *header = (const struct tc_header *)(const void *)message;
    tc_assert(header->command == TC_COMMAND_PREPARE);
    tc_assert(header->size <= TC_MESSAGE_SIZE_MAX);
    tc_assert(journal->recover_stage == recover_done);
    uint64_t slot = slot_of(journal, header->op);
    const struct tc_header *current = tc_journal_header(journal, header->op);
    tc_assert(current != NULL);
    tc_assert(tc_checksum_equal(&current->checksum, &header->checksum));
    if (journal->writing[slot] != 0) return TC_EBUSY;
    struct journal_write *write = NULL;
    for (uint32_t i = 0; i < TC_JOURNAL_WRITES_MAX; i++) {
        if (journal->writes[i].stage == write_free) {
            write = &journal->writes[i];
            break;
        }
    }
    if (write == NULL) return TC_EBUSY;
    write->journal = journal;
    memcpy(write->buffer, message, header->size);
    write->op = header->op;
    write->checksum = header->checksum;
    write->header_copy = *header;
    write->stage = write_prepare;
    journal->writing[slot] = 1;
#if defined(TC_PLANTED_BUG_ACK_BEFORE_DURABLE)
    // Planted bug: report durability before anything reached the disk (the write still happens).
    slot_set_state(journal, slot, TC_SLOT_CLEAN);
#endif
    write_submit(write,
                 journal->layout.prepare_ring_offset + slot * TC_MESSAGE_SIZE_MAX, write->buffer,
                 header->size);
    return TC_OK;
}

// ---------------------------------------------------------------------------------------------
// Prepare reads.

static bool prepare_header_matches(const struct tc_journal *journal, const struct tc_header *h,
                                   uint64_t op) {
    if (!tc_header_valid_checksum(h)) return false;
    if (tc_header_invalid(h) != NULL) return false;
    if (h->command != TC_COMMAND_PREPARE) return false;
    if (h->cluster != journal->options.cluster || h->group != journal->options.group) return false;
    return h->op == op;
}

static void read_io_callback(struct tc_io_storage_op *io_op, int result);

static void read_submit(struct journal_read *read, uint64_t offset, uint8_t *buffer,
                        uint32_t size) {
    storage_submit(read->journal, &read->io_op, TC_IO_STORAGE_READ, read_io_callback, read, offset,
                   buffer, size);
}

static void read_finish(struct journal_read *read, int result) {
    struct tc_journal *journal = read->journal;
    read->stage = read_free;
    journal->options.read_callback(journal->options.context, read->buffer, read->op, result);
}

static void read_io_callback(struct tc_io_storage_op *io_op, int result) {
    struct journal_read *read = io_op->context;
    struct tc_journal *journal = read->journal;
    const struct tc_header *h = (const struct tc_header *)(const void *)read->buffer;
    if (result != TC_OK) {
        read_finish(read, TC_EIO);
        return;
    }
    if (read->stage == read_first_sector) {
        if (!prepare_header_matches(journal, h, read->op) ||
            !tc_checksum_equal(&h->checksum, &read->checksum)) {
            read_finish(read, TC_ECORRUPT);
            return;
        }
        if (h->size > TC_SECTOR_SIZE) {
            read->stage = read_rest;
            uint64_t base = journal->layout.prepare_ring_offset +
                            slot_of(journal, read->op) * TC_MESSAGE_SIZE_MAX;
            read_submit(read, base + TC_SECTOR_SIZE, read->buffer + TC_SECTOR_SIZE,
                        h->size - TC_SECTOR_SIZE);
            return;
        }
    }
    // The header may have been corrupted between the two reads: check it again, then the body.
    if (!prepare_header_matches(journal, h, read->op) ||
        !tc_checksum_equal(&h->checksum, &read->checksum) ||
        !tc_header_valid_checksum_body(h, read->buffer + TC_HEADER_SIZE)) {
        read_finish(read, TC_ECORRUPT);
        return;
    }
    read_finish(read, TC_OK);
}

int tc_journal_read_prepare(struct tc_journal *journal, uint64_t op,
                            const struct tc_checksum *checksum, uint8_t *buffer) {
    tc_assert(journal->recover_stage == recover_done);
    tc_assert(buffer != NULL);
    for (uint32_t i = 0; i < TC_JOURNAL_READS_MAX; i++) {
        struct journal_read *read = &journal->reads[i];
        if (read->stage != read_free) continue;
        read->journal = journal;
        read->buffer = buffer;
        read->op = op;
        read->checksum = *checksum;
        read->stage = read_first_sector;
        uint64_t offset = journal->layout.prepare_ring_offset + slot_of(journal, op) * TC_MESSAGE_SIZE_MAX;
        read_submit(read, offset, buffer, TC_SECTOR_SIZE);
        return TC_OK;
    }
    return TC_EBUSY;
}

uint32_t tc_journal_reads_free(const struct tc_journal *journal) {
    uint32_t count = 0;
    for (uint32_t i = 0; i < TC_JOURNAL_READS_MAX; i++) {
        if (journal->reads[i].stage == read_free) count++;
    }
    return count;
}

// ---------------------------------------------------------------------------------------------
// Superblock writes: one copy at a time, each followed by a sync, so a crash tears at most the copy
// being written while every other copy holds the previous or the new state. Recovery rewrites all
// copies when they disagree, restoring that precondition before the next write.

static void superblock_stage_start(struct tc_journal *journal);
static void recover_after_superblock(struct tc_journal *journal);
static void superblock_write_start(struct tc_journal *journal);

static void superblock_io_callback(struct tc_io_storage_op *io_op, int result) {
    struct tc_journal *journal = io_op->context;
    tc_assert(journal->superblock_writing);
    tc_assert(journal->superblock_ios_pending == 1);
    journal->superblock_ios_pending = 0;
    if (result != TC_OK) {
        // Fail-stop: the replica stops on any write error.
        journal->superblock_writing = false;
        if (journal->recover_stage == recover_superblock_repair) {
            journal->recover_stage = recover_idle;
            journal->options.recover_callback(journal->options.context, TC_EIO);
            return;
        }
        journal->options.superblock_callback(journal->options.context, TC_EIO);
        if (journal->checkpoint_stage == checkpoint_superblock) {
            journal->checkpoint_stage = checkpoint_idle;
            journal->options.checkpoint_callback(journal->options.context,
                                                 journal->checkpoint_header.op, TC_EIO);
        }
        return;
    }
    journal->superblock_stage++;
    if (journal->superblock_stage < 2 * TC_SUPERBLOCK_COPIES) {
        superblock_stage_start(journal);
        return;
    }
    journal->durable = journal->in_flight;
    journal->superblock_writing = false;
    if (journal->recover_stage == recover_superblock_repair) {
        recover_after_superblock(journal);
        return;
    }
    if (journal->superblock_pending) superblock_write_start(journal); // coalesced request
    if (journal->checkpoint_stage == checkpoint_superblock &&
        journal->durable.checkpoint_op == journal->checkpoint_header.op) {
        journal->checkpoint_stage = checkpoint_idle;
        journal->options.checkpoint_callback(journal->options.context,
                                             journal->checkpoint_header.op, TC_OK);
    }
    journal->options.superblock_callback(journal->options.context, TC_OK);
}

static void superblock_stage_start(struct tc_journal *journal) {
    uint32_t stage = journal->superblock_stage;
    uint32_t copy = stage / 2;
    tc_assert(copy < TC_SUPERBLOCK_COPIES);
    struct tc_io_storage_op *op = &journal->superblock_ops[copy];
    journal->superblock_ios_pending = 1;
    if (stage % 2 == 1) {
        storage_submit(journal, op, TC_IO_STORAGE_SYNC, superblock_io_callback, journal, 0, NULL, 0);
        return;
    }
    uint8_t *sector = journal->superblock_copies + (uint64_t)copy * TC_SECTOR_SIZE;
    memset(sector, 0, TC_SECTOR_SIZE);
    struct tc_superblock *sb = (struct tc_superblock *)(void *)sector;
    *sb = journal->in_flight;
    sb->copy = (uint8_t)copy;
    superblock_seal(sb);
    storage_submit(journal, op, TC_IO_STORAGE_WRITE, superblock_io_callback, journal,
                   journal->layout.superblock_offset + (uint64_t)copy * TC_SECTOR_SIZE, sector,
                   TC_SECTOR_SIZE);
}

static void superblock_write_start(struct tc_journal *journal) {
    tc_assert(!journal->superblock_writing);
    journal->superblock_pending = false;
    journal->in_flight = journal->desired;
    journal->in_flight.sequence = journal->durable.sequence + 1;
    journal->superblock_writing = true;
    journal->superblock_stage = 0;
    superblock_stage_start(journal);
}

void tc_journal_write_superblock(struct tc_journal *journal, uint32_t view, uint32_t log_view,
                                 const struct tc_header *view_headers, uint32_t count) {
    tc_assert(journal->recover_stage == recover_done);
    tc_assert(view >= journal->durable.view);
    tc_assert(log_view >= journal->durable.log_view);
    superblock_build(&journal->options, &journal->desired, 0, view, log_view, view_headers, count);
    journal->desired.epoch = journal->epoch_next.epoch;
    memcpy(journal->desired.epoch_members, journal->epoch_next.members,
           sizeof(journal->desired.epoch_members));
    journal->desired.epoch_op = journal->epoch_next.op;
    journal->desired.epoch_op_checksum = journal->epoch_next.checksum;
    journal->superblock_pending = true;
    if (journal->superblock_writing) return;
    superblock_write_start(journal);
}

uint32_t tc_journal_durable_view(const struct tc_journal *journal) { return journal->durable.view; }

void tc_journal_set_epoch(struct tc_journal *journal, const struct tc_journal_epoch *epoch) {
    tc_assert(journal->recover_stage == recover_done);
    tc_assert(epoch->epoch > 0 && epoch->op > 0);
    tc_assert(epoch->epoch >= journal->epoch_next.epoch);
    tc_assert(epoch->op >= journal->epoch_next.op);
    for (uint8_t slot = 0; slot < TC_REPLICAS_MAX; slot++) {
        tc_assert((epoch->members[slot] != 0) == (slot < journal->options.replica_count));
    }
    journal->epoch_next = *epoch;
}

uint32_t tc_journal_durable_epoch(const struct tc_journal *journal) {
    return journal->durable.epoch;
}

uint32_t tc_journal_durable_log_view(const struct tc_journal *journal) {
    return journal->durable.log_view;
}

bool tc_journal_superblock_busy(const struct tc_journal *journal) {
    return journal->superblock_writing || journal->superblock_pending;
}

// ---------------------------------------------------------------------------------------------
// Checkpoint writes: the area the durable superblock does not name, a sync, then the superblock.

uint8_t *tc_journal_checkpoint_buffer(struct tc_journal *journal) {
    tc_assert(journal->checkpoint_stage == checkpoint_idle);
    return journal->checkpoint_buffer;
}

bool tc_journal_checkpoint_busy(const struct tc_journal *journal) {
    return journal->checkpoint_stage != checkpoint_idle;
}

uint64_t tc_journal_checkpoint_op(const struct tc_journal *journal) {
    return journal->durable.checkpoint_op;
}

const uint8_t *tc_journal_checkpoint_recovered(const struct tc_journal *journal, uint64_t *size) {
    tc_assert(journal->recover_stage == recover_done);
    *size = journal->durable.checkpoint_size;
    return journal->checkpoint_buffer;
}

static void checkpoint_io_callback(struct tc_io_storage_op *io_op, int result);

#if defined(TC_ASSERT_HOT) && TC_ASSERT_HOT
// Debug builds: the id computed chunk by chunk equals the one-shot checksum of the bytes.
static bool checkpoint_id_matches(const struct tc_journal *journal, const struct tc_checksum *id) {
    struct tc_checksum whole;
    tc_checksum_compute(&whole, journal->checkpoint_buffer, journal->checkpoint_size);
    return tc_checksum_equal(&whole, id);
}
#endif

// The area is written in chunks, each synced before the next: the device never holds more than a
// chunk of checkpoint data in its queue, so the commit path's journal syncs keep flowing while a
// large checkpoint is written (docs/benchmarks.md, the checkpoint stall).
static void checkpoint_chunk_write(struct tc_journal *journal) {
    tc_assert(journal->checkpoint_written < journal->checkpoint_size);
    tc_assert(journal->checkpoint_written % JOURNAL_CHECKPOINT_CHUNK_SIZE == 0);
    uint64_t left = journal->checkpoint_size - journal->checkpoint_written;
    uint32_t chunk = (uint32_t)tc_min_u64(left, JOURNAL_CHECKPOINT_CHUNK_SIZE);
    uint64_t offset = journal->layout.checkpoint_area_offset +
                      journal->checkpoint_area * journal->layout.checkpoint_area_size +
                      journal->checkpoint_written;
    journal->checkpoint_stage = checkpoint_write;
    uint8_t *bytes = journal->checkpoint_buffer + journal->checkpoint_written;
    tc_checksum_update(&journal->checkpoint_hash, bytes, chunk); // spread over the chunks
    storage_submit(journal, &journal->checkpoint_io, TC_IO_STORAGE_WRITE, checkpoint_io_callback,
                   journal, offset, bytes, chunk);
    journal->checkpoint_written += chunk;
}

static void checkpoint_io_callback(struct tc_io_storage_op *io_op, int result) {
    struct tc_journal *journal = io_op->context;
    if (result != TC_OK) {
        journal->checkpoint_stage = checkpoint_idle;
        journal->options.checkpoint_callback(journal->options.context,
                                             journal->checkpoint_header.op, result);
        return;
    }
    if (journal->checkpoint_stage == checkpoint_write) {
        journal->checkpoint_stage = checkpoint_sync;
        // The checkpoint areas are their own storage zone: this sync names it (node/io.h).
        storage_submit(journal, &journal->checkpoint_io, TC_IO_STORAGE_SYNC, checkpoint_io_callback,
                       journal, journal->layout.checkpoint_area_offset, NULL, 0);
        return;
    }
    tc_assert(journal->checkpoint_stage == checkpoint_sync);
    if (journal->checkpoint_written < journal->checkpoint_size) {
        checkpoint_chunk_write(journal);
        return;
    }
    // The bytes are durable: name them in the superblock (coalesced with any view write).
    journal->checkpoint_stage = checkpoint_superblock;
    struct tc_superblock *desired = &journal->desired;
    desired->checkpoint_op = journal->checkpoint_header.op;
    desired->checkpoint_size = journal->checkpoint_size;
    desired->checkpoint_area = journal->checkpoint_area;
    desired->checkpoint_header = journal->checkpoint_header;
    tc_assert(journal->checkpoint_written == journal->checkpoint_size);
    tc_checksum_final(&journal->checkpoint_hash, &desired->checkpoint_id);
    tc_assert_hot(checkpoint_id_matches(journal, &desired->checkpoint_id));
    journal->superblock_pending = true;
    if (!journal->superblock_writing) superblock_write_start(journal);
}

void tc_journal_write_checkpoint(struct tc_journal *journal, const struct tc_header *header,
                                 uint64_t size) {
    tc_assert(journal->recover_stage == recover_done);
    tc_assert(journal->checkpoint_stage == checkpoint_idle);
    tc_assert(header->command == TC_COMMAND_PREPARE);
    tc_assert(header->op > journal->durable.checkpoint_op);
    tc_assert(size > 0 && size <= journal->options.checkpoint_size_max);
    tc_assert(journal->desired.checkpoint_op == journal->durable.checkpoint_op);
    journal->checkpoint_header = *header;
    journal->checkpoint_size = size;
    journal->checkpoint_written = 0;
    journal->checkpoint_area = journal->durable.checkpoint_area ^ 1u;
    tc_checksum_init(&journal->checkpoint_hash);
    checkpoint_chunk_write(journal);
}

// ---------------------------------------------------------------------------------------------
// Recovery.

static void recover_step(struct tc_journal *journal);

static void recover_io_callback(struct tc_io_storage_op *io_op, int result) {
    struct tc_journal *journal = io_op->context;
    if (result != TC_OK) {
        // A latent read error: the bytes are unusable. Poison them so validation fails.
        memset(io_op->buffer, 0, io_op->size_bytes);
    }
    recover_step(journal);
}

static void recover_read(struct tc_journal *journal, uint64_t offset, uint8_t *buffer,
                         uint32_t size) {
    storage_submit(journal, &journal->recover_op, TC_IO_STORAGE_READ, recover_io_callback, journal,
                   offset, buffer, size);
}

static int recover_choose_superblock(struct tc_journal *journal) {
    const struct tc_superblock *best = NULL;
    for (uint32_t copy = 0; copy < TC_SUPERBLOCK_COPIES; copy++) {
        const struct tc_superblock *sb = (const struct tc_superblock *)(const void *)(
            journal->superblock_copies + (uint64_t)copy * TC_SECTOR_SIZE);
        if (!superblock_valid(journal, sb, copy)) continue;
        if (best == NULL || sb->sequence > best->sequence) best = sb;
    }
    if (best == NULL) {
        for (uint32_t copy = 0; copy < TC_SUPERBLOCK_COPIES; copy++) {
            const struct tc_superblock *sb = (const struct tc_superblock *)(const void *)(
                journal->superblock_copies + (uint64_t)copy * TC_SECTOR_SIZE);
            journal->superblock_copy_invalid[copy] = superblock_invalid(sb, copy);
        }
        return TC_ECORRUPT;
    }
    if (best->cluster != journal->options.cluster || best->group != journal->options.group ||
        best->replica != journal->options.replica ||
        best->replica_id != journal->options.replica_id ||
        best->replica_count != journal->options.replica_count ||
        best->slot_count != journal->options.slot_count) {
        return TC_EINVAL;
    }
    journal->durable = *best;
    journal->epoch_next.epoch = best->epoch;
    memcpy(journal->epoch_next.members, best->epoch_members, sizeof(journal->epoch_next.members));
    journal->epoch_next.op = best->epoch_op;
    journal->epoch_next.checksum = best->epoch_op_checksum;
    journal->superblock_copies_agree = true;
    for (uint32_t copy = 0; copy < TC_SUPERBLOCK_COPIES; copy++) {
        const struct tc_superblock *sb = (const struct tc_superblock *)(const void *)(
            journal->superblock_copies + (uint64_t)copy * TC_SECTOR_SIZE);
        if (!superblock_valid(journal, sb, copy) || sb->sequence != best->sequence) {
            journal->superblock_copies_agree = false;
        }
    }
    return TC_OK;
}

// The op slot `slot` holds when valid: the ring holds [checkpoint_op, checkpoint_op + slot_count).
static uint64_t recover_slot_op(const struct tc_journal *journal, uint32_t slot) {
    uint64_t first = journal->durable.checkpoint_op;
    uint64_t slot_count = journal->layout.slot_count;
    uint64_t op = first - first % slot_count + slot;
    if (op < first) op += slot_count;
    tc_assert(op >= first && op < first + slot_count);
    tc_assert(op % slot_count == slot);
    return op;
}

// Whether header `h` read from slot `slot` says op `op` was never written there: a reserved header
// for the slot, or a valid prepare of an earlier lap of the ring (same slot, lower op).
static bool slot_entry_vacant(const struct tc_journal *journal, const struct tc_header *h,
                              uint32_t slot, uint64_t op) {
    if (!tc_header_valid_checksum(h) || tc_header_invalid(h) != NULL) return false;
    if (h->command == TC_COMMAND_RESERVED) return h->op == slot;
    if (h->command != TC_COMMAND_PREPARE) return false;
    if (h->cluster != journal->options.cluster || h->group != journal->options.group) return false;
    return h->op < op && h->op % journal->layout.slot_count == slot;
}

// Classifies slot `slot` from its prepare (recover_buffer) and redundant header (headers[slot],
// still holding the header ring copy). See the decision table in docs/vsr.md.
static void recover_classify(struct tc_journal *journal, uint32_t slot) {
    const struct tc_superblock *sb = &journal->durable;
    const struct tc_header *prepare = (const struct tc_header *)(const void *)journal->recover_buffer;
    struct tc_header redundant = journal->headers[slot];
    uint64_t op = recover_slot_op(journal, slot);
    bool prepare_valid = prepare_header_matches(journal, prepare, op) &&
                         tc_header_valid_checksum_body(prepare, journal->recover_buffer + TC_HEADER_SIZE);
    // A reserved header, or an op from an earlier lap of the ring, means this op's write never
    // landed here (never acknowledged), exactly like a reserved slot.
    bool prepare_reserved = slot_entry_vacant(journal, prepare, slot, op);
    bool redundant_valid = prepare_header_matches(journal, &redundant, op);
    bool redundant_reserved = slot_entry_vacant(journal, &redundant, slot, op);

    enum tc_slot_state state = TC_SLOT_EMPTY;
    struct tc_header entry;
    bool damaged = !prepare_valid && !prepare_reserved; // torn, flipped or unreadable
    bool corrupt = false;
    if (prepare_valid) {
        state = TC_SLOT_CLEAN;
        entry = *prepare;
    } else if (redundant_valid) {
        // The redundant header is written only after its prepare is durable: the prepare was
        // durable (maybe acknowledged) and is now damaged, or gone (misdirected I/O). Repair it,
        // never nack it.
        state = TC_SLOT_DIRTY;
        entry = redundant;
        corrupt = true;
    } else if (!prepare_reserved && !redundant_valid && !redundant_reserved) {
        state = TC_SLOT_FAULTY; // both copies unreadable: op unknown
    }
    // else: torn or lost write of a prepare that was never acknowledged -> EMPTY.

    const struct tc_header *view_first = &sb->view_headers[0];
    const struct tc_header *view_last = &sb->view_headers[sb->view_headers_count - 1];
    if (op >= view_first->op && op <= view_last->op) {
        const struct tc_header *canonical = &sb->view_headers[op - view_first->op];
        if (state != TC_SLOT_CLEAN || !tc_checksum_equal(&entry.checksum, &canonical->checksum)) {
            // Damaged bytes were this version, maybe acknowledged, only if its redundant header
            // (written after the prepare was durable) names it: then never a nack.
            // It was not if the redundant header positively shows another version or nothing.
            bool other = redundant_reserved ||
                         (redundant_valid &&
                          !tc_checksum_equal(&redundant.checksum, &canonical->checksum));
            corrupt = damaged && !other;
            state = TC_SLOT_DIRTY;
        }
        entry = *canonical;
    } else if (op > view_last->op && op > sb->epoch_op &&
               (state == TC_SLOT_CLEAN || state == TC_SLOT_DIRTY) && entry.view != sb->log_view) {
        state = TC_SLOT_EMPTY; // stale (older view) or never acknowledged (newer view)
    }
    if (op > sb->epoch_op && (state == TC_SLOT_CLEAN || state == TC_SLOT_DIRTY) &&
        entry.epoch < sb->epoch) {
        // Our epoch began at op R = epoch_op: nothing after R in an older epoch ever commits, and a
        // member of ours holds none of it. A log_view of the older epoch carried into ours would
        // otherwise bring back a prepare of it that we truncated above R (a view number recurs
        // across epochs; docs/vsr.md §11.4).
        state = TC_SLOT_EMPTY;
        corrupt = false;
    }
    if (op == sb->checkpoint_op) {
        // Committed and applied (the checkpoint holds its effects): the superblock's header
        // anchors the chain even if this slot's copy is damaged (it is never read again).
        if (state != TC_SLOT_CLEAN ||
            !tc_checksum_equal(&entry.checksum, &sb->checkpoint_header.checksum)) {
            state = TC_SLOT_DIRTY;
            corrupt = false;
        }
        entry = sb->checkpoint_header;
    }

    tc_header_reserved(&journal->headers[slot], journal->options.cluster, journal->options.group,
                       slot);
    journal->states[slot] = TC_SLOT_EMPTY;
    if (state == TC_SLOT_CLEAN || state == TC_SLOT_DIRTY) {
        journal->headers[slot] = entry;
        if (op > journal->recovered_op_max) journal->recovered_op_max = op;
    }
    slot_set_state(journal, slot, state);
    if (state == TC_SLOT_DIRTY && corrupt) journal->corrupt[slot] = 1;
}

// The header ring is read a sector at a time so an unreadable sector loses only its 16 headers.
static void recover_header_ring_read(struct tc_journal *journal) {
    uint64_t offset = (uint64_t)journal->recover_index * TC_SECTOR_SIZE;
    uint64_t size = (uint64_t)journal->layout.slot_count * TC_HEADER_SIZE - offset;
    if (size > TC_SECTOR_SIZE) size = TC_SECTOR_SIZE;
    recover_read(journal, journal->layout.header_ring_offset + offset,
                 (uint8_t *)journal->headers + offset, (uint32_t)size);
}

static void recover_header_ring_start(struct tc_journal *journal) {
    journal->recover_stage = recover_header_ring;
    journal->recover_index = 0;
    recover_header_ring_read(journal);
}

// The checkpoint the superblock names is read back and verified before the journal above it.
static void recover_after_superblock(struct tc_journal *journal) {
    const struct tc_superblock *sb = &journal->durable;
    if (sb->checkpoint_size == 0) {
        recover_header_ring_start(journal);
        return;
    }
    journal->recover_stage = recover_checkpoint;
    recover_read(journal,
                 journal->layout.checkpoint_area_offset +
                     sb->checkpoint_area * journal->layout.checkpoint_area_size,
                 journal->checkpoint_buffer, (uint32_t)sb->checkpoint_size);
}

static void recover_checkpoint_done(struct tc_journal *journal) {
    const struct tc_superblock *sb = &journal->durable;
    struct tc_checksum id;
    tc_checksum_compute(&id, journal->checkpoint_buffer, sb->checkpoint_size);
    if (!tc_checksum_equal(&id, &sb->checkpoint_id)) {
        // No repair path without state sync (docs/vsr.md §11.3): refuse to start.
        journal->recover_error = "checkpoint bytes do not match the superblock's checkpoint id";
        journal->recover_stage = recover_idle;
        journal->options.recover_callback(journal->options.context, TC_ECORRUPT);
        return;
    }
    recover_header_ring_start(journal);
}

static void recover_sync_callback(struct tc_io_storage_op *io_op, int result) {
    struct tc_journal *journal = io_op->context;
    tc_assert(journal->recover_stage == recover_sync);
    if (result != TC_OK) {
        journal->recover_stage = recover_idle;
        journal->options.recover_callback(journal->options.context, TC_EIO);
        return;
    }
    journal->recover_stage = recover_done;
    journal->desired = journal->durable;
    journal->options.recover_callback(journal->options.context, TC_OK);
}

static void recover_step(struct tc_journal *journal) {
    struct tc_journal_layout *layout = &journal->layout;
    switch (journal->recover_stage) {
    case recover_superblock:
        if (journal->recover_index < TC_SUPERBLOCK_COPIES) {
            uint32_t copy = journal->recover_index++;
            recover_read(journal, layout->superblock_offset + (uint64_t)copy * TC_SECTOR_SIZE,
                         journal->superblock_copies + (uint64_t)copy * TC_SECTOR_SIZE,
                         TC_SECTOR_SIZE);
            return;
        }
        int rc = recover_choose_superblock(journal);
        if (rc != TC_OK) {
            journal->recover_stage = recover_idle;
            journal->options.recover_callback(journal->options.context, rc);
            return;
        }
        if (!journal->superblock_copies_agree) {
            // Rewrite every copy with the newest state before anything else is written.
            journal->recover_stage = recover_superblock_repair;
            journal->desired = journal->durable;
            superblock_write_start(journal);
            return;
        }
        recover_after_superblock(journal);
        return;
    case recover_checkpoint:
        recover_checkpoint_done(journal);
        return;
    case recover_header_ring:
        journal->recover_index++;
        if ((uint64_t)journal->recover_index * TC_SECTOR_SIZE <
            (uint64_t)layout->slot_count * TC_HEADER_SIZE) {
            recover_header_ring_read(journal);
            return;
        }
        journal->recover_stage = recover_slots;
        journal->recover_index = 0;
        recover_read(journal, layout->prepare_ring_offset, journal->recover_buffer, TC_SECTOR_SIZE);
        return;
    case recover_slots: {
        uint32_t slot = journal->recover_index;
        const struct tc_header *h = (const struct tc_header *)(const void *)journal->recover_buffer;
        uint64_t base = layout->prepare_ring_offset + (uint64_t)slot * TC_MESSAGE_SIZE_MAX;
        if (journal->recover_op.offset_bytes == base && tc_header_valid_checksum(h) &&
            h->size > TC_SECTOR_SIZE && h->size <= TC_MESSAGE_SIZE_MAX) {
            recover_read(journal, base + TC_SECTOR_SIZE, journal->recover_buffer + TC_SECTOR_SIZE,
                         h->size - TC_SECTOR_SIZE);
            return;
        }
        recover_classify(journal, slot);
        journal->recover_index++;
        if (journal->recover_index < layout->slot_count) {
            recover_read(journal,
                         layout->prepare_ring_offset +
                             (uint64_t)journal->recover_index * TC_MESSAGE_SIZE_MAX,
                         journal->recover_buffer, TC_SECTOR_SIZE);
            return;
        }
        // What we read may have been only in the page cache (a process crash keeps unsynced
        // writes there): make it durable before anything we recovered is acknowledged.
        journal->recover_stage = recover_sync;
        storage_submit(journal, &journal->recover_op, TC_IO_STORAGE_SYNC, recover_sync_callback,
                       journal, 0, NULL, 0);
        return;
    }
    default: tc_unreachable();
    }
}

void tc_journal_recover(struct tc_journal *journal) {
    tc_assert(journal->recover_stage == recover_idle);
    journal->recover_stage = recover_superblock;
    journal->recover_index = 0;
    journal->recovered_op_max = 0;
    journal->faulty_count = 0;
    journal->recover_error = NULL;
    memset(journal->states, 0, journal->layout.slot_count);
    recover_step(journal);
}

const char *tc_journal_recover_error(const struct tc_journal *journal) {
    return journal->recover_error;
}

const char *tc_journal_superblock_copy_invalid(const struct tc_journal *journal, uint32_t copy) {
    tc_assert(copy < TC_SUPERBLOCK_COPIES);
    return journal->superblock_copy_invalid[copy];
}
