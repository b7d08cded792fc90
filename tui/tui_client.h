#ifndef TUI_CLIENT_H
#define TUI_CLIENT_H

// The dashboard's side of the controller's API, on tigerctl_core (tigerctl/api.h): the same
// libcurl transport, the same signed requests (tigerctl_api_action: the operator's key, a fresh
// nonce, one retry with a new nonce), the same mapping of failures to messages. tigerctl prints
// those messages on stderr; here they are captured into a bounded buffer (the context's out and
// err are an fmemopen stream) and returned, so nothing ever writes over the ncurses screen.

#include <stdint.h>
#include <stdio.h>

#include "api.h"
#include "tigerctl.h"
#include "tui_model.h"

enum tui_outcome {
    TUI_OUTCOME_OK,
    TUI_OUTCOME_DOWN,  // the controller could not be reached
    TUI_OUTCOME_ERROR, // it answered with an error or an unexpected shape, or a local problem
};

#define TUI_SINK_SIZE 2048u

struct tui_client {
    struct tigerctl_context context; // controller, key_path, timeout_ms, command; out/err: sink
    FILE *sink;
    char sink_buffer[TUI_SINK_SIZE];
};

// Copies base's controller, key path, timeout and command; 0 or TC_ENOMEM.
int tui_client_open(struct tui_client *client, const struct tigerctl_context *base);
void tui_client_close(struct tui_client *client);

// GET path (+ query). On TUI_OUTCOME_OK reply->json is the answer; otherwise message says why.
// Free the reply (tigerctl_reply_free) in every case.
enum tui_outcome tui_client_get(struct tui_client *client, const char *path,
                                const struct tigerctl_query *query, uint32_t query_count,
                                struct tigerctl_reply *reply, char *message, uint32_t message_size);

// One full refresh into next: status, groups, nodes, jobs (+ the running job's moves), the audit
// tail; derived with previous (may be NULL). next is valid only on TUI_OUTCOME_OK.
enum tui_outcome tui_refresh(struct tui_client *client, struct tui_snapshot *next,
                             const struct tui_snapshot *previous, uint64_t wall_ms, char *message,
                             uint32_t message_size);

// The plan for plan->kind (plan->node or plan->max_moves set by the caller): GET /v1/plan/...
// A refused plan is TUI_OUTCOME_ERROR with the controller's reason.
enum tui_outcome tui_plan_fetch(struct tui_client *client, struct tui_plan *plan, char *message,
                                uint32_t message_size);

// Starts the job for a plan exactly as tigerctl drain / rebalance do: signed job.start with
// {kind, node | max_moves, topology_hash} (the plan's hash: C5, the job does what was shown or is
// refused). *job and *seq on success.
enum tui_outcome tui_job_start(struct tui_client *client, const struct tui_plan *plan,
                               uint64_t *job, uint64_t *seq, char *message, uint32_t message_size);

// GET /v1/jobs/ID's moves.
enum tui_outcome tui_job_fetch(struct tui_client *client, uint64_t job, struct tui_move *moves,
                               uint32_t capacity, uint32_t *count, char *message,
                               uint32_t message_size);

// ------------------------------------------------------------------------------------------------
// Audit verification (tui_verify.c)

struct tui_verify_options {
    const char *audit_file;          // verify this copy (as tigerctl verify-audit --file)
    const char *checkpoint_file;     // with it (--checkpoint)
    const char *controller_key_file; // pin this controller key (--controller-key)
};

// Without audit_file: reads the whole chain over GET /v1/audit (1000 entries a page), re-encodes
// every entry canonically (docs/audit.md §4: the bytes the controller wrote), and verifies it with
// tc_audit_verify like tigerctl verify-audit (signatures, links, seq, time, replays), then checks
// that its last hash is the head /v1/status reports. With audit_file: tc_audit_verify of the file
// (and checkpoints). TUI_OUTCOME_OK on PASS; message: "PASS ..." or "FAIL ..." or why there is no
// verdict.
enum tui_outcome tui_verify(struct tui_client *client, const struct tui_verify_options *options,
                            char *message, uint32_t message_size);

#endif
