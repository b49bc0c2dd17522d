"""Program names, shared by the command parser and the linker table (which must not know
each other): ``x86_64-linux-gnu-gcc-12`` -> ``gcc``, ``ld.lld-14`` -> ``ld.lld``."""

from __future__ import annotations

import os


def program_name(path: str) -> str:
    """The basename less a version suffix and a target prefix."""
    name = os.path.basename(path)
    head, _, tail = name.rpartition("-")
    if head and tail[:1].isdigit() and all(c in "0123456789." for c in tail):
        name = head
    return name.rpartition("-")[2]
