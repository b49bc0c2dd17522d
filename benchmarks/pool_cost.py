"""Section 1: what the pool costs when nobody else is there.

(a) in process: one ``Pool.open``, then ``acquire(1)`` + ``release()`` again and again, side
by side with a bare ``open + flock(LOCK_EX|LOCK_NB) + close`` of one file;
(b) the whole command: ``linkpool run --pool P -- true`` against bare ``true`` and the
interpreter's own start (``python -c pass``, the same python), interleaved round by round;
(c) which modules the fast path imports beyond the interpreter's start (``-X importtime``).
"""

from __future__ import annotations

import fcntl
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Callable

from pool_context import Context, spawn, tail
from pool_stats import Section, Summary, Target, num, table

OVERHEAD_TARGET_MS = 5.0
WARMUP = 5


def timed_us(action: Callable[[], object]) -> float:
    t0 = time.perf_counter_ns()
    action()
    return (time.perf_counter_ns() - t0) / 1e3


# -- (a) in process ---------------------------------------------------------------------------


def api_cycles(ctx: Context) -> dict[str, list[float]]:
    from linkpool import Pool

    raw = ctx.path("raw.lock")

    def bare_flock() -> None:
        fd = os.open(raw, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.close(fd)

    with Pool.open(ctx.make_pool("api", 1)) as pool:
        def cycle() -> None:
            pool.acquire(1).release()

        samples: dict[str, list[float]] = {"pool": [], "flock": []}
        for i in range(WARMUP + ctx.settings.api_cycles):
            pool_us, flock_us = timed_us(cycle), timed_us(bare_flock)
            if i >= WARMUP:
                samples["pool"].append(pool_us)
                samples["flock"].append(flock_us)
    return samples


def api_block(samples: dict[str, list[float]]) -> str:
    anchor = Summary.of(samples["flock"]).p50
    names = {
        "pool": "`pool.acquire(1)` + `lease.release()`",
        "flock": "anchor: `open` + `flock(LOCK_EX|LOCK_NB)` + `close`",
    }
    rows = []
    for key, label in names.items():
        s = Summary.of(samples[key])
        rows.append((label, s.n, num(s.p50, 1), num(s.p99, 1), num(s.max, 0),
                     f"{s.p50 / anchor:.0f}x"))
    return table(["cycle (in process, pool of 1, uncontended)", "cycles", "p50 µs", "p99 µs",
                  "max µs", "p50 / anchor"], rows)


# -- (b) the whole command ----------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    key: str
    label: str
    argv: list[str]
    env: dict[str, str]


def variants(ctx: Context, pool: str) -> list[Variant]:
    true = shutil.which("true") or "/bin/true"
    run = [ctx.linkpool, "run", "--pool", pool, "--", true]
    no_pyc = {k: v for k, v in ctx.env.items() if k != "PYTHONPYCACHEPREFIX"}
    no_pyc["PYTHONDONTWRITEBYTECODE"] = "1"
    return [
        Variant("true", "bare `true`", [true], ctx.env),
        Variant("python", "`python -c pass` (interpreter start)", [sys.executable, "-c", "pass"],
                ctx.env),
        Variant("run", "`linkpool run --pool P -- true`", run, ctx.env),
        Variant("run_no_pyc", "the same without bytecode cache (`PYTHONDONTWRITEBYTECODE=1`)",
                run, no_pyc),
    ]


def run_once(v: Variant, errors: str) -> float:
    """Wall time of one run in ms, from spawn to reaped; the command must succeed."""
    t0 = time.perf_counter_ns()
    pid = spawn(v.argv, v.env, stderr=errors)
    _, status = os.waitpid(pid, 0)
    elapsed = (time.perf_counter_ns() - t0) / 1e6
    if status != 0:
        raise RuntimeError(f"{' '.join(v.argv)} failed ({status}): {tail(errors)}")
    return elapsed


def command_times(ctx: Context, vs: Sequence[Variant]) -> dict[str, list[float]]:
    """Each round runs every variant once, in an order rotated from round to round."""
    errors = ctx.path("command.err")
    times: dict[str, list[float]] = {v.key: [] for v in vs}
    for r in range(WARMUP + ctx.settings.command_rounds):
        shift = r % len(vs)
        for v in [*vs[shift:], *vs[:shift]]:
            ms = run_once(v, errors)
            if r >= WARMUP:
                times[v.key].append(ms)
    return times


def command_block(vs: Sequence[Variant], times: dict[str, list[float]]) -> tuple[str, float]:
    median = {k: statistics.median(t) for k, t in times.items()}
    rows = []
    for v in vs:
        s = Summary.of(times[v.key])
        over_true = median[v.key] - median["true"]
        over_python = median[v.key] - median["python"]
        rows.append((v.label, s.n, num(s.p50), num(s.p90), num(s.p99),
                     num(over_true), num(over_python)))
    paired = statistics.median(a - b for a, b in zip(times["run"], times["python"]))
    text = table(["command (interleaved, one run each per round)", "runs", "p50 ms", "p90 ms",
                  "p99 ms", "p50 over `true` ms", "p50 over `python -c pass` ms"], rows)
    return text, paired


# -- (c) imports on the fast path ------------------------------------------------------------


def parse_importtime(stderr: str) -> dict[str, float]:
    """Module -> its own import time in ms, from ``-X importtime`` output."""
    out = {}
    for line in stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _, name = line[len("import time:"):].split("|")
        out[name.strip()] = int(own) / 1e3
    return out


def import_times(ctx: Context, pool: str) -> dict[str, dict[str, float]]:
    """Per-module median self time (ms) of each command over several interleaved runs."""
    commands = {
        "python": [sys.executable, "-X", "importtime", "-c", "pass"],
        # The console script, as a build runs it: `-m linkpool` would add runpy and what it
        # imports (importlib.util, contextlib, functools, collections) to the bill.
        "run": [sys.executable, "-X", "importtime", ctx.linkpool, "run", "--pool", pool,
                "--", "true"],
    }
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in commands}
    for _ in range(ctx.settings.import_runs):
        for key, argv in commands.items():
            r = subprocess.run(argv, env=ctx.env, capture_output=True, text=True, check=True)
            runs[key].append(parse_importtime(r.stderr))
    return {key: _median_per_module(samples) for key, samples in runs.items()}


