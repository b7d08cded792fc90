// Unit tests of the node's configuration file (node/config/node_config.c, docs/node-config.md): the
// example parses and loads; every class of error names the file, the line and the key; print ->
// parse round-trips; the JWT key file (raw, hex, EdDSA) never leaks into the printout; room routing
// matches SplitMix64's published outputs, is stable and spreads rooms; the sizing bounds agree
// with the replica's own validation.
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "node_config.h"
#include "replica.h"
#include "store.h"
#include "tc_assert.h"
#include "tc_audit.h"
#include "tc_err.h"

#define NAME "test.conf"
#define TEXT_SIZE (256u * 1024u)

static struct tc_node_config config;
static struct tc_node_config config_other;
static char error[TC_NODE_CONFIG_ERROR_SIZE];
static char text[TEXT_SIZE];
static char printed[TC_NODE_CONFIG_PRINT_SIZE_MAX];
static char printed_other[TC_NODE_CONFIG_PRINT_SIZE_MAX];
static char dir[64];
static uint8_t hs256_secret[32];
static uint8_t ed25519_public[32];

// A minimal valid config; tests replace, remove or append lines. Line numbers matter.
static const char *const base_lines[] = {
    "cluster = 42",                    // 1
    "node = 2",                        // 2
    "data_dir = /var/lib/tigerchat",   // 3
    "listen_peer = *:7102",            // 4
    "listen_client = 127.0.0.1:7202",  // 5
    "listen_admin = 127.0.0.1:7302",   // 6
    "peer.1 = 127.0.0.1:7101",         // 7
    "peer.2 = 127.0.0.1:7102",         // 8
    "peer.3 = 127.0.0.1:7103",         // 9
    "group.1 = 1,2,3",                 // 10
    "group.2 = 2,3,1",                 // 11
    "jwt_key_file = jwt.key",          // 12
};

// The base config with the line `key = ...` replaced by `replacement` (NULL: removed), then
// `append` (lines, each ending in \n) at the end.
static uint32_t build(const char *key, const char *replacement, const char *append) {
    uint32_t used = 0;
    size_t key_size = key == NULL ? 0 : strlen(key);
    for (uint32_t i = 0; i < sizeof(base_lines) / sizeof(base_lines[0]); i++) {
        const char *line = base_lines[i];
        // A key ending in '.' matches every indexed key it starts (e.g. "group.").
        bool prefix = key_size > 0 && key[key_size - 1] == '.';
        bool match = key != NULL && strncmp(line, key, key_size) == 0 &&
                     (prefix || strncmp(line + key_size, " =", 2) == 0);
        if (match && replacement == NULL) continue;
        int n = snprintf(text + used, TEXT_SIZE - used, "%s\n", match ? replacement : line);
        assert_true(n > 0 && (uint32_t)n < TEXT_SIZE - used);
        used += (uint32_t)n;
    }
    if (append != NULL) {
        int n = snprintf(text + used, TEXT_SIZE - used, "%s", append);
        assert_true(n >= 0 && (uint32_t)n < TEXT_SIZE - used);
        used += (uint32_t)n;
    }
    return used;
}

static int parse(uint32_t size) {
    return tc_node_config_parse(&config, NAME, text, size, error, sizeof(error));
}

static void parse_ok(uint32_t size) {
    int result = parse(size);
    if (result != 0) fail_msg("unexpected error: %s", error);
    assert_string_equal(error, "");
}

static bool config_zero(const struct tc_node_config *c) {
    const uint8_t *bytes = (const uint8_t *)c;
    for (size_t i = 0; i < sizeof(*c); i++) {
        if (bytes[i] != 0) return false;
    }
    return true;
}

// Parses the built text, expects TC_EINVAL with exactly `message`, and a zeroed config.
static void expect_error(uint32_t size, const char *message) {
    int result = parse(size);
    if (result != TC_EINVAL) fail_msg("expected \"%s\", got %d", message, result);
    assert_string_equal(error, message);
    assert_true(config_zero(&config));
}

static void write_file(const char *name, const void *data, size_t size) {
    char path[128];
    (void)snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
}

static void hex_encode(char *out, const uint8_t *data, size_t size) {
    for (size_t i = 0; i < size; i++) (void)sprintf(out + 2 * i, "%02x", data[i]);
}

static int setup(void **state) {
    (void)state;
    assert_true(sodium_init() >= 0);
    (void)snprintf(dir, sizeof(dir), "/tmp/tc-node-config-XXXXXX");
    assert_non_null(mkdtemp(dir));
    randombytes_buf(hs256_secret, sizeof(hs256_secret));
    uint8_t secret_key[crypto_sign_SECRETKEYBYTES];
    assert_int_equal(crypto_sign_keypair(ed25519_public, secret_key), 0);
    char hex[2 * 64 + 3];
    write_file("hs256.key", hs256_secret, sizeof(hs256_secret));
    hex_encode(hex, hs256_secret, sizeof(hs256_secret));
    memcpy(hex + 64, "\n", 2);
    write_file("hs256.hex", hex, 65);
    uint8_t long_secret[64];
    randombytes_buf(long_secret, sizeof(long_secret));
    hex_encode(hex, long_secret, sizeof(long_secret));
    write_file("hs512bit.hex", hex, 128); // 64 bytes, no newline
    write_file("short.key", hs256_secret, 16);
    memset(long_secret, 'z', sizeof(long_secret));
    write_file("long.key", long_secret, sizeof(long_secret)); // 64 bytes: fine
    uint8_t too_long[65];
    memset(too_long, 'z', sizeof(too_long));
    write_file("too_long.key", too_long, sizeof(too_long));
    uint8_t big[300];
    memset(big, 'z', sizeof(big));
    write_file("big.key", big, sizeof(big));
    write_file("empty.key", "", 0);
    write_file("ed25519.pub", ed25519_public, sizeof(ed25519_public));
    hex_encode(hex, ed25519_public, sizeof(ed25519_public));
    memcpy(hex + 64, "\r\n", 3);
    write_file("ed25519.hex", hex, 66);
    return 0;
}

static int teardown(void **state) {
    (void)state;
    DIR *d = opendir(dir);
    assert_non_null(d);
    char path[384];
    for (struct dirent *e = readdir(d); e != NULL; e = readdir(d)) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        (void)snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        assert_int_equal(unlink(path), 0);
    }
    assert_int_equal(closedir(d), 0);
    assert_int_equal(rmdir(dir), 0);
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Valid files.

static void test_example(void **state) {
    (void)state;
    const char *example = tc_node_config_example();
    int result = tc_node_config_parse(&config, "example", example, (uint32_t)strlen(example), error,
                                      sizeof(error));
    if (result != 0) fail_msg("the example does not parse: %s", error);
    assert_int_equal(config.cluster, 7);
    assert_int_equal(config.node_id, 1);
    assert_string_equal(config.data_dir, "data/node1");
    assert_string_equal(config.listen_peer.host, "0.0.0.0");
    assert_int_equal(config.listen_peer.port, 7101);
    assert_string_equal(config.listen_client.host, "127.0.0.1");
    assert_int_equal(config.listen_client.port, 7201);
    assert_int_equal(config.listen_admin.port, 7301);
    char address[TC_NODE_CONFIG_ADDRESS_TEXT_SIZE];
    assert_int_equal(tc_node_config_address_format(&config.listen_peer, address, sizeof(address)),
                     12);
    assert_string_equal(address, "0.0.0.0:7101");
    struct tc_node_config_address widest = {.host = "255.255.255.255", .port = 65535};
    assert_int_equal(tc_node_config_address_format(&widest, address, sizeof(address)), 21);
    assert_string_equal(address, "255.255.255.255:65535");
    assert_int_equal(tc_node_config_address_format(&widest, address, 21), TC_ENOSPC);
    assert_int_equal(config.peer_count, 3);
    for (uint16_t node = 1; node <= 3; node++) {
        const struct tc_node_config_peer *peer = tc_node_config_peer_find(&config, node);
        assert_non_null(peer);
        assert_string_equal(peer->address.host, "127.0.0.1");
        assert_int_equal(peer->address.port, 7100 + node);
    }
    assert_null(tc_node_config_peer_find(&config, 4));
    assert_int_equal(config.group_count, 4);
    static const uint16_t members[4][3] = {{1, 2, 3}, {2, 3, 1}, {3, 1, 2}, {1, 2, 3}};
    for (uint32_t g = 0; g < 4; g++) {
        assert_int_equal(config.groups[g].id, g + 1);
        assert_int_equal(config.groups[g].member_count, 3);
        for (uint32_t m = 0; m < 3; m++) assert_int_equal(config.groups[g].members[m], members[g][m]);
    }
    assert_int_equal(tc_node_config_group_slot(tc_node_config_group_find(&config, 2), 1), 2);
    assert_int_equal(tc_node_config_group_slot(tc_node_config_group_find(&config, 3), 3), 0);
    assert_int_equal(tc_node_config_group_slot(tc_node_config_group_find(&config, 3), 4), -1);
    assert_null(tc_node_config_group_find(&config, 5));
    assert_int_equal(config.jwt.alg, TC_EDGE_JWT_HS256);
    assert_string_equal(config.jwt_key_file, "jwt.key");
    assert_int_equal(config.jwt.key_size, 0); // parse does not read the key
    assert_int_equal(config.bus, TC_NODE_CONFIG_BUS_BUILTIN);
    assert_int_equal(config.log_level, TC_NODE_CONFIG_LOG_INFO);
    assert_int_equal(config.log_format, TC_NODE_CONFIG_LOG_TEXT);
    assert_string_equal(config.tls_cert_file, "");
}

