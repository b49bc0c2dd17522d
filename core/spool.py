"""The C front door's record spool, folded into the pools' history and the learning policy.

The front door runs a link from a plan (``linkpool.plans``) without Python, and appends one
JSON line to ``CACHE/records`` when the link is over: the plan's ``record`` (the job: its
output, linker, estimate, command, plan...) and what it measured (its slots, wait, run,
CPU, peak memory, exit, and whether it saw other jobs in the pool: ``busy``). Python folds
the spool whenever it runs for a link's plan or for ``status``, ``history``, ``stats``,
``trace`` and ``report``: :func:`fold` takes the file (a rename: appends that come later
start a new one). The record itself is already in its pool's history: the front door
wrote it there when the link ended, never lost to a Python that does not run. The fold
keeps each output's last record (``outputs/``, for the next estimate: the ``history``
plugin's ``keep``, in the user's own records), folds
its measurements into the policy's summary (whom it met: its ``busy`` and the intervals of
the jobs around it, in place of the live look at the pool), and calls the other plugins'
``after_link`` with a Job and a Result rebuilt from the line. A torn or foreign line is
skipped; nothing here ever fails the caller.

CACHE is linkpool's cache folder (``linkpool.cache``).
"""

from __future__ import annotations

import os
import stat

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

RECORDS = "records"
MAX_LINE = 4 << 20  # a record and its command line (history.MAX_RECORD)



def fold(environ: Mapping[str, str] = os.environ) -> int:
    """Fold every record the front door spooled (see the module's text); the number of
    records folded. Never raises: a record that cannot be folded is lost, not the
    caller's business."""
    try:
        return _fold(environ)
    except Exception:
        from .settings import debugging

        if debugging(environ):
            raise
        return 0


def _fold(environ: Mapping[str, str]) -> int:
    from .cache import open_cache

    cache = open_cache(False, environ)
    if cache is None:
        return 0
    spools: list[_Spool] = []
    folded = 0
    try:
        for name in _grab(cache):
            spool = _Spool.open(cache, name)
            if spool is not None:
                spools.append(spool)
        while True:  # again for what came meanwhile: an append that opened the spool
            # before it was taken writes into the file taken
            entries = [e for spool in spools for e in map(parse, spool.lines()) if e is not None]
            if not entries:
                break
            _fold_entries(entries)
            folded += len(entries)
        return folded
    finally:
        for spool in spools:
            spool.close(cache)
        os.close(cache)


def _grab(cache: int) -> list[str]:
    """Take the spool by renaming it to a name of this process (an append that comes
    later makes a new spool), and any left by a folder that died before it was done."""
    me = os.getpid()
    try:
        names = os.listdir(cache)
    except OSError:
        return []
    taken: list[str] = []
    used = set(names)

    def fresh() -> str:
        n = 0
        while f"{RECORDS}.{me}.{n}" in used:
            n += 1
        name = f"{RECORDS}.{me}.{n}"
        used.add(name)
        return name

    found = [RECORDS] if RECORDS in names else []
    for name in names:
        pid = name[len(RECORDS) + 1:].partition(".")[0]
        if name.startswith(RECORDS + ".") and pid.isascii() and pid.isdigit() \
                and not _alive(int(pid), me):
            found.append(name)
    for name in found:
        target = fresh()
        try:
            os.rename(name, target, src_dir_fd=cache, dst_dir_fd=cache)
        except OSError:
            continue  # another folder took it first
        taken.append(target)
    return taken


def _alive(pid: int, me: int) -> bool:
    """Whether ``pid`` may be a process folding now (this one is not: a file named after
    it was left by an earlier process of that number)."""
    if pid == me:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # another user's process by that number: not ours to judge
    return True


