#ifndef TIGERCHAT_H
#define TIGERCHAT_H

// tigerchat_sdk: a small C client of the TigerChat WebSocket protocol (docs/protocol.md).
//
// A connection (struct tc_sdk_conn) is caller-owned; tc_sdk_conn_init allocates all of its memory
// once (buffers, the pending-request table) and nothing is allocated afterwards. It never blocks:
// one thread drives any number of connections through an explicit step API, either with its own
// epoll (tc_sdk_conn_fd, tc_sdk_conn_wants_write, tc_sdk_conn_on_readable/on_writable/tick) or
// with the poller below. A blocking convenience layer (tc_sdk_conn_connect_wait, tc_sdk_call) is
// built on the same steps, for tests and tools.
//
// What the SDK does for the application:
// - Reconnects with exponential backoff and jitter, cycling through the configured nodes.
// - Sends carry an idempotency key (16 bytes from getrandom) kept with the pending request: a send
//   retried after a dropped connection, `timeout`, `not_leader`, `server_busy` or `rate_limited`
//   reuses its key, so it commits exactly once (docs/protocol.md §5.5).
// - Subscriptions remember the last seq and hash delivered per room; after a reconnect the SDK
//   resubscribes with `since` = that seq. Every message's seq must follow the previous one and its
//   prev_hash must equal the previous message's hash (its hash is also recomputed unless
//   options.skip_hash_verify): a violation is reported as an event (GAP, DUPLICATE, CHAIN_BREAK,
//   HASH_MISMATCH). Duplicates are dropped; other violations are reported and the message is still
//   delivered.
// - Frames to the server are masked with a fresh random mask; server frames are checked (RFC 6455).
//
// Callbacks run only inside tc_sdk_conn_on_readable/on_writable/tick/close (and the poller and
// blocking calls that use them). They may submit requests on any connection; they must not call
// tc_sdk_conn_deinit. Pointers in callback arguments are valid during the call only.

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "edge_json.h"

#define TC_SDK_NODES_MAX 16u
#define TC_SDK_HOST_SIZE_MAX 253u
#define TC_SDK_TOKEN_SIZE_MAX 4096u
#define TC_SDK_KEY_SIZE 16u
#define TC_SDK_KEY_HEX_SIZE 32u
#define TC_SDK_HASH_SIZE 32u
#define TC_SDK_BODY_SIZE_MAX 4096u
#define TC_SDK_IN_FLIGHT_MAX 32u       // requests in flight per connection (protocol §3)
#define TC_SDK_PENDING_LIMIT 4096u     // requests queued or in flight per connection
#define TC_SDK_SUBSCRIPTIONS_MAX 64u   // per connection (protocol §9)
#define TC_SDK_REQUEST_SIZE_MAX 32768u // a client message (protocol §9)
#define TC_SDK_MESSAGE_SIZE_MIN 16384u
#define TC_SDK_MESSAGE_SIZE_DEFAULT (1u << 20) // server messages are at most 1 MiB (protocol §9)
#define TC_SDK_MESSAGE_SIZE_LIMIT (4u << 20)
#define TC_SDK_HTTP_HEAD_SIZE_MAX 8192u
#define TC_SDK_HTTP_BODY_SIZE_MAX 4096u
#define TC_SDK_TICK_MS 10u // the poller ticks every connection this often

// Errors in results (tc_sdk_result.error): 0, a protocol code (docs/protocol.md §7: 1-19,
// 100-151), or one of these local codes.
enum tc_sdk_error {
    TC_SDK_ERROR_NONE = 0,
    // The connection dropped while a create_room, create_dm, join or leave was in flight: its
    // outcome is unknown (sends, subscribes, history and ping are retried instead).
    TC_SDK_ERROR_DISCONNECTED = 1000,
    // options.request_timeout_ms passed. For a send the outcome is unknown: retry it with
    // result.key (tc_sdk_request.key_set) to keep exactly once.
    TC_SDK_ERROR_DEADLINE = 1001,
    // The connection stopped (tc_sdk_conn_close, or a handshake refusal that retrying cannot fix).
    TC_SDK_ERROR_CLOSED = 1002,
    // The server's answer did not parse.
    TC_SDK_ERROR_BAD_RESPONSE = 1003,
};

