// tigerchat-controller: `format` a data directory, then `start` it (docs/controller.md,
// docs/operations.md). One thread: the epoll loop serves the API; SIGTERM/SIGINT stop it.
#include <cjson/cJSON.h>
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ctl_chain.h"
#include "ctl_jobs.h"
#include "ctl_backup.h"
#include "tc_log_text.h"
#include "ctl_server.h"
#include "ctl_store.h"
#include "tc_assert.h"
#include "tc_err.h"

#define CTL_EXIT_USAGE 2

uint64_t ctl_wall_ms(void) {
    struct timespec now;
    const int rc = clock_gettime(CLOCK_REALTIME, &now);
    tc_assert(rc == 0);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

uint64_t ctl_monotonic_ms(void) {
    struct timespec now;
    const int rc = clock_gettime(CLOCK_MONOTONIC, &now);
    tc_assert(rc == 0);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

void ctl_log(const char *level, const char *format, ...) {
    char message[1024];
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(message, sizeof(message), format, arguments);
    va_end(arguments);
    char escaped[2100]; // one parseable line
    tc_log_text_escape(message, escaped, sizeof(escaped));
    char time_text[TC_AUDIT_TIME_TEXT_SIZE + 1];
    tc_audit_time_format(ctl_wall_ms(), time_text);
    (void)fprintf(stderr, "%s level=%s module=controller msg=\"%s\"\n", time_text, level, escaped);
}

static const char usage[] =
    "usage: tigerchat-controller format --data-dir DIR --cluster NAME --admin-key FILE.pub\n"
    "                                   [--admin-name NAME]\n"
    "       tigerchat-controller start --data-dir DIR [--listen HOST:PORT]\n"
    "                                  [--auto-accept-nodes] [--liveness-ms MS]\n"
    "       tigerchat-controller backup --data-dir DIR --to DIR2\n"
    "\n"
    "format  creates DIR/controller.db (SQLite), DIR/audit.jsonl and audit-checkpoints.jsonl\n"
    "        (the signed audit chain) and DIR/controller.key (the controller's Ed25519 key),\n"
    "        and chains controller.bootstrap naming the first admin key. Refuses a directory\n"
    "        that already holds any of them.\n"
    "start   serves the HTTP API (default 127.0.0.1:7300). --auto-accept-nodes adds nodes that\n"
    "        register with an unknown id (development clusters only). --liveness-ms: a node\n"
    "        without a heartbeat for this long is not live (default 10000).\n"
    "backup  --data-dir DIR --to DIR2: a copy a controller can start from, taken while it runs\n"
    "        (a database snapshot, then the audit chain, checkpoints and key; DIR2 must not\n"
    "        exist). Restore: stop the controller, put DIR2 in place of DIR, start.\n"
    "See docs/operations.md.\n";

struct ctl_args {
    const char *command;
    const char *data_dir;
    const char *cluster;
    const char *admin_key;
    const char *admin_name;
    const char *listen;
    const char *to;
    bool auto_accept_nodes;
    uint32_t liveness_ms;
};

static int args_fail(const char *format, ...) __attribute__((format(printf, 1, 2)));

static int args_fail(const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    (void)fputs("tigerchat-controller: ", stderr);
    (void)vfprintf(stderr, format, arguments);
    (void)fputs(" (see --help)\n", stderr);
    va_end(arguments);
    return CTL_EXIT_USAGE;
}

static int args_parse(int argc, char **argv, struct ctl_args *args) {
    *args = (struct ctl_args){
        .listen = "127.0.0.1:7300", .admin_name = "admin", .liveness_ms = CTL_LIVENESS_MS_DEFAULT};
    if (argc < 2) return args_fail("a command is required: format or start");
    args->command = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *name = argv[i];
        if (strcmp(name, "--auto-accept-nodes") == 0) {
            args->auto_accept_nodes = true;
            continue;
        }
        if (i + 1 >= argc) return args_fail("%s needs a value", name);
        const char *value = argv[++i];
        if (strcmp(name, "--data-dir") == 0)
            args->data_dir = value;
        else if (strcmp(name, "--cluster") == 0)
            args->cluster = value;
        else if (strcmp(name, "--admin-key") == 0)
            args->admin_key = value;
        else if (strcmp(name, "--admin-name") == 0)
            args->admin_name = value;
        else if (strcmp(name, "--listen") == 0)
            args->listen = value;
        else if (strcmp(name, "--to") == 0)
            args->to = value;
        else if (strcmp(name, "--liveness-ms") == 0) {
            char *end = NULL;
            const unsigned long ms = strtoul(value, &end, 10);
            if (end == value || *end != '\0' || ms < 100 || ms > 3600000) {
                return args_fail("--liveness-ms: 100..3600000");
            }
            args->liveness_ms = (uint32_t)ms;
        } else {
            return args_fail("unknown option %s", name);
        }
    }
    if (args->data_dir == NULL) return args_fail("--data-dir is required");
    if (strlen(args->data_dir) >= CTL_PATH_SIZE_MAX) return args_fail("--data-dir is too long");
    if (strlen(args->listen) >= CTL_ADDRESS_SIZE_MAX) return args_fail("--listen is too long");
    if (strcmp(args->command, "format") == 0 &&
        (args->cluster == NULL || args->admin_key == NULL)) {
        return args_fail("format needs --cluster and --admin-key");
    }
    if (strcmp(args->command, "backup") == 0 &&
        (args->to == NULL || strlen(args->to) >= CTL_PATH_SIZE_MAX)) {
        return args_fail("backup needs --to DIR2 (a new directory)");
    }
    if (strcmp(args->command, "format") != 0 && strcmp(args->command, "start") != 0 &&
        strcmp(args->command, "backup") != 0) {
        return args_fail("unknown command '%s'", args->command);
    }
    return 0;
}

static void server_paths(struct ctl_server *server, const char *data_dir) {
    (void)snprintf(server->options.data_dir, sizeof(server->options.data_dir), "%s", data_dir);
    (void)snprintf(server->path_db, sizeof(server->path_db), "%s/controller.db", data_dir);
    (void)snprintf(server->path_log, sizeof(server->path_log), "%s/audit.jsonl", data_dir);
    (void)snprintf(server->path_checkpoints, sizeof(server->path_checkpoints),
                   "%s/audit-checkpoints.jsonl", data_dir);
    (void)snprintf(server->path_key, sizeof(server->path_key), "%s/controller.key", data_dir);
}

static int fail(struct ctl_server *server, int rc, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct ctl_server *server, int rc, const char *format, ...) {
    va_list arguments;
    va_start(arguments, format);
    (void)vsnprintf(server->error, sizeof(server->error), format, arguments);
    va_end(arguments);
    return rc;
}

// Opens the store (with the topology signer), the chain writer, and catches the store up.
static int server_open(struct ctl_server *server) {
    int rc = tc_audit_key_load_secret(server->path_key, &server->key);
    if (rc != 0) return fail(server, rc, "%s: %s", server->path_key, tc_strerror(rc));
    tc_audit_key_public(&server->key, &server->key_public);
    tc_audit_key_hex(&server->key_public, server->key_hex);
    const struct ctl_store_options store_options = {
        .sign_context = &server->key,
        .sign_topology = ctl_store_topology_sign,
    };
    char error[CTL_STORE_ERROR_SIZE];
    rc = ctl_store_open(&server->store, server->path_db, &store_options, error, sizeof(error));
    if (rc != 0) return fail(server, rc, "%s: %s", server->path_db, error);
    struct tc_audit_report report;
    rc = tc_audit_writer_open(&server->audit, server->path_log, server->path_checkpoints,
                              &server->key, TC_AUDIT_OPEN_REPAIR_TORN_TAIL, &report);
    if (rc == TC_ECORRUPT)
        return fail(server, rc, "%s does not verify: %s", server->path_log, report.message);
    if (rc != 0) return fail(server, rc, "%s: %s", server->path_log, tc_strerror(rc));
    server->model = calloc(1, sizeof(*server->model));
    if (server->model == NULL) return fail(server, TC_ENOMEM, "out of memory");
    return 0;
}

static void server_close(struct ctl_server *server) {
    if (server->http_open) tc_admin_server_deinit(&server->http);
    tc_audit_writer_close(server->audit);
    ctl_store_close(server->store);
    free(server->model);
    cJSON_Delete(server->heartbeats);
    tc_audit_secret_key_wipe(&server->key);
}

static int command_format(struct ctl_server *server, const struct ctl_args *args) {
    if (mkdir(args->data_dir, 0750) != 0 && errno != EEXIST) {
        return fail(server, TC_EIO, "mkdir %s: %s", args->data_dir, strerror(errno));
    }
    const char *paths[] = {server->path_db, server->path_log, server->path_checkpoints,
                           server->path_key};
    for (uint32_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        if (access(paths[i], F_OK) == 0) {
            return fail(server, TC_EEXIST, "%s exists: this directory is already formatted",
                        paths[i]);
        }
    }
    struct tc_audit_public_key admin;
    int rc = tc_audit_key_load_public(args->admin_key, &admin);
    if (rc != 0) return fail(server, rc, "--admin-key %s: %s", args->admin_key, tc_strerror(rc));
    rc = tc_audit_keygen(server->path_key, NULL);
    if (rc != 0) return fail(server, rc, "%s: %s", server->path_key, tc_strerror(rc));
    rc = server_open(server);
    if (rc != 0) return rc;
    rc = ctl_store_format(server->store, args->cluster, server->key_hex, CTL_SLOTS);
    if (rc != 0) return fail(server, rc, "format: %s", ctl_store_error(server->store));
    char admin_hex[TC_AUDIT_KEY_HEX_SIZE + 1];
    tc_audit_key_hex(&admin, admin_hex);
    cJSON *bootstrap = cJSON_CreateObject();
    tc_assert(bootstrap != NULL);
    (void)cJSON_AddStringToObject(bootstrap, "admin_key", admin_hex);
    (void)cJSON_AddStringToObject(bootstrap, "admin_name", args->admin_name);
    (void)cJSON_AddStringToObject(bootstrap, "cluster", args->cluster);
    (void)cJSON_AddNumberToObject(bootstrap, "slots", CTL_SLOTS);
    char *text = cJSON_PrintUnformatted(bootstrap);
    cJSON_Delete(bootstrap);
    tc_assert(text != NULL);
    uint64_t seq = 0;
    rc = ctl_chain_controller(server, "controller.bootstrap", text, "\"ok\"", &seq);
    cJSON_free(text);
    if (rc != 0) return fail(server, rc, "bootstrap entry: %s", tc_strerror(rc));
    tc_assert(seq == 1);
    ctl_chain_checkpoint(server);
    (void)printf("formatted %s: cluster %s, controller key %s, admin key %s (%s)\n", args->data_dir,
                 args->cluster, server->key_hex, admin_hex, args->admin_name);
    return 0;
}

static volatile sig_atomic_t ctl_signalled; // set only by the signalfd reader below

static void signal_ready(struct tc_loop_handler *handler, uint32_t ready) {
    (void)ready;
    struct signalfd_siginfo info;
    while (read(handler->fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) ctl_signalled = 1;
}

static int serve(struct ctl_server *server) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) return fail(server, TC_EIO, "sigprocmask");
    const int signal_fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd < 0) return fail(server, TC_EIO, "signalfd: %s", strerror(errno));
    struct tc_loop_handler signal_handler;
    tc_loop_handler_init(&signal_handler, signal_ready, server);
    int rc = tc_loop_add(&server->loop, &signal_handler, signal_fd, TC_LOOP_READ);
    tc_assert(rc == 0);
    uint64_t tick_next_ms = ctl_monotonic_ms();
    server->serving_since_ms = tick_next_ms;
    uint64_t checkpoint_next_ms = tick_next_ms + 60000u;
    uint64_t jobs_next_ms = tick_next_ms;
    while (!ctl_signalled) {
        (void)tc_loop_poll(&server->loop, 100);
        server->now_ms = ctl_monotonic_ms();
        if (server->now_ms < tick_next_ms) continue;
        tick_next_ms = server->now_ms + 100u;
        tc_admin_server_tick(&server->http, server->now_ms);
        if (server->now_ms >= jobs_next_ms) {
            ctl_jobs_tick(server);
            jobs_next_ms = server->now_ms + CTL_JOBS_TICK_MS;
        }
        if (server->now_ms >= checkpoint_next_ms) {
            ctl_chain_checkpoint(server); // a signed head at least every minute when it moved
            checkpoint_next_ms = server->now_ms + 60000u;
        }
    }
    ctl_log("info", "stopping (signal)");
    ctl_chain_checkpoint(server);
    tc_loop_remove(&server->loop, &signal_handler);
    (void)close(signal_fd);
    return 0;
}

