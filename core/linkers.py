"""Linker flavours: one small class each, read like a table (after Meson's linkers.py).

A flavour says what it is called, what its ``--version`` banner says, how to set its
thread count, which user options already chose one, and its quirks. Everything is a
class attribute or classmethod: ``identify`` returns the class itself. This module
knows nothing of command lines (command.py) or of slots (pool.py); the flavours' program
names are in ``linkpool.names``, which the command parser reads too.

    flavour = identify(resolve_driver_linker("gcc", "mold", None, [], os.environ["PATH"]))
    if not flavour.threads_set(user_linker_args):
        extra = flavour.thread_args(flavour.max_threads(cores))
"""

from __future__ import annotations

import os

from .makeflags import announced as jobserver_announced  # here too: plugins import it here
from .names import LINKER_NAMES, executable, find_program, path_dirs, program_name, search

__all__ = ["FLAVOURS", "Bfd", "Generic", "Gold", "Linker", "Lld", "Mold", "flavour_from_name",
           "gcc_lto_args", "identify", "jobserver_announced", "lto_jobs",
           "resolve_driver_linker"]

VERSION_TIMEOUT = 5.0  # seconds for `linker --version`, run only when nothing else tells


class Linker:
    """The base: a linker we know nothing about takes no thread option."""

    id = "generic"
    names: tuple[str, ...] = ()  # program names, less a target prefix and a version suffix
    banner = ""  # found in the first line of `--version`
    thread_options: frozenset[str] = frozenset()  # user options (dashes off) that set threads
    forks_child = False  # the linker's work outlives the process the caller started
    # its --threads=N also sets its ThinLTO job count (lld: "--threads= ... provides the
    # default value for --thinlto-jobs=")
    thinlto_follows_threads = False

    @classmethod
    def thread_args(cls, n: int) -> list[str]:
        """Options that make it link with ``n`` threads (none if it cannot)."""
        return []

    @classmethod
    def max_threads(cls, cores: int) -> int:
        """The most threads worth giving it on ``cores`` cores."""
        return max(1, cores)

    @classmethod
    def threads_wanted(cls, linker_args: list[str], cores: int) -> int:
        """The threads this link will use: the count the user's options give, else what
        the linker scales to on ``cores`` cores."""
        given = cls.user_threads(linker_args, cores)
        return given if given else cls.max_threads(cores)

    @classmethod
    def user_threads(cls, linker_args: list[str], cores: int) -> int | None:
        """The thread count the user's options set (the last one wins), if any: a bare
        ``--threads`` means every core, ``--no-threads`` one."""
        count = None
        for i, arg in enumerate(linker_args):
            name, eq, value = arg.lstrip("-").partition("=")
            if not arg.startswith("-") or name not in cls.thread_options:
                continue
            if not eq and name == "thread-count" and i + 1 < len(linker_args):
                value = linker_args[i + 1]  # gold also takes `--thread-count N`
            if name == "no-threads":
                count = 1
            elif value.isdigit() and int(value) > 0:
                count = int(value)
            elif name == "threads" and not eq:
                count = max(1, cores)
        return count

    @classmethod
    def threads_set(cls, linker_args: list[str]) -> bool:
        """Whether the user's linker arguments already choose threading.

        Any thread option counts, bare ``--threads`` too: the caller's options go before
        the user's, so the user's would override them anyway.
        """
        return any(arg.startswith("-") and arg.lstrip("-").partition("=")[0]
                   in cls.thread_options for arg in linker_args)

    @classmethod
    def leaves_child(cls, linker_args: list[str]) -> bool:
        """Whether a child process goes on after the linker process exits."""
        return cls.forks_child


class Bfd(Linker):
    """GNU ld (BFD): single-threaded, no thread option at all."""

    id, names, banner = "bfd", LINKER_NAMES["bfd"], "GNU ld"

    @classmethod
    def max_threads(cls, cores: int) -> int:
        return 1


class Gold(Linker):
    """GNU gold: single-threaded unless told (its --help: "--no-threads ... (default)")."""

    id, names, banner = "gold", LINKER_NAMES["gold"], "GNU gold"
    thread_options = frozenset({"threads", "no-threads", "thread-count", "thread-count-initial",
                                "thread-count-middle", "thread-count-final"})

    @classmethod
    def thread_args(cls, n: int) -> list[str]:
        return ["--threads", f"--thread-count={n}"]

    @classmethod
    def max_threads(cls, cores: int) -> int:
        # One unless the user asks: gold's threads are off by default, and turning them on
        # may change the order of its diagnostics (docs/hardening.md), so we never do.
        return 1


