// tigerctl: the operator CLI. `tigerctl [--json] COMMAND [OPTIONS]`; `tigerctl --help` lists the
// commands, `tigerctl COMMAND --help` describes one. Exit codes: see enum tigerctl_exit.
#include <cjson/cJSON.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tc_assert.h"
#include "tigerctl.h"

#ifndef TIGERCTL_VERSION
#define TIGERCTL_VERSION "0.0.0"
#endif

// The command table. Controller commands (status, nodes, drain, rebalance, jobs, ...) will be rows
// with transport TIGERCTL_CONTROLLER.
static const struct tigerctl_command *const commands[] = {
    &tigerctl_command_keygen,
    &tigerctl_command_verify_audit,
};

int tigerctl_fail(const struct tigerctl_context *context, int code, const char *format, ...) {
    tc_assert(code != TIGERCTL_EXIT_OK);
    char message[512];
    va_list args;
    va_start(args, format);
    (void)vsnprintf(message, sizeof(message), format, args);
    va_end(args);
    if (context->json) {
        cJSON *object = cJSON_CreateObject();
        tc_assert(object != NULL);
        (void)cJSON_AddStringToObject(object, "result", "error");
        (void)cJSON_AddStringToObject(object, "error", message);
        tigerctl_print_json(context, object);
        cJSON_Delete(object);
    } else {
        (void)fprintf(context->err, "tigerctl %s: %s\n",
                      context->command != NULL ? context->command->name : "", message);
    }
    return code;
}

void tigerctl_print_json(const struct tigerctl_context *context, const cJSON *object) {
    char *text = cJSON_PrintUnformatted(object);
    tc_assert(text != NULL);
    (void)fprintf(context->out, "%s\n", text);
    cJSON_free(text);
}

static void print_usage(FILE *out) {
    (void)fprintf(out, "usage: tigerctl [--json] COMMAND [OPTIONS]\n"
                       "       tigerctl COMMAND --help\n\n"
                       "Operator CLI of TigerChat.\n\ncommands:\n");
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(commands); i++) {
        (void)fprintf(out, "  %-14s %s\n", commands[i]->name, commands[i]->summary);
    }
    (void)fprintf(out, "\nglobal options:\n"
                       "  --json         print one JSON object on stdout instead of text\n"
                       "  --help, -h     show this help\n"
                       "  --version      print the version\n\n"
                       "exit codes: 0 success, 1 failure (verify-audit: FAIL), 2 usage error\n");
}

static void print_command_help(FILE *out, const struct tigerctl_command *command) {
    (void)fprintf(out, "usage: tigerctl %s [OPTIONS]\n\n%s\n\noptions:\n", command->name,
                  command->description);
    for (uint32_t i = 0; i < command->option_count; i++) {
        const struct tigerctl_option *option = &command->options[i];
        char left[64];
        (void)snprintf(left, sizeof(left), "--%s%s%s%s", option->name,
                       option->argument != NULL ? " " : "",
                       option->argument != NULL ? option->argument : "",
                       option->count_max > 1 ? " ..." : "");
        (void)fprintf(out, "  %-30s %s\n", left, option->help);
    }
}

static const struct tigerctl_command *command_find(const char *name) {
    for (uint32_t i = 0; i < TC_ARRAY_COUNT(commands); i++) {
        if (strcmp(commands[i]->name, name) == 0) return commands[i];
    }
    return NULL;
}

static int run_command(struct tigerctl_context *context, const struct tigerctl_command *command,
                       int argc, char **argv) {
    context->command = command;
    static struct tigerctl_args args;
    char error[256];
    if (tigerctl_args_parse(&args, command->options, command->option_count, argc, argv, error,
                            sizeof(error)) != 0) {
        (void)fprintf(context->err, "tigerctl %s: %s (see tigerctl %s --help)\n", command->name,
                      error, command->name);
        return TIGERCTL_EXIT_USAGE;
    }
    if (tigerctl_args_count(&args, "help") > 0) {
        print_command_help(context->out, command);
        return TIGERCTL_EXIT_OK;
    }
    if (tigerctl_args_count(&args, "json") > 0) context->json = true;
    return command->run(context, &args);
}

int main(int argc, char **argv) {
    struct tigerctl_context context = {.json = false, .out = stdout, .err = stderr};
    int i = 1;
    for (; i < argc && strncmp(argv[i], "-", 1) == 0; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(stdout);
            return TIGERCTL_EXIT_OK;
        }
        if (strcmp(argv[i], "--version") == 0) {
            (void)printf("tigerctl %s\n", TIGERCTL_VERSION);
            return TIGERCTL_EXIT_OK;
        }
        if (strcmp(argv[i], "--json") != 0) {
            (void)fprintf(stderr, "tigerctl: unknown global option %s (see tigerctl --help)\n",
                          argv[i]);
            return TIGERCTL_EXIT_USAGE;
        }
        context.json = true;
    }
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
    const struct tigerctl_command *command = command_find(argv[i]);
    if (command == NULL) {
        (void)fprintf(stderr, "tigerctl: unknown command '%s' (see tigerctl --help)\n", argv[i]);
        return TIGERCTL_EXIT_USAGE;
    }
    if (help) {
        print_command_help(stdout, command);
        return TIGERCTL_EXIT_OK;
    }
    return run_command(&context, command, argc - i - 1, argv + i + 1);
}
