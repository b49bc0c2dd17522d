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


def launcher(pool: str | None = None) -> list[str]:
    """The launcher command line: ``linkpool``, or ``linkpool run --pool DIR --``."""
    program = find_linkpool() or "linkpool"
    return [program, "run", "--pool", os.path.abspath(pool), "--"] if pool else [program]


def flags(pool: str | None = None, languages: tuple[str, ...] = LANGUAGES) -> list[str]:
    """``-DCMAKE_<LANG>_LINKER_LAUNCHER=...`` for each language, one argument each."""
    value = ";".join(launcher(pool))
    return [f"-DCMAKE_{lang}_LINKER_LAUNCHER={value}" for lang in languages]


DESCRIPTION = """\
Print the -DCMAKE_<LANG>_LINKER_LAUNCHER=... flags that make CMake (3.21 or later, Ninja
and Makefile generators) run every link of a C or C++ target through linkpool, quoted
for a POSIX shell on one line:

    eval "cmake -S . -B build $(linkpool setup cmake)"

or CMAKE_ARGS="$(linkpool setup cmake)" for scikit-build-core. Static libraries are
archived, not linked, and are left alone. docs/cmake.md has the rest.
"""


def setup(args: list[str]) -> int:
    """Print the flags on one line, quoted for a POSIX shell."""
    from ..configfile import UsageError, argument_parser

    parser = argument_parser("linkpool setup cmake", DESCRIPTION,
                             pool="fix the pool in the build tree (the launcher becomes "
                                  "`linkpool run --pool DIR --`); default: the pool each link "
                                  "finds ($LINKPOOL_DIR, the config file, the per-user default)")
    parser.add_argument("--lang", metavar="C,CXX,...",
                        help="the languages whose links go through linkpool (default C,CXX; "
                             "CMake 4.1 adds CUDA, Fortran, HIP)")
    ns = parser.parse_args(args)
    pool: str | None = ns.pool
    languages: tuple[str, ...] = LANGUAGES
    if ns.lang is not None:
        languages = tuple(x.strip().upper() for x in ns.lang.split(",") if x.strip())
        if not languages:
            raise UsageError("setup cmake: --lang needs at least one language, e.g. C,CXX")
    if pool is not None and ";" in pool:
        raise UsageError(f"setup cmake: a pool path for CMake cannot contain ';': {pool}")
    print(" ".join(shlex.quote(flag) for flag in flags(pool, languages)))
    return 0
