// Test fixture for test_tigerctl_audit.sh: writes an audit log and its checkpoint file through the
// tc_audit library, with secret keys made by `tigerctl keygen` (so the key file format is shared).
//   audit_fixture CONTROLLER_SECRET OPERATOR_SECRET LOG CHECKPOINTS COUNT
// Entry i: action node.drain or room.move, args {"dry_run":false,"node":"n<i>"}, every fourth
// result refused; a checkpoint after every tenth entry and after the last.
#include <stdio.h>
#include <stdlib.h>

#include "tc_audit.h"
#include "tc_err.h"

#define TIME_BASE_MS UINT64_C(1767225600000) // 2026-01-01T00:00:00.000Z

static int append(struct tc_audit_writer *writer, const struct tc_audit_secret_key *operator_key,
                  uint32_t i) {
    struct tc_audit_public_key actor;
    tc_audit_key_public(operator_key, &actor);
    char args[64];
    (void)snprintf(args, sizeof(args), "{\"node\":\"n%u\",\"dry_run\":false}", i);
    uint8_t nonce[TC_AUDIT_NONCE_SIZE];
    tc_audit_nonce_random(nonce);
    static struct tc_audit_request request;
    const uint64_t time_ms = TIME_BASE_MS + (uint64_t)i * 1000;
    int rc = tc_audit_request_init(&request, &actor, i % 2 == 0 ? "room.move" : "node.drain", args,
                                   time_ms - 25, nonce, NULL);
    if (rc != 0) return rc;
    tc_audit_request_sign(&request, operator_key);
    const char *result = i % 4 == 0 ? "{\"status\":\"refused\",\"reason\":\"no target node\"}"
                                    : "\"ok\"";
    rc = tc_audit_writer_append(writer, &request, result, time_ms, NULL);
    if (rc == 0 && (i % 10 == 0)) rc = tc_audit_writer_checkpoint(writer, time_ms, NULL, 0, NULL);
    return rc;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        (void)fprintf(stderr, "usage: audit_fixture CONTROLLER_SECRET OPERATOR_SECRET LOG "
                              "CHECKPOINTS COUNT\n");
        return 2;
    }
    struct tc_audit_secret_key controller;
    struct tc_audit_secret_key operator_key;
    int rc = tc_audit_key_load_secret(argv[1], &controller);
    if (rc == 0) rc = tc_audit_key_load_secret(argv[2], &operator_key);
    if (rc != 0) {
        (void)fprintf(stderr, "audit_fixture: cannot load keys: %s\n", tc_strerror(rc));
        return 1;
    }
    const uint32_t count = (uint32_t)strtoul(argv[5], NULL, 10);
    struct tc_audit_writer *writer = NULL;
    struct tc_audit_report report;
    rc = tc_audit_writer_open(&writer, argv[3], argv[4], &controller, 0, &report);
    for (uint32_t i = 1; rc == 0 && i <= count; i++) rc = append(writer, &operator_key, i);
    if (rc == 0 && count % 10 != 0) rc = tc_audit_writer_checkpoint(writer, 0, NULL, 0, NULL);
    tc_audit_writer_close(writer);
    tc_audit_secret_key_wipe(&controller);
    tc_audit_secret_key_wipe(&operator_key);
    if (rc != 0) {
        (void)fprintf(stderr, "audit_fixture: %s (%s)\n", tc_strerror(rc), report.message);
        return 1;
    }
    return 0;
}
