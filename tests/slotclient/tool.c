/* The test's client of lpslot_acquire_ex, lpslot_update_note, lpslot_holders and the
 * waiting lines:
 *   tool acquire POOL K TIMEOUT MORE NOTICE_AFTER NOTE UPDATE -- CMD...
 *        (NOTE, UPDATE: "-" for none; "@CHILD@" in UPDATE is the command's pid)
 *   tool holders POOL TICKET WEIGHT [wait]   (wait: read a line from stdin first)
 *   tool got HELD WAITED WHAT
 *   tool api POOL
 * Lines on stdout; bytes that may be anything are in hex. */
#define _GNU_SOURCE
#include "lpslot.h"
#include "waitline.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char line[LP_LINE_MAX];

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void hex(const char *s, size_t n) {
    if (!n)
        putchar('-');
    for (size_t i = 0; i < n; i++)
        printf("%02x", (unsigned char)s[i]);
}

struct ctx {
    double start;
    int weight, notices;
    const char *path;
};

static void notice(lpslot_pool *pool, long long ticket, void *arg) {
    struct ctx *c = arg;
    c->notices++;
    int n = lp_waiting_line(pool, ticket, c->weight, c->path, line, sizeof line);
    printf("notice %lld %.3f ", ticket, mono() - c->start);
    hex(line, (size_t)n);
    printf("\n");
    /* what the callback may do: look again; what it may not: acquire */
    lpslot_status st;
    lpslot_lease other;
    printf("inside %d %d\n", lpslot_look(pool, &st), lpslot_acquire(pool, 1, 0, NULL, 0, &other) == EBUSY);
    fflush(stdout);
}

