"""Understand one compiler-driver or linker command line.

``parse(argv)`` tells what a command is (a gcc/clang driver, a linker, or something
else, maybe behind a compiler launcher such as ccache), what it does (link, compile,
print information), which files it links and where the output goes, what reaches the
linker, and whether it optimises at link time (LTO). It knows nothing of linker flavours
or of slots. ``add_linker_args`` puts extra linker options into a command without moving
anything of the user's.

Response files (``@file``) are expanded the way GCC's libiberty ``expandargv`` does:
whitespace-separated words, single and double quotes, a backslash escapes any character
(inside quotes too), nested ``@file`` expanded, relative names taken from ``cwd``, a
missing or unreadable file left as a literal argument.

It uses the standard library only.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from .names import LINKERS, program_name, split_launchers

__all__ = ["Command", "CommandError", "add_linker_args", "expand_response_files", "parse"]

MAX_DEPTH = 16  # response files nested deeper than this are an error
MAX_FILES = 2000  # response files read for one command line: libiberty's own limit
MAX_FILE_BYTES = 64 << 20  # a "response file" bigger than this is not one (/proc/kcore)
#: When a list, the path of every ``@file`` looked at is appended to it, found or not:
#: ``linkpool.plans`` makes a plan that holds only while they stay as they were.
probed: list[str] | None = None

DRIVERS = {"gcc": "gcc", "g++": "gcc", "cc": "gcc", "c++": "gcc", "clang": "clang",
           "clang++": "clang"}

# Driver options whose value may be the next argument (gcc and clang spellings).
_DRIVER_SEPARATE = frozenset({
    "-o", "-x", "-I", "-L", "-l", "-B", "-D", "-U", "-MF", "-MT", "-MQ", "-MJ", "-T", "-u",
    "-e", "-z", "-A", "-Xlinker", "-Xassembler", "-Xpreprocessor", "-Xclang", "-Xanalyzer",
    "-Xopenmp-target", "-Xarch_host", "-Xarch_device", "-include", "-imacros", "-include-pch",
    "-isystem", "-iquote", "-idirafter", "-iprefix", "-iwithprefix", "-iwithprefixbefore",
    "-isysroot", "-imultilib", "-iframework", "-cxx-isystem", "-ivfsoverlay", "-aux-info",
    "-wrapper", "--param", "-target", "-arch", "-dumpdir", "-dumpbase", "-dumpbase-ext",
    "--sysroot", "-F", "-mllvm", "-serialize-diagnostics",
})
# gcc's long aliases (gcc.cc option_map / common.opt) for the options that matter here.
_DRIVER_ALIASES = {"--output": "-o", "--prefix": "-B", "--library-directory": "-L",
                   "--for-linker": "-Xlinker", "--compile": "-c", "--assemble": "-S",
                   "--preprocess": "-E", "--dependencies": "-M", "--user-dependencies": "-MM",
                   "--language": "-x", "--include-directory": "-I"}
_DRIVER_INFO = frozenset({"--version", "-dumpversion", "-dumpfullversion", "-dumpmachine",
                          "-dumpspecs", "--help", "--target-help", "-###"})
# Linker options (leading dashes removed: GNU linkers take -opt and --opt alike) whose
# value may be the next argument. "threads" is not here: gold and mold take it bare, lld
# takes a value; _scan treats a following number as its value.
_LINKER_SEPARATE = frozenset({
    "o", "output", "l", "library", "L", "library-path", "T", "script", "e", "entry", "m", "z",
    "h", "soname", "rpath", "rpath-link", "dynamic-linker", "Map", "version-script",
    "dynamic-list", "u", "undefined", "y", "trace-symbol", "Y", "defsym", "plugin",
    "plugin-opt", "a", "A", "architecture", "b", "format", "c", "mri-script", "f", "auxiliary",
    "F", "filter", "G", "gpsize", "R", "just-symbols", "P", "audit", "depaudit", "exclude-libs",
    "wrap", "section-start", "Ttext", "Tdata", "Tbss", "Ttext-segment", "Trodata-segment",
    "Tldata-segment", "oformat", "retain-symbols-file", "dependency-file", "out-implib",
    "assert", "thread-count", "thread-count-initial", "thread-count-middle",
    "thread-count-final", "image-base", "init", "fini", "sort-section", "require-defined",
    "export-dynamic-symbol", "export-dynamic-symbol-list", "symbol-ordering-file",
    "call-graph-ordering-file", "section-ordering-file", "mllvm", "chroot", "hash-style",
})
_LINKER_INFO = frozenset({"version", "help"})  # a linker given these prints and exits
_LONG_OLL = frozenset({"output", "library", "library-path"})  # -output=F is not -o utput=F
_STATIC = frozenset({"Bstatic", "static", "dn", "non_shared"})
_DYNAMIC = frozenset({"Bdynamic", "dy", "call_shared"})
_SPACE = "\t\n\v\f\r"  # with " ": libiberty's ISSPACE
_TO_SPACE = str.maketrans(_SPACE, " " * len(_SPACE))


class CommandError(ValueError):
    """A command line that cannot be understood: a response-file loop or nesting too deep."""


@dataclass
class Command:
    """What ``parse`` found in one command line (a mutable record)."""

    argv: list[str]  # the command as given, untouched
    tool: str = "unknown"  # "driver" | "linker" | "launcher" (its own command) | "unknown"
    family: str | None = None  # "gcc" | "clang" for a driver, else None
    kind: str = "unknown"  # "link" | "compile" | "info" | "unknown"
    output: str | None = None  # the output file (a.out when a link names none)
    inputs: list[str] = field(default_factory=list)  # link inputs, as given
    libs_unresolved: list[str] = field(default_factory=list)
    linker_args: list[str] = field(default_factory=list)
    fuse_ld: str | None = None  # -fuse-ld=VALUE
    ld_path: str | None = None  # clang's --ld-path=VALUE
    b_dirs: list[str] = field(default_factory=list)  # -B prefixes, in order
    #: argv with its response files expanded (parse sets it; by default a copy of argv)
    expanded: list[str] = field(default_factory=list)
    launcher: list[str] = field(default_factory=list)  # ccache & co. and their options
    program: str | None = None  # the driver or linker word (distcc with none: "cc")
    args_at: int = 1  # argv[args_at:] are the program's arguments
    lto: str | None = None  # the -flto option in force ("-flto", "-flto=auto", ...), else None
    # the LTO job count the user chose: gcc -flto=N, clang -flto-jobs=N, lld
    # --thinlto-jobs=N or --plugin-opt=jobs=N (the value as given), else None
    lto_jobs: str | None = None

    def __post_init__(self) -> None:
        if not self.expanded:
            self.expanded = list(self.argv)


def parse(argv: list[str], cwd: str | None = None) -> Command:
    """Understand ``argv``; file names are taken relative to ``cwd`` (default: ours).

    Raises CommandError only for a response-file loop, nesting or count over the limits.
    """
    cmd = Command(list(argv))
    if not argv:
        return cmd
    words, program, at = split_launchers(argv)
    cmd.launcher, cmd.program, cmd.args_at = argv[:words], program, at
    cmd.expanded = argv[:at] + expand_response_files(argv[at:], cwd)
    if program is None:  # `ccache -s`, `distcc --version`: the launcher's own command
        cmd.tool, cmd.kind = "launcher", "info"
        return cmd
    name = program_name(program)
    if name in DRIVERS:
        cmd.tool, cmd.family = "driver", DRIVERS[name]
        _parse_driver(cmd, cmd.expanded[at:], cwd)
    elif name in LINKERS and (name != "lld" or _lld_gnu(argv[at - 1:])):
        cmd.tool = "linker"
        # `lld` itself is a multi-flavour binary: only `lld -flavor gnu` is ld.lld.
        if name == "lld":
            cmd.args_at = at + 2
        cmd.linker_args = cmd.expanded[cmd.args_at:]
        _parse_linker(cmd, cwd)
    if cmd.tool in ("driver", "linker"):
        cmd.lto_jobs = _lto_linker_jobs(cmd.linker_args) or cmd.lto_jobs
    return cmd


def add_linker_args(cmd: Command, args: list[str]) -> list[str]:
    """A new argv: ``cmd.argv`` with ``args`` handed to the linker, nothing else changed.

    They go right after the program name (after ``-flavor gnu`` for ``lld``, after the
    driver behind a launcher: ``ccache gcc -Wl,...``), so a linker option the user gave
    later still wins. A driver gets one ``-Wl,a,b``, or ``-Xlinker`` pairs when an
    argument holds a comma or is empty. An unknown tool's argv comes back unchanged.
    """
    argv = list(cmd.argv)
    if not args or not argv or cmd.tool not in ("driver", "linker"):
        return argv
    if cmd.tool == "linker":
        extra = list(args)
    elif any("," in arg or not arg for arg in args):
        extra = [word for arg in args for word in ("-Xlinker", arg)]
    else:
        extra = ["-Wl," + ",".join(args)]
    at = cmd.args_at
    return argv[:at] + extra + argv[at:]


def _lld_gnu(argv: list[str]) -> bool:
    return program_name(argv[0]) == "lld" and argv[1:3] == ["-flavor", "gnu"]


# -- response files --------------------------------------------------------------------

def expand_response_files(args: list[str], cwd: str | None = None) -> list[str]:
    """``args`` with every ``@file`` replaced by the words in it, nested files too."""
    return _expand(args, cwd, (), [MAX_FILES])


def _expand(args: list[str], cwd: str | None, chain: tuple[tuple[tuple[int, int], str], ...],
            budget: list[int]) -> list[str]:
    out: list[str] = []
    for arg in args:
        data = _read_response_file(arg, cwd) if arg.startswith("@") else None
        if data is None:
            out.append(arg)
            continue
        key, content = data
        names = [name for _, name in chain] + [arg]
        if any(key == seen for seen, _ in chain):
            raise CommandError(f"response file includes itself: {' -> '.join(names)}")
        if len(chain) >= MAX_DEPTH:
            raise CommandError(f"response files nested deeper than {MAX_DEPTH}: "
                               f"{' -> '.join(names)}")
        budget[0] -= 1
        if budget[0] < 0:
            raise CommandError(f"more than {MAX_FILES} response files in one command")
        out += _expand(split_response(content), cwd, (*chain, (key, arg)), budget)
    return out


def _read_response_file(arg: str, cwd: str | None) -> tuple[tuple[int, int], str] | None:
    """(file identity, text) of ``@file``, or None when it stays a literal argument."""
    path = os.path.join(cwd, arg[1:]) if cwd else arg[1:]
    if probed is not None:
        probed.append(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):  # a directory, a FIFO, /dev/zero: literal
            return None
        with open(path, "rb") as file:
            data = file.read(MAX_FILE_BYTES + 1)
    except (OSError, ValueError):  # ValueError: a NUL or a lone surrogate in the name
        return None
    if len(data) > MAX_FILE_BYTES:
        raise CommandError(f"response file {arg} is over {MAX_FILE_BYTES} bytes")
    return (info.st_dev, info.st_ino), os.fsdecode(data)


def split_response(text: str) -> list[str]:
    """Split a response file's text into words like libiberty's ``buildargv``."""
    if "\\" not in text and '"' not in text and "'" not in text:
        return [word for word in text.translate(_TO_SPACE).split(" ") if word]
    words: list[str] = []
    word: list[str] = []
    in_word = escaped = False
    quote = ""
    for char in text:
        if escaped:
            word.append(char)
            escaped = False
        elif char == "\\":
            escaped = in_word = True
        elif quote:
            if char == quote:
                quote = ""
            else:
                word.append(char)
        elif char in "'\"":
            quote, in_word = char, True
        elif char == " " or char in _SPACE:
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        else:
            word.append(char)
            in_word = True
    if in_word:
        words.append("".join(word))
    return words


# -- drivers ---------------------------------------------------------------------------

class _Driver:
    """What a driver's arguments say beyond ``Command``'s fields, as they are read."""

    __slots__ = ("compile_only", "deps_only", "deps_too", "has_input", "info", "language",
                 "output", "stream")

    def __init__(self) -> None:
        self.stream: list[str] = []  # what the driver hands the linker, in order
        self.info = self.compile_only = self.deps_only = self.deps_too = False
        self.has_input = False
        self.output: str | None = None
        self.language = ""  # -x LANG in force ("none" resets it)


def _parse_driver(cmd: Command, args: list[str], cwd: str | None) -> None:
    seen = _read_driver_args(cmd, args, cwd)
    scan = _scan(seen.stream, cwd)
    cmd.inputs, cmd.libs_unresolved = scan.inputs, scan.unresolved
    if not seen.compile_only and _LINKER_INFO & {a.lstrip("-") for a in cmd.linker_args}:
        seen.info = True  # -Wl,--version: the linker prints and exits, links nothing
    if seen.info or not seen.has_input:
        cmd.kind = "info"  # prints and exits without compiling or linking (so does -v alone)
    elif seen.compile_only or (seen.deps_only and not seen.deps_too):
        cmd.kind = "compile"  # -M and -MM without -MD/-MMD imply -E
    else:
        cmd.kind = "link"
    cmd.output = "a.out" if seen.output is None and cmd.kind == "link" else seen.output


def _read_driver_args(cmd: Command, args: list[str], cwd: str | None) -> _Driver:
    """Read a driver's arguments in order: into ``cmd`` what reaches the linker, the LTO,
    -B, -fuse-ld= and --ld-path= options; the rest into the result."""
    seen = _Driver()
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            if arg == "-":  # a source read from stdin, only under -x LANG (else an error)
                seen.has_input = seen.has_input or bool(seen.language)
            elif arg:
                seen.stream.append(arg)
                seen.has_input = True
            continue
        name, eq, value = arg.partition("=")
        if name in _DRIVER_ALIASES:  # --output=FILE -> -o FILE, then look again
            i -= 1
            args[i:i + 1] = [_DRIVER_ALIASES[name], value] if eq else [_DRIVER_ALIASES[name]]
        elif arg in _DRIVER_SEPARATE:  # the value is the next argument
            if i >= len(args):  # "missing argument to -X": the driver stops, links nothing
                seen.info = True
                break
            _driver_option(cmd, seen, arg, arg, args[i], cwd)
            i += 1
        elif not _driver_option(cmd, seen, arg[:2], arg, arg[2:], cwd):
            _driver_flag(cmd, seen, arg)  # not -ofile -lname -Ldir -Bdir -zkey -Tscript...
    return seen


def _driver_option(cmd: Command, seen: _Driver, opt: str, arg: str, value: str,
                   cwd: str | None) -> bool:
    """An option ``opt`` with its ``value`` (``arg`` as given): whether it is one that
    matters here."""
    if opt == "-o" and not arg.startswith("-objc"):  # clang's -objcmt-*
        seen.output = value
    elif opt == "-x":
        seen.language = "" if value == "none" else value
    elif opt == "-l" and value:
        seen.stream.append("-l" + value)
        seen.has_input = True
    elif opt in ("-L", "-T"):
        seen.stream.append(opt + value)
    elif opt == "-B" and value:
        cmd.b_dirs.append(value)
    elif opt in ("-Xlinker", "-z") or arg.startswith("-Wl,"):
        if opt == "-Xlinker":
            words = expand_response_files([value], cwd)
        elif opt == "-z":
            words = ["-z", value]
        else:
            words = expand_response_files(arg[4:].split(","), cwd)
        cmd.linker_args += words
        seen.stream += words
        seen.has_input = seen.has_input or opt != "-z"  # gcc counts -Wl words as inputs
    else:
        return False
    return True


def _driver_flag(cmd: Command, seen: _Driver, arg: str) -> None:
    """An option without a value: what the driver will do, LTO, the linker it runs."""
    if arg in _DRIVER_INFO or arg.startswith(("-print-", "--print-", "--help=")):
        seen.info = True
    elif arg in ("-c", "-S", "-E", "-fsyntax-only"):
        seen.compile_only = True
    elif arg in ("-M", "-MM"):
        seen.deps_only = True
    elif arg in ("-MD", "-MMD"):
        seen.deps_too = True
    elif arg in ("-static", "-static-pie"):
        seen.stream.insert(0, "-static")  # gcc puts it before every input
    elif arg == "-flto" or arg.startswith("-flto="):
        cmd.lto = arg  # the last of -flto, -flto=X, -fno-lto wins
        if cmd.family == "gcc":
            cmd.lto_jobs = arg[6:] if arg[6:].isdigit() else None
    elif arg == "-fno-lto":
        cmd.lto = cmd.lto_jobs = None
    elif arg.startswith("-flto-jobs=") and cmd.family == "clang":
        cmd.lto_jobs = arg[11:]  # clang hands it to the linker as -plugin-opt=jobs=
    elif arg.startswith("-fuse-ld="):
        cmd.fuse_ld = arg[9:]
    elif arg.startswith("--ld-path="):
        cmd.ld_path = arg[10:]


def _lto_linker_jobs(linker_args: list[str]) -> str | None:
    """The ThinLTO job count among linker options (the last wins): lld's
    ``--thinlto-jobs=N``, the LLVM plugin's ``--plugin-opt=jobs=N`` (or ``-plugin-opt
    jobs=N``, which clang's ``-flto-jobs=N`` becomes)."""
    jobs = None
    for i, arg in enumerate(linker_args):
        if not arg.startswith("-"):
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if name == "plugin-opt" and not eq:
            value = linker_args[i + 1] if i + 1 < len(linker_args) else ""
        if name == "thinlto-jobs" and eq:
            jobs = value
        elif name == "plugin-opt" and value.startswith("jobs="):
            jobs = value[5:]
    return jobs


