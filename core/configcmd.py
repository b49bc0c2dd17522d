"""``linkpool config``: every setting's value and where it came from.

    linkpool config [--pool DIR] [--strict] [--quiet] [--json]

The settings and their checks are the table of ``linkpool.settings``; this command only
resolves them as ``run`` would and shows them, with a warning for each key of the config
files that no setting reads (:func:`unknown_keys`, which ``doctor`` uses too).
"""

from __future__ import annotations

import os

from .configfile import (
    argument_parser,
    config_file,
    config_source,
    merged,
    system_source,
)
from .names import say
from .settings import BY_NAME, KINDS, SETTINGS, Entry, Setting, Settings, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

    from .settings import Layer


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(value) or "(none)"
    return str(value)


def _wakeup_shown(settings: Settings) -> Setting:
    """The wake-up mode a waiter of this pool would use, as ``linkpool config`` shows it."""
    from .waiting import Waiter

    found = settings["wakeup"]
    return Setting("wakeup", Waiter.mode_for(settings.pool, settings.polling), found.origin,
                   found.source, found.given)


DESCRIPTION = """\
Show every setting's effective value and where it came from (the command line, the
environment, a config file or the default), exactly as `linkpool run` from this shell
would resolve it.

The config files, most important first: your own, $LINKPOOL_CONFIG, else
$XDG_CONFIG_HOME/linkpool/config.toml, else ~/.config/linkpool/config.toml; then the
system's, linkpool/config.toml in each directory of $XDG_CONFIG_DIRS (default
/etc/xdg), the first listed winning. A key in a file wins over the same key in the
files below it; the environment and the command line win over every file. A relative
`pool` in a file is taken from that file's folder (shown here as the absolute path, with
the file as its source); a relative --pool or $LINKPOOL_DIR from the working directory.
A wrong value is one error line naming the file or the variable and the key (exit 2). A
key of a file that no setting reads is a warning, with the key that was meant (exit 0).
"""


def _epilog() -> str:
    import textwrap

    rows = []
    for e in SETTINGS:
        where = ", ".join(x for x in (f"--{e.name}" if "c" in e.order else "",
                                      f"${e.var}" if e.var else "",
                                      f"`{e.key}` in the file" if e.key else "") if x)
        rows.append(f"  {e.name}: {where}")
        rows += textwrap.wrap(f"{e.help}; {KINDS[e.kind]}", 84, initial_indent=" " * 6,
                              subsequent_indent=" " * 6)
    return "settings, with their sources (the first one set wins):\n" + "\n".join(rows)


def main(args: Sequence[str]) -> int:
    parser = argument_parser("linkpool config", DESCRIPTION, _epilog(),
                             pool="show the settings as `linkpool run --pool DIR` would see them")
    parser.add_argument("--strict", action="store_true", default=None,
                        help="as `linkpool run --strict` would see them")
    parser.add_argument("--quiet", action="store_true", default=None,
                        help="as `linkpool run --quiet` would see them")
    parser.add_argument("--json", action="store_true",
                        help="print {config_file, settings: {NAME: {value, origin, source}}, "
                             "other_keys, warnings} as JSON")
    ns = parser.parse_args(list(args))
    settings = resolve({"pool": ns.pool, "strict": ns.strict, "quiet": ns.quiet})
    from .hooks import installed, trusted_folders

    trusted_folders(settings.plugin_path, warn=True)  # a line for each one links refuse
    plugins = installed(settings)
    unknown = unknown_keys(settings.layers, plugins)
    for _, line in unknown:
        say(f"warning: {line}")
    shown = {e.name: settings[e.name] for e in SETTINGS}
    shown["wakeup"] = _wakeup_shown(settings)
    layers = settings.layers
    path = config_file()
    systems = [layer[0] for layer in layers[1:]]
    known = {e.key for e in SETTINGS if e.key}
    others = sorted(set(merged(layers)) - known)
    if ns.json:
        import json

        print(json.dumps({
            "config_file": {"path": path, "exists": os.path.exists(path),
                            "source": config_source()},
            "system_files": [{"path": p, "exists": os.path.exists(p),
                              "source": system_source()} for p in systems],
            "settings": {name: s.as_dict() for name, s in shown.items()},
            "other_keys": others,
            "warnings": [line for _, line in unknown],
        }, indent=2))
        return 0
    exists = "" if os.path.exists(path) else ", not present"
    print(f"config file: {path} ({config_source()}{exists})")
    print()
    width = max(len(_show(s.value)) for s in shown.values())
    width = min(max(width, 5), 48)
    print(f"{'SETTING':<14} {'VALUE':<{width}}  SOURCE")
    for name, s in shown.items():
        print(f"{name:<14} {_show(s.value):<{width}}  {s.source}")
    if systems:
        where = "from $XDG_CONFIG_DIRS" if system_source() != "default" else \
            "$XDG_CONFIG_DIRS is unset, so /etc/xdg"
        print(f"\nsystem config files, below yours ({where}; the first listed wins):")
        for p in systems:
            print(f"  {p}{'' if os.path.exists(p) else ' (not present)'}")
    else:
        print("\nno system config files: $XDG_CONFIG_DIRS lists no absolute directory")
    pool = settings["pool"]
    if pool.origin in ("file", "system") and \
            not os.path.isabs(os.path.expanduser(str(pool.given))):
        print(f"\npool: {pool.given!r} in {pool.source} is relative: it is taken from that "
              f"file's folder, {os.path.dirname(pool.source)}")
    theirs = [key for key in others if key not in {k for k, _ in unknown}]
    if theirs:  # the keys no warning was about: the plugins' own
        print(f"\nother keys in the config files, for the plugins ({', '.join(plugins)}): "
              f"{', '.join(theirs)}")
    return 0


