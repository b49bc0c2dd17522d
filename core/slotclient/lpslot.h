/* lpslot: the linkpool slot protocol, version 1, as a small C library.
 *
 * A client of a pool made by `linkpool init` (docs/protocol.md is the normative text;
 * core/pool.py, core/waiting.py and core/pooldir.py are the reference implementation).
 * C11, libc only, Linux. No threads, no signal handlers, no allocation after lpslot_open.
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
 * Errors are errno values (strerror() says them); each call lists those it has of its own.
 * Any other is the errno of the system call that failed (EACCES, EROFS, EMFILE, ...).
 *
 * Build: cc -std=c11 -O2 -c lpslot.c (it defines _GNU_SOURCE itself).
 */
#ifndef LPSLOT_H
#define LPSLOT_H

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

/* Slots held. The descriptors are the pool's memory: valid until lpslot_release. */
typedef struct {
    lpslot_pool *pool;
    int count;        /* slots held */
    const int *fds;   /* count descriptors, each holding flock(LOCK_EX) on one slot */
    const int *slots; /* the slot indices, ascending */
} lpslot_lease;

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
 *   ENOMEM          no memory for the handle (about 150 KiB, all it ever allocates)
 * The handle is the caller's: lpslot_close frees it. Not for use by two threads at once. */
lpslot_pool *lpslot_open(const char *dir, int *err);

/* Take k slots (all of them if the pool has fewer), waiting in line in arrival order.
 * `timeout_s` < 0 waits for ever; so does 1e9 or more. `note_json` (or NULL) is one
 * JSON object the caller vouches for, e.g. {"command":["mold","-o","a"],"cwd":"/src"};
 * its members are added to the protocol's (job, pid, weight, since, waited) in the note
 * `linkpool status` shows; it must not repeat those five. `flags`: LPSLOT_INHERIT,
 * LPSLOT_POLLING. On success fills *out and returns 0. Errors:
 *   ETIMEDOUT   no k slots before the deadline (nothing is held)
 *   EINVAL      k < 1, or a note that is not a braced object or is longer than
 *               LPSLOT_NOTE_MAX
 *   EBUSY       this handle already has a lease out (one at a time per handle)
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
int lpslot_acquire(lpslot_pool *pool, int k, double timeout_s, const char *note_json,
                   int flags, lpslot_lease *out);

/* Give the slots back: flock(LOCK_UN), then close, each descriptor. LOCK_UN frees the
 * slot for every copy of the descriptor, children's included. Then *lease is empty
 * (count 0); releasing an empty lease does nothing. */
void lpslot_release(lpslot_lease *lease);

/* Count without disturbing: reads N and probes each slot and ticket with
 * flock(LOCK_EX|LOCK_NB) on a read-only descriptor (whose close wakes no waiter).
 * Returns 0, or the errors of pool.json (EBADMSG, EPROTONOSUPPORT, ENOENT) or of
 * reading the directory. */
int lpslot_look(lpslot_pool *pool, lpslot_status *out);

/* Close the pool's descriptors and free the handle (NULL is allowed). Release a lease
 * first: its arrays are the handle's memory. (A lease not released stays held by its
 * descriptors, in this process or in children that inherited them.) */
void lpslot_close(lpslot_pool *pool);

#ifdef __cplusplus
}
#endif

#endif
