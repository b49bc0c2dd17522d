"""The slot pool: N flock()ed files in one directory, freed by the kernel on any death.

Protocol version 1 (docs/protocol.md is the normative text):

- ``pool.json`` holds ``{"protocol": 1, "slots": N, "shared": bool}``, replaced by rename.
- ``slot.0`` .. ``slot.{N-1}``: regular files, never deleted. A slot is held while an open
  file description of it holds ``flock(LOCK_EX)``; its content names the holder.
- ``queue.lock`` is held briefly to draw a ticket; ``wait.<n>`` is a waiter's ticket, held
  with ``LOCK_EX`` by its owner. Waiters are served in ticket order: each one blocks with
  ``LOCK_SH`` on the ticket just before its own, so only the head of the line is awake.
- The head collects k + h free slots below N, where h counts slots at or above N that are
  still held after a shrink; it keeps k and frees the rest. So the held total never
  exceeds N, and a heavy job is never overtaken by light ones. Having them, a head that
  nobody waits behind may take more free slots without waiting (``acquire(more=...)``).

This module knows nothing of linkers or capacity; it only opens, acquires and inspects.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Callable

PROTOCOL = 1
CONFIG = "pool.json"
QUEUE = "queue.lock"
SLOT = "slot."
TICKET = "wait."
MAX_SLOTS = 4096


class PoolError(Exception):
    """A problem the user can fix: one line (without the `linkpool:` prefix) saying what to do."""


class PoolBroken(PoolError):
    """The pool directory cannot be used; callers fail open unless strict."""


class CorruptConfig(PoolBroken):
    """pool.json cannot be parsed; ``linkpool init --slots N`` rewrites it."""


class WeightError(PoolError):
    """More slots were asked for than the pool has."""


class Timeout(PoolError):
    """The slots were not granted before the deadline."""


def default_path() -> str:
    """The private default pool: ``$XDG_RUNTIME_DIR/linkpool``, else ``/tmp/linkpool-$UID``."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isdir(runtime):
        return os.path.join(runtime, "linkpool")
    return f"/tmp/linkpool-{os.geteuid()}"


