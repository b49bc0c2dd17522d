"""The ``linkpool`` command: see :func:`help_text`, or ``linkpool --help``.

``run`` and the launcher form are the hot path: they are parsed by hand (from the table
``RUN_OPTIONS``, which also builds ``run --help``) and import only what they use. Every
other subcommand parses its arguments with argparse and answers ``--help``. Exit
statuses: the command's own; 2 for a usage error or a wrong setting; 69 when the pool is
unusable in strict mode; 75 when ``--timeout`` ran out; 126/127 when the command cannot
be run. When the command dies of a signal, or Ctrl-C interrupts the wait for slots, the
wrapper dies of that signal too (``process.leave``), as the bare command would have.
"""

from __future__ import annotations

import os
import sys

from .configfile import EX_INTERRUPTED, EX_USAGE, ConfigError, UsageError
from .names import find_program, say

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, Callable, NoReturn

    from .settings import Settings


HELP = """\
usage: linkpool SUBCOMMAND [OPTION...]  (`linkpool SUBCOMMAND --help` describes each)
       linkpool COMMAND [ARG...]        (the launcher form of `linkpool run -- COMMAND`)
       linkpool --pool DIR SUBCOMMAND... | COMMAND...  (--pool before the subcommand too)
       linkpool --version | --help

A machine-wide pool of link slots: every link on this machine that names the same pool
waits there for its slots, so parallel builds stop oversubscribing cores and memory.

subcommands:
{subcommands}

The pool is --pool DIR, else $LINKPOOL_DIR, else `pool` in the config file, else
$XDG_RUNTIME_DIR/linkpool or /tmp/linkpool-$UID (`linkpool config` shows which). --pool
goes before the subcommand or after it: `linkpool --pool DIR status` is `linkpool status
--pool DIR`, and `linkpool --pool DIR gcc ...` is `linkpool run --pool DIR -- gcc ...`.

The launcher form: a first word that is not a subcommand is the command to run, as
`linkpool gcc -o app a.o`, `linkpool ./my-ld ...`. One exception catches typos: a word
without a '/' that is within two edits of a subcommand (a letter changed, added, removed
or two swapped) and is not a program on PATH is refused with "did you mean" (exit 2)
instead of being run; any other word runs (exit 127 when it is not found).

Exit status: the command's own (when signal N killed it, linkpool dies of signal N too);
2 for a usage error or a wrong setting; 69 when the pool is unusable under --strict; 75
when --timeout ran out; 126/127 when the command cannot be run. Ctrl-C while waiting
for slots: linkpool dies of SIGINT, as the command would have.
"""


class Subcommand:
    """One subcommand of the registry :data:`SUBCOMMANDS`: its name; its entry, the
    function that runs it (``"module:function"`` of the linkpool package, imported only
    when it runs), called with the words after the name, as every build-system adapter's
    ``setup`` is, and returning the exit status; its text in ``linkpool --help`` (lines
    already broken); and whether it shows the pool's history or holders, so that the C
    front door's records are folded into the history first (``linkpool.spool``)."""

    __slots__ = ("entry", "folds", "help", "name")

    def __init__(self, name: str, entry: str, help: str, folds: bool = False) -> None:
        self.name, self.entry, self.help, self.folds = name, entry, help, folds

    @property
    def module(self) -> str:
        """The module of the entry, in the linkpool package (``observe``)."""
        return self.entry.partition(":")[0]

    def function(self) -> Callable[[list[str]], int]:
        """The entry, imported."""
        module, _, name = self.entry.partition(":")
        if module == "cli":  # this module, whatever name it was imported by
            names = globals()
        else:
            from importlib import import_module

            names = vars(import_module(f"linkpool.{module}"))
        found: Callable[[list[str]], int] = names[name]
        return found

    def help_lines(self) -> str:
        first, *more = self.help.splitlines()
        return "\n".join([f"  {self.name:<8} {first}", *(" " * 11 + line for line in more)])


