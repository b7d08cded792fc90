// Reading a log's entries back (tc_audit_log_scan): the controller replays entries its SQLite
// view misses after a crash, and serves the chain's tail to operators. Formats are checked (each
// line must parse and be canonical); signatures and links are the verifier's job.
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "audit_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

struct audit_scan {
    struct audit_reader reader;
    struct tc_audit_entry entry;
    char scratch[TC_AUDIT_LINE_SIZE_MAX + 1];
    char buffer[AUDIT_READER_CAPACITY];
};

static int scan_run(struct audit_scan *scan, uint64_t after_seq, uint32_t limit,
                    tc_audit_scan_fn fn, void *context, uint32_t *count) {
    uint64_t seq_previous = 0;
    for (;;) {
        const char *line = NULL;
        uint32_t size = 0;
        const enum audit_read read = audit_reader_next(&scan->reader, &line, &size);
        if (read == AUDIT_READ_END || read == AUDIT_READ_INCOMPLETE) return 0; // torn tail: unacked
        if (read == AUDIT_READ_ERROR) return TC_EIO;
        if (read != AUDIT_READ_LINE) return TC_ECORRUPT;
        struct audit_problem problem;
        if (!audit_entry_parse(line, size, &scan->entry, scan->scratch, &problem)) {
            return TC_ECORRUPT;
        }
        if (seq_previous != 0 && scan->entry.seq != seq_previous + 1) return TC_ECORRUPT;
        seq_previous = scan->entry.seq;
        if (scan->entry.seq <= after_seq) continue;
        if (*count == limit) return 0;
        const int rc = fn(context, &scan->entry, line, size);
        if (rc != 0) return rc;
        *count += 1;
    }
}

int tc_audit_log_scan(const char *log_path, uint64_t after_seq, uint32_t limit,
                      tc_audit_scan_fn fn, void *context, uint32_t *count) {
    tc_assert(log_path != NULL && fn != NULL && count != NULL);
    *count = 0;
    const int fd = open(log_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return audit_errno_to_tc(errno);
    struct audit_scan *scan = malloc(sizeof(*scan)); // ~200 KiB: not on the stack
    if (scan == NULL) {
        (void)close(fd);
        return TC_ENOMEM;
    }
    audit_reader_init(&scan->reader, fd, scan->buffer);
    const int rc = scan_run(scan, after_seq, limit, fn, context, count);
    free(scan);
    (void)close(fd);
    return rc;
}
