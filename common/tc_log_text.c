#include "tc_log_text.h"

#include <stddef.h>

#include "tc_assert.h"

void tc_log_text_escape(const char *text, char *out, uint32_t out_size) {
    tc_assert(text != NULL && out != NULL && out_size >= 1);
    uint32_t used = 0;
    for (const char *c = text; *c != '\0' && used + 3 <= out_size; c++) {
        if (*c == '"' || *c == '\\') out[used++] = '\\';
        out[used++] = ((unsigned char)*c >= 0x20) ? *c : ' ';
    }
    tc_assert(used < out_size);
    out[used] = '\0';
}
