"""A jobserver client: a link's threads count against its build's own ``-j``.

GNU make shares its ``-j`` with its children through the jobserver named in ``MAKEFLAGS``
(docs/jobserver.md): ``--jobserver-auth=fifo:PATH`` (make 4.4, ninja 1.13, Gentoo's steve,
whose PATH is a character device), ``--jobserver-auth=R,W`` (two descriptors of a pipe) and
the older ``--jobserver-fds=R,W``; the last one given counts (``linkpool.makeflags`` reads
and rewrites ``MAKEFLAGS``; its ``parse`` is this module's too). A token is one byte read from
it; a client writes back exactly the bytes it read; every job owns one implicit token,
the one it was started on, which it never reads nor writes.

What this plugin does, once the link's slots are held (``linkpool_tune``, before the
``threads`` plugin): the link would run T threads (the linker's share of its slots, no more
than the build's ``-jN``); it owns the implicit token and takes up to T - 1 more *without
blocking*, then sets ``job.thread_cap`` to 1 + (tokens taken): the ``threads`` plugin
gives no more. A count the user fixed (``--threads=N``, gcc ``-flto=N``,
``--thinlto-jobs=N``) is left alone and takes up to N - 1 tokens, so the build counts it.
gcc's own LTRANS jobs (``-flto=auto``, or ``-flto``/``-flto=jobserver`` where gcc would
have reached the build's pipe) are handed a private jobserver holding the tokens taken, so
they too run within both the slots and the build's tokens.

Every token goes back through the run's ``at_end`` (``linkpool.process.RunContext``) as
soon as the command's first process has ended, whatever ended it (for mold: its first
exit, once its threads are done), before the build system has its answer. A SIGKILLed
wrapper cannot give them back: that is the protocol's own weakness.

Never waiting on the jobserver while holding slots, and never holding a token (beyond the
implicit one, which every job holds anyway) while waiting for slots: no deadlock between
the two. Descriptors that are closed or are not one pipe (make <= 4.3 passes them only to
recipes it treats as recursive, ``+``) or a fifo that is not there: the jobserver is
unreachable, and only the build's ``-jN`` bounds the link.
"""

from __future__ import annotations

import os
import sys

from ..hookspecs import hookimpl
from ..job import Job
from ..makeflags import of as makeflags_of
from ..makeflags import parse
from ..makeflags import private as private_makeflags

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from typing import Any

#: the gcc LTO options whose LTRANS jobs come from a jobserver when gcc reaches one
GCC_JOBSERVER_LTO = ("-flto", "-flto=jobserver")


class Client:
    """The build's jobserver, as one link's client: non-blocking takes, exact give-back."""

    def __init__(self, rfd: int, wfd: int, form: str, own_wfd: bool) -> None:
        self.rfd = rfd  #: ours: its own open file description, O_NONBLOCK
        self.wfd = wfd  #: where tokens go back (the build's own W for a pipe)
        self.form = form  #: "fifo" or "pipe"
        self.own_wfd = own_wfd
        self.held = b""  #: the bytes taken, written back as they came
        self.owner = os.getpid()  #: a forked child (mold's bookkeeper) never gives back

    def free(self) -> int | None:
        """Tokens in the jobserver now, without taking any (None: it cannot tell)."""
        import fcntl
        import termios

        buf = bytearray(4)
        try:
            fcntl.ioctl(self.rfd, termios.FIONREAD, buf)
        except OSError:
            return None  # steve's device need not answer FIONREAD
        return int.from_bytes(buf, sys.byteorder)

    def take(self, n: int) -> int:
        """Read up to ``n`` tokens, one byte each, never waiting; the count taken."""
        got = b""
        while len(got) < n:
            try:
                byte = os.read(self.rfd, 1)
            except InterruptedError:
                continue
            except OSError:  # EAGAIN: none free now (and any other error: none to be had)
                break
            if not byte:
                break
            got += byte
        self.held += got
        return len(got)

    def give_back(self) -> None:
        """Write back every byte taken, once, in the process that took them."""
        if os.getpid() != self.owner:
            return
        data, self.held = self.held, b""
        while data:
            try:
                data = data[os.write(self.wfd, data):]
            except InterruptedError:
                continue
            except BlockingIOError:  # a full pipe (64 KiB of tokens?): our description,
                os.set_blocking(self.wfd, True)  # so waiting on it changes nobody else's
            except OSError:
                break  # nobody reads it any more: the build is gone, and its tokens
        self.close()

    def close(self) -> None:
        _close(*{self.rfd, *((self.wfd,) if self.own_wfd else ())})
        self.rfd = self.wfd = -1


