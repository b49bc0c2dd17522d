"""Record every job in the pool's history, and estimate a repeated link from its last run.

The memory a link adds is its last sampled peak of anonymous memory (``anon_peak_kb``),
with a 10 % margin. A record without one (a link too short to sample) falls back to its
peak RSS less the bytes of its inputs (file-backed pages of the mmapped inputs), never
less than a quarter of the peak.
"""

from __future__ import annotations

import os
import time

from ..hookspecs import hookimpl
from ..job import Cost, Job, Result


def _history(job: Job):  # type: ignore[no-untyped-def]
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
    from .cost import inputs, threads_wanted

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
    if job.pool_dir is None or job.kind not in ("link", "unknown"):
        return
    cost = job.cost
    record = {
        "time": round(time.time(), 3),
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
        "estimate": None if cost is None else {"memory": cost.memory, "threads": cost.threads,
                                               "source": cost.source, **cost.detail},
        "command": job.original,
        **job.extra,
    }
    _history(job).append(record)
