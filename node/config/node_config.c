// The node's configuration file (docs/node-config.md): a line lexer, one table of keys that drives
// parsing, defaults and printing, cross-checks between keys, the JWT key file, room routing.
#include "node_config.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "../vsr/constants.h" // TC_REPLICAS_MAX, TC_CLIENTS_MAX, journal slot bounds (macros only)
#include "edge_utf8.h"
#include "tc_assert.h"
#include "tc_audit.h"
#include "tc_err.h"

_Static_assert(TC_NODE_CONFIG_GROUP_MEMBERS_MAX == TC_REPLICAS_MAX, "a group is one VSR group");
_Static_assert(TC_NODE_CONFIG_NODES_MAX < UINT16_MAX, "node ids fit uint16_t");
_Static_assert(sizeof(enum tc_node_config_bus) == sizeof(uint32_t), "enums are stored as u32");
_Static_assert(sizeof(enum tc_node_config_log_level) == sizeof(uint32_t), "enums are u32");
_Static_assert(sizeof(enum tc_node_config_log_format) == sizeof(uint32_t), "enums are u32");
_Static_assert(sizeof(enum tc_edge_jwt_alg) == sizeof(uint32_t), "enums are u32");
_Static_assert(TC_EDGE_JWT_HS256 == 1 && TC_EDGE_JWT_EDDSA == 2, "jwt_alg names[v - 1]");
_Static_assert(TC_NODE_CONFIG_KEY_FILE_SIZE_MAX >= 2 * TC_EDGE_JWT_KEY_SIZE_MAX + 2, "hex key");

#define LINE_SIZE_MAX 4096u
#define KEY_SIZE_MAX 64u
#define SHOWN_SIZE_MAX 80u // bytes of a value (or key) quoted in an error message
#define SUGGEST_DISTANCE_MAX 2u
#define KIB UINT64_C(1024)
#define MIB (KIB * 1024u)
#define GIB (MIB * 1024u)
#define STORE_SIZE_BYTES_MAX (1024u * GIB)     // store_segment_size x store_segments
#define CONNECTION_MEMORY_BYTES_MAX (64u * GIB) // connections_max x per-connection buffers
#define HOST_ANY "0.0.0.0"
#define HOST_LOOPBACK "127.0.0.1"

// ------------------------------------------------------------------------------------------------
// Spans and error reports.

struct span {
    const char *data;
    uint32_t size;
};

static struct span span_cstr(const char *text) {
    size_t size = strlen(text);
    tc_assert(size <= UINT32_MAX);
    return (struct span){.data = text, .size = (uint32_t)size};
}

static bool char_space(char c) { return c == ' ' || c == '\t'; }

static struct span span_trim(struct span s) {
    while (s.size > 0 && char_space(s.data[0])) {
        s.data++;
        s.size--;
    }
    while (s.size > 0 && char_space(s.data[s.size - 1])) s.size--;
    return s;
}

static bool span_equal(struct span s, const char *text) {
    return strlen(text) == s.size && memcmp(s.data, text, s.size) == 0;
}

// A bounded text writer: never overruns, always NUL-terminates (when size > 0), remembers overflow.
struct text {
    char *data;
    uint32_t size;
    uint32_t used;
    bool overflow;
};

__attribute__((format(printf, 2, 0))) static void text_vprintf(struct text *text,
                                                               const char *format, va_list args) {
    if (text->size == 0 || text->overflow) {
        text->overflow = true;
        return;
    }
    tc_assert(text->used < text->size);
    uint32_t free_size = text->size - text->used;
    int n = vsnprintf(text->data + text->used, free_size, format, args);
    tc_assert(n >= 0);
    if ((uint32_t)n >= free_size) {
        text->overflow = true;
        text->used = text->size - 1;
    } else {
        text->used += (uint32_t)n;
    }
}

__attribute__((format(printf, 2, 3))) static void text_printf(struct text *text, const char *format,
                                                              ...) {
    va_list args;
    va_start(args, format);
    text_vprintf(text, format, args);
    va_end(args);
}

// At most SHOWN_SIZE_MAX bytes of `s`, cut on a UTF-8 boundary, "..." marking a cut.
static void text_shown(struct text *text, struct span s) {
    uint32_t size = s.size;
    if (size > SHOWN_SIZE_MAX) {
        size = SHOWN_SIZE_MAX;
        while (size > 0 && ((uint8_t)s.data[size] & 0xC0u) == 0x80u) size--;
    }
    text_printf(text, "%.*s%s", (int)size, s.data, size < s.size ? "..." : "");
}

struct report {
    const char *name; // the config file, as given
    char *error;
    uint32_t error_size;
};

// Writes "name:line: key: "value": reason" (line 0, an empty key, a NULL value: left out).
// Returns TC_EINVAL, so that callers can `return report_fail(...)`.
__attribute__((format(printf, 5, 6))) static int report_fail(const struct report *report,
                                                             uint32_t line, struct span key,
                                                             const struct span *value,
                                                             const char *format, ...) {
    struct text text = {.data = report->error, .size = report->error_size};
    text_printf(&text, "%s:", report->name);
    if (line > 0) text_printf(&text, "%" PRIu32 ":", line);
    text_printf(&text, " ");
    if (key.size > 0) {
        text_shown(&text, key);
        text_printf(&text, ": ");
    }
    if (value != NULL) {
        text_printf(&text, "\"");
        text_shown(&text, *value);
        text_printf(&text, "\": ");
    }
    va_list args;
    va_start(args, format);
    text_vprintf(&text, format, args);
    va_end(args);
    return TC_EINVAL;
}

// ------------------------------------------------------------------------------------------------
// The key table: parsing, defaults and printing all follow it (printing in its order).

enum key_kind {
    KIND_SECTION, // a comment line in the printed config
    KIND_NUMBER,  // decimal, min..max
    KIND_SIZE,    // bytes, optional K/M/G suffix (binary), min..max
    KIND_ENUM,    // one of names[]: names[v - 1] is value v
    KIND_ADDRESS, // host:port
    KIND_PATH,    // 1..TC_NODE_CONFIG_PATH_SIZE_MAX bytes, no '"'
    KIND_NAME,    // 1..(field size - 1) of A-Z a-z 0-9 . _ - (jwt_tenant, zone)
    KIND_PEERS,   // peer.N
    KIND_GROUPS,  // group.G
};

#define KEY_REQUIRED 1u     // no default: the file must set it
#define KEY_OPTIONAL 2u     // no default: may stay unset ("" or port 0)
#define KEY_POWER_OF_TWO 4u // numbers and sizes
#define KEY_HOST_ANY 8u     // addresses: "*" (0.0.0.0) allowed

struct key {
    const char *name; // KIND_SECTION: the comment text
    enum key_kind kind;
    uint32_t flags;
    uint32_t offset; // of the field in struct tc_node_config
    uint32_t size;   // of the field
    uint64_t min;
    uint64_t max;
    uint64_t value_default; // numbers, sizes, enums without KEY_REQUIRED
    const char *const *names;
};

#define FIELD(field)                                                                               \
    .offset = (uint32_t)offsetof(struct tc_node_config, field),                                    \
    .size = (uint32_t)sizeof(((struct tc_node_config *)NULL)->field)
#define SECTION(text) {.name = text, .kind = KIND_SECTION}
#define NUMBER(key, field, lo, hi, def, fl)                                                        \
    {.name = key, .kind = KIND_NUMBER, .flags = fl, FIELD(field), .min = lo, .max = hi,            \
     .value_default = def}
#define SIZE(key, field, lo, hi, def, fl)                                                          \
    {.name = key, .kind = KIND_SIZE, .flags = fl, FIELD(field), .min = lo, .max = hi,              \
     .value_default = def}
#define ENUM(key, field, list, def)                                                                \
    {.name = key, .kind = KIND_ENUM, FIELD(field), .min = 1, .max = TC_ARRAY_COUNT(list) - 1u,     \
     .value_default = def, .names = list}
#define ADDRESS(key, field, fl) {.name = key, .kind = KIND_ADDRESS, .flags = fl, FIELD(field)}
#define PATH(key, field, fl) {.name = key, .kind = KIND_PATH, .flags = fl, FIELD(field)}

static const char *const names_alg[] = {"HS256", "EdDSA", NULL};
static const char *const names_bus[] = {"builtin", "redis", NULL};
static const char *const names_log_level[] = {"error", "warn", "info", "debug", NULL};
static const char *const names_log_format[] = {"text", "json", NULL};

