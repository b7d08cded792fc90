// The dashboard's screen (ncurses). Every frame: erase() the virtual screen, draw the header, the
// panes, the footer and the open overlay, then wnoutrefresh + doupdate, which sends only the cells
// that changed: no clear(), no flicker. KEY_RESIZE (ncurses' SIGWINCH handling) just leads to the
// next frame with the new LINES/COLS. Text comes from tui_format.c; this file only places it.
#include <curses.h>
#include <stdio.h>
#include <string.h>

#include "tc_assert.h"
#include "tui_app.h"
#include "tui_format.h"

#define ESCAPE_DELAY_MS 25
#define OVERLAY_COLS_MAX 110u
#define OVERLAY_LINES_MAX 40u

enum pair {
    PAIR_NONE = 0,
    PAIR_GOOD = 1,
    PAIR_WARN = 2,
    PAIR_BAD = 3,
    PAIR_TITLE = 4,
};

static SCREEN *screen;
static bool colors_on;

bool tui_view_open(void) {
    screen = newterm(NULL, stdout, stdin);
    if (screen == NULL) return false;
    (void)set_term(screen);
    (void)cbreak();
    (void)noecho();
    (void)nonl();
    (void)keypad(stdscr, TRUE);
    (void)leaveok(stdscr, TRUE);
    (void)curs_set(0);
    (void)set_escdelay(ESCAPE_DELAY_MS);
    colors_on = has_colors();
    if (colors_on) {
        (void)start_color();
        (void)use_default_colors();
        (void)init_pair(PAIR_GOOD, COLOR_GREEN, -1);
        (void)init_pair(PAIR_WARN, COLOR_YELLOW, -1);
        (void)init_pair(PAIR_BAD, COLOR_RED, -1);
        (void)init_pair(PAIR_TITLE, COLOR_CYAN, -1);
    }
    return true;
}

void tui_view_close(void) {
    if (screen == NULL) return;
    (void)endwin();
    delscreen(screen);
    screen = NULL;
}

static attr_t color(enum pair which) {
    return colors_on && which != PAIR_NONE ? (attr_t)COLOR_PAIR((short)which) : A_NORMAL;
}

// text at (row, col), cut to cols; padded with spaces to cols when pad (selection bars).
static void put(uint32_t row, uint32_t col, uint32_t cols, const char *text, attr_t attributes,
                bool pad) {
    if (cols == 0) return;
    char line[TUI_LINE_SIZE + 1];
    const uint32_t width = cols < TUI_LINE_SIZE ? cols : TUI_LINE_SIZE;
    if (pad) {
        (void)snprintf(line, sizeof(line), "%-*.*s", (int)width, (int)width, text);
    } else {
        (void)snprintf(line, sizeof(line), "%.*s", (int)width, text);
    }
    (void)attrset((int)attributes);
    (void)mvaddnstr((int)row, (int)col, line, (int)width);
    (void)attrset(A_NORMAL);
}

static enum pair health_color(enum tui_health health) {
    switch (health) {
    case TUI_HEALTH_HEALTHY: return PAIR_GOOD;
    case TUI_HEALTH_DEGRADED: return PAIR_WARN;
    case TUI_HEALTH_NO_QUORUM: return PAIR_BAD;
    case TUI_HEALTH_UNKNOWN: return PAIR_NONE;
    }
    tc_unreachable();
}

static void header_draw(struct tui_app *app, const struct tui_rect *rect) {
    const uint64_t now_ms = tui_clock_monotonic_ms();
    const struct tui_header_input input = {
        .snapshot = app->current,
        .link = &app->link,
        .controller = app->client.context.controller,
        .wall_ms = app->ui.now_ms,
        .next_in_ms = app->link.next_ms > now_ms ? app->link.next_ms - now_ms : 0,
    };
    char line1[TUI_LINE_SIZE], line2[TUI_LINE_SIZE];
    tui_format_header(&input, line1, line2);
    const bool down = app->link.state == TUI_LINK_DOWN || app->link.state == TUI_LINK_ERROR;
    put(rect->row, rect->col, rect->cols, line1,
        A_BOLD | color(health_color(tui_cluster_health(app->current))), true);
    put(rect->row + 1, rect->col, rect->cols, line2, down ? A_BOLD | color(PAIR_BAD) : A_NORMAL,
        false);
}

