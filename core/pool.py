"""The slot pool: N flock()ed files in one directory, freed by the kernel on any death.

Protocol version 1 (docs/protocol.md is the normative text):

- ``pool.json`` holds ``{"protocol": 1, "slots": N, "shared": bool}``, replaced by rename.
- ``slot.0`` .. ``slot.{N-1}``: regular files, never deleted. A slot is held while an open
  file description of it holds ``flock(LOCK_EX)``; its content names the holder.
- Waiters line up in the waiting room (:mod:`linkpool.waiting`), served in arrival order,
  and only the head of the line collects slots.
- The head collects k + h free slots below N, where h counts slots at or above N that are
  still held after a shrink; it keeps k and frees the rest. So the held total never
  exceeds N, and a heavy job is never overtaken by light ones. Having them, a head that
  nobody waits behind may take more free slots without waiting (``acquire(more=...)``).

This module is the slot protocol: pool.json, acquire, release and status. Whether a
directory or file may be trusted is :mod:`linkpool.pooldir`'s. It knows nothing of
linkers; it asks :mod:`linkpool.capacity` for N only when it makes a pool and its caller
gave no slot count.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from stat import S_ISREG

from . import strictjson
from .pooldir import (
    CONFIG,
    QUEUE,
    SLOT,
    TICKET,
    PoolBroken,
    PoolError,
    check_dir,
    check_parent,
    default_path,
    numbered,
    open_dir,
    open_file,
    write_note,
)
from .waiting import Notice, Ticket, Timeout, Waiter

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Callable

__all__ = [
    "CONFIG", "MAX_SLOTS", "PROTOCOL", "QUEUE", "SLOT", "TICKET", "CorruptConfig", "Lease",
    "MissingConfig", "Pool", "PoolBroken", "PoolError", "Timeout", "WeightError",
    "default_path", "hold", "peek", "read_config", "slot_count",
]

PROTOCOL = 1
MAX_SLOTS = 4096
MAX_CONFIG = 4096  # bytes of pool.json read: it is about 50


# What opening another user's entry in a shared pool can fail with: not ours to open (EACCES,
# EPERM), a FIFO or socket (ENXIO), a directory (EISDIR), a symlink (ELOOP).
_HOSTILE_ERRNOS = frozenset({errno.EACCES, errno.EPERM, errno.ENXIO, errno.EISDIR,
                             errno.ELOOP, errno.ENOTDIR, errno.EOPNOTSUPP})


class MissingConfig(PoolBroken):
    """The directory has no pool.json; ``linkpool init`` (or a first link) writes one."""


class CorruptConfig(PoolBroken):
    """pool.json cannot be parsed; ``linkpool init --slots N`` rewrites it."""


class WeightError(PoolError):
    """More slots were asked for than the pool has."""


# -- pool.json ------------------------------------------------------------------------------


def read_config(dirfd: int, path: str) -> dict[str, Any]:
    """The pool.json of the pool directory ``dirfd`` (at ``path``), checked:
    ``{"slots": N, "shared": bool, "protocol": n}``. Raises :class:`MissingConfig`,
    :class:`CorruptConfig`, or :class:`PoolBroken` (a symlink; a newer protocol)."""
    try:  # O_NONBLOCK: a FIFO named pool.json must not block the open
        fd = os.open(CONFIG, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     dir_fd=dirfd)
    except FileNotFoundError:
        raise MissingConfig(
            f"pool {path} has no {CONFIG}; run `linkpool init --pool {path}`"
        ) from None
    except OSError as e:
        if e.errno == errno.ELOOP:  # O_NOFOLLOW refused a symlink
            raise CorruptConfig(f"{path}/{CONFIG} is a symlink; remove it, or replace it "
                                f"with `linkpool init --pool {path} --slots N`") from e
        raise
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise CorruptConfig(f"{path}/{CONFIG} is not a regular file; remove it, or "
                                f"replace it with `linkpool init --pool {path} --slots N`")
        raw = os.read(fd, MAX_CONFIG + 1)  # a pool.json is 50 bytes: a bigger one is not ours
    finally:
        os.close(fd)
    return parse_config(raw, path)


def parse_config(raw: bytes, path: str) -> dict[str, Any]:
    """Check a pool.json's content (see :func:`read_config`)."""
    try:
        if len(raw) > MAX_CONFIG:
            raise ValueError("too big")
        conf = strictjson.loads(raw)
        if not isinstance(conf, dict):
            raise TypeError(conf)
        slots = conf["slots"]
        if type(slots) is not int or not 1 <= slots <= MAX_SLOTS:
            raise ValueError(slots)
        protocol = conf.get("protocol", PROTOCOL)
        shared = conf.get("shared", False)
        if type(protocol) is not int or protocol < 1 or type(shared) is not bool:
            raise TypeError(protocol, shared)  # only true and false are booleans
        if protocol > PROTOCOL:
            raise PoolBroken(
                f"pool {path} uses protocol {protocol}, newer than this linkpool "
                f"({PROTOCOL}); upgrade linkpool"
            )
        return {"slots": slots, "shared": shared, "protocol": protocol}
    except (ValueError, TypeError, KeyError, AttributeError):
        raise CorruptConfig(
            f"{path}/{CONFIG} is corrupt; repair it with `linkpool init --pool {path} --slots N`"
        ) from None


