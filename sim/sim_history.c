// The history checker (docs/simulator.md, docs/store.md): once the cluster converged, every core
// replica's message store must serve each room's whole history, page by page, exactly as the
// reference model committed it: consecutive seqs, identical fields and bodies, each page's first
// message linked (prev_hash) to the message before it, even where pages end at segment
// boundaries; below a retention floor only an explicit TRUNCATED answer, and only for a room whose
// policy allows one. Every acknowledged send is among the messages compared. A message the model
// redacted is served redacted, on every replica: no body, the body's hash in its place, and the
// chain step (recomputed independently, by the model) verifies with it; every other message
// keeps its body.

#include <stdio.h>
#include <string.h>

#include "sim_cluster.h"
#include "store.h"
#include "tc_assert.h"
#include "tc_err.h"

#define HISTORY_STEPS_MAX 100000u // storage steps one read may take
#define HISTORY_DAY_NS (86400ull * 1000000000ull)

struct history_read {
    struct sim_cluster *cluster;
    struct sim_group *group;
    uint32_t replica;
    uint64_t room;
    uint64_t from_seq;
    uint64_t seq_last;
    bool retention_touched;
    bool done;
    uint8_t kind;
    uint64_t next_seq; // where the following read starts
};

// `read` from the store, `model` from the model (which keeps a redacted message's body).
static bool message_equal(const struct tc_room_message *read, const struct tc_room_message *model) {
    bool fields = read->room == model->room && read->seq == model->seq &&
                  read->thread_parent_seq == model->thread_parent_seq &&
                  read->thread_seq == model->thread_seq && read->sender == model->sender &&
                  read->timestamp_ns == model->timestamp_ns &&
                  tc_hash256_equal(&read->hash, &model->hash) &&
                  tc_hash256_equal(&read->prev_hash, &model->prev_hash);
    if (!fields || read->redacted != model->redacted) return false;
    if (read->redacted) {
        return read->body == NULL && read->body_size == 0 &&
               tc_hash256_equal(&read->body_hash, &model->body_hash);
    }
    return read->body_size == model->body_size &&
           memcmp(read->body, model->body, read->body_size) == 0;
}

static void history_fail(struct history_read *read, const char *what, uint64_t seq) {
    sim_fail(read->cluster, "history",
             "group %u replica %u room %llu read from seq %llu: %s (seq %llu, head %llu)",
             read->group->index, read->replica, (unsigned long long)read->room,
             (unsigned long long)read->from_seq, what, (unsigned long long)seq,
             (unsigned long long)read->seq_last);
}

// A truncated answer must be one the room's retention allows.
static void check_truncated(struct history_read *read, const struct tc_store_page *page) {
    if (!read->retention_touched) {
        history_fail(read, "truncated without retention", 0);
        return;
    }
    if (page->floor_seq <= read->from_seq || page->floor_seq > read->seq_last + 1) {
        {
        history_fail(read, "truncated at a floor outside (from, head + 1]", page->floor_seq);
        return;
    }
    }
    read->next_seq = page->floor_seq;
}

static void check_messages(struct history_read *read, const struct tc_store_page *page) {
    struct tc_room_model *model = read->group->model;
    for (uint32_t i = 0; i < page->count; i++) {
        const struct tc_room_message *message = &page->messages[i];
        uint64_t seq = read->from_seq + i;
        struct tc_room_message expected;
        if (message->seq != seq) {
        history_fail(read, "not consecutive", message->seq);
        return;
    }
        if (tc_room_model_message(model, read->room, seq, &expected) != TC_OK) {
            {
        history_fail(read, "a message the model never committed", seq);
        return;
    }
        }
        if (!message_equal(message, &expected)) {
            history_fail(read, message->redacted != expected.redacted
                                   ? (expected.redacted ? "a redacted message served with its body"
                                                        : "served redacted, never redacted")
                                   : "differs",
                         seq);
            return;
        }
        if (!tc_room_model_chain_verify(message)) {
            history_fail(read, "the chain does not verify (from the body or its hash)", seq);
            return;
        }
        if (message->redacted) {
            read->cluster->stats.history_redacted += 1;
            read->cluster->coverage.faults[SIM_FAULT_REDACTED_READ] += 1;
        }
        // The first message of a page links to the message before it (the previous page's last
        // one, possibly in another segment).
        if (seq > 1) {
            struct tc_room_message previous;
            if (tc_room_model_message(model, read->room, seq - 1, &previous) != TC_OK ||
                !tc_hash256_equal(&message->prev_hash, &previous.hash)) {
                {
        history_fail(read, "prev_hash does not link", seq);
        return;
    }
            }
        }
    }
    read->cluster->stats.history_messages += page->count;
    read->next_seq = read->from_seq + page->count;
}

