"""Give the linker as many threads as the cores its slots stand for.

Called once the slots are held. A job holding k of N slots on a machine of C usable cores
runs T = max(1, floor(k * C / N)) threads, no more than its linker scales to (mold and lld
``--threads=T``, gold ``--threads --thread-count=T``; bfd has no threads). The option is
added only when T is fewer than the linker would take by itself (mold and lld take every
CPU of the affinity mask, gold one), so a link that holds the whole machine runs the
user's command unchanged. A command that already chooses a thread count is left alone,
and nothing else of the user's command is changed.
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..job import Job


@hookimpl(trylast=True)
def linkpool_tune(job: Job) -> None:
    linker, cmd = job.linker, job.command
    if job.kind != "link" or linker is None or cmd is None or not job.weight or not job.slots:
        return
    if not linker.thread_args(1) or linker.threads_set(cmd.linker_args):
        return
    from ..capacity import affinity_cores
    from ..command import add_linker_args
    from ..policy import threads_for

    threads = min(threads_for(job.weight, job.slots, job.cores),
                  linker.max_threads(max(1, int(job.cores))))
    job.threads = threads
    if threads < linker.max_threads(affinity_cores()):
        job.argv = add_linker_args(cmd, linker.thread_args(threads))