#: The subcommands, in the order ``linkpool --help`` lists them: the help, the dispatch,
#: "did you mean" and the C front door (its own list of the words it hands to Python,
#: held to this one by tests/test_frontdoor.py) read this table.
SUBCOMMANDS = {c.name: c for c in (
    Subcommand("run", "cli:cmd_run", """\
run one command once it holds its slots: run [--pool DIR] [--weight K]
[--timeout SECONDS] [--strict] [--quiet] -- COMMAND [ARG...]"""),
    Subcommand("init", "cli:cmd_init",
               "create or resize a pool: init [--pool DIR] [--slots N] [--shared [DIR]]"),
    Subcommand("status", "cli:cmd_status",
               "who holds the slots and who waits: status [--pool DIR] [--json] [--watch]",
               folds=True),
    Subcommand("history", "cli:cmd_history",
               "every link that ran through the pool: history [--pool DIR] [--json]",
               folds=True),
    Subcommand("stats", "observe:cmd_stats",
               "waits, run times and hints: stats [--pool DIR] [--since 1h] [--json]",
               folds=True),
    Subcommand("trace", "observe:cmd_trace",
               "the history as a Chrome/Perfetto trace: trace [--pool DIR] [--output FILE]",
               folds=True),
    Subcommand("report", "observe:cmd_report",
               "the history as a chart: report [--pool DIR] --output FILE.svg|.html|.png",
               folds=True),
    Subcommand("doctor", "doctor:main",
               "check that the pool works here, with the fix: doctor [--pool DIR] [--json]"),
    Subcommand("config", "configcmd:main",
               "every setting, its value and its source: config [--json]"),
    Subcommand("setup", "cli:cmd_setup", """\
turn linkpool on in a build system or a host: setup SYSTEM [OPTION...] (shims:
every gcc/clang link of an environment; meson, cmake, make, bazel, setuptools,
cargo; system: the host's shared pool and shims)"""),
    Subcommand("ninja", "integrations.ninja:main",
               "ninja, with the build's link rules through the pool: ninja [NINJA ARG...]"),
    Subcommand("help", "cli:cmd_help",
               "`linkpool help SUBCOMMAND` is `linkpool SUBCOMMAND --help`"),
)}
#: The options every subcommand takes, and a link: given before the subcommand, they are
#: moved after it (:func:`hoist`).
GLOBAL_OPTIONS = ("--pool",)
#: ``linkpool setup SYSTEM``: the adapters with a ``setup()``, and what each prints.
SYSTEMS = {"shims": "the linker shims: export COMPILER_PATH=$(linkpool setup shims), any build",
           "meson": "write a native file and linker shims (meson setup --native-file)",
           "cmake": "print the -DCMAKE_<LANG>_LINKER_LAUNCHER=... flags for cmake",
           "make": "print the LINK.o/LINK.c/LINK.cc (or CCLD/CXXLD) variables for make",
           "bazel": "print the bazel flags that select linkpool's C/C++ toolchain",
           "setuptools": "print the CC/CXX/LDSHARED/LDCXXSHARED exports for C extensions",
           "cargo": "write a cc shim and print the cargo setting that links through it",
           "system": "this host's shared pool, system config and boot entry (--install)"}
#: The table of ``run``'s options, ``core/frontdoor/run_options.def``: the C front door
#: compiles it in, and Python reads it here (installed as ``linkpool/frontdoor/``).
RUN_OPTIONS_FILE = os.path.join("frontdoor", "run_options.def")


