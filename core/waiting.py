"""The waiting room: the line of tickets in front of a pool's slots, and how its head
sleeps and wakes.

- A waiter draws a ticket (``wait.<n>``, held with ``LOCK_EX``) under ``queue.lock``, then
  blocks with ``LOCK_SH`` on the ticket just before its own: only the head is awake.
- The head sleeps until something in the directory is closed (any release of a slot,
  including the implicit one at a process's death, is a close) or the pool is resized (a
  rename onto pool.json): inotify, or, where it cannot be had (no free instance, a
  network filesystem that does not report other clients' closes, or ``polling``), a short
  back-off poll.
- flock() with a deadline: SIGALRM in the main thread, polling in the others.

It knows the directory's files (:mod:`linkpool.pooldir`), not what the slots are for.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time

from .pooldir import MAX_DIGITS, QUEUE, TICKET, PoolError, numbered, open_file, write_note

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Callable

# After a close event the kernel still holds the lock for a moment (fsnotify_close runs
# before locks_remove_file): retry quickly a few times before a long wait.
RETRY = (0.0002, 0.001, 0.005, 0.02)
SAFETY = 1.0  # inotify waiters re-check this often anyway (a missed event costs <= 1 s)
POLL_MAX = 0.05  # polling waiters back off to this interval
# A head woken more than STORM_LOOKS times in a second (releases are far rarer: each is a
# link's end) looks at most every STORM_PAUSE for the rest of it: a user who closes files
# in the pool in a loop must not make every waiting link spin.
STORM_LOOKS = 100
STORM_PAUSE = 0.02
NETWORK_FS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse", "ceph", "glusterfs", "lustre")
# IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF. Holders open slots
# read-write, so their release is a CLOSE_WRITE; read-only closes (status probes, pool.json
# reads, the head's own looks) are not watched, or the head would wake itself.
WATCH_MASK = 0x8 | 0x80 | 0x400 | 0x800


QUEUE_PATIENCE = 1.0  # queue.lock held longer than this: draw without it (O_EXCL suffices)
MAX_NUMBER = 10 ** MAX_DIGITS  # ticket numbers stay below: a longer name is not ours


class Timeout(PoolError):
    """The slots were not granted before the deadline."""


class Expired(Exception):
    """The deadline passed before the lock was granted."""


class _Alarm(Exception):
    pass


# -- the line ---------------------------------------------------------------------------


class Ticket:
    """Our place in the line: ``wait.<number>``, locked by us until we :meth:`leave`."""

    def __init__(self, dirfd: int, path: str, number: int, fd: int) -> None:
        self.dirfd, self.path, self.number, self.fd = dirfd, path, number, fd

    @classmethod
    def draw(cls, dirfd: int, path: str, shared: bool, note: bytes,
             deadline: float | None) -> Ticket:
        """Take the next number under ``queue.lock``; ``note`` (who we are) is written in it.

        The number is made ours by O_EXCL, not by the lock: a name planted by another user
        (of a shared pool) is passed over and the next number drawn. So is an unusable
        queue.lock (a symlink, a FIFO, a file we may not open) or one held longer than
        :data:`QUEUE_PATIENCE` (by another user for ever, or by a stopped drawer): the
        draw then goes without it, only the order among simultaneous arrivals is then the
        kernel's."""
        try:
            qfd = open_file(dirfd, path, QUEUE, os.O_RDWR | os.O_CREAT, shared)
        except PermissionError:  # another user's queue.lock, not writable: flock needs read
            qfd = _open_or_none(dirfd, path, QUEUE, shared)
        except PoolError:
            if not shared:
                raise  # a private pool's own file is broken: its owner is told
            qfd = -1
        try:
            if qfd >= 0:
                try:  # held for microseconds by a drawer: a long hold is hostile (or stopped)
                    patience = time.monotonic() + QUEUE_PATIENCE
                    lock(qfd, fcntl.LOCK_EX, min(deadline or patience, patience), path)
                except Timeout:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise
            numbers = numbered(dirfd, TICKET)
            number = max(numbers) + 1 if numbers else 0
            if number >= MAX_NUMBER:  # planted near the end: count only live tickets
                number = max([n for n in numbers if _held(dirfd, f"{TICKET}{n}")] or [-1]) + 1
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
            for _ in range(1000):
                if number >= MAX_NUMBER:
                    break
                try:
                    fd = open_file(dirfd, path, f"{TICKET}{number}", flags, shared)
                except FileExistsError:  # planted (or drawn without the lock) meanwhile
                    number += 1
                    continue
                fcntl.flock(fd, fcntl.LOCK_EX)  # cannot block: the file is new and ours
                write_note(fd, note)
                return cls(dirfd, path, number, fd)
            raise PoolError(f"no ticket number free in {path}: remove its wait.* files")
        finally:
            if qfd >= 0:
                os.close(qfd)

    def wait_turn(self, deadline: float | None, notice: Notice) -> None:
        """Block until no live ticket is older than ours (each waiter watches one other).

        A ticket ahead that is no regular file (a symlink, a FIFO, a directory another
        user put there) or that we may not open is nobody's place in line: passed over."""
        dead: set[int] = set()  # tickets found dead that we may not remove (another user's)
        while True:
            older = [n for n in numbered(self.dirfd, TICKET) if n < self.number and n not in dead]
            if not older:
                return
            ahead = max(older)
            name = f"{TICKET}{ahead}"
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                             dir_fd=self.dirfd)
            except FileNotFoundError:
                continue  # it left between listing and opening
            except OSError:  # ELOOP (a symlink), EACCES (not readable to us), ENXIO...
                dead.add(ahead)
                continue
            try:
                if not stat.S_ISREG(os.fstat(fd).st_mode) or (
                        self._outwait(fd, deadline, notice) and not self._clear(name, fd)):
                    dead.add(ahead)
            finally:
                os.close(fd)

    def _outwait(self, fd: int, deadline: float | None, notice: Notice) -> bool:
        """Block on the ticket ahead until its owner is gone (True), or until ``notice``
        has spoken (False: wait on, to the real deadline)."""
        try:
            lock(fd, fcntl.LOCK_SH, notice.clip(deadline), self.path)
        except Timeout:
            if notice.fire_if_due():
                return False
            raise
        return True

    def _clear(self, name: str, fd: int) -> bool:
        """Remove a dead waiter's ticket (``fd``, which we could lock); False if we may not.

        A finished owner unlinks its ticket before closing it, so a name still bound to
        the inode we locked belongs to a waiter that died in line."""
        try:
            if os.stat(name, dir_fd=self.dirfd, follow_symlinks=False).st_ino == \
                    os.fstat(fd).st_ino:
                os.unlink(name, dir_fd=self.dirfd)
        except FileNotFoundError:
            pass  # someone else cleared it
        except OSError:
            # In a shared (sticky) pool another user's dead ticket cannot be removed by
            # us: pass over it instead of locking it again and again.
            return False
        return True

    def nobody_behind(self) -> bool:
        return not any(n > self.number for n in numbered(self.dirfd, TICKET))

    def leave(self) -> None:
        """Unlink the ticket, then close it: a successor that still finds the name must
        see a live ticket, not a dead one."""
        try:
            os.unlink(f"{TICKET}{self.number}", dir_fd=self.dirfd)
        except FileNotFoundError:
            pass
        os.close(self.fd)


