/* lpslot: the linkpool slot protocol, version 1 (see lpslot.h and docs/protocol.md).
 *
 * The shape follows core/waiting.py and core/pool.py, one function per step:
 *   open_pool  - the directory and pool.json, checked (pooldir.py's rules)
 *   draw       - a ticket wait.<n> under queue.lock, made ours by O_EXCL
 *   wait_turn  - flock(LOCK_SH) on the ticket just ahead, until none is ahead
 *   collect    - as the head: k + h slots below N, sleeping on inotify or polling
 *   grow       - once admitted, nobody behind: free slots besides, never waiting
 *   leave      - unlink the ticket, then close it
 * and, for `status` and the waiting line, read_note (a note as core/pool.py's _parse
 * reads it with core/strictjson.py) and lpslot_holders (Pool.status's holders).
 * Every file is opened relative to the pool's directory descriptor with
 * O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC and checked with fstat before use: the pool is
 * shared ground, anyone may put anything at any name at any moment.
 */
#define _GNU_SOURCE
#include "lpslot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <locale.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/random.h>
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
#define NOTE_READ 65536     /* bytes of a note read, as `status` reads them */
#define JSON_DEPTH 490      /* arrays and objects nested in a note, the note itself
                               included: Python's recursion gives out at 491 in the
                               engine's waiting line (3.11), a few less or more elsewhere */
#define JSON_NUMBER 40      /* characters of one number (strictjson: 40) */
#define KEYS_MAX (NOTE_READ / 5 + 2) /* keys in one note: each takes 5 bytes, "":0, */
#define KEY_TABLE 32768     /* open addressing over them: a power of two, > 2 * KEYS_MAX */
#define NAMES_MAX (2 * LPSLOT_MAX_SLOTS) /* slot files lpslot_holders sorts */

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

/* A key of an object in the note being read: its hash, where its text starts, and
 * which object it belongs to (objects are numbered as they open). */
struct jkey {
    uint32_t hash, at, object, cell;
};

/* A holder lpslot_holders has found: one job's slots. Its strings are in `text`. */
struct holder {
    uint64_t job;      /* the job's hash (seeded), with its length below */
    uint32_t job_len;
    int held, gone;    /* slots with its note; a waiter has its job (the head) */
    double since;
    uint32_t pid_at, what_at, what_len;
};

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
    pid_t pid;        /* ours when we acquired: the job's name keeps it */
    /* the note written into the ticket and the slots */
    char note[NOTE_SIZE];
    size_t note_len;
    char dents[DENTS_SIZE];
    /* one acquisition's options, and the lease's note as admitted */
    int acquiring;
    const lpslot_options *opt;
    long long ticket;  /* our number while in line */
    double speak_at;   /* when notice is due (monotonic); < 0: spoken, or none */
    int note_weight;
    double since, waited;
    dev_t lease_dev[LPSLOT_MAX_SLOTS];
    ino_t lease_ino[LPSLOT_MAX_SLOTS];
    /* reading notes (lpslot_holders, and checking the caller's) */
    locale_t c_locale; /* strtod_l's: a note's numbers are JSON's, whatever the locale */
    uint64_t seed;     /* of the job hashes: another user cannot aim at a collision */
    unsigned char rbuf[NOTE_READ];
    struct jkey keys[KEYS_MAX];
    uint32_t table[KEY_TABLE]; /* 1 + an index into keys, 0: empty */
    long long names[NAMES_MAX];
    int nnames;
    struct holder holders[LPSLOT_MAX_SLOTS];
    int order[LPSLOT_MAX_SLOTS];
    char text[LPSLOT_TEXT_MAX];
    size_t text_len;
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
    p->speak_at = -1;
    p->c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0); /* 0: strtod's own */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (getrandom(&p->seed, sizeof p->seed, GRND_NONBLOCK) != (ssize_t)sizeof p->seed)
        p->seed = (uint64_t)ts.tv_nsec << 32 ^ (uint64_t)ts.tv_sec ^ (uint64_t)getpid();
    p->seed ^= 0xcbf29ce484222325ULL; /* FNV's offset basis, made ours */
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
    if (p->c_locale)
        freelocale(p->c_locale);
    free(p);
}

/* -- reading notes ------------------------------------------------------------------------ */

/* A note is read as `linkpool status` reads it: core/strictjson.py's loads, then
 * core/pool.py's _parse. The whole text UTF-8 (strict: no overlong form, no surrogate,
 * nothing above U+10FFFF); JSON as strictjson takes it (white space " \t\n\r", no control
 * character in a string, a number of at most JSON_NUMBER characters and finite, no key
 * twice in any object, at most JSON_DEPTH arrays and objects deep); one object with a
 * "job", each field _parse knows of a type it allows. Any other text is no note (an
 * unknown holder). It is whatever another user wrote: never a crash, never a recursion,
 * one pass over it (and one more over each string kept). */

enum { J_BAD, J_STR, J_INT, J_FLOAT, J_BOOL, J_NULL, J_OBJECT, J_ARRAY };
#define KIND(k) (1u << (k))

