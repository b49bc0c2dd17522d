/* run: the front door's runner (see run.h), the C port of core/process.py.
 *
 * One function per step, as in process.py:
 *   lift          - the slot descriptors above the soft RLIMIT_NOFILE (engine.lift)
 *   spawn_*       - fork + execvpe; in the child the build's mask and SIGCHLD action back
 *   sentinel_*    - tells a signal sent to the whole process group from one sent to the
 *                   front door alone (process._Sentinel)
 *   forward       - pass a signal on once; stop with the command (process._forward)
 *   sampler_*     - the sampled peak of anonymous memory (process._Sampler)
 *   run_plain     - wait for the command, passing signals on (process.run)
 *   run_forking   - a bookkeeper spawns the command and outlives the answer
 *                   (process.run_forking, _bookkeeper, _reap_first, _reap_the_rest)
 * Signal masks and waits use the raw system calls: glibc hides its own signals 32 and 33
 * from sigprocmask, sigaddset and sigwaitinfo, and the command must get the mask the
 * build set, those two included (posix_spawn is not used for the same reason: it leaves
 * them ignored in the child). No signal handler: the signals are blocked before the
 * fork and taken with rt_sigtimedwait, so none is lost between the fork and the wait.
 * Its timeout is the sampler's clock (process.py needs an itimer only because CPython's
 * sigtimedwait returns an uninitialised siginfo when a stop and continue interrupts it
 * past its deadline; the system call itself returns EINTR, a spurious wake-up here).
 */
#define _GNU_SOURCE
#include "run.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KSIGS 64              /* the kernel's signals: 1..64 */
#define SAMPLE_FIRST 0.005    /* the sampler's first interval, growing by half ... */
#define SAMPLE_MAX 0.05       /* ... up to this: ~0.2 % of a core on a long link */
#define SAMPLE_PROCS 256      /* processes read per sample at most */
#define KEEPER_PATIENCE 1.0   /* the front door re-reads the bookkeeper's pipe this often */
#define EARLY_MAX 64          /* signals kept until the command's pid is known */
#define HELD "LINKPOOL_HELD="

/* -- signal sets: the kernel's own, 64 bits ------------------------------------------- */

#define WORD_BITS (CHAR_BIT * sizeof(unsigned long))
typedef struct {
    unsigned long w[KSIGS / WORD_BITS];
} ksigset;
_Static_assert(sizeof(ksigset) * CHAR_BIT == KSIGS, "the kernel's sigset_t is 64 bits");

static void ks_add(ksigset *s, int sig) {
    unsigned bit = (unsigned)sig - 1;
    s->w[bit / WORD_BITS] |= 1UL << (bit % WORD_BITS);
}

static int ks_mask(int how, const ksigset *set, ksigset *old) {
    return (int)syscall(SYS_rt_sigprocmask, how, set, old, sizeof(ksigset));
}

/* The next signal of `set` (blocked), or -1: EAGAIN after timeout_s, EINTR. */
static int ks_wait(const ksigset *set, siginfo_t *info, double timeout_s) {
    struct timespec ts;
    ts.tv_sec = (time_t)timeout_s;
    ts.tv_nsec = (long)((timeout_s - (double)ts.tv_sec) * 1e9);
    return (int)syscall(SYS_rt_sigtimedwait, set, info, &ts, sizeof(ksigset));
}

/* Signals the kernel raises for a fault of the process itself: never blocked (a blocked
 * one would kill without the sanitizers' report) nor passed on, as in process.FORWARD. */
static int is_fault(int sig) {
    return sig == SIGILL || sig == SIGTRAP || sig == SIGBUS || sig == SIGFPE ||
           sig == SIGSEGV || sig == SIGSYS;
}

/* Signals whose default action dumps core (process.CORE_SIGNALS). */
static int dumps_core(int sig) {
    return is_fault(sig) || sig == SIGQUIT || sig == SIGABRT || sig == SIGXCPU ||
           sig == SIGXFSZ;
}

static int is_stop(int sig) {
    return sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU;
}

/* -- the state of the one job of this process --------------------------------------- */

static ksigset waited;     /* every signal but the faults: blocked while the command runs */
static ksigset build_mask; /* the mask the front door was started with: the command's */
static struct sigaction build_chld; /* the build's SIGCHLD action, if it had to change */
static int chld_changed;
static pid_t sentinel_pid;
static int sentinel_fd = -1;
static pid_t sentinel_dying; /* killed, to be reaped just before the answer */