// The example file as shipped, loaded from disk, its jwt.key beside it (the working directory).
static void test_example_load(void **state) {
    (void)state;
    const char *example = tc_node_config_example();
    write_file("node.conf", example, strlen(example));
    char hex[65];
    hex_encode(hex, hs256_secret, sizeof(hs256_secret));
    write_file("jwt.key", hex, 64);
    char cwd[512];
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(dir), 0);
    int result = tc_node_config_load(&config, "node.conf", error, sizeof(error));
    assert_int_equal(chdir(cwd), 0);
    if (result != 0) fail_msg("the example does not load: %s", error);
    assert_int_equal(config.jwt.key_size, 32);
    assert_memory_equal(config.jwt.key, hs256_secret, 32);
    const char *line = strstr(example, "\njwt_key_file =");
    assert_non_null(line);
    uint32_t line_number = 2;
    for (const char *c = example; c < line; c++) line_number += *c == '\n' ? 1u : 0u;
    assert_int_equal(config.jwt_key_file_line, line_number);
}

static void test_defaults(void **state) {
    (void)state;
    parse_ok(build(NULL, NULL, NULL));
    assert_int_equal(config.cluster, 42);
    assert_int_equal(config.node_id, 2);
    assert_int_equal(config.jwt.alg, TC_EDGE_JWT_HS256);
    assert_int_equal(config.jwt.leeway_s, 30);
    assert_int_equal(config.jwt.lifetime_s_max, 86400);
    assert_string_equal(config.jwt.tenant, "");
    assert_int_equal(config.journal_slot_count, 1024);
    assert_int_equal(config.store_segment_size_bytes, 1024 * 1024);
    assert_int_equal(config.store_segment_count, 64);
    assert_int_equal(config.clients_max, TC_CLIENTS_MAX);
    assert_int_equal(config.rooms_max, 4096);
    assert_int_equal(config.members_max, 65536);
    // docs/protocol.md §8, §9, §11.
    assert_int_equal(config.connections_max, 4096);
    assert_int_equal(config.connections_per_user_max, 16);
    assert_int_equal(config.subscriptions_per_connection_max, 64);
    assert_int_equal(config.requests_in_flight_per_connection_max, 32);
    assert_int_equal(config.send_buffer_size_bytes, 1024 * 1024);
    assert_int_equal(config.message_size_bytes_max, 32768);
    assert_int_equal(config.rate_connection_per_s, 50);
    assert_int_equal(config.rate_connection_burst, 100);
    assert_int_equal(config.rate_user_per_s, 100);
    assert_int_equal(config.rate_user_burst, 200);
    assert_int_equal(config.rate_handshake_per_ip_per_s, 20);
    assert_int_equal(config.rate_handshake_per_ip_burst, 50);
    assert_int_equal(config.ping_interval_ms, 30000);
    assert_int_equal(config.idle_timeout_ms, 60000);
    assert_int_equal(config.slow_consumer_timeout_ms, 30000);
    assert_int_equal(config.bus, TC_NODE_CONFIG_BUS_BUILTIN);
    assert_int_equal(config.redis.port, 0);
    assert_int_equal(config.log_level, TC_NODE_CONFIG_LOG_INFO);
    assert_int_equal(config.log_format, TC_NODE_CONFIG_LOG_TEXT);
    // Controller: off by default; the node key beside the data.
    assert_int_equal(config.controller.port, 0);
    assert_string_equal(config.controller.host, "");
    assert_string_equal(config.controller_key_file, "");
    assert_int_equal(config.controller_key_file_line, 0);
    assert_string_equal(config.node_key_file, "/var/lib/tigerchat/node.key");
    assert_string_equal(config.zone, "");
    assert_int_equal(config.controller_interval_ms, 1000);
}

static void test_lexing(void **state) {
    (void)state;
    const char *append = "\t# an indented comment\r\n"
                         "\n"
                         "   \t  \n"
                         "tls_cert_file = \"/etc/tc/my cert#1.pem\"   # quoted: spaces and # kept\r\n"
                         "tls_key_file=/etc/tc/key#2.pem\n"
                         "jwt_tenant =\tacme-1.eu_west # trailing comment\n"
                         "store_segment_size = \"256K\"\n"
                         "log_level = debug";
    parse_ok(build("data_dir", "  data_dir   =   /srv/tc data  ", append));
    assert_string_equal(config.data_dir, "/srv/tc data");
    assert_string_equal(config.tls_cert_file, "/etc/tc/my cert#1.pem");
    assert_string_equal(config.tls_key_file, "/etc/tc/key#2.pem");
    assert_string_equal(config.jwt.tenant, "acme-1.eu_west");
    assert_int_equal(config.store_segment_size_bytes, 256 * 1024);
    assert_int_equal(config.log_level, TC_NODE_CONFIG_LOG_DEBUG);
    // Hosts are normalized; peers and groups are sorted whatever the file's order.
    parse_ok(build("peer.1", "peer.1 = localhost:7101", "group.9 = 3\ngroup.5 = 2,3,1,5,4\n"
                                                        "peer.5 = 10.0.0.5:7105\n"
                                                        "peer.4 = 10.0.0.4:7104\n"));
    assert_string_equal(config.peers[0].address.host, "127.0.0.1");
    for (uint32_t i = 0; i < 5; i++) assert_int_equal(config.peers[i].node_id, i + 1);
    static const uint32_t ids[] = {1, 2, 5, 9};
    for (uint32_t i = 0; i < 4; i++) assert_int_equal(config.groups[i].id, ids[i]);
    assert_int_equal(config.groups[2].member_count, 5);
    assert_int_equal(config.groups[2].members[3], 5);
    assert_int_equal(config.groups[3].member_count, 1);
    // A UTF-8 byte order mark is skipped (only at the very start).
    uint32_t size = build(NULL, NULL, NULL);
    memmove(text + 3, text, size + 1);
    memcpy(text, "\xEF\xBB\xBF", 3);
    parse_ok(size + 3);
    expect_error(build(NULL, NULL, "\xEF\xBB\xBFnode = 2\n"),
                 "test.conf:13: \xEF\xBB\xBFnode: a key is 1..64 of a-z 0-9 _ . (expected \"key = "
                 "value\")");
    // Empty text has no keys at all.
    int result = tc_node_config_parse(&config, NAME, NULL, 0, error, sizeof(error));
    assert_int_equal(result, TC_EINVAL);
    assert_string_equal(error, "test.conf:1: cluster: required key is missing (no default)");
}


// ------------------------------------------------------------------------------------------------
// Errors: each names the file, the line and the key.

