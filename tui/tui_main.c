// tigerchat-tui: the ncurses dashboard (tui/README.md); the same as `tigerctl top`.
#include "tui.h"

int main(int argc, char **argv) {
    return tui_main(argc, argv);
}