def write_config(dirfd: int, slots: int, shared: bool) -> None:
    """Replace pool.json: write a temporary file beside it, then rename it over."""
    data = strictjson.dumps({"protocol": PROTOCOL, "slots": slots, "shared": shared}) + "\n"
    tmp = f"{CONFIG}.{os.getpid()}.tmp"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o644, dir_fd=dirfd)
    try:
        os.write(fd, data.encode())
        os.fchmod(fd, 0o644)  # readable by all in a shared pool, whatever the umask
    finally:
        os.close(fd)
    try:
        os.rename(tmp, CONFIG, src_dir_fd=dirfd, dst_dir_fd=dirfd)
    except OSError:
        os.unlink(tmp, dir_fd=dirfd)
        raise


def slot_count(text: str) -> int:
    """A number of slots as a person writes it (``init --slots N``, ``setup system --slots
    N``, ``run --weight K``): ASCII digits only (not "+3", " 3", "1_0" nor "٣", all of
    which int() takes), from 1 to :data:`MAX_SLOTS`; else ValueError saying so."""
    digits = text.lstrip("0")
    if not (text.isascii() and text.isdigit()) or len(digits) > len(str(MAX_SLOTS)) \
            or not 1 <= int(digits or "0") <= MAX_SLOTS:
        raise ValueError(f"takes a whole number from 1 to {MAX_SLOTS}, not {text!r}")
    return int(digits)


def _check_slots(n: int) -> int:
    if type(n) is not int or not 1 <= n <= MAX_SLOTS:
        raise PoolError(f"slots must be a whole number from 1 to {MAX_SLOTS}, not {n}")
    return n


def _new_slots(default_slots: int | Callable[[], int] | None) -> int:
    """The capacity of a pool about to be made: the caller's, else the machine's (the one
    moment the pool asks linkpool.capacity)."""
    if callable(default_slots):
        return _check_slots(default_slots())
    if default_slots is not None:
        return _check_slots(default_slots)
    from .capacity import default_slots as machine_slots
    from .capacity import read_machine

    return _check_slots(machine_slots(read_machine()))


# -- the pool -------------------------------------------------------------------------------