static void test_error_keys(void **state) {
    (void)state;
    expect_error(build(NULL, NULL, "lisen_client = 127.0.0.1:1\n"),
                 "test.conf:13: lisen_client: unknown key (did you mean listen_client?)");
    expect_error(build(NULL, NULL, "color = blue\n"), "test.conf:13: color: unknown key");
    expect_error(build(NULL, NULL, "peer = 1\n"),
                 "test.conf:13: peer: unknown key (did you mean peer.N?)");
    expect_error(build(NULL, NULL, "cluster.1 = 1\n"),
                 "test.conf:13: cluster.1: unknown key (did you mean cluster?)");
    expect_error(build(NULL, NULL, "node = 3\n"),
                 "test.conf:13: node: duplicate key (first set on line 2)");
    expect_error(build(NULL, NULL, "peer.2 = 127.0.0.1:7109\n"),
                 "test.conf:13: peer.2: duplicate key (first set on line 8)");
    expect_error(build(NULL, NULL, "group.1 = 3,2,1\n"),
                 "test.conf:13: group.1: duplicate key (first set on line 10)");
    // Missing: the line is the file's last.
    expect_error(build("cluster", NULL, NULL),
                 "test.conf:11: cluster: required key is missing (no default)");
    expect_error(build("jwt_key_file", NULL, NULL),
                 "test.conf:11: jwt_key_file: required key is missing (no default)");
    expect_error(build("listen_admin", NULL, NULL),
                 "test.conf:11: listen_admin: required key is missing (no default)");
    expect_error(build("group.", NULL, NULL),
                 "test.conf:10: group.G: required key is missing: at least one group.G = "
                 "node,node,node (or controller = host:port, whose topology places the groups)");
    expect_error(build("peer.", NULL, NULL),
                 "test.conf:9: peer.N: required key is missing: one peer.N = host:port per node");
    // Indexes.
    expect_error(build(NULL, NULL, "peer.0 = 127.0.0.1:7100\n"),
                 "test.conf:13: peer.0: the index must be a node id 1..63 (no leading zeros)");
    expect_error(build(NULL, NULL, "peer.64 = 127.0.0.1:7100\n"),
                 "test.conf:13: peer.64: the index must be a node id 1..63 (no leading zeros)");
    expect_error(build(NULL, NULL, "peer.04 = 127.0.0.1:7100\n"),
                 "test.conf:13: peer.04: the index must be a node id 1..63 (no leading zeros)");
    expect_error(build(NULL, NULL, "peer. = 127.0.0.1:7100\n"),
                 "test.conf:13: peer.: the index must be a node id 1..63 (no leading zeros)");
    expect_error(build(NULL, NULL, "group.0 = 1\n"),
                 "test.conf:13: group.0: the index must be a group id 1..2147483648 (no leading "
                 "zeros)");
    expect_error(build(NULL, NULL, "group.2147483649 = 1\n"),
                 "test.conf:13: group.2147483649: the index must be a group id 1..2147483648 (no "
                 "leading zeros)");
    parse_ok(build(NULL, NULL, "group.2147483648 = 1\n"));
    assert_int_equal(config.groups[2].id, 2147483648u);
}

static void test_error_lexing(void **state) {
    (void)state;
    expect_error(build("cluster", "cluster 42", NULL),
                 "test.conf:1: cluster: expected \"=\" after the key");
    expect_error(build(NULL, NULL, "= 42\n"), "test.conf:13: expected \"key = value\"");
    expect_error(build(NULL, NULL, "Cluster = 1\n"),
                 "test.conf:13: Cluster: a key is 1..64 of a-z 0-9 _ . (expected \"key = value\")");
    expect_error(build(NULL, NULL, "listen-client = 1\n"),
                 "test.conf:13: listen-client: a key is 1..64 of a-z 0-9 _ . (expected \"key = "
                 "value\")");
    expect_error(build("node", "node =", NULL),
                 "test.conf:2: node: empty value (leave the key out to use its default)");
    expect_error(build("node", "node = # two", NULL),
                 "test.conf:2: node: empty value (leave the key out to use its default)");
    expect_error(build("node", "node = \"\"", NULL),
                 "test.conf:2: node: empty value (leave the key out to use its default)");
    expect_error(build("data_dir", "data_dir = \"/x", NULL),
                 "test.conf:3: data_dir: unterminated quoted value (a quoted value cannot contain "
                 "'\"')");
    expect_error(build("data_dir", "data_dir = \"/x\" y", NULL),
                 "test.conf:3: data_dir: unexpected text after the closing quote");
    expect_error(build("data_dir", "data_dir = /x\x01y", NULL),
                 "test.conf:3: control character 0x01 in column 14");
    uint32_t size = build(NULL, NULL, NULL);
    text[3] = '\0';
    expect_error(size, "test.conf:1: control character 0x00 in column 4");
    expect_error(build("data_dir", "data_dir = /x\xC3(", NULL), "test.conf:3: not valid UTF-8");
    expect_error(build("data_dir", "data_dir = /x\xED\xA0\x80", NULL),
                 "test.conf:3: not valid UTF-8"); // a UTF-16 surrogate
    parse_ok(build("data_dir", "data_dir = /donn\xC3\xA9\x65s", NULL));
    char line[4200];
    memset(line, '#', 4097);
    memcpy(line + 4097, "\n", 2);
    expect_error(build(NULL, NULL, line), "test.conf:13: line is longer than 4096 bytes");
    memset(line, 'k', 65);
    memcpy(line + 65, " = 1\n", 6);
    build(NULL, NULL, line);
    assert_int_equal(parse((uint32_t)strlen(text)), TC_EINVAL);
    assert_non_null(strstr(error, "test.conf:13: kkkkk"));
    assert_non_null(strstr(error, "kkk: a key is 1..64 of a-z 0-9 _ ."));
    // Too large, before any line is looked at.
    char *large = calloc(TC_NODE_CONFIG_TEXT_SIZE_MAX + 1, 1);
    assert_non_null(large);
    memset(large, '\n', TC_NODE_CONFIG_TEXT_SIZE_MAX + 1);
    assert_int_equal(tc_node_config_parse(&config, NAME, large, TC_NODE_CONFIG_TEXT_SIZE_MAX + 1,
                                          error, sizeof(error)),
                     TC_EINVAL);
    assert_string_equal(error, "test.conf: larger than 1048576 bytes");
    assert_int_equal(tc_node_config_parse(&config, NAME, large, TC_NODE_CONFIG_TEXT_SIZE_MAX,
                                          error, sizeof(error)),
                     TC_EINVAL); // 1 MiB of blank lines: no keys
    assert_string_equal(error, "test.conf:1048576: cluster: required key is missing (no default)");
    free(large);
}

static void test_error_values(void **state) {
    (void)state;
    expect_error(build("listen_client", "listen_client = 127.0.0.1:99999", NULL),
                 "test.conf:5: listen_client: \"127.0.0.1:99999\": port must be 1..65535");
    expect_error(build("listen_client", "listen_client = 127.0.0.1:0", NULL),
                 "test.conf:5: listen_client: \"127.0.0.1:0\": port must be 1..65535");
    expect_error(build("listen_client", "listen_client = 127.0.0.1:", NULL),
                 "test.conf:5: listen_client: \"127.0.0.1:\": port must be 1..65535");
    expect_error(build("listen_client", "listen_client = example.com:80", NULL),
                 "test.conf:5: listen_client: \"example.com:80\": host must be an IPv4 address "
                 "(a.b.c.d), localhost or *");
    expect_error(build("listen_client", "listen_client = 127.0.0.01:80", NULL),
                 "test.conf:5: listen_client: \"127.0.0.01:80\": host must be an IPv4 address "
                 "(a.b.c.d), localhost or *");
    expect_error(build("listen_client", "listen_client = 256.0.0.1:80", NULL),
                 "test.conf:5: listen_client: \"256.0.0.1:80\": host must be an IPv4 address "
                 "(a.b.c.d), localhost or *");
    expect_error(build("listen_admin", "listen_admin = 7302", NULL),
                 "test.conf:6: listen_admin: \"7302\": expected host:port");
    expect_error(build("peer.1", "peer.1 = *:7101", NULL),
                 "test.conf:7: peer.1: \"*:7101\": * (any address) is only for listen_* keys; "
                 "name a host");
    expect_error(build("peer.1", "peer.1 = 0.0.0.0:7101", NULL),
                 "test.conf:7: peer.1: \"0.0.0.0:7101\": 0.0.0.0 is not a peer address");
    expect_error(build("node", "node = 64", NULL), "test.conf:2: node: \"64\": must be 1..63");
    expect_error(build("cluster", "cluster = 0", NULL),
                 "test.conf:1: cluster: \"0\": must be 1..18446744073709551615");
    expect_error(build("cluster", "cluster = 18446744073709551616", NULL),
                 "test.conf:1: cluster: \"18446744073709551616\": must be "
                 "1..18446744073709551615");
    expect_error(build("cluster", "cluster = -1", NULL),
                 "test.conf:1: cluster: \"-1\": must be a decimal number (no sign, no leading "
                 "zeros)");
    expect_error(build("cluster", "cluster = 042", NULL),
                 "test.conf:1: cluster: \"042\": must be a decimal number (no sign, no leading "
                 "zeros)");
    expect_error(build(NULL, NULL, "journal_slots = 1000\n"),
                 "test.conf:13: journal_slots: \"1000\": must be a power of two in 64..65536");
    expect_error(build(NULL, NULL, "journal_slots = 32\n"),
                 "test.conf:13: journal_slots: \"32\": must be a power of two in 64..65536");
    expect_error(build(NULL, NULL, "journal_slots = 131072\n"),
                 "test.conf:13: journal_slots: \"131072\": must be a power of two in 64..65536");
    expect_error(build(NULL, NULL, "store_segments = 1\n"),
                 "test.conf:13: store_segments: \"1\": must be 2..65536");
    expect_error(build(NULL, NULL, "clients_max = 65\n"),
                 "test.conf:13: clients_max: \"65\": must be 1..64");
    expect_error(build(NULL, NULL, "jwt_leeway_s = 301\n"),
                 "test.conf:13: jwt_leeway_s: \"301\": must be 0..300");
    expect_error(build(NULL, NULL, "members_max = 1\n"),
                 "test.conf:13: members_max: \"1\": must be 2..33554432");
}

