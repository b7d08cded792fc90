// The room batch and reply binary encodings (docs/room.md has the byte tables). All integers are
// little-endian and read/written byte by byte, so the encoding does not depend on the host or on
// alignment. Decoding never trusts a length: every size is checked against the buffer first.

#include <string.h>

#include "room_internal.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_le.h"

_Static_assert(TC_ROOM_STATUS_COUNT == TC_ROOM_NOT_SENDER + 1, "status count");
_Static_assert(TC_ROOM_RESULT_SIZE == 8u + 8u + 8u + 32u, "result layout");
_Static_assert(TC_ROOM_OP_SEND_FIXED_SIZE == 56u, "send layout");
_Static_assert(TC_ROOM_OP_RETENTION_SIZE == 40u, "set_retention layout");
_Static_assert(TC_ROOM_OP_READ_MARKER_SIZE == 32u, "read_marker layout");
_Static_assert(TC_ROOM_OP_REDACT_SIZE == 32u, "redact layout");
_Static_assert(TC_ROOM_RETENTION_KEEP_MESSAGES < UINT8_MAX, "a saturated wire mode is unknown");

// The one statement of the retention rule (docs/room.md §3, set_retention): keep_all takes 0,
// keep_days 1..TC_ROOM_RETENTION_DAYS_MAX, keep_messages 1..TC_ROOM_RETENTION_MESSAGES_MAX; any
// other mode is unknown.
bool tc_room__retention_valid(uint32_t mode, uint64_t value) {
    switch (mode) {
    case TC_ROOM_RETENTION_KEEP_ALL: return value == 0;
    case TC_ROOM_RETENTION_KEEP_DAYS: return value >= 1 && value <= TC_ROOM_RETENTION_DAYS_MAX;
    case TC_ROOM_RETENTION_KEEP_MESSAGES:
        return value >= 1 && value <= TC_ROOM_RETENTION_MESSAGES_MAX;
    default: return false;
    }
}

const char *tc_room_status_name(uint32_t status) {
    switch (status) {
#define TC_ROOM_STATUS_CASE(name, value, text)                                                     \
    case value: return text;
        TC_ROOM_STATUS_TABLE(TC_ROOM_STATUS_CASE)
#undef TC_ROOM_STATUS_CASE
    default: return "unknown";
    }
}

// ------------------------------------------------------------------------------------------------
// Batch encoder.

static void batch_header_write(struct tc_room_batch *batch) {
    tc_assert(batch->op_count <= TC_ROOM_BATCH_OPS_MAX);
    tc_assert(batch->size <= batch->size_max);
    uint8_t *p = batch->buffer;
    tc_le_put_u32(p + 0, TC_ROOM_BATCH_MAGIC);
    tc_le_put_u16(p + 4, (uint16_t)batch->op_count);
    tc_le_put_u16(p + 6, 0);
    tc_le_put_u32(p + 8, batch->size);
    tc_le_put_u32(p + 12, 0);
}

void tc_room_batch_init(struct tc_room_batch *batch, uint8_t *buffer, uint32_t size_max) {
    tc_assert(batch != NULL);
    tc_assert(buffer != NULL);
    tc_assert(size_max >= TC_ROOM_BATCH_HEADER_SIZE);
    batch->buffer = buffer;
    batch->size_max = size_max;
    batch->size = TC_ROOM_BATCH_HEADER_SIZE;
    batch->op_count = 0;
    batch_header_write(batch);
}

// Reserves an op of `op_size` bytes and writes its header; NULL if it does not fit.
static uint8_t *batch_op_reserve(struct tc_room_batch *batch, uint8_t kind, uint32_t op_size) {
    tc_assert(batch->size >= TC_ROOM_BATCH_HEADER_SIZE);
    tc_assert(op_size >= TC_ROOM_OP_HEADER_SIZE);
    if (batch->op_count == TC_ROOM_BATCH_OPS_MAX) return NULL;
    if (op_size > batch->size_max - batch->size) return NULL;
    uint8_t *p = batch->buffer + batch->size;
    p[0] = kind;
    p[1] = 0;
    tc_le_put_u16(p + 2, 0);
    tc_le_put_u32(p + 4, op_size);
    batch->size += op_size;
    batch->op_count += 1;
    batch_header_write(batch);
    return p;
}

