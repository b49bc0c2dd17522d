/* lpslot: the linkpool slot protocol, version 1, as a small C library.
 *
 * A client of a pool made by `linkpool init` (docs/protocol.md is the normative text;
 * core/pool.py, core/waiting.py and core/pooldir.py are the reference implementation).
 * C11, libc only, Linux. No threads, no signal handlers, no allocation after lpslot_open.
 * Numbers in notes are written and read without the caller's locale (LC_NUMERIC).
 *
 *   int err;
 *   lpslot_pool *pool = lpslot_open("/run/user/1000/linkpool", &err);
 *   lpslot_lease lease;
 *   if (pool && lpslot_acquire(pool, 2, 60.0, "{\"command\":[\"mold\"]}", 0, &lease) == 0) {
 *       ... link with 2 slots held ...
 *       lpslot_release(&lease);
 *   }
 *   lpslot_close(pool);
 *
 * The C front door (core/frontdoor/) also takes free slots besides when nobody waits
 * behind it, says a line once it has waited a second, and shows the command's pid:
 *
 *   lpslot_options opt = {.more = 2, .notice_after = 1.0, .notice = say_waiting, .ctx = job};
 *   lpslot_acquire_ex(pool, 2, 60.0, note, LPSLOT_INHERIT, &opt, &lease);
 *   ... spawn the command ...
 *   lpslot_update_note(&lease, "{\"command\":[\"mold\"],\"pid\":4242,\"threads\":4}");
 *
 * where say_waiting(pool, ticket, job) calls lpslot_holders(pool, ticket, ...) for who
 * holds the pool and how many wait ahead (core/frontdoor/waitline.c makes the line).
 *
 * Errors are errno values (strerror() says them); each call lists those it has of its own.
 * Any other is the errno of the system call that failed (EACCES, EROFS, EMFILE, ...).
 *
 * Build: cc -std=c11 -O2 -c lpslot.c (it defines _GNU_SOURCE itself).
 */
#ifndef LPSLOT_H
#define LPSLOT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

#define LPSLOT_PROTOCOL 1     /* the version of docs/protocol.md spoken */
#define LPSLOT_MAX_SLOTS 4096 /* the most slots a pool.json may declare */
#define LPSLOT_NOTE_MAX 60000 /* the longest caller's note (status reads 64 KiB) */

/* Flags of lpslot_acquire. */
#define LPSLOT_INHERIT 1 /* the lease's descriptors survive exec (for a child to hold) */
#define LPSLOT_POLLING 2 /* the head polls instead of using inotify (as
                            LINKPOOL_WAKEUP=polling in the environment does) */

/* An open pool: its directory descriptor and the scratch space of one acquisition. */
typedef struct lpslot_pool lpslot_pool;

/* Slots held. The arrays are the pool's memory: valid until lpslot_release. */
typedef struct {
    lpslot_pool *pool;
    int count;        /* slots held */
    int *fds;         /* count descriptors, each holding flock(LOCK_EX) on one slot. A caller
                         that moves one (dup to another number, close the old, as a runner
                         lifting them above RLIMIT_NOFILE does) stores the new number here:
                         lpslot_update_note and lpslot_release use these numbers, and leave
                         alone one that no longer is the slot it locked */
    const int *slots; /* the slot indices, ascending */
    double waited;    /* seconds in line, rounded to microseconds (the note's "waited") */
} lpslot_lease;

/* What lpslot_acquire_ex does besides taking k slots. */
typedef struct {
    int more;            /* once the k slots are held, if nobody waits behind us in line
                            and no slot at or above N is held (after a shrink): take up to
                            `more` further free slots below N, never waiting for one
                            (Pool.acquire's `more`, Pool._grow). 0: none */
    double notice_after; /* seconds in line after which `notice` is called; < 0: never */
    void (*notice)(lpslot_pool *pool, long long ticket, void *ctx);
                         /* called once, from inside the wait (no signal, no thread), when
                            it has lasted notice_after seconds, with our ticket number (for
                            lpslot_holders). It may call lpslot_look and lpslot_holders on
                            `pool`, and no other lpslot call on it. NULL: none */
    void *ctx;           /* passed to notice */
} lpslot_options;

