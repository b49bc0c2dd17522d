"""Linker shims: the directory that puts every gcc- or clang-driven link behind linkpool.

A gcc or clang driver runs its linker, ``ld`` or ``ld.NAME`` for ``-fuse-ld=NAME``, from
the first directory that has it among its ``-B`` directories, then ``$COMPILER_PATH``,
then its own and ``$PATH``'s. A shim directory holds, for each of ``ld``, ``ld.bfd``,
``ld.gold``, ``ld.lld`` and ``ld.mold`` that the machine has, a symlink to the
``linkpool`` program (the C front door), and the file :data:`SHIM_FILE`. Called by one of
those names, the front door finds the linker the driver would have run without the shims
(the rest of ``$COMPILER_PATH``, then ``$PATH``, never a shim) and runs it as
``linkpool run -- LINKER ARGS...``. So ``export COMPILER_PATH=$(linkpool setup shims)``
routes every link of every build in that environment through the pool, and no compile.

:data:`SHIM_FILE` holds a comment, ``pool=DIR`` when the shims name a pool, and
``NAME=PATH`` for each linker as it was found when the shims were written (used only
when the search finds none). Nothing else may live in a shim directory: a driver looks
there for every program it runs and, as a ``-B`` directory, for libraries and start files.
docs/shims.md has the rest.
"""

from __future__ import annotations

import os

from .names import DRIVER_LINKERS, find_linkpool, path_dirs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping

#: The file that makes a directory a shim directory (read by core/frontdoor/main.c).
SHIM_FILE = ".linkpool-shims"
#: The linker names a shim directory may hold: what gcc and clang look up.
NAMES = DRIVER_LINKERS
#: The first line of a shim script of linkpool 0.x (a POSIX sh script, not a symlink).
SCRIPT_MARK = b"# linkpool-shim:"
#: Where ``setup system`` puts the host's shims, and root's default.
SYSTEM_DIR = "/usr/local/lib/linkpool/shims"


class ShimError(Exception):
    """The shims cannot be written here (one line: what is wrong, what to do)."""


def default_dir(env: Mapping[str, str] | None = None) -> str:
    """Root's :data:`SYSTEM_DIR`; a user's ``$XDG_DATA_HOME/linkpool/shims`` (else
    ``~/.local/share/linkpool/shims``): a place that stays when builds come and go."""
    if os.geteuid() == 0:
        return SYSTEM_DIR
    env = os.environ if env is None else env
    data = env.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(data, "linkpool", "shims")


def is_shim_dir(directory: str) -> bool:
    """Whether ``directory`` is a shim directory (of any linkpool)."""
    return os.path.lexists(os.path.join(directory, SHIM_FILE))


def is_front_door(path: str) -> bool:
    """Whether ``path`` is (a link to) a ``linkpool`` program: a file named linkpool with
    linkpool-py beside it."""
    real = os.path.realpath(path)
    return (os.path.basename(real) == "linkpool"
            and os.path.isfile(os.path.join(os.path.dirname(real), "linkpool-py")))


def is_shim(path: str) -> bool:
    """Whether running ``path`` would run linkpool: it is in a shim directory, is a link
    to a ``linkpool`` program, or is a shim script of an older linkpool."""
    if is_shim_dir(os.path.dirname(os.path.abspath(path))) or is_front_door(path):
        return True
    try:
        with open(path, "rb") as file:
            return SCRIPT_MARK in file.read(512)
    except OSError:
        return False


def find_real_linker(name: str, shim_dir: str, env_path: str | None = None) -> str | None:
    """The first ``name`` on ``PATH`` that is neither in ``shim_dir`` nor a shim."""
    shim_real = os.path.realpath(shim_dir)
    for directory in path_dirs(env_path):
        candidate = os.path.abspath(directory + name)
        if not (os.path.isfile(candidate) and os.access(candidate, os.X_OK)):
            continue
        if os.path.realpath(directory) == shim_real or is_shim(candidate):
            continue  # running it would run linkpool again, and again
        return candidate
    return None


def front_door() -> str:
    """The absolute path of the installed ``linkpool`` program, which the shims link to."""
    program = find_linkpool()
    if program is None or not is_front_door(program):
        raise ShimError("cannot find the installed `linkpool` program (the shims link to it); "
                        "install linkpool with pip, or run `bash scripts/setup.sh` in a clone")
    return os.path.abspath(program)