static int batch_add_pair(struct tc_room_batch *batch, uint8_t kind, uint64_t room, uint64_t user) {
    uint8_t *p = batch_op_reserve(batch, kind, TC_ROOM_OP_ROOM_SIZE);
    if (p == NULL) return TC_ENOSPC;
    tc_le_put_u64(p + 8, room);
    tc_le_put_u64(p + 16, user);
    return TC_OK;
}

int tc_room_batch_add_create_room(struct tc_room_batch *batch, uint64_t room, uint64_t creator) {
    return batch_add_pair(batch, TC_ROOM_OP_CREATE_ROOM, room, creator);
}

int tc_room_batch_add_join(struct tc_room_batch *batch, uint64_t room, uint64_t user) {
    return batch_add_pair(batch, TC_ROOM_OP_JOIN, room, user);
}

int tc_room_batch_add_leave(struct tc_room_batch *batch, uint64_t room, uint64_t user) {
    return batch_add_pair(batch, TC_ROOM_OP_LEAVE, room, user);
}

int tc_room_batch_add_create_dm(struct tc_room_batch *batch, uint64_t room, uint64_t user_a,
                                uint64_t user_b) {
    uint8_t *p = batch_op_reserve(batch, TC_ROOM_OP_CREATE_DM, TC_ROOM_OP_DM_SIZE);
    if (p == NULL) return TC_ENOSPC;
    tc_le_put_u64(p + 8, room);
    tc_le_put_u64(p + 16, user_a);
    tc_le_put_u64(p + 24, user_b);
    return TC_OK;
}

int tc_room_batch_add_send(struct tc_room_batch *batch, uint64_t room, uint64_t sender,
                           const uint8_t key[TC_ROOM_KEY_SIZE], uint64_t thread_parent_seq,
                           const uint8_t *body, uint32_t body_size) {
    tc_assert(key != NULL);
    tc_assert(body != NULL || body_size == 0);
    if (body_size == 0 || body_size > TC_ROOM_BODY_SIZE_MAX) return TC_EINVAL;
    uint32_t op_size = TC_ROOM_OP_SEND_FIXED_SIZE + body_size;
    uint8_t *p = batch_op_reserve(batch, TC_ROOM_OP_SEND, op_size);
    if (p == NULL) return TC_ENOSPC;
    tc_le_put_u64(p + 8, room);
    tc_le_put_u64(p + 16, sender);
    memcpy(p + 24, key, TC_ROOM_KEY_SIZE);
    tc_le_put_u64(p + 40, thread_parent_seq);
    tc_le_put_u32(p + 48, body_size);
    tc_le_put_u32(p + 52, 0);
    memcpy(p + TC_ROOM_OP_SEND_FIXED_SIZE, body, body_size);
    return TC_OK;
}

int tc_room_batch_add_set_retention(struct tc_room_batch *batch, uint64_t room, uint64_t user,
                                    uint8_t mode, uint64_t value) {
    tc_assert(batch != NULL);
    tc_assert(batch->op_count <= TC_ROOM_BATCH_OPS_MAX);
    if (!tc_room__retention_valid(mode, value)) return TC_EINVAL;
    uint8_t *p = batch_op_reserve(batch, TC_ROOM_OP_SET_RETENTION, TC_ROOM_OP_RETENTION_SIZE);
    if (p == NULL) return TC_ENOSPC;
    tc_le_put_u64(p + 8, room);
    tc_le_put_u64(p + 16, user);
    tc_le_put_u32(p + 24, mode);
    tc_le_put_u32(p + 28, 0);
    tc_le_put_u64(p + 32, value);
    return TC_OK;
}

