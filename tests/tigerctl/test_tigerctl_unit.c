// Unit tests of tigerctl's controller client (tigerctl/): the signed request envelope (its bytes
// are re-derived and verified with tc_audit, exactly as the controller does), the request time
// format (cross-checked against tc_audit's parser and formatter), URL building, option parsing
// and connection settings, table formatting, and the commands end to end over real HTTP against
// an in-process fake controller (a thread serving scripted answers and recording the requests):
// answers, error JSON, retries with a new nonce, the 4 MiB cap, timeouts, refused connections,
// drain/rebalance plans and job --watch.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "api.h"
#include "cmd.h"
#include "http.h"
#include "sign.h"
#include "table.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"
#include "tigerctl.h"

#define TIME_MS UINT64_C(1796234400123) // 2026-12-02T18:00:00.123Z

static struct tc_audit_secret_key alice_secret;
static struct tc_audit_public_key alice;
static char key_dir[64];
static char alice_path[128];     // alice's secret key file (mode 0600)
static char alice_pub_path[136]; // and its .pub
static char open_key_path[128];  // a secret key file of mode 0644 (refused)

static void assert_handler(const char *expression, const char *file, int line) {
    mock_assert(0, expression, file, line);
}

static void seed_key(uint8_t byte, struct tc_audit_secret_key *secret,
                     struct tc_audit_public_key *key) {
    uint8_t seed[32];
    memset(seed, byte, sizeof(seed));
    tc_audit_keypair_from_seed(seed, secret, key);
}

// ------------------------------------------------------------------------------------------------
// Envelopes.

// Exactly 2 * size lowercase hex digits into out.
static bool hex_decode(uint8_t *out, uint32_t size, const char *hex) {
    if (strlen(hex) != 2u * size) return false;
    for (uint32_t i = 0; i < 2u * size; i++) {
        const char c = hex[i];
        const int digit = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (digit < 0) return false;
        out[i / 2] = (uint8_t)(i % 2 == 0 ? digit << 4 : out[i / 2] | digit);
    }
    return true;
}

// Parses an envelope the way the controller does and verifies its signature with tc_audit: the
// members in canonical order, the envelope canonical, the time and nonce in their formats.
static void envelope_verify(const char *text, const char *action, const char *args,
                            struct tc_audit_request *request) {
    static char canonical[TIGERCTL_ENVELOPE_SIZE_MAX];
    uint32_t canonical_size = 0;
    const char *detail = NULL;
    assert_int_equal(
        tc_audit_json_canonical(text, canonical, sizeof(canonical), &canonical_size, &detail), 0);
    assert_string_equal(canonical, text); // the envelope is canonical JSON
    cJSON *json = cJSON_Parse(text);
    assert_non_null(json);
    static const char *const members[] = {"action", "actor", "actor_sig",
                                          "args",   "nonce", "request_time"};
    const cJSON *member = json->child;
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(members); i++, member = member->next) {
        assert_non_null(member);
        assert_string_equal(member->string, members[i]);
    }
    assert_null(member);
    const char *actor = cJSON_GetObjectItem(json, "actor")->valuestring;
    const char *sig = cJSON_GetObjectItem(json, "actor_sig")->valuestring;
    const char *nonce = cJSON_GetObjectItem(json, "nonce")->valuestring;
    const char *time = cJSON_GetObjectItem(json, "request_time")->valuestring;
    struct tc_audit_public_key key;
    uint8_t nonce_bytes[TC_AUDIT_NONCE_SIZE];
    uint64_t time_ms = 0;
    assert_int_equal(tc_audit_key_from_hex(&key, actor), 0);
    assert_true(hex_decode(nonce_bytes, sizeof(nonce_bytes), nonce));
    assert_true(tc_audit_time_parse(time, strlen(time), &time_ms));
    char *args_text = cJSON_PrintUnformatted(cJSON_GetObjectItem(json, "args"));
    assert_string_equal(cJSON_GetObjectItem(json, "action")->valuestring, action);
    assert_string_equal(args_text, args);
    assert_int_equal(
        tc_audit_request_init(request, &key, action, args_text, time_ms, nonce_bytes, NULL), 0);
    assert_int_equal(tc_audit_signature_from_hex(&request->signature, sig, strlen(sig)), 0);
    assert_int_equal(tc_audit_request_verify(request), 0);
    cJSON_free(args_text);
    cJSON_Delete(json);
}

static void test_envelope_verifies(void **state) {
    (void)state;
    static char out[TIGERCTL_ENVELOPE_SIZE_MAX];
    static struct tc_audit_request request;
    uint8_t nonce[TC_AUDIT_NONCE_SIZE];
    for (uint32_t i = 0; i < TC_AUDIT_NONCE_SIZE; i++) nonce[i] = (uint8_t)(0xa0 + i);
    uint32_t size = 0;
    // Members out of order and with spaces: sent canonically.
    assert_int_equal(tigerctl_envelope_build(&alice_secret, "node.add",
                                             "{ \"zone\": \"b\", \"node\": 4, \"address_peer\": "
                                             "\"h:1\" }",
                                             TIME_MS, nonce, out, sizeof(out), &size, NULL),
                     0);
    assert_int_equal(size, strlen(out));
    char actor[TC_AUDIT_KEY_HEX_SIZE + 1];
    tc_audit_key_hex(&alice, actor);
    char expected_prefix[256];
    (void)snprintf(expected_prefix, sizeof(expected_prefix),
                   "{\"action\":\"node.add\",\"actor\":\"%s\",\"actor_sig\":\"", actor);
    assert_memory_equal(out, expected_prefix, strlen(expected_prefix));
    const char *tail = ",\"args\":{\"address_peer\":\"h:1\",\"node\":4,\"zone\":\"b\"},"
                       "\"nonce\":\"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf\","
                       "\"request_time\":\"2026-12-02T18:00:00.123Z\"}";
    assert_string_equal(out + strlen(expected_prefix) + 128 + 1, tail);
    envelope_verify(out, "node.add", "{\"address_peer\":\"h:1\",\"node\":4,\"zone\":\"b\"}",
                    &request);
    assert_memory_equal(request.actor.bytes, alice.bytes, sizeof(alice.bytes));
    assert_true(request.time_ms == TIME_MS);
    // The signed bytes are the domain line and the envelope without actor_sig.
    static char signed_bytes[TIGERCTL_ENVELOPE_SIZE_MAX];
    uint32_t signed_size = 0;
    assert_int_equal(
        tc_audit_request_signed_bytes(&request, signed_bytes, sizeof(signed_bytes), &signed_size),
        0);
    char expected[1024];
    (void)snprintf(expected, sizeof(expected),
                   "tigerchat-audit-request-v1\n"
                   "{\"action\":\"node.add\",\"actor\":\"%s\"%s",
                   actor, tail);
    assert_int_equal(signed_size, strlen(expected));
    assert_memory_equal(signed_bytes, expected, signed_size);
}

static void test_envelope_tamper_fails(void **state) {
    (void)state;
    static char out[TIGERCTL_ENVELOPE_SIZE_MAX];
    static struct tc_audit_request request;
    uint8_t nonce[TC_AUDIT_NONCE_SIZE] = {1};
    uint32_t size = 0;
    assert_int_equal(tigerctl_envelope_build(&alice_secret, "node.cordon", "{\"node\":3}", TIME_MS,
                                             nonce, out, sizeof(out), &size, NULL),
                     0);
    envelope_verify(out, "node.cordon", "{\"node\":3}", &request);
    // Another node, another time, another nonce, another actor: the signature no longer holds.
    struct tc_audit_request changed = request;
    (void)snprintf(changed.args, sizeof(changed.args), "{\"node\":4}");
    assert_int_equal(tc_audit_request_verify(&changed), TC_EPERM);
    changed = request;
    changed.time_ms++;
    assert_int_equal(tc_audit_request_verify(&changed), TC_EPERM);
    changed = request;
    changed.nonce[15] ^= 1;
    assert_int_equal(tc_audit_request_verify(&changed), TC_EPERM);
    changed = request;
    struct tc_audit_secret_key bob_secret;
    seed_key(0x22, &bob_secret, &changed.actor);
    assert_int_equal(tc_audit_request_verify(&changed), TC_EPERM);
    // Another nonce gives another signature over the same action.
    static char again[TIGERCTL_ENVELOPE_SIZE_MAX];
    nonce[0] = 2;
    assert_int_equal(tigerctl_envelope_build(&alice_secret, "node.cordon", "{\"node\":3}", TIME_MS,
                                             nonce, again, sizeof(again), &size, NULL),
                     0);
    assert_string_not_equal(out, again);
}

static void test_envelope_refusals(void **state) {
    (void)state;
    static char out[TIGERCTL_ENVELOPE_SIZE_MAX];
    uint8_t nonce[TC_AUDIT_NONCE_SIZE] = {0};
    uint32_t size = 0;
    const char *detail = NULL;
    assert_int_equal(tigerctl_envelope_build(&alice_secret, "Node.Cordon", "{}", TIME_MS, nonce,
                                             out, sizeof(out), &size, &detail),
                     TC_EINVAL);
    assert_non_null(detail);
    assert_int_equal(tigerctl_envelope_build(&alice_secret, "node.cordon", "[1]", TIME_MS, nonce,
                                             out, sizeof(out), &size, NULL),
                     TC_EINVAL);
    assert_int_equal(tigerctl_envelope_build(&alice_secret, "node.cordon", "{\"x\":1.5}", TIME_MS,
                                             nonce, out, sizeof(out), &size, NULL),
                     TC_EINVAL);
    assert_int_equal(tigerctl_envelope_build(&alice_secret, "node.cordon", "{\"n\":1,\"n\":2}",
                                             TIME_MS, nonce, out, sizeof(out), &size, NULL),
                     TC_EINVAL);
    // A buffer one byte short of the envelope and its NUL.
    assert_int_equal(tigerctl_envelope_build(&alice_secret, "node.cordon", "{\"node\":3}", TIME_MS,
                                             nonce, out, sizeof(out), &size, NULL),
                     0);
    const uint32_t needed = size + 1;
    assert_int_equal(tigerctl_envelope_build(&alice_secret, "node.cordon", "{\"node\":3}", TIME_MS,
                                             nonce, out, needed - 1, &size, &detail),
                     TC_ETOOBIG);
    assert_int_equal(tigerctl_envelope_build(&alice_secret, "node.cordon", "{\"node\":3}", TIME_MS,
                                             nonce, out, needed, &size, NULL),
                     0);
}

