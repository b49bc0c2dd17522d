"""Record every job in the pool's history, and estimate a repeated link from its last run.

The memory a link adds is its last sampled peak of anonymous memory (``anon_peak_kb``),
with a 10 % margin. A record without one (a link too short to sample) falls back to its
peak RSS less the bytes of its inputs (file-backed pages of the mmapped inputs), never
less than a quarter of the peak.

After every job, its interval goes into the policy's summary (``policy/``), and a link
the policy planned (``job.extra["plan"]``) folds in what it measured: whether it met
other jobs (``met`` in its record), its threads, CPU and wall time per byte
(``linkpool.policy.learn``).
"""

from __future__ import annotations

import os
import time

from ..hookspecs import hookimpl
from ..job import Cost, Job, Result

RECENT = "recent"  # the summary entry of the last jobs' intervals

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from typing import Any, Callable

    from ..history import History


def _history(job: Job) -> History:
    from ..history import History

    assert job.pool_dir is not None
    return History(job.pool_dir, 0o666 if job.shared else 0o600)


@hookimpl(tryfirst=True)
def linkpool_estimate(job: Job) -> Cost | None:
    if job.pool_dir is None or not job.output:
        return None
    last = _history(job).last(job.output)
    if not last or last.get("exit") != 0 or not last.get("max_rss_kb"):
        return None
    from . import inputs, threads_wanted

    size = 0
    for path in inputs(job):
        try:
            size += os.stat(path).st_size
        except OSError:
            pass
    peak = int(last["max_rss_kb"]) * 1024
    anon = int(last.get("anon_peak_kb") or 0) * 1024
    memory = int(anon * 1.1) if anon else max(peak - size, peak // 4)
    return Cost(memory, threads_wanted(job, size), "history",
                {"input_bytes": size, "last_max_rss_kb": last["max_rss_kb"]})


@hookimpl
def linkpool_after_link(job: Job, result: Result) -> None:
    keep(job, result, lambda history, start, end: _met(job, history, start, end))


def keep(job: Job, result: Result,
         met: Callable[[History, float, float], bool], append: bool = True) -> None:
    """Record a finished job in its pool's history and fold what it measured into the
    policy's summary; ``met(history, start, end)`` says whether it met other jobs (asked
    only for a link the policy planned). Python's own runs call it through after_link,
    with a live look at the pool; ``linkpool.spool`` with what the C front door saw, and
    ``append=False``: the front door wrote the record into the history itself (only the
    output's last record and the policy's summary are left to do)."""
    if job.pool_dir is None or job.kind not in ("link", "unknown"):
        return
    start = job.extra.get("admitted")
    # When it held its slots, and when it ended: the time of this call is later (it is
    # made once the build has its answer)
    start = float(start) if isinstance(start, (int, float)) else None
    end = start + result.run_s + result.tail_s if start is not None else time.time()
    record = {
        "time": round(end, 3),
        "output": job.output,
        "cwd": job.cwd,
        "kind": job.kind,
        "linker": job.linker.id if job.linker is not None else None,
        "weight": job.weight,
        "threads": job.threads,
        "wait_s": round(result.wait_s, 6),
        "run_s": round(result.run_s, 6),
        "tail_s": round(result.tail_s, 6),
        "exit": result.status,
        "max_rss_kb": result.max_rss_kb,
        "anon_peak_kb": result.anon_peak_kb,
        "cpu_s": round(result.cpu_s, 6),
        "estimate": estimate_of(job.cost),
        "command": job.original,
        **job.extra,
    }
    history = _history(job)
    plan = job.extra.get("plan")
    if isinstance(plan, dict) and result.status == 0 and job.threads and start is not None:
        record["met"] = met(history, start, end)
    if append:
        history.append(record)
    elif job.output:
        history.remember(job.output, record)
    _learn(job, result, history, record.get("met"), start, end)


def estimate_of(cost: Cost | None) -> dict[str, Any] | None:
    """The ``estimate`` of a record: the cost the link was weighed by."""
    if cost is None:
        return None
    return {"memory": cost.memory, "threads": cost.threads, "source": cost.source,
            **cost.detail}


def _met(job: Job, history: History, start: float, end: float) -> bool:
    """Whether the link met other jobs in the pool: one that ended during its run (the
    summary's recent intervals), or one that still holds slots or waits and came before
    it ended."""
    from ..policy import met

    if met(history.summary(RECENT).get("recent"), start, end):
        return True
    from ..pool import Pool

    ours = set(job.extra.get("slots") or [])

    def is_ours(holder: dict[str, Any]) -> bool:
        # our own lease, if still held (a record made before the answer): our slots, our
        # admission; a job that took our slots since came later
        return set(holder.get("slot_indices") or []) <= ours and \
            holder.get("since") == job.extra.get("admitted")
    assert job.pool_dir is not None
    try:
        pool = Pool.open(job.pool_dir, create=False)
        try:
            st = pool.status()
        finally:
            pool.close()
    except Exception:  # the pool went away: what it measured is not known to be alone
        return True

    def before_end(info: dict[str, Any]) -> bool:
        # when it came: a holder's since is when it got its slots, after its wait (this
        # runs once the build has its answer, so one that waited behind us may hold now)
        since, waited = info.get("since"), info.get("waited")
        if not isinstance(since, (int, float)):
            return True
        return since - (waited if isinstance(waited, (int, float)) else 0.0) < end

    return bool(st["unknown_holders"]) or any(before_end(w) for w in st["waiters"]) or any(
        before_end(h) and not is_ours(h)
        for h in st["holders"])


def _learn(job: Job, result: Result, history: History, met: object, start: float | None,
           end: float) -> None:
    """After the link: its interval (so later links know whom they met) and, for a link
    the policy planned, what it measured, in the pool's summary (docs/policy.md)."""
    from ..policy import learn, remember

    plan = job.extra.get("plan")
    try:
        if start is not None:
            # from when it came, its wait included: a link it waited behind met it
            came = start - max(0.0, result.wait_s)
            history.update_summary(RECENT, lambda summary: remember(summary, came, end))
        if isinstance(plan, dict) and met is not None:
            history.update_summary(str(plan.get("key")), lambda stats: learn(
                stats, int(job.threads or 0), int(plan.get("input_bytes") or 0), result.cpu_s,
                result.run_s, alone=not met, explored=plan.get("explore"),
                share=bool(plan.get("share"))))
    except OSError:
        pass  # a lost measurement, not the build's business
