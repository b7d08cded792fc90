#include "client.h"

#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"

// The VSR client of one group. See client.h for the interface and docs/vsr.md for the protocol.
//
// One request is in flight at a time. Its bytes are built once into `request` and never change
// until its reply is accepted: resends are byte-identical (same checksum), so replicas can
// recognise a duplicate by (client, request number) and by checksum.
//
// Timeouts: the first transmission goes to the presumed primary (view % replica_count). Each
// timeout resends to every replica and doubles the timeout, up to request_timeout << SHIFT_MAX,
// plus jitter from the client's own PRNG so that many clients do not resend in lockstep.

#define TC_CLIENT_REQUEST_TIMEOUT_TICKS_DEFAULT 20u
#define TC_CLIENT_BACKOFF_SHIFT_MAX 5u

struct tc_client {
    uint64_t cluster;
    uint64_t id;
    uint32_t group;
    uint8_t replica_count;
    uint8_t reserved[3];
    struct tc_io *io;
    struct tc_prng prng;

    enum tc_client_state state;
    uint32_t view;           // highest view learned from replies
    uint32_t request_number; // of the in-flight (or last) request
    uint64_t session;        // from the register reply; sent with every chat request
    uint8_t request_operation;
    uint8_t reserved2[3];

    uint64_t ticks;                  // monotonic tick count of this client
    uint32_t request_timeout_ticks;  // base timeout
    uint32_t backoff_attempt;        // resends of the in-flight request so far
    uint64_t resend_deadline_ticks;  // resend when ticks reaches this

    tc_client_reply_cb callback;
    void *callback_context;

    uint8_t *request; // TC_MESSAGE_SIZE_MAX bytes: the in-flight request, header + body
    uint8_t *reply;   // TC_REPLY_SIZE_MAX bytes: the accepted reply handed to the callback

    uint64_t replies_dropped; // invalid, stale or duplicate
};

static const struct tc_header *request_header(const struct tc_client *client) {
    return (const struct tc_header *)(const void *)client->request;
}

static bool in_flight(const struct tc_client *client) {
    return client->state == TC_CLIENT_REGISTERING || client->state == TC_CLIENT_BUSY;
}

static void client_invariants(const struct tc_client *client) {
    tc_assert(client->id != 0);
    tc_assert(client->replica_count >= 1 && client->replica_count <= TC_REPLICAS_MAX);
    tc_assert(client->state <= TC_CLIENT_EVICTED);
    tc_assert(client->request_timeout_ticks > 0);
    tc_assert(client->backoff_attempt <= UINT32_MAX - 1);
    if (in_flight(client)) {
        tc_assert(client->callback != NULL);
        tc_assert(client->resend_deadline_ticks > client->ticks);
        tc_assert(request_header(client)->client == client->id);
        tc_assert(request_header(client)->request == client->request_number);
    }
    if (client->state == TC_CLIENT_REGISTERING) tc_assert(client->request_number == 0);
    if (client->state == TC_CLIENT_BUSY) tc_assert(client->request_number > 0);
}

uint64_t tc_client_memory_size(void) {
    // Each allocation may need up to its alignment in padding.
    return tc_align_up(sizeof(struct tc_client), 64) + 64 + TC_MESSAGE_SIZE_MAX + 64 +
           TC_REPLY_SIZE_MAX + 64;
}

int tc_client_init(struct tc_client **out, const struct tc_client_options *options,
                   struct tc_arena *arena) {
    tc_assert(out != NULL);
    tc_assert(options != NULL);
    tc_assert(arena != NULL);
    if (options->client_id == 0) return TC_EINVAL;
    if (options->replica_count == 0 || options->replica_count > TC_REPLICAS_MAX) return TC_EINVAL;
    if (options->io == NULL || options->io->vtable == NULL) return TC_EINVAL;
    if (options->io->vtable->send_to_replica == NULL) return TC_EINVAL;

    struct tc_client *client = tc_arena_alloc(arena, sizeof(struct tc_client), 64);
    if (client == NULL) return TC_ENOMEM;
    client->request = tc_arena_alloc(arena, TC_MESSAGE_SIZE_MAX, 64);
    if (client->request == NULL) return TC_ENOMEM;
    client->reply = tc_arena_alloc(arena, TC_REPLY_SIZE_MAX, 64);
    if (client->reply == NULL) return TC_ENOMEM;

    client->cluster = options->cluster;
    client->id = options->client_id;
    client->group = options->group;
    client->replica_count = options->replica_count;
    client->io = options->io;
    tc_prng_init(&client->prng, options->seed ^ options->client_id);
    client->state = TC_CLIENT_IDLE;
    client->view = 0;
    client->request_number = 0;
    client->ticks = 0;
    client->request_timeout_ticks = options->request_timeout_ticks == 0
                                        ? TC_CLIENT_REQUEST_TIMEOUT_TICKS_DEFAULT
                                        : options->request_timeout_ticks;
    client->backoff_attempt = 0;
    client->resend_deadline_ticks = 0;
    client->callback = NULL;
    client->callback_context = NULL;
    client->replies_dropped = 0;
    client_invariants(client);
    *out = client;
    return TC_OK;
}