def _open_or_none(dirfd: int, path: str, name: str, shared: bool) -> int:
    """``name`` opened read-only (flock needs no more), or -1 if it cannot be."""
    try:
        return open_file(dirfd, path, name, os.O_RDONLY, shared)
    except (OSError, PoolError):
        return -1


def _held(dirfd: int, name: str) -> bool:
    """Whether someone holds a lock on ``name`` (a probe with LOCK_EX: LOCK_SH too)."""
    fd = _open_or_none(dirfd, "", name, True)
    if fd < 0:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


class Notice:
    """Calls ``speak()`` once, when a wait has lasted ``after`` seconds."""

    def __init__(self, speak: Callable[[], None] | None, after: float) -> None:
        self.speak = speak
        self.at = time.monotonic() + after if speak is not None else None

    def clip(self, deadline: float | None) -> float | None:
        """The earlier of ``deadline`` and the moment to speak, if still to come."""
        if self.at is None:
            return deadline
        return self.at if deadline is None else min(deadline, self.at)

    def fire_if_due(self) -> bool:
        if self.at is None or time.monotonic() < self.at:
            return False
        self.at = None
        if self.speak is not None:
            self.speak()
        return True


def lock(fd: int, op: int, deadline: float | None, path: str) -> None:
    """flock(``op``) by ``deadline``, else :class:`Timeout` naming the pool at ``path``."""
    if deadline is None:
        fcntl.flock(fd, op)  # the common case
        return
    try:
        flock_until(fd, op, deadline)
    except Expired:
        raise Timeout(f"no free slots in {path} in time") from None


