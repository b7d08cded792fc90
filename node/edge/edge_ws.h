#ifndef TC_EDGE_WS_H
#define TC_EDGE_WS_H

#include <stdbool.h>
#include <stdint.h>

#include "edge_utf8.h"

// RFC 6455 framing for the edge (docs/protocol.md §3, §10). The reader decodes client frames
// incrementally from any split of the byte stream, assembles fragmented messages into a
// caller-provided buffer, lets control frames interleave, validates UTF-8 of text messages as the
// bytes arrive, validates close frames, and maps every violation to the RFC's close code. The
// writer encodes server frames (unmasked) and, for tests and load generators, masked client
// frames. No allocation, no I/O: the connection owns the reader and its message buffer.

#define TC_EDGE_WS_CONTROL_SIZE_MAX 125u
#define TC_EDGE_WS_CLOSE_REASON_SIZE_MAX 123u
#define TC_EDGE_WS_HEADER_SIZE_MAX 14u // 2 + 8 (64-bit length) + 4 (mask)
#define TC_EDGE_WS_MESSAGE_SIZE_DEFAULT 32768u // docs/protocol.md §9
#define TC_EDGE_WS_MESSAGE_SIZE_LIMIT (1u << 24) // the largest limit a reader may be given

enum tc_edge_ws_opcode {
    TC_EDGE_WS_OP_CONTINUATION = 0x0,
    TC_EDGE_WS_OP_TEXT = 0x1,
    TC_EDGE_WS_OP_BINARY = 0x2,
    TC_EDGE_WS_OP_CLOSE = 0x8,
    TC_EDGE_WS_OP_PING = 0x9,
    TC_EDGE_WS_OP_PONG = 0xa,
};

// Close codes the edge uses (docs/protocol.md §10).
enum tc_edge_ws_close_code {
    TC_EDGE_WS_CLOSE_NORMAL = 1000,
    TC_EDGE_WS_CLOSE_GOING_AWAY = 1001,
    TC_EDGE_WS_CLOSE_PROTOCOL_ERROR = 1002,
    TC_EDGE_WS_CLOSE_UNSUPPORTED_DATA = 1003,
    TC_EDGE_WS_CLOSE_NO_STATUS = 1005, // never sent: reported when a close frame has no code
    TC_EDGE_WS_CLOSE_INVALID_PAYLOAD = 1007,
    TC_EDGE_WS_CLOSE_POLICY_VIOLATION = 1008,
    TC_EDGE_WS_CLOSE_MESSAGE_TOO_BIG = 1009,
    TC_EDGE_WS_CLOSE_INTERNAL_ERROR = 1011,
    TC_EDGE_WS_CLOSE_TOKEN_EXPIRED = 4001,
    TC_EDGE_WS_CLOSE_SLOW_CONSUMER = 4002,
    TC_EDGE_WS_CLOSE_RATE_LIMITED = 4003,
    TC_EDGE_WS_CLOSE_IDLE = 4004,
};

// Reader errors and the close code each one calls for.
#define TC_EDGE_WS_ERROR_TABLE(X)                                                                  \
    X(TC_EDGE_WS_OK, 1000, "ok")                                                                   \
    X(TC_EDGE_WS_RESERVED_BITS, 1002, "reserved_bits_set")                                         \
    X(TC_EDGE_WS_UNKNOWN_OPCODE, 1002, "unknown_opcode")                                           \
    X(TC_EDGE_WS_UNMASKED, 1002, "client_frame_not_masked")                                        \
    X(TC_EDGE_WS_CONTROL_FRAGMENTED, 1002, "control_frame_fragmented")                             \
    X(TC_EDGE_WS_CONTROL_TOO_LONG, 1002, "control_frame_too_long")                                 \
    X(TC_EDGE_WS_LENGTH_NOT_MINIMAL, 1002, "length_not_minimal")                                   \
    X(TC_EDGE_WS_LENGTH_TOP_BIT, 1002, "length_top_bit_set")                                       \
    X(TC_EDGE_WS_UNEXPECTED_CONTINUATION, 1002, "continuation_without_message")                    \
    X(TC_EDGE_WS_EXPECTED_CONTINUATION, 1002, "new_message_inside_message")                        \
    X(TC_EDGE_WS_FRAME_TOO_LARGE, 1009, "frame_too_large")                                         \
    X(TC_EDGE_WS_MESSAGE_TOO_LARGE, 1009, "message_too_large")                                     \
    X(TC_EDGE_WS_INVALID_UTF8, 1007, "invalid_utf8")                                               \
    X(TC_EDGE_WS_CLOSE_PAYLOAD_SIZE, 1002, "close_payload_one_byte")                               \
    X(TC_EDGE_WS_CLOSE_CODE_INVALID, 1002, "close_code_invalid")                                   \
    X(TC_EDGE_WS_CLOSE_REASON_UTF8, 1007, "close_reason_invalid_utf8")                             \
    X(TC_EDGE_WS_DATA_AFTER_CLOSE, 1002, "data_after_close")

enum tc_edge_ws_error {
#define TC_EDGE_WS_ERROR_ENUM(name, close, text) name,
    TC_EDGE_WS_ERROR_TABLE(TC_EDGE_WS_ERROR_ENUM)
#undef TC_EDGE_WS_ERROR_ENUM
        TC_EDGE_WS_ERROR_COUNT
};