static const struct key keys[] = {
    SECTION("Identity"),
    NUMBER("cluster", cluster, 1, UINT64_MAX, 0, KEY_REQUIRED),
    NUMBER("node", node_id, 1, TC_NODE_CONFIG_NODES_MAX, 0, KEY_REQUIRED),
    PATH("data_dir", data_dir, KEY_REQUIRED),
    SECTION("Network"),
    ADDRESS("listen_peer", listen_peer, KEY_REQUIRED | KEY_HOST_ANY),
    ADDRESS("listen_client", listen_client, KEY_REQUIRED | KEY_HOST_ANY),
    ADDRESS("listen_admin", listen_admin, KEY_REQUIRED | KEY_HOST_ANY),
    {.name = "peer", .kind = KIND_PEERS},
    {.name = "group", .kind = KIND_GROUPS},
    SECTION("Authentication (JWT)"),
    ENUM("jwt_alg", jwt.alg, names_alg, TC_EDGE_JWT_HS256),
    PATH("jwt_key_file", jwt_key_file, KEY_REQUIRED),
    NUMBER("jwt_leeway_s", jwt.leeway_s, 0, TC_EDGE_JWT_LEEWAY_S_MAX, 30, 0),
    NUMBER("jwt_lifetime_s_max", jwt.lifetime_s_max, 0, 366u * 86400u, 86400, 0),
    {.name = "jwt_tenant", .kind = KIND_NAME, .flags = KEY_OPTIONAL, FIELD(jwt.tenant)},
    SECTION("Replica sizing (the same on every node)"),
    NUMBER("journal_slots", journal_slot_count, TC_JOURNAL_SLOT_COUNT_MIN,
           TC_JOURNAL_SLOT_COUNT_MAX, 1024, KEY_POWER_OF_TWO),
    SIZE("store_segment_size", store_segment_size_bytes, 16 * KIB, 64 * MIB, MIB, KEY_POWER_OF_TWO),
    NUMBER("store_segments", store_segment_count, 2, 65536, 64, 0),
    NUMBER("clients_max", clients_max, 1, TC_CLIENTS_MAX, TC_CLIENTS_MAX, 0),
    NUMBER("rooms_max", rooms_max, 1, 1u << 21, 4096, 0),
    NUMBER("members_max", members_max, 2, 1u << 25, 65536, 0),
    NUMBER("idempotency_keys_max", idempotency_keys_max, 1, 1u << 23, 65536, 0),
    NUMBER("thread_messages_max", thread_messages_max, 1, 1u << 23, 16384, 0),
    SECTION("Edge limits"),
    NUMBER("connections_max", connections_max, 1, 1u << 20, 4096, 0),
    NUMBER("connections_per_user_max", connections_per_user_max, 1, 1024, 16, 0),
    NUMBER("subscriptions_per_connection_max", subscriptions_per_connection_max, 1, 1024, 64, 0),
    NUMBER("requests_in_flight_per_connection_max", requests_in_flight_per_connection_max, 1, 1024,
           32, 0),
    SIZE("send_buffer_size", send_buffer_size_bytes, MIB, 64 * MIB, MIB, 0),
    SIZE("message_size_max", message_size_bytes_max, 8 * KIB, MIB, 32 * KIB, 0),
    NUMBER("rate_connection_per_s", rate_connection_per_s, 1, 1000000, 50, 0),
    NUMBER("rate_connection_burst", rate_connection_burst, 1, 1000000, 100, 0),
    NUMBER("rate_user_per_s", rate_user_per_s, 1, 1000000, 100, 0),
    NUMBER("rate_user_burst", rate_user_burst, 1, 1000000, 200, 0),
    NUMBER("rate_handshake_per_ip_per_s", rate_handshake_per_ip_per_s, 1, 1000000, 20, 0),
    NUMBER("rate_handshake_per_ip_burst", rate_handshake_per_ip_burst, 1, 1000000, 50, 0),
    NUMBER("ping_interval_ms", ping_interval_ms, 1000, 3600000, 30000, 0),
    NUMBER("idle_timeout_ms", idle_timeout_ms, 1000, 3600000, 60000, 0),
    NUMBER("slow_consumer_timeout_ms", slow_consumer_timeout_ms, 1000, 3600000, 30000, 0),
    SECTION("Fan-out bus"),
    ENUM("bus", bus, names_bus, TC_NODE_CONFIG_BUS_BUILTIN),
    ADDRESS("redis", redis, KEY_OPTIONAL),
    SECTION("Logging"),
    ENUM("log_level", log_level, names_log_level, TC_NODE_CONFIG_LOG_INFO),
    ENUM("log_format", log_format, names_log_format, TC_NODE_CONFIG_LOG_TEXT),
    SECTION("TLS for the client listener (both or neither)"),
    PATH("tls_cert_file", tls_cert_file, KEY_OPTIONAL),
    PATH("tls_key_file", tls_key_file, KEY_OPTIONAL),
    SECTION("Controller (unset: the node never calls one)"),
    ADDRESS("controller", controller, KEY_OPTIONAL),
    PATH("controller_key_file", controller_key_file, KEY_OPTIONAL),
    PATH("node_key_file", node_key_file, KEY_OPTIONAL),
    {.name = "zone", .kind = KIND_NAME, .flags = KEY_OPTIONAL, FIELD(zone)},
    NUMBER("controller_interval_ms", controller_interval_ms, 200, 60000, 1000, 0),
};

#define KEY_COUNT (sizeof(keys) / sizeof(keys[0]))

static uint32_t key_index(const char *name) {
    for (uint32_t i = 0; i < KEY_COUNT; i++) {
        if (keys[i].kind != KIND_SECTION && strcmp(keys[i].name, name) == 0) return i;
    }
    tc_unreachable();
}

static uint8_t *field_of(struct tc_node_config *config, const struct key *key) {
    tc_assert(key->offset + key->size <= sizeof(*config));
    return (uint8_t *)config + key->offset;
}

static const uint8_t *field_of_const(const struct tc_node_config *config, const struct key *key) {
    tc_assert(key->offset + key->size <= sizeof(*config));
    return (const uint8_t *)config + key->offset;
}

static void field_write(struct tc_node_config *config, const struct key *key, uint64_t value) {
    tc_assert(value >= key->min && value <= key->max);
    uint8_t *field = field_of(config, key);
    if (key->size == sizeof(uint64_t)) {
        memcpy(field, &value, sizeof(value));
    } else if (key->size == sizeof(uint32_t)) {
        uint32_t v = (uint32_t)value;
        memcpy(field, &v, sizeof(v));
    } else {
        tc_assert(key->size == sizeof(uint16_t));
        uint16_t v = (uint16_t)value;
        memcpy(field, &v, sizeof(v));
    }
}

static uint64_t field_read(const struct tc_node_config *config, const struct key *key) {
    const uint8_t *field = field_of_const(config, key);
    if (key->size == sizeof(uint64_t)) {
        uint64_t v;
        memcpy(&v, field, sizeof(v));
        return v;
    }
    if (key->size == sizeof(uint32_t)) {
        uint32_t v;
        memcpy(&v, field, sizeof(v));
        return v;
    }
    tc_assert(key->size == sizeof(uint16_t));
    uint16_t v;
    memcpy(&v, field, sizeof(v));
    return v;
}

static bool power_of_two(uint64_t value) { return value != 0 && (value & (value - 1)) == 0; }

static void config_defaults(struct tc_node_config *config) {
    memset(config, 0, sizeof(*config));
    for (uint32_t i = 0; i < KEY_COUNT; i++) {
        const struct key *key = &keys[i];
        bool valued = key->kind == KIND_NUMBER || key->kind == KIND_SIZE || key->kind == KIND_ENUM;
        if (!valued || (key->flags & KEY_REQUIRED) != 0) continue;
        tc_assert((key->flags & KEY_OPTIONAL) == 0);
        tc_assert((key->flags & KEY_POWER_OF_TWO) == 0 || power_of_two(key->value_default));
        field_write(config, key, key->value_default);
    }
}

// ------------------------------------------------------------------------------------------------
// Values.

enum digits { DIGITS_OK, DIGITS_SYNTAX, DIGITS_OVERFLOW };

// Decimal without sign or leading zeros ("0" itself is fine).
static enum digits digits_parse(struct span s, uint64_t *out) {
    if (s.size == 0 || (s.size > 1 && s.data[0] == '0')) return DIGITS_SYNTAX;
    uint64_t value = 0;
    bool overflow = false;
    for (uint32_t i = 0; i < s.size; i++) {
        if (s.data[i] < '0' || s.data[i] > '9') return DIGITS_SYNTAX;
        uint64_t digit = (uint64_t)(s.data[i] - '0');
        if (value > (UINT64_MAX - digit) / 10u) overflow = true;
        value = value * 10u + digit;
    }
    *out = value;
    return overflow ? DIGITS_OVERFLOW : DIGITS_OK;
}

// "1048576" -> "1M": the largest binary suffix that divides the size.
static void size_format(uint64_t size, char *out, uint32_t out_size) {
    if (size != 0 && size % GIB == 0) {
        (void)snprintf(out, out_size, "%" PRIu64 "G", size / GIB);
    } else if (size != 0 && size % MIB == 0) {
        (void)snprintf(out, out_size, "%" PRIu64 "M", size / MIB);
    } else if (size != 0 && size % KIB == 0) {
        (void)snprintf(out, out_size, "%" PRIu64 "K", size / KIB);
    } else {
        (void)snprintf(out, out_size, "%" PRIu64, size);
    }
}