// The stable name of a protocol or local error code ("not_member", "disconnected").
const char *tc_sdk_error_name(uint32_t code);

enum tc_sdk_op {
    TC_SDK_OP_NONE = 0,
    TC_SDK_OP_CREATE_ROOM,
    TC_SDK_OP_CREATE_DM,
    TC_SDK_OP_JOIN,
    TC_SDK_OP_LEAVE,
    TC_SDK_OP_SEND,
    TC_SDK_OP_SUBSCRIBE,
    TC_SDK_OP_UNSUBSCRIBE,
    TC_SDK_OP_HISTORY,
    TC_SDK_OP_PING,
    TC_SDK_OP_REDACT,
    TC_SDK_OP_COUNT,
};

const char *tc_sdk_op_name(enum tc_sdk_op op);

// One request. Unused members are ignored.
struct tc_sdk_request {
    enum tc_sdk_op op;
    uint64_t room;
    uint64_t peer;          // create_dm
    uint64_t seq;           // subscribe: since; history: from_seq; send: thread_parent (0: none);
                            // redact: the message (>= 1)
    uint32_t limit;         // history: 1..100 (0: the server's default)
    const uint8_t *since_hash; // subscribe: the hash of message `since` when known (NULL)
    bool key_set;           // send: use `key` (a retry of an earlier send); else a fresh key
    uint8_t key[TC_SDK_KEY_SIZE];
    const char *body;       // send: 1..body_size_max bytes of UTF-8
    uint32_t body_size;
};

// The answer to one request.
struct tc_sdk_result {
    enum tc_sdk_op op;
    uint64_t tag;         // the caller's, from submit
    uint32_t error;       // 0: success; else enum tc_sdk_error or a protocol code
    uint32_t retry_after_ms;
    uint32_t attempts;    // frames sent for this request (retries included)
    uint64_t room;
    uint64_t seq;         // send, redact: the message; create/join/leave: the chain head
    uint64_t thread_seq;
    uint64_t head_seq;    // subscribe, history
    uint64_t next_seq;    // history
    uint64_t truncated_at; // history below the retention floor (0: not truncated)
    bool duplicate;       // send: the key had already committed (the original seq and hash);
                          // redact: the message was already redacted
    bool has_hash;
    uint8_t hash[TC_SDK_HASH_SIZE];
    uint8_t key[TC_SDK_KEY_SIZE]; // send
    uint32_t message_count; // history: messages delivered to on_message before this result
};

enum tc_sdk_message_source {
    TC_SDK_SOURCE_SUBSCRIPTION = 1,
    TC_SDK_SOURCE_HISTORY = 2,
};

struct tc_sdk_message {
    enum tc_sdk_message_source source;
    uint64_t tag;           // history: the request's tag
    uint64_t room;
    uint64_t seq;
    uint8_t prev_hash[TC_SDK_HASH_SIZE];
    uint8_t hash[TC_SDK_HASH_SIZE];
    uint64_t sender;
    uint64_t timestamp_ns;
    uint64_t thread_parent; // 0: not a reply
    uint64_t thread_seq;
    uint8_t body_hash[TC_SDK_HASH_SIZE];
    bool redacted;          // body is then NULL
    const char *body;       // not NUL-terminated
    uint32_t body_size;
};

