// Reference model of the room state machine. Written from docs/room.md, not from room.c: plain
// arrays, linear scans, FIFO arrays shifted with memmove. Slow on purpose; obviously right is the
// goal. It shares only the public wire codec (batch reader, result struct) and the public store
// cost (TC_ROOM_STORE_COST, the contract with the message store) with the real machine.

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
    struct tc_room_retention retention;
    uint32_t history_last; // the room's newest message in the history (MODEL_NONE: none)
};

#define MODEL_NONE UINT32_MAX

struct model_member {
    uint64_t room;
    uint64_t user;
    uint64_t read_marker; // 0 at join; forgotten with the membership
};

struct model_key {
    uint64_t room;
    uint8_t key[TC_ROOM_KEY_SIZE];
    uint64_t seq;
    uint64_t thread_seq;
    struct tc_hash256 hash;
};

// The thread window: the newest messages_max messages, thread metadata and sender only.
struct model_window {
    uint64_t room;
    uint64_t seq;
    uint64_t sender;
    uint64_t thread_parent_seq;
    uint64_t replies; // thread replies so far (for a root)
};

// The full history: every committed message, in commit order, its body in history_bodies. Each
// entry links to the previous message of its room, so a lookup walks only that room's messages.
struct model_history {
    struct tc_room_message message; // body == NULL here; see body_offset
    uint64_t body_offset;
    uint32_t room_previous; // MODEL_NONE: the room's first recorded message
};

// A redaction: permanent; at most messages_max of them.
struct model_redaction {
    uint64_t room;
    uint64_t seq;
    uint64_t sender;
};

struct tc_room_model {
    struct tc_room_config config;
    struct model_room *rooms; // creation order
    uint32_t rooms_count;
    struct model_member *members; // any order
    uint32_t members_count;
    struct model_key *keys; // oldest first
    uint32_t keys_count;
    struct model_window *window; // oldest first
    uint32_t window_count;
    uint64_t store_bytes_used;
    struct model_redaction *redactions; // oldest first
    uint32_t redactions_count;

    struct model_history *history; // oldest first
    uint32_t history_count;
    uint32_t history_max;
    uint8_t *history_bodies;
    uint64_t history_bytes_used;
    uint64_t history_bytes_max;
    uint64_t history_dropped;
};

struct tc_room_model *tc_room_model_create_history(const struct tc_room_config *config,
                                                   uint32_t history_messages_max,
                                                   uint64_t history_bytes_max) {
    if (tc_room_config_invalid(config) != NULL) return NULL;
    struct tc_room_model *model = calloc(1, sizeof(*model));
    if (model == NULL) return NULL;
    model->config = *config;
    model->rooms = calloc(config->rooms_max, sizeof(*model->rooms));
    model->members = calloc(config->members_max, sizeof(*model->members));
    model->keys = calloc(config->idempotency_keys_max, sizeof(*model->keys));
    model->window = calloc(config->messages_max, sizeof(*model->window));
    model->redactions = calloc(config->messages_max, sizeof(*model->redactions));
    model->history_max = history_messages_max;
    model->history_bytes_max = history_bytes_max;
    model->history = calloc((size_t)history_messages_max + 1u, sizeof(*model->history));
    model->history_bodies = calloc(history_bytes_max + 1u, 1);
    if (!model->rooms || !model->members || !model->keys || !model->window || !model->history ||
        !model->history_bodies || !model->redactions) {
        tc_room_model_destroy(model);
        return NULL;
    }
    return model;
}

struct tc_room_model *tc_room_model_create(const struct tc_room_config *config) {
    if (tc_room_config_invalid(config) != NULL) return NULL;
    uint64_t messages = TC_ROOM_MODEL_HISTORY_MESSAGES_DEFAULT;
    uint64_t bytes = TC_ROOM_MODEL_HISTORY_BYTES_DEFAULT;
    if (config->store_bytes_max != 0) {
        messages = config->store_bytes_max / TC_ROOM_STORE_COST(1);
        if (messages > TC_ROOM_MODEL_HISTORY_MESSAGES_CAP) {
            messages = TC_ROOM_MODEL_HISTORY_MESSAGES_CAP;
        }
        bytes = config->store_bytes_max;
        if (bytes > TC_ROOM_MODEL_HISTORY_BYTES_CAP) bytes = TC_ROOM_MODEL_HISTORY_BYTES_CAP;
    }
    return tc_room_model_create_history(config, (uint32_t)messages, bytes);
}

