"""Give the linker, and a link-time optimiser, the threads the policy chose for the slots
the link holds.

Called once the slots are held. How many threads a link runs is the policy's rule, stated
once in docs/policy.md; here it is ``linkpool.policy.threads_planned`` with the plan the
``cost`` plugin made (``job.extra["plan"]``), no more than the linker scales to. The
option (``--threads=T`` for mold and lld) is added only when T is fewer than the linker
would take by itself (``Linker.max_threads`` of the affinity mask's CPUs), so a link
that may use them all runs the user's command unchanged; gold, whose threads linkpool
never turns on, and bfd get none. A command that already chooses a thread count is left
alone, and nothing else of the user's command is changed.

LTO (docs/policy.md, "LTO links"): a clang ThinLTO link through lld gets
``--thinlto-jobs=T`` beside ``--threads=T``; a gcc ``-flto=auto`` link gets ``-flto=T``
after the user's options, when 2 <= T < the CPUs gcc would take (gcc warns "using serial
compilation" at ``-flto=1``, so T = 1 leaves the command alone). A count the user chose
(``-flto=N``, ``-flto-jobs=N``, ``--thinlto-jobs=N``) and ``-flto=jobserver`` are left
alone.

Under a jobserver (``linkpool.plugins.jobserver``) ``job.thread_cap`` is what the build's
tokens allow: T is then no more than that, so a link that
found no free token runs ``--threads=1`` even where it holds the whole machine (the option
is added whenever T is fewer than the linker would take), and ThinLTO follows.
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..job import Job


@hookimpl(trylast=True)
def linkpool_tune(job: Job) -> None:
    linker, cmd = job.linker, job.command
    if job.kind != "link" or cmd is None or not job.weight or not job.slots:
        return
    from ..capacity import affinity_cores
    from ..command import add_linker_args
    from ..linkers import gcc_lto_args
    from ..makeflags import announced, of
    from ..policy import threads_planned

    # The cores its slots stand for, or what the policy learnt (docs/policy.md; the plan
    # is made by the cost plugin from the pool's summary of past links)
    share = threads_planned(job.extra.get("plan"), job.weight, job.slots, job.cores)
    if linker is not None and linker.thread_args(1) and not linker.threads_set(cmd.linker_args):
        threads = min(share, linker.max_threads(max(1, int(job.cores))))
        if job.thread_cap is not None:  # the build's jobserver allows no more
            threads = max(1, min(threads, job.thread_cap))
        job.threads = threads
        if threads < linker.max_threads(affinity_cores()):
            args = linker.thread_args(threads)
            if linker.thinlto_follows_threads and cmd.family == "clang" \
                    and cmd.lto == "-flto=thin" and cmd.lto_jobs is None:
                args.append(f"--thinlto-jobs={threads}")  # what lld's --threads implies
                job.extra["lto_threads"] = threads
            job.argv = add_linker_args(cmd, args)
    extra = gcc_lto_args(cmd.family, cmd.lto, cmd.lto_jobs, share, affinity_cores(),
                         announced(of(job.env)))
    if extra:
        # After the user's -flto=auto: gcc's current lto-wrapper takes the link line's last
        # -flto=; gcc 12 prefers auto whatever the order, so there it changes nothing.
        job.argv = [*job.argv, *extra]
        job.extra["lto_threads"] = share