def read_run_options(text: str) -> tuple[tuple[str, str | None, str], ...]:
    """The options of a run_options.def: (name, the value's name or None for a flag, what
    it does) for each ``LP_RUN_OPTION("--NAME", "METAVAR" or NULL, "HELP")`` line, whose
    arguments are C string literals (adjacent ones joined, ``\\"`` and ``\\\\`` escapes)
    or NULL. Any other line (a comment) is not an option; a malformed option line is
    ValueError (the C compiler would refuse it too)."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("LP_RUN_OPTION("):
            continue
        args = _c_arguments(line, len("LP_RUN_OPTION("))
        if len(args) != 3 or args[0] is None or args[2] is None \
                or not args[0].startswith("--"):
            raise ValueError(f"not an option of run: {line}")
        out.append((args[0], args[1], args[2]))
    return tuple(out)


def _c_arguments(line: str, i: int) -> list[str | None]:
    """The arguments of a macro call from ``line[i:]`` (just after its parenthesis) to its
    closing one: C string literals and NULL."""
    args: list[str | None] = []
    current: str | None = None
    given = False  # the current argument has something
    while i < len(line):
        c = line[i]
        if c in " \t":
            i += 1
        elif c == '"':
            part, i = _c_string(line, i + 1)
            current = (current or "") + part
            given = True
        elif line.startswith("NULL", i) and not given:
            current, given, i = None, True, i + 4
        elif c in ",)" and given:
            args.append(current)
            current, given, i = None, False, i + 1
            if c == ")":
                return args
        else:
            break
    raise ValueError(f"cannot read the option line {line!r}")


def _c_string(line: str, i: int) -> tuple[str, int]:
    """The C string literal whose first character is ``line[i]``: its text and the index
    after its closing quote."""
    out: list[str] = []
    while i < len(line):
        c = line[i]
        if c == '"':
            return "".join(out), i + 1
        if c == "\\" and i + 1 < len(line):
            i += 1
            c = {"n": "\n", "t": "\t"}.get(line[i], line[i])
        out.append(c)
        i += 1
    raise ValueError(f"a string without its closing quote: {line!r}")


def _run_options() -> tuple[tuple[str, str | None, str], ...]:
    """The table of the installed package: beside this module, or beside its source when
    this module is a link to it (an editable install links each module, not the table)."""
    here = os.path.dirname(os.path.abspath(__file__))
    tried = []
    for folder in dict.fromkeys((here, os.path.dirname(os.path.realpath(__file__)))):
        path = os.path.join(folder, RUN_OPTIONS_FILE)
        try:
            with open(path, "rb") as f:
                return read_run_options(f.read().decode("utf-8"))
        except OSError as e:
            tried.append(f"{path}: {e.strerror}")
    raise ImportError(f"linkpool is not installed whole ({'; '.join(tried)}); reinstall it")


#: ``run``'s options: name, the value's name (None: a flag), what it does. The hand
#: parser of the hot path and ``run --help`` both read this table, from the file the C
#: front door compiles in.
RUN_OPTIONS = _run_options()
RUN_DESCRIPTION = """\
Run COMMAND once it holds its slots of the pool, and exit with its status. Its stdout,
stderr, signals and exit status pass through unchanged. A link (gcc, clang, ld, lld,
mold, gold...) holds the slots its memory and threads need; a compile or a --version
passes straight through without a slot. `linkpool COMMAND [ARG...]` is the same as
`linkpool run -- COMMAND [ARG...]`.
"""
RUN_EPILOG = """\
If the pool cannot be used, linkpool says so in one line and runs COMMAND without it
(unless --strict). Exit status: COMMAND's own (linkpool dies of the signal that killed
it); 2 for a usage error; 69 under --strict with an unusable pool; 75 when --timeout ran
out; 126/127 when COMMAND cannot be run. Ctrl-C while waiting: it dies of SIGINT.
"""


def entry(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``linkpool`` command: :func:`main`, then leave without the interpreter's teardown
    (freeing every module and object costs the wrapper milliseconds it has nothing to do
    with: the command's status is known, the history written, the output flushed); dying
    of the signal that killed the command, if one did (``process.leave``)."""
    from .process import guard_stdio, leave

    guard_stdio()
    code = 1
    try:
        main(argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    except BaseException:  # main() handles everything; this is the last line of defence
        pass
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()  # type: ignore[union-attr]
        except Exception:
            pass  # closed, or a pipe whose reader left: the command's status still counts
    leave(code)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = dispatch(args)
    except KeyboardInterrupt:  # Ctrl-C while waiting: die of it, as the command would have
        from . import process

        process.current.killed_by = 2  # SIGINT
        code = EX_INTERRUPTED
    except BrokenPipeError:
        code = 1
    except Exception as e:  # never a traceback for the user; LINKPOOL_DEBUG=1 shows one
        from .settings import debugging

        if debugging():
            raise
        from . import process

        code = fail_open(args, e, process.current)
    sys.exit(code)


def fail_open(args: list[str], error: Exception, run: Any) -> int:
    """What to do when linkpool itself failed (a wrong setting in a link, which
    :func:`dispatch` raises on; a bug anywhere): a link (``run`` or the launcher form)
    whose command has not started yet (``run``, the process's
    :class:`linkpool.process.RunContext`, says) runs without linkpool, unchanged;
    anything else is a bug of the subcommand: 1."""
    from . import process

    what = failure(error)
    command = run_command(args)
    if command and run.child is None:
        process.exec_bare(command, f"{what}; running the command without linkpool")
    if command:  # it ran or runs: its status is the answer
        say(f"warning: {what}")
        return process.wait_child(run)
    say(f"{what} (set LINKPOOL_DEBUG=1 for details)")
    return 1


def failure(error: Exception) -> str:
    """What went wrong, in the words of the line that says it: a wrong setting's own
    line, or an internal error's type and text."""
    return str(error) if isinstance(error, ConfigError) else \
        f"internal error: {type(error).__name__}: {error}"


def run_command(args: list[str]) -> list[str] | None:
    """The command of ``linkpool run ... -- COMMAND`` or of the launcher form (global
    options before either), else None."""
    try:
        args = hoist(args)
    except UsageError:
        return None
    if not args or (args[0] != "run" and (args[0] in SUBCOMMANDS or args[0].startswith("-"))):
        return None
    if args[0] != "run":
        return args
    try:
        return parse_run(args[1:])[1]
    except UsageError:
        return None


def dispatch(args: list[str]) -> int:
    """Run ``linkpool ARGS``, and turn the errors of the person's making into a line and
    exit status 2: the one place that does, for every subcommand (they raise; :func:`main`
    adds Ctrl-C, a closed pipe and bugs). A usage error points at the help that explains
    it; a wrong setting (ConfigError) names its source and key, except in a link, which
    runs without linkpool instead (:func:`fail_open`): it is raised on."""
    try:
        args = hoist(args)
        return _dispatch(args)
    except UsageError as e:
        say(f"{e} (see `{_help_command(args)}`)")
        return EX_USAGE
    except ConfigError as e:
        if run_command(args) is not None:
            raise
        say(str(e))
        return EX_USAGE


def hoist(args: list[str]) -> list[str]:
    """``args`` with the global options given before the subcommand moved after it (after
    ``setup SYSTEM``; for a link, among ``run``'s options), where its own parser reads
    them, as git and cargo take theirs: ``linkpool --pool X status`` is ``linkpool status
    --pool X``. One without its value, or before ``ninja`` (whose options are ninja's), is
    UsageError."""
    given: list[str] = []
    i = 0
    while i < len(args):
        name, eq, value = args[i].partition("=")
        if name not in GLOBAL_OPTIONS:
            break
        if not eq:
            i += 1
            value = args[i] if i < len(args) and not args[i].startswith("-") else ""
        if not value:
            raise UsageError(f"{name} needs a value ({name} DIR)")
        given.append(f"{name}={value}")  # one word: a value like "-x" stays a value
        i += 1
    rest = args[i:]
    if not given:
        return args
    first = rest[0] if rest else ""
    if not rest or first in ("-h", "--help", "--version", "help"):
        return rest  # help, or no subcommand (said as such)
    if first == "ninja":
        raise UsageError(f"{given[0].partition('=')[0]} before `ninja`: its options are "
                         f"ninja's; give the build's links their pool with "
                         f"LINKPOOL_DIR=DIR linkpool ninja ...")
    if first == "setup":  # after `setup SYSTEM`; without a system, setup says what is wrong
        return rest if len(rest) < 2 or rest[1].startswith("-") else \
            [*rest[:2], *given, *rest[2:]]
    if first in SUBCOMMANDS:
        return [first, *given, *rest[1:]]
    if first == "--":
        return ["run", *given, *rest]
    if first.startswith("-"):
        raise UsageError(f"unknown option {first}")
    if "/" not in first and near(first) and find_program(first) is None:
        return rest  # a mistyped subcommand: said as one
    return ["run", *given, "--", *rest]  # the launcher form


def _help_command(args: list[str]) -> str:
    """The help that explains the usage error in ``args``."""
    if args and args[0] in SUBCOMMANDS and args[0] != "help":
        if args[0] == "setup" and len(args) > 1 and args[1] in SYSTEMS:
            return f"linkpool setup {args[1]} --help"
        return f"linkpool {args[0]} --help"
    return "linkpool --help"


def _dispatch(args: list[str]) -> int:
    if not args:
        raise UsageError("give a subcommand or a command to run")
    first = args[0]
    if first in ("-h", "--help"):
        sys.stdout.write(help_text())
        return 0
    if first == "--version":
        from . import __version__

        print(f"linkpool {__version__}")
        return 0
    command = SUBCOMMANDS.get(first)
    if command is not None:  # `linkpool stats --json` -> linkpool.observe.cmd_stats(["--json"])
        if command.folds:  # what the C front door ran is in the history first
            from .spool import fold

            fold()
        return int(command.function()(args[1:]) or 0)
    if first.startswith("-"):
        raise UsageError(f"unknown option {first}")
    if "/" not in first:  # the launcher form; but first, is it a mistyped subcommand?
        close = near(first)
        if close and find_program(first) is None:
            return _unknown(first, close)
    return cmd_run(["--", *args])  # launcher form


def help_text() -> str:
    """``linkpool --help``: its subcommands from the registry."""
    return HELP.format(subcommands="\n".join(c.help_lines() for c in SUBCOMMANDS.values()))


def cmd_help(args: list[str]) -> int:
    """``linkpool help [SUBCOMMAND]``: ``linkpool SUBCOMMAND --help``, or the help."""
    if not args or args[0] in ("-h", "--help"):
        sys.stdout.write(help_text())
        return 0
    if args[0] not in SUBCOMMANDS:
        return _unknown(args[0], near(args[0]))
    return _dispatch([args[0], "--help"])


def _unknown(word: str, close: list[str]) -> int:
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else \
        " (see `linkpool --help`)"
    say(f"{word!r} is not a linkpool command or a program on PATH{hint}")
    return EX_USAGE


def near(word: str) -> list[str]:
    """The subcommands within two edits of ``word`` (optimal string alignment: a letter
    changed, added or removed, or two neighbours swapped), only the closest; [] for most
    words at the cost of a length comparison."""
    found: list[tuple[int, int, str]] = []
    word = word.lower()
    letters = set(word)
    for name in SUBCOMMANDS:
        longer = abs(len(name) - len(word))
        if longer > 2 or name == "help":
            continue
        lacking = letters.difference(name)  # each letter of word not in name costs an edit
        if lacking and sum(word.count(c) for c in lacking) > 2:
            continue
        d = _distance(word, name)
        if d <= 2:
            found.append((d, longer, name))  # at a tie, a swap or a change beats a letter more
    best = min(found, default=None)
    return [name for d, longer, name in found if best and (d, longer) == best[:2]]


def _distance(a: str, b: str) -> int:
    before: list[int] = []
    row = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        prev, row = row, [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], before[j - 2] + 1)
        before = prev
    return row[len(b)]


