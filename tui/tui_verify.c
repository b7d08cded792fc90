// Verifying the audit chain from the dashboard (see tui_client.h): the whole chain over the API,
// re-encoded canonically into a private temporary file, checked by tc_audit_verify exactly as
// tigerctl verify-audit checks a copy; or a local copy given with --audit-file.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "table.h"
#include "tc_assert.h"
#include "tc_audit.h"
#include "tc_checksum.h"
#include "tc_err.h"
#include "tui_client.h"

#define PAGE_TEXT "1000" // GET /v1/audit's largest page
#define HASH_SHOWN 16

struct chain_copy {
    FILE *file;
    char path[256];
    uint64_t head_seq;       // /v1/status's audit seq when the copy started
    char head[TUI_HEX_SIZE]; // and its head hash
    char controller_key[TUI_HEX_SIZE];
    uint64_t entries;
};

// One entry as its canonical line (the bytes the controller appended); an entry that does not
// re-encode is written as cJSON printed it, so the verifier names it (not_canonical, bad_field).
static int entry_write(struct chain_copy *copy, const cJSON *entry) {
    static char line[TC_AUDIT_LINE_SIZE_MAX + 1];
    char *printed = cJSON_PrintUnformatted(entry);
    if (printed == NULL) return TC_ENOMEM;
    uint32_t size = 0;
    const char *detail = NULL;
    const int rc = tc_audit_json_canonical(printed, line, sizeof(line), &size, &detail);
    const char *text = rc == 0 ? line : printed;
    const bool written = fputs(text, copy->file) >= 0 && fputc('\n', copy->file) != EOF;
    cJSON_free(printed);
    copy->entries++;
    return written ? 0 : TC_EIO;
}

// Appends one page (entries after *after) to the copy; *after moves to the page's last seq.
static enum tui_outcome page_copy(struct tui_client *client, struct chain_copy *copy,
                                  uint64_t *after, bool *done, char *message, uint32_t size) {
    char after_text[24];
    (void)snprintf(after_text, sizeof(after_text), "%llu", (unsigned long long)*after);
    const struct tigerctl_query query[] = {{"after", after_text}, {"limit", PAGE_TEXT}};
    struct tigerctl_reply reply;
    enum tui_outcome outcome = tui_client_get(client, "/v1/audit", query, 2, &reply, message, size);
    const cJSON *entries = tigerctl_json_member(reply.json, "entries");
    int64_t next = 0;
    if (outcome == TUI_OUTCOME_OK &&
        (!cJSON_IsArray(entries) || !tigerctl_json_integer(reply.json, "next_after", &next))) {
        (void)snprintf(message, size, "/v1/audit: no entries or next_after");
        outcome = TUI_OUTCOME_ERROR;
    }
    const cJSON *page = outcome == TUI_OUTCOME_OK ? entries : NULL;
    const cJSON *entry = NULL;
    cJSON_ArrayForEach(entry, page) {
        int64_t seq = 0;
        if (tigerctl_json_integer(entry, "seq", &seq) && (uint64_t)seq > copy->head_seq) break;
        if (entry_write(copy, entry) != 0) {
            (void)snprintf(message, size, "cannot write the chain's copy to %s", copy->path);
            outcome = TUI_OUTCOME_ERROR;
            break;
        }
    }
    *done =
        outcome != TUI_OUTCOME_OK || next <= (int64_t)*after || (uint64_t)next >= copy->head_seq;
    if (outcome == TUI_OUTCOME_OK) *after = (uint64_t)next;
    tigerctl_reply_free(&reply);
    return outcome;
}

static enum tui_outcome head_read(struct tui_client *client, struct chain_copy *copy, char *message,
                                  uint32_t size) {
    struct tigerctl_reply reply;
    enum tui_outcome outcome = tui_client_get(client, "/v1/status", NULL, 0, &reply, message, size);
    struct tui_status status;
    if (outcome == TUI_OUTCOME_OK && tui_parse_status(reply.json, &status, message, size) != 0) {
        outcome = TUI_OUTCOME_ERROR;
    }
    tigerctl_reply_free(&reply);
    if (outcome != TUI_OUTCOME_OK) return outcome;
    copy->head_seq = status.audit_seq;
    (void)snprintf(copy->head, sizeof(copy->head), "%s", status.audit_head);
    (void)snprintf(copy->controller_key, sizeof(copy->controller_key), "%s", status.controller_key);
    return TUI_OUTCOME_OK;
}

static enum tui_outcome chain_copy_make(struct tui_client *client, struct chain_copy *copy,
                                        char *message, uint32_t size) {
    enum tui_outcome outcome = head_read(client, copy, message, size);
    if (outcome != TUI_OUTCOME_OK) return outcome;
    const char *directory = getenv("TMPDIR");
    (void)snprintf(copy->path, sizeof(copy->path), "%s/tigerchat-tui-audit-XXXXXX",
                   directory != NULL && directory[0] != '\0' ? directory : "/tmp");
    const int fd = mkstemp(copy->path);
    copy->file = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (copy->file == NULL) {
        if (fd >= 0) (void)close(fd);
        (void)snprintf(message, size, "cannot create a temporary file in %s", copy->path);
        copy->path[0] = '\0';
        return TUI_OUTCOME_ERROR;
    }
    uint64_t after = 0;
    bool done = copy->head_seq == 0;
    while (!done) outcome = page_copy(client, copy, &after, &done, message, size);
    if (fclose(copy->file) != 0 && outcome == TUI_OUTCOME_OK) {
        (void)snprintf(message, size, "cannot write the chain's copy to %s", copy->path);
        outcome = TUI_OUTCOME_ERROR;
    }
    copy->file = NULL;
    return outcome;
}

