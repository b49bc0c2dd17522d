"""Run a command as if linkpool were not there: same stdio, same exit status, signals passed on.

The child is started with ``posix_spawn`` so it inherits the slot descriptors and the
signal dispositions the wrapper itself was given. The wrapper blocks the signals it
forwards and collects them with ``sigwaitinfo``, so no signal is lost between spawning the
child and waiting for it.

A linker that forks (mold) exits as soon as its output is written while a child of it
tears down for a while longer, holding the slots. :func:`run_forking` answers the caller
at that first exit and does the bookkeeping in a background process that is the
subreaper of the job, so it can wait for that child and measure it.
"""

from __future__ import annotations

import _signal as signal  # the signal module itself wraps this in enums: +4-6 ms
import fcntl
import os
import time

from .job import Usage  # how the command ended: one definition, which job.Result extends

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from typing import Any, Callable, NoReturn

#: The signals passed on to the command (when sent to the wrapper alone): every one a
#: process may be sent, but the stops (JOB_CONTROL), SIGCHLD, SIGIO (run_forking's pipe)
#: and those the kernel raises for a fault of the process itself (SIGSEGV...).
FORWARD = (
    signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
    signal.SIGALRM, signal.SIGVTALRM, signal.SIGPROF, signal.SIGWINCH, signal.SIGURG,
    signal.SIGPWR, *range(signal.SIGRTMIN, signal.SIGRTMAX + 1),
)
#: Job control: passed on like FORWARD when sent to the wrapper alone; a stop signal then
#: stops the wrapper too, as it stops a bare command (SIGSTOP itself cannot be caught: it
#: stops the wrapper alone, and the command runs on).
JOB_CONTROL = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU, signal.SIGCONT)
SI_KERNEL = 0x80  # si_code of a signal the terminal sent to the whole foreground group
PR_SET_CHILD_SUBREAPER = 36
#: Signals whose default action dumps core: the wrapper dies of them without a core file.
CORE_SIGNALS = (signal.SIGQUIT, signal.SIGILL, signal.SIGTRAP, signal.SIGABRT, signal.SIGBUS,
                signal.SIGFPE, signal.SIGSEGV, signal.SIGSYS, signal.SIGXCPU, signal.SIGXFSZ)


class RunContext:
    """The one command this process runs, and what belongs to its run: the wrapper's
    last line of defence (``cli.fail_open``) reads it, so that it neither runs a command
    twice nor loses the status of one that ran.

    - ``child``: the command's process once it has been started; ``status``: its exit
      status once it has ended; ``killed_by``: the signal it died of, if it did (the
      wrapper then dies of it too, :func:`leave`);
    - ``at_end``: called once each, in the wrapper, as soon as the command's first
      process has ended (or could not start, or linkpool hands over to it with exec):
      what a plugin holds only for the command's run goes back there, before the build
      has its answer (the jobserver plugin's tokens; for mold, its first exit);
    - ``recording``: who makes the job's record, chosen once before the command starts
      (``Engine._execute``): ``"recorder"`` (a process of its own, after the answer),
      ``"bookkeeper"`` (mold's, once its group is done), ``"inline"`` (before the answer),
      or None (nothing to record).
    """

    __slots__ = ("at_end", "child", "killed_by", "recording", "status")

    def __init__(self) -> None:
        self.child: int | None = None
        self.status: int | None = None
        self.killed_by: int | None = None
        self.at_end: list[Callable[[], object]] = []
        self.recording: str | None = None

    def ended(self) -> None:
        """Run and forget :attr:`at_end`; a failure of one never stops the others."""
        while self.at_end:
            try:
                self.at_end.pop()()
            except Exception:
                pass


#: This process's run: it runs one command at the most.
current = RunContext()
#: ``current.at_end``, by the name plugins have used (docs/hooks.md).
at_end = current.at_end
#: The signals the build ignored when it started linkpool, as a mask (bit N-1: signal N),
#: from the front door (``--ign=N``; Python itself ignores SIGPIPE and SIGXFSZ at
#: start-up, so only the launcher can know); None: unknown (linkpool-py run directly).
ignored_at_start: int | None = None


def ended() -> None:
    """``current.ended()``."""
    current.ended()


