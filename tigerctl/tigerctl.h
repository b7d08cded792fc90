#ifndef TIGERCTL_H
#define TIGERCTL_H

// tigerctl: the operator CLI. Commands are rows of one table (main.c); each declares its options,
// and main parses them, answers --help and --json uniformly, and calls the command's run function.
// Offline commands (keygen, verify-audit) work on local files; controller commands (transport
// TIGERCTL_CONTROLLER) talk to the controller's HTTP API (docs/controller.md §8) through api.h,
// with the controller URL, operator key and timeout resolved into the context.

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

// Exit codes, the same for every command.
enum tigerctl_exit {
    TIGERCTL_EXIT_OK = 0,          // done; for verify-audit: PASS; for job --watch: succeeded
    TIGERCTL_EXIT_FAILURE = 1,     // the command ran and failed, or the controller refused it
    TIGERCTL_EXIT_USAGE = 2,       // bad command line (unknown option, missing value, bad key file)
    TIGERCTL_EXIT_UNREACHABLE = 3, // the controller could not be reached (refused, timed out)
};

#define TIGERCTL_OPTION_VALUES_MAX 64u // per option (e.g. --key given 64 times)
#define TIGERCTL_ARGS_MAX 128u         // option occurrences on one command line
#define TIGERCTL_POSITIONALS_MAX 1u    // positional words (cordon NODE, job ID, ...)

#define TIGERCTL_CONTROLLER_DEFAULT "http://127.0.0.1:7300"
#define TIGERCTL_TIMEOUT_MS_DEFAULT 10000u
#define TIGERCTL_TIMEOUT_MS_MAX 600000u
#define TIGERCTL_URL_SIZE_MAX 2048u // a full request URL, NUL included
#define TIGERCTL_BASE_URL_SIZE_MAX 1024u

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
    const char *positionals[TIGERCTL_POSITIONALS_MAX];
    uint32_t positional_count;
};

// Parses argv[0..argc) as options of the given table: "--name", "--name VALUE", "--name=VALUE",
// and up to positional_max words that do not start with '-'. Returns 0, or -1 with a message in
// error.
int tigerctl_args_parse(struct tigerctl_args *args, const struct tigerctl_option *options,
                        uint32_t option_count, uint32_t positional_max, int argc, char **argv,
                        char *error, uint32_t error_size);

// How many times option `name` (which must be in the table) was given.
uint32_t tigerctl_args_count(const struct tigerctl_args *args, const char *name);

// The index-th value of option `name` (index < count), or NULL if not given that often.
const char *tigerctl_args_value(const struct tigerctl_args *args, const char *name,
                                uint32_t index);

// Parses a decimal integer in [min, max]: digits only, no sign, no spaces, no leading zeros
// (except "0" itself). Returns 0 or -1.
int tigerctl_parse_u64(const char *text, uint64_t min, uint64_t max, uint64_t *value);

enum tigerctl_transport {
    TIGERCTL_OFFLINE,    // works on local files only
    TIGERCTL_CONTROLLER, // talks to the controller's HTTP API
};

struct tigerctl_context {
    bool json; // --json: the controller's JSON (or one JSON object) on stdout instead of text
    FILE *out;
    FILE *err;
    const struct tigerctl_command *command;
    // Controller commands only (NULL/0 for offline ones): resolved by tigerctl_connection_resolve.
    const char *controller; // base URL, no trailing '/'
    const char *key_path;   // the operator's secret key file, or NULL when none was given
    uint32_t timeout_ms;
    uint32_t watch_interval_ms; // job --watch polling period (1 s; tests may shorten it)
};

struct tigerctl_command {
    const char *name;        // one word ("status") or two ("nodes add")
    const char *summary;     // one line for `tigerctl --help`
    const char *description; // paragraph(s) for `tigerctl NAME --help`
    enum tigerctl_transport transport;
    const char *positional; // the positional argument's name in help ("NODE"), or NULL for none
    const struct tigerctl_option *options; // includes the common --json and --help
    uint32_t option_count;
    int (*run)(const struct tigerctl_context *context, const struct tigerctl_args *args);
};

