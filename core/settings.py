"""``linkpool config``: every setting's effective value and where it came from.

    linkpool config [--pool DIR] [--strict] [--quiet] [--json]

Each setting is resolved here exactly as the code that uses it resolves it (the order is
in ``SETTINGS``), so the table is what a ``linkpool run`` from the same shell would do:
``pool``, ``strict`` and ``quiet`` take the command line, then the environment, then the
config file; ``check_output`` and ``memory_budget`` take the environment, then the file;
``disable`` is the union of the file's list (or comma-separated string) and
``$LINKPOOL_DISABLE``; ``wakeup`` is read only from the environment. ``--pool``,
``--strict`` and ``--quiet`` are accepted so that the table can show what those options
of ``run`` would change.

``resolve()`` is also what ``stats``, ``trace``, ``report`` and ``doctor`` use to find the
pool, so all of them agree with ``run`` on which pool is meant.
"""

from __future__ import annotations

import os
import sys

from .config import ConfigError, config_file, flag, load

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

MEMORY_BUDGET = 0.75  # the default of plugins/cost.py (not imported: it pulls in the hooks)

# name -> (environment variable or None, config-file key or None, order of precedence,
# what it does). Order letters: c = command line, e = environment, f = config file.
SETTINGS: dict[str, tuple[str | None, str | None, str, str]] = {
    "pool": ("LINKPOOL_DIR", "pool", "cef", "the pool directory every link queues in"),
    "strict": ("LINKPOOL_STRICT", "strict", "cef", "fail (69) instead of running unpooled"),
    "quiet": ("LINKPOOL_QUIET", "quiet", "cef", "no lines about waiting from `run`"),
    "memory_budget": ("LINKPOOL_MEMORY_BUDGET", "memory_budget", "ef",
                      "share of usable memory links may use"),
    "disable": ("LINKPOOL_DISABLE", "disable", "ef", "plugins turned off (file + environment)"),
    "check_output": ("LINKPOOL_CHECK_OUTPUT", "check_output", "ef",
                     "check that a successful link wrote an ELF file"),
    "wakeup": ("LINKPOOL_WAKEUP", None, "e", "how the head of the line wakes"),
}


class Setting:
    """One resolved setting: its value, the kind of source and a readable source."""

    __slots__ = ("name", "origin", "source", "value")

    def __init__(self, name: str, value: Any, origin: str, source: str) -> None:
        self.name = name
        self.value = value
        self.origin = origin  # "default", "file", "env" or "cli"
        self.source = source  # "default", the file's path, "$LINKPOOL_DIR", "--pool"

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "origin": self.origin, "source": self.source}


def config_source(env: Mapping[str, str] = os.environ) -> str:
    """Why the config file is where it is."""
    if env.get("LINKPOOL_CONFIG"):
        return "$LINKPOOL_CONFIG"
    return "$XDG_CONFIG_HOME" if env.get("XDG_CONFIG_HOME") else "default"


def resolve(cli: Mapping[str, Any] | None = None, env: Mapping[str, str] = os.environ,
            file: Mapping[str, Any] | None = None) -> dict[str, Setting]:
    """Every setting of ``SETTINGS``; ``cli`` holds command-line values (None: not given).

    Raises ConfigError when the config file cannot be read.
    """
    cli = cli or {}
    path = config_file(env)
    if file is None:
        file = load(env)
    out: dict[str, Setting] = {}
    for name, (var, key, order, _) in SETTINGS.items():
        found: Setting | None = None
        for letter in order:
            if letter == "c" and cli.get(name) not in (None, False):
                found = Setting(name, cli[name], "cli", f"--{name.replace('_', '-')}")
            elif letter == "e" and var and env.get(var) not in (None, ""):
                found = Setting(name, env[var], "env", f"${var}")
            elif letter == "f" and key and file.get(key) not in (None, ""):
                found = Setting(name, file[key], "file", path)
            if found is not None:
                break
        out[name] = found or Setting(name, None, "default", "default")
    _normalise(out, env, file, path)
    return out


