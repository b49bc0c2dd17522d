"""The config files, and the two errors every command shares.

Finding the files: the user's is ``$LINKPOOL_CONFIG``, else
``$XDG_CONFIG_HOME/linkpool/config.toml`` (by default ``~/.config/linkpool/config.toml``).
Below it, following the XDG Base Directory convention, come the system files:
``linkpool/config.toml`` in each directory of ``$XDG_CONFIG_DIRS`` (default ``/etc/xdg``),
the first listed winning. A key set in a file wins over the same key in any file below
it. A file is only parsed (by ``tomllib``) when it exists, so a run pays one ``open``
per file (two by default). What each key means, its environment variable and how a value
is checked is the table of ``linkpool.settings``; this module only finds and parses the
files, and is, with that table, the only reader of ``LINKPOOL_*`` variables (here just
``$LINKPOOL_CONFIG``, which says where the files are).

The errors: :class:`ConfigError` (a wrong file or setting) and :class:`UsageError` (a
wrong command line), with the argument parser of the subcommands that raises the latter,
and linkpool's own exit statuses. They live on this floor, below the CLI and the
build-system adapters that raise them; ``linkpool.cli.dispatch`` is the one place that
turns them into a line and an exit status.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

SYSTEM_DIRS = "/etc/xdg"  # $XDG_CONFIG_DIRS when it is unset or empty (the XDG spec's default)
SYSTEM_POOL = "/run/linkpool"  # the machine's pool `linkpool setup system` makes by default


#: linkpool's own exit statuses (sysexits.h's names): a usage error (:class:`UsageError`)
#: or a wrong setting (:class:`ConfigError`); a pool unusable under ``--strict``;
#: ``--timeout`` ran out; Ctrl-C while waiting for slots (128 + SIGINT).
EX_USAGE, EX_UNAVAILABLE, EX_TEMPFAIL, EX_INTERRUPTED = 2, 69, 75, 130


class ConfigError(Exception):
    """A setting cannot be used (the file cannot be read or parsed, a value has the wrong
    type): one line naming the file or the variable, and the key."""


class UsageError(Exception):
    """A mistake on the command line: one line, exit 2."""


def config_file(env: Mapping[str, str] = os.environ) -> str:
    """The config file's absolute path (a relative ``$LINKPOOL_CONFIG`` is taken from the
    working directory)."""
    if env.get("LINKPOOL_CONFIG"):
        return os.path.abspath(env["LINKPOOL_CONFIG"])
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(os.path.abspath(base), "linkpool", "config.toml")


def system_files(env: Mapping[str, str] = os.environ) -> list[str]:
    """The system config files, most important first: ``linkpool/config.toml`` in each
    directory of ``$XDG_CONFIG_DIRS`` (``/etc/xdg`` when it is unset or empty). As the
    XDG spec says, a relative entry is invalid and ignored; a repeated one counts once,
    and so does one that is the user's own file."""
    out: list[str] = []
    user = config_file(env)
    for folder in (env.get("XDG_CONFIG_DIRS") or SYSTEM_DIRS).split(":"):
        if folder.startswith("/"):
            path = os.path.join(os.path.normpath(folder), "linkpool", "config.toml")
            if path != user and path not in out:
                out.append(path)
    return out


def read(path: str, system: bool = False, missing: str | None = None) -> dict[str, Any]:
    """The parsed file at ``path``, or ``{}`` when there is none (for a ``system`` file,
    also when a folder of its path is not a directory). ``missing``: the file must exist
    (``$LINKPOOL_CONFIG`` names it), and this is the ConfigError when it does not."""
    try:
        with open(path, "rb") as f:
            _check_owner(path, os.fstat(f.fileno()), system)
            raw = f.read()
    except FileNotFoundError:
        if missing:
            raise ConfigError(missing) from None
        return {}
    except NotADirectoryError:
        if system:
            return {}
        raise ConfigError(f"cannot read config {path}: a folder of that path is a file") \
            from None
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
    try:
        return toml_loads(raw.decode("utf-8"))
    except ValueError as e:  # TOMLDecodeError, UnicodeDecodeError
        raise ConfigError(f"config {path} is not valid TOML ({e}); fix or remove it") from None


def named_missing(env: Mapping[str, str] = os.environ) -> str | None:
    """The error for the user's file when it does not exist, for :func:`read`: only when
    ``$LINKPOOL_CONFIG`` names it (a typo, or a file not made yet, would otherwise leave
    every setting at its default without a word); else None, no file is fine."""
    if not env.get("LINKPOOL_CONFIG"):
        return None
    usual = config_file({k: v for k, v in env.items() if k != "LINKPOOL_CONFIG"})
    return (f"$LINKPOOL_CONFIG names {config_file(env)}, which does not exist; create it, "
            f"or unset LINKPOOL_CONFIG to read {usual}")


def toml_loads(text: str) -> dict[str, Any]:
    """The table of a TOML document: :func:`tomllib.loads` (tomli before Python 3.11),
    imported only when there is a file to read: most runs read none, and importing it
    costs 3-8 ms beyond what json and pluggy import, 11-17 ms alone (Python 3.11 on
    2 cores, idle to loaded; issue 20 item 5)."""
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
    data: dict[str, Any] = tomllib.loads(text)
    return data


