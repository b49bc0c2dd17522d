"""``linkpool setup meson``: a Meson native file that puts every link behind linkpool.

    linkpool setup meson --output FILE [--pool DIR] [--shim-dir DIR]
    meson setup build --native-file "$(linkpool setup meson --output linkpool.ini)"

gcc and clang look for the linker they run (``ld``, or ``ld.NAME`` for ``-fuse-ld=NAME``)
in every ``-B`` directory before anywhere else. The native file adds ``-B<shim dir>`` to
``c_link_args`` and ``cpp_link_args`` (and the Objective-C and Fortran ones); in the shim
directory each of ``ld``, ``ld.bfd``, ``ld.gold``, ``ld.lld`` and ``ld.mold`` that this
machine has is a link to the ``linkpool`` program, which then runs the linker the driver
would have run without the shims (``linkpool.shims``). A choice of linker keeps working: Meson turns
``c_ld = 'mold'`` into ``-fuse-ld=mold`` and the driver finds ``ld.mold`` among the shims.
It is the linker, not the driver, that runs under linkpool, so the engine sees the
linker's own command line (its output, inputs and flavour). Compiles never reach a shim.

The shim directory is not Meson-specific: ``COMPILER_PATH=<shim dir>`` does the same for
every build in an environment that links through gcc or clang (``linkpool setup shims``,
docs/shims.md). Nothing but the shims may live in it: gcc also searches a ``-B`` directory
for libraries and start files.

The file's absolute path is printed on stdout (so ``$(...)`` can use it), a hint on stderr.
"""

from __future__ import annotations

import os
import shlex
from typing import NoReturn

from ..names import say

#: Languages whose compilers drive the link with gcc/clang rules (``<lang>_link_args``).
LANGUAGES = ("c", "cpp", "objc", "objcpp", "fortran")


DESCRIPTION = """\
Write a Meson native file that routes every link through linkpool, and the linker shims
it points at (one per linker this machine has: ld, ld.bfd, ld.gold, ld.lld, ld.mold),
then print the file's absolute path:

    meson setup build --native-file "$(linkpool setup meson --output linkpool.ini)"

or `pip install . -Csetup-args=--native-file=FILE` for meson-python. The file adds
-B<shim dir> to the link arguments of C, C++, Objective-C and Fortran; a choice of linker
(c_ld = 'mold') keeps working. docs/meson.md has the rest.
"""


def setup(args: list[str]) -> int:
    """Write the native file and its shims; 0 (a bad argument or no linker: exit 2)."""
    from ..configfile import argument_parser

    parser = argument_parser("linkpool setup meson", DESCRIPTION,
                             pool="the pool the links wait in (default: $LINKPOOL_DIR, the "
                                  "config or the per-user default, read at link time)")
    parser.add_argument("--output", required=True, metavar="FILE",
                        help="the native file to write (for meson setup --native-file)")
    parser.add_argument("--shim-dir", metavar="DIR",
                        help="where the linker shims go (default: FILE without its suffix, "
                             "plus -shims)")
    ns = parser.parse_args(args)
    output = os.path.abspath(ns.output)
    shim_dir = os.path.abspath(ns.shim_dir or os.path.splitext(output)[0] + "-shims")
    pool = os.path.abspath(ns.pool) if ns.pool else None
    if os.path.isdir(output):
        _fail(f"--output {output} is a directory; name the native file to write")
    from ..shims import ShimError, write

    try:
        linkers = write(shim_dir, pool)
    except ShimError as e:
        _fail(str(e))
    _write(output, native_file(shim_dir, pool))
    print(output)
    say(f"links through {', '.join(sorted(linkers))} in {shim_dir} now wait in "
        f"{'pool ' + pool if pool else 'the linkpool pool'}; use "
        f"`meson setup BUILD --native-file {shlex.quote(output)}` or "
        f"`pip install . -Csetup-args=--native-file={shlex.quote(output)}`")
    return 0


def _fail(message: str) -> NoReturn:
    from ..configfile import UsageError

    raise UsageError(f"setup meson: {message}")


def native_file(shim_dir: str, pool: str | None) -> str:
    """The native file's text: ``-B<shim_dir>`` for every gcc/clang-style link."""
    lines = [
        "# Written by `linkpool setup meson`: every link that gcc or clang drives goes",
        "# through linkpool (the driver finds the linker among the shims of the -B directory).",
        f"# Pool: {pool or '$LINKPOOL_DIR, else the config file, else the per-user default'}.",
        "# Use: meson setup BUILD --native-file THIS_FILE",
        "# With a native file of your own, give this one last (a later file wins per option),",
        "# or set <lang>_link_args = linkpool_link_args + [...] in yours, given after this one.",
        "",
        "[constants]",
        f"linkpool_link_args = [{_meson_string('-B' + shim_dir)}]",
        "",
        "[built-in options]",
        *(f"{lang}_link_args = linkpool_link_args" for lang in LANGUAGES),
        "",
    ]
    return "\n".join(lines)


def _meson_string(text: str) -> str:
    """A Meson string literal."""
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _write(path: str, text: str, mode: int | None = None) -> None:
    """Replace ``path`` atomically (a build reading it sees the old or the new file)."""
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as file:
            file.write(text)
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.lexists(tmp):
            os.unlink(tmp)
        raise
