// The offline verifier (docs/audit.md "Verification"). One pass over the log, one line at a time,
// with the checkpoint file read alongside it (checkpoints are in seq order). Memory is fixed: two
// line buffers, one scratch line, one entry, the replay window. It stops at the first failure and
// names the line and the reason.
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

const char *tc_audit_reason_id(enum tc_audit_reason reason) {
    switch (reason) {
#define TC_AUDIT_REASON_ID(name, id, text)                                                         \
    case name: return id;
        TC_AUDIT_REASON_TABLE(TC_AUDIT_REASON_ID)
#undef TC_AUDIT_REASON_ID
    }
    return "unknown";
}

const char *tc_audit_reason_text(enum tc_audit_reason reason) {
    switch (reason) {
#define TC_AUDIT_REASON_TEXT(name, id, text)                                                       \
    case name: return text;
        TC_AUDIT_REASON_TABLE(TC_AUDIT_REASON_TEXT)
#undef TC_AUDIT_REASON_TEXT
    }
    return "unknown";
}

// Records the first failure: "line N: ..." or "checkpoint line N: ...". Returns TC_ECORRUPT.
static int fail(struct audit_verifier *v, enum tc_audit_file file, uint64_t line,
                enum tc_audit_reason reason, const char *format, ...)
    __attribute__((format(printf, 5, 6)));

static int fail(struct audit_verifier *v, enum tc_audit_file file, uint64_t line,
                enum tc_audit_reason reason, const char *format, ...) {
    tc_assert(reason != TC_AUDIT_PASS);
    tc_assert(line >= 1);
    struct tc_audit_report *report = v->report;
    report->reason = reason;
    report->file = file;
    report->line = line;
    char detail[200]; // leaves room for "checkpoint line N: " in the message
    va_list args;
    va_start(args, format);
    (void)vsnprintf(detail, sizeof(detail), format, args);
    va_end(args);
    (void)snprintf(report->message, sizeof(report->message), "%sline %llu: %s",
                   file == TC_AUDIT_FILE_CHECKPOINT ? "checkpoint " : "", (unsigned long long)line,
                   detail);
    return TC_ECORRUPT;
}

static int fail_read(struct audit_verifier *v, enum tc_audit_file file, enum audit_read status,
                     uint64_t line) {
    switch (status) {
    case AUDIT_READ_TOO_LONG:
        return fail(v, file, line, TC_AUDIT_LINE_TOO_LONG, "longer than %u bytes",
                    TC_AUDIT_LINE_SIZE_MAX);
    case AUDIT_READ_INCOMPLETE:
        return fail(v, file, line, TC_AUDIT_INCOMPLETE_LINE,
                    "the file ends inside this line (no newline: a torn write)");
    case AUDIT_READ_ERROR:
        (void)fail(v, file, line, TC_AUDIT_IO, "read error");
        return TC_EIO;
    case AUDIT_READ_LINE:
    case AUDIT_READ_END: break;
    }
    tc_unreachable();
    return TC_EIO;
}

static bool key_listed(const struct tc_audit_public_key *keys, uint32_t count,
                       const struct tc_audit_public_key *key) {
    for (uint32_t i = 0; i < count; i++) {
        if (memcmp(keys[i].bytes, key->bytes, sizeof(key->bytes)) == 0) return true;
    }
    return false;
}

static void key_short(const struct tc_audit_public_key *key, char out[17]) {
    tc_hex_encode(out, key->bytes, 8);
}

// A controller key: valid, trusted when pinned. 0 or TC_ECORRUPT.
static int check_controller_key(struct audit_verifier *v, enum tc_audit_file file, uint64_t line,
                                const struct tc_audit_public_key *key) {
    char hex[17];
    key_short(key, hex);
    if (!tc_audit_key_valid(key)) {
        return fail(v, file, line, TC_AUDIT_BAD_KEY, "controller key %s... is not a valid "
                    "Ed25519 public key", hex);
    }
    if (v->keys->controller_count > 0 &&
        !key_listed(v->keys->controllers, v->keys->controller_count, key)) {
        return fail(v, file, line, TC_AUDIT_CONTROLLER_UNTRUSTED,
                    "controller key %s... is not a trusted controller key", hex);
    }
    return 0;
}