static double now_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double seconds(struct timeval tv) {
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* One line on stderr from up to five pieces (NULL ends them early), in one write: a
 * build's log interleaves whole lines. */
static void say(const char *a, const char *b, const char *c, const char *d, const char *e) {
    const char *piece[5] = {a, b, c, d, e};
    struct iovec v[5];
    int n = 0;
    while (n < 5 && piece[n]) {
        v[n].iov_base = (char *)piece[n];
        v[n].iov_len = strlen(piece[n]);
        n++;
    }
    ssize_t r = writev(2, v, n);
    (void)r; /* nowhere to say that saying failed */
}

static void say_cannot_run(const char *name, int err) {
    say("linkpool: cannot run ", *name ? name : "''", ": ", strerror(err), "\n");
}

/* A shell's status for a command that could not be run. */
static int status_for(int err) {
    return err == ENOENT || err == ENOTDIR ? 127 : 126;
}

/* os.waitstatus_to_exitcode: the exit status, or -N for death by signal N. */
static int code_of(int status) {
    return WIFSIGNALED(status) ? -WTERMSIG(status) : WEXITSTATUS(status);
}

static const char *name_of(const struct lp_job *job) {
    return job->argv && job->argv[0] ? job->argv[0] : "";
}

static void reap(pid_t pid) {
    while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
        continue;
}

/* -- descriptors ----------------------------------------------------------------------- */

/* engine.lift: move the slots to numbers at or above the soft RLIMIT_NOFILE (raised for
 * the moment, as far as the hard limit allows), so the command has every descriptor
 * below its limit it would have bare: a slot at 3 under `ulimit -n 64` would make its
 * 62nd open fail. Where the hard limit leaves no room they stay where they are. */
static void lift(int *fds, int n) {
    struct rlimit was;
    if (n <= 0 || getrlimit(RLIMIT_NOFILE, &was) < 0 || was.rlim_cur == RLIM_INFINITY ||
        was.rlim_cur > (rlim_t)(INT_MAX - n) ||
        (was.rlim_max != RLIM_INFINITY && was.rlim_max < was.rlim_cur + (rlim_t)n))
        return;
    struct rlimit raised = {was.rlim_cur + (rlim_t)n, was.rlim_max};
    if (setrlimit(RLIMIT_NOFILE, &raised) < 0) /* above the kernel's nr_open */
        return;
    for (int i = 0; i < n; i++) {
        int high = fcntl(fds[i], F_DUPFD_CLOEXEC, (int)was.rlim_cur);
        if (high < 0)
            break; /* those not moved stay where they are */
        close(fds[i]); /* the lock stays: it belongs to the open file, which `high` keeps */
        fds[i] = high;
    }
    setrlimit(RLIMIT_NOFILE, &was);
}

/* process.let_go: unlock the slots for every process that shares them (a flock belongs
 * to the open file description): what the link left running no longer holds them. */
static void let_go(const struct lp_job *job) {
    for (int i = 0; i < job->nfds; i++)
        flock(job->fds[i], LOCK_UN);
}

/* Close every descriptor from `low` up, however high (the slots sit above the limit). */
static void close_from(int low) {
#ifdef SYS_close_range
    if (syscall(SYS_close_range, (unsigned)low, ~0U, 0) == 0)
        return;
#endif
    DIR *d = opendir("/proc/self/fd"); /* kernels before 5.9 */
    if (!d)
        return;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        int fd = atoi(e->d_name);
        if (fd >= low && fd != dirfd(d))
            close(fd);
    }
    closedir(d);
}

/* -- spawn ------------------------------------------------------------------------------- */

/* In the command's process: the build's SIGCHLD action and signal mask back (dispositions
 * were never changed otherwise: exec resets nothing else the build set), then execvpe.
 * If the exec fails its errno goes to the parent on `errfd`, whose close-on-exec says
 * success. E2BIG with LINKPOOL_HELD: the marker made the environment too big; run the
 * command as it came (a nested linkpool then waits for slots of its own). */
