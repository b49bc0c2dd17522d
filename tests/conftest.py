"""Shared fixtures: the installed `linkpool` command, fresh pools, and small helpers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import pytest

BIN = Path(sys.executable).parent
LINKPOOL = str(BIN / "linkpool")
WITNESS = str(Path(__file__).parent / "witness.py")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's pool, config or nesting marker."""
    for name in ("LINKPOOL_DIR", "LINKPOOL_HELD", "LINKPOOL_STRICT", "LINKPOOL_WAKEUP",
                 "MAKEFLAGS", "MFLAGS"):  # a suite run from make must not lend its jobserver
        monkeypatch.delenv(name, raising=False)
    # nor the developer's config file: the user's file is looked for in an empty folder of
    # the test's own ($LINKPOOL_CONFIG would have to name a file that exists)
    monkeypatch.delenv("LINKPOOL_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config-home"))
    # nor the machine's system config (/etc/xdg/linkpool/config.toml); a path every user
    # may look up (Debian's policy keeps /nonexistent absent)
    monkeypatch.setenv("XDG_CONFIG_DIRS", "/nonexistent/linkpool-tests")
    monkeypatch.setenv("PATH", f"{BIN}{os.pathsep}{os.environ['PATH']}")
    # nor the developer's plans and record spool (the front door's cache)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def copy_linkpool(lib: Path) -> None:
    """Copy `core/` to ``lib/linkpool`` with the dependencies pip installs beside it
    (pluggy; tomli before 3.11), for another user's Python: the venv lives where other
    users cannot enter."""
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(Path(__file__).resolve().parent.parent / "core", lib / "linkpool",
                    ignore=ignore)
    for dependency in ("pluggy", *(["tomli"] if sys.version_info < (3, 11) else [])):
        module = __import__(dependency)
        shutil.copytree(Path(module.__file__).parent, lib / dependency, ignore=ignore)


def lp(*args: str, check: bool = False, **kw: Any) -> subprocess.CompletedProcess:
    """Run the installed `linkpool` command and capture its output."""
    kw.setdefault("capture_output", True)
    kw.setdefault("text", True)
    kw.setdefault("timeout", 120)
    return subprocess.run([LINKPOOL, *args], check=check, **kw)


def make_pool(path: Path, slots: int) -> Path:
    lp("init", "--pool", str(path), "--slots", str(slots), check=True)
    return path


@pytest.fixture
def pool3(tmp_path: Path) -> Path:
    return make_pool(tmp_path / "pool", 3)


def status(path: Path) -> dict[str, Any]:
    out = lp("status", "--pool", str(path), "--json", check=True).stdout
    return json.loads(out)


def config(*args: str) -> dict[str, Any]:
    """What `linkpool config --json ARGS` says (it must succeed)."""
    r = lp("config", "--json", *args)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def config_of() -> dict[str, Any]:
    """Each setting's value, origin and source, as `linkpool config --json` shows them."""
    return config()["settings"]


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0, what: str = "") -> Any:
    end = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.02)


def locked(path: Path) -> bool:
    """Whether someone holds a flock on ``path`` (probed with a descriptor of our own);
    False when there is no such file."""
    import fcntl

    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def witness_log(directory: Path) -> tuple[int, list[str], set[str]]:
    """(largest weight seen inside at once, jobs that entered, jobs that finished)."""
    log = directory / "log"
    lines = log.read_text().split("\n") if log.exists() else []
    most, entered, done = 0, [], set()
    for line in filter(None, lines):
        job, value = line.split()
        if value == "done":
            done.add(job)
        else:
            entered.append(job)
            most = max(most, int(value))
    return most, entered, done


def witness_cmd(directory: Path, job: str, weight: int, seconds: float) -> list[str]:
    return [sys.executable, WITNESS, str(directory), job, str(weight), str(seconds)]


@pytest.fixture(scope="module")
def objs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Objects of a small program (main.o + helper.o link; undef.o has an undefined
    reference), shared by the engine's and the jobserver's tests."""
    d = tmp_path_factory.mktemp("objs")
    (d / "main.c").write_text('#include <stdio.h>\nint helper(int);\n'
                              'int main(void) { printf("sum %d\\n", helper(20)); return 0; }\n')
    (d / "helper.c").write_text("int helper(int x) { return x + 22; }\n")
    (d / "undef.c").write_text("int missing_function(void);\n"
                               "int main(void) { return missing_function(); }\n")
    for name in ("main", "helper", "undef"):
        subprocess.run(["gcc", "-g", "-c", f"{name}.c", "-o", f"{name}.o"], cwd=d, check=True)
    return d


def shim_linker(tmp_path: Path, ld: str) -> tuple[Path, Path]:
    """A -B directory whose ld.<ld> logs its arguments, then runs the real one."""
    shim, log = tmp_path / "shim", tmp_path / "argv.log"
    shim.mkdir(exist_ok=True)
    real = shutil.which(f"ld.{ld}")
    (shim / f"ld.{ld}").write_text(f'#!/bin/sh\nprintf "%s\\n" "$@" > {log}\nexec {real} "$@"\n')
    (shim / f"ld.{ld}").chmod(0o755)
    return shim, log


def install_plugin(site: Path, name: str, source: str) -> Path:
    """Install the plugin module ``source`` under ``site`` as a distribution would be:
    ``linkpool_NAME.py`` and an entry point ``NAME`` in the ``linkpool`` group. ``site``
    is what ``LINKPOOL_PLUGIN_PATH`` then names."""
    info = site / f"linkpool_{name}-0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: linkpool-{name}\nVersion: 0\n")
    (info / "entry_points.txt").write_text(f"[linkpool]\n{name} = linkpool_{name}\n")
    (site / f"linkpool_{name}.py").write_text(source)
    return site