enum tc_sdk_event_kind {
    TC_SDK_EVENT_CONNECTED = 1,     // the WebSocket is open (node_index)
    TC_SDK_EVENT_DISCONNECTED,      // it ended (close_code from the server's close, or 1006);
                                    // the SDK reconnects after a backoff
    TC_SDK_EVENT_HANDSHAKE_REFUSED, // http_status, code (protocol §7), retry_after_ms;
                                    // stopped is set when the SDK gives up (401, 4xx)
    TC_SDK_EVENT_SERVER_ERROR,      // an error without a request id (code, reason)
    TC_SDK_EVENT_TRUNCATED,         // room, seq = truncated_at
    TC_SDK_EVENT_CATCH_UP,          // room, seq = from_seq
    TC_SDK_EVENT_TYPING,            // room, user
    TC_SDK_EVENT_READ_MARKER,       // room, user, seq
    TC_SDK_EVENT_REDACTED,          // room, seq: a message already delivered lost its body
    TC_SDK_EVENT_UNSUBSCRIBED,      // room, reason ("left", "forbidden", "not_member")
    TC_SDK_EVENT_RESUBSCRIBE_FAILED, // room, code: the subscription is gone
    // Chain violations (the message is `seq`, expected_seq is the one that should have come).
    TC_SDK_EVENT_GAP,               // seq > expected: messages were skipped
    TC_SDK_EVENT_DUPLICATE,         // seq < expected: dropped
    TC_SDK_EVENT_CHAIN_BREAK,       // seq == expected but prev_hash != the previous hash
    TC_SDK_EVENT_HASH_MISMATCH,     // the message's hash or body_hash does not recompute
};

struct tc_sdk_event {
    enum tc_sdk_event_kind kind;
    uint32_t node_index;
    uint64_t room;
    uint64_t seq;
    uint64_t expected_seq;
    uint64_t user;
    uint32_t http_status;
    uint32_t code;          // protocol error code
    uint32_t retry_after_ms;
    uint16_t close_code;
    bool stopped;
    const char *reason;     // NUL-terminated, may be ""
};

struct tc_sdk_conn;

struct tc_sdk_callbacks {
    void *context;
    void (*on_result)(void *context, struct tc_sdk_conn *conn, const struct tc_sdk_result *result);
    void (*on_message)(void *context, struct tc_sdk_conn *conn,
                       const struct tc_sdk_message *message);
    void (*on_event)(void *context, struct tc_sdk_conn *conn, const struct tc_sdk_event *event);
};

struct tc_sdk_node {
    char host[TC_SDK_HOST_SIZE_MAX + 1]; // a name or a numeric address (no brackets)
    uint16_t port;
};

// Parses "host:port,[v6]:port,..." into nodes. TC_OK, TC_EINVAL (syntax), TC_ENOSPC (too many).
int tc_sdk_nodes_parse(const char *text, struct tc_sdk_node *nodes, uint32_t nodes_max,
                       uint32_t *count);

// JSON scratch for parsing server messages (cJSON over a bump allocator, edge_json.h). Shared by
// every connection driven by one thread; sized for message_size_max (48 bytes per input byte).
struct tc_sdk_scratch {
    uint8_t *memory;
    uint32_t message_size_max;
    struct tc_edge_json_scratch json;
};

int tc_sdk_scratch_init(struct tc_sdk_scratch *scratch, uint32_t message_size_max);
void tc_sdk_scratch_deinit(struct tc_sdk_scratch *scratch);

// Numeric options left 0 take the default of tc_sdk_options_default.
struct tc_sdk_options {
    const struct tc_sdk_node *nodes; // copied; names are resolved once, by init
    uint32_t node_count;             // 1..TC_SDK_NODES_MAX
    uint32_t node_first;             // the node tried first (spreads connections)
    const char *token;               // the JWT (copied), sent as Authorization: Bearer
    const char *local_address;       // numeric IP to bind before connecting (NULL: any)
    uint32_t pending_max;            // requests queued or in flight: 1..4096 (64)
    uint32_t in_flight_max;          // requests sent and unanswered: 1..32 (32)
    uint32_t body_size_max;          // largest send body: 1..4096 (4096)
    uint32_t message_size_max;       // largest server message: 16 KiB..4 MiB (1 MiB)
    uint32_t send_buffer_size;       // bytes waiting for the socket: >= 40 KiB (64 KiB)
    uint32_t backoff_min_ms;         // first reconnect delay (100)
    uint32_t backoff_max_ms;         // (5000)
    uint32_t connect_timeout_ms;     // TCP connect + upgrade (5000)
    uint32_t request_timeout_ms;     // a request unanswered this long fails (0: never)
    uint32_t retries_max;            // retries of retryable errors per request (32)
    uint32_t idle_timeout_ms;        // nothing received this long: reconnect (75000)
    bool skip_hash_verify;           // do not recompute message hashes
    struct tc_sdk_scratch *scratch;  // NULL: the connection allocates its own
    struct tc_sdk_callbacks callbacks;
};