# -- run -----------------------------------------------------------------------------------


def parse_run(args: list[str]) -> tuple[dict[str, Any], list[str]]:
    """``run``'s options and command, by hand (argparse costs the wrapper milliseconds);
    ``{"help": True}`` when ``-h``/``--help`` came before the command."""
    opts: dict[str, Any] = {option[2:]: None if metavar else False
                            for option, metavar, _ in RUN_OPTIONS}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        if arg in ("-h", "--help"):
            return {"help": True}, []
        name, eq, value = arg.partition("=")
        known = [metavar for option, metavar, _ in RUN_OPTIONS if option == name]
        if not known:
            raise UsageError(f"run: unknown option {arg}")
        metavar = known[0]
        if metavar is None:
            if eq:
                raise UsageError(f"run: {name} takes no value")
            opts[name[2:]] = True
        else:
            if not eq:
                value = args[i + 1] if i + 1 < len(args) else ""
                if value.startswith("-") and not _negative(value):
                    value = ""  # the next option, or `--`: not a value
                else:
                    i += 1
            if not value:
                raise UsageError(f"run: {name} needs a value ({name} {metavar})")
            opts[name[2:]] = value
        i += 1
    command = args[i:]
    if not command:
        raise UsageError("run: give the command to run after --")
    if opts.get("weight") is not None:
        opts["weight"] = _weight(opts["weight"])
    if opts.get("timeout") is not None:
        opts["timeout"] = _number(opts["timeout"], float, "--timeout", 0)
    return opts, command


