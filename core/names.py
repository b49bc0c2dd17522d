"""The ground under every other module: what names a program, where ``$PATH`` finds it,
and how linkpool says a line.

- Program names, shared by the command parser and the linker table (which must not know
  each other): ``x86_64-linux-gnu-gcc-12`` -> ``gcc``, ``ld.lld-14`` -> ``ld.lld``; the
  linkers' names by flavour; and the compiler launchers (ccache, sccache, distcc, icecc)
  that may stand in front of a driver.
- The ``$PATH`` search, as the command's own exec will do it.
- ``say``: the one line every linkpool message is, on stderr.

It imports only ``os`` and ``sys`` (both loaded before any module of ours): the wrapper's
start-up path reads it.
"""

from __future__ import annotations

import os
import sys

#: The program names of each linker flavour (less a target prefix and a version suffix),
#: the first being ``ld.FLAVOUR``: what gcc and clang run for ``-fuse-ld=FLAVOUR``. The
#: classes of ``linkpool.linkers`` take their names from here.
LINKER_NAMES: dict[str, tuple[str, ...]] = {
    "bfd": ("ld.bfd",),
    "gold": ("ld.gold", "gold"),
    "lld": ("ld.lld", "lld"),  # bare `lld` is ld.lld only as `lld -flavor gnu`
    "mold": ("ld.mold", "mold"),
}
#: Every linker program name: plain ``ld`` is a linker of some flavour.
LINKERS = frozenset({"ld", *(name for names in LINKER_NAMES.values() for name in names)})
#: What a gcc or clang driver looks for as its linker: ``ld``, ``ld.FLAVOUR``.
DRIVER_LINKERS = ("ld", *(names[0] for names in LINKER_NAMES.values()))

LAUNCHERS = frozenset({"ccache", "sccache", "distcc", "icecc"})
MAX_LAUNCHERS = 4  # `ccache distcc gcc`: launchers in a row, at most this many

# distcc's own commands (its distcc.c): they print something and compile nothing.
_DISTCC_OWN = frozenset({"--help", "--version", "--show-hosts", "-j", "--show-principal",
                         "--scan-includes"})
_ICECC_OWN = frozenset({"--help", "--version", "--build-native"})
# distcc takes the first word for a source or object file, not a compiler, by these
# extensions (its filename.c: dcc_is_source, dcc_is_object).
_DISTCC_FILES = frozenset({"i", "ii", "c", "cc", "cpp", "cxx", "cp", "c++", "C", "m", "mm",
                           "mi", "mii", "M", "s", "S", "o"})


def program_name(path: str) -> str:
    """The basename less a version suffix and a target prefix."""
    name = os.path.basename(path)
    head, _, tail = name.rpartition("-")
    if head and tail[:1].isdigit() and all(c in "0123456789." for c in tail):
        name = head
    return name.rpartition("-")[2]


def split_launchers(argv: list[str]) -> tuple[int, str | None, int]:
    """``(launcher_words, program, args_at)`` of a command line.

    ``argv[:launcher_words]`` are compiler launchers and their own settings; ``program``
    is the word of the program they run (``"cc"`` when distcc is given none), or None
    when the command is a launcher's own (``ccache -s``, ``distcc --version``);
    ``argv[args_at:]`` are the program's arguments. Without a launcher: ``(0, argv[0], 1)``.

    As each tool documents: ``ccache [KEY=VALUE ...] compiler args`` (KEY=VALUE since
    ccache 4.8), an option first is ccache's own command; ``sccache compiler args``, an
    option first is its own; ``distcc [compiler] args``, the compiler is ``cc`` when the
    first word is an option or a source or object file name; ``icecc compiler args``,
    whatever the first word is, but ``--help``, ``--version``, ``--build-native``.
    """
    i, n = 0, len(argv)
    for _ in range(MAX_LAUNCHERS):
        if i >= n:
            return i, None, n
        name = program_name(argv[i])
        if name not in LAUNCHERS:
            break
        j = i + 1
        if name == "ccache":
            while j < n and "=" in argv[j] and not argv[j].startswith("-") \
                    and "/" not in argv[j].partition("=")[0]:
                j += 1
        if j >= n:
            return j, None, n  # the launcher alone: its usage
        word = argv[j]
        if name in ("ccache", "sccache") and word.startswith("-"):
            return j, None, n
        if name == "distcc":
            if word in _DISTCC_OWN:
                return j, None, n
            if word.startswith("-") or ("." in os.path.basename(word)
                                        and word.rpartition(".")[2] in _DISTCC_FILES):
                return j, "cc", j
        if name == "icecc" and word in _ICECC_OWN:
            return j, None, n
        i = j
    return i, argv[i], i + 1


# -- the $PATH search --------------------------------------------------------------------

def path_dirs(env_path: str | None = None) -> list[str]:
    """The directories of a ``$PATH`` value (None: ours, else ``os.defpath``), each ending
    in ``/``. An empty entry is the working directory, as execvp and posix_spawnp take it."""
    if env_path is None:
        env_path = os.environ.get("PATH", os.defpath)
    dirs = [d or "." for d in env_path.split(os.pathsep)]
    return [d if d.endswith("/") else d + "/" for d in dirs]


def search(name: str, prefixes: list[str], cwd: str | None = None) -> str | None:
    """The first ``prefix + name`` that is an executable file (``cwd``: where relative
    names are taken from), or None. A prefix is a directory ending in ``/`` or, as clang's
    ``-B`` allows, the start of a file name."""
    return next((prefix + name for prefix in prefixes if executable(prefix + name, cwd)),
                None)


def find_program(name: str, env_path: str | None = None, cwd: str | None = None) -> str | None:
    """Where the command's exec finds ``name`` on ``env_path`` (None: our ``$PATH``)."""
    return search(name, path_dirs(env_path), cwd)


def find_linkpool() -> str | None:
    """The absolute path of the ``linkpool`` command: beside ``sys.executable`` (the
    environment linkpool is installed in), else on PATH; None if neither has it."""
    beside = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "linkpool")
    if executable(beside):
        return beside
    found = find_program("linkpool")
    return os.path.abspath(found) if found else None


def executable(path: str, cwd: str | None = None) -> bool:
    """Whether ``path`` (relative to ``cwd``) is a file we may execute."""
    full = os.path.join(cwd or "", path)
    try:
        return os.path.isfile(full) and os.access(full, os.X_OK)
    except ValueError:  # a NUL in the name
        return False


# -- messages ----------------------------------------------------------------------------

#: How many lines :func:`say` has said in this process (a plan made while something was
#: said is not reused: the front door would not say it again; ``linkpool.plans``).
said = 0


def say(message: str) -> None:
    """One line on stderr, ``linkpool: MESSAGE``, as every linkpool message is; nothing
    when stderr is closed or gone: the command's outcome is what counts."""
    global said
    said += 1
    try:
        sys.stderr.write(f"linkpool: {message}\n")
        sys.stderr.flush()
    except Exception:
        pass
