// The one path by which anything enters the audit chain and then SQLite (docs/controller.md §3):
// check the effects against the database (a transaction rolled back), append to the chain
// (fdatasync), apply in one SQLite transaction. Also the start-up catch-up of entries the
// database misses, and the controller's own signed requests (job steps, auto-accepted nodes).
#include "ctl_chain.h"

#include <stdio.h>
#include <string.h>

#include "ctl_store.h"
#include "tc_assert.h"
#include "tc_checksum.h"
#include "tc_err.h"

// The store's view of a chain entry; text buffers live in `texts`.
struct chain_texts {
    char time[TC_AUDIT_TIME_TEXT_SIZE + 1];
    char actor[TC_AUDIT_KEY_HEX_SIZE + 1];
    char line_hash[CTL_STORE_HASH_HEX_SIZE];
};

static void chain_action_fill(const struct tc_audit_entry *entry, const char *line,
                              uint32_t line_size, struct chain_texts *texts,
                              struct ctl_store_action *action) {
    tc_audit_time_format(entry->time_ms, texts->time);
    tc_audit_key_hex(&entry->request.actor, texts->actor);
    struct tc_hash256 hash;
    tc_hash256_compute(&hash, line, line_size);
    tc_hex_encode(texts->line_hash, hash.bytes, sizeof(hash.bytes));
    *action = (struct ctl_store_action){
        .seq = entry->seq,
        .time = texts->time,
        .actor = texts->actor,
        .action = entry->request.action,
        .args = entry->request.args,
        .result = entry->result,
        .line_hash = texts->line_hash,
    };
}

int ctl_chain_append(struct ctl_server *server, const struct tc_audit_request *request,
                     const char *result_json, uint64_t *seq) {
    tc_assert(server->audit != NULL && server->store != NULL);
    if (server->audit_failed) return TC_EIO;
    int rc = tc_audit_writer_append(server->audit, request, result_json, ctl_wall_ms(), seq);
    if (rc == TC_EIO) {
        server->audit_failed = true;
        ctl_log("error", "audit chain write failed: refusing mutations until restarted");
    }
    if (rc != 0) return rc;
    const struct tc_audit_entry *entry = NULL;
    const char *line = NULL;
    uint32_t line_size = 0;
    rc = tc_audit_writer_last(server->audit, &entry, &line, &line_size);
    tc_assert(rc == 0 && entry->seq == *seq);
    struct chain_texts texts;
    struct ctl_store_action action;
    chain_action_fill(entry, line, line_size, &texts, &action);
    rc = ctl_store_apply(server->store, &action);
    if (rc != 0) {
        // The chain holds an entry the database could not take. Restarting replays it; until
        // then nothing else may be chained on top of a view that is behind.
        server->audit_failed = true;
        ctl_log("error", "seq %llu (%s) chained but not applied: %s (%s); restart the controller",
                (unsigned long long)*seq, entry->request.action, tc_strerror(rc),
                ctl_store_error(server->store));
        return TC_EIO;
    }
    server->entries_since_checkpoint += 1;
    if (server->entries_since_checkpoint >= CTL_CHECKPOINT_EVERY_ENTRIES)
        ctl_chain_checkpoint(server);
    return 0;
}

int ctl_chain_controller(struct ctl_server *server, const char *action, const char *args_json,
                         const char *result_json, uint64_t *seq) {
    static struct tc_audit_request request; // 16 KiB of args: not on the stack; one thread
    uint8_t nonce[TC_AUDIT_NONCE_SIZE];
    tc_audit_nonce_random(nonce);
    const char *detail = NULL;
    const int rc = tc_audit_request_init(&request, &server->key_public, action, args_json,
                                         ctl_wall_ms(), nonce, &detail);
    if (rc != 0) {
        ctl_log("error", "controller request %s: %s", action, detail == NULL ? "" : detail);
        return rc;
    }
    tc_audit_request_sign(&request, &server->key);
    return ctl_chain_append(server, &request, result_json, seq);
}

void ctl_chain_checkpoint(struct ctl_server *server) {
    if (server->audit_failed) return;
    const int rc = tc_audit_writer_checkpoint(server->audit, ctl_wall_ms(), NULL, 0, NULL);
    if (rc == TC_EIO) server->audit_failed = true;
    if (rc != 0 && rc != TC_EEXIST && rc != TC_ENOENT) {
        ctl_log("error", "audit checkpoint: %s", tc_strerror(rc));
        return;
    }
    server->entries_since_checkpoint = 0;
}

static int chain_replay_one(void *context, const struct tc_audit_entry *entry, const char *line,
                            uint32_t line_size) {
    struct ctl_server *server = context;
    struct chain_texts texts;
    struct ctl_store_action action;
    chain_action_fill(entry, line, line_size, &texts, &action);
    const int rc = ctl_store_apply(server->store, &action);
    if (rc != 0) {
        (void)snprintf(server->error, sizeof(server->error),
                       "replaying audit seq %llu (%s) into the database: %s (%s)",
                       (unsigned long long)entry->seq, entry->request.action, tc_strerror(rc),
                       ctl_store_error(server->store));
    }
    return rc;
}

int ctl_chain_catch_up(struct ctl_server *server, uint64_t *replayed) {
    uint64_t db_seq = 0;
    int rc = ctl_store_head_seq(server->store, &db_seq);
    if (rc != 0) return rc;
    const uint64_t chain_seq = tc_audit_writer_seq(server->audit);
    *replayed = 0;
    if (db_seq > chain_seq) {
        (void)snprintf(server->error, sizeof(server->error),
                       "the database is at seq %llu but the audit chain ends at %llu: the chain "
                       "was truncated or replaced (restore it from a backup)",
                       (unsigned long long)db_seq, (unsigned long long)chain_seq);
        return TC_ECORRUPT;
    }
    if (db_seq == chain_seq) return 0;
    uint32_t count = 0;
    rc = tc_audit_log_scan(server->path_log, db_seq, UINT32_MAX, chain_replay_one, server, &count);
    if (rc != 0 && server->error[0] == '\0') {
        (void)snprintf(server->error, sizeof(server->error), "reading %s: %s", server->path_log,
                       tc_strerror(rc));
    }
    *replayed = count;
    if (rc == 0 && db_seq + count != chain_seq) {
        (void)snprintf(server->error, sizeof(server->error),
                       "replayed %u entries after seq %llu but the chain ends at %llu", count,
                       (unsigned long long)db_seq, (unsigned long long)chain_seq);
        return TC_ECORRUPT;
    }
    return rc;
}