static _Noreturn void become(char *const *argv, char *const *envp, int errfd) {
    if (chld_changed)
        sigaction(SIGCHLD, &build_chld, NULL);
    ks_mask(SIG_SETMASK, &build_mask, NULL);
    execvpe(argv[0], argv, envp);
    int err = errno;
    if (err == E2BIG) {
        size_t n = 0, kept = 0;
        while (envp[n])
            n++;
        char **fewer = malloc((n + 1) * sizeof *fewer); /* a forked copy: nothing to free */
        if (fewer) {
            for (size_t i = 0; i < n; i++)
                if (strncmp(envp[i], HELD, sizeof HELD - 1) != 0)
                    fewer[kept++] = envp[i];
            fewer[kept] = NULL;
            if (kept < n) {
                execvpe(argv[0], argv, fewer);
                err = errno;
            }
        }
    }
    ssize_t w = write(errfd, &err, sizeof err);
    (void)w; /* the parent then takes the command for started, and sees it exit 127 */
    _exit(127);
}

/* Fork the command. Returns its pid and in *errfd the pipe spawn_result reads, or -1
 * with *err (ENOENT for an empty name, as a shell says it). */
static pid_t spawn_start(const struct lp_job *job, int *errfd, int *err) {
    if (!*name_of(job)) {
        *err = ENOENT;
        return -1;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) {
        *err = errno;
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(p[0]);
        become(job->argv, job->envp ? job->envp : environ, p[1]);
    }
    *err = errno;
    close(p[1]);
    if (pid < 0)
        close(p[0]);
    else
        *errfd = p[0];
    return pid;
}

/* 0 once the command runs (the exec closed the pipe), or the errno of its exec (its
 * process then reaped). */
static int spawn_result(pid_t pid, int errfd) {
    int err = 0;
    ssize_t got;
    do
        got = read(errfd, &err, sizeof err);
    while (got < 0 && errno == EINTR);
    close(errfd);
    if (got != (ssize_t)sizeof err || err == 0)
        return 0;
    reap(pid);
    return err;
}

/* -- the sentinel ----------------------------------------------------------------------- */

/* siginfo cannot tell kill(pid) from kill(-pgid) (both SI_USER). The sentinel is a
 * process forked into the front door's group that blocks every signal and never takes
 * one: a signal pending in it went to the whole group, and so reached the command
 * already. The kernel signals a group's members newest first, so its pending set is
 * written before the front door wakes. It holds nothing but its pipe, whose EOF (the
 * front door's death) ends it; SIGKILL ends it before the answer. */
static void sentinel_start(void) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return;
    pid_t pid = fork();
    if (pid == 0) {
        ksigset all;
        memset(&all, 0xff, sizeof all);
        ks_mask(SIG_SETMASK, &all, NULL); /* (the forwarded ones were blocked already) */
        close(p[1]); /* even if close_from cannot: its EOF must come */
        if (p[0] != 0)
            dup2(p[0], 0); /* the build's stdin goes: fd 0 is all it keeps */
        close_from(1);     /* the slots, the build's stdout and stderr, the other pipes */
        char c;
        ssize_t n;
        while ((n = read(0, &c, 1)) != 0 && (n > 0 || errno == EINTR))
            continue;
        _exit(0);
    }
    close(p[0]);
    if (pid < 0) {
        close(p[1]);
        return; /* none: every signal counts as the front door's alone */
    }
    sentinel_pid = pid;
    sentinel_fd = p[1];
}

/* Kill the sentinel; sentinel_reap waits for its end. Its death takes 0.2-0.3 ms (2
 * cores): the front door does the rest of its work meanwhile. */
static void sentinel_stop(void) {
    if (sentinel_pid <= 0)
        return;
    kill(sentinel_pid, SIGKILL);
    close(sentinel_fd);
    sentinel_dying = sentinel_pid;
    sentinel_pid = 0;
    sentinel_fd = -1;
}

/* Nothing of the watch outlives the answer. */
static void sentinel_reap(void) {
    reap(sentinel_dying);
    sentinel_dying = 0;
}

/* A pending signal cannot be taken back: a fresh sentinel after each group signal. The
 * new one is forked before the old one ends, so that one is always there. */
static void sentinel_renew(void) {
    pid_t old = sentinel_pid;
    int old_fd = sentinel_fd;
    sentinel_pid = 0;
    sentinel_fd = -1;
    sentinel_start();
    if (old > 0) {
        kill(old, SIGKILL);
        close(old_fd);
        reap(old);
    }
}

