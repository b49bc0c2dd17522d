"""Estimate a link from its inputs and turn its cost into a weight.

Threads: a link reading less than ``SMALL_INPUT`` bytes is done by one thread whatever
the linker; a bigger one can use what its linker scales to (bfd 1, the others every core).
Memory: the expected memory the link adds, from the section sizes of its inputs
(``linkpool.estimate``). Weight: the slots its threads need (a slot stands for
cores / N cores) or the slots its memory needs (a slot stands for budget / N bytes,
budget = ``memory_budget`` x usable memory), whichever is more, within 1..N.
"""

from __future__ import annotations

import math
import os

from ..hookspecs import hookimpl
from ..job import Cost, Job

SMALL_INPUT = 16 << 20
MEMORY_BUDGET = 0.75  # of usable memory; `memory_budget` in the config overrides it


def inputs(job: Job) -> list[str]:
    cmd = job.command
    return [os.path.join(job.cwd, p) for p in (cmd.inputs if cmd is not None else [])]


def threads_wanted(job: Job, input_bytes: int) -> int:
    if job.linker is None or input_bytes < SMALL_INPUT:
        return 1
    return int(job.linker.max_threads(max(1, int(job.cores))))


@hookimpl(trylast=True)
def linkpool_estimate(job: Job) -> Cost:
    from ..estimate import estimate_inputs, expected_memory

    est = estimate_inputs(inputs(job))
    flavour = job.linker.id if job.linker is not None else "generic"
    return Cost(expected_memory(est, flavour), threads_wanted(job, est.input_bytes), "inputs",
                {"input_bytes": est.input_bytes, "method": est.method,
                 "lto_objects": est.lto_objects, "estimate_s": round(est.seconds, 6)})


@hookimpl(trylast=True)
def linkpool_weigh(job: Job, cost: Cost) -> int:
    slots = max(1, job.slots)
    by_threads = math.ceil(cost.threads * slots / max(job.cores, 1.0))
    by_memory = 1
    share = os.environ.get("LINKPOOL_MEMORY_BUDGET") or job.config.get("memory_budget")
    budget = float(share or MEMORY_BUDGET) * (job.memory or 0)
    if budget > 0:
        by_memory = math.ceil(cost.memory * slots / budget)
    return max(1, min(slots, max(by_threads, by_memory)))
