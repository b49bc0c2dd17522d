"""Section 3: the CPU that a long line of waiting ``linkpool run`` processes burns.

A pool of 1 slot is held by an agent; N ``linkpool run --pool P -- true`` wrappers line up
(``Pool.status()["waiting"] == N``), then each one's utime + stime is read from
/proc/PID/stat at t0 and t0 + window. Then the holder releases and the line drains: every
wrapper must exit 0, and the time from the release to the last exit is the drain.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Sequence

from pool_agents import Agent
from pool_context import Context, spawn, tail
from pool_stats import Section, Target, num, table

TICK = os.sysconf("SC_CLK_TCK")
LINE_UP_TIMEOUT = 180.0
DRAIN_TIMEOUT = 180.0
SETTLE = 1.0  # after the line is complete, before t0: start-up work is over
CPU_TARGET = 0.01  # of one core over the window


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process so far (fields 14 and 15 of /proc/PID/stat)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / TICK


def line_up(pool_path: str, n: int) -> float:
    """Seconds until ``n`` waiters are in the line (raises when they never are)."""
    from linkpool import Pool

    t0 = time.monotonic()
    with Pool.open(pool_path, create=False) as pool:
        while pool.status()["waiting"] < n:
            if time.monotonic() - t0 > LINE_UP_TIMEOUT:
                got = pool.status()["waiting"]
                raise RuntimeError(f"only {got} of {n} waiters lined up")
            time.sleep(0.2)
    return time.monotonic() - t0


def burnt(pids: Sequence[int], window: float) -> list[float]:
    before = [cpu_seconds(p) for p in pids]
    time.sleep(window)
    return [cpu_seconds(p) - b for p, b in zip(pids, before)]


def reap_group(pgid: int, pids: Sequence[int]) -> dict[int, tuple[int, int]]:
    """pid -> (exit status, monotonic ns when reaped), for every pid of the group. A
    watchdog SIGKILLs the group after DRAIN_TIMEOUT so that this never hangs."""
    watchdog = threading.Timer(DRAIN_TIMEOUT, os.killpg, (pgid, signal.SIGKILL))
    watchdog.start()
    out = {}
    try:
        while len(out) < len(pids):
            pid, status = os.waitpid(-pgid, 0)
            out[pid] = (os.waitstatus_to_exitcode(status), time.monotonic_ns())
    finally:
        watchdog.cancel()
    return out


def kill_group(pgid: int) -> None:
    """SIGKILL whatever is left of the group and reap it."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    try:
        while True:
            os.waitpid(-pgid, 0)
    except ChildProcessError:
        pass


def start_waiters(ctx: Context, pool_path: str, n: int, errors: str) -> tuple[int, list[int]]:
    """n wrappers in one new process group: (the group, their pids)."""
    argv = [ctx.linkpool, "run", "--pool", pool_path, "--", "true"]
    pids = [spawn(argv, ctx.env, stderr=errors, group=0)]
    pids += [spawn(argv, ctx.env, stderr=errors, group=pids[0]) for _ in range(n - 1)]
    return pids[0], pids


def run(ctx: Context) -> Section:
    n, window = ctx.settings.idle_waiters, ctx.settings.idle_seconds
    pool_path = ctx.make_pool("idle", 1)
    errors = ctx.path("idle.err")
    with Agent(ctx.env) as holder:
        holder.ask(f"hold linkpool {pool_path}")
        pgid, pids = start_waiters(ctx, pool_path, n, errors)
        try:
            ready = line_up(pool_path, n)
            time.sleep(SETTLE)
            cpu = burnt(pids, window)
            released = int(holder.ask("release"))
            exits = reap_group(pgid, pids)
        finally:
            kill_group(pgid)
    return section(ctx, ready, cpu, released, exits, tail(errors))


def section(
    ctx: Context, ready: float, cpu: list[float], released: int,
    exits: dict[int, tuple[int, int]], errors: str,
) -> Section:
    n, window = ctx.settings.idle_waiters, ctx.settings.idle_seconds
    total = sum(cpu)
    failed = sum(code != 0 for code, _ in exits.values())
    ends = sorted(t for _, t in exits.values())
    drain = (ends[-1] - released) / 1e9
    first = (ends[0] - released) / 1e6
    rows = [
        ("waiters (`linkpool run --pool P -- true`)", n),
        ("seconds until all were in line", num(ready, 1)),
        ("measuring window, s", num(window, 1)),
        ("**CPU burnt by all waiters in the window, s**", f"**{num(total, 3)}**"),
        ("  as a share of one core", f"{100 * total / window:.1f} %"),
        ("  by the busiest waiter, s", num(max(cpu), 3)),
        ("  waiters that used any CPU", sum(c > 0 for c in cpu)),
        ("exited with status 0 after the release", f"{n - failed} of {n}"),
        ("release to the first exit, ms", num(first, 1)),
        ("release to the last exit (drain), s", num(drain, 2)),
        ("  per waiter, ms", num(1e3 * drain / n, 1)),
    ]
    sec = Section(
        "3. CPU burnt while waiting",
        f"A pool of 1 slot held by an agent; {n} `linkpool run --pool P -- true` wrappers "
        f"wait. Once `Pool.status()['waiting'] == {n}` (and {SETTLE:g} s more), each waiter's "
        f"utime + stime is read from `/proc/PID/stat` at t0 and t0 + {window:g} s. Then the "
        f"holder releases and the line drains; exits are reaped in one process group.",
    )
    sec.blocks = [table(["", "value"], rows)]
    if errors:
        sec.blocks.append(f"Last lines the waiters wrote on stderr:\n\n```\n{errors}\n```")
    sec.data = {"cpu_s": cpu, "line_up_s": ready, "drain_s": drain, "first_exit_ms": first,
                "failed": failed}
    sec.targets = [
        Target(f"CPU of {n} waiters over {window:g} s", f"~0 (<= {CPU_TARGET:.0%} of a core)",
               f"{num(total, 3)} s", total <= CPU_TARGET * window),
        Target("waiters that exit 0 after the release", f"{n} of {n}", f"{n - failed} of {n}",
               failed == 0),
    ]
    return sec
