"""Settings from the environment (``LINKPOOL_*``) and one TOML file.

The file is ``$LINKPOOL_CONFIG``, else ``$XDG_CONFIG_HOME/linkpool/config.toml`` (by
default ``~/.config/linkpool/config.toml``). A setting on the command line wins over the
environment, which wins over the file. The file is only parsed when it exists, so the
wrapper's fast path pays one ``stat``.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

TRUE = ("1", "true", "yes", "on")


class ConfigError(Exception):
    """The config file cannot be read; one line saying which file and why."""


def config_file(env: Mapping[str, str] = os.environ) -> str:
    if env.get("LINKPOOL_CONFIG"):
        return env["LINKPOOL_CONFIG"]
    base = env.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "linkpool", "config.toml")


def load(env: Mapping[str, str] = os.environ) -> dict[str, Any]:
    """The parsed config file, or ``{}`` when there is none."""
    path = config_file(env)
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        return {}
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}") from None
    try:
        import tomllib  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # Python < 3.11
        import tomli as tomllib  # type: ignore[import-not-found,no-redef,unused-ignore]
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ConfigError(f"config {path} is not valid TOML ({e}); fix or remove it") from None
    return data


def setting(
    name: str, cli: Any = None, env: Mapping[str, str] = os.environ, file: Any = None
) -> Any:
    """``cli`` if given, else ``$LINKPOOL_<NAME>``, else the file's ``name`` key."""
    if cli is not None:
        return cli
    value = env.get(f"LINKPOOL_{name.upper()}")
    if value is not None:
        return value
    if file is None:
        file = load(env)
    return file.get(name)


def flag(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() in TRUE)
