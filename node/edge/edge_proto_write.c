// Server messages of the protocol (docs/protocol.md §3, §5-§7).
#include <string.h>

#include "edge_proto.h"
#include "tc_assert.h"

static void begin(struct tc_edge_json_writer *w, char *out, uint32_t out_size, const char *type,
                  const char *id, uint32_t id_size) {
    tc_assert(id != NULL || id_size == 0);
    tc_assert(id_size <= TC_EDGE_REQUEST_ID_SIZE_MAX);
    tc_edge_json_writer_init(w, out, out_size);
    tc_edge_json_object_begin(w);
    tc_edge_json_key(w, "type");
    tc_edge_json_cstring(w, type);
    if (id_size > 0) {
        tc_edge_json_key(w, "id");
        tc_edge_json_string(w, id, id_size);
    }
}

static int32_t end(struct tc_edge_json_writer *w) {
    tc_edge_json_object_end(w);
    return tc_edge_json_writer_finish(w);
}

static void member_u64(struct tc_edge_json_writer *w, const char *key, uint64_t value) {
    tc_edge_json_key(w, key);
    tc_edge_json_u64_string(w, value);
}

static void member_hash(struct tc_edge_json_writer *w, const char *key, const uint8_t *hash) {
    tc_edge_json_key(w, key);
    tc_edge_json_hex(w, hash, TC_EDGE_HASH_SIZE);
}

int32_t tc_edge_response_error(char *out, uint32_t out_size, const char *id, uint32_t id_size,
                               enum tc_edge_error error, const char *field,
                               uint32_t retry_after_ms) {
    tc_assert(error != TC_EDGE_ERROR_NONE);
    struct tc_edge_json_writer w;
    begin(&w, out, out_size, "error", id, id_size);
    tc_edge_json_key(&w, "code");
    tc_edge_json_u64(&w, (uint64_t)error);
    tc_edge_json_key(&w, "error");
    tc_edge_json_cstring(&w, tc_edge_error_name(error));
    tc_edge_json_key(&w, "message");
    tc_edge_json_cstring(&w, tc_edge_error_message(error));
    if (field != NULL) {
        tc_edge_json_key(&w, "field");
        tc_edge_json_cstring(&w, field);
    }
    if (retry_after_ms > 0) {
        tc_edge_json_key(&w, "retry_after_ms");
        tc_edge_json_u64(&w, retry_after_ms);
    }
    return end(&w);
}

int32_t tc_edge_response_ok(char *out, uint32_t out_size, const char *id, uint32_t id_size,
                            uint64_t room) {
    struct tc_edge_json_writer w;
    begin(&w, out, out_size, "result", id, id_size);
    if (room != 0) member_u64(&w, "room", room);
    return end(&w);
}

int32_t tc_edge_response_chain_head(char *out, uint32_t out_size, const char *id,
                                    uint32_t id_size, uint64_t room, uint64_t seq,
                                    const uint8_t hash[TC_EDGE_HASH_SIZE]) {
    struct tc_edge_json_writer w;
    begin(&w, out, out_size, "result", id, id_size);
    member_u64(&w, "room", room);
    member_u64(&w, "seq", seq);
    member_hash(&w, "hash", hash);
    return end(&w);
}

int32_t tc_edge_response_send(char *out, uint32_t out_size, const char *id, uint32_t id_size,
                              uint64_t room, uint64_t seq, uint64_t thread_seq,
                              const uint8_t hash[TC_EDGE_HASH_SIZE], bool duplicate) {
    tc_assert(seq >= 1);
    struct tc_edge_json_writer w;
    begin(&w, out, out_size, "result", id, id_size);
    member_u64(&w, "room", room);
    member_u64(&w, "seq", seq);
    member_u64(&w, "thread_seq", thread_seq);
    member_hash(&w, "hash", hash);
    tc_edge_json_key(&w, "duplicate");
    tc_edge_json_bool(&w, duplicate);
    return end(&w);
}

int32_t tc_edge_response_subscribed(char *out, uint32_t out_size, const char *id,
                                    uint32_t id_size, uint64_t room, uint64_t head_seq) {
    struct tc_edge_json_writer w;
    begin(&w, out, out_size, "result", id, id_size);
    member_u64(&w, "room", room);
    member_u64(&w, "head_seq", head_seq);
    return end(&w);
}

