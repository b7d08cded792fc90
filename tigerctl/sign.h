#ifndef TIGERCTL_SIGN_H
#define TIGERCTL_SIGN_H

// The signed request tigerctl posts to /v1/actions (docs/controller.md §8, docs/audit.md §5):
//   {"action":"node.cordon","actor":"<64 hex>","actor_sig":"<128 hex>","args":{...},
//    "nonce":"<32 hex>","request_time":"2026-12-02T18:00:00.000Z"}
// The members are in canonical order and args is canonical JSON, so the envelope is itself
// canonical; actor_sig is tc_audit_request_sign's signature over tc_audit_request_signed_bytes,
// the very bytes the controller re-derives and verifies.

#include <stdint.h>

#include "tc_audit.h"

struct tigerctl_context;

// The longest envelope: canonical args at their limit plus the fixed members.
#define TIGERCTL_ENVELOPE_SIZE_MAX (TC_AUDIT_ARGS_SIZE_MAX + 512u)

// Builds and signs the envelope for `action` with arguments args_json (any JSON object text; it is
// sent canonically) at time_ms with the given nonce, into out (NUL-terminated; *size excludes the
// NUL). Pure. TC_EINVAL/TC_ETOOBIG with *detail (may be NULL) when the action or args are invalid.
int tigerctl_envelope_build(const struct tc_audit_secret_key *secret, const char *action,
                            const char *args_json, uint64_t time_ms,
                            const uint8_t nonce[TC_AUDIT_NONCE_SIZE], char *out, uint32_t capacity,
                            uint32_t *size, const char **detail);

// The wall clock, ms since the Unix epoch.
uint64_t tigerctl_time_now_ms(void);

// Loads the operator's secret key (context->key_path). On a problem (no key given, unreadable,
// mode too open, not a key file) prints it and returns TIGERCTL_EXIT_USAGE, else TIGERCTL_EXIT_OK.
int tigerctl_key_load(const struct tigerctl_context *context, struct tc_audit_secret_key *secret);

#endif
