#ifndef TC_AUDIT_H
#define TC_AUDIT_H

// The operator audit chain (docs/audit.md): an append-only JSON Lines file in which every entry
// records one signed operator request and what the controller did with it, chained by BLAKE2b-256
// hashes and signed twice (Ed25519): by the operator over the request, and by the controller over
// the whole entry. Signed checkpoints in a second file make truncation of the tail detectable.
//
// Pieces, from pure to stateful:
//   keys        Ed25519 key pairs, key files (secret 0600, public beside it), hex helpers
//   request     what an operator signs: action, args, request time, nonce (pure)
//   entry       one line of the log: canonical encoding and controller signature (pure)
//   writer      appends entries and checkpoints with fdatasync; refuses to continue a bad file
//   verifier    checks a log (and optionally its checkpoints) offline and names the first bad line
//
// Canonical JSON (the signed bytes): objects with keys sorted bytewise (UTF-8), no whitespace,
// strings as UTF-8 escaping only '"', '\\' and control characters, integers only (|n| < 2^53),
// nesting at most TC_AUDIT_JSON_DEPTH_MAX. A line must be byte-identical to the canonical
// re-encoding of what it parses to, so the verifier re-derives the exact signed bytes.
//
// All functions return 0 or a negative TC_E* code (tc_err.h) unless stated otherwise; programmer
// errors (NULL where a value is required, impossible states) are asserted.

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tc_checksum.h"

// Limits. A line is at most TC_AUDIT_LINE_SIZE_MAX bytes, its newline excluded.
#define TC_AUDIT_LINE_SIZE_MAX (64u * 1024u)
#define TC_AUDIT_ACTION_SIZE_MAX 64u            // [a-z][a-z0-9._-]*
#define TC_AUDIT_ARGS_SIZE_MAX (16u * 1024u)    // canonical bytes of the args object
#define TC_AUDIT_RESULT_SIZE_MAX (16u * 1024u)  // canonical bytes of the result value
#define TC_AUDIT_JSON_DEPTH_MAX 8u              // args/result nesting (the value itself is 1)
#define TC_AUDIT_JSON_MEMBERS_MAX 128u          // members of one object in args/result
#define TC_AUDIT_NONCE_SIZE 16u
#define TC_AUDIT_SEQ_MAX ((UINT64_C(1) << 53) - 1)
#define TC_AUDIT_TIME_MS_MAX UINT64_C(253402300799999) // 9999-12-31T23:59:59.999Z
// A request's time must lie within this distance of the entry's (controller) time.
#define TC_AUDIT_REQUEST_SKEW_MS_MAX (5u * 60u * 1000u)
// Replays are detected among entries at most 2 * skew apart; at most this many entries may fall
// within any such span (the writer refuses more with TC_EBUSY, the verifier reports window_full).
#define TC_AUDIT_WINDOW_ENTRIES_MAX 16384u

#define TC_AUDIT_KEY_HEX_SIZE 64u        // lowercase hex of a public key, without the NUL
#define TC_AUDIT_TIME_TEXT_SIZE 24u      // "YYYY-MM-DDTHH:MM:SS.mmmZ", without the NUL
#define TC_AUDIT_MESSAGE_SIZE 256u

// ------------------------------------------------------------------------------------------------
// Keys.

struct tc_audit_public_key {
    uint8_t bytes[32];
};

// libsodium's layout: the 32-byte seed followed by the public key.
struct tc_audit_secret_key {
    uint8_t bytes[64];
};

struct tc_audit_signature {
    uint8_t bytes[64];
};

// Derives a key pair from a 32-byte seed (deterministic: tests, or a seed from a key file).
void tc_audit_keypair_from_seed(const uint8_t seed[32], struct tc_audit_secret_key *secret,
                                struct tc_audit_public_key *public_key);

// Copies the public half of a secret key.
void tc_audit_key_public(const struct tc_audit_secret_key *secret,
                         struct tc_audit_public_key *public_key);

// True when the key is a valid Ed25519 point of the main subgroup (not small-order).
bool tc_audit_key_valid(const struct tc_audit_public_key *key);

// Writes the lowercase hex of a public key and a NUL into out (TC_AUDIT_KEY_HEX_SIZE + 1 bytes).
void tc_audit_key_hex(const struct tc_audit_public_key *key, char *out);

// Parses exactly 64 lowercase hex characters; TC_EINVAL otherwise.
int tc_audit_key_from_hex(struct tc_audit_public_key *key, const char *hex);

