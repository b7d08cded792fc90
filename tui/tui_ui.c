// The dashboard's interaction state and keys (see tui_ui.h). Pure: no I/O, no ncurses.
#include "tui_ui.h"

#include <stdio.h>
#include <string.h>

#include "tc_assert.h"
#include "tui_format.h"

#define HEADER_ROWS 2u
#define FOOTER_ROWS 1u
#define PANE_ROWS_MIN 3u // title, columns, one row
#define BAND_ROWS_MIN 5u // the jobs / rooms band
#define ROOMS_COLS 34u   // the busiest-groups pane's rows and title fit

void tui_ui_init(struct tui_ui *ui) {
    tc_assert(ui != NULL);
    memset(ui, 0, sizeof(*ui));
    ui->mode = TUI_MODE_NORMAL;
    ui->focus = TUI_PANE_NODES;
    ui->page_rows = 1;
}

// The pane's row count as the screen shows it (filter applied).
static uint32_t rows_count(const struct tui_ui *ui, const struct tui_snapshot *snapshot,
                           enum tui_pane pane, uint32_t rows[TUI_ROWS_MAX]) {
    uint32_t total = 0;
    return tui_pane_rows(snapshot, pane, ui->filter[pane], ui->now_ms, rows, &total);
}

bool tui_ui_selected_id(const struct tui_ui *ui, const struct tui_snapshot *snapshot,
                        enum tui_pane pane, uint64_t *id) {
    tc_assert(ui != NULL && snapshot != NULL && id != NULL);
    static uint32_t rows[TUI_ROWS_MAX];
    const uint32_t count = rows_count(ui, snapshot, pane, rows);
    if (count == 0 || !snapshot->valid) return false;
    const uint32_t selected = ui->selected[pane] < count ? ui->selected[pane] : count - 1;
    *id = tui_row_id(snapshot, pane, rows[selected]);
    return true;
}

void tui_ui_clamp(struct tui_ui *ui, const struct tui_snapshot *snapshot) {
    tc_assert(ui != NULL && snapshot != NULL);
    static uint32_t rows[TUI_ROWS_MAX];
    for (uint32_t p = 0; p < TUI_PANE_COUNT; p++) {
        const uint32_t count = rows_count(ui, snapshot, (enum tui_pane)p, rows);
        if (ui->selected[p] >= count) ui->selected[p] = count > 0 ? count - 1 : 0;
    }
}

void tui_ui_scroll(struct tui_ui *ui, enum tui_pane pane, uint32_t visible, uint32_t count) {
    tc_assert(ui != NULL && pane < TUI_PANE_COUNT);
    if (visible == 0 || count == 0) {
        ui->top[pane] = 0;
        return;
    }
    if (ui->selected[pane] >= count) ui->selected[pane] = count - 1;
    if (ui->selected[pane] < ui->top[pane]) ui->top[pane] = ui->selected[pane];
    if (ui->selected[pane] >= ui->top[pane] + visible) {
        ui->top[pane] = ui->selected[pane] - visible + 1;
    }
    const uint32_t top_max = count > visible ? count - visible : 0;
    if (ui->top[pane] > top_max) ui->top[pane] = top_max;
}

void tui_ui_confirm_begin(struct tui_ui *ui, enum tui_plan_kind kind, uint32_t node) {
    tc_assert(ui != NULL);
    ui->mode = TUI_MODE_CONFIRM;
    ui->confirm_kind = kind;
    ui->confirm_node = node;
    ui->typed[0] = '\0';
    ui->expected[0] = '\0';
    if (kind == TUI_PLAN_DRAIN) (void)snprintf(ui->expected, sizeof(ui->expected), "%u", node);
}

void tui_ui_message(struct tui_ui *ui, bool error, const char *text) {
    tc_assert(ui != NULL && text != NULL);
    ui->mode = TUI_MODE_MESSAGE;
    ui->message_error = error;
    tui_text_copy(ui->message, sizeof(ui->message), text);
}

// ------------------------------------------------------------------------------------------------
// Keys

static const struct tui_effect effect_none = {.kind = TUI_EFFECT_NONE};

static bool key_printable(int key) {
    return key >= 0x20 && key <= 0x7e;
}

// Appends a printable key to text (size bytes with the NUL) or deletes its last byte.
static void text_edit(char *text, uint32_t size, int key) {
    const size_t length = strlen(text);
    if (key == TUI_KEY_BACKSPACE && length > 0) text[length - 1] = '\0';
    if (key_printable(key) && length + 1 < size) {
        text[length] = (char)key;
        text[length + 1] = '\0';
    }
}