void tc_sdk_options_default(struct tc_sdk_options *options);

// ------------------------------------------------------------------------------------------------
// The connection. Its members are private to the SDK (declared here so that callers can embed
// connections in their own arrays).

enum tc_sdk_conn_state {
    TC_SDK_CONN_IDLE = 0,   // initialised, not started, or stopped
    TC_SDK_CONN_BACKOFF,    // waiting to reconnect
    TC_SDK_CONN_CONNECTING, // TCP connect in progress
    TC_SDK_CONN_HANDSHAKE,  // upgrade request sent, waiting for the 101
    TC_SDK_CONN_OPEN,
};

struct tc_sdk_stats {
    uint64_t connects;           // WebSockets opened
    uint64_t disconnects;
    uint64_t handshake_refusals;
    uint64_t requests_sent;      // request frames, retries included
    uint64_t retries;
    uint64_t results;            // results delivered to on_result
    uint64_t messages;           // subscription messages delivered
    uint64_t gaps, duplicates, chain_breaks, hash_mismatches;
    uint64_t stale_answers;      // answers to requests no longer pending
    uint64_t bytes_in, bytes_out;
};

struct tc_sdk_pending;
struct tc_sdk_waiter;
struct tc_sdk_poller;

struct tc_sdk_subscription {
    uint64_t room; // 0: free
    uint64_t seq_last;
    uint8_t hash_last[TC_SDK_HASH_SIZE];
    bool hash_known;
    uint8_t state;         // subscription_state in tc_sdk_conn.c
    uint32_t pending_slot; // while a subscribe is pending
};

struct tc_sdk_ws_reader {
    uint8_t *message; // assembly of fragmented messages: message_size_max bytes
    uint32_t message_size_max;
    uint32_t message_used;
    uint8_t message_opcode;
    bool message_open;
};

struct tc_sdk_conn {
    struct tc_sdk_options options;
    struct tc_sdk_node nodes[TC_SDK_NODES_MAX];
    struct sockaddr_storage addresses[TC_SDK_NODES_MAX];
    socklen_t address_sizes[TC_SDK_NODES_MAX];
    struct sockaddr_storage local;
    socklen_t local_size; // 0: no bind
    char token[TC_SDK_TOKEN_SIZE_MAX + 1];
    uint32_t token_size;
    enum tc_sdk_conn_state state;
    int fd;
    uint32_t node_index;
    uint64_t state_since_ms;
    uint64_t reconnect_at_ms;
    uint32_t backoff_ms;
    uint64_t received_ms; // last bytes from the server
    uint64_t now_ms;
    char ws_accept[32];   // expected Sec-WebSocket-Accept
    bool close_sent;
    // Memory (one allocation).
    uint8_t *memory;
    uint8_t *send_buffer;
    uint32_t send_used;   // bytes queued
    uint32_t send_done;   // of which written
    uint8_t *recv_buffer;
    uint32_t recv_capacity;
    uint32_t recv_used;
    char *encode;         // one request's JSON
    struct tc_sdk_ws_reader reader;
    struct tc_sdk_pending *pending;
    uint32_t *free_slots; // stack of free pending slots
    uint8_t *bodies;      // pending_max x body_size_max
    uint32_t pending_used;
    uint32_t queued;      // pending in state QUEUED
    uint32_t in_flight;   // pending in state SENT or ABANDONED
    uint64_t order_next;
    struct tc_sdk_subscription subscriptions[TC_SDK_SUBSCRIPTIONS_MAX];
    uint32_t subscription_count;
    bool subscriptions_wanted; // some subscription waits for a resubscribe
    struct tc_sdk_scratch *scratch;
    struct tc_sdk_scratch scratch_own;
    uint8_t random[256]; // getrandom pool for masks, keys and the handshake key
    uint32_t random_used;
    bool in_callback;
    uint64_t incarnation; // +1 at every disconnect: buffers were reset
    // Poller registration.
    struct tc_sdk_poller *poller;
    uint32_t poll_index;  // in poller->conns
    int poll_fd;          // the fd registered (-1: none)
    uint32_t poll_events; // the events registered
    struct tc_sdk_stats stats;
};

