"""Plans: what the C front door needs to run one link without Python.

``linkpool-py --plan=FD ARGS...`` (``ARGS``: ``run [OPTIONS] [--] CMD...`` or the launcher
form ``CMD...``) takes the engine's steps for ``ARGS`` up to the wait for slots
(``Engine.decide``) and the tune hooks for every slot count the link may hold, without
acquiring or running anything, and writes one plan to descriptor FD: what to do (exit,
exec the command bare, run it holding slots, or hand the whole link to Python) and, for a
run, the pool, weights, timeout, what ``status`` and the history show of the job, and the
command for each number of slots (and of jobserver tokens) it may get. Whatever linkpool
would say on the way (a usage error, ``run --help``, a warning) is said here, as ``run``
says it. A plan that may be used again for the same invocation is also stored in
``CACHE/plans/<FNV-1a 64 of its key>`` (CACHE: ``linkpool.cache``), with the
status of every file it depends on: the front door checks them and acts on it without
Python.

The file: ``b"lpplan1\\n" + len(KEY) + b"\\n" + KEY`` (:func:`key`), then fields, each
``NAME\\0VALUE\\0`` (:class:`Plan`); the field names and their order are those of the
front door's specification (``cpus``, ``stat``, ``absent``, ``jobserver``, ``once``,
``action``, then the action's own fields).
"""

from __future__ import annotations

import os
import sys

from . import names

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any, NoReturn

    from .engine import Engine

MAGIC = b"lpplan1\n"
KEY_TAG = b"linkpool-plan-1\0"
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
PLANS = "plans"


def fnv1a64(data: bytes) -> int:
    """The 64-bit FNV-1a hash of ``data``."""
    h = FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & 0xFFFFFFFFFFFFFFFF
    return h


