// Table-driven option parsing for tigerctl commands (no getopt state, no permutation).
#include <stdio.h>
#include <string.h>

#include "tc_assert.h"
#include "tigerctl.h"

static int option_find(const struct tigerctl_option *options, uint32_t option_count,
                       const char *name, size_t name_size) {
    for (uint32_t i = 0; i < option_count; i++) {
        if (strlen(options[i].name) == name_size && memcmp(options[i].name, name, name_size) == 0) {
            return (int)i;
        }
    }
    return -1;
}

static uint32_t option_given(const struct tigerctl_args *args, uint32_t option) {
    uint32_t count = 0;
    for (uint32_t i = 0; i < args->count; i++) count += args->items[i].option == option ? 1 : 0;
    return count;
}

// A word that is not an option: kept as a positional argument while there is room.
static int positional_add(struct tigerctl_args *args, uint32_t positional_max, const char *word,
                          char *error, uint32_t error_size) {
    tc_assert(positional_max <= TIGERCTL_POSITIONALS_MAX);
    if (word[0] == '-' || args->positional_count == positional_max) {
        (void)snprintf(error, error_size, "unexpected argument '%s'", word);
        return -1;
    }
    args->positionals[args->positional_count] = word;
    args->positional_count++;
    tc_assert(args->positional_count <= positional_max);
    return 0;
}

int tigerctl_args_parse(struct tigerctl_args *args, const struct tigerctl_option *options,
                        uint32_t option_count, uint32_t positional_max, int argc, char **argv,
                        char *error, uint32_t error_size) {
    tc_assert(args != NULL && options != NULL && error != NULL);
    tc_assert(argc >= 0);
    tc_assert(positional_max <= TIGERCTL_POSITIONALS_MAX);
    memset(args, 0, sizeof(*args));
    args->options = options;
    args->option_count = option_count;
    for (int i = 0; i < argc; i++) {
        const char *word = argv[i];
        if (strcmp(word, "-h") == 0) word = "--help";
        if (strncmp(word, "--", 2) != 0 || word[2] == '\0') {
            if (positional_add(args, positional_max, argv[i], error, error_size) != 0) return -1;
            continue;
        }
        const char *name = word + 2;
        const char *equals = strchr(name, '=');
        const size_t name_size = equals != NULL ? (size_t)(equals - name) : strlen(name);
        const int found = option_find(options, option_count, name, name_size);
        if (found < 0) {
            (void)snprintf(error, error_size, "unknown option --%.*s", (int)name_size, name);
            return -1;
        }
        const struct tigerctl_option *option = &options[found];
        const char *value = NULL;
        if (option->argument == NULL && equals != NULL) {
            (void)snprintf(error, error_size, "--%s takes no value", option->name);
            return -1;
        }
        if (option->argument != NULL) {
            if (equals != NULL) {
                value = equals + 1;
            } else if (i + 1 < argc) {
                value = argv[++i];
            }
            if (value == NULL || value[0] == '\0') {
                (void)snprintf(error, error_size, "--%s needs a value (%s)", option->name,
                               option->argument);
                return -1;
            }
        }
        if (option_given(args, (uint32_t)found) >= option->count_max) {
            (void)snprintf(error, error_size, "--%s given more than %u time%s", option->name,
                           option->count_max, option->count_max == 1 ? "" : "s");
            return -1;
        }
        if (args->count == TIGERCTL_ARGS_MAX) {
            (void)snprintf(error, error_size, "more than %u options", TIGERCTL_ARGS_MAX);
            return -1;
        }
        args->items[args->count].option = (uint32_t)found;
        args->items[args->count].value = value;
        args->count++;
    }
    return 0;
}

static uint32_t option_index(const struct tigerctl_args *args, const char *name) {
    const int found = option_find(args->options, args->option_count, name, strlen(name));
    tc_assert(found >= 0); // a command asks only for options of its own table
    return (uint32_t)found;
}

uint32_t tigerctl_args_count(const struct tigerctl_args *args, const char *name) {
    tc_assert(args != NULL && name != NULL);
    return option_given(args, option_index(args, name));
}

const char *tigerctl_args_value(const struct tigerctl_args *args, const char *name,
                                uint32_t index) {
    tc_assert(args != NULL && name != NULL);
    const uint32_t option = option_index(args, name);
    uint32_t seen = 0;
    for (uint32_t i = 0; i < args->count; i++) {
        if (args->items[i].option != option) continue;
        if (seen == index) return args->items[i].value;
        seen++;
    }
    return NULL;
}

int tigerctl_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *value) {
    tc_assert(text != NULL && value != NULL);
    tc_assert(min <= max);
    const size_t size = strnlen(text, 21);
    if (size == 0 || size > 20) return -1;
    if (text[0] == '0' && size > 1) return -1;
    uint64_t result = 0;
    for (size_t i = 0; i < size; i++) {
        const char c = text[i];
        if (c < '0' || c > '9') return -1;
        const uint64_t digit = (uint64_t)(c - '0');
        if (result > (UINT64_MAX - digit) / 10) return -1;
        result = result * 10 + digit;
    }
    if (result < min || result > max) return -1;
    *value = result;
    return 0;
}