void tc_room_model_destroy(struct tc_room_model *model) {
    if (model == NULL) return;
    free(model->rooms);
    free(model->members);
    free(model->keys);
    free(model->window);
    free(model->redactions);
    free(model->history);
    free(model->history_bodies);
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

static struct model_window *find_in_window(const struct tc_room_model *model, uint64_t room,
                                           uint64_t seq) {
    for (uint32_t i = 0; i < model->window_count; i++) {
        if (model->window[i].room == room && model->window[i].seq == seq) {
            return &model->window[i];
        }
    }
    return NULL;
}

static const struct model_redaction *find_redaction(const struct tc_room_model *model,
                                                     uint64_t room, uint64_t seq) {
    for (uint32_t i = 0; i < model->redactions_count; i++) {
        if (model->redactions[i].room == room && model->redactions[i].seq == seq) {
            return &model->redactions[i];
        }
    }
    return NULL;
}

static void add_member(struct tc_room_model *model, uint64_t room, uint64_t user) {
    tc_assert(model->members_count < model->config.members_max);
    model->members[model->members_count].room = room;
    model->members[model->members_count].user = user;
    model->members[model->members_count].read_marker = 0;
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
    memset(room, 0, sizeof(*room)); // retention keep_all (0, 0)
    room->id = op->room;
    room->dm = dm;
    room->history_last = MODEL_NONE;
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

// docs/room.md §3: keep_all takes 0, keep_days 1..36500, keep_messages 1..2^40.
static bool retention_valid(uint8_t mode, uint64_t value) {
    if (mode == 0) return value == 0;
    if (mode == 1) return value >= 1 && value <= 36500;
    if (mode == 2) return value >= 1 && value <= (1ull << 40);
    return false;
}

static uint8_t model_set_retention(struct tc_room_model *model, const struct tc_room_op *op,
                                   struct tc_room_result *result) {
    if (op->room == 0) return TC_ROOM_INVALID_ROOM;
    if (op->user == 0) return TC_ROOM_INVALID_USER;
    if (!retention_valid(op->retention.mode, op->retention.value)) {
        return TC_ROOM_INVALID_RETENTION;
    }
    struct model_room *room = find_room(model, op->room);
    if (room == NULL) return TC_ROOM_ROOM_NOT_FOUND;
    if (find_member(model, op->room, op->user) < 0) return TC_ROOM_NOT_MEMBER;
    room->retention = op->retention;
    result->seq = room->seq_last;
    result->hash = room->hash_last;
    return TC_ROOM_OK;
}

// docs/room.md §3 read_marker: members only, seq at most the head, the marker only moves forward;
// the result is the marker after the op (hash zero).
static uint8_t model_read_marker(struct tc_room_model *model, const struct tc_room_op *op,
                                 struct tc_room_result *result) {
    if (op->room == 0) return TC_ROOM_INVALID_ROOM;
    if (op->user == 0) return TC_ROOM_INVALID_USER;
    struct model_room *room = find_room(model, op->room);
    if (room == NULL) return TC_ROOM_ROOM_NOT_FOUND;
    int32_t member = find_member(model, op->room, op->user);
    if (member < 0) return TC_ROOM_NOT_MEMBER;
    if (op->seq > room->seq_last) return TC_ROOM_INVALID_SEQ;
    uint64_t *marker = &model->members[member].read_marker;
    if (op->seq > *marker) *marker = op->seq;
    result->seq = *marker;
    return TC_ROOM_OK;
}

// The window keeps the newest messages_max messages: the oldest leaves first.
static void window_add(struct tc_room_model *model, const struct model_window *entry) {
    if (model->window_count == model->config.messages_max) {
        memmove(&model->window[0], &model->window[1],
                (model->window_count - 1) * sizeof(model->window[0]));
        model->window_count--;
    }
    model->window[model->window_count++] = *entry;
}

static void history_add(struct tc_room_model *model, struct model_room *room,
                        const struct tc_room_message *message) {
    if (model->history_count == model->history_max ||
        model->history_bytes_max - model->history_bytes_used < message->body_size) {
        model->history_dropped++;
        return;
    }
    struct model_history *entry = &model->history[model->history_count];
    entry->room_previous = room->history_last;
    room->history_last = model->history_count;
    model->history_count++;
    entry->message = *message;
    entry->message.body = NULL;
    entry->body_offset = model->history_bytes_used;
    memcpy(model->history_bodies + entry->body_offset, message->body, message->body_size);
    model->history_bytes_used += message->body_size;
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

// The checks of a send after the duplicate check; *root is the thread root in the window.
static uint8_t send_checks(struct tc_room_model *model, const struct tc_room_op *op,
                           const struct model_room *room, struct model_window **root) {
    *root = NULL;
    if (find_member(model, op->room, op->user) < 0) return TC_ROOM_NOT_MEMBER;
    if (op->thread_parent_seq != 0) {
        if (op->thread_parent_seq > room->seq_last) return TC_ROOM_THREAD_PARENT_NOT_FOUND;
        *root = find_in_window(model, op->room, op->thread_parent_seq);
        if (*root == NULL) return TC_ROOM_THREAD_PARENT_EVICTED;
        if ((*root)->thread_parent_seq != 0) return TC_ROOM_THREAD_PARENT_IS_REPLY;
    }
    uint64_t cost = TC_ROOM_STORE_COST(op->body_size);
    uint64_t budget = model->config.store_bytes_max;
    if (budget != 0 && model->store_bytes_used + cost > budget) return TC_ROOM_STORE_FULL;
    return TC_ROOM_OK;
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
    struct model_window *root = NULL;
    uint8_t status = send_checks(model, op, room, &root);
    if (status != TC_ROOM_OK) return status;
    struct tc_room_message message = {.room = op->room,
                                      .seq = room->seq_last + 1,
                                      .thread_parent_seq = op->thread_parent_seq,
                                      .thread_seq = root != NULL ? ++root->replies : 0,
                                      .sender = op->user,
                                      .timestamp_ns = timestamp_ns,
                                      .prev_hash = room->hash_last,
                                      .body = op->body,
                                      .body_size = op->body_size};
    model_chain_hash(&message.hash, &room->hash_last, op->room, message.seq, op->user, timestamp_ns,
                     op->body, op->body_size);
    room->seq_last = message.seq;
    room->hash_last = message.hash;
    model->store_bytes_used += TC_ROOM_STORE_COST(op->body_size);
    struct model_window entry = {.room = op->room,
                                 .seq = message.seq,
                                 .sender = op->user,
                                 .thread_parent_seq = message.thread_parent_seq};
    window_add(model, &entry);
    history_add(model, room, &message);
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

// docs/room.md §3 redact: members only; seq in 1..head; a repeat by the redactor is ok and a
// duplicate, by anyone else not_sender; then the message must still be in the thread window, be
// the user's own, and the table must have room. Nothing else changes.
static uint8_t model_redact(struct tc_room_model *model, const struct tc_room_op *op,
                            struct tc_room_result *result) {
    if (op->room == 0) return TC_ROOM_INVALID_ROOM;
    if (op->user == 0) return TC_ROOM_INVALID_USER;
    struct model_room *room = find_room(model, op->room);
    if (room == NULL) return TC_ROOM_ROOM_NOT_FOUND;
    if (find_member(model, op->room, op->user) < 0) return TC_ROOM_NOT_MEMBER;
    if (op->seq == 0 || op->seq > room->seq_last) return TC_ROOM_INVALID_SEQ;
    result->seq = op->seq;
    const struct model_redaction *done = find_redaction(model, op->room, op->seq);
    if (done != NULL) {
        if (done->sender != op->user) return TC_ROOM_NOT_SENDER;
        result->duplicate = true;
        return TC_ROOM_OK;
    }
    const struct model_window *entry = find_in_window(model, op->room, op->seq);
    if (entry == NULL) return TC_ROOM_MESSAGE_EVICTED;
    if (entry->sender != op->user) return TC_ROOM_NOT_SENDER;
    if (model->redactions_count == model->config.messages_max) return TC_ROOM_REDACTIONS_FULL;
    struct model_redaction *redaction = &model->redactions[model->redactions_count++];
    redaction->room = op->room;
    redaction->seq = op->seq;
    redaction->sender = op->user;
    return TC_ROOM_OK;
}

static uint8_t model_op(struct tc_room_model *model, const struct tc_room_op *op,
                        uint64_t timestamp_ns, struct tc_room_result *result) {
    switch (op->kind) {
    case TC_ROOM_OP_REDACT: return model_redact(model, op, result);
    case TC_ROOM_OP_SEND: return model_send(model, op, timestamp_ns, result);
    case TC_ROOM_OP_JOIN:
    case TC_ROOM_OP_LEAVE: return model_join_leave(model, op, result);
    case TC_ROOM_OP_SET_RETENTION: return model_set_retention(model, op, result);
    case TC_ROOM_OP_READ_MARKER: return model_read_marker(model, op, result);
    default: return model_create(model, op, result);
    }
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
        uint8_t status = model_op(model, &op, timestamp_ns, result);
        if (status != TC_ROOM_OK) memset(result, 0, sizeof(*result));
        result->status = status;
    }
    return count;
}

// ------------------------------------------------------------------------------------------------
// Reads.

int tc_room_model_chain_head(const struct tc_room_model *model, uint64_t room, uint64_t *seq,
                             struct tc_hash256 *hash) {
    const struct model_room *entry = find_room(model, room);
    if (entry == NULL) return TC_ENOENT;
    *seq = entry->seq_last;
    *hash = entry->hash_last;
    return TC_OK;
}

int tc_room_model_message(const struct tc_room_model *model, uint64_t room, uint64_t seq,
                          struct tc_room_message *out) {
    tc_assert(model != NULL);
    tc_assert(out != NULL);
    memset(out, 0, sizeof(*out));
    const struct model_room *entry = find_room(model, room);
    if (entry == NULL || seq == 0 || seq > entry->seq_last) return TC_ENOENT;
    uint32_t index = entry->history_last; // the room's messages, newest first
    for (uint32_t steps = 0; steps < model->history_count && index != MODEL_NONE; steps++) {
        const struct model_history *h = &model->history[index];
        tc_assert(h->message.room == room);
        if (h->message.seq < seq) break;
        if (h->message.seq == seq) {
            *out = h->message;
            out->body = model->history_bodies + h->body_offset;
            if (find_redaction(model, room, seq) != NULL) {
                out->redacted = true;
                tc_hash256_compute(&out->body_hash, out->body, out->body_size);
            }
            return TC_OK;
        }
        index = h->room_previous;
    }
    tc_assert(model->history_dropped > 0); // committed, so only a full history misses it
    return TC_ENOSPC;
}

int tc_room_model_retention(const struct tc_room_model *model, uint64_t room,
                            struct tc_room_retention *out) {
    tc_assert(out != NULL);
    const struct model_room *entry = find_room(model, room);
    if (entry == NULL) return TC_ENOENT;
    *out = entry->retention;
    return TC_OK;
}

int tc_room_model_read_marker(const struct tc_room_model *model, uint64_t room, uint64_t user,
                              uint64_t *seq) {
    tc_assert(seq != NULL);
    int32_t member = find_member(model, room, user);
    if (member < 0) return TC_ENOENT;
    *seq = model->members[member].read_marker;
    return TC_OK;
}

bool tc_room_model_redacted(const struct tc_room_model *model, uint64_t room, uint64_t seq) {
    return find_redaction(model, room, seq) != NULL;
}

uint32_t tc_room_model_redaction_count(const struct tc_room_model *model) {
    return model->redactions_count;
}

int tc_room_model_redaction_at(const struct tc_room_model *model, uint32_t index, uint64_t *room,
                               uint64_t *seq) {
    if (index >= model->redactions_count) return TC_ERANGE;
    *room = model->redactions[index].room;
    *seq = model->redactions[index].seq;
    return TC_OK;
}

// docs/room.md §4 from the message's own fields: the body's hash from the body, or, for a
// redacted message, the body_hash it carries.
bool tc_room_model_chain_verify(const struct tc_room_message *message) {
    uint8_t preimage[32 + 8 * 4 + 32];
    memcpy(preimage, message->prev_hash.bytes, 32);
    le64(preimage + 32, message->room);
    le64(preimage + 40, message->seq);
    le64(preimage + 48, message->sender);
    le64(preimage + 56, message->timestamp_ns);
    struct tc_hash256 body_hash = message->body_hash;
    if (!message->redacted) tc_hash256_compute(&body_hash, message->body, message->body_size);
    memcpy(preimage + 64, body_hash.bytes, 32);
    struct tc_hash256 hash;
    tc_hash256_compute(&hash, preimage, sizeof(preimage));
    return tc_hash256_equal(&hash, &message->hash);
}

uint64_t tc_room_model_store_bytes_used(const struct tc_room_model *model) {
    return model->store_bytes_used;
}

uint64_t tc_room_model_history_dropped(const struct tc_room_model *model) {
    return model->history_dropped;
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
