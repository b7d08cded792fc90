#include <stdlib.h>
#include <string.h>

#include "journal.h"
#include "sim_cluster.h"
#include "tc_assert.h"
#include "tc_err.h"

// The acknowledged-prepare durability checker (invariant `ack_durable`, docs/simulator.md).
//
// A backup's prepare_ok(op, commit, context) promises (docs/vsr.md I2): its log up to `op` equals
// the primary's, and every op in (commit, op] is durable on its disk. The simulator sees every
// message and owns every disk, so it checks the promise against the disk itself rather than against
// what the recovered replica chooses to expose:
//
//  1. At send: record, per replica and op, the acknowledged prepare checksum for every op in
//     (commit, op] (`context` for op itself, the replica's own log header for the ops below).
//  2. At every crash (process or machine), after the crash has decided what reached the disk: an
//     acknowledged (op, checksum) is *held* if the prepare slot holds that prepare whole (header
//     and body checksums valid), or the redundant header ring entry holds its header, or a valid
//     superblock copy lists it among its view headers. These are exactly the places recovery reads
//     that make the op known (CLEAN or DIRTY, never nacked: docs/vsr.md recovery table). The fault
//     atlas never faults both the prepare slot and the header entry of one slot on one replica, so
//     on correct code one of them always survives. An acknowledged entry not held becomes a suspect.
//     An op at or below the disk's durable checkpoint is held too: the checkpoint holds its effects,
//     and its journal slot may legitimately be reused (docs/vsr.md §11.2). Acks are kept by op
//     modulo four ring laps (see acks_count).
//  3. A suspect is a violation once (or as soon as) its op is committed with the suspect checksum.
//     An acknowledged entry may be legitimately superseded (a later view installs another prepare
//     at that op and the replica overwrites the slot), but then the acknowledged prepare can never
//     be committed: committed entries are in every later view's canonical log. So the check cannot
//     fire on a correct replica, whatever the view history.

// Acks are kept by op modulo four ring laps: an acknowledged op stays checked until three more laps
// of acks replaced it, long after a correct replica's checkpoint covers it (half a lap) — so a
// replica that reuses a slot too early is still caught (planted bug slot_reuse_early).
static uint64_t acks_count(const struct sim_replica *replica) {
    return 4u * (uint64_t)replica->group->options.journal_slot_count;
}

int sim_durability_init(struct sim_replica *replica) {
    uint64_t count = acks_count(replica);
    tc_assert(count > 0);
    replica->acks = calloc(count, sizeof(struct sim_ack));
    replica->suspects = calloc(count, sizeof(struct sim_ack));
    if (replica->acks == NULL || replica->suspects == NULL) return TC_ENOMEM;
    return TC_OK;
}

void sim_durability_deinit(struct sim_replica *replica) {
    free(replica->acks);
    free(replica->suspects);
    replica->acks = NULL;
    replica->suspects = NULL;
}

static void ack_record(struct sim_replica *replica, uint64_t op, const struct tc_checksum *checksum,
                       uint32_t view) {
    tc_assert(op > 0);
    struct sim_ack *ack = &replica->acks[op % acks_count(replica)];
    ack->checksum = *checksum;
    ack->op = op;
    ack->tick = replica->cluster->tick;
    ack->view = view;
    ack->valid = true;
    replica->cluster->stats.acks_recorded += 1;
}

void sim_durability_on_send(struct sim_replica *replica, const uint8_t *message) {
    struct tc_header ok;
    memcpy(&ok, message, sizeof(ok));
    if (ok.command != TC_COMMAND_PREPARE_OK) return;
    tc_assert(replica->replica != NULL);
    tc_assert(ok.replica == replica->index);
    if (ok.op <= ok.commit) return; // reports a checkpoint only: acknowledges nothing new
    ack_record(replica, ok.op, &ok.context, ok.view);
    // The ops below `op` the acknowledgement also covers: their checksums are the replica's own log
    // headers (its log up to op equals the primary's). A slot it does not show as clean is not
    // recorded here (the exact op above still is).
    for (uint64_t op = ok.commit + 1; op < ok.op; op++) {
        const struct tc_header *header = tc_replica_log_header(replica->replica, op);
        if (header == NULL) continue;
        tc_assert(header->op == op);
        ack_record(replica, op, &header->checksum, ok.view);
    }
}

static bool superblock_copy_read(const struct sim_replica *replica, uint32_t copy,
                                 struct tc_superblock *out) {
    const struct sim_layout *layout = &replica->group->layout;
    memcpy(out, replica->storage.image + layout->superblock_offset +
                    copy * layout->superblock_copy_size, sizeof(*out));
    struct tc_checksum expected;
    tc_checksum_compute(&expected, (const uint8_t *)out + sizeof(out->checksum),
                        sizeof(*out) - sizeof(out->checksum));
    return tc_checksum_equal(&expected, &out->checksum);
}

// The checkpoint op of the newest valid superblock copy on the disk (what recovery would use).
static uint64_t disk_checkpoint_op(const struct sim_replica *replica) {
    uint64_t sequence = 0;
    uint64_t op = 0;
    for (uint32_t copy = 0; copy < replica->group->layout.superblock_copies; copy++) {
        struct tc_superblock superblock;
        if (!superblock_copy_read(replica, copy, &superblock)) continue;
        if (superblock.sequence >= sequence) {
            sequence = superblock.sequence;
            op = superblock.checkpoint_op;
        }
    }
    return op;
}

