// Unit tests of the audit writer and verifier (audit/): a round trip, reopening, the writer's
// refusals, and tampering of every kind — each tamper test asserts the exact failing file, line
// and reason — plus a mutation sweep: every single-byte change to a good log or checkpoint file
// fails verification (and, under ASan/UBSan, never reads out of bounds).
//
// The standard fixture: a log of 10 entries by two operators (alice: odd seqs, bob: even seqs),
// entry i at 2026-01-01T00:00:0i.000Z with args {"dry_run":false,"node":"n<i>"}, every third
// result refused, and checkpoints after seq 5 and seq 10.
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

#define ENTRIES 10u
#define LINES_MAX 64u
#define TIME_BASE_MS UINT64_C(1767225600000) // 2026-01-01T00:00:00.000Z
#define REFUSED "{\"status\":\"refused\",\"reason\":\"group 7 would keep 1 live replica\"}"

struct keypair {
    struct tc_audit_secret_key secret;
    struct tc_audit_public_key key;
};

struct fx {
    char dir[64];
    char log[128];
    char checkpoints[128];
    char other[128];
    struct keypair controller;
    struct keypair alice;
    struct keypair bob;
    struct keypair mallory;
    struct tc_audit_public_key operators[2];
    struct tc_audit_keyring pinned;
    char *lines[LINES_MAX];
    uint32_t line_count;
    struct tc_audit_report report;
};

static const char *const actions[] = {"node.drain", "node.cordon", "room.move", "group.rebalance"};

static void keypair_init(struct keypair *pair, uint8_t byte) {
    uint8_t seed[32];
    memset(seed, byte, sizeof(seed));
    tc_audit_keypair_from_seed(seed, &pair->secret, &pair->key);
}

// A signed request; the nonce is derived from `tag` so a test can rebuild the same request.
static void request_make(struct tc_audit_request *request, const struct keypair *actor,
                         const char *action, const char *args, uint64_t time_ms, uint32_t tag) {
    uint8_t nonce[TC_AUDIT_NONCE_SIZE];
    memset(nonce, 0x5a, sizeof(nonce));
    memcpy(nonce, &tag, sizeof(tag));
    memcpy(nonce + 4, actor->key.bytes, 4);
    assert_int_equal(tc_audit_request_init(request, &actor->key, action, args, time_ms, nonce,
                                           NULL), 0);
    tc_audit_request_sign(request, &actor->secret);
}

static uint64_t entry_time(uint32_t i) { return TIME_BASE_MS + (uint64_t)i * 1000; }

// Appends entry i of the standard log through the writer.
static void append_standard(struct tc_audit_writer *writer, struct fx *fx, uint32_t i) {
    static struct tc_audit_request request;
    char args[64];
    (void)snprintf(args, sizeof(args), "{\"node\":\"n%u\",\"dry_run\":false}", i);
    request_make(&request, i % 2 == 1 ? &fx->alice : &fx->bob, actions[i % 4], args,
                 entry_time(i) - 40, i);
    uint64_t seq = 0;
    assert_int_equal(tc_audit_writer_append(writer, &request, i % 3 == 2 ? REFUSED : "\"ok\"",
                                            entry_time(i), &seq), 0);
    assert_int_equal(seq, i);
}

static void log_write_standard(struct fx *fx) {
    struct tc_audit_writer *writer = NULL;
    assert_int_equal(tc_audit_writer_open(&writer, fx->log, fx->checkpoints,
                                          &fx->controller.secret, 0, NULL), 0);
    for (uint32_t i = 1; i <= ENTRIES; i++) {
        append_standard(writer, fx, i);
        if (i % 5 == 0) {
            assert_int_equal(tc_audit_writer_checkpoint(writer, entry_time(i) + 1, NULL, 0, NULL),
                             0);
        }
    }
    assert_int_equal(tc_audit_writer_seq(writer), ENTRIES);
    tc_audit_writer_close(writer);
}

static void lines_free(struct fx *fx) {
    for (uint32_t i = 0; i < fx->line_count; i++) free(fx->lines[i]);
    fx->line_count = 0;
}

// Reads a file of complete lines into fx->lines.
static void lines_load(struct fx *fx, const char *path) {
    lines_free(fx);
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    static char line[TC_AUDIT_LINE_SIZE_MAX + 8];
    while (fgets(line, sizeof(line), file) != NULL) {
        const size_t size = strlen(line);
        assert_true(size > 0 && line[size - 1] == '\n');
        line[size - 1] = '\0';
        assert_true(fx->line_count < LINES_MAX);
        fx->lines[fx->line_count++] = strdup(line);
    }
    assert_int_equal(fclose(file), 0);
}

static void lines_store(struct fx *fx, const char *path) {
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    for (uint32_t i = 0; i < fx->line_count; i++) {
        assert_true(fputs(fx->lines[i], file) >= 0);
        assert_true(fputc('\n', file) == '\n');
    }
    assert_int_equal(fclose(file), 0);
}

static void line_set(struct fx *fx, uint32_t number, const char *text) {
    assert_true(number >= 1 && number <= fx->line_count);
    free(fx->lines[number - 1]);
    fx->lines[number - 1] = strdup(text);
}

// Replaces the first occurrence of `from` in line `number` by `to`.
static void line_replace(struct fx *fx, uint32_t number, const char *from, const char *to) {
    assert_true(number >= 1 && number <= fx->line_count);
    const char *line = fx->lines[number - 1];
    const char *at = strstr(line, from);
    if (at == NULL) fail_msg("line %u has no '%s'", number, from);
    const size_t size = strlen(line) - strlen(from) + strlen(to) + 1;
    char *edited = malloc(size);
    assert_non_null(edited);
    (void)snprintf(edited, size, "%.*s%s%s", (int)(at - line), line, to, at + strlen(from));
    free(fx->lines[number - 1]);
    fx->lines[number - 1] = edited;
}

static void line_delete(struct fx *fx, uint32_t number) {
    assert_true(number >= 1 && number <= fx->line_count);
    free(fx->lines[number - 1]);
    memmove(&fx->lines[number - 1], &fx->lines[number],
            (fx->line_count - number) * sizeof(fx->lines[0]));
    fx->line_count--;
}

// Inserts text so that it becomes line `number`.
static void line_insert(struct fx *fx, uint32_t number, const char *text) {
    assert_true(number >= 1 && number <= fx->line_count + 1);
    assert_true(fx->line_count < LINES_MAX);
    memmove(&fx->lines[number], &fx->lines[number - 1],
            (fx->line_count - number + 1) * sizeof(fx->lines[0]));
    fx->lines[number - 1] = strdup(text);
    fx->line_count++;
}

static void hash_text(const char *line, struct tc_hash256 *hash) {
    tc_hash256_compute(hash, line, strlen(line));
}

// Parses line `number` of fx->lines back into an entry (it must be a well-formed line).
static void entry_of_line(struct fx *fx, uint32_t number, struct tc_audit_entry *entry) {
    static char scratch[TC_AUDIT_LINE_SIZE_MAX + 1];
    struct audit_problem problem;
    const char *line = fx->lines[number - 1];
    assert_true(audit_entry_parse(line, (uint32_t)strlen(line), entry, scratch, &problem));
}