// Reads, parses and verifies the next checkpoint into checkpoint_next (or notes the end).
static int checkpoint_advance(struct audit_verifier *v) {
    tc_assert(v->checkpoint_fd >= 0);
    const char *line = NULL;
    uint32_t size = 0;
    const enum audit_read status = audit_reader_next(&v->checkpoints, &line, &size);
    const uint64_t number = v->checkpoints.line;
    v->checkpoint_pending = false;
    if (status == AUDIT_READ_END) return 0;
    if (status != AUDIT_READ_LINE) return fail_read(v, TC_AUDIT_FILE_CHECKPOINT, status, number);
    struct audit_problem problem;
    struct tc_audit_checkpoint *next = &v->checkpoint_next;
    if (!audit_checkpoint_parse(line, size, next, v->scratch, &problem)) {
        return fail(v, TC_AUDIT_FILE_CHECKPOINT, number, problem.reason, "%s", problem.detail);
    }
    int rc = check_controller_key(v, TC_AUDIT_FILE_CHECKPOINT, number, &next->controller);
    if (rc != 0) return rc;
    if (!audit_checkpoint_signature_valid(next)) {
        return fail(v, TC_AUDIT_FILE_CHECKPOINT, number, TC_AUDIT_CONTROLLER_SIG,
                    "controller signature invalid");
    }
    if (next->seq <= v->checkpoint_seq_read) {
        return fail(v, TC_AUDIT_FILE_CHECKPOINT, number, TC_AUDIT_CHECKPOINT_ORDER,
                    "seq %llu does not follow the previous checkpoint's seq %llu",
                    (unsigned long long)next->seq, (unsigned long long)v->checkpoint_seq_read);
    }
    if (next->time_ms < v->checkpoint_time_ms_read) {
        return fail(v, TC_AUDIT_FILE_CHECKPOINT, number, TC_AUDIT_CHECKPOINT_ORDER,
                    "time goes backwards from the previous checkpoint");
    }
    v->checkpoint_seq_read = next->seq;
    v->checkpoint_time_ms_read = next->time_ms;
    v->checkpoint_next_line = number;
    v->checkpoint_pending = true;
    return 0;
}

// The first entry: seq 1 with a zero prev, or seq S > 1 anchored by a checkpoint at S - 1 whose
// head is the entry's prev (a later segment of a log whose earlier part was verified before).
static int check_first(struct audit_verifier *v, uint64_t line) {
    const struct tc_audit_entry *entry = &v->entry;
    if (entry->seq == 1) {
        static const struct tc_hash256 zero;
        if (tc_hash256_equal(&entry->prev, &zero)) return 0;
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_PREV_MISMATCH,
                    "prev of seq 1 is not all zeros");
    }
    while (v->checkpoint_pending && v->checkpoint_next.seq < entry->seq - 1) {
        const int rc = checkpoint_advance(v); // checkpoints of earlier segments: signed, skipped
        if (rc != 0) return rc;
    }
    if (!v->checkpoint_pending || v->checkpoint_next.seq != entry->seq - 1) {
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_UNANCHORED,
                    "file starts at seq %llu and no checkpoint at seq %llu anchors it",
                    (unsigned long long)entry->seq, (unsigned long long)entry->seq - 1);
    }
    if (!tc_hash256_equal(&v->checkpoint_next.head, &entry->prev)) {
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_PREV_MISMATCH,
                    "prev does not match the head of checkpoint line %llu (seq %llu)",
                    (unsigned long long)v->checkpoint_next_line,
                    (unsigned long long)v->checkpoint_next.seq);
    }
    v->report->checkpoints++;
    v->report->checkpoint_seq = v->checkpoint_next.seq;
    return checkpoint_advance(v);
}