def _weight(text: str) -> int:
    """``--weight K``: a number of slots (:func:`linkpool.pool.slot_count`; a weight above
    the pool's own slots is not an error: the link then takes them all)."""
    from .pool import slot_count

    try:
        return slot_count(text)
    except ValueError as e:
        raise UsageError(f"run: --weight {e}") from None


def _negative(text: str) -> bool:
    """``-1``, ``-0.5``: a value for --weight or --timeout (which then refuse it)."""
    return text[1:2].isdigit() or (text[1:2] == "." and text[2:3].isdigit())


def _number(text: str, kind: type, name: str, least: float) -> Any:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value < least or value != value:
        raise UsageError(f"run: {name} takes a number >= {least:g}, not {text!r}")
    return value


def run_help() -> str:
    """``run --help``, from ``RUN_OPTIONS`` (argparse only here, when it is asked for)."""
    from .configfile import argument_parser

    parser = argument_parser("linkpool run", RUN_DESCRIPTION, RUN_EPILOG)
    parser.usage = "linkpool run " + " ".join(
        f"[{option}{' ' + metavar if metavar else ''}]" for option, metavar, _ in RUN_OPTIONS) \
        + "\n" + " " * 20 + "[--] COMMAND [ARG...]"
    for option, metavar, text in RUN_OPTIONS:
        if metavar is None:
            parser.add_argument(option, action="store_true", help=text)
        else:
            parser.add_argument(option, metavar=metavar, help=text)
    parser.add_argument("command", metavar="COMMAND [ARG...]",
                        help="the command to run, with its arguments (after -- when it "
                             "starts with '-')")
    return str(parser.format_help())


