/* run: the front door's runner, the C port of core/process.py (run, run_forking, leave,
 * exec_bare) and engine.lift. It starts the link command once its slots are held and
 * makes linkpool invisible: the command gets the build's stdio, signal mask, signal
 * dispositions, limits and descriptors, and the front door answers as the command did
 * (its exit status, or death by its signal), passing on every signal sent to the front
 * door alone (docs/engine.md, "Signals").
 *
 * The caller must, before anything else opens a descriptor, put /dev/null (close-on-exec)
 * on a standard descriptor it was started without (process.guard_stdio), change no signal
 * disposition or mask, and start no thread. No signal handlers are installed here.
 */
#ifndef LP_RUN_H
#define LP_RUN_H

#ifdef __cplusplus
extern "C" {
#endif

struct lp_usage {
    int code;           /* as Python's os.waitstatus_to_exitcode: status, or -N (signal N) */
    double run_s;       /* start until the command's first process ended */
    double tail_s;      /* how long its remaining descendants lived on (forking linkers) */
    double cpu_s;       /* user + system CPU of every process of the job */
    long max_rss_kb;    /* largest peak RSS of any process of the job */
    long anon_peak_kb;  /* sampled peak anonymous memory of the job (0: not sampled) */
};

struct lp_job {
    char *const *argv;  /* the command (argv[0] searched in PATH as execvp does) */
    char *const *envp;  /* its environment */
    int *fds; int nfds; /* slot descriptors: made inheritable, moved above the soft
                           RLIMIT_NOFILE as engine.lift does (the array is updated with
                           the new numbers); may be 0 */
    int forking;        /* the linker leaves a child that keeps the slots (mold) */
    void (*at_end)(void *ctx);  /* the first process ended (or never started): give
                                   back jobserver tokens; before the answer; may be NULL */
    void (*done)(const struct lp_usage *u, void *ctx); /* the job is over: write its
                                   record (forking: in the bookkeeper, once the whole
                                   group has ended); may be NULL */
    void *ctx;
};

/* Spawn, forward signals, then at_end, done, LOCK_UN every fd (process.let_go), and
 * leave like the command (lp_leave). A command that cannot be started: "linkpool: cannot
 * run NAME: STRERROR" on stderr, done() with code 127/126, exit 127 (ENOENT, ENOTDIR,
 * empty name) or 126.
 *
 * at_end and done run in the front door with the signals it forwards still blocked;
 * done runs while the slots are still locked (let_go comes after it). With `forking`, a
 * bookkeeper process (a child subreaper) starts the command; the front door answers at
 * the command's first exit (at_end, then lp_leave), and the bookkeeper, detached from
 * the build's stdio, waits for the rest of the job's process group, then calls done with
 * the totals, lets the slots go and _exits. If the bookkeeper cannot be forked, the
 * command runs as without `forking` (but the slots are not let go: the linker's child
 * keeps them). Does not return; never calls exit() in a forked process. */
_Noreturn void lp_run(const struct lp_job *job);

/* Become the command (execvp, the front door's environment) after
 * "linkpool: warning: WHY\n" when why != NULL; 127/126 as above if it cannot be run. */
_Noreturn void lp_exec(char *const *argv, const char *why);

/* exit(code) for code >= 0; die of signal -code for code < 0 (RLIMIT_CORE 0 first for
 * core-dumping signals; default action, unblocked), exit(128 - code) if that fails. */
_Noreturn void lp_leave(int code);

#ifdef __cplusplus
}
#endif

#endif
