#ifndef TIGERCTL_CMD_H
#define TIGERCTL_CMD_H

// Helpers shared by the controller commands (cmd_*.c): argument parsing with usage errors, "GET
// and print", and "sign, POST and report".

#include <stdint.h>

#include "tigerctl.h"

struct cJSON;
struct tigerctl_query;
struct tigerctl_reply;

#define TIGERCTL_NODE_ID_MAX 255u
#define TIGERCTL_GROUP_ID_MAX 65535u
#define TIGERCTL_SEQ_MAX ((UINT64_C(1) << 53) - 1u) // seqs and job ids: exact in JSON numbers

// The positional argument as an integer in [min, max]; a usage error naming it otherwise.
int tigerctl_positional_u64(const struct tigerctl_context *context,
                            const struct tigerctl_args *args, uint64_t min, uint64_t max,
                            uint64_t *value);

// Option `name` as an integer in [min, max], or `fallback` when it is not given; a usage error
// otherwise. required: a missing option is a usage error too.
int tigerctl_option_u64(const struct tigerctl_context *context, const struct tigerctl_args *args,
                        const char *name, bool required, uint64_t min, uint64_t max,
                        uint64_t fallback, uint64_t *value);

// Prints a successful answer as text; returns an exit code (FAILURE for an unexpected shape).
typedef int (*tigerctl_print_fn)(const struct tigerctl_context *context, const struct cJSON *json);

// GET path (+ query) and print the answer: verbatim with --json, else with print.
int tigerctl_show(const struct tigerctl_context *context, const char *path,
                  const struct tigerctl_query *query, uint32_t query_count,
                  tigerctl_print_fn print);

// Signs and posts `action` with args (consumed: deleted here) and reports it: with --json the
// controller's answer, else "<done> (audit seq N)" (and the result when it is not "ok").
int tigerctl_act(const struct tigerctl_context *context, const char *action, struct cJSON *args,
                 const char *done);

// Fails with "unexpected answer from the controller: <what>" (exit 1).
int tigerctl_unexpected(const struct tigerctl_context *context, const char *what);

// Loads the public key for --pub PUBFILE style options into hex (65 bytes); usage error on a bad
// file.
int tigerctl_public_key_file(const struct tigerctl_context *context, const char *option,
                             const char *path, char *hex);

// "3 -> 1": a plan or job step's from and to nodes (a TIGERCTL_CELL_CUSTOM formatter).
void tigerctl_move_cell(const struct cJSON *step, char *cell, uint32_t size);

// "drain node 3" or "rebalance (at most 8 moves)" from a job's or a plan's kind, node, max_moves.
void tigerctl_job_subject(const struct cJSON *object, char *out, uint32_t size);

// Follows a job until it is succeeded (exit 0), failed or cancelled (exit 1), printing it each
// time it changes (job --watch, drain/rebalance --watch).
int tigerctl_job_watch(const struct tigerctl_context *context, uint64_t job);

#endif
