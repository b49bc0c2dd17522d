"""The settings: one table, checked in one place and resolved once per command.

``SETTINGS`` is the table: for each setting its name, environment variable, config-file
key, kind (which says what a value must be), default, the order its sources are read in,
and what it does. :func:`resolve` reads every source of every setting once, checks each
value against its kind and returns one :class:`Settings` object: the value of each
setting as an attribute (``settings.pool``, ``settings.memory_budget``...), where each
came from, and the mapping plugins get. ``run`` carries it on the ``Job`` (the engine,
the hooks and the plugins read it there); the other subcommands, ``doctor`` and
``linkpool config`` resolve it the same way, so they agree on every value and a wrong one
is reported the same way everywhere: one :class:`ConfigError` line naming the file (or
the environment variable) and the key. Nothing else in linkpool reads a ``LINKPOOL_*``
setting from the environment (``linkpool.configfile`` reads ``$LINKPOOL_CONFIG``, which
says where the files are).

Sources, in the order of each entry's ``order`` letters: c = the command line, e = the
environment, f = the config files: the user's own file, then the system files of
``$XDG_CONFIG_DIRS`` (``/etc/xdg/linkpool/config.toml`` by default), the first that sets
the key winning (``linkpool.configfile``). ``disable`` is the union of a file's list (or
comma-separated string) and ``$LINKPOOL_DISABLE``; ``wakeup`` and ``debug`` are
read only from the environment. A relative ``pool`` in a config file is taken from
that file's folder (and ``~`` is the home directory); a relative ``--pool`` or
``$LINKPOOL_DIR`` from the working directory, as a shell user means it.

This module is on the wrapper's fast path (``run`` reads its settings here): it imports
nothing but ``linkpool.configfile``. ``linkpool config`` is ``linkpool.configcmd``.
"""

from __future__ import annotations

import os

from .configfile import ConfigError, config_file, merged
from .configfile import layers as read_layers

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

    Layer = tuple[str, str, dict[str, Any]]  # a config file: path, "file" or "system", table

MEMORY_BUDGET = 0.75  # of the usable memory: the default share running links may use
TRUE = ("1", "true", "yes", "on")  # the words of a yes/no value, in any case
FALSE = ("0", "false", "no", "off")
YES_NO = "a yes/no value (use 1/0, true/false, yes/no, on/off)"
WAKEUP = ("polling", "auto")

#: What a value of each kind must be, in the words of the error.
KINDS = {
    "path": "a directory path (a string)",
    "flag": YES_NO,
    "fraction": "a number in (0, 1] (the share of usable memory links may use)",
    "names": "a list of plugin names, or one comma-separated string of them",
    "wakeup": "a wake-up mode (use 'polling' to force polling, or 'auto')",
    "paths": "a list of directories, or one ':'-separated string of them",
}


class Entry:
    """One row of the table."""

    __slots__ = ("default", "help", "key", "kind", "name", "order", "var")

    def __init__(self, name: str, var: str | None, key: str | None, kind: str, default: Any,
                 order: str, help: str) -> None:
        self.name = name
        self.var = var  # the environment variable, or None
        self.key = key  # the config-file key, or None
        self.kind = kind  # a key of KINDS
        self.default = default
        self.order = order  # the sources, first wins: c(ommand line), e(nvironment), f(ile)
        self.help = help


SETTINGS = (
    Entry("pool", "LINKPOOL_DIR", "pool", "path", None, "cef",
          "the pool directory every link queues in (default: $XDG_RUNTIME_DIR/linkpool, "
          "else /tmp/linkpool-$UID)"),
    Entry("strict", "LINKPOOL_STRICT", "strict", "flag", False, "cef",
          "exit 69 instead of running a link unpooled when the pool is unusable"),
    Entry("quiet", "LINKPOOL_QUIET", "quiet", "flag", False, "cef",
          "no lines about waiting from `run`"),
    Entry("memory_budget", "LINKPOOL_MEMORY_BUDGET", "memory_budget", "fraction",
          MEMORY_BUDGET, "ef", "how much of the usable memory links running together may use"),
    Entry("disable", "LINKPOOL_DISABLE", "disable", "names", (), "ef",
          "plugins turned off (the file's and the environment's, together)"),
    Entry("check_output", "LINKPOOL_CHECK_OUTPUT", "check_output", "flag", False, "ef",
          "check that a successful link wrote an ELF file"),
    Entry("wakeup", "LINKPOOL_WAKEUP", None, "wakeup", "auto", "e",
          "how the head of the line wakes: inotify, or polling on a network filesystem"),
    Entry("plugin_path", "LINKPOOL_PLUGIN_PATH", "plugin_path", "paths", (), "ef",
          "more directories to find plugins in (the environment's, then the file's)"),
    Entry("debug", "LINKPOOL_DEBUG", None, "flag", False, "e",
          "show a traceback for an error of linkpool itself, for a bug report"),
)
BY_NAME = {e.name: e for e in SETTINGS}


