// The dashboard's program: options (shared by tigerchat-tui and tigerctl top), start-up, the loop
// (refresh on schedule, draw, wait for a key), and the effects of keys (plans, signed job starts,
// audit verification). See tui/README.md.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "tc_assert.h"
#include "tui.h"
#include "tui_app.h"

#ifndef TIGERCTL_VERSION
#define TIGERCTL_VERSION "0.0.0"
#endif

#define REDRAW_MS 1000u // ages on screen ("3s ago") move at least this often
#define MAX_MOVES_DEFAULT 8u
#define MAX_MOVES_MAX 64u

uint64_t tui_clock_wall_ms(void) {
    struct timespec now;
    tc_assert(clock_gettime(CLOCK_REALTIME, &now) == 0);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

uint64_t tui_clock_monotonic_ms(void) {
    struct timespec now;
    tc_assert(clock_gettime(CLOCK_MONOTONIC, &now) == 0);
    return (uint64_t)now.tv_sec * 1000u + (uint64_t)now.tv_nsec / 1000000u;
}

// ------------------------------------------------------------------------------------------------
// Effects of keys

static void busy_draw(struct tui_app *app, const char *what) {
    (void)snprintf(app->busy, sizeof(app->busy), "%s", what);
    tui_view_draw(app);
    app->busy[0] = '\0';
}

static void plan_ask(struct tui_app *app, enum tui_plan_kind kind, uint32_t node) {
    char what[TUI_BUSY_SIZE];
    if (kind == TUI_PLAN_DRAIN) {
        (void)snprintf(what, sizeof(what), "asking the controller for the plan to drain node %u",
                       node);
    } else {
        (void)snprintf(what, sizeof(what), "asking the controller for a rebalance plan");
    }
    busy_draw(app, what);
    app->plan->kind = kind;
    app->plan->node = node;
    app->plan->max_moves = app->max_moves;
    char message[TUI_MESSAGE_SIZE];
    const enum tui_outcome outcome =
        tui_plan_fetch(&app->client, app->plan, message, sizeof(message));
    char text[TUI_UI_MESSAGE_SIZE];
    if (outcome != TUI_OUTCOME_OK) {
        (void)snprintf(text, sizeof(text), "no plan: %s", message);
        tui_ui_message(&app->ui, true, text);
    } else if (kind == TUI_PLAN_REBALANCE && app->plan->step_total == 0) {
        tui_ui_message(&app->ui, false,
                       "rebalance: nothing to move (the nodes are balanced); "
                       "no job started");
    } else {
        tui_ui_confirm_begin(&app->ui, kind, node);
    }
}

static void job_start(struct tui_app *app) {
    busy_draw(app, "starting the job (signed job.start)");
    uint64_t job = 0, seq = 0;
    char message[TUI_MESSAGE_SIZE];
    const enum tui_outcome outcome =
        tui_job_start(&app->client, app->plan, &job, &seq, message, sizeof(message));
    char text[TUI_UI_MESSAGE_SIZE];
    char subject[48];
    if (app->plan->kind == TUI_PLAN_DRAIN) {
        (void)snprintf(subject, sizeof(subject), "drain node %u", app->plan->node);
    } else {
        (void)snprintf(subject, sizeof(subject), "rebalance");
    }
    if (outcome == TUI_OUTCOME_OK) {
        (void)snprintf(text, sizeof(text),
                       "job %llu started: %s (audit seq %llu); follow it in "
                       "the Jobs pane",
                       (unsigned long long)job, subject, (unsigned long long)seq);
    } else {
        (void)snprintf(text, sizeof(text), "%s not started: %s", subject, message);
    }
    tui_ui_message(&app->ui, outcome != TUI_OUTCOME_OK, text);
    app->link.next_ms = 0; // show the job at once
}

static void verify(struct tui_app *app) {
    busy_draw(app, app->verify.audit_file != NULL ? "verifying the audit file"
                                                  : "reading and verifying the whole audit chain");
    char message[TUI_UI_MESSAGE_SIZE];
    const enum tui_outcome outcome =
        tui_verify(&app->client, &app->verify, message, sizeof(message));
    tui_ui_message(&app->ui, outcome != TUI_OUTCOME_OK, message);
}

static void job_detail(struct tui_app *app, uint64_t job) {
    app->detail_move_count = 0;
    app->detail_error[0] = '\0';
    if (tui_job_fetch(&app->client, job, app->detail_moves, TUI_MOVES_MAX, &app->detail_move_count,
                      app->detail_error, sizeof(app->detail_error)) == TUI_OUTCOME_OK) {
        app->detail_error[0] = '\0';
    }
}

static void key_handle(struct tui_app *app, int key) {
    if (app->too_small && key != 'q' && key != 'Q') return; // nothing on screen to act on
    const struct tui_effect effect = tui_ui_key(&app->ui, app->current, key);
    switch (effect.kind) {
    case TUI_EFFECT_NONE: return;
    case TUI_EFFECT_QUIT: app->quit = true; return;
    case TUI_EFFECT_PLAN_DRAIN: plan_ask(app, TUI_PLAN_DRAIN, effect.node); return;
    case TUI_EFFECT_PLAN_REBALANCE: plan_ask(app, TUI_PLAN_REBALANCE, 0); return;
    case TUI_EFFECT_START_JOB: job_start(app); return;
    case TUI_EFFECT_VERIFY: verify(app); return;
    case TUI_EFFECT_JOB_DETAIL: job_detail(app, effect.job); return;
    }
    tc_unreachable();
}

// ------------------------------------------------------------------------------------------------
// The loop

static void refresh(struct tui_app *app) {
    char message[TUI_MESSAGE_SIZE];
    const uint64_t wall_ms = tui_clock_wall_ms();
    const enum tui_outcome outcome =
        tui_refresh(&app->client, app->next, app->current, wall_ms, message, sizeof(message));
    const uint64_t now_ms = tui_clock_monotonic_ms();
    if (outcome == TUI_OUTCOME_OK) {
        struct tui_snapshot *shown = app->next;
        app->next = app->current;
        app->current = shown;
        tui_link_success(&app->link, now_ms, app->refresh_ms);
        app->ui.now_ms = wall_ms;
        tui_ui_clamp(&app->ui, app->current);
    } else {
        tui_link_failure(&app->link, outcome == TUI_OUTCOME_DOWN, message, now_ms, wall_ms,
                         app->refresh_ms);
    }
}

static void loop(struct tui_app *app) {
    while (!app->quit) {
        if (tui_clock_monotonic_ms() >= app->link.next_ms) refresh(app);
        app->ui.now_ms = tui_clock_wall_ms();
        tui_view_draw(app);
        const uint64_t now_ms = tui_clock_monotonic_ms();
        uint64_t wait_ms = app->link.next_ms > now_ms ? app->link.next_ms - now_ms : 0;
        if (wait_ms > REDRAW_MS) wait_ms = REDRAW_MS;
        const int key = tui_view_key((uint32_t)wait_ms);
        if (key != TUI_KEY_NONE) key_handle(app, key);
    }
}

static bool app_allocate(struct tui_app *app) {
    app->current = calloc(1, sizeof(*app->current));
    app->next = calloc(1, sizeof(*app->next));
    app->plan = calloc(1, sizeof(*app->plan));
    app->detail_moves = calloc(TUI_MOVES_MAX, sizeof(*app->detail_moves));
    return app->current != NULL && app->next != NULL && app->plan != NULL &&
           app->detail_moves != NULL;
}

static void app_free(struct tui_app *app) {
    free(app->current), free(app->next), free(app->plan), free(app->detail_moves);
    app->current = app->next = NULL;
    app->plan = NULL;
    app->detail_moves = NULL;
}

// ------------------------------------------------------------------------------------------------
// Options and the command

// tigerctl's common and controller options (the names tigerctl_connection_resolve reads), with
// the help this command needs.
static const struct tigerctl_option top_options[] = {
    {"help", NULL, 1, "show this help and exit"},
    {"json", NULL, 1, "not supported: the dashboard is interactive"},
    {"controller", "URL", 1,
     "controller (default: $TIGERCTL_CONTROLLER, " TIGERCTL_CONTROLLER_DEFAULT ")"},
    {"key", "FILE", 1, "secret key for drain and rebalance (default: $TIGERCTL_KEY)"},
    {"timeout-ms", "MS", 1, "per-request timeout (default 2000 here)"},
    {"refresh-ms", "MS", 1, "refresh every MS milliseconds (100..60000, default 1000)"},
    {"max-moves", "N", 1, "rebalance plans: at most N steps (1..64, default 8)"},
    {"audit-file", "FILE", 1, "v verifies this copy of audit.jsonl instead of the API's chain"},
    {"checkpoint", "FILE", 1, "with --audit-file: the checkpoint file (detects truncation)"},
    {"controller-key", "PUBFILE", 1, "v checks controller signatures against this key"},
    {"version", NULL, 1, "print the version and exit"},
};

// --refresh-ms, --max-moves, the verify files; a usage error (exit 2) on bad values.
static int options_read(const struct tigerctl_context *context, const struct tigerctl_args *args,
                        struct tui_app *app) {
    uint64_t refresh_ms = 0, max_moves = 0;
    int code = tigerctl_option_u64(context, args, "refresh-ms", false, TUI_REFRESH_MS_MIN,
                                   TUI_REFRESH_MS_MAX, TUI_REFRESH_MS_DEFAULT, &refresh_ms);
    if (code == TIGERCTL_EXIT_OK) {
        code = tigerctl_option_u64(context, args, "max-moves", false, 1, MAX_MOVES_MAX,
                                   MAX_MOVES_DEFAULT, &max_moves);
    }
    if (code != TIGERCTL_EXIT_OK) return code;
    app->refresh_ms = (uint32_t)refresh_ms;
    app->max_moves = (uint32_t)max_moves;
    app->verify.audit_file = tigerctl_args_value(args, "audit-file", 0);
    app->verify.checkpoint_file = tigerctl_args_value(args, "checkpoint", 0);
    app->verify.controller_key_file = tigerctl_args_value(args, "controller-key", 0);
    if (app->verify.checkpoint_file != NULL && app->verify.audit_file == NULL) {
        return tigerctl_usage(context, "--checkpoint goes with --audit-file");
    }
    if (tigerctl_args_count(args, "json") > 0) {
        return tigerctl_usage(context, "the dashboard is interactive: --json does not apply");
    }
    return TIGERCTL_EXIT_OK;
}

static int dashboard(struct tui_app *app, const struct tigerctl_context *context) {
    if (tui_client_open(&app->client, context) != 0 || !app_allocate(app)) {
        app_free(app);
        return tigerctl_fail(context, TIGERCTL_EXIT_FAILURE, "out of memory");
    }
    tui_ui_init(&app->ui);
    app->link = (struct tui_link){.state = TUI_LINK_CONNECTING, .next_ms = 0};
    int code = TIGERCTL_EXIT_OK;
    if (!tui_view_open()) {
        code = tigerctl_fail(context, TIGERCTL_EXIT_FAILURE,
                             "cannot set up the terminal (is TERM set?)");
    } else {
        loop(app);
        tui_view_close();
    }
    tui_client_close(&app->client);
    app_free(app);
    return code;
}

static int top_run(const struct tigerctl_context *context, const struct tigerctl_args *args) {
    if (tigerctl_args_count(args, "version") > 0) {
        (void)fprintf(context->out, "tigerchat-tui %s\n", TIGERCTL_VERSION);
        return TIGERCTL_EXIT_OK;
    }
    static struct tui_app app;
    memset(&app, 0, sizeof(app));
    int code = options_read(context, args, &app);
    if (code != TIGERCTL_EXIT_OK) return code;
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
        return tigerctl_usage(context, "the dashboard needs a terminal on stdin and stdout");
    }
    struct tigerctl_context shortened = *context;
    if (tigerctl_args_count(args, "timeout-ms") == 0 &&
        context->timeout_ms == TIGERCTL_TIMEOUT_MS_DEFAULT) {
        shortened.timeout_ms = TUI_TIMEOUT_MS_DEFAULT;
    }
    return dashboard(&app, &shortened);
}

