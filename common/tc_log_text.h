#ifndef TC_LOG_TEXT_H
#define TC_LOG_TEXT_H

// A log message as the quoted value of `msg="..."` (node and controller logs, docs/operations.md
// §12): `"` and `\` escaped with a backslash, control bytes as spaces; cut to fit out (NUL
// included). Every line stays one parseable record.
#include <stdint.h>

void tc_log_text_escape(const char *text, char *out, uint32_t out_size);

#endif
