"""Section 4: a soak with SIGKILLs, watched by a witness that knows nothing of linkpool.

W worker processes (pool_agents.py ``soak``) share C cycles of: acquire a random weight
1-2 of a pool of 3 slots, enter the witness (pool_witness.py), hold 0-2 ms, leave the
witness, release. After each finished cycle the parent SIGKILLs a random worker with
probability ``kill_rate`` and starts a replacement that does the cycles the victim had
left, so W keep running; with probability ``stop_rate`` it SIGSTOPs a random worker
(waiting, holding, or drawing a ticket) and SIGCONTs it 2-30 ms later; with probability
``resize_rate`` it resizes the pool to 2 or 3 slots while it is busy (never above 3, so
the witness's bound stays 3; a shrink admits nobody new until the held weight fits).
The soak has a time budget: when it runs out, the workers are asked to stop after their
current cycle, and every one of them must still get through. Afterwards nothing may be
left behind in the pool.
"""

from __future__ import annotations

import os
import random
import selectors
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field

import pool_agents
from pool_context import Context, tail
from pool_stats import Section, Summary, Target, num, table

SLOTS = 3
DRAIN_DEADLINE = 300.0  # after the stop; a stuck soak ends with a report, not a hang
EMPTY_ACQUIRE_TIMEOUT = 2.0
AT_ONCE_MS = 100.0
STALL = 0.5  # seconds without any cycle finishing


@dataclass(frozen=True)
class Plan:
    workers: int
    cycles: int
    kill_rate: float
    budget: float
    stop_rate: float = 0.0
    resize_rate: float = 0.0


CONTROL = Plan(workers=8, cycles=160, kill_rate=0.0, budget=30.0)


@dataclass
class Worker:
    wid: int
    proc: subprocess.Popen[bytes]
    left: int  # cycles still to finish
    killed: bool = False
    buffer: bytes = b""


@dataclass
class Tally:
    cycles: int = 0
    kills: int = 0
    stops: int = 0  # SIGSTOP/SIGCONT pairs
    resizes: int = 0
    sizes: set[int] = field(default_factory=set)  # the capacities the pool went through
    waits_ms: list[float] = field(default_factory=list)
    seen: list[int] = field(default_factory=list)  # weight confirmed inside at one instant
    once: list[int] = field(default_factory=list)  # weight seen in one pass (an upper bound)
    finished_at: list[float] = field(default_factory=list)  # monotonic s, as read
    witness_errors: int = 0  # a cycle that did not even see its own weight
    failures: list[str] = field(default_factory=list)  # workers that died unasked
    budget_hit: bool = False
    elapsed: float = 0.0
    drain: float = 0.0  # from the stop to the last worker's exit

    def stalls(self) -> list[float]:
        """The gaps between consecutive finished cycles that were longer than STALL."""
        t = self.finished_at
        return [b - a for a, b in zip(t, t[1:]) if b - a > STALL]


