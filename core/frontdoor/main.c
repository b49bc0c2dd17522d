/* The `linkpool` command: the front door every build, shim and integration calls.
 *
 * It decides what an invocation is and hands over as early as it can:
 *   - a subcommand (status, init, doctor, ...) or an option: Python, by exec;
 *   - a compile or an information command (gcc -c, --version): the command, by exec;
 *   - a link: its plan (cached, or asked of Python once), then the slots, then the command,
 *     run here with signals passed on, answered like the command, recorded in the spool.
 * Whatever fails of its own before the command starts, the command still runs unchanged,
 * after one warning line (docs/launcher.md). It installs no signal handler: until the
 * command starts, a signal does to it what it would do to the command's parent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../slotclient/lpslot.h"
#include "jobserver.h"
#include "plan.h"
#include "record.h"
#include "run.h"
#include "waitline.h"

extern char **environ;

#define EX_USAGE 2
#define EX_UNAVAILABLE 69
#define EX_TEMPFAIL 75
#define LEAST_FDS 64 /* below this descriptor limit a link runs without the pool */

/* The words that are linkpool's own commands: the names of linkpool.cli's registry,
 * SUBCOMMANDS, but run, which is this program's own (tests/test_frontdoor.py holds the
 * two lists together). */
static const char *const SUBCOMMANDS[] = {
    "init", "status", "history", "stats", "trace", "report", "doctor", "config", "setup",
    "ninja", "help", NULL,
};

struct run_option {
    const char *name, *metavar, *help;
};
static const struct run_option RUN_OPTIONS[] = {
#define LP_RUN_OPTION(name, metavar, help) {name, metavar, help},
#include "run_options.def"
#undef LP_RUN_OPTION
};
#define N_RUN_OPTIONS (sizeof RUN_OPTIONS / sizeof RUN_OPTIONS[0])

static char python[PATH_MAX];   /* linkpool's interpreter (the first line of linkpool-py) */
static char script[PATH_MAX];   /* linkpool-py */
static const char *why_no_python;

static double mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double wall(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One line on stderr, "linkpool: ...", in one write; nothing if stderr is gone. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...) {
    char line[4096] = "linkpool: ";
    size_t at = strlen(line);
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line + at, sizeof line - at - 1, fmt, ap);
    va_end(ap);
    at = n < 0 ? at : at + (size_t)n >= sizeof line - 1 ? sizeof line - 2 : at + (size_t)n;
    line[at++] = '\n';
    ssize_t r;
    do
        r = write(2, line, at);
    while (r < 0 && errno == EINTR);
}

/* One line "linkpool: TEXT" of `len` bytes (which may hold a NUL), in one write. */
static void say_bytes(const char *text, size_t len) {
    char *line = malloc(len + 12);
    if (!line)
        return;
    memcpy(line, "linkpool: ", 10);
    memcpy(line + 10, text, len);
    line[10 + len] = '\n';
    ssize_t r;
    do
        r = write(2, line, len + 11);
    while (r < 0 && errno == EINTR);
    free(line);
}

/* Standard descriptors the build closed (`>&-`) get close-on-exec /dev/null placeholders:
 * no file of ours (a slot, a plan) can then become the command's stdout or stderr, and
 * the command still finds them closed. */
static void guard_stdio(void) {
    for (int fd = 0; fd < 3; fd++) {
        if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
            continue;
        int got = open("/dev/null", O_RDWR | O_CLOEXEC);
        if (got >= 0 && got != fd) {
            dup3(got, fd, O_CLOEXEC);
            close(got);
        }
    }
}

/* -- linkpool's Python ----------------------------------------------------------------- */

/* linkpool-py beside this program (through any symlink: /proc/self/exe names the file
 * itself), and the interpreter pip wrote into its first line. */
static int find_python(void) {
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) {
        why_no_python = "cannot find where linkpool is installed (/proc/self/exe)";
        return -1;
    }
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    *slash = '\0';
    if ((size_t)snprintf(script, sizeof script, "%.*s/linkpool-py", (int)(sizeof script - 16),
                         self) >= sizeof script) {
        why_no_python = "the path of the linkpool program is too long";
        return -1;
    }
    int fd = open(script, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    char first[PATH_MAX + 2];
    ssize_t got = fd < 0 ? -1 : read(fd, first, sizeof first - 1);
    if (fd >= 0)
        close(fd);
    if (got < 3 || first[0] != '#' || first[1] != '!') {
        why_no_python = "cannot find linkpool-py beside the linkpool program (reinstall linkpool)";
        return -1;
    }
    first[got] = '\0';
    first[strcspn(first, "\n")] = '\0';
    char *interp = first + 2;
    while (*interp == ' ')
        interp++;
    snprintf(python, sizeof python, "%.*s", (int)(sizeof python - 1), interp);
    if (access(python, X_OK) != 0) {
        why_no_python = "linkpool's Python is gone (reinstall linkpool)";
        return -1;
    }
    return 0;
}