// Options every command accepts; commands list them first in their tables.
#define TIGERCTL_COMMON_OPTIONS                                                                    \
    {"help", NULL, 1, "show this help and exit"},                                                  \
        {"json", NULL, 1, "print one JSON object on stdout instead of text"}

// Options every controller command accepts after the common ones (also accepted before the
// command name, where they apply to any command; the later one wins).
#define TIGERCTL_CONTROLLER_OPTIONS                                                                \
    {"controller", "URL", 1,                                                                       \
     "controller (default: $TIGERCTL_CONTROLLER, " TIGERCTL_CONTROLLER_DEFAULT ")"},               \
        {"key", "FILE", 1, "secret key for signed actions (default: $TIGERCTL_KEY)"},              \
        {"timeout-ms", "MS", 1, "per-request timeout (default 10000)"}

// Global options given before the command name.
struct tigerctl_globals {
    bool help;
    bool version;
    bool json;
    const char *controller;
    const char *key_path;
    const char *timeout_ms;
};

// Parses the global options at argv[1..): stops at the first word not starting with '-' and sets
// *next to its index (argc when there is none). Returns 0, or -1 with a message in error.
int tigerctl_globals_parse(struct tigerctl_globals *globals, int argc, char **argv, int *next,
                           char *error, uint32_t error_size);

// Fills context->controller, key_path and timeout_ms for a controller command: the command's
// option, else the global one, else the environment's (env_controller, env_key: may be NULL),
// else the default. Validates the URL (http:// or https://, printable, at most
// TIGERCTL_BASE_URL_SIZE_MAX - 1 bytes; a trailing '/' is dropped into url_storage) and the
// timeout (1..TIGERCTL_TIMEOUT_MS_MAX). Returns 0, or -1 with a message in error.
int tigerctl_connection_resolve(struct tigerctl_context *context,
                                const struct tigerctl_globals *globals,
                                const struct tigerctl_args *args, const char *env_controller,
                                const char *env_key, char *url_storage, uint32_t url_storage_size,
                                char *error, uint32_t error_size);

extern const struct tigerctl_command tigerctl_command_keygen;
extern const struct tigerctl_command tigerctl_command_verify_audit;
extern const struct tigerctl_command tigerctl_command_status;
extern const struct tigerctl_command tigerctl_command_groups;
extern const struct tigerctl_command tigerctl_command_groups_create;
extern const struct tigerctl_command tigerctl_command_rooms;
extern const struct tigerctl_command tigerctl_command_nodes;
extern const struct tigerctl_command tigerctl_command_nodes_add;
extern const struct tigerctl_command tigerctl_command_cordon;
extern const struct tigerctl_command tigerctl_command_uncordon;
extern const struct tigerctl_command tigerctl_command_jobs;
extern const struct tigerctl_command tigerctl_command_job;
extern const struct tigerctl_command tigerctl_command_drain;
extern const struct tigerctl_command tigerctl_command_rebalance;
extern const struct tigerctl_command tigerctl_command_cancel;
extern const struct tigerctl_command tigerctl_command_keys_list;
extern const struct tigerctl_command tigerctl_command_keys_add;
extern const struct tigerctl_command tigerctl_command_keys_remove;
extern const struct tigerctl_command tigerctl_command_audit_tail;

// Prints "tigerctl NAME: message" on stderr (or {"result":"error","error":...} on stdout with
// --json) and returns `code`.
int tigerctl_fail(const struct tigerctl_context *context, int code, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

// Prints "tigerctl NAME: message (see tigerctl NAME --help)" on stderr and returns
// TIGERCTL_EXIT_USAGE.
int tigerctl_usage(const struct tigerctl_context *context, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

// Prints a cJSON tree (owned by the caller) as one line on context->out.
struct cJSON;
void tigerctl_print_json(const struct tigerctl_context *context, const struct cJSON *object);

// Copies text into out (size bytes, NUL included), replacing bytes outside 0x20..0x7e by '?':
// everything the controller sends goes through this before it reaches a terminal.
void tigerctl_sanitize(char *out, uint32_t size, const char *text);

// An age as its largest whole unit: "42s", "3m", "5h", "2d" (tigerctl nodes, the dashboard).
void tigerctl_age_text(uint64_t age_ms, char *out, uint32_t size);

#endif
