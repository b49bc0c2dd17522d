"""``linkpool setup meson``: a Meson native file that puts every link behind linkpool.

    linkpool setup meson --output FILE [--pool DIR] [--shim-dir DIR]
    meson setup build --native-file "$(linkpool setup meson --output linkpool.ini)"

gcc and clang look for the linker they run (``ld``, or ``ld.NAME`` for ``-fuse-ld=NAME``)
in every ``-B`` directory before anywhere else. The native file adds ``-B<shim dir>`` to
``c_link_args`` and ``cpp_link_args`` (and the Objective-C and Fortran ones); in the shim
directory each of ``ld``, ``ld.bfd``, ``ld.gold``, ``ld.lld`` and ``ld.mold`` that this
machine has is a small script::

    exec /path/to/linkpool run [--pool DIR] -- /usr/bin/ld.mold "$@"

with the real linker resolved now, on ``PATH`` but never in the shim directory and never
another shim, so a shim cannot run itself. A choice of linker keeps working: Meson turns
``c_ld = 'mold'`` into ``-fuse-ld=mold`` and the driver finds ``ld.mold`` among the shims.
It is the linker, not the driver, that runs under linkpool, so the engine sees the
linker's own command line (its output, inputs and flavour). Compiles never reach a shim.

The shim directory is not Meson-specific: ``LDFLAGS=-B<shim dir>`` does the same for any
build that links through gcc or clang. Nothing but the shims may live in it: gcc also
searches a ``-B`` directory for libraries and start files.

The file's absolute path is printed on stdout (so ``$(...)`` can use it), a hint on stderr.
"""

from __future__ import annotations

import os
import shlex
from typing import NoReturn

from ..names import DRIVER_LINKERS, path_dirs, say
from . import linkpool_command

#: The linker names gcc and clang look up in a -B directory (``-fuse-ld=NAME`` -> ld.NAME).
LINKER_NAMES = DRIVER_LINKERS
#: Languages whose compilers drive the link with gcc/clang rules (``<lang>_link_args``).
LANGUAGES = ("c", "cpp", "objc", "objcpp", "fortran")
#: In the first lines of every shim: how a shim is told from a real linker.
MARK = "# linkpool-shim:"
#: The shims a link passes through, ``:``-separated: a shim found here runs itself (a loop).
CHAIN = "LINKPOOL_SHIM_CHAIN"


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
    from ..configfile import argument_parser, pool_value

    parser = argument_parser("linkpool setup meson", DESCRIPTION)
    parser.add_argument("--output", required=True, metavar="FILE",
                        help="the native file to write (for meson setup --native-file)")
    parser.add_argument("--pool", metavar="DIR", type=pool_value,
                        help="the pool the links wait in (default: $LINKPOOL_DIR, the config "
                             "or the per-user default, read at link time)")
    parser.add_argument("--shim-dir", metavar="DIR",
                        help="where the linker shims go (default: FILE without its suffix, "
                             "plus -shims)")
    ns = parser.parse_args(args)
    output = os.path.abspath(ns.output)
    shim_dir = os.path.abspath(ns.shim_dir or os.path.splitext(output)[0] + "-shims")
    pool = os.path.abspath(ns.pool) if ns.pool else None
    if os.path.isdir(output):
        _fail(f"--output {output} is a directory; name the native file to write")
    linkers = {name: real for name in LINKER_NAMES
               if (real := find_real_linker(name, shim_dir)) is not None}
    if not linkers:
        _fail(f"no linker ({', '.join(LINKER_NAMES)}) found on PATH; install binutils")
    write_shims(shim_dir, linkers, linkpool_command(), pool)
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




def is_shim(path: str) -> bool:
    """Whether ``path`` is a script written by this module (of any shim directory)."""
    try:
        with open(path, "rb") as file:
            head = file.read(512)
    except OSError:
        return False
    return MARK.encode() in head


def find_real_linker(name: str, shim_dir: str, env_path: str | None = None) -> str | None:
    """The first ``name`` on ``PATH`` that is neither in ``shim_dir`` nor a shim."""
    shim_real = os.path.realpath(shim_dir)
    for directory in path_dirs(env_path):
        candidate = os.path.abspath(directory + name)
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        real = os.path.realpath(candidate)
        if os.path.realpath(directory) == shim_real \
                or os.path.dirname(real) == shim_real or is_shim(real):
            continue  # a shim: running it would run linkpool again, and again
        return candidate
    return None


def shim_script(name: str, real: str, shim_path: str, launcher: list[str],
                pool: str | None) -> str:
    """A POSIX sh script that runs ``real`` with its arguments through linkpool."""
    run = [*launcher, "run", *(["--pool", pool] if pool else []), "--", real]
    me = shlex.quote(shim_path)
    loop = (f"linkpool: {shim_path} would run itself again (through {real}); "
            f"run `linkpool setup meson` again")
    return (
        "#!/bin/sh\n"
        f"{MARK} {name} -> {real} (written by `linkpool setup meson`; do not edit)\n"
        f'case ":${{{CHAIN}-}}:" in\n'
        f"*:{me}:*)\n"
        f"    echo {shlex.quote(loop)} >&2\n"
        "    exit 126 ;;\n"
        "esac\n"
        f'{CHAIN}="${{{CHAIN}:+${CHAIN}:}}"{me}\n'
        f"export {CHAIN}\n"
        f'exec {" ".join(shlex.quote(word) for word in run)} "$@"\n'
    )


def write_shims(shim_dir: str, linkers: dict[str, str], launcher: list[str],
                pool: str | None) -> None:
    """One shim per found linker in ``shim_dir``; stale shims of missing linkers go."""
    os.makedirs(shim_dir, exist_ok=True)
    for name in LINKER_NAMES:
        path = os.path.join(shim_dir, name)
        if name in linkers:
            _write(path, shim_script(name, linkers[name], path, launcher, pool), mode=0o755)
        elif os.path.lexists(path) and is_shim(path):
            os.unlink(path)  # gcc would find nothing there and go on to PATH, as without us


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
