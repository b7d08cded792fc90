// Reference model of the room state machine. Written from docs/room.md, not from room.c: plain
// arrays, linear scans, FIFO arrays shifted with memmove. Slow on purpose; obviously right is the
// goal. It shares only the public wire codec (batch reader, result struct) with the real machine.

#include "room_model.h"

#include <stdlib.h>
#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"

struct model_room {
    uint64_t id;
    bool dm;
    uint64_t seq_last;
    struct tc_hash256 hash_last;
};

struct model_member {
    uint64_t room;
    uint64_t user;
};

struct model_key {
    uint64_t room;
    uint8_t key[TC_ROOM_KEY_SIZE];
    uint64_t seq;
    uint64_t thread_seq;
    struct tc_hash256 hash;
};

struct model_message {
    uint64_t room;
    uint64_t seq;
    uint64_t thread_parent_seq;
    uint64_t thread_seq;
    uint64_t replies; // thread replies so far (for a root)
    uint64_t sender;
    uint64_t timestamp_ns;
    struct tc_hash256 hash;
    struct tc_hash256 prev_hash;
    uint64_t body_start; // logical byte position in the body ring
    uint32_t body_size;
    uint8_t body[TC_ROOM_BODY_SIZE_MAX];
};

struct tc_room_model {
    struct tc_room_config config;
    struct model_room *rooms; // creation order
    uint32_t rooms_count;
    struct model_member *members; // any order
    uint32_t members_count;
    struct model_key *keys; // oldest first
    uint32_t keys_count;
    struct model_message *messages; // oldest first
    uint32_t messages_count;
    uint64_t body_next; // logical position after the newest body
};

struct tc_room_model *tc_room_model_create(const struct tc_room_config *config) {
    if (tc_room_config_invalid(config) != NULL) return NULL;
    struct tc_room_model *model = calloc(1, sizeof(*model));
    if (model == NULL) return NULL;
    model->config = *config;
    model->rooms = calloc(config->rooms_max, sizeof(*model->rooms));
    model->members = calloc(config->members_max, sizeof(*model->members));
    model->keys = calloc(config->idempotency_keys_max, sizeof(*model->keys));
    model->messages = calloc(config->messages_max, sizeof(*model->messages));
    if (!model->rooms || !model->members || !model->keys || !model->messages) {
        tc_room_model_destroy(model);
        return NULL;
    }
    return model;
}

void tc_room_model_destroy(struct tc_room_model *model) {
    if (model == NULL) return;
    free(model->rooms);
    free(model->members);
    free(model->keys);
    free(model->messages);
    free(model);
}

// ------------------------------------------------------------------------------------------------
// Lookups (linear).

static struct model_room *find_room(const struct tc_room_model *model, uint64_t id) {
    for (uint32_t i = 0; i < model->rooms_count; i++) {
        if (model->rooms[i].id == id) return &model->rooms[i];
    }
    return NULL;
}

static int32_t find_member(const struct tc_room_model *model, uint64_t room, uint64_t user) {
    for (uint32_t i = 0; i < model->members_count; i++) {
        if (model->members[i].room == room && model->members[i].user == user) return (int32_t)i;
    }
    return -1;
}

static struct model_message *find_message(const struct tc_room_model *model, uint64_t room,
                                          uint64_t seq) {
    for (uint32_t i = 0; i < model->messages_count; i++) {
        if (model->messages[i].room == room && model->messages[i].seq == seq) {
            return &model->messages[i];
        }
    }
    return NULL;
}

static uint64_t lowest_retained(const struct tc_room_model *model, const struct model_room *room) {
    uint64_t lowest = room->seq_last + 1;
    for (uint32_t i = 0; i < model->messages_count; i++) {
        const struct model_message *m = &model->messages[i];
        if (m->room == room->id && m->seq < lowest) lowest = m->seq;
    }
    return lowest;
}