// read_marker and redact share a layout: room, user, seq.
static int batch_add_seq(struct tc_room_batch *batch, uint8_t kind, uint64_t room, uint64_t user,
                         uint64_t seq) {
    tc_assert(batch != NULL);
    tc_assert(batch->op_count <= TC_ROOM_BATCH_OPS_MAX);
    _Static_assert(TC_ROOM_OP_READ_MARKER_SIZE == TC_ROOM_OP_REDACT_SIZE, "one layout");
    uint8_t *p = batch_op_reserve(batch, kind, TC_ROOM_OP_READ_MARKER_SIZE);
    if (p == NULL) return TC_ENOSPC;
    tc_le_put_u64(p + 8, room);
    tc_le_put_u64(p + 16, user);
    tc_le_put_u64(p + 24, seq);
    return TC_OK;
}

int tc_room_batch_add_read_marker(struct tc_room_batch *batch, uint64_t room, uint64_t user,
                                  uint64_t seq) {
    return batch_add_seq(batch, TC_ROOM_OP_READ_MARKER, room, user, seq);
}

int tc_room_batch_add_redact(struct tc_room_batch *batch, uint64_t room, uint64_t user,
                             uint64_t seq) {
    return batch_add_seq(batch, TC_ROOM_OP_REDACT, room, user, seq);
}

// ------------------------------------------------------------------------------------------------
// Batch decoder.

// Checks one op at `offset` and returns its size, or 0 if it is malformed.
static uint32_t batch_op_check(const uint8_t *body, uint32_t body_size, uint32_t offset) {
    tc_assert(offset <= body_size);
    uint32_t remaining = body_size - offset;
    if (remaining < TC_ROOM_OP_HEADER_SIZE) return 0;
    const uint8_t *p = body + offset;
    if (p[1] != 0 || tc_le_get_u16(p + 2) != 0) return 0;
    uint32_t op_size = tc_le_get_u32(p + 4);
    if (op_size > remaining) return 0;
    switch (p[0]) {
    case TC_ROOM_OP_CREATE_ROOM:
    case TC_ROOM_OP_JOIN:
    case TC_ROOM_OP_LEAVE: return op_size == TC_ROOM_OP_ROOM_SIZE ? op_size : 0;
    case TC_ROOM_OP_CREATE_DM: return op_size == TC_ROOM_OP_DM_SIZE ? op_size : 0;
    case TC_ROOM_OP_READ_MARKER: // any seq decodes: one above the head is a status, not malformed
        return op_size == TC_ROOM_OP_READ_MARKER_SIZE ? op_size : 0;
    case TC_ROOM_OP_REDACT: // any seq decodes, like read_marker's
        return op_size == TC_ROOM_OP_REDACT_SIZE ? op_size : 0;
    case TC_ROOM_OP_SET_RETENTION: // an unknown mode or a bad value is a status, not malformed
        if (op_size != TC_ROOM_OP_RETENTION_SIZE) return 0;
        return tc_le_get_u32(p + 28) == 0 ? op_size : 0;
    case TC_ROOM_OP_SEND: {
        if (op_size < TC_ROOM_OP_SEND_FIXED_SIZE) return 0;
        uint32_t body_bytes = tc_le_get_u32(p + 48);
        if (body_bytes == 0 || body_bytes > TC_ROOM_BODY_SIZE_MAX) return 0;
        if (tc_le_get_u32(p + 52) != 0) return 0;
        return op_size == TC_ROOM_OP_SEND_FIXED_SIZE + body_bytes ? op_size : 0;
    }
    default: return 0;
    }
}

