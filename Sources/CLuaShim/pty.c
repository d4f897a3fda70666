// Pseudo-terminal helpers (used to drive the REPL like a person at a terminal in tests).
#define _GNU_SOURCE
#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include "CLuaShim.h"

int moon_pty_open(char *slave_name, size_t size) {
    int m = posix_openpt(O_RDWR | O_NOCTTY);
    if (m < 0) return -1;
    if (grantpt(m) != 0 || unlockpt(m) != 0) return -1;
    const char *n = ptsname(m);
    if (!n || strlen(n) + 1 > size) return -1;
    strcpy(slave_name, n);
    return m;
}

short moon_spawn_setsid_flag(void) { return POSIX_SPAWN_SETSID; }
