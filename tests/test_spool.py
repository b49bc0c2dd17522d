"""The C front door's record spool folded into the pools' history and the learning policy
(linkpool.spool): lines written as the front door writes them after running a plan (asked
of `python -I linkpool-py --plan=FD` as it asks), torn and hostile lines among them, the
history read back with `linkpool history`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from linkpool.history import History

from conftest import (
    CORES,
    WATCHER,
    Planned,
    holds,
    lld_plan,
    lp,
    plan,
    plan_big,
    plan_env,
    plan_objs,
    plugin_folder,
)

env, objs, big = plan_env, plan_objs, plan_big  # conftest's fixtures, by this file's names


def spool_line(p: Planned, **measured: Any) -> bytes:
    """The RECORD line the front door appends after running the plan ``p``."""
    entry = {"v": 1, "pool": p.one("pool"), "job": "JOB", "time": 1700000001.5,
             "admitted": 1700000000.0, "slots": [0], "weight": 1, "threads": None,
             "tokens": None, "wait_s": 0.25, "run_s": 1.25, "tail_s": 0.0, "cpu_s": 1.0,
             "max_rss_kb": 2048, "anon_peak_kb": 1024, "exit": 0, "busy": False, "pid": 1}
    entry.update(measured)
    text = json.dumps(entry, separators=(",", ":"))
    return text.replace('"JOB"', p.one("record")).encode() + b"\n"


def records(env: dict[str, str]) -> list[dict[str, Any]]:
    out = lp("history", "--pool", env["LINKPOOL_DIR"], "--json", env=env, check=True).stdout
    return json.loads(out)


def test_the_spool_is_folded_into_the_history_and_after_link(
        tmp_path: Path, env: dict[str, str], objs: Path) -> None:
    watcher = plugin_folder(tmp_path, "watch", WATCHER)
    log = tmp_path / "watch.log"
    env = dict(env, LINKPOOL_PLUGIN_PATH=str(watcher), LP_WATCH_LOG=str(log))
    p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert p.action == "run"
    spool = Path(env["XDG_CACHE_HOME"]) / "linkpool" / "records"
    lines = [spool_line(p, exit=-9, run_s=0.5, slots=[1], admitted=1699999990.0),
             b"garbage\n",
             b'{"v":1,"pool":"relative","job":{}}\n',
             b'{"v":2}\n',
             spool_line(p, exit=-9, run_s=0.5, slots=[1], admitted=1700000010.0)[:40] + b"\n",
             b"\xff\xfe not utf-8\n",
             spool_line(p),
             spool_line(p, weight="2")]
    with open(spool, "ab") as f:
        f.write(b"".join(lines) + b'{"v":1,"torn')
    # the front door wrote the history itself: the fold adds no line to it
    assert records(env) == [] and not spool.exists()
    first = History(env["LINKPOOL_DIR"]).last(str(objs / "app"))  # the output's last record
    assert first is not None
    assert {k: first[k] for k in ("output", "cwd", "kind", "linker", "weight", "exit",
                                  "wait_s", "run_s", "tail_s", "cpu_s", "max_rss_kb",
                                  "anon_peak_kb", "slots", "admitted", "command")} == \
        {"output": str(objs / "app"), "cwd": str(objs), "kind": "link", "linker": "bfd",
         "weight": 1, "exit": 0, "wait_s": 0.25, "run_s": 1.25, "tail_s": 0.0, "cpu_s": 1.0,
         "max_rss_kb": 2048, "anon_peak_kb": 1024, "slots": [0], "admitted": 1700000000.0,
         "command": ["gcc", "-o", "app", "main.o"]}
    assert first["time"] == 1700000001.25 and first["estimate"]["source"] == "inputs"
    # the output's last record is the next link's estimate: the plan changes once
    assert not holds(p)
    again = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    assert json.loads(again.one("record"))["estimate"]["source"] == "history"
    assert not any(a.endswith(".json") for a in again.all("absent"))
    # after_link of the plugin that watches, in the folding process, its words to /dev/null
    calls = [json.loads(line) for line in log.read_text().splitlines()]
    assert [(c["status"], c["slots"], c["weight"], c["kind"], c["linker"]) for c in calls] == \
        [(137, [1], 1, "link", "bfd"), (0, [0], 1, "link", "bfd")]
    assert calls[1]["output"] == str(objs / "app") and calls[1]["run_s"] == 1.25
    # a second fold finds nothing
    assert records(env) == [] and len(log.read_text().splitlines()) == 2


@pytest.mark.skipif(CORES < 2, reason="the plans are made on 2 CPUs of ours: this machine has 1")
def test_the_fold_teaches_the_policy(tmp_path: Path, big: Path) -> None:
    """Links the policy planned fold what they measured into its summary: a lone one (the
    front door saw nobody) and one that met another (busy); a link folded with one that
    ran during it met it whichever is folded first."""
    p, env = lld_plan(tmp_path, big)
    spool = Path(env["XDG_CACHE_HOME"]) / "linkpool" / "records"
    spool.write_bytes(
        spool_line(p, weight=2, threads=2, slots=[0, 1], busy=False, cpu_s=2.0) +
        spool_line(p, weight=1, threads=2, busy=True, admitted=1700000100.0) +
        spool_line(p, weight=1, threads=2, busy=False, admitted=1700000200.0) +
        spool_line(p, weight=1, threads=2, busy=False, admitted=1700000200.5, slots=[1]))
    # the fold comes with the next plan
    again = plan("gcc", "-fuse-ld=lld", "-o", str(tmp_path / "app"), "big.o", env=env, cwd=big,
                 cpus=2)
    assert again.action == "run" and not spool.exists()
    history = History(env["LINKPOOL_DIR"])
    (summary,) = [f for f in (Path(env["LINKPOOL_DIR"]) / "policy").glob("lld*.json")]
    stats = json.loads(summary.read_text())
    assert stats["2"]["an"] == 1 and stats["2"]["sn"] == 3
    recent = history.summary("recent")["recent"]
    assert len(recent) == 4 and recent[0] == [1699999999.75, 1700000001.25]


def test_a_spool_left_by_a_folder_that_died_is_folded(tmp_path: Path, env: dict[str, str],
                                                      objs: Path) -> None:
    p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    cache = Path(env["XDG_CACHE_HOME"]) / "linkpool"
    child = subprocess.Popen(["true"])
    child.wait()
    (cache / f"records.{child.pid}.0").write_bytes(spool_line(p))
    alive = cache / f"records.{os.getpid()}"  # a live folder's: not ours to take
    alive.write_bytes(spool_line(p))
    records(env)
    assert History(env["LINKPOOL_DIR"]).last(str(objs / "app")) is not None
    assert alive.exists() and not (cache / f"records.{child.pid}.0").exists()
    foreign = cache / "records"
    foreign.symlink_to(alive)  # never followed
    records(env)
    assert alive.exists()


@pytest.mark.parametrize("command", ["status", "stats", "trace", "report"])
def test_the_readers_fold_first(tmp_path: Path, env: dict[str, str], objs: Path,
                                command: str) -> None:
    p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    spool = Path(env["XDG_CACHE_HOME"]) / "linkpool" / "records"
    spool.write_bytes(spool_line(p))
    extra = {"trace": ["--output", str(tmp_path / "t.json")],
             "report": ["--output", str(tmp_path / "r.svg")]}.get(command, [])
    lp(command, "--pool", env["LINKPOOL_DIR"], *extra, env=env, check=True)
    assert not spool.exists()
    record = History(env["LINKPOOL_DIR"]).last(str(objs / "app"))
    assert record is not None and record["run_s"] == 1.25


LATE = '''
import os

import pluggy

hookimpl = pluggy.HookimplMarker("linkpool")


@hookimpl
def linkpool_after_link(job, result):
    """Once: what a front door that opened the spool before it was taken writes later,
    into the file taken."""
    line = os.environ["LP_LATE_LINE"]
    if os.path.exists(line):
        taken = os.path.join(os.environ["XDG_CACHE_HOME"], "linkpool",
                             f"records.{os.getpid()}.0")
        with open(line, "rb") as f, open(taken, "ab") as out:
            out.write(f.read())
        os.unlink(line)
'''


def test_a_record_written_into_the_spool_while_it_is_folded_is_folded(
        tmp_path: Path, env: dict[str, str], objs: Path) -> None:
    late = plugin_folder(tmp_path, "late", LATE)
    env = dict(env, LINKPOOL_PLUGIN_PATH=str(late), LP_LATE_LINE=str(tmp_path / "late"))
    p = plan("gcc", "-o", "app", "main.o", env=env, cwd=objs)
    (tmp_path / "late").write_bytes(spool_line(p, admitted=1700000050.0, slots=[1]))
    spool = Path(env["XDG_CACHE_HOME"]) / "linkpool" / "records"
    spool.write_bytes(spool_line(p))
    records(env)
    recent = History(env["LINKPOOL_DIR"]).summary("recent")["recent"]
    assert len(recent) == 2  # both folded
    assert History(env["LINKPOOL_DIR"]).last(str(objs / "app"))["slots"] == [1]
    assert not (tmp_path / "late").exists() and not spool.exists()
    assert not list(spool.parent.glob("records*"))
