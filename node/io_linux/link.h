#ifndef TC_IO_LINUX_LINK_H
#define TC_IO_LINUX_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "constants.h"
#include "loop.h"
#include "tc_prng.h"

// node/io_linux/link: the node-to-node transport of tigerchat-node. Opaque frames over TCP.
//
// Connection model: every node dials one OUTBOUND connection to each peer and sends only on it; it
// receives only on the INBOUND connections it accepted. Two TCP connections per pair, no
// tie-breaking. The first frame of an outbound connection is a HELLO naming the cluster and the
// sender's node id; an inbound connection delivers nothing before a valid hello. A new inbound
// connection from a node replaces (closes) that node's previous one.
//
// Frame = 32-byte prefix + payload. Prefix, little-endian:
//   [0,16)  checksum: BLAKE2b-128 (tc_checksum) over prefix bytes [16,32)
//   [16,24) u64 cluster
//   [24,28) u32 payload size_bytes (<= frame_size_max)
//   [28]    u8 kind (TC_LINK_KIND_HELLO is the link's own; every other value is the caller's)
//   [29]    u8 version (TC_LINK_VERSION)
//   [30,32) u8 reserved[2], zero
// The PAYLOAD IS NOT CHECKSUMMED by the link: every payload kind carries its own checksums (a VSR
// message has a header checksum and a body checksum), so checksumming it twice would only cost
// CPU. A receiver that finds any prefix field invalid closes that connection (counted, logged);
// it never crashes on what a peer sends.
// HELLO payload (32 bytes): u64 cluster, u16 node id, 6 zero bytes, then a 16-byte tc_checksum of
// those first 16 bytes. A hello naming the wrong cluster or an unknown node closes the connection.
//
// Sending never blocks: a frame is copied into the peer's bounded send queue (one byte ring per
// priority class) and written eagerly; the writer sends whole frames, never interleaves two, and
// picks the HIGH queue whenever it is between frames, so consensus traffic is never starved by
// client fan-out. Frames are dropped (never queued) while the peer is not connected, and queued
// frames are discarded when the connection breaks: the protocols above tolerate loss.
//
// Single-threaded: every call, and every callback, happens on the loop's thread. Memory: one
// malloc at init (receive buffers and send rings; reserved, not pre-faulted), nothing afterwards.
// Work per readiness event is bounded (reads, writes and accepts per event), so one busy peer
// cannot starve the others. Callbacks must not call tc_link_deinit or tc_link_tick.

#define TC_LINK_NODES_MAX 64u // node ids are 1..TC_LINK_NODES_MAX-1; 0 is never a node
#define TC_LINK_PEERS_MAX (TC_LINK_NODES_MAX - 1u)
#define TC_LINK_PREFIX_SIZE 32u
#define TC_LINK_HELLO_SIZE 32u
#define TC_LINK_VERSION 1u
#define TC_LINK_KIND_HELLO 0u
// Inbound connection slots beyond one per peer: room for not-yet-identified connections and for a
// replacement arriving before the old connection's close was noticed.
#define TC_LINK_INBOUND_SPARE 4u
#define TC_LINK_INBOUND_MAX (TC_LINK_PEERS_MAX + TC_LINK_INBOUND_SPARE)
#define TC_LINK_ADDRESS_SIZE_MAX 128u
#define TC_LINK_ERROR_SIZE_MAX 512u

#define TC_LINK_FRAME_SIZE_MAX_DEFAULT (TC_MESSAGE_SIZE_MAX + 4096u)
#define TC_LINK_SEND_QUEUE_HIGH_BYTES_DEFAULT (8u * 1024u * 1024u)
#define TC_LINK_SEND_QUEUE_LOW_BYTES_DEFAULT (4u * 1024u * 1024u)
#define TC_LINK_RECONNECT_MIN_MS_DEFAULT 50u
#define TC_LINK_RECONNECT_MAX_MS_DEFAULT 2000u
#define TC_LINK_CONNECT_TIMEOUT_MS_DEFAULT 2000u
#define TC_LINK_HELLO_TIMEOUT_MS_DEFAULT 2000u