static void test_error_sizes_enums_strings(void **state) {
    (void)state;
    const char *suffix = "bad size suffix: bytes, or a number followed by K, M or G (1K = 1024)";
    char expected[256];
    (void)snprintf(expected, sizeof(expected), "test.conf:13: store_segment_size: \"1X\": %s",
                   suffix);
    expect_error(build(NULL, NULL, "store_segment_size = 1X\n"), expected);
    (void)snprintf(expected, sizeof(expected), "test.conf:13: store_segment_size: \"1m\": %s",
                   suffix);
    expect_error(build(NULL, NULL, "store_segment_size = 1m\n"), expected);
    (void)snprintf(expected, sizeof(expected), "test.conf:13: store_segment_size: \"1MiB\": %s",
                   suffix);
    expect_error(build(NULL, NULL, "store_segment_size = 1MiB\n"), expected);
    expect_error(build(NULL, NULL, "store_segment_size = 1.5M\n"),
                 "test.conf:13: store_segment_size: \"1.5M\": must be a size: decimal bytes with "
                 "an optional K, M or G suffix");
    expect_error(build(NULL, NULL, "store_segment_size = K\n"),
                 "test.conf:13: store_segment_size: \"K\": must be a size: decimal bytes with an "
                 "optional K, M or G suffix");
    expect_error(build(NULL, NULL, "store_segment_size = 24K\n"),
                 "test.conf:13: store_segment_size: \"24K\": must be a power of two in 16K..64M");
    expect_error(build(NULL, NULL, "store_segment_size = 8K\n"),
                 "test.conf:13: store_segment_size: \"8K\": must be a power of two in 16K..64M");
    expect_error(build(NULL, NULL, "store_segment_size = 128M\n"),
                 "test.conf:13: store_segment_size: \"128M\": must be a power of two in 16K..64M");
    expect_error(build(NULL, NULL, "store_segment_size = 17179869184G\n"),
                 "test.conf:13: store_segment_size: \"17179869184G\": must be a power of two in "
                 "16K..64M"); // 2^64 bytes: overflow
    parse_ok(build(NULL, NULL, "store_segment_size = 16384\n"));
    assert_int_equal(config.store_segment_size_bytes, 16384);
    parse_ok(build(NULL, NULL, "store_segment_size = 64M\n"));
    assert_int_equal(config.store_segment_size_bytes, 64u << 20);
    expect_error(build(NULL, NULL, "send_buffer_size = 512K\n"),
                 "test.conf:13: send_buffer_size: \"512K\": must be 1M..64M");
    expect_error(build(NULL, NULL, "jwt_alg = RS256\n"),
                 "test.conf:13: jwt_alg: \"RS256\": must be HS256 | EdDSA");
    expect_error(build(NULL, NULL, "jwt_alg = hs256\n"),
                 "test.conf:13: jwt_alg: \"hs256\": must be HS256 | EdDSA");
    expect_error(build(NULL, NULL, "bus = kafka\n"),
                 "test.conf:13: bus: \"kafka\": must be builtin | redis");
    expect_error(build(NULL, NULL, "log_level = trace\n"),
                 "test.conf:13: log_level: \"trace\": must be error | warn | info | debug");
    expect_error(build(NULL, NULL, "log_format = yaml\n"),
                 "test.conf:13: log_format: \"yaml\": must be text | json");
    expect_error(build(NULL, NULL, "jwt_tenant = \"a b\"\n"),
                 "test.conf:13: jwt_tenant: \"a b\": must be 1..64 of A-Z a-z 0-9 . _ -");
    expect_error(build("data_dir", "data_dir = a\"b", NULL),
                 "test.conf:3: data_dir: \"a\"b\": a path must not contain '\"'");
    char line[600];
    memcpy(line, "data_dir = /", 12);
    memset(line + 12, 'd', 512);
    line[524] = '\0';
    // The value shown is cut to 80 bytes.
    char expected_long[256];
    (void)snprintf(expected_long, sizeof(expected_long),
                   "test.conf:3: data_dir: \"%.80s...\": path is 513 bytes; at most 512", line + 11);
    expect_error(build("data_dir", line, NULL), expected_long);
    line[523] = '\0';
    parse_ok(build("data_dir", line, NULL));
    assert_int_equal(strlen(config.data_dir), 512);
}

static void test_error_groups(void **state) {
    (void)state;
    expect_error(build(NULL, NULL, "group.3 = 1,2,9\n"),
                 "test.conf:13: group.3: member 9 is not a declared peer (no peer.9 line)");
    expect_error(build(NULL, NULL, "group.3 = 1,2\n"),
                 "test.conf:13: group.3: \"1,2\": 2 members: a group has 1, 3 or 5 (an odd count, "
                 "so that a majority is a quorum)");
    expect_error(build(NULL, NULL, "group.3 = 1,2,3,4,5,6\n"),
                 "test.conf:13: group.3: \"1,2,3,4,5,6\": more than 5 members (a group has 1, 3 "
                 "or 5)");
    expect_error(build(NULL, NULL, "group.3 = 1,2,1\n"),
                 "test.conf:13: group.3: \"1,2,1\": node 1 is listed twice (each member holds its "
                 "own replica slot)");
    expect_error(build(NULL, NULL, "group.3 = 1,,2\n"),
                 "test.conf:13: group.3: \"1,,2\": member \"\" is not a node id 1..63");
    expect_error(build(NULL, NULL, "group.3 = 1,x,2\n"),
                 "test.conf:13: group.3: \"1,x,2\": member \"x\" is not a node id 1..63");
    expect_error(build(NULL, NULL, "group.3 = 0\n"),
                 "test.conf:13: group.3: \"0\": member \"0\" is not a node id 1..63");
    expect_error(build(NULL, NULL, "group.3 = 1,2,64\n"),
                 "test.conf:13: group.3: \"1,2,64\": member \"64\" is not a node id 1..63");
    parse_ok(build(NULL, NULL, "group.3 =  3 , 1 ,2 \n"));
    assert_int_equal(config.groups[2].members[0], 3);
    // 1024 groups is the most.
    char *append = calloc(64u * 1024u, 1);
    assert_non_null(append);
    uint32_t used = 0;
    for (uint32_t id = 3; id <= 1024; id++) {
        used += (uint32_t)sprintf(append + used, "group.%u = %u\n", id, 1 + id % 3);
    }
    parse_ok(build(NULL, NULL, append));
    assert_int_equal(config.group_count, 1024);
    (void)sprintf(append + used, "group.1025 = 1\n");
    expect_error(build(NULL, NULL, append), "test.conf:1035: group.1025: more than 1024 groups");
    free(append);
}