// Overwrites a secret key with zeros (sodium_memzero: not optimised away).
void tc_audit_secret_key_wipe(struct tc_audit_secret_key *secret);

// Generates a fresh key pair and writes `secret_path` (mode 0600, created exclusively) and
// `secret_path`.pub (mode 0644), each fsync'd with its directory. Refuses to overwrite either file
// (TC_EEXIST, nothing written). public_key may be NULL. TC_ETOOBIG if the path is too long, TC_EIO
// on a write error (files created by this call are removed again).
int tc_audit_keygen(const char *secret_path, struct tc_audit_public_key *public_key);

// Loads a secret key file written by tc_audit_keygen. TC_EPERM if the file is readable or writable
// by group or others (like ssh), TC_EINVAL if it is not a secret key file, TC_ENOENT/TC_EIO when
// it cannot be read.
int tc_audit_key_load_secret(const char *path, struct tc_audit_secret_key *secret);

// Loads a public key file ("FILE.pub"). TC_EINVAL if it is not a public key file or the key is
// not a valid Ed25519 point, TC_ENOENT/TC_EIO when it cannot be read.
int tc_audit_key_load_public(const char *path, struct tc_audit_public_key *public_key);

// ------------------------------------------------------------------------------------------------
// Requests: what an operator signs. The signed bytes are
//   "tigerchat-audit-request-v1\n" || canonical {"action","actor","args","nonce","request_time"}
// so the controller can neither change the action, its arguments, the time nor the actor, nor
// make one signature count twice (the nonce, checked within the replay window).

struct tc_audit_request {
    struct tc_audit_public_key actor;
    uint64_t time_ms;                       // operator's clock, ms since the Unix epoch
    uint8_t nonce[TC_AUDIT_NONCE_SIZE];     // random, chosen by the operator
    char action[TC_AUDIT_ACTION_SIZE_MAX + 1];
    char args[TC_AUDIT_ARGS_SIZE_MAX + 1];  // canonical JSON object, NUL-terminated
    uint32_t args_size;
    struct tc_audit_signature signature;    // the actor's signature ("actor_sig")
};

// Fills 16 random bytes (libsodium's CSPRNG).
void tc_audit_nonce_random(uint8_t nonce[TC_AUDIT_NONCE_SIZE]);

// Initialises an unsigned request: validates the action name, parses args_json (any JSON object
// text; it is stored canonically) and the time. TC_EINVAL with `detail` (may be NULL) naming the
// problem, TC_ETOOBIG if canonical args exceed TC_AUDIT_ARGS_SIZE_MAX.
int tc_audit_request_init(struct tc_audit_request *request, const struct tc_audit_public_key *actor,
                          const char *action, const char *args_json, uint64_t time_ms,
                          const uint8_t nonce[TC_AUDIT_NONCE_SIZE], const char **detail);

// Signs an initialised request; the secret key must belong to request->actor (asserted).
void tc_audit_request_sign(struct tc_audit_request *request,
                           const struct tc_audit_secret_key *secret);

// 0 if request->signature is the actor's valid signature over the request, TC_EPERM otherwise.
int tc_audit_request_verify(const struct tc_audit_request *request);

// Writes the exact bytes the operator signs into out (no NUL). TC_ETOOBIG if capacity is short.
int tc_audit_request_signed_bytes(const struct tc_audit_request *request, char *out,
                                  uint32_t capacity, uint32_t *size);

// ------------------------------------------------------------------------------------------------
// Entries: one line of the log. Keys, sorted: action, actor, actor_sig, args, controller,
// controller_sig, nonce, prev, request_time, result, seq, time. The controller signs
//   "tigerchat-audit-entry-v1\n" || canonical entry without "controller_sig"
// and `prev` is BLAKE2b-256 of the previous line's bytes (newline excluded); zeros for seq 1.

struct tc_audit_entry {
    uint64_t seq;
    uint64_t time_ms; // controller's clock when the entry was appended
    struct tc_audit_public_key controller;
    struct tc_audit_request request;
    char result[TC_AUDIT_RESULT_SIZE_MAX + 1]; // canonical JSON string or object
    uint32_t result_size;
    struct tc_hash256 prev;
    struct tc_audit_signature controller_sig;
};

// Initialises an unsigned entry from a request and a result (JSON text of a string or an object,
// e.g. "\"ok\"" or {"status":"refused","reason":"..."}). Pure: checks formats and limits only,
// not the chain (that is the writer's job). TC_EINVAL/TC_ETOOBIG with `detail` (may be NULL).
int tc_audit_entry_init(struct tc_audit_entry *entry, const struct tc_audit_request *request,
                        const char *result_json, uint64_t seq, uint64_t time_ms,
                        const struct tc_hash256 *prev, const char **detail);

