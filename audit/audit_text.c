// Text fields of the audit format: lowercase hex, RFC 3339 times with milliseconds, action names,
// and sanitised messages. Strict on input: one spelling per value, so a line has one canonical
// form.
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "audit_internal.h"
#include "tc_assert.h"

const char audit_domain_request[] = "tigerchat-audit-request-v1\n";
const char audit_domain_entry[] = "tigerchat-audit-entry-v1\n";
const char audit_domain_checkpoint[] = "tigerchat-audit-checkpoint-v1\n";
_Static_assert(sizeof(audit_domain_checkpoint) <= AUDIT_DOMAIN_SIZE_MAX, "domains fit");

void audit_sodium_ready(void) {
    const int rc = sodium_init(); // 0 the first time, 1 afterwards
    tc_assert(rc >= 0);
}

static int hex_nibble(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

bool audit_hex_decode(uint8_t *out, uint32_t size, const char *hex, size_t hex_size) {
    tc_assert(out != NULL);
    tc_assert(hex != NULL);
    if (hex_size != 2 * (size_t)size) return false;
    for (uint32_t i = 0; i < size; i++) {
        const int high = hex_nibble(hex[2 * i]);
        const int low = hex_nibble(hex[2 * i + 1]);
        if (high < 0 || low < 0) return false;
        out[i] = (uint8_t)(high << 4 | low);
    }
    return true;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm), y >= 0.
static int64_t days_from_civil(int64_t y, uint32_t m, uint32_t d) {
    tc_assert(m >= 1 && m <= 12);
    tc_assert(d >= 1 && d <= 31);
    y -= m <= 2 ? 1 : 0;
    const int64_t era = y / 400;
    const uint32_t year_of_era = (uint32_t)(y - era * 400);
    const uint32_t day_of_year = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const uint32_t day_of_era =
        year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + (int64_t)day_of_era - 719468;
}

static void civil_from_days(int64_t days, int64_t *y, uint32_t *m, uint32_t *d) {
    tc_assert(days >= 0);
    days += 719468;
    const int64_t era = days / 146097;
    const uint32_t day_of_era = (uint32_t)(days - era * 146097);
    const uint32_t year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
    const uint32_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 -
                                               year_of_era / 100);
    const uint32_t month_index = (5 * day_of_year + 2) / 153;
    *d = day_of_year - (153 * month_index + 2) / 5 + 1;
    *m = month_index < 10 ? month_index + 3 : month_index - 9;
    *y = (int64_t)year_of_era + era * 400 + (*m <= 2 ? 1 : 0);
}

void audit_time_format(uint64_t time_ms, char *out) {
    tc_assert(time_ms <= TC_AUDIT_TIME_MS_MAX);
    const uint64_t seconds = time_ms / 1000;
    const uint64_t second_of_day = seconds % 86400;
    int64_t year = 0;
    uint32_t month = 0;
    uint32_t day = 0;
    civil_from_days((int64_t)(seconds / 86400), &year, &month, &day);
    const int written = snprintf(out, TC_AUDIT_TIME_TEXT_SIZE + 1,
                                 "%04lld-%02u-%02uT%02u:%02u:%02u.%03uZ", (long long)year, month,
                                 day, (unsigned)(second_of_day / 3600),
                                 (unsigned)(second_of_day / 60 % 60),
                                 (unsigned)(second_of_day % 60), (unsigned)(time_ms % 1000));
    tc_assert(written == (int)TC_AUDIT_TIME_TEXT_SIZE);
}

// Reads `count` decimal digits at text[at]; false if any is not a digit.
static bool digits_at(const char *text, uint32_t at, uint32_t count, uint32_t *value) {
    *value = 0;
    for (uint32_t i = 0; i < count; i++) {
        const char c = text[at + i];
        if (c < '0' || c > '9') return false;
        *value = *value * 10 + (uint32_t)(c - '0');
    }
    return true;
}

bool audit_time_parse(const char *text, size_t size, uint64_t *time_ms) {
    tc_assert(text != NULL && time_ms != NULL);
    if (size != TC_AUDIT_TIME_TEXT_SIZE) return false;
    // "YYYY-MM-DDTHH:MM:SS.mmmZ": separators at fixed positions.
    if (text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' ||
        text[16] != ':' || text[19] != '.' || text[23] != 'Z') {
        return false;
    }
    uint32_t year, month, day, hour, minute, second, millis;
    if (!digits_at(text, 0, 4, &year) || !digits_at(text, 5, 2, &month) ||
        !digits_at(text, 8, 2, &day) || !digits_at(text, 11, 2, &hour) ||
        !digits_at(text, 14, 2, &minute) || !digits_at(text, 17, 2, &second) ||
        !digits_at(text, 20, 3, &millis)) {
        return false;
    }
    if (year < 1970 || month < 1 || month > 12 || day < 1 || day > 31) return false;
    if (hour > 23 || minute > 59 || second > 59) return false;
    const int64_t days = days_from_civil(year, month, day);
    tc_assert(days >= 0);
    const uint64_t seconds =
        (uint64_t)days * 86400 + (uint64_t)hour * 3600 + (uint64_t)minute * 60 + second;
    *time_ms = seconds * 1000 + millis;
    // Dates such as February 30 normalise to another day: the round trip rejects them.
    char check[TC_AUDIT_TIME_TEXT_SIZE + 1];
    audit_time_format(*time_ms, check);
    return memcmp(check, text, TC_AUDIT_TIME_TEXT_SIZE) == 0;
}

bool audit_action_valid(const char *action, size_t size) {
    tc_assert(action != NULL);
    if (size == 0 || size > TC_AUDIT_ACTION_SIZE_MAX) return false;
    if (action[0] < 'a' || action[0] > 'z') return false;
    for (size_t i = 1; i < size; i++) {
        const char c = action[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
                        c == '_' || c == '-';
        if (!ok) return false;
    }
    return true;
}

void audit_sanitize(char *out, size_t size, const char *text) {
    tc_assert(out != NULL && size > 0);
    tc_assert(text != NULL);
    size_t i = 0;
    for (; i + 1 < size && text[i] != '\0'; i++) {
        const unsigned char c = (unsigned char)text[i];
        out[i] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
    }
    out[i] = '\0';
}

void audit_problem_set(struct audit_problem *problem, enum tc_audit_reason reason,
                       const char *format, ...) {
    tc_assert(problem != NULL);
    tc_assert(reason != TC_AUDIT_PASS);
    problem->reason = reason;
    va_list args;
    va_start(args, format);
    (void)vsnprintf(problem->detail, sizeof(problem->detail), format, args);
    va_end(args);
}