// Encodes an entry as fx->lines[number - 1] (replacing it).
static void entry_to_line(struct fx *fx, uint32_t number, const struct tc_audit_entry *entry) {
    static char line[TC_AUDIT_LINE_SIZE_MAX + 1];
    uint32_t size = 0;
    assert_int_equal(tc_audit_entry_encode(entry, line, sizeof(line), &size), 0);
    line_set(fx, number, line);
}

// What a controller holding its key can do: renumber, relink and re-sign lines from..end.
static void rechain(struct fx *fx, uint32_t from, const struct keypair *controller) {
    static struct tc_audit_entry entry;
    for (uint32_t number = from; number <= fx->line_count; number++) {
        entry_of_line(fx, number, &entry);
        entry.seq = number;
        memset(&entry.prev, 0, sizeof(entry.prev));
        if (number > 1) hash_text(fx->lines[number - 2], &entry.prev);
        tc_audit_entry_sign(&entry, &controller->secret);
        entry_to_line(fx, number, &entry);
    }
}

// A new, properly signed entry appended after the last line (seq, prev and time follow it).
static void append_crafted(struct fx *fx, const struct tc_audit_request *request,
                           uint64_t time_ms, const struct keypair *controller) {
    static struct tc_audit_entry last;
    static struct tc_audit_entry entry;
    entry_of_line(fx, fx->line_count, &last);
    struct tc_hash256 prev;
    hash_text(fx->lines[fx->line_count - 1], &prev);
    assert_int_equal(tc_audit_entry_init(&entry, request, "\"ok\"", last.seq + 1, time_ms, &prev,
                                         NULL), 0);
    tc_audit_entry_sign(&entry, &controller->secret);
    static char line[TC_AUDIT_LINE_SIZE_MAX + 1];
    uint32_t size = 0;
    assert_int_equal(tc_audit_entry_encode(&entry, line, sizeof(line), &size), 0);
    line_insert(fx, fx->line_count + 1, line);
}

static int verify_path(struct fx *fx, const char *log, bool checkpoints, bool pinned) {
    return tc_audit_verify(log, checkpoints ? fx->checkpoints : NULL, pinned ? &fx->pinned : NULL,
                           &fx->report);
}

static void expect_pass(struct fx *fx, bool checkpoints, bool pinned, uint64_t first,
                        uint64_t last) {
    const int rc = verify_path(fx, fx->log, checkpoints, pinned);
    if (rc != 0) fail_msg("expected PASS, got %d: %s", rc, fx->report.message);
    assert_int_equal(fx->report.reason, TC_AUDIT_PASS);
    assert_int_equal(fx->report.line, 0);
    assert_int_equal(fx->report.seq_first, first);
    assert_int_equal(fx->report.seq_last, last);
    assert_int_equal(fx->report.entries, last - first + 1);
    assert_int_equal(fx->report.actors_pinned, pinned);
    assert_int_equal(fx->report.controllers_pinned, pinned);
}

// The first failure must be exactly this: file, line, reason, and a message containing `part`.
static void expect_fail_path(struct fx *fx, const char *log, bool checkpoints, bool pinned,
                             enum tc_audit_file file, uint64_t line, enum tc_audit_reason reason,
                             const char *part) {
    const int rc = verify_path(fx, log, checkpoints, pinned);
    assert_int_equal(rc, TC_ECORRUPT);
    if (fx->report.reason != reason || fx->report.line != line || fx->report.file != file) {
        fail_msg("expected %s at %s line %llu, got %s: %s", tc_audit_reason_id(reason),
                 file == TC_AUDIT_FILE_LOG ? "log" : "checkpoint", (unsigned long long)line,
                 tc_audit_reason_id(fx->report.reason), fx->report.message);
    }
    if (strstr(fx->report.message, part) == NULL) fail_msg("message: %s", fx->report.message);
}

static void expect_fail(struct fx *fx, bool checkpoints, bool pinned, enum tc_audit_file file,
                        uint64_t line, enum tc_audit_reason reason, const char *part) {
    expect_fail_path(fx, fx->log, checkpoints, pinned, file, line, reason, part);
}

static void expect_log_fail(struct fx *fx, uint64_t line, enum tc_audit_reason reason,
                            const char *part) {
    expect_fail(fx, true, true, TC_AUDIT_FILE_LOG, line, reason, part);
}

static int fx_setup(void **state) {
    struct fx *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    (void)snprintf(fx->dir, sizeof(fx->dir), "/tmp/tc-audit-test-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    (void)snprintf(fx->log, sizeof(fx->log), "%s/audit.jsonl", fx->dir);
    (void)snprintf(fx->checkpoints, sizeof(fx->checkpoints), "%s/checkpoints.jsonl", fx->dir);
    (void)snprintf(fx->other, sizeof(fx->other), "%s/other.jsonl", fx->dir);
    keypair_init(&fx->controller, 0xc0);
    keypair_init(&fx->alice, 0xa1);
    keypair_init(&fx->bob, 0xb0);
    keypair_init(&fx->mallory, 0x66);
    fx->operators[0] = fx->alice.key;
    fx->operators[1] = fx->bob.key;
    fx->pinned.actors = fx->operators;
    fx->pinned.actor_count = 2;
    fx->pinned.controllers = &fx->controller.key;
    fx->pinned.controller_count = 1;
    log_write_standard(fx);
    lines_load(fx, fx->log);
    assert_int_equal(fx->line_count, ENTRIES);
    *state = fx;
    return 0;
}

static int fx_teardown(void **state) {
    struct fx *fx = *state;
    lines_free(fx);
    DIR *dir = opendir(fx->dir);
    assert_non_null(dir);
    for (struct dirent *e = readdir(dir); e != NULL; e = readdir(dir)) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char path[512];
        (void)snprintf(path, sizeof(path), "%s/%s", fx->dir, e->d_name);
        assert_int_equal(unlink(path), 0);
    }
    assert_int_equal(closedir(dir), 0);
    assert_int_equal(rmdir(fx->dir), 0);
    free(fx);
    return 0;
}

// ------------------------------------------------------------------------------------------------
// Round trips and the writer.

static void test_round_trip(void **state) {
    struct fx *fx = *state;
    expect_pass(fx, true, true, 1, ENTRIES);
    assert_string_equal(fx->report.message, "PASS seq 1..10 (10 entries)");
    assert_int_equal(fx->report.checkpoints, 2);
    assert_int_equal(fx->report.checkpoint_seq, ENTRIES);
    struct tc_hash256 head;
    hash_text(fx->lines[ENTRIES - 1], &head);
    assert_true(tc_hash256_equal(&fx->report.head, &head));
    expect_pass(fx, false, false, 1, ENTRIES);
    assert_int_equal(fx->report.checkpoints, 0);
    // What was written: refused results, both operators, the controller's key.
    assert_non_null(strstr(fx->lines[1], "\"result\":{\"reason\":\"group 7 would keep 1 live "
                                         "replica\",\"status\":\"refused\"}"));
    assert_non_null(strstr(fx->lines[0], "\"result\":\"ok\""));
    char hex[TC_AUDIT_KEY_HEX_SIZE + 1];
    tc_audit_key_hex(&fx->bob.key, hex);
    assert_non_null(strstr(fx->lines[1], hex));
    tc_audit_key_hex(&fx->controller.key, hex);
    assert_non_null(strstr(fx->lines[9], hex));
}