/* The signals the build ignored among SIGPIPE and SIGXFSZ, which Python ignores anyway:
 * "--ign=MASK" tells linkpool-py, for a command it runs itself. */
static void ignored_mask(char *buf, size_t size) {
    unsigned long mask = 0;
    int sigs[] = {SIGPIPE, SIGXFSZ};
    for (size_t i = 0; i < 2; i++) {
        struct sigaction sa;
        if (sigaction(sigs[i], NULL, &sa) == 0 && sa.sa_handler == SIG_IGN)
            mask |= 1UL << (sigs[i] - 1);
    }
    buf[0] = '\0';
    if (mask)
        snprintf(buf, size, "--ign=%lu", mask);
}

/* PYTHON -I linkpool-py FIRST [SECOND] ARGS... (argv[1..]) */
static char **python_argv(int argc, char **argv, char *first, char *second) {
    char **v = calloc((size_t)argc + 6, sizeof *v);
    if (!v)
        return NULL;
    int n = 0;
    v[n++] = python;
    v[n++] = "-I";
    v[n++] = script;
    if (first && *first)
        v[n++] = first;
    if (second)
        v[n++] = second;
    for (int i = 1; i < argc; i++)
        v[n++] = argv[i];
    return v;
}

static char *sh_mark(void) {
    /* the build's LC_CTYPE, which Python's C-locale coercion (PEP 538) would change */
    static char mark[8192];
    const char *ctype = getenv("LC_CTYPE");
    if (!ctype)
        return "--sh";
    snprintf(mark, sizeof mark, "--sh=%s", ctype);
    return mark;
}

/* -- what the arguments are ------------------------------------------------------------ */

static int is_subcommand(const char *word) {
    if (word[0] == '-')
        return 1;
    for (const char *const *s = SUBCOMMANDS; *s; s++)
        if (!strcmp(word, *s))
            return 1;
    return 0;
}

static const struct run_option *run_option(const char *arg) {
    size_t len = strcspn(arg, "=");
    for (size_t i = 0; i < N_RUN_OPTIONS; i++)
        if (strlen(RUN_OPTIONS[i].name) == len && !strncmp(arg, RUN_OPTIONS[i].name, len))
            return &RUN_OPTIONS[i];
    return NULL;
}

/* Where the command starts in argv: after `run`'s options, or at argv[1] for the launcher
 * form; argc when there is none. As linkpool.cli.parse_run reads them (unknown options
 * are skipped here: Python says what is wrong with them). */
static int command_at(int argc, char **argv) {
    if (strcmp(argv[1], "run"))
        return 1;
    int i = 2;
    while (i < argc) {
        const char *arg = argv[i];
        if (!strcmp(arg, "--"))
            return i + 1;
        if (arg[0] != '-' || !arg[1])
            break;
        const struct run_option *o = run_option(arg);
        i += o && o->metavar && !strchr(arg, '=') ? 2 : 1;
    }
    return i < argc ? i : argc;
}

/* The basename less a version suffix and a target prefix (linkpool.names.program_name):
 * x86_64-linux-gnu-gcc-12 -> gcc. */
static const char *program_name(const char *path, char *buf, size_t size) {
    const char *base = strrchr(path, '/');
    snprintf(buf, size, "%s", base ? base + 1 : path);
    char *dash = strrchr(buf, '-');
    if (dash && dash != buf && dash[1] >= '0' && dash[1] <= '9'
        && strspn(dash + 1, "0123456789.") == strlen(dash + 1))
        *dash = '\0';
    dash = strrchr(buf, '-');
    return dash ? dash + 1 : buf;
}

static int among(const char *word, const char *const *list) {
    for (; *list; list++)
        if (!strcmp(word, *list))
            return 1;
    return 0;
}

/* Driver options whose value may be the next argument (linkpool.command._DRIVER_SEPARATE). */
static const char *const SEPARATE[] = {
    "-o", "-x", "-I", "-L", "-l", "-B", "-D", "-U", "-MF", "-MT", "-MQ", "-MJ", "-T", "-u",
    "-e", "-z", "-A", "-Xlinker", "-Xassembler", "-Xpreprocessor", "-Xclang", "-Xanalyzer",
    "-Xopenmp-target", "-Xarch_host", "-Xarch_device", "-include", "-imacros", "-include-pch",
    "-isystem", "-iquote", "-idirafter", "-iprefix", "-iwithprefix", "-iwithprefixbefore",
    "-isysroot", "-imultilib", "-iframework", "-cxx-isystem", "-ivfsoverlay", "-aux-info",
    "-wrapper", "--param", "-target", "-arch", "-dumpdir", "-dumpbase", "-dumpbase-ext",
    "--sysroot", "-F", "-mllvm", "-serialize-diagnostics", NULL,
};
static const char *const DRIVERS[] = {"gcc", "g++", "cc", "c++", "clang", "clang++", NULL};
static const char *const COMPILE_ONLY[] = {"-c", "-S", "-E", "-fsyntax-only", "--compile",
                                           "--assemble", "--preprocess", NULL};
