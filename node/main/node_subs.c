// Subscriptions, fan-out, history reads and the built-in bus (docs/node.md §6-§7).
//
// The delivery rule, per subscription, for an event of its room from any source (the local
// replica's message hook, the bus, a store page):
//   seq == next_seq  send it (if the connection's buffer takes it), next_seq += 1
//   seq <  next_seq  a duplicate: drop
//   seq >  next_seq  a gap: the subscription is behind; the pump reads the gap from the store
// so a subscriber never sees a seq twice or out of order, whatever the sources do.
//
// Redactions (docs/protocol.md §6, `redacted`) come from the same sources, in the same order: the
// local replica's message hook (a tc_room_message with `redacted` set, docs/room.md §3.1) and the
// primary node's bus. The first arrival on this node is offered to the room's subscriptions and
// remembered (redactions_recent); later arrivals are dropped. A subscription gets the event only
// when it is past the message (seq < next_seq: its client has it); every message this node
// delivers afterwards goes out redacted (redacted_here), so no client sees a redacted body.
#include <stdlib.h>
#include <string.h>

#include "node.h"
#include "node_remote.h"
#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_le.h"

#define SUB_NONE UINT32_MAX
#define NODE_READS_MAX 256u
#define NODE_SUB_PAGE_LIMIT 64u
#define BUS_HEADER_SIZE 24u      // checksum(16) count(4) reserved(4)
#define BUS_EVENT_MESSAGE 1u
#define BUS_EVENT_TYPING 2u
#define BUS_EVENT_LEFT 3u // a user left a room: their subscriptions to it end on every node
#define BUS_EVENT_READ_MARKER 4u // a member's read marker moved (seq: the marker)
#define BUS_EVENT_REDACTED 5u    // a message was redacted (room, seq, sender)
#define EVENT_FLAG_REDACTED 1u   // event byte 1: a redacted message; its body hash follows
#define REDACTIONS_RECENT 4096u  // the redactions this node heard of last (direct-mapped)

// A store read in flight: for a subscription's gap or a history request.
struct node_read {
    struct node *node;
    bool used;
    bool for_sub;
    uint32_t index;      // subscription or global request index
    uint32_t generation;
    uint64_t conn_id;
};

static struct node_read reads[NODE_READS_MAX]; // the node is one per process

// The redactions this node heard of most recently, by (room, seq), direct-mapped: a colliding one
// replaces the older. It dedupes the two sources of a redaction (bus, local replica) and marks
// messages delivered before this node's replica (if any) applied the redaction. Losing an entry
// early costs at most a repeated event (harmless), or, for a subscription served by a lagging
// node, a body seen once more (docs/protocol.md §6: best-effort across nodes).
struct redaction_recent {
    uint64_t room; // 0: empty
    uint64_t seq;
};
static struct redaction_recent redactions_recent[REDACTIONS_RECENT];
// Connections a redaction event did not fit: closed after the offer loop (closing edits the room's
// subscription list). subs_max entries (a room has at most one subscription per connection).
static uint64_t *redaction_closing;

// ------------------------------------------------------------------------------------------------
// The room table: room -> first subscription (linear probing, backward-shift deletion).

static uint32_t room_home(const struct node *node, uint64_t room) {
    uint64_t x = room * 0x9e3779b97f4a7c15ull;
    return (uint32_t)(x >> 32) & (node->rooms_capacity - 1);
}

static uint32_t room_find(const struct node *node, uint64_t room) {
    const uint32_t mask = node->rooms_capacity - 1;
    for (uint32_t i = room_home(node, room), probe = 0; probe < node->rooms_capacity;
         i = (i + 1) & mask, probe++) {
        if (node->room_keys[i] == room) return i;
        if (node->room_keys[i] == 0) return SUB_NONE;
    }
    return SUB_NONE;
}

static uint32_t room_insert(struct node *node, uint64_t room) {
    tc_assert(room != 0);
    const uint32_t mask = node->rooms_capacity - 1;
    for (uint32_t i = room_home(node, room), probe = 0; probe < node->rooms_capacity;
         i = (i + 1) & mask, probe++) {
        if (node->room_keys[i] == room) return i;
        if (node->room_keys[i] == 0) {
            node->room_keys[i] = room;
            node->room_heads[i] = SUB_NONE;
            return i;
        }
    }
    tc_assert(false); // capacity is twice the subscriptions: never full
    return SUB_NONE;
}

static void room_delete(struct node *node, uint32_t hole) {
    const uint32_t mask = node->rooms_capacity - 1;
    tc_assert(node->room_heads[hole] == SUB_NONE);
    node->room_keys[hole] = 0;
    for (uint32_t i = (hole + 1) & mask; node->room_keys[i] != 0; i = (i + 1) & mask) {
        const uint32_t home = room_home(node, node->room_keys[i]);
        const bool stays = (hole <= i) ? (home > hole && home <= i) : (home > hole || home <= i);
        if (stays) continue;
        node->room_keys[hole] = node->room_keys[i];
        node->room_heads[hole] = node->room_heads[i];
        node->room_keys[i] = 0;
        hole = i;
    }
}

// ------------------------------------------------------------------------------------------------
// The pump list (subscriptions that are behind).

static void behind_set(struct node *node, uint32_t index) {
    struct node_sub *sub = &node->subs[index];
    if (sub->behind) return;
    sub->behind = true;
    sub->behind_next = SUB_NONE;
    sub->behind_prev = node->behind_tail;
    if (node->behind_tail != SUB_NONE) {
        node->subs[node->behind_tail].behind_next = index;
    } else {
        node->behind_head = index;
    }
    node->behind_tail = index;
}

static void behind_clear(struct node *node, uint32_t index) {
    struct node_sub *sub = &node->subs[index];
    if (!sub->behind) return;
    if (sub->behind_prev != SUB_NONE) {
        node->subs[sub->behind_prev].behind_next = sub->behind_next;
    } else {
        node->behind_head = sub->behind_next;
    }
    if (sub->behind_next != SUB_NONE) {
        node->subs[sub->behind_next].behind_prev = sub->behind_prev;
    } else {
        node->behind_tail = sub->behind_prev;
    }
    sub->behind = false;
}

// ------------------------------------------------------------------------------------------------
// Delivery.

