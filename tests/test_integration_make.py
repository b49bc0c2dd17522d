"""GNU make through linkpool, with the real make: examples/make built into a fresh pool."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import LINKPOOL, history, lp, make_pool

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "make"
LINKS = {"hello", "sum", "table", "libgreet.so"}
MAKE = shutil.which("make")

pytestmark = pytest.mark.skipif(MAKE is None, reason="no make")


def sh(script: str, cwd: Path, pool: Path | None = None) -> str:
    """Run a shell command line as a user would type it."""
    env = dict(os.environ)
    if pool is not None:
        env["LINKPOOL_DIR"] = str(pool)
    done = subprocess.run(["sh", "-c", script], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, f"{script}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.mark.parametrize("how", [
    "make -j4 LINK.o='linkpool $(CC) $(LDFLAGS) $(TARGET_ARCH)'",  # the README's command
    "make -j4 CC='linkpool cc'",
    'eval "make -j4 $(linkpool setup make --pool "$POOL")"',
])
def test_every_link_goes_through_the_pool_and_no_archive_does(tmp_path: Path, how: str) -> None:
    project = Path(shutil.copytree(EXAMPLE, tmp_path / "project"))
    pool = make_pool(tmp_path / "pool", 2)
    # the eval form names the pool on the command line; the others take it from the environment
    named = f"POOL={shlex.quote(str(pool))}; "
    out = sh(named + how, project, None if "$POOL" in how else pool)

    records = history(pool)
    assert {os.path.relpath(r["output"], project) for r in records} == LINKS
    assert all(r["exit"] == 0 and r["linker"] for r in records), records
    assert "ar rcs libmathx.a mathx.o" in out.splitlines()  # the archive: not through linkpool
    assert sh("./hello make && ./sum 4 && ./table 2", project) == (
        "hello, make (10)\nsum 1..4 = 10\n1 1\n2 3\nhello, table (10)\n")

    # an up-to-date tree stays up to date with or without the launcher
    sh(f"{named}{how.replace('make -j4', 'make -q')} && make -q", project, pool)
    assert len(history(pool)) == len(LINKS)


AUTOMAKE_STYLE = """\
# The link rules of an Automake-generated Makefile.in (no libtool), cut down
CC = cc
CCLD = $(CC)
LINK = $(CCLD) $(AM_CFLAGS) $(CFLAGS) $(AM_LDFLAGS) $(LDFLAGS) -o $@
COMPILE = $(CC) $(DEFS) $(CPPFLAGS) $(AM_CFLAGS) $(CFLAGS)
hello_OBJECTS = hello.o greet.o mathx.o
all: hello
.c.o:
\t$(COMPILE) -c -o $@ $<
hello: $(hello_OBJECTS)
\t@rm -f hello
\t$(LINK) $(hello_OBJECTS) $(LIBS)
"""


def test_ccld_gates_automake_style_links(tmp_path: Path) -> None:
    project = Path(shutil.copytree(EXAMPLE, tmp_path / "project"))
    (project / "Makefile").write_text(AUTOMAKE_STYLE)
    pool = make_pool(tmp_path / "pool", 2)
    line = lp("setup", "make", "--automake", check=True).stdout
    assert line == f"CCLD='{LINKPOOL} $(CC)' CXXLD='{LINKPOOL} $(CXX)'\n"
    sh(f"make {line}", project, pool)
    assert [r["output"] for r in history(pool)] == [str(project / "hello")]
    assert sh("./hello", project) == "hello, world (10)\n"


def test_setup_make_prints_the_builtin_link_variables(tmp_path: Path) -> None:
    builtin = subprocess.run([str(MAKE), "-p", "-f", os.devnull], capture_output=True,
                             text=True, cwd=tmp_path).stdout.splitlines()
    line = lp("setup", "make", check=True).stdout
    words = dict(word.split("=", 1) for word in shlex.split(line))
    assert set(words) == {"LINK.o", "LINK.c", "LINK.cc"}
    for name, value in words.items():
        # each is GNU make's own definition with the launcher in front
        assert f"{name} = {value.removeprefix(LINKPOOL + ' ')}" in builtin, name
    pooled = lp("setup", "make", "--pool", "p", cwd=tmp_path, check=True).stdout
    assert f"{LINKPOOL} run --pool {tmp_path / 'p'} -- $(CC) $(LDFLAGS)" in pooled