static const char *const INFO[] = {"--version", "-dumpversion", "-dumpfullversion",
                                   "-dumpmachine", "-dumpspecs", "--help", "--target-help",
                                   "-###", NULL};

/* Whether `cmd` is certainly a gcc/clang compile or information command, which passes
 * straight through: a subset of linkpool.command's rules (what it is not sure of, Python
 * plans). A compiler launcher in front (ccache, sccache) is looked through. */
static int passes_through(char **cmd) {
    char name[256];
    const char *prog = program_name(cmd[0], name, sizeof name);
    if (!strcmp(prog, "ccache") || !strcmp(prog, "sccache")) {
        int ccache = !strcmp(prog, "ccache");
        cmd++;
        while (ccache && *cmd && (*cmd)[0] != '-' && strchr(*cmd, '=')
               && !memchr(*cmd, '/', (size_t)(strchr(*cmd, '=') - *cmd)))
            cmd++; /* ccache KEY=VALUE settings */
        if (!*cmd || (*cmd)[0] == '-')
            return 0; /* the launcher's own command: Python knows them */
        prog = program_name(cmd[0], name, sizeof name);
    }
    if (!among(prog, DRIVERS))
        return 0;
    int compile = 0, info = 0, input = 0, deps = 0, deps_too = 0;
    for (char **a = cmd + 1; *a; a++) {
        const char *arg = *a;
        if (arg[0] == '@' || !strcmp(arg, "-"))
            return 0; /* a response file, or stdin (an input under -x): Python decides */
        if (arg[0] != '-' || !arg[1]) {
            input |= arg[0] != '-' && arg[0] != '\0';
            continue;
        }
        if (among(arg, SEPARATE)) {
            if (!a[1]) {
                info = 1; /* "missing argument": the driver stops, links nothing */
                break;
            }
            input |= !strcmp(arg, "-l") || !strcmp(arg, "-Xlinker");
            a++;
            continue;
        }
        if (among(arg, COMPILE_ONLY))
            compile = 1;
        else if (among(arg, INFO) || !strncmp(arg, "-print-", 7) || !strncmp(arg, "--print-", 8)
                 || !strncmp(arg, "--help=", 7))
            info = 1;
        else if (!strcmp(arg, "-M") || !strcmp(arg, "-MM"))
            deps = 1;
        else if (!strcmp(arg, "-MD") || !strcmp(arg, "-MMD"))
            deps_too = 1;
        else if (!strncmp(arg, "-l", 2) || !strncmp(arg, "-Wl,", 4))
            input = 1;
        else if (!strncmp(arg, "--", 2) && strchr(arg, '='))
            return 0; /* --output=F, --language=C...: aliases Python expands */
    }
    return compile || info || !input || (deps && !deps_too);
}

/* -- running the command without linkpool ---------------------------------------------- */

static _Noreturn void unpooled(char **cmd, const char *why) {
    char line[4096];
    snprintf(line, sizeof line, "%s; running the command without linkpool", why);
    if (!cmd[0])
        exit(EX_USAGE);
    lp_exec(cmd, line);
}

/* Python runs this invocation the way it did before the front door: a subcommand, or a
 * link the front door leaves to it (action "python"). */
static _Noreturn void exec_python(int argc, char **argv, char **cmd) {
    char ign[32];
    ignored_mask(ign, sizeof ign);
    char **v = why_no_python ? NULL : python_argv(argc, argv, ign, sh_mark());
    if (v) {
        execv(python, v);
        why_no_python = errno == E2BIG
            ? "the command line is too long to start linkpool with it (ARG_MAX)"
            : "cannot start linkpool's Python";
    }
    if (cmd)
        unpooled(cmd, why_no_python ? why_no_python : "out of memory");
    say("%s", why_no_python ? why_no_python : "out of memory");
    exit(1);
}

/* -- asking Python for a plan ---------------------------------------------------------- */

static char *read_all(int fd, size_t *len) {
    size_t cap = 65536, got = 0;
    char *buf = malloc(cap);
    while (buf) {
        if (got == cap) {
            char *bigger = cap < LP_PLAN_MAX ? realloc(buf, cap *= 2) : NULL;
            if (!bigger) {
                free(buf);
                return NULL;
            }
            buf = bigger;
        }
        ssize_t r = read(fd, buf + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return NULL;
        }
        if (r == 0)
            break;
        got += (size_t)r;
    }
    *len = got;
    return buf;
}

/* Run `linkpool-py --plan=FD ARGS...` and read its plan. NULL, with *why set, when there
 * is none. While it runs, signals do to this process what they do to Python's (the same
 * process group): Ctrl-C ends both, Ctrl-Z stops both. */
