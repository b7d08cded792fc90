#ifndef TC_VSR_CONSTANTS_H
#define TC_VSR_CONSTANTS_H

#include <stdint.h>

// Compile-time capacities of the replicated log. Runtime options (journal slot count, timeouts)
// are validated against these at init. Relationships between them are asserted at compile time.

#define TC_HEADER_SIZE 256u
#define TC_MESSAGE_SIZE_MAX (128u * 1024u) // header + body; also the size of a journal prepare slot
#define TC_MESSAGE_BODY_SIZE_MAX (TC_MESSAGE_SIZE_MAX - TC_HEADER_SIZE)
#define TC_SECTOR_SIZE 4096u // journal I/O alignment and the superblock copy size

#define TC_REPLICAS_MAX 5u
#define TC_PIPELINE_PREPARE_MAX 8u // prepares in flight (uncommitted) at the primary
#define TC_CLIENTS_MAX 64u         // client sessions (edges) per group
#define TC_REPLY_SIZE_MAX (32u * 1024u) // header + body of a stored client reply

#define TC_JOURNAL_SLOT_COUNT_MIN 64u
#define TC_JOURNAL_SLOT_COUNT_MAX 65536u
#define TC_SUPERBLOCK_COPIES 4u
// The superblock keeps the headers of the current view's log suffix (what start_view carried).
#define TC_VIEW_HEADERS_MAX (TC_PIPELINE_PREPARE_MAX + 1u)

_Static_assert(TC_MESSAGE_SIZE_MAX % TC_SECTOR_SIZE == 0, "prepare slots are sector aligned");
_Static_assert(TC_SECTOR_SIZE % TC_HEADER_SIZE == 0, "headers pack into sectors");
_Static_assert(TC_REPLY_SIZE_MAX <= TC_MESSAGE_SIZE_MAX, "a reply fits in a message");
_Static_assert(TC_JOURNAL_SLOT_COUNT_MIN > 2u * TC_PIPELINE_PREPARE_MAX, "ring holds the pipeline");
_Static_assert(TC_VIEW_HEADERS_MAX * TC_HEADER_SIZE + 512u <= TC_SECTOR_SIZE,
               "a superblock copy holds the view headers");
_Static_assert(TC_REPLICAS_MAX <= 8u, "replica bitsets are uint8_t");

#endif