def guard_stdio() -> None:
    """Put /dev/null on standard descriptors the wrapper was started without (``>&-``), so
    that no file of linkpool's (a slot, the history) lands on descriptor 1 or 2 where the
    command would write into it. They are close-on-exec: the command still finds them
    closed, as it would have without linkpool."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            try:
                got = os.open(os.devnull, os.O_RDWR)  # the lowest free descriptor: this one
            except OSError:
                continue
            if got != fd:
                os.close(got)


def exec_bare(argv: Sequence[str], why: str) -> NoReturn:
    """Become the command, as without linkpool, after one warning line (linkpool could
    not do its part: ``why``)."""
    try:
        os.write(2, f"linkpool: warning: {why}\n".encode(errors="replace"))
    except OSError:
        pass
    ended()
    for signum in _python_ignored():  # Python ignores them; exec would keep that
        signal.signal(signum, signal.SIG_DFL)
    try:
        os.execvp(argv[0], list(argv))
    except (OSError, ValueError) as e:  # ValueError: an empty name, as ENOENT
        found = isinstance(e, (FileNotFoundError, NotADirectoryError, ValueError))
        try:
            os.write(2, f"linkpool: cannot run {argv[0]}: {getattr(e, 'strerror', e)}\n"
                     .encode(errors="replace"))
        except OSError:
            pass
        os._exit(127 if found else 126)


def _python_ignored() -> list[int]:
    """The signals Python ignores at start-up that the build did not: the command gets
    them back at their default action."""
    known = 0 if ignored_at_start is None else ignored_at_start
    return [s for s in (signal.SIGPIPE, signal.SIGXFSZ) if not known >> (s - 1) & 1]


def leave(code: int) -> NoReturn:
    """Exit with ``code``; but when the command died of a signal (``current.killed_by``),
    die of it too, as coreutils ``timeout`` does: default action, unblocked, raised on the
    wrapper (a shell stops a loop of commands only when one died of SIGINT). A signal
    that dumps core does so without a core file of the wrapper's (RLIMIT_CORE 0)."""
    signum = current.killed_by
    if signum is not None and code == 128 + signum:
        try:
            if signum in CORE_SIGNALS:
                import resource

                resource.setrlimit(resource.RLIMIT_CORE,
                                   (0, resource.getrlimit(resource.RLIMIT_CORE)[1]))
            if signum != signal.SIGKILL:
                signal.signal(signum, signal.SIG_DFL)
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
            os.kill(os.getpid(), signum)
        except Exception:
            pass  # the status then says it: 128 + N
    os._exit(code)


def wait_child(ctx: RunContext = current) -> int:
    """The status of the started command, waiting for it if it still runs."""
    if ctx.status is not None or ctx.child is None:
        return 1 if ctx.status is None else ctx.status
    while True:
        try:
            _, wait_status = os.waitpid(ctx.child, 0)
            ctx.ended()
            return _ended_with(wait_status, ctx)
        except ChildProcessError:
            ctx.ended()
            return 1
        except InterruptedError:
            continue


class SpawnError(Exception):
    """The command could not be started; ``status`` is what a shell would exit with."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class _Sampler:
    """Samples RssAnon over a process tree, at 5 ms first and backing off to 50 ms: a
    handful of /proc reads each time, ~0.2 % of a core on a long link."""

    def __init__(self, root: int) -> None:
        self.root = root
        self.peak_kb = 0
        self.interval: float | None = 0.005

    def next_wait(self) -> float | None:
        if self.interval is None:
            return None
        wait, self.interval = self.interval, min(self.interval * 1.5, 0.05)
        return wait

    def tick(self, root: int | None = None) -> None:
        """One sample; a failure of its own stops the sampling, never the command's wait."""
        if self.interval is None:
            return
        try:
            self.sample(root)
        except Exception:
            self.interval = None  # from now on only the command's end is waited for

    def sample(self, root: int | None = None) -> None:
        total, stack, seen = 0, [self.root if root is None else root], 0
        while stack and seen < 256:
            pid = stack.pop()
            seen += 1
            try:
                with open(f"/proc/{pid}/task/{pid}/children", "rb") as f:
                    stack.extend(int(c) for c in f.read().split())
                with open(f"/proc/{pid}/status", "rb") as f:
                    for line in f:
                        if line.startswith(b"RssAnon:"):
                            total += int(line.split()[1])
                            break
            except (OSError, ValueError):
                continue
        self.peak_kb = max(self.peak_kb, total)


def exit_status(wait_status: int) -> int:
    """A shell-style status: the exit code, or 128 + the signal that killed the process."""
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