class Soak:
    """Workers following ``plan`` on the pool at ``pool_path`` (pool_agents.UNGATED: none),
    each one entering the witness in ``witness_dir``."""

    def __init__(self, ctx: Context, plan: Plan, pool_path: str, witness_dir: str) -> None:
        self.ctx = ctx
        self.plan = plan
        self.pool_path = pool_path
        self.witness_dir = witness_dir
        self.errors = ctx.path("soak.err")
        self.stop_file = f"{witness_dir}.stop"
        self.rng = random.Random(ctx.settings.seed)
        self.sel = selectors.DefaultSelector()
        self.tally = Tally()
        self.frozen: list[tuple[float, Worker]] = []  # (when to SIGCONT, worker)

    def spawn(self, wid: int, cycles: int) -> None:
        argv = [sys.executable, pool_agents.__file__, "soak", self.pool_path, self.witness_dir,
                self.stop_file, str(wid), str(cycles), str(self.rng.getrandbits(32))]
        with open(self.errors, "ab") as err:
            proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=err, env=self.ctx.env)
        assert proc.stdout is not None
        self.sel.register(proc.stdout, selectors.EVENT_READ, Worker(wid, proc, cycles))

    def live(self) -> list[Worker]:
        return [key.data for key in self.sel.get_map().values()]

    def run(self) -> Tally:
        p = self.plan
        share, extra = divmod(p.cycles, p.workers)
        for wid in range(p.workers):
            self.spawn(wid, share + (wid < extra))
        t0 = time.monotonic()
        stopped = 0.0
        try:
            while self.sel.get_map():
                now = time.monotonic()
                if not stopped and now - t0 > p.budget:
                    open(self.stop_file, "w").close()  # each worker stops after its cycle
                    self.tally.budget_hit, stopped = True, now
                if stopped and now - stopped > DRAIN_DEADLINE:
                    break
                self.thaw(now if not stopped else float("inf"))
                wait = min([0.2, *(t - now for t, _ in self.frozen)])
                for key, _ in self.sel.select(timeout=max(0.0, wait)):
                    if key.fd in self.sel.get_map():  # not a victim of a kill just now
                        self.read(key.data, may_kill=not stopped)
        finally:
            self.thaw(float("inf"))
            self.abandon()  # nothing is left running, whatever happened
        self.tally.elapsed = time.monotonic() - t0
        self.tally.drain = time.monotonic() - stopped if stopped else 0.0
        return self.tally

    def read(self, w: Worker, may_kill: bool) -> None:
        assert w.proc.stdout is not None
        chunk = os.read(w.proc.stdout.fileno(), 65536)
        if not chunk:
            self.finish(w)
            return
        *lines, w.buffer = (w.buffer + chunk).split(b"\n")
        for line in lines:
            self.count(w, line)
        for _ in lines if may_kill else ():  # one chance of each per finished cycle
            if self.rng.random() < self.plan.kill_rate:
                self.kill_one()
            if self.rng.random() < self.plan.stop_rate:
                self.freeze_one()
            if self.rng.random() < self.plan.resize_rate:
                self.resize()

    def count(self, w: Worker, line: bytes) -> None:
        wait_us, weight, once, seen = (int(x) for x in line.split())
        w.left -= 1
        t = self.tally
        t.cycles += 1
        t.waits_ms.append(wait_us / 1e3)
        t.seen.append(seen)
        t.once.append(once)
        t.finished_at.append(time.monotonic())
        t.witness_errors += seen < weight

    def finish(self, w: Worker) -> None:
        """A worker's output ended: unless killed, it must have exited 0 with all its
        cycles done (or, once the budget ran out, the one it was in)."""
        assert w.proc.stdout is not None
        self.sel.unregister(w.proc.stdout)
        w.proc.stdout.close()
        code = w.proc.wait()
        if not w.killed and (code != 0 or (w.left and not self.tally.budget_hit)):
            self.tally.failures.append(f"worker {w.wid} exited {code} with {w.left} cycles left")

    def freeze_one(self) -> None:
        busy = [w for w in self.live() if w.proc.returncode is None
                and all(w is not f for _, f in self.frozen)]
        if busy:
            victim = self.rng.choice(busy)
            victim.proc.send_signal(signal.SIGSTOP)
            self.frozen.append((time.monotonic() + self.rng.uniform(0.002, 0.03), victim))
            self.tally.stops += 1

    def thaw(self, now: float) -> None:
        """SIGCONT the frozen workers whose time has come (all of them with ``inf``)."""
        due = [(t, w) for t, w in self.frozen if t <= now]
        self.frozen = [(t, w) for t, w in self.frozen if t > now]
        for _, w in due:
            if w.proc.returncode is None:
                w.proc.send_signal(signal.SIGCONT)

    def resize(self) -> None:
        from linkpool import Pool

        size = self.rng.choice([2, SLOTS])
        with Pool.open(self.pool_path, create=False) as pool:
            pool.resize(size)
        self.tally.resizes += 1
        self.tally.sizes.add(size)

    def kill_one(self) -> None:
        busy = [w for w in self.live() if w.left > 0 and w.proc.returncode is None]
        if not busy:
            return
        victim = self.rng.choice(busy)
        victim.killed = True
        self.frozen = [(t, w) for t, w in self.frozen if w is not victim]
        victim.proc.kill()
        victim.proc.wait()  # reaped: its files, so its locks, are gone
        self.tally.kills += 1
        while victim.proc.stdout is not None and not victim.proc.stdout.closed:
            self.read(victim, may_kill=False)  # lines it wrote before it died still count
        if victim.left:
            self.spawn(victim.wid, victim.left)

    def abandon(self) -> None:
        for w in self.live():
            self.tally.failures.append(f"worker {w.wid} still running {DRAIN_DEADLINE:g} s "
                                       f"after the stop, with {w.left} cycles left")
            w.proc.kill()
            w.proc.wait()
            assert w.proc.stdout is not None
            self.sel.unregister(w.proc.stdout)
            w.proc.stdout.close()


