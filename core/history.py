"""The record of finished links, kept in the pool directory.

- ``history.jsonl``: one JSON object per finished job, appended with a single
  ``O_APPEND`` write (whole lines, never interleaved). Past ``MAX_BYTES`` it is renamed
  to ``history.jsonl.1`` (the older generation is dropped), so it stays bounded.
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

It knows nothing of slots or linkers: it stores and reads dictionaries.
"""

from __future__ import annotations

import fcntl
import os

from . import jsonlite

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
SETTLE_S = 10.0  # how long records() waits for jobs still writing theirs
MAX_SUMMARY = 64 << 10  # an entry is a few hundred bytes; anything bigger is not ours


class History:
    def __init__(self, directory: str, mode: int = 0o600) -> None:
        self.directory = directory
        self.mode = mode

    def _open(self, name: str, flags: int) -> int:
        return os.open(os.path.join(self.directory, name),
                       flags | os.O_NOFOLLOW | os.O_CLOEXEC, self.mode)

    def append(self, record: dict[str, Any]) -> None:
        line = (jsonlite.dumps(record) + "\n").encode()
        fd = self._open(LOG, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        try:
            self._share(fd)
            os.write(fd, line)
            if os.fstat(fd).st_size > MAX_BYTES:
                self._rotate(fd)
        finally:
            os.close(fd)
        if record.get("output"):
            self.remember(record["output"], record)

    def _share(self, fd: int) -> None:
        """The umask must not keep other users (in a shared pool) or ourselves (a umask of
        277 makes it read-only) out of a file we made."""
        st = os.fstat(fd)
        if st.st_uid == os.geteuid() and st.st_mode & 0o777 != self.mode:
            os.fchmod(fd, self.mode)

    def _rotate(self, fd: int) -> None:
        # Whoever locks the full log renames it; the others see it renamed and stop.
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            current = os.stat(os.path.join(self.directory, LOG), follow_symlinks=False)
            if current.st_ino == os.fstat(fd).st_ino and current.st_size > MAX_BYTES:
                os.replace(os.path.join(self.directory, LOG),
                           os.path.join(self.directory, LOG + ".1"))
        except FileNotFoundError:
            pass

    def pending(self) -> int:
        """A descriptor on ``policy/pending`` for a job that will write its record after
        it answers: the caller takes a shared ``flock`` on it once the command has ended,
        and the process that writes the record inherits it, so the lock lasts until the
        record is written (or that process dies)."""
        self._folder(POLICY)
        fd = self._open(os.path.join(POLICY, PENDING), os.O_RDONLY | os.O_CREAT)
        self._share(fd)
        return fd

    def settle(self, timeout: float | None = None) -> None:
        """Wait, ``timeout`` seconds at most (default ``SETTLE_S``), until no ended job is
        still writing its record (nobody holds ``policy/pending``)."""
        import time

        timeout = SETTLE_S if timeout is None else timeout

        try:
            fd = self._open(os.path.join(POLICY, PENDING), os.O_RDONLY)
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
        (:meth:`settle`); a torn or foreign line is skipped."""
        self.settle()
        for name in (LOG + ".1", LOG):
            try:
                fd = self._open(name, os.O_RDONLY)
            except FileNotFoundError:
                continue
            with os.fdopen(fd, "rb") as f:
                for line in f:
                    try:
                        record = jsonlite.loads(line.decode("utf-8", "replace"))
                    except ValueError:
                        continue
                    if isinstance(record, dict):
                        yield record

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
        self._folder(OUTPUTS)
        self._replace(os.path.join(OUTPUTS, self.key(output) + ".json"), record)

    def _folder(self, name: str) -> None:
        """The pool's sub-folder ``name``: private, or sticky in a shared pool (every user
        adds, nobody removes others' files)."""
        try:
            os.mkdir(os.path.join(self.directory, name), 0o700)
            # its mode whatever the umask (277 would leave it read-only)
            os.chmod(os.path.join(self.directory, name), 0o700 if self.mode == 0o600 else 0o1777)
        except FileExistsError:
            pass

    def _replace(self, name: str, data: dict[str, Any]) -> None:
        """Write ``data`` as the JSON file ``name`` atomically (write + rename): a reader
        sees the old or the new file, whole. In a shared pool another user's file of that
        name may not be replaceable: it stays, and only this update is lost."""
        tmp = f"{name}.{os.getpid()}.tmp"
        try:
            fd = self._open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            with os.fdopen(fd, "w") as f:
                self._share(f.fileno())
                f.write(jsonlite.dumps(data))
            os.replace(os.path.join(self.directory, tmp), os.path.join(self.directory, name))
        except PermissionError:
            try:
                os.unlink(os.path.join(self.directory, tmp))
            except OSError:
                pass

    def last(self, output: str) -> dict[str, Any] | None:
        """The last record of ``output``, or None if it was never linked through the pool."""
        try:
            fd = self._open(os.path.join(OUTPUTS, self.key(output) + ".json"), os.O_RDONLY)
        except OSError:
            return None
        try:
            with os.fdopen(fd, "rb") as f:
                record = jsonlite.loads(f.read().decode("utf-8", "replace"))
        except ValueError:
            return None
        return record if isinstance(record, dict) and record.get("output") == output else None

    # -- the policy's summary ----------------------------------------------------------

    @staticmethod
    def summary_name(key: str) -> str:
        """The file of one summary key (``lld/256M`` -> ``lld-256M.json``)."""
        safe = "".join(c if c.isalnum() or c in "+_." else "-" for c in key)
        return os.path.join(POLICY, f"{safe}.json")

    def summary(self, key: str) -> dict[str, Any]:
        """One entry of the policy's summary (``policy/<key>.json``, a few hundred bytes:
        read on the wrapper's path); empty if missing, unreadable or corrupt."""
        try:
            fd = self._open(self.summary_name(key), os.O_RDONLY)
        except OSError:
            return {}
        try:
            with os.fdopen(fd, "rb") as f:
                data = f.read(MAX_SUMMARY + 1)
            if len(data) > MAX_SUMMARY:
                return {}
            found = jsonlite.loads(data.decode("utf-8", "replace"))
        except (OSError, ValueError):
            return {}
        return found if isinstance(found, dict) else {}

    def update_summary(self, key: str, change: Callable[[dict[str, Any]], object]) -> None:
        """Read one entry of the summary, ``change`` it in place and write it back, under
        the summary's lock (concurrent updates are not lost) and atomically (a reader sees
        the old or the new file, whole). In a shared pool, an entry another user owns may
        not be replaceable: then this update is lost, nothing else."""
        self._folder(POLICY)
        lock = self._open(os.path.join(POLICY, SUMMARY_LOCK), os.O_RDWR | os.O_CREAT)
        try:
            self._share(lock)
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.summary(key)
            change(current)
            self._replace(self.summary_name(key), current)
        finally:
            os.close(lock)  # releases the lock