def _ended_with(wait_status: int, ctx: RunContext) -> int:
    """:func:`exit_status` of the command, noting the signal it died of (``killed_by``)."""
    if os.WIFSIGNALED(wait_status):
        ctx.killed_by = os.WTERMSIG(wait_status)
    return exit_status(wait_status)


def _spawn(argv: Sequence[str], env: dict[str, str] | None, mask: set[int]) -> int:
    # Dispositions the wrapper changed must be undone for the child: Python ignores
    # SIGPIPE and SIGXFSZ, and installs handlers (reset by exec anyway) for SIGINT.
    reset = _python_ignored()
    reset += [s for s in FORWARD
              if signal.getsignal(s) not in (signal.SIG_IGN, signal.SIG_DFL, None)]
    if not argv[0]:  # `linkpool ''`: what execvp says, and a shell's status for it
        raise SpawnError("cannot run '': No such file or directory", 127)
    try:
        return os.posix_spawnp(argv[0], list(argv), os.environ if env is None else env,
                               setsigmask=mask, setsigdef=reset)
    except OSError as e:
        if e.errno == 7 and env is not None and "LINKPOOL_HELD" in env:  # E2BIG
            # the marker made the command line too long: run it as it came (a nested
            # linkpool then waits for slots of its own)
            return _spawn(argv, {k: v for k, v in env.items() if k != "LINKPOOL_HELD"}, mask)
        status = 127 if isinstance(e, (FileNotFoundError, NotADirectoryError)) else 126
        raise SpawnError(f"cannot run {argv[0]}: {e.strerror}", status) from None


class _Blocked:
    """Block the forwarded signals and SIGCHLD for the duration; swallow leftovers."""

    # SIGALRM: the ticks of _wait's timeouts (SIGIO: run_forking's pipe)
    waited = frozenset({*FORWARD, *JOB_CONTROL, signal.SIGCHLD, signal.SIGALRM, signal.SIGIO})

    def __enter__(self) -> set[int]:
        self.old_chld = signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # SIG_IGN auto-reaps
        self.mask = signal.pthread_sigmask(signal.SIG_BLOCK, self.waited)
        return self.mask

    def __exit__(self, *exc: object) -> None:
        # What arrived after the child ended (a Ctrl-C it already died of) must not hit
        # the wrapper once unblocked; nor may a tick of _wait's timer still armed.
        signal.setitimer(signal.ITIMER_REAL, 0)
        for signum in signal.sigpending() & self.waited:
            signal.sigwaitinfo([signum])  # pending: returns at once
        signal.pthread_sigmask(signal.SIG_SETMASK, self.mask)
        signal.signal(signal.SIGCHLD, self.old_chld)


def _wait(signals: Iterable[int], timeout: float | None) -> signal.struct_siginfo | None:
    """The next of ``signals``, or None after ``timeout`` seconds (None: no limit).

    Only ``sigwaitinfo``, with the timer's SIGALRM (blocked by :class:`_Blocked`) as the
    timeout: CPython's ``sigtimedwait`` returns an uninitialised siginfo when a stop and
    continue (Ctrl-Z, ``fg``) interrupts it past its deadline. A SIGALRM that someone
    sent (not the timer: SI_KERNEL) is returned, to be passed on like the others."""
    if timeout is not None:
        signal.setitimer(signal.ITIMER_REAL, timeout)  # left armed: a late tick is a tick
    info = signal.sigwaitinfo({*signals, signal.SIGALRM})
    if info.si_signo == signal.SIGALRM and info.si_code == SI_KERNEL:
        return None
    return info