class Pool:
    """An open pool directory. Use :meth:`open`, then :meth:`acquire` or :meth:`status`."""

    def __init__(self, path: str, dirfd: int, slots: int, shared: bool) -> None:
        self.path = path
        self.dirfd = dirfd
        self.slots = slots
        self.shared = shared

    @classmethod
    def open(
        cls,
        path: str | None = None,
        *,
        create: bool = True,
        default_slots: int | Callable[[], int] | None = None,
        shared: bool = False,
        repair: bool = False,
    ) -> Pool:
        """Open (and, with ``create``, make) the pool at ``path`` (default: :func:`default_path`).

        A new pool gets ``default_slots`` slots (an int, or a callable computing it);
        without them, the machine's capacity, computed only then. With ``repair``, a
        corrupt pool.json is rewritten as if it were missing.
        """
        path = os.path.abspath(path or default_path())
        try:
            dirfd = open_dir(path, create, shared)
        except OSError as e:
            raise PoolBroken(f"cannot use pool {path}: {e.strerror}") from e
        pool = cls(path, dirfd, 0, shared)
        try:
            pool._load(create, default_slots, repair)
        except OSError as e:
            pool.close()
            raise PoolBroken(f"cannot use pool {path}: {e.strerror or e}") from e
        except BaseException:
            pool.close()
            raise
        return pool

    def _load(self, create: bool, default_slots: int | Callable[[], int] | None,
              repair: bool) -> None:
        """Check the directory, and read its pool.json (written first for a new pool)."""
        st = os.fstat(self.dirfd)
        foreign = st.st_uid != os.geteuid()
        check_parent(self.path)
        if foreign and CONFIG not in os.listdir(self.dirfd):
            check_dir(self.path, st, False)  # says: owned by another user
        try:
            conf = read_config(self.dirfd, self.path)
        except MissingConfig:
            # Never make a pool.json in another user's directory: only its owner makes
            # a pool there (a shared one has its pool.json already).
            if not create or foreign:
                raise
            conf = None
        except CorruptConfig:
            if not repair:
                raise
            conf = None
        if conf is None:
            write_config(self.dirfd, _new_slots(default_slots), self.shared)
            conf = read_config(self.dirfd, self.path)
        self.slots, self.shared = conf["slots"], conf["shared"]
        check_dir(self.path, os.fstat(self.dirfd), self.shared)
        if self.shared:
            # Only the directory's owner (or root) makes its pool.json: one another user
            # put in a directory that was not a pool yet is theirs to rewrite at will.
            made_by = os.stat(CONFIG, dir_fd=self.dirfd, follow_symlinks=False).st_uid
            if made_by not in (st.st_uid, 0):
                raise PoolBroken(
                    f"{self.path}/{CONFIG} was made by uid {made_by}, not by the pool's "
                    f"owner; ask the owner of {self.path} to run `linkpool init --shared "
                    f"{self.path}` after removing it"
                )

    def close(self) -> None:
        if self.dirfd >= 0:
            os.close(self.dirfd)
            self.dirfd = -1

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def resize(self, slots: int) -> None:
        """Set the capacity. Running holders keep their slots; new ones see the new N."""
        write_config(self.dirfd, _check_slots(slots), self.shared)
        self.slots = slots
        self.make_slots()

    def make_slots(self) -> None:
        """Create the slot files now (a shared pool needs them made, with mode 0666, by its
        owner); otherwise they are made on first use."""
        for i in range(self.slots):
            os.close(self._open_slot(i))
        if self.shared:  # made by the pool's owner, so no other user can put one there
            os.close(open_file(self.dirfd, self.path, QUEUE, os.O_RDWR | os.O_CREAT, True))

    def refresh(self) -> int:
        self.slots = read_config(self.dirfd, self.path)["slots"]
        return self.slots

    def _open_slot(self, index: int) -> int:
        name = f"{SLOT}{index}"
        try:
            return open_file(self.dirfd, self.path, name, os.O_RDWR | os.O_CREAT, self.shared)
        except PermissionError:  # a shared slot made read-only: flock works on O_RDONLY too
            return open_file(self.dirfd, self.path, name, os.O_RDONLY, self.shared)

    def _try_open_slot(self, index: int) -> int | str:
        """:meth:`_open_slot`, or in a shared pool what makes the slot unusable (a symlink,
        a FIFO, a directory, a file we may not open, put there by another user): such a
        slot counts as one that is never free. A private pool's own bad file raises."""
        try:
            return self._open_slot(index)
        except PoolBroken as e:
            if not self.shared:
                raise
            return str(e)
        except OSError as e:
            if not self.shared or e.errno not in _HOSTILE_ERRNOS:
                raise
            return f"{self.path}/{SLOT}{index} cannot be opened ({e.strerror}); remove it"

    def _held_above(self, slots: int) -> int:
        """How many slot files at or above ``slots`` are still held (after a shrink)."""
        return sum(peek(self.dirfd, f"{SLOT}{i}")[0]
                   for i in numbered(self.dirfd, SLOT) if i >= slots)

    # -- acquiring ------------------------------------------------------------------------

    def acquire(
        self,
        weight: int = 1,
        timeout: float | None = None,
        identity: dict[str, Any] | None = None,
        notify: Callable[[Pool, int], None] | None = None,
        notify_after: float = 1.0,
        more: Callable[[], int] | None = None,
        polling: bool = False,
    ) -> Lease:
        """Hold ``weight`` slots (all of them, if the pool has fewer, or is shrunk below
        ``weight`` while we wait), waiting in arrival order; raise :class:`Timeout` after
        ``timeout`` seconds. ``identity`` (pid, command, ...) is written for ``status``.
        ``notify(pool, ticket)`` is called once if the wait lasts ``notify_after`` s.
        ``more()``, called once the ``weight`` slots are held if nobody waits behind us,
        says how many more to take if they are free (never waiting for them). With
        ``polling``, the head of the line polls instead of watching with inotify."""
        if weight < 1:
            raise WeightError(f"weight must be at least 1, not {weight}")
        # A timeout of a billion seconds (31 years) or more, inf included, is no timeout:
        # a deadline that far would overflow the timers that wait for it.
        deadline = None if timeout is None or timeout >= 1e9 else time.monotonic() + timeout
        info: dict[str, Any] = {"pid": os.getpid(), "weight": weight, "since": time.time()}
        info.update(identity or {})
        info["job"] = f"{os.getpid()}-{os.urandom(4).hex()}"
        ticket = Ticket.draw(self.dirfd, self.path, self.shared, _note(info), deadline)
        notice = Notice(_speaker(notify, self, ticket.number), notify_after)
        try:
            ticket.wait_turn(deadline, notice)
            lease = self._collect(weight, info, deadline, notice, polling)
            if more is not None and ticket.nobody_behind():
                self._grow(lease, more)
            return lease
        finally:
            ticket.leave()

    def _collect(self, weight: int, info: dict[str, Any], deadline: float | None,
                 notice: Notice, polling: bool) -> Lease:
        """As the head of the line, gather ``weight`` slots (see the module docstring).

        The head sleeps on inotify close events, so it must not cause any itself: slots it
        tried and found busy stay open (a close of ours would wake us at once), and it
        reads only with O_RDONLY, whose closes are not watched. The watch is made after
        the first failed look, and then the pool is looked at once more before sleeping,
        so a release in between is not missed.
        """
        hand = _Hand(self)
        waiter: Waiter | None = None
        try:
            while not hand.gather(weight):
                hand.sign(info)
                if waiter is None:
                    waiter = Waiter.for_dir(self.path, self.dirfd, polling)
                    continue  # look again now that the watch is there
                waiter.sleep(deadline, notice, f"no {weight} free slots in {self.path} in time")
            indices, fds = hand.keep(weight)
        except BaseException:
            hand.drop()
            if waiter is not None:
                waiter.close()
            raise
        finally:
            hand.close_busy()
        lease = Lease(self, indices, fds, info)
        lease.waiter = waiter  # closed later: see Lease.settle
        now = time.time()
        lease.update(waited=round(now - info["since"], 6), since=now)
        return lease

    def _grow(self, lease: Lease, more: Callable[[], int]) -> None:
        """Add free slots to a fresh lease, as many as ``more()`` says, if no slot above N
        is held (after a shrink). The caller is still the head of the line and nobody
        waits behind it, so the held total stays within N."""
        slots = self.refresh()
        if self._held_above(slots):
            return
        want, had = more(), len(lease.fds)
        for i in range(slots):
            if want <= 0:
                break
            if i in lease.indices:
                continue
            fd = self._try_open_slot(i)
            if isinstance(fd, str):
                continue  # another user's entry in a shared pool: never free
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            lease.indices.append(i)
            lease.fds.append(fd)
            want -= 1
        if len(lease.fds) > had:
            lease.update(weight=len(lease.fds))

    # -- looking --------------------------------------------------------------------------

    def status(self, polling: bool = False) -> dict[str, Any]:
        """Who holds and who waits, read from the files without disturbing anyone."""
        slots = self.refresh()
        locks = lockers()  # the kernel's word on who holds: a note can lie or be missing
        jobs: dict[str, dict[str, Any]] = {}
        unknown: list[dict[str, Any]] = []
        unusable: list[int] = []
        for i in sorted(numbered(self.dirfd, SLOT)):
            locked, raw, st = _probe(self.dirfd, f"{SLOT}{i}")
            if st is None and i < slots:
                unusable.append(i)  # a symlink, FIFO, directory...: never free
            if not locked:
                continue
            by = _held_by(locks, st)
            info = _parse(raw)
            if info is None:
                unknown.append({"slot": i, "lockers": by,
                                "uids": sorted({b["uid"] for b in by if b["uid"] is not None})})
                continue
            job = jobs.setdefault(info["job"], dict(info, slot_indices=[], lockers=[]))
            job["slot_indices"].append(i)
            job["lockers"].extend(b for b in by if b not in job["lockers"])
        waiters = []
        odd_tickets: list[dict[str, Any]] = []
        for n in sorted(numbered(self.dirfd, TICKET)):
            locked, raw, st = _probe(self.dirfd, f"{TICKET}{n}")
            info = _parse(raw) if locked else None
            if not locked:
                continue
            by = _held_by(locks, st)
            uids = sorted({b["uid"] for b in by if b["uid"] is not None})
            if info is None:  # a ticket held with no note: ahead of everyone who comes after
                odd_tickets.append({"ticket": n, "lockers": by, "uids": uids})
                continue
            jobs.pop(info.get("job", ""), None)  # the head holds part of its slots
            waiters.append(dict(info, ticket=n, lockers=by, uids=uids))
        holders = sorted(jobs.values(), key=lambda j: j.get("since", 0))
        for h in holders:
            h["held"] = len(h["slot_indices"])
            h["uids"] = sorted({b["uid"] for b in h["lockers"] if b["uid"] is not None})
        return {
            "pool": self.path,
            "protocol": PROTOCOL,
            "slots": slots,
            "shared": self.shared,
            "in_use": sum(h["held"] for h in holders) + len(unknown),
            "holders": holders,
            "unknown_holders": len(unknown),
            "unknown": unknown,
            "unusable_slots": unusable,
            "waiting": len(waiters),
            "waiters": waiters,
            "unknown_tickets": odd_tickets,
            "wakeup": Waiter.mode_for(self.path, polling),
        }