enum tc_link_priority {
    TC_LINK_PRIORITY_HIGH = 0, // replica / consensus traffic
    TC_LINK_PRIORITY_LOW = 1,  // client / fan-out traffic
};
#define TC_LINK_PRIORITIES 2u

// `payload` is valid only during the call.
typedef void (*tc_link_on_frame_fn)(void *context, uint16_t from_node, uint8_t kind,
                                    const uint8_t *payload, uint32_t size_bytes);
typedef void (*tc_link_log_fn)(void *context, const char *line);

struct tc_link_peer_address {
    uint16_t node_id;
    char address[TC_LINK_ADDRESS_SIZE_MAX]; // "host:port": IPv4 dotted quad or a name ("localhost")
};

struct tc_link_options {
    uint64_t cluster;
    uint16_t node_id;                          // 1..TC_LINK_NODES_MAX-1
    const char *listen_address;                // "host:port"; port 0 binds an ephemeral port
    struct tc_link_peer_address peers[TC_LINK_NODES_MAX]; // an entry for node_id is ignored
    uint32_t peer_count;                       // entries used in peers
    // Zero selects the default for each of these.
    uint32_t frame_size_max;        // largest payload, bytes
    uint32_t send_queue_high_bytes; // per peer; must hold a largest frame
    uint32_t send_queue_low_bytes;  // per peer; must hold a largest frame
    uint32_t reconnect_min_ms;
    uint32_t reconnect_max_ms;
    uint32_t connect_timeout_ms;    // a connect still pending this long is abandoned
    uint32_t hello_timeout_ms;      // an inbound connection without a hello this long is closed
    uint64_t seed;                  // reconnect jitter
    struct tc_loop *loop;           // must outlive the link
    tc_link_on_frame_fn on_frame;   // required
    tc_link_log_fn log;             // optional
    void *context;                  // for on_frame
    void *log_context;              // for log; NULL selects context
};

struct tc_link_stats {
    uint64_t frames_sent[TC_LINK_PRIORITIES]; // fully written to the kernel (hellos excluded)
    uint64_t bytes_sent[TC_LINK_PRIORITIES];  // prefix + payload (hellos included)
    uint64_t frames_received; // delivered to on_frame (the wire carries no priority class)
    uint64_t bytes_received;  // read from inbound connections
    uint64_t hellos_sent;
    uint64_t hellos_received; // valid ones
    uint64_t drops_not_connected;     // tc_link_send returned TC_EAGAIN
    uint64_t drops_queue_full;        // tc_link_send returned TC_EBUSY
    uint64_t drops_disconnect_frames; // queued frames discarded when a connection broke
    uint64_t drops_disconnect_bytes;
    uint64_t connects;         // outbound connections established
    uint64_t connect_failures; // outbound attempts that failed or timed out
    uint64_t disconnects;      // established outbound connections closed
    uint64_t inbound_accepted;
    uint64_t inbound_closed;   // for any reason, replacements and invalid frames included
    uint64_t inbound_replaced; // closed because the same node connected again
    uint64_t inbound_refused;  // accepted and closed at once: no slot
    uint64_t inbound_timeouts; // no hello in time
    uint64_t invalid_frames;   // prefix or hello violations (each closed a connection)
};

// Internal state below: read it in tests, never write it.
struct tc_link_ring {
    uint8_t *buffer;
    uint32_t capacity_bytes;
    uint32_t head;                  // offset of the first queued byte
    uint32_t count_bytes;           // queued bytes, whole frames (the head one maybe partly sent)
    uint32_t frames_count;          // queued frames, the partly sent one included
    uint32_t head_frame_size_bytes; // prefix + payload of the head frame, once sending started
    uint32_t head_frame_sent_bytes; // 0: between frames
    bool head_frame_hello;          // the head frame is a hello (not counted in frames_sent)
};

enum tc_link_peer_state {
    TC_LINK_PEER_IDLE = 0, // no connection; waiting for the reconnect deadline
    TC_LINK_PEER_CONNECTING,
    TC_LINK_PEER_CONNECTED,
};

struct tc_link;