static void test_error_cross_checks(void **state) {
    (void)state;
    expect_error(build("node", "node = 4", NULL),
                 "test.conf:2: node: this node (4) has no peer.4 line");
    expect_error(build("listen_peer", "listen_peer = *:7105", NULL),
                 "test.conf:4: listen_peer: port 7105 differs from peer.2's port 7102 (line 8)");
    expect_error(build("listen_peer", "listen_peer = 10.0.0.9:7102", NULL),
                 "test.conf:4: listen_peer: host 10.0.0.9 differs from peer.2's host 127.0.0.1 "
                 "(line 8); use * or the same host");
    parse_ok(build("listen_peer", "listen_peer = localhost:7102", NULL));
    expect_error(build("listen_admin", "listen_admin = 127.0.0.1:7202", NULL),
                 "test.conf:6: listen_admin: port 7202 is also listen_client's (line 5)");
    expect_error(build("listen_client", "listen_client = *:7302", NULL),
                 "test.conf:6: listen_admin: port 7302 is also listen_client's (line 5)");
    expect_error(build("listen_client", "listen_client = *:7102", NULL),
                 "test.conf:5: listen_client: port 7102 is also listen_peer's (line 4)");
    parse_ok(build("listen_admin", "listen_admin = 10.0.0.1:7202", NULL)); // another interface
    expect_error(build("listen_client", "listen_client = 127.0.0.1:7103", NULL),
                 "test.conf:5: listen_client: 127.0.0.1:7103 is also peer.3's address (line 9)");
    expect_error(build("listen_admin", "listen_admin = *:7101", NULL),
                 "test.conf:6: listen_admin: 0.0.0.0:7101 is also peer.1's address (line 7)");
    expect_error(build("peer.3", "peer.3 = localhost:7101", NULL),
                 "test.conf:9: peer.3: \"localhost:7101\": same address as peer.1 (line 7)");
    expect_error(build(NULL, NULL, "bus = redis\n"),
                 "test.conf:13: bus: bus = redis needs a redis = host:port line");
    expect_error(build(NULL, NULL, "redis = 127.0.0.1:6379\n"),
                 "test.conf:13: redis: set, but bus is builtin (set bus = redis, or remove redis)");
    expect_error(build(NULL, NULL, "bus = redis\nredis = *:6379\n"),
                 "test.conf:14: redis: \"*:6379\": * (any address) is only for listen_* keys; "
                 "name a host");
    parse_ok(build(NULL, NULL, "redis = localhost:6379\nbus = redis\n"));
    assert_int_equal(config.bus, TC_NODE_CONFIG_BUS_REDIS);
    assert_string_equal(config.redis.host, "127.0.0.1");
    assert_int_equal(config.redis.port, 6379);
    expect_error(build(NULL, NULL, "tls_cert_file = /etc/cert.pem\n"),
                 "test.conf:13: tls_cert_file: set without tls_key_file (set both or neither)");
    expect_error(build(NULL, NULL, "tls_key_file = /etc/key.pem\n"),
                 "test.conf:13: tls_key_file: set without tls_cert_file (set both or neither)");
    expect_error(build(NULL, NULL, "idle_timeout_ms = 30000\n"),
                 "test.conf:13: idle_timeout_ms: idle_timeout_ms = 30000 must be more than "
                 "ping_interval_ms = 30000");
    expect_error(build(NULL, NULL, "ping_interval_ms = 90000\n"),
                 "test.conf:13: ping_interval_ms: idle_timeout_ms = 60000 must be more than "
                 "ping_interval_ms = 90000");
    expect_error(build(NULL, NULL, "connections_max = 8\n"),
                 "test.conf:13: connections_max: connections_per_user_max = 16 must be at most "
                 "connections_max = 8");
    expect_error(build(NULL, NULL, "store_segment_size = 64M\nstore_segments = 65536\n"),
                 "test.conf:14: store_segments: store_segment_size x store_segments = "
                 "4398046511104 bytes; at most 1 TiB");
    parse_ok(build(NULL, NULL, "store_segment_size = 64M\nstore_segments = 16384\n"));
    expect_error(build(NULL, NULL, "send_buffer_size = 64M\n"),
                 "test.conf:13: send_buffer_size: connections_max x (send_buffer_size + "
                 "message_size_max) = 275012124672 bytes; at most 64 GiB");
}

// ------------------------------------------------------------------------------------------------
// The JWT key file.

static uint32_t build_key(const char *alg, const char *file) {
    char line[160];
    (void)snprintf(line, sizeof(line), "jwt_key_file = %s/%s", dir, file);
    char append[64];
    (void)snprintf(append, sizeof(append), "jwt_alg = %s\n", alg);
    return build("jwt_key_file", line, append);
}

static int key_read(const char *alg, const char *file) {
    parse_ok(build_key(alg, file));
    return tc_node_config_jwt_key_read(&config, NAME, error, sizeof(error));
}

static void key_ok(const char *alg, const char *file, const uint8_t *key, uint32_t key_size) {
    int result = key_read(alg, file);
    if (result != 0) fail_msg("%s %s: %s", alg, file, error);
    assert_int_equal(config.jwt.key_size, key_size);
    assert_memory_equal(config.jwt.key, key, key_size);
    assert_null(tc_edge_jwt_config_invalid(&config.jwt));
}

static void key_error(const char *alg, const char *file, int code, const char *reason) {
    assert_int_equal(key_read(alg, file), code);
    char expected[512];
    (void)snprintf(expected, sizeof(expected), "test.conf:12: jwt_key_file: \"%s/%s\": %s", dir,
                   file, reason);
    assert_string_equal(error, expected);
    assert_int_equal(config.jwt.key_size, 0);
    uint8_t zero[TC_EDGE_JWT_KEY_SIZE_MAX] = {0};
    assert_memory_equal(config.jwt.key, zero, sizeof(zero));
}

static void test_key_file(void **state) {
    (void)state;
    key_ok("HS256", "hs256.key", hs256_secret, 32);
    key_ok("HS256", "hs256.hex", hs256_secret, 32);
    uint8_t z[64];
    memset(z, 'z', sizeof(z));
    key_ok("HS256", "long.key", z, 64);
    parse_ok(build_key("HS256", "hs512bit.hex"));
    assert_int_equal(tc_node_config_jwt_key_read(&config, NAME, error, sizeof(error)), 0);
    assert_int_equal(config.jwt.key_size, 64);
    key_ok("EdDSA", "ed25519.pub", ed25519_public, 32);
    key_ok("EdDSA", "ed25519.hex", ed25519_public, 32);
    key_error("HS256", "short.key", TC_EINVAL,
              "an HS256 secret has 32..64 bytes; this one has 16 (raw bytes)");
    key_error("HS256", "too_long.key", TC_EINVAL,
              "an HS256 secret has 32..64 bytes; this one has 65 or more (raw bytes)");
    key_error("HS256", "big.key", TC_EINVAL, "larger than 256 bytes: not a key");
    key_error("HS256", "empty.key", TC_EINVAL, "the key file is empty");
    key_error("EdDSA", "hs512bit.hex", TC_EINVAL,
              "an Ed25519 public key has 32 bytes; this one has 64 (hex digits, decoded)");
    key_error("EdDSA", "short.key", TC_EINVAL,
              "an Ed25519 public key has 32 bytes; this one has 16 (raw bytes)");
    key_error("HS256", "missing.key", TC_ENOENT, "cannot read: No such file or directory");
    key_error("HS256", ".", TC_EIO, "cannot read: Is a directory");
}

static void test_load(void **state) {
    (void)state;
    char path[128];
    (void)snprintf(path, sizeof(path), "%s/node2.conf", dir);
    uint32_t size = build_key("HS256", "hs256.hex");
    write_file("node2.conf", text, size);
    int result = tc_node_config_load(&config, path, error, sizeof(error));
    if (result != 0) fail_msg("%s", error);
    assert_int_equal(config.node_id, 2);
    assert_memory_equal(config.jwt.key, hs256_secret, 32);
    // The key never appears in the printout, raw or hex.
    int printed_size = tc_node_config_print(&config, printed, sizeof(printed));
    assert_true(printed_size > 0);
    char hex[65];
    hex_encode(hex, hs256_secret, 32);
    assert_null(strstr(printed, hex));
    assert_null(memmem(printed, (size_t)printed_size, hs256_secret, 8));
    assert_non_null(strstr(printed, "/hs256.hex\"\n"));
    // A bad key fails the load and names the config file's line.
    size = build_key("HS256", "short.key");
    write_file("node2.conf", text, size);
    assert_int_equal(tc_node_config_load(&config, path, error, sizeof(error)), TC_EINVAL);
    char expected[512];
    (void)snprintf(expected, sizeof(expected), "%s:12: jwt_key_file: \"%s/short.key\": an HS256 "
                   "secret has 32..64 bytes; this one has 16 (raw bytes)", path, dir);
    assert_string_equal(error, expected);
    assert_true(config_zero(&config));
    size = build_key("HS256", "missing.key");
    write_file("node2.conf", text, size);
    assert_int_equal(tc_node_config_load(&config, path, error, sizeof(error)), TC_ENOENT);
    assert_non_null(strstr(error, ":12: jwt_key_file: \""));
    // Bad content, a missing file, an oversized file.
    size = build("node", "node = 0", NULL);
    write_file("node2.conf", text, size);
    assert_int_equal(tc_node_config_load(&config, path, error, sizeof(error)), TC_EINVAL);
    (void)snprintf(expected, sizeof(expected), "%s:2: node: \"0\": must be 1..63", path);
    assert_string_equal(error, expected);
    (void)snprintf(path, sizeof(path), "%s/nope.conf", dir);
    assert_int_equal(tc_node_config_load(&config, path, error, sizeof(error)), TC_ENOENT);
    (void)snprintf(expected, sizeof(expected), "%s: cannot read: No such file or directory", path);
    assert_string_equal(error, expected);
    char *large = calloc(TC_NODE_CONFIG_TEXT_SIZE_MAX + 1, 1);
    assert_non_null(large);
    memset(large, '\n', TC_NODE_CONFIG_TEXT_SIZE_MAX + 1);
    write_file("large.conf", large, TC_NODE_CONFIG_TEXT_SIZE_MAX + 1);
    free(large);
    (void)snprintf(path, sizeof(path), "%s/large.conf", dir);
    assert_int_equal(tc_node_config_load(&config, path, error, sizeof(error)), TC_EINVAL);
    (void)snprintf(expected, sizeof(expected), "%s: larger than 1048576 bytes", path);
    assert_string_equal(error, expected);
    // A small error buffer is cut, never overrun.
    char small[16];
    memset(small, 'x', sizeof(small));
    assert_int_equal(tc_node_config_load(&config, path, small, 12), TC_EINVAL);
    assert_int_equal(strlen(small), 11);
    assert_int_equal(small[12], 'x');
}