class _Hand:
    """The slots the head of the line has gathered so far, and those it found busy."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.held: dict[int, int] = {}  # index -> descriptor, locked by us
        self.busy: dict[int, int] = {}  # found locked: kept open, or its close would wake us
        self.signed: set[int] = set()  # held slots whose content already names us
        self.bad: dict[int, str] = {}  # slots a hostile entry makes never free: why
        self.cap: int | None = None  # the weight, lowered to the slots that can be free

    def gather(self, weight: int) -> bool:
        """One look at the slots: lock free ones below N until we hold ``weight`` + h
        (h: slots at or above N still held after a shrink). True when we do."""
        slots = self.pool.refresh()
        weight = min(weight, slots)  # more than the pool has (or a resize under us): all
        for table in (self.held, self.busy):  # shrunk under us
            for i in [i for i in table if i >= slots]:
                os.close(table.pop(i))
        need = weight + self.pool._held_above(slots)
        for i in range(slots):
            if len(self.held) >= need:
                break
            if i not in self.held and i not in self.bad:
                self._try(i)
        bad = [why for i, why in self.bad.items() if i < slots]
        self.cap = None
        if bad:
            if len(bad) >= slots:  # no slot left at all: the pool is unusable
                raise PoolBroken(bad[0])
            if weight > slots - len(bad):  # a heavy job takes all the slots left
                self.cap = slots - len(bad)
                need -= weight - self.cap
        return len(self.held) >= need

    def _try(self, index: int) -> None:
        fd = self.busy.pop(index) if index in self.busy else self.pool._try_open_slot(index)
        if isinstance(fd, str):  # not tried again while we wait: its close would wake us
            self.bad[index] = fd
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # EWOULDBLOCK: someone holds it
            self.busy[index] = fd
            return
        self.held[index] = fd

    def sign(self, info: dict[str, Any]) -> None:
        """Write who we are into the slots held so far: status shows whose they are."""
        for i in self.held.keys() - self.signed:
            write_note(self.held[i], _note(info))
            self.signed.add(i)

    def keep(self, weight: int) -> tuple[list[int], list[int]]:
        """Keep the ``weight`` lowest slots, free the others: (indices, descriptors)."""
        if self.cap is not None:
            weight = min(weight, self.cap)
        keep = sorted(self.held)[:weight]
        for i in sorted(self.held)[weight:]:
            os.close(self.held.pop(i))
        return keep, [self.held.pop(i) for i in keep]

    def drop(self) -> None:
        for fd in self.held.values():
            os.close(fd)
        self.held.clear()

    def close_busy(self) -> None:
        for fd in self.busy.values():
            os.close(fd)
        self.busy.clear()


def hold(weight: int = 1, pool: str | None = None, timeout: float | None = None) -> Lease:
    """Open the pool (made if missing) and hold ``weight`` slots: ``with hold(2): ...``.

    Releasing the lease also closes the pool.
    """
    p = Pool.open(pool)
    try:
        lease = p.acquire(weight, timeout)
    except BaseException:
        p.close()
        raise
    lease.owns_pool = True
    return lease


class Lease:
    """Slots held by this process. Closing the descriptors (or dying) frees them."""

    def __init__(self, pool: Pool, indices: list[int], fds: list[int], info: dict[str, Any]):
        self.pool = pool
        self.indices = indices
        self.fds = fds
        self.info = info
        self.owns_pool = False
        self.waiter: Any = None  # the inotify watch used while waiting, if any

    def settle(self) -> None:
        """Drop the inotify watch used while waiting. Closing one takes the kernel 3-15 ms
        (it waits for an RCU grace period), so callers do it once the command is running,
        not on the way to starting it; release() does it otherwise."""
        if self.waiter is not None:
            self.waiter.close()
            self.waiter = None

    def update(self, **info: Any) -> None:
        """Rewrite the holder identity shown by ``status`` (e.g. the child's pid)."""
        self.info.update(info)
        note = _note(self.info)
        for fd in self.fds:
            write_note(fd, note)

    def release(self) -> None:
        fds, self.fds = self.fds, []
        for fd in fds:
            os.close(fd)
        self.settle()
        if self.owns_pool:
            self.pool.close()

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def peek(dirfd: int, name: str) -> tuple[bool, bytes]:
    """Probe a file of the pool with an exclusive non-blocking lock on a fresh read-only
    descriptor (whose close wakes nobody): (held by someone, its content). LOCK_EX, not
    LOCK_SH: a shared lock held by anyone keeps every job out, so it counts as held.
    A symlink, a FIFO (opened without blocking) or another non-regular file is not held."""
    held, raw, _ = _probe(dirfd, name)
    return held, raw


def _probe(dirfd: int, name: str) -> tuple[bool, bytes, os.stat_result | None]:
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     dir_fd=dirfd)
    except OSError:
        return False, b"", None
    try:
        st = os.fstat(fd)
        if not S_ISREG(st.st_mode):
            return False, b"", None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return False, b"", st
        except BlockingIOError:
            return True, os.pread(fd, 65536, 0), st
    finally:
        os.close(fd)