static ssize_t read_file(const char *path, char *buf, size_t size) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t have = 0;
    while (have < size - 1) {
        ssize_t got = read(fd, buf + have, size - 1 - have);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        have += (size_t)got;
    }
    close(fd);
    buf[have] = '\0';
    return (ssize_t)have;
}

/* Whether `sig` is pending in the sentinel: it went to the whole group. */
static int sentinel_has(int sig) {
    char path[64], buf[4096];
    if (!sentinel_pid)
        return 0;
    snprintf(path, sizeof path, "/proc/%d/status", (int)sentinel_pid);
    if (read_file(path, buf, sizeof buf) <= 0)
        return 0;
    static const char *const lines[] = {"\nShdPnd:", "\nSigPnd:"};
    for (int i = 0; i < 2; i++) {
        const char *at = strstr(buf, lines[i]);
        if (at && strtoull(at + strlen(lines[i]), NULL, 16) >> (sig - 1) & 1)
            return 1;
    }
    return 0;
}

/* -- signals ----------------------------------------------------------------------------- */

/* Block every signal but the faults, to take them with ks_wait: none is lost between
 * the fork and the wait. An ignored SIGCHLD (or SA_NOCLDWAIT) would have the kernel reap
 * the command, its status lost: default for the front door, the build's for the command. */
static void block_signals(void) {
    memset(&waited, 0, sizeof waited);
    for (int sig = 1; sig <= KSIGS; sig++)
        if (sig != SIGKILL && sig != SIGSTOP && !is_fault(sig))
            ks_add(&waited, sig);
    ks_mask(SIG_BLOCK, &waited, &build_mask);
    if (sigaction(SIGCHLD, NULL, &build_chld) == 0 &&
        (build_chld.sa_handler == SIG_IGN || (build_chld.sa_flags & SA_NOCLDWAIT))) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        sigemptyset(&dfl.sa_mask);
        chld_changed = sigaction(SIGCHLD, &dfl, NULL) == 0;
    }
}

/* Whether `info` is news of the kernel's about our own processes or pipe (a child's end,
 * the bookkeeper's pipe ready), rather than a signal someone sent. */
static int is_ours(const siginfo_t *info) {
    return (info->si_signo == SIGCHLD || info->si_signo == SIGIO) && info->si_code > 0 &&
           info->si_code != SI_KERNEL;
}

/* Stop as the command did, by the same signal (the caller's wait sees that one); not at
 * all where it would not stop (ignored, an orphaned group). Delivered before kill
 * returns; the front door runs on at SIGCONT. */
static void stop_as(int sig) {
    ksigset one;
    memset(&one, 0, sizeof one);
    ks_add(&one, sig);
    ks_mask(SIG_UNBLOCK, &one, NULL);
    kill(getpid(), sig);
    ks_mask(SIG_BLOCK, &one, NULL);
}

/* Pass `info`'s signal on to `pid`, unless it was sent to the whole group (it reached the
 * command already: SI_KERNEL is the terminal's, to the foreground group); then stop the
 * front door too if it is a stop signal (SIGCONT continued it already, being sent). */
static void forward(const siginfo_t *info, pid_t pid) {
    int sig = info->si_signo;
    if (info->si_code == SI_KERNEL || sentinel_has(sig))
        sentinel_renew();
    else
        kill(pid, sig);
    if (is_stop(sig))
        stop_as(sig);
}

/* -- the memory sampler ----------------------------------------------------------------- */

/* RssAnon summed over a process tree, at 5 ms first and backing off to 50 ms: a
 * handful of /proc reads each time. */
struct sampler {
    double interval;
    long peak_kb;
};

static double sampler_next(struct sampler *s) {
    double wait = s->interval;
    s->interval = wait * 1.5 < SAMPLE_MAX ? wait * 1.5 : SAMPLE_MAX;
    return wait;
}

