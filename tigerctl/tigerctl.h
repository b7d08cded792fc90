#ifndef TIGERCTL_H
#define TIGERCTL_H

// tigerctl: the operator CLI. Commands are rows of one table (main.c); each declares its options,
// and main parses them, answers --help and --json uniformly, and calls the command's run function.
// Offline commands (keygen, verify-audit) exist now; the controller commands of a later issue join
// the table with transport TIGERCTL_CONTROLLER and get the controller URL, operator key and HTTP
// client (libcurl) through the context.

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

// Exit codes, the same for every command.
enum tigerctl_exit {
    TIGERCTL_EXIT_OK = 0,      // done; for verify-audit: PASS
    TIGERCTL_EXIT_FAILURE = 1, // the command ran and failed (verify-audit: FAIL, or unreadable log)
    TIGERCTL_EXIT_USAGE = 2,   // bad command line (unknown option, missing value, bad key file)
};

#define TIGERCTL_OPTION_VALUES_MAX 64u // per option (e.g. --key given 64 times)
#define TIGERCTL_ARGS_MAX 128u         // option occurrences on one command line

struct tigerctl_option {
    const char *name;     // without the leading "--"
    const char *argument; // NULL for a flag, else the value's name in help ("FILE")
    uint32_t count_max;   // how many times it may be given (1 for most)
    const char *help;     // one line
};

struct tigerctl_arg {
    uint32_t option; // index into the command's options
    const char *value;
};

struct tigerctl_args {
    const struct tigerctl_option *options;
    uint32_t option_count;
    struct tigerctl_arg items[TIGERCTL_ARGS_MAX];
    uint32_t count;
};

// Parses argv[0..argc) as options of the given table: "--name", "--name VALUE", "--name=VALUE".
// Positional arguments are refused. Returns 0, or -1 with a message in error.
int tigerctl_args_parse(struct tigerctl_args *args, const struct tigerctl_option *options,
                        uint32_t option_count, int argc, char **argv, char *error,
                        uint32_t error_size);

// How many times option `name` (which must be in the table) was given.
uint32_t tigerctl_args_count(const struct tigerctl_args *args, const char *name);

// The index-th value of option `name` (index < count), or NULL if not given that often.
const char *tigerctl_args_value(const struct tigerctl_args *args, const char *name,
                                uint32_t index);

enum tigerctl_transport {
    TIGERCTL_OFFLINE,    // works on local files only
    TIGERCTL_CONTROLLER, // talks to the controller's HTTP API (later issue)
};

struct tigerctl_context {
    bool json; // --json: one JSON object on stdout instead of text
    FILE *out;
    FILE *err;
    const struct tigerctl_command *command;
};

struct tigerctl_command {
    const char *name;
    const char *summary;     // one line for `tigerctl --help`
    const char *description; // paragraph(s) for `tigerctl NAME --help`
    enum tigerctl_transport transport;
    const struct tigerctl_option *options; // includes the common --json and --help
    uint32_t option_count;
    int (*run)(const struct tigerctl_context *context, const struct tigerctl_args *args);
};

// Options every command accepts; commands list them first in their tables.
#define TIGERCTL_COMMON_OPTIONS                                                                    \
    {"help", NULL, 1, "show this help and exit"},                                                  \
        {"json", NULL, 1, "print one JSON object on stdout instead of text"}

extern const struct tigerctl_command tigerctl_command_keygen;
extern const struct tigerctl_command tigerctl_command_verify_audit;

// Prints "tigerctl NAME: message" on stderr (or {"error": ...} on stdout with --json) and
// returns `code`.
int tigerctl_fail(const struct tigerctl_context *context, int code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

// Prints a cJSON tree (owned by the caller) as one line on context->out.
struct cJSON;
void tigerctl_print_json(const struct tigerctl_context *context, const struct cJSON *object);

#endif
