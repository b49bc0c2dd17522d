"""Build-system adapters that route link commands through linkpool.

Each module is thin: it only arranges for a build system's link commands to go through
``linkpool``. They share how to find the ``linkpool`` command itself.
"""

from __future__ import annotations

import sys

from ..names import find_linkpool

__all__ = ["find_linkpool", "linkpool_command"]


def linkpool_command() -> list[str]:
    """How to start linkpool from a generated file: its command, else this Python's
    ``-m linkpool``."""
    found = find_linkpool()
    return [found] if found else [sys.executable, "-m", "linkpool"]
