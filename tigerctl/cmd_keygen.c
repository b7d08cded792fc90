// tigerctl keygen --out FILE: a new Ed25519 key pair for an operator (or a controller).
#include <cjson/cJSON.h>
#include <stdio.h>

#include "tc_assert.h"
#include "tc_audit.h"
#include "tc_err.h"
#include "tigerctl.h"

static const struct tigerctl_option keygen_options[] = {
    TIGERCTL_COMMON_OPTIONS,
    {"out", "FILE", 1, "secret key file to create (mode 0600); the public key goes to FILE.pub"},
};

static int keygen_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    const char *path = tigerctl_args_value(args, "out", 0);
    if (path == NULL) {
        (void)fprintf(context->err, "tigerctl keygen: --out FILE is required "
                                    "(see tigerctl keygen --help)\n");
        return TIGERCTL_EXIT_USAGE;
    }
    struct tc_audit_public_key key;
    const int rc = tc_audit_keygen(path, &key);
    if (rc == TC_EEXIST) {
        return tigerctl_fail(context, TIGERCTL_EXIT_FAILURE,
                             "%s or %s.pub already exists; refusing to overwrite a key", path,
                             path);
    }
    if (rc != 0) {
        return tigerctl_fail(context, TIGERCTL_EXIT_FAILURE, "cannot write %s: %s", path,
                             tc_strerror(rc));
    }
    char hex[TC_AUDIT_KEY_HEX_SIZE + 1];
    tc_audit_key_hex(&key, hex);
    if (context->json) {
        char public_path[4096 + 8];
        (void)snprintf(public_path, sizeof(public_path), "%s.pub", path);
        cJSON *object = cJSON_CreateObject();
        tc_assert(object != NULL);
        (void)cJSON_AddStringToObject(object, "result", "ok");
        (void)cJSON_AddStringToObject(object, "secret_key_file", path);
        (void)cJSON_AddStringToObject(object, "public_key_file", public_path);
        (void)cJSON_AddStringToObject(object, "public_key", hex);
        tigerctl_print_json(context, object);
        cJSON_Delete(object);
    } else {
        (void)fprintf(context->out, "wrote %s (secret key, mode 0600) and %s.pub (public key)\n"
                                    "public key %s\n", path, path, hex);
    }
    return TIGERCTL_EXIT_OK;
}

const struct tigerctl_command tigerctl_command_keygen = {
    .name = "keygen",
    .summary = "create an Ed25519 key pair (operator or controller)",
    .description =
        "Creates a new Ed25519 key pair: FILE holds the secret key (mode 0600, never\n"
        "overwritten) and FILE.pub the public key, one line each:\n"
        "  tigerchat-ed25519-secret-v1 <64 hex digits of the seed>\n"
        "  tigerchat-ed25519-public-v1 <64 hex digits of the key>\n"
        "Give FILE.pub to whoever verifies the audit log (tigerctl verify-audit --key).",
    .transport = TIGERCTL_OFFLINE,
    .options = keygen_options,
    .option_count = TC_ARRAY_COUNT(keygen_options),
    .run = keygen_run,
};