// Private to the SDK's files (declared here so that the connection can be embedded).

enum tc_sdk_pending_state {
    TC_SDK_PENDING_FREE = 0,
    TC_SDK_PENDING_QUEUED,    // waiting to be sent (first time, or a retry)
    TC_SDK_PENDING_SENT,      // on the wire, unanswered
    TC_SDK_PENDING_ABANDONED, // answered locally (deadline) but still in flight at the server
};

// A blocking call's answer (tc_sdk_call): the result is copied here instead of going to on_result.
struct tc_sdk_waiter {
    bool done;
    struct tc_sdk_result result;
};

struct tc_sdk_pending {
    uint8_t state;       // enum tc_sdk_pending_state
    bool internal;       // a resubscribe made by the SDK: no on_result
    uint8_t op;          // enum tc_sdk_op
    uint32_t generation; // part of the request id: answers to older sends are stale
    uint32_t attempts;
    uint32_t limit;
    uint32_t body_size;  // the body is at bodies + slot * body_size_max
    uint64_t tag;
    uint64_t room;
    uint64_t peer;
    uint64_t seq;
    uint64_t order;      // FIFO among queued requests
    uint64_t created_ms;
    uint64_t not_before_ms; // a retry's delay
    uint8_t key[TC_SDK_KEY_SIZE];
    struct tc_sdk_waiter *waiter;
};

// Submits and returns the slot used (the blocking layer attaches its waiter to it).
int tc_sdk__submit(struct tc_sdk_conn *conn, const struct tc_sdk_request *request, uint64_t tag,
                   uint32_t *slot);
// Brings the poller's registration in line with the connection's socket and interest.
void tc_sdk__poller_sync(struct tc_sdk_conn *conn);
uint64_t tc_sdk__now_ms(void);
uint64_t tc_sdk__now_us(void);

// Copies the options, resolves the nodes, allocates every buffer. Does not connect. TC_OK,
// TC_EINVAL (options out of range, unresolvable node), TC_ENOMEM.
int tc_sdk_conn_init(struct tc_sdk_conn *conn, const struct tc_sdk_options *options);
// Closes the socket without callbacks and frees everything (not from a callback: asserted).
void tc_sdk_conn_deinit(struct tc_sdk_conn *conn);

// Starts connecting (IDLE -> CONNECTING). TC_OK or TC_EINVAL when not idle.
int tc_sdk_conn_start(struct tc_sdk_conn *conn);
// Stops: sends a close frame if open, closes the socket, fails every pending request with
// TC_SDK_ERROR_CLOSED and forgets every subscription. The connection can be started again.
void tc_sdk_conn_close(struct tc_sdk_conn *conn);
// Replaces the token used by the next handshakes (TC_EINVAL when too long or empty).
int tc_sdk_conn_set_token(struct tc_sdk_conn *conn, const char *token);