// seq, prev and time against the previous line.
static int check_links(struct audit_verifier *v, uint64_t line) {
    const struct tc_audit_entry *entry = &v->entry;
    struct tc_audit_report *report = v->report;
    if (report->entries == 0) return check_first(v, line);
    if (entry->seq != report->seq_last + 1) {
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_SEQ_GAP,
                    "seq %llu where %llu was expected (line %llu has seq %llu)",
                    (unsigned long long)entry->seq, (unsigned long long)report->seq_last + 1,
                    (unsigned long long)line - 1, (unsigned long long)report->seq_last);
    }
    if (!tc_hash256_equal(&entry->prev, &report->head)) {
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_PREV_MISMATCH,
                    "prev hash does not match line %llu", (unsigned long long)line - 1);
    }
    if (entry->time_ms < v->time_ms_last) {
        char now[TC_AUDIT_TIME_TEXT_SIZE + 1];
        char before[TC_AUDIT_TIME_TEXT_SIZE + 1];
        audit_time_format(entry->time_ms, now);
        audit_time_format(v->time_ms_last, before);
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_TIME_BACKWARDS,
                    "time %s is before line %llu's time %s", now, (unsigned long long)line - 1,
                    before);
    }
    return 0;
}

// Both keys and both signatures.
static int check_signatures(struct audit_verifier *v, uint64_t line) {
    const struct tc_audit_entry *entry = &v->entry;
    int rc = check_controller_key(v, TC_AUDIT_FILE_LOG, line, &entry->controller);
    if (rc != 0) return rc;
    if (!audit_entry_signature_valid(entry)) {
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_CONTROLLER_SIG,
                    "controller signature invalid");
    }
    char hex[17];
    key_short(&entry->request.actor, hex);
    if (!tc_audit_key_valid(&entry->request.actor)) {
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_BAD_KEY,
                    "actor key %s... is not a valid Ed25519 public key", hex);
    }
    if (v->keys->actor_count > 0 &&
        !key_listed(v->keys->actors, v->keys->actor_count, &entry->request.actor)) {
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_ACTOR_UNTRUSTED,
                    "actor key %s... is not a trusted operator key", hex);
    }
    if (tc_audit_request_verify(&entry->request) != 0) {
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_ACTOR_SIG, "actor signature invalid");
    }
    return 0;
}

// The request's time against the entry's, and replays within the window.
static int check_request(struct audit_verifier *v, uint64_t line) {
    const struct tc_audit_entry *entry = &v->entry;
    const uint64_t a = entry->time_ms;
    const uint64_t b = entry->request.time_ms;
    const uint64_t skew_ms = a > b ? a - b : b - a;
    if (skew_ms > TC_AUDIT_REQUEST_SKEW_MS_MAX) {
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_REQUEST_TIME,
                    "request time is %llu ms from the entry time (at most %u ms allowed)",
                    (unsigned long long)skew_ms, TC_AUDIT_REQUEST_SKEW_MS_MAX);
    }
    uint8_t key[16];
    audit_window_key(key, &entry->request.actor, entry->request.nonce);
    audit_window_advance(v->window, entry->time_ms);
    const struct audit_window_item *seen = audit_window_find(v->window, key);
    if (seen != NULL) {
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_REPLAY,
                    "the signed request of line %llu (seq %llu) appears again (replay)",
                    (unsigned long long)seen->line, (unsigned long long)seen->seq);
    }
    if (audit_window_full(v->window)) {
        return fail(v, TC_AUDIT_FILE_LOG, line, TC_AUDIT_WINDOW_FULL,
                    "more than %u entries within %u ms", TC_AUDIT_WINDOW_ENTRIES_MAX,
                    2 * TC_AUDIT_REQUEST_SKEW_MS_MAX);
    }
    audit_window_push(v->window, key, entry->time_ms, entry->seq, line);
    return 0;
}

