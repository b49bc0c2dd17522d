/* lpslot: the linkpool slot protocol, version 1 (see lpslot.h and docs/protocol.md).
 *
 * The shape follows core/waiting.py and core/pool.py, one function per step:
 *   open_pool  - the directory and pool.json, checked (pooldir.py's rules)
 *   draw       - a ticket wait.<n> under queue.lock, made ours by O_EXCL
 *   wait_turn  - flock(LOCK_SH) on the ticket just ahead, until none is ahead
 *   collect    - as the head: k + h slots below N, sleeping on inotify or polling
 *   leave      - unlink the ticket, then close it
 * Every file is opened relative to the pool's directory descriptor with
 * O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC and checked with fstat before use: the pool is
 * shared ground, anyone may put anything at any name at any moment.
 */
#define _GNU_SOURCE
#include "lpslot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define CONFIG "pool.json"
#define QUEUE "queue.lock"
#define MAX_CONFIG 4096     /* bytes of pool.json read: it is about 50 */
#define MAX_DIGITS 18       /* a slot or ticket number fits a signed 64-bit integer */
#define MAX_NUMBER 1000000000000000000LL /* 10^18: ticket numbers stay below */
#define NOTE_SIZE (LPSLOT_NOTE_MAX + 512)
#define DENTS_SIZE 32768

/* The head's sleep (core/waiting.py has the same numbers, and why). */
static const double RETRY[] = {0.0002, 0.001, 0.005, 0.02}; /* after a close event */
#define N_RETRY 4
#define SAFETY 1.0          /* inotify waiters re-check this often anyway */
#define POLL_MAX 0.05       /* polling waiters back off to this interval */
#define STORM_LOOKS 100     /* woken more often in a second than releases come ... */
#define STORM_PAUSE 0.02    /* ... look at most this often for the rest of it */
#define QUEUE_PATIENCE 1.0  /* queue.lock held longer: draw without it */
#define WATCH_MASK (IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF)

enum { NONE = 0, HELD, BUSY, BAD }; /* what the head knows of slot i < N */

struct lpslot_pool {
    int dirfd;
    int shared;
    int slots;        /* N, as last read */
    uid_t euid;
    uid_t dir_uid;
    int leased;       /* a lease is out */
    int inotify;      /* the head's watch, kept for later acquisitions; -1: none yet */
    /* the head's hand: per slot index below LPSLOT_MAX_SLOTS */
    int fd[LPSLOT_MAX_SLOTS];
    unsigned char state[LPSLOT_MAX_SLOTS];
    unsigned char signed_[LPSLOT_MAX_SLOTS];
    int lease_fd[LPSLOT_MAX_SLOTS];
    int lease_slot[LPSLOT_MAX_SLOTS];
    /* the sleep */
    int quick;        /* quick retries left (index into RETRY from the end) */
    double delay;     /* the polling back-off */
    double window;    /* end of the current storm-counting second */
    int looks;
    unsigned tag;     /* makes the job name of each acquisition unique with the pid */
    /* the note written into the ticket and the slots */
    char note[NOTE_SIZE];
    size_t note_len;
    char dents[DENTS_SIZE];
};

/* -- time -------------------------------------------------------------------------- */