// request_time carries the given time to the millisecond, in UTC, over the whole range.
static void test_envelope_time(void **state) {
    (void)state;
    static char out[TIGERCTL_ENVELOPE_SIZE_MAX];
    uint8_t nonce[TC_AUDIT_NONCE_SIZE] = {0};
    struct tc_prng prng;
    tc_prng_init(&prng, 7);
    for (uint32_t i = 0; i < 2000; i++) {
        uint64_t time_ms = tc_prng_next(&prng) % (TC_AUDIT_TIME_MS_MAX + 1);
        if (i == 0) time_ms = 0;
        if (i == 1) time_ms = TC_AUDIT_TIME_MS_MAX;
        uint32_t size = 0;
        assert_int_equal(tigerctl_envelope_build(&alice_secret, "node.cordon", "{}", time_ms, nonce,
                                                 out, sizeof(out), &size, NULL),
                         0);
        const char *field = strstr(out, "\"request_time\":\"");
        assert_non_null(field);
        field += strlen("\"request_time\":\"");
        assert_int_equal(strlen(field), TC_AUDIT_TIME_TEXT_SIZE + 2); // the time, '"' and '}'
        uint64_t parsed = 0;
        assert_true(tc_audit_time_parse(field, TC_AUDIT_TIME_TEXT_SIZE, &parsed));
        assert_true(parsed == time_ms);
        if (i == 1) assert_memory_equal(field, "9999-12-31T23:59:59.999Z", TC_AUDIT_TIME_TEXT_SIZE);
    }
    const uint64_t now = tigerctl_time_now_ms();
    assert_true(now > UINT64_C(1700000000000) && now <= TC_AUDIT_TIME_MS_MAX);
}

// ------------------------------------------------------------------------------------------------
// URLs and options.

static void test_url_build(void **state) {
    (void)state;
    char url[64];
    assert_int_equal(tigerctl_url_build(url, sizeof(url), "http://h:1", "/v1/nodes", NULL, 0), 0);
    assert_string_equal(url, "http://h:1/v1/nodes");
    const struct tigerctl_query query[] = {{"after", "5"}, {"limit", "20"}};
    assert_int_equal(tigerctl_url_build(url, sizeof(url), "http://h:1", "/v1/audit", query, 2), 0);
    assert_string_equal(url, "http://h:1/v1/audit?after=5&limit=20");
    const struct tigerctl_query odd[] = {{"a b", "x&y=z/~._-\xc3\xa9"}};
    assert_int_equal(tigerctl_url_build(url, sizeof(url), "http://h", "/p", odd, 1), 0);
    assert_string_equal(url, "http://h/p?a%20b=x%26y%3Dz%2F~._-%C3%A9");
    // Exactly fitting (with the NUL), and one byte short.
    const char *expected = "http://h:1/v1/jobs/7";
    const uint32_t size = (uint32_t)strlen(expected) + 1;
    assert_int_equal(tigerctl_url_build(url, size, "http://h:1", "/v1/jobs/7", NULL, 0), 0);
    assert_string_equal(url, expected);
    assert_int_equal(tigerctl_url_build(url, size - 1, "http://h:1", "/v1/jobs/7", NULL, 0),
                     TC_ETOOBIG);
    assert_string_equal(url, "");
    const struct tigerctl_query encoded[] = {{"r", "  "}}; // 6 bytes encoded
    assert_int_equal(tigerctl_url_build(url, 12, "http://h", "/p", encoded, 1), TC_ETOOBIG);
    assert_int_equal(tigerctl_url_build(url, 19, "http://h", "/p", encoded, 1), TC_ETOOBIG);
    assert_int_equal(tigerctl_url_build(url, 20, "http://h", "/p", encoded, 1), 0);
    assert_string_equal(url, "http://h/p?r=%20%20");
}

static const struct tigerctl_option test_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    TIGERCTL_CONTROLLER_OPTIONS,
    {"watch", NULL, 1, "flag"},
    {"limit", "N", 1, "value"},
};

static int parse_words(struct tigerctl_args *args, uint32_t positional_max, char *error,
                       const char *first, ...) {
    char *words[16];
    int count = 0;
    va_list list;
    va_start(list, first);
    for (const char *word = first; word != NULL; word = va_arg(list, const char *)) {
        words[count++] = (char *)(uintptr_t)word;
    }
    va_end(list);
    return tigerctl_args_parse(args, test_options, TC_ARRAY_COUNT(test_options), positional_max,
                               count, words, error, 256);
}

static void test_args_positional(void **state) {
    (void)state;
    static struct tigerctl_args args;
    char error[256];
    assert_int_equal(parse_words(&args, 1, error, "--watch", "3", "--limit=4", NULL), 0);
    assert_int_equal(args.positional_count, 1);
    assert_string_equal(args.positionals[0], "3");
    assert_int_equal(tigerctl_args_count(&args, "watch"), 1);
    assert_string_equal(tigerctl_args_value(&args, "limit", 0), "4");
    assert_int_equal(parse_words(&args, 1, error, "--limit", "3", NULL), 0);
    assert_int_equal(args.positional_count, 0); // "3" was --limit's value
    assert_int_equal(parse_words(&args, 1, error, "3", "4", NULL), -1);
    assert_string_equal(error, "unexpected argument '4'");
    assert_int_equal(parse_words(&args, 0, error, "3", NULL), -1);
    assert_string_equal(error, "unexpected argument '3'");
    assert_int_equal(parse_words(&args, 1, error, "-x", NULL), -1);
    assert_string_equal(error, "unexpected argument '-x'");
    assert_int_equal(parse_words(&args, 1, error, "--", NULL), -1);
    assert_int_equal(parse_words(&args, 1, error, "--watch=1", NULL), -1);
    assert_string_equal(error, "--watch takes no value");
    assert_int_equal(parse_words(&args, 1, error, "--limit", NULL), -1);
    assert_string_equal(error, "--limit needs a value (N)");
    assert_int_equal(parse_words(&args, 1, error, "--nope", NULL), -1);
    assert_string_equal(error, "unknown option --nope");
    assert_int_equal(parse_words(&args, 1, error, "--limit", "1", "--limit", "2", NULL), -1);
    assert_string_equal(error, "--limit given more than 1 time");
}

static void test_parse_u64(void **state) {
    (void)state;
    uint64_t value = 99;
    assert_int_equal(tigerctl_parse_u64("0", 0, 10, &value), 0);
    assert_true(value == 0);
    assert_int_equal(tigerctl_parse_u64("255", 1, 255, &value), 0);
    assert_true(value == 255);
    assert_int_equal(tigerctl_parse_u64("256", 1, 255, &value), -1);
    assert_int_equal(tigerctl_parse_u64("0", 1, 255, &value), -1);
    assert_int_equal(tigerctl_parse_u64("18446744073709551615", 0, UINT64_MAX, &value), 0);
    assert_true(value == UINT64_MAX);
    value = 5;
    static const char *const bad[] = {"",
                                      "01",
                                      "-1",
                                      "+1",
                                      " 1",
                                      "1 ",
                                      "1a",
                                      "0x10",
                                      "18446744073709551616",
                                      "99999999999999999999",
                                      "123456789012345678901"};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(bad); i++) {
        assert_int_equal(tigerctl_parse_u64(bad[i], 0, UINT64_MAX, &value), -1);
        assert_true(value == 5); // untouched on failure
    }
}

// argv in writable storage (tigerctl_globals_parse takes char **, as main does).
static char **argv_of(const char *const *words, int count) {
    static char storage[16][128];
    static char *argv[16];
    assert_true(count <= 16);
    for (int i = 0; i < count; i++) {
        (void)snprintf(storage[i], sizeof(storage[i]), "%s", words[i]);
        argv[i] = storage[i];
    }
    return argv;
}

static int globals_of(struct tigerctl_globals *globals, int *next, char *error,
                      const char *const *words, int count) {
    return tigerctl_globals_parse(globals, count, argv_of(words, count), next, error, 256);
}

static void test_globals_parse(void **state) {
    (void)state;
    struct tigerctl_globals globals;
    char error[256];
    int next = 0;
    static const char *const all[] = {"tigerctl",     "--json", "--controller=http://c:1",
                                      "--key",        "k",      "--timeout-ms",
                                      "50",           "nodes",  "add",
                                      "--controller", "x"};
    assert_int_equal(globals_of(&globals, &next, error, all, 11), 0);
    assert_int_equal(next, 7);
    assert_true(globals.json && !globals.help && !globals.version);
    assert_string_equal(globals.controller, "http://c:1");
    assert_string_equal(globals.key_path, "k");
    assert_string_equal(globals.timeout_ms, "50");
    static const char *const only[] = {"tigerctl", "-h"};
    assert_int_equal(globals_of(&globals, &next, error, only, 2), 0);
    assert_true(globals.help);
    assert_int_equal(next, 2);
    static const char *const unknown[] = {"tigerctl", "--nope", "status"};
    assert_int_equal(globals_of(&globals, &next, error, unknown, 3), -1);
    assert_string_equal(error, "unknown global option --nope");
    static const char *const prefix[] = {"tigerctl", "--keys", "status"};
    assert_int_equal(globals_of(&globals, &next, error, prefix, 3), -1);
    static const char *const missing[] = {"tigerctl", "--key"};
    assert_int_equal(globals_of(&globals, &next, error, missing, 2), -1);
    assert_string_equal(error, "--key needs a value");
    static const char *const twice[] = {"tigerctl", "--key", "a", "--key=b", "status"};
    assert_int_equal(globals_of(&globals, &next, error, twice, 5), -1);
    assert_string_equal(error, "--key given more than once");
}

// Resolves the connection settings for a command line of test_options.
static int resolve(struct tigerctl_context *context, const struct tigerctl_globals *globals,
                   const char *env_controller, const char *env_key, char *error, const char *first,
                   ...) {
    static struct tigerctl_args args;
    static char url[TIGERCTL_BASE_URL_SIZE_MAX];
    char *words[16];
    int count = 0;
    va_list list;
    va_start(list, first);
    for (const char *word = first; word != NULL; word = va_arg(list, const char *)) {
        words[count++] = (char *)(uintptr_t)word;
    }
    va_end(list);
    assert_int_equal(tigerctl_args_parse(&args, test_options, TC_ARRAY_COUNT(test_options), 0,
                                         count, words, error, 256),
                     0);
    memset(context, 0, sizeof(*context));
    return tigerctl_connection_resolve(context, globals, &args, env_controller, env_key, url,
                                       sizeof(url), error, 256);
}