class Dry(Client):
    """The build's jobserver while ``linkpool.plans`` plans a link the C front door will
    run: nothing is read from it. ``take(n)`` answers as if ``tokens`` were free (None: as
    many as asked) and keeps ``n`` in ``asked``; ``free()`` cannot tell (the free tokens
    of the moment are no part of a plan that is reused)."""

    def __init__(self, form: str, tokens: int | None = None) -> None:
        super().__init__(-1, -1, form, False)
        self.tokens = tokens
        self.asked: int | None = None  #: the tokens tune asked for (None: it did not ask)

    def free(self) -> int | None:
        return None

    def take(self, n: int) -> int:
        self.asked = n
        return n if self.tokens is None else max(0, min(n, self.tokens))

    def give_back(self) -> None:
        pass

    def close(self) -> None:
        pass


def dry_run(job: Job, tokens: int | None = None) -> Dry | None:
    """Make ``job``'s client a :class:`Dry` one (for ``linkpool.plans``), of the form
    ``$MAKEFLAGS`` announces; None when it announces no jobserver."""
    auth, _ = parse(makeflags_of(job.env))
    if auth is None:
        return None
    dry = Dry("fifo" if auth.startswith("fifo:") else "pipe", tokens)
    job.jobserver = (dry, dry.form)
    return dry