// A row's color: nodes not live and unhealthy groups stand out.
static attr_t row_attributes(const struct tui_snapshot *snapshot, enum tui_pane pane,
                             uint32_t index) {
    if (pane == TUI_PANE_NODES && !snapshot->nodes[index].live) return color(PAIR_BAD);
    if (pane == TUI_PANE_GROUPS) {
        const enum tui_health health = snapshot->groups[index].health;
        if (health != TUI_HEALTH_HEALTHY) return color(health_color(health));
    }
    if (pane == TUI_PANE_JOBS && strcmp(snapshot->jobs[index].state, "failed") == 0) {
        return color(PAIR_BAD);
    }
    return A_NORMAL;
}

static void pane_draw(struct tui_app *app, enum tui_pane pane, const struct tui_rect *rect) {
    static uint32_t rows[TUI_ROWS_MAX];
    const struct tui_snapshot *snapshot = app->current;
    uint32_t total = 0;
    const uint32_t count =
        tui_pane_rows(snapshot, pane, app->ui.filter[pane], app->ui.now_ms, rows, &total);
    const bool focused = app->ui.focus == pane;
    char title[TUI_LINE_SIZE];
    tui_format_title(pane, count, total, app->ui.filter[pane], title);
    put(rect->row, rect->col, rect->cols, title, A_BOLD | (focused ? A_REVERSE : color(PAIR_TITLE)),
        true);
    put(rect->row + 1, rect->col, rect->cols, tui_pane_columns(pane), A_UNDERLINE, false);
    const uint32_t visible = rect->rows > 2 ? rect->rows - 2 : 0;
    if (focused) app->ui.page_rows = visible;
    tui_ui_scroll(&app->ui, pane, visible, count);
    for (uint32_t i = 0; i < visible && app->ui.top[pane] + i < count; i++) {
        const uint32_t at = app->ui.top[pane] + i;
        char line[TUI_LINE_SIZE];
        tui_format_row(snapshot, pane, rows[at], app->ui.now_ms, line);
        const bool selected = focused && at == app->ui.selected[pane];
        attr_t attributes = row_attributes(snapshot, pane, rows[at]);
        if (selected) attributes |= A_REVERSE;
        put(rect->row + 2 + i, rect->col, rect->cols, line, attributes, selected);
    }
}

static void footer_draw(const struct tui_app *app, const struct tui_rect *rect) {
    char line[TUI_LINE_SIZE];
    if (app->busy[0] != '\0') {
        (void)snprintf(line, sizeof(line), "working: %s ...", app->busy);
    } else if (app->ui.mode == TUI_MODE_FILTER) {
        (void)snprintf(line, sizeof(line), "filter %s: %s_   (Enter keeps it, Esc restores)",
                       tui_pane_name(app->ui.focus), app->ui.filter[app->ui.focus]);
    } else {
        (void)snprintf(line, sizeof(line),
                       "q quit  ? help  Tab pane  Up/Down select  Enter "
                       "details  / filter  d drain  r rebalance  v verify");
    }
    put(rect->row, rect->col, rect->cols, line, A_REVERSE, true);
}

// ------------------------------------------------------------------------------------------------
// Overlays: a box in the middle of the screen with a title and lines.

struct box {
    uint32_t row, col, rows, cols;
};

