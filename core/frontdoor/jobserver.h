/* jobserver: a link's threads count against its build's own -j (docs/jobserver.md).
 *
 * The client part of core/plugins/jobserver.py for the C front door: what MAKEFLAGS
 * announces, and the tokens of the build's jobserver taken without blocking and given
 * back exactly. C11, libc only, Linux. No signal handlers, one allocation per client.
 *
 *   if (lp_js_announced(makeflags)) {
 *       lp_jobserver *js = lp_js_connect(makeflags);   // NULL: unreachable
 *       int taken = lp_js_take(js, want - 1);           // 0 when js is NULL
 *       ... run the link with 1 + taken threads ...
 *       lp_js_give_back(js);                            // as soon as the linker has ended
 *       lp_js_close(js);
 *   }
 *
 * A token is one byte; every job owns one implicit token, the one it runs on, which it
 * never reads nor writes. The caller never waits for a token while it waits for slots.
 *
 * MAKEFLAGS is split into words as Python's str.split() splits the str os.environ gives
 * (UTF-8, the file system encoding of CPython on Linux in a UTF-8, C or POSIX locale):
 * ASCII whitespace, \x1c-\x1f and the Unicode spaces, by their UTF-8 bytes. A number is
 * ASCII digits (Python's isdigit() would also take other scripts' digits: none of make,
 * ninja or steve writes those).
 */
#ifndef LP_JOBSERVER_H
#define LP_JOBSERVER_H

#ifdef __cplusplus
extern "C" {
#endif

#define LP_JS_MAX_TOKENS 4096 /* the most tokens one client holds (one byte each) */

/* 1 when `makeflags` (NULL: none) names a jobserver: a --jobserver-auth= or
 * --jobserver-fds= word, the last of them counting, none after a `--` word (variable
 * definitions follow it). Exactly jobserver.parse(makeflags)[0] is not None. */
int lp_js_announced(const char *makeflags);

/* The build's -jN: N of the last -jN, -j N, --jobs=N or --jobs N before `--`; 0 when
 * there is none or the last one has no number (`-j`: no limit) or 0. As
 * jobserver.parse(makeflags)[1] or 0; INT_MAX for a larger N. */
int lp_js_jobs(const char *makeflags);

/* A client of the build's jobserver. */
typedef struct lp_jobserver lp_jobserver;

/* Connect to the jobserver `makeflags` announces, or NULL (with errno) if it is
 * unreachable. The forms read, as jobserver.connect reads them:
 *   --jobserver-auth=fifo:PATH   a FIFO (make 4.4, ninja 1.13) or a character device
 *                                (Gentoo's steve) opened O_RDWR|O_NONBLOCK, a description
 *                                of our own that never blocks nor hits EOF. PATH itself
 *                                must not be a symlink; a terminal is refused.
 *   --jobserver-auth=R,W         descriptors R and W open on the two ends of one pipe:
 *   --jobserver-fds=R,W          R is read through /proc/self/fd/R reopened O_NONBLOCK (the
 *                                build's shared read end stays blocking), tokens go back
 *                                to W.
 * errno when NULL:
 *   EINVAL   no jobserver announced, or a form not read (`sem:NAME`, `3,x`)
 *   EBADF    R or W negative (disabled by make) or not open (make <= 4.3 closes them for a
 *            recipe without `+`)
 *   ENXIO    R,W not the two ends of one pipe; PATH not a FIFO nor a character device, or
 *            a terminal
 *   ELOOP    PATH is a symlink
 *   ESTALE   what was checked is not what was opened (replaced in between)
 *   ENOMEM   no memory for the client (about 4 KiB)
 *   any other: the errno of opening PATH or /proc/self/fd/R (ENOENT, EACCES, ...)
 * The descriptors the client opens are O_CLOEXEC: a linker it runs does not inherit them.
 * The client is tied to the process that connected: in a forked child it takes nothing
 * and gives nothing back. */
lp_jobserver *lp_js_connect(const char *makeflags);

/* Take up to n tokens, one non-blocking one-byte read each, never waiting: stops at the
 * first read that finds none (EAGAIN), hits EOF or fails. Returns how many were taken
 * (0 for a NULL client, n < 1, or another process than the one that connected). They add
 * to those already held, up to LP_JS_MAX_TOKENS. */
int lp_js_take(lp_jobserver *js, int n);

/* Tokens free in the jobserver now, counted (FIONREAD) without taking any; -1 when it
 * cannot tell (steve's device need not answer) or js is NULL. */
int lp_js_free(const lp_jobserver *js);

/* "fifo" (a FIFO or a device) or "pipe" (R,W descriptors); NULL for a NULL client. */
const char *lp_js_form(const lp_jobserver *js);

/* Write back exactly the bytes taken, in the order read, then hold none. Only in the
 * process that connected (a forked copy, mold's bookkeeper, does nothing). A full pipe is
 * waited for; there is always a reader (the client's own descriptor): no SIGPIPE. Safe to
 * call again (nothing left to give) and with NULL. */
void lp_js_give_back(lp_jobserver *js);

/* Give back whatever is still held (as lp_js_give_back), close the client's own
 * descriptors and free it. NULL is allowed. */
void lp_js_close(lp_jobserver *js);

#ifdef __cplusplus
}
#endif

#endif
