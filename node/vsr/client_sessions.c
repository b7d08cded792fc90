#include "client_sessions.h"

#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"
#include "tc_le.h"

uint64_t tc_client_sessions_memory_size(uint32_t capacity) {
    return (uint64_t)capacity * (sizeof(struct tc_client_session) + TC_REPLY_SIZE_MAX + 64) + 64;
}

int tc_client_sessions_init(struct tc_client_sessions *sessions, uint32_t capacity,
                            struct tc_arena *arena) {
    tc_assert(capacity >= 1);
    tc_assert(capacity <= TC_CLIENTS_MAX);
    sessions->capacity = capacity;
    sessions->count = 0;
    sessions->entries = tc_arena_alloc(arena, (uint64_t)capacity * sizeof(struct tc_client_session), 64);
    if (sessions->entries == NULL) return TC_ENOMEM;
    for (uint32_t i = 0; i < capacity; i++) {
        sessions->entries[i].reply = tc_arena_alloc(arena, TC_REPLY_SIZE_MAX, 64);
        if (sessions->entries[i].reply == NULL) return TC_ENOMEM;
    }
    return TC_OK;
}

struct tc_client_session *tc_client_sessions_find(struct tc_client_sessions *sessions,
                                                  uint64_t client) {
    tc_assert(client != 0);
    for (uint32_t i = 0; i < sessions->capacity; i++) {
        if (sessions->entries[i].client == client) return &sessions->entries[i];
    }
    return NULL;
}

struct tc_client_session *tc_client_sessions_register(struct tc_client_sessions *sessions,
                                                      uint64_t client, uint64_t op,
                                                      uint64_t *evicted) {
    tc_assert(tc_client_sessions_find(sessions, client) == NULL);
    *evicted = 0;
    struct tc_client_session *target = NULL;
    for (uint32_t i = 0; i < sessions->capacity; i++) {
        struct tc_client_session *entry = &sessions->entries[i];
        if (entry->client == 0) {
            target = entry;
            break;
        }
        if (target == NULL || entry->last_op < target->last_op) target = entry;
    }
    tc_assert(target != NULL);
    if (target->client != 0) {
        tc_assert(sessions->count == sessions->capacity);
        *evicted = target->client;
        sessions->count--;
    }
    uint8_t *reply = target->reply;
    memset(target, 0, sizeof(*target));
    target->reply = reply;
    target->client = client;
    target->session = op;
    target->last_op = op;
    target->request = 0;
    sessions->count++;
    tc_assert(sessions->count <= sessions->capacity);
    return target;
}

void tc_client_sessions_store_reply(struct tc_client_session *session, const uint8_t *reply,
                                    uint32_t reply_size) {
    const struct tc_header *header = (const struct tc_header *)(const void *)reply;
    tc_assert(reply_size >= TC_HEADER_SIZE);
    tc_assert(reply_size <= TC_REPLY_SIZE_MAX);
    tc_assert(header->client == session->client);
    tc_assert(header->request >= session->request);
    memcpy(session->reply, reply, reply_size);
    session->reply_size = reply_size;
    session->request = header->request;
    session->last_op = header->op;
}

void tc_client_sessions_digest(const struct tc_client_sessions *sessions, struct tc_checksum *out) {
    struct tc_hash256_state state;
    tc_hash256_init(&state);
    for (uint32_t i = 0; i < sessions->capacity; i++) {
        const struct tc_client_session *entry = &sessions->entries[i];
        if (entry->client == 0) continue;
        tc_hash256_update(&state, &entry->client, sizeof(entry->client));
        tc_hash256_update(&state, &entry->session, sizeof(entry->session));
        tc_hash256_update(&state, &entry->last_op, sizeof(entry->last_op));
        tc_hash256_update(&state, &entry->request, sizeof(entry->request));
        // A session always has its register reply once registered through apply; a bare
        // registration (unit tests) hashes no reply.
        if (entry->reply_size >= TC_HEADER_SIZE) {
            tc_hash256_update(&state, entry->reply + TC_HEADER_SIZE,
                              entry->reply_size - TC_HEADER_SIZE);
        }
    }
    struct tc_hash256 hash;
    tc_hash256_final(&state, &hash);
    memcpy(out->bytes, hash.bytes, sizeof(out->bytes));
}

