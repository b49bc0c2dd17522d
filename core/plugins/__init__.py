"""linkpool's built-in behaviour, written as plugins on the hooks of ``linkpool.hookspecs``.

Each is registered under a name, and ``disable = ["name"]`` in the config (or
``LINKPOOL_DISABLE``) switches it off, as for a third-party plugin:

- ``classify``: parses the command line, says link / compile / info, finds the linker;
- ``cost``: estimates a link from its ELF inputs and turns the cost into a weight;
- ``history``: records every job and estimates a repeated link from its last run;
- ``threads``: gives the linker as many threads as the job holds cores;
- ``output-check``: with ``check_output = true``, checks the output is an ELF file.

Below: what ``cost`` and ``history`` both need to know of a link, the files it reads
and the threads it can use (the rule is in ``linkpool.plugins.cost``'s docstring). It
imports nothing of linkpool until a function is called: every run imports this package.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from ..job import Job

SMALL_INPUT = 16 << 20
# Measured with gcc 12: 0.37 MB of LTO objects made one LTRANS partition, 1.9 MB five.
SMALL_LTO_INPUT = 1 << 20


def inputs(job: Job) -> list[str]:
    cmd = job.command
    return [os.path.join(job.cwd, p) for p in (cmd.inputs if cmd is not None else [])]


def threads_wanted(job: Job, input_bytes: int) -> int:
    """The threads the link can use: its linker's, or its LTO jobs if more."""
    cores = max(1, int(job.cores))
    args = job.command.linker_args if job.command is not None else []
    threads = 1
    if job.linker is not None and input_bytes >= SMALL_INPUT:
        threads = int(job.linker.threads_wanted(args, cores))
    return max(threads, lto_jobs(job, input_bytes))


def lto_jobs(job: Job, input_bytes: int) -> int:
    """The parallel LTO code-generation jobs of the link (0: none, or inputs too small)."""
    cmd = job.command
    if cmd is None or cmd.tool not in ("driver", "linker") or input_bytes < SMALL_LTO_INPUT:
        return 0
    from ..linkers import lto_jobs as jobs
    from ..makeflags import announced, of

    cores = max(1, int(job.cores))
    linker = job.linker
    given = None
    if linker is not None and linker.thinlto_follows_threads:
        given = linker.user_threads(cmd.linker_args, cores)
    return int(jobs(cmd.family, cmd.lto, cmd.lto_jobs, cores, given, announced(of(job.env))))
