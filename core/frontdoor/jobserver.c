/* jobserver: the build's jobserver as one link's client (see jobserver.h).
 *
 * A port of the client part of core/plugins/jobserver.py, one function per step:
 *   parse         - MAKEFLAGS into (auth, -jN), word for word as jobserver.parse
 *   connect_fifo  - fifo:PATH, checked through an O_PATH descriptor before it is opened
 *   connect_pipe  - R,W, checked to be one open pipe, R reopened through /proc
 *   take          - one-byte non-blocking reads
 *   give_back     - the bytes read, written back as they came
 * gcc's private jobserver for LTRANS jobs is not here: those links go to Python.
 */
#define _GNU_SOURCE
#include "jobserver.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

struct lp_jobserver {
    int rfd;          /* ours: its own open file description, O_NONBLOCK */
    int wfd;          /* where tokens go back (the build's own W for a pipe) */
    int fifo;         /* 1: fifo:PATH (rfd == wfd, ours); 0: the R,W pipe */
    pid_t owner;      /* a forked child never takes nor gives back */
    int held;         /* bytes taken, in bytes[] */
    unsigned char bytes[LP_JS_MAX_TOKENS];
};

/* -- MAKEFLAGS ---------------------------------------------------------------------- */

/* The length of the whitespace at s as Python's str.split() sees it once MAKEFLAGS is
 * decoded as UTF-8 (0: none): ASCII's, \x1c-\x1f, and U+0085, U+00A0, U+1680,
 * U+2000-U+200A, U+2028, U+2029, U+202F, U+205F, U+3000 as their UTF-8 bytes. A lead
 * byte is never a continuation byte, so a match is a character whatever precedes it
 * (an undecodable byte becomes a surrogate of its own, never whitespace). */
static size_t space_at(const unsigned char *s) {
    if (s[0] == ' ' || (s[0] >= '\t' && s[0] <= '\r') || (s[0] >= 0x1c && s[0] <= 0x1f))
        return 1;
    if (s[0] == 0xc2 && (s[1] == 0x85 || s[1] == 0xa0))
        return 2;
    if (s[0] == 0xe1 && s[1] == 0x9a && s[2] == 0x80)
        return 3;
    if (s[0] == 0xe2 && s[1] == 0x80 &&
        ((s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf))
        return 3;
    if (s[0] == 0xe2 && s[1] == 0x81 && s[2] == 0x9f)
        return 3;
    if (s[0] == 0xe3 && s[1] == 0x80 && s[2] == 0x80)
        return 3;
    return 0;
}

struct word {
    const char *s;
    size_t n;
};

/* The next word at *p, advancing *p past it; 0 at the end. */
static int next_word(const char **p, struct word *w) {
    const unsigned char *s = (const unsigned char *)*p;
    size_t sp;
    while ((sp = space_at(s)) > 0)
        s += sp;
    if (*s == '\0')
        return 0;
    w->s = (const char *)s;
    while (*s != '\0' && space_at(s) == 0)
        s++;
    w->n = (size_t)((const char *)s - w->s);
    *p = (const char *)s;
    return 1;
}

static int word_is(const struct word *w, const char *text) {
    return w->n == strlen(text) && memcmp(w->s, text, w->n) == 0;
}

static int word_starts(const struct word *w, const char *prefix) {
    size_t n = strlen(prefix);
    return w->n >= n && memcmp(w->s, prefix, n) == 0;
}

/* Python's str.isdigit() for ASCII: not empty, every byte 0-9. */
static int all_digits(const char *s, size_t n) {
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < '0' || s[i] > '9')
            return 0;
    return 1;
}

/* The value of n ASCII digits, INT_MAX if larger. */
static int digits_value(const char *s, size_t n) {
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
        if (v > INT_MAX)
            return INT_MAX;
    }
    return (int)v;
}

struct makeflags {
    int announced;    /* a --jobserver-auth= or --jobserver-fds= word was seen */
    struct word auth; /* what follows the last one */
    int jobs;         /* N of the last -jN (0: none, or no number) */
};

/* jobserver.parse: the last --jobserver-auth=/--jobserver-fds= counts, so does the last
 * -jN/--jobs=N (`-j 4` as a user may set it by hand), and words after `--` are variable
 * definitions. */
