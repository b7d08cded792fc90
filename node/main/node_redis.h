#ifndef TC_NODE_REDIS_H
#define TC_NODE_REDIS_H

// The Redis pub/sub bus (docs/node.md §7, config `bus = redis`, `redis = host:port`).
//
// With `bus = redis`, node_bus_flush PUBLISHes each bus frame (the same checksummed bytes the
// built-in bus sends over the link) to channel `tc:<cluster>:bus` instead of sending it to peers,
// and every node SUBSCRIBEs to that channel and hands each payload to node_bus_on_frame, which
// validates the checksum and delivers by the seq rule. Two connections (hiredis async contexts on
// our tc_loop): a publisher and a subscriber (a subscribed connection cannot publish).
//
// Payload on the channel: an 8-byte prefix, then the bus frame.
//   [0..2)  u16 LE  publisher node id (a node skips its own frames: it delivered those events
//                   locally already, and typing events carry no seq to drop a duplicate by)
//   [2]     u8      NODE_REDIS_PREFIX_VERSION
//   [3..8)          zero
//
// Best-effort, like the link: while the publisher is disconnected, or when more than
// NODE_REDIS_BACKLOG_BYTES_MAX bytes wait in hiredis's output buffer (or NODE_REDIS_INFLIGHT_MAX
// replies are outstanding), a frame is dropped and counted, never queued without bound;
// subscribers close gaps from the local replica's log by seq. Connections are made
// non-blocking and re-made by node_redis_tick with exponential backoff (100 ms .. 2 s, jitter).
// A connection counts as up (backoff reset, `connected` logged, publishing allowed) only once
// Redis has answered its first command (PING, SUBSCRIBE): a peer that accepts TCP and then fails
// (not Redis, a proxy, a server going down) backs off like a refused connect, and an attempt that
// is not up within NODE_REDIS_CONNECT_TIMEOUT_MS is abandoned. Redis being down is never a
// start-up error.

#include <stdbool.h>
#include <stdint.h>

#include "loop.h"
#include "tc_prng.h"

#define NODE_REDIS_BACKOFF_MIN_MS 100u
#define NODE_REDIS_BACKOFF_MAX_MS 2000u
#define NODE_REDIS_CONNECT_TIMEOUT_MS 2000u
#define NODE_REDIS_BACKLOG_BYTES_MAX (8u * 1024u * 1024u) // unsent bytes in hiredis's obuf
#define NODE_REDIS_INFLIGHT_MAX 4096u                     // PUBLISH replies outstanding
#define NODE_REDIS_PREFIX_SIZE 8u
#define NODE_REDIS_PREFIX_VERSION 1u
#define NODE_REDIS_CHANNEL_SIZE 48u // "tc:18446744073709551615:bus" and its NUL fit
#define NODE_REDIS_FAILURES_LOG_EVERY 30u // consecutive connect failures logged: 1st, then every Nth

struct node;
struct redisAsyncContext;

// Counters (monotonic) and gauges of the Redis bus, for /metrics (node_metrics.c).
struct node_redis_stats {
    uint64_t published_frames;     // PUBLISH commands handed to hiredis
    uint64_t published_bytes;      // their payload bytes (prefix included)
    uint64_t publish_errors;       // error replies, or replies lost to a disconnect
    uint64_t dropped_disconnected; // frames dropped: the publisher was not connected
    uint64_t dropped_backlog;      // frames dropped: backlog over NODE_REDIS_BACKLOG_BYTES_MAX
                                   // or NODE_REDIS_INFLIGHT_MAX replies outstanding
    uint64_t received_frames;      // payloads from other nodes passed to node_bus_on_frame
    uint64_t received_bytes;       // their payload bytes (prefix included)
    uint64_t received_self;        // our own payloads, skipped
    uint64_t received_invalid;     // bad prefix, size or reply shape (checksum: node_bus_on_frame)
    uint64_t connects;             // connections up (Redis answered; publisher + subscriber)
    uint64_t connect_failures;     // attempts that failed, timed out or closed before up
    uint64_t disconnects;          // connections lost after they were up
    uint64_t reconnects;           // connection attempts after the first of each connection
    // Gauges, refreshed every tick.
    uint64_t backlog_bytes;        // unsent bytes in the publisher's hiredis output buffer
    uint32_t publish_inflight;     // PUBLISH replies outstanding
    bool publisher_connected;
    bool subscriber_connected;
};

enum node_redis_state {
    NODE_REDIS_DOWN = 0,   // no context; a connect attempt is due at retry_at_ms
    NODE_REDIS_CONNECTING, // non-blocking connect in progress
    NODE_REDIS_CONNECTED,  // TCP up; `healthy` once Redis answered our first command
};

struct node_redis;

struct node_redis_conn {
    struct node_redis *redis;
    const char *name;              // "publisher" or "subscriber", for logs
    bool subscriber;
    bool broken;                   // the loop refused an interest change: free at the next tick
    bool healthy;                  // Redis answered: PING (publisher) or SUBSCRIBE (subscriber)
    const char *close_reason;      // why we are freeing a connected context that is not up
    char refused[160];             // Redis's error reply to the first command, for the log
    bool error_logged;             // publisher: one error reply logged per connection
    bool backlog_logged;           // publisher: one backlog drop logged per connection
    uint8_t state;                 // enum node_redis_state
    struct redisAsyncContext *ac;  // NULL while down
    struct tc_loop_handler handler;
    uint32_t backoff_ms;
    uint64_t retry_at_ms;
    uint64_t connect_started_ms;   // the attempt must be up within NODE_REDIS_CONNECT_TIMEOUT_MS
    uint32_t failures;             // consecutive failed attempts
    uint32_t attempts;             // connection attempts made
    uint32_t inflight;             // publisher: PUBLISH replies outstanding
};

struct node_redis {
    struct node *node;
    bool enabled; // bus = redis and node_redis_init ran
    bool closing; // node_redis_deinit: disconnects are expected
    char host[16];
    uint16_t port;
    char address[24]; // "host:port", for logs
    char channel[NODE_REDIS_CHANNEL_SIZE];
    uint32_t channel_size;
    struct tc_prng prng; // backoff jitter
    struct node_redis_conn publisher;
    struct node_redis_conn subscriber;
    struct node_redis_stats stats;
};

// Starts both connections (non-blocking) when the config says `bus = redis`; otherwise does
// nothing. Call after tc_loop_init. 0 or a negative TC_E* code (Redis unreachable is not one).
int node_redis_init(struct node *node);
// Frees both connections (their handlers leave the loop). Safe when init did not run.
void node_redis_deinit(struct node *node);
// Once per tick: due reconnects, connect timeouts, gauges.
void node_redis_tick(struct node *node);
// PUBLISHes one bus frame (size bytes, at most NODE_BUS_BUFFER_SIZE) or drops and counts it.
void node_redis_publish(struct node *node, const uint8_t *frame, uint32_t size);

#endif
