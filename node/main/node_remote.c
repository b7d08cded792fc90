// Forwarded reads (docs/node.md §6): history pages, subscription pages and subscribe's room
// checks for rooms whose group has no replica on this node are served by a node that hosts one.
//
//   requester                                   responder (hosts a replica of the group)
//   read slot ──link kind READ──────────────▶   job: wait until applied >= op_wait (RYW),
//                                               check room + membership, store read
//   page → the same code as a local page ◀──────── link kind PAGE: status, head, floor, messages
//
// Both frames carry a BLAKE2b-128 checksum over everything after it (the link checks only its
// prefix). Every table is fixed-size; a request without an answer in NODE_REMOTE_TIMEOUT_MS is
// abandoned (a history request answers `timeout`, a subscription's pump simply retries).
#include <string.h>

#include "node.h"
#include "node_remote.h"
#include "tc_arena.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_le.h"

#define REMOTE_READ_SIZE 64u
#define REMOTE_PAGE_HEADER_SIZE 72u
#define REMOTE_EVENT_MESSAGE 1u // the event type of a page's messages (as on the bus)
#define REMOTE_PAGE_BUDGET (128u * 1024u) // a page frame stays below the link's frame limit

struct remote_read {
    bool used;
    bool for_sub;
    uint16_t target;
    uint32_t generation; // of this slot
    uint32_t index;      // subscription or global request index
    uint32_t index_generation;
    uint64_t conn_id;
    uint64_t deadline_ms;
};

struct remote_job {
    bool used;
    bool reading; // a store read in flight
    uint16_t from_node;
    uint32_t token;
    uint32_t generation;
    uint32_t group;  // index
    uint32_t limit;
    uint64_t room;
    uint64_t user;
    uint64_t from_seq;
    uint64_t op_wait;
    uint64_t deadline_ms;
};

static struct remote_read remote_reads[NODE_REMOTE_READS_MAX];
static struct remote_job remote_jobs[NODE_REMOTE_JOBS_MAX];
static uint8_t remote_frame[REMOTE_PAGE_BUDGET + REMOTE_PAGE_HEADER_SIZE + 8192];
static struct node_remote_stats remote_stats;

// ------------------------------------------------------------------------------------------------
// Requester.

// A member node of the group other than this one, rotating per request so that a dead one is
// not asked forever.
static uint16_t remote_target(struct node *node, const struct node_group *group) {
    static uint32_t rotation = 0;
    for (uint32_t i = 0; i < group->replica_count; i++) {
        // The newest topology's members (the config's before one): group->route.
        const uint16_t member = group->route.members[(rotation + i) % group->replica_count];
        if (member != node->node_id && tc_link_connected(&node->link, member)) {
            rotation += 1;
            return member;
        }
    }
    return 0;
}

int node_remote_read(struct node *node, const struct node_group *group, bool for_sub,
                     uint32_t index, uint32_t index_generation, uint64_t conn_id, uint64_t room,
                     uint64_t user, uint64_t from_seq, uint32_t limit, uint64_t op_wait) {
    tc_assert(!group->readable);
    const uint16_t target = remote_target(node, group);
    if (target == 0) return TC_EAGAIN;
    uint32_t slot = 0;
    while (slot < NODE_REMOTE_READS_MAX && remote_reads[slot].used) slot++;
    if (slot == NODE_REMOTE_READS_MAX) return TC_EBUSY;
    struct remote_read *read = &remote_reads[slot];
    read->used = true;
    read->for_sub = for_sub;
    read->target = target;
    read->generation += 1;
    read->index = index;
    read->index_generation = index_generation;
    read->conn_id = conn_id;
    read->deadline_ms = node->now_ms + NODE_REMOTE_TIMEOUT_MS;
    uint8_t frame[REMOTE_READ_SIZE];
    memset(frame, 0, sizeof(frame));
    tc_le_put_u32(frame + 16, slot);
    tc_le_put_u32(frame + 20, read->generation);
    tc_le_put_u32(frame + 24, group->id);
    tc_le_put_u32(frame + 28, limit);
    tc_le_put_u64(frame + 32, room);
    tc_le_put_u64(frame + 40, user);
    tc_le_put_u64(frame + 48, from_seq);
    tc_le_put_u64(frame + 56, op_wait);
    struct tc_checksum checksum;
    tc_checksum_compute(&checksum, frame + 16, REMOTE_READ_SIZE - 16);
    memcpy(frame, &checksum, 16);
    const int result = tc_link_send(&node->link, target, NODE_LINK_KIND_READ,
                                    TC_LINK_PRIORITY_LOW, frame, REMOTE_READ_SIZE);
    if (result != TC_OK) {
        read->used = false;
        return result;
    }
    remote_stats.reads_sent += 1;
    return TC_OK;
}

