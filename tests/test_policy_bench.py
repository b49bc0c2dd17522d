"""The policy benchmark's command works end to end (a tiny run: bfd only, one round).

Not a timed test: it checks that the harness drives real ninja builds under every policy
and writes its table, JSON and chart; the figures come from `bash scripts/bench.sh policy`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_policy_bench_runs_every_policy(tmp_path: Path) -> None:
    assert shutil.which("ninja", path=f"{Path(sys.executable).parent}:{os.environ['PATH']}"), \
        "ninja is installed from PyPI by bash scripts/setup.sh --test"
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if k != "LINKPOOL_DIR"}
    r = subprocess.run([sys.executable, "benchmarks/policy_bench.py", "--linkers", "bfd",
                        "--sizes", "bfd=8", "--rounds", "1", "--lone-rounds", "1",
                        "--no-cap", "--out", str(out)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    data = json.loads((out / "policy.json").read_text())
    policies = {(row["scenario"], row["policy"]) for row in data["rows"]}
    assert policies == {(s, p) for s in ("1 x 4", "2 x 3")
                        for p in ("unthrottled", "ninja pool 1", "ninja pool 2", "linkpool",
                                  "linkpool, first build")}
    assert all(row["failed"] == 0 for row in data["rows"])
    assert all(run["codes"] == [0] * run["builds"] for run in data["runs"])
    assert len(data["runs"]) == 10 and all(len(run["links"]) == run["builds"] *
                                           run["links_per_build"] for run in data["runs"])
    for row in data["rows"]:  # the spread, and a verdict only on three rounds or more
        assert row["spread"] == row["makespan_max"] - row["makespan_min"] == 0.0
        assert row["verdict"] == ("not judged (1 round(s))" if row["policy"] == "linkpool"
                                  else None)
    [lone] = data["lone"]
    assert lone["linker"] == "bfd" and lone["bare"] > 0 and lone["linkpool"] > 0
    table = (out / "policy.md").read_text()
    assert "| bfd | 2 x 3 | **linkpool** |" in table and "lone link" in table
    assert "| bfd | 1 x 4 | linkpool, first build |" in table
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return
    assert (out / "policy.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_rows_are_judged_on_three_rounds_against_the_spread() -> None:
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from policy_bench import summarise
    finally:
        sys.path.pop(0)

    def runs(*makespans: float) -> list[dict[str, object]]:
        return [{"makespan": m, "links": [m], "cpu": 1.0, "mem_peak": 0, "failed": 0,
                 "oom_kills": 0} for m in makespans]

    # medians: unthrottled 10.0, pool 2 9.1 (the best fixed), linkpool 9.1: met
    rows = {r["policy"]: r for r in summarise("lld", "1 x 4", {
        "unthrottled": runs(10.0, 10.4, 9.8), "ninja pool 2": runs(9.0, 9.1, 9.2),
        "linkpool": runs(9.1, 9.0, 9.3), "linkpool, first build": runs(12.0)})}
    assert abs(rows["linkpool"]["spread"] - 0.3) < 1e-9
    assert rows["linkpool"]["verdict"] == "met"
    assert rows["linkpool, first build"]["verdict"] is None
    assert abs(rows["linkpool, first build"]["x_best_fixed"] - 12.0 / 9.1) < 1e-9
    # linkpool 9.5 against 9.1: 4 % behind the best fixed, ahead of unthrottled
    rows = {r["policy"]: r for r in summarise("lld", "1 x 4", {
        "unthrottled": runs(10.0, 10.4, 9.8), "ninja pool 2": runs(9.0, 9.1, 9.2),
        "linkpool": runs(9.5, 9.4, 9.6)})}
    assert rows["linkpool"]["verdict"] == "missed: 4 % behind the best fixed"
    # behind unthrottled (the best) by 0.5 s, more than either spread (0.2 s)
    rows = {r["policy"]: r for r in summarise("lld", "1 x 4", {
        "unthrottled": runs(8.0, 8.1, 8.2), "ninja pool 1": runs(12.0, 12.0, 12.0),
        "linkpool": runs(8.6, 8.5, 8.7)})}
    assert rows["linkpool"]["verdict"] == \
        "missed: 6 % behind the best fixed; 0.50 s behind unthrottled, spread 0.20 s"
    # two rounds: not judged
    rows = {r["policy"]: r for r in summarise("lld", "1 x 4", {
        "unthrottled": runs(8.0, 8.1), "linkpool": runs(9.0, 9.0)})}
    assert rows["linkpool"]["verdict"] == "not judged (2 round(s))"