/* One holder, as `linkpool status` lists it (Pool.status()["holders"]): the slots whose
 * notes name one job. Its strings are the pool's memory: valid until the next
 * lpslot_holders or lpslot_close. */
typedef struct {
    const char *pid;   /* the note's "pid" as Python prints it (decimal; "None" if absent) */
    int held;          /* slot files held with this job's note, any index */
    double since;      /* the note's "since" (0 if absent): holders are in its order */
    const char *what;  /* the note's "output", else command[0], else "?": the bytes Python
                          writes for that string to a UTF-8 stderr (a lone surrogate as the
                          six characters \udXXX); NUL-terminated, but may hold NUL bytes */
    size_t what_len;
} lpslot_holder;

/* What lpslot_holders counted. */
typedef struct {
    int slots;   /* N, read now */
    int holders; /* holders with a readable note (all of them, however many were listed) */
    int waiting; /* tickets held with a readable note (waiters, the head included) */
    int ahead;   /* of those, the ones numbered below the ticket asked about */
} lpslot_census;

/* What lpslot_look saw. */
typedef struct {
    int slots;   /* N, from pool.json */
    int in_use;  /* slot files held now (any index, a shrink's leftovers included) */
    int waiting; /* tickets held now (waiters in line, the head included) */
    int shared;  /* 1 for a shared pool (mode 1777, any user may join) */
} lpslot_status;

/* Open the pool directory `dir` (never creates one) and check it as docs/protocol.md's
 * Security section says. Returns a handle, or NULL with *err set:
 *   ENOENT          no such directory, or no pool.json in it (`linkpool init` makes one)
 *   ELOOP           `dir` is a symlink
 *   ENOTDIR         `dir` is not a directory
 *   EPERM           a private pool owned by another user or writable by group/others; a
 *                   shared pool not sticky; a pool.json not made by the directory's owner
 *                   or root; the folder above writable by anyone and not sticky
 *   EBADMSG         pool.json is not exactly a version-1 pool.json (corrupt)
 *   EPROTONOSUPPORT pool.json says a protocol newer than LPSLOT_PROTOCOL
 *   ENOMEM          no memory for the handle (about 1 MiB of address space, most of it
 *                   touched only by lpslot_holders; all it ever allocates)
 * The handle is the caller's: lpslot_close frees it. Not for use by two threads at once. */
lpslot_pool *lpslot_open(const char *dir, int *err);

/* Take k slots (all of them if the pool has fewer), waiting in line in arrival order.
 * `timeout_s` < 0 waits for ever; so does 1e9 or more. `note_json` (or NULL) is one
 * JSON object, e.g. {"command":["mold","-o","a"],"cwd":"/src"}; its members are added
 * to the protocol's (job, pid, weight, since, waited) in the note `linkpool status`
 * shows. One of pid, weight, since or waited that it names replaces the protocol's
 * (it may not name job). `flags`: LPSLOT_INHERIT, LPSLOT_POLLING. `opt` (or NULL): see
 * lpslot_options. On success fills *out and returns 0. Errors:
 *   ETIMEDOUT   no k slots before the deadline (nothing is held)
 *   EINVAL      k < 1; a note that is not one JSON object as `linkpool status` reads
 *               them (core/strictjson.py), names job, or is longer than LPSLOT_NOTE_MAX;
 *               opt->more < 0
 *   EBUSY       this handle already has a lease out (one at a time per handle), or is
 *               acquiring (a call from inside notice)
 *   EINTR       a signal handler of the caller's (installed without SA_RESTART) ran:
 *               the wait is abandoned, nothing is held, the caller decides
 *   ENOSPC      no usable slot left (another user took every slot name of a shared pool)
 *   ELOOP, EISDIR, ENXIO, EMLINK, EPERM
 *               in a private pool: a slot or queue.lock that is a symlink, a directory,
 *               another non-regular file, a file with other names, another user's
 *   EBADMSG, EPROTONOSUPPORT, ENOENT  pool.json became corrupt, newer, or vanished
 *   EEXIST      no ticket number free: a thousand wait.<n> names after the last taken
 *               (planted by another user; `rm wait.*` in the pool, or wait for them)
 * The descriptors are O_CLOEXEC unless LPSLOT_INHERIT. The slots stay held as long as
 * any copy of them is open, in this process or in children that inherited them. */
