"""Waiting without burning CPU: inotify on the pool directory, a polling fallback, and
flock() with a deadline.

The head of a pool's line sleeps here until something in the directory is closed (any
release of a slot, including the implicit one at a process's death, is a close) or the
pool is resized (a rename onto pool.json). Where inotify cannot be had (no free instance,
a network filesystem that does not report other clients' closes, or
``polling``, which ``$LINKPOOL_WAKEUP=polling`` sets) it polls with a short back-off.
"""

from __future__ import annotations

import fcntl
import os
import time

# After a close event the kernel still holds the lock for a moment (fsnotify_close runs
# before locks_remove_file): retry quickly a few times before a long wait.
RETRY = (0.0002, 0.001, 0.005, 0.02)
SAFETY = 1.0  # inotify waiters re-check this often anyway (a missed event costs <= 1 s)
POLL_MAX = 0.05  # polling waiters back off to this interval
NETWORK_FS = ("nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "fuse", "ceph", "glusterfs", "lustre")


class Expired(Exception):
    """The deadline passed before the lock was granted."""


class _Alarm(Exception):
    pass


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

    def on_alarm(signum: int, frame: object) -> None:
        raise _Alarm

    old = signal.signal(signal.SIGALRM, on_alarm)
    try:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Alarm
        signal.setitimer(signal.ITIMER_REAL, left)
        fcntl.flock(fd, op)
        signal.setitimer(signal.ITIMER_REAL, 0)
    except _Alarm:
        raise Expired from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class Waiter:
    """Sleep until something in the pool directory is closed (inotify), or poll."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.delay = RETRY[0]

    @staticmethod
    def mode_for(path: str, polling: bool = False) -> str:
        if polling:  # forced ($LINKPOOL_WAKEUP=polling), e.g. to test the fallback
            return "polling (forced)"
        fs = fs_type(path)
        return f"polling ({fs})" if fs in NETWORK_FS or fs.startswith("fuse") else "inotify"

    @classmethod
    def for_dir(cls, path: str, dirfd: int, polling: bool = False) -> Waiter:
        if Waiter.mode_for(path, polling) != "inotify":
            return cls(-1)
        return cls(_inotify(dirfd))

    def wait(self, timeout: float) -> bool:
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
        except BlockingIOError:
            pass
        return True

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _inotify(dirfd: int) -> int:
    """An inotify descriptor watching the pool for closes and renames; -1 if unavailable."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if fd < 0:
            return -1  # EMFILE past max_user_instances: polling still works
        # IN_CLOSE_WRITE | IN_MOVED_TO | IN_DELETE_SELF | IN_MOVE_SELF. Holders open slots
        # read-write, so their release is a CLOSE_WRITE; read-only closes (status probes,
        # pool.json reads, the head's own looks) are not watched, or the head would wake
        # itself.
        mask = 0x8 | 0x80 | 0x400 | 0x800
        if libc.inotify_add_watch(fd, f"/proc/self/fd/{dirfd}".encode(), mask) < 0:
            os.close(fd)
            return -1
        return fd
    except (OSError, AttributeError, ImportError):
        return -1


def fs_type(path: str) -> str:
    """The filesystem type under ``path``, from /proc/self/mountinfo ("" if unknown)."""
    best, fstype = "", ""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split()
                mount = fields[4].replace("\\040", " ")
                sep = fields.index("-")
                inside = path == mount or path.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, fstype = mount, fields[sep + 1]
    except (OSError, ValueError, IndexError):
        pass
    return fstype