/* The fields core/pool.py's _parse checks, and the kinds each may be. */
enum { F_JOB, F_PID, F_WEIGHT, F_SINCE, F_WAITED, F_OUTPUT, F_COMMAND, N_FIELDS = 14 };
static const struct {
    const char *name;
    unsigned kinds;
} FIELDS[N_FIELDS] = {
    {"job", KIND(J_STR)},
    {"pid", KIND(J_INT)},
    {"weight", KIND(J_INT)},
    {"since", KIND(J_INT) | KIND(J_FLOAT)},
    {"waited", KIND(J_INT) | KIND(J_FLOAT)},
    {"output", KIND(J_STR) | KIND(J_NULL)},
    {"command", KIND(J_ARRAY)}, /* of strings */
    {"wrapper", KIND(J_INT)},
    {"held", KIND(J_INT)},
    {"threads", KIND(J_INT) | KIND(J_NULL)},
    {"tokens", KIND(J_INT) | KIND(J_NULL)},
    {"cwd", KIND(J_STR) | KIND(J_NULL)},
    {"linker", KIND(J_STR) | KIND(J_NULL)},
    {"pidns", KIND(J_STR) | KIND(J_NULL)},
};

/* What read_note keeps of a note: offsets into its text (0: absent). */
struct note {
    unsigned seen;         /* bit f: FIELDS[f] is there */
    size_t job;            /* the job's text (after its opening quote) */
    size_t pid, pid_len;   /* the pid's digits */
    size_t output;         /* the output's text; 0: absent or null */
    size_t command;        /* command[0]'s text; 0: no command, or an empty one */
    double since;          /* 0 when absent, as Python's h.get("since", 0) */
};

typedef struct {
    lpslot_pool *p;
    const unsigned char *s;
    size_t i, n;
    uint32_t nkeys, objects; /* keys read, objects opened */
} jreader;

size_t lpslot_utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    if (c < 0x80)
        return 1;
    if (c < 0xC2 || c > 0xF4)
        return 0; /* a continuation byte, an overlong lead, or beyond U+10FFFF */
    size_t len = c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++)
        if ((s[i] & 0xC0) != 0x80)
            return 0;
    if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xF0 && s[1] < 0x90))
        return 0; /* overlong */
    if ((c == 0xED && s[1] >= 0xA0) || (c == 0xF4 && s[1] >= 0x90))
        return 0; /* a surrogate; above U+10FFFF */
    return len;
}

/* A character's bytes: UTF-8, and for a surrogate (only an escape makes one) the same
 * three-byte form, so that different strings never have the same bytes. */