static struct box box_open(uint32_t lines, const char *title, enum pair which) {
    const uint32_t screen_rows = (uint32_t)LINES, screen_cols = (uint32_t)COLS;
    struct box box;
    box.cols = screen_cols > OVERLAY_COLS_MAX + 4u ? OVERLAY_COLS_MAX : screen_cols - 4u;
    box.rows = lines + 4u < screen_rows - 2u ? lines + 4u : screen_rows - 2u;
    box.row = (screen_rows - box.rows) / 2u;
    box.col = (screen_cols - box.cols) / 2u;
    char border[TUI_LINE_SIZE];
    memset(border, '-', sizeof(border) - 1);
    border[sizeof(border) - 1] = '\0';
    border[0] = '+';
    border[box.cols - 1u < sizeof(border) - 1 ? box.cols - 1u : sizeof(border) - 2] = '+';
    for (uint32_t r = 0; r < box.rows; r++) {
        const bool edge = r == 0 || r + 1 == box.rows;
        put(box.row + r, box.col, box.cols, edge ? border : "|", A_BOLD | color(which), true);
        if (!edge) put(box.row + r, box.col + box.cols - 1u, 1, "|", A_BOLD | color(which), false);
    }
    char heading[TUI_LINE_SIZE];
    (void)snprintf(heading, sizeof(heading), " %s ", title);
    put(box.row, box.col + 2u, box.cols - 4u, heading, A_BOLD | color(which), false);
    return box;
}

// The n-th line inside the box (0-based), false when it does not fit.
static bool box_line(const struct box *box, uint32_t n, const char *text, attr_t attributes) {
    if (n + 4u > box->rows) return false;
    put(box->row + 2u + n, box->col + 2u, box->cols - 4u, text, attributes, false);
    return true;
}

static void help_draw(void) {
    const char *const *lines = NULL;
    const uint32_t count = tui_format_help(&lines);
    const struct box box = box_open(count, "Help", PAIR_TITLE);
    for (uint32_t i = 0; i < count && box_line(&box, i, lines[i], A_NORMAL); i++) continue;
}

static void message_draw(const struct tui_app *app) {
    static char lines[OVERLAY_LINES_MAX][TUI_LINE_SIZE];
    const uint32_t box_cols =
        (uint32_t)COLS > OVERLAY_COLS_MAX + 4u ? OVERLAY_COLS_MAX : (uint32_t)COLS - 4u;
    const uint32_t count = tui_text_wrap(app->ui.message, box_cols - 4u, lines, OVERLAY_LINES_MAX);
    const struct box box = box_open(count + 2u, app->ui.message_error ? "Failed" : "Done",
                                    app->ui.message_error ? PAIR_BAD : PAIR_GOOD);
    for (uint32_t i = 0; i < count; i++) (void)box_line(&box, i, lines[i], A_BOLD);
    (void)box_line(&box, count + 1u, "press any key", A_NORMAL);
}

static void detail_draw(const struct tui_app *app) {
    static char lines[TUI_DETAIL_LINES_MAX][TUI_LINE_SIZE];
    const struct tui_snapshot *snapshot = app->current;
    const bool live_moves = app->ui.detail_id == snapshot->running_job;
    const uint32_t count = tui_format_detail(
        snapshot, app->ui.detail_pane, app->ui.detail_id,
        live_moves ? snapshot->moves : app->detail_moves,
        live_moves ? snapshot->move_count : app->detail_move_count, app->ui.now_ms, lines);
    const struct box box = box_open(count + 2u, "Details (Up/Down scroll, Esc closes)", PAIR_TITLE);
    uint32_t n = 0;
    for (uint32_t i = app->ui.detail_scroll; i < count && box_line(&box, n, lines[i], A_NORMAL);
         i++) {
        n++;
    }
    if (app->detail_error[0] != '\0' && app->ui.detail_pane == TUI_PANE_JOBS) {
        (void)box_line(&box, n + 1u, app->detail_error, color(PAIR_BAD));
    }
}