int tc_room_batch_reader_init(struct tc_room_batch_reader *reader, const uint8_t *body,
                              uint32_t body_size) {
    tc_assert(reader != NULL);
    tc_assert(body != NULL || body_size == 0);
    memset(reader, 0, sizeof(*reader));
    if (body_size < TC_ROOM_BATCH_HEADER_SIZE) return TC_ECORRUPT;
    if (body_size > TC_ROOM_BATCH_SIZE_MAX) return TC_ECORRUPT;
    if (tc_le_get_u32(body + 0) != TC_ROOM_BATCH_MAGIC) return TC_ECORRUPT;
    uint32_t op_count = tc_le_get_u16(body + 4);
    if (op_count == 0 || op_count > TC_ROOM_BATCH_OPS_MAX) return TC_ECORRUPT;
    if (tc_le_get_u16(body + 6) != 0 || tc_le_get_u32(body + 12) != 0) return TC_ECORRUPT;
    if (tc_le_get_u32(body + 8) != body_size) return TC_ECORRUPT;
    uint32_t offset = TC_ROOM_BATCH_HEADER_SIZE;
    for (uint32_t index = 0; index < op_count; index++) {
        uint32_t op_size = batch_op_check(body, body_size, offset);
        if (op_size == 0) return TC_ECORRUPT;
        offset += op_size;
        tc_assert(offset <= body_size);
    }
    if (offset != body_size) return TC_ECORRUPT; // trailing bytes
    reader->body = body;
    reader->body_size = body_size;
    reader->offset = TC_ROOM_BATCH_HEADER_SIZE;
    reader->op_count = op_count;
    reader->op_index = 0;
    return TC_OK;
}

bool tc_room_batch_reader_next(struct tc_room_batch_reader *reader, struct tc_room_op *op) {
    tc_assert(reader != NULL);
    tc_assert(op != NULL);
    tc_assert(reader->op_index <= reader->op_count);
    if (reader->op_index == reader->op_count) {
        tc_assert(reader->offset == reader->body_size);
        return false;
    }
    uint32_t op_size = batch_op_check(reader->body, reader->body_size, reader->offset);
    tc_assert(op_size != 0); // init validated the whole batch
    const uint8_t *p = reader->body + reader->offset;
    memset(op, 0, sizeof(*op));
    op->kind = p[0];
    op->room = tc_le_get_u64(p + 8);
    op->user = tc_le_get_u64(p + 16);
    if (op->kind == TC_ROOM_OP_CREATE_DM) op->user_b = tc_le_get_u64(p + 24);
    if (op->kind == TC_ROOM_OP_READ_MARKER || op->kind == TC_ROOM_OP_REDACT) {
        op->seq = tc_le_get_u64(p + 24);
    }
    if (op->kind == TC_ROOM_OP_SEND) {
        memcpy(op->key, p + 24, TC_ROOM_KEY_SIZE);
        op->thread_parent_seq = tc_le_get_u64(p + 40);
        op->body_size = tc_le_get_u32(p + 48);
        op->body = p + TC_ROOM_OP_SEND_FIXED_SIZE;
        tc_assert(op->body_size + TC_ROOM_OP_SEND_FIXED_SIZE == op_size);
    }
    if (op->kind == TC_ROOM_OP_SET_RETENTION) {
        uint32_t mode = tc_le_get_u32(p + 24);
        op->retention.mode = mode > UINT8_MAX ? UINT8_MAX : (uint8_t)mode; // stays unknown
        op->retention.value = tc_le_get_u64(p + 32);
    }
    reader->offset += op_size;
    reader->op_index += 1;
    return true;
}

int tc_room_validate_batch(const uint8_t *body, uint32_t body_size) {
    struct tc_room_batch_reader reader;
    return tc_room_batch_reader_init(&reader, body, body_size);
}

// ------------------------------------------------------------------------------------------------
// Reply encoder and decoder.

void tc_room_reply_writer_init(struct tc_room_reply_writer *writer, uint8_t *buffer,
                               uint32_t size_max) {
    tc_assert(writer != NULL);
    tc_assert(buffer != NULL);
    tc_assert(size_max >= TC_ROOM_REPLY_SIZE_MAX);
    writer->buffer = buffer;
    writer->size_max = size_max;
    writer->count = 0;
}