static char *ask_python(int argc, char **argv, size_t *len, const char **why) {
    int p[2];
    if (why_no_python) {
        *why = why_no_python;
        return NULL;
    }
    if (pipe2(p, O_CLOEXEC) != 0) {
        *why = "cannot make a pipe to linkpool's Python";
        return NULL;
    }
    char mark[32];
    int wfd = p[1] < 3 ? fcntl(p[1], F_DUPFD_CLOEXEC, 3) : p[1];
    snprintf(mark, sizeof mark, "--plan=%d", wfd);
    char **v = python_argv(argc, argv, mark, NULL);
    pid_t pid = v ? fork() : -1;
    if (pid == 0) {
        fcntl(wfd, F_SETFD, 0); /* for Python to write to */
        execv(python, v);
        int e = errno;
        char word[16];
        int n = snprintf(word, sizeof word, "E%d", e);
        if (write(wfd, word, (size_t)n) < 0)
            _exit(127);
        _exit(127);
    }
    free(v);
    close(p[1]);
    if (wfd != p[1])
        close(wfd);
    if (pid < 0) {
        close(p[0]);
        *why = "cannot start linkpool's Python";
        return NULL;
    }
    char *buf = read_all(p[0], len);
    close(p[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (buf && *len > 1 && buf[0] == 'E' && *len < 16) {
        *why = atoi(buf + 1) == E2BIG
            ? "the command line is too long to start linkpool with it (ARG_MAX)"
            : "cannot start linkpool's Python";
        free(buf);
        return NULL;
    }
    if (!buf || *len == 0) {
        free(buf);
        *why = "linkpool's Python gave no plan";
        return NULL;
    }
    return buf;
}

/* -- a link, by its plan --------------------------------------------------------------- */

struct link {
    struct lp_plan *plan;
    lpslot_pool *pool;
    lpslot_lease lease;
    lp_jobserver *js;
    int tokens;       /* taken from the build's jobserver, -1: none asked */
    int threads;
    double admitted;  /* Unix time the slots were held */
    double wait_s;
    int busy;         /* other jobs were seen at admission */
    int cache;
    pid_t me;
    int said_waiting;
    char unreachable[512]; /* why the build's jobserver could not be reached, or "" */
};

static void notice(lpslot_pool *pool, long long ticket, void *ctx) {
    struct link *l = ctx;
    l->said_waiting = 1;
    char *line = malloc(LP_LINE_MAX);
    if (!line)
        return;
    int n = lp_waiting_line(pool, ticket, l->plan->weight, l->plan->pool, line, LP_LINE_MAX);
    if (n > 0)
        say_bytes(line, (size_t)n < LP_LINE_MAX ? (size_t)n : LP_LINE_MAX - 1);
    free(line);
}

/* The plan's note with "threads" and "tokens" (null when < 0) added: malloc'ed, or NULL. */
static char *with_threads(const char *note, int threads, int tokens) {
    if (!note)
        return NULL;
    size_t len = strlen(note);
    char *out = malloc(len + 64);
    if (!out || len < 2 || note[len - 1] != '}') {
        free(out);
        return NULL;
    }
    char t[16] = "null", k[16] = "null";
    if (threads > 0)
        snprintf(t, sizeof t, "%d", threads);
    if (tokens >= 0)
        snprintf(k, sizeof k, "%d", tokens);
    snprintf(out, len + 64, "%.*s%s\"threads\":%s,\"tokens\":%s}", (int)(len - 1), note,
             len > 2 ? "," : "", t, k);
    return out;
}

/* Why the build's jobserver could not be reached, as the jobserver plugin says it. */
static void unreachable(char *buf, size_t size) {
    const char *flags = getenv("MAKEFLAGS"), *auth = NULL;
    char word[256] = "";
    for (const char *p = flags; p && *p;) {
        while (*p == ' ')
            p++;
        size_t n = strcspn(p, " ");
        if (n == 2 && !strncmp(p, "--", 2))
            break;
        if (!strncmp(p, "--jobserver-auth=", 17) || !strncmp(p, "--jobserver-fds=", 16)) {
            auth = strchr(p, '=') + 1;
            snprintf(word, sizeof word, "%.*s", (int)(n - (size_t)(auth - p)), auth);
        }
        p += n;
    }
    if (!auth)
        snprintf(buf, size, "unreachable: no jobserver");
    else if (!strncmp(word, "fifo:", 5))
        snprintf(buf, size, "unreachable: %s: %s", word + 5, strerror(errno));
    else if (errno == EBADF)
        snprintf(buf, size, "unreachable: descriptors %s are closed (a recipe without +?)", word);
    else
        snprintf(buf, size, "unreachable: descriptors %s are not make's pipe (a recipe "
                 "without +?)", word);
}

static int others_seen(struct link *l) {
    lpslot_status st;
    if (lpslot_look(l->pool, &st) != 0)
        return 1; /* not known to be alone */
    return st.in_use > l->lease.count || st.waiting > 0;
}

static void give_back(void *ctx) {
    struct link *l = ctx;
    if (l->js) {
        lp_js_give_back(l->js);
        lp_js_close(l->js);
        l->js = NULL;
    }
}

#define NUM(fmt, ...) \
    do { \
        int n_ = snprintf(buf + at, size > at ? size - at : 0, fmt, __VA_ARGS__); \
        at += n_ > 0 ? (size_t)n_ : 0; \
    } while (0)

static void record(const struct lp_usage *u, void *ctx, int busy) {
    struct link *l = ctx;
    if (l->cache < 0 || !l->plan->record)
        return;
    size_t size = strlen(l->plan->record) + 6 * strlen(l->plan->pool) + 2048
        + 12 * (size_t)l->lease.count;
    char *buf = malloc(size);
    if (!buf)
        return;
    size_t at = 0;
    NUM("%s", "{\"v\":1,\"pool\":");
    lp_json_string(buf, size, &at, l->plan->pool);
    NUM(",\"job\":%s,\"time\":%.3f,\"admitted\":%.6f,\"slots\":[", l->plan->record,
        l->admitted + u->run_s + u->tail_s, l->admitted);
    for (int i = 0; i < l->lease.count; i++)
        NUM("%s%d", i ? "," : "", l->lease.slots[i]);
    NUM("],\"weight\":%d,\"threads\":", l->lease.count);
    if (l->threads > 0)
        NUM("%d", l->threads);
    else
        NUM("%s", "null");
    NUM("%s", ",\"tokens\":");
    if (l->tokens >= 0)
        NUM("%d", l->tokens);
    else
        NUM("%s", "null");
    NUM(",\"wait_s\":%.6f,\"run_s\":%.6f,\"tail_s\":%.6f,\"cpu_s\":%.6f,\"max_rss_kb\":%ld,"
        "\"anon_peak_kb\":%ld,\"exit\":%d,\"busy\":%s,\"pid\":%d}\n",
        l->wait_s, u->run_s, u->tail_s, u->cpu_s, u->max_rss_kb, u->anon_peak_kb, u->code,
        busy ? "true" : "false", (int)l->me);
    if (at < size)
        lp_spool(l->cache, buf, at);
    free(buf);
}

/* What tuning added to the job's record for n slots and t threads (the plan's "tuned"
 * members), or NULL. */
static const char *tuned_members(const struct lp_plan *plan, int n, int t) {
    for (int i = 0; i < plan->ntuned; i++) {
        int pn, pt, at = 0;
        if (sscanf(plan->tuned[i], "%d %d %n", &pn, &pt, &at) == 2 && at && pn == n
            && pt == (t > 0 ? t : 0))
            return plan->tuned[i] + at;
    }
    return NULL;
}

/* The job's record in the pool's history, as the history plugin's after_link writes it:
 * the plan's part (output, cwd, kind, linker, estimate, command, extra) and what was
 * measured here. */
static void history(const struct lp_usage *u, void *ctx, int busy, int shared) {
    struct link *l = ctx;
    if (!l->plan->history)
        return;
    /* what tuning added, for a jobserver that was reached; else why it was not */
    const char *tuned = l->unreachable[0] ? NULL
        : tuned_members(l->plan, l->lease.count, l->threads);
    size_t size = strlen(l->plan->history) + (tuned ? strlen(tuned) : 0) + 2048
        + 12 * (size_t)l->lease.count;
    char *buf = malloc(size);
    if (!buf)
        return;
    size_t at = 0;
    int code = u->code < 0 ? 128 - u->code : u->code; /* a shell's: 128 + N for signal N */
    NUM("{\"time\":%.3f,%s,\"weight\":%d,\"threads\":", l->admitted + u->run_s + u->tail_s,
        l->plan->history, l->lease.count);
    if (l->threads > 0)
        NUM("%d", l->threads);
    else
        NUM("%s", "null");
    NUM(",\"wait_s\":%.6f,\"run_s\":%.6f,\"tail_s\":%.6f,\"exit\":%d,\"max_rss_kb\":%ld,"
        "\"anon_peak_kb\":%ld,\"cpu_s\":%.6f,\"slots\":[", l->wait_s, u->run_s, u->tail_s, code,
        u->max_rss_kb, u->anon_peak_kb, u->cpu_s);
    for (int i = 0; i < l->lease.count; i++)
        NUM("%s%d", i ? "," : "", l->lease.slots[i]);
    NUM("],\"admitted\":%.6f", l->admitted);
    if (tuned)
        NUM(",%s", tuned);
    if (l->unreachable[0]) {
        NUM("%s", ",\"jobserver\":");
        lp_json_string(buf, size, &at, l->unreachable);
    }
    if (l->tokens >= 0)
        NUM(",\"tokens\":%d", l->tokens);
    if (l->plan->met)
        NUM(",\"met\":%s", busy ? "true" : "false");
    NUM("%s", "}\n");
    if (at < size) {
        lp_history_append(l->plan->pool, shared, buf, at);
        if (l->plan->output)
            lp_history_remember(l->plan->pool, shared, l->plan->output, buf, at - 1);
    }
    free(buf);
}

static void done(const struct lp_usage *u, void *ctx) {
    struct link *l = ctx;
    lpslot_status st;
    int looked = lpslot_look(l->pool, &st) == 0;
    int busy = l->busy || !looked || st.in_use > l->lease.count || st.waiting > 0;
    history(u, ctx, busy, looked ? st.shared : 0);
    record(u, ctx, busy);
}

/* The environment with LINKPOOL_HELD=pool: in place of one there was, else at the end
 * (as Python's dict(os.environ, LINKPOOL_HELD=...) orders it). */
static char **held_env(const char *pool) {
    size_t n = 0;
    while (environ && environ[n])
        n++;
    char **env = calloc(n + 2, sizeof *env);
    size_t len = strlen(pool) + sizeof "LINKPOOL_HELD=";
    char *held = malloc(len);
    if (!env || !held) {
        free(env);
        free(held);
        return NULL;
    }
    snprintf(held, len, "LINKPOOL_HELD=%s", pool);
    int placed = 0;
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(environ[i], "LINKPOOL_HELD=", 14)) {
            if (!placed)
                env[i - (size_t)placed] = held;
            placed = 1;
            continue;
        }
        env[i] = environ[i];
    }
    if (!placed)
        env[n] = held;
    return env;
}

