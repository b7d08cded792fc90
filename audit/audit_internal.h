#ifndef TC_AUDIT_INTERNAL_H
#define TC_AUDIT_INTERNAL_H

// Internals of tc_audit shared between its files (and its unit tests). Not a public API.

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tc_audit.h"

struct cJSON;

// The longest entry the encoder can produce: args and result at their limits plus every fixed
// field (keys, hex keys and signatures, times, seq) with room to spare.
#define AUDIT_ENTRY_SIZE_MAX (TC_AUDIT_ARGS_SIZE_MAX + TC_AUDIT_RESULT_SIZE_MAX + 1024u)
#define AUDIT_CHECKPOINT_SIZE_MAX 512u
#define AUDIT_DOMAIN_SIZE_MAX 32u
_Static_assert(AUDIT_ENTRY_SIZE_MAX <= TC_AUDIT_LINE_SIZE_MAX, "an entry always fits a line");

// Domain separation: every signed byte string starts with one of these (and a newline, which
// canonical JSON never contains), so no signature can be reused for another kind of record.
extern const char audit_domain_request[];
extern const char audit_domain_entry[];
extern const char audit_domain_checkpoint[];

// Calls sodium_init() once (asserted to succeed).
void audit_sodium_ready(void);

// ------------------------------------------------------------------------------------------------
// Bounded output buffer: writes beyond capacity are dropped and set `overflow`.

struct audit_buf {
    char *data;
    uint32_t capacity;
    uint32_t size;
    bool overflow;
};

void audit_buf_init(struct audit_buf *buf, char *data, uint32_t capacity);
void audit_buf_put(struct audit_buf *buf, const void *data, uint32_t size);
void audit_buf_put_cstr(struct audit_buf *buf, const char *text);
void audit_buf_put_char(struct audit_buf *buf, char c);
void audit_buf_put_u64(struct audit_buf *buf, uint64_t value);
// A JSON string of lowercase hex: "0a1b...".
void audit_buf_put_hex_string(struct audit_buf *buf, const uint8_t *data, uint32_t size);
// A JSON string of an RFC 3339 time: "2025-01-02T03:04:05.678Z".
void audit_buf_put_time_string(struct audit_buf *buf, uint64_t time_ms);
// A JSON string; text must be valid UTF-8 (asserted by callers that validated it).
void audit_buf_put_json_string(struct audit_buf *buf, const char *text, uint32_t size);
// Writes a NUL after the content (not counted in size); false if there is no room.
bool audit_buf_terminate(struct audit_buf *buf);

// ------------------------------------------------------------------------------------------------
// Canonical JSON (docs/audit.md "Canonical bytes").

bool audit_utf8_valid(const char *text, uint32_t size);

// Appends the canonical encoding of item (at nesting level depth, the top value being 1).
// TC_EINVAL (not canonicalisable: float, integer beyond 2^53-1, duplicate key, invalid UTF-8)
// or TC_ETOOBIG (too deep, too many members); *detail names the problem. Buffer overflow is left
// to the caller (buf->overflow).
int audit_json_canonical(struct audit_buf *buf, const struct cJSON *item, uint32_t depth,
                         const char **detail);

enum audit_json_kind {
    AUDIT_JSON_OBJECT,           // args
    AUDIT_JSON_OBJECT_OR_STRING, // result
};

// Parses JSON text (NUL-terminated, nothing but whitespace after the value) and writes its
// canonical encoding and a NUL into out. TC_EINVAL/TC_ETOOBIG with *detail.
int audit_json_canonical_text(const char *text, enum audit_json_kind kind, char *out,
                              uint32_t capacity, uint32_t *size, const char **detail);

// ------------------------------------------------------------------------------------------------
// Text fields.

// Decodes exactly 2 * size lowercase hex characters.
bool audit_hex_decode(uint8_t *out, uint32_t size, const char *hex, size_t hex_size);
// Formats "YYYY-MM-DDTHH:MM:SS.mmmZ" and a NUL into out (TC_AUDIT_TIME_TEXT_SIZE + 1 bytes).
void audit_time_format(uint64_t time_ms, char *out);
// Parses exactly the format above (UTC, milliseconds, years 1970-9999, real calendar dates).
bool audit_time_parse(const char *text, size_t size, uint64_t *time_ms);
// [a-z][a-z0-9._-]{0,63}
bool audit_action_valid(const char *action, size_t size);
// Copies text into out (size bytes incl. NUL) replacing bytes outside 0x20-0x7e by '?': anything
// taken from an untrusted file and put in a message goes through this (no terminal escapes).
void audit_sanitize(char *out, size_t size, const char *text);

// ------------------------------------------------------------------------------------------------
// Parsing lines (used by the verifier and by the writer's check of its own output).

struct audit_problem {
    enum tc_audit_reason reason;
    char detail[192];
};

void audit_problem_set(struct audit_problem *problem, enum tc_audit_reason reason,
                       const char *format, ...) __attribute__((format(printf, 3, 4)));

// Parses one log line (no newline) into entry and checks it is byte-identical to its canonical
// encoding (scratch: TC_AUDIT_LINE_SIZE_MAX + 1 bytes). Checks formats only: no signature, no
// chain. False with *problem set on failure.
bool audit_entry_parse(const char *line, uint32_t size, struct tc_audit_entry *entry, char *scratch,
                       struct audit_problem *problem);

