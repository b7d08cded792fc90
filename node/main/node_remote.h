#ifndef TC_NODE_REMOTE_H
#define TC_NODE_REMOTE_H

// Forwarded reads for rooms whose group has no replica on this node (node_remote.c,
// docs/node.md §6).

#include <stdbool.h>
#include <stdint.h>

#include "edge_proto.h"
#include "store.h"

#define NODE_REMOTE_READS_MAX 256u // reads this node waits for
#define NODE_REMOTE_JOBS_MAX 256u  // reads this node serves for others at once
#define NODE_REMOTE_TIMEOUT_MS 2000u

struct node;
struct node_group;

struct node_remote_stats {
    uint64_t reads_sent;
    uint64_t reads_timed_out;
    uint64_t pages_received;
    uint64_t pages_late;
    uint64_t pages_sent;
    uint64_t jobs;
    uint64_t jobs_refused;
    uint64_t frames_invalid;
};

extern struct node *node_remote_node;

// Asks a node hosting `group` for the room checks of `user` and, with limit > 0, a page from
// from_seq, once its replica applied op_wait. The answer (or a timeout) reaches
// node_subs_remote_done with (for_sub, index, index_generation, conn_id). TC_OK, TC_EAGAIN (no
// hosting node connected) or TC_EBUSY (every read slot in use).
int node_remote_read(struct node *node, const struct node_group *group, bool for_sub,
                     uint32_t index, uint32_t index_generation, uint64_t conn_id, uint64_t room,
                     uint64_t user, uint64_t from_seq, uint32_t limit, uint64_t op_wait);
// Link frames of kind READ (we serve) and PAGE (an answer for us).
void node_remote_on_read(struct node *node, uint16_t from_node, const uint8_t *payload,
                         uint32_t size);
void node_remote_on_page(struct node *node, uint16_t from_node, const uint8_t *payload,
                         uint32_t size);
// Serves waiting jobs and expires unanswered reads; once per loop iteration.
void node_remote_pump(struct node *node);
void node_remote_stats_get(struct node_remote_stats *stats);

// node_subs.c: the answer of a forwarded read. `page` is NULL on a timeout; its messages are
// valid during the call only. error != NONE: the room checks failed (room_not_found, not_member,
// timeout, ...).
void node_subs_remote_done(struct node *node, bool for_sub, uint32_t index,
                           uint32_t index_generation, uint64_t conn_id, enum tc_edge_error error,
                           const struct tc_store_page *page);

#endif
