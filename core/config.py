"""The config file and the errors every command shares.

The file is ``$LINKPOOL_CONFIG``, else ``$XDG_CONFIG_HOME/linkpool/config.toml`` (by
default ``~/.config/linkpool/config.toml``). It is only parsed when it exists, so the
wrapper's fast path pays one ``open``. What each key means, its environment variable and
how a value is checked is the table of ``linkpool.settings``; this module only finds and
parses the file.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off")


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


def flag(value: Any) -> bool:
    """A yes/no value read leniently (anything but a yes is no); ``linkpool.settings``
    checks the values a user gives before they get here."""
    return value is True or (isinstance(value, str) and value.strip().lower() in TRUE)


def argument_parser(prog: str, description: str, epilog: str | None = None) -> Any:
    """An ``argparse`` parser for a ``linkpool`` subcommand (``prog``: "linkpool init"):
    a usage error raises :class:`UsageError` instead of printing the usage and exiting,
    and ``--help`` keeps the description's and the epilog's paragraphs."""
    import argparse

    class Parser(argparse.ArgumentParser):
        def error(self, message: str) -> Any:
            head, _, words = message.partition("unrecognized arguments: ")
            if not head and words:  # argparse's words for what it does not know
                what = "unknown option" if words.startswith("-") else "unexpected argument"
                message = f"{what} {words}"
            raise UsageError(f"{self.prog[len('linkpool '):]}: {message}")

    return Parser(prog=prog, description=description, epilog=epilog,
                  formatter_class=argparse.RawDescriptionHelpFormatter)


def pool_value(text: str) -> str:
    """An argparse ``type`` for ``--pool DIR``: a path, not an empty string."""
    if not text.strip():
        import argparse

        raise argparse.ArgumentTypeError("needs a directory, not an empty string")
    return text