# -- keys no setting reads ----------------------------------------------------------------

#: Keys a user may guess for what is not a setting of the file at all, and where it is.
ELSEWHERE = {
    "slots": "the number of slots is the pool's own, `linkpool init --slots {}` sets it",
    "weight": "a link's weight is `linkpool run --weight {}`",
    "timeout": "a wait's limit is `linkpool run --timeout {}`",
    "shared": "a shared pool is made shared once, by `linkpool init --shared DIR`",
}


def unknown_keys(layers: list[Layer], plugins: Sequence[str] = ()) -> list[tuple[str, str]]:
    """(key, warning) for each key or table of the config files that no setting reads: a
    guess (``pol``, ``LINKPOOL_QUIET``, a ``[linkpool]`` table) silently changes nothing.
    Each warning names the file and what was meant (the nearest key, by
    :func:`difflib.get_close_matches`). A key near no setting may be a plugin's: it is
    warned about only when no third-party plugin is installed (``plugins``: their names).
    For ``linkpool config`` and ``doctor``; never on the per-link path."""
    known = {e.key for e in SETTINGS if e.key}
    out = []
    for path, _, table in layers:
        for key, value in table.items():
            if key in known:
                continue
            if isinstance(value, dict):
                line = _table(key, value, bool(plugins))
            else:
                line = _key(key, value, bool(plugins))
            if line is not None:
                out.append((key, f"{path}: {line}"))
    return out


def _meant(word: str) -> tuple[Entry, bool] | None:
    """The setting ``word`` is nearest to, and whether by its variable's name; or None.
    A setting's name as one word of it comes first (``pool_path`` is ``pool``, not
    ``plugin_path``)."""
    import difflib

    word = word.lower()
    variables = {e.var.lower(): (e, True) for e in SETTINGS if e.var}
    if word in variables:
        return variables[word]
    names = {e.name: (e, False) for e in SETTINGS}
    for part in word.replace("-", "_").replace(".", "_").split("_"):
        if part in names:
            return names[part]
    names.update(variables)
    close = difflib.get_close_matches(word, list(names), n=1, cutoff=0.6)
    return names[close[0]] if close else None


def _key(key: str, value: Any, plugins: bool) -> str | None:
    head = f"{key!r} is not a setting linkpool reads"
    if key.lower() in ELSEWHERE:
        return f"{head}: {_elsewhere(key, value)}"
    meant = _meant(key)
    if meant is None:
        return None if plugins else \
            f"{head}, and no plugin is installed to read it; remove it"
    entry, by_var = meant
    if entry.key is None:  # wakeup, debug: the environment's only
        if key.lower() == entry.name:
            return f"{head}: it is read only from ${entry.var}"
        return f"{head}; did you mean ${entry.var} (in the environment)?"
    return f"{head}; did you mean {entry.key!r}" + \
        (f" (the file's name for ${entry.var})?" if by_var else "?")


def _table(name: str, table: dict[str, Any], plugins: bool) -> str | None:
    """A table: ``[linkpool]``, meant to hold settings (which are top-level keys), or
    another, which may be a plugin's."""
    ours = name.lower() == "linkpool"
    if plugins and not ours:
        return None
    moved, other = [], []
    for key, value in table.items():
        if key.lower() in ELSEWHERE:
            other.append(f"{key!r} is no setting at all: {_elsewhere(key, value)}")
            continue
        meant = _meant(key) if ours else (BY_NAME[key], False) if key in BY_NAME else None
        if meant is not None and meant[0].key is not None:
            moved.append(f"{meant[0].key} = {_toml(value)}")
    line = f"[{name}] is not a table linkpool reads"
    if moved:
        line += f": put {', '.join(moved)} at the top level (above any [table])"
    elif not other:
        line += (": its settings are top-level keys (`linkpool config --help` lists them)"
                 if ours else ", and no plugin is installed to read it; remove it")
    return "; ".join([line, *other])


def _elsewhere(key: str, value: Any) -> str:
    given = value if isinstance(value, (int, str)) and not isinstance(value, bool) else "N"
    return ELSEWHERE[key.lower()].format(given)


def _toml(value: Any) -> str:
    """``value`` written as TOML (the line to put in the file)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