/* Push the children of `pid` (its main thread's: /proc/PID/task/PID/children). */
static int push_children(pid_t pid, pid_t *stack, int n) {
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)pid, (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return n;
    long cur = -1; /* the number being read; a long list comes in pieces */
    ssize_t got;
    while ((got = read(fd, buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < got; i++) {
            int digit = buf[i] - '0';
            if (digit >= 0 && digit <= 9) {
                cur = cur < 0 ? digit : cur < INT_MAX / 10 ? cur * 10 + digit : cur;
                continue;
            }
            if (cur >= 0 && n < SAMPLE_PROCS)
                stack[n++] = (pid_t)cur;
            cur = -1;
        }
    close(fd);
    if (cur >= 0 && n < SAMPLE_PROCS) /* (the list ends with a space) */
        stack[n++] = (pid_t)cur;
    return n;
}

static long rss_anon_kb(pid_t pid) {
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    if (read_file(path, buf, sizeof buf) <= 0)
        return 0;
    const char *at = strstr(buf, "\nRssAnon:");
    return at ? strtol(at + 9, NULL, 10) : 0;
}

/* One sample of the tree under `root`, `root` itself counted if `with_root`. */
static void sampler_tick(struct sampler *s, pid_t root, int with_root) {
    pid_t stack[SAMPLE_PROCS];
    int n = 0, seen = 0;
    long total = 0;
    stack[n++] = root;
    while (n > 0 && seen < SAMPLE_PROCS) {
        pid_t pid = stack[--n];
        seen++;
        n = push_children(pid, stack, n);
        if (pid != root || with_root)
            total += rss_anon_kb(pid);
    }
    if (total > s->peak_kb)
        s->peak_kb = total;
}

/* -- the end ----------------------------------------------------------------------------- */

static void call_at_end(const struct lp_job *job) {
    if (job->at_end)
        job->at_end(job->ctx);
}

/* The record, the slots, the answer. */
static _Noreturn void finish(const struct lp_job *job, const struct lp_usage *u, int let) {
    if (job->done)
        job->done(u, job->ctx);
    if (let)
        let_go(job);
    sentinel_reap();
    lp_leave(u->code);
}

static _Noreturn void cannot_run(const struct lp_job *job, int err, int let) {
    call_at_end(job);
    say_cannot_run(name_of(job), err);
    struct lp_usage u = {status_for(err), 0, 0, 0, 0, 0};
    finish(job, &u, let);
}

/* -- the plain path (process.run) ------------------------------------------------------- */

/* `let`: let the slots go once the command's first process has ended, so that a server
 * the link left behind (sccache), having inherited them, does not keep them. */
static _Noreturn void run_plain(const struct lp_job *job, int let) {
    double start = now_mono();
    int errfd = -1, err = 0;
    pid_t pid = spawn_start(job, &errfd, &err);
    if (pid > 0) {
        /* From here on a group signal reached the command: the sentinel must see it. A
         * signal that came before the fork is taken for the front door's alone: passed on */
        sentinel_start();
        err = spawn_result(pid, errfd);
    }
    if (err) {
        sentinel_stop();
        cannot_run(job, err, let);
    }
    struct sampler s = {SAMPLE_FIRST, 0};
    struct rusage ru;
    int status = 0;
    for (;;) {
        siginfo_t info;
        int sig = ks_wait(&waited, &info, sampler_next(&s));
        pid_t got = wait4(pid, &status, WNOHANG, &ru); /* at every wake: SIGCHLD merges */
        if (got == pid)
            break;
        if (got < 0 && errno == ECHILD) { /* reaped by someone else: nothing to know */
            memset(&ru, 0, sizeof ru);
            status = 1 << 8;
            break;
        }
        if (sig < 0) {
            if (errno == EAGAIN)
                sampler_tick(&s, pid, 1);
            continue;
        }
        if (!is_ours(&info))
            forward(&info, pid);
    }
    /* What arrives from now on (a Ctrl-C the command died of) stays blocked, unseen */
    sentinel_stop();
    call_at_end(job);
    struct lp_usage u = {code_of(status), now_mono() - start, 0,
                         seconds(ru.ru_utime) + seconds(ru.ru_stime), ru.ru_maxrss, s.peak_kb};
    finish(job, &u, let);
}

/* -- the forking path (process.run_forking) -------------------------------------------- */

/* What the bookkeeper tells the front door: the command's pid, then its first process's
 * code; or that it could not be run. One write each, atomic on a pipe. */
enum { WORD_PID = 1, WORD_CODE, WORD_FAIL };
struct word {
    int what;
    int value; /* pid, code (as lp_usage.code), errno */
};

static void tell(int fd, int what, int value) {
    struct word w = {what, value};
    ssize_t r = write(fd, &w, sizeof w);
    (void)r; /* the front door is gone (EPIPE; SIGPIPE is blocked): the bookkeeping goes on */
}

/* Let the build's pipes reach EOF while the bookkeeper waits on. */
static void detach(void) {
    int null = open("/dev/null", O_RDWR | O_CLOEXEC);
    for (int fd = 0; fd < 3; fd++)
        if (fd != null && (null < 0 || dup2(null, fd) < 0))
            close(fd);
    if (null > 2)
        close(null);
    else if (null >= 0)
        fcntl(null, F_SETFD, 0);
}

/* The command's first process: its wait status and rusage, sampling the whole tree under
 * the bookkeeper meanwhile (mold's orphaned child included). */
static int reap_first(pid_t pid, struct sampler *s, struct rusage *ru) {
    ksigset chld;
    memset(&chld, 0, sizeof chld);
    ks_add(&chld, SIGCHLD);
    for (;;) {
        int status;
        pid_t got = wait4(pid, &status, WNOHANG, ru);
        if (got == pid)
            return status;
        if (got < 0 && errno != EINTR) {
            memset(ru, 0, sizeof *ru);
            return 1 << 8;
        }
        siginfo_t info;
        if (ks_wait(&chld, &info, sampler_next(s)) < 0 && errno == EAGAIN)
            sampler_tick(s, getpid(), 0);
    }
}

/* Wait for every other process of the link: those still in its process group (the
 * bookkeeper's, where the command started), mold's child included, re-parented to us.
 * A daemon the link started (an sccache server) has left the group, as daemons do: it
 * is not waited for, and does not keep the slots (let_go). */
static void reap_the_rest(double *cpu, long *rss, struct sampler *s) {
    ksigset chld;
    memset(&chld, 0, sizeof chld);
    ks_add(&chld, SIGCHLD);
    pid_t group = getpgrp();
    for (;;) {
        int status;
        struct rusage ru;
        pid_t got = wait4(-group, &status, WNOHANG, &ru);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            return; /* ECHILD: none left in the group */
        if (got == 0) {
            siginfo_t info;
            if (ks_wait(&chld, &info, sampler_next(s)) < 0 && errno == EAGAIN)
                sampler_tick(s, getpid(), 0);
            continue;
        }
        *cpu += seconds(ru.ru_utime) + seconds(ru.ru_stime);
        if (ru.ru_maxrss > *rss)
            *rss = ru.ru_maxrss;
    }
}

/* The bookkeeper: a child subreaper that spawns the command, tells the front door its
 * pid and its first process's end, then does the bookkeeping while the build goes on.
 * It keeps the signals blocked (a Ctrl-C to the group is the command's, not its own). */
static _Noreturn void bookkeeper(const struct lp_job *job, int fd) {
    /* before the command starts: the orphan of a quick linker must come to us */
    prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
    double start = now_mono();
    int errfd = -1, err = 0;
    pid_t pid = spawn_start(job, &errfd, &err);
    if (pid > 0)
        err = spawn_result(pid, errfd);
    if (err) {
        tell(fd, WORD_FAIL, err); /* the front door says it, and answers */
        close(fd);
        detach();
        struct lp_usage u = {status_for(err), 0, 0, 0, 0, 0};
        if (job->done)
            job->done(&u, job->ctx);
        let_go(job);
        _exit(0);
    }
    tell(fd, WORD_PID, pid);
    struct sampler s = {SAMPLE_FIRST, 0};
    struct rusage ru;
    int status = reap_first(pid, &s, &ru);
    double first = now_mono();
    tell(fd, WORD_CODE, code_of(status));
    close(fd);
    detach();
    double cpu = seconds(ru.ru_utime) + seconds(ru.ru_stime);
    long rss = ru.ru_maxrss;
    reap_the_rest(&cpu, &rss, &s);
    struct lp_usage u = {code_of(status), first - start, now_mono() - first, cpu, rss,
                         s.peak_kb};
    if (job->done)
        job->done(&u, job->ctx);
    let_go(job); /* what the link left running (a daemon) no longer holds the slots */
    _exit(0);
}

/* The front door's side: pass signals on to the command while the bookkeeper has not
 * said how its first process ended, then answer with that. Returns only if there is no
 * bookkeeper (no pipe, no fork): the caller runs the command itself. */
static void run_forking(const struct lp_job *job) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return;
    pid_t keeper = fork();
    if (keeper == 0) {
        close(p[0]);
        bookkeeper(job, p[1]);
    }
    close(p[1]);
    if (keeper < 0) {
        close(p[0]);
        return;
    }
    int fd = p[0];
    sentinel_start(); /* after the bookkeeper's fork: it must not be the bookkeeper's */
    /* Sleep in ks_wait for both: a signal to pass on, or SIGIO (blocked) when the
     * bookkeeper writes; F_SETSIG makes that one say POLL_IN (is_ours), not SI_KERNEL. */
    fcntl(fd, F_SETOWN, getpid());
    fcntl(fd, F_SETSIG, SIGIO);
    fcntl(fd, F_SETFL, O_NONBLOCK | O_ASYNC);
    unsigned char buf[4 * sizeof(struct word)];
    size_t have = 0;
    pid_t cmd = 0;
    siginfo_t early[EARLY_MAX]; /* signals that came before the pid: kept for it */
    int n_early = 0;
    for (;;) {
        ssize_t got = read(fd, buf + have, sizeof buf - have);
        if (got > 0)
            have += (size_t)got;
        while (have >= sizeof(struct word)) {
            struct word w;
            memcpy(&w, buf, sizeof w);
            have -= sizeof w;
            memmove(buf, buf + sizeof w, have);
            if (w.what == WORD_PID && w.value > 0) {
                cmd = w.value;
                for (int i = 0; i < n_early; i++)
                    forward(&early[i], cmd);
                n_early = 0;
            } else if (w.what == WORD_CODE || w.what == WORD_FAIL) {
                sentinel_stop();
                call_at_end(job);
                if (w.what == WORD_FAIL)
                    say_cannot_run(name_of(job), w.value);
                sentinel_reap();
                lp_leave(w.what == WORD_CODE ? w.value : status_for(w.value));
            }
        }
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EINTR))
            break; /* the bookkeeper died before it could say */
        siginfo_t info;
        if (ks_wait(&waited, &info, KEEPER_PATIENCE) < 0 || is_ours(&info))
            continue;
        if (cmd)
            forward(&info, cmd);
        else if (n_early < EARLY_MAX)
            early[n_early++] = info;
    }
    sentinel_stop();
    call_at_end(job);
    sentinel_reap();
    say("linkpool: lost track of the command\n", NULL, NULL, NULL, NULL);
    lp_leave(1);
}

