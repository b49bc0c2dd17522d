"""The processes the pool benchmark drives, and the parent's handle on them.

    python pool_agents.py serve
        a line-driven holder/waiter (see :func:`serve`), one command per stdin line
    python pool_agents.py soak POOL WITNESS_DIR STOP_FILE WORKER CYCLES SEED
        a soak worker: CYCLES acquire/witness/hold/release cycles, one stdout line each;
        it stops early, after a whole cycle, once STOP_FILE exists

Every lock is taken through one of :data:`LOCKS`: the linkpool API, and the anchors a
blocking ``flock(LOCK_EX)`` and ``LOCK_NB`` polling every 10 ms on a single file.
Timestamps are ``clock_gettime_ns(CLOCK_MONOTONIC)``, which is system-wide, so stamps taken
in different processes can be subtracted.
"""

from __future__ import annotations

import fcntl
import os
import random
import select
import signal
import subprocess
import sys
import time
from typing import Any, Callable

from pool_witness import Presence

Release = Callable[[], None]
POLL_INTERVAL = 0.010
UNGATED = "-"  # a soak worker's pool path for the witness control: no pool at all
_pools: dict[str, Any] = {}


def stamp() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC)


def lock_linkpool(path: str) -> Release:
    from linkpool import Pool

    if path not in _pools:
        _pools[path] = Pool.open(path, create=False)
    return _pools[path].acquire(1).release


def lock_flock(path: str) -> Release:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return lambda: os.close(fd)


def lock_poll(path: str) -> Release:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return lambda: os.close(fd)
        except BlockingIOError:
            time.sleep(POLL_INTERVAL)


LOCKS: dict[str, Callable[[str], Release]] = {
    "linkpool": lock_linkpool,
    "flock": lock_flock,
    "poll": lock_poll,
}


# -- the child side ------------------------------------------------------------------------


def fork_holder(kind: str, path: str) -> int:
    """A forked child that takes the lock and sleeps until killed; returns once it holds."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(r)
            LOCKS[kind](path)
            os.write(w, b"x")
            while True:
                signal.pause()
        finally:
            os._exit(1)
    os.close(w)
    try:
        if os.read(r, 1) != b"x":
            raise RuntimeError(f"forked {kind} holder died before holding {path}")
    finally:
        os.close(r)
    return pid


def serve() -> None:
    """Answer each command line on stdin with one line:

    ``hold KIND PATH`` -> ``held``; ``release`` -> the stamp taken just before releasing;
    ``hold-child KIND PATH`` -> ``held PID``; ``kill`` -> the stamp taken just before
    SIGKILLing that child; ``wait KIND PATH`` -> ``ready`` at once, then, once the lock
    was granted, the stamp taken right after it (the lock is released at once).
    """
    release: Release | None = None
    child = 0

    def reply(text: object) -> None:
        sys.stdout.write(f"{text}\n")
        sys.stdout.flush()

    for line in sys.stdin:
        cmd, *args = line.split()
        if cmd == "hold":
            release = LOCKS[args[0]](args[1])
            reply("held")
        elif cmd == "release" and release is not None:
            t = stamp()
            release()
            release = None
            reply(t)
        elif cmd == "hold-child":
            child = fork_holder(args[0], args[1])
            reply(f"held {child}")
        elif cmd == "kill" and child:
            t = stamp()
            os.kill(child, signal.SIGKILL)
            os.waitpid(child, 0)
            child = 0
            reply(t)
        elif cmd == "wait":
            reply("ready")
            granted = LOCKS[args[0]](args[1])
            t = stamp()
            granted()
            reply(t)
        elif cmd == "quit":
            return
        else:
            raise SystemExit(f"pool_agents: unexpected command {line!r}")


def soak(
    pool_path: str, witness_dir: str, stop_file: str, worker: str, cycles: int, seed: int,
) -> None:
    """``cycles`` times: acquire a random weight 1-2, enter the witness, hold 0-2 ms, leave
    the witness, release; then print ``WAIT_US WEIGHT ONCE CONFIRMED`` (a finished cycle,
    with the weights the witness saw inside, see :func:`pool_witness.inside`)."""
    from linkpool import Pool

    rng = random.Random(seed)
    presence = Presence(witness_dir, worker)
    pool = None if pool_path == UNGATED else Pool.open(pool_path, create=False)
    for _ in range(cycles):
        if os.path.exists(stop_file):
            return
        weight = rng.randint(1, 2)
        t0 = stamp()
        lease = pool.acquire(weight) if pool else None
        waited = stamp() - t0
        once, confirmed = presence.enter(weight)
        time.sleep(rng.uniform(0.0, 0.002))
        presence.leave()
        if lease:
            lease.release()
        sys.stdout.write(f"{waited // 1000} {weight} {once} {confirmed}\n")
        sys.stdout.flush()


# -- the parent side -----------------------------------------------------------------------


class Agent:
    """A running ``serve`` process: :meth:`ask` sends one command and reads one answer."""

    def __init__(self, env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "serve"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env,
        )
        self._buffer = b""

    def send(self, line: str) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")
        self.proc.stdin.flush()

    def recv(self, timeout: float = 60.0) -> str:
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([fd], [], [], left)[0]:
                raise TimeoutError(f"agent {self.proc.pid} gave no answer in {timeout:g} s")
            chunk = os.read(fd, 4096)
            if not chunk:
                raise RuntimeError(f"agent {self.proc.pid} exited ({self.proc.wait()})")
            self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return line.decode()

    def ask(self, line: str, timeout: float = 60.0) -> str:
        self.send(line)
        return self.recv(timeout)

    def close(self) -> None:
        try:
            self.send("quit")
            self.proc.wait(timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> Agent:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def main(argv: list[str]) -> None:
    if argv[:1] == ["serve"]:
        serve()
    elif argv[:1] == ["soak"] and len(argv) == 7:
        soak(*argv[1:5], int(argv[5]), int(argv[6]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