class Setting:
    """One resolved setting: its value, the kind of source and a readable source."""

    __slots__ = ("given", "name", "origin", "source", "value")

    def __init__(self, name: str, value: Any, origin: str, source: str,
                 given: Any = None) -> None:
        self.name = name
        self.value = value
        # "default", "file" (the user's), "system" (a system file), "env", "cli"; for
        # disable and plugin_path, "file+env" or "system+env" when both count
        self.origin = origin
        self.source = source  # "default", the file's path, "$LINKPOOL_DIR", "--pool"
        self.given = given  # the value as its source wrote it (None for a default)

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "origin": self.origin, "source": self.source}


class Settings:
    """Every setting of the table, resolved once: one attribute per entry holding its
    checked value (a test keeps these annotations and the table alike).

    ``settings[name]`` is that setting's :class:`Setting` (where the value came from);
    ``layers`` are the config files read; ``config`` is the mapping the plugins get
    (``linkpool_configure(config)`` and ``job.config``): every key of the config files,
    merged, with each setting's resolved value in place of the file's (under its file
    key, or its name for a setting only the environment sets).
    """

    pool: str
    strict: bool
    quiet: bool
    memory_budget: float
    disable: list[str]
    check_output: bool
    wakeup: str
    plugin_path: list[str]
    debug: bool

    def __init__(self, found: dict[str, Setting], layers: list[Layer]) -> None:
        self.found = found
        self.layers = layers
        config = merged(layers)
        for entry in SETTINGS:
            value = found[entry.name].value
            setattr(self, entry.name, value)
            config[entry.key or entry.name] = value
        self.config = config

    def __getitem__(self, name: str) -> Setting:
        return self.found[name]

    @property
    def polling(self) -> bool:
        """Whether ``$LINKPOOL_WAKEUP=polling`` makes every waiter poll instead of using
        inotify (how to test, and see, a machine without it)."""
        return self.wakeup == "polling"


# -- checking one value -------------------------------------------------------------------


def _check(kind: str, value: Any, text: bool, folder: str) -> Any:
    """``value`` as its kind wants it, or ValueError. ``text``: it came from the
    environment or the command line (always a string); else from the TOML file, whose
    relative paths are taken from ``folder``."""
    if kind == "path":
        if not isinstance(value, str) or not value.strip():
            raise ValueError
        if text:
            return os.path.abspath(value)
        return os.path.normpath(os.path.join(folder, os.path.expanduser(value)))
    if kind == "flag":
        if value is True or value is False:
            return value
        word = str(value).strip().lower() if isinstance(value, (str, int)) else None
        if word in TRUE or word in FALSE:
            return word in TRUE
        raise ValueError
    if kind == "fraction":
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise ValueError
        number = float(value)  # ValueError for "abc"
        if not 0 < number <= 1:  # False for nan too
            raise ValueError
        return number
    if kind in ("names", "paths"):
        if isinstance(value, str):
            value = value.split("," if kind == "names" else os.pathsep)
        if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
            raise ValueError
        if kind == "names":
            return [n.strip() for n in value if n.strip()]
        return [_check("path", d, text, folder) for d in value if d.strip()]
    if value not in WAKEUP:  # "wakeup"
        raise ValueError
    return value


