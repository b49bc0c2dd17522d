"""Section 2: how soon the next holder runs once the lock is let go.

Two long-lived agent processes (see pool_agents.py): a holder takes the only slot of a
pool of 1, a waiter blocks in ``acquire()``; after a random 15-25 ms the holder stamps
CLOCK_MONOTONIC and releases (or SIGKILLs a forked child that holds, stamping just before
the kill), and the waiter stamps right after its acquire returns. The anchors go through
the very same harness: a blocking ``flock(LOCK_EX)`` on one file, and ``LOCK_NB`` polling
every 10 ms. Trials of all series are interleaved.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from pool_agents import Agent
from pool_context import Context
from pool_stats import Section, Summary, Target, num, table

P50_TARGET_MS = 0.5
P99_TARGET_MS = 5.0
SETTLE = (0.015, 0.025)  # the waiter is asleep in acquire() by then


@dataclass(frozen=True)
class Series:
    kind: str  # a key of pool_agents.LOCKS
    ending: str  # "release" or "kill"
    label: str

    @property
    def key(self) -> str:
        return f"{self.kind}-{self.ending}"


SERIES = [
    Series("linkpool", "release", "linkpool: holder releases"),
    Series("linkpool", "kill", "linkpool: holder SIGKILLed"),
    Series("flock", "release", "anchor: blocking `flock(LOCK_EX)`, release"),
    Series("flock", "kill", "anchor: blocking `flock(LOCK_EX)`, SIGKILL"),
    Series("poll", "release", "anchor: `LOCK_NB` polling every 10 ms, release"),
    Series("poll", "kill", "anchor: `LOCK_NB` polling every 10 ms, SIGKILL"),
]


def trial(holder: Agent, waiter: Agent, s: Series, path: str, rng: random.Random) -> float:
    """One hand-over: ms from the holder's release (or kill) to the waiter's grant."""
    hold = "hold" if s.ending == "release" else "hold-child"
    if not holder.ask(f"{hold} {s.kind} {path}").startswith("held"):
        raise RuntimeError(f"{s.key}: the holder did not get the lock")
    if waiter.ask(f"wait {s.kind} {path}") != "ready":
        raise RuntimeError(f"{s.key}: the waiter is not ready")
    time.sleep(rng.uniform(*SETTLE))
    start = int(holder.ask("release" if s.ending == "release" else "kill"))
    granted = int(waiter.recv(timeout=30))
    return (granted - start) / 1e6


def latencies(ctx: Context) -> dict[str, list[float]]:
    paths = {"linkpool": ctx.make_pool("wake", 1), "flock": ctx.path("anchor.lock")}
    paths["poll"] = paths["flock"]
    rng = random.Random(ctx.settings.seed)
    out: dict[str, list[float]] = {s.key: [] for s in SERIES}
    with Agent(ctx.env) as holder, Agent(ctx.env) as waiter:
        for i in range(ctx.settings.wake_trials):
            shift = i % len(SERIES)
            for s in [*SERIES[shift:], *SERIES[:shift]]:
                out[s.key].append(trial(holder, waiter, s, paths[s.kind], rng))
    return out


def run(ctx: Context) -> Section:
    lat = latencies(ctx)
    anchor = Summary.of(lat["flock-release"]).p50
    rows = []
    for s in SERIES:
        q = Summary.of(lat[s.key])
        early = sum(ms < 0 for ms in lat[s.key])
        rows.append((s.label, q.n, num(q.p50, 3), num(q.p90, 3), num(q.p99, 3), num(q.max, 3),
                     f"{q.p50 / anchor:.1f}x", early))
    ours = Summary.of(lat["linkpool-release"])
    section = Section(
        "2. Wake latency: release to the next holder",
        "A holder process holds the only slot (pool of 1) while a waiter process waits in "
        "`acquire()`. The holder stamps `clock_gettime(CLOCK_MONOTONIC)` right before "
        "releasing (or right before `SIGKILL` of a forked child that holds the lock); the "
        "waiter stamps right after the lock is granted. All series go through the same "
        "agents, trials interleaved. *early* counts grants stamped before the release, "
        "which would be an over-admission (must be 0).",
    )
    section.blocks = [table(
        ["series", "trials", "p50 ms", "p90 ms", "p99 ms", "max ms",
         "p50 / blocking flock", "early"], rows,
    )]
    section.data = {"latency_ms": lat}
    section.targets = [
        Target("wake after release, p50", f"<= {P50_TARGET_MS:g} ms", f"{num(ours.p50, 3)} ms",
               ours.p50 <= P50_TARGET_MS),
        Target("wake after release, p99", f"<= {P99_TARGET_MS:g} ms", f"{num(ours.p99, 3)} ms",
               ours.p99 <= P99_TARGET_MS),
        Target("grants before the release (all series)", "0",
               str(sum(ms < 0 for v in lat.values() for ms in v)),
               all(ms >= 0 for v in lat.values() for ms in v)),
    ]
    return section