/* The pool failed under a planned link: say so as Python's engine does, then run the
 * command without the pool, or (strict) do not run it. */
static _Noreturn void pool_failed(const struct lp_plan *plan, char **cmd, int err) {
    char what[8192];
    const char *path = plan->pool;
    /* where the pool's path came from, after its first mention, as Python's
     * settings.about_pool says it: "pool /x (from $LINKPOOL_DIR) has no pool.json" */
    const char *src = plan->pool_source ? plan->pool_source : "";
    const char *from = *src ? " (from " : "", *end = *src ? ")" : "";
    if (err == ENOENT)
        snprintf(what, sizeof what, "pool %s%s%s%s has no pool.json; run `linkpool init "
                 "--pool %s`", path, from, src, end, path);
    else if (err == EBADMSG && *src)
        snprintf(what, sizeof what, "pool %s (from %s): %s/pool.json is corrupt; repair it "
                 "with `linkpool init --pool %s --slots N`", path, src, path, path);
    else if (err == EBADMSG)
        snprintf(what, sizeof what, "%s/pool.json is corrupt; repair it with `linkpool init "
                 "--pool %s --slots N`", path, path);
    else if (err == EPROTONOSUPPORT)
        snprintf(what, sizeof what, "pool %s%s%s%s uses a protocol newer than this linkpool "
                 "(1); upgrade linkpool", path, from, src, end);
    else
        snprintf(what, sizeof what, "cannot use pool %s%s%s%s: %s", path, from, src, end,
                 strerror(err));
    if (plan->strict) {
        say("%s (strict mode: the command was not run)", what);
        exit(EX_UNAVAILABLE);
    }
    char why[8300];
    snprintf(why, sizeof why, "%s; running the command without the pool", what);
    lp_exec(cmd, why);
}

