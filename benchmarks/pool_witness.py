"""An independent witness of who is inside the pool: it knows nothing of linkpool.

A job that got its slots locks ``DIR/alive.<worker>.<weight>`` with LOCK_EX, then counts the
weight of every alive file that is locked (a LOCK_SH|LOCK_NB probe fails on it), its own
included (the idea of tests/witness.py). The job drops its alive lock before it releases
its slots.

One pass over the directory is not an instant: while it runs, a job it already counted may
leave and another one enter, and both are counted although they were never inside
together. With holds of a few milliseconds this does happen, so one pass only gives an
upper bound (``once``). The witness therefore makes a second pass and confirms a file
only if it stayed locked in between: before locking, its owner writes a fresh generation
(a CLOCK_MONOTONIC stamp) into it; the first pass reads the generation *before* testing
the lock, the second reads it *after*. A file locked in both passes with the same
generation was locked throughout, so every confirmed job, and the prober, were inside at
the one instant between the two passes: the ``confirmed`` total is a weight that really
was inside at once, with no false alarm.

SIGKILL is safe to witness: at process death the kernel closes the descriptors in
ascending order, but on current kernels the final release of each file (where its flock
goes) is deferred and runs in reverse order, so the file with the *highest* descriptor
number loses its lock first. The alive lock is therefore moved to a descriptor far above
any slot descriptor: a killed job leaves the witness before it leaves the pool, as it does
when it exits normally.
"""

from __future__ import annotations

import fcntl
import os
import time

PREFIX = "alive."
HIGH_FD = 1000  # above every descriptor the pool hands out in a benchmark worker
GEN_BYTES = 20  # a zero-padded decimal stamp, rewritten in place


def _generation(fd: int) -> int:
    raw = os.pread(fd, GEN_BYTES, 0)
    return int(raw) if raw.isdigit() else -1


def probe(directory: str, name: str, read_first: bool) -> int | None:
    """The generation of a locked alive file, or None when nobody holds it. The first pass
    reads the generation before testing the lock (``read_first``), the second after."""
    try:
        fd = os.open(os.path.join(directory, name), os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        gen = _generation(fd) if read_first else None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            return gen if gen is not None else _generation(fd)
    finally:
        os.close(fd)


def weight_of(name: str) -> int:
    return int(name.rsplit(".", 1)[1])


def inside(directory: str) -> tuple[int, int]:
    """(weight seen locked in one pass, weight confirmed locked at one instant)."""
    first = {}
    for name in os.listdir(directory):
        if name.startswith(PREFIX):
            gen = probe(directory, name, read_first=True)
            if gen is not None:
                first[name] = gen
    once = sum(weight_of(n) for n in first)
    confirmed = sum(
        weight_of(n) for n, gen in first.items() if probe(directory, n, False) == gen
    )
    return once, confirmed


class Presence:
    """One worker's presence: :meth:`enter` returns :func:`inside` once it is in."""

    def __init__(self, directory: str, worker: str) -> None:
        self.directory = directory
        self.worker = worker
        self.fd = -1

    def enter(self, weight: int) -> tuple[int, int]:
        path = os.path.join(self.directory, f"{PREFIX}{self.worker}.{weight}")
        low = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            self.fd = fcntl.fcntl(low, fcntl.F_DUPFD_CLOEXEC, HIGH_FD)
        finally:
            os.close(low)
        gen = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        os.pwrite(self.fd, b"%0*d" % (GEN_BYTES, gen), 0)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return inside(self.directory)

    def leave(self) -> None:
        fd, self.fd = self.fd, -1
        os.close(fd)