def lockers() -> dict[tuple[int, int, int], list[dict[str, Any]]]:
    """Who holds flock()s, from /proc/locks: (major, minor, inode) -> [{pid, uid, lock}]
    (uid None when the pid is gone or not visible here, e.g. another pid namespace)."""
    out: dict[tuple[int, int, int], list[dict[str, Any]]] = {}
    try:
        with open("/proc/locks", "rb") as f:
            lines = f.read().decode("ascii", "replace").splitlines()
    except OSError:
        return out
    for line in lines:
        parts = line.split()
        if len(parts) < 6 or parts[1] != "FLOCK":  # "->" lines are blocked waiters
            continue
        try:
            pid = int(parts[4])
            major, minor, ino = parts[5].split(":")
            key = (int(major, 16), int(minor, 16), int(ino))
        except ValueError:
            continue
        try:
            uid: int | None = os.stat(f"/proc/{pid}").st_uid if pid > 0 else None
        except OSError:
            uid = None
        out.setdefault(key, []).append({"pid": pid, "uid": uid, "lock": parts[3].lower()})
    return out


def _held_by(locks: dict[tuple[int, int, int], list[dict[str, Any]]],
             st: os.stat_result | None) -> list[dict[str, Any]]:
    if st is None:
        return []
    return locks.get((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino), [])


