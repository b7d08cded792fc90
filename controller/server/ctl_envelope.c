// Parsing signed requests and node messages (ctl_envelope.h).
#include "ctl_envelope.h"

#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_assert.h"
#include "tc_err.h"

#define CTL_ENVELOPE_BODY_SIZE_MAX (64u * 1024u)

static int envelope_fail(char error[CTL_ENVELOPE_ERROR_SIZE], int code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int envelope_fail(char error[CTL_ENVELOPE_ERROR_SIZE], int code, const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(error, CTL_ENVELOPE_ERROR_SIZE, format, arguments);
    va_end(arguments);
    return code;
}

// cJSON needs a NUL-terminated text; bodies are bounded by the HTTP server (64 KiB).
static cJSON *envelope_json(const uint8_t *body, uint32_t body_size,
                            char error[CTL_ENVELOPE_ERROR_SIZE]) {
    if (body_size == 0 || body_size > CTL_ENVELOPE_BODY_SIZE_MAX) {
        (void)envelope_fail(error, TC_EINVAL, "body: empty or above 64 KiB");
        return NULL;
    }
    if (memchr(body, '\0', body_size) != NULL) {
        (void)envelope_fail(error, TC_EINVAL, "body: contains a NUL byte");
        return NULL;
    }
    // Not cJSON's require_null_terminated: it fails when the value ends exactly at the length.
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)body, body_size, &end, 0);
    const char *limit = (const char *)body + body_size;
    while (root != NULL && end < limit &&
           (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')) {
        end++;
    }
    if (root == NULL || !cJSON_IsObject(root) || end != limit) {
        cJSON_Delete(root);
        (void)envelope_fail(error, TC_EINVAL, "body: not a JSON object");
        return NULL;
    }
    return root;
}

static const char *envelope_string(const cJSON *root, const char *name) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    return cJSON_IsString(item) ? item->valuestring : NULL;
}

// Every member must be one of the six: an unknown field is an error, not silently dropped.
static bool envelope_fields_known(const cJSON *root, char error[CTL_ENVELOPE_ERROR_SIZE]) {
    static const char *known[] = {"action", "actor", "actor_sig", "args", "nonce", "request_time"};
    for (const cJSON *item = root->child; item != NULL; item = item->next) {
        bool found = false;
        for (uint32_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
            if (item->string != NULL && strcmp(item->string, known[i]) == 0) found = true;
        }
        if (!found) {
            (void)envelope_fail(error, TC_EINVAL, "unknown field '%.40s'",
                                item->string == NULL ? "" : item->string);
            return false;
        }
    }
    return true;
}