static uint32_t redaction_slot(uint64_t room, uint64_t seq) {
    uint64_t x = (room ^ (seq * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
    return (uint32_t)(x >> 40) & (REDACTIONS_RECENT - 1u);
}

static bool redaction_recent_has(uint64_t room, uint64_t seq) {
    const struct redaction_recent *entry = &redactions_recent[redaction_slot(room, seq)];
    return entry->room == room && entry->seq == seq;
}

// Whether a message this node is about to deliver must go out redacted: the store read already
// hid it, or this node knows of its redaction (from its replica of the group, or the event came
// before the replica applied it).
static bool redacted_here(const struct node *node, uint32_t group,
                          const struct tc_room_message *message) {
    tc_assert(group < node->group_count);
    if (message->redacted) return true;
    if (redaction_recent_has(message->room, message->seq)) return true;
    const struct node_group *g = &node->groups[group];
    return g->readable && tc_room_redacted(tc_replica_room(g->replica), message->room,
                                           message->seq);
}

static void message_from_room(struct tc_edge_message *out, const struct tc_room_message *message,
                              bool redacted) {
    tc_assert(redacted || !message->redacted);
    memset(out, 0, sizeof(*out));
    out->room = message->room;
    out->seq = message->seq;
    memcpy(out->prev_hash, message->prev_hash.bytes, TC_EDGE_HASH_SIZE);
    memcpy(out->hash, message->hash.bytes, TC_EDGE_HASH_SIZE);
    out->sender = message->sender;
    out->timestamp_ns = message->timestamp_ns;
    out->thread_parent = message->thread_parent_seq;
    out->thread_seq = message->thread_seq;
    struct tc_hash256 body_hash = message->body_hash; // a redacted read's: the body is gone
    if (!message->redacted) tc_hash256_compute(&body_hash, message->body, message->body_size);
    memcpy(out->body_hash, body_hash.bytes, TC_EDGE_HASH_SIZE);
    out->redacted = redacted;
    out->body = redacted ? NULL : (const char *)message->body;
    out->body_size = redacted ? 0 : message->body_size;
}

// The delivery rule. Returns false when the subscription is (now) behind. `encoded` caches the
// event's JSON in node->frame across the subscribers of one event: 0 until the first delivery
// encodes it (the body hash and the JSON are computed once per event, not per subscriber).
static bool sub_offer(struct node *node, uint32_t index, const struct tc_room_message *message,
                      int32_t *encoded) {
    struct node_sub *sub = &node->subs[index];
    tc_assert(sub->used && sub->room == message->room);
    if (message->seq < sub->next_seq) {
        node->stats.messages_duplicate_dropped += 1;
        return true;
    }
    if (message->seq > sub->seq_target) sub->seq_target = message->seq;
    if (message->seq > sub->next_seq || sub->catch_up_notice) {
        if (!sub->behind) node->stats.gaps += 1;
        behind_set(node, index);
        return false;
    }
    if (*encoded == 0) {
        struct tc_edge_message edge_message;
        message_from_room(&edge_message, message, redacted_here(node, sub->group, message));
        *encoded = tc_edge_event_message(node->frame, NODE_FRAME_SIZE_MAX, &edge_message);
        tc_assert(*encoded > 0);
    }
    if (tc_ws_server_send_text(&node->ws, sub->conn_id, node->frame, (uint32_t)*encoded) !=
        TC_OK) {
        // A slow consumer: it catches up from the store once it reads (docs/node.md §7).
        sub->catch_up_notice = true;
        node->stats.catch_ups += 1;
        behind_set(node, index);
        return false;
    }
    sub->next_seq += 1;
    node->stats.messages_delivered += 1;
    return true;
}

static void room_offer(struct node *node, const struct tc_room_message *message) {
    const uint32_t slot = room_find(node, message->room);
    if (slot == SUB_NONE) return;
    int32_t encoded = 0;
    for (uint32_t index = node->room_heads[slot]; index != SUB_NONE;
         index = node->subs[index].room_next) {
        if (node->subs[index].behind && message->seq != node->subs[index].next_seq) continue;
        (void)sub_offer(node, index, message, &encoded);
    }
}

// The first arrival of a redaction on this node (local replica or bus): remembered, and the event
// goes to every subscription of the room that is past the message. A redaction is never dropped
// silently on a connection: one whose send buffer cannot take the event is closed with 4002
// (docs/protocol.md §6), after the loop, since closing edits the room's subscription list.
static void redaction_offer(struct node *node, uint64_t room, uint64_t seq) {
    tc_assert(room != 0 && seq >= 1);
    struct redaction_recent *recent = &redactions_recent[redaction_slot(room, seq)];
    if (recent->room == room && recent->seq == seq) return; // the other source was first
    *recent = (struct redaction_recent){.room = room, .seq = seq};
    const uint32_t slot = room_find(node, room);
    if (slot == SUB_NONE) return;
    const int32_t size = tc_edge_event_redacted(node->frame, NODE_FRAME_SIZE_MAX, room, seq);
    tc_assert(size > 0);
    uint32_t closing = 0;
    for (uint32_t index = node->room_heads[slot]; index != SUB_NONE;
         index = node->subs[index].room_next) {
        const struct node_sub *sub = &node->subs[index];
        if (seq >= sub->next_seq) continue; // not delivered yet: it will come redacted
        if (tc_ws_server_send_text(&node->ws, sub->conn_id, node->frame, (uint32_t)size) != TC_OK) {
            tc_assert(closing < node->subs_max);
            redaction_closing[closing++] = sub->conn_id;
        }
    }
    for (uint32_t i = 0; i < closing; i++) {
        (void)tc_ws_server_close(&node->ws, redaction_closing[i], 4002, "slow_consumer");
    }
}

// ------------------------------------------------------------------------------------------------
// The bus (docs/node.md §7): the primary's node publishes what it commits to every other node.

// One event of a bus frame or a forwarded page (docs/node.md §7): a 120-byte header (type, flags,
// body size, room, seq, thread parent and seq, sender, timestamp, prev_hash, hash) and the body,
// padded to 8 bytes. A redacted message (flags bit 0; a redaction event too) has no body and its
// 32-byte body hash instead. The frame around it carries the checksum.
uint32_t node_event_size(uint32_t body_size) {
    return NODE_EVENT_HEADER_SIZE + (uint32_t)tc_align_up(body_size, 8);
}

// node_event_size of this message: 32 bytes more when it is redacted. (node_remote.c budgets its
// pages with node_event_size(body_size), which is 32 bytes short for a redacted message; its frame
// buffer keeps 8 KiB of slack past the budget, and only the last event can pass the budget.)
static uint32_t event_size(const struct tc_room_message *message) {
    const uint32_t hash_bytes = message->redacted ? (uint32_t)sizeof(message->body_hash.bytes) : 0;
    return node_event_size(message->body_size) + hash_bytes;
}

uint32_t node_event_encode(uint8_t *event, uint8_t type, const struct tc_room_message *message) {
    tc_assert(message->body_size <= TC_ROOM_BODY_SIZE_MAX);
    tc_assert(!message->redacted || message->body_size == 0);
    const uint32_t size = event_size(message);
    memset(event, 0, size);
    event[0] = type;
    event[1] = message->redacted ? EVENT_FLAG_REDACTED : 0u;
    tc_le_put_u32(event + 4, message->body_size);
    tc_le_put_u64(event + 8, message->room);
    tc_le_put_u64(event + 16, message->seq);
    tc_le_put_u64(event + 24, message->thread_parent_seq);
    tc_le_put_u64(event + 32, message->thread_seq);
    tc_le_put_u64(event + 40, message->sender);
    tc_le_put_u64(event + 48, message->timestamp_ns);
    memcpy(event + 56, message->prev_hash.bytes, 32);
    memcpy(event + 88, message->hash.bytes, 32);
    if (message->body_size > 0) memcpy(event + NODE_EVENT_HEADER_SIZE, message->body, message->body_size);
    if (message->redacted) memcpy(event + NODE_EVENT_HEADER_SIZE, message->body_hash.bytes, 32);
    return size;
}

bool node_event_decode(const uint8_t *event, uint32_t available, uint8_t *type,
                       struct tc_room_message *message, uint32_t *event_size) {
    if (available < NODE_EVENT_HEADER_SIZE) return false;
    const uint32_t body_size = tc_le_get_u32(event + 4);
    const bool redacted = (event[1] & EVENT_FLAG_REDACTED) != 0;
    if ((event[1] & ~EVENT_FLAG_REDACTED) != 0 || (redacted && body_size != 0)) return false;
    const uint32_t size = node_event_size(body_size) + (redacted ? 32u : 0u);
    if (body_size > TC_ROOM_BODY_SIZE_MAX || available < size) return false;
    *type = event[0];
    *message = (struct tc_room_message){
        .room = tc_le_get_u64(event + 8),
        .seq = tc_le_get_u64(event + 16),
        .thread_parent_seq = tc_le_get_u64(event + 24),
        .thread_seq = tc_le_get_u64(event + 32),
        .sender = tc_le_get_u64(event + 40),
        .timestamp_ns = tc_le_get_u64(event + 48),
        .body = redacted ? NULL : event + NODE_EVENT_HEADER_SIZE,
        .body_size = body_size,
        .redacted = redacted,
    };
    memcpy(message->prev_hash.bytes, event + 56, 32);
    memcpy(message->hash.bytes, event + 88, 32);
    if (redacted) memcpy(message->body_hash.bytes, event + NODE_EVENT_HEADER_SIZE, 32);
    *event_size = size;
    return message->room != 0;
}

static void bus_event_write(struct node *node, uint8_t type, const struct tc_room_message *message) {
    const uint32_t size = event_size(message);
    if (node->bus_used + size > NODE_BUS_BUFFER_SIZE) node_bus_flush(node);
    tc_assert(node->bus_used + size <= NODE_BUS_BUFFER_SIZE);
    node->bus_used += node_event_encode(node->bus_buffer + node->bus_used, type, message);
    node->bus_count += 1;
}

void node_bus_flush(struct node *node) {
    if (node->bus_count == 0) return;
    uint8_t *frame = node->bus_buffer;
    tc_le_put_u32(frame + 16, node->bus_count);
    tc_le_put_u32(frame + 20, 0);
    struct tc_checksum checksum;
    tc_checksum_compute(&checksum, frame + 16, node->bus_used - 16);
    memcpy(frame, &checksum, 16);
    // Redis bus (node_redis.c): with `bus = redis` the frame is PUBLISHed instead of linked.
    if (node->config.bus == TC_NODE_CONFIG_BUS_REDIS) {
        node_redis_publish(node, frame, node->bus_used);
    } else {
        // Every peer of the link: the config's and those that joined from the topology.
        for (uint32_t i = 0; i < tc_link_peer_count(&node->link); i++) {
            const uint16_t peer = tc_link_peer_node(&node->link, i);
            tc_assert(peer != node->node_id);
            if (tc_link_send(&node->link, peer, NODE_LINK_KIND_BUS, TC_LINK_PRIORITY_LOW, frame,
                             node->bus_used) != TC_OK) {
                node->stats.link_send_failed += 1; // best-effort: subscribers close gaps by seq
            }
        }
    }
    node->stats.bus_frames_sent += 1;
    node->bus_used = BUS_HEADER_SIZE;
    node->bus_count = 0;
}

void node_bus_on_frame(struct node *node, const uint8_t *payload, uint32_t size) {
    if (size < BUS_HEADER_SIZE) goto invalid;
    struct tc_checksum checksum, expected;
    memcpy(&expected, payload, 16);
    tc_checksum_compute(&checksum, payload + 16, size - 16);
    if (!tc_checksum_equal(&checksum, &expected)) goto invalid;
    const uint32_t count = tc_le_get_u32(payload + 16);
    uint32_t offset = BUS_HEADER_SIZE;
    for (uint32_t i = 0; i < count; i++) {
        uint8_t type = 0;
        uint32_t event_size = 0;
        struct tc_room_message message;
        if (!node_event_decode(payload + offset, size - offset, &type, &message, &event_size)) {
            goto invalid;
        }
        if (type == BUS_EVENT_MESSAGE) {
            room_offer(node, &message);
        } else if (type == BUS_EVENT_TYPING) {
            node_subs_typing(node, message.room, message.sender);
        } else if (type == BUS_EVENT_READ_MARKER) {
            node_subs_read_marker(node, message.room, message.sender, message.seq, false);
        } else if (type == BUS_EVENT_REDACTED && message.redacted && message.seq >= 1) {
            redaction_offer(node, message.room, message.seq);
        } else if (type == BUS_EVENT_LEFT) {
            node_subs_user_left(node, message.room, message.sender, 0, false);
        }
        offset += event_size;
    }
    node->stats.bus_frames_received += 1;
    return;
invalid:
    node->stats.bus_frames_invalid += 1;
}

void node_bus_typing(struct node *node, uint64_t room, uint64_t user) {
    const struct tc_room_message message = {.room = room, .sender = user};
    bus_event_write(node, BUS_EVENT_TYPING, &message);
}

void node_subs_on_message(void *context, uint32_t group_id, const struct tc_room_message *message) {
    struct node *node = context;
    const struct node_group *group = node_group_find(node, group_id);
    tc_assert(group != NULL && group->replica != NULL); // hosted, or retiring (I/O completes)
    if (message->redacted) { // a redaction committed (docs/room.md §3.1), in apply order
        tc_assert(message->seq >= 1 && message->body_size == 0);
        if (group->primary) bus_event_write(node, BUS_EVENT_REDACTED, message);
        redaction_offer(node, message->room, message->seq);
        return;
    }
    if (group->primary) bus_event_write(node, BUS_EVENT_MESSAGE, message);
    room_offer(node, message);
}

// A committed read marker: an event to the room's subscribers here, and with `publish` on the bus
// for the other nodes (best-effort, like typing: markers are state a client reads back by
// setting its own; the event only tells others).
void node_subs_read_marker(struct node *node, uint64_t room, uint64_t user, uint64_t seq,
                           bool publish) {
    if (publish) {
        const struct tc_room_message message = {.room = room, .sender = user, .seq = seq};
        bus_event_write(node, BUS_EVENT_READ_MARKER, &message);
    }
    const uint32_t slot = room_find(node, room);
    if (slot == SUB_NONE) return;
    const int32_t size = write_read_marker(node, NULL, 0, room, user, seq, "read_marker");
    tc_assert(size > 0);
    for (uint32_t index = node->room_heads[slot]; index != SUB_NONE;
         index = node->subs[index].room_next) {
        (void)tc_ws_server_send_text(&node->ws, node->subs[index].conn_id, node->frame,
                                     (uint32_t)size);
    }
}

void node_subs_typing(struct node *node, uint64_t room, uint64_t user) {
    const uint32_t slot = room_find(node, room);
    if (slot == SUB_NONE) return;
    const int32_t size = tc_edge_event_typing(node->frame, NODE_FRAME_SIZE_MAX, room, user);
    tc_assert(size > 0);
    for (uint32_t index = node->room_heads[slot]; index != SUB_NONE;
         index = node->subs[index].room_next) {
        (void)tc_ws_server_send_text(&node->ws, node->subs[index].conn_id, node->frame,
                                     (uint32_t)size); // ephemeral: dropped when it does not fit
    }
}

// ------------------------------------------------------------------------------------------------
// Subscriptions.

static uint32_t sub_find(struct node *node, const struct node_conn *conn, uint64_t room,
                         uint32_t *free_slot) {
    *free_slot = SUB_NONE;
    for (uint32_t i = 0; i < node->subs_per_conn; i++) {
        const uint32_t index = conn->subscriptions[i];
        if (index == SUB_NONE) {
            if (*free_slot == SUB_NONE) *free_slot = i;
        } else if (node->subs[index].room == room) {
            return i;
        }
    }
    return SUB_NONE;
}

static void sub_remove(struct node *node, struct node_conn *conn, uint32_t conn_slot) {
    const uint32_t index = conn->subscriptions[conn_slot];
    struct node_sub *sub = &node->subs[index];
    tc_assert(sub->used);
    behind_clear(node, index);
    const uint32_t slot = room_find(node, sub->room);
    tc_assert(slot != SUB_NONE);
    if (sub->room_prev != SUB_NONE) {
        node->subs[sub->room_prev].room_next = sub->room_next;
    } else {
        node->room_heads[slot] = sub->room_next;
    }
    if (sub->room_next != SUB_NONE) node->subs[sub->room_next].room_prev = sub->room_prev;
    if (node->room_heads[slot] == SUB_NONE) room_delete(node, slot);
    sub->used = false;
    sub->generation += 1; // a read in flight for it is ignored
    sub->room_next = node->sub_free_head;
    node->sub_free_head = index;
    conn->subscriptions[conn_slot] = SUB_NONE;
    conn->subscription_count -= 1;
}

static void sub_add(struct node *node, struct node_conn *conn, uint32_t conn_slot,
                    uint64_t room, uint32_t group, uint64_t next_seq, uint64_t head) {
    const uint32_t index = node->sub_free_head;
    tc_assert(index != SUB_NONE); // subs_max = connections x subscriptions per connection
    struct node_sub *sub = &node->subs[index];
    node->sub_free_head = sub->room_next;
    tc_assert(!sub->used);
    const uint32_t generation = sub->generation;
    *sub = (struct node_sub){
        .used = true,
        .conn = (uint32_t)(conn - node->conns),
        .conn_id = conn->conn_id,
        .room = room,
        .group = group,
        .generation = generation,
        .next_seq = next_seq,
        .seq_target = head,
        .room_prev = SUB_NONE,
        .behind_next = SUB_NONE,
        .behind_prev = SUB_NONE,
    };
    const uint32_t slot = room_insert(node, room);
    sub->room_next = node->room_heads[slot];
    if (sub->room_next != SUB_NONE) node->subs[sub->room_next].room_prev = index;
    node->room_heads[slot] = index;
    conn->subscriptions[conn_slot] = index;
    conn->subscription_count += 1;
    behind_set(node, index); // the pump reads from next_seq until it reaches the local head
}

static void write_unsubscribed(struct node *node, uint64_t conn_id, uint64_t room,
                               const char *reason) {
    struct tc_edge_json_writer writer;
    node_json_begin(node, &writer, "unsubscribed", NULL, 0, room);
    tc_edge_json_key(&writer, "reason");
    tc_edge_json_cstring(&writer, reason);
    tc_edge_json_object_end(&writer);
    node_edge_send(node, conn_id, tc_edge_json_writer_finish(&writer));
}

void node_subs_end(struct node *node, struct node_conn *conn, uint64_t room, const char *reason) {
    uint32_t free_slot;
    const uint32_t conn_slot = sub_find(node, conn, room, &free_slot);
    if (conn_slot == SUB_NONE) return;
    sub_remove(node, conn, conn_slot);
    write_unsubscribed(node, conn->conn_id, room, reason);
}

// `user` left `room`: every subscription of theirs to it on this node ends, with reason "left"
// on the connection that left and "not_member" elsewhere (docs/protocol.md §6). `publish`: also
// tell the other nodes (bus).
void node_subs_user_left(struct node *node, uint64_t room, uint64_t user, uint64_t conn_id_left,
                         bool publish) {
    if (publish) {
        const struct tc_room_message message = {.room = room, .sender = user};
        bus_event_write(node, BUS_EVENT_LEFT, &message);
    }
    const uint32_t slot = room_find(node, room);
    if (slot == SUB_NONE) return;
    // Collect first: ending a subscription edits the room's list (and may delete the room).
    uint32_t ending[64];
    uint32_t count = 0;
    for (uint32_t index = node->room_heads[slot]; index != SUB_NONE && count < 64;
         index = node->subs[index].room_next) {
        if (node->conns[node->subs[index].conn].claims.user == user) ending[count++] = index;
    }
    for (uint32_t i = 0; i < count; i++) {
        const struct node_sub *sub = &node->subs[ending[i]];
        if (!sub->used || sub->room != room) continue;
        struct node_conn *conn = &node->conns[sub->conn];
        node_subs_end(node, conn, room, conn->conn_id == conn_id_left ? "left" : "not_member");
    }
}

void node_subs_conn_claims_changed(struct node *node, struct node_conn *conn) {
    for (uint32_t i = 0; i < node->subs_per_conn; i++) {
        const uint32_t index = conn->subscriptions[i];
        if (index == SUB_NONE) continue;
        const uint64_t room = node->subs[index].room;
        if (tc_edge_jwt_claims_allow_room(&conn->claims, room)) continue;
        sub_remove(node, conn, i);
        write_unsubscribed(node, conn->conn_id, room, "forbidden");
    }
}

void node_subs_conn_closed(struct node *node, struct node_conn *conn) {
    for (uint32_t i = 0; i < node->subs_per_conn; i++) {
        if (conn->subscriptions[i] != SUB_NONE) sub_remove(node, conn, i);
    }
    for (uint32_t i = 0; i < node->requests_per_conn; i++) {
        struct node_request *request = &conn->requests[i];
        if (request->state == NODE_REQUEST_READ_WAIT) node_wait_remove(node, request);
    }
    tc_assert(conn->subscription_count == 0);
}

void node_subs_unsubscribe(struct node *node, struct node_conn *conn, const char *id,
                           uint32_t id_size, uint64_t room) {
    uint32_t free_slot;
    const uint32_t conn_slot = sub_find(node, conn, room, &free_slot);
    if (conn_slot == SUB_NONE) {
        node_edge_error(node, conn->conn_id, id, id_size, TC_EDGE_ERROR_NOT_SUBSCRIBED, NULL);
        return;
    }
    sub_remove(node, conn, conn_slot);
    node_edge_send(node, conn->conn_id,
                   tc_edge_response_ok(node->frame, NODE_FRAME_SIZE_MAX, id, id_size, room));
}

// ------------------------------------------------------------------------------------------------
// Reads waiting for the local replica (read your writes) or for a store read slot.

static uint32_t request_index(struct node *node, const struct node_request *request) {
    tc_assert(request >= node->requests_pool &&
              request < node->requests_pool + (uint64_t)node->conns_max * node->requests_per_conn);
    return (uint32_t)(request - node->requests_pool);
}

static void wait_add(struct node *node, struct node_request *request) {
    tc_assert(request->state != NODE_REQUEST_READ_WAIT);
    request->state = NODE_REQUEST_READ_WAIT;
    const uint32_t index = request_index(node, request);
    request->wait_prev = SUB_NONE;
    request->wait_next = node->wait_head;
    if (node->wait_head != SUB_NONE) node->requests_pool[node->wait_head].wait_prev = index;
    node->wait_head = index;
}

void node_wait_remove(struct node *node, struct node_request *request) {
    tc_assert(request->state == NODE_REQUEST_READ_WAIT);
    if (request->wait_prev != SUB_NONE) {
        node->requests_pool[request->wait_prev].wait_next = request->wait_next;
    } else {
        node->wait_head = request->wait_next;
    }
    if (request->wait_next != SUB_NONE) {
        node->requests_pool[request->wait_next].wait_prev = request->wait_prev;
    }
    request->state = NODE_REQUEST_BATCHED; // the caller frees or restarts it
}

static struct node_conn *request_conn(struct node *node, uint32_t index) {
    return &node->conns[index / node->requests_per_conn];
}

// Room checks of subscribe/history against the local replica. TC_EDGE_ERROR_NONE or the error.
static enum tc_edge_error room_check(struct node *node, const struct node_conn *conn,
                                     const struct node_request *request,
                                     struct tc_room_info *info) {
    const struct tc_room_machine *room = tc_replica_room(node->groups[request->group].replica);
    if (tc_room_info(room, request->room, info) != TC_OK) return TC_EDGE_ERROR_ROOM_NOT_FOUND;
    if (!tc_room_is_member(room, request->room, conn->claims.user)) {
        return TC_EDGE_ERROR_NOT_MEMBER;
    }
    return TC_EDGE_ERROR_NONE;
}

static void request_fail(struct node *node, struct node_conn *conn, struct node_request *request,
                         enum tc_edge_error error) {
    const uint64_t conn_id = conn->conn_id;
    const int32_t size = tc_edge_response_error(node->frame, NODE_FRAME_SIZE_MAX, request->id,
                                                request->id_size, error, NULL, 0);
    node_request_free(conn, request);
    node_edge_send(node, conn_id, size);
}

// The room checks passed (here or on a hosting node) and `head` is the room's last seq there.
static void subscribe_finish(struct node *node, struct node_conn *conn,
                             struct node_request *request, enum tc_edge_error error,
                             uint64_t head) {
    uint32_t free_slot = SUB_NONE;
    if (error == TC_EDGE_ERROR_NONE && sub_find(node, conn, request->room, &free_slot) != SUB_NONE) {
        error = TC_EDGE_ERROR_ALREADY_SUBSCRIBED;
    }
    if (error == TC_EDGE_ERROR_NONE && free_slot == SUB_NONE) {
        error = TC_EDGE_ERROR_TOO_MANY_SUBSCRIPTIONS;
    }
    if (error != TC_EDGE_ERROR_NONE) {
        request_fail(node, conn, request, error);
        return;
    }
    const uint64_t conn_id = conn->conn_id;
    const int32_t size = tc_edge_response_subscribed(node->frame, NODE_FRAME_SIZE_MAX, request->id,
                                                     request->id_size, request->room, head);
    node_edge_send(node, conn_id, size);
    if (node_conn_get(node, conn_id) == NULL) return; // closed as a slow consumer
    sub_add(node, conn, free_slot, request->room, request->group, request->seq + 1, head);
    node_request_free(conn, request);
}

static void subscribe_now(struct node *node, struct node_conn *conn,
                          struct node_request *request) {
    struct tc_room_info info;
    const enum tc_edge_error error = room_check(node, conn, request, &info);
    subscribe_finish(node, conn, request, error, info.seq_last);
}

// A read of a group this node does not host goes to a node that does (node_remote.c).
static void remote_request(struct node *node, struct node_conn *conn, struct node_request *request,
                           uint32_t limit) {
    const struct node_group *group = &node->groups[request->group];
    request->state = NODE_REQUEST_READING;
    const int result = node_remote_read(node, group, false, request_index(node, request),
                                        request->generation, conn->conn_id, request->room,
                                        conn->claims.user, request->seq, limit,
                                        node_edge_ryw_op(conn, request->group));
    if (result != TC_OK) request_fail(node, conn, request, TC_EDGE_ERROR_SERVER_BUSY);
}

void node_subs_subscribe(struct node *node, struct node_conn *conn, struct node_request *request) {
    if (!node->groups[request->group].readable) {
        remote_request(node, conn, request, 0);
        return;
    }
    if (!node_edge_ryw_ready(node, conn, request->group)) {
        wait_add(node, request);
        return;
    }
    subscribe_now(node, conn, request);
}

// ------------------------------------------------------------------------------------------------
// Store reads.

static struct node_read *read_alloc(void) {
    for (uint32_t i = 0; i < NODE_READS_MAX; i++) {
        if (!reads[i].used) {
            reads[i].used = true;
            return &reads[i];
        }
    }
    return NULL;
}

// Bytes of a body as a JSON string's content: what tc_edge_json_string writes.
static uint64_t json_escaped_size(const uint8_t *body, uint32_t size) {
    uint64_t total = 0;
    for (uint32_t i = 0; i < size; i++) {
        if (body[i] == '"' || body[i] == '\\') {
            total += 2;
        } else if (body[i] < 0x20) {
            total += 6;
        } else {
            total += 1;
        }
    }
    return total;
}

// A history page's JSON stays below half the connection's send buffer (so it always fits an
// empty one) and below the frame buffer.
static uint64_t node_page_json_max(const struct node *node) {
    return tc_min_u64(NODE_FRAME_SIZE_MAX, node->config.send_buffer_size_bytes / 2);
}

static void history_write(struct node *node, struct node_conn *conn, struct node_request *request,
                          const struct tc_store_page *page) {
    struct tc_edge_json_writer writer;
    node_json_begin(node, &writer, "result", request->id, request->id_size, request->room);
    tc_edge_json_key(&writer, "head_seq");
    tc_edge_json_u64_string(&writer, page->seq_last);
    uint64_t next_seq = page->from_seq == 0 ? 1 : page->from_seq;
    // A page holds at most 256 KiB of bodies (docs/protocol.md §5.8) and its JSON, with every
    // body byte escaped at worst into 6, fits the frame buffer.
    uint32_t data_bytes = 0;
    uint64_t json_bytes_max = 1024;
    uint32_t count = 0;
    if (page->kind == TC_STORE_PAGE_MESSAGES) {
        for (; count < page->count; count++) {
            const uint32_t body_size = page->messages[count].body_size;
            const uint64_t json = json_escaped_size(page->messages[count].body, body_size) +
                                  NODE_MESSAGE_JSON_OVERHEAD;
            if (count > 0 && (data_bytes + body_size > NODE_PAGE_BYTES_MAX ||
                              json_bytes_max + json > node_page_json_max(node))) {
                break;
            }
            data_bytes += body_size;
            json_bytes_max += json;
        }
        next_seq = page->messages[count - 1].seq + 1;
    }
    tc_edge_json_key(&writer, "next_seq");
    tc_edge_json_u64_string(&writer, next_seq);
    tc_edge_json_key(&writer, "messages");
    tc_edge_json_array_begin(&writer);
    for (uint32_t i = 0; i < count; i++) {
        struct tc_edge_message message;
        message_from_room(&message, &page->messages[i],
                          redacted_here(node, request->group, &page->messages[i]));
        tc_edge_json_object_begin(&writer);
        tc_edge_json_message_members(&writer, &message);
        tc_edge_json_object_end(&writer);
    }
    tc_edge_json_array_end(&writer);
    tc_edge_json_object_end(&writer);
    const int32_t size = tc_edge_json_writer_finish(&writer);
    tc_assert(size > 0); // bounded above
    const uint64_t conn_id = conn->conn_id;
    node_request_free(conn, request);
    node_edge_send(node, conn_id, size);
}

static void history_done(struct node *node, const struct node_read *read,
                         const struct tc_store_page *page) {
    struct node_conn *conn = request_conn(node, read->index);
    struct node_request *request = &node->requests_pool[read->index];
    if (conn->conn_id != read->conn_id || request->generation != read->generation) return;
    tc_assert(request->state == NODE_REQUEST_READING);
    if (page->result == TC_ENOENT) {
        request_fail(node, conn, request, TC_EDGE_ERROR_ROOM_NOT_FOUND);
    } else if (page->result != TC_OK) {
        if (node_log_allowed(node, &node->log_limit_reads)) {
            node_log_module(node, TC_LOG_ERROR, "reads", node->groups[request->group].id,
                            "history read failed room=%llu: %s",
                            (unsigned long long)request->room, tc_errname(page->result));
        }
        request_fail(node, conn, request, TC_EDGE_ERROR_INTERNAL_ERROR);
    } else if (page->kind == TC_STORE_PAGE_TRUNCATED) {
        const uint64_t conn_id = conn->conn_id;
        const int32_t size = tc_edge_response_history_truncated(
            node->frame, NODE_FRAME_SIZE_MAX, request->id, request->id_size, request->room,
            page->floor_seq);
        node_request_free(conn, request);
        node_edge_send(node, conn_id, size);
    } else {
        history_write(node, conn, request, page);
    }
}

static void sub_read_done(struct node *node, const struct node_read *read,
                          const struct tc_store_page *page) {
    struct node_sub *sub = &node->subs[read->index];
    if (!sub->used || sub->generation != read->generation) return;
    sub->reading = false;
    if (page->result != TC_OK) return; // stays behind: retried by the pump
    if (page->kind == TC_STORE_PAGE_TRUNCATED) {
        const int32_t size = tc_edge_event_truncated(node->frame, NODE_FRAME_SIZE_MAX, sub->room,
                                                     page->floor_seq);
        if (tc_ws_server_send_text(&node->ws, sub->conn_id, node->frame, (uint32_t)size) == TC_OK) {
            sub->next_seq = page->floor_seq;
        }
        return;
    }
    for (uint32_t i = 0; page->kind == TC_STORE_PAGE_MESSAGES && i < page->count; i++) {
        int32_t encoded = 0;
        if (!sub_offer(node, read->index, &page->messages[i], &encoded)) return; // slow: behind
    }
    const struct node_group *group = &node->groups[sub->group];
    if (group->readable) {
        // Caught up with the local replica's head: live from here. Whatever it applies later
        // reaches the subscription through the message hook, in order (events dropped meanwhile
        // open a new gap, closed the same way).
        struct tc_room_info info;
        if (tc_room_info(tc_replica_room(group->replica), sub->room, &info) == TC_OK &&
            sub->next_seq > info.seq_last) {
            behind_clear(node, read->index);
        }
        return;
    }
    // Served by another node, whose replica may lag what the subscription already knows exists
    // (the head promised at subscribe, seqs seen on the bus): only the bus brings live events
    // here, so the subscription stays behind, polling gently, until it holds seq_target.
    if (sub->next_seq > page->seq_last && sub->next_seq > sub->seq_target) {
        behind_clear(node, read->index);
    } else if (page->kind != TC_STORE_PAGE_MESSAGES) {
        sub->read_after_ms = node->now_ms + NODE_REMOTE_POLL_MS;
    }
}

void node_subs_remote_done(struct node *node, bool for_sub, uint32_t index,
                           uint32_t index_generation, uint64_t conn_id, enum tc_edge_error error,
                           const struct tc_store_page *page) {
    const struct node_read read = {.node = node, .for_sub = for_sub, .index = index,
                                   .generation = index_generation, .conn_id = conn_id};
    if (for_sub) {
        struct node_sub *sub = &node->subs[index];
        if (!sub->used || sub->generation != index_generation) return;
        if (error == TC_EDGE_ERROR_NOT_MEMBER || error == TC_EDGE_ERROR_ROOM_NOT_FOUND) {
            struct node_conn *conn = &node->conns[sub->conn];
            node_subs_end(node, conn, sub->room, "not_member");
            return;
        }
        if (error != TC_EDGE_ERROR_NONE || page == NULL) {
            sub->reading = false; // the pump asks again
            return;
        }
        sub_read_done(node, &read, page);
        return;
    }
    struct node_conn *conn = request_conn(node, index);
    struct node_request *request = &node->requests_pool[index];
    if (conn->conn_id != conn_id || request->generation != index_generation) return;
    tc_assert(request->state == NODE_REQUEST_READING);
    if (error != TC_EDGE_ERROR_NONE || page == NULL) {
        request_fail(node, conn, request, page == NULL ? TC_EDGE_ERROR_TIMEOUT : error);
    } else if (request->op == TC_EDGE_OP_SUBSCRIBE) {
        subscribe_finish(node, conn, request, TC_EDGE_ERROR_NONE, page->seq_last);
    } else {
        history_done(node, &read, page);
    }
}

static void store_read_done(void *context, const struct tc_store_page *page) {
    struct node_read *read = context;
    struct node *node = read->node;
    tc_assert(read->used);
    read->used = false;
    if (read->for_sub) {
        sub_read_done(node, read, page);
    } else {
        history_done(node, read, page);
    }
}

static int read_start(struct node *node, struct node_group *group, bool for_sub, uint32_t index,
                      uint32_t generation, uint64_t conn_id, uint64_t room, uint64_t from_seq,
                      uint32_t limit) {
    struct node_read *read = read_alloc();
    if (read == NULL) return TC_EBUSY;
    *read = (struct node_read){.node = node, .used = true, .for_sub = for_sub, .index = index,
                               .generation = generation, .conn_id = conn_id};
    node->stats.store_reads += 1;
    const int result = tc_store_read(tc_replica_store(group->replica), room, from_seq, limit,
                                     tc_replica_applied_timestamp(group->replica),
                                     store_read_done, read);
    if (result != TC_OK) {
        read->used = false;
        node->stats.store_reads_busy += 1;
    }
    return result;
}

static void history_now(struct node *node, struct node_conn *conn, struct node_request *request) {
    struct tc_room_info info;
    const enum tc_edge_error error = room_check(node, conn, request, &info);
    if (error != TC_EDGE_ERROR_NONE) {
        request_fail(node, conn, request, error);
        return;
    }
    request->state = NODE_REQUEST_READING;
    const uint32_t limit = request->limit == 0 ? TC_EDGE_HISTORY_LIMIT_DEFAULT : request->limit;
    const int result = read_start(node, &node->groups[request->group], false,
                                  request_index(node, request), request->generation,
                                  conn->conn_id, request->room, request->seq, limit);
    if (result == TC_EBUSY) {
        request->state = NODE_REQUEST_BATCHED;
        wait_add(node, request); // the pump retries
    } else if (result != TC_OK) {
        request_fail(node, conn, request, TC_EDGE_ERROR_INVALID_FIELD);
    }
}

void node_subs_history(struct node *node, struct node_conn *conn, struct node_request *request) {
    node->stats.history_reads += 1;
    if (!node->groups[request->group].readable) {
        remote_request(node, conn, request,
                       request->limit == 0 ? TC_EDGE_HISTORY_LIMIT_DEFAULT : request->limit);
        return;
    }
    if (!node_edge_ryw_ready(node, conn, request->group)) {
        wait_add(node, request);
        return;
    }
    history_now(node, conn, request);
}

// ------------------------------------------------------------------------------------------------
// The pump: bounded work per loop iteration.

static void pump_waiting(struct node *node) {
    uint32_t budget = NODE_PUMP_PER_ITERATION;
    uint32_t index = node->wait_head;
    while (index != SUB_NONE && budget-- > 0) {
        struct node_request *request = &node->requests_pool[index];
        const uint32_t next = request->wait_next;
        struct node_conn *conn = request_conn(node, index);
        tc_assert(conn->conn_id != 0 && request->state == NODE_REQUEST_READ_WAIT);
        if (node->now_ms >= request->deadline_ms) {
            node_wait_remove(node, request);
            request_fail(node, conn, request, TC_EDGE_ERROR_TIMEOUT);
        } else if (!node->groups[request->group].readable) {
            // The local replica stopped serving reads meanwhile (retired, or a learner again
            // after a restart): another node answers.
            node_wait_remove(node, request);
            const uint32_t limit = request->op != TC_EDGE_OP_HISTORY ? 0
                                   : request->limit == 0 ? TC_EDGE_HISTORY_LIMIT_DEFAULT
                                                         : request->limit;
            remote_request(node, conn, request, limit);
        } else if (node_edge_ryw_ready(node, conn, request->group)) {
            node_wait_remove(node, request);
            if (request->op == TC_EDGE_OP_HISTORY) {
                history_now(node, conn, request);
            } else {
                subscribe_now(node, conn, request);
            }
        }
        index = next;
    }
}

static void pump_sub(struct node *node, uint32_t index) {
    struct node_sub *sub = &node->subs[index];
    if (sub->reading || node->now_ms < sub->read_after_ms) return;
    const uint32_t space = tc_ws_server_send_space(&node->ws, sub->conn_id);
    if (space < 64u * 1024u) return; // the connection is not reading: wait
    if (sub->catch_up_notice) {
        const int32_t size = tc_edge_event_catch_up(node->frame, NODE_FRAME_SIZE_MAX, sub->room,
                                                    sub->next_seq);
        if (tc_ws_server_send_text(&node->ws, sub->conn_id, node->frame, (uint32_t)size) != TC_OK) {
            return;
        }
        sub->catch_up_notice = false;
    }
    sub->reading = true;
    const struct node_group *group = &node->groups[sub->group];
    int result;
    if (group->readable) {
        result = read_start(node, &node->groups[sub->group], true, index, sub->generation,
                            sub->conn_id, sub->room, sub->next_seq, NODE_SUB_PAGE_LIMIT);
    } else {
        // Read your writes here too: the target rotates, and a replica that has not applied
        // this connection's join would answer not_member and end the subscription.
        const struct node_conn *conn = &node->conns[sub->conn];
        result = node_remote_read(node, group, true, index, sub->generation, sub->conn_id,
                                  sub->room, conn->claims.user, sub->next_seq,
                                  NODE_SUB_PAGE_LIMIT, node_edge_ryw_op(conn, sub->group));
    }
    if (result != TC_OK) sub->reading = false;
}

void node_subs_pump(struct node *node) {
    pump_waiting(node);
    uint32_t budget = NODE_PUMP_PER_ITERATION;
    uint32_t index = node->behind_head;
    while (index != SUB_NONE && budget-- > 0) {
        const uint32_t next = node->subs[index].behind_next;
        pump_sub(node, index);
        index = next;
    }
    // Round robin: the ones served move to the back, so every behind subscription gets a turn.
    if (index != SUB_NONE && index != node->behind_head) {
        const uint32_t head = node->behind_head;
        const uint32_t tail = node->behind_tail;
        const uint32_t last = node->subs[index].behind_prev;
        node->subs[tail].behind_next = head;
        node->subs[head].behind_prev = tail;
        node->subs[last].behind_next = SUB_NONE;
        node->subs[index].behind_prev = SUB_NONE;
        node->behind_head = index;
        node->behind_tail = last;
    }
}

// ------------------------------------------------------------------------------------------------
// Set-up.

int node_subs_init(struct node *node) {
    node->subs_max = node->conns_max * node->subs_per_conn;
    node->subs = calloc(node->subs_max, sizeof(node->subs[0]));
    node->rooms_capacity = 1;
    while (node->rooms_capacity < 2 * node->subs_max) node->rooms_capacity *= 2;
    node->room_keys = calloc(node->rooms_capacity, sizeof(node->room_keys[0]));
    node->room_heads = calloc(node->rooms_capacity, sizeof(node->room_heads[0]));
    node->bus_buffer = aligned_alloc(16, NODE_BUS_BUFFER_SIZE);
    redaction_closing = calloc(node->subs_max, sizeof(redaction_closing[0]));
    memset(redactions_recent, 0, sizeof(redactions_recent));
    if (node->subs == NULL || node->room_keys == NULL || node->room_heads == NULL ||
        node->bus_buffer == NULL || redaction_closing == NULL) {
        return TC_ENOMEM;
    }
    for (uint32_t i = 0; i < node->subs_max; i++) {
        node->subs[i].room_next = i + 1 < node->subs_max ? i + 1 : SUB_NONE;
    }
    node->sub_free_head = 0;
    node->behind_head = SUB_NONE;
    node->behind_tail = SUB_NONE;
    node->wait_head = SUB_NONE;
    node->bus_used = BUS_HEADER_SIZE;
    node->bus_count = 0;
    return TC_OK;
}

void node_subs_deinit(struct node *node) {
    free(node->subs);
    free(node->room_keys);
    free(node->room_heads);
    free(node->bus_buffer);
    free(redaction_closing);
    redaction_closing = NULL;
}
