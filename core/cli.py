"""The ``linkpool`` command.

    linkpool init   [--pool DIR] [--slots N] [--shared]
    linkpool run    [--pool DIR] [--weight K] [--timeout SEC] [--strict] [--quiet]
                    -- COMMAND [ARG...]
    linkpool status [--pool DIR] [--json]
    linkpool history [--pool DIR] [--json]
    linkpool stats | trace | report | doctor | config ...   (see USAGE)
    linkpool setup SYSTEM ... | linkpool ninja ...         (build-system integrations)
    linkpool COMMAND [ARG...]          (launcher form: the same as ``run -- COMMAND``)

``run`` and the launcher form are the hot path: they are parsed by hand and import only
what they use. Exit statuses: the command's own; 2 for a usage error; 69 when the pool is
unusable in strict mode; 75 when ``--timeout`` ran out; 126/127 when the command cannot
be run; 130 when interrupted while waiting.
"""

from __future__ import annotations

import os
import sys

from .config import ConfigError

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any, NoReturn


USAGE = """\
usage: linkpool init   [--pool DIR] [--slots N] [--shared]
       linkpool run    [--pool DIR] [--weight K] [--timeout SEC] [--strict] [--quiet]
                       -- COMMAND [ARG...]
       linkpool status [--pool DIR] [--json]
       linkpool history [--pool DIR] [--json]
       linkpool stats  [--pool DIR] [--since 1h] [--json]     (waits, run times, hints)
       linkpool trace  [--pool DIR] [--output FILE]           (Chrome/Perfetto trace JSON)
       linkpool report [--pool DIR] --output FILE.svg|.html|.png
       linkpool doctor [--pool DIR] [--json]                  (check the set-up, say the fix)
       linkpool config [--json]                               (effective settings and sources)
       linkpool setup {meson,cmake,make} [...]  (turn linkpool on in a build system)
       linkpool ninja [NINJA ARGS...]            (ninja with its link rules through the pool)
       linkpool COMMAND [ARG...]

A machine-wide pool of link slots: every `linkpool run` on this machine that names the
same pool waits for its slots, so parallel builds stop oversubscribing cores and memory.
The pool is --pool, else $LINKPOOL_DIR, else `pool` in the config file, else
$XDG_RUNTIME_DIR/linkpool or /tmp/linkpool-$UID.
"""
EX_USAGE, EX_UNAVAILABLE, EX_TEMPFAIL, EX_INTERRUPTED = 2, 69, 75, 130
COMMANDS = ("init", "run", "status", "history")
INTEGRATIONS = ("setup", "ninja")
# Commands whose whole implementation lives in a module of their own: name -> module.
MODULES = {"stats": "observe", "trace": "observe", "report": "observe", "doctor": "doctor",
           "config": "settings"}


class UsageError(Exception):
    pass


def say(message: str) -> None:
    """One line on stderr, prefixed as every linkpool message is (nothing if it is closed)."""
    try:
        sys.stderr.write(f"linkpool: {message}\n")
        sys.stderr.flush()
    except Exception:
        pass