static void add_member(struct tc_room_model *model, uint64_t room, uint64_t user) {
    tc_assert(model->members_count < model->config.members_max);
    model->members[model->members_count].room = room;
    model->members[model->members_count].user = user;
    model->members_count++;
}

// ------------------------------------------------------------------------------------------------
// The hash chain, computed here independently of tc_room_chain_hash.

static void le64(uint8_t *out, uint64_t v) {
    for (int i = 0; i < 8; i++) out[i] = (uint8_t)(v >> (8 * i));
}

static void model_chain_hash(struct tc_hash256 *out, const struct tc_hash256 *prev, uint64_t room,
                             uint64_t seq, uint64_t sender, uint64_t timestamp_ns,
                             const uint8_t *body, uint32_t body_size) {
    uint8_t preimage[32 + 8 * 4 + 32];
    memcpy(preimage, prev->bytes, 32);
    le64(preimage + 32, room);
    le64(preimage + 40, seq);
    le64(preimage + 48, sender);
    le64(preimage + 56, timestamp_ns);
    struct tc_hash256 body_hash;
    tc_hash256_compute(&body_hash, body, body_size);
    memcpy(preimage + 64, body_hash.bytes, 32);
    tc_hash256_compute(out, preimage, sizeof(preimage));
}

// ------------------------------------------------------------------------------------------------
// Ops.

static uint8_t model_create(struct tc_room_model *model, const struct tc_room_op *op,
                            struct tc_room_result *result) {
    bool dm = op->kind == TC_ROOM_OP_CREATE_DM;
    if (op->room == 0) return TC_ROOM_INVALID_ROOM;
    if (op->user == 0) return TC_ROOM_INVALID_USER;
    if (dm && (op->user_b == 0 || op->user_b == op->user)) return TC_ROOM_INVALID_USER;
    if (find_room(model, op->room) != NULL) return TC_ROOM_ROOM_EXISTS;
    if (model->rooms_count == model->config.rooms_max) return TC_ROOM_ROOMS_FULL;
    uint32_t free_members = model->config.members_max - model->members_count;
    if (free_members < (dm ? 2u : 1u)) return TC_ROOM_MEMBERS_FULL;
    struct model_room *room = &model->rooms[model->rooms_count++];
    memset(room, 0, sizeof(*room));
    room->id = op->room;
    room->dm = dm;
    add_member(model, op->room, op->user);
    if (dm) add_member(model, op->room, op->user_b);
    result->seq = 0;
    return TC_ROOM_OK;
}

static uint8_t model_join_leave(struct tc_room_model *model, const struct tc_room_op *op,
                                struct tc_room_result *result) {
    if (op->room == 0) return TC_ROOM_INVALID_ROOM;
    if (op->user == 0) return TC_ROOM_INVALID_USER;
    struct model_room *room = find_room(model, op->room);
    if (room == NULL) return TC_ROOM_ROOM_NOT_FOUND;
    if (room->dm) return TC_ROOM_DM_FIXED;
    int32_t member = find_member(model, op->room, op->user);
    if (op->kind == TC_ROOM_OP_JOIN) {
        if (member >= 0) return TC_ROOM_ALREADY_MEMBER;
        if (model->members_count == model->config.members_max) return TC_ROOM_MEMBERS_FULL;
        add_member(model, op->room, op->user);
    } else {
        if (member < 0) return TC_ROOM_NOT_MEMBER;
        model->members[member] = model->members[model->members_count - 1];
        model->members_count--;
    }
    result->seq = room->seq_last;
    result->hash = room->hash_last;
    return TC_ROOM_OK;
}

static void evict_oldest_message(struct tc_room_model *model) {
    tc_assert(model->messages_count > 0);
    memmove(&model->messages[0], &model->messages[1],
            (model->messages_count - 1) * sizeof(model->messages[0]));
    model->messages_count--;
}