static void confirm_draw(const struct tui_app *app) {
    static char lines[OVERLAY_LINES_MAX][TUI_LINE_SIZE];
    const uint32_t max = (uint32_t)LINES > 12 ? (uint32_t)LINES - 10u : 2u;
    const uint32_t count =
        tui_format_plan(app->plan, lines, max < OVERLAY_LINES_MAX ? max : OVERLAY_LINES_MAX);
    const bool drain = app->plan->kind == TUI_PLAN_DRAIN;
    const struct box box =
        box_open(count + 3u, drain ? "Drain: confirm" : "Rebalance: confirm", PAIR_WARN);
    for (uint32_t i = 0; i < count; i++) (void)box_line(&box, i, lines[i], A_NORMAL);
    char prompt[TUI_LINE_SIZE];
    tui_format_prompt(&app->ui, prompt);
    (void)box_line(&box, count + 1u, prompt, A_BOLD);
    if (app->client.context.key_path == NULL) {
        (void)box_line(&box, count + 2u,
                       "no --key (or $TIGERCTL_KEY): the signed job.start will "
                       "be refused locally",
                       color(PAIR_BAD));
    }
}

static void overlay_draw(const struct tui_app *app) {
    switch (app->ui.mode) {
    case TUI_MODE_NORMAL:
    case TUI_MODE_FILTER: return;
    case TUI_MODE_HELP: help_draw(); return;
    case TUI_MODE_MESSAGE: message_draw(app); return;
    case TUI_MODE_DETAIL: detail_draw(app); return;
    case TUI_MODE_CONFIRM: confirm_draw(app); return;
    }
    tc_unreachable();
}

static void too_small_draw(void) {
    char line[TUI_LINE_SIZE];
    (void)snprintf(line, sizeof(line), "terminal too small: %dx%d, the dashboard needs %ux%u", COLS,
                   LINES, TUI_COLS_MIN, TUI_ROWS_MIN);
    put(0, 0, (uint32_t)COLS, line, A_BOLD, false);
    if (LINES > 1) put(1, 0, (uint32_t)COLS, "enlarge it, or q to quit", A_NORMAL, false);
}

void tui_view_draw(struct tui_app *app) {
    tc_assert(app != NULL && screen != NULL);
    (void)erase();
    struct tui_layout layout;
    const uint32_t rows = LINES > 0 ? (uint32_t)LINES : 0, cols = COLS > 0 ? (uint32_t)COLS : 0;
    tui_layout_compute(rows, cols, app->current->node_count, app->current->group_count, &layout);
    app->too_small = layout.too_small;
    if (layout.too_small) {
        too_small_draw();
    } else {
        header_draw(app, &layout.header);
        for (uint32_t p = 0; p < TUI_PANE_COUNT; p++) {
            pane_draw(app, (enum tui_pane)p, &layout.panes[p]);
        }
        footer_draw(app, &layout.footer);
        overlay_draw(app);
    }
    (void)wnoutrefresh(stdscr);
    (void)doupdate();
}

static int key_map(int key) {
    switch (key) {
    case KEY_UP: return TUI_KEY_UP;
    case KEY_DOWN: return TUI_KEY_DOWN;
    case KEY_LEFT: return TUI_KEY_LEFT;
    case KEY_RIGHT: return TUI_KEY_RIGHT;
    case KEY_PPAGE: return TUI_KEY_PAGE_UP;
    case KEY_NPAGE: return TUI_KEY_PAGE_DOWN;
    case KEY_HOME: return TUI_KEY_HOME;
    case KEY_END: return TUI_KEY_END;
    case KEY_ENTER:
    case '\n':
    case '\r': return TUI_KEY_ENTER;
    case 27: return TUI_KEY_ESCAPE;
    case KEY_BACKSPACE:
    case 127:
    case 8: return TUI_KEY_BACKSPACE;
    case '\t': return TUI_KEY_TAB;
    case KEY_BTAB: return TUI_KEY_BACKTAB;
    default: break;
    }
    return key >= 0x20 && key <= 0x7e ? key : TUI_KEY_NONE; // KEY_RESIZE, ERR: redraw only
}

int tui_view_key(uint32_t timeout_ms) {
    wtimeout(stdscr, (int)timeout_ms);
    return key_map(wgetch(stdscr));
}