static int command_start(struct ctl_server *server, const struct ctl_args *args) {
    server->options.auto_accept_nodes = args->auto_accept_nodes;
    server->options.liveness_ms = args->liveness_ms;
    (void)snprintf(server->options.listen, sizeof(server->options.listen), "%s", args->listen);
    int rc = server_open(server);
    if (rc != 0) return rc;
    uint64_t replayed = 0;
    rc = ctl_chain_catch_up(server, &replayed);
    if (rc != 0) return rc;
    if (replayed > 0)
        ctl_log("warn", "applied %llu chained entries the database missed",
                (unsigned long long)replayed);
    rc = tc_loop_init(&server->loop);
    if (rc != 0) return fail(server, rc, "epoll: %s", tc_strerror(rc));
    const struct tc_admin_server_options http = {
        .loop = &server->loop,
        .listen_address = server->options.listen,
        .connections_max = 64,
        .body_size_max = CTL_RESPONSE_SIZE_MAX,
        .timeout_ms = 10000,
        .metrics = ctl_metrics_write,
        .handle = ctl_http_handle,
        .request_body_size_max = 64u * 1024u,
        .context = server,
    };
    rc = tc_admin_server_init(&server->http, &http);
    if (rc != 0)
        return fail(server, rc, "--listen %s: %s", server->options.listen, server->http.error);
    server->http_open = true;
    ctl_log("info", "serving %s: cluster key %s, audit seq %llu, data %s%s", server->options.listen,
            server->key_hex, (unsigned long long)tc_audit_writer_seq(server->audit),
            server->options.data_dir,
            server->options.auto_accept_nodes ? ", auto-accepting nodes" : "");
    return serve(server);
}