const struct tigerctl_command tui_command_top = {
    .name = "top",
    .summary = "live dashboard: nodes, groups, jobs, audit; drain, rebalance, verify",
    .description = "The ncurses dashboard (tigerchat-tui, also tigerctl top). A header with the\n"
                   "cluster's health and the audit head; panes for nodes, groups (members, roles,\n"
                   "view, epoch, commit lag, health), jobs with progress, the busiest rooms and\n"
                   "the audit tail, refreshed every --refresh-ms. Keys: arrows/Tab/Enter select,\n"
                   "/ filter, ? help, d drain the selected node (plan, type its name to confirm),\n"
                   "r rebalance (plan, y to confirm), v verify the audit chain, q quit. Drain and\n"
                   "rebalance start the same signed job.start as tigerctl drain / rebalance, with\n"
                   "--key. A controller that is down is shown in the header; the last view stays\n"
                   "and the dashboard retries with backoff (up to 10 s). Needs a terminal of at\n"
                   "least 80x20.",
    .transport = TIGERCTL_CONTROLLER,
    .positional = NULL,
    .options = top_options,
    .option_count = TC_ARRAY_COUNT(top_options),
    .run = top_run,
};

// ------------------------------------------------------------------------------------------------
// tigerchat-tui

static void help_print(FILE *out) {
    (void)fprintf(out, "usage: tigerchat-tui [OPTIONS]\n\n%s\n\noptions:\n",
                  tui_command_top.description);
    for (uint32_t i = 0; i < tui_command_top.option_count; i++) {
        const struct tigerctl_option *option = &tui_command_top.options[i];
        if (strcmp(option->name, "json") == 0) continue;
        char left[64];
        (void)snprintf(left, sizeof(left), "--%s%s%s", option->name,
                       option->argument != NULL ? " " : "",
                       option->argument != NULL ? option->argument : "");
        (void)fprintf(out, "  %-30s %s\n", left, option->help);
    }
    (void)fprintf(out, "\nenvironment: TIGERCTL_CONTROLLER, TIGERCTL_KEY (as tigerctl)\n"
                       "exit codes: 0 quit with q, 1 the terminal could not be set up, 2 usage "
                       "error\n");
}