int lpslot_acquire_ex(lpslot_pool *pool, int k, double timeout_s, const char *note_json,
                      int flags, const lpslot_options *opt, lpslot_lease *out);

/* lpslot_acquire_ex without options (opt NULL). */
int lpslot_acquire(lpslot_pool *pool, int k, double timeout_s, const char *note_json,
                   int flags, lpslot_lease *out);

/* Rewrite the note of every slot of the lease (Lease.update: in place, then truncated to
 * its length; a torn read is possible and tolerated by readers), e.g. once the command
 * runs: {"command":[...],"pid":CHILD,"wrapper":OURS,"threads":8,"tokens":3}. As for
 * lpslot_acquire: the caller's members are added to job, pid, weight, since and waited
 * as they were at admission, and replace pid, weight, since or waited if named. Each
 * call replaces the previous call's members. Returns 0, or EINVAL (no lease, or a note
 * lpslot_acquire would refuse). A slot that cannot be written (read-only in a shared
 * pool, a full disk) keeps its old note: `status` shows less, nothing else changes. */
int lpslot_update_note(lpslot_lease *lease, const char *note_json);

/* Give the slots back: flock(LOCK_UN), then close, each descriptor. LOCK_UN frees the
 * slot for every copy of the descriptor, children's included. A number in lease->fds
 * that no longer is the slot it locked (closed by the caller, then reused) is left
 * alone. Then *lease is empty (count 0); releasing an empty lease does nothing. */
void lpslot_release(lpslot_lease *lease);

/* Count without disturbing: reads N and probes each slot and ticket with
 * flock(LOCK_EX|LOCK_NB) on a read-only descriptor (whose close wakes no waiter).
 * Returns 0, or the errors of pool.json (EBADMSG, EPROTONOSUPPORT, ENOENT) or of
 * reading the directory. */
int lpslot_look(lpslot_pool *pool, lpslot_status *out);

/* The holders and waiters as `linkpool status` sees them (Pool.status()), read from
 * the pool's files without disturbing anyone: each slot and ticket probed with
 * flock(LOCK_EX|LOCK_NB) on a fresh read-only descriptor (O_NOFOLLOW|O_NONBLOCK, regular
 * files only), the note of a held one read (64 KiB at most) and parsed as Python does;
 * a note Python would not read (not JSON, a field of the wrong type) is an unknown
 * holder or waiter, not listed. Holders are ordered by their "since", the first
 * `max` of them put in out[] (out may be NULL when max is 0). `ticket`: the census
 * counts the waiters ahead of it (our own, from notice). Returns 0, EINVAL, the
 * errors of pool.json (EBADMSG, EPROTONOSUPPORT, ENOENT), of reading the directory or
 * of a probe, or EOVERFLOW: more slot files than 2 * LPSLOT_MAX_SLOTS, more holders
 * than LPSLOT_MAX_SLOTS, or more text than LPSLOT_TEXT_MAX bytes (another user's
 * doing; Python would still list them). */
#define LPSLOT_TEXT_MAX 131072 /* bytes of holders' strings lpslot_holders keeps */
int lpslot_holders(lpslot_pool *pool, long long ticket, lpslot_holder *out, int max,
                   lpslot_census *census);

/* N as last read from pool.json (by lpslot_open, lpslot_acquire, lpslot_look or
 * lpslot_holders), without reading it again. */
int lpslot_slots(const lpslot_pool *pool);

/* The length of the UTF-8 sequence at s (n >= 1 bytes left), 0 if none starts there: as
 * Python's strict decoder takes it (no overlong form, no surrogate, nothing above
 * U+10FFFF). The notes' JSON is read by this rule; the front door prints by it. */
size_t lpslot_utf8_len(const unsigned char *s, size_t n);

/* Close the pool's descriptors and free the handle (NULL is allowed). Release a lease
 * first: its arrays are the handle's memory. (A lease not released stays held by its
 * descriptors, in this process or in children that inherited them.) */
void lpslot_close(lpslot_pool *pool);

#ifdef __cplusplus
}
#endif

#endif