class Lld(Linker):
    """LLVM lld. Bare `lld` is ld.lld only as `lld -flavor gnu`. lld 14 has no
    --no-threads (older lld had); `--threads N` and `--threads=N` both work."""

    id, names, banner = "lld", LINKER_NAMES["lld"], "LLD"
    thread_options = frozenset({"threads", "no-threads"})
    thinlto_follows_threads = True

    @classmethod
    def thread_args(cls, n: int) -> list[str]:
        return [f"--threads={n}"]


class Mold(Linker):
    """mold. It forks by default (--fork): the parent exits once the output is written and
    a child finishes the teardown, so the link's cost outlives the process we started.
    `--threads N` is bare --threads then an input file named N; use --threads=N."""

    id, names, banner = "mold", LINKER_NAMES["mold"], "mold"
    thread_options = frozenset({"threads", "no-threads", "thread-count"})
    forks_child = True

    @classmethod
    def thread_args(cls, n: int) -> list[str]:
        return [f"--threads={n}"]

    @classmethod
    def max_threads(cls, cores: int) -> int:
        return max(1, min(cores, 32))  # its man page: "doesn't scale well beyond" 32

    @classmethod
    def leaves_child(cls, linker_args: list[str]) -> bool:
        forks = True  # the last of --fork / --no-fork wins
        for arg in linker_args:
            if arg.startswith("-") and arg.lstrip("-") in ("fork", "no-fork"):
                forks = arg.lstrip("-") == "fork"
        return forks


class Generic(Linker):
    """Fallback for a linker nothing identifies."""


# -- link-time optimisation -------------------------------------------------------------
#
# An LTO link runs its code generation as parallel jobs of its own, beside the linker's
# threads. gcc (lto-wrapper): plain -flto runs its LTRANS jobs one after another unless
# make's jobserver is reachable (then it asks make); -flto=auto asks the jobserver or runs
# as many jobs as CPUs in its affinity mask; -flto=jobserver asks make (auto without a
# jobserver); -flto=N runs N. clang: -flto and -flto=full generate code in one partition
# (lld --lto-partitions=1); -flto=thin runs ThinLTO backend jobs in the linker, one per
# physical core unless --thinlto-jobs / -flto-jobs (or lld's --threads) say otherwise.

def lto_jobs(family: str | None, lto: str | None, user_jobs: str | None, cores: int,
             linker_threads: int | None = None, jobserver: bool = False) -> int:
    """The code-generation jobs an LTO link runs in parallel on ``cores`` cores (0: the
    command line shows no LTO). ``family``: "gcc" or "clang"; ``lto``: the -flto option
    in force; ``user_jobs``: the count the user chose (``Command.lto_jobs``);
    ``linker_threads``: the thread count the user gave a linker whose ThinLTO follows its
    threads (lld); ``jobserver``: make's jobserver is announced to the link."""
    if user_jobs is not None:  # gcc -flto=0 is serial; lld --thinlto-jobs=0 or =all, every core
        if user_jobs.isdigit() and (int(user_jobs) > 0 or family == "gcc"):
            return max(1, int(user_jobs))
        return max(1, cores)
    if lto is None:
        return 0
    mode = lto.partition("=")[2]
    if family == "clang":
        if mode != "thin":
            return 1
        return linker_threads or max(1, cores)
    if mode in ("auto", "jobserver") or jobserver:
        return max(1, cores)
    return 1  # plain -flto: serial LTRANS (-flto=N came as user_jobs)


def gcc_lto_args(family: str | None, lto: str | None, user_jobs: str | None, jobs: int,
                 own: int, jobserver: bool) -> list[str]:
    """What to append to a gcc link so that its LTRANS runs ``jobs`` jobs, where gcc by
    itself would run ``own`` (the CPUs of its affinity mask): ``-flto=JOBS``, only for a
    user's ``-flto=auto`` with no count of theirs and no jobserver (gcc asks make's
    jobserver, when it reaches one, whatever -flto says), only when ``jobs`` is fewer
    than ``own``, and never ``-flto=1``: where it takes effect gcc then warns "using
    serial compilation of N LTRANS jobs", which the command would not have printed."""
    if family != "gcc" or lto != "-flto=auto" or user_jobs is not None or jobserver:
        return []
    return [f"-flto={jobs}"] if 2 <= jobs < own else []


# Order matters for banners: mold's says "mold 1.10.1 (compatible with GNU ld)".
FLAVOURS: tuple[type[Linker], ...] = (Mold, Lld, Gold, Bfd)