enum tc_sdk_conn_state tc_sdk_conn_state_get(const struct tc_sdk_conn *conn);
bool tc_sdk_conn_open(const struct tc_sdk_conn *conn);
// The socket to wait on (-1 while there is none), and whether to wait for writability too.
int tc_sdk_conn_fd(const struct tc_sdk_conn *conn);
bool tc_sdk_conn_wants_write(const struct tc_sdk_conn *conn);
void tc_sdk_conn_on_readable(struct tc_sdk_conn *conn);
void tc_sdk_conn_on_writable(struct tc_sdk_conn *conn);
// Timers: reconnect backoff, connect and request timeouts, retry delays, idle detection. Call
// every few milliseconds (the poller does, every TC_SDK_TICK_MS).
void tc_sdk_conn_tick(struct tc_sdk_conn *conn);
const struct tc_sdk_stats *tc_sdk_conn_stats(const struct tc_sdk_conn *conn);
// Requests queued or in flight; free slots of the pending table.
uint32_t tc_sdk_conn_pending(const struct tc_sdk_conn *conn);

// Queues a request (sent as soon as the connection is open and in_flight_max allows). Its result
// comes to on_result with `tag`. TC_OK, TC_EBUSY (pending table full), TC_EINVAL (bad request:
// room 0, body size or UTF-8, history limit), TC_ENOSPC (subscribe: 64 subscriptions), TC_EEXIST
// (subscribe: already subscribed to the room).
int tc_sdk_submit(struct tc_sdk_conn *conn, const struct tc_sdk_request *request, uint64_t tag);

// Shorthands for tc_sdk_submit.
int tc_sdk_create_room(struct tc_sdk_conn *conn, uint64_t room, uint64_t tag);
int tc_sdk_create_dm(struct tc_sdk_conn *conn, uint64_t room, uint64_t peer, uint64_t tag);
int tc_sdk_join(struct tc_sdk_conn *conn, uint64_t room, uint64_t tag);
int tc_sdk_leave(struct tc_sdk_conn *conn, uint64_t room, uint64_t tag);
int tc_sdk_send(struct tc_sdk_conn *conn, uint64_t room, const char *body, uint32_t body_size,
                uint64_t tag);
int tc_sdk_subscribe(struct tc_sdk_conn *conn, uint64_t room, uint64_t since, uint64_t tag);
int tc_sdk_unsubscribe(struct tc_sdk_conn *conn, uint64_t room, uint64_t tag);
int tc_sdk_history(struct tc_sdk_conn *conn, uint64_t room, uint64_t from_seq, uint32_t limit,
                   uint64_t tag);
int tc_sdk_ping(struct tc_sdk_conn *conn, uint64_t tag);
// Redacts message `seq` (>= 1) of the room, which must be the caller's own (docs/protocol.md
// §5.12). Idempotent: retried like a send after a dropped connection, timeout or not_leader; a
// repeat answers with result.duplicate set.
int tc_sdk_redact(struct tc_sdk_conn *conn, uint64_t room, uint64_t seq, uint64_t tag);

// The last seq delivered by the room's subscription (false when not subscribed).
bool tc_sdk_subscription_seq(const struct tc_sdk_conn *conn, uint64_t room, uint64_t *seq);

// ------------------------------------------------------------------------------------------------
// Poller: one epoll for many connections, level-triggered; ticks every connection each
// TC_SDK_TICK_MS. Registration follows each connection's socket and interest automatically.

struct tc_sdk_poller {
    int epoll_fd;
    struct tc_sdk_conn **conns;
    uint32_t conn_count;
    uint32_t conns_max;
    void *events; // struct epoll_event[events_max]
    uint32_t events_max;
    uint64_t tick_last_ms;
};

int tc_sdk_poller_init(struct tc_sdk_poller *poller, uint32_t conns_max);
void tc_sdk_poller_deinit(struct tc_sdk_poller *poller);
// Adds a connection (TC_ENOSPC when conns_max are in). A connection is in at most one poller.
int tc_sdk_poller_add(struct tc_sdk_poller *poller, struct tc_sdk_conn *conn);
void tc_sdk_poller_remove(struct tc_sdk_poller *poller, struct tc_sdk_conn *conn);
// Waits up to timeout_us for socket events (less when a tick is due), handles them and the ticks.
// Returns the number of socket events handled, or TC_EIO when epoll fails.
int tc_sdk_poller_poll(struct tc_sdk_poller *poller, uint64_t timeout_us);