def _shown(value: Any) -> str:
    """A config-file value as the error shows it: TOML's true/false, strings quoted."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def problem(entry: Entry, origin: str, value: Any, path: str) -> str:
    """The one line saying that ``value`` is wrong for ``entry``, naming its source."""
    what = KINDS[entry.kind]
    if origin == "env":
        return f"{entry.var}={value!r} is not {what}"
    if origin == "cli":
        return f"--{entry.name.replace('_', '-')} {value!r} is not {what}"
    return f"{path}: {entry.key!r} must be {what}, not {_shown(value)}"


def about_pool(message: str, path: str, source: str) -> str:
    """``message``, about the pool at ``path``, saying where that path came from
    (``source``: "--pool", "$LINKPOOL_DIR", a config file's path): after the path's first
    mention when that is the path as a whole, outside a quoted command ("pool /x (from
    $LINKPOOL_DIR) has no pool.json"), else before the message ("pool /x (from ...):
    /x/pool.json is corrupt"). A pool chosen far from the
    command line (a variable, a file) is one its user may not know they chose. The
    default pool (source "default" or "") needs no source: the message is unchanged."""
    if source in ("", "default"):
        return message
    where = f" (from {source})"
    at = message.find(path)
    end = at + len(path)
    if at >= 0 and message[end:end + 1] in ("", " ", ":", ";", ",", ")") \
            and message.count("`", 0, at) % 2 == 0:  # not in a command the line quotes
        return message[:end] + where + message[end:]
    return f"pool {path}{where}: {message}"


# -- resolving all of them ----------------------------------------------------------------


def resolve(cli: Mapping[str, Any] | None = None, env: Mapping[str, str] = os.environ,
            file: Mapping[str, Any] | None = None,
            problems: list[tuple[str, str]] | None = None,
            layers: list[Layer] | None = None) -> Settings:
    """Every setting of ``SETTINGS``, checked; ``cli`` holds command-line values (None or
    False: not given). ``layers`` are the config files (``linkpool.configfile.layers``,
    read when not given); ``file`` instead stands for the user's file alone. The pool's
    default is filled in (``linkpool.pool.default_path``) only when no source names one.

    A wrong value raises ConfigError (one line naming the source and the key), as does a
    config file that cannot be read; with ``problems`` (a list), each wrong value is
    appended there as (name, line) instead and the setting keeps its default.
    """
    if layers is None:
        layers = read_layers(env) if file is None else [(config_file(env), "file", dict(file))]
    out: dict[str, Setting] = {}
    for entry in SETTINGS:
        try:
            if entry.kind in UNITED:
                found = _union(entry, env, layers)
            else:
                found = _first(entry, cli or {}, env, layers)
        except _Wrong as e:
            line = problem(entry, e.origin, e.given, e.path)
            if problems is None:
                raise ConfigError(line) from None
            problems.append((entry.name, line))
            found = None
        if found is None:
            default = entry.default
            found = Setting(entry.name, list(default) if isinstance(default, tuple) else
                            default, "default", "default")
        out[entry.name] = found
    pool = out["pool"]
    if pool.value is None:
        from .pool import default_path

        pool.value = default_path()
    return Settings(out, layers)


def debugging(env: Mapping[str, str] = os.environ) -> bool:
    """Whether ``$LINKPOOL_DEBUG`` asks for a traceback, read by the table's rule (a wrong
    value: no). For the one moment the resolved settings may not exist: an error of
    linkpool itself, which may have come from resolving them."""
    try:
        found = _first(BY_NAME["debug"], {}, env, [])
    except _Wrong:
        return False
    return found is not None and found.value is True


UNITED = ("names", "paths")  # kinds whose environment's and file's values both count


class _Wrong(ValueError):
    """A value that does not fit its kind: where it came from and what it was."""

    def __init__(self, origin: str, given: Any, path: str = "") -> None:
        super().__init__(origin)
        self.origin = origin
        self.given = given
        self.path = path  # the config file's, for a value from a file


def in_files(key: str | None, layers: list[Layer]) -> tuple[str, str, Any] | None:
    """Where the most important config file that sets ``key`` is, what it is ("file" or
    "system") and the value it gives; None if no file sets it."""
    if key:
        for path, origin, table in layers:
            if key in table:
                return path, origin, table[key]
    return None


def _first(entry: Entry, cli: Mapping[str, Any], env: Mapping[str, str],
           layers: list[Layer]) -> Setting | None:
    """The value of the first source that sets ``entry``, checked; None if none does."""
    for letter in entry.order:
        path = ""
        if letter == "c" and cli.get(entry.name) not in (None, False):
            origin, source, given = "cli", f"--{entry.name.replace('_', '-')}", cli[entry.name]
        elif letter == "e" and entry.var and env.get(entry.var):
            origin, source, given = "env", f"${entry.var}", env[entry.var]
        elif letter == "f" and (found := in_files(entry.key, layers)) is not None:
            path, origin, given = found
            source = path
        else:
            continue
        try:
            value = _check(entry.kind, given, not path, os.path.dirname(path))
        except ValueError:
            raise _Wrong(origin, given, path) from None
        return Setting(entry.name, value, origin, source, given)
    return None


def _union(entry: Entry, env: Mapping[str, str], layers: list[Layer]) -> Setting | None:
    """``disable`` and ``plugin_path``: the environment's values and those of the most
    important file that sets the key (a file's list replaces those of the files below
    it), checked; None if none sets it."""
    values: list[str] = []
    sources = []
    if entry.var and env.get(entry.var):
        values += _check(entry.kind, env[entry.var], True, "")  # a string always splits
        sources.append(("env", f"${entry.var}"))
    found = in_files(entry.key, layers)
    if found is not None:
        path, origin, given = found
        try:
            values += _check(entry.kind, given, False, os.path.dirname(path))
        except ValueError:
            raise _Wrong(origin, given, path) from None
        sources.insert(0, (origin, path))  # shown as "file + env"
    if not sources:
        return None
    unique = sorted(set(values)) if entry.kind == "names" else list(dict.fromkeys(values))
    return Setting(entry.name, unique, "+".join(o for o, _ in sources),
                   " + ".join(s for _, s in sources), unique)
