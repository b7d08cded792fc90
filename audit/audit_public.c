// Public wrappers of the audit library's text and signature primitives, for the controller and
// tigerctl, which sign other records (topologies, node heartbeats) the same way: canonical JSON
// after a domain line, Ed25519, hex on the wire.
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "audit_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

int tc_audit_json_canonical(const char *text, char *out, uint32_t capacity, uint32_t *size,
                            const char **detail) {
    tc_assert(text != NULL && out != NULL && size != NULL && detail != NULL);
    return audit_json_canonical_text(text, AUDIT_JSON_OBJECT, out, capacity, size, detail);
}

void tc_audit_time_format(uint64_t time_ms, char out[TC_AUDIT_TIME_TEXT_SIZE + 1]) {
    tc_assert(time_ms <= TC_AUDIT_TIME_MS_MAX);
    audit_time_format(time_ms, out);
}

bool tc_audit_time_parse(const char *text, size_t size, uint64_t *time_ms) {
    tc_assert(text != NULL && time_ms != NULL);
    return audit_time_parse(text, size, time_ms);
}

// domain || "\n" || bytes, signed as one message: a signature for one kind of record can never
// verify as another (canonical JSON holds no raw newline, domains hold none either).
static int domain_message(const char *domain, const char *bytes, uint32_t size, uint8_t **out,
                          size_t *out_size) {
    const size_t domain_size = strlen(domain);
    tc_assert(domain_size > 0 && memchr(domain, '\n', domain_size) == NULL);
    *out_size = domain_size + 1u + size;
    *out = malloc(*out_size);
    if (*out == NULL) return TC_ENOMEM;
    memcpy(*out, domain, domain_size);
    (*out)[domain_size] = '\n';
    memcpy(*out + domain_size + 1u, bytes, size);
    return 0;
}

int tc_audit_sign_domain(const char *domain, const char *bytes, uint32_t size,
                         const struct tc_audit_secret_key *secret,
                         struct tc_audit_signature *signature) {
    tc_assert(domain != NULL && bytes != NULL && secret != NULL && signature != NULL);
    uint8_t *message = NULL;
    size_t message_size = 0;
    const int rc = domain_message(domain, bytes, size, &message, &message_size);
    if (rc != 0) return rc;
    const int signed_rc = crypto_sign_detached(signature->bytes, NULL, message, message_size,
                                               secret->bytes);
    tc_assert(signed_rc == 0);
    free(message);
    return 0;
}

int tc_audit_verify_domain(const char *domain, const char *bytes, uint32_t size,
                           const struct tc_audit_public_key *key,
                           const struct tc_audit_signature *signature) {
    tc_assert(domain != NULL && bytes != NULL && key != NULL && signature != NULL);
    if (!tc_audit_key_valid(key)) return TC_EPERM;
    uint8_t *message = NULL;
    size_t message_size = 0;
    const int rc = domain_message(domain, bytes, size, &message, &message_size);
    if (rc != 0) return rc;
    const int verified = crypto_sign_verify_detached(signature->bytes, message, message_size,
                                                     key->bytes);
    free(message);
    return verified == 0 ? 0 : TC_EPERM;
}

void tc_audit_signature_hex(const struct tc_audit_signature *signature, char out[129]) {
    tc_assert(signature != NULL && out != NULL);
    (void)sodium_bin2hex(out, 129, signature->bytes, sizeof(signature->bytes));
}

int tc_audit_signature_from_hex(struct tc_audit_signature *signature, const char *hex,
                                size_t hex_size) {
    tc_assert(signature != NULL && hex != NULL);
    return audit_hex_decode(signature->bytes, sizeof(signature->bytes), hex, hex_size) ? 0
                                                                                       : TC_EINVAL;
}
