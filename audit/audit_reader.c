// Bounded line reader: returns one line at a time from a caller buffer of AUDIT_READER_CAPACITY
// bytes, never holding more than one line plus one read chunk. A line longer than
// TC_AUDIT_LINE_SIZE_MAX is reported as such (reading stops there), never buffered whole.
#include <string.h>

#include "audit_internal.h"
#include "tc_assert.h"

void audit_reader_init(struct audit_reader *reader, int fd, char *buffer) {
    tc_assert(reader != NULL && buffer != NULL);
    tc_assert(fd >= 0);
    memset(reader, 0, sizeof(*reader));
    reader->fd = fd;
    reader->buffer = buffer;
}

// Moves the unread bytes to the front and reads more after them. False on a read error.
static bool reader_fill(struct audit_reader *reader) {
    tc_assert(!reader->eof);
    const uint32_t pending = reader->end - reader->start;
    if (reader->start > 0) {
        memmove(reader->buffer, reader->buffer + reader->start, pending);
        reader->start = 0;
        reader->end = pending;
    }
    tc_assert(reader->end < AUDIT_READER_CAPACITY);
    const uint32_t room = AUDIT_READER_CAPACITY - reader->end;
    const int64_t got = audit_pread_full(reader->fd, reader->buffer + reader->end, room,
                                         reader->file_offset);
    if (got < 0) return false;
    tc_assert((uint64_t)got <= room);
    reader->end += (uint32_t)got;
    reader->file_offset += (uint64_t)got;
    if ((uint64_t)got < room) reader->eof = true;
    return true;
}

enum audit_read audit_reader_next(struct audit_reader *reader, const char **line, uint32_t *size) {
    tc_assert(reader != NULL && line != NULL && size != NULL);
    for (;;) {
        tc_assert(reader->start <= reader->end);
        tc_assert(reader->end <= AUDIT_READER_CAPACITY);
        const uint32_t pending = reader->end - reader->start;
        const char *begin = reader->buffer + reader->start;
        const char *newline = memchr(begin, '\n', pending);
        if (newline != NULL) {
            reader->line++;
            *line = begin;
            *size = (uint32_t)(newline - begin);
            reader->start += *size + 1;
            return *size > TC_AUDIT_LINE_SIZE_MAX ? AUDIT_READ_TOO_LONG : AUDIT_READ_LINE;
        }
        if (pending > TC_AUDIT_LINE_SIZE_MAX) {
            reader->line++;
            return AUDIT_READ_TOO_LONG;
        }
        if (reader->eof) {
            if (pending == 0) return AUDIT_READ_END;
            reader->line++;
            *line = begin;
            *size = pending;
            return AUDIT_READ_INCOMPLETE;
        }
        if (!reader_fill(reader)) {
            reader->line++;
            return AUDIT_READ_ERROR;
        }
    }
}
