/* js_driver: core/frontdoor/jobserver.c driven from tests/test_frontdoor_jobserver.py.
 *
 *   js_driver parse            stdin: MAKEFLAGS values, each ended by a NUL byte;
 *                              stdout: "ANNOUNCED JOBS" for each, one a line
 *   js_driver [-o LOG] STEP... steps on the client of $MAKEFLAGS, one output line each
 *                              (to LOG, appended, if given: a recipe's stdout is make's):
 *     connect        "connect FORM" or "connect NULL ERRNO"
 *     announced      "announced 0|1"         jobs       "jobs N"
 *     take N         "take N GOT MS": tokens taken and how long it took, in milliseconds
 *     free           "free N" (-1: cannot tell)
 *     give           "give"  (lp_js_give_back)
 *     fork-give      a forked child takes 1 and gives back: "fork-give CHILD_TOOK"
 *     wait PATH      until PATH exists (20 s at most): "wait 0|1"
 *     touch PATH     create PATH: "touch"
 *     lose           leave at once holding the tokens (_exit: the protocol's weakness)
 * At the end the client is closed (lp_js_close) and "end" written.
 */
#define _GNU_SOURCE
#include "jobserver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int parse_table(void) {
    static char buf[1 << 16];
    size_t len = 0;
    int c;
    while ((c = getchar()) != EOF) {
        if (c != '\0') {
            if (len + 1 >= sizeof buf)
                return 2;
            buf[len++] = (char)c;
            continue;
        }
        buf[len] = '\0';
        printf("%d %d\n", lp_js_announced(buf), lp_js_jobs(buf));
        len = 0;
    }
    return len == 0 ? 0 : 2;
}

static int need(int i, int argc, const char *step) {
    if (i < argc)
        return 1;
    fprintf(stderr, "js_driver: %s needs an argument\n", step);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "parse") == 0)
        return parse_table();
    FILE *out = stdout;
    int i = 1;
    if (argc > 2 && strcmp(argv[1], "-o") == 0) {
        out = fopen(argv[2], "a");
        if (!out) {
            perror(argv[2]);
            return 2;
        }
        i = 3;
    }
    const char *makeflags = getenv("MAKEFLAGS");
    lp_jobserver *js = NULL;
    int status = 0;
    for (; i < argc && status == 0; i++) {
        const char *step = argv[i];
        if (strcmp(step, "connect") == 0) {
            errno = 0;
            js = lp_js_connect(makeflags);
            if (js)
                fprintf(out, "connect %s\n", lp_js_form(js));
            else
                fprintf(out, "connect NULL %d\n", errno);
        } else if (strcmp(step, "announced") == 0) {
            fprintf(out, "announced %d\n", lp_js_announced(makeflags));
        } else if (strcmp(step, "jobs") == 0) {
            fprintf(out, "jobs %d\n", lp_js_jobs(makeflags));
        } else if (strcmp(step, "take") == 0) {
            if (!need(++i, argc, step))
                return 2;
            int n = atoi(argv[i]);
            double t0 = now_ms();
            int got = lp_js_take(js, n);
            fprintf(out, "take %d %d %.1f\n", n, got, now_ms() - t0);
        } else if (strcmp(step, "free") == 0) {
            fprintf(out, "free %d\n", lp_js_free(js));
        } else if (strcmp(step, "give") == 0) {
            lp_js_give_back(js);
            fprintf(out, "give\n");
        } else if (strcmp(step, "fork-give") == 0) {
            fflush(out);
            pid_t pid = fork();
            if (pid == 0) {
                int took = lp_js_take(js, 1);
                lp_js_give_back(js);
                _exit(took);
            }
            int st = 0;
            if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st))
                status = 1;
            fprintf(out, "fork-give %d\n", WIFEXITED(st) ? WEXITSTATUS(st) : -1);
        } else if (strcmp(step, "wait") == 0) {
            if (!need(++i, argc, step))
                return 2;
            double end = now_ms() + 20000;
            while (access(argv[i], F_OK) != 0 && now_ms() < end)
                usleep(5000);
            fprintf(out, "wait %d\n", access(argv[i], F_OK) == 0);
        } else if (strcmp(step, "touch") == 0) {
            if (!need(++i, argc, step))
                return 2;
            int fd = open(argv[i], O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd >= 0)
                close(fd);
            fprintf(out, "touch\n");
        } else if (strcmp(step, "lose") == 0) {
            fprintf(out, "lose\n");
            fflush(out);
            _exit(0);
        } else {
            fprintf(stderr, "js_driver: unknown step %s\n", step);
            status = 2;
        }
        fflush(out);
    }
    lp_js_close(js);
    fprintf(out, "end\n");
    if (out != stdout)
        fclose(out);
    return status;
}
