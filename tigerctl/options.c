// Global options (before the command name) and the connection settings of controller commands:
// which controller, which key, how long to wait.
#include <stdio.h>
#include <string.h>

#include "tc_assert.h"
#include "tigerctl.h"

static const char *const global_values[] = {"--controller", "--key", "--timeout-ms"};

static const char **global_field(struct tigerctl_globals *globals, uint32_t index) {
    switch (index) {
    case 0: return &globals->controller;
    case 1: return &globals->key_path;
    case 2: return &globals->timeout_ms;
    default: tc_unreachable();
    }
}

// Handles argv[*i] if it is a global option that takes a value ("--name V" or "--name=V").
// Returns 1 when handled, 0 when it is not one of them, -1 on an error.
static int global_value_parse(struct tigerctl_globals *globals, int argc, char **argv, int *i,
                              char *error, uint32_t error_size) {
    const char *word = argv[*i];
    for (uint32_t v = 0; v < TC_ARRAY_COUNT(global_values); v++) {
        const size_t name_size = strlen(global_values[v]);
        if (strncmp(word, global_values[v], name_size) != 0) continue;
        if (word[name_size] != '\0' && word[name_size] != '=') continue;
        const char **field = global_field(globals, v);
        const char *value = NULL;
        if (word[name_size] == '=') {
            value = word + name_size + 1;
        } else if (*i + 1 < argc) {
            *i += 1;
            value = argv[*i];
        }
        if (value == NULL || value[0] == '\0') {
            (void)snprintf(error, error_size, "%s needs a value", global_values[v]);
            return -1;
        }
        if (*field != NULL) {
            (void)snprintf(error, error_size, "%s given more than once", global_values[v]);
            return -1;
        }
        *field = value;
        return 1;
    }
    return 0;
}

int tigerctl_globals_parse(struct tigerctl_globals *globals, int argc, char **argv, int *next,
                           char *error, uint32_t error_size) {
    tc_assert(globals != NULL && argv != NULL && next != NULL && error != NULL);
    tc_assert(argc >= 1);
    memset(globals, 0, sizeof(*globals));
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        const char *word = argv[i];
        if (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0) {
            globals->help = true;
        } else if (strcmp(word, "--version") == 0) {
            globals->version = true;
        } else if (strcmp(word, "--json") == 0) {
            globals->json = true;
        } else {
            const int handled = global_value_parse(globals, argc, argv, &i, error, error_size);
            if (handled < 0) return -1;
            if (handled == 0) {
                (void)snprintf(error, error_size, "unknown global option %s", word);
                return -1;
            }
        }
    }
    tc_assert(i <= argc);
    *next = i;
    return 0;
}

// Checks a base URL and copies it without trailing slashes. Returns 0 or -1 with error set.
static int url_check(const char *url, const char *origin, char *out, uint32_t out_size, char *error,
                     uint32_t error_size) {
    tc_assert(out_size >= TIGERCTL_BASE_URL_SIZE_MAX);
    const size_t size = strnlen(url, TIGERCTL_BASE_URL_SIZE_MAX);
    const size_t scheme = strncmp(url, "http://", 7) == 0    ? 7
                          : strncmp(url, "https://", 8) == 0 ? 8
                                                             : 0;
    const char *problem = NULL;
    if (size == TIGERCTL_BASE_URL_SIZE_MAX) problem = "longer than 1023 bytes";
    if (problem == NULL && scheme == 0) problem = "must start with http:// or https://";
    if (problem == NULL && size == scheme) problem = "has no host";
    for (size_t i = 0; problem == NULL && i < size; i++) {
        const unsigned char c = (unsigned char)url[i];
        if (c <= 0x20 || c >= 0x7f) problem = "contains a space or a non-ASCII byte";
        if (c == '?' || c == '#') problem = "must not contain '?' or '#'";
    }
    if (problem != NULL) {
        char shown[64];
        tigerctl_sanitize(shown, sizeof(shown), url);
        (void)snprintf(error, error_size, "%s '%s' %s", origin, shown, problem);
        return -1;
    }
    size_t kept = size;
    while (kept > scheme + 1 && url[kept - 1] == '/') kept--;
    memcpy(out, url, kept);
    out[kept] = '\0';
    tc_assert(kept > scheme);
    return 0;
}

// The first of: the command's option, the global option, a non-empty environment value.
static const char *setting_pick(const struct tigerctl_args *args, const char *name,
                                const char *global, const char *env, const char **origin) {
    const char *value = tigerctl_args_value(args, name, 0);
    *origin = "--";
    if (value == NULL && global != NULL) value = global;
    if (value == NULL && env != NULL && env[0] != '\0') {
        value = env;
        *origin = "$";
    }
    return value;
}

int tigerctl_connection_resolve(struct tigerctl_context *context,
                                const struct tigerctl_globals *globals,
                                const struct tigerctl_args *args, const char *env_controller,
                                const char *env_key, char *url_storage, uint32_t url_storage_size,
                                char *error, uint32_t error_size) {
    tc_assert(context != NULL && globals != NULL && args != NULL);
    tc_assert(url_storage != NULL && error != NULL);
    const char *origin = NULL;
    const char *url =
        setting_pick(args, "controller", globals->controller, env_controller, &origin);
    const char *url_origin = origin[0] == '$' ? "$TIGERCTL_CONTROLLER" : "--controller";
    if (url == NULL) url = TIGERCTL_CONTROLLER_DEFAULT;
    if (url_check(url, url_origin, url_storage, url_storage_size, error, error_size) != 0) {
        return -1;
    }
    context->controller = url_storage;
    context->key_path = setting_pick(args, "key", globals->key_path, env_key, &origin);
    const char *timeout = setting_pick(args, "timeout-ms", globals->timeout_ms, NULL, &origin);
    uint64_t timeout_ms = TIGERCTL_TIMEOUT_MS_DEFAULT;
    if (timeout != NULL &&
        tigerctl_parse_u64(timeout, 1, TIGERCTL_TIMEOUT_MS_MAX, &timeout_ms) != 0) {
        (void)snprintf(error, error_size,
                       "--timeout-ms must be a number of milliseconds in "
                       "1..%u",
                       TIGERCTL_TIMEOUT_MS_MAX);
        return -1;
    }
    context->timeout_ms = (uint32_t)timeout_ms;
    tc_assert(context->timeout_ms >= 1 && context->timeout_ms <= TIGERCTL_TIMEOUT_MS_MAX);
    return 0;
}