static void test_writer_reopens_and_continues(void **state) {
    struct fx *fx = *state;
    struct tc_audit_writer *writer = NULL;
    assert_int_equal(tc_audit_writer_open(&writer, fx->log, fx->checkpoints,
                                          &fx->controller.secret, 0, NULL), 0);
    assert_int_equal(tc_audit_writer_seq(writer), ENTRIES);
    struct tc_hash256 head;
    struct tc_hash256 expected;
    tc_audit_writer_head(writer, &head);
    hash_text(fx->lines[ENTRIES - 1], &expected);
    assert_true(tc_hash256_equal(&head, &expected));
    // A second writer on the same log is refused while the first holds it.
    struct tc_audit_writer *second = NULL;
    assert_int_equal(tc_audit_writer_open(&second, fx->log, NULL, &fx->controller.secret, 0, NULL),
                     TC_EBUSY);
    assert_null(second);
    append_standard(writer, fx, 11);
    append_standard(writer, fx, 12);
    char line[AUDIT_CHECKPOINT_SIZE_MAX];
    uint32_t size = 0;
    assert_int_equal(tc_audit_writer_checkpoint(writer, entry_time(12), line, 10, &size),
                     TC_ETOOBIG);
    assert_int_equal(tc_audit_writer_checkpoint(writer, entry_time(12), line, sizeof(line), &size),
                     0);
    assert_int_equal(size, strlen(line));
    assert_non_null(strstr(line, "\"seq\":12,"));
    assert_int_equal(tc_audit_writer_checkpoint(writer, entry_time(12), NULL, 0, NULL), TC_EEXIST);
    tc_audit_writer_close(writer);
    expect_pass(fx, true, true, 1, 12);
    assert_int_equal(fx->report.checkpoints, 3);
    assert_int_equal(fx->report.checkpoint_seq, 12);
}

// tc_audit_writer_last hands out exactly the line written; tc_audit_log_scan reads lines back.
struct scan_seen {
    uint32_t count;
    uint64_t seqs[ENTRIES + 4];
    char last_line[TC_AUDIT_LINE_SIZE_MAX + 1];
};

static int scan_collect(void *context, const struct tc_audit_entry *entry, const char *line,
                        uint32_t line_size) {
    struct scan_seen *seen = context;
    assert_true(seen->count < ENTRIES + 4);
    seen->seqs[seen->count++] = entry->seq;
    memcpy(seen->last_line, line, line_size);
    seen->last_line[line_size] = '\0';
    return entry->seq == 1000 ? TC_EEXIST : 0;
}

static void test_writer_last_and_scan(void **state) {
    struct fx *fx = *state;
    struct tc_audit_writer *writer = NULL;
    assert_int_equal(tc_audit_writer_open(&writer, fx->log, fx->checkpoints,
                                          &fx->controller.secret, 0, NULL), 0);
    const struct tc_audit_entry *entry = NULL;
    const char *line = NULL;
    uint32_t size = 0;
    assert_int_equal(tc_audit_writer_last(writer, &entry, &line, &size), TC_ENOENT);
    append_standard(writer, fx, 11);
    assert_int_equal(tc_audit_writer_last(writer, &entry, &line, &size), 0);
    assert_int_equal(entry->seq, 11);
    char copy[TC_AUDIT_LINE_SIZE_MAX + 1];
    memcpy(copy, line, size);
    copy[size] = '\0';
    tc_audit_writer_close(writer);
    static struct scan_seen seen;
    memset(&seen, 0, sizeof(seen));
    uint32_t count = 0;
    assert_int_equal(tc_audit_log_scan(fx->log, 8, 100, scan_collect, &seen, &count), 0);
    assert_int_equal(count, 3);
    assert_int_equal(seen.seqs[0], 9);
    assert_int_equal(seen.seqs[2], 11);
    assert_string_equal(seen.last_line, copy); // the line on disk is the one handed out
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(tc_audit_log_scan(fx->log, 0, 2, scan_collect, &seen, &count), 0);
    assert_int_equal(count, 2); // the limit
    assert_int_equal(seen.seqs[1], 2);
    // A bad middle line fails the scan; a torn last line (an append that never finished) ends it.
    lines_load(fx, fx->log);
    line_replace(fx, 5, "\"seq\":5", "\"seq\":50");
    lines_store(fx, fx->other);
    assert_int_equal(tc_audit_log_scan(fx->other, 0, 100, scan_collect, &seen, &count),
                     TC_ECORRUPT);
    FILE *file = fopen(fx->log, "a");
    assert_non_null(file);
    assert_true(fputs("{\"action\":\"x", file) >= 0);
    assert_int_equal(fclose(file), 0);
    assert_int_equal(tc_audit_log_scan(fx->log, 10, 100, scan_collect, &seen, &count), 0);
    assert_int_equal(count, 1);
    assert_int_equal(tc_audit_log_scan("/nonexistent/x.jsonl", 0, 1, scan_collect, &seen, &count),
                     TC_ENOENT);
}

static void test_domain_signatures(void **state) {
    struct fx *fx = *state;
    char canonical[256];
    uint32_t size = 0;
    const char *detail = NULL;
    assert_int_equal(tc_audit_json_canonical("{ \"b\": 1, \"a\": [true, \"x\"] }", canonical,
                                             sizeof(canonical), &size, &detail), 0);
    assert_string_equal(canonical, "{\"a\":[true,\"x\"],\"b\":1}");
    assert_int_equal(tc_audit_json_canonical("{\"a\":1.5}", canonical, sizeof(canonical), &size,
                                             &detail), TC_EINVAL);
    assert_int_equal(tc_audit_json_canonical("[1]", canonical, sizeof(canonical), &size, &detail),
                     TC_EINVAL);
    struct tc_audit_signature signature;
    const char *body = "{\"version\":7}";
    assert_int_equal(tc_audit_sign_domain("tigerchat-topology-v1", body, (uint32_t)strlen(body),
                                          &fx->controller.secret, &signature), 0);
    assert_int_equal(tc_audit_verify_domain("tigerchat-topology-v1", body, (uint32_t)strlen(body),
                                            &fx->controller.key, &signature), 0);
    // Another domain, another key, another byte: refused.
    assert_int_equal(tc_audit_verify_domain("tigerchat-heartbeat-v1", body, (uint32_t)strlen(body),
                                            &fx->controller.key, &signature), TC_EPERM);
    assert_int_equal(tc_audit_verify_domain("tigerchat-topology-v1", body, (uint32_t)strlen(body),
                                            &fx->alice.key, &signature), TC_EPERM);
    assert_int_equal(tc_audit_verify_domain("tigerchat-topology-v1", "{\"version\":8}", 13,
                                            &fx->controller.key, &signature), TC_EPERM);
    char hex[129];
    tc_audit_signature_hex(&signature, hex);
    struct tc_audit_signature parsed;
    assert_int_equal(tc_audit_signature_from_hex(&parsed, hex, strlen(hex)), 0);
    assert_memory_equal(parsed.bytes, signature.bytes, 64);
    assert_int_equal(tc_audit_signature_from_hex(&parsed, hex, 127), TC_EINVAL);
    char time_text[TC_AUDIT_TIME_TEXT_SIZE + 1];
    tc_audit_time_format(UINT64_C(1764698400123), time_text);
    assert_string_equal(time_text, "2025-12-02T18:00:00.123Z");
    uint64_t time_ms = 0;
    assert_true(tc_audit_time_parse(time_text, strlen(time_text), &time_ms));
    assert_int_equal(time_ms, UINT64_C(1764698400123));
}