// Stores a message, evicting the oldest ones first per the retention rules in docs/room.md.
static void store_message(struct tc_room_model *model, const struct model_message *message) {
    uint64_t ring = model->config.body_bytes_max;
    uint64_t start = model->body_next;
    if (start % ring + message->body_size > ring) start = (start / ring + 1) * ring;
    uint64_t end = start + message->body_size;
    while (model->messages_count > 0) {
        bool records_full = model->messages_count == model->config.messages_max;
        bool bytes_full = end - model->messages[0].body_start > ring;
        if (!records_full && !bytes_full) break;
        evict_oldest_message(model);
    }
    struct model_message *stored = &model->messages[model->messages_count++];
    *stored = *message;
    stored->body_start = start;
    model->body_next = end;
}

static void remember_key(struct tc_room_model *model, const struct model_key *key) {
    if (model->keys_count == model->config.idempotency_keys_max) {
        memmove(&model->keys[0], &model->keys[1], (model->keys_count - 1) * sizeof(model->keys[0]));
        model->keys_count--;
    }
    model->keys[model->keys_count++] = *key;
}

static const struct model_key *find_key(const struct tc_room_model *model, uint64_t room,
                                        const uint8_t *key) {
    for (uint32_t i = 0; i < model->keys_count; i++) {
        if (model->keys[i].room == room && memcmp(model->keys[i].key, key, 16) == 0) {
            return &model->keys[i];
        }
    }
    return NULL;
}

static uint8_t model_send(struct tc_room_model *model, const struct tc_room_op *op,
                          uint64_t timestamp_ns, struct tc_room_result *result) {
    static const uint8_t zero_key[TC_ROOM_KEY_SIZE] = {0};
    if (op->room == 0) return TC_ROOM_INVALID_ROOM;
    if (op->user == 0) return TC_ROOM_INVALID_USER;
    if (memcmp(op->key, zero_key, sizeof(zero_key)) == 0) return TC_ROOM_INVALID_KEY;
    struct model_room *room = find_room(model, op->room);
    if (room == NULL) return TC_ROOM_ROOM_NOT_FOUND;
    const struct model_key *seen = find_key(model, op->room, op->key);
    if (seen != NULL) {
        result->duplicate = true;
        result->seq = seen->seq;
        result->thread_seq = seen->thread_seq;
        result->hash = seen->hash;
        return TC_ROOM_OK;
    }
    if (find_member(model, op->room, op->user) < 0) return TC_ROOM_NOT_MEMBER;
    struct model_message *root = NULL;
    if (op->thread_parent_seq != 0) {
        if (op->thread_parent_seq > room->seq_last) return TC_ROOM_THREAD_PARENT_NOT_FOUND;
        root = find_message(model, op->room, op->thread_parent_seq);
        if (root == NULL) return TC_ROOM_THREAD_PARENT_EVICTED;
        if (root->thread_parent_seq != 0) return TC_ROOM_THREAD_PARENT_IS_REPLY;
    }
    struct model_message message;
    memset(&message, 0, sizeof(message));
    message.room = op->room;
    message.seq = room->seq_last + 1;
    message.thread_parent_seq = op->thread_parent_seq;
    if (root != NULL) message.thread_seq = ++root->replies;
    message.sender = op->user;
    message.timestamp_ns = timestamp_ns;
    message.prev_hash = room->hash_last;
    model_chain_hash(&message.hash, &room->hash_last, op->room, message.seq, op->user, timestamp_ns,
                     op->body, op->body_size);
    message.body_size = op->body_size;
    memcpy(message.body, op->body, op->body_size);
    room->seq_last = message.seq;
    room->hash_last = message.hash;
    store_message(model, &message);

    struct model_key key = {.room = op->room,
                            .seq = message.seq,
                            .thread_seq = message.thread_seq,
                            .hash = message.hash};
    memcpy(key.key, op->key, TC_ROOM_KEY_SIZE);
    remember_key(model, &key);
    result->seq = message.seq;
    result->thread_seq = message.thread_seq;
    result->hash = message.hash;
    return TC_ROOM_OK;
}

