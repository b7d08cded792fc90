// How every command reports: failures on stderr (or as one JSON object with --json), usage errors
// with a pointer to --help, and text from the controller sanitized before it reaches a terminal.
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tc_assert.h"
#include "tigerctl.h"

static const char *command_name(const struct tigerctl_context *context) {
    return context->command != NULL ? context->command->name : "";
}

int tigerctl_fail(const struct tigerctl_context *context, int code, const char *format, ...) {
    tc_assert(code != TIGERCTL_EXIT_OK);
    tc_assert(context != NULL && format != NULL);
    char message[512];
    va_list args;
    va_start(args, format);
    (void)vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    if (context->json) {
        cJSON *object = cJSON_CreateObject();
        tc_assert(object != NULL);
        (void)cJSON_AddStringToObject(object, "result", "error");
        (void)cJSON_AddStringToObject(object, "error", message);
        tigerctl_print_json(context, object);
        cJSON_Delete(object);
    } else {
        (void)fprintf(context->err, "tigerctl %s: %s\n", command_name(context), message);
    }
    return code;
}

int tigerctl_usage(const struct tigerctl_context *context, const char *format, ...) {
    tc_assert(context != NULL && format != NULL);
    char message[512];
    va_list args;
    va_start(args, format);
    (void)vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    (void)fprintf(context->err, "tigerctl %s: %s (see tigerctl %s --help)\n", command_name(context),
                  message, command_name(context));
    return TIGERCTL_EXIT_USAGE;
}

void tigerctl_print_json(const struct tigerctl_context *context, const cJSON *object) {
    tc_assert(context != NULL && object != NULL);
    char *text = cJSON_PrintUnformatted(object);
    tc_assert(text != NULL);
    (void)fprintf(context->out, "%s\n", text);
    cJSON_free(text);
}

void tigerctl_sanitize(char *out, uint32_t size, const char *text) {
    tc_assert(out != NULL && text != NULL);
    tc_assert(size > 0);
    uint32_t i = 0;
    for (; i + 1 < size && text[i] != '\0'; i++) {
        const unsigned char c = (unsigned char)text[i];
        out[i] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
    }
    out[i] = '\0';
}

void tigerctl_age_text(uint64_t age_ms, char *out, uint32_t size) {
    tc_assert(out != NULL && size > 0);
    const uint64_t age_s = age_ms / 1000u;
    static const struct {
        uint64_t seconds;
        char unit;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
    uint32_t u = 0;
    while (u + 1 < TC_ARRAY_COUNT(units) && age_s < units[u].seconds) u++;
    (void)snprintf(out, size, "%llu%c", (unsigned long long)(age_s / units[u].seconds),
                   units[u].unit);
}