static bool frame_checksum_valid(const uint8_t *payload, uint32_t size) {
    struct tc_checksum checksum, expected;
    memcpy(&expected, payload, 16);
    tc_checksum_compute(&checksum, payload + 16, size - 16);
    return tc_checksum_equal(&checksum, &expected);
}

static struct tc_store_page page_scratch; // large: one at a time, on the loop thread

void node_remote_on_page(struct node *node, uint16_t from_node, const uint8_t *payload,
                         uint32_t size) {
    if (size < REMOTE_PAGE_HEADER_SIZE || !frame_checksum_valid(payload, size)) goto invalid;
    const uint32_t slot = tc_le_get_u32(payload + 16);
    const uint32_t generation = tc_le_get_u32(payload + 20);
    if (slot >= NODE_REMOTE_READS_MAX) goto invalid;
    struct remote_read *read = &remote_reads[slot];
    if (!read->used || read->generation != generation || read->target != from_node) {
        remote_stats.pages_late += 1; // answered after its timeout
        return;
    }
    struct tc_store_page *page = &page_scratch;
    const uint32_t error = tc_le_get_u32(payload + 24);
    page->result = (int32_t)tc_le_get_u32(payload + 28);
    page->kind = payload[32];
    page->count = tc_le_get_u32(payload + 36);
    page->room = tc_le_get_u64(payload + 40);
    page->from_seq = tc_le_get_u64(payload + 48);
    page->seq_last = tc_le_get_u64(payload + 56);
    page->floor_seq = tc_le_get_u64(payload + 64);
    if (page->count > TC_STORE_PAGE_MAX || !tc_edge_error_known(error)) goto invalid;
    uint32_t offset = REMOTE_PAGE_HEADER_SIZE;
    for (uint32_t i = 0; i < page->count; i++) {
        uint32_t event_size = 0;
        uint8_t type = 0;
        if (!node_event_decode(payload + offset, size - offset, &type, &page->messages[i],
                               &event_size) ||
            type != REMOTE_EVENT_MESSAGE) {
            goto invalid;
        }
        offset += event_size;
    }
    read->used = false;
    remote_stats.pages_received += 1;
    node_subs_remote_done(node, read->for_sub, read->index, read->index_generation, read->conn_id,
                          (enum tc_edge_error)error, page);
    return;
invalid:
    remote_stats.frames_invalid += 1;
}

// ------------------------------------------------------------------------------------------------
// Responder.

static void page_send(struct node *node, const struct remote_job *job, enum tc_edge_error error,
                      const struct tc_store_page *page, uint64_t head) {
    uint8_t *frame = remote_frame;
    memset(frame, 0, REMOTE_PAGE_HEADER_SIZE);
    tc_le_put_u32(frame + 16, job->token);
    tc_le_put_u32(frame + 20, job->generation);
    tc_le_put_u32(frame + 24, (uint32_t)error);
    uint32_t offset = REMOTE_PAGE_HEADER_SIZE;
    uint32_t count = 0;
    if (page != NULL) {
        tc_le_put_u32(frame + 28, (uint32_t)page->result);
        frame[32] = page->kind;
        tc_le_put_u64(frame + 40, page->room);
        tc_le_put_u64(frame + 48, page->from_seq);
        tc_le_put_u64(frame + 56, page->seq_last);
        tc_le_put_u64(frame + 64, page->floor_seq);
        for (; page->result == TC_OK && count < page->count; count++) {
            const struct tc_room_message *message = &page->messages[count];
            const uint32_t event_size = node_event_size(message->body_size);
            if (count > 0 && offset + event_size > REMOTE_PAGE_BUDGET + REMOTE_PAGE_HEADER_SIZE) {
                break; // a shorter page: the requester asks again from the next seq
            }
            offset += node_event_encode(frame + offset, REMOTE_EVENT_MESSAGE, message);
        }
    } else {
        frame[32] = TC_STORE_PAGE_EMPTY; // checks only: the head is what subscribe needs
        tc_le_put_u64(frame + 56, head);
    }
    tc_le_put_u32(frame + 36, count);
    struct tc_checksum checksum;
    tc_checksum_compute(&checksum, frame + 16, offset - 16);
    memcpy(frame, &checksum, 16);
    if (tc_link_send(&node->link, job->from_node, NODE_LINK_KIND_PAGE, TC_LINK_PRIORITY_LOW,
                     frame, offset) == TC_OK) {
        remote_stats.pages_sent += 1;
    }
}

