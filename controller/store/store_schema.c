// The schema's migrations (docs/controller.md §4): migration[i] takes PRAGMA user_version from i
// to i + 1, run in one transaction by store_open.c. Append only: a released migration never
// changes.
//
// Differences from the first draft of §4 (reported to the doc's owner):
// - Invariant C1 ("every table row that an action wrote names that entry's seq"): nodes, groups,
//   job_moves gain updated_seq; group_members added_seq; group_changes started_seq; slots
//   assigned_seq; topology seq. All REFERENCES actions(seq).
// - CHECKs: cluster.slots 1..4096, slots.slot >= 0, group_changes.kind as job_moves.kind.
// - Indexes for the lookups apply and the renderers make by node, group and job state.
#include "store_internal.h"
#include "tc_assert.h"

static const char migration_1[] =
    "CREATE TABLE cluster (id INTEGER PRIMARY KEY CHECK (id = 1), name TEXT NOT NULL,"
    " controller_key TEXT NOT NULL, slots INTEGER NOT NULL CHECK (slots BETWEEN 1 AND 4096),"
    " created_seq INTEGER NOT NULL);"
    "CREATE TABLE actions (seq INTEGER PRIMARY KEY, time TEXT NOT NULL, actor TEXT NOT NULL,"
    " action TEXT NOT NULL, args TEXT NOT NULL, result TEXT NOT NULL, line_hash TEXT NOT NULL);"
    "CREATE TABLE keys (public_key TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
    " role TEXT NOT NULL CHECK (role IN ('viewer','operator','admin','controller')),"
    " added_seq INTEGER NOT NULL REFERENCES actions(seq),"
    " removed_seq INTEGER REFERENCES actions(seq));"
    "CREATE TABLE nodes (id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 255),"
    " public_key TEXT NOT NULL UNIQUE, zone TEXT NOT NULL DEFAULT '',"
    " address_peer TEXT NOT NULL, address_client TEXT NOT NULL, address_admin TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('active','cordoned','draining','drained','down')),"
    " added_seq INTEGER NOT NULL REFERENCES actions(seq),"
    " state_seq INTEGER NOT NULL REFERENCES actions(seq),"
    " updated_seq INTEGER NOT NULL REFERENCES actions(seq));"
    "CREATE TABLE node_status (node_id INTEGER PRIMARY KEY REFERENCES nodes(id),"
    " heartbeat_ms INTEGER NOT NULL, status TEXT NOT NULL);"
    "CREATE TABLE groups (id INTEGER PRIMARY KEY CHECK (id BETWEEN 1 AND 65535),"
    " epoch INTEGER NOT NULL, primary_node INTEGER REFERENCES nodes(id),"
    " created_seq INTEGER NOT NULL REFERENCES actions(seq),"
    " updated_seq INTEGER NOT NULL REFERENCES actions(seq));"
    "CREATE TABLE group_members (group_id INTEGER NOT NULL REFERENCES groups(id),"
    " slot INTEGER NOT NULL CHECK (slot BETWEEN 0 AND 2),"
    " node_id INTEGER NOT NULL REFERENCES nodes(id),"
    " added_seq INTEGER NOT NULL REFERENCES actions(seq),"
    " PRIMARY KEY (group_id, slot), UNIQUE (group_id, node_id));"
    "CREATE TABLE group_changes (group_id INTEGER PRIMARY KEY REFERENCES groups(id),"
    " job_id INTEGER NOT NULL REFERENCES jobs(id), step INTEGER NOT NULL,"
    " kind TEXT NOT NULL CHECK (kind IN ('move_primary','replace')),"
    " from_node INTEGER, to_node INTEGER,"
    " started_seq INTEGER NOT NULL REFERENCES actions(seq));"
    "CREATE TABLE slots (slot INTEGER PRIMARY KEY CHECK (slot >= 0),"
    " group_id INTEGER NOT NULL REFERENCES groups(id),"
    " assigned_seq INTEGER NOT NULL REFERENCES actions(seq));"
    "CREATE TABLE topology (version INTEGER PRIMARY KEY, hash TEXT NOT NULL, body TEXT NOT NULL,"
    " signature TEXT NOT NULL, seq INTEGER NOT NULL REFERENCES actions(seq));"
    "CREATE TABLE jobs (id INTEGER PRIMARY KEY,"
    " kind TEXT NOT NULL CHECK (kind IN ('drain','rebalance')),"
    " node_id INTEGER REFERENCES nodes(id), topology_hash TEXT NOT NULL,"
    " state TEXT NOT NULL CHECK (state IN ('running','succeeded','failed','cancelled')),"
    " reason TEXT NOT NULL DEFAULT '', created_seq INTEGER NOT NULL REFERENCES actions(seq),"
    " updated_seq INTEGER NOT NULL REFERENCES actions(seq));"
    "CREATE TABLE job_moves (job_id INTEGER NOT NULL REFERENCES jobs(id), step INTEGER NOT NULL,"
    " group_id INTEGER NOT NULL REFERENCES groups(id),"
    " kind TEXT NOT NULL CHECK (kind IN ('move_primary','replace')),"
    " from_node INTEGER NOT NULL REFERENCES nodes(id),"
    " to_node INTEGER NOT NULL REFERENCES nodes(id),"
    " state TEXT NOT NULL CHECK (state IN ('pending','running','done','failed','cancelled')),"
    " progress TEXT NOT NULL DEFAULT '', updated_seq INTEGER NOT NULL REFERENCES actions(seq),"
    " PRIMARY KEY (job_id, step));"
    "CREATE TABLE rejected (id INTEGER PRIMARY KEY AUTOINCREMENT, time_ms INTEGER NOT NULL,"
    " remote TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL);"
    "CREATE INDEX group_members_node ON group_members(node_id);"
    "CREATE INDEX slots_group ON slots(group_id);"
    "CREATE INDEX job_moves_group ON job_moves(group_id);"
    "CREATE INDEX jobs_state ON jobs(state);";

// Version 2: a replace step's learner (docs/controller.md §7, phase 3). The replica id of the
// learner the new node formatted, as decimal text ('' until the executor has seen it caught up);
// the topology's change carries it so the primary's node can submit the reconfiguration.
static const char migration_2[] =
    "ALTER TABLE group_changes ADD COLUMN learner_id TEXT NOT NULL DEFAULT '';";

static const char *const migrations[] = {
    migration_1,
    migration_2,
};

_Static_assert(sizeof(migrations) / sizeof(migrations[0]) == CTL_STORE_SCHEMA_VERSION,
               "one migration per schema version");

// The script taking user_version from_version to from_version + 1.
const char *store_migration(uint32_t from_version) {
    tc_assert(from_version < CTL_STORE_SCHEMA_VERSION);
    tc_assert(migrations[from_version] != NULL);
    return migrations[from_version];
}