def shim_file_text(linkers: Mapping[str, str], pool: str | None) -> str:
    """The text of :data:`SHIM_FILE`."""
    lines = ["# linkpool shims (written by `linkpool setup shims`; do not edit): "
             "docs/shims.md"]
    if pool:
        lines.append(f"pool={pool}")
    lines += [f"{name}={path}" for name, path in sorted(linkers.items())]
    return "\n".join(lines) + "\n"


def read_shim_file(directory: str) -> dict[str, str]:
    """The ``KEY=VALUE`` lines of a shim directory's :data:`SHIM_FILE` ({} if none)."""
    try:
        fd = os.open(os.path.join(directory, SHIM_FILE),
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return {}
    try:
        text = os.read(fd, 65536).decode("utf-8", "replace")
    finally:
        os.close(fd)
    pairs = (line.partition("=") for line in text.splitlines() if not line.startswith("#"))
    return {key: value for key, eq, value in pairs if eq}


def write(shim_dir: str, pool: str | None = None,
          env_path: str | None = None) -> dict[str, str]:
    """Make or refresh the shims in ``shim_dir``: one for each linker found on ``PATH``
    (shims of linkers gone are removed), and :data:`SHIM_FILE`. Returns the linkers.

    Raises ShimError, and changes nothing, when there is no linker, when a file that is
    not a shim has a shim's name, or when a path cannot be written in the shim file."""
    shim_dir = os.path.abspath(shim_dir)
    program = front_door()
    linkers = {name: real for name in NAMES
               if (real := find_real_linker(name, shim_dir, env_path)) is not None}
    if not linkers:
        raise ShimError(f"no linker ({', '.join(NAMES)}) found on PATH; install binutils")
    for path in [shim_dir, program, *linkers.values(), *([pool] if pool else [])]:
        if "\n" in path:
            raise ShimError(f"a path with a newline cannot be written in {SHIM_FILE}: "
                            f"{path!r}")
    if os.path.lexists(shim_dir) and not os.path.isdir(shim_dir):
        raise ShimError(f"{shim_dir} exists and is not a directory; choose another --dir")
    for name in NAMES:
        path = os.path.join(shim_dir, name)
        if os.path.lexists(path) and not is_shim(path) and not _stale_link(path):
            raise ShimError(f"{path} exists and is not a linkpool shim (a driver would run "
                            f"it); move it away or choose another --dir")
    os.makedirs(shim_dir, mode=0o755, exist_ok=True)
    _replace(os.path.join(shim_dir, SHIM_FILE), shim_file_text(linkers, pool))
    for name in NAMES:
        path = os.path.join(shim_dir, name)
        if name in linkers:
            if not (os.path.islink(path) and os.readlink(path) == program):
                tmp = os.path.join(shim_dir, f".{name}.{os.getpid()}.tmp")
                os.symlink(program, tmp)
                os.replace(tmp, path)
        elif os.path.lexists(path):
            os.unlink(path)  # the driver finds nothing here and goes on, as without us
    return linkers


def _stale_link(path: str) -> bool:
    """A symlink whose target is gone that was a shim: named ``linkpool``."""
    return os.path.islink(path) and not os.path.exists(path) \
        and os.path.basename(os.readlink(path)) == "linkpool"


def _replace(path: str, text: str) -> None:
    """Write ``path`` atomically, mode 0644 (a link reading it sees the old or the new)."""
    tmp = f"{path}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o644)
    try:
        os.write(fd, text.encode())
        os.fchmod(fd, 0o644)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)


# -- which route a link takes --------------------------------------------------------------


def compiler_path_shims(env: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """The first shim directory of ``$COMPILER_PATH``, and the directories before it that
    hold a linker of their own (a driver runs theirs, not the shims)."""
    before: list[str] = []
    for entry in (env.get("COMPILER_PATH") or "").split(":"):
        if not entry:
            continue
        if is_shim_dir(entry):
            return os.path.abspath(entry), before
        if any(_runnable(os.path.join(entry, name)) for name in NAMES):
            before.append(entry)
    return None, before


def _runnable(path: str) -> bool:
    return os.path.isfile(path) and os.access(path, os.X_OK)