#: Set by ``linkpool.plans`` (``linkpool-py --plan=FD``): ``run`` then hands its engine to
#: it, which plans the link the C front door will run, in place of running it.
planner: Callable[[Any], int] | None = None


def cmd_run(args: list[str]) -> int:
    """``linkpool run``. A wrong setting raises ConfigError (not caught here: the caller
    decides, and runs the command unpooled)."""
    opts, command = parse_run(args)
    if opts.get("help"):
        sys.stdout.write(run_help())
        return 0
    from .settings import resolve

    settings = resolve(opts)  # once: the engine, the hooks and the plugins read this
    from .engine import Engine

    engine = Engine(command, settings, opts["weight"], opts["timeout"])
    if planner is not None:
        return int(planner(engine))
    return engine.run(settings.pool)


def cmd_setup(args: list[str]) -> int:
    """``linkpool setup SYSTEM ...``: the adapter's ``linkpool.integrations.SYSTEM.setup``,
    with the words after SYSTEM."""
    if not args:
        raise UsageError("setup: name a build system: " + ", ".join(SYSTEMS))
    name = args[0]
    if name in ("-h", "--help"):
        sys.stdout.write(setup_help())
        return 0
    if name.startswith("-"):
        raise UsageError(f"setup: name a build system ({', '.join(SYSTEMS)}) before {name}")
    if name not in SYSTEMS:
        close = [s for s in SYSTEMS if _distance(name.lower(), s) <= 2]
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise UsageError(f"setup: no build-system integration named {name!r} (there are "
                         f"{', '.join(SYSTEMS)}){hint}")
    from importlib import import_module

    return int(import_module(f"linkpool.integrations.{name}").setup(args[1:]) or 0)


def setup_help() -> str:
    rows = "\n".join(f"  {name:<10} {what}" for name, what in SYSTEMS.items())
    return f"""\
usage: linkpool setup SYSTEM [OPTION...]

Turn linkpool on in a build system: print (or write) what makes its link commands go
through linkpool. `linkpool setup SYSTEM --help` describes the options of each.

build systems:
{rows}

Elsewhere: `linkpool ninja` for any build.ninja (CMake, Meson, gn...), and the SCons
tool (env.Tool('linkpool')); docs/ has a page for each.
"""


# -- init, status, history ----------------------------------------------------------------


def watch_value(text: str) -> float:
    """An argparse ``type`` for ``status --watch SECONDS``: a number of seconds, above 0
    and below a billion (inf would overflow the sleep; nan, 0 or less mean nothing)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not 0 < seconds < 1e9:  # False for nan too
        import argparse

        raise argparse.ArgumentTypeError(f"takes a number of seconds above 0 and below 1e9, "
                                         f"not {text!r}")
    return seconds


POOL_HELP = ("the pool (default: $LINKPOOL_DIR, else `pool` in the config file, else "
             "$XDG_RUNTIME_DIR/linkpool or /tmp/linkpool-$UID)")


def admin_parser(command: str) -> Any:
    from .configfile import argument_parser, pool_value, slots_value

    if command == "init":
        parser = argument_parser("linkpool init", """\
Create a pool, or resize one: set its number of slots. A new pool gets the machine's
default capacity (from its usable cores and memory; `linkpool doctor` shows the sum)
unless --slots says otherwise. Running links keep their slots through a resize; new ones
see the new number. Nothing else is needed: the first link creates a missing pool too.
""", pool=POOL_HELP)
        parser.add_argument("--slots", type=slots_value, metavar="N",
                            help="the number of slots (links of weight 1 that may run at "
                                 "once); an existing pool is resized to N")
        parser.add_argument("--shared", nargs="?", const=True, default=False, metavar="DIR",
                            type=pool_value,
                            help="make a pool several users or containers share (mode 1777, "
                                 "sticky): at DIR if given, else at --pool or the default")
    elif command == "status":
        parser = argument_parser("linkpool status", """\
Show the pool: its slots, the links holding them (pid, slots, threads, for how long,
output) and the links waiting, in the order they will be served. Reads only; never
creates a pool.
""", pool=POOL_HELP)
        parser.add_argument("--json", action="store_true",
                            help="print the status as JSON (for tools)")
        parser.add_argument("--watch", nargs="?", const=1.0, type=watch_value, metavar="SECONDS",
                            help="refresh every SECONDS (default 1) until Ctrl-C")
    else:
        parser = argument_parser("linkpool history", """\