def _check_owner(path: str, st: os.stat_result, system: bool = True) -> None:
    """A config file sets the pool and the plugin path (code that the links load): refuse
    one that someone other than root or this user could change (:func:`untrusted`)."""
    wrong = untrusted(path, st)
    if wrong is not None:
        what, who, fix = wrong
        whose = "everyone's" if system else "your"
        raise ConfigError(f"config {path} {what}, so {who} could change {whose} settings; "
                          f"refused: `{fix}`")


def untrusted(path: str, st: os.stat_result | None = None, _depth: int = 0,
              _final: bool = True) -> tuple[str, str, str] | None:
    """Why ``path`` (a config file, a plugin folder: something linkpool obeys or runs) could
    be changed by someone other than root and this user, or None when it could not: as
    ssh's StrictModes requires, it and every folder above it must be owned by root or this
    user and writable by nobody else, groups included; a folder above it may be writable
    by others if it is sticky (/tmp: nobody can replace what is not theirs in it). A
    symlink on the way counts where it lies (its folder) and where it leads. Returns (what
    is wrong, who could do it, the command that fixes it). ``st``: the file's own status,
    from the descriptor it was read through."""
    names = [n for n in os.path.abspath(path).split("/") if n]
    p = "/"
    for i in range(len(names) + 1):
        last = i == len(names) and _final
        if i:
            p = os.path.join(p, names[i - 1])
        try:
            s = os.lstat(p)
            if s.st_mode & 0o170000 == 0o120000:  # a symlink: where it leads counts too
                if _depth > 40:
                    return "leads through too many symlinks", "someone", f"ls -l {p}"
                target = os.path.join(os.path.dirname(p), os.readlink(p))
                wrong = untrusted(target, st, _depth + 1, last)
                if wrong is not None:
                    return wrong
                p = os.path.realpath(p)
                continue
        except OSError as e:
            return f"cannot be checked ({p}: {e.strerror})", "someone", f"ls -ld {p}"
        if last and st is not None:
            s = st
        where = "" if last else f"is in {p}, which "
        if s.st_uid not in (0, os.geteuid()):
            return (f"{where}is owned by uid {s.st_uid}, not root", "that user",
                    f"chown root {p}")
        if s.st_mode & 0o022 and (last or not s.st_mode & 0o1000):
            if s.st_mode & 0o002:
                return f"{where}is writable by anyone", "anyone", f"chmod go-w {p}"
            return (f"{where}is writable by its group (gid {s.st_gid})",
                    "that group's members", f"chmod g-w {p}")
    return None


def layers(env: Mapping[str, str] = os.environ) -> list[tuple[str, str, dict[str, Any]]]:
    """Every config file, most important first, as (path, "file" or "system", its table;
    ``{}`` when it does not exist). A file that cannot be read is ConfigError, and so is
    a missing one that ``$LINKPOOL_CONFIG`` names."""
    user = config_file(env)
    found = [(user, "file", read(user, missing=named_missing(env)))]
    for path in system_files(env):
        found.append((path, "system", read(path, True)))
    return found


def merged(found: list[tuple[str, str, dict[str, Any]]]) -> dict[str, Any]:
    """One table of ``layers``: each key from the most important file that sets it."""
    out: dict[str, Any] = {}
    for _, _, table in reversed(found):
        out.update(table)
    return out


def argument_parser(prog: str, description: str, epilog: str | None = None,
                    pool: str | None = None) -> Any:
    """The ``argparse`` parser of every ``linkpool`` subcommand and adapter (``prog``:
    "linkpool init", "linkpool setup cmake"): a usage error raises :class:`UsageError`
    ("init: unknown option --x"; ``linkpool.cli.dispatch`` says it) instead of printing
    the usage and exiting, and ``--help`` keeps the description's and the epilog's
    paragraphs as written. ``pool``: the help of its ``--pool DIR`` (checked by
    :func:`pool_value`), when it takes one."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> Any:
            head, _, words = message.partition("unrecognized arguments: ")
            if not head and words:  # argparse's words for what it does not know
                what = "unknown option" if words.startswith("-") else "unexpected argument"
                message = f"{what} {words}"
            raise UsageError(f"{self.prog[len('linkpool '):]}: {message}")

    parser = Parser(prog=prog, description=description, epilog=epilog,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    if pool is not None:
        parser.add_argument("--pool", metavar="DIR", type=pool_value, help=pool)
    return parser


def pool_value(text: str) -> str:
    """An argparse ``type`` for ``--pool DIR``: a path, not an empty string."""
    if not text.strip():
        import argparse

        raise argparse.ArgumentTypeError("needs a directory, not an empty string")
    return text


def slots_value(text: str) -> int:
    """An argparse ``type`` for ``--slots N`` (``init``, ``setup system``): the pool's own
    rule for a number of slots, :func:`linkpool.pool.slot_count`."""
    from .pool import slot_count

    try:
        return slot_count(text)
    except ValueError as e:
        import argparse

        raise argparse.ArgumentTypeError(str(e)) from None


def config_source(env: Mapping[str, str] = os.environ) -> str:
    """Why the user's config file is where it is."""
    if env.get("LINKPOOL_CONFIG"):
        return "$LINKPOOL_CONFIG"
    return "$XDG_CONFIG_HOME" if env.get("XDG_CONFIG_HOME") else "default"


def system_source(env: Mapping[str, str] = os.environ) -> str:
    """Why the system config files are where they are."""
    return "$XDG_CONFIG_DIRS" if env.get("XDG_CONFIG_DIRS") else "default"