// ------------------------------------------------------------------------------------------------
// Printing.

// print(config) parses back into an equal config whose printout is the same text.
static void round_trip(void) {
    int size = tc_node_config_print(&config, printed, sizeof(printed));
    assert_true(size > 0 && (uint32_t)size < sizeof(printed));
    assert_int_equal(strlen(printed), (size_t)size);
    int result = tc_node_config_parse(&config_other, "printed", printed, (uint32_t)size, error,
                                      sizeof(error));
    if (result != 0) fail_msg("the printout does not parse: %s\n%s", error, printed);
    config_other.jwt_key_file_line = config.jwt_key_file_line;
    config_other.controller_key_file_line = config.controller_key_file_line;
    assert_memory_equal(&config, &config_other, sizeof(config));
    int size_other = tc_node_config_print(&config_other, printed_other, sizeof(printed_other));
    assert_int_equal(size_other, size);
    assert_string_equal(printed, printed_other);
    // Too small a buffer: TC_ENOSPC (the NUL needs a byte too).
    assert_int_equal(tc_node_config_print(&config, printed_other, (uint32_t)size), TC_ENOSPC);
    assert_int_equal(tc_node_config_print(&config, printed_other, (uint32_t)size + 1), size);
}

static void test_print_round_trip(void **state) {
    (void)state;
    parse_ok(build(NULL, NULL, NULL));
    round_trip();
    assert_non_null(strstr(printed, "\n# controller = (unset)\n"));
    assert_non_null(strstr(printed, "\n# controller_key_file = (unset)\n"));
    assert_non_null(strstr(printed, "\nnode_key_file = \"/var/lib/tigerchat/node.key\"\n"));
    assert_non_null(strstr(printed, "\n# zone = (unset)\n"));
    assert_non_null(strstr(printed, "\ncontroller_interval_ms = 1000\n"));
    assert_non_null(strstr(printed, "\njournal_slots = 1024\n"));
    assert_non_null(strstr(printed, "\nstore_segment_size = 1M\n"));
    assert_non_null(strstr(printed, "\nmessage_size_max = 32K\n"));
    assert_non_null(strstr(printed, "\nlisten_peer = 0.0.0.0:7102\n"));
    assert_non_null(strstr(printed, "\n# redis = (unset)\n"));
    assert_non_null(strstr(printed, "\n# jwt_tenant = (unset)\n"));
    assert_non_null(strstr(printed, "\ngroup.2 = 2,3,1\n"));
    const char *example = tc_node_config_example();
    assert_int_equal(tc_node_config_parse(&config, "example", example, (uint32_t)strlen(example),
                                          error, sizeof(error)),
                     0);
    round_trip();
    // Every key away from its default.
    const char *append = "jwt_alg = EdDSA\njwt_leeway_s = 0\njwt_lifetime_s_max = 0\n"
                         "jwt_tenant = acme_1\njournal_slots = 65536\n"
                         "store_segment_size = 16K\nstore_segments = 3\nclients_max = 1\n"
                         "rooms_max = 1\nmembers_max = 2\nidempotency_keys_max = 1\n"
                         "thread_messages_max = 8388608\nconnections_max = 20000\n"
                         "connections_per_user_max = 1024\n"
                         "subscriptions_per_connection_max = 1\n"
                         "requests_in_flight_per_connection_max = 1024\n"
                         "send_buffer_size = 3000001\nmessage_size_max = 10000\n"
                         "rate_connection_per_s = 1\nrate_connection_burst = 1000000\n"
                         "rate_user_per_s = 7\nrate_user_burst = 8\n"
                         "rate_handshake_per_ip_per_s = 9\nrate_handshake_per_ip_burst = 10\n"
                         "ping_interval_ms = 1000\nidle_timeout_ms = 3600000\n"
                         "slow_consumer_timeout_ms = 1000\nbus = redis\nredis = 10.1.2.3:6380\n"
                         "log_level = error\nlog_format = json\n"
                         "tls_cert_file = \"/etc/tc/a cert #1.pem\"\ntls_key_file = key.pem\n"
                         "controller = localhost:7400\ncontroller_key_file = ctl.pub\n"
                         "node_key_file = /keys/node-2.key\nzone = eu-1a\n"
                         "controller_interval_ms = 60000\n";
    parse_ok(build("jwt_key_file", "jwt_key_file = \"/keys/the key\"", append));
    assert_int_equal(config.send_buffer_size_bytes, 3000001);
    assert_int_equal(config.connections_max, 20000);
    round_trip();
    assert_non_null(strstr(printed, "\nsend_buffer_size = 3000001\n"));
    assert_non_null(strstr(printed, "\njwt_key_file = \"/keys/the key\"\n"));
    assert_non_null(strstr(printed, "\ntls_cert_file = \"/etc/tc/a cert #1.pem\"\n"));
    assert_non_null(strstr(printed, "\ncontroller = 127.0.0.1:7400\n"));
    assert_non_null(strstr(printed, "\ncontroller_key_file = \"ctl.pub\"\n"));
    assert_non_null(strstr(printed, "\nnode_key_file = \"/keys/node-2.key\"\n"));
    assert_non_null(strstr(printed, "\nzone = \"eu-1a\"\n"));
    assert_non_null(strstr(printed, "\ncontroller_interval_ms = 60000\n"));
}

// The largest config: 63 peers, 1024 groups of 5, the longest paths and numbers.
static void test_print_largest(void **state) {
    (void)state;
    char path[TC_NODE_CONFIG_PATH_SIZE_MAX + 1];
    memset(path, 'p', TC_NODE_CONFIG_PATH_SIZE_MAX);
    path[TC_NODE_CONFIG_PATH_SIZE_MAX] = '\0';
    uint32_t used = 0;
    used += (uint32_t)sprintf(text + used, "cluster = 18446744073709551615\nnode = 63\n"
                                           "listen_peer = 255.255.255.255:65535\n"
                                           "listen_client = 255.255.255.255:65534\n"
                                           "listen_admin = 255.255.255.255:65533\n"
                                           "jwt_tenant = %064d\nbus = redis\n"
                                           "redis = 255.255.255.254:65535\n", 7);
    used += (uint32_t)sprintf(text + used, "data_dir = %s\njwt_key_file = %s\n", path, path);
    used += (uint32_t)sprintf(text + used, "tls_cert_file = %s\ntls_key_file = %s\n", path, path);
    for (uint32_t node = 1; node <= 63; node++) {
        used += (uint32_t)sprintf(text + used, "peer.%u = 255.255.255.%u:%u\n", node, 192 + node,
                                  65472 + node);
    }
    for (uint32_t i = 0; i < 1024; i++) {
        uint32_t first = 59 - i % 50;
        used += (uint32_t)sprintf(text + used, "group.%u = %u,%u,%u,%u,%u\n", 2147483648u - i,
                                  first, first + 1, first + 2, first + 3, first + 4);
    }
    assert_true(used < TEXT_SIZE);
    parse_ok(used);
    assert_int_equal(config.peer_count, 63);
    assert_int_equal(config.group_count, 1024);
    assert_int_equal(config.groups[0].id, 2147483648u - 1023u);
    round_trip();
    assert_true(strlen(printed) > 40000); // 1024 group lines and more: the bound has room
}

// ------------------------------------------------------------------------------------------------
// Room routing.