def connect(auth: str) -> tuple[Client | None, str]:
    """A client of the jobserver ``auth`` names, or None and why it is unreachable."""
    import stat

    if auth.startswith("fifo:"):
        path = auth[len("fifo:"):]
        try:
            st = os.stat(path)
            if not (stat.S_ISFIFO(st.st_mode) or stat.S_ISCHR(st.st_mode)):
                return None, f"{path} is not a fifo"
            # O_RDWR: a fifo opened so never blocks nor hits EOF; ours, so O_NONBLOCK on it
            # changes no other client's reads.
            fd = os.open(path, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as e:
            return None, f"{path}: {e.strerror}"
        got = os.fstat(fd)
        if (got.st_dev, got.st_ino) != (st.st_dev, st.st_ino):  # replaced in between
            os.close(fd)
            return None, f"{path} changed while opened"
        return Client(fd, fd, "fifo", True), "fifo"
    r, _, w = auth.partition(",")
    try:
        rfd, wfd = int(r), int(w)
    except ValueError:
        return None, f"unknown jobserver {auth!r}"
    if rfd < 0 or wfd < 0:
        return None, "disabled by make (negative descriptors)"
    import fcntl

    try:
        a, b = os.fstat(rfd), os.fstat(wfd)
        rmode = fcntl.fcntl(rfd, fcntl.F_GETFL) & os.O_ACCMODE
        wmode = fcntl.fcntl(wfd, fcntl.F_GETFL) & os.O_ACCMODE
    except OSError:
        return None, f"descriptors {rfd},{wfd} are closed (a recipe without +?)"
    if not (stat.S_ISFIFO(a.st_mode) and (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)) \
            or rmode == os.O_WRONLY or wmode == os.O_RDONLY:
        # make <= 4.3 closes them for a recipe without `+`, and linkpool's own files or
        # anything else may sit on those numbers now
        return None, f"descriptors {rfd},{wfd} are not make's pipe (a recipe without +?)"
    try:
        # The build's read end is blocking and shared by every make; reopening it through
        # /proc gives a description of our own, whose O_NONBLOCK affects nobody else.
        fd = os.open(f"/proc/self/fd/{rfd}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as e:
        return None, f"cannot reopen descriptor {rfd} to read it without blocking: {e.strerror}"
    got = os.fstat(fd)
    if (got.st_dev, got.st_ino) != (a.st_dev, a.st_ino):
        os.close(fd)
        return None, f"descriptor {rfd} is not the pipe it was"
    return Client(fd, wfd, "pipe", False), "pipe"


def _client(job: Job, auth: str | None) -> tuple[Client | None, str]:
    """The job's client, connected once (before_acquire, then tune): ``job.jobserver``."""
    if auth is None:
        return None, "none"
    if job.jobserver is None:
        job.jobserver = connect(auth)
    return job.jobserver


def _at_end(job: Job) -> list[Any]:
    """What ends with the job's run (``job.run.at_end``; the process's run when the job
    was made outside an engine)."""
    if job.run is not None:
        return job.run.at_end  # type: ignore[no-any-return]
    from .. import process

    return process.current.at_end


def fixed_parallelism(job: Job, cores: int) -> int:
    """The parallelism the user's own options fix (1: none): a thread count given to a
    linker that takes one, an LTO job count (gcc ``-flto=N``, ``--thinlto-jobs=N``...)."""
    cmd, linker = job.command, job.linker
    fixed = 1
    if linker is not None and linker.thread_args(1) and linker.threads_set(cmd.linker_args):
        fixed = max(fixed, linker.user_threads(cmd.linker_args, cores) or 1)
    if cmd.lto_jobs is not None:
        from ..linkers import lto_jobs

        fixed = max(fixed, lto_jobs(cmd.family, cmd.lto, cmd.lto_jobs, cores))
    return fixed


def gcc_ltrans_ours(job: Job, client: Client | None) -> bool:
    """Whether gcc's LTRANS jobs get linkpool's private jobserver: ``-flto=auto`` (gcc runs
    one job per CPU unless it reaches a jobserver; it prints nothing either way), and
    ``-flto``/``-flto=jobserver`` when the build's jobserver is a pipe that reaches the
    link (gcc of any version would have used it; a fifo only gcc >= 13 reads, so there
    gcc is left to the build's own)."""
    cmd = job.command
    if cmd.family != "gcc" or cmd.lto_jobs is not None or cmd.lto is None:
        return False
    if cmd.lto == "-flto=auto":
        return True
    return cmd.lto in GCC_JOBSERVER_LTO and client is not None and client.form == "pipe"


@hookimpl
def linkpool_before_acquire(job: Job) -> None:
    """Before waiting: the most slots the link may take (``weight_max``) stand for no more
    threads than it can run under the build's ``-jN`` and the tokens free now (counted,
    not taken: nothing is held while waiting)."""
    if job.kind != "link" or job.command is None or not job.weight_max or not job.slots:
        return
    auth, jobs = parse(makeflags_of(job.env))
    if auth is None and jobs is None:
        return
    client, _ = _client(job, auth)
    free = client.free() if client is not None else None
    limits = [n for n in (jobs, None if free is None else 1 + free) if n is not None]
    if not limits:
        return
    from ..policy import weight_range

    cores = max(1, int(job.cores))
    most = max(fixed_parallelism(job, cores), min(limits))
    high = weight_range(most, 0, job.slots, job.cores, None)[1]
    job.weight_max = max(job.weight or 1, min(job.weight_max, high))


@hookimpl
def linkpool_tune(job: Job) -> None:
    """Take the link's tokens and cap its threads (before the ``threads`` plugin)."""
    cmd, linker = job.command, job.linker
    if job.kind != "link" or cmd is None or not job.weight or not job.slots:
        return
    makeflags = makeflags_of(job.env)
    auth, jobs = parse(makeflags)
    if auth is None and jobs is None:
        return
    from ..policy import threads_planned

    client, form = _client(job, auth)
    cores = max(1, int(job.cores))
    # the slots' share, as the policy plans it for this linker (what it learnt, else the
    # built-in rule): the same cap the threads plugin applies without a jobserver
    cap = threads_planned(job.extra.get("plan"), job.weight, job.slots, job.cores)
    if jobs is not None:
        cap = min(cap, jobs)
    tunable = 0  # the linker threads linkpool chooses
    if linker is not None and linker.thread_args(1) and not linker.threads_set(cmd.linker_args):
        tunable = min(cap, linker.max_threads(cores))
    ltrans = cap if gcc_ltrans_ours(job, client) else 0
    want = max(tunable, ltrans, fixed_parallelism(job, cores))
    if jobs is not None:
        job.extra["make_jobs"] = jobs
    if auth is not None:
        job.extra["jobserver"] = form if client is not None else f"unreachable: {form}"
    if client is None:
        allowed = cap
    else:
        _at_end(job).append(client.give_back)  # before the first read: never lost
        taken = client.take(want - 1)
        job.extra["tokens"] = taken
        allowed = 1 + taken
    if tunable:  # the most threads the link may run: the threads plugin gives no more
        job.thread_cap = min(cap, allowed)
    if ltrans:
        _hand_gcc_a_jobserver(job, makeflags or "", min(ltrans, allowed))


def _hand_gcc_a_jobserver(job: Job, makeflags: str, jobs: int) -> None:
    """Run gcc's LTRANS under a pipe jobserver of ``jobs - 1`` tokens of its own (the
    tokens taken from the build stay ours, and go back exactly as they came)."""
    r, w = os.pipe()
    _at_end(job).append(lambda: _close(r, w))
    os.write(w, b"+" * (jobs - 1))
    os.set_inheritable(r, True)
    os.set_inheritable(w, True)
    env: dict[str, Any] = dict(job.env if job.env is not None else os.environ)
    env["MAKEFLAGS"] = private_makeflags(makeflags, r, w, jobs)
    job.env = env
    job.extra["lto_threads"] = jobs


def _close(*fds: int) -> None:
    for fd in fds:
        try:
            os.close(fd)
        except OSError:
            pass