// The stable name of an error ("client_frame_not_masked"), for logs and close reasons.
const char *tc_edge_ws_error_name(enum tc_edge_ws_error error);
// The close code for an error (1002, 1007 or 1009).
uint16_t tc_edge_ws_error_close_code(enum tc_edge_ws_error error);
// True for codes a peer may put in a close frame: 1000-1003, 1007-1014, 3000-4999.
bool tc_edge_ws_close_code_valid(uint32_t code);

enum tc_edge_ws_event_kind {
    TC_EDGE_WS_EVENT_NONE = 0, // every byte given was consumed, nothing complete yet
    TC_EDGE_WS_EVENT_TEXT,     // a complete, UTF-8-valid text message
    TC_EDGE_WS_EVENT_BINARY,   // a complete binary message
    TC_EDGE_WS_EVENT_PING,     // answer with a pong carrying the same payload
    TC_EDGE_WS_EVENT_PONG,
    TC_EDGE_WS_EVENT_CLOSE,    // the peer's close: answer with a close, then end the connection
    TC_EDGE_WS_EVENT_ERROR,    // a violation: send a close with `close_code`, then end
};

struct tc_edge_ws_event {
    enum tc_edge_ws_event_kind kind;
    // Message or control payload (the reason for CLOSE). Valid until the next feed call.
    const uint8_t *payload;
    uint32_t payload_size;
    uint16_t close_code; // CLOSE: the peer's code, 1005 if none; ERROR: the code to close with
    enum tc_edge_ws_error error;
};

struct tc_edge_ws_limits {
    uint32_t frame_size_max;   // payload bytes of one data frame: 125..message_size_max
    uint32_t message_size_max; // bytes of one assembled message: 125..MESSAGE_SIZE_LIMIT
};

enum tc_edge_ws_reader_state {
    TC_EDGE_WS_READ_HEADER = 0,
    TC_EDGE_WS_READ_PAYLOAD,
    TC_EDGE_WS_READ_CLOSED, // a close frame was delivered
    TC_EDGE_WS_READ_FAILED, // an error was delivered (sticky)
};

struct tc_edge_ws_reader {
    struct tc_edge_ws_limits limits;
    uint8_t *message;        // caller buffer of limits.message_size_max bytes
    enum tc_edge_ws_reader_state state;
    enum tc_edge_ws_error error;
    // The frame being read.
    uint8_t header[TC_EDGE_WS_HEADER_SIZE_MAX];
    uint32_t header_used;
    uint32_t header_need;
    uint8_t opcode;
    bool fin;
    uint8_t mask[4];
    uint32_t payload_size; // bounded by the limits before it is accepted
    uint32_t payload_done;
    uint8_t control[TC_EDGE_WS_CONTROL_SIZE_MAX];
    // The data message being assembled from its fragments.
    bool message_open;
    uint8_t message_opcode;
    uint32_t message_size;
    struct tc_edge_utf8 utf8;
};

// Prepares a reader; `message` (limits->message_size_max bytes) must outlive it.
void tc_edge_ws_reader_init(struct tc_edge_ws_reader *reader,
                            const struct tc_edge_ws_limits *limits, uint8_t *message);

// Consumes bytes from the peer until one event completes or the input runs out. *consumed says
// how many bytes were used; the caller feeds the rest again after handling the event. Returns the
// event's kind (also in event->kind). After ERROR every call returns the same error; after CLOSE
// any further byte is DATA_AFTER_CLOSE.
enum tc_edge_ws_event_kind tc_edge_ws_reader_feed(struct tc_edge_ws_reader *reader,
                                                  const uint8_t *data, uint32_t size,
                                                  uint32_t *consumed,
                                                  struct tc_edge_ws_event *event);

// ------------------------------------------------------------------------------------------------
// Writer.

// Writes a frame header (unmasked when mask is NULL) and returns its size (2..14 bytes).
uint32_t tc_edge_ws_header_write(uint8_t out[TC_EDGE_WS_HEADER_SIZE_MAX],
                                 enum tc_edge_ws_opcode opcode, bool fin, uint64_t payload_size,
                                 const uint8_t mask[4]);

// A complete server frame (unmasked). Control frames must be final and <= 125 bytes (asserted).
// Returns the bytes written or TC_ENOSPC.
int32_t tc_edge_ws_frame_write(uint8_t *out, uint32_t out_size, enum tc_edge_ws_opcode opcode,
                               bool fin, const uint8_t *payload, uint32_t payload_size);

// A complete client frame, masked with `mask` (for tests and load generators).
int32_t tc_edge_ws_frame_write_masked(uint8_t *out, uint32_t out_size,
                                      enum tc_edge_ws_opcode opcode, bool fin,
                                      const uint8_t mask[4], const uint8_t *payload,
                                      uint32_t payload_size);

// A server close frame with `code` (a valid close code, not 1005/1006/1015) and a UTF-8 reason
// of at most 123 bytes (both asserted: the server makes them). Returns bytes or TC_ENOSPC.
int32_t tc_edge_ws_close_write(uint8_t *out, uint32_t out_size, uint16_t code, const char *reason,
                               uint32_t reason_size);

#endif