static void test_connection_resolve(void **state) {
    (void)state;
    struct tigerctl_context context;
    struct tigerctl_globals none = {0};
    struct tigerctl_globals globals = {
        .controller = "http://global:2", .key_path = "gk", .timeout_ms = "20"};
    char error[256];
    assert_int_equal(resolve(&context, &none, NULL, NULL, error, NULL), 0);
    assert_string_equal(context.controller, "http://127.0.0.1:7300");
    assert_null(context.key_path);
    assert_int_equal(context.timeout_ms, 10000);
    assert_int_equal(resolve(&context, &none, "https://env:3/", "", error, NULL), 0);
    assert_string_equal(context.controller, "https://env:3");
    assert_null(context.key_path); // an empty TIGERCTL_KEY counts as unset
    assert_int_equal(resolve(&context, &globals, "http://env:3", "ek", error, NULL), 0);
    assert_string_equal(context.controller, "http://global:2");
    assert_string_equal(context.key_path, "gk");
    assert_int_equal(context.timeout_ms, 20);
    assert_int_equal(resolve(&context, &globals, "http://env:3", "ek", error, "--controller",
                             "http://cmd:4//", "--key", "ck", "--timeout-ms", "600000", NULL),
                     0);
    assert_string_equal(context.controller, "http://cmd:4");
    assert_string_equal(context.key_path, "ck");
    assert_int_equal(context.timeout_ms, 600000);
    assert_int_equal(resolve(&context, &none, NULL, "ek", error, NULL), 0);
    assert_string_equal(context.key_path, "ek");
    assert_int_equal(resolve(&context, &none, "ftp://x", NULL, error, NULL), -1);
    assert_string_equal(error, "$TIGERCTL_CONTROLLER 'ftp://x' must start with http:// or "
                               "https://");
    assert_int_equal(resolve(&context, &none, NULL, NULL, error, "--controller", "http://", NULL),
                     -1);
    assert_string_equal(error, "--controller 'http://' has no host");
    assert_int_equal(
        resolve(&context, &none, NULL, NULL, error, "--controller", "http://a b", NULL), -1);
    assert_int_equal(
        resolve(&context, &none, NULL, NULL, error, "--controller", "http://h/?x=1", NULL), -1);
    assert_int_equal(resolve(&context, &none, NULL, NULL, error, "--timeout-ms", "0", NULL), -1);
    assert_int_equal(resolve(&context, &none, NULL, NULL, error, "--timeout-ms", "600001", NULL),
                     -1);
    char long_url[TIGERCTL_BASE_URL_SIZE_MAX + 8];
    memset(long_url, 'a', sizeof(long_url));
    memcpy(long_url, "http://", 7);
    long_url[TIGERCTL_BASE_URL_SIZE_MAX - 1] = '\0'; // 1023 bytes: the longest allowed
    assert_int_equal(resolve(&context, &none, long_url, NULL, error, NULL), 0);
    long_url[TIGERCTL_BASE_URL_SIZE_MAX - 1] = 'a';
    long_url[TIGERCTL_BASE_URL_SIZE_MAX] = '\0';
    assert_int_equal(resolve(&context, &none, long_url, NULL, error, NULL), -1);
}

// ------------------------------------------------------------------------------------------------
// Tables.

static char *print_buffer;
static size_t print_size;

static FILE *print_open(void) {
    free(print_buffer);
    print_buffer = NULL;
    FILE *out = open_memstream(&print_buffer, &print_size);
    assert_non_null(out);
    return out;
}

static const char *table_text(const struct tigerctl_column *columns, uint32_t count,
                              const char *rows_json) {
    cJSON *rows = cJSON_Parse(rows_json);
    assert_non_null(rows);
    FILE *out = print_open();
    (void)tigerctl_table_print(out, columns, count, rows);
    assert_int_equal(fclose(out), 0);
    cJSON_Delete(rows);
    return print_buffer;
}

static const struct tigerctl_column basic_columns[] = {
    {"ID", "id", TIGERCTL_CELL_INTEGER, NULL, 0},
    {"NAME", "name", TIGERCTL_CELL_TEXT, NULL, 0},
    {"UP", "up", TIGERCTL_CELL_BOOL, NULL, 0},
};

static void test_table_alignment(void **state) {
    (void)state;
    assert_string_equal(table_text(basic_columns, 3,
                                   "[{\"id\":1,\"name\":\"alpha\",\"up\":true},"
                                   "{\"id\":12345,\"name\":\"b\",\"up\":false,\"more\":1}]"),
                        "   ID  NAME   UP\n"
                        "    1  alpha  yes\n"
                        "12345  b      no\n");
    assert_string_equal(table_text(basic_columns, 3, "[]"), "ID  NAME  UP\n");
    // Missing and null members print "-", an empty string too; another type prints "?".
    assert_string_equal(table_text(basic_columns, 3,
                                   "[{\"id\":null,\"name\":\"\",\"up\":1},{},5,"
                                   "{\"id\":1.5,\"name\":7,\"up\":null},{\"id\":1e300}]"),
                        "ID  NAME  UP\n"
                        " -  -     ?\n"
                        " -  -     -\n"
                        " ?  ?     ?\n"
                        " ?  ?     -\n"
                        " ?  -     -\n");
    // The largest exact integer prints exactly; beyond it is refused.
    assert_string_equal(table_text(basic_columns, 1,
                                   "[{\"id\":9007199254740991},{\"id\":-3},"
                                   "{\"id\":9007199254740992}]"),
                        "              ID\n"
                        "9007199254740991\n"
                        "              -3\n"
                        "               ?\n");
}

static void sum_cell(const cJSON *row, char *cell, uint32_t size) {
    int64_t a = 0, b = 0;
    if (!tigerctl_json_integer(row, "a", &a) || !tigerctl_json_integer(row, "b", &b)) {
        tigerctl_cell_printf(cell, size, "?");
        return;
    }
    tigerctl_cell_printf(cell, size, "%lld", (long long)(a + b));
}

static void test_table_kinds(void **state) {
    (void)state;
    static const struct tigerctl_column columns[] = {
        {"MEMBERS", "members", TIGERCTL_CELL_LIST, NULL, 0},
        {"COUNTS", "counts", TIGERCTL_CELL_COUNTS, NULL, 0},
        {"SUM", NULL, TIGERCTL_CELL_CUSTOM, sum_cell, 0},
        {"ARGS", "args", TIGERCTL_CELL_JSON, NULL, 0},
    };
    assert_string_equal(table_text(columns, 4,
                                   "[{\"members\":[1,2,3],\"counts\":{\"active\":3,\"down\":1},"
                                   "\"a\":1,\"b\":2,\"args\":{\"node\":3}},"
                                   "{\"members\":[],\"counts\":{},\"args\":[1,\"a\"]},"
                                   "{\"members\":[\"x\",1.5],\"counts\":{\"a\":\"b\"},"
                                   "\"args\":\"s\"},"
                                   "{\"members\":{},\"counts\":[],\"args\":true}]"),
                        "MEMBERS  COUNTS            SUM  ARGS\n"
                        "1,2,3    3 active, 1 down  3    {\"node\":3}\n"
                        "-        -                 ?    [1,\"a\"]\n"
                        "x,?      ? a               ?    \"s\"\n"
                        "?        ?                 ?    true\n");
}

static void test_table_sanitize_and_cut(void **state) {
    (void)state;
    static const struct tigerctl_column name_column[] = {
        {"NAME", "name", TIGERCTL_CELL_TEXT, NULL, 0},
    };
    assert_string_equal(table_text(name_column, 1, "[{\"name\":\"a\\u001b[31mb\\nc\\u00e9\"}]"),
                        "NAME\n"
                        "a?[31mb?c??\n");
    char rows[512];
    char name[160];
    memset(name, 'n', 150);
    name[150] = '\0';
    (void)snprintf(rows, sizeof(rows), "[{\"name\":\"%s\"}]", name);
    const char *text = table_text(name_column, 1, rows);
    char expected[256];
    memset(name, 'n', TIGERCTL_CELL_SIZE_MAX - 4);
    name[TIGERCTL_CELL_SIZE_MAX - 4] = '\0';
    (void)snprintf(expected, sizeof(expected), "NAME\n%s...\n", name);
    assert_string_equal(text, expected);
    // Exactly the cell's capacity: not cut.
    memset(name, 'n', TIGERCTL_CELL_SIZE_MAX - 1);
    name[TIGERCTL_CELL_SIZE_MAX - 1] = '\0';
    (void)snprintf(rows, sizeof(rows), "[{\"name\":\"%s\"}]", name);
    (void)snprintf(expected, sizeof(expected), "NAME\n%s\n", name);
    assert_string_equal(table_text(name_column, 1, rows), expected);
    char cell[8];
    tigerctl_cell_printf(cell, sizeof(cell), "%s", "1234567");
    assert_string_equal(cell, "1234567");
    tigerctl_cell_printf(cell, sizeof(cell), "%s", "12345678");
    assert_string_equal(cell, "1234...");
}

static void test_fields_print(void **state) {
    (void)state;
    static const struct tigerctl_column fields[] = {
        {"cluster", "cluster", TIGERCTL_CELL_TEXT, NULL, 0},
        {"running jobs", "jobs", TIGERCTL_CELL_INTEGER, NULL, 0},
        {"nodes", "nodes", TIGERCTL_CELL_COUNTS, NULL, 0},
    };
    cJSON *object = cJSON_Parse("{\"cluster\":\"prod\",\"jobs\":2,\"nodes\":{\"active\":4}}");
    FILE *out = print_open();
    tigerctl_fields_print(out, fields, TC_ARRAY_COUNT(fields), object);
    assert_int_equal(fclose(out), 0);
    cJSON_Delete(object);
    assert_string_equal(print_buffer, "cluster       prod\n"
                                      "running jobs  2\n"
                                      "nodes         4 active\n");
}

static void test_sanitize(void **state) {
    (void)state;
    char out[6];
    tigerctl_sanitize(out, sizeof(out), "ab\x7f\x01\xff");
    assert_string_equal(out, "ab???");
    tigerctl_sanitize(out, sizeof(out), "abcdefgh");
    assert_string_equal(out, "abcde");
    tigerctl_sanitize(out, 1, "abc");
    assert_string_equal(out, "");
}

// ------------------------------------------------------------------------------------------------
// The fake controller: a thread that accepts one connection per scripted exchange, records the
// request (head and body) and answers as scripted.

#define FAKE_EXCHANGES_MAX 8u
#define FAKE_HEAD_SIZE_MAX 4096u
#define FAKE_BODY_SIZE_MAX (64u * 1024u)