struct tc_link_peer {
    struct tc_link *link;
    struct tc_loop_handler handler; // the outbound connection
    uint16_t node_id;
    uint16_t port;           // host order
    uint32_t address_ipv4;   // network order
    enum tc_link_peer_state state;
    uint32_t backoff_attempts;
    uint32_t reconnect_delay_ms; // while IDLE and not yet scheduled
    bool reconnect_scheduled;
    bool connect_deadline_set;
    uint64_t reconnect_at_ms;
    uint64_t connect_deadline_ms;
    struct tc_link_ring rings[TC_LINK_PRIORITIES];
    uint8_t *memory; // a peer joined at run time: its rings (else they are in link->memory)
    char address[TC_LINK_ADDRESS_SIZE_MAX];
};

struct tc_link_inbound {
    struct tc_link *link;
    struct tc_loop_handler handler;
    uint16_t node_id; // 0 until a valid hello
    bool hello_deadline_set;
    uint64_t hello_deadline_ms;
    uint64_t accepted_sequence; // to evict the oldest unidentified connection
    uint8_t *buffer;            // frame_size_max + TC_LINK_PREFIX_SIZE bytes
    bool buffer_owned;          // a slot added by tc_link_peer_join: freed on its own
    uint32_t buffer_used_bytes;
};

struct tc_link {
    struct tc_link_options options; // defaults filled in
    struct tc_loop *loop;
    bool initialized;
    uint16_t listen_port;
    struct tc_loop_handler listener;
    uint8_t *memory; // the one allocation
    uint64_t now_ms; // last tc_link_tick
    uint64_t accepted_sequence;
    struct tc_prng prng;
    uint32_t peers_count;
    uint8_t peer_index_by_node[TC_LINK_NODES_MAX]; // TC_LINK_NODES_MAX: not a peer
    struct tc_link_peer peers[TC_LINK_PEERS_MAX];
    uint32_t inbound_count; // slots in use: peers_count + TC_LINK_INBOUND_SPARE
    struct tc_link_inbound inbound[TC_LINK_INBOUND_MAX];
    struct tc_link_stats stats;
    char listen_address[TC_LINK_ADDRESS_SIZE_MAX];
    char error[TC_LINK_ERROR_SIZE_MAX]; // why tc_link_init failed
};

// Resolves every address, allocates, binds and listens. Connections start at the first tick.
// 0, or a negative TC_E* code with link->error naming the address and the reason.
int tc_link_init(struct tc_link *link, const struct tc_link_options *options);
// Closes every connection and the listener, frees the memory. No callback is called.
void tc_link_deinit(struct tc_link *link);

// A peer that joined the cluster after start (a node the controller's topology names, docs/node.md
// §15): like a configured one from the next tick, with its own send rings and one more inbound
// slot, allocated here (a configuration change, not traffic). TC_EEXIST for a known peer or this
// node, TC_EINVAL for a bad id or address, TC_ENOSPC beyond TC_LINK_PEERS_MAX, TC_ENOMEM; the
// link is unchanged on any error (link->error says why).
int tc_link_peer_join(struct tc_link *link, uint16_t node_id, const char *address);
bool tc_link_peer_known(const struct tc_link *link, uint16_t node_id);
// The peers, configured and joined: tc_link_peer_node(link, i) for i < tc_link_peer_count(link).
uint32_t tc_link_peer_count(const struct tc_link *link);
uint16_t tc_link_peer_node(const struct tc_link *link, uint32_t index);

// Drives reconnects and timeouts. now_ms: a monotonic clock, never going backwards.
void tc_link_tick(struct tc_link *link, uint64_t now_ms);

// TC_OK (queued; written eagerly), TC_EAGAIN (peer not connected: dropped), TC_EBUSY (the class's
// queue lacks room for the whole frame: dropped), TC_ENOENT (not a peer). Asserts that size_bytes
// <= frame_size_max, kind != TC_LINK_KIND_HELLO and node != own node id.
int tc_link_send(struct tc_link *link, uint16_t node, uint8_t kind, uint8_t priority,
                 const uint8_t *payload, uint32_t size_bytes);

// The outbound connection to `node` is established (sends are accepted).
bool tc_link_connected(const struct tc_link *link, uint16_t node);
void tc_link_stats_get(const struct tc_link *link, struct tc_link_stats *stats);
// The bound listen port (the actual one when the address asked for port 0).
uint16_t tc_link_listen_port(const struct tc_link *link);

#endif
