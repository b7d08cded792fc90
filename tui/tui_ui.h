#ifndef TUI_UI_H
#define TUI_UI_H

// The dashboard's interaction state and its pure functions: which pane has the focus, what is
// selected, the filters, the open overlay (help, details, a plan to confirm, a message), and what
// a key does to them. A key never performs I/O here: it returns an effect (fetch a plan, start a
// job, verify the chain, quit) that the app carries out (tui_app.c) and reports back with
// tui_ui_confirm_begin / tui_ui_message. Also the screen layout, from the terminal's size.

#include <stdbool.h>
#include <stdint.h>

#include "tui_model.h"

enum tui_pane {
    TUI_PANE_NODES,
    TUI_PANE_GROUPS,
    TUI_PANE_JOBS,
    TUI_PANE_ROOMS,
    TUI_PANE_AUDIT,
    TUI_PANE_COUNT,
};

enum tui_mode {
    TUI_MODE_NORMAL,
    TUI_MODE_FILTER,  // typing the focused pane's filter after '/'
    TUI_MODE_HELP,    // '?'
    TUI_MODE_DETAIL,  // Enter on a row
    TUI_MODE_CONFIRM, // a plan is shown; drain: type the node's name, rebalance: y
    TUI_MODE_MESSAGE, // a result or an error; any key closes it
};

// Keys as the model sees them: printable ASCII as itself, the rest from this list (the view maps
// ncurses' codes to these).
enum tui_key {
    TUI_KEY_NONE = -1,
    TUI_KEY_UP = 0x10000,
    TUI_KEY_DOWN,
    TUI_KEY_LEFT,
    TUI_KEY_RIGHT,
    TUI_KEY_PAGE_UP,
    TUI_KEY_PAGE_DOWN,
    TUI_KEY_HOME,
    TUI_KEY_END,
    TUI_KEY_ENTER,
    TUI_KEY_ESCAPE,
    TUI_KEY_BACKSPACE,
    TUI_KEY_TAB,
    TUI_KEY_BACKTAB,
};

enum tui_effect_kind {
    TUI_EFFECT_NONE,
    TUI_EFFECT_QUIT,
    TUI_EFFECT_PLAN_DRAIN,     // node: GET /v1/plan/drain, then tui_ui_confirm_begin
    TUI_EFFECT_PLAN_REBALANCE, // GET /v1/plan/rebalance, then tui_ui_confirm_begin
    TUI_EFFECT_START_JOB,      // the confirmed plan: signed job.start with its topology hash
    TUI_EFFECT_VERIFY,         // verify the audit chain
    TUI_EFFECT_JOB_DETAIL,     // job: GET /v1/jobs/ID for the details overlay
};

struct tui_effect {
    enum tui_effect_kind kind;
    uint32_t node;
    uint64_t job;
};

#define TUI_FILTER_SIZE 32u
#define TUI_TYPED_SIZE 16u
#define TUI_UI_MESSAGE_SIZE 640u

struct tui_ui {
    enum tui_mode mode;
    enum tui_pane focus;
    uint32_t selected[TUI_PANE_COUNT]; // index among the pane's (filtered) rows
    uint32_t top[TUI_PANE_COUNT];      // first row shown (tui_ui_scroll keeps selected in view)
    char filter[TUI_PANE_COUNT][TUI_FILTER_SIZE];
    char filter_before[TUI_FILTER_SIZE]; // restored by Escape
    // TUI_MODE_DETAIL: the item is kept by id so a refresh that reorders rows keeps it.
    enum tui_pane detail_pane;
    uint64_t detail_id;
    uint32_t detail_scroll;
    // TUI_MODE_CONFIRM
    enum tui_plan_kind confirm_kind;
    uint32_t confirm_node;
    char expected[TUI_TYPED_SIZE]; // drain: the node's name ("3"); rebalance: ""
    char typed[TUI_TYPED_SIZE];
    // TUI_MODE_MESSAGE
    char message[TUI_UI_MESSAGE_SIZE];
    bool message_error;
    uint32_t page_rows; // data rows of the focused pane on screen (for PgUp/PgDn), set by the view
    uint64_t now_ms;    // the wall clock the screen shows (ages in rows, which filters match)
};

void tui_ui_init(struct tui_ui *ui);

// Applies one key. The snapshot is the one on screen (rows, selection bounds, selected ids).
struct tui_effect tui_ui_key(struct tui_ui *ui, const struct tui_snapshot *snapshot, int key);

// After a refresh: selections stay within the (possibly fewer) rows.
void tui_ui_clamp(struct tui_ui *ui, const struct tui_snapshot *snapshot);

// Keeps the pane's selection within `visible` rows on screen by moving top (count: its rows).
void tui_ui_scroll(struct tui_ui *ui, enum tui_pane pane, uint32_t visible, uint32_t count);

// A plan was fetched: show it and ask for confirmation.
void tui_ui_confirm_begin(struct tui_ui *ui, enum tui_plan_kind kind, uint32_t node);

// Shows a message (an effect's result or failure).
void tui_ui_message(struct tui_ui *ui, bool error, const char *text);

// The id of the pane's selected row (node id, group id, job id, audit seq), false when the pane
// has no rows.
bool tui_ui_selected_id(const struct tui_ui *ui, const struct tui_snapshot *snapshot,
                        enum tui_pane pane, uint64_t *id);

// ------------------------------------------------------------------------------------------------
// Layout

#define TUI_ROWS_MIN 20u
#define TUI_COLS_MIN 80u

struct tui_rect {
    uint32_t row, col, rows, cols;
};

struct tui_layout {
    bool too_small;
    struct tui_rect header; // 2 rows
    struct tui_rect panes[TUI_PANE_COUNT];
    struct tui_rect footer; // 1 row
};

// Nodes and groups get the rows their content needs up to a quarter and 30 % of the body, jobs
// and rooms share a band side by side, the audit tail takes the rest.
void tui_layout_compute(uint32_t rows, uint32_t cols, uint32_t node_count, uint32_t group_count,
                        struct tui_layout *layout);

#endif
