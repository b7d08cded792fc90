// Building the signed request envelope, and the operator's key and clock that go into it.
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "sign.h"
#include "tc_assert.h"
#include "tc_checksum.h"
#include "tc_err.h"
#include "tigerctl.h"

uint64_t tigerctl_time_now_ms(void) {
    struct timespec now;
    tc_assert(clock_gettime(CLOCK_REALTIME, &now) == 0);
    tc_assert(now.tv_sec >= 0);
    const uint64_t time_ms = (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
    tc_assert(time_ms <= TC_AUDIT_TIME_MS_MAX);
    return time_ms;
}

// Writes the envelope of a signed request (members in canonical order); false if capacity is
// short.
static bool envelope_write(const struct tc_audit_request *request, char *out, uint32_t capacity,
                           uint32_t *size) {
    char actor[TC_AUDIT_KEY_HEX_SIZE + 1];
    char signature[2 * sizeof(request->signature.bytes) + 1];
    _Static_assert(sizeof(signature) == 129, "tc_audit_signature_hex writes 128 digits and a NUL");
    char nonce[2 * TC_AUDIT_NONCE_SIZE + 1];
    char request_time[TC_AUDIT_TIME_TEXT_SIZE + 1];
    tc_audit_key_hex(&request->actor, actor);
    tc_audit_signature_hex(&request->signature, signature);
    tc_hex_encode(nonce, request->nonce, TC_AUDIT_NONCE_SIZE);
    tc_audit_time_format(request->time_ms, request_time); // as in the signed bytes
    // The action matches [a-z][a-z0-9._-]* and args is canonical JSON: nothing needs escaping.
    const int written = snprintf(out, capacity,
                                 "{\"action\":\"%s\",\"actor\":\"%s\",\"actor_sig\":\"%s\","
                                 "\"args\":%s,\"nonce\":\"%s\",\"request_time\":\"%s\"}",
                                 request->action, actor, signature, request->args, nonce,
                                 request_time);
    tc_assert(written > 0);
    *size = (uint32_t)written;
    return (uint32_t)written < capacity;
}

int tigerctl_envelope_build(const struct tc_audit_secret_key *secret, const char *action,
                            const char *args_json, uint64_t time_ms,
                            const uint8_t nonce[TC_AUDIT_NONCE_SIZE], char *out, uint32_t capacity,
                            uint32_t *size, const char **detail) {
    tc_assert(secret != NULL && action != NULL && args_json != NULL && nonce != NULL);
    tc_assert(out != NULL && size != NULL);
    tc_assert(capacity > 0);
    static struct tc_audit_request request; // 16 KiB of args: kept off the stack
    struct tc_audit_public_key actor;
    tc_audit_key_public(secret, &actor);
    const int rc =
        tc_audit_request_init(&request, &actor, action, args_json, time_ms, nonce, detail);
    if (rc != 0) return rc;
    tc_audit_request_sign(&request, secret);
    tc_assert(tc_audit_request_verify(&request) == 0);
    if (!envelope_write(&request, out, capacity, size)) {
        if (detail != NULL) *detail = "the signed request does not fit the buffer";
        out[0] = '\0';
        *size = 0;
        return TC_ETOOBIG;
    }
    tc_assert(*size < capacity && out[*size] == '\0');
    return 0;
}

int tigerctl_key_load(const struct tigerctl_context *context, struct tc_audit_secret_key *secret) {
    tc_assert(context != NULL && secret != NULL);
    tc_assert(context->command != NULL);
    const char *path = context->key_path;
    if (path == NULL) {
        return tigerctl_usage(context, "a signed action needs the operator's key: --key FILE "
                                       "or TIGERCTL_KEY (make one with tigerctl keygen)");
    }
    const int rc = tc_audit_key_load_secret(path, secret);
    if (rc == 0) return TIGERCTL_EXIT_OK;
    const char *why = rc == TC_EPERM    ? "readable or writable by others (chmod 600 it)"
                      : rc == TC_EINVAL ? "not a secret key file (tigerchat-ed25519-secret-v1)"
                                        : tc_strerror(rc);
    (void)fprintf(context->err, "tigerctl %s: key %s: %s\n", context->command->name, path, why);
    return TIGERCTL_EXIT_USAGE;
}