static size_t wtf8(uint32_t cp, unsigned char *out) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | cp >> 6);
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | cp >> 12);
        out[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | cp >> 18);
    out[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

static long hex4(const unsigned char *s, size_t n, size_t i) {
    if (n < 4 || i > n - 4)
        return -1;
    long v = 0;
    for (size_t k = i; k < i + 4; k++) {
        int c = s[k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* The next character of a string whose text goes on at *i: 1 with *cp; 0 at its closing
 * quote (*i past it); -1 where strictjson refuses it (a control character, a bad escape,
 * the end of the text). An escaped high surrogate just before an escaped low one makes
 * one character with it; a lone one is a character of its own, as in Python. */
static int jchar(const unsigned char *s, size_t n, size_t *i, uint32_t *cp) {
    if (*i >= n)
        return -1;
    unsigned c = s[*i];
    if (c == '"') {
        ++*i;
        return 0;
    }
    if (c < 0x20)
        return -1;
    if (c != '\\') {
        size_t len = lpslot_utf8_len(s + *i, n - *i);
        if (!len)
            return -1;
        uint32_t v = len == 1 ? c : c & (0x7Fu >> len);
        for (size_t k = 1; k < len; k++)
            v = v << 6 | (s[*i + k] & 0x3Fu);
        *cp = v;
        *i += len;
        return 1;
    }
    if (*i + 1 >= n)
        return -1;
    switch (s[*i + 1]) {
    case '"':
    case '\\':
    case '/':
        *cp = s[*i + 1];
        break;
    case 'b':
        *cp = '\b';
        break;
    case 'f':
        *cp = '\f';
        break;
    case 'n':
        *cp = '\n';
        break;
    case 'r':
        *cp = '\r';
        break;
    case 't':
        *cp = '\t';
        break;
    case 'u': {
        long code = hex4(s, n, *i + 2);
        if (code < 0)
            return -1;
        *i += 6;
        if (code >= 0xD800 && code < 0xDC00 && *i + 1 < n && s[*i] == '\\' && s[*i + 1] == 'u') {
            long low = hex4(s, n, *i + 2);
            if (low < 0)
                return -1;
            if (low >= 0xDC00 && low < 0xE000) {
                code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
                *i += 6;
            }
        }
        *cp = (uint32_t)code;
        return 1;
    }
    default:
        return -1;
    }
    *i += 2;
    return 1;
}

/* FNV-1a from `basis` over the bytes (wtf8) of the string whose text starts at `at`
 * (already read: it is well formed); *len: how many bytes. */
static uint64_t jhash(const unsigned char *s, size_t n, size_t at, uint64_t basis,
                      uint32_t *len) {
    uint64_t h = basis;
    uint32_t cp, total = 0;
    while (jchar(s, n, &at, &cp) == 1) {
        unsigned char b[4];
        size_t k = wtf8(cp, b);
        for (size_t j = 0; j < k; j++)
            h = (h ^ b[j]) * 0x100000001b3ULL;
        total += (uint32_t)k;
    }
    if (len)
        *len = total;
    return h;
}

/* Whether the strings whose texts start at a and b are the same characters. */
static int jsame(const unsigned char *s, size_t n, size_t a, size_t b) {
    for (;;) {
        uint32_t x = 0, y = 0;
        int ra = jchar(s, n, &a, &x), rb = jchar(s, n, &b, &y);
        if (ra != rb || x != y)
            return 0;
        if (ra != 1)
            return ra == 0;
    }
}

static void jblank(jreader *r) {
    while (r->i < r->n && (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' ||
                           r->s[r->i] == '\r'))
        r->i++;
}

static int jpeek(const jreader *r) {
    return r->i < r->n ? r->s[r->i] : -1;
}

/* Past the string whose text starts at r->i: 1, or 0 if strictjson refuses it. */
static int jstring(jreader *r) {
    uint32_t cp;
    int rc;
    while ((rc = jchar(r->s, r->n, &r->i, &cp)) == 1)
        ;
    return rc == 0;
}

/* The key whose text starts at r->i, of the object numbered `object`: read, and
 * refused if that object has it already (strictjson: two readers could each take a
 * different one). The keys of all objects of the note share one hash table. */
static int jkey(jreader *r, uint32_t object) {
    size_t at = r->i;
    if (!jstring(r) || r->nkeys >= KEYS_MAX)
        return 0;
    lpslot_pool *p = r->p;
    uint32_t h = (uint32_t)jhash(r->s, r->n, at, p->seed, NULL);
    uint32_t cell = h & (KEY_TABLE - 1);
    for (; p->table[cell]; cell = (cell + 1) & (KEY_TABLE - 1)) {
        const struct jkey *k = &p->keys[p->table[cell] - 1];
        if (k->object == object && k->hash == h && jsame(r->s, r->n, at, k->at))
            return 0;
    }
    p->keys[r->nkeys] = (struct jkey){h, (uint32_t)at, object, cell};
    p->table[cell] = ++r->nkeys;
    return 1;
}

/* A number at r->i, as strictjson's _number: J_INT, J_FLOAT or J_BAD; *value (if asked)
 * its value as Python's float() would have it. */
static int jnumber(jreader *r, double *value) {
    const unsigned char *s = r->s;
    size_t n = r->n, i = r->i, j = i, k;
    int kind = J_INT;
    if (j < n && s[j] == '-')
        j++;
    for (k = j; j < n && s[j] >= '0' && s[j] <= '9'; j++)
        ;
    if (j == k || (s[k] == '0' && j - k > 1))
        return J_BAD; /* no digit; a leading zero */
    if (j < n && s[j] == '.') {
        kind = J_FLOAT;
        for (k = ++j; j < n && s[j] >= '0' && s[j] <= '9'; j++)
            ;
        if (j == k)
            return J_BAD;
    }
    if (j < n && (s[j] == 'e' || s[j] == 'E')) {
        kind = J_FLOAT;
        if (++j < n && (s[j] == '+' || s[j] == '-'))
            j++;
        for (k = j; j < n && s[j] >= '0' && s[j] <= '9'; j++)
            ;
        if (j == k)
            return J_BAD;
    }
    if (j - i > JSON_NUMBER)
        return J_BAD;
    char text[JSON_NUMBER + 1];
    memcpy(text, s + i, j - i);
    text[j - i] = '\0';
    double v = r->p->c_locale ? strtod_l(text, NULL, r->p->c_locale) : strtod(text, NULL);
    if (kind == J_FLOAT && !(v - v == 0))
        return J_BAD; /* 1e999 is infinite: not a number JSON can carry */
    if (value)
        *value = v;
    r->i = j;
    return kind;
}

/* A string, number, true, false or null at r->i: its kind, r->i past it; J_BAD. */
static int jscalar(jreader *r, double *value) {
    static const struct {
        const char *word;
        int kind;
    } words[] = {{"true", J_BOOL}, {"false", J_BOOL}, {"null", J_NULL}};
    int c = jpeek(r);
    if (c == '"') {
        r->i++;
        return jstring(r) ? J_STR : J_BAD;
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return jnumber(r, value);
    for (size_t w = 0; w < sizeof words / sizeof words[0]; w++) {
        size_t len = strlen(words[w].word);
        if (r->n - r->i >= len && memcmp(r->s + r->i, words[w].word, len) == 0) {
            r->i += len;
            return words[w].kind;
        }
    }
    return J_BAD;
}

/* Any value at r->i, inside `depth` arrays and objects: its kind, r->i past it; J_BAD.
 * Nested arrays and objects are walked with a stack of their own, not by recursion. */
static int jvalue(jreader *r, int depth) {
    enum { OPEN, KEY, VALUE, NEXT, CLOSED };
    int c = jpeek(r);
    if (c != '{' && c != '[')
        return jscalar(r, NULL);
    int kind = c == '{' ? J_OBJECT : J_ARRAY, top = 0, state = OPEN;
    char close[JSON_DEPTH];
    uint32_t object[JSON_DEPTH];
    for (;;) {
        switch (state) {
        case OPEN: /* at '{' or '[' */
            if (depth + top >= JSON_DEPTH)
                return J_BAD; /* Python's recursion would give out */
            close[top] = r->s[r->i++] == '{' ? '}' : ']';
            object[top] = close[top] == '}' ? ++r->objects : 0;
            top++;
            jblank(r);
            if (jpeek(r) == close[top - 1]) {
                r->i++;
                state = CLOSED;
            } else {
                state = close[top - 1] == '}' ? KEY : VALUE;
            }
            break;
        case KEY:
            if (jpeek(r) != '"')
                return J_BAD;
            r->i++;
            if (!jkey(r, object[top - 1]))
                return J_BAD;
            jblank(r);
            if (jpeek(r) != ':')
                return J_BAD;
            r->i++;
            jblank(r);
            state = VALUE;
            break;
        case VALUE:
            c = jpeek(r);
            if (c == '{' || c == '[') {
                state = OPEN;
                break;
            }
            if (jscalar(r, NULL) == J_BAD)
                return J_BAD;
            state = NEXT;
            break;
        case CLOSED:
            if (--top == 0)
                return kind;
            state = NEXT;
            break;
        case NEXT: /* a value inside close[top - 1] has ended */
            jblank(r);
            c = jpeek(r);
            if (c == ',') {
                r->i++;
                jblank(r);
                state = close[top - 1] == '}' ? KEY : VALUE;
            } else if (c == close[top - 1]) {
                r->i++;
                state = CLOSED;
            } else {
                return J_BAD;
            }
            break;
        }
    }
}

/* Which of FIELDS the key whose text starts at `at` is, or -1. */
static int field_of(const unsigned char *s, size_t n, size_t at) {
    char name[8];
    size_t len = 0;
    uint32_t cp;
    while (jchar(s, n, &at, &cp) == 1) {
        if (cp == 0 || cp >= 0x80 || len == sizeof name - 1)
            return -1;
        name[len++] = (char)cp;
    }
    name[len] = '\0';
    for (int f = 0; f < N_FIELDS; f++)
        if (strcmp(name, FIELDS[f].name) == 0)
            return f;
    return -1;
}

/* The command: an array of strings (_parse), command[0]'s text noted. */
static int command_of(jreader *r, struct note *out) {
    r->i++;
    jblank(r);
    if (jpeek(r) == ']') {
        r->i++;
        return J_ARRAY;
    }
    for (;;) {
        if (jpeek(r) != '"')
            return J_BAD; /* not a string: no note, whatever follows */
        if (!out->command)
            out->command = r->i + 1;
        if (jscalar(r, NULL) != J_STR)
            return J_BAD;
        jblank(r);
        if (jpeek(r) == ',') {
            r->i++;
            jblank(r);
        } else if (jpeek(r) == ']') {
            r->i++;
            return J_ARRAY;
        } else {
            return J_BAD;
        }
    }
}

/* The note's object, member by member. `caller`: a caller's note (any member of any
 * type, no job needed). */
static int note_object(jreader *r, int caller, struct note *out) {
    jblank(r);
    if (jpeek(r) != '{')
        return 0; /* not an object: whatever it is, it is no note */
    r->i++;
    uint32_t object = ++r->objects;
    jblank(r);
    if (jpeek(r) == '}')
        r->i++;
    else
        for (;;) {
            if (jpeek(r) != '"')
                return 0;
            size_t key = ++r->i;
            if (!jkey(r, object))
                return 0;
            int f = field_of(r->s, r->n, key);
            jblank(r);
            if (jpeek(r) != ':')
                return 0;
            r->i++;
            jblank(r);
            size_t at = r->i;
            double value = 0;
            int kind = f == F_COMMAND && !caller && jpeek(r) == '[' ? command_of(r, out)
                       : jpeek(r) == '{' || jpeek(r) == '['        ? jvalue(r, 1)
                                                                    : jscalar(r, &value);
            if (kind == J_BAD)
                return 0;
            if (f >= 0) {
                out->seen |= 1u << f;
                if (!caller && !(FIELDS[f].kinds & KIND(kind)))
                    return 0; /* a field of the wrong type: garbage to _parse */
                if (f == F_JOB)
                    out->job = at + 1;
                else if (f == F_PID) {
                    out->pid = at;
                    out->pid_len = r->i - at;
                } else if (f == F_SINCE)
                    out->since = value;
                else if (f == F_OUTPUT && kind == J_STR)
                    out->output = at + 1;
            }
            jblank(r);
            if (jpeek(r) == ',') {
                r->i++;
                jblank(r);
            } else if (jpeek(r) == '}') {
                r->i++;
                break;
            } else {
                return 0;
            }
        }
    jblank(r);
    return r->i == r->n && (caller || (out->seen & 1u << F_JOB));
}

/* Read the note s[0..n) as `status` does: 1 and *out if it is one, 0 if not. */
static int read_note(lpslot_pool *p, const unsigned char *s, size_t n, int caller,
                     struct note *out) {
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < n;) { /* Python decodes it all first */
        size_t len = lpslot_utf8_len(s + i, n - i);
        if (!len)
            return 0;
        i += len;
    }
    jreader r = {p, s, 0, n, 0, 0};
    int ok = note_object(&r, caller, out);
    for (uint32_t k = 0; k < r.nkeys; k++) /* the table empty again, for the next note */
        p->table[p->keys[k].cell] = 0;
    return ok;
}

/* -- the note ----------------------------------------------------------------------------- */

/* x in microseconds, rounded (0 for what is no time: a NaN, a clock gone mad). */
static long long to_us(double x) {
    double r = x * 1e6;
    if (!(r > -9e18 && r < 9e18))
        return 0;
    return (long long)(r < 0 ? r - 0.5 : r + 0.5);
}

/* x with six decimals, whatever the caller's LC_NUMERIC says ("-12.000250"). */
static int decimal(char *buf, size_t size, double x) {
    long long us = to_us(x);
    unsigned long long a = us < 0 ? 0 - (unsigned long long)us : (unsigned long long)us;
    return snprintf(buf, size, "%s%llu.%06llu", us < 0 ? "-" : "", a / 1000000, a % 1000000);
}

/* {"job":..,"pid":..,"weight":..,"since":..[,"waited":..]<caller's members>}\n, less the
 * protocol's members the caller names (`names`: bits of FIELDS). */
static void compose(lpslot_pool *p, int weight, double since, const double *waited,
                    const char *caller, size_t clen, unsigned names) {
    char *o = p->note;
    size_t n = (size_t)snprintf(o, NOTE_SIZE, "{\"job\":\"%ld-%08x\"", (long)p->pid, p->tag);
    if (!(names & 1u << F_PID))
        n += (size_t)snprintf(o + n, NOTE_SIZE - n, ",\"pid\":%ld", (long)p->pid);
    if (!(names & 1u << F_WEIGHT))
        n += (size_t)snprintf(o + n, NOTE_SIZE - n, ",\"weight\":%d", weight);
    if (!(names & 1u << F_SINCE)) {
        n += (size_t)snprintf(o + n, NOTE_SIZE - n, ",\"since\":");
        n += (size_t)decimal(o + n, NOTE_SIZE - n, since);
    }
    if (waited && !(names & 1u << F_WAITED)) {
        n += (size_t)snprintf(o + n, NOTE_SIZE - n, ",\"waited\":");
        n += (size_t)decimal(o + n, NOTE_SIZE - n, *waited);
    }
    if (clen) {
        o[n++] = ',';
        memcpy(o + n, caller, clen);
        n += clen;
    }
    o[n++] = '}';
    o[n++] = '\n';
    p->note_len = n;
}

/* The members of the caller's note (between its braces, trimmed) and which of FIELDS it
 * names, or EINVAL: not one JSON object as `status` reads them, longer than
 * LPSLOT_NOTE_MAX, or naming job. */
static int members(lpslot_pool *p, const char *note, const char **start, size_t *len,
                   unsigned *names) {
    *start = "";
    *len = 0;
    *names = 0;
    if (!note)
        return 0;
    size_t n = strnlen(note, LPSLOT_NOTE_MAX + 1);
    struct note parsed;
    if (n > LPSLOT_NOTE_MAX || !read_note(p, (const unsigned char *)note, n, 1, &parsed) ||
        (parsed.seen & 1u << F_JOB))
        return EINVAL;
    const char *a = note, *b = note + n;
    while (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r')
        a++;
    while (b[-1] == ' ' || b[-1] == '\t' || b[-1] == '\n' || b[-1] == '\r')
        b--;
    a++, b--; /* the braces */
    while (a < b && (*a == ' ' || *a == '\t' || *a == '\n' || *a == '\r'))
        a++;
    *start = a;
    *len = (size_t)(b - a);
    *names = parsed.seen;
    return 0;
}

/* -- the notice ------------------------------------------------------------------------- */

/* The earlier of `deadline` and the moment the notice is due, if still to come (< 0:
 * neither). */
static double clip(const lpslot_pool *p, double deadline) {
    if (p->speak_at < 0)
        return deadline;
    return deadline >= 0 && deadline < p->speak_at ? deadline : p->speak_at;
}

/* Call the caller's notice once it is due, once (waiting.Notice.fire_if_due): 1 if it
 * spoke now. */
static int speak_if_due(lpslot_pool *p) {
    if (p->speak_at < 0 || now_mono() < p->speak_at)
        return 0;
    p->speak_at = -1;
    p->opt->notice(p, p->ticket, p->opt->ctx);
    return 1;
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
        e = flock_until(fd, LOCK_SH, clip(p, deadline));
        while (e == ETIMEDOUT && speak_if_due(p)) /* then wait on, to the deadline */
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
 * quick retry is due, until the notice is, or a while (Waiter.sleep). Returns 0,
 * ETIMEDOUT once the deadline has passed, or EINTR. */
static int sleep_head(lpslot_pool *p, int polling, double deadline) {
    double wait = p->quick > 0 ? RETRY[N_RETRY - p->quick--] : SAFETY;
    speak_if_due(p);
    double until = clip(p, deadline);
    if (until >= 0) {
        double left = until - now_mono();
        if (left <= 0 && until == deadline)
            return ETIMEDOUT;
        if (wait > left)
            wait = left > 0 ? left : 0;
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
        if (until >= 0 && until - t < pause)
            pause = until - t;
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

/* -- growing, with nobody behind ------------------------------------------------------------- */

static int nobody_behind(lpslot_pool *p, long long mine) {
    struct tickets t = {.mine = mine, .limit = -1, .max = -1, .ahead = -1};
    return scan(p, "wait.", count_ticket, &t) == 0 && !t.behind;
}

/* Up to `more` free slots below N besides the lease's, never waiting for one, if no slot
 * at or above N is held (Pool._grow): we are still the head of the line and nobody waits
 * behind us, so the held total stays within N. A slot that cannot be had is passed over
 * (the lease is good without it). Returns how many were added; the lease stays sorted. */
static int grow(lpslot_pool *p, int more, lpslot_lease *out) {
    if (refresh(p))
        return 0;
    int slots = p->slots, n = out->count, added = 0;
    struct above a = {p, slots, 0};
    if (scan(p, "slot.", count_above, &a) || a.held)
        return 0;
    for (int i = 0, j = 0; i < slots && added < more; i++) {
        while (j < n && p->lease_slot[j] < i)
            j++;
        if (j < n && p->lease_slot[j] == i)
            continue; /* ours already */
        int fd = open_slot(p, i);
        if (fd < 0)
            continue; /* another user's entry, or a file we may not open: not free */
        if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            close(fd);
            continue;
        }
        p->fd[i] = fd; /* the hand's arrays are free again: the new ones wait there */
        p->state[i] = HELD;
        added++;
    }
    /* Merge them in, from the top down. */
    int k = n + added, j = n - 1;
    for (int i = slots - 1; i >= 0 && k > j + 1; i--) {
        if (p->state[i] != HELD)
            continue;
        while (j >= 0 && p->lease_slot[j] > i) {
            k--;
            p->lease_slot[k] = p->lease_slot[j];
            p->lease_fd[k] = p->lease_fd[j];
            j--;
        }
        k--;
        p->lease_slot[k] = i;
        p->lease_fd[k] = p->fd[i];
        p->state[i] = NONE;
        p->fd[i] = -1;
    }
    out->count = n + added;
    return added;
}

/* -- the calls --------------------------------------------------------------------------- */

/* Whether the lease's i-th descriptor is still the slot it locked. */
static int still_slot(const lpslot_pool *p, int i, int fd) {
    struct stat st;
    if (p->lease_dev[i] == 0 && p->lease_ino[i] == 0)
        return 1; /* not known (fstat failed at admission): trusted */
    return fstat(fd, &st) == 0 && st.st_dev == p->lease_dev[i] && st.st_ino == p->lease_ino[i];
}

int lpslot_acquire_ex(lpslot_pool *p, int k, double timeout_s, const char *note_json,
                      int flags, const lpslot_options *opt, lpslot_lease *out) {
    const char *caller;
    size_t clen;
    unsigned names;
    if (!p || !out || k < 1 || (opt && opt->more < 0) ||
        members(p, note_json, &caller, &clen, &names)) /* reads with the pool's table: */
        return EINVAL;                                 /* idle while a notice runs */
    if (p->leased || p->acquiring)
        return EBUSY;
    out->pool = NULL;
    out->count = 0;
    out->waited = 0;
    const char *wake = getenv("LINKPOOL_WAKEUP");
    if (wake && strcmp(wake, "polling") == 0)
        flags |= LPSLOT_POLLING;
    /* A timeout of a billion seconds (31 years) or more is no timeout. */
    double start = now_mono();
    double deadline = timeout_s < 0 || timeout_s >= 1e9 ? -1 : start + timeout_s;
    double since = now_real();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    p->pid = getpid();
    p->tag = (p->tag * 2654435761u) ^ (unsigned)ts.tv_nsec ^ ((unsigned)p->pid << 16);
    compose(p, k, since, NULL, caller, clen, names);

    long long number = -1;
    int tfd = -1, e = draw(p, deadline, &number, &tfd);
    if (e)
        return e;
    p->acquiring = 1;
    p->opt = opt;
    p->ticket = number;
    /* The notice counts from the draw, as waiting.Notice does. */
    p->speak_at = opt && opt->notice && opt->notice_after >= 0 ? now_mono() + opt->notice_after
                                                                : -1;
    e = wait_turn(p, number, deadline);
    if (!e)
        e = collect(p, k, deadline, flags, out);
    if (!e) {
        int weight = k;
        if (opt && opt->more > 0 && nobody_behind(p, number) && grow(p, opt->more, out))
            weight = out->count; /* Pool._grow: lease.update(weight=len(lease.fds)) */
        double t = now_real();
        p->note_weight = weight;
        p->since = t;
        p->waited = (double)to_us(t - since) / 1e6;
        compose(p, weight, t, &p->waited, caller, clen, names);
        for (int i = 0; i < out->count; i++) {
            struct stat st;
            int known = fstat(out->fds[i], &st) == 0;
            p->lease_dev[i] = known ? st.st_dev : 0;
            p->lease_ino[i] = known ? st.st_ino : 0;
            write_note(p, out->fds[i]);
            if (flags & LPSLOT_INHERIT) /* for a child to hold across exec */
                fcntl(out->fds[i], F_SETFD, 0);
        }
        out->waited = p->waited;
        p->leased = 1;
    }
    leave(p, number, tfd);
    p->acquiring = 0;
    p->opt = NULL;
    p->speak_at = -1;
    return e;
}

int lpslot_acquire(lpslot_pool *p, int k, double timeout_s, const char *note_json,
                   int flags, lpslot_lease *out) {
    return lpslot_acquire_ex(p, k, timeout_s, note_json, flags, NULL, out);
}

int lpslot_update_note(lpslot_lease *lease, const char *note_json) {
    const char *caller;
    size_t clen;
    unsigned names;
    if (!lease || !lease->pool || !lease->pool->leased || lease->fds != lease->pool->lease_fd)
        return EINVAL;
    lpslot_pool *p = lease->pool;
    if (members(p, note_json, &caller, &clen, &names))
        return EINVAL;
    compose(p, p->note_weight, p->since, &p->waited, caller, clen, names);
    for (int i = 0; i < lease->count; i++)
        if (still_slot(p, i, lease->fds[i]))
            write_note(p, lease->fds[i]);
    return 0;
}

void lpslot_release(lpslot_lease *lease) {
    if (!lease || !lease->pool)
        return;
    lpslot_pool *p = lease->pool;
    for (int i = 0; i < lease->count; i++) {
        if (!still_slot(p, i, lease->fds[i]))
            continue; /* moved without a word, and its number reused: not ours to close */
        flock(lease->fds[i], LOCK_UN);
        close(lease->fds[i]);
    }
    p->leased = 0;
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

/* -- who holds, as `status` says --------------------------------------------------------------- */

/* A slot or ticket as `status` probes it (pool._probe): 1 and its note in p->rbuf (*len
 * bytes) when someone holds it; 0 when nobody does, or it is gone, not a regular file or
 * not ours to open; -errno when fstat, flock or the read fails (status fails then too). */
static int probe(lpslot_pool *p, const char *name, size_t *len) {
    int fd = openat(p->dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return 0;
    struct stat st;
    int out = 0;
    if (fstat(fd, &st) < 0)
        out = -errno;
    else if (!S_ISREG(st.st_mode) || flock(fd, LOCK_EX | LOCK_NB) == 0)
        out = 0; /* our probe's lock goes with the close */
    else if (errno != EWOULDBLOCK)
        out = -errno;
    else {
        size_t got = 0;
        while (got < NOTE_READ) {
            ssize_t r = pread(fd, p->rbuf + got, NOTE_READ - got, (off_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                out = r < 0 ? -errno : 0;
                break;
            }
            got += (size_t)r;
        }
        *len = got;
        out = out ? out : 1;
    }
    close(fd);
    return out;
}

/* Append n bytes to the holders' text: 0, or EOVERFLOW. */
static int put(lpslot_pool *p, const void *b, size_t n) {
    if (n > LPSLOT_TEXT_MAX - p->text_len)
        return EOVERFLOW;
    memcpy(p->text + p->text_len, b, n);
    p->text_len += n;
    return 0;
}

/* Append the string of the note in p->rbuf (n bytes) whose text starts at `at` as Python
 * writes it to a UTF-8 stream with errors="backslashreplace": UTF-8, and a lone
 * surrogate (no UTF-8 has one) as \udXXX. 0, or EOVERFLOW. */
static int put_string(lpslot_pool *p, size_t n, size_t at) {
    uint32_t cp;
    while (jchar(p->rbuf, n, &at, &cp) == 1) {
        char b[8];
        size_t k = cp >= 0xD800 && cp < 0xE000
                       ? (size_t)snprintf(b, sizeof b, "\\u%04x", (unsigned)cp)
                       : wtf8(cp, (unsigned char *)b);
        if (put(p, b, k))
            return EOVERFLOW;
    }
    return 0;
}

/* A new holder, from the note in p->rbuf: its pid as Python prints it, and what it
 * links (output, else command[0], else "?"). */
static int add_holder(lpslot_pool *p, struct holder *h, const struct note *note, size_t n) {
    int e = 0;
    h->pid_at = (uint32_t)p->text_len;
    if (!(note->seen & 1u << F_PID))
        e = put(p, "None", 4);
    else if (note->pid_len == 2 && memcmp(p->rbuf + note->pid, "-0", 2) == 0)
        e = put(p, "0", 1); /* int("-0") is 0 */
    else
        e = put(p, p->rbuf + note->pid, note->pid_len);
    e = e ? e : put(p, "", 1);
    h->what_at = (uint32_t)p->text_len;
    if (!e && note->output && p->rbuf[note->output] != '"') /* "" is no output */
        e = put_string(p, n, note->output);
    else if (!e && note->command)
        e = put_string(p, n, note->command);
    else if (!e)
        e = put(p, "?", 1);
    h->what_len = (uint32_t)(p->text_len - h->what_at);
    return e ? e : put(p, "", 1);
}

static void add_name(void *arg, long long i) {
    lpslot_pool *p = arg;
    if (p->nnames < NAMES_MAX)
        p->names[p->nnames] = i;
    p->nnames++;
}

static void sift(long long *a, int root, int end) {
    for (;;) {
        int child = 2 * root + 1;
        if (child >= end)
            return;
        if (child + 1 < end && a[child] < a[child + 1])
            child++;
        if (a[root] >= a[child])
            return;
        long long t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

/* Heapsort: ascending, in place, nothing allocated (glibc's qsort may allocate). */
static void sort_names(long long *a, int n) {
    for (int i = n / 2 - 1; i >= 0; i--)
        sift(a, i, n);
    for (int end = n - 1; end > 0; end--) {
        long long t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift(a, 0, end);
    }
}

struct waiters {
    lpslot_pool *p;
    long long ticket;
    int holders, waiting, ahead, e;
};

/* A ticket, as `status` reads it: a waiter if held with a note, whose job is then no
 * holder (the head signs the slots it gathers with its ticket's note). */
static void visit_ticket(void *arg, long long number) {
    struct waiters *w = arg;
    lpslot_pool *p = w->p;
    if (w->e)
        return;
    char name[32];
    name_of(name, sizeof name, "wait.", number);
    size_t n = 0;
    struct note note;
    int held = probe(p, name, &n);
    if (held < 0)
        w->e = -held;
    if (held <= 0 || !read_note(p, p->rbuf, n, 0, &note))
        return;
    w->waiting++;
    w->ahead += number < w->ticket;
    uint32_t len;
    uint64_t job = jhash(p->rbuf, n, note.job, p->seed, &len);
    for (int h = 0; h < w->holders; h++)
        if (p->holders[h].job == job && p->holders[h].job_len == len)
            p->holders[h].gone = 1;
}

int lpslot_holders(lpslot_pool *p, long long ticket, lpslot_holder *out, int max,
                   lpslot_census *census) {
    if (!p || !census || max < 0 || (max > 0 && !out))
        return EINVAL;
    int e = refresh(p);
    if (e)
        return e;
    p->nnames = 0;
    if ((e = scan(p, "slot.", add_name, p)))
        return e;
    if (p->nnames > NAMES_MAX)
        return EOVERFLOW;
    sort_names(p->names, p->nnames);
    /* The slots in order: each job's first slot gives its note (dict.setdefault). */
    int nh = 0;
    p->text_len = 0;
    for (int k = 0; k < p->nnames; k++) {
        char name[32];
        name_of(name, sizeof name, "slot.", p->names[k]);
        size_t n = 0;
        struct note note;
        int held = probe(p, name, &n);
        if (held < 0)
            return -held;
        if (!held || !read_note(p, p->rbuf, n, 0, &note))
            continue; /* free; or an unknown holder */
        uint32_t len;
        uint64_t job = jhash(p->rbuf, n, note.job, p->seed, &len);
        int h = 0;
        while (h < nh && !(p->holders[h].job == job && p->holders[h].job_len == len))
            h++;
        if (h < nh) {
            p->holders[h].held++;
            continue;
        }
        if (nh == LPSLOT_MAX_SLOTS)
            return EOVERFLOW;
        struct holder *x = &p->holders[nh++];
        *x = (struct holder){.job = job, .job_len = len, .held = 1, .since = note.since};
        if ((e = add_holder(p, x, &note, n)))
            return e;
    }
    struct waiters w = {p, ticket, nh, 0, 0, 0};
    if ((e = scan(p, "wait.", visit_ticket, &w)) || (e = w.e))
        return e;
    /* By since, stably (Python's sorted), the waiters' jobs left out. */
    int count = 0;
    for (int h = 0; h < nh; h++) {
        if (p->holders[h].gone)
            continue;
        int k = count++;
        for (; k > 0 && p->holders[p->order[k - 1]].since > p->holders[h].since; k--)
            p->order[k] = p->order[k - 1];
        p->order[k] = h;
    }
    census->slots = p->slots;
    census->holders = count;
    census->waiting = w.waiting;
    census->ahead = w.ahead;
    for (int k = 0; k < count && k < max; k++) {
        const struct holder *x = &p->holders[p->order[k]];
        out[k].pid = p->text + x->pid_at;
        out[k].held = x->held;
        out[k].since = x->since;
        out[k].what = p->text + x->what_at;
        out[k].what_len = x->what_len;
    }
    return 0;
}

int lpslot_slots(const lpslot_pool *p) {
    return p ? p->slots : 0;
}