/* -- the API ----------------------------------------------------------------------------- */

_Noreturn void lp_run(const struct lp_job *job) {
    lift(job->fds, job->nfds);
    for (int i = 0; i < job->nfds; i++) /* the command (and mold's child) holds them */
        fcntl(job->fds[i], F_SETFD, fcntl(job->fds[i], F_GETFD) & ~FD_CLOEXEC);
    block_signals();
    if (job->forking)
        run_forking(job); /* returns only without a bookkeeper */
    /* without one, a forking linker's child keeps the slots: they are not let go */
    run_plain(job, !job->forking);
}

_Noreturn void lp_exec(char *const *argv, const char *why) {
    if (why)
        say("linkpool: warning: ", why, "\n", NULL, NULL);
    const char *name = argv && argv[0] ? argv[0] : "";
    int err = ENOENT;
    if (*name) {
        execvp(name, argv);
        err = errno;
    }
    say_cannot_run(name, err);
    exit(status_for(err));
}

/* As coreutils `timeout` does: default action, unblocked, raised on ourselves (a shell
 * stops a loop of commands only when one died of SIGINT); no core file of our own. */
_Noreturn void lp_leave(int code) {
    if (code >= 0)
        exit(code);
    int sig = -code;
    if (sig <= KSIGS) {
        if (dumps_core(sig)) {
            struct rlimit core;
            if (getrlimit(RLIMIT_CORE, &core) == 0) {
                core.rlim_cur = 0;
                setrlimit(RLIMIT_CORE, &core);
            }
        }
        if (sig != SIGKILL) {
            struct sigaction dfl;
            memset(&dfl, 0, sizeof dfl);
            dfl.sa_handler = SIG_DFL;
            sigemptyset(&dfl.sa_mask);
            sigaction(sig, &dfl, NULL); /* glibc refuses 32 and 33: they stay as they are */
            ksigset one;
            memset(&one, 0, sizeof one);
            ks_add(&one, sig);
            ks_mask(SIG_UNBLOCK, &one, NULL);
        }
        kill(getpid(), sig); /* delivered before kill returns */
    }
    exit(128 + sig); /* the status then says it */
}
