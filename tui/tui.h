#ifndef TUI_H
#define TUI_H

// The dashboard's entry points: `tigerchat-tui [OPTIONS]` (tui_main) and `tigerctl top [OPTIONS]`
// (the command below, in tigerctl's command table). Both run the same code with the same options
// (tigerctl's --controller, --key, --timeout-ms and environment, plus --refresh-ms and the audit
// verification's files).

struct tigerctl_command;

extern const struct tigerctl_command tui_command_top;

// main() of tigerchat-tui: parses argv like `tigerctl top`, runs the dashboard, returns the exit
// code (0 after q, 2 for a usage error or no terminal, 1 when the screen cannot be set up).
int tui_main(int argc, char **argv);

#endif