def entry(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``linkpool`` command: :func:`main`, then leave without the interpreter's teardown
    (freeing every module and object costs the wrapper milliseconds it has nothing to do
    with: the command's status is known, the history written, the output flushed)."""
    from .process import guard_stdio

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
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        code = dispatch(args)
    except UsageError as e:
        say(f"{e} (see `linkpool --help`)")
        code = EX_USAGE
    except KeyboardInterrupt:
        code = EX_INTERRUPTED
    except BrokenPipeError:
        code = 1
    except Exception as e:  # never a traceback for the user; LINKPOOL_DEBUG=1 shows one
        if os.environ.get("LINKPOOL_DEBUG"):
            raise
        code = fail_open(args, e)
    sys.exit(code)


def fail_open(args: list[str], error: Exception) -> int:
    """What to do when linkpool itself failed: a link (``run`` or the launcher form) whose
    command has not started yet runs without linkpool, unchanged; anything else is an error
    of the subcommand (a bad config file: 2; a bug: 1)."""
    from . import process

    what = str(error) if isinstance(error, ConfigError) else \
        f"internal error: {type(error).__name__}: {error}"
    command = run_command(args)
    if command and process.child is None:
        process.exec_bare(command, f"{what}; running the command without linkpool")
    if command:  # it ran or runs: its status is the answer
        say(f"warning: {what}")
        return process.wait_child()
    if isinstance(error, ConfigError):
        say(what)
        return EX_USAGE
    say(f"{what} (set LINKPOOL_DEBUG=1 for details)")
    return 1


def run_command(args: list[str]) -> list[str] | None:
    """The command of ``linkpool run ... -- COMMAND`` or of the launcher form, else None."""
    if not args or (args[0] != "run" and (args[0] in COMMANDS or args[0] in MODULES
                                          or args[0] in INTEGRATIONS or args[0].startswith("-")
                                          or args[0] == "help")):
        return None
    if args[0] != "run":
        return args
    try:
        return parse_run(args[1:])[1]
    except UsageError:
        return None


def dispatch(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        sys.stdout.write(USAGE)
        return 0 if args else EX_USAGE
    if args[0] == "--version":
        from . import __version__

        print(f"linkpool {__version__}")
        return 0
    if args[0] == "run":
        return cmd_run(args[1:])
    if args[0] in INTEGRATIONS:  # `linkpool setup SYSTEM ...`, `linkpool ninja ...`
        return cmd_integration(args)
    if args[0] in MODULES:  # `linkpool stats ...` -> linkpool.observe.main(["stats", ...])
        from importlib import import_module

        return int(import_module(f"linkpool.{MODULES[args[0]]}").main(args) or 0)
    if args[0] in COMMANDS:
        return cmd_admin(args)
    if args[0].startswith("-"):
        raise UsageError(f"unknown option {args[0]}")
    return cmd_run(["--", *args])  # launcher form


# -- run -----------------------------------------------------------------------------------


def parse_run(args: list[str]) -> tuple[dict[str, Any], list[str]]:
    opts: dict[str, Any] = {"pool": None, "weight": None, "timeout": None, "strict": False,
                            "quiet": False}
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            i += 1
            break
        if not arg.startswith("-") or arg == "-":
            break
        name, eq, value = arg.partition("=")
        if name in ("--pool", "--weight", "--timeout"):
            if not eq:
                i += 1
                if i == len(args):
                    raise UsageError(f"{name} needs a value")
                value = args[i]
            opts[name[2:]] = value
        elif arg in ("--strict", "--quiet"):
            opts[arg[2:]] = True
        elif arg in ("-h", "--help"):
            raise UsageError("usage: linkpool run [--pool DIR] [--weight K] [--timeout SEC] "
                             "[--strict] [--quiet] -- COMMAND [ARG...]")
        else:
            raise UsageError(f"unknown option {arg} for run")
        i += 1
    command = args[i:]
    if not command:
        raise UsageError("run needs a command after --")
    if opts["weight"] is not None:
        opts["weight"] = _number(opts["weight"], int, "--weight", 1)
    if opts["timeout"] is not None:
        opts["timeout"] = _number(opts["timeout"], float, "--timeout", 0)
    return opts, command


def _number(text: str, kind: type, name: str, least: float) -> Any:
    try:
        value = kind(text)
    except ValueError:
        value = None
    if value is None or value < least or value != value:
        raise UsageError(f"{name} takes a number >= {least:g}, not {text!r}")
    return value


def pool_path(cli: str | None) -> str:
    from .config import load
    from .pool import default_path

    return cli or os.environ.get("LINKPOOL_DIR") or load().get("pool") or default_path()


def cmd_run(args: list[str]) -> int:
    from .config import flag, load
    from .engine import Engine

    opts, command = parse_run(args)
    config = load()
    strict = opts["strict"] or flag(os.environ.get("LINKPOOL_STRICT", config.get("strict", "")))
    path = opts["pool"] or os.environ.get("LINKPOOL_DIR") or config.get("pool")
    if not path:
        from .pool import default_path

        path = default_path()
    quiet = opts["quiet"] or flag(os.environ.get("LINKPOOL_QUIET", config.get("quiet", "")))
    engine = Engine(command, config, opts["weight"], opts["timeout"], strict, quiet)
    return engine.run(os.path.abspath(path))


def cmd_integration(args: list[str]) -> int:
    """Hand over to a build-system adapter: ``linkpool.integrations.<name>.main(args)``."""
    from importlib import import_module

    if args[0] == "ninja":
        name, rest = "ninja", args[1:]
    elif len(args) < 2 or args[1].startswith("-"):
        raise UsageError("setup needs a build system, e.g. `linkpool setup meson`")
    else:
        name, rest = args[1], args[2:]
    if not name.isidentifier():
        raise UsageError(f"no build-system integration named {name!r}")
    try:
        module = import_module(f"linkpool.integrations.{name}")
    except ModuleNotFoundError:
        raise UsageError(f"no build-system integration named {name!r}") from None
    entry = getattr(module, "main" if args[0] == "ninja" else "setup", None)
    if entry is None:
        raise UsageError(f"`linkpool {' '.join(args[:2])}` is not available")
    return int(entry(rest) or 0)


# -- init and status ----------------------------------------------------------------------


def cmd_admin(args: list[str]) -> int:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> NoReturn:
            raise UsageError(message)

    parser = Parser(prog="linkpool", add_help=True)
    sub = parser.add_subparsers(dest="command")
    init = sub.add_parser("init", help="create or resize a pool")
    init.add_argument("--pool", metavar="DIR")
    init.add_argument("--slots", type=int, metavar="N")
    init.add_argument("--shared", nargs="?", const=True, default=False, metavar="DIR",
                      help="a pool for several users or containers (sticky, world-writable)")
    status = sub.add_parser("status", help="who holds and who waits")
    status.add_argument("--pool", metavar="DIR")
    status.add_argument("--json", action="store_true")
    status.add_argument("--watch", nargs="?", const=1.0, type=float, metavar="SECONDS",
                        help="refresh every SECONDS (default 1) until Ctrl-C")
    history = sub.add_parser("history", help="the links that ran through the pool")
    history.add_argument("--pool", metavar="DIR")
    history.add_argument("--json", action="store_true")
    ns = parser.parse_args(args)
    from .pool import PoolError

    try:
        if ns.command == "init":
            return cmd_init(ns)
        if ns.command == "history":
            return cmd_history(ns)
        return cmd_status(ns)
    except PoolError as e:
        say(str(e))
        return 1


def cmd_init(ns: Any) -> int:
    from .pool import Pool, PoolError

    shared = ns.shared is not False
    if isinstance(ns.shared, str):
        if ns.pool and ns.pool != ns.shared:
            raise UsageError("give the shared pool's directory once: --shared DIR or --pool DIR")
        ns.pool = ns.shared
    path = os.path.abspath(pool_path(ns.pool))
    existed = os.path.lexists(path)
    pool = Pool.open(path, default_slots=ns.slots, shared=shared, repair=ns.slots is not None)
    with pool:
        pool.make_slots()
        if existed and shared and not pool.shared:
            raise PoolError(f"pool {path} already exists as a private pool; remove it first to "
                            f"make a shared one there")
        if ns.slots is not None and ns.slots != pool.slots:
            old = pool.slots
            pool.resize(ns.slots)
            print(f"pool {path}: resized from {old} to {pool.slots} slots")
        else:
            verb = "has" if existed else "created with"
            kind = "shared" if pool.shared else "private"
            print(f"pool {path}: {verb} {pool.slots} slots ({kind})")
    return 0


def cmd_status(ns: Any) -> int:
    import json

    from .pool import Pool

    with Pool.open(os.path.abspath(pool_path(ns.pool))) as pool:
        if ns.watch is None:
            st = pool.status()
            print(json.dumps(st, indent=2, default=str) if ns.json else format_status(st))
            return 0
        return watch_status(pool, max(0.1, ns.watch), ns.json)


def watch_status(pool: Any, interval: float, as_json: bool) -> int:
    """Redraw the status every ``interval`` s until Ctrl-C: in place on a terminal, as
    successive blocks (or JSON lines) otherwise."""
    import json
    import time

    tty = sys.stdout.isatty() and not as_json
    try:
        while True:
            st = pool.status()
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


def cmd_history(ns: Any) -> int:
    import json

    from .history import History
    from .pool import Pool

    with Pool.open(os.path.abspath(pool_path(ns.pool))) as pool:
        records = list(History(pool.path).records())
    if ns.json:
        print(json.dumps(records, indent=1, default=str))
        return 0
    print(f"{'EXIT':>4} {'LINKER':<7} {'W':>2} {'THR':>3} {'WAIT':>7} {'RUN':>7} "
          f"{'RSS MB':>7}  OUTPUT")
    for r in records:
        rss = (r.get("max_rss_kb") or 0) / 1024
        what = r.get("output") or " ".join(r.get("command", []))[:60]
        print(f"{r.get('exit', '?'):>4} {r.get('linker') or '-':<7} {r.get('weight') or '-':>2} "
              f"{r.get('threads') or '-':>3}{'(' + str(r['tokens']) + ')' if 'tokens' in r else ''}"
              f" {r.get('wait_s', 0):>6.2f}s "
              f"{r.get('run_s', 0):>6.2f}s {rss:>7.1f}  {what}")
    return 0


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
        lines.append(f"{title:<8} {'PID':>8} {weight:>7} {'THREADS':>7} {'FOR':>8}  "
                     f"OUTPUT / COMMAND")
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
            lines.append(f"{'':<8} {pid:>8} {w:>7} {r.get('threads') or '-':>7} "
                         f"{secs:>7.1f}s  {what}")

    if st["holders"]:
        table("HOLDERS", st["holders"], "SLOTS")
    if st["unknown_holders"]:
        lines.append(f"(+{st['unknown_holders']} slot(s) held by a process that wrote no name)")
    if st["waiters"]:
        table("WAITING", st["waiters"], "WANTS")
    if any(r.get("pidns") and r.get("pidns") != ours for r in st["holders"] + st["waiters"]):
        lines.append("* in another pid namespace: that pid means nothing here")
    return "\n".join(lines)


def _pid_namespace() -> str:
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return ""


if __name__ == "__main__":
    main()
