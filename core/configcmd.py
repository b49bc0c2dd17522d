"""``linkpool config``: every setting's value and where it came from.

    linkpool config [--pool DIR] [--strict] [--quiet] [--json]

The settings and their checks are the table of ``linkpool.settings``; this command only
resolves them as ``run`` would and shows them.
"""

from __future__ import annotations

import os

from .configfile import (
    ConfigError,
    UsageError,
    argument_parser,
    config_file,
    config_source,
    merged,
    pool_value,
    system_source,
)
from .names import say
from .settings import KINDS, SETTINGS, Setting, Settings, resolve

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any


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
A wrong value is one error line naming the file or the variable and the key (exit 2).
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
    parser = argument_parser("linkpool config", DESCRIPTION, _epilog())
    parser.add_argument("--pool", metavar="DIR", type=pool_value,
                        help="show the settings as `linkpool run --pool DIR` would see them")
    parser.add_argument("--strict", action="store_true", default=None,
                        help="as `linkpool run --strict` would see them")
    parser.add_argument("--quiet", action="store_true", default=None,
                        help="as `linkpool run --quiet` would see them")
    parser.add_argument("--json", action="store_true",
                        help="print {config_file, settings: {NAME: {value, origin, source}}, "
                             "other_keys} as JSON")
    try:
        ns = parser.parse_args(list(args)[1:] if args and args[0] == "config" else list(args))
        settings = resolve({"pool": ns.pool, "strict": ns.strict, "quiet": ns.quiet})
    except UsageError as e:
        say(f"{e} (see `linkpool config --help`)")
        return 2
    except ConfigError as e:
        say(str(e))
        return 2
    from .hooks import trusted_folders

    trusted_folders(settings.plugin_path, warn=True)  # a line for each one links refuse
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
    if others:
        print(f"\nother keys in the config files (for plugins): {', '.join(others)}")
    return 0
