// Unit tests of the audit chain's building blocks (audit/): canonical JSON, UTF-8, times, hex,
// action names, key files, signed requests, the exact bytes of an entry and a checkpoint (the
// worked example of docs/audit.md), the replay window and the bounded line reader.
#include <dirent.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "audit_internal.h"
#include "tc_assert.h"
#include "tc_err.h"
#include "tc_prng.h"

static void keypair_from_byte(uint8_t byte, struct tc_audit_secret_key *secret,
                              struct tc_audit_public_key *key) {
    uint8_t seed[32];
    memset(seed, byte, sizeof(seed));
    tc_audit_keypair_from_seed(seed, secret, key);
}

// A fresh directory under /tmp, removed with its files by remove_dir.
static void make_dir(char *dir, size_t size) {
    (void)snprintf(dir, size, "/tmp/tc-audit-format-XXXXXX");
    assert_non_null(mkdtemp(dir));
}

static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[512];
        (void)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        assert_int_equal(unlink(path), 0);
    }
    assert_int_equal(closedir(d), 0);
    assert_int_equal(rmdir(dir), 0);
}

static void write_file(const char *path, const char *data, size_t size, mode_t mode) {
    const int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(fchmod(fd, mode), 0);
    assert_int_equal(write(fd, data, size), (ssize_t)size);
    assert_int_equal(close(fd), 0);
}

// ------------------------------------------------------------------------------------------------
// Canonical JSON.

static int canonical(const char *text, enum audit_json_kind kind, char *out, uint32_t capacity) {
    uint32_t size = 0;
    const char *detail = NULL;
    const int rc = audit_json_canonical_text(text, kind, out, capacity, &size, &detail);
    if (rc == 0) {
        assert_int_equal(size, strlen(out));
    } else {
        assert_non_null(detail);
    }
    return rc;
}

static void expect_canonical(const char *text, const char *expected) {
    char out[1024];
    assert_int_equal(canonical(text, AUDIT_JSON_OBJECT_OR_STRING, out, sizeof(out)), 0);
    assert_string_equal(out, expected);
    // Canonical text is a fixed point.
    char again[1024];
    assert_int_equal(canonical(out, AUDIT_JSON_OBJECT_OR_STRING, again, sizeof(again)), 0);
    assert_string_equal(again, expected);
}

static void test_canonical_json_examples(void **state) {
    (void)state;
    expect_canonical("{ \"b\" : 1, \"a\" : [true, null, false] }",
                     "{\"a\":[true,null,false],\"b\":1}");
    expect_canonical("{\"z\":{\"y\":2,\"x\":{}},\"a\":[]}", "{\"a\":[],\"z\":{\"x\":{},\"y\":2}}");
    // Numbers: integers only, shortest form; -0 is 0; 1e3 is 1000.
    expect_canonical("{\"n\":-0,\"m\":1e3,\"k\":-9007199254740991}",
                     "{\"k\":-9007199254740991,\"m\":1000,\"n\":0}");
    // Strings: minimal escapes; \u escapes of printable characters become the characters; "/"
    // and DEL stay literal; other control characters use \u00xx in lowercase.
    expect_canonical("{\"s\":\"\\u0041\\/\\u00e9\\u2603\\b\\f\\n\\r\\t\\u001f\\u007f\\\"\\\\\"}",
                     "{\"s\":\"A/\xc3\xa9\xe2\x98\x83\\b\\f\\n\\r\\t\\u001f\x7f\\\"\\\\\"}");
    // Keys sort bytewise in UTF-8, which is code point order: "B" < "a" < "é" < "😀".
    expect_canonical("{\"\\ud83d\\ude00\":1,\"\\u00e9\":2,\"a\":3,\"B\":4}",
                     "{\"B\":4,\"a\":3,\"\xc3\xa9\":2,\"\xf0\x9f\x98\x80\":1}");
    expect_canonical("\"ok\"", "\"ok\"");
}

static void expect_refused(const char *text, enum audit_json_kind kind, int code) {
    char out[1024];
    assert_int_equal(canonical(text, kind, out, sizeof(out)), code);
}