List the links that ran through the pool, oldest first: exit status, linker, weight,
threads, wait, run time, peak memory and output. `linkpool stats` summarises them.
Reads only; never creates a pool.
""", pool=POOL_HELP)
        parser.add_argument("--json", action="store_true",
                            help="print every record as JSON (all the fields of each)")
    return parser


def cmd_init(args: list[str]) -> int:
    return _admin("init", args, _init)


def cmd_status(args: list[str]) -> int:
    return _admin("status", args, _status)


def cmd_history(args: list[str]) -> int:
    return _admin("history", args, _history)


def _admin(command: str, args: list[str], run: Callable[[Any], int]) -> int:
    ns = admin_parser(command).parse_args(args)
    from .pool import PoolError

    try:
        return run(ns)
    except PoolError as e:  # naming where the pool's path came from
        from .settings import about_pool

        say(about_pool(str(e), *getattr(ns, "where", ("", ""))))
        return 1


def settings_for(pool: str | None, ns: Any = None) -> Settings:
    """The settings of a subcommand, resolved once: its pool is ``--pool``, else the
    settings' (a wrong setting is ConfigError: one line, exit 2). With ``ns``, ``ns.where``
    is set to the pool and where its path came from, for the lines about it."""
    from .settings import resolve

    settings = resolve({"pool": pool})
    if ns is not None:
        ns.where = (settings.pool, settings["pool"].source)
    return settings


def _init(ns: Any) -> int:
    from .pool import Pool, PoolError

    shared = ns.shared is not False
    if isinstance(ns.shared, str):
        if ns.pool and ns.pool != ns.shared:
            raise UsageError("init: give the shared pool's directory once: --shared DIR or "
                             "--pool DIR")
        ns.pool = ns.shared
    path = settings_for(ns.pool, ns).pool
    if isinstance(ns.shared, str):
        ns.where = (path, "--shared")
    existed = os.path.lexists(path)
    if shared and existed:
        _not_adopted(path, os.lstat(path).st_uid)
    pool = Pool.open(path, default_slots=ns.slots, shared=shared, repair=True)  # any pool.json
    with pool:
        if shared:
            _not_adopted(path, os.fstat(pool.dirfd).st_uid)  # the one opened, not the name
        pool.make_slots()
        if existed and shared and not pool.shared:
            raise PoolError(f"pool {path} already exists as a private pool; remove it first to "
                            f"make a shared one there")
        if ns.slots is not None and ns.slots != pool.slots:
            old = pool.slots
            pool.resize(ns.slots)
            said = f"pool {path}: resized from {old} to {pool.slots} slots"
        else:
            verb = "has" if existed else "created with"
            kind = "shared" if pool.shared else "private"
            said = f"pool {path}: {verb} {pool.slots} slots ({kind})"
        from .settings import about_pool

        print(about_pool(said, *ns.where))
    return 0


def _not_adopted(path: str, uid: int) -> None:
    """Refuse to make a shared pool in a directory another user made: its owner may
    remove or replace any file in it, the sticky bit notwithstanding."""
    from .pool import PoolError

    if uid not in (0, os.geteuid()):
        raise PoolError(f"{path} was made by uid {uid}, not by you or root, and its owner "
                        f"could replace the pool's files; remove it (as root) or choose "
                        f"another directory for the shared pool")


def open_existing(path: str) -> Any:
    """The pool at ``path`` for reading; a missing one is a one-line PoolError, and
    nothing is created."""
    from .pool import Pool

    return Pool.open(path, create=False)


def _status(ns: Any) -> int:
    import json

    settings = settings_for(ns.pool, ns)
    _lenient_stdout()
    with open_existing(settings.pool) as pool:
        if ns.watch is None:
            st = pool.status(settings.polling)
            print(json.dumps(st, indent=2, default=str) if ns.json else format_status(st))
            return 0
        return watch_status(pool, max(0.1, ns.watch), ns.json, settings.polling)


def watch_status(pool: Any, interval: float, as_json: bool, polling: bool = False) -> int:
    """Redraw the status every ``interval`` s until Ctrl-C: in place on a terminal, as
    successive blocks (or JSON lines) otherwise."""
    import json
    import time

    tty = sys.stdout.isatty() and not as_json
    try:
        while True:
            st = pool.status(polling)
            if as_json:
                print(json.dumps(st, default=str), flush=True)
            elif tty:
                sys.stdout.write("\x1b[H\x1b[2J" + format_status(st) + "\n")
                sys.stdout.flush()
            else:
                print(time.strftime("%H:%M:%S ") + format_status(st) + "\n", flush=True)
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0


def _history(ns: Any) -> int:
    import json

    from .history import History

    with open_existing(settings_for(ns.pool, ns).pool) as pool:
        records = list(History(pool.path, 0o666 if pool.shared else 0o600).records())
    _lenient_stdout()
    if ns.json:
        print(json.dumps(records, indent=1, default=str))
        return 0
    print(f"{'EXIT':>4} {'LINKER':<7} {'W':>2} {'THR':>3} {'WAIT':>7} {'RUN':>7} "
          f"{'RSS MB':>7}  OUTPUT")
    for r in records:  # each checked by History.records: its figures are numbers or null
        rss = (r.get("max_rss_kb") or 0) / 1024
        what = r.get("output") or " ".join(r.get("command") or [])[:60]
        print(f"{r.get('exit', '?')!s:>4} {r.get('linker') or '-':<7} "
              f"{r.get('weight') or '-':>2} "
              f"{r.get('threads') or '-':>3}{'(' + str(r['tokens']) + ')' if 'tokens' in r else ''}"
              f" {r.get('wait_s') or 0:>6.2f}s "
              f"{r.get('run_s') or 0:>6.2f}s {rss:>7.1f}  {what}")
    return 0


def _lenient_stdout() -> None:
    """Text another user wrote (a command line in a note or a record) may hold what the
    terminal's encoding cannot show (a lone surrogate): shown escaped, never an error."""
    try:
        sys.stdout.reconfigure(errors="backslashreplace")  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        pass