static int acquire(int argc, char **argv) {
    if (argc < 11 || strcmp(argv[9], "--") != 0)
        return 64;
    int err;
    lpslot_pool *pool = lpslot_open(argv[2], &err);
    if (!pool) {
        printf("open %s\n", strerror(err));
        return 69;
    }
    struct ctx c = {mono(), atoi(argv[3]), 0, argv[2]};
    lpslot_options opt = {atoi(argv[5]), strtod(argv[6], NULL), notice, &c};
    lpslot_lease lease;
    const char *note = strcmp(argv[7], "-") ? argv[7] : NULL;
    err = lpslot_acquire_ex(pool, c.weight, strtod(argv[4], NULL), note, LPSLOT_INHERIT, &opt,
                            &lease);
    if (err) {
        printf("acquire %s\n", strerror(err));
        lpslot_close(pool);
        return err == ETIMEDOUT ? 75 : 69;
    }
    printf("got %d", lease.count);
    for (int i = 0; i < lease.count; i++)
        printf("%c%d", i ? ',' : ' ', lease.slots[i]);
    int n = lp_got_line(lease.count, lease.waited, argv[10], line, sizeof line);
    printf(" %.6f %d ", lease.waited, c.notices);
    hex(line, (size_t)n);
    printf("\n");
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        execvp(argv[10], argv + 10);
        _exit(127);
    }
    if (strcmp(argv[8], "-")) {
        char *update = malloc(strlen(argv[8]) + 32), *at;
        strcpy(update, argv[8]);
        if ((at = strstr(update, "@CHILD@"))) {
            char tail[4096];
            snprintf(tail, sizeof tail, "%s", at + 7);
            sprintf(at, "%d%s", (int)pid, tail);
        }
        printf("update %d\n", lpslot_update_note(&lease, update));
        fflush(stdout);
        free(update);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    lpslot_release(&lease);
    lpslot_close(pool);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int holders(int argc, char **argv) {
    if (argc < 5)
        return 64;
    int err;
    lpslot_pool *pool = lpslot_open(argv[2], &err);
    if (!pool) {
        printf("open %s\n", strerror(err));
        return 69;
    }
    if (argc > 5) { /* the test changes the pool now */
        printf("ready\n");
        fflush(stdout);
        char buf[16];
        if (!fgets(buf, sizeof buf, stdin))
            return 65;
    }
    long long ticket = atoll(argv[3]);
    lpslot_holder h[LPSLOT_MAX_SLOTS];
    lpslot_census c;
    err = lpslot_holders(pool, ticket, h, LPSLOT_MAX_SLOTS, &c);
    if (err)
        printf("holders %s\n", strerror(err));
    else {
        printf("census %d %d %d %d\n", c.slots, c.holders, c.waiting, c.ahead);
        for (int i = 0; i < c.holders && i < LPSLOT_MAX_SLOTS; i++) {
            printf("holder %s %d %.17g ", h[i].pid, h[i].held, h[i].since);
            hex(h[i].what, h[i].what_len);
            printf("\n");
        }
    }
    int n = lp_waiting_line(pool, ticket, atoi(argv[4]), argv[2], line, sizeof line);
    printf("line ");
    hex(line, (size_t)n);
    printf("\n");
    lpslot_close(pool);
    return 0;
}

/* The calls' own refusals, and descriptors moved or closed behind the library's back. */
static int api(char **argv) {
    int err;
    lpslot_pool *pool = lpslot_open(argv[2], &err);
    if (!pool)
        return 69;
    lpslot_lease a = {0};
    lpslot_options bad = {-1, 0, NULL, NULL};
    printf("%d", lpslot_update_note(&a, "{}") == EINVAL);
    printf(" %d", lpslot_acquire_ex(pool, 1, 1, NULL, 0, &bad, &a) == EINVAL);
    printf(" %d", lpslot_acquire_ex(pool, 1, 1, "{\"job\":\"x\"}", 0, NULL, &a) == EINVAL);
    printf(" %d", lpslot_acquire_ex(pool, 1, 1, "{\"a\":1,\"a\":2}", 0, NULL, &a) == EINVAL);
    printf(" %d", lpslot_acquire_ex(pool, 1, 1, "{\"a\":01}", 0, NULL, &a) == EINVAL);
    printf(" %d", lpslot_acquire_ex(pool, 2, 1, " {\"pid\": 7} ", 0, NULL, &a) == 0);
    printf(" %d", lpslot_update_note(&a, "{\"job\":\"y\"}") == EINVAL);
    printf(" %d", lpslot_update_note(&a, "{\"x\":[1,}") == EINVAL);
    printf(" %d", lpslot_update_note(&a, "{\"pid\":42,\"output\":\"/o/app\"}") == 0);
    /* slot 0's descriptor moved up (as a runner does), slot 1's closed and its number
     * taken by another file */
    int high = fcntl(a.fds[0], F_DUPFD_CLOEXEC, 500);
    close(a.fds[0]);
    a.fds[0] = high;
    int other = open("/dev/null", O_RDWR | O_CLOEXEC);
    close(a.fds[1]);
    printf(" %d", dup2(other, a.fds[1]) == a.fds[1] && close(other) == 0);
    other = a.fds[1];
    printf(" %d", lpslot_update_note(&a, "{\"pid\":43}") == 0);
    lpslot_release(&a);
    printf(" %d", fcntl(other, F_GETFD) >= 0 && fcntl(high, F_GETFD) < 0);
    printf(" %d", lpslot_update_note(&a, "{}") == EINVAL);
    printf("\n");
    lpslot_close(pool);
    return 0;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOFBF, 1 << 16);
    if (argc > 2 && strcmp(argv[1], "acquire") == 0)
        return acquire(argc, argv);
    if (argc > 2 && strcmp(argv[1], "holders") == 0)
        return holders(argc, argv);
    if (argc > 2 && strcmp(argv[1], "api") == 0)
        return api(argv);
    if (argc == 5 && strcmp(argv[1], "got") == 0) {
        int n = lp_got_line(atoi(argv[2]), strtod(argv[3], NULL), argv[4], line, sizeof line);
        hex(line, (size_t)n);
        printf("\n");
        return 0;
    }
    return 64;
}