static void selection_move(struct tui_ui *ui, const struct tui_snapshot *snapshot, int key) {
    static uint32_t rows[TUI_ROWS_MAX];
    const uint32_t count = rows_count(ui, snapshot, ui->focus, rows);
    uint32_t *selected = &ui->selected[ui->focus];
    const uint32_t page = ui->page_rows > 0 ? ui->page_rows : 1;
    if (count == 0) {
        *selected = 0;
        return;
    }
    if (key == TUI_KEY_UP && *selected > 0) *selected -= 1;
    if (key == TUI_KEY_DOWN) *selected += 1;
    if (key == TUI_KEY_PAGE_UP) *selected = *selected > page ? *selected - page : 0;
    if (key == TUI_KEY_PAGE_DOWN) *selected += page;
    if (key == TUI_KEY_HOME) *selected = 0;
    if (key == TUI_KEY_END) *selected = count - 1;
    if (*selected >= count) *selected = count - 1;
}

static void focus_move(struct tui_ui *ui, int step) {
    const int count = (int)TUI_PANE_COUNT;
    ui->focus = (enum tui_pane)((((int)ui->focus + step) % count + count) % count);
}

static struct tui_effect detail_open(struct tui_ui *ui, const struct tui_snapshot *snapshot) {
    uint64_t id = 0;
    if (!tui_ui_selected_id(ui, snapshot, ui->focus, &id)) return effect_none;
    ui->mode = TUI_MODE_DETAIL;
    ui->detail_pane = ui->focus;
    ui->detail_id = id;
    ui->detail_scroll = 0;
    if (ui->focus != TUI_PANE_JOBS) return effect_none;
    return (struct tui_effect){.kind = TUI_EFFECT_JOB_DETAIL, .job = id};
}

static struct tui_effect drain_ask(struct tui_ui *ui, const struct tui_snapshot *snapshot) {
    uint64_t id = 0;
    if (ui->focus != TUI_PANE_NODES || !tui_ui_selected_id(ui, snapshot, TUI_PANE_NODES, &id)) {
        tui_ui_message(ui, true,
                       "d drains the node selected in the Nodes pane: focus it "
                       "(Tab) and select a node first");
        return effect_none;
    }
    return (struct tui_effect){.kind = TUI_EFFECT_PLAN_DRAIN, .node = (uint32_t)id};
}

static struct tui_effect normal_key(struct tui_ui *ui, const struct tui_snapshot *snapshot,
                                    int key) {
    switch (key) {
    case 'q':
    case 'Q': return (struct tui_effect){.kind = TUI_EFFECT_QUIT};
    case '?': ui->mode = TUI_MODE_HELP; break;
    case '/':
        ui->mode = TUI_MODE_FILTER;
        (void)snprintf(ui->filter_before, sizeof(ui->filter_before), "%s", ui->filter[ui->focus]);
        ui->filter[ui->focus][0] = '\0'; // a new filter; Escape restores the one before
        break;
    case TUI_KEY_ESCAPE: ui->filter[ui->focus][0] = '\0'; break;
    case TUI_KEY_TAB:
    case TUI_KEY_RIGHT: focus_move(ui, 1); break;
    case TUI_KEY_BACKTAB:
    case TUI_KEY_LEFT: focus_move(ui, -1); break;
    case TUI_KEY_UP:
    case TUI_KEY_DOWN:
    case TUI_KEY_PAGE_UP:
    case TUI_KEY_PAGE_DOWN:
    case TUI_KEY_HOME:
    case TUI_KEY_END: selection_move(ui, snapshot, key); break;
    case TUI_KEY_ENTER: return detail_open(ui, snapshot);
    case 'd': return drain_ask(ui, snapshot);
    case 'r': return (struct tui_effect){.kind = TUI_EFFECT_PLAN_REBALANCE};
    case 'v': return (struct tui_effect){.kind = TUI_EFFECT_VERIFY};
    default: break;
    }
    return effect_none;
}

static void filter_key(struct tui_ui *ui, int key) {
    char *filter = ui->filter[ui->focus];
    if (key == TUI_KEY_ENTER) {
        ui->mode = TUI_MODE_NORMAL;
    } else if (key == TUI_KEY_ESCAPE) {
        (void)snprintf(filter, TUI_FILTER_SIZE, "%s", ui->filter_before);
        ui->mode = TUI_MODE_NORMAL;
    } else {
        text_edit(filter, TUI_FILTER_SIZE, key);
    }
    ui->selected[ui->focus] = 0;
    ui->top[ui->focus] = 0;
}