@dataclass(frozen=True)
class Aftermath:
    holders: int
    waiting: int
    full_acquire_ok: bool
    full_acquire_ms: float
    ticket_files: int

    @property
    def clean(self) -> bool:
        return self.holders == 0 and self.waiting == 0 and self.full_acquire_ok


def leftovers(pool_path: str) -> Aftermath:
    """What the pool looks like afterwards, and whether a weight-3 job gets in at once."""
    from linkpool import Pool, Timeout

    with Pool.open(pool_path, create=False) as pool:
        st = pool.status()
        t0 = time.perf_counter()
        try:
            pool.acquire(SLOTS, timeout=EMPTY_ACQUIRE_TIMEOUT).release()
            granted = True
        except Timeout:
            granted = False
        took = (time.perf_counter() - t0) * 1e3
    tickets = sum(name.startswith("wait.") for name in os.listdir(pool_path))
    return Aftermath(len(st["holders"]) + st["unknown_holders"], st["waiting"], granted, took,
                     tickets)


def soak(ctx: Context, plan: Plan, pool_path: str, name: str) -> tuple[Tally, str]:
    witness_dir = ctx.path(name)
    os.mkdir(witness_dir)
    run = Soak(ctx, plan, pool_path, witness_dir)
    return run.run(), tail(run.errors)


def run(ctx: Context) -> Section:
    s = ctx.settings
    pool_path = ctx.make_pool("soak", SLOTS)
    plan = Plan(s.soak_workers, s.soak_cycles, s.kill_rate, s.soak_budget, s.stop_rate,
                s.resize_rate)
    tally, errors = soak(ctx, plan, pool_path, "witness")
    from linkpool import Pool

    with Pool.open(pool_path, create=False) as pool:
        pool.resize(SLOTS)  # the soak may have left it at 2
    after = leftovers(pool_path)
    control, _ = soak(ctx, CONTROL, pool_agents.UNGATED, "control")
    return section(ctx, tally, after, errors, control)