enum fake_mode {
    FAKE_REPLY, // status and body
    FAKE_CLOSE, // read the request, close without an answer
    FAKE_HANG,  // read the request, answer nothing until the client gives up
    FAKE_BIG,   // status 200 and big_size bytes of body
};

struct fake_exchange {
    enum fake_mode mode;
    int status;
    const char *body;
    uint32_t big_size;
    bool big_length; // FAKE_BIG: with Content-Length (else delimited by closing)
    // Recorded:
    char head[FAKE_HEAD_SIZE_MAX + 1];
    char target[256]; // "GET /v1/status"
    char body_received[FAKE_BODY_SIZE_MAX + 1];
    uint32_t body_received_size;
};

struct fake {
    int listen_fd;
    int stop[2];
    pthread_t thread;
    char url[64];
    struct fake_exchange exchanges[FAKE_EXCHANGES_MAX];
    uint32_t count;
    uint32_t served;
};

static struct fake fake;

static bool fake_read_request(int fd, struct fake_exchange *exchange) {
    char buffer[FAKE_HEAD_SIZE_MAX + FAKE_BODY_SIZE_MAX];
    size_t size = 0;
    char *end = NULL;
    while (end == NULL) {
        const ssize_t got = read(fd, buffer + size, FAKE_HEAD_SIZE_MAX - size);
        if (got <= 0) return false;
        size += (size_t)got;
        buffer[size] = '\0';
        end = strstr(buffer, "\r\n\r\n");
        if (end == NULL && size == FAKE_HEAD_SIZE_MAX) return false;
    }
    const size_t head_size = (size_t)(end - buffer) + 4;
    memcpy(exchange->head, buffer, head_size);
    exchange->head[head_size] = '\0';
    const char *space = strchr(buffer, ' ');
    const char *space2 = space != NULL ? strchr(space + 1, ' ') : NULL;
    if (space2 == NULL) return false;
    (void)snprintf(exchange->target, sizeof(exchange->target), "%.*s", (int)(space2 - buffer),
                   buffer);
    size_t length = 0;
    for (const char *line = strstr(exchange->head, "\r\n"); line != NULL;
         line = strstr(line + 2, "\r\n")) {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0) {
            length = strtoul(line + 17, NULL, 10);
        }
    }
    if (length > FAKE_BODY_SIZE_MAX) return false;
    while (size < head_size + length) {
        const ssize_t got = read(fd, buffer + size, head_size + length - size);
        if (got <= 0) return false;
        size += (size_t)got;
    }
    memcpy(exchange->body_received, buffer + head_size, length);
    exchange->body_received[length] = '\0';
    exchange->body_received_size = (uint32_t)length;
    return true;
}

static void fake_send(int fd, const void *data, size_t size) {
    const char *bytes = data;
    while (size > 0) {
        const ssize_t sent = send(fd, bytes, size, MSG_NOSIGNAL);
        if (sent <= 0) return; // the client gave up (the 4 MiB cap)
        bytes += sent;
        size -= (size_t)sent;
    }
}

static void fake_big(int fd, const struct fake_exchange *exchange) {
    char head[256];
    if (exchange->big_length) {
        (void)snprintf(head, sizeof(head),
                       "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n"
                       "Connection: close\r\n\r\n",
                       exchange->big_size);
    } else {
        (void)snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    }
    fake_send(fd, head, strlen(head));
    static char chunk[64 * 1024];
    memset(chunk, ' ', sizeof(chunk));
    for (uint32_t left = exchange->big_size; left > 0;) {
        const uint32_t size = left < sizeof(chunk) ? left : (uint32_t)sizeof(chunk);
        fake_send(fd, chunk, size);
        left -= size;
    }
}

static void fake_serve(int fd, struct fake_exchange *exchange) {
    if (!fake_read_request(fd, exchange)) return;
    if (exchange->mode == FAKE_REPLY) {
        char head[256];
        (void)snprintf(head, sizeof(head),
                       "HTTP/1.1 %d X\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                       exchange->status, strlen(exchange->body));
        fake_send(fd, head, strlen(head));
        fake_send(fd, exchange->body, strlen(exchange->body));
    } else if (exchange->mode == FAKE_HANG) {
        struct pollfd wait = {.fd = fd, .events = POLLIN};
        (void)poll(&wait, 1, 10000); // until the client closes
    } else if (exchange->mode == FAKE_BIG) {
        fake_big(fd, exchange);
    }
}

static void *fake_main(void *unused) {
    (void)unused;
    for (uint32_t i = 0; i < fake.count; i++) {
        struct pollfd fds[2] = {{.fd = fake.listen_fd, .events = POLLIN},
                                {.fd = fake.stop[0], .events = POLLIN}};
        if (poll(fds, 2, 20000) <= 0 || (fds[1].revents & POLLIN) != 0) break;
        const int fd = accept(fake.listen_fd, NULL, NULL);
        if (fd < 0) break;
        fake_serve(fd, &fake.exchanges[i]);
        (void)close(fd);
        fake.served = i + 1;
    }
    return NULL;
}

// Starts the fake with the exchanges added by fake_reply/... before it.
static void fake_start(void) {
    fake.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fake.listen_fd >= 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fake.listen_fd, (struct sockaddr *)&address, sizeof(address)), 0);
    assert_int_equal(listen(fake.listen_fd, 8), 0);
    socklen_t size = sizeof(address);
    assert_int_equal(getsockname(fake.listen_fd, (struct sockaddr *)&address, &size), 0);
    (void)snprintf(fake.url, sizeof(fake.url), "http://127.0.0.1:%u", ntohs(address.sin_port));
    assert_int_equal(pipe(fake.stop), 0);
    fake.served = 0;
    assert_int_equal(pthread_create(&fake.thread, NULL, fake_main, NULL), 0);
}

// Stops the fake; returns how many exchanges it served.
static uint32_t fake_finish(void) {
    assert_int_equal(write(fake.stop[1], "x", 1), 1);
    assert_int_equal(pthread_join(fake.thread, NULL), 0);
    (void)close(fake.listen_fd);
    (void)close(fake.stop[0]);
    (void)close(fake.stop[1]);
    return fake.served;
}

static struct fake_exchange *fake_add(enum fake_mode mode) {
    assert_true(fake.count < FAKE_EXCHANGES_MAX);
    struct fake_exchange *exchange = &fake.exchanges[fake.count++];
    memset(exchange, 0, sizeof(*exchange));
    exchange->mode = mode;
    return exchange;
}

static void fake_reply(int status, const char *body) {
    struct fake_exchange *exchange = fake_add(FAKE_REPLY);
    exchange->status = status;
    exchange->body = body;
}

static int fake_setup(void **state) {
    (void)state;
    memset(&fake, 0, sizeof(fake));
    return 0;
}

// A URL nobody listens at: a port bound and released.
static void closed_url(char *url, size_t size) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = 0};
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
    socklen_t length = sizeof(address);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &length), 0);
    (void)close(fd);
    (void)snprintf(url, size, "http://127.0.0.1:%u", ntohs(address.sin_port));
}

// ------------------------------------------------------------------------------------------------
// HTTP.

static void test_http_answer_and_post(void **state) {
    (void)state;
    fake_reply(200, "{\"a\":1}");
    fake_reply(404, "");
    fake_start();
    struct tigerctl_http_response response;
    char url[128];
    (void)snprintf(url, sizeof(url), "%s/v1/x?y=1", fake.url);
    assert_int_equal(tigerctl_http_request(url, NULL, 0, 5000, &response), TIGERCTL_HTTP_ANSWERED);
    assert_int_equal(response.status, 200);
    assert_string_equal(response.body, "{\"a\":1}");
    assert_int_equal(response.body_size, 7);
    assert_true(response.sent);
    tigerctl_http_response_free(&response);
    const char *post = "{\"b\":2}";
    assert_int_equal(tigerctl_http_request(url, post, 7, 5000, &response), TIGERCTL_HTTP_ANSWERED);
    assert_int_equal(response.status, 404);
    assert_string_equal(response.body, "");
    tigerctl_http_response_free(&response);
    assert_int_equal(fake_finish(), 2);
    assert_string_equal(fake.exchanges[0].target, "GET /v1/x?y=1");
    assert_string_equal(fake.exchanges[1].target, "POST /v1/x?y=1");
    assert_string_equal(fake.exchanges[1].body_received, post);
    assert_non_null(strstr(fake.exchanges[1].head, "Content-Type: application/json\r\n"));
    assert_null(strstr(fake.exchanges[1].head, "100-continue"));
    assert_non_null(strstr(fake.exchanges[0].head, "User-Agent: tigerctl/"));
}

static void test_http_body_cap(void **state) {
    (void)state;
    struct fake_exchange *exact = fake_add(FAKE_BIG);
    exact->big_size = TIGERCTL_HTTP_BODY_SIZE_MAX;
    exact->big_length = true;
    struct fake_exchange *declared = fake_add(FAKE_BIG);
    declared->big_size = TIGERCTL_HTTP_BODY_SIZE_MAX + 1;
    declared->big_length = true;
    struct fake_exchange *streamed = fake_add(FAKE_BIG);
    streamed->big_size = TIGERCTL_HTTP_BODY_SIZE_MAX + 1;
    streamed->big_length = false;
    fake_start();
    struct tigerctl_http_response response;
    assert_int_equal(tigerctl_http_request(fake.url, NULL, 0, 20000, &response),
                     TIGERCTL_HTTP_ANSWERED);
    assert_int_equal(response.body_size, TIGERCTL_HTTP_BODY_SIZE_MAX);
    assert_int_equal(strlen(response.body), TIGERCTL_HTTP_BODY_SIZE_MAX);
    tigerctl_http_response_free(&response);
    assert_int_equal(tigerctl_http_request(fake.url, NULL, 0, 20000, &response),
                     TIGERCTL_HTTP_TOO_BIG);
    assert_non_null(strstr(response.error, "larger than 4194304 bytes"));
    tigerctl_http_response_free(&response);
    assert_int_equal(tigerctl_http_request(fake.url, NULL, 0, 20000, &response),
                     TIGERCTL_HTTP_TOO_BIG);
    tigerctl_http_response_free(&response);
    assert_int_equal(fake_finish(), 3);
}

