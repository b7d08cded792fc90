// libFuzzer target: the verifier over arbitrary bytes as a log file and, after a marker line, a
// checkpoint file. It must never crash, leak or read out of bounds, and never PASS a file whose
// lines were not all signed by the pinned controller. Build and run: audit/fuzz/run.sh.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE // memfd_create, memmem
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "audit_internal.h"
#include "tc_assert.h"

static int memfd_with(const uint8_t *data, size_t size) {
    const int fd = memfd_create("audit-fuzz", MFD_CLOEXEC);
    tc_assert(fd >= 0);
    tc_assert(audit_write_all(fd, data, size) == 0);
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static struct audit_verifier *verifier;
    static struct audit_window *window;
    static struct tc_audit_public_key controller;
    if (verifier == NULL) {
        verifier = calloc(1, sizeof(*verifier));
        window = calloc(1, sizeof(*window));
        tc_assert(verifier != NULL && window != NULL);
        struct tc_audit_secret_key secret;
        uint8_t seed[32];
        memset(seed, 0xc0, sizeof(seed)); // the controller of the seed corpus
        tc_audit_keypair_from_seed(seed, &secret, &controller);
    }
    // Input: LOG, or LOG "\n#checkpoints\n" CHECKPOINTS (the log keeps its final newline).
    static const char marker[] = "\n#checkpoints\n";
    const uint8_t *at = memmem(data, size, marker, sizeof(marker) - 1);
    const size_t log_size = at == NULL ? size : (size_t)(at - data) + 1;
    const int log_fd = memfd_with(data, log_size);
    int checkpoint_fd = -1;
    if (at != NULL) {
        const size_t skip = (size_t)(at - data) + sizeof(marker) - 1;
        checkpoint_fd = memfd_with(data + skip, size - skip);
    }
    const struct tc_audit_keyring keys = {.controllers = &controller, .controller_count = 1};
    struct tc_audit_report report;
    memset(verifier, 0, sizeof(*verifier));
    verifier->log_fd = log_fd;
    verifier->checkpoint_fd = checkpoint_fd;
    verifier->keys = &keys;
    verifier->report = &report;
    verifier->window = window;
    const int rc = audit_verify_run(verifier);
    tc_assert(rc == 0 || report.reason != TC_AUDIT_PASS);
    (void)close(log_fd);
    if (checkpoint_fd >= 0) (void)close(checkpoint_fd);
    return 0;
}