def flavour_from_name(name_or_path: str) -> type[Linker] | None:
    """The flavour a program's name says, or None (plain ``ld`` says nothing)."""
    name = program_name(name_or_path)
    return next((flavour for flavour in FLAVOURS if name in flavour.names), None)


def identify(path: str) -> type[Linker]:
    """The flavour of the linker at ``path``: by its name, then by the names along its
    symlinks (Debian: ld -> x86_64-linux-gnu-ld -> x86_64-linux-gnu-ld.bfd), then by
    running ``path --version`` once. Generic when nothing tells."""
    flavour = flavour_from_name(path)
    if flavour is not None:
        return flavour
    if os.sep not in path:
        path = find_program(path) or path
    for _ in range(40):  # the kernel's own limit on symlinks in a row
        try:
            path = os.path.join(os.path.dirname(path), os.readlink(path))
        except (OSError, ValueError):
            break
        flavour = flavour_from_name(path)
        if flavour is not None:
            return flavour
    return _from_banner(path) or Generic


def _from_banner(path: str) -> type[Linker] | None:
    import subprocess  # only here: it costs the wrapper's start-up ~10 ms

    try:
        done = subprocess.run([path, "--version"], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=VERSION_TIMEOUT,
                              env={**os.environ, "LC_ALL": "C"}, check=False)
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    lines = (done.stdout or done.stderr).decode(errors="replace").splitlines()
    first = next((line for line in lines if line.strip()), "")
    return next((flavour for flavour in FLAVOURS if flavour.banner in first), None)


def resolve_driver_linker(family: str | None, fuse_ld: str | None, ld_path: str | None,
                          b_dirs: list[str], env_path: str | None, *,
                          program_dirs: list[str] | tuple[str, ...] = (),
                          cwd: str | None = None) -> str | None:
    """The linker program a gcc or clang driver will run, or None if it will find none.

    ``family``: "gcc" or "clang" (None: gcc's rules); ``fuse_ld``, ``ld_path``, ``b_dirs``:
    the driver's -fuse-ld=, --ld-path= and -B values; ``env_path``: its $PATH (None: ours);
    ``program_dirs``: $COMPILER_PATH and the compiler's own program directories
    (``gcc -print-search-dirs``), searched after -B as the drivers do; ``cwd``: where
    relative names are taken from.

    gcc (collect2) looks in -B dirs, then $COMPILER_PATH and its own dirs, for
    ``real-ld``, then ``collect-ld``, then ``ld`` or ``ld.NAME`` for -fuse-ld=NAME, and
    at last for ``ld``/``ld.NAME`` on $PATH; gcc has no --ld-path and rejects a path in
    -fuse-ld. clang: --ld-path= wins (a bare name is searched like a program), then
    -fuse-ld= (an absolute path as is, NAME as ``ld.NAME``), searched in -B prefixes,
    its program dirs, then $PATH. Not modelled: gcc built --with-ld, clang's
    target-prefixed names (x86_64-linux-gnu-ld.lld is tried before ld.lld).
    """
    on_path = path_dirs(env_path)
    if family == "clang":
        prefixes = [_as_prefix(b, cwd) for b in b_dirs] + [_dir(d) for d in program_dirs]
        if ld_path:
            if "/" in ld_path:
                return ld_path if executable(ld_path, cwd) else None
            return search(ld_path, prefixes + on_path, cwd)
        if fuse_ld and os.path.isabs(fuse_ld):
            return fuse_ld if executable(fuse_ld, cwd) else None
        if fuse_ld and "/" in fuse_ld:
            return None
        name = f"ld.{fuse_ld}" if fuse_ld and fuse_ld != "ld" else "ld"
        return search(name, prefixes + on_path, cwd)
    if ld_path is not None or (fuse_ld is not None and (not fuse_ld or "/" in fuse_ld)):
        return None  # gcc: "unrecognized command-line option"
    name = f"ld.{fuse_ld}" if fuse_ld else "ld"
    compiler_dirs = [_dir(d) for d in [*b_dirs, *program_dirs] if _isdir(d, cwd)]
    for candidate in ("real-ld", "collect-ld", name):
        found = search(candidate, compiler_dirs, cwd)
        if found:
            return found
    return search(name, on_path, cwd)


def _dir(directory: str) -> str:
    return directory if directory.endswith("/") else directory + "/"


def _as_prefix(prefix: str, cwd: str | None) -> str:
    """clang's -B: a directory is searched; anything else is a prefix of the name."""
    return _dir(prefix) if _isdir(prefix, cwd) else prefix


def _isdir(directory: str, cwd: str | None) -> bool:
    try:
        return os.path.isdir(os.path.join(cwd or "", directory))
    except ValueError:
        return False