def _normalise(out: dict[str, Setting], env: Mapping[str, str], file: Mapping[str, Any],
               path: str) -> None:
    """Give each value the type its user sees, and the defaults their meaning."""
    pool = out["pool"]
    if pool.value is None:
        from .pool import default_path

        pool.value = default_path()
    pool.value = os.path.abspath(str(pool.value))
    for name in ("strict", "quiet", "check_output"):
        out[name].value = flag(out[name].value)
    budget = out["memory_budget"]
    if budget.value is None:
        budget.value = MEMORY_BUDGET
    else:
        try:
            budget.value = float(budget.value)
        except (TypeError, ValueError):
            budget.value = f"invalid: {budget.value!r}"
    # disable: both lists count (core/hooks.py), so the source may be both.
    from_file = [str(n) for n in (file.get("disable") or [])] if "disable" in file else []
    from_env = [n.strip() for n in env.get("LINKPOOL_DISABLE", "").split(",") if n.strip()]
    disable = out["disable"]
    disable.value = sorted(set(from_file) | set(from_env))
    if from_file and from_env:
        disable.origin, disable.source = "file+env", f"{path} + $LINKPOOL_DISABLE"
    elif from_file or "disable" in file:
        disable.origin, disable.source = "file", path
    wakeup = out["wakeup"]
    if wakeup.value == "polling":
        wakeup.value = "polling (forced)"
    else:
        from .waiting import Waiter

        if wakeup.origin == "env":  # any other value is ignored by waiting.py
            wakeup.source += f" ({wakeup.value!r} ignored)"
            wakeup.origin = "default"
        wakeup.value = Waiter.mode_for(pool.value)


def pool_dir(cli_value: str | None = None) -> tuple[str, str]:
    """The pool a command means, and where that came from (``--pool``, ``$LINKPOOL_DIR``,
    the config file or the default), resolved as ``linkpool run`` does."""
    setting = resolve({"pool": cli_value})["pool"]
    return setting.value, setting.source


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ", ".join(value) or "(none)"
    return str(value)


def main(args: Sequence[str]) -> int:
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> Any:
            raise ConfigError(f"config: {message} (usage: linkpool config [--pool DIR] "
                              f"[--strict] [--quiet] [--json])")

    parser = Parser(prog="linkpool config", description="effective settings and their sources")
    parser.add_argument("--pool", metavar="DIR", help="as a command line would give it")
    parser.add_argument("--strict", action="store_true", default=None)
    parser.add_argument("--quiet", action="store_true", default=None)
    parser.add_argument("--json", action="store_true")
    try:
        ns = parser.parse_args(list(args)[1:] if args and args[0] == "config" else list(args))
        file = load()
        settings = resolve({"pool": ns.pool, "strict": ns.strict, "quiet": ns.quiet}, file=file)
    except ConfigError as e:
        sys.stderr.write(f"linkpool: {e}\n")
        return 2
    path = config_file()
    known = {key for _, key, _, _ in SETTINGS.values() if key}
    others = sorted(set(file) - known)
    if ns.json:
        import json

        print(json.dumps({
            "config_file": {"path": path, "exists": os.path.exists(path),
                            "source": config_source()},
            "settings": {name: s.as_dict() for name, s in settings.items()},
            "other_keys": others,
        }, indent=2))
        return 0
    exists = "" if os.path.exists(path) else ", not present"
    print(f"config file: {path} ({config_source()}{exists})")
    print()
    width = max(len(_show(s.value)) for s in settings.values())
    width = min(max(width, 5), 48)
    print(f"{'SETTING':<14} {'VALUE':<{width}}  SOURCE")
    for name, s in settings.items():
        print(f"{name:<14} {_show(s.value):<{width}}  {s.source}")
    if others:
        print(f"\nother keys in the config file (for plugins): {', '.join(others)}")
    return 0