struct parser {
    struct report report;
    struct tc_node_config *config;
    uint32_t line;                 // being parsed; after the loop, the last line (at least 1)
    uint32_t key_lines[KEY_COUNT]; // where each table key was set; 0: not set
    uint32_t peer_lines[TC_NODE_CONFIG_NODES_MAX + 1]; // by node id
    uint32_t group_lines[TC_NODE_CONFIG_GROUPS_MAX];   // parallel to config->groups
};

static int range_fail(struct parser *p, const struct key *key, struct span value) {
    const char *power = (key->flags & KEY_POWER_OF_TWO) != 0 ? "a power of two in " : "";
    struct span name = span_cstr(key->name);
    if (key->kind == KIND_SIZE) {
        char min[24];
        char max[24];
        size_format(key->min, min, sizeof(min));
        size_format(key->max, max, sizeof(max));
        return report_fail(&p->report, p->line, name, &value, "must be %s%s..%s", power, min, max);
    }
    return report_fail(&p->report, p->line, name, &value, "must be %s%" PRIu64 "..%" PRIu64, power,
                       key->min, key->max);
}

static int value_number(struct parser *p, const struct key *key, struct span value) {
    uint64_t number = 0;
    enum digits digits = digits_parse(value, &number);
    if (digits == DIGITS_SYNTAX) {
        return report_fail(&p->report, p->line, span_cstr(key->name), &value,
                           "must be a decimal number (no sign, no leading zeros)");
    }
    bool power = (key->flags & KEY_POWER_OF_TWO) == 0 || power_of_two(number);
    if (digits == DIGITS_OVERFLOW || number < key->min || number > key->max || !power) {
        return range_fail(p, key, value);
    }
    field_write(p->config, key, number);
    return 0;
}

static int value_size(struct parser *p, const struct key *key, struct span value) {
    uint32_t shift = 0;
    struct span digits = value;
    char last = value.size > 0 ? value.data[value.size - 1] : '0';
    if (last < '0' || last > '9') {
        if (last == 'K') shift = 10;
        else if (last == 'M') shift = 20;
        else if (last == 'G') shift = 30;
        else {
            return report_fail(&p->report, p->line, span_cstr(key->name), &value,
                               "bad size suffix: bytes, or a number followed by K, M or G "
                               "(1K = 1024)");
        }
        digits.size--;
    }
    uint64_t number = 0;
    enum digits parsed = digits_parse(digits, &number);
    if (parsed == DIGITS_SYNTAX) {
        return report_fail(&p->report, p->line, span_cstr(key->name), &value,
                           "must be a size: decimal bytes with an optional K, M or G suffix");
    }
    if (parsed == DIGITS_OVERFLOW || number > (UINT64_MAX >> shift)) {
        return range_fail(p, key, value);
    }
    number <<= shift;
    bool power = (key->flags & KEY_POWER_OF_TWO) == 0 || power_of_two(number);
    if (number < key->min || number > key->max || !power) return range_fail(p, key, value);
    field_write(p->config, key, number);
    return 0;
}

static int value_enum(struct parser *p, const struct key *key, struct span value) {
    for (uint32_t i = 0; key->names[i] != NULL; i++) {
        if (span_equal(value, key->names[i])) {
            field_write(p->config, key, i + 1u);
            return 0;
        }
    }
    char buffer[128];
    struct text choices = {.data = buffer, .size = sizeof(buffer)};
    for (uint32_t i = 0; key->names[i] != NULL; i++) {
        text_printf(&choices, "%s%s", i == 0 ? "" : " | ", key->names[i]);
    }
    tc_assert(!choices.overflow);
    return report_fail(&p->report, p->line, span_cstr(key->name), &value, "must be %s",
                       choices.data);
}

// Strict dotted quad: four decimal parts 0..255, no leading zeros.
static bool ipv4_valid(struct span host) {
    if (host.size < 7 || host.size > TC_NODE_CONFIG_HOST_SIZE - 1) return false;
    uint32_t parts = 0;
    uint32_t start = 0;
    for (uint32_t i = 0; i <= host.size; i++) {
        if (i < host.size && host.data[i] != '.') continue;
        struct span part = {.data = host.data + start, .size = i - start};
        uint64_t value = 0;
        if (part.size > 3 || digits_parse(part, &value) != DIGITS_OK || value > 255) return false;
        parts++;
        start = i + 1;
    }
    return parts == 4;
}

// NULL on success, else the reason.
static const char *address_parse(struct span value, bool any_allowed,
                                 struct tc_node_config_address *out) {
    uint32_t colon = value.size;
    for (uint32_t i = 0; i < value.size; i++) {
        if (value.data[i] == ':') colon = i;
    }
    if (colon == value.size || colon == 0) return "expected host:port";
    struct span host = {.data = value.data, .size = colon};
    struct span port = {.data = value.data + colon + 1, .size = value.size - colon - 1};
    memset(out, 0, sizeof(*out));
    if (span_equal(host, "*")) {
        if (!any_allowed) return "* (any address) is only for listen_* keys; name a host";
        memcpy(out->host, HOST_ANY, sizeof(HOST_ANY));
    } else if (span_equal(host, "localhost")) {
        memcpy(out->host, HOST_LOOPBACK, sizeof(HOST_LOOPBACK));
    } else if (ipv4_valid(host)) {
        memcpy(out->host, host.data, host.size);
    } else {
        return any_allowed ? "host must be an IPv4 address (a.b.c.d), localhost or *"
                           : "host must be an IPv4 address (a.b.c.d) or localhost";
    }
    if (!any_allowed && strcmp(out->host, HOST_ANY) == 0) return "0.0.0.0 is not a peer address";
    uint64_t number = 0;
    if (digits_parse(port, &number) != DIGITS_OK || number < 1 || number > UINT16_MAX) {
        return "port must be 1..65535";
    }
    out->port = (uint16_t)number;
    return NULL;
}

static int value_address(struct parser *p, const struct key *key, struct span value) {
    struct tc_node_config_address address;
    const char *reason = address_parse(value, (key->flags & KEY_HOST_ANY) != 0, &address);
    if (reason != NULL) {
        return report_fail(&p->report, p->line, span_cstr(key->name), &value, "%s", reason);
    }
    tc_assert(key->size == sizeof(address));
    memcpy(field_of(p->config, key), &address, sizeof(address));
    return 0;
}

static int value_path(struct parser *p, const struct key *key, struct span value) {
    tc_assert(key->size == TC_NODE_CONFIG_PATH_SIZE_MAX + 1);
    if (value.size > TC_NODE_CONFIG_PATH_SIZE_MAX) {
        return report_fail(&p->report, p->line, span_cstr(key->name), &value,
                           "path is %" PRIu32 " bytes; at most %u", value.size,
                           TC_NODE_CONFIG_PATH_SIZE_MAX);
    }
    if (memchr(value.data, '"', value.size) != NULL) {
        return report_fail(&p->report, p->line, span_cstr(key->name), &value,
                           "a path must not contain '\"'");
    }
    char *field = (char *)field_of(p->config, key);
    memcpy(field, value.data, value.size);
    field[value.size] = '\0';
    return 0;
}

static int value_name(struct parser *p, const struct key *key, struct span value) {
    tc_assert(key->size == TC_EDGE_JWT_TENANT_SIZE_MAX + 1 ||
              key->size == TC_NODE_CONFIG_ZONE_SIZE_MAX + 1);
    const uint32_t size_max = key->size - 1;
    bool valid = value.size <= size_max;
    for (uint32_t i = 0; valid && i < value.size; i++) {
        char c = value.data[i];
        valid = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '.' || c == '_' || c == '-';
    }
    if (!valid) {
        return report_fail(&p->report, p->line, span_cstr(key->name), &value,
                           "must be 1..%u of A-Z a-z 0-9 . _ -", size_max);
    }
    char *field = (char *)field_of(p->config, key);
    memcpy(field, value.data, value.size);
    field[value.size] = '\0';
    tc_assert(strlen(field) <= size_max);
    return 0;
}

static int value_set(struct parser *p, const struct key *key, struct span value) {
    switch (key->kind) {
    case KIND_NUMBER: return value_number(p, key, value);
    case KIND_SIZE: return value_size(p, key, value);
    case KIND_ENUM: return value_enum(p, key, value);
    case KIND_ADDRESS: return value_address(p, key, value);
    case KIND_PATH: return value_path(p, key, value);
    case KIND_NAME: return value_name(p, key, value);
    case KIND_SECTION:
    case KIND_PEERS:
    case KIND_GROUPS: break;
    }
    tc_unreachable();
}

// ------------------------------------------------------------------------------------------------
// Peers and groups.

static bool address_equal(const struct tc_node_config_address *a,
                          const struct tc_node_config_address *b) {
    return a->port == b->port && strcmp(a->host, b->host) == 0;
}