def section(
    ctx: Context, t: Tally, after: Aftermath, errors: str, control: Tally,
) -> Section:
    s = ctx.settings
    wait = Summary.of(t.waits_ms)
    most = max(t.seen, default=0)
    violations = sum(x > SLOTS for x in t.seen)
    full = sum(x == SLOTS for x in t.seen)
    once_most = max(t.once, default=0)
    once_over = sum(x > SLOTS for x in t.once)
    stalls = t.stalls()
    stopped = (f"budget of {s.soak_budget:g} s ran out; the line drained in {num(t.drain, 1)} s"
               if t.budget_hit else "all done within the budget")
    rows = [
        ("cycles completed", f"{t.cycles} of {s.soak_cycles} ({stopped})"),
        ("elapsed, s (cycles per s)", f"{num(t.elapsed, 1)} ({t.cycles / t.elapsed:.0f})"),
        ("workers SIGKILLed (each replaced)", t.kills),
        ("workers SIGSTOPped, SIGCONTed 2-30 ms later", t.stops),
        ("pool resized while busy (sizes)",
         f"{t.resizes} ({', '.join(map(str, sorted(t.sizes))) or '-'})"),
        ("**max weight the witness saw inside (confirmed at one instant)**",
         f"**{most}** (pool of {SLOTS})"),
        ("**violations (cycles that confirmed more than 3)**", f"**{violations}**"),
        ("one-pass count (tests/witness.py style): max, cycles over 3",
         f"{once_most}, {once_over}"),
        ("cycles that saw the pool full (3)", f"{full} ({100 * full / max(t.cycles, 1):.0f} %)"),
        ("witness errors (own weight not seen)", t.witness_errors),
        ("wait in `acquire`, p50 / p99 / max, ms",
         f"{num(wait.p50, 1)} / {num(wait.p99, 1)} / {num(wait.max, 1)}"),
        (f"stalls: gaps > {STALL:g} s with no cycle finishing (count, longest s, total s)",
         f"{len(stalls)}, {num(max(stalls, default=0.0))}, {num(sum(stalls), 1)}"),
        ("live workers that did not get through (or exited non-zero)", len(t.failures)),
        ("afterwards: holders / waiters", f"{after.holders} / {after.waiting}"),
        (f"afterwards: `acquire({SLOTS}, timeout={EMPTY_ACQUIRE_TIMEOUT:g})`",
         f"{'granted' if after.full_acquire_ok else 'TIMED OUT'} in "
         f"{num(after.full_acquire_ms, 1)} ms"),
        ("afterwards: ticket files left by killed waiters", after.ticket_files),
        (f"control without the pool ({CONTROL.workers} workers, {control.cycles} cycles): "
         f"max confirmed / one-pass", f"{max(control.seen, default=0)} / "
         f"{max(control.once, default=0)}"),
    ]
    sec = Section(
        "4. Soak with SIGKILLs, SIGSTOPs and resizes",
        f"{s.soak_cycles} acquire/release cycles shared by {s.soak_workers} worker processes "
        f"on a pool of {SLOTS} slots: random weight 1-2, hold 0-2 ms. After each finished "
        f"cycle a random worker is SIGKILLed with probability {s.kill_rate:g} (wherever it "
        f"is: waiting, holding, or inside the witness) and replaced at once; with probability "
        f"{s.stop_rate:g} one is SIGSTOPped and SIGCONTed 2-30 ms later, and with probability "
        f"{s.resize_rate:g} the pool is resized to 2 or 3 slots while busy. The soak has a "
        f"budget of {s.soak_budget:g} s; if it runs out, every worker is asked to stop after "
        f"its current cycle, and each one must still get through the line and exit 0. "
        f"Each worker, once `acquire()` returns, locks its own `alive.<worker>.<weight>` file "
        f"in a witness directory and sums the weights of every locked alive file with a "
        f"`LOCK_SH|LOCK_NB` probe (tests/witness.py's idea; it knows nothing of linkpool); "
        f"it drops that lock before releasing the lease. One pass over the directory is not "
        f"an instant (a job counted early may leave and another enter before the pass ends), "
        f"so the witness probes twice and confirms only the files that stayed locked, with "
        f"the same generation stamp, in between: those were all inside at one instant "
        f"(benchmarks/pool_witness.py). The one-pass count is shown for comparison. A "
        f"control run of the same workers without any pool shows that the witness is not "
        f"blind: there it must confirm more than {SLOTS}.",
    )
    sec.blocks = [table(["", "value"], rows)]
    if t.failures or errors:
        detail = "\n".join([*t.failures[:10], errors])
        sec.blocks.append(f"Problems:\n\n```\n{detail.strip()}\n```")
    sec.data = {"cycles": t.cycles, "kills": t.kills, "stops": t.stops,
                "resizes": t.resizes, "max_seen": most,
                "max_once": once_most, "once_over": once_over, "violations": violations,
                "wait_ms": t.waits_ms, "stalls_s": stalls, "failures": t.failures,
                "budget_hit": t.budget_hit, "elapsed_s": t.elapsed, "drain_s": t.drain,
                "after": asdict(after), "control_max_seen": max(control.seen, default=0),
                "control_max_once": max(control.once, default=0)}
    sec.targets = [
        Target("soak: max weight inside", f"<= {SLOTS}", str(most), most <= SLOTS),
        Target("soak: violations", "0", str(violations), violations == 0),
        Target("witness control: without the pool it confirms more than 3", f"> {SLOTS}",
               str(max(control.seen, default=0)), max(control.seen, default=0) > SLOTS),
        Target(f"soak: all {s.soak_cycles} cycles within {s.soak_budget:g} s",
               f"{s.soak_cycles}", f"{t.cycles}", t.cycles == s.soak_cycles),
        Target("soak: every live worker got through and exited 0", "all",
               f"{len(t.failures)} did not", not t.failures),
        Target("soak: nothing leaked (no holders or waiters; weight-3 acquire at once)",
               f"0 / 0 / granted in < {AT_ONCE_MS:g} ms",
               f"{after.holders} / {after.waiting} / {num(after.full_acquire_ms, 1)} ms",
               after.clean and after.full_acquire_ms < AT_ONCE_MS),
    ]
    return sec