// Checkpoints naming this entry's seq must carry this line's hash.
static int check_checkpoints(struct audit_verifier *v, const struct tc_hash256 *hash) {
    const struct tc_audit_entry *entry = &v->entry;
    while (v->checkpoint_pending && v->checkpoint_next.seq == entry->seq) {
        const struct tc_audit_checkpoint *next = &v->checkpoint_next;
        if (!tc_hash256_equal(&next->head, hash)) {
            return fail(v, TC_AUDIT_FILE_CHECKPOINT, v->checkpoint_next_line,
                        TC_AUDIT_CHECKPOINT_HEAD,
                        "head at seq %llu does not match line %llu of the log (rewritten log)",
                        (unsigned long long)next->seq, (unsigned long long)v->log.line);
        }
        if (next->time_ms < entry->time_ms) {
            return fail(v, TC_AUDIT_FILE_CHECKPOINT, v->checkpoint_next_line,
                        TC_AUDIT_CHECKPOINT_TIME, "checkpoint time is before the time of seq %llu",
                        (unsigned long long)next->seq);
        }
        v->report->checkpoints++;
        v->report->checkpoint_seq = next->seq;
        const int rc = checkpoint_advance(v);
        if (rc != 0) return rc;
    }
    tc_assert(!v->checkpoint_pending || v->checkpoint_next.seq > entry->seq);
    return 0;
}

static int verify_line(struct audit_verifier *v, const char *line, uint32_t size) {
    const uint64_t number = v->log.line;
    struct audit_problem problem;
    if (!audit_entry_parse(line, size, &v->entry, v->scratch, &problem)) {
        return fail(v, TC_AUDIT_FILE_LOG, number, problem.reason, "%s", problem.detail);
    }
    int rc = check_links(v, number);
    if (rc == 0) rc = check_signatures(v, number);
    if (rc == 0) rc = check_request(v, number);
    if (rc != 0) return rc;
    struct tc_hash256 hash;
    tc_hash256_compute(&hash, line, size);
    rc = check_checkpoints(v, &hash);
    if (rc != 0) return rc;
    struct tc_audit_report *report = v->report;
    if (report->entries == 0) report->seq_first = v->entry.seq;
    report->entries++;
    report->seq_last = v->entry.seq;
    report->head = hash;
    v->time_ms_last = v->entry.time_ms;
    return 0;
}

// After the last line: the log must not be empty and must reach every checkpoint.
static int verify_end(struct audit_verifier *v) {
    const struct tc_audit_report *report = v->report;
    if (v->checkpoint_pending) {
        if (report->entries == 0) {
            return fail(v, TC_AUDIT_FILE_CHECKPOINT, v->checkpoint_next_line, TC_AUDIT_TRUNCATED,
                        "the log has no entries but the checkpoint names seq %llu (truncated)",
                        (unsigned long long)v->checkpoint_next.seq);
        }
        return fail(v, TC_AUDIT_FILE_CHECKPOINT, v->checkpoint_next_line, TC_AUDIT_TRUNCATED,
                    "file ends at seq %llu but checkpoint names seq %llu (truncated)",
                    (unsigned long long)report->seq_last,
                    (unsigned long long)v->checkpoint_next.seq);
    }
    if (report->entries == 0 && !v->allow_empty) {
        return fail(v, TC_AUDIT_FILE_LOG, 1, TC_AUDIT_EMPTY, "the file has no entries");
    }
    return 0;
}