// Sets entry->controller to the key's public half and signs the entry with it.
void tc_audit_entry_sign(struct tc_audit_entry *entry,
                         const struct tc_audit_secret_key *controller);

// Encodes the entry's canonical line (no newline, NUL-terminated) into line; *size excludes the
// NUL. TC_ETOOBIG if it does not fit capacity or exceeds TC_AUDIT_LINE_SIZE_MAX.
int tc_audit_entry_encode(const struct tc_audit_entry *entry, char *line, uint32_t capacity,
                          uint32_t *size);

// ------------------------------------------------------------------------------------------------
// Checkpoints: one line of the checkpoint file. Keys: controller, controller_sig, head, seq, time.
// `head` is the hash of the log's line at `seq`. The controller signs
//   "tigerchat-audit-checkpoint-v1\n" || canonical checkpoint without "controller_sig".

struct tc_audit_checkpoint {
    uint64_t seq;
    uint64_t time_ms;
    struct tc_hash256 head;
    struct tc_audit_public_key controller;
    struct tc_audit_signature controller_sig;
};

// Sets checkpoint->controller and signs it.
void tc_audit_checkpoint_sign(struct tc_audit_checkpoint *checkpoint,
                              const struct tc_audit_secret_key *controller);

// Encodes the canonical checkpoint line (no newline, NUL-terminated); TC_ETOOBIG if too small.
int tc_audit_checkpoint_encode(const struct tc_audit_checkpoint *checkpoint, char *line,
                               uint32_t capacity, uint32_t *size);

// ------------------------------------------------------------------------------------------------
// Verification.

// X(name, id, description): id is the stable code printed by `tigerctl verify-audit --json`.
#define TC_AUDIT_REASON_TABLE(X)                                                                   \
    X(TC_AUDIT_PASS, "pass", "verified")                                                           \
    X(TC_AUDIT_IO, "io", "the file could not be read")                                             \
    X(TC_AUDIT_EMPTY, "empty", "the file has no entries")                                          \
    X(TC_AUDIT_LINE_TOO_LONG, "line_too_long", "a line exceeds TC_AUDIT_LINE_SIZE_MAX")            \
    X(TC_AUDIT_INCOMPLETE_LINE, "incomplete_line", "the last line has no newline (torn write)")    \
    X(TC_AUDIT_NOT_JSON, "not_json", "a line is not valid JSON")                                   \
    X(TC_AUDIT_BAD_FIELD, "bad_field", "a field is missing, unexpected or malformed")              \
    X(TC_AUDIT_NOT_CANONICAL, "not_canonical", "a line differs from its canonical encoding")       \
    X(TC_AUDIT_BAD_KEY, "bad_key", "a key is not a valid Ed25519 public key")                      \
    X(TC_AUDIT_SEQ_GAP, "seq", "seq is not the previous seq plus one")                             \
    X(TC_AUDIT_UNANCHORED, "unanchored", "the file starts after seq 1 without an anchor")          \
    X(TC_AUDIT_PREV_MISMATCH, "prev", "prev is not the hash of the previous line")                 \
    X(TC_AUDIT_TIME_BACKWARDS, "time", "time goes backwards")                                      \
    X(TC_AUDIT_CONTROLLER_UNTRUSTED, "controller_untrusted", "controller key not trusted")         \
    X(TC_AUDIT_CONTROLLER_SIG, "controller_sig", "controller signature invalid")                   \
    X(TC_AUDIT_ACTOR_UNTRUSTED, "actor_untrusted", "actor key not trusted")                        \
    X(TC_AUDIT_ACTOR_SIG, "actor_sig", "actor signature invalid")                                  \
    X(TC_AUDIT_REQUEST_TIME, "request_time", "request time too far from the entry time")           \
    X(TC_AUDIT_REPLAY, "replay", "a signed request appears twice")                                 \
    X(TC_AUDIT_WINDOW_FULL, "window_full", "too many entries within the replay window")            \
    X(TC_AUDIT_CHECKPOINT_ORDER, "checkpoint_order", "checkpoints out of order")                   \
    X(TC_AUDIT_CHECKPOINT_HEAD, "checkpoint_head", "the log's hash at a checkpoint differs")       \
    X(TC_AUDIT_CHECKPOINT_TIME, "checkpoint_time", "a checkpoint is older than its entry")         \
    X(TC_AUDIT_TRUNCATED, "truncated", "the log ends before a checkpoint's seq")

