"""Optionally check that a successful link wrote an ELF file (the ``check_output`` setting:
``check_output = true`` in the config, or ``LINKPOOL_CHECK_OUTPUT=1``).

A link that exits 0 but leaves no ELF output is recorded (``output_check`` in the
history) and reported with one line on stderr while stderr is still the caller's.
"""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..job import Job, Result
from ..names import say

ELF_TYPES = {1: "relocatable", 2: "executable", 3: "shared object"}


def check(path: str) -> str | None:
    """None when ``path`` starts like an ELF file of a linkable type, else what is wrong."""
    try:
        with open(path, "rb") as f:
            head = f.read(18)
    except OSError as e:
        return f"cannot read it: {e.strerror}"
    if len(head) < 18 or head[:4] != b"\x7fELF":
        return "it is not an ELF file"
    e_type = int.from_bytes(head[16:18], "little" if head[5] == 1 else "big")
    return None if e_type in ELF_TYPES else f"its ELF type is {e_type}"


@hookimpl
def linkpool_after_link(job: Job, result: Result) -> None:
    if job.settings is None or not job.settings.check_output:
        return
    if result.status != 0 or job.kind != "link" or not job.output:
        return
    problem = check(job.output)
    job.extra["output_check"] = problem or "ok"
    if problem:
        say(f"warning: the link succeeded but {job.output}: {problem}")