static void parse(const char *makeflags, struct makeflags *out) {
    static const char AUTH[] = "--jobserver-auth=", FDS[] = "--jobserver-fds=";
    const char *p = makeflags ? makeflags : "";
    struct word w = {0}, next = {0};
    memset(out, 0, sizeof *out);
    int have = next_word(&p, &w);
    while (have) {
        int have_next = next_word(&p, &next);
        if (word_is(&w, "--"))
            break;
        if (word_starts(&w, AUTH) || word_starts(&w, FDS)) {
            size_t skip = word_starts(&w, AUTH) ? sizeof AUTH - 1 : sizeof FDS - 1;
            out->announced = 1;
            out->auth.s = w.s + skip;
            out->auth.n = w.n - skip;
        } else if (word_starts(&w, "-j") || word_is(&w, "--jobs") ||
                   word_starts(&w, "--jobs=")) {
            struct word value = {w.s + w.n, 0}; /* "--jobs": nothing after an "=" */
            if (word_starts(&w, "-j"))
                value = (struct word){w.s + 2, w.n - 2};
            else if (w.n > 6)
                value = (struct word){w.s + 7, w.n - 7};
            if (value.n == 0 && have_next && all_digits(next.s, next.n))
                value = next;
            out->jobs = all_digits(value.s, value.n) ? digits_value(value.s, value.n) : 0;
        }
        w = next;
        have = have_next;
    }
}

int lp_js_announced(const char *makeflags) {
    struct makeflags mf;
    parse(makeflags, &mf);
    return mf.announced;
}

int lp_js_jobs(const char *makeflags) {
    struct makeflags mf;
    parse(makeflags, &mf);
    return mf.jobs;
}

/* -- connecting --------------------------------------------------------------------- */

static lp_jobserver *client(int rfd, int wfd, int fifo) {
    lp_jobserver *js = malloc(sizeof *js);
    if (!js) {
        close(rfd);
        errno = ENOMEM;
        return NULL;
    }
    js->rfd = rfd;
    js->wfd = wfd;
    js->fifo = fifo;
    js->owner = getpid();
    js->held = 0;
    return js;
}

static void *fail(int fd, int err) {
    if (fd >= 0)
        close(fd);
    errno = err;
    return NULL;
}