def _bytes(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else os.fsencode(value)


#: The variables besides LINKPOOL_* a plan depends on (core/frontdoor/plan.c has the same).
KEY_NAMES = frozenset({b"PATH", b"HOME", b"XDG_RUNTIME_DIR", b"XDG_CONFIG_HOME",
                       b"XDG_CONFIG_DIRS"})


def key(euid: int, cwd: str | bytes, args: Sequence[str | bytes],
        environ: Mapping[Any, Any]) -> bytes:
    """The key of a plan: what the invocation ``linkpool ARGS`` is, for the front door
    to find its plan. ``environ``'s entries count whose name starts with ``LINKPOOL_`` or
    is one of :data:`KEY_NAMES` (what finds the linker, the config files and the default
    pool), sorted bytewise as ``NAME=VALUE``. A driver's temporary file in an argument
    counts with its random letters as a marker (:func:`volatile`)."""
    envs = sorted(n + b"=" + _bytes(v) for n, v in ((_bytes(n), v) for n, v in environ.items())
                  if n.startswith(b"LINKPOOL_") or n in KEY_NAMES)
    words = [_bytes(a) for a in args]
    for k, (i, _ctx, r) in enumerate(volatile(words, environ)):
        words[i] = words[i][:r] + marker(k) + words[i][r + R_LEN:]
    return b"".join([KEY_TAG, str(euid).encode(), b"\0", _bytes(cwd), b"\0",
                     str(len(args)).encode(), b"\0", *(w + b"\0" for w in words),
                     *(e + b"\0" for e in envs)])


# -- a driver's temporary files -----------------------------------------------------------

#: The random letters of gcc's (``ccXXXXXX.res``) and LLVM's (``NAME-XXXXXX.o``)
#: temporary names.
R_LEN = 6
MAX_VOLATILE = 64
_ALNUM = frozenset(b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_HEX = frozenset(b"0123456789abcdef")


def marker(k: int) -> bytes:
    """What stands for the random letters of the k-th temporary name: ``@NNNN@``."""
    return b"@%04d@" % k


def _random_letters(name: bytes) -> int | None:
    """Where the random letters start in a file name of the driver's, or None."""
    if b"/" in name:
        return None
    if len(name) > 2 + R_LEN and name.startswith(b"cc") and name[2 + R_LEN] == 0x2E \
            and all(c in _ALNUM for c in name[2:2 + R_LEN]):
        return 2
    dot = name.rfind(b".")
    if name.endswith(b".o") and dot > R_LEN and name[dot - R_LEN - 1] == 0x2D \
            and all(c in _HEX for c in name[dot - R_LEN:dot]):
        return dot - R_LEN
    return None


def volatile(args: Sequence[bytes], environ: Mapping[Any, Any]) -> list[tuple[int, int, int]]:
    """The arguments (after the first) that name a compiler driver's temporary file
    directly in ``$TMPDIR``, /tmp or /var/tmp (gcc's ``-plugin-opt=-fresolution=/tmp/
    ccXXXXXX.res``, ``/tmp/ccXXXXXX.o``; clang's ``/tmp/main-xxxxxx.o``): new random
    letters on every run of the same link. Each as (index, where its folder starts,
    where the letters start); at most :data:`MAX_VOLATILE`. core/frontdoor/plan.c's
    ``lp_volatile`` is the same rule."""
    tmpdir = b""
    for name in (b"TMPDIR", "TMPDIR"):  # os.environb's keys are bytes, a dict's may be str
        try:
            tmpdir = _bytes(environ.get(name) or tmpdir)  # type: ignore[call-overload]
        except TypeError:
            continue
    if tmpdir.startswith(b"/"):
        while len(tmpdir) > 1 and tmpdir.endswith(b"/"):
            tmpdir = tmpdir[:-1]
    else:
        tmpdir = b""
    dirs = [d for d in (tmpdir, b"/tmp", b"/var/tmp") if d]
    found: list[tuple[int, int, int]] = []
    for i, word in enumerate(args[1:], 1):
        if len(found) == MAX_VOLATILE:
            break
        at = -1
        while (at := word.find(b"/", at + 1)) >= 0:
            if at and word[at - 1] != 0x3D:  # a path starts the word or follows an '='
                continue
            hit = next(((d, r) for d in dirs if word.startswith(d + b"/", at)
                        and (r := _random_letters(word[at + len(d) + 1:])) is not None), None)
            if hit:
                found.append((i, at, at + len(hit[0]) + 1 + hit[1]))
                break
    return found


def templated(body: bytes, args: Sequence[bytes], environ: Mapping[Any, Any]) -> bytes:
    """``body`` (a plan's fields) with each temporary name's random letters as their
    marker, where the name appears after its folder: the plan then holds for the next run
    of the same link, whose front door puts that run's letters back."""
    for k, (i, ctx, r) in enumerate(volatile(args, environ)):
        word = args[i]
        body = body.replace(word[ctx:r + R_LEN], word[ctx:r] + marker(k))
    return body


def file_name(plan_key: bytes) -> str:
    """The plan's file in CACHE/plans: its key's hash, 16 lower-case hex digits."""
    return f"{fnv1a64(plan_key):016x}"


class Plan:
    """The fields of one plan, in order; ``reusable``: it may be stored and used again."""

    def __init__(self) -> None:
        self.fields: list[tuple[bytes, bytes]] = []
        self.reusable = False
        self.action = ""

    def add(self, name: str, value: str | bytes | int | float) -> None:
        if isinstance(value, bool):
            value = int(value)
        data = _bytes(value) if isinstance(value, (str, bytes)) else str(value).encode()
        if b"\0" in data:
            raise ValueError(f"a NUL in the plan's {name}")
        self.fields.append((name.encode(), data))

    def command(self, argv: Sequence[str]) -> None:
        self.add("argc", len(argv))
        for arg in argv:
            self.add("arg", arg)

    def get(self, name: str) -> list[bytes]:
        """Every value of the field ``name`` (for the tests and for ``explain``)."""
        return [v for n, v in self.fields if n == name.encode()]

    def encode(self, plan_key: bytes) -> bytes:
        return b"".join([MAGIC, str(len(plan_key)).encode(), b"\n", plan_key,
                         *(n + b"\0" + v + b"\0" for n, v in self.fields)])


def decode(data: bytes) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The key and the fields of a plan file (ValueError if it is not one)."""
    if not data.startswith(MAGIC):
        raise ValueError("not a plan")
    length, _, rest = data[len(MAGIC):].partition(b"\n")
    if not length.isdigit() or len(rest) < int(length):
        raise ValueError("a plan with a torn key")
    plan_key, body = rest[:int(length)], rest[int(length):]
    parts = body.split(b"\0")
    if parts[-1] != b"" or len(parts) % 2 != 1:
        raise ValueError("a plan with a torn field")
    return plan_key, list(zip(parts[0:-1:2], parts[1:-1:2]))


# -- the entry point ----------------------------------------------------------------------


def main(fd: int, args: list[str]) -> NoReturn:
    """``linkpool-py --plan=FD ARGS...``: fold the record spool, write the plan of
    ``ARGS`` to ``fd`` (and store it when it is reusable), exit 0. A plan that cannot be
    written (the front door went away): exit 1."""
    from .process import guard_stdio, leave

    guard_stdio()
    code = 0
    try:
        from .spool import fold

        fold()
        plan = make(args)
        try:
            cwd = os.getcwdb()
        except OSError:
            cwd = None  # no key: the front door asks again, nothing is stored
            plan.reusable = False
        plan_key = key(os.geteuid(), cwd or b"", args, os.environb)
        data = plan.encode(plan_key)
        head = len(MAGIC) + len(str(len(plan_key))) + 1 + len(plan_key)  # then the fields
        data = data[:head] + templated(data[head:], [os.fsencode(a) for a in args],
                                       os.environb)
        code = 0 if _write(fd, data) else 1
        store(plan_key, data if plan.reusable else None)
    except KeyboardInterrupt:  # Ctrl-C while planning: die of it, as the command would have
        from . import process

        process.current.killed_by = 2
        code = 130
    except Exception:  # a bug of linkpool's: no plan, and the front door's one warning
        from .settings import debugging

        if debugging():
            raise
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    leave(code)


def _write(fd: int, data: bytes) -> bool:
    try:
        while data:
            try:
                data = data[os.write(fd, data):]
            except InterruptedError:
                continue
        os.close(fd)
    except OSError:
        return False
    return True


def store(plan_key: bytes, data: bytes | None) -> bool:
    """Store the plan ``data`` of ``plan_key`` in CACHE/plans (atomically: a file of its
    own, mode 0600, renamed over); with None, remove what is stored for that key (a plan
    that is not reusable: the stored one did not hold). False when there is no usable
    cache."""
    from .cache import open_cache, open_dir

    cache = open_cache(create=data is not None)
    if cache is None:
        return False
    try:
        folder = open_dir(PLANS, cache, create=data is not None)
    finally:
        os.close(cache)
    if folder is None:
        return False
    name = file_name(plan_key)
    try:
        if data is None:
            try:
                os.unlink(name, dir_fd=folder)
            except FileNotFoundError:
                pass
            return True
        tmp = f".{name}.{os.getpid()}.tmp"
        try:
            os.unlink(tmp, dir_fd=folder)  # left by an earlier process of this number
        except FileNotFoundError:
            pass
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=folder)
        try:
            os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
        if int(name, 16) % PRUNE_EVERY == 0:
            prune(folder)
        return True
    except OSError:
        return False
    finally:
        os.close(folder)


#: The most plans kept: one per invocation (working directory, arguments) a user ever
#: linked; past it the least recently made go (about 1 KiB each). Looked at after one
#: store in PRUNE_EVERY (by the plan's name: no state), so a store costs no listing.
MAX_PLANS = 4096
PRUNE_EVERY = 64


def prune(folder: int) -> None:
    """Remove the oldest plans of ``folder`` beyond :data:`MAX_PLANS` (a removed plan is
    only made again, by the next link of its invocation)."""
    try:
        entries = [(e.stat(follow_symlinks=False).st_mtime, e.name)
                   for e in os.scandir(folder) if not e.name.startswith(".")]
    except OSError:
        return
    for _, name in sorted(entries)[:max(0, len(entries) - MAX_PLANS)]:
        try:
            os.unlink(name, dir_fd=folder)
        except OSError:
            pass


# -- making the plan ------------------------------------------------------------------------

#: The history record's members the front door measures and writes itself.
_MEASURED = frozenset({"time", "weight", "threads", "wait_s", "run_s", "tail_s", "exit",
                       "max_rss_kb", "anon_peak_kb", "cpu_s", "slots", "admitted", "tokens",
                       "met"})


def make(args: list[str]) -> Plan:
    """The plan of ``linkpool ARGS``, saying on stderr (and stdout, for ``--help``) what
    ``linkpool ARGS`` itself would say before its command starts."""
    from . import cli

    before = names.said
    command = cli.run_command(args)
    if not args or (args[0] != "run" and command is None):
        return _python()  # not a link: the whole command is Python's
    planner = Planner()
    cli.planner = planner.plan
    try:
        status = cli.dispatch(args)
    except Exception as e:
        from .settings import debugging

        if debugging():
            raise
        what = cli.failure(e)
        if command:  # as cli.fail_open: the command runs without linkpool
            names.say(f"warning: {what}; running the command without linkpool")
            return _exec(command, False)
        names.say(f"{what} (set LINKPOOL_DEBUG=1 for details)")  # a bug (as fail_open)
        return _exit(1)
    finally:
        cli.planner = None
    if planner.made is None:  # help, a usage error, a mistyped subcommand: its status
        return _exit(status)
    plan = planner.made
    plan.reusable = plan.reusable and names.said - before <= planner.may_say
    return plan


def _python() -> Plan:
    plan = Plan()
    plan.action = "python"
    plan.add("action", "python")
    return plan


def _exit(status: int) -> Plan:
    plan = Plan()
    plan.action = "exit"
    plan.add("action", "exit")
    plan.add("status", status)
    return plan


def _exec(argv: Sequence[str], reusable: bool, depends: Sequence[tuple[str, str]] = ()) \
        -> Plan:
    plan = Plan()
    _common(plan, depends)
    plan.action = "exec"
    plan.reusable = reusable
    plan.add("action", "exec")
    plan.command(argv)
    return plan


def _common(plan: Plan, depends: Sequence[tuple[str, str]], once: bool = False) -> None:
    """The fields every stored plan starts with: the CPUs, the files it depends on,
    the jobserver's presence, and whether it is for this link only."""
    from .makeflags import announced, of

    plan.add("cpus", len(os.sched_getaffinity(0)))
    for what, path in depends:
        plan.add(what, path)
    plan.add("jobserver", int(announced(of())))  # the front door's lp_js_announced
    if once:
        plan.add("once", 1)


def describe(path: str) -> tuple[str, str]:
    """A ``stat`` field for the file at ``path`` (its device, inode, size and modification
    time, then its path: what the front door compares), or ``absent`` when there is none."""
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return "absent", path
    return "stat", (f"{st.st_dev} {st.st_ino} {st.st_size} {st.st_mtime_ns // 10**9} "
                    f"{st.st_mtime_ns % 10**9} {path}")


class Planner:
    """Called by ``cli.cmd_run`` (``cli.planner``) with the engine of ``run``, in place of
    ``Engine.run``: makes the plan (``made``)."""

    def __init__(self) -> None:
        self.made: Plan | None = None
        self.may_say = 0  # lines a reusable plan may have said (a capped weight's warning)
        self.per_link = False  # a third-party plugin decides (a plan for this link only)

    def plan(self, engine: Engine) -> int:
        self.made = self._plan(engine)
        if self.per_link:  # a third-party plugin decides each link: asked each time
            self.made.reusable = False
        return 0

    def _plan(self, engine: Engine) -> Plan:
        from . import command
        from .hooks import deciding, load

        settings, job = engine.settings, engine.job
        if engine.hooks is None:
            engine.hooks = engine._step("loading plugins", lambda: load(settings))
        if engine.hooks is not None and deciding(engine.hooks, ("linkpool_after_acquire",)):
            return _python()  # a plugin of someone else's acts while the slots are held
        # Another third-party plugin that decides (classify ... tune) does so here, for
        # this link only: the plan is not stored, and the front door asks again next time
        self.per_link = engine.hooks is not None and bool(deciding(engine.hooks))
        if settings.check_output and "output-check" not in settings.disable:
            return _python()  # its warning is for the build's stderr as the link ends
        dry = self._jobserver(job, None) if "jobserver" not in settings.disable else None
        probed: list[str] = []
        command.probed = probed
        try:
            decided = engine.decide(settings.pool)
        finally:
            command.probed = None
        cwd_known = engine.job.cwd != "."
        depends = self._depends(engine, probed)
        if decided is None:
            # a compile, an info command, a nested run, a veto, or an unusable pool (said)
            return _exec(job.argv, cwd_known, depends)
        if isinstance(decided, int):  # strict mode and an unusable pool (said)
            return _exit(decided)
        pool = decided
        self.may_say = int(engine.capped)
        return self._run(engine, pool, depends, cwd_known, dry)

    @staticmethod
    def _jobserver(job: Any, tokens: int | None) -> Any:
        from .makeflags import announced, of

        if not announced(of(job.env)):
            return None
        from .plugins import jobserver

        return jobserver.dry_run(job, tokens)

    def _depends(self, engine: Engine, probed: list[str]) -> list[tuple[str, str]]:
        """The files the decisions read: the config files (or their absence), the
        response files, the pool's pool.json, the program and the linker, linkpool's own
        package and the folders its plugins are found in, and a link's last record when
        it was weighed without one."""
        from .configfile import config_file, system_files

        settings, job = engine.settings, engine.job
        paths = [config_file(), *system_files(), *probed]
        if job.pool_dir is not None:
            paths.append(os.path.join(job.pool_dir, "pool.json"))
        cmd = job.command
        if cmd is not None and cmd.program:
            from .names import find_program

            program = cmd.program
            found = os.path.join(job.cwd, program) if "/" in program else \
                find_program(program, os.environ.get("PATH"), job.cwd)
            if found:
                paths.append(found)
        if job.linker_path:
            paths.append(os.path.join(job.cwd, job.linker_path))
        paths.append(os.path.join(os.path.dirname(os.path.abspath(__file__)), "__init__.py"))
        paths += [p for p in sys.path if p and os.path.isdir(p)]
        paths += settings.plugin_path
        if job.pool_dir is not None and job.output and job.kind == "link" \
                and not job.weight_given and (job.cost is None or job.cost.source != "history"):
            from .history import OUTPUTS, USER, History

            base = os.path.join(job.pool_dir, f"{USER}{os.geteuid()}") if job.shared \
                else job.pool_dir
            paths.append(os.path.join(base, OUTPUTS, History.key(job.output) + ".json"))
        here = os.getcwd() if job.cwd != "." else "/"
        return [describe(p) for p in dict.fromkeys(os.path.join(here, p) for p in paths)]

    def _run(self, engine: Engine, pool: Any, depends: list[tuple[str, str]],
             cwd_known: bool, dry: Any) -> Plan:
        from . import strictjson
        from .makeflags import announced, of
        from .plugins.history import estimate_of

        job = engine.job
        low = int(job.weight or 1)
        high = max(low, min(int(job.weight_max or low), pool.slots))
        makeflags = of(job.env)
        under_jobserver = dry is not None
        variants: list[tuple[int, int, list[str], dict[str, Any]]] = []
        wants: list[tuple[int, int]] = []
        fixed = False
        for n in range(low, high + 1):
            top, asked = self._tune(engine, n, None)
            if top.env != job.env:
                return _python()  # a tune hook changed the environment: no plan says that
            t_n = int(top.threads or 0)
            variants.append((n, t_n, top.argv, self._tuned(job, top)))
            if not under_jobserver or asked is None:
                continue
            wants.append((n, asked + 1))
            fixed = fixed or (t_n == 0 and asked > 0)
            for t in range(1, t_n):
                fewer, _ = self._tune(engine, n, t - 1)
                variants.append((n, t, fewer.argv, self._tuned(job, fewer)))
        planned = job.extra.get("plan")
        once = isinstance(planned, dict) and bool(planned.get("learning"))
        plan = Plan()
        _common(plan, depends, once)
        plan.action = "run"
        plan.reusable = cwd_known and self._reusable(job, makeflags)
        plan.add("action", "run")
        plan.add("pool", pool.path)
        source = engine.settings["pool"].source
        if source != "default":  # where its path came from, for the lines about it
            plan.add("pool_source", source)
        plan.add("weight", low)
        plan.add("weight_max", high)
        timeout = engine.timeout
        plan.add("timeout", "-1" if timeout is None or timeout >= 1e9 else repr(float(timeout)))
        plan.add("strict", int(engine.strict))
        plan.add("quiet", int(engine.quiet))
        plan.add("polling", int(engine.polling))
        forking = job.linker is not None and job.command is not None \
            and job.linker.leaves_child(job.command.linker_args)
        plan.add("forking", int(bool(forking)))
        # the note status shows: the front door adds the threads and tokens it settles on
        note = {k: v for k, v in engine._identity().items() if k not in ("threads", "tokens")}
        plan.add("note", strictjson.dumps(note))
        record = {"output": job.output, "cwd": job.cwd, "kind": job.kind,
                  "linker": job.linker.id if job.linker is not None else None,
                  "estimate": estimate_of(job.cost), "command": job.original,
                  "extra": dict(job.extra), "shared": job.shared,
                  # whose after_link the fold calls: the link's plugins, not the folder's
                  "plugins": {"plugin_path": list(engine.settings.plugin_path),
                              "disable": list(engine.settings.disable)},
                  "tuned": {f"{n} {t}": extra for n, t, _, extra in variants if extra}}
        plan.add("record", strictjson.dumps(record))
        # The history record's own members (the front door adds what it measures and
        # writes the line into the pool's history: plugins.history.keep's record)
        extra = {k: v for k, v in job.extra.items() if k not in _MEASURED}
        if job.output:  # whose last record the front door keeps (outputs/)
            plan.add("output", job.output)
        if "history" not in engine.settings.disable:  # the plugin that keeps the history
            plan.add("history", strictjson.dumps(
                {"output": job.output, "cwd": job.cwd, "kind": job.kind,
                 "linker": record["linker"], "estimate": record["estimate"],
                 "command": job.original, **extra})[1:-1])
        plan.add("met", int(isinstance(planned, dict)))
        plan.add("label", job.output or job.argv[0])  # as the "got" line names it
        for n, t, argv, _ in variants:
            plan.add("variant", f"{n} {t}")
            plan.command(argv)
        for n, t, _, extra in variants:  # what tuning adds to the history record
            if extra:
                plan.add("tuned", f"{n} {t} " + strictjson.dumps(extra)[1:-1])
        if announced(makeflags):
            for n, w in wants:
                plan.add("js_want", f"{n} {w}")
            plan.add("js_fixed", int(fixed))
        return plan

    def _tune(self, engine: Engine, n: int, tokens: int | None) -> tuple[Any, int | None]:
        """A copy of the job tuned as it would be holding ``n`` slots (and, under a
        jobserver, finding ``tokens`` free: None, as many as it asks), and the tokens
        it asked for (None: it asked none, or there is no jobserver)."""
        import copy

        job = engine.job
        tuned = copy.copy(job)
        tuned.argv = list(job.argv)
        tuned.extra = copy.deepcopy(job.extra)
        tuned.env = dict(job.env) if job.env is not None else None
        tuned.weight = n
        dry = None
        if "jobserver" not in engine.settings.disable:
            dry = self._jobserver(tuned, tokens)
        if engine.hooks is not None:
            hook = engine.hooks.hook
            engine._step("tune", lambda: hook.linkpool_tune(job=tuned))
        return tuned, dry.asked if dry is not None else None

    @staticmethod
    def _tuned(job: Any, tuned: Any) -> dict[str, Any]:
        """What tuning added to the job's ``extra`` (the tokens taken are measured)."""
        return {k: v for k, v in tuned.extra.items()
                if k != "tokens" and (k not in job.extra or job.extra[k] != v)}

    @staticmethod
    def _reusable(job: Any, makeflags: str | None) -> bool:
        """Whether a plan of this run holds for the next one of the same key: not when
        the build's ``-jN`` bounds it without a jobserver (MAKEFLAGS is no part of the
        key), nor for a gcc LTO link a pipe jobserver would hand a private one (then the
        plan is Python's; with a fifo, the next build's may be a pipe)."""
        from .makeflags import parse
        from .plugins import jobserver

        auth, jobs = parse(makeflags)
        if auth is None:
            return jobs is None
        if job.kind == "link" and job.command is not None and job.command.family == "gcc":
            return not jobserver.gcc_ltrans_ours(job, jobserver.Dry("pipe"))
        return True
