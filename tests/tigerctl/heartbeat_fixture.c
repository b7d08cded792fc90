// Test fixture for test_tigerctl_controller.sh: stands in for a node's heartbeats so the
// controller counts the node live (docs/controller.md §8 "Heartbeat") without running a node.
//   heartbeat_fixture CONTROLLER_URL NODE SECRET_KEY_FILE SECONDS [STATUS_JSON]
// Every second for SECONDS seconds it POSTs to CONTROLLER_URL/v1/heartbeat
//   {"node":N,"sig":"<128 hex>","status":STATUS,"time":"YYYY-MM-DDTHH:MM:SS.mmmZ"}
// where sig is the node key's Ed25519 signature over "tigerchat-heartbeat-v1\n" + the canonical
// body without "sig" (tc_audit_sign_domain). STATUS defaults to {} (a node that reports
// nothing: live, no groups).
// Exits 0 when every heartbeat was answered 200, 1 at the first that was not (printing why).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "http.h"
#include "sign.h"
#include "tc_audit.h"
#include "tc_err.h"

#define BODY_SIZE_MAX (TC_AUDIT_ARGS_SIZE_MAX + 512u)
#define DOMAIN "tigerchat-heartbeat-v1" // the controller's CTL_DOMAIN_HEARTBEAT

static char unsigned_body[BODY_SIZE_MAX];
static char canonical[BODY_SIZE_MAX];
static char body[BODY_SIZE_MAX + 256];

// Builds the signed heartbeat for `node` at time_ms into body; 0 or a TC_E* code.
static int heartbeat_build(uint32_t node, const char *status, uint64_t time_ms,
                           const struct tc_audit_secret_key *key) {
    char time[TC_AUDIT_TIME_TEXT_SIZE + 1];
    tc_audit_time_format(time_ms, time);
    (void)snprintf(unsigned_body, sizeof(unsigned_body),
                   "{\"node\":%u,\"status\":%s,\"time\":\"%s\"}", node, status, time);
    uint32_t size = 0;
    const char *detail = NULL;
    int rc = tc_audit_json_canonical(unsigned_body, canonical, sizeof(canonical), &size, &detail);
    if (rc != 0) {
        (void)fprintf(stderr, "heartbeat_fixture: STATUS_JSON: %s\n", detail);
        return rc;
    }
    struct tc_audit_signature signature;
    rc = tc_audit_sign_domain(DOMAIN, canonical, size, key, &signature);
    if (rc != 0) return rc;
    char hex[129];
    tc_audit_signature_hex(&signature, hex);
    // The canonical body with "sig" in its sorted place (between "node" and "status").
    const char *status_member = strstr(canonical, ",\"status\":");
    if (status_member == NULL) return TC_EINVAL;
    (void)snprintf(body, sizeof(body), "%.*s,\"sig\":\"%s\"%s", (int)(status_member - canonical),
                   canonical, hex, status_member);
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 5 && argc != 6) {
        (void)fprintf(stderr, "usage: heartbeat_fixture CONTROLLER_URL NODE SECRET_KEY_FILE "
                              "SECONDS [STATUS_JSON]\n");
        return 2;
    }
    const uint32_t node = (uint32_t)strtoul(argv[2], NULL, 10);
    const uint32_t seconds = (uint32_t)strtoul(argv[4], NULL, 10);
    const char *status = argc == 6 ? argv[5] : "{}";
    struct tc_audit_secret_key key;
    int rc = tc_audit_key_load_secret(argv[3], &key);
    if (rc != 0) {
        (void)fprintf(stderr, "heartbeat_fixture: %s: %s\n", argv[3], tc_strerror(rc));
        return 2;
    }
    char url[1100];
    (void)snprintf(url, sizeof(url), "%s/v1/heartbeat", argv[1]);
    for (uint32_t i = 0; rc == 0 && i < seconds; i++) {
        rc = heartbeat_build(node, status, tigerctl_time_now_ms(), &key);
        if (rc != 0) break;
        struct tigerctl_http_response response;
        const enum tigerctl_http_outcome outcome =
            tigerctl_http_request(url, body, (uint32_t)strlen(body), 5000, &response);
        const bool ok = outcome == TIGERCTL_HTTP_ANSWERED && response.status == 200;
        if (!ok) {
            (void)fprintf(stderr, "heartbeat_fixture: node %u: HTTP %ld %s %s\n", node,
                          response.status, response.error,
                          response.body != NULL ? response.body : "");
            rc = TC_EIO;
        }
        tigerctl_http_response_free(&response);
        if (ok) {
            const struct timespec second = {.tv_sec = 1, .tv_nsec = 0};
            (void)nanosleep(&second, NULL);
        }
    }
    tc_audit_secret_key_wipe(&key);
    return rc == 0 ? 0 : 1;
}