// ------------------------------------------------------------------------------------------------
// Blocking layer (tests, tools): drives one connection with poll(2).

// Starts the connection if idle and waits until it is open. TC_OK, TC_EAGAIN (timeout), TC_EPERM
// (the handshake was refused for good and the connection stopped).
int tc_sdk_conn_connect_wait(struct tc_sdk_conn *conn, uint32_t timeout_ms);
// Drives the connection until *done is true or timeout_ms passes (TC_OK or TC_EAGAIN).
int tc_sdk_conn_run(struct tc_sdk_conn *conn, const bool *done, uint32_t timeout_ms);
// Submits a request and waits for its answer, copied into *result (message pointers of history
// results are delivered to on_message meanwhile). TC_OK (result->error may still be set),
// TC_EAGAIN (timeout: the answer will go to on_result with tag 0), or tc_sdk_submit's errors.
int tc_sdk_call(struct tc_sdk_conn *conn, const struct tc_sdk_request *request,
                struct tc_sdk_result *result, uint32_t timeout_ms);

// ------------------------------------------------------------------------------------------------
// Development tokens (HS256, the key of scripts/cluster.sh's jwt.key).

// Reads an HS256 key file: raw 32..64 bytes, or 64..128 hex digits (and an optional newline).
// Returns the key size or TC_ENOENT / TC_EIO / TC_EINVAL.
int tc_sdk_jwt_key_read(const char *path, uint8_t *key, uint32_t key_size_max);
// Mints {"sub":user,"rooms":"*","exp":now+ttl_s,"iat":now} into out (NUL-terminated). Returns the
// token size or TC_ENOSPC.
int32_t tc_sdk_token_mint(const uint8_t *key, uint32_t key_size, uint64_t user, uint32_t ttl_s,
                          char *out, uint32_t out_size);

// ------------------------------------------------------------------------------------------------
// Pure codecs (tc_sdk_codec.c), exposed for tests.

// Fills key with 16 random bytes from getrandom, never all zero. TC_OK or TC_EIO.
int tc_sdk_key_generate(uint8_t key[TC_SDK_KEY_SIZE]);
// 32 lowercase hex characters and a NUL.
void tc_sdk_key_format(const uint8_t key[TC_SDK_KEY_SIZE], char out[TC_SDK_KEY_HEX_SIZE + 1]);

struct tc_sdk_ws_frame {
    uint8_t opcode;
    bool fin;
    uint32_t header_size;
    uint32_t payload_size;
    const uint8_t *payload;
};

// Parses one server frame from data. Returns its total size when data holds all of it, 0 when
// more bytes are needed, TC_EINVAL for a protocol violation (reserved bits, a masked server
// frame, an unknown opcode, a fragmented or long control frame, a non-minimal length, the 64-bit
// length's top bit) or TC_ETOOBIG when the payload exceeds payload_max.
int32_t tc_sdk_ws_frame_parse(const uint8_t *data, uint32_t size, uint32_t payload_max,
                              struct tc_sdk_ws_frame *frame);

enum tc_sdk_ws_event_kind {
    TC_SDK_WS_NONE = 0, // a fragment was consumed; nothing complete
    TC_SDK_WS_TEXT,
    TC_SDK_WS_PING,
    TC_SDK_WS_PONG,
    TC_SDK_WS_CLOSE,
    TC_SDK_WS_ERROR,    // close the connection with close_code
};

struct tc_sdk_ws_event {
    enum tc_sdk_ws_event_kind kind;
    const uint8_t *payload; // TEXT: the message; PING/PONG: the payload; CLOSE: the reason
    uint32_t payload_size;
    uint16_t close_code;    // CLOSE: the server's (1005 without one); ERROR: the code to send
};