static void test_canonical_json_refusals(void **state) {
    (void)state;
    expect_refused("{\"a\":1.5}", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("{\"a\":9007199254740992}", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("{\"a\":-9007199254740992}", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("{\"a\":1e400}", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("{\"a\":1,\"a\":2}", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("{\"a\":\"x\\u0000y\"}", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("{\"a\":\"\xff\"}", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("{\"\xc0\xaf\":1}", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("{\"a\":1} x", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("{\"a\":", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("[1,2]", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("\"ok\"", AUDIT_JSON_OBJECT, TC_EINVAL);
    expect_refused("42", AUDIT_JSON_OBJECT_OR_STRING, TC_EINVAL);
    // An escaped backslash followed by "u0000" is the text \u0000, not a NUL: accepted.
    char out[64];
    assert_int_equal(canonical("{\"a\":\"\\\\u0000\"}", AUDIT_JSON_OBJECT, out, sizeof(out)), 0);
    assert_string_equal(out, "{\"a\":\"\\\\u0000\"}");
    // Depth: 8 levels are fine, 9 are not.
    assert_int_equal(canonical("{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}}}",
                               AUDIT_JSON_OBJECT, out, sizeof(out)), 0);
    expect_refused("{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{\"a\":{}}}}}}}}}",
                   AUDIT_JSON_OBJECT, TC_ETOOBIG);
    expect_refused("[[[[[[[[[]]]]]]]]]", AUDIT_JSON_OBJECT_OR_STRING, TC_EINVAL);
    // Capacity: the output must fit with its NUL.
    assert_int_equal(canonical("{\"a\":1}", AUDIT_JSON_OBJECT, out, 7), TC_ETOOBIG);
    assert_int_equal(canonical("{\"a\":1}", AUDIT_JSON_OBJECT, out, 8), 0);
}

static void test_canonical_json_member_limit(void **state) {
    (void)state;
    static char text[8192];
    static char out[8192];
    struct audit_buf buf;
    for (uint32_t members = TC_AUDIT_JSON_MEMBERS_MAX; members <= TC_AUDIT_JSON_MEMBERS_MAX + 1;
         members++) {
        audit_buf_init(&buf, text, sizeof(text));
        audit_buf_put_char(&buf, '{');
        for (uint32_t i = 0; i < members; i++) {
            char member[32];
            (void)snprintf(member, sizeof(member), "%s\"k%03u\":%u", i ? "," : "", members - i, i);
            audit_buf_put_cstr(&buf, member);
        }
        audit_buf_put_char(&buf, '}');
        assert_true(audit_buf_terminate(&buf));
        const int expected = members <= TC_AUDIT_JSON_MEMBERS_MAX ? 0 : TC_ETOOBIG;
        assert_int_equal(canonical(text, AUDIT_JSON_OBJECT, out, sizeof(out)), expected);
        if (expected == 0) assert_memory_equal(out, "{\"k001\":127,\"k002\":126", 22);
    }
}

static void test_utf8(void **state) {
    (void)state;
    const struct {
        const char *text;
        bool valid;
    } cases[] = {
        {"plain", true},
        {"\xc3\xa9", true},          // é
        {"\xe2\x98\x83", true},      // snowman
        {"\xf4\x8f\xbf\xbf", true},  // U+10FFFF
        {"\xc3", false},             // truncated
        {"\xc0\x80", false},         // overlong NUL
        {"\xe0\x80\xaf", false},     // overlong
        {"\xed\xa0\x80", false},     // surrogate U+D800
        {"\xf4\x90\x80\x80", false}, // above U+10FFFF
        {"\x80", false},             // lone continuation
        {"\xf8\x88\x80\x80\x80", false},
        {"\xc3\x28", false},         // bad continuation
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        const bool valid = audit_utf8_valid(cases[i].text, (uint32_t)strlen(cases[i].text));
        assert_int_equal(valid, cases[i].valid);
    }
}

// ------------------------------------------------------------------------------------------------
// Times, hex, actions.

static void test_time(void **state) {
    (void)state;
    const struct {
        uint64_t time_ms;
        const char *text;
    } cases[] = {
        {0, "1970-01-01T00:00:00.000Z"},
        {951782400000, "2000-02-29T00:00:00.000Z"},
        {1735787045678, "2025-01-02T03:04:05.678Z"},
        {4107542399999, "2100-02-28T23:59:59.999Z"},
        {TC_AUDIT_TIME_MS_MAX, "9999-12-31T23:59:59.999Z"},
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(cases); i++) {
        char text[TC_AUDIT_TIME_TEXT_SIZE + 1];
        audit_time_format(cases[i].time_ms, text);
        assert_string_equal(text, cases[i].text);
        uint64_t parsed = 0;
        assert_true(audit_time_parse(cases[i].text, strlen(cases[i].text), &parsed));
        assert_int_equal(parsed, cases[i].time_ms);
    }
    const char *bad[] = {
        "2025-02-29T00:00:00.000Z", // not a leap year
        "2100-02-29T00:00:00.000Z", // not a leap year either
        "2025-04-31T00:00:00.000Z", "2025-13-01T00:00:00.000Z", "2025-00-10T00:00:00.000Z",
        "2025-01-01T24:00:00.000Z", "2025-01-01T00:60:00.000Z", "2025-01-01T00:00:60.000Z",
        "1969-12-31T23:59:59.999Z", "2025-01-01T00:00:00.000z", "2025-01-01 00:00:00.000Z",
        "2025-01-01T00:00:00.00Z",  "2025-01-01T00:00:00Z",     "+025-01-01T00:00:00.000Z",
        "2025-01-01T00:00:00.000+00:00",
    };
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(bad); i++) {
        uint64_t parsed = 0;
        assert_false(audit_time_parse(bad[i], strlen(bad[i]), &parsed));
    }
    // Every millisecond of a sample round-trips.
    struct tc_prng prng;
    tc_prng_init(&prng, 7);
    for (uint32_t i = 0; i < 2000; i++) {
        const uint64_t time_ms = tc_prng_below(&prng, TC_AUDIT_TIME_MS_MAX + 1);
        char text[TC_AUDIT_TIME_TEXT_SIZE + 1];
        audit_time_format(time_ms, text);
        uint64_t parsed = 0;
        assert_true(audit_time_parse(text, TC_AUDIT_TIME_TEXT_SIZE, &parsed));
        assert_int_equal(parsed, time_ms);
    }
}

static void test_hex_and_action(void **state) {
    (void)state;
    uint8_t out[2];
    assert_true(audit_hex_decode(out, 2, "0aff", 4));
    assert_int_equal(out[0], 0x0a);
    assert_int_equal(out[1], 0xff);
    assert_false(audit_hex_decode(out, 2, "0AFF", 4)); // lowercase only: one spelling
    assert_false(audit_hex_decode(out, 2, "0af", 3));
    assert_false(audit_hex_decode(out, 2, "0afff", 5));
    assert_false(audit_hex_decode(out, 2, "0ag0", 4));
    assert_true(audit_action_valid("node.drain", 10));
    assert_true(audit_action_valid("a", 1));
    assert_true(audit_action_valid("group_2.move-replica", 20));
    assert_false(audit_action_valid("", 0));
    assert_false(audit_action_valid("Node.drain", 10));
    assert_false(audit_action_valid("1node", 5));
    assert_false(audit_action_valid("node drain", 10));
    assert_false(audit_action_valid("node\"x", 6));
    char long_action[TC_AUDIT_ACTION_SIZE_MAX + 2];
    memset(long_action, 'a', sizeof(long_action));
    assert_true(audit_action_valid(long_action, TC_AUDIT_ACTION_SIZE_MAX));
    assert_false(audit_action_valid(long_action, TC_AUDIT_ACTION_SIZE_MAX + 1));
    char clean[16];
    audit_sanitize(clean, sizeof(clean), "a\x1b[2Jb\xc3\xa9");
    assert_string_equal(clean, "a?[2Jb??");
}

// ------------------------------------------------------------------------------------------------
// Keys and key files.

static void test_key_files(void **state) {
    (void)state;
    char dir[64];
    make_dir(dir, sizeof(dir));
    char path[128];
    char pub[136];
    (void)snprintf(path, sizeof(path), "%s/operator", dir);
    (void)snprintf(pub, sizeof(pub), "%s.pub", path);
    struct tc_audit_public_key generated;
    assert_int_equal(tc_audit_keygen(path, &generated), 0);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(pub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0644);
    struct tc_audit_secret_key secret;
    struct tc_audit_public_key loaded;
    struct tc_audit_public_key derived;
    assert_int_equal(tc_audit_key_load_secret(path, &secret), 0);
    assert_int_equal(tc_audit_key_load_public(pub, &loaded), 0);
    tc_audit_key_public(&secret, &derived);
    assert_memory_equal(loaded.bytes, generated.bytes, 32);
    assert_memory_equal(derived.bytes, generated.bytes, 32);
    // Never overwrites, and a second key differs.
    assert_int_equal(tc_audit_keygen(path, NULL), TC_EEXIST);
    char other[128];
    (void)snprintf(other, sizeof(other), "%s/other", dir);
    struct tc_audit_public_key second;
    assert_int_equal(tc_audit_keygen(other, &second), 0);
    assert_memory_not_equal(second.bytes, generated.bytes, 32);
    // Secret readable by others: refused. Secret and public files are not interchangeable.
    assert_int_equal(chmod(path, 0640), 0);
    assert_int_equal(tc_audit_key_load_secret(path, &secret), TC_EPERM);
    assert_int_equal(chmod(path, 0600), 0);
    assert_int_equal(tc_audit_key_load_public(path, &loaded), TC_EINVAL);
    assert_int_equal(tc_audit_key_load_secret(pub, &secret), TC_EINVAL);
    (void)snprintf(other, sizeof(other), "%s/missing", dir);
    assert_int_equal(tc_audit_key_load_public(other, &loaded), TC_ENOENT);
    tc_audit_secret_key_wipe(&secret);
    remove_dir(dir);
}

static void test_key_file_contents(void **state) {
    (void)state;
    char dir[64];
    make_dir(dir, sizeof(dir));
    char path[128];
    (void)snprintf(path, sizeof(path), "%s/k.pub", dir);
    struct tc_audit_secret_key secret;
    struct tc_audit_public_key key;
    keypair_from_byte(1, &secret, &key);
    char hex[TC_AUDIT_KEY_HEX_SIZE + 1];
    tc_audit_key_hex(&key, hex);
    char text[256];
    struct tc_audit_public_key loaded;
    // With or without the final newline.
    (void)snprintf(text, sizeof(text), "tigerchat-ed25519-public-v1 %s", hex);
    write_file(path, text, strlen(text), 0644);
    assert_int_equal(tc_audit_key_load_public(path, &loaded), 0);
    assert_memory_equal(loaded.bytes, key.bytes, 32);
    (void)snprintf(text, sizeof(text), "tigerchat-ed25519-public-v1 %s\n", hex);
    write_file(path, text, strlen(text), 0644);
    assert_int_equal(tc_audit_key_load_public(path, &loaded), 0);
    // Uppercase hex, a trailing space, another tag, or a small-order point: refused.
    (void)snprintf(text, sizeof(text), "tigerchat-ed25519-public-v1 %s \n", hex);
    write_file(path, text, strlen(text), 0644);
    assert_int_equal(tc_audit_key_load_public(path, &loaded), TC_EINVAL);
    (void)snprintf(text, sizeof(text), "tigerchat-ed25519-public-v2 %s\n", hex);
    write_file(path, text, strlen(text), 0644);
    assert_int_equal(tc_audit_key_load_public(path, &loaded), TC_EINVAL);
    (void)snprintf(text, sizeof(text), "tigerchat-ed25519-public-v1 01%062d\n", 0);
    write_file(path, text, strlen(text), 0644);
    assert_int_equal(tc_audit_key_load_public(path, &loaded), TC_EINVAL);
    assert_int_equal(tc_audit_key_from_hex(&loaded, hex), 0);
    assert_memory_equal(loaded.bytes, key.bytes, 32);
    hex[3] = 'A';
    assert_int_equal(tc_audit_key_from_hex(&loaded, hex), TC_EINVAL);
    remove_dir(dir);
}

// ------------------------------------------------------------------------------------------------
// Requests, entries and checkpoints: the worked example of docs/audit.md, byte for byte.

#define EXAMPLE_TIME_MS UINT64_C(1767268800000) // 2026-01-01T12:00:00.000Z

static void example_request(struct tc_audit_request *request, struct tc_audit_secret_key *secret) {
    struct tc_audit_public_key key;
    keypair_from_byte(0xa1, secret, &key);
    uint8_t nonce[TC_AUDIT_NONCE_SIZE];
    for (uint32_t i = 0; i < sizeof(nonce); i++) nonce[i] = (uint8_t)i;
    const int rc = tc_audit_request_init(request, &key, "node.drain",
                                         "{ \"node\": \"n2\", \"dry_run\": false }",
                                         EXAMPLE_TIME_MS - 250, nonce, NULL);
    assert_int_equal(rc, 0);
    tc_audit_request_sign(request, secret);
}

static const char example_signed_request[] =
    "tigerchat-audit-request-v1\n"
    "{\"action\":\"node.drain\","
    "\"actor\":\"bc7cbcb5636375fa1d82434d466724d92377f53b980695dd49d26d0ce12205a5\","
    "\"args\":{\"dry_run\":false,\"node\":\"n2\"},"
    "\"nonce\":\"000102030405060708090a0b0c0d0e0f\","
    "\"request_time\":\"2026-01-01T11:59:59.750Z\"}";

static void test_request_signed_bytes(void **state) {
    (void)state;
    struct tc_audit_request request;
    struct tc_audit_secret_key secret;
    example_request(&request, &secret);
    const char *expected = example_signed_request;
    char bytes[1024];
    uint32_t size = 0;
    assert_int_equal(tc_audit_request_signed_bytes(&request, bytes, sizeof(bytes), &size), 0);
    assert_int_equal(size, strlen(expected));
    assert_memory_equal(bytes, expected, size);
    assert_int_equal(tc_audit_request_signed_bytes(&request, bytes, size - 1, &size), TC_ETOOBIG);
    assert_int_equal(tc_audit_request_verify(&request), 0);
    // Every signed field matters.
    struct tc_audit_request changed = request;
    changed.time_ms++;
    assert_int_equal(tc_audit_request_verify(&changed), TC_EPERM);
    changed = request;
    changed.nonce[15] ^= 1;
    assert_int_equal(tc_audit_request_verify(&changed), TC_EPERM);
    changed = request;
    changed.action[0] = 'm';
    assert_int_equal(tc_audit_request_verify(&changed), TC_EPERM);
    changed = request;
    changed.args[13] = 't'; // the signature covers the canonical args bytes
    assert_int_equal(tc_audit_request_verify(&changed), TC_EPERM);
    // Invalid inputs.
    const char *detail = NULL;
    assert_int_equal(tc_audit_request_init(&changed, &request.actor, "Drain", "{}", 0,
                                           request.nonce, &detail), TC_EINVAL);
    assert_non_null(detail);
    assert_int_equal(tc_audit_request_init(&changed, &request.actor, "drain", "[]", 0,
                                           request.nonce, &detail), TC_EINVAL);
    assert_int_equal(tc_audit_request_init(&changed, &request.actor, "drain", "{}",
                                           TC_AUDIT_TIME_MS_MAX + 1, request.nonce, &detail),
                     TC_EINVAL);
    tc_audit_secret_key_wipe(&secret);
}

static void test_args_limit(void **state) {
    (void)state;
    static char args[TC_AUDIT_ARGS_SIZE_MAX + 64];
    struct tc_audit_secret_key secret;
    struct tc_audit_public_key key;
    keypair_from_byte(2, &secret, &key);
    uint8_t nonce[TC_AUDIT_NONCE_SIZE] = {0};
    static struct tc_audit_request request;
    // {"a":"xxx...x"} of exactly TC_AUDIT_ARGS_SIZE_MAX bytes fits; one more byte does not.
    for (uint32_t extra = 0; extra <= 1; extra++) {
        const uint32_t fill = TC_AUDIT_ARGS_SIZE_MAX - 8 + extra;
        memcpy(args, "{\"a\":\"", 6);
        memset(args + 6, 'x', fill);
        memcpy(args + 6 + fill, "\"}", 3);
        const int rc = tc_audit_request_init(&request, &key, "a", args, 0, nonce, NULL);
        assert_int_equal(rc, extra == 0 ? 0 : TC_ETOOBIG);
        if (rc == 0) assert_int_equal(request.args_size, TC_AUDIT_ARGS_SIZE_MAX);
    }
}

// The entry of the worked example: seq 1, the request above, result "ok".
static void example_entry(struct tc_audit_entry *entry) {
    struct tc_audit_request request;
    struct tc_audit_secret_key operator_secret;
    example_request(&request, &operator_secret);
    struct tc_audit_secret_key controller;
    struct tc_audit_public_key controller_key;
    keypair_from_byte(0xc0, &controller, &controller_key);
    const struct tc_hash256 zero = {{0}};
    assert_int_equal(tc_audit_entry_init(entry, &request, "\"ok\"", 1, EXAMPLE_TIME_MS, &zero,
                                         NULL), 0);
    tc_audit_entry_sign(entry, &controller);
    assert_memory_equal(entry->controller.bytes, controller_key.bytes, 32);
}

static const char example_line[] =
    "{\"action\":\"node.drain\","
    "\"actor\":\"bc7cbcb5636375fa1d82434d466724d92377f53b980695dd49d26d0ce12205a5\","
    "\"actor_sig\":\"dce137902230dde30d55b5af99ccc439ea68b023f7f45210f311e03ab42a299c"
    "ecbadb5d0c47879fdcc0b636b059a9a9bc4f2e097503dc0d71a2cf3a4702db0f\","
    "\"args\":{\"dry_run\":false,\"node\":\"n2\"},"
    "\"controller\":\"5b9437adeaffbe8f41b13d96ed49d2f51cd6c266cd8ecc284b0552ec4912b8dd\","
    "\"controller_sig\":\"83cdf38736ba813cffb5287f5576f0bb2bdb9614d8a510add79039ae546ec44d"
    "d11f0d34770f91ae59d153c2d6666ae8f729178da21f045f5817bb817dfc470a\","
    "\"nonce\":\"000102030405060708090a0b0c0d0e0f\","
    "\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\","
    "\"request_time\":\"2026-01-01T11:59:59.750Z\",\"result\":\"ok\",\"seq\":1,"
    "\"time\":\"2026-01-01T12:00:00.000Z\"}";

static const char example_checkpoint_line[] =
    "{\"controller\":\"5b9437adeaffbe8f41b13d96ed49d2f51cd6c266cd8ecc284b0552ec4912b8dd\","
    "\"controller_sig\":\"21aa82ee82699d1261b5d945f3d86ddd6ac4e0ef9bb72da3207d997f60ecf91b"
    "7f89541c278261c0a29f7bcbf88824b34387dfa16c19dc3b4225b5b7aa28d20e\","
    "\"head\":\"dc3de5defdbf6a48e4c6b0d7274725dd9e890427beba7b8b16a4421024c7c42f\","
    "\"seq\":1,\"time\":\"2026-01-01T12:00:01.000Z\"}";

static void test_entry_line(void **state) {
    (void)state;
    static struct tc_audit_entry entry;
    example_entry(&entry);
    static char line[TC_AUDIT_LINE_SIZE_MAX + 1];
    uint32_t size = 0;
    assert_int_equal(tc_audit_entry_encode(&entry, line, sizeof(line), &size), 0);
    // Ed25519 signatures are deterministic (RFC 8032): the whole line is fixed by the inputs.
    assert_int_equal(size, strlen(example_line));
    assert_string_equal(line, example_line);
    struct tc_hash256 hash;
    tc_hash256_compute(&hash, line, size);
    char hex[65];
    tc_hex_encode(hex, hash.bytes, 32);
    assert_string_equal(hex, "dc3de5defdbf6a48e4c6b0d7274725dd9e890427beba7b8b16a4421024c7c42f");
    // The checkpoint of the worked example, one second later.
    struct tc_audit_secret_key controller;
    struct tc_audit_public_key controller_key;
    keypair_from_byte(0xc0, &controller, &controller_key);
    struct tc_audit_checkpoint checkpoint = {.seq = 1, .time_ms = EXAMPLE_TIME_MS + 1000};
    checkpoint.head = hash;
    tc_audit_checkpoint_sign(&checkpoint, &controller);
    char checkpoint_line[AUDIT_CHECKPOINT_SIZE_MAX + 1];
    assert_int_equal(tc_audit_checkpoint_encode(&checkpoint, checkpoint_line,
                                                sizeof(checkpoint_line), &size), 0);
    assert_string_equal(checkpoint_line, example_checkpoint_line);
    assert_int_equal(tc_audit_entry_encode(&entry, line, sizeof(line), &size), 0);
    // Parsing it back gives the same entry, and the signatures hold.
    static struct tc_audit_entry parsed;
    static char scratch[TC_AUDIT_LINE_SIZE_MAX + 1];
    struct audit_problem problem;
    assert_true(audit_entry_parse(line, size, &parsed, scratch, &problem));
    assert_int_equal(parsed.seq, 1);
    assert_int_equal(parsed.time_ms, EXAMPLE_TIME_MS);
    assert_string_equal(parsed.request.args, entry.request.args);
    assert_string_equal(parsed.result, "\"ok\"");
    assert_true(audit_entry_signature_valid(&parsed));
    assert_int_equal(tc_audit_request_verify(&parsed.request), 0);
    // Trailing bytes after the object (cJSON ignores them) are not canonical.
    for (uint32_t i = 0; i < 2; i++) {
        line[size] = i == 0 ? ' ' : 'x';
        assert_false(audit_entry_parse(line, size + 1, &parsed, scratch, &problem));
        assert_int_equal(problem.reason, TC_AUDIT_NOT_CANONICAL);
    }
    line[size] = '\0';
    // Capacity: the line and its NUL must fit.
    assert_int_equal(tc_audit_entry_encode(&entry, line, size, &size), TC_ETOOBIG);
}

static void expect_parse_problem(const char *line, enum tc_audit_reason reason,
                                 const char *detail_part) {
    static struct tc_audit_entry parsed;
    static char scratch[TC_AUDIT_LINE_SIZE_MAX + 1];
    struct audit_problem problem;
    assert_false(audit_entry_parse(line, (uint32_t)strlen(line), &parsed, scratch, &problem));
    assert_int_equal(problem.reason, reason);
    if (strstr(problem.detail, detail_part) == NULL) fail_msg("detail: %s", problem.detail);
}

// Rewrites the example line with `from` replaced by `to` (first occurrence) and checks the
// parser's verdict.
static void expect_edit_problem(const char *from, const char *to, enum tc_audit_reason reason,
                                const char *detail_part) {
    static struct tc_audit_entry entry;
    example_entry(&entry);
    static char line[TC_AUDIT_LINE_SIZE_MAX + 1];
    static char edited[TC_AUDIT_LINE_SIZE_MAX + 1];
    uint32_t size = 0;
    assert_int_equal(tc_audit_entry_encode(&entry, line, sizeof(line), &size), 0);
    const char *at = strstr(line, from);
    assert_non_null(at);
    const size_t prefix = (size_t)(at - line);
    (void)snprintf(edited, sizeof(edited), "%.*s%s%s", (int)prefix, line, to, at + strlen(from));
    expect_parse_problem(edited, reason, detail_part);
}

static void test_entry_parse_problems(void **state) {
    (void)state;
    expect_parse_problem("", TC_AUDIT_NOT_JSON, "empty line");
    expect_parse_problem("{\"seq\":", TC_AUDIT_NOT_JSON, "not valid JSON");
    expect_parse_problem("[]", TC_AUDIT_BAD_FIELD, "not a JSON object");
    expect_parse_problem("{\"seq\":1}", TC_AUDIT_BAD_FIELD, "missing field 'action'");
    expect_parse_problem("{\"x\x1b\":1}", TC_AUDIT_NOT_CANONICAL, "raw control byte 0x1b");
    expect_parse_problem("{\"x\xff\":1}", TC_AUDIT_BAD_FIELD, "unexpected field 'x?'");
    expect_edit_problem("{\"action\":", "{ \"action\":", TC_AUDIT_NOT_CANONICAL,
                        "canonical encoding at byte 2");
    expect_edit_problem("\"seq\":1", "\"seq\":1.0", TC_AUDIT_NOT_CANONICAL, "canonical encoding");
    expect_edit_problem("\"seq\":1", "\"seq\":0", TC_AUDIT_BAD_FIELD, "field 'seq'");
    expect_edit_problem("\"seq\":1", "\"seq\":\"1\"", TC_AUDIT_BAD_FIELD, "field 'seq'");
    expect_edit_problem("\"node\":\"n2\"", "\"node\":\"n\\u0032\"", TC_AUDIT_NOT_CANONICAL,
                        "canonical encoding");
    expect_edit_problem("\"dry_run\":false", "\"dry_run\":0.5", TC_AUDIT_BAD_FIELD,
                        "field 'args': number is not an integer");
    expect_edit_problem("\"result\":\"ok\"", "\"result\":7", TC_AUDIT_BAD_FIELD, "field 'result'");
    expect_edit_problem("\"nonce\":\"00", "\"nonce\":\"0A", TC_AUDIT_BAD_FIELD,
                        "field 'nonce' is not 32 lowercase hex characters");
    expect_edit_problem("T12:00:00.000Z", "T12:00:00Z", TC_AUDIT_BAD_FIELD, "field 'time'");
    expect_edit_problem("\"action\":\"node.drain\"", "\"action\":\"Node.drain\"",
                        TC_AUDIT_BAD_FIELD, "field 'action'");
    expect_edit_problem("{\"action\":", "{\"zzz\":1,\"action\":", TC_AUDIT_BAD_FIELD,
                        "unexpected field 'zzz'");
    expect_edit_problem("{\"action\":\"node.drain\",", "{\"action\":\"node.drain\","
                        "\"action\":\"node.drain\",", TC_AUDIT_BAD_FIELD, "appears twice");
    expect_edit_problem("{\"action\":\"node.drain\",", "{", TC_AUDIT_BAD_FIELD,
                        "missing field 'action'");
    expect_edit_problem("\"result\":\"ok\",\"seq\":1", "\"seq\":1,\"result\":\"ok\"",
                        TC_AUDIT_NOT_CANONICAL, "sorted order");
}

static void test_checkpoint_line(void **state) {
    (void)state;
    struct tc_audit_secret_key controller;
    struct tc_audit_public_key controller_key;
    keypair_from_byte(0xc0, &controller, &controller_key);
    struct tc_audit_checkpoint checkpoint = {.seq = 42, .time_ms = EXAMPLE_TIME_MS};
    memset(checkpoint.head.bytes, 0xab, sizeof(checkpoint.head.bytes));
    tc_audit_checkpoint_sign(&checkpoint, &controller);
    char line[AUDIT_CHECKPOINT_SIZE_MAX + 1];
    uint32_t size = 0;
    assert_int_equal(tc_audit_checkpoint_encode(&checkpoint, line, sizeof(line), &size), 0);
    assert_memory_equal(line, "{\"controller\":\"", 15);
    const char *tail = line + 15 + 64;
    assert_memory_equal(tail, "\",\"controller_sig\":\"", 20);
    tail += 20 + 128;
    const char *expected_tail = "\",\"head\":\"abababababababababababababababababababababababababab"
                                "abababababab\",\"seq\":42,\"time\":\"2026-01-01T12:00:00.000Z\"}";
    assert_string_equal(tail, expected_tail);
    static char scratch[TC_AUDIT_LINE_SIZE_MAX + 1];
    struct tc_audit_checkpoint parsed;
    struct audit_problem problem;
    assert_true(audit_checkpoint_parse(line, size, &parsed, scratch, &problem));
    assert_true(audit_checkpoint_signature_valid(&parsed));
    parsed.seq = 43;
    assert_false(audit_checkpoint_signature_valid(&parsed));
    // An entry's signature can never pass as a checkpoint's (domains differ) and vice versa: the
    // signed bytes start differently.
    assert_int_not_equal(strcmp(audit_domain_entry, audit_domain_checkpoint), 0);
    assert_int_not_equal(strcmp(audit_domain_entry, audit_domain_request), 0);
}

// ------------------------------------------------------------------------------------------------
// Replay window: a model check against a plain list, with forced hash collisions.

static void window_key(uint8_t key[16], uint32_t id, uint32_t home) {
    memset(key, 0, 16);
    key[0] = (uint8_t)home; // the home slot comes from the first 4 bytes
    key[1] = (uint8_t)(home >> 8);
    memcpy(key + 8, &id, sizeof(id));
}

static void test_window_model(void **state) {
    (void)state;
    static struct audit_window window;
    audit_window_reset(&window);
    // The model: every push in order (ids, times, homes); live ones are [first, first + count).
    enum { PUSHES = 40000, HOMES = 8 };
    static uint64_t model_time[PUSHES];
    static uint32_t model_home[PUSHES];
    uint32_t first = 0;
    uint32_t count = 0;
    struct tc_prng prng;
    tc_prng_init(&prng, 99);
    uint64_t time_ms = 0;
    const uint64_t span_ms = 2 * TC_AUDIT_REQUEST_SKEW_MS_MAX;
    for (uint32_t id = 0; id < PUSHES; id++) {
        time_ms += tc_prng_below(&prng, 120);
        audit_window_advance(&window, time_ms);
        const uint32_t evicted_before = first;
        while (count > 0 && time_ms >= span_ms && model_time[first] < time_ms - span_ms) {
            first++;
            count--;
        }
        assert_int_equal(window.count, count);
        assert_false(audit_window_full(&window));
        // Few distinct homes: long probe runs that wrap around the end of the table.
        model_home[id] = (uint32_t)tc_prng_below(&prng, HOMES) * 4099 + AUDIT_WINDOW_SLOTS - 20;
        model_time[id] = time_ms;
        uint8_t key[16];
        window_key(key, id, model_home[id]);
        assert_null(audit_window_find(&window, key));
        audit_window_push(&window, key, time_ms, id, id);
        count++;
        // A random live id is found; every id evicted by this step is gone.
        const uint32_t probe = first + (uint32_t)tc_prng_below(&prng, count);
        window_key(key, probe, model_home[probe]);
        const struct audit_window_item *item = audit_window_find(&window, key);
        assert_non_null(item);
        assert_int_equal(item->seq, probe);
        for (uint32_t gone = evicted_before; gone < first; gone++) {
            window_key(key, gone, model_home[gone]);
            assert_null(audit_window_find(&window, key));
        }
    }
    assert_true(window.count > 1000);
    assert_true(first > 1000);
}

static void test_window_lookup_after_deletes(void **state) {
    (void)state;
    static struct audit_window window;
    audit_window_reset(&window);
    // Ten keys sharing one home slot near the end of the table, then the first five expire.
    uint8_t keys[10][16];
    for (uint32_t i = 0; i < 10; i++) {
        window_key(keys[i], i, AUDIT_WINDOW_SLOTS - 3);
        audit_window_push(&window, keys[i], i < 5 ? 0 : 2 * TC_AUDIT_REQUEST_SKEW_MS_MAX, i, i);
    }
    audit_window_advance(&window, 2 * TC_AUDIT_REQUEST_SKEW_MS_MAX + 1);
    assert_int_equal(window.count, 5);
    for (uint32_t i = 0; i < 10; i++) {
        const struct audit_window_item *item = audit_window_find(&window, keys[i]);
        if (i < 5) {
            assert_null(item);
        } else {
            assert_non_null(item);
            assert_int_equal(item->seq, i);
        }
    }
}

// ------------------------------------------------------------------------------------------------
// The bounded line reader.

static void test_reader(void **state) {
    (void)state;
    char dir[64];
    make_dir(dir, sizeof(dir));
    char path[128];
    (void)snprintf(path, sizeof(path), "%s/lines", dir);
    // Lines of growing size up to the limit, crossing buffer refills, then one over the limit.
    static char data[6 * (TC_AUDIT_LINE_SIZE_MAX + 1)];
    const uint32_t sizes[] = {0, 1, 1000, TC_AUDIT_LINE_SIZE_MAX - 1, TC_AUDIT_LINE_SIZE_MAX, 7,
                              TC_AUDIT_LINE_SIZE_MAX + 1};
    uint32_t at = 0;
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(sizes); i++) {
        memset(data + at, 'a' + (char)i, sizes[i]);
        at += sizes[i];
        data[at++] = '\n';
    }
    write_file(path, data, at, 0644);
    const int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    static char buffer[AUDIT_READER_CAPACITY];
    struct audit_reader reader;
    audit_reader_init(&reader, fd, buffer);
    for (uint32_t i = 0; i + 1 < TC_ARRAY_COUNT(sizes); i++) {
        const char *line = NULL;
        uint32_t size = 0;
        assert_int_equal(audit_reader_next(&reader, &line, &size), AUDIT_READ_LINE);
        assert_int_equal(size, sizes[i]);
        assert_int_equal(reader.line, i + 1);
        if (size > 0) assert_int_equal(line[size - 1], 'a' + (char)i);
    }
    const char *line = NULL;
    uint32_t size = 0;
    assert_int_equal(audit_reader_next(&reader, &line, &size), AUDIT_READ_TOO_LONG);
    assert_int_equal(reader.line, TC_ARRAY_COUNT(sizes));
    (void)close(fd);
    // A final line without its newline is incomplete; an empty file ends at once.
    write_file(path, "ab\ncd", 5, 0644);
    const int fd2 = open(path, O_RDONLY);
    audit_reader_init(&reader, fd2, buffer);
    assert_int_equal(audit_reader_next(&reader, &line, &size), AUDIT_READ_LINE);
    assert_int_equal(audit_reader_next(&reader, &line, &size), AUDIT_READ_INCOMPLETE);
    assert_int_equal(size, 2);
    assert_int_equal(reader.line, 2);
    (void)close(fd2);
    write_file(path, "", 0, 0644);
    const int fd3 = open(path, O_RDONLY);
    audit_reader_init(&reader, fd3, buffer);
    assert_int_equal(audit_reader_next(&reader, &line, &size), AUDIT_READ_END);
    (void)close(fd3);
    remove_dir(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_canonical_json_examples),
        cmocka_unit_test(test_canonical_json_refusals),
        cmocka_unit_test(test_canonical_json_member_limit),
        cmocka_unit_test(test_utf8),
        cmocka_unit_test(test_time),
        cmocka_unit_test(test_hex_and_action),
        cmocka_unit_test(test_key_files),
        cmocka_unit_test(test_key_file_contents),
        cmocka_unit_test(test_request_signed_bytes),
        cmocka_unit_test(test_args_limit),
        cmocka_unit_test(test_entry_line),
        cmocka_unit_test(test_entry_parse_problems),
        cmocka_unit_test(test_checkpoint_line),
        cmocka_unit_test(test_window_model),
        cmocka_unit_test(test_window_lookup_after_deletes),
        cmocka_unit_test(test_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
