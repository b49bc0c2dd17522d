"""Give the linker as many threads as the cores its slots stand for.

A job holding k of N slots on a machine of C usable cores runs max(1, round(k * C / N))
threads (mold and lld ``--threads=T``, gold ``--threads --thread-count=T``; bfd has no
threads). A command that already chooses a thread count is left alone, and nothing else
of the user's command is changed.
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
    from ..capacity import threads_for
    from ..command import add_linker_args

    threads = min(threads_for(job.weight, job.slots, job.cores),
                  linker.max_threads(max(1, int(job.cores))))
    job.threads = threads
    job.argv = add_linker_args(cmd, linker.thread_args(threads))