// ------------------------------------------------------------------------------------------------
// Checkpoint (docs/room.md, "Checkpoint encoding"). Integers little-endian, written byte by byte.

uint64_t tc_client_sessions_checkpoint_size_max(uint32_t capacity) {
    tc_assert(capacity >= 1);
    tc_assert(capacity <= TC_CLIENTS_MAX);
    return TC_CLIENT_SESSIONS_CHECKPOINT_HEADER_SIZE +
           (uint64_t)capacity * (TC_CLIENT_SESSIONS_CHECKPOINT_ENTRY_SIZE + TC_REPLY_SIZE_MAX);
}

static uint64_t checkpoint_encode_entry(const struct tc_client_session *entry, uint8_t *p) {
    tc_assert(entry->client != 0);
    tc_assert(entry->reply_size <= TC_REPLY_SIZE_MAX);
    tc_le_put_u64(p + 0, entry->client);
    tc_le_put_u64(p + 8, entry->session);
    tc_le_put_u64(p + 16, entry->last_op);
    tc_le_put_u32(p + 24, entry->request);
    tc_le_put_u32(p + 28, entry->reply_size);
    memcpy(p + TC_CLIENT_SESSIONS_CHECKPOINT_ENTRY_SIZE, entry->reply, entry->reply_size);
    return TC_CLIENT_SESSIONS_CHECKPOINT_ENTRY_SIZE + entry->reply_size;
}

uint64_t tc_client_sessions_checkpoint_encode(const struct tc_client_sessions *sessions,
                                              uint8_t *buffer, uint64_t buffer_size) {
    tc_assert(sessions != NULL);
    tc_assert(buffer != NULL);
    uint64_t size_max = tc_client_sessions_checkpoint_size_max(sessions->capacity);
    tc_assert(buffer_size >= size_max);
    tc_assert(sessions->count <= sessions->capacity);
    uint64_t offset = TC_CLIENT_SESSIONS_CHECKPOINT_HEADER_SIZE;
    for (uint32_t i = 0; i < sessions->capacity; i++) {
        const struct tc_client_session *entry = &sessions->entries[i];
        // Register takes the first free entry and entries are only ever replaced: a prefix is used.
        tc_assert((entry->client != 0) == (i < sessions->count));
        if (entry->client == 0) continue;
        offset += checkpoint_encode_entry(entry, buffer + offset);
        tc_assert(offset <= size_max);
    }
    tc_le_put_u32(buffer + 0, TC_CLIENT_SESSIONS_CHECKPOINT_MAGIC);
    tc_le_put_u32(buffer + 4, TC_CLIENT_SESSIONS_CHECKPOINT_VERSION);
    tc_le_put_u64(buffer + 8, offset);
    tc_le_put_u32(buffer + 16, sessions->capacity);
    tc_le_put_u32(buffer + 20, sessions->count);
    return offset;
}

// Empties the table as init leaves it (zeroed entries and replies; the reply buffers stay).
static void checkpoint_reset(struct tc_client_sessions *sessions) {
    for (uint32_t i = 0; i < sessions->capacity; i++) {
        struct tc_client_session *entry = &sessions->entries[i];
        uint8_t *reply = entry->reply;
        tc_assert(entry->reply_size <= TC_REPLY_SIZE_MAX);
        memset(reply, 0, entry->reply_size);
        memset(entry, 0, sizeof(*entry));
        entry->reply = reply;
    }
    sessions->count = 0;
}