enum tc_audit_reason {
#define TC_AUDIT_REASON_ENUM(name, id, text) name,
    TC_AUDIT_REASON_TABLE(TC_AUDIT_REASON_ENUM)
#undef TC_AUDIT_REASON_ENUM
};

// The stable lowercase id of a reason ("prev", "controller_sig", ...).
const char *tc_audit_reason_id(enum tc_audit_reason reason);
// A one-line description of a reason.
const char *tc_audit_reason_text(enum tc_audit_reason reason);

enum tc_audit_file {
    TC_AUDIT_FILE_LOG = 0,
    TC_AUDIT_FILE_CHECKPOINT = 1,
};

// Keys the verifier trusts. An empty list means "not pinned": signatures are still checked, but
// against whatever key a line names (integrity without authenticity); the report says so.
struct tc_audit_keyring {
    const struct tc_audit_public_key *actors;
    uint32_t actor_count;
    const struct tc_audit_public_key *controllers;
    uint32_t controller_count;
};

struct tc_audit_report {
    enum tc_audit_reason reason; // TC_AUDIT_PASS or the first failure
    enum tc_audit_file file;     // the file `line` refers to
    uint64_t line;               // 1-based line of the failure; 0 on PASS
    uint64_t entries;            // entries verified (before the failure, if any)
    uint64_t seq_first;          // verified range (0..0 when entries == 0)
    uint64_t seq_last;
    struct tc_hash256 head;      // hash of the last verified line (zeros if none)
    uint64_t checkpoints;        // checkpoints whose signature and head were verified
    uint64_t checkpoint_seq;     // seq of the last checkpoint matched against the log (0: none)
    bool actors_pinned;
    bool controllers_pinned;
    char message[TC_AUDIT_MESSAGE_SIZE]; // "line 17: prev hash does not match line 16"
};

// Verifies the log at log_path and, if checkpoint_path is not NULL, the checkpoint file: every
// line parses and is canonical; seq is gap-free from 1 (or from a checkpointed seq + 1, see
// docs/audit.md); prev links; time never decreases; controller and actor keys are valid, trusted
// (when pinned) and their signatures hold; request times lie within the skew; no signed request
// appears twice; every checkpoint is signed, in order, and names the log's hash at its seq; and the
// log reaches the last checkpoint (truncation). keys may be NULL (nothing pinned).
// Returns 0 on PASS, TC_ECORRUPT on a failure described by the report, or TC_ENOENT/TC_EIO/
// TC_ENOMEM when a file cannot be opened or memory is short (report->reason == TC_AUDIT_IO).
int tc_audit_verify(const char *log_path, const char *checkpoint_path,
                    const struct tc_audit_keyring *keys, struct tc_audit_report *report);

// ------------------------------------------------------------------------------------------------
// Primitives for other signed records (the controller's topology, node heartbeats): the same
// canonical JSON, times, hex and Ed25519 with a domain line, so no signature can be reused for
// another kind of record.

// Canonical encoding (§4 of docs/audit.md) of a JSON object text into out, NUL-terminated;
// TC_EINVAL/TC_ETOOBIG with *detail naming the problem. The text may be up to
// min(capacity - 1, TC_AUDIT_JSON_SIZE_MAX) bytes: a signed topology is larger than an audit line
// (those stay within TC_AUDIT_LINE_SIZE_MAX, checked when a line is encoded).
#define TC_AUDIT_JSON_SIZE_MAX (1024u * 1024u)
int tc_audit_json_canonical(const char *text, char *out, uint32_t capacity, uint32_t *size,
                            const char **detail);
// "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC) and a NUL; time_ms <= TC_AUDIT_TIME_MS_MAX (asserted).
void tc_audit_time_format(uint64_t time_ms, char out[TC_AUDIT_TIME_TEXT_SIZE + 1]);
// Exactly that format; false otherwise.
bool tc_audit_time_parse(const char *text, size_t size, uint64_t *time_ms);
// Signs / verifies domain || "\n" || bytes. The domain is a line without a newline, e.g.
// "tigerchat-topology-v1". Verify: 0, or TC_EPERM (bad signature or key), TC_ENOMEM.
int tc_audit_sign_domain(const char *domain, const char *bytes, uint32_t size,
                         const struct tc_audit_secret_key *secret,
                         struct tc_audit_signature *signature);
int tc_audit_verify_domain(const char *domain, const char *bytes, uint32_t size,
                           const struct tc_audit_public_key *key,
                           const struct tc_audit_signature *signature);