def format_status(st: dict[str, Any]) -> str:
    import time

    now = time.time()
    lines = [
        f"pool {st['pool']}: {st['slots']} slots, {st['in_use']} in use, "
        f"{st['waiting']} waiting (wakes by {st['wakeup']}{', shared' if st['shared'] else ''})"
    ]

    ours = _pid_namespace()

    def table(title: str, rows: list[dict[str, Any]], weight: str) -> None:
        lines.append("")
        lines.append(f"{title:<8} {'PID':>8} {'USER':>8} {weight:>7} {'THREADS':>7} "
                     f"{'FOR':>8}  OUTPUT / COMMAND")
        for r in rows:
            what = str(r.get("output") or "") or " ".join(str(a) for a in r.get("command", []))
            what = what or "?"
            if len(what) > 80:
                what = "..." + what[-77:]
            w = str(r.get("weight", "?"))
            if "held" in r and r["held"] != r.get("weight"):
                w = f"{r['held']}/{w}"
            pid = str(r.get("pid", "?"))
            if r.get("pidns") and r.get("pidns") != ours:
                pid += "*"  # a pid of another pid namespace (a container, Bazel's sandbox)
            secs = max(0.0, now - float(r.get("since", now)))
            lines.append(f"{'':<8} {pid:>8} {_users(r.get('uids')):>8} {w:>7} "
                         f"{r.get('threads') or '-':>7} {secs:>7.1f}s  {what}")

    if st["holders"]:
        table("HOLDERS", st["holders"], "SLOTS")
    if st["unknown_holders"]:
        lines.append(f"(+{st['unknown_holders']} slot(s) held by a process that wrote no name)")
    for u in st.get("unknown", []):
        pids = ", ".join(f"pid {b['pid']} ({b['lock']} lock)" for b in u["lockers"]) or "?"
        lines.append(f"  slot {u['slot']}: held by {_users(u['uids'])}, {pids}")
    for u in st.get("unknown_tickets", []):
        pids = ", ".join(f"pid {b['pid']}" for b in u["lockers"]) or "?"
        lines.append(f"  ticket {u['ticket']}: held by {_users(u['uids'])}, {pids}, with no "
                     f"note: everyone after it waits")
    if st.get("unusable_slots"):
        lines.append(f"(slot(s) {', '.join(map(str, st['unusable_slots']))} never free: "
                     f"something other than a slot file is in its place; see `linkpool doctor`)")
    if st["waiters"]:
        table("WAITING", st["waiters"], "WANTS")
    if any(r.get("pidns") and r.get("pidns") != ours for r in st["holders"] + st["waiters"]):
        lines.append("* in another pid namespace: that pid means nothing here")
    return "\n".join(lines)


def _users(uids: Any) -> str:
    """The names of the users holding a slot or ticket (the kernel's /proc/locks)."""
    if not uids:
        return "?"
    import pwd

    names = []
    for uid in uids:
        try:
            names.append(pwd.getpwuid(uid).pw_name)
        except KeyError:
            names.append(str(uid))
    return ",".join(names)


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


if __name__ == "__main__":
    main()
