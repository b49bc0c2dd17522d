"""`linkpool stats`, `trace` and `report` on the history of real links through a real pool.

One module-wide pool of 2 slots gets: three plain links, one that fails, a weight-2
holder with two links queued behind it (the pool full), and a weight-1 holder with a
weight-2 link queued behind it (the pool half empty while a link waits).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path
from xml.etree import ElementTree

import pytest

from linkpool.observe import Span, parse_since, percentile, sweep

from conftest import BIN, LINKPOOL, history, lp, wait_for

ROOT = Path(__file__).resolve().parent.parent
HEAVY_WAIT = 1.5  # seconds the weight-2 link waits behind a weight-1 holder


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINKPOOL_")}
    env["XDG_CONFIG_HOME"] = str(tmp / "config-home")  # no config file
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    return env


def _holder(pool: Path, weight: int, go: Path, env: dict[str, str]) -> subprocess.Popen:
    """A job that holds ``weight`` slots until ``go`` exists (no guessing at timings)."""
    script = f"while [ ! -e '{go}' ]; do sleep 0.01; done"
    return subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), "--weight", str(weight),
                             "--", "sh", "-c", script], env=env)


def _link(pool: Path, work: Path, out: str, env: dict[str, str], *extra: str,
          obj: str = "m.o") -> subprocess.Popen:
    return subprocess.Popen([LINKPOOL, "run", "--pool", str(pool), *extra, "--", "gcc", obj,
                             "-o", out], cwd=work, env=env, stderr=subprocess.DEVNULL)


def _status(pool: Path, env: dict[str, str]) -> dict:
    return json.loads(lp("status", "--pool", str(pool), "--json", env=env, check=True).stdout)


@pytest.fixture(scope="module")
def busy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("observe")
    env = _env(work)
    pool = work / "pool"
    lp("init", "--pool", str(pool), "--slots", "2", env=env, check=True)
    (work / "m.c").write_text("int main(void) { return 0; }\n")
    (work / "bad.c").write_text("int nowhere(void);\nint main(void) { return nowhere(); }\n")
    for name in ("m", "bad"):
        subprocess.run(["gcc", "-c", f"{name}.c", "-o", f"{name}.o"], cwd=work, check=True)
    lld = ["-fuse-ld=lld"] if shutil.which("ld.lld") else []
    for out, flags in (("app1", []), ("app2", lld), ("app3", [])):
        assert subprocess.run([LINKPOOL, "run", "--pool", str(pool), "--", "gcc", *flags,
                               "m.o", "-o", out], cwd=work, env=env).returncode == 0
    assert _link(pool, work, "bad", env, obj="bad.o").wait(timeout=60) == 1

    # The pool full: a weight-2 holder, two links queued behind it.
    holder = _holder(pool, 2, work / "go1", env)
    wait_for(lambda: _status(pool, env)["in_use"] == 2, what="the weight-2 holder")
    queued = [_link(pool, work, out, env) for out in ("w1", "w2")]
    wait_for(lambda: _status(pool, env)["waiting"] == 2, what="two waiting links")
    time.sleep(0.3)
    (work / "go1").touch()
    assert [p.wait(timeout=60) for p in (holder, *queued)] == [0, 0, 0]

    # Half the pool idle while a heavy link waits for both slots.
    holder = _holder(pool, 1, work / "go2", env)
    wait_for(lambda: _status(pool, env)["in_use"] == 1, what="the weight-1 holder")
    heavy = _link(pool, work, "heavy", env, "--weight", "2")
    wait_for(lambda: _status(pool, env)["waiting"] == 1, what="the heavy link waiting")
    time.sleep(HEAVY_WAIT)
    (work / "go2").touch()
    assert [p.wait(timeout=60) for p in (holder, heavy)] == [0, 0]
    return pool


def by_output(records: list[dict], name: str) -> dict:
    return next(r for r in records if (r.get("output") or "").endswith(f"/{name}"))


# -- stats -------------------------------------------------------------------------------


def test_stats_json(busy: Path) -> None:
    r = lp("stats", "--pool", str(busy), "--json")
    assert r.returncode == 0, r.stderr
    st = json.loads(r.stdout)
    assert (st["links"], st["failures"], st["slots"]) == (9, 1, 2)
    assert st["queued"] >= 3  # w1, w2, heavy (and any link a loaded host delayed)
    assert st["wait_s"]["max"] >= HEAVY_WAIT and st["wait_s"]["p95"] >= 0.3
    assert st["wait_s"]["p50"] < 0.3  # most links did not queue
    assert st["run_s"]["p50"] < st["run_s"]["max"]
    assert len(st["slowest"]) == 5
    assert st["slowest"][0]["what"].startswith("sh -c")  # the heavy link's holder
    assert [s["run_s"] for s in st["slowest"]] == sorted((s["run_s"] for s in st["slowest"]),
                                                         reverse=True)
    assert st["peak_memory"]["max_rss_kb"]["kb"] > 0
    assert st["peak_memory"]["anon_peak_kb"]["kb"] > 0
    assert st["most_held"] == 2
    assert st["full_s"] >= 0.3  # the weight-2 holder with links queued behind it
    assert st["queued_not_full_s"] >= HEAVY_WAIT * 0.9
    assert any("waited" in h and "while fewer than 2 slots were held" in h
               for h in st["hints"]), st["hints"]


def test_stats_text(busy: Path) -> None:
    r = lp("stats", "--pool", str(busy))
    assert r.returncode == 0 and r.stderr == ""
    out = r.stdout
    assert out.startswith(f"pool {busy}: 2 slots, 9 links, 1 failed")
    for word in ("wait   p50", "run    p50", "p95", "full", "memory peak RSS", "slowest:",
                 "hint: links waited"):
        assert word in out, word
    assert "exit 0  sh -c while" in out  # the slowest job, by its command (no output)


def test_since(busy: Path) -> None:
    assert json.loads(lp("stats", "--pool", str(busy), "--since", "1h", "--json",
                         check=True).stdout)["links"] == 9
    future = json.loads(lp("stats", "--pool", str(busy), "--since", "2999-01-01", "--json",
                           check=True).stdout)
    assert future["links"] == 0 and future["hints"] == []
    r = lp("stats", "--pool", str(busy), "--since", "yesterday")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.startswith("linkpool: --since takes a duration") and r.stderr.count("\n") == 1


def test_parse_since_and_percentile() -> None:
    now = 1_000_000.0
    assert parse_since("30m", now) == now - 1800
    assert parse_since("1.5h", now) == now - 5400
    assert parse_since("2d", now) == now - 2 * 86400
    assert parse_since("2025-06-01T00:00:00Z") == 1748736000
    assert parse_since(None) is None
    assert percentile([], 50) == 0
    assert percentile([3, 1, 2, 4], 50) == 2 and percentile([3, 1, 2, 4], 95) == 4


def test_sweep_counts_full_and_queued_time() -> None:
    def rec(admitted: float, run: float, wait: float, slots: list[int]) -> Span:
        return Span({"admitted": admitted, "run_s": run, "wait_s": wait, "slots": slots,
                     "time": admitted + run, "exit": 0})

    # 0-2 s: slots 0+1 held; a link queued from 1 s, admitted at 2 s for 1 s on slot 0.
    out = sweep([rec(0, 2, 0, [0, 1]), rec(2, 1, 1, [0])], 2)
    assert out["full_s"] == pytest.approx(2) and out["busy_s"] == pytest.approx(3)
    assert out["queued_s"] == pytest.approx(1) and out["queued_not_full_s"] == 0
    assert out["most_held"] == 2


def test_memory_near_the_budget_is_hinted(tmp_path: Path) -> None:
    from linkpool.capacity import read_machine

    memory = read_machine().memory
    assert memory, "Linux always has MemAvailable in /proc/meminfo"
    pool = tmp_path / "pool"
    lp("init", "--pool", str(pool), "--slots", "2", check=True)
    now = time.time()
    big = {"time": now, "output": str(tmp_path / "huge"), "exit": 0, "weight": 1, "slots": [0],
           "admitted": now - 5, "wait_s": 0.0, "run_s": 5.0, "tail_s": 0.0,
           "anon_peak_kb": int(memory * 0.7 / 1024), "max_rss_kb": int(memory * 0.7 / 1024),
           "command": ["ld", "-o", "huge"]}
    (pool / "history.jsonl").write_text(json.dumps(big) + "\n")
    st = json.loads(lp("stats", "--pool", str(pool), "--json", check=True).stdout)
    assert any("memory their slots stand for" in h and "huge" in h for h in st["hints"])
    assert any("near the memory budget" in h for h in st["hints"])


def test_missing_pool_is_one_line(tmp_path: Path) -> None:
    for command in ("stats", "trace"):
        r = lp(command, "--pool", str(tmp_path / "none"))
        assert r.returncode == 1 and r.stderr.startswith("linkpool: no pool at")
        assert r.stderr.count("\n") == 1 and not (tmp_path / "none").exists()


# -- trace -------------------------------------------------------------------------------


def test_trace_has_a_span_per_slot_held_and_the_waits(busy: Path, tmp_path: Path) -> None:
    out = tmp_path / "trace.json"
    r = lp("trace", "--pool", str(busy), "--output", str(out))
    assert r.returncode == 0 and r.stdout == ""
    doc = json.loads(out.read_text())
    assert doc["displayTimeUnit"] == "ms" and doc == json.loads(
        lp("trace", "--pool", str(busy), check=True).stdout)
    events = doc["traceEvents"]
    names = {e["tid"]: e["args"]["name"] for e in events
             if e["ph"] == "M" and e["name"] == "thread_name"}
    assert {"slot 0", "slot 1", "waiting"} <= set(names.values())
    assert any(e["ph"] == "M" and e["name"] == "process_name" and str(busy) in e["args"]["name"]
               for e in events)
    spans = [e for e in events if e["ph"] == "X"]
    assert all(isinstance(e["ts"], (int, float)) and e["dur"] >= 0 and e["pid"] == 1
               for e in spans)
    t0 = doc["otherData"]["start_unix_time"]
    records = history(busy)
    links = [e for e in spans if e["cat"] == "link"]
    assert len(links) == sum(len(r["slots"]) for r in records)
    for rec in records:
        for i in rec["slots"]:
            (event,) = [e for e in links if names[e["tid"]] == f"slot {i}"
                        and abs(t0 + e["ts"] / 1e6 - rec["admitted"]) < 1e-3]
            assert event["args"]["command"] == " ".join(rec["command"])
            assert event["args"]["exit"] == rec["exit"]
            assert event["dur"] == pytest.approx((rec["run_s"] + rec["tail_s"]) * 1e6, abs=2)
            for key in ("output", "weight", "threads", "linker"):
                assert event["args"][key] == rec[key]
    waits = {e["args"]["output"].rsplit("/", 1)[1]: e for e in spans if e["cat"] == "wait"}
    assert {"w1", "w2", "heavy"} <= set(waits)
    assert all(names[e["tid"]].startswith("waiting") for e in waits.values())
    assert waits["heavy"]["dur"] >= HEAVY_WAIT * 1e6
    heavy = by_output(records, "heavy")
    assert waits["heavy"]["ts"] + waits["heavy"]["dur"] == pytest.approx(
        (heavy["admitted"] - t0) * 1e6, abs=2)
    failed = [e for e in links if e["args"]["exit"] != 0]
    assert len(failed) == 1 and failed[0]["name"] == "bad"
    for tid in {e["tid"] for e in spans}:  # a track's spans never overlap
        track = sorted((e["ts"], e["ts"] + e["dur"]) for e in spans if e["tid"] == tid)
        assert all(a[1] <= b[0] + 1e-6 for a, b in zip(track, track[1:]))


# -- report ------------------------------------------------------------------------------


def test_report_svg_and_html(busy: Path, tmp_path: Path) -> None:
    svg, page = tmp_path / "pool.svg", tmp_path / "pool.html"
    for out in (svg, page):
        r = lp("report", "--pool", str(busy), "--output", str(out))
        assert r.returncode == 0 and r.stderr == "", r.stderr
        assert out.stat().st_size > 1000
    root = ElementTree.parse(svg).getroot()
    texts = [t.text for t in root.iter("{http://www.w3.org/2000/svg}text")]
    assert {"slot 0", "slot 1", "waiting"} <= set(texts)
    bars = [r for r in root.iter("{http://www.w3.org/2000/svg}rect") if len(r)]
    links = sum(len(r["slots"]) for r in history(busy))
    assert links + 3 <= len(bars) <= links + 9  # a bar per slot held, and the waits
    html = page.read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html and "heavy" in html


def test_report_png_or_the_missing_extra(busy: Path, tmp_path: Path) -> None:
    out = tmp_path / "pool.png"
    r = lp("report", "--pool", str(busy), "--output", str(out))
    has_matplotlib = subprocess.run([sys.executable, "-c", "import matplotlib"],
                                    capture_output=True).returncode == 0
    if has_matplotlib:
        assert r.returncode == 0, r.stderr
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    else:
        assert r.returncode == 2 and not out.exists()
        assert r.stderr.startswith("linkpool: ") and r.stderr.count("\n") == 1
        # this venv is a clone's .venv: scripts/setup.sh --bench installs matplotlib there
        setup = shlex.quote(str(ROOT / "scripts" / "setup.sh"))
        assert f"`bash {setup} --bench`" in r.stderr, r.stderr


def test_the_chart_hint_fits_how_linkpool_is_installed(tmp_path: Path) -> None:
    """From a clone's .venv, its setup script (linkpool is not on PyPI for pip to get);
    else the pip of linkpool's own Python, the extra quoted for the shell."""
    from linkpool.observe import chart_hint

    clone = tmp_path / "my clone"
    (clone / "scripts").mkdir(parents=True)
    (clone / "scripts" / "setup.sh").write_text("")
    (clone / "pyproject.toml").write_text('[project]\nname = "linkpool"\n')
    venv = clone / ".venv"
    assert chart_hint(str(venv), str(venv / "bin" / "python")) == \
        f"bash '{clone}/scripts/setup.sh' --bench"
    other = tmp_path / "envs" / "lp"
    assert chart_hint(str(other), str(other / "bin" / "python3")) == \
        f"{other}/bin/python3 -m pip install 'linkpool[chart]'"
    (clone / "pyproject.toml").write_text('[project]\nname = "other"\n')  # not our clone
    assert chart_hint(str(venv), str(venv / "bin" / "python")) == \
        f"'{venv}/bin/python' -m pip install 'linkpool[chart]'"


def test_report_needs_a_known_output(busy: Path, tmp_path: Path) -> None:
    for args in ([], ["--output", str(tmp_path / "chart.pdf")]):
        r = lp("report", "--pool", str(busy), *args)
        assert r.returncode == 2 and r.stderr.startswith("linkpool: report:")
        assert r.stderr.count("\n") == 1