void tc_room_reply_writer_add(struct tc_room_reply_writer *writer,
                              const struct tc_room_result *result) {
    tc_assert(writer->count < TC_ROOM_BATCH_OPS_MAX);
    tc_assert(result->status < TC_ROOM_STATUS_COUNT);
    tc_assert(!result->duplicate || result->status == TC_ROOM_OK);
    uint8_t *p = writer->buffer + TC_ROOM_REPLY_HEADER_SIZE + writer->count * TC_ROOM_RESULT_SIZE;
    p[0] = result->status;
    p[1] = result->duplicate ? 1u : 0u;
    tc_le_put_u16(p + 2, 0);
    tc_le_put_u32(p + 4, 0);
    tc_le_put_u64(p + 8, result->seq);
    tc_le_put_u64(p + 16, result->thread_seq);
    memcpy(p + 24, result->hash.bytes, sizeof(result->hash.bytes));
    writer->count += 1;
}

uint32_t tc_room_reply_writer_finish(struct tc_room_reply_writer *writer) {
    tc_assert(writer->count >= 1);
    tc_assert(writer->count <= TC_ROOM_BATCH_OPS_MAX);
    uint32_t size = TC_ROOM_REPLY_HEADER_SIZE + writer->count * TC_ROOM_RESULT_SIZE;
    tc_assert(size <= writer->size_max);
    tc_le_put_u32(writer->buffer + 0, TC_ROOM_REPLY_MAGIC);
    tc_le_put_u32(writer->buffer + 4, writer->count);
    tc_le_put_u32(writer->buffer + 8, size);
    tc_le_put_u32(writer->buffer + 12, 0);
    return size;
}

int tc_room_reply_count(const uint8_t *reply, uint32_t reply_size) {
    tc_assert(reply != NULL || reply_size == 0);
    if (reply_size < TC_ROOM_REPLY_HEADER_SIZE) return TC_ECORRUPT;
    if (tc_le_get_u32(reply + 0) != TC_ROOM_REPLY_MAGIC) return TC_ECORRUPT;
    uint32_t count = tc_le_get_u32(reply + 4);
    if (count == 0 || count > TC_ROOM_BATCH_OPS_MAX) return TC_ECORRUPT;
    if (tc_le_get_u32(reply + 8) != reply_size) return TC_ECORRUPT;
    if (tc_le_get_u32(reply + 12) != 0) return TC_ECORRUPT;
    if (reply_size != TC_ROOM_REPLY_HEADER_SIZE + count * TC_ROOM_RESULT_SIZE) return TC_ECORRUPT;
    return (int)count;
}

int tc_room_reply_get(const uint8_t *reply, uint32_t reply_size, uint32_t index,
                      struct tc_room_result *out) {
    tc_assert(out != NULL);
    int count = tc_room_reply_count(reply, reply_size);
    if (count < 0) return count;
    if (index >= (uint32_t)count) return TC_ERANGE;
    const uint8_t *p = reply + TC_ROOM_REPLY_HEADER_SIZE + index * TC_ROOM_RESULT_SIZE;
    if (p[0] >= TC_ROOM_STATUS_COUNT) return TC_ECORRUPT;
    if (p[1] > 1u) return TC_ECORRUPT;
    if (p[1] == 1u && p[0] != TC_ROOM_OK) return TC_ECORRUPT;
    if (tc_le_get_u16(p + 2) != 0 || tc_le_get_u32(p + 4) != 0) return TC_ECORRUPT;
    memset(out, 0, sizeof(*out));
    out->status = p[0];
    out->duplicate = p[1] == 1u;
    out->seq = tc_le_get_u64(p + 8);
    out->thread_seq = tc_le_get_u64(p + 16);
    memcpy(out->hash.bytes, p + 24, sizeof(out->hash.bytes));
    return TC_OK;
}