class _Sentinel:
    """Tells a signal sent to the wrapper's whole process group (``kill -TERM -PGID``, the
    terminal's Ctrl-C) from one sent to the wrapper alone, which siginfo cannot (both
    SI_USER): a process forked while the command runs, in the same group, that blocks
    every signal and never takes one. A signal pending there went to the group, and so
    already reached the command: the wrapper does not pass it on again. The kernel signals
    a group's members newest first, so the sentinel's pending set is written before the
    wrapper is woken. It holds no descriptor but its pipe, whose EOF (the wrapper's end)
    ends it; the wrapper kills and reaps it before it answers (:meth:`stop`), and starts
    a new one after each group signal (a pending signal cannot be taken back)."""

    def __init__(self) -> None:
        self.pid, self.wfd = 0, -1

    def start(self) -> None:
        forked = _fork_on_pipe()
        if forked is None:
            return
        pid, rfd, wfd = forked
        if pid == 0:  # the sentinel
            try:
                signal.pthread_sigmask(signal.SIG_BLOCK, signal.valid_signals())
                for fd in os.listdir("/proc/self/fd"):  # the slots, the build's stdio...
                    if int(fd) != rfd:
                        try:
                            os.close(int(fd))
                        except OSError:
                            pass  # the listing's own
                while os.read(rfd, 1):
                    pass
            finally:
                os._exit(0)
        os.close(rfd)
        self.pid, self.wfd = pid, wfd

    def has(self, signum: int) -> bool:
        """Whether ``signum`` is pending in the sentinel: it went to the whole group."""
        if not self.pid:
            return False
        try:
            with open(f"/proc/{self.pid}/status", "rb") as f:
                data = f.read()
        except OSError:
            return False
        for line in data.split(b"\n"):
            if line.startswith((b"ShdPnd:", b"SigPnd:")) and int(line[7:], 16) >> (signum - 1) & 1:
                return True
        return False

    def stop(self) -> None:
        if self.pid:
            try:
                os.kill(self.pid, signal.SIGKILL)
                os.close(self.wfd)
                os.waitpid(self.pid, 0)
            except OSError:
                pass
            self.pid = 0


def _forward(info: signal.struct_siginfo, pid: int, sentinel: _Sentinel) -> None:
    """Pass ``info``'s signal on to ``pid``, unless it was sent to the whole group (it
    reached the command already); then stop the wrapper too if it is a stop signal."""
    signum = info.si_signo
    if info.si_code == SI_KERNEL or sentinel.has(signum):
        if sentinel.pid:
            sentinel.stop()  # its pending signal stays until it ends: a fresh one
            sentinel.start()
    else:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass
    if signum in JOB_CONTROL and signum != signal.SIGCONT:
        # Stop as the command did, by the same signal (its caller's wait sees that one);
        # not at all where it would not stop (ignored, an orphaned group)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signum})
        try:
            os.kill(os.getpid(), signum)  # delivered before kill returns; runs on at SIGCONT
        finally:
            signal.pthread_sigmask(signal.SIG_BLOCK, {signum})


FORWARD_OR_CHLD = frozenset({*FORWARD, *JOB_CONTROL, signal.SIGCHLD})
FORWARD_OR_IO = frozenset({*FORWARD, *JOB_CONTROL, signal.SIGIO})


def run(
    argv: Sequence[str],
    pass_fds: Iterable[int] = (),
    env: dict[str, str] | None = None,
    on_start: Callable[[int], None] | None = None,
    ctx: RunContext = current,
) -> Usage:
    """Run ``argv``, forwarding signals, and return how it ended and what it used.

    ``pass_fds`` are made inheritable. ``on_start(pid)`` is called once the child runs.
    ``ctx`` holds the child, its status and what ends with it. Raises
    :class:`SpawnError` when the program cannot be run (127 not found, 126 not
    executable), with a one-line message.
    """
    for fd in pass_fds:
        os.set_inheritable(fd, True)
    with _Blocked() as mask:
        start = time.monotonic()
        try:
            pid = ctx.child = _spawn(argv, env, mask)
        except SpawnError:
            ctx.ended()
            raise
        _call(on_start, pid)  # before the sentinel: a recorder forked there must not hold it
        sentinel = _Sentinel()
        sentinel.start()
        try:
            # os.wait4 imports `resource` for its rusage (0.3-1 ms): do it while the
            # command runs
            import resource  # noqa: F401
            sampler = _Sampler(pid)
            while True:
                info = _wait(FORWARD_OR_CHLD, sampler.next_wait())
                if info is None:
                    sampler.tick()
                    continue
                if info.si_signo != signal.SIGCHLD:
                    _forward(info, pid, sentinel)
                    continue
                done, wait_status, ru = os.wait4(pid, os.WNOHANG)
                if done == pid:
                    sentinel.stop()
                    status = ctx.status = _ended_with(wait_status, ctx)
                    ctx.ended()
                    return Usage(status, time.monotonic() - start, 0.0,
                                 ru.ru_utime + ru.ru_stime, ru.ru_maxrss, sampler.peak_kb)
        finally:
            sentinel.stop()


