/* hold: take K slots of a linkpool pool, run a command with them held, give them back.
 *
 *   hold DIR K TIMEOUT -- CMD [ARG...]
 *
 * What a linker embedding lpslot does around its link. TIMEOUT in seconds (negative:
 * wait for ever). Exit status: the command's (a command killed by a signal kills hold
 * with the same signal); 75 when no K slots came in time; 69 when the pool is unusable;
 * 64 for a usage error. The slots are inherited by the command (LPSLOT_INHERIT), so if
 * hold is killed the command keeps them until it ends.
 */
#define _GNU_SOURCE
#include "lpslot.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* The note `linkpool status` shows: {"command":[...]}, each argument a JSON string. */
static void note_of(char **argv, char *out, size_t size) {
    size_t n = 0;
    n += (size_t)snprintf(out, size, "{\"command\":[");
    for (int i = 0; argv[i] && n + 16 < size; i++) {
        out[n++] = i ? ',' : '"';
        if (i)
            out[n++] = '"';
        for (const unsigned char *c = (const unsigned char *)argv[i]; *c && n + 16 < size; c++) {
            if (*c == '"' || *c == '\\')
                n += (size_t)snprintf(out + n, size - n, "\\%c", *c);
            else if (*c < 0x20 || *c >= 0x7f) /* bytes, not text: keep JSON plain ASCII */
                n += (size_t)snprintf(out + n, size - n, "\\u%04x", *c);
            else
                out[n++] = (char)*c;
        }
        out[n++] = '"';
    }
    snprintf(out + n, size - n, "]}");
}

int main(int argc, char **argv) {
    if (argc < 6 || strcmp(argv[4], "--") != 0) {
        fprintf(stderr, "usage: hold DIR K TIMEOUT -- CMD [ARG...]\n");
        return 64;
    }
    int k = atoi(argv[2]);
    double timeout = strtod(argv[3], NULL);
    int err;
    lpslot_pool *pool = lpslot_open(argv[1], &err);
    if (!pool) {
        fprintf(stderr, "hold: cannot use pool %s: %s\n", argv[1], strerror(err));
        return 69;
    }
    static char note[8192];
    note_of(argv + 5, note, sizeof note);
    lpslot_lease lease;
    err = lpslot_acquire(pool, k, timeout, note, LPSLOT_INHERIT, &lease);
    if (err) {
        fprintf(stderr, "hold: no %d slot(s) of %s: %s\n", k, argv[1], strerror(err));
        lpslot_close(pool);
        return err == ETIMEDOUT ? 75 : 69;
    }
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[5], argv + 5);
        fprintf(stderr, "hold: cannot run %s: %s\n", argv[5], strerror(errno));
        _exit(127);
    }
    int status = 0;
    if (pid < 0)
        fprintf(stderr, "hold: cannot fork: %s\n", strerror(errno));
    else
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
            ;
    lpslot_release(&lease);
    lpslot_close(pool);
    if (pid < 0)
        return 71;
    if (WIFSIGNALED(status)) { /* die of the command's signal, as the command did */
        signal(WTERMSIG(status), SIG_DFL);
        raise(WTERMSIG(status));
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