/* Act on a run plan. Returns only when a stored plan's pool cannot be opened (it may be
 * gone: the caller asks Python, whose first link makes a default pool again). */
static void run_plan(struct lp_plan *plan, int argc, char **argv, char **cmd, int cache,
                     int fresh) {
    struct link l = {.plan = plan, .tokens = -1, .cache = cache, .me = getpid()};
    int err;
    l.pool = lpslot_open(plan->pool, &err);
    if (!l.pool) {
        if (!fresh)
            return;
        pool_failed(plan, cmd, err);
    }
    if (plan->jobserver && !(l.js = lp_js_connect(getenv("MAKEFLAGS"))))
        unreachable(l.unreachable, sizeof l.unreachable);
    lpslot_options opt = {
        .more = plan->weight_max - plan->weight,
        .notice_after = plan->quiet ? -1.0 : 1.0,
        .notice = notice,
        .ctx = &l,
    };
    char *note = with_threads(plan->note, -1, -1);
    double start = mono();
    int e = lpslot_acquire_ex(l.pool, plan->weight, plan->timeout, note ? note : plan->note,
                              plan->polling ? LPSLOT_POLLING : 0, &opt, &l.lease);
    if (e == ETIMEDOUT) {
        say("gave up after %g s waiting for %d slot(s) of %s (--timeout); the command was "
            "not run", plan->timeout, plan->weight, plan->pool);
        exit(EX_TEMPFAIL);
    }
    if (e) {
        give_back(&l);
        if (e == ENOENT) /* the pool went away while we waited: Python would make it again */
            pool_failed(plan, cmd, e);
        exec_python(argc, argv, cmd); /* a hostile slot...: Python names it, and runs it */
    }
    l.wait_s = mono() - start;
    l.admitted = wall();
    l.busy = others_seen(&l);
    int n = l.lease.count;
    const struct lp_variant *v = lp_plan_variant(plan, n, -1);
    if (!v)
        v = lp_plan_variant(plan, plan->weight, -1);
    if (l.js) {
        int want = 0; /* no js_want for n: no tokens (the jobserver plugin is off) */
        for (int i = 0; i < plan->njs_want; i++)
            if (plan->js_want[i][0] == n)
                want = plan->js_want[i][1];
        l.tokens = want > 1 ? lp_js_take(l.js, want - 1) : 0;
        if (!plan->js_fixed && v->t > 1 + l.tokens) {
            const struct lp_variant *fewer = lp_plan_variant(plan, n, 1 + l.tokens);
            if (fewer)
                v = fewer;
        }
    }
    l.threads = v->t;
    free(note);
    if (l.threads > 0 || l.tokens >= 0) { /* what status shows of this job */
        note = with_threads(plan->note, l.threads, l.tokens);
        if (note)
            lpslot_update_note(&l.lease, note);
        free(note);
    }
    if (l.said_waiting) {
        char *line = malloc(LP_LINE_MAX);
        int len = line ? lp_got_line(n, l.lease.waited, plan->label ? plan->label : v->argv[0],
                                     line, LP_LINE_MAX) : 0;
        if (len > 0)
            say_bytes(line, (size_t)len < LP_LINE_MAX ? (size_t)len : LP_LINE_MAX - 1);
        free(line);
    }
    char **env = held_env(plan->pool);
    struct lp_job job = {
        .argv = v->argv,
        .envp = env ? env : environ,
        .fds = l.lease.fds, /* moved above the descriptor limit in place: the lease follows */
        .nfds = n,
        .forking = plan->forking,
        .at_end = give_back,
        .done = done,
        .ctx = &l,
    };
    lp_run(&job);
}

