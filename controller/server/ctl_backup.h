#ifndef TC_CTL_BACKUP_H
#define TC_CTL_BACKUP_H

// tigerchat-controller backup (ctl_backup.c): a copy of data_dir that a controller can start from.
#include <stdbool.h>
#include <stdint.h>

#define CTL_BACKUP_PATH_SIZE 1100u

struct ctl_backup_report {
    uint64_t db_bytes;
    uint64_t audit_bytes;
};

// Creates to_dir (it must not exist) and writes controller.db (a snapshot), then
// audit-checkpoints.jsonl and audit.jsonl (whole lines), then controller.key(.pub); every file,
// to_dir and its parent fsynced. 0, or TC_EEXIST / TC_EIO with a message in error (what is in to_dir is then partial).
int ctl_backup(const char *data_dir, const char *to_dir, struct ctl_backup_report *report,
               char *error, uint32_t error_size);

#endif
