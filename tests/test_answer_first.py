"""The build has its answer before any Python runs for its link (issues 13 and 20).

A plugin installed as any plugin is (an entry point in a ``LINKPOOL_PLUGIN_PATH``
directory) makes ``linkpool_after_link`` slow. The link's caller must still get its exit
status and the EOF of its pipes at once, and the slots must be free: the front door writes
the record into the history before it answers (a few microseconds), and the observing
hooks run off the path, in the next Python that folds the spool (``linkpool history``
here), with the link's own plugins. The margins are seconds against a plugin that sleeps
for ``SLOW_S``: a loaded machine does not make them fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import LINKPOOL, install_plugin, make_pool

SLOW_S = 6.0

PLUGIN = f'''
import os, time
from linkpool.hookspecs import hookimpl

@hookimpl
def linkpool_after_link(job, result):
    mark = os.environ.get("LP_AFTER_LINK_MARK")
    if mark:
        with open(mark, "a") as f:
            f.write(f"{{os.getpid()}} {{result.status}}\\n")
    time.sleep({SLOW_S})
'''


@pytest.fixture
def slow_plugin(tmp_path: Path) -> Path:
    return install_plugin(tmp_path / "plugins", "slow", PLUGIN)


def status(pool: Path, env: dict[str, str]) -> dict:
    out = subprocess.run([LINKPOOL, "status", "--pool", str(pool), "--json"], env=env,
                         capture_output=True, text=True, timeout=60, check=True).stdout
    return json.loads(out)


def env_for(pool: Path, plugins: Path, mark: Path) -> dict[str, str]:
    return {**os.environ, "LINKPOOL_DIR": str(pool), "LINKPOOL_PLUGIN_PATH": str(plugins),
            "LP_AFTER_LINK_MARK": str(mark)}


def test_the_answer_comes_before_the_record(objs: Path, tmp_path: Path,
                                            slow_plugin: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    mark = tmp_path / "after_link"
    env = env_for(pool, slow_plugin, mark)
    out = tmp_path / "app"
    start = time.monotonic()
    # capture_output waits for EOF on stdout and stderr too: a recorder holding the
    # build's pipes would keep them open for SLOW_S
    r = subprocess.run([LINKPOOL, "gcc", "main.o", "helper.o", "-o", str(out)], cwd=objs, env=env,
                       capture_output=True, text=True, timeout=60)
    answered = time.monotonic() - start
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert answered < SLOW_S - 2, f"the answer took {answered:.1f} s"
    assert subprocess.run([str(out)], capture_output=True, text=True).stdout == "sum 42\n"
    # the record is in the history already
    lines = (pool / "history.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["output"] == str(out)
    # the next Python folds the spool (`linkpool status` here): the slow hook runs there,
    # off the link's path, and the slots are free
    assert status(pool, env)["in_use"] == 0
    h = subprocess.run([LINKPOOL, "history", "--pool", str(pool), "--json"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert h.returncode == 0, h.stderr
    [rec] = json.loads(h.stdout)
    assert rec["output"] == str(out) and rec["exit"] == 0
    assert mark.read_text().split()[1] == "0"  # the hook saw the link's status
    assert time.monotonic() - start >= SLOW_S - 0.5


def test_a_failing_link_answers_its_status_before_the_record(objs: Path, tmp_path: Path,
                                                             slow_plugin: Path) -> None:
    pool = make_pool(tmp_path / "pool", 2)
    env = env_for(pool, slow_plugin, tmp_path / "after_link")
    bare = subprocess.run(["gcc", "undef.o", "-o", str(tmp_path / "bare")], cwd=objs,
                          capture_output=True, text=True)
    start = time.monotonic()
    r = subprocess.run([LINKPOOL, "gcc", "undef.o", "-o", str(tmp_path / "app")], cwd=objs,
                       env=env, capture_output=True, text=True, timeout=60)
    assert time.monotonic() - start < SLOW_S - 2
    assert r.returncode == bare.returncode != 0
    assert r.stderr.replace(str(tmp_path / "app"), "X").replace("/tmp/cc", "") \
        .count("undefined reference") == bare.stderr.count("undefined reference")
    h = subprocess.run([LINKPOOL, "history", "--pool", str(pool), "--json"], env=env,
                       capture_output=True, text=True, timeout=60)
    [rec] = json.loads(h.stdout)
    assert rec["exit"] == bare.returncode


def test_a_namespaces_first_process_records_before_it_answers(objs: Path, tmp_path: Path,
                                                              slow_plugin: Path) -> None:
    """As PID 1 of a PID namespace, the wrapper's exit ends every process of the
    namespace: the record is written before the answer, and the slow hook is not on the
    link's path at all (it runs in the next Python that folds the spool)."""
    pool = make_pool(tmp_path / "pool", 2)
    mark = tmp_path / "after_link"
    env = env_for(pool, slow_plugin, mark)
    start = time.monotonic()
    r = subprocess.run(["unshare", "--pid", "--fork", LINKPOOL, "gcc", "main.o", "helper.o", "-o",
                        str(tmp_path / "app")], cwd=objs, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - start < SLOW_S - 2
    assert len((pool / "history.jsonl").read_text().splitlines()) == 1
    assert not mark.exists()
