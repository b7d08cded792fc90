// tigerctl: the operator CLI. `tigerctl [GLOBAL OPTIONS] COMMAND [ARG] [OPTIONS]`;
// `tigerctl --help` lists the commands, `tigerctl COMMAND --help` (or `tigerctl help COMMAND`)
// describes one.
// Exit codes: see enum tigerctl_exit.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tc_assert.h"
#include "tigerctl.h"
#include "tui.h" // tigerctl top: the dashboard (tui/), linked in

#ifndef TIGERCTL_VERSION
#define TIGERCTL_VERSION "0.0.0"
#endif

#define WATCH_INTERVAL_MS 1000u

// The command table, in the order `tigerctl --help` lists it. Names of two words ("nodes add")
// are a family's subcommands.
static const struct tigerctl_command *const commands[] = {
    &tigerctl_command_status,        &tigerctl_command_nodes,      &tigerctl_command_nodes_add,
    &tigerctl_command_cordon,        &tigerctl_command_uncordon,   &tigerctl_command_groups,
    &tigerctl_command_groups_create, &tigerctl_command_rooms,      &tigerctl_command_drain,
    &tigerctl_command_rebalance,     &tigerctl_command_jobs,       &tigerctl_command_job,
    &tigerctl_command_cancel,        &tigerctl_command_keys_list,  &tigerctl_command_keys_add,
    &tigerctl_command_keys_remove,   &tigerctl_command_audit_tail, &tigerctl_command_keygen,
    &tigerctl_command_verify_audit,  &tui_command_top,
};

static void print_usage(FILE *out) {
    (void)fprintf(out, "usage: tigerctl [GLOBAL OPTIONS] COMMAND [ARG] [OPTIONS]\n"
                       "       tigerctl COMMAND --help\n\n"
                       "Operator CLI of TigerChat.\n\ncommands:\n");
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(commands); i++) {
        char name[48];
        (void)snprintf(name, sizeof(name), "%s%s%s", commands[i]->name,
                       commands[i]->positional != NULL ? " " : "",
                       commands[i]->positional != NULL ? commands[i]->positional : "");
        (void)fprintf(out, "  %-16s %s\n", name, commands[i]->summary);
    }
    (void)fprintf(out, "\nglobal options (also accepted after a controller command):\n"
                       "  --controller URL   controller API (default $TIGERCTL_CONTROLLER "
                       "or " TIGERCTL_CONTROLLER_DEFAULT ")\n"
                       "  --key FILE         operator secret key for signed actions (default "
                       "$TIGERCTL_KEY)\n"
                       "  --timeout-ms MS    per-request timeout (default 10000)\n"
                       "  --json             print JSON on stdout instead of text\n"
                       "  --help, -h         show this help\n"
                       "  --version          print the version\n\n"
                       "exit codes: 0 success, 1 failure or refused (verify-audit: FAIL), 2 usage "
                       "error,\n            3 controller unreachable\n");
}

static void print_command_help(FILE *out, const struct tigerctl_command *command) {
    (void)fprintf(out, "usage: tigerctl %s%s%s [OPTIONS]\n\n%s\n\noptions:\n", command->name,
                  command->positional != NULL ? " " : "",
                  command->positional != NULL ? command->positional : "", command->description);
    for (uint32_t i = 0; i < command->option_count; i++) {
        const struct tigerctl_option *option = &command->options[i];
        char left[64];
        (void)snprintf(
            left, sizeof(left), "--%s%s%s%s", option->name, option->argument != NULL ? " " : "",
            option->argument != NULL ? option->argument : "", option->count_max > 1 ? " ..." : "");
        (void)fprintf(out, "  %-30s %s\n", left, option->help);
    }
    if (command->transport == TIGERCTL_CONTROLLER) {
        (void)fprintf(out, "\nexit codes: 0 ok, 1 failed or refused (the controller's message is "
                           "printed),\n            2 usage error, 3 controller unreachable\n");
    }
}