// A session as register and store_reply leave it: registered at an op after the root, either
// bare (no reply yet, request 0, last_op = session) or holding the reply whose header names the
// client, the request and the op (last_op) it answers.
static bool checkpoint_entry_valid(const struct tc_client_session *entry) {
    if (entry->session == 0 || entry->last_op < entry->session) return false;
    if (entry->reply_size == 0) return entry->request == 0 && entry->last_op == entry->session;
    if (entry->reply_size < TC_HEADER_SIZE || entry->reply_size > TC_REPLY_SIZE_MAX) return false;
    const struct tc_header *header = (const struct tc_header *)(const void *)entry->reply;
    return header->client == entry->client && header->request == entry->request &&
           header->op == entry->last_op;
}

// Decodes entry `index` from buffer[*offset, size) and advances *offset past it.
static int checkpoint_decode_entry(struct tc_client_sessions *sessions, uint32_t index,
                                   const uint8_t *buffer, uint64_t size, uint64_t *offset) {
    tc_assert(index < sessions->capacity);
    tc_assert(*offset <= size);
    if (size - *offset < TC_CLIENT_SESSIONS_CHECKPOINT_ENTRY_SIZE) return TC_ECORRUPT;
    const uint8_t *p = buffer + *offset;
    struct tc_client_session *entry = &sessions->entries[index];
    entry->client = tc_le_get_u64(p + 0);
    entry->session = tc_le_get_u64(p + 8);
    entry->last_op = tc_le_get_u64(p + 16);
    entry->request = tc_le_get_u32(p + 24);
    uint32_t reply_size = tc_le_get_u32(p + 28);
    *offset += TC_CLIENT_SESSIONS_CHECKPOINT_ENTRY_SIZE;
    if (reply_size > TC_REPLY_SIZE_MAX || size - *offset < reply_size) return TC_ECORRUPT;
    memcpy(entry->reply, buffer + *offset, reply_size);
    entry->reply_size = reply_size;
    *offset += reply_size;
    if (entry->client == 0) return TC_ECORRUPT;
    for (uint32_t i = 0; i < index; i++) {
        if (sessions->entries[i].client == entry->client) return TC_ECORRUPT; // duplicate
    }
    if (!checkpoint_entry_valid(entry)) return TC_ECORRUPT;
    sessions->count += 1;
    return TC_OK;
}

static int checkpoint_decode_header(const struct tc_client_sessions *sessions,
                                    const uint8_t *buffer, uint64_t size, uint32_t *count) {
    if (size < TC_CLIENT_SESSIONS_CHECKPOINT_HEADER_SIZE) return TC_ECORRUPT;
    if (tc_le_get_u32(buffer + 0) != TC_CLIENT_SESSIONS_CHECKPOINT_MAGIC) return TC_ECORRUPT;
    if (tc_le_get_u32(buffer + 4) != TC_CLIENT_SESSIONS_CHECKPOINT_VERSION) return TC_ECORRUPT;
    if (tc_le_get_u64(buffer + 8) != size) return TC_ECORRUPT;
    if (tc_le_get_u32(buffer + 16) != sessions->capacity) return TC_ECORRUPT;
    *count = tc_le_get_u32(buffer + 20);
    if (*count > sessions->capacity) return TC_ECORRUPT;
    return TC_OK;
}

int tc_client_sessions_checkpoint_decode(struct tc_client_sessions *sessions,
                                         const uint8_t *buffer, uint64_t size) {
    tc_assert(sessions != NULL);
    tc_assert(buffer != NULL || size == 0);
    checkpoint_reset(sessions);
    uint32_t count = 0;
    uint64_t offset = TC_CLIENT_SESSIONS_CHECKPOINT_HEADER_SIZE;
    int rc = checkpoint_decode_header(sessions, buffer, size, &count);
    for (uint32_t i = 0; i < count && rc == TC_OK; i++) {
        rc = checkpoint_decode_entry(sessions, i, buffer, size, &offset);
    }
    if (rc == TC_OK && offset != size) rc = TC_ECORRUPT; // trailing bytes
    if (rc != TC_OK) {
        checkpoint_reset(sessions);
        return rc;
    }
    tc_assert(sessions->count == count);
    return TC_OK;
}