def flock_until(fd: int, op: int, deadline: float | None) -> None:
    """flock() that gives up at ``deadline`` (SIGALRM in the main thread, else polling)."""
    if deadline is None:
        fcntl.flock(fd, op)
        return
    try:
        fcntl.flock(fd, op | fcntl.LOCK_NB)
        return
    except BlockingIOError:
        pass
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        _poll_flock(fd, op, deadline)  # signals are delivered to the main thread only
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise _Alarm

    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Alarm
        signal.setitimer(signal.ITIMER_REAL, left)
        fcntl.flock(fd, op)  # EINTR from the alarm: Python runs on_alarm, which raises
        signal.setitimer(signal.ITIMER_REAL, 0)
    except _Alarm:
        raise Expired from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def _poll_flock(fd: int, op: int, deadline: float) -> None:
    delay = 0.001
    while True:
        if time.monotonic() >= deadline:
            raise Expired
        time.sleep(min(delay, max(0.0, deadline - time.monotonic())))
        delay = min(delay * 2, POLL_MAX)
        try:
            fcntl.flock(fd, op | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass


# -- the head's sleep -------------------------------------------------------------------


class Waiter:
    """The head's sleep between two looks at the slots: until something in the pool
    directory is closed (inotify), or a short poll."""

    def __init__(self, fd: int) -> None:
        self.fd = fd  # the inotify descriptor; -1: poll
        self.delay = RETRY[0]  # the polling back-off
        self.quick: list[float] = []  # the short waits left after a wake-up (see RETRY)
        self.window, self.looks = 0.0, 0  # looks in the current second (see STORM_LOOKS)

    @staticmethod
    def mode_for(path: str, polling: bool = False) -> str:
        """How a head of the pool at ``path`` wakes: "inotify" or "polling (why)"."""
        if polling:  # forced, e.g. to test the fallback
            return "polling (forced)"
        fs = fs_type(path)
        return f"polling ({fs})" if network_fs(fs) else "inotify"

    @classmethod
    def for_dir(cls, path: str, dirfd: int, polling: bool) -> Waiter:
        if Waiter.mode_for(path, polling) != "inotify":
            return cls(-1)
        return cls(_watch(dirfd))

    def sleep(self, deadline: float | None, notice: Notice, late: str) -> None:
        """Sleep until woken, until a quick retry is due, or until ``notice`` must speak;
        raise :class:`Timeout` (``late``) once ``deadline`` has passed."""
        wait = self.quick.pop(0) if self.quick else SAFETY
        notice.fire_if_due()
        until = notice.clip(deadline)
        if until is not None:
            left = until - time.monotonic()
            if left <= 0 and until == deadline:
                raise Timeout(late)
            wait = max(0.0, min(wait, left))
        if self.fd >= 0 and self._storm():
            # Woken more often than releases come: another user closing files in the
            # pool in a loop. Look at most every STORM_PAUSE, so that it costs us little.
            pause = STORM_PAUSE if until is None else min(STORM_PAUSE, until - time.monotonic())
            time.sleep(max(0.0, pause))
            wait = 0.0
        if self._wait(wait):
            self.quick = list(RETRY)

    def _storm(self) -> bool:
        now = time.monotonic()
        if now >= self.window:
            self.window, self.looks = now + 1.0, 0
        self.looks += 1
        return self.looks > STORM_LOOKS

    def _wait(self, timeout: float) -> bool:
        """True when woken by an event, False when the time ran out."""
        if self.fd < 0:
            time.sleep(min(timeout, self.delay))
            self.delay = min(self.delay * 2, POLL_MAX)
            return False
        import select

        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            while os.read(self.fd, 65536):
                pass
        except BlockingIOError:  # drained: the descriptor is non-blocking
            pass
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _libc() -> Any:
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True)
    except (ImportError, OSError) as e:
        raise OSError(errno.ENOSYS, f"no C library to call ({e})") from None


def open_inotify() -> int:
    """A new non-blocking inotify descriptor. OSError: EMFILE past max_user_instances,
    ENOSYS without inotify_init1."""
    libc = _libc()
    try:
        init = libc.inotify_init1
    except AttributeError:
        raise OSError(errno.ENOSYS, "no inotify_init1 in the C library") from None
    fd = int(init(os.O_NONBLOCK | os.O_CLOEXEC))
    if fd < 0:
        import ctypes

        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))
    return fd


def _watch(dirfd: int) -> int:
    """An inotify descriptor watching the pool for closes and renames; -1 if unavailable."""
    try:
        fd = open_inotify()
    except OSError:
        return -1  # EMFILE past max_user_instances: polling still works
    # The watch is on the open directory, not its name: a pool renamed meanwhile is still
    # the one we hold.
    if _libc().inotify_add_watch(fd, f"/proc/self/fd/{dirfd}".encode(), WATCH_MASK) < 0:
        os.close(fd)
        return -1  # ENOSPC past max_user_watches: poll
    return fd


def probe_inotify(polling: bool) -> tuple[bool, str]:
    """Whether this process can have an inotify instance, and why not (for doctor)."""
    if polling:
        return False, "switched off by LINKPOOL_WAKEUP=polling"
    try:
        os.close(open_inotify())
    except OSError as e:
        if e.errno == errno.EMFILE:
            return False, "every instance this user may have is in use (max_user_instances)"
        return False, f"inotify_init1 failed: {e.strerror}"
    return True, "works"


def network_fs(fs: str) -> bool:
    """Whether a filesystem type is one whose other clients' closes inotify does not see."""
    return fs in NETWORK_FS or fs.startswith("fuse")


def fs_type(path: str) -> str:
    """The filesystem type under ``path``, from /proc/self/mountinfo ("" if unknown)."""
    from .capacity import mounts  # the one mountinfo reader; capacity reads cgroups with it

    best, fstype = "", ""
    for kind, _, point, _ in mounts():
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):  # a later mount on the same point hides earlier
            best, fstype = point, kind
    return fstype