static int peer_set(struct parser *p, struct span key, struct span index, struct span value) {
    struct tc_node_config *config = p->config;
    uint64_t node = 0;
    if (digits_parse(index, &node) != DIGITS_OK || node < 1 || node > TC_NODE_CONFIG_NODES_MAX) {
        return report_fail(&p->report, p->line, key, NULL,
                           "the index must be a node id 1..%u (no leading zeros)",
                           TC_NODE_CONFIG_NODES_MAX);
    }
    if (p->peer_lines[node] != 0) {
        return report_fail(&p->report, p->line, key, NULL,
                           "duplicate key (first set on line %" PRIu32 ")", p->peer_lines[node]);
    }
    struct tc_node_config_address address;
    const char *reason = address_parse(value, false, &address);
    if (reason != NULL) return report_fail(&p->report, p->line, key, &value, "%s", reason);
    for (uint32_t i = 0; i < config->peer_count; i++) {
        const struct tc_node_config_peer *other = &config->peers[i];
        if (address_equal(&other->address, &address)) {
            return report_fail(&p->report, p->line, key, &value,
                               "same address as peer.%u (line %" PRIu32 ")", other->node_id,
                               p->peer_lines[other->node_id]);
        }
    }
    tc_assert(config->peer_count < TC_NODE_CONFIG_NODES_MAX);
    config->peers[config->peer_count++] =
        (struct tc_node_config_peer){.node_id = (uint16_t)node, .address = address};
    p->peer_lines[node] = p->line;
    return 0;
}

static int group_members_parse(struct parser *p, struct span key, struct span value,
                               struct tc_node_config_group *group) {
    uint32_t start = 0;
    for (;;) {
        uint32_t end = start;
        while (end < value.size && value.data[end] != ',') end++;
        struct span member =
            span_trim((struct span){.data = value.data + start, .size = end - start});
        uint64_t node = 0;
        if (digits_parse(member, &node) != DIGITS_OK || node < 1 ||
            node > TC_NODE_CONFIG_NODES_MAX) {
            return report_fail(&p->report, p->line, key, &value,
                               "member \"%.*s\" is not a node id 1..%u", (int)member.size,
                               member.data, TC_NODE_CONFIG_NODES_MAX);
        }
        if (group->member_count == TC_NODE_CONFIG_GROUP_MEMBERS_MAX) {
            return report_fail(&p->report, p->line, key, &value,
                               "more than %u members (a group has 1, 3 or 5)",
                               TC_NODE_CONFIG_GROUP_MEMBERS_MAX);
        }
        for (uint32_t i = 0; i < group->member_count; i++) {
            if (group->members[i] == node) {
                return report_fail(&p->report, p->line, key, &value,
                                   "node %" PRIu64 " is listed twice (each member holds its own "
                                   "replica slot)", node);
            }
        }
        group->members[group->member_count++] = (uint16_t)node;
        if (end == value.size) break;
        start = end + 1;
    }
    if (group->member_count % 2 == 0) {
        return report_fail(&p->report, p->line, key, &value,
                           "%" PRIu32 " members: a group has 1, 3 or 5 (an odd count, so that a "
                           "majority is a quorum)", group->member_count);
    }
    return 0;
}

