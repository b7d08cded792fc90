// Effects of group.create and slots.assign.
//
//   group.create {"group","members":[a,b,c],"slots"?:[[first,last,group],...]}
//       the controller resolved the members by placement before chaining; the group starts at
//       epoch 0 with primary members[0]; slot ranges, when given, are assigned as by slots.assign
//       (the first group of a cluster carries [[0,slots-1,G]])
//   slots.assign {"slots":[[first,last,group],...]}  inclusive ranges within the cluster's slots,
//       at most `slots` slots in all; a slot already in its group is a no-op
//
// Distinct members (C3's first half) and known nodes are the schema's: UNIQUE(group_id, node_id)
// and REFERENCES nodes(id) turn a bad member list into TC_EINVAL.
#include <cjson/cJSON.h>

#include "store_internal.h"
#include "tc_assert.h"
#include "tc_err.h"

#define GROUP_ID_MAX 65535u

int apply_slot_ranges(struct store_apply *apply, const cJSON *ranges) {
    tc_assert(ranges != NULL && cJSON_IsArray(ranges));
    struct ctl_store *store = apply->store;
    char name[CTL_STORE_NAME_SIZE_MAX];
    char key[CTL_KEY_HEX_SIZE];
    uint32_t slots = 0;
    int rc = store_cluster_get(store, name, sizeof(name), key, &slots);
    if (rc == TC_ENOENT) return args_fail(apply, "no cluster row");
    if (rc != 0) return rc;
    tc_assert(slots >= 1 && slots <= CTL_SLOTS);
    uint64_t total = 0;
    for (const cJSON *range = ranges->child; range != NULL; range = range->next) {
        if (!cJSON_IsArray(range) || cJSON_GetArraySize(range) != 3) {
            return args_fail(apply, "a slot range must be [first,last,group]");
        }
        uint64_t first = 0;
        uint64_t last = 0;
        uint64_t group = 0;
        rc = args_item_u64(apply, range->child, "range first", 0, slots - 1, &first);
        if (rc == 0) {
            rc = args_item_u64(apply, range->child->next, "range last", first, slots - 1, &last);
        }
        if (rc == 0) {
            rc = args_item_u64(apply, range->child->next->next, "range group", 1, GROUP_ID_MAX,
                               &group);
        }
        if (rc != 0) return rc;
        total += last - first + 1;
        if (total > slots) return args_fail(apply, "slot ranges cover more than %u slots", slots);
        for (uint64_t slot = first; slot <= last && rc == 0; slot++) {
            store_bind_u64(store, STMT_SLOT_UPSERT, 1, slot);
            store_bind_u64(store, STMT_SLOT_UPSERT, 2, group);
            store_bind_i64(store, STMT_SLOT_UPSERT, 3, apply->seq);
            rc = store_exec(store, STMT_SLOT_UPSERT);
        }
        if (rc != 0) return rc;
    }
    return 0;
}

static int group_members_parse(struct store_apply *apply, uint64_t members[CTL_REPLICAS]) {
    const cJSON *array = NULL;
    int rc = args_array_opt(apply, "members", &array);
    if (rc != 0) return rc;
    if (array == NULL || cJSON_GetArraySize(array) != (int)CTL_REPLICAS) {
        return args_fail(apply, "members must be an array of %u node ids", CTL_REPLICAS);
    }
    uint32_t i = 0;
    for (const cJSON *item = array->child; item != NULL; item = item->next) {
        tc_assert(i < CTL_REPLICAS);
        rc = args_item_u64(apply, item, "a member", 1, CTL_NODES_MAX, &members[i]);
        if (rc != 0) return rc;
        i++;
    }
    tc_assert(i == CTL_REPLICAS);
    return 0;
}

int apply_group_create(struct store_apply *apply) {
    struct ctl_store *store = apply->store;
    uint64_t group = 0;
    uint64_t members[CTL_REPLICAS] = {0};
    const cJSON *ranges = NULL;
    int rc = args_u64(apply, "group", 1, GROUP_ID_MAX, &group);
    if (rc == 0) rc = group_members_parse(apply, members);
    if (rc == 0) rc = args_array_opt(apply, "slots", &ranges);
    int64_t count = 0;
    if (rc == 0) rc = store_query_i64(store, STMT_GROUP_COUNT, &count);
    if (rc != 0) return rc;
    if (count >= (int64_t)CTL_GROUPS_MAX) {
        return store_fail(store, TC_ENOSPC, "group.create: %u groups already", CTL_GROUPS_MAX);
    }
    store_bind_u64(store, STMT_GROUP_INSERT, 1, group);
    store_bind_u64(store, STMT_GROUP_INSERT, 2, members[0]);
    store_bind_i64(store, STMT_GROUP_INSERT, 3, apply->seq);
    rc = store_exec(store, STMT_GROUP_INSERT);
    for (uint32_t slot = 0; slot < CTL_REPLICAS && rc == 0; slot++) {
        store_bind_u64(store, STMT_MEMBER_INSERT, 1, group);
        store_bind_u64(store, STMT_MEMBER_INSERT, 2, slot);
        store_bind_u64(store, STMT_MEMBER_INSERT, 3, members[slot]);
        store_bind_i64(store, STMT_MEMBER_INSERT, 4, apply->seq);
        rc = store_exec(store, STMT_MEMBER_INSERT);
    }
    if (rc == 0 && ranges != NULL) rc = apply_slot_ranges(apply, ranges);
    return rc;
}

int apply_slots_assign(struct store_apply *apply) {
    const cJSON *ranges = NULL;
    const int rc = args_array_opt(apply, "slots", &ranges);
    if (rc != 0) return rc;
    if (ranges == NULL || cJSON_GetArraySize(ranges) == 0) {
        return args_fail(apply, "slots must be a non-empty array of [first,last,group]");
    }
    return apply_slot_ranges(apply, ranges);
}