static void job_store_done(void *context, const struct tc_store_page *page) {
    struct remote_job *job = context;
    tc_assert(job->used && job->reading);
    job->reading = false;
    job->used = false;
    page_send(node_remote_node, job, TC_EDGE_ERROR_NONE, page, page->seq_last);
}

// One step of a job: false while it must wait (RYW, store read slots).
static bool job_step(struct node *node, struct remote_job *job) {
    struct node_group *group = &node->groups[job->group];
    if (!group->readable) {
        // The local replica stopped serving meanwhile (retired, or not a member): the requester
        // asks another node.
        page_send(node, job, TC_EDGE_ERROR_TIMEOUT, NULL, 0);
        return true;
    }
    struct tc_replica_status status;
    tc_replica_status_get(group->replica, &status);
    if (status.commit_min < job->op_wait || status.state == TC_REPLICA_RECOVERING) {
        if (node->now_ms < job->deadline_ms) return false;
        page_send(node, job, TC_EDGE_ERROR_TIMEOUT, NULL, 0);
        return true;
    }
    const struct tc_room_machine *room = tc_replica_room(group->replica);
    struct tc_room_info info;
    if (tc_room_info(room, job->room, &info) != TC_OK) {
        page_send(node, job, TC_EDGE_ERROR_ROOM_NOT_FOUND, NULL, 0);
        return true;
    }
    if (!tc_room_is_member(room, job->room, job->user)) {
        page_send(node, job, TC_EDGE_ERROR_NOT_MEMBER, NULL, 0);
        return true;
    }
    if (job->limit == 0) {
        page_send(node, job, TC_EDGE_ERROR_NONE, NULL, info.seq_last);
        return true;
    }
    job->reading = true;
    const int result = tc_store_read(tc_replica_store(group->replica), job->room, job->from_seq,
                                     tc_min_u32(job->limit, TC_STORE_PAGE_MAX),
                                     tc_replica_applied_timestamp(group->replica), job_store_done,
                                     job);
    if (result == TC_OK) return false; // job_store_done answers (possibly already did)
    job->reading = false;
    if (result == TC_EBUSY) return false;
    page_send(node, job, TC_EDGE_ERROR_INVALID_FIELD, NULL, 0);
    return true;
}

struct node *node_remote_node; // the responder's callbacks need it (one node per process)

void node_remote_on_read(struct node *node, uint16_t from_node, const uint8_t *payload,
                         uint32_t size) {
    node_remote_node = node;
    if (size != REMOTE_READ_SIZE || !frame_checksum_valid(payload, size)) {
        remote_stats.frames_invalid += 1;
        return;
    }
    const struct node_group *group = node_group_find(node, tc_le_get_u32(payload + 24));
    uint32_t slot = 0;
    while (slot < NODE_REMOTE_JOBS_MAX && remote_jobs[slot].used) slot++;
    if (group == NULL || !group->readable || slot == NODE_REMOTE_JOBS_MAX) {
        remote_stats.jobs_refused += 1; // the requester times out and asks another node
        return;
    }
    struct remote_job *job = &remote_jobs[slot];
    *job = (struct remote_job){
        .used = true,
        .from_node = from_node,
        .token = tc_le_get_u32(payload + 16),
        .generation = tc_le_get_u32(payload + 20),
        .group = group->index,
        .limit = tc_le_get_u32(payload + 28),
        .room = tc_le_get_u64(payload + 32),
        .user = tc_le_get_u64(payload + 40),
        .from_seq = tc_le_get_u64(payload + 48),
        .op_wait = tc_le_get_u64(payload + 56),
        .deadline_ms = node->now_ms + NODE_REMOTE_TIMEOUT_MS / 2,
    };
    remote_stats.jobs += 1;
    if (job_step(node, job) && !job->reading) job->used = false;
}

void node_remote_pump(struct node *node) {
    node_remote_node = node;
    for (uint32_t i = 0; i < NODE_REMOTE_JOBS_MAX; i++) {
        struct remote_job *job = &remote_jobs[i];
        if (job->used && !job->reading && job_step(node, job) && !job->reading) job->used = false;
    }
    for (uint32_t i = 0; i < NODE_REMOTE_READS_MAX; i++) {
        struct remote_read *read = &remote_reads[i];
        if (!read->used || node->now_ms < read->deadline_ms) continue;
        read->used = false;
        remote_stats.reads_timed_out += 1;
        node_subs_remote_done(node, read->for_sub, read->index, read->index_generation,
                              read->conn_id, TC_EDGE_ERROR_TIMEOUT, NULL);
    }
}

void node_remote_stats_get(struct node_remote_stats *stats) { *stats = remote_stats; }