static int same_file(const struct stat *a, const struct stat *b) {
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* fifo:PATH. The path is opened O_PATH|O_NOFOLLOW first, which opens nothing (no FIFO
 * open, no device's open routine) and names the symlink itself if it is one; only a
 * FIFO or a character device is then opened, through /proc/self/fd: the very file that
 * was checked. O_RDWR: a FIFO opened so never blocks nor hits EOF, writer or not; ours,
 * so O_NONBLOCK on it changes no other client's reads. */
static lp_jobserver *connect_fifo(const char *path, size_t n) {
    char name[PATH_MAX], proc[64];
    if (n >= sizeof name)
        return fail(-1, ENAMETOOLONG);
    memcpy(name, path, n);
    name[n] = '\0';
    int pfd = open(name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (pfd < 0)
        return fail(-1, errno); /* ENOENT: a stale MAKEFLAGS; EACCES ... */
    struct stat st, got;
    if (fstat(pfd, &st) < 0)
        return fail(pfd, errno);
    if (S_ISLNK(st.st_mode))
        return fail(pfd, ELOOP);
    if (!S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
        return fail(pfd, ENXIO); /* a regular file, a directory, a socket */
    const int flags = O_RDWR | O_NONBLOCK | O_NOCTTY | O_CLOEXEC;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
    int fd = open(proc, flags);
    if (fd < 0 && errno == ENOENT) /* no /proc: by name, and compared below */
        fd = open(name, flags | O_NOFOLLOW);
    int e = errno;
    close(pfd);
    if (fd < 0)
        return fail(-1, e);
    if (fstat(fd, &got) < 0)
        return fail(fd, errno);
    if (!same_file(&got, &st) || (got.st_mode & S_IFMT) != (st.st_mode & S_IFMT))
        return fail(fd, ESTALE); /* replaced in between */
    if (isatty(fd))
        return fail(fd, ENXIO); /* a terminal's bytes are keystrokes, not tokens */
    return client(fd, fd, 1);
}

/* Python's int() of an auth half, for ASCII: an optional sign, then digits with single
 * underscores between them. 0 with *v set, or -1 (not a number, or beyond an int: no
 * descriptor either way). */
static int py_int(const char *s, size_t n, long long *v) {
    size_t i = 0;
    int neg = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        neg = s[i++] == '-';
    if (i == n)
        return -1;
    long long x = 0;
    for (int digit_before = 0; i < n; i++) {
        if (s[i] == '_' && digit_before && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9') {
            digit_before = 0;
            continue;
        }
        if (s[i] < '0' || s[i] > '9')
            return -1;
        x = x * 10 + (s[i] - '0');
        if (x > INT_MAX)
            x = (long long)INT_MAX + 1; /* saturate: only "too big" matters */
        digit_before = 1;
    }
    *v = neg ? -x : x;
    return 0;
}

/* R,W: descriptors of the build's pipe, which must be open, on one pipe, R readable and
 * W writable. make <= 4.3 closes them for a recipe without `+` but leaves MAKEFLAGS as
 * it was, and anything (the front door's own files) may sit on those numbers now. */
static lp_jobserver *connect_pipe(const char *auth, size_t n) {
    const char *comma = memchr(auth, ',', n);
    long long r, w;
    if (!comma || py_int(auth, (size_t)(comma - auth), &r) < 0 ||
        py_int(comma + 1, n - (size_t)(comma - auth) - 1, &w) < 0)
        return fail(-1, EINVAL); /* sem:NAME (Windows), 3,x, ... */
    if (r < 0 || w < 0 || r > INT_MAX || w > INT_MAX)
        return fail(-1, EBADF); /* negative: make disabled it */
    int rfd = (int)r, wfd = (int)w;
    struct stat a, b, got;
    int rmode = fcntl(rfd, F_GETFL), wmode = fcntl(wfd, F_GETFL);
    if (rmode < 0 || wmode < 0 || fstat(rfd, &a) < 0 || fstat(wfd, &b) < 0)
        return fail(-1, EBADF); /* closed (a recipe without +?) */
    if (!S_ISFIFO(a.st_mode) || !same_file(&a, &b) || (rmode & O_ACCMODE) == O_WRONLY ||
        (wmode & O_ACCMODE) == O_RDONLY)
        return fail(-1, ENXIO); /* not make's pipe */
    /* The build's read end is blocking and shared by every make; reopened through /proc
     * it is a description of our own, whose O_NONBLOCK affects nobody else. */
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", rfd);
    int fd = open(proc, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return fail(-1, errno);
    if (fstat(fd, &got) < 0)
        return fail(fd, errno);
    if (!same_file(&got, &a))
        return fail(fd, ESTALE);
    return client(fd, wfd, 0);
}

lp_jobserver *lp_js_connect(const char *makeflags) {
    struct makeflags mf;
    parse(makeflags, &mf);
    if (!mf.announced)
        return fail(-1, EINVAL);
    if (mf.auth.n >= 5 && memcmp(mf.auth.s, "fifo:", 5) == 0)
        return connect_fifo(mf.auth.s + 5, mf.auth.n - 5);
    return connect_pipe(mf.auth.s, mf.auth.n);
}

/* -- tokens ------------------------------------------------------------------------- */

int lp_js_take(lp_jobserver *js, int n) {
    if (!js || n < 1 || getpid() != js->owner)
        return 0;
    int got = 0;
    while (got < n && js->held < LP_JS_MAX_TOKENS) {
        ssize_t r = read(js->rfd, js->bytes + js->held, 1);
        if (r == 1) {
            js->held++;
            got++;
            continue;
        }
        if (r < 0 && errno == EINTR)
            continue;
        break; /* EAGAIN: none free now; 0: EOF (no writer, /dev/null); other: none */
    }
    return got;
}

int lp_js_free(const lp_jobserver *js) {
    int n = 0;
    if (!js || ioctl(js->rfd, FIONREAD, &n) < 0)
        return -1; /* steve's device need not answer FIONREAD */
    return n;
}

const char *lp_js_form(const lp_jobserver *js) {
    return !js ? NULL : js->fifo ? "fifo" : "pipe";
}

/* Wait until the client's wfd takes a write: 0, or -1 when that cannot be waited for. */
static int wait_writable(lp_jobserver *js) {
    struct pollfd p = {.fd = js->wfd, .events = POLLOUT};
    int r;
    while ((r = poll(&p, 1, -1)) < 0 && errno == EINTR)
        ;
    if (r == 1 && (p.revents & POLLOUT))
        return 0;
    /* A device that polls oddly: our own description, so waiting in write() instead
     * changes nobody else's. The build's own W is left as it is. */
    if (js->fifo) {
        int fl = fcntl(js->wfd, F_GETFL);
        if (fl >= 0 && fcntl(js->wfd, F_SETFL, fl & ~O_NONBLOCK) == 0)
            return 0;
    }
    return -1;
}

/* No SIGPIPE to fear: the client's own read description keeps a reader on the pipe or
 * FIFO for as long as it is open (a device raises none). */
void lp_js_give_back(lp_jobserver *js) {
    if (!js || js->held == 0 || getpid() != js->owner)
        return;
    int off = 0;
    while (off < js->held) {
        ssize_t w = write(js->wfd, js->bytes + off, (size_t)(js->held - off));
        if (w > 0) {
            off += (int)w;
            continue;
        }
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN && wait_writable(js) == 0)
            continue; /* a full pipe (64 KiB of tokens?) */
        break; /* an error of the device's: nothing more to be done for its tokens */
    }
    js->held = 0;
}

void lp_js_close(lp_jobserver *js) {
    if (!js)
        return;
    int e = errno;
    lp_js_give_back(js);
    close(js->rfd); /* for a FIFO also wfd; a pipe's W is the build's */
    free(js);
    errno = e;
}