static uint64_t file_size(const char *path) {
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return (uint64_t)st.st_size;
}

static void test_writer_refusals(void **state) {
    struct fx *fx = *state;
    struct tc_audit_writer *writer = NULL;
    assert_int_equal(tc_audit_writer_open(&writer, fx->log, fx->checkpoints,
                                          &fx->controller.secret, 0, NULL), 0);
    const uint64_t size_before = file_size(fx->log);
    static struct tc_audit_request request;
    // A request claiming alice but signed by mallory.
    request_make(&request, &fx->mallory, "node.drain", "{}", entry_time(11), 111);
    request.actor = fx->alice.key;
    assert_int_equal(tc_audit_writer_append(writer, &request, "\"ok\"", entry_time(11), NULL),
                     TC_EPERM);
    // The same signed request as seq 3 (a replay).
    request_make(&request, &fx->alice, actions[3], "{\"node\":\"n3\",\"dry_run\":false}",
                 entry_time(3) - 40, 3);
    assert_int_equal(tc_audit_writer_append(writer, &request, "\"ok\"", entry_time(11), NULL),
                     TC_EEXIST);
    // A request signed six minutes before the controller's time.
    request_make(&request, &fx->alice, "node.drain", "{}", entry_time(11) - 6 * 60 * 1000, 112);
    assert_int_equal(tc_audit_writer_append(writer, &request, "\"ok\"", entry_time(11), NULL),
                     TC_ERANGE);
    // Results that cannot be canonical.
    request_make(&request, &fx->alice, "node.drain", "{}", entry_time(11), 113);
    assert_int_equal(tc_audit_writer_append(writer, &request, "{\"x\":1.5}", entry_time(11), NULL),
                     TC_EINVAL);
    assert_int_equal(tc_audit_writer_append(writer, &request, "[\"ok\"]", entry_time(11), NULL),
                     TC_EINVAL);
    assert_int_equal(tc_audit_writer_seq(writer), ENTRIES);
    assert_int_equal(file_size(fx->log), size_before);
    // Time never goes backwards: an earlier clock is raised to the last entry's time.
    request_make(&request, &fx->alice, "node.drain", "{}", entry_time(5), 114);
    uint64_t seq = 0;
    assert_int_equal(tc_audit_writer_append(writer, &request, "\"ok\"", entry_time(5), &seq), 0);
    assert_int_equal(seq, ENTRIES + 1);
    tc_audit_writer_close(writer);
    lines_load(fx, fx->log);
    static struct tc_audit_entry entry;
    entry_of_line(fx, ENTRIES + 1, &entry);
    assert_int_equal(entry.time_ms, entry_time(ENTRIES));
    expect_pass(fx, true, true, 1, ENTRIES + 1);
}

static void test_writer_checkpoint_refusals(void **state) {
    struct fx *fx = *state;
    struct tc_audit_writer *writer = NULL;
    // No checkpoint file: TC_EINVAL. Empty log: TC_ENOENT.
    assert_int_equal(tc_audit_writer_open(&writer, fx->log, NULL, &fx->controller.secret, 0, NULL),
                     0);
    assert_int_equal(tc_audit_writer_checkpoint(writer, entry_time(11), NULL, 0, NULL), TC_EINVAL);
    tc_audit_writer_close(writer);
    char checkpoints[160];
    (void)snprintf(checkpoints, sizeof(checkpoints), "%s/empty-checkpoints.jsonl", fx->dir);
    assert_int_equal(tc_audit_writer_open(&writer, fx->other, checkpoints, &fx->controller.secret,
                                          0, NULL), 0);
    assert_int_equal(tc_audit_writer_seq(writer), 0);
    assert_int_equal(tc_audit_writer_checkpoint(writer, entry_time(1), NULL, 0, NULL), TC_ENOENT);
    append_standard(writer, fx, 1);
    assert_int_equal(tc_audit_writer_checkpoint(writer, entry_time(1), NULL, 0, NULL), 0);
    tc_audit_writer_close(writer);
    assert_int_equal(tc_audit_verify(fx->other, checkpoints, &fx->pinned, &fx->report), 0);
    assert_string_equal(fx->report.message, "PASS seq 1..1 (1 entry)");
}

static void test_writer_refuses_a_bad_log(void **state) {
    struct fx *fx = *state;
    struct tc_audit_writer *writer = NULL;
    struct tc_audit_report report;
    // Another controller's key: the log does not verify under it.
    assert_int_equal(tc_audit_writer_open(&writer, fx->log, fx->checkpoints, &fx->mallory.secret,
                                          0, &report), TC_ECORRUPT);
    assert_null(writer);
    assert_int_equal(report.reason, TC_AUDIT_CONTROLLER_UNTRUSTED);
    assert_int_equal(report.file, TC_AUDIT_FILE_CHECKPOINT);
    assert_int_equal(report.line, 1);
    // A tampered line.
    line_replace(fx, 3, "\"node\":\"n3\"", "\"node\":\"n9\"");
    lines_store(fx, fx->log);
    assert_int_equal(tc_audit_writer_open(&writer, fx->log, fx->checkpoints,
                                          &fx->controller.secret, 0, &report), TC_ECORRUPT);
    assert_int_equal(report.reason, TC_AUDIT_CONTROLLER_SIG);
    assert_int_equal(report.line, 3);
    // A truncated log: appending to it would fork the chain the checkpoints commit to.
    lines_load(fx, fx->log);
    line_replace(fx, 3, "\"node\":\"n9\"", "\"node\":\"n3\"");
    line_delete(fx, 10);
    lines_store(fx, fx->log);
    assert_int_equal(tc_audit_writer_open(&writer, fx->log, fx->checkpoints,
                                          &fx->controller.secret, 0, &report), TC_ECORRUPT);
    assert_int_equal(report.reason, TC_AUDIT_TRUNCATED);
    assert_null(writer);
}

static void append_bytes(const char *path, const char *bytes) {
    FILE *file = fopen(path, "ab");
    assert_non_null(file);
    assert_true(fputs(bytes, file) >= 0);
    assert_int_equal(fclose(file), 0);
}

static void test_writer_torn_tail(void **state) {
    struct fx *fx = *state;
    // A crash in the middle of an append (never acknowledged) leaves a partial line.
    append_bytes(fx->log, "{\"action\":\"node.dr");
    append_bytes(fx->checkpoints, "{\"controller\":\"5b94");
    expect_fail(fx, false, true, TC_AUDIT_FILE_LOG, 11, TC_AUDIT_INCOMPLETE_LINE, "torn write");
    struct tc_audit_writer *writer = NULL;
    struct tc_audit_report report;
    assert_int_equal(tc_audit_writer_open(&writer, fx->log, fx->checkpoints,
                                          &fx->controller.secret, 0, &report), TC_ECORRUPT);
    assert_int_equal(report.reason, TC_AUDIT_INCOMPLETE_LINE);
    assert_int_equal(tc_audit_writer_open(&writer, fx->log, fx->checkpoints,
                                          &fx->controller.secret, TC_AUDIT_OPEN_REPAIR_TORN_TAIL,
                                          &report), 0);
    assert_int_equal(tc_audit_writer_seq(writer), ENTRIES);
    append_standard(writer, fx, 11);
    assert_int_equal(tc_audit_writer_checkpoint(writer, entry_time(11), NULL, 0, NULL), 0);
    tc_audit_writer_close(writer);
    expect_pass(fx, true, true, 1, 11);
    assert_int_equal(fx->report.checkpoints, 3);
}

