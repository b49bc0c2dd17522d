"""Build-system adapters that route link commands through linkpool.

Each module is thin: it only arranges for a build system's link commands to go through
``linkpool``. They share how to find the ``linkpool`` command itself.
"""

from __future__ import annotations

import os
import shutil
import sys


def find_linkpool() -> str | None:
    """The absolute path of the ``linkpool`` command: beside ``sys.executable`` (the
    environment linkpool is installed in), else on PATH; None if neither has it."""
    beside = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "linkpool")
    if os.path.isfile(beside) and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("linkpool")
    return os.path.abspath(found) if found else None


def linkpool_command() -> list[str]:
    """How to start linkpool from a generated file: its command, else this Python's
    ``-m linkpool``."""
    found = find_linkpool()
    return [found] if found else [sys.executable, "-m", "linkpool"]