static void history_on_page(void *context, const struct tc_store_page *page) {
    struct history_read *read = context;
    tc_assert(!read->done);
    read->done = true;
    read->kind = page->kind;
    read->cluster->stats.history_pages += 1;
    if (page->result != TC_OK) {
        history_fail(read, tc_strerror(page->result), 0);
        return;
    }
    if (page->seq_last != read->seq_last) {
        history_fail(read, "head differs", page->seq_last);
        return;
    }
    if (page->kind == TC_STORE_PAGE_TRUNCATED) {
        read->cluster->stats.history_truncated += 1;
        read->cluster->coverage.faults[SIM_FAULT_RETENTION_TRUNCATED] += 1;
        {
        check_truncated(read, page);
        return;
    }
    }
    if (page->kind == TC_STORE_PAGE_EMPTY) {
        if (read->from_seq != read->seq_last + 1) history_fail(read, "empty before the head", 0);
        return;
    }
    if (page->kind != TC_STORE_PAGE_MESSAGES || page->count == 0) {
        {
        history_fail(read, "no messages in a messages page", 0);
        return;
    }
    }
    check_messages(read, page);
}

// Runs one read to completion by stepping only this replica's storage.
static bool history_read_one(struct sim_replica *replica, struct history_read *read,
                             uint32_t limit) {
    struct tc_store *store = tc_replica_store(replica->replica);
    uint64_t now_ns = tc_replica_applied_timestamp(replica->replica);
    read->done = false;
    int rc = tc_store_read(store, read->room, read->from_seq, limit, now_ns, history_on_page, read);
    if (rc != TC_OK) {
        history_fail(read, tc_strerror(rc), 0);
        return false;
    }
    // Storage time only moves forward (a read may start after earlier reads advanced it).
    uint64_t tick = tc_max_u64(replica->cluster->tick, replica->storage.now_tick);
    for (uint32_t step = 0; step < HISTORY_STEPS_MAX && !read->done; step++) {
        sim_storage_step(&replica->storage, ++tick);
    }
    if (!read->done) history_fail(read, "read never completed", 0);
    return read->done && !replica->cluster->failed;
}

// The policy now hides what it must: keep_messages N nothing older than the last N messages;
// keep_days N nothing stamped more than N days before the replica's newest applied op.
static void check_floor_policy(struct history_read *read, uint64_t first_readable,
                               uint64_t now_ns) {
    struct tc_room_retention retention;
    if (tc_room_model_retention(read->group->model, read->room, &retention) != TC_OK) return;
    if (retention.mode == TC_ROOM_RETENTION_KEEP_MESSAGES) {
        if (read->seq_last >= retention.value &&
            first_readable < read->seq_last - retention.value + 1) {
            history_fail(read, "readable below the keep_messages floor", first_readable);
        }
        return;
    }
    if (retention.mode != TC_ROOM_RETENTION_KEEP_DAYS) return;
    uint64_t window_ns = retention.value * HISTORY_DAY_NS;
    if (now_ns <= window_ns || first_readable > read->seq_last) return;
    struct tc_room_message oldest;
    if (tc_room_model_message(read->group->model, read->room, first_readable, &oldest) != TC_OK) {
        return;
    }
    if (oldest.timestamp_ns < now_ns - window_ns) {
        history_fail(read, "readable though older than the keep_days window", first_readable);
    }
    read->cluster->stats.history_days_checked += 1;
}

static void history_room(struct sim_replica *replica, uint64_t room, bool touched) {
    struct sim_cluster *cluster = replica->cluster;
    struct sim_group *group = replica->group;
    struct tc_hash256 head;
    uint64_t seq_last = 0;
    if (tc_room_model_chain_head(group->model, room, &seq_last, &head) != TC_OK) return;
    struct history_read read = {.cluster = cluster, .group = group, .replica = replica->index,
                                .room = room, .from_seq = 1, .seq_last = seq_last,
                                .retention_touched = touched};
    uint64_t first_readable = 0;
    for (uint64_t guard = 0; guard <= seq_last + 2; guard++) {
        uint32_t limit = 1 + (uint32_t)tc_prng_below(&cluster->prng, 12);
        if (!history_read_one(replica, &read, limit)) return;
        if (read.kind == TC_STORE_PAGE_EMPTY) {
            if (first_readable == 0) first_readable = seq_last + 1;
            check_floor_policy(&read, first_readable, tc_replica_applied_timestamp(replica->replica));
            return;
        }
        if (read.kind == TC_STORE_PAGE_MESSAGES && first_readable == 0) {
            first_readable = read.from_seq;
        }
        read.from_seq = read.next_seq;
    }
    history_fail(&read, "history does not end", read.from_seq);
}

void sim_history_check(struct sim_cluster *cluster) {
    for (uint32_t g = 0; g < cluster->group_count && !cluster->failed; g++) {
        struct sim_group *group = &cluster->groups[g];
        if (tc_room_model_history_dropped(group->model) != 0) continue; // model capacity
        for (uint32_t h = 0; h < SIM_HOLDERS && !cluster->failed; h++) {
            struct sim_replica *replica = sim_holder(group, h);
            if (replica == NULL || !replica->core || replica->replica == NULL) continue;
            cluster->stats.history_replicas += 1;
            for (uint32_t i = 0; i < group->rooms_count && !cluster->failed; i++) {
                bool touched = false; // the workload may have drawn the same room id twice
                for (uint32_t j = 0; j < group->rooms_count; j++) {
                    if (group->rooms[j] == group->rooms[i]) touched |= group->rooms_retention[j];
                }
                history_room(replica, group->rooms[i], touched);
            }
        }
    }
}