uint32_t tc_room_model_apply(struct tc_room_model *model, uint64_t timestamp_ns,
                             const uint8_t *body, uint32_t body_size,
                             struct tc_room_result *results) {
    tc_assert(model != NULL);
    tc_assert(results != NULL);
    struct tc_room_batch_reader reader;
    if (tc_room_batch_reader_init(&reader, body, body_size) != TC_OK) {
        memset(&results[0], 0, sizeof(results[0]));
        results[0].status = TC_ROOM_MALFORMED_BATCH;
        return 1;
    }
    uint32_t count = 0;
    struct tc_room_op op;
    while (tc_room_batch_reader_next(&reader, &op)) {
        struct tc_room_result *result = &results[count++];
        memset(result, 0, sizeof(*result));
        uint8_t status;
        if (op.kind == TC_ROOM_OP_SEND) {
            status = model_send(model, &op, timestamp_ns, result);
        } else if (op.kind == TC_ROOM_OP_JOIN || op.kind == TC_ROOM_OP_LEAVE) {
            status = model_join_leave(model, &op, result);
        } else {
            status = model_create(model, &op, result);
        }
        if (status != TC_ROOM_OK) memset(result, 0, sizeof(*result));
        result->status = status;
    }
    return count;
}

// ------------------------------------------------------------------------------------------------
// Reads.

int tc_room_model_history(const struct tc_room_model *model, uint64_t room, uint64_t from_seq,
                          uint32_t limit, struct tc_room_message *out, uint32_t *count,
                          uint64_t *seq_retained_min) {
    *count = 0;
    *seq_retained_min = 0;
    const struct model_room *entry = find_room(model, room);
    if (entry == NULL) return TC_ENOENT;
    *seq_retained_min = lowest_retained(model, entry);
    if (from_seq == 0) from_seq = 1;
    if (from_seq < *seq_retained_min) return TC_ERANGE;
    for (uint64_t seq = from_seq; seq <= entry->seq_last && *count < limit; seq++) {
        const struct model_message *m = find_message(model, room, seq);
        tc_assert(m != NULL);
        struct tc_room_message *o = &out[*count];
        *count += 1;
        o->room = m->room;
        o->seq = m->seq;
        o->thread_parent_seq = m->thread_parent_seq;
        o->thread_seq = m->thread_seq;
        o->sender = m->sender;
        o->timestamp_ns = m->timestamp_ns;
        o->hash = m->hash;
        o->prev_hash = m->prev_hash;
        o->body = m->body;
        o->body_size = m->body_size;
    }
    return TC_OK;
}

int tc_room_model_chain_head(const struct tc_room_model *model, uint64_t room, uint64_t *seq,
                             struct tc_hash256 *hash) {
    const struct model_room *entry = find_room(model, room);
    if (entry == NULL) return TC_ENOENT;
    *seq = entry->seq_last;
    *hash = entry->hash_last;
    return TC_OK;
}

bool tc_room_result_equal(const struct tc_room_result *a, const struct tc_room_result *b) {
    return a->status == b->status && a->duplicate == b->duplicate && a->seq == b->seq &&
           a->thread_seq == b->thread_seq && tc_hash256_equal(&a->hash, &b->hash);
}

int32_t tc_room_model_reply_mismatch(const struct tc_room_result *expected, uint32_t count,
                                     const uint8_t *reply, uint32_t reply_size) {
    int decoded_count = tc_room_reply_count(reply, reply_size);
    if (decoded_count < 0 || (uint32_t)decoded_count != count) return (int32_t)count;
    for (uint32_t i = 0; i < count; i++) {
        struct tc_room_result actual;
        if (tc_room_reply_get(reply, reply_size, i, &actual) != TC_OK) return (int32_t)i;
        if (!tc_room_result_equal(&expected[i], &actual)) return (int32_t)i;
    }
    return -1;
}
