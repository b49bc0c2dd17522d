/* run_driver: core/frontdoor/run.c driven as main.c drives it, for
 * tests/test_frontdoor_run.py.
 *
 *   run_driver [--forking] [--fds N] [--setenv NAME=VALUE [--pad N]] -- CMD...
 *                                                 lp_run, holding N slots, with one more
 *                                                 environment entry (as LINKPOOL_HELD is),
 *                                                 its value padded with N x's
 *   run_driver --exec WHY -- CMD...               lp_exec ("-": no warning)
 *   run_driver --leave CODE                       lp_leave
 *
 * The N slots are files $RUN_DRIVER_SLOTS/slot.<i> (created; else unlinked temporary
 * files in /tmp), each held with flock(LOCK_EX) as lpslot holds a slot. at_end and done
 * append one JSON line each to the file $RUN_DRIVER_RECORD (if set):
 *   {"at_end":PID}
 *   {"code":..,"run_s":..,"tail_s":..,"cpu_s":..,"max_rss_kb":..,"anon_peak_kb":..,
 *    "pid":PID,"driver":PID,"held":[1 if slot i was still locked by us, ...]}
 */
#define _GNU_SOURCE
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_FDS 64

struct driver {
    pid_t pid;
    int nfds;
    int fds[MAX_FDS];
    char paths[MAX_FDS][4096]; /* "" for an unlinked temporary file */
};

static void append(const char *line, size_t len) {
    const char *path = getenv("RUN_DRIVER_RECORD");
    if (!path)
        return;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    ssize_t w = write(fd, line, len); /* one write: the line is whole or absent */
    (void)w;
    close(fd);
}

static void at_end(void *ctx) {
    struct driver *d = ctx;
    char line[64];
    int len = snprintf(line, sizeof line, "{\"at_end\":%d,\"driver\":%d}\n", (int)getpid(),
                       (int)d->pid);
    append(line, (size_t)len);
}

/* Whether slot i is still locked by the job: a probe on a fresh open file description
 * conflicts with our own lock too. */
static int still_held(const struct driver *d, int i) {
    if (!d->paths[i][0])
        return -1;
    int fd = open(d->paths[i], O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int held = flock(fd, LOCK_EX | LOCK_NB) < 0 && errno == EWOULDBLOCK;
    close(fd);
    return held;
}

static void done(const struct lp_usage *u, void *ctx) {
    struct driver *d = ctx;
    char line[8192];
    int len = snprintf(line, sizeof line,
                       "{\"code\":%d,\"run_s\":%.6f,\"tail_s\":%.6f,\"cpu_s\":%.6f,"
                       "\"max_rss_kb\":%ld,\"anon_peak_kb\":%ld,\"pid\":%d,\"driver\":%d,"
                       "\"held\":[",
                       u->code, u->run_s, u->tail_s, u->cpu_s, u->max_rss_kb, u->anon_peak_kb,
                       (int)getpid(), (int)d->pid);
    for (int i = 0; i < d->nfds && len < (int)sizeof line - 16; i++)
        len += snprintf(line + len, sizeof line - (size_t)len, "%s%d", i ? "," : "",
                        still_held(d, i));
    len += snprintf(line + len, sizeof line - (size_t)len, "]}\n");
    append(line, (size_t)len);
}

/* process.guard_stdio, as main.c does first: /dev/null (close-on-exec) on a standard
 * descriptor the driver was started without, so no slot lands there. */
static void guard_stdio(void) {
    for (int fd = 0; fd < 3; fd++)
        if (fcntl(fd, F_GETFD) < 0) {
            int got = open("/dev/null", O_RDWR | O_CLOEXEC);
            if (got >= 0 && got != fd)
                close(got);
        }
}

static int usage(void) {
    fprintf(stderr, "usage: run_driver [--forking] [--fds N] [--setenv NAME=VALUE] "
                    "[--pad N] [--exec WHY] -- CMD...\n"
                    "       run_driver --leave CODE\n");
    return 2;
}

int main(int argc, char **argv) {
    static struct driver d;
    guard_stdio();
    d.pid = getpid();
    int forking = 0, i = 1;
    const char *why = NULL;
    char *extra = NULL;
    size_t pad = 0;
    for (; i < argc && strcmp(argv[i], "--") != 0; i++) {
        if (strcmp(argv[i], "--forking") == 0)
            forking = 1;
        else if (strcmp(argv[i], "--fds") == 0 && i + 1 < argc)
            d.nfds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--setenv") == 0 && i + 1 < argc)
            extra = argv[++i];
        else if (strcmp(argv[i], "--pad") == 0 && i + 1 < argc)
            pad = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "--exec") == 0 && i + 1 < argc)
            why = argv[++i];
        else if (strcmp(argv[i], "--leave") == 0 && i + 1 < argc)
            lp_leave(atoi(argv[++i]));
        else
            return usage();
    }
    if (i >= argc || d.nfds < 0 || d.nfds > MAX_FDS)
        return usage();
    char **cmd = argv + i + 1;
    if (why)
        lp_exec(cmd, strcmp(why, "-") == 0 ? NULL : why);
    const char *dir = getenv("RUN_DRIVER_SLOTS");
    for (int k = 0; k < d.nfds; k++) {
        int fd;
        if (dir) {
            snprintf(d.paths[k], sizeof d.paths[k], "%s/slot.%d", dir, k);
            fd = open(d.paths[k], O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        } else {
            char tmp[] = "/tmp/run_driver.XXXXXX";
            fd = mkostemp(tmp, O_CLOEXEC);
            if (fd >= 0)
                unlink(tmp);
        }
        if (fd < 0 || flock(fd, LOCK_EX) < 0) {
            perror("run_driver: slot");
            return 1;
        }
        d.fds[k] = fd;
    }
    size_t n = 0;
    while (environ[n])
        n++;
    char **envp = calloc(n + 2, sizeof *envp); /* lp_run never returns: never freed */
    if (!envp)
        return 1;
    memcpy(envp, environ, n * sizeof *envp);
    if (extra && pad) {
        size_t len = strlen(extra);
        char *padded = malloc(len + pad + 1);
        if (!padded)
            return 1;
        memcpy(padded, extra, len);
        memset(padded + len, 'x', pad);
        padded[len + pad] = '\0';
        extra = padded;
    }
    envp[n] = extra;
    struct lp_job job = {cmd, envp, d.fds, d.nfds, forking, at_end, done, &d};
    lp_run(&job);
}