int32_t tc_edge_response_redact(char *out, uint32_t out_size, const char *id, uint32_t id_size,
                                uint64_t room, uint64_t seq, bool duplicate) {
    tc_assert(room != 0);
    tc_assert(seq >= 1);
    struct tc_edge_json_writer w;
    begin(&w, out, out_size, "result", id, id_size);
    member_u64(&w, "room", room);
    member_u64(&w, "seq", seq);
    tc_edge_json_key(&w, "duplicate");
    tc_edge_json_bool(&w, duplicate);
    return end(&w);
}

int32_t tc_edge_response_history_truncated(char *out, uint32_t out_size, const char *id,
                                           uint32_t id_size, uint64_t room,
                                           uint64_t truncated_at) {
    tc_assert(truncated_at >= 2); // something below it was removed
    struct tc_edge_json_writer w;
    begin(&w, out, out_size, "result", id, id_size);
    member_u64(&w, "room", room);
    member_u64(&w, "truncated_at", truncated_at);
    tc_edge_json_key(&w, "reason");
    tc_edge_json_cstring(&w, "retention");
    tc_edge_json_key(&w, "messages");
    tc_edge_json_array_begin(&w);
    tc_edge_json_array_end(&w);
    return end(&w);
}

void tc_edge_json_message_members(struct tc_edge_json_writer *writer,
                                  const struct tc_edge_message *message) {
    tc_assert(message->seq >= 1);
    tc_assert(message->redacted || message->body_size >= 1);
    tc_assert(message->body_size <= TC_EDGE_BODY_SIZE_MAX);
    member_u64(writer, "room", message->room);
    member_u64(writer, "seq", message->seq);
    member_hash(writer, "prev_hash", message->prev_hash);
    member_hash(writer, "hash", message->hash);
    member_u64(writer, "sender", message->sender);
    member_u64(writer, "timestamp_ns", message->timestamp_ns);
    member_u64(writer, "thread_parent", message->thread_parent);
    member_u64(writer, "thread_seq", message->thread_seq);
    member_hash(writer, "body_hash", message->body_hash);
    tc_edge_json_key(writer, "body");
    if (message->redacted) {
        tc_edge_json_null(writer);
        tc_edge_json_key(writer, "redacted");
        tc_edge_json_bool(writer, true);
    } else {
        tc_edge_json_string(writer, message->body, message->body_size);
    }
}

int32_t tc_edge_event_message(char *out, uint32_t out_size, const struct tc_edge_message *message) {
    struct tc_edge_json_writer w;
    begin(&w, out, out_size, "message", NULL, 0);
    tc_edge_json_message_members(&w, message);
    return end(&w);
}

int32_t tc_edge_event_truncated(char *out, uint32_t out_size, uint64_t room,
                                uint64_t truncated_at) {
    struct tc_edge_json_writer w;
    begin(&w, out, out_size, "truncated", NULL, 0);
    member_u64(&w, "room", room);
    member_u64(&w, "truncated_at", truncated_at);
    tc_edge_json_key(&w, "reason");
    tc_edge_json_cstring(&w, "retention");
    return end(&w);
}

int32_t tc_edge_event_catch_up(char *out, uint32_t out_size, uint64_t room, uint64_t from_seq) {
    struct tc_edge_json_writer w;
    begin(&w, out, out_size, "catch_up", NULL, 0);
    member_u64(&w, "room", room);
    member_u64(&w, "from_seq", from_seq);
    tc_edge_json_key(&w, "reason");
    tc_edge_json_cstring(&w, "slow_consumer");
    return end(&w);
}

int32_t tc_edge_event_redacted(char *out, uint32_t out_size, uint64_t room, uint64_t seq) {
    tc_assert(room != 0);
    tc_assert(seq >= 1);
    struct tc_edge_json_writer w;
    begin(&w, out, out_size, "redacted", NULL, 0);
    member_u64(&w, "room", room);
    member_u64(&w, "seq", seq);
    return end(&w);
}

int32_t tc_edge_event_typing(char *out, uint32_t out_size, uint64_t room, uint64_t user) {
    struct tc_edge_json_writer w;
    begin(&w, out, out_size, "typing", NULL, 0);
    member_u64(&w, "room", room);
    member_u64(&w, "user", user);
    return end(&w);
}