static void report_text(const struct tc_audit_report *report, char *message, uint32_t size) {
    if (report->reason == TC_AUDIT_PASS) {
        (void)snprintf(message, size, "%s", report->message);
    } else if (report->entries == 0) {
        (void)snprintf(message, size, "FAIL %s (nothing verified before it)", report->message);
    } else {
        (void)snprintf(message, size, "FAIL %s (verified before it: seq %llu..%llu)",
                       report->message, (unsigned long long)report->seq_first,
                       (unsigned long long)report->seq_last);
    }
}

// Verifies the copy: controller signatures pinned to the given key file, else to the key the
// controller reports; the last hash must be the head it reports.
static enum tui_outcome chain_copy_verify(const struct chain_copy *copy,
                                          const struct tc_audit_public_key *pinned, char *message,
                                          uint32_t size) {
    struct tc_audit_public_key controller;
    const bool from_status = pinned == NULL;
    if (from_status && tc_audit_key_from_hex(&controller, copy->controller_key) != 0) {
        (void)snprintf(message, size, "/v1/status reports no valid controller key");
        return TUI_OUTCOME_ERROR;
    }
    const struct tc_audit_keyring ring = {.actors = NULL,
                                          .actor_count = 0,
                                          .controllers = from_status ? &controller : pinned,
                                          .controller_count = 1};
    struct tc_audit_report report;
    const int rc = tc_audit_verify(copy->path, NULL, &ring, &report);
    char text[TUI_MESSAGE_SIZE];
    report_text(&report, text, sizeof(text));
    if (rc != 0) {
        (void)snprintf(message, size, "%s", text);
        return TUI_OUTCOME_ERROR;
    }
    char head[65];
    tc_hex_encode(head, report.head.bytes, sizeof(report.head.bytes));
    const bool head_ok = strcmp(head, copy->head) == 0;
    (void)snprintf(message, size,
                   "%s over GET /v1/audit; last hash %.*s %s the head /v1/status reports; "
                   "controller signatures checked against %s; operator keys as the entries name "
                   "them; truncation needs the checkpoint file (--audit-file, --checkpoint)",
                   head_ok ? text : "FAIL", HASH_SHOWN, head, head_ok ? "is" : "IS NOT",
                   from_status ? "the key /v1/status reports" : "--controller-key");
    return head_ok ? TUI_OUTCOME_OK : TUI_OUTCOME_ERROR;
}

static enum tui_outcome verify_file(const struct tui_verify_options *options,
                                    const struct tc_audit_public_key *pinned, char *message,
                                    uint32_t size) {
    const struct tc_audit_keyring ring = {.controllers = pinned,
                                          .controller_count = pinned != NULL ? 1u : 0u};
    struct tc_audit_report report;
    const int rc = tc_audit_verify(options->audit_file, options->checkpoint_file, &ring, &report);
    char text[TUI_MESSAGE_SIZE];
    report_text(&report, text, sizeof(text));
    char checkpoints[96];
    if (options->checkpoint_file == NULL) {
        (void)snprintf(checkpoints, sizeof(checkpoints),
                       "no checkpoint file: a truncated tail is not detected");
    } else {
        (void)snprintf(checkpoints, sizeof(checkpoints),
                       "%llu checkpoints matched, the last at "
                       "seq %llu",
                       (unsigned long long)report.checkpoints,
                       (unsigned long long)report.checkpoint_seq);
    }
    (void)snprintf(message, size, "%s (%s; %s; controller signatures %s)", text,
                   options->audit_file, checkpoints,
                   pinned != NULL ? "checked against --controller-key"
                                  : "checked against the keys the file names (pin one with "
                                    "--controller-key)");
    return rc == 0 ? TUI_OUTCOME_OK : TUI_OUTCOME_ERROR;
}

enum tui_outcome tui_verify(struct tui_client *client, const struct tui_verify_options *options,
                            char *message, uint32_t message_size) {
    tc_assert(client != NULL && options != NULL && message != NULL && message_size > 0);
    struct tc_audit_public_key key;
    const struct tc_audit_public_key *pinned = NULL;
    if (options->controller_key_file != NULL) {
        const int rc = tc_audit_key_load_public(options->controller_key_file, &key);
        if (rc != 0) {
            (void)snprintf(message, message_size, "--controller-key %s: %s",
                           options->controller_key_file,
                           rc == TC_EINVAL ? "not a public key file" : tc_strerror(rc));
            return TUI_OUTCOME_ERROR;
        }
        pinned = &key;
    }
    if (options->audit_file != NULL) return verify_file(options, pinned, message, message_size);
    static struct chain_copy copy;
    memset(&copy, 0, sizeof(copy));
    enum tui_outcome outcome = chain_copy_make(client, &copy, message, message_size);
    if (outcome == TUI_OUTCOME_OK && copy.entries == 0) {
        (void)snprintf(message, message_size, "the chain is empty: nothing to verify");
        outcome = TUI_OUTCOME_ERROR;
    } else if (outcome == TUI_OUTCOME_OK) {
        outcome = chain_copy_verify(&copy, pinned, message, message_size);
    }
    if (copy.path[0] != '\0') (void)unlink(copy.path);
    return outcome;
}
