#include "tc_prom.h"

#include <stdarg.h>
#include <stdio.h>

#include "tc_assert.h"

void tc_prom_emit(struct tc_prom *prom, const char *format, ...) {
    tc_assert(prom != NULL && prom->out != NULL && prom->used < prom->size);
    if (prom->overflow) return;
    va_list args;
    va_start(args, format);
    const int length = vsnprintf(prom->out + prom->used, prom->size - prom->used, format, args);
    va_end(args);
    if (length < 0 || (uint32_t)length >= prom->size - prom->used) {
        prom->overflow = true;
        prom->out[prom->used] = '\0'; // whole lines only
        return;
    }
    prom->used += (uint32_t)length;
}

void tc_prom_family(struct tc_prom *prom, const char *name, const char *type, const char *help) {
    tc_prom_emit(prom, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}