class _Spool:
    """A spool taken: ours, a regular file, read line by line as it grows."""

    def __init__(self, name: str, fd: int) -> None:
        self.name = name
        self.file = os.fdopen(fd, "rb")
        self.pending = b""  # the start of a line whose end is not written yet
        self.skip = False  # within a line too long to be a record

    @classmethod
    def open(cls, cache: int, name: str) -> _Spool | None:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                         dir_fd=cache)
        except OSError:
            cls.remove(cache, name)
            return None
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                return cls(name, fd)
        except OSError:
            pass
        os.close(fd)
        cls.remove(cache, name)
        return None

    def lines(self) -> list[bytes]:
        """The whole lines written since the last call."""
        out = []
        while True:
            try:
                chunk = self.file.readline(MAX_LINE + 1 - len(self.pending))
            except OSError:
                break
            if not chunk:
                break
            line, self.pending = self.pending + chunk, b""
            if line.endswith(b"\n"):
                if not self.skip:
                    out.append(line)
                self.skip = False
            elif len(line) > MAX_LINE:
                self.skip = True  # not a record of ours: up to its end, skipped
            else:
                self.pending = line
        return out

    def close(self, cache: int) -> None:
        self.file.close()
        self.remove(cache, self.name)  # a torn last line goes with it

    @staticmethod
    def remove(cache: int, name: str) -> None:
        try:
            os.unlink(name, dir_fd=cache)
        except OSError:
            pass


#: The measured fields of a spool line and the types each may have.
_NUMBER = (int, float)
_MEASURED: dict[str, tuple[type, ...]] = {
    "time": _NUMBER, "admitted": _NUMBER, "wait_s": _NUMBER, "run_s": _NUMBER,
    "tail_s": _NUMBER, "cpu_s": _NUMBER, "max_rss_kb": (int,), "anon_peak_kb": (int,),
    "exit": (int,), "weight": (int,), "threads": (int, type(None)),
    "tokens": (int, type(None)), "slots": (list,), "busy": (bool,),
}
#: The job's part (the plan's ``record``) and the types each may have.
_JOB: dict[str, tuple[type, ...]] = {
    "output": (str, type(None)), "cwd": (str,), "kind": (str,), "linker": (str, type(None)),
    "estimate": (dict, type(None)), "command": (list,), "extra": (dict,),
    "shared": (bool,), "tuned": (dict,),
}


