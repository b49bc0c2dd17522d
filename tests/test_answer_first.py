"""The build has its answer before linkpool writes its record (issue 13, item 1).

A plugin installed as any plugin is (an entry point in a ``LINKPOOL_PLUGIN_PATH``
directory) makes ``linkpool_after_link`` slow. The link's caller must still get its exit
status and the EOF of its pipes at once, the slots must be free while the record is
written, and ``linkpool history`` must wait for the record instead of missing it. The
margins are seconds against a plugin that sleeps for ``SLOW_S``: a loaded machine does
not make them fail.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import LINKPOOL, install_plugin, make_pool, status

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
    # the record is being written: the slots are already free
    assert status(pool)["in_use"] == 0
    # `linkpool history` waits for it
    h = subprocess.run([LINKPOOL, "history", "--pool", str(pool), "--json"], env=env,
                       capture_output=True, text=True, timeout=60)
    assert h.returncode == 0, h.stderr
    [rec] = json.loads(h.stdout)
    assert rec["output"] == str(out) and rec["exit"] == 0
    assert mark.read_text().split()[1] == "0"  # the hook saw the link's status
    assert time.monotonic() - start >= SLOW_S - 0.5  # history waited for the record


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
    namespace: a record written after the answer would be killed with it."""
    pool = make_pool(tmp_path / "pool", 2)
    mark = tmp_path / "after_link"
    env = env_for(pool, slow_plugin, mark)
    start = time.monotonic()
    r = subprocess.run(["unshare", "--pid", "--fork", LINKPOOL, "gcc", "main.o", "helper.o", "-o",
                        str(tmp_path / "app")], cwd=objs, env=env, capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - start >= SLOW_S - 0.5  # it recorded first
    assert mark.read_text().split() == ["1", "0"]  # in the wrapper itself: PID 1
    assert len((pool / "history.jsonl").read_text().splitlines()) == 1