static void test_room_mix(void **state) {
    (void)state;
    // SplitMix64's published outputs for seed 0: state advances by 0x9E3779B97F4A7C15.
    assert_true(tc_node_config_room_mix(0) == 0xE220A8397B1DCDAFull);
    assert_true(tc_node_config_room_mix(0x9E3779B97F4A7C15ull) == 0x6E789E6AA1B965F4ull);
    assert_true(tc_node_config_room_mix(0x3C6EF372FE94F82Aull) == 0x06C45D188009454Full);
}

// The blocks of n groups tile the 4096 slots: first(0) = 0, first(n) = 4096, each block non-empty,
// and a room routes to the block holding its slot (the controller stores the same ranges).
static void test_slot_blocks(void **state) {
    (void)state;
    assert_int_equal(tc_node_config_slot_first(1, 3), 1366); // ceil(4096 / 3)
    assert_int_equal(tc_node_config_slot_first(2, 3), 2731);
    for (uint32_t n = 1; n <= TC_NODE_CONFIG_GROUPS_MAX; n++) {
        assert_int_equal(tc_node_config_slot_first(0, n), 0);
        assert_int_equal(tc_node_config_slot_first(n, n), TC_ROUTING_SLOTS);
        for (uint32_t i = 0; i < n; i++) {
            const uint32_t first = tc_node_config_slot_first(i, n);
            const uint32_t next = tc_node_config_slot_first(i + 1, n);
            assert_true(first < next);
            assert_int_equal((uint64_t)first * n / TC_ROUTING_SLOTS, i);
            assert_int_equal((uint64_t)(next - 1) * n / TC_ROUTING_SLOTS, i);
        }
    }
    parse_ok(build("group.", NULL, "group.5 = 1,2,3\ngroup.6 = 2,3,1\ngroup.7 = 3,1,2\n"));
    for (uint64_t room = 0; room < 30000; room++) {
        const uint32_t slot = tc_node_config_room_slot(room);
        const uint32_t expected = slot < 1366 ? 5 : slot < 2731 ? 6 : 7;
        assert_int_equal(tc_node_config_room_group(&config, room), expected);
    }
}

static void test_room_routing(void **state) {
    (void)state;
    parse_ok(build("group.", NULL,
                   "group.30 = 1,2,3\ngroup.10 = 2,3,1\ngroup.40 = 3,1,2\ngroup.20 = 1\n"));
    static const uint32_t sorted[4] = {10, 20, 30, 40};
    assert_int_equal(tc_node_config_room_slot(0), 3503); // 0x...DAF % 4096
    assert_int_equal(tc_node_config_room_group(&config, 0), 40); // 3503 in [3072, 4095]
    uint32_t counts[4] = {0};
    for (uint64_t room = 0; room < 100000; room++) {
        uint32_t group = tc_node_config_room_group(&config, room);
        assert_int_equal(group, sorted[tc_node_config_room_slot(room) / 1024]);
        counts[(group / 10) - 1]++;
    }
    for (uint32_t i = 0; i < 4; i++) {
        assert_true(counts[i] > 24000 && counts[i] < 26000);
    }
    // The same groups in another order, other limits: the same routing.
    config_other = config;
    parse_ok(build("group.", NULL,
                   "group.20 = 1\ngroup.40 = 3,1,2\ngroup.10 = 2,3,1\ngroup.30 = 1,2,3\n"
                   "connections_max = 100\n"));
    assert_int_equal(config.connections_max, 100);
    for (uint64_t room = 1; room < 20000; room += 7) {
        uint64_t r = room * 0x9E3779B97F4A7C15ull;
        assert_int_equal(tc_node_config_room_group(&config, r),
                         tc_node_config_room_group(&config_other, r));
    }
    // 1024 groups: every group gets its share of a million rooms.
    char *append = calloc(64u * 1024u, 1);
    assert_non_null(append);
    uint32_t used = 0;
    for (uint32_t id = 1; id <= 1024; id++) {
        used += (uint32_t)sprintf(append + used, "group.%u = %u\n", id * 3, 1 + id % 3);
    }
    parse_ok(build("group.", NULL, append));
    free(append);
    static uint32_t spread[1024];
    for (uint64_t room = 0; room < 1024u * 1000u; room++) {
        uint32_t id = tc_node_config_room_group(&config, room);
        assert_true(id % 3 == 0 && id / 3 >= 1 && id / 3 <= 1024);
        spread[id / 3 - 1]++;
    }
    for (uint32_t i = 0; i < 1024; i++) assert_true(spread[i] > 800 && spread[i] < 1200);
    // One group takes every room.
    parse_ok(build("group.", NULL, "group.7 = 2\n"));
    for (uint64_t room = 0; room < 1000; room++) {
        assert_int_equal(tc_node_config_room_group(&config, room * 7919u), 7);
    }
}

// ------------------------------------------------------------------------------------------------
// The sizing bounds agree with the replica's own validation (node/vsr/replica.c).

static void replica_options_check(const struct tc_node_config *c) {
    struct tc_io io;
    memset(&io, 0, sizeof(io));
    struct tc_replica_options options;
    memset(&options, 0, sizeof(options));
    const struct tc_node_config_group *group = &c->groups[0];
    int32_t slot = tc_node_config_group_slot(group, c->node_id);
    assert_true(slot >= 0);
    options.cluster = c->cluster;
    options.group = group->id;
    options.replica = (uint8_t)slot;
    options.replica_count = (uint8_t)group->member_count;
    for (uint32_t m = 0; m < group->member_count; m++) options.members[m] = 1000u + group->members[m];
    options.replica_id = options.members[slot];
    options.journal_slot_count = c->journal_slot_count;
    options.clients_max = c->clients_max;
    options.room = (struct tc_room_config){.rooms_max = c->rooms_max,
                                           .members_max = c->members_max,
                                           .idempotency_keys_max = c->idempotency_keys_max,
                                           .messages_max = c->thread_messages_max};
    options.store_segment_size_bytes = c->store_segment_size_bytes;
    options.store_segment_count = c->store_segment_count;
    options.store_reads_max = 2;
    options.io = &io;
    options.room.store_bytes_max = tc_replica_store_budget_bytes(&options);
    assert_true(options.room.store_bytes_max > 0);
    const char *invalid = tc_replica_options_invalid(&options);
    if (invalid != NULL) fail_msg("replica options: %s", invalid);
}

static void test_core_bounds(void **state) {
    (void)state;
    assert_int_equal(TC_STORE_SEGMENT_SIZE_MIN, 16 * 1024);
    assert_int_equal(TC_STORE_SEGMENT_SIZE_MAX, 64 * 1024 * 1024);
    assert_int_equal(TC_NODE_CONFIG_GROUP_MEMBERS_MAX, TC_REPLICAS_MAX);
    parse_ok(build(NULL, NULL, NULL));
    replica_options_check(&config);
    parse_ok(build(NULL, NULL,
                   "journal_slots = 65536\nstore_segment_size = 64M\nstore_segments = 16384\n"
                   "clients_max = 64\nrooms_max = 2097152\nmembers_max = 33554432\n"
                   "idempotency_keys_max = 8388608\nthread_messages_max = 8388608\n"));
    replica_options_check(&config);
    parse_ok(build(NULL, NULL,
                   "journal_slots = 64\nstore_segment_size = 16K\nstore_segments = 2\n"
                   "clients_max = 1\nrooms_max = 1\nmembers_max = 2\nidempotency_keys_max = 1\n"
                   "thread_messages_max = 1\n"));
    replica_options_check(&config);
}

static void assert_handler(const char *expression, const char *file, int line) {
    mock_assert(0, expression, file, line);
}

// Programmer errors are assertions, not error codes.
static void test_assertions(void **state) {
    (void)state;
    tc_assert_handler_fn previous = tc_assert_set_handler(assert_handler);
    expect_assert_failure(tc_node_config_parse(NULL, NAME, text, 0, error, sizeof(error)));
    expect_assert_failure(tc_node_config_parse(&config, NAME, NULL, 1, error, sizeof(error)));
    memset(&config, 0, sizeof(config));
    expect_assert_failure(tc_node_config_room_group(&config, 1)); // no groups
    (void)tc_assert_set_handler(previous);
}

// ------------------------------------------------------------------------------------------------
// The controller keys (docs/node-config.md, docs/node.md §13).