// The same for a checkpoint line.
bool audit_checkpoint_parse(const char *line, uint32_t size, struct tc_audit_checkpoint *checkpoint,
                            char *scratch, struct audit_problem *problem);

bool audit_entry_signature_valid(const struct tc_audit_entry *entry);
bool audit_checkpoint_signature_valid(const struct tc_audit_checkpoint *checkpoint);

// ------------------------------------------------------------------------------------------------
// Replay window: the (actor, nonce) of every entry within 2 * TC_AUDIT_REQUEST_SKEW_MS_MAX of the
// newest, in a FIFO ring indexed by an open-addressing hash table. Fixed capacity.

#define AUDIT_WINDOW_SLOTS (2u * TC_AUDIT_WINDOW_ENTRIES_MAX)

struct audit_window_item {
    uint8_t key[16];
    uint64_t time_ms;
    uint64_t seq;
    uint64_t line;
};

struct audit_window {
    struct audit_window_item items[TC_AUDIT_WINDOW_ENTRIES_MAX];
    uint32_t slots[AUDIT_WINDOW_SLOTS]; // item index + 1; 0 is empty
    uint32_t oldest;                    // ring index of the oldest item
    uint32_t count;
};

void audit_window_reset(struct audit_window *window);
// key = BLAKE2b-128(actor || nonce).
void audit_window_key(uint8_t key[16], const struct tc_audit_public_key *actor,
                      const uint8_t nonce[TC_AUDIT_NONCE_SIZE]);
// Drops items older than time_ms - 2 * TC_AUDIT_REQUEST_SKEW_MS_MAX.
void audit_window_advance(struct audit_window *window, uint64_t time_ms);
const struct audit_window_item *audit_window_find(const struct audit_window *window,
                                                  const uint8_t key[16]);
bool audit_window_full(const struct audit_window *window);
// The key must not be present and the window must not be full (asserted).
void audit_window_push(struct audit_window *window, const uint8_t key[16], uint64_t time_ms,
                       uint64_t seq, uint64_t line);

// ------------------------------------------------------------------------------------------------
// Bounded line reader over a file descriptor (pread from offset 0; the fd's offset is unused).

#define AUDIT_READER_CAPACITY (2u * (TC_AUDIT_LINE_SIZE_MAX + 1u))

enum audit_read {
    AUDIT_READ_LINE,       // *line/*size hold one line without its newline
    AUDIT_READ_END,        // end of file after a complete line (or an empty file)
    AUDIT_READ_TOO_LONG,   // the current line exceeds TC_AUDIT_LINE_SIZE_MAX
    AUDIT_READ_INCOMPLETE, // the file ends inside a line (no newline)
    AUDIT_READ_ERROR,      // read(2) failed
};

struct audit_reader {
    int fd;
    char *buffer; // AUDIT_READER_CAPACITY bytes, owned by the caller
    uint32_t start;
    uint32_t end;
    uint64_t file_offset; // of buffer[end]
    uint64_t line;        // number of the line last returned or failed on (1-based)
    bool eof;
};

void audit_reader_init(struct audit_reader *reader, int fd, char *buffer);
enum audit_read audit_reader_next(struct audit_reader *reader, const char **line, uint32_t *size);

// ------------------------------------------------------------------------------------------------
// The verifier, shared by tc_audit_verify and tc_audit_writer_open.

struct audit_verifier {
    // Inputs.
    int log_fd;
    int checkpoint_fd; // -1: no checkpoint file
    const struct tc_audit_keyring *keys;
    bool allow_empty; // the writer accepts an empty log and checkpoint file
    struct tc_audit_report *report;
    struct audit_window *window;
    // State.
    struct audit_reader log;
    struct audit_reader checkpoints;
    bool checkpoint_pending; // checkpoint_next is read, verified and not yet matched
    struct tc_audit_checkpoint checkpoint_next;
    uint64_t checkpoint_next_line;
    uint64_t checkpoint_seq_read; // the last checkpoint read (order checks; the writer resumes)
    uint64_t checkpoint_time_ms_read;
    uint64_t time_ms_last;
    struct tc_audit_entry entry;
    char scratch[TC_AUDIT_LINE_SIZE_MAX + 1];
    char log_buffer[AUDIT_READER_CAPACITY];
    char checkpoint_buffer[AUDIT_READER_CAPACITY];
};

// Runs the verification described at tc_audit_verify over the fds set in the verifier (the other
// inputs set too, state zeroed). 0 on PASS, TC_ECORRUPT on a failure, TC_EIO on a read error.
int audit_verify_run(struct audit_verifier *verifier);

// ------------------------------------------------------------------------------------------------
// Files.

int audit_errno_to_tc(int error_number);
// write(2) until done; 0 or TC_E*.
int audit_write_all(int fd, const void *data, size_t size);
// pread(2) until size bytes or end of file; the count read, or a negative TC_E*.
int64_t audit_pread_full(int fd, void *data, size_t size, uint64_t offset);
// fsyncs the directory holding path.
int audit_fsync_parent_dir(const char *path);

#endif
