"""Understand the command: what it does, what it writes, which linker it runs."""

from __future__ import annotations

import os

from ..hookspecs import hookimpl
from ..job import Job


@hookimpl(trylast=True)
def linkpool_classify(job: Job) -> str:
    from ..command import CommandError, parse

    try:
        cmd = parse(job.argv, job.cwd)
    except CommandError:
        return "unknown"  # e.g. a response-file loop: the tool itself will say so
    job.command = cmd
    if cmd.output:
        job.output = os.path.normpath(os.path.join(job.cwd, cmd.output))
    if cmd.launcher:  # for the history: ccache, distcc, ... in front of the driver
        job.extra["launcher"] = cmd.launcher
    if cmd.lto or cmd.lto_jobs:
        job.extra.update(lto=cmd.lto, lto_jobs=cmd.lto_jobs)
    return cmd.kind if cmd.tool != "unknown" else "unknown"


@hookimpl(trylast=True)
def linkpool_choose_linker(job: Job) -> None:
    cmd = job.command
    if job.linker is not None or cmd is None or job.kind != "link":
        return
    from .. import linkers
    from ..names import find_program

    env_path = (job.env or os.environ).get("PATH")
    if cmd.tool == "linker":
        program = cmd.program or job.argv[0]
        path = os.path.join(job.cwd, program) if "/" in program else \
            find_program(program, env_path, job.cwd)
    else:
        path = linkers.resolve_driver_linker(cmd.family, cmd.fuse_ld, cmd.ld_path, cmd.b_dirs,
                                             env_path, cwd=job.cwd)
    job.linker_path = path
    job.linker = linkers.identify(path) if path else linkers.Generic