static uint64_t monotonic_ms(void) {
    struct timespec now;
    assert_int_equal(clock_gettime(CLOCK_MONOTONIC, &now), 0);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

static void test_http_timeout_and_refused(void **state) {
    (void)state;
    (void)fake_add(FAKE_HANG);
    (void)fake_add(FAKE_CLOSE);
    fake_start();
    struct tigerctl_http_response response;
    const uint64_t start = monotonic_ms();
    assert_int_equal(tigerctl_http_request(fake.url, NULL, 0, 300, &response),
                     TIGERCTL_HTTP_UNREACHABLE);
    const uint64_t elapsed = monotonic_ms() - start;
    assert_true(elapsed >= 250 && elapsed < 5000);
    assert_true(response.sent); // it reached the controller, which may have acted
    assert_non_null(strstr(response.error, "timed out"));
    tigerctl_http_response_free(&response);
    assert_int_equal(tigerctl_http_request(fake.url, "{}", 2, 5000, &response),
                     TIGERCTL_HTTP_UNREACHABLE); // closed without an answer
    assert_true(response.sent);
    tigerctl_http_response_free(&response);
    assert_int_equal(fake_finish(), 2);
    char url[64];
    closed_url(url, sizeof(url));
    assert_int_equal(tigerctl_http_request(url, "{}", 2, 5000, &response),
                     TIGERCTL_HTTP_UNREACHABLE);
    assert_false(response.sent); // never reached anyone: not retried
    assert_non_null(strstr(response.error, "onnect"));
    tigerctl_http_response_free(&response);
    assert_int_equal(tigerctl_http_request("http://127.0.0.1:99999", NULL, 0, 5000, &response),
                     TIGERCTL_HTTP_FAILED); // a malformed URL: a usage problem, not unreachable
    tigerctl_http_response_free(&response);
}

// ------------------------------------------------------------------------------------------------
// Commands end to end against the fake controller.

struct output {
    char *out;
    size_t out_size;
    char *err;
    size_t err_size;
};

static struct output output;

// Runs a command the way main.c does (options, --help, positional, connection) with the given
// controller URL and key, stdout and stderr captured in `output`. Returns the exit code.
static int run_command(const struct tigerctl_command *command, const char *url, const char *key,
                       const char *first, ...) {
    char *words[24];
    int count = 0;
    va_list list;
    va_start(list, first);
    for (const char *word = first; word != NULL; word = va_arg(list, const char *)) {
        words[count++] = (char *)(uintptr_t)word;
    }
    va_end(list);
    free(output.out);
    free(output.err);
    memset(&output, 0, sizeof(output));
    FILE *out = open_memstream(&output.out, &output.out_size);
    FILE *err = open_memstream(&output.err, &output.err_size);
    struct tigerctl_context context = {
        .json = false, .out = out, .err = err, .command = command, .watch_interval_ms = 20};
    static struct tigerctl_args args;
    static char base[TIGERCTL_BASE_URL_SIZE_MAX];
    const struct tigerctl_globals globals = {0};
    char error[256];
    int code = TIGERCTL_EXIT_USAGE;
    if (tigerctl_args_parse(&args, command->options, command->option_count,
                            command->positional != NULL ? 1 : 0, count, words, error,
                            sizeof(error)) != 0) {
        (void)fprintf(err, "%s\n", error);
    } else if (command->positional != NULL && args.positional_count == 0) {
        (void)fprintf(err, "missing %s\n", command->positional);
    } else {
        context.json = tigerctl_args_count(&args, "json") > 0;
        assert_int_equal(tigerctl_connection_resolve(&context, &globals, &args, url, key, base,
                                                     sizeof(base), error, sizeof(error)),
                         0);
        code = command->run(&context, &args);
    }
    assert_int_equal(fclose(out), 0);
    assert_int_equal(fclose(err), 0);
    return code;
}

static void assert_out(const char *text) {
    if (strstr(output.out, text) == NULL) {
        print_error("stdout lacks [%s]:\n%s\nstderr:\n%s\n", text, output.out, output.err);
        fail();
    }
}

static void assert_err(const char *text) {
    if (strstr(output.err, text) == NULL) {
        print_error("stderr lacks [%s]:\n%s\n", text, output.err);
        fail();
    }
}

static void test_status_and_tables(void **state) {
    (void)state;
    fake_reply(200, "{\"cluster\":\"prod\",\"controller_key\":\"ab12\",\"audit\":{\"seq\":25,"
                    "\"head\":\"8f34\",\"writable\":true},\"topology_version\":17,"
                    "\"nodes\":{\"active\":3,\"cordoned\":1,\"draining\":0,\"drained\":0,"
                    "\"down\":0,\"live\":3},\"groups\":{\"total\":4,\"healthy\":4,\"degraded\":0,"
                    "\"no_quorum\":0},\"jobs_running\":1,\"keys_active\":3,"
                    "\"rejected_requests\":2}");
    fake_reply(200, "{\"cluster\":\"prod\",\"controller_key\":\"ab12\",\"audit\":{\"seq\":25,"
                    "\"head\":\"8f34\",\"writable\":false}}");
    fake_reply(200, "[{\"id\":1,\"state\":\"active\",\"live\":true,\"zone\":\"a\","
                    "\"address_peer\":\"10.0.0.1:7101\",\"address_client\":\"10.0.0.1:7001\","
                    "\"address_admin\":\"10.0.0.1:7201\",\"public_key\":\"ff\","
                    "\"heartbeat_ms\":-5,\"status\":{}},"
                    "{\"id\":12,\"state\":\"cordoned\",\"live\":false,\"zone\":\"\","
                    "\"address_peer\":\"h:1\",\"address_client\":\"h:2\",\"address_admin\":\"h:3\","
                    "\"heartbeat_ms\":null,\"status\":null}]");
    fake_reply(200, "[{\"id\":1,\"primary\":1,\"members\":[1,12,3]},"
                    "{\"id\":2,\"primary\":12,\"members\":[12,1,4]},"
                    "{\"id\":3,\"primary\":null,\"members\":[2,3,4]}]");
    fake_reply(200, "[]");
    fake_start();
    assert_int_equal(run_command(&tigerctl_command_status, fake.url, NULL, NULL), 0);
    assert_string_equal(output.out, "cluster            prod\n"
                                    "controller key     ab12\n"
                                    "audit              seq 25, head 8f34\n"
                                    "topology version   17\n"
                                    "nodes              3 active, 1 cordoned, 0 draining, "
                                    "0 drained, 0 down, 3 live\n"
                                    "groups             4 total, 4 healthy, 0 degraded, "
                                    "0 no_quorum\n"
                                    "running jobs       1\n"
                                    "operator keys      3\n"
                                    "rejected requests  2\n");
    assert_int_equal(run_command(&tigerctl_command_status, fake.url, NULL, NULL), 0);
    assert_out("audit              seq 25, head 8f34 (NOT WRITABLE: actions are refused)\n");
    assert_out("topology version   -\n");
    assert_int_equal(run_command(&tigerctl_command_nodes, fake.url, NULL, NULL), 0);
    // Replicas and primaries are counted from the groups; a negative heartbeat time is "?".
    assert_string_equal(output.out,
                        "NODE  STATE     LIVE  HEARTBEAT  ZONE  REPLICAS  PRIMARIES  PEER         "
                        "  CLIENT         ADMIN\n"
                        "   1  active    yes   ?          a            2          1  10.0.0.1:7101"
                        "  10.0.0.1:7001  10.0.0.1:7201\n"
                        "  12  cordoned  no    never      -            2          1  h:1          "
                        "  h:2            h:3\n");
    assert_int_equal(run_command(&tigerctl_command_groups, fake.url, NULL, "--json", NULL), 0);
    assert_string_equal(output.out, "[]\n"); // --json: the controller's answer as it came
    assert_int_equal(fake_finish(), 5);
    assert_string_equal(fake.exchanges[0].target, "GET /v1/status");
    assert_string_equal(fake.exchanges[2].target, "GET /v1/nodes");
    assert_string_equal(fake.exchanges[3].target, "GET /v1/groups");
    assert_string_equal(fake.exchanges[4].target, "GET /v1/groups");
}

static void test_heartbeat_age(void **state) {
    (void)state;
    const uint64_t now = tigerctl_time_now_ms();
    static const struct {
        uint64_t age_ms;
        const char *text;
    } cases[] = {{500, "0s ago"}, {59400, "59s ago"}, {61000, "1m ago"}, {7300000, "2h ago"},
                 {3u * 86400000u + 5000u, "3d ago"}};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        char rows[128];
        (void)snprintf(rows, sizeof(rows),
                       "[{\"id\":1,\"heartbeat_ms\":%llu,\"live\":true,\"state\":\"active\"}]",
                       (unsigned long long)(now - cases[i].age_ms));
        fake_reply(200, rows);
        fake_reply(200, "[]");
        fake_start();
        assert_int_equal(run_command(&tigerctl_command_nodes, fake.url, NULL, NULL), 0);
        assert_int_equal(fake_finish(), 2);
        fake.count = 0;
        assert_out(cases[i].text);
    }
}

