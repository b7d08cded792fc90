// The writer: appends entries and checkpoints, each made durable (fdatasync) before the call
// returns. It continues a file only after verifying all of it with its own key pinned, and checks
// every line it writes by parsing it back before the write (the pair of the verifier's check).
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

struct tc_audit_writer {
    int log_fd;
    int checkpoint_fd; // -1: no checkpoint file
    bool failed;       // a write or sync failed: the files' state is unknown, refuse everything
    struct tc_audit_secret_key secret;
    struct tc_audit_public_key controller;
    uint64_t seq_last;
    uint64_t lines;    // lines in the log (a segment may start after seq 1)
    uint64_t time_ms_last;
    struct tc_hash256 head;
    uint64_t checkpoint_seq_last;
    uint64_t checkpoint_time_ms_last;
    struct audit_window window;
    struct tc_audit_entry entry;
    struct tc_audit_entry entry_check;
    char line[TC_AUDIT_LINE_SIZE_MAX + 2]; // the line, its newline, and room for a NUL
    uint32_t line_size_last; // of the last line appended since open (0: none), without newline
    char scratch[TC_AUDIT_LINE_SIZE_MAX + 1];
};

// Opens path for appending, creating it (and syncing its directory) if missing, and takes an
// exclusive lock. TC_EBUSY if another writer holds it.
static int open_append(const char *path, int *fd_out) {
    bool created = true;
    int fd = open(path, O_RDWR | O_APPEND | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (fd < 0 && errno == EEXIST) {
        created = false;
        fd = open(path, O_RDWR | O_APPEND | O_CLOEXEC);
    }
    if (fd < 0) return audit_errno_to_tc(errno);
    int rc = flock(fd, LOCK_EX | LOCK_NB) == 0 ? 0 : audit_errno_to_tc(errno);
    if (rc == 0 && created) rc = audit_fsync_parent_dir(path);
    if (rc != 0) {
        (void)close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

// Cuts a final partial line (no newline) off the file. Only a tail shorter than a line can be a
// torn append; anything longer is left for the verifier to report.
static int repair_torn_tail(int fd, char *buffer) {
    struct stat st;
    if (fstat(fd, &st) != 0) return audit_errno_to_tc(errno);
    const uint64_t size = (uint64_t)st.st_size;
    if (size == 0) return 0;
    const uint64_t window = size < TC_AUDIT_LINE_SIZE_MAX + 1 ? size : TC_AUDIT_LINE_SIZE_MAX + 1;
    const int64_t got = audit_pread_full(fd, buffer, window, size - window);
    if (got < 0) return (int)got;
    if ((uint64_t)got != window) return TC_EIO;
    if (buffer[window - 1] == '\n') return 0;
    const char *newline = memrchr(buffer, '\n', window);
    if (newline == NULL && window < size) return 0; // not a torn append: let the verifier say so
    const uint64_t keep = newline == NULL ? 0 : size - window + (uint64_t)(newline - buffer) + 1;
    tc_assert(keep < size);
    if (ftruncate(fd, (off_t)keep) != 0) return audit_errno_to_tc(errno);
    if (fdatasync(fd) != 0) return audit_errno_to_tc(errno);
    return 0;
}

// Verifies the existing files with the writer's key pinned and takes over the chain state.
static int writer_load(struct tc_audit_writer *writer, struct tc_audit_report *report) {
    struct audit_verifier *v = calloc(1, sizeof(*v));
    if (v == NULL) return TC_ENOMEM;
    const struct tc_audit_keyring keys = {
        .controllers = &writer->controller,
        .controller_count = 1,
    };
    v->log_fd = writer->log_fd;
    v->checkpoint_fd = writer->checkpoint_fd;
    v->keys = &keys;
    v->allow_empty = true;
    v->report = report;
    v->window = &writer->window;
    int rc = audit_verify_run(v);
    if (rc == 0) {
        writer->seq_last = report->seq_last;
        writer->lines = report->entries;
        writer->head = report->head;
        writer->time_ms_last = v->time_ms_last;
        writer->checkpoint_seq_last = v->checkpoint_seq_read;
        writer->checkpoint_time_ms_last = v->checkpoint_time_ms_read;
        tc_assert(writer->checkpoint_seq_last <= writer->seq_last);
    }
    free(v);
    return rc;
}

int tc_audit_writer_open(struct tc_audit_writer **writer_out, const char *log_path,
                         const char *checkpoint_path, const struct tc_audit_secret_key *controller,
                         uint32_t flags, struct tc_audit_report *report) {
    tc_assert(writer_out != NULL && log_path != NULL && controller != NULL);
    tc_assert((flags & ~TC_AUDIT_OPEN_REPAIR_TORN_TAIL) == 0);
    *writer_out = NULL;
    struct tc_audit_report report_local;
    if (report == NULL) report = &report_local;
    memset(report, 0, sizeof(*report));
    report->reason = TC_AUDIT_IO; // until the verification below says otherwise
    struct tc_audit_writer *writer = calloc(1, sizeof(*writer));
    if (writer == NULL) return TC_ENOMEM;
    writer->log_fd = -1;
    writer->checkpoint_fd = -1;
    writer->secret = *controller;
    tc_audit_key_public(controller, &writer->controller);
    tc_assert(tc_audit_key_valid(&writer->controller));
    int rc = open_append(log_path, &writer->log_fd);
    if (rc == 0 && checkpoint_path != NULL) {
        rc = open_append(checkpoint_path, &writer->checkpoint_fd);
    }
    if (rc == 0 && (flags & TC_AUDIT_OPEN_REPAIR_TORN_TAIL) != 0) {
        rc = repair_torn_tail(writer->log_fd, writer->scratch);
        if (rc == 0 && writer->checkpoint_fd >= 0) {
            rc = repair_torn_tail(writer->checkpoint_fd, writer->scratch);
        }
    }
    if (rc == 0) rc = writer_load(writer, report);
    if (rc != 0) {
        tc_audit_writer_close(writer);
        return rc;
    }
    *writer_out = writer;
    return 0;
}

// Writes data (ending in a newline) and makes it durable; on failure the writer is spent.
static int write_durable(struct tc_audit_writer *writer, int fd, const char *data, uint32_t size) {
    tc_assert(size > 0 && data[size - 1] == '\n');
    int rc = audit_write_all(fd, data, size);
    if (rc == 0 && fdatasync(fd) != 0) rc = audit_errno_to_tc(errno);
    if (rc != 0) {
        writer->failed = true;
        return TC_EIO;
    }
    return 0;
}

// Request checks of an append: signature, skew, replay, window capacity.
static int append_admit(struct tc_audit_writer *writer, const struct tc_audit_request *request,
                        uint64_t time_ms, uint8_t key[16]) {
    if (tc_audit_request_verify(request) != 0) return TC_EPERM;
    const uint64_t skew_ms = time_ms > request->time_ms ? time_ms - request->time_ms
                                                        : request->time_ms - time_ms;
    if (skew_ms > TC_AUDIT_REQUEST_SKEW_MS_MAX) return TC_ERANGE;
    audit_window_key(key, &request->actor, request->nonce);
    audit_window_advance(&writer->window, time_ms);
    if (audit_window_find(&writer->window, key) != NULL) return TC_EEXIST;
    if (audit_window_full(&writer->window)) return TC_EBUSY;
    if (writer->seq_last == TC_AUDIT_SEQ_MAX) return TC_ENOSPC;
    return 0;
}

// Parses the line just encoded exactly as the verifier will, and compares.
static void append_check(struct tc_audit_writer *writer, uint32_t size) {
    struct audit_problem problem;
    const bool parsed = audit_entry_parse(writer->line, size, &writer->entry_check,
                                          writer->scratch, &problem);
    tc_assert(parsed);
    tc_assert(writer->entry_check.seq == writer->entry.seq);
    tc_assert(tc_hash256_equal(&writer->entry_check.prev, &writer->head));
    tc_assert(audit_entry_signature_valid(&writer->entry_check));
    tc_assert(tc_audit_request_verify(&writer->entry_check.request) == 0);
}

int tc_audit_writer_append(struct tc_audit_writer *writer, const struct tc_audit_request *request,
                           const char *result_json, uint64_t time_ms, uint64_t *seq) {
    tc_assert(writer != NULL && request != NULL && result_json != NULL);
    if (writer->failed) return TC_EIO;
    if (time_ms < writer->time_ms_last) time_ms = writer->time_ms_last;
    if (time_ms > TC_AUDIT_TIME_MS_MAX) return TC_ERANGE;
    uint8_t key[16];
    int rc = append_admit(writer, request, time_ms, key);
    if (rc != 0) return rc;
    const uint64_t seq_next = writer->seq_last + 1;
    writer->line_size_last = 0; // writer->entry and line change from here on
    rc = tc_audit_entry_init(&writer->entry, request, result_json, seq_next, time_ms,
                             &writer->head, NULL);
    if (rc != 0) return rc;
    tc_audit_entry_sign(&writer->entry, &writer->secret);
    uint32_t size = 0;
    rc = tc_audit_entry_encode(&writer->entry, writer->line, TC_AUDIT_LINE_SIZE_MAX + 1, &size);
    tc_assert(rc == 0); // AUDIT_ENTRY_SIZE_MAX <= TC_AUDIT_LINE_SIZE_MAX
    writer->line[size] = '\n';
    append_check(writer, size);
    rc = write_durable(writer, writer->log_fd, writer->line, size + 1);
    if (rc != 0) return rc;
    tc_hash256_compute(&writer->head, writer->line, size);
    writer->seq_last = seq_next;
    writer->lines++;
    writer->time_ms_last = time_ms;
    writer->line_size_last = size;
    audit_window_push(&writer->window, key, time_ms, seq_next, writer->lines);
    if (seq != NULL) *seq = seq_next;
    return 0;
}

int tc_audit_writer_last(const struct tc_audit_writer *writer, const struct tc_audit_entry **entry,
                         const char **line, uint32_t *line_size) {
    tc_assert(writer != NULL && entry != NULL && line != NULL && line_size != NULL);
    if (writer->line_size_last == 0) return TC_ENOENT;
    tc_assert(writer->entry.seq == writer->seq_last);
    *entry = &writer->entry;
    *line = writer->line;
    *line_size = writer->line_size_last;
    return 0;
}

int tc_audit_writer_checkpoint(struct tc_audit_writer *writer, uint64_t time_ms, char *line,
                               uint32_t capacity, uint32_t *line_size) {
    tc_assert(writer != NULL);
    tc_assert(line != NULL || capacity == 0);
    if (writer->failed) return TC_EIO;
    if (writer->checkpoint_fd < 0) return TC_EINVAL;
    if (writer->seq_last == 0) return TC_ENOENT;
    if (writer->checkpoint_seq_last == writer->seq_last) return TC_EEXIST;
    if (time_ms < writer->time_ms_last) time_ms = writer->time_ms_last;
    if (time_ms < writer->checkpoint_time_ms_last) time_ms = writer->checkpoint_time_ms_last;
    if (time_ms > TC_AUDIT_TIME_MS_MAX) return TC_ERANGE;
    struct tc_audit_checkpoint checkpoint = {
        .seq = writer->seq_last,
        .time_ms = time_ms,
        .head = writer->head,
    };
    tc_audit_checkpoint_sign(&checkpoint, &writer->secret);
    char text[AUDIT_CHECKPOINT_SIZE_MAX + 1];
    uint32_t size = 0;
    int rc = tc_audit_checkpoint_encode(&checkpoint, text, sizeof(text) - 1, &size);
    tc_assert(rc == 0);
    if (line != NULL && capacity < size + 1) return TC_ETOOBIG;
    struct audit_problem problem;
    struct tc_audit_checkpoint check;
    const bool parsed = audit_checkpoint_parse(text, size, &check, writer->scratch, &problem);
    tc_assert(parsed);
    tc_assert(check.seq == checkpoint.seq);
    tc_assert(audit_checkpoint_signature_valid(&check));
    text[size] = '\n';
    rc = write_durable(writer, writer->checkpoint_fd, text, size + 1);
    if (rc != 0) return rc;
    writer->checkpoint_seq_last = checkpoint.seq;
    writer->checkpoint_time_ms_last = time_ms;
    if (line != NULL) {
        memcpy(line, text, size);
        line[size] = '\0';
    }
    if (line_size != NULL) *line_size = size;
    return 0;
}

uint64_t tc_audit_writer_seq(const struct tc_audit_writer *writer) {
    tc_assert(writer != NULL);
    return writer->seq_last;
}

void tc_audit_writer_head(const struct tc_audit_writer *writer, struct tc_hash256 *head) {
    tc_assert(writer != NULL && head != NULL);
    *head = writer->head;
}

void tc_audit_writer_close(struct tc_audit_writer *writer) {
    if (writer == NULL) return;
    if (writer->log_fd >= 0) (void)close(writer->log_fd);
    if (writer->checkpoint_fd >= 0) (void)close(writer->checkpoint_fd);
    tc_audit_secret_key_wipe(&writer->secret);
    free(writer);
}