static int verify_start(struct audit_verifier *v) {
    audit_reader_init(&v->log, v->log_fd, v->log_buffer);
    audit_window_reset(v->window);
    if (v->checkpoint_fd < 0) return 0;
    audit_reader_init(&v->checkpoints, v->checkpoint_fd, v->checkpoint_buffer);
    const int rc = checkpoint_advance(v);
    if (rc != 0) return rc;
    if (!v->checkpoint_pending && !v->allow_empty) {
        return fail(v, TC_AUDIT_FILE_CHECKPOINT, 1, TC_AUDIT_EMPTY,
                    "the checkpoint file has no checkpoints");
    }
    return 0;
}

int audit_verify_run(struct audit_verifier *v) {
    tc_assert(v != NULL && v->report != NULL && v->keys != NULL && v->window != NULL);
    tc_assert(v->log_fd >= 0);
    tc_assert(v->keys->actor_count == 0 || v->keys->actors != NULL);
    tc_assert(v->keys->controller_count == 0 || v->keys->controllers != NULL);
    struct tc_audit_report *report = v->report;
    memset(report, 0, sizeof(*report));
    report->actors_pinned = v->keys->actor_count > 0;
    report->controllers_pinned = v->keys->controller_count > 0;
    audit_sodium_ready();
    int rc = verify_start(v);
    while (rc == 0) {
        const char *line = NULL;
        uint32_t size = 0;
        const enum audit_read status = audit_reader_next(&v->log, &line, &size);
        if (status == AUDIT_READ_END) break;
        if (status != AUDIT_READ_LINE) {
            rc = fail_read(v, TC_AUDIT_FILE_LOG, status, v->log.line);
        } else {
            rc = verify_line(v, line, size);
        }
    }
    if (rc == 0) rc = verify_end(v);
    if (rc == 0) {
        report->reason = TC_AUDIT_PASS;
        (void)snprintf(report->message, sizeof(report->message), "PASS seq %llu..%llu (%llu %s)",
                       (unsigned long long)report->seq_first, (unsigned long long)report->seq_last,
                       (unsigned long long)report->entries,
                       report->entries == 1 ? "entry" : "entries");
    }
    tc_assert(rc == 0 || report->reason != TC_AUDIT_PASS);
    return rc;
}

static int open_read(const char *path, int *fd) {
    *fd = open(path, O_RDONLY | O_CLOEXEC);
    return *fd >= 0 ? 0 : audit_errno_to_tc(errno);
}

int tc_audit_verify(const char *log_path, const char *checkpoint_path,
                    const struct tc_audit_keyring *keys, struct tc_audit_report *report) {
    tc_assert(log_path != NULL && report != NULL);
    static const struct tc_audit_keyring no_keys;
    memset(report, 0, sizeof(*report));
    report->reason = TC_AUDIT_IO;
    struct audit_verifier *v = calloc(1, sizeof(*v));
    struct audit_window *window = calloc(1, sizeof(*window));
    int rc = v != NULL && window != NULL ? 0 : TC_ENOMEM;
    if (rc != 0) (void)snprintf(report->message, sizeof(report->message), "out of memory");
    if (rc == 0) {
        v->log_fd = -1;
        v->checkpoint_fd = -1;
        rc = open_read(log_path, &v->log_fd);
        if (rc != 0) (void)snprintf(report->message, sizeof(report->message), "cannot open %s: %s",
                                    log_path, tc_strerror(rc));
    }
    if (rc == 0 && checkpoint_path != NULL) {
        rc = open_read(checkpoint_path, &v->checkpoint_fd);
        if (rc != 0) (void)snprintf(report->message, sizeof(report->message), "cannot open %s: %s",
                                    checkpoint_path, tc_strerror(rc));
    }
    if (rc == 0) {
        v->keys = keys != NULL ? keys : &no_keys;
        v->report = report;
        v->window = window;
        rc = audit_verify_run(v);
    }
    if (v != NULL && v->log_fd >= 0) (void)close(v->log_fd);
    if (v != NULL && v->checkpoint_fd >= 0) (void)close(v->checkpoint_fd);
    free(window);
    free(v);
    return rc;
}