// Does the disk image hold the prepare (op, checksum) where recovery would find it?
static bool disk_holds(const struct sim_replica *replica, uint64_t op,
                       const struct tc_checksum *checksum) {
    const struct sim_layout *layout = &replica->group->layout;
    const uint8_t *image = replica->storage.image;
    uint64_t slot = op % layout->slot_count;
    struct tc_header header;
    // The prepare slot: header and body intact.
    uint64_t prepare_offset = layout->prepares_offset + slot * layout->prepare_slot_size;
    memcpy(&header, image + prepare_offset, sizeof(header));
    if (tc_header_valid_checksum(&header) && tc_checksum_equal(&header.checksum, checksum) &&
        header.op == op && header.size >= TC_HEADER_SIZE &&
        header.size <= layout->prepare_slot_size &&
        tc_header_valid_checksum_body(&header, image + prepare_offset + TC_HEADER_SIZE)) {
        return true;
    }
    // The redundant header ring entry.
    memcpy(&header, image + layout->headers_offset + slot * TC_HEADER_SIZE, sizeof(header));
    if (tc_header_valid_checksum(&header) && tc_checksum_equal(&header.checksum, checksum) &&
        header.op == op) {
        return true;
    }
    // The view headers of any valid superblock copy (recovery treats them as authoritative).
    if (op <= disk_checkpoint_op(replica)) return true;
    for (uint32_t copy = 0; copy < layout->superblock_copies; copy++) {
        struct tc_superblock superblock;
        if (!superblock_copy_read(replica, copy, &superblock)) continue;
        uint32_t count = tc_min_u32(superblock.view_headers_count, TC_VIEW_HEADERS_MAX);
        for (uint32_t i = 0; i < count; i++) {
            const struct tc_header *view_header = &superblock.view_headers[i];
            if (view_header->op == op && tc_checksum_equal(&view_header->checksum, checksum) &&
                tc_header_valid_checksum(view_header)) {
                return true;
            }
        }
    }
    return false;
}

static void suspect_fail(struct sim_cluster *cluster, const struct sim_replica *replica,
                         uint64_t op) {
    const struct sim_ack *suspect = &replica->suspects[op % acks_count(replica)];
    tc_assert(suspect->op == op);
    sim_fail(cluster, "ack_durable",
             "group %u replica %u acknowledged op %llu (view %u, tick %llu) but after its %s crash "
             "at tick %llu neither its prepare slot, its header ring entry nor a superblock copy "
             "held that prepare; op %llu is committed with that checksum",
             replica->group->index, replica->index, (unsigned long long)op, suspect->view,
             (unsigned long long)suspect->tick, suspect->machine ? "machine" : "process",
             (unsigned long long)suspect->crash_tick, (unsigned long long)op);
}

void sim_durability_on_crash(struct sim_replica *replica, bool machine) {
    struct sim_cluster *cluster = replica->cluster;
    struct sim_group *group = replica->group;
    uint64_t count = acks_count(replica);
    for (uint64_t slot = 0; slot < count; slot++) {
        const struct sim_ack *ack = &replica->acks[slot];
        if (!ack->valid) continue;
        uint64_t op = ack->op;
        if (disk_holds(replica, op, &ack->checksum)) continue;
        struct sim_ack *suspect = &replica->suspects[slot];
        *suspect = *ack;
        suspect->machine = machine;
        suspect->crash_tick = cluster->tick;
        cluster->stats.acks_suspect += 1;
        if (op < group->commit_count &&
            tc_checksum_equal(&group->commits[op].checksum, &suspect->checksum)) {
            suspect_fail(cluster, replica, op);
        }
    }
}

void sim_durability_on_commit(struct sim_cluster *cluster, struct sim_group *group, uint64_t op) {
    tc_assert(op < group->commit_count);
    for (uint32_t h = 0; h < SIM_HOLDERS; h++) {
        const struct sim_replica *replica = sim_holder(group, h);
        if (replica == NULL) continue;
        const struct sim_ack *suspect = &replica->suspects[op % acks_count(replica)];
        if (!suspect->valid || suspect->op != op) continue;
        if (tc_checksum_equal(&group->commits[op].checksum, &suspect->checksum)) {
            suspect_fail(cluster, replica, op);
        }
    }
}

// commit_quorum: when op k first commits, members of its epoch other than the committing primary
// have sent prepare_ok for (k, checksum): at least quorum_replication - 1 of them (the primary's
// own durable copy is the last vote). An acknowledgement counts only from the replica that is its
// slot's member in the prepare's epoch: a learner's, or a replaced member's in a later epoch,
// never does (planted bugs learner_quorum, old_epoch_accepted).
void sim_durability_commit_quorum(struct sim_cluster *cluster, struct sim_group *group,
                                  const struct tc_header *prepare) {
    uint32_t f = (group->replica_count - 1u) / 2u;
    uint32_t needed = f; // quorum_replication (f + 1) minus the primary
    uint32_t acks = 0;
    for (uint8_t slot = 0; slot < group->replica_count; slot++) {
        const struct sim_replica *member = sim_member(group, slot, prepare->epoch);
        if (member == NULL) continue;
        const struct sim_ack *ack = &member->acks[prepare->op % acks_count(member)];
        if (ack->valid && ack->op == prepare->op &&
            tc_checksum_equal(&ack->checksum, &prepare->checksum)) {
            acks += 1;
        }
    }
    if (acks < needed) {
        sim_fail(cluster, "commit_quorum",
                 "group %u op %llu (epoch %u) committed with %u member acknowledgements, needs %u",
                 group->index, (unsigned long long)prepare->op, prepare->epoch, acks, needed);
    }
}
