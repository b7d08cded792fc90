// tigerctl verify-audit: checks an audit log (and its checkpoints) offline. Prints
// "PASS seq A..B (N entries)" and exits 0, or "FAIL line L: reason" and exits 1.
#include <cjson/cJSON.h>
#include <stdio.h>

#include "tc_assert.h"
#include "tc_audit.h"
#include "tc_err.h"
#include "tigerctl.h"

static const struct tigerctl_option verify_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    {"file", "FILE", 1, "the audit log (JSON Lines) to verify"},
    {"checkpoint", "FILE", 1, "the checkpoint file: detects a truncated tail or a rewritten log"},
    {"key", "PUBFILE", TIGERCTL_OPTION_VALUES_MAX, "a trusted operator public key (repeatable)"},
    {"controller-key", "PUBFILE", TIGERCTL_OPTION_VALUES_MAX,
     "a trusted controller public key (repeatable)"},
};

struct verify_keys {
    struct tc_audit_public_key actors[TIGERCTL_OPTION_VALUES_MAX];
    struct tc_audit_public_key controllers[TIGERCTL_OPTION_VALUES_MAX];
    struct tc_audit_keyring ring;
};

// Loads every value of option `name` into keys; exit code on failure, else TIGERCTL_EXIT_OK.
static int keys_load(const struct tigerctl_context *context, const struct tigerctl_args *args,
                     const char *name, struct tc_audit_public_key *keys, uint32_t *count) {
    *count = tigerctl_args_count(args, name);
    tc_assert(*count <= TIGERCTL_OPTION_VALUES_MAX);
    for (uint32_t i = 0; i < *count; i++) {
        const char *path = tigerctl_args_value(args, name, i);
        const int rc = tc_audit_key_load_public(path, &keys[i]);
        if (rc != 0) {
            (void)fprintf(context->err, "tigerctl verify-audit: --%s %s: %s\n", name, path,
                          rc == TC_EINVAL ? "not a public key file (tigerchat-ed25519-public-v1)"
                                          : tc_strerror(rc));
            return TIGERCTL_EXIT_USAGE;
        }
    }
    return TIGERCTL_EXIT_OK;
}

static void print_warnings(const struct tigerctl_context *context, const struct tigerctl_args *args,
                           const struct tc_audit_report *report) {
    if (tigerctl_args_count(args, "checkpoint") == 0) {
        (void)fprintf(context->err, "warning: no --checkpoint: a truncated tail or a rewritten "
                                    "log signed with the controller's key cannot be detected\n");
    }
    if (!report->actors_pinned) {
        (void)fprintf(context->err, "warning: no --key: operator signatures are checked against "
                                    "the keys the log names, which are not trusted\n");
    }
    if (!report->controllers_pinned) {
        (void)fprintf(context->err, "warning: no --controller-key: controller signatures are "
                                    "checked against the keys the files name, which are not "
                                    "trusted\n");
    }
}

static void print_text(const struct tigerctl_context *context, const struct tigerctl_args *args,
                       const struct tc_audit_report *report) {
    FILE *out = context->out;
    if (report->reason != TC_AUDIT_PASS) {
        (void)fprintf(out, "FAIL %s\n", report->message);
        if (report->entries == 0) {
            (void)fprintf(out, "verified before it: nothing\n");
        } else {
            (void)fprintf(out, "verified before it: seq %llu..%llu (%llu entries)\n",
                          (unsigned long long)report->seq_first,
                          (unsigned long long)report->seq_last,
                          (unsigned long long)report->entries);
        }
        return;
    }
    char head[65];
    tc_hex_encode(head, report->head.bytes, sizeof(report->head.bytes));
    (void)fprintf(out, "%s\nhead %s\n", report->message, head);
    if (tigerctl_args_count(args, "checkpoint") > 0) {
        (void)fprintf(out, "checkpoints: %llu matched, the last at seq %llu\n",
                      (unsigned long long)report->checkpoints,
                      (unsigned long long)report->checkpoint_seq);
        if (report->checkpoint_seq < report->seq_last) {
            (void)fprintf(context->err, "note: seq %llu..%llu come after the last checkpoint and "
                                        "are not protected against truncation\n",
                          (unsigned long long)report->checkpoint_seq + 1,
                          (unsigned long long)report->seq_last);
        }
    }
    print_warnings(context, args, report);
}

