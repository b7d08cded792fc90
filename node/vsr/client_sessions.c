#include "client_sessions.h"

#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"

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