static int command_backup(const struct ctl_args *args) {
    struct ctl_backup_report report;
    char error[1024];
    const int rc = ctl_backup(args->data_dir, args->to, &report, error, sizeof(error));
    if (rc != 0) {
        (void)fprintf(stderr, "tigerchat-controller: backup: %s\n", error);
        return 1;
    }
    (void)printf("backup of %s in %s: controller.db %llu bytes (snapshot), audit.jsonl %llu bytes "
                 "(whole entries), checkpoints and key\n", args->data_dir, args->to,
                 (unsigned long long)report.db_bytes, (unsigned long long)report.audit_bytes);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
                      strcmp(argv[1], "help") == 0)) {
        (void)fputs(usage, stdout);
        return 0;
    }
    struct ctl_args args;
    int rc = args_parse(argc, argv, &args);
    if (rc != 0) return rc;
    if (strcmp(args.command, "backup") == 0) return command_backup(&args);
    static struct ctl_server server; // large (fixed arrays): not on the stack
    server_paths(&server, args.data_dir);
    rc = strcmp(args.command, "format") == 0 ? command_format(&server, &args)
                                             : command_start(&server, &args);
    if (rc != 0) ctl_log("error", "%s", server.error);
    server_close(&server);
    if (server.loop.epoll_fd > 0) tc_loop_deinit(&server.loop);
    return rc == 0 ? 0 : 1;
}
