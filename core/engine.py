"""One job: classify -> choose the linker -> estimate and weigh -> acquire -> tune -> run ->
record. Every step is a hook (``linkpool.hookspecs``); the engine only composes them with
the pool and the process runner, and imports no plugin.

The user's command is never harmed by linkpool's own failures: a step that fails is
reported through ``linkpool_error`` and one warning line, and the command runs on (with
weight 1, or without the pool when the pool itself is unusable, unless strict).
"""

from __future__ import annotations

import os

from . import process
from .configfile import EX_TEMPFAIL, EX_UNAVAILABLE, EX_USAGE
from .job import Job, Result
from .names import say

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from typing import Any

    from .settings import Settings


class Engine:
    def __init__(self, argv: list[str], settings: Settings, weight: int | None = None,
                 timeout: float | None = None, run: process.RunContext | None = None) -> None:
        """One run of ``argv`` with the resolved ``settings`` (carried on the job, where
        the hooks and the plugins read them). ``run``: the context of the command's run
        (the child, its status, what ends with it, who records it); the caller's, to
        read when linkpool itself fails (``cli.fail_open``), else the process's."""
        try:
            cwd = os.getcwd()
        except OSError:  # removed under the build (rmdir ../d): relative paths still work
            cwd = "."
        self.job = Job(argv, cwd, weight=weight, settings=settings)
        self.run_ctx = self.job.run = run if run is not None else process.current
        self.settings = settings
        self.timeout = timeout
        self.strict = settings.strict
        self.quiet = settings.quiet
        self.polling = settings.polling
        self.said_waiting = False
        self.warned = False
        self.capped = False  #: its weight was more than the pool's slots: it holds them all
        self.hooks: Any = None

    def _step(self, what: str, call: Any) -> Any:
        """Run one hook call; a plugin's failure is reported, never fatal."""
        try:
            return call()
        except Exception as e:
            if not self.warned:  # one line at most, however many steps fail
                self.warned = True
                say(f"warning: {what} failed ({type(e).__name__}: {e}); carrying on without it")
            if self.hooks is not None:
                try:
                    self.hooks.hook.linkpool_error(job=self.job, error=e)
                except Exception:
                    pass
            return None

    def run(self, pool_path: str) -> int:
        decided = self.decide(pool_path)
        if decided is None:
            return self._execute(None).status  # no slot: compiles, --version, nested runs
        if isinstance(decided, int):
            return decided
        pool = decided
        job = self.job
        weight = job.weight = job.weight or 1
        hook = self.hooks.hook if self.hooks is not None else None
        from .pool import PoolError, Timeout, WeightError

        try:
            lease = pool.acquire(weight, self.timeout, self._identity(),
                                 notify=None if self.quiet else self._say_waiting,
                                 more=self._more if (job.weight_max or 0) > weight else None,
                                 polling=self.polling)
        except Timeout:
            say(f"gave up after {self.timeout:g} s waiting for {weight} slot(s) of "
                f"{pool.path} (--timeout); the command was not run")
            return EX_TEMPFAIL
        except WeightError as e:
            say(str(e))
            return EX_USAGE
        except (PoolError, OSError) as e:
            unpooled = self._unusable(str(e) if isinstance(e, PoolError) else
                                      f"cannot use pool {pool_path}: {e}", pool_path)
            return self._execute(None).status if unpooled is None else unpooled
        waited = float(lease.info.get("waited", 0.0))
        lift(lease.fds)
        self._admitted(hook, lease, waited)
        env = dict(job.env or os.environ, LINKPOOL_HELD=pool.path)
        return self._execute(lease, env, waited).status

    def decide(self, pool_path: str) -> Any:
        """Every step before the wait for slots (``linkpool.plans`` plans from them too):
        None when the command runs without the pool (a compile, an info command, a nested
        run, an unusable pool, a veto of before_acquire), an exit status when it does not
        run at all (strict mode and an unusable pool), else the open :class:`Pool` to
        acquire ``job.weight`` slots of (up to ``job.weight_max``). Plugins are loaded
        here unless ``self.hooks`` already holds them."""
        job = self.job
        if self.hooks is None:
            from .hooks import load

            self.hooks = self._step("loading plugins", lambda: load(self.settings))
        hook = self.hooks.hook if self.hooks is not None else None
        if hook is not None:
            self._step("configure", lambda: hook.linkpool_configure(config=job.config))
            job.kind = self._step("classify", lambda: hook.linkpool_classify(job=job)) or "unknown"
        if job.kind in ("compile", "info") or os.environ.get("LINKPOOL_HELD") == pool_path:
            return None

        from .pool import Pool, PoolError

        try:
            pool = Pool.open(pool_path)
        except (PoolError, OSError) as e:
            return self._unusable(str(e) if isinstance(e, PoolError) else
                                  f"cannot use pool {pool_path}: {e}", pool_path)
        job.pool_dir, job.shared, job.slots = pool.path, pool.shared, pool.slots
        if hook is not None:
            self._prepare(hook)
        job.weight = job.weight or 1
        if job.weight > pool.slots:  # --weight 4 from a big server's CMakeLists, on a laptop
            say("warning: " + self._about_pool(
                f"weight {job.weight} is more than the {pool.slots} slots of pool {pool.path}; "
                f"holding all {pool.slots} (`linkpool init --slots N` resizes it)", pool.path))
            job.weight = pool.slots
            self.capped = True
        if hook is not None and self._step(
                "before_acquire", lambda: hook.linkpool_before_acquire(job=job)) is False:
            return None
        return pool

    def _identity(self) -> dict[str, Any]:
        """What ``linkpool status`` shows of this job while it waits and holds."""
        job = self.job
        try:
            pidns = os.readlink("/proc/self/ns/pid")  # status marks pids of other namespaces
        except OSError:
            pidns = ""
        return {"command": job.argv, "cwd": job.cwd, "output": job.output,
                "threads": job.threads, "tokens": None, "pidns": pidns,
                "linker": job.linker.id if job.linker is not None else None}

    def _admitted(self, hook: Any, lease: Any, waited: float) -> None:
        """Once the slots are held: tune to them, say so if the wait was announced, and
        call after_acquire."""
        job = self.job
        job.weight = len(lease.indices)
        if hook is not None:
            self._step("tune", lambda: hook.linkpool_tune(job=job))
        if self.said_waiting:
            what = job.output or job.argv[0]
            say(f"got {job.weight} slot(s) after {waited:.1f} s; running {what}")
        # For `linkpool trace` and `stats`: which slots, when admitted (Unix time).
        job.extra.update(slots=list(lease.indices), admitted=lease.info.get("since"))
        if hook is not None:
            self._step("after_acquire", lambda: hook.linkpool_after_acquire(job=job, waited=waited))

    def _more(self) -> int:
        """Slots beyond the job's weight to take now (the pool asks when nobody waits
        behind us), up to ``weight_max``."""
        from .policy import extra_slots

        job = self.job
        if job.weight is None or job.weight_max is None:
            return 0
        return extra_slots(job.weight, job.weight_max)

    def _say_waiting(self, pool: Any, ticket: int) -> None:
        """One line once a wait has lasted a second: what we wait for, and on whom."""
        self.said_waiting = True
        try:
            st = pool.status()
        except Exception:
            say(f"waiting for {self.job.weight} of {pool.slots} slots of {pool.path}")
            return
        ahead = sum(1 for w in st["waiters"] if w.get("ticket", ticket) < ticket)
        held = ", ".join(
            f"{os.path.basename(str(h.get('output') or (h.get('command') or ['?'])[0]))} "
            f"(pid {h.get('pid')}, {h.get('held')} slot{'' if h.get('held') == 1 else 's'})"
            for h in st["holders"][:3])
        more = f" and {len(st['holders']) - 3} more" if len(st["holders"]) > 3 else ""
        say(f"waiting for {self.job.weight} of {st['slots']} slots ({ahead} job(s) ahead; "
            f"held by {held or 'nobody known'}{more})")

    def _prepare(self, hook: Any) -> None:
        """Linker, cost and weight (and the most it may take), for a job that will queue."""
        job = self.job
        from .capacity import read_machine

        machine = read_machine()
        job.cores, job.memory = machine.cores, machine.memory
        if job.kind == "link":
            self._step("choose_linker", lambda: hook.linkpool_choose_linker(job=job))
        if not job.weight_given and job.kind == "link":
            job.cost = self._step("estimate", lambda: hook.linkpool_estimate(job=job))
            if job.cost is not None:
                weight = self._step("weigh", lambda: hook.linkpool_weigh(job=job, cost=job.cost))
                if isinstance(weight, int) and weight >= 1:
                    job.weight = min(weight, job.slots)
        job.weight = job.weight or 1

    def _about_pool(self, message: str, path: str) -> str:
        """``message`` about the pool at ``path``, naming where its path came from."""
        from .settings import about_pool

        return about_pool(message, path, self.settings["pool"].source)

    def _unusable(self, message: str, path: str) -> int | None:
        """The pool at ``path`` cannot be used: in strict mode the status to exit with
        (after the message), else None (after a warning): the command runs without the
        pool. The message names where the pool's path came from."""
        message = self._about_pool(message, path)
        if self.strict:
            say(f"{message} (strict mode: the command was not run)")
            return EX_UNAVAILABLE
        say(f"warning: {message}; running the command without the pool")
        self.job.pool_dir = None
        return None

    def _execute(self, lease: Any, env: dict[str, str] | None = None,
                 waited: float = 0.0) -> Result:
        """Run the command (holding ``lease`` if any) and record it: who calls after_link
        is chosen once, here, before the command starts (:meth:`_recording`)."""
        job, ctx = self.job, self.run_ctx
        fds = lease.fds if lease is not None else []
        ctx.recording = self._recording(lease)
        recorder = process.Recorder()
        if lease is not None and ctx.recording != "bookkeeper":
            # The link is its command's first process: once it has ended, the slots are
            # let go for whatever it left running too (a server that inherited them);
            # a forking linker's bookkeeper does this once the link's group is done.
            ctx.at_end.append(lambda: process.let_go(fds))

        def started(pid: int) -> None:
            if lease is None:
                return
            lease.update(pid=pid, wrapper=os.getpid(), threads=job.threads,
                         tokens=job.extra.get("tokens"))
            if ctx.recording == "recorder":  # forked while the command runs, off its path
                recorder.start(lease.fds, self._pending(), self._keeps_stderr(), finished)
            lease.settle()  # slow to close: done while the command already runs

        def finished(usage: process.Usage) -> Result:
            result = Result.of(usage, waited)
            if ctx.recording is not None and self.hooks is not None:
                self._step("after_link",
                           lambda: self.hooks.hook.linkpool_after_link(job=job, result=result))
            return result

        if ctx.recording == "bookkeeper":  # forked before the command starts; never returns
            process.run_forking(job.argv, fds, env, started, finished,
                                self._pending() if self.hooks is not None else None, ctx)
        try:
            usage = process.run(job.argv, fds, env, started, ctx)
        except process.SpawnError as e:
            say(str(e))
            return Result(e.status, waited, error=str(e))
        if recorder.hand(usage):
            return Result.of(usage, waited)  # the recorder calls after_link
        return finished(usage)  # inline (or the recorder could not start: here, then)

    def _recording(self, lease: Any) -> str | None:
        """Who makes the job's record (calls after_link): None without a slot or hooks;
        ``"bookkeeper"`` for a linker that leaves a child behind (mold: its bookkeeper,
        once the link's group is done); ``"recorder"``, a process of its own after the
        answer, when it would outlive the wrapper; else ``"inline"``, before the answer."""
        job = self.job
        if lease is None:
            return None
        if job.linker is not None and job.command is not None \
                and job.linker.leaves_child(job.command.linker_args):
            return "bookkeeper"  # (its child keeps the slots: it runs with or without hooks)
        if self.hooks is None:
            return None
        return "recorder" if process.leftovers_survive() else "inline"

    def _pending(self) -> int | None:
        """The descriptor the process writing this job's record after the answer holds a
        shared lock on (``History.pending``), or None."""
        if self.job.pool_dir is None:
            return None
        try:
            from .history import History

            return History(self.job.pool_dir, 0o666 if self.job.shared else 0o600).pending()
        except OSError:
            return None

    def _keeps_stderr(self) -> bool:
        """Whether the recorder keeps the build's stderr: ``check_output`` may have a
        warning to print there (and the build then waits for the check)."""
        return bool(self.settings.check_output)


def lift(fds: list[int]) -> None:
    """Move the slot descriptors the command inherits to numbers at or above its descriptor
    limit (raised for the moment, as far as the hard limit allows), so that it has every
    descriptor below the limit it would have bare: a slot at 3 under `ulimit -n 64` would
    make its 62nd open fail. Where the hard limit leaves no room they stay where they are
    (the command has that many fewer; below 64 the launcher does not pool at all)."""
    import fcntl
    import resource  # os.wait4 imports it for the command's rusage anyway

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if not fds or soft == resource.RLIM_INFINITY or \
            (hard != resource.RLIM_INFINITY and hard < soft + len(fds)):
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft + len(fds), hard))
    except (OSError, ValueError):  # above the kernel's nr_open: they stay
        return
    try:
        for i, fd in enumerate(fds):
            high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, soft)
            os.close(fd)  # the lock stays: it belongs to the open file, which `high` keeps
            fds[i] = high
    except OSError:
        pass  # those not moved stay where they are
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