static void test_controller_keys(void **state) {
    (void)state;
    parse_ok(build("data_dir", "data_dir = data/n2", "controller = 10.0.0.5:7400\n"
                   "controller_key_file = /etc/tc/controller.key.pub\nzone = eu-1a_B.2\n"
                   "controller_interval_ms = 200\n"));
    assert_string_equal(config.controller.host, "10.0.0.5");
    assert_int_equal(config.controller.port, 7400);
    assert_string_equal(config.controller_key_file, "/etc/tc/controller.key.pub");
    assert_int_equal(config.controller_key_file_line, 14);
    assert_string_equal(config.node_key_file, "data/n2/node.key"); // relative, like data_dir
    assert_string_equal(config.zone, "eu-1a_B.2");
    assert_int_equal(config.controller_interval_ms, 200);
    uint8_t zero[32] = {0};
    assert_memory_equal(config.controller_key, zero, 32); // parse reads no file
    parse_ok(build(NULL, NULL, "controller_interval_ms = 60000\nnode_key_file = n.key\n"
                   "zone = 012345678901234567890123456789012345678901234567890123456789012\n"));
    assert_int_equal(config.controller_interval_ms, 60000);
    assert_string_equal(config.node_key_file, "n.key");
    assert_int_equal(strlen(config.zone), TC_NODE_CONFIG_ZONE_SIZE_MAX);
    round_trip();
    parse_ok(build(NULL, NULL, "controller = localhost:7400\ncontroller_key_file = c.pub\n"));
    assert_string_equal(config.controller.host, "127.0.0.1");
    round_trip();
    // With a controller, groups may be left to its topology (docs/node.md §15).
    parse_ok(build("group.", NULL, "controller = 127.0.0.1:7400\ncontroller_key_file = c.pub\n"));
    assert_int_equal(config.group_count, 0);
    round_trip();
}

static void test_controller_errors(void **state) {
    (void)state;
    expect_error(build(NULL, NULL, "controller = *:7400\ncontroller_key_file = c.pub\n"),
                 "test.conf:13: controller: \"*:7400\": * (any address) is only for listen_* "
                 "keys; name a host");
    expect_error(build(NULL, NULL, "controller = 7400\n"),
                 "test.conf:13: controller: \"7400\": expected host:port");
    expect_error(build(NULL, NULL, "controller = ctl.example:7400\n"),
                 "test.conf:13: controller: \"ctl.example:7400\": host must be an IPv4 address "
                 "(a.b.c.d) or localhost");
    // controller_key_file iff controller.
    expect_error(build(NULL, NULL, "zone = a\ncontroller = 10.0.0.5:7400\n"),
                 "test.conf:14: controller_key_file: required when controller is set: the "
                 "controller's public key file (tigerchat-ed25519-public-v1 <hex>, e.g. "
                 "controller.key.pub)");
    expect_error(build(NULL, NULL, "controller_key_file = c.pub\n"),
                 "test.conf:13: controller_key_file: set, but controller is unset (set controller "
                 "= host:port, or remove controller_key_file)");
    expect_error(build(NULL, NULL, "controller_key_file = a\"b\n"),
                 "test.conf:13: controller_key_file: \"a\"b\": a path must not contain '\"'");
    // zone: 1..63 of A-Z a-z 0-9 . _ -
    expect_error(build(NULL, NULL, "zone = eu/1\n"),
                 "test.conf:13: zone: \"eu/1\": must be 1..63 of A-Z a-z 0-9 . _ -");
    expect_error(build(NULL, NULL, "zone = \"eu 1\"\n"),
                 "test.conf:13: zone: \"eu 1\": must be 1..63 of A-Z a-z 0-9 . _ -");
    expect_error(build(NULL, NULL,
                       "zone = 0123456789012345678901234567890123456789012345678901234567890123\n"),
                 "test.conf:13: zone: \"0123456789012345678901234567890123456789012345678901234567"
                 "890123\": must be 1..63 of A-Z a-z 0-9 . _ -");
    expect_error(build(NULL, NULL, "zone = a\nzone = b\n"),
                 "test.conf:14: zone: duplicate key (first set on line 13)");
    // controller_interval_ms: 200..60000.
    expect_error(build(NULL, NULL, "controller_interval_ms = 199\n"),
                 "test.conf:13: controller_interval_ms: \"199\": must be 200..60000");
    expect_error(build(NULL, NULL, "controller_interval_ms = 60001\n"),
                 "test.conf:13: controller_interval_ms: \"60001\": must be 200..60000");
    expect_error(build(NULL, NULL, "controller_interval_ms = 1s\n"),
                 "test.conf:13: controller_interval_ms: \"1s\": must be a decimal number (no "
                 "sign, no leading zeros)");
    expect_error(build(NULL, NULL, "controler = 10.0.0.5:7400\n"),
                 "test.conf:13: controler: unknown key (did you mean controller?)");
    // No room for the default <data_dir>/node.key: an error only when a controller needs it.
    char long_dir[TC_NODE_CONFIG_PATH_SIZE_MAX + 16];
    memset(long_dir, 'd', sizeof(long_dir));
    memcpy(long_dir, "data_dir = ", 11);
    long_dir[11 + 504] = '\0'; // 504 + "/node.key" = 513 bytes
    parse_ok(build("data_dir", long_dir, NULL));
    assert_string_equal(config.node_key_file, "");
    expect_error(build("data_dir", long_dir, "controller = 10.0.0.5:7400\n"
                       "controller_key_file = c.pub\n"),
                 "test.conf:3: node_key_file: data_dir is too long for the default "
                 "<data_dir>/node.key (at most 512 bytes): set node_key_file");
    parse_ok(build("data_dir", long_dir, "controller = 10.0.0.5:7400\n"
                   "controller_key_file = c.pub\nnode_key_file = /k\n"));
    long_dir[11 + 503] = '\0'; // exactly 512 bytes
    parse_ok(build("data_dir", long_dir, NULL));
    assert_int_equal(strlen(config.node_key_file), TC_NODE_CONFIG_PATH_SIZE_MAX);
}

// The controller's public key file is read by load, its errors name the file, line and key.
static void test_controller_key_file(void **state) {
    (void)state;
    char path[256];
    (void)snprintf(path, sizeof(path), "%s/ctl.key", dir);
    struct tc_audit_public_key key;
    assert_int_equal(tc_audit_keygen(path, &key), 0);
    char conf[128];
    (void)snprintf(conf, sizeof(conf), "%s/node3.conf", dir);
    char append[512];
    const char *cases[] = {"ctl.key.pub", "missing.pub", "ctl.key", "hs256.hex"};
    const int codes[] = {0, TC_ENOENT, TC_EINVAL, TC_EINVAL};
    const char *reasons[] = {NULL, "cannot read: No such file or directory",
                             "not a public key file: expected one line "
                             "\"tigerchat-ed25519-public-v1 <64 hex digits>\" holding a valid "
                             "Ed25519 key (the controller's controller.key.pub)",
                             NULL};
    reasons[3] = reasons[2];
    for (uint32_t i = 0; i < 4; i++) {
        (void)snprintf(append, sizeof(append), "controller = 127.0.0.1:7400\n"
                       "controller_key_file = %s/%s\n", dir, cases[i]);
        char jwt[256];
        (void)snprintf(jwt, sizeof(jwt), "jwt_key_file = %s/hs256.key", dir);
        const uint32_t size = build("jwt_key_file", jwt, append);
        write_file("node3.conf", text, size);
        const int result = tc_node_config_load(&config, conf, error, sizeof(error));
        assert_int_equal(result, codes[i]);
        if (result == 0) {
            assert_memory_equal(config.controller_key, key.bytes, 32);
            continue;
        }
        char expected[768];
        (void)snprintf(expected, sizeof(expected), "%s:14: controller_key_file: \"%s/%s\": %s",
                       conf, dir, cases[i], reasons[i]);
        assert_string_equal(error, expected);
        assert_true(config_zero(&config));
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example),
        cmocka_unit_test(test_example_load),
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_lexing),
        cmocka_unit_test(test_error_keys),
        cmocka_unit_test(test_error_lexing),
        cmocka_unit_test(test_error_values),
        cmocka_unit_test(test_error_sizes_enums_strings),
        cmocka_unit_test(test_error_groups),
        cmocka_unit_test(test_error_cross_checks),
        cmocka_unit_test(test_key_file),
        cmocka_unit_test(test_load),
        cmocka_unit_test(test_print_round_trip),
        cmocka_unit_test(test_print_largest),
        cmocka_unit_test(test_room_mix),
        cmocka_unit_test(test_slot_blocks),
        cmocka_unit_test(test_room_routing),
        cmocka_unit_test(test_core_bounds),
        cmocka_unit_test(test_assertions),
        cmocka_unit_test(test_controller_keys),
        cmocka_unit_test(test_controller_errors),
        cmocka_unit_test(test_controller_key_file),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