def parse(line: bytes) -> dict[str, Any] | None:
    """One spool line, checked: the front door's fields with their types, the job's part
    as ``linkpool.plans`` renders it; None for anything else (a torn line, garbage)."""
    from . import strictjson

    try:
        entry = strictjson.loads(line.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError too
        return None
    if not isinstance(entry, dict) or entry.get("v") != 1:
        return None
    pool, job = entry.get("pool"), entry.get("job")
    if not isinstance(pool, str) or not pool.startswith("/") or not isinstance(job, dict):
        return None
    for fields, where in ((_MEASURED, entry), (_JOB, job)):
        for field, types in fields.items():
            if field in where and type(where[field]) not in types:
                return None
    if not all(field in entry for field in ("admitted", "exit", "weight")) \
            or not all(field in job for field in ("cwd", "kind", "command")) \
            or entry["weight"] < 1 \
            or not all(type(i) is int for i in entry.get("slots") or ()) \
            or not all(type(a) is str for a in job["command"]):
        return None
    return entry


def _interval(entry: dict[str, Any]) -> tuple[float, float]:
    """When a record's job came (its admission less its wait) and when it ended."""
    admitted = float(entry["admitted"])
    end = admitted + float(entry.get("run_s") or 0) + float(entry.get("tail_s") or 0)
    return admitted - max(0.0, float(entry.get("wait_s") or 0)), end


def _fold_entries(entries: list[dict[str, Any]]) -> None:
    from .plugins.history import RECENT, keep
    from .policy import met

    observers: dict[str, tuple[Any, Any]] = {}
    spans = [(e["pool"], _interval(e)) for e in entries]
    for i, entry in enumerate(entries):
        plugins = entry["job"].get("plugins")
        which = repr(plugins)
        if which not in observers:
            observers[which] = _observers(plugins if isinstance(plugins, dict) else None)
        settings, hooks = observers[which]
        job, result = rebuild(entry, settings)
        pool = entry["pool"]
        others = [span for j, (p, span) in enumerate(spans) if p == pool and j != i]

        def judge(history: Any, start: float, end: float, entry: dict[str, Any] = entry,
                  others: list[tuple[float, float]] = others) -> bool:
            # Whom it met: the front door saw others hold or wait (at its admission or at
            # its end), or a job of the summary's recent intervals ran during it, or a job
            # folded now did (whichever of the two is folded first)
            return entry.get("busy") is not False \
                or met(history.summary(RECENT).get("recent"), start, end) \
                or met([list(span) for span in others], start, end)
        try:
            keep(job, result, judge, append=False)  # the front door wrote the record
        except OSError:
            pass  # its pool is gone, or is not ours to write: the record is lost
        if hooks is not None:
            with _quiet():
                try:
                    hooks.hook.linkpool_after_link(job=job, result=result)
                except Exception as e:
                    try:
                        hooks.hook.linkpool_error(job=job, error=e)
                    except Exception:
                        pass


def rebuild(entry: dict[str, Any], settings: Any = None) -> tuple[Any, Any]:
    """The Job and the Result of a spool line, as the link's run would have left them
    for ``after_link``."""
    from .job import Cost, Job, Result
    from .linkers import FLAVOURS, Generic, Linker

    part = entry["job"]
    job = Job(part["command"], part["cwd"], settings=settings)
    job.kind = part["kind"]
    job.output = part.get("output")
    linker = part.get("linker")
    flavours: tuple[type[Linker], ...] = (*FLAVOURS, Generic)
    job.linker = next((f for f in flavours if f.id == linker), None) if linker else None
    estimate = part.get("estimate")
    if isinstance(estimate, dict):
        detail = {k: v for k, v in estimate.items() if k not in ("memory", "threads", "source")}
        try:
            job.cost = Cost(int(estimate["memory"]), int(estimate["threads"]),
                            str(estimate["source"]), detail)
        except (KeyError, TypeError, ValueError):
            job.cost = None
    job.pool_dir = entry["pool"]
    job.shared = bool(part.get("shared"))
    job.weight = entry["weight"]
    job.threads = entry.get("threads") or None
    tuned = part.get("tuned") or {}
    job.extra = dict(part.get("extra") or {})
    variant = tuned.get(f"{job.weight} {job.threads or 0}")
    if isinstance(variant, dict):
        job.extra.update(variant)
    if entry.get("tokens") is not None:
        job.extra["tokens"] = entry["tokens"]
    job.extra.update(slots=list(entry.get("slots") or []), admitted=entry["admitted"])
    code = entry["exit"]
    result = Result(128 - code if code < 0 else code, float(entry.get("wait_s") or 0),
                    float(entry.get("run_s") or 0), float(entry.get("tail_s") or 0),
                    float(entry.get("cpu_s") or 0), int(entry.get("max_rss_kb") or 0),
                    anon_peak_kb=int(entry.get("anon_peak_kb") or 0))
    return job, result


def _observers(plugins: dict[str, Any] | None) -> tuple[Any, Any]:
    """The settings and the plugins whose ``after_link`` the folded records get: the
    link's own (``plugins``: its ``plugin_path`` and ``disable``, as the plan recorded
    them), every plugin but ``history`` (the fold records them itself) and
    ``output-check`` (its word is for the build's stderr at the link's end: such links ran
    in Python)."""
    try:
        from .hooks import load
        from .settings import resolve

        settings = resolve(problems=[])
    except Exception:
        return None, None
    try:
        for name in ("plugin_path", "disable"):
            value = (plugins or {}).get(name)
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                setattr(settings, name, value)
        settings.disable = [*settings.disable, "history", "output-check"]
        hooks = load(settings)
        hooks.hook.linkpool_configure(config=settings.config)
    except Exception:
        return settings, None
    return settings, hooks


class _quiet:
    """The plugins' after_link runs as in Python's own recorder: with /dev/null for its
    stdin, stdout and stderr (whoever folds, a link's planning or `linkpool status`, keeps
    its own output)."""

    def __enter__(self) -> None:
        import sys

        self.saved: list[tuple[int, int]] = []
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        try:
            null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        except OSError:
            return
        try:
            for fd in (0, 1, 2):
                try:
                    self.saved.append((fd, os.dup(fd)))
                except OSError:
                    continue
                os.dup2(null, fd)
        finally:
            os.close(null)

    def __exit__(self, *exc: object) -> None:
        import sys

        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()  # what a plugin printed goes to /dev/null, not to us later
            except Exception:
                pass
        for fd, copy in self.saved:
            try:
                os.dup2(copy, fd)
            finally:
                os.close(copy)