// ------------------------------------------------------------------------------------------------
// Tampering: edits by someone without the keys.

static void test_tamper_args(void **state) {
    struct fx *fx = *state;
    line_replace(fx, 3, "\"node\":\"n3\"", "\"node\":\"n9\"");
    lines_store(fx, fx->log);
    expect_log_fail(fx, 3, TC_AUDIT_CONTROLLER_SIG, "line 3: controller signature invalid");
}

static void test_tamper_action(void **state) {
    struct fx *fx = *state;
    line_replace(fx, 4, "\"action\":\"node.drain\"", "\"action\":\"node.cordon\"");
    lines_store(fx, fx->log);
    expect_log_fail(fx, 4, TC_AUDIT_CONTROLLER_SIG, "line 4: controller signature invalid");
}

static void test_tamper_time(void **state) {
    struct fx *fx = *state;
    line_replace(fx, 6, "\"time\":\"2026-01-01T00:00:06.000Z\"",
                 "\"time\":\"2026-01-01T00:00:06.001Z\"");
    lines_store(fx, fx->log);
    expect_log_fail(fx, 6, TC_AUDIT_CONTROLLER_SIG, "line 6: controller signature invalid");
    // The request's time too.
    lines_load(fx, fx->log);
    line_replace(fx, 6, "\"time\":\"2026-01-01T00:00:06.001Z\"",
                 "\"time\":\"2026-01-01T00:00:06.000Z\"");
    line_replace(fx, 7, "\"request_time\":\"2026-01-01T00:00:06.960Z\"",
                 "\"request_time\":\"2026-01-01T00:00:05.960Z\"");
    lines_store(fx, fx->log);
    expect_log_fail(fx, 7, TC_AUDIT_CONTROLLER_SIG, "line 7: controller signature invalid");
}

static void test_tamper_result(void **state) {
    struct fx *fx = *state;
    line_replace(fx, 2, "\"result\":{\"reason\":\"group 7 would keep 1 live replica\","
                        "\"status\":\"refused\"}",
                 "\"result\":\"ok\"");
    lines_store(fx, fx->log);
    expect_log_fail(fx, 2, TC_AUDIT_CONTROLLER_SIG, "line 2: controller signature invalid");
}

static void test_tamper_seq(void **state) {
    struct fx *fx = *state;
    line_replace(fx, 5, "\"seq\":5,", "\"seq\":6,");
    lines_store(fx, fx->log);
    expect_log_fail(fx, 5, TC_AUDIT_SEQ_GAP, "line 5: seq 6 where 5 was expected");
}

static void test_deleted_line(void **state) {
    struct fx *fx = *state;
    line_delete(fx, 4);
    lines_store(fx, fx->log);
    expect_log_fail(fx, 4, TC_AUDIT_SEQ_GAP,
                    "line 4: seq 5 where 4 was expected (line 3 has seq 3)");
    expect_fail(fx, false, false, TC_AUDIT_FILE_LOG, 4, TC_AUDIT_SEQ_GAP, "seq 5 where 4");
}

static void test_swapped_lines(void **state) {
    struct fx *fx = *state;
    char *fourth = fx->lines[3];
    fx->lines[3] = fx->lines[4];
    fx->lines[4] = fourth;
    lines_store(fx, fx->log);
    expect_log_fail(fx, 4, TC_AUDIT_SEQ_GAP, "line 4: seq 5 where 4 was expected");
}

static void test_duplicated_line(void **state) {
    struct fx *fx = *state;
    line_insert(fx, 6, fx->lines[4]);
    lines_store(fx, fx->log);
    expect_log_fail(fx, 6, TC_AUDIT_SEQ_GAP, "line 6: seq 5 where 6 was expected");
}

// A valid-looking entry at seq 4 (right prev, an operator's real signature, the controller's
// key), inserted after line 3 without the controller's signature, or signed by another key.
static void test_inserted_line(void **state) {
    struct fx *fx = *state;
    static struct tc_audit_request request;
    static struct tc_audit_entry entry;
    request_make(&request, &fx->alice, "node.decommission", "{\"node\":\"n1\"}",
                 entry_time(3) + 500, 400);
    struct tc_hash256 prev;
    hash_text(fx->lines[2], &prev);
    assert_int_equal(tc_audit_entry_init(&entry, &request, "\"ok\"", 4, entry_time(3) + 500, &prev,
                                         NULL), 0);
    entry.controller = fx->controller.key; // claims the controller, signature all zeros
    line_insert(fx, 4, "placeholder");
    entry_to_line(fx, 4, &entry);
    lines_store(fx, fx->log);
    expect_log_fail(fx, 4, TC_AUDIT_CONTROLLER_SIG, "line 4: controller signature invalid");
    // Signed by a key of the attacker's own.
    tc_audit_entry_sign(&entry, &fx->mallory.secret);
    entry_to_line(fx, 4, &entry);
    lines_store(fx, fx->log);
    expect_log_fail(fx, 4, TC_AUDIT_CONTROLLER_UNTRUSTED, "is not a trusted controller key");
    // Without pinned keys the forged line itself passes; the chain breaks right after it.
    expect_fail(fx, false, false, TC_AUDIT_FILE_LOG, 5, TC_AUDIT_SEQ_GAP,
                "line 5: seq 4 where 5 was expected");
}

static void test_truncated_tail(void **state) {
    struct fx *fx = *state;
    line_delete(fx, 10);
    line_delete(fx, 9);
    lines_store(fx, fx->log);
    expect_fail(fx, true, true, TC_AUDIT_FILE_CHECKPOINT, 2, TC_AUDIT_TRUNCATED,
                "checkpoint line 2: file ends at seq 8 but checkpoint names seq 10 (truncated)");
    assert_int_equal(fx->report.entries, 8);
    assert_int_equal(fx->report.checkpoint_seq, 5);
    // Without checkpoints a truncated tail cannot be seen: that is what checkpoints are for.
    expect_pass(fx, false, true, 1, 8);
    // Truncated to nothing.
    lines_free(fx);
    lines_store(fx, fx->log);
    expect_fail(fx, true, true, TC_AUDIT_FILE_CHECKPOINT, 1, TC_AUDIT_TRUNCATED,
                "the log has no entries but the checkpoint names seq 5 (truncated)");
}

static void test_incomplete_last_line(void **state) {
    struct fx *fx = *state;
    lines_store(fx, fx->log);
    const uint64_t size = file_size(fx->log);
    assert_int_equal(truncate(fx->log, (off_t)size - 1), 0);
    expect_log_fail(fx, 10, TC_AUDIT_INCOMPLETE_LINE, "line 10: the file ends inside this line");
}