static int group_set(struct parser *p, struct span key, struct span index, struct span value) {
    struct tc_node_config *config = p->config;
    uint64_t id = 0;
    if (digits_parse(index, &id) != DIGITS_OK || id < 1 || id > TC_NODE_CONFIG_GROUP_ID_MAX) {
        return report_fail(&p->report, p->line, key, NULL,
                           "the index must be a group id 1..%u (no leading zeros)",
                           TC_NODE_CONFIG_GROUP_ID_MAX);
    }
    for (uint32_t i = 0; i < config->group_count; i++) {
        if (config->groups[i].id == id) {
            return report_fail(&p->report, p->line, key, NULL,
                               "duplicate key (first set on line %" PRIu32 ")", p->group_lines[i]);
        }
    }
    if (config->group_count == TC_NODE_CONFIG_GROUPS_MAX) {
        return report_fail(&p->report, p->line, key, NULL, "more than %u groups",
                           TC_NODE_CONFIG_GROUPS_MAX);
    }
    struct tc_node_config_group group;
    memset(&group, 0, sizeof(group)); // padding too: configs compare with memcmp
    group.id = (uint32_t)id;
    int result = group_members_parse(p, key, value, &group);
    if (result != 0) return result;
    p->group_lines[config->group_count] = p->line;
    config->groups[config->group_count++] = group;
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Lines.

static uint32_t edit_distance(struct span a, const char *b) {
    uint32_t b_size = (uint32_t)strlen(b);
    tc_assert(a.size <= KEY_SIZE_MAX && b_size <= KEY_SIZE_MAX);
    uint32_t row[KEY_SIZE_MAX + 1];
    for (uint32_t j = 0; j <= b_size; j++) row[j] = j;
    for (uint32_t i = 1; i <= a.size; i++) {
        uint32_t diagonal = row[0];
        row[0] = i;
        for (uint32_t j = 1; j <= b_size; j++) {
            uint32_t above = row[j];
            uint32_t best = diagonal + (a.data[i - 1] == b[j - 1] ? 0u : 1u);
            if (above + 1 < best) best = above + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[b_size];
}

static int unknown_fail(struct parser *p, struct span key) {
    const char *best = NULL;
    uint32_t best_distance = SUGGEST_DISTANCE_MAX + 1;
    for (uint32_t i = 0; i < KEY_COUNT; i++) {
        if (keys[i].kind == KIND_SECTION) continue;
        uint32_t distance = edit_distance(key, keys[i].name);
        if (distance < best_distance) {
            best = keys[i].name;
            best_distance = distance;
        }
    }
    if (best == NULL) return report_fail(&p->report, p->line, key, NULL, "unknown key");
    const char *index = strcmp(best, "peer") == 0 ? ".N" : strcmp(best, "group") == 0 ? ".G" : "";
    return report_fail(&p->report, p->line, key, NULL, "unknown key (did you mean %s%s?)", best,
                       index);
}

static int key_set(struct parser *p, struct span key, struct span value) {
    const char *dot = memchr(key.data, '.', key.size);
    for (uint32_t i = 0; i < KEY_COUNT; i++) {
        const struct key *entry = &keys[i];
        if (entry->kind == KIND_SECTION) continue;
        bool indexed = entry->kind == KIND_PEERS || entry->kind == KIND_GROUPS;
        if (indexed != (dot != NULL)) continue;
        uint32_t name_size = dot == NULL ? key.size : (uint32_t)(dot - key.data);
        if (!span_equal((struct span){.data = key.data, .size = name_size}, entry->name)) continue;
        if (indexed) {
            struct span index = {.data = dot + 1, .size = key.size - name_size - 1};
            if (entry->kind == KIND_PEERS) return peer_set(p, key, index, value);
            return group_set(p, key, index, value);
        }
        if (p->key_lines[i] != 0) {
            return report_fail(&p->report, p->line, key, NULL,
                               "duplicate key (first set on line %" PRIu32 ")", p->key_lines[i]);
        }
        int result = value_set(p, entry, value);
        if (result == 0) p->key_lines[i] = p->line;
        return result;
    }
    return unknown_fail(p, key);
}

static int line_bytes_check(struct parser *p, struct span line) {
    if (line.size > LINE_SIZE_MAX) {
        return report_fail(&p->report, p->line, (struct span){0}, NULL,
                           "line is longer than %u bytes", LINE_SIZE_MAX);
    }
    for (uint32_t i = 0; i < line.size; i++) {
        uint8_t c = (uint8_t)line.data[i];
        if ((c < 0x20u && c != '\t') || c == 0x7Fu) {
            return report_fail(&p->report, p->line, (struct span){0}, NULL,
                               "control character 0x%02X in column %" PRIu32, c, i + 1);
        }
    }
    if (!tc_edge_utf8_valid((const uint8_t *)line.data, line.size)) {
        return report_fail(&p->report, p->line, (struct span){0}, NULL, "not valid UTF-8");
    }
    return 0;
}

static int key_syntax_check(struct parser *p, struct span key) {
    if (key.size == 0) {
        return report_fail(&p->report, p->line, (struct span){0}, NULL,
                           "expected \"key = value\"");
    }
    bool valid = key.size <= KEY_SIZE_MAX;
    for (uint32_t i = 0; valid && i < key.size; i++) {
        char c = key.data[i];
        valid = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '.';
    }
    if (!valid) {
        return report_fail(&p->report, p->line, key, NULL,
                           "a key is 1..%u of a-z 0-9 _ . (expected \"key = value\")",
                           KEY_SIZE_MAX);
    }
    return 0;
}

// `rest` follows the '=' and is left-trimmed.
static int value_split(struct parser *p, struct span key, struct span rest, struct span *value) {
    if (rest.size > 0 && rest.data[0] == '"') {
        const char *close = memchr(rest.data + 1, '"', rest.size - 1);
        if (close == NULL) {
            return report_fail(&p->report, p->line, key, NULL,
                               "unterminated quoted value (a quoted value cannot contain '\"')");
        }
        *value = (struct span){.data = rest.data + 1, .size = (uint32_t)(close - rest.data - 1)};
        uint32_t after_start = (uint32_t)(close - rest.data) + 1;
        struct span after =
            span_trim((struct span){.data = close + 1, .size = rest.size - after_start});
        if (after.size > 0 && after.data[0] != '#') {
            return report_fail(&p->report, p->line, key, NULL,
                               "unexpected text after the closing quote");
        }
    } else {
        uint32_t end = 0;
        while (end < rest.size &&
               !(rest.data[end] == '#' && (end == 0 || char_space(rest.data[end - 1])))) {
            end++;
        }
        *value = span_trim((struct span){.data = rest.data, .size = end});
    }
    if (value->size == 0) {
        return report_fail(&p->report, p->line, key, NULL,
                           "empty value (leave the key out to use its default)");
    }
    return 0;
}

static int line_parse(struct parser *p, struct span line) {
    if (line.size > 0 && line.data[line.size - 1] == '\r') line.size--;
    int result = line_bytes_check(p, line);
    if (result != 0) return result;
    line = span_trim(line);
    if (line.size == 0 || line.data[0] == '#') return 0;
    uint32_t i = 0;
    while (i < line.size && !char_space(line.data[i]) && line.data[i] != '=') i++;
    struct span key = {.data = line.data, .size = i};
    result = key_syntax_check(p, key);
    if (result != 0) return result;
    while (i < line.size && char_space(line.data[i])) i++;
    if (i == line.size || line.data[i] != '=') {
        return report_fail(&p->report, p->line, key, NULL, "expected \"=\" after the key");
    }
    struct span rest =
        span_trim((struct span){.data = line.data + i + 1, .size = line.size - i - 1});
    struct span value = {.data = NULL, .size = 0};
    result = value_split(p, key, rest, &value);
    if (result != 0) return result;
    return key_set(p, key, value);
}

static int text_parse(struct parser *p, const char *text, uint32_t text_size) {
    if (text_size > TC_NODE_CONFIG_TEXT_SIZE_MAX) {
        return report_fail(&p->report, 0, (struct span){0}, NULL,
                           "larger than %u bytes", TC_NODE_CONFIG_TEXT_SIZE_MAX);
    }
    p->line = 0;
    uint32_t start = 0;
    if (text_size >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) start = 3; // a UTF-8 BOM
    while (start < text_size) {
        const char *newline = memchr(text + start, '\n', text_size - start);
        uint32_t end = newline == NULL ? text_size : (uint32_t)(newline - text);
        p->line++;
        int result = line_parse(p, (struct span){.data = text + start, .size = end - start});
        if (result != 0) return result;
        start = end + 1;
    }
    if (p->line == 0) p->line = 1;
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Checks across keys, once the whole file is read. Each names the line of the key at fault.

static uint32_t line_of(const struct parser *p, const char *name) {
    return p->key_lines[key_index(name)];
}

static const struct tc_node_config_peer *peer_lookup(const struct tc_node_config *config,
                                                     uint32_t node) {
    for (uint32_t i = 0; i < config->peer_count; i++) {
        if (config->peers[i].node_id == node) return &config->peers[i];
    }
    return NULL;
}

static int check_required(struct parser *p) {
    for (uint32_t i = 0; i < KEY_COUNT; i++) {
        if ((keys[i].flags & KEY_REQUIRED) != 0 && p->key_lines[i] == 0) {
            return report_fail(&p->report, p->line, span_cstr(keys[i].name), NULL,
                               "required key is missing (no default)");
        }
    }
    if (p->config->peer_count == 0) {
        return report_fail(&p->report, p->line, span_cstr("peer.N"), NULL,
                           "required key is missing: one peer.N = host:port per node");
    }
    // Without groups the node hosts and routes what the controller's topology places
    // (docs/node.md §15); without a controller it would have nothing to serve.
    if (p->config->group_count == 0 && p->config->controller.port == 0) {
        return report_fail(&p->report, p->line, span_cstr("group.G"), NULL,
                           "required key is missing: at least one group.G = node,node,node "
                           "(or controller = host:port, whose topology places the groups)");
    }
    return 0;
}

static int check_self(struct parser *p) {
    const struct tc_node_config *config = p->config;
    const struct tc_node_config_peer *self = peer_lookup(config, config->node_id);
    if (self == NULL) {
        return report_fail(&p->report, line_of(p, "node"), span_cstr("node"), NULL,
                           "this node (%u) has no peer.%u line", config->node_id, config->node_id);
    }
    const struct tc_node_config_address *listen = &config->listen_peer;
    uint32_t self_line = p->peer_lines[config->node_id];
    if (listen->port != self->address.port) {
        return report_fail(&p->report, line_of(p, "listen_peer"), span_cstr("listen_peer"), NULL,
                           "port %u differs from peer.%u's port %u (line %" PRIu32 ")",
                           listen->port, config->node_id, self->address.port, self_line);
    }
    if (strcmp(listen->host, HOST_ANY) != 0 && strcmp(listen->host, self->address.host) != 0) {
        return report_fail(&p->report, line_of(p, "listen_peer"), span_cstr("listen_peer"), NULL,
                           "host %s differs from peer.%u's host %s (line %" PRIu32 "); use * or "
                           "the same host", listen->host, config->node_id, self->address.host,
                           self_line);
    }
    return 0;
}

// Whether binding `listen` could collide with a socket bound to `other` on the same machine.
static bool listen_overlap(const struct tc_node_config_address *listen,
                           const struct tc_node_config_address *other) {
    if (listen->port != other->port) return false;
    return strcmp(listen->host, other->host) == 0 || strcmp(listen->host, HOST_ANY) == 0 ||
           strcmp(other->host, HOST_ANY) == 0;
}

static int check_listen_other_peers(struct parser *p, const char *name,
                                    const struct tc_node_config_address *listen) {
    const struct tc_node_config *config = p->config;
    for (uint32_t i = 0; i < config->peer_count; i++) {
        const struct tc_node_config_peer *peer = &config->peers[i];
        if (peer->node_id == config->node_id || listen->port != peer->address.port) continue;
        // Another node listens there: the same host, or a loopback host (this machine).
        bool local = strncmp(peer->address.host, "127.", 4) == 0;
        if (strcmp(listen->host, peer->address.host) == 0 ||
            (local && strcmp(listen->host, HOST_ANY) == 0)) {
            return report_fail(&p->report, line_of(p, name), span_cstr(name), NULL,
                               "%s:%u is also peer.%u's address (line %" PRIu32 ")", listen->host,
                               listen->port, peer->node_id, p->peer_lines[peer->node_id]);
        }
    }
    return 0;
}

static int check_listen(struct parser *p) {
    const struct tc_node_config *config = p->config;
    const char *names[3] = {"listen_peer", "listen_client", "listen_admin"};
    const struct tc_node_config_address *addresses[3] = {
        &config->listen_peer, &config->listen_client, &config->listen_admin};
    for (uint32_t i = 0; i < 3; i++) {
        for (uint32_t j = 0; j < i; j++) {
            if (!listen_overlap(addresses[i], addresses[j])) continue;
            uint32_t later = line_of(p, names[i]) > line_of(p, names[j]) ? i : j;
            uint32_t earlier = later == i ? j : i;
            return report_fail(&p->report, line_of(p, names[later]), span_cstr(names[later]),
                               NULL, "port %u is also %s's (line %" PRIu32 ")",
                               addresses[later]->port, names[earlier], line_of(p, names[earlier]));
        }
        int result = check_listen_other_peers(p, names[i], addresses[i]);
        if (result != 0) return result;
    }
    return 0;
}

static int check_groups(struct parser *p) {
    const struct tc_node_config *config = p->config;
    for (uint32_t i = 0; i < config->group_count; i++) {
        const struct tc_node_config_group *group = &config->groups[i];
        for (uint32_t m = 0; m < group->member_count; m++) {
            if (peer_lookup(config, group->members[m]) != NULL) continue;
            char key[32];
            (void)snprintf(key, sizeof(key), "group.%" PRIu32, group->id);
            return report_fail(&p->report, p->group_lines[i], span_cstr(key), NULL,
                               "member %u is not a declared peer (no peer.%u line)",
                               group->members[m], group->members[m]);
        }
    }
    return 0;
}

// The key set last among `names` (a check between them names it); at least one is set.
static const char *key_latest(const struct parser *p, const char *const *names, uint32_t count) {
    const char *latest = names[0];
    for (uint32_t i = 1; i < count; i++) {
        if (line_of(p, names[i]) > line_of(p, latest)) latest = names[i];
    }
    tc_assert(line_of(p, latest) != 0); // the defaults pass every check
    return latest;
}

static int check_pair_fail(struct parser *p, const char *a, const char *b, const char *relation,
                           uint64_t value_a, uint64_t value_b) {
    const char *names[2] = {a, b};
    const char *name = key_latest(p, names, 2);
    return report_fail(&p->report, line_of(p, name), span_cstr(name), NULL,
                       "%s = %" PRIu64 " %s %s = %" PRIu64, a, value_a, relation, b, value_b);
}

static int check_bus_tls(struct parser *p) {
    const struct tc_node_config *config = p->config;
    bool redis = config->redis.port != 0;
    if (config->bus == TC_NODE_CONFIG_BUS_REDIS && !redis) {
        return report_fail(&p->report, line_of(p, "bus"), span_cstr("bus"), NULL,
                           "bus = redis needs a redis = host:port line");
    }
    if (config->bus == TC_NODE_CONFIG_BUS_BUILTIN && redis) {
        return report_fail(&p->report, line_of(p, "redis"), span_cstr("redis"), NULL,
                           "set, but bus is builtin (set bus = redis, or remove redis)");
    }
    bool cert = config->tls_cert_file[0] != '\0';
    bool key = config->tls_key_file[0] != '\0';
    if (cert != key) {
        const char *set = cert ? "tls_cert_file" : "tls_key_file";
        return report_fail(&p->report, line_of(p, set), span_cstr(set), NULL,
                           "set without %s (set both or neither)",
                           cert ? "tls_key_file" : "tls_cert_file");
    }
    return 0;
}

static int check_limits(struct parser *p) {
    const struct tc_node_config *config = p->config;
    if (config->idle_timeout_ms <= config->ping_interval_ms) {
        return check_pair_fail(p, "idle_timeout_ms", "ping_interval_ms", "must be more than",
                               config->idle_timeout_ms, config->ping_interval_ms);
    }
    if (config->connections_per_user_max > config->connections_max) {
        return check_pair_fail(p, "connections_per_user_max", "connections_max",
                               "must be at most", config->connections_per_user_max,
                               config->connections_max);
    }
    uint64_t store = (uint64_t)config->store_segment_size_bytes * config->store_segment_count;
    if (store > STORE_SIZE_BYTES_MAX) {
        const char *names[2] = {"store_segment_size", "store_segments"};
        const char *name = key_latest(p, names, 2);
        return report_fail(&p->report, line_of(p, name), span_cstr(name), NULL,
                           "store_segment_size x store_segments = %" PRIu64 " bytes; at most "
                           "1 TiB", store);
    }
    uint64_t per_connection =
        (uint64_t)config->send_buffer_size_bytes + config->message_size_bytes_max;
    uint64_t memory = per_connection * config->connections_max;
    if (memory > CONNECTION_MEMORY_BYTES_MAX) {
        const char *names[3] = {"connections_max", "send_buffer_size", "message_size_max"};
        const char *name = key_latest(p, names, 3);
        return report_fail(&p->report, line_of(p, name), span_cstr(name), NULL,
                           "connections_max x (send_buffer_size + message_size_max) = %" PRIu64
                           " bytes; at most 64 GiB", memory);
    }
    return 0;
}

// controller_key_file iff controller; node_key_file defaults to <data_dir>/node.key when that fits.
static int check_controller(struct parser *p) {
    struct tc_node_config *config = p->config;
    const bool controller = config->controller.port != 0;
    const bool key_file = config->controller_key_file[0] != '\0';
    if (controller && !key_file) {
        return report_fail(&p->report, line_of(p, "controller"),
                           span_cstr("controller_key_file"), NULL,
                           "required when controller is set: the controller's public key file "
                           "(tigerchat-ed25519-public-v1 <hex>, e.g. controller.key.pub)");
    }
    if (!controller && key_file) {
        return report_fail(&p->report, line_of(p, "controller_key_file"),
                           span_cstr("controller_key_file"), NULL,
                           "set, but controller is unset (set controller = host:port, or remove "
                           "controller_key_file)");
    }
    if (config->node_key_file[0] != '\0') return 0;
    const size_t data_dir_size = strlen(config->data_dir);
    const size_t default_size = data_dir_size + 1 + strlen(TC_NODE_CONFIG_NODE_KEY_FILE_DEFAULT);
    if (default_size <= TC_NODE_CONFIG_PATH_SIZE_MAX) {
        const int n = snprintf(config->node_key_file, sizeof(config->node_key_file), "%s/%s",
                               config->data_dir, TC_NODE_CONFIG_NODE_KEY_FILE_DEFAULT);
        tc_assert(n > 0 && (size_t)n == default_size);
        return 0;
    }
    if (!controller) return 0; // no key is needed; format says so if asked to create one
    return report_fail(&p->report, line_of(p, "data_dir"), span_cstr("node_key_file"), NULL,
                       "data_dir is too long for the default <data_dir>/%s (at most %u bytes): "
                       "set node_key_file", TC_NODE_CONFIG_NODE_KEY_FILE_DEFAULT,
                       TC_NODE_CONFIG_PATH_SIZE_MAX);
}

static void config_sort(struct tc_node_config *config) {
    for (uint32_t i = 1; i < config->peer_count; i++) {
        struct tc_node_config_peer peer = config->peers[i];
        uint32_t j = i;
        for (; j > 0 && config->peers[j - 1].node_id > peer.node_id; j--) {
            config->peers[j] = config->peers[j - 1];
        }
        config->peers[j] = peer;
    }
    for (uint32_t i = 1; i < config->group_count; i++) {
        struct tc_node_config_group group = config->groups[i];
        uint32_t j = i;
        for (; j > 0 && config->groups[j - 1].id > group.id; j--) {
            config->groups[j] = config->groups[j - 1];
        }
        config->groups[j] = group;
    }
    for (uint32_t i = 1; i < config->peer_count; i++) {
        tc_assert(config->peers[i - 1].node_id < config->peers[i].node_id);
    }
    for (uint32_t i = 1; i < config->group_count; i++) {
        tc_assert(config->groups[i - 1].id < config->groups[i].id);
    }
}

int tc_node_config_parse(struct tc_node_config *config, const char *name, const char *text,
                         uint32_t text_size, char *error, uint32_t error_size) {
    tc_assert(config != NULL);
    tc_assert(name != NULL);
    tc_assert(text != NULL || text_size == 0);
    tc_assert(error != NULL || error_size == 0);
    if (error_size > 0) error[0] = '\0';
    struct parser parser;
    memset(&parser, 0, sizeof(parser));
    parser.report = (struct report){.name = name, .error = error, .error_size = error_size};
    parser.config = config;
    config_defaults(config);
    int result = text_parse(&parser, text, text_size);
    if (result == 0) result = check_required(&parser);
    if (result == 0) result = check_self(&parser);
    if (result == 0) result = check_listen(&parser);
    if (result == 0) result = check_groups(&parser);
    if (result == 0) result = check_bus_tls(&parser);
    if (result == 0) result = check_limits(&parser);
    if (result == 0) result = check_controller(&parser);
    if (result != 0) {
        tc_assert(result == TC_EINVAL);
        tc_assert(error_size == 0 || error[0] != '\0');
        memset(config, 0, sizeof(*config));
        return result;
    }
    config->jwt_key_file_line = line_of(&parser, "jwt_key_file");
    config->controller_key_file_line = line_of(&parser, "controller_key_file");
    config_sort(config);
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Files: the config file and the JWT key file.

// Reads at most `capacity` bytes of `path` into buffer; *size = capacity means "maybe more".
static int file_read(const char *path, uint8_t *buffer, uint32_t capacity, uint32_t *size,
                     int *error_number) {
    *size = 0;
    *error_number = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *error_number = errno;
        return errno == ENOENT ? TC_ENOENT : TC_EIO;
    }
    int result = TC_OK;
    while (*size < capacity) {
        ssize_t n = read(fd, buffer + *size, capacity - *size);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            *error_number = errno;
            result = TC_EIO;
            break;
        }
        if (n == 0) break;
        *size += (uint32_t)n;
    }
    (void)close(fd);
    tc_assert(*size <= capacity);
    return result;
}

static int hex_digit(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Hex text (an even count of hex digits, one trailing newline allowed) or raw bytes. Returns the
// key size, or size + 1 if it does not fit `key`; *hex tells which form was read.
static uint32_t key_decode(const uint8_t *data, uint32_t size, uint8_t *key, uint32_t key_capacity,
                           bool *hex) {
    uint32_t text_size = size;
    if (text_size > 0 && data[text_size - 1] == '\n') text_size--;
    if (text_size > 0 && data[text_size - 1] == '\r') text_size--;
    *hex = text_size > 0 && text_size % 2 == 0;
    for (uint32_t i = 0; *hex && i < text_size; i++) *hex = hex_digit(data[i]) >= 0;
    uint32_t key_size = *hex ? text_size / 2 : size;
    if (key_size > key_capacity) return key_capacity + 1;
    for (uint32_t i = 0; i < key_size; i++) {
        key[i] = *hex ? (uint8_t)(hex_digit(data[2 * i]) * 16 + hex_digit(data[2 * i + 1]))
                      : data[i];
    }
    return key_size;
}

static int key_size_check(const struct report *report, const struct tc_node_config *config,
                          struct span path, uint32_t key_size, bool hex) {
    const char *form = hex ? "hex digits, decoded" : "raw bytes";
    struct span name = span_cstr("jwt_key_file");
    uint32_t line = config->jwt_key_file_line;
    if (config->jwt.alg == TC_EDGE_JWT_HS256 && (key_size < 32 || key_size > 64)) {
        return report_fail(report, line, name, &path,
                           "an HS256 secret has 32..64 bytes; this one has %" PRIu32 "%s (%s)",
                           key_size, key_size > 64 ? " or more" : "", form);
    }
    if (config->jwt.alg == TC_EDGE_JWT_EDDSA && key_size != 32) {
        return report_fail(report, line, name, &path,
                           "an Ed25519 public key has 32 bytes; this one has %" PRIu32 "%s (%s)",
                           key_size, key_size > 64 ? " or more" : "", form);
    }
    return 0;
}

int tc_node_config_jwt_key_read(struct tc_node_config *config, const char *name, char *error,
                                uint32_t error_size) {
    tc_assert(config != NULL && name != NULL);
    tc_assert(error != NULL || error_size == 0);
    tc_assert(config->jwt_key_file[0] != '\0');
    tc_assert(config->jwt.alg == TC_EDGE_JWT_HS256 || config->jwt.alg == TC_EDGE_JWT_EDDSA);
    if (error_size > 0) error[0] = '\0';
    struct report report = {.name = name, .error = error, .error_size = error_size};
    struct span path = span_cstr(config->jwt_key_file);
    struct span key_name = span_cstr("jwt_key_file");
    uint32_t line = config->jwt_key_file_line;
    uint8_t buffer[TC_NODE_CONFIG_KEY_FILE_SIZE_MAX + 1];
    uint32_t size = 0;
    int error_number = 0;
    int result = file_read(config->jwt_key_file, buffer, sizeof(buffer), &size, &error_number);
    if (result != 0) {
        sodium_memzero(buffer, sizeof(buffer));
        (void)report_fail(&report, line, key_name, &path, "cannot read: %s",
                          strerror(error_number));
        return result;
    }
    bool hex = false;
    memset(config->jwt.key, 0, sizeof(config->jwt.key));
    config->jwt.key_size = 0;
    uint32_t key_size = 0;
    if (size == 0) {
        result = report_fail(&report, line, key_name, &path, "the key file is empty");
    } else if (size > TC_NODE_CONFIG_KEY_FILE_SIZE_MAX) {
        result = report_fail(&report, line, key_name, &path, "larger than %u bytes: not a key",
                             TC_NODE_CONFIG_KEY_FILE_SIZE_MAX);
    } else {
        key_size = key_decode(buffer, size, config->jwt.key, sizeof(config->jwt.key), &hex);
        result = key_size_check(&report, config, path, key_size, hex);
    }
    sodium_memzero(buffer, sizeof(buffer));
    if (result == 0) {
        config->jwt.key_size = key_size;
        const char *invalid = tc_edge_jwt_config_invalid(&config->jwt);
        if (invalid != NULL) result = report_fail(&report, line, key_name, &path, "%s", invalid);
    }
    if (result != 0) {
        sodium_memzero(config->jwt.key, sizeof(config->jwt.key));
        config->jwt.key_size = 0;
    }
    return result;
}

int tc_node_config_controller_key_read(struct tc_node_config *config, const char *name,
                                       char *error, uint32_t error_size) {
    tc_assert(config != NULL && name != NULL);
    tc_assert(error != NULL || error_size == 0);
    tc_assert(config->controller.port != 0);
    tc_assert(config->controller_key_file[0] != '\0');
    if (error_size > 0) error[0] = '\0';
    struct report report = {.name = name, .error = error, .error_size = error_size};
    struct span path = span_cstr(config->controller_key_file);
    struct span key_name = span_cstr("controller_key_file");
    const uint32_t line = config->controller_key_file_line;
    memset(config->controller_key, 0, sizeof(config->controller_key));
    // Opened here first for errno's message; tc_audit_key_load_public reads and checks it.
    const int fd = open(config->controller_key_file, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        const int error_number = errno;
        (void)report_fail(&report, line, key_name, &path, "cannot read: %s",
                          strerror(error_number));
        return error_number == ENOENT ? TC_ENOENT : TC_EIO;
    }
    (void)close(fd);
    struct tc_audit_public_key key;
    const int result = tc_audit_key_load_public(config->controller_key_file, &key);
    if (result == TC_EINVAL) {
        return report_fail(&report, line, key_name, &path,
                           "not a public key file: expected one line \"tigerchat-ed25519-public-v1 "
                           "<64 hex digits>\" holding a valid Ed25519 key (the controller's "
                           "controller.key.pub)");
    }
    if (result != 0) {
        (void)report_fail(&report, line, key_name, &path, "cannot read: %s", tc_strerror(result));
        return result;
    }
    _Static_assert(sizeof(key.bytes) == sizeof(config->controller_key), "an Ed25519 public key");
    memcpy(config->controller_key, key.bytes, sizeof(config->controller_key));
    return 0;
}

int tc_node_config_load(struct tc_node_config *config, const char *path, char *error,
                        uint32_t error_size) {
    tc_assert(config != NULL && path != NULL);
    tc_assert(error != NULL || error_size == 0);
    memset(config, 0, sizeof(*config));
    struct report report = {.name = path, .error = error, .error_size = error_size};
    uint32_t capacity = TC_NODE_CONFIG_TEXT_SIZE_MAX + 1; // one more byte: "too large"
    uint8_t *buffer = malloc(capacity);
    if (buffer == NULL) {
        (void)report_fail(&report, 0, (struct span){0}, NULL, "out of memory");
        return TC_ENOMEM;
    }
    uint32_t size = 0;
    int error_number = 0;
    int result = file_read(path, buffer, capacity, &size, &error_number);
    if (result != 0) {
        (void)report_fail(&report, 0, (struct span){0}, NULL, "cannot read: %s",
                          strerror(error_number));
    } else if (size > TC_NODE_CONFIG_TEXT_SIZE_MAX) {
        result = report_fail(&report, 0, (struct span){0}, NULL, "larger than %u bytes",
                             TC_NODE_CONFIG_TEXT_SIZE_MAX);
    } else {
        result = tc_node_config_parse(config, path, (const char *)buffer, size, error, error_size);
    }
    free(buffer);
    if (result == 0) result = tc_node_config_jwt_key_read(config, path, error, error_size);
    if (result == 0 && config->controller.port != 0) {
        result = tc_node_config_controller_key_read(config, path, error, error_size);
    }
    if (result != 0) memset(config, 0, sizeof(*config));
    return result;
}

// ------------------------------------------------------------------------------------------------
// Printing.

static void print_address(struct text *out, const struct key *key,
                          const struct tc_node_config_address *address) {
    if (address->port == 0) {
        tc_assert((key->flags & KEY_OPTIONAL) != 0);
        text_printf(out, "# %s = (unset)\n", key->name);
        return;
    }
    tc_assert(address->host[0] != '\0');
    text_printf(out, "%s = %s:%u\n", key->name, address->host, address->port);
}

static void print_string(struct text *out, const struct key *key, const char *value) {
    tc_assert(strnlen(value, key->size) < key->size);
    if (value[0] == '\0') {
        tc_assert((key->flags & KEY_OPTIONAL) != 0);
        text_printf(out, "# %s = (unset)\n", key->name);
        return;
    }
    tc_assert(strchr(value, '"') == NULL);
    text_printf(out, "%s = \"%s\"\n", key->name, value);
}

static void print_groups(struct text *out, const struct tc_node_config *config) {
    tc_assert(config->group_count <= TC_NODE_CONFIG_GROUPS_MAX);
    tc_assert(config->group_count >= 1 || config->controller.port != 0);
    for (uint32_t i = 0; i < config->group_count; i++) {
        const struct tc_node_config_group *group = &config->groups[i];
        tc_assert(group->member_count % 2 == 1);
        tc_assert(group->member_count <= TC_NODE_CONFIG_GROUP_MEMBERS_MAX);
        text_printf(out, "group.%" PRIu32 " = ", group->id);
        for (uint32_t m = 0; m < group->member_count; m++) {
            text_printf(out, "%s%u", m == 0 ? "" : ",", group->members[m]);
        }
        text_printf(out, "\n");
    }
}

static void print_key(struct text *out, const struct tc_node_config *config,
                      const struct key *key) {
    const uint8_t *field = field_of_const(config, key);
    char size[24];
    switch (key->kind) {
    case KIND_SECTION: text_printf(out, "\n# %s\n", key->name); return;
    case KIND_NUMBER:
        text_printf(out, "%s = %" PRIu64 "\n", key->name, field_read(config, key));
        return;
    case KIND_SIZE:
        size_format(field_read(config, key), size, sizeof(size));
        text_printf(out, "%s = %s\n", key->name, size);
        return;
    case KIND_ENUM: {
        uint64_t value = field_read(config, key);
        tc_assert(value >= key->min && value <= key->max);
        text_printf(out, "%s = %s\n", key->name, key->names[value - 1]);
        return;
    }
    case KIND_ADDRESS: print_address(out, key, (const void *)field); return;
    case KIND_PATH:
    case KIND_NAME: print_string(out, key, (const char *)field); return;
    case KIND_PEERS:
        tc_assert(config->peer_count >= 1 && config->peer_count <= TC_NODE_CONFIG_NODES_MAX);
        for (uint32_t i = 0; i < config->peer_count; i++) {
            const struct tc_node_config_peer *peer = &config->peers[i];
            text_printf(out, "peer.%u = %s:%u\n", peer->node_id, peer->address.host,
                        peer->address.port);
        }
        return;
    case KIND_GROUPS: print_groups(out, config); return;
    }
    tc_unreachable();
}

int tc_node_config_print(const struct tc_node_config *config, char *out, uint32_t out_size) {
    tc_assert(config != NULL);
    tc_assert(out != NULL || out_size == 0);
    tc_assert(out_size <= INT32_MAX);
    struct text text = {.data = out, .size = out_size};
    text_printf(&text, "# tigerchat-node configuration: every key with its effective value "
                       "(defaults included).\n");
    text_printf(&text, "# The JWT key is not shown; it is read from jwt_key_file.\n");
    for (uint32_t i = 0; i < KEY_COUNT; i++) print_key(&text, config, &keys[i]);
    if (text.overflow) return TC_ENOSPC;
    return (int)text.used;
}

// ------------------------------------------------------------------------------------------------
// Routing and look-ups.

uint64_t tc_node_config_room_mix(uint64_t room) {
    uint64_t z = room + 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint32_t tc_node_config_room_group(const struct tc_node_config *config, uint64_t room) {
    return tc_node_config_slot_group(config, tc_node_config_room_slot(room));
}

uint32_t tc_node_config_slot_group(const struct tc_node_config *config, uint32_t slot) {
    tc_assert(config != NULL && slot < TC_ROUTING_SLOTS);
    tc_assert(config->group_count >= 1 && config->group_count <= TC_NODE_CONFIG_GROUPS_MAX);
    for (uint32_t i = 1; i < config->group_count; i++) {
        tc_assert_hot(config->groups[i - 1].id < config->groups[i].id);
    }
    // floor(slot * n / 4096) is the block whose first slot, ceil(i * 4096 / n), is <= slot.
    const uint32_t index = (uint32_t)(((uint64_t)slot * config->group_count) / TC_ROUTING_SLOTS);
    tc_assert(index < config->group_count);
    tc_assert_hot(tc_node_config_slot_first(index, config->group_count) <= slot);
    tc_assert_hot(slot < tc_node_config_slot_first(index + 1, config->group_count));
    return config->groups[index].id;
}

uint32_t tc_node_config_room_slot(uint64_t room) {
    return (uint32_t)(tc_node_config_room_mix(room) % TC_ROUTING_SLOTS);
}

uint32_t tc_node_config_slot_first(uint32_t index, uint32_t count) {
    tc_assert(count >= 1 && count <= TC_ROUTING_SLOTS);
    tc_assert(index <= count);
    return (uint32_t)(((uint64_t)index * TC_ROUTING_SLOTS + count - 1u) / count);
}

const struct tc_node_config_peer *tc_node_config_peer_find(const struct tc_node_config *config,
                                                           uint16_t node_id) {
    tc_assert(config != NULL);
    tc_assert(config->peer_count <= TC_NODE_CONFIG_NODES_MAX);
    return peer_lookup(config, node_id);
}

const struct tc_node_config_group *tc_node_config_group_find(const struct tc_node_config *config,
                                                             uint32_t id) {
    tc_assert(config != NULL);
    tc_assert(config->group_count <= TC_NODE_CONFIG_GROUPS_MAX);
    for (uint32_t i = 0; i < config->group_count; i++) {
        if (config->groups[i].id == id) return &config->groups[i];
    }
    return NULL;
}

int32_t tc_node_config_group_slot(const struct tc_node_config_group *group, uint16_t node_id) {
    tc_assert(group != NULL);
    tc_assert(group->member_count >= 1 && group->member_count <= TC_NODE_CONFIG_GROUP_MEMBERS_MAX);
    for (uint32_t slot = 0; slot < group->member_count; slot++) {
        if (group->members[slot] == node_id) return (int32_t)slot;
    }
    return -1;
}

int tc_node_config_address_format(const struct tc_node_config_address *address, char *out,
                                  uint32_t out_size) {
    tc_assert(address != NULL);
    tc_assert(out != NULL && out_size > 0);
    tc_assert(strnlen(address->host, sizeof(address->host)) < sizeof(address->host));
    int n = snprintf(out, out_size, "%s:%u", address->host, address->port);
    tc_assert(n > 0);
    if ((uint32_t)n >= out_size) return TC_ENOSPC;
    tc_assert((uint32_t)n < TC_NODE_CONFIG_ADDRESS_TEXT_SIZE);
    return n;
}

// ------------------------------------------------------------------------------------------------
// The example.

static const char example[] =
    "# tigerchat-node configuration (docs/node-config.md): node 1 of a 3-node cluster on one\n"
    "# machine. The other two nodes use the same file with their own node, data_dir and listen_*\n"
    "# lines. Every key is checked at start-up: unknown keys, duplicates and out-of-range values\n"
    "# are errors. Keys left out take the defaults shown in the comments.\n"
    "\n"
    "# --- Identity ---\n"
    "cluster = 7                     # non-zero; the same on every node\n"
    "node = 1                        # this node: one of the peer.N below\n"
    "data_dir = data/node1           # relative paths start at the working directory\n"
    "\n"
    "# --- Network ---\n"
    "listen_peer = *:7101            # node-to-node links; the port is peer.1's\n"
    "listen_client = 127.0.0.1:7201  # WebSocket clients (docs/protocol.md)\n"
    "listen_admin = 127.0.0.1:7301   # admin HTTP; keep it private\n"
    "\n"
    "# Every node of the cluster by id, the same lines on every node.\n"
    "peer.1 = 127.0.0.1:7101\n"
    "peer.2 = 127.0.0.1:7102\n"
    "peer.3 = 127.0.0.1:7103\n"
    "\n"
    "# Replica groups: group.G = the nodes hosting its replicas, by slot. Slot 0 leads view 0, so\n"
    "# rotating the order spreads the first primaries over the nodes. Rooms are routed to groups\n"
    "# by tc_node_config_room_group: keep this list fixed for the life of the cluster.\n"
    "group.1 = 1,2,3\n"
    "group.2 = 2,3,1\n"
    "group.3 = 3,1,2\n"
    "group.4 = 1,2,3\n"
    "\n"
    "# --- Authentication (docs/protocol.md §2) ---\n"
    "jwt_alg = HS256                 # or EdDSA: jwt_key_file then holds the Ed25519 public key\n"
    "jwt_key_file = jwt.key          # e.g. made by: openssl rand -hex 32 > jwt.key\n"
    "# jwt_leeway_s = 30\n"
    "# jwt_lifetime_s_max = 86400\n"
    "# jwt_tenant = acme             # when set, tokens must carry this tenant claim\n"
    "\n"
    "# --- Replica sizing: the same on every node ---\n"
    "# journal_slots = 1024\n"
    "# store_segment_size = 1M\n"
    "store_segments = 64             # 64 x 1M of message store per replica\n"
    "# clients_max = 64\n"
    "# rooms_max = 4096\n"
    "# members_max = 65536\n"
    "# idempotency_keys_max = 65536\n"
    "# thread_messages_max = 16384\n"
    "\n"
    "# --- Edge limits (docs/protocol.md §8, §9, §11) ---\n"
    "# connections_max = 4096\n"
    "# connections_per_user_max = 16\n"
    "# subscriptions_per_connection_max = 64\n"
    "# requests_in_flight_per_connection_max = 32\n"
    "# send_buffer_size = 1M\n"
    "# message_size_max = 32K\n"
    "# rate_connection_per_s = 50\n"
    "# rate_connection_burst = 100\n"
    "# rate_user_per_s = 100\n"
    "# rate_user_burst = 200\n"
    "# rate_handshake_per_ip_per_s = 20\n"
    "# rate_handshake_per_ip_burst = 50\n"
    "# ping_interval_ms = 30000\n"
    "# idle_timeout_ms = 60000\n"
    "# slow_consumer_timeout_ms = 30000\n"
    "\n"
    "# --- Fan-out bus ---\n"
    "bus = builtin                   # or redis, with: redis = 127.0.0.1:6379\n"
    "\n"
    "# --- Logging ---\n"
    "log_level = info                # error | warn | info | debug\n"
    "log_format = text               # text | json\n"
    "\n"
    "# --- TLS for the client listener (both or neither) ---\n"
    "# tls_cert_file = \"/etc/tigerchat/tls/cert.pem\"\n"
    "# tls_key_file = \"/etc/tigerchat/tls/key.pem\"\n"
    "\n"
    "# --- Controller (docs/node.md §13): leave controller unset to run without one ---\n"
    "# controller = 127.0.0.1:7400      # the controller's HTTP API\n"
    "# controller_key_file = controller.key.pub  # its public key; required with controller\n"
    "# node_key_file = data/node1/node.key  # this node's secret key (format creates it)\n"
    "# zone = a                        # failure zone: A-Z a-z 0-9 . _ -, at most 63 bytes\n"
    "# controller_interval_ms = 1000   # heartbeat period, 200..60000\n";

const char *tc_node_config_example(void) { return example; }