// The command named by argv[i] (and argv[i + 1] for a two-word name); *words is how many words
// the name took. NULL if there is none.
static const struct tigerctl_command *command_find(int argc, char **argv, int i, int *words) {
    tc_assert(i < argc);
    for (uint32_t c = 0; c < TC_ARRAY_COUNT(commands) && i + 1 < argc; c++) {
        const char *name = commands[c]->name;
        const size_t first = strlen(argv[i]);
        if (strncmp(name, argv[i], first) == 0 && name[first] == ' ' &&
            strcmp(name + first + 1, argv[i + 1]) == 0) {
            *words = 2;
            return commands[c];
        }
    }
    for (uint32_t c = 0; c < TC_ARRAY_COUNT(commands); c++) {
        if (strcmp(commands[c]->name, argv[i]) == 0) {
            *words = 1;
            return commands[c];
        }
    }
    return NULL;
}

// For an unknown word: names the subcommands when it is a family ("keys"), else says unknown.
static int command_unknown(const char *word) {
    char subcommands[256] = "";
    const size_t size = strlen(word);
    for (uint32_t c = 0; c < TC_ARRAY_COUNT(commands); c++) {
        const char *name = commands[c]->name;
        if (strncmp(name, word, size) != 0 || name[size] != ' ') continue;
        const size_t used = strlen(subcommands);
        (void)snprintf(subcommands + used, sizeof(subcommands) - used, "%s%s", used > 0 ? ", " : "",
                       name);
    }
    if (subcommands[0] != '\0') {
        (void)fprintf(stderr, "tigerctl: '%s' needs a subcommand: %s\n", word, subcommands);
    } else {
        (void)fprintf(stderr, "tigerctl: unknown command '%s' (see tigerctl --help)\n", word);
    }
    return TIGERCTL_EXIT_USAGE;
}

static int run_command(struct tigerctl_context *context, const struct tigerctl_globals *globals,
                       const struct tigerctl_command *command, int argc, char **argv) {
    context->command = command;
    static struct tigerctl_args args;
    char error[256];
    const uint32_t positional_max = command->positional != NULL ? 1u : 0u;
    if (tigerctl_args_parse(&args, command->options, command->option_count, positional_max, argc,
                            argv, error, sizeof(error)) != 0) {
        return tigerctl_usage(context, "%s", error);
    }
    if (tigerctl_args_count(&args, "help") > 0) {
        print_command_help(context->out, command);
        return TIGERCTL_EXIT_OK;
    }
    if (tigerctl_args_count(&args, "json") > 0) context->json = true;
    if (args.positional_count < positional_max) {
        return tigerctl_usage(context, "%s is required", command->positional);
    }
    if (command->transport == TIGERCTL_CONTROLLER) {
        static char url[TIGERCTL_BASE_URL_SIZE_MAX];
        if (tigerctl_connection_resolve(context, globals, &args, getenv("TIGERCTL_CONTROLLER"),
                                        getenv("TIGERCTL_KEY"), url, sizeof(url), error,
                                        sizeof(error)) != 0) {
            return tigerctl_usage(context, "%s", error);
        }
    }
    return command->run(context, &args);
}

int main(int argc, char **argv) {
    struct tigerctl_context context = {
        .json = false, .out = stdout, .err = stderr, .watch_interval_ms = WATCH_INTERVAL_MS};
    struct tigerctl_globals globals;
    char error[256];
    int i = 0;
    if (tigerctl_globals_parse(&globals, argc, argv, &i, error, sizeof(error)) != 0) {
        (void)fprintf(stderr, "tigerctl: %s (see tigerctl --help)\n", error);
        return TIGERCTL_EXIT_USAGE;
    }
    if (globals.help) {
        print_usage(stdout);
        return TIGERCTL_EXIT_OK;
    }
    if (globals.version) {
        (void)printf("tigerctl %s\n", TIGERCTL_VERSION);
        return TIGERCTL_EXIT_OK;
    }
    context.json = globals.json;
    if (i == argc) {
        print_usage(stderr);
        return TIGERCTL_EXIT_USAGE;
    }
    const bool help = strcmp(argv[i], "help") == 0;
    if (help && i + 1 == argc) {
        print_usage(stdout);
        return TIGERCTL_EXIT_OK;
    }
    if (help) i++;
    int words = 0;
    const struct tigerctl_command *command = command_find(argc, argv, i, &words);
    if (command == NULL) return command_unknown(argv[i]);
    if (help) {
        print_command_help(stdout, command);
        return TIGERCTL_EXIT_OK;
    }
    return run_command(&context, &globals, command, argc - i - words, argv + i + words);
}
