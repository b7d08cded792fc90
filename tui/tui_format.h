#ifndef TUI_FORMAT_H
#define TUI_FORMAT_H

// Text of the dashboard, pure: the header, each pane's title, column line and rows, the rows a
// filter keeps, the details of one item, the help, a plan. The view (tui_view.c) only places these
// strings; tests read them directly. Lines are at most TUI_LINE_SIZE - 1 bytes of printable ASCII
// (the view cuts them to the pane's width).

#include <stdint.h>

#include "tui_model.h"
#include "tui_ui.h"

#define TUI_LINE_SIZE 256u
#define TUI_DETAIL_LINES_MAX 64u
#define TUI_ROWS_MAX TUI_GROUPS_MAX // the most rows a pane can have

// What the header says about the controller: its URL, and the link's state.
struct tui_header_input {
    const struct tui_snapshot *snapshot; // the view on screen (the last good one)
    const struct tui_link *link;
    const char *controller; // base URL
    uint64_t wall_ms;       // now
    uint64_t next_in_ms;    // until the next refresh attempt
};

void tui_format_header(const struct tui_header_input *input, char line1[TUI_LINE_SIZE],
                       char line2[TUI_LINE_SIZE]);

const char *tui_pane_name(enum tui_pane pane);
// "Nodes (4)", "Groups (3 of 4, filter: deg)".
void tui_format_title(enum tui_pane pane, uint32_t shown, uint32_t total, const char *filter,
                      char out[TUI_LINE_SIZE]);
const char *tui_pane_columns(enum tui_pane pane);

// The pane's rows (indexes into the snapshot's arrays) that match filter (case-insensitive
// substring of the row's text; "" keeps all), in display order: nodes and groups by id, jobs as
// listed (newest first), rooms (groups by commits per second, busiest first), audit newest first.
// Returns the count (at most TUI_ROWS_MAX); *total is the count before filtering.
uint32_t tui_pane_rows(const struct tui_snapshot *snapshot, enum tui_pane pane, const char *filter,
                       uint64_t wall_ms, uint32_t rows[TUI_ROWS_MAX], uint32_t *total);

// The text of row `index` (an index tui_pane_rows returned) of the pane.
void tui_format_row(const struct tui_snapshot *snapshot, enum tui_pane pane, uint32_t index,
                    uint64_t wall_ms, char out[TUI_LINE_SIZE]);

// The id of a row (node, group, job id, audit seq) for the pane's row index.
uint64_t tui_row_id(const struct tui_snapshot *snapshot, enum tui_pane pane, uint32_t index);

// Details of one item (node, group, job or audit entry by id; rooms show the group). For a job,
// moves/move_count are its steps (fetched for the overlay). Returns the number of lines.
uint32_t tui_format_detail(const struct tui_snapshot *snapshot, enum tui_pane pane, uint64_t id,
                           const struct tui_move *moves, uint32_t move_count, uint64_t wall_ms,
                           char lines[TUI_DETAIL_LINES_MAX][TUI_LINE_SIZE]);

// The help overlay's lines (static text).
uint32_t tui_format_help(const char *const **lines);

// A plan as lines: the summary, the column line and one line per step (cut to max lines, the
// last saying how many more). Returns the number of lines.
uint32_t tui_format_plan(const struct tui_plan *plan, char lines[][TUI_LINE_SIZE], uint32_t max);

// The confirm prompt for the open plan ("Type the node's name (3) ...").
void tui_format_prompt(const struct tui_ui *ui, char out[TUI_LINE_SIZE]);

// Splits text into lines of at most width bytes, breaking at spaces where it can. Returns the
// number of lines (at most max).
uint32_t tui_text_wrap(const char *text, uint32_t width, char lines[][TUI_LINE_SIZE], uint32_t max);

// Case-insensitive substring (pure ASCII); "" matches everything.
bool tui_text_matches(const char *text, const char *needle);

#endif
