// Unit tests of the controller's request parsing (controller/server/ctl_envelope.c): the signed
// operator envelope of POST /v1/actions and the signed node messages of /v1/register and
// /v1/heartbeat. Signatures are made with the audit library, exactly as tigerctl and nodes do.
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "ctl_envelope.h"
#include "tc_err.h"

static struct tc_audit_secret_key alice_secret;
static struct tc_audit_public_key alice;
static struct tc_audit_request request;
static char body[8192];
static char error[CTL_ENVELOPE_ERROR_SIZE];

static int setup(void **state) {
    (void)state;
    uint8_t seed[32];
    memset(seed, 0xa1, sizeof(seed));
    tc_audit_keypair_from_seed(seed, &alice_secret, &alice);
    return 0;
}

// A signed envelope of `action` with `args` (JSON text) as tigerctl sends it (keys in any order).
static void envelope(const char *action, const char *args, const char *extra) {
    struct tc_audit_request signed_request;
    uint8_t nonce[TC_AUDIT_NONCE_SIZE];
    memset(nonce, 0x5a, sizeof(nonce));
    const char *detail = NULL;
    assert_int_equal(tc_audit_request_init(&signed_request, &alice, action, args,
                                           UINT64_C(1764698400123), nonce, &detail),
                     0);
    tc_audit_request_sign(&signed_request, &alice_secret);
    char actor[65];
    char sig[129];
    char nonce_hex[33];
    tc_audit_key_hex(&alice, actor);
    tc_audit_signature_hex(&signed_request.signature, sig);
    for (uint32_t i = 0; i < TC_AUDIT_NONCE_SIZE; i++) {
        (void)snprintf(nonce_hex + 2 * i, 3, "%02x", nonce[i]);
    }
    (void)snprintf(body, sizeof(body),
                   "{\"args\": %s, \"actor\":\"%s\",\"action\":\"%s\",\"nonce\":\"%s\","
                   "\"request_time\":\"2025-12-02T18:00:00.123Z\",\"actor_sig\":\"%s\"%s}\n",
                   args, actor, action, nonce_hex, sig, extra);
}

static int parse(void) {
    return ctl_envelope_parse((const uint8_t *)body, (uint32_t)strlen(body), &request, error);
}

static void test_envelope_verifies(void **state) {
    (void)state;
    envelope("node.cordon", "{ \"node\" : 3 }", "");
    assert_int_equal(parse(), 0);
    assert_string_equal(request.action, "node.cordon");
    assert_string_equal(request.args, "{\"node\":3}"); // canonical
    assert_int_equal(tc_audit_request_verify(&request), 0);
}

static void test_envelope_tampered(void **state) {
    (void)state;
    envelope("node.cordon", "{\"node\":3}", "");
    char *at = strstr(body, "\"node\":3");
    assert_non_null(at);
    at[7] = '4'; // another node than the one signed for
    assert_int_equal(parse(), 0);
    assert_int_equal(tc_audit_request_verify(&request), TC_EPERM);
    envelope("node.cordon", "{\"node\":3}", "");
    at = strstr(body, "node.cordon");
    memcpy(at, "node.uncord", 11); // another action (same length, still valid)
    assert_int_equal(parse(), 0);
    assert_int_equal(tc_audit_request_verify(&request), TC_EPERM);
}

static void expect_error(const char *part) {
    assert_int_not_equal(parse(), 0);
    if (strstr(error, part) == NULL) fail_msg("error '%s' lacks '%s'", error, part);
}

static void test_envelope_refusals(void **state) {
    (void)state;
    envelope("node.cordon", "{\"node\":3}", ",\"extra\":1");
    expect_error("unknown field 'extra'");
    (void)snprintf(body, sizeof(body), "[1]");
    expect_error("not a JSON object");
    (void)snprintf(body, sizeof(body), "{\"action\":\"x\"} trailing");
    expect_error("not a JSON object");
    (void)snprintf(body, sizeof(body), "{\"action\":\"node.cordon\"}");
    expect_error("actor");
    envelope("node.cordon", "{\"node\":3}", "");
    char *at = strstr(body, "\"actor\":\"");
    at[9] = 'X'; // not lowercase hex
    expect_error("actor: not 64 lowercase hex digits");
    envelope("node.cordon", "{\"node\":3}", "");
    at = strstr(body, "2025-12-02T18");
    at[5] = '1';
    at[6] = '3'; // month 13
    expect_error("request_time");
    envelope("node.cordon", "{\"node\":3}", "");
    at = strstr(body, "\"node\":3");
    memcpy(at, "\"nod\":[]", 8); // args no tigerctl signs: canonical, refused later by decide
    assert_int_equal(parse(), 0);
    envelope("node.cordon", "{\"node\":3}", "");
    at = strstr(body, "{\"node\":3}");
    memcpy(at, "{\"no\":1.5}", 10); // a fraction: not canonical JSON
    expect_error("request:");
    envelope("node.cordon", "{\"node\":3}", "");
    at = strstr(body, "node.cordon");
    memcpy(at, "Node.Cordon", 11); // not an action name
    expect_error("request:");
    assert_int_equal(ctl_envelope_parse((const uint8_t *)"", 0, &request, error), TC_EINVAL);
    const char with_nul[] = "{\"a\":1}\0";
    assert_int_equal(ctl_envelope_parse((const uint8_t *)with_nul, sizeof(with_nul), &request,
                                        error),
                     TC_EINVAL);
}

static void test_node_message(void **state) {
    (void)state;
    // The node signs the canonical body without "sig"; any key order and spacing arrives.
    const char *canonical_expected = "{\"node\":2,\"status\":{\"groups\":[]},\"time\":\"x\"}";
    struct tc_audit_signature signature;
    assert_int_equal(tc_audit_sign_domain(CTL_DOMAIN_HEARTBEAT, canonical_expected,
                                          (uint32_t)strlen(canonical_expected), &alice_secret,
                                          &signature),
                     0);
    char sig[129];
    tc_audit_signature_hex(&signature, sig);
    (void)snprintf(body, sizeof(body),
                   "{ \"time\":\"x\", \"sig\":\"%s\", \"status\": {\"groups\": []}, \"node\": 2 }",
                   sig);
    char canonical[512];
    uint32_t size = 0;
    struct tc_audit_signature parsed;
    assert_int_equal(ctl_node_message_parse((const uint8_t *)body, (uint32_t)strlen(body),
                                            canonical, sizeof(canonical), &size, &parsed, error),
                     0);
    assert_string_equal(canonical, canonical_expected);
    assert_int_equal(tc_audit_verify_domain(CTL_DOMAIN_HEARTBEAT, canonical, size, &alice,
                                            &parsed),
                     0);
    // Another domain (a heartbeat replayed as a registration) does not verify.
    assert_int_equal(tc_audit_verify_domain(CTL_DOMAIN_REGISTER, canonical, size, &alice, &parsed),
                     TC_EPERM);
    (void)snprintf(body, sizeof(body), "{\"node\":2}");
    assert_int_equal(ctl_node_message_parse((const uint8_t *)body, (uint32_t)strlen(body),
                                            canonical, sizeof(canonical), &size, &parsed, error),
                     TC_EINVAL);
    assert_non_null(strstr(error, "sig"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_verifies),
        cmocka_unit_test(test_envelope_tampered),
        cmocka_unit_test(test_envelope_refusals),
        cmocka_unit_test(test_node_message),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
