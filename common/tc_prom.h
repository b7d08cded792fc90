#ifndef TC_PROM_H
#define TC_PROM_H

// Prometheus text format 0.0.4 into a caller's buffer (node and controller /metrics): a writer
// that stops at the first line that does not fit and says so (overflow), never a partial line.
#include <stdbool.h>
#include <stdint.h>

struct tc_prom {
    char *out;
    uint32_t size; // bytes of out
    uint32_t used;
    bool overflow; // a line did not fit: the output is incomplete (the caller answers 500)
};

void tc_prom_emit(struct tc_prom *prom, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
// "# HELP name help\n# TYPE name type\n".
void tc_prom_family(struct tc_prom *prom, const char *name, const char *type, const char *help);

#endif