# -- linkers ---------------------------------------------------------------------------

def _parse_linker(cmd: Command, cwd: str | None) -> None:
    scan = _scan(cmd.linker_args, cwd)
    cmd.inputs, cmd.libs_unresolved = scan.inputs, scan.unresolved
    cmd.output = scan.output or "a.out"
    asks = {arg.lstrip("-") for arg in cmd.linker_args if arg.startswith("-")}
    if asks & _LINKER_INFO or not (scan.inputs or scan.unresolved):
        cmd.kind = "info"  # --version and --help exit at once; -v alone prints too
    else:
        cmd.kind = "link"


class _Scan:
    __slots__ = ("inputs", "output", "unresolved")

    def __init__(self) -> None:
        self.inputs: list[str] = []
        self.unresolved: list[str] = []
        self.output: str | None = None


def _scan(args: list[str], cwd: str | None) -> _Scan:
    """Inputs (-l resolved), unresolved -l and output among a linker's arguments."""
    scan = _Scan()
    lib_dirs: list[str] = []
    found: list[str | tuple[str, bool]] = []  # a file, or an -l (name, static), in order
    static = False
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if not arg.startswith("-") or arg == "-":
            if arg not in ("", "-"):
                found.append(arg)
            continue
        name, eq, value = arg.lstrip("-").partition("=")
        if not eq and name in _LINKER_SEPARATE:
            value = args[i] if i < len(args) else ""
            i += 1
        elif name == "threads" and not eq and i < len(args) and args[i].isdigit():
            i += 1  # lld's `--threads N`
            continue
        elif arg[1] in "olL" and len(arg) > 2 and name not in _LONG_OLL:
            name, value = arg[1], arg[2:]  # -ofile -lname -Ldir
        if name in ("o", "output"):
            scan.output = value
        elif name in ("l", "library") and value:
            found.append((value, static))
        elif name in ("L", "library-path"):
            lib_dirs.append(value)
        elif name in _STATIC:
            static = True
        elif name in _DYNAMIC:
            static = False
    # As GNU ld documents: every -L applies to every -l, whatever their order.
    for item in found:
        path = item if isinstance(item, str) else _find_library(*item, lib_dirs, cwd)
        if path is None:
            scan.unresolved.append(item[0])
        else:
            scan.inputs.append(path)
    return scan


def _find_library(lib: str, static: bool, lib_dirs: list[str], cwd: str | None) -> str | None:
    if lib.startswith(":"):
        names = [lib[1:]]
    else:
        names = [f"lib{lib}.a"] if static else [f"lib{lib}.so", f"lib{lib}.a"]
    for directory in lib_dirs:
        for name in names:
            path = os.path.join(directory, name)
            if name and _is_file(os.path.join(cwd, path) if cwd else path):
                return path
    return None


def _is_file(path: str) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False
