"""The record of finished links, kept in the pool directory.

- ``history.jsonl``: one JSON object per finished job, appended with a single
  ``O_APPEND`` write. Past ``MAX_BYTES`` it is renamed to ``history.jsonl.1`` (the older
  generation is dropped), so it stays bounded. A record is whole or absent to a reader,
  and never costs the next one: an append cut short (a full disk) leaves a torn line,
  which readers skip, and the next append starts on a new line (or, if it raced with the
  torn one and was glued onto it, readers find it in the glued line).
- ``outputs/<key>.json``: the last record of each output path, replaced atomically, so
  the next link of the same output finds its measured cost without reading the log.
- ``policy/<flavour>-<size class>.json``: the policy's summary of what the links of one
  linker flavour and input size class measured, per thread count
  (``linkpool.policy.learn``), read by the next such link in one small read;
  ``policy/recent.json``: the intervals of the last jobs (who met whom). Updated after a
  link under ``policy/lock`` and replaced atomically (write + rename). Missing or
  corrupt: no history, the policy's built-in constants. Deleting ``policy/`` resets what
  the policy learnt.
- ``policy/pending``: an empty file every job still writing its record after the build
  has its answer holds a shared ``flock`` on (``History.pending``);
  :meth:`History.records` waits for them, so ``linkpool history`` right after a link
  shows it.

In a private pool these live in the pool directory. In a shared pool each user's live in
``user.<uid>/`` (mode 0755, owned by that user; its history 0644, the rest private), so
each user's records are writable only by that user, and what a link learns from is only
what the same user measured; ``linkpool history`` reads every user's history (each from
a folder owned by the uid it names) and the single ``history.jsonl`` of older versions.

Everything is opened relative to descriptors, never through a symlink at any component
(O_NOFOLLOW, and O_DIRECTORY for folders), with O_NONBLOCK (a FIFO never blocks an open)
and checked to be a regular file; a file is chmodded only when it was made by this call
(O_EXCL); what is read is capped and type-checked, and anything else is skipped.

It knows nothing of slots or linkers: it stores and reads dictionaries.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat

from . import strictjson

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, Callable

LOG = "history.jsonl"
MAX_BYTES = 8 << 20
OUTPUTS = "outputs"
POLICY = "policy"
SUMMARY_LOCK = "lock"
PENDING = "pending"
USER = "user."  # a shared pool: user.<uid>/ holds that user's files
SETTLE_S = 10.0  # how long records() waits for jobs still writing theirs
MAX_SUMMARY = 64 << 10  # an entry is a few hundred bytes; anything bigger is not ours
MAX_RECORD = 4 << 20  # a record and its command line: a longer line is not ours
GLUED = b'{"time":'  # how every record linkpool writes starts

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_FILE = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK

#: The figures of a record and the types each may have; a record with another type in
#: one of them (another tool, or another user, wrote the line) is skipped.
_NUMBER = (int, float, type(None))
_TEXT = (str, type(None))
FIELDS: dict[str, tuple[type, ...]] = {
    "time": _NUMBER, "admitted": _NUMBER, "wait_s": _NUMBER, "run_s": _NUMBER,
    "tail_s": _NUMBER, "cpu_s": _NUMBER, "max_rss_kb": (int, type(None)),
    "anon_peak_kb": (int, type(None)), "weight": (int, type(None)),
    "threads": (int, type(None)), "tokens": (int, type(None)), "exit": (int, type(None)),
    "output": _TEXT, "cwd": _TEXT, "kind": _TEXT, "linker": _TEXT,
    "command": (list, type(None)), "slots": (list, type(None)),
    "estimate": (dict, type(None)), "plan": (dict, type(None)), "met": (bool, type(None)),
}


def valid(record: Any) -> bool:
    """Whether ``record`` (a parsed line) has the shape of a record: an object whose known
    fields have their types (bool is no number), a command of strings, slots of ints."""
    if not isinstance(record, dict):
        return False
    for field, types in FIELDS.items():
        if field in record and type(record[field]) not in types:
            return False
    command, slots = record.get("command"), record.get("slots")
    return all(type(a) is str for a in command or ()) and \
        all(type(i) is int for i in slots or ())


def _opendir(name: str, parent: int | None = None) -> int:
    """A descriptor of the folder ``name`` (in ``parent``): never through a symlink."""
    return os.open(name, _DIR, dir_fd=parent)


def _folder(parent: int, name: str, create: bool, mode: int) -> int:
    """The sub-folder ``name`` of ``parent``, owned by us (``cache.own_folder``)."""
    from .cache import own_folder

    return own_folder(name, parent, create, mode)


def _open(parent: int, name: str, flags: int, mode: int = 0o600,
          owner: int | None = -1) -> int:
    """A descriptor of the regular file ``name`` in ``parent``. With O_CREAT it is made
    with O_EXCL first, and only a file made here gets ``mode`` (fchmod: the umask does not
    decide); an existing one is opened as it is. Never a symlink (ELOOP), never blocking
    on a FIFO, and a FIFO, device or folder is refused (EINVAL); ``owner`` (-1: us) must
    own it unless it is None."""
    fd = -1
    if flags & os.O_CREAT:
        try:
            fd = os.open(name, flags | os.O_EXCL | _FILE, 0o600, dir_fd=parent)
            os.fchmod(fd, mode)
        except FileExistsError:
            pass
    if fd < 0:
        fd = os.open(name, (flags & ~os.O_CREAT) | _FILE, dir_fd=parent)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, f"{name} is not a regular file", name)
        owner = os.geteuid() if owner == -1 else owner
        if owner is not None and st.st_uid != owner:
            raise PermissionError(errno.EPERM, f"{name} is owned by uid {st.st_uid}", name)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _read(fd: int, cap: int) -> bytes | None:
    """The whole content of ``fd``, or None if it is longer than ``cap`` bytes."""
    data = b""
    while len(data) <= cap:
        chunk = os.read(fd, cap + 1 - len(data))
        if not chunk:
            return data
        data += chunk
    return None


def _lines(fd: int) -> Iterator[bytes]:
    """The lines of a history file: its last ``2 * MAX_BYTES`` at most (a longer file is
    not one linkpool wrote), and none longer than ``MAX_RECORD``."""
    size = os.fstat(fd).st_size
    skip = size > 2 * MAX_BYTES
    if skip:
        os.lseek(fd, size - 2 * MAX_BYTES, os.SEEK_SET)
    with os.fdopen(fd, "rb", closefd=False) as f:
        while True:
            line = f.readline(MAX_RECORD + 1)
            if not line:
                return
            if skip or (len(line) > MAX_RECORD and not line.endswith(b"\n")):
                skip = not line.endswith(b"\n")  # the rest of a partial or too long line
                continue
            yield line


def _record(line: bytes) -> dict[str, Any] | None:
    """The record of a line; a torn record with the next one glued onto it (an append
    that was cut short, then another) gives the next one."""
    starts = [0]
    while True:
        i = line.find(GLUED, starts[-1] + 1)
        if i < 0:
            break
        starts.append(i)
    for i in starts:
        try:
            record = strictjson.loads(line[i:].decode("utf-8", "replace"))
        except ValueError:
            continue
        return record if valid(record) else None
    return None


def _time(record: dict[str, Any]) -> float:
    t = record.get("time")
    return float(t) if isinstance(t, (int, float)) else 0.0


class History:
    def __init__(self, directory: str, mode: int = 0o600) -> None:
        """The history of the pool at ``directory``; ``mode`` 0o600 for a private pool,
        anything else (0o666) for a shared one (each user then keeps to user.<uid>/)."""
        self.directory = directory
        self.shared = mode != 0o600
        self.mode = 0o644 if self.shared else 0o600  # of the history file

    def _base(self, create: bool = False) -> int:
        """A descriptor of the folder this user's files are in: the pool's own (private)
        or ``user.<uid>`` in it (shared)."""
        pool = _opendir(self.directory)
        if not self.shared:
            return pool
        try:
            return _folder(pool, f"{USER}{os.geteuid()}", create, 0o755)
        finally:
            os.close(pool)

    def _sub(self, name: str, create: bool = False) -> int:
        """A descriptor of this user's sub-folder ``name`` (outputs, policy)."""
        base = self._base(create)
        try:
            return _folder(base, name, create, 0o700)
        finally:
            os.close(base)

    def append(self, record: dict[str, Any]) -> None:
        line = (strictjson.dumps(record) + "\n").encode()
        base = self._base(create=True)
        try:
            fd = _open(base, LOG, os.O_RDWR | os.O_APPEND | os.O_CREAT, self.mode)
            try:
                self._write(fd, line)
                if os.fstat(fd).st_size > MAX_BYTES:
                    self._rotate(fd, base)
            finally:
                os.close(fd)
        finally:
            os.close(base)
        if record.get("output"):
            self.remember(record["output"], record)

    @staticmethod
    def _write(fd: int, line: bytes) -> None:
        """Append ``line`` in one write, on a line of its own: after a torn line (an
        append cut short) it starts with a newline. A write cut short leaves a torn line,
        which readers skip."""
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line
        os.write(fd, line)

    def _rotate(self, fd: int, base: int | None = None) -> None:
        # Whoever locks the full log renames it; the others see it renamed and stop. Not
        # waiting: the lock is only ever held for a rename, and a file others can read
        # can be locked by them too.
        folder = self._base() if base is None else base
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            current = os.stat(LOG, dir_fd=folder, follow_symlinks=False)
            if current.st_ino == os.fstat(fd).st_ino and current.st_size > MAX_BYTES:
                os.replace(LOG, LOG + ".1", src_dir_fd=folder, dst_dir_fd=folder)
        except OSError:
            pass
        finally:
            if base is None:
                os.close(folder)

    def pending(self) -> int:
        """A descriptor on ``policy/pending`` for a job that will write its record after
        it answers: the caller takes a shared ``flock`` on it once the command has ended,
        and the process that writes the record inherits it, so the lock lasts until the
        record is written (or that process dies)."""
        folder = self._sub(POLICY, create=True)
        try:  # private: only this user's jobs and readers can lock it
            return _open(folder, PENDING, os.O_RDONLY | os.O_CREAT)
        finally:
            os.close(folder)

    def settle(self, timeout: float | None = None) -> None:
        """Wait, ``timeout`` seconds at most (default ``SETTLE_S``), until no ended job is
        still writing its record (nobody holds ``policy/pending``)."""
        import time

        timeout = SETTLE_S if timeout is None else timeout

        try:
            folder = self._sub(POLICY)
            try:
                fd = _open(folder, PENDING, os.O_RDONLY)
            finally:
                os.close(folder)
        except OSError:
            return  # no job ever wrote one this way
        try:
            deadline = time.monotonic() + timeout
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        return
                    time.sleep(0.005)
                except OSError:
                    return
        finally:
            os.close(fd)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every stored record, oldest first, once the jobs that ended have written theirs
        (:meth:`settle`): the pool's history, and in a shared pool each user's (from a
        folder ``user.<uid>`` that uid owns). A torn, foreign or misshapen line is
        skipped."""
        self.settle()
        try:
            pool = _opendir(self.directory)
        except OSError:
            return
        groups = []
        try:
            groups.append(self._group(pool, None))
            for name in sorted(os.listdir(pool)):
                uid = name[len(USER):]
                if not (name.startswith(USER) and uid.isascii() and uid.isdigit()):
                    continue
                try:
                    folder = _opendir(name, pool)
                except OSError:
                    continue
                try:
                    if os.fstat(folder).st_uid == int(uid):
                        groups.append(self._group(folder, int(uid)))
                finally:
                    os.close(folder)
        finally:
            os.close(pool)
        groups = [g for g in groups if g]
        if len(groups) == 1:
            yield from groups[0]
        elif groups:
            yield from sorted((r for g in groups for r in g), key=_time)

    @staticmethod
    def _group(folder: int, owner: int | None) -> list[dict[str, Any]]:
        """The records of one writer's files in ``folder`` (owned by ``owner``)."""
        out = []
        for name in (LOG + ".1", LOG):
            try:
                fd = _open(folder, name, os.O_RDONLY, owner=owner)
            except OSError:
                continue
            try:
                for line in _lines(fd):
                    record = _record(line)
                    if record is not None:
                        out.append(record)
            except OSError:
                pass
            finally:
                os.close(fd)
        return out

    @staticmethod
    def key(output: str) -> str:
        # 64-bit FNV-1a of the path: hashlib costs milliseconds to import and zlib (two
        # checksums before) 0.3-0.6 ms, this loop ~10 us for a path of 100 bytes. A
        # collision only loses an estimate, since last() checks the stored output path.
        h = 0xCBF29CE484222325
        for byte in output.encode("utf-8", "surrogateescape"):
            h = ((h ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
        return f"{h:016x}"

    def remember(self, output: str, record: dict[str, Any]) -> None:
        folder = self._sub(OUTPUTS, create=True)
        try:
            self._replace(folder, self.key(output) + ".json", record)
        finally:
            os.close(folder)

    @staticmethod
    def _replace(folder: int, name: str, data: dict[str, Any]) -> None:
        """Write ``data`` as the JSON file ``name`` of ``folder`` atomically (a temporary
        file made here, then renamed over): a reader sees the old or the new file, whole.
        A failure (a full disk) loses this update only."""
        tmp = f"{name}.{os.getpid()}.tmp"
        try:
            os.unlink(tmp, dir_fd=folder)  # left by a process of ours that died
        except OSError:
            pass
        try:
            fd = _open(folder, tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
        except OSError:
            return
        try:
            with os.fdopen(fd, "w") as f:
                f.write(strictjson.dumps(data))
            os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
        except OSError:
            try:
                os.unlink(tmp, dir_fd=folder)
            except OSError:
                pass

    def _load(self, folder: str, name: str, cap: int) -> Any:
        """The parsed JSON file ``name`` of this user's ``folder``, or None when missing,
        not ours, not a regular file, longer than ``cap`` or not JSON."""
        try:
            sub = self._sub(folder)
        except OSError:
            return None
        try:
            fd = _open(sub, name, os.O_RDONLY)
        except OSError:
            return None
        finally:
            os.close(sub)
        try:
            data = _read(fd, cap)
            return None if data is None else strictjson.loads(data.decode("utf-8", "replace"))
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)

    def last(self, output: str) -> dict[str, Any] | None:
        """The last record of ``output``, or None if it was never linked through the pool
        (or what is stored is not a record of it)."""
        record = self._load(OUTPUTS, self.key(output) + ".json", MAX_RECORD)
        return record if valid(record) and record.get("output") == output else None

    # -- the policy's summary ----------------------------------------------------------

    @staticmethod
    def summary_name(key: str) -> str:
        """The file of one summary key (``lld/256M`` -> ``lld-256M.json``)."""
        safe = "".join(c if c.isalnum() or c in "+_." else "-" for c in key)
        return os.path.join(POLICY, f"{safe}.json")

    def summary(self, key: str) -> dict[str, Any]:
        """One entry of the policy's summary (``policy/<key>.json``, a few hundred bytes:
        read on the wrapper's path); empty if missing, unreadable or corrupt."""
        found = self._load(POLICY, os.path.basename(self.summary_name(key)), MAX_SUMMARY)
        return found if isinstance(found, dict) else {}

    def update_summary(self, key: str, change: Callable[[dict[str, Any]], object]) -> None:
        """Read one entry of the summary, ``change`` it in place and write it back, under
        the summary's lock (concurrent updates are not lost) and atomically (a reader sees
        the old or the new file, whole)."""
        folder = self._sub(POLICY, create=True)
        try:
            lock = _open(folder, SUMMARY_LOCK, os.O_RDWR | os.O_CREAT)
            try:
                fcntl.flock(lock, fcntl.LOCK_EX)  # a private file: only our own jobs lock it
                current = self.summary(key)
                change(current)
                self._replace(folder, os.path.basename(self.summary_name(key)), current)
            finally:
                os.close(lock)  # releases the lock
        finally:
            os.close(folder)
