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

    env_path = (job.env or os.environ).get("PATH")
    if cmd.tool == "linker":
        path = _which(cmd.program or job.argv[0], env_path, job.cwd)
    else:
        path = linkers.resolve_driver_linker(cmd.family, cmd.fuse_ld, cmd.ld_path, cmd.b_dirs,
                                             env_path, cwd=job.cwd)
    job.linker_path = path
    job.linker = linkers.identify(path) if path else linkers.Generic


def _which(program: str, env_path: str | None, cwd: str) -> str | None:
    if "/" in program:
        return os.path.join(cwd, program)
    for d in (env_path or os.defpath).split(os.pathsep):
        candidate = os.path.join(d or ".", program)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None
