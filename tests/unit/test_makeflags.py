"""linkpool.makeflags: the one reader of ``$MAKEFLAGS`` in Python. Pure functions; the C
front door's reader is held to :func:`parse` by tests/test_frontdoor_jobserver.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from linkpool import linkers, makeflags
from linkpool.plugins import jobserver

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("text, auth, jobs", [
    (None, None, None),
    ("", None, None),
    (" -j4 --jobserver-auth=3,4", "3,4", 4),
    ("--jobserver-auth=fifo:/tmp/GMfifo1", "fifo:/tmp/GMfifo1", None),
    ("--jobserver-fds=3,4 -j", "3,4", None),
    ("-j 6 --jobserver-fds=3,4 --jobserver-auth=fifo:/a=b", "fifo:/a=b", 6),
    ("--jobs=2 -j0", None, None),
    (" -j8 -- V=--jobserver-auth=3,4", None, 8),  # after --: a variable, not an option
])
def test_parse_and_announced_agree(text: str | None, auth: str | None, jobs: int | None) -> None:
    assert makeflags.parse(text) == (auth, jobs)
    assert makeflags.announced(text) is (auth is not None)
    assert linkers.jobserver_announced(text) is (auth is not None)  # the same function


def test_a_job_with_an_environment_of_its_own_is_read_from_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAKEFLAGS", " -j3")
    assert makeflags.of() == makeflags.of(None) == " -j3"
    assert makeflags.of({}) is None  # an empty environment has none, not this process's
    assert makeflags.of({"MAKEFLAGS": "-j1"}) == "-j1"


def test_the_private_jobserver_replaces_only_the_builds() -> None:
    got = makeflags.private("ks -j8 --jobserver-auth=fifo:/x -- V=a\\ b", 7, 9, 2)
    assert got == "ks -j2 --jobserver-auth=7,9 -- V=a\\ b"
    assert makeflags.parse(got) == ("7,9", 2)


def test_only_this_module_reads_makeflags() -> None:
    """The plugins and the plans ask linkpool.makeflags; none parses MAKEFLAGS itself."""
    readers = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "core").rglob("*.py")
                     if any(w in p.read_text(encoding="utf-8")
                            for w in ('get("MAKEFLAGS")', "split(\"--jobserver-",
                                      'startswith("--jobserver-', '"--jobserver-auth=" in')))
    assert readers == ["core/makeflags.py"]
    assert jobserver.parse is makeflags.parse