static void test_groups_rooms_keys_jobs(void **state) {
    (void)state;
    fake_reply(200, "[{\"id\":1,\"epoch\":2,\"primary\":1,\"members\":[1,2,3],\"live_members\":3,"
                    "\"health\":\"healthy\",\"slots\":4096,\"change\":null},"
                    "{\"id\":2,\"epoch\":0,\"primary\":null,\"members\":[2,3,4],"
                    "\"live_members\":2,\"health\":\"degraded\",\"slots\":0,"
                    "\"change\":{\"from\":3,\"job\":7,\"kind\":\"replace\",\"step\":2,\"to\":5}}]");
    fake_reply(200, "{\"group\":2,\"room\":\"18446744073709551615\",\"slot\":77}");
    fake_reply(200, "{\"body\":{\"cluster\":\"prod\",\"groups\":[],\"nodes\":[],"
                    "\"slots\":[[0,2047,1],[2048,4095,2]],\"version\":9},\"hash\":\"ab\","
                    "\"signature\":\"cd\"}");
    fake_reply(200, "[{\"name\":\"alice\",\"role\":\"admin\",\"public_key\":\"aa\","
                    "\"added_seq\":1,\"removed_seq\":null},{\"name\":\"bob\",\"role\":\"viewer\","
                    "\"public_key\":\"bb\",\"added_seq\":2,\"removed_seq\":9}]");
    fake_reply(200, "[{\"id\":4,\"kind\":\"drain\",\"node\":3,\"topology_hash\":\"ab\","
                    "\"state\":\"failed\",\"reason\":\"stalled\",\"created_seq\":12,"
                    "\"updated_seq\":20,\"moves_done\":1,\"moves\":3},{\"id\":5,"
                    "\"kind\":\"rebalance\",\"node\":null,\"topology_hash\":\"ab\","
                    "\"state\":\"running\",\"reason\":\"\",\"created_seq\":21,\"updated_seq\":21,"
                    "\"moves_done\":0,\"moves\":8}]");
    fake_start();
    assert_int_equal(run_command(&tigerctl_command_groups, fake.url, NULL, NULL), 0);
    assert_string_equal(output.out,
                        "GROUP  EPOCH  PRIMARY  MEMBERS  LIVE  HEALTH    SLOTS  CHANGE\n"
                        "    1      2        1  1,2,3       3  healthy    4096  -\n"
                        "    2      0        -  2,3,4       2  degraded      0  "
                        "replace 3->5 (job 7, step 2)\n");
    assert_int_equal(run_command(&tigerctl_command_rooms, fake.url, NULL, "--room",
                                 "18446744073709551615", NULL), 0);
    assert_string_equal(output.out, "room   18446744073709551615\n"
                                    "slot   77\n"
                                    "group  2\n");
    assert_int_equal(run_command(&tigerctl_command_rooms, fake.url, NULL, NULL), 0);
    assert_string_equal(output.out, "topology version 9\n"
                                    "SLOTS      GROUP\n"
                                    "0-2047     1\n"
                                    "2048-4095  2\n");
    assert_int_equal(run_command(&tigerctl_command_keys_list, fake.url, NULL, NULL), 0);
    assert_string_equal(output.out, "NAME   ROLE    ADDED  REMOVED  PUBLIC KEY\n"
                                    "alice  admin       1        -  aa\n"
                                    "bob    viewer      2        9  bb\n");
    assert_int_equal(run_command(&tigerctl_command_jobs, fake.url, NULL, NULL), 0);
    assert_string_equal(output.out, "JOB  KIND       NODE  STATE    STEPS  CREATED  REASON\n"
                                    "  4  drain         3  failed   1/3         12  stalled\n"
                                    "  5  rebalance     -  running  0/8         21  -\n");
    assert_int_equal(fake_finish(), 5);
    assert_string_equal(fake.exchanges[1].target, "GET /v1/rooms?room=18446744073709551615");
    assert_string_equal(fake.exchanges[2].target, "GET /v1/topology");
    assert_string_equal(fake.exchanges[3].target, "GET /v1/keys");
    assert_string_equal(fake.exchanges[4].target, "GET /v1/jobs");
    // Refused before any request: a room id that is not a 64-bit number, or 0.
    assert_int_equal(run_command(&tigerctl_command_rooms, fake.url, NULL, "--room",
                                 "18446744073709551616", NULL), TIGERCTL_EXIT_USAGE);
    assert_int_equal(run_command(&tigerctl_command_rooms, fake.url, NULL, "--room", "0", NULL),
                     TIGERCTL_EXIT_USAGE);
}

// The single request the fake recorded at index i must be a signed POST of action with args.
static void assert_signed(uint32_t i, const char *action, const char *args,
                          struct tc_audit_request *request) {
    assert_string_equal(fake.exchanges[i].target, "POST /v1/actions");
    envelope_verify(fake.exchanges[i].body_received, action, args, request);
    assert_memory_equal(request->actor.bytes, alice.bytes, sizeof(alice.bytes));
    const uint64_t now = tigerctl_time_now_ms();
    assert_true(request->time_ms <= now && request->time_ms + 60000 > now);
}

static void test_action_signed(void **state) {
    (void)state;
    static struct tc_audit_request request;
    fake_reply(200, "{\"seq\":12,\"result\":\"ok\"}");
    fake_reply(200, "{\"seq\":13,\"result\":{\"status\":\"ok\",\"unchanged\":true}}");
    fake_reply(200, "{\"seq\":14,\"result\":\"ok\"}");
    fake_start();
    assert_int_equal(run_command(&tigerctl_command_cordon, fake.url, alice_path, "3", NULL), 0);
    assert_string_equal(output.out, "node 3 cordoned (audit seq 12)\n");
    assert_int_equal(run_command(&tigerctl_command_uncordon, fake.url, alice_path, "3", NULL), 0);
    assert_string_equal(output.out, "node 3 uncordoned (audit seq 13): "
                                    "{\"status\":\"ok\",\"unchanged\":true}\n");
    assert_int_equal(
        run_command(&tigerctl_command_cancel, fake.url, alice_path, "--json", "9", NULL), 0);
    assert_string_equal(output.out, "{\"seq\":14,\"result\":\"ok\"}\n");
    assert_int_equal(fake_finish(), 3);
    assert_signed(0, "node.cordon", "{\"node\":3}", &request);
    assert_signed(1, "node.uncordon", "{\"node\":3}", &request);
    assert_signed(2, "job.cancel", "{\"job\":9}", &request);
}

static void test_action_args(void **state) {
    (void)state;
    static struct tc_audit_request request;
    fake_reply(200, "{\"seq\":2,\"result\":\"ok\"}");
    fake_reply(200, "{\"seq\":3,\"result\":\"ok\"}");
    fake_reply(200, "{\"seq\":4,\"result\":\"ok\"}");
    fake_reply(200, "{\"seq\":5,\"result\":\"ok\"}");
    fake_reply(200, "{\"seq\":6,\"result\":\"ok\"}");
    fake_start();
    assert_int_equal(run_command(&tigerctl_command_nodes_add, fake.url, alice_path, "--id", "4",
                                 "--node-key", alice_pub_path, "--zone", "b", "--peer",
                                 "10.0.0.4:7101", "--client", "[::1]:7001", "--admin",
                                 "node-4.example:7201", NULL),
                     0);
    assert_string_equal(output.out, "node 4 added (audit seq 2)\n");
    assert_int_equal(
        run_command(&tigerctl_command_groups_create, fake.url, alice_path, "--id", "65535", NULL),
        0);
    assert_int_equal(run_command(&tigerctl_command_keys_add, fake.url, alice_path, "--name", "bob",
                                 "--role", "operator", "--pub", alice_pub_path, NULL),
                     0);
    assert_string_equal(output.out, "key bob (operator) added (audit seq 4)\n");
    assert_int_equal(run_command(&tigerctl_command_keys_remove, fake.url, alice_path, "--pub",
                                 alice_pub_path, NULL),
                     0);
    char hex[TC_AUDIT_KEY_HEX_SIZE + 1];
    tc_audit_key_hex(&alice, hex);
    assert_int_equal(
        run_command(&tigerctl_command_keys_remove, fake.url, alice_path, "--public-key", hex, NULL),
        0);
    assert_int_equal(fake_finish(), 5);
    char expected[512];
    (void)snprintf(expected, sizeof(expected),
                   "{\"address_admin\":\"node-4.example:7201\",\"address_client\":\"[::1]:7001\","
                   "\"address_peer\":\"10.0.0.4:7101\",\"node\":4,\"public_key\":\"%s\","
                   "\"zone\":\"b\"}",
                   hex);
    assert_signed(0, "node.add", expected, &request);
    assert_signed(1, "group.create", "{\"group\":65535}", &request);
    (void)snprintf(expected, sizeof(expected),
                   "{\"name\":\"bob\",\"public_key\":\"%s\",\"role\":\"operator\"}", hex);
    assert_signed(2, "key.add", expected, &request);
    (void)snprintf(expected, sizeof(expected), "{\"public_key\":\"%s\"}", hex);
    assert_signed(3, "key.remove", expected, &request);
    assert_signed(4, "key.remove", expected, &request);
}

static void test_action_usage_errors(void **state) {
    (void)state;
    char url[64];
    closed_url(url, sizeof(url)); // had any of these sent a request, it would exit 3
    assert_int_equal(run_command(&tigerctl_command_cordon, url, NULL, "3", NULL), 2);
    assert_err("--key FILE or TIGERCTL_KEY");
    assert_int_equal(run_command(&tigerctl_command_cordon, url, open_key_path, "3", NULL), 2);
    assert_err("chmod 600");
    assert_int_equal(run_command(&tigerctl_command_cordon, url, alice_pub_path, "3", NULL), 2);
    assert_err("not a secret key file");
    assert_int_equal(run_command(&tigerctl_command_cordon, url, alice_path, "0", NULL), 2);
    assert_err("NODE must be a number in 1..255, not '0'");
    assert_int_equal(run_command(&tigerctl_command_cordon, url, alice_path, "256", NULL), 2);
    assert_int_equal(run_command(&tigerctl_command_cordon, url, alice_path, NULL), 2);
    assert_int_equal(run_command(&tigerctl_command_nodes_add, url, alice_path, "--id", "4",
                                 "--node-key", alice_pub_path, "--peer", "h:0", "--client", "h:1",
                                 "--admin", "h:2", NULL),
                     2);
    assert_err("--peer must be host:port");
    assert_int_equal(run_command(&tigerctl_command_nodes_add, url, alice_path, "--id", "4",
                                 "--node-key", alice_path, "--peer", "h:1", "--client", "h:1",
                                 "--admin", "h:2", NULL),
                     2);
    assert_err("not a public key file");
    assert_int_equal(run_command(&tigerctl_command_nodes_add, url, alice_path, "--id", "4",
                                 "--node-key", alice_pub_path, "--zone", "a b", "--peer", "h:1",
                                 "--client", "h:1", "--admin", "h:2", NULL),
                     2);
    assert_int_equal(run_command(&tigerctl_command_keys_add, url, alice_path, "--name", "bob",
                                 "--role", "root", "--pub", alice_pub_path, NULL),
                     2);
    assert_err("--role must be viewer, operator or admin");
    assert_int_equal(run_command(&tigerctl_command_keys_remove, url, alice_path, "--pub",
                                 alice_pub_path, "--public-key", "00", NULL),
                     2);
    assert_int_equal(
        run_command(&tigerctl_command_keys_remove, url, alice_path, "--public-key", "ABCD", NULL),
        2);
    assert_int_equal(run_command(&tigerctl_command_groups_create, url, alice_path, NULL), 2);
    assert_err("--id is required");
    assert_int_equal(
        run_command(&tigerctl_command_drain, url, alice_path, "3", "--dry-run", "--watch", NULL),
        2);
    assert_int_equal(
        run_command(&tigerctl_command_rebalance, url, alice_path, "--max-moves", "0", NULL), 2);
    assert_int_equal(run_command(&tigerctl_command_audit_tail, url, NULL, "--limit", "1001", NULL),
                     2);
}

