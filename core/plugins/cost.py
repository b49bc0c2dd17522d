"""Estimate a link from its inputs and turn its cost into a range of weights.

Threads (``linkpool.plugins.threads_wanted``, shared with the history plugin): a link
reading less than ``SMALL_INPUT`` bytes is done by one thread whatever the linker; a
bigger one can use what its linker scales to (``Linker.threads_wanted``: mold and lld
every core, bfd one, gold the count the user gave it, else one). An LTO link reading
``SMALL_LTO_INPUT`` bytes or more can also use its parallel code-generation jobs
(``linkpool.linkers.lto_jobs``: gcc ``-flto=auto`` or ``-flto=jobserver`` every core,
``-flto=N`` N, plain ``-flto`` one; clang ThinLTO every core or the count given); its
threads are the larger of the two.
Memory: the expected memory the link adds, from the section sizes of its inputs
(``linkpool.estimate``). Weight: at the least the slots its memory needs against the
budget (``memory_budget`` x usable memory), at the most the slots its threads need; the
engine takes more than the least only when nobody waits behind (``linkpool.policy``).
For a link whose linker threads linkpool chooses, the pool's summary of past links
(``policy/``) shapes the most it takes and the threads it will run
(``linkpool.policy.plan``, kept in ``job.extra["plan"]`` for the threads plugin and the
history).
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..job import Cost, Job
from ..settings import MEMORY_BUDGET
from . import inputs, lto_jobs, threads_wanted


def budget(job: Job) -> int:
    """The bytes running links may add: the ``memory_budget`` setting x usable memory (0:
    unknown); a job made by hand, without settings, has the setting's default."""
    settings = job.settings
    fraction = settings.memory_budget if settings is not None else MEMORY_BUDGET
    return int(fraction * (job.memory or 0))


@hookimpl(trylast=True)
def linkpool_estimate(job: Job) -> Cost:
    from ..estimate import estimate_inputs, expected_memory

    est = estimate_inputs(inputs(job))
    flavour = job.linker.id if job.linker is not None else "generic"
    detail = {"input_bytes": est.input_bytes, "method": est.method,
              "lto_objects": est.lto_objects, "estimate_s": round(est.seconds, 6)}
    jobs = lto_jobs(job, est.input_bytes)
    if jobs:
        detail["lto_jobs"] = jobs
    return Cost(expected_memory(est, flavour), threads_wanted(job, est.input_bytes), "inputs",
                detail)


def learning_key(job: Job, input_bytes: int) -> str | None:
    """Where the policy's summary keeps what links like this one measured: the linker
    flavour (``+lto`` for a link-time-optimising link) and the input size class. None
    for a link whose threads linkpool does not choose."""
    linker, cmd = job.linker, job.command
    if linker is None or cmd is None or not linker.thread_args(1) \
            or linker.threads_set(cmd.linker_args):
        return None
    from ..policy import size_class

    return f"{linker.id}{'+lto' if cmd.lto else ''}/{size_class(input_bytes)}"


@hookimpl(trylast=True)
def linkpool_weigh(job: Job, cost: Cost) -> int:
    from ..policy import plan, threads_for, weight_range

    low, high = weight_range(cost.threads, cost.memory, job.slots, job.cores, budget(job))
    job.weight_max = high
    if cost.threads <= threads_for(low, job.slots, job.cores) or job.pool_dir is None:
        return low  # its least weight covers every thread it can use: nothing to choose
    size = int(cost.detail.get("input_bytes") or 0)
    key = learning_key(job, size)
    if key is None:
        return low
    if job.settings is not None and "threads" in job.settings.disable:
        return low  # nobody will tune its threads: its weight is the built-in range
    from ..history import History

    history = History(job.pool_dir, 0o666 if job.shared else 0o600)  # a shared pool: ours
    planned = plan(history.summary(key), cost.threads, low, job.slots,
                   job.cores)
    if planned is not None:
        job.weight_max = planned["high"]
        job.extra["plan"] = dict(planned, key=key, input_bytes=size)
    return low