static void test_not_json(void **state) {
    struct fx *fx = *state;
    line_set(fx, 5, "this is not json");
    lines_store(fx, fx->log);
    expect_log_fail(fx, 5, TC_AUDIT_NOT_JSON, "line 5: not valid JSON");
    line_set(fx, 5, "");
    lines_store(fx, fx->log);
    expect_log_fail(fx, 5, TC_AUDIT_NOT_JSON, "line 5: empty line");
    line_set(fx, 5, "{\"seq\":5}");
    lines_store(fx, fx->log);
    expect_log_fail(fx, 5, TC_AUDIT_BAD_FIELD, "line 5: missing field 'action'");
}

static void test_overlong_line(void **state) {
    struct fx *fx = *state;
    static char text[TC_AUDIT_LINE_SIZE_MAX + 2];
    memset(text, 'x', TC_AUDIT_LINE_SIZE_MAX + 1);
    text[TC_AUDIT_LINE_SIZE_MAX + 1] = '\0';
    line_set(fx, 5, text);
    lines_store(fx, fx->log);
    expect_log_fail(fx, 5, TC_AUDIT_LINE_TOO_LONG, "line 5: longer than 65536 bytes");
    // At the limit the line is read (and is not JSON).
    text[TC_AUDIT_LINE_SIZE_MAX] = '\0';
    line_set(fx, 5, text);
    lines_store(fx, fx->log);
    expect_log_fail(fx, 5, TC_AUDIT_NOT_JSON, "line 5: not valid JSON");
    // A huge last line without a newline: too long, not incomplete.
    lines_free(fx);
    lines_store(fx, fx->log);
    static char big[3 * TC_AUDIT_LINE_SIZE_MAX];
    memset(big, '{', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    append_bytes(fx->log, big);
    expect_fail(fx, false, true, TC_AUDIT_FILE_LOG, 1, TC_AUDIT_LINE_TOO_LONG, "line 1: longer");
}

static void test_empty_files(void **state) {
    struct fx *fx = *state;
    lines_free(fx);
    lines_store(fx, fx->other);
    expect_fail_path(fx, fx->other, false, true, TC_AUDIT_FILE_LOG, 1, TC_AUDIT_EMPTY,
                     "line 1: the file has no entries");
    // A good log with an empty checkpoint file: the truncation check has nothing to hold on to.
    lines_store(fx, fx->checkpoints);
    expect_fail(fx, true, true, TC_AUDIT_FILE_CHECKPOINT, 1, TC_AUDIT_EMPTY,
                "checkpoint line 1: the checkpoint file has no checkpoints");
    // Files that do not exist: operating errors, not verdicts.
    assert_int_equal(tc_audit_verify(fx->dir, NULL, NULL, &fx->report), TC_EIO);
    char missing[160];
    (void)snprintf(missing, sizeof(missing), "%s/missing", fx->dir);
    assert_int_equal(tc_audit_verify(missing, NULL, NULL, &fx->report), TC_ENOENT);
    assert_int_equal(fx->report.reason, TC_AUDIT_IO);
    assert_non_null(strstr(fx->report.message, "cannot open"));
}

static void test_not_canonical(void **state) {
    struct fx *fx = *state;
    line_replace(fx, 3, "{\"action\":", "{ \"action\":");
    lines_store(fx, fx->log);
    expect_log_fail(fx, 3, TC_AUDIT_NOT_CANONICAL, "line 3: differs from its canonical encoding");
    lines_load(fx, fx->log);
    line_replace(fx, 3, "{ \"action\":", "{\"action\":");
    line_replace(fx, 3, "\"node\":\"n3\"", "\"nod\\u0065\":\"n3\"");
    lines_store(fx, fx->log);
    expect_log_fail(fx, 3, TC_AUDIT_NOT_CANONICAL, "line 3: differs");
    lines_load(fx, fx->log);
    line_replace(fx, 3, "\"nod\\u0065\":\"n3\"", "\"node\":\"n3\"\r");
    lines_store(fx, fx->log);
    expect_log_fail(fx, 3, TC_AUDIT_NOT_CANONICAL, "raw control byte 0x0d");
}

// ------------------------------------------------------------------------------------------------
// Tampering by a controller that holds its own key: only operators' signatures and checkpoints
// exported earlier stand in its way.

static void test_controller_edits_args(void **state) {
    struct fx *fx = *state;
    static struct tc_audit_entry entry;
    entry_of_line(fx, 3, &entry);
    const char *args = "{\"dry_run\":false,\"node\":\"n9\"}";
    memcpy(entry.request.args, args, strlen(args) + 1);
    entry.request.args_size = (uint32_t)strlen(args);
    tc_audit_entry_sign(&entry, &fx->controller.secret);
    entry_to_line(fx, 3, &entry);
    rechain(fx, 4, &fx->controller);
    lines_store(fx, fx->log);
    expect_fail(fx, false, true, TC_AUDIT_FILE_LOG, 3, TC_AUDIT_ACTOR_SIG,
                "line 3: actor signature invalid");
}

static void test_controller_rewrites_history(void **state) {
    struct fx *fx = *state;
    // Drop the refused request of seq 5 and renumber, relink and re-sign everything after it.
    line_delete(fx, 5);
    rechain(fx, 5, &fx->controller);
    lines_store(fx, fx->log);
    expect_pass(fx, false, true, 1, ENTRIES - 1); // invisible without checkpoints
    expect_fail(fx, true, true, TC_AUDIT_FILE_CHECKPOINT, 1, TC_AUDIT_CHECKPOINT_HEAD,
                "checkpoint line 1: head at seq 5 does not match line 5 of the log");
}

static void test_prev_mismatch(void **state) {
    struct fx *fx = *state;
    static struct tc_audit_entry entry;
    entry_of_line(fx, 5, &entry);
    hash_text(fx->lines[2], &entry.prev); // line 3's hash instead of line 4's
    tc_audit_entry_sign(&entry, &fx->controller.secret);
    entry_to_line(fx, 5, &entry);
    lines_store(fx, fx->log);
    expect_log_fail(fx, 5, TC_AUDIT_PREV_MISMATCH, "line 5: prev hash does not match line 4");
    // The first entry's prev must be zeros.
    lines_load(fx, fx->log);
    entry_of_line(fx, 1, &entry);
    entry.prev.bytes[31] = 1;
    tc_audit_entry_sign(&entry, &fx->controller.secret);
    entry_to_line(fx, 1, &entry);
    rechain(fx, 2, &fx->controller);
    lines_store(fx, fx->log);
    expect_fail(fx, false, true, TC_AUDIT_FILE_LOG, 1, TC_AUDIT_PREV_MISMATCH,
                "line 1: prev of seq 1 is not all zeros");
}

static void test_time_backwards(void **state) {
    struct fx *fx = *state;
    static struct tc_audit_entry entry;
    entry_of_line(fx, 6, &entry);
    entry.time_ms = entry_time(4) + 500; // before line 5's time, within the request's skew
    tc_audit_entry_sign(&entry, &fx->controller.secret);
    entry_to_line(fx, 6, &entry);
    rechain(fx, 7, &fx->controller);
    lines_store(fx, fx->log);
    expect_fail(fx, false, true, TC_AUDIT_FILE_LOG, 6, TC_AUDIT_TIME_BACKWARDS,
                "line 6: time 2026-01-01T00:00:04.500Z is before line 5's time "
                "2026-01-01T00:00:05.000Z");
}

static void test_forged_actor_signature(void **state) {
    struct fx *fx = *state;
    static struct tc_audit_request request;
    request_make(&request, &fx->mallory, "node.drain", "{\"node\":\"n1\"}", entry_time(11), 500);
    request.actor = fx->alice.key; // claims alice; signed by mallory
    append_crafted(fx, &request, entry_time(11), &fx->controller);
    lines_store(fx, fx->log);
    expect_log_fail(fx, 11, TC_AUDIT_ACTOR_SIG, "line 11: actor signature invalid");
    expect_fail(fx, false, false, TC_AUDIT_FILE_LOG, 11, TC_AUDIT_ACTOR_SIG, "actor signature");
}

static void test_untrusted_actor(void **state) {
    struct fx *fx = *state;
    // The writer logs any validly signed request (roles are the controller's business)...
    struct tc_audit_writer *writer = NULL;
    assert_int_equal(tc_audit_writer_open(&writer, fx->log, fx->checkpoints,
                                          &fx->controller.secret, 0, NULL), 0);
    static struct tc_audit_request request;
    request_make(&request, &fx->mallory, "node.drain", "{\"node\":\"n1\"}", entry_time(11), 600);
    assert_int_equal(tc_audit_writer_append(writer, &request, REFUSED, entry_time(11), NULL), 0);
    tc_audit_writer_close(writer);
    // ...and the verifier names a key outside the trusted set.
    expect_log_fail(fx, 11, TC_AUDIT_ACTOR_UNTRUSTED, "line 11: actor key ");
    expect_pass(fx, true, false, 1, 11);
}

static void test_bad_actor_key(void **state) {
    struct fx *fx = *state;
    static struct tc_audit_entry entry;
    entry_of_line(fx, 2, &entry);
    memset(entry.request.actor.bytes, 0, 32);
    entry.request.actor.bytes[0] = 1; // the identity point: small order, never a real key
    tc_audit_entry_sign(&entry, &fx->controller.secret);
    entry_to_line(fx, 2, &entry);
    rechain(fx, 3, &fx->controller);
    lines_store(fx, fx->log);
    expect_fail(fx, false, false, TC_AUDIT_FILE_LOG, 2, TC_AUDIT_BAD_KEY,
                "line 2: actor key 0100000000000000... is not a valid Ed25519 public key");
}

static void test_replay(void **state) {
    struct fx *fx = *state;
    static struct tc_audit_entry entry;
    entry_of_line(fx, 3, &entry);
    append_crafted(fx, &entry.request, entry_time(11), &fx->controller);
    lines_store(fx, fx->log);
    expect_log_fail(fx, 11, TC_AUDIT_REPLAY,
                    "line 11: the signed request of line 3 (seq 3) appears again (replay)");
    // Outside the skew the same request is refused for its time instead.
    line_delete(fx, 11);
    append_crafted(fx, &entry.request, entry.request.time_ms + TC_AUDIT_REQUEST_SKEW_MS_MAX + 1,
                   &fx->controller);
    lines_store(fx, fx->log);
    expect_log_fail(fx, 11, TC_AUDIT_REQUEST_TIME,
                    "line 11: request time is 300001 ms from the entry time");
}

static void test_request_time_skew(void **state) {
    struct fx *fx = *state;
    static struct tc_audit_request request;
    request_make(&request, &fx->bob, "node.drain", "{}", entry_time(11) - 6 * 60 * 1000, 700);
    append_crafted(fx, &request, entry_time(11), &fx->controller);
    lines_store(fx, fx->log);
    expect_log_fail(fx, 11, TC_AUDIT_REQUEST_TIME, "request time is 360000 ms from the entry");
}

// ------------------------------------------------------------------------------------------------
// Checkpoint files.

static void test_forged_checkpoint(void **state) {
    struct fx *fx = *state;
    lines_load(fx, fx->checkpoints);
    assert_int_equal(fx->line_count, 2);
    static char scratch[TC_AUDIT_LINE_SIZE_MAX + 1];
    struct audit_problem problem;
    struct tc_audit_checkpoint checkpoint;
    assert_true(audit_checkpoint_parse(fx->lines[0], (uint32_t)strlen(fx->lines[0]), &checkpoint,
                                       scratch, &problem));
    // The same checkpoint signed by another key.
    tc_audit_checkpoint_sign(&checkpoint, &fx->mallory.secret);
    char line[AUDIT_CHECKPOINT_SIZE_MAX + 1];
    uint32_t size = 0;
    assert_int_equal(tc_audit_checkpoint_encode(&checkpoint, line, sizeof(line), &size), 0);
    char *original = strdup(fx->lines[0]);
    line_set(fx, 1, line);
    lines_store(fx, fx->checkpoints);
    expect_fail(fx, true, true, TC_AUDIT_FILE_CHECKPOINT, 1, TC_AUDIT_CONTROLLER_UNTRUSTED,
                "checkpoint line 1: controller key ");
    // An edited checkpoint.
    line_set(fx, 1, original);
    line_replace(fx, 1, "\"seq\":5,", "\"seq\":4,");
    lines_store(fx, fx->checkpoints);
    expect_fail(fx, true, true, TC_AUDIT_FILE_CHECKPOINT, 1, TC_AUDIT_CONTROLLER_SIG,
                "checkpoint line 1: controller signature invalid");
    // Checkpoints out of order.
    line_set(fx, 1, fx->lines[1]);
    line_set(fx, 2, original);
    lines_store(fx, fx->checkpoints);
    expect_fail(fx, true, true, TC_AUDIT_FILE_CHECKPOINT, 2, TC_AUDIT_CHECKPOINT_ORDER,
                "checkpoint line 2: seq 5 does not follow the previous checkpoint's seq 10");
    // A checkpoint by the real controller of a head the log never had (a fork).
    checkpoint.head.bytes[0] ^= 1;
    tc_audit_checkpoint_sign(&checkpoint, &fx->controller.secret);
    assert_int_equal(tc_audit_checkpoint_encode(&checkpoint, line, sizeof(line), &size), 0);
    line_set(fx, 1, line);
    line_delete(fx, 2);
    lines_store(fx, fx->checkpoints);
    expect_fail(fx, true, true, TC_AUDIT_FILE_CHECKPOINT, 1, TC_AUDIT_CHECKPOINT_HEAD,
                "head at seq 5 does not match line 5 of the log");
    // A checkpoint dated before the entry it names.
    checkpoint.head.bytes[0] ^= 1;
    checkpoint.time_ms = entry_time(5) - 1;
    tc_audit_checkpoint_sign(&checkpoint, &fx->controller.secret);
    assert_int_equal(tc_audit_checkpoint_encode(&checkpoint, line, sizeof(line), &size), 0);
    line_set(fx, 1, line);
    lines_store(fx, fx->checkpoints);
    expect_fail(fx, true, true, TC_AUDIT_FILE_CHECKPOINT, 1, TC_AUDIT_CHECKPOINT_TIME,
                "checkpoint time is before the time of seq 5");
    free(original);
}

// A later segment of a log: seq 6..10 in a file of its own, anchored by the checkpoint at seq 5.
static void test_anchored_segment(void **state) {
    struct fx *fx = *state;
    line_delete(fx, 1);
    line_delete(fx, 1);
    line_delete(fx, 1);
    line_delete(fx, 1);
    line_delete(fx, 1);
    lines_store(fx, fx->other);
    assert_int_equal(verify_path(fx, fx->other, true, true), 0);
    assert_string_equal(fx->report.message, "PASS seq 6..10 (5 entries)");
    assert_int_equal(fx->report.checkpoints, 2);
    // A writer continues a segment.
    struct tc_audit_writer *writer = NULL;
    assert_int_equal(tc_audit_writer_open(&writer, fx->other, fx->checkpoints,
                                          &fx->controller.secret, 0, NULL), 0);
    assert_int_equal(tc_audit_writer_seq(writer), ENTRIES);
    append_standard(writer, fx, 11);
    tc_audit_writer_close(writer);
    assert_int_equal(verify_path(fx, fx->other, true, true), 0);
    assert_string_equal(fx->report.message, "PASS seq 6..11 (6 entries)");
    lines_load(fx, fx->other);
    line_delete(fx, 6);
    lines_store(fx, fx->other);
    expect_fail_path(fx, fx->other, false, true, TC_AUDIT_FILE_LOG, 1, TC_AUDIT_UNANCHORED,
                     "line 1: file starts at seq 6 and no checkpoint at seq 5 anchors it");
    // seq 7..10: the checkpoint at 5 is skipped, nothing anchors seq 7.
    line_delete(fx, 1);
    lines_store(fx, fx->other);
    expect_fail_path(fx, fx->other, true, true, TC_AUDIT_FILE_LOG, 1, TC_AUDIT_UNANCHORED,
                     "file starts at seq 7 and no checkpoint at seq 6");
}

// ------------------------------------------------------------------------------------------------
// Mutation sweep: any single-byte change (flip, insert, delete) or a cut of the log fails.

static char *file_read(const char *path, size_t *size) {
    FILE *file = fopen(path, "rb");
    assert_non_null(file);
    assert_int_equal(fseek(file, 0, SEEK_END), 0);
    const long end = ftell(file);
    assert_true(end >= 0);
    rewind(file);
    char *data = malloc((size_t)end + 1);
    assert_non_null(data);
    assert_int_equal(fread(data, 1, (size_t)end, file), (size_t)end);
    assert_int_equal(fclose(file), 0);
    *size = (size_t)end;
    return data;
}

static void file_write(const char *path, const char *data, size_t size) {
    FILE *file = fopen(path, "wb");
    assert_non_null(file);
    assert_int_equal(fwrite(data, 1, size, file), size);
    assert_int_equal(fclose(file), 0);
}

// Writes a mutated copy of original into path; `cut_allowed` only for the log (losing the last
// checkpoint line is not detectable from the two files alone).
static void mutate(struct tc_prng *prng, const char *path, const char *original, size_t size,
                   bool cut_allowed, char *buffer) {
    const uint64_t kind = tc_prng_below(prng, cut_allowed ? 4 : 3);
    const size_t at = (size_t)tc_prng_below(prng, size);
    memcpy(buffer, original, size);
    size_t mutated_size = size;
    if (kind == 0) {
        buffer[at] = (char)(buffer[at] ^ (char)tc_prng_range(prng, 1, 255));
    } else if (kind == 1) {
        memmove(buffer + at + 1, buffer + at, size - at);
        buffer[at] = (char)tc_prng_below(prng, 256);
        mutated_size = size + 1;
    } else if (kind == 2) {
        memmove(buffer + at, buffer + at + 1, size - at - 1);
        mutated_size = size - 1;
    } else {
        mutated_size = at; // a cut anywhere, at a line boundary or not
    }
    file_write(path, buffer, mutated_size);
}

static void test_mutation_sweep(void **state) {
    struct fx *fx = *state;
    size_t log_size = 0;
    size_t checkpoint_size = 0;
    char *log = file_read(fx->log, &log_size);
    char *checkpoints = file_read(fx->checkpoints, &checkpoint_size);
    char *buffer = malloc(log_size + checkpoint_size + 2);
    assert_non_null(buffer);
    struct tc_prng prng;
    tc_prng_init(&prng, 2026);
    uint32_t reasons_seen = 0;
    for (uint32_t round = 0; round < 400; round++) {
        const bool in_log = tc_prng_below(&prng, 4) != 0;
        file_write(fx->log, log, log_size);
        file_write(fx->checkpoints, checkpoints, checkpoint_size);
        if (in_log) {
            mutate(&prng, fx->log, log, log_size, true, buffer);
        } else {
            mutate(&prng, fx->checkpoints, checkpoints, checkpoint_size, false, buffer);
        }
        const int rc = verify_path(fx, fx->log, true, true);
        if (rc != TC_ECORRUPT) fail_msg("round %u: verdict %d: %s", round, rc, fx->report.message);
        assert_int_not_equal(fx->report.reason, TC_AUDIT_PASS);
        assert_true(fx->report.line >= 1);
        reasons_seen |= 1u << fx->report.reason;
    }
    // The sweep reached many different checks, not one early exit.
    uint32_t distinct = 0;
    for (uint32_t bits = reasons_seen; bits != 0; bits &= bits - 1) distinct++;
    assert_true(distinct >= 6);
    file_write(fx->log, log, log_size);
    file_write(fx->checkpoints, checkpoints, checkpoint_size);
    expect_pass(fx, true, true, 1, ENTRIES);
    free(buffer);
    free(checkpoints);
    free(log);
}

#define FX_TEST(name) cmocka_unit_test_setup_teardown(name, fx_setup, fx_teardown)

int main(void) {
    const struct CMUnitTest tests[] = {
        FX_TEST(test_round_trip),
        FX_TEST(test_writer_reopens_and_continues),
        FX_TEST(test_writer_last_and_scan),
        FX_TEST(test_domain_signatures),
        FX_TEST(test_writer_refusals),
        FX_TEST(test_writer_checkpoint_refusals),
        FX_TEST(test_writer_refuses_a_bad_log),
        FX_TEST(test_writer_torn_tail),
        FX_TEST(test_tamper_args),
        FX_TEST(test_tamper_action),
        FX_TEST(test_tamper_time),
        FX_TEST(test_tamper_result),
        FX_TEST(test_tamper_seq),
        FX_TEST(test_deleted_line),
        FX_TEST(test_swapped_lines),
        FX_TEST(test_duplicated_line),
        FX_TEST(test_inserted_line),
        FX_TEST(test_truncated_tail),
        FX_TEST(test_incomplete_last_line),
        FX_TEST(test_not_json),
        FX_TEST(test_overlong_line),
        FX_TEST(test_empty_files),
        FX_TEST(test_not_canonical),
        FX_TEST(test_controller_edits_args),
        FX_TEST(test_controller_rewrites_history),
        FX_TEST(test_prev_mismatch),
        FX_TEST(test_time_backwards),
        FX_TEST(test_forged_actor_signature),
        FX_TEST(test_untrusted_actor),
        FX_TEST(test_bad_actor_key),
        FX_TEST(test_replay),
        FX_TEST(test_request_time_skew),
        FX_TEST(test_forged_checkpoint),
        FX_TEST(test_anchored_segment),
        FX_TEST(test_mutation_sweep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