#: Parents that kill whatever their command leaves behind once it has exited: Bazel's
#: process-wrapper (a child subreaper; its local strategy runs link actions under it)
#: and linux-sandbox (whose first process ends the sandbox's PID namespace).
REAPERS = ("process-wrapper", "linux-sandbox")


def leftovers_survive() -> bool:
    """Whether a process the wrapper leaves behind outlives it: not when the wrapper is
    PID 1 of a PID namespace (``unshare --pid --fork``, ``docker run IMAGE linkpool``),
    nor when its parent is (a namespace's first process ends with its command, a
    systemd service stops its cgroup), nor under a parent of :data:`REAPERS`."""
    if 1 in (os.getpid(), os.getppid()):
        return False
    try:
        with open(f"/proc/{os.getppid()}/comm", "rb") as f:
            parent = f.read().strip().decode(errors="replace")
    except OSError:
        return True
    return not parent.startswith(REAPERS)


class Recorder:
    """The bookkeeping of a job, done after the wrapper has answered: a process forked
    while the command runs (:meth:`start`), which waits for the command's :class:`Usage`
    (:meth:`hand`, the one thing left on the path after the command's exit: a few
    syscalls) and then calls ``work`` with it, its standard descriptors on /dev/null (but
    stderr, if ``keep_stderr``: a check the user asked to see) and without the slots."""

    def __init__(self) -> None:
        self.wfd: int | None = None
        self.pending: int | None = None

    def start(self, close: Sequence[int], pending: int | None, keep_stderr: bool,
              work: Callable[[Usage], object]) -> None:
        """Fork the recorder. ``close``: descriptors it must not hold (the slots);
        ``pending``: a descriptor it inherits, that :meth:`hand` locks for it (see
        ``History.pending``). On failure there is no recorder, and :meth:`hand` says so."""
        forked = _fork_on_pipe()
        if forked is None:
            _close(pending)
            return
        pid, rfd, wfd = forked
        if pid == 0:  # the recorder: whatever happens, it never returns into the wrapper
            try:
                # A session of its own: a build tool that kills the command's process
                # group once it has its answer (Bazel's process-wrapper) must not take
                # the record with it
                os.setsid()
                current.at_end.clear()  # the wrapper gives back what the command held
                os.close(wfd)
                for fd in close:
                    os.close(fd)
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1) if keep_stderr else (0, 1, 2):
                    os.dup2(null, fd)  # the build's pipes reach EOF when the wrapper exits
                data = b""
                while True:  # until EOF: the wrapper's exit (it keeps its end open)
                    chunk = os.read(rfd, 4096)
                    if not chunk:
                        break
                    data += chunk
                fields = data.split()
                if len(fields) == 6:  # else the wrapper died before the command ended
                    work(Usage(int(fields[0]), float(fields[1]), float(fields[2]),
                               float(fields[3]), int(fields[4]), int(fields[5])))
            finally:
                os._exit(0)
        os.close(rfd)
        self.wfd, self.pending = wfd, pending

    def hand(self, usage: Usage) -> bool:
        """Give the recorder ``usage``; False if there is none (record it here)."""
        if self.wfd is None:
            return False
        if self.pending is not None:
            try:  # never wait on the path: a reader's lock of a moment only costs its wait
                fcntl.flock(self.pending, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                pass
        try:
            os.write(self.wfd, f"{usage.status} {usage.run_s!r} {usage.tail_s!r} "
                     f"{usage.cpu_s!r} {usage.max_rss_kb} {usage.anon_peak_kb}\n".encode())
        except OSError:
            os.close(self.wfd)
            return False  # the recorder is gone: record here
        finally:
            _close(self.pending)
            self.pending = None
        # self.wfd stays open: the recorder starts once the wrapper has exited (EOF)
        return True


def _fork_on_pipe() -> tuple[int, int, int] | None:
    """A pipe (close-on-exec: no command inherits its ends), then a fork: (pid, read end,
    write end) in both processes, pid 0 in the child; None when either fails (nothing is
    left open)."""
    try:
        rfd, wfd = os.pipe()
    except OSError:
        return None
    try:
        pid = os.fork()
    except OSError:
        os.close(rfd)
        os.close(wfd)
        return None
    return pid, rfd, wfd


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _call(on_start: Callable[[int], None] | None, pid: int) -> None:
    """``on_start(pid)``: bookkeeping while the command runs, which must not lose it."""
    if on_start is None:
        return
    try:
        on_start(pid)
    except Exception as e:
        try:
            os.write(2, f"linkpool: warning: {type(e).__name__}: {e}\n".encode(errors="replace"))
        except OSError:
            pass


def run_forking(
    argv: Sequence[str],
    pass_fds: Sequence[int],
    env: dict[str, str] | None,
    on_start: Callable[[int], None],
    on_end: Callable[[Usage], object],
    pending: int | None = None,
    ctx: RunContext = current,
) -> NoReturn:
    """Run ``argv`` for a linker that leaves a child behind; exit with its status.

    The wrapper forks a bookkeeper that becomes a child subreaper and spawns the command.
    The wrapper forwards signals to the command and exits with its status the moment the
    command's first process exits. The bookkeeper detaches from the caller's stdio, waits
    for every remaining descendant (they keep the slots, inherited), then calls
    ``on_end`` with the totals and exits. Never returns. ``pending``: a descriptor the
    bookkeeper locks (shared) before it answers, held until ``on_end`` is done
    (``History.pending``).
    """
    with _Blocked() as mask:
        rfd, wfd = os.pipe()
        ctx.child = os.fork()
        if ctx.child == 0:  # the bookkeeper
            os.close(rfd)
            _bookkeeper(argv, pass_fds, env, mask, wfd, on_end, pending)
        os.close(wfd)
        sentinel = _Sentinel()  # after the bookkeeper's fork: it must not hold its pipe
        sentinel.start()
        # Sleep in sigwaitinfo for both: a forwarded signal, or SIGIO when the bookkeeper
        # writes (no thread: importing threading alone costs milliseconds). SIGIO is
        # blocked by _Blocked.
        flags = fcntl.fcntl(rfd, fcntl.F_GETFL)
        fcntl.fcntl(rfd, fcntl.F_SETOWN, os.getpid())
        fcntl.fcntl(rfd, fcntl.F_SETFL, flags | os.O_ASYNC | os.O_NONBLOCK)
        lines: list[bytes] = []
        try:
            _bookkeepers_word(rfd, on_start, sentinel, lines)
        except Exception:
            pass  # a bug of ours: no more signals passed on, but the status is the command's
        finally:
            fcntl.fcntl(rfd, fcntl.F_SETFL, flags)  # no SIGIO once unblocked; reads block
            sentinel.stop()
        if len(lines) < 2 and not (lines and lines[0].startswith(b"-")):
            _read_lines(rfd, lines)
        ctx.ended()  # the command's first process is over (or never ran)
        if lines and lines[0].startswith(b"-"):  # "-STATUS" then the message
            message = lines[1] if len(lines) > 1 else b"cannot run the command"
            os.write(2, b"linkpool: " + message + b"\n")
            os._exit(int(lines[0][1:]))
        if len(lines) < 2:  # the bookkeeper died: nothing more can be known
            os.write(2, b"linkpool: lost track of the command\n")
            os._exit(1)
        code = int(lines[1])  # as os.waitstatus_to_exitcode: -N when signal N killed it
        if code < 0:
            ctx.killed_by = -code
        leave(128 - code if code < 0 else code)
    raise AssertionError("unreachable")  # pragma: no cover


def _read_lines(rfd: int, lines: list[bytes]) -> None:
    """The rest of the bookkeeper's two lines, blocking (a short read splits none: each
    line is one write of a few bytes to a pipe)."""
    while len(lines) < 2:
        try:
            chunk = os.read(rfd, 4096)
        except InterruptedError:
            continue
        except OSError:
            return
        if not chunk:
            return
        lines.extend(chunk.split(b"\n")[:-1])


def _bookkeepers_word(rfd: int, on_start: Callable[[int], None], sentinel: _Sentinel,
                      lines: list[bytes]) -> None:
    """The bookkeeper's two lines into ``lines``: the command's pid then its status
    ("-STATUS" then a message if it could not start), fewer if the bookkeeper died;
    signals that arrive meanwhile are passed on to the command."""
    buf, pid, eof = b"", 0, False
    early: list[signal.struct_siginfo] = []  # signals that came before the pid: kept for it
    while len(lines) < 2 and not eof:
        try:
            chunk = os.read(rfd, 4096)
            eof = not chunk
        except BlockingIOError:
            chunk = b""
        *complete, buf = (buf + chunk).split(b"\n")
        for line in complete:
            lines.append(line)
            if len(lines) == 1 and not line.startswith(b"-"):
                pid = int(line)
                _call(on_start, pid)
                for info in early:
                    _forward(info, pid, sentinel)
        if len(lines) >= 2 or eof:
            break
        info = _wait(FORWARD_OR_IO, 1.0)  # 1 s: belt and braces
        if info is not None and info.si_signo != signal.SIGIO:
            if pid:
                _forward(info, pid, sentinel)
            else:
                early.append(info)


def _bookkeeper(
    argv: Sequence[str],
    pass_fds: Sequence[int],
    env: dict[str, str] | None,
    mask: set[int],
    wfd: int,
    on_end: Callable[[Usage], object],
    pending: int | None = None,
) -> NoReturn:
    code = 0
    try:
        for fd in pass_fds:
            os.set_inheritable(fd, True)
        start = time.monotonic()
        try:
            pid = _spawn(argv, env, mask)
        except SpawnError as e:
            os.write(wfd, f"-{e.status}\n{e}\n".encode())
            os._exit(0)
        # The bookkeeper keeps its descriptors of the slots (the wrapper's go when it
        # answers) to let them go once the link's own processes are done: see let_go.
        os.write(wfd, f"{pid}\n".encode())
        # Become the job's subreaper only now: importing ctypes for prctl takes a few ms,
        # better spent while the link already runs (mold's first process exits only when
        # the output is written, long after this).
        _become_subreaper()
        sampler, me = _Sampler(pid), os.getpid()
        status, ru = _reap_first(pid, sampler, me)
        first = time.monotonic()
        if pending is not None:
            try:  # readers of the history wait for on_end from here (never blocks)
                fcntl.flock(pending, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                pass
        os.write(wfd, f"{os.waitstatus_to_exitcode(status)}\n".encode())  # -N: signal N
        os.close(wfd)
        null = os.open(os.devnull, os.O_RDWR)
        for fd in (0, 1, 2):  # let the caller's pipes reach EOF while we wait on
            os.dup2(null, fd)
        cpu, rss = _reap_the_rest(ru.ru_utime + ru.ru_stime, ru.ru_maxrss, sampler, me)
        let_go(pass_fds)
        end = time.monotonic()
        on_end(Usage(exit_status(status), first - start, end - first, cpu, rss,
                     sampler.peak_kb))
    except BaseException:
        code = 1
    os._exit(code)


def _reap_first(pid: int, sampler: _Sampler, me: int) -> tuple[int, Any]:
    """Wait for the command's first process, sampling the whole tree meanwhile: its wait
    status and rusage. SIGCHLD is blocked here (the inherited mask): it is waited for
    with a timeout."""
    while True:
        if _wait({signal.SIGCHLD}, sampler.next_wait()) is None:
            sampler.tick(me)  # the whole tree, mold's orphaned child included
            continue
        done, status, ru = os.wait4(pid, os.WNOHANG)
        if done == pid:
            return status, ru


def _reap_the_rest(cpu: float, rss: int, sampler: _Sampler, me: int) -> tuple[float, int]:
    """Wait for every other descendant of the link (re-parented to us, the subreaper): the
    CPU and the largest peak RSS of the whole job, from those of its first process.

    The link's processes are those still in its process group (ours: the command was
    started in it), mold's child included. A daemon the link started (an sccache server,
    distcc's pump) has left the group, as daemons do (setsid, or a group of its own): it
    is not waited for, and does not keep the slots (:func:`let_go`). One that stays in the
    group (``cmd &`` without setsid) counts as the link's and keeps them until it ends."""
    group = os.getpgrp()
    while True:
        try:
            done, _, ru = os.wait4(-group, os.WNOHANG)
        except ChildProcessError:
            return cpu, rss
        if done == 0:
            _wait({signal.SIGCHLD}, sampler.next_wait())
            sampler.tick(me)
            continue
        cpu += ru.ru_utime + ru.ru_stime
        rss = max(rss, ru.ru_maxrss)


def let_go(fds: Iterable[int]) -> None:
    """Unlock the slot descriptors ``fds`` for every process that shares them (a flock
    belongs to the open file description): what the link left running, having inherited
    them, no longer holds the slots. Nothing here may fail the link."""
    for fd in fds:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        except OSError:
            pass


def _become_subreaper() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