def _median_per_module(samples: list[dict[str, float]]) -> dict[str, float]:
    names = set().union(*samples)
    return {n: statistics.median(s.get(n, 0.0) for s in samples) for n in names}


def import_block(imports: dict[str, dict[str, float]], top: int = 12) -> tuple[str, list[str]]:
    extra = {n: ms for n, ms in imports["run"].items() if n not in imports["python"]}
    ranked = sorted(extra.items(), key=lambda kv: -kv[1])
    rows = [(f"`{n}`", num(ms)) for n, ms in ranked[:top]]
    rows.append((f"**all {len(extra)} modules beyond `python -c pass`**",
                 f"**{num(sum(extra.values()))}**"))
    text = table(["module imported by `python -X importtime .venv/bin/linkpool run` "
                  "(slowest first)", "self ms (median)"], rows)
    return text, sorted(n for n in extra if n.startswith("linkpool"))


# -- the section ---------------------------------------------------------------------------------


def run(ctx: Context) -> Section:
    api = api_cycles(ctx)
    pool = ctx.make_pool("command", 1)
    vs = variants(ctx, pool)
    times = command_times(ctx, vs)
    imports = import_times(ctx, pool)
    command_text, paired = command_block(vs, times)
    import_text, ours = import_block(imports)
    over = statistics.median(times["run"]) - statistics.median(times["python"])
    interp = statistics.median(times["python"]) - statistics.median(times["true"])
    section = Section(
        "1. Uncontended cost",
        "A pool of 1 slot that nobody else uses. In process, each `acquire` + `release` "
        "cycle is timed alongside a bare flock cycle (ABAB). The whole commands are run by "
        "`posix_spawn` + `waitpid` from the benchmark, one of each per round, the order "
        "rotating from round to round; bytecode is cached (`PYTHONPYCACHEPREFIX` in a "
        "scratch directory) except in the last row.",
    )
    section.blocks = [
        api_block(api),
        command_text,
        f"`linkpool run` costs **{num(over)} ms** more than starting the interpreter "
        f"(difference of medians; median of the per-round differences: {num(paired)} ms). "
        f"The interpreter's own start costs {num(interp)} ms over bare `true`.",
        import_text,
        "linkpool modules on the fast path: " + ", ".join(f"`{m}`" for m in ours) + ".",
    ]
    section.data = {"api_us": api, "command_ms": times, "import_ms": imports,
                    "overhead_ms": over, "overhead_paired_ms": paired}
    section.targets = [Target(
        "`linkpool run -- true` over interpreter start (p50)",
        f"<= {OVERHEAD_TARGET_MS:g} ms", f"{num(over)} ms", over <= OVERHEAD_TARGET_MS,
    )]
    return section
