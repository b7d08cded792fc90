// Signed operator requests: what the operator's key signs, and only that.
//
//   "tigerchat-audit-request-v1\n"
//   {"action":"...","actor":"<hex>","args":{...},"nonce":"<hex>","request_time":"<RFC 3339>"}
#include <sodium.h>
#include <string.h>

#include "audit_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

#define REQUEST_SIGNED_SIZE_MAX (TC_AUDIT_ARGS_SIZE_MAX + 512u)

int tc_audit_request_init(struct tc_audit_request *request, const struct tc_audit_public_key *actor,
                          const char *action, const char *args_json, uint64_t time_ms,
                          const uint8_t nonce[TC_AUDIT_NONCE_SIZE], const char **detail) {
    tc_assert(request != NULL && actor != NULL && nonce != NULL);
    tc_assert(action != NULL && args_json != NULL);
    const char *ignored = NULL;
    if (detail == NULL) detail = &ignored;
    memset(request, 0, sizeof(*request));
    const size_t action_size = strnlen(action, TC_AUDIT_ACTION_SIZE_MAX + 1);
    if (!audit_action_valid(action, action_size)) {
        *detail = "action must match [a-z][a-z0-9._-]* and be at most 64 bytes";
        return TC_EINVAL;
    }
    if (time_ms > TC_AUDIT_TIME_MS_MAX) {
        *detail = "time is after 9999-12-31";
        return TC_EINVAL;
    }
    const int rc = audit_json_canonical_text(args_json, AUDIT_JSON_OBJECT, request->args,
                                             sizeof(request->args), &request->args_size, detail);
    if (rc != 0) return rc;
    tc_assert(request->args_size <= TC_AUDIT_ARGS_SIZE_MAX);
    memcpy(request->action, action, action_size);
    request->actor = *actor;
    request->time_ms = time_ms;
    memcpy(request->nonce, nonce, TC_AUDIT_NONCE_SIZE);
    return 0;
}

int tc_audit_request_signed_bytes(const struct tc_audit_request *request, char *out,
                                  uint32_t capacity, uint32_t *size) {
    tc_assert(request != NULL && out != NULL && size != NULL);
    tc_assert(request->args_size <= TC_AUDIT_ARGS_SIZE_MAX);
    tc_assert(request->args[request->args_size] == '\0');
    const size_t action_size = strnlen(request->action, sizeof(request->action));
    tc_assert(action_size < sizeof(request->action));
    struct audit_buf buf;
    audit_buf_init(&buf, out, capacity);
    audit_buf_put_cstr(&buf, audit_domain_request);
    audit_buf_put_cstr(&buf, "{\"action\":");
    audit_buf_put_json_string(&buf, request->action, (uint32_t)action_size);
    audit_buf_put_cstr(&buf, ",\"actor\":");
    audit_buf_put_hex_string(&buf, request->actor.bytes, sizeof(request->actor.bytes));
    audit_buf_put_cstr(&buf, ",\"args\":");
    audit_buf_put(&buf, request->args, request->args_size);
    audit_buf_put_cstr(&buf, ",\"nonce\":");
    audit_buf_put_hex_string(&buf, request->nonce, TC_AUDIT_NONCE_SIZE);
    audit_buf_put_cstr(&buf, ",\"request_time\":");
    audit_buf_put_time_string(&buf, request->time_ms);
    audit_buf_put_char(&buf, '}');
    if (buf.overflow) return TC_ETOOBIG;
    *size = buf.size;
    return 0;
}

void tc_audit_request_sign(struct tc_audit_request *request,
                           const struct tc_audit_secret_key *secret) {
    tc_assert(request != NULL && secret != NULL);
    struct tc_audit_public_key key;
    tc_audit_key_public(secret, &key);
    tc_assert(memcmp(key.bytes, request->actor.bytes, sizeof(key.bytes)) == 0);
    char bytes[REQUEST_SIGNED_SIZE_MAX];
    uint32_t size = 0;
    const int rc = tc_audit_request_signed_bytes(request, bytes, sizeof(bytes), &size);
    tc_assert(rc == 0);
    const int signed_rc = crypto_sign_detached(request->signature.bytes, NULL,
                                               (const unsigned char *)bytes, size, secret->bytes);
    tc_assert(signed_rc == 0);
    tc_assert(tc_audit_request_verify(request) == 0);
}

int tc_audit_request_verify(const struct tc_audit_request *request) {
    tc_assert(request != NULL);
    char bytes[REQUEST_SIGNED_SIZE_MAX];
    uint32_t size = 0;
    const int rc = tc_audit_request_signed_bytes(request, bytes, sizeof(bytes), &size);
    tc_assert(rc == 0); // the limits of the struct guarantee the fit
    const int verified = crypto_sign_verify_detached(
        request->signature.bytes, (const unsigned char *)bytes, size, request->actor.bytes);
    return verified == 0 ? 0 : TC_EPERM;
}