def _speaker(notify: Callable[[Pool, int], None] | None, pool: Pool,
             ticket: int) -> Callable[[], None] | None:
    if notify is None:
        return None
    return lambda: notify(pool, ticket)


def _note(info: dict[str, Any]) -> bytes:
    return strictjson.dumps(info).encode() + b"\n"


#: The fields of a note and the types each may have (None: null); a note with any other
#: type in one of them is garbage (another user may write any text into a slot or ticket).
_NOTE_FIELDS: dict[str, tuple[type, ...]] = {
    "job": (str,), "pid": (int,), "wrapper": (int,), "weight": (int,), "held": (int,),
    "since": (int, float), "waited": (int, float), "threads": (int, type(None)),
    "tokens": (int, type(None)), "output": (str, type(None)), "cwd": (str, type(None)),
    "linker": (str, type(None)), "pidns": (str, type(None)), "command": (list,),
}


def _parse(raw: bytes) -> dict[str, Any] | None:
    """A slot's or ticket's note, or None when it is not one of ours (any field of the
    wrong type, a command that is not a list of strings)."""
    try:
        info = strictjson.loads(raw)
    except ValueError:
        return None
    if not isinstance(info, dict) or "job" not in info:
        return None
    for field, types in _NOTE_FIELDS.items():
        value = info.get(field)
        if field in info and type(value) not in types:  # bool is not int here
            return None
    command = info.get("command")
    if command is not None and not all(type(a) is str for a in command):
        return None
    return info