void tc_sdk_ws_reader_init(struct tc_sdk_ws_reader *reader, uint8_t *message,
                           uint32_t message_size_max);
// Consumes at most one frame. Returns bytes consumed (> 0; 0 when data holds no whole frame)
// and sets *event (NONE when nothing completed). After an ERROR event the caller closes.
uint32_t tc_sdk_ws_read(struct tc_sdk_ws_reader *reader, const uint8_t *data, uint32_t size,
                        struct tc_sdk_ws_event *event);

struct tc_sdk_http_response {
    uint16_t status;
    uint32_t content_length;
    uint32_t retry_after_s;
    bool upgrade_websocket;  // Upgrade: websocket
    bool connection_upgrade; // Connection: ... upgrade ...
    char accept[32];         // Sec-WebSocket-Accept ("" when absent)
};

// Parses a response head. Returns its size (through the blank line) when complete, 0 when more
// bytes are needed, TC_EINVAL when malformed, TC_ETOOBIG past TC_SDK_HTTP_HEAD_SIZE_MAX.
int32_t tc_sdk_http_response_parse(const uint8_t *data, uint32_t size,
                                   struct tc_sdk_http_response *response);

// Writes the upgrade request. Returns its size or TC_ENOSPC.
int32_t tc_sdk_http_request_write(char *out, uint32_t out_size, const struct tc_sdk_node *node,
                                  const char *key_base64, const char *token, uint32_t token_size);

enum tc_sdk_server_type {
    TC_SDK_SERVER_UNKNOWN = 0, // a type this SDK does not know: ignored
    TC_SDK_SERVER_RESULT,
    TC_SDK_SERVER_ERROR,
    TC_SDK_SERVER_MESSAGE,
    TC_SDK_SERVER_TRUNCATED,
    TC_SDK_SERVER_CATCH_UP,
    TC_SDK_SERVER_TYPING,
    TC_SDK_SERVER_READ_MARKER,
    TC_SDK_SERVER_UNSUBSCRIBED,
    TC_SDK_SERVER_REDACTED,
};

// A parsed server message; pointers into the scratch, valid until the scratch is reused.
struct tc_sdk_server_message {
    enum tc_sdk_server_type type;
    const char *id; // result, error: NULL when absent
    uint32_t id_size;
    uint32_t code;  // error
    uint32_t retry_after_ms;
    struct tc_sdk_result result; // result: the members present (error is 0)
    struct tc_sdk_message message; // message
    const cJSON *messages;         // history result: the array (NULL when absent)
    uint64_t room, seq, user;      // events: seq = truncated_at / from_seq / marker / redacted
    char reason[32];               // unsubscribed, error name
};

// Parses one server text message. TC_OK, TC_EINVAL (not JSON, not an object, no type, or a known
// type whose required members are missing or malformed), TC_ENOMEM (scratch too small).
int tc_sdk_server_parse(struct tc_edge_json_scratch *scratch, const char *text, uint32_t size,
                        struct tc_sdk_server_message *out);
// Parses a message object (an event, or an item of a history result). TC_OK or TC_EINVAL.
int tc_sdk_message_parse(const cJSON *object, struct tc_sdk_message *message);
// BLAKE2b-256(prev_hash ‖ room ‖ seq ‖ sender ‖ timestamp_ns ‖ body_hash) (docs/room.md §4).
void tc_sdk_message_chain_hash(const struct tc_sdk_message *message,
                               uint8_t out[TC_SDK_HASH_SIZE]);
// True when the message's hash (and body_hash, when the body is present) recompute.
bool tc_sdk_message_verify(const struct tc_sdk_message *message);
// Encodes a request as JSON with `id`. Returns the size or TC_ENOSPC.
int32_t tc_sdk_request_encode(char *out, uint32_t out_size, const char *id,
                              const struct tc_sdk_request *request);

#endif
