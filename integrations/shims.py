"""``linkpool setup shims``: one switch for every gcc- or clang-driven link of an environment.

    export COMPILER_PATH="$(linkpool setup shims)"

makes or refreshes a directory of linker shims (``linkpool.shims``) and prints its
absolute path. gcc and clang look for the linker they run in ``$COMPILER_PATH`` before
their own directories and ``$PATH``, so with that one variable every link of every build
(CMake, Meson, make and Automake with libtool, SCons, setuptools and meson-python under
pip's build isolation, Cargo through ``cc``, test-time sub-builds) waits in the pool, and
no compile passes through linkpool. docs/shims.md has what bypasses it.
"""

from __future__ import annotations

import os
import shlex
from typing import NoReturn

from ..names import say

DESCRIPTION = """\
Make or refresh a directory of linker shims and print its absolute path. In it, each of
ld, ld.bfd, ld.gold, ld.lld and ld.mold that this machine has is a link to linkpool,
which runs the linker the driver would have run without the shims (the rest of
COMPILER_PATH, then PATH). gcc and clang look for their linker in COMPILER_PATH first, so

    export COMPILER_PATH="$(linkpool setup shims)"

sends every link they drive, in every build of that environment, through the pool, and
no compile. For the whole host: `linkpool setup system --install`. docs/shims.md has
the rest (what bypasses the shims, and what to do then).
"""


def _fail(message: str) -> NoReturn:
    from ..configfile import UsageError

    raise UsageError(f"setup shims: {message}")


def setup(args: list[str]) -> int:
    """Write the shims and print their directory; 0 (a usage error: exit 2)."""
    from ..configfile import argument_parser, pool_value
    from ..shims import ShimError, default_dir, write

    parser = argument_parser("linkpool setup shims", DESCRIPTION)
    parser.add_argument("--dir", metavar="DIR",
                        help=f"where the shims go (default: {default_dir()}; root's is "
                             f"the host's, as `setup system` makes it)")
    parser.add_argument("--pool", metavar="DIR", type=pool_value,
                        help="the pool the shims' links wait in (default: $LINKPOOL_DIR, "
                             "the config or the per-user default, read at link time)")
    ns = parser.parse_args(args)
    shim_dir = os.path.abspath(ns.dir or default_dir())
    try:
        linkers = write(shim_dir, os.path.abspath(ns.pool) if ns.pool else None)
    except ShimError as e:
        _fail(str(e))
    except OSError as e:
        _fail(f"cannot write {e.filename or shim_dir}: {e.strerror}")
    print(shim_dir)
    say(f"shims for {', '.join(sorted(linkers))} in {shim_dir}; "
        f"`export COMPILER_PATH={shlex.quote(shim_dir)}` sends every link gcc or clang "
        f"drives through the pool")
    return 0