static void test_action_retry(void **state) {
    (void)state;
    static struct tc_audit_request first;
    static struct tc_audit_request second;
    fake_reply(500, "{\"error\":\"internal\",\"message\":\"boom\"}");
    fake_reply(200, "{\"seq\":7,\"result\":\"ok\"}");
    (void)fake_add(FAKE_CLOSE);
    fake_reply(200, "{\"seq\":8,\"result\":\"ok\"}");
    fake_reply(502, "<html>bad gateway</html>");
    fake_reply(500, "{\"error\":\"internal\",\"message\":\"boom again\"}");
    fake_start();
    assert_int_equal(run_command(&tigerctl_command_cordon, fake.url, alice_path, "3", NULL), 0);
    assert_err("HTTP 500 after the request was sent; retrying once with a new nonce");
    assert_string_equal(output.out, "node 3 cordoned (audit seq 7)\n");
    assert_int_equal(run_command(&tigerctl_command_cordon, fake.url, alice_path, "3", NULL), 0);
    assert_err("retrying once with a new nonce");
    assert_int_equal(run_command(&tigerctl_command_cordon, fake.url, alice_path, "3", NULL), 1);
    assert_err("tigerctl cordon: internal: boom again\n"); // retried once, not twice
    assert_int_equal(fake_finish(), 6);
    assert_signed(0, "node.cordon", "{\"node\":3}", &first);
    assert_signed(1, "node.cordon", "{\"node\":3}", &second);
    assert_memory_not_equal(first.nonce, second.nonce, TC_AUDIT_NONCE_SIZE);
    assert_signed(3, "node.cordon", "{\"node\":3}", &second);
}

static void test_action_not_retried(void **state) {
    (void)state;
    fake_reply(503, "{\"error\":\"audit_unavailable\",\"message\":\"the chain writer failed\"}");
    fake_reply(409, "{\"error\":\"refused\",\"message\":\"node 9 is unknown\",\"seq\":7}");
    fake_reply(403, "{\"error\":\"forbidden\",\"message\":\"bob (viewer) may not node.cordon\"}");
    fake_reply(403, "{\"error\":\"unknown_key\",\"message\":\"no such key\"}");
    fake_reply(400, "{\"error\":\"stale_request\",\"message\":\"request_time is 6 min off\"}");
    fake_start();
    assert_int_equal(run_command(&tigerctl_command_cordon, fake.url, alice_path, "3", NULL), 1);
    assert_string_equal(output.err,
                        "tigerctl cordon: audit_unavailable: the chain writer failed\n");
    assert_int_equal(run_command(&tigerctl_command_cordon, fake.url, alice_path, "9", NULL), 1);
    assert_string_equal(output.err, "tigerctl cordon: refused: node 9 is unknown (audit seq 7)\n");
    assert_int_equal(
        run_command(&tigerctl_command_cordon, fake.url, alice_path, "--json", "3", NULL), 1);
    assert_string_equal(output.out, "{\"error\":\"forbidden\",\"message\":\"bob (viewer) may not "
                                    "node.cordon\"}\n");
    assert_int_equal(run_command(&tigerctl_command_cordon, fake.url, alice_path, "3", NULL), 1);
    assert_err("unknown_key: no such key");
    assert_int_equal(run_command(&tigerctl_command_cordon, fake.url, alice_path, "3", NULL), 1);
    assert_err("stale_request");
    assert_int_equal(fake_finish(), 5);
}

static void test_unreachable_and_odd_answers(void **state) {
    (void)state;
    char url[64];
    closed_url(url, sizeof(url));
    assert_int_equal(run_command(&tigerctl_command_status, url, NULL, NULL), 3);
    char expected[128];
    (void)snprintf(expected, sizeof(expected),
                   "tigerctl status: controller at %s unreachable: ", url);
    assert_err(expected);
    assert_int_equal(run_command(&tigerctl_command_cordon, url, alice_path, "3", NULL), 3);
    assert_err("unreachable: ");
    assert_null(strstr(output.err, "retrying")); // never reached: not retried
    assert_int_equal(run_command(&tigerctl_command_status, url, NULL, "--json", NULL), 3);
    assert_out("{\"result\":\"error\",\"error\":\"controller at ");
    fake_reply(200, "hello");
    fake_reply(502, "<html>\x1b[2Jbad gateway</html>");
    fake_reply(200, "\"a string\"");
    fake_reply(200, "{\"not\":\"an array\"}");
    struct fake_exchange *big = fake_add(FAKE_BIG);
    big->big_size = TIGERCTL_HTTP_BODY_SIZE_MAX + 1;
    big->big_length = true;
    (void)fake_add(FAKE_HANG);
    fake_start();
    assert_int_equal(run_command(&tigerctl_command_status, fake.url, NULL, NULL), 1);
    assert_err("not a JSON object or array: hello");
    assert_int_equal(run_command(&tigerctl_command_status, fake.url, NULL, NULL), 1);
    assert_err("controller answered HTTP 502: <html>?[2Jbad gateway</html>");
    assert_int_equal(run_command(&tigerctl_command_status, fake.url, NULL, NULL), 1);
    assert_int_equal(run_command(&tigerctl_command_groups, fake.url, NULL, NULL), 1);
    assert_err("unexpected answer from the controller: groups is not an array");
    assert_int_equal(run_command(&tigerctl_command_groups, fake.url, NULL, NULL), 1);
    assert_err("larger than 4194304 bytes (4 MiB)");
    assert_int_equal(
        run_command(&tigerctl_command_nodes, fake.url, NULL, "--timeout-ms", "200", NULL), 3);
    assert_err("unreachable: ");
    assert_int_equal(fake_finish(), 6);
}

// ------------------------------------------------------------------------------------------------
// Plans, jobs, audit.

#define PLAN                                                                                       \
    "{\"topology_hash\":\"8f342f2e7791ced797b0d3d865b0980640720ed2d51f0da0ffbf40de5ad7e106\","     \
    "\"steps\":[{\"step\":1,\"group\":3,\"kind\":\"move_primary\",\"from\":2,\"to\":1},"           \
    "{\"step\":2,\"group\":3,\"kind\":\"replace\",\"from\":2,\"to\":4}],"               \
             "\"kind\":\"drain\",\"topology_version\":17}"
#define PLAN_HASH "8f342f2e7791ced797b0d3d865b0980640720ed2d51f0da0ffbf40de5ad7e106"
#define PLAN_TEXT                                                                                  \
    "STEP  GROUP  KIND          MOVE\n"                                                            \
    "   1      3  move_primary  2 -> 1\n"                                                          \
    "   2      3  replace       2 -> 4\n"

static void test_drain(void **state) {
    (void)state;
    static struct tc_audit_request request;
    fake_reply(200, PLAN);
    fake_reply(200, PLAN);
    fake_reply(200, "{\"result\":{\"job\":4,\"moves\":[],\"status\":\"ok\"},\"seq\":30}");
    fake_reply(409, "{\"error\":\"refused\",\"message\":\"group 3 would keep 1 live replica\"}");
    fake_start();
    assert_int_equal(run_command(&tigerctl_command_drain, fake.url, NULL, "2", "--dry-run", NULL),
                     0);
    assert_string_equal(output.out,
                        "plan: drain node 2, 2 steps (topology version 17, hash "
                        "8f342f2e7791ced7...)\n"
                        PLAN_TEXT
                        "dry run: no job started\n");
    assert_int_equal(run_command(&tigerctl_command_drain, fake.url, alice_path, "2", NULL), 0);
    assert_string_equal(output.out,
                        "plan: drain node 2, 2 steps (topology version 17, hash "
                        "8f342f2e7791ced7...)\n"
                        PLAN_TEXT
                        "job 4 started (audit seq 30)\n"
                        "follow it: tigerctl job 4 --watch\n");
    assert_int_equal(run_command(&tigerctl_command_drain, fake.url, alice_path, "2", NULL), 1);
    assert_string_equal(output.out, "");
    assert_string_equal(output.err, "tigerctl drain: refused: group 3 would keep 1 live replica\n");
    assert_int_equal(fake_finish(), 4);
    assert_string_equal(fake.exchanges[0].target, "GET /v1/plan/drain?node=2");
    assert_string_equal(fake.exchanges[1].target, "GET /v1/plan/drain?node=2");
    assert_signed(2, "job.start",
                  "{\"kind\":\"drain\",\"node\":2,\"topology_hash\":\"" PLAN_HASH "\"}", &request);
    assert_string_equal(fake.exchanges[3].target, "GET /v1/plan/drain?node=2");
}

#define JOB_RUNNING                                                                                \
    "{\"id\":4,\"kind\":\"rebalance\",\"node\":null,\"state\":\"running\",\"reason\":\"\","      \
    "\"topology_hash\":\"" PLAN_HASH "\",\"moves\":[{\"step\":1,\"group\":3,"                      \
    "\"kind\":\"move_primary\",\"from\":2,\"to\":1,\"state\":\"done\",\"progress\":\"\"},"         \
    "{\"step\":2,\"group\":3,\"kind\":\"replace\",\"from\":2,\"to\":4,\"state\":\"running\","      \
    "\"progress\":\"learner at op 120 of 400\"}]}"
#define JOB_DONE                                                                                   \
    "{\"id\":4,\"kind\":\"rebalance\",\"node\":null,\"state\":\"succeeded\",\"reason\":\"\","    \
    "\"topology_hash\":\"" PLAN_HASH "\",\"moves\":[{\"step\":1,\"group\":3,"                      \
    "\"kind\":\"move_primary\",\"from\":2,\"to\":1,\"state\":\"done\",\"progress\":\"\"},"         \
    "{\"step\":2,\"group\":3,\"kind\":\"replace\",\"from\":2,\"to\":4,\"state\":\"done\","         \
    "\"progress\":\"\"}]}"
#define JOB_FAILED                                                                                 \
    "{\"id\":4,\"kind\":\"drain\",\"node\":2,\"state\":\"failed\",\"reason\":\"group 3 stalled\"," \
    "\"moves\":[]}"