static void detail_key(struct tui_ui *ui, int key) {
    if (key == TUI_KEY_UP && ui->detail_scroll > 0) ui->detail_scroll--;
    if (key == TUI_KEY_DOWN && ui->detail_scroll + 1 < TUI_DETAIL_LINES_MAX) ui->detail_scroll++;
    if (key == TUI_KEY_ESCAPE || key == TUI_KEY_ENTER || key == 'q') ui->mode = TUI_MODE_NORMAL;
}

static struct tui_effect confirm_key(struct tui_ui *ui, int key) {
    if (ui->confirm_kind == TUI_PLAN_REBALANCE) {
        if (key == 'y' || key == 'Y') {
            ui->mode = TUI_MODE_NORMAL;
            return (struct tui_effect){.kind = TUI_EFFECT_START_JOB};
        }
        tui_ui_message(ui, false, "rebalance cancelled: nothing started");
        return effect_none;
    }
    if (key == TUI_KEY_ESCAPE) {
        tui_ui_message(ui, false, "drain cancelled: nothing started");
    } else if (key == TUI_KEY_ENTER && strcmp(ui->typed, ui->expected) == 0) {
        ui->mode = TUI_MODE_NORMAL;
        return (struct tui_effect){.kind = TUI_EFFECT_START_JOB, .node = ui->confirm_node};
    } else if (key == TUI_KEY_ENTER) {
        char text[96];
        (void)snprintf(text, sizeof(text),
                       "drain cancelled: '%s' is not the node's name '%s'; "
                       "nothing started",
                       ui->typed, ui->expected);
        tui_ui_message(ui, false, text);
    } else {
        text_edit(ui->typed, sizeof(ui->typed), key);
    }
    return effect_none;
}

struct tui_effect tui_ui_key(struct tui_ui *ui, const struct tui_snapshot *snapshot, int key) {
    tc_assert(ui != NULL && snapshot != NULL);
    switch (ui->mode) {
    case TUI_MODE_NORMAL: return normal_key(ui, snapshot, key);
    case TUI_MODE_FILTER: filter_key(ui, key); return effect_none;
    case TUI_MODE_HELP:
    case TUI_MODE_MESSAGE: ui->mode = TUI_MODE_NORMAL; return effect_none;
    case TUI_MODE_DETAIL: detail_key(ui, key); return effect_none;
    case TUI_MODE_CONFIRM: return confirm_key(ui, key);
    }
    tc_unreachable();
}

// ------------------------------------------------------------------------------------------------
// Layout

static uint32_t clamp_u32(uint32_t value, uint32_t low, uint32_t high) {
    if (high < low) high = low;
    return value < low ? low : value > high ? high : value;
}

void tui_layout_compute(uint32_t rows, uint32_t cols, uint32_t node_count, uint32_t group_count,
                        struct tui_layout *layout) {
    tc_assert(layout != NULL);
    memset(layout, 0, sizeof(*layout));
    if (rows < TUI_ROWS_MIN || cols < TUI_COLS_MIN) {
        layout->too_small = true;
        return;
    }
    const uint32_t body = rows - HEADER_ROWS - FOOTER_ROWS;
    const uint32_t nodes = clamp_u32(node_count + 2u, PANE_ROWS_MIN, body / 4u);
    const uint32_t groups = clamp_u32(group_count + 2u, PANE_ROWS_MIN, body * 3u / 10u);
    const uint32_t band = clamp_u32(body / 5u, BAND_ROWS_MIN, body);
    tc_assert(nodes + groups + band + PANE_ROWS_MIN <= body);
    const uint32_t audit = body - nodes - groups - band;
    const uint32_t right = cols >= 3u * ROOMS_COLS ? ROOMS_COLS : cols / 3u; // jobs: the rest
    layout->header = (struct tui_rect){0, 0, HEADER_ROWS, cols};
    uint32_t row = HEADER_ROWS;
    layout->panes[TUI_PANE_NODES] = (struct tui_rect){row, 0, nodes, cols};
    row += nodes;
    layout->panes[TUI_PANE_GROUPS] = (struct tui_rect){row, 0, groups, cols};
    row += groups;
    layout->panes[TUI_PANE_JOBS] = (struct tui_rect){row, 0, band, cols - right - 1u};
    layout->panes[TUI_PANE_ROOMS] = (struct tui_rect){row, cols - right, band, right};
    row += band;
    layout->panes[TUI_PANE_AUDIT] = (struct tui_rect){row, 0, audit, cols};
    row += audit;
    layout->footer = (struct tui_rect){row, 0, FOOTER_ROWS, cols};
    tc_assert(row + FOOTER_ROWS == rows);
}