/* Act on a plan; returns only for a stored run plan whose pool cannot be opened. */
static void act(struct lp_plan *plan, int argc, char **argv, char **cmd, int cache, int fresh) {
    switch (plan->action) {
    case LP_NONE:
        break;
    case LP_EXIT:
        exit(plan->status);
    case LP_EXEC:
        lp_exec(plan->cmd, NULL);
    case LP_PYTHON:
        exec_python(argc, argv, cmd);
    case LP_RUN:
        run_plan(plan, argc, argv, cmd, cache, fresh);
        return;
    }
    exec_python(argc, argv, cmd);
}

/* -- as a linker shim -------------------------------------------------------------------- */

/* A directory of linker shims (`linkpool setup shims`) holds symlinks named ld, ld.bfd,
 * ld.gold, ld.lld and ld.mold to this program, and this file: a comment line, then
 * "pool=DIR" (the pool the shims' links wait in, if one was given) and "NAME=PATH" lines
 * (the linker each name found when the shims were written). docs/shims.md. */
#define SHIM_FILE ".linkpool-shims"
#define SHIM_FILE_MAX 65536

struct shims {
    char text[SHIM_FILE_MAX + 1];
    int have;
};

/* Whether `name` is a linker's name a gcc/clang driver looks up: ld, ld.NAME. */
static int linker_name(const char *name) {
    return !strcmp(name, "ld") || (!strncmp(name, "ld.", 3) && name[3]);
}

/* The shim file of `dir`, read without following a symlink or blocking on a FIFO. */
static void read_shims(const char *dir, struct shims *s) {
    char path[PATH_MAX];
    s->have = 0;
    if ((size_t)snprintf(path, sizeof path, "%s/" SHIM_FILE, dir) >= sizeof path)
        return;
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return;
    struct stat st;
    ssize_t got = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
        got = read(fd, s->text, SHIM_FILE_MAX);
    close(fd);
    if (got < 0)
        return;
    s->text[got] = '\0';
    s->have = 1;
}

/* The value of "KEY=" in the shim file, as a new string; NULL when it has none. */
static char *shim_value(const struct shims *s, const char *key) {
    if (!s->have)
        return NULL;
    size_t klen = strlen(key);
    for (const char *line = s->text; *line;) {
        size_t len = strcspn(line, "\n");
        if (len > klen && !strncmp(line, key, klen) && line[klen] == '=')
            return strndup(line + klen + 1, len - klen - 1);
        line += len + (line[len] == '\n');
    }
    return NULL;
}

/* Whether `dir` is a shim directory (of this or another linkpool). */
static int is_shim_dir(const char *dir, size_t len) {
    char path[PATH_MAX];
    if ((size_t)snprintf(path, sizeof path, "%.*s/" SHIM_FILE, (int)len, dir) >= sizeof path)
        return 0;
    struct stat st;
    return lstat(path, &st) == 0;
}

/* The first `name` in the directories of `list` (':'-separated) that is an executable
 * file, neither this program nor in a shim directory: what the driver would have run had
 * the shims not been there. */
static char *search_linker(const char *list, const char *name, const struct stat *self) {
    while (list && *list) {
        size_t len = strcspn(list, ":");
        const char *dir = list;
        list += len + (list[len] == ':');
        if (!len)
            continue; /* an empty entry: the driver does not look in the cwd for a linker */
        char path[PATH_MAX];
        if ((size_t)snprintf(path, sizeof path, "%.*s%s%s", (int)len, dir,
                             dir[len - 1] == '/' ? "" : "/", name) >= sizeof path)
            continue;
        struct stat st;
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode) || access(path, X_OK) != 0)
            continue;
        if ((st.st_dev == self->st_dev && st.st_ino == self->st_ino) || is_shim_dir(dir, len))
            continue; /* a shim: running it would run linkpool again */
        return strdup(path);
    }
    return NULL;
}