static void print_json(const struct tigerctl_context *context,
                       const struct tc_audit_report *report) {
    cJSON *object = cJSON_CreateObject();
    tc_assert(object != NULL);
    const bool pass = report->reason == TC_AUDIT_PASS;
    (void)cJSON_AddStringToObject(object, "result", pass ? "pass" : "fail");
    if (!pass) {
        (void)cJSON_AddStringToObject(object, "reason", tc_audit_reason_id(report->reason));
        (void)cJSON_AddStringToObject(object, "file", report->file == TC_AUDIT_FILE_LOG
                                                          ? "log"
                                                          : "checkpoint");
        (void)cJSON_AddNumberToObject(object, "line", (double)report->line);
    }
    (void)cJSON_AddStringToObject(object, "message", report->message);
    (void)cJSON_AddNumberToObject(object, "entries", (double)report->entries);
    (void)cJSON_AddNumberToObject(object, "seq_first", (double)report->seq_first);
    (void)cJSON_AddNumberToObject(object, "seq_last", (double)report->seq_last);
    char head[65];
    tc_hex_encode(head, report->head.bytes, sizeof(report->head.bytes));
    (void)cJSON_AddStringToObject(object, "head", head);
    (void)cJSON_AddNumberToObject(object, "checkpoints", (double)report->checkpoints);
    (void)cJSON_AddNumberToObject(object, "checkpoint_seq", (double)report->checkpoint_seq);
    (void)cJSON_AddBoolToObject(object, "actors_pinned", report->actors_pinned);
    (void)cJSON_AddBoolToObject(object, "controllers_pinned", report->controllers_pinned);
    tigerctl_print_json(context, object);
    cJSON_Delete(object);
}

static int verify_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    const char *log = tigerctl_args_value(args, "file", 0);
    if (log == NULL) {
        (void)fprintf(context->err, "tigerctl verify-audit: --file FILE is required "
                                    "(see tigerctl verify-audit --help)\n");
        return TIGERCTL_EXIT_USAGE;
    }
    static struct verify_keys keys;
    int code = keys_load(context, args, "key", keys.actors, &keys.ring.actor_count);
    if (code == TIGERCTL_EXIT_OK) {
        code = keys_load(context, args, "controller-key", keys.controllers,
                         &keys.ring.controller_count);
    }
    if (code != TIGERCTL_EXIT_OK) return code;
    keys.ring.actors = keys.actors;
    keys.ring.controllers = keys.controllers;
    struct tc_audit_report report;
    const int rc = tc_audit_verify(log, tigerctl_args_value(args, "checkpoint", 0), &keys.ring,
                                   &report);
    if (rc != 0 && rc != TC_ECORRUPT) { // the files could not be read: no verdict
        return tigerctl_fail(context, TIGERCTL_EXIT_FAILURE, "%s", report.message);
    }
    if (context->json) {
        print_json(context, &report);
    } else {
        print_text(context, args, &report);
    }
    return rc == 0 ? TIGERCTL_EXIT_OK : TIGERCTL_EXIT_FAILURE;
}

const struct tigerctl_command tigerctl_command_verify_audit = {
    .name = "verify-audit",
    .summary = "verify an audit log offline (signatures, links, gaps, time, checkpoints)",
    .description =
        "Verifies an audit log (docs/audit.md): every line is canonical JSON; seq has no\n"
        "gaps; each prev is the hash of the line before; time never goes backwards;\n"
        "the controller's and the operator's Ed25519 signatures hold; no signed request\n"
        "appears twice; and with --checkpoint, every signed checkpoint matches the log,\n"
        "which must reach the last one (a truncated tail fails).\n"
        "Keys: --key and --controller-key pin the trusted keys; without them the\n"
        "signatures are checked against the keys the files name (integrity only).\n"
        "Prints PASS seq A..B (N entries) and exits 0, or FAIL line L: reason (the first\n"
        "bad line) and exits 1; an unreadable log also exits 1; usage errors exit 2.",
    .transport = TIGERCTL_OFFLINE,
    .options = verify_options,
    .option_count = TC_ARRAY_COUNT(verify_options),
    .run = verify_run,
};