// The timeout after `attempt` resends: base << min(attempt, SHIFT_MAX), plus up to base/2 jitter.
static uint64_t backoff_ticks(struct tc_client *client, uint32_t attempt) {
    uint32_t shift = tc_min_u32(attempt, TC_CLIENT_BACKOFF_SHIFT_MAX);
    uint64_t base = (uint64_t)client->request_timeout_ticks << shift;
    uint64_t jitter = tc_prng_below(&client->prng, client->request_timeout_ticks / 2 + 1);
    uint64_t result = base + jitter;
    tc_assert(result >= client->request_timeout_ticks);
    tc_assert(result <= ((uint64_t)client->request_timeout_ticks << TC_CLIENT_BACKOFF_SHIFT_MAX) +
                            client->request_timeout_ticks);
    return result;
}

static void send_to_primary(struct tc_client *client) {
    uint8_t primary = (uint8_t)(client->view % client->replica_count);
    tc_assert(primary < client->replica_count);
    client->io->vtable->send_to_replica(client->io, primary, TC_EPOCH_CURRENT, client->request);
}

static void send_to_all(struct tc_client *client) {
    for (uint8_t replica = 0; replica < client->replica_count; replica++) {
        client->io->vtable->send_to_replica(client->io, replica, TC_EPOCH_CURRENT, client->request);
    }
}

// Builds the request header in place (the body, if any, is already at request + header size)
// and transmits it to the presumed primary.
static void request_start(struct tc_client *client, uint8_t operation, uint32_t body_size,
                          tc_client_reply_cb callback, void *context) {
    tc_assert(body_size <= TC_MESSAGE_BODY_SIZE_MAX);
    tc_assert(callback != NULL);
    struct tc_header *header = (struct tc_header *)(void *)client->request;
    memset(header, 0, sizeof(*header));
    header->cluster = client->cluster;
    header->group = client->group;
    header->client = client->id;
    header->view = client->view;
    header->request = client->request_number;
    header->session = operation == TC_OPERATION_REGISTER ? 0 : client->session;
    header->size = TC_HEADER_SIZE + body_size;
    header->version = TC_HEADER_VERSION;
    header->command = TC_COMMAND_REQUEST;
    header->operation = operation;
    tc_header_set_checksum_body(header, client->request + TC_HEADER_SIZE, body_size);
    tc_header_set_checksum(header);
    tc_assert(tc_header_invalid(header) == NULL);

    client->request_operation = operation;
    client->callback = callback;
    client->callback_context = context;
    client->backoff_attempt = 0;
    client->resend_deadline_ticks = client->ticks + backoff_ticks(client, 0);
    send_to_primary(client);
}

void tc_client_register(struct tc_client *client, tc_client_reply_cb callback, void *context) {
    client_invariants(client);
    tc_assert(client->state == TC_CLIENT_IDLE);
    tc_assert(callback != NULL);
    client->state = TC_CLIENT_REGISTERING;
    client->request_number = 0;
    request_start(client, TC_OPERATION_REGISTER, 0, callback, context);
    client_invariants(client);
}

void tc_client_request(struct tc_client *client, const uint8_t *body, uint32_t body_size,
                       tc_client_reply_cb callback, void *context) {
    tc_client_request_operation(client, TC_OPERATION_CHAT, body, body_size, callback, context);
}

void tc_client_request_operation(struct tc_client *client, uint8_t operation, const uint8_t *body,
                                 uint32_t body_size, tc_client_reply_cb callback, void *context) {
    tc_assert(operation == TC_OPERATION_CHAT || operation == TC_OPERATION_RECONFIGURE);
    client_invariants(client);
    tc_assert(client->state == TC_CLIENT_READY);
    tc_assert(body != NULL || body_size == 0);
    tc_assert(body_size <= TC_MESSAGE_BODY_SIZE_MAX);
    tc_assert(client->request_number < UINT32_MAX);
    if (body_size > 0) memcpy(client->request + TC_HEADER_SIZE, body, body_size);
    client->state = TC_CLIENT_BUSY;
    client->request_number += 1;
    request_start(client, operation, body_size, callback, context);
    client_invariants(client);
}