static double now_mono(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_real(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timespec span(double s) {
    struct timespec ts;
    if (s < 0)
        s = 0;
    ts.tv_sec = (time_t)s;
    ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
    if (ts.tv_nsec >= 1000000000L)
        ts.tv_nsec = 999999999L;
    return ts;
}

/* Sleep s seconds. EINTR: a handler of the caller's ran; it is theirs to act on. */
static int nap(double s) {
    struct timespec ts = span(s);
    return nanosleep(&ts, NULL) < 0 ? errno : 0;
}

/* -- names --------------------------------------------------------------------------- */

/* The n of "<prefix><n>", or -1: ASCII digits, no sign, no leading zero but "0", at most
 * MAX_DIGITS (another spelling, "wait.01" or "slot.+1", is not one of ours). */
static long long number_of(const char *name, const char *prefix) {
    size_t plen = strlen(prefix);
    if (strncmp(name, prefix, plen) != 0)
        return -1;
    const char *d = name + plen;
    size_t len = strlen(d);
    if (len == 0 || len > MAX_DIGITS || (d[0] == '0' && len > 1))
        return -1;
    long long n = 0;
    for (size_t i = 0; i < len; i++) {
        if (d[i] < '0' || d[i] > '9')
            return -1;
        n = n * 10 + (d[i] - '0');
    }
    return n;
}

/* Call fn(arg, n) for each "<prefix><n>" in the directory. getdents64 on the pool's own
 * descriptor, into the handle's buffer: no DIR to allocate. Returns 0 or an errno. */
static int scan(lpslot_pool *p, const char *prefix, void (*fn)(void *, long long),
                void *arg) {
    if (lseek(p->dirfd, 0, SEEK_SET) < 0)
        return errno;
    for (;;) {
        long got = syscall(SYS_getdents64, p->dirfd, p->dents, sizeof p->dents);
        if (got < 0)
            return errno;
        if (got == 0)
            return 0;
        for (long off = 0; off < got;) {
            /* struct linux_dirent64: u64 ino, s64 off, u16 reclen, u8 type, char name[] */
            unsigned short reclen;
            memcpy(&reclen, p->dents + off + 16, sizeof reclen);
            long long n = number_of(p->dents + off + 19, prefix);
            if (n >= 0)
                fn(arg, n);
            off += reclen;
        }
    }
}

static void name_of(char *buf, size_t size, const char *prefix, long long n) {
    snprintf(buf, size, "%s%lld", prefix, n);
}

/* -- files ------------------------------------------------------------------------------ */

/* What makes a pool file unusable, as an errno: a directory (EISDIR), another
 * non-regular file (ENXIO), a file with other names linked in by someone (EMLINK), in a
 * private pool another user's file (EPERM); 0 if it is fine. */
static int file_problem(const lpslot_pool *p, const struct stat *st) {
    if (S_ISDIR(st->st_mode))
        return EISDIR;
    if (!S_ISREG(st->st_mode))
        return ENXIO;
    if (st->st_nlink > 1)
        return EMLINK;
    if (!p->shared && st->st_uid != p->euid)
        return EPERM;
    return 0;
}

/* Open a file of the pool (made 0600, or 0666 in a shared pool). Returns a descriptor,
 * or -errno. Never blocks: O_NONBLOCK makes the open of a FIFO return at once (ENXIO for
 * writing with no reader; for reading it opens and fstat refuses it). */
static int open_file(lpslot_pool *p, const char *name, int flags) {
    mode_t mode = p->shared ? 0666 : 0600;
    int fd = openat(p->dirfd, name, flags | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, mode);
    if (fd < 0)
        return -errno; /* ELOOP: a symlink; EISDIR: O_RDWR on a directory; ENXIO: a FIFO */
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    int problem = file_problem(p, &st);
    if (problem) {
        close(fd);
        return -problem;
    }
    /* The umask trimmed a file we made (277: read-only): others must open it too. Only
     * on a file that is ours with one link (another user can hard-link one of ours in). */
    if (st.st_uid == p->euid && (st.st_mode & 07777) != mode)
        (void)fchmod(fd, mode);
    return fd;
}

/* What opening another user's entry in a shared pool can fail with. */
static int hostile(int err) {
    return err == EACCES || err == EPERM || err == ENXIO || err == EISDIR || err == ELOOP ||
           err == ENOTDIR || err == EOPNOTSUPP || err == EMLINK;
}

/* Whether someone holds a lock on `name`: a probe with LOCK_EX|LOCK_NB on a fresh
 * read-only descriptor (a shared lock counts too; the close of a read-only descriptor
 * wakes no head). A file that is not regular or cannot be opened is not held. */
static int held(lpslot_pool *p, const char *name) {
    int fd = openat(p->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    int out = 0;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) < 0)
        out = errno == EWOULDBLOCK;
    close(fd);
    return out;
}

/* Replace the content of a held slot or ticket: who holds it, for `status`. A read-only
 * slot of a shared pool or a full disk: status shows less, nothing else changes. */
static void write_note(const lpslot_pool *p, int fd) {
    if (pwrite(fd, p->note, p->note_len, 0) == (ssize_t)p->note_len)
        (void)ftruncate(fd, (off_t)p->note_len);
}

/* flock(op) by `deadline` (< 0: none), without signals: LOCK_NB with a back-off from 1 ms
 * to POLL_MAX. Returns 0, ETIMEDOUT, EINTR or another errno of flock. */
static int flock_until(int fd, int op, double deadline) {
    if (deadline < 0)
        return flock(fd, op) < 0 ? errno : 0;
    double delay = 0.001;
    for (;;) {
        if (flock(fd, op | LOCK_NB) == 0)
            return 0;
        if (errno != EWOULDBLOCK)
            return errno;
        double left = deadline - now_mono();
        if (left <= 0)
            return ETIMEDOUT;
        int e = nap(delay < left ? delay : left);
        if (e)
            return e;
        delay = delay * 2 < POLL_MAX ? delay * 2 : POLL_MAX;
    }
}

/* -- pool.json ------------------------------------------------------------------------- */

/* The strict reader of exactly a version-1 pool.json: one object whose keys are
 * "protocol" (an integer >= 1), "slots" (an integer 1..LPSLOT_MAX_SLOTS) and "shared"
 * (true or false), each at most once; "slots" required, the other two defaulting to 1
 * and false as the reference reads them. Anything else is corrupt (EBADMSG), but a
 * protocol above ours says EPROTONOSUPPORT whatever else the file holds. */
typedef struct {
    const char *s, *end;
} cursor;

static void blank(cursor *c) {
    while (c->s < c->end && (*c->s == ' ' || *c->s == '\t' || *c->s == '\n' || *c->s == '\r'))
        c->s++;
}

static int eat(cursor *c, char ch) {
    blank(c);
    if (c->s < c->end && *c->s == ch) {
        c->s++;
        return 1;
    }
    return 0;
}

static int word(cursor *c, const char *w) {
    size_t n = strlen(w);
    if ((size_t)(c->end - c->s) >= n && memcmp(c->s, w, n) == 0) {
        c->s += n;
        return 1;
    }
    return 0;
}

/* A JSON integer without fraction or exponent: -1 when it is not one, or too large. */
static long long integer(cursor *c) {
    blank(c);
    if (c->s >= c->end || *c->s < '0' || *c->s > '9')
        return -1;
    if (*c->s == '0' && c->s + 1 < c->end && c->s[1] >= '0' && c->s[1] <= '9')
        return -1;
    long long n = 0;
    while (c->s < c->end && *c->s >= '0' && *c->s <= '9') {
        if (n > 100000000)
            return -1;
        n = n * 10 + (*c->s++ - '0');
    }
    if (c->s < c->end && (*c->s == '.' || *c->s == 'e' || *c->s == 'E'))
        return -1;
    return n;
}

/* Whether a file that is not version 1 says "protocol": n with n above ours anywhere (a
 * later version may put its new keys before it): then the answer is "upgrade". */
static int newer(const char *raw, size_t len) {
    const char *key = "\"protocol\"";
    for (const char *s = raw; (s = memmem(s, len - (size_t)(s - raw), key, 10)); s++) {
        cursor c = {s + 10, raw + len};
        long long n;
        if (eat(&c, ':') && (n = integer(&c)) > LPSLOT_PROTOCOL)
            return 1;
    }
    return 0;
}

static int parse_config(const char *raw, size_t len, int *slots, int *shared) {
    cursor c = {raw, raw + len};
    long long protocol = -1, n = -1;
    int sh = -1, unknown = 0;
    if (!eat(&c, '{'))
        return EBADMSG;
    if (!eat(&c, '}')) {
        do {
            if (!eat(&c, '"'))
                return EBADMSG;
            const char *key = c.s;
            while (c.s < c.end && *c.s != '"' && *c.s != '\\')
                c.s++;
            if (c.s >= c.end || *c.s != '"')
                return EBADMSG;
            size_t klen = (size_t)(c.s++ - key);
            if (!eat(&c, ':'))
                return EBADMSG;
            blank(&c);
#define KEY(k) (klen == sizeof(k) - 1 && memcmp(key, k, klen) == 0)
            if (KEY("protocol")) {
                if (protocol != -1 || (protocol = integer(&c)) < 1)
                    return EBADMSG;
            } else if (KEY("slots")) {
                if (n != -1 || (n = integer(&c)) < 1 || n > LPSLOT_MAX_SLOTS)
                    return EBADMSG;
            } else if (KEY("shared")) {
                if (sh != -1)
                    return EBADMSG;
                if (word(&c, "true"))
                    sh = 1;
                else if (word(&c, "false"))
                    sh = 0;
                else
                    return EBADMSG;
            } else {
                /* Not version 1: refused, as newer if the protocol says so (below). */
                unknown = 1;
                break;
            }
#undef KEY
        } while (eat(&c, ','));
        if (!unknown && !eat(&c, '}'))
            return EBADMSG;
    }
    if (protocol > LPSLOT_PROTOCOL || (unknown && newer(raw, len)))
        return EPROTONOSUPPORT;
    if (unknown)
        return EBADMSG;
    blank(&c);
    if (c.s != c.end || n < 1)
        return EBADMSG;
    *slots = (int)n;
    *shared = sh == 1;
    return 0;
}

/* Read N (and the shared flag) from pool.json. ENOENT: none; EBADMSG: corrupt, a
 * symlink, not a regular file, more than MAX_CONFIG bytes. */
static int read_config(lpslot_pool *p, int *slots, int *shared, uid_t *owner) {
    /* O_NONBLOCK: a FIFO named pool.json must not block the open */
    int fd = openat(p->dirfd, CONFIG, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return errno == ELOOP ? EBADMSG : errno;
    char raw[MAX_CONFIG + 1];
    struct stat st;
    ssize_t got = -1;
    int e = 0;
    if (fstat(fd, &st) < 0)
        e = errno;
    else if (!S_ISREG(st.st_mode))
        e = EBADMSG;
    else if ((got = pread(fd, raw, sizeof raw, 0)) < 0)
        e = errno;
    close(fd);
    if (e)
        return e;
    if (got > MAX_CONFIG) /* a pool.json is 50 bytes: a bigger one is not ours */
        return EBADMSG;
    if (owner)
        *owner = st.st_uid;
    return parse_config(raw, (size_t)got, slots, shared);
}

static int refresh(lpslot_pool *p) {
    int shared;
    return read_config(p, &p->slots, &shared, NULL);
}

/* -- opening ------------------------------------------------------------------------------ */

/* The folder above the pool: writable by anyone without the sticky bit, another user could
 * rename the pool away or put theirs in its place (pooldir.check_parent). */
static int check_parent(const char *dir) {
    char parent[PATH_MAX];
    size_t len = strlen(dir);
    if (len >= sizeof parent)
        return 0;
    memcpy(parent, dir, len + 1);
    while (len > 1 && parent[len - 1] == '/')
        parent[--len] = '\0';
    char *slash = strrchr(parent, '/');
    if (!slash)
        strcpy(parent, ".");
    else if (slash == parent)
        parent[1] = '\0';
    else
        *slash = '\0';
    struct stat st;
    if (stat(parent, &st) < 0)
        return 0; /* not reachable from here: nothing to judge */
    return (st.st_mode & S_IWOTH) && !(st.st_mode & S_ISVTX) ? EPERM : 0;
}

static int open_pool(lpslot_pool *p, const char *dir) {
    p->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (p->dirfd < 0) {
        int e = errno;
        struct stat st;
        /* O_NOFOLLOW with O_DIRECTORY: a symlink fails with ENOTDIR, as a file does. */
        if (e == ENOTDIR && lstat(dir, &st) == 0 && S_ISLNK(st.st_mode))
            return ELOOP;
        return e;
    }
    struct stat st;
    if (fstat(p->dirfd, &st) < 0)
        return errno;
    p->dir_uid = st.st_uid;
    int e = check_parent(dir);
    if (e)
        return e;
    uid_t made_by;
    e = read_config(p, &p->slots, &p->shared, &made_by);
    if (e)
        return e;
    mode_t mode = st.st_mode & 07777;
    if (p->shared) {
        if ((mode & S_IWOTH) && !(mode & S_ISVTX))
            return EPERM; /* world-writable, not sticky: anyone may replace any file */
        if (made_by != st.st_uid && made_by != 0)
            return EPERM; /* another user's pool.json: theirs to rewrite at will */
    } else if (st.st_uid != p->euid || (mode & 022)) {
        return EPERM; /* another user's private pool, or one others may write */
    }
    return 0;
}

lpslot_pool *lpslot_open(const char *dir, int *err) {
    int dummy;
    if (!err)
        err = &dummy;
    if (!dir || !*dir) {
        *err = EINVAL;
        return NULL;
    }
    lpslot_pool *p = calloc(1, sizeof *p);
    if (!p) {
        *err = ENOMEM;
        return NULL;
    }
    p->euid = geteuid();
    p->inotify = -1;
    p->delay = RETRY[0];
    for (int i = 0; i < LPSLOT_MAX_SLOTS; i++)
        p->fd[i] = -1;
    *err = open_pool(p, dir);
    if (*err) {
        lpslot_close(p);
        return NULL;
    }
    return p;
}

void lpslot_close(lpslot_pool *p) {
    if (!p)
        return;
    if (p->dirfd >= 0)
        close(p->dirfd);
    if (p->inotify >= 0)
        close(p->inotify); /* costs the kernel a few ms (an RCU grace period): once, here */
    free(p);
}

/* -- the note ----------------------------------------------------------------------------- */

/* {"job":..,"pid":..,"weight":..,"since":..[,"waited":..]<caller's members>}\n */
static void compose(lpslot_pool *p, int k, double since, double waited, const char *caller,
                    size_t clen) {
    int n = snprintf(p->note, NOTE_SIZE, "{\"job\":\"%ld-%08x\",\"pid\":%ld,\"weight\":%d,"
                     "\"since\":%.6f", (long)getpid(), p->tag, (long)getpid(), k, since);
    if (waited >= 0)
        n += snprintf(p->note + n, NOTE_SIZE - (size_t)n, ",\"waited\":%.6f", waited);
    if (clen) {
        p->note[n++] = ',';
        memcpy(p->note + n, caller, clen);
        n += (int)clen;
    }
    p->note[n++] = '}';
    p->note[n++] = '\n';
    p->note_len = (size_t)n;
}

/* The members of the caller's object (between its braces, trimmed), or EINVAL. */
static int members(const char *note, const char **start, size_t *len) {
    *start = "";
    *len = 0;
    if (!note)
        return 0;
    size_t n = strlen(note);
    if (n > LPSLOT_NOTE_MAX)
        return EINVAL;
    const char *a = note, *b = note + n;
    while (a < b && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r'))
        a++;
    while (b > a && (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n' || b[-1] == '\r'))
        b--;
    if (b - a < 2 || *a != '{' || b[-1] != '}')
        return EINVAL;
    a++, b--;
    while (a < b && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r'))
        a++;
    *start = a;
    *len = (size_t)(b - a);
    return 0;
}

/* -- the line ------------------------------------------------------------------------------ */

struct tickets {
    long long mine, limit; /* our number; nothing at or above limit is looked at */
    long long max, ahead;  /* the largest present; the largest below limit (-1: none) */
    int behind;            /* a ticket above ours exists */
};

static void count_ticket(void *arg, long long n) {
    struct tickets *t = arg;
    if (n > t->max)
        t->max = n;
    if (n < t->limit && n > t->ahead)
        t->ahead = n;
    if (n > t->mine)
        t->behind = 1;
}

struct live {
    lpslot_pool *p;
    long long max;
};

static void count_live(void *arg, long long n) {
    struct live *l = arg;
    char name[32];
    name_of(name, sizeof name, "wait.", n);
    if (n > l->max && held(l->p, name))
        l->max = n;
}

/* Take the next number under queue.lock (see core/waiting.py Ticket.draw): the number
 * is made ours by O_EXCL, not by the lock, so a planted name is passed over, and an
 * unusable queue.lock or one held past QUEUE_PATIENCE is done without. Returns 0 with
 * *number and *fd, or an errno. */
static int draw(lpslot_pool *p, double deadline, long long *number, int *fd) {
    int qfd = open_file(p, QUEUE, O_RDWR | O_CREAT);
    if (qfd == -EACCES || qfd == -EPERM) {
        /* another user's queue.lock, not writable by us: flock needs only read */
        qfd = open_file(p, QUEUE, O_RDONLY);
        if (qfd < 0 && !p->shared)
            return -qfd; /* a private pool's file of another user: its owner is told */
    } else if (qfd < 0 && (!p->shared || !hostile(-qfd))) {
        return -qfd; /* a private pool's own file is broken, or the disk is (EROFS) */
    }
    if (qfd < 0)
        qfd = -1; /* a shared pool's queue.lock taken by another user: done without */
    int e = 0;
    if (qfd >= 0) {
        /* held for microseconds by a drawer: a long hold is hostile (or stopped) */
        double patience = now_mono() + QUEUE_PATIENCE;
        e = flock_until(qfd, LOCK_EX, deadline >= 0 && deadline < patience ? deadline
                                                                          : patience);
        if (e == ETIMEDOUT && !(deadline >= 0 && now_mono() >= deadline))
            e = 0; /* patience ran out: draw without it */
        if (e)
            goto out;
    }
    struct tickets t = {.mine = MAX_NUMBER, .limit = -1, .max = -1, .ahead = -1};
    if ((e = scan(p, "wait.", count_ticket, &t)))
        goto out;
    long long n = t.max + 1;
    if (n >= MAX_NUMBER) { /* planted near the end: count only live tickets */
        struct live l = {p, -1};
        if ((e = scan(p, "wait.", count_live, &l)))
            goto out;
        n = l.max + 1;
    }
    e = EEXIST;
    for (int tries = 0; tries < 1000 && n < MAX_NUMBER; tries++, n++) {
        char name[32];
        name_of(name, sizeof name, "wait.", n);
        int tfd = open_file(p, name, O_RDWR | O_CREAT | O_EXCL);
        if (tfd == -EEXIST)
            continue; /* planted, or drawn without the lock meanwhile */
        if (tfd < 0) {
            e = -tfd;
            break;
        }
        if (flock(tfd, LOCK_EX | LOCK_NB) < 0) { /* new and ours: cannot be held */
            e = errno;
            unlinkat(p->dirfd, name, 0);
            close(tfd);
            break;
        }
        write_note(p, tfd);
        *number = n;
        *fd = tfd;
        e = 0;
        break;
    }
out:
    if (qfd >= 0)
        close(qfd);
    return e;
}

/* Block until no live ticket is older than ours: each waiter sleeps in flock(LOCK_SH) on
 * the one just ahead. A ticket ahead that is not a regular file, that we may not open,
 * or that is dead and that we may not remove (another user's, in a sticky pool) is
 * nobody's place in line: passed over (and, numbers only growing, all that was below
 * it once stays below, so `limit` is all we need to remember). */
static int wait_turn(lpslot_pool *p, long long mine, double deadline) {
    long long limit = mine;
    for (;;) {
        struct tickets t = {.mine = mine, .limit = limit, .max = -1, .ahead = -1};
        int e = scan(p, "wait.", count_ticket, &t);
        if (e)
            return e;
        if (t.ahead < 0)
            return 0;
        char name[32];
        name_of(name, sizeof name, "wait.", t.ahead);
        int fd = openat(p->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
        if (fd < 0) {
            if (errno != ENOENT) /* ELOOP (a symlink), EACCES (not ours to read), ... */
                limit = t.ahead;
            continue; /* ENOENT: it left between the listing and the open */
        }
        struct stat st, now;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            close(fd);
            limit = t.ahead;
            continue;
        }
        e = flock_until(fd, LOCK_SH, deadline);
        if (e) {
            close(fd);
            return e;
        }
        /* Its owner is gone. One that finished unlinked the name before closing, so a
         * name still bound to the inode we locked is a waiter that died in line. */
        if (fstatat(p->dirfd, name, &now, AT_SYMLINK_NOFOLLOW) == 0 &&
            now.st_ino == st.st_ino && now.st_dev == st.st_dev &&
            unlinkat(p->dirfd, name, 0) < 0 && errno != ENOENT)
            limit = t.ahead; /* another user's, in a sticky pool: pass over it */
        close(fd);
    }
}

/* Unlink the ticket, then close it: a successor that still finds the name must see a
 * live ticket, not a dead one. */
static void leave(lpslot_pool *p, long long number, int fd) {
    char name[32];
    name_of(name, sizeof name, "wait.", number);
    unlinkat(p->dirfd, name, 0);
    close(fd);
}

/* -- the head's sleep ------------------------------------------------------------------------ */

static int network_fs(int dirfd) {
    struct statfs sf;
    if (fstatfs(dirfd, &sf) < 0)
        return 0;
    switch ((unsigned long)sf.f_type) {
    case 0x6969UL:     /* NFS */
    case 0xFF534D42UL: /* CIFS */
    case 0xFE534D42UL: /* SMB2 */
    case 0x517BUL:     /* SMB */
    case 0x65735546UL: /* FUSE (glusterfs and friends) */
    case 0x01021997UL: /* 9P */
    case 0x00C36400UL: /* Ceph */
    case 0x0BD00BD0UL: /* Lustre */
        return 1;
    default:
        return 0;
    }
}

/* The inotify watch on the pool, made once per handle; -1: poll (no instance left,
 * EMFILE; no watch left, ENOSPC; a network filesystem; or asked to). */
static void watch(lpslot_pool *p, int flags) {
    if (p->inotify >= 0 || (flags & LPSLOT_POLLING) || network_fs(p->dirfd))
        return;
    int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return;
    /* The watch is on the open directory, not its name: a pool renamed meanwhile is
     * still the one we hold. */
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", p->dirfd);
    if (inotify_add_watch(fd, path, WATCH_MASK) < 0) {
        close(fd);
        return;
    }
    p->inotify = fd;
}

/* Sleep until something in the pool is closed after writing or renamed onto, until a
 * quick retry is due, or a while. Returns 0, ETIMEDOUT once the deadline has passed, or
 * EINTR. */
static int sleep_head(lpslot_pool *p, int polling, double deadline) {
    double wait = p->quick > 0 ? RETRY[N_RETRY - p->quick--] : SAFETY;
    if (deadline >= 0) {
        double left = deadline - now_mono();
        if (left <= 0)
            return ETIMEDOUT;
        if (wait > left)
            wait = left;
    }
    if (polling) {
        int e = nap(wait < p->delay ? wait : p->delay);
        p->delay = p->delay * 2 < POLL_MAX ? p->delay * 2 : POLL_MAX;
        return e;
    }
    double t = now_mono();
    if (t >= p->window) {
        p->window = t + 1.0;
        p->looks = 0;
    }
    if (++p->looks > STORM_LOOKS) {
        /* Woken more often than releases come: another user closing files in the pool
         * in a loop. Look at most every STORM_PAUSE, so that it costs us little. */
        double pause = STORM_PAUSE;
        if (deadline >= 0 && deadline - t < pause)
            pause = deadline - t;
        int e = nap(pause);
        if (e)
            return e;
        wait = 0;
    }
    struct pollfd pfd = {.fd = p->inotify, .events = POLLIN};
    struct timespec ts = span(wait);
    int r = ppoll(&pfd, 1, &ts, NULL); /* NULL: the caller's signal mask, untouched */
    if (r < 0)
        return errno;
    if (r > 0) {
        _Alignas(struct inotify_event) char buf[4096];
        while (read(p->inotify, buf, sizeof buf) > 0)
            ; /* drained at EAGAIN: the descriptor is non-blocking */
        /* The kernel sends the close event just before it drops the lock. */
        p->quick = N_RETRY;
    }
    return 0;
}

/* -- collecting, as the head ----------------------------------------------------------------- */

struct above {
    lpslot_pool *p;
    int slots, held;
};

static void count_above(void *arg, long long i) {
    struct above *a = arg;
    char name[32];
    name_of(name, sizeof name, "slot.", i);
    if (i >= a->slots && held(a->p, name))
        a->held++;
}

/* Open slot i read-write (a holder's close must wake the head), read-only if that is all
 * we may (a shared slot made read-only: flock works on it too). -errno on failure. */
static int open_slot(lpslot_pool *p, int i) {
    char name[32];
    name_of(name, sizeof name, "slot.", i);
    int fd = open_file(p, name, O_RDWR | O_CREAT);
    if (fd == -EACCES || fd == -EPERM)
        fd = open_file(p, name, O_RDONLY);
    return fd;
}

static int try_slot(lpslot_pool *p, int i) {
    int fd = p->state[i] == BUSY ? p->fd[i] : open_slot(p, i);
    if (fd < 0) {
        /* Another user's entry at a slot name (a symlink, a FIFO, a directory, a file we
         * may not open): a slot never free, not tried again while we wait (closing a
         * FIFO we opened for writing would wake us). In a private pool it is the
         * owner's mistake: refused. */
        if (!p->shared || !hostile(-fd))
            return -fd;
        p->state[i] = BAD;
        return 0;
    }
    p->fd[i] = fd;
    p->state[i] = BUSY; /* if not ours: kept open, as its close would wake us */
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        p->state[i] = HELD;
    else if (errno != EWOULDBLOCK)
        return errno; /* ENOLCK: the hand (this one included) is closed by the caller */
    return 0;
}

/* One look: lock free slots below N until we hold w + h (h: slots >= N still held after
 * a shrink). *done when we do. *cap: the weight lowered to the slots that can be free. */
static int gather(lpslot_pool *p, int k, int *hi, int *done, int *cap) {
    int e = refresh(p);
    if (e)
        return e;
    int slots = p->slots, w = k < slots ? k : slots;
    for (int i = slots; i < *hi; i++) { /* shrunk under us */
        if (p->state[i] == HELD || p->state[i] == BUSY)
            close(p->fd[i]);
        p->state[i] = NONE;
        p->signed_[i] = 0;
        p->fd[i] = -1;
    }
    if (slots > *hi)
        *hi = slots;
    struct above a = {p, slots, 0};
    if ((e = scan(p, "slot.", count_above, &a)))
        return e;
    int need = w + a.held, have = 0, bad = 0;
    for (int i = 0; i < slots; i++)
        have += p->state[i] == HELD;
    for (int i = 0; i < slots && have < need; i++) {
        if (p->state[i] == HELD || p->state[i] == BAD)
            continue;
        if ((e = try_slot(p, i)))
            return e;
        have += p->state[i] == HELD;
    }
    for (int i = 0; i < slots; i++)
        bad += p->state[i] == BAD;
    *cap = w;
    if (bad) {
        if (bad >= slots)
            return ENOSPC; /* no slot left at all: the pool is unusable */
        if (w > slots - bad) { /* a heavy job takes all the slots left */
            *cap = slots - bad;
            need -= w - *cap;
        }
    }
    *done = have >= need;
    return 0;
}

/* Close what the hand holds or found busy, below `hi`. */
static void drop_hand(lpslot_pool *p, int hi) {
    for (int i = 0; i < hi; i++) {
        if (p->state[i] == HELD || p->state[i] == BUSY)
            close(p->fd[i]);
        p->state[i] = NONE;
        p->fd[i] = -1;
        p->signed_[i] = 0;
    }
}

static int collect(lpslot_pool *p, int k, double deadline, int flags, lpslot_lease *out) {
    int hi = 0, done = 0, cap = 0, e, looked = 0;
    int polling = (flags & LPSLOT_POLLING) != 0;
    p->quick = 0;
    for (;;) {
        if ((e = gather(p, k, &hi, &done, &cap)))
            break;
        if (done)
            break;
        for (int i = 0; i < hi; i++) /* status shows whose the slots held so far are */
            if (p->state[i] == HELD && !p->signed_[i]) {
                write_note(p, p->fd[i]);
                p->signed_[i] = 1;
            }
        if (!looked++) {
            watch(p, flags);
            polling = polling || p->inotify < 0;
            continue; /* look again now that the watch is there */
        }
        if ((e = sleep_head(p, polling, deadline)))
            break;
    }
    if (e) {
        drop_hand(p, hi);
        return e;
    }
    /* Keep the `cap` lowest, free the others. */
    int n = 0;
    for (int i = 0; i < hi; i++) {
        if (p->state[i] != HELD)
            continue;
        if (n < cap) {
            p->lease_fd[n] = p->fd[i];
            p->lease_slot[n++] = i;
        } else {
            close(p->fd[i]);
        }
        p->state[i] = NONE;
        p->fd[i] = -1;
    }
    drop_hand(p, hi);
    out->pool = p;
    out->count = n;
    out->fds = p->lease_fd;
    out->slots = p->lease_slot;
    return 0;
}

/* -- the calls --------------------------------------------------------------------------- */

int lpslot_acquire(lpslot_pool *p, int k, double timeout_s, const char *note_json,
                   int flags, lpslot_lease *out) {
    const char *caller;
    size_t clen;
    if (!p || !out || k < 1 || members(note_json, &caller, &clen))
        return EINVAL;
    if (p->leased)
        return EBUSY;
    out->pool = NULL;
    out->count = 0;
    const char *wake = getenv("LINKPOOL_WAKEUP");
    if (wake && strcmp(wake, "polling") == 0)
        flags |= LPSLOT_POLLING;
    /* A timeout of a billion seconds (31 years) or more is no timeout. */
    double start = now_mono();
    double deadline = timeout_s < 0 || timeout_s >= 1e9 ? -1 : start + timeout_s;
    double since = now_real();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    p->tag = (p->tag * 2654435761u) ^ (unsigned)ts.tv_nsec ^ ((unsigned)getpid() << 16);
    compose(p, k, since, -1, caller, clen);

    long long number = -1;
    int tfd = -1, e = draw(p, deadline, &number, &tfd);
    if (e)
        return e;
    e = wait_turn(p, number, deadline);
    if (!e)
        e = collect(p, k, deadline, flags, out);
    if (!e) {
        double t = now_real();
        compose(p, k, t, t - since, caller, clen);
        for (int i = 0; i < out->count; i++) {
            write_note(p, out->fds[i]);
            if (flags & LPSLOT_INHERIT) /* for a child to hold across exec */
                fcntl(out->fds[i], F_SETFD, 0);
        }
        p->leased = 1;
    }
    leave(p, number, tfd);
    return e;
}

void lpslot_release(lpslot_lease *lease) {
    if (!lease || !lease->pool)
        return;
    for (int i = 0; i < lease->count; i++) {
        flock(lease->fds[i], LOCK_UN);
        close(lease->fds[i]);
    }
    lease->pool->leased = 0;
    lease->pool = NULL;
    lease->count = 0;
}

struct look {
    lpslot_pool *p;
    const char *prefix;
    int held;
};

static void count_held(void *arg, long long n) {
    struct look *l = arg;
    char name[32];
    name_of(name, sizeof name, l->prefix, n);
    l->held += held(l->p, name);
}

int lpslot_look(lpslot_pool *p, lpslot_status *out) {
    if (!p || !out)
        return EINVAL;
    int e = refresh(p);
    if (e)
        return e;
    struct look slots = {p, "slot.", 0}, tickets = {p, "wait.", 0};
    if ((e = scan(p, "slot.", count_held, &slots)) || (e = scan(p, "wait.", count_held, &tickets)))
        return e;
    out->slots = p->slots;
    out->in_use = slots.held;
    out->waiting = tickets.held;
    out->shared = p->shared;
    return 0;
}
