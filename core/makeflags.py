"""GNU make's ``$MAKEFLAGS``: the one reader (and writer) of it in Python.

A build shares its ``-j`` with its children through ``MAKEFLAGS`` (docs/jobserver.md):
the jobserver as ``--jobserver-auth=fifo:PATH`` (make 4.4, ninja 1.13, Gentoo's steve),
``--jobserver-auth=R,W`` (two descriptors of a pipe) or the older ``--jobserver-fds=R,W``,
and the build's ``-jN``. The jobserver plugin, the threads and cost plugins and the plans
of the C front door all read it here; the front door itself reads it in C
(core/frontdoor/jobserver.c), word for word as :func:`parse` does, which
tests/test_frontdoor_jobserver.py holds on a table of forms and on generated strings.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False  # typing costs the wrapper ~5-15 ms to import; only checkers need it
if TYPE_CHECKING:
    from collections.abc import Mapping

#: The words that name the jobserver: what follows the last one given is its auth.
AUTH_OPTIONS = ("--jobserver-auth=", "--jobserver-fds=")


def of(env: Mapping[str, str] | None = None) -> str | None:
    """The ``$MAKEFLAGS`` of ``env``, the environment a command runs with (a job's
    ``env``; None: this process's own)."""
    return (env if env is not None else os.environ).get("MAKEFLAGS")


def parse(makeflags: str | None) -> tuple[str | None, int | None]:
    """(the jobserver's auth string, the build's ``-jN``) that ``makeflags`` announces.

    The auth is what follows the last ``--jobserver-auth=`` or ``--jobserver-fds=`` (None:
    no jobserver); the jobs are N of the last ``-jN``/``--jobs=N`` (None: none, or ``-j``
    without a number, which is no limit). Words after ``--`` are variable definitions."""
    auth: str | None = None
    jobs: int | None = None
    words = (makeflags or "").split()
    for i, word in enumerate(words):
        if word == "--":
            break
        if word.startswith(AUTH_OPTIONS):
            auth = word.partition("=")[2]
        elif is_jobs(word):
            value = word[2:] if word.startswith("-j") else word.partition("=")[2]
            if not value and i + 1 < len(words) and words[i + 1].isdigit():
                value = words[i + 1]  # `-j 4`, as a user may set it by hand
            jobs = int(value) if value.isdigit() and int(value) > 0 else None
    return auth, jobs


def announced(makeflags: str | None) -> bool:
    """Whether ``makeflags`` hands the command a jobserver (reachable or not)."""
    return parse(makeflags)[0] is not None


def is_jobs(word: str) -> bool:
    """Whether ``word`` of ``$MAKEFLAGS`` is the build's ``-j``."""
    return word.startswith("-j") or word == "--jobs" or word.startswith("--jobs=")


def private(makeflags: str, r: int, w: int, jobs: int) -> str:
    """``makeflags`` with its jobserver and ``-j`` replaced by ``-jJOBS`` and the pipe
    ``r``,``w``; every other word (and every variable after ``--``) kept as it was."""
    words = makeflags.split(" ")
    ours = [f"-j{jobs}", f"--jobserver-auth={r},{w}"]
    out: list[str] = []
    skip = False
    for i, word in enumerate(words):
        if skip:
            skip = False
            continue
        if word == "--":
            return " ".join([*out, *ours, *words[i:]])
        if word.startswith(AUTH_OPTIONS) or is_jobs(word):
            skip = word == "-j" and i + 1 < len(words) and words[i + 1].isdigit()
            continue
        out.append(word)
    return " ".join([*out, *ours])