void tc_client_tick(struct tc_client *client) {
    client_invariants(client);
    client->ticks += 1;
    if (!in_flight(client)) return;
    if (client->ticks < client->resend_deadline_ticks) return;
    // The presumed primary did not answer in time: it may be down or partitioned, or our view may
    // be stale. Every replica forwards a request to its primary or answers from its client table.
    client->backoff_attempt += 1;
    client->resend_deadline_ticks = client->ticks + backoff_ticks(client, client->backoff_attempt);
    send_to_all(client);
    client_invariants(client);
}

void tc_client_view_hint(struct tc_client *client, uint32_t view) {
    client_invariants(client);
    if (view <= client->view) return;
    client->view = view;
    if (!in_flight(client)) return;
    // The request bytes carry the view they were built in; replicas accept a request from any
    // view (the primary answers or prepares it), so the identical bytes are resent.
    client->backoff_attempt = 0;
    client->resend_deadline_ticks = client->ticks + backoff_ticks(client, 0);
    send_to_primary(client);
    client_invariants(client);
}

// Checks every property a message must have before the client looks at its fields.
static bool message_valid(const struct tc_client *client, const uint8_t *message, uint32_t size) {
    if (size < TC_HEADER_SIZE || size > TC_MESSAGE_SIZE_MAX) return false;
    struct tc_header header;
    memcpy(&header, message, sizeof(header)); // the message buffer may be unaligned
    if (!tc_header_valid_checksum(&header)) return false;
    if (tc_header_invalid(&header) != NULL) return false;
    if (header.size != size) return false;
    if (!tc_header_valid_checksum_body(&header, message + TC_HEADER_SIZE)) return false;
    if (header.cluster != client->cluster || header.group != client->group) return false;
    if (header.client != client->id) return false;
    return true;
}

static void on_eviction(struct tc_client *client, const struct tc_header *header) {
    tc_assert(header->command == TC_COMMAND_EVICTION);
    if (client->state == TC_CLIENT_IDLE || client->state == TC_CLIENT_EVICTED) {
        client->replies_dropped += 1;
        return;
    }
    if (header->view > client->view) client->view = header->view;
    bool had_request = in_flight(client);
    tc_client_reply_cb callback = client->callback;
    void *context = client->callback_context;
    client->state = TC_CLIENT_EVICTED;
    client->callback = NULL;
    client->callback_context = NULL;
    client_invariants(client);
    if (had_request) callback(context, client, NULL, NULL, 0);
}

// `header` is an aligned copy of the message's header; the message itself may be unaligned.
static void on_reply(struct tc_client *client, const struct tc_header *header,
                     const uint8_t *message, uint32_t size) {
    tc_assert(header->command == TC_COMMAND_REPLY);
    tc_assert(header->size == size);
    if (!in_flight(client) || header->request != client->request_number ||
        header->operation != client->request_operation || size > TC_REPLY_SIZE_MAX ||
        (header->operation == TC_OPERATION_REGISTER && header->session == 0)) {
        client->replies_dropped += 1; // stale, duplicate or unexpected
        return;
    }
    memcpy(client->reply, message, size);
    const struct tc_header *reply = (const struct tc_header *)(const void *)client->reply;
    if (reply->view > client->view) client->view = reply->view;
    if (client->request_operation == TC_OPERATION_REGISTER) client->session = reply->session;

    tc_client_reply_cb callback = client->callback;
    void *context = client->callback_context;
    client->state = TC_CLIENT_READY;
    client->callback = NULL;
    client->callback_context = NULL;
    client->backoff_attempt = 0;
    client_invariants(client);
    // The callback may start the next request: the reply buffer stays untouched until the next
    // accepted reply.
    callback(context, client, reply, client->reply + TC_HEADER_SIZE, size - TC_HEADER_SIZE);
}

void tc_client_on_message(struct tc_client *client, const uint8_t *message, uint32_t size) {
    client_invariants(client);
    tc_assert(message != NULL);
    if (!message_valid(client, message, size)) {
        client->replies_dropped += 1;
        return;
    }
    struct tc_header header;
    memcpy(&header, message, sizeof(header));
    if (header.command == TC_COMMAND_EVICTION) {
        on_eviction(client, &header);
    } else if (header.command == TC_COMMAND_REPLY) {
        on_reply(client, &header, message, size);
    } else {
        client->replies_dropped += 1;
    }
}

enum tc_client_state tc_client_state_get(const struct tc_client *client) {
    client_invariants(client);
    return client->state;
}

uint64_t tc_client_id(const struct tc_client *client) { return client->id; }

uint32_t tc_client_request_number(const struct tc_client *client) {
    return client->request_number;
}