def _json() -> Any:
    from . import jsonlite  # not json: see jsonlite's docstring

    return jsonlite


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

        A new pool gets ``default_slots`` slots (an int, or a callable computing it; by
        default the machine's capacity from :mod:`linkpool.capacity`). With ``repair``, a
        corrupt pool.json is rewritten as if it were missing.
        """
        path = os.path.abspath(path or default_path())
        try:
            dirfd = _open_dir(path, create, shared)
        except OSError as e:
            raise PoolBroken(f"cannot use pool {path}: {e.strerror}") from e
        try:
            pool = cls(path, dirfd, 0, shared)
            foreign = os.fstat(dirfd).st_uid != os.geteuid()
            _check_parent(path)
            if foreign and CONFIG not in os.listdir(dirfd):
                _check_dir(path, os.fstat(dirfd), False)  # says: owned by another user
            try:
                # Never make a pool.json in another user's directory: only its owner makes
                # a pool there (a shared one has its pool.json already).
                conf = pool._read_config(missing_ok=create and not foreign)
            except CorruptConfig:
                if not repair:
                    raise
                conf = None
            if conf is None:
                n = default_slots() if callable(default_slots) else default_slots
                if n is None:
                    from .capacity import default_slots as machine_slots
                    from .capacity import read_machine

                    n = machine_slots(read_machine())
                pool._write_config(_check_slots(n), shared)
                conf = pool._read_config()
            assert conf is not None  # just written
            pool.slots, pool.shared = conf["slots"], conf["shared"]
            _check_dir(path, os.fstat(dirfd), pool.shared)
            return pool
        except OSError as e:
            os.close(dirfd)
            raise PoolBroken(f"cannot use pool {path}: {e.strerror or e}") from e
        except BaseException:
            os.close(dirfd)
            raise

    def close(self) -> None:
        if self.dirfd >= 0:
            os.close(self.dirfd)
            self.dirfd = -1

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- configuration -------------------------------------------------------------------

    def _read_config(self, missing_ok: bool = False) -> dict[str, Any] | None:
        try:
            fd = os.open(CONFIG, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.dirfd)
        except FileNotFoundError:
            if missing_ok:
                return None
            raise PoolBroken(
                f"pool {self.path} has no {CONFIG}; run `linkpool init --pool {self.path}`"
            ) from None
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise PoolBroken(f"{self.path}/{CONFIG} is a symlink; remove it") from e
            raise
        try:
            raw = os.read(fd, 65536)
        finally:
            os.close(fd)
        try:
            conf = _json().loads(raw)
            slots = conf["slots"]
            if type(slots) is not int or not 1 <= slots <= MAX_SLOTS:
                raise ValueError(slots)
            if conf.get("protocol", PROTOCOL) > PROTOCOL:
                raise PoolBroken(
                    f"pool {self.path} uses protocol {conf['protocol']}, newer than "
                    f"this linkpool ({PROTOCOL}); upgrade linkpool"
                )
            return {"slots": slots, "shared": bool(conf.get("shared", False))}
        except (ValueError, TypeError, KeyError, AttributeError):
            raise CorruptConfig(
                f"{self.path}/{CONFIG} is corrupt; repair it with "
                f"`linkpool init --pool {self.path} --slots N`"
            ) from None

    def _write_config(self, slots: int, shared: bool) -> None:
        data = _json().dumps({"protocol": PROTOCOL, "slots": slots, "shared": shared}) + "\n"
        tmp = f"{CONFIG}.{os.getpid()}.tmp"
        fd = os.open(
            tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644,
            dir_fd=self.dirfd,
        )
        try:
            os.write(fd, data.encode())
            os.fchmod(fd, 0o644)
        finally:
            os.close(fd)
        try:
            os.rename(tmp, CONFIG, src_dir_fd=self.dirfd, dst_dir_fd=self.dirfd)
        except OSError:
            os.unlink(tmp, dir_fd=self.dirfd)
            raise

    def resize(self, slots: int) -> None:
        """Set the capacity. Running holders keep their slots; new ones see the new N."""
        self._write_config(_check_slots(slots), self.shared)
        self.slots = slots
        self.make_slots()

    def make_slots(self) -> None:
        """Create the slot files now (a shared pool needs them made, with mode 0666, by its
        owner); otherwise they are made on first use."""
        for i in range(self.slots):
            os.close(self._open_slot(i))

    def refresh(self) -> int:
        conf = self._read_config()
        assert conf is not None
        self.slots = conf["slots"]
        return self.slots

    # -- files -----------------------------------------------------------------------------

    def _open_file(self, name: str, flags: int) -> int:
        mode = 0o666 if self.shared else 0o600
        try:
            fd = os.open(name, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode, dir_fd=self.dirfd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise PoolBroken(f"{self.path}/{name} is a symlink; remove it") from e
            if e.errno == errno.EISDIR:
                raise PoolBroken(f"{self.path}/{name} is a directory; remove it") from e
            raise
        st = os.fstat(fd)
        problem = None
        if not stat.S_ISREG(st.st_mode):
            problem = "is not a regular file; remove it"
        elif not self.shared and st.st_uid != os.geteuid():
            problem = f"is owned by uid {st.st_uid}; remove it or use a pool of your own"
        if problem:
            os.close(fd)
            raise PoolBroken(f"{self.path}/{name} {problem}")
        if self.shared and st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) != 0o666:
            os.fchmod(fd, 0o666)  # the umask trimmed it; other users must open it too
        return fd

    def _open_slot(self, index: int) -> int:
        try:
            return self._open_file(f"{SLOT}{index}", os.O_RDWR | os.O_CREAT)
        except PermissionError:  # a shared slot made read-only: flock works on O_RDONLY too
            return self._open_file(f"{SLOT}{index}", os.O_RDONLY)

    def _names(self, prefix: str) -> list[int]:
        out = []
        for name in os.listdir(self.dirfd):
            if name.startswith(prefix) and name[len(prefix):].isdigit():
                out.append(int(name[len(prefix):]))
        return out

    def _is_locked(self, name: str) -> tuple[bool, bytes]:
        """Probe a file with a shared non-blocking lock: (held by someone, its content)."""
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.dirfd)
        except OSError:
            return False, b""
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
                return False, b""
            except BlockingIOError:
                return True, os.pread(fd, 65536, 0)
        finally:
            os.close(fd)

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
        """Hold ``weight`` slots, waiting in arrival order; raise :class:`Timeout` after
        ``timeout`` seconds. ``identity`` (pid, command, ...) is written for ``status``.
        ``notify(pool, ticket)`` is called once if the wait lasts ``notify_after`` s.
        ``more()``, called once the ``weight`` slots are held if nobody waits behind us,
        says how many more to take if they are free (never waiting for them). ``polling``:
        wait by polling, not inotify (the ``wakeup`` setting)."""
        if weight < 1:
            raise WeightError(f"weight must be at least 1, not {weight}")
        deadline = None if timeout is None else time.monotonic() + timeout
        info: dict[str, Any] = {"pid": os.getpid(), "weight": weight, "since": time.time()}
        info.update(identity or {})
        info["job"] = f"{os.getpid()}-{os.urandom(4).hex()}"
        self._check_weight(weight, self.refresh())
        ticket, tfd = self._take_ticket(info, deadline)
        notice = _Notice(notify, notify_after, self, ticket)
        try:
            self._wait_turn(ticket, deadline, notice)
            lease = self._collect(weight, info, deadline, notice, polling)
            if more is not None:
                self._grow(lease, ticket, more)
            return lease
        finally:
            try:
                os.unlink(f"{TICKET}{ticket}", dir_fd=self.dirfd)
            except FileNotFoundError:
                pass
            os.close(tfd)  # unlink first: a successor that still finds the name sees it live

    def _flock(self, fd: int, op: int, deadline: float | None) -> None:
        if deadline is None:
            fcntl.flock(fd, op)  # the common case: no need to import the waiting code
            return
        from .waiting import Expired, flock_until

        try:
            flock_until(fd, op, deadline)
        except Expired:
            raise Timeout(f"no free slots in {self.path} in time") from None

    def _check_weight(self, weight: int, slots: int) -> None:
        if weight > slots:
            raise WeightError(
                f"weight {weight} is more than the {slots} slots of pool {self.path}; "
                f"use --weight {slots} or less, or `linkpool init --slots {weight}`"
            )

    def _take_ticket(self, info: dict[str, Any], deadline: float | None) -> tuple[int, int]:
        qfd = self._open_file(QUEUE, os.O_RDWR | os.O_CREAT)
        try:
            self._flock(qfd, fcntl.LOCK_EX, deadline)
            numbers = self._names(TICKET)
            ticket = max(numbers) + 1 if numbers else 0
            flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
            tfd = self._open_file(f"{TICKET}{ticket}", flags)
            fcntl.flock(tfd, fcntl.LOCK_EX)  # cannot block: the file is new and ours
            _write(tfd, info)
            return ticket, tfd
        finally:
            os.close(qfd)

    def _wait_turn(self, ticket: int, deadline: float | None, notice: _Notice) -> None:
        """Block until no live ticket is older than ours (each waiter watches one other)."""
        dead: set[int] = set()  # tickets found dead that we may not remove (another user's)
        while True:
            older = [n for n in self._names(TICKET) if n < ticket and n not in dead]
            if not older:
                return
            name = f"{TICKET}{max(older)}"
            try:
                fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=self.dirfd)
            except FileNotFoundError:
                continue  # it left between listing and opening
            try:
                try:
                    self._flock(fd, fcntl.LOCK_SH, notice.clip(deadline))
                except Timeout:
                    if notice.fire_if_due():
                        continue  # said we wait; now wait on, to the real deadline
                    raise
                # Our lock means its owner is gone. A finished owner unlinks its ticket before
                # closing it, so a name still bound to this inode belongs to a dead waiter.
                try:
                    if os.stat(name, dir_fd=self.dirfd, follow_symlinks=False).st_ino == \
                            os.fstat(fd).st_ino:
                        os.unlink(name, dir_fd=self.dirfd)
                except OSError:
                    # In a shared (sticky) pool another user's dead ticket cannot be removed
                    # by us: pass over it instead of locking it again and again.
                    dead.add(int(name[len(TICKET):]))
            finally:
                os.close(fd)

    def _collect(self, weight: int, info: dict[str, Any], deadline: float | None,
                 notice: _Notice, polling: bool = False) -> Lease:
        """As the head of the line, gather ``weight`` slots (see the module docstring).

        The head sleeps on inotify close events, so it must not cause any itself: slots it
        tried and found busy stay open (a close of ours would wake us at once), and it
        reads only with O_RDONLY, whose closes are not watched. The watch is made after
        the first failed scan, and then the pool is scanned once more before sleeping, so
        a release in between is not missed.
        """
        held: dict[int, int] = {}  # slots we locked
        busy: dict[int, int] = {}  # slots we opened and found locked: kept open
        named: set[int] = set()
        waiter: Any = None  # imported and made only if we must wait
        retry = 99  # index into RETRY: no recent event
        try:
            while True:
                slots = self.refresh()
                self._check_weight(weight, slots)
                for table in (held, busy):  # shrunk under us
                    for i in [i for i in table if i >= slots]:
                        os.close(table.pop(i))
                high = sum(
                    self._is_locked(f"{SLOT}{i}")[0] for i in self._names(SLOT) if i >= slots
                )
                need = weight + high
                for i in range(slots):
                    if len(held) >= need:
                        break
                    if i in held:
                        continue
                    fd = busy.pop(i) if i in busy else self._open_slot(i)
                    try:
                        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    except BlockingIOError:
                        busy[i] = fd
                        continue
                    held[i] = fd
                if len(held) >= need:
                    keep = sorted(held)[:weight]
                    for i in sorted(held)[weight:]:
                        os.close(held.pop(i))
                    lease = Lease(self, keep, [held.pop(i) for i in keep], info)
                    lease.waiter, waiter = waiter, None  # closed later: see Lease.settle
                    now = time.time()
                    lease.update(waited=round(now - info["since"], 6), since=now)
                    return lease
                for i in held.keys() - named:  # show status whose partial slots these are
                    _write(held[i], info)
                    named.add(i)
                if waiter is None:
                    from .waiting import RETRY, SAFETY, Waiter

                    waiter = Waiter.for_dir(self.path, self.dirfd, polling)
                    continue  # scan again now that the watch is there
                wait = SAFETY if retry >= len(RETRY) else RETRY[retry]
                notice.fire_if_due()
                clipped = notice.clip(deadline)
                if clipped is not None:
                    left = clipped - time.monotonic()
                    if left <= 0 and clipped == deadline:
                        raise Timeout(f"no {weight} free slots in {self.path} in time")
                    wait = max(0.0, min(wait, left))
                retry = 0 if waiter.wait(wait) else retry + 1
        except BaseException:
            for fd in held.values():
                os.close(fd)
            if waiter is not None:
                waiter.close()
            raise
        finally:
            for fd in busy.values():
                os.close(fd)

    def _grow(self, lease: Lease, ticket: int, more: Callable[[], int]) -> None:
        """Add free slots to a fresh lease, as many as ``more()`` says, if nobody waits
        behind ``ticket`` and no slot above N is held (after a shrink): still the head of
        the line, so the held total stays within N."""
        if any(n > ticket for n in self._names(TICKET)):
            return
        slots = self.refresh()
        if any(self._is_locked(f"{SLOT}{i}")[0] for i in self._names(SLOT) if i >= slots):
            return
        want, had = more(), len(lease.fds)
        for i in range(slots):
            if want <= 0:
                break
            if i in lease.indices:
                continue
            fd = self._open_slot(i)
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
        """Who holds and who waits, read from the files without disturbing anyone
        (``polling``: the ``wakeup`` setting forces waiters to poll)."""
        slots = self.refresh()
        jobs: dict[str, dict[str, Any]] = {}
        unknown = 0
        for i in sorted(self._names(SLOT)):
            locked, raw = self._is_locked(f"{SLOT}{i}")
            if not locked:
                continue
            info = _parse(raw)
            if info is None:
                unknown += 1
                continue
            job = jobs.setdefault(info["job"], dict(info, slot_indices=[]))
            job["slot_indices"].append(i)
        waiters = []
        for n in sorted(self._names(TICKET)):
            locked, raw = self._is_locked(f"{TICKET}{n}")
            info = _parse(raw) if locked else None
            if info is not None:
                jobs.pop(info.get("job", ""), None)  # the head holds part of its slots
                waiters.append(dict(info, ticket=n))
        holders = sorted(jobs.values(), key=lambda j: j.get("since", 0))
        for h in holders:
            h["held"] = len(h["slot_indices"])
        return {
            "pool": self.path,
            "protocol": PROTOCOL,
            "slots": slots,
            "shared": self.shared,
            "in_use": sum(h["held"] for h in holders) + unknown,
            "holders": holders,
            "unknown_holders": unknown,
            "waiting": len(waiters),
            "waiters": waiters,
            "wakeup": _wakeup_mode(self.path, polling),
        }


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

    def inherit(self) -> list[int]:
        """Let child processes inherit the locked descriptors (Python makes them CLOEXEC)."""
        for fd in self.fds:
            os.set_inheritable(fd, True)
        return self.fds

    def update(self, **info: Any) -> None:
        """Rewrite the holder identity shown by ``status`` (e.g. the child's pid)."""
        self.info.update(info)
        for fd in self.fds:
            _write(fd, self.info)

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


class _Notice:
    """Calls ``notify(pool, ticket)`` once, when a wait has lasted ``after`` seconds."""

    def __init__(self, notify: Callable[[Pool, int], None] | None, after: float, pool: Pool,
                 ticket: int) -> None:
        self.notify, self.pool, self.ticket = notify, pool, ticket
        self.at = time.monotonic() + after if notify is not None else None

    def clip(self, deadline: float | None) -> float | None:
        """The earlier of ``deadline`` and the moment to speak, if still to come."""
        if self.at is None:
            return deadline
        return self.at if deadline is None else min(deadline, self.at)

    def fire_if_due(self) -> bool:
        if self.at is None or time.monotonic() < self.at:
            return False
        self.at = None
        if self.notify is not None:
            self.notify(self.pool, self.ticket)
        return True


def _wakeup_mode(path: str, polling: bool) -> str:
    from .waiting import Waiter

    return Waiter.mode_for(path, polling)


def _write(fd: int, info: dict[str, Any]) -> None:
    data = _json().dumps(info).encode() + b"\n"
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    except OSError:  # read-only slot of a shared pool, or a full disk: status shows less
        pass


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        info = _json().loads(raw)
    except ValueError:
        return None
    return info if isinstance(info, dict) and "job" in info else None


def _check_slots(n: int) -> int:
    if type(n) is not int or not 1 <= n <= MAX_SLOTS:
        raise PoolError(f"slots must be a whole number from 1 to {MAX_SLOTS}, not {n}")
    return n


def _open_dir(path: str, create: bool, shared: bool) -> int:
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        return os.open(path, flags)
    except FileNotFoundError:
        if not create:
            raise PoolError(
                f"no pool at {path} (create it with `linkpool init --pool {path}` or run a "
                f"link)"
            ) from None
    except OSError as e:
        if os.path.islink(path) or (os.path.lexists(path) and not os.path.isdir(path)):
            what = "a symlink" if os.path.islink(path) else "not a directory"
            raise PoolBroken(
                f"pool path {path} is {what}; remove it or choose another --pool"
            ) from e
        raise
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.mkdir(path, 0o700)
        if shared:
            os.chmod(path, 0o1777)  # sticky: users may add files but not remove others'
    except FileExistsError:
        pass  # another process made it first
    return _open_dir(path, False, shared)


def _check_parent(path: str) -> None:
    """Refuse a pool whose parent anyone may write without the sticky bit: another user
    could rename the pool away (and the next job would silently make a second pool) or
    put their own in its place. /tmp and /run/user are sticky or private: fine."""
    parent = os.path.dirname(path) or "/"
    try:
        st = os.stat(parent)
    except OSError:
        return
    if st.st_mode & 0o002 and not st.st_mode & stat.S_ISVTX:
        raise PoolBroken(
            f"the pool's folder {parent} is writable by anyone and not sticky, so another "
            f"user could replace the pool; put it elsewhere or run `chmod +t {parent}`"
        )


def _check_dir(path: str, st: os.stat_result, shared: bool) -> None:
    mode = stat.S_IMODE(st.st_mode)
    if shared:
        if mode & 0o002 and not mode & stat.S_ISVTX:
            raise PoolBroken(
                f"shared pool {path} is world-writable without the sticky bit; "
                f"run `chmod +t {path}`"
            )
        return
    if st.st_uid != os.geteuid():
        raise PoolBroken(
            f"pool {path} is owned by uid {st.st_uid}, not you; use your own --pool "
            f"or ask its owner to make it shared with `linkpool init --shared`"
        )
    if mode & 0o022:
        raise PoolBroken(
            f"private pool {path} is writable by others; run `chmod 700 {path}`"
        )