static void test_rebalance_watch(void **state) {
    (void)state;
    static struct tc_audit_request request;
    fake_reply(200, PLAN);
    fake_reply(200, "{\"result\":{\"job\":4,\"moves\":[],\"status\":\"ok\"},\"seq\":31}");
    fake_reply(200, JOB_RUNNING);
    fake_reply(200, JOB_RUNNING);
    fake_reply(200, JOB_DONE);
    fake_reply(200, "{\"topology_hash\":\"" PLAN_HASH "\",\"steps\":[]}");
    fake_start();
    assert_int_equal(run_command(&tigerctl_command_rebalance, fake.url, alice_path, "--max-moves",
                                 "2", "--watch", NULL),
                     0);
    assert_string_equal(output.out,
                        "plan: rebalance (at most 2 moves), 2 steps (topology version 17, hash "
                        "8f342f2e7791ced7...)\n" PLAN_TEXT "job 4 started (audit seq 31)\n"
                        "job 4: rebalance, running, 1/2 steps done\n"
                        "STEP  GROUP  KIND          MOVE    STATE    PROGRESS\n"
                        "   1      3  move_primary  2 -> 1  done     -\n"
                        "   2      3  replace       2 -> 4  running  learner at op 120 of 400\n"
                        "\n" // printed again only when it changed
                        "job 4: rebalance, succeeded, 2/2 steps done\n"
                        "STEP  GROUP  KIND          MOVE    STATE  PROGRESS\n"
                        "   1      3  move_primary  2 -> 1  done   -\n"
                        "   2      3  replace       2 -> 4  done   -\n");
    // An empty plan starts no job.
    assert_int_equal(run_command(&tigerctl_command_rebalance, fake.url, alice_path, NULL), 0);
    assert_string_equal(output.out, "plan: rebalance (at most 8 moves), 0 steps (topology hash "
                                    "8f342f2e7791ced7...)\nnothing to move: no job started\n");
    assert_int_equal(fake_finish(), 6);
    assert_string_equal(fake.exchanges[0].target, "GET /v1/plan/rebalance?max_moves=2");
    assert_signed(1, "job.start",
                  "{\"kind\":\"rebalance\",\"max_moves\":2,\"topology_hash\":\"" PLAN_HASH "\"}",
                  &request);
    assert_string_equal(fake.exchanges[2].target, "GET /v1/jobs/4");
    assert_string_equal(fake.exchanges[4].target, "GET /v1/jobs/4");
    assert_string_equal(fake.exchanges[5].target, "GET /v1/plan/rebalance?max_moves=8");
}

static void test_job_watch_ends(void **state) {
    (void)state;
    fake_reply(200, JOB_RUNNING);
    fake_reply(200, JOB_FAILED);
    fake_reply(200, JOB_RUNNING);
    fake_reply(200, JOB_DONE);
    fake_reply(200, JOB_FAILED);
    fake_reply(200, "{\"id\":4}");
    fake_start();
    assert_int_equal(run_command(&tigerctl_command_job, fake.url, NULL, "4", "--watch", NULL), 1);
    assert_out("job 4: drain node 2, failed, 0/0 steps done\nreason: group 3 stalled\n");
    assert_err("tigerctl job: job 4 failed\n");
    assert_int_equal(
        run_command(&tigerctl_command_job, fake.url, NULL, "--json", "4", "--watch", NULL), 0);
    assert_string_equal(output.out, JOB_RUNNING "\n" JOB_DONE "\n");
    assert_int_equal(run_command(&tigerctl_command_job, fake.url, NULL, "4", NULL), 0);
    assert_string_equal(output.out, "job 4: drain node 2, failed, 0/0 steps done\n"
                                    "reason: group 3 stalled\n"); // no --watch: a read, exit 0
    assert_int_equal(run_command(&tigerctl_command_job, fake.url, NULL, "4", "--watch", NULL), 1);
    assert_err("unexpected answer from the controller: a job needs a state");
    assert_int_equal(fake_finish(), 6);
    // The controller going away while watching: exit 3 with how to follow again.
    char url[64];
    closed_url(url, sizeof(url));
    assert_int_equal(run_command(&tigerctl_command_job, url, NULL, "4", "--watch", NULL), 3);
    assert_err("follow it again with tigerctl job 4 --watch");
}

static void test_audit_tail(void **state) {
    (void)state;
    fake_reply(200, "{\"cluster\":\"prod\",\"audit\":{\"seq\":25,\"head\":\"8f34\"}}");
    fake_reply(200, "{\"entries\":[{\"seq\":24,\"time\":\"2026-12-02T18:00:00.000Z\",\"actor\":"
                    "\"eb5652739ac25892307c99dabf151dea55022d7684c0650dbc47c35db2da5217\","
                    "\"action\":\"node.cordon\",\"args\":{\"node\":3},\"result\":\"ok\"},"
                    "{\"seq\":25,\"time\":\"2026-12-02T18:00:01.000Z\",\"actor\":\"eb56\","
                    "\"action\":\"job.start\",\"args\":{\"kind\":\"drain\",\"node\":3},"
                    "\"result\":{\"status\":\"refused\",\"reason\":\"stale topology\"}},"
                    "{\"seq\":26,\"time\":\"2026-12-02T18:00:02.000Z\",\"actor\":\"eb56\","
                    "\"action\":\"job.start\",\"args\":{\"kind\":\"rebalance\",\"max_moves\":8,"
                    "\"topology_hash\":\"" PLAN_HASH "\"},\"result\":{\"job\":3,"
                    "\"moves\":[],\"status\":\"ok\"}}],\"head_seq\":26,\"next_after\":26}");
    fake_reply(200, "{\"audit\":{\"seq\":3}}");
    fake_reply(200, "{\"entries\":[],\"head_seq\":3,\"next_after\":0}");
    fake_reply(200, "{\"entries\":[],\"head_seq\":3,\"next_after\":7}");
    fake_start();
    assert_int_equal(run_command(&tigerctl_command_audit_tail, fake.url, NULL, NULL), 0);
    // ARGS are cut at 48 bytes; --json has them whole.
    assert_string_equal(output.out,
                        "SEQ  TIME                      ACTOR            ACTION       ARGS"
                        "                                              RESULT\n"
                        " 24  2026-12-02T18:00:00.000Z  eb5652739ac2...  node.cordon  {\"node\":3}"
                        "                                        ok\n"
                        " 25  2026-12-02T18:00:01.000Z  eb56             job.start    "
                        "{\"kind\":\"drain\",\"node\":3}                         refused: stale "
                        "topology\n"
                        " 26  2026-12-02T18:00:02.000Z  eb56             job.start    "
                        "{\"kind\":\"rebalance\",\"max_moves\":8,\"topology_h...  ok (job 3)\n");
    assert_int_equal(
        run_command(&tigerctl_command_audit_tail, fake.url, NULL, "--limit", "10", NULL), 0);
    assert_string_equal(output.out, "no entries (the chain's head is seq 3)\n");
    assert_int_equal(run_command(&tigerctl_command_audit_tail, fake.url, NULL, "--after", "7",
                                 "--limit", "2", "--json", NULL),
                     0);
    assert_string_equal(output.out, "{\"entries\":[],\"head_seq\":3,\"next_after\":7}\n");
    assert_int_equal(fake_finish(), 5);
    assert_string_equal(fake.exchanges[0].target, "GET /v1/status");
    assert_string_equal(fake.exchanges[1].target, "GET /v1/audit?after=5&limit=20");
    assert_string_equal(fake.exchanges[3].target, "GET /v1/audit?after=0&limit=10");
    assert_string_equal(fake.exchanges[4].target, "GET /v1/audit?after=7&limit=2");
}

static void test_assertions_fire(void **state) {
    (void)state;
    // Programmer errors are asserted: a path without its leading '/', a zero timeout.
    char url[64];
    expect_assert_failure(tigerctl_url_build(url, sizeof(url), "http://h", "v1", NULL, 0));
    struct tigerctl_http_response response;
    expect_assert_failure(tigerctl_http_request("http://h", NULL, 0, 0, &response));
}

static int keys_setup(void **state) {
    (void)state;
    (void)snprintf(key_dir, sizeof(key_dir), "/tmp/tigerctl_unit_XXXXXX");
    assert_non_null(mkdtemp(key_dir));
    (void)snprintf(alice_path, sizeof(alice_path), "%s/alice", key_dir);
    (void)snprintf(alice_pub_path, sizeof(alice_pub_path), "%s/alice.pub", key_dir);
    (void)snprintf(open_key_path, sizeof(open_key_path), "%s/open", key_dir);
    assert_int_equal(tc_audit_keygen(alice_path, &alice), 0);
    assert_int_equal(tc_audit_key_load_secret(alice_path, &alice_secret), 0);
    assert_int_equal(tc_audit_keygen(open_key_path, NULL), 0);
    assert_int_equal(chmod(open_key_path, 0644), 0);
    return 0;
}

static int keys_teardown(void **state) {
    (void)state;
    char path[160];
    static const char *const names[] = {"alice", "alice.pub", "open", "open.pub"};
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(names); i++) {
        (void)snprintf(path, sizeof(path), "%s/%s", key_dir, names[i]);
        (void)unlink(path);
    }
    (void)rmdir(key_dir);
    free(output.out);
    free(output.err);
    free(print_buffer);
    return 0;
}

int main(void) {
    tc_assert_set_handler(assert_handler);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_verifies),
        cmocka_unit_test(test_envelope_tamper_fails),
        cmocka_unit_test(test_envelope_refusals),
        cmocka_unit_test(test_envelope_time),
        cmocka_unit_test(test_url_build),
        cmocka_unit_test(test_args_positional),
        cmocka_unit_test(test_parse_u64),
        cmocka_unit_test(test_globals_parse),
        cmocka_unit_test(test_connection_resolve),
        cmocka_unit_test(test_table_alignment),
        cmocka_unit_test(test_table_kinds),
        cmocka_unit_test(test_table_sanitize_and_cut),
        cmocka_unit_test(test_fields_print),
        cmocka_unit_test(test_sanitize),
        cmocka_unit_test_setup(test_http_answer_and_post, fake_setup),
        cmocka_unit_test_setup(test_http_body_cap, fake_setup),
        cmocka_unit_test_setup(test_http_timeout_and_refused, fake_setup),
        cmocka_unit_test_setup(test_status_and_tables, fake_setup),
        cmocka_unit_test_setup(test_heartbeat_age, fake_setup),
        cmocka_unit_test_setup(test_groups_rooms_keys_jobs, fake_setup),
        cmocka_unit_test_setup(test_action_signed, fake_setup),
        cmocka_unit_test_setup(test_action_args, fake_setup),
        cmocka_unit_test_setup(test_action_usage_errors, fake_setup),
        cmocka_unit_test_setup(test_action_retry, fake_setup),
        cmocka_unit_test_setup(test_action_not_retried, fake_setup),
        cmocka_unit_test_setup(test_unreachable_and_odd_answers, fake_setup),
        cmocka_unit_test_setup(test_drain, fake_setup),
        cmocka_unit_test_setup(test_rebalance_watch, fake_setup),
        cmocka_unit_test_setup(test_job_watch_ends, fake_setup),
        cmocka_unit_test_setup(test_audit_tail, fake_setup),
        cmocka_unit_test(test_assertions_fire),
    };
    return cmocka_run_group_tests(tests, keys_setup, keys_teardown);
}