// 128 lowercase hex digits and a NUL / exactly 128 lowercase hex digits (TC_EINVAL otherwise).
void tc_audit_signature_hex(const struct tc_audit_signature *signature, char out[129]);
int tc_audit_signature_from_hex(struct tc_audit_signature *signature, const char *hex,
                                size_t hex_size);

// ------------------------------------------------------------------------------------------------
// Reading entries back.

// Called per entry; a non-zero return stops the scan and is returned by it.
typedef int (*tc_audit_scan_fn)(void *context, const struct tc_audit_entry *entry,
                                const char *line, uint32_t line_size);

// Calls fn for the entries with seq > after_seq, in order, at most `limit` of them (*count says
// how many). Each line must parse and be canonical and seqs must be consecutive (TC_ECORRUPT
// otherwise); a final line without a newline (a torn, never acknowledged append) ends the scan.
// Signatures and links are not checked here: tc_audit_verify (or the writer's open) does that.
// TC_ENOENT/TC_EIO when the file cannot be read, TC_ENOMEM.
int tc_audit_log_scan(const char *log_path, uint64_t after_seq, uint32_t limit,
                      tc_audit_scan_fn fn, void *context, uint32_t *count);

// ------------------------------------------------------------------------------------------------
// The writer: one per log (an exclusive flock is held), used by the controller.

struct tc_audit_writer;

// tc_audit_writer_open flags. REPAIR_TORN_TAIL: if a file ends in a partial line (a crash during
// an append that was never acknowledged), cut it off before verifying. Without it such a file is
// refused.
#define TC_AUDIT_OPEN_REPAIR_TORN_TAIL 1u

// Opens (creating if missing) the log and, if checkpoint_path is not NULL, the checkpoint file,
// then verifies everything already in them with the controller key pinned (actors not pinned).
// Returns TC_ECORRUPT with the verifier's report (report may be NULL) if they do not verify,
// TC_EBUSY if another writer holds the log, TC_EIO/TC_ENOENT/TC_ENOMEM on operating errors.
int tc_audit_writer_open(struct tc_audit_writer **writer, const char *log_path,
                         const char *checkpoint_path, const struct tc_audit_secret_key *controller,
                         uint32_t flags, struct tc_audit_report *report);

// Appends one entry for a signed request and fdatasyncs it before returning: an action is
// acknowledged only after its entry is durable. The entry's time is max(time_ms, previous entry's
// time). Errors, nothing written: TC_EPERM (actor signature invalid), TC_ERANGE (request time more
// than TC_AUDIT_REQUEST_SKEW_MS_MAX from time_ms, or time beyond TC_AUDIT_TIME_MS_MAX), TC_EEXIST
// (the same signed request was already logged: replay), TC_EBUSY (replay window full),
// TC_EINVAL/TC_ETOOBIG (result_json). TC_EIO: the write or sync failed and the file's state is
// unknown; the writer then refuses every further call (close and reopen to recover).
// seq may be NULL.
int tc_audit_writer_append(struct tc_audit_writer *writer, const struct tc_audit_request *request,
                           const char *result_json, uint64_t time_ms, uint64_t *seq);

// Appends a signed checkpoint of the current head to the checkpoint file and fdatasyncs it. The
// line (no newline) is copied to line/capacity if line is not NULL, so the caller can export it
// off the box. TC_EINVAL if the writer has no checkpoint file, TC_ENOENT if the log is empty,
// TC_EEXIST if the last checkpoint already names the head, TC_ETOOBIG if capacity is short
// (nothing written), TC_EIO as for append. line_size may be NULL.
int tc_audit_writer_checkpoint(struct tc_audit_writer *writer, uint64_t time_ms, char *line,
                               uint32_t capacity, uint32_t *line_size);

// The seq of the last entry (0 for an empty log) and its line's hash (zeros if empty).
uint64_t tc_audit_writer_seq(const struct tc_audit_writer *writer);
void tc_audit_writer_head(const struct tc_audit_writer *writer, struct tc_hash256 *head);

// The entry this writer appended last and its line (no newline), valid until the next call on the
// writer: the controller copies them into its database in the same step. TC_ENOENT if this
// writer has appended nothing since it was opened.
int tc_audit_writer_last(const struct tc_audit_writer *writer, const struct tc_audit_entry **entry,
                         const char **line, uint32_t *line_size);

// Closes the files, wipes the secret key and frees the writer. NULL is allowed.
void tc_audit_writer_close(struct tc_audit_writer *writer);

#endif
