#ifndef TC_VSR_CLIENT_H
#define TC_VSR_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "header.h"
#include "io.h"
#include "tc_arena.h"

// A VSR client of one group: registers a session through consensus, then sends one request at a
// time (request numbers 1, 2, 3, ...), resending it until a reply arrives. It never gives up on a
// request by itself; the caller decides (tc_client_cancel is not offered: a request is either
// answered or the session is evicted). Deterministic: time is ticks, no I/O but through tc_io.
// Used by the simulator, the bench and (later) the edge gateway.

enum tc_client_state {
    TC_CLIENT_IDLE = 0,        // not registered yet
    TC_CLIENT_REGISTERING = 1, // register request in flight
    TC_CLIENT_READY = 2,       // registered, no request in flight
    TC_CLIENT_BUSY = 3,        // a request is in flight
    TC_CLIENT_EVICTED = 4,     // the group evicted this session: make a new client id
};

struct tc_client;

// Called once per request: with the reply header and body, or with reply == NULL on eviction.
typedef void (*tc_client_reply_cb)(void *context, struct tc_client *client,
                                   const struct tc_header *reply, const uint8_t *body,
                                   uint32_t body_size);

struct tc_client_options {
    uint64_t cluster;
    uint32_t group;
    uint8_t replica_count;
    uint64_t client_id;            // non-zero, unique per cluster (e.g. drawn from a seeded PRNG)
    uint32_t request_timeout_ticks; // first resend after this many ticks (default 20), then backoff
    uint64_t seed;
    struct tc_io *io;               // send_to_replica is used; storage is not
};

uint64_t tc_client_memory_size(void);
int tc_client_init(struct tc_client **out, const struct tc_client_options *options,
                   struct tc_arena *arena);
void tc_client_tick(struct tc_client *client);
void tc_client_on_message(struct tc_client *client, const uint8_t *message, uint32_t size);
// Starts registration (state IDLE -> REGISTERING). The callback fires when registered.
void tc_client_register(struct tc_client *client, tc_client_reply_cb callback, void *context);
// Sends a chat batch (state must be READY). body_size <= TC_MESSAGE_BODY_SIZE_MAX.
void tc_client_request(struct tc_client *client, const uint8_t *body, uint32_t body_size,
                       tc_client_reply_cb callback, void *context);
// The same for another operation of a registered session: TC_OPERATION_CHAT or
// TC_OPERATION_RECONFIGURE (body: struct tc_reconfigure, little-endian; docs/vsr.md §11.4).
void tc_client_request_operation(struct tc_client *client, uint8_t operation, const uint8_t *body,
                                 uint32_t body_size, tc_client_reply_cb callback, void *context);
// A hint from the host that the group runs normally in `view` (e.g. its co-located replica just
// finished a view change). A newer view than the client knows is adopted, and a request in flight
// is resent to that view's primary at once with its backoff reset, instead of waiting for the
// timeout: failover then costs one hop, not a backoff period. Stale hints are ignored.
void tc_client_view_hint(struct tc_client *client, uint32_t view);
enum tc_client_state tc_client_state_get(const struct tc_client *client);
uint64_t tc_client_id(const struct tc_client *client);
uint32_t tc_client_request_number(const struct tc_client *client); // of the in-flight/last request

#endif
