#ifndef TUI_APP_H
#define TUI_APP_H

// The running dashboard: the model (two snapshots, swapped after each good refresh), the link,
// the interaction state, the plan being confirmed, and the view's entry points (tui_view.c).
// Everything is allocated once at start (tui_app.c) and nothing grows while it runs.

#include <stdbool.h>
#include <stdint.h>

#include "tui_client.h"
#include "tui_model.h"
#include "tui_ui.h"

#define TUI_REFRESH_MS_DEFAULT 1000u
#define TUI_REFRESH_MS_MIN 100u
#define TUI_REFRESH_MS_MAX 60000u
#define TUI_TIMEOUT_MS_DEFAULT 2000u // per request: a hung controller stalls a frame at most this
#define TUI_BUSY_SIZE 128u

struct tui_app {
    struct tui_client client;
    struct tui_verify_options verify;
    uint32_t refresh_ms;
    uint32_t max_moves;            // rebalance plans
    struct tui_snapshot *current;  // on screen (the last good refresh)
    struct tui_snapshot *next;     // being fetched
    struct tui_plan *plan;         // the plan shown for confirmation
    struct tui_move *detail_moves; // the job in the details overlay (TUI_MOVES_MAX)
    uint32_t detail_move_count;
    char detail_error[TUI_MESSAGE_SIZE];
    struct tui_link link;
    struct tui_ui ui;
    char busy[TUI_BUSY_SIZE]; // what a blocking request is doing, "" when none
    bool too_small;           // the last frame said "terminal too small": only q works
    bool quit;
};

// tui_view.c: the screen. open: false when the terminal cannot be set up.
bool tui_view_open(void);
void tui_view_close(void);
// Draws the whole screen (erase, draw, wnoutrefresh, doupdate: only changes reach the terminal).
void tui_view_draw(struct tui_app *app);
// The next key (enum tui_key or printable ASCII) within timeout_ms, or TUI_KEY_NONE.
int tui_view_key(uint32_t timeout_ms);

uint64_t tui_clock_wall_ms(void);
uint64_t tui_clock_monotonic_ms(void);

#endif
