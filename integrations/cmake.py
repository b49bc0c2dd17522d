"""``linkpool setup cmake``: the CMake flags that put every link behind linkpool.

    eval "cmake -S . -B build $(linkpool setup cmake)"   # or paste what it prints

CMake 3.21 and later run ``CMAKE_<LANG>_LINKER_LAUNCHER`` in front of every link of a C
or C++ target (executables, shared and MODULE libraries) with the Ninja and Makefile
generators; static libraries are archived, not linked, and do not use it. The launcher
is a CMake list, so ``--pool DIR`` becomes ``linkpool;run;--pool;DIR;--``: the pool is
fixed in the build tree and no environment variable has to reach the build.
"""

from __future__ import annotations

import os
import shlex

from . import find_linkpool

#: Languages whose links the printed flags cover (CMake >= 3.21; CMake 4.1 added
#: CUDA, Fortran and HIP, which ``--lang`` can name).
LANGUAGES = ("C", "CXX")
USAGE = "usage: linkpool setup cmake [--pool DIR] [--lang C,CXX,...]"


def launcher(pool: str | None = None) -> list[str]:
    """The launcher command line: ``linkpool``, or ``linkpool run --pool DIR --``."""
    program = find_linkpool() or "linkpool"
    return [program, "run", "--pool", os.path.abspath(pool), "--"] if pool else [program]


def flags(pool: str | None = None, languages: tuple[str, ...] = LANGUAGES) -> list[str]:
    """``-DCMAKE_<LANG>_LINKER_LAUNCHER=...`` for each language, one argument each."""
    value = ";".join(launcher(pool))
    return [f"-DCMAKE_{lang}_LINKER_LAUNCHER={value}" for lang in languages]


def setup(args: list[str]) -> int:
    """Print the flags on one line, quoted for a POSIX shell."""
    from ..cli import UsageError

    pool: str | None = None
    languages: tuple[str, ...] = LANGUAGES
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        if arg in ("-h", "--help"):
            print(USAGE)
            return 0
        name, eq, value = arg.partition("=")
        if name not in ("--pool", "--lang"):
            raise UsageError(f"unknown option {arg} for setup cmake")
        if not eq:
            if not rest:
                raise UsageError(f"{name} needs a value")
            value = rest.pop(0)
        if name == "--pool":
            pool = value
        else:
            languages = tuple(x.strip().upper() for x in value.split(",") if x.strip())
    if pool is not None and ";" in pool:
        raise UsageError(f"a pool path for CMake cannot contain ';': {pool}")
    print(" ".join(shlex.quote(flag) for flag in flags(pool, languages)))
    return 0