static int envelope_fill(const cJSON *root, struct tc_audit_request *request,
                         char error[CTL_ENVELOPE_ERROR_SIZE]) {
    const char *action = envelope_string(root, "action");
    const char *actor = envelope_string(root, "actor");
    const char *actor_sig = envelope_string(root, "actor_sig");
    const char *nonce = envelope_string(root, "nonce");
    const char *request_time = envelope_string(root, "request_time");
    const cJSON *args = cJSON_GetObjectItemCaseSensitive(root, "args");
    if (action == NULL) return envelope_fail(error, TC_EINVAL, "action: missing or not a string");
    if (actor == NULL) return envelope_fail(error, TC_EINVAL, "actor: missing or not a string");
    if (actor_sig == NULL) return envelope_fail(error, TC_EINVAL, "actor_sig: missing");
    if (nonce == NULL) return envelope_fail(error, TC_EINVAL, "nonce: missing");
    if (request_time == NULL) return envelope_fail(error, TC_EINVAL, "request_time: missing");
    if (!cJSON_IsObject(args)) return envelope_fail(error, TC_EINVAL, "args: not a JSON object");
    struct tc_audit_public_key key;
    if (tc_audit_key_from_hex(&key, actor) != 0) {
        return envelope_fail(error, TC_EINVAL, "actor: not 64 lowercase hex digits");
    }
    uint8_t nonce_bytes[TC_AUDIT_NONCE_SIZE];
    struct tc_audit_signature signature;
    if (tc_audit_signature_from_hex(&signature, actor_sig, strlen(actor_sig)) != 0) {
        return envelope_fail(error, TC_EINVAL, "actor_sig: not 128 lowercase hex digits");
    }
    // The nonce is 16 bytes: reuse the signature decoder's strictness through a 64-byte buffer.
    if (strlen(nonce) != 2u * TC_AUDIT_NONCE_SIZE) {
        return envelope_fail(error, TC_EINVAL, "nonce: not 32 lowercase hex digits");
    }
    for (uint32_t i = 0; i < TC_AUDIT_NONCE_SIZE; i++) {
        unsigned value = 0;
        const char pair[3] = {nonce[2 * i], nonce[2 * i + 1], '\0'};
        if (strspn(pair, "0123456789abcdef") != 2 || sscanf(pair, "%2x", &value) != 1) {
            return envelope_fail(error, TC_EINVAL, "nonce: not 32 lowercase hex digits");
        }
        nonce_bytes[i] = (uint8_t)value;
    }
    uint64_t time_ms = 0;
    if (!tc_audit_time_parse(request_time, strlen(request_time), &time_ms)) {
        return envelope_fail(error, TC_EINVAL, "request_time: not YYYY-MM-DDTHH:MM:SS.mmmZ");
    }
    char *args_text = cJSON_PrintUnformatted(args);
    if (args_text == NULL) return envelope_fail(error, TC_ENOMEM, "args: out of memory");
    const char *detail = NULL;
    const int rc =
        tc_audit_request_init(request, &key, action, args_text, time_ms, nonce_bytes, &detail);
    cJSON_free(args_text);
    if (rc != 0) {
        return envelope_fail(error, rc, "request: %s", detail == NULL ? tc_strerror(rc) : detail);
    }
    request->signature = signature;
    return 0;
}

int ctl_envelope_parse(const uint8_t *body, uint32_t body_size, struct tc_audit_request *request,
                       char error[CTL_ENVELOPE_ERROR_SIZE]) {
    tc_assert(body != NULL || body_size == 0);
    tc_assert(request != NULL && error != NULL);
    error[0] = '\0';
    cJSON *root = envelope_json(body, body_size, error);
    if (root == NULL) return TC_EINVAL;
    int rc = envelope_fields_known(root, error) ? 0 : TC_EINVAL;
    if (rc == 0) rc = envelope_fill(root, request, error);
    cJSON_Delete(root);
    tc_assert(rc == 0 || error[0] != '\0');
    return rc;
}

int ctl_node_message_parse(const uint8_t *body, uint32_t body_size, char *canonical,
                           uint32_t capacity, uint32_t *canonical_size,
                           struct tc_audit_signature *signature,
                           char error[CTL_ENVELOPE_ERROR_SIZE]) {
    tc_assert(canonical != NULL && canonical_size != NULL && signature != NULL);
    error[0] = '\0';
    cJSON *root = envelope_json(body, body_size, error);
    if (root == NULL) return TC_EINVAL;
    int rc = 0;
    cJSON *sig = cJSON_DetachItemFromObjectCaseSensitive(root, "sig");
    if (!cJSON_IsString(sig) ||
        tc_audit_signature_from_hex(signature, sig->valuestring, strlen(sig->valuestring)) != 0) {
        rc = envelope_fail(error, TC_EINVAL, "sig: missing or not 128 lowercase hex digits");
    }
    cJSON_Delete(sig);
    char *text = rc == 0 ? cJSON_PrintUnformatted(root) : NULL;
    if (rc == 0 && text == NULL) rc = envelope_fail(error, TC_ENOMEM, "body: out of memory");
    if (rc == 0) {
        const char *detail = NULL;
        rc = tc_audit_json_canonical(text, canonical, capacity, canonical_size, &detail);
        if (rc != 0) rc = envelope_fail(error, rc, "body: %s", detail);
    }
    cJSON_free(text);
    cJSON_Delete(root);
    return rc;
}