int tui_main(int argc, char **argv) {
    struct tigerctl_context context = {
        .json = false, .out = stdout, .err = stderr, .command = &tui_command_top};
    static struct tigerctl_args args;
    char error[256];
    if (tigerctl_args_parse(&args, tui_command_top.options, tui_command_top.option_count, 0,
                            argc > 0 ? argc - 1 : 0, argc > 0 ? argv + 1 : argv, error,
                            sizeof(error)) != 0) {
        (void)fprintf(stderr, "tigerchat-tui: %s (see tigerchat-tui --help)\n", error);
        return TIGERCTL_EXIT_USAGE;
    }
    if (tigerctl_args_count(&args, "help") > 0) {
        help_print(stdout);
        return TIGERCTL_EXIT_OK;
    }
    const struct tigerctl_globals globals = {0};
    static char url[TIGERCTL_BASE_URL_SIZE_MAX];
    if (tigerctl_connection_resolve(&context, &globals, &args, getenv("TIGERCTL_CONTROLLER"),
                                    getenv("TIGERCTL_KEY"), url, sizeof(url), error,
                                    sizeof(error)) != 0) {
        (void)fprintf(stderr, "tigerchat-tui: %s (see tigerchat-tui --help)\n", error);
        return TIGERCTL_EXIT_USAGE;
    }
    return tui_command_top.run(&context, &args);
}