/* Called as a linker shim (argv[0] is ld or ld.NAME): the argv of
 * `linkpool run [--pool DIR] -- REAL-LINKER ARGS...`, with the real linker found where
 * the driver looks after the shims (the rest of COMPILER_PATH, then PATH), else where
 * it was when the shims were written. NULL when not called as a shim. */
static char **as_shim(int *argc, char **argv) {
    const char *slash = strrchr(argv[0], '/');
    const char *name = slash ? slash + 1 : argv[0];
    if (!linker_name(name))
        return NULL;
    static struct shims s;
    if (slash) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%.*s", (int)(slash - argv[0]) ? (int)(slash - argv[0]) : 1,
                 argv[0]);
        read_shims(dir, &s);
    }
    struct stat self;
    if (stat("/proc/self/exe", &self) != 0)
        memset(&self, 0, sizeof self);
    char *real = search_linker(getenv("COMPILER_PATH"), name, &self);
    if (!real)
        real = search_linker(getenv("PATH"), name, &self);
    if (!real) {
        char *then = shim_value(&s, name);
        struct stat st;
        if (then && then[0] == '/' && stat(then, &st) == 0 && S_ISREG(st.st_mode)
            && access(then, X_OK) == 0 && !(st.st_dev == self.st_dev && st.st_ino == self.st_ino))
            real = then;
        else
            free(then);
    }
    if (!real) {
        say("no %s to run: none in COMPILER_PATH or PATH but linkpool's shims (%s); install "
            "the linker, or take the shims out of COMPILER_PATH", name, argv[0]);
        exit(127);
    }
    char *pool = shim_value(&s, "pool");
    char **v = calloc((size_t)*argc + 6, sizeof *v);
    if (!v) {
        argv[0] = real;
        lp_exec(argv, "out of memory");
    }
    int n = 0;
    v[n++] = "linkpool";
    v[n++] = "run";
    if (pool && pool[0]) {
        v[n++] = "--pool";
        v[n++] = pool;
    }
    v[n++] = "--";
    v[n++] = real;
    for (int i = 1; i < *argc; i++)
        v[n++] = argv[i];
    *argc = n;
    return v;
}

/* A jobserver announced now and when planned: the plan is for the same kind of build. */
static int same_build(const struct lp_plan *plan) {
    return plan->jobserver == lp_js_announced(getenv("MAKEFLAGS"));
}

int main(int argc, char **argv) {
    guard_stdio();
    find_python();
    char **shim = as_shim(&argc, argv);
    if (shim)
        argv = shim;
    if (argc < 2 || is_subcommand(argv[1]))
        exec_python(argc, argv, NULL);
    int at = command_at(argc, argv);
    char **cmd = argv + at;
    /* run's options are Python's to judge (a bad one is a usage error, even for a
     * compile): only a command given without any passes through here */
    int bare = strcmp(argv[1], "run") || at == 2 || (at == 3 && !strcmp(argv[2], "--"));
    if (bare && at < argc && argv[at][0] && passes_through(cmd))
        lp_exec(cmd, NULL);
    struct rlimit nofile;
    if (at < argc && getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < LEAST_FDS)
        unpooled(cmd, "the descriptor limit (ulimit -n) is below 64");

    char *key = NULL, name[17];
    size_t keylen = 0, len;
    int cache = lp_cache_dir(); /* the spool's too: a link without a key is recorded */
    struct lp_plan plan;
    struct lp_volatile temps[LP_MAX_VOLATILE]; /* a driver's temporary names: found once */
    int ntemps = lp_volatile(argc, argv, temps, LP_MAX_VOLATILE);
    if (lp_plan_key(argc, argv, temps, ntemps, &key, &keylen) == 0 && cache >= 0) {
        lp_plan_name(key, keylen, name);
        char *buf = lp_cache_read(cache, name, &len);
        if (buf && lp_plan_parse(buf, len, key, keylen, 0, &plan) == 0) {
            lp_plan_fill(buf, len, argv, temps, ntemps); /* this run's temporary names */
            if (plan.once)
                lp_cache_forget(cache, name);
            if (same_build(&plan))
                act(&plan, argc, argv, cmd, cache, 0);
            lp_plan_free(&plan);
        }
    }
    const char *why = NULL;
    char *buf = ask_python(argc, argv, &len, &why);
    if (cache < 0)
        cache = lp_cache_dir(); /* Python makes it on a first link */
    if (buf && lp_plan_parse(buf, len, key, keylen, 1, &plan) == 0) {
        lp_plan_fill(buf, len, argv, temps, ntemps);
        act(&plan, argc, argv, cmd, cache, 1);
        exit(1); /* not reached: a fresh plan is always acted on */
    }
    if (!why)
        why = "linkpool's Python gave a plan the front door cannot read";
    if (at >= argc)
        exit(EX_USAGE);
    unpooled(cmd, why);
}
